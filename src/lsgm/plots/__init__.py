"""Pictures of sequence models and their data: the DiffBio HMM example's five figures
(state posteriors, transition matrix, emission matrix, Viterbi path, training curve), sequence
logos and piano rolls.

Every function takes the data (numpy or JAX arrays) and an output ``path`` whose suffix picks
the format (``.png`` or ``.svg``), writes the file atomically (complete or not at all, no
temporary file left behind) and returns the :class:`~pathlib.Path` written. Figures are
detached :class:`matplotlib.figure.Figure` objects: no pyplot state, no display needed.
Invalid input raises a ``ValueError`` naming the argument, the problem and the fix.
:func:`figure` (a context manager: draw on a new figure, saved atomically on exit) and
:func:`output_path` (the suffix check) serve figures drawn elsewhere.
"""

from lsgm.plots._figure import figure, output_path, output_paths
from lsgm.plots.curves import plot_training_curve, plot_viterbi_path
from lsgm.plots.heatmaps import plot_emission_matrix, plot_posteriors, plot_transition_matrix
from lsgm.plots.logo import logo_heights, plot_sequence_logo
from lsgm.plots.model import (
    ModelSummary,
    history_curves,
    plot_model,
    static_emission_table,
    summarise,
)
from lsgm.plots.piano_roll import note_name, plot_piano_roll

__all__ = [
    "ModelSummary",
    "figure",
    "history_curves",
    "logo_heights",
    "note_name",
    "output_path",
    "output_paths",
    "plot_emission_matrix",
    "plot_model",
    "plot_piano_roll",
    "plot_posteriors",
    "plot_sequence_logo",
    "plot_training_curve",
    "plot_transition_matrix",
    "plot_viterbi_path",
    "static_emission_table",
    "summarise",
]
