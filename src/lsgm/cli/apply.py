"""``lsgm score``, ``lsgm decode`` and ``lsgm posterior``: a model file applied to data files."""

from __future__ import annotations

import io
import math
import re
import sys
from pathlib import Path

import numpy as np

from lsgm.cli.common import (
    LoadedModel,
    add_output_options,
    all_or_nothing,
    check_names,
    emit,
    message,
    positive_int,
    strict_int,
)
from lsgm.cli.inputs import add_selection_options
from lsgm.data import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_output,
    format_bed,
    format_bedgraph,
    intervals_to_features,
    path_to_intervals,
    sort_intervals,
    state_colours,
    track_rows,
    write_gff,
)

#: HMM sequences longer than this are decoded one at a time by the exact chunked kernels
#: (:mod:`lsgm.inference.chunked`); shorter ones (and every LSGM sequence) in one padded batch.
CHUNKED_MIN_LENGTH = 100_000


def _common(p) -> None:
    p.add_argument("model", help="model file written by `lsgm fit`")
    p.add_argument("data", nargs="+", help="data files of the kind the model was trained on")
    p.add_argument(
        "--split",
        default=None,
        help="piano-roll split to read (default: every split of the file, whatever "
        "split the model was trained on)",
    )
    add_selection_options(p)
    add_output_options(p)


def _format_options(p, formats: tuple[str, ...], output: str, states: str) -> None:
    """``-o`` (help ``output``), ``--format`` (one of ``formats``; default from the suffix)
    and ``--states`` (alias ``--bed-states``: the states ``states``)."""
    p.add_argument("-o", "--output", required=True, help=output)
    p.add_argument(
        "--format", choices=list(formats), help="output format (default: from the suffix of -o)"
    )
    p.add_argument(
        "--bin-size",
        type=strict_int,
        default=1,
        metavar="BP",
        help="genome bases per step, for binned data (e.g. 200 for ChromHMM's bins): BED, GFF3, "
        "bedGraph and bigWig coordinates are steps times BP (--region counts steps)",
    )
    p.add_argument(
        "--states",
        "--bed-states",
        dest="states",
        metavar="NAMES",
        help=f"comma-separated state names {states} (default: every state)",
    )


#: Output formats by file suffix (``--format`` overrides the suffix).
FORMATS = {
    ".tsv": "tsv",
    ".bed": "bed",
    ".gff3": "gff3",
    ".gff": "gff3",
    ".bedgraph": "bedgraph",
    ".bg": "bedgraph",
    ".npz": "npz",
    ".bw": "bigwig",
    ".bigwig": "bigwig",
}


def register(sub) -> None:
    p = sub.add_parser("score", help="log-likelihood and per-symbol perplexity of data")
    _common(p)
    p.add_argument("-o", "--output", help="also write a per-sequence TSV here")
    p.set_defaults(run=run_score)

    p = sub.add_parser(
        "decode", help="Viterbi state paths: TSV, BED or GFF3 intervals of states, bedGraph"
    )
    _common(p)
    _format_options(
        p,
        ("tsv", "bed", "gff3", "bedgraph"),
        "output file: .tsv (one row per position), .bed (BED9: the runs of each state, sorted, "
        "named and coloured by state), .gff3 (the same runs as features) or .bedgraph (a 0/1 "
        "track per state: one file NAME.STATE.bedgraph per state unless one is chosen)",
        "written to BED, GFF3 or bedGraph",
    )
    p.set_defaults(run=run_decode)

    p = sub.add_parser(
        "posterior", help="state posteriors p(z_t | x): TSV, NPZ, bedGraph or bigWig tracks"
    )
    _common(p)
    _format_options(
        p,
        ("tsv", "npz", "bedgraph", "bigwig"),
        "output file: .tsv, .npz (one [T, K] array per record, keyed by record name), "
        ".bedgraph or .bw (bigWig, needs pyBigWig: pip install 'lsgm[bigwig]'): a track of "
        "p(state) per state, one file NAME.STATE.SUFFIX per state unless one is chosen",
        "written as bedGraph/bigWig tracks",
    )
    p.set_defaults(run=run_posterior)


def _output(args, allowed: tuple[str, ...]) -> Path:
    """The checked ``-o`` path: not an input (model or data file), an allowed suffix."""
    return check_output(args.output, [args.model, *args.data], allowed)


def _format(args, formats: tuple[str, ...]) -> tuple[Path, str]:
    """``(-o path, format)``: ``--format``, else the format of the path's suffix
    (:data:`FORMATS`), one of ``formats``; the path checked (not an input)."""
    if getattr(args, "format", None):
        return check_output(args.output, [args.model, *args.data]), args.format
    suffixes = tuple(k for f in formats for k, v in FORMATS.items() if v == f)
    out = _output(args, suffixes)
    return out, FORMATS[next(x for x in suffixes if out.name.lower().endswith(x))]


def _chosen_states(args, lm: LoadedModel, fmt: str, per_state: tuple[str, ...]) -> list[str]:
    """The states ``--states`` names (all without it), checked; refused for a format that
    writes every state (TSV, NPZ). Also checks ``--bin-size`` (genome formats only)."""
    positive_int("--bin-size", args.bin_size)
    if args.bin_size != 1 and fmt in ("tsv", "npz"):
        raise ValueError(
            f"--bin-size {args.bin_size} would be ignored: it scales genome coordinates (BED, "
            f"GFF3, bedGraph, bigWig), and the {fmt} output counts steps. Drop --bin-size."
        )
    if not args.states:
        return list(lm.state_names)
    if fmt not in per_state:
        raise ValueError(
            f"--states (--bed-states) selects the states written as {' or '.join(per_state)}; "
            f"the {fmt} "
            "output has every state. Drop --states, or choose one of those formats."
        )
    keep = check_names([s.strip() for s in args.states.split(",")], "--states")
    unknown = sorted(set(keep) - set(lm.state_names))
    if unknown:
        raise ValueError(
            f"--states {unknown} are not states of {lm.path}; its states are "
            f"{', '.join(lm.state_names)}."
        )
    return keep


def track_paths(out: Path, states: list[str], inputs: list) -> dict[str, Path]:
    """One output file per state: ``out`` itself for one state, else ``STEM.STATE.SUFFIX``
    next to it (characters other than letters, digits, ``._-`` in a state name become
    ``_``); each checked as an output."""
    if len(states) == 1:
        return {states[0]: out}
    stem, suffix = (out.name[: -len(out.suffix)], out.suffix) if out.suffix else (out.name, "")
    paths = {}
    for state in states:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", state)
        paths[state] = check_output(out.with_name(f"{stem}.{safe}{suffix}"), inputs)
    if len(set(paths.values())) < len(paths):
        raise ValueError(
            f"state names {states} give the same file name twice; choose states with --states."
        )
    return paths


def _write_tracks(paths: dict[str, Path], data, tracks, fmt: str, what: str, step: int = 1) -> None:
    """bedGraph or bigWig files, one per state: ``tracks[i]`` is sequence ``i``'s ``[T_i,
    K']`` values of the states ``paths`` lists, in that order; genome coordinates from
    ``data.chroms`` / ``data.offsets``, times ``step`` bases per step; ``what`` names a track
    (``{state}`` is replaced)."""
    for k, (state, path) in enumerate(paths.items()):
        pieces = [
            (chrom, offset, np.asarray(t)[:, k])
            for chrom, offset, t in zip(data.chroms, data.offsets, tracks, strict=True)
        ]
        if fmt == "bedgraph":
            text = format_bedgraph(pieces, what.format(state=state), step=step)
            atomic_write_text(path, text)
        else:
            _write_bigwig(path, pieces, data, step)


def _write_bigwig(path: Path, pieces, data, step: int = 1) -> None:
    """A bigWig file of ``pieces`` (``(chrom, offset, values [T])``) through pyBigWig; the
    chromosome sizes are the records' lengths (the end of the furthest piece on each)."""
    try:
        import pyBigWig
    except ImportError as err:
        raise ValueError(
            "bigWig output needs pyBigWig (pip install pyBigWig, or pip install 'lsgm[bigwig]'); "
            "or write .bedgraph and convert it with UCSC's bedGraphToBigWig."
        ) from err
    sizes: dict[str, int] = {}
    for chrom, offset, values in pieces:
        whole = max(offset + len(values), data.sizes.get(chrom, 0))
        sizes[chrom] = max(sizes.get(chrom, 0), whole * step)
    rows = track_rows(pieces, step=step)
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader(sorted(sizes.items()))
            if rows:
                chroms, starts, ends, values = zip(*rows, strict=True)
                bw.addEntries(list(chroms), list(starts), ends=list(ends), values=list(values))
        finally:
            bw.close()


def _per_sequence(lm: LoadedModel, xs: list, op: str) -> list[np.ndarray]:
    """Viterbi paths (``op="viterbi"``, ``[T_i]``) or state posteriors (``"states"``,
    ``[T_i, K]``) of every sequence, in order. An HMM (stationary potentials) runs sequences
    longer than :data:`CHUNKED_MIN_LENGTH` through the chunked kernels (same results, no
    padding of the other sequences to the longest length); the rest go through the model's
    batched ``predict`` / ``predict_proba``."""
    import jax.numpy as jnp

    from lsgm.inference import chunked_posteriors, chunked_viterbi
    from lsgm.models import HMM

    long = [isinstance(lm.model, HMM) and len(x) > CHUNKED_MIN_LENGTH for x in xs]
    short = [x for x, is_long in zip(xs, long, strict=True) if not is_long]
    batched = iter([])
    if short:
        batched = iter(
            lm.model.predict(short) if op == "viterbi" else lm.model.predict_proba(short)
        )
    out = []
    for i, (x, is_long) in enumerate(zip(xs, long, strict=True)):
        if not is_long:
            out.append(np.asarray(next(batched)))
            continue
        lm.model.emission.check_data(np.asarray(x), f"sequence {i}")
        p = lm.model.potentials(jnp.asarray(x))
        result = np.asarray(chunked_viterbi(p)[0] if op == "viterbi" else chunked_posteriors(p))
        if (result[0] < 0).any() if op == "viterbi" else np.isnan(result).any():
            raise ValueError(f"sequence {i} has no state path or posteriors.")
        out.append(result)
    return out


def _checked_per_sequence(lm: LoadedModel, data, xs: list, op: str) -> list[np.ndarray]:
    """:func:`_per_sequence`; an impossible sequence is an error naming its file, record and
    position (never a made-up path or NaN posteriors in an output file)."""
    try:
        return _per_sequence(lm, xs, op)
    except ValueError as err:
        lm.refuse_impossible(data, xs, err)
        raise


def _check_unique_records(data) -> None:
    """Per-record outputs (BED, TSV, NPZ keys) need one name per record: a name given twice
    would merge two records' rows."""
    first: dict[str, str] = {}
    for name, source in zip(data.names, data.sources, strict=True):
        if name in first:
            raise ValueError(
                f"{source}: the record name {name!r} is used twice (also in {first[name]}); the "
                "output could not tell the records apart. Rename the records so each is unique."
            )
        first[name] = source


def _exp(x: float) -> float:
    """``exp(x)``, ``inf`` where it overflows (an impossible sequence has perplexity inf)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def run_score(args) -> int:
    out = _output(args, (".tsv",)) if args.output else None
    lm = LoadedModel(args.model)
    data, xs = lm.read(args.data, args.split, args)
    message(args, f"scoring {len(xs)} sequences ({data.num_steps} steps)")
    per_seq = lm.model.score_samples(xs)
    if np.isnan(per_seq).any():
        i = int(np.flatnonzero(np.isnan(per_seq))[0])
        raise ValueError(
            f"{data.sources[i]}: record {data.names[i]} scores NaN under the model {lm.path}; "
            "its parameters or the data hold a NaN. Check the data file, or refit the model."
        )
    impossible = lm.impossible(data, xs, np.flatnonzero(np.isneginf(per_seq)))
    for where in impossible:
        print(
            f"lsgm score: warning: {where}: impossible under the model (log-likelihood "
            "-inf: probability 0)",
            file=sys.stderr,
        )
    total = float(per_seq.sum())
    per_step = total / data.num_steps
    result = {
        "model": str(lm.path),
        "num_sequences": len(xs),
        "num_steps": data.num_steps,
        "log_likelihood": total,
        "log_likelihood_per_step": per_step,
        "perplexity": _exp(-per_step),
        "impossible": impossible,
        "per_sequence": [
            {"name": n, "length": len(x), "log_likelihood": float(v)}
            for n, x, v in zip(data.names, xs, per_seq, strict=True)
        ],
    }
    if out is not None:
        rows = ["name\tlength\tlog_likelihood\tper_step\n"] + [
            f"{n}\t{len(x)}\t{v:.6f}\t{v / len(x):.6f}\n"
            for n, x, v in zip(data.names, xs, per_seq, strict=True)
        ]
        atomic_write_text(out, "".join(rows))
    unit = "symbol" if lm.spec.kind == "sequence" else "step"
    emit(
        args,
        result,
        [
            f"{len(xs)} sequences, {data.num_steps} {unit}s",
            f"log-likelihood {total:.4f}  ({per_step:.4f} per {unit})",
            f"perplexity per {unit} {_exp(-per_step):.4f}",
        ],
    )
    return 0


@all_or_nothing
def run_decode(args) -> int:
    out, fmt = _format(args, ("tsv", "bed", "gff3", "bedgraph"))
    lm = LoadedModel(args.model)
    keep = _chosen_states(args, lm, fmt, ("bed", "gff3", "bedgraph"))
    paths_out = track_paths(out, keep, [args.model, *args.data]) if fmt == "bedgraph" else {}
    data, xs = lm.read(args.data, args.split, args)
    _check_unique_records(data)
    message(args, f"decoding {len(xs)} sequences ({data.num_steps} steps)")
    paths = _checked_per_sequence(lm, data, xs, "viterbi")
    written: int | str
    if fmt in ("bed", "gff3"):
        intervals = sort_intervals(
            iv
            for chrom, offset, path in zip(data.chroms, data.offsets, paths, strict=True)
            for iv in path_to_intervals(np.asarray(path), chrom, lm.state_names, keep, offset)
        )
        b = args.bin_size
        intervals = [iv._replace(start=iv.start * b, end=iv.end * b) for iv in intervals]
        if fmt == "bed":
            colours = state_colours(lm.state_names)
            atomic_write_text(out, format_bed(intervals, colours, f"lsgm decode {lm.path.name}"))
        else:
            write_gff(out, intervals_to_features(intervals, feature_type="region", id_prefix="r"))
        written = f"{len(intervals)} intervals"
    elif fmt == "bedgraph":
        index = [lm.state_names.index(s) for s in keep]
        onehot = [(np.asarray(p)[:, None] == np.asarray(index)[None]).astype(float) for p in paths]
        _write_tracks(paths_out, data, onehot, fmt, "Viterbi path in {state}", args.bin_size)
        written = f"{len(paths_out)} track(s)"
    else:
        buf = io.StringIO()
        buf.write("name\tposition\tstate\tstate_name\n")
        for name, offset, path in zip(data.names, data.offsets, paths, strict=True):
            for t, k in enumerate(np.asarray(path)):
                buf.write(f"{name}\t{offset + t + 1}\t{k}\t{lm.state_names[k]}\n")
        atomic_write_text(out, buf.getvalue())
        written = f"{data.num_steps} rows"
    counts = np.bincount(
        np.concatenate([np.asarray(p) for p in paths]), minlength=len(lm.state_names)
    )
    files = [str(p) for p in paths_out.values()] or [str(out)]
    result = {
        "output": str(out),
        "outputs": files,
        "format": fmt,
        "num_sequences": len(xs),
        "rows": int(written.split()[0]),
        "state_counts": dict(zip(lm.state_names, counts.tolist(), strict=True)),
    }
    emit(args, result, [f"wrote {', '.join(files)} ({written})"])
    return 0


#: Names an NPZ file of ``lsgm posterior`` uses besides the records' (which may not take them).
NPZ_RESERVED = ("names", "state_names")


@all_or_nothing
def run_posterior(args) -> int:
    out, fmt = _format(args, ("tsv", "npz", "bedgraph", "bigwig"))
    lm = LoadedModel(args.model)
    keep = _chosen_states(args, lm, fmt, ("bedgraph", "bigwig"))
    tracks_out = {}
    if fmt in ("bedgraph", "bigwig"):
        tracks_out = track_paths(out, keep, [args.model, *args.data])
    data, xs = lm.read(args.data, args.split, args)
    _check_unique_records(data)
    if fmt == "npz":
        taken = sorted(set(data.names) & set(NPZ_RESERVED))
        if taken:
            raise ValueError(
                f"a record is named {taken[0]!r}, a name the .npz file uses for its index; "
                "rename the record, or write .tsv."
            )
    message(args, f"posteriors of {len(xs)} sequences ({data.num_steps} steps)")
    probs = _checked_per_sequence(lm, data, xs, "states")
    if fmt == "npz":
        buf = io.BytesIO()
        arrays = dict(zip(data.names, probs, strict=True))
        np.savez_compressed(
            buf, names=np.asarray(data.names), state_names=np.asarray(lm.state_names), **arrays
        )
        atomic_write_bytes(out, buf.getvalue())
    elif fmt in ("bedgraph", "bigwig"):
        index = [lm.state_names.index(s) for s in keep]
        tracks = [np.asarray(p)[:, index] for p in probs]
        _write_tracks(tracks_out, data, tracks, fmt, "p({state} | x)", args.bin_size)
    else:
        text = io.StringIO()
        text.write("name\tposition\t" + "\t".join(lm.state_names) + "\n")
        for name, offset, p in zip(data.names, data.offsets, probs, strict=True):
            for t, row in enumerate(p):
                text.write(
                    f"{name}\t{offset + t + 1}\t" + "\t".join(f"{v:.6g}" for v in row) + "\n"
                )
        atomic_write_text(out, text.getvalue())
    files = [str(p) for p in tracks_out.values()] or [str(out)]
    emit(
        args,
        {
            "output": str(out),
            "outputs": files,
            "format": fmt,
            "num_sequences": len(xs),
            "num_steps": data.num_steps,
        },
        [f"wrote {', '.join(files)}"],
    )
    return 0
