"""Models: each turns observations into potentials for :mod:`lsgm.inference`."""

from lsgm.models.encoders import Encoder, GRUEncoder, LSTMEncoder, SteppingEncoder
from lsgm.models.hmm import HMM
from lsgm.models.lsgm import LSGM

__all__ = ["HMM", "LSGM", "Encoder", "GRUEncoder", "LSTMEncoder", "SteppingEncoder"]
