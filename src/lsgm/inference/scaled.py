"""Scaled probability-space forward and backward recursions (the fast implementation).

Each step works with shifted, exponentiated tables: ``e_t = exp(log_emit_t - m_t)`` with
``m_t = max_k log_emit_t(k)``, and ``A_t = exp(log_trans_t - a_t)`` with ``a_t = max log_trans_t``.
The normalised forward variable ``alpha_hat_t = p(z_t | x_{1:t})`` obeys

    alpha_hat_1 ∝ pi * e_1,           s_1 = sum(pi * e_1)
    alpha_hat_t ∝ (alpha_hat_{t-1} A_{t-1}) * e_t,   s_t = sum of the unnormalised vector

and ``log p(x_{1:T}) = sum_t c_t`` with ``c_t = log s_t + m_t + a_{t-1}`` (and the shift of
``pi`` at ``t = 1``). The backward pass is normalised on its own (see :func:`backward`), and
``p(z_t | x) ∝ alpha_hat_t * beta_hat_t``. A step whose unnormalised vector is all zero (no
allowed path) gets ``c_t = LOG_FLOOR`` and a zero ``alpha_hat``; a NaN one gets ``c_t = NaN``
(never the "no path" branch: invalid input stays visible).

Limitation (shared by every scaled HMM code, e.g. hmmlearn's ``"scaling"``): when every state
with predicted mass has an emission more than ~87 (float32) / ~700 (float64) nats below the
best state's, ``e_t`` underflows; use ``method="log"`` for such potentials.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lsgm.inference.potentials import Prepared, floor_or_nan

Array = jax.Array


class ScaledForward(NamedTuple):
    """Result of the scaled forward pass."""

    alpha_hat: Array  # [T, K]  p(z_t | x_{1:t}); padded rows repeat the last valid one
    scale: Array  # [T]     s_t (1 where padded or where s_t == 0)
    log_c: Array  # [T]     per-step log normaliser c_t (0 where padded)
    emit_scaled: Array  # [T, K] e_t
    trans_scaled: Array  # [K, K] or [T-1, K, K]  A_t


def _shifted_exp(x: Array, axes) -> tuple[Array, Array]:
    shift = jax.lax.stop_gradient(jnp.max(x, axis=axes, keepdims=True))
    return jnp.exp(x - shift), jnp.squeeze(shift, axis=axes)


def _safe_divide(x: Array, total: Array) -> Array:
    """``x / total`` where ``total > 0``, else ``x`` (then all zero)."""
    return x / jnp.where(total > 0, total, 1.0)


def _log_normalisers(prep: Prepared, total: Array, shift: Array, valid: Array) -> Array:
    """``log total + shift`` (``LOG_FLOOR`` where ``total == 0``, NaN where it is NaN, 0 where
    not ``valid``)."""
    ok = total > 0
    log = jnp.where(ok, jnp.log(jnp.where(ok, total, 1.0)) + shift, floor_or_nan(total))
    return prep.select(valid, log, 0.0)


def forward(prep: Prepared, unroll: int = 1) -> ScaledForward:
    """Scaled forward pass; ``log p(x_{1:length}) = log_c.sum()``.

    One step is ``u = pred_t * e_t``, ``s_t = sum(u)``, ``alpha_hat_t = u / s_t`` with the
    prediction ``pred_1 = pi``, ``pred_{t+1} = alpha_hat_t A_t``: a ``[K] @ [K, K]`` product,
    one sum and one division (under ``jax.vmap`` one ``[N, K] @ [K, K]`` product per step).
    For a stationary table the scan carries the prediction and runs over all ``T`` steps, so
    no ``[T, K]`` array is sliced or concatenated; the logarithms of the normalisers are taken
    after the scan, vectorised over time.
    """
    T = prep.num_steps
    emit, emit_shift = _shifted_exp(prep.log_emit, 1)
    init, init_shift = _shifted_exp(prep.log_init, 0)
    trans_axes = (0, 1) if prep.is_stationary else (1, 2)
    trans, trans_shift = _shifted_exp(prep.log_trans, trans_axes)
    steps = jnp.arange(T)
    # step 0 is always computed and counted (also for a length-0 filler row, see
    # lsgm.distributed.pad_rows, whose E-step weight is 0)
    length = jnp.maximum(prep.length, 1)
    valid = steps < length

    def normalise(pred, emit_t, t, alpha_prev):
        u = pred * emit_t
        total = u.sum()
        alpha = _safe_divide(u, total)
        if prep.padded:  # padding keeps the last valid alpha_hat, with s_t = 1
            ok = t < length
            alpha = jnp.where(ok, alpha, alpha_prev)
            total = jnp.where(ok, total, 1.0)
        return alpha, total

    if prep.is_stationary:

        def step(carry, inputs):
            pred, alpha_prev = carry
            t, emit_t = inputs
            alpha, total = normalise(pred, emit_t, t, alpha_prev)
            return (alpha @ trans, alpha if prep.padded else None), (alpha, total)

        carry = (init, jnp.zeros_like(init) if prep.padded else None)
        xs = (steps if prep.padded else None, emit)
        _, (alphas, totals) = jax.lax.scan(step, carry, xs, unroll=unroll)
        shift = emit_shift + jnp.where(steps == 0, init_shift, trans_shift)
    else:
        alpha_0, total_0 = normalise(init, emit[0], 0, init)

        def step(alpha_prev, inputs):
            t, emit_t, trans_t = inputs
            alpha, total = normalise(alpha_prev @ trans_t, emit_t, t, alpha_prev)
            return alpha, (alpha, total)

        xs_t = (steps[1:], emit[1:], trans)
        _, (alphas, totals) = jax.lax.scan(step, alpha_0, xs_t, unroll=unroll)
        alphas = jnp.concatenate([alpha_0[None], alphas])
        totals = jnp.concatenate([total_0[None], totals])
        shift = emit_shift + jnp.concatenate([init_shift[None], trans_shift])
    return ScaledForward(
        alpha_hat=alphas,
        scale=jnp.where(totals > 0, totals, 1.0),
        log_c=_log_normalisers(prep, totals, shift, valid),
        emit_scaled=emit,
        trans_scaled=trans,
    )


class ScaledBackward(NamedTuple):
    """Result of the scaled backward pass."""

    beta_hat: Array  # [T, K]  beta_t / exp(sum_{u >= t} log_d_u); 1 at t >= length - 1
    log_d: Array  # [T]  per-step log normaliser (0 at t >= length - 1)


def backward(prep: Prepared, fwd: ScaledForward, unroll: int = 1) -> ScaledBackward:
    """Scaled backward pass with its own per-step normalisers.

    ``beta_hat_t ∝ A_t (e_{t+1} * beta_hat_{t+1})`` normalised to sum ``K`` (so that the
    last step's ``beta_hat = 1`` needs no special case), ``beta_hat_t = 1`` at
    ``t >= length - 1``, and ``log beta_t = log beta_hat_t + sum_{u >= t} log_d_u``.
    Normalising independently of the forward pass keeps ``beta`` exact even where the forward
    mass is zero or tiny (dividing by the forward scales instead, as hmmlearn does, can
    overflow there). For a stationary table the scan carries ``v_t = A (e_{t+1} beta_hat_{t+1})``
    and runs over all ``T`` steps; ``log_d`` is computed after the scan (and costs nothing when
    unused, e.g. by :func:`smooth`).
    """
    T, K = prep.num_steps, prep.num_states
    ones = jnp.ones((K,), fwd.alpha_hat.dtype)
    emit_shift = jnp.max(prep.log_emit, axis=1)
    trans_shift = jnp.max(prep.log_trans, axis=(-2, -1))
    steps = jnp.arange(T)

    def normalise(v, t):
        total = v.sum() / K
        beta = _safe_divide(v, total)
        if prep.padded:
            ok = t + 1 < prep.length
            beta = jnp.where(ok, beta, ones)
            total = jnp.where(ok, total, 1.0)
        return beta, total

    if prep.is_stationary:

        def step(v, inputs):
            t, emit_t = inputs
            beta, total = normalise(v, t)
            return fwd.trans_scaled @ (emit_t * beta), (beta, total)

        xs = (steps if prep.padded else None, fwd.emit_scaled)
        _, (betas, totals) = jax.lax.scan(step, ones, xs, reverse=True, unroll=unroll)
        # v_{T-1} = 1 gives beta_hat = 1, total = 1 at the last step: log_d_{T-1} = 0
        next_shift = jnp.roll(emit_shift, -1) + trans_shift
        shift = jnp.where(steps < T - 1, next_shift, 0.0)
        log_d = _log_normalisers(prep, totals, shift, steps + 1 < prep.length)
        return ScaledBackward(betas, jnp.where(steps < T - 1, log_d, 0.0))

    def step_t(beta_next, inputs):
        t, emit_next, trans_t = inputs
        beta, total = normalise(trans_t @ (emit_next * beta_next), t)
        return beta, (beta, total)

    xs_t = (steps[:-1], fwd.emit_scaled[1:], fwd.trans_scaled)
    _, (betas, totals) = jax.lax.scan(step_t, ones, xs_t, reverse=True, unroll=unroll)
    log_d = _log_normalisers(
        prep, totals, emit_shift[1:] + trans_shift, steps[:-1] + 1 < prep.length
    )
    zero = jnp.zeros((1,), log_d.dtype)
    return ScaledBackward(jnp.concatenate([betas, ones[None]]), jnp.concatenate([log_d, zero]))


class Smoothed(NamedTuple):
    """State marginals and what the pairwise marginals need (:func:`smooth`)."""

    states: Array  # [T, K] p(z_t | x) (rows of padded steps not masked)
    right: Array  # [T-1, K] e_{t+1} * beta_hat_{t+1} / n_t (0 where invalid)


def smooth(prep: Prepared, fwd: ScaledForward, bwd: ScaledBackward) -> Smoothed:
    """State marginals and the per-step right factors of the pairwise marginals.

    With ``g_t = sum_k alpha_hat_t(k) beta_hat_t(k)``: ``p(z_t | x) = alpha_hat_t beta_hat_t / g_t``
    and ``p(z_t=i, z_{t+1}=j | x) = alpha_hat_t(i) A_t(i, j) e_{t+1}(j) beta_hat_{t+1}(j) / n_t``
    with ``n_t = (alpha_hat_t A_t) · (e_{t+1} beta_hat_{t+1}) = s_{t+1} g_{t+1}`` (the forward
    step made ``(alpha_hat_t A_t) * e_{t+1} = s_{t+1} alpha_hat_{t+1}``), so no ``[T, K, K]``
    product nor extra matrix product is needed. Steps with ``n_t = 0`` (no path) or
    ``t + 1 >= length`` get a zero right factor.
    """
    joint = fwd.alpha_hat * bwd.beta_hat  # [T, K]
    g = joint.sum(1)  # [T]
    states = joint / jnp.where(g > 0, g, 1.0)[:, None]
    norm = fwd.scale[1:] * g[1:]
    valid = (norm > 0) & (jnp.arange(1, prep.num_steps) < prep.length)
    inv = jnp.where(valid, 1.0 / jnp.where(valid, norm, 1.0), 0.0)
    return Smoothed(states, fwd.emit_scaled[1:] * bwd.beta_hat[1:] * inv[:, None])


def backward_counts(prep: Prepared, fwd: ScaledForward, unroll: int = 1) -> tuple[Array, Array]:
    """Stationary table: the backward pass fused with the expected counts.

    Returns ``(states [T, K], transitions [K, K])``: ``p(z_t | x)`` (0 at ``t >= length``)
    and ``sum_t p(z_t = i, z_{t+1} = j | x)``. The reverse scan computes ``beta_hat_t`` as in
    :func:`backward` and, in the same step, ``p(z_t | x) = alpha_hat_t beta_hat_t / g_t`` and
    ``w_t = e_t beta_hat_t / (s_t g_t)`` (see :func:`smooth`), and accumulates
    ``sum_t alpha_hat_t w_{t+1}^T`` in its carry; ``transitions = A ⊙`` that sum. No
    ``[T, K]`` array besides the marginals is written, nor sliced, nor re-read.
    """
    if not prep.is_stationary:
        raise ValueError("backward_counts needs a stationary [K, K] transition table.")
    T, K = prep.num_steps, prep.num_states
    dtype = fwd.alpha_hat.dtype
    ones = jnp.ones((K,), dtype)

    def step(carry, inputs):
        v, w_next, acc, comp = carry  # v = A (e_{t+1} beta_hat_{t+1}); w_next = w_{t+1}
        t, emit_t, alpha_t, scale_t = inputs
        beta = _safe_divide(v, v.sum() / K)
        joint = alpha_t * beta
        g = joint.sum()
        gamma = _safe_divide(joint, g)
        norm = scale_t * g
        ok = norm > 0
        if prep.padded:
            beta = jnp.where(t + 1 < prep.length, beta, ones)
            joint = alpha_t * beta
            g = joint.sum()
            gamma = jnp.where(t < prep.length, _safe_divide(joint, g), 0.0)
            norm = scale_t * g
            ok = (norm > 0) & (t < prep.length)
        right = emit_t * beta
        w = jnp.where(ok, right / jnp.where(ok, norm, 1.0), 0.0)
        # compensated (Kahan) sum: float32 keeps ~1 ulp over millions of steps
        term = alpha_t[:, None] * w_next[None, :] - comp
        total = acc + term
        comp = (total - acc) - term
        return (fwd.trans_scaled @ right, w, total, comp), gamma

    steps = jnp.arange(T) if prep.padded else None
    carry = (ones, jnp.zeros((K,), dtype), jnp.zeros((K, K), dtype), jnp.zeros((K, K), dtype))
    xs = (steps, fwd.emit_scaled, fwd.alpha_hat, fwd.scale)
    (_, _, acc, _), gammas = jax.lax.scan(step, carry, xs, reverse=True, unroll=unroll)
    return gammas, fwd.trans_scaled * acc


def states(fwd: ScaledForward, bwd: ScaledBackward) -> Array:
    """``[T, K]`` ``p(z_t | x)`` (padded rows are not masked here)."""
    joint = fwd.alpha_hat * bwd.beta_hat
    return _safe_divide(joint, joint.sum(1, keepdims=True))


def pairwise(
    prep: Prepared, fwd: ScaledForward, bwd: ScaledBackward, smoothed: Smoothed | None = None
) -> Array:
    """``[T-1, K, K]`` ``p(z_t=i, z_{t+1}=j | x)`` (zero where ``t + 1 >= length``);
    ``smoothed``: :func:`smooth`'s result when already computed."""
    right = (smooth(prep, fwd, bwd) if smoothed is None else smoothed).right  # [T-1, K]
    return fwd.alpha_hat[:-1, :, None] * fwd.trans_scaled * right[:, None, :]


def pairwise_sum(
    prep: Prepared, fwd: ScaledForward, bwd: ScaledBackward, smoothed: Smoothed | None = None
) -> Array:
    """``[K, K]`` ``sum_t p(z_t=i, z_{t+1}=j | x)`` for a stationary table, without
    materialising ``[T-1, K, K]``: ``A ⊙ (alpha_hat[:-1]^T right)`` (see :func:`smooth`)."""
    right = (smooth(prep, fwd, bwd) if smoothed is None else smoothed).right
    return fwd.trans_scaled * (fwd.alpha_hat[:-1].T @ right)
