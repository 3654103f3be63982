"""``lsgm chromatin compare`` (issue 21, beyond ChromHMM): the HMM against an LSGM on held-out
files, its ``--quick`` run end to end, the Hungarian matching of segmentations and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lsgm.apps.chromatin_states import matched_agreement
from lsgm.cli.main import main
from lsgm.data import write_binarized

MARKS = ["M1", "M2", "M3"]


def _cell(rng, T):
    """A sticky 3-state chain over 3 marks whose switches follow the last bin's marks."""
    p = np.array([[0.05, 0.05, 0.05], [0.8, 0.1, 0.5], [0.1, 0.85, 0.1]])
    z = np.zeros(T, int)
    x = np.zeros((T, 3), np.int8)
    for t in range(T):
        if t:
            stay = 0.97 if x[t - 1, 2] == 0 else 0.6
            z[t] = z[t - 1] if rng.random() < stay else rng.integers(3)
        x[t] = rng.random(3) < p[z[t]]
    return x


def test_matched_agreement():
    a = np.array([0, 0, 1, 1, 2])
    same, match = matched_agreement(a, np.array([2, 2, 0, 0, 1]), 3, 3)
    assert same == 1.0 and match.tolist() == [2, 0, 1]
    near, _ = matched_agreement(a, np.array([2, 2, 0, 1, 1]), 3, 3)
    assert near == pytest.approx(0.8)
    fewer, match = matched_agreement(a, np.array([0, 0, 0, 0, 1]), 3, 2)
    assert fewer == pytest.approx(0.6) and sorted(match.tolist()) == [-1, 0, 1]


def test_compare_quick(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    d.mkdir()
    for cell in ("cA", "cB"):
        x = _cell(rng, 500)
        if cell == "cB":
            x[40:60, 1] = 2  # missing values are marginalised, in the held-out cell too
        write_binarized(d / f"{cell}_chr1_binary.txt", cell, "chr1", MARKS, x)
    out = tmp_path / "out"
    assert main(["chromatin", "compare", str(d), str(out), "2", "--holdout", "cC", "--quick"]) == 1
    assert "--holdout 'cC' must name a chromosome or cell" in capsys.readouterr().err
    assert main(["chromatin", "compare", str(d), str(d), "2", "--quick"]) == 1
    assert "input" in capsys.readouterr().err and not (d / "comparison.json").exists()
    assert main(["chromatin", "compare", str(d), str(out), "2", "--quick", "--quiet"]) == 0
    r = json.loads((out / "comparison.json").read_text())
    assert r["holdout"] == "cB" and r["missing_values"] == 20
    assert r["bins"] == {"fit": 450, "validation": 50, "heldout": 500}
    hmm, lsgm = r["hmm"], r["lsgm"]
    assert hmm["K"] == 2 and hmm["parameters"] == 1 + 2 + 6
    assert r["larger_hmms"] == []  # --quick fits no larger HMMs
    (run,) = lsgm["runs"]
    assert run["parameters"] > hmm["parameters"] and 1 <= run["epochs"] <= 2
    for row in (hmm, run, *r["larger_hmms"]):
        assert np.isfinite(row["heldout_per_bin"]) and row["heldout_per_bin"] < 0
        assert row["heldout_per_bin"] == pytest.approx(row["heldout_log_likelihood"] / 500)
    assert 0.5 <= run["viterbi_agreement"] <= 1
    assert sorted(run["state_match"]) == [0, 1]
    rows = [hmm, *r["larger_hmms"]]
    reach = [x["K"] for x in rows if x["heldout_per_bin"] >= run["heldout_per_bin"]]
    assert r["states_to_match"] == (min(reach) if reach else None)
    text = (out / "comparison.txt").read_text()
    assert "HMM\t2\t9\t" in text and "Viterbi agreement" in text
    assert capsys.readouterr().out == ""
