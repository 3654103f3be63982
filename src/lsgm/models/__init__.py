"""Models: each turns observations into potentials for :mod:`lsgm.inference`."""

from lsgm.models.base import SequenceModel
from lsgm.models.emission_heads import family_of
from lsgm.models.encoders import Encoder, GRUEncoder, LSTMEncoder, SteppingEncoder
from lsgm.models.hmm import HMM
from lsgm.models.lsgm import LSGM
from lsgm.models.rnn import CELLS, RecurrentStack
from lsgm.models.serialization import build_model, load_model, model_config, save_model
from lsgm.models.validity import (
    NLL_RISE_FACTOR,
    FitDivergedError,
    InvalidParametersError,
    check_parameters,
    parameter_problems,
)

__all__ = [
    "CELLS",
    "HMM",
    "LSGM",
    "NLL_RISE_FACTOR",
    "Encoder",
    "FitDivergedError",
    "GRUEncoder",
    "InvalidParametersError",
    "LSTMEncoder",
    "RecurrentStack",
    "SequenceModel",
    "SteppingEncoder",
    "build_model",
    "check_parameters",
    "family_of",
    "load_model",
    "model_config",
    "parameter_problems",
    "save_model",
]
