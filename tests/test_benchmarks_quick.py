"""The one benchmark command runs end to end in --quick mode (it measures nothing here).

``benchmarks/run.py --quick`` runs every benchmark script (kernels, training, peers, LSGM step,
genome decoding on a synthetic sequence, scaling curves) in its own process and writes one
Markdown file; one run checks every section, so no script runs twice in the suite.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_command_quick(tmp_path):
    env = dict(os.environ, LSGM_BENCH_NO_PEERS="1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    text = (tmp_path / "benchmarks.md").read_text()
    sections = {}
    for block in text.split("\n## ")[1:]:
        title, _, body = block.partition("\n")
        sections[title.strip()] = body.splitlines()
    assert list(sections) == [
        "Inference kernels",
        "EM iteration and gradient",
        "Peers on the kernel ops",
        "LSGM training step",
        "Whole-genome decoding",
        "Scaling curves",
    ]

    def count(title, marker):
        return sum(marker in line for line in sections[title])

    assert count("Inference kernels", "| hmmlearn-scaling |") == 6  # ops × workloads
    assert count("EM iteration and gradient", "| hmmlearn-scaling |") == 4
    steps = [line for line in sections["LSGM training step"] if line.startswith("| (")]
    assert [row.split("|")[1].strip() for row in steps] == ["(a)", "(b)"]
    genome = sections["Whole-genome decoding"]
    assert count("Whole-genome decoding", "| **Viterbi + posteriors** |") == 1
    # The chunked kernels agree with the plain ones on the synthetic sequence.
    assert any("Agreement on the prefix: 0 Viterbi positions differ" in line for line in genome)
    assert count("Scaling curves", "| 16 |") == 1  # quick T sweep: T = 16
    assert (tmp_path / "scaling" / "scaling.png").stat().st_size > 0
    assert "Failed" not in text
