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


#: Colours of states in BED ``itemRgb`` (``"r,g,b"``): matplotlib's ``tab10`` palette, then
#: its ``tab20`` light shades; state ``k`` gets colour ``k`` (cycling after 20 states).
STATE_COLOURS = (
    "31,119,180",
    "255,127,14",
    "44,160,44",
    "214,39,40",
    "148,103,189",
    "140,86,75",
    "227,119,194",
    "127,127,127",
    "188,189,34",
    "23,190,207",
    "174,199,232",
    "255,187,120",
    "152,223,138",
    "255,152,150",
    "197,176,213",
    "196,156,148",
    "247,182,210",
    "199,199,199",
    "219,219,141",
    "158,218,229",
)


def state_colours(state_names: Sequence[str]) -> dict[str, str]:
    """``{name: "r,g,b"}``: state ``k`` gets :data:`STATE_COLOURS` ``[k % 20]``."""
    return {n: STATE_COLOURS[k % len(STATE_COLOURS)] for k, n in enumerate(state_names)}


def sort_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Intervals in the order genome tools expect (``sort -k1,1 -k2,2n``, what ``bedtools``
    and ``bedToBigBed`` need): by ``chrom`` (as text), then ``start``, then ``end``."""
    return sorted(intervals, key=lambda iv: (iv.chrom, iv.start, iv.end))


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def format_bed(
    intervals: Iterable[Interval],
    colours: dict[str, str] | None = None,
    track: str | None = None,
) -> str:
    """BED text, one interval a line: BED6 (``chrom start end name score strand``), or with
    ``colours`` (``{name: "r,g,b"}``, e.g. :func:`state_colours`) BED9, adding ``thickStart
    thickEnd itemRgb`` (thick = the whole interval). ``track`` adds a first line ``track
    name="TRACK" itemRgb="On"`` (genome browsers then draw the colours)."""
    lines = []
    if track is not None:
        lines.append(f"track name={_quote(track)}" + (' itemRgb="On"' if colours else "") + "\n")
    for iv in intervals:
        if iv.start < 0 or iv.end <= iv.start:
            raise ValueError(f"invalid BED interval {iv}: need 0 <= start < end.")
        score = 0 if iv.score is None else iv.score
        row = f"{iv.chrom}\t{iv.start}\t{iv.end}\t{iv.name}\t{score:g}\t{iv.strand}"
        if colours is not None:
            row += f"\t{iv.start}\t{iv.end}\t{colours.get(iv.name, '0,0,0')}"
        lines.append(row + "\n")
    return "".join(lines)


def value_runs(values, decimals: int = 4) -> list[tuple[int, int, float]]:
    """Maximal runs ``(start, end, value)`` of ``values [T]`` rounded to ``decimals`` decimal
    places (a bedGraph line per run rather than per step; posteriors are in ``[0, 1]``). NaN
    is an error.

    >>> value_runs([0.10001, 0.1, 0.5])
    [(0, 2, 0.1), (2, 3, 0.5)]
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1:
        raise ValueError(f"a track must be 1-D; got shape {values.shape}.")
    if np.isnan(values).any():
        raise ValueError(
            f"a track holds NaN at position {int(np.flatnonzero(np.isnan(values))[0])}."
        )
    rounded = np.round(values, decimals) + 0.0  # + 0.0: no -0.0
    return [(a, b, float(rounded[a])) for a, b, _ in runs(_run_ids(rounded))]


def _run_ids(values: np.ndarray) -> np.ndarray:
    """An integer per step that changes exactly where ``values`` changes."""
    if values.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(values[1:] != values[:-1])])


def track_rows(
    tracks: Iterable[tuple[str, int, np.ndarray]], decimals: int = 4, step: int = 1
) -> list[tuple[str, int, int, float]]:
    """``(chrom, start, end, value)`` rows of ``tracks`` (``(chrom, offset, values [T])``:
    step ``t`` covers bases ``[(offset + t)·step, (offset + t + 1)·step)``; ``step`` > 1 for
    binned data, e.g. 200 for ChromHMM's bins), runs of equal values (to ``decimals`` decimal
    places) merged, sorted by chrom and start (as bedGraph and bigWig need)."""
    return sorted(
        (chrom, (offset + a) * step, (offset + b) * step, v)
        for chrom, offset, values in tracks
        for a, b, v in value_runs(values, decimals)
    )


def format_bedgraph(
    tracks: Iterable[tuple[str, int, np.ndarray]], name: str, decimals: int = 4, step: int = 1
) -> str:
    """bedGraph text of ``tracks`` (:func:`track_rows`) under a ``track type=bedGraph
    name="NAME"`` line."""
    lines = [f"track type=bedGraph name={_quote(name)}\n"]
    lines += [f"{c}\t{a}\t{b}\t{v:g}\n" for c, a, b, v in track_rows(tracks, decimals, step)]
    return "".join(lines)


def read_bed(path) -> list[Interval]:
    """The intervals of a BED file (plain or gzip): ``chrom start end`` (0-based, half-open)
    and the optional ``name``, ``score`` and ``strand`` columns; ``track``, ``browser``,
    ``#`` and blank lines are skipped. A malformed line is a ``ValueError`` naming the file,
    the line and the fix."""
    from pathlib import Path

    from lsgm.data.fasta import decode_error_message, open_text

    path = Path(path)
    out = []
    try:
        with open_text(path) as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                out.append(_bed_line(line, f"{path}, line {number}"))
    except UnicodeDecodeError as err:
        raise ValueError(decode_error_message(path, err) + " Is this a BED file?") from err
    return out


def _bed_line(line: str, where: str) -> Interval:
    cols = line.split("\t")
    if len(cols) < 3:
        raise ValueError(
            f"{where}: {len(cols)} tab-separated columns; BED needs at least chrom, start, end."
        )
    chrom, start, end = cols[0], cols[1], cols[2]
    if not (start.isdigit() and end.isdigit()) or int(end) <= int(start):
        raise ValueError(
            f"{where}: start {start!r} and end {end!r} must be integers with 0 <= start < end "
            "(BED is 0-based, half-open)."
        )
    name = cols[3] if len(cols) > 3 else ""
    score = None
    if len(cols) > 4 and cols[4] != ".":
        try:
            score = float(cols[4])
        except ValueError:
            raise ValueError(f"{where}: score {cols[4]!r} is not a number or '.'.") from None
    strand = cols[5] if len(cols) > 5 else "."
    if strand not in ("+", "-", "."):
        raise ValueError(f"{where}: strand {strand!r} must be +, - or '.'.")
    return Interval(chrom, int(start), int(end), name, score, strand)


def write_bed(path, intervals: Iterable[Interval]) -> None:
    """Write intervals as BED6, atomically."""
    atomic_write_text(path, format_bed(intervals))
