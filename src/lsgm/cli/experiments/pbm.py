"""``lsgm experiment pbm``: transcription-factor binding from PBM arrays (LSGM paper §3.2).

Trains the motif-state HMM, the LSGM (LSTM transitions), DeepBind, DeeperBind and a k-mer
ridge regression on array 1 (70:30 training/validation) and reports Spearman's ρ on array 2
(``--test``), or ``--cv K``-fold cross-validation on one array; writes a Table-2-like
``results.md``, ``results.json`` and logos of the learned motifs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsgm.cli.common import (
    add_output_options,
    add_seeds_option,
    emit,
    markdown_table,
    message,
    output_folder,
    positive_int,
    strict_int,
    write_report,
)


def register(sub) -> None:
    p = sub.add_parser(
        "pbm",
        help="TF binding from PBM arrays: HMM, DeepBind, DeeperBind, LSGM",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument(
        "--train",
        required=True,
        metavar="ARRAY1",
        help="PBM table of array 1 (intensity<TAB>probe or probe<TAB>intensity)",
    )
    p.add_argument("--test", metavar="ARRAY2", help="PBM table of array 2 (the test array)")
    p.add_argument(
        "--cv",
        type=strict_int,
        default=0,
        metavar="K",
        help="K-fold cross-validation on --train instead of a test array",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one small motif, tiny networks, one learning rate, 4 epochs, ≤ 600/400 probes (CI)",
    )
    p.add_argument("-o", "--output", default="lsgm-pbm", help="output folder (lsgm-pbm)")
    p.add_argument(
        "--models",
        default="hmm,lsgm,deepbind,deeperbind,kmer",
        help="comma-separated subset of hmm,lsgm,deepbind,deeperbind,kmer",
    )
    p.add_argument(
        "--motifs",
        metavar="FILE",
        help="JASPAR/MEME/TRANSFAC file to initialise the motif PWMs from",
    )
    p.add_argument(
        "--motif",
        action="append",
        default=[],
        metavar="NAME",
        help="motif ID or name in --motifs (repeat; default: all in the file)",
    )
    p.add_argument("--freeze-pwms", action="store_true", help="keep the initial PWMs fixed")
    p.add_argument("--num-motifs", type=strict_int, help="motifs (5, the paper's)")
    p.add_argument("--motif-width", type=strict_int, help="motif width (11, the paper's)")
    p.add_argument("--single-strand", action="store_true", help="no reverse-complement chains")
    p.add_argument("--lsgm-hidden", type=strict_int, help="LSTM units per layer (32)")
    p.add_argument(
        "--epochs",
        type=strict_int,
        help="epoch cap of every model (30; the LSGM's includes its HMM's epochs)",
    )
    p.add_argument("--patience", type=strict_int, help="early-stopping patience (4)")
    add_seeds_option(p, None, "70:30 split, initialisation and minibatch order")
    p.add_argument("--max-train", type=strict_int, help="random subset of array 1 (all)")
    p.add_argument("--max-test", type=strict_int, help="random subset of array 2 (all)")
    add_output_options(p)
    p.set_defaults(run=run_pbm_command)


def _settings(args):
    from lsgm.apps import tf_binding

    base = tf_binding.QUICK if args.quick else tf_binding.PBMSettings()
    for option in (
        "num_motifs",
        "motif_width",
        "lsgm_hidden",
        "epochs",
        "patience",
        "max_train",
        "max_test",
    ):
        positive_int("--" + option.replace("_", "-"), getattr(args, option))
    if args.cv:  # 0 (the default) = no cross-validation
        positive_int("--cv", args.cv)
    changes = {
        "num_motifs": args.num_motifs,
        "motif_width": args.motif_width,
        "lsgm_hidden": args.lsgm_hidden,
        "max_epochs": args.epochs,
        "patience": args.patience,
        "max_train": args.max_train or (600 if args.quick else None),
        "max_test": args.max_test or (400 if args.quick else None),
    }
    if args.single_strand:
        changes["both_strands"] = False
    return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})


def _initial_pwms(args) -> list[np.ndarray] | None:
    from lsgm.data import find_motif, read_motifs

    if not args.motifs:
        if args.motif:
            raise ValueError("--motif needs --motifs FILE (a JASPAR, MEME or TRANSFAC file).")
        return None
    motifs = read_motifs(args.motifs)
    chosen = [find_motif(motifs, q) for q in args.motif] if args.motif else motifs
    return [m.pwm() for m in chosen]


#: What differs from the paper's Table 2 in every row of a proteinA run.
NOT_LIKE_FOR_LIKE = "no: proteinA (a GATA factor), not the paper's five TFs"


def _cell(row: dict, key: str) -> str:
    from lsgm.apps import seeds

    return seeds.mean_sd_text(row[key], row[key + "_sd"])


def _configs(row: dict) -> str:
    """The kept configuration, with how many seeds kept it when they differ."""
    counts: dict[str, int] = {}
    for c in row["configs"]:
        counts[c] = counts.get(c, 0) + 1
    if len(counts) == 1:
        return row["configs"][0]
    return "; ".join(f"{c} ({n} seed{'s' if n != 1 else ''})" for c, n in counts.items())


def _epochs(row: dict) -> str:
    """Per seed ``best/run`` epochs (the LSGM: ``HMM h + best/run``); a * marks a seed whose
    kept configuration reached the cap."""
    cells = []
    for r in row["per_seed"]:
        if r["model"] == "kmer":
            return "–"
        text = f"{r['best_epoch']}/{r['epochs']}" + ("*" if r["capped"] else "")
        cells.append(f"{r['pretrain_epochs']} + {text}" if r["pretrain_epochs"] else text)
    return ", ".join(cells)


def run_pbm_command(args) -> int:
    from lsgm.apps import tf_binding
    from lsgm.data import read_pbm
    from lsgm.plots import plot_sequence_logo

    if (args.test is None) == (args.cv < 2):
        raise ValueError("give --test ARRAY2 (train on array 1, test on array 2) or --cv K >= 2.")
    seeds = positive_int("--seeds", args.seeds) or (1 if args.quick else 3)
    outdir = output_folder(args, [args.train, args.test, args.motifs])
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    settings = _settings(args)
    init = _initial_pwms(args)
    train = read_pbm(args.train)
    test = read_pbm(args.test) if args.test else None
    message(args, f"array 1: {len(train):,} probes" + (f"; array 2: {len(test):,}" if test else ""))
    result = tf_binding.run_pbm_seeds(
        train,
        test,
        seeds=range(args.seed, args.seed + seeds),
        models=models,
        settings=settings,
        folds=args.cv,
        init_pwms=init,
        freeze_pwms=args.freeze_pwms,
        log=lambda t: message(args, t),
    )
    result["mode"] = "quick" if args.quick else "full"
    metric = "test ρ (array 2)" if test is not None else f"ρ ({args.cv}-fold CV mean)"
    rows = [
        [
            "model",
            "configuration kept",
            "parameters",
            "valid ρ",
            metric,
            "epochs best/run per seed (* = cap)",
            "train s per seed (mean; all configurations)",
            "like for like",
        ]
    ]
    for r in result["rows"]:
        rows.append(
            [
                r["model"],
                _configs(r),
                f"{r['parameters']:,}",
                _cell(r, "valid_spearman"),
                _cell(r, "test_spearman"),
                _epochs(r),
                f"{r['seconds']:.0f}",
                NOT_LIKE_FOR_LIKE,
            ]
        )
    lines = markdown_table(rows)
    s = result["settings"]
    budget = (
        f"{len(result['seeds'])} seed(s) {result['seeds']}, mean ± SD; every model: "
        f"learning rates {', '.join(f'{lr:g}' for lr in s['learning_rates'])} (k-mer ridge: α "
        f"{', '.join(f'{a:g}' for a in s['kmer_alphas'])}), the best on validation ρ kept; "
        f"at most {s['max_epochs']} epochs (the LSGM's count includes its HMM's), patience "
        f"{s['patience']}."
    )
    logos = []
    for name, pwms in result.get("pwms", {}).items():
        for m, pwm in enumerate(pwms):
            path = plot_sequence_logo(
                np.asarray(pwm),
                outdir / f"logo_{name}_motif{m + 1}.png",
                title=f"{name}: motif {m + 1} (seed {result['seeds'][0]})",
            )
            logos.append(path.name)
    result["logos"] = logos
    head = f"lsgm experiment pbm ({result['mode']}, {result['seconds']:.0f} s)"
    source = f"array 1 `{args.train}`" + (f", array 2 `{args.test}`" if test else "")
    body = [source, "", budget, "", *lines, "", *[f"![{p}]({p})" for p in logos]]
    write_report(outdir, result, head, body)
    emit(args, result, [budget, *lines, f"written to {outdir}/"])
    return 0
