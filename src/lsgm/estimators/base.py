"""What every hmmlearn-style HMM estimator shares: data in hmmlearn's layout, EM by
:func:`lsgm.training.fit_em`, inference by lsgm's kernels, and hmmlearn's conventions.

hmmlearn's layout: ``X [n_samples, n_features]`` holds every sequence one after the other
and ``lengths [n_sequences]`` (summing to ``n_samples``) cuts it; ``lengths=None`` is one
sequence. The estimator keeps its parameters as NumPy float64 attributes (``startprob_
[K]``, ``transmat_ [K, K]`` and the family's, e.g. ``means_``); every method builds an
:class:`lsgm.HMM` from them, runs in float64 (``jax.enable_x64``, as hmmlearn computes in
float64, so the numbers agree with it to round-off) and writes what it fits back.

EM (``fit``), per iteration from the current parameters ``theta``:

    E-step   gamma_t(k) = p(z_t = k | x, theta),  xi_t(i, j) = p(z_t = i, z_{t+1} = j | x, theta)
    M-step   pi_k ∝ max(sum_n gamma_{n,1}(k) + startprob_prior_k - 1, 0)
             A_ij ∝ max(sum_n sum_t xi_{n,t}(i, j) + transmat_prior_ij - 1, 0)
             the family's update (hmmlearn's formulas, with its priors)

for ``n_iter`` iterations at most, stopping after the first iteration whose log-likelihood
gain is below ``tol`` (hmmlearn's rule; the log-likelihood is that of the parameters
*before* the iteration's M-step, and the M-step of the last iteration is kept). Letters of
``params`` choose what the M-step updates, letters of ``init_params`` what ``fit``
initialises (as hmmlearn, from ``random_state``) before EM: ``s`` startprob, ``t``
transmat and the family's letters (``e``, ``m``, ``c``, ``w``, ``l``).
"""

from __future__ import annotations

import sys
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, ClassVar

import jax
import numpy as np
import numpy.typing as npt
from flax import nnx
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_random_state

from lsgm import inference
from lsgm.distributions import Emission
from lsgm.models import HMM, SequenceModel
from lsgm.training import HMMPrior, fit_em

#: The decoders of :meth:`BaseHMM.decode` (hmmlearn's names).
DECODER_ALGORITHMS = ("viterbi", "map")
#: hmmlearn's ``implementation`` values -> the E-step kernels of lsgm that run them.
IMPLEMENTATIONS = {"log": "log", "scaling": "auto"}


def method_for(implementation: str) -> str:
    """The lsgm kernels that run hmmlearn's ``implementation`` (:data:`IMPLEMENTATIONS`)."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation={implementation!r} is not one of {tuple(IMPLEMENTATIONS)}."
        )
    return IMPLEMENTATIONS[implementation]


@contextmanager
def float64() -> Iterator[None]:
    """Run the enclosed JAX work in float64 (hmmlearn's precision)."""
    with jax.enable_x64(True):
        yield


class ConvergenceMonitor:
    """hmmlearn's ``monitor_``: the log-likelihood of every EM iteration and whether EM
    converged.

    Attributes:
        tol, n_iter, verbose: as the estimator's.
        history: the log-likelihood before each iteration's M-step (all iterations).
        iter: the number of iterations run.
    """

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol: float, n_iter: int, verbose: bool) -> None:
        self.tol, self.n_iter, self.verbose = tol, n_iter, verbose
        self.history: deque[float] = deque()
        self.iter = 0

    def __repr__(self) -> str:
        fields = sorted(dict(vars(self), history=list(self.history)).items())
        return f"{type(self).__name__}(\n" + "".join(f"    {k}={v},\n" for k, v in fields) + ")"

    def _reset(self) -> None:
        self.iter = 0
        self.history.clear()

    def report(self, log_prob: float) -> None:
        """Record one iteration's log-likelihood (printed to stderr with ``verbose``)."""
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            line = self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta)
            print(line, file=sys.stderr)
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        """True when the last iteration gained less than ``tol``. (hmmlearn also says True
        when EM stopped at ``n_iter`` without converging; here that is False, and ``fit``
        warns with a ``ConvergenceWarning``.)"""
        h = self.history
        return len(h) >= 2 and h[-1] - h[-2] < self.tol


def split_lengths(n_samples: int, lengths: npt.ArrayLike | None) -> list[int]:
    """hmmlearn's ``lengths`` as a list of ints; a ``ValueError`` with the fix when they
    are not positive integers summing to ``n_samples`` (the rows of ``X``)."""
    if lengths is None:
        return [n_samples]
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(
            f"lengths must be a 1-D list of integers (one per sequence); got {lengths!r}."
        )
    if (arr < 1).any():
        raise ValueError(f"lengths must be >= 1; got {arr[arr < 1][0]} in {arr.tolist()}.")
    if int(arr.sum()) != n_samples:
        raise ValueError(
            f"lengths {arr.tolist()} sum to {int(arr.sum())} but X has {n_samples} rows; "
            "lengths are the numbers of rows of each sequence in the concatenated X."
        )
    return [int(n) for n in arr]


@partial(jax.jit, static_argnums=0)
def _viterbi(graphdef: nnx.GraphDef, state: nnx.State, data: jax.Array, lengths: jax.Array):
    """``(paths [N, T], log scores [N])`` of a padded batch (:func:`lsgm.inference.viterbi`)."""
    model = nnx.merge(graphdef, state)
    return jax.vmap(lambda x, n: inference.viterbi(model.potentials(x), n))(data, lengths)


class SequenceEstimator(BaseEstimator):
    """Inference shared by the estimators, on lsgm's kernels: ``score``, ``score_samples``,
    ``decode``, ``predict``, ``predict_proba``, ``aic``, ``bic``.

    A subclass provides ``_ready()`` (raise unless fitted and valid), ``_context()`` (the
    precision the work runs in), ``_model()`` (the lsgm model), ``_sequences(X, lengths)``,
    ``_method`` (the kernels) and ``_n_parameters()``.
    """

    @property
    def _method(self) -> str:  # pragma: no cover - abstract
        """The kernels' ``method`` (see :meth:`lsgm.models.SequenceModel.score_samples`)."""
        raise NotImplementedError

    def _ready(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _context(self) -> AbstractContextManager[None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _model(self) -> SequenceModel:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sequences(
        self, X: npt.ArrayLike, lengths: npt.ArrayLike | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_parameters(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------- inference
    def score_samples(
        self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None
    ) -> tuple[float, np.ndarray]:
        """``(log p(X), posteriors [n_samples, K])``: the total log-likelihood of the
        sequences and ``p(z_t = k | x)`` for every row (hmmlearn's meaning)."""
        self._ready()
        _, sequences = self._sequences(X, lengths)
        with self._context():
            model = self._model()
            log_prob = float(np.sum(model.score_samples(sequences, method=self._method)))
            posteriors = model.predict_proba(sequences, method=self._method)
        return log_prob, np.concatenate([np.asarray(p, np.float64) for p in posteriors])

    def score(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> float:
        """``log p(X) = sum_i log p(x_i)`` over the sequences (larger is better, so
        ``GridSearchCV`` can rank models by it)."""
        self._ready()
        _, sequences = self._sequences(X, lengths)
        with self._context():
            return float(np.sum(self._model().score_samples(sequences, method=self._method)))

    def decode(
        self,
        X: npt.ArrayLike,
        lengths: npt.ArrayLike | None = None,
        algorithm: str | None = None,
    ) -> tuple[float, np.ndarray]:
        """``(log_prob, states [n_samples])``.

        ``algorithm="viterbi"``: the most probable path ``argmax_z p(x, z)`` of each sequence
        and ``log_prob = sum_i max_z log p(x_i, z)``. ``"map"``: ``argmax_k p(z_t = k | x)``
        at every row, and, as hmmlearn, ``log_prob`` is the sum over rows of the largest
        posterior probability (a sum of probabilities, not a log-probability). Default: the
        ``algorithm`` given to the constructor.
        """
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"algorithm={algorithm!r} is not one of {DECODER_ALGORITHMS}.")
        if algorithm == "map":
            _, posteriors = self.score_samples(X, lengths)
            return float(posteriors.max(1).sum()), posteriors.argmax(1)
        self._ready()
        _, sequences = self._sequences(X, lengths)
        with self._context():
            model = self._model()
            batch = model.batch(sequences)
            graphdef, state = nnx.split(model)
            paths, scores = _viterbi(graphdef, state, batch.data, batch.lengths)
            paths, scores = np.asarray(paths), np.asarray(scores)
            impossible = [i for i in range(len(sequences)) if paths[i, 0] < 0]
            if impossible:
                i = impossible[0]
                position = model.impossible_positions([sequences[i]])[0]
                raise ValueError(
                    f"sequence {i} of X has probability 0 under the model (it becomes "
                    f"impossible at row {position} of that sequence, 1-based), so it has no "
                    "state path; check the data or fit with a prior (pseudocounts)."
                )
        states = np.concatenate([paths[i, :n] for i, n in enumerate(batch.lengths)])
        return float(scores.sum()), states.astype(int)

    def predict(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> np.ndarray:
        """``[n_samples]`` states of :meth:`decode` (with the constructor's ``algorithm``)."""
        return self.decode(X, lengths)[1]

    def predict_proba(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> np.ndarray:
        """``[n_samples, K]`` posteriors ``p(z_t = k | x)`` (the second output of
        :meth:`score_samples`)."""
        return self.score_samples(X, lengths)[1]

    # ------------------------------------------------------ model selection
    def aic(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> float:
        """``-2 log p(X) + 2 p`` with ``p`` the free scalars of every parameter."""
        return -2 * self.score(X, lengths) + 2 * self._n_parameters()

    def bic(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> float:
        """``-2 log p(X) + p log n_samples``."""
        n_samples = len(self._sequences(X, lengths)[0])
        return -2 * self.score(X, lengths) + self._n_parameters() * np.log(n_samples)


def constructor_arguments(scope: dict[str, Any]) -> dict[str, Any]:
    """An estimator constructor's arguments from its ``locals()`` (called first thing, so the
    scope holds only them): scikit-learn stores each one unchanged under its own name."""
    return {name: value for name, value in scope.items() if name not in ("self", "__class__")}


class BaseHMM(SequenceEstimator):
    """The shared part of the hmmlearn-style estimators (see the module docstring).

    Subclasses set :attr:`LETTERS` (their ``params`` letters), :attr:`EMISSION_LETTERS`,
    and implement ``_check_X``, ``_init_emission``, ``_check_emission``, ``_emission``,
    ``_emission_prior``, ``_read_emission``, ``_emission_scalars`` and
    ``_generate_sample_from_state``.
    """

    LETTERS: ClassVar[str] = "st"
    EMISSION_LETTERS: ClassVar[str] = ""

    # The constructor arguments every subclass takes (its own __init__ lists them all, as
    # scikit-learn's get_params reads the signature).
    n_components: int
    startprob_prior: npt.ArrayLike
    transmat_prior: npt.ArrayLike
    algorithm: str
    random_state: int | np.random.RandomState | None
    n_iter: int
    tol: float
    verbose: bool
    params: str
    init_params: str
    implementation: str

    def _base_init(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)

    # ------------------------------------------------------------------ checks
    def _check_settings(self) -> None:
        """The constructor arguments, checked when they are used (scikit-learn style)."""
        if isinstance(self.n_components, bool) or not isinstance(
            self.n_components, int | np.integer
        ):
            raise ValueError(f"n_components must be an integer >= 1; got {self.n_components!r}.")
        if self.n_components < 1:
            raise ValueError(f"n_components must be >= 1; got {self.n_components}.")
        for name in ("params", "init_params"):
            value = getattr(self, name)
            unknown = sorted(set(value) - set(self.LETTERS)) if isinstance(value, str) else None
            if unknown is None or unknown:
                raise ValueError(
                    f"{name}={value!r}: {type(self).__name__} knows the letters "
                    f"{self.LETTERS!r} ({self._letter_meanings()}); got {unknown or value!r}."
                )
        if self.algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"algorithm={self.algorithm!r} is not one of {DECODER_ALGORITHMS}.")
        method_for(self.implementation)
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, int | np.integer):
            raise ValueError(f"n_iter must be an integer >= 0; got {self.n_iter!r}.")
        if self.n_iter < 0:
            raise ValueError(f"n_iter must be >= 0; got {self.n_iter}.")

    def _letter_meanings(self) -> str:
        names = {
            "s": "startprob_",
            "t": "transmat_",
            "e": "emissionprob_",
            "m": "means_",
            "c": "covars_",
            "w": "weights_",
            "l": "lambdas_",
        }
        return ", ".join(f"{c}: {names[c]}" for c in self.LETTERS)

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        """``X`` as a 2-D array of this family's observations, or a ``ValueError``."""
        raise NotImplementedError

    def _ready(self) -> None:
        self._check_is_fitted()
        self._check()

    def _context(self) -> AbstractContextManager[None]:
        return float64()

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "startprob_") or not hasattr(self, "transmat_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator (or set its parameters)."
            )

    def _check(self) -> None:
        """The parameters' shapes and sums (hmmlearn's ``_check``)."""
        K = self.n_components
        self.startprob_ = np.asarray(self.startprob_, dtype=np.float64)
        self.transmat_ = np.asarray(self.transmat_, dtype=np.float64)
        if self.startprob_.shape != (K,):
            raise ValueError(
                f"startprob_ must have shape ({K},) (n_components); got {self.startprob_.shape}."
            )
        if self.transmat_.shape != (K, K):
            raise ValueError(
                f"transmat_ must have shape ({K}, {K}) (n_components, n_components); got "
                f"{self.transmat_.shape}."
            )
        self._check_emission()

    def _check_emission(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------- initialisation
    def _needs_init(self, code: str, name: str) -> bool:
        return code in self.init_params or not hasattr(self, name)

    def _init(self, X: np.ndarray) -> None:
        """hmmlearn's initialisation: Dirichlet(1/K) rows for ``s`` and ``t`` drawn from
        ``random_state``, then the family's (``_init_emission``)."""
        K = self.n_components
        rng = check_random_state(self.random_state)
        if self._needs_init("s", "startprob_"):
            self.startprob_ = rng.dirichlet(np.full(K, 1.0 / K))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = rng.dirichlet(np.full(K, 1.0 / K), size=K)
        self._init_emission(X)

    def _init_emission(self, X: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------- lsgm model
    def _emission(self) -> Emission:  # pragma: no cover - abstract
        """The lsgm emission with the current parameters (float64)."""
        raise NotImplementedError

    def _emission_prior(self) -> object:
        """The family's prior object for :class:`lsgm.training.HMMPrior` (None: the MLE)."""
        return None

    def _read_emission(self, emission: Emission) -> None:  # pragma: no cover - abstract
        """Copy the fitted emission's parameters into the attributes."""
        raise NotImplementedError

    def _model(self) -> HMM:
        """The :class:`lsgm.HMM` of the current parameters (call under :func:`float64`);
        zeros of ``transmat_`` are structural (EM keeps them, as hmmlearn)."""
        return HMM.from_probs(
            self.startprob_, self.transmat_, self._emission(), transition_mask=self.transmat_ > 0
        )

    def _sequences(
        self, X: npt.ArrayLike, lengths: npt.ArrayLike | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``X`` checked (``_check_X``) and cut into its sequences by ``lengths``."""
        X = self._check_X(X)
        cuts = np.cumsum(split_lengths(len(X), lengths))[:-1]
        return X, [self._observations(part) for part in np.split(X, cuts)]

    def _observations(self, part: np.ndarray) -> np.ndarray:
        """One sequence of ``X`` as the lsgm emission reads it (default: as is)."""
        return part

    @property
    def _method(self) -> str:
        return method_for(self.implementation)

    # -------------------------------------------------------------------- fit
    def fit(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> BaseHMM:
        """Estimate the parameters by EM (module docstring), after initialising those named
        in ``init_params`` (and any not set yet).

        Args:
            X: ``[n_samples, n_features]``, the sequences concatenated.
            lengths: ``[n_sequences]`` rows per sequence, summing to ``n_samples``; None: one.

        Returns:
            self, with the fitted attributes and ``monitor_``.

        Warns:
            ConvergenceWarning: EM stopped at ``n_iter`` iterations before its gain fell
                below ``tol`` (the warning gives the last gain).
        """
        self._check_settings()
        X, sequences = self._sequences(X, lengths)
        self._init(X)
        self._check()
        monitor = getattr(self, "monitor_", None)
        if not isinstance(monitor, ConvergenceMonitor):
            monitor = self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        monitor.tol, monitor.n_iter, monitor.verbose = self.tol, self.n_iter, self.verbose
        monitor._reset()
        if self.n_iter == 0:
            return self
        frozen = {"s": "initial", "t": "transition"}
        freeze = [part for letter, part in frozen.items() if letter not in self.params]
        if not set(self.EMISSION_LETTERS) & set(self.params):
            freeze.append("emission")
        prior = HMMPrior(
            hashable_prior(self.startprob_prior),
            hashable_prior(self.transmat_prior),
            self._emission_prior(),
        )
        with float64():
            model = self._model()
            _, history = fit_em(
                model,
                sequences,
                max_iter=int(self.n_iter),
                tol=float(self.tol),
                priors=prior,
                freeze=freeze,
                init=False,
                method=self._method,
            )
            self.startprob_ = np.asarray(model.initial_probs(), np.float64)
            self.transmat_ = np.asarray(model.transition_probs(), np.float64)
            self._read_emission(model.emission)
        for log_prob in history.log_likelihoods:
            monitor.report(log_prob)
        if not history.converged:
            h = history.log_likelihoods
            gain = f"{h[-1] - h[-2]:.6g}" if len(h) > 1 else "unknown (one iteration)"
            warnings.warn(
                f"{type(self).__name__}: EM stopped at n_iter={self.n_iter} iterations without "
                f"converging (last log-likelihood gain {gain}, tol={self.tol}); raise n_iter "
                "or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    # ----------------------------------------------------------------- sample
    def sample(
        self,
        n_samples: int = 1,
        random_state: int | np.random.RandomState | None = None,
        currstate: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(X [n_samples, n_features], Z [n_samples])`` drawn from the model.

        Drawn with NumPy exactly as hmmlearn draws them (the same ``random_state`` gives the
        same ``X`` and ``Z``): ``z_1`` from ``startprob_`` (or ``currstate``), ``z_{t+1}``
        from row ``z_t`` of ``transmat_``, ``x_t`` from state ``z_t``'s distribution.
        ``random_state`` None: the constructor's. (For long samples on an accelerator, use
        :meth:`lsgm.HMM.sample` on the model.)
        """
        self._check_is_fitted()
        self._check()
        rng = check_random_state(self.random_state if random_state is None else random_state)
        transmat_cdf = np.cumsum(self.transmat_, axis=1)
        if currstate is None:
            currstate = int((np.cumsum(self.startprob_) > rng.rand()).argmax())
        states = [currstate]
        X = [self._generate_sample_from_state(currstate, rng)]
        for _ in range(int(n_samples) - 1):
            currstate = int((transmat_cdf[currstate] > rng.rand()).argmax())
            states.append(currstate)
            X.append(self._generate_sample_from_state(currstate, rng))
        return np.atleast_2d(np.asarray(X)), np.asarray(states, dtype=int)

    def _generate_sample_from_state(
        self, state: int, rng: np.random.RandomState
    ) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_stationary_distribution(self) -> np.ndarray:
        """``[K]`` ``pi`` with ``pi A = pi``: the left eigenvector of ``transmat_`` for the
        eigenvalue 1, normalised to sum to 1 (hmmlearn's method)."""
        self._check_is_fitted()
        values, vectors = np.linalg.eig(np.asarray(self.transmat_, dtype=np.float64).T)
        vector = np.real_if_close(vectors[:, np.argmax(values.real)])
        return vector / vector.sum()

    # ------------------------------------------------------ model selection
    def _emission_scalars(self) -> dict[str, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _get_n_fit_scalars_per_param(self) -> dict[str, int]:
        """Free scalars per ``params`` letter (hmmlearn's counts)."""
        K = self.n_components
        return {"s": K - 1, "t": K * (K - 1), **self._emission_scalars()}

    def _n_parameters(self) -> int:
        return sum(self._get_n_fit_scalars_per_param().values())


def hashable_prior(value: npt.ArrayLike) -> float | np.ndarray:
    """A scalar prior as a Python float (so the compiled EM step is reused across fits),
    anything else as a float64 array."""
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def as_float_matrix(X: npt.ArrayLike, what: str) -> np.ndarray:
    """``X`` as a finite float64 ``[n_samples, n_features]`` array (``[n]`` becomes
    ``[n, 1]``), or a ``ValueError`` naming the first bad row."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what}: X must hold numbers; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{what}: X must be [n_samples, n_features] with n_samples >= 1; got shape {arr.shape}."
        )
    bad = ~np.isfinite(arr).all(1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: row {row} of X holds NaN or inf ({arr[row].tolist()}).")
    return arr


def check_counts(X: npt.ArrayLike, what: str, kind: str) -> np.ndarray:
    """``X`` as an int64 ``[n_samples, n_features]`` array of non-negative integers (``[n]``
    becomes ``[n, 1]``), or a ``ValueError`` naming the first bad value."""
    arr = as_float_matrix(X, what)
    bad = (arr < 0) | (arr != np.round(arr))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what}: X[{row}, {col}] = {arr[row, col]} is not {kind}; pass {kind} values."
        )
    return arr.astype(np.int64)
