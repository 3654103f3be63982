"""Line plots: the decoded state path over the sequence, and training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lsgm.plots._figure import (
    as_state_path,
    check_names,
    check_sequence_letters,
    fail,
    figure,
    label_positions,
    output_path,
    set_state_ticks,
)

#: Viterbi plots label the x axis with the sequence's letters up to this length.
MAX_LETTERS = 100


def _runs(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values [R], edges [R+1])`` of the step function ``t -> z[t]``, one step per run of
    equal states, position ``t`` spanning ``[t - 0.5, t + 0.5)`` (exact, and as many line
    segments as runs rather than positions)."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(z)) + 1])
    return z[starts], np.append(starts, z.size) - 0.5


def plot_viterbi_path(
    states,
    path,
    *,
    state_names: Sequence[str] | None = None,
    true_states=None,
    symbols: str | None = None,
    title: str | None = None,
    start: int = 0,
    record: str | None = None,
) -> Path:
    """Step plot of a decoded state path ``z*_t`` over the positions ``t = 0..T-1``.

    Args:
        states: ``[T]`` integer state indices (e.g. ``model.viterbi(x)[0]``, padding cut off).
        path: output file, ``.png`` or ``.svg``.
        state_names: ``K`` names for the y axis; every index must be below ``K``. Default:
            ``K = max(states, true_states) + 1`` and names ``"state k"``.
        true_states: optional ``[T]`` reference labels in the same state space (e.g. CpG
            island labels), drawn as a wide translucent step line behind the path; the legend
            gives the fraction of positions where both agree.
        symbols: the observed sequence, one letter per position (``len == T``); written under
            the positions when ``T <= MAX_LETTERS`` (100).
        title: figure title (default ``"Viterbi path"``).
        start, record: the window's 0-based start on the record ``record``: positions are
            ``start + t`` and the axis names the record.
    """
    path = output_path(path)
    z = as_state_path(states, "states")
    T = z.size
    truth = None
    if true_states is not None:
        truth = as_state_path(true_states, "true_states")
        if truth.size != T:
            fail(
                "true_states",
                f"has {truth.size} positions but states has {T}",
                "pass labels for the same positions",
            )
    top = int(max(z.max(), -1 if truth is None else truth.max()))
    K = len(state_names) if state_names is not None else top + 1
    names = check_names(state_names, K, "state_names", "state")
    for arg, a in (("states", z), ("true_states", truth)):
        if a is not None and a.max() >= K:
            t = int(np.argmax(a >= K))
            fail(arg, f"entry [{t}] = {a[t]} is not below the {K} state names", "name every state")
    letters = check_sequence_letters(symbols, T, "symbols")
    show_letters = letters is not None and T <= MAX_LETTERS
    width = float(np.clip(2.5 + (0.13 if show_letters else 0.08) * T, 6.0, 16.0))
    height = float(np.clip(1.5 + 0.3 * K, 2.5, 10.0)) + (0.3 if true_states is not None else 0.0)
    t = start + np.arange(T)
    with figure(path, width, height) as fig:
        ax = fig.add_subplot()
        if truth is not None:
            agree = float(np.mean(truth == z))
            values, edges = _runs(truth)
            ax.stairs(
                values,
                edges + start,
                baseline=None,
                color="tab:orange",
                alpha=0.45,
                linewidth=6,
                label=f"truth (agrees at {100 * agree:.1f}% of positions)",
            )
        values, edges = _runs(z)
        ax.stairs(
            values,
            edges + start,
            baseline=None,
            color="tab:blue",
            linewidth=1.6 if T <= 2000 else 0.8,
            label="Viterbi",
        )
        if T <= MAX_LETTERS:
            ax.plot(t, z, "o", color="tab:blue", markersize=3)
        ax.set_ylim(-0.5, K - 0.5)
        ax.set_xlim(start - 0.5, start + T - 0.5)
        set_state_ticks(ax, names)
        ax.set_ylabel("state")
        ax.grid(axis="y", alpha=0.3)
        label_positions(ax, letters, T, MAX_LETTERS, start, record)
        ax.set_title(title or "Viterbi path")
        if truth is not None:
            fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return path


def check_curves(curves) -> dict[str, np.ndarray]:
    """``curves`` as ``{name: finite [n] float64}``; ValueError naming the bad curve/entry."""
    if not isinstance(curves, Mapping):
        fail(
            "curves",
            f"expected a dict of name -> values, got {type(curves).__name__}",
            'pass e.g. {"train": [...], "valid": [...]}',
        )
    if not curves:
        fail("curves", "the dict is empty", "pass at least one curve")
    out = {}
    for name, values in curves.items():
        where = f"curves[{name!r}]"
        try:
            v = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            fail(where, f"cannot be read as numbers ({err})", "pass a sequence of floats")
        if v.ndim != 1 or v.size == 0:
            fail(where, f"expected a non-empty 1-D sequence, got shape {v.shape}", "pass floats")
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            fail(where, f"entry [{i}] is {v[i]}", "pass finite values (the fit diverged there)")
        out[str(name)] = v
    return out


def plot_training_curve(
    curves: Mapping[str, Sequence[float]],
    path,
    *,
    xlabel: str = "epoch",
    ylabel: str = "negative log-likelihood",
    title: str | None = None,
) -> Path:
    """One line per curve, ``values[i]`` at ``x = i + 1`` (epochs/iterations count from 1).

    Args:
        curves: ``{name: [T_name] values}``, e.g. ``{"train": h.train_nll, "valid":
            h.valid_nll}``; curves may differ in length; every value must be finite.
        path: output file, ``.png`` or ``.svg``.
        xlabel, ylabel: axis labels.
        title: figure title (default ``"Training progress"``).
    """
    path = output_path(path)
    checked = check_curves(curves)
    longest = max(v.size for v in checked.values())
    with figure(path, 6.5, 4.0) as fig:
        ax = fig.add_subplot()
        for name, v in checked.items():
            ax.plot(np.arange(1, v.size + 1), v, marker="o" if longest <= 50 else None, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title or "Training progress")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return path
