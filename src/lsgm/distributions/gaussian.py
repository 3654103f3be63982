"""Multivariate Gaussian emissions with spherical, diagonal, full or tied covariances.

    log N(x; mu, Sigma) = -1/2 [(x - mu)^T Sigma^{-1} (x - mu) + log det Sigma + D log 2 pi]

Covariances are stored unconstrained (``cov_params``), per hmmlearn ``covariance_type``:

* spherical: ``s_k I``, stored as ``log s_k`` ``[K]``;
* diag: ``diag(s_k)``, stored as ``log s_k`` ``[K, D]``;
* full: ``L_k L_k^T`` with ``L_k`` lower triangular, stored as
  ``tril(L_k, -1) + diag(log diag L_k)`` ``[K, D, D]`` (the upper triangle is ignored);
* tied: one ``L L^T`` for all states, stored like full as ``[D, D]``.

The M-step is hmmlearn's ``GaussianHMM._do_mstep`` (conjugate normal / inverse-Wishart
style priors in :class:`GaussianPrior`), computed with centred scatter matrices, followed by
a variance floor. The pure functions here are shared with
:mod:`lsgm.distributions.mixture`, whose "units" are ``(state, component)`` pairs.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.custom_derivatives import SymbolicZero

from lsgm.distributions._common import (
    REAL_KINDS,
    check_finite,
    check_matrix,
    check_positive_int,
    first,
    index_str,
    init_normal,
    nan_if_not_finite,
    num_free_symmetric,
    prod,
    safe_divide,
    seed_from_key,
    zeros,
)
from lsgm.distributions.base import Emission, EmissionSummary
from lsgm.distributions.network_head import NetworkHead, as_float, poison_rows

Array = jax.Array

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
DEFAULT_VARIANCE_FLOOR = 1e-6
#: The variance floor of Gaussian (and mixture) models that ``lsgm fit`` sizes from data.
DATA_VARIANCE_FLOOR = 1e-3
_LOG_2PI = math.log(2 * math.pi)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GaussianPrior:
    """hmmlearn ``GaussianHMM`` priors (defaults are hmmlearn's).

    With ``w_k = sum_n w[n, k]``, ``S1_k = sum_n w[n, k] x_n`` and ``lambda = means_weight``:

        mu_k    = (lambda mu0_k + S1_k) / (lambda + w_k)
        Sigma_k = (covars_prior + lambda (mu_k - mu0_k)(mu_k - mu0_k)^T
                   + sum_n w[n, k] (x_n - mu_k)(x_n - mu_k)^T) / (max(nu - c, 0) + w_k)

    with ``nu = covars_weight``, ``c = 1`` for diag/spherical (element-wise squares; spherical
    averages the diagonal) and ``c = D`` for full/tied (tied sums numerator and denominator
    over states). ``covars_prior`` is added as is: a scalar adds to *every* entry of a full
    matrix, as in hmmlearn; pass ``a * eye(D)`` for an isotropic prior. ``means_weight=0``,
    ``covars_prior=0``, ``covars_weight<=1`` give the MLE.

    Attributes:
        means_prior: ``mu0``, scalar or ``[K, D]``.
        means_weight: ``lambda``, scalar or ``[K]``.
        covars_prior: scalar or an array of the covariances' shape.
        covars_weight: ``nu``, scalar.
    """

    means_prior: float | Array = 0.0
    means_weight: float | Array = 0.0
    covars_prior: float | Array = 1e-2
    covars_weight: float | Array = 1.0


_MLE = GaussianPrior(covars_prior=0.0)


# --- covariance parameterisation -------------------------------------------------------


def _diag_embed(v: Array) -> Array:
    return v[..., None] * jnp.eye(v.shape[-1], dtype=v.dtype)


def cholesky_from_unconstrained(raw: Array) -> Array:
    """Lower Cholesky factor ``tril(raw, -1) + diag(exp(diag raw))``; ``[..., D, D]``."""
    return jnp.tril(raw, -1) + _diag_embed(jnp.exp(jnp.diagonal(raw, axis1=-2, axis2=-1)))


def unconstrained_from_cholesky(chol: Array) -> Array:
    """Inverse of :func:`cholesky_from_unconstrained` (the upper triangle is zero)."""
    return jnp.tril(chol, -1) + _diag_embed(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)))


@partial(jax.jit, static_argnames="covariance")
def covariance_from_unconstrained(raw: Array, covariance: str) -> Array:
    """Covariances in hmmlearn's per-type shape (spherical ``[...]`` variances, diag
    ``[..., D]`` variances, full/tied ``[..., D, D]`` matrices)."""
    if covariance in ("spherical", "diag"):
        return jnp.exp(raw)
    chol = cholesky_from_unconstrained(raw)
    return chol @ jnp.swapaxes(chol, -1, -2)


@partial(jax.jit, static_argnames="covariance")
def unconstrained_from_covariance(cov: Array, covariance: str) -> Array:
    """Inverse of :func:`covariance_from_unconstrained`."""
    if covariance in ("spherical", "diag"):
        return jnp.log(cov)
    return unconstrained_from_cholesky(jnp.linalg.cholesky(cov))


def covariance_shape(covariance: str, units: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """Shape of the covariances of ``units`` Gaussians (tied: shared over the last unit axis)."""
    return {
        "spherical": units,
        "diag": units + (dim,),
        "full": units + (dim, dim),
        "tied": units[:-1] + (dim, dim),
    }[covariance]


def n_covariance_parameters(covariance: str, units: tuple[int, ...], dim: int) -> int:
    """Free scalars of the covariances (hmmlearn's count)."""
    shape = covariance_shape(covariance, units, dim)
    if covariance in ("full", "tied"):
        return prod(shape[:-2]) * num_free_symmetric(dim)
    return prod(shape)


def check_covariance_type(covariance: str) -> None:
    if covariance not in COVARIANCE_TYPES:
        raise ValueError(f"covariance={covariance!r} is not one of {COVARIANCE_TYPES}.")


def check_covariances(cov: npt.ArrayLike, covariance: str, shape: tuple[int, ...]) -> np.ndarray:
    """Validate covariances given in hmmlearn's per-type shape; returns them as float64."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != shape:
        raise ValueError(f"{covariance!r} covariances must have shape {shape}, got {cov.shape}.")
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{covariance!r} covariances contain NaN or inf.")
    if covariance in ("spherical", "diag"):
        if (cov <= 0).any():
            pos = first(cov <= 0)
            raise ValueError(
                f"{covariance!r} variances must be positive: covariances{index_str(pos)} = "
                f"{cov[pos]}."
            )
        return cov
    for idx in np.ndindex(cov.shape[:-2]):
        c = cov[idx]
        where = f"covariances{index_str(idx)}" if idx else "the tied covariance"
        if not np.allclose(c, c.T):
            raise ValueError(f"{where} is not symmetric.")
        smallest = np.linalg.eigvalsh(c)[0]
        if smallest <= 0:
            raise ValueError(
                f"{where} is not positive definite (smallest eigenvalue {smallest:.3g})."
            )
    return cov


# --- log-densities -------------------------------------------------------------------


#: Up to this dimension the diagonal log-density is summed feature by feature (one fused loop
#: over ``[T, K]``); above it, computed as one ``[T, 2D] @ [2D, K]`` product.
DIRECT_MAX_DIM = 16


def _diag_features_log_prob(means: Array, log_var: Array, x: Array) -> Array:
    """``[T, K]`` ``[x^2, x] @ W^T + c`` with ``W = [-inv / 2, mu * inv]``, ``inv = exp(-log_var)``,
    ``c = -1/2 sum_d (mu^2 inv + log_var + log 2 pi)``: the expanded quadratic form as one
    matrix product with contraction ``2D`` (as hmmlearn, slightly less exact than the direct
    sum when ``|x| >> |x - mu|``)."""
    weights, const = _diag_feature_weights(means, log_var)
    return jnp.concatenate([x * x, x], -1) @ weights.T + const


def _diag_feature_weights(means: Array, log_var: Array) -> tuple[Array, Array]:
    """``(W [K, 2D], c [K])`` of :func:`_diag_features_log_prob`."""
    inv = jnp.exp(-log_var)
    weights = jnp.concatenate([-0.5 * inv, means * inv], -1)
    return weights, -0.5 * jnp.sum(means**2 * inv + log_var + _LOG_2PI, axis=-1)


@jax.custom_jvp
def _diag_static_log_prob(means: Array, log_var: Array, x: Array) -> Array:
    """``[T, K]`` ``-1/2 sum_d ((x_d - mu_kd)^2 inv_kd + log_var_kd + log 2 pi)`` for static
    ``[K, D]`` parameters: summed over ``d`` directly (exact, one fused pass) for
    ``D <= DIRECT_MAX_DIM``, by :func:`_diag_features_log_prob` above. The derivative is the
    (linear) derivative of the matrix-product form: its transpose with respect to the
    parameters is one ``[2D, T] @ [T, K]`` product, not a reduction over ``[T, K, D]``."""
    D = means.shape[-1]
    if D > DIRECT_MAX_DIM:
        return _diag_features_log_prob(means, log_var, x)
    inv = jnp.exp(-log_var)
    const = -0.5 * jnp.sum(log_var + _LOG_2PI, axis=-1)  # [K]
    quad = sum((x[:, d, None] - means[:, d]) ** 2 * inv[:, d] for d in range(D))
    return const - 0.5 * quad


def _instantiate(tangent, primal):
    if isinstance(tangent, SymbolicZero):
        return jnp.zeros_like(primal)
    return tangent


@partial(_diag_static_log_prob.defjvp, symbolic_zeros=True)
def _diag_static_log_prob_jvp(primals, tangents):
    means, log_var, x = primals
    d_means, d_log_var, d_x = tangents
    out = _diag_static_log_prob(means, log_var, x)
    params = (means, log_var)
    if isinstance(d_means, SymbolicZero) and isinstance(d_log_var, SymbolicZero):
        tangent = jnp.zeros_like(out)
    else:
        d_params = (_instantiate(d_means, means), _instantiate(d_log_var, log_var))
        (weights, _), (d_weights, d_const) = jax.jvp(_diag_feature_weights, params, d_params)
        tangent = jnp.concatenate([x * x, x], -1) @ d_weights.T + d_const
    if not isinstance(d_x, SymbolicZero):  # d/dx_d = -(x_d - mu_kd) inv_kd
        weights, _ = _diag_feature_weights(means, log_var)
        tangent = tangent + jnp.concatenate([2 * x * d_x, d_x], -1) @ weights.T
    return out, tangent


@jax.jit
def gaussian_diag_log_prob(means: Array, log_var: Array, x: Array) -> Array:
    """Diagonal-covariance Gaussian log-densities.

    ``log N(x_t; mu_k, diag(exp(log_var_k)))``.

    Args:
        means: ``[K, D]`` or time-varying ``[T, K, D]``.
        log_var: log-variances broadcastable to ``means`` (spherical: ``log_var[..., None]``).
        x: ``[T, D]``.

    Returns:
        ``[T, K]``; NaN rows where ``x_t`` holds a NaN or +-inf (invalid data poisons the
        result under ``jit`` rather than scoring ``-inf``).
    """
    x = nan_if_not_finite(jnp.asarray(x, means.dtype))
    log_var = jnp.broadcast_to(log_var, means.shape)
    if means.ndim == 2:
        return _diag_static_log_prob(means, log_var, x)
    diff = x[:, None, :] - means
    return -0.5 * jnp.sum(diff**2 * jnp.exp(-log_var) + log_var + _LOG_2PI, axis=-1)


@jax.jit
def gaussian_full_log_prob(means: Array, chol_raw: Array, x: Array) -> Array:
    """Full-covariance Gaussian log-densities, covariance ``L L^T``.

    With ``L = cholesky_from_unconstrained(chol_raw)`` and ``z = L^{-1} (x_t - mu_k)``:
    ``-1/2 |z|^2 - sum_i log L_ii - D/2 log 2 pi``.

    Args:
        means: ``[K, D]`` or time-varying ``[T, K, D]``.
        chol_raw: unconstrained Cholesky factors broadcastable to ``means.shape + (D,)``:
            ``[K, D, D]``, ``[T, K, D, D]`` or one tied ``[D, D]``.
        x: ``[T, D]``.

    Returns:
        ``[T, K]``; NaN rows where ``x_t`` holds a NaN or +-inf.
    """
    D = means.shape[-1]
    chol = cholesky_from_unconstrained(chol_raw)
    eye = jnp.broadcast_to(jnp.eye(D, dtype=chol.dtype), chol.shape)
    chol_inv = jax.lax.linalg.triangular_solve(chol, eye, left_side=True, lower=True)
    diff = nan_if_not_finite(jnp.asarray(x, means.dtype))[:, None, :] - means
    z = jnp.einsum("...ij,...j->...i", chol_inv, diff)  # (a broadcasting matmul is 3x slower)
    half_log_det = jnp.sum(jnp.diagonal(chol_raw, axis1=-2, axis2=-1), axis=-1)
    return -0.5 * (jnp.sum(z**2, axis=-1) + D * _LOG_2PI) - half_log_det


@partial(jax.jit, static_argnames="covariance")
def gaussian_log_prob(means: Array, raw: Array, x: Array, covariance: str) -> Array:
    """``[T, K]`` log-densities for any covariance type (``raw`` as stored by :class:`Gaussian`)."""
    if covariance == "spherical":
        return gaussian_diag_log_prob(means, raw[..., None], x)
    if covariance == "diag":
        return gaussian_diag_log_prob(means, raw, x)
    return gaussian_full_log_prob(means, raw, x)


@partial(jax.jit, static_argnames="covariance")
def gaussian_sample(key: Array, means: Array, raw: Array, covariance: str) -> Array:
    """One draw per row of ``means [T, D]``; ``raw`` holds the matching unconstrained
    covariances ``[T, ...]`` (or one tied ``[D, D]``)."""
    eps = jax.random.normal(key, means.shape, means.dtype)
    if covariance == "spherical":
        return means + jnp.exp(0.5 * raw)[..., None] * eps
    if covariance == "diag":
        return means + jnp.exp(0.5 * raw) * eps
    return means + jnp.einsum("...ij,...j->...i", cholesky_from_unconstrained(raw), eps)


# --- M-step --------------------------------------------------------------------------


def _floor_matrices(cov: Array, floor: float) -> Array:
    """Add ``(floor - lambda_min) I`` to matrices whose smallest eigenvalue is below ``floor``."""
    smallest = jnp.linalg.eigvalsh(cov)[..., 0]
    shift = jnp.maximum(floor - smallest, 0)
    return cov + shift[..., None, None] * jnp.eye(cov.shape[-1], dtype=cov.dtype)


@partial(jax.jit, static_argnames="covariance")
def gaussian_m_step(
    x: Array,
    weights: Array,
    means: Array,
    covariances: Array,
    covariance: str,
    prior: GaussianPrior | None = None,
    variance_floor: float = DEFAULT_VARIANCE_FLOOR,
) -> tuple[Array, Array]:
    """Weighted MLE / MAP of a batch of Gaussians (formulas in :class:`GaussianPrior`).

    Args:
        x: ``[N, D]`` observations.
        weights: ``[N, *U]`` weight of observation ``n`` for Gaussian ``u`` (``U = (K,)`` for
            an HMM, ``(K, C)`` for mixtures).
        means, covariances: current values ``[*U, D]`` and hmmlearn-shaped covariances (tied:
            shared over the last unit axis); kept where a unit has no weight.
        covariance: one of :data:`COVARIANCE_TYPES`.
        prior: :class:`GaussianPrior`, or None for the MLE.
        variance_floor: lower bound on variances / on the smallest eigenvalue.

    Returns:
        ``(means, covariances)``, same shapes as given.
    """
    p = _MLE if prior is None else prior
    x = jnp.asarray(x, means.dtype)
    weights = jnp.asarray(weights, means.dtype)
    D = x.shape[-1]
    mu0 = jnp.asarray(p.means_prior, means.dtype)
    lam = jnp.asarray(p.means_weight, means.dtype)[..., None]  # broadcasts to [*U, D]
    cov_prior = jnp.asarray(p.covars_prior, means.dtype)
    if covariance in ("spherical", "diag"):
        # Zeroth, first and second moments of x centred on its mean, by one matrix product
        # w^T [1, xc, xc^2] (no [N, *U, D] array; the centring keeps the cancellation of
        # sum_n w (x - mu)^2 = second - 2 mc first + mc^2 post small in float32).
        shift = jax.lax.stop_gradient(x.mean(0))
        xc = x - shift
        features = jnp.concatenate([jnp.ones_like(xc[:, :1]), xc, xc * xc], -1)  # [N, 2D+1]
        moments = jnp.einsum("n...,nf->...f", weights, features)
        post, first, second = moments[..., 0], moments[..., 1 : D + 1], moments[..., D + 1 :]
        obs = first + post[..., None] * shift
        new_means = safe_divide(lam * mu0 + obs, lam + post[..., None], means)
        offset = new_means - mu0
        mc = new_means - shift
        spread = second - 2 * mc * first + mc**2 * post[..., None]
        c_n = cov_prior + lam * offset**2 + spread
        c_d = jnp.maximum(p.covars_weight - 1, 0) + post
        if covariance == "spherical":
            new = safe_divide(c_n.mean(-1), c_d, covariances)
        else:
            new = safe_divide(c_n, c_d[..., None], covariances)
        return new_means, jnp.maximum(new, variance_floor)

    post = weights.sum(0)  # [*U]
    obs = jnp.einsum("n...,nd->...d", weights, x)
    new_means = safe_divide(lam * mu0 + obs, lam + post[..., None], means)
    offset = new_means - mu0
    diff = x.reshape((x.shape[0],) + (1,) * post.ndim + (D,)) - new_means  # [N, *U, D]
    scatter = jnp.einsum("n...i,n...j->...ij", weights[..., None] * diff, diff)
    c_n = lam[..., None] * offset[..., :, None] * offset[..., None, :] + scatter
    if covariance == "tied":  # one matrix per group of units: pool the statistics
        c_n, post = c_n.sum(-3), post.sum(-1)
    c_d = jnp.maximum(p.covars_weight - D, 0) + post
    c_n = cov_prior + 0.5 * (c_n + jnp.swapaxes(c_n, -1, -2))
    new = safe_divide(c_n, c_d[..., None, None], covariances)
    return new_means, _floor_matrices(new, variance_floor)


def gaussian_log_prior(means: Array, raw: Array, covariance: str, prior: GaussianPrior) -> Array:
    """Log-density (up to a constant) of a batch of Gaussians under the prior whose MAP is
    :func:`gaussian_m_step` — the term that makes the M-step the exact maximiser of
    ``sum_n w log N(x_n; mu, Sigma) + log p(mu, Sigma)``:

        diag:      sum -1/2 m_1 log s - (c0 + lambda (mu - mu0)^2) / (2 s)     (per coordinate)
        spherical: sum_u -1/2 D m_1 log s_u - sum_d (c0 + lambda (mu - mu0)^2)_d / (2 s_u)
        full:      sum_u -1/2 m_D log|Sigma_u| - 1/2 tr(Sigma_u^-1 (C0 + lambda o_u o_u^T))
        tied:      -1/2 m_D log|Sigma| - 1/2 tr(Sigma^-1 (C0 + sum_u lambda_u o_u o_u^T))

    with ``o = mu - mu0``, ``m_c = max(nu - c, 0)`` (``nu = covars_weight``). Setting the
    derivatives of likelihood + this to zero gives exactly the formulas of
    :class:`GaussianPrior` (an improper prior for small ``nu``, which is fine for MAP).

    Args:
        means: ``[*U, D]``; raw: unconstrained covariances (tied: shared over the last unit
            axis), as :func:`covariance_from_unconstrained` reads them.
    """
    D = means.shape[-1]
    mu0 = jnp.asarray(prior.means_prior, means.dtype)
    lam = jnp.asarray(prior.means_weight, means.dtype)[..., None]
    cov_prior = jnp.asarray(prior.covars_prior, means.dtype)
    offset = means - mu0
    cov = covariance_from_unconstrained(raw, covariance)
    if covariance in ("spherical", "diag"):
        m1 = jnp.maximum(prior.covars_weight - 1, 0)
        c_n = cov_prior + lam * offset**2
        if covariance == "spherical":
            return jnp.sum(-0.5 * D * m1 * raw - 0.5 * c_n.sum(-1) / cov)
        return jnp.sum(-0.5 * m1 * raw - 0.5 * c_n / cov)
    c_n = lam[..., None] * offset[..., :, None] * offset[..., None, :]
    if covariance == "tied":
        c_n = c_n.sum(-3)
    c_n = cov_prior + c_n
    m_d = jnp.maximum(prior.covars_weight - D, 0)
    log_det = 2 * jnp.sum(jnp.diagonal(raw, axis1=-2, axis2=-1), -1)
    trace = jnp.trace(jnp.linalg.solve(cov, c_n), axis1=-2, axis2=-1)
    return jnp.sum(-0.5 * m_d * log_det - 0.5 * trace)


@partial(jax.jit, static_argnames="covariance")
def _update(loc, cov_params, x, weights, prior, variance_floor, covariance):
    """:class:`Gaussian` M-step on the unconstrained parameters."""
    cov = covariance_from_unconstrained(cov_params, covariance)
    means, cov = gaussian_m_step(x, weights, loc, cov, covariance, prior, variance_floor)
    return means, unconstrained_from_covariance(cov, covariance)


@partial(jax.jit, static_argnames="covariance")
def _sample(key, loc, cov_params, states, covariance):
    """:class:`Gaussian` draws along a state path."""
    raw = cov_params if covariance == "tied" else cov_params[states]
    return gaussian_sample(key, loc[states], raw, covariance)


def kmeans_init(x: np.ndarray, n_clusters: int, key: Array) -> np.ndarray:
    """Cluster centres of scikit-learn's ``KMeans`` (seeded from ``key``), ``[n_clusters, D]``."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, random_state=seed_from_key(key), n_init=10)
    return km.fit(x).cluster_centers_


def global_covariance(
    x: np.ndarray, covariance: str, shape: tuple[int, ...], floor: float
) -> np.ndarray:
    """The data's covariance (plus ``floor I``) for every Gaussian, in per-type ``shape``.

    Spherical uses the mean variance ``trace / D`` (hmmlearn averages every matrix entry).
    """
    cv = np.atleast_2d(np.cov(x.T)) + floor * np.eye(x.shape[1])
    per_unit = {"spherical": np.trace(cv) / len(cv), "diag": np.diag(cv)}.get(covariance, cv)
    return np.broadcast_to(per_unit, shape).copy()


def check_initialize_data(x: npt.ArrayLike, num_clusters: int, dim: int) -> np.ndarray:
    x = check_matrix(x, "initialize data", dim, REAL_KINDS, "real values")
    check_finite(x, "initialize data")
    if len(x) < max(num_clusters, 2):
        raise ValueError(
            f"initialize needs at least {max(num_clusters, 2)} observations, got {len(x)}."
        )
    return x.astype(np.float64)


# --- the emission module -------------------------------------------------------------


@cache
def _network_head(D: int) -> NetworkHead:
    """The LSGM's head of a diagonal Gaussian in ``D`` dimensions: raw outputs are the means
    then the log-variances (``[2 D]``)."""

    def sample(key: Array, raw: Array) -> Array:
        return raw[:D] + jnp.exp(0.5 * raw[D:]) * jax.random.normal(key, (D,), raw.dtype)

    return NetworkHead(
        num_params=2 * D,
        input_dim=D,
        bias=lambda em: jnp.concatenate([em.loc[...], em.cov_params[...]], axis=-1),
        log_prob=lambda raw, x: gaussian_diag_log_prob(raw[..., :D], raw[..., D:], x),
        encode=lambda x: poison_rows(jnp.all(jnp.isfinite(x), -1), as_float(x)),
        sample=sample,
        table=lambda raw: raw[..., :D],
    )


class Gaussian(Emission):
    """``K`` Gaussians in ``D`` dimensions.

    Parameters: ``loc [K, D]`` (the means) and ``cov_params`` (unconstrained covariances, see
    the module table).

    Args:
        num_states: ``K``.
        dim: ``D``.
        covariance: "diag" (default), "full", "spherical" or "tied".
        rngs: random initial means (standard normal) come from ``rngs.params()``;
            covariances start at the identity. None: zero means (placeholder).
        variance_floor: lower bound applied after each M-step (variances for diag/spherical,
            the smallest eigenvalue for full/tied).
    """

    name = "gaussian"
    config_fields = ("dim", "covariance", "variance_floor")
    stored_sizes = (("dim", "loc", 1),)
    lsgm_form = "Gaussian(covariance='diag')"
    cli_options = {"covariance": "covariance"}
    fit_defaults = {"variance_floor": DATA_VARIANCE_FLOOR}
    observation_dtype = "float32"

    def __init__(
        self,
        num_states: int,
        dim: int,
        covariance: str = "diag",
        *,
        rngs: nnx.Rngs | None,
        variance_floor: float = DEFAULT_VARIANCE_FLOOR,
    ):
        check_positive_int(num_states=num_states, dim=dim)
        check_covariance_type(covariance)
        if not variance_floor >= 0:
            raise ValueError(f"variance_floor must be >= 0, got {variance_floor!r}.")
        self.num_states, self.dim, self.covariance = int(num_states), int(dim), covariance
        self.variance_floor = float(variance_floor)
        self.loc = nnx.Param(init_normal(rngs, (num_states, dim)))
        self.cov_params = nnx.Param(zeros(self._cov_shape))

    @property
    def _cov_shape(self) -> tuple[int, ...]:
        return covariance_shape(self.covariance, (self.num_states,), self.dim)

    @classmethod
    def from_params(
        cls,
        means: npt.ArrayLike,
        covariances: npt.ArrayLike,
        covariance: str = "diag",
        *,
        variance_floor: float = DEFAULT_VARIANCE_FLOOR,
    ) -> Gaussian:
        """Model with ``means [K, D]`` and covariances in hmmlearn's ``covars_`` shape
        (spherical ``[K]``, diag ``[K, D]``, full ``[K, D, D]``, tied ``[D, D]``)."""
        check_covariance_type(covariance)
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape [K, D], got {means.shape}.")
        check_finite(means, "means")
        K, D = means.shape
        model = cls(K, D, covariance, rngs=None, variance_floor=variance_floor)
        model._set(means, check_covariances(covariances, covariance, model._cov_shape))
        return model

    def _set(self, means, covariances) -> None:
        dtype = self.loc[...].dtype
        self.loc[...] = jnp.asarray(means, dtype)
        cov = jnp.asarray(covariances, dtype)
        self.cov_params[...] = unconstrained_from_covariance(cov, self.covariance)

    def means(self) -> Array:
        """``[K, D]`` means."""
        return self.loc[...]

    def covariances(self) -> Array:
        """Covariances in hmmlearn's ``covars_`` setter shape for this covariance type."""
        return covariance_from_unconstrained(self.cov_params[...], self.covariance)

    def log_prob(self, x: Array) -> Array:
        return gaussian_log_prob(self.loc[...], self.cov_params[...], x, self.covariance)

    def m_step(self, x: Array, weights: Array, prior: GaussianPrior | None = None) -> None:
        """hmmlearn's GaussianHMM update (see :class:`GaussianPrior`), then the floor."""
        self.loc[...], self.cov_params[...] = _update(
            self.loc[...],
            self.cov_params[...],
            x,
            weights,
            prior,
            self.variance_floor,
            self.covariance,
        )

    def log_prior(self, prior: GaussianPrior | None = None) -> Array:
        """:func:`gaussian_log_prior` of the current parameters (0 without a prior)."""
        if prior is None:
            return jnp.zeros(())
        return gaussian_log_prior(self.loc[...], self.cov_params[...], self.covariance, prior)

    def n_parameters(self) -> int:
        units = (self.num_states,)
        return self.num_states * self.dim + n_covariance_parameters(
            self.covariance, units, self.dim
        )

    def check_data(self, x: np.ndarray, where: str) -> None:
        check_finite(check_matrix(x, where, self.dim, REAL_KINDS, "real values"), where)

    def sample(self, key: Array, states: Array) -> Array:
        return _sample(key, self.loc[...], self.cov_params[...], states, self.covariance)

    def initialize(self, x: np.ndarray, key: Array) -> None:
        """k-means means; every state gets the data's (co)variance (as hmmlearn)."""
        x = check_initialize_data(x, self.num_states, self.dim)
        means = kmeans_init(x, self.num_states, key)
        cov = global_covariance(x, self.covariance, self._cov_shape, self.variance_floor)
        self._set(means, cov)

    def summary(self) -> EmissionSummary:
        """The means ``mu[k, d]``."""
        return EmissionSummary(
            np.asarray(self.means()), "gaussian", "Emission means per state", "mean"
        )

    def network_head(self) -> NetworkHead | None:
        """Diagonal covariances only: means and log-variances."""
        return _network_head(self.dim) if self.covariance == "diag" else None
