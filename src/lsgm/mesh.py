"""Device meshes and sharding primitives: rows split over devices, parameters replicated.

The sequences of a padded batch ``data [N, T, ...]`` are independent given the parameters, so
data parallelism splits the ``N`` rows over the devices of a :class:`jax.sharding.Mesh`
(``NamedSharding(mesh, PartitionSpec(axis))`` on the leading axis) and replicates the
parameters (``PartitionSpec()``); ``jax.jit`` inserts one all-reduce per summed statistic.

Padding: ``N`` is padded to a multiple of the device count with filler rows that copy row 0's
observations (always valid input for the emission family) and have **length 0 and weight 0**;
every sum multiplies by the row weight ``w_n in {0, 1}``.

Several hosts: :func:`initialize` on every host first; :func:`make_mesh` then spans the
devices of all hosts and :func:`shard_batch` places on each host only the rows its devices own.

This module sits below the models and the fitters (``docs/design.md``, section 2); the EM
statistics and gradients over a mesh are in :mod:`lsgm.distributed`.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lsgm.data import PaddedBatch

Array = jax.Array

#: Name of the batch axis of the meshes made by :func:`make_mesh`.
DEFAULT_AXIS = "data"


# ------------------------------------------------------------------ meshes and placement
def make_mesh(num_devices: int | None = None, axis: str = DEFAULT_AXIS) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` of ``jax.devices()`` (all of them: None).

    With several processes (after :func:`initialize`) ``jax.devices()`` lists the devices of
    every host, so the mesh spans them all.

    >>> make_mesh(1).shape
    OrderedDict([('data', 1)])
    """
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if isinstance(num_devices, bool) or not isinstance(num_devices, int | np.integer):
        raise ValueError(f"num_devices must be an int or None; got {num_devices!r}.")
    if not 1 <= int(num_devices) <= len(devices):
        raise ValueError(
            f"num_devices={num_devices} but JAX sees {len(devices)} device(s) "
            f"({devices[0].platform}); on CPU set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N before importing jax."
        )
    if not isinstance(axis, str) or not axis:
        raise ValueError(f"axis must be a non-empty string; got {axis!r}.")
    return Mesh(np.array(devices[: int(num_devices)]), (axis,))


def _check_mesh(mesh) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise ValueError(
            f"mesh must be a jax.sharding.Mesh (see lsgm.distributed.make_mesh); "
            f"got {type(mesh).__name__}."
        )
    return mesh


def row_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over every axis of ``mesh``, other axes whole."""
    return NamedSharding(_check_mesh(mesh), PartitionSpec(tuple(mesh.axis_names)))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same full array on every device of ``mesh``."""
    return NamedSharding(_check_mesh(mesh), PartitionSpec())


def _put(x, sharding: NamedSharding) -> Array:
    """Place one array with ``sharding``, in one process or in several.

    - Already placed that way: returned as is.
    - One process: :func:`jax.device_put`.
    - Several processes, ``x`` a global :class:`jax.Array` with another sharding (not fully
      addressable: e.g. rows split across the processes, or parameters replicated over
      another mesh): resharded by :func:`jax.device_put`, which every process runs. Copying
      it through the host first (``np.asarray``) fails for a split array ("Fetching value for
      `jax.Array` that spans non-addressable (non process local) devices is not possible").
    - Several processes, ``x`` a host array (or a local one), the same on every process:
      :func:`jax.make_array_from_callback`, so each process copies only the slices that its
      own devices hold. (:func:`jax.make_array_from_process_local_data` would be the tool for
      a process that holds only its own rows; here every process has the whole data set.)
    """
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
        return x
    if jax.process_count() == 1 or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):  # typed PRNG keys: place the raw data
        impl = jax.random.key_impl(x)
        raw = _put(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(raw, impl=impl)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard_rows(x, mesh: Mesh) -> Array:
    """``x [N, ...]`` split over the devices of ``mesh`` along ``N`` (a multiple of the
    device count: see :func:`pad_rows`)."""
    n, size = np.shape(x)[0], _check_mesh(mesh).size
    if n % size:
        raise ValueError(f"{n} rows cannot be split over {size} devices; pad them with pad_rows.")
    return _put(x, row_sharding(mesh))


def replicate(tree, mesh: Mesh):
    """Every array leaf of ``tree`` (e.g. an ``nnx.State``) replicated over ``mesh``."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda leaf: _put(leaf, sharding), tree)


def gather(x) -> np.ndarray:
    """A (possibly sharded, possibly multi-process) array as one host numpy array.

    - Fully addressable (one process, or a local array): ``np.asarray``.
    - Global but fully replicated (parameters, sums): this process's own copy, with no
      communication, so it is safe even where only some processes call it (e.g. printing on
      process 0).
    - Global and split across processes (per-row outputs): every process's rows are
      all-gathered with :func:`jax.experimental.multihost_utils.process_allgather`; that is a
      collective, so **every process must call it**, in the same order.
    """
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


# ------------------------------------------------------------------ batches
def pad_rows(data, lengths, multiple: int, weights=None, *extra):
    """Pad ``N`` rows to a multiple of ``multiple`` with filler rows that contribute nothing.

    Args:
        data: ``[N, T, ...]`` padded observations.
        lengths: ``[N]`` lengths.
        multiple: the device count.
        weights: ``[N]`` row weights (None: all 1).
        extra: further ``[N, ...]`` arrays (or None) padded with zeros (e.g. label masks).

    Returns:
        ``(data, lengths, weights, *extra)`` with ``N' = ceil(N / multiple) * multiple`` rows;
        filler rows copy row 0's observations and have length 0 and weight 0.
    """
    data, lengths = np.asarray(data), np.asarray(lengths)
    n = data.shape[0]
    fill = (-n) % int(multiple)
    weights = np.ones(n, np.float32) if weights is None else np.asarray(weights)
    padded = (
        np.concatenate([data, np.repeat(data[:1], fill, axis=0)]),
        np.concatenate([lengths, np.zeros(fill, lengths.dtype)]),
        np.concatenate([weights, np.zeros(fill, weights.dtype)]),
    )
    more = tuple(
        None if e is None else np.concatenate([e, np.zeros((fill,) + e.shape[1:], e.dtype)])
        for e in extra
    )
    return padded + more


class ShardedBatch(NamedTuple):
    """A padded batch split over a mesh along its rows.

    Attributes:
        data: ``[N', T, ...]`` observations, ``N'`` a multiple of the device count.
        lengths: ``[N']`` int32 lengths (0 for filler rows).
        weights: ``[N']`` float32, 1 for the ``num_sequences`` real rows, 0 for filler rows.
        num_sequences: ``N``, the number of real rows (they come first).
    """

    data: Array
    lengths: Array
    weights: Array
    num_sequences: int


def shard_batch(batch: PaddedBatch, mesh: Mesh) -> ShardedBatch:
    """Pad a :class:`~lsgm.data.batching.PaddedBatch` to a multiple of the device count (see
    :func:`pad_rows`) and split its rows over ``mesh``."""
    data, lengths, weights = pad_rows(batch.data, batch.lengths, _check_mesh(mesh).size)
    weights = weights.astype(np.float32)
    return ShardedBatch(
        shard_rows(data, mesh),
        shard_rows(lengths.astype(np.int32), mesh),
        shard_rows(weights, mesh),
        batch.num_sequences,
    )


# ------------------------------------------------------------------ statistics
# ------------------------------------------------------------------ several hosts
def _env_int(name: str):
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer.") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs,
) -> None:
    """Join a multi-host JAX job: a thin wrapper over :func:`jax.distributed.initialize`.

    Call it once per process, before any other JAX call. Unset arguments are read from
    ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0), ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID``; when those are unset too, JAX's cluster auto-detection (SLURM,
    Open MPI, Kubernetes, cloud TPU) fills them in. Further keyword arguments (e.g.
    ``local_device_ids``, ``initialization_timeout``) go to JAX unchanged.
    Afterwards ``jax.devices()`` lists the devices of every host and :func:`make_mesh` spans
    them; ``jax.local_devices()`` are this host's. See ``docs/distributed.md``.
    """
    num_processes = _env_int("JAX_NUM_PROCESSES") if num_processes is None else num_processes
    process_id = _env_int("JAX_PROCESS_ID") if process_id is None else process_id
    if num_processes is not None and process_id is not None:
        if not 0 <= int(process_id) < int(num_processes):
            raise ValueError(
                f"process_id={process_id} must be in [0, num_processes={num_processes}); "
                "number the processes 0..num_processes-1."
            )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=None if num_processes is None else int(num_processes),
        process_id=None if process_id is None else int(process_id),
        **kwargs,
    )


__all__ = [
    "DEFAULT_AXIS",
    "ShardedBatch",
    "gather",
    "initialize",
    "make_mesh",
    "pad_rows",
    "replicate",
    "replicated",
    "row_sharding",
    "shard_batch",
    "shard_rows",
]
