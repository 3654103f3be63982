"""``lsgm chromatin learn/segment`` (issue 21): ChromHMM's files, its information
initialisation, the CLI's outputs, and ChromHMM itself (where installed) reading our model
and agreeing with our numbers."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pytest

from lsgm.apps import chromatin_states as cs
from lsgm.apps.chromatin_states import enrichment
from lsgm.cli.main import main
from lsgm.data import (
    ChromHMMModel,
    read_binarized,
    read_binarized_folder,
    read_chromhmm_model,
    write_binarized,
    write_chromhmm_model,
)

MARKS = ["M1", "M2", "M3"]


def _sample(rng, T):
    """A sticky 3-state chain over 3 marks: ``x [T, 3]`` in {0, 1}."""
    p = np.array([[0.02, 0.05, 0.01], [0.7, 0.1, 0.4], [0.1, 0.8, 0.05]])
    z = np.zeros(T, int)
    for t in range(1, T):
        z[t] = z[t - 1] if rng.random() < 0.95 else rng.integers(3)
    return (rng.random((T, 3)) < p[z]).astype(np.int8)


@pytest.fixture
def folder(tmp_path):
    """Two cells; cB lacks chr2, has missing values, and writes its marks in another order
    (gzip); cA's chr2 lacks mark M3 altogether (missing there)."""
    rng = np.random.default_rng(3)
    d = tmp_path / "in"
    d.mkdir()
    write_binarized(d / "cA_chr1_binary.txt", "cA", "chr1", MARKS, _sample(rng, 300))
    x = _sample(rng, 200)
    write_binarized(d / "cA_chr2_binary.txt", "cA", "chr2", MARKS[:2], x[:, :2])
    x = _sample(rng, 250)
    x[10:20, 1] = 2
    order = [2, 0, 1]
    text = "cB\tchr1\n" + "\t".join(MARKS[i] for i in order) + "\n"
    text += "".join("\t".join(map(str, row)) + "\n" for row in x[:, order].tolist())
    (d / "cB_chr1_binary.txt.gz").write_bytes(gzip.compress(text.encode()))
    (d / ".hidden_binary.txt").write_text("not read")
    (d / "notes.txt").write_text("not read either")
    return d, x


def test_binarized_files_and_model_files(folder, tmp_path):
    d, cb = folder
    data = read_binarized_folder(d)
    assert [(b.cell, b.chrom) for b in data] == [("cA", "chr1"), ("cA", "chr2"), ("cB", "chr1")]
    assert all(b.marks == MARKS for b in data)
    np.testing.assert_array_equal(data[2].x, cb)  # columns matched by name
    assert (data[1].x[:, 2] == 2).all() and data[1].missing() == 200  # absent mark: missing
    assert data[2].missing() == 10
    # malformed inputs: the file, the line, the mark and the value
    bad = tmp_path / "bad_chr1_binary.txt"
    bad.write_text("c\tchr1\nM1\tM2\n0\t1\n1\t3\n")
    with pytest.raises(ValueError, match=r"bad_chr1_binary\.txt, line 4, mark 'M2': value '3'"):
        read_binarized(bad)
    bad.write_text("c\tchr1\nM1\tM2\n0\t1\n0\n")
    with pytest.raises(ValueError, match=r"line 4: 1 tab-separated values, expected 2"):
        read_binarized(bad)
    bad.write_text("c chr1\nM1\tM2\n0\t1\n")
    with pytest.raises(ValueError, match=r"line 1: expected 'cell<TAB>chromosome'"):
        read_binarized(bad)
    bad.write_text("c\tchr1\nM1\tM1\n0\t1\n")
    with pytest.raises(ValueError, match=r"line 2: mark name\(s\) \['M1'\] appear more"):
        read_binarized(bad)
    shutil.copy(d / "cA_chr1_binary.txt", d / "cA_chr1_copy_binary.txt")
    with pytest.raises(ValueError, match="also in .*keep one file per cell and chromosome"):
        read_binarized_folder(d)
    (d / "cA_chr1_copy_binary.txt").unlink()
    with pytest.raises(ValueError, match=r"mark\(s\) \['M3'\] are not among the model's"):
        read_binarized_folder(d, marks=["M1", "M2"])

    # model files: exact round trip; marks reordered by name; errors name the line
    rng = np.random.default_rng(0)
    a = rng.random((4, 4))
    m = ChromHMMModel(
        np.full(4, 0.25), a / a.sum(1, keepdims=True), rng.random((4, 3)), MARKS, -12.5, 7
    )
    write_chromhmm_model(tmp_path / "model_4.txt", m)
    back = read_chromhmm_model(tmp_path / "model_4.txt")
    for field in ("initial", "transition", "emission"):
        np.testing.assert_array_equal(getattr(back, field), getattr(m, field))
    assert (back.marks, back.log_likelihood, back.iterations) == (MARKS, -12.5, 7)
    np.testing.assert_array_equal(
        back.with_marks(["M3", "M1", "M2"]).emission[:, 0], m.emission[:, 2]
    )
    lines = (tmp_path / "model_4.txt").read_text().splitlines()
    lines[3] = "probinit\t9\t0.25"
    (tmp_path / "model_4.txt").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"model_4\.txt, line 4: index 9 outside 1\.\.4"):
        read_chromhmm_model(tmp_path / "model_4.txt")


def test_information_init_by_hand():
    # Pairs of consecutive bins (AND of the marks): [1,1], [1,1], [1,0], [0,0], [0,0], [0,0]
    x = np.array([[1, 1], [1, 1], [1, 1], [1, 0], [0, 0], [0, 1], [1, 0]])
    m = cs.information_init([x], 2, ["a", "b"], smooth=0.0)
    # The best split of the 6 pairs: mark a (3 of 6) beats mark b (2 of 6).
    np.testing.assert_allclose(m.emission, [[0.0, 0.0], [1.0, 2 / 3]])
    np.testing.assert_allclose(m.initial, [0.0, 1.0])  # the first pair has mark a
    np.testing.assert_allclose(m.transition, [[1.0, 0.0], [1 / 3, 2 / 3]])
    m = cs.information_init([x], 2, ["a", "b"], smooth=0.02)
    np.testing.assert_allclose(m.emission[0], [0.01, 0.01])
    np.testing.assert_allclose(m.transition.sum(1), 1.0)
    with pytest.raises(ValueError, match="supports only 3 states, not 4"):
        cs.information_init([x], 4, ["a", "b"])


def test_restart_spread_matches_states(tmp_path):
    from lsgm.apps.chromatin_states.workflow import write_restarts

    rng = np.random.default_rng(1)
    a = rng.random((3, 3))
    m = ChromHMMModel(np.ones(3) / 3, a / a.sum(1, keepdims=True), rng.random((3, 2)), ["a", "b"])
    p = [2, 0, 1]  # the same fit with its states permuted: no spread after matching
    same = ChromHMMModel(m.initial[p], m.transition[np.ix_(p, p)], m.emission[p], m.marks)
    moved = ChromHMMModel(m.initial, m.transition, m.emission + [[0.1, 0], [0, 0], [0, 0]], m.marks)
    runs = [("information", cs.Training(x)) for x in (m, same)]
    assert write_restarts(tmp_path, m, runs)["max_emission_sd"] < 1e-15
    spread = write_restarts(tmp_path, m, [*runs, ("random", cs.Training(moved))])
    assert spread["max_emission_sd"] == pytest.approx(np.std([0, 0, 0.1], ddof=1))
    assert spread["max_transition_sd"] < 1e-15
    table = (tmp_path / "emission_spread_3.txt").read_text().splitlines()
    assert table[0] == "State (SD over fits)\ta\tb" and len(table) == 4
    assert (tmp_path / "restarts_3.txt").read_text().count("\n") == 4


def test_state_range_and_holdout(folder):
    assert cs.parse_states("5:8") == [5, 6, 7, 8] and cs.parse_states("2:10:4") == [2, 6, 10]
    for bad in ("5", "8:5", "0:3", "a:b"):
        with pytest.raises(ValueError, match="--states must be FIRST:LAST"):
            cs.parse_states(bad)
    data = read_binarized_folder(folder[0])
    train, held, name = cs.holdout_split(data, None)  # the last chromosome
    assert name == "chr2" and [(d.cell, d.chrom) for d in held] == [("cA", "chr2")]
    train, held, name = cs.holdout_split(data, "cB")  # or a cell
    assert [d.cell for d in train] == ["cA", "cA"] and len(held) == 1
    with pytest.raises(ValueError, match="--holdout 'chrX' must name a chromosome or cell"):
        cs.holdout_split(data, "chrX")


def _segments(path):
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_learn_and_segment_cli(folder, tmp_path, capsys):
    d, _ = folder
    out = tmp_path / "out"
    # refused before any work: the output folder is the input folder
    assert main(["chromatin", "learn", "-noimage", str(d), str(d), "3"]) == 1
    assert "input" in capsys.readouterr().err and not (d / "model_3.txt").exists()
    # ChromHMM's annotation folders, ASSEMBLY/ inside: one BED, one anchor file
    for sub, name, text in (
        ("coords", "genes.bed", "chr1\t1000\t9000\nchr2\t0\t400\n"),
        ("anchors", "TSS.hg18.txt", "chr1\t4000\t+\nchr2\t20000\t-\n"),
    ):
        (tmp_path / sub / "hg18").mkdir(parents=True)
        (tmp_path / sub / "hg18" / name).write_text(text)
    argv = ["chromatin", "learn", "-p", "1", "-noautoopen", "-noimage"]
    argv += ["-u", str(tmp_path / "coords"), "-v", str(tmp_path / "anchors")]
    argv += ["-printposterior", "-printstatebyline", "-r", "30", str(d), str(out), "3", "hg18"]
    assert main(argv) == 0
    # LearnModel's enrichments, one table each per cell, linked from the page
    page = (out / "webpage_3.html").read_text()
    for cell in ("cA", "cB"):
        for name in (f"{cell}_3_overlap.txt", f"{cell}_3_TSS_neighborhood.txt"):
            assert (out / name).is_file() and name in page, name
    overlap = (out / "cA_3_overlap.txt").read_text()
    assert overlap.splitlines()[0].split("\t")[-1] == "genes.bed"
    # made in memory before the segmentation was renamed into place: equal to reading it
    seg = enrichment.read_segmentation(out / "cA_3_segments.bed")
    assert overlap == enrichment.overlap_table(seg, tmp_path / "coords" / "hg18").format()
    err = capsys.readouterr().err
    assert "Estimated Log Likelihood" in err and "\n         2 " in err
    model = read_chromhmm_model(out / "model_3.txt")
    assert model.marks == MARKS and 1 < model.iterations <= 30
    for name in ("emissions_3.txt", "transitions_3.txt", "webpage_3.html", "cB_3_dense.bed"):
        assert (out / name).is_file(), name
    assert "cA_3_expanded.bed" in (out / "webpage_3.html").read_text()
    # segments tile each chromosome with 200-bp bins; dense scores are confidences
    seg = _segments(out / "cA_3_segments.bed")
    chr2 = [s for s in seg if s[0] == "chr2"]
    assert chr2[0][1] == "0" and chr2[-1][2] == str(200 * 200)
    assert all(a[2] == b[1] for a, b in zip(chr2, chr2[1:], strict=False))
    dense = _segments(out / "cA_3_dense.bed")[1:]
    assert len(dense) == len(seg) and all(333 <= int(r[4]) <= 1000 for r in dense)
    track = _segments(out / "cA_3_confidence.bedgraph")[1:]
    scores = np.array([float(r[3]) for r in track]) * 1000
    np.testing.assert_allclose(scores, [int(r[4]) for r in dense], atol=0.6)
    post = np.loadtxt(out / "POSTERIOR" / "cB_3_chr1_posterior.txt", skiprows=2)
    lines = (out / "STATEBYLINE" / "cB_3_chr1_statebyline.txt").read_text().split()[4:]
    assert post.shape == (250, 3) and np.allclose(post.sum(1), 1, atol=3e-4)
    np.testing.assert_array_equal(np.argmax(post, 1) + 1, np.array(lines, int))

    # segment with the learned model: the same calls, the reported log-likelihood
    again = tmp_path / "again"
    argv = ["chromatin", "segment", "--json", "-noimage", str(out / "model_3.txt"), str(d)]
    assert main([*argv, str(again)]) == 0
    result = capsys.readouterr().out
    assert (again / "cA_3_segments.bed").read_text() == (out / "cA_3_segments.bed").read_text()
    assert '"log_likelihood"' in result

    java = shutil.which("ChromHMM")
    if java is None:
        pytest.skip("ChromHMM is not installed: the comparison with it is skipped")
    # ChromHMM reads our model file and makes the same calls, missing values included
    # (ChromHMM needs every file with the model's marks in the model's order)
    same = tmp_path / "for_chromhmm"
    same.mkdir()
    for b in read_binarized_folder(d)[::2]:
        write_binarized(same / b.path.name.replace(".gz", ""), b.cell, b.chrom, b.marks, b.x)
    theirs = tmp_path / "theirs"
    run = [java, "MakeSegmentation", str(out / "model_3.txt"), str(same), str(theirs)]
    subprocess.run(run, check=True, capture_output=True, timeout=120)
    for cell in ("cA", "cB"):
        ours = [s for s in _segments(out / f"{cell}_3_segments.bed") if s[0] == "chr1"]
        assert _segments(theirs / f"{cell}_3_segments.bed") == ours
