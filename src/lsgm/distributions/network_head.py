"""How the LSGM parameterises an emission family with a network (``DESIGN.md`` §3).

An LSGM's emission network emits ``P`` raw parameters per state and step, added to a
static bias; a family that an LSGM can use returns a :class:`NetworkHead` from
:meth:`~lsgm.distributions.base.Emission.network_head` saying what those raw parameters
mean. Invalid observations (a symbol out of range, a value that is not 0/1, NaN/inf) must
become NaN rows in both ``log_prob`` and ``encode``, so under ``jax.jit`` they poison the
result instead of being dropped (:func:`poison_rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class NetworkHead(NamedTuple):
    """One emission family as the LSGM's network sees it (``K`` states, ``P`` raw outputs).

    Attributes:
        num_params: ``P``, raw outputs per state.
        input_dim: size of one encoded observation (the RNN's input).
        bias: ``emission -> [K, P]``: the emission's static parameters as raw outputs, so an
            LSGM whose network outputs are zero equals the HMM with that emission.
        log_prob: ``(raw [T, K, P], x [T, ...]) -> [T, K]`` log-likelihoods.
        encode: ``x [T, ...] -> [T, input_dim]``, the RNN's input.
        sample: ``(key, raw [P]) -> one observation``.
        table: ``raw [..., P] -> [..., M]``: the values of the family's
            :meth:`~lsgm.distributions.base.Emission.summary` (probabilities, means, ...).
        bias_kind: what the raw outputs are, as in ``Emission.parameter_kinds``:
            ``"log_prob"``, ``"log_odds"``, ``"log_rate"`` or ``"real"``.
    """

    num_params: int
    input_dim: int
    bias: Callable[[Any], Array]  # the family's own Emission subclass -> [K, P]
    log_prob: Callable[[Array, Array], Array]
    encode: Callable[[Array], Array]
    sample: Callable[[Array, Array], Array]
    table: Callable[[Array], Array]
    bias_kind: str = "real"


def as_float(x: Array) -> Array:
    """``x`` in JAX's default float dtype."""
    return jnp.asarray(x, jnp.result_type(float))


def poison_rows(valid: Array, encoded: Array) -> Array:
    """``encoded [T, D]`` with NaN rows where ``valid [T]`` is False: an invalid observation
    fed to the RNN under ``jit`` poisons every later feature (and so the likelihood) rather
    than reading as a valid input (e.g. the all-zero one-hot of an out-of-range symbol)."""
    return jnp.where(valid[:, None], encoded, jnp.nan)
