"""The benchmark scripts run end to end in --quick mode (they measure nothing here)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script,rows",
    [("kernels.py", 6), ("training.py", 4)],  # rows = ops × workloads
)
def test_benchmark_quick(script, rows):
    env = dict(os.environ, LSGM_BENCH_NO_PEERS="1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert sum("| hmmlearn-scaling |" in line for line in out.stdout.splitlines()) == rows
