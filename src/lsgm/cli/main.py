"""Entry point of the ``lsgm`` console script.

Subcommands: ``fit``, ``score``, ``decode``, ``posterior``, ``sample``, ``plot``, ``info``,
``demo`` and ``experiment NAME`` (see ``lsgm COMMAND --help``). Exit codes:

* 0 success;
* 1 error in the user's input or environment (one line on stderr naming the file, line or
  value and the fix);
* 2 usage error (argparse);
* 3 internal error: an unexpected exception, a bug in lsgm — one line ``internal error
  (please report)`` with the exception type;
* 130 interrupted (SIGINT / Ctrl-C): nothing is written (outputs are renamed into place only
  by a run that was not interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from lsgm import __version__

#: Errors that are the user's input or environment, reported in one line (exit code 1).
USER_ERRORS = (ValueError, OSError, FloatingPointError, MemoryError)

EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    from lsgm.cli import apply, chromatin, demo, experiment, fit, generate
    from lsgm.cli.common import show_defaults

    parser = argparse.ArgumentParser(
        prog="lsgm",
        description="Exact-inference sequence models: HMMs and Long Short-term Graphical Models.",
    )
    parser.add_argument("--version", action="version", version=f"lsgm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (fit, apply, generate, demo, experiment, chromatin):
        module.register(sub)
    show_defaults(parser)
    return parser


def _interrupted_exit(command: str | None) -> int:
    from lsgm.data import remove_live_temporaries

    remove_live_temporaries()
    print(f"lsgm{' ' + command if command else ''}: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _install_interrupt_handler(command: list):
    """SIGINT raises ``KeyboardInterrupt`` (also where Python had it ignored) and marks the
    run interrupted, so that no output is renamed into place afterwards. A
    ``KeyboardInterrupt`` that a library swallows (one raised inside a garbage-collector
    callback is only printed as "Exception ignored") ends the process with 130 at once."""
    import os

    from lsgm.data import interrupted, mark_interrupted

    def on_sigint(signum, frame):
        mark_interrupted()
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def unraisable(info):
        if isinstance(info.exc_value, KeyboardInterrupt) or interrupted():
            code = _interrupted_exit(command[0])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        previous_hook(info)

    try:
        previous_handler = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (an embedding application): leave it alone
        return lambda: None
    sys.unraisablehook = unraisable

    def restore() -> None:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook

    return restore


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Run as the process itself (``argv`` None: the console script), an interrupted run ends
    the process at once with 130 after flushing its output: the interpreter's teardown after
    a ``KeyboardInterrupt`` cut through JAX's runtime can crash."""
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # before the handler was installed (the first imports)
        print("lsgm: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED and argv is None:
        import os

        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None) -> int:
    from lsgm.data import reset_interrupted

    command: list = [None]
    reset_interrupted()
    restore = _install_interrupt_handler(command)
    try:
        return _run(argv, command)
    finally:
        restore()


def _run(argv, command: list) -> int:
    from lsgm.data import interrupted

    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # argparse: --help/--version (0) or a usage error (2)
            return int(exit_.code or 0)
        command[0] = args.command
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        try:
            code = int(args.run(args))
        except USER_ERRORS as err:
            if interrupted():
                return _interrupted_exit(args.command)
            if isinstance(err, MemoryError):
                err = "out of memory; use smaller inputs (fewer or shorter sequences)."
            print(f"lsgm {args.command}: error: {err}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            raise
        except Exception as err:  # a bug: distinguishable from user errors by its exit code
            if interrupted():
                return _interrupted_exit(args.command)
            print(
                f"lsgm {args.command}: internal error (please report it, with the command "
                f"line): {type(err).__name__}: {err}",
                file=sys.stderr,
            )
            return EXIT_INTERNAL
        if interrupted():
            return _interrupted_exit(args.command)
        return code
    except KeyboardInterrupt:
        return _interrupted_exit(command[0])
    except Exception:
        if interrupted():  # e.g. an ImportError of an extension cut by Ctrl-C
            return _interrupted_exit(command[0])
        raise


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
