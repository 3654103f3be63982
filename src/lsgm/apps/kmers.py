"""k-mer count features (the genome-RNN paper's logistic-regression baseline, §4.3).

For ``k = 1..k_max`` every length-``k`` substring of a sequence is counted; the feature
vector concatenates the ``4^k`` counts of each ``k`` in lexicographic ``ACGT`` order (the
k-mer ``s_1..s_k`` is column ``offset_k + sum_i code(s_i)·4^(k-i)`` with ``A=0, C=1, G=2,
T=3``). ``k_max = 5`` gives ``4 + 16 + 64 + 256 + 1024 = 1364`` features. Paper's example:
``ACTGG`` has A, C, T, AC, CT, TG, GG, ACT, CTG, TGG, ACTG, CTGG, ACTGG once and G twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from lsgm.data import dna


def n_kmer_features(k_max: int = 5) -> int:
    """``sum_{k=1..k_max} 4^k``."""
    return sum(4**k for k in range(1, k_max + 1))


def kmer_names(k_max: int = 5) -> list[str]:
    """Column names of :func:`kmer_features`: ``A, C, G, T, AA, AC, ...``."""
    return ["".join(p) for k in range(1, k_max + 1) for p in product(dna.ALPHABET, repeat=k)]


def kmer_features(seqs: Sequence[np.ndarray], k_max: int = 5, block: int = 4096) -> np.ndarray:
    """``[N, sum_k 4^k]`` float32 k-mer counts of integer-coded sequences (``0..3``).

    Vectorised per block of ``block`` sequences: all sequences are concatenated, the base-4
    code of the k-mer starting at every position is built by ``k`` shifted sums, and the
    codes whose k-mer lies inside its own sequence are counted with one ``bincount``.
    """
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1; got {k_max}.")
    out = np.zeros((len(seqs), n_kmer_features(k_max)), dtype=np.float32)
    for start in range(0, len(seqs), block):
        part = [np.asarray(s, dtype=np.int64) for s in seqs[start : start + block]]
        for i, s in enumerate(part):
            if s.ndim != 1 or (s.size and (s.min() < 0 or s.max() > 3)):
                raise ValueError(
                    f"sequence {start + i}: k-mer features need a 1-D array of codes 0..3."
                )
        lengths = np.array([len(s) for s in part])
        flat = np.concatenate(part) if part else np.zeros(0, np.int64)
        row = np.repeat(np.arange(len(part)), lengths)
        pos = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        remaining = np.repeat(lengths, lengths) - pos  # bases from here to the sequence end
        code = np.zeros(flat.size, dtype=np.int64)
        column = 0
        for k in range(1, k_max + 1):
            shifted = np.zeros(flat.size, dtype=np.int64)
            shifted[: flat.size - (k - 1)] = flat[k - 1 :]
            code = code * 4 + shifted  # code of flat[j : j + k]
            valid = remaining >= k
            counts = np.bincount(row[valid] * 4**k + code[valid], minlength=len(part) * 4**k)
            out[start : start + len(part), column : column + 4**k] = counts.reshape(-1, 4**k)
            column += 4**k
    return out
