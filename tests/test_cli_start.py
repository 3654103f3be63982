"""The command line starts fast: parsing (``--help``, an argument error) of every registered
command loads none of JAX, Flax, optax, matplotlib and SciPy, which cost seconds; they load
when a command runs. Every option's default is in its ``--help``.

The import check runs in one fresh interpreter (this process has JAX loaded already) and walks
the parser, so commands added later are held to it too. ``benchmarks/cli_start.py`` measures
the time; no test asserts one.
"""

import argparse
import json
import subprocess
import sys

from lsgm.cli.common import _says
from lsgm.cli.fit import BUILTIN_FAMILIES
from lsgm.cli.main import build_parser

HEAVY = ("jax", "jaxlib", "flax", "optax", "matplotlib", "scipy", "Bio", "sklearn", "pandas")

# Runs in a fresh interpreter: parse `--help` of every (sub)command and a few argument errors,
# then print the top-level packages that parsing loaded.
_WALK = """
import argparse, contextlib, io, json, sys
from lsgm.cli.main import build_parser

def commands(parser, prefix=()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*prefix, name))

codes = {}
for argv in [*(list(c) + ["--help"] for c in commands(build_parser())),
             ["fit"], ["fit", "x.fa", "-o", "m.lsgm", "--states", "two"], ["decode", "m"]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args(argv)
            codes[" ".join(argv)] = None
        except SystemExit as e:
            codes[" ".join(argv)] = e.code
print(json.dumps({"codes": codes, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_parsing_loads_no_heavy_library():
    out = subprocess.run(
        [sys.executable, "-c", _WALK], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(out.stdout)
    codes = report["codes"]
    helps = [a for a in codes if a.endswith("--help")]
    # Every command, and every experiment, was parsed (a new cli module is walked too).
    assert {
        "fit --help",
        "decode --help",
        "info --help",
        "experiment gene-structure --help",
    } <= set(helps)
    assert all(codes[a] == 0 for a in helps), codes
    assert [codes[a] for a in codes if not a.endswith("--help")] == [2, 2, 2]
    loaded = sorted(set(HEAVY) & set(report["modules"]))
    assert loaded == [], f"parsing the command line imported {loaded}; import them in the handler"


def test_every_default_is_in_help():
    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(child, f"{name} {sub}")
            elif action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
                text = (action.help or "") % {"default": action.default}
                if "default" not in text.lower() and not _says(text, action.default):
                    missing.append(f"{name} {action.option_strings[-1]}")

    walk(build_parser(), "lsgm")
    assert missing == []
    help_text = build_parser()._subparsers._group_actions[0].choices["experiment"]
    gene = help_text._subparsers._group_actions[0].choices["gene-structure"].format_help()
    assert "WormBase" in gene  # the default source of the annotation


def test_builtin_family_names_are_the_registry():
    from lsgm.distributions import registry

    shipped = {
        name
        for name, cls in registry.families().items()
        if cls.__module__.startswith("lsgm.distributions.")
    }
    assert set(BUILTIN_FAMILIES) == shipped
