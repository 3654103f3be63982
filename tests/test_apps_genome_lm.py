"""Genome language models (lsgm.apps.genome_lm) and ``lsgm experiment genome-lm --quick``."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from lsgm.apps import genome_lm as g
from lsgm.cli.main import main
from lsgm.distributions import Categorical
from lsgm.models import HMM
from lsgm.training import FitDivergedError

DATA = Path(__file__).parent / "data"


def test_read_genome_fasta_gzip_lowercase(tmp_path):
    path = tmp_path / "g.fa.gz"
    with gzip.open(path, "wt") as f:
        f.write(">chr test\nACgt\nTTA\n\nc\n")
    codes = g.read_genome(path)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, [0, 1, 2, 3, 3, 3, 0, 1])


def test_read_genome_raw_text_and_records(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("AGCT" * 3)
    np.testing.assert_array_equal(g.read_genome(raw), [0, 2, 1, 3] * 3)
    two = tmp_path / "two.fa"
    two.write_text(">a\nAAAA\n>b\nCC\nG\n")
    with pytest.raises(ValueError, match="2 records; choose one with record="):
        g.read_genome(two)
    np.testing.assert_array_equal(g.read_genome(two, record=1), [1, 1, 2])
    with pytest.raises(ValueError, match="record=2 is out of range"):
        g.read_genome(two, record=2)


def test_read_genome_errors(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nACGT\nACNT\n")
    with pytest.raises(ValueError, match=r"line 3, column 3: symbol 'N'"):
        g.read_genome(bad)
    with pytest.raises(ValueError, match="no such genome file"):
        g.read_genome(tmp_path / "missing.fa")
    empty = tmp_path / "empty.fa"
    empty.write_text(">x\n")
    with pytest.raises(ValueError, match="no bases"):
        g.read_genome(empty)


def test_bundled_synthetic_genomes():
    repeat = g.load_synthetic_genome("repeat")
    assert len(repeat) == 30_000 and len(g.load_synthetic_genome("random")) == 30_000
    np.testing.assert_array_equal(repeat[:10], [0, 2, 1, 3, 3, 2, 0, 2, 2, 1])  # AGCTTGAGGC
    with pytest.raises(ValueError, match="unknown synthetic genome"):
        g.load_synthetic_genome("lambda")


def test_split_and_eval_windows(tmp_path):
    codes = np.arange(100, dtype=np.int8)
    train, valid, test = g.split_genome(codes, 0.1)
    assert len(train) == 90 and len(valid) == 0 and len(test) == 10
    assert np.shares_memory(train, codes)
    # [train | valid | test]: the validation region is carved from the end of the training part
    train, valid, test = g.split_genome(codes, 0.1, 0.05)
    np.testing.assert_array_equal(valid, np.arange(85, 90))
    np.testing.assert_array_equal(test, np.arange(90, 100))
    assert len(train) == 85 and train[-1] == 84
    assert g.eval_windows(25, 10) == [(0, 10), (10, 20), (20, 25)]
    with pytest.raises(ValueError, match="test_fraction"):
        g.split_genome(codes, 1.5)
    with pytest.raises(ValueError, match=r"valid_fraction must be in \[0, 1 - test_fraction\)"):
        g.split_genome(codes, 0.5, 0.5)
    with pytest.raises(ValueError, match="too short"):
        g.split_genome(codes, 0.1, 0.01)  # one validation base
    fasta = tmp_path / "e.fa.gz"
    with gzip.open(fasta, "wt") as f:
        f.write("\n>NC_000913.3 Escherichia coli\nACGT\n")
    assert g.genome_accession(fasta) == "NC_000913.3"
    (tmp_path / "raw.txt").write_text("ACGT\n")
    assert g.genome_accession(tmp_path / "raw.txt") is None


def test_evaluate_hmm_equals_hand_computation():
    """A 1-state HMM is an i.i.d. model: perplexity = exp(-mean log p(x_t)) over all bases."""
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    hmm = HMM.from_probs([1.0], [[1.0]], Categorical.from_probs(probs[None]))
    codes = np.random.default_rng(0).integers(0, 4, size=25).astype(np.int8)
    r = g.evaluate(hmm, codes, eval_length=10, group=2)  # windows 10, 10, 5 (two groups)
    assert r["bases"] == 25 and r["windows"] == 3
    assert r["perplexity"] == pytest.approx(math.exp(-np.log(probs[codes]).mean()), rel=1e-5)


def test_char_rnn_cells_and_parameter_count():
    E, H = 3, 5
    for cell, gates in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        model = nnx.eval_shape(lambda cell=cell: g.CharRNN(cell, H, 2, E, rngs=nnx.Rngs(0)))
        expected = 4 * E + gates * H * (E + 1) + gates * H * (H + 1) * 3 + 4 * (H + 1)
        assert model.n_parameters() == expected
    with pytest.raises(ValueError, match="cell='tcn'"):
        g.CharRNN("tcn", rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_genome_lm_quick_experiment(tmp_path, capsys):
    out = tmp_path / "glm"
    # Phage lambda's first 12 kb under E. coli's accession, so that the quick run also
    # writes the paper's columns (3.679, like for like, target) and Moruga's bits per base.
    fasta = tmp_path / "as_ecoli.fa"
    lam = (DATA / "genome_lambda_12kb.fa").read_text().split("\n", 1)[1]
    fasta.write_text(">NC_000913.3 lambda bases under E. coli's accession (test)\n" + lam)
    argv = ["experiment", "genome-lm", "--quick", "--genome", str(fasta), "-o", str(out)]
    assert main([*argv, "--quiet"]) == 0
    result = json.loads((out / "results.json").read_text())
    # The paper's sanity checks (§4.2): within ±0.01 of 4.003 and 1.002.
    for name, paper in (("random", 4.003), ("repeat", 1.002)):
        assert abs(result["synthetic"][name]["perplexity"] - paper) <= 0.01, name
    r = result["genomes"][str(fasta)]
    assert r["bases"] == {"total": 12_000, "train": 9_600, "valid": 1_200, "test": 1_200}
    assert r["accession"] == "NC_000913.3" and r["paper"]["perplexity"] == 3.679
    models = r["models"]
    assert set(m["kind"] for m in models.values()) == {"rnn", "lsgm"}  # quick: no HMM
    for m in models.values():  # real DNA is more predictable than uniform
        assert m["seeds"] == [0, 1] and len(m["runs"]) == 2
        assert 3.0 < m["perplexity"] < 4.1 and m["n_parameters"] > 0
        assert m["perplexity"] == pytest.approx(np.mean([x["perplexity"] for x in m["runs"]]))
        assert m["perplexity_sd"] == pytest.approx(
            np.std([x["perplexity"] for x in m["runs"]], ddof=1)
        )
        for run in m["runs"]:  # the best validation epoch is kept (at most 2, patience 1)
            assert run["bits_per_base"] == pytest.approx(math.log2(run["perplexity"]))
            assert 1 <= run["epochs_run"] <= 2 and len(run["valid_perplexity"]) == run["epochs_run"]
            assert run["best_epoch"] == int(np.argmin(run["valid_perplexity"])) + 1
    report = (out / "results.md").read_text()
    assert "| LSGM K=3 GRU 8" in report and "Moruga" in report and "1.909" in report
    assert (
        "| 3.679 | no: NC_000913.3; <= 2 epochs, patience 1; our split; --quick sizes |" in report
    )
    _check_best_epoch_kept(g.read_genome(fasta))


def _check_best_epoch_kept(codes: np.ndarray) -> None:
    """After early stopping the model holds the best epoch's parameters (its validation
    perplexity is the minimum of the per-epoch ones); a NaN loss is an error, not a number.
    The quick run's LSGM and shapes, so its compiled programs serve (no new compile)."""
    train, valid, _ = g.split_genome(codes, 0.1, 0.1)
    fit = dict(window=50, batch_size=16, epochs=3, valid=valid, eval_length=1200)
    lsgm = g.make_lsgm(3, hidden_size=8, seed=5)
    history = g.fit_windows(lsgm, train, learning_rate=0.05, patience=1, **fit)
    ppl = history["valid_perplexity"]
    assert len(ppl) == history["epochs_run"] and history["epochs_run"] <= 3
    assert history["best_epoch"] == int(np.argmin(ppl)) + 1
    assert g.evaluate(lsgm, valid, eval_length=1200)["perplexity"] == pytest.approx(min(ppl))
    assert history["stopped_early"] == (history["epochs_run"] < 3)
    with pytest.raises(FitDivergedError, match="diverged in epoch 1: training NLL nan"):
        g.fit_windows(lsgm, train, learning_rate=float("nan"), **fit)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        g.fit_windows(lsgm, train, patience=0, **fit)


def test_genome_lm_cli_errors(tmp_path, capsys):
    run = ["experiment", "genome-lm", "-o", str(tmp_path / "out")]
    assert main([*run, "--cells", "tcn"]) == 1
    assert "--cells" in capsys.readouterr().err
    assert main([*run, "--window-models", "hmm,crf"]) == 1
    assert "--window-models: 'crf'" in capsys.readouterr().err
    assert main([*run, "--seeds", "0"]) == 1
    assert "--seeds must be a positive integer" in capsys.readouterr().err
    genome = ["--genome", str(DATA / "genome_lambda_12kb.fa")]
    assert main([*run, *genome, "--valid-fraction", "0.95"]) == 1
    assert "valid_fraction must be in [0, 1 - test_fraction)" in capsys.readouterr().err
