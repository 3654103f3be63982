"""``lsgm score``, ``lsgm decode`` and ``lsgm posterior``: a model file applied to data files."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np

from lsgm.cli.common import LoadedModel, add_output_options, check_names, emit, message
from lsgm.data import (
    atomic_write_bytes,
    atomic_write_text,
    check_output,
    format_bed,
    path_to_intervals,
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
    add_output_options(p)


def register(sub) -> None:
    p = sub.add_parser("score", help="log-likelihood and per-symbol perplexity of data")
    _common(p)
    p.add_argument("-o", "--output", help="also write a per-sequence TSV here")
    p.set_defaults(run=run_score)

    p = sub.add_parser("decode", help="Viterbi state paths as TSV, or BED intervals of states")
    _common(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file: .tsv (one row per position) or .bed (intervals)",
    )
    p.add_argument(
        "--bed-states", help="comma-separated state names written to BED (default: every state)"
    )
    p.set_defaults(run=run_decode)

    p = sub.add_parser("posterior", help="state posteriors p(z_t | x) as TSV or NPZ")
    _common(p)
    p.add_argument("-o", "--output", required=True, help="output file: .tsv or .npz")
    p.set_defaults(run=run_posterior)


def _output(args, allowed: tuple[str, ...]) -> Path:
    """The checked ``-o`` path: not an input (model or data file), an allowed suffix."""
    return check_output(args.output, [args.model, *args.data], allowed)


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
    data, xs = lm.read(args.data, args.split)
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


def run_decode(args) -> int:
    out = _output(args, (".tsv", ".bed"))
    lm = LoadedModel(args.model)
    keep = None
    if args.bed_states and out.suffix.lower() != ".bed":
        raise ValueError(
            f"--bed-states selects the states written to a .bed output; {out} is a .tsv, "
            "which has every position. Drop --bed-states or write a .bed file."
        )
    if args.bed_states:
        keep = check_names([s.strip() for s in args.bed_states.split(",")], "--bed-states")
        unknown = sorted(set(keep) - set(lm.state_names))
        if unknown:
            raise ValueError(
                f"--bed-states {unknown} are not states of {lm.path}; its states are "
                f"{', '.join(lm.state_names)}."
            )
    data, xs = lm.read(args.data, args.split)
    _check_unique_records(data)
    message(args, f"decoding {len(xs)} sequences ({data.num_steps} steps)")
    paths = _checked_per_sequence(lm, data, xs, "viterbi")
    if out.suffix.lower() == ".bed":
        intervals = [
            iv
            for name, path in zip(data.names, paths, strict=True)
            for iv in path_to_intervals(np.asarray(path), name, lm.state_names, keep)
        ]
        atomic_write_text(out, format_bed(intervals))
        written = len(intervals)
    else:
        buf = io.StringIO()
        buf.write("name\tposition\tstate\tstate_name\n")
        for name, path in zip(data.names, paths, strict=True):
            for t, k in enumerate(np.asarray(path)):
                buf.write(f"{name}\t{t + 1}\t{k}\t{lm.state_names[k]}\n")
        atomic_write_text(out, buf.getvalue())
        written = data.num_steps
    counts = np.bincount(
        np.concatenate([np.asarray(p) for p in paths]), minlength=len(lm.state_names)
    )
    result = {
        "output": str(out),
        "num_sequences": len(xs),
        "rows": written,
        "state_counts": dict(zip(lm.state_names, counts.tolist(), strict=True)),
    }
    emit(
        args,
        result,
        [f"wrote {out} ({written} {'intervals' if out.suffix.lower() == '.bed' else 'rows'})"],
    )
    return 0


def run_posterior(args) -> int:
    out = _output(args, (".tsv", ".npz"))
    lm = LoadedModel(args.model)
    data, xs = lm.read(args.data, args.split)
    _check_unique_records(data)
    message(args, f"posteriors of {len(xs)} sequences ({data.num_steps} steps)")
    probs = _checked_per_sequence(lm, data, xs, "states")
    if out.suffix.lower() == ".npz":
        buf = io.BytesIO()
        arrays = {f"seq{i}": p for i, p in enumerate(probs)}
        np.savez_compressed(
            buf, names=np.asarray(data.names), state_names=np.asarray(lm.state_names), **arrays
        )
        atomic_write_bytes(out, buf.getvalue())
    else:
        text = io.StringIO()
        text.write("name\tposition\t" + "\t".join(lm.state_names) + "\n")
        for name, p in zip(data.names, probs, strict=True):
            for t, row in enumerate(p):
                text.write(f"{name}\t{t + 1}\t" + "\t".join(f"{v:.6g}" for v in row) + "\n")
        atomic_write_text(out, text.getvalue())
    emit(
        args,
        {"output": str(out), "num_sequences": len(xs), "num_steps": data.num_steps},
        [f"wrote {out}"],
    )
    return 0
