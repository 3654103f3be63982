"""Readers, writers and batching of sequences."""

from lsgm.data.batching import PaddedBatch, pad_sequences, unpad
from lsgm.data.fasta import SequenceRecord, read_sequences, reverse_complement

__all__ = [
    "PaddedBatch",
    "SequenceRecord",
    "pad_sequences",
    "read_sequences",
    "reverse_complement",
    "unpad",
]
