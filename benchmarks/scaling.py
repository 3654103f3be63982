"""Scaling curves of the inference kernels: time vs sequence length T, states K and batch size.

Times ``log_partition``, ``posteriors(...).states`` and ``viterbi`` of ``lsgm.inference`` (the
plain scan kernels, ``jax.vmap`` over the batch, one ``jax.jit``) on random stationary float32
potentials, one thread, the *minimum* of repeats after one warm-up call (compile excluded; the
minimum, not the median, because other jobs on a shared machine inflate single runs). Three
sweeps, each varying one size with the others fixed:

* T in 10^2 … 10^6 (K = 8, batch 1), plus the chunked kernels (``lsgm.inference.chunked``;
  not in ``--quick``);
* K in 2 … 256 (T = 1000, batch 8);
* batch in 1 … 512 (T = 1000, K = 8).

A least-squares slope of log(time) vs log(size) over the largest sizes checks that the cost
grows linearly (slope ≈ 1) in T and in the batch size. Writes ``scaling.md`` (the tables) and
``scaling.png`` (log-log plot) to ``--output``, and prints the Markdown.

    python benchmarks/scaling.py --output lsgm-scaling     # ~5 min on a 2-core VM
    python benchmarks/scaling.py --quick --output /tmp/s   # tiny sizes (the tests)
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, pin_one_thread, wall_times  # noqa: E402

pin_one_thread()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lsgm.data.files import atomic_path, atomic_write_text, check_writable_dir  # noqa: E402
from lsgm.inference import (  # noqa: E402
    Potentials,
    chunked_log_partition,
    chunked_posteriors,
    chunked_viterbi,
    log_partition,
    posteriors,
    viterbi,
)

OPS = ("log-likelihood", "posteriors", "viterbi")
FULL = {
    "T": [100, 1_000, 10_000, 100_000, 1_000_000],
    "K": [2, 4, 8, 16, 32, 64, 128, 256],
    "batch": [1, 8, 64, 512],
}
FIXED = {"T": 1000, "K": 8, "batch": 8}  # the sizes held fixed (T sweep: batch 1)
#: --quick: every sweep is the one shape (batch 1, T 16, K 2), so each op compiles once.
QUICK = {"T": [16], "K": [2], "batch": [1]}
QUICK_FIXED = {"T": 16, "K": 2, "batch": 1}


def random_batch(B: int, T: int, K: int, seed: int = 0) -> Potentials:
    """Stationary potentials shared by the batch, ``log_emit [B, T, K]`` (float32)."""
    rng = np.random.default_rng(seed)
    log_init = np.log(rng.dirichlet(np.ones(K)))
    log_trans = np.log(rng.dirichlet(np.ones(K), size=K))
    log_emit = rng.normal(size=(B, T, K))
    return Potentials(*(jnp.asarray(a, jnp.float32) for a in (log_init, log_trans, log_emit)))


@functools.cache
def batched_ops(chunked: bool = False) -> dict:
    """``{op: jitted fn(Potentials with [B, T, K] log_emit)}``."""
    fns = (
        (chunked_log_partition, chunked_posteriors, lambda p: chunked_viterbi(p)[0])
        if chunked
        else (log_partition, lambda p: posteriors(p).states, lambda p: viterbi(p)[0])
    )

    def over_batch(fn):
        one = lambda p, e: fn(Potentials(p.log_init, p.log_trans, e))  # noqa: E731
        return jax.jit(lambda p: jax.vmap(one, in_axes=(None, 0))(p, p.log_emit))

    return {op: over_batch(fn) for op, fn in zip(OPS, fns, strict=True)}


def min_time(fn, repeats: int) -> float:
    """Minimum wall time of ``fn()`` over ``repeats`` calls after one warm-up call."""
    return min(wall_times(fn, repeats, warmup=1))


def measure(B: int, T: int, K: int, repeats: int, chunked: bool = False) -> dict[str, float]:
    p = random_batch(B, T, K)
    out = {}
    for op, fn in batched_ops(chunked).items():
        out[op] = min_time(lambda fn=fn: jax.block_until_ready(fn(p)), repeats)
    return out


def slope(sizes, seconds, last: int = 3) -> float:
    """Least-squares slope of log(seconds) vs log(size) over the ``last`` largest sizes."""
    x, y = np.log(sizes[-last:]), np.log(seconds[-last:])
    return float(np.polyfit(x, y, 1)[0])


def run(sizes: dict, repeats: int, fixed: dict = FIXED, chunked: bool = True) -> dict:
    """``{sweep: {"sizes": [...], "series": {name: {op: [seconds]}}}}``."""
    results = {}
    for sweep, values in sizes.items():
        series: dict[str, dict[str, list[float]]] = {"plain": {op: [] for op in OPS}}
        if sweep == "T" and chunked:
            series["chunked"] = {op: [] for op in OPS}
        for v in values:
            B = 1 if sweep == "T" else (v if sweep == "batch" else fixed["batch"])
            T = v if sweep == "T" else fixed["T"]
            K = v if sweep == "K" else fixed["K"]
            for name in series:
                start = time.perf_counter()
                times = measure(B, T, K, repeats, chunked=name == "chunked")
                for op in OPS:
                    series[name][op].append(times[op])
                print(
                    f"  {sweep}={v} {name}: "
                    + ", ".join(f"{op} {t * 1e3:.2f} ms" for op, t in times.items())
                    + f" ({time.perf_counter() - start:.1f} s incl. compile)",
                    file=sys.stderr,
                )
        results[sweep] = {"sizes": values, "series": series}
    return results


def markdown(results: dict, fixed: dict = FIXED) -> str:
    lines = []
    held = {
        "T": f"K = {fixed['K']}, batch 1",
        "K": f"T = {fixed['T']}, batch {fixed['batch']}",
        "batch": f"T = {fixed['T']}, K = {fixed['K']}",
    }
    for sweep, r in results.items():
        lines += [f"### Time vs {sweep} ({held[sweep]}; ms)", ""]
        names = list(r["series"])
        header = [f"{n} {op}" for n in names for op in OPS]
        lines += ["| " + sweep + " | " + " | ".join(header) + " |"]
        lines += ["|---:|" + "---:|" * len(header)]
        for i, v in enumerate(r["sizes"]):
            cells = [f"{r['series'][n][op][i] * 1e3:.3g}" for n in names for op in OPS]
            lines.append(f"| {v:,} | " + " | ".join(cells) + " |")
        if sweep in ("T", "batch") and len(r["sizes"]) >= 2:
            last = min(3, len(r["sizes"]))
            fits = ", ".join(
                f"{n} {op} {slope(r['sizes'], r['series'][n][op], last):.2f}"
                for n in names
                for op in OPS
            )
            lines += ["", f"Slope of log(time) vs log({sweep}) over the {last} largest: {fits}."]
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.8))
    axes = fig.subplots(1, len(results))
    for ax, (sweep, r) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for name, series in r["series"].items():
            for op in OPS:
                style = "-o" if name == "plain" else "--s"
                ax.loglog(r["sizes"], series[op], style, label=f"{name} {op}", ms=3)
        ax.set_xlabel(sweep)
        ax.set_ylabel("seconds")
        ax.set_title(f"time vs {sweep}")
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default="lsgm-scaling", help="folder for scaling.md/.png")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out)
    start = time.perf_counter()
    fixed = QUICK_FIXED if args.quick else FIXED
    # --quick skips the chunked series (tested in tests/test_inference_chunked.py): fewer compiles.
    results = run(
        QUICK if args.quick else FULL,
        1 if args.quick else args.repeats,
        fixed,
        chunked=not args.quick,
    )
    text = (
        f"## Scaling curves\n\n{machine_line()}\n\nOne thread, float32, minimum of "
        f"{1 if args.quick else args.repeats} repeats after one warm-up call, compile excluded; "
        f"whole sweep {time.perf_counter() - start:.0f} s. Plot: `scaling.png`.\n\n"
        + markdown(results, fixed)
    )
    atomic_write_text(out / "scaling.md", text)
    plot(results, out / "scaling.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
