"""Entry point of the ``lsgm`` console script.

Exit codes: 0 success, 1 error (bad input, failed run), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys

from lsgm import __version__


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommands register themselves here."""
    parser = argparse.ArgumentParser(
        prog="lsgm",
        description="Exact-inference sequence models: HMMs and Long Short-term Graphical Models.",
    )
    parser.add_argument("--version", action="version", version=f"lsgm {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return 0  # pragma: no cover - no subcommands yet


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
