"""Posterior path sampling by forward-filtering backward-sampling (FFBS).

With ``alpha_hat_t = p(z_t | x_{1:t})`` from the scaled forward pass:

    z_L ~ alpha_hat_L                                  (L = length)
    z_t | z_{t+1} ~ alpha_hat_t(i) * A_t(i, z_{t+1})    for t = L-1, ..., 1

which draws exact samples of ``p(z_{1:L} | x_{1:L})``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lsgm.inference import scaled
from lsgm.inference.kernels import UNROLL, floored_log
from lsgm.inference.potentials import (
    LOG_FLOOR,
    Potentials,
    check_potentials,
    has_nan,
    prepare,
)

Array = jax.Array


@partial(jax.jit, static_argnames="num_samples")
def _sample_paths(p, key, num_samples, length, allowed):
    prep = prepare(p, length, allowed)
    T = prep.num_steps
    fwd = scaled.forward(prep, UNROLL)
    log_filtered = floored_log(fwd.alpha_hat)  # [T, K]
    possible = (fwd.log_c.sum() > LOG_FLOOR / 2) & ~has_nan(prep)  # p(x) > 0, no NaN

    def one_path(path_key):
        keys = jax.random.split(path_key, T)
        last = jax.random.categorical(keys[-1], log_filtered[prep.length - 1]).astype(jnp.int32)

        def step(z_next, inputs):
            t, step_key, log_filtered_t, scanned = inputs
            logits = log_filtered_t + prep.trans(scanned)[:, z_next]
            z = jax.random.categorical(step_key, logits).astype(jnp.int32)
            z = jnp.where(t < prep.length - 1, z, z_next)
            return z, z

        xs = (jnp.arange(T - 1), keys[:-1], log_filtered[:-1], prep.trans_at_steps())
        _, earlier = jax.lax.scan(step, last, xs, reverse=True, unroll=UNROLL)
        path = jnp.concatenate([earlier, last[None]])
        return jnp.where((jnp.arange(T) < prep.length) & possible, path, -1)

    return jax.vmap(one_path)(jax.random.split(key, num_samples))


def sample_paths(
    p: Potentials,
    key: Array,
    num_samples: int,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
) -> Array:
    """Draw ``num_samples`` state paths from ``p(z | x)``.

    Returns:
        ``[S, T]`` int32 paths; entries ``t >= length`` are ``-1``, and every entry is ``-1``
        when no path exists (``log p(x) = -inf``) or the potentials hold a NaN.
    """
    check_potentials(p, length, allowed)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}.")
    return _sample_paths(p, key, int(num_samples), length, allowed)
