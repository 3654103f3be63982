"""Readers, writers and batching of sequences, atomic output files and the checkpoint format
(atomic, checksummed files of array trees: training checkpoints and model files).

Every name is imported on first use (PEP 562, :mod:`lsgm.lazy`): ``import lsgm.data`` loads
nothing, ``from lsgm.data import atomic_write_text`` loads only :mod:`lsgm.data.files`, and
JAX and Flax load only with the checkpoint functions. :mod:`lsgm.data.dna` (the one integer
encoding of DNA: ``dna.ALPHABET``, ``dna.encode``, ``dna.lookup``, ``dna.decode``) is a public
name used as a namespace.
"""

from typing import TYPE_CHECKING

from lsgm.lazy import lazy_exports

if TYPE_CHECKING:
    from lsgm.data import dna
    from lsgm.data.batching import (
        Minibatch,
        PaddedBatch,
        bucket_lengths,
        bucketed_minibatches,
        pad_sequences,
        unpad,
    )
    from lsgm.data.checkpoints import (
        CheckpointMismatchError,
        flatten_arrays,
        is_prng_key,
        leaf_name,
        load_checkpoint,
        load_metadata,
        read_checkpoint,
        save_checkpoint,
    )
    from lsgm.data.chromhmm import (
        Binarized,
        ChromHMMModel,
        align_marks,
        binarized_files,
        format_chromhmm_model,
        read_binarized,
        read_binarized_folder,
        read_chromhmm_model,
        write_binarized,
        write_chromhmm_model,
    )
    from lsgm.data.fasta import (
        AmbiguousSymbolError,
        SequenceRecord,
        decode_error_message,
        open_text,
        read_sequences,
        reverse_complement,
    )
    from lsgm.data.files import (
        atomic_path,
        atomic_write_bytes,
        atomic_write_text,
        check_output,
        check_writable_dir,
        deferred_outputs,
        interrupted,
        mark_interrupted,
        remove_live_temporaries,
        reset_interrupted,
    )
    from lsgm.data.gff import (
        EXON,
        INTERGENIC,
        INTRON,
        BaseLabels,
        Feature,
        check_annotated,
        check_seqids,
        feature_labels,
        read_gff,
        write_gff,
    )
    from lsgm.data.intervals import Interval, format_bed, path_to_intervals, runs, write_bed
    from lsgm.data.motifs import Motif, find_motif, read_motifs
    from lsgm.data.numbers import is_int_literal, is_number_literal
    from lsgm.data.pbm import (
        PBMArray,
        kfold_indices,
        normalise_intensities,
        read_pbm,
        split_indices,
    )
    from lsgm.data.pianoroll import read_mat, read_midi, read_pianoroll, write_midi
    from lsgm.data.tabular import read_table

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "batching": (
            "Minibatch",
            "PaddedBatch",
            "bucket_lengths",
            "bucketed_minibatches",
            "pad_sequences",
            "unpad",
        ),
        "checkpoints": (
            "CheckpointMismatchError",
            "flatten_arrays",
            "is_prng_key",
            "leaf_name",
            "load_checkpoint",
            "load_metadata",
            "read_checkpoint",
            "save_checkpoint",
        ),
        "chromhmm": (
            "Binarized",
            "ChromHMMModel",
            "align_marks",
            "binarized_files",
            "format_chromhmm_model",
            "read_binarized",
            "read_binarized_folder",
            "read_chromhmm_model",
            "write_binarized",
            "write_chromhmm_model",
        ),
        "fasta": (
            "AmbiguousSymbolError",
            "SequenceRecord",
            "decode_error_message",
            "open_text",
            "read_sequences",
            "reverse_complement",
        ),
        "files": (
            "atomic_path",
            "atomic_write_bytes",
            "atomic_write_text",
            "check_output",
            "check_writable_dir",
            "deferred_outputs",
            "interrupted",
            "mark_interrupted",
            "remove_live_temporaries",
            "reset_interrupted",
        ),
        "gff": (
            "EXON",
            "INTERGENIC",
            "INTRON",
            "BaseLabels",
            "Feature",
            "check_annotated",
            "check_seqids",
            "feature_labels",
            "read_gff",
            "write_gff",
        ),
        "intervals": ("Interval", "format_bed", "path_to_intervals", "runs", "write_bed"),
        "motifs": ("Motif", "find_motif", "read_motifs"),
        "numbers": ("is_int_literal", "is_number_literal"),
        "pbm": ("PBMArray", "kfold_indices", "normalise_intensities", "read_pbm", "split_indices"),
        "pianoroll": ("read_mat", "read_midi", "read_pianoroll", "write_midi"),
        "tabular": ("read_table",),
    },
    modules=("dna",),
)

__all__ = [
    "EXON",
    "INTERGENIC",
    "INTRON",
    "AmbiguousSymbolError",
    "BaseLabels",
    "Binarized",
    "CheckpointMismatchError",
    "ChromHMMModel",
    "Feature",
    "Interval",
    "Minibatch",
    "Motif",
    "PBMArray",
    "PaddedBatch",
    "SequenceRecord",
    "align_marks",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "binarized_files",
    "bucket_lengths",
    "bucketed_minibatches",
    "check_output",
    "check_annotated",
    "check_seqids",
    "check_writable_dir",
    "decode_error_message",
    "deferred_outputs",
    "dna",
    "feature_labels",
    "find_motif",
    "flatten_arrays",
    "format_bed",
    "format_chromhmm_model",
    "interrupted",
    "is_int_literal",
    "is_number_literal",
    "is_prng_key",
    "kfold_indices",
    "leaf_name",
    "load_checkpoint",
    "load_metadata",
    "mark_interrupted",
    "normalise_intensities",
    "open_text",
    "pad_sequences",
    "path_to_intervals",
    "read_binarized",
    "read_binarized_folder",
    "read_checkpoint",
    "read_chromhmm_model",
    "read_gff",
    "read_mat",
    "read_midi",
    "read_motifs",
    "read_pbm",
    "read_pianoroll",
    "read_sequences",
    "read_table",
    "remove_live_temporaries",
    "reset_interrupted",
    "reverse_complement",
    "runs",
    "save_checkpoint",
    "split_indices",
    "unpad",
    "write_bed",
    "write_binarized",
    "write_chromhmm_model",
    "write_gff",
    "write_midi",
]
