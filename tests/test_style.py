"""The code base passes ruff (lint and format) and mypy on its typed core — style and types
are part of the test command."""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["src", "tests", "benchmarks", "examples", "audit"]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a test extra")
@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(args):
    out = subprocess.run(["ruff", *args, *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is a test extra")
def test_mypy_on_the_typed_core(tmp_path):
    """``[tool.mypy] files`` in pyproject.toml: the inference kernels, the emission families,
    the models and the fitters."""
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


#: The packages whose public functions, methods and classes must be fully annotated.
TYPED_PACKAGES = ["inference", "distributions", "models", "training"]


def _untyped(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """``(line, qualified name, what lacks an annotation)`` of every public function and of
    every public method of a public class (at any nesting of classes, not inside functions):
    a parameter other than a method's ``self``/``cls``, or the return (``__init__`` may
    omit it)."""
    found = []

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                visit(child, f"{prefix}{child.name}.", True)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
                dunder = name.startswith("__") and name.endswith("__")
                if name.startswith("_") and not dunder:
                    continue
                a = child.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
                params += [p for p in (a.vararg, a.kwarg) if p is not None]
                static = any(
                    isinstance(d, ast.Name) and d.id == "staticmethod" for d in child.decorator_list
                )
                if in_class and not static and params and params[0].arg in ("self", "cls"):
                    params = params[1:]
                missing = [p.arg for p in params if p.annotation is None]
                if child.returns is None and name != "__init__":
                    missing.append("return")
                if missing:
                    found.append((child.lineno, prefix + name, missing))

    visit(tree, "", False)
    return found


def test_public_functions_are_typed():
    """Every public function and method of the typed core has parameter and return annotations
    (checked on the source with ``ast``; mypy then checks that they are right)."""
    missing = [
        f"{path.relative_to(ROOT)}:{line} {name} lacks annotations for {', '.join(what)}"
        for package in TYPED_PACKAGES
        for path in sorted((ROOT / "src" / "lsgm" / package).rglob("*.py"))
        for line, name, what in _untyped(ast.parse(path.read_text()))
    ]
    assert not missing, "\n".join(missing)


def test_untyped_finds_what_it_should():
    """The walker of :func:`test_public_functions_are_typed` names an untyped parameter, a
    missing return and an untyped method, and passes typed, private and nested code."""
    source = """
def f(x, y: int) -> int: ...
def g(x: int): ...
def _private(x): ...
def typed(x: int, *args: int, **kw: int) -> None:
    def nested(z): ...
class A:
    def __init__(self, a: int): ...
    def m(self, b) -> None: ...
    @staticmethod
    def s(self) -> None: ...
    def _h(self, c): ...
class _B:
    def m(self, b): ...
"""
    found = {name: what for _, name, what in _untyped(ast.parse(source))}
    assert found == {"f": ["x"], "g": ["return"], "A.m": ["b"], "A.s": ["self"]}


def test_package_ships_its_type_marker_and_license():
    """``py.typed`` (PEP 561) is package data, and LICENSE holds the licence pyproject names."""
    import tomllib
    from importlib.resources import files

    assert files("lsgm").joinpath("py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["lsgm"]
    assert project["project"]["license"]["text"] == "Apache-2.0"
    assert (
        "Apache License\n                           Version 2.0" in (ROOT / "LICENSE").read_text()
    )


def test_no_formatter_escapes():
    """``ruff format`` decides the layout everywhere: no formatter skip or off markers."""
    marker = "# fmt" + ":"  # split so this file does not match itself
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for part in PATHS
        for path in sorted((ROOT / part).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    ]
    assert not found, f"remove the formatter escapes at {found}"
