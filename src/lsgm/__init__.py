"""lsgm: exact-inference sequence models (HMMs and Long Short-term Graphical Models) in JAX.

Public namespace:

* :mod:`lsgm.inference` — potentials and the shared exact kernels;
* :mod:`lsgm.distributions` — emission families;
* :class:`lsgm.HMM` — the hidden Markov model; :class:`lsgm.LSGM` — the RNN-conditioned HMM;
* :mod:`lsgm.training` — ``fit_em``, ``fit_gradient``, ``fit_supervised``;
* :mod:`lsgm.operators` — the DiffBio-compatible ``DifferentiableHMM``.
"""

from importlib.metadata import PackageNotFoundError, version

from lsgm import distributions, inference, training
from lsgm.inference import Potentials
from lsgm.models import HMM, LSGM

try:
    __version__ = version("lsgm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["HMM", "LSGM", "Potentials", "__version__", "distributions", "inference", "training"]
