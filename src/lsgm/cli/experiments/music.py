"""``lsgm experiment music``: HMM, RNN and LSGM on polyphonic music (the LSGM paper's Table 3)."""

from __future__ import annotations

from pathlib import Path

from lsgm.cli.common import (
    add_output_options,
    check_resume,
    emit,
    message,
    output_folder,
    positive_int,
    strict_float,
    strict_int,
    to_json,
    write_report,
)
from lsgm.data import atomic_write_text


def register(sub) -> None:
    p = sub.add_parser(
        "music",
        help="polyphonic music: HMM vs RNN vs LSGM, log-likelihood per frame (Table 3)",
        description="Train a Bernoulli HMM (EM), a GRU with independent Bernoulli outputs and "
        "the paper's LSGM on each data set's train split, early-stop on valid, and report the "
        "mean test log-likelihood per frame per sequence; sample a MIDI file from each LSGM.",
    )
    p.add_argument(
        "--dataset",
        action="append",
        help="a .mat/.json piano-roll file with train/valid/test splits, or a bundled "
        "name (jsb, nottingham, piano-midi); repeatable (default: all three bundled)",
    )
    p.add_argument("--quick", action="store_true", help="a few sequences, tiny models (seconds)")
    p.add_argument(
        "--epochs", type=strict_int, default=100, help="most epochs (early stopping decides)"
    )
    p.add_argument(
        "--models", default="HMM,RNN,LSGM", help="comma-separated subset of HMM,RNN,LSGM"
    )
    p.add_argument("--learning-rate", type=strict_float, default=1e-3, help="Adam's rate (1e-3)")
    p.add_argument(
        "--weight-decay",
        type=strict_float,
        default=0.0,
        help="AdamW's decoupled weight decay (default 0: plain Adam)",
    )
    p.add_argument(
        "--dropout",
        type=strict_float,
        default=0.5,
        help="dropout rate after the GRU and the dense layer (0.5, the paper's)",
    )
    p.add_argument(
        "--patience",
        type=strict_int,
        default=3,
        help="epochs without a lower validation NLL before stopping (3, the paper's)",
    )
    p.add_argument(
        "--states",
        type=strict_int,
        help="HMM/LSGM states (default: the paper's, 32 for JSB, else 16)",
    )
    p.add_argument(
        "--hidden-size",
        type=strict_int,
        help="GRU units of the RNN and LSGM (default: the paper's, 128 JSB, else 512)",
    )
    p.add_argument(
        "--init",
        choices=("random", "hmm"),
        default="random",
        help="the LSGM's start: random parameters (the paper's, default) or the fitted HMM",
    )
    p.add_argument("--checkpoint-dir", help="per-epoch checkpoints (DIR/DATASET/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    p.add_argument("-o", "--output", default="lsgm-music", help="output folder")
    add_output_options(p)
    p.set_defaults(run=run)


def _load(spec: str):
    from lsgm.data import read_pianoroll
    from lsgm.datasets import MUSIC_FILES, load_music

    if spec in MUSIC_FILES:
        return spec, load_music(spec)
    path = Path(spec)
    data = read_pianoroll(path)
    missing = [s for s in ("train", "valid", "test") if s not in data]
    if missing:
        raise ValueError(f"{path}: needs train/valid/test splits; missing {missing}.")
    name = path.stem.lower().replace("_", "-")
    name = {"jsb-chorales": "jsb", "piano-midi": "piano-midi"}.get(name, name)
    return name, data


def run(args) -> int:
    from lsgm.apps import music
    from lsgm.data import write_midi
    from lsgm.plots import plot_piano_roll

    positive_int("--epochs", args.epochs)
    positive_int("--patience", args.patience)
    positive_int("--states", args.states)
    positive_int("--hidden-size", args.hidden_size)
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be > 0; got {args.learning_rate}.")
    if not args.weight_decay >= 0:
        raise ValueError(f"--weight-decay must be >= 0; got {args.weight_decay}.")
    if not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1); got {args.dropout}.")
    check_resume(args)
    outdir = output_folder(args, args.dataset or ())
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = sorted(set(models) - {"HMM", "RNN", "LSGM"})
    if unknown or not models:
        raise ValueError(f"--models {args.models!r}: choose from HMM, RNN, LSGM (comma-separated).")
    specs = args.dataset or ["jsb", "nottingham", "piano-midi"]
    loaded = [_load(s) for s in specs]  # every file is checked before training starts
    show = not (args.quiet or args.json)
    table, results = {}, {}
    for name, data in loaded:
        message(args, f"{name}: {', '.join(f'{k} {len(v)}' for k, v in data.items())}")
        ckpt = None if args.checkpoint_dir is None else Path(args.checkpoint_dir) / name
        run_ = music.run_music(
            data,
            name=name,
            quick=args.quick,
            epochs=args.epochs,
            seed=args.seed,
            checkpoint_dir=ckpt,
            resume=args.resume,
            progress_bar=show,
            models=models,
            learning_rate=args.learning_rate,
            patience=args.patience,
            num_states=args.states,
            hidden_size=args.hidden_size,
            dropout=args.dropout,
            weight_decay=args.weight_decay,
            init=args.init,
        )
        results[name] = {"results": run_["results"], "sizes": run_["sizes"]}
        for model, r in run_["results"].items():
            table.setdefault(model, {})[name] = r
        if "LSGM" in run_["models"]:
            roll = music.sample_roll(run_["models"]["LSGM"], 64, seed=args.seed)
            write_midi(outdir / f"{name}_lsgm_sample.mid", roll, step_seconds=0.5)
            plot_piano_roll(
                roll,
                outdir / f"{name}_lsgm_sample.png",
                step_seconds=0.5,
                title=f"LSGM sample ({name})",
            )
        atomic_write_text(outdir / "results.json", to_json(results))
    names = [n for n, _ in loaded]
    lines = [
        "| model | " + " | ".join(names) + " | parameters |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for model, per in table.items():
        cells = [f"{per[n]['test_ll_per_frame']:.3f}" for n in names]
        params = ", ".join(str(per[n]["n_parameters"]) for n in names)
        lines.append(f"| {model} (lsgm) | " + " | ".join(cells) + f" | {params} |")
    for row, per in music.PAPER_TABLE3.items():
        cells = [f"{per[n]:.2f}" if n in per else "–" for n in names]
        lines.append(f"| {row} (paper) | " + " | ".join(cells) + " | |")
    text = "\n".join(lines)
    mode = "quick" if args.quick else "full"
    write_report(outdir, results, f"Music ({mode}): test log-likelihood per frame", [text])
    emit(
        args, results, [text, f"wrote {outdir}/results.md, results.json, LSGM samples (MIDI, PNG)"]
    )
    return 0
