"""``log Z`` of an HMM whose transitions are low-rank jumps plus deterministic chain moves.

Motif models (position weight matrices as chains of single-symbol states, ``DESIGN.md`` §3)
have a transition matrix with this structure at every step ``t``:

    A_t[i, j] = sum_s source[i, s] · D_t[s, j]  +  advance[i] · [j = i + 1]

* ``D_t [S, K]``: ``S`` *destination distributions* over the states (rows sum to one), e.g.
  ``S = 1`` for a zeroth-order choice of the next motif, one row per source slot for a
  first-order one;
* ``source [K, S]``: 0/1, which destination row a *free* state (background, a chain's end)
  draws from; all zero for a state inside a chain;
* ``advance [K]``: 0/1, state ``i`` moves to ``i + 1`` with probability one (inside a chain;
  chains are laid out contiguously).

The dense forward recursion costs ``O(K²)`` per step; this one costs ``O(K·S)``:

    pred_{t+1} = (α̂_t · source) · D_t  +  shift(α̂_t · advance)
    α̂_{t+1}    = pred_{t+1} ∘ e_{t+1} / c_{t+1},       log Z = sum_t log c_t

with ``α̂_t = p(z_t | x_{1:t})``, ``e_t = exp(log_emit[t] - max_k log_emit[t, k])`` and the
shifts added back in log space (the scaled kernel's normalisation). It equals
:func:`lsgm.inference.log_partition` of the dense potentials (:func:`dense_transitions`), tested
against it and against brute-force enumeration of every path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def dense_transitions(log_dest: Array, source: np.ndarray, advance: np.ndarray) -> Array:
    """The dense ``log A_t [..., K, K]`` of the chain structure, for the shared kernels.

    Args:
        log_dest: ``[..., S, K]`` log destination distributions ``log D_t``.
        source: ``[K, S]`` 0/1 source slots of the free states.
        advance: ``[K]`` 0/1, state ``i`` moves to ``i + 1``.
    """
    K = source.shape[0]
    jump = jnp.einsum("ks,...sj->...kj", jnp.asarray(source, log_dest.dtype), jnp.exp(log_dest))
    moves = np.zeros((K, K))
    idx = np.flatnonzero(advance)
    moves[idx, idx + 1] = 1.0
    return jnp.log(jump + jnp.asarray(moves, log_dest.dtype))


def chain_log_partition(
    log_init: Array,
    log_dest: Array,
    log_emit: Array,
    source: np.ndarray,
    advance: np.ndarray,
    length: Array | int | None = None,
) -> Array:
    """``log p(x_{1:length})`` under the chain-structured transitions (module docstring).

    Args:
        log_init: ``[K]`` ``log p(z_1)``.
        log_dest: ``[T-1, S, K]`` log destination distributions; row ``t`` gives ``z_{t+2}``
            (0-based ``t``), as ``log_trans[t]`` of time-varying potentials. ``[1, S, K]``
            broadcasts (stationary).
        log_emit: ``[T, K]`` ``log p(x_t | z_t)``; row-wise finite maximum expected (a state
            that can always emit, e.g. the background).
        source: ``[K, S]`` numpy 0/1 constant: the destination row of each free state.
        advance: ``[K]`` numpy 0/1 constant: ``i -> i + 1`` with probability one; the last
            state may not advance.
        length: number of valid steps (``None``: ``T``); padding past it changes nothing.

    Returns:
        Scalar ``log Z``; ``-inf`` when no path explains the sequence.
    """
    source = np.asarray(source, dtype=float)
    advance = np.asarray(advance, dtype=float)
    T, K = log_emit.shape
    if advance[-1]:
        raise ValueError("advance[-1] must be 0: the last state has no successor i + 1.")
    dest = jnp.broadcast_to(jnp.exp(log_dest), (max(T - 1, 1),) + log_dest.shape[1:])
    shift = jax.lax.stop_gradient(jnp.max(log_emit, axis=1))  # [T]
    emit = jnp.exp(log_emit - shift[:, None])
    valid = jnp.arange(T) < (T if length is None else length)
    first = jnp.exp(log_init) * emit[0]
    norm = first.sum()
    safe0 = jnp.where(norm > 0, norm, 1.0)
    carry0 = (first / safe0, jnp.where(norm > 0, jnp.log(safe0), -jnp.inf) + shift[0])
    src = jnp.asarray(source, emit.dtype)
    adv = jnp.asarray(advance, emit.dtype)

    def step(carry, inputs):
        alpha, log_z = carry
        d, e, m, ok = inputs
        moved = alpha * adv
        pred = (alpha @ src) @ d + jnp.concatenate([jnp.zeros((1,), alpha.dtype), moved[:-1]])
        new = pred * e
        total = new.sum()
        safe = jnp.where(total > 0, total, 1.0)
        out = (new / safe, log_z + jnp.where(total > 0, jnp.log(safe), -jnp.inf) + m)
        return jax.tree.map(lambda u, v: jnp.where(ok, u, v), out, carry), None

    (_, log_z), _ = jax.lax.scan(step, carry0, (dest[: T - 1], emit[1:], shift[1:], valid[1:]))
    return log_z


__all__ = ["chain_log_partition", "dense_transitions"]
