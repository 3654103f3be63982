"""The documentation site builds with ``mkdocs build --strict`` (every broken link, anchor or
docstring warning fails), and the lsgm side of the getting-started pages matches the library.

The pages put two code blocks side by side, titled with the other tool's name and ``lsgm``.
Every ``python title="lsgm"`` block must compile, every name it takes from lsgm must exist,
and every keyword argument it passes to an lsgm callable must be one of its parameters. Every
``lsgm ...`` line of a ``bash title="lsgm"`` block must parse with the real command line's
parser. The API reference is read from the source by griffe (no JAX import for the build).
"""

import ast
import importlib
import inspect
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_PAGES = ("hmmlearn", "chromhmm", "diffbio", "pytorch-lsgm")
BLOCK = re.compile(r'^```(python|bash) title="([^"]+)"\n(.*?)^```', re.S | re.M)


def lsgm_blocks(page: str) -> list[tuple[str, str]]:
    """``(language, code)`` of the blocks titled ``lsgm`` in ``docs/start/<page>.md``."""
    text = (ROOT / "docs" / "start" / f"{page}.md").read_text(encoding="utf-8")
    return [(lang, code) for lang, title, code in BLOCK.findall(text) if title == "lsgm"]


def _resolve(node: ast.expr, names: dict[str, object]) -> object | None:
    """The object an expression ``a.b.c`` names when ``a`` came from lsgm, else None;
    an ``AttributeError`` when lsgm has no such name."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        if base is None:
            return None
        if not hasattr(base, node.attr):
            raise AttributeError(f"{ast.unparse(node)}: lsgm has no {node.attr!r} there")
        return getattr(base, node.attr)
    return None


def check_python(code: str, where: str) -> int:
    """Compile ``code`` and check its lsgm names and keyword arguments; the number of lsgm
    calls checked."""
    tree = ast.parse(compile(code, where, "exec", flags=ast.PyCF_ONLY_AST))
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lsgm":
                    names[alias.asname or alias.name] = importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lsgm":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{where}: {node.module}.{alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
    calls = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            _resolve(node, names)  # raises for a missing name
        if isinstance(node, ast.Call) and callable(target := _resolve(node.func, names)):
            # a class's own __init__: Flax modules' metaclass hides it behind (*args, **kwargs)
            init = target.__init__ if inspect.isclass(target) else target
            params = inspect.signature(init).parameters
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                continue
            for keyword in node.keywords:
                assert keyword.arg in params, f"{where}: {ast.unparse(node.func)}({keyword.arg}=)"
            calls += 1
    return calls


def commands(code: str) -> list[list[str]]:
    """The ``lsgm`` command lines of a shell block (continuations joined, comments dropped)."""
    lines = code.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.startswith("lsgm ")]


def test_site_builds_strictly_and_start_pages_match_the_library(tmp_path):
    pytest.importorskip(
        "mkdocs", reason="the docs tools are in the test extra: pip install -e '.[test]'"
    )
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] missing")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from lsgm.cli.main import build_parser

    site = tmp_path / "site"
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site))
    assert config.strict  # mkdocs.yml itself asks for the strict build
    build(config)  # raises mkdocs.exceptions.Abort on any warning

    for page in START_PAGES:
        assert (site / "start" / page / "index.html").is_file(), page
    api = (site / "api" / "inference" / "index.html").read_text(encoding="utf-8")
    assert 'id="lsgm.inference.log_partition"' in api and "log_partition" in api
    assert 'id="lsgm.hmm.GaussianHMM"' in (site / "api" / "estimators" / "index.html").read_text()
    home = (site / "index.html").read_text(encoding="utf-8")  # the README, links rewritten
    assert 'href="design/"' in home and 'href="docs/' not in home

    parser = build_parser()
    seen = {"python": 0, "bash": 0, "calls": 0}
    for page in START_PAGES:
        blocks = lsgm_blocks(page)
        assert blocks, f"docs/start/{page}.md has no block titled lsgm"
        for i, (lang, code) in enumerate(blocks):
            where = f"docs/start/{page}.md, lsgm block {i + 1}"
            seen[lang] += 1
            if lang == "python":
                seen["calls"] += check_python(code, where)
                continue
            argvs = commands(code)
            assert argvs, f"{where}: no lsgm command"
            for argv in argvs:
                try:
                    parser.parse_args(argv[1:])
                except SystemExit:
                    pytest.fail(f"{where}: `{shlex.join(argv)}` does not parse")
    assert seen["python"] >= 6 and seen["bash"] >= 3 and seen["calls"] >= 8, seen

    # a wrong name or keyword is caught (the checks can fail)
    with pytest.raises(AssertionError):
        check_python("from lsgm.training import fit_gradient\nfit_gradient(m, xs, epoch=3)", "x")
    with pytest.raises(AttributeError):
        check_python("import lsgm\nlsgm.HMM.from_tables", "x")
