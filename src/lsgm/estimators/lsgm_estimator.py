"""The LSGM (:class:`lsgm.LSGM`) as an hmmlearn-style estimator.

An LSGM is an HMM whose transitions and emissions are conditioned on an RNN state of the
observed past, ``u_t = f(u_{t-1}, x_t)``; since ``u`` depends on ``x`` alone, ``log p(x)``,
the posteriors and Viterbi paths are exact, computed by the same kernels as an HMM's. It
has no closed-form M-step: ``fit`` minimises the exact negative log-likelihood by Adam
(:func:`lsgm.training.fit_gradient`) for ``n_iter`` epochs. Float32, as neural networks are
trained (the HMM estimators run in float64 to give hmmlearn's numbers).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import jax
import numpy as np
import numpy.typing as npt
import optax
from flax import nnx
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from lsgm.distributions import Bernoulli, Categorical, Emission, Gaussian
from lsgm.estimators.base import (
    ConvergenceMonitor,
    SequenceEstimator,
    as_float_matrix,
    check_counts,
    method_for,
    split_lengths,
)
from lsgm.models import LSGM as LSGMModel
from lsgm.models import build_model, model_config
from lsgm.training import fit_gradient

#: The emission families an LSGM estimator takes, and the data each reads.
EMISSIONS = ("gaussian", "categorical", "bernoulli")


class LSGM(SequenceEstimator):
    """Long Short-term Graphical Model with hmmlearn's interface.

    Args:
        n_components: ``K`` hidden states.
        emission: ``"gaussian"`` (diagonal; ``X [n_samples, D]`` reals), ``"categorical"``
            (``X [n_samples, 1]`` symbols ``0 .. n_features - 1``) or ``"bernoulli"``
            (``X [n_samples, D]`` of 0/1).
        n_features: the categorical alphabet's size (None: ``max(X) + 1``).
        rnn, hidden_size: the encoder (``"gru"`` or ``"lstm"``, its width).
        conditioning: what the RNN conditions (``"full"``, ``"transitions"``,
            ``"emissions"``, ``"none"``: an HMM trained by gradient).
        n_iter: training epochs (passes over the sequences).
        learning_rate: Adam's step size.
        batch_size: sequences per step (None: all).
        tol: ``monitor_.converged`` when the last epoch's log-likelihood gain is below it.
        algorithm, random_state, verbose, implementation: as hmmlearn's.

    Fitted attributes: ``model_`` (the :class:`lsgm.LSGM`), ``n_features``, ``monitor_``
    (``history``: the training log-likelihood, ``-NLL`` summed over the rows, per epoch).
    """

    def __init__(
        self,
        n_components: int = 2,
        emission: str = "gaussian",
        n_features: int | None = None,
        rnn: str = "gru",
        hidden_size: int = 16,
        conditioning: str = "full",
        n_iter: int = 50,
        learning_rate: float = 1e-2,
        batch_size: int | None = None,
        tol: float = 1e-2,
        algorithm: str = "viterbi",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        implementation: str = "scaling",
    ) -> None:
        self.n_components = n_components
        self.emission = emission
        self.n_features = n_features
        self.rnn = rnn
        self.hidden_size = hidden_size
        self.conditioning = conditioning
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.tol = tol
        self.algorithm = algorithm
        self.random_state = random_state
        self.verbose = verbose
        self.implementation = implementation

    # ------------------------------------------------------------------ hooks
    def _ready(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This LSGM instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )

    def _context(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def _model(self) -> LSGMModel:
        return self.model_

    @property
    def _method(self) -> str:
        return method_for(self.implementation)

    def _n_parameters(self) -> int:
        return self.model_.n_parameters()

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:
        if self.emission == "gaussian":
            return as_float_matrix(X, "LSGM")
        if self.emission == "categorical":
            X = check_counts(X, "LSGM", "a symbol (an integer >= 0)")
            if X.shape[1] != 1:
                raise ValueError(
                    f"LSGM(emission='categorical'): X must be [n_samples, 1]; got {X.shape}."
                )
            return X
        if self.emission == "bernoulli":
            X = check_counts(X, "LSGM", "0 or 1")
            if (X > 1).any():
                raise ValueError("LSGM(emission='bernoulli'): X must hold only 0 and 1.")
            return X
        raise ValueError(f"emission={self.emission!r} is not one of {EMISSIONS}.")

    def _sequences(
        self, X: npt.ArrayLike, lengths: npt.ArrayLike | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        X = self._check_X(X)
        cuts = np.cumsum(split_lengths(len(X), lengths))[:-1]
        parts = np.split(X, cuts)
        if self.emission == "categorical":
            return X, [p[:, 0] for p in parts]
        return X, [p.astype(np.float32) if self.emission == "gaussian" else p for p in parts]

    def _emission_for(self, X: np.ndarray, rngs: nnx.Rngs) -> Emission:
        K = self.n_components
        if self.emission == "categorical":
            if self.n_features is None:
                self.n_features = int(X.max()) + 1
            return Categorical(K, int(self.n_features), rngs=rngs)
        self.n_features = X.shape[1]
        family = Gaussian if self.emission == "gaussian" else Bernoulli
        return family(K, X.shape[1], rngs=rngs)

    # -------------------------------------------------------------------- fit
    def fit(self, X: npt.ArrayLike, lengths: npt.ArrayLike | None = None) -> LSGM:
        """Train by Adam on ``-log p(x)`` for ``n_iter`` epochs (module docstring).

        Args:
            X, lengths: hmmlearn's concatenated sequences and their lengths.

        Returns:
            self, with ``model_``, ``n_features`` and ``monitor_``.
        """
        X, sequences = self._sequences(X, lengths)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        rngs = nnx.Rngs(seed)
        model = LSGMModel(
            self.n_components,
            self._emission_for(X, rngs),
            rnn=self.rnn,
            hidden_size=self.hidden_size,
            conditioning=self.conditioning,
            rngs=rngs,
        )
        _, history = fit_gradient(
            model,
            sequences,
            optimizer=optax.adam(self.learning_rate),
            epochs=int(self.n_iter),
            batch_size=self.batch_size,
            seed=seed,
        )
        self.model_ = model
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        for nll in history.train_nll:
            self.monitor_.report(-nll * len(X))
        return self

    def __getstate__(self) -> dict:
        """Picklable: the fitted model travels as its configuration and parameter arrays."""
        state = dict(self.__dict__)
        if "model_" in state:
            model = state.pop("model_")
            arrays = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model)))
            state["_model_file"] = (model_config(model), arrays)
        return state

    def __setstate__(self, state: dict) -> None:
        saved = state.pop("_model_file", None)
        self.__dict__.update(state)
        if saved is not None:
            config, arrays = saved
            model = build_model(config)
            assert isinstance(model, LSGMModel)
            graphdef, params = nnx.split(model)
            nnx.replace_by_pure_dict(params, arrays)
            self.model_ = nnx.merge(graphdef, params)

    def sample(
        self, n_samples: int = 1, random_state: int | np.random.RandomState | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(X [n_samples, n_features], Z [n_samples])``, drawn autoregressively (the RNN
        reads each drawn ``x_t`` before ``z_{t+1}``, ``x_{t+1}`` are drawn)."""
        self._ready()
        rng = check_random_state(self.random_state if random_state is None else random_state)
        key = jax.random.key(int(rng.randint(2**31 - 1)))
        states, observations = self.model_.sample(int(n_samples), key)
        X = np.asarray(observations)
        return (X[:, None] if X.ndim == 1 else X), np.asarray(states, dtype=int)
