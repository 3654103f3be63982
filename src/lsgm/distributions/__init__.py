"""Emission families: ``log_prob(x) -> [T, K]``, closed-form ``m_step``, checks, sampling.

Each family is an :class:`Emission` (an ``nnx.Module`` with unconstrained ``nnx.Param``
parameters) built on pure, jittable functions whose parameters may carry a leading time
axis (``[T, K, ...]``), for models whose emissions vary with time. A family registers
itself by its ``name`` (:mod:`lsgm.distributions.registry`, a public name of this package:
``registry.family(name)``, ``registry.families()``; what a family declares:
:mod:`lsgm.distributions.base`).
"""

from lsgm.distributions import registry
from lsgm.distributions.base import Emission, EmissionSummary
from lsgm.distributions.bernoulli import Bernoulli, BetaPrior, bernoulli_log_prob
from lsgm.distributions.categorical import (
    Categorical,
    DirichletPrior,
    categorical_expected_counts,
    categorical_log_prob,
    dirichlet_log_density,
)
from lsgm.distributions.gaussian import (
    COVARIANCE_TYPES,
    Gaussian,
    GaussianPrior,
    gaussian_diag_log_prob,
    gaussian_full_log_prob,
    gaussian_log_prob,
)
from lsgm.distributions.mixture import (
    GaussianMixture,
    GaussianMixturePrior,
    gaussian_mixture_log_prob,
)
from lsgm.distributions.network_head import NetworkHead
from lsgm.distributions.poisson import Poisson, PoissonPrior, poisson_log_prob

__all__ = [
    "COVARIANCE_TYPES",
    "Bernoulli",
    "BetaPrior",
    "Categorical",
    "DirichletPrior",
    "Emission",
    "EmissionSummary",
    "Gaussian",
    "GaussianMixture",
    "GaussianMixturePrior",
    "GaussianPrior",
    "NetworkHead",
    "Poisson",
    "PoissonPrior",
    "bernoulli_log_prob",
    "categorical_expected_counts",
    "categorical_log_prob",
    "dirichlet_log_density",
    "gaussian_diag_log_prob",
    "gaussian_full_log_prob",
    "gaussian_log_prob",
    "gaussian_mixture_log_prob",
    "poisson_log_prob",
    "registry",
]
