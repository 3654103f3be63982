"""Per-state Gaussian mixtures (hmmlearn's GMMHMM emissions).

State ``k`` emits from ``C`` Gaussians with weights ``pi[k] = softmax(weight_logits[k])``:

    log p(x_t | z_t = k) = logsumexp_c [log pi[k, c] + log N(x_t; mu[k, c], Sigma[k, c])]

Covariance types as in :mod:`lsgm.distributions.gaussian`, per ``(state, component)``;
"tied" shares one matrix among the components of a state (hmmlearn's convention), so the
covariances are spherical ``[K, C]``, diag ``[K, C, D]``, full ``[K, C, D, D]``, tied
``[K, D, D]``.

EM: with component responsibilities ``r[n, k, c] = p(c | x_n, z_n = k)`` under the current
parameters and ``g[n, k, c] = w[n, k] r[n, k, c]``, the M-step is the Gaussian M-step of the
``K * C`` components with weights ``g`` and ``pi[k, c] ∝ sum_n g[n, k, c]``.

Relation to hmmlearn's GMMHMM: its update is this MLE for the weights and means when its
priors are non-informative (``weights_prior=1``, ``means_weight=0`` and ``(covars_prior,
covars_weight)`` = full ``(0, -(D + 2))``, tied ``(0, -(C + D + 1))``, diag ``(-1.5, 0)``,
spherical ``(-(D + 2) / 2, 0)``). Its covariances, however, are scatter matrices around the
*old* means (accumulated during its E-step), larger than these by the outer product of the
mean shift.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.scipy.special import logsumexp

from lsgm.distributions._common import (
    REAL_KINDS,
    all_finite_rows,
    check_finite,
    check_matrix,
    check_positive_int,
    check_stochastic,
    exact_log,
    init_normal,
    poison,
    seed_from_key,
    zeros,
)
from lsgm.distributions.base import Emission, EmissionSummary
from lsgm.distributions.categorical import dirichlet_log_density, dirichlet_map
from lsgm.distributions.gaussian import (
    DATA_VARIANCE_FLOOR,
    DEFAULT_VARIANCE_FLOOR,
    GaussianPrior,
    check_covariance_type,
    check_covariances,
    check_initialize_data,
    covariance_from_unconstrained,
    covariance_shape,
    gaussian_log_prior,
    gaussian_log_prob,
    gaussian_m_step,
    gaussian_sample,
    global_covariance,
    kmeans_init,
    n_covariance_parameters,
    unconstrained_from_covariance,
)

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GaussianMixturePrior:
    """Priors of :class:`GaussianMixture`.

    Attributes:
        weights_prior: Dirichlet concentration of each state's mixture weights
            (``pi[k] ∝ max(counts + weights_prior - 1, 0)``; 1 is the MLE).
        components: a :class:`~lsgm.distributions.GaussianPrior` applied to every component
            (arrays indexed ``[K, C, ...]``), or None for the MLE.
    """

    weights_prior: float | Array = 1.0
    components: GaussianPrior | None = None


def _flatten_components(means: Array, raw: Array, covariance: str) -> tuple[Array, Array]:
    """``[..., K, C, ...]`` parameters as ``[..., K * C, ...]`` Gaussians (tied repeated)."""
    K, C, D = means.shape[-3:]
    lead = means.shape[:-3]
    flat_means = means.reshape(lead + (K * C, D))
    if covariance == "tied":
        return flat_means, jnp.repeat(raw, C, axis=len(lead))
    return flat_means, raw.reshape(lead + (K * C,) + raw.shape[len(lead) + 2 :])


@partial(jax.jit, static_argnames="covariance")
def mixture_component_log_prob(means: Array, raw: Array, x: Array, covariance: str) -> Array:
    """``[T, K, C]`` component log-densities ``log N(x_t; mu[k, c], Sigma[k, c])``.

    Args:
        means: ``[K, C, D]`` or time-varying ``[T, K, C, D]``.
        raw: unconstrained covariances (spherical ``[(T,) K, C]``, diag ``[(T,) K, C, D]``,
            full ``[(T,) K, C, D, D]``, tied ``[(T,) K, D, D]``).
        x: ``[T, D]``.
    """
    K, C = means.shape[-3:-1]
    flat_means, flat_raw = _flatten_components(means, raw, covariance)
    return gaussian_log_prob(flat_means, flat_raw, x, covariance).reshape(-1, K, C)


@partial(jax.jit, static_argnames="covariance")
def gaussian_mixture_log_prob(
    weight_logits: Array, means: Array, raw: Array, x: Array, covariance: str
) -> Array:
    """``[T, K]`` mixture log-densities.

    Args:
        weight_logits: ``[K, C]`` or ``[T, K, C]`` mixture weights as logits (or as
            normalised log-weights; they are log-softmaxed over ``C``).
        means, raw, x, covariance: as :func:`mixture_component_log_prob`.
    """
    log_weights = jax.nn.log_softmax(weight_logits, axis=-1)
    out = logsumexp(log_weights + mixture_component_log_prob(means, raw, x, covariance), -1)
    # NaN/inf observations: NaN rows (poisoned again after the reduction, which need not
    # propagate NaN once fused)
    return poison(all_finite_rows(jnp.asarray(x)), out)


@partial(jax.jit, static_argnames="covariance")
def _update(weight_logits, loc, cov_params, x, weights, prior, variance_floor, covariance):
    """:class:`GaussianMixture` EM update on the unconstrained parameters."""
    p = GaussianMixturePrior() if prior is None else prior
    log_w = jax.nn.log_softmax(weight_logits, axis=-1)
    joint = log_w + mixture_component_log_prob(loc, cov_params, x, covariance)
    g = jnp.asarray(weights, loc.dtype)[:, :, None] * jax.nn.softmax(joint, axis=-1)
    new_weights = dirichlet_map(g.sum(0), p.weights_prior, jnp.exp(log_w))
    cov = covariance_from_unconstrained(cov_params, covariance)
    means, cov = gaussian_m_step(x, g, loc, cov, covariance, p.components, variance_floor)
    return exact_log(new_weights), means, unconstrained_from_covariance(cov, covariance)


@partial(jax.jit, static_argnames="covariance")
def _sample(key, weight_logits, loc, cov_params, states, covariance):
    """:class:`GaussianMixture` draws along a state path (component, then the Gaussian)."""
    key_c, key_x = jax.random.split(key)
    comps = jax.random.categorical(key_c, weight_logits[states], axis=-1)
    raw = cov_params[states] if covariance == "tied" else cov_params[states, comps]
    return gaussian_sample(key_x, loc[states, comps], raw, covariance)


class GaussianMixture(Emission):
    """``K`` mixtures of ``C`` Gaussians in ``D`` dimensions.

    Parameters: ``weight_logits [K, C]``, ``loc [K, C, D]`` (means), ``cov_params`` (unconstrained
    covariances, see the module docstring).

    Args:
        num_states: ``K``.
        dim: ``D``.
        num_components: ``C``.
        covariance: "diag" (default), "full", "spherical" or "tied".
        rngs: random initial means (standard normal) come from ``rngs.params()``; weights
            start uniform and covariances at the identity. None: zero means (placeholder).
        variance_floor: as :class:`~lsgm.distributions.Gaussian`.
    """

    name = "gmm"
    config_fields = ("dim", "num_components", "covariance", "variance_floor")
    stored_sizes = (("num_components", "loc", 1), ("dim", "loc", 2))
    parameter_kinds = {"weight_logits": "log_prob"}
    cli_options = {"covariance": "covariance", "components": "num_components"}
    fit_defaults = {"variance_floor": DATA_VARIANCE_FLOOR}
    observation_dtype = "float32"

    def __init__(
        self,
        num_states: int,
        dim: int,
        num_components: int,
        covariance: str = "diag",
        *,
        rngs: nnx.Rngs | None,
        variance_floor: float = DEFAULT_VARIANCE_FLOOR,
    ):
        check_positive_int(num_states=num_states, dim=dim, num_components=num_components)
        check_covariance_type(covariance)
        if not variance_floor >= 0:
            raise ValueError(f"variance_floor must be >= 0, got {variance_floor!r}.")
        self.num_states, self.dim = int(num_states), int(dim)
        self.num_components, self.covariance = int(num_components), covariance
        self.variance_floor = float(variance_floor)
        K, C, D = self.num_states, self.num_components, self.dim
        self.loc = nnx.Param(init_normal(rngs, (K, C, D)))
        self.weight_logits = nnx.Param(zeros((K, C)))
        self.cov_params = nnx.Param(zeros(self._cov_shape))

    @property
    def _cov_shape(self) -> tuple[int, ...]:
        units = (self.num_states, self.num_components)
        return covariance_shape(self.covariance, units, self.dim)

    @classmethod
    def from_params(
        cls,
        weights: npt.ArrayLike,
        means: npt.ArrayLike,
        covariances: npt.ArrayLike,
        covariance: str = "diag",
        *,
        variance_floor: float = DEFAULT_VARIANCE_FLOOR,
    ) -> GaussianMixture:
        """Model with ``weights [K, C]`` (rows sum to 1), ``means [K, C, D]`` and covariances
        in hmmlearn GMMHMM's ``covars_`` shape (see the module docstring)."""
        check_covariance_type(covariance)
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 3:
            raise ValueError(f"means must have shape [K, C, D], got {means.shape}.")
        K, C, D = means.shape
        weights = check_stochastic(weights, "weights")
        if weights.shape != (K, C):
            raise ValueError(f"weights must have shape {(K, C)}, got {weights.shape}.")
        model = cls(K, D, C, covariance, rngs=None, variance_floor=variance_floor)
        cov = check_covariances(covariances, covariance, model._cov_shape)
        model._set(weights, means, cov)
        return model

    def _set(self, weights, means, covariances) -> None:
        dtype = self.loc[...].dtype
        self.weight_logits[...] = exact_log(jnp.asarray(weights, dtype))
        self.loc[...] = jnp.asarray(means, dtype)
        cov = jnp.asarray(covariances, dtype)
        self.cov_params[...] = unconstrained_from_covariance(cov, self.covariance)

    def weights(self) -> Array:
        """``[K, C]`` mixture weights."""
        return jax.nn.softmax(self.weight_logits[...], axis=-1)

    def means(self) -> Array:
        """``[K, C, D]`` component means."""
        return self.loc[...]

    def covariances(self) -> Array:
        """Covariances in hmmlearn GMMHMM's ``covars_`` shape for this covariance type."""
        return covariance_from_unconstrained(self.cov_params[...], self.covariance)

    def log_prob(self, x: Array) -> Array:
        return gaussian_mixture_log_prob(
            self.weight_logits[...], self.loc[...], self.cov_params[...], x, self.covariance
        )

    def m_step(self, x: Array, weights: Array, prior: GaussianMixturePrior | None = None) -> None:
        """One EM update given state posteriors ``weights [N, K]`` (module docstring)."""
        self.weight_logits[...], self.loc[...], self.cov_params[...] = _update(
            self.weight_logits[...],
            self.loc[...],
            self.cov_params[...],
            x,
            weights,
            prior,
            self.variance_floor,
            self.covariance,
        )

    def log_prior(self, prior: GaussianMixturePrior | None = None) -> Array:
        """Dirichlet log-density of the weights plus :func:`gaussian_log_prior` of every
        component (0 without a prior)."""
        if prior is None:
            return jnp.zeros(())
        log_w = jax.nn.log_softmax(self.weight_logits[...], axis=-1)
        out = dirichlet_log_density(log_w, prior.weights_prior)
        if prior.components is not None:
            raw = self.cov_params[...]
            out = out + gaussian_log_prior(self.loc[...], raw, self.covariance, prior.components)
        return out

    def n_parameters(self) -> int:
        K, C, D = self.num_states, self.num_components, self.dim
        units = (K, C)
        return K * (C - 1) + K * C * D + n_covariance_parameters(self.covariance, units, D)

    def check_data(self, x: np.ndarray, where: str) -> None:
        check_finite(check_matrix(x, where, self.dim, REAL_KINDS, "real values"), where)

    def sample(self, key: Array, states: Array) -> Array:
        params = (self.weight_logits[...], self.loc[...], self.cov_params[...])
        return _sample(key, *params, states, self.covariance)

    def initialize(self, x: np.ndarray, key: Array) -> None:
        """As hmmlearn's GMMHMM: k-means into ``K`` clusters, then k-means into ``C``
        components within each (components of clusters smaller than ``C`` are drawn around
        the data mean); uniform weights; the data's (co)variance for every component."""
        K, C, D = self.num_states, self.num_components, self.dim
        x = check_initialize_data(x, K, D)
        from sklearn.cluster import KMeans

        key_main, key_sub = jax.random.split(key)
        main = KMeans(n_clusters=K, random_state=seed_from_key(key_main), n_init=10).fit(x)
        cov = global_covariance(x, self.covariance, self._cov_shape, self.variance_floor)
        full_cov = global_covariance(x, "full", (D, D), self.variance_floor)
        rng = np.random.default_rng(seed_from_key(key_sub))
        means = []
        for k, sub_key in enumerate(jax.random.split(key_sub, K)):
            cluster = x[main.labels_ == k]
            if len(cluster) >= C:
                means.append(kmeans_init(cluster, C, sub_key))
            else:
                centre = main.cluster_centers_.mean(0)
                means.append(rng.multivariate_normal(centre, full_cov, size=C))
        self._set(np.full((K, C), 1.0 / C), np.stack(means), cov)

    def summary(self) -> EmissionSummary:
        """Each state's mean ``sum_c w[k, c] mu[k, c]``."""
        w, mu = np.asarray(self.weights()), np.asarray(self.means())
        means = np.einsum("kc,kcd->kd", w, mu)
        return EmissionSummary(means, "gaussian", "Emission means per state", "mean")
