"""``lsgm chromatin learn/segment`` (issue 21): ChromHMM's files, its information
initialisation, the CLI's outputs (with ChromHMM's naming, ordering and file options, the
posterior track, --devices), and ChromHMM itself (where installed)
reading our model and agreeing with our numbers."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess

import numpy as np
import pytest

from lsgm.apps import chromatin_states as cs
from lsgm.apps.chromatin_states import enrichment
from lsgm.apps.chromatin_states import model as cm
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


def test_orderings_pseudo_counts_and_style():
    # ChromHMM's transition order: states that often follow each other are neighbours
    a = np.array([[0.8, 0.0, 0.2], [0.0, 0.9, 0.1], [0.15, 0.15, 0.7]])
    order = cm.transition_order(a)
    assert order.tolist() in ([0, 2, 1], [1, 2, 0])
    assert cm.transition_order(a[np.ix_(order, order)]).tolist() == [0, 1, 2]
    m = ChromHMMModel(np.ones(3) / 3, a, np.array([[0.1, 0.9], [0.5, 0.5], [0.2, 0.8]]), ["x", "y"])
    assert cm.state_order(m, "fixed").tolist() == [0, 1, 2]
    assert cm.state_order(m, "emission").tolist() == cm.emission_order(m.emission).tolist()
    # -pseudo: +1 on every count (Dirichlet(2), Beta(2, 2)); -nopseudolast: none on the
    # initial states and the last mark
    full, nolast = cm.pseudo_prior(3), cm.pseudo_prior(3, last=False)
    assert (full.initial, full.transition, full.emission.alpha, full.emission.beta) == (2, 2, 2, 2)
    assert nolast.initial == 1.0 and nolast.emission.alpha.tolist() == [2.0, 2.0, 1.0]
    # -i and -color
    style = cs.Style(outfile_id="r1", color=(255, 0, 0), gzip=True)
    assert style.tag(5) == "5_r1" and style.gz("a.bed") == "a.bed.gz" and style.letter == "E"
    np.testing.assert_allclose(style.cmap()(1.0)[:3], (1.0, 0.0, 0.0))


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
    argv = ["chromatin", "learn", "-p", "1", "-noautoopen", "-noimage", "--posterior-track"]
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
    # the posterior track: the called state's posterior bin by bin, equal neighbours merged
    rows = _segments(out / "cB_3_posterior.bedgraph")[1:]
    a, b = (np.array([int(r[i]) for r in rows]) for i in (1, 2))
    assert a[0] == 0 and b[-1] == 250 * 200 and (a[1:] == b[:-1]).all()
    track = np.repeat([float(r[3]) for r in rows], (b - a) // 200)
    np.testing.assert_allclose(track, post.max(1), atol=1e-9)
    # the emission table's marks in ChromHMM's correlation order of the columns
    fitted = read_chromhmm_model(out / "model_3.txt")
    columns = [MARKS[i] for i in cm.emission_order(fitted.emission.T)]
    assert (out / "emissions_3.txt").read_text().split("\n")[0].split("\t")[1:] == columns

    # segment with the learned model (MakeSegmentation's -f, -gzip, -i, -l): the same calls
    again = tmp_path / "again"
    listed = tmp_path / "files.txt"  # every file, in another order
    listed.write_text("cB_chr1_binary.txt.gz\ncA_chr2_binary.txt\n\ncA_chr1_binary.txt\n")
    lengths = tmp_path / "sizes.txt"
    lengths.write_text("chr1\t60000\nchr2\t39950\n")  # chr2: 50 bp short of 200 bins
    argv = ["chromatin", "segment", "--json", "-noimage", "-f", str(listed), "-i", "s1"]
    argv += ["-gzip", "-l", str(lengths), "-lowmem", str(out / "model_3.txt"), str(d)]
    assert main([*argv, str(again)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == 3 and result["webpage"] == "webpage_3_s1.html"
    ours = gzip.decompress((again / "cA_3_s1_segments.bed.gz").read_bytes()).decode()
    first = _segments(out / "cA_3_segments.bed")
    last = max(i for i, r in enumerate(first) if r[0] == "chr2")
    assert first[last][2] == "40000"
    first[last][2] = "39950"  # the last segment ends at the chromosome's length
    assert sorted(r.split("\t") for r in ours.splitlines()) == sorted(first)  # -f's order
    assert (again / "model_3_s1.txt").is_file()
    listed.write_text("cA_chr1_binary.txt\nnope_binary.txt\n")
    assert main([*argv, str(tmp_path / "never")]) == 1
    assert "files.txt, line 2: 'nope_binary.txt' is not a file" in capsys.readouterr().err

    # a ChromHMM LearnModel line with its other options: transition order, marks in the data's
    # order, -x 0 (one iteration), -n 1 (one file for the initialisation), no track headers
    ordered = tmp_path / "ordered"
    argv = [
        "chromatin",
        "learn",
        "-b",
        "200",
        "-color",
        "255,0,0",
        "-d",
        "0.001",
        "-holdcolumnorder",
    ]
    argv += ["-i", "run1", "-n", "1", "-stateordering", "transition", "-x", "0", "-noenrich"]
    argv += ["-nobrowserheader", "-noimage", "-noautoopen", str(d), str(ordered), "3", "hg18"]
    assert main(argv) == 0
    m = read_chromhmm_model(ordered / "model_3_run1.txt")
    assert m.order == "T" and m.iterations == 1 and m.marks == MARKS
    assert cm.transition_order(m.transition).tolist() == [0, 1, 2]
    head = (ordered / "emissions_3_run1.txt").read_text().split("\n")[0]
    assert head == "State (Transition order)\tM1\tM2\tM3"
    assert _segments(ordered / "cA_3_run1_segments.bed")[0][3].startswith("T")
    assert _segments(ordered / "cA_3_run1_dense.bed")[0][0] == "chr1"  # no track line
    # refused with the reason and the alternative, never ignored
    for extra, why in (
        (["-z", "8"], "-z: not offered: lsgm never sets small transition probabilities"),
        (["-splitrows"], "-splitrows: not offered"),
    ):
        assert main([*argv[:2], *extra, *argv[2:]]) == 2
        assert why in capsys.readouterr().err
    assert main([*argv[:2], "-p", "2", *argv[2:]]) == 1
    assert "-n with -p (a new random subset" in capsys.readouterr().err

    # --devices asks JAX for a mesh of N devices (here 1 device: the error says how to get
    # more); that N devices give the same model is benchmarks/chromatin_devices.py's check
    # (a subprocess with 4 virtual devices costs more than this test's budget)
    assert main(["chromatin", "learn", "--devices", "4", str(d), str(tmp_path / "x"), "3"]) == 1
    assert "xla_force_host_platform_device_count" in capsys.readouterr().err

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
