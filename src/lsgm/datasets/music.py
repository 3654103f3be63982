"""The JSB Chorales piano rolls (Boulanger-Lewandowski, Bengio & Vincent, ICML 2012), bundled.

382 four-part Bach chorales on a quarter-note grid, as ``[T, 88]`` 0/1 piano rolls (column
``j`` = MIDI note ``21 + j``), with the published train/valid/test split of 229/76/77
chorales and 13,807/4,602/4,725 frames (23,134 in all). Attribution: ``SOURCE.md`` next to
the data file.
"""

from __future__ import annotations

import numpy as np

from lsgm.data.pianoroll import read_mat
from lsgm.datasets import data_path

JSB_CHORALES_FILE = "JSB_Chorales.mat"


def load_jsb_chorales() -> dict[str, list[np.ndarray]]:
    """The bundled JSB Chorales: ``{"train", "valid", "test"}`` -> lists of ``[T, 88]`` float32
    piano rolls of 0/1 (229, 76 and 77 chorales)."""
    return read_mat(data_path(JSB_CHORALES_FILE))


__all__ = ["load_jsb_chorales"]
