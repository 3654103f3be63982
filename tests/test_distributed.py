"""lsgm.distributed: data parallelism over a jax.sharding.Mesh equals one device.

The 4-device checks run in one subprocess with ``XLA_FLAGS=--xla_force_host_platform_
device_count=4`` (XLA reads its flags once, when JAX starts): EM statistics, a 3-iteration
``fit_em``, batch-NLL gradients of an HMM and a tiny LSGM, a 2-epoch ``fit_gradient`` and
``score_samples`` / ``predict`` / ``predict_proba``, each against the single-device result
(relative difference <= 1e-5, float32). 10 ragged sequences over 4 devices exercise the
filler rows (length 0, weight 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_on_four_devices
from flax import nnx

import lsgm
from lsgm import distributed
from lsgm.data.batching import pad_sequences
from lsgm.distributions import Categorical
from lsgm.training.em import e_step

SCRIPT = r"""
import json
import jax, numpy as np, optax, lsgm
from flax import nnx
from lsgm import distributed as D
from lsgm.distributions import Categorical
from lsgm.training import fit_em, fit_gradient
import lsgm.inference.kernels as kernels

kernels.UNROLL = 1  # scan unrolling is a speed knob only; 1 compiles faster (test budget)

out = {"device_count": jax.device_count()}
rng = np.random.default_rng(0)
xs = [rng.integers(0, 4, size=int(n)) for n in rng.integers(3, 12, size=10)]
four = D.make_mesh(4)

def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1.0)))

def tree_rel(a, b):
    return max(jax.tree.leaves(jax.tree.map(rel, a, b)))

def hmm():
    return lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(0))

def params(m):
    return jax.tree.map(np.asarray, nnx.state(m, nnx.Param))

m = hmm()
out["shards"] = len(D.shard_batch(m.batch(xs), four).data.addressable_shards)
ref, got = D.expected_statistics(m, xs), D.expected_statistics(m, xs, mesh=four)
out["em_stats"] = max(rel(a, b) for a, b in zip(got, ref))
out["em_occupancy_total"] = float(got.occupancy.sum())
base = params(fit_em(hmm(), xs, max_iter=3, tol=-1)[0])
out["fit_em"] = tree_rel(params(fit_em(hmm(), xs, max_iter=3, tol=-1, mesh=four)[0]), base)
tiny = lsgm.LSGM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), hidden_size=4, embedding_dim=2, rngs=nnx.Rngs(0))
for name, m in (("hmm", hmm()), ("lsgm", tiny)):
    v, g = D.nll_and_grad(m, xs)
    v4, g4 = D.nll_and_grad(m, xs, mesh=four)
    out["grad_" + name] = max(rel(v4, v), tree_rel(g4, g))

def fit(mesh):
    m = hmm()
    # plain SGD: unlike Adam it would show a gradient scaled by the device count
    fit_gradient(m, xs, optimizer=optax.sgd(0.1), epochs=2, batch_size=None, mesh=mesh)
    return params(m)

out["fit_gradient"] = tree_rel(fit(four), fit(None))
m = hmm()
out["score_samples"] = rel(m.score_samples(xs, mesh=four), m.score_samples(xs))
p, p4 = m.predict_proba(xs), m.predict_proba(xs, mesh=four)
out["predict_proba"] = max(rel(a, b) for a, b in zip(p4, p))
out["predict_equal"] = all(np.array_equal(a, b) for a, b in zip(m.predict(xs, mesh=four), m.predict(xs)))
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_four_virtual_devices_equal_one_device():
    out = run_on_four_devices(SCRIPT)
    assert out["device_count"] == 4  # the flag took effect: really 4 devices
    assert out["shards"] == 4  # 10 rows padded to 12, 3 per device
    # filler rows add no state occupancy: sum_n sum_t p(z_t | x) = number of real steps
    rng = np.random.default_rng(0)
    steps = int(rng.integers(3, 12, size=10).sum())
    assert out["em_occupancy_total"] == pytest.approx(steps, rel=1e-5)
    for key in ("em_stats", "fit_em", "grad_hmm", "grad_lsgm", "fit_gradient"):
        assert out[key] <= 1e-5, (key, out[key])
    assert out["score_samples"] <= 1e-5 and out["predict_proba"] <= 1e-5
    assert out["predict_equal"]


# ------------------------------------------------------------------ in-process (1 device)
def _hmm():
    return lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(0))


XS = [np.random.default_rng(1).integers(0, 4, size=n) for n in (4, 7, 5)]


def test_filler_rows_contribute_nothing():
    """A length-0 row alone adds ``log p(x_1)`` to log L (the kernels count step 0); with
    weight 0 it adds exactly nothing."""
    batch = pad_sequences(XS)
    data, lengths, weights = distributed.pad_rows(batch.data, batch.lengths, 4)
    assert data.shape[0] == 4 and list(lengths) == [4, 7, 5, 0] and list(weights) == [1, 1, 1, 0]
    np.testing.assert_array_equal(data[3], data[0])
    model = _hmm()
    stats = jax.jit(lambda w: e_step(model, jnp.asarray(data), jnp.asarray(lengths), None, w))
    weighted, unweighted = stats(jnp.asarray(weights)), stats(jnp.ones(4))
    # by hand: the filler row's log p(x_1) = log sum_k pi_k B[k, x_1]
    pi = np.exp(np.asarray(model.log_initial(), np.float64))
    emit = np.asarray(model.potentials(jnp.asarray(data[3]))[2], np.float64)
    first_step = np.log(np.sum(pi * np.exp(emit[0])))
    assert float(unweighted[0]) - float(weighted[0]) == pytest.approx(first_step, rel=1e-5)
    assert float(weighted[0]) == pytest.approx(model.score(XS), rel=1e-6)  # = real rows only
    for a, b in zip(weighted[1:], unweighted[1:], strict=True):  # counts are 0 either way
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(weighted[3][-data.shape[1] :].sum()) == 0.0
    assert float(weighted[1].sum()) == pytest.approx(3.0, rel=1e-6)  # one initial state per row


def test_one_device_mesh_equals_no_mesh():
    mesh = distributed.make_mesh(1)
    assert mesh.shape == {"data": 1}
    model = _hmm()
    got = model.score_samples(XS, mesh=mesh)
    np.testing.assert_allclose(got, model.score_samples(XS), rtol=1e-6)
    assert model.score(XS, mesh=mesh) == pytest.approx(float(got.sum()), rel=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_devices=.*XLA_FLAGS"):
        distributed.make_mesh(jax.device_count() + 1)
    with pytest.raises(ValueError, match="jax.sharding.Mesh"):
        distributed.row_sharding("data")
    with pytest.raises(ValueError, match="process_id=2"):
        distributed.initialize("localhost:1234", num_processes=2, process_id=2)
