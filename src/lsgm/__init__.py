"""lsgm: exact-inference sequence models (HMMs and Long Short-term Graphical Models) in JAX.

Public namespace:

* :mod:`lsgm.inference` — potentials and the shared exact kernels;
* :mod:`lsgm.distributions` — emission families;
* :class:`lsgm.HMM` — the hidden Markov model; :class:`lsgm.LSGM` — the RNN-conditioned HMM;
* :mod:`lsgm.training` — ``fit_em``, ``fit_gradient``, ``fit_supervised``;
* :mod:`lsgm.operators` — the DiffBio-compatible ``DifferentiableHMM``;
* :mod:`lsgm.hmm` — hmmlearn's classes (``from lsgm import hmm`` for ``from hmmlearn import
  hmm``), from the scikit-learn-style :mod:`lsgm.estimators`;
* :func:`lsgm.save_model` / :func:`lsgm.load_model` — model files;
* :mod:`lsgm.data` (FASTA/FASTQ, GFF3, BED, piano rolls/MIDI, tables), :mod:`lsgm.plots`,
  :mod:`lsgm.apps` (CpG islands, gene structure, music) and the ``lsgm`` command line.

The names are imported on first use (PEP 562 ``__getattr__``): ``import lsgm`` loads neither
JAX nor Flax, so the command line parses its arguments, and installs its Ctrl-C handler,
before the heavy imports start.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from lsgm.lazy import lazy_exports

if TYPE_CHECKING:
    from lsgm import distributions, estimators, hmm, inference, training
    from lsgm.inference import Potentials
    from lsgm.models import HMM, LSGM, load_model, save_model

try:
    __version__ = version("lsgm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "inference": ("Potentials",),
        "models": ("HMM", "LSGM", "load_model", "save_model"),
    },
    modules=("distributions", "estimators", "hmm", "inference", "training"),
)

__all__ = [
    "HMM",
    "LSGM",
    "Potentials",
    "__version__",
    "distributions",
    "estimators",
    "hmm",
    "inference",
    "load_model",
    "save_model",
    "training",
]
