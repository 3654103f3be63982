"""Pieces every subcommand shares: options, model files with their input spec, output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lsgm.cli.inputs import Dataset, InputSpec, prepare, read_inputs
from lsgm.models.serialization import load_model, model_config


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, ``--json`` and ``--seed``, shared by every subcommand."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or messages")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with the results on stdout"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


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
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                     enumerate(zip(r, widths, strict=True))) for r in rows]  # fmt: skip
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def markdown_table(rows: list[list[str]]) -> list[str]:
    """Rows of cells as a Markdown table (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
           for r in rows]  # fmt: skip
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


class LoadedModel:
    """A model file: the model, its input spec, state names and the file's info dict."""

    def __init__(self, path):
        self.path = Path(path)
        self.model, self.info = load_model(self.path)
        self.spec = InputSpec.from_dict(self.info.get("input", {"kind": "table"}))
        K = self.model.num_states
        self.state_names = list(self.info.get("state_names") or [f"state{k}" for k in range(K)])
        self.config = model_config(self.model)
        self.family = self.config["emission"]["family"]

    @property
    def dim(self) -> int | None:
        emission = self.config["emission"]
        return emission.get("dim")

    def read(self, paths, split: str | None = None) -> tuple[Dataset, list]:
        """Read data files the way the model was trained; ``(dataset, model-ready xs)``."""
        spec = self.spec
        if split is not None:
            spec = InputSpec.from_dict({**spec.to_dict(), "split": split})
        data = read_inputs(paths, spec)
        return data, prepare(data, spec, self.family, self.dim, f"the model {self.path}")


def emit(args, result: dict, lines: list[str]) -> None:
    """Print ``result`` as JSON (``--json``), else the human-readable ``lines`` (not with
    ``--quiet``)."""
    if args.json:
        print(json.dumps(result, indent=2, default=_jsonable))
    elif not args.quiet:
        for line in lines:
            print(line)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def message(args, text: str) -> None:
    """A progress message on stderr (silent with ``--quiet`` or ``--json``)."""
    if not (args.quiet or args.json):
        print(text, file=sys.stderr)
