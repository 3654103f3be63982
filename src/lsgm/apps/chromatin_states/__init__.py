"""Chromatin-state annotation as ChromHMM users run it (issue 21): binarized inputs, a
multivariate Bernoulli HMM over all cells and chromosomes, ChromHMM's outputs (model,
emission and transition tables, segmentations, browser tracks, a web page).

:mod:`.model` holds the initialisations (ChromHMM's ``information``, ``random``, ``load``),
training and the state calls; :mod:`.outputs` the files; :mod:`.workflow` the commands
``learn`` (ChromHMM ``LearnModel``) and ``segment`` (``MakeSegmentation``); :mod:`.lsgm_states`
an LSGM compared with the HMM on held-out files. Names load on
first use (:mod:`lsgm.lazy`).
"""

from typing import TYPE_CHECKING

from lsgm.lazy import lazy_exports

if TYPE_CHECKING:
    from lsgm.apps.chromatin_states.binarize import (
        BinarizeOptions,
        binarize_bed,
        read_chrom_sizes,
    )
    from lsgm.apps.chromatin_states.enrichment import (
        default_annotation_dirs,
        default_chrom_lengths,
        neighborhood_enrichment,
        overlap_enrichment,
        run_enrichments,
    )
    from lsgm.apps.chromatin_states.lsgm_states import (
        CompareSettings,
        compare,
        compare_report,
        matched_agreement,
    )
    from lsgm.apps.chromatin_states.model import (
        Iteration,
        Training,
        calls,
        fit,
        information_init,
        posteriors,
        random_init,
        score,
        smooth_loaded,
    )
    from lsgm.apps.chromatin_states.outputs import Style
    from lsgm.apps.chromatin_states.workflow import (
        holdout_split,
        learn,
        parse_states,
        segment,
        select_states,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "binarize": ("BinarizeOptions", "binarize_bed", "read_chrom_sizes"),
        "enrichment": (
            "default_annotation_dirs",
            "default_chrom_lengths",
            "neighborhood_enrichment",
            "overlap_enrichment",
            "run_enrichments",
        ),
        "lsgm_states": ("CompareSettings", "compare", "compare_report", "matched_agreement"),
        "model": (
            "Iteration",
            "Training",
            "calls",
            "fit",
            "information_init",
            "posteriors",
            "random_init",
            "score",
            "smooth_loaded",
        ),
        "outputs": ("Style",),
        "workflow": ("holdout_split", "learn", "parse_states", "segment", "select_states"),
    },
)

__all__ = [
    "BinarizeOptions",
    "binarize_bed",
    "read_chrom_sizes",
    "Style",
    "default_annotation_dirs",
    "default_chrom_lengths",
    "neighborhood_enrichment",
    "overlap_enrichment",
    "run_enrichments",
    "Iteration",
    "Training",
    "calls",
    "CompareSettings",
    "compare",
    "compare_report",
    "fit",
    "holdout_split",
    "information_init",
    "learn",
    "matched_agreement",
    "parse_states",
    "posteriors",
    "random_init",
    "score",
    "segment",
    "select_states",
    "smooth_loaded",
]
