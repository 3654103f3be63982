"""Brute-force LSGM answers for tiny problems: every state path, every symbol sequence.

Independent of :meth:`lsgm.models.LSGM.potentials`: the encoder runs one observation at a time
(its step mode, or re-reading the prefix: :func:`lsgm.models.encoders.step`) and the model's
conditionals (``log_initial``, ``log_transition``, ``emission_params``) are called per step.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lsgm.models import encoders


def lsgm_joint_log_probs(model, x) -> tuple[np.ndarray, np.ndarray]:
    """``(paths [K^T, T], log p(x, z) [K^T])`` for every state path ``z`` of one sequence."""
    x = jnp.asarray(x)
    T, K = len(x), model.num_states
    carry, q = encoders.start(model.rnn, T)
    u = [model._dense(q, train_dropout=False)]  # u[t]: after reading x_1..x_t
    for t in range(T):
        carry, q = encoders.step(model.rnn, carry, model.family.encode(x[t : t + 1])[0])
        u.append(model._dense(q, train_dropout=False))
    emit = []
    for t in range(T):
        if model.emission_net is None:
            emit.append(model.emission.log_prob(x[t : t + 1])[0])
        else:
            raw = model.emission_params(u[t])  # [K, P] from Q_{t-1}
            emit.append(model.family.log_prob(raw[None], x[t : t + 1])[0])
    log_init = np.asarray(model.log_initial(u[0]))
    trans = [np.asarray(model.log_transition(u[t + 1])) for t in range(T - 1)]
    emit = np.asarray(emit)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    scores = np.array(
        [
            log_init[z[0]]
            + sum(emit[t, z[t]] for t in range(T))
            + sum(trans[t][z[t], z[t + 1]] for t in range(T - 1))
            for z in paths
        ]
    )
    return paths, scores


def all_sequences(num_symbols: int, T: int) -> np.ndarray:
    """``[V^T, T]``: every sequence of ``T`` symbols from ``0..V-1``."""
    return np.array(list(itertools.product(range(num_symbols), repeat=T)))


def perturbed(model, scale: float = 0.5, seed: int = 0):
    """``model`` with Gaussian noise of ``scale`` added to every parameter (in place), so the
    networks' outputs are far from the near-zero start and every dependence shows."""
    leaves, tree = jax.tree.flatten(nnx.state(model, nnx.Param))
    rng = np.random.default_rng(seed)
    noisy = [p + scale * rng.standard_normal(np.shape(p)) for p in leaves]
    nnx.update(model, tree.unflatten(noisy))
    return model
