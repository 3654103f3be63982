"""Sequence logos of position weight matrices (drawn by logomaker)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lsgm.plots._figure import as_float_array, check_rows_sum_to_one, fail, figure, output_path

NUCLEOTIDES = set("ACGTU")
AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWY")


def logo_heights(pwm, alphabet: str = "ACGT", information: bool = True) -> np.ndarray:
    """``[L, M]`` letter heights of a logo.

    With ``information=True`` (bits, uniform background):
    ``h[l, m] = p[l, m] · IC_l`` with ``IC_l = log2 M - H_l`` and
    ``H_l = -sum_m p[l, m] log2 p[l, m]`` (``0 log 0 = 0``); otherwise ``h = p``.
    """
    import logomaker
    import pandas as pd  # logomaker's matrix type; imported with it only when logos are drawn

    p = _check_pwm(pwm, alphabet)
    if not information:
        return p
    frame = pd.DataFrame(p, columns=list(alphabet))
    heights = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    return heights.to_numpy(dtype=np.float64)


def _check_pwm(pwm, alphabet: str) -> np.ndarray:
    if not isinstance(alphabet, str) or len(alphabet) < 2:
        fail("alphabet", f"{alphabet!r} is not a string of at least 2 letters", "pass e.g. 'ACGT'")
    if len(set(alphabet)) != len(alphabet):
        fail("alphabet", f"{alphabet!r} repeats a letter", "list each letter once")
    p = as_float_array(pwm, "pwm", 2, f"[L, {len(alphabet)}]")
    if p.shape[1] != len(alphabet):
        fail(
            "pwm",
            f"has {p.shape[1]} columns but the alphabet {alphabet!r} has {len(alphabet)} letters",
            "pass one column per letter (or the matching alphabet)",
        )
    return check_rows_sum_to_one(p, "pwm", "row (position)")


def _colours(alphabet: str):
    if set(alphabet.upper()) <= NUCLEOTIDES:
        return "classic"
    if set(alphabet.upper()) <= AMINO_ACIDS:
        return "chemistry"
    from matplotlib import colormaps

    tab = colormaps["tab20"]
    return {c: tab(i % 20) for i, c in enumerate(alphabet)}


def plot_sequence_logo(
    pwm,
    path,
    *,
    alphabet: str = "ACGT",
    title: str | None = None,
    information: bool = True,
    xlabel: str = "position",
    column_names: Sequence[str] | None = None,
) -> Path:
    """Sequence logo of a position weight matrix.

    Args:
        pwm: ``[L, M]`` letter probabilities per position (rows sum to 1), ``M = len(alphabet)``.
        path: output file, ``.png`` or ``.svg``.
        alphabet: the column letters (``"ACGT"``; any distinct letters work, e.g. amino acids).
        title: figure title (default ``"Sequence logo"``).
        information: scale each column to its information content in bits (see
            :func:`logo_heights`; the y axis runs to ``log2 M``); otherwise letter heights are the
            probabilities.
        xlabel: what a column is (``"position"`` in a motif; ``"state"`` for the emissions of
            an HMM's states).
        column_names: ``L`` tick labels (default ``0 … L-1``), e.g. the state names.
    """
    import logomaker
    import pandas as pd

    path = output_path(path)
    heights = logo_heights(pwm, alphabet, information)
    L, M = heights.shape
    frame = pd.DataFrame(heights, columns=list(alphabet))
    if column_names is not None and len(column_names) != L:
        fail("column_names", f"{len(column_names)} names for {L} columns", "give one per column")
    shown = title or "Sequence logo"
    # Wide enough for the title (about 0.09 inch a character at the default size).
    width = float(np.clip(max(1.5 + 0.45 * L, 1.0 + 0.09 * len(shown)), 3.5, 20.0))
    with figure(path, width, 2.8) as fig:
        ax = fig.add_subplot()
        logomaker.Logo(frame, ax=ax, color_scheme=_colours(alphabet), font_name="DejaVu Sans")
        ax.set_ylim(0, np.log2(M) if information else 1.0)
        ax.set_ylabel("information (bits)" if information else "probability")
        ax.set_xlabel(xlabel)
        if column_names is not None:
            ax.set_xticks(np.arange(L), list(column_names))
        elif L <= 60:  # one tick per position; longer logos keep matplotlib's integer ticks
            ax.set_xticks(np.arange(L), [str(i) for i in range(L)])
        ax.set_title(shown)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return path
