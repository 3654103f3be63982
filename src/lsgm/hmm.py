"""hmmlearn's ``hmm`` module on lsgm's models and kernels: ``from lsgm import hmm`` in place
of ``from hmmlearn import hmm``, and the rest of the code unchanged.

The classes are :mod:`lsgm.estimators`' (``docs/hmmlearn.md``: side-by-side code and what
differs). With the same starting parameters they give hmmlearn's fits to round-off in
float64; inference runs on lsgm's exact kernels (CPU, GPU).

Example (hmmlearn's tutorial, sampling and fitting a 3-state Gaussian HMM):

    >>> import numpy as np
    >>> from lsgm import hmm
    >>> model = hmm.GaussianHMM(n_components=3, covariance_type="full")
    >>> model.startprob_ = np.array([0.6, 0.3, 0.1])
    >>> model.transmat_ = np.array([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.3, 0.3, 0.4]])
    >>> model.means_ = np.array([[0.0, 0.0], [3.0, -3.0], [5.0, 10.0]])
    >>> model.covars_ = np.tile(np.identity(2), (3, 1, 1))
    >>> X, Z = model.sample(100, random_state=42)
    >>> X.shape, Z.shape
    ((100, 2), (100,))
"""

from lsgm.estimators import (
    GMMHMM,
    LSGM,
    BernoulliHMM,
    CategoricalHMM,
    ConvergenceMonitor,
    GaussianHMM,
    PoissonHMM,
)

__all__ = [
    "GMMHMM",
    "BernoulliHMM",
    "CategoricalHMM",
    "ConvergenceMonitor",
    "GaussianHMM",
    "LSGM",
    "PoissonHMM",
]
