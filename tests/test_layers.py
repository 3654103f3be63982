"""The package's layers (``docs/design.md``, section 2) hold: every import between lsgm's
subpackages goes down the written order and through the imported package's public
``__init__``, the kernels import without Flax, and ``import lsgm`` loads no JAX."""

import ast
import importlib
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


def _public_names(package: str) -> set[str]:
    """The literal ``__all__`` of ``lsgm.<package>`` (its ``__init__.py``, or ``<package>.py``
    for a module such as ``mesh``); empty where it has none."""
    path = SRC / package / "__init__.py"
    for node in ast.parse((path if path.exists() else SRC / f"{package}.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def _cross_package_problems(path: Path) -> list[str]:
    """What in ``path`` reaches past another lsgm package's ``__init__``: an import of one of
    its modules, of a name not in its ``__all__`` (so never a ``_private`` one), or a
    ``_private`` attribute of a namespace imported from it."""
    rel = path.relative_to(SRC)
    own = _package(path) if len(rel.parts) > 1 else None  # the root ``__init__`` owns none
    tree = ast.parse(path.read_text())
    problems, namespaces = [], set()

    def report(node: ast.AST, what: str, why: str) -> None:
        problems.append(f"{path.relative_to(ROOT)}:{node.lineno} {why} ({what})")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "lsgm" and len(parts) > 2 and parts[1] != own:
                    report(node, a.name, f"imports the module {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "lsgm" or len(parts) == 1 or parts[1] == own:
                continue  # the root's public names, or the module's own package
            if len(parts) > 2:
                report(node, node.module, f"imports from the module {node.module}")
                continue
            public = _public_names(parts[1])
            for a in node.names:
                if a.name.startswith("_") or a.name not in public:
                    report(node, f"{node.module}.{a.name}", f"{node.module}.{a.name} is not public")
                else:
                    namespaces.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in namespaces
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            problems.append(
                f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}"
            )
    return problems


def test_cross_package_imports_use_the_public_init():
    """An import in one package of something from another package ``B`` names the package,
    ``from lsgm.B import name``, never one of its modules (``lsgm.B.module``), and only a name
    in ``lsgm.B.__all__``, so never a ``_private`` one; ``B`` may be a module layer such as
    ``lsgm.mesh``. ``__all__`` may list a submodule that is used as a namespace
    (``lsgm.data.dna``, ``lsgm.distributions.registry``, ``lsgm.inference.time_parallel``),
    whose ``_private`` attributes are not read either. There are no exceptions: a package
    whose ``__init__`` would be slow to import eagerly exports lazily instead (PEP 562,
    :mod:`lsgm.lazy`: ``data``, ``datasets``), and the public names of ``lsgm.apps`` are its
    applications (``from lsgm.apps import music``; nothing loads until one is imported), so
    the command line's start-up stays light."""
    problems = [p for path in sorted(SRC.rglob("*.py")) for p in _cross_package_problems(path)]
    assert not problems, "imports past a package's public __init__:\n" + "\n".join(problems)


def _type_checking_imports(init: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every import under ``if TYPE_CHECKING:`` in ``init``."""
    out = []
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.unparse(imp)
                out += [(imp.module, a.name) for a in imp.names]
    return out


def _lazy_names(init: Path, listed: set[str]) -> set[str]:
    """The names ``init`` passes to :func:`lsgm.lazy.lazy_exports` (its submodules' names and
    ``modules=``); all of ``listed`` where it makes no such call (the submodules of
    ``lsgm.apps``, which the import system loads on first use)."""
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "lazy_exports":
            table = ast.literal_eval(node.args[1])
            modules = [ast.literal_eval(k.value) for k in node.keywords if k.arg == "modules"]
            return {n for names in table.values() for n in names} | {
                m for ms in modules for m in ms
            }
    return listed


def test_every_public_name_resolves_and_lazy_names_are_typed():
    """Every name in a package's ``__all__`` is an attribute of the package and in its
    ``dir()``; in an ``__init__`` with lazy names, the ``if TYPE_CHECKING:`` imports (what
    mypy sees) name exactly the lazy names and the same objects that ``__getattr__`` returns."""
    for init in sorted([SRC / "__init__.py", *SRC.glob("*/__init__.py")]):
        name = "lsgm" if init.parent == SRC else f"lsgm.{init.parent.name}"
        package = importlib.import_module(name)
        listed = set(getattr(package, "__all__", ()))
        assert listed <= set(dir(package)), (name, listed - set(dir(package)))
        for public in listed:
            assert getattr(package, public) is not None, (name, public)
        typed = _type_checking_imports(init)
        if not typed:
            continue
        assert {n for _, n in typed} == _lazy_names(init, listed), name
        for module, attribute in typed:
            assert getattr(package, attribute) is getattr(
                importlib.import_module(module), attribute
            ), (name, module, attribute)
