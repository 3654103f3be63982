"""The JSB Chorales piano rolls (Boulanger-Lewandowski, Bengio & Vincent, ICML 2012), bundled.

382 four-part Bach chorales on a quarter-note grid, as ``[T, 88]`` 0/1 piano rolls (column
``j`` = MIDI note ``21 + j``), with the published train/valid/test split of 229/76/77
chorales and 13,807/4,602/4,725 frames (23,134 in all). Attribution: ``SOURCE.md`` next to
the data file. Nottingham and Piano-midi.de are bundled too (:func:`load_music`).
"""

from __future__ import annotations

import numpy as np

from lsgm.data import read_mat
from lsgm.datasets import data_path

JSB_CHORALES_FILE = "JSB_Chorales.mat"
#: The bundled polyphonic-music data sets (Boulanger-Lewandowski et al. 2012) by name.
MUSIC_FILES = {
    "jsb": JSB_CHORALES_FILE,
    "nottingham": "Nottingham.mat",
    "piano-midi": "Piano_midi.mat",
}


def load_jsb_chorales() -> dict[str, list[np.ndarray]]:
    """The bundled JSB Chorales: ``{"train", "valid", "test"}`` -> lists of ``[T, 88]`` float32
    piano rolls of 0/1 (229, 76 and 77 chorales)."""
    return read_mat(data_path(JSB_CHORALES_FILE))


def load_music(name: str) -> dict[str, list[np.ndarray]]:
    """A bundled music data set by name (``"jsb"``, ``"nottingham"``, ``"piano-midi"``):
    ``{"train", "valid", "test"}`` -> lists of ``[T, 88]`` float32 piano rolls."""
    if name not in MUSIC_FILES:
        raise ValueError(f"no bundled music data set {name!r}; choose from {sorted(MUSIC_FILES)}.")
    return read_mat(data_path(MUSIC_FILES[name]))


__all__ = ["MUSIC_FILES", "load_jsb_chorales", "load_music"]
