"""``lsgm experiment cpg`` and ``lsgm experiment gene-structure``: genome segmentation."""

from __future__ import annotations

from pathlib import Path

from lsgm.cli.common import (
    RESULT_FILES,
    add_output_options,
    add_seeds_option,
    emit,
    message,
    output_folder,
    positive_int,
    strict_float,
    strict_int,
    write_report,
)
from lsgm.data import atomic_write_text, format_bed, sort_intervals


def register(sub) -> None:
    p = sub.add_parser(
        "cpg",
        help="CpG islands: supervised HMMs vs an LSGM on the bundled human 2-kb windows",
        description="Per-base CpG-island calls on held-out windows (bundled data, hg19): "
        "two-state and dinucleotide HMMs and an LSGM trained on the labels.",
    )
    p.add_argument("--quick", action="store_true", help="small subsets (seconds)")
    p.add_argument(
        "--epochs",
        type=strict_int,
        default=None,
        help="the LSGM's epoch cap; the epoch kept is chosen by early stopping on the "
        "validation windows (default: the mode's, 40 for the full run)",
    )
    add_seeds_option(p, None, "split, initialisation and minibatch order")
    p.add_argument("-o", "--output", default="lsgm-cpg", help="output folder")
    add_output_options(p)
    p.set_defaults(run=run_cpg)

    p = sub.add_parser(
        "gene-structure",
        help="gene structure: a codon-phase HMM trained from GFF3 labels, exon F1 on held-out "
        "chromosomes (and another genome)",
    )
    p.add_argument("--fasta", required=True, help="genome FASTA (.fa or .fa.gz)")
    p.add_argument("--gff", required=True, help="its GFF3 annotation (.gff or .gff.gz)")
    p.add_argument("--train", required=True, help="comma-separated training seqids")
    p.add_argument("--test", required=True, help="comma-separated held-out seqids")
    p.add_argument(
        "--sources",
        default="WormBase",
        help="comma-separated GFF column-2 sources of the curated gene models; every --train "
        "and --test sequence must have CDS features of one of them (default: WormBase, "
        "C. elegans' curated models)",
    )
    p.add_argument("--test-fasta", help="a second genome to score (cross-species)")
    p.add_argument("--test-gff", help="its GFF3 annotation")
    p.add_argument(
        "--test-sources",
        default="TAIR10",
        help="the second genome's curated sources, comma-separated (default: TAIR10, "
        "A. thaliana's)",
    )
    p.add_argument("--cross-seqids", help="comma-separated seqids of the second genome")
    p.add_argument(
        "--pseudocount",
        type=strict_float,
        default=1.0,
        help="added to every allowed transition and emission count",
    )
    p.add_argument(
        "--chunk-size", type=strict_int, default=None, help="Viterbi chunk (default: exact)"
    )
    p.add_argument("--quick", action="store_true", help="first bases of every sequence only")
    p.add_argument(
        "-o",
        "--output",
        default="lsgm-gene-structure",
        help="folder for results.json and the predicted GFF3/BED",
    )
    add_output_options(p)
    p.set_defaults(run=run_gene_structure)


def run_cpg(args) -> int:
    from lsgm.apps import genomics

    seeds = positive_int("--seeds", args.seeds) or (1 if args.quick else 3)
    positive_int("--epochs", args.epochs)
    outdir = output_folder(args, contents=(*RESULT_FILES, "cpg_islands.bed"))
    message(args, f"CpG islands ({'quick' if args.quick else 'full'}, {seeds} seed(s))")
    result = genomics.run_cpg_seeds(
        quick=args.quick,
        seeds=range(args.seed, args.seed + seeds),
        lsgm_epochs=args.epochs,
        progress_bar=not (args.quiet or args.json),
    )
    first = result["first"]
    bed = format_bed(sort_intervals(first["test_intervals"]))
    atomic_write_text(outdir / "cpg_islands.bed", bed)
    table = genomics.format_results(result)
    keys = ("mode", "seeds", "windows", "summary", "lsgm_epochs", "runs")
    summary = {k: result[k] for k in keys}
    note = (
        f"cpg_islands.bed: the calls of seed {first['seed']}'s best model "
        f"({first['best_model']}) on that seed's test windows."
    )
    title = f"CpG islands ({result['mode']}): per-base test scores, mean ± SD over seeds"
    write_report(outdir, summary, title, [table, "", note])
    emit(args, summary, [table, note, f"wrote {outdir}/results.md, results.json, cpg_islands.bed"])
    return 0


def run_gene_structure(args) -> int:
    from lsgm.apps import genomics

    def split(text):
        return None if text is None else [s for s in text.split(",") if s]

    outdir = output_folder(args, [args.fasta, args.gff, args.test_fasta, args.test_gff])
    result = genomics.run_gene_structure(
        args.fasta,
        args.gff,
        train_seqids=split(args.train),
        test_seqids=split(args.test),
        sources=split(args.sources),
        test_fasta=args.test_fasta,
        test_gff=args.test_gff,
        test_sources=split(args.test_sources),
        cross_seqids=split(args.cross_seqids),
        quick=args.quick,
        pseudocount=args.pseudocount,
        chunk_size=args.chunk_size,
        out_dir=outdir,
    )
    summary = {k: v for k, v in result.items() if k != "model"}
    rows = ["| test set | precision | recall | F1 |", "|---|---:|---:|---:|"]
    for key in ("test", "cross"):
        if key in result:
            r = result[key]
            rows.append(f"| {key} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")
    atomic_write_text(Path(outdir) / "results.md", "# Gene structure\n\n" + "\n".join(rows) + "\n")
    emit(args, summary, [*rows, f"wrote {outdir}/results.json, results.md, predicted GFF3/BED"])
    return 0
