"""The DiffBio example's five pictures for a fitted :class:`~lsgm.HMM` or :class:`~lsgm.LSGM`.

For one sequence ``x``: state posteriors ``p(z_t | x)``, the transition matrix, the emission
table, the Viterbi path and (given a training history) the training curve.

An LSGM's distributions change along the sequence; its pictures show the average over the
sequence's steps, and the titles say so:

    A_bar[i, j] = 1/(T-1) sum_t p(z_{t+1} = j | z_t = i, x_{1:t})
    B_bar[k, :] = 1/T     sum_t emission parameters of state k at step t

(the emission parameters being the values of the family's ``summary()``: the symbol
distribution, the Bernoulli probabilities, the Gaussian means, ...). Halves of an LSGM that
are not conditioned use their static tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lsgm import inference
from lsgm.data import check_writable_dir
from lsgm.distributions import EmissionSummary
from lsgm.models import HMM, LSGM
from lsgm.plots._figure import as_state_path, check_names, fail
from lsgm.plots.curves import check_curves, plot_training_curve, plot_viterbi_path
from lsgm.plots.heatmaps import plot_emission_matrix, plot_posteriors, plot_transition_matrix

#: File names written by :func:`plot_model`, without the format suffix.
NAMES = ("posteriors", "transitions", "emissions", "viterbi", "training")


class ModelSummary(NamedTuple):
    """What :func:`plot_model` draws, as numpy arrays.

    Attributes:
        posteriors: ``[T, K]`` ``p(z_t | x)``.
        path: ``[T]`` Viterbi path.
        transitions: ``[K, K]`` transition matrix (LSGM: mean over steps).
        emissions: ``[K, M]`` emission table (LSGM: mean over steps).
        emission_kind: the colour scale of the table: ``"categorical"``, ``"bernoulli"``,
            ``"gaussian"`` or ``"poisson"`` (:class:`~lsgm.distributions.EmissionSummary`).
        transition_note, emission_note: ``""`` for static tables, else e.g.
            ``"mean over the sequence's 15 steps"``.
        emission_title, emission_label: the emission picture's title (without the note) and
            colour-bar label, from the family's ``summary()``.
    """

    posteriors: np.ndarray
    path: np.ndarray
    transitions: np.ndarray
    emissions: np.ndarray
    emission_kind: str
    transition_note: str
    emission_note: str
    emission_title: str = ""
    emission_label: str = ""


def emission_summary(emission) -> EmissionSummary:
    """The family's :meth:`~lsgm.distributions.base.Emission.summary` (e.g. categorical
    ``softmax(logits)``, Bernoulli ``sigmoid(logits)``, Gaussian means, Poisson rates, a
    Gaussian mixture's state means ``sum_c w[k, c] mu[k, c]``)."""
    summary = getattr(emission, "summary", None)
    if summary is None:
        fail(
            "model.emission",
            f"cannot draw a {type(emission).__name__} emission",
            "pass an lsgm.distributions.Emission",
        )
    return summary()


def static_emission_table(emission) -> tuple[np.ndarray, str]:
    """``([K, M], kind)``: an emission's table and colour scale (:func:`emission_summary`)."""
    s = emission_summary(emission)
    return s.values, s.kind


def _varies(model) -> tuple[bool, bool]:
    """Whether ``model``'s (transitions, emissions) change along the sequence (LSGM halves
    with a network; an HMM's never do)."""
    if not isinstance(model, LSGM):
        return False, False
    return model.transition_head is not None, model.emission_net is not None


def _lsgm_emission_mean(model: LSGM, x: jax.Array) -> jax.Array:
    """``[K, M]``: an LSGM's per-step emission parameters averaged over the sequence."""
    T = x.shape[0]
    raw = model.emission_params(model.features(x)[:T])  # [T, K, P]
    return jnp.mean(model.family.table(raw), axis=0)


@nnx.jit
def _infer(model, x: jax.Array):
    """One compiled pass: posteriors ``[T, K]``, Viterbi path ``[T]``, transition matrix
    ``[K, K]`` (mean over steps when it varies) and, when emissions vary, their mean."""
    pots = model.potentials(x)
    posteriors = inference.posteriors(pots).states
    path = inference.viterbi(pots)[0]
    trans = jnp.exp(pots.log_trans)
    if trans.ndim == 3:
        trans = trans.mean(axis=0)
    emissions = _lsgm_emission_mean(model, x) if _varies(model)[1] else None
    return posteriors, path, trans, emissions


def summarise(model, x) -> ModelSummary:
    """Posteriors, Viterbi path, transition and emission tables of ``model`` on ``x``.

    Args:
        model: an :class:`~lsgm.HMM` or :class:`~lsgm.LSGM` in evaluation mode (dropout
            off: ``model.eval()``, as :func:`~lsgm.training.fit_gradient` leaves it).
        x: one sequence in the model's data format (``[T]`` symbols, ``[T, M]`` soft
            observations or ``[T, D]`` vectors).
    """
    if not isinstance(model, HMM | LSGM):
        fail("model", f"a {type(model).__name__} is not an lsgm.HMM or lsgm.LSGM", "pass one")
    dropouts = [m for _, m in nnx.iter_modules(model) if isinstance(m, nnx.Dropout)]
    if any(m.rate > 0 and not m.deterministic for m in dropouts):
        fail(
            "model",
            "is in training mode, so dropout would make every picture random",
            "call model.eval() first",
        )
    model.emission.check_data(np.asarray(x), "x")
    x = jnp.asarray(x)
    T = x.shape[0]
    trans_vary, emit_vary = _varies(model)
    if trans_vary and T < 2:
        fail(
            "x",
            "an LSGM's transitions vary per step and a 1-step sequence has none",
            "pass a sequence of at least 2 steps",
        )
    posteriors, path, transitions, emissions = _infer(model, x)
    trans_note = f"mean over the sequence's {T - 1} steps" if trans_vary else ""
    static = emission_summary(model.emission)
    emit_note = f"mean over the sequence's {T} steps" if emit_vary else ""
    return ModelSummary(
        np.asarray(posteriors),
        np.asarray(path),
        np.asarray(transitions),
        np.asarray(emissions if emit_vary else static.values),
        static.kind,
        trans_note,
        emit_note,
        static.title,
        static.label,
    )


def history_curves(history) -> tuple[dict[str, list[float]], str, str]:
    """``(curves, xlabel, ylabel)`` of a training history for :func:`plot_training_curve`.

    Accepts a dict of curves (drawn as given), a :class:`~lsgm.training.GradientHistory`
    (``train``/``valid`` NLL per step by epoch) or a :class:`~lsgm.training.FitHistory`
    (EM: ``-log-likelihood`` by iteration).
    """
    if isinstance(history, Mapping):
        return dict(history), "epoch", "negative log-likelihood"
    if hasattr(history, "train_nll"):
        curves = {"train": list(history.train_nll)}
        if history.valid_nll:
            curves["valid"] = list(history.valid_nll)
        return curves, "epoch", "negative log-likelihood per step"
    if hasattr(history, "log_likelihoods"):
        curves = {"EM": [-float(v) for v in history.log_likelihoods]}
        return curves, "EM iteration", "negative log-likelihood"
    fail(
        "history",
        f"a {type(history).__name__} is not a training history",
        "pass a dict of curves, a GradientHistory or a FitHistory",
    )


def plot_model(
    model,
    x,
    outdir,
    *,
    state_names: Sequence[str] | None = None,
    symbols: str | Sequence[str] | None = None,
    history=None,
    true_states=None,
    fmt: str = "png",
    start: int = 0,
    record: str | None = None,
) -> list[Path]:
    """Write the pictures of ``model`` on the sequence ``x`` into ``outdir``.

    Files (``fmt`` = ``"png"`` or ``"svg"``): ``posteriors``, ``transitions``, ``emissions``,
    ``viterbi`` and, when ``history`` is given, ``training`` — e.g. ``outdir/posteriors.png``.

    Args:
        model: an :class:`~lsgm.HMM` or :class:`~lsgm.LSGM` (LSGM tables are means over the
            sequence's steps; see the module docstring).
        x: one sequence in the model's data format.
        outdir: output folder (created if needed).
        state_names: ``K`` state names.
        symbols: one label per emission symbol/dimension (``"ACGT"``); for hard categorical
            ``x`` with one-letter labels the sequence's letters also label the positions.
        history: a dict of curves, a ``GradientHistory`` or a ``FitHistory``.
        true_states: ``[T]`` reference labels drawn under the Viterbi path.
        fmt: ``"png"`` or ``"svg"``.
        start, record: ``x``'s 0-based start on the record ``record`` (a window of a
            chromosome): the position axes number ``start + t`` and name the record.

    Returns:
        The written paths, in the order above.
    """
    if fmt not in ("png", "svg"):
        fail("fmt", f"{fmt!r} is not a supported format", "use 'png' or 'svg'")
    outdir = check_writable_dir(outdir)
    s = summarise(model, x)
    curves = None if history is None else history_curves(history)
    K, M = s.emissions.shape
    # Check every argument before the first file is written, so bad input writes nothing.
    names = check_names(state_names, K, "state_names", "state")
    labels = None if symbols is None else check_names(symbols, M, "symbols", "symbol")
    truth = None
    if true_states is not None:
        truth = as_state_path(true_states, "true_states")
        if truth.size != s.path.size or truth.max() >= K:
            fail(
                "true_states",
                f"expected {s.path.size} labels in 0..{K - 1}, got {truth.size} up to {truth.max()}",
                "pass one label per position of x, in the model's state space",
            )
    if curves is not None:
        check_curves(curves[0])
    x_np = np.asarray(x)
    letters = None
    if (
        labels is not None
        and s.emission_kind == "categorical"
        and x_np.dtype.kind in "iu"
        and all(len(c) == 1 for c in labels)
    ):
        letters = "".join(labels[i] for i in x_np)

    def out(name: str) -> Path:
        return outdir / f"{name}.{fmt}"

    def titled(base: str, note: str) -> str:
        return f"{base} ({note})" if note else base

    written = [
        plot_posteriors(
            s.posteriors,
            out("posteriors"),
            state_names=names,
            symbols=letters,
            start=start,
            record=record,
        ),
        plot_transition_matrix(
            s.transitions,
            out("transitions"),
            state_names=names,
            title=titled("Transition matrix P(next | current)", s.transition_note),
        ),
        plot_emission_matrix(
            s.emissions,
            out("emissions"),
            state_names=names,
            symbols=labels,
            kind=s.emission_kind,
            title=titled(s.emission_title, s.emission_note),
            bar_label=s.emission_label,
        ),
        plot_viterbi_path(
            s.path,
            out("viterbi"),
            state_names=names,
            true_states=truth,
            symbols=letters,
            start=start,
            record=record,
        ),
    ]
    if curves is not None:
        c, xlabel, ylabel = curves
        written.append(plot_training_curve(c, out("training"), xlabel=xlabel, ylabel=ylabel))
    return written
