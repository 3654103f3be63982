"""Inconsistent inputs raise ValueErrors at trace time that name the shapes or values."""

import jax.numpy as jnp
import numpy as np
import pytest

from lsgm.inference import Potentials, forward, log_partition, posteriors, sample_paths, viterbi


def _p(T=4, K=3, trans_shape=None, init_k=None, emit_k=None):
    K_init = K if init_k is None else init_k
    K_emit = K if emit_k is None else emit_k
    return Potentials(jnp.zeros(K_init), jnp.zeros(trans_shape or (K, K)), jnp.zeros((T, K_emit)))


@pytest.mark.parametrize(
    "pots,match",
    [
        (_p(init_k=2), r"log_init must be \[K\]=\[3\]"),
        (_p(trans_shape=(3, 2)), r"log_trans must be"),
        (_p(trans_shape=(5, 3, 3)), r"\[T-1, K, K\]=\[3, 3, 3\]"),
        (Potentials(jnp.zeros(3), jnp.zeros((3, 3)), jnp.zeros((0, 3))), "empty sequence"),
        (Potentials(jnp.zeros(3), jnp.zeros((3, 3)), jnp.zeros(3)), r"log_emit must be \[T, K\]"),
    ],
)
def test_shape_errors(pots, match):
    for fn in (log_partition, forward, posteriors, viterbi):
        with pytest.raises(ValueError, match=match):
            fn(pots)


@pytest.mark.parametrize("length", [0, 5, -1])
def test_length_out_of_range(length):
    with pytest.raises(ValueError, match=rf"length={length} is outside \[1, T=4\]"):
        log_partition(_p(), length=length)


def test_allowed_errors():
    with pytest.raises(ValueError, match="allowed is all False"):
        posteriors(_p(), allowed=np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"allowed must be a \[K\]=\[3\] mask"):
        viterbi(_p(), allowed=np.ones(2, bool))


def test_bad_method_and_num_samples():
    with pytest.raises(ValueError, match="method='fast'"):
        log_partition(_p(), method="fast")
    import jax

    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        sample_paths(_p(), jax.random.key(0), 0)
