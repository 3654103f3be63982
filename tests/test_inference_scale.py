"""Long sequences stay finite in float32; vmap/jit composition; padded == unpadded in batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_potentials

from lsgm.inference import METHODS, Potentials, filtered, log_partition, posteriors, viterbi


@pytest.mark.parametrize("method", METHODS)
def test_million_steps_float32(method):
    T, K = 1_000_000, 8
    key1, key2 = jax.random.split(jax.random.key(0))
    log_trans = jax.nn.log_softmax(jax.random.normal(key1, (K, K)), axis=1)
    log_emit = jax.random.normal(key2, (T, K)) * 3.0
    p = Potentials(jnp.full((K,), -jnp.log(K)), log_trans, log_emit)
    post = jax.jit(lambda q: posteriors(q, method=method))(p)
    assert post.log_z.dtype == jnp.float32
    assert np.isfinite(post.log_z)
    sums = np.asarray(post.states.sum(1))
    np.testing.assert_allclose(sums, 1.0, atol=1e-4)


def test_vmap_with_lengths_equals_one_by_one(x64):
    rng = np.random.default_rng(7)
    T, K, lengths = 9, 3, [9, 4, 1]
    seqs = [random_potentials(rng, n, K, stationary=False) for n in lengths]
    batch = Potentials(
        np.stack([s.log_init for s in seqs]),
        np.stack(
            [
                np.pad(s.log_trans, ((0, T - n), (0, 0), (0, 0)))
                for s, n in zip(seqs, lengths, strict=True)
            ]
        ),
        np.stack(
            [np.pad(s.log_emit, ((0, T - n), (0, 0))) for s, n in zip(seqs, lengths, strict=True)]
        ),
    )
    n = jnp.asarray(lengths)
    for method in METHODS:
        log_z = jax.jit(jax.vmap(lambda p, m: log_partition(p, m, method=method)))(batch, n)
        filt = jax.vmap(lambda p, m: filtered(p, m, method=method))(batch, n)
        for i, s in enumerate(seqs):
            np.testing.assert_allclose(log_z[i], log_partition(s, method=method), rtol=1e-12)
            np.testing.assert_allclose(
                filt[i, : lengths[i]], filtered(s, method=method), atol=1e-12
            )
            assert np.all(np.asarray(filt[i, lengths[i] :]) == 0)
    paths, _ = jax.vmap(viterbi)(batch, n)
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(paths[i, : lengths[i]], viterbi(s)[0])
