"""The two ChromHMM commands: ``learn`` (``LearnModel``) and ``segment``
(``MakeSegmentation``), from a folder of binarized files to every output file.

The output folder is checked before any work: it may not be the input folder, lie inside it,
or hold an input file (:func:`lsgm.data.check_output`); every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lsgm.apps.chromatin_states import enrichment, outputs
from lsgm.apps.chromatin_states import model as chrom_model
from lsgm.data import (
    Binarized,
    ChromHMMModel,
    binarized_files,
    check_output,
    read_binarized_folder,
    read_chromhmm_model,
)

#: ChromHMM's ``-init`` values.
INITS = ("information", "random", "load")

#: The output switches (ChromHMM's flag names without the dash) and their meaning here.
OUTPUT_FLAGS = ("nobed", "nobrowser", "noimage", "printposterior", "printstatebyline")


def _check_outputs(
    outdir: str | os.PathLike[str],
    inputs: Sequence[Path],
    K: int,
    data: Sequence[Binarized],
    options: dict,
) -> Path:
    out = check_output(
        outdir,
        inputs,
        folder=True,
        contents=outputs.output_names(K, data, options),
        what="output folder",
    )
    for flag, sub, kind in (
        ("printposterior", outputs.POSTERIOR_DIR, "posterior"),
        ("printstatebyline", outputs.STATEBYLINE_DIR, "statebyline"),
    ):
        if options.get(flag):
            check_output(
                out / sub,
                inputs,
                folder=True,
                contents=outputs.by_line_names(K, data, kind, outputs.style_of(options)),
                what="output folder",
            )
    return out


def _write_all(
    out: Path,
    model: ChromHMMModel,
    data: Sequence[Binarized],
    bin_size: int,
    options: dict,
    summary: dict,
) -> list[outputs.Segmentation]:
    K = model.num_states
    style = outputs.style_of(options)
    outputs.write_parameters(out, model, images=not options.get("noimage"), style=style)
    if options.get("printposterior"):  # every posterior is written
        segs = outputs.segmentations(data, chrom_model.posteriors(model, data))
    else:  # the calls alone (posterior decoding: no [T, K] array)
        segs = outputs.decoded_segmentations(data, chrom_model.decoded_calls(model, data))
    outputs.write_segments(
        out,
        K,
        segs,
        bin_size,
        browser=not options.get("nobrowser"),
        bed=not options.get("nobed"),
        style=style,
    )
    for flag, kind in (("printposterior", "posterior"), ("printstatebyline", "statebyline")):
        if options.get(flag):
            outputs.write_by_line(out, K, segs, kind, style)
    summary["enrichments"] = [p.name for p in _enrichments(out, K, segs, bin_size, options)]
    summary["webpage"] = f"webpage_{style.tag(K)}.html"
    outputs.write_webpage(out, model, data, summary, options)
    return segs


def _enrichments(
    out: Path, K: int, segs: Sequence[outputs.Segmentation], bin_size: int, options: dict
) -> list[Path]:
    """ChromHMM ``LearnModel``'s enrichments of every ``CELL_K_segments.bed``
    (:func:`.enrichment.run_enrichments`) when ``options["enrichment"]`` names the folders:
    ``{"assembly": ..., "coords": COORDS or None, "anchors": ANCHORFILES or None}``. Nothing
    without it (``-noenrich``) or without segmentation files (``-nobed``)."""
    spec = options.get("enrichment")
    if not spec or options.get("nobed"):
        return []
    style = outputs.style_of(options)
    by_cell: dict[str, dict[str, np.ndarray]] = {}
    for s in segs:
        by_cell.setdefault(s.data.cell, {})[s.data.chrom] = s.states + 1  # E1 .. EK
    beds = [  # as enrichment.read_segmentation would read the files once renamed into place
        enrichment.Segmentation(
            out / f"{cell}_{style.tag(K)}_segments.bed",
            labels,
            max(int(v.max()) for v in labels.values()),
            style.order,
            bin_size,
        )
        for cell, labels in sorted(by_cell.items())
    ]
    return enrichment.run_enrichments(
        beds,
        out,
        K,
        spec.get("assembly"),
        spec.get("coords"),
        spec.get("anchors"),
        bin_size,
        image=not options.get("noimage"),
        color=style.color,
    )


def _check_bin_size(bin_size: int) -> None:
    if bin_size < 1:
        raise ValueError(f"-b (bin size) must be a positive number of bases; got {bin_size}.")


def learn(
    inputdir: str | os.PathLike[str],
    outputdir: str | os.PathLike[str],
    num_states: int,
    assembly: str | None = None,
    *,
    init: str = "information",
    init_model: str | os.PathLike[str] | None = None,
    seed: int = chrom_model.SEED,
    max_iterations: int = chrom_model.MAX_ITERATIONS,
    converge_delta: float = chrom_model.CONVERGE_DELTA,
    information_smooth: float = chrom_model.INFORMATION_SMOOTH,
    load_smooth_emission: float = chrom_model.LOAD_SMOOTH_EMISSION,
    load_smooth_transition: float = chrom_model.LOAD_SMOOTH_TRANSITION,
    bin_size: int = 200,
    options: dict | None = None,
    on_iteration: Callable[[chrom_model.Iteration], None] | None = None,
    restarts: int = 0,
    state_ordering: str = "emission",
    file_list: str | os.PathLike[str] | None = None,
    numseq: int | None = None,
    max_seconds: float = -1.0,
    pseudo: str | None = None,
    devices: int | None = None,
) -> dict:
    """ChromHMM ``LearnModel``: read ``inputdir``, initialise (``init``), fit by Baum–Welch,
    put the states in ChromHMM's emission order (:func:`.model.emission_order`) and write
    every output into ``outputdir`` (:mod:`.outputs`).

    Args:
        inputdir: binarized files (:func:`lsgm.data.read_binarized_folder`).
        outputdir: created if needed; checked before any work.
        num_states: ``K >= 1``.
        assembly: ChromHMM's ASSEMBLY (recorded; the enrichments read its annotation
            folders, ``options["enrichment"]``).
        init: ``"information"``, ``"random"`` or ``"load"`` (needs ``init_model``).
        init_model: a ``model_K.txt`` (``-m``) for ``init="load"``.
        options: output switches, keys from :data:`OUTPUT_FLAGS` (True to set), and
            ``"enrichment"``: ``{"assembly", "coords", "anchors"}`` for ChromHMM's overlap
            and neighborhood enrichments (:func:`_enrichments`; none without it).
        on_iteration: called after every EM iteration (of the first fit).
        restarts: this many more fits from ``-init random`` starts (seeds ``seed + 1``,
            ...); the fit of the highest final log-likelihood is kept and the spread of
            every parameter across the fits is written (:func:`write_restarts`).
        state_ordering: ``-stateordering``: ``"emission"``, ``"transition"``, or
            ``"fixed"`` (``-holdroworder``: the states as trained).
        file_list: ``-f``: only the files of ``inputdir`` named in this file.
        numseq: ``-n``: the information initialisation reads only this many files, drawn
            at random (seed ``seed``); training reads all (ChromHMM's ``-n`` without
            ``-p``).
        max_seconds: ``-x``: no EM iteration starts after this many seconds (< 0: none).
        pseudo: ``-pseudo``: ``"all"`` (a pseudo-count of 1 on every count) or ``"nolast"``
            (``-nopseudolast``: none on the initial states and the last mark);
            :func:`.model.pseudo_prior`.
        devices: the E-step's sequences split in time over this many local devices of a
            :class:`jax.sharding.Mesh` (sequence parallelism, :func:`.model.fit`); None:
            one device.

    Returns:
        A summary: data size, settings, iterations, final log-likelihood, seconds.
    """
    options = dict(options or {}, restarts=restarts)
    K = int(num_states)
    if K < 1:
        raise ValueError(f"NUMSTATES must be >= 1; got {K}.")
    if restarts < 0:
        raise ValueError(f"--restarts must be >= 0; got {restarts}.")
    if init not in INITS:
        raise ValueError(f"-init must be one of {', '.join(INITS)}; got {init!r}.")
    if init == "load" and init_model is None:
        raise ValueError("-init load needs -m MODELFILE (a ChromHMM model_K.txt).")
    for name, value in (
        ("-h", information_smooth),
        ("-e", load_smooth_emission),
        ("-t", load_smooth_transition),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1]; got {value}.")
    _check_bin_size(bin_size)
    if state_ordering not in chrom_model.STATE_ORDERS:
        raise ValueError(f"-stateordering must be emission or transition; got {state_ordering!r}.")
    if numseq is not None and numseq < 1:
        raise ValueError(f"-n (numseq) must be >= 1; got {numseq}.")
    if pseudo not in (None, "all", "nolast"):
        raise ValueError(f"pseudo must be None, 'all' or 'nolast'; got {pseudo!r}.")
    style = outputs.style_of(options)
    if init == "random" and not style.outfile_id:  # ChromHMM names a random start's files
        style = dataclasses.replace(style, outfile_id=str(seed))
    options["style"] = dataclasses.replace(style, order=chrom_model.STATE_ORDERS[state_ordering])
    mesh = _mesh(devices)
    began = time.perf_counter()
    files = binarized_files(inputdir, file_list)
    data = read_binarized_folder(inputdir, file_list=file_list)
    loaded = None if init_model is None else read_chromhmm_model(init_model)
    if loaded is not None and loaded.num_states != K:
        raise ValueError(
            f"{init_model}: has {loaded.num_states} states but NUMSTATES is {K}; give the "
            "same number."
        )
    inputs = [Path(inputdir), *files, *(Path(f) for f in (init_model, file_list) if f)]
    out = _check_outputs(outputdir, inputs, K, data, options)
    read_s = time.perf_counter() - began
    marks = data[0].marks
    if init == "load":
        assert loaded is not None
        start = chrom_model.smooth_loaded(
            loaded.with_marks(marks), load_smooth_emission, load_smooth_transition
        )
    elif init == "random":
        start = chrom_model.random_init(K, marks, seed)
    else:
        sample = data
        if numseq is not None and numseq < len(data):
            pick = np.random.default_rng(seed).choice(len(data), numseq, replace=False)
            sample = [data[i] for i in sorted(pick)]
        start = chrom_model.information_init([d.x for d in sample], K, marks, information_smooth)
    settings = {
        "max_iterations": max_iterations,
        "converge_delta": converge_delta,
        "max_seconds": max_seconds,
        "prior": None if pseudo is None else chrom_model.pseudo_prior(len(marks), pseudo == "all"),
        "mesh": mesh,
    }
    training = chrom_model.fit(data, start, on_iteration=on_iteration, **settings)
    runs = [(init, training)]
    for r in range(restarts):
        again = chrom_model.random_init(K, marks, seed + 1 + r)
        runs.append((f"random (seed {seed + 1 + r})", chrom_model.fit(data, again, **settings)))
    best = max(runs, key=lambda run: run[1].model.log_likelihood)[1]
    order = chrom_model.state_order(best.model, state_ordering)
    fitted = dataclasses.replace(
        chrom_model.reorder(best.model, order), order=options["style"].letter
    )
    summary: dict = {
        "command": "learn",
        "input": str(inputdir),
        "output": str(out),
        "assembly": assembly,
        "states": K,
        "marks": marks,
        "files": len(data),
        "cells": len({d.cell for d in data}),
        "bins": sum(len(d.x) for d in data),
        "missing": sum(d.missing() for d in data),
        "init": init,
        "devices": 1 if mesh is None else mesh.size,
        "iterations_run": len(training.iterations),
        "converged": training.converged,
        "log_likelihood": fitted.log_likelihood,
        "read_s": read_s,
        "train_s": training.seconds,
        "iterations": training.iterations,
    }
    if restarts:
        summary["restarts"] = write_restarts(out, fitted, runs, options["style"].tag(K))
    write_began = time.perf_counter()
    _write_all(out, fitted, data, bin_size, options, summary)
    summary["write_s"] = time.perf_counter() - write_began
    summary["total_s"] = time.perf_counter() - began
    return summary


def _mesh(devices: int | None):
    """A 1-D mesh over the first ``devices`` local devices (None: no mesh, one device)."""
    if devices is None:
        return None
    if devices < 1:
        raise ValueError(f"--devices must be >= 1; got {devices}.")
    from lsgm.distributed import make_mesh

    return make_mesh(devices)


def write_restarts(
    out: Path,
    best: ChromHMMModel,
    runs: Sequence[tuple[str, chrom_model.Training]],
    tag: str | None = None,
) -> dict:
    """The spread of the parameters over several fits (beyond ChromHMM).

    Every fit's states are matched to ``best``'s by the Hungarian method on the summed
    absolute emission differences (:func:`scipy.optimize.linear_sum_assignment`); then per
    parameter the standard deviation over the fits (``ddof = 1``). Writes
    ``restarts_K.txt`` (one line per fit: start, iterations, final log-likelihood),
    ``emission_spread_K.txt`` and ``transition_spread_K.txt`` (the tables of
    ``emissions_K.txt``/``transitions_K.txt``, holding standard deviations); ``K`` reads
    ``tag`` where given (``K_ID`` with ChromHMM's ``-i``).
    """
    from scipy.optimize import linear_sum_assignment

    from lsgm.data import atomic_write_text

    K = best.num_states
    tag = tag or str(K)
    emissions, transitions = [], []
    for _, run in runs:
        m = run.model.with_marks(best.marks)
        cost = np.abs(best.emission[:, None, :] - m.emission[None, :, :]).sum(-1)
        _, order = linear_sum_assignment(cost)
        emissions.append(m.emission[order])
        transitions.append(m.transition[np.ix_(order, order)])
    e_sd = np.std(emissions, axis=0, ddof=1)
    t_sd = np.std(transitions, axis=0, ddof=1)
    states = [str(k + 1) for k in range(K)]
    atomic_write_text(
        out / f"emission_spread_{tag}.txt",
        outputs.table("State (SD over fits)", e_sd, best.marks),
    )
    atomic_write_text(
        out / f"transition_spread_{tag}.txt",
        outputs.table("State (from\\to) (SD over fits)", t_sd, states),
    )
    lines = ["start\titerations\tconverged\tfinal_log_likelihood"]
    lines += [
        f"{name}\t{len(run.iterations)}\t{run.converged}\t{run.model.log_likelihood!r}"
        for name, run in runs
    ]
    atomic_write_text(out / f"restarts_{tag}.txt", "\n".join(lines) + "\n")
    return {
        "fits": len(runs),
        "log_likelihoods": [run.model.log_likelihood for _, run in runs],
        "max_emission_sd": float(e_sd.max()),
        "max_transition_sd": float(t_sd.max()),
    }


def segment(
    model_file: str | os.PathLike[str],
    inputdir: str | os.PathLike[str],
    outputdir: str | os.PathLike[str],
    *,
    bin_size: int = 200,
    options: dict | None = None,
    file_list: str | os.PathLike[str] | None = None,
) -> dict:
    """ChromHMM ``MakeSegmentation``: the state calls of every binarized file of ``inputdir``
    (only those named in ``file_list``, ``-f``, if given) under ``model_file`` (ours or
    ChromHMM's ``model_K.txt``; marks matched by name), with the same outputs as
    :func:`learn` (the parameter files included; states labelled by the model file's order
    letter) and the model's log-likelihood of the data.

    Returns:
        A summary with ``log_likelihood`` (``sum_i log p(x_i)``, lsgm's score) and the
        log-likelihood in the model file's header.
    """
    options = dict(options or {})
    _check_bin_size(bin_size)
    began = time.perf_counter()
    files = binarized_files(inputdir, file_list)
    model = read_chromhmm_model(model_file)
    order = enrichment.ORDER_NAMES.get(model.order, "Emission")
    options["style"] = dataclasses.replace(outputs.style_of(options), order=order)
    data = read_binarized_folder(inputdir, marks=model.marks, file_list=file_list)
    out = _check_outputs(
        outputdir,
        [Path(inputdir), *files, Path(model_file), *([Path(file_list)] if file_list else [])],
        model.num_states,
        data,
        options,
    )
    score = chrom_model.score(model, data)
    summary = {
        "command": "segment",
        "model": str(model_file),
        "input": str(inputdir),
        "output": str(out),
        "states": model.num_states,
        "marks": model.marks,
        "files": len(data),
        "bins": sum(len(d.x) for d in data),
        "missing": sum(d.missing() for d in data),
        "log_likelihood": score,
        "model_file_log_likelihood": model.log_likelihood,
    }
    _write_all(out, model, data, bin_size, options, summary)
    summary["total_s"] = time.perf_counter() - began
    return summary


def parse_states(text: str) -> list[int]:
    """``"5:30"`` (or ``"5:30:5"``, a step) as the list of state counts ``5..30``
    (inclusive)."""
    parts = text.split(":")
    try:
        lo, hi, step = (int(p) for p in (*parts, "1")[:3]) if len(parts) in (2, 3) else (0, 0, 0)
    except ValueError:
        lo = hi = step = 0
    if not (1 <= lo <= hi and step >= 1):
        raise ValueError(
            f"--states must be FIRST:LAST or FIRST:LAST:STEP with 1 <= FIRST <= LAST (e.g. "
            f"5:30); got {text!r}."
        )
    return list(range(lo, hi + 1, step))


def holdout_split(
    data: Sequence[Binarized], holdout: str | None
) -> tuple[list[Binarized], list[Binarized], str]:
    """Training and held-out files: every file of chromosome or cell ``holdout`` is held
    out; default the last chromosome by name (or, with one chromosome, the last cell)."""
    chroms = sorted({d.chrom for d in data})
    cells = sorted({d.cell for d in data})
    if holdout is None:
        if len(chroms) > 1:
            holdout = chroms[-1]
        elif len(cells) > 1:
            holdout = cells[-1]
        else:
            raise ValueError(
                "--states needs held-out data: the input has one cell and one chromosome; "
                "add files of another chromosome or cell."
            )
    held = [d for d in data if holdout in (d.chrom, d.cell)]
    train = [d for d in data if holdout not in (d.chrom, d.cell)]
    if not held or not train:
        raise ValueError(
            f"--holdout {holdout!r} must name a chromosome or cell of the input that leaves "
            f"files to train on; chromosomes {chroms}, cells {cells}."
        )
    return train, held, holdout


def select_states(
    inputdir: str | os.PathLike[str],
    outputdir: str | os.PathLike[str],
    states: Sequence[int],
    *,
    holdout: str | None = None,
    seed: int = chrom_model.SEED,
    max_iterations: int = chrom_model.MAX_ITERATIONS,
    converge_delta: float = chrom_model.CONVERGE_DELTA,
    information_smooth: float = chrom_model.INFORMATION_SMOOTH,
    on_fit: Callable[[dict], None] | None = None,
    file_list: str | os.PathLike[str] | None = None,
    max_seconds: float = -1.0,
    pseudo: str | None = None,
    devices: int | None = None,
) -> dict:
    """Fit every ``K`` in ``states`` on the training files and pick ``K`` (beyond ChromHMM).

    For each ``K``: ChromHMM's information initialisation (random with ``seed`` where the
    data support fewer states that way), Baum–Welch on the training files, then

    * the held-out log-likelihood per bin, ``log p(x_heldout) / T_heldout``;
    * ``BIC = -2 log p(x_train) + p log T_train`` with ``p = (K - 1) + K (K - 1) + K D``
      free parameters.

    The chosen ``K`` has the largest held-out log-likelihood per bin (``file_list``: only
    the files of ``inputdir`` it names, ChromHMM's ``-f``; ``max_seconds``, ``pseudo`` and
    ``devices`` apply to every fit, as in :func:`learn`). Writes
    ``state_selection.txt`` (a table) and ``state_selection.png/.svg`` (both criteria
    against ``K``) into ``outputdir``.

    Returns:
        ``{"rows": [...], "chosen": K, "holdout": name, ...}``.
    """
    from matplotlib.figure import Figure

    from lsgm.data import atomic_path, atomic_write_text

    data = read_binarized_folder(inputdir, file_list=file_list)
    files = binarized_files(inputdir, file_list)
    names = ["state_selection.txt", "state_selection.png", "state_selection.svg"]
    out = check_output(outputdir, [Path(inputdir), *files], folder=True, contents=names)
    train, held, holdout = holdout_split(data, holdout)
    marks = data[0].marks
    mesh = _mesh(devices)
    T_train = sum(len(d.x) for d in train)
    T_held = sum(len(d.x) for d in held)
    rows = []
    for K in states:
        try:
            start = chrom_model.information_init([d.x for d in train], K, marks, information_smooth)
            init = "information"
        except ValueError:
            start, init = chrom_model.random_init(K, marks, seed), "random"
        fitted = chrom_model.fit(
            train,
            start,
            max_iterations=max_iterations,
            converge_delta=converge_delta,
            max_seconds=max_seconds,
            prior=None if pseudo is None else chrom_model.pseudo_prior(len(marks), pseudo == "all"),
            mesh=mesh,
        )
        D = len(marks)
        params = (K - 1) + K * (K - 1) + K * D
        train_ll = chrom_model.score(fitted.model, train)
        row = {
            "K": K,
            "init": init,
            "iterations": len(fitted.iterations),
            "parameters": params,
            "train_log_likelihood": train_ll,
            "heldout_per_bin": chrom_model.score(fitted.model, held) / T_held,
            "bic": -2 * train_ll + params * np.log(T_train),
            "seconds": fitted.seconds,
        }
        rows.append(row)
        if on_fit is not None:
            on_fit(row)
    chosen = max(rows, key=lambda r: r["heldout_per_bin"])["K"]
    by_bic = min(rows, key=lambda r: r["bic"])["K"]
    head = (
        "K\tinit\titerations\tparameters\ttrain_log_likelihood\theldout_log_likelihood_per_bin\tBIC"
    )
    lines = [
        f"# held out: {holdout} ({len(held)} files, {T_held} bins); trained on {len(train)} "
        f"files, {T_train} bins; chosen K = {chosen} (held-out), {by_bic} (BIC)",
        head,
    ]
    lines += [
        f"{r['K']}\t{r['init']}\t{r['iterations']}\t{r['parameters']}\t"
        f"{r['train_log_likelihood']:.3f}\t{r['heldout_per_bin']:.6f}\t{r['bic']:.3f}"
        for r in rows
    ]
    atomic_write_text(out / "state_selection.txt", "\n".join(lines) + "\n")
    ks = [r["K"] for r in rows]
    for ext in ("png", "svg"):
        fig = Figure(figsize=(9, 3.5), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.plot(ks, [r["heldout_per_bin"] for r in rows], marker="o")
        left.axvline(chosen, color="grey", ls="--")
        left.set(
            xlabel="states K",
            ylabel="held-out log-likelihood per bin",
            title=f"held out: {holdout}",
        )
        right.plot(ks, [r["bic"] for r in rows], marker="o", color="C1")
        right.axvline(by_bic, color="grey", ls="--")
        right.set(xlabel="states K", ylabel="BIC (training files)")
        with atomic_path(out / f"state_selection.{ext}") as tmp:
            fig.savefig(tmp, format=ext)
    return {"rows": rows, "chosen": chosen, "chosen_bic": by_bic, "holdout": holdout}
