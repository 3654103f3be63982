"""Two JAX processes on this machine form one multi-host job; the results equal one device.

Each mode of ``tests/multihost_worker.py`` runs in two subprocesses that join one job through
:func:`lsgm.distributed.initialize` (coordinator on 127.0.0.1 and a free port, CPU collectives
over gloo, 2 virtual CPU devices per process: a global mesh of 4 devices on 2 processes).
The test process runs the same workload with ``mesh=None`` on one device for the reference.
Every result of both processes must match it to float32 round-off, and the two processes must
agree exactly (the replicated results are one all-reduce's output; row outputs are gathered).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lsgm

HERE = Path(__file__).resolve().parent
PROCESSES, DEVICES_PER_PROCESS = 2, 2
#: Seconds a worker may take (start, join, compile, run); each needs ~10 s of CPU time.
TIMEOUT = 180


def _worker_module():
    """``tests/multihost_worker.py`` as a module (the tests folder is no package)."""
    spec = importlib.util.spec_from_file_location("multihost_worker", HERE / "multihost_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _worker_module()


def _free_port() -> int:
    """A TCP port on the loopback address that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_env() -> dict[str, str]:
    """A clean environment: only what a worker needs. Not inherited: the test process's
    ``XLA_FLAGS`` / compilation cache (``tests/conftest.py``) and any proxy variables (gRPC,
    which connects to the coordinator, honours ``http_proxy``)."""
    src = str(Path(lsgm.__file__).resolve().parents[1])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(HERE)),
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        "JAX_PLATFORMS": "cpu",
        # optimisation level 0 and the older loop emitters: compiles much faster (the test
        # budget; see conftest.py); the SPMD partitioning, and so the cross-process all-reduces
        # and all-gathers, is the same
        "XLA_FLAGS": (
            f"--xla_force_host_platform_device_count={DEVICES_PER_PROCESS} "
            "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
        ),
    }
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


class Workers:
    """The worker processes of one job, as a context manager: started on entry; on exit none
    is left running, whatever happened (the test failed, the reference raised, ...)."""

    def __init__(self, modes: list[str], out: Path, logs: Path):
        self.modes, self.out, self.logs = modes, out, logs
        self.procs: list[subprocess.Popen] = []
        self._files: list = []

    def __enter__(self) -> Workers:
        address = f"127.0.0.1:{_free_port()}"
        for i, mode in enumerate(self.modes):
            log = open(self.logs / f"process_{i}.log", "w")  # noqa: SIM115 (closed in stop)
            self._files.append(log)
            command = [
                sys.executable,
                str(HERE / "multihost_worker.py"),
                mode,
                str(self.out),
                "--coordinator",
                address,
                "--num-processes",
                str(len(self.modes)),
                "--process-id",
                str(i),
                "--timeout",
                str(TIMEOUT // 2),
                "--deadline",  # the worker's own limit, should this process die
                str(TIMEOUT + 30),
            ]
            self.procs.append(
                subprocess.Popen(
                    command, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT, cwd=HERE
                )
            )
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill every worker still running (e.g. one waiting for a peer that died); reap all."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
        for f in self._files:
            f.close()

    def wait(self) -> list[dict[str, np.ndarray]]:
        """Wait for every worker, stopping the others as soon as one fails or ``TIMEOUT`` is
        up; fail with their output unless all succeeded, else their results in process order.
        """
        deadline = time.monotonic() + TIMEOUT
        while True:
            codes = [p.poll() for p in self.procs]  # every one (any() would stop early)
            if None not in codes or any(c not in (None, 0) for c in codes):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.stop()
        codes = [p.returncode for p in self.procs]
        if codes != [0] * len(self.procs):
            text = "\n".join(
                f"--- process {i} (exit code {code}) ---\n"
                + (self.logs / f"process_{i}.log").read_text()[-4000:]
                for i, code in enumerate(codes)
            )
            pytest.fail(f"worker(s) failed or ran past {TIMEOUT} s (then killed):\n{text}")
        return [dict(np.load(self.out / f"process_{i}.npz")) for i in range(len(codes))]


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    logs.mkdir()
    return out, logs


def _assert_close(got: np.ndarray, ref: np.ndarray, name: str) -> None:
    """Equal to float32 round-off: ``rtol = 1e-5`` and, for entries near 0 (the gradients of
    softmax logits sum to 0 and partly cancel), ``atol = 1e-5 * max |ref|``."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, name
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * scale, err_msg=name)


def _has_method() -> bool:
    return "method" in inspect.signature(lsgm.training.fit_em).parameters


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["both"])  # data parallel and sequence parallel, one job
def test_two_processes_equal_one_device(mode, tmp_path):
    if not _has_method():
        pytest.skip("lsgm.training.fit_em has no method= yet (chunked E-step)")
    began = time.perf_counter()
    with Workers([mode] * PROCESSES, *_folders(tmp_path)) as workers:
        reference = worker.MODES[mode](None)  # one device, while the workers run
        results = workers.wait()
    seconds = time.perf_counter() - began
    print(
        f"{mode}: {seconds:.1f} s in all; workers (wall s, CPU s): "
        + ", ".join(f"{r['meta/seconds']:.1f}, {r['meta/cpu_seconds']:.1f}" for r in results)
    )

    for i, got in enumerate(results):
        assert int(got["meta/process_index"]) == i
        assert int(got["meta/process_count"]) == PROCESSES
        assert int(got["meta/local_device_count"]) == DEVICES_PER_PROCESS
        assert int(got["meta/device_count"]) == int(got["meta/mesh_size"]) == 4
        # this process holds only its own rows: 10 rows padded to 12, 3 on each of 2 devices
        assert int(got["meta/row_shards_here"]) == DEVICES_PER_PROCESS
        np.testing.assert_array_equal(got["meta/resharded"], np.arange(8.0))
        for name, ref in reference.items():
            _assert_close(got[name], ref, f"process {i}: {name}")
    first, second = results
    for name in reference:  # the processes agree exactly
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_a_failing_worker_stops_the_other(tmp_path):
    """Process 1 dies at once (an unknown mode); process 0, waiting for it to join, is killed
    at once instead of after the timeout, and the failure shows the workers' output."""
    began = time.perf_counter()
    with Workers(["data_parallel", "no-such-mode"], *_folders(tmp_path)) as workers:
        with pytest.raises(pytest.fail.Exception, match="(?s)exit code 2.*invalid choice"):
            workers.wait()
        assert all(p.poll() is not None for p in workers.procs)  # no orphan
    assert time.perf_counter() - began < TIMEOUT / 2
