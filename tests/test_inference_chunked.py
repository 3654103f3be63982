"""The chunked long-sequence kernels equal the plain scan kernels (log Z, posteriors, Viterbi)."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lsgm
import lsgm.inference.chunked as chunked_module
from lsgm.cli import apply
from lsgm.distributions import Categorical
from lsgm.inference import (
    Potentials,
    chunked_log_partition,
    chunked_posteriors,
    chunked_viterbi,
    log_partition,
    posteriors,
    viterbi,
)


def random_potentials(T: int, K: int, seed: int, dtype=jnp.float32) -> Potentials:
    """A random non-degenerate problem: Dirichlet initial/transition rows, Gaussian log-emissions
    (continuous, so exact Viterbi ties have probability zero)."""
    rng = np.random.default_rng(seed)
    log_init = np.log(rng.dirichlet(np.ones(K)))
    log_trans = np.log(rng.dirichlet(np.ones(K), size=K))
    log_emit = 2.0 * rng.normal(size=(T, K))
    return Potentials(*(jnp.asarray(a, dtype) for a in (log_init, log_trans, log_emit)))


def both(p: Potentials, chunk):
    """Chunked and plain results under one jit (one compile per case)."""

    @jax.jit
    def run(p):
        chunked = (chunked_log_partition(p, chunk), chunked_posteriors(p, chunk))
        plain = (log_partition(p), posteriors(p).states)
        return chunked + chunked_viterbi(p, chunk), plain + viterbi(p)

    return run(p)


# Every T in {1, 7, 1000, 10007} and K in {2, 5}; chunk: default sqrt(T), 3 or 64 (padded tail
# where T is not a multiple), longer than T (one padded chunk).
CASES = [(1, 5, 3), (7, 2, 64), (1000, 5, 7), (10007, 2, None), (10007, 5, 64)]


@pytest.mark.parametrize("T,K,chunk", CASES)
def test_chunked_equals_plain_float32(T, K, chunk):
    p = random_potentials(T, K, seed=T * 10 + K)
    (log_z, states, path, score), (ref_z, ref_states, ref_path, ref_score) = both(p, chunk)
    np.testing.assert_allclose(float(log_z), float(ref_z), rtol=1e-4)
    assert states.shape == (T, K)
    np.testing.assert_allclose(states, ref_states, atol=1e-4)
    np.testing.assert_array_equal(path, ref_path)
    # The plain kernel adds every step to one running float32 total; on T=10^4 it drifts by
    # ~5e-5 relative (the chunked score matches float64 better), hence 1e-4 here.
    np.testing.assert_allclose(float(score), float(ref_score), rtol=1e-4)


def test_chunked_float64_precision(x64):
    """float64 on T ≈ 10^4: log Z and the Viterbi score to 1e-10, identical paths."""
    p = random_potentials(10007, 3, seed=3, dtype=jnp.float64)
    (log_z, states, path, score), (ref_z, ref_states, ref_path, ref_score) = both(p, None)
    np.testing.assert_allclose(float(log_z), float(ref_z), rtol=1e-10)
    np.testing.assert_allclose(states, ref_states, atol=1e-10)
    np.testing.assert_array_equal(path, ref_path)
    np.testing.assert_allclose(float(score), float(ref_score), rtol=1e-10)


def test_chunked_viterbi_float32_precision_on_long_sequences():
    """Emissions near -100 per step: the running max-score reaches -10^6, where a plain float32
    accumulation loses the per-step differences (the unshifted plain kernel picked ~1 % wrong
    states here); both kernels shift by the maximum every step and find the float64 optimum."""
    rng = np.random.default_rng(0)
    log_init, log_trans = np.log([0.5, 0.5]), np.log([[0.999, 0.001], [0.001, 0.999]])
    log_emit = -100.0 + rng.normal(size=(10007, 2))
    p32 = Potentials(*(jnp.asarray(a, jnp.float32) for a in (log_init, log_trans, log_emit)))
    with jax.enable_x64(True):
        p64 = Potentials(*(jnp.asarray(a, jnp.float64) for a in (log_init, log_trans, log_emit)))
        best = np.asarray(viterbi(p64)[0])
    np.testing.assert_array_equal(chunked_viterbi(p32)[0], best)
    np.testing.assert_array_equal(viterbi(p32)[0], best)


def test_chunked_structural_zeros_and_enumeration():
    """A left-to-right chain (−inf transitions) against brute-force enumeration (T=6, K=3)."""
    log_trans = jnp.log(jnp.array([[0.5, 0.5, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]]))
    log_init = jnp.log(jnp.array([1.0, 0.0, 0.0]))
    log_emit = jnp.asarray(np.random.default_rng(1).normal(size=(6, 3)), jnp.float32)
    p = Potentials(log_init, log_trans, log_emit)
    paths = np.array(np.meshgrid(*[range(3)] * 6, indexing="ij")).reshape(6, -1).T  # [729, 6]
    li, lt, le = (np.asarray(a, np.float64) for a in (log_init, log_trans, log_emit))
    with np.errstate(invalid="ignore"):
        scores = (
            li[paths[:, 0]]
            + lt[paths[:, :-1], paths[:, 1:]].sum(1)
            + le[np.arange(6), paths].sum(1)
        )
    finite = np.isfinite(scores)
    log_z = np.log(np.exp(scores[finite] - scores[finite].max()).sum()) + scores[finite].max()
    np.testing.assert_allclose(float(chunked_log_partition(p, 4)), log_z, rtol=1e-5)
    path, score = chunked_viterbi(p, 4)
    np.testing.assert_array_equal(path, paths[np.argmax(scores)])
    np.testing.assert_allclose(float(score), scores.max(), rtol=1e-5)
    weights = np.where(finite, np.exp(scores - scores[finite].max()), 0.0)
    marg = np.stack([np.bincount(paths[:, t], weights, minlength=3) for t in range(6)])
    np.testing.assert_allclose(
        chunked_posteriors(p, 4), marg / marg.sum(1, keepdims=True), atol=1e-5
    )


def test_chunked_errors():
    p = random_potentials(5, 2, seed=0)
    varying = Potentials(p.log_init, jnp.stack([p.log_trans] * 4), p.log_emit)
    with pytest.raises(ValueError, match="stationary"):
        chunked_posteriors(varying)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="chunk must be a positive int"):
            chunked_viterbi(p, bad)


def test_cli_uses_chunked_kernels_for_long_hmm_sequences(monkeypatch):
    """`lsgm decode` / `posterior` route long HMM sequences (here > 100 steps) through the
    chunked kernels and short ones through the batched model methods, keeping the order. The
    model's states are identified by the symbols (state 0 emits A/C, state 1 G/T), so the
    Viterbi path is ``x // 2`` and the posteriors are its one-hot rows, by hand."""
    model = lsgm.HMM.from_probs(
        np.array([0.6, 0.4]),
        np.array([[0.95, 0.05], [0.1, 0.9]]),
        Categorical.from_probs(np.array([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]], np.float32)),
    )
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 4, size=n).astype(np.int32) for n in (600, 30, 600)]
    called = []
    spy = chunked_module.chunked_viterbi

    def counting(p, chunk=None):
        called.append(p.log_emit.shape[0])
        return spy(p, chunk)

    monkeypatch.setattr(lsgm.inference, "chunked_viterbi", counting)  # what the CLI imports
    monkeypatch.setattr(apply, "CHUNKED_MIN_LENGTH", 100)
    lm = SimpleNamespace(model=model)
    paths, probs = apply._per_sequence(lm, xs, "viterbi"), apply._per_sequence(lm, xs, "states")
    assert called == [600, 600]
    for x, path, prob in zip(xs, paths, probs, strict=True):
        np.testing.assert_array_equal(path, x // 2)
        np.testing.assert_allclose(prob, np.eye(2)[x // 2], atol=1e-6)
