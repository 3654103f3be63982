"""Emission families: densities vs scipy, time-varying parameters, soft observations, data
and argument checks, parameter recovery, gradients, jit, initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats
from scipy.special import logsumexp
from sklearn.cluster import KMeans

from lsgm.distributions import (
    COVARIANCE_TYPES,
    Bernoulli,
    BetaPrior,
    Categorical,
    DirichletPrior,
    Emission,
    Gaussian,
    GaussianMixture,
    GaussianMixturePrior,
    GaussianPrior,
    Poisson,
    PoissonPrior,
    bernoulli_log_prob,
    categorical_log_prob,
    gaussian_log_prob,
    gaussian_mixture_log_prob,
    poisson_log_prob,
)
from lsgm.distributions._common import seed_from_key

K, D, M, C, T = 3, 2, 4, 3, 80
# M-step tests use N observations in float64, as test_distributions_hmmlearn.py: every new
# shape compiles, and these tests reuse the same compiled updates.
N = 3000
WHERE = "sequence 3"


def random_cov(rng, covariance, units):
    """Random covariances in hmmlearn's per-type shape for Gaussians indexed by ``units``."""
    if covariance == "spherical":
        return rng.uniform(0.5, 2.0, units)
    if covariance == "diag":
        return rng.uniform(0.5, 2.0, units + (D,))
    a = rng.normal(size=(units if covariance == "full" else units[:-1]) + (D, D))
    return a @ np.swapaxes(a, -1, -2) / D + 0.5 * np.eye(D)


def full_matrices(cov, covariance, units):
    """``[*units, D, D]`` covariance matrices."""
    if covariance == "spherical":
        return cov[..., None, None] * np.eye(D)
    if covariance == "diag":
        return cov[..., :, None] * np.eye(D)
    if covariance == "tied":
        return np.broadcast_to(cov[..., None, :, :], units + (D, D))
    return cov


def random_gaussian(rng, covariance):
    means = rng.normal(0, 2, (K, D))
    return Gaussian.from_params(means, random_cov(rng, covariance, (K,)), covariance)


def random_mixture(rng, covariance):
    weights = rng.dirichlet(np.ones(C) * 2, size=K)
    means = rng.normal(0, 2, (K, C, D))
    cov = random_cov(rng, covariance, (K, C))
    return GaussianMixture.from_params(weights, means, cov, covariance)


def mvn_log_prob(means, matrices, x):
    """``[T, *units]`` scipy log-densities for means ``[*units, D]``."""
    units = means.shape[:-1]
    out = np.empty((len(x),) + units)
    for idx in np.ndindex(units):
        out[(slice(None),) + idx] = stats.multivariate_normal(means[idx], matrices[idx]).logpdf(x)
    return out


def assert_close(actual, expected, tol=1e-10):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=tol)


# --- densities vs scipy (float64) ----------------------------------------------------------


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_gaussian_log_prob_matches_scipy(x64, covariance):
    rng = np.random.default_rng(0)
    model = random_gaussian(rng, covariance)
    x = rng.normal(0, 2, (T, D))
    cov = np.asarray(model.covariances())
    expected = mvn_log_prob(np.asarray(model.means()), full_matrices(cov, covariance, (K,)), x)
    out = model.log_prob(x)
    assert out.dtype == jnp.float64 and out.shape == (T, K)
    assert_close(out, expected)


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_gaussian_mixture_log_prob_matches_scipy(x64, covariance):
    rng = np.random.default_rng(1)
    model = random_mixture(rng, covariance)
    x = rng.normal(0, 2, (T, D))
    matrices = full_matrices(np.asarray(model.covariances()), covariance, (K, C))
    comp = mvn_log_prob(np.asarray(model.means()), matrices, x)
    expected = logsumexp(comp + np.log(np.asarray(model.weights())), axis=-1)
    assert_close(model.log_prob(x), expected)


def test_categorical_log_prob(x64):
    rng = np.random.default_rng(2)
    B = rng.dirichlet(np.ones(M), size=K)
    model = Categorical.from_probs(B)
    x = rng.integers(0, M, T)
    assert_close(model.log_prob(x), np.log(B).T[x])
    soft = rng.dirichlet(np.ones(M), size=T)
    assert_close(model.log_prob(soft), np.log(soft @ B.T))


def test_bernoulli_and_poisson_log_prob_match_scipy(x64):
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (K, D))
    x = rng.integers(0, 2, (T, D))
    expected = stats.bernoulli.logpmf(x[:, None, :], p[None]).sum(-1)
    assert_close(Bernoulli.from_probs(p).log_prob(x), expected)
    rates = rng.uniform(0.5, 6.0, (K, D))
    counts = rng.poisson(3.0, (T, D))
    expected = stats.poisson.logpmf(counts[:, None, :], rates[None]).sum(-1)
    assert_close(Poisson.from_rates(rates).log_prob(counts), expected)


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_constructors_and_accessors_round_trip(x64, covariance):
    rng = np.random.default_rng(19)
    means, cov = rng.normal(size=(K, D)), random_cov(rng, covariance, (K,))
    gauss = Gaussian.from_params(means, cov, covariance)
    assert_close(gauss.means(), means, 1e-14)
    assert_close(gauss.covariances(), cov, 1e-12)
    weights = rng.dirichlet(np.ones(C), K)
    means, cov = rng.normal(size=(K, C, D)), random_cov(rng, covariance, (K, C))
    mix = GaussianMixture.from_params(weights, means, cov, covariance)
    assert_close(mix.weights(), weights, 1e-14)
    assert_close(mix.means(), means, 1e-14)
    assert_close(mix.covariances(), cov, 1e-12)


def test_float32_by_default():
    rng = np.random.default_rng(4)
    assert random_gaussian(rng, "diag").log_prob(rng.normal(size=(T, D))).dtype == jnp.float32
    counts = rng.poisson(2.0, (T, D))
    assert Poisson(K, D, rngs=nnx.Rngs(0)).log_prob(counts).dtype == jnp.float32


# --- time-varying parameters (the LSGM's emission heads) -----------------------------------


def _time_varying_cases(rng):
    """(pure function, per-step parameters [T, ...], data) triples."""
    n = 4
    lp = jax.nn.log_softmax(rng.normal(size=(n, K, M)), -1)
    chol = np.tril(rng.normal(size=(n, K, D, D)), -1) + np.eye(D) * rng.normal(size=(n, K, 1, D))
    x = rng.normal(size=(n, D))

    def x3():
        return rng.normal(size=(n, K, D))

    return [
        (categorical_log_prob, (lp,), rng.integers(0, M, n)),
        (categorical_log_prob, (lp,), rng.dirichlet(np.ones(M), size=n)),
        (bernoulli_log_prob, (x3(),), rng.integers(0, 2, (n, D))),
        (poisson_log_prob, (x3(),), rng.poisson(2.0, (n, D))),
        (lambda m, r, x: gaussian_log_prob(m, r, x, "diag"), (x3(), x3()), x),
        (lambda m, r, x: gaussian_log_prob(m, r, x, "full"), (x3(), chol), x),
        (
            lambda w, m, r, x: gaussian_mixture_log_prob(w, m, r, x, "spherical"),
            (rng.normal(size=(n, K, C)), rng.normal(size=(n, K, C, D)), rng.normal(size=(n, K, C))),
            x,
        ),
    ]


def test_pure_functions_accept_time_varying_parameters(x64):
    """Parameters with a leading time axis give, at each t, the static result at t."""
    for fn, params, x in _time_varying_cases(np.random.default_rng(5)):
        params = tuple(jnp.asarray(p) for p in params)
        out = fn(*params, jnp.asarray(x))
        assert out.shape == (len(x), K)
        for t in range(len(x)):
            static = fn(*(p[t] for p in params), jnp.asarray(x[t : t + 1]))
            assert_close(out[t], np.asarray(static[0]), 1e-12)


# --- soft observations ---------------------------------------------------------------------


def test_one_hot_soft_observations_equal_hard_symbols(x64):
    rng = np.random.default_rng(6)
    B = rng.dirichlet(np.ones(M), size=K)
    B[0, 1] = 0.0  # a structural zero
    B[0] /= B[0].sum()
    model = Categorical.from_probs(B)
    x = rng.integers(0, M, T)
    one_hot = np.eye(M)[x]
    np.testing.assert_array_equal(model.log_prob(one_hot), model.log_prob(x))

    weights = rng.dirichlet(np.ones(K), size=T)
    hard, soft = Categorical.from_probs(B), Categorical.from_probs(B)
    hard.m_step(x, weights)
    soft.m_step(one_hot, weights)
    assert_close(soft.probs(), np.asarray(hard.probs()), 1e-15)


def test_soft_m_step_counts_the_latent_symbol(x64):
    rng = np.random.default_rng(7)
    B = rng.dirichlet(np.ones(M), size=K)
    soft = rng.dirichlet(np.ones(M) * 0.5, size=T)
    weights = rng.dirichlet(np.ones(K), size=T)
    concentration = rng.uniform(1.0, 2.0, (K, M))
    model = Categorical.from_probs(B)
    model.m_step(soft, weights, DirichletPrior(concentration))

    joint = B[None] * soft[:, None, :]  # [N, K, M]
    counts = np.einsum("nk,nkm->km", weights, joint / joint.sum(-1, keepdims=True))
    expected = counts + concentration - 1
    assert_close(model.probs(), expected / expected.sum(-1, keepdims=True), 1e-12)


# --- data checks ---------------------------------------------------------------------------


def _bad_data():
    nan = np.array([[0.0, 1.0], [np.nan, 0.0]])
    return [
        ("cat", np.array([0, 1, 7]), r"sequence 3: symbol 7 at position 2 is outside \[0, 4\); "),
        ("cat", np.array([0, -1]), "symbol -1 at position 1.*encode symbols as 0..3"),
        ("cat", np.array([], dtype=int), "sequence 3: the sequence is empty"),
        ("cat", np.array(["a", "b"]), "sequence 3: dtype <U1 is neither integer"),
        ("cat", np.array([[0], [1]]), r"sequence 3: hard symbols must be a \[T\] array"),
        ("cat", np.array([[0.5, 0.5, 0, 0], [0.5, 0.4, 0, 0]]), "soft row 1 sums to 0.9"),
        ("cat", np.array([[0.5, np.nan, 0, 0.5]]), r"non-finite value nan at position \(0, 1\)"),
        ("cat", np.full((2, 3), 1 / 3), r"soft observations must be a \[T, 4\] array"),
        ("cat", np.array([[1.5, -0.5, 0, 0]]), r"negative probability -0.5 at \(0, 1\)"),
        ("gauss", np.zeros((5, 3)), "sequence 3: expected 2 features per observation, got 3"),
        ("gauss", nan, r"sequence 3: non-finite value nan at position \(1, 0\); remove"),
        ("gauss", np.array([[0.0, np.inf]]), "non-finite value inf"),
        ("gauss", np.zeros((4, 2), complex), "sequence 3: dtype complex128 cannot hold"),
        ("gauss", np.zeros((0, 2)), "sequence 3: the sequence is empty"),
        ("gauss", np.zeros(4), r"sequence 3: expected a \[T, 2\] array, got shape \(4,\)"),
        ("mix", np.zeros((5, 1)), "sequence 3: expected 2 features"),
        ("mix", nan, "sequence 3: non-finite value nan"),
        ("poisson", np.array([[0, 1], [2, -1]]), r"sequence 3: negative count -1 at \(1, 1\)"),
        ("poisson", np.array([[0.0, 1.5]]), r"count 1.5 at \(0, 1\) is not an integer"),
        ("poisson", np.zeros((3, 1), int), "expected 2 features"),
        ("poisson", np.array([[0.0, np.nan]]), "non-finite value nan"),
        ("bernoulli", np.array([[0, 2], [1, 0]]), r"sequence 3: value 2 at \(0, 1\) is not 0 or 1"),
        ("bernoulli", np.array([[0.5, 1.0]]), "value 0.5 at"),
        ("bernoulli", np.zeros((0, 2), int), "the sequence is empty"),
    ]


@pytest.fixture(scope="module")
def models():
    return {
        "cat": Categorical(K, M, rngs=None),
        "gauss": Gaussian(K, D, rngs=None),
        "mix": GaussianMixture(K, D, C, rngs=None),
        "poisson": Poisson(K, D, rngs=None),
        "bernoulli": Bernoulli(K, D, rngs=None),
    }


@pytest.mark.parametrize(("family", "x", "match"), _bad_data())
def test_check_data_rejects(models, family, x, match):
    with pytest.raises(ValueError, match=match):
        models[family].check_data(x, WHERE)


def test_check_data_accepts_valid_data(models):
    rng = np.random.default_rng(8)
    models["cat"].check_data(rng.integers(0, M, 5), WHERE)
    models["cat"].check_data(rng.dirichlet(np.ones(M), size=5).astype(np.float32), WHERE)
    models["gauss"].check_data(rng.normal(size=(5, D)), WHERE)
    models["mix"].check_data(rng.integers(0, 3, (5, D)), WHERE)
    models["poisson"].check_data(rng.poisson(2.0, (5, D)).astype(float), WHERE)
    models["bernoulli"].check_data(rng.integers(0, 2, (5, D)).astype(bool), WHERE)


def _bad_arguments():
    good_means = np.zeros((K, D))
    not_pd = np.tile(np.eye(D), (K, 1, 1))
    not_pd[1] = [[1.0, 2.0], [2.0, 1.0]]
    return [
        (lambda: Categorical(0, M, rngs=None), "num_states must be a positive integer, got 0"),
        (lambda: Categorical(K, 2.5, rngs=None), "num_symbols must be a positive integer"),
        (lambda: Gaussian(K, D, "banana", rngs=None), "covariance='banana' is not one of"),
        (lambda: Gaussian(K, D, variance_floor=-1.0, rngs=None), "variance_floor must be >= 0"),
        (lambda: GaussianMixture(K, D, 0, rngs=None), "num_components must be a positive"),
        (lambda: Bernoulli(K, 0, rngs=None), "dim must be a positive integer"),
        (lambda: Categorical.from_probs([[0.5, 0.5], [0.3, 0.6]]), "row 1 of probs sums to 0.9"),
        (
            lambda: Categorical.from_probs([[1.5, -0.5]]),
            "row 0 of probs: entry 1 is -0.5, not a probability",
        ),
        (
            lambda: Gaussian.from_params(good_means, [[1.0, 1.0], [1.0, -2.0], [1.0, 1.0]]),
            r"'diag' variances must be positive: covariances\[1, 1\] = -2.0",
        ),
        (
            lambda: Gaussian.from_params(good_means, not_pd, "full"),
            r"covariances\[1\] is not positive definite",
        ),
        (
            lambda: Gaussian.from_params(good_means, [[1.0, 0.5], [0.0, 1.0]], "tied"),
            "the tied covariance is not symmetric",
        ),
        (
            lambda: Gaussian.from_params(good_means, np.ones((K, D)), "full"),
            r"'full' covariances must have shape \(3, 2, 2\)",
        ),
        (lambda: Gaussian.from_params(np.zeros(D), np.ones(D)), r"means must have shape \[K, D\]"),
        (lambda: Bernoulli.from_probs([[0.5, 1.2]]), r"probs\[0, 1\] = 1.2 is not in \[0, 1\]"),
        (lambda: Poisson.from_rates([[1.0, -1.0]]), r"rates\[0, 1\] = -1.0 is not a finite"),
        (
            lambda: GaussianMixture.from_params([[0.5, 0.6]], np.zeros((1, 2, D)), np.ones((1, 2))),
            "row 0 of weights sums to 1.1",
        ),
    ]


@pytest.mark.parametrize(("build", "match"), _bad_arguments())
def test_constructors_reject(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --- parameter recovery --------------------------------------------------------------------


def _recover(model, truth_of, tol, rtol=0.0):
    """Sample from ``model`` along random states, refit from randomly perturbed parameters
    with one-hot weights, and compare the re-estimated parameters with the true ones."""
    key_s, key_x = jax.random.split(jax.random.key(0))
    states = jax.random.randint(key_s, (N,), 0, K)
    x = model.sample(key_x, states)
    assert x.shape[0] == N
    truth = truth_of(model)
    graphdef, state = nnx.split(model)
    rng = np.random.default_rng(0)
    perturbed = jax.tree.map(lambda v: v + rng.normal(size=v.shape), state)
    fitted = nnx.merge(graphdef, perturbed)
    fitted.m_step(x, jax.nn.one_hot(states, K))
    for got, want in zip(truth_of(fitted), truth, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=tol)


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_gaussian_m_step_recovers_parameters(x64, covariance):
    model = random_gaussian(np.random.default_rng(9), covariance)
    _recover(model, lambda m: (m.means(), m.covariances()), 0.25, rtol=0.2)


def test_discrete_m_steps_recover_parameters(x64):
    rng = np.random.default_rng(10)
    cat = Categorical.from_probs(rng.dirichlet(np.ones(M), size=K))
    _recover(cat, lambda m: (m.probs(),), 0.07)
    bern = Bernoulli.from_probs(rng.uniform(0.1, 0.9, (K, D)))
    _recover(bern, lambda m: (m.probs(),), 0.07)
    poisson = Poisson.from_rates(rng.uniform(1.0, 8.0, (K, D)))
    _recover(poisson, lambda m: (m.rates(),), 0.4)


def test_mixture_em_stays_at_the_truth(x64):
    """Well-separated components: a few EM steps from the truth change little."""
    rng = np.random.default_rng(11)
    means = rng.normal(0, 1, (K, C, D)) + np.linspace(-8, 8, C)[None, :, None]
    cov = random_cov(rng, "full", (K, C)) * 0.5
    model = GaussianMixture.from_params(np.full((K, C), 1 / C), means, cov, "full")
    states = jax.random.randint(jax.random.key(1), (N,), 0, K)
    x = model.sample(jax.random.key(2), states)
    for _ in range(3):
        model.m_step(x, jax.nn.one_hot(states, K))
    np.testing.assert_allclose(model.weights(), 1 / C, atol=0.05)
    np.testing.assert_allclose(model.means(), means, atol=0.2)
    np.testing.assert_allclose(model.covariances(), cov, atol=0.2)


# --- gradients, jit, in-place updates ------------------------------------------------------


def _all_models(rng, gaussian_types=COVARIANCE_TYPES):
    out = [
        Categorical(K, M, rngs=nnx.Rngs(0)),
        Categorical.from_probs(np.array([[1.0, 0, 0, 0]] * K)),  # structural zeros
        Bernoulli.from_probs(np.r_[np.zeros((1, D)), np.ones((K - 1, D))]),  # p in {0, 1}
        Poisson.from_rates(np.r_[np.zeros((1, D)), np.ones((K - 1, D))]),  # a zero rate
    ]
    out += [random_gaussian(rng, c) for c in gaussian_types]
    out += [random_mixture(rng, c) for c in gaussian_types]
    return out


def _data_for(model, rng, n=T):
    if isinstance(model, Categorical):
        return rng.integers(0, M, n)
    if isinstance(model, Bernoulli | Poisson):
        return rng.integers(0, 2, (n, D))
    return rng.normal(size=(n, D))


def test_gradients_of_log_prob_are_finite():
    """Also where probabilities are exactly 0 or 1 and rates 0 (infinite parameters): their
    gradients are 0, never NaN; models with finite parameters get non-zero gradients."""
    rng = np.random.default_rng(12)
    grad = nnx.jit(nnx.grad(lambda m, x: jnp.sum(jnp.maximum(m.log_prob(x), -1e4))))
    for model in _all_models(rng, ["full"]):
        leaves = jax.tree.leaves(grad(model, _data_for(model, rng)))
        assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves), model
        params = jax.tree.leaves(nnx.state(model, nnx.Param))
        if all(bool(jnp.all(jnp.isfinite(p))) for p in params):
            assert all(bool(jnp.any(g != 0)) for g in leaves), model


def test_m_step_is_jittable_and_in_place(x64):
    rng = np.random.default_rng(13)

    @nnx.jit
    def step(model, x, weights, prior):
        model.m_step(x, weights, prior)

    cases = [
        (Categorical(K, M, rngs=nnx.Rngs(0)), DirichletPrior(2.0)),
        (Poisson(K, D, rngs=nnx.Rngs(0)), PoissonPrior(1.0, 2.0)),
        (random_mixture(rng, "tied"), None),
    ]
    for model, prior in cases:
        x = _data_for(model, rng, N)
        weights = rng.dirichlet(np.ones(K), size=N)
        eager = nnx.merge(*nnx.split(model))
        eager.m_step(x, weights, prior)
        step(model, x, weights, prior)
        for a, b in zip(
            jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(eager)), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_zero_weight_state_keeps_its_parameters(x64):
    rng = np.random.default_rng(14)
    weights = np.zeros((N, K))
    weights[:, 1:] = rng.dirichlet(np.ones(K - 1), size=N)
    for model in _all_models(rng)[1:]:
        before = [np.asarray(v) for v in jax.tree.leaves(nnx.state(model))]
        model.m_step(_data_for(model, rng, N), weights)
        after = jax.tree.leaves(nnx.state(model))
        for b, a in zip(before, after, strict=True):
            # no NaN; exact zeros (-inf logits) of the untouched state 0 stay as they were
            assert not np.any(np.isnan(a))
            assert np.all(np.isfinite(np.asarray(a)[1:]))
            if b.shape[:1] == (K,):  # per-state parameters: state 0 is untouched
                np.testing.assert_allclose(a[0], b[0], rtol=1e-12)


def test_variance_floor(x64):
    x = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 2.0], [3.0, 2.0]])  # second feature constant
    weights = np.ones((4, 1))
    diag = Gaussian(1, D, "diag", rngs=None, variance_floor=1e-3)
    diag.m_step(x, weights)
    assert_close(diag.covariances(), np.array([[1.0, 1e-3]]), 1e-12)
    full = Gaussian(1, D, "full", rngs=None, variance_floor=1e-3)
    full.m_step(x, weights)
    assert_close(full.covariances(), np.array([[[1.0 + 1e-3, 0], [0, 1e-3]]]), 1e-12)


# --- priors, seeds, initialisation ---------------------------------------------------------


def test_one_component_mixture_is_a_gaussian(x64, covariance="full"):
    rng = np.random.default_rng(15)
    gauss = random_gaussian(rng, covariance)
    cov = np.asarray(gauss.covariances())[:, None]
    mix = GaussianMixture.from_params(
        np.ones((K, 1)), np.asarray(gauss.means())[:, None], cov, covariance
    )
    x = rng.normal(size=(T, D))
    assert_close(mix.log_prob(x), np.asarray(gauss.log_prob(x)), 1e-12)
    prior = GaussianPrior(means_prior=0.5, means_weight=2.0, covars_prior=0.3, covars_weight=4.0)
    weights = rng.dirichlet(np.ones(K), size=T)
    gauss.m_step(x, weights, prior)
    mix.m_step(x, weights, GaussianMixturePrior(weights_prior=1.0, components=prior))
    assert_close(mix.means()[:, 0], np.asarray(gauss.means()), 1e-12)
    assert_close(mix.covariances()[:, 0], np.asarray(gauss.covariances()), 1e-12)


def test_beta_prior(x64):
    rng = np.random.default_rng(16)
    x = rng.integers(0, 2, (T, D))
    weights = rng.dirichlet(np.ones(K), size=T)
    model = Bernoulli(K, D, rngs=None)
    model.m_step(x, weights, BetaPrior(alpha=3.0, beta=2.0))
    ones = weights.T @ x
    expected = (ones + 2.0) / (weights.sum(0)[:, None] + 3.0)
    assert_close(model.probs(), expected, 1e-12)


def test_seed_is_honoured():
    def params(seed):
        return np.asarray(Gaussian(K, D, rngs=nnx.Rngs(seed)).means())

    np.testing.assert_array_equal(params(0), params(0))
    assert not np.allclose(params(0), params(1))

    def rates(seed):
        model = Poisson(K, D, rngs=None)
        model.initialize(np.random.default_rng(0).poisson(4.0, (T, D)), jax.random.key(seed))
        return np.asarray(model.rates())

    assert np.all(rates(0) > 0) and np.all(np.isfinite(rates(0)))
    np.testing.assert_array_equal(rates(0), rates(0))
    assert not np.allclose(rates(0), rates(1))


def test_gaussian_initialize_is_kmeans_and_global_covariance(x64):
    rng = np.random.default_rng(17)
    x = np.concatenate([rng.normal(c, 0.3, (30, D)) for c in (-4.0, 0.0, 4.0)])
    key = jax.random.key(3)
    centres = KMeans(K, random_state=seed_from_key(key), n_init=10).fit(x).cluster_centers_
    cov = np.cov(x.T) + 1e-6 * np.eye(D)
    for covariance, expected in [("diag", np.diag(cov)), ("full", cov)]:
        model = Gaussian(K, D, covariance, rngs=None)
        model.initialize(x, key)
        assert_close(model.means(), centres, 1e-12)
        got = np.asarray(model.covariances())
        assert_close(got, np.broadcast_to(expected, got.shape), 1e-12)
    mix = GaussianMixture(K, D, C, "spherical", rngs=None)
    mix.initialize(x, key)
    assert_close(mix.weights(), np.full((K, C), 1 / C), 1e-12)
    assert_close(mix.covariances(), np.full((K, C), np.trace(cov) / D), 1e-12)
    assert np.isfinite(mix.log_prob(x)).all()


def test_emissions_share_the_interface():
    for model in _all_models(np.random.default_rng(18)):
        assert isinstance(model, Emission) and model.num_states == K
