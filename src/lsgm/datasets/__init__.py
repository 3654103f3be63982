"""Small real data sets shipped inside the package (each with its ``SOURCE.md`` attribution
in ``lsgm/datasets/data/``), used by ``lsgm demo``, the examples and the tests."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(name: str) -> Path:
    """The path of a bundled data file, e.g. ``data_path("JSB_Chorales.mat")``."""
    path = Path(str(resources.files("lsgm.datasets").joinpath("data", name)))
    if not path.is_file():
        raise ValueError(f"no bundled data file {name!r} in {path.parent}; reinstall lsgm.")
    return path


__all__ = ["data_path"]
