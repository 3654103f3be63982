"""One process of the two-process (multi-host) test, ``tests/test_multihost.py``.

Run once per process, e.g. for two processes on this machine (any free port)::

    export JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=2
    python tests/multihost_worker.py data_parallel OUT --coordinator 127.0.0.1:PORT \\
        --num-processes 2 --process-id 0 &
    python tests/multihost_worker.py data_parallel OUT --coordinator 127.0.0.1:PORT \\
        --num-processes 2 --process-id 1

Each process joins the job (:func:`lsgm.distributed.initialize`; CPU collectives across
processes by gloo), builds the mesh over every device of every process, runs the mode's
workload on it and writes its results to ``OUT/process_<id>.npz`` (atomically: written under
another name, then renamed).

A mode is one function ``workload(mesh) -> {name: host array}`` in :data:`MODES`; the test
runs the same function with ``mesh=None`` in its own single-device process for the reference,
so both sides see exactly the same data, model and settings. Adding a mode is adding one such
function.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Sequences of the data-parallel workload: ragged lengths in [MIN_LENGTH, MAX_LENGTH].
NUM_SEQUENCES, MIN_LENGTH, MAX_LENGTH = 10, 20, 60
#: Length of the one sequence of the sequence-parallel (chunked) workload: 16 chunks of 64
#: steps, 4 on each of the 4 devices.
LONG_LENGTH = 1000
#: Hidden states and symbols of the categorical HMM.
STATES, SYMBOLS = 3, 4
#: EM iterations (all of them run: tol=-inf).
EM_ITERATIONS = 3


def sequences() -> list[np.ndarray]:
    """The data set of the data-parallel workload (fixed seed): symbol sequences."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, size=NUM_SEQUENCES)
    return [rng.integers(0, SYMBOLS, size=int(n)) for n in lengths]


def long_sequence() -> list[np.ndarray]:
    """The data set of the chunked workload: one sequence of ``LONG_LENGTH`` symbols."""
    return [np.random.default_rng(1).integers(0, SYMBOLS, size=LONG_LENGTH)]


def new_model():
    """A fresh categorical HMM with fixed parameters (same seeds everywhere)."""
    from flax import nnx

    import lsgm
    from lsgm.distributions import Categorical

    emission = Categorical(STATES, SYMBOLS, rngs=nnx.Rngs(1))
    return lsgm.HMM(STATES, emission, rngs=nnx.Rngs(0))


def _flat(prefix: str, state) -> dict[str, np.ndarray]:
    """``{prefix/path: host array}`` of an ``nnx.State`` (global arrays gathered)."""
    from flax import nnx

    from lsgm import distributed

    out = {}
    for path, leaf in nnx.to_flat_state(state):
        value = leaf.get_value() if hasattr(leaf, "get_value") else leaf
        out[prefix + "/" + "/".join(str(k) for k in path)] = distributed.gather(value)
    return out


def _method(fn, method: str) -> dict[str, str]:
    """``{"method": method}`` where ``fn`` takes ``method=`` (older versions do not)."""
    return {"method": method} if "method" in inspect.signature(fn).parameters else {}


def _fit_em(xs, mesh, method: str) -> dict[str, np.ndarray]:
    """``EM_ITERATIONS`` of Baum–Welch with the E-step ``method``: the log-likelihood history,
    the fitted parameters and the fitted model's ``score_samples``."""
    from flax import nnx

    import lsgm

    fit = lsgm.training.fit_em
    model, history = fit(
        new_model(), xs, max_iter=EM_ITERATIONS, tol=-np.inf, mesh=mesh, **_method(fit, method)
    )
    out = {"em/log_likelihoods": np.asarray(history.log_likelihoods, np.float64)}
    out.update(_flat("em/params", nnx.state(model, nnx.Param)))
    # the fitted model holds mesh-replicated (global) arrays: scoring with it must work too
    kwargs = _method(model.score_samples, method)
    out["em/score_samples"] = model.score_samples(xs, mesh=mesh, **kwargs)
    return out


def data_parallel(mesh) -> dict[str, np.ndarray]:
    """Rows split over ``mesh``: EM (``method="scaled"``), the batch-NLL gradient and
    ``score_samples``."""
    from lsgm import distributed

    xs = sequences()
    out = _fit_em(xs, mesh, "scaled")
    value, grads = distributed.nll_and_grad(new_model(), xs, mesh=mesh)
    out["grad/value"] = np.asarray(value, np.float64)
    out.update(_flat("grad", grads))
    out["score_samples"] = new_model().score_samples(xs, mesh=mesh)
    return out


def chunked(mesh) -> dict[str, np.ndarray]:
    """Sequence parallel: EM with ``method="chunked"`` on one long sequence, its chunks split
    over ``mesh`` (needs ``fit_em(..., method=)``; the test skips this mode without it), and
    the NLL gradient of that sequence (the time-parallel custom JVP; rows split over the
    mesh, the one real row padded with weight-0 fillers)."""
    from lsgm import distributed

    out = _fit_em(long_sequence(), mesh, "chunked")
    value, grads = distributed.nll_and_grad(new_model(), long_sequence(), mesh=mesh)
    out["grad/value"] = np.asarray(value, np.float64)
    out.update(_flat("grad", grads))
    return out


def both(mesh) -> dict[str, np.ndarray]:
    """:func:`data_parallel` and :func:`chunked` in one job (one start-up, one compile cache:
    the test budget), their results prefixed by the mode's name."""
    out = {}
    for name, workload in (("data_parallel", data_parallel), ("chunked", chunked)):
        out.update({f"{name}/{key}": value for key, value in workload(mesh).items()})
    return out


#: Workloads by name: ``workload(mesh or None) -> {name: host array}``.
MODES: dict[str, Callable] = {"data_parallel": data_parallel, "chunked": chunked, "both": both}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to ``path`` atomically (a temporary name in the same folder, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _watchdog(seconds: float) -> None:
    """Exit hard after ``seconds``, or as soon as the parent process is gone, so that a worker
    never outlives its test (a peer stuck in a collective would otherwise wait on)."""
    parent, deadline = os.getppid(), time.monotonic() + seconds

    def watch() -> None:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        print("multihost_worker: parent gone or deadline passed; exiting", file=sys.stderr)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("out", type=Path, help="folder for process_<id>.npz")
    parser.add_argument("--coordinator", required=True, help="host:port of process 0")
    parser.add_argument("--num-processes", type=int, required=True)
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--timeout", type=int, default=60, help="seconds to wait for peers")
    parser.add_argument("--deadline", type=float, default=300, help="exit after this long")
    args = parser.parse_args(argv)
    _watchdog(args.deadline)

    began, cpu = time.perf_counter(), time.process_time()
    import jax

    # gloo is JAX 0.10's default for CPU collectives across processes; set it explicitly so
    # that a changed default cannot leave the run without cross-process collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from lsgm import distributed

    distributed.initialize(
        args.coordinator,
        args.num_processes,
        args.process_id,
        initialization_timeout=args.timeout,
        # process 0's coordinator listens on this address only (JAX's default: every
        # interface, "[::]:PORT"), the one whose port the test found free
        coordinator_bind_address=args.coordinator,
    )
    mesh = distributed.make_mesh()
    out = MODES[args.mode](mesh)
    rows = distributed.shard_batch(new_model().batch(sequences()), mesh).data
    # a global array split across the processes, resharded to replicated and gathered
    split = distributed.shard_rows(np.arange(2.0 * mesh.size), mesh)
    resharded = distributed.gather(distributed.replicate(split, mesh))
    out.update(
        {
            "meta/process_index": np.asarray(jax.process_index()),
            "meta/process_count": np.asarray(jax.process_count()),
            "meta/device_count": np.asarray(jax.device_count()),
            "meta/local_device_count": np.asarray(jax.local_device_count()),
            "meta/mesh_size": np.asarray(mesh.size),
            "meta/row_shards_here": np.asarray(len(rows.addressable_shards)),
            "meta/resharded": resharded,
            "meta/seconds": np.asarray(time.perf_counter() - began),
            "meta/cpu_seconds": np.asarray(time.process_time() - cpu),
        }
    )
    _write(args.out / f"process_{args.process_id}.npz", out)
    jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
