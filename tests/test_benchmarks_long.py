"""The long-sequence EM benchmarks run end to end in --quick mode, and their numbers check out.

``benchmarks/chromhmm_em.py`` (ChromHMM vs lsgm on ChromHMM's binarized format) and
``benchmarks/genome_em.py`` (a genome as a few long records, lsgm vs hmmlearn) are run
in-process through ``main(argv)``; their lsgm and peer work runs in worker processes. The
fitted parameters they report are rescored here, independently of the workers.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import lsgm
from lsgm.distributions import Bernoulli, Categorical

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

# the benchmark modules pin XLA and BLAS to one thread at import (benchmarks/common.py); the
# pytest workers that import them keep their own settings
_ENVIRON = dict(os.environ)
import chromhmm_em  # noqa: E402
import genome_em  # noqa: E402
import long_sequences  # noqa: E402

os.environ.clear()
os.environ.update(_ENVIRON)


def test_chromhmm_em_quick(tmp_path, capsys):
    work, out = tmp_path / "work", tmp_path / "result.json"
    assert chromhmm_em.main(["--quick", "--workdir", str(work), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["missing"] == 0 and result["sequences"] == 2 and result["bins"] == 5_000
    ours = [row for row in result["rows"] if row["tool"] == "lsgm"]
    assert len(ours) == 1 and ours[0]["precision"] == "float64" and ours[0]["iterations"] == 3
    row = ours[0]
    lls = np.array(row["log_likelihoods"])
    assert np.all(np.isfinite(lls)) and np.all(np.diff(lls) > 0)  # EM climbs
    assert row["median_iteration_s"] > 0 and np.isfinite(row["score"])

    # The reported fit, rebuilt and rescored here, gives the reported score.
    data = chromhmm_em.read_folder(work / "quick_binarized")
    xs = [d.x for d in data]
    fitted = row["fitted"]
    emission = Bernoulli.from_probs(np.asarray(fitted["emission"], np.float32))
    model = lsgm.HMM.from_probs(fitted["initial"], fitted["transition"], emission)
    assert model.score(xs) == pytest.approx(row["score"], rel=1e-5)
    # ... and is a better fit than the shared starting model.
    start = chromhmm_em.parse_model_file(work / "init_model.txt", data[0].marks)
    assert chromhmm_em.lsgm_hmm(start, np.float32).score(xs) < row["score"]

    if chromhmm_em.chromhmm_available(chromhmm_em.CHROMHMM_JAR, need_sample=False):
        theirs = result["rows"][0]
        assert theirs["tool"] == "ChromHMM" and theirs["threads"] == 1
        assert theirs["iterations"] == 3
        # Same start, same EM: ChromHMM's printed log-likelihoods (3 decimals) are lsgm's.
        np.testing.assert_allclose(theirs["log_likelihoods"], lls, atol=1.5e-3, rtol=0)
        # lsgm's score of ChromHMM's model file equals the score of lsgm's own fit.
        fitted_theirs = chromhmm_em.parse_model_file(theirs["model_file"], data[0].marks)
        assert fitted_theirs.iterations == 3
        assert theirs["score"] == pytest.approx(row["score"], rel=1e-6)
        assert chromhmm_em.lsgm_hmm(fitted_theirs, np.float32).score(xs) == pytest.approx(
            theirs["score"], rel=1e-5
        )
        assert "| ChromHMM |" in text
    else:
        assert "ChromHMM skipped" in text


def test_chromhmm_em_input_errors(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = folder / "cell_chr1_binary.txt"
    bad.write_text("cell\tchr1\nM1\tM2\n0\t1\n1\t3\n")
    with pytest.raises(ValueError, match=r"cell_chr1_binary\.txt, line 4, mark 'M2': value '3'"):
        chromhmm_em.read_folder(folder)
    bad.write_text("cell\tchr1\nM1\tM2\n0\t1\n1\t0\t1\n")
    with pytest.raises(ValueError, match=r"line 4: 3 tab-separated values, expected 2"):
        chromhmm_em.read_folder(folder)
    bad.write_text("cell\tchr1\nM1\tM2\n0\t1\n2\t0\n")
    with pytest.raises(ValueError, match=r"line 4, mark 'M1': value 2 \(missing"):
        chromhmm_em.check_no_missing(chromhmm_em.read_folder(folder))
    with pytest.raises(SystemExit, match=r"value 2 \(missing"):
        chromhmm_em.main(["--input-dir", str(folder), "--no-chromhmm", "--workdir", str(tmp_path)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files with '_binary'"):
        chromhmm_em.read_folder(tmp_path / "empty")

    model = tmp_path / "model.txt"
    model.write_text("2\t1\tE\t-5.5\t3\nprobinit\t1\t0.5\nprobinit\t2\t0.5\nbogus\t1\n")
    with pytest.raises(ValueError, match=r"model\.txt, line 4: expected a probinit"):
        chromhmm_em.parse_model_file(model)
    model.write_text("2\t1\tE\t-5.5\t3\nprobinit\t1\t0.5\nprobinit\t3\t0.5\n")
    with pytest.raises(ValueError, match=r"line 3: index 3 outside 1\.\.2"):
        chromhmm_em.parse_model_file(model)


def test_genome_em_quick(tmp_path, capsys):
    work, out = tmp_path / "work", tmp_path / "result.json"
    assert genome_em.main(["--quick", "--workdir", str(work), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["records"] == 3 and result["bases"] == 20_000
    rows = result["rows"]
    assert {(r["library"], r["precision"]) for r in rows} == {
        ("hmmlearn", "float64"),
        ("lsgm", "float32"),
    }
    assert {r["method"] for r in rows if r["library"] == "hmmlearn"} == {"scaling", "log"}
    _, xs, _ = genome_em.load_genome(str(work / "synthetic_genome.fa.gz"), "error")
    for r in rows:
        assert r["iterations"] == result["n_iter"] == 3
        assert np.all(np.isfinite(r["log_likelihoods"])) and r["median_iteration_s"] > 0
        # Same start, same number of iterations: every log-likelihood agrees with hmmlearn's
        # (its log implementation with its scaling one, lsgm's with both).
        tol = 1e-7 if r["library"] == "hmmlearn" else genome_em.tolerance(r)
        assert r["rel_max"] <= tol and r["rel_score"] <= tol
        if r["library"] == "lsgm":
            p = r["fitted"]
            emission = Categorical.from_probs(np.asarray(p["emissionprob"], np.float32))
            model = lsgm.HMM.from_probs(p["startprob"], p["transmat"], emission)
            assert model.score(xs) == pytest.approx(r["score_after"], rel=1e-5)
    assert "**agree**" in text


def test_genome_em_bad_input(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">r1\nACGTNNACGT\n>r2\nGGCC\n")
    with pytest.raises(SystemExit, match=r"r1.*position 5.*--ambiguous split"):
        genome_em.load_genome(str(fasta), "error")
    names, xs, dropped = genome_em.load_genome(str(fasta), "split")
    assert names == ["r1:1-4", "r1:7-10", "r2"] and dropped == 2
    assert [x.tolist() for x in xs] == [[0, 1, 2, 3], [0, 1, 2, 3], [2, 2, 1, 1]]
    with pytest.raises(SystemExit, match="no such file"):
        genome_em.load_genome(str(tmp_path / "missing.fa"), "error")


@pytest.mark.slow
def test_long_sequences_quick(tmp_path):
    """The scaling/accuracy benchmark of the time-parallel E-step runs end to end, writes its
    table atomically, and its accuracy lines hold their targets."""

    out = tmp_path / "long.md"
    text = long_sequences.main(["--quick", "--output", str(out)])
    assert out.read_text() == text
    rows = [line for line in text.splitlines() if line.startswith("| T =")]
    assert len(rows) == 2 and all(line.endswith("| no |") for line in rows)
    assert sum(line.startswith("| rows | 128 × 16, K = 3 |") for line in text.splitlines()) == 1
    assert (
        sum(line.startswith("| 128 × 8, K = 3, categorical |") for line in text.splitlines()) == 1
    )
    rel = float(text.split("relative difference ")[1].split(" ")[0])
    exact = float(text.split("marginals and transition counts ")[1].split(" ")[0])
    assert rel <= 1e-5 and exact <= 1e-10
