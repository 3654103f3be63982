"""Models: each turns observations into potentials for :mod:`lsgm.inference`."""

from lsgm.models.hmm import HMM

__all__ = ["HMM"]
