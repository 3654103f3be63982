"""Timing helpers shared by the benchmarks (median of repeats after warm-up, compile apart)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def pin_one_thread() -> None:
    """Restrict XLA and BLAS to one thread. Call before importing jax or numpy."""
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def wall_times(fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn()`` in seconds, after ``warmup`` untimed calls
    (``fn`` must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds (see :func:`wall_times`)."""
    return statistics.median(wall_times(fn, repeats, warmup))


def time_jitted(fn, args: tuple, repeats: int) -> tuple[float, float]:
    """``(median seconds per call, compile seconds)`` of a ``jax.jit``-ed ``fn(*args)``."""
    import jax

    compile_s = median_time(lambda: fn.lower(*args).compile(), repeats=1, warmup=0)
    seconds = median_time(lambda: jax.block_until_ready(fn(*args)), repeats)
    return seconds, compile_s


def quick_arguments(description: str, argv=None, quick_help: str = "tiny sizes, one repeat"):
    """Parse the benchmarks' shared ``--quick`` / ``--repeats`` options."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--repeats", type=int, default=7)
    return parser.parse_args(argv)


@dataclass
class Row:
    """One line of a benchmark table."""

    workload: str
    op: str
    ours_s: float
    peer: str
    peer_s: float | None
    compile_s: float | None = None

    @property
    def speedup(self) -> float | None:
        return None if self.peer_s is None else self.peer_s / self.ours_s


def markdown_table(rows: list[Row]) -> str:
    """Rows as a Markdown table (times in ms, speed-up = peer time / our time)."""
    lines = [
        "| workload | op | lsgm (ms) | compile (s) | peer | peer (ms) | speed-up |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        peer_ms = "n/a" if r.peer_s is None else f"{r.peer_s * 1e3:.2f}"
        speed = "n/a" if r.speedup is None else f"{r.speedup:.1f}×"
        comp = "" if r.compile_s is None else f"{r.compile_s:.2f}"
        lines.append(
            f"| {r.workload} | {r.op} | {r.ours_s * 1e3:.2f} | {comp} | {r.peer} | {peer_ms} | {speed} |"
        )
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else the platform's machine name."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """A one-line description of this machine and the library versions."""
    import jax
    import numpy

    try:
        import hmmlearn

        peer = f", hmmlearn {hmmlearn.__version__}"
    except ImportError:
        peer = ""
    return (
        f"{cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"Python {platform.python_version()}, jax {jax.__version__}, numpy {numpy.__version__}{peer}"
    )
