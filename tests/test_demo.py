"""`lsgm demo --quick` (what CI runs) fits both data sets and writes every promised output."""

import json

import pytest

from lsgm.cli.main import main
from lsgm.data.pianoroll import read_midi

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "lsgm-demo"
    assert main(["demo", "--quick", "-o", str(out), "--json"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "results.json").read_text())
    cpg = result["cpg"]["results"]
    assert set(cpg) == {"two_state_hmm", "dinucleotide_hmm", "lsgm"}
    for r in cpg.values():
        assert 0 < r["precision"] <= 1 and 0 < r["recall"] <= 1
        harmonic = 2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"])
        assert abs(r["f1"] - harmonic) < 1e-9
    assert cpg["two_state_hmm"]["f1"] > 0.4
    jsb = result["jsb"]["results"]
    assert -20 < jsb["HMM"]["test_ll_per_frame"] < 0 and -20 < jsb["LSGM"]["test_ll_per_frame"] < 0
    bed = [line.split("\t") for line in (out / "cpg_islands.bed").read_text().splitlines()]
    assert bed and all(ln[0].startswith("chr") and int(ln[1]) < int(ln[2]) for ln in bed)
    assert [(b[0], int(b[1])) for b in bed] == sorted((b[0], int(b[1])) for b in bed)
    assert "the supervised two-state HMM" in result["pictures"]  # says which model is drawn
    roll = read_midi(out / "jsb_sample.mid", step_seconds=0.5)
    assert roll.shape[1] == 88 and 0 < roll.shape[0] <= 64 and roll.sum() > 0
    pictures = list(out.rglob("*.png"))
    assert len(pictures) == 4 + 5 + 1  # cpg (no history), jsb (with training curve), sample
    assert all(p.read_bytes()[:8] == PNG for p in pictures)
    assert "two_state_hmm" in (out / "results.md").read_text()
