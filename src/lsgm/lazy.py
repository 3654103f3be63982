"""Lazy public names for a package ``__init__`` (PEP 562), so importing a package costs
nothing until one of its names is used.

A package lists its public names by the module that defines them::

    __getattr__, __dir__ = lazy_exports(__name__, {"files": ("atomic_write_text",)})

``lsgm.data.atomic_write_text`` (or ``from lsgm.data import atomic_write_text``) then imports
``lsgm.data.files`` on first use and keeps the value in the package's namespace, so the next
lookup is an ordinary attribute. The package still writes its ``__all__`` out in full (ruff
and readers see it) and imports the same names under ``if TYPE_CHECKING:`` (mypy sees their
types); ``tests/test_layers.py`` checks that the three agree. Standard library only: every
layer of the package may use it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, Iterable[str]], modules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: the package's ``__name__``, e.g. ``"lsgm.data"``.
        names: submodule (relative to ``package``) -> the public names it defines.
        modules: submodules that are public names themselves (``lsgm.training``).

    Returns:
        ``(__getattr__, __dir__)``: ``__getattr__(name)`` imports the defining module,
        stores the value in the package and returns it (``AttributeError`` for a name that is
        not listed); ``__dir__()`` lists the package's namespace and every lazy name.
    """
    where = {name: module for module, listed in names.items() for name in listed}
    submodules = frozenset(modules)

    def __getattr__(name: str) -> Any:
        if name in submodules:
            value = import_module(f"{package}.{name}")
        elif name in where:
            value = getattr(import_module(f"{package}.{where[name]}"), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where) | submodules)

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
