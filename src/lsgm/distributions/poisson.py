"""Independent Poisson emissions for count vectors.

With rates ``lambda[k, d] = exp(log_rates[k, d])``:

    log p(x_t | z_t = k) = sum_d x_td log lambda[k, d] - lambda[k, d] - log x_td!
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.scipy.special import gammaln

from lsgm.distributions._common import (
    check_finite,
    check_matrix,
    check_positive_int,
    exact_log,
    fail,
    first,
    index_str,
    init_normal,
    safe_divide,
    seed_from_key,
)
from lsgm.distributions.base import Emission, EmissionSummary

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PoissonPrior:
    """hmmlearn ``PoissonHMM`` prior (``lambdas_prior`` alpha, ``lambdas_weight`` beta).

    hmmlearn shrinks each state's weighted mean ``ybar_k = S1_k / w_k`` towards
    ``alpha / beta`` with the *total* posterior mass ``n = sum_k w_k`` of all states:

        lambda_k = (alpha + n ybar_k) / (beta + n)

    (a Gamma(alpha, beta) posterior mean would use ``w_k`` instead of ``n``; we follow hmmlearn).
    This rule is the maximiser of no fixed prior density (``Poisson.log_prior`` is None), so
    EM with it monitors the log-likelihood alone and does not warn when that decreases.
    ``alpha = beta = 0`` (the default) is the MLE. Scalars or arrays broadcasting to ``[K, D]``.
    """

    lambdas_prior: float | Array = 0.0
    lambdas_weight: float | Array = 0.0


@jax.jit
def poisson_log_prob(log_rates: Array, x: Array) -> Array:
    """Log-likelihood of count vectors under independent Poissons.

    Args:
        log_rates: ``[K, D]`` or time-varying ``[T, K, D]``.
        x: ``[T, D]`` non-negative counts.

    Returns:
        ``[T, K]``: ``sum_d x log lambda - lambda - gammaln(x + 1)`` (``-inf`` for a count
        above 0 under a rate of exactly 0). A row is NaN where ``x_t`` holds a negative,
        non-integer or non-finite count: under ``jit`` invalid data poisons the result
        instead of being scored (eagerly, ``check_data`` raises first).
    """
    x = jnp.asarray(x, log_rates.dtype)
    # a NaN term inside the sum marks an invalid count (cheaper than a pass over the output)
    bad = jnp.where(jnp.isfinite(x) & (x >= 0) & (x == jnp.round(x)), 0.0, jnp.nan)
    x = x[:, None, :]
    # rate 0 (log_rates = -inf) with the count 0 is log 1 = 0, not 0 * -inf = NaN
    x_log_rate = jnp.where(x > 0, x * log_rates, 0.0)
    log_factorial = jnp.where(x <= 1, 0.0, gammaln(x + 1))  # 0! = 1! = 1 exactly
    terms = x_log_rate - jnp.exp(log_rates) - log_factorial + bad[:, None, :]
    return jnp.sum(terms, axis=-1)


@jax.jit
def _update(log_rates: Array, x: Array, weights: Array, prior: PoissonPrior | None) -> Array:
    """:class:`Poisson` M-step on the log-rates."""
    old = jnp.exp(log_rates)
    weights = jnp.asarray(weights, old.dtype)
    post = weights.sum(0)[:, None]  # [K, 1]
    ybar = safe_divide(weights.T @ jnp.asarray(x, old.dtype), post, old)
    if prior is not None:
        n = post.sum()
        ybar = (prior.lambdas_prior + n * ybar) / (prior.lambdas_weight + n)
    return exact_log(ybar)


@jax.jit
def _sample(key: Array, log_rates: Array, states: Array) -> Array:
    return jax.random.poisson(key, jnp.exp(log_rates[states]))


class Poisson(Emission):
    """``K`` products of ``D`` independent Poissons, parameterised by ``log_rates [K, D]``.

    Args:
        num_states: ``K``.
        dim: ``D``.
        rngs: random initial log-rates (standard normal) come from ``rngs.params()``;
            None leaves a deterministic placeholder (zeros), as ``from_*`` constructors do.
    """

    name = "poisson"
    config_fields = ("dim",)
    stored_sizes = (("dim", "log_rates", 1),)
    parameter_kinds = {"log_rates": "log_rate"}

    def __init__(self, num_states: int, dim: int, *, rngs: nnx.Rngs | None):
        check_positive_int(num_states=num_states, dim=dim)
        self.num_states, self.dim = int(num_states), int(dim)
        self.log_rates = nnx.Param(init_normal(rngs, (num_states, dim)))

    @classmethod
    def from_rates(cls, rates: npt.ArrayLike) -> Poisson:
        """Model with ``rates [K, D]`` (non-negative)."""
        rates = np.asarray(rates, dtype=np.float64)
        if rates.ndim != 2:
            raise ValueError(f"rates must have shape [K, D], got {rates.shape}.")
        bad = ~(np.isfinite(rates) & (rates >= 0))
        if bad.any():
            pos = first(bad)
            raise ValueError(f"rates{index_str(pos)} = {rates[pos]} is not a finite rate >= 0.")
        model = cls(*rates.shape, rngs=None)
        model.log_rates[...] = exact_log(jnp.asarray(rates))
        return model

    def rates(self) -> Array:
        """``[K, D]`` Poisson rates."""
        return jnp.exp(self.log_rates[...])

    def log_prob(self, x: Array) -> Array:
        return poisson_log_prob(self.log_rates[...], x)

    def m_step(self, x: Array, weights: Array, prior: PoissonPrior | None = None) -> None:
        """hmmlearn's PoissonHMM update (see :class:`PoissonPrior`); ``ybar_k`` without one."""
        self.log_rates[...] = _update(self.log_rates[...], x, weights, prior)

    def n_parameters(self) -> int:
        return self.num_states * self.dim

    def check_data(self, x: np.ndarray, where: str) -> None:
        x = check_matrix(x, where, self.dim, "iuf", "counts")
        check_finite(x, where)
        if x.dtype.kind == "f" and (x != np.round(x)).any():
            pos = first(x != np.round(x))
            fail(where, f"count {x[pos]} at {pos} is not an integer", "pass integer counts")
        if (x < 0).any():
            pos = first(x < 0)
            fail(where, f"negative count {x[pos]} at {pos}", "Poisson data must be counts >= 0")
        largest = 2 ** (jnp.finfo(self.log_rates[...].dtype).nmant + 1)  # 2**24 in float32
        if (x > largest).any():
            pos = first(x > largest)
            fail(
                where,
                f"count {x[pos]} at {pos} is above {largest}, the largest count whose "
                f"log-probability {self.log_rates[...].dtype} computes exactly",
                "scale the counts down, or enable 64-bit JAX (jax.config.update("
                "'jax_enable_x64', True)) before building the model",
            )

    def sample(self, key: Array, states: Array) -> Array:
        return _sample(key, self.log_rates[...], states)

    def summary(self) -> EmissionSummary:
        """The rates ``lambda[k, d]``."""
        return EmissionSummary(
            np.asarray(self.rates()), "poisson", "Emission rates per state", "rate"
        )

    def initialize(self, x: np.ndarray, key: Array) -> None:
        """Random rates by the method of moments on all counts (as hmmlearn):
        ``Gamma(shape = mean^2 / var, scale = var / mean)``."""
        x = np.asarray(x, dtype=np.float64)
        self.check_data(x, "initialize data")
        mean, var = x.mean(), x.var()
        if mean <= 0 or var <= 0:
            raise ValueError("initialize needs counts with positive mean and variance.")
        rng = np.random.default_rng(seed_from_key(key))
        rates = rng.gamma(mean**2 / var, var / mean, size=(self.num_states, self.dim))
        self.log_rates[...] = exact_log(jnp.asarray(rates, self.log_rates[...].dtype))
