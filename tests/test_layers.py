"""The package's layers (``docs/design.md``, section 2) hold: every import between lsgm's
subpackages goes down the written order, the kernels import without Flax, and ``import lsgm``
loads no JAX."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "lsgm"


def _layer_order() -> list[str]:
    """The subpackages in the order of the design's layer block (lowest first)."""
    text = (ROOT / "docs" / "design.md").read_text()
    block = text.split("## 2. Layers", 1)[1].split("```", 2)[1]
    return re.findall(r"^  ([a-z_]+)(?:/|\.py) ", block, flags=re.MULTILINE)


def _imports(path: Path):
    """``(line, imported subpackage, imported module)`` for every absolute lsgm import in
    ``path``, at module level or inside functions alike."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lsgm":
                yield from ((node.lineno, a.name, f"lsgm.{a.name}") for a in node.names)
            elif node.module.startswith("lsgm."):
                yield node.lineno, node.module.split(".")[1], node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("lsgm."):
                    yield node.lineno, a.name.split(".")[1], a.name


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def test_the_design_names_every_subpackage():
    order = _layer_order()
    present = {_package(p) for p in SRC.glob("*/__init__.py")} | {
        p.stem for p in SRC.glob("*.py") if p.stem != "__init__"
    }
    assert set(order) == present, f"docs/design.md layers {order} vs src/lsgm {sorted(present)}"


def test_imports_only_go_down_the_layers():
    """A module may import its own subpackage and those listed before it; a package's
    ``__main__`` is a command and counts as the top layer."""
    order = _layer_order()
    rank = {name: i for i, name in enumerate(order)}
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        own = _package(path)
        if own not in rank:
            continue
        level = len(order) if path.name == "__main__.py" else rank[own]
        for line, target, module in _imports(path):
            if target in rank and target != own and rank[target] > level:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({own} imports {module})")
    assert not upward, "imports that go up the layer order:\n" + "\n".join(upward)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_the_kernels_import_and_run_without_flax():
    """``lsgm.inference`` is pure JAX: with Flax and optax made unimportable it still loads and
    computes ``log Z``."""
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("flax", "optax", "orbax"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import jax.numpy as jnp
from lsgm.inference import Potentials, log_partition
p = Potentials(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.full((2, 2), 0.5)),
               jnp.log(jnp.full((3, 2), 0.5)))
print(float(log_partition(p, 3)))
assert not [m for m in sys.modules if m.split(".")[0] in ("flax", "optax")]
"""
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout) - 3 * float(__import__("math").log(0.5))) < 1e-5


def test_the_root_package_imports_lazily():
    out = _run("import sys, lsgm; print(sorted({m.split('.')[0] for m in sys.modules}))")
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout)
    assert "jax" not in loaded and "flax" not in loaded, loaded
