"""Which parameter values are valid, checked at save, at load and after every fitting step.

The rule, written once here (:func:`parameter_problems`):

* ``NaN`` is never valid, nor ``+inf`` (except in log-odds, below);
* ``-inf`` is valid only in *log-probability* parameters (:data:`LOG_PROBABILITY`): the
  initial and transition logits of an HMM/LSGM, and the emission parameters that their
  family's ``parameter_kinds`` calls ``"log_prob"`` (a categorical emission's logits, a
  mixture's weight logits; an LSGM's ``emission_bias`` when its family's network head says
  ``bias_kind="log_prob"``, as the categorical's does), all of them ``log_softmax``-ed along
  their last axis, so ``-inf`` is an exact zero probability;
* ``-inf`` and ``+inf`` are valid in *log-odds* (``"log_odds"``: a Bernoulli emission's
  logits, an LSGM's ``emission_bias`` with a Bernoulli emission): ``p = 0`` and ``p = 1``
  exactly, as the Bernoulli M-step stores them;
* a log-probability row (last axis; for transition logits the entries the
  ``transition_mask`` allows) may not be all ``-inf``: it would hold no probability mass;
* ``-inf`` is valid in *log-rates* (``"log_rate"``: a Poisson emission's ``log_rates``):
  a rate of exactly 0;
* means, variance/scale parameters and network weights must be finite.

A parameter is identified by the module that holds it and its attribute name, so a
``logits`` attribute is a log-probability table in a :class:`~lsgm.distributions.Categorical`
(its ``parameter_kinds``) and not elsewhere; everything not listed must be finite.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from lsgm.distributions import Emission

#: ``(module type or None = any module, attribute name)`` of log-probability parameters,
#: normalised (``log_softmax``) along their last axis: ``-inf`` allowed, no all-``-inf`` row.
#: (An emission family declares its own in ``Emission.parameter_kinds``.)
LOG_PROBABILITY: tuple[tuple[type | None, str], ...] = (
    (None, "initial_logits"),
    (None, "transition_logits"),
)


class InvalidParametersError(ValueError):
    """A model holds NaN, ``+inf``, a misplaced ``-inf`` or an all-zero probability row."""


class FitDivergedError(ValueError):
    """A fit diverged: its loss or its parameters became non-finite (or absurd)."""


def _matches(table: tuple[tuple[type | None, str], ...], parent: object, name: str) -> bool:
    return any(n == name and (t is None or isinstance(parent, t)) for t, n in table)


def parameter_kind(parent: object, name: str) -> str:
    """``"log_prob"``, ``"log_odds"``, ``"log_rate"`` or ``"real"`` for the attribute ``name``
    of ``parent``."""
    if name == "emission_bias":  # an LSGM's static emission parameters: as its family's head
        emission = getattr(parent, "emission", None)
        head = emission.network_head() if isinstance(emission, Emission) else None
        return "real" if head is None else head.bias_kind
    if isinstance(parent, Emission):
        return parent.parameter_kinds.get(name, "real")
    if _matches(LOG_PROBABILITY, parent, name):
        return "log_prob"
    return "real"


def _child(node, key):
    if isinstance(key, int):
        return node[key]
    return getattr(node, str(key))


def _where(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)
    first = tuple(int(i) for i in idx[0]) if idx.size else ()
    more = f" and {len(idx) - 1} more" if len(idx) > 1 else ""
    return f"at {first}{more}" if first else ""


def parameter_problems(model: nnx.Module) -> list[str]:
    """Every violation of the module docstring's rule in ``model``'s floating-point
    variables, one line each (``"emission/loc holds NaN at (0, 1)"``); empty when valid."""
    problems = []
    for path, variable in nnx.to_flat_state(nnx.state(model)):
        value = variable.get_value() if hasattr(variable, "get_value") else variable.value
        if not hasattr(value, "dtype") or not jax.numpy.issubdtype(value.dtype, np.floating):
            continue
        a = np.asarray(jax.device_get(value))
        name = "/".join(str(k) for k in path)
        parent: object = model
        try:
            for key in path[:-1]:
                parent = _child(parent, key)
        except (AttributeError, IndexError, KeyError, TypeError):
            parent = None
        kind = parameter_kind(parent, str(path[-1]))
        if np.isnan(a).any():
            problems.append(f"{name} holds NaN {_where(np.isnan(a))}")
        if kind != "log_odds" and np.isposinf(a).any():
            problems.append(f"{name} holds +inf {_where(np.isposinf(a))}")
        if kind == "real" and np.isneginf(a).any():
            problems.append(
                f"{name} holds -inf {_where(np.isneginf(a))} (only log-probabilities may)"
            )
        if kind == "log_prob" and a.size and not np.isnan(a).any():
            effective = a
            mask = getattr(parent, "transition_mask", None)
            if str(path[-1]) == "transition_logits" and mask is not None:
                allowed = np.asarray(mask[...], bool)
                try:
                    effective = np.where(allowed, a, -np.inf)
                except ValueError:  # shapes that do not broadcast: the plain rows
                    effective = a
            rows = np.all(np.isneginf(np.atleast_1d(effective)), axis=-1)
            if np.any(rows):
                first = tuple(int(i) for i in np.argwhere(rows)[0])
                row = first[0] if len(first) == 1 else first
                where = "" if effective.ndim <= 1 else f" (row {row})"
                problems.append(f"{name} is -inf everywhere{where}: no probability mass")
    return problems


def check_parameters(model: nnx.Module, where: str) -> None:
    """Raise :class:`InvalidParametersError` (``where``: what to name, e.g. the file) when
    :func:`parameter_problems` finds any."""
    problems = parameter_problems(model)
    if problems:
        if len(problems) > 6:
            problems = problems[:6] + [f"... and {len(problems) - 6} more"]
        raise InvalidParametersError(f"{where}: invalid model parameters: {'; '.join(problems)}.")


#: A train NLL per step this many times (at least 1 nat) above the best so far: diverged.
NLL_RISE_FACTOR = 100.0


__all__ = [
    "LOG_PROBABILITY",
    "NLL_RISE_FACTOR",
    "FitDivergedError",
    "InvalidParametersError",
    "check_parameters",
    "parameter_kind",
    "parameter_problems",
]
