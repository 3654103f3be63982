"""Every kernel against brute-force enumeration of all K^T state paths (float64, <= 1e-10)."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from conftest import BruteForce, random_potentials

from lsgm.inference import (
    METHODS,
    Potentials,
    backward,
    expected_counts,
    filtered,
    forward,
    log_partition,
    posteriors,
    viterbi,
)

TOL = dict(rtol=1e-10, atol=1e-10)
# (K, T) edge cases (K=1, T=1) and a general problem (K=3, T=6: 729 paths), crossed with the
# features; each case has its own fixed seed.
CASES = [
    (K, T, stationary, variant, seed)
    for seed, ((K, T), stationary, variant) in enumerate(
        itertools.product(((1, 3), (2, 1), (3, 6)), (True, False), ("plain", "masked", "padded"))
    )
]


def _pad(p: Potentials, extra: int, rng) -> Potentials:
    """Append ``extra`` steps of junk (which must not change any result)."""
    K = p.log_init.shape[0]
    log_emit = np.concatenate([p.log_emit, rng.normal(size=(extra, K)) * 50])
    log_trans = p.log_trans
    if log_trans.ndim == 3:
        log_trans = np.concatenate([log_trans, rng.normal(size=(extra, K, K)) * 50])
    return Potentials(p.log_init, log_trans, log_emit)


def _setup(K, T, stationary, variant, seed):
    rng = np.random.default_rng(seed)
    p = random_potentials(rng, T, K, stationary, neg_inf_frac=0.25 if variant == "masked" else 0)
    allowed = None
    if variant == "masked" and K > 1:
        allowed = rng.random(K) < 0.7
        allowed[rng.integers(K)] = True
    return p, allowed


@pytest.mark.parametrize("K,T,stationary,variant,seed", CASES)
def test_kernels_equal_enumeration(x64, K, T, stationary, variant, seed):
    p, allowed = _setup(K, T, stationary, variant, seed)
    brute = BruteForce(p, allowed)
    log_z = brute.log_z()
    length = None
    if variant == "padded":
        p, length = _pad(p, 2, np.random.default_rng(seed + 1)), T
    p = Potentials(*(jax.numpy.asarray(a) for a in p))
    cut = slice(0, T)

    for method in METHODS:
        np.testing.assert_allclose(log_partition(p, length, allowed, method), log_z, **TOL)
        np.testing.assert_allclose(
            forward(p, length, allowed, method)[cut], brute.log_alpha(), **TOL
        )
        np.testing.assert_allclose(
            backward(p, length, allowed, method)[cut], brute.log_beta(), **TOL
        )
        if np.isneginf(log_z):
            continue
        alpha = np.exp(brute.log_alpha())
        with np.errstate(invalid="ignore"):
            want_filtered = np.nan_to_num(alpha / alpha.sum(1, keepdims=True))
        np.testing.assert_allclose(filtered(p, length, allowed, method)[cut], want_filtered, **TOL)
        post = posteriors(p, length, allowed, method)
        states, pairs = brute.marginals()
        np.testing.assert_allclose(post.log_z, log_z, **TOL)
        np.testing.assert_allclose(post.states[cut], states, **TOL)
        np.testing.assert_allclose(post.transitions[: max(T - 1, 0)], pairs, **TOL)
        counts = expected_counts(p, length, allowed, method)
        np.testing.assert_allclose(counts.log_z, log_z, **TOL)
        np.testing.assert_allclose(counts.states[cut], states, **TOL)
        want_counts = pairs.sum(0) if stationary else pairs
        np.testing.assert_allclose(counts.transitions[: len(want_counts)], want_counts, **TOL)
        if length is not None:  # documented padding values
            assert np.all(np.asarray(post.states[T:]) == 0)
            assert np.all(np.asarray(post.transitions[T - 1 :]) == 0)
            assert np.all(np.isneginf(forward(p, length, allowed, method)[T:]))

    if not np.isneginf(log_z):
        want_path, want_score = brute.viterbi()
        path, score = viterbi(p, length, allowed)
        np.testing.assert_array_equal(path[cut], want_path)
        np.testing.assert_allclose(score, want_score, **TOL)
        if length is not None:
            assert np.all(np.asarray(path[T:]) == -1)


def test_allowed_mask_is_the_likelihood_of_restricted_paths(x64):
    """log p(x, z ⊂ allowed) <= log p(x), with equality when all states are allowed."""
    rng = np.random.default_rng(3)
    p = random_potentials(rng, 5, 3, stationary=True)
    full = log_partition(p)
    everything = log_partition(p, allowed=np.ones(3, bool))
    restricted = log_partition(p, allowed=np.array([True, False, True]))
    np.testing.assert_allclose(everything, full, rtol=1e-12)
    assert restricted < full
