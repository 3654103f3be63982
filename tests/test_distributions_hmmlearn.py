"""Emission M-steps and parameter counts vs hmmlearn 0.3.3 (float64, identical old parameters).

Method: an hmmlearn model with random parameters gives the state posteriors of some data
(``predict_proba``, old parameters); one ``fit`` iteration (``n_iter=1``, ``init_params=""``)
then performs one M-step from the same old parameters, which our ``m_step`` must reproduce.
Any data will do (the posteriors come from the model), so it is drawn with numpy.
"""

import numpy as np
import pytest

from lsgm.distributions import (
    COVARIANCE_TYPES,
    Categorical,
    DirichletPrior,
    Gaussian,
    GaussianMixture,
    GaussianPrior,
    Poisson,
    PoissonPrior,
)

hmm = pytest.importorskip("hmmlearn.hmm")
# N as in test_distributions.py (M-step tests there reuse these compiled shapes)
K, D, M, C, N = 3, 2, 4, 3, 3000
TOL = 1e-8


def _tables(rng, model):
    model.startprob_ = rng.dirichlet(np.ones(K))
    model.transmat_ = rng.dirichlet(np.ones(K) * 3, size=K)


def _spd(rng, shape):
    a = rng.normal(size=shape + (D, D))
    return a @ np.swapaxes(a, -1, -2) / D + 0.5 * np.eye(D)


def _covars(rng, covariance, units):
    """Random covariances in hmmlearn's per-type shape for Gaussians indexed by ``units``."""
    if covariance == "spherical":
        return rng.uniform(0.5, 2.0, units)
    if covariance == "diag":
        return rng.uniform(0.5, 2.0, units + (D,))
    return _spd(rng, units if covariance == "full" else units[:-1])


def _one_step(model, X):
    """Posteriors under the old parameters, then hmmlearn's EM step in place."""
    weights = model.predict_proba(X)
    model.fit(X)
    return weights


# --- Gaussian --------------------------------------------------------------------------


def _gaussian_priors(rng, covariance):
    """Non-trivial priors of the shapes hmmlearn's GaussianHMM accepts."""
    if covariance in ("spherical", "diag"):
        covars_prior, covars_weight = rng.uniform(0.1, 1.0, (K, D)), 3.5
    else:
        covars_prior = _spd(rng, (K,) if covariance == "full" else ())
        covars_weight = D + 2.5
    return dict(
        means_prior=rng.normal(size=(K, D)),
        means_weight=2.0,
        covars_prior=covars_prior,
        covars_weight=covars_weight,
    )


@pytest.mark.parametrize("with_prior", [False, True], ids=["mle", "prior"])
@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_gaussian_m_step(x64, covariance, with_prior):
    rng = np.random.default_rng(1)
    priors = _gaussian_priors(rng, covariance) if with_prior else dict(covars_prior=0.0)
    model = hmm.GaussianHMM(
        K, covariance, init_params="", params="stmc", n_iter=1, implementation="log", **priors
    )
    _tables(rng, model)
    model.means_ = rng.normal(0, 2, (K, D))
    model.covars_ = covars = _covars(rng, covariance, (K,))
    ours = Gaussian.from_params(model.means_, covars, covariance)
    X = rng.normal(0, 2, (N, D))

    weights = _one_step(model, X)
    ours.m_step(X, weights, GaussianPrior(**priors) if with_prior else None)

    np.testing.assert_allclose(ours.means(), model.means_, rtol=0, atol=TOL)
    expected = model._covars_[:, 0] if covariance == "spherical" else model._covars_
    np.testing.assert_allclose(ours.covariances(), expected, rtol=0, atol=TOL)


def test_gaussian_default_prior_is_hmmlearns_default(x64):
    rng = np.random.default_rng(3)
    model = hmm.GaussianHMM(K, "full", init_params="", params="mc", n_iter=1)
    _tables(rng, model)
    model.means_, model.covars_ = rng.normal(0, 2, (K, D)), _covars(rng, "full", (K,))
    ours = Gaussian.from_params(model.means_, model._covars_, "full")
    X = rng.normal(0, 2, (N, D))
    ours.m_step(X, _one_step(model, X), GaussianPrior())
    np.testing.assert_allclose(ours.covariances(), model._covars_, rtol=0, atol=TOL)


# --- Categorical -------------------------------------------------------------------------


@pytest.mark.parametrize("with_prior", [False, True], ids=["mle", "dirichlet"])
def test_categorical_m_step(x64, with_prior):
    rng = np.random.default_rng(5)
    prior = np.c_[rng.uniform(0.2, 3.0, (K, M - 1)), np.full(K, 0.5)] if with_prior else 1.0
    model = hmm.CategoricalHMM(
        K, n_features=M, emissionprob_prior=prior, init_params="", params="ste", n_iter=1
    )
    _tables(rng, model)
    model.emissionprob_ = rng.dirichlet(np.ones(M), size=K)
    ours = Categorical.from_probs(model.emissionprob_)
    # the last symbol never occurs: its concentration 0.5 < 1 clips it to probability 0
    X = rng.integers(0, M - 1 if with_prior else M, (N, 1))

    weights = _one_step(model, X)
    ours.m_step(X[:, 0], weights, DirichletPrior(prior) if with_prior else None)
    np.testing.assert_allclose(ours.probs(), model.emissionprob_, rtol=0, atol=TOL)
    if with_prior:
        assert (model.emissionprob_[:, -1] == 0).all()


# --- Poisson ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_prior", [False, True], ids=["mle", "prior"])
def test_poisson_m_step(x64, with_prior):
    rng = np.random.default_rng(7)
    priors = (
        dict(lambdas_prior=rng.uniform(0.5, 3.0, (K, D)), lambdas_weight=4.0) if with_prior else {}
    )
    model = hmm.PoissonHMM(K, init_params="", params="stl", n_iter=1, **priors)
    _tables(rng, model)
    model.lambdas_ = rng.uniform(0.5, 8.0, (K, D))
    model.n_features = D
    ours = Poisson.from_rates(model.lambdas_)
    X = rng.poisson(3.0, (N, D))

    weights = _one_step(model, X)
    ours.m_step(X, weights, PoissonPrior(**priors) if with_prior else None)
    np.testing.assert_allclose(ours.rates(), model.lambdas_, rtol=0, atol=TOL)


# --- Gaussian mixture --------------------------------------------------------------------

#: GMMHMM priors whose update is the plain MLE. Its defaults are these, except for
#: "spherical", whose default covars_prior -(n_mix + 2) / 2 is not (C != D here).
NON_INFORMATIVE = {
    "full": dict(covars_prior=0.0, covars_weight=-(D + 2.0)),
    "tied": dict(covars_prior=0.0, covars_weight=-(C + D + 1.0)),
    "diag": dict(covars_prior=-1.5, covars_weight=0.0),
    "spherical": dict(covars_prior=-(D + 2.0) / 2, covars_weight=0.0),
}


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_gaussian_mixture_m_step(x64, covariance):
    rng = np.random.default_rng(9)
    model = hmm.GMMHMM(
        K,
        n_mix=C,
        covariance_type=covariance,
        weights_prior=1.0,
        means_weight=0.0,
        init_params="",
        params="stmcw",
        n_iter=1,
        **NON_INFORMATIVE[covariance],
    )
    _tables(rng, model)
    old_weights = rng.dirichlet(np.ones(C) * 2, size=K)
    old_means = rng.normal(0, 2, (K, C, D))
    covars = _covars(rng, covariance, (K, C))
    model.weights_, model.means_, model.covars_ = old_weights, old_means, covars
    model.n_features = D
    model._init = lambda X, lengths=None: None  # k-means whose result init_params="" drops
    ours = GaussianMixture.from_params(old_weights, old_means, covars, covariance)
    X = rng.normal(0, 2, (N, D))

    weights = _one_step(model, X)
    ours.m_step(X, weights)

    np.testing.assert_allclose(ours.weights(), model.weights_, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.means(), model.means_, rtol=0, atol=TOL)
    # hmmlearn accumulates the covariance statistics around the *old* means during the
    # E-step, so its covariances exceed the exact EM update (centred on the new means) by
    # the outer product of the mean shift: sum_n g (x - m_old)^2 = sum_n g (x - m_new)^2
    # + G (m_new - m_old)^2.
    shift = model.means_ - old_means
    outer = shift[..., :, None] * shift[..., None, :]
    correction = {
        "spherical": (shift**2).mean(-1),
        "diag": shift**2,
        "full": outer,
        "tied": np.einsum("kc,kcij->kij", model.weights_, outer),
    }[covariance]
    np.testing.assert_allclose(ours.covariances(), model.covars_ - correction, rtol=0, atol=TOL)


# --- parameter counts --------------------------------------------------------------------


def _emission_count(model, letters):
    counts = model._get_n_fit_scalars_per_param()
    return sum(counts[letter] for letter in letters)


def test_n_parameters_match_hmmlearn():
    cat = hmm.CategoricalHMM(K, n_features=M)
    assert Categorical(K, M, rngs=None).n_parameters() == _emission_count(cat, "e")
    poisson = hmm.PoissonHMM(K)
    poisson.n_features = D
    assert Poisson(K, D, rngs=None).n_parameters() == _emission_count(poisson, "l")
    for covariance in COVARIANCE_TYPES:
        gauss = hmm.GaussianHMM(K, covariance)
        gauss.n_features = D
        ours = Gaussian(K, D, covariance, rngs=None).n_parameters()
        assert ours == _emission_count(gauss, "mc")
        gmm = hmm.GMMHMM(K, n_mix=C, covariance_type=covariance)
        gmm.n_features = D
        # hmmlearn counts the mixture weights as n_mix - 1 for all states together; each of
        # the K rows has C - 1 free weights.
        ours = GaussianMixture(K, D, C, covariance, rngs=None).n_parameters()
        assert ours == _emission_count(gmm, "mc") + K * (C - 1)
