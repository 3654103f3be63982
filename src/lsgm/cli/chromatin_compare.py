"""``lsgm chromatin compare INPUTDIR OUTPUTDIR NUMSTATES``: ChromHMM's HMM and an LSGM (a GRU
over the marks seen so far conditions the transitions) at the same number of states, scored
on held-out files (beyond ChromHMM; :mod:`lsgm.apps.chromatin_states.lsgm_states`).

Writes ``comparison.txt`` (a table) and ``comparison.json`` (every number) into OUTPUTDIR,
together and atomically. Parsing loads nothing heavy.
"""

from __future__ import annotations

import argparse
import sys

from lsgm.cli.common import all_or_nothing, seed_int, strict_float, strict_int

#: The ``--quick`` settings (the tests' run): small everything.
QUICK = {
    "max_bins": 2000,
    "window": 50,
    "hidden": 4,
    "epochs": 2,
    "seeds": 1,
    "multiples": (),
    "r": 5,
}
OUTPUTS = ("comparison.txt", "comparison.json")


def _multiples(text: str) -> tuple[int, ...]:
    if text == "none":
        return ()
    parts = text.split(",")
    if not all(p.strip().isdigit() and int(p) >= 2 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers >= 2 (e.g. 2,3)"
        )
    return tuple(int(p) for p in parts)


def register(chromatin_sub) -> None:
    """Add ``compare`` to the ``lsgm chromatin`` group."""
    p = chromatin_sub.add_parser(
        "compare",
        help="an LSGM against ChromHMM's HMM on held-out files (beyond ChromHMM)",
        description=(
            "Fit ChromHMM's HMM (information initialisation, Baum-Welch) and an LSGM started "
            "at it (a GRU over the marks seen so far moves its transitions; trained by "
            "gradient on windows, early-stopped on the last part of every training file) at "
            "NUMSTATES states on all but the held-out chromosome or cell; fit HMMs with more "
            "states; score all exactly on the held-out files (log-likelihood per bin), count "
            "parameters and compare the Viterbi segmentations (Hungarian-matched states). "
            "Writes comparison.txt and comparison.json into OUTPUTDIR."
        ),
        allow_abbrev=False,
    )
    p.add_argument("inputdir", help="folder of binarized files (*_binary.txt[.gz])")
    p.add_argument("outputdir", help="output folder (created; never the input folder)")
    p.add_argument("numstates", type=strict_int, help="number of states K")
    p.add_argument(
        "--holdout",
        metavar="CHROM_OR_CELL",
        help="held-out chromosome or cell (default: the last chromosome, or with one "
        "chromosome the last cell)",
    )
    p.add_argument(
        "--max-bins",
        type=strict_int,
        metavar="N",
        help="cut every file to its first N bins (default: whole files)",
    )
    p.add_argument(
        "--window",
        type=strict_int,
        default=200,
        metavar="W",
        help="bins per LSGM training window (200)",
    )
    p.add_argument("--hidden", type=strict_int, default=16, metavar="H", help="GRU units (16)")
    p.add_argument(
        "--epochs", type=strict_int, default=20, metavar="E", help="at most E epochs (20)"
    )
    p.add_argument("--seeds", type=strict_int, default=3, metavar="S", help="LSGM seeds 0..S-1 (3)")
    p.add_argument("--seed", type=seed_int, default=0, help="first LSGM seed (0)")
    p.add_argument(
        "--multiples",
        type=_multiples,
        default=(2, 3),
        metavar="M,...",
        help="the larger HMMs have M*K states for each M (default 2,3; none: no larger HMMs)",
    )
    p.add_argument(
        "--conditioning",
        choices=("transitions", "full"),
        default="transitions",
        help="what the GRU conditions: the transitions, or transitions and emissions",
    )
    p.add_argument("--batch-size", type=strict_int, default=32, help="windows per step (32)")
    p.add_argument("--learning-rate", type=strict_float, default=1e-2, help="Adam step (1e-2)")
    p.add_argument("--patience", type=strict_int, default=3, help="early-stopping patience (3)")
    p.add_argument(
        "-r",
        type=strict_int,
        default=200,
        metavar="maxiterations",
        help="HMM EM iterations at most (200)",
    )
    p.add_argument(
        "-d",
        type=strict_float,
        default=0.001,
        metavar="convergedelta",
        help="HMM EM change threshold (0.001)",
    )
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run_compare)


@all_or_nothing
def run_compare(args) -> int:
    """``lsgm chromatin compare``."""
    from pathlib import Path

    from lsgm.apps import chromatin_states
    from lsgm.cli.common import to_json
    from lsgm.data import atomic_write_text, binarized_files, check_output, read_binarized_folder

    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    files = binarized_files(args.inputdir)
    out = check_output(args.outputdir, [Path(args.inputdir), *files], folder=True, contents=OUTPUTS)
    settings = chromatin_states.CompareSettings(
        max_bins=args.max_bins,
        window=args.window,
        hidden=args.hidden,
        epochs=args.epochs,
        seeds=tuple(range(args.seed, args.seed + args.seeds)),
        multiples=tuple(args.multiples),
        conditioning=args.conditioning,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        max_iterations=args.r,
        converge_delta=args.d,
    )
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = chromatin_states.compare(
        read_binarized_folder(args.inputdir),
        args.numstates,
        holdout=args.holdout,
        settings=settings,
        log=log,
    )
    lines = chromatin_states.compare_report(result)
    atomic_write_text(out / "comparison.txt", "\n".join(lines) + "\n")
    atomic_write_text(out / "comparison.json", to_json(result) + "\n")
    if not args.quiet:
        print("\n".join(lines))
    return 0
