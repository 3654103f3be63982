"""The chunked EM step with and without pattern codes, in one process, alternating.

``fit_em(method="chunked")`` runs the E-step on pattern codes when the emission has
``pattern_codes`` (ChromHMM's binary marks, DNA symbols): a ``[V, K]`` table looked up inside
the scans, checkpointed forward messages, marginals summed per pattern
(:func:`lsgm.inference.time_parallel.blocked_pattern_counts`). This script times that step
against the dense chunked step (the emissions computed as a ``[T, K]`` array and cut into
chunks: what the E-step did before, and still does with labels or a mesh) on the same data
and starting parameters, one thread, the two compiled steps called in turn ``--repeats``
times (3 iterations each), so that a shared machine's load hits both alike: only the
same-run ratio means anything. It also prints the log-likelihood both reach after the same
iterations (equal to round-off in float64).

Data: ChromHMM's sample (``chromhmm-example``, 2 × 672,261 bins, 10 marks; a seeded random
15-state Bernoulli HMM), or with ``--fasta`` a genome (categorical, ``--states`` K).

    python benchmarks/em_patterns.py                         # ChromHMM's sample, float32
    python benchmarks/em_patterns.py --float64
    python benchmarks/em_patterns.py --fasta GENOME.fna.gz --states 4
    python benchmarks/em_patterns.py --quick                 # synthetic 2 × 20,000 bins
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, pin_one_thread  # noqa: E402

pin_one_thread()

import jax  # noqa: E402
import numpy as np  # noqa: E402

SAMPLE = Path("/usr/share/doc/chromhmm/examples/SAMPLEDATA_HG18")


def data_and_model(args, dtype):
    """``(sequences, HMM)``: the data and a seeded random starting model."""
    import lsgm
    from lsgm.distributions import Bernoulli, Categorical

    rng = np.random.default_rng(args.seed)
    if args.fasta:
        from genome_em import load_genome

        xs = load_genome(args.fasta, "error")[1]
        K, emission = args.states or 4, Categorical
        probs = rng.dirichlet(np.ones(4), K)
    else:
        if args.quick:
            xs = [rng.integers(0, 2, (20_000, 10)) for _ in range(2)]
        else:
            from lsgm.data import read_binarized

            xs = [read_binarized(f).x for f in sorted(SAMPLE.glob("*_binary.txt.gz"))]
        K, emission = args.states or 15, Bernoulli
        probs = rng.uniform(0.05, 0.95, (K, xs[0].shape[1]))
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K) * 5, K)
    model = lsgm.HMM.from_probs(start, trans, emission.from_probs(probs.astype(dtype)))
    return xs, model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fasta", help="a genome FASTA (categorical) instead of ChromHMM's")
    parser.add_argument("--states", type=int, help="K (default 15 for ChromHMM, 4 for a genome)")
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="turns of 3 iterations each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="synthetic 2 x 20,000 bins")
    args = parser.parse_args(argv)
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    from flax import nnx

    from lsgm.data import pad_sequences
    from lsgm.training import em

    dtype = np.float64 if args.float64 else np.float32
    xs, model = data_and_model(args, dtype)
    batch = pad_sequences(xs)
    data, lengths = jax.numpy.asarray(batch.data), jax.numpy.asarray(batch.lengths)
    graphdef, state = nnx.split(model)
    with_codes = em._pattern_codes
    runs = {}
    for name in ("dense", "pattern codes"):
        # the dense step: the same program with the pattern-code path switched off
        em._pattern_codes = with_codes if name == "pattern codes" else (lambda *a: None)
        try:
            step = em._make_em_step(graphdef, em.HMMPrior(), frozenset(), None, "chunked")
            messages = em._first_messages(model, batch, None, "chunked")
            begin = time.perf_counter()
            out = jax.block_until_ready(step(state, data, lengths, None, messages=messages))
            first = time.perf_counter() - begin
        finally:
            em._pattern_codes = with_codes
        runs[name] = {"step": step, "out": out, "first": first, "times": []}
    for _ in range(args.repeats):
        for run in runs.values():
            new_state, _, _, messages = run["out"]
            begin = time.perf_counter()
            for _ in range(3):
                out = run["step"](new_state, data, lengths, None, messages=messages)
                new_state, messages = out[0], out[3]
            run["out"] = jax.block_until_ready(out)
            run["times"].append((time.perf_counter() - begin) / 3)
    print(f"Machine: {machine_line()}")
    what = f"{args.fasta} (categorical)" if args.fasta else "ChromHMM's sample (Bernoulli)"
    what = "synthetic binary marks (Bernoulli)" if args.quick else what
    print(f"Data: {what}, {batch.data.shape[0]} × {batch.data.shape[1]:,} steps; {dtype.__name__}")
    print("| E-step | first call (s) | EM iteration (s, median) | log-likelihood after all |")
    print("|---|---:|---:|---:|")
    result = {}
    for name, run in runs.items():
        median = statistics.median(run["times"])
        log_l = float(run["out"][1])
        result[name] = (median, log_l)
        print(f"| {name} | {run['first']:.2f} | {median:.3f} | {log_l:.6f} |")
    ratio = result["dense"][0] / result["pattern codes"][0]
    print(f"\nPattern codes: {ratio:.2f}× the dense chunked step's speed (same run).")
    return result


if __name__ == "__main__":
    main()
