"""``lsgm chromatin binarize | overlap | neighborhood``: ChromHMM's ``BinarizeBed``,
``OverlapEnrichment`` and ``NeighborhoodEnrichment`` with their positional arguments and
option names (``-b 200``, ``-center``, ``-strictthresh``, ...; each also as ``--name``), so a
ChromHMM command line runs with only the program name changed.

Parsing loads nothing heavy; each handler imports its application module when it runs. The
files a command writes appear together when it succeeds and none of them when it fails.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lsgm.cli.common import all_or_nothing, strict_float, strict_int

#: Value names in --help, as ChromHMM's usage lines write them.
_METAVARS = {
    "b": "BINSIZE",
    "colfields": "COLUMNS",
    "color": "R,G,B",
    "e": "OFFSETEND",
    "f": "FOLDTHRESH",
    "g": "SIGNALTHRESH",
    "l": "NUMLEFTINTERVALS",
    "n": "SHIFT",
    "p": "POISSONTHRESH",
    "r": "NUMRIGHTINTERVALS",
    "s": "OFFSETSTART",
    "u": "PSEUDOCOUNTCONTROL",
    "w": "FLANKWIDTHCONTROL",
}


def _flag(p: argparse.ArgumentParser, name: str, help: str, **kw) -> None:
    """An option ChromHMM spells ``-name``, also accepted as ``--name``."""
    if kw.get("action") != "store_true":
        kw.setdefault("metavar", _METAVARS.get(name, str(kw.get("dest", name)).upper()))
    p.add_argument(f"-{name}", f"--{name}", help=help, **kw)


class _Refused(argparse.Action):
    """A ChromHMM option lsgm does not offer: using it stops with ``help`` (what to do)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string}: {self.help}")


def refuse(p: argparse.ArgumentParser, name: str, why: str, value: str | None = None) -> None:
    """ChromHMM's ``-name`` (taking ``value`` when given, e.g. ``"numsplitbins"``) is
    recognised and refused with ``why`` (the difference and the alternative), never read as
    a typo or ignored."""
    nargs = 0 if value is None else 1
    p.add_argument(f"-{name}", action=_Refused, nargs=nargs, metavar=value, help=why)


def colour(text: str) -> tuple[int, int, int]:
    """``r,g,b`` (ChromHMM's ``-color``) as three ints in 0..255."""
    parts = text.split(",")
    if len(parts) != 3 or not all(x.strip().isdigit() and int(x) <= 255 for x in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not r,g,b with each in 0..255 (e.g. 0,0,255)"
        )
    r, g, b = (int(x) for x in parts)
    return r, g, b


def _columns(text: str) -> tuple[int, ...]:
    try:
        return tuple(strict_int(x.strip()) for x in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of 0-based column numbers (e.g. 0,1,2,5)"
        ) from None


def register(chromatin_sub) -> None:
    """Add ``binarize``, ``overlap`` and ``neighborhood`` to the ``lsgm chromatin`` group."""
    _register_binarize(chromatin_sub)
    _register_overlap(chromatin_sub)
    _register_neighborhood(chromatin_sub)


def _common_image(p: argparse.ArgumentParser) -> None:
    _flag(
        p, "b", "bin size of the segmentation in bases (default 200)", type=strict_int, default=200
    )
    _flag(
        p,
        "t",
        "heatmap title (default 'Fold Enrichments')",
        dest="title",
        default="Fold Enrichments",
    )
    _flag(p, "color", "heatmap colour r,g,b (default 0,0,255)", type=colour, default=(0, 0, 255))
    _flag(p, "noimage", "write the table only, no .png/.svg heatmap", action="store_true")
    _flag(p, "lowmem", "accepted for ChromHMM compatibility (no effect)", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="do not list the files written")


def _register_binarize(sub) -> None:
    p = sub.add_parser(
        "binarize",
        allow_abbrev=False,
        help="aligned reads (BED, BED.gz, BAM) to ChromHMM binarized files (ChromHMM BinarizeBed)",
        description="ChromHMM BinarizeBed: count reads in bins, call a mark present where "
        "the count passes a Poisson threshold against a control track or a uniform "
        "background, and write CELL_CHROM_binary.txt files (2 = a mark with no file for "
        "the cell).",
    )
    p.add_argument(
        "chromlengthfile", metavar="CHROMLENGTHFILE", type=Path, help="chrom<TAB>length lines"
    )
    p.add_argument("inputdir", metavar="INPUTDIR", type=Path, help="folder of the read files")
    p.add_argument(
        "cellmarkfiletable",
        metavar="CELLMARKFILETABLE",
        type=Path,
        help="cell<TAB>mark<TAB>file[<TAB>controlfile] lines",
    )
    p.add_argument(
        "outputdir", metavar="OUTPUTDIR", type=Path, help="folder for the binarized files"
    )
    _flag(p, "b", "bin size in bases (default 200)", type=strict_int, default=200)
    _flag(p, "c", "folder of the control files (default: INPUTDIR)", type=Path, dest="controldir")
    _flag(
        p,
        "center",
        "count the centre of each interval instead of the shifted 5' end",
        action="store_true",
    )
    _flag(
        p,
        "colfields",
        "0-based columns chromosome,start,end[,strand] (default: 0,1,2 and the strand in the "
        "6th column or the last)",
        type=_columns,
    )
    _flag(
        p, "e", "offset subtracted from the end coordinate (default 1)", type=strict_int, default=1
    )
    _flag(
        p, "f", "fold threshold over the expected count (default 0)", type=strict_float, default=0.0
    )
    _flag(p, "g", "minimum count of a present call (default 0)", type=strict_float, default=0.0)
    _flag(p, "gzip", "write gzipped files (.txt.gz)", action="store_true")
    _flag(p, "n", "shift of each read 5'->3' in bases (default 100)", type=strict_int, default=100)
    _flag(
        p, "o", "also write the control counts to this folder", type=Path, dest="outputcontroldir"
    )
    _flag(
        p,
        "p",
        "Poisson tail probability threshold (default 0.0001)",
        type=strict_float,
        default=1e-4,
    )
    _flag(
        p,
        "peaks",
        "inputs are peak calls: every bin a peak touches is present",
        action="store_true",
    )
    _flag(
        p,
        "s",
        "offset subtracted from the start coordinate (default 0)",
        type=strict_int,
        default=0,
    )
    _flag(p, "stacked", "one 'genome' cell with marks CELL_MARK", action="store_true")
    _flag(p, "strictthresh", "the tail must be strictly below -p", action="store_true")
    _flag(p, "t", "also write the read counts to this folder", type=Path, dest="outputsignaldir")
    _flag(p, "u", "pseudocount added to every control bin (default 1)", type=strict_int, default=1)
    _flag(
        p, "w", "control bins summed on each side of a bin (default 5)", type=strict_int, default=5
    )
    split = (
        "lsgm writes one file per cell and chromosome (the input of lsgm chromatin learn, "
        "which needs no split files); leave the split options out"
    )
    refuse(p, "splitrows", f"not offered: {split}")
    refuse(p, "splitcols", f"not offered: {split}")
    for name, value in (("i", "splitrowindex"), ("j", "numsplitbins"), ("k", "splitcolindex")):
        refuse(p, name, f"goes with -splitrows/-splitcols, not offered: {split}", value)
    refuse(p, "m", f"goes with -splitcols, not offered: {split}", "numsplitcols")
    p.add_argument("--quiet", "-q", action="store_true", help="do not list the files written")
    p.set_defaults(run=_run_binarize)


@all_or_nothing
def _run_binarize(args) -> int:
    from lsgm.apps import chromatin_states

    options = chromatin_states.BinarizeOptions(
        bin_size=args.b,
        shift=args.n,
        offset_start=args.s,
        offset_end=args.e,
        poisson_threshold=args.p,
        fold_threshold=args.f,
        count_threshold=args.g,
        strict_threshold=args.strictthresh,
        pseudocount_control=args.u,
        flank_width_control=args.w,
        center=args.center,
        peaks=args.peaks,
        col_fields=args.colfields,
        stacked=args.stacked,
        gzip=args.gzip,
        control_dir=args.controldir,
        signal_dir=args.outputsignaldir,
        control_signal_dir=args.outputcontroldir,
    )
    written = chromatin_states.binarize_bed(
        args.chromlengthfile, args.inputdir, args.cellmarkfiletable, args.outputdir, options
    )
    _report(args, written)
    return 0


def _register_overlap(sub) -> None:
    p = sub.add_parser(
        "overlap",
        allow_abbrev=False,
        help="fold enrichment of each state over annotation BED files (ChromHMM OverlapEnrichment)",
        description="ChromHMM OverlapEnrichment: for each state, the fraction of each "
        "annotation's bases in the state over the state's share of the genome; writes "
        "OUTFILEPREFIX.txt, .png and .svg.",
    )
    p.add_argument(
        "segmentation", metavar="INPUTSEGMENTATION", type=Path, help="chrom start end state lines"
    )
    p.add_argument(
        "coords", metavar="COORDDIR", type=Path, help="folder of BED files (or one BED file)"
    )
    p.add_argument(
        "prefix", metavar="OUTFILEPREFIX", type=Path, help="output path without extension"
    )
    _common_image(p)
    _flag(p, "binres", "count a touched bin whole (not base by base)", action="store_true")
    _flag(p, "center", "count only the centre of each interval", action="store_true")
    _flag(
        p, "e", "offset subtracted from the end coordinate (default 1)", type=strict_int, default=1
    )
    _flag(
        p,
        "s",
        "offset subtracted from the start coordinate (default 0)",
        type=strict_int,
        default=0,
    )
    _flag(
        p, "multicount", "count overlapping intervals once each (no merging)", action="store_true"
    )
    p.set_defaults(run=_run_overlap)


@all_or_nothing
def _run_overlap(args) -> int:
    from lsgm.apps import chromatin_states

    written = chromatin_states.overlap_enrichment(
        args.segmentation,
        args.coords,
        args.prefix,
        bin_size=args.b,
        title=args.title,
        image=not args.noimage,
        color=args.color,
        offset_start=args.s,
        offset_end=args.e,
        center=args.center,
        multicount=args.multicount,
        base_resolution=not args.binres,
    )
    _report(args, written)
    return 0


def _register_neighborhood(sub) -> None:
    p = sub.add_parser(
        "neighborhood",
        allow_abbrev=False,
        help="fold enrichment of each state around anchor positions (ChromHMM NeighborhoodEnrichment)",
        description="ChromHMM NeighborhoodEnrichment: for each offset from the anchors "
        "(e.g. TSSs, strand-aware), the fraction of anchors in each state over the state's "
        "share of the genome; writes OUTFILEPREFIX.txt, .png and .svg.",
    )
    p.add_argument(
        "segmentation", metavar="INPUTSEGMENTATION", type=Path, help="chrom start end state lines"
    )
    p.add_argument(
        "anchors", metavar="ANCHORFILE", type=Path, help="chrom position strand lines (.gz allowed)"
    )
    p.add_argument(
        "prefix", metavar="OUTFILEPREFIX", type=Path, help="output path without extension"
    )
    _common_image(p)
    _flag(p, "l", "intervals left of the anchor (default 10)", type=strict_int, default=10)
    _flag(p, "r", "intervals right of the anchor (default 10)", type=strict_int, default=10)
    _flag(
        p,
        "s",
        "spacing of the intervals in bases (default: the bin size)",
        type=strict_int,
        metavar="SPACING",
    )
    _flag(
        p,
        "o",
        "offset subtracted from the anchor positions (default 0)",
        type=strict_int,
        default=0,
        metavar="ANCHOROFFSET",
    )
    _flag(p, "nostrand", "ignore the strand column", action="store_true")
    p.set_defaults(run=_run_neighborhood)


@all_or_nothing
def _run_neighborhood(args) -> int:
    from lsgm.apps import chromatin_states

    written = chromatin_states.neighborhood_enrichment(
        args.segmentation,
        args.anchors,
        args.prefix,
        bin_size=args.b,
        title=args.title,
        image=not args.noimage,
        color=args.color,
        num_left=args.l,
        num_right=args.r,
        spacing=args.s,
        use_strand=not args.nostrand,
        anchor_offset=args.o,
    )
    _report(args, written)
    return 0


def _report(args, written: list[Path]) -> None:
    if not args.quiet:
        for path in written:
            print(f"Writing to file {path}")
