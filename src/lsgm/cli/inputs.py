"""Reading the CLI's data files into sequences, by file type.

Three kinds of input, recorded in a model file so that every later command reads its data
the same way:

* ``"sequence"`` — FASTA/FASTQ (optionally gzipped) over an alphabet (``ACGT`` by default),
  read with :func:`lsgm.data.read_sequences`: integer symbols ``[T]``, or soft observations
  ``[T, M]`` (IUPAC codes with ``--ambiguous soft``, Phred qualities with ``--quality soft``);
* ``"pianoroll"`` — ``.mat`` / ``.json`` piano rolls or MIDI files: ``[T, 88]`` binary;
* ``"table"`` — ``.npy`` / ``.npz`` / ``.csv`` / ``.tsv``: ``[T]`` or ``[T, D]`` numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEQUENCE_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fq", ".fastq")
PIANOROLL_SUFFIXES = (".mat", ".json", ".mid", ".midi")
TABLE_SUFFIXES = (".npy", ".npz", ".csv", ".tsv")


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) >= 2:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def input_kind(path) -> str:
    """``"sequence"``, ``"pianoroll"`` or ``"table"`` from a file name's suffix."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix in SEQUENCE_SUFFIXES:
        return "sequence"
    if suffix in PIANOROLL_SUFFIXES:
        return "pianoroll"
    if suffix in TABLE_SUFFIXES:
        return "table"
    supported = SEQUENCE_SUFFIXES + PIANOROLL_SUFFIXES + TABLE_SUFFIXES
    raise ValueError(
        f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of "
        f"{', '.join(supported)} (FASTA/FASTQ and tables may be gzipped)."
    )


@dataclass
class InputSpec:
    """How to read data for a model (stored in the model file's ``info["input"]``)."""

    kind: str
    alphabet: str = "ACGT"
    ambiguous: str = "error"
    quality: str = "ignore"
    soft: bool = False
    reverse_complement: bool = False
    split: str | None = None
    dim: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "extra"}

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Dataset:
    """Sequences read from one or more files, with a name per sequence.

    ``chroms[i]`` is the record that sequence ``i`` comes from and ``offsets[i]`` the 0-based
    position of its first step in that record (0 for a whole record; a ``--region``'s start
    otherwise), so outputs can give genome coordinates (BED, bedGraph, GFF3)."""

    names: list[str]
    xs: list[np.ndarray]
    sources: list[str]
    chroms: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.chroms:
            self.chroms = [n.removesuffix("(-)") for n in self.names]
        if not self.offsets:
            self.offsets = [0] * len(self.names)
        if not self.sizes:  # each record's length (bigWig headers)
            for chrom, offset, x in zip(self.chroms, self.offsets, self.xs, strict=True):
                self.sizes[chrom] = max(self.sizes.get(chrom, 0), offset + len(x))

    @property
    def num_steps(self) -> int:
        return int(sum(len(x) for x in self.xs))


@dataclass(frozen=True)
class Region:
    """``RECORD:START-END``: bases ``START..END`` of a record, 1-based and inclusive (as
    samtools and genome browsers write them); ``[START - 1, END)`` 0-based."""

    record: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.record}:{self.start}-{self.end}"


def region(text: str) -> Region:
    """An argparse ``type``: ``RECORD:START-END`` (1-based, inclusive; ``,`` in the numbers
    allowed, e.g. ``chr2L:1,000,001-1,200,000``)."""
    import argparse

    record, colon, span = text.rpartition(":")
    start, dash, end = span.replace(",", "").partition("-")
    if not (colon and record and dash and start.isdigit() and end.isdigit()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not RECORD:START-END (1-based, inclusive), e.g. chr2L:10001-20000"
        )
    if not 1 <= int(start) <= int(end):
        raise argparse.ArgumentTypeError(f"{text!r}: need 1 <= START <= END")
    return Region(record, int(start), int(end))


def add_selection_options(parser) -> None:
    """``--region`` (repeatable) and ``--records``: which parts of the data files a command
    reads (:func:`select`)."""
    parser.add_argument(
        "--region",
        action="append",
        type=region,
        metavar="RECORD:START-END",
        help="read only these bases of a record (1-based, inclusive, e.g. chr2L:10001-20000); "
        "repeat for several. Outputs keep the record's coordinates (default: whole records)",
    )
    parser.add_argument(
        "--records",
        metavar="NAMES",
        help="comma-separated records (FASTA names) to read whole (default: every record)",
    )


def selection(args) -> tuple[list[Region], list[str]]:
    """``(regions, records)`` of the ``--region`` / ``--records`` options of ``args``."""
    records = getattr(args, "records", None)
    names = [] if not records else [n.strip() for n in records.split(",") if n.strip()]
    if records is not None and not names:
        raise ValueError(f"--records {records!r} names no record; give comma-separated names.")
    return list(getattr(args, "region", None) or []), names


#: ``(sequence index, start, end)``: the 0-based, half-open piece of a read sequence kept.
Pick = tuple[int, int, int]


def select(
    data: Dataset, regions: list[Region], records: list[str]
) -> tuple[Dataset, list[Pick] | None]:
    """The records named in ``records`` (whole), then the ``regions``, in the order given;
    ``(data, None)`` unchanged when both are empty. Also returns the picks, to cut per-step
    companions (labels) the same way with :func:`cut`. A name that is not a record, or a
    region past its record's end, is a ``ValueError`` naming it and the records there are."""
    if not regions and not records:
        return data, None
    where = {}
    for i, name in enumerate(data.names):
        where.setdefault(name, i)

    def index(name: str, option: str) -> int:
        if name not in where:
            shown = ", ".join(data.names[:8]) + (" ..." if len(data.names) > 8 else "")
            raise ValueError(
                f"{option}: no record {name!r} in {', '.join(dict.fromkeys(data.sources))}; "
                f"its records are {shown}."
            )
        return where[name]

    picks: list[Pick] = []
    names: list[str] = []
    offsets: list[int] = []
    for name in records:
        i = index(name, "--records")
        picks.append((i, 0, len(data.xs[i])))
        names.append(name)
        offsets.append(0)
    for r in regions:
        i = index(r.record, f"--region {r}")
        if r.end > len(data.xs[i]):
            raise ValueError(
                f"--region {r}: {r.record} has {len(data.xs[i])} steps (bases); END must be at "
                f"most {len(data.xs[i])}."
            )
        picks.append((i, r.start - 1, r.end))
        names.append(str(r))
        offsets.append(r.start - 1)
    chosen = Dataset(
        names=names,
        xs=cut(data.xs, picks),
        sources=[data.sources[i] for i, _, _ in picks],
        chroms=[data.chroms[i] for i, _, _ in picks],
        offsets=[data.offsets[i] + lo for (i, _, _), lo in zip(picks, offsets, strict=True)],
        sizes=dict(data.sizes),
    )
    return chosen, picks


def cut(seqs: list, picks: list[Pick] | None) -> list:
    """``seqs`` cut to the pieces :func:`select` chose (all of them when ``picks`` is None)."""
    if picks is None:
        return seqs
    return [seqs[i][lo:hi] for i, lo, hi in picks]


def _read_sequence_file(
    path: Path, spec: InputSpec, context: str, model_path
) -> tuple[list[str], list[np.ndarray]]:
    from lsgm.data import AmbiguousSymbolError, read_sequences

    try:
        records = read_sequences(
            path, alphabet=spec.alphabet, ambiguous=spec.ambiguous, quality=spec.quality
        )
    except AmbiguousSymbolError as err:
        if context == "fit":
            fix = (
                "pass --ambiguous soft to read it as a uniform distribution over "
                f"{', '.join(err.bases)}, or replace it"
            )
        else:
            fix = (
                f"the model {model_path} was fitted with --ambiguous error, so it cannot read "
                f"it; refit the model with `lsgm fit --ambiguous soft`, or replace the "
                f"{err.letter!r} letters in the data"
            )
        raise ValueError(f"{err.where}: ambiguous IUPAC code {err.letter!r}; {fix}.") from err
    names = [r.name for r in records]
    xs = [r.data for r in records]
    if spec.reverse_complement:
        if spec.alphabet != "ACGT":
            raise ValueError(
                f"--reverse-complement needs the DNA alphabet ACGT; the alphabet is "
                f"{spec.alphabet!r}."
            )
        # Reverse complement of index symbols: reverse, then A<->T (0<->3), C<->G (1<->2).
        xs = [x[::-1, ::-1].copy() if x.ndim == 2 else (3 - x[::-1]).astype(np.int32) for x in xs]
        names = [f"{n}(-)" for n in names]
    return names, xs


def _read_pianoroll_file(path: Path, spec: InputSpec) -> tuple[list[str], list[np.ndarray]]:
    from lsgm.data import read_pianoroll

    splits = read_pianoroll(path)
    if spec.split is None:
        chosen = list(splits)
    elif spec.split in splits:
        chosen = [spec.split]
    else:
        raise ValueError(
            f"{path}: no split {spec.split!r}; it has {', '.join(splits)}. Pass --split with one "
            "of those."
        )
    names, xs = [], []
    for split in chosen:
        for i, roll in enumerate(splits[split]):
            names.append(f"{path.stem}:{split}:{i}")
            xs.append(np.asarray(roll, np.float32))
    return names, xs


def check_input_file(path, what: str = "data file") -> Path:
    """``path`` if it is a readable file; else a ``ValueError`` saying what it is instead."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what}; pass the file itself.")
    if not path.exists():
        raise ValueError(f"{path}: no such file.")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file; pass a {what}.")
    return path


def read_inputs(paths, spec: InputSpec, context: str = "fit", model_path=None) -> Dataset:
    """Read every file with ``spec``; a file of another kind than ``spec.kind`` is an error.

    ``context`` is ``"fit"`` (the options come from the command line) or ``"model"`` (they
    come from the model file ``model_path``): it picks the fix that error messages suggest."""
    names, xs, sources = [], [], []
    seen: list[Path] = []
    for p in paths:
        path = check_input_file(p)
        twice = next((q for q in seen if os.path.samefile(q, path)), None)
        if twice is not None:
            raise ValueError(
                f"{path}: given twice (also as {twice}); each record would count twice. Pass "
                "each data file once."
            )
        seen.append(path)
        kind = input_kind(path)
        if kind != spec.kind:
            raise ValueError(
                f"{path}: a {kind} file, but the model reads {spec.kind} data "
                f"({_describe(spec)}); pass a file of that kind."
            )
        if kind == "sequence":
            n, x = _read_sequence_file(path, spec, context, model_path)
        elif kind == "pianoroll":
            n, x = _read_pianoroll_file(path, spec)
        else:
            from lsgm.data import read_table

            x = read_table(path)
            n = [f"{path.stem}:{i}" for i in range(len(x))]
        names += n
        xs += x
        sources += [str(path)] * len(x)
    if not xs:
        split = f" (split {spec.split!r})" if spec.split else ""
        raise ValueError(
            f"no sequences were read from {', '.join(str(p) for p in paths)}{split}; pass at "
            "least one data file that holds a non-empty sequence."
        )
    return Dataset(names, xs, sources)


def _describe(spec: InputSpec) -> str:
    if spec.kind == "sequence":
        return f"FASTA/FASTQ over the alphabet {spec.alphabet!r}"
    if spec.kind == "pianoroll":
        return ".mat/.json piano rolls or MIDI"
    return ".npy/.npz/.csv/.tsv tables"


def prepare(data: Dataset, spec: InputSpec, family: str, dim: int | None, where: str) -> list:
    """The sequences as the emission family needs them: soft symbols one-hot when any record is
    soft (a batch needs one layout); table and piano-roll records as the family's
    ``read_observations`` makes them (e.g. integer symbols, float32 vectors); the feature count
    checked."""
    from lsgm.distributions import registry

    xs = data.xs
    if spec.kind == "sequence":
        M = len(spec.alphabet)
        if spec.soft or any(x.ndim == 2 for x in xs):
            eye = np.eye(M, dtype=np.float32)
            xs = [x if x.ndim == 2 else eye[x] for x in xs]
        return xs
    read = registry.family(family).read_observations
    xs = [read(x, source) for x, source in zip(xs, data.sources, strict=True)]
    if dim is not None:
        for x, source in zip(xs, data.sources, strict=True):
            if x.ndim == 2 and x.shape[1] != dim:
                raise ValueError(
                    f"{source}: {x.shape[1]} features per step, but {where} expects {dim}; "
                    "pass data with the model's feature count."
                )
    return xs


def check_records(emission, data: Dataset, xs: list) -> None:
    """Validate every sequence with the emission family's ``check_data``, an error naming the
    file and record (the models' own checks can only say "sequence i")."""
    numbers: dict[str, int] = {}
    for x, source, name in zip(xs, data.sources, data.names, strict=True):
        numbers[source] = numbers.get(source, 0) + 1
        emission.check_data(np.asarray(x), f"{source}: record {numbers[source]} ({name})")
