"""Readers, writers and batching of sequences."""

from lsgm.data.batching import PaddedBatch, pad_sequences, unpad
from lsgm.data.fasta import SequenceRecord, read_sequences, reverse_complement
from lsgm.data.gff import Feature, feature_labels, read_gff, write_gff
from lsgm.data.intervals import Interval, path_to_intervals, write_bed
from lsgm.data.motifs import Motif, read_motifs
from lsgm.data.pbm import PBMArray, read_pbm
from lsgm.data.pianoroll import read_midi, read_pianoroll, write_midi
from lsgm.data.tabular import read_table

__all__ = [
    "Feature",
    "Interval",
    "Motif",
    "PBMArray",
    "PaddedBatch",
    "SequenceRecord",
    "feature_labels",
    "pad_sequences",
    "path_to_intervals",
    "read_gff",
    "read_midi",
    "read_motifs",
    "read_pbm",
    "read_pianoroll",
    "read_sequences",
    "read_table",
    "reverse_complement",
    "unpad",
    "write_bed",
    "write_gff",
    "write_midi",
]
