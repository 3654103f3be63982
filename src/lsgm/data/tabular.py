"""Numeric sequences from tables: ``.npy``, ``.npz``, ``.csv``, ``.tsv`` (and ``.csv.gz``,
``.tsv.gz``).

:func:`read_table` returns a list of sequences, each ``[T]`` (one value per step) or
``[T, D]`` (``D`` features per step):

* ``.npy``: a 1-D array ``[T]`` or 2-D ``[T, D]`` is one sequence; a 3-D ``[N, T, D]`` array
  is ``N`` sequences of equal length. Loaded with ``allow_pickle=False``: object arrays are
  refused, user files are never unpickled.
* ``.npz``: either a key ``data`` (read like ``.npy``) with an optional key ``lengths``
  ``[N]`` giving the true length of each row of a padded ``[N, T]`` or ``[N, T, D]`` array
  (the padding, ``data[n, lengths[n]:]``, is ignored and may hold anything, NaN included), or
  one array ``[T]`` / ``[T, D]`` per sequence, in the order stored.
* ``.csv`` / ``.tsv``: rows are time steps, columns features; each sequence is ``[T, D]``
  (also for ``D = 1``; use ``x[:, 0]`` for a ``[T]`` symbol sequence). The first row is a
  header when none of its cells is a number (a first row mixing names and numbers is an
  error); a UTF-8 byte-order mark is skipped. A header column named ``sequence`` or
  ``seq_id`` is not a feature: it splits the rows into sequences, one per run of equal ids
  (an id must not come back after another one). Blank lines at the end are ignored.

**Types.** Integer data stay integers, ``int32`` — when the file stores integers (an integer
or boolean ``.npy`` dtype; table cells without a decimal point or exponent) — as
categorical and Poisson emissions need; everything else becomes ``float32``. A table with
one non-integer cell is float32 throughout; so are the ``.npz`` sequences when any is float.

**Errors.** Every problem raises a ``ValueError`` naming the file, the line (1-based) or
array index and column, and the fix: NaN or infinity, a non-numeric or empty cell, a row
with the wrong number of columns, an empty file, an unsupported suffix, an object array,
an integer beyond int32, lengths that do not fit the array.
"""

from __future__ import annotations

import csv
import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lsgm.data.numbers import describe_problem, is_int_literal, is_number_literal

SUPPORTED_SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
SEQUENCE_COLUMNS = ("sequence", "seq_id")

_INT32 = np.iinfo(np.int32)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def read_table(path) -> list[np.ndarray]:
    """Read numeric sequences from a ``.npy``, ``.npz``, ``.csv`` or ``.tsv`` file (optionally
    gzipped tables); see the module docstring for the layouts, types and errors.

    Returns:
        a non-empty list of sequences, each ``[T]`` or ``[T, D]`` (``T >= 1``), int32 or
        float32 (one dtype and one ``D`` for the whole file).
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported table file type {suffix or '(no suffix)'!r}; supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {suffix} file; pass the file itself.")
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    if suffix == ".npy":
        xs = _read_npy(path)
    elif suffix == ".npz":
        xs = _read_npz(path)
    else:
        xs = _read_delimited(path, "\t" if suffix.startswith(".tsv") else ",", suffix)
    return _finish(xs, path)


def check_feature_count(xs: list[np.ndarray], expected: int, path) -> None:
    """Raise ``ValueError("FILE has D features per step; the model expects E")`` unless every
    sequence has ``expected`` features per step (a ``[T]`` sequence has 1)."""
    for x in xs:
        D = 1 if x.ndim == 1 else int(np.prod(x.shape[1:]))
        if D != expected:
            raise ValueError(
                f"{path} has {D} feature{'s' if D != 1 else ''} per step; the model expects "
                f"{expected}. Give a file with {expected} column(s) per time step, or a "
                "model built for this data."
            )


# ---------------------------------------------------------------------------------------------
# NumPy files
# ---------------------------------------------------------------------------------------------


#: The first bytes of a ``.npy`` file and of a ``.npz`` (zip) archive.
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

#: What NumPy and zipfile raise on a damaged file.
_NUMPY_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, KeyError)


def _load_numpy(path: Path):
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the file ({err.strerror}).") from err
    expected = path.suffix.lower()
    if expected == ".npy" and not magic.startswith(_NPY_MAGIC):
        found = "a .npz archive" if magic.startswith(_ZIP_MAGIC) else "something else"
        raise ValueError(
            f"{path}: not a NumPy .npy file (it does not start with the .npy signature; it is "
            f"{found}); save arrays with numpy.save."
        )
    if expected == ".npz" and not magic.startswith(_ZIP_MAGIC):
        found = "a .npy array" if magic.startswith(_NPY_MAGIC) else "something else"
        raise ValueError(
            f"{path}: not a NumPy .npz archive (it is not a zip file; it is {found}); save "
            "arrays with numpy.savez."
        )
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise ValueError(
                f"{path}: holds an object (pickled) array, which is never loaded for safety; "
                "save plain numeric arrays (e.g. np.save(path, x.astype(np.float32)))."
            ) from err
        raise ValueError(
            f"{path}: not a readable NumPy file ({err}); the file is damaged or truncated — "
            "re-save it with numpy.save / numpy.savez."
        ) from err
    except _NUMPY_READ_ERRORS as err:
        raise ValueError(
            f"{path}: not a readable NumPy file ({type(err).__name__}: {err}); the file is "
            "damaged or truncated — re-save it with numpy.save / numpy.savez."
        ) from err


def _check_array(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == object:
        raise ValueError(
            f"{where}: an object array is not supported; store a numeric array instead."
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        if x.dtype != np.bool_:
            raise ValueError(
                f"{where}: dtype {x.dtype} is not numeric; store integers or real numbers."
            )
    return x


def _split_array(x: np.ndarray, where: str) -> list[np.ndarray]:
    """1-D ``[T]`` and 2-D ``[T, D]``: one sequence; 3-D ``[N, T, D]``: N sequences."""
    _check_array(x, where)
    if x.ndim in (1, 2):
        return [x]
    if x.ndim == 3:
        return [x[n] for n in range(x.shape[0])]
    raise ValueError(f"{where}: expected an array [T], [T, D] or [N, T, D], got shape {x.shape}.")


def _read_npy(path: Path) -> list[np.ndarray]:
    x = _load_numpy(path)
    return _split_array(x, str(path))


def _read_npz(path: Path) -> list[np.ndarray]:
    npz = _load_numpy(path)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not a .npz archive; rename it to .npy.")
    with npz:
        keys = list(npz.files)
        if not keys:
            raise ValueError(f"{path}: the archive holds no arrays; the file is empty.")
        try:
            if "data" not in keys:
                if "lengths" in keys:
                    raise ValueError(
                        f"{path}: key 'lengths' without key 'data'; store the padded array "
                        "under 'data'."
                    )
                xs = []
                for key in keys:
                    x = _check_array(npz[key], f"{path}, array {key!r}")
                    if x.ndim not in (1, 2):
                        raise ValueError(
                            f"{path}, array {key!r}: one sequence per array must be [T] or "
                            f"[T, D], got shape {x.shape}."
                        )
                    xs.append(x)
                return xs
            extra = [k for k in keys if k not in ("data", "lengths")]
            if extra:
                raise ValueError(
                    f"{path}: unexpected keys {extra} next to 'data'; an archive holds either "
                    "'data' (+ 'lengths') or one array per sequence."
                )
            data = npz["data"]
            if "lengths" not in keys:
                return _split_array(data, f"{path}, array 'data'")
            return _unpad(data, npz["lengths"], path)
        except ValueError as err:
            if "pickle" in str(err).lower():
                raise ValueError(
                    f"{path}: holds an object (pickled) array, which is never loaded for "
                    "safety; save plain numeric arrays."
                ) from err
            if str(err).startswith(str(path)):
                raise
            raise ValueError(
                f"{path}: not a readable NumPy .npz archive ({err}); the file is damaged — "
                "re-save it with numpy.savez."
            ) from err
        except _NUMPY_READ_ERRORS as err:
            raise ValueError(
                f"{path}: not a readable NumPy .npz archive ({type(err).__name__}: {err}); "
                "the file is damaged or truncated — re-save it with numpy.savez."
            ) from err


def _unpad(data: np.ndarray, lengths: np.ndarray, path: Path) -> list[np.ndarray]:
    _check_array(data, f"{path}, array 'data'")
    if data.ndim not in (2, 3):
        raise ValueError(
            f"{path}: with 'lengths', 'data' must be padded [N, T] or [N, T, D], got shape "
            f"{data.shape}."
        )
    if lengths.ndim != 1 or not (
        np.issubdtype(lengths.dtype, np.integer) and lengths.shape[0] == data.shape[0]
    ):
        raise ValueError(
            f"{path}: 'lengths' must be integers of shape [N] = [{data.shape[0]}] (one per "
            f"row of 'data'), got {lengths.dtype} of shape {lengths.shape}."
        )
    T = data.shape[1]
    for n, length in enumerate(lengths):
        if not 1 <= length <= T:
            raise ValueError(
                f"{path}: lengths[{n}] = {length} does not fit 'data' of padded length {T}; "
                f"each length must be in 1..{T}."
            )
    return [data[n, : int(length)] for n, length in enumerate(lengths)]


# ---------------------------------------------------------------------------------------------
# Delimited text
# ---------------------------------------------------------------------------------------------


def _is_number(cell: str) -> bool:
    """A strict number literal (:mod:`lsgm.data.numbers`): no ``1_000``, no ``1,000``."""
    return is_number_literal(cell)


def _read_delimited(path: Path, delimiter: str, suffix: str) -> list[np.ndarray]:
    try:
        if suffix.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as f:
                text = f.read()
        else:
            with open(path, encoding="utf-8-sig", newline="") as f:
                text = f.read()
    except UnicodeDecodeError as err:
        from lsgm.data.fasta import decode_error_message

        raise ValueError(decode_error_message(path, err)) from err
    except (OSError, EOFError, zlib.error) as err:  # gzip errors are OSErrors
        raise ValueError(f"{path}: cannot read the file ({err}).") from err
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise ValueError(
            f"{path}, line {reader.line_num}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} "
            f"quoting ({err}); close every quote, or remove the quote characters."
        ) from err
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise ValueError(f"{path}: the file is empty; give one row per time step.")
    rows = [[cell.strip() for cell in row] for row in rows]
    name = "tab" if delimiter == "\t" else "comma"

    header = None
    numeric = [_is_number(cell) for cell in rows[0]]
    if not any(numeric):
        header, rows = rows[0], rows[1:]
    elif not all(numeric):
        j = numeric.index(False)
        raise ValueError(
            f"{path}, line 1, column {j + 1}: {rows[0][j]!r} is not a number, but other cells "
            "of line 1 are; a header row must be all names, a data row all numbers."
        )
    first_line = 2 if header is not None else 1
    if not rows:
        raise ValueError(f"{path}: the file has a header but no data rows.")
    width = len(header) if header is not None else len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            if len(row) == 1 and row[0] == "":
                raise ValueError(f"{path}, line {first_line + i}: blank line; remove it.")
            raise ValueError(
                f"{path}, line {first_line + i}: {len(row)} {name}-separated columns, expected "
                f"{width} (as on line {1 if header is not None else first_line}); fix the row."
            )

    seq_col = None
    if header is not None:
        names = [h.strip() for h in header]
        twice = next((h for i, h in enumerate(names) if h in names[:i]), None)
        if twice is not None:
            raise ValueError(
                f"{path}, line 1: the column name {twice!r} appears twice; give every column "
                "its own name."
            )
        lowered = [h.strip().lower() for h in header]
        found = [j for j, h in enumerate(lowered) if h in SEQUENCE_COLUMNS]
        if len(found) > 1:
            raise ValueError(
                f"{path}, line 1: several sequence-id columns {[header[j] for j in found]}; "
                "keep one."
            )
        seq_col = found[0] if found else None
    feature_cols = [j for j in range(width) if j != seq_col]
    if not feature_cols:
        raise ValueError(f"{path}: no feature columns (only the sequence id).")

    cells = np.array([[row[j] for j in feature_cols] for row in rows], dtype=str)
    values = _parse_cells(cells, path, first_line, feature_cols, header)
    if seq_col is None:
        return [values]
    ids = [row[seq_col] for row in rows]
    return _split_by_id(values, ids, path, first_line, header[seq_col])


def _column_name(j: int, header) -> str:
    return f"column {j + 1}" + (f" ({header[j]!r})" if header is not None else "")


def _parse_cells(cells, path, first_line, feature_cols, header) -> np.ndarray:
    """Strings ``[T, D]`` -> int32 when every cell is an integer literal, else float32. Cells
    are parsed strictly (:mod:`lsgm.data.numbers`): ``1_000`` or ``1,000`` is an error."""

    def where(i, j) -> str:
        return f"{path}, line {first_line + i}, {_column_name(feature_cols[j], header)}"

    if all(is_int_literal(cell) for cell in cells.flat):
        ints = np.array([[_saturate(cell) for cell in row] for row in cells], np.int64)
        ints = ints.reshape(cells.shape)
        bad = (ints < _INT32.min) | (ints > _INT32.max)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where(i, j)}: {cells[i, j]} does not fit a 32-bit integer; rescale the data."
            )
        return ints.astype(np.int32)
    for (i, j), cell in np.ndenumerate(cells):
        problem = describe_problem(cell)
        if problem is not None:
            raise ValueError(
                f"{where(i, j)}: {problem}; every cell must be a plain number such as 12, "
                "-0.5 or 1e-3 (a header is only allowed on line 1)."
            )
    floats = cells.astype(np.float64)
    _check_finite(floats, where)
    return floats.astype(np.float32)


def _saturate(cell: str) -> int:
    """An integer literal clipped to just outside int32 (the caller reports those)."""
    return min(max(int(cell), _INT32.min - 1), _INT32.max + 1)


def _split_by_id(values, ids, path, first_line, id_name) -> list[np.ndarray]:
    xs, seen, start = [], set(), 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start]:
            if ids[start] in seen:
                raise ValueError(
                    f"{path}, line {first_line + start}: {id_name} {ids[start]!r} appears again "
                    "after other sequences; put each sequence's rows together."
                )
            seen.add(ids[start])
            xs.append(values[start:i])
            start = i
    return xs


# ---------------------------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------------------------


def _check_finite(x: np.ndarray, where) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        idx = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"{where(*idx)}: {x[idx]} is not a finite number; remove or impute the missing value."
        )


def _finish(xs: list[np.ndarray], path: Path) -> list[np.ndarray]:
    """One dtype (int32 or float32) and one feature shape for all sequences; no empty ones."""
    if not xs:
        raise ValueError(f"{path}: the file holds no sequences; the file is empty.")
    feature_shape = xs[0].shape[1:]
    for n, x in enumerate(xs):
        if x.shape[0] == 0:
            raise ValueError(f"{path}: sequence {n} has no time steps; the data are empty.")
        if x.shape[1:] != feature_shape:
            raise ValueError(
                f"{path}: sequence {n} has shape {x.shape}, but sequence 0 has {xs[0].shape}; "
                "every sequence needs the same features per step."
            )
    as_int = all(np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_ for x in xs)
    out = []
    for n, x in enumerate(xs):
        if as_int:
            if x.dtype != np.bool_ and x.size and (x.min() < _INT32.min or x.max() > _INT32.max):
                raise ValueError(
                    f"{path}: sequence {n} holds integers beyond the 32-bit range; rescale them."
                )
            out.append(x.astype(np.int32))
        else:
            _check_finite(x, lambda *idx, n=n: f"{path}: sequence {n}, index {list(idx)}")
            with np.errstate(over="ignore"):  # reported just below
                y = x.astype(np.float32)
            if not np.isfinite(y).all():
                idx = tuple(int(k) for k in np.argwhere(~np.isfinite(y))[0])
                raise ValueError(
                    f"{path}: sequence {n}, index {list(idx)}: {x[idx]} is too large for "
                    "float32; rescale the data."
                )
            out.append(y)
    return out


__all__ = ["SUPPORTED_SUFFIXES", "check_feature_count", "read_table"]
