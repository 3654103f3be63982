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


# ------------------------------------------------------------------ length buckets
def bucket_lengths(lengths, buckets="pow2") -> np.ndarray:
    """The padded length of each sequence under a bucketing scheme (one shape per bucket).

    Args:
        lengths: ``[N]`` sequence lengths (each ``>= 1``).
        buckets: ``"pow2"``: pad to the next power of two (capped at the longest sequence);
            an int ``k >= 1``: at most ``k`` buckets whose edges are length quantiles;
            a sequence of ints: explicit pad lengths (the longest sequence's length is added
            when it exceeds them all); ``None``: one bucket, padded to the longest sequence.

    Returns:
        ``[N]`` int pad lengths, each ``>= lengths[i]``; at most as many distinct values as
        buckets.
    """
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    if lengths.size == 0:
        raise ValueError("empty batch: no sequence lengths were given.")
    if np.any(lengths < 1):
        raise ValueError(f"sequence lengths must be >= 1; got {lengths.min()}.")
    longest = int(lengths.max())
    if buckets is None:
        return np.full(lengths.shape, longest)
    if isinstance(buckets, str):
        if buckets != "pow2":
            raise ValueError(f"buckets={buckets!r}: use 'pow2', an int, a list of lengths or None.")
        pow2 = 2 ** np.ceil(np.log2(lengths)).astype(np.int64)
        return np.minimum(pow2, longest)
    if isinstance(buckets, int | np.integer):
        if int(buckets) < 1:
            raise ValueError(f"buckets must be >= 1 when an int; got {buckets}.")
        qs = np.arange(1, int(buckets) + 1) / int(buckets)
        edges = np.unique(np.quantile(lengths, qs, method="higher").astype(np.int64))
    else:
        edges = np.asarray(list(buckets), np.int64).reshape(-1)
        if edges.size == 0 or np.any(edges < 1):
            raise ValueError(f"explicit buckets must be positive pad lengths; got {list(edges)}.")
        edges = np.unique(np.append(edges[edges < longest], longest))
    return edges[np.searchsorted(edges, lengths, side="left")]


class Minibatch(NamedTuple):
    """One training step's rows: ``indices [B]`` into the data set, ``weights [B]`` (1 for a
    real row, 0 for a filler row that repeats a real one), padded to ``pad_to`` steps."""

    indices: np.ndarray
    weights: np.ndarray
    pad_to: int


def bucketed_minibatches(
    lengths, batch_size: int, buckets="pow2", rng: np.random.Generator | None = None
) -> list[Minibatch]:
    """Split sequences into fixed-size minibatches drawn from length buckets.

    Every sequence appears in exactly one minibatch with weight 1. Each minibatch holds
    ``batch_size`` rows from one bucket (a bucket's last, partial minibatch is filled with
    zero-weight copies of its own rows), so the padded shapes ``[batch_size, pad_to]`` are at
    most one per bucket: one compile each. With ``rng`` the rows inside each bucket and the
    order of the minibatches are shuffled; without it, the order is deterministic and sorted.

    Args:
        lengths: ``[N]`` sequence lengths.
        batch_size: rows per minibatch (``>= 1``).
        buckets: see :func:`bucket_lengths`.
        rng: a numpy generator for shuffling, or ``None``.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    size = int(batch_size)
    pads = bucket_lengths(lengths, buckets)
    out = []
    for pad in np.unique(pads):
        members = np.flatnonzero(pads == pad)
        if rng is not None:
            members = rng.permutation(members)
        fill = (-members.size) % size
        rows = np.concatenate([members, np.resize(members, fill)])
        weights = np.concatenate([np.ones(members.size), np.zeros(fill)])
        for start in range(0, rows.size, size):
            out.append(
                Minibatch(rows[start : start + size], weights[start : start + size], int(pad))
            )
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out
