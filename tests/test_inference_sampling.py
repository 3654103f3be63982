"""FFBS draws the exact posterior over paths."""

from collections import Counter

import jax
import numpy as np
from conftest import BruteForce, random_potentials

from lsgm.inference import Potentials, sample_paths


def test_ffbs_frequencies_match_enumeration(x64):
    p = random_potentials(np.random.default_rng(5), 4, 3, stationary=False)
    want = BruteForce(p).path_probs()
    draws = np.asarray(sample_paths(p, jax.random.key(0), 100_000))
    counts = Counter(map(tuple, draws.tolist()))
    worst = max(abs(counts.get(path, 0) / len(draws) - prob) for path, prob in want.items())
    assert worst <= 5e-3
    assert set(counts) <= set(want)


def test_ffbs_respects_length_and_allowed(x64):
    rng = np.random.default_rng(6)
    p = random_potentials(rng, 6, 3, stationary=True)
    allowed = np.array([True, False, True])
    draws = np.asarray(sample_paths(p, jax.random.key(1), 500, length=4, allowed=allowed))
    assert draws.shape == (500, 6)
    assert np.all(draws[:, 4:] == -1)
    assert not np.any(draws[:, :4] == 1)
    truncated = Potentials(p.log_init, p.log_trans, p.log_emit[:4])
    want = BruteForce(truncated, allowed).path_probs()
    counts = Counter(map(tuple, draws[:, :4].tolist()))
    assert set(counts) <= {k for k, v in want.items() if v > 0}
