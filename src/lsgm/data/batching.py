"""Ragged sequences ⇄ padded batches.

Users hand models either a list of sequences (each ``[T_i, ...]``) or a padded array
``[N, T, ...]`` with ``lengths [N]``. Internally everything runs on a :class:`PaddedBatch`,
whose padding repeats the first observation of each sequence (a valid value for every
emission family, so no NaN can arise there; kernels ignore it through ``length``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class PaddedBatch(NamedTuple):
    """``data [N, T, ...]`` padded observations and ``lengths [N]`` (int32)."""

    data: np.ndarray
    lengths: np.ndarray
    was_list: bool

    @property
    def num_sequences(self) -> int:
        return int(self.data.shape[0])

    @property
    def max_length(self) -> int:
        return int(self.data.shape[1])


def pad_sequences(xs, lengths=None, pad_to: int | None = None) -> PaddedBatch:
    """Turn a list of sequences, or a padded array plus lengths, into a :class:`PaddedBatch`.

    Args:
        xs: a list/tuple of arrays ``[T_i, ...]`` (same trailing shape and dtype kind), or an
            array ``[N, T, ...]`` (then ``lengths`` may give the valid prefix of each row).
        lengths: ``[N]`` valid lengths for a padded array; ``None`` means every row is full.
        pad_to: pad to this many steps instead of the longest sequence (for shape buckets).

    Raises:
        ValueError: an empty batch, an empty sequence, ragged trailing shapes, or lengths
            outside ``[1, T]`` — naming the sequence.
    """
    if isinstance(xs, np.ndarray) or hasattr(xs, "__array__") and not isinstance(xs, Sequence):
        data = np.asarray(xs)
        if data.ndim < 2:
            raise ValueError(
                f"a padded batch must be [N, T, ...]; got shape {data.shape}. "
                "Pass a list of sequences, or wrap one sequence as [x]."
            )
        if data.shape[0] == 0:
            raise ValueError("empty batch: no sequences were given.")
        n, T = data.shape[:2]
        if lengths is None:
            lengths = np.full(n, T)
        lengths = np.asarray(lengths)
        if lengths.shape != (n,):
            raise ValueError(f"lengths must have shape [N]=[{n}]; got {lengths.shape}.")
        for i, m in enumerate(lengths):
            if not 1 <= int(m) <= T:
                raise ValueError(f"sequence {i}: length {int(m)} is outside [1, T={T}].")
        data = data.copy()
        for i, m in enumerate(lengths):
            data[i, int(m) :] = data[i, 0]
        if pad_to is not None and pad_to > T:
            extra = np.repeat(data[:, :1], pad_to - T, axis=1)
            data = np.concatenate([data, extra], axis=1)
        return PaddedBatch(data, lengths.astype(np.int32), was_list=False)

    if lengths is not None:
        raise ValueError("lengths is only for a padded array; a list carries its own lengths.")
    seqs = [np.asarray(x) for x in xs]
    if not seqs:
        raise ValueError("empty batch: no sequences were given.")
    for i, x in enumerate(seqs):
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(
                f"sequence {i} is empty (shape {x.shape}); remove it or fix the input."
            )
        if x.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(
                f"sequence {i} has observations of shape {x.shape[1:]}, but sequence 0 has "
                f"{seqs[0].shape[1:]}; all sequences need the same feature shape."
            )
    lens = np.array([x.shape[0] for x in seqs], np.int32)
    T = int(lens.max()) if pad_to is None else max(int(pad_to), int(lens.max()))
    dtype = np.result_type(*seqs)
    data = np.empty((len(seqs), T) + seqs[0].shape[1:], dtype)
    for i, x in enumerate(seqs):
        data[i, : len(x)] = x
        data[i, len(x) :] = x[0]
    return PaddedBatch(data, lens, was_list=True)


def unpad(values, batch: PaddedBatch):
    """Per-sequence results ``[N, T, ...]`` back to the caller's layout (list or padded)."""
    values = np.asarray(values)
    if batch.was_list:
        return [values[i, :n] for i, n in enumerate(batch.lengths)]
    return values
