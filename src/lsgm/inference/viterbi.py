"""Max-product decoding (Viterbi) on one sequence, in log space.

    delta_1(j) = log_init(j) + log_emit_1(j)
    delta_t(j) = max_i [delta_{t-1}(i) + log_trans_{t-1}(i, j)] + log_emit_t(j)
    psi_t(j)   = argmax_i [delta_{t-1}(i) + log_trans_{t-1}(i, j)]

then ``z_T = argmax delta_T`` and ``z_{t-1} = psi_t(z_t)``. Ties go to the lowest state index
(as in hmmlearn). The scan carries ``delta_t - max_j delta_t(j)`` and adds the maxima to a
compensated (Kahan) running offset: ``delta_t`` itself grows like ``-t`` nats per step, and in
float32 its per-step differences (``log 0.9999 ≈ -1e-4``) would be rounded away after about
10^4 steps (measured: a quarter of a 4.6 Mb genome's path wrong without the shift). Padded steps keep ``delta`` and use the identity back-pointer, so the path
ends at ``length - 1``; its padded entries are ``-1``, and so is every entry when no path
has a non-zero probability (score ``-inf``) or the potentials hold a NaN (score NaN).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lsgm.inference.kernels import UNROLL
from lsgm.inference.potentials import (
    LOG_FLOOR,
    Potentials,
    check_potentials,
    has_nan,
    nan_if,
    prepare,
    to_public_log,
)

Array = jax.Array


@jax.jit
def _viterbi(p, length, allowed):
    prep = prepare(p, length, allowed)
    T, K = prep.num_steps, prep.num_states
    identity = jnp.arange(K, dtype=jnp.int32)
    delta_0 = prep.log_init + prep.log_emit[0]
    shift_0 = jnp.max(delta_0)
    zero = jnp.zeros((), delta_0.dtype)

    def forward_step(carry, inputs):
        delta, offset, compensation = carry
        t, log_emit_t, scanned = inputs
        scores = delta[:, None] + prep.trans(scanned)
        psi = jnp.argmax(scores, axis=0).astype(jnp.int32)
        new = jnp.max(scores, axis=0) + log_emit_t
        shift = jnp.max(new)
        # Kahan summation of the shifts into the offset
        y = shift - compensation
        total = offset + y
        new_compensation = (total - offset) - y
        valid = t < prep.length
        carry = (
            prep.select(valid, new - shift, delta),
            prep.select(valid, total, offset),
            prep.select(valid, new_compensation, compensation),
        )
        return carry, prep.select(valid, psi, identity)

    xs = (jnp.arange(1, T), prep.log_emit[1:], prep.trans_at_steps())
    init = (delta_0 - shift_0, shift_0, zero)
    (delta_last, offset, _), psis = jax.lax.scan(forward_step, init, xs, unroll=UNROLL)
    last_state = jnp.argmax(delta_last).astype(jnp.int32)

    def back_step(state, psi):
        previous = psi[state]
        return previous, previous

    _, earlier = jax.lax.scan(back_step, last_state, psis, reverse=True, unroll=UNROLL)
    path = jnp.concatenate([earlier, last_state[None]])
    path = prep.select(jnp.arange(T) < prep.length, path, -1)
    score = nan_if(has_nan(prep), offset + jnp.max(delta_last))
    # no path (score -inf) or invalid input (NaN): no made-up path either
    path = jnp.where(score > LOG_FLOOR / 2, path, -1)
    return path, to_public_log(score)


def viterbi(
    p: Potentials, length: ArrayLike | None = None, allowed: ArrayLike | None = None
) -> tuple[Array, Array]:
    """Most probable state path.

    Returns:
        ``(path [T] int32, log_score [])`` with ``log_score = max_z log p(x, z)`` over
        (allowed) paths and ``path[t] = -1`` for ``t >= length``.

        When no path exists (every path has probability 0: ``log_score = -inf``) the path is
        all ``-1`` (the padding marker), not a made-up path; so it is when the potentials hold
        a NaN at a valid step (``log_score`` NaN). Test ``path[0] < 0`` (or the score) to
        detect both; :func:`lsgm.inference.first_impossible_step` says where a sequence
        becomes impossible.

    Example (the potentials of :func:`lsgm.inference.log_partition`'s example):

    >>> import jax.numpy as jnp
    >>> from lsgm.inference import Potentials, viterbi
    >>> p = Potentials(jnp.log(jnp.array([0.5, 0.5])),
    ...                jnp.log(jnp.array([[0.9, 0.1], [0.2, 0.8]])),
    ...                jnp.log(jnp.array([[0.5, 0.9], [0.5, 0.9], [0.5, 0.1], [0.5, 0.9]])))
    >>> path, score = viterbi(p)
    >>> path.tolist(), round(float(score), 5)
    ([0, 0, 0, 0], -3.78182)
    >>> viterbi(p, length=2)[0].tolist()  # padding steps are -1
    [1, 1, -1, -1]
    """
    check_potentials(p, length, allowed)
    return _viterbi(p, length, allowed)
