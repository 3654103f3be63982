"""The training engine (lsgm.training.loop, callbacks, optimizers): the optimiser is an
argument of the compiled step (a new optax object or another learning rate compiles nothing),
the epoch loop and its hooks, and the size limit of the functions in ``lsgm/training``."""

from __future__ import annotations

import ast
import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Categorical
from lsgm.training import fit_gradient
from lsgm.training.callbacks import EarlyStopping, EntropyHeating, StepLog
from lsgm.training.loop import Callback, Trainer, run_epochs, trace_counts
from lsgm.training.optimizers import HyperOptimizer, step_transform, structure

TRAINING = Path(lsgm.__file__).parent / "training"
RNG = np.random.default_rng(0)
SEQS = [RNG.integers(0, 4, size=T) for T in (5, 7, 8, 6, 8, 5)]


def _hmm(seed: int = 0):
    return lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(seed)), rngs=nnx.Rngs(seed + 1))


def _params(model) -> list[np.ndarray]:
    return [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]


@contextlib.contextmanager
def _count_compiles():
    """Count XLA backend compiles (``jax.monitoring``) while the block runs."""
    seen: list[str] = []

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# ------------------------------------------------------------------ no recompiles
def test_another_learning_rate_does_not_recompile():
    def fit(lr):
        optimizer = HyperOptimizer(optax.adam, {"learning_rate": lr})
        return fit_gradient(_hmm(), SEQS, optimizer=optimizer, epochs=2, batch_size=3)[0]

    fit(0.05)
    before = trace_counts()["train"]
    with _count_compiles() as compiles:
        model = fit(0.2)
    assert compiles == [] and trace_counts()["train"] == before
    # the new rate is used: the same parameters as with a plain optax.adam(0.2)
    plain = fit_gradient(_hmm(), SEQS, optimizer=optax.adam(0.2), epochs=2, batch_size=3)[0]
    for a, b in zip(_params(model), _params(plain), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_params(fit(0.05))[0], _params(model)[0])


def test_new_optax_object_with_same_numbers_does_not_recompile():
    fit_gradient(_hmm(), SEQS, optimizer=optax.adamw(0.03), epochs=1, batch_size=3)
    with _count_compiles() as compiles:
        fit_gradient(_hmm(1), SEQS, optimizer=optax.adamw(0.03), epochs=1, batch_size=3)
    assert compiles == []


def test_structure_keys():
    assert structure(optax.adam(0.1)) == structure(optax.adam(0.1))
    assert hash(structure(optax.adam(0.1))) == hash(structure(optax.adam(0.1)))
    assert structure(optax.adam(0.1)) != structure(optax.adam(0.2))
    assert structure(optax.adam(0.1)) != structure(optax.sgd(0.1))
    array_lr = optax.sgd(jnp.asarray(0.1))  # an array: compared by identity
    assert structure(array_lr) == structure(array_lr)
    assert structure(optax.sgd(jnp.asarray(0.1))) != structure(array_lr)
    a, arrays_a = step_transform(HyperOptimizer(optax.adam, {"learning_rate": 0.1}, 1.0))
    b, arrays_b = step_transform(HyperOptimizer(optax.adam, {"learning_rate": 0.5}, 2.0))
    assert a == b and hash(a) == hash(b) and float(arrays_b["clip_norm"]) == 2.0
    c, _ = step_transform(HyperOptimizer(optax.adam, {"learning_rate": 0.1}))
    assert c != a  # without clipping: another computation


def test_hyper_optimizer_clipping_equals_optax_chain():
    hyper = HyperOptimizer(optax.adam, {"learning_rate": 0.1})
    a = fit_gradient(_hmm(), SEQS, optimizer=hyper, clip_norm=0.5, epochs=2, batch_size=3)[0]
    b = fit_gradient(_hmm(), SEQS, optimizer=optax.adam(0.1), clip_norm=0.5, epochs=2, batch_size=3)
    for x, y in zip(_params(a), _params(b[0]), strict=True):
        np.testing.assert_array_equal(x, y)
    clipped = HyperOptimizer(optax.adam, {"learning_rate": 0.1}, clip_norm=1.0)
    with pytest.raises(ValueError, match="clip_norm is given twice"):
        fit_gradient(_hmm(), SEQS, optimizer=clipped, clip_norm=0.5, epochs=1)


# ------------------------------------------------------------------ the loop and hooks
class Line(nnx.Module):
    """``y = a x + b``."""

    def __init__(self):
        self.a, self.b = nnx.Param(jnp.zeros(())), nnx.Param(jnp.zeros(()))

    def __call__(self, x):
        return self.a[...] * x + self.b[...]


def squared_error(model, batch, carry):
    x, y = batch
    return jnp.mean((model(x) - y) ** 2), jnp.sum(x), carry


X = jnp.linspace(-1, 1, 8)
Y = 2 * X + 1


def test_run_epochs_fits_and_reports():
    trainer = Trainer(Line(), HyperOptimizer(optax.sgd, {"learning_rate": 0.3}), squared_error)
    seen = []

    def metrics(losses, auxes):
        seen.append((len(losses), float(sum(auxes))))
        return {"loss": float(losses[-1])}

    loop = run_epochs(trainer, lambda epoch: [(X, Y)] * 5, epochs=40, metrics=metrics)
    assert loop.epoch == 39 and seen[0] == (5, pytest.approx(0.0, abs=1e-5))
    assert loop.logs["loss"] < 1e-4
    np.testing.assert_allclose([trainer.model.a[...], trainer.model.b[...]], [2, 1], atol=1e-2)


def test_early_stopping_keeps_best_epoch_and_stops():
    model = Line()
    trainer = Trainer(model, optax.sgd(0.3), squared_error)
    values = iter([3.0, 1.0, 2.0, 0.5, 0.7, 0.8, 0.9, 0.1])  # best at epoch 3, then 3 worse

    def metrics(losses, auxes):
        return {"valid": next(values), "a": float(model.a[...])}

    early = EarlyStopping(model, "valid", patience=3)
    kept = []

    class Spy(Callback):
        def on_epoch_end(self, loop):
            kept.append(float(model.a[...]))

    loop = run_epochs(
        trainer, lambda e: [(X, Y)], epochs=8, metrics=metrics, callbacks=[early, Spy()]
    )
    assert loop.stop and loop.epoch == 6 and early.best_epoch == 3 and early.best_value == 0.5
    assert float(model.a[...]) == kept[3]  # restored at the end
    keep = EarlyStopping(model, "v", mode="max", keep_first=True)
    run_epochs(
        trainer, lambda e: [(X, Y)], epochs=2, metrics=lambda *_: {"v": math.nan}, callbacks=[keep]
    )
    assert keep.best_epoch == 0 and keep.best_value == -math.inf


def counting(model, batch, carry):
    """A carry that counts the steps of the epoch (and feeds the loss)."""
    x, y = batch
    return jnp.mean((model(x) - y) ** 2) + 0 * carry, carry, carry + 1


def test_carry_is_threaded_and_reset_per_epoch():
    trainer = Trainer(Line(), optax.sgd(0.1), counting)
    lines: list[str] = []
    log = StepLog(2, lines.append, lambda loop, step, loss: f"{loop.epoch}:{step}")
    loop = run_epochs(
        trainer,
        lambda epoch: [(X, Y)] * 4,
        epochs=2,
        metrics=lambda losses, auxes: {"carries": [int(c) for c in auxes]},
        callbacks=[log],
        carry=lambda epoch: jnp.asarray(10 * epoch),
    )
    assert loop.logs["carries"] == [10, 11, 12, 13]
    assert lines == ["0:2", "0:4", "1:2", "1:4"]


@dataclass(frozen=True)
class Scaled:
    """A hashable objective with a setting (the mean squared error times ``scale``)."""

    scale: float

    def __call__(self, model, batch, carry):
        loss, aux, carry = squared_error(model, batch, carry)
        return self.scale * loss, aux, carry


def test_entropy_heating_switches_objective():
    trainer = Trainer(Line(), optax.sgd(0.1), Scaled(1.0))
    heat = EntropyHeating(2, 0.5, Scaled(0.0), Scaled(1.0))
    used = []

    class Spy(Callback):
        def on_epoch_end(self, loop):
            used.append((loop.logs["heated"], loop.trainer.objective.scale))

    run_epochs(trainer, lambda e: [(X, Y)], epochs=4, callbacks=[heat, Spy()])
    assert used == [(True, 0.0), (True, 0.0), (False, 1.0), (False, 1.0)]


# ------------------------------------------------------------------ code size
def test_no_function_in_training_exceeds_80_lines():
    long = []
    for path in sorted(TRAINING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.name}::{node.name} ({lines} lines)")
    assert len(list(TRAINING.glob("*.py"))) >= 8 and long == []
