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


def test_split_and_eval_windows():
    codes = np.arange(100, dtype=np.int8) % 4
    train, test = g.split_genome(codes, 0.1)
    assert len(train) == 90 and len(test) == 10 and np.shares_memory(train, codes)
    assert g.eval_windows(25, 10) == [(0, 10), (10, 20), (20, 25)]
    with pytest.raises(ValueError, match="test_fraction"):
        g.split_genome(codes, 1.5)


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
    fasta = DATA / "genome_lambda_12kb.fa"
    assert (
        main(
            [
                "experiment",
                "genome-lm",
                "--quick",
                "--genome",
                str(fasta),
                "-o",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads((out / "results.json").read_text())
    # The paper's sanity checks (§4.2): within ±0.01 of 4.003 and 1.002.
    for name, paper in (("random", 4.003), ("repeat", 1.002)):
        assert abs(result["synthetic"][name]["perplexity"] - paper) <= 0.01, name
    models = result["genomes"][str(fasta)]["models"]
    assert set(m["kind"] for m in models.values()) == {"rnn", "lsgm"}  # quick: no HMM
    for m in models.values():  # real DNA is more predictable than uniform
        assert 3.0 < m["perplexity"] < 4.1 and m["n_parameters"] > 0
    assert "| LSGM K=3 GRU 8" in (out / "results.md").read_text()


def test_genome_lm_cli_errors(tmp_path, capsys):
    assert main(["experiment", "genome-lm", "--cells", "tcn", "-o", str(tmp_path)]) == 1
    assert "--cells" in capsys.readouterr().err
