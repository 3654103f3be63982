"""On a GPU (marker ``gpu``; skipped elsewhere): the kernels give the CPU's numbers.

The default run has no GPU; on a machine with one, ``pytest -m gpu`` runs these. Each check
computes the same float32 quantity on the GPU and on the CPU and compares them.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import random_potentials

from lsgm import inference
from lsgm.inference import Potentials, time_parallel

pytestmark = pytest.mark.gpu


def _on(device, fn, *args):
    """``fn(*args)`` with the arguments placed on ``device``, as numpy arrays."""
    placed = jax.device_put(args, device)
    return jax.tree.map(np.asarray, fn(*placed))


@pytest.mark.parametrize("method", ["scaled", "log", "chunked"])
def test_expected_counts_equal_the_cpu(method):
    rng = np.random.default_rng(0)
    p = random_potentials(rng, 20_000, 8, True)
    p = Potentials(*(np.asarray(a, np.float32) for a in p))
    fn = jax.jit(lambda q: inference.expected_counts(q, method=method))
    gpu = _on(jax.devices("gpu")[0], fn, p)
    cpu = _on(jax.devices("cpu")[0], fn, p)
    for a, b in zip(gpu, cpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_time_parallel_batch_equals_the_cpu():
    rng = np.random.default_rng(1)
    K, N, T = 6, 3, 30_000
    p = random_potentials(rng, T, K, True)
    log_emit = rng.normal(size=(N, T, K)).astype(np.float32)
    lengths = np.array([T, T // 2, 1000])
    args = (np.float32(p.log_init), np.float32(p.log_trans), log_emit, lengths)
    fn = jax.jit(time_parallel.batch_expected_counts)
    gpu = _on(jax.devices("gpu")[0], fn, *args)
    cpu = _on(jax.devices("cpu")[0], fn, *args)
    for name in ("log_z", "states", "initial", "transitions"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-4, atol=1e-5)
