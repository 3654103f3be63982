"""``lsgm chromatin``: chromatin states as ChromHMM makes them, with ChromHMM's command lines.

``lsgm chromatin learn INPUTDIR OUTPUTDIR NUMSTATES [ASSEMBLY]`` is ChromHMM's
``LearnModel`` and ``lsgm chromatin segment MODEL INPUTDIR OUTPUTDIR`` its
``MakeSegmentation``: the same positional arguments, the same single-dash options with the
same meaning and defaults (``-b``, ``-color``, ``-d``, ``-e``, ``-f``, ``-gzip``, ``-h``,
``-holdcolumnorder``, ``-holdroworder``, ``-i``, ``-init``, ``-l``, ``-m``, ``-n``, ``-r``,
``-s``, ``-stateordering``, ``-t``, ``-x``, ``-nobed``, ``-nobrowser``,
``-nobrowserheader``, ``-noimage``, ``-pseudo``, ``-nopseudolast``, ``-printposterior``,
``-printstatebyline``, ``-noenrich``, ``-u``, ``-v``; ``-noautoopen``, ``-p``, ``-lowmem``,
``-many`` and ``-scalebeta`` are accepted and change nothing here, saying so; ``-z`` and
``-splitrows`` stop with what to do instead), the same output files
(:mod:`lsgm.apps.chromatin_states`). Because ``-h`` is ChromHMM's information smoothing,
help is ``--help``.

Differences, all stated: every EM iteration is a full Baum–Welch step over all files
(ChromHMM's ``-p`` mode; its default ``-p 0`` is an incremental EM), in float64 unless
``--float32``; no transition is set to zero (ChromHMM's ``-z``, refused); ``-n`` draws the
files of the initialisation only (ChromHMM's ``-n`` without ``-p``); missing marks (``2``)
are marginalised exactly; any number of states; the dense track's score column holds each
segment's confidence (1000 × the mean posterior of its state). Beyond ChromHMM:
``--states FIRST:LAST`` picks K by held-out log-likelihood (and reports BIC), ``--restarts N``
gives each parameter's spread over several fits, ``--posterior-track`` writes the posterior
of the called state bin by bin, ``--devices N`` splits the E-step over N local devices.

This module imports nothing heavy at the top: ``lsgm chromatin --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys

from lsgm.cli.chromatin_tools import colour

LEARN_FLAGS = {
    "nobed": "no segmentation BED files (CELL_K_segments.bed)",
    "nobrowser": "no browser tracks (CELL_K_dense.bed, CELL_K_expanded.bed)",
    "noimage": "no PNG/SVG heatmaps",
    "printposterior": "also write POSTERIOR/CELL_K_CHROM_posterior.txt (posteriors per bin)",
    "printstatebyline": "also write STATEBYLINE/CELL_K_CHROM_statebyline.txt (a state a line)",
}
HEADER = (
    f"{'Iteration':>10}  {'Estimated Log Likelihood':>26}  {'Change':>12}  "
    f"{'Total Time (secs)':>18}"
)
STYLE_FLAGS = {
    "gzip": "segmentation, browser and per-bin files gzipped",
    "nobrowserheader": "no track/browser lines in the tracks",
}
LEARN_ONLY_FLAGS = {
    "holdcolumnorder": "marks of emissions_K.* in the data's order (default: ChromHMM's "
    "correlation order)",
    "holdroworder": "states as trained (labels F1, F2, ...)",
    "pseudo": "pseudo-counts of 1 in every M-step (MAP EM under Dirichlet(2)/Beta(2,2) priors)",
    "nopseudolast": "with -pseudo: none for the initial states and the last mark",
}
NO_OPS = {
    "noautoopen": "accepted for ChromHMM's command lines; nothing is opened",
    "lowmem": "accepted; changes nothing (lsgm keeps no per-bin tables it could drop)",
    "many": "accepted; changes nothing (lsgm's emissions are always summed in log space)",
    "scalebeta": "accepted; changes nothing (lsgm's backward pass is always rescaled)",
}
#: ChromHMM options with no lsgm counterpart: (value name or None, what to do instead).
REFUSED = {
    "z": (
        "zerotransitionpower",
        "lsgm never sets small transition probabilities to zero during training (every "
        "transition stays, exactly as Baum-Welch gives it); leave -z out",
    ),
    "splitrows": (
        None,
        "lsgm reads one binarized file per cell and chromosome; merge split files "
        "(ChromHMM MergeBinary) or binarize without -splitrows",
    ),
}


def _parser(sub, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help_text,
        description=description,
        add_help=False,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--help", action="help", help="show this help and exit")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    from lsgm.cli.chromatin_tools import refuse

    p.add_argument("-b", type=int, default=200, metavar="binsize", help="bin size in bases (200)")
    for flag, text in {**LEARN_FLAGS, **NO_OPS}.items():
        p.add_argument(f"-{flag}", action="store_true", help=text)
    for flag, (value, why) in REFUSED.items():
        refuse(p, flag, f"not offered: {why}", value)
    p.add_argument(
        "-f",
        metavar="inputfilelist",
        help="only the files of INPUTDIR named in this file, one a line (default: every "
        "*_binary* file)",
    )
    p.add_argument(
        "-i",
        metavar="outfileID",
        help="add _outfileID after K in every output name (model_K_ID.txt, CELL_K_ID_*)",
    )
    p.add_argument(
        "-l",
        metavar="chromosomelengthfile",
        help="chrom<TAB>length lines: segment ends never pass a chromosome's length",
    )
    for flag, text in STYLE_FLAGS.items():
        p.add_argument(f"-{flag}", action="store_true", help=text)
    p.add_argument(
        "--posterior-track",
        action="store_true",
        help="also write CELL_K_posterior.bedgraph, the posterior of the called state per bin "
        "(beyond ChromHMM)",
    )
    p.add_argument(
        "--float32",
        action="store_true",
        help="compute in float32 (faster; the default float64 resolves ChromHMM's -d 0.001)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def register(sub) -> argparse.ArgumentParser:
    """Add ``lsgm chromatin`` with ``learn`` and ``segment``; returns the ``chromatin``
    parser (its sub-command list is ``parser.chromatin_commands``, where further commands
    are registered)."""
    top = sub.add_parser(
        "chromatin",
        help="chromatin states with ChromHMM's command lines (learn, segment, binarize, ...)",
        description="Chromatin states as ChromHMM makes them, with ChromHMM's command lines: "
        "learn (LearnModel), segment (MakeSegmentation), binarize (BinarizeBed), overlap "
        "(OverlapEnrichment), neighborhood (NeighborhoodEnrichment).",
    )
    commands = top.add_subparsers(dest="chromatin_command", metavar="COMMAND", required=True)
    top.chromatin_commands = commands  # type: ignore[attr-defined]
    from lsgm.cli import chromatin_tools  # binarize, overlap, neighborhood (argparse only)

    chromatin_tools.register(commands)
    from lsgm.cli import chromatin_compare  # compare: the HMM against an LSGM (argparse only)

    chromatin_compare.register(commands)

    learn = _parser(
        commands,
        "learn",
        "learn a chromatin-state model (ChromHMM LearnModel)",
        "Learn a multivariate Bernoulli HMM over all binarized files of INPUTDIR and write "
        "ChromHMM's outputs into OUTPUTDIR.\n\n" + __doc__.split("\n\n")[2],
    )
    learn.add_argument("inputdir", help="folder of binarized files (*_binary.txt[.gz])")
    learn.add_argument("outputdir", help="output folder (created; never the input folder)")
    learn.add_argument("numstates", nargs="?", help="number of states K (none with --states)")
    learn.add_argument("assembly", nargs="?", help="genome assembly (recorded)")
    learn.add_argument(
        "--states",
        metavar="FIRST:LAST",
        help="fit every K in FIRST..LAST on all but the held-out files, write "
        "state_selection.{txt,png,svg} (held-out log-likelihood per bin, BIC) and learn the K "
        "with the best held-out log-likelihood (beyond ChromHMM)",
    )
    learn.add_argument(
        "--restarts",
        type=int,
        default=0,
        metavar="N",
        help="N more fits from -init random starts (seeds -s + 1, ...): keep the best, write "
        "each parameter's SD over the fits (restarts_K.txt, *_spread_K.txt; default 0)",
    )
    learn.add_argument(
        "--holdout",
        metavar="CHROM_OR_CELL",
        help="with --states: the chromosome or cell held out (default: the last chromosome)",
    )
    learn.add_argument(
        "-d",
        type=float,
        default=0.001,
        metavar="convergedelta",
        help="stop when the log-likelihood improves by less (0.001; <0: never)",
    )
    learn.add_argument(
        "-e",
        type=float,
        default=0.02,
        metavar="loadsmoothemission",
        help="-init load: emissions mixed with uniform by this weight (0.02)",
    )
    learn.add_argument(
        "-h",
        type=float,
        default=0.02,
        metavar="informationsmooth",
        help="-init information: mixing weight of uniform (0.02)",
    )
    learn.add_argument(
        "-init",
        choices=("information", "random", "load"),
        help="initialisation (information; load when -m is given)",
    )
    learn.add_argument("-m", metavar="modelinitialfile", help="model_K.txt to start from")
    learn.add_argument(
        "-n",
        type=int,
        metavar="numseq",
        help="the information initialisation reads this many files drawn at random (-s); "
        "training reads all (ChromHMM's -n without -p; with -p refused)",
    )
    learn.add_argument(
        "-x",
        type=float,
        default=-1.0,
        metavar="maxseconds",
        help="no EM iteration starts after this many seconds of training (-1: no limit)",
    )
    learn.add_argument(
        "-color",
        type=colour,
        default=(0, 0, 255),
        metavar="r,g,b",
        help="heatmap colour of the highest value (0,0,255)",
    )
    for flag, text in LEARN_ONLY_FLAGS.items():
        learn.add_argument(f"-{flag}", action="store_true", help=text)
    learn.add_argument(
        "-stateordering",
        choices=("emission", "transition"),
        default="emission",
        help="order the states by their emissions (E1, ...) or transitions (T1, ...)",
    )
    learn.add_argument(
        "--devices",
        type=int,
        metavar="N",
        help="split the E-step in time over N local devices of a jax.sharding.Mesh "
        "(sequence parallelism; the same model; on CPU set XLA_FLAGS="
        "--xla_force_host_platform_device_count=N) (beyond ChromHMM)",
    )
    learn.add_argument(
        "-p",
        type=int,
        default=None,
        metavar="maxprocessors",
        help="accepted; lsgm always runs full Baum-Welch steps (ChromHMM -p)",
    )
    learn.add_argument(
        "-r",
        type=int,
        default=200,
        metavar="maxiterations",
        help="at most this many EM iterations (200)",
    )
    learn.add_argument(
        "-s", type=int, default=999, metavar="seed", help="seed of -init random (999)"
    )
    learn.add_argument(
        "-t",
        type=float,
        default=0.5,
        metavar="loadsmoothtransition",
        help="-init load: transitions mixed with uniform by this weight (0.5)",
    )
    learn.add_argument(
        "-noenrich",
        action="store_true",
        help="no overlap and neighborhood enrichments (CELL_K_overlap.*, "
        "CELL_K_ANCHOR_neighborhood.*)",
    )
    learn.add_argument(
        "-u",
        metavar="coorddir",
        help="annotation folder for the overlap enrichment, with ASSEMBLY/ inside (default: "
        "ChromHMM's COORDS where installed)",
    )
    learn.add_argument(
        "-v",
        metavar="anchorfiledir",
        help="anchor folder for the neighborhood enrichments, with ASSEMBLY/ inside (default: "
        "ChromHMM's ANCHORFILES where installed)",
    )
    _common(learn)
    learn.set_defaults(run=run_learn)

    segment = _parser(
        commands,
        "segment",
        "segment with a model (ChromHMM MakeSegmentation)",
        "Segment every binarized file of INPUTDIR with MODEL (an lsgm or ChromHMM "
        "model_K.txt; marks matched by name) and write ChromHMM's outputs into OUTPUTDIR, "
        "with the model's log-likelihood of the data.",
    )
    segment.add_argument("model", help="a ChromHMM model file (model_K.txt)")
    segment.add_argument("inputdir", help="folder of binarized files (*_binary.txt[.gz])")
    segment.add_argument("outputdir", help="output folder (created; never the input folder)")
    segment.add_argument(
        "-noenrich", action="store_true", help="accepted; segment writes no enrichments"
    )
    _common(segment)
    segment.set_defaults(run=run_segment)
    return top


def _positionals(args) -> tuple[int, str | None]:
    """``(K, ASSEMBLY)`` from ``NUMSTATES [ASSEMBLY]``, or ``[ASSEMBLY]`` with ``--states``
    (K = 0 until chosen)."""
    if args.states:
        if args.assembly is not None:
            raise ValueError("with --states give no NUMSTATES: INPUTDIR OUTPUTDIR [ASSEMBLY].")
        return 0, args.numstates
    if args.holdout:
        raise ValueError("--holdout goes with --states FIRST:LAST.")
    if args.numstates is None or not args.numstates.isdigit() or int(args.numstates) < 1:
        raise ValueError(
            f"NUMSTATES must be a positive integer (or use --states FIRST:LAST); got "
            f"{args.numstates!r}."
        )
    return int(args.numstates), args.assembly


def _options(args, assembly: str | None = None) -> dict:
    """The output switches and ChromHMM's naming and drawing options (``-i``, ``-color``,
    ``-gzip``, ``-holdcolumnorder``, ``-nobrowserheader``, ``-l``: by default, with an
    ASSEMBLY, ChromHMM's CHROMSIZES/ASSEMBLY.txt where installed) as ``learn``'s and
    ``segment``'s ``options``; the accepted no-op flags are named on stderr."""
    from lsgm.apps import chromatin_states

    for flag, text in NO_OPS.items():
        if getattr(args, flag) and flag != "noautoopen" and not args.quiet:
            print(f"note: -{flag} {text}.", file=sys.stderr)
    lengths = args.l or chromatin_states.default_chrom_lengths(assembly)
    style = chromatin_states.Style(
        outfile_id=args.i or "",
        color=getattr(args, "color", (0, 0, 255)),
        hold_columns=getattr(args, "holdcolumnorder", False),
        gzip=args.gzip,
        browser_header=not args.nobrowserheader,
        posterior_track=args.posterior_track,
        chrom_lengths={} if lengths is None else chromatin_states.read_chrom_sizes(lengths),
    )
    return {**{flag: getattr(args, flag) for flag in LEARN_FLAGS}, "style": style}


def _enrichment_folders(args, assembly: str | None) -> dict | None:
    """The annotation folders of ``learn``'s enrichments (None with ``-noenrich``): ``-u``
    and ``-v``, else ChromHMM's own where it is installed; a folder that is missing is
    skipped, as ChromHMM does."""
    if args.noenrich:
        return None
    from lsgm.apps import chromatin_states

    coords, anchors = chromatin_states.default_annotation_dirs()
    return {
        "assembly": assembly,
        "coords": args.u or coords,
        "anchors": args.v or anchors,
    }


def _pseudo(args) -> str | None:
    """``-pseudo`` (``"all"``) and ``-nopseudolast`` (``"nolast"``) as ``learn``'s ``pseudo``."""
    return ("nolast" if args.nopseudolast else "all") if args.pseudo else None


def _precision(args):
    """float64 (``jax.enable_x64``) unless ``--float32``, for the command only."""
    import jax

    return jax.enable_x64(not args.float32)


def _report(args, summary: dict, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(summary, default=lambda v: getattr(v, "__dict__", str(v)), indent=2))
    elif not args.quiet:
        print("\n".join(lines))


def run_learn(args) -> int:
    """``lsgm chromatin learn``."""
    from lsgm.apps import chromatin_states
    from lsgm.data import deferred_outputs

    init = args.init or ("load" if args.m else "information")
    show = not (args.quiet or args.json)

    def progress(it) -> None:
        if show and it.number == 1:
            print(HEADER, file=sys.stderr)
        if show:
            change = "-" if it.number == 1 else f"{it.change:.3f}"
            print(
                f"{it.number:>10}  {it.log_likelihood:>26.3f}  {change:>12}  {it.seconds:>18.1f}",
                file=sys.stderr,
                flush=True,
            )

    K, assembly = _positionals(args)
    if args.n is not None and args.p is not None:
        raise ValueError(
            "-n with -p (a new random subset of files in every iteration) is not offered: "
            "lsgm trains on all files in every iteration; drop -p to use -n for the "
            "initialisation only, or pass a smaller INPUTDIR/-f list."
        )
    if args.nopseudolast and not args.pseudo:
        raise ValueError("-nopseudolast changes -pseudo; give -pseudo too (or neither).")
    with deferred_outputs(), _precision(args):
        if args.states:
            ks = chromatin_states.parse_states(args.states)

            def fitted(row: dict) -> None:
                if show:
                    print(
                        f"K = {row['K']:>3} ({row['init']}, {row['iterations']} iterations): "
                        f"held-out {row['heldout_per_bin']:.6f} per bin, BIC {row['bic']:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )

            selection = chromatin_states.select_states(
                args.inputdir,
                args.outputdir,
                ks,
                holdout=args.holdout,
                seed=args.s,
                max_iterations=args.r,
                converge_delta=args.d,
                information_smooth=args.h,
                on_fit=fitted,
                file_list=args.f,
                max_seconds=args.x,
                pseudo=_pseudo(args),
                devices=args.devices,
            )
            K = selection["chosen"]
            if show:
                print(
                    f"chosen K = {K} (held-out {selection['holdout']}; BIC would choose "
                    f"{selection['chosen_bic']}); learning it on all files",
                    file=sys.stderr,
                )
        summary = chromatin_states.learn(
            args.inputdir,
            args.outputdir,
            K,
            assembly,
            init=init,
            init_model=args.m,
            seed=args.s,
            max_iterations=args.r,
            converge_delta=args.d,
            information_smooth=args.h,
            load_smooth_emission=args.e,
            load_smooth_transition=args.t,
            bin_size=args.b,
            options={
                **_options(args, assembly),
                "state_selection": bool(args.states),
                "enrichment": _enrichment_folders(args, assembly),
            },
            on_iteration=progress,
            restarts=args.restarts,
            state_ordering="fixed" if args.holdroworder else args.stateordering,
            file_list=args.f,
            numseq=args.n,
            max_seconds=args.x,
            pseudo=_pseudo(args),
            devices=args.devices,
        )
        if args.states:
            summary["selection"] = selection
    state = "converged" if summary["converged"] else "stopped at -r"
    _report(
        args,
        summary,
        [
            f"{summary['states']} states, {summary['files']} files ({summary['cells']} cells), "
            f"{summary['bins']:,} bins, {len(summary['marks'])} marks, {summary['missing']:,} "
            f"missing values; {summary['iterations_run']} iterations ({state}), log-likelihood "
            f"{summary['log_likelihood']:.3f}; {summary['total_s']:.1f} s in all.",
            f"Outputs in {summary['output']}/ ({summary['webpage']}).",
        ],
    )
    return 0


def run_segment(args) -> int:
    """``lsgm chromatin segment``."""
    from lsgm.apps import chromatin_states
    from lsgm.data import deferred_outputs

    with deferred_outputs(), _precision(args):
        summary = chromatin_states.segment(
            args.model,
            args.inputdir,
            args.outputdir,
            bin_size=args.b,
            options=_options(args),
            file_list=args.f,
        )
    _report(
        args,
        summary,
        [
            f"{summary['states']} states, {summary['files']} files, {summary['bins']:,} bins: "
            f"log-likelihood {summary['log_likelihood']:.3f} (the model file's header: "
            f"{summary['model_file_log_likelihood']:.3f}); {summary['total_s']:.1f} s.",
            f"Outputs in {summary['output']}/.",
        ],
    )
    return 0
