"""The emission families by name: where model files, plots, the LSGM and the CLI find them.

A subclass of :class:`~lsgm.distributions.base.Emission` that declares a ``name`` registers
itself when its class statement runs (``Emission.__init_subclass__`` calls :func:`register`),
so a new family is one module (see :mod:`lsgm.distributions.base` for what it declares).
The lookups first import every module of :mod:`lsgm.distributions`, so a family that lives
there is known without being imported by hand; a family defined elsewhere (a plug-in, a
test) is known once its module has been imported.

    >>> from lsgm.distributions import registry
    >>> registry.family("poisson").__name__
    'Poisson'
    >>> [n for n in registry.family_names() if n in ("gmm", "poisson")]
    ['gmm', 'poisson']
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsgm.distributions.base import Emission

_FAMILIES: dict[str, type[Emission]] = {}
_PACKAGE_IMPORTED: list[bool] = []  # non-empty once every package module was imported


def register(cls: type[Emission]) -> type[Emission]:
    """Add ``cls`` under ``cls.name``; called for every ``Emission`` subclass that declares
    a ``name``.

    Raises:
        ValueError: the name is not a non-empty string, another class already has it, or a
            config field is not an argument of the constructor.
    """
    name = cls.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__}.name must be a non-empty string; got {name!r}.")
    known = _FAMILIES.get(name)
    same = known is not None and (known.__module__, known.__qualname__) == (
        cls.__module__,
        cls.__qualname__,
    )
    if known is not None and not same:  # the same class statement run again replaces itself
        raise ValueError(
            f"emission family name {name!r} of {cls.__module__}.{cls.__qualname__} is taken by "
            f"{known.__module__}.{known.__qualname__}; choose another name."
        )
    arguments = inspect.signature(cls.__init__).parameters
    missing = [f for f in cls.config_fields if f not in arguments]
    if missing:
        raise ValueError(
            f"{cls.__qualname__}.config_fields {missing} are not arguments of its constructor; "
            "a model file could not rebuild it."
        )
    _FAMILIES[name] = cls
    return cls


def _import_package_families() -> None:
    """Import every module of :mod:`lsgm.distributions` (registering its families), once."""
    if _PACKAGE_IMPORTED:
        return
    package = importlib.import_module("lsgm.distributions")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _PACKAGE_IMPORTED.append(True)


def families() -> dict[str, type[Emission]]:
    """``{name: class}`` of every registered family, by name."""
    _import_package_families()
    return dict(sorted(_FAMILIES.items()))


def family_names() -> list[str]:
    """The registered family names, sorted."""
    return list(families())


def family(name: object) -> type[Emission]:
    """The class registered as ``name``.

    Raises:
        ValueError: ``unknown emission family NAME; known: [...]``.
    """
    known = families()
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"unknown emission family {name!r}; known: {list(known)}.")
    return known[name]
