"""MAP EM maximises log-likelihood + log-prior: each family's ``log_prior`` is the density
whose MAP its M-step computes (the M-step result is a stationary point of the weighted
complete-data log-likelihood plus ``log_prior``), and EM with priors never decreases that
objective (no spurious "decreased" warnings, convergence judged on it)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import (
    Bernoulli,
    BetaPrior,
    Categorical,
    DirichletPrior,
    Gaussian,
    GaussianMixture,
    GaussianMixturePrior,
    GaussianPrior,
    Poisson,
    PoissonPrior,
)
from lsgm.training import HMMPrior, fit_em
from lsgm.training.em import hmm_log_prior

D = 3


def _gaussian_prior(covariance: str) -> GaussianPrior:
    matrix = covariance in ("full", "tied")
    return GaussianPrior(
        means_prior=0.3,
        means_weight=np.array([2.0, 0.5, 1.0]),
        covars_prior=0.4 * np.eye(D) if matrix else 0.4,
        covars_weight=D + 3.0 if matrix else 4.0,
    )


def _case(name: str, rng: np.random.Generator):
    """(emission, its prior, data [N, ...])."""
    rngs = nnx.Rngs(0)
    if name == "bernoulli":
        return Bernoulli(3, 5, rngs=rngs), BetaPrior(1.5, 3.0), rng.integers(0, 2, (60, 5))
    if name == "categorical":
        return Categorical(3, 6, rngs=rngs), DirichletPrior(2.5), rng.integers(0, 6, 60)
    covariance = name.split("-")[1]
    x = rng.normal(size=(60, D)) * np.array([1.0, 2.0, 0.5]) + 1.0
    return Gaussian(3, D, covariance, rngs=rngs), _gaussian_prior(covariance), x


@pytest.mark.parametrize(
    "name",
    [
        "bernoulli",
        "categorical",
        "gaussian-diag",
        "gaussian-spherical",
        "gaussian-full",
        "gaussian-tied",
    ],
)
def test_m_step_is_the_maximiser_of_likelihood_plus_log_prior(x64, name):
    """grad_theta [sum_n,k w_nk log p_k(x_n) + log_prior(theta)] = 0 at the M-step's theta."""
    rng = np.random.default_rng(0)
    emission, prior, x = _case(name, rng)
    weights = jnp.asarray(rng.dirichlet(np.ones(3), size=len(x)))
    x = jnp.asarray(x)
    emission.m_step(x, weights, prior)
    graphdef, params = nnx.split(emission)

    def objective(p):
        e = nnx.merge(graphdef, p)
        return jnp.sum(weights * e.log_prob(x)) + e.log_prior(prior)

    grads = jax.tree.leaves(jax.grad(objective)(params))
    largest = max(float(jnp.max(jnp.abs(g))) for g in grads)
    assert largest < 1e-8, largest
    # and it is a maximum: moving any parameter a little lowers the objective
    base = objective(params)
    for i, leaf in enumerate(jax.tree.leaves(params)):
        bumped = jax.tree.leaves(params)
        bumped[i] = leaf + 1e-3 * jnp.asarray(rng.normal(size=leaf.shape))
        moved = jax.tree.unflatten(jax.tree.structure(params), bumped)
        assert objective(moved) <= base + 1e-12


def test_log_prior_is_zero_without_a_prior_and_none_for_poisson():
    e = Gaussian(2, 2, "full", rngs=nnx.Rngs(0))
    assert float(e.log_prior(None)) == 0.0
    assert Poisson(2, 2, rngs=nnx.Rngs(0)).log_prior(PoissonPrior(2.0, 1.0)) is None
    # flat priors (concentration 1, no mean/covariance weight) add nothing
    assert float(Categorical(2, 3, rngs=nnx.Rngs(0)).log_prior(DirichletPrior(1.0))) == 0.0
    flat = GaussianPrior(covars_prior=0.0)
    assert float(Gaussian(2, 2, "diag", rngs=nnx.Rngs(0)).log_prior(flat)) == 0.0


def _map_cases():
    rngs = nnx.Rngs(3)

    def gmm(r):
        return r.normal(size=(50, 2)) + r.integers(0, 2, size=(50, 1)) * 3

    return {
        "bernoulli-beta": (  # the music HMM's prior
            Bernoulli(3, 8, rngs=rngs),
            BetaPrior(1.1, 1.1),
            lambda r: (r.random((50, 8)) < 0.15).astype(int),
        ),
        "gmm-diag": (  # Dirichlet weights and Gaussian components: both parts of the prior
            GaussianMixture(3, 2, 2, covariance="diag", rngs=rngs),
            GaussianMixturePrior(2.0, GaussianPrior(means_weight=0.5, covars_weight=3.0)),
            gmm,
        ),
    }


@pytest.mark.parametrize("case", ["bernoulli-beta", "gmm-diag"])
def test_map_em_never_decreases_the_log_posterior(case):
    emission, emission_prior, draw = _map_cases()[case]
    rng = np.random.default_rng(1)
    xs = [draw(rng) for _ in range(5)]
    model = lsgm.HMM(3, emission, rngs=nnx.Rngs(4))
    model.emission.initialize(np.concatenate(xs), jax.random.key(0))
    prior = HMMPrior(
        initial=2.0, transition=np.full((3, 3), 1.5) + np.eye(3), emission=emission_prior
    )
    start = float(np.sum(model.score_samples(xs))) + float(hmm_log_prior(model, prior))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, history = fit_em(model, xs, max_iter=30, tol=0.0, priors=prior)
    objective = np.array(history.objectives)
    assert np.all(np.diff(objective) >= -1e-5 * np.abs(objective[:-1])), objective
    # the recorded objective is the log-likelihood plus hmm_log_prior of the same parameters
    np.testing.assert_allclose(objective[0], start, rtol=1e-5)
    gap = objective - np.array(history.log_likelihoods)
    assert np.all(np.abs(gap) > 1e-3)  # the prior's term, not zero here
    assert history.restarts == [objective[-1]]
