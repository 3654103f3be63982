"""``lsgm experiment chromatin``: sequence classification, a recurrent network vs k-mer
logistic regression (vs an LSGM likelihood-ratio classifier), genome-RNN paper §4.3–4.4.

Trains on every task of the ``--data`` folders at once (:mod:`lsgm.apps.chromatin`): the
DanQ-style convolution + BiLSTM (``--model danq``, default) or the paper's BiGRU
(``--model bigru``); the learning rate of the network (``--lr``, a list) and the ``C`` of each
task's regression (``--C``, a list of the same length: the same tuning budget) are chosen on
validation data of the first seed and reused for the others; the test split is scored once
per seed. Reports AUROC, AUPRC and F1 per task (mean ± SD over ``--seeds``) and the share of
tasks where the network's AUROC beats the regression's; saves each seed's models as
``model_seed<N>.ckpt``, which ``lsgm experiment chromatin predict MODEL FASTA -o OUT.tsv``
applies to new sequences.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lsgm.cli.common import (
    RESULT_FILES,
    add_output_options,
    emit,
    markdown_table,
    message,
    output_folder,
    strict_float,
    strict_int,
    write_report,
)


def _floats(text: str) -> list[float]:
    """An argparse ``type``: comma-separated finite numbers, e.g. ``1e-3,3e-3``."""
    values = [strict_float(part.strip()) for part in text.split(",")]
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be > 0")
    return values


def register(sub) -> None:
    c = sub.add_parser(
        "chromatin",
        help="sequence classification: DanQ-style CNN+BiLSTM / BiGRU vs k-mer LR",
        description=__doc__.split("\n\n")[1],
    )
    c.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="a DeepSEA-subset and/or DeepBind folder; repeat for several (required)",
    )
    c.add_argument("--quick", action="store_true", help="tiny models and subsets (CI)")
    c.add_argument("-o", "--output", default="lsgm-chromatin", help="output folder")
    c.add_argument(
        "--crop",
        type=strict_int,
        default=100,
        help="DeepSEA: middle bases kept (100, the paper); 0 = full length",
    )
    c.add_argument(
        "--max-positives",
        type=strict_int,
        default=1500,
        help="DeepBind training peaks per task (1500; 0 = all)",
    )
    c.add_argument(
        "--background",
        metavar="FASTA",
        help="genome FASTA: DeepBind training negatives are length-matched random windows "
        "of it (default: dinucleotide shuffles of the peaks)",
    )
    c.add_argument(
        "--max-n-fraction",
        type=strict_float,
        default=0.0,
        help="background windows with a larger share of N are redrawn (0.0)",
    )
    c.add_argument("--model", choices=("danq", "bigru"), default="danq", help="network (danq)")
    c.add_argument("--hidden", type=strict_int, help="recurrent units (danq 32, bigru 128)")
    c.add_argument("--layers", type=strict_int, default=2, help="bigru: layers (2)")
    c.add_argument("--filters", type=strict_int, default=64, help="danq: filters (64)")
    c.add_argument("--kernel", type=strict_int, default=15, help="danq: filter width (15)")
    c.add_argument("--pool", type=strict_int, default=4, help="danq: max-pool width (4)")
    c.add_argument(
        "--trunk", type=strict_int, help="ReLU trunk width (danq 0, bigru 128; 0 = none)"
    )
    c.add_argument("--dropout", type=strict_float, default=0.1, help="dropout rate (0.1)")
    c.add_argument("--epochs", type=strict_int, default=12, help="network epochs at most (12)")
    c.add_argument("--patience", type=strict_int, default=2, help="early-stopping patience (2)")
    c.add_argument("--batch-size", type=strict_int, default=64, help="network batch (64)")
    c.add_argument(
        "--lr", type=_floats, default=[3e-3, 1e-2], help="Adam rates tried (default: 3e-3,1e-2)"
    )
    c.add_argument(
        "--C",
        type=_floats,
        default=[0.01, 1.0],
        help="regression C values tried (default: 0.01,1)",
    )
    c.add_argument("--seeds", type=strict_int, default=3, help="seeds --seed, --seed+1, ... (3)")
    c.add_argument("--no-lsgm", action="store_true", help="skip the LSGM classifier")
    c.add_argument("--lsgm-states", type=strict_int, default=4, help="LSGM states (4)")
    c.add_argument("--lsgm-hidden", type=strict_int, default=16, help="LSGM GRU units (16)")
    c.add_argument("--lsgm-epochs", type=strict_int, default=5, help="LSGM epochs (5)")
    add_output_options(c)
    c.set_defaults(run=run_chromatin)

    inner = c.add_subparsers(dest="action", metavar="predict")
    p = inner.add_parser(
        "predict",
        help="score a FASTA file with a saved model",
        description="Write p(bound | sequence) of every task, from the network and from the "
        "k-mer regression, for each record of FASTA (gzip ok) to a tab-separated file.",
    )
    p.add_argument(
        "model", metavar="MODEL", help="a model_seed<N>.ckpt of lsgm experiment chromatin"
    )
    p.add_argument("fasta", metavar="FASTA", help="sequences to score (A/C/G/T only)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tsv", help="output table")
    add_output_options(p)
    p.set_defaults(run=run_predict)


def run_predict(args) -> int:
    from lsgm.apps import chromatin
    from lsgm.data import AmbiguousSymbolError, atomic_write_text, check_output, read_sequences

    out = check_output(args.output, [args.model, args.fasta], (".tsv",), what="output table")
    model = chromatin.ChromatinModel.load(args.model)
    try:
        records = read_sequences(args.fasta)
    except AmbiguousSymbolError as err:
        raise ValueError(
            f"{err.where}: ambiguous base {err.letter!r}; the classifiers score plain A/C/G/T "
            "sequences — remove or replace it."
        ) from None
    scores = model.predict([r.data for r in records])
    columns = list(scores)
    lines = ["\t".join(["name", "length", *columns])]
    for i, r in enumerate(records):
        lines.append(
            "\t".join([r.name, str(len(r.data))] + [f"{scores[k][i]:.6g}" for k in columns])
        )
    atomic_write_text(out, "\n".join(lines) + "\n")
    result = {"model": str(args.model), "fasta": str(args.fasta), "records": len(records)}
    result["output"], result["columns"] = str(out), columns
    emit(args, result, [f"scored {len(records)} sequences with {args.model}; wrote {out}"])
    return 0


def _configs(args) -> tuple[dict, dict, list[float], list[float]]:
    """``(network config, training settings, learning rates, Cs)`` for ``args``."""
    if args.quick:  # tiny, seconds: one rate and one C (the grids need a real budget)
        config = dict(filters=8, kernel_size=7, pool=4, hidden_size=8, trunk_size=0)
        if args.model == "bigru":
            config = dict(hidden_size=8, num_layers=1, trunk_size=8)
        train = dict(epochs=2, batch_size=64, patience=2)
        return {**config, "dropout": 0.0}, train, [1e-2], [1.0]  # no dropout: a faster compile
    if args.model == "danq":
        config = dict(
            filters=args.filters,
            kernel_size=args.kernel,
            pool=args.pool,
            hidden_size=args.hidden or 32,
            trunk_size=0 if args.trunk is None else args.trunk,
        )
    else:
        config = dict(
            hidden_size=args.hidden or 128,
            num_layers=args.layers,
            trunk_size=128 if args.trunk is None else args.trunk,
        )
    if len(args.lr) != len(args.C):
        raise ValueError(
            f"--lr has {len(args.lr)} values and --C {len(args.C)}; give both the same number "
            "so that the network and the regression get the same tuning budget."
        )
    train = dict(epochs=args.epochs, batch_size=args.batch_size, patience=args.patience)
    return {**config, "dropout": args.dropout}, train, args.lr, args.C


def _mean_sd(row: dict, key: str) -> str:
    if row[key] is None:
        return "n/a"
    return f"{row[key]:.3f} ± {row[key + '_sd']:.3f}"


def run_chromatin(args) -> int:
    from lsgm.apps import chromatin as c

    if args.action == "predict":  # pragma: no cover - argparse routes predict to run_predict
        return run_predict(args)
    if not args.data:
        raise ValueError("--data DIR is required (a DeepSEA-subset and/or DeepBind folder).")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {args.seeds}.")
    models = [f"model_seed{args.seed + i}.ckpt" for i in range(args.seeds)]
    outdir = output_folder(args, [*args.data, args.background], (*RESULT_FILES, *models))
    started, mode = time.perf_counter(), "quick" if args.quick else "full"
    crop = None if args.crop == 0 else args.crop
    max_pos = 60 if args.quick else (args.max_positives or None)
    config, train, lrs, Cs = _configs(args)
    lsgm = (
        dict(num_states=2, hidden_size=8, epochs=1)
        if args.quick
        else dict(
            num_states=args.lsgm_states, hidden_size=args.lsgm_hidden, epochs=args.lsgm_epochs
        )
    )
    log = (lambda text: message(args, text)) if not args.quick else None
    runs, tasks = [], []
    for i in range(args.seeds):
        seed = args.seed + i
        message(args, f"seed {seed}: loading tasks")
        tasks = c.load_tasks(
            args.data,
            crop=crop,
            max_positives=max_pos,
            seed=seed,
            background=args.background,
            max_n_fraction=args.max_n_fraction,
        )
        if args.quick:
            tasks = [t.subset(120, 60, seed=seed) for t in tasks]
        r, model = c.run_chromatin(
            tasks,
            kind=args.model,
            config=config,
            train_kwargs=train,
            learning_rates=lrs,
            Cs=Cs if i == 0 else None,
            task_Cs=None if i == 0 else [[t["kmer_lr_C"]] for t in runs[0]["tasks"]],
            lsgm_kwargs=lsgm,
            with_lsgm=not args.no_lsgm,
            seed=seed,
            log=log,
        )
        if i == 0:  # chosen on the first seed's validation data, reused for the others
            lrs = [r["rnn"]["learning_rate"]]
        model.save(outdir / models[i])
        runs.append({"seed": seed, **r})
    s = c.summarise_seeds(runs)
    names = {"danq": "DanQ", "bigru": "BiGRU"}
    net = names[args.model]
    header = ["task", "train", "test", f"AUROC {net}", "AUROC k-mer LR", f"AUPRC {net}"]
    header += ["AUPRC k-mer LR", f"F1 {net}", "F1 k-mer LR"]
    header += [] if args.no_lsgm else ["AUROC LSGM"]
    rows = [header]
    for t in s["tasks"]:
        row = [t["task"], str(t["train"]), str(t["test"])]
        for metric in ("auroc", "auprc", "f1"):
            row += [_mean_sd(t, f"{metric}_rnn"), _mean_sd(t, f"{metric}_kmer_lr")]
        rows.append(row + ([] if args.no_lsgm else [_mean_sd(t, "auroc_lsgm")]))
    seconds = time.perf_counter() - started
    first = runs[0]
    per_seed = ", ".join(f"{w:.3f}" for w in s["win_share_per_seed"])
    share = s["win_share_on_means"]
    lines = markdown_table(rows) + [
        "",
        f"{net}: {first['rnn']['n_parameters']:,} parameters, learning rate "
        f"{first['rnn']['learning_rate']:g} (of {', '.join(map(str, first['learning_rates']))}; "
        f"chosen on seed {args.seed}'s validation AUROC), best epochs "
        f"{', '.join(str(r['rnn']['best_epoch']) for r in runs)}; k-mer LR C per task "
        f"{', '.join(format(t['kmer_lr_C'], 'g') for t in first['tasks'])}. Mean ± SD over "
        f"{s['seeds']} seed(s).",
        f"{net} beats k-mer LR in AUROC on {s['wins_on_means']} of {s['eligible_tasks']} tasks "
        f"(seed means; "
        + ("n/a" if share is None else f"{100 * share:.1f} %")
        + f"; per seed: {per_seed}; paper: 81.9 % in F1).",
    ]
    empty = [t.name for t in tasks if not np.asarray(t.test_y).any()]
    if empty:
        warning = (
            f"warning: {len(empty)} task(s) have no positive in their test split, so their F1 "
            f"is 0 and AUROC undefined for every model: {', '.join(empty)}"
        )
        print(f"lsgm experiment chromatin: {warning}", file=sys.stderr)
        lines.append(warning + ".")
    result = {
        "mode": mode,
        "seconds": seconds,
        "summary": s,
        "runs": runs,
        "models": models,
        "background": args.background,
        "tasks_without_test_positives": empty,
    }
    write_report(outdir, result, f"lsgm experiment chromatin ({mode}, {seconds:.0f} s)", lines)
    emit(
        args,
        result,
        [*lines, f"wrote results.md, results.json and models to {outdir}/ in {seconds:.0f} s"],
    )
    return 0
