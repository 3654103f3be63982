"""Invalid input is never ignored under ``jax.jit`` (issue 18, class 3).

Eagerly, ``check_data`` raises; traced values cannot raise, so an invalid observation must
poison the result (NaN) — never be dropped (as the all-zero one-hot of an out-of-range symbol
once was: ``log_prob([0, 9, 9, 9, 9]) == log_prob([0])``). Every emission family, the HMM and
LSGM models, the LSGM's RNN input encoding and the DiffBio-style operator.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Bernoulli, Categorical, Gaussian, GaussianMixture, Poisson
from lsgm.operators import DifferentiableHMM, HMMConfig

K = 2
nan, inf = np.nan, np.inf


def _soft(rows):
    return np.array(rows, np.float32)


ONE_HOT = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.5, 0.5]]
# family -> (emission, valid [T, ...] data, invalid values to put at position 1)
FAMILIES = {
    "categorical": (
        lambda: Categorical(K, 4, rngs=nnx.Rngs(0)),
        np.array([0, 1, 2, 3]),
        [9, 4, -1],
    ),
    "categorical-soft": (
        lambda: Categorical(K, 4, rngs=nnx.Rngs(0)),
        _soft(ONE_HOT + [[0.25] * 4]),
        [[0.5, 0.5, 0.5, 0], [-0.5, 1.5, 0, 0], [nan, 1, 0, 0], [0, 0, 0, 0]],
    ),
    "bernoulli": (
        lambda: Bernoulli(K, 2, rngs=nnx.Rngs(0)),
        np.array([[0, 1], [1, 1], [0, 0], [1, 0]], np.float32),
        [[2, 0], [0.5, 1], [nan, 0], [-1, 0]],
    ),
    "poisson": (
        lambda: Poisson(K, 2, rngs=nnx.Rngs(0)),
        np.array([[0, 1], [3, 1], [0, 0], [5, 2]], np.float32),
        [[-1, 0], [1.5, 0], [nan, 0], [inf, 0]],
    ),
    "gaussian": (
        lambda: Gaussian(K, 2, rngs=nnx.Rngs(0)),
        np.array([[0, 1], [0.3, -1], [2, 0], [1, 1]], np.float32),
        [[nan, 0], [inf, 0], [0, -inf]],
    ),
    "gaussian-full": (
        lambda: Gaussian(K, 2, covariance="full", rngs=nnx.Rngs(0)),
        np.array([[0, 1], [0.3, -1], [2, 0], [1, 1]], np.float32),
        [[nan, 0], [inf, 0]],
    ),
    "mixture": (
        lambda: GaussianMixture(K, 2, 2, rngs=nnx.Rngs(0)),
        np.array([[0, 1], [0.3, -1], [2, 0], [1, 1]], np.float32),
        [[nan, 0], [-inf, 0]],
    ),
}


def _with_invalid(x: np.ndarray, bad) -> np.ndarray:
    x = np.array(x, copy=True)
    x[1] = bad
    return x


@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_observations_poison_emissions_and_models_under_jit(family):
    make, x, invalid = FAMILIES[family]
    emission = make()
    hmm = lsgm.HMM(K, make(), rngs=nnx.Rngs(1))
    emit = nnx.jit(lambda e, x: e.log_prob(x))
    log_prob = nnx.jit(lambda m, x: m.log_prob(x))
    with pytest.raises(ValueError):  # eagerly: an error naming the position
        hmm.log_prob(_with_invalid(x, invalid[0]))
    assert np.isfinite(emit(emission, x)).all() and np.isfinite(log_prob(hmm, x))
    for bad in invalid:
        xb = _with_invalid(x, bad)
        table = np.asarray(emit(emission, xb))
        assert np.isnan(table[1]).all(), (family, bad)
        assert not np.isnan(np.delete(table, 1, axis=0)).any(), (family, bad)
        assert np.isnan(log_prob(hmm, xb)), (family, bad)  # never dropped, never -inf
    path, score = nnx.jit(lambda m, x: m.viterbi(x))(hmm, _with_invalid(x, invalid[0]))
    assert np.isnan(score) and (np.asarray(path) == -1).all()


def test_out_of_range_symbol_is_not_the_shorter_sequence():
    """The issue's example."""
    hmm = lsgm.HMM(K, Categorical(K, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    log_prob = nnx.jit(lambda m, x: m.log_prob(x))
    assert np.isfinite(log_prob(hmm, jnp.array([0])))
    assert np.isnan(log_prob(hmm, jnp.array([0, 9, 9, 9, 9])))


@pytest.mark.parametrize("family", ["categorical", "bernoulli", "gaussian"])
def test_lsgm_input_encoding_and_emissions_poison(family):
    make, x, invalid = FAMILIES[family]
    model = lsgm.LSGM(K, make(), hidden_size=4, rngs=nnx.Rngs(2))
    xb = _with_invalid(x, invalid[0])
    features = np.asarray(nnx.jit(lambda m, x: m.features(x))(model, xb))
    assert not np.isnan(features[:2]).any()  # u_0 and u_1: before reading x_2
    assert np.isnan(features[2:]).all()  # the RNN read the invalid row: every later feature
    encoded = np.asarray(model.family.encode(jnp.asarray(xb)))
    assert np.isnan(encoded[1]).all() and not np.isnan(np.delete(encoded, 1, axis=0)).any()
    assert np.isfinite(nnx.jit(lambda m, x: m.log_prob(x))(model, x))
    assert np.isnan(nnx.jit(lambda m, x: m.log_prob(x))(model, xb))


def test_operator_poisons_invalid_symbols_at_valid_steps_only():
    op = DifferentiableHMM(HMMConfig(num_states=K, num_emissions=4), rngs=nnx.Rngs(0))
    forward = nnx.jit(lambda m, x, n: m.forward(x, n))
    apply = nnx.jit(lambda m, x, n: m.apply({"observations": x, "length": n}, None, None)[0])
    x = jnp.array([[0, 1, 2, 9], [0, 9, 2, 1]])
    lengths = jnp.array([3, 4])
    out = forward(op, x, lengths)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    np.testing.assert_allclose(out[0], op.forward(jnp.array([0, 1, 2])), rtol=1e-6)
    result = apply(op, x, lengths)
    assert np.isnan(result["log_likelihood"][1]) and np.isnan(result["state_posteriors"][1]).all()
    assert (np.asarray(result["viterbi_path"][1]) == -1).all()
    assert (np.asarray(result["viterbi_path"][0, :3]) >= 0).all()
    soft = jnp.array([[1.0, 0, 0, 0], [-1.0, 2, 0, 0], [0, 0, 1, 0]])
    assert np.isnan(nnx.jit(lambda m, o: m.forward_soft(o))(op, soft))
    with pytest.raises(ValueError):
        op.forward(jnp.array([0, 9]))
