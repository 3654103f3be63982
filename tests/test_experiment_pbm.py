"""``lsgm experiment pbm --quick`` end to end on the bundled 400-probe samples of the two
proteinA arrays (array 1 → train/validate, array 2 → test), cross-validation on one array,
and its input errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lsgm.cli.main import main

DATA = Path(__file__).parent / "data" / "pbm"
V1, V2 = str(DATA / "proteinA_v1_small.txt"), str(DATA / "proteinA_v2_small.txt")


@pytest.mark.slow
def test_pbm_quick_train_on_array1_test_on_array2(tmp_path, capsys):
    out = tmp_path / "pbm"
    code = main(
        ["experiment", "pbm", "--quick", "--train", V1, "--test", V2, "-o", str(out), "--json"]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"hmm", "lsgm", "deepbind", "deeperbind", "kmer"}
    assert result["train_probes"] == 400 and result["test_probes"] == 400
    for r in rows.values():
        assert r["parameters"] > 0 and math.isfinite(r["test_spearman"])
        assert -1 <= r["test_spearman"] <= 1
    # The planted GATA site is strong: even the quick motif HMM ranks array-2 probes well.
    assert rows["hmm"]["test_spearman"] > 0.3, rows["hmm"]
    # The LSGM has the HMM's parameters plus the LSTM and its head.
    assert rows["lsgm"]["parameters"] > rows["hmm"]["parameters"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["rows"] == result["rows"]
    assert "| hmm" in (out / "results.md").read_text()
    for name in result["logos"]:
        assert (out / name).stat().st_size > 1000
    assert len(result["pwms"]["hmm"]) == 1 and len(result["pwms"]["hmm"][0]) == 8


def test_pbm_quick_cross_validation(tmp_path, capsys):
    out = tmp_path / "cv"
    code = main(
        [
            "experiment",
            "pbm",
            "--quick",
            "--train",
            V1,
            "--cv",
            "2",
            "--models",
            "hmm,kmer",
            "-o",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"hmm", "kmer"}
    assert all(len(r["folds"]) == 2 for r in rows.values())


def test_pbm_bad_arguments(tmp_path, capsys):
    base = ["experiment", "pbm", "--quick", "--train", V1, "-o", str(tmp_path / "x"), "--quiet"]
    assert main([*base, "--test", V2, "--cv", "3"]) == 1
    assert "--cv" in capsys.readouterr().err
    assert main([*base, "--test", V2, "--models", "hmm,svm"]) == 1
    assert "svm" in capsys.readouterr().err
    assert main([*base, "--test", V2, "--models", "lsgm"]) == 1
    assert "hmm" in capsys.readouterr().err
    assert main([*base, "--test", V2, "--motif", "GATA1"]) == 1
    assert "--motifs" in capsys.readouterr().err
