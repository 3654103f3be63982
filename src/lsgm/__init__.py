"""lsgm: exact-inference sequence models (HMMs and Long Short-term Graphical Models) in JAX.

Public namespace:

* :mod:`lsgm.inference` — potentials and the shared exact kernels;
* :mod:`lsgm.distributions` — emission families;
* :class:`lsgm.HMM` — the hidden Markov model; :class:`lsgm.LSGM` — the RNN-conditioned HMM;
* :mod:`lsgm.training` — ``fit_em``, ``fit_gradient``, ``fit_supervised``;
* :mod:`lsgm.operators` — the DiffBio-compatible ``DifferentiableHMM``;
* :func:`lsgm.save_model` / :func:`lsgm.load_model` — model files;
* :mod:`lsgm.data` (FASTA/FASTQ, GFF3, BED, piano rolls/MIDI, tables), :mod:`lsgm.plots`,
  :mod:`lsgm.apps` (CpG islands, gene structure, music) and the ``lsgm`` command line.

The names are imported on first use (PEP 562 ``__getattr__``): ``import lsgm`` loads neither
JAX nor Flax, so the command line parses its arguments, and installs its Ctrl-C handler,
before the heavy imports start.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lsgm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

#: Public name -> the module that defines it (a module itself where the value is ``None``).
_LAZY = {
    "HMM": "lsgm.models",
    "LSGM": "lsgm.models",
    "Potentials": "lsgm.inference",
    "load_model": "lsgm.models.serialization",
    "save_model": "lsgm.models.serialization",
    "distributions": None,
    "inference": None,
    "training": None,
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'lsgm' has no attribute {name!r}")
    module = _LAZY[name]
    value = (
        import_module(f"lsgm.{name}") if module is None else getattr(import_module(module), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
