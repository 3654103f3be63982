"""Pieces shared by the fitters: which parts can be frozen, progress bars."""

from __future__ import annotations

from collections.abc import Iterable

from tqdm.auto import tqdm

#: The parts of an HMM-like model that a fitter can keep fixed.
PARTS = ("initial", "transition", "emission")


def check_freeze(freeze) -> frozenset[str]:
    """Validate a ``freeze`` argument (a name or an iterable of names from :data:`PARTS`)."""
    names = {freeze} if isinstance(freeze, str) else set(freeze or ())
    unknown = names - set(PARTS)
    if unknown:
        raise ValueError(f"cannot freeze {sorted(unknown)}; choose from {list(PARTS)}.")
    return frozenset(names)


def progress(iterable: Iterable, desc: str, show: bool):
    """A tqdm progress bar when ``show``, else the iterable itself."""
    return tqdm(iterable, desc=desc, leave=False) if show else iterable
