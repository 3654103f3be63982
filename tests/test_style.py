"""The code base passes ruff (lint and format) and mypy on its typed core — style and types
are part of the test command."""

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


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is a test extra")
def test_mypy_on_the_typed_core(tmp_path):
    """``[tool.mypy] files`` in pyproject.toml: the inference kernels and the emission families."""
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


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
