"""The benchmark scripts run end to end in --quick mode (they measure nothing here)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str) -> str:
    env = dict(os.environ, LSGM_BENCH_NO_PEERS="1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize(
    "script,rows",
    [("kernels.py", 6), ("training.py", 4)],  # rows = ops × workloads
)
def test_peer_benchmark_quick(script, rows):
    stdout = _run(script)
    assert sum("| hmmlearn-scaling |" in line for line in stdout.splitlines()) == rows


def test_lsgm_step_benchmark_quick():
    stdout = _run("lsgm_step.py")
    rows = [line for line in stdout.splitlines() if line.startswith("| (")]
    assert [row.split("|")[1].strip() for row in rows] == ["(a)", "(b)"]
