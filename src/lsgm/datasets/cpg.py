"""Human CpG-island windows (hg19) with a per-base island label track.

1,103 windows of 2,000 bases on chr1, each holding one CpG island of the UCSC hg19
``cpgIslandExt`` track (see ``data/SOURCE.md``). Two FASTA files in the same record order:

* ``CpG-islands.2K.seq.fa.gz``: the bases ``A/C/G/T`` (one window has ``N``\\ s);
* ``CpG-islands.2K.lbl.fa.gz``: one label letter per base, ``C`` = inside the island,
  ``N`` = outside.

Headers read ``>chr1:134858-136857 (266,1294)``: ``chrom:first-last`` in **1-based, inclusive**
coordinates (``last - first + 1 = 2000``), so the window is ``[first - 1, last)`` 0-based
half-open, as BED counts. Checked: the island of the first window, bases ``[267, 706)`` of it,
is ``chr1 135124 135563`` in 0-based BED coordinates, exactly the UCSC ``cpgIslandExt`` entry.
The bracketed pair is not used (it reads as the island's 0-based start minus one and the
number of bases after the island, not as the start and length the course notes state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lsgm.data import read_sequences
from lsgm.datasets import data_path

SEQUENCE_FILE = "CpG-islands.2K.seq.fa.gz"
LABEL_FILE = "CpG-islands.2K.lbl.fa.gz"
#: Label letters in index order: ``N`` (outside an island) = 0, ``C`` (island) = 1.
LABEL_ALPHABET = "NC"

_HEADER = re.compile(r"^(?P<chrom>[^:\s]+):(?P<first>\d+)-(?P<last>\d+)$")


@dataclass(frozen=True)
class Window:
    """One genomic window.

    Attributes:
        name: the FASTA record name, e.g. ``"chr1:134858-136857"``.
        chrom: the chromosome, e.g. ``"chr1"``.
        start: 0-based genome position of the window's first base (BED ``start``).
        x: ``[T]`` int32 bases (A=0, C=1, G=2, T=3), or ``[T, 4]`` float32 soft observations
            when the window has IUPAC codes such as ``N`` (a uniform row over the bases
            the code stands for; hard bases are one-hot rows).
        labels: ``[T]`` int32, 1 = CpG island, 0 = outside.
    """

    name: str
    chrom: str
    start: int
    x: np.ndarray
    labels: np.ndarray

    @property
    def end(self) -> int:
        """0-based exclusive end (BED ``end``)."""
        return self.start + len(self.labels)

    @property
    def is_soft(self) -> bool:
        return self.x.ndim == 2


def _coordinates(name: str, length: int, where: str) -> tuple[str, int]:
    """``(chrom, 0-based start)`` from a ``chrom:first-last`` (1-based inclusive) name."""
    match = _HEADER.match(name)
    if match is None:
        raise ValueError(
            f"{where}: the header {name!r} is not 'chrom:first-last' (1-based, inclusive); "
            "fix the header, e.g. '>chr1:134858-136857'."
        )
    first, last = int(match["first"]), int(match["last"])
    if first < 1 or last - first + 1 != length:
        raise ValueError(
            f"{where}: the header {name!r} spans {last - first + 1} bases (1-based, inclusive) "
            f"but the record has {length}; fix the header or the sequence."
        )
    return match["chrom"], first - 1


def load_cpg_islands(path_seq=None, path_lbl=None, *, ambiguous: str = "soft") -> list[Window]:
    """Read the CpG-island windows and their labels.

    Args:
        path_seq: sequence FASTA (gzip allowed); default: the bundled
            ``CpG-islands.2K.seq.fa.gz``.
        path_lbl: label FASTA with letters ``C`` (island) / ``N`` (outside), same record
            names and lengths in the same order; default: the bundled ``.lbl.fa.gz``.
        ambiguous: ``"soft"`` (IUPAC codes such as ``N`` become soft ``[T, 4]`` windows) or
            ``"error"`` (reject them).

    Returns:
        One :class:`Window` per record, in file order.

    Raises:
        ValueError: the files disagree (number of records, a record's name or length), a
            label letter other than ``C``/``N``, or a header that is not ``chrom:first-last``
            — naming the file and the record.

    The bundled files are read once per process (their arrays are read-only); later calls
    return a new list of the same windows.
    """
    if path_seq is None and path_lbl is None:
        return list(_bundled(ambiguous))
    path_seq = Path(path_seq) if path_seq is not None else data_path(SEQUENCE_FILE)
    path_lbl = Path(path_lbl) if path_lbl is not None else data_path(LABEL_FILE)
    return _read(path_seq, path_lbl, ambiguous)


@lru_cache(maxsize=2)
def _bundled(ambiguous: str) -> tuple[Window, ...]:
    windows = _read(data_path(SEQUENCE_FILE), data_path(LABEL_FILE), ambiguous)
    for w in windows:
        w.x.flags.writeable = False
        w.labels.flags.writeable = False
    return tuple(windows)


def _read(path_seq: Path, path_lbl: Path, ambiguous: str) -> list[Window]:
    seqs = read_sequences(path_seq, ambiguous=ambiguous)
    try:
        labels = read_sequences(path_lbl, alphabet=LABEL_ALPHABET)
    except ValueError as err:
        raise ValueError(f"{err} Label files hold C (island) or N (outside) only.") from err
    if len(seqs) != len(labels):
        raise ValueError(
            f"{path_seq} has {len(seqs)} records but {path_lbl} has {len(labels)}; the files "
            "must list the same windows in the same order."
        )
    windows = []
    for number, (seq, lab) in enumerate(zip(seqs, labels, strict=True), start=1):
        where = f"{path_seq}: record {number} ({seq.name})"
        if seq.name != lab.name:
            raise ValueError(
                f"{where}: the label file's record {number} is named {lab.name!r}; the files "
                "must list the same windows in the same order."
            )
        if len(seq.data) != len(lab.data):
            raise ValueError(
                f"{where}: {len(seq.data)} bases but {len(lab.data)} labels in {path_lbl}; "
                "every base needs one label."
            )
        chrom, start = _coordinates(seq.name, len(seq.data), where)
        windows.append(Window(seq.name, chrom, start, seq.data, lab.data.astype(np.int32)))
    return windows


__all__ = ["LABEL_FILE", "SEQUENCE_FILE", "Window", "load_cpg_islands"]
