"""``lsgm experiment``: runs the papers' experiments (modules in :mod:`lsgm.cli.experiments`)."""

from __future__ import annotations

import importlib
import pkgutil

from lsgm.cli import experiments


def register(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="reproduce an experiment of the papers (each has a --quick mode)",
        description="Experiments of the LSGM and genome-RNN papers. Each prints a table and "
        "writes it (Markdown and JSON) to its output folder.",
    )
    inner = p.add_subparsers(dest="experiment", metavar="NAME")
    for module in pkgutil.iter_modules(experiments.__path__):
        importlib.import_module(f"{experiments.__name__}.{module.name}").register(inner)

    def no_name(args) -> int:
        p.print_help()
        return 2

    p.set_defaults(run=no_name)
