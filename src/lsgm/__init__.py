"""lsgm: exact-inference sequence models (HMMs and Long Short-term Graphical Models) in JAX."""

from importlib.metadata import PackageNotFoundError, version

from lsgm import inference
from lsgm.inference import Potentials

try:
    __version__ = version("lsgm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["Potentials", "__version__", "inference"]
