"""``lsgm demo``: HMM vs LSGM on two bundled real data sets, with a table, plots, BED and MIDI.

1. CpG islands (1,103 human 2-kb windows with per-base labels): supervised two-state and
   dinucleotide (8-state) HMMs and an LSGM trained on the labels; per-base precision, recall
   and F1 of island calls on held-out windows; the calls as BED.
2. JSB Chorales (piano rolls): a Bernoulli HMM (EM) and an LSGM started from it; held-out
   log-likelihood per frame; a MIDI file and piano-roll picture sampled from the LSGM.

``--quick`` runs both on small subsets (about a minute of CPU time on 2 cores; CI runs it).
"""

from __future__ import annotations

import time

from lsgm.cli.common import (
    RESULT_FILES,
    add_output_options,
    all_or_nothing,
    emit,
    message,
    output_folder,
    text_table,
    to_json,
)
from lsgm.data import atomic_write_text, format_bed, sort_intervals


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="fit HMMs and LSGMs to bundled real data (CpG islands, JSB chorales)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("-o", "--output", default="lsgm-demo", help="output folder (default lsgm-demo)")
    p.add_argument(
        "--quick", action="store_true", help="small subsets, for a quick check (about a minute)"
    )
    add_output_options(p)
    p.set_defaults(run=run)


@all_or_nothing
def run(args) -> int:
    from lsgm.apps import genomics, music
    from lsgm.data import write_midi
    from lsgm.datasets import load_cpg_islands
    from lsgm.plots import plot_model, plot_piano_roll

    outdir = output_folder(
        args,
        contents=(
            *RESULT_FILES,
            "cpg_islands.bed",
            "cpg",
            "jsb",
            "jsb_sample.mid",
            "jsb_sample.png",
        ),
    )
    show = not (args.quiet or args.json)
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"

    message(args, f"[1/2] CpG islands ({mode})")
    cpg = genomics.run_cpg(quick=args.quick, seed=args.seed, progress_bar=show)
    bed = outdir / "cpg_islands.bed"
    atomic_write_text(bed, format_bed(sort_intervals(cpg["test_intervals"])))
    # The pictures: the supervised two-state HMM (counting: instant) on a held-out window.
    hmm2 = genomics.fit_two_state_hmm(genomics.split_windows(load_cpg_islands(), seed=args.seed)[0])
    window = cpg["test_windows"][0]
    cpg_plots = plot_model(
        hmm2,
        window.x,
        outdir / "cpg",
        state_names=["background", "island"],
        symbols=list("ACGT"),
        true_states=window.labels,
        start=window.start,
        record=window.chrom,
    )

    message(args, f"[2/2] JSB chorales ({mode})")
    jsb = music.run_jsb(quick=args.quick, seed=args.seed, progress_bar=show)
    lsgm_history = jsb["histories"]["LSGM"]
    curves = {"train": lsgm_history.train_nll, "valid": lsgm_history.valid_nll}
    jsb_plots = plot_model(jsb["models"]["LSGM"], jsb["test"][0], outdir / "jsb", history=curves)
    roll = music.sample_roll(jsb["models"]["LSGM"], 64, seed=args.seed)
    midi = outdir / "jsb_sample.mid"
    write_midi(midi, roll, step_seconds=0.5)
    roll_png = plot_piano_roll(
        roll,
        outdir / "jsb_sample.png",
        step_seconds=0.5,
        title="64 quarter notes sampled from the LSGM",
    )
    seconds = time.perf_counter() - started

    cpg_rows = [["CpG islands (held-out bases)", "precision", "recall", "F1", "params", "fit s"]]
    for name, r in cpg["models"].items():
        cpg_rows.append(
            [
                name,
                f"{r['precision']:.3f}",
                f"{r['recall']:.3f}",
                f"{r['f1']:.3f}",
                str(r["n_parameters"]),
                f"{r['fit_seconds']:.1f}",
            ]
        )
    jsb_rows = [["JSB chorales (test)", "LL per frame", "params", "fit s"]]
    for name, r in jsb["results"].items():
        jsb_rows.append(
            [name, f"{r['test_ll_per_frame']:.3f}", str(r["n_parameters"]), f"{r['seconds']:.1f}"]
        )
    lines = text_table(cpg_rows) + [""] + text_table(jsb_rows)
    pictures = [
        f"Pictures in cpg/: the supervised two-state HMM (the simplest CpG model, instant to fit; "
        f"the best here is {cpg['best_model']}) on the held-out window {window.name}; in jsb/: "
        "the LSGM on a test chorale.",
    ]
    outputs = [bed, *cpg_plots, *jsb_plots, midi, roll_png]
    result = {
        "mode": mode,
        "seconds": seconds,
        "cpg": {"results": cpg["models"], "windows": cpg["windows"], "best": cpg["best_model"]},
        "jsb": {"results": jsb["results"], "sizes": jsb["sizes"]},
        "outputs": [str(p) for p in outputs],
        "pictures": pictures[0],
    }
    atomic_write_text(outdir / "results.json", to_json(result))
    atomic_write_text(
        outdir / "results.md",
        "\n".join(
            [f"# lsgm demo ({mode}, {seconds:.0f} s)", "", "```", *lines, "```", "", *pictures, ""]
        ),
    )
    emit(
        args,
        result,
        [*lines, "", *pictures, f"wrote {len(outputs) + 2} files to {outdir}/ in {seconds:.0f} s"],
    )
    return 0
