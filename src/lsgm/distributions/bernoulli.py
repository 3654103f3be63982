"""Independent multivariate Bernoulli emissions (binary feature vectors, e.g. piano rolls).

With ``p[k, d] = sigmoid(logits[k, d])``:

    log p(x_t | z_t = k) = sum_d x_td log p[k, d] + (1 - x_td) log(1 - p[k, d])

Missing values (opt in, ``Bernoulli(K, D, allow_missing=True)``): ``x_td = 2`` means "mark
``d`` was not measured at step ``t``" (ChromHMM's binarized files). It is marginalised
exactly: its factor ``sum_{v in {0, 1}} p(x_td = v | k) = 1``, so the sum above runs over
the observed ``d`` only, and the M-step counts ones and zeros only where observed. Without
the flag a 2 is invalid data like any other value than 0 or 1.
"""

from __future__ import annotations

import dataclasses
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx

from lsgm.distributions._common import (
    check_finite,
    check_matrix,
    check_positive_int,
    exact_log,
    fail,
    first,
    index_str,
    init_normal,
)
from lsgm.distributions.base import Emission, EmissionSummary
from lsgm.distributions.categorical import dirichlet_log_density, dirichlet_map
from lsgm.distributions.network_head import NetworkHead, as_float, poison_rows

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BetaPrior:
    """Beta(alpha, beta) prior on every ``p[k, d]``; the M-step returns the clipped MAP
    ``p ∝ max(S1 + alpha - 1, 0)`` vs ``1 - p ∝ max(S0 + beta - 1, 0)`` (as
    :class:`~lsgm.distributions.DirichletPrior` with two symbols). ``alpha = beta = 1`` is the
    MLE. Scalars or arrays broadcasting to ``[K, D]``."""

    alpha: float | Array = 1.0
    beta: float | Array = 1.0


@partial(jax.jit, static_argnames="allow_missing")
def bernoulli_log_prob(logits: Array, x: Array, allow_missing: bool = False) -> Array:
    """Log-likelihood of binary vectors under independent Bernoullis.

    Args:
        logits: ``[K, D]`` or time-varying ``[T, K, D]``, ``logit p = log p - log(1 - p)``.
        x: ``[T, D]`` with values in {0, 1} (and 2, "missing", with ``allow_missing``).
        allow_missing: read ``x_td = 2`` as a missing value, marginalised out: its term
            below is 0 (``log sum_v p(x_td = v | k) = log 1``).

    Returns:
        ``[T, K]``: ``sum_d x log sigmoid(l) + (1 - x) log sigmoid(-l)`` over the observed
        ``d`` (``-inf`` where a probability is exactly 0, i.e. an infinite logit). A row is
        NaN where ``x_t`` holds any other value (NaN included; 2 without ``allow_missing``):
        under ``jit`` invalid data poisons the result instead of being scored (eagerly,
        ``check_data`` raises first).
    """
    x = jnp.asarray(x, logits.dtype)
    log_p, log_q = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    # a value other than 0/1 (/2) becomes NaN, which poisons its row
    valid = (x == 0) | (x == 1) | ((x == MISSING) & allow_missing)
    x = jnp.where(valid, x, jnp.nan)
    if logits.ndim == 2:
        return _static_log_prob(log_p, log_q, x, allow_missing)
    return _select_sum(log_p, log_q, x)


#: The value that marks a missing observation (``allow_missing=True``).
MISSING = 2
#: Up to this many dimensions a shared-table log-likelihood looks rows up in a table of all
#: ``2^D`` binary patterns (ChromHMM's 10 marks: 1,024 rows) instead of multiplying.
PATTERN_TABLE_MAX_DIM = 12
#: :meth:`Bernoulli.pattern_codes` serves observations with at most this many patterns
#: (``2^D``, or ``3^D`` with missing values: up to 16 or 10 marks).
MAX_PATTERNS = 1 << 16
#: With missing values the patterns are ``3^D`` (0, 1 or missing per mark): at most this
#: many marks go into one table (``3^6 = 729`` rows); more marks are split into groups of
#: at most this size, one table and one lookup per group, the lookups summed.
MISSING_GROUP_MAX_DIM = 6


def _static_log_prob(log_p: Array, log_q: Array, x: Array, allow_missing: bool) -> Array:
    """Shared ``[K, D]`` tables, ``x [T, D]`` in {0, 1} (2: missing) or NaN (invalid).

    ``D <= PATTERN_TABLE_MAX_DIM``: every row is one of ``2^D`` patterns, so the ``[2^D, K]``
    table of their log-likelihoods (the select-and-sum below, on the patterns) is built once
    and each row looks its pattern up: a gather instead of a ``[T, K, D]`` pass (≈ 10× faster
    on one CPU core for 10 marks and 15 states; the same numbers). Larger ``D``: the select
    and sum on the rows themselves. With ``allow_missing`` the patterns are base-3 codes,
    ``ceil(D / MISSING_GROUP_MAX_DIM)`` tables of at most ``3^6`` rows, one per group of
    marks (the log-likelihood is a sum over marks, so over groups)."""
    D = x.shape[-1]
    if D > PATTERN_TABLE_MAX_DIM:
        return _select_sum(log_p, log_q, x)
    bad = jnp.isnan(x).any(-1)  # NaN (invalid) reads as pattern 0 below and poisons its row here
    base, group = (3, MISSING_GROUP_MAX_DIM) if allow_missing else (2, D)
    parts = []
    for start in range(0, D, group):
        end = min(start + group, D)
        table = _select_sum(log_p[:, start:end], log_q[:, start:end], _patterns(base, end - start))
        parts.append(table[_codes(x[:, start:end], base)])
    return jnp.where(bad[:, None], jnp.nan, sum(parts[1:], parts[0]))


def _codes(x: Array, base: int) -> Array:
    """``[T]`` int32 ``sum_d x_d base^d`` of ``x [T, D]`` (digits 0, 1, 2; NaN reads as 0);
    in base 2 by shifts (measured faster than a product)."""
    if base == 2:
        return jnp.sum(jnp.where(x > 0, 1, 0) << jnp.arange(x.shape[-1], dtype=jnp.int32), -1)
    digits = jnp.where(jnp.isnan(x), 0, x).astype(jnp.int32)
    return jnp.sum(digits * jnp.asarray(base ** np.arange(x.shape[-1]), jnp.int32), -1)


def _patterns(base: int, D: int) -> Array:
    """``[base^D, D]``: row ``c`` holds the base-``base`` digits of ``c``, least significant
    first (the patterns that :func:`_static_log_prob`'s codes index)."""
    return jnp.asarray(np.arange(base**D)[:, None] // base ** np.arange(D) % base)


def _select_sum(log_p: Array, log_q: Array, x: Array) -> Array:
    """``[T, K]`` ``sum_d (x_d ? log_p : log_q)`` (a select, not ``x log_p + (1 - x) log_q``:
    an exact 0 or 1 probability gives an infinite log, and ``0 * -inf`` would be NaN), the
    terms of missing values (``x_d = 2``) left out; a NaN ``x_d`` (invalid value) makes its
    row NaN."""
    bad = jnp.where(jnp.isnan(x), jnp.nan, 0.0)[:, None, :]
    x = x[:, None, :]
    term = jnp.where(x == MISSING, 0.0, jnp.where(x > 0, log_p, log_q))
    return jnp.sum(term + bad, axis=-1)


def _logits(p_and_q: Array) -> Array:
    """Logits from ``[..., 2]`` pairs ``(p, 1 - p)`` (accurate near 0 and 1; ``-inf`` / ``+inf``
    at 0 / 1, exact zeros)."""
    return exact_log(p_and_q[..., 0]) - exact_log(p_and_q[..., 1])


@partial(jax.jit, static_argnames="allow_missing")
def _update(
    logits: Array, x: Array, weights: Array, prior: BetaPrior, allow_missing: bool = False
) -> Array:
    """:class:`Bernoulli` M-step on the logits: ``S1[k, d] = sum_n w[n, k] [x_nd = 1]`` and
    ``S0[k, d] = sum_n w[n, k] [x_nd = 0]`` (a missing ``x_nd = 2`` counts in neither)."""
    old = jax.nn.sigmoid(logits)
    weights = jnp.asarray(weights, old.dtype)
    x = jnp.asarray(x, old.dtype)
    if allow_missing:
        ones = weights.T @ (x == 1).astype(old.dtype)  # [K, D]
        zeros = weights.T @ (x == 0).astype(old.dtype)
    else:
        ones = weights.T @ x  # [K, D]
        zeros = weights.sum(0)[:, None] - ones
    concentration = jnp.stack(jnp.broadcast_arrays(prior.alpha, prior.beta), -1)
    fallback = jnp.stack([old, 1 - old], -1)
    return _logits(dirichlet_map(jnp.stack([ones, zeros], -1), concentration, fallback))


@jax.jit
def _sample(key: Array, logits: Array, states: Array) -> Array:
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits[states])).astype(int)


def _encode_missing(x: Array) -> Array:
    """The RNN's input for ``x [T, D]`` with missing values: ``[T, 2D]``, the indicators
    ``[x_td = 1]`` then ``[x_td = 2]`` (missing); NaN rows where a value is not 0, 1 or 2."""
    valid = jnp.all((x == 0) | (x == 1) | (x == MISSING), -1)
    return poison_rows(valid, as_float(jnp.concatenate([x == 1, x == MISSING], -1)))


def _sample_raw(key: Array, raw: Array) -> Array:
    return jax.random.bernoulli(key, jax.nn.sigmoid(raw)).astype(raw.dtype)


@cache
def _network_head(D: int, allow_missing: bool = False) -> NetworkHead:
    """The LSGM's head over ``D`` binary features: raw outputs are logits (log-odds). With
    ``allow_missing`` its log-likelihood marginalises missing values as the HMM's does, and
    the RNN reads ``2D`` indicators (:func:`_encode_missing`), so it sees which are missing."""
    return NetworkHead(
        num_params=D,
        input_dim=2 * D if allow_missing else D,
        bias=lambda em: em.logits[...],
        log_prob=partial(bernoulli_log_prob, allow_missing=allow_missing),
        encode=_encode_missing
        if allow_missing
        else lambda x: poison_rows(jnp.all((x == 0) | (x == 1), -1), as_float(x)),
        sample=_sample_raw,
        table=jax.nn.sigmoid,
        bias_kind="log_odds",
    )


class Bernoulli(Emission):
    """``K`` products of ``D`` independent Bernoullis, parameterised by ``logits [K, D]``.

    Args:
        num_states: ``K``.
        dim: ``D``.
        allow_missing: read the value 2 in observations as "missing" and marginalise it out
            (module docstring); otherwise a 2 is invalid data.
        rngs: random initial logits come from ``rngs.params()``;
            None leaves a deterministic placeholder (zeros), as ``from_*`` constructors do.
    """

    name = "bernoulli"
    config_fields = ("dim", "allow_missing")
    stored_sizes = (("dim", "logits", 1),)
    parameter_kinds = {"logits": "log_odds"}
    lsgm_form = "Bernoulli"

    def __init__(
        self, num_states: int, dim: int, allow_missing: bool = False, *, rngs: nnx.Rngs | None
    ):
        check_positive_int(num_states=num_states, dim=dim)
        if not isinstance(allow_missing, (bool, np.bool_)):
            raise ValueError(f"allow_missing must be True or False, got {allow_missing!r}.")
        self.num_states, self.dim = int(num_states), int(dim)
        self.allow_missing = bool(allow_missing)
        self.logits = nnx.Param(init_normal(rngs, (num_states, dim), 0.5))

    @classmethod
    def from_probs(cls, probs: npt.ArrayLike, allow_missing: bool = False) -> Bernoulli:
        """Model with ``probs [K, D]`` (``p(x_d = 1 | z = k)``, in [0, 1])."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2:
            raise ValueError(f"probs must have shape [K, D], got {probs.shape}.")
        bad = ~((probs >= 0) & (probs <= 1))
        if bad.any():
            pos = first(bad)
            raise ValueError(f"probs{index_str(pos)} = {probs[pos]} is not in [0, 1].")
        model = cls(probs.shape[0], probs.shape[1], allow_missing, rngs=None)
        p = jnp.asarray(probs)
        model.logits[...] = _logits(jnp.stack([p, 1 - p], -1))
        return model

    def probs(self) -> Array:
        """``[K, D]`` probabilities ``p(x_d = 1 | z = k)``."""
        return jax.nn.sigmoid(self.logits[...])

    def log_prob(self, x: Array) -> Array:
        return bernoulli_log_prob(self.logits[...], x, self.allow_missing)

    def m_step(self, x: Array, weights: Array, prior: BetaPrior | None = None) -> None:
        """``p[k, d] = sum_n w[n, k] x[n, d] / sum_n w[n, k]`` (MAP with a :class:`BetaPrior`);
        with missing values both sums run over the ``n`` where ``x[n, d]`` is observed."""
        prior = BetaPrior() if prior is None else prior
        self.logits[...] = _update(self.logits[...], x, weights, prior, self.allow_missing)

    def log_prior(self, prior: BetaPrior | None = None) -> Array:
        """``sum_{k,d} (alpha - 1) log p + (beta - 1) log(1 - p)`` (0 without a prior)."""
        if prior is None:
            return jnp.zeros(())
        logits = self.logits[...]
        log_pq = jnp.stack([jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)], -1)
        concentration = jnp.stack(jnp.broadcast_arrays(prior.alpha, prior.beta), -1)
        return dirichlet_log_density(log_pq, concentration)

    def n_parameters(self) -> int:
        return self.num_states * self.dim

    def check_data(self, x: np.ndarray, where: str) -> None:
        x = check_matrix(x, where, self.dim, "biuf", "0/1 values")
        check_finite(x, where)
        bad = (x != 0) & (x != 1)
        if self.allow_missing:
            bad &= x != MISSING
        if bad.any():
            pos = first(bad)
            if self.allow_missing:
                msg, fix = "is not 0, 1 or 2 (missing)", "binarise the data (x > 0)"
            else:
                msg, fix = (
                    "is not 0 or 1",
                    (
                        "binarise the data (x > 0); if 2 marks a missing value (ChromHMM's "
                        "binarized files), use Bernoulli(..., allow_missing=True)"
                    ),
                )
            fail(where, f"value {x[pos]} at {pos} {msg}", fix)

    def sample(self, key: Array, states: Array) -> Array:
        return _sample(key, self.logits[...], states)

    def summary(self) -> EmissionSummary:
        """The probabilities ``p(x_d = 1 | z = k)``."""
        return EmissionSummary(
            np.asarray(self.probs()),
            "bernoulli",
            "Emission probabilities P(x_d = 1 | state)",
            "P(x_d = 1 | state)",
        )

    def pattern_codes(self, x: Array) -> tuple[Array, Array] | None:
        """``(codes [...], patterns [V + 1, D])`` of observations ``x [..., D]``: the code of
        a row is ``sum_d x_d base^d`` (base 2, or 3 with missing values), ``V = base^D``; a
        row holding an invalid value gets code ``V``, whose pattern (all 3) scores NaN.
        None when ``V > MAX_PATTERNS``."""
        base, D = (3 if self.allow_missing else 2), self.dim
        if base**D > MAX_PATTERNS:
            return None
        x = jnp.asarray(x)
        ok = (x == 0) | (x == 1) | ((x == MISSING) & self.allow_missing)
        codes = _codes(jnp.where(ok, x, 0).reshape(-1, D), base).reshape(x.shape[:-1])
        codes = jnp.where(ok.all(-1), codes, base**D)
        invalid = jnp.full((1, D), MISSING + 1, jnp.int32)
        return codes, jnp.concatenate([_patterns(base, D).astype(jnp.int32), invalid])

    def network_head(self) -> NetworkHead:
        """Logits of the ``D`` probabilities."""
        return _network_head(self.dim, self.allow_missing)
