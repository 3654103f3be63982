"""The chain-structured forward recursion (:mod:`lsgm.inference.chains`) against the dense
kernel and brute-force enumeration of every path (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BruteForce
from scipy.special import log_softmax

from lsgm.inference import Potentials, chain_log_partition, dense_transitions, log_partition


def _layout(rng, K: int, S: int):
    """A random chain layout: state 0 free, runs of advancing states each ending free."""
    advance = np.zeros(K, int)
    i = 1
    while i < K:
        width = int(rng.integers(1, 4))
        advance[i : min(i + width, K) - 1] = 1
        i += width
    source = np.zeros((K, S))
    free = np.flatnonzero(advance == 0)
    source[free, rng.integers(0, S, free.size)] = 1.0
    return source, advance


@pytest.mark.parametrize("K,S,T,stationary", [(5, 1, 5, True), (6, 2, 4, False), (4, 3, 6, False)])
def test_equals_dense_kernel_and_enumeration(x64, K, S, T, stationary):
    rng = np.random.default_rng(K * 10 + S)
    source, advance = _layout(rng, K, S)
    log_dest = log_softmax(rng.normal(size=(1 if stationary else T - 1, S, K)), axis=-1)
    log_init = log_softmax(rng.normal(size=K))
    log_emit = rng.normal(size=(T, K))
    args = (jnp.asarray(log_init), jnp.asarray(log_dest), jnp.asarray(log_emit))
    got = float(chain_log_partition(*args, source, advance))
    dense = dense_transitions(args[1], source, advance)
    p = Potentials(args[0], dense[0] if stationary else dense, args[2])
    assert got == pytest.approx(float(log_partition(p)), abs=1e-10)
    assert got == pytest.approx(BruteForce(p).log_z(), abs=1e-10)
    # padding past ``length`` changes nothing: the prefix's own log Z
    short = Potentials(
        p.log_init, p.log_trans if stationary else p.log_trans[: T - 2], p.log_emit[: T - 1]
    )
    want = BruteForce(short).log_z()
    assert float(chain_log_partition(*args, source, advance, length=T - 1)) == pytest.approx(
        want, abs=1e-10
    )


def test_impossible_sequence_is_minus_infinity_and_gradients_match(x64):
    rng = np.random.default_rng(0)
    K, S, T = 5, 1, 4
    source, advance = _layout(rng, K, S)
    log_dest = jnp.asarray(log_softmax(rng.normal(size=(T - 1, S, K)), axis=-1))
    log_init = jnp.asarray(log_softmax(rng.normal(size=K)))
    log_emit = jnp.asarray(rng.normal(size=(T, K)))
    never = log_emit.at[2].set(-jnp.inf)
    assert np.isneginf(float(chain_log_partition(log_init, log_dest, never, source, advance)))

    def dense(e):
        return log_partition(Potentials(log_init, dense_transitions(log_dest, source, advance), e))

    g_chain = jax.grad(lambda e: chain_log_partition(log_init, log_dest, e, source, advance))
    np.testing.assert_allclose(g_chain(log_emit), jax.grad(dense)(log_emit), atol=1e-10)


def test_the_last_state_cannot_advance():
    with pytest.raises(ValueError, match="advance\\[-1\\] must be 0"):
        chain_log_partition(
            jnp.zeros(2), jnp.zeros((1, 1, 2)), jnp.zeros((3, 2)), np.ones((2, 1)), np.array([0, 1])
        )
