"""State paths ⇄ intervals, and BED output.

A decoded path ``[T]`` of state indices becomes maximal runs of equal labels; the runs of
chosen states are written as BED (0-based, half-open ``[start, end)`` intervals, as the UCSC
format defines). Coordinates can be shifted by a window's offset on its chromosome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from lsgm.data.files import atomic_write_text


class Interval(NamedTuple):
    """``[start, end)`` (0-based, half-open) on ``chrom`` with a ``name`` (the state's)."""

    chrom: str
    start: int
    end: int
    name: str
    score: float | None = None
    strand: str = "."


def runs(labels) -> list[tuple[int, int, int]]:
    """Maximal runs ``(start, end, label)`` of a 1-D label array (``end`` exclusive).

    >>> runs([0, 0, 1, 1, 1, 0])
    [(0, 2, 0), (2, 5, 1), (5, 6, 0)]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"a state path must be 1-D; got shape {labels.shape}.")
    if labels.size == 0:
        return []
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [labels.size]])
    return [(int(s), int(e), int(labels[s])) for s, e in zip(starts, ends, strict=True)]


def path_to_intervals(
    path,
    chrom: str,
    state_names: Sequence[str],
    keep: Iterable[str] | None = None,
    offset: int = 0,
) -> list[Interval]:
    """Intervals of the runs of ``path [T]`` whose state name is in ``keep`` (all if None).

    Args:
        path: decoded states (ints in ``[0, K)``); ``-1`` (padding) is not allowed.
        chrom: the sequence name written in the BED ``chrom`` column.
        state_names: ``K`` names; runs are named by state. Consecutive runs of states with
            the same name (e.g. the 4 "island" states of a dinucleotide HMM) are merged.
        keep: names to output (default: every state).
        offset: added to every coordinate (the window's start on ``chrom``).
    """
    path = np.asarray(path)
    names = list(state_names)
    if path.size and (path.min() < 0 or path.max() >= len(names)):
        bad = int(path[(path < 0) | (path >= len(names))][0])
        raise ValueError(
            f"state {bad} in the path has no name: {len(names)} state names were given."
        )
    named = np.asarray([names.index(names[s]) for s in range(len(names))])[path]  # merge same names
    keep = set(names) if keep is None else set(keep)
    unknown = keep - set(names)
    if unknown:
        raise ValueError(f"unknown state names {sorted(unknown)}; the states are {names}.")
    return [
        Interval(chrom, start + offset, end + offset, names[label])
        for start, end, label in runs(named)
        if names[label] in keep
    ]


def format_bed(intervals: Iterable[Interval]) -> str:
    """BED6 text (``chrom start end name score strand``), one interval a line."""
    lines = []
    for iv in intervals:
        if iv.start < 0 or iv.end <= iv.start:
            raise ValueError(f"invalid BED interval {iv}: need 0 <= start < end.")
        score = 0 if iv.score is None else iv.score
        lines.append(f"{iv.chrom}\t{iv.start}\t{iv.end}\t{iv.name}\t{score:g}\t{iv.strand}\n")
    return "".join(lines)


def write_bed(path, intervals: Iterable[Interval]) -> None:
    """Write intervals as BED6, atomically."""
    atomic_write_text(path, format_bed(intervals))
