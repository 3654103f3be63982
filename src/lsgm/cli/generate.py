"""``lsgm sample``, ``lsgm plot`` and ``lsgm info``."""

from __future__ import annotations

import io
from pathlib import Path

import jax
import numpy as np

from lsgm.cli.common import LoadedModel, add_output_options, emit, positive_int
from lsgm.data.files import atomic_write_bytes, atomic_write_text, check_writable_dir

SAMPLE_SUFFIXES = {"sequence": (".fa", ".fasta"), "pianoroll": (".mid", ".midi"),
                   "table": (".npy", ".csv")}  # fmt: skip


def register(sub) -> None:
    p = sub.add_parser("sample", help="sample sequences from a model (FASTA, MIDI or a table)")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True,
                   help="output: .fa for sequence models, .mid for music models (a piano-roll "
                   ".png is written next to it), .npy/.csv for numeric models")  # fmt: skip
    p.add_argument("-n", "--length", type=int, default=200, help="steps per sequence")
    p.add_argument("--num-sequences", type=int, default=1)
    p.add_argument("--step-seconds", type=float, default=0.5, help="MIDI grid step")
    add_output_options(p)
    p.set_defaults(run=run_sample)

    p = sub.add_parser("plot", help="pictures of a model on one sequence (PNG or SVG)")
    p.add_argument("model")
    p.add_argument("data", help="a data file; its first record (or --record) is drawn")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--record", type=int, default=1, help="which record to draw (1-based)")
    p.add_argument("--split", default=None, help="piano-roll split to read")
    p.add_argument("--format", choices=["png", "svg"], default="png")
    add_output_options(p)
    p.set_defaults(run=run_plot)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model")
    add_output_options(p)
    p.set_defaults(run=run_info)


def run_sample(args) -> int:
    positive_int("--length", args.length)
    positive_int("--num-sequences", args.num_sequences)
    lm = LoadedModel(args.model)
    out = Path(args.output)
    allowed = SAMPLE_SUFFIXES[lm.spec.kind]
    if out.suffix.lower() not in allowed:
        raise ValueError(
            f"{out}: a {lm.spec.kind} model samples to {' or '.join(allowed)}; got "
            f"{out.suffix or 'no suffix'!r}."
        )
    check_writable_dir(out.parent)
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
        from lsgm.data.pianoroll import write_midi
        from lsgm.plots import plot_piano_roll

        written = []
        for i, roll in enumerate(obs):
            path = out if len(obs) == 1 else out.with_name(f"{out.stem}_{i + 1}{out.suffix}")
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
    result = {"outputs": written, "num_sequences": len(obs), "length": args.length,
              "states": [s.tolist() for s in states]}  # fmt: skip
    emit(args, result, [f"wrote {', '.join(written)}"])
    return 0


def _history_curves(history: dict) -> dict | None:
    if history.get("log_likelihood"):
        return {"EM (negative log-likelihood)": [-v for v in history["log_likelihood"]]}
    curves = {k: history[k] for k in ("train_nll", "valid_nll") if history.get(k)}
    return curves or None


def run_plot(args) -> int:
    from lsgm.plots import plot_model, plot_piano_roll, plot_sequence_logo

    positive_int("--record", args.record)
    outdir = check_writable_dir(args.output)
    lm = LoadedModel(args.model)
    data, xs = lm.read([args.data], args.split)
    if args.record > len(xs):
        raise ValueError(
            f"{args.data}: --record {args.record}, but the file has {len(xs)} records."
        )
    x = xs[args.record - 1]
    symbols = lm.spec.alphabet if lm.spec.kind == "sequence" else None
    history = _history_curves(lm.info.get("training", {}).get("history", {}))
    written = plot_model(
        lm.model, x, outdir, state_names=lm.state_names, symbols=symbols and list(symbols),
        history=history, fmt=args.format,
    )  # fmt: skip
    if lm.spec.kind == "sequence" and lm.spec.alphabet == "ACGT" and lm.family == "categorical":
        from lsgm.plots import static_emission_table

        table, _ = static_emission_table(lm.model.emission)
        written.append(plot_sequence_logo(table, outdir / f"state_logo.{args.format}",
                                          title="emission of each state (position = state)"))  # fmt: skip
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
    emit(args, result, lines)
    return 0
