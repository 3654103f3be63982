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
from sklearn.metrics import average_precision_score, roc_auc_score
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
    y, p = rng.integers(0, 2, 40), rng.random(40)
    r = c.ranking_scores(y, p)
    assert r["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert r["auprc"] == pytest.approx(average_precision_score(y, p))
    assert c.ranking_scores([1, 1], [0.2, 0.3]) == {"auroc": None, "auprc": None}
    with pytest.raises(ValueError, match="NaN"):
        c.ranking_scores([0, 1], [0.5, np.nan])


def test_summarise_seeds():
    """Mean and SD (ddof 1) over seeds per task and metric; AUROC wins per seed and on the
    means; an undefined AUROC stays undefined."""

    def run(auroc_rnn, auroc_lr):
        tasks = []
        for name, a, b in zip(("x", "y"), auroc_rnn, auroc_lr, strict=True):
            row = {"task": name, "train": 10, "test": 4, "train_positive_share": 0.5}
            for metric in c.METRICS:
                row[f"{metric}_rnn"], row[f"{metric}_kmer_lr"] = a, b
            tasks.append(row)
        wins = sum(a is not None and a > b for a, b in zip(auroc_rnn, auroc_lr, strict=True))
        return {"tasks": tasks, "rnn_win_share": wins / 2}

    s = c.summarise_seeds([run([0.9, 0.6], [0.8, 0.7]), run([0.7, None], [0.8, 0.5])])
    x, y = s["tasks"]
    assert x["auroc_rnn"] == pytest.approx(0.8) and x["auroc_rnn_sd"] == pytest.approx(0.1414, 1e-3)
    assert y["auroc_rnn"] is None and y["auroc_kmer_lr"] == pytest.approx(0.6)
    assert (s["wins_on_means"], s["eligible_tasks"], s["win_share_per_seed"]) == (0, 1, [0.5, 0.0])


def test_background_windows(tmp_path):
    """Length-matched windows, none crossing an N run or a record end, seeded; the reader
    keeps N as -1 and refuses a file without a header."""
    fa = tmp_path / "bg.fa"
    fa.write_text(">a\n" + "ACGT" * 10 + "N" * 30 + "\n>b\n" + "GGCCAT" * 4 + "\n")
    genome = c.read_background(fa)
    assert [len(r) for r in genome] == [70, 24] and (genome[0][40:] == -1).all()
    w = c.background_windows(genome, [10, 10, 5, 24], np.random.default_rng(0))
    assert [len(x) for x in w] == [10, 10, 5, 24] and all((x >= 0).all() for x in w)
    text = "ACGT" * 10 + "|" + "GGCCAT" * 4
    assert all(c.dna.decode(x) in text for x in w)
    again = c.background_windows(genome, [10, 10, 5, 24], np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(w, again, strict=True))
    with pytest.raises(ValueError, match="no record is 71 bases"):
        c.background_windows(genome, [71], np.random.default_rng(0))
    (tmp_path / "raw.fa").write_text("ACGT\n")
    with pytest.raises(ValueError, match="line 1: bases before the first '>'"):
        c.read_background(tmp_path / "raw.fa")


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


def _ragged_batch() -> tuple[np.ndarray, np.ndarray]:
    """Rows 0 and 1: the same 7 bases with different padding; row 2: those bases + 3 more."""
    s = _codes("ACGTTGA")
    x = np.zeros((3, 10), np.int32)
    x[0, :7], x[1, :7], x[1, 7:] = s, s, 3
    x[2] = np.r_[s, 0, 0, 0]
    return x, np.array([7, 7, 10], np.int32)


def _check_ragged(logits) -> None:
    """The logits of a sequence depend on its first ``length`` bases only, and reversing
    within the length is not reversing the padded row."""
    logits = np.asarray(logits)
    np.testing.assert_allclose(logits[0], logits[1], rtol=1e-5, atol=1e-6)
    assert np.abs(logits[0] - logits[2]).max() > 1e-4


def test_bigru_handles_ragged_lengths():
    model = c.BiGRUClassifier(
        2, hidden_size=4, num_layers=2, embedding_dim=2, trunk_size=3, dropout=0.0, rngs=nnx.Rngs(0)
    )
    x, n = _ragged_batch()
    logits = nnx.jit(lambda m, x, n: m(x, n))(model, jnp.asarray(x), jnp.asarray(n))
    assert logits.shape == (3, 2)
    _check_ragged(logits)
    with pytest.raises(ValueError, match="not one of"):
        c.build_network("cnn", 2, {})


def test_chromatin_quick_experiment(tmp_path, capsys):
    """The --quick run with genomic background negatives: AUROC/AUPRC/F1 per task and model,
    a saved model; then ``predict`` on a FASTA file agrees with the loaded model and refuses
    bad input."""
    out = tmp_path / "chr"
    bg = tmp_path / "bg.fa"
    rng = np.random.default_rng(0)
    bg.write_text(">g\n" + "".join("ACGT"[i] for i in rng.integers(0, 4, 600)) + "N" * 50 + "\n")
    args = ["experiment", "chromatin", "--quick", "--no-lsgm", "--seeds", "1", "--quiet"]
    args += ["--data", str(DATA / "chromatin_deepsea"), "--data", str(DATA / "chromatin_deepbind")]
    assert main([*args, "--background", str(bg), "-o", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    s = r["summary"]
    assert [t["task"] for t in s["tasks"]] == ["DeepSEA", "ELK1_GM12878", "MYC_H1-hESC"]
    for t in s["tasks"]:
        for key in ("auroc_rnn", "auroc_kmer_lr", "auprc_rnn", "auprc_kmer_lr", "f1_rnn"):
            assert 0.0 <= t[key] <= 1.0 and t[key + "_sd"] >= 0.0
    wins = [sum(t["auroc_rnn"] > t["auroc_kmer_lr"] for t in run["tasks"]) for run in r["runs"]]
    assert [run["rnn_wins"] for run in r["runs"]] == wins and s["eligible_tasks"] == 3
    assert "AUROC k-mer LR" in (out / "results.md").read_text()
    assert r["models"] == ["model_seed0.ckpt"]

    fa = tmp_path / "x.fa"
    fa.write_text(">s1\nACGTACGTTTGACA\n>s2\nggcatgcatgcatcgatcga\n")
    tsv = tmp_path / "p.tsv"
    model = out / "model_seed0.ckpt"
    assert (
        main(["experiment", "chromatin", "predict", str(model), str(fa), "-o", str(tsv), "-q"]) == 0
    )
    lines = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert lines[0][:4] == ["name", "length", "DeepSEA_rnn", "DeepSEA_kmer_lr"]
    assert [row[:2] for row in lines[1:]] == [["s1", "14"], ["s2", "20"]]
    loaded = c.ChromatinModel.load(model)
    assert loaded.kind == "danq" and loaded.tasks == [t["task"] for t in s["tasks"]]
    scores = loaded.predict([_codes("ACGTACGTTTGACA")])
    assert float(lines[1][6]) == pytest.approx(scores["MYC_H1-hESC_rnn"][0], rel=1e-5)
    x, n = _ragged_batch()  # the DanQ network ignores padding (the training width: no compile)
    wide = np.zeros((3, loaded.info["width"]), np.int32)
    wide[:, :10] = x
    _check_ragged(c.predict_logits(loaded.network, wide, n))
    fa.write_text(">s1\nACGTNA\n")
    assert main(["experiment", "chromatin", "predict", str(model), str(fa), "-o", str(tsv)]) == 1
    assert "position 5: ambiguous base 'N'" in capsys.readouterr().err
    with pytest.raises(
        ValueError, match="not a chromatin classifier|not a readable lsgm checkpoint"
    ):
        c.ChromatinModel.load(out / "results.json")


def test_kmer_names_order():
    assert kmer_names(2)[:6] == ["A", "C", "G", "T", "AA", "AC"]
    assert kmer_names(3)[-1] == "TTT" and len(list(product("ACGT", repeat=3))) == 64
