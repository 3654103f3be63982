"""Issue 18, class 7: no tracebacks, no misleading messages.

Malformed files end in one line naming the file (and line, record or field) and a fix that
works — never a traceback, never a wrong diagnosis. An unexpected exception (a bug) is one
line too, "internal error (please report it ...)", with its own exit code 3.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.models.serialization import load_model, save_model

DATA = Path(__file__).parent / "data"
DNA, LABELS = DATA / "cli_dna.fa", DATA / "cli_labels.fa"


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3))
    return buf.getvalue()


def _zip_with_garbage() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.npy", b"\x93NUMPY garbage")
    return buf.getvalue()


RNG = np.random.default_rng(0)
RANDOM = bytes(RNG.integers(0, 256, 400, dtype=np.uint8))

# (id, {file: content}, data file given to `lsgm fit`, expected text, forbidden text)
BAD_FILES = [
    ("csv-quoting", {"q.csv": 'a,b\n"1,2\n3,4\n'}, "q.csv", "q.csv, line 3: malformed CSV", None),
    ("tsv-quoting", {"q.tsv": 'a\tb\n1\t"2\n'}, "q.tsv", "malformed TSV", None),
    (
        "deep-json",
        {"d.json": '{"train": ' + "[" * 50000 + "]" * 50000 + "}"},
        "d.json",
        "nested too deeply",
        None,
    ),
    ("bad-json", {"b.json": '{"train": [[[60]]'}, "b.json", "b.json, line 1", None),
    ("json-latin1", {"l.json": b'{"tr\xe9": []}'}, "l.json", "l.json, line 1, column 5", None),
    ("npy-random-bytes", {"r.npy": RANDOM}, "r.npy", "not a NumPy .npy file", "pickle"),
    ("npy-is-npz", {"z.npy": _npz_bytes()}, "z.npy", "a .npz archive", "pickle"),
    ("npz-random-bytes", {"r.npz": RANDOM}, "r.npz", "not a NumPy .npz archive", "pickle"),
    ("npz-damaged-member", {"g.npz": _zip_with_garbage()}, "g.npz", "g.npz", "pickle"),
    ("npy-truncated", {"t.npy": b"\x93NUMPY\x01\x00"}, "t.npy", "t.npy", "pickle"),
    ("data-is-folder", {"dir.fa/x": "x"}, "dir.fa", "is a folder", "no such file"),
    (
        "fasta-latin1-header",
        {"h.fa": b">r1 caf\xe9\nACGT\n"},
        "h.fa",
        "h.fa, line 1, column 8",
        None,
    ),
    (
        "fasta-binary-line-2",
        {"b.fa": b">r1\nAC\xff\xfeGT\n"},
        "b.fa",
        "b.fa, line 2, column 3",
        None,
    ),
    (
        "fasta-gz-garbage",
        {"g.fa.gz": gzip.compress(b">r1\n")[:-6] + b"xx"},
        "g.fa.gz",
        "g.fa.gz",
        None,
    ),
    ("mat-random", {"r.mat": RANDOM}, "r.mat", "not a readable MATLAB", None),
    ("midi-random", {"r.mid": b"MThd" + RANDOM}, "r.mid", "r.mid", None),
    ("midi-truncated", {"t.mid": b"MThd\x00\x00\x00\x06\x00\x01"}, "t.mid", "t.mid", None),
]


@pytest.mark.parametrize(
    "files, data, expected, forbidden", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_data_file_is_one_line_naming_it(tmp_path, files, data, expected, forbidden, capsys):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code = main(["fit", str(tmp_path / data), "-o", str(tmp_path / "m.lsgm"), "-q"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    if forbidden:
        assert forbidden not in err, err


@pytest.mark.parametrize(
    "content",
    [b"\xef\xbb\xbf>r1\nACGT\n", ">r1 caf\u00e9 \u00fcber\nACGT\n".encode()],
    ids=["utf8-bom", "utf8-header"],
)
def test_utf8_bom_and_non_ascii_headers_are_text(cli_model, tmp_path, content, capsys):
    data = tmp_path / "u.fa"
    data.write_bytes(content)
    assert main(["score", str(cli_model), str(data), "-q"]) == 0, capsys.readouterr().err


def test_ambiguous_hint_fits_the_command(cli_model, tmp_path, capsys):
    data = tmp_path / "n.fa"
    data.write_text(">r1\nACNT\n")
    assert main(["score", str(cli_model), str(data)]) == 1
    err = capsys.readouterr().err
    assert "n.fa: record 1 (r1), position 3" in err
    assert "lsgm fit --ambiguous soft" in err and "pass --ambiguous soft" not in err, err
    assert main(["fit", str(data), "-o", str(tmp_path / "m.lsgm")]) == 1
    assert "pass --ambiguous soft" in capsys.readouterr().err


def test_model_file_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "m.lsgm").mkdir()
    assert main(["info", str(tmp_path / "m.lsgm")]) == 1
    err = capsys.readouterr().err
    assert "is a folder" in err and "no such file" not in err, err


# (id, change to the model file's info, expected text)
BAD_INFO = [
    ("state-names-short", {"state_names": ["C"]}, "state_names must be a list of 2 names"),
    ("state-names-not-list", {"state_names": "CN"}, "state_names must be a list"),
    ("state-names-duplicate", {"state_names": ["C", "C"]}, "appears twice"),
    ("state-names-empty", {"state_names": ["C", ""]}, "non-empty"),
    ("state-names-not-strings", {"state_names": [1, 2]}, "non-empty"),
    ("input-not-dict", {"input": "sequence"}, "input must be an object"),
    ("input-kind-unknown", {"input": {"kind": "video"}}, "input.kind must be one of"),
    (
        "input-alphabet-type",
        {"input": {"kind": "sequence", "alphabet": 4}},
        "input.alphabet must be of type str",
    ),
    (
        "input-alphabet-duplicate",
        {"input": {"kind": "sequence", "alphabet": "AACG"}},
        "input.alphabet",
    ),
    (
        "input-alphabet-size",
        {"input": {"kind": "sequence", "alphabet": "ACG"}},
        "input.alphabet must be 4 symbols",
    ),
    ("input-soft-type", {"input": {"kind": "sequence", "soft": "yes"}}, "input.soft"),
    ("input-dim-type", {"input": {"kind": "sequence", "dim": "4"}}, "input.dim"),
    ("training-not-dict", {"training": [1, 2]}, "training must be an object"),
    (
        "history-bad",
        {"training": {"history": {"log_likelihood": "high"}}},
        "training.history.log_likelihood",
    ),
]


@pytest.mark.parametrize(
    "change, expected", [c[1:] for c in BAD_INFO], ids=[c[0] for c in BAD_INFO]
)
@pytest.mark.parametrize("command", ["info", "decode", "plot"])
def test_model_info_of_the_wrong_type_is_one_line(
    cli_model, tmp_path, change, expected, command, capsys
):
    m, info = load_model(cli_model)
    bad = tmp_path / "bad.lsgm"
    save_model(bad, m, {**info, **change})
    extra = {
        "info": [],
        "decode": [str(DNA), "-o", str(tmp_path / "d.tsv")],
        "plot": [str(DNA), "-o", str(tmp_path / "plots")],
    }[command]
    code = main([command, str(bad), *extra])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and str(bad) in err and expected in err, err
    assert "refit" in err or "unique" in err or "non-empty" in err


def test_internal_errors_are_distinguishable(monkeypatch, capsys):
    from lsgm.cli import generate

    def run_info(args):
        raise KeyError("a bug")

    monkeypatch.setattr(generate, "run_info", run_info)
    assert main(["info", "m.lsgm"]) == 3
    err = capsys.readouterr().err
    assert "internal error (please report it" in err and "KeyError" in err
    assert "Traceback" not in err


def test_out_of_memory_is_a_user_error(monkeypatch, capsys):
    from lsgm.cli import generate

    def run_info(args):
        raise MemoryError

    monkeypatch.setattr(generate, "run_info", run_info)
    assert main(["info", "m.lsgm"]) == 1
    assert "out of memory" in capsys.readouterr().err
