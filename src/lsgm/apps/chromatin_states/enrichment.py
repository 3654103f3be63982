"""ChromHMM's ``OverlapEnrichment`` and ``NeighborhoodEnrichment`` of a segmentation.

A segmentation (``CELL_K_segments.bed``: ``chrom start end state``, states ``E1``..``EK`` or
plain numbers, on a grid of ``bin_size`` bases) gives each bin ``b`` a state ``z_b``; ``N_k``
is the number of bins in state ``k`` and ``N = Σ_k N_k``.

**Overlap.** For each annotation file ``a`` (a BED file, ``.gz`` allowed), ``O_ak`` is the
number of bases of ``a``'s intervals (merged where they overlap) that lie in bins of state
``k``, in units of bins (bases / ``bin_size``), and ``O_a = Σ_k O_ak``. The fold enrichment
is ``(O_ak / O_a) / (N_k / N)``; the table also gives ``Genome % = 100 N_k / N`` and a last
row ``Base`` with ``100 O_a / N`` (the annotation's share of the genome). With
``multicount`` every interval counts on its own (no merging); ``center`` counts only the
centre base; ``base_resolution=False`` counts a touched bin whole.

**Neighborhood.** For anchors ``(chrom, position, strand)`` (e.g. ChromHMM's
``RefSeqTSS.ASSEMBLY.txt.gz``) and offsets ``o = -num_left .. num_right``, ``A_ok`` counts
the anchors whose bin ``(position + spacing · o) / bin_size`` is in state ``k`` (offsets
count downstream on the anchor's strand); the fold enrichment is
``(A_ok / Σ_k A_ok) / (N_k / N)``, columns labelled ``spacing · o`` in bases.

Divisions truncate toward zero as in ChromHMM (Java), so positions up to one bin left of a
chromosome start fall in its first bin, exactly as ChromHMM counts them. Both tables are
written as ChromHMM writes them (tab-separated, five decimals; ``State (Emission order)``
for ``E`` labels) with heatmaps ``.png`` and ``.svg`` (white to blue; the overlap heatmap
scales each column by ``(x - min) / max`` as ChromHMM draws it). States with no bin are
left out of the tables. :func:`run_enrichments` runs both for every segmentation the way
ChromHMM's ``LearnModel`` does at its end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgm.apps.chromatin_states.binarize import (
    DEFAULT_BIN_SIZE,
    java_div,
    numbered_fields,
    parse_int,
)
from lsgm.data import atomic_write_text

#: ChromHMM's state-order names by the first letter of the state labels.
ORDER_NAMES = {"E": "Emission", "T": "Transition", "F": "Fixed"}
#: Heatmap colour of the highest value (ChromHMM's default, ``-color 0,0,255``).
DEFAULT_COLOR = (0, 0, 255)
#: ChromHMM's ``LearnModel`` neighborhood window: bins left and right of the anchor.
NEIGHBORHOOD_BINS = 10


@dataclass
class Segmentation:
    """Bin states of a segmentation: ``labels[chrom] [bins]`` int (``-1`` where no segment
    lies), the largest state number, and the state order's name."""

    path: Path
    labels: dict[str, np.ndarray]
    max_state: int
    order: str
    bin_size: int

    def state_counts(self) -> np.ndarray:
        """``N_k`` for ``k = 0 .. max_state`` (bins in each state)."""
        counts = np.zeros(self.max_state + 1)
        for lab in self.labels.values():
            counts += np.bincount(lab[lab >= 0], minlength=self.max_state + 1)
        return counts


def _state_number(label: str, where: str) -> int:
    for text in (label, label[1:]):
        if re.fullmatch(r"[+-]?\d+", text):
            value = int(text)
            if 0 <= value < 2**15:
                return value
    raise ValueError(
        f"{where}: state {label!r} is neither a state number nor a letter and a number "
        "(like E3); the fourth column of a segmentation is the state."
    )


def read_segmentation(
    path: Path, bin_size: int = DEFAULT_BIN_SIZE, check_grid: bool = True
) -> Segmentation:
    """Read ``chrom start end state`` lines (``.gz`` allowed) onto a grid of ``bin_size``.

    A segment covers bins ``start / bin_size .. (end - 1) / bin_size``; a later segment
    overrides an earlier one on a shared bin (as in ChromHMM). With ``check_grid`` (the
    overlap enrichment) a start off the grid is an error naming the line."""
    path = Path(path)
    rows: list[tuple[str, int, int, int]] = []
    last_label = ""
    for _, where, fields in numbered_fields(path, "segmentation file"):
        if len(fields) < 4:
            raise ValueError(
                f"{where}: {len(fields)} field(s); a segment is chrom start end state."
            )
        start = parse_int(fields[1], where, "start")
        end = parse_int(fields[2], where, "end")
        if check_grid and start % bin_size:
            raise ValueError(
                f"{where}: start {start} is not on the {bin_size}-base grid; give the bin "
                "size the segmentation was made with (-b), or -b 1 after a lift-over."
            )
        if start < 0 or end <= start:
            raise ValueError(f"{where}: segment {start}-{end} is empty or negative.")
        last_label = fields[3]
        first, last = java_div(start, bin_size), java_div(end - 1, bin_size)
        rows.append((fields[0], first, last, _state_number(fields[3], where)))
    if not rows:
        raise ValueError(f"{path}: no segments; expected chrom start end state lines.")
    size: dict[str, int] = {}
    for chrom, _, last, _ in rows:
        size[chrom] = max(size.get(chrom, 0), last + 1)
    labels = {c: np.full(n, -1, np.int64) for c, n in size.items()}
    for chrom, first, last, state in rows:
        labels[chrom][first : last + 1] = state
    return Segmentation(
        path=path,
        labels=labels,
        max_state=max(r[3] for r in rows),
        order=ORDER_NAMES.get(last_label[:1], "User"),
        bin_size=bin_size,
    )


@dataclass
class EnrichmentTable:
    """A fold-enrichment table: ``fold [states, columns]`` for the states with bins
    (``states``, numbers), ``columns`` (annotation file names or offsets in bases),
    ``genome_percent [states]`` (overlap only) and ``base_percent [columns]`` (overlap only:
    the annotation's share of the genome, in %)."""

    order: str
    states: list[int]
    columns: list[str]
    fold: np.ndarray
    genome_percent: np.ndarray | None = None
    base_percent: np.ndarray | None = None

    def format(self) -> str:
        """ChromHMM's text table (``%.5f``; the ``Base`` row ``%.10f``)."""
        head = [f"State ({self.order} order)"]
        if self.genome_percent is not None:
            head.append("Genome %")
        lines = ["\t".join(head + self.columns)]
        for i, state in enumerate(self.states):
            cells = [str(state)]
            if self.genome_percent is not None:
                cells.append(_f5(self.genome_percent[i]))
            cells += [_f5(v) for v in self.fold[i]]
            lines.append("\t".join(cells))
        if self.base_percent is not None:
            lines.append("\t".join(["Base", "100", *(f"{v:.10f}" for v in self.base_percent)]))
        return "\n".join(lines) + "\n"


def _f5(v: float) -> str:
    return "NaN" if math.isnan(v) else ("Infinity" if v == math.inf else f"{v:.5f}")


def _fold(tally: np.ndarray, seg: Segmentation) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``(states with bins, fold [states, columns], N_k / N)`` from ``tally [columns, K+1]``."""
    n = seg.state_counts()
    states = [int(k) for k in np.flatnonzero(n > 0)]
    share = n[states] / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        fold = (tally[:, states] / tally.sum(axis=1, keepdims=True)) / share
    return states, fold.T, share


# --------------------------------------------------------------------------- overlap
def _annotation_files(coords: Path) -> tuple[Path, list[str]]:
    """``(folder, file names)``: the non-hidden files of a folder sorted, or one file."""
    if coords.is_dir():
        names = sorted(p.name for p in coords.iterdir() if not p.name.startswith("."))
        if not names:
            raise ValueError(f"{coords}: no annotation files in the folder.")
        return coords, names
    if not coords.exists():
        raise ValueError(f"{coords}: no such annotation file or folder.")
    return Path(), [str(coords)]


def _read_intervals(path: Path, o_start: int, o_end: int) -> dict[str, np.ndarray]:
    """``{chrom: [n, 2]}`` 0-based inclusive ``(start - o_start, end - o_end)`` of a BED."""
    out: dict[str, list[tuple[int, int]]] = {}
    for _, where, fields in numbered_fields(path, "annotation file"):
        if len(fields) < 3:
            raise ValueError(f"{where}: {len(fields)} field(s); expected chrom start end.")
        start = parse_int(fields[1], where, "start")
        end = parse_int(fields[2], where, "end")
        out.setdefault(fields[0], []).append((start - o_start, end - o_end))
    return {c: np.asarray(v, np.int64) for c, v in out.items()}


def _merge(iv: np.ndarray) -> np.ndarray:
    """Union of inclusive intervals ``[n, 2]`` (sorted; touching ones stay apart)."""
    iv = iv[np.lexsort((iv[:, 1], iv[:, 0]))]
    reach = np.maximum.accumulate(iv[:, 1])
    new = np.concatenate([[True], iv[1:, 0] > reach[:-1]])
    starts = iv[new, 0]
    group = np.cumsum(new) - 1
    ends = np.zeros(starts.size, np.int64)
    np.maximum.at(ends, group, iv[:, 1])
    return np.stack([starts, ends], axis=1)


def _tally_intervals(
    tally: np.ndarray, lab: np.ndarray, iv: np.ndarray, bs: int, weight: float, base_res: bool
) -> None:
    """Add ``weight`` per bin of ``lab`` touched by each inclusive base interval, less the
    fractions of the end bins outside it when ``base_res``."""
    first = np.maximum(java_div(iv[:, 0], bs), 0)
    last = np.minimum(java_div(iv[:, 1], bs), lab.size - 1)
    ok = first <= last
    cover = np.zeros(lab.size + 1)
    np.add.at(cover, first[ok], 1.0)
    np.add.at(cover, last[ok] + 1, -1.0)
    cover = np.cumsum(cover[:-1])
    has = lab >= 0
    tally += weight * np.bincount(lab[has], cover[has], minlength=tally.size)
    if base_res:
        begin_frac = (iv[:, 0] - first * bs) / bs
        end_frac = ((last + 1) * bs - iv[:, 1] - 1) / bs
        for pos, frac in ((first, begin_frac), (last, end_frac)):
            sel = (pos >= 0) & (pos < lab.size) & (frac > 0)
            sel[sel] &= lab[pos[sel]] >= 0
            np.add.at(tally, lab[pos[sel]], -weight * frac[sel])


def overlap_table(
    seg: Segmentation,
    coords: Path,
    *,
    offset_start: int = 0,
    offset_end: int = 1,
    center: bool = False,
    multicount: bool = False,
    base_resolution: bool = True,
) -> EnrichmentTable:
    """The ``OverlapEnrichment`` table of ``seg`` over the BED files of ``coords`` (a folder,
    files in sorted order, or one file). An annotation with no base in a segment is an error
    (chromosome names that do not match)."""
    coords = Path(coords)
    folder, names = _annotation_files(coords)
    bs = seg.bin_size
    tally = np.zeros((len(names), seg.max_state + 1))
    for a, name in enumerate(names):
        path = folder / name
        for chrom, iv in _read_intervals(path, offset_start, offset_end).items():
            lab = seg.labels.get(chrom)
            if lab is None:
                continue
            if not multicount:
                if center:
                    mid = java_div(iv[:, 0] + iv[:, 1], 2)
                    iv = np.stack([mid, mid], axis=1)
                _tally_intervals(tally[a], lab, _merge(iv), bs, 1.0, base_resolution)
            elif center:
                mid = java_div(iv[:, 0] + iv[:, 1], 2 * bs)
                mid = mid[(mid < lab.size) & (mid >= 0)]
                mid = mid[lab[mid] >= 0]
                np.add.at(tally[a], lab[mid], 1.0 / bs)
            else:
                _tally_intervals(tally[a], lab, iv, bs, 1.0, base_resolution)
        if tally[a].sum() < 1e-8:
            raise ValueError(
                f"{path}: no interval overlaps a segment; check that its chromosome names "
                f"match those of {seg.path}."
            )
    states, fold, share = _fold(tally, seg)
    return EnrichmentTable(
        order=seg.order,
        states=states,
        columns=names,
        fold=fold,
        genome_percent=100 * share,
        base_percent=100 * tally.sum(axis=1) / seg.state_counts().sum(),
    )


# ---------------------------------------------------------------------- neighborhood
def _read_anchors(
    path: Path, use_strand: bool, offset: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{chrom: (positions - offset, plus-strand mask)}`` of an anchor file
    (``chrom position [strand]``, whitespace-separated, ``.gz`` allowed)."""
    need = 3 if use_strand else 2
    out: dict[str, tuple[list[int], list[bool]]] = {}
    for _, where, fields in numbered_fields(path, "anchor file"):
        if len(fields) < need:
            raise ValueError(
                f"{where}: {len(fields)} column(s); expected chrom position"
                + (" strand (or use -nostrand)." if use_strand else ".")
            )
        pos = parse_int(fields[1], where, "position") - offset
        plus = True
        if use_strand:
            if fields[2] not in ("+", "-"):
                raise ValueError(f"{where}: strand {fields[2]!r} is not '+' or '-'.")
            plus = fields[2] == "+"
        p, s = out.setdefault(fields[0], ([], []))
        p.append(pos)
        s.append(plus)
    return {c: (np.asarray(p, np.int64), np.asarray(s, bool)) for c, (p, s) in out.items()}


def neighborhood_table(
    seg: Segmentation,
    anchors: Path,
    *,
    num_left: int = NEIGHBORHOOD_BINS,
    num_right: int = NEIGHBORHOOD_BINS,
    spacing: int | None = None,
    use_strand: bool = True,
    anchor_offset: int = 0,
) -> EnrichmentTable:
    """The ``NeighborhoodEnrichment`` table of ``seg`` around the anchors of ``anchors``
    (offsets ``-num_left .. num_right`` times ``spacing``, default the bin size). No anchor
    on a chromosome of the segmentation is an error."""
    if num_left < 0 or num_right < 0:
        raise ValueError(f"-l {num_left} and -r {num_right} must be >= 0.")
    bs = seg.bin_size
    step = bs if spacing is None else spacing
    offsets = np.arange(-num_left, num_right + 1)
    tally = np.zeros((offsets.size, seg.max_state + 1))
    matched = False
    for chrom, (pos, plus) in _read_anchors(Path(anchors), use_strand, anchor_offset).items():
        lab = seg.labels.get(chrom)
        if lab is None:
            continue
        matched = True
        # column i is offset offsets[i] on + strands and num_right - i on - strands
        shift = np.where(
            plus[:, None], offsets[None, :], num_right - np.arange(offsets.size)[None, :]
        )
        bins = java_div(pos[:, None] + step * shift, bs)
        ok = (bins >= 0) & (bins < lab.size)
        ok[ok] &= lab[bins[ok]] >= 0
        cols = np.broadcast_to(np.arange(offsets.size), bins.shape)
        np.add.at(tally, (cols[ok], lab[bins[ok]]), 1.0)
    if not matched:
        raise ValueError(
            f"{anchors}: no anchor is on a chromosome of {seg.path}; make the chromosome names agree."
        )
    states, fold, _ = _fold(tally, seg)
    return EnrichmentTable(
        order=seg.order, states=states, columns=[str(int(o) * step) for o in offsets], fold=fold
    )


# ------------------------------------------------------------------------- outputs
def plot_enrichment(
    table: EnrichmentTable,
    path: Path | list[Path],
    title: str,
    xlabel: str,
    column_scaled: bool,
    color: tuple[int, int, int] = DEFAULT_COLOR,
) -> Path:
    """A ChromHMM-style heatmap of ``table`` (states × columns, white to ``color``); with
    ``column_scaled`` each column (and a first ``Genome %`` column) is shown as
    ``(x - min) / max``; cells are written with their values when the table is small.
    Several paths: drawn once, saved to each (the first is returned)."""
    from matplotlib.colors import LinearSegmentedColormap

    from lsgm.plots import figure, output_paths  # imports JAX: only when drawing

    paths = output_paths(path)
    values = table.fold
    cols = list(table.columns)
    if table.genome_percent is not None:
        values = np.column_stack([table.genome_percent, values])
        cols = ["Genome %", *cols]
    shown = values
    if column_scaled:
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = (values - np.nanmin(values, axis=0)) / np.nanmax(values, axis=0)
    labels = [c.split(".")[0] if column_scaled else c for c in cols]
    cmap = LinearSegmentedColormap.from_list("chromhmm", ["white", tuple(v / 255 for v in color)])
    rows = len(table.states)
    width = float(np.clip(2.0 + 0.6 * len(cols), 4.0, 18.0))
    height = float(np.clip(1.5 + 0.35 * rows, 3.0, 14.0))
    with figure(paths, width, height) as fig:
        ax = fig.add_subplot()
        ax.imshow(shown, cmap=cmap, aspect="auto", interpolation="nearest")
        if rows * len(cols) <= 400:
            for (i, j), v in np.ndenumerate(values):
                dark = np.isfinite(shown[i, j]) and shown[i, j] > 0.6 * np.nanmax(shown)
                ax.text(
                    j,
                    i,
                    f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(len(cols)), labels, rotation=90 if column_scaled else 45)
        ax.set_yticks(range(rows), [str(s) for s in table.states])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"State ({table.order} order)")
        ax.set_title(title)
    return paths[0]


def _write_all(
    table: EnrichmentTable,
    prefix: Path,
    title: str,
    *,
    neighborhood: bool,
    image: bool = True,
    color: tuple[int, int, int] = DEFAULT_COLOR,
) -> list[Path]:
    """``prefix.txt`` and, with ``image``, ``prefix.png`` and ``prefix.svg``."""
    txt = prefix.with_name(prefix.name + ".txt")
    atomic_write_text(txt, table.format())
    written = [txt]
    xlabel = "Position" if neighborhood else "Category"
    if image:  # drawn once, written as PNG and SVG
        paths = [prefix.with_name(prefix.name + ext) for ext in (".png", ".svg")]
        plot_enrichment(table, paths, title, xlabel, not neighborhood, color)
        written += paths
    return written


def overlap_enrichment(
    segmentation: Path,
    coords: Path,
    out_prefix: Path,
    *,
    bin_size: int = DEFAULT_BIN_SIZE,
    title: str = "Fold Enrichments",
    image: bool = True,
    color: tuple[int, int, int] = DEFAULT_COLOR,
    offset_start: int = 0,
    offset_end: int = 1,
    center: bool = False,
    multicount: bool = False,
    base_resolution: bool = True,
) -> list[Path]:
    """ChromHMM ``OverlapEnrichment SEGMENTATION COORDS OUTPREFIX``: writes
    ``OUTPREFIX.txt`` (and ``.png``, ``.svg`` with ``image``); the options are those of
    :func:`overlap_table`. Returns the paths written."""
    seg = read_segmentation(Path(segmentation), bin_size)
    table = overlap_table(
        seg,
        Path(coords),
        offset_start=offset_start,
        offset_end=offset_end,
        center=center,
        multicount=multicount,
        base_resolution=base_resolution,
    )
    return _write_all(table, Path(out_prefix), title, neighborhood=False, image=image, color=color)


def neighborhood_enrichment(
    segmentation: Path,
    anchors: Path,
    out_prefix: Path,
    *,
    bin_size: int = DEFAULT_BIN_SIZE,
    title: str = "Fold Enrichments",
    image: bool = True,
    color: tuple[int, int, int] = DEFAULT_COLOR,
    num_left: int = NEIGHBORHOOD_BINS,
    num_right: int = NEIGHBORHOOD_BINS,
    spacing: int | None = None,
    use_strand: bool = True,
    anchor_offset: int = 0,
) -> list[Path]:
    """ChromHMM ``NeighborhoodEnrichment SEGMENTATION ANCHORFILE OUTPREFIX``: writes
    ``OUTPREFIX.txt`` (and ``.png``, ``.svg``); the options are those of
    :func:`neighborhood_table`. Returns the paths written."""
    seg = read_segmentation(Path(segmentation), bin_size, check_grid=False)
    table = neighborhood_table(
        seg,
        Path(anchors),
        num_left=num_left,
        num_right=num_right,
        spacing=spacing,
        use_strand=use_strand,
        anchor_offset=anchor_offset,
    )
    return _write_all(table, Path(out_prefix), title, neighborhood=True, image=image, color=color)


def run_enrichments(
    segments_beds: Sequence[Path | Segmentation],
    out_dir: Path,
    num_states: int,
    assembly: str | None,
    coords_dir: Path | None,
    anchors_dir: Path | None,
    bin_size: int = DEFAULT_BIN_SIZE,
    image: bool = True,
    color: tuple[int, int, int] = DEFAULT_COLOR,
) -> list[Path]:
    """The enrichments ChromHMM ``LearnModel`` writes for each ``PREFIX_segments.bed``:

    * ``PREFIX_overlap.{txt,png,svg}`` over the files of ``coords_dir/assembly``;
    * ``PREFIX_ANCHOR_neighborhood.{txt,png,svg}`` around each file ``ANCHOR.*`` of
      ``anchors_dir/assembly`` (±10 bins, strand-aware),

    where ``PREFIX`` is e.g. ``CELL_K``, from each file's name (or an in-memory
    :class:`Segmentation`'s ``path``: the segmentation ``learn`` has not yet renamed into
    place). Without ``assembly`` the folders are used as they
    are; a folder that is None or does not exist is skipped (ChromHMM warns). A state above
    ``num_states`` in a segmentation is an error; ``image=False`` (``-noimage``) writes the
    tables only; ``color`` is the heatmaps' (``-color``). Returns the paths written."""
    written: list[Path] = []
    out_dir = Path(out_dir)
    dirs = []
    for d in (coords_dir, anchors_dir):
        d = None if d is None else (Path(d) / assembly if assembly else Path(d))
        dirs.append(d if d is not None and d.is_dir() else None)
    coords, anchors = dirs
    anchor_files = [] if anchors is None else sorted(anchors.iterdir())
    anchor_files = [f for f in anchor_files if not f.name.startswith(".")]
    for given in segments_beds:
        seg = given if isinstance(given, Segmentation) else read_segmentation(given, bin_size)
        bed = seg.path
        prefix = bed.name.removesuffix(".gz").removesuffix(".bed").removesuffix("_segments")
        if seg.max_state > num_states:
            raise ValueError(
                f"{bed}: state {seg.max_state} found in a {num_states}-state segmentation."
            )
        if coords is not None:
            table = overlap_table(seg, coords)
            title = f"Fold Enrichment {prefix}"
            path = out_dir / f"{prefix}_overlap"
            written += _write_all(table, path, title, neighborhood=False, image=image, color=color)
        for f in anchor_files:
            name = f.name.split(".")[0]
            table = neighborhood_table(seg, f)
            title = f"Fold Enrichment {prefix} {name}"
            path = out_dir / f"{prefix}_{name}_neighborhood"
            written += _write_all(table, path, title, neighborhood=True, image=image, color=color)
    return written


#: Where an installed ChromHMM keeps its annotation folders (Debian's chromhmm-example
#: package, or next to ``ChromHMM.jar``).
CHROMHMM_ROOTS = (
    Path("/usr/share/doc/chromhmm/examples"),
    Path("/usr/share/java"),
    Path("/usr/share/chromhmm"),
)


def _installed(name: str) -> Path | None:
    return next((r / name for r in CHROMHMM_ROOTS if (r / name).is_dir()), None)


def default_annotation_dirs() -> tuple[Path | None, Path | None]:
    """ChromHMM's ``COORDS`` and ``ANCHORFILES`` folders where an installed ChromHMM has them
    (the Debian ``chromhmm-example`` package, or next to ``ChromHMM.jar``), else None."""
    return _installed("COORDS"), _installed("ANCHORFILES")


def default_chrom_lengths(assembly: str | None) -> Path | None:
    """ChromHMM's ``CHROMSIZES/ASSEMBLY.txt`` where an installed ChromHMM has it (``learn``'s
    default ``-l``, as ``LearnModel``'s), else None."""
    folder = _installed("CHROMSIZES")
    path = None if folder is None or not assembly else folder / f"{assembly}.txt"
    return path if path is not None and path.is_file() else None
