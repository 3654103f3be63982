"""lsgm's emission families as hmmlearn's estimators update them.

Two differences from the families themselves, both for hmmlearn's numbers:

* EM monitors the log-likelihood alone, never the prior's density (hmmlearn's ``tol`` rule):
  :meth:`~lsgm.distributions.Emission.log_prior` is None under a prior, so
  :func:`lsgm.training.fit_em` compares log-likelihoods.
* ``updates`` (the family's ``params`` letters) says which parameters the M-step changes.
  :class:`HmmlearnGaussian` computes covariances about the *current* means when the means
  are kept (hmmlearn's formula), and :class:`HmmlearnGMM` is hmmlearn's GMMHMM update:
  scatter about the means of the E-step, and its own priors (:class:`GMMPrior`).
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from lsgm.distributions import (
    Bernoulli,
    Categorical,
    Emission,
    Gaussian,
    GaussianMixture,
    GaussianPrior,
    Poisson,
    gaussian_log_prob,
)

Array = jax.Array
E = TypeVar("E", bound=Emission)


class LikelihoodMonitored:
    """Mixin: no prior density (``log_prior`` None under a prior), so EM's ``tol`` rule
    reads the log-likelihood alone, as hmmlearn's does."""

    def log_prior(self, prior: object = None) -> Array | None:
        return jnp.zeros(()) if prior is None else None


class HmmlearnCategorical(LikelihoodMonitored, Categorical):
    """:class:`~lsgm.distributions.Categorical` with hmmlearn's ``tol`` rule."""


class HmmlearnPoisson(LikelihoodMonitored, Poisson):
    """:class:`~lsgm.distributions.Poisson` (already hmmlearn's update) with its ``tol`` rule."""


class HmmlearnBernoulli(LikelihoodMonitored, Bernoulli):
    """:class:`~lsgm.distributions.Bernoulli` with hmmlearn's ``tol`` rule."""


def _scatter_about(x: Array, weights: Array, means: Array, covariance: str) -> Array:
    """``sum_n w[n, k] (x_n - mu_k)^2`` (spherical/diag, ``[K, D]``) or ``sum_n w[n, k]
    (x_n - mu_k)(x_n - mu_k)^T`` (full/tied, ``[K, D, D]``)."""
    diff = x[:, None, :] - means  # [N, K, D]
    if covariance in ("spherical", "diag"):
        return jnp.einsum("nk,nkd->kd", weights, diff * diff)
    return jnp.einsum("nk,nki,nkj->kij", weights, diff, diff)


class HmmlearnGaussian(LikelihoodMonitored, Gaussian):
    """:class:`~lsgm.distributions.Gaussian` updating only the letters of ``updates``
    (``"m"`` means, ``"c"`` covariances), as hmmlearn's GaussianHMM. With the means kept,
    the covariances are (``lambda`` = means_weight, ``nu`` = covars_weight, ``w_k`` the
    state's posterior mass)

        diag:  (covars_prior + lambda (mu - mu0)^2 + sum_n w (x - mu)^2) / (max(nu - 1, 0) + w_k)
        full:  (covars_prior + lambda o o^T + sum_n w (x - mu)(x - mu)^T) / (max(nu - D, 0) + w_k)

    (spherical: the diagonal's mean; tied: numerators and masses summed over states)."""

    updates: str = "mc"

    def m_step(self, x: Array, weights: Array, prior: GaussianPrior | None = None) -> None:
        if "m" in self.updates:
            kept = self.cov_params[...]
            super().m_step(x, weights, prior)
            if "c" not in self.updates:
                self.cov_params[...] = kept
            return
        if "c" not in self.updates:
            return
        p = GaussianPrior(covars_prior=0.0) if prior is None else prior
        means = self.loc[...]
        x, weights = jnp.asarray(x, means.dtype), jnp.asarray(weights, means.dtype)
        lam = jnp.asarray(p.means_weight, means.dtype)[..., None]
        offset = means - jnp.asarray(p.means_prior, means.dtype)
        scatter = _scatter_about(x, weights, means, self.covariance)
        post = weights.sum(0)
        if self.covariance in ("spherical", "diag"):
            num = p.covars_prior + lam * offset**2 + scatter
            cov = num / jnp.maximum(jnp.maximum(p.covars_weight - 1, 0) + post, 1e-5)[:, None]
            cov = cov.mean(-1) if self.covariance == "spherical" else cov
        else:
            num = lam[..., None] * offset[:, :, None] * offset[:, None, :] + scatter
            den = jnp.maximum(p.covars_weight - self.dim, 0) + post
            if self.covariance == "tied":
                num, den = num.sum(0), den.sum()
            else:
                den = den[:, None, None]
            cov = (p.covars_prior + num) / den
        self._set(means, cov)


@dataclasses.dataclass(frozen=True)
class GMMPrior:
    """hmmlearn GMMHMM's priors, broadcast to their full shapes (``K`` states, ``C``
    components, ``D`` features), as nested tuples (hashable: one compiled EM step serves
    every fit with the same priors; :func:`nested_tuples`).

    Attributes:
        weights_prior: ``[K, C]`` Dirichlet concentrations of the mixture weights.
        means_prior, means_weight: ``[K, C, D]`` and ``[K, C]`` (normal prior of the means).
        covars_prior, covars_weight: by covariance type, full ``[K, C, D, D]`` and
            ``[K, C]``; tied ``[K, D, D]`` and ``[K]``; diag ``[K, C, D]`` twice; spherical
            ``[K, C]`` twice (inverse-Wishart / inverse-gamma parameters).
    """

    weights_prior: tuple
    means_prior: tuple
    means_weight: tuple
    covars_prior: tuple
    covars_weight: tuple

    def arrays(self, dtype: jnp.dtype) -> GMMPrior:
        """The same priors as arrays of ``dtype`` (inside the M-step)."""
        return GMMPrior(
            *(jnp.asarray(getattr(self, f.name), dtype) for f in dataclasses.fields(self))
        )


def nested_tuples(value: npt.ArrayLike, shape: tuple[int, ...]) -> tuple:
    """``value`` broadcast to ``shape`` as nested tuples of floats (hashable)."""
    full = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)

    def convert(a: np.ndarray) -> tuple:
        return tuple(convert(row) if row.ndim else float(row) for row in a)

    return convert(full) if full.ndim else (float(full),)


class HmmlearnGMM(LikelihoodMonitored, GaussianMixture):
    """hmmlearn's GMMHMM M-step on :class:`~lsgm.distributions.GaussianMixture`'s parameters.

    With ``g[n, k, c] = p(z_n = k | x) p(c | x_n, k)`` under the E-step's parameters, ``G =
    sum_n g``, ``W_k = sum_n w[n, k]``, ``S = sum_n g (x_n - m_old)(x_n - m_old)^T`` (the
    scatter about the E-step's means ``m_old``; diag: its diagonal, spherical: its trace):

        weights   (G + alpha - 1) / (W_k + sum_c (alpha - 1))                      (letter w)
        means     (lambda mu0 + sum_n g x_n) / (G + lambda)                          (letter m)
        full      (Psi^T + lambda o o^T + S) / (G + 1 + nu + D + 1)                  (letter c)
        diag      (lambda o^2 + 2 beta + S) / (G + 1 + 2 (alpha_c + 1))
        spherical (lambda |o|^2 + 2 beta + S) / (D (G + 1) + 2 (alpha_c + 1))
        tied      (Psi^T + sum_c lambda o o^T + sum_c S) / (W_k + C + nu + D + 1)

    with ``o = mu - mu0`` for the new means, and (``Psi``, ``nu``) or (``alpha_c``, ``beta``)
    the covariance prior and weight of :class:`GMMPrior`.
    """

    updates: str = "wmc"

    def m_step(self, x: Array, weights: Array, prior: GMMPrior | None = None) -> None:
        if prior is None:
            raise ValueError("HmmlearnGMM.m_step needs its GMMPrior (hmmlearn's defaults).")
        dtype = self.loc[...].dtype
        prior = prior.arrays(dtype)
        x, weights = jnp.asarray(x, dtype), jnp.asarray(weights, dtype)
        log_w = jax.nn.log_softmax(self.weight_logits[...], axis=-1)
        old_means, cov = self.loc[...], self.covariances()
        joint = log_w + self._component_log_prob(x)
        g = weights[:, :, None] * jax.nn.softmax(joint, axis=-1)
        mix_mass, state_mass = g.sum(0), weights.sum(0)
        new_w, means = jnp.exp(log_w), old_means
        if "w" in self.updates:
            alpha1 = prior.weights_prior - 1
            new_w = (mix_mass + alpha1) / (state_mass + alpha1.sum(1))[:, None]
        if "m" in self.updates:
            m_n = prior.means_weight[..., None] * prior.means_prior + jnp.einsum(
                "nkc,nd->kcd", g, x
            )
            m_d = mix_mass + prior.means_weight
            m_d = jnp.where((jnp.exp(log_w) == 0) & (m_n == 0).all(-1), 1.0, m_d)
            means = m_n / m_d[..., None]
        if "c" in self.updates:
            cov = self._hmmlearn_covariances(x, g, old_means, means, mix_mass, state_mass, prior)
        self._set(new_w, means, cov)

    def _component_log_prob(self, x: Array) -> Array:
        """``[N, K, C]`` ``log N(x_n; mu[k, c], Sigma[k, c])`` (tied: ``Sigma[k]``)."""
        K, C, D = self.num_states, self.num_components, self.dim
        raw = self.cov_params[...]
        raw = jnp.repeat(raw, C, axis=0) if self.covariance == "tied" else raw
        flat = raw.reshape((K * C,) + raw.shape[1 if self.covariance == "tied" else 2 :])
        means = self.loc[...].reshape(K * C, D)
        return gaussian_log_prob(means, flat, x, self.covariance).reshape(-1, K, C)

    def _hmmlearn_covariances(self, x, g, old_means, means, mix_mass, state_mass, prior):
        """The covariance update of the class docstring."""
        D, C = self.dim, self.num_components
        diff = x[:, None, None, :] - old_means  # [N, K, C, D]
        offset = means - prior.means_prior
        lam = prior.means_weight
        if self.covariance == "full":
            scatter = jnp.einsum("nkc,nkci,nkcj->kcij", g, diff, diff)
            num = jnp.swapaxes(prior.covars_prior, -1, -2) + scatter
            num = num + lam[..., None, None] * offset[..., :, None] * offset[..., None, :]
            return num / (mix_mass + 1 + prior.covars_weight + D + 1)[..., None, None]
        if self.covariance == "tied":
            scatter = jnp.einsum("nkc,nkci,nkcj->kij", g, diff, diff)
            outer = jnp.einsum("kc,kci,kcj->kij", lam, offset, offset)
            num = outer + jnp.swapaxes(prior.covars_prior, -1, -2) + scatter
            return num / (state_mass + C + prior.covars_weight + D + 1)[:, None, None]
        alphas, betas = prior.covars_prior, prior.covars_weight
        if self.covariance == "diag":
            scatter = jnp.einsum("nkc,nkcd->kcd", g, diff * diff)
            num = lam[..., None] * offset**2 + 2 * betas + scatter
            return num / (mix_mass[..., None] + 1 + 2 * (alphas + 1))
        scatter = jnp.einsum("nkc,nkc->kc", g, (diff * diff).sum(-1))
        num = lam * (offset * offset).sum(-1) + 2 * betas + scatter
        return num / (D * (mix_mass + 1) + 2 * (alphas + 1))


def with_updates(emission: E, updates: str) -> E:
    """``emission`` (an :class:`HmmlearnGaussian` or :class:`HmmlearnGMM`) with its
    ``updates`` letters set (a static attribute: part of the compiled EM step's cache key)."""
    setattr(emission, "updates", updates)  # noqa: B010 - not every Emission declares it
    return emission
