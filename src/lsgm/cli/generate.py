"""``lsgm sample``, ``lsgm plot`` and ``lsgm info``."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np

from lsgm.cli.common import (
    LoadedModel,
    add_output_options,
    all_or_nothing,
    convergence_line,
    emit,
    fit_status,
    positive_int,
    strict_float,
    strict_int,
)
from lsgm.cli.inputs import add_selection_options
from lsgm.data import atomic_write_bytes, atomic_write_text, check_output

#: ``lsgm plot`` warns above this many steps (the pictures become an unreadable smear).
PLOT_STEPS = 20_000

SAMPLE_SUFFIXES = {
    "sequence": (".fa", ".fasta"),
    "pianoroll": (".mid", ".midi"),
    "table": (".npy", ".csv"),
}


def register(sub) -> None:
    p = sub.add_parser("sample", help="sample sequences from a model (FASTA, MIDI or a table)")
    p.add_argument("model")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .fa for sequence models, .mid for music models (a piano-roll "
        ".png is written next to it), .npy/.csv for numeric models",
    )
    p.add_argument(
        "-n", "--length", type=strict_int, default=200, help="steps per sequence (default 200)"
    )
    p.add_argument(
        "--num-sequences", type=strict_int, default=1, help="sequences to draw (default 1)"
    )
    p.add_argument(
        "--step-seconds",
        type=strict_float,
        default=0.5,
        help="seconds per MIDI time step (default 0.5)",
    )
    add_output_options(p)
    p.set_defaults(run=run_sample)

    p = sub.add_parser("plot", help="pictures of a model on one sequence (PNG or SVG)")
    p.add_argument("model")
    p.add_argument(
        "data",
        help="a data file; its first record (or --record N; or the first --region / --records) "
        "is drawn",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (created if needed)")
    p.add_argument(
        "--record",
        type=strict_int,
        default=1,
        help="which record to draw (1-based; default 1, the first)",
    )
    p.add_argument(
        "--split",
        default=None,
        help="piano-roll split to read (default: every split, in file order)",
    )
    p.add_argument("--format", choices=["png", "svg"], default="png", help="default png")
    add_selection_options(p)
    add_output_options(p)
    p.set_defaults(run=run_plot)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model")
    add_output_options(p)
    p.set_defaults(run=run_info)


@all_or_nothing
def run_sample(args) -> int:
    import jax

    positive_int("--length", args.length)
    positive_int("--num-sequences", args.num_sequences)
    if not (math.isfinite(args.step_seconds) and args.step_seconds > 0):
        raise ValueError(f"--step-seconds must be a positive number; got {args.step_seconds}.")
    every = tuple(s for suffixes in SAMPLE_SUFFIXES.values() for s in suffixes)
    check_output(args.output, [args.model], every)
    lm = LoadedModel(args.model)
    out = check_output(
        args.output,
        [args.model],
        SAMPLE_SUFFIXES[lm.spec.kind],
        what=f"sample of a {lm.spec.kind} model",
    )
    if args.step_seconds != 0.5 and lm.spec.kind != "pianoroll":
        raise ValueError(
            f"--step-seconds {args.step_seconds} would be ignored: it sets the MIDI timing of "
            f"music samples, and {args.model} is a {lm.spec.kind} model. Drop --step-seconds."
        )
    if lm.spec.kind == "pianoroll":  # the MIDI files and the PNG pictures next to them
        for path in _midi_paths(out, args.num_sequences):
            check_output(path, [args.model])
            check_output(path.with_suffix(".png"), [args.model])
    keys = jax.random.split(jax.random.key(args.seed), args.num_sequences)
    samples = [lm.model.sample(args.length, key) for key in keys]
    states = [np.asarray(s) for s, _ in samples]
    obs = [np.asarray(x) for _, x in samples]
    written = [str(out)]
    if lm.spec.kind == "sequence":
        text = "".join(
            f">sample{i + 1} lsgm sample of {lm.path.name}, seed {args.seed}\n"
            + "".join(lm.spec.alphabet[k] for k in x)
            + "\n"
            for i, x in enumerate(obs)
        )
        atomic_write_text(out, text)
    elif lm.spec.kind == "pianoroll":
        from lsgm.data import write_midi
        from lsgm.plots import plot_piano_roll

        written = []
        for path, roll in zip(_midi_paths(out, len(obs)), obs, strict=True):
            write_midi(path, roll.astype(np.uint8), step_seconds=args.step_seconds)
            png = plot_piano_roll(roll, path.with_suffix(".png"), step_seconds=args.step_seconds)
            written += [str(path), str(png)]
    elif out.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.stack(obs))
        atomic_write_bytes(out, buf.getvalue())
    else:
        rows = ["sequence," + ",".join(f"x{j}" for j in range(np.atleast_2d(obs[0].T).shape[0]))]
        for i, x in enumerate(obs):
            for row in x.reshape(len(x), -1):
                rows.append(f"{i}," + ",".join(f"{v:.6g}" for v in row))
        atomic_write_text(out, "\n".join(rows) + "\n")
    result = {
        "outputs": written,
        "num_sequences": len(obs),
        "length": args.length,
        "states": [s.tolist() for s in states],
    }
    emit(args, result, [f"wrote {', '.join(written)}"])
    return 0


def _midi_paths(out: Path, n: int) -> list[Path]:
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i + 1}{out.suffix}") for i in range(n)]


def _history_curves(history: dict):
    """The model file's training history as :func:`lsgm.plots.plot_model` draws it: a
    :class:`~lsgm.training.FitHistory` for EM (x axis "EM iteration"), per-epoch curves for
    gradient training, ``None`` without one."""
    if history.get("log_likelihood"):
        from lsgm.training import FitHistory

        return FitHistory(log_likelihoods=list(history["log_likelihood"]))
    curves = {k: history[k] for k in ("train_nll", "valid_nll") if history.get(k)}
    return curves or None


#: The pictures ``lsgm plot`` may write (as .png or .svg) into its output folder.
_PLOTS = tuple(
    f"{name}.{fmt}"
    for name in (
        "posteriors",
        "transitions",
        "emissions",
        "viterbi",
        "training",
        "state_logo",
        "piano_roll",
    )
    for fmt in ("png", "svg")
)


@all_or_nothing
def run_plot(args) -> int:
    from lsgm.plots import plot_model, plot_piano_roll, plot_sequence_logo

    positive_int("--record", args.record)
    outdir = check_output(
        args.output, [args.model, args.data], folder=True, contents=_PLOTS, what="plot folder"
    )
    lm = LoadedModel(args.model)
    data, xs = lm.read([args.data], args.split, args)
    if args.record > len(xs):
        raise ValueError(
            f"{args.data}: --record {args.record}, but the file has {len(xs)} records."
        )
    x = xs[args.record - 1]
    if len(x) > PLOT_STEPS and not (args.quiet or args.json):
        print(
            f"lsgm plot: warning: drawing {len(x):,} steps of {data.names[args.record - 1]} in "
            f"one picture, more than it can show apart; pass --region RECORD:START-END (at most "
            f"{PLOT_STEPS:,} steps) for a readable window.",
            file=sys.stderr,
        )
    where = lm.impossible(data, xs, [args.record - 1])
    if where:
        raise ValueError(
            f"{where[0]}: the record is impossible under the model {lm.path} (probability 0), "
            "so it has no posteriors or state path to plot; plot another --record, or refit "
            "with a pseudocount or prior."
        )
    symbols = lm.spec.alphabet if lm.spec.kind == "sequence" else None
    history = _history_curves(lm.info.get("training", {}).get("history", {}))
    written = plot_model(
        lm.model,
        x,
        outdir,
        state_names=lm.state_names,
        symbols=symbols and list(symbols),
        history=history,
        fmt=args.format,
        start=data.offsets[args.record - 1],
        record=data.chroms[args.record - 1],
    )
    if lm.spec.kind == "sequence" and lm.spec.alphabet == "ACGT" and lm.family == "categorical":
        from lsgm.plots import static_emission_table

        table, _ = static_emission_table(lm.model.emission)
        written.append(
            plot_sequence_logo(
                table,
                outdir / f"state_logo.{args.format}",
                title="Emission of each state",
                xlabel="state",
                column_names=lm.state_names,
            )
        )
    if lm.spec.kind == "pianoroll":
        written.append(plot_piano_roll(x, outdir / f"piano_roll.{args.format}"))
    emit(args, {"outputs": [str(p) for p in written]}, [f"wrote {p}" for p in written])
    return 0


def run_info(args) -> int:
    lm = LoadedModel(args.model)
    training = lm.info.get("training", {})
    result = {
        "model": str(lm.path),
        **lm.config,
        "n_parameters": lm.model.n_parameters(),
        "state_names": lm.state_names,
        "input": lm.spec.to_dict(),
        "training": {k: v for k, v in training.items() if k != "history"},
    }
    lines = [
        f"{lm.path}: {lm.config['kind']}, {lm.model.num_states} states, "
        f"{lm.model.n_parameters()} free parameters",
        f"emission: {lm.config['emission']}",
        f"states: {', '.join(lm.state_names)}",
        f"input: {lm.spec.kind}"
        + (f" over {lm.spec.alphabet!r}" if lm.spec.kind == "sequence" else ""),
    ]
    if lm.config["settings"]:
        lines.append(f"LSGM settings: {lm.config['settings']}")
    if training:
        lines.append(
            f"trained by {training.get('trainer')} on {training.get('num_sequences')} sequences "
            f"({training.get('num_steps')} steps) in {training.get('seconds')} s"
        )
    # Files written before the fields existed: the same status from the stored history.
    status = {k: training[k] for k in ("converged", "n_iter", "last_change") if k in training}
    status = status or fit_status(training.get("history", {}))
    result["training"].update(status)
    if status:
        change = status.get("last_change")
        lines.append(
            f"EM: {status['n_iter']} iterations, "
            + ("converged" if status["converged"] else "NOT converged (stopped at the cap)")
            + ("" if change is None else f", last change of the log-likelihood {change:.4g}")
        )
    warning = convergence_line(status)
    if warning:
        lines.append(f"warning: {warning}")
    emit(args, result, lines)
    return 0
