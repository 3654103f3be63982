"""Pieces every subcommand shares: options, model files with their input spec, output."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

from lsgm.cli.inputs import (
    Dataset,
    InputSpec,
    Pick,
    check_records,
    prepare,
    read_inputs,
    select,
    selection,
)
from lsgm.data import (
    atomic_write_text,
    check_output,
    deferred_outputs,
    is_int_literal,
    is_number_literal,
)


def strict_int(text: str) -> int:
    """An argparse ``type``: a plain integer literal (``int()`` would accept ``1_000``)."""
    if not is_int_literal(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (digits only, e.g. 100)")
    return int(text)


def strict_float(text: str) -> float:
    """An argparse ``type``: a plain finite decimal number (no ``1_000``, ``nan``, ``inf``)."""
    if not is_number_literal(text) or not math.isfinite(value := float(text)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number (e.g. 0.5 or 1e-3)")
    return value


def seed_int(text: str) -> int:
    """An argparse ``type``: a seed in ``[0, 2**32 - 1]`` (what JAX and numpy accept)."""
    value = strict_int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is outside [0, 2**32 - 1]")
    return value


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Name every option's default in its ``--help`` text, in ``parser`` and every parser
    below it (subcommands, experiments).

    An option whose default is neither ``None`` nor ``False`` and whose help does not already
    say it (the word "default", or the value in parentheses) gets ``(default: VALUE)``
    appended; options that default to ``None`` say what that means in their own text."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                show_defaults(child)
            continue
        default = action.default
        if not action.option_strings or default is None or default is False:
            continue
        if default is argparse.SUPPRESS:
            continue
        text = action.help or ""
        if text == argparse.SUPPRESS or "default" in text.lower() or _says(text, default):
            continue
        action.help = f"{text} (default: %(default)s)".lstrip()


def _says(text: str, default) -> bool:
    """Whether ``text`` gives ``default`` first in a parenthesis: ``(128)``, ``(1e-3)``,
    ``(3, the paper's)``; an empty list is a default with nothing to say."""
    if isinstance(default, list | tuple) and not default:
        return True
    for inside in re.findall(r"\(([^(),;]*)", text):
        first = inside.split(" ")[0] if inside else ""
        if first == str(default):
            return True
        if is_number_literal(first) and isinstance(default, int | float):
            if float(first) == float(default):
                return True
    return False


def add_seeds_option(
    parser: argparse.ArgumentParser, default: int | None = None, varies: str = "initialisation"
) -> None:
    """``--seeds S``: run with the seeds ``--seed .. --seed+S-1`` and report mean ± SD over
    them (``docs/experiments/README.md``, rule 3); ``varies``: what a seed changes;
    ``default`` None: the command picks (3, and 1 with ``--quick``)."""
    chosen = "3; 1 with --quick" if default is None else str(default)
    parser.add_argument(
        "--seeds",
        type=strict_int,
        default=default,
        metavar="S",
        help=f"run with the seeds --seed .. --seed+S-1 (each its own {varies}) and report "
        f"mean ± SD over them; the protocol asks for >= 3 (default {chosen})",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, ``--json`` and ``--seed``, shared by every subcommand."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or messages")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with the results on stdout"
    )
    parser.add_argument(
        "--seed", type=seed_int, default=0, help="random seed in [0, 2**32 - 1] (default 0)"
    )


def all_or_nothing(run):
    """Decorate a command that writes several files: they appear together when it succeeds,
    and none of them when it fails or is interrupted (:func:`lsgm.data.files.deferred_outputs`)."""
    import functools

    @functools.wraps(run)
    def wrapped(args) -> int:
        with deferred_outputs():
            return run(args)

    return wrapped


#: Files every experiment (and the demo) writes into its output folder.
RESULT_FILES = ("results.json", "results.md")


def output_folder(args, inputs=(), contents=RESULT_FILES) -> Path:
    """``args.output`` checked as an output folder (:func:`lsgm.data.files.check_output`):
    created if needed, writable, neither it nor the files ``contents`` in it one of
    ``inputs`` — before any work."""
    return check_output(
        args.output, [p for p in inputs if p], folder=True, contents=contents, what="output folder"
    )


def select_inputs(data: Dataset, spec: InputSpec, args) -> tuple[Dataset, list[Pick] | None]:
    """``data`` cut to ``args``' ``--region`` / ``--records`` (:func:`lsgm.cli.inputs.select`;
    unchanged without them or when ``args`` is None)."""
    if args is None:
        return data, None
    regions, records = selection(args)
    if regions and spec.reverse_complement:
        raise ValueError(
            "--region reads forward-strand coordinates, and these data are read reverse-"
            "complemented (--reverse-complement); cut the region out first, or use --records."
        )
    return select(data, regions, records)


def check_resume(args) -> None:
    """``--resume`` needs ``--checkpoint-dir``, and that folder must exist: a resume never
    starts afresh without a word (checked before the folder is created for new checkpoints)."""
    if not getattr(args, "resume", False):
        return
    if not args.checkpoint_dir:
        raise ValueError("--resume needs --checkpoint-dir (the folder of the interrupted run).")
    folder = Path(args.checkpoint_dir)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(
            f"--resume: the checkpoint folder {folder} {what}; pass the --checkpoint-dir of the "
            "interrupted run, or drop --resume to start afresh."
        )


def fit_status(history: dict) -> dict:
    """Whether an EM fit converged, from its per-iteration ``history`` (the model file's
    ``training.history``: ``log_likelihood`` list and ``converged``): ``{"converged",
    "n_iter", "last_change"}``, where ``last_change`` is the change of the log-likelihood
    between the last two iterations (``None`` after one iteration). Empty for fits without
    iterations (counting, gradient training)."""
    curve = history.get("log_likelihood")
    if not curve or "converged" not in history:
        return {}
    last = None
    if len(curve) > 1 and curve[-1] is not None and curve[-2] is not None:
        last = float(curve[-1]) - float(curve[-2])
    return {"converged": bool(history["converged"]), "n_iter": len(curve), "last_change": last}


def convergence_line(status: dict, tol: float | None = None) -> str | None:
    """One line saying that an EM fit stopped at its iteration cap without converging (with
    its last change), or ``None`` when it converged or ran no EM (``status`` from
    :func:`fit_status` or a model file's ``training``)."""
    if not status or status.get("converged", True):
        return None
    change = status.get("last_change")
    said = "" if change is None else f"; the log-likelihood changed by {change:+.4g} in the last"
    said += "" if change is None else " iteration"
    bound = "" if tol is None else f" (--tol {tol:g})"
    return (
        f"EM did not converge: it stopped at its iteration cap, {status.get('n_iter')} "
        f"iterations{said}{bound}. Raise --max-iter, and treat this model as unfinished."
    )


def positive_int(name: str, value: int | None) -> int | None:
    """``value`` if it is >= 1 (or None: an option left at its default), else a ValueError
    naming the option and the fix."""
    if value is not None and value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}.")
    return value


def text_table(rows: list[list[str]]) -> list[str]:
    """Rows of cells as aligned text lines (first column left, the others right-aligned),
    with a rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def markdown_table(rows: list[list[str]]) -> list[str]:
    """Rows of cells as a Markdown table (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


class LoadedModel:
    """A model file: the model, its input spec, state names and the file's info dict.

    The file's ``info`` metadata is validated here (the arrays are validated by
    :func:`lsgm.models.serialization.load_model`): ``state_names`` a list of ``K`` unique
    non-empty strings, ``input`` a dict whose fields have the right types and values,
    ``training`` a dict. A bad field is a ``ValueError`` naming the file and the field.
    """

    def __init__(self, path):
        from lsgm.models import load_model, model_config

        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"{self.path}: is a folder; pass a model file written by `lsgm fit`.")
        self.model, info = load_model(self.path)
        if not isinstance(info, dict):
            raise self._bad("the metadata", "a JSON object", info)
        self.info = info
        K = self.model.num_states
        spec = info.get("input", {"kind": "table"})
        self.spec = _input_spec(spec, self._bad)
        names = info.get("state_names")
        if names is None:
            names = [f"state{k}" for k in range(K)]
        if not isinstance(names, list) or len(names) != K:
            raise self._bad("state_names", f"a list of {K} names (one per state)", names)
        check_names(names, f"{self.path}: state_names")
        self.state_names = list(names)
        training = info.get("training", {})
        if not isinstance(training, dict):
            raise self._bad("training", "an object", training)
        history = training.get("history", {})
        if not isinstance(history, dict):
            raise self._bad("training.history", "an object", history)
        for key in ("log_likelihood", "train_nll", "valid_nll"):
            curve = history.get(key)
            if curve is not None and not (
                isinstance(curve, list)
                and all(isinstance(v, int | float | type(None)) for v in curve)
            ):
                raise self._bad(f"training.history.{key}", "a list of numbers", curve)
        self.config = model_config(self.model)
        self.family = self.config["emission"]["family"]
        emission = self.config["emission"]
        if self.spec.kind == "sequence" and self.family == "categorical":
            M = emission.get("num_symbols")
            if M is not None and len(self.spec.alphabet) != M:
                raise self._bad(
                    "input.alphabet",
                    f"{M} symbols (the model's emission has {M})",
                    self.spec.alphabet,
                )
        if self.spec.dim is not None and emission.get("dim") not in (None, self.spec.dim):
            raise self._bad("input.dim", f"{emission.get('dim')} (the model's)", self.spec.dim)

    def _bad(self, field: str, expected: str, value) -> ValueError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ValueError(
            f"{self.path}: the model file's {field} must be {expected}, got {shown}; the file "
            "was not written by this version of `lsgm fit` or was edited — refit the model."
        )

    @property
    def dim(self) -> int | None:
        emission = self.config["emission"]
        return emission.get("dim")

    def read(self, paths, split: str | None = None, args=None) -> tuple[Dataset, list]:
        """Read data files the way the model was trained; ``(dataset, model-ready xs)``.

        ``split`` is the piano-roll split to read; ``None`` reads every split (in file order),
        whatever split the model was trained on. ``args``' ``--region`` / ``--records``
        (:func:`lsgm.cli.inputs.select`) choose what is read."""
        if split is not None and self.spec.kind != "pianoroll":
            raise ValueError(
                f"--split {split!r} would be ignored: the model {self.path} reads "
                f"{self.spec.kind} files, which have no splits. Drop --split."
            )
        spec = InputSpec.from_dict({**self.spec.to_dict(), "split": split})
        data = read_inputs(paths, spec, context="model", model_path=self.path)
        data = select_inputs(data, spec, args)[0]
        xs = prepare(data, spec, self.family, self.dim, f"the model {self.path}")
        check_records(self.model.emission, data, xs)
        return data, xs

    def impossible(self, data: Dataset, xs: list, which=None) -> list[str]:
        """Where each impossible sequence (``p(x) = 0`` under the model) becomes impossible:
        one ``"FILE: record N (NAME) at position P"`` per such sequence, among the indices
        ``which`` (default: all)."""
        which = list(range(len(xs))) if which is None else list(which)
        if not which:
            return []
        found = self.model.impossible_positions([xs[i] for i in which])
        numbers = _record_numbers(data)
        return [
            f"{data.sources[i]}: record {numbers[i]} ({data.names[i]}) at position {t}"
            for i, t in zip(which, found, strict=True)
            if t is not None
        ]

    def refuse_impossible(self, data: Dataset, xs: list, err: Exception) -> None:
        """Re-raise ``err`` (the model refused posteriors or a path) naming the records that
        have probability zero under this model, and where."""
        where = self.impossible(data, xs)
        if not where:
            raise err
        more = f" ({len(where) - 1} more record(s) too)" if len(where) > 1 else ""
        raise ValueError(
            f"{where[0]}{more}: the sequence is impossible under the model {self.path} (every "
            "state it can be in gives that observation probability 0), so it has no state path "
            "or posteriors. Check the data, or refit with a pseudocount or prior; `lsgm score` "
            "lists every impossible record."
        ) from err


def _record_numbers(data: Dataset) -> list[int]:
    """The 1-based number of each sequence within its own file."""
    numbers, seen = [], {}
    for source in data.sources:
        seen[source] = seen.get(source, 0) + 1
        numbers.append(seen[source])
    return numbers


_SPEC_TYPES = {
    "kind": (str,),
    "alphabet": (str,),
    "ambiguous": (str,),
    "quality": (str,),
    "soft": (bool,),
    "reverse_complement": (bool,),
    "split": (str, type(None)),
    "dim": (int, type(None)),
}
_SPEC_VALUES = {
    "kind": ("sequence", "pianoroll", "table"),
    "ambiguous": ("error", "soft"),
    "quality": ("ignore", "soft"),
}


def _input_spec(spec, bad) -> InputSpec:
    """The model file's ``info["input"]`` as an :class:`InputSpec`, every field checked."""
    if not isinstance(spec, dict):
        raise bad("input", "an object (the input spec)", spec)
    for key, types in _SPEC_TYPES.items():
        if key not in spec:
            continue
        value = spec[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise bad(f"input.{key}", f"of type {names}", value)
        if key in _SPEC_VALUES and value not in _SPEC_VALUES[key]:
            raise bad(f"input.{key}", f"one of {', '.join(_SPEC_VALUES[key])}", value)
    if "kind" not in spec:
        raise bad("input.kind", "one of sequence, pianoroll, table", None)
    if "alphabet" in spec:
        try:
            check_alphabet(spec["alphabet"])
        except ValueError as err:
            raise bad("input.alphabet", "unique symbols", spec["alphabet"]) from err
    if spec.get("dim") is not None and spec["dim"] < 1:
        raise bad("input.dim", "a positive integer", spec["dim"])
    return InputSpec.from_dict(spec)


def check_names(names: list, where: str) -> list[str]:
    """``names`` if they are unique non-empty strings, else a ``ValueError`` naming ``where``
    and the offending name."""
    seen = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: name {i + 1} is {name!r}; every name must be non-empty.")
        if name in seen:
            raise ValueError(f"{where}: the name {name!r} appears twice; names must be unique.")
        seen.add(name)
    return list(names)


def check_alphabet(alphabet: str) -> str:
    """The alphabet (uppercase, as sequences are read) if its symbols are unique letters or
    other visible ASCII characters; else a ``ValueError`` with the fix."""
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError("--alphabet is empty; give the symbols in index order, e.g. ACGT.")
    upper = alphabet.upper()
    bad = next((c for c in upper if not (c.isascii() and c.isprintable()) or c.isspace()), None)
    if bad is not None or ">" in upper or "@" in upper:
        bad = bad if bad is not None else (">" if ">" in upper else "@")
        raise ValueError(
            f"--alphabet {alphabet!r}: {bad!r} cannot be a symbol; use visible ASCII "
            "characters other than '>' and '@'."
        )
    twice = next((c for i, c in enumerate(upper) if c in upper[:i]), None)
    if twice is not None:
        raise ValueError(
            f"--alphabet {alphabet!r}: the symbol {twice!r} appears twice (case-insensitive; "
            "sequences are read in uppercase); give each symbol once, e.g. ACGT."
        )
    return upper


def emit(args, result: dict, lines: list[str]) -> None:
    """Print ``result`` as JSON (``--json``), else the human-readable ``lines`` (not with
    ``--quiet``)."""
    if args.json:
        print(to_json(result))
    elif not args.quiet:
        for line in lines:
            print(line)


def strict_jsonable(value):
    """``value`` with every non-finite float (``inf``, ``-inf``, ``nan``) replaced by ``None``
    (JSON ``null``), NumPy scalars and arrays as Python numbers and lists, tuples as lists,
    and anything else that JSON cannot hold as its ``str``."""
    if isinstance(value, dict):
        return {str(k): strict_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return strict_jsonable(value.item())
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "__array__"):  # JAX arrays
        return strict_jsonable(np.asarray(value))
    return str(value)


def write_report(outdir, result: dict, title: str, lines: list[str], stem: str = "results") -> None:
    """An experiment's report: ``STEM.json`` (``result`` as strict JSON) and ``STEM.md``
    (``# title``, a blank line, then ``lines``) in ``outdir``, each written atomically."""
    outdir = Path(outdir)
    atomic_write_text(outdir / f"{stem}.json", to_json(result))
    atomic_write_text(outdir / f"{stem}.md", "\n".join([f"# {title}", "", *lines, ""]))


def to_json(value, indent: int | None = 2) -> str:
    """Strict RFC 8259 JSON: non-finite numbers become ``null`` (see :func:`strict_jsonable`)."""
    return json.dumps(strict_jsonable(value), indent=indent, allow_nan=False)


def message(args, text: str) -> None:
    """A progress message on stderr (silent with ``--quiet`` or ``--json``)."""
    if not (args.quiet or args.json):
        print(text, file=sys.stderr)
