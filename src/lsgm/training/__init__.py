"""Fitting: Baum–Welch EM, gradient descent through the kernels on the training engine
(:mod:`lsgm.training.loop`), supervised counting, and atomic checkpoints
(:mod:`lsgm.training.checkpoint`).

Models never import this package; fitters only use a model's ``potentials``, its parameters
and (for EM) its closed-form M-steps.
"""

from lsgm.models.validity import (
    FitDivergedError,
    InvalidParametersError,
    check_parameters,
    parameter_problems,
)
from lsgm.training.checkpoint import (
    CheckpointMismatchError,
    ResumeError,
    load_checkpoint,
    load_metadata,
    save_checkpoint,
)
from lsgm.training.em import FitHistory, HMMPrior, fit_em
from lsgm.training.gradient import GradientHistory, fit_gradient
from lsgm.training.optimizers import HyperOptimizer
from lsgm.training.supervised import fit_supervised

__all__ = [
    "CheckpointMismatchError",
    "FitDivergedError",
    "FitHistory",
    "GradientHistory",
    "HMMPrior",
    "HyperOptimizer",
    "InvalidParametersError",
    "ResumeError",
    "check_parameters",
    "fit_em",
    "fit_gradient",
    "fit_supervised",
    "load_checkpoint",
    "load_metadata",
    "parameter_problems",
    "save_checkpoint",
]
