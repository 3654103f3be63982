"""The emission interface shared by every family (``DESIGN.md`` §2, ``distributions/``).

An emission family is an :class:`flax.nnx.Module` holding the parameters of ``K`` per-state
distributions as *unconstrained* ``nnx.Param`` values (logits, log-variances, Cholesky
factors with log-diagonals, ...), so that gradient training can update them directly while
EM overwrites them with closed-form values.

Shapes: one sequence ``x`` is ``[T]`` (integer symbols) or ``[T, D]`` (vectors, or soft
observations ``[T, M]``); :meth:`Emission.log_prob` returns ``[T, K]``. Models pad batches
by repeating a valid observation of the same sequence and give padding zero weight.
"""

from __future__ import annotations

import abc

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Array = jax.Array


class Emission(nnx.Module, abc.ABC):
    """Base class of the emission families: ``K`` state-conditional distributions."""

    num_states: int

    @abc.abstractmethod
    def log_prob(self, x: Array) -> Array:
        """``[T, K]`` log-likelihoods ``log p(x_t | z_t = k)`` of one sequence ``x``."""

    @abc.abstractmethod
    def m_step(self, x: Array, weights: Array, prior=None) -> None:
        """Closed-form weighted maximum-likelihood (or MAP, with ``prior``) update, in place.

        Args:
            x: ``[N, ...]`` observations of all sequences, flattened over time (padding
                included, with zero weight).
            weights: ``[N, K]`` posterior state probabilities ``p(z_n = k | x)``.
            prior: the family's conjugate prior (see the family), or None for the MLE.

        Must be jittable (no data-dependent Python control flow).
        """

    def log_prior(self, prior=None) -> Array | None:
        """Log-density of the current parameters under ``prior``, up to an additive constant:
        the term MAP EM adds to the log-likelihood, so that ``log p(x | theta) + log_prior``
        never decreases over EM iterations. 0 without a prior; None when the family's
        M-step with this prior maximises no fixed objective (EM then cannot monitor it).
        Must be jittable."""
        return jnp.zeros(()) if prior is None else None

    @abc.abstractmethod
    def n_parameters(self) -> int:
        """Number of free scalar parameters (as counted by hmmlearn and the LSGM paper)."""

    @abc.abstractmethod
    def check_data(self, x: np.ndarray, where: str) -> None:
        """Raise a ``ValueError`` naming ``where`` (e.g. "sequence 3") and the fix when ``x``
        (one concrete sequence) cannot be scored: wrong dtype or feature dimension, NaN/inf,
        symbols out of range, negative counts, empty sequence."""

    @abc.abstractmethod
    def sample(self, key: Array, states: Array) -> Array:
        """Draw ``x_t ~ p(x | z_t = states[t])`` for a ``[T]`` state path; returns ``[T, ...]``."""

    def initialize(self, x: np.ndarray, key: Array) -> None:
        """Data-driven initialisation before EM (e.g. k-means for Gaussians).

        ``x`` is ``[N, ...]`` (all valid observations, no padding). The default does nothing.
        """
