"""Exact blocked (chunked) kernels for very long sequences with stationary potentials.

A plain ``lax.scan`` over ``T`` steps pays a fixed per-iteration cost (about 1 µs on CPU), so a
whole bacterial genome (``T ≈ 5·10^6``) takes seconds per pass. These kernels cut the sequence
into ``C`` chunks of ``L`` steps (``L ≈ sqrt(T)`` by default, the tail padded) and run three
short scans instead of one long one; every result is exact (no approximation), only the order
of the floating-point operations differs from :mod:`lsgm.inference.kernels`.

Notation (one sequence, ``K`` states, stationary potentials ``log_init [K]``,
``log_trans [K, K]``, ``log_emit [T, K]``). With ``A = exp(log_trans)``, ``e_t = exp(log_emit_t)``
and the transfer matrices ``M_0 = diag(e_0)``, ``M_t = A diag(e_t)`` (``t >= 1``),

    alpha_t = pi^T M_0 M_1 ... M_t,     beta_t = M_{t+1} ... M_{T-1} 1,     Z = alpha_{T-1} 1.

A padded step (``t >= T``) has ``M_t = I``, so it changes nothing. Let ``P_c`` be the product of
the ``L`` transfer matrices of chunk ``c``. Then

1. **chunk products** (scan over ``L``, vectorised over the ``C`` chunks): ``P_c`` for every
   chunk, renormalised after each step (``P <- P / sum(P)``, the log of the divisor
   accumulated), cost ``O(T K^3)``;
2. **boundary messages** (sequential scan over ``C``): ``a_c = a_{c-1} P_c`` (the normalised
   ``alpha`` at the end of chunk ``c``, ``a_{-1} = pi``) and ``b_{c-1} = P_c b_c``
   (``b_{C-1} = 1``), plus ``log Z = sum_c log(a_{c-1} P_c 1) + log-scales``;
3. **inside the chunks** (scan over ``L``, vectorised over ``C``): ``alpha`` forward from
   ``a_{c-1}`` and ``beta`` backward from ``b_c``, each normalised per step, and
   ``p(z_t | x) ∝ alpha_t * beta_t``.

Viterbi is the same in the max-plus semiring: ``Q_c[i, j]`` = best log-score of the steps of
chunk ``c`` that enter in state ``i`` (the state at the end of chunk ``c-1``; for chunk 0 the
state at ``t = 0``) and end in ``j``; a sequential pass over the chunk boundaries with
argmax back-pointers gives the state at the end of every chunk; a vectorised Viterbi inside
every chunk, started from its entering state, and a vectorised backtrack from its end state
give the path. Max-plus quantities are shifted by their maximum after every step (the shifts
summed apart), so float32 keeps full relative precision inside a chunk.

**Ties.** ``jnp.argmax`` returns the lowest state index at every comparison, as in
:func:`lsgm.inference.viterbi`; but the comparisons are grouped differently, so when two paths
have *exactly* equal scores the two kernels may return different (equally optimal) paths.
Without exact ties the paths are identical. On long float32 sequences both kernels also round
differently, so near-ties (score gaps below float32 resolution of the total score, e.g. 0.5 for
a score of ``-6·10^6``) can be resolved differently; the chunked kernel is the more precise
(it never adds a large running total to a per-step score).

**Memory.** Besides the ``[T, K]`` inputs, the posteriors hold a few ``[T, K]`` arrays
(``alpha``, ``beta``, the result); for the E. coli genome (``T = 4.64·10^6``, ``K = 2``,
float32) each is 37 MB. The chunk products take ``[C, K, K]`` and the Viterbi back-pointers
``[T, K]`` int32 (the same 37 MB). ``log Z`` alone needs no ``[T, K]`` intermediate.

Scope: one sequence, stationary ``log_trans [K, K]``, no ``length``/``allowed`` (pad or slice
the sequence yourself); meant for small ``K`` (the chunk products cost ``K`` times a plain
pass). Not differentiated specially (use :func:`lsgm.inference.log_partition` for gradients).
``-inf`` entries are structural zeros, as in the other kernels.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lsgm.inference.potentials import (
    LOG_FLOOR,
    Potentials,
    check_potentials,
    floor_or_nan,
    nan_if,
    to_public_log,
)

Array = jax.Array


def default_chunk(num_steps: int) -> int:
    """The default chunk length ``ceil(sqrt(T))``."""
    return max(1, math.isqrt(max(num_steps - 1, 0)) + 1)


def _check(p: Potentials, chunk: int | None) -> int:
    """Validate stationary potentials and the chunk length; return the chunk length."""
    T, K = check_potentials(p)
    if jnp.ndim(p.log_trans) != 2:
        raise ValueError(
            f"chunked kernels need stationary potentials (log_trans [K, K]=[{K}, {K}]); got "
            f"log_trans {tuple(jnp.shape(p.log_trans))}. Use lsgm.inference.posteriors / "
            "viterbi / log_partition for time-varying transitions."
        )
    if chunk is None:
        return default_chunk(T)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int (steps per chunk) or None; got {chunk!r}.")
    return chunk


class _Blocked(NamedTuple):
    """Floored, padded inputs laid out ``[L, K, C]``: step inside the chunk first, the chunk
    index last (the minor axis, so every per-step operation is vectorised over chunks)."""

    log_init: Array  # [K]
    log_trans: Array  # [K, K]
    log_emit: Array  # [L, K, C]  0 on padded steps
    stay: Array  # [L, C] bool: no transition into this step (global step 0, or padding)
    valid: Array  # [L, C] bool: t < T


def _block(p: Potentials, L: int, length=None) -> _Blocked:
    """``length``: valid steps (None: all ``T``); later steps become padding."""
    T, K = p.log_emit.shape
    dtype = jnp.result_type(p.log_init, p.log_trans, p.log_emit, jnp.float32)
    floor = jnp.asarray(LOG_FLOOR, dtype)
    log_init = jnp.maximum(jnp.asarray(p.log_init, dtype), floor)
    log_trans = jnp.maximum(jnp.asarray(p.log_trans, dtype), floor)
    log_emit = jnp.maximum(jnp.asarray(p.log_emit, dtype), floor)
    C = -(-T // L)
    log_emit = jnp.pad(log_emit, ((0, C * L - T), (0, 0)))  # padded steps emit log 1 = 0
    t = jnp.arange(C * L).reshape(C, L).T  # [L, C] global step index
    log_emit = log_emit.reshape(C, L, K).transpose(1, 2, 0)
    valid = t < (T if length is None else jnp.clip(length, 1, T))
    log_emit = jnp.where(valid[:, None, :], log_emit, 0.0)
    return _Blocked(log_init, log_trans, log_emit, (t == 0) | ~valid, valid)


def _unblock(x: Array, T: int) -> Array:
    """``[L, K, C]`` (or ``[L, C]``) back to ``[T, K]`` (or ``[T]``)."""
    if x.ndim == 2:
        return x.T.reshape(-1)[:T]
    L, K, C = x.shape
    return x.transpose(2, 0, 1).reshape(C * L, K)[:T]


def _left(x: Array, m: Array) -> Array:
    """``y[k', j, c] = sum_k x[k', k, c] m[k, j]`` (row vectors times ``m``), as a matrix
    product: measured on one CPU core, 4× (float32) to 20× (float64) faster than a
    broadcast-multiply-reduce even for ``K = 8``."""
    return jnp.einsum("...kc,kj->...jc", x, m)


def _right(m: Array, x: Array) -> Array:
    """``y[i, c] = sum_j m[i, j] x[j, c]``."""
    return m @ x


def _normalise(x: Array, axes) -> tuple[Array, Array]:
    """``(x / sum, log sum)`` over ``axes``; an all-zero ``x`` stays 0 with log-sum LOG_FLOOR
    (a NaN sum stays NaN)."""
    total = x.sum(axis=axes, keepdims=True)
    ok = total > 0
    safe = jnp.where(ok, total, 1.0)
    log_total = jnp.where(ok, jnp.log(safe), floor_or_nan(total))
    return x / safe, jnp.squeeze(log_total, axis=axes)


class _SumProduct(NamedTuple):
    """Shifted, exponentiated tables and the chunk products (probability space)."""

    b: _Blocked
    init: Array  # [K] exp(log_init - init_shift)
    trans: Array  # [K, K] exp(log_trans - trans_shift)
    emit: Array  # [L, K, C] exp(log_emit - emit_shift)
    log_shift: Array  # [] sum of every shift used by the T steps
    products: Array  # [C, K, K] normalised P_c
    log_scale: Array  # [C] log of the product of the normalisers of P_c


def _sum_product(p: Potentials, L: int) -> _SumProduct:
    b = _block(p, L)
    K = b.log_init.shape[0]
    init_shift = jnp.max(b.log_init)
    trans_shift = jnp.max(b.log_trans)
    emit_shift = jnp.max(b.log_emit, axis=1)  # [L, C]
    init = jnp.exp(b.log_init - init_shift)
    trans = jnp.exp(b.log_trans - trans_shift)
    emit = jnp.exp(b.log_emit - emit_shift[:, None, :])
    num_trans = jnp.sum(~b.stay)
    log_shift = init_shift + num_trans * trans_shift + jnp.sum(jnp.where(b.valid, emit_shift, 0.0))
    C = emit.shape[2]
    eye = jnp.broadcast_to(jnp.eye(K, dtype=emit.dtype)[:, :, None], (K, K, C))

    def step(carry, inputs):
        prod, log_scale, comp = carry  # [K, K, C], [C], [C]
        emit_l, stay_l = inputs
        moved = jnp.where(stay_l, prod, _left(prod, trans))
        new, log_total = _normalise(moved * emit_l[None], (0, 1))
        return (new, *_kahan(log_scale, comp, log_total)), None

    zeros = jnp.zeros((C,), emit.dtype)
    (products, log_scale, _), _ = jax.lax.scan(step, (eye, zeros, zeros), (emit, b.stay))
    return _SumProduct(b, init, trans, emit, log_shift, products.transpose(2, 0, 1), log_scale)


def _boundary_forward(sp: _SumProduct) -> tuple[Array, Array]:
    """``(entering [K, C], log Z)``: normalised ``alpha`` entering each chunk, and ``log Z``."""
    start, log_start = _normalise(sp.init, 0)

    def step(carry, inputs):
        message, log_z, comp = carry
        product, log_scale = inputs
        new, log_total = _normalise((message[:, None] * product).sum(0), 0)
        log_z, comp = _kahan(log_z, comp, log_total)
        return (new, *_kahan(log_z, comp, log_scale)), message

    init = (start, log_start, jnp.zeros_like(log_start))
    (_, log_z, _), entering = jax.lax.scan(step, init, (sp.products, sp.log_scale))
    return entering.T, jnp.maximum(log_z + sp.log_shift, LOG_FLOOR)


def _boundary_backward(sp: _SumProduct) -> Array:
    """``[K, C]`` normalised ``beta`` at the last step of each chunk."""
    K = sp.init.shape[0]
    ones = jnp.full((K,), 1.0 / K, sp.init.dtype)

    def step(message, product):
        new, _ = _normalise((product * message[None, :]).sum(1), 0)
        return new, message

    _, leaving = jax.lax.scan(step, ones, sp.products, reverse=True)
    return leaving.T


def _has_nan(p: Potentials) -> Array:
    """``[]`` bool: a NaN anywhere in the potentials (tested explicitly: a fused ``max`` need
    not propagate it; see :func:`lsgm.inference.potentials.has_nan`)."""
    return jnp.any(jnp.array([jnp.any(jnp.isnan(jnp.asarray(a))) for a in p]))


@partial(jax.jit, static_argnames="chunk")
def _log_partition(p: Potentials, chunk: int) -> Array:
    return nan_if(_has_nan(p), to_public_log(_boundary_forward(_sum_product(p, chunk))[1]))


@partial(jax.jit, static_argnames="chunk")
def _posteriors(p: Potentials, chunk: int) -> Array:
    sp = _sum_product(p, chunk)
    entering, log_z = _boundary_forward(sp)
    leaving = _boundary_backward(sp)

    trans_t = sp.trans.T  # materialised once: a transpose inside the step costs a product

    def forward_step(alpha, inputs):  # alpha [K, C]
        emit_l, stay_l = inputs
        moved = jnp.where(stay_l, alpha, trans_t @ alpha)
        new, _ = _normalise(moved * emit_l, 0)
        return new, new

    _, alphas = jax.lax.scan(forward_step, entering, (sp.emit, sp.b.stay))

    def backward_step(beta, inputs):
        # `beta` is beta at this step; the step before gets M_l beta (identity if `stay`).
        emit_l, stay_l = inputs
        moved = jnp.where(stay_l, beta, _right(sp.trans, beta * emit_l))
        new, _ = _normalise(moved, 0)
        return new, beta

    _, betas = jax.lax.scan(backward_step, leaving, (sp.emit, sp.b.stay), reverse=True)
    states, _ = _normalise(alphas * betas, 1)  # [L, K, C]
    # p(x) = 0 or NaN potentials: the posteriors are undefined (NaN), as in posteriors()
    states = jnp.where((log_z > LOG_FLOOR / 2) & ~_has_nan(p), states, jnp.nan)
    return _unblock(states, p.log_emit.shape[0])


def _kahan(total: Array, carry: Array, value: Array) -> tuple[Array, Array]:
    """Compensated summation step: ``(total + value, new compensation)`` (Kahan), so that
    summing millions of per-step log-offsets in float32 keeps the rounding error near one ulp
    of the total instead of growing with the number of terms."""
    y = value - carry
    t = total + y
    return t, (t - total) - y


def _shift_max(x: Array, axes) -> tuple[Array, Array]:
    """``(max(x - max, LOG_FLOOR), max)`` over ``axes``."""
    top = jnp.max(x, axis=axes, keepdims=True)
    return jnp.maximum(x - top, LOG_FLOOR), jnp.squeeze(top, axis=axes)


def _max_arg(scores: Array, axis: int) -> tuple[Array, Array]:
    """``(max, argmax)`` over ``axis`` (ties: lowest index); ``argmax`` as int32."""
    if scores.shape[axis] == 2:  # cheaper than a generic argmax reduction
        first, second = jnp.moveaxis(scores, axis, 0)
        return jnp.maximum(first, second), (second > first).astype(jnp.int32)
    return scores.max(axis), jnp.argmax(scores, axis=axis).astype(jnp.int32)


@partial(jax.jit, static_argnames="chunk")
def _viterbi(p: Potentials, chunk: int, length=None) -> tuple[Array, Array]:
    b = _block(p, chunk, length)
    L, K, C = b.log_emit.shape
    trans = b.log_trans[:, :, None]  # [K, K, 1]

    # 1. chunk transfers Q_c[i, j] (max-plus products), shifted by their maximum every step.
    def chunk_step(carry, xs):
        q, offset, comp = carry  # [K, K, C], [C], [C]
        emit_l, stay_l = xs
        moved = jnp.where(stay_l, q, (q[:, :, None, :] + trans[None]).max(1))
        new, top = _shift_max(moved + emit_l[None], (0, 1))
        return (new, *_kahan(offset, comp, top)), None

    eye = jnp.where(jnp.eye(K, dtype=bool), 0.0, LOG_FLOOR).astype(b.log_emit.dtype)
    start = jnp.broadcast_to(eye[:, :, None], (K, K, C))
    zeros = jnp.zeros((C,), b.log_emit.dtype)
    (q, offset, _), _ = jax.lax.scan(chunk_step, (start, zeros, zeros), (b.log_emit, b.stay))

    # 2. sequential pass over the chunk boundaries, then backtrack the boundary states.
    def boundary_step(carry, xs):
        delta, total, comp = carry
        q_c, offset_c = xs
        new, pointer = _max_arg(delta[:, None] + q_c, 0)
        new, top = _shift_max(new, 0)
        total, comp = _kahan(total, comp, top)
        return (new, *_kahan(total, comp, offset_c)), pointer

    delta0, total0 = _shift_max(b.log_init, 0)
    xs = (q.transpose(2, 0, 1), offset)
    init = (delta0, total0, jnp.zeros_like(total0))
    (delta, total, _), pointers = jax.lax.scan(boundary_step, init, xs)
    last = jnp.argmax(delta).astype(jnp.int32)
    score = total + delta[last]

    def boundary_back(end_state, pointer):
        entering = pointer[end_state]  # the state at the end of the previous chunk
        return entering, (entering, end_state)

    _, (enter_states, end_states) = jax.lax.scan(boundary_back, last, pointers, reverse=True)

    # 3. Viterbi inside every chunk from its entering state; backtrack from its end state.
    states = jnp.arange(K, dtype=jnp.int32)[:, None]
    d0 = jnp.where(states == enter_states[None, :], 0.0, LOG_FLOOR).astype(delta.dtype)
    pointer_dtype = jnp.int8 if K <= 127 else jnp.int32

    def inner_step(d, xs):  # d [K, C]
        emit_l, stay_l = xs
        best, psi = _max_arg(d[:, None, :] + trans, 0)
        new, _ = _shift_max(jnp.where(stay_l, d, best) + emit_l, 0)
        return new, jnp.where(stay_l, states, psi).astype(pointer_dtype)

    _, psi = jax.lax.scan(inner_step, d0, (b.log_emit, b.stay))  # [L, K, C]

    def inner_back(state, psi_l):  # state [C]: the state at this step
        previous = jnp.take_along_axis(psi_l, state[None, :].astype(psi_l.dtype), axis=0)[0]
        return previous.astype(jnp.int32), state

    _, path = jax.lax.scan(inner_back, end_states, psi, reverse=True)  # [L, C]
    score = nan_if(_has_nan(p), score)
    path = jnp.where(score > LOG_FLOOR / 2, path, -1)  # no path (-inf) or NaN: all -1
    return _unblock(path, p.log_emit.shape[0]), to_public_log(jnp.maximum(score, LOG_FLOOR))


def chunked_log_partition(p: Potentials, chunk: int | None = None) -> Array:
    """``log p(x_{1:T})`` of one sequence with stationary potentials, by chunk products.

    Args:
        p: ``Potentials(log_init [K], log_trans [K, K], log_emit [T, K])``.
        chunk: steps per chunk ``L`` (default ``ceil(sqrt(T))``).

    Returns:
        ``[]`` the log-partition, equal to :func:`lsgm.inference.log_partition` up to rounding.
    """
    return _log_partition(p, _check(p, chunk))


def chunked_posteriors(p: Potentials, chunk: int | None = None) -> Array:
    """``[T, K]`` smoothed state marginals ``p(z_t = k | x)`` (rows sum to 1), by chunks.

    Equal to ``lsgm.inference.posteriors(p).states`` up to rounding (NaN, as there, for an
    impossible sequence); memory: a few ``[T, K]`` arrays (37 MB each for ``T = 4.64·10^6``,
    ``K = 2``, float32).
    """
    return _posteriors(p, _check(p, chunk))


def chunked_viterbi(
    p: Potentials, chunk: int | None = None, length: ArrayLike | None = None
) -> tuple[Array, Array]:
    """Most probable path by max-plus chunk products: ``(path [T] int32, log_score [])``.

    The same path as :func:`lsgm.inference.viterbi` whenever the maximum is unique (see the
    module docstring on ties); ``log_score = max_z log p(x, z)``. When no path exists
    (``log_score = -inf``) or the potentials hold a NaN the path is all ``-1``. ``length``
    (``[]`` int, may be traced, e.g. under ``jax.vmap``): steps ``t >= length`` are padding,
    their path entries repeat the last state.
    """
    return _viterbi(p, _check(p, chunk), length)
