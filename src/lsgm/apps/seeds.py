"""Repeating an experiment over seeds: mean ± sample standard deviation of its numbers.

The experiment protocol (``docs/experiments/README.md``, rule 3) reports every headline
number as a mean ± SD over at least three seeds. For values ``v_1 .. v_S`` of one metric over
``S`` seeds

    mean = (1 / S) sum_s v_s,    SD = sqrt( sum_s (v_s - mean)^2 / (S - 1) )   (ddof = 1),

and no SD (``None``) for a single seed. The experiments share these helpers so that a table
of any of them reads the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def check_seeds(seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list of distinct non-negative ints; a ``ValueError`` naming them
    otherwise."""
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out) or min(out) < 0:
        raise ValueError(f"seeds must be distinct, non-negative and at least one; got {out}.")
    return out


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``ddof=1``) of ``[S]`` values; the SD is ``None``
    for one value. NaN in the values is a ``ValueError`` (a diverged run is not a number)."""
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"mean_sd needs a non-empty list of numbers; got shape {v.shape}.")
    if np.isnan(v).any():
        raise ValueError(f"mean_sd got NaN among {v.tolist()}: a run diverged; rerun or drop it.")
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def summarise(rows: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, float | None]:
    """``{key: mean, key + "_sd": SD}`` over the per-seed ``rows`` for each of ``keys``
    (:func:`mean_sd`)."""
    out: dict[str, float | None] = {}
    for key in keys:
        out[key], out[key + "_sd"] = mean_sd([r[key] for r in rows])
    return out


def mean_sd_text(mean: float, sd: float | None, digits: int = 3) -> str:
    """``"0.618 ± 0.012"`` (the mean alone when ``sd`` is ``None``: one seed)."""
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


__all__ = ["check_seeds", "mean_sd", "mean_sd_text", "summarise"]
