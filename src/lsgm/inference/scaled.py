"""Scaled probability-space forward and backward recursions (the fast implementation).

Each step works with shifted, exponentiated tables: ``e_t = exp(log_emit_t - m_t)`` with
``m_t = max_k log_emit_t(k)``, and ``A_t = exp(log_trans_t - a_t)`` with ``a_t = max log_trans_t``.
The normalised forward variable ``alpha_hat_t = p(z_t | x_{1:t})`` obeys

    alpha_hat_1 ∝ pi * e_1,           s_1 = sum(pi * e_1)
    alpha_hat_t ∝ (alpha_hat_{t-1} A_{t-1}) * e_t,   s_t = sum of the unnormalised vector

and ``log p(x_{1:T}) = sum_t c_t`` with ``c_t = log s_t + m_t + a_{t-1}`` (and the shift of
``pi`` at ``t = 1``). The backward pass is normalised on its own (see :func:`backward`), and
``p(z_t | x) ∝ alpha_hat_t * beta_hat_t``. A step whose unnormalised vector is all zero (no
allowed path) gets ``c_t = LOG_FLOOR`` and a zero ``alpha_hat``.

Limitation (shared by every scaled HMM code, e.g. hmmlearn's ``"scaling"``): when every state
with predicted mass has an emission more than ~87 (float32) / ~700 (float64) nats below the
best state's, ``e_t`` underflows; use ``method="log"`` for such potentials.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lsgm.inference.potentials import LOG_FLOOR, Prepared

Array = jax.Array


class ScaledForward(NamedTuple):
    """Result of the scaled forward pass."""

    alpha_hat: Array  # [T, K]  p(z_t | x_{1:t}); padded rows repeat the last valid one
    scale: Array  # [T]     s_t (1 where padded or where s_t == 0)
    log_c: Array  # [T]     per-step log normaliser c_t (0 where padded)
    emit_scaled: Array  # [T, K] e_t
    trans_scaled: Array  # [K, K] or [T-1, K, K]  A_t


def _normalise(unnormalised: Array, shift: Array) -> tuple[Array, Array, Array]:
    total = unnormalised.sum()
    ok = total > 0
    safe = jnp.where(ok, total, 1.0)
    log_c = jnp.where(ok, jnp.log(safe) + shift, LOG_FLOOR)
    return unnormalised / safe, safe, log_c


def _shifted_exp(x: Array, axes) -> tuple[Array, Array]:
    shift = jax.lax.stop_gradient(jnp.max(x, axis=axes, keepdims=True))
    return jnp.exp(x - shift), jnp.squeeze(shift, axis=axes)


def forward(prep: Prepared, unroll: int = 1) -> ScaledForward:
    """Scaled forward pass; ``log p(x_{1:length}) = log_c.sum()``."""
    T = prep.num_steps
    emit, emit_shift = _shifted_exp(prep.log_emit, 1)
    init, init_shift = _shifted_exp(prep.log_init, 0)
    trans_axes = (0, 1) if prep.is_stationary else (1, 2)
    trans, trans_shift = _shifted_exp(prep.log_trans, trans_axes)
    alpha_0, scale_0, log_c_0 = _normalise(init * emit[0], init_shift + emit_shift[0])

    def step(alpha, inputs):
        t, emit_t, emit_shift_t, scanned = inputs
        trans_t, trans_shift_t = (trans, trans_shift) if scanned is None else scanned
        new, scale, log_c = _normalise((alpha @ trans_t) * emit_t, emit_shift_t + trans_shift_t)
        valid = t < prep.length
        new = prep.select(valid, new, alpha)
        return new, (new, prep.select(valid, scale, 1.0), prep.select(valid, log_c, 0.0))

    scanned = None if prep.is_stationary else (trans, trans_shift)
    xs = (jnp.arange(1, T), emit[1:], emit_shift[1:], scanned)
    _, (alphas, scales, log_cs) = jax.lax.scan(step, alpha_0, xs, unroll=unroll)
    return ScaledForward(
        alpha_hat=jnp.concatenate([alpha_0[None], alphas]),
        scale=jnp.concatenate([scale_0[None], scales]),
        log_c=jnp.concatenate([log_c_0[None], log_cs]),
        emit_scaled=emit,
        trans_scaled=trans,
    )


class ScaledBackward(NamedTuple):
    """Result of the scaled backward pass."""

    beta_hat: Array  # [T, K]  beta_t / exp(sum_{u >= t} log_d_u); 1 at t >= length - 1
    log_d: Array  # [T]  per-step log normaliser (0 at t >= length - 1)


def backward(prep: Prepared, fwd: ScaledForward, unroll: int = 1) -> ScaledBackward:
    """Scaled backward pass with its own per-step normalisers.

    ``beta_hat_t ∝ A_t (e_{t+1} * beta_hat_{t+1})`` normalised to sum 1, and
    ``log beta_t = log beta_hat_t + sum_{u >= t} log_d_u``. Normalising independently of the
    forward pass keeps ``beta`` exact even where the forward mass is zero.
    """
    T, K = prep.num_steps, prep.num_states
    ones = jnp.ones((K,), fwd.alpha_hat.dtype)
    emit_shift = jnp.max(prep.log_emit, axis=1)
    trans_shift = jnp.max(prep.log_trans, axis=(-2, -1))

    def step(beta_next, inputs):
        t, emit_next, emit_shift_next, scanned = inputs
        trans_t, trans_shift_t = (fwd.trans_scaled, trans_shift) if scanned is None else scanned
        new, _, log_d = _normalise(
            trans_t @ (emit_next * beta_next), emit_shift_next + trans_shift_t
        )
        valid = t + 1 < prep.length
        new = prep.select(valid, new, ones)
        return new, (new, prep.select(valid, log_d, 0.0))

    scanned = None if prep.is_stationary else (fwd.trans_scaled, trans_shift)
    xs = (jnp.arange(T - 1), fwd.emit_scaled[1:], emit_shift[1:], scanned)
    _, (betas, log_ds) = jax.lax.scan(step, ones, xs, reverse=True, unroll=unroll)
    zero = jnp.zeros((1,), log_ds.dtype)
    return ScaledBackward(jnp.concatenate([betas, ones[None]]), jnp.concatenate([log_ds, zero]))


def _normalise_rows(x: Array, axes) -> Array:
    total = x.sum(axis=axes, keepdims=True)
    return x / jnp.where(total > 0, total, 1.0)


def states(fwd: ScaledForward, bwd: ScaledBackward) -> Array:
    """``[T, K]`` ``p(z_t | x)`` (padded rows are not masked here)."""
    return _normalise_rows(fwd.alpha_hat * bwd.beta_hat, 1)


def pairwise(prep: Prepared, fwd: ScaledForward, bwd: ScaledBackward) -> Array:
    """``[T-1, K, K]`` ``p(z_t=i, z_{t+1}=j | x)`` (zero where ``t + 1 >= length``)."""
    right = fwd.emit_scaled[1:] * bwd.beta_hat[1:]  # [T-1, K]
    xi = _normalise_rows(fwd.alpha_hat[:-1, :, None] * fwd.trans_scaled * right[:, None, :], (1, 2))
    valid = jnp.arange(1, prep.num_steps) < prep.length
    return prep.select(valid[:, None, None], xi, 0.0)


def pairwise_sum(prep: Prepared, fwd: ScaledForward, bwd: ScaledBackward) -> Array:
    """``[K, K]`` ``sum_t p(z_t=i, z_{t+1}=j | x)`` for a stationary table, without
    materialising ``[T-1, K, K]``: ``A ⊙ (alpha_hat[:-1]^T (r[1:] / n))`` with
    ``r_t = e_t * beta_hat_t`` and ``n_t = (alpha_hat_t A) · r_{t+1}``."""
    right = fwd.emit_scaled[1:] * bwd.beta_hat[1:]  # [T-1, K]
    norm = ((fwd.alpha_hat[:-1] @ fwd.trans_scaled) * right).sum(1)  # [T-1]
    valid = (norm > 0) & (jnp.arange(1, prep.num_steps) < prep.length)
    inv = jnp.where(valid, 1.0 / jnp.where(valid, norm, 1.0), 0.0)
    return fwd.trans_scaled * (fwd.alpha_hat[:-1].T @ (right * inv[:, None]))
