"""Strict parsing of numbers in data files.

Python's ``int()`` and ``float()`` (and NumPy's string conversion) accept more than a data
file should hold: digit-group underscores (``1_000``), non-ASCII digits (``١٢``), inner
whitespace. A data cell here is a number only when it is, after stripping the surrounding
whitespace,

* an integer: ``[+-]?[0-9]+``;
* a decimal: ``[+-]?`` digits with an optional ``.`` and fraction (or ``.5``), with an
  optional exponent ``e``/``E`` ``[+-]?[0-9]+``;
* ``nan``, ``inf`` or ``infinity`` (any case, signed) — recognised so that the reader can
  report them as missing values, which are never accepted as data.

Anything else — ``1_000``, ``1,000`` (a thousands separator in a tab-separated file),
``1 000``, ``0x10``, ``1.5.2`` — is not a number; :func:`number_problem` says why.
"""

from __future__ import annotations

import re

_INT = re.compile(r"[+-]?[0-9]+\Z")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)


def is_int_literal(cell: str) -> bool:
    """Whether ``cell`` (stripped) is a plain integer literal."""
    return _INT.match(cell.strip()) is not None


def is_number_literal(cell: str) -> bool:
    """Whether ``cell`` (stripped) is a strict number literal (including nan/inf)."""
    cell = cell.strip()
    return _DECIMAL.match(cell) is not None or _NONFINITE.match(cell) is not None


def number_problem(cell: str) -> str | None:
    """``None`` for a strict number literal, else a phrase saying what is wrong with it."""
    text = cell.strip()
    if is_number_literal(text):
        return None
    if text == "":
        return "an empty cell"
    if "_" in text and is_number_literal(text.replace("_", "")):
        return f"{text!r} uses '_' as a digit-group separator, which is not allowed (write it "
    if "," in text and is_number_literal(text.replace(",", "")):
        return f"{text!r} uses ',' as a thousands separator, which is not allowed (write it "
    if any(c.isspace() for c in text) and is_number_literal("".join(text.split())):
        return f"{text!r} has a space inside the number, which is not allowed (write it "
    return f"non-numeric value {text!r}"


def describe_problem(cell: str) -> str | None:
    """:func:`number_problem` as a complete phrase (with the fix where one is clear)."""
    problem = number_problem(cell)
    if problem is None or not problem.endswith("(write it "):
        return problem
    return problem + f"{''.join(c for c in cell.strip() if c not in '_, ')!r} instead)"


__all__ = ["describe_problem", "is_int_literal", "is_number_literal", "number_problem"]
