"""Small real data sets shipped inside the package (each with its ``SOURCE.md`` attribution
in ``lsgm/datasets/data/``), used by ``lsgm demo``, the examples and the tests.

The loaders are imported on first use (PEP 562, :mod:`lsgm.lazy`): ``import lsgm.datasets``
loads only :func:`data_path`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from lsgm.lazy import lazy_exports

if TYPE_CHECKING:
    from lsgm.datasets.cpg import LABEL_FILE, SEQUENCE_FILE, Window, load_cpg_islands
    from lsgm.datasets.music import MUSIC_FILES, load_jsb_chorales, load_music


def data_path(name: str) -> Path:
    """The path of a bundled data file, e.g. ``data_path("JSB_Chorales.mat")``."""
    path = Path(str(resources.files("lsgm.datasets").joinpath("data", name)))
    if not path.is_file():
        raise ValueError(f"no bundled data file {name!r} in {path.parent}; reinstall lsgm.")
    return path


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "cpg": ("LABEL_FILE", "SEQUENCE_FILE", "Window", "load_cpg_islands"),
        "music": ("MUSIC_FILES", "load_jsb_chorales", "load_music"),
    },
)

__all__ = [
    "LABEL_FILE",
    "MUSIC_FILES",
    "SEQUENCE_FILE",
    "Window",
    "data_path",
    "load_cpg_islands",
    "load_jsb_chorales",
    "load_music",
]
