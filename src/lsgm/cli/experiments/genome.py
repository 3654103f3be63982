"""``lsgm experiment genome-lm`` (genome-RNN paper §4; ``chromatin`` is in its own module).

* ``genome-lm``: the paper's perplexity sanity checks on its two bundled 30,000-base
  synthetic genomes (random ≈ 4.003, repeating ``AGCTTGAGGC`` ≈ 1.002), then for each
  ``--genome FASTA`` character-level RNNs (vanilla / GRU / LSTM), a ``K``-state HMM and an
  LSGM under the experiment protocol: the genome is cut into ``[train | validation | test]``,
  every model trains for at most ``--epochs`` epochs keeping the epoch with the best
  validation perplexity (early stopping after ``--patience``), once per seed of ``--seeds``;
  the test region is scored once per model and seed. Reports held-out perplexity and bits per
  base (mean ± SD over seeds), parameter counts and, for *E. coli* K-12 MG1655, the paper's
  3.679, whether the row is like for like and Moruga's 1.909 bits/base
  (:mod:`lsgm.apps.genome_lm`).
"""

from __future__ import annotations

import time

from lsgm.cli.common import (
    add_output_options,
    add_seeds_option,
    emit,
    markdown_table,
    message,
    output_folder,
    positive_int,
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
        help="tiny models, seconds (CI); genomes get a GRU and an LSGM, no HMM, 2 seeds, "
        "at most 2 epochs, patience 1, 10%% validation",
    )
    p.add_argument("-o", "--output", default="lsgm-genome-lm", help="output folder")
    p.add_argument(
        "--cells", default="rnn,gru,lstm", help="RNN cells (default rnn,gru,lstm; '' for none)"
    )
    p.add_argument(
        "--window-models",
        default="hmm,lsgm",
        help="models trained on windows: hmm, lsgm (default hmm,lsgm; '' for none)",
    )
    p.add_argument("--hidden", type=strict_int, default=128, help="RNN units per layer (128)")
    p.add_argument("--layers", type=strict_int, default=2, help="RNN layers (2)")
    p.add_argument("--seq-length", type=strict_int, default=50, help="truncated BPTT length (50)")
    p.add_argument(
        "--batch-size", type=strict_int, default=50, help="streams / windows per step (50)"
    )
    p.add_argument(
        "--epochs",
        type=strict_int,
        default=1,
        help="at most this many epochs for every model on a genome (1, the paper's)",
    )
    p.add_argument(
        "--patience",
        type=strict_int,
        default=None,
        help="stop after this many epochs without a lower validation NLL (default: run "
        "--epochs; the best epoch is kept either way)",
    )
    add_seeds_option(p, 1, "initialisation and minibatch order")
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
    p.add_argument(
        "--valid-fraction",
        type=strict_float,
        default=0.05,
        help="validation region: this fraction of the genome just before the test tail, "
        "carved from the training part (0.05)",
    )
    p.add_argument("--no-synthetic", action="store_true", help="skip the synthetic checks")
    add_output_options(p)
    p.set_defaults(run=run_genome_lm)


def _write(outdir, name: str, mode: str, seconds: float, lines: list[str], result: dict):
    write_report(outdir, result, f"lsgm experiment {name} ({mode}, {seconds:.0f} s)", lines)


def _names(text: str, allowed: tuple, option: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    for name in names:
        if name not in allowed:
            raise ValueError(f"{option}: {name!r} is not one of {allowed}.")
    return names


def _cell(m: dict, key: str, digits: int = 4) -> str:
    """``mean ± SD`` of ``m[key]`` (the mean alone for one seed)."""
    from lsgm.apps import seeds

    return seeds.mean_sd_text(m[key], m.get(key + "_sd"), digits)


def _like_for_like(accession: str | None, epochs: int, patience: int | None, args) -> str:
    """What differs from the paper's *E. coli* run (U00096.2, one epoch, its own split); the
    note under the table spells it out."""
    parts = [] if accession == "U00096.2" else [f"{accession}"]
    if epochs != 1:
        parts.append(f"<= {epochs} epochs" + ("" if patience is None else f", patience {patience}"))
    parts.append("our split")
    if args.quick:
        parts.append("--quick sizes")
    return "no: " + "; ".join(parts)


def _genome_table(path, r: dict, cfg: dict, args) -> list[str]:
    """The Markdown table of one genome (paper columns where ``r["paper"]`` holds the paper's
    numbers: *E. coli* K-12 MG1655)."""
    reference = r.get("paper")
    b = r["bases"]
    head = [
        f"{path} (train {b['train']:,} / valid {b['valid']:,} / test {b['test']:,} bases)",
        "params",
        "seeds",
        "test perplexity",
        "bits/base",
        "valid perplexity (best epoch)",
        "best / run epochs",
        "fit s",
    ]
    if reference is not None:
        head += ["paper", "like for like", "target (< paper)"]
    rows = [head]
    for name, m in r["models"].items():
        epochs = ", ".join(f"{x['best_epoch'] or '-'}/{x['epochs_run']}" for x in m["runs"])
        row = [
            name,
            f"{m['n_parameters']:,}",
            str(len(m["seeds"])),
            _cell(m, "perplexity"),
            _cell(m, "bits_per_base"),
            _cell(m, "valid_perplexity") if "valid_perplexity" in m else "-",
            epochs,
            f"{m['fit_seconds']:.1f}",
        ]
        if reference is not None:
            paper = reference["perplexity"]
            like = _like_for_like(r["accession"], cfg["epochs"], cfg["patience"], args)
            row += [f"{paper:.3f}", like, "met" if m["perplexity"] < paper else "not met"]
        rows.append(row)
    lines = markdown_table(rows)
    if reference is not None:
        best = min(r["models"].items(), key=lambda kv: kv[1]["bits_per_base"])
        lines += [
            "",
            f"Like for like: the paper trained one epoch on U00096.2 with its own split (not "
            f"published); here the test region is the last {args.test_fraction:g} of the "
            f"genome, validation the {args.valid_fraction:g} before it, the epoch with the "
            "best validation perplexity is kept.",
            f"Bits per base: best row {best[0]} {_cell(best[1], 'bits_per_base', 3)} on the "
            f"held-out region; Moruga (a DNA compressor) {reference['moruga_bits_per_base']} "
            "bits/base on the whole genome (it codes every base adaptively, test region "
            "included, so it is a reference, not a like-for-like score).",
        ]
    return lines


def run_genome_lm(args) -> int:
    from lsgm.apps import genome_lm as g

    outdir = output_folder(args, args.genome)
    cells = _names(args.cells, g.CELLS, "--cells")
    window_models = _names(args.window_models, ("hmm", "lsgm"), "--window-models")
    positive_int("--seeds", args.seeds)
    positive_int("--patience", args.patience)
    positive_int("--epochs", args.epochs)
    genomes = []
    for path in args.genome:  # read and split errors come first
        codes = g.read_genome(path)
        g.split_genome(codes, args.test_fraction, args.valid_fraction)
        genomes.append((path, codes, g.genome_accession(path)))
    log = (lambda text: message(args, text)) if not args.quick else None
    started, mode = time.perf_counter(), "quick" if args.quick else "full"
    result = {"mode": mode, "synthetic": {}, "genomes": {}}
    lines = []
    if not args.no_synthetic:
        # Paper §4.2: LSTM, batch 50, sequence length 50, rate 0.002, 10 epochs. Quick: a
        # one-layer 32-unit GRU, 16 streams, rate 0.01, 3 epochs. A sanity check with the
        # paper's fixed settings: no validation split, one seed.
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
                window_models=(),
                eval_length=3000 if args.quick else args.eval_length,
                seeds=(args.seed,),
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
    for path, codes, accession in genomes:
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
                eval_length=1200,  # the 1,200-base validation and test regions: one window
                window_models=("lsgm",),
                epochs=2,
                patience=1,
                seeds=(args.seed, args.seed + 1),
                valid_fraction=0.1,
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
                window_models=window_models,
                epochs=args.epochs,
                patience=args.patience,
                seeds=tuple(range(args.seed, args.seed + args.seeds)),
                valid_fraction=args.valid_fraction,
            )
        )
        r = g.run_genome(
            codes, seq_length=args.seq_length, test_fraction=args.test_fraction, log=log, **cfg
        )
        r["accession"] = accession
        if accession is not None and accession.startswith(g.ECOLI_ACCESSIONS):
            r["paper"] = g.PAPER_ECOLI
        result["genomes"][str(path)] = r
        lines += _genome_table(path, r, cfg, args) + [""]
    seconds = time.perf_counter() - started
    result["seconds"] = seconds
    _write(outdir, "genome-lm", mode, seconds, lines, result)
    emit(
        args, result, [*lines, f"wrote results.md and results.json to {outdir}/ in {seconds:.0f} s"]
    )
    return 0
