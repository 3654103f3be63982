"""Data parallelism over a :class:`jax.sharding.Mesh`: sharded batches, EM and gradients.

The sequences of a batch are independent given the parameters, so every quantity the
fitters need is a sum over sequences:

    log p(X)        = sum_n log p(x_n)
    E-step counts   = sum_n E[counts | x_n]          (initial [K], transitions [K, K], emissions)
    gradient        = sum_n w_n grad log p(x_n)

Data parallelism splits the ``N`` rows of a padded batch ``data [N, T, ...]`` over the
devices of a mesh (``NamedSharding(mesh, PartitionSpec(axes))`` on the leading axis) and
replicates the parameters (``PartitionSpec()``). Each device computes the sums over its own
rows; ``jax.jit`` sees the sharded inputs and inserts one all-reduce per summed statistic (the
GSPMD partitioner), so the M-step / optimiser update then runs on identical replicated values
on every device. The results equal the single-device results up to float round-off of the
reordered sums.

Padding: ``N`` is padded to a multiple of the device count with filler rows that copy row 0's
observations (always valid input for the emission family) and have **length 0 and weight 0**.
A length-0 row is not neutral by itself: the kernels always count step 0, so its
``log_partition`` is ``log p(x_1) != 0`` (its state posteriors and transition counts are 0).
Every sum therefore multiplies by the row weight ``w_n in {0, 1}`` (``jnp.where``, so a
non-finite value in a filler row could not leak either).

The mesh primitives are defined in :mod:`lsgm.mesh` (below the models and fitters) and
re-exported here.

Several hosts: call :func:`initialize` first on every host (see ``docs/distributed.md``);
:func:`make_mesh` then spans the devices of all hosts, every process passes the same (whole)
data set, and :func:`shard_batch` places on each host only the rows its devices own.
``tests/test_multihost.py`` runs two such processes on one machine (CPU collectives by gloo).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from lsgm.mesh import (
    DEFAULT_AXIS,
    ShardedBatch,
    gather,
    initialize,
    make_mesh,
    pad_rows,
    replicate,
    replicated,
    row_sharding,
    shard_batch,
    shard_rows,
)


class EMStatistics(NamedTuple):
    """Expected sufficient statistics of a data set (host numpy arrays).

    Attributes:
        log_likelihood: ``sum_n log p(x_n)``.
        initial: ``[K]`` ``sum_n p(z_{n,1} = k | x_n)``.
        transitions: ``[K, K]`` ``sum_n sum_t p(z_{n,t} = i, z_{n,t+1} = j | x_n)``.
        occupancy: ``[K]`` ``sum_n sum_t p(z_{n,t} = k | x_n)`` (the emission M-step weights,
            summed).
    """

    log_likelihood: float
    initial: np.ndarray
    transitions: np.ndarray
    occupancy: np.ndarray


@lru_cache(maxsize=32)
def _statistics_fn(graphdef, mesh: Mesh | None):
    """Jitted ``(state, data, lengths, weights) -> (log L, initial, transitions, occupancy)``
    (one per model structure and mesh, so repeated calls compile once per shape)."""
    from flax import nnx

    from lsgm.training import e_step

    def stats(state, data, lengths, weights):
        model = nnx.merge(graphdef, state)
        s = e_step(model, data, lengths, weights=weights)
        return s.log_likelihood, s.initial, s.transitions, s.weights.sum(0)

    return jax.jit(stats) if mesh is None else jax.jit(stats, out_shardings=replicated(mesh))


def expected_statistics(model, xs, lengths=None, *, mesh: Mesh | None = None) -> EMStatistics:
    """The E-step of Baum–Welch (:func:`lsgm.training.em.e_step`) over many sequences, with the
    rows split over ``mesh`` (None: one device) and the statistics summed across devices."""
    from flax import nnx

    batch = model.batch(xs, lengths)
    graphdef, state = nnx.split(model)
    fn = _statistics_fn(graphdef, mesh)
    if mesh is None:
        out = fn(state, jnp.asarray(batch.data), jnp.asarray(batch.lengths), None)
    else:
        sharded = shard_batch(batch, mesh)
        out = fn(replicate(state, mesh), sharded.data, sharded.lengths, sharded.weights)
    log_l, initial, transitions, occupancy = (gather(a) for a in out)
    return EMStatistics(float(log_l), initial, transitions, occupancy)


@lru_cache(maxsize=32)
def _nll_grad_fn(graphdef, mesh: Mesh | None):
    """Jitted ``(params, rest, data, lengths, weights) -> (L, dL/dparams)``."""
    from flax import nnx

    from lsgm.training import batch_nll

    def loss(params, rest, data, lengths, weights):
        return batch_nll(nnx.merge(graphdef, params, rest), data, lengths, weights)

    value_and_grad = jax.value_and_grad(loss)
    if mesh is None:
        return jax.jit(value_and_grad)
    return jax.jit(value_and_grad, out_shardings=replicated(mesh))


def nll_and_grad(model, xs, lengths=None, *, mesh: Mesh | None = None):
    """``(L, dL/dtheta)`` of the batch NLL per step ``L = -sum_n log p(x_n) / sum_n T_n``
    (:func:`lsgm.training.gradient.batch_nll`), rows split over ``mesh`` (None: one device),
    parameters replicated. The gradient is an ``nnx.State`` of the model's ``nnx.Param``s
    (host numpy leaves). Call ``model.eval()`` first to switch dropout off."""
    from flax import nnx

    batch = model.batch(xs, lengths)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    fn = _nll_grad_fn(graphdef, mesh)
    if mesh is None:
        weights = jnp.ones(batch.num_sequences, jnp.float32)
        out = fn(params, rest, jnp.asarray(batch.data), jnp.asarray(batch.lengths), weights)
    else:
        s = shard_batch(batch, mesh)
        out = fn(replicate(params, mesh), replicate(rest, mesh), s.data, s.lengths, s.weights)
    value, grads = out
    return float(gather(value)), jax.tree.map(gather, grads)


__all__ = [
    "DEFAULT_AXIS",
    "EMStatistics",
    "ShardedBatch",
    "expected_statistics",
    "gather",
    "initialize",
    "make_mesh",
    "nll_and_grad",
    "pad_rows",
    "replicate",
    "replicated",
    "row_sharding",
    "shard_batch",
    "shard_rows",
]
