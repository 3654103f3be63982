"""DNA motif (position weight matrix) readers: JASPAR, MEME minimal, TRANSFAC, UniPROBE.

Every reader returns a list of :class:`Motif`, each holding an ``[L, 4]`` matrix over the
alphabet ``A, C, G, T`` (lsgm's DNA order, rows = motif positions):

* :func:`read_jaspar` — ``>ID NAME`` then four rows ``A [ c1 c2 ... ]`` (brackets optional,
  the letters in any order; unlabelled rows are read in the order A, C, G, T, as in ``.pfm``
  files). Counts.
* :func:`read_meme` — MEME minimal format v4: ``MOTIF id [name]`` then
  ``letter-probability matrix: alength= 4 w= L ...`` and ``L`` rows of 4 probabilities.
  Rows must sum to 1 within 0.01 (the format rounds to 6 decimals) and are renormalised.
* :func:`read_transfac` — records ``AC``/``ID``/``PO A C G T``/numbered count rows/``//``.
* :func:`read_uniprobe_pwm` — UniPROBE ``A:<TAB>p1<TAB>p2...`` rows (one per letter), each
  block optionally preceded by a header line such as ``Protein: Plagl1<TAB>Seed k-mer: ...``.
  Columns must sum to 1 within 0.01 and are renormalised.

:func:`read_motifs` picks the reader from the suffix or the content; gzipped files are read
transparently. Count matrices become probabilities by dividing each position by its total,
``p[l, a] = n[l, a] / sum_b n[l, b]``.

Every malformed input — rows of unequal length, a wrong alphabet size, a non-numeric or
negative value, a position whose values sum to 0, ``w=`` disagreeing with the rows, a missing
header — raises a ``ValueError`` naming the file and the 1-based line, with the fix.
"""

from __future__ import annotations

import difflib
import gzip
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgm.data.dna import ALPHABET as DNA
from lsgm.data.fasta import decode_error_message, open_text
from lsgm.data.numbers import is_number_literal

FORMATS = ("jaspar", "meme", "transfac", "uniprobe")
_SUFFIX_FORMATS = {
    ".jaspar": "jaspar",
    ".pfm": "jaspar",
    ".meme": "meme",
    ".transfac": "transfac",
    ".dat": "transfac",
}
_ROW_SUM_TOLERANCE = 0.01  # probability formats print rounded values


@dataclass(frozen=True, eq=False)
class Motif:
    """One DNA motif.

    Attributes:
        name: the factor's name (e.g. ``"EGR1"``).
        identifier: the database identifier (e.g. ``"MA0162.5"``); the name when none.
        counts: ``[L, 4]`` float64 site counts (JASPAR/TRANSFAC) or ``None``.
        probabilities: ``[L, 4]`` float64, ``p[l, a]`` = probability of base ``a``
            (A, C, G, T) at position ``l``; each row sums to 1.
    """

    name: str
    identifier: str
    counts: np.ndarray | None
    probabilities: np.ndarray

    def __post_init__(self) -> None:
        probs = _check_matrix(self.probabilities, f"motif {self.identifier!r} probabilities")
        if np.any(np.abs(probs.sum(1) - 1.0) > 1e-6):
            raise ValueError(
                f"motif {self.identifier!r}: probability rows must sum to 1 "
                f"(sums {np.round(probs.sum(1), 6).tolist()})."
            )
        probs = probs.copy()
        probs.setflags(write=False)
        object.__setattr__(self, "probabilities", probs)
        if self.counts is not None:
            counts = _check_matrix(self.counts, f"motif {self.identifier!r} counts").copy()
            if counts.shape != probs.shape:
                raise ValueError(
                    f"motif {self.identifier!r}: counts {counts.shape} and probabilities "
                    f"{probs.shape} differ in shape."
                )
            counts.setflags(write=False)
            object.__setattr__(self, "counts", counts)

    def __len__(self) -> int:
        return int(self.probabilities.shape[0])

    def pwm(self, pseudocount: float = 0.01) -> np.ndarray:
        """``[L, 4]`` probabilities with ``pseudocount`` added to every entry and each row
        renormalised, ``(p + c) / (1 + 4c)``, so that no base has probability 0."""
        if not np.isfinite(pseudocount) or pseudocount < 0:
            raise ValueError(f"pseudocount={pseudocount} must be a finite number >= 0.")
        p = self.probabilities + pseudocount
        return p / p.sum(1, keepdims=True)

    def log_odds(
        self, background: Sequence[float] = (0.25, 0.25, 0.25, 0.25), pseudocount: float = 0.01
    ) -> np.ndarray:
        """``[L, 4]`` log-odds scores in bits, ``log2(pwm(pseudocount)[l, a] / background[a])``;
        the score of a site is the sum of its bases' entries."""
        bg = np.asarray(background, np.float64)
        if bg.shape != (4,) or np.any(~np.isfinite(bg)) or np.any(bg <= 0):
            raise ValueError(f"background={list(background)} must be 4 positive numbers (A C G T).")
        if abs(bg.sum() - 1.0) > 1e-6:
            raise ValueError(f"background={list(background)} must sum to 1.")
        with np.errstate(divide="ignore"):
            return np.log2(self.pwm(pseudocount) / bg)

    def information_content(self) -> np.ndarray:
        """``[L]`` information content in bits, ``IC_l = 2 - H_l`` with the entropy
        ``H_l = -sum_a p[l, a] log2 p[l, a]`` (``0 log 0 = 0``): 0 for a uniform position,
        2 for a single certain base."""
        return information_content(self.probabilities)

    def reverse_complement(self) -> Motif:
        """The motif of the opposite strand: positions reversed and A<->T, C<->G swapped
        (``p_rc[l, a] = p[L-1-l, 3-a]``). Name and identifier are kept."""
        counts = None if self.counts is None else self.counts[::-1, ::-1]
        return Motif(self.name, self.identifier, counts, self.probabilities[::-1, ::-1])

    def __repr__(self) -> str:
        return f"Motif({self.identifier!r}, {self.name!r}, length={len(self)})"


def _check_matrix(matrix, what: str) -> np.ndarray:
    m = np.asarray(matrix, np.float64)
    if m.ndim != 2 or m.shape[1] != 4 or m.shape[0] < 1:
        raise ValueError(f"{what}: expected an [L, 4] matrix (A C G T columns), got {m.shape}.")
    if np.any(~np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"{what}: values must be finite and >= 0.")
    return m


def information_content(probabilities: np.ndarray) -> np.ndarray:
    """``[L]`` bits, ``2 + sum_a p log2 p`` for an ``[L, 4]`` probability matrix."""
    p = np.asarray(probabilities, np.float64)
    plogp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return 2.0 + plogp.sum(-1)


# --------------------------------------------------------------------------- readers


def _read_lines(path) -> tuple[Path, list[str]]:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; pass the file itself.")
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    try:
        with open_text(path) as handle:
            lines = [line.rstrip("\r\n") for line in handle]
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({err}).") from err
    except UnicodeDecodeError as err:
        raise ValueError(decode_error_message(path, err)) from err
    return path, lines


def _numbers(tokens: Iterable[str], where: str) -> list[float]:
    values = []
    for token in tokens:
        if not is_number_literal(token):
            raise ValueError(f"{where}: {token!r} is not a number; fix the matrix.")
        value = float(token)
        if not np.isfinite(value):
            raise ValueError(f"{where}: {token!r} is not finite; fix the matrix.")
        if value < 0:
            raise ValueError(f"{where}: negative value {token}; counts/probabilities are >= 0.")
        values.append(value)
    return values


def _motif_from_rows(
    name: str,
    identifier: str,
    rows: np.ndarray,
    where: str,
    row_lines: Sequence[int],
    is_counts: bool,
) -> Motif:
    """``rows`` ``[L, 4]`` (positions x A C G T); ``row_lines[l]`` = the file line of position
    ``l`` (or of the letter row when positions are columns, repeated)."""
    totals = rows.sum(1)
    for l_pos, total in enumerate(totals):
        if total <= 0:
            raise ValueError(
                f"{where}, line {row_lines[l_pos]}: motif {identifier!r} position {l_pos + 1} "
                "sums to 0; every position needs a positive count/probability."
            )
        if not is_counts and abs(total - 1.0) > _ROW_SUM_TOLERANCE:
            raise ValueError(
                f"{where}, line {row_lines[l_pos]}: motif {identifier!r} position {l_pos + 1} "
                f"probabilities sum to {total:.6g}, not 1; this format stores probabilities."
            )
    probs = rows / totals[:, None]
    return Motif(name, identifier, rows if is_counts else None, probs)


def read_jaspar(path) -> list[Motif]:
    """Read a JASPAR-format file (``.jaspar`` / ``.pfm``): ``>ID NAME`` headers, each followed
    by four count rows ``A [ ... ]``, ``C``, ``G``, ``T`` (see the module docstring)."""
    path, lines = _read_lines(path)
    motifs: list[Motif] = []
    header: tuple[int, str, str] | None = None
    rows: dict[str, tuple[int, list[float]]] = {}

    def finish(end_line: int) -> None:
        lineno, ident, name = header
        if len(rows) != 4:
            raise ValueError(
                f"{path}, line {lineno}: motif {ident!r} has {len(rows)} letter rows, expected "
                f"4 (A, C, G, T) before line {end_line}."
            )
        first = rows["A"]
        for letter in DNA:
            row_line, values = rows[letter]
            if len(values) != len(first[1]):
                raise ValueError(
                    f"{path}, line {row_line}: row {letter} has {len(values)} values but row A "
                    f"(line {first[0]}) has {len(first[1])}; rows must have equal length."
                )
        matrix = np.array([rows[b][1] for b in DNA], np.float64).T
        motifs.append(
            _motif_from_rows(name, ident, matrix, str(path), [lineno] * len(matrix), True)
        )

    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        where = f"{path}, line {lineno}"
        if text.startswith(">"):
            if header is not None:
                finish(lineno)
            parts = text[1:].split(None, 1)
            if not parts:
                raise ValueError(f"{where}: empty '>' header; write '>ID NAME'.")
            ident = parts[0]
            header = (lineno, ident, parts[1].strip() if len(parts) > 1 else ident)
            rows = {}
            continue
        if header is None:
            raise ValueError(f"{where}: matrix row before any '>ID NAME' header.")
        letter, body = _split_letter_row(text, len(rows), where)
        if letter in rows:
            raise ValueError(f"{where}: second {letter} row for motif {header[1]!r}.")
        rows[letter] = (lineno, _numbers(body.split(), where))
        if not rows[letter][1]:
            raise ValueError(f"{where}: row {letter} has no values.")
    if header is None:
        raise ValueError(f"{path}: no '>ID NAME' header; not a JASPAR file.")
    finish(len(lines) + 1)
    return motifs


def _split_letter_row(text: str, index: int, where: str) -> tuple[str, str]:
    first = text.split(None, 1)[0]
    if re.fullmatch(r"[A-Za-z]:?", first):
        letter = first[0].upper()
        body = text[len(first) :].strip()
        if letter not in DNA:
            raise ValueError(
                f"{where}: row letter {first!r} is not A, C, G or T; DNA motifs have 4 rows."
            )
    else:  # unlabelled .pfm rows, in A C G T order
        if index >= 4:
            raise ValueError(f"{where}: a fifth matrix row; DNA motifs have 4 rows (A C G T).")
        letter, body = DNA[index], text
    opened, closed = body.startswith("["), body.endswith("]")
    if opened != closed:
        raise ValueError(f"{where}: unbalanced brackets in {text!r}; write 'A [ 1 2 3 ]'.")
    if opened:
        body = body[1:-1]
    return letter, body


def read_meme(path) -> list[Motif]:
    """Read a MEME minimal-format (v4) file: ``MOTIF id [name]`` sections with a
    ``letter-probability matrix: alength= 4 w= L`` block of ``L`` rows of 4 probabilities."""
    path, lines = _read_lines(path)
    motifs: list[Motif] = []
    i = 0
    while i < len(lines):
        text = lines[i].strip()
        lineno = i + 1
        where = f"{path}, line {lineno}"
        if text.startswith("ALPHABET"):
            alphabet = text.split("=", 1)[1].strip() if "=" in text else ""
            if alphabet.split()[:1] != ["ACGT"]:
                raise ValueError(
                    f"{where}: ALPHABET {alphabet!r} is not ACGT; only DNA motifs are supported."
                )
        if not text.startswith("MOTIF"):
            i += 1
            continue
        parts = text.split()
        if len(parts) < 2:
            raise ValueError(f"{where}: 'MOTIF' without an identifier; write 'MOTIF id [name]'.")
        ident = parts[1]
        name = " ".join(parts[2:]) or ident
        # find the letter-probability matrix header of this motif
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(("letter-probability", "MOTIF")):
            j += 1
        if j == len(lines) or not lines[j].strip().startswith("letter-probability"):
            raise ValueError(f"{where}: motif {ident!r} has no 'letter-probability matrix' block.")
        header_where = f"{path}, line {j + 1}"
        fields = dict(re.findall(r"(\w+)\s*=\s*(\S+)", lines[j].split(":", 1)[-1]))
        alength = _int_field(fields, "alength", 4, header_where)
        if alength != 4:
            raise ValueError(
                f"{header_where}: alength= {alength}, but DNA motifs have 4 letters (A C G T)."
            )
        width = _int_field(fields, "w", None, header_where)
        rows, row_lines = [], []
        k = j + 1
        while k < len(lines):
            row_text = lines[k].strip()
            if not row_text or not re.match(r"[-+.0-9]", row_text):
                break
            row_where = f"{path}, line {k + 1}"
            values = _numbers(row_text.split(), row_where)
            if len(values) != alength:
                raise ValueError(
                    f"{row_where}: {len(values)} values in a matrix row, expected alength= "
                    f"{alength} (A C G T)."
                )
            rows.append(values)
            row_lines.append(k + 1)
            k += 1
        if not rows:
            raise ValueError(f"{header_where}: motif {ident!r} matrix has no rows.")
        if width is not None and width != len(rows):
            raise ValueError(
                f"{header_where}: w= {width} but the matrix of motif {ident!r} has {len(rows)} "
                f"rows (lines {row_lines[0]}-{row_lines[-1]}); fix w= or the rows."
            )
        matrix = np.array(rows, np.float64)
        motifs.append(_motif_from_rows(name, ident, matrix, str(path), row_lines, False))
        i = k
    if not motifs:
        raise ValueError(f"{path}: no 'MOTIF' sections; not a MEME motif file.")
    return motifs


def _int_field(fields: dict[str, str], key: str, default, where: str):
    if key not in fields:
        return default
    if not is_number_literal(fields[key]):
        raise ValueError(f"{where}: {key}= {fields[key]!r} is not a number.")
    value = float(fields[key])
    if not np.isfinite(value):
        raise ValueError(f"{where}: {key}= {fields[key]!r} is not finite.")
    return int(value)


def read_transfac(path) -> list[Motif]:
    """Read a TRANSFAC-format matrix file (``.gz`` allowed): records with ``AC`` (identifier),
    ``ID`` (name), a ``PO``/``P0`` header naming the 4 letter columns, numbered count rows
    (an optional trailing consensus letter is ignored) and a closing ``//``. A last record
    without ``//`` at the end of the file is accepted; blocks with neither ``AC``/``ID`` nor a
    matrix (the ``VV``/``XX`` file header) are skipped."""
    path, lines = _read_lines(path)
    motifs: list[Motif] = []
    record: dict | None = None

    def finish(end_line: int) -> None:
        start = record["line"]
        ident = record.get("AC") or record.get("ID")
        if ident is None and record["columns"] is None and not record["rows"]:
            return  # a file header block (VV/XX lines), not a matrix record
        if ident is None:
            raise ValueError(f"{path}, line {start}: record without an AC or ID line.")
        name = record.get("ID") or ident
        if record["columns"] is None or not record["rows"]:
            raise ValueError(
                f"{path}, line {start}: record {ident!r} (ending on line {end_line}) has no "
                "'PO A C G T' matrix."
            )
        order = [record["columns"].index(b) for b in DNA]
        matrix = np.array(record["rows"], np.float64)[:, order]
        motifs.append(_motif_from_rows(name, ident, matrix, str(path), record["row_lines"], True))

    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        where = f"{path}, line {lineno}"
        if not text:
            continue
        if record is None:
            record = {"line": lineno, "columns": None, "rows": [], "row_lines": []}
        if text.startswith("//"):
            finish(lineno)
            record = None
            continue
        tag, _, value = text.replace("\t", " ").partition(" ")
        value = value.strip()
        if tag in ("AC", "ID") and tag not in record:
            record[tag] = value.split()[0] if value else None
        elif tag in ("PO", "P0"):
            letters = [letter.upper() for letter in value.split()]
            if len(letters) != 4 or sorted(letters) != sorted(DNA):
                raise ValueError(
                    f"{where}: matrix header {text!r} must name the 4 letters A C G T "
                    f"(found {len(letters)}); only DNA motifs are supported."
                )
            record["columns"] = letters
        elif re.fullmatch(r"\d+", tag):
            if record["columns"] is None:
                raise ValueError(f"{where}: matrix row before the 'PO A C G T' header.")
            tokens = text.split()[1:]
            if len(tokens) == 5 and not re.match(r"[-+.0-9]", tokens[-1]):
                tokens = tokens[:-1]  # consensus letter
            if len(tokens) != 4:
                raise ValueError(
                    f"{where}: {len(tokens)} values in a matrix row, expected 4 (A C G T)."
                )
            if int(tag) != len(record["rows"]) + 1:
                raise ValueError(
                    f"{where}: row number {tag} after {len(record['rows'])} rows; rows must be "
                    "numbered 1, 2, ... without gaps."
                )
            record["rows"].append(_numbers(tokens, where))
            record["row_lines"].append(lineno)
    if record is not None:
        finish(len(lines))
    if not motifs:
        raise ValueError(f"{path}: no TRANSFAC matrix records found.")
    return motifs


def read_uniprobe_pwm(path) -> list[Motif]:
    """Read a UniPROBE PWM file: blocks of four rows ``A:<TAB>p1<TAB>p2 ...`` (letters in any
    order), each optionally preceded by one header line (``Protein: NAME<TAB>Seed k-mer: ...``
    gives the name). Identifiers are the file stem (``stem_2``, ... for later blocks)."""
    path, lines = _read_lines(path)
    stem = path.name.split(".")[0]
    motifs: list[Motif] = []
    name: str | None = None
    rows: dict[str, tuple[int, list[float]]] = {}
    header_line = 0

    def finish() -> None:
        ident = stem if not motifs else f"{stem}_{len(motifs) + 1}"
        first = rows["A"]
        for letter in DNA:
            if len(rows[letter][1]) != len(first[1]):
                raise ValueError(
                    f"{path}, line {rows[letter][0]}: row {letter} has {len(rows[letter][1])} "
                    f"values but row A (line {first[0]}) has {len(first[1])}."
                )
        matrix = np.array([rows[b][1] for b in DNA], np.float64).T
        lines_of = [rows["A"][0]] * len(matrix)
        motifs.append(_motif_from_rows(name or stem, ident, matrix, str(path), lines_of, False))

    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        where = f"{path}, line {lineno}"
        if not text:
            continue
        match = re.match(r"([A-Za-z])\s*:\s*(.*)$", text)
        if match is None:
            if rows:
                raise ValueError(
                    f"{where}: header {text[:60]!r} inside a matrix (only {len(rows)} of the 4 "
                    f"A/C/G/T rows since line {header_line or lineno}); complete the matrix."
                )
            protein = re.search(r"Protein:\s*([^\t]+)", text)
            name = protein.group(1).strip() if protein else None
            header_line = lineno
            continue
        letter = match.group(1).upper()
        if letter not in DNA:
            raise ValueError(
                f"{where}: row letter {match.group(1)!r} is not A, C, G or T; DNA PWMs have 4 rows."
            )
        if letter in rows:
            raise ValueError(f"{where}: second {letter} row in one matrix (need A, C, G, T once).")
        values = _numbers(match.group(2).split(), where)
        if not values:
            raise ValueError(f"{where}: row {letter} has no values.")
        rows[letter] = (lineno, values)
        if len(rows) == 4:
            finish()
            rows, name = {}, None
    if rows:
        raise ValueError(
            f"{path}: the last matrix has {len(rows)} of the 4 rows A, C, G, T; the file is "
            "truncated."
        )
    if not motifs:
        raise ValueError(f"{path}: no 'A:' ... 'T:' matrix rows; not a UniPROBE PWM file.")
    return motifs


_READERS = {
    "jaspar": read_jaspar,
    "meme": read_meme,
    "transfac": read_transfac,
    "uniprobe": read_uniprobe_pwm,
}


def _sniff(lines: list[str]) -> str | None:
    content = [line.strip() for line in lines if line.strip()]
    if not content:
        return None
    first = content[0]
    if first.startswith("MEME version") or any(x.startswith("MOTIF") for x in content[:50]):
        return "meme"
    if first.startswith(">"):
        return "jaspar"
    if re.match(r"(AC|ID|VV|XX|NA|DE)(\s|$)", first):
        return "transfac"
    if any(re.match(r"[ACGT]:\s", x) for x in content[:2]):
        return "uniprobe"
    return None


def read_motifs(path, format: str = "auto") -> list[Motif]:
    """Read motifs in ``format`` (``"jaspar"``, ``"meme"``, ``"transfac"``, ``"uniprobe"``), or
    with ``"auto"`` choose by suffix (``.jaspar``/``.pfm``, ``.meme``, ``.transfac``/``.dat``,
    each optionally ``.gz``) and otherwise by content (``MEME version``/``MOTIF``, ``>``,
    TRANSFAC tags ``AC``/``ID``, UniPROBE ``A:`` rows)."""
    if format != "auto":
        if format not in _READERS:
            raise ValueError(f"unknown motif format {format!r}; use one of {FORMATS} or 'auto'.")
        return _READERS[format](path)
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIX_FORMATS:
        return _READERS[_SUFFIX_FORMATS[suffixes[-1]]](path)
    path, lines = _read_lines(path)
    found = _sniff(lines)
    if found is None:
        raise ValueError(
            f"{path}: cannot tell the motif format from the suffix or content; pass "
            f"format= one of {FORMATS}."
        )
    return _READERS[found](path)


def find_motif(motifs: Sequence[Motif], query: str) -> Motif:
    """The motif whose identifier is ``query`` (exactly, or without its ``.version``) or, failing
    that, whose name equals ``query`` case-insensitively; errors list the close names."""
    if not motifs:
        raise ValueError("no motifs to search.")
    for motif in motifs:
        if motif.identifier == query:
            return motif
    by_base = [m for m in motifs if m.identifier.split(".")[0] == query]
    by_name = [m for m in motifs if m.name.casefold() == query.casefold()]
    for hits in (by_base, by_name):
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            ids = ", ".join(f"{m.identifier} ({m.name})" for m in hits)
            raise ValueError(f"{query!r} matches {len(hits)} motifs: {ids}; pass an identifier.")
    labels = {m.name.casefold(): m.name for m in motifs}
    labels.update({m.identifier.casefold(): m.identifier for m in motifs})
    close = difflib.get_close_matches(query.casefold(), list(labels), n=5, cutoff=0.5)
    hint = (
        f"close: {', '.join(labels[c] for c in close)}"
        if close
        else f"available: {', '.join(m.name for m in motifs[:10])}"
        + (" ..." if len(motifs) > 10 else "")
    )
    raise ValueError(f"no motif named {query!r} among {len(motifs)} motifs; {hint}.")


# --------------------------------------------------------------------------- comparison


def _as_probabilities(m, what: str) -> np.ndarray:
    if isinstance(m, Motif):
        return m.probabilities
    p = _check_matrix(m, what)
    sums = p.sum(1)
    if np.any(np.abs(sums - 1.0) > 1e-3):
        raise ValueError(f"{what}: rows must sum to 1 (got {np.round(sums, 4).tolist()}).")
    return p / sums[:, None]


def motif_correlation(a, b, weights="information") -> float:
    """The best weighted Pearson correlation between two motifs over shifts and strands.

    ``a`` ``[La, 4]`` and ``b`` ``[Lb, 4]`` are probability matrices (or :class:`Motif`).
    For each strand of ``b`` (``b`` and its reverse complement ``b[::-1, ::-1]``) and each
    shift ``s`` that overlaps ``O = {l : 0 <= l < La, 0 <= l - s < Lb}`` in at least
    ``max(1, min(La, Lb) - 2)`` columns, the aligned entries ``x = a[l, c]``,
    ``y = b[l - s, c]`` (``l in O``, ``c in ACGT``) are compared by the Pearson correlation
    with weight ``w_l`` on all four entries of column ``l``:

        r = sum_l w_l sum_c (x - mx)(y - my) / sqrt(sum_l w_l sum_c (x - mx)^2 * same for y),

    where ``mx = my = 1/4`` are the weighted means (every row sums to 1). ``weights`` is
    ``"information"`` (``w_l`` = the information content of column ``l`` of ``a``, in bits,
    so uninformative flanks of ``a`` do not count), ``"uniform"`` (all 1) or an ``[La]``
    array. An alignment where either side is constant (all-uniform columns) scores 0.

    Returns:
        ``max`` of ``r`` over strands and shifts, in ``[-1, 1]``.
    """
    pa, pb = _as_probabilities(a, "motif a"), _as_probabilities(b, "motif b")
    La, Lb = len(pa), len(pb)
    if isinstance(weights, str):
        if weights == "information":
            w = information_content(pa)
        elif weights == "uniform":
            w = np.ones(La)
        else:
            raise ValueError(f"weights={weights!r}: use 'information', 'uniform' or an [La] array.")
    else:
        w = np.asarray(weights, np.float64)
        if w.shape != (La,) or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be {La} finite numbers >= 0, got shape {w.shape}.")
    w = np.clip(w, 0.0, None)  # IC may be -1e-16 from rounding
    if w.sum() <= 0:
        raise ValueError("motif a has zero total weight (no information); use weights='uniform'.")
    min_overlap = max(1, min(La, Lb) - 2)
    xa = pa - 0.25
    best = -np.inf
    for pb_strand in (pb, pb[::-1, ::-1]):
        yb = pb_strand - 0.25
        for s in range(-(Lb - 1), La):
            lo, hi = max(0, s), min(La, Lb + s)
            if hi - lo < min_overlap:
                continue
            x, y, ww = xa[lo:hi], yb[lo - s : hi - s], w[lo:hi, None]
            sxy = float(np.sum(ww * x * y))
            sxx, syy = float(np.sum(ww * x * x)), float(np.sum(ww * y * y))
            r = sxy / np.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0
            best = max(best, r)
    return float(best)


__all__ = [
    "FORMATS",
    "Motif",
    "find_motif",
    "information_content",
    "motif_correlation",
    "read_jaspar",
    "read_meme",
    "read_motifs",
    "read_transfac",
    "read_uniprobe_pwm",
]
