"""A small, strict GFF3 reader and writer, and per-base gene-structure labels.

GFF3 is nine tab-separated columns per feature line::

    seqid  source  type  start  end  score  strand  phase  attributes

with 1-based, inclusive coordinates (``start <= end``), ``score`` a float or ``.``, ``strand``
one of ``+ - . ?``, ``phase`` ``0 1 2`` or ``.`` (required for ``CDS``: the number of bases to
skip from the feature's 5' end, in the transcript's direction, to reach the first base of the
next codon) and ``attributes`` ``tag=value;tag=value`` (values comma-separated lists,
``%XX``-escaped). ``##`` directives and ``#`` comments are skipped; a ``##FASTA`` line ends the
features. Gzip input is detected by its magic bytes. Every malformed line raises a
``ValueError`` naming the file, the 1-based line and the fix.

:func:`feature_labels` turns the coding features of one sequence into per-base labels
``[length]`` (``0`` intergenic, ``1`` coding exon (``CDS``), ``2`` intron) and a strand
array (``+1``, ``-1``, ``0``).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

import numpy as np

from lsgm.data.files import atomic_write_text
from lsgm.data.intervals import Interval
from lsgm.data.numbers import is_int_literal, is_number_literal

INTERGENIC, EXON, INTRON = 0, 1, 2
#: label value -> name, for the arrays :func:`feature_labels` returns.
LABEL_NAMES = ("intergenic", "exon", "intron")
_PRIORITY = np.array([0, 2, 1], np.int8)  # by label: exon > intron > intergenic

_STRANDS = ("+", "-", ".", "?")
# Characters GFF3 reserves in column 9 (plus tab, newline, % and control characters).
_ATTR_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) not in ";=&,%\t\n\r")
_SEQID_SAFE = "".join(chr(c) for c in range(33, 127) if chr(c) not in "%\t\n\r")


@dataclass(frozen=True)
class Feature:
    """One GFF3 feature line.

    ``start``/``end`` are 1-based and inclusive; ``score``/``phase`` are ``None`` for ``.``;
    ``attributes`` maps each tag to its (unescaped) values, e.g.
    ``{"ID": ("CDS:x",), "Parent": ("Transcript:a", "Transcript:b")}``.
    """

    seqid: str
    source: str
    type: str
    start: int
    end: int
    score: float | None = None
    strand: str = "."
    phase: int | None = None
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, tag: str, default: str | None = None) -> str | None:
        """The first value of attribute ``tag`` (``default`` if absent)."""
        values = self.attributes.get(tag)
        return values[0] if values else default

    @property
    def length(self) -> int:
        return self.end - self.start + 1


# ----------------------------------------------------------------------------- reading
def _open_text(path: Path):
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
    except OSError as err:
        raise ValueError(f"{path}: cannot open the GFF file ({err.strerror}).") from err
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _parse_attributes(text: str, where: str) -> dict[str, tuple[str, ...]]:
    attributes: dict[str, tuple[str, ...]] = {}
    if text == ".":
        return attributes
    for item in text.split(";"):
        item = item.strip()
        if not item:  # a trailing or doubled ";" separates nothing
            continue
        tag, eq, value = item.partition("=")
        if not eq or not tag.strip() or not value:
            raise ValueError(
                f"{where}: malformed attribute {item!r}; column 9 must be "
                "'tag=value' pairs separated by ';' (escape literal ';', '=', ',' as %3B, %3D, %2C)."
            )
        tag = unquote(tag.strip())
        if tag in attributes:
            raise ValueError(
                f"{where}: attribute {tag!r} appears twice; give one tag with "
                "comma-separated values instead."
            )
        attributes[tag] = tuple(unquote(v) for v in value.split(","))
    return attributes


def _parse_int(text: str, column: str, where: str) -> int:
    if not is_int_literal(text) or text != text.strip():
        raise ValueError(
            f"{where}: {column} {text!r} is not an integer; GFF3 coordinates are 1-based integers "
            "(digits only: no '_', ',' or spaces)."
        )
    value = int(text)
    if value < 1:
        raise ValueError(f"{where}: {column} {value} must be >= 1 (GFF3 coordinates are 1-based).")
    return value


def _parse_line(line: str, where: str) -> Feature:
    cols = line.split("\t")
    if len(cols) != 9:
        raise ValueError(
            f"{where}: expected 9 tab-separated columns, found {len(cols)}; GFF3 columns are "
            "seqid, source, type, start, end, score, strand, phase, attributes (use '.' for empty)."
        )
    seqid, source, ftype, start_s, end_s, score_s, strand, phase_s, attr_s = cols
    for name, value in (("seqid", seqid), ("source", source), ("type", ftype)):
        if not value:
            raise ValueError(f"{where}: the {name} column is empty; use '.' if unknown.")
    start = _parse_int(start_s, "start", where)
    end = _parse_int(end_s, "end", where)
    if start > end:
        raise ValueError(
            f"{where}: start {start} > end {end}; GFF3 needs start <= end on either strand."
        )
    score = None
    if score_s != ".":
        if not is_number_literal(score_s) or score_s != score_s.strip():
            raise ValueError(f"{where}: score {score_s!r} is not a number or '.'.")
        score = float(score_s)
    if strand not in _STRANDS:
        raise ValueError(f"{where}: strand {strand!r} must be one of '+', '-', '.', '?'.")
    phase = None
    if phase_s != ".":
        if phase_s not in ("0", "1", "2"):
            raise ValueError(f"{where}: phase {phase_s!r} must be 0, 1, 2 or '.'.")
        phase = int(phase_s)
    elif ftype == "CDS":
        raise ValueError(
            f"{where}: a CDS feature needs a phase (0, 1 or 2) in column 8; found '.'."
        )
    attributes = _parse_attributes(attr_s, where)
    return Feature(unquote(seqid), source, ftype, start, end, score, strand, phase, attributes)


def read_gff(
    path,
    *,
    sources: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
) -> list[Feature]:
    """The features of a GFF3 file (plain or gzip), in file order.

    Args:
        path: the ``.gff``/``.gff3`` file, optionally gzipped.
        sources: keep only features whose column 2 is one of these (e.g. ``{"WormBase"}`` or
            ``{"TAIR10"}``, the curated gene models, dropping RNA-seq evidence); None keeps all.
        types: keep only these column-3 types (e.g. ``{"CDS"}``); None keeps all.

    Every line is checked, whether or not it is kept.
    """
    path = Path(path)
    sources = None if sources is None else set(sources)
    types = None if types is None else set(types)
    features: list[Feature] = []
    try:
        with _open_text(path) as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if line.startswith("##FASTA"):
                    break
                if not line.strip() or line.startswith("#"):
                    continue
                feature = _parse_line(line, f"{path}, line {number}")
                if sources is not None and feature.source not in sources:
                    continue
                if types is not None and feature.type not in types:
                    continue
                features.append(feature)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({err}).") from err
    except UnicodeDecodeError as err:
        from lsgm.data.fasta import decode_error_message

        raise ValueError(decode_error_message(path, err) + " Is this a GFF3 file?") from err
    return features


# ----------------------------------------------------------------------------- writing
def _format_number(value: float | None) -> str:
    return "." if value is None else f"{value:g}"


def format_feature(f: Feature) -> str:
    """One GFF3 line (no newline) for ``f``; reserved characters are ``%XX``-escaped."""
    if f.start < 1 or f.start > f.end:
        raise ValueError(f"feature {f}: need 1 <= start <= end.")
    if f.strand not in _STRANDS:
        raise ValueError(f"feature {f}: strand must be one of '+', '-', '.', '?'.")
    if f.phase not in (None, 0, 1, 2):
        raise ValueError(f"feature {f}: phase must be 0, 1, 2 or None.")
    if f.type == "CDS" and f.phase is None:
        raise ValueError(f"feature {f}: a CDS feature needs a phase (0, 1 or 2).")
    for name in ("source", "type"):
        value = getattr(f, name)
        if not value or any(c in value for c in "\t\n\r"):
            raise ValueError(f"feature {f}: {name} must be non-empty without tabs or newlines.")
    attrs = ";".join(
        quote(tag, safe=_ATTR_SAFE) + "=" + ",".join(quote(v, safe=_ATTR_SAFE) for v in values)
        for tag, values in f.attributes.items()
    )
    cols = [
        quote(f.seqid, safe=_SEQID_SAFE),
        f.source,
        f.type,
        str(f.start),
        str(f.end),
        _format_number(f.score),
        f.strand,
        "." if f.phase is None else str(f.phase),
        attrs or ".",
    ]
    return "\t".join(cols)


def write_gff(path, features: Iterable[Feature]) -> None:
    """Write ``features`` as GFF3 (``##gff-version 3`` header), atomically."""
    lines = ["##gff-version 3"] + [format_feature(f) for f in features]
    atomic_write_text(path, "\n".join(lines) + "\n")


def intervals_to_features(
    intervals: Iterable[Interval],
    *,
    source: str = "lsgm",
    feature_type: str = "exon",
    phases: Sequence[int] | None = None,
    id_prefix: str | None = None,
    parents: Sequence[str | None] | None = None,
) -> list[Feature]:
    """GFF3 features from 0-based half-open intervals (e.g. decoded exons).

    ``[start, end)`` becomes ``start + 1 .. end``; the interval's name becomes ``Name``,
    its score and strand are kept. ``phases`` (one per interval) is required for
    ``feature_type="CDS"``. ``id_prefix`` gives each feature ``ID=<prefix><i>`` (1-based);
    ``parents`` an optional ``Parent`` per feature.
    """
    intervals = list(intervals)
    for name, values in (("phases", phases), ("parents", parents)):
        if values is not None and len(values) != len(intervals):
            raise ValueError(f"{name} has {len(values)} entries for {len(intervals)} intervals.")
    if feature_type == "CDS" and phases is None:
        raise ValueError("CDS features need phases (0, 1 or 2), one per interval.")
    out = []
    for i, iv in enumerate(intervals):
        attributes: dict[str, tuple[str, ...]] = {}
        if id_prefix is not None:
            attributes["ID"] = (f"{id_prefix}{i + 1}",)
        if parents is not None and parents[i] is not None:
            attributes["Parent"] = (parents[i],)
        if iv.name:
            attributes["Name"] = (iv.name,)
        phase = None if phases is None else int(phases[i])
        feature = Feature(
            iv.chrom,
            source,
            feature_type,
            iv.start + 1,
            iv.end,
            iv.score,
            iv.strand,
            phase,
            attributes,
        )
        out.append(feature)
    return out


# ------------------------------------------------------------------ per-base labels
class BaseLabels(NamedTuple):
    """Per-base gene structure of one sequence.

    ``labels [length]`` int8: ``0`` intergenic, ``1`` exon (coding, ``CDS``), ``2`` intron;
    ``strand [length]`` int8: ``+1`` / ``-1`` for the transcript that gave the label, ``0``
    for intergenic bases.
    """

    labels: np.ndarray
    strand: np.ndarray


def transcripts(features: Iterable[Feature]) -> dict[str, list[Feature]]:
    """``CDS`` features grouped by transcript: each ``Parent`` value (a CDS shared by several
    transcripts joins each), else the CDS's ``ID``, else the CDS alone; sorted by start."""
    groups: dict[str, list[Feature]] = {}
    for n, f in enumerate(features):
        if f.type != "CDS":
            continue
        keys = f.attributes.get("Parent") or f.attributes.get("ID") or (f"_cds{n}",)
        for key in keys:
            groups.setdefault(f"{f.seqid}\t{key}", []).append(f)
    for key, cds in groups.items():
        if len({(f.seqid, f.strand) for f in cds}) != 1:
            raise ValueError(
                f"transcript {key.split(chr(9))[1]!r} has CDS features on different sequences "
                "or strands; fix its Parent attributes."
            )
        cds.sort(key=lambda f: f.start)
    return groups


def check_seqids(features: Iterable[Feature], lengths: Mapping[str, int], where: str = "") -> None:
    """Raise if a feature's seqid is not a sequence of the FASTA (``lengths``: name -> length)
    or a feature runs past its sequence's end."""
    prefix = f"{where}: " if where else ""
    for f in features:
        if f.seqid not in lengths:
            raise ValueError(
                f"{prefix}feature {f.type} {f.start}..{f.end} is on seqid {f.seqid!r}, which is "
                f"not in the FASTA (its records are {sorted(lengths)}); use the matching FASTA."
            )
        if f.end > lengths[f.seqid]:
            raise ValueError(
                f"{prefix}feature {f.type} {f.start}..{f.end} ({_describe(f)}) ends beyond "
                f"{f.seqid!r}, which has {lengths[f.seqid]} bases; use the matching FASTA."
            )


def check_annotated(
    features: Iterable[Feature],
    seqids: Iterable[str],
    *,
    sources: Iterable[str] | None = None,
    types: Iterable[str] = ("CDS",),
    where: str = "",
    fix: str = "choose the right sources, or leave those sequences out",
) -> None:
    """Refuse sequences that have no annotation to learn from or to score against.

    A sequence in ``seqids`` with no feature of one of ``types`` from one of ``sources``
    (None: any source) would be labelled all background: trained on as if it held no genes,
    or scored with no positives. Raises a ``ValueError`` naming those sequences, the sources
    of ``types`` features they do have (so the user sees a misspelt or wrong source), and
    ``fix``. ``features`` are every feature of the file, whatever its source.
    """
    features = list(features)
    types = set(types)
    sources = None if sources is None else set(sources)
    kinds = "/".join(sorted(types))
    wanted = {
        f.seqid for f in features if f.type in types and (sources is None or f.source in sources)
    }
    missing = [s for s in dict.fromkeys(seqids) if s not in wanted]
    if not missing:
        return
    present = sorted({f.source for f in features if f.type in types and f.seqid in missing})
    anywhere = sorted({f.source for f in features if f.type in types})
    chosen = "any source" if sources is None else f"source {', '.join(sorted(sources))}"
    have = (
        f"the {kinds} features there come from {', '.join(present)}"
        if present
        else f"they have no {kinds} features of any source"
    )
    prefix = f"{where}: " if where else ""
    raise ValueError(
        f"{prefix}no {kinds} features of {chosen} on {', '.join(missing)}: they would count as "
        f"having no genes at all; {have} (sources in the file: "
        f"{', '.join(anywhere) or 'none'}). {fix[:1].upper() + fix[1:]}."
    )


def _describe(f: Feature) -> str:
    return f.get("ID") or f.get("Parent") or f.get("Name") or f"{f.source} {f.type}"


def feature_labels(
    features: Iterable[Feature],
    seqid: str,
    length: int,
    *,
    sources: Iterable[str] | None = None,
) -> BaseLabels:
    """Per-base labels of sequence ``seqid`` (``length`` bases) from its ``CDS`` features.

    Each transcript (``CDS`` features grouped by ``Parent``, see :func:`transcripts`) paints
    its CDS bases ``1`` (exon) and the bases between consecutive CDS segments ``2`` (intron);
    everything else is ``0`` (intergenic) — UTRs and non-coding RNAs included, as the
    gene-structure model has no UTR states. Overlaps are resolved base by base by priority
    **exon > intron > intergenic**; between transcripts giving the same label, the first in
    file order keeps the base (and its strand). Both strands are painted the same way; the
    strand array records which strand won.

    Args:
        features: parsed features (any types; only ``CDS`` are used).
        seqid: the sequence to label; features on other sequences are ignored.
        length: its length in bases.
        sources: keep only features of these sources (e.g. ``{"WormBase"}``); None keeps all.

    Returns:
        :class:`BaseLabels` ``(labels [length] int8, strand [length] int8)``.

    Raises:
        ValueError: a feature of ``seqid`` ends beyond ``length`` (it is named), or a CDS has
            no strand.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1; got {length}.")
    sources = None if sources is None else set(sources)
    mine = [
        f
        for f in features
        if f.seqid == seqid and f.type == "CDS" and (sources is None or f.source in sources)
    ]
    check_seqids(mine, {seqid: length})
    labels = np.zeros(length, np.int8)
    strand = np.zeros(length, np.int8)
    for cds in transcripts(mine).values():
        sign = {"+": 1, "-": -1}.get(cds[0].strand)
        if sign is None:
            raise ValueError(
                f"CDS {cds[0].start}..{cds[0].end} ({_describe(cds[0])}) on {seqid!r} has "
                f"strand {cds[0].strand!r}; a coding feature needs '+' or '-'."
            )
        segments = [
            (INTRON, a.end, b.start - 1)
            for a, b in zip(cds[:-1], cds[1:], strict=True)
            if b.start > a.end + 1
        ]
        segments += [(EXON, f.start - 1, f.end) for f in cds]  # 0-based [start, end)
        for label, lo, hi in segments:
            take = _PRIORITY[labels[lo:hi]] < _PRIORITY[label]
            labels[lo:hi][take] = label
            strand[lo:hi][take] = sign
    return BaseLabels(labels, strand)
