"""Heatmaps of an HMM's quantities: state posteriors, the transition and emission matrices.

The three pictures of the DiffBio HMM example (``state posteriors``, ``transition matrix``,
``emission matrix``), for any number of states, symbols and positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, Normalize

from lsgm.plots._figure import (
    annotate_cells,
    as_float_array,
    check_names,
    check_rows_sum_to_one,
    check_sequence_letters,
    check_unit_interval,
    fail,
    figure,
    label_positions,
    output_path,
    output_paths,
    set_state_ticks,
)

#: Posterior heatmaps label the x axis with the sequence's letters up to this length.
MAX_LETTERS = 100
#: Matrix heatmaps write each cell's value when both sides are at most this long.
MAX_ANNOTATED = 20

#: Colour-bar label of an emission matrix, by ``kind`` (what its entries are).
EMISSION_KINDS = {
    "categorical": "P(symbol | state)",
    "bernoulli": "P(x_d = 1 | state)",
    "gaussian": "mean",
    "poisson": "rate",
}


def _state_height(K: int) -> float:
    return float(np.clip(1.2 + 0.3 * K, 2.2, 12.0))


def plot_posteriors(
    probs,
    path,
    *,
    state_names: Sequence[str] | None = None,
    title: str | None = None,
    symbols: str | None = None,
    start: int = 0,
    record: str | None = None,
) -> Path:
    """Heatmap of the state posteriors ``probs[t, k] = p(z_t = k | x)``: states × positions.

    Args:
        probs: ``[T, K]`` posteriors; every row is a distribution (sums to 1).
        path: output file, ``.png`` or ``.svg``.
        state_names: ``K`` row labels (default ``"state k"``).
        title: figure title (default ``"State posteriors P(state | x)"``).
        symbols: the observed sequence, one letter per position (``len == T``); written under
            the columns when ``T <= MAX_LETTERS`` (100), else positions are numbered.
        start, record: the window's 0-based start on the record ``record`` (e.g. from
            ``lsgm plot --region``): positions are numbered ``start + t`` and the axis names
            the record.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, written atomically.

    Long sequences stay readable: the figure widens with ``T`` up to 16 inches and the image
    is anti-aliased when there are more positions than pixels.
    """
    path = output_path(path)
    p = check_rows_sum_to_one(as_float_array(probs, "probs", 2, "[T, K]"), "probs", "row")
    T, K = p.shape
    names = check_names(state_names, K, "state_names", "state")
    letters = check_sequence_letters(symbols, T, "symbols")
    show_letters = letters is not None and T <= MAX_LETTERS
    width = float(np.clip(2.5 + (0.13 if show_letters else 0.08) * T, 6.0, 16.0))
    with figure(path, width, _state_height(K)) as fig:
        ax = fig.add_subplot()
        image = ax.imshow(
            p.T,
            aspect="auto",
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest" if T <= 2000 else "antialiased",
            extent=(start - 0.5, start + T - 0.5, K - 0.5, -0.5),
        )
        set_state_ticks(ax, names)
        ax.set_ylabel("state")
        label_positions(ax, letters, T, MAX_LETTERS, start, record)
        ax.set_title(title or "State posteriors P(state | x)")
        fig.colorbar(image, ax=ax, label="posterior probability", fraction=0.05, pad=0.01)
    return path


def _matrix_heatmap(
    paths: list[Path],
    values: np.ndarray,
    *,
    row_names: list[str],
    col_names: list[str],
    xlabel: str,
    ylabel: str,
    title: str,
    bar_label: str,
    cmap_name: str | Colormap,
    norm: Normalize,
    fmt: str,
) -> Path:
    rows, cols = values.shape
    width = float(np.clip(2.5 + 0.55 * cols, 4.5, 16.0))
    height = float(np.clip(1.5 + 0.45 * rows, 3.0, 14.0))
    cmap = colormaps[cmap_name] if isinstance(cmap_name, str) else cmap_name
    with figure(paths, width, height) as fig:
        ax = fig.add_subplot()
        image = ax.imshow(values, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        if max(rows, cols) <= MAX_ANNOTATED:
            annotate_cells(ax, values, cmap, norm, fmt)
        set_state_ticks(ax, row_names, "y")
        set_state_ticks(ax, col_names, "x")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label=bar_label, fraction=0.05, pad=0.02)
    return paths[0]


def plot_transition_matrix(
    A,
    path,
    *,
    state_names: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | Colormap | None = None,
) -> Path:
    """Annotated heatmap of the transition matrix ``A[i, j] = p(z_{t+1} = j | z_t = i)``.

    Args:
        A: ``[K, K]``, rows = from-state, each row summing to 1.
        path: output file, ``.png`` or ``.svg``, or several (drawn once, saved to each;
            the first is returned).
        state_names: ``K`` labels of both axes.
        title: figure title (default ``"Transition matrix P(next | current)"``).
        cmap: a matplotlib colormap or its name (default ``"Blues"``).

    Cells carry their value (two decimals) when ``K <= MAX_ANNOTATED`` (20).
    """
    paths = output_paths(path)
    a = as_float_array(A, "A", 2, "[K, K]")
    if a.shape[0] != a.shape[1]:
        fail("A", f"expected a square [K, K] matrix, got shape {a.shape}", "pass the [K, K] table")
    check_rows_sum_to_one(a, "A", "row (from-state)")
    names = check_names(state_names, a.shape[0], "state_names", "state")
    return _matrix_heatmap(
        paths,
        a,
        row_names=names,
        col_names=names,
        xlabel="next state",
        ylabel="current state",
        title=title or "Transition matrix P(next | current)",
        bar_label="transition probability",
        cmap_name=cmap or "Blues",
        norm=Normalize(0.0, 1.0),
        fmt=".2f",
    )


def plot_emission_matrix(
    B,
    path,
    *,
    state_names: Sequence[str] | None = None,
    symbols: str | Sequence[str] | None = None,
    title: str | None = None,
    kind: str = "categorical",
    bar_label: str | None = None,
    cmap: str | Colormap | None = None,
) -> Path:
    """Annotated heatmap of the emission parameters: states × symbols (or dimensions).

    Args:
        B: ``[K, M]``. ``kind="categorical"``: ``B[k, m] = p(x = m | z = k)``, rows sum to 1;
            ``"bernoulli"``: ``p(x_d = 1 | z = k)`` in ``[0, 1]``; ``"gaussian"``: means
            (any finite values, diverging colours centred on 0); ``"poisson"``: rates ``>= 0``.
        path: output file, ``.png`` or ``.svg``, or several (drawn once, saved to each;
            the first is returned).
        state_names: ``K`` row labels.
        symbols: ``M`` column labels — a string of one-letter symbols (``"ACGT"``) or a
            sequence of names (default ``"0".."M-1"``).
        title: figure title (default: ``"Emission matrix P(symbol | state)"`` or the kind's
            quantity).
        kind: one of ``"categorical"``, ``"bernoulli"``, ``"gaussian"``, ``"poisson"``.
        bar_label: the colour bar's label (default: the kind's quantity, e.g. ``"rate"``).
        cmap: a matplotlib colormap or its name (default: the kind's).

    Cells carry their value when ``K, M <= MAX_ANNOTATED`` (20).
    """
    paths = output_paths(path)
    chosen = cmap
    if kind not in EMISSION_KINDS:
        fail("kind", f"{kind!r} is not supported", f"use one of {', '.join(EMISSION_KINDS)}")
    b = as_float_array(B, "B", 2, "[K, M]")
    K, M = b.shape
    names = check_names(state_names, K, "state_names", "state")
    cols = (
        [str(i) for i in range(M)]
        if symbols is None
        else check_names(symbols, M, "symbols", "symbol")
    )
    xlabel = "symbol" if kind == "categorical" else "dimension"
    if kind == "categorical":
        check_rows_sum_to_one(b, "B", "row (state)")
        norm, cmap, fmt = Normalize(0.0, 1.0), "Greens", ".2f"
        default_title = "Emission matrix P(symbol | state)"
    elif kind == "bernoulli":
        check_unit_interval(b, "B")
        norm, cmap, fmt = Normalize(0.0, 1.0), "Greens", ".2f"
        default_title = "Emission probabilities P(x_d = 1 | state)"
    elif kind == "poisson":
        if (b < 0).any():
            fail("B", f"a Poisson rate is negative ({b.min():.6g})", "pass rates >= 0")
        norm, cmap, fmt = Normalize(0.0, max(float(b.max()), 1e-12)), "Greens", ".3g"
        default_title = "Emission rates per state"
    else:
        top = max(float(np.abs(b).max()), 1e-12)
        norm, cmap, fmt = Normalize(-top, top), "RdBu_r", ".3g"
        default_title = "Emission means per state"
    return _matrix_heatmap(
        paths,
        b,
        row_names=names,
        col_names=cols,
        xlabel=xlabel,
        ylabel="state",
        title=title or default_title,
        bar_label=bar_label or EMISSION_KINDS[kind],
        cmap_name=cmap if chosen is None else chosen,
        norm=norm,
        fmt=fmt,
    )
