"""Models: each turns observations into potentials for :mod:`lsgm.inference`."""

from lsgm.models.base import LengthsLike, SequenceModel, SequencesLike
from lsgm.models.emission_heads import family_of
from lsgm.models.encoders import Encoder, GRUEncoder, LSTMEncoder, SteppingEncoder
from lsgm.models.hmm import HMM
from lsgm.models.lsgm import LSGM
from lsgm.models.rnn import (
    CELL_TYPES,
    CELLS,
    Carry,
    RecurrentStack,
    recurrent_layers,
    scan_layer,
    scan_stack,
    zero_carry,
)
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
    "CELL_TYPES",
    "Carry",
    "Encoder",
    "FitDivergedError",
    "GRUEncoder",
    "HMM",
    "InvalidParametersError",
    "LSGM",
    "LSTMEncoder",
    "LengthsLike",
    "NLL_RISE_FACTOR",
    "RecurrentStack",
    "SequenceModel",
    "SequencesLike",
    "SteppingEncoder",
    "build_model",
    "check_parameters",
    "family_of",
    "load_model",
    "model_config",
    "parameter_problems",
    "recurrent_layers",
    "save_model",
    "scan_layer",
    "scan_stack",
    "zero_carry",
]
