"""Gradients of log Z: finite differences, identity with posteriors, no NaN from -inf."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_potentials

from lsgm.inference import METHODS, Potentials, log_partition, posteriors


def _finite_difference(f, x, eps=1e-6):
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stationary", [True, False])
def test_grad_matches_finite_differences(x64, method, stationary):
    p = random_potentials(np.random.default_rng(1), 5, 3, stationary)
    grads = jax.grad(lambda q: log_partition(q, length=4, method=method))(
        Potentials(*map(jnp.asarray, p))
    )
    for field in range(3):

        def f(value, field=field):
            fields = list(p)
            fields[field] = value
            return float(log_partition(Potentials(*fields), length=4, method=method))

        np.testing.assert_allclose(grads[field], _finite_difference(f, p[field]), atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stationary", [True, False])
def test_grad_equals_posteriors(x64, method, stationary):
    """d log Z / d log_emit = p(z_t | x); d/d log_trans = pairwise; d/d log_init = p(z_1 | x)."""
    p = Potentials(*map(jnp.asarray, random_potentials(np.random.default_rng(2), 7, 4, stationary)))
    grads = jax.grad(lambda q: log_partition(q, method=method))(p)
    post = posteriors(p, method=method)
    np.testing.assert_allclose(grads.log_emit, post.states, atol=1e-12)
    np.testing.assert_allclose(grads.log_init, post.states[0], atol=1e-12)
    want_trans = post.transitions.sum(0) if stationary else post.transitions
    np.testing.assert_allclose(grads.log_trans, want_trans, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_unreachable_state_gives_finite_values_and_gradients(method):
    """A state with a -inf column (never entered) and -inf initial probability."""
    rng = np.random.default_rng(4)
    log_trans = np.log(rng.dirichlet(np.ones(3), size=3)).astype(np.float32)
    log_trans[:, 2] = -np.inf
    p = Potentials(
        jnp.array([0.0, np.log(0.5), -np.inf], jnp.float32) - np.log(1.5),
        jnp.asarray(log_trans),
        jnp.asarray(rng.normal(size=(6, 3)), jnp.float32),
    )

    def loss(q):
        post = posteriors(q, method=method)
        return log_partition(q, method=method) + post.states.sum() + post.transitions.sum()

    value, grads = jax.value_and_grad(loss)(p)
    assert np.isfinite(value)
    for g in grads:
        assert np.all(np.isfinite(g))
    assert np.all(np.asarray(posteriors(p, method=method).states[:, 2]) == 0)


@pytest.mark.parametrize("method", METHODS)
def test_second_derivatives_match_finite_differences(x64, method):
    """The custom JVP of log Z is itself differentiable (Hessian w.r.t. log_init)."""
    p = Potentials(*map(jnp.asarray, random_potentials(np.random.default_rng(9), 4, 3, True)))

    def grad_init(log_init):
        return jax.grad(lambda li: log_partition(p._replace(log_init=li), method=method))(log_init)

    hessian = jax.jacfwd(grad_init)(p.log_init)
    eps = 1e-5
    for i in range(3):
        step = jnp.zeros(3).at[i].set(eps)
        column = (grad_init(p.log_init + step) - grad_init(p.log_init - step)) / (2 * eps)
        np.testing.assert_allclose(hessian[:, i], column, atol=1e-7)
