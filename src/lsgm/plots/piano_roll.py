"""Piano rolls: which keys sound at each time step (e.g. the LSGM paper's music data)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, Normalize

from lsgm.plots._figure import as_float_array, fail, figure, output_path

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BLACK_KEYS = {1, 3, 6, 8, 10}  # pitch classes of the black keys


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note number (60 -> ``"C4"``, 21 -> ``"A0"``)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def plot_piano_roll(
    roll,
    path,
    *,
    lowest_note: int = 21,
    title: str | None = None,
    step_seconds: float | None = None,
) -> Path:
    """Keys × time image of a piano roll.

    Args:
        roll: ``[T, P]`` non-negative activity per step and key (0/1 notes, velocities or
            probabilities); column ``j`` is MIDI note ``lowest_note + j`` (``P = 88``: the
            piano, A0..C8).
        path: output file, ``.png`` or ``.svg``.
        lowest_note: MIDI number of column 0 (21 = A0); all ``P`` notes must be ``<= 127``.
        title: figure title (default ``"Piano roll"``).
        step_seconds: duration of one step; the time axis is then in seconds, else in steps.

    Black-key rows are shaded; the y axis names every C (``C4`` = MIDI 60). Non-binary rolls
    get a colour bar.
    """
    path = output_path(path)
    r = as_float_array(roll, "roll", 2, "[T, P]")
    if (r < 0).any():
        pos = tuple(int(i) for i in np.argwhere(r < 0)[0])
        fail("roll", f"entry {list(pos)} = {r[pos]:.6g} is negative", "pass activity >= 0")
    T, P = r.shape
    if isinstance(lowest_note, bool) or not isinstance(lowest_note, int | np.integer):
        fail("lowest_note", f"{lowest_note!r} is not an integer", "pass a MIDI note number")
    if not 0 <= lowest_note <= 127 or lowest_note + P - 1 > 127:
        fail(
            "lowest_note",
            f"notes {lowest_note}..{lowest_note + P - 1} leave the MIDI range 0..127",
            f"pass lowest_note in 0..{127 - P + 1} for {P} keys",
        )
    if step_seconds is not None and not (math.isfinite(step_seconds) and step_seconds > 0):
        fail("step_seconds", f"{step_seconds!r} is not a positive number", "pass e.g. 0.125")
    scale = 1.0 if step_seconds is None else float(step_seconds)
    pitches = lowest_note + np.arange(P)
    extent = (0.0, T * scale, lowest_note - 0.5, lowest_note + P - 0.5)
    top = float(r.max())
    binary = bool(np.isin(r, (0.0, 1.0)).all())
    width = float(np.clip(2.5 + 0.04 * T, 6.0, 16.0))
    height = float(np.clip(1.5 + 0.06 * P, 3.0, 9.0))
    with figure(path, width, height) as fig:
        ax = fig.add_subplot()
        black = np.isin(pitches % 12, list(BLACK_KEYS)).astype(float)[:, None]
        ax.imshow(
            black,
            cmap=ListedColormap(["white", "#ececec"]),
            vmin=0,
            vmax=1,
            aspect="auto",
            origin="lower",
            extent=extent,
            interpolation="nearest",
        )
        image = ax.imshow(
            np.ma.masked_equal(r.T, 0.0),
            # Blues without its near-white end, so faint notes stay visible on the keys
            cmap=ListedColormap(colormaps["Blues"](np.linspace(0.3, 1.0, 256))),
            norm=Normalize(0.0, max(top, 1e-12)),
            aspect="auto",
            origin="lower",
            extent=extent,
            interpolation="nearest" if T <= 4000 else "antialiased",
        )
        cs = pitches[pitches % 12 == 0]
        ax.set_yticks(cs, [note_name(int(p)) for p in cs])
        ax.set_ylabel("key")
        ax.set_xlabel("time (s)" if step_seconds is not None else "time step")
        ax.set_title(title or "Piano roll")
        if not binary:
            fig.colorbar(image, ax=ax, label="activity", fraction=0.04, pad=0.01)
    return path
