"""Bad input to the CLI: every case exits with code 1 and one clear line naming the problem.

Each case builds its files in a temporary folder, runs ``lsgm`` in-process and checks the exit
code and that stderr names the cause (a file, record, line or value) — nothing is silent.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.training.checkpoint import read_checkpoint, save_checkpoint

DATA = Path(__file__).parent / "data"
DNA, LABELS = str(DATA / "cli_dna.fa"), str(DATA / "cli_labels.fa")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    assert main(["fit", DNA, "--labels", LABELS, "-o", str(d / "dna.lsgm"), "-q"]) == 0
    np.save(d / "x2.npy", np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32))
    assert (
        main(
            [
                "fit",
                str(d / "x2.npy"),
                "--states",
                "2",
                "--max-iter",
                "3",
                "-o",
                str(d / "gauss.lsgm"),
                "-q",
            ]
        )
        == 0
    )
    return d


def write(path: Path, content) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def fit(data, *extra):
    return ["fit", data, "-o", "{tmp}/out.lsgm", *extra]


def damaged(models, tmp, how: str) -> str:
    raw = (models / "dna.lsgm").read_bytes()
    if how == "flip":
        b = bytearray(raw)
        b[len(b) // 2] ^= 0x01
        return write(tmp / "flip.lsgm", bytes(b))
    if how == "truncate":
        return write(tmp / "trunc.lsgm", raw[: len(raw) // 3])
    arrays, _, meta = read_checkpoint(models / "dna.lsgm")
    meta["format_version"] = 99
    save_checkpoint(tmp / "v99.lsgm", arrays, meta)
    return str(tmp / "v99.lsgm")


# (id, files to create {name: content}, argv (with {tmp} and {models}), expected text in stderr)
CASES = [
    ("fasta-no-header", {"a.fa": "ACGT\n"}, fit("{tmp}/a.fa"), "must start a FASTA"),
    ("fasta-empty-record", {"a.fa": ">r1\n\n>r2\nACGT\n"}, fit("{tmp}/a.fa"), "empty"),
    ("fasta-unknown-letter", {"a.fa": ">r1\nACGZT\n"}, fit("{tmp}/a.fa"), "unknown letter 'Z'"),
    ("fasta-iupac-default-error", {"a.fa": ">r1\nACNT\n"}, fit("{tmp}/a.fa"), "--ambiguous soft"),
    ("fasta-empty-file", {"a.fa": ""}, fit("{tmp}/a.fa"), "empty file"),
    ("fasta-binary", {"a.fa": b">r\n\xff\xfe\n"}, fit("{tmp}/a.fa"), "not UTF-8 text"),
    ("fastq-quality-length", {"a.fq": "@r1\nACGT\n+\nII\n"}, fit("{tmp}/a.fq"), "a.fq"),
    (
        "gzip-truncated",
        {
            "a.fa.gz": gzip.compress(
                b">r1\n" + bytes(np.random.default_rng(0).choice(list(b"ACGT"), 5000))
            )[:200]
        },
        fit("{tmp}/a.fa.gz"),
        "truncated or corrupt",
    ),
    ("data-missing", {}, fit("{tmp}/nothere.fa"), "no such file"),
    ("unknown-suffix", {"a.xyz": "1\n"}, fit("{tmp}/a.xyz"), "unknown file type"),
    (
        "model-alphabet-mismatch",
        {"p.fa": ">prot\nEFILPQ\n"},
        ["score", "{models}/dna.lsgm", "{tmp}/p.fa"],
        "unknown letter 'E'",
    ),
    (
        "model-input-kind-mismatch",
        {"t.csv": "1,2\n3,4\n"},
        ["score", "{models}/dna.lsgm", "{tmp}/t.csv"],
        "model reads sequence data",
    ),
    (
        "wrong-feature-count",
        {"t.csv": "1,2,3\n4,5,6\n"},
        ["score", "{models}/gauss.lsgm", "{tmp}/t.csv"],
        "3 features per step",
    ),
    ("nan-in-npy", {"x.npy": "nan-npy"}, fit("{tmp}/x.npy"), "nan is not a finite number"),
    ("nan-in-csv", {"x.csv": "1.0,2.0\nnan,3.0\n"}, fit("{tmp}/x.csv"), "line 2"),
    ("ragged-csv", {"x.csv": "1,2\n3\n"}, fit("{tmp}/x.csv"), "line 2"),
    ("non-numeric-csv", {"x.csv": "1,2\n3,abc\n"}, fit("{tmp}/x.csv"), "abc"),
    ("object-npy", {"x.npy": "object-npy"}, fit("{tmp}/x.npy"), "x.npy"),
    ("model-corrupted", {}, ["info", "{damaged:flip}"], "flip.lsgm"),
    ("model-truncated", {}, ["info", "{damaged:truncate}"], "not a readable lsgm model"),
    ("model-other-version", {}, ["info", "{damaged:version}"], "format version 99"),
    ("model-not-lsgm", {"m.lsgm": "hello\n"}, ["info", "{tmp}/m.lsgm"], "not a readable"),
    ("model-missing", {}, ["info", "{tmp}/none.lsgm"], "no such model file"),
    (
        "output-dir-not-writable",
        {"afile": "x"},
        ["fit", DNA, "-o", "{tmp}/afile/out.lsgm"],
        "afile",
    ),
    (
        "negative-states",
        {},
        ["fit", DNA, "--states", "-3", "-o", "{tmp}/o.lsgm"],
        "--states must be a positive integer; got -3",
    ),
    ("zero-states", {}, ["fit", DNA, "--states", "0", "-o", "{tmp}/o.lsgm"], "--states"),
    (
        "zero-epochs",
        {},
        ["fit", DNA, "--model", "lsgm", "--epochs", "0", "-o", "{tmp}/o.lsgm"],
        "--epochs",
    ),
    (
        "zero-batch",
        {},
        ["fit", DNA, "--trainer", "gradient", "--batch-size", "0", "-o", "{tmp}/o.lsgm"],
        "--batch-size",
    ),
    (
        "negative-learning-rate",
        {},
        ["fit", DNA, "--trainer", "gradient", "--learning-rate", "-1", "-o", "{tmp}/o.lsgm"],
        "--learning-rate",
    ),
    (
        "labels-record-count",
        {"l.fa": ">win1\n" + "N" * 120 + "\n"},
        fit(DNA, "--labels", "{tmp}/l.fa"),
        "1 label records for 3",
    ),
    (
        "labels-length",
        {"l.fa": "".join(f">win{i}\n{'N' * 119}\n" for i in (1, 2, 3))},
        fit(DNA, "--labels", "{tmp}/l.fa"),
        "119 labels for a sequence of 120",
    ),
    (
        "labels-name",
        {"l.fa": "".join(f">w{i}\n{'N' * 120}\n" for i in (1, 2, 3))},
        fit(DNA, "--labels", "{tmp}/l.fa"),
        "differs from the data record",
    ),
    ("supervised-without-labels", {}, fit(DNA, "--trainer", "supervised"), "--labels"),
    ("lsgm-with-em", {}, fit(DNA, "--model", "lsgm", "--trainer", "em"), "--trainer gradient"),
    ("resume-without-dir", {}, fit(DNA, "--resume"), "--checkpoint-dir"),
    (
        "state-names-count",
        {},
        fit(DNA, "--states", "2", "--state-names", "a,b,c"),
        "--state-names needs 2",
    ),
    ("gaussian-on-fasta", {}, fit(DNA, "--emission", "gaussian"), "--emission categorical"),
    (
        "categorical-on-floats",
        {"x.csv": "0.5\n1.5\n"},
        fit("{tmp}/x.csv", "--emission", "categorical"),
        "integer symbol",
    ),
    (
        "decode-bad-suffix",
        {},
        ["decode", "{models}/dna.lsgm", DNA, "-o", "{tmp}/d.txt"],
        "must end in .tsv or .bed",
    ),
    (
        "decode-unknown-bed-state",
        {},
        ["decode", "{models}/dna.lsgm", DNA, "-o", "{tmp}/d.bed", "--bed-states", "island"],
        "'island'",
    ),
    (
        "sample-zero-length",
        {},
        ["sample", "{models}/dna.lsgm", "-o", "{tmp}/s.fa", "-n", "0"],
        "--length",
    ),
    (
        "sample-wrong-suffix",
        {},
        ["sample", "{models}/dna.lsgm", "-o", "{tmp}/s.mid"],
        "must end in .fa or .fasta",
    ),
    (
        "plot-record-out-of-range",
        {},
        ["plot", "{models}/dna.lsgm", DNA, "-o", "{tmp}/pl", "--record", "9"],
        "the file has 3 records",
    ),
    (
        "pianoroll-missing-split",
        {},
        fit(str(DATA / "music_tiny.json"), "--split", "nope"),
        "no split 'nope'",
    ),
    (
        "music-negative-weight-decay",
        {},
        ["experiment", "music", "--quick", "--weight-decay", "-1", "-o", "{tmp}/m"],
        "--weight-decay must be >= 0",
    ),
    (
        "music-dropout-one",
        {},
        ["experiment", "music", "--quick", "--dropout", "1", "-o", "{tmp}/m"],
        "--dropout must be in [0, 1)",
    ),
    (
        "pianoroll-note-out-of-range",
        {"m.json": json.dumps({"train": [[[60], [12]]]})},
        fit("{tmp}/m.json"),
        "12",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_1_with_a_clear_message(case, models, tmp_path, capsys):
    _, files, argv, expected = case
    for name, content in files.items():
        if content == "nan-npy":
            np.save(tmp_path / name, np.array([[1.0, np.nan]], np.float32))
        elif content == "object-npy":
            np.save(tmp_path / name, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        else:
            write(tmp_path / name, content)
    args = []
    for a in argv:
        if a.startswith("{damaged:"):
            a = damaged(models, tmp_path, a[len("{damaged:") : -1])
        args.append(a.format(tmp=tmp_path, models=models))
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "error:" in err and expected in err, err
    assert not (tmp_path / "out.lsgm").exists()  # nothing half-written


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_usage_errors_exit_2(capsys):
    assert main(["fit"]) == 2  # missing arguments
    assert main(["fit", DNA, "-o", "x.lsgm", "--states", "three"]) == 2
    assert main(["nosuchcommand"]) == 2
