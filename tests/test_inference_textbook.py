"""Textbook numbers: the Wikipedia forward–backward example and the weather (Viterbi) example."""

import jax.numpy as jnp
import numpy as np
import pytest

from lsgm.inference import METHODS, Potentials, log_partition, posteriors, viterbi


def wikipedia() -> Potentials:
    frame_likelihoods = np.array([[0.9, 0.2], [0.9, 0.2], [0.1, 0.8], [0.9, 0.2], [0.9, 0.2]])
    A = np.array([[0.7, 0.3], [0.3, 0.7]])
    return Potentials(jnp.log(jnp.array([0.5, 0.5])), jnp.log(A), jnp.log(frame_likelihoods))


@pytest.mark.parametrize("method", METHODS)
def test_wikipedia_forward_backward(x64, method):
    p = wikipedia()
    np.testing.assert_allclose(log_partition(p, method=method), -3.3725, atol=5e-5)
    # Smoothed posteriors of the rain state printed in the Wikipedia article.
    want_rain = [0.8673, 0.8204, 0.3075, 0.8204, 0.8673]
    np.testing.assert_allclose(posteriors(p, method=method).states[:, 0], want_rain, atol=5e-5)


def test_wikipedia_viterbi(x64):
    path, score = viterbi(wikipedia())
    np.testing.assert_array_equal(path, [0, 0, 1, 0, 0])
    np.testing.assert_allclose(score, -4.4590, atol=5e-5)


def test_weather_viterbi(x64):
    pi = jnp.array([0.6, 0.4])
    A = jnp.array([[0.7, 0.3], [0.4, 0.6]])
    B = jnp.array([[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]])
    x = jnp.array([0, 1, 2])
    path, score = viterbi(Potentials(jnp.log(pi), jnp.log(A), jnp.log(B).T[x]))
    np.testing.assert_array_equal(path, [1, 0, 0])
    np.testing.assert_allclose(jnp.exp(score), 0.01344, rtol=1e-12)
