"""Pieces shared by the fitters: which parts can be frozen, progress bars, argument checks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

import numpy as np
from flax import nnx
from flax.nnx.filterlib import Filter
from tqdm.auto import tqdm

#: The parts of an HMM-like model that a fitter can keep fixed.
PARTS = ("initial", "transition", "emission")

T = TypeVar("T")


def check_freeze(freeze: str | Iterable[str] | None) -> frozenset[str]:
    """Validate a ``freeze`` argument (a name or an iterable of names from :data:`PARTS`)."""
    names = {freeze} if isinstance(freeze, str) else set(freeze or ())
    unknown = names - set(PARTS)
    if unknown:
        raise ValueError(f"cannot freeze {sorted(unknown)}; choose from {list(PARTS)}.")
    return frozenset(names)


def progress(iterable: Iterable[T], desc: str, show: bool) -> Iterable[T]:
    """A tqdm progress bar when ``show``, else the iterable itself."""
    return tqdm(iterable, desc=desc, leave=False) if show else iterable


def int_at_least(name: str, value: object, low: int) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool) ``>= low``, else a
    ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_real(name: str, value: object, *, positive: bool) -> float:
    """``value`` as a ``float`` when it is a finite real number ``> 0`` (``positive``) or
    ``>= 0``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and (number > 0 if positive else number >= 0):
            return number
        value = number  # the message shows the number as a float
    bound = "> 0" if positive else ">= 0"
    raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")


def params_except(frozen: Filter | None = None) -> Filter:
    """The NNX filter of the parameters a fit updates: every ``nnx.Param`` but those matched
    by ``frozen`` (None: all of them)."""
    return nnx.Param if frozen is None else nnx.All(nnx.Param, nnx.Not(frozen))
