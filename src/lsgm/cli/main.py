"""Entry point of the ``lsgm`` console script.

Subcommands: ``fit``, ``score``, ``decode``, ``posterior``, ``sample``, ``plot``, ``info``,
``demo`` and ``experiment NAME`` (see ``lsgm COMMAND --help``). Exit codes: 0 success, 1 error (bad input, a
failed run — one line on stderr naming the file, line or value and the fix), 2 usage error
(argparse).
"""

from __future__ import annotations

import argparse
import sys

from lsgm import __version__

#: Errors that are the user's input or environment, reported in one line (exit code 1).
USER_ERRORS = (ValueError, OSError, FloatingPointError)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    from lsgm.cli import apply, demo, experiment, fit, generate

    parser = argparse.ArgumentParser(
        prog="lsgm",
        description="Exact-inference sequence models: HMMs and Long Short-term Graphical Models.",
    )
    parser.add_argument("--version", action="version", version=f"lsgm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (fit, apply, generate, demo, experiment):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help/--version (0) or a usage error (2)
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except USER_ERRORS as err:
        print(f"lsgm {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lsgm {args.command}: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
