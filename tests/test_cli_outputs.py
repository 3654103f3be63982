"""Issue 18, class 1: an output never destroys an input.

Every command checks its output path with one shared helper
(:func:`lsgm.data.files.check_output`) before reading data or training: an output that is one
of the command's input files (links followed, or below one), a wrong suffix, a folder, or an
unwritable place is refused with exit code 1 and the input is left byte for byte. Writes name
the user's destination (never the temporary file), a full disk says so, and a writer killed
with SIGKILL leaves temporary files that the next successful write removes.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.data import files

DATA = Path(__file__).parent / "data"
DNA, LABELS = DATA / "cli_dna.fa", DATA / "cli_labels.fa"


@pytest.fixture
def work(tmp_path, cli_model):
    """A folder with copies of the inputs (data, labels, a table, the model)."""
    for name, source in (("d.fa", DNA), ("l.fa", LABELS), ("m.lsgm", cli_model)):
        (tmp_path / name).write_bytes(source.read_bytes())
    np.save(tmp_path / "t.npy", np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32))
    (tmp_path / "t.tsv").write_text("a\tb\n1\t2\n3\t4\n5\t6\n")
    (tmp_path / "x.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # an (empty) zip
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.lsgm").mkdir()
    (tmp_path / "adir.tsv").mkdir()
    os.symlink(tmp_path / "d.fa", tmp_path / "link.lsgm")
    os.symlink(tmp_path / "m.lsgm", tmp_path / "model-link.tsv")
    os.link(tmp_path / "l.fa", tmp_path / "hard.lsgm")
    os.symlink(tmp_path / "m.lsgm", tmp_path / "sample-link.fa")
    (tmp_path / "pbm").mkdir()
    (tmp_path / "pbm" / "results.json").write_text("1.0\tACGT\n")
    return tmp_path


# (id, argv with {t} = the work folder, text expected in the error)
CLASHES = [
    ("fit-out-is-data-via-symlink", ["fit", "{t}/d.fa", "-o", "{t}/link.lsgm"], "d.fa"),
    (
        "fit-out-is-labels-hardlink",
        ["fit", "{t}/d.fa", "--labels", "{t}/l.fa", "-o", "{t}/hard.lsgm"],
        "l.fa",
    ),
    ("fit-out-below-data", ["fit", "{t}/d.fa", "-o", "{t}/d.fa/m.lsgm"], "d.fa"),
    (
        "fit-out-is-validation",
        [
            "fit",
            "{t}/t.npy",
            "--trainer",
            "gradient",
            "--validation",
            "{t}/link.lsgm",
            "-o",
            "{t}/link.lsgm",
        ],
        "input",
    ),
    (
        "posterior-out-is-its-input",
        ["posterior", "{t}/m.lsgm", "{t}/x.npz", "-o", "{t}/x.npz"],
        "x.npz",
    ),
    ("score-out-is-its-table", ["score", "{t}/m.lsgm", "{t}/t.tsv", "-o", "{t}/t.tsv"], "t.tsv"),
    (
        "decode-out-links-to-model",
        ["decode", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/model-link.tsv"],
        "m.lsgm",
    ),
    ("sample-out-links-to-model", ["sample", "{t}/m.lsgm", "-o", "{t}/sample-link.fa"], "m.lsgm"),
    ("plot-folder-is-data", ["plot", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/d.fa"], "d.fa"),
    (
        "experiment-writes-over-input",
        ["experiment", "pbm", "--train", "{t}/pbm/results.json", "--cv", "2", "-o", "{t}/pbm"],
        "results.json",
    ),
]

BAD_DESTINATIONS = [
    ("fit-suffix-fasta", ["fit", "{t}/d.fa", "-o", "{t}/copy.fa"], "must end in .lsgm"),
    ("fit-no-suffix", ["fit", "{t}/d.fa", "-o", "{t}/model"], "must end in .lsgm"),
    ("fit-into-folder", ["fit", "{t}/d.fa", "-o", "{t}/adir.lsgm"], "is a folder"),
    ("fit-parent-is-file", ["fit", "{t}/d.fa", "-o", "{t}/afile/m.lsgm"], "afile"),
    (
        "fit-checkpoint-dir-is-file",
        ["fit", "{t}/d.fa", "-o", "{t}/ok.lsgm", "--checkpoint-dir", "{t}/afile"],
        "afile",
    ),
    ("score-suffix", ["score", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/s.csv"], "must end in .tsv"),
    ("decode-suffix", ["decode", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/s.npz"], ".tsv or .bed"),
    (
        "posterior-suffix",
        ["posterior", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/s.bed"],
        ".tsv or .npz",
    ),
    (
        "posterior-into-folder",
        ["posterior", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/adir.tsv"],
        "is a folder",
    ),
    ("sample-suffix", ["sample", "{t}/m.lsgm", "-o", "{t}/s.mid"], "must end in .fa"),
    ("sample-suffix-unknown", ["sample", "{t}/m.lsgm", "-o", "{t}/s.txt"], "must end in"),
    ("plot-folder-is-file", ["plot", "{t}/m.lsgm", "{t}/d.fa", "-o", "{t}/afile"], "not a folder"),
    ("demo-folder-is-file", ["demo", "--quick", "-o", "{t}/afile"], "not a folder"),
    (
        "experiment-folder-is-file",
        ["experiment", "cpg", "--quick", "-o", "{t}/afile"],
        "not a folder",
    ),
]


def _snapshot(folder: Path) -> dict:
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def no_work(monkeypatch):
    """Reading data or training before the output check is a test failure (exit code 3)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("data were read before the output path was checked")

    import lsgm.cli.fit
    from lsgm.cli import common

    monkeypatch.setattr(lsgm.cli.fit, "read_inputs", forbidden)
    monkeypatch.setattr(common, "read_inputs", forbidden)


@pytest.mark.parametrize(
    "argv, expected",
    [c[1:] for c in CLASHES + BAD_DESTINATIONS],
    ids=[c[0] for c in CLASHES + BAD_DESTINATIONS],
)
def test_bad_output_is_refused_before_any_work(work, argv, expected, capsys, no_work):
    before = _snapshot(work)
    code = main([a.format(t=work) for a in argv] + ["-q"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "error:" in err and expected in err, err
    assert ".tmp" not in err and "Traceback" not in err
    assert _snapshot(work) == before  # every input intact, nothing written


@pytest.mark.parametrize("what", ["clash", "ok"])
def test_output_check_helper(tmp_path, what):
    data = tmp_path / "in.fa"
    data.write_text(">a\nACGT\n")
    if what == "clash":
        (tmp_path / "sub").mkdir()
        with pytest.raises(ValueError, match="in.fa"):
            files.check_output(tmp_path / "sub" / ".." / "in.fa", [data])
    else:
        out = files.check_output(tmp_path / "new" / "out.lsgm", [data], (".lsgm",))
        assert out.parent.is_dir() and not out.exists()


def test_disk_full_names_the_destination(work, cli_model, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = work / "scores.tsv"
    code = main(["score", str(cli_model), str(work / "d.fa"), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert str(out) in err and "disk is full" in err and ".tmp" not in err, err
    assert not out.exists()
    assert not [p for p in work.iterdir() if p.name.startswith(".")]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "out.tsv"
    stale = tmp_path / f".out.tsv.{_dead_pid()}.abc123.tmp.tsv"
    alive = tmp_path / f".out.tsv.{os.getppid()}.def456.tmp.tsv"  # a running writer's
    other = tmp_path / f".other.tsv.{_dead_pid()}.abc123.tmp.tsv"  # another target's
    for p in (stale, alive, other):
        p.write_text("partial")
    files.atomic_write_text(target, "done\n")
    assert target.read_text() == "done\n"
    assert not stale.exists() and alive.exists() and other.exists()


def test_sigkill_leaves_nothing_after_the_next_run(tmp_path):
    target = tmp_path / "out.tsv"
    code = (
        "import sys, time\n"
        "from lsgm.data.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
    finally:
        proc.kill()
        proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".out.tsv.{proc.pid}.")  # the crash's debris
    files.atomic_write_text(target, "done\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_multi_file_outputs_are_all_or_nothing(tmp_path):
    target_a, target_b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError), files.deferred_outputs():
        files.atomic_write_text(target_a, "a")
        assert not target_a.exists()  # renamed into place only at the end
        files.atomic_write_text(target_b, "b")
        raise RuntimeError("a later step fails")
    assert list(tmp_path.iterdir()) == []  # neither file, no temporary file
    with files.deferred_outputs():
        files.atomic_write_text(target_a, "a")
        files.atomic_write_text(target_b, "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_plot_that_fails_half_way_writes_no_picture(work, cli_model, monkeypatch, capsys):
    import lsgm.plots

    def failing_logo(*args, **kwargs):
        raise ValueError("the logo cannot be drawn")

    monkeypatch.setattr(lsgm.plots, "plot_sequence_logo", failing_logo)
    out = work / "plots"
    code = main(["plot", str(cli_model), str(work / "d.fa"), "-o", str(out), "-q"])
    assert code == 1 and "logo" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # the pictures drawn before the failure are not kept
