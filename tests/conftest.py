"""Shared fixtures: float64 mode for exactness tests, random potentials, brute-force enumeration."""

from __future__ import annotations

import atexit
import gc
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The tests run tiny problems, where XLA's compile time dominates. Three settings, made before
# JAX starts, cut the run by more than half: compiling without backend optimisation and with
# XLA:CPU's older loop emitters instead of its fusion emitters (which compile each fused kernel
# separately: this halved the CPU time of test_inference_chunked + test_training_labels, 54 ->
# 29 s, 2026-12-07; the programs run up to 25 % slower, which tiny problems never notice) —
# the xdist workers and the CLI subprocesses inherit both; numbers agree to the tests'
# tolerances; benchmarks never run this way — and a compilation cache for this run (new and
# empty, removed after it) that the CLI subprocesses, which compile the same programs again
# and again, share. The test processes use it too: a program one module compiled is read back
# when a later module (or the other xdist worker) compiles it again after the caches were
# dropped (below): 88 -> 83 s of CPU on the six CLI and training modules, 2026-12-07.
for _flag in ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false"):
    if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="lsgm-tests-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

from lsgm.inference import Potentials  # noqa: E402

# Every program XLA compiles for the CPU keeps a few memory mappings for its machine code until
# JAX's caches drop it: about 10,000 per test module here. A long-lived xdist worker reached
# Linux's per-process limit (vm.max_map_count, 65,530 by default) after some 40 modules, and
# the next compile died with SIGSEGV (2026-12-07: a worker's core dump had 65,511 mappings).
# Dropping the caches after each module, and after any test that leaves too many mappings,
# keeps a worker near 2,000; the later modules compile what they need again, which costs
# nothing measurable (the modules share almost no programs).
MAPPINGS_BEFORE_CLEARING = 30_000


def _mapped_regions() -> int:
    """How many memory mappings this process has (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


def _drop_compiled_programs() -> None:
    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True, scope="module")
def _compiled_programs_per_module():
    """Drop the module's compiled programs when it ends (see above)."""
    yield
    _drop_compiled_programs()


@pytest.fixture(autouse=True)
def _compiled_programs_per_test():
    """Drop compiled programs after a test that leaves too many mappings (see above)."""
    yield
    if _mapped_regions() > MAPPINGS_BEFORE_CLEARING:
        _drop_compiled_programs()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run first; tests marked ``gpu`` skip where there is no GPU.

    Slow first: xdist hands out the remaining tests to whichever worker is free, so a long
    test drawn last keeps one worker busy while the other idles (up to a minute and a half of
    a ten-minute run). Started first, the long tests overlap and the short ones fill the gaps.
    The order is stable, so every worker collects the same list.
    """
    items.sort(key=lambda item: "slow" not in item.keywords)
    if jax.default_backend() == "gpu":
        return
    skip = pytest.mark.skip(reason=f"needs a GPU; JAX's default backend is {jax.default_backend()}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def x64():
    """Run the test body with 64-bit JAX arrays."""
    with jax.enable_x64(True):
        yield


def random_potentials(
    rng: np.random.Generator, T: int, K: int, stationary: bool, neg_inf_frac: float = 0.0
) -> Potentials:
    """Unnormalised random log-potentials (normalisation is not needed by the kernels)."""
    log_init = rng.normal(size=K)
    log_trans = rng.normal(size=(K, K) if stationary else (max(T - 1, 0), K, K))
    log_emit = rng.normal(size=(T, K)) * 2.0
    if neg_inf_frac:
        log_trans = np.where(rng.random(log_trans.shape) < neg_inf_frac, -np.inf, log_trans)
        log_emit = np.where(rng.random(log_emit.shape) < neg_inf_frac, -np.inf, log_emit)
    return Potentials(log_init, log_trans, log_emit)


class BruteForce:
    """Exact answers by enumerating every state path of a tiny problem (numpy, float64)."""

    def __init__(self, p: Potentials, allowed=None):
        self.li = np.asarray(p.log_init, np.float64)
        self.le = np.asarray(p.log_emit, np.float64)
        self.T, self.K = self.le.shape
        lt = np.asarray(p.log_trans, np.float64)
        self.lt = np.broadcast_to(lt, (max(self.T - 1, 0), self.K, self.K)) if lt.ndim == 2 else lt
        self.states_ok = np.ones(self.K, bool) if allowed is None else np.asarray(allowed, bool)

    def paths(self, n: int):
        """Every allowed state sequence of length n."""
        ok = np.flatnonzero(self.states_ok)
        return [np.array(z) for z in itertools.product(ok, repeat=n)]

    def prefix_score(self, z) -> float:
        with np.errstate(invalid="ignore"):
            s = self.li[z[0]] + self.le[0, z[0]]
            for t in range(1, len(z)):
                s += self.lt[t - 1, z[t - 1], z[t]] + self.le[t, z[t]]
        return s

    def suffix_score(self, t: int, z_t: int, rest) -> float:
        s, prev = 0.0, z_t
        for u, z in enumerate(rest, start=t + 1):
            s += self.lt[u - 1, prev, z] + self.le[u, z]
            prev = z
        return s

    def full(self):
        paths = self.paths(self.T)
        scores = np.array([self.prefix_score(z) for z in paths])
        return paths, scores

    def log_z(self) -> float:
        return logsumexp(self.full()[1])

    def log_alpha(self) -> np.ndarray:
        out = np.full((self.T, self.K), -np.inf)
        for t in range(self.T):
            for z in self.paths(t + 1):
                out[t, z[-1]] = np.logaddexp(out[t, z[-1]], self.prefix_score(z))
        return out

    def log_beta(self) -> np.ndarray:
        out = np.full((self.T, self.K), -np.inf)
        for t in range(self.T):
            for k in np.flatnonzero(self.states_ok):
                rest = self.paths(self.T - 1 - t)
                out[t, k] = logsumexp([self.suffix_score(t, k, r) for r in rest])
        return out

    def marginals(self):
        paths, scores = self.full()
        w = np.exp(scores - logsumexp(scores))
        states = np.zeros((self.T, self.K))
        pairs = np.zeros((max(self.T - 1, 0), self.K, self.K))
        for z, wz in zip(paths, w, strict=True):
            states[np.arange(self.T), z] += wz
            for t in range(self.T - 1):
                pairs[t, z[t], z[t + 1]] += wz
        return states, pairs

    def viterbi(self):
        paths, scores = self.full()
        best = int(np.argmax(scores))
        return paths[best], scores[best]

    def path_probs(self) -> dict[tuple, float]:
        paths, scores = self.full()
        w = np.exp(scores - logsumexp(scores))
        return {tuple(int(s) for s in z): float(wz) for z, wz in zip(paths, w, strict=True)}


@pytest.fixture(scope="session")
def cli_model(tmp_path_factory):
    """A supervised HMM model file fitted by ``lsgm fit`` on the CLI test DNA and labels."""
    from pathlib import Path

    from lsgm.cli.main import main

    data = Path(__file__).parent / "data"
    path = tmp_path_factory.mktemp("cli_model") / "dna.lsgm"
    args = ["fit", str(data / "cli_dna.fa"), "--labels", str(data / "cli_labels.fa")]
    assert main([*args, "-o", str(path), "-q"]) == 0
    return path


def run_on_four_devices(script: str) -> dict:
    """Run ``script`` in a fresh interpreter with 4 virtual CPU devices (XLA reads its flags
    once, when JAX starts) and return the JSON it prints on its last ``RESULT `` line."""
    import lsgm

    src = str(Path(lsgm.__file__).resolve().parents[1])
    env = {
        **os.environ,
        # optimisation level 0: a faster compile (the test budget); the SPMD partitioning
        # that inserts the cross-device collectives is unchanged
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    line = [s for s in run.stdout.splitlines() if s.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))
