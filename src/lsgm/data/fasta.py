"""FASTA / FASTQ (optionally gzipped) → symbol arrays or soft observations, via Biopython.

A record becomes either integer symbols ``[T]`` over an alphabet (default ``ACGT``) or, when
a position is uncertain, soft observations ``[T, M]`` (a probability vector per position):

* IUPAC ambiguity codes (``N``, ``R``, ``Y``, ...) with ``ambiguous="soft"`` spread the mass
  uniformly over the bases they stand for; ``ambiguous="error"`` (default) rejects them;
* FASTQ Phred qualities with ``quality="soft"``: the called base gets ``1 - e`` and the other
  bases ``e / (M - 1)`` each, with error probability ``e = 10^(-q / 10)``.

Lowercase (soft-masked) letters are read as their uppercase bases. Every problem — a missing
``>`` header, an empty record, an unknown letter, a quality string of the wrong length, a
truncated gzip file — raises a ``ValueError`` naming the file, the record and the position.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from Bio import SeqIO

from lsgm.data.dna import ALPHABET as DNA

#: IUPAC nucleotide codes → the DNA bases they stand for.
IUPAC = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "U": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

_COMPLEMENT = str.maketrans("ACGTRYSWKMBDHVN", "TGCAYRSWMKVHDBN")


class AmbiguousSymbolError(ValueError):
    """An IUPAC ambiguity code where ``ambiguous="error"``; ``where`` names the file, record
    and position, ``letter`` the code and ``bases`` the bases it stands for."""

    def __init__(self, where: str, letter: str, bases: str):
        self.where, self.letter, self.bases = where, letter, bases
        super().__init__(
            f"{where}: ambiguous IUPAC code {letter!r}; pass ambiguous='soft' to read it as a "
            f"uniform distribution over {', '.join(bases)}, or replace it."
        )


@dataclass(frozen=True)
class SequenceRecord:
    """One record: its name and ``symbols`` (``[T]`` int32) or soft observations (``[T, M]``)."""

    name: str
    data: np.ndarray

    @property
    def is_soft(self) -> bool:
        return self.data.ndim == 2


def reverse_complement(seq: str) -> str:
    """The reverse complement of a DNA string (IUPAC codes complemented too)."""
    return seq.upper().translate(_COMPLEMENT)[::-1]


def open_text(path: Path):
    """A UTF-8 text handle on ``path`` (a leading byte-order mark is skipped), gunzipping when
    it starts with the gzip magic bytes. Sequence letters must still be in the alphabet;
    headers may hold any UTF-8 text."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="strict")
    return open(path, encoding="utf-8-sig", errors="strict")


def decode_error_message(path: Path, err: UnicodeDecodeError) -> str:
    """``"PATH, line N: ..."`` for the first byte of ``path`` that is not UTF-8 text."""
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            raw = f.read()
        raw.decode("utf-8")
    except UnicodeDecodeError as first:
        line = raw.count(b"\n", 0, first.start) + 1
        column = first.start - (raw.rfind(b"\n", 0, first.start) + 1) + 1
        byte = raw[first.start]
        return (
            f"{path}, line {line}, column {column}: byte 0x{byte:02x} is not UTF-8 text; a "
            "binary file, or text in another encoding — convert it to UTF-8 (or ASCII)."
        )
    except (OSError, EOFError, zlib.error):
        pass
    return f"{path}: not UTF-8 text ({err.reason}); convert it to UTF-8 (or ASCII)."


def _encode(seq: str, where: str, alphabet: str, ambiguous: str, qualities=None) -> np.ndarray:
    M = len(alphabet)
    seq = seq.upper()
    index = {base: i for i, base in enumerate(alphabet)}
    if not seq:
        raise ValueError(f"{where}: the record is empty; remove it or fix the file.")
    soft_needed = qualities is not None
    hard = np.empty(len(seq), np.int32)
    soft_rows: dict[int, np.ndarray] = {}
    for pos, letter in enumerate(seq):
        i = index.get(letter)
        if i is not None:
            hard[pos] = i
            continue
        bases = IUPAC.get(letter) if alphabet == DNA else None
        if bases is None:
            raise ValueError(
                f"{where}, position {pos + 1}: unknown letter {letter!r}; the alphabet is "
                f"{alphabet!r}" + (" (plus IUPAC codes)." if alphabet == DNA else ".")
            )
        if ambiguous != "soft":
            raise AmbiguousSymbolError(f"{where}, position {pos + 1}", letter, bases)
        row = np.zeros(M, np.float32)
        row[[index[b] for b in bases]] = 1.0 / len(bases)
        soft_rows[pos] = row
        hard[pos] = 0
        soft_needed = True
    if not soft_needed:
        return hard
    soft = np.eye(M, dtype=np.float32)[hard]
    if qualities is not None:
        e = np.power(10.0, -np.asarray(qualities, np.float64) / 10.0).astype(np.float32)
        soft = soft * (1 - e)[:, None] + (1 - soft) * (e / (M - 1))[:, None]
    for pos, row in soft_rows.items():
        soft[pos] = row
    return soft


def read_sequences(
    path,
    *,
    alphabet: str = DNA,
    ambiguous: str = "error",
    quality: str = "ignore",
) -> list[SequenceRecord]:
    """Read a FASTA or FASTQ file (format from the first character; gzip detected).

    Args:
        path: the file.
        alphabet: the symbols, in index order (``"ACGT"``: A=0, C=1, G=2, T=3).
        ambiguous: ``"error"`` or ``"soft"`` for IUPAC ambiguity codes (DNA only).
        quality: for FASTQ, ``"ignore"`` (hard symbols) or ``"soft"`` (Phred → soft).

    Returns:
        One :class:`SequenceRecord` per record, in file order.
    """
    if ambiguous not in ("error", "soft"):
        raise ValueError(f"ambiguous={ambiguous!r} must be 'error' or 'soft'.")
    if quality not in ("ignore", "soft"):
        raise ValueError(f"quality={quality!r} must be 'ignore' or 'soft'.")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a FASTA/FASTQ file; pass the file itself.")
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    try:
        with open_text(path) as handle:
            text_start = handle.read(1)
        if text_start not in (">", "@"):
            found = repr(text_start) if text_start else "an empty file"
            raise ValueError(
                f"{path}: line 1 must start a FASTA ('>') or FASTQ ('@') record; found {found}."
            )
        fmt = "fasta" if text_start == ">" else "fastq"
        records = []
        with open_text(path) as handle:
            for number, rec in enumerate(SeqIO.parse(handle, fmt), start=1):
                where = f"{path}: record {number} ({rec.id})"
                if not rec.id:
                    raise ValueError(
                        f"{path}: record {number} has no name (its header line is just "
                        f"'{text_start}'); give every record a name, e.g. '{text_start}seq{number}'."
                    )
                quals = rec.letter_annotations.get("phred_quality") if quality == "soft" else None
                data = _encode(str(rec.seq), where, alphabet, ambiguous, quals)
                records.append(SequenceRecord(rec.id, data))
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({err}).") from err
    except UnicodeDecodeError as err:
        raise ValueError(decode_error_message(path, err)) from err
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: {err}") from err  # Biopython's own parse errors
    if not records:
        raise ValueError(f"{path}: no records found.")
    return records
