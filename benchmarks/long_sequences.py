"""The E-step on long sequences: the time-parallel kernels against the plain scan.

Times one E-step (``log p(x)``, state marginals and summed pairwise marginals: what EM needs)
of random stationary float32 potentials, one thread, by

* ``scan``: :func:`lsgm.inference.expected_counts` (``method="scaled"``), ``jax.vmap`` over the
  batch;
* ``chunked``: :func:`lsgm.inference.time_parallel.batch_expected_counts` (what
  ``method="auto"`` picks for a few long sequences, :func:`lsgm.inference.choose_method`).

Each is the minimum of repeats after one warm-up call, with compile time measured apart
(``jit(...).lower(...).compile()``). Six sweeps:

* T = 10^3 … 10^7 steps, one sequence, K = 4 (compile time should not grow with T);
* K = 2 … 64 states, one sequence, T = 10^6;
* N = 1 … 256 sequences of T = 10^4 steps, K = 8 (from N = 128 on, ``time_parallel``
  runs one chunk per row: the rows alone fill the blocks of its scans);
* rows: many short sequences (N = 128 … 2,000 rows of T = 25 … 1,000 steps, K = 2 … 32), the
  shape of hmmlearn's users, where ``"auto"`` picks the time-parallel kernels with one chunk
  per row (:data:`lsgm.inference.time_parallel.ONE_CHUNK_ROWS`): every scan step is one
  ``[K, K] x [K, N]`` matrix product instead of ``N`` matrix–vector products under ``vmap``;
* em: ``fit_em`` per iteration on such batches, ``method="scaled"`` against ``"auto"`` (CPU
  seconds of the process; categorical and Gaussian emissions);
* accuracy: float32 against float64 ``log p(x)`` on the longest sequence, and the chunked
  float64 E-step against the plain float64 one (largest absolute difference).

Peak memory is the process's maximum resident set size after the T sweep. The random
potentials are "sticky" (self-transition 0.9) with unit-variance emissions, so the chains
forget their start within a few dozen steps; a chain that never forgets runs the exact
product fallback (see :mod:`lsgm.inference.time_parallel`; counted in the ``fallback``
column).

    python benchmarks/long_sequences.py              # ~10 min on a 2-core VM
    python benchmarks/long_sequences.py --quick      # tiny sizes (tests/test_benchmarks_long.py)
    python benchmarks/long_sequences.py --sweeps rows,em  # many short rows only (~4 min)
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, pin_one_thread, wall_times  # noqa: E402

pin_one_thread()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lsgm.data.files import atomic_write_text  # noqa: E402
from lsgm.inference import Potentials, expected_counts, time_parallel  # noqa: E402

FULL = {
    "T": [1_000, 10_000, 100_000, 1_000_000, 10_000_000],
    "K": [2, 4, 8, 16, 32, 64],
    "N": [1, 8, 64, 256],
}
QUICK = {"T": [2_000, 4_096], "K": [4], "N": [1]}  # the K row reuses the first T row
#: the "em" sweep: ``(N, T, K, emission)``: ``fit_em`` per iteration, ``method="scaled"`` vs
#: ``"auto"`` (one chunk per row for these shapes)
EM_ROWS = [(200, 1000, 4, "categorical"), (200, 1000, 8, "categorical"), (200, 1000, 8, "gaussian")]
EM_ROWS += [(300, 300, 8, "gaussian"), (500, 200, 4, "gaussian"), (1000, 25, 30, "gaussian")]
EM_ROWS += [(128, 500, 16, "gaussian")]
QUICK_EM_ROWS = [(128, 8, 3, "categorical")]
#: the "rows" sweep: ``(N, T, K)``
ROWS = [(128, 100, 2), (128, 100, 4), (128, 500, 8), (300, 300, 8), (500, 100, 3), (2000, 50, 2)]
ROWS += [(1000, 25, 30), (200, 1000, 32)]
QUICK_ROWS = [(128, 16, 3)]


def potentials(rng, N: int, T: int, K: int, dtype=np.float32):
    """Shared stationary log-parameters and ``[N, T, K]`` emissions."""
    trans = 0.9 * np.eye(K) + 0.1 * rng.dirichlet(np.ones(K), K)
    return (
        jnp.asarray(np.log(rng.dirichlet(np.ones(K))), dtype),
        jnp.asarray(np.log(trans), dtype),
        jnp.asarray(rng.normal(size=(N, T, K)), dtype),
    )


def _scan(li, lt, le):
    out = jax.vmap(lambda e: expected_counts(Potentials(li, lt, e)))(le)
    return out.log_z, out.states, out.transitions.sum(0)


def _chunked(li, lt, le):
    out = time_parallel.batch_expected_counts(li, lt, le)
    return out.log_z, out.states, out.transitions, out.fallback


KERNELS = {"scan": jax.jit(_scan), "chunked": jax.jit(_chunked)}


def measure(args: tuple, repeats: int) -> dict[str, tuple[float, float, bool]]:
    """``{kernel: (seconds, compile seconds, fallback ran)}`` on the same inputs."""
    out = {}
    for name, fn in KERNELS.items():
        compiled = [None]

        def build(fn=fn):
            compiled[0] = fn.lower(*args).compile()

        compile_s = wall_times(build, 1, 0)[0]
        result = jax.block_until_ready(compiled[0](*args))
        fallback = bool(result[3]) if name == "chunked" else False
        seconds = min(wall_times(lambda c=compiled[0]: jax.block_until_ready(c(*args)), repeats, 0))
        out[name] = (seconds, compile_s, fallback)
    return out


def sweep(name: str, sizes: list, shape, repeats: int, rng) -> list[str]:
    """Table rows of one sweep; ``shape(size) -> (N, T, K)`` (``size``: an int, or the shape
    itself)."""
    rows = []
    for size in sizes:
        N, T, K = shape(size)
        got = measure(potentials(rng, N, T, K), repeats)
        (scan_s, scan_c, _), (ch_s, ch_c, fallback) = got["scan"], got["chunked"]
        label = name if isinstance(size, tuple) else f"{name} = {size:,}"
        rows.append(
            f"| {label} | {N} × {T:,}, K = {K} | {scan_s:.4f} | {ch_s:.4f} | "
            f"{scan_s / ch_s:.2f}× | {scan_c:.2f} | {ch_c:.2f} | {'yes' if fallback else 'no'} |"
        )
        print(rows[-1], flush=True)
    return rows


def em_sweep(shapes: list, iterations: int, rng) -> list[str]:
    """``fit_em`` on ``N`` random rows of ``T`` steps (4 symbols, or 1-D Gaussian values), a
    ``K``-state HMM: process CPU seconds per iteration over ``iterations`` iterations after a
    2-iteration warm-up call that compiles the step, ``method="scaled"`` against ``"auto"``
    (the same start, ``tol=-inf``: every run does every iteration)."""
    import time

    import lsgm
    from lsgm.distributions import Categorical, Gaussian
    from lsgm.training import fit_em

    def build(K: int, kind: str):
        r = np.random.default_rng(1)
        trans = 0.8 * np.eye(K) + 0.2 * r.dirichlet(np.ones(K), K)
        if kind == "categorical":
            emission = Categorical.from_probs(r.dirichlet(np.ones(4), K))
        else:
            emission = Gaussian.from_params(r.normal(size=(K, 1)), np.ones((K, 1)))
        return lsgm.HMM.from_probs(r.dirichlet(np.ones(K)), trans, emission)

    rows = [
        "",
        "| EM shape | scaled (ms / iteration) | auto (ms / iteration) | auto speed-up |",
        "|---|---:|---:|---:|",
    ]
    for N, T, K, kind in shapes:
        if kind == "categorical":
            xs = [rng.integers(0, 4, size=T) for _ in range(N)]
        else:
            xs = [rng.normal(size=(T, 1)) for _ in range(N)]
        per_iteration = {}
        for method in ("scaled", "auto"):
            fit_em(build(K, kind), xs, max_iter=2, tol=-np.inf, method=method)  # compile
            start = time.process_time()
            fit_em(build(K, kind), xs, max_iter=iterations, tol=-np.inf, method=method)
            per_iteration[method] = (time.process_time() - start) / iterations * 1e3
        a, b = per_iteration["scaled"], per_iteration["auto"]
        rows.append(f"| {N} × {T:,}, K = {K}, {kind} | {a:.1f} | {b:.1f} | {a / b:.2f}× |")
        print(rows[-1], flush=True)
    return rows


def accuracy(T: int, rng) -> list[str]:
    """float32 vs float64 log p(x) (chunked) on one T-step sequence; chunked vs scan float64."""
    with jax.enable_x64(True):
        li, lt, le = potentials(rng, 1, T, 4, np.float64)
        f64 = time_parallel.batch_log_partition(li, lt, le)
        f32 = time_parallel.batch_log_partition(
            li.astype(jnp.float32), lt.astype(jnp.float32), le.astype(jnp.float32)
        )
        rel32 = float(jnp.abs(f32.astype(jnp.float64) - f64)[0] / jnp.abs(f64)[0])
        small = le[:, : min(T, 100_000)]
        a, b = _chunked(li, lt, small), _scan(li, lt, small)
        exact = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(a[:3], b, strict=True))
    return [
        f"- float32 vs float64 `log p(x)`, chunked, T = {T:,}: relative difference "
        f"{rel32:.2e} (target ≤ 1e-5).",
        f"- chunked vs scan, float64, T = {small.shape[1]:,}, K = 4: largest absolute "
        f"difference over log p, state marginals and transition counts {exact:.1e} "
        "(target ≤ 1e-10).",
    ]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, help="write the Markdown here (atomically)")
    parser.add_argument(
        "--sweeps",
        default="T,K,N,rows,em",
        help="comma-separated sweeps to run (T,K,N,rows,em; default all; the accuracy lines "
        "and the peak memory need T)",
    )
    args = parser.parse_args(argv)
    chosen = set(args.sweeps.split(","))
    if not chosen <= {"T", "K", "N", "rows", "em"}:
        parser.error(f"--sweeps {args.sweeps!r}: choose from T, K, N, rows, em")
    sizes = QUICK if args.quick else FULL
    repeats = 1 if args.quick else args.repeats
    rng = np.random.default_rng(0)
    header = [
        "| sweep | shape | scan (s) | chunked (s) | chunked speed-up | scan compile (s) | "
        "chunked compile (s) | fallback |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    lines = [f"Machine: {machine_line()}", "", *header]
    print("\n".join(lines), flush=True)
    if "T" in chosen:
        lines += sweep("T", sizes["T"], lambda t: (1, t, 4), repeats, rng)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "K" in chosen:
        lines += sweep("K", sizes["K"], lambda k: (1, sizes["T"][-2], k), repeats, rng)
    if "N" in chosen:
        lines += sweep("N", sizes["N"], lambda n: (n, sizes["T"][1], 8), repeats, rng)
    if "rows" in chosen:
        lines += sweep("rows", QUICK_ROWS if args.quick else ROWS, lambda s: s, repeats, rng)
    if "em" in chosen:
        lines += em_sweep(QUICK_EM_ROWS if args.quick else EM_ROWS, 2 if args.quick else 12, rng)
    if "T" in chosen:
        lines += ["", f"- peak resident memory after the T sweep: {peak:,.0f} MB."]
        lines += accuracy(sizes["T"][-1], rng)
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-3:]))
    if args.output is not None:
        atomic_write_text(args.output, text)
    return text


if __name__ == "__main__":
    main()
