"""``lsgm experiment music``: HMM, RNN and LSGM on polyphonic music (the LSGM paper's Table 3)."""

from __future__ import annotations

from pathlib import Path

from lsgm.cli.common import (
    add_output_options,
    add_seeds_option,
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

#: The default of ``--eval-frames`` (:data:`lsgm.apps.music.EVAL_FRAMES`, kept here so that
#: building the parser does not import JAX).
EVAL_FRAMES = 16_384


def register(sub) -> None:
    p = sub.add_parser(
        "music",
        help="polyphonic music: HMM vs RNN vs LSGM, log-likelihood per frame (Table 3)",
        description="Train a Bernoulli HMM (EM), a GRU with independent Bernoulli outputs and "
        "the paper's LSGM on each data set's train split, early-stop on valid, score the test "
        "split once per fitted model, and report the mean test log-likelihood per frame per "
        "sequence (mean ± SD over --seeds) beside Table 3, saying whether each row is like for "
        "like with the paper; sample a MIDI file from each LSGM.",
    )
    p.add_argument(
        "--dataset",
        action="append",
        help="a .mat/.json piano-roll file with train/valid/test splits (e.g. MuseData.mat), "
        "or a bundled name (jsb, nottingham, piano-midi); repeatable (default: all three "
        "bundled)",
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
    p.add_argument(
        "--entropy-epochs",
        type=strict_int,
        help="epochs with the filtering-entropy regulariser before early stopping may end "
        "training (default: the paper's 10; 0 in --quick mode); 0 disables it",
    )
    for split in ("train", "valid", "test"):
        p.add_argument(
            f"--max-{split}",
            type=strict_int,
            metavar="N",
            help=f"use N {split} pieces, a seeded subsample (seed 0, the same for every "
            "--seed; default: all)",
        )
    add_seeds_option(p, 1, "initialisation and minibatch order")
    p.add_argument(
        "--batch-size",
        type=strict_int,
        default=32,
        help="pieces per training step, from one power-of-two length bucket",
    )
    p.add_argument(
        "--eval-frames",
        type=strict_int,
        default=EVAL_FRAMES,
        help="most padded frames per scoring call (bounds the memory of scoring)",
    )
    p.add_argument("--checkpoint-dir", help="per-epoch checkpoints (DIR/DATASET/seedS/MODEL)")
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


def table_lines(results: dict) -> list[str]:
    """The Markdown table of ``{dataset: run_music_seeds summary}``: one row per data set and
    model, with the paper's value, met / not met and what differs from the paper's setup."""
    from lsgm.apps import seeds

    _cell = seeds.mean_sd_text
    lines = [
        "| data set | model | test LL per frame | valid LL per frame | seeds | epochs (best) "
        "| parameters | paper | met | like for like | what differs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, per in results.items():
        for model, r in per["summary"].items():
            best = ", ".join(
                f"{e}" if b is None else f"{e} ({b})"
                for e, b in zip(r["epochs"], r["best_epochs"], strict=True)
            )
            paper = "–" if r["paper"] is None else f"{r['paper']:.2f}"
            met = "–" if r["met"] is None else ("met" if r["met"] else "not met")
            lines.append(
                f"| {name} | {model} | {_cell(r['test_mean'], r['test_sd'])} "
                f"| {_cell(r['valid_mean'], r['valid_sd'])} | {len(per['seeds'])} | {best} "
                f"| {r['n_parameters']} | {paper} | {met} "
                f"| {'yes' if r['like_for_like'] else 'no'} | {'; '.join(r['differs']) or '–'} |"
            )
    return lines


def run(args) -> int:
    from lsgm.apps import music
    from lsgm.data import write_midi
    from lsgm.plots import plot_piano_roll

    options = ("epochs", "patience", "states", "hidden_size", "seeds", "eval_frames", "batch_size")
    for option in options:
        positive_int(f"--{option.replace('_', '-')}", getattr(args, option))
    for option in ("max_train", "max_valid", "max_test"):
        positive_int(f"--{option.replace('_', '-')}", getattr(args, option))
    if args.entropy_epochs is not None and args.entropy_epochs < 0:
        raise ValueError(
            f"--entropy-epochs must be >= 0 (0 disables the regulariser); got {args.entropy_epochs}."
        )
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be > 0; got {args.learning_rate}.")
    if not args.weight_decay >= 0:
        raise ValueError(f"--weight-decay must be >= 0; got {args.weight_decay}.")
    if not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1); got {args.dropout}.")
    if args.seed + args.seeds > 2**32:
        raise ValueError(f"--seed {args.seed} + --seeds {args.seeds} passes 2**32 - 1.")
    check_resume(args)
    outdir = output_folder(args, args.dataset or ())
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = sorted(set(models) - {"HMM", "RNN", "LSGM"})
    if unknown or not models:
        raise ValueError(f"--models {args.models!r}: choose from HMM, RNN, LSGM (comma-separated).")
    specs = args.dataset or ["jsb", "nottingham", "piano-midi"]
    loaded = [_load(s) for s in specs]  # every file is checked before training starts
    show = not (args.quiet or args.json)
    results = {}
    for name, data in loaded:
        message(args, f"{name}: {', '.join(f'{k} {len(v)}' for k, v in data.items())}")
        ckpt = None if args.checkpoint_dir is None else Path(args.checkpoint_dir) / name
        run_ = music.run_music_seeds(
            data,
            name=name,
            seeds=range(args.seed, args.seed + args.seeds),
            quick=args.quick,
            epochs=args.epochs,
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
            entropy_epochs=args.entropy_epochs,
            max_train=args.max_train,
            max_valid=args.max_valid,
            max_test=args.max_test,
            eval_frames=args.eval_frames,
            batch_size=args.batch_size,
        )
        results[name] = {k: run_[k] for k in ("seeds", "summary", "runs")}
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
    lines = table_lines(results)
    mode = "quick" if args.quick else "full"
    title = f"Music ({mode}): test log-likelihood per frame, mean ± SD over seeds"
    write_report(outdir, results, title, lines)
    emit(
        args,
        results,
        [*lines, f"wrote {outdir}/results.md, results.json, LSGM samples (MIDI, PNG)"],
    )
    return 0
