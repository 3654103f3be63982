"""Numeric tables (.npy, .npz, .csv, .tsv) -> lists of sequences, and their error messages."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from lsgm.data.tabular import check_feature_count, read_table

DATA = Path(__file__).parent / "data"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- formats ----------------------------------------------------------------------------------


def test_npy_shapes_and_dtypes(tmp_path):
    np.save(tmp_path / "a.npy", np.array([3, 1, 2], np.int64))
    (x,) = read_table(tmp_path / "a.npy")
    assert x.dtype == np.int32 and x.tolist() == [3, 1, 2]

    np.save(tmp_path / "b.npy", np.arange(6, dtype=np.float64).reshape(3, 2) / 4)
    (x,) = read_table(tmp_path / "b.npy")
    assert x.dtype == np.float32 and x.shape == (3, 2) and x[2, 1] == 1.25

    cube = np.arange(24, dtype=np.int16).reshape(2, 4, 3)
    np.save(tmp_path / "c.npy", cube)
    xs = read_table(tmp_path / "c.npy")
    assert len(xs) == 2 and all(x.dtype == np.int32 and x.shape == (4, 3) for x in xs)
    np.testing.assert_array_equal(xs[1], cube[1])

    np.save(tmp_path / "d.npy", np.array([True, False, True]))
    assert read_table(tmp_path / "d.npy")[0].tolist() == [1, 0, 1]


def test_npz_padded_with_lengths_and_one_array_per_sequence(tmp_path):
    data = np.full((3, 4, 2), np.nan, np.float32)  # NaN padding is never read
    data[0, :4], data[1, :1], data[2, :3] = 1.0, 2.0, 3.0
    np.savez(tmp_path / "p.npz", data=data, lengths=np.array([4, 1, 3]))
    xs = read_table(tmp_path / "p.npz")
    assert [x.shape for x in xs] == [(4, 2), (1, 2), (3, 2)]
    assert [float(x[0, 0]) for x in xs] == [1.0, 2.0, 3.0]

    np.savez(tmp_path / "q.npz", data=np.arange(6).reshape(2, 3))  # [T, D] without lengths
    (x,) = read_table(tmp_path / "q.npz")
    assert x.dtype == np.int32 and x.shape == (2, 3)

    # One array per sequence, in the stored key order (not alphabetical); ints + floats -> float.
    np.savez(tmp_path / "r.npz", zeta=np.array([1, 2]), alpha=np.array([0.5, 1.5, 2.5]))
    xs = read_table(tmp_path / "r.npz")
    assert [x.tolist() for x in xs] == [[1.0, 2.0], [0.5, 1.5, 2.5]]
    assert all(x.dtype == np.float32 for x in xs)


def test_csv_header_and_sequence_column():
    xs = read_table(DATA / "table_two_seqs.csv")
    assert len(xs) == 2 and all(x.dtype == np.float32 for x in xs)
    np.testing.assert_array_equal(xs[0], np.array([[0.5, 1], [-1.25, 2], [3, 0.4]], np.float32))
    np.testing.assert_array_equal(xs[1], np.array([[7, 8], [9, 10]], np.float32))


def test_tsv_integers_without_header_and_gzip(tmp_path):
    (x,) = read_table(DATA / "table_ints.tsv")
    assert x.dtype == np.int32 and x.tolist() == [[0, 2], [1, 3], [2, 0]]
    gz = tmp_path / "t.tsv.gz"
    gz.write_bytes(gzip.compress((DATA / "table_ints.tsv").read_bytes()))
    np.testing.assert_array_equal(read_table(gz)[0], x)
    # One decimal point makes the whole table float32.
    (y,) = read_table(_write(tmp_path / "f.csv", "1,2\n3,4.0\n\n"))
    assert y.dtype == np.float32 and y.tolist() == [[1, 2], [3, 4]]


def test_check_feature_count(tmp_path):
    xs = read_table(DATA / "table_two_seqs.csv")
    check_feature_count(xs, 2, "table_two_seqs.csv")
    with pytest.raises(
        ValueError, match=r"^table_two_seqs\.csv has 2 features per step; the model expects 3"
    ):
        check_feature_count(xs, 3, "table_two_seqs.csv")
    check_feature_count([np.zeros(5, np.int32)], 1, "x.npy")


# --- errors -----------------------------------------------------------------------------------


def test_csv_nan_or_inf_says_where(tmp_path):
    path = _write(tmp_path / "x.csv", "a,b\n1,2\n3,nan\n")
    with pytest.raises(ValueError, match=r"x\.csv, line 3, column 2 \('b'\): nan is not a finite"):
        read_table(path)
    path = _write(tmp_path / "y.tsv", "1\t2\n-inf\t0.5\n")
    with pytest.raises(ValueError, match=r"y\.tsv, line 2, column 1: -inf is not a finite"):
        read_table(path)


def test_csv_non_numeric_cell(tmp_path):
    path = _write(tmp_path / "x.csv", "a,b\n1,2\n3,abc\n")
    with pytest.raises(
        ValueError, match=r"x\.csv, line 3, column 2 \('b'\): non-numeric value 'abc'"
    ):
        read_table(path)
    path = _write(tmp_path / "y.csv", "1,2\n3,\n")
    with pytest.raises(ValueError, match=r"y\.csv, line 2, column 2: an empty cell"):
        read_table(path)


def test_csv_ragged_row(tmp_path):
    path = _write(tmp_path / "x.csv", "a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match=r"x\.csv, line 3: 2 comma-separated columns, expected 3"):
        read_table(path)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"x\.csv: the file is empty"):
        read_table(_write(tmp_path / "x.csv", "\n\n"))
    with pytest.raises(ValueError, match=r"h\.csv: the file has a header but no data rows"):
        read_table(_write(tmp_path / "h.csv", "a,b\n"))
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"e\.npy: sequence 0 has no time steps"):
        read_table(tmp_path / "e.npy")


def test_unsupported_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported table file type '\.xlsx'.*\.npy.*\.csv"):
        read_table(tmp_path / "data.xlsx")


def test_object_array_is_never_unpickled(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[1, 2], "x"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"o\.npy: holds an object \(pickled\) array"):
        read_table(tmp_path / "o.npy")
    np.savez(tmp_path / "o.npz", a=np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match=r"o\.npz: holds an object \(pickled\) array"):
        read_table(tmp_path / "o.npz")


def test_lengths_that_do_not_fit(tmp_path):
    np.savez(tmp_path / "p.npz", data=np.zeros((2, 4)), lengths=np.array([4, 5]))
    with pytest.raises(ValueError, match=r"p\.npz: lengths\[1\] = 5 does not fit .*1\.\.4"):
        read_table(tmp_path / "p.npz")
    np.savez(tmp_path / "q.npz", data=np.zeros((2, 4)), lengths=np.array([4, 2, 1]))
    with pytest.raises(
        ValueError, match=r"q\.npz: 'lengths' must be integers of shape \[N\] = \[2\]"
    ):
        read_table(tmp_path / "q.npz")


def test_npy_nan_and_bad_rank(tmp_path):
    x = np.zeros((2, 3, 2))
    x[1, 2, 0] = np.inf
    np.save(tmp_path / "n.npy", x)
    with pytest.raises(
        ValueError, match=r"n\.npy: sequence 1, index \[2, 0\]: inf is not a finite"
    ):
        read_table(tmp_path / "n.npy")
    np.save(tmp_path / "r.npy", np.zeros((1, 2, 3, 4)))
    with pytest.raises(
        ValueError, match=r"r\.npy: expected an array \[T\], \[T, D\] or \[N, T, D\]"
    ):
        read_table(tmp_path / "r.npy")


def test_sequence_id_returning_and_int_overflow(tmp_path):
    path = _write(tmp_path / "s.csv", "sequence,x\na,1\nb,2\na,3\n")
    with pytest.raises(ValueError, match=r"s\.csv, line 4: sequence 'a' appears again"):
        read_table(path)
    path = _write(tmp_path / "big.csv", "1\n3000000000\n")
    with pytest.raises(ValueError, match=r"big\.csv, line 2, column 1: 3000000000 does not fit"):
        read_table(path)


def test_first_line_mixing_names_and_numbers(tmp_path):
    path = _write(tmp_path / "m.csv", "1,x2\n3,4\n")
    with pytest.raises(ValueError, match=r"m\.csv, line 1, column 2: 'x2' is not a number"):
        read_table(path)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf1,2\n3,4\n")  # a byte-order mark is not a header
    assert read_table(bom)[0].tolist() == [[1, 2], [3, 4]]
