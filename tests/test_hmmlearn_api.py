"""``from lsgm import hmm`` is a drop-in for ``from hmmlearn import hmm``: hmmlearn's tutorial
examples give hmmlearn's numbers (same samples, same fits), 10 EM iterations from identical
starting parameters match hmmlearn to 1e-6 for every class and covariance type (float64),
and the estimators work with scikit-learn (get_params, set_params, clone, GridSearchCV).

Compile time dominates here, so the checks share shapes: the Gaussian fits all read the
tutorial's 100 samples, the categorical ones the casino's 300 rolls."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import check_random_state

from lsgm import hmm

peer = pytest.importorskip("hmmlearn.hmm")
TOL = 1e-6
#: NumPy's global generator (``np.random.seed``), which hmmlearn's examples seed and read.
NUMPY_GLOBAL = check_random_state(None)


def _both(make, **fitted):
    """The same model in hmmlearn and in lsgm, with the attributes ``fitted`` set."""
    models = make(peer), make(hmm)
    for model in models:
        for name, value in fitted.items():
            setattr(model, name, np.array(value, copy=True))
    return models


def _covars(model):
    """Covariances in the type's own shape (hmmlearn keeps spherical ones as ``[K, D]``)."""
    if isinstance(model, peer.GMMHMM | hmm.GMMHMM):
        return model.covars_
    c = np.asarray(model._covars_)
    return c[:, 0] if model.covariance_type == "spherical" and c.ndim == 2 else c


def _assert_same_fit(a, b, names):
    assert a.monitor_.iter == b.monitor_.iter
    np.testing.assert_allclose(list(b.monitor_.history), list(a.monitor_.history), atol=TOL)
    for name in ("startprob_", "transmat_", *names):
        get = _covars if name == "covars_" else (lambda m, n=name: getattr(m, n))
        np.testing.assert_allclose(get(b), get(a), atol=TOL, rtol=0, err_msg=name)


def _fit_both(a, b, X, lengths=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=-inf: the cap is the point
        a.fit(X, lengths)
        b.fit(X, lengths)


@pytest.fixture(scope="module")
def tutorial_samples():
    """hmmlearn's tutorial: a 3-state full-covariance Gaussian HMM and 100 samples of it,
    drawn by each library from NumPy's global generator seeded 42."""
    out = []
    for module in (peer, hmm):
        NUMPY_GLOBAL.seed(42)
        model = module.GaussianHMM(n_components=3, covariance_type="full")
        model.startprob_ = np.array([0.6, 0.3, 0.1])
        model.transmat_ = np.array([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.3, 0.3, 0.4]])
        model.means_ = np.array([[0.0, 0.0], [3.0, -3.0], [5.0, 10.0]])
        model.covars_ = np.tile(np.identity(2), (3, 1, 1))
        out.append(model.sample(100))
    (X, Z), (X_ours, Z_ours) = out
    np.testing.assert_array_equal(Z_ours, Z)
    np.testing.assert_allclose(X_ours, X, rtol=0, atol=1e-12)
    return X


def test_tutorial_gaussian_fit_decode_score(tutorial_samples):
    """The tutorial's fit (k-means start from the global generator, EM to tol=0.01 within
    100 iterations), predict, score, and its multiple-sequence example with lengths."""
    X = tutorial_samples
    fits = []
    for module in (peer, hmm):
        NUMPY_GLOBAL.seed(7)
        remodel = module.GaussianHMM(n_components=3, covariance_type="full", n_iter=100)
        fits.append(remodel.fit(X))
    a, b = fits
    _assert_same_fit(a, b, ["means_", "covars_"])
    assert b.monitor_.converged and b.monitor_.iter < 100
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    assert b.score(X) == pytest.approx(a.score(X), abs=TOL)
    assert b.covars_.shape == (3, 2, 2)


def test_tutorial_multiple_sequences():
    """The tutorial's two 1-D sequences given as ``X`` and ``lengths``: the k-means start and
    its fit, then 10 iterations from identical diagonal-covariance parameters."""
    X1 = [[0.5], [1.0], [-1.0], [0.42], [0.24]]
    X2 = [[2.4], [4.2], [0.5], [-0.24]]
    X, lengths = np.concatenate([X1, X2]), [len(X1), len(X2)]
    a, b = (module.GaussianHMM(n_components=3, random_state=0) for module in (peer, hmm))
    _fit_both(a, b, X, lengths)
    _assert_same_fit(a, b, ["means_", "covars_"])
    with pytest.raises(ValueError, match="sum to 9 but X has 8 rows"):
        b.fit(X[:8], lengths)

    a, b = _both(
        lambda module: module.GaussianHMM(3, init_params="", n_iter=10, tol=-np.inf),
        startprob_=[0.5, 0.3, 0.2],
        transmat_=[[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]],
        means_=[[0.0], [1.0], [3.0]],
        covars_=[[1.0], [0.5], [2.0]],
    )
    _fit_both(a, b, X, lengths)
    _assert_same_fit(a, b, ["means_", "covars_"])


@pytest.mark.parametrize("covariance_type", ["spherical", "full", "tied"])  # diag: above
def test_gaussian_ten_iterations_match(tutorial_samples, covariance_type):
    X = tutorial_samples
    rng = np.random.default_rng(1)
    cov = {
        "spherical": rng.uniform(1, 3, 3),
        "diag": rng.uniform(1, 3, (3, 2)),
        "full": np.tile([[2.0, 0.3], [0.3, 1.0]], (3, 1, 1)),
        "tied": np.array([[2.0, -0.4], [-0.4, 1.5]]),
    }[covariance_type]

    def make(module):
        return module.GaussianHMM(3, covariance_type, init_params="", n_iter=10, tol=-np.inf)

    a, b = _both(
        make,
        startprob_=[0.5, 0.3, 0.2],
        transmat_=[[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]],
        means_=X[[0, 40, 80]],
        covars_=cov,
    )
    _fit_both(a, b, X)
    _assert_same_fit(a, b, ["means_", "covars_"])
    assert b.monitor_.iter == 10 and not b.monitor_.converged


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_gmm_ten_iterations_match(tutorial_samples, covariance_type):
    X, lengths = tutorial_samples, [60, 40]
    K, C, D = 2, 2, 2
    cov = {
        "spherical": np.full((K, C), 2.0),
        "diag": np.full((K, C, D), 2.0),
        "full": np.tile(np.eye(D) * 2, (K, C, 1, 1)),
        "tied": np.tile(np.eye(D) * 2, (K, 1, 1)),
    }[covariance_type]

    def make(module):
        return module.GMMHMM(
            K, C, covariance_type=covariance_type, init_params="", n_iter=10, tol=-np.inf
        )

    a, b = _both(
        make,
        startprob_=[0.6, 0.4],
        transmat_=[[0.7, 0.3], [0.4, 0.6]],
        weights_=[[0.5, 0.5], [0.3, 0.7]],
        means_=X[[0, 30, 60, 90]].reshape(K, C, D),
        covars_=cov,
    )
    _fit_both(a, b, X, lengths)
    _assert_same_fit(a, b, ["weights_", "means_", "covars_"])


def test_poisson_ten_iterations_match():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.poisson([1, 6], (40, 2)), rng.poisson([5, 2], (30, 2))])
    a, b = _both(
        lambda module: module.PoissonHMM(3, init_params="", n_iter=10, tol=-np.inf),
        startprob_=[0.4, 0.4, 0.2],
        transmat_=[[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]],
        lambdas_=[[1.0, 2.0], [4.0, 5.0], [3.0, 3.0]],
    )
    _fit_both(a, b, X, [45, 25])
    _assert_same_fit(a, b, ["lambdas_"])


def test_casino_categorical_and_bernoulli():
    """hmmlearn's dishonest-casino example (fewer rolls and fits): the same rolls, the same
    random starts (``random_state=idx``, ``init_params="se"``), the same fitted models,
    scores and decoded path; 10 iterations from identical parameters; decode by Viterbi and
    MAP, score_samples. A one-feature BernoulliHMM is the two-symbol CategoricalHMM."""
    runs = []
    for module in (peer, hmm):
        gen = module.CategoricalHMM(n_components=2, random_state=99)
        gen.startprob_ = np.array([1.0, 0.0])
        gen.transmat_ = np.array([[0.95, 0.05], [0.1, 0.9]])
        gen.emissionprob_ = np.array([[1 / 6] * 6, [1 / 10] * 5 + [1 / 2]])
        rolls, states = gen.sample(600)
        train, valid = rolls[:300], rolls[300:]
        NUMPY_GLOBAL.seed(13)
        fits = []
        for idx in range(2):
            model = module.CategoricalHMM(n_components=2, random_state=idx, init_params="se")
            model.transmat_ = np.array(
                [NUMPY_GLOBAL.dirichlet([0.9, 0.1]), NUMPY_GLOBAL.dirichlet([0.1, 0.9])]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(model.fit(train))
        runs.append((rolls, states, valid, fits))
    (rolls, states, valid, theirs), (rolls_ours, states_ours, _, ours) = runs
    np.testing.assert_array_equal(rolls_ours, rolls)
    np.testing.assert_array_equal(states_ours, states)
    for a, b in zip(theirs, ours, strict=True):
        _assert_same_fit(a, b, ["emissionprob_"])
        assert b.score(valid) == pytest.approx(a.score(valid), abs=TOL)
    a, b = theirs[0], ours[0]
    for algorithm in ("viterbi", "map"):
        (log_a, path_a), (log_b, path_b) = (
            m.decode(rolls[:300], algorithm=algorithm) for m in (a, b)
        )
        assert log_b == pytest.approx(log_a, abs=TOL)
        np.testing.assert_array_equal(path_b, path_a)
    (log_a, post_a), (log_b, post_b) = a.score_samples(valid), b.score_samples(valid)
    assert log_b == pytest.approx(log_a, abs=TOL)
    np.testing.assert_allclose(post_b, post_a, atol=TOL)
    assert pickle.loads(pickle.dumps(b)).score(valid) == b.score(valid)
    assert b.aic(valid) == pytest.approx(a.aic(valid), abs=TOL)
    assert b.bic(valid) == pytest.approx(a.bic(valid), abs=TOL)

    start = {"startprob_": [0.7, 0.3], "transmat_": [[0.9, 0.1], [0.2, 0.8]]}
    a, b = _both(
        lambda module: module.CategoricalHMM(2, init_params="", n_iter=10, tol=-np.inf),
        emissionprob_=np.array([np.arange(1, 7), np.arange(6, 0, -1)]) / 21,
        **start,
    )
    _fit_both(a, b, rolls[:300])
    _assert_same_fit(a, b, ["emissionprob_"])

    six = (rolls[:300] == 5).astype(int)  # "a six" as a binary feature
    cat = peer.CategoricalHMM(2, init_params="", n_iter=10, tol=-np.inf, n_features=2)
    bern = hmm.BernoulliHMM(2, init_params="", n_iter=10, tol=-np.inf)
    for m in (cat, bern):
        m.startprob_, m.transmat_ = np.array(start["startprob_"]), np.array(start["transmat_"])
    cat.emissionprob_ = np.array([[0.8, 0.2], [0.4, 0.6]])
    bern.emissionprob_ = cat.emissionprob_[:, 1:]
    _fit_both(cat, bern, six)
    np.testing.assert_allclose(bern.emissionprob_[:, 0], cat.emissionprob_[:, 1], atol=TOL)
    np.testing.assert_allclose(bern.transmat_, cat.transmat_, atol=TOL)


def test_scikit_learn_protocol():
    """get_params/set_params/clone keep the constructor's arguments, an unfitted model says
    so, a fit that stops at n_iter warns, and GridSearchCV ranks fits by score."""
    model = hmm.GaussianHMM(n_components=2, covariance_type="tied", covars_prior=0.5)
    params = model.get_params()
    assert params["covariance_type"] == "tied" and params["covars_prior"] == 0.5
    twin = clone(model.set_params(n_iter=7))
    assert twin.get_params() == model.get_params() and twin.n_iter == 7
    with pytest.raises(NotFittedError):
        twin.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="knows the letters 'stmc'"):
        hmm.GaussianHMM(params="stx").fit(np.zeros((4, 2)))

    rolls = np.random.default_rng(3).integers(0, 6, (600, 1))  # the casino's shapes
    search = GridSearchCV(
        hmm.CategoricalHMM(n_components=2, random_state=0, n_features=6),
        {"n_iter": [1, 5]},
        cv=2,
    )
    with pytest.warns(ConvergenceWarning, match="without converging"):
        search.fit(rolls)
    assert search.best_params_["n_iter"] in (1, 5)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert clone(search.best_estimator_).get_params()["n_iter"] == search.best_params_["n_iter"]


def test_lsgm_estimator():
    """The LSGM in the same style: fit, score, aic, sample, clone (the inference methods are
    the HMMs', tested above)."""
    X = np.random.default_rng(4).normal(size=(40, 2))
    model = hmm.LSGM(2, hidden_size=4, n_iter=1, conditioning="transitions", random_state=0)
    model.fit(X, [20, 20])
    assert len(model.monitor_.history) == 1 and model.n_features == 2
    log_prob = model.score(X, [20, 20])
    assert np.isfinite(log_prob)
    assert model.aic(X, [20, 20]) == pytest.approx(-2 * log_prob + 2 * model.model_.n_parameters())
    Xs, Z = model.sample(5, random_state=1)
    assert Xs.shape == (5, 2) and Z.shape == (5,)
    assert clone(model).get_params()["hidden_size"] == 4
    assert pickle.loads(pickle.dumps(model)).score(X, [20, 20]) == log_prob
