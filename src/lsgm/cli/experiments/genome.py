"""``lsgm experiment genome-lm`` (genome-RNN paper §4; ``chromatin`` is in its own module).

* ``genome-lm``: the paper's perplexity sanity checks on its two bundled 30,000-base
  synthetic genomes (random ≈ 4.003, repeating ``AGCTTGAGGC`` ≈ 1.002), then for each
  ``--genome FASTA`` character-level RNNs (vanilla / GRU / LSTM), a ``K``-state HMM and an
  LSGM: held-out perplexity and parameter counts (:mod:`lsgm.apps.genome_lm`).
"""

from __future__ import annotations

import time

from lsgm.cli.common import (
    add_output_options,
    emit,
    markdown_table,
    message,
    output_folder,
    strict_float,
    strict_int,
    write_report,
)


def register(sub) -> None:
    p = sub.add_parser(
        "genome-lm",
        help="genome language models: RNN vs HMM vs LSGM perplexity",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument(
        "--genome",
        action="append",
        default=[],
        metavar="FASTA",
        help="a genome (FASTA, gzip ok; one record); repeat for several",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny models, seconds (CI); genomes get a GRU and an LSGM, no HMM",
    )
    p.add_argument("-o", "--output", default="lsgm-genome-lm", help="output folder")
    p.add_argument("--cells", default="rnn,gru,lstm", help="RNN cells (default rnn,gru,lstm)")
    p.add_argument("--hidden", type=strict_int, default=128, help="RNN units per layer (128)")
    p.add_argument("--layers", type=strict_int, default=2, help="RNN layers (2)")
    p.add_argument("--seq-length", type=strict_int, default=50, help="truncated BPTT length (50)")
    p.add_argument(
        "--batch-size", type=strict_int, default=50, help="streams / windows per step (50)"
    )
    p.add_argument("--epochs", type=strict_int, default=1, help="RNN epochs on a genome (1)")
    p.add_argument("--lr", type=strict_float, default=8e-4, help="RNN Adam rate on a genome (8e-4)")
    p.add_argument("--states", type=strict_int, default=8, help="HMM/LSGM states (8)")
    p.add_argument("--lsgm-hidden", type=strict_int, default=32, help="LSGM GRU units (32)")
    p.add_argument("--window", type=strict_int, default=100, help="HMM/LSGM training window (100)")
    p.add_argument(
        "--max-windows",
        type=strict_int,
        default=None,
        help="train the HMM/LSGM on at most this many windows (all)",
    )
    p.add_argument("--eval-length", type=strict_int, default=10_000, help="held-out window (10000)")
    p.add_argument("--test-fraction", type=strict_float, default=0.1, help="held-out tail (0.1)")
    p.add_argument("--no-synthetic", action="store_true", help="skip the synthetic checks")
    add_output_options(p)
    p.set_defaults(run=run_genome_lm)


def _write(outdir, name: str, mode: str, seconds: float, lines: list[str], result: dict):
    write_report(outdir, result, f"lsgm experiment {name} ({mode}, {seconds:.0f} s)", lines)


def run_genome_lm(args) -> int:
    from lsgm.apps import genome_lm as g

    outdir = output_folder(args, args.genome)
    cells = tuple(c.strip() for c in args.cells.split(",") if c.strip())
    for cell in cells:
        if cell not in g.CELLS:
            raise ValueError(f"--cells: {cell!r} is not one of {g.CELLS}.")
    genomes = [(path, g.read_genome(path)) for path in args.genome]  # read errors come first
    log = (lambda text: message(args, text)) if not args.quick else None
    started, mode = time.perf_counter(), "quick" if args.quick else "full"
    result = {"mode": mode, "synthetic": {}, "genomes": {}}
    lines = []
    if not args.no_synthetic:
        # Paper §4.2: LSTM, batch 50, sequence length 50, rate 0.002, 10 epochs. Quick: a
        # one-layer 32-unit GRU, 16 streams, rate 0.01, 3 epochs.
        cfg = (
            dict(
                cells=("gru",),
                hidden_size=32,
                num_layers=1,
                batch_size=16,
                epochs=3,
                learning_rate=1e-2,
            )
            if args.quick
            else dict(
                cells=("lstm",),
                hidden_size=args.hidden,
                num_layers=args.layers,
                batch_size=50,
                epochs=10,
                learning_rate=2e-3,
            )
        )
        rows = [["synthetic genome", "model", "params", "perplexity", "paper", "fit s"]]
        for name in ("random", "repeat"):
            message(args, f"synthetic genome {name!r}")
            r = g.run_genome(
                g.load_synthetic_genome(name),
                seq_length=50,
                generative=False,
                eval_length=3000 if args.quick else args.eval_length,
                seed=args.seed,
                log=log,
                **cfg,
            )
            ((model, m),) = r["models"].items()
            result["synthetic"][name] = {
                "model": model,
                "paper": g.PAPER_SYNTHETIC[name],
                **m,
                "bases": r["bases"],
            }
            rows.append(
                [
                    name,
                    model,
                    str(m["n_parameters"]),
                    f"{m['perplexity']:.4f}",
                    f"{g.PAPER_SYNTHETIC[name]:.3f}",
                    f"{m['fit_seconds']:.1f}",
                ]
            )
        lines += markdown_table(rows) + [""]
    for path, codes in genomes:
        message(args, f"genome {path} ({len(codes):,} bases)")
        cfg = (
            dict(
                cells=("gru",),
                hidden_size=32,
                num_layers=1,
                batch_size=16,
                learning_rate=1e-2,
                num_states=3,
                lsgm_hidden=8,
                window=50,
                eval_length=3000,
                with_hmm=False,
            )
            if args.quick
            else dict(
                cells=cells,
                hidden_size=args.hidden,
                num_layers=args.layers,
                batch_size=args.batch_size,
                learning_rate=args.lr,
                num_states=args.states,
                lsgm_hidden=args.lsgm_hidden,
                window=args.window,
                max_windows=args.max_windows,
                eval_length=args.eval_length,
            )
        )
        r = g.run_genome(
            codes,
            seq_length=args.seq_length,
            epochs=args.epochs,
            test_fraction=args.test_fraction,
            seed=args.seed,
            log=log,
            **cfg,
        )
        result["genomes"][str(path)] = r
        rows = [
            [f"{path} (held-out {r['bases']['test']:,} bases)", "params", "perplexity", "fit s"]
        ]
        for name, m in r["models"].items():
            rows.append(
                [name, str(m["n_parameters"]), f"{m['perplexity']:.4f}", f"{m['fit_seconds']:.1f}"]
            )
        lines += markdown_table(rows) + [""]
    seconds = time.perf_counter() - started
    result["seconds"] = seconds
    _write(outdir, "genome-lm", mode, seconds, lines, result)
    emit(
        args, result, [*lines, f"wrote results.md and results.json to {outdir}/ in {seconds:.0f} s"]
    )
    return 0
