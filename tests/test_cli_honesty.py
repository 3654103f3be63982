"""Issue 18, class 6: say what you do, do what you say.

Defaults match ``--help``; ``--json`` is strict RFC 8259 JSON; Ctrl-C (SIGINT) stops a run
with exit code 130 and writes nothing; state names and alphabets are unique and non-empty;
FASTA records have names; numbers in data files parse strictly (no ``1_000``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from lsgm.cli.common import to_json
from lsgm.cli.main import main
from lsgm.models.serialization import build_model, save_model

DATA = Path(__file__).parent / "data"
DNA, LABELS, MUSIC = DATA / "cli_dna.fa", DATA / "cli_labels.fa", DATA / "music_tiny.json"


def strict_loads(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    assert main(["fit", str(DNA), "--labels", str(LABELS), "-o", str(d / "dna.lsgm"), "-q"]) == 0
    config = {
        "kind": "HMM",
        "num_states": 2,
        "emission": {"family": "bernoulli", "dim": 88},
        "settings": {},
    }
    info = {
        "input": {"kind": "pianoroll", "split": "train", "dim": 88},  # trained on "train"
        "state_names": ["quiet", "busy"],
    }
    save_model(d / "music.lsgm", build_model(config, nnx.Rngs(0)), info)
    return d


# --- defaults match the help -------------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "decode", "posterior"])
def test_split_default_is_every_split_as_the_help_says(models, tmp_path, command, capsys):
    from lsgm.data.pianoroll import read_json

    total = sum(len(rolls) for rolls in read_json(MUSIC).values())
    train = len(read_json(MUSIC)["train"])
    assert total > train
    out = {
        "score": [],
        "decode": ["-o", str(tmp_path / "d.tsv")],
        "posterior": ["-o", str(tmp_path / "p.tsv")],
    }[command]
    capsys.readouterr()
    assert main([command, str(models / "music.lsgm"), str(MUSIC), *out, "--json"]) == 0
    result = strict_loads(capsys.readouterr().out)
    assert result["num_sequences"] == total
    capsys.readouterr()
    argv = [command, str(models / "music.lsgm"), str(MUSIC), "--split", "train", *out, "--json"]
    assert main(argv) == 0
    assert strict_loads(capsys.readouterr().out)["num_sequences"] == train


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["decode", "{m}/dna.lsgm", str(DNA), "-o", "{t}/d.tsv", "--bed-states", "C"],
            "--bed-states",
        ),
        (["fit", str(DNA), "-o", "{t}/m.lsgm", "--validation", str(DNA)], "--validation"),
        (["fit", str(DNA), "-o", "{t}/m.lsgm", "--patience", "3"], "--patience"),
        (["sample", "{m}/dna.lsgm", "-o", "{t}/s.fa", "--step-seconds", "0"], "--step-seconds"),
    ],
    ids=[
        "bed-states-with-tsv",
        "validation-with-em",
        "patience-without-validation",
        "step-seconds-zero",
    ],
)
def test_options_that_would_be_ignored_are_errors(models, tmp_path, argv, expected, capsys):
    code = main([a.format(m=models, t=tmp_path) for a in argv] + ["-q"])
    err = capsys.readouterr().err
    assert code == 1 and expected in err, err
    assert list(tmp_path.iterdir()) == []


# --- strict JSON ---------------------------------------------------------------------------


def test_json_output_maps_non_finite_numbers_to_null():
    value = {
        "ll": float("-inf"),
        "nan": np.float32("nan"),
        "inf": [np.inf, 1.5],
        "array": np.array([-np.inf, 2.0]),
        "ok": np.int64(3),
    }
    parsed = strict_loads(to_json(value))
    assert parsed == {"ll": None, "nan": None, "inf": [None, 1.5], "array": [None, 2.0], "ok": 3}


@pytest.mark.parametrize("command", ["score", "info"])
def test_cli_json_is_strict(models, command, capsys):
    capsys.readouterr()
    argv = [command, str(models / "dna.lsgm"), *([str(DNA)] if command == "score" else [])]
    assert main([*argv, "--json"]) == 0
    strict_loads(capsys.readouterr().out)


def test_emit_of_minus_infinity_is_null(capsys):
    from types import SimpleNamespace

    from lsgm.cli.common import emit

    emit(SimpleNamespace(json=True, quiet=False), {"log_likelihood": float("-inf")}, [])
    assert strict_loads(capsys.readouterr().out) == {"log_likelihood": None}


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_sigint_during_training_exits_130_and_writes_nothing(tmp_path):
    out = tmp_path / "m.lsgm"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lsgm.cli.main",
            "fit",
            str(DNA),
            "-o",
            str(out),
            "--states",
            "3",
            "--max-iter",
            "1000000",
            "--tol",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "fitting" in proc.stderr.readline()  # past imports and reading: training now
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no model, no temporary file


def test_an_interrupt_that_a_library_swallowed_still_exits_130(tmp_path, monkeypatch, capsys):
    """A ``KeyboardInterrupt`` raised where a library catches it (e.g. a garbage-collector
    callback) must not let the run finish with 0 and write its outputs."""
    from lsgm.cli import generate
    from lsgm.data import files

    out = tmp_path / "o.tsv"

    def run_info(args):
        files.mark_interrupted()  # what the SIGINT handler does before raising
        files.atomic_write_text(out, "x\n")
        return 0

    monkeypatch.setattr(generate, "run_info", run_info)
    monkeypatch.setattr(files, "_INTERRUPTED", False)
    try:
        assert main(["info", "whatever.lsgm"]) == 130
    finally:
        files._INTERRUPTED = False
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_is_exit_130(monkeypatch, capsys):
    from lsgm.cli import generate

    def run_info(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "run_info", run_info)
    assert main(["info", "whatever.lsgm"]) == 130
    assert "interrupted" in capsys.readouterr().err


# --- names and alphabets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--states", "2", "--state-names", "a,a"], "'a' appears twice"),
        (["--states", "2", "--state-names", "a,"], "non-empty"),
        (["--alphabet", "AACGT"], "'A' appears twice"),
        (["--alphabet", "ACGTa"], "'A' appears twice"),
        (["--alphabet", ""], "empty"),
        (["--alphabet", "AC GT"], "cannot be a symbol"),
    ],
    ids=["dup-state", "empty-state", "dup-letter", "dup-letter-case", "empty-alphabet", "space"],
)
def test_names_and_alphabets_are_unique_and_non_empty(tmp_path, extra, expected, capsys):
    code = main(["fit", str(DNA), "-o", str(tmp_path / "m.lsgm"), "-q", *extra])
    err = capsys.readouterr().err
    assert code == 1 and expected in err, err
    assert list(tmp_path.iterdir()) == []


def test_bed_states_are_unique(models, tmp_path, capsys):
    code = main(
        [
            "decode",
            str(models / "dna.lsgm"),
            str(DNA),
            "-o",
            str(tmp_path / "d.bed"),
            "--bed-states",
            "C,C",
        ]
    )
    assert code == 1 and "appears twice" in capsys.readouterr().err


@pytest.mark.parametrize("header", [">", ">   "])
def test_unnamed_fasta_record_is_an_error_not_an_empty_chromosome(models, tmp_path, header, capsys):
    data = tmp_path / "u.fa"
    data.write_text(f">ok\nACGT\n{header}\nACGT\n")
    out = tmp_path / "u.bed"
    code = main(["decode", str(models / "dna.lsgm"), str(data), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "record 2 has no name" in err, err
    assert not out.exists()


# --- strict numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("1_000", "digit-group separator"),
        ("1,000", "thousands separator"),
        ("1 000", "space inside"),
        ("\u0663", "non-numeric"),  # an Arabic-Indic digit: float() accepts it
        ("0x10", "non-numeric"),
        ("1.5.2", "non-numeric"),
        ("nan", "not a finite number"),
        ("-inf", "not a finite number"),
    ],
)
def test_table_numbers_parse_strictly(tmp_path, cell, expected, capsys):
    data = tmp_path / "t.tsv"
    data.write_text(f"a\tb\n1\t2\n3\t{cell}\n")
    code = main(["fit", str(data), "-o", str(tmp_path / "m.lsgm"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and expected in err, err
    assert "t.tsv, line 3, column 2 ('b')" in err, err


def test_plain_numbers_still_read(tmp_path):
    from lsgm.data.tabular import read_table

    data = tmp_path / "t.csv"
    data.write_text("a,b\n 1 ,-.5\n+2,1e3\n3,4.\n")
    (x,) = read_table(data)
    np.testing.assert_allclose(x, [[1, -0.5], [2, 1000], [3, 4]])


def test_gff_coordinates_parse_strictly(tmp_path):
    from lsgm.data.gff import read_gff

    gff = tmp_path / "a.gff3"
    gff.write_text("##gff-version 3\nchr1\tsrc\tgene\t1_000\t2000\t.\t+\t.\tID=g1\n")
    with pytest.raises(ValueError, match=r"line 2.*start '1_000' is not an integer"):
        read_gff(gff)


def test_json_piano_roll_rejects_nan_constants(tmp_path):
    from lsgm.data.pianoroll import read_json

    path = tmp_path / "r.json"
    path.write_text('{"train": [[[60, NaN]]]}')
    with pytest.raises(ValueError, match="r.json.*NaN"):
        read_json(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "m.lsgm", "-o", "s.fa", "-n", "1_000"],
        ["fit", "d.fa", "-o", "m.lsgm", "--states", "٣"],
        ["fit", "d.fa", "-o", "m.lsgm", "--tol", "nan"],
        ["fit", "d.fa", "-o", "m.lsgm", "--learning-rate", "1_0.5"],
    ],
    ids=["underscore-int", "arabic-digit", "nan-float", "underscore-float"],
)
def test_numeric_options_parse_strictly(argv, capsys):
    assert main(argv) == 2  # a usage error, before any file is touched
    assert "is not" in capsys.readouterr().err
