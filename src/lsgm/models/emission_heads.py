"""Emission families that a network can parameterise, for the LSGM (``DESIGN.md`` §3).

For a family the LSGM needs: the number ``P`` of raw outputs per state, how to read the
static parameters of an :class:`~lsgm.distributions.Emission` as a ``[K, P]`` bias, the
log-likelihood of ``x [T, ...]`` under time-varying raw parameters ``[T, K, P]``, how to feed
an observation to the RNN (``encode``: ``[T, ...] -> [T, D_in]``), and how to sample one
observation from ``[P]`` raw parameters. Invalid observations (a symbol out of range, a
value that is not 0/1, NaN/inf) become NaN rows in both ``log_prob`` and ``encode``, so under
``jax.jit`` they poison the result instead of being dropped.

Supported: :class:`~lsgm.distributions.Categorical` (logits; hard or soft symbols),
diagonal :class:`~lsgm.distributions.Gaussian` (means and log-variances) and
:class:`~lsgm.distributions.Bernoulli` (logits).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lsgm.distributions import (
    Bernoulli,
    Categorical,
    Gaussian,
    bernoulli_log_prob,
    categorical_log_prob,
    gaussian_diag_log_prob,
)
from lsgm.distributions.base import Emission
from lsgm.distributions.categorical import SOFT_ATOL

Array = jax.Array


class Family(NamedTuple):
    """How the LSGM parameterises one emission family with a network."""

    num_params: int  # P raw outputs per state
    input_dim: int  # size of one encoded observation (RNN input)
    bias: Callable[[Emission], Array]  # static [K, P] raw parameters of the emission
    log_prob: Callable[[Array, Array], Array]  # (raw [T, K, P], x [T, ...]) -> [T, K]
    encode: Callable[[Array], Array]  # x [T, ...] -> [T, input_dim]
    sample: Callable[[Array, Array], Array]  # (key, raw [P]) -> one observation


def _as_float(x) -> Array:
    return jnp.asarray(x, jnp.result_type(float))


def _poison_rows(valid: Array, encoded: Array) -> Array:
    """``encoded [T, D]`` with NaN rows where ``valid [T]`` is False: an invalid observation
    fed to the RNN under ``jit`` poisons every later feature (and so the likelihood) rather
    than reading as a valid input (e.g. the all-zero one-hot of an out-of-range symbol)."""
    return jnp.where(valid[:, None], encoded, jnp.nan)


# One Family object per (family, size): the LSGM keeps it as a static attribute, so models of
# the same configuration have equal graph definitions and share compiled functions.
@cache
def _categorical(M: int) -> Family:

    def encode(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.integer):
            # one_hot of an out-of-range symbol is a row of zeros: poison it instead
            return _poison_rows((x >= 0) & (x < M), jax.nn.one_hot(x, M))
        x = x.astype(jnp.result_type(float))
        valid = jnp.all(jnp.isfinite(x) & (x >= 0), -1) & (jnp.abs(x.sum(-1) - 1) <= SOFT_ATOL)
        return _poison_rows(valid, x)

    return Family(
        num_params=M,
        input_dim=M,
        bias=lambda em: em.logits[...],
        log_prob=lambda raw, x: categorical_log_prob(jax.nn.log_softmax(raw, axis=-1), x),
        encode=encode,
        sample=lambda key, raw: jax.random.categorical(key, raw).astype(jnp.int32),
    )


@cache
def _gaussian(D: int) -> Family:

    def sample(key, raw):
        return raw[:D] + jnp.exp(0.5 * raw[D:]) * jax.random.normal(key, (D,), raw.dtype)

    return Family(
        num_params=2 * D,
        input_dim=D,
        bias=lambda em: jnp.concatenate([em.loc[...], em.cov_params[...]], axis=-1),
        log_prob=lambda raw, x: gaussian_diag_log_prob(raw[..., :D], raw[..., D:], x),
        encode=lambda x: _poison_rows(jnp.all(jnp.isfinite(x), -1), _as_float(x)),
        sample=sample,
    )


@cache
def _bernoulli(D: int) -> Family:
    return Family(
        num_params=D,
        input_dim=D,
        bias=lambda em: em.logits[...],
        log_prob=bernoulli_log_prob,
        encode=lambda x: _poison_rows(jnp.all((x == 0) | (x == 1), -1), _as_float(x)),
        sample=lambda key, raw: jax.random.bernoulli(key, jax.nn.sigmoid(raw)).astype(raw.dtype),
    )


def family_of(emission: Emission) -> Family:
    """The :class:`Family` adapter of an emission instance.

    Raises:
        ValueError: for families an LSGM cannot parameterise (full/tied/spherical Gaussians,
            Poisson, mixtures), naming the supported ones.
    """
    if isinstance(emission, Categorical):
        return _categorical(emission.num_symbols)
    if isinstance(emission, Gaussian) and emission.covariance == "diag":
        return _gaussian(emission.dim)
    if isinstance(emission, Bernoulli):
        return _bernoulli(emission.dim)
    raise ValueError(
        f"an LSGM cannot use a {type(emission).__name__} emission"
        f"{' with covariance=' + repr(emission.covariance) if isinstance(emission, Gaussian) else ''}; "
        "use Categorical, Gaussian(covariance='diag') or Bernoulli."
    )
