"""Universal protein-binding-microarray (PBM) probe tables → ``[N, L]`` DNA arrays + intensities.

A universal PBM (Berger et al. 2006; Berger & Bulyk 2009) measures the binding of one
transcription factor to ~41,000 double-stranded 60-nt probes. Each probe is a 36-nt
variable (de Bruijn) region followed by a constant 24-nt primer
:data:`PBM_PRIMER` at its 3' end. The UniPROBE / PBM-analysis-suite tables are two tab-separated
columns, one probe per line, sorted by decreasing signal:

* ``intensity<TAB>probe`` (the Bulyk suite and UniPROBE downloads), or
* ``probe<TAB>intensity``;

the orientation is detected from the first data line (the column that parses as a number is
the intensity) and every later line must agree. An optional header line is allowed only as
line 1, and only when its intensity column is not a number. Blank lines are allowed at the end
of the file only. Probe letters are read case-insensitively and must be ``A``, ``C``, ``G`` or
``T``. Intensities are finite floats; negative values are allowed (background-subtracted
arrays). gzip input is detected by its magic bytes.

By default the primer is stripped, keeping the variable region (as DeepBind / DeeperBind
do); ``primer=None`` keeps the whole probe. All kept regions must have one length ``L`` so
that models can batch them as one ``[N, L]`` array.

Every problem raises a ``ValueError`` naming the file, the 1-based line and the offending
value, with the fix.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgm.data.dna import ALPHABET as DNA
from lsgm.data.dna import lookup
from lsgm.data.fasta import decode_error_message, open_text
from lsgm.data.numbers import is_number_literal

#: The constant 24-nt primer at the 3' end of every universal-PBM probe (Berger et al. 2006).
PBM_PRIMER = "GTCTGTGTTCCGTTGTCCGTGCTG"

_DNA_SET = frozenset(DNA)


@dataclass(frozen=True, eq=False)
class PBMArray:
    """The probes and intensities of one PBM experiment.

    Attributes:
        sequences: ``[N, L]`` int8 probe (variable-region) symbols, ``A=0 C=1 G=2 T=3``
            (lsgm's DNA alphabet ``"ACGT"``), in file order.
        intensities: ``[N]`` float64 probe intensities, in file order.
        path: the file the probes were read from.
    """

    sequences: np.ndarray
    intensities: np.ndarray
    path: str

    def __post_init__(self) -> None:
        seqs, ys = np.asarray(self.sequences), np.asarray(self.intensities)
        if seqs.ndim != 2 or ys.ndim != 1 or seqs.shape[0] != ys.shape[0]:
            raise ValueError(
                f"PBMArray needs sequences [N, L] and intensities [N]; got shapes "
                f"{seqs.shape} and {ys.shape}."
            )
        object.__setattr__(self, "sequences", seqs.astype(np.int8, copy=False))
        object.__setattr__(self, "intensities", ys.astype(np.float64, copy=False))

    def __len__(self) -> int:
        return int(self.intensities.shape[0])

    def probes(self) -> list[str]:
        """The probe sequences back as strings (``[N]`` strings of length ``L``)."""
        letters = np.frombuffer(DNA.encode("ascii"), np.uint8)[self.sequences]
        return [row.tobytes().decode("ascii") for row in letters]

    def subset(self, index) -> PBMArray:
        """The probes selected by ``index`` (integer indices, a boolean ``[N]`` mask or a
        slice), e.g. the train part of :func:`split_indices`."""
        return PBMArray(self.sequences[index], self.intensities[index], self.path)


def _is_number(text: str) -> bool:
    """A strict number literal (:mod:`lsgm.data.numbers`): no ``1_000``, no ``1,000``."""
    return is_number_literal(text)


def _check_probe(probe: str, where: str) -> str:
    probe = probe.upper()
    if not probe:
        raise ValueError(f"{where}: the probe sequence is empty; remove the line or fix the file.")
    if not _DNA_SET.issuperset(probe):
        pos, letter = next((i, c) for i, c in enumerate(probe) if c not in _DNA_SET)
        raise ValueError(
            f"{where}: probe letter {letter!r} at position {pos + 1} is not A, C, G or T; "
            "PBM probes must be plain DNA - fix or drop the line."
        )
    return probe


def read_pbm(path, primer: str | None = PBM_PRIMER, max_probes: int | None = None) -> PBMArray:
    """Read a universal-PBM probe table (see the module docstring for the format).

    Args:
        path: a two-column tab-separated table (optionally gzipped).
        primer: the constant 3' primer to strip from every probe (default
            :data:`PBM_PRIMER`, leaving the 36-nt variable region); every probe must end with
            it. ``None`` keeps whole probes.
        max_probes: read only the first ``max_probes`` data lines. The files are sorted by
            decreasing signal, so this keeps the *brightest* probes — a biased sample meant
            for quick runs only; prefer ``read_pbm(path).subset(random_indices)``.

    Returns:
        a :class:`PBMArray` with ``sequences`` ``[N, L]`` int8 and ``intensities`` ``[N]``
        float64, in file order.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; pass the file itself.")
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    if primer is not None:
        primer = primer.upper()
        if not primer or not _DNA_SET.issuperset(primer):
            raise ValueError(
                f"primer={primer!r} must be a non-empty A/C/G/T string; use primer=None to "
                "keep whole probes."
            )
    if max_probes is not None and (isinstance(max_probes, bool) or max_probes < 1):
        raise ValueError(f"max_probes={max_probes!r} must be a positive integer or None.")
    try:
        with open_text(path) as handle:
            probes, values = _parse(handle, str(path), primer, max_probes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({err}).") from err
    except UnicodeDecodeError as err:
        raise ValueError(decode_error_message(path, err)) from err
    codes = lookup("".join(probes))
    sequences = codes.reshape(len(probes), len(probes[0]))
    return PBMArray(sequences, np.asarray(values, np.float64), str(path))


def _parse(handle, name: str, primer: str | None, max_probes: int | None):
    probes: list[str] = []
    values: list[float] = []
    intensity_col: int | None = None  # 0 = intensity first, 1 = probe first
    orientation_line = 0
    first_length_line = 0
    blank_line = 0  # first blank line seen after data (0 = none)
    for lineno, raw in enumerate(handle, start=1):
        if max_probes is not None and len(probes) >= max_probes:
            break
        line = raw.rstrip("\r\n")
        where = f"{name}, line {lineno}"
        if not line.strip():
            blank_line = blank_line or lineno
            continue
        if blank_line:
            raise ValueError(
                f"{name}, line {blank_line}: blank line inside the table (data follows on line "
                f"{lineno}); remove it."
            )
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 2:
            raise ValueError(
                f"{where}: expected 2 tab-separated columns (intensity, probe), found "
                f"{len(fields)}: {line[:80]!r}."
            )
        numeric = [_is_number(field) for field in fields]
        if all(numeric):
            raise ValueError(
                f"{where}: both columns are numbers ({line[:80]!r}); one must be the probe "
                "sequence."
            )
        if intensity_col is None:
            if not any(numeric) and lineno == 1:
                continue  # header line
            if not any(numeric):
                raise ValueError(
                    f"{where}: no numeric intensity column in {line[:80]!r}; only line 1 may "
                    "be a header."
                )
            intensity_col, orientation_line = numeric.index(True), lineno
        probe_col = 1 - intensity_col
        if not numeric[intensity_col]:
            layout = ("intensity<TAB>probe", "probe<TAB>intensity")[intensity_col]
            raise ValueError(
                f"{where}: intensity {fields[intensity_col]!r} is not a number"
                + (
                    f"; the columns are swapped relative to line {orientation_line} "
                    f"({layout}) - every line must use one layout."
                    if numeric[probe_col]
                    else f" (layout {layout} detected on line {orientation_line}; only line 1 "
                    "may be a header); fix the value."
                )
            )
        value = float(fields[intensity_col])
        if not math.isfinite(value):
            raise ValueError(
                f"{where}: intensity {fields[intensity_col]!r} is not finite; fix or drop the line."
            )
        probe = _check_probe(fields[probe_col], where)
        if primer is not None:
            if not probe.endswith(primer):
                raise ValueError(
                    f"{where}: probe {probe!r} does not end with the primer {primer!r}; pass "
                    "primer=None to keep whole probes (or the primer your array uses)."
                )
            probe = probe[: -len(primer)]
            if not probe:
                raise ValueError(f"{where}: the probe is only the primer; no variable region.")
        if probes and len(probe) != len(probes[0]):
            raise ValueError(
                f"{where}: the probe region has length {len(probe)} but line "
                f"{first_length_line} has {len(probes[0])}; all probes must have one length "
                "(models batch them as one [N, L] array) - trim or drop the odd lines."
            )
        if not probes:
            first_length_line = lineno
        probes.append(probe)
        values.append(value)
    if not probes:
        raise ValueError(f"{name}: no probe lines found; expected 'intensity<TAB>probe' lines.")
    return probes, values


def split_indices(
    n: int, fractions: Sequence[float] = (0.7, 0.3), seed: int = 0
) -> tuple[np.ndarray, ...]:
    """A random split of ``range(n)`` into disjoint parts covering it.

    Part ``j`` gets the shuffled indices between ``round(n * c_{j-1})`` and ``round(n * c_j)``,
    where ``c_j`` are the cumulative ``fractions`` (which must be positive and sum to 1). Each
    part is returned sorted (file order), as an ``int64`` array.
    """
    fractions = np.asarray(fractions, np.float64)
    if fractions.ndim != 1 or fractions.size < 1 or np.any(~np.isfinite(fractions)):
        raise ValueError(f"fractions={fractions.tolist()} must be a list of finite numbers.")
    if np.any(fractions <= 0) or abs(fractions.sum() - 1.0) > 1e-9:
        raise ValueError(
            f"fractions={fractions.tolist()} must be positive and sum to 1 (e.g. (0.7, 0.3))."
        )
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fractions) * n).astype(np.int64)
    bounds[-1] = n
    parts = np.split(order, bounds[:-1])
    for j, part in enumerate(parts):
        if part.size == 0:
            raise ValueError(
                f"split part {j} of {n} items with fractions {fractions.tolist()} is empty; "
                "use more items or larger fractions."
            )
    return tuple(np.sort(part).astype(np.int64) for part in parts)


def kfold_indices(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` shuffled cross-validation folds of ``range(n)`` (``sklearn.model_selection.KFold``
    with ``shuffle=True, random_state=seed``): ``[(train, test)] * k``; the test parts are
    disjoint and cover ``range(n)``, and each train part is the complement of its test part."""
    from sklearn.model_selection import KFold

    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2 or k > n:
        raise ValueError(f"k={k!r} folds needs an integer 2 <= k <= n = {n}.")
    folds = KFold(n_splits=int(k), shuffle=True, random_state=seed)
    return [(train, test) for train, test in folds.split(np.arange(n))]


def normalise_intensities(y, method: str = "log") -> np.ndarray:
    """Transform probe intensities ``y`` ``[N]`` for regression (float64 ``[N]``).

    * ``"log"``: ``log(y - min(y) + 1)`` — strictly increasing, so it keeps the ranks (and
      Spearman correlations) while taming the heavy upper tail; the minimum maps to 0 and
      negative (background-subtracted) values are handled.
    * ``"zscore"``: ``(y - mean(y)) / std(y)``.
    * ``"none"``: ``y`` unchanged (as float64).
    """
    y = np.asarray(y, np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"intensities must be a non-empty [N] array; got shape {y.shape}.")
    if not np.all(np.isfinite(y)):
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"intensity {bad} is {y[bad]}; intensities must be finite.")
    if method == "log":
        return np.log(y - y.min() + 1.0)
    if method == "zscore":
        std = y.std()
        if std == 0:
            raise ValueError("all intensities are equal; z-scores are undefined (use 'none').")
        return (y - y.mean()) / std
    if method == "none":
        return y.copy()
    raise ValueError(f"unknown method {method!r}; use 'log', 'zscore' or 'none'.")


__all__ = [
    "PBM_PRIMER",
    "PBMArray",
    "kfold_indices",
    "normalise_intensities",
    "read_pbm",
    "split_indices",
]
