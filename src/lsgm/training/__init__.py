"""Fitting: Baum–Welch EM, gradient descent through the kernels on the training engine
(:mod:`lsgm.training.loop`), supervised counting, and atomic checkpoints
(:mod:`lsgm.training.checkpoint`).

Models never import this package; fitters only use a model's ``potentials``, its parameters
and (for EM) its closed-form M-steps.
"""

from lsgm.models import (
    FitDivergedError,
    InvalidParametersError,
    check_parameters,
    parameter_problems,
)
from lsgm.training.callbacks import EarlyStopping, EpochLog, ProgressBar, StepLog
from lsgm.training.checkpoint import (
    CheckpointMismatchError,
    ResumeError,
    load_checkpoint,
    load_metadata,
    save_checkpoint,
)
from lsgm.training.common import check_real, int_at_least, params_except
from lsgm.training.em import FitHistory, HMMPrior, e_step, em_step_for, fit_em, sharded_inputs
from lsgm.training.gradient import CHECKPOINT_FILE, GradientHistory, batch_nll, fit_gradient
from lsgm.training.loop import Callback, Loop, Trainer, mean_loss, run_epochs
from lsgm.training.optimizers import HyperOptimizer
from lsgm.training.supervised import fit_supervised

__all__ = [
    "CHECKPOINT_FILE",
    "Callback",
    "CheckpointMismatchError",
    "EarlyStopping",
    "EpochLog",
    "FitDivergedError",
    "FitHistory",
    "GradientHistory",
    "HMMPrior",
    "HyperOptimizer",
    "InvalidParametersError",
    "Loop",
    "ProgressBar",
    "ResumeError",
    "StepLog",
    "Trainer",
    "batch_nll",
    "check_parameters",
    "check_real",
    "e_step",
    "em_step_for",
    "fit_em",
    "fit_gradient",
    "fit_supervised",
    "int_at_least",
    "load_checkpoint",
    "load_metadata",
    "mean_loss",
    "parameter_problems",
    "params_except",
    "run_epochs",
    "save_checkpoint",
    "sharded_inputs",
]
