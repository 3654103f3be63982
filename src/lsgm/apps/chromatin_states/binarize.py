"""ChromHMM's ``BinarizeBed``: aligned reads to ``CELL_CHROM_binary.txt`` files of 0/1/2 calls.

The genome is cut into bins of ``bin_size`` bases (the last partial bin of a chromosome is
dropped, as ChromHMM does). A read counts once, in the bin of one position:

* ``+`` strand: ``(start - offset_start + shift) / bin_size``;
* ``-`` strand: ``(end - offset_end - shift) / bin_size``;
* ``center``: ``(start - offset_start + end - offset_end) / (2 bin_size)``;
* ``peaks``: every bin from ``(start - offset_start) / bin_size`` to
  ``(end - offset_end) / bin_size`` (peak calls: a bin touched by a peak is 1, no threshold),

where ``/`` truncates toward zero as Java's integer division does (a ``-`` read ending within
``shift`` bases of the chromosome start lands in bin 0), and a position outside
``[0, number of bins)`` is not counted. BED columns are ``chrom start end`` and a strand in
the sixth column (or the last one when there are fewer); ``colfields`` names other 0-based
columns. ``.gz`` inputs are read as gzip; ``.bam`` inputs through ``pysam`` (the optional
extra ``lsgm[bam]``), every mapped record counting.

A mark is present (1) in bin ``b`` when its count ``c_b`` reaches the threshold

    t(λ) = max(ceil(fold · λ), n(λ), 1, ceil(count_threshold)),

where, for ``X ~ Poisson(λ)``, ``n(λ)`` is the smallest ``n`` with
``P(X > n) < poisson_threshold`` (ChromHMM's default) or, with ``strict_threshold``, with
``P(X >= n) < poisson_threshold``; the terms ``P(X = k)`` are summed one by one exactly as
ChromHMM sums them, so the thresholds agree to the last rounding. Without a control,
``λ`` is the mark's mean count per bin over the chromosomes where the cell has reads. With
a control, ``λ = r · s_b``: ``s_b`` is the control count summed over the bins
``b - flank_width .. b + flank_width`` after adding ``pseudocount_control`` to every bin, and
``r = Σ_b c_b / Σ_b s_b`` over the chromosomes with reads in both. A mark with no file for a
cell is written as 2 (missing) in every bin; chromosomes on which a cell has no read at all
are not written.

Errors name the file and line: a cell-mark row with fewer than three fields, a bad number, a
strand that is not ``+``/``-``, a read that runs past its chromosome's end (a chromosome-sizes
file of another assembly), a file none of whose reads is on a chromosome of the sizes file.
Reads on chromosomes absent from the sizes file (``chrM``, unplaced contigs) are skipped as
ChromHMM skips them, with one warning per file naming the first such line.

Differences from ChromHMM 1.24: ChromHMM keeps the control's "chromosome present" flags
from one cell to the next (a cell's output can then depend on which cell it read first, when
cells' controls cover different chromosomes); here each cell uses its own. ``stacked`` names
the marks ``CELL_MARK`` as ChromHMM 1.27 does (1.24 did not). The ``-splitrows`` and
``-splitcols`` outputs and ``BinarizeBam``'s ``-paired``/``-mixed`` modes are not
implemented.
"""

from __future__ import annotations

import gzip
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lsgm.data import atomic_write_bytes, open_text, write_binarized

#: A missing mark in a binarized file (ChromHMM's 2).
MISSING = 2

#: ChromHMM's bin size (``-b``), in bases.
DEFAULT_BIN_SIZE = 200

#: Reads whose first field is one of these are headers, not reads.
_HEADER_WORDS = ("track", "browser")


@dataclass(frozen=True)
class BinarizeOptions:
    """The options of ChromHMM ``BinarizeBed`` (its flag in brackets; defaults are ChromHMM's).

    Attributes:
        bin_size: bases per bin [``-b``].
        shift: bases a read is shifted 5'→3' [``-n``].
        offset_start: subtracted from the start to make it 0-based inclusive [``-s``].
        offset_end: subtracted from the end to make it 0-based inclusive [``-e``].
        poisson_threshold: the Poisson tail probability [``-p``].
        fold_threshold: the threshold is at least this multiple of λ [``-f``].
        count_threshold: the threshold is at least this count [``-g``].
        strict_threshold: the tail must be strictly below ``poisson_threshold`` [``-strictthresh``].
        pseudocount_control: added to the control count of every bin [``-u``].
        flank_width_control: bins on each side summed into the control background [``-w``].
        center: count the centre of the interval (reads already extended) [``-center``].
        peaks: the inputs are peak calls; every bin a peak touches is 1 [``-peaks``].
        col_fields: 0-based columns ``(chrom, start, end[, strand])`` [``-colfields``].
        stacked: one "genome" cell whose marks are ``CELL_MARK`` [``-stacked``].
        gzip: write ``.txt.gz`` files [``-gzip``].
        control_dir: folder of the control files (default: the input folder) [``-c``].
        signal_dir: also write the counts, ``CELL_CHROM_signal.txt`` [``-t``].
        control_signal_dir: also write the control counts,
            ``CELL_CHROM_controlsignal.txt`` [``-o``].
    """

    bin_size: int = DEFAULT_BIN_SIZE
    shift: int = 100
    offset_start: int = 0
    offset_end: int = 1
    poisson_threshold: float = 1e-4
    fold_threshold: float = 0.0
    count_threshold: float = 0.0
    strict_threshold: bool = False
    pseudocount_control: int = 1
    flank_width_control: int = 5
    center: bool = False
    peaks: bool = False
    col_fields: tuple[int, ...] | None = None
    stacked: bool = False
    gzip: bool = False
    control_dir: Path | None = None
    signal_dir: Path | None = None
    control_signal_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.bin_size < 1:
            raise ValueError(f"bin size (-b) {self.bin_size}: must be a positive integer.")
        # 1 - p must stay below 1 in float64, or the Poisson sum never passes it.
        if not 1e-15 <= self.poisson_threshold < 1:
            raise ValueError(
                f"Poisson threshold (-p) {self.poisson_threshold}: must be in [1e-15, 1) "
                "(e.g. the default 1e-4)."
            )
        for name in ("fold_threshold", "count_threshold"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} {value}: must be a finite number >= 0.")
        if self.flank_width_control < 0 or self.pseudocount_control < 0:
            raise ValueError(
                "the control flank width (-w) and pseudocount (-u) must be >= 0; got "
                f"{self.flank_width_control} and {self.pseudocount_control}."
            )
        if self.col_fields is not None:
            need = 3 if (self.center or self.peaks) else 4
            if len(self.col_fields) < need or min(self.col_fields) < 0:
                raise ValueError(
                    f"-colfields {','.join(map(str, self.col_fields))}: give {need} 0-based "
                    "column indices (chromosome,start,end" + ("" if need == 3 else ",strand") + ")."
                )


# ----------------------------------------------------------------------------- inputs
def java_div(a, b: int):
    """``a / b`` truncated toward zero (Java's integer division), for ints or int arrays."""
    if isinstance(a, np.ndarray):
        q = np.abs(a) // b
        return np.where(a < 0, -q, q)
    q = abs(a) // b
    return -q if a < 0 else q


def numbered_fields(path: Path, what: str = "file") -> Iterator[tuple[int, str, list[str]]]:
    """``(line number, "PATH, line N", whitespace-split fields)`` of each line of a text file
    (``.gz`` allowed) that is not blank, a ``#`` comment or a ``track``/``browser`` header.
    A missing file is a ``ValueError`` naming it as ``what``."""
    try:
        with open_text(path) as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if fields and not fields[0].startswith("#") and fields[0] not in _HEADER_WORDS:
                    yield number, f"{path}, line {number}", fields
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what}.") from None


def parse_int(text: str, where: str, what: str) -> int:
    """``int(text)``, or a ``ValueError`` saying ``where: what 'text' is not an integer.``"""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: {what} {text!r} is not an integer.") from None


def read_chrom_sizes(path: Path) -> dict[str, int]:
    """The chromosome-lengths file: ``chrom<whitespace>length`` per line -> ``{chrom: length}``
    in file order. Blank lines are skipped; a missing or non-integer length or a repeated
    chromosome is an error naming the line."""
    path = Path(path)
    sizes: dict[str, int] = {}
    for _, where, fields in numbered_fields(path, "chromosome-sizes file"):
        if len(fields) < 2:
            raise ValueError(f"{where}: {fields[0]!r} has no length; write 'chrom<TAB>length'.")
        length = parse_int(fields[1], where, "chromosome length")
        if length < 0:
            raise ValueError(f"{where}: negative chromosome length {length}.")
        if fields[0] in sizes:
            raise ValueError(f"{where}: chromosome {fields[0]!r} is listed twice.")
        sizes[fields[0]] = length
    if not sizes:
        raise ValueError(f"{path}: no chromosomes; write one 'chrom<TAB>length' line each.")
    return sizes


@dataclass
class CellMarkTable:
    """The cell-mark-file table: for each ``(cell, mark)`` its read files and control files
    (each file once, in table order)."""

    cells: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    files: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    controls: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: cells with at least one row without a control file
    uncontrolled: set[str] = field(default_factory=set)


def read_cell_mark_table(path: Path, stacked: bool = False) -> CellMarkTable:
    """Read ``cell<TAB>mark<TAB>file[<TAB>controlfile]`` rows (fields trimmed; blank lines
    skipped). Marks are sorted as ChromHMM sorts them; with ``stacked`` the cell is
    ``genome`` and the mark ``CELL_MARK``. A row with fewer than three tab-separated fields
    is an error naming the line."""
    path = Path(path)
    table = CellMarkTable()
    marks: set[str] = set()
    with open_text(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = [x.strip() for x in line.rstrip("\r\n").split("\t") if x.strip()]
            if len(fields) < 3:
                raise ValueError(
                    f"{path}, line {number}: {line.strip()!r} has {len(fields)} tab-separated "
                    "field(s); expected cell<TAB>mark<TAB>file[<TAB>controlfile]."
                )
            cell, mark, name = fields[:3]
            if stacked:
                cell, mark = "genome", f"{cell}_{mark}"
            key = (cell, mark)
            if cell not in table.cells:
                table.cells.append(cell)
            marks.add(mark)
            files = table.files.setdefault(key, [])
            if name not in files:
                files.append(name)
            if len(fields) > 3:
                controls = table.controls.setdefault(key, [])
                if fields[3] not in controls:
                    controls.append(fields[3])
            else:
                table.uncontrolled.add(cell)
    if not table.cells:
        raise ValueError(f"{path}: no rows; write cell<TAB>mark<TAB>file lines.")
    table.marks = sorted(marks)
    return table


@dataclass
class _Reads:
    """Read positions of one file, by chromosome: one bin per read (or a bin range each for
    peaks, as ``(first, last)`` arrays)."""

    bins: dict[str, list[int]] = field(default_factory=dict)
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def _bam_records(path: Path) -> Iterator[tuple[int, str, int, int, str]]:
    try:
        import pysam
    except ImportError:
        raise ValueError(
            f"{path}: reading BAM needs pysam; install it (pip install 'lsgm[bam]') or "
            "convert to BED (bedtools bamtobed)."
        ) from None
    with pysam.AlignmentFile(str(path), "rb", check_sq=False) as bam:
        for number, rec in enumerate(bam.fetch(until_eof=True), 1):
            if rec.is_unmapped or rec.reference_name is None:
                continue
            strand = "-" if rec.is_reverse else "+"
            yield number, rec.reference_name, rec.reference_start, rec.reference_end, strand


def _bed_records(path: Path, o: BinarizeOptions) -> Iterator[tuple[int, str, int, int, str]]:
    strandless = o.center or o.peaks
    cols = o.col_fields
    what = "read file; check the cell-mark table and the input folder"
    for number, where, fields in numbered_fields(path, what):
        if cols is not None:
            if max(cols[: 3 if strandless else 4]) >= len(fields):
                raise ValueError(
                    f"{where}: {len(fields)} columns, but -colfields asks for column "
                    f"{max(cols)} (0-based)."
                )
            chrom, start, end = fields[cols[0]], fields[cols[1]], fields[cols[2]]
            strand = "+" if strandless else fields[cols[3]]
        else:
            need = 3 if strandless else 4
            if len(fields) < need:
                raise ValueError(
                    f"{where}: {len(fields)} columns; a read needs chrom, start, end"
                    + ("" if strandless else " and a strand (6th column, or the last)")
                    + "."
                )
            chrom, start, end = fields[0], fields[1], fields[2]
            strand = "+" if strandless else fields[min(5, len(fields) - 1)]
        if strand not in ("+", "-"):
            raise ValueError(f"{where}: strand {strand!r} is not '+' or '-'.")
        yield number, chrom, parse_int(start, where, "start"), parse_int(end, where, "end"), strand


def read_positions(path: Path, sizes: dict[str, int], o: BinarizeOptions) -> _Reads:
    """Bins of the reads of one BED (``.gz`` allowed) or BAM file, by chromosome.

    Reads past a chromosome's end are errors naming the line; reads on chromosomes not in
    ``sizes`` are skipped with one warning; a file with reads but none on a known
    chromosome is an error (chromosome names that do not match the sizes file)."""
    path = Path(path)
    bam = path.suffix.lower() == ".bam"
    records = _bam_records(path) if bam else _bed_records(path, o)
    out = _Reads()
    bs = o.bin_size
    unknown: dict[str, int] = {}
    first_unknown = 0
    known = 0
    for number, chrom, start, end, strand in records:
        length = sizes.get(chrom)
        if length is None:
            if not unknown:
                first_unknown = number
            unknown[chrom] = unknown.get(chrom, 0) + 1
            continue
        known += 1
        if start < 0 or end > length or end < start:
            raise ValueError(
                f"{path}, {'record' if bam else 'line'} {number}: read {chrom}:{start}-{end} "
                f"is not inside {chrom} (length {length} in the chromosome-sizes file); "
                "use the sizes file of the assembly the reads were aligned to."
            )
        nbins = length // bs
        if o.peaks:
            first = max(0, java_div(start - o.offset_start, bs))
            last = min(nbins - 1, java_div(end - o.offset_end, bs))
            if first <= last:
                out.ranges.setdefault(chrom, []).append((first, last))
            continue
        if o.center:
            b = java_div(start - o.offset_start + end - o.offset_end, 2 * bs)
        elif strand == "+":
            b = java_div(start - o.offset_start + o.shift, bs)
        else:
            b = java_div(end - o.offset_end - o.shift, bs)
        if 0 <= b < nbins:
            out.bins.setdefault(chrom, []).append(b)
    if unknown:
        names = ", ".join(f"{c} ({n})" for c, n in sorted(unknown.items())[:5])
        if known == 0:
            raise ValueError(
                f"{path}, {'record' if bam else 'line'} {first_unknown}: no read is on a "
                f"chromosome of the chromosome-sizes file (reads on {names}); make the "
                "chromosome names agree (e.g. 'chr1' vs '1')."
            )
        warnings.warn(
            f"{path}: skipped {sum(unknown.values())} read(s) on chromosomes not in the "
            f"chromosome-sizes file, from {'record' if bam else 'line'} {first_unknown}: {names}",
            stacklevel=2,
        )
    return out


def _count_grid(
    reads: list[_Reads], sizes: dict[str, int], bin_size: int, init: int
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Counts ``{chrom: [nbins] int64}`` (``init`` plus reads) and the chromosomes with a read."""
    grid = {c: np.full(n // bin_size, init, np.int64) for c, n in sizes.items()}
    present: set[str] = set()
    for r in reads:
        for chrom, bins in r.bins.items():
            grid[chrom] += np.bincount(np.asarray(bins), minlength=grid[chrom].size)
            present.add(chrom)
        for chrom, spans in r.ranges.items():
            a = np.asarray(spans)
            diff = np.zeros(grid[chrom].size + 1, np.int64)
            np.add.at(diff, a[:, 0], 1)
            np.add.at(diff, a[:, 1] + 1, -1)
            grid[chrom] += np.cumsum(diff[:-1])
            present.add(chrom)
    return grid, present


# ------------------------------------------------------------------------- thresholds
def poisson_threshold(
    lam: float,
    p: float = 1e-4,
    fold: float = 0.0,
    count: float = 0.0,
    strict: bool = False,
) -> int:
    """ChromHMM's count threshold for a Poisson background of mean ``lam`` (see the module
    docstring): the terms ``P(X = n)`` are added from ``n = 0`` while the sum is at most
    ``1 - p``; the threshold is the number of terms added (minus one unless ``strict``),
    raised to ``ceil(fold · lam)``, 1 and ``ceil(count)``.

    >>> poisson_threshold(0.5), poisson_threshold(0.5, strict=True)
    (5, 6)
    """
    target = 1 - p
    # log 0 = -inf and -inf * 0 = NaN: a NaN sum (lam <= 0) ends the loop, as in ChromHMM.
    log_lam = math.log(lam) if lam > 0 else (-math.inf if lam == 0 else math.nan)
    total, n, log_fact = 0.0, 0, 0.0
    while total <= target:
        term = math.exp(log_lam * n - lam - log_fact)
        if term == 0.0 and n > lam:  # the sum is stuck below 1 - p in float64
            raise ValueError(
                f"Poisson threshold (-p) {p}: too small for a background of {lam:.4g} reads "
                "per bin in float64; use a larger -p (e.g. 1e-10)."
            )
        total += term
        n += 1
        log_fact += math.log(n)
    if not strict:
        n -= 1
    return max(math.ceil(fold * lam), n, 1, math.ceil(count))


def _window_sum(x: np.ndarray, w: int) -> np.ndarray:
    """``s_b = Σ_{|j-b| <= w, 0 <= j < n} max(x_j, 0)``."""
    c = np.concatenate([[0], np.cumsum(np.maximum(x, 0))])
    idx = np.arange(x.size)
    return c[np.minimum(idx + w + 1, x.size)] - c[np.maximum(idx - w, 0)]


# ----------------------------------------------------------------------------- output
def format_binary(cell: str, chrom: str, marks: list[str], calls: np.ndarray) -> bytes:
    """A ChromHMM binarized file: ``cell<TAB>chrom``, the marks, then one row of 0/1/2 per
    bin (``calls`` is ``[bins, marks]``), formatted by numpy for ``-gzip`` output
    (:func:`lsgm.data.write_binarized` writes the plain-text files)."""
    head = f"{cell}\t{chrom}\n" + "\t".join(marks) + "\n"
    rows, m = calls.shape
    body = np.full((rows, 2 * m), ord("\t"), np.uint8)
    body[:, 0::2] = calls.astype(np.uint8) + ord("0")
    body[:, -1] = ord("\n")
    return head.encode() + body.tobytes()


def _format_counts(cell: str, chrom: str, header: list[str], counts: np.ndarray) -> bytes:
    lines = [f"{cell}\t{chrom}", "\t".join(header)]
    lines += ["\t".join(map(str, row)) for row in counts.tolist()]
    return ("\n".join(lines) + "\n").encode()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)
    return path


# ------------------------------------------------------------------------------- main
def binarize_bed(
    chrom_sizes: Path,
    input_dir: Path,
    cell_mark_table: Path,
    output_dir: Path,
    options: BinarizeOptions | None = None,
) -> list[Path]:
    """ChromHMM ``BinarizeBed CHROMLENGTHFILE INPUTDIR CELLMARKFILETABLE OUTPUTDIR``.

    Args:
        chrom_sizes: ``chrom<TAB>length`` lines.
        input_dir: folder of the read files named in the table (BED, ``.bed.gz`` or BAM).
        cell_mark_table: ``cell<TAB>mark<TAB>file[<TAB>controlfile]`` rows.
        output_dir: where ``CELL_CHROM_binary.txt[.gz]`` files go (created if needed).
        options: :class:`BinarizeOptions` (ChromHMM's defaults if None).

    Returns:
        The paths written: for each cell, one binarized file per chromosome with reads,
        ``[bins, marks]`` of 0/1/2 with marks in sorted order (plus signal files if asked).
    """
    o = options or BinarizeOptions()
    sizes = read_chrom_sizes(Path(chrom_sizes))
    table = read_cell_mark_table(Path(cell_mark_table), o.stacked)
    input_dir = Path(input_dir)
    control_dir = Path(o.control_dir) if o.control_dir is not None else input_dir
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    marks = table.marks
    written: list[Path] = []
    for cell in table.cells:
        grids, present, missing = [], set(), []
        for mark in marks:
            names = table.files.get((cell, mark))
            if names is None:
                missing.append(True)
                grids.append(None)
                continue
            missing.append(False)
            reads = [read_positions(input_dir / n, sizes, o) for n in names]
            g, p = _count_grid(reads, sizes, o.bin_size, 0)
            grids.append(g)
            present |= p
        chroms = [c for c in sizes if c in present]
        counts = {
            c: np.stack(
                [
                    g[c] if g is not None else np.full(sizes[c] // o.bin_size, -1, np.int64)
                    for g in grids
                ],
                axis=1,
            )
            for c in chroms
        }
        control = _control_background(table, cell, marks, sizes, control_dir, o)
        if o.signal_dir is not None:
            for c in chroms:
                data = _format_counts(cell, c, marks, counts[c])
                written.append(_write(Path(o.signal_dir) / f"{cell}_{c}_signal.txt", data, o.gzip))
        if control is not None and o.control_signal_dir is not None and chroms:
            raw = control[1]
            header = ["Control"] if raw[chroms[0]].shape[1] == 1 else marks
            for c in chroms:
                data = _format_counts(cell, c, header, raw[c] - o.pseudocount_control)
                path = Path(o.control_signal_dir) / f"{cell}_{c}_controlsignal.txt"
                written.append(_write(path, data, o.gzip))
        if control is not None:  # written where both the marks and the control have reads
            chroms = [c for c in chroms if c in control[2]]
        if o.peaks:  # peak calls: a bin is present where any peak touches it
            calls = {c: (counts[c] >= 1).astype(np.uint8) for c in chroms}
        elif control is None:
            calls = _calls_uniform(counts, chroms, o)
        else:
            calls = _calls_control(counts, control[0], chroms, o)
        for c in chroms:
            calls[c][:, np.asarray(missing, bool)] = MISSING
            path = output_dir / f"{cell}_{c}_binary.txt"
            if o.gzip:
                written.append(_write(path, format_binary(cell, c, marks, calls[c]), True))
            else:
                write_binarized(path, cell, c, marks, calls[c])
                written.append(path)
    return written


def _control_background(
    table: CellMarkTable,
    cell: str,
    marks: list[str],
    sizes: dict[str, int],
    control_dir: Path,
    o: BinarizeOptions,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], set[str]] | None:
    """``(windowed background [bins, 1 or marks], raw counts + pseudocount, chromosomes with
    control reads)`` of ``cell``, or None when it has no control file. One column when the
    cell has a single control file for every row, else one per mark (a mark without a
    control keeps the pseudocount)."""
    files = {f for m in marks for f in table.controls.get((cell, m), [])}
    if not files:
        return None
    single = len(files) == 1 and cell not in table.uncontrolled
    if single:
        columns = [[next(iter(files))]]
    else:
        columns = [table.controls.get((cell, m), []) for m in marks]
    grids, present = [], set()
    for names in columns:
        reads = [read_positions(control_dir / n, sizes, o) for n in names]
        g, p = _count_grid(reads, sizes, o.bin_size, o.pseudocount_control)
        grids.append(g)
        present |= p
    raw = {c: np.stack([g[c] for g in grids], axis=1) for c in sizes}
    background = {
        c: np.stack([_window_sum(x, o.flank_width_control) for x in raw[c].T], axis=1)
        for c in sizes
    }
    return background, raw, present


def _threshold(lam: float, o: BinarizeOptions) -> int:
    return poisson_threshold(
        lam, o.poisson_threshold, o.fold_threshold, o.count_threshold, o.strict_threshold
    )


def _calls_uniform(
    counts: dict[str, np.ndarray], chroms: list[str], o: BinarizeOptions
) -> dict[str, np.ndarray]:
    """1 where the count reaches the threshold of the mark's genome-wide mean per bin."""
    if not chroms:
        return {}
    total = sum(counts[c].sum(axis=0) for c in chroms)
    bins = sum(counts[c].shape[0] for c in chroms)
    thresholds = np.array([_threshold(float(t) / bins, o) for t in total])
    return {c: (counts[c] >= thresholds).astype(np.uint8) for c in chroms}


def _calls_control(
    counts: dict[str, np.ndarray],
    background: dict[str, np.ndarray],
    chroms: list[str],
    o: BinarizeOptions,
) -> dict[str, np.ndarray]:
    """1 where the count reaches the threshold of ``λ = r · s_b`` (the module docstring),
    one threshold per mark and observed background value."""
    if not chroms:
        return {}
    m = next(iter(counts.values())).shape[1]

    def col(c: str, j: int) -> np.ndarray:
        b = background[c]
        return b[:, 0] if b.shape[1] == 1 else b[:, j]

    calls = {c: np.zeros(counts[c].shape, np.uint8) for c in chroms}
    for j in range(m):
        total = sum(int(counts[c][:, j].sum()) for c in chroms)
        values = np.unique(np.concatenate([col(c, j) for c in chroms]))
        total_bg = sum(int(col(c, j).sum()) for c in chroms)
        ratio = total / total_bg if total_bg else 0.0
        table = np.zeros(int(values.max()) + 1, np.int64)
        table[0] = max(math.ceil(o.count_threshold), 1)
        for v in values[values > 0]:
            table[v] = _threshold(ratio * float(v), o)
        for c in chroms:
            calls[c][:, j] = table[col(c, j)] <= counts[c][:, j]
    return calls
