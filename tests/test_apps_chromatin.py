"""Chromatin classification (lsgm.apps.chromatin, lsgm.apps.kmers) and its quick experiment."""

from __future__ import annotations

import gzip
import json
from itertools import product
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from sklearn.metrics import f1_score as sk_f1

from lsgm.apps import chromatin as c
from lsgm.apps.kmers import kmer_features, kmer_names, n_kmer_features
from lsgm.cli.main import main

DATA = Path(__file__).parent / "data"


def _codes(s: str) -> np.ndarray:
    return np.array(["ACGT".index(ch) for ch in s])


def test_kmer_features_actgg_paper_example():
    """Paper §4.3: ACTGG has A, C, T, AC, CT, TG, GG, ACT, CTG, TGG, ACTG, CTGG, ACTGG once,
    G twice, every other of the 1,364 features 0."""
    f = kmer_features([_codes("ACTGG")])
    assert f.shape == (1, 1364) == (1, n_kmer_features(5))
    names = kmer_names(5)
    ones = "A C T AC CT TG GG ACT CTG TGG ACTG CTGG ACTGG".split()
    expected = np.zeros(1364)
    expected[[names.index(k) for k in ones]] = 1
    expected[names.index("G")] = 2
    np.testing.assert_array_equal(f[0], expected)


def test_kmer_features_brute_force_ragged():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 4, size=n) for n in (0, 1, 3, 7, 12)]
    f = kmer_features(seqs, k_max=3, block=2)
    names = kmer_names(3)
    for row, s in zip(f, seqs, strict=True):
        text = "".join("ACGT"[i] for i in s)
        for j, name in enumerate(names):
            k = len(name)
            assert row[j] == sum(text[i : i + k] == name for i in range(len(text) - k + 1))


def test_f1_equals_scikit_learn():
    rng = np.random.default_rng(0)
    cases = [([0, 0, 0], [0, 0, 0]), ([1, 0, 1], [0, 0, 0]), ([1, 1, 0, 0], [1, 0, 1, 0])]
    cases += [(rng.integers(0, 2, 30), rng.integers(0, 2, 30)) for _ in range(5)]
    for y, p in cases:
        assert c.f1_score(y, p) == pytest.approx(sk_f1(y, p, zero_division=0.0))
    with pytest.raises(ValueError, match="differ in shape"):
        c.f1_score([1, 0], [1])


def test_dinucleotide_shuffle_keeps_counts():
    rng = np.random.default_rng(3)
    seq = _codes("ACGTTGCAACGGTACCATGACGTAGGCTTAACG")

    def counts(s):
        return sorted(zip(s[:-1].tolist(), s[1:].tolist(), strict=True))

    shuffles = [c.dinucleotide_shuffle(seq, rng) for _ in range(20)]
    for s in shuffles:
        assert counts(s) == counts(seq) and s[0] == seq[0] and s[-1] == seq[-1]
    assert len({s.tobytes() for s in shuffles}) > 10


def test_readers_and_errors(tmp_path):
    task = c.load_deepsea_task(DATA / "chromatin_deepsea", crop=100)
    assert len(task.train_x) == 60 and len(task.test_x) == 30 and len(task.valid_x) == 20
    line = (DATA / "chromatin_deepsea" / "deepsea.data.valid.txt").read_text().split()[0]
    np.testing.assert_array_equal(task.train_x[0], _codes(line[50:150]))
    full = c.load_deepsea_task(DATA / "chromatin_deepsea", crop=None)
    assert len(full.train_x[0]) == 200
    (tmp_path / "d.txt").write_text("ACGT\nACXT\n")
    (tmp_path / "l.txt").write_text("0\n1\n")
    with pytest.raises(ValueError, match=r"d.txt, line 2, column 3: symbol 'X'"):
        c.read_deepsea(tmp_path / "d.txt", tmp_path / "l.txt", crop=None)
    (tmp_path / "d.txt").write_text("ACGT\n")
    with pytest.raises(ValueError, match="1 sequences but .* 2 labels"):
        c.read_deepsea(tmp_path / "d.txt", tmp_path / "l.txt", crop=None)
    with pytest.raises(ValueError, match="crop=10 is longer"):
        c.read_deepsea(tmp_path / "d.txt", tmp_path / "l.txt", crop=10)
    bind = tmp_path / "x_AC.seq.gz"
    with gzip.open(bind, "wt") as f:
        f.write("FoldID\tEventID\tseq\tBound\nA\te1\tACGT\t2\n")
    with pytest.raises(ValueError, match="line 2: Bound '2' must be 0 or 1"):
        c.read_deepbind(bind)
    with pytest.raises(ValueError, match="its test file x_B.seq.gz is missing"):
        c.load_tasks([tmp_path])
    with pytest.raises(ValueError, match="no task found"):
        c.load_tasks([DATA / "chromatin_deepsea" / ".." / "chromatin_deepbind" / ".."])


def test_bigru_handles_ragged_lengths():
    """The logits of a sequence depend on its first ``length`` bases only (rows 0 and 1 differ
    in their padding), and reversing within the length is not reversing the padded row."""
    model = c.BiGRUClassifier(
        2, hidden_size=4, num_layers=2, embedding_dim=2, trunk_size=3, dropout=0.0, rngs=nnx.Rngs(0)
    )
    s = _codes("ACGTTGA")
    x = np.zeros((3, 10), np.int32)
    x[0, :7], x[1, :7], x[1, 7:] = s, s, 3
    x[2] = np.r_[s, 0, 0, 0]
    logits = nnx.jit(lambda m, x, n: m(x, n))(model, jnp.asarray(x), jnp.array([7, 7, 10]))
    assert logits.shape == (3, 2)
    np.testing.assert_allclose(logits[0], logits[1], rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(logits[0] - logits[2])).max() > 1e-4


def test_chromatin_quick_experiment(tmp_path):
    out = tmp_path / "chr"
    args = [
        "experiment",
        "chromatin",
        "--quick",
        "--no-lsgm",
        "--data",
        str(DATA / "chromatin_deepsea"),
        "--data",
        str(DATA / "chromatin_deepbind"),
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    r = json.loads((out / "results.json").read_text())
    assert [t["task"] for t in r["tasks"]] == ["DeepSEA", "ELK1_GM12878", "MYC_H1-hESC"]
    for t in r["tasks"]:
        assert 0.0 <= t["f1_rnn"] <= 1.0 and 0.0 <= t["f1_kmer_lr"] <= 1.0
    wins = sum(t["f1_rnn"] > t["f1_kmer_lr"] for t in r["tasks"])
    assert r["rnn_wins"] == wins and r["eligible_tasks"] == 3
    assert "F1 k-mer LR" in (out / "results.md").read_text()


def test_kmer_names_order():
    assert kmer_names(2)[:6] == ["A", "C", "G", "T", "AA", "AC"]
    assert kmer_names(3)[-1] == "TTT" and len(list(product("ACGT", repeat=3))) == 64
