"""How long the ``lsgm`` command takes to start: ``--help`` and an argument error.

Each case runs the installed console script (``lsgm`` on ``PATH``, else ``python -m lsgm.cli.main``) in
a fresh process ``--repeats`` times (default 5) after one untimed run (which warms the file
cache) and prints the median wall time with the load average, since a busy machine inflates
it. A command imports JAX, Flax, optax, matplotlib and SciPy only when it runs
(``tests/test_cli_start.py`` checks that ``--help`` loads none of them); this script measures
what that buys. It is a benchmark, not a test: nothing here asserts a time.

    python benchmarks/cli_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

#: (label, arguments): what a newcomer types first.
CASES = (
    ("lsgm --help", ["--help"]),
    ("lsgm fit --help", ["fit", "--help"]),
    ("lsgm experiment gene-structure --help", ["experiment", "gene-structure", "--help"]),
    ("lsgm fit (argument error)", ["fit", "--states"]),
)


def command() -> list[str]:
    """The ``lsgm`` console script, or ``python -m lsgm.cli.main`` where it is not on ``PATH``."""
    script = shutil.which("lsgm")
    return [script] if script else [sys.executable, "-m", "lsgm.cli.main"]


def median_seconds(argv: list[str], repeats: int) -> float:
    """Median wall time of ``repeats`` runs of ``argv`` (after one untimed run), in seconds."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args(argv)
    base = command()
    print(f"{' '.join(base)}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    for label, extra in CASES:
        seconds = median_seconds([*base, *extra], max(1, args.repeats))
        print(f"{label:<40} {seconds:6.3f} s (median of {max(1, args.repeats)})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
