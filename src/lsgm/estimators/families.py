"""hmmlearn's HMM classes on lsgm: ``CategoricalHMM``, ``GaussianHMM``, ``GMMHMM``,
``PoissonHMM``, and a ``BernoulliHMM`` in the same style.

Each takes hmmlearn's constructor arguments (stored unchanged: ``get_params``,
``set_params`` and ``sklearn.base.clone`` work) and has hmmlearn's fitted attributes and
shapes. ``K`` = ``n_components``, ``D`` = ``n_features``, ``C`` = ``n_mix``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state

from lsgm.distributions import (
    COVARIANCE_TYPES,
    BetaPrior,
    DirichletPrior,
    Emission,
    GaussianPrior,
    PoissonPrior,
)
from lsgm.estimators.base import (
    BaseHMM,
    as_float_matrix,
    check_counts,
    constructor_arguments,
    hashable_prior,
)
from lsgm.estimators.emissions import (
    GMMPrior,
    HmmlearnBernoulli,
    HmmlearnCategorical,
    HmmlearnGaussian,
    HmmlearnGMM,
    HmmlearnPoisson,
    nested_tuples,
    with_updates,
)

RandomState = int | np.random.RandomState | None


def _check_covariance_type(covariance_type: str) -> None:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type={covariance_type!r} is not one of {COVARIANCE_TYPES}.")


def _data_covariance(X: np.ndarray, min_covar: float) -> np.ndarray:
    """``cov(X) + min_covar I`` (``[D, D]``): hmmlearn's starting covariance."""
    return np.atleast_2d(np.cov(X.T)) + min_covar * np.eye(X.shape[1])


def _full_matrices(covars: np.ndarray, covariance_type: str, K: int, D: int) -> np.ndarray:
    """Per-type covariances as ``[K, D, D]`` matrices (hmmlearn's ``fill_covars``)."""
    if covariance_type == "full":
        return covars
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covars])
    if covariance_type == "tied":
        return np.tile(covars, (K, 1, 1))
    return np.eye(D)[None] * np.ravel(covars)[:, None, None]


def _n_covariance_scalars(covariance_type: str, units: int, D: int, groups: int) -> int:
    """Free scalars of ``units`` covariances (``groups`` of them for tied)."""
    return {
        "spherical": units,
        "diag": units * D,
        "full": units * D * (D + 1) // 2,
        "tied": groups * D * (D + 1) // 2,
    }[covariance_type]


class CategoricalHMM(BaseHMM):
    """HMM with categorical emissions, hmmlearn's ``CategoricalHMM``.

    ``X`` is ``[n_samples, 1]`` integer symbols ``0 .. n_features - 1``. Parameters:
    ``startprob_ [K]``, ``transmat_ [K, K]``, ``emissionprob_ [K, n_features]``; letters
    ``s``, ``t``, ``e``. ``emissionprob_prior``: Dirichlet concentration of each row
    (``B[k] ∝ max(counts[k] + prior - 1, 0)``; 1 is the MLE).

    Example:
        >>> import numpy as np
        >>> from lsgm import hmm
        >>> model = hmm.CategoricalHMM(n_components=2, init_params="", n_iter=3)
        >>> model.startprob_ = np.array([0.6, 0.4])
        >>> model.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> model.emissionprob_ = np.array([[0.7, 0.3], [0.1, 0.9]])
        >>> X = np.array([[0], [0], [1], [1], [1], [0]])
        >>> round(model.score(X), 4)
        -4.6397
    """

    LETTERS = "ste"
    EMISSION_LETTERS = "e"

    def __init__(
        self,
        n_components: int = 1,
        startprob_prior: npt.ArrayLike = 1.0,
        transmat_prior: npt.ArrayLike = 1.0,
        *,
        emissionprob_prior: npt.ArrayLike = 1.0,
        n_features: int | None = None,
        algorithm: str = "viterbi",
        random_state: RandomState = None,
        n_iter: int = 10,
        tol: float = 1e-2,
        verbose: bool = False,
        params: str = "ste",
        init_params: str = "ste",
        implementation: str = "log",
    ) -> None:
        self._base_init(**constructor_arguments(locals()))

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        X = check_counts(X, type(self).__name__, "a symbol (an integer >= 0)")
        if X.shape[1] != 1:
            raise ValueError(
                f"CategoricalHMM: X must be [n_samples, 1] (one symbol per row); got shape "
                f"{X.shape}. Encode each row as one symbol (sklearn.preprocessing.LabelEncoder)."
            )
        return X

    def _observations(self, part: np.ndarray) -> np.ndarray:
        return part[:, 0]

    def _init_emission(self, X: np.ndarray) -> None:
        if self.n_features is None:
            self.n_features = int(X.max()) + 1
        elif X.max() >= self.n_features:
            raise ValueError(
                f"CategoricalHMM: X holds the symbol {int(X.max())} but n_features="
                f"{self.n_features} allows symbols up to {self.n_features - 1}."
            )
        if self._needs_init("e", "emissionprob_"):
            rng = check_random_state(self.random_state)
            probs = rng.rand(self.n_components, self.n_features)
            self.emissionprob_ = probs / probs.sum(1, keepdims=True)

    def _check_emission(self) -> None:
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.n_features is None:
            self.n_features = self.emissionprob_.shape[1]
        shape = (self.n_components, self.n_features)
        if self.emissionprob_.shape != shape:
            raise ValueError(
                f"emissionprob_ must have shape {shape} (n_components, n_features); got "
                f"{self.emissionprob_.shape}."
            )

    def _emission(self) -> Emission:
        return HmmlearnCategorical.from_probs(self.emissionprob_)

    def _emission_prior(self) -> DirichletPrior:
        return DirichletPrior(hashable_prior(self.emissionprob_prior))

    def _read_emission(self, emission: Emission) -> None:
        assert isinstance(emission, HmmlearnCategorical)
        self.emissionprob_ = np.asarray(emission.probs(), np.float64)

    def _emission_scalars(self) -> dict[str, int]:
        return {"e": self.n_components * (int(self.n_features) - 1)}

    def _generate_sample_from_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        cdf = np.cumsum(self.emissionprob_[state])
        return np.array([(cdf > rng.rand()).argmax()])


class GaussianHMM(BaseHMM):
    """HMM with Gaussian emissions, hmmlearn's ``GaussianHMM``.

    Parameters: ``startprob_``, ``transmat_``, ``means_ [K, D]`` and ``covars_``, set in the
    covariance type's shape (spherical ``[K]``, diag ``[K, D]``, full ``[K, D, D]``, tied
    ``[D, D]``) and read, as in hmmlearn, as full matrices ``[K, D, D]``; letters ``s``,
    ``t``, ``m``, ``c``. Priors (hmmlearn's, see :class:`lsgm.distributions.GaussianPrior`):
    ``means_prior``, ``means_weight``, ``covars_prior``, ``covars_weight``. ``min_covar`` is
    added to the data's covariance when ``c`` is initialised (hmmlearn applies no floor
    during EM, nor does this class).
    """

    LETTERS = "stmc"
    EMISSION_LETTERS = "mc"

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "diag",
        min_covar: float = 1e-3,
        startprob_prior: npt.ArrayLike = 1.0,
        transmat_prior: npt.ArrayLike = 1.0,
        means_prior: npt.ArrayLike = 0,
        means_weight: npt.ArrayLike = 0,
        covars_prior: npt.ArrayLike = 1e-2,
        covars_weight: npt.ArrayLike = 1,
        algorithm: str = "viterbi",
        random_state: RandomState = None,
        n_iter: int = 10,
        tol: float = 1e-2,
        verbose: bool = False,
        params: str = "stmc",
        init_params: str = "stmc",
        implementation: str = "log",
    ) -> None:
        self._base_init(**constructor_arguments(locals()))

    @property
    def covars_(self) -> np.ndarray:
        """``[K, D, D]`` covariance matrices (hmmlearn's getter; the setter takes the
        covariance type's shape)."""
        return _full_matrices(
            self._covars_, self.covariance_type, self.n_components, self.means_.shape[1]
        )

    @covars_.setter
    def covars_(self, covars: npt.ArrayLike) -> None:
        self._covars_ = np.array(covars, dtype=np.float64, copy=True)

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        return as_float_matrix(X, type(self).__name__)

    def _init_emission(self, X: np.ndarray) -> None:
        _check_covariance_type(self.covariance_type)
        K, D = self.n_components, X.shape[1]
        self.n_features = D
        if self._needs_init("m", "means_"):
            kmeans = KMeans(n_clusters=K, random_state=self.random_state, n_init=10)
            self.means_ = kmeans.fit(X).cluster_centers_
        if self._needs_init("c", "_covars_"):
            cv = _data_covariance(X, self.min_covar)
            self._covars_ = {
                "spherical": np.full(K, cv.mean()),
                "diag": np.tile(np.diag(cv), (K, 1)),
                "full": np.tile(cv, (K, 1, 1)),
                "tied": cv,
            }[self.covariance_type]

    def _check_emission(self) -> None:
        _check_covariance_type(self.covariance_type)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != self.n_components:
            raise ValueError(
                f"means_ must have shape ({self.n_components}, n_features); got "
                f"{self.means_.shape}."
            )
        self.n_features = self.means_.shape[1]
        if not hasattr(self, "_covars_"):
            raise ValueError("covars_ is not set; set it or keep 'c' in init_params.")

    def _emission(self) -> Emission:
        emission = HmmlearnGaussian.from_params(
            self.means_, self._covars_, covariance=self.covariance_type, variance_floor=0.0
        )
        return with_updates(emission, "".join(c for c in "mc" if c in self.params))

    def _emission_prior(self) -> GaussianPrior:
        return GaussianPrior(
            hashable_prior(self.means_prior),
            hashable_prior(self.means_weight),
            hashable_prior(self.covars_prior),
            hashable_prior(self.covars_weight),
        )

    def _read_emission(self, emission: Emission) -> None:
        assert isinstance(emission, HmmlearnGaussian)
        self.means_ = np.asarray(emission.means(), np.float64)
        self._covars_ = np.asarray(emission.covariances(), np.float64)

    def _emission_scalars(self) -> dict[str, int]:
        K, D = self.n_components, int(self.n_features)
        return {"m": K * D, "c": _n_covariance_scalars(self.covariance_type, K, D, 1)}

    def _generate_sample_from_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.multivariate_normal(self.means_[state], self.covars_[state])


class GMMHMM(BaseHMM):
    """HMM with Gaussian-mixture emissions, hmmlearn's ``GMMHMM``.

    Parameters: ``startprob_``, ``transmat_``, ``weights_ [K, C]``, ``means_ [K, C, D]`` and
    ``covars_`` (spherical ``[K, C]``, diag ``[K, C, D]``, full ``[K, C, D, D]``, tied
    ``[K, D, D]``: one matrix per state); letters ``s``, ``t``, ``m``, ``c``, ``w``. The
    M-step and the priors (``covars_prior``/``covars_weight`` None: hmmlearn's defaults per
    covariance type) are hmmlearn's (:class:`lsgm.estimators.emissions.HmmlearnGMM`).
    """

    LETTERS = "stmcw"
    EMISSION_LETTERS = "mcw"

    def __init__(
        self,
        n_components: int = 1,
        n_mix: int = 1,
        min_covar: float = 1e-3,
        startprob_prior: npt.ArrayLike = 1.0,
        transmat_prior: npt.ArrayLike = 1.0,
        weights_prior: npt.ArrayLike = 1.0,
        means_prior: npt.ArrayLike = 0.0,
        means_weight: npt.ArrayLike = 0.0,
        covars_prior: npt.ArrayLike | None = None,
        covars_weight: npt.ArrayLike | None = None,
        algorithm: str = "viterbi",
        covariance_type: str = "diag",
        random_state: RandomState = None,
        n_iter: int = 10,
        tol: float = 1e-2,
        verbose: bool = False,
        params: str = "stmcw",
        init_params: str = "stmcw",
        implementation: str = "log",
    ) -> None:
        self._base_init(**constructor_arguments(locals()))

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        return as_float_matrix(X, type(self).__name__)

    def _init_emission(self, X: np.ndarray) -> None:
        """hmmlearn's: k-means into ``K`` clusters, then into ``C`` components within each
        (a cluster smaller than ``C`` gets components drawn around the centres' mean from
        NumPy's global generator, as hmmlearn); uniform weights; the data's covariance."""
        _check_covariance_type(self.covariance_type)
        K, C, D = self.n_components, self.n_mix, X.shape[1]
        self.n_features = D
        cv = _data_covariance(X, self.min_covar)
        if self._needs_init("m", "means_"):
            main = KMeans(n_clusters=K, random_state=self.random_state, n_init=10)
            labels = main.fit_predict(X)
            centre = main.cluster_centers_.mean(0)
            means = []
            for k in range(K):
                cluster = X[labels == k]
                if len(cluster) >= C:
                    sub = KMeans(n_clusters=C, random_state=self.random_state, n_init=10)
                    means.append(sub.fit(cluster).cluster_centers_)
                else:
                    numpy_global = check_random_state(None)  # as hmmlearn: np.random
                    means.append(numpy_global.multivariate_normal(centre, cov=cv, size=C))
            self.means_ = np.stack(means)
        if self._needs_init("w", "weights_"):
            self.weights_ = np.full((K, C), 1.0 / C)
        if self._needs_init("c", "covars_"):
            shape = {
                "tied": (K, D, D),
                "full": (K, C, D, D),
                "diag": (K, C, D),
                "spherical": (K, C),
            }
            value = {"diag": np.diag(cv), "spherical": cv.mean()}.get(self.covariance_type, cv)
            self.covars_ = np.broadcast_to(value, shape[self.covariance_type]).copy()

    def _check_emission(self) -> None:
        _check_covariance_type(self.covariance_type)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        K, C = self.n_components, self.n_mix
        if self.means_.ndim != 3 or self.means_.shape[:2] != (K, C):
            raise ValueError(
                f"means_ must have shape ({K}, {C}, n_features) (n_components, n_mix, "
                f"n_features); got {self.means_.shape}."
            )
        self.n_features = self.means_.shape[2]
        self.weights_ = np.asarray(self.weights_, dtype=np.float64)
        self.covars_ = np.asarray(self.covars_, dtype=np.float64)

    def _prior(self) -> GMMPrior:
        """hmmlearn's priors with its per-type defaults, broadcast to full shapes."""
        K, C, D = self.n_components, self.n_mix, int(self.n_features)
        default_prior = {"full": 0.0, "tied": 0.0, "diag": -1.5, "spherical": -(C + 2.0) / 2.0}
        default_weight = {"full": -(D + 2.0), "tied": -(C + D + 1.0), "diag": 0.0, "spherical": 0.0}
        kind = self.covariance_type
        covars_prior = default_prior[kind] if self.covars_prior is None else self.covars_prior
        covars_weight = default_weight[kind] if self.covars_weight is None else self.covars_weight
        shapes = {
            "full": ((K, C, D, D), (K, C)),
            "tied": ((K, D, D), (K,)),
            "diag": ((K, C, D), (K, C, D)),
            "spherical": ((K, C), (K, C)),
        }[kind]

        return GMMPrior(
            nested_tuples(self.weights_prior, (K, C)),
            nested_tuples(self.means_prior, (K, C, D)),
            nested_tuples(self.means_weight, (K, C)),
            nested_tuples(covars_prior, shapes[0]),
            nested_tuples(covars_weight, shapes[1]),
        )

    def _emission(self) -> Emission:
        emission = HmmlearnGMM.from_params(
            self.weights_,
            self.means_,
            self.covars_,
            covariance=self.covariance_type,
            variance_floor=0.0,
        )
        return with_updates(emission, "".join(c for c in "wmc" if c in self.params))

    def _emission_prior(self) -> GMMPrior:
        return self._prior()

    def _read_emission(self, emission: Emission) -> None:
        assert isinstance(emission, HmmlearnGMM)
        self.weights_ = np.asarray(emission.weights(), np.float64)
        self.means_ = np.asarray(emission.means(), np.float64)
        self.covars_ = np.asarray(emission.covariances(), np.float64)

    def _emission_scalars(self) -> dict[str, int]:
        K, C, D = self.n_components, self.n_mix, int(self.n_features)
        covars = _n_covariance_scalars(self.covariance_type, K * C, D, K)
        return {"m": K * C * D, "c": covars, "w": K * (C - 1)}

    def _generate_sample_from_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        component = rng.choice(self.n_mix, p=self.weights_[state])
        if self.covariance_type == "tied":
            cov = self.covars_[state]
        else:
            D = self.means_.shape[2]
            cov = _full_matrices(
                self.covars_[:, component], self.covariance_type, self.n_components, D
            )[state]
        return rng.multivariate_normal(self.means_[state, component], cov)


class PoissonHMM(BaseHMM):
    """HMM with independent Poisson emissions, hmmlearn's ``PoissonHMM``.

    ``X`` is ``[n_samples, D]`` counts; parameters ``startprob_``, ``transmat_``, ``lambdas_
    [K, D]``; letters ``s``, ``t``, ``l``. ``lambdas_prior``, ``lambdas_weight``: hmmlearn's
    shrinkage (:class:`lsgm.distributions.PoissonPrior`; 0, 0 is the MLE).
    """

    LETTERS = "stl"
    EMISSION_LETTERS = "l"

    def __init__(
        self,
        n_components: int = 1,
        startprob_prior: npt.ArrayLike = 1.0,
        transmat_prior: npt.ArrayLike = 1.0,
        lambdas_prior: npt.ArrayLike = 0.0,
        lambdas_weight: npt.ArrayLike = 0.0,
        algorithm: str = "viterbi",
        random_state: RandomState = None,
        n_iter: int = 10,
        tol: float = 1e-2,
        verbose: bool = False,
        params: str = "stl",
        init_params: str = "stl",
        implementation: str = "log",
    ) -> None:
        self._base_init(**constructor_arguments(locals()))

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        return check_counts(X, type(self).__name__, "a count (an integer >= 0)")

    def _init_emission(self, X: np.ndarray) -> None:
        self.n_features = X.shape[1]
        if self._needs_init("l", "lambdas_"):
            rng = check_random_state(self.random_state)
            mean, var = X.mean(), X.var()
            self.lambdas_ = rng.gamma(
                shape=mean**2 / var, scale=var / mean, size=(self.n_components, X.shape[1])
            )

    def _check_emission(self) -> None:
        self.lambdas_ = np.atleast_2d(np.asarray(self.lambdas_, dtype=np.float64))
        if self.lambdas_.shape[0] != self.n_components:
            raise ValueError(
                f"lambdas_ must have shape ({self.n_components}, n_features); got "
                f"{self.lambdas_.shape}."
            )
        self.n_features = self.lambdas_.shape[1]

    def _emission(self) -> Emission:
        return HmmlearnPoisson.from_rates(self.lambdas_)

    def _emission_prior(self) -> PoissonPrior:
        return PoissonPrior(hashable_prior(self.lambdas_prior), hashable_prior(self.lambdas_weight))

    def _read_emission(self, emission: Emission) -> None:
        assert isinstance(emission, HmmlearnPoisson)
        self.lambdas_ = np.asarray(emission.rates(), np.float64)

    def _emission_scalars(self) -> dict[str, int]:
        return {"l": self.n_components * int(self.n_features)}

    def _generate_sample_from_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.poisson(self.lambdas_[state])


class BernoulliHMM(BaseHMM):
    """HMM with independent Bernoulli emissions (no hmmlearn counterpart; its style).

    ``X`` is ``[n_samples, D]`` of 0/1; parameters ``startprob_``, ``transmat_``,
    ``emissionprob_ [K, D]`` (``p(x_d = 1 | z = k)``); letters ``s``, ``t``, ``e``. Prior:
    Beta(``emission_alpha``, ``emission_beta``) on every ``emissionprob_[k, d]``, the clipped
    MAP ``p ∝ max(S1 + alpha - 1, 0)`` against ``1 - p ∝ max(S0 + beta - 1, 0)`` (1, 1 is
    the MLE). ``e`` is initialised uniformly in ``[0.25, 0.75]`` from ``random_state``.
    """

    LETTERS = "ste"
    EMISSION_LETTERS = "e"

    def __init__(
        self,
        n_components: int = 1,
        startprob_prior: npt.ArrayLike = 1.0,
        transmat_prior: npt.ArrayLike = 1.0,
        *,
        emission_alpha: npt.ArrayLike = 1.0,
        emission_beta: npt.ArrayLike = 1.0,
        algorithm: str = "viterbi",
        random_state: RandomState = None,
        n_iter: int = 10,
        tol: float = 1e-2,
        verbose: bool = False,
        params: str = "ste",
        init_params: str = "ste",
        implementation: str = "log",
    ) -> None:
        self._base_init(**constructor_arguments(locals()))

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        X = check_counts(X, type(self).__name__, "0 or 1")
        if (X > 1).any():
            row, col = (int(i) for i in np.argwhere(X > 1)[0])
            raise ValueError(f"BernoulliHMM: X[{row}, {col}] = {X[row, col]} is not 0 or 1.")
        return X

    def _init_emission(self, X: np.ndarray) -> None:
        self.n_features = X.shape[1]
        if self._needs_init("e", "emissionprob_"):
            rng = check_random_state(self.random_state)
            self.emissionprob_ = rng.uniform(0.25, 0.75, size=(self.n_components, X.shape[1]))

    def _check_emission(self) -> None:
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.emissionprob_.shape[0] != self.n_components:
            raise ValueError(
                f"emissionprob_ must have shape ({self.n_components}, n_features); got "
                f"{self.emissionprob_.shape}."
            )
        self.n_features = self.emissionprob_.shape[1]

    def _emission(self) -> Emission:
        return HmmlearnBernoulli.from_probs(self.emissionprob_)

    def _emission_prior(self) -> BetaPrior:
        return BetaPrior(hashable_prior(self.emission_alpha), hashable_prior(self.emission_beta))

    def _read_emission(self, emission: Emission) -> None:
        assert isinstance(emission, HmmlearnBernoulli)
        self.emissionprob_ = np.asarray(emission.probs(), np.float64)

    def _emission_scalars(self) -> dict[str, int]:
        return {"e": self.n_components * int(self.n_features)}

    def _generate_sample_from_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return (rng.rand(self.emissionprob_.shape[1]) < self.emissionprob_[state]).astype(int)
