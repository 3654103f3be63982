"""scikit-learn-style estimators on lsgm's models and kernels, with hmmlearn's interface.

``from lsgm import hmm`` (:mod:`lsgm.hmm`) gives the same names under hmmlearn's module name,
so hmmlearn code runs with its import changed; ``docs/hmmlearn.md`` says what differs.

* :class:`CategoricalHMM`, :class:`GaussianHMM`, :class:`GMMHMM`, :class:`PoissonHMM`:
  hmmlearn's classes (constructor arguments, fitted attributes, ``fit(X, lengths)``,
  ``score``, ``score_samples``, ``decode``, ``predict``, ``predict_proba``, ``sample``,
  ``aic``, ``bic``), fitted by :func:`lsgm.training.fit_em` in float64;
* :class:`BernoulliHMM`: binary vectors, in the same style;
* :class:`LSGM`: the RNN-conditioned HMM (:class:`lsgm.LSGM`) as an estimator, trained by
  gradient (:func:`lsgm.training.fit_gradient`);
* :class:`ConvergenceMonitor`: the ``monitor_`` of a fitted estimator.
"""

from lsgm.estimators.base import (
    DECODER_ALGORITHMS,
    BaseHMM,
    ConvergenceMonitor,
    SequenceEstimator,
)
from lsgm.estimators.families import (
    GMMHMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
)
from lsgm.estimators.lsgm_estimator import LSGM

__all__ = [
    "DECODER_ALGORITHMS",
    "GMMHMM",
    "BaseHMM",
    "BernoulliHMM",
    "CategoricalHMM",
    "ConvergenceMonitor",
    "GaussianHMM",
    "LSGM",
    "PoissonHMM",
    "SequenceEstimator",
]
