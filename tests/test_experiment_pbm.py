"""``lsgm experiment pbm --quick`` end to end on the bundled 400-probe samples of the two
proteinA arrays (array 1 → train/validate, array 2 → test, equal budgets), cross-validation
on one array over two seeds (mean ± SD), and its input errors."""

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
    args = ["experiment", "pbm", "--quick", "--train", V1, "--test", V2]
    code = main([*args, "-o", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"hmm", "lsgm", "deepbind", "deeperbind", "kmer"}
    assert result["train_probes"] == 400 and result["test_probes"] == 400
    assert result["seeds"] == [0]  # --quick: one seed unless --seeds says more
    cap = result["settings"]["max_epochs"]
    for r in rows.values():
        assert r["parameters"] > 0 and math.isfinite(r["test_spearman"])
        assert -1 <= r["test_spearman"] <= 1
        assert r["test_spearman"] == r["per_seed"][0]["test_spearman"]
        assert r["test_spearman_sd"] is None
        # the same search for every model: one configuration per learning rate (quick: one)
        assert all(len(p["tried"]) == 1 for p in r["per_seed"])
        # the same cap: the LSGM's own epochs plus its HMM's never exceed it
        assert all(p["pretrain_epochs"] + p["epochs"] <= cap for p in r["per_seed"])
    # the LSGM's HMM pre-training (at most 2 quick epochs) counts in its budget, and it trains
    assert all(1 <= p["pretrain_epochs"] <= 2 for p in rows["lsgm"]["per_seed"])
    assert all(p["epochs"] >= 1 for p in rows["lsgm"]["per_seed"])
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
            "--seeds",
            "2",
            "-o",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"hmm", "kmer"}
    for r in rows.values():
        assert [len(p["folds"]) for p in r["per_seed"]] == [2, 2]
        # mean ± SD (ddof 1) over the two seeds of each seed's cross-validated ρ
        rhos = [p["test_spearman"] for p in r["per_seed"]]
        assert r["test_spearman"] == pytest.approx(sum(rhos) / 2)
        assert r["test_spearman_sd"] == pytest.approx(abs(rhos[0] - rhos[1]) / math.sqrt(2))


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
    assert main([*base, "--test", V2, "--seeds", "0"]) == 1
    assert "--seeds must be a positive integer" in capsys.readouterr().err


def test_pbm_settings_give_every_model_the_same_number_of_configurations():
    from lsgm.apps.tf_binding import PBMSettings

    with pytest.raises(ValueError, match="2 k-mer ridge penalties for 3 learning rates"):
        PBMSettings(learning_rates=(1e-2, 3e-3, 1e-3))
    with pytest.raises(ValueError, match="lsgm_pretrain_epochs = 30 must be in"):
        PBMSettings(lsgm_pretrain_epochs=30)
    with pytest.raises(ValueError, match="learning_rates must be positive"):
        PBMSettings(learning_rates=(), kmer_alphas=())
