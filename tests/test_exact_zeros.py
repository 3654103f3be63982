"""Probability zero is exactly zero (issue 18, class 2), and NaN is never read as a zero.

Impossible and partly impossible sequences against brute-force enumeration (float64), with
both methods, stationary and time-varying, padded and with ``allowed`` masks; the chunked
kernels, sampling, gradients through ``-inf`` parameters, the M-steps' exact zeros and the
model-level errors that name the impossible sequence and position.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BruteForce, random_potentials
from flax import nnx

import lsgm
from lsgm.distributions import Categorical
from lsgm.inference import (
    METHODS,
    Potentials,
    backward,
    chunked_log_partition,
    chunked_posteriors,
    chunked_viterbi,
    expected_counts,
    filtered,
    first_impossible_step,
    forward,
    log_partition,
    posteriors,
    sample_paths,
    viterbi,
)

TOL = dict(rtol=1e-10, atol=1e-10)
K, T = 3, 5


def _impossible(stationary: bool, where: str, seed: int):
    """Random potentials that no path explains from step ``t0`` on, and ``t0``.

    ``where="emit"``: no state emits ``x_{t0}``; ``"trans"``: the states that emit ``x_{t0}``
    cannot be reached from those that emit ``x_{t0-1}``; ``"last"``: only the last step."""
    rng = np.random.default_rng(seed)
    li, lt, le = random_potentials(rng, T, K, stationary)
    lt, le = np.array(lt), np.array(le)
    t0 = T - 1 if where == "last" else 2
    if where in ("emit", "last"):
        le[t0] = -np.inf
    else:  # x_{t0-1} only from state 0, x_{t0} only from state 2, and 0 -> 2 forbidden
        le[t0 - 1, 1:] = -np.inf
        le[t0, :2] = -np.inf
        if stationary:
            lt[0, 2] = -np.inf
        else:
            lt[t0 - 1, 0, 2] = -np.inf
    le[3 if t0 != 3 else 1, 0] = -np.inf  # some zeros elsewhere, too
    return Potentials(li, lt, le), t0


def _pad(p: Potentials, extra: int) -> Potentials:
    """Append junk steps, NaN included (padding must never matter)."""
    junk = np.full((extra, K), np.nan)
    log_trans = p.log_trans
    if np.ndim(log_trans) == 3:
        log_trans = np.concatenate([log_trans, np.full((extra, K, K), np.nan)])
    return Potentials(p.log_init, log_trans, np.concatenate([p.log_emit, junk]))


# "padded" also passes an ``allowed`` mask (one compiled variant per configuration: the
# tests are dominated by compilation, and the NaN test below reuses these variants)
# two compiled configurations (each costs ~10 s of compiling in float64): stationary and
# plain, time-varying with padding and an `allowed` mask; every kind of zero in each
CASES = [
    (stationary, where, variant)
    for stationary, variant in ((True, "plain"), (False, "padded"))
    for where in ("emit", "trans", "last")
]


@pytest.mark.parametrize("stationary,where,variant", CASES)
def test_impossible_sequences_agree_with_enumeration(x64, stationary, where, variant):
    p, t0 = _impossible(stationary, where, seed=len(where) + 7 * stationary)
    allowed = np.array([True, True, True]) if variant == "padded" else None
    brute = BruteForce(p, allowed)
    assert np.isneginf(brute.log_z())
    log_alpha, log_beta = brute.log_alpha(), brute.log_beta()
    assert np.isneginf(log_alpha[t0]).all() and not np.isneginf(log_alpha[t0 - 1]).all()
    length = None
    if variant == "padded":
        p, length = _pad(p, 2), T
    p = Potentials(*(jnp.asarray(a) for a in p))
    valid = slice(0, T)
    alpha = np.exp(log_alpha[:t0])
    want_filtered = alpha / alpha.sum(1, keepdims=True)

    for method in METHODS:
        args = (p, length, allowed, method)
        assert np.isneginf(log_partition(*args))
        assert int(first_impossible_step(*args)) == t0
        np.testing.assert_allclose(forward(*args)[valid], log_alpha, **TOL)
        np.testing.assert_allclose(backward(*args)[valid], log_beta, **TOL)
        filt = np.asarray(filtered(*args))
        np.testing.assert_allclose(filt[:t0], want_filtered, **TOL)
        assert np.isnan(filt[t0:T]).all()
        post = posteriors(*args)
        counts = expected_counts(*args)
        assert np.isneginf(post.log_z) and np.isneginf(counts.log_z)
        assert np.isnan(post.states[valid]).all() and np.isnan(counts.states[valid]).all()
        assert np.isnan(post.transitions[: T - 1]).all()
        assert np.isnan(counts.transitions[: T - 1]).all()
        if length is not None:  # padding keeps its documented values
            assert (np.asarray(post.states[T:]) == 0).all()
            assert (np.asarray(post.transitions[T - 1 :]) == 0).all()
            assert (filt[T:] == 0).all()
            assert np.isneginf(forward(*args)[T:]).all()

    path, score = viterbi(p, length, allowed)
    assert np.isneginf(score) and (np.asarray(path) == -1).all()
    assert (np.asarray(sample_paths(p, jax.random.key(0), 3, length, allowed)) == -1).all()
    if variant == "plain" and stationary:
        assert np.isneginf(chunked_log_partition(p, chunk=2))
        assert np.isnan(chunked_posteriors(p, chunk=2)).all()
        path, score = chunked_viterbi(p, chunk=2)
        assert np.isneginf(score) and (np.asarray(path) == -1).all()


@pytest.mark.parametrize("stationary", [True, False])
def test_possible_sequences_with_zeros_have_finite_answers(x64, stationary):
    """Zeros that leave a path: exact log Z, and first_impossible_step = -1."""
    p, _ = _impossible(stationary, "emit", seed=3)
    p = p._replace(log_emit=np.where(np.arange(T)[:, None] == 2, np.log(0.5), p.log_emit))
    log_z = BruteForce(p).log_z()
    assert np.isfinite(log_z)
    for method in METHODS:
        np.testing.assert_allclose(log_partition(p, method=method), log_z, **TOL)
        assert int(first_impossible_step(p, method=method)) == -1
        assert np.isfinite(posteriors(p, method=method).states).all()


@pytest.mark.parametrize(
    "table,stationary,padded", itertools.product(("init", "trans", "emit"), (True, False), (0, 2))
)
def test_nan_potentials_give_nan_never_minus_inf(x64, table, stationary, padded):
    rng = np.random.default_rng(11)
    li, lt, le = (np.array(a) for a in random_potentials(rng, T, K, stationary))
    {"init": li, "emit": le[3], "trans": lt if stationary else lt[1]}[table][1] = np.nan
    p = Potentials(li, lt, le)
    length = allowed = None
    if padded:
        p, length, allowed = _pad(p, padded), T, np.array([True, True, True])
    p = Potentials(*(jnp.asarray(a) for a in p))
    for method in METHODS:
        args = (p, length, allowed, method)
        assert np.isnan(log_partition(*args))
        post = posteriors(*args)
        assert np.isnan(post.log_z) and np.isnan(post.states[:T]).all()
        assert np.isnan(expected_counts(*args).states[:T]).all()
        assert not np.isneginf(forward(*args)[:T]).any()
        assert np.isnan(forward(*args)[-1 - padded]).all()
    path, score = viterbi(p, length, allowed)
    assert np.isnan(score) and (np.asarray(path) == -1).all()
    assert (np.asarray(sample_paths(p, jax.random.key(0), 3, length, allowed)) == -1).all()
    if stationary and not padded:
        assert np.isnan(chunked_log_partition(p, chunk=2))
        assert np.isnan(chunked_posteriors(p, chunk=2)).all()
        path, score = chunked_viterbi(p, chunk=2)
        assert np.isnan(score) and (np.asarray(path) == -1).all()


@pytest.mark.parametrize("method", METHODS)
def test_gradients_through_minus_inf_entries_are_zero_not_nan(method):
    p, _ = _impossible(True, "emit", seed=5)
    le = np.where(np.arange(T)[:, None] == 2, [0.0, -np.inf, -1.0], p.log_emit)
    p = Potentials(*(jnp.asarray(a, jnp.float32) for a in (p.log_init, p.log_trans, le)))
    grads = jax.grad(lambda q: log_partition(q, method=method))(p)
    for g, table in zip(grads, p, strict=True):
        assert np.isfinite(g).all()
        assert (np.asarray(g)[np.isneginf(np.asarray(table))] == 0).all()


# --- emission families and models ------------------------------------------------------


def _acg_hmm():
    """Emissions that never give T (symbol 3) any probability."""
    B = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.1, 0.8, 0.0]])
    return lsgm.HMM.from_probs([0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]], Categorical.from_probs(B))


def test_zero_probability_symbol_is_impossible_and_named():
    hmm = _acg_hmm()
    assert np.isneginf(hmm.emission.logits[...][:, 3]).all()
    xs = [np.array([0, 1, 2, 0]), np.array([0, 2, 3, 1, 3])]
    scores = hmm.score_samples(xs)
    assert np.isfinite(scores[0]) and np.isneginf(scores[1])
    assert np.isneginf(hmm.score(xs))
    assert hmm.impossible_positions(xs) == [None, 3]
    for call in (hmm.predict, hmm.predict_proba):
        with pytest.raises(ValueError, match=r"sequence 1 .*position 3 .*observation 3"):
            call(xs)
    path, score = hmm.viterbi(xs[1])
    assert np.isneginf(score) and (np.asarray(path) == -1).all()
    for call in (hmm.posteriors, hmm.filtered):  # eagerly an error; under jit NaN
        with pytest.raises(ValueError, match=r"position 3 .*observation 3"):
            call(xs[1])
    assert np.isnan(nnx.jit(lambda m, x: m.posteriors(x).states)(hmm, xs[1])).all()
    hmm.predict(xs[:1]), hmm.predict_proba(xs[:1])  # possible ones still work


def test_m_steps_store_exact_zeros(x64):
    """A symbol / count never seen in a state gets probability exactly 0 (no -87 floor)."""
    weights = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cat = Categorical(2, 4, rngs=nnx.Rngs(0))
    cat.m_step(np.array([0, 1, 2]), weights)
    logits = np.asarray(cat.logits[...])
    assert np.isneginf(logits[0, 2:]).all() and np.isneginf(logits[1, [0, 1, 3]]).all()
    assert np.isneginf(cat.log_prob(np.array([3]))).all()
    bern = lsgm.distributions.Bernoulli(2, 1, rngs=nnx.Rngs(0))
    bern.m_step(np.array([[0], [0], [1]]), weights)
    lp = np.asarray(bern.log_prob(np.array([[1], [0]])))
    np.testing.assert_array_equal(lp, [[-np.inf, 0.0], [0.0, -np.inf]])
    pois = lsgm.distributions.Poisson(2, 1, rngs=nnx.Rngs(0))
    pois.m_step(np.array([[0], [0], [2]]), weights)
    lp = np.asarray(pois.log_prob(np.array([[0], [1]])))
    assert lp[0, 0] == 0.0 and np.isneginf(lp[1, 0]) and np.isfinite(lp[:, 1]).all()
    for model in (cat, bern, pois):  # no NaN, and grads through the zeros are 0
        x = np.array([0, 1, 2]) if model is cat else np.array([[0], [1], [0]])
        grads = nnx.grad(lambda m, x=x: jnp.sum(jnp.maximum(m.log_prob(x), -1e4)))(model)
        assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
