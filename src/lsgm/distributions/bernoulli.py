"""Independent multivariate Bernoulli emissions (binary feature vectors, e.g. piano rolls).

With ``p[k, d] = sigmoid(logits[k, d])``:

    log p(x_t | z_t = k) = sum_d x_td log p[k, d] + (1 - x_td) log(1 - p[k, d])
"""

from __future__ import annotations

import dataclasses
from functools import cache

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


@jax.jit
def bernoulli_log_prob(logits: Array, x: Array) -> Array:
    """Log-likelihood of binary vectors under independent Bernoullis.

    Args:
        logits: ``[K, D]`` or time-varying ``[T, K, D]``, ``logit p = log p - log(1 - p)``.
        x: ``[T, D]`` with values in {0, 1}.

    Returns:
        ``[T, K]``: ``sum_d x log sigmoid(l) + (1 - x) log sigmoid(-l)`` (``-inf`` where a
        probability is exactly 0, i.e. an infinite logit). A row is NaN where ``x_t`` holds
        a value other than 0 or 1 (NaN included): under ``jit`` invalid data poisons the
        result instead of being scored (eagerly, ``check_data`` raises first).
    """
    x = jnp.asarray(x, logits.dtype)
    log_p, log_q = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    # a value other than 0/1 becomes NaN, which poisons its row
    x = jnp.where((x == 0) | (x == 1), x, jnp.nan)
    if logits.ndim == 2:
        return _static_log_prob(log_p, log_q, x)
    return _select_sum(log_p, log_q, x)


#: Up to this many dimensions a shared-table log-likelihood looks rows up in a table of all
#: ``2^D`` binary patterns (ChromHMM's 10 marks: 1,024 rows) instead of multiplying.
PATTERN_TABLE_MAX_DIM = 12


def _static_log_prob(log_p: Array, log_q: Array, x: Array) -> Array:
    """Shared ``[K, D]`` tables, ``x [T, D]`` in {0, 1} or NaN (invalid).

    ``D <= PATTERN_TABLE_MAX_DIM``: every row is one of ``2^D`` patterns, so the ``[2^D, K]``
    table of their log-likelihoods (the select-and-sum below, on the patterns) is built once
    and each row looks its pattern up: a gather instead of a ``[T, K, D]`` pass (≈ 10× faster
    on one CPU core for 10 marks and 15 states; the same numbers). Larger ``D``: the select
    and sum on the rows themselves."""
    D = x.shape[-1]
    if D > PATTERN_TABLE_MAX_DIM:
        return _select_sum(log_p, log_q, x)
    bits = jnp.arange(D, dtype=jnp.int32)
    patterns = ((jnp.arange(2**D, dtype=jnp.int32)[:, None] >> bits) & 1).astype(x.dtype)
    table = _select_sum(log_p, log_q, patterns)  # [2^D, K]
    code = jnp.sum(jnp.where(x > 0, 1, 0) << bits, axis=-1)  # NaN (invalid) reads as 0 ...
    bad = jnp.isnan(x).any(-1)  # ... and poisons its row here
    return jnp.where(bad[:, None], jnp.nan, table[code])


def _select_sum(log_p: Array, log_q: Array, x: Array) -> Array:
    """``[T, K]`` ``sum_d (x_d ? log_p : log_q)`` (a select, not ``x log_p + (1 - x) log_q``:
    an exact 0 or 1 probability gives an infinite log, and ``0 * -inf`` would be NaN); a NaN
    ``x_d`` (invalid value) makes its row NaN."""
    bad = jnp.where(jnp.isnan(x), jnp.nan, 0.0)[:, None, :]
    return jnp.sum(jnp.where(x[:, None, :] > 0, log_p, log_q) + bad, axis=-1)


def _logits(p_and_q: Array) -> Array:
    """Logits from ``[..., 2]`` pairs ``(p, 1 - p)`` (accurate near 0 and 1; ``-inf`` / ``+inf``
    at 0 / 1, exact zeros)."""
    return exact_log(p_and_q[..., 0]) - exact_log(p_and_q[..., 1])


@jax.jit
def _update(logits: Array, x: Array, weights: Array, prior: BetaPrior) -> Array:
    """:class:`Bernoulli` M-step on the logits."""
    old = jax.nn.sigmoid(logits)
    weights = jnp.asarray(weights, old.dtype)
    ones = weights.T @ jnp.asarray(x, old.dtype)  # [K, D]
    zeros = weights.sum(0)[:, None] - ones
    concentration = jnp.stack(jnp.broadcast_arrays(prior.alpha, prior.beta), -1)
    fallback = jnp.stack([old, 1 - old], -1)
    return _logits(dirichlet_map(jnp.stack([ones, zeros], -1), concentration, fallback))


@jax.jit
def _sample(key: Array, logits: Array, states: Array) -> Array:
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits[states])).astype(int)


@cache
def _network_head(D: int) -> NetworkHead:
    """The LSGM's head over ``D`` binary features: raw outputs are logits (log-odds)."""
    return NetworkHead(
        num_params=D,
        input_dim=D,
        bias=lambda em: em.logits[...],
        log_prob=bernoulli_log_prob,
        encode=lambda x: poison_rows(jnp.all((x == 0) | (x == 1), -1), as_float(x)),
        sample=lambda key, raw: jax.random.bernoulli(key, jax.nn.sigmoid(raw)).astype(raw.dtype),
        table=jax.nn.sigmoid,
        bias_kind="log_odds",
    )


class Bernoulli(Emission):
    """``K`` products of ``D`` independent Bernoullis, parameterised by ``logits [K, D]``.

    Args:
        num_states: ``K``.
        dim: ``D``.
        rngs: random initial logits come from ``rngs.params()``;
            None leaves a deterministic placeholder (zeros), as ``from_*`` constructors do.
    """

    name = "bernoulli"
    config_fields = ("dim",)
    stored_sizes = (("dim", "logits", 1),)
    parameter_kinds = {"logits": "log_odds"}
    lsgm_form = "Bernoulli"

    def __init__(self, num_states: int, dim: int, *, rngs: nnx.Rngs | None):
        check_positive_int(num_states=num_states, dim=dim)
        self.num_states, self.dim = int(num_states), int(dim)
        self.logits = nnx.Param(init_normal(rngs, (num_states, dim), 0.5))

    @classmethod
    def from_probs(cls, probs: npt.ArrayLike) -> Bernoulli:
        """Model with ``probs [K, D]`` (``p(x_d = 1 | z = k)``, in [0, 1])."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2:
            raise ValueError(f"probs must have shape [K, D], got {probs.shape}.")
        bad = ~((probs >= 0) & (probs <= 1))
        if bad.any():
            pos = first(bad)
            raise ValueError(f"probs{index_str(pos)} = {probs[pos]} is not in [0, 1].")
        model = cls(*probs.shape, rngs=None)
        p = jnp.asarray(probs)
        model.logits[...] = _logits(jnp.stack([p, 1 - p], -1))
        return model

    def probs(self) -> Array:
        """``[K, D]`` probabilities ``p(x_d = 1 | z = k)``."""
        return jax.nn.sigmoid(self.logits[...])

    def log_prob(self, x: Array) -> Array:
        return bernoulli_log_prob(self.logits[...], x)

    def m_step(self, x: Array, weights: Array, prior: BetaPrior | None = None) -> None:
        """``p[k, d] = sum_n w[n, k] x[n, d] / sum_n w[n, k]`` (MAP with a :class:`BetaPrior`)."""
        prior = BetaPrior() if prior is None else prior
        self.logits[...] = _update(self.logits[...], x, weights, prior)

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
        if bad.any():
            pos = first(bad)
            fail(where, f"value {x[pos]} at {pos} is not 0 or 1", "binarise the data (x > 0)")

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

    def network_head(self) -> NetworkHead:
        """Logits of the ``D`` probabilities."""
        return _network_head(self.dim)
