"""DNA as integer symbols: the one encoding every reader, model and experiment shares.

``A, C, G, T`` (either case) are the symbols ``0, 1, 2, 3`` — the alphabet's order, which is
also the column order of position weight matrices and the lexicographic order of k-mers.
Anything else (``N``, IUPAC ambiguity codes, gaps) is not a plain base: :func:`lookup` marks it
``-1`` and :func:`encode` refuses it, naming where it is.
"""

from __future__ import annotations

import numpy as np

#: The DNA alphabet in symbol order: ``A=0, C=1, G=2, T=3``.
ALPHABET = "ACGT"

#: ``byte -> symbol`` table: ``ACGTacgt`` to ``0..3``, every other byte to ``-1``.
_TABLE = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate(ALPHABET):
    _TABLE[ord(_c)] = _TABLE[ord(_c.lower())] = _i


def lookup(raw: bytes | str) -> np.ndarray:
    """Symbols ``[len(raw)]`` (``int8``) of the bases in ``raw``; ``-1`` where a byte is not
    one of ``ACGTacgt`` (the caller decides how to report it)."""
    if isinstance(raw, str):
        raw = raw.encode("ascii", "replace")
    return _TABLE[np.frombuffer(raw, dtype=np.uint8)]


def encode(seq: str, where: str) -> np.ndarray:
    """Symbols ``[len(seq)]`` (``int8``) of a plain-DNA string (any case).

    Raises:
        ValueError: a symbol other than ``ACGTacgt``, naming ``where`` and its column.
    """
    codes = lookup(seq)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise ValueError(
            f"{where}, column {bad[0] + 1}: symbol {seq[bad[0]]!r} is not one of A, C, G, T; "
            "remove or replace ambiguous bases first."
        )
    return codes


def decode(symbols: np.ndarray) -> str:
    """The string of bases for symbols ``[T]`` in ``0..3`` (the inverse of :func:`encode`)."""
    return "".join(ALPHABET[int(s)] for s in np.asarray(symbols).ravel())


__all__ = ["ALPHABET", "decode", "encode", "lookup"]
