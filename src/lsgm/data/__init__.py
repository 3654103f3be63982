"""Readers, writers and batching of sequences."""

from lsgm.data.batching import PaddedBatch, pad_sequences, unpad

__all__ = ["PaddedBatch", "pad_sequences", "unpad"]
