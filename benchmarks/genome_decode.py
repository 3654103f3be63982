"""Whole-genome decoding: Viterbi + posteriors of a 2-state CpG-style HMM on a genome FASTA.

The model has fixed, documented parameters (not fitted; the point is the cost of exact
inference over millions of steps): state 0 = background, 1 = island;

    initial      [0.9, 0.1]
    transitions  background -> island 1e-4, island -> background 1e-3
    emissions    background A .29 C .21 G .21 T .29;  island A .155 C .345 G .345 T .155

Timed, one thread, float32: reading the FASTA (``lsgm.data.read_sequences``), the potentials
(``HMM.potentials`` under ``jax.jit``), and the exact chunked kernels of
``lsgm.inference.chunked`` (Viterbi, posteriors, log Z; chunk ``ceil(sqrt(T))``), each the
median of repeats after a warm-up call, compile time measured apart
(``jit(...).lower(...).compile()``); peak memory is the process's maximum resident set size
(``resource.getrusage``). For comparison the plain scan kernels (``lsgm.inference.viterbi`` /
``posteriors``) run on a 1-Mb prefix (``--prefix``; 0 = the whole sequence), where the two are
also checked to agree, and (without ``--quick``) against float64 Viterbi.

    python benchmarks/genome_decode.py /path/to/GCF_000005845.2_ASM584v2_genomic.fna.gz
    python benchmarks/genome_decode.py --quick      # synthetic 20 kb sequence (the tests)
    python benchmarks/genome_decode.py --quick --save-model cpg2.lsgm   # + the model file, then
    lsgm decode cpg2.lsgm genome.fna.gz -o islands.bed --bed-states island
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, median_time, pin_one_thread  # noqa: E402

pin_one_thread()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import lsgm  # noqa: E402
from lsgm.distributions import Categorical  # noqa: E402
from lsgm.inference import chunked, posteriors, viterbi  # noqa: E402

INITIAL = np.array([0.9, 0.1])
TRANSITION = np.array([[1 - 1e-4, 1e-4], [1e-3, 1 - 1e-3]])
EMISSION = np.array([[0.29, 0.21, 0.21, 0.29], [0.155, 0.345, 0.345, 0.155]])
PREFIX = 1_000_000


def cpg_model() -> lsgm.HMM:
    """The fixed 2-state model above (float32)."""
    return lsgm.HMM.from_probs(
        INITIAL, TRANSITION, Categorical.from_probs(EMISSION.astype(np.float32))
    )


def peak_rss_mb() -> float:
    """Maximum resident set size of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(T: int, seed: int = 0) -> np.ndarray:
    """``[T]`` bases sampled from the model with numpy (no compile)."""
    rng = np.random.default_rng(seed)
    z = np.empty(T, np.int64)
    z[0] = rng.choice(2, p=INITIAL)
    switch = rng.random(T)
    for t in range(1, T):
        z[t] = z[t - 1] ^ int(switch[t] < TRANSITION[z[t - 1], 1 - z[t - 1]])
    cumulative = np.cumsum(EMISSION, axis=1)[z]
    return (rng.random((T, 1)) > cumulative[:, :-1]).sum(1).astype(np.int32)


def load(path: str | None) -> tuple[str, np.ndarray]:
    """``(label, symbols [T] int32)``: the FASTA's records concatenated, or a synthetic 20 kb."""
    if path is None:
        return "synthetic 20 kb (sampled from the model)", synthetic(20_000)
    records = lsgm.data.read_sequences(path)
    if len(records) != 1:
        print(f"note: {len(records)} records in {path}; decoding them concatenated")
    x = np.concatenate([r.data for r in records]).astype(np.int32)
    return f"{Path(path).name} ({', '.join(r.name for r in records[:3])})", x


def seconds(fn, repeats: int) -> float:
    return median_time(lambda: jax.block_until_ready(fn()), repeats, warmup=1)


def compiled(jitted, *args, **kw) -> tuple[object, float]:
    """``(executable, compile seconds)`` of ``jitted`` for these arguments."""
    start = time.perf_counter()
    executable = jitted.lower(*args, **kw).compile()
    return executable, time.perf_counter() - start


def float64_viterbi(p) -> tuple[np.ndarray, float]:
    """The plain Viterbi kernel in float64: ``(path, score)`` (the reference optimum)."""
    with jax.enable_x64(True):
        p64 = lsgm.inference.Potentials(*(jnp.asarray(np.asarray(a), jnp.float64) for a in p))
        path, score = viterbi(p64)
        return np.asarray(path), float(score)


def run(path: str | None, repeats: int, prefix: int = PREFIX, check64: bool = True) -> dict:
    model = cpg_model()
    start = time.perf_counter()
    label, x = load(path)
    load_s = time.perf_counter() - start
    rss_loaded = peak_rss_mb()
    T = len(x)
    xj = jnp.asarray(x)
    make_potentials, _ = compiled(jax.jit(model.potentials), xj)
    p = jax.block_until_ready(make_potentials(xj))
    potentials_s = seconds(lambda: make_potentials(xj), repeats)
    L = chunked.default_chunk(T)
    decode, compile_v = compiled(chunked._viterbi, p, chunk=L)
    smooth, compile_p = compiled(chunked._posteriors, p, chunk=L)
    partition, _ = compiled(chunked._log_partition, p, chunk=L)
    viterbi_s = seconds(lambda: decode(p), repeats)
    post_s = seconds(lambda: smooth(p), repeats)
    log_z_s = seconds(lambda: partition(p), repeats)
    path_c, score = decode(p)
    states = smooth(p)
    log_z = float(partition(p))
    island = np.asarray(path_c) == 1
    segments = int(island[0]) + int(np.sum(island[1:] & ~island[:-1]))

    # Plain scan kernels on a prefix (the whole sequence when shorter), and agreement there.
    n = T if prefix <= 0 else min(T, prefix)
    pre = lsgm.inference.Potentials(p.log_init, p.log_trans, p.log_emit[:n])
    plain_v, _ = compiled(jax.jit(lambda q: viterbi(q)), pre)
    plain_p, _ = compiled(jax.jit(lambda q: posteriors(q).states), pre)
    if n == T:
        chunk_v, chunk_p = decode, smooth
    else:
        chunk_v, _ = compiled(chunked._viterbi, pre, chunk=chunked.default_chunk(n))
        chunk_p, _ = compiled(chunked._posteriors, pre, chunk=chunked.default_chunk(n))
    plain_vs = seconds(lambda: plain_v(pre), repeats)
    plain_ps = seconds(lambda: plain_p(pre), repeats)
    chunk_vs = seconds(lambda: chunk_v(pre), repeats)
    chunk_ps = seconds(lambda: chunk_p(pre), repeats)
    plain_path, chunk_path = np.asarray(plain_v(pre)[0]), np.asarray(chunk_v(pre)[0])
    differ = int(np.sum(plain_path != chunk_path))
    post_diff = float(jnp.max(jnp.abs(plain_p(pre) - chunk_p(pre))))
    ref_path, ref_score = float64_viterbi(pre) if check64 else (None, None)
    return {
        "float64_score": ref_score,
        "float64_plain_differ": None if ref_path is None else int(np.sum(ref_path != plain_path)),
        "float64_chunked_differ": None if ref_path is None else int(np.sum(ref_path != chunk_path)),
        "label": label,
        "T": T,
        "chunk": L,
        "load_s": load_s,
        "potentials_s": potentials_s,
        "compile_viterbi_s": compile_v,
        "compile_posteriors_s": compile_p,
        "viterbi_s": viterbi_s,
        "posteriors_s": post_s,
        "log_z_s": log_z_s,
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": peak_rss_mb(),
        "log_z": log_z,
        "viterbi_score": float(score),
        "island_bases": int(island.sum()),
        "island_segments": segments,
        "mean_island_posterior": float(jnp.mean(states[:, 1])),
        "prefix": n,
        "plain_viterbi_s": plain_vs,
        "plain_posteriors_s": plain_ps,
        "chunked_viterbi_prefix_s": chunk_vs,
        "chunked_posteriors_prefix_s": chunk_ps,
        "prefix_path_differences": differ,
        "prefix_max_posterior_difference": post_diff,
        "prefix_plain_path_score64": path_score64(pre, plain_path),
        "prefix_chunked_path_score64": path_score64(pre, chunk_path),
    }


def path_score64(p, path: np.ndarray) -> float:
    """``log p(x, z)`` of a state path, evaluated in float64 with numpy (no rounding drift)."""
    li, lt, le = (np.asarray(a, np.float64) for a in p)
    return float(li[path[0]] + lt[path[:-1], path[1:]].sum() + le[np.arange(len(path)), path].sum())


def markdown(r: dict) -> str:
    total = r["viterbi_s"] + r["posteriors_s"]
    lines = [
        f"Sequence: {r['label']}, T = {r['T']:,}, chunk L = {r['chunk']} "
        f"(C = {-(-r['T'] // r['chunk'])} chunks), K = 2, float32, one thread.",
        "",
        "| step | time (s) |",
        "|---|---:|",
        f"| read FASTA | {r['load_s']:.2f} |",
        f"| potentials | {r['potentials_s']:.3f} |",
        f"| compile Viterbi / posteriors | {r['compile_viterbi_s']:.2f} / "
        f"{r['compile_posteriors_s']:.2f} |",
        f"| Viterbi (chunked) | {r['viterbi_s']:.3f} |",
        f"| posteriors (chunked) | {r['posteriors_s']:.3f} |",
        f"| **Viterbi + posteriors** | **{total:.3f}** |",
        f"| log Z alone (chunked) | {r['log_z_s']:.3f} |",
        "",
        f"Peak RSS {r['rss_peak_mb']:.0f} MB (after reading the FASTA: "
        f"{r['rss_loaded_mb']:.0f} MB). log Z = {r['log_z']:.2f}, Viterbi score "
        f"{r['viterbi_score']:.2f}; Viterbi island bases {r['island_bases']:,} in "
        f"{r['island_segments']:,} segments; mean island posterior "
        f"{r['mean_island_posterior']:.4f}.",
        "",
        f"Plain scan kernels vs chunked on the first {r['prefix']:,} bases (same repeats):",
        "",
        "| op | plain scan (s) | chunked (s) | speed-up |",
        "|---|---:|---:|---:|",
        f"| Viterbi | {r['plain_viterbi_s']:.3f} | {r['chunked_viterbi_prefix_s']:.3f} | "
        f"{r['plain_viterbi_s'] / r['chunked_viterbi_prefix_s']:.1f}× |",
        f"| posteriors | {r['plain_posteriors_s']:.3f} | {r['chunked_posteriors_prefix_s']:.3f} | "
        f"{r['plain_posteriors_s'] / r['chunked_posteriors_prefix_s']:.1f}× |",
        "",
        f"Agreement on the prefix: {r['prefix_path_differences']} Viterbi positions differ, "
        f"max |posterior difference| {r['prefix_max_posterior_difference']:.2e}. Exact "
        f"(float64) log-score of each float32 path: plain {r['prefix_plain_path_score64']:.3f}, "
        f"chunked {r['prefix_chunked_path_score64']:.3f} (higher is better).",
    ]
    if r["float64_score"] is not None:
        lines += [
            "",
            f"float64 Viterbi (plain kernel) on the same bases: score {r['float64_score']:.3f}; "
            f"its path differs from the float32 plain path at {r['float64_plain_differ']} and "
            f"from the float32 chunked path at {r['float64_chunked_differ']} positions.",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fasta", nargs="?", help="genome FASTA (gzip ok); required without --quick")
    parser.add_argument("--quick", action="store_true", help="synthetic 20 kb sequence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--save-model",
        metavar="PATH",
        help="also write the model as an lsgm model file (for `lsgm decode`)",
    )
    parser.add_argument(
        "--prefix",
        type=int,
        default=PREFIX,
        help="bases for the plain-vs-chunked comparison (0: the whole sequence)",
    )
    args = parser.parse_args(argv)
    if args.fasta is None and not args.quick:
        parser.error("give a genome FASTA path (e.g. the E. coli K-12 .fna.gz), or --quick")
    if args.save_model:
        from lsgm.models.serialization import save_model

        info = {"input": {"kind": "sequence"}, "state_names": ["background", "island"]}
        save_model(args.save_model, cpg_model(), info)
    repeats = 1 if args.quick else args.repeats
    result = run(None if args.quick else args.fasta, repeats, args.prefix, check64=not args.quick)
    print(f"# Whole-genome decoding\n\n{machine_line()}\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
