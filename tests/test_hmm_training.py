"""HMM fitting beyond hmmlearn parity: monotone EM, recovery, supervised and semi-supervised
fits, freezing, structural zeros, gradient training, restarts."""

import warnings

import jax
import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Bernoulli, Categorical, Gaussian, GaussianMixture, Poisson
from lsgm.training import HMMPrior, fit_em, fit_gradient, fit_supervised

PI = np.array([0.6, 0.3, 0.1])
A = np.array([[0.90, 0.08, 0.02], [0.05, 0.90, 0.05], [0.10, 0.10, 0.80]])
B = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.05, 0.05, 0.2, 0.7]])


def _sample(model, n, T, seed):
    keys = jax.random.split(jax.random.key(seed), n)
    pairs = [model.sample(T, k) for k in keys]
    return [np.asarray(z) for z, _ in pairs], [np.asarray(x) for _, x in pairs]


@pytest.fixture(scope="module")
def categorical_data():
    truth = lsgm.HMM.from_probs(PI, A, Categorical.from_probs(B))
    return truth, *_sample(truth, 30, 150, seed=0)


def _families():
    rngs = nnx.Rngs(3)
    return {
        "categorical": (Categorical(3, 4, rngs=rngs), lambda r: r.integers(0, 4, size=(40,))),
        "gaussian-full": (
            Gaussian(3, 2, covariance="full", rngs=rngs),
            lambda r: r.normal(size=(40, 2)),
        ),
        "bernoulli": (Bernoulli(3, 5, rngs=rngs), lambda r: r.integers(0, 2, size=(40, 5))),
        "poisson": (Poisson(3, 2, rngs=rngs), lambda r: r.poisson(3.0, size=(40, 2))),
        "gmm-diag": (
            GaussianMixture(3, 2, 2, covariance="diag", rngs=rngs),
            lambda r: r.normal(size=(40, 2)) + r.integers(0, 2, size=(40, 1)) * 3,
        ),
        "gaussian-spherical": (
            Gaussian(3, 2, covariance="spherical", rngs=rngs),
            lambda r: r.normal(size=(40, 2)),
        ),
    }


@pytest.mark.parametrize(
    "family",
    ["categorical", "gaussian-full", "gaussian-spherical", "bernoulli", "poisson", "gmm-diag"],
)
def test_em_never_decreases_the_likelihood(family):
    emission, draw = _families()[family]
    rng = np.random.default_rng(1)
    xs = [draw(rng) for _ in range(6)]
    model = lsgm.HMM(3, emission, rngs=nnx.Rngs(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, history = fit_em(model, xs, max_iter=25, tol=0.0, init=True)
    ll = np.array(history.log_likelihoods)
    assert np.all(np.diff(ll) >= -1e-4 * np.abs(ll[:-1])), ll


def test_parameter_recovery_up_to_permutation(categorical_data):
    _, _, xs = categorical_data
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    fit_em(model, xs, max_iter=200, tol=1e-6, n_init=4, seed=1)
    order = np.argmax(np.asarray(model.emission.probs()) @ B.T, axis=0)  # fitted state per true
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(np.asarray(model.emission.probs())[order], B, atol=0.06)
    np.testing.assert_allclose(
        np.asarray(model.transition_probs())[np.ix_(order, order)], A, atol=0.06
    )


def test_supervised_fit_equals_hand_counts(categorical_data):
    _, paths, xs = categorical_data
    c = 0.5
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    fit_supervised(model, xs, paths, pseudocount=c)
    init_counts = np.bincount([z[0] for z in paths], minlength=3) + c
    trans_counts = np.full((3, 3), c)
    emit_counts = np.zeros((3, 4))
    for z, x in zip(paths, xs, strict=True):
        np.add.at(trans_counts, (z[:-1], z[1:]), 1)
        np.add.at(emit_counts, (z, x), 1)
    np.testing.assert_allclose(model.initial_probs(), init_counts / init_counts.sum(), atol=1e-6)
    np.testing.assert_allclose(
        model.transition_probs(), trans_counts / trans_counts.sum(1, keepdims=True), atol=1e-6
    )
    np.testing.assert_allclose(
        model.emission.probs(), emit_counts / emit_counts.sum(1, keepdims=True), atol=1e-6
    )


def test_semi_supervised_with_all_labels_equals_supervised(categorical_data):
    _, paths, xs = categorical_data
    supervised = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    fit_supervised(supervised, xs, paths, pseudocount=1.0)
    semi = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(5)), rngs=nnx.Rngs(6))
    fit_em(semi, xs, state_labels=paths, priors=HMMPrior(2.0, 2.0), max_iter=3)
    np.testing.assert_allclose(semi.initial_probs(), supervised.initial_probs(), atol=1e-6)
    np.testing.assert_allclose(semi.transition_probs(), supervised.transition_probs(), atol=1e-6)
    # With labels, the emission M-step uses one-hot weights: the MLE, which the supervised fit
    # without emission prior also gives.
    np.testing.assert_allclose(semi.emission.probs(), supervised.emission.probs(), atol=1e-6)


def test_semi_supervised_partial_labels_are_respected(categorical_data):
    _, paths, xs = categorical_data
    labels = [np.where(np.arange(len(z)) % 3 == 0, z, -1) for z in paths]
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(2))
    fit_em(model, xs, state_labels=labels, max_iter=50)
    decoded = model.predict(xs)
    accuracy = np.mean(np.concatenate([d == z for d, z in zip(decoded, paths, strict=True)]))
    assert accuracy > 0.8  # labels pin the state identities, so no permutation is needed


@pytest.mark.parametrize("fitter", ["em", "gradient", "supervised"])
def test_transition_mask_zeros_survive_training(categorical_data, fitter):
    _, paths, xs = categorical_data
    mask = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool)
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0), transition_mask=mask)
    if fitter == "em":
        fit_em(model, xs, max_iter=10)
    elif fitter == "gradient":
        fit_gradient(model, xs, epochs=5, batch_size=8)
    else:
        legal = [np.zeros_like(z) for z in paths]  # all in state 0: 0->0 is allowed
        fit_supervised(model, xs, legal, pseudocount=1.0)
    probs = np.asarray(model.transition_probs())
    assert np.all(probs[~mask] == 0)
    assert model.n_parameters() == 2 + 3 * 1 + 3 * 3  # pi 2, rows with 2 allowed each, B 3×3


@pytest.mark.parametrize("fitter", ["em", "gradient", "supervised"])
@pytest.mark.parametrize("part", ["initial", "transition", "emission"])
def test_freezing_keeps_a_part_fixed(categorical_data, fitter, part):
    _, paths, xs = categorical_data
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(7)), rngs=nnx.Rngs(8))
    getters = {
        "initial": model.initial_probs,
        "transition": model.transition_probs,
        "emission": model.emission.probs,
    }
    before = {name: np.asarray(get()) for name, get in getters.items()}
    if fitter == "em":
        fit_em(model, xs[:5], max_iter=3, freeze=part)
    elif fitter == "gradient":
        fit_gradient(model, xs[:5], epochs=3, freeze=[part])
    else:
        fit_supervised(model, xs[:5], paths[:5], pseudocount=1.0, freeze=(part,))
    for name, get in getters.items():
        after = np.asarray(get())
        if name == part:
            np.testing.assert_array_equal(after, before[name])
        else:
            assert not np.allclose(after, before[name])


def test_gradient_training_lowers_the_nll(categorical_data):
    _, _, xs = categorical_data
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(9)), rngs=nnx.Rngs(9))
    start = -model.score(xs) / sum(len(x) for x in xs)
    _, history = fit_gradient(model, xs[:24], epochs=30, batch_size=8, validation=xs[24:])
    assert history.train_nll[-1] < start - 0.05
    assert history.valid_nll[-1] < history.valid_nll[0]


def test_paper_parameter_count_52_state_scalar_gaussian():
    model = lsgm.HMM(52, Gaussian(52, 1, covariance="diag", rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    assert model.n_parameters() == 2807


def test_restarts_keep_the_best(categorical_data):
    _, _, xs = categorical_data
    model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    _, history = fit_em(model, xs[:10], max_iter=30, n_init=3, seed=2)
    assert len(history.restarts) == 3
    assert history.log_likelihoods[-1] == max(history.restarts)


def test_soft_observations_in_inference_em_and_gradient(categorical_data):
    """One-hot soft observations reproduce the hard-symbol model in every fitter."""
    _, _, xs = categorical_data
    soft = [np.eye(4, dtype=np.float32)[x] for x in xs[:6]]
    hard_model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(2))
    soft_model = lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(2))
    np.testing.assert_allclose(soft_model.score(soft), hard_model.score(xs[:6]), rtol=1e-5)
    fit_em(hard_model, xs[:6], max_iter=5)
    fit_em(soft_model, soft, max_iter=5)
    np.testing.assert_allclose(soft_model.emission.probs(), hard_model.emission.probs(), atol=1e-5)
    fit_gradient(hard_model, xs[:6], epochs=3)
    fit_gradient(soft_model, soft, epochs=3)
    np.testing.assert_allclose(
        soft_model.transition_probs(), hard_model.transition_probs(), atol=1e-5
    )
    # A genuinely uncertain observation lowers the likelihood's sharpness but stays finite.
    blurred = [0.7 * s + 0.3 / 4 for s in soft]
    assert np.isfinite(soft_model.score(blurred))
