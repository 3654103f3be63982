"""Genomics applications: CpG-island segmentation (:mod:`lsgm.apps.genomics.cpg`) and gene
structure (:mod:`lsgm.apps.genomics.gene_structure`).

The public names are re-exported below, one ``name as name`` import each (ruff's explicit
re-export form).
"""

from lsgm.apps.genomics.cpg import calls_to_intervals as calls_to_intervals
from lsgm.apps.genomics.cpg import fit_dinucleotide_hmm as fit_dinucleotide_hmm
from lsgm.apps.genomics.cpg import fit_lsgm as fit_lsgm
from lsgm.apps.genomics.cpg import fit_two_state_hmm as fit_two_state_hmm
from lsgm.apps.genomics.cpg import format_results as format_results
from lsgm.apps.genomics.cpg import island_calls as island_calls
from lsgm.apps.genomics.cpg import per_base_scores as per_base_scores
from lsgm.apps.genomics.cpg import run_cpg as run_cpg
from lsgm.apps.genomics.cpg import run_cpg_seeds as run_cpg_seeds
from lsgm.apps.genomics.cpg import split_windows as split_windows
from lsgm.apps.genomics.gene_structure import run_gene_structure as run_gene_structure
