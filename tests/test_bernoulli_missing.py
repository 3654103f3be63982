"""Missing values in the Bernoulli emission (``allow_missing=True``: 2 = "not measured",
ChromHMM's binarized files): exact marginalisation, the M-step's counts, model files, and
a 2 refused without the flag."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BruteForce
from flax import nnx

import lsgm
from lsgm.distributions import Bernoulli, BetaPrior, bernoulli_log_prob
from lsgm.models.serialization import build_model, load_model, model_config, save_model
from lsgm.training import fit_em


def _brute_log_prob(probs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``[T, K]`` ``log sum over completions of the missing marks of prod_d p(x_d | k)``,
    by enumerating the completions (numpy, float64)."""
    T, K = x.shape[0], probs.shape[-2]
    out = np.zeros((T, K))
    for t in range(T):
        p = probs if probs.ndim == 2 else probs[t]
        missing = np.flatnonzero(x[t] == 2)
        total = np.zeros(K)
        for values in itertools.product((0, 1), repeat=len(missing)):
            full = x[t].copy()
            full[missing] = values
            total += np.prod(np.where(full == 1, p, 1 - p), axis=-1)
        with np.errstate(divide="ignore"):
            out[t] = np.log(total)
    return out


def test_log_prob_marginalises_missing_values_exactly(x64):
    rng = np.random.default_rng(0)
    T, K, D = 12, 3, 7  # D = 7: two pattern tables (6 marks + 1) in the static fast path
    x = rng.integers(0, 3, (T, D))
    x[0] = 2  # every mark missing: log p = 0
    probs = rng.uniform(0.05, 0.95, (K, D))
    probs[0, 0], probs[1, 1] = 0.0, 1.0  # exact zeros: -inf only where observed against them
    x[1, :2] = 2
    logits = jnp.log(probs) - jnp.log1p(-probs)
    static = np.asarray(bernoulli_log_prob(logits, x, allow_missing=True))
    np.testing.assert_allclose(static, _brute_log_prob(probs, x), rtol=1e-12, atol=1e-12)
    assert np.all(static[0] == 0) and np.all(np.isfinite(static[1]))
    # time-varying logits (the LSGM's head) take the select-and-sum path
    varying = rng.uniform(0.05, 0.95, (T, K, D))
    out = bernoulli_log_prob(jnp.log(varying) - jnp.log1p(-varying), x, allow_missing=True)
    np.testing.assert_allclose(out, _brute_log_prob(varying, x), rtol=1e-12, atol=1e-12)
    # without the flag a 2 poisons its row under jit (and is an error eagerly, see below);
    # a 3 poisons it either way
    assert np.isnan(bernoulli_log_prob(logits, x)[0]).all()
    bad = x.copy()
    bad[3, 4] = 3
    out = np.asarray(bernoulli_log_prob(logits, bad, allow_missing=True))
    assert np.isnan(out[3]).all()
    np.testing.assert_array_equal(np.delete(out, 3, 0), np.delete(static, 3, 0))


def test_em_counts_only_observed_values(x64):
    """One MAP EM step equals the counts of observed ones and zeros by hand, weighted by
    brute-force posteriors."""
    rng = np.random.default_rng(1)
    K, D = 2, 3
    emission = Bernoulli(K, D, allow_missing=True, rngs=nnx.Rngs(0))
    model = lsgm.HMM(K, emission, rngs=nnx.Rngs(1))
    xs = [rng.integers(0, 3, (7, D)), rng.integers(0, 3, (5, D))]
    xs[1][:, 2] = 2  # mark 2 missing throughout a sequence
    gamma = np.concatenate([BruteForce(model.potentials(x)).marginals()[0] for x in xs])
    x = np.concatenate(xs)
    prior = BetaPrior(2.0, 3.0)
    ones = gamma.T @ (x == 1)  # [K, D]
    zeros = gamma.T @ (x == 0)
    expected = (ones + 1.0) / (ones + zeros + 3.0)  # MAP: (S1 + a - 1) / (S1 + S0 + a + b - 2)
    fit_em(model, xs, max_iter=1, priors={"emission": prior}, method="scaled")
    np.testing.assert_allclose(model.emission.probs(), expected, rtol=1e-10)
    # samples are 0/1 only
    sample = model.emission.sample(jax.random.key(0), jnp.zeros(50, int))
    assert set(np.unique(np.asarray(sample))) <= {0, 1}


def test_model_files_and_errors(tmp_path):
    emission = Bernoulli(2, 3, allow_missing=True, rngs=nnx.Rngs(0))
    hmm = lsgm.HMM(2, emission, rngs=nnx.Rngs(1))
    x = np.array([[0, 1, 2], [2, 2, 1], [1, 0, 0]])
    save_model(tmp_path / "m.lsgm", hmm)
    loaded, _ = load_model(tmp_path / "m.lsgm")
    assert loaded.emission.allow_missing and model_config(loaded) == model_config(hmm)
    assert np.array_equal(loaded.emission.logits[...], emission.logits[...])
    # a file written before the field existed: no missing values
    old = {"kind": "HMM", "num_states": 2, "emission": {"family": "bernoulli", "dim": 3}}
    assert build_model(old | {"settings": {}}).emission.allow_missing is False
    # without the flag a 2 is an error naming its position and the fix
    plain = lsgm.HMM(2, Bernoulli(2, 3, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    with pytest.raises(ValueError, match=r"sequence 0: value 2 at \(0, 2\) .*allow_missing=True"):
        plain.score([x])
    with pytest.raises(ValueError, match=r"value 3 at \(1, 0\) is not 0, 1 or 2"):
        hmm.score([np.array([[0, 1, 2], [3, 2, 1]])])
    # the LSGM's head marginalises the same way, and its RNN reads which marks are missing
    head = emission.network_head()
    raw = jnp.broadcast_to(head.bias(emission), (3, 2, 3))  # network outputs 0: the HMM's
    np.testing.assert_allclose(head.log_prob(raw, x), emission.log_prob(x), rtol=1e-6)
    expected = np.concatenate([x == 1, x == 2], -1)
    assert head.input_dim == 6 and np.array_equal(head.encode(jnp.asarray(x)), expected)
    assert np.isnan(head.encode(jnp.asarray([[0, 3, 1]]))).all()
    # the time-parallel EM's pattern codes (base 3): log_prob(patterns)[codes] = log_prob(x),
    # an invalid row to the last pattern, which scores NaN
    codes, patterns = emission.pattern_codes(np.concatenate([x, [[0, 3, 1]]]))
    table = emission.log_prob(patterns)
    np.testing.assert_array_equal(table[codes[:3]], emission.log_prob(x))
    assert codes[3] == 27 and len(patterns) == 28 and np.isnan(table[27]).all()
