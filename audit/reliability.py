"""The auditor's script: bad inputs and faults against the lsgm library and CLI.

    python -m audit.reliability [--quick] [-o REPORT.md] [--json]

Every case runs in a fresh temp dir; every file there is hashed before and after each action
(``loss`` when an input changed). CLI cases run in-process through
``lsgm.cli.main.main(argv)``; subprocesses only for signals, kills, rlimits and concurrency.
Verdicts and classes: see :mod:`audit.harness` and issue 18.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from audit import (  # noqa: F401 - importing them registers the cases
    cases_api,
    cases_cli,
    cases_inputs,
    cases_models,
    cases_proc,
    cases_round2,
)
from audit.harness import CASES, CLASSES, Case, as_json, atomic_write, markdown, run_cases


def select(quick: bool) -> list[Case]:
    """All cases, or the ``--quick`` subset (at least two per class)."""
    cases = [c for c in CASES if c.quick] if quick else list(CASES)
    for cls in CLASSES:
        have = [c for c in cases if c.cls == cls]
        extra = [c for c in CASES if c.cls == cls and c not in cases]
        cases += extra[: max(0, 2 - len(have))]
    return cases


def run(quick: bool = False, log=None, only: str | None = None) -> tuple[list[Case], float]:
    """Run the audit (``only``: comma-separated substrings of case ids); ``(cases with
    verdicts, seconds)``."""
    chosen = select(quick)
    if only:
        chosen = [c for c in chosen if any(part in c.id for part in only.split(","))]
    cases = [Case(c.id, c.cls, c.desc, c.fn, c.quick) for c in chosen]
    start = time.perf_counter()
    run_cases(cases, log)
    return cases, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a representative subset (~30)")
    parser.add_argument("-o", "--output", help="write the Markdown (or --json) report here")
    parser.add_argument("--json", action="store_true", help="JSON report instead of Markdown")
    parser.add_argument(
        "--only", help="run only cases whose id contains one of these comma-separated strings"
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.list:
        for c in select(args.quick):
            print(f"{c.id}\t{c.cls}\t{c.desc}")
        return 0
    cases, seconds = run(
        args.quick, log=lambda s: print(s, file=sys.stderr, flush=True), only=args.only
    )
    mode = "quick" if args.quick else "full"
    text = as_json(cases, seconds, mode) if args.json else markdown(cases, seconds, mode)
    if args.output:
        atomic_write(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0 if all(c.verdict == "OK" for c in cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
