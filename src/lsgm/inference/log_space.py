"""Log-space forward and backward recursions (the robust reference implementation).

With ``log_alpha_t(j) = log p(x_{1:t}, z_t = j)`` and ``log_beta_t(i) = log p(x_{t+1:T} | z_t = i)``:

    log_alpha_1(j) = log_init(j) + log_emit_1(j)
    log_alpha_t(j) = logsumexp_i(log_alpha_{t-1}(i) + log_trans_{t-1}(i, j)) + log_emit_t(j)
    log_beta_T(i)  = 0
    log_beta_t(i)  = logsumexp_j(log_trans_t(i, j) + log_emit_{t+1}(j) + log_beta_{t+1}(j))

Both are kept normalised per step (``logsumexp = 0``) with the normalisers stored apart:
``log_alpha_t = log_alpha_hat_t + sum_{u <= t} log_c_u`` and
``log_beta_t = log_beta_hat_t + sum_{u >= t} log_d_u``. Without this, ``log_alpha`` grows like
``-T`` and float32 loses the differences between states after ~10^5 steps.

Padding (``t >= length``) repeats the last valid ``log_alpha_hat`` with ``log_c = 0`` and
leaves ``log_beta_hat = 0``, ``log_d = 0`` at ``t >= length - 1``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from lsgm.inference.potentials import Prepared

Array = jax.Array


class LogForward(NamedTuple):
    log_alpha_hat: Array  # [T, K]  log p(z_t | x_{1:t})
    log_c: Array  # [T]  log p(x_t | x_{1:t-1}) (0 where padded)


class LogBackward(NamedTuple):
    log_beta_hat: Array  # [T, K]  normalised log beta
    log_d: Array  # [T]  per-step normalisers (0 at t >= length - 1)


def _normalise(x: Array) -> tuple[Array, Array]:
    total = logsumexp(x)
    return x - total, total


def forward(prep: Prepared, unroll: int = 1) -> LogForward:
    """Normalised log-space forward pass; ``log p(x_{1:length}) = log_c.sum()``."""
    T = prep.num_steps
    alpha_0, c_0 = _normalise(prep.log_init + prep.log_emit[0])

    def step(log_alpha, inputs):
        t, log_emit_t, scanned_trans = inputs
        log_trans = prep.trans(scanned_trans)
        new, c = _normalise(logsumexp(log_alpha[:, None] + log_trans, axis=0) + log_emit_t)
        valid = t < prep.length
        new = prep.select(valid, new, log_alpha)
        return new, (new, prep.select(valid, c, 0.0))

    xs = (jnp.arange(1, T), prep.log_emit[1:], prep.trans_at_steps())
    _, (rest, cs) = jax.lax.scan(step, alpha_0, xs, unroll=unroll)
    return LogForward(jnp.concatenate([alpha_0[None], rest]), jnp.concatenate([c_0[None], cs]))


def backward(prep: Prepared, unroll: int = 1) -> LogBackward:
    """Normalised log-space backward pass."""
    T, K = prep.num_steps, prep.num_states
    zeros = jnp.zeros((K,), prep.log_emit.dtype)

    def step(log_beta_next, inputs):
        t, log_emit_next, scanned_trans = inputs
        log_trans = prep.trans(scanned_trans)
        new, d = _normalise(logsumexp(log_trans + (log_emit_next + log_beta_next)[None], axis=1))
        valid = t + 1 < prep.length
        new = prep.select(valid, new, zeros)
        return new, (new, prep.select(valid, d, 0.0))

    xs = (jnp.arange(T - 1), prep.log_emit[1:], prep.trans_at_steps())
    _, (rest, ds) = jax.lax.scan(step, zeros, xs, reverse=True, unroll=unroll)
    zero = jnp.zeros((1,), ds.dtype)
    return LogBackward(jnp.concatenate([rest, zeros[None]]), jnp.concatenate([ds, zero]))


def states(fwd: LogForward, bwd: LogBackward) -> Array:
    """``[T, K]`` ``p(z_t | x)`` (padded rows are not masked here)."""
    return jax.nn.softmax(fwd.log_alpha_hat + bwd.log_beta_hat, axis=1)


def pairwise(prep: Prepared, fwd: LogForward, bwd: LogBackward) -> Array:
    """``[T-1, K, K]`` ``p(z_t=i, z_{t+1}=j | x)`` (zero where ``t + 1 >= length``)."""
    right = prep.log_emit[1:] + bwd.log_beta_hat[1:]  # [T-1, K]
    log_xi = fwd.log_alpha_hat[:-1, :, None] + prep.log_trans + right[:, None, :]
    T, K = prep.num_steps, prep.num_states
    xi = jax.nn.softmax(log_xi.reshape(T - 1, K * K), axis=1).reshape(T - 1, K, K)
    valid = jnp.arange(1, T) < prep.length
    return prep.select(valid[:, None, None], xi, 0.0)
