"""ChromHMM's file formats: binarized data and ``model_K.txt`` model files.

**Binarized files** (``CELL_CHROM_binary.txt``, gzip allowed), one per cell and chromosome:
line 1 ``cell<TAB>chromosome``, line 2 the mark names (tab-separated), then one line per bin
(200 bp by default) with one value per mark: ``0`` absent, ``1`` present, ``2`` missing (no
data for that mark there). A folder of them is read with ChromHMM's rule (every
non-hidden file whose name contains ``_binary``, sorted by name) and its marks are matched
**by name** across files, in any column order; a mark that a file lacks is missing (``2``)
in all of that file's bins, never absent.

**Model files** (``model_K.txt``, as ChromHMM 1.24 writes and reads them, tab-separated):

* line 1: ``K  D  order-letter  log-likelihood  iterations`` (the order letter is ``E``:
  states in emission order, ``T`` transition order, ``F`` as trained; the log-likelihood is
  ``-Infinity`` before any iteration);
* ``probinit  k  p`` for each state ``k`` (1-based);
* ``transitionprobs  i  j  p``: ``p(z_{t+1} = j | z_t = i)``;
* ``emissionprobs  k  d  mark  v  p``: ``p(x_d = v | z = k)`` for ``v`` in 0, 1, with ``d``
  the mark's 0-based index.

Probabilities are written with :func:`repr` (the shortest text that reads back as the same
double), which Java's ``Double.parseDouble`` reads too.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgm.data.files import atomic_write_text

#: The value of a missing mark in a binarized file.
MISSING = 2


@dataclass
class Binarized:
    """One binarized file: ``x [T, D]`` int8 with 0 (absent), 1 (present), 2 (missing); the
    columns follow ``marks``."""

    path: Path
    cell: str
    chrom: str
    marks: list[str]
    x: np.ndarray

    def missing(self) -> int:
        """The number of missing (``2``) entries."""
        return int(np.count_nonzero(self.x == MISSING))


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read ({err}).") from err


def read_binarized(path: str | os.PathLike[str]) -> Binarized:
    """Read one ChromHMM binarized file (plain or gzip; module docstring).

    Returns:
        :class:`Binarized` with ``x [T, D]`` int8, columns in the file's mark order.

    Raises:
        ValueError: naming the file and line (and mark) of the first problem: a header
            without ``cell<TAB>chromosome``, an empty or repeated mark name, a row with the
            wrong number of values, a value other than 0, 1 or 2, no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    lines = _read_bytes(path).replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        head = [line.decode("utf-8") for line in lines[:2]]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}, lines 1-2: not UTF-8 text ({err.reason}).") from err
    if len(head) < 2:
        raise ValueError(f"{path}: needs a 'cell<TAB>chromosome' line and a line of mark names.")
    first = head[0].split("\t")
    if len(first) < 2 or not first[0] or not first[1]:
        raise ValueError(
            f"{path}, line 1: expected 'cell<TAB>chromosome', got {head[0]!r} (the first line "
            "of a ChromHMM binarized file)."
        )
    marks = head[1].split("\t")
    if not all(m.strip() for m in marks):
        raise ValueError(f"{path}, line 2: empty mark name in {head[1]!r}.")
    repeated = sorted({m for m in marks if marks.count(m) > 1})
    if repeated:
        raise ValueError(f"{path}, line 2: mark name(s) {repeated} appear more than once.")
    D, body = len(marks), lines[2:]
    if not body:
        raise ValueError(f"{path}: no data lines after the mark names (line 3 on).")
    width = 2 * D - 1
    lengths = np.fromiter(map(len, body), np.int64, len(body))
    if np.any(lengths != width):
        i = int(np.flatnonzero(lengths != width)[0])
        _raise_row_error(path, i + 3, body[i], marks)
    grid = np.frombuffer(b"".join(body), np.uint8).reshape(len(body), width)
    not_tab = np.any(grid[:, 1::2] != ord("\t"), axis=1)
    if not_tab.any():
        i = int(np.flatnonzero(not_tab)[0])
        _raise_row_error(path, i + 3, body[i], marks)
    values = grid[:, ::2].astype(np.int16) - ord("0")
    bad = (values < 0) | (values > MISSING)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        value = chr(grid[row, 2 * col])
        raise ValueError(
            f"{path}, line {row + 3}, mark {marks[col]!r}: value {value!r} is not 0, 1 or 2 "
            "(absent, present, missing)."
        )
    return Binarized(path, first[0], first[1], marks, values.astype(np.int8))


def _raise_row_error(path: Path, number: int, line: bytes, marks: list[str]) -> None:
    text = line.decode("utf-8", errors="replace")
    fields = text.split("\t")
    if len(fields) != len(marks):
        raise ValueError(
            f"{path}, line {number}: {len(fields)} tab-separated values, expected {len(marks)} "
            f"(one per mark): {text[:80]!r}."
        )
    col = next(i for i, f in enumerate(fields) if f not in ("0", "1", "2"))
    raise ValueError(
        f"{path}, line {number}, mark {marks[col]!r}: value {fields[col]!r} is not 0, 1 or 2 "
        "(absent, present, missing)."
    )


def binarized_files(
    folder: str | os.PathLike[str], file_list: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The files ChromHMM's ``LearnModel`` reads from ``folder``: names containing
    ``_binary``, not hidden (no leading dot); sorted by name. With ``file_list`` (ChromHMM's
    ``-f``): the files of ``folder`` named in it, one name a line, in its order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of ChromHMM binarized files.")
    if file_list is not None:
        listed: list[Path] = []
        text = Path(file_list).read_text("utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            name = line.strip()
            if not name:
                continue
            path = folder / name
            if not path.is_file():
                raise ValueError(
                    f"{file_list}, line {number}: {name!r} is not a file in {folder}; list "
                    "the names of binarized files of INPUTDIR, one a line."
                )
            if path in listed:
                raise ValueError(f"{file_list}, line {number}: {name!r} is listed twice.")
            listed.append(path)
        if not listed:
            raise ValueError(f"{file_list}: lists no files; name one binarized file a line.")
        return listed
    files = sorted(
        p
        for p in folder.iterdir()
        if "_binary" in p.name and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise ValueError(
            f"{folder}: no files with '_binary' in their name (ChromHMM's rule; e.g. "
            "CELL_chr1_binary.txt.gz from ChromHMM BinarizeBed)."
        )
    return files


def align_marks(data: Binarized, marks: Sequence[str]) -> Binarized:
    """``data`` with its columns in the order of ``marks``; a mark the file lacks is missing
    (``2``) everywhere; a mark of the file not in ``marks`` is an error."""
    marks = list(marks)
    extra = [m for m in data.marks if m not in marks]
    if extra:
        raise ValueError(
            f"{data.path}, line 2: mark(s) {extra} are not among the model's marks {marks}."
        )
    if data.marks == marks:
        return data
    x = np.full((data.x.shape[0], len(marks)), MISSING, np.int8)
    for j, m in enumerate(data.marks):
        x[:, marks.index(m)] = data.x[:, j]
    return Binarized(data.path, data.cell, data.chrom, marks, x)


def read_binarized_folder(
    folder: str | os.PathLike[str],
    marks: Sequence[str] | None = None,
    file_list: str | os.PathLike[str] | None = None,
) -> list[Binarized]:
    """Every binarized file of ``folder`` (:func:`binarized_files`), columns matched by mark
    name (:func:`align_marks`).

    Args:
        folder: the ChromHMM ``INPUTDIR``.
        marks: the column order (e.g. a model's marks); default: the first file's marks,
            then any other mark in the order the files name it.
        file_list: ChromHMM's ``-f``: only the files named in it (:func:`binarized_files`).

    Returns:
        One :class:`Binarized` per file, all with the same ``marks``; a file lacking a mark
        has ``2`` (missing) in that column.

    Raises:
        ValueError: a file's problem (:func:`read_binarized`), or two files for the same
            cell and chromosome.
    """
    data = [read_binarized(p) for p in binarized_files(folder, file_list)]
    seen: dict[tuple[str, str], Path] = {}
    for d in data:
        if (d.cell, d.chrom) in seen:
            raise ValueError(
                f"{d.path}, line 1: cell {d.cell!r}, chromosome {d.chrom!r} is also in "
                f"{seen[(d.cell, d.chrom)]}; keep one file per cell and chromosome."
            )
        seen[(d.cell, d.chrom)] = d.path
    if marks is None:
        names: list[str] = []
        for d in data:
            names += [m for m in d.marks if m not in names]
        marks = names
    return [align_marks(d, marks) for d in data]


def write_binarized(
    path: str | os.PathLike[str], cell: str, chrom: str, marks: Sequence[str], x: np.ndarray
) -> None:
    """Write ``x [T, D]`` (0/1/2) as a ChromHMM binarized file (plain text), atomically."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != len(marks) or not np.isin(x, (0, 1, 2)).all():
        raise ValueError(f"x must be [T, {len(marks)}] with values 0, 1, 2; got {x.shape}.")
    body = "".join("\t".join(map(str, row)) + "\n" for row in x.tolist())
    atomic_write_text(path, f"{cell}\t{chrom}\n" + "\t".join(marks) + "\n" + body)


@dataclass
class ChromHMMModel:
    """The parameters of a ChromHMM model: ``initial [K]``, ``transition [K, K]`` (rows =
    from-state), ``emission [K, D]`` = ``p(mark d present | state k)``, the ``D`` mark names,
    the log-likelihood in the header, the number of iterations and the letter of the state
    order (``E`` emission, ``T`` transition, ``F`` fixed)."""

    initial: np.ndarray
    transition: np.ndarray
    emission: np.ndarray
    marks: list[str]
    log_likelihood: float = -np.inf
    iterations: int = 0
    order: str = "E"

    @property
    def num_states(self) -> int:
        """``K``."""
        return int(self.emission.shape[0])

    def with_marks(self, marks: Sequence[str]) -> ChromHMMModel:
        """The same model with its emission columns in the order of ``marks`` (the same set
        of names)."""
        marks = list(marks)
        if sorted(marks) != sorted(self.marks):
            raise ValueError(
                f"the model's marks {self.marks} differ from the data's {marks}; segment "
                "with data binarized for the same marks."
            )
        order = [self.marks.index(m) for m in marks]
        return dataclasses.replace(self, emission=self.emission[:, order], marks=marks)


def format_chromhmm_model(model: ChromHMMModel) -> str:
    """``model`` as the text of a ChromHMM ``model_K.txt`` file (module docstring)."""
    K, D = model.emission.shape
    ll = model.log_likelihood
    head = ("-Infinity" if ll == -np.inf else repr(float(ll))) if not np.isnan(ll) else "NaN"
    out = [f"{K}\t{D}\t{model.order}\t{head}\t{int(model.iterations)}"]
    out += [f"probinit\t{k + 1}\t{float(p)!r}" for k, p in enumerate(model.initial)]
    out += [
        f"transitionprobs\t{i + 1}\t{j + 1}\t{float(model.transition[i, j])!r}"
        for i in range(K)
        for j in range(K)
    ]
    for k in range(K):
        for d in range(D):
            p = float(model.emission[k, d])
            out.append(f"emissionprobs\t{k + 1}\t{d}\t{model.marks[d]}\t0\t{1.0 - p!r}")
            out.append(f"emissionprobs\t{k + 1}\t{d}\t{model.marks[d]}\t1\t{p!r}")
    return "\n".join(out) + "\n"


def write_chromhmm_model(path: str | os.PathLike[str], model: ChromHMMModel) -> None:
    """Write ``model`` as a ChromHMM ``model_K.txt`` file, atomically."""
    atomic_write_text(path, format_chromhmm_model(model))


def read_chromhmm_model(path: str | os.PathLike[str]) -> ChromHMMModel:
    """Read a ChromHMM ``model_K.txt`` file (module docstring), as ChromHMM 1.24 writes it.

    Raises:
        ValueError: naming the file and line of the first problem, or the probability that
            is missing; emission pairs that do not sum to 1; initial or transition rows that
            do not sum to 1 (within 1e-6).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file.")
    lines = path.read_text("utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}, line 1: empty model file.")
    head = lines[0].split("\t")
    try:
        K, D = int(head[0]), int(head[1])
        ll = float(head[3].replace("Infinity", "inf"))
        iterations = int(head[4])
    except (IndexError, ValueError) as err:
        raise ValueError(
            f"{path}, line 1: expected 'K<TAB>D<TAB>order<TAB>loglik<TAB>iterations' (a "
            f"ChromHMM model file), got {lines[0]!r}."
        ) from err
    if K < 1 or D < 1:
        raise ValueError(f"{path}, line 1: K = {K} and D = {D} must be >= 1.")
    initial = np.full(K, np.nan)
    transition = np.full((K, K), np.nan)
    emission = np.full((K, D, 2), np.nan)
    names: list[str | None] = [None] * D
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        f = line.split("\t")
        where = f"{path}, line {number}"
        try:
            if f[0] == "probinit" and len(f) == 3:
                initial[_index(f[1], K, 1)] = _prob(f[2])
            elif f[0] == "transitionprobs" and len(f) == 4:
                transition[_index(f[1], K, 1), _index(f[2], K, 1)] = _prob(f[3])
            elif f[0] == "emissionprobs" and len(f) == 6:
                k, d, v = _index(f[1], K, 1), _index(f[2], D, 0), _index(f[4], 2, 0)
                if names[d] not in (None, f[3]):
                    raise ValueError(f"mark {d} is named {f[3]!r}, before {names[d]!r}")
                names[d] = f[3]
                emission[k, d, v] = _prob(f[5])
            else:
                raise ValueError(
                    "expected a probinit (3 fields), transitionprobs (4) or emissionprobs "
                    f"(6) line, got {line[:80]!r}"
                )
        except ValueError as err:
            raise ValueError(f"{where}: {err}.") from err
    for name, arr in (("probinit", initial), ("transitionprobs", transition)):
        if np.isnan(arr).any():
            raise ValueError(f"{path}: {int(np.isnan(arr).sum())} {name} value(s) missing.")
    if np.isnan(emission).any():
        k, d, v = (int(a[0]) for a in np.nonzero(np.isnan(emission)))
        raise ValueError(f"{path}: no emissionprobs line for state {k + 1}, mark {d}, value {v}.")
    for what, sums in (
        ("the emissionprobs of a state and mark", emission.sum(-1)),
        ("probinit", initial.sum(keepdims=True)),
        ("a transitionprobs row", transition.sum(-1)),
    ):
        off = np.abs(sums - 1) > 1e-6
        if off.any():
            at = tuple(int(a[0]) + 1 for a in np.nonzero(off))
            raise ValueError(f"{path}: {what} (at {at}) sum to {sums[off][0]:.9g}, not 1.")
    order = head[2][:1] or "E"
    return ChromHMMModel(
        initial, transition, emission[..., 1], [str(n) for n in names], ll, iterations, order
    )


def _index(text: str, n: int, base: int) -> int:
    i = int(text) - base
    if not 0 <= i < n:
        raise ValueError(f"index {text} outside {base}..{n - 1 + base}")
    return i


def _prob(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {text} is not in [0, 1]")
    return p
