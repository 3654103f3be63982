"""Categorical emissions over ``M`` symbols, from hard symbols or soft observations.

With ``B[k, m] = p(x = m | z = k)`` (``B = softmax(logits)`` row-wise):

    hard, x [T] int:            log p(x_t | z_t = k) = log B[k, x_t]
    soft, o [T, M] on simplex:  log p(o_t | z_t = k) = log sum_m B[k, m] o_t[m]

A soft observation is a distribution over the symbol actually emitted (e.g. a base call with
its Phred quality); a one-hot row is the hard symbol. Expected counts treat that symbol as
latent: ``counts[k, m] = sum_n w[n, k] B[k, m] o[n, m] / sum_m' B[k, m'] o[n, m']``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.scipy.special import logsumexp

from lsgm.distributions._common import (
    ONE_HOT_FLOOR,
    all_finite_rows,
    check_finite,
    check_positive_int,
    check_stochastic,
    exact_log,
    fail,
    first,
    init_normal,
    poison,
    safe_divide,
)
from lsgm.distributions.base import Emission, EmissionSummary
from lsgm.distributions.network_head import NetworkHead, poison_rows

Array = jax.Array

#: Tolerance on the row sums of soft observations.
SOFT_ATOL = 1e-4


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DirichletPrior:
    """Dirichlet prior on each row of a probability table (hmmlearn ``emissionprob_prior``).

    The M-step returns the MAP estimate clipped at zero,
    ``p[k, m] ∝ max(counts[k, m] + concentration[k, m] - 1, 0)``; ``concentration = 1`` is the
    MLE. ``concentration`` is a scalar or broadcasts to the table.
    """

    concentration: float | Array = 1.0


@jax.jit
def categorical_log_prob(log_probs: Array, x: Array) -> Array:
    """Log-likelihood of hard or soft categorical observations.

    Args:
        log_probs: ``[K, M]`` or time-varying ``[T, K, M]`` row-normalised ``log B``.
        x: ``[T]`` integer symbols in ``[0, M)`` (hard), or ``[T, M]`` floats, each row a
            probability vector over the symbols (soft).

    Returns:
        ``[T, K]``: ``log B[k, x_t]`` (hard) or ``log sum_m B[k, m] x_t[m]`` (soft; exact for
        one-hot rows); ``-inf`` where ``B[k, x_t] = 0``. A row is NaN where ``x_t`` is invalid
        (a symbol outside ``[0, M)``; a soft row with a negative or non-finite entry, or
        whose sum is off 1 by more than ``SOFT_ATOL``): under ``jit`` invalid data poisons
        the result instead of being dropped (eagerly, ``check_data`` raises first).
    """
    x = jnp.asarray(x)
    M = log_probs.shape[-1]
    if jnp.issubdtype(x.dtype, jnp.integer):
        # A one-hot product rather than a gather: measured faster inside the jitted EM step
        # (the gather's output costs an extra transposing copy before the kernels' scans),
        # and the gradient is a matrix product, not a scatter-add. Zero probabilities
        # (-inf) are floored for the product, where 0 * -inf would make a NaN, and mapped
        # back to -inf after it (their gradient is 0).
        # An out-of-range symbol (whose one-hot row is all zero) gets a NaN row, so that its
        # output row is NaN instead of a vanishing 0 (poisoning the input, not the [T, K]
        # output: an extra pass over the output measured ~20% of a jitted E-step).
        bad = jnp.where((x >= 0) & (x < M), 0.0, jnp.nan).astype(log_probs.dtype)
        onehot = jax.nn.one_hot(x, M, dtype=log_probs.dtype) + bad[:, None]
        floored = jnp.maximum(log_probs, ONE_HOT_FLOOR)
        if log_probs.ndim == 2:
            out = onehot @ floored.T
        else:
            out = jnp.einsum("tm,tkm->tk", onehot, floored)
        return jnp.where(out <= ONE_HOT_FLOOR / 2, -jnp.inf, out)
    positive = x > 0
    log_o = jnp.where(positive, jnp.log(jnp.where(positive, x, 1)), -jnp.inf)
    out = logsumexp(log_probs + log_o[:, None, :], axis=-1)
    valid = all_finite_rows(x) & jnp.all(x >= 0, axis=-1)
    return poison(valid & (jnp.abs(x.sum(-1) - 1) <= SOFT_ATOL), out)


def categorical_expected_counts(probs: Array, x: Array, weights: Array) -> Array:
    """``[K, M]`` weighted symbol counts ``sum_n w[n, k] p(symbol_n = m | z_n = k, x_n)``.

    Args:
        probs: ``[K, M]`` current ``B`` (only used by soft observations).
        x: ``[N]`` hard symbols or ``[N, M]`` soft observations.
        weights: ``[N, K]`` state posteriors.
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.integer):  # a segment sum over symbols: no [N, M] one-hot
        return jax.ops.segment_sum(weights, x, num_segments=probs.shape[-1]).T
    joint = probs[None] * x[:, None, :]  # [N, K, M]
    # where state k gives o_n probability 0 (a zero in B; a true posterior has w[n, k] = 0
    # there) the symbol's posterior is o_n itself, so one-hot rows count as hard symbols
    symbol_post = safe_divide(joint, joint.sum(-1, keepdims=True), x[:, None, :])
    return jnp.einsum("nk,nkm->km", weights, symbol_post)


def dirichlet_map(counts: Array, concentration: npt.ArrayLike, fallback: Array) -> Array:
    """Rows ``∝ max(counts + concentration - 1, 0)`` (last axis); ``fallback`` rows where all
    are zero (e.g. a state with no posterior mass)."""
    mass = jnp.maximum(counts + jnp.asarray(concentration, counts.dtype) - 1, 0)
    total = mass.sum(-1, keepdims=True)
    return safe_divide(mass, total, fallback)


def dirichlet_log_density(log_probs: Array, concentration: npt.ArrayLike) -> Array:
    """Unnormalised Dirichlet log-density ``sum (concentration - 1) log p`` of the rows of
    ``log_probs`` (the objective :func:`dirichlet_map` maximises with the counts' term).

    Entries with ``p = 0`` (masked, or set to zero by a clipped MAP when
    ``concentration < 1``) are left out: they are fixed at the boundary, where the density
    of a concentration below one is unbounded."""
    alpha = jnp.asarray(concentration, log_probs.dtype)
    finite = jnp.isfinite(log_probs)
    return jnp.sum(jnp.where(finite, (alpha - 1) * jnp.where(finite, log_probs, 0.0), 0.0))


@jax.jit
def _update(logits: Array, x: Array, weights: Array, concentration) -> Array:
    """:class:`Categorical` M-step on the logits."""
    old = jax.nn.softmax(logits, axis=-1)
    counts = categorical_expected_counts(old, x, jnp.asarray(weights, old.dtype))
    return exact_log(dirichlet_map(counts, concentration, old))


@jax.jit
def _sample(key: Array, logits: Array, states: Array) -> Array:
    return jax.random.categorical(key, logits[states], axis=-1)


@cache
def _network_head(M: int) -> NetworkHead:
    """The LSGM's head over ``M`` symbols: raw outputs are logits (``log_softmax``-ed); the RNN
    reads one-hot (hard) or probability (soft) rows."""

    def encode(x: Array) -> Array:
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.integer):
            # one_hot of an out-of-range symbol is a row of zeros: poison it instead
            return poison_rows((x >= 0) & (x < M), jax.nn.one_hot(x, M))
        x = x.astype(jnp.result_type(float))
        valid = jnp.all(jnp.isfinite(x) & (x >= 0), -1) & (jnp.abs(x.sum(-1) - 1) <= SOFT_ATOL)
        return poison_rows(valid, x)

    return NetworkHead(
        num_params=M,
        input_dim=M,
        bias=lambda em: em.logits[...],
        log_prob=lambda raw, x: categorical_log_prob(jax.nn.log_softmax(raw, axis=-1), x),
        encode=encode,
        sample=lambda key, raw: jax.random.categorical(key, raw).astype(jnp.int32),
        table=lambda raw: jax.nn.softmax(raw, axis=-1),
        bias_kind="log_prob",
    )


class Categorical(Emission):
    """``K`` categorical distributions over ``M`` symbols, parameterised by ``logits [K, M]``.

    Args:
        num_states: ``K``.
        num_symbols: ``M``.
        rngs: random initial logits come from ``rngs.params()``;
            None leaves a deterministic placeholder (zeros), as ``from_*`` constructors do.
    """

    name = "categorical"
    config_fields = ("num_symbols",)
    stored_sizes = (("num_symbols", "logits", 1),)
    parameter_kinds = {"logits": "log_prob"}
    lsgm_form = "Categorical"

    def __init__(self, num_states: int, num_symbols: int, *, rngs: nnx.Rngs | None):
        check_positive_int(num_states=num_states, num_symbols=num_symbols)
        self.num_states, self.num_symbols = int(num_states), int(num_symbols)
        self.logits = nnx.Param(init_normal(rngs, (num_states, num_symbols), 0.5))

    @classmethod
    def from_probs(cls, probs: npt.ArrayLike) -> Categorical:
        """Model with emission table ``probs [K, M]`` (rows sum to 1; zeros allowed)."""
        probs = check_stochastic(probs, "probs")
        model = cls(*probs.shape, rngs=None)
        model.logits[...] = exact_log(jnp.asarray(probs))
        return model

    def probs(self) -> Array:
        """``[K, M]`` emission probabilities ``B``."""
        return jax.nn.softmax(self.logits[...], axis=-1)

    def log_prob(self, x: Array) -> Array:
        return categorical_log_prob(jax.nn.log_softmax(self.logits[...], axis=-1), x)

    def pattern_codes(self, x: Array) -> tuple[Array, Array] | None:
        """Hard symbols ``x [...]`` are their own codes into ``patterns = [0, ..., M]``
        (``M``: an out-of-range symbol, which scores NaN); None for soft observations."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.integer):
            return None
        M = self.num_symbols
        codes = jnp.where((x >= 0) & (x < M), x, M).astype(jnp.int32)
        return codes, jnp.arange(M + 1, dtype=jnp.int32)

    def m_step(self, x: Array, weights: Array, prior: DirichletPrior | None = None) -> None:
        """``B[k] ∝ max(counts[k] + concentration - 1, 0)`` (see :class:`DirichletPrior`)."""
        concentration = 1.0 if prior is None else prior.concentration
        self.logits[...] = _update(self.logits[...], x, weights, concentration)

    def log_prior(self, prior: DirichletPrior | None = None) -> Array:
        """``sum_k sum_m (concentration - 1) log B[k, m]`` (0 without a prior)."""
        if prior is None:
            return jnp.zeros(())
        return dirichlet_log_density(
            jax.nn.log_softmax(self.logits[...], axis=-1), prior.concentration
        )

    def n_parameters(self) -> int:
        return self.num_states * (self.num_symbols - 1)

    def check_data(self, x: np.ndarray, where: str) -> None:
        x = np.asarray(x)
        M = self.num_symbols
        if x.dtype.kind in "iu":
            if x.ndim != 1:
                fail(
                    where,
                    f"hard symbols must be a [T] array, got shape {x.shape}",
                    "pass a 1-D array (hmmlearn's [T, 1] layout: x[:, 0])",
                )
            if x.size == 0:
                fail(where, "the sequence is empty", "drop empty sequences")
            bad = (x < 0) | (x >= M)
            if bad.any():
                t = first(bad)
                fail(
                    where,
                    f"symbol {x[t]} at position {t} is outside [0, {M})",
                    f"encode symbols as 0..{M - 1} or build the model with more symbols",
                )
        elif x.dtype.kind == "f":
            if x.ndim != 2 or x.shape[1] != M:
                fail(
                    where,
                    f"soft observations must be a [T, {M}] array, got shape {x.shape}",
                    "give one probability vector over the symbols per position",
                )
            if x.shape[0] == 0:
                fail(where, "the sequence is empty", "drop empty sequences")
            check_finite(x, where)
            if (x < 0).any():
                pos = first(x < 0)
                fail(where, f"negative probability {x[pos]} at {pos}", "clip soft rows at 0")
            sums = x.sum(1)
            off = np.abs(sums - 1) > SOFT_ATOL
            if off.any():
                t = first(off)
                fail(
                    where,
                    f"soft row {t} sums to {float(sums[t]):.10g}, not 1",
                    "normalise each row",
                )
        else:
            fail(
                where,
                f"dtype {x.dtype} is neither integer symbols nor float soft observations",
                "pass int symbols [T] or float probabilities [T, M]",
            )

    def sample(self, key: Array, states: Array) -> Array:
        return _sample(key, self.logits[...], states)

    def summary(self) -> EmissionSummary:
        """The emission matrix ``B[k, m] = p(x = m | z = k)``."""
        return EmissionSummary(
            np.asarray(self.probs()),
            "categorical",
            "Emission matrix P(symbol | state)",
            "P(symbol | state)",
        )

    def network_head(self) -> NetworkHead:
        """Logits over the symbols; hard ``[T]`` or soft ``[T, M]`` observations."""
        return _network_head(self.num_symbols)

    @classmethod
    def read_observations(cls, x: np.ndarray, where: str) -> np.ndarray:
        """A ``[T]`` (or one-column) table of integer symbols as int32 ``[T]``."""
        x = np.asarray(x)
        if x.dtype.kind not in "iu" or (x.ndim == 2 and x.shape[1] != 1):
            raise ValueError(
                f"{where}: a categorical model needs one integer symbol per step (a 1-D array "
                "or a one-column table of integers)."
            )
        return x.reshape(-1).astype(np.int32)

    @classmethod
    def config_from_data(
        cls,
        xs: Sequence[np.ndarray],
        options: Mapping[str, Any],
        num_symbols: int | None = None,
    ) -> dict[str, Any]:
        """``num_symbols``: the alphabet's size, or for integer tables the largest symbol + 1."""
        if num_symbols is None:
            num_symbols = max(int(x.max()) for x in xs) + 1
        return {"num_symbols": int(num_symbols)}
