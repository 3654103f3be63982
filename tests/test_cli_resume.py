"""Killing `lsgm fit` mid-run (SIGKILL) and rerunning with --resume loses no work: the resumed
run continues from the last per-epoch/per-iteration checkpoint and ends with the parameters of
an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.models.serialization import load_model
from lsgm.training.checkpoint import load_metadata

DNA = str(Path(__file__).parent / "data" / "cli_dna.fa")
ARGS = {
    "gradient": ["--trainer", "gradient", "--epochs", "150", "--batch-size", "1"],
    "em": ["--trainer", "em", "--max-iter", "150", "--tol", "0", "--n-init", "2"],
}
CHECKPOINT = {"gradient": "checkpoint.msgpack", "em": "em_checkpoint.msgpack"}


def progress(meta: dict, trainer: str) -> int:
    if trainer == "gradient":
        return int(meta["epoch"]) if "epoch" in meta else len(meta["history"]["train_nll"])
    return meta["restart"] * 1000 + len(meta["history"]["log_likelihoods"])


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["gradient", "em"])
def test_kill_and_resume(trainer, tmp_path, capsys):
    ckpt_dir = tmp_path / "ckpt"
    argv = ["fit", DNA, "--states", "3", "--seed", "1", *ARGS[trainer]]
    cmd = [
        sys.executable,
        "-m",
        "lsgm.cli.main",
        *argv,
        "-q",
        "-o",
        str(tmp_path / "a.lsgm"),
        "--checkpoint-dir",
        str(ckpt_dir),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = ckpt_dir / CHECKPOINT[trainer]
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "a.lsgm").exists()
    done_at_kill = progress(load_metadata(ckpt), trainer)  # a whole, readable checkpoint
    assert done_at_kill >= 1

    capsys.readouterr()
    resumed = main(
        [
            *argv,
            "--json",
            "-o",
            str(tmp_path / "a.lsgm"),
            "--checkpoint-dir",
            str(ckpt_dir),
            "--resume",
        ]
    )
    assert resumed == 0, capsys.readouterr().err
    history = json.loads(capsys.readouterr().out)["history"]
    assert main([*argv, "-q", "-o", str(tmp_path / "b.lsgm")]) == 0  # uninterrupted
    a, _ = load_model(tmp_path / "a.lsgm")
    b, _ = load_model(tmp_path / "b.lsgm")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    if trainer == "gradient":
        assert len(history["train_nll"]) == 150
    else:
        assert len(history["log_likelihood"]) == 150


@pytest.mark.parametrize("trainer", ["gradient", "em"])
def test_resume_from_a_missing_checkpoint_folder_is_an_error(trainer, tmp_path, capsys):
    out = tmp_path / "a.lsgm"
    argv = [
        "fit",
        DNA,
        "--states",
        "2",
        "--trainer",
        trainer,
        "-q",
        "-o",
        str(out),
        "--checkpoint-dir",
        str(tmp_path / "nowhere"),
        "--resume",
    ]
    assert main(argv) == 1
    assert "nowhere" in capsys.readouterr().err and not out.exists()
