"""The training engine: a compiled step over an objective, an epoch loop, and hooks.

An *objective* is a function ``objective(model, batch, carry) -> (loss, aux, carry)``: a
scalar loss to minimise over the trainable parameters, any pytree ``aux`` of numbers to
report (sums for the epoch's metrics), and a ``carry`` threaded from one step to the next
within an epoch (the hidden state of truncated back-propagation through time; ``None`` for
most objectives, and never differentiated across steps). It must be hashable and stable
(a module-level function, or an instance of a frozen dataclass): it keys the compiled step.

One step, for parameters ``θ`` (the ``wrt`` filter), optimiser state ``s`` and the
optimiser's hyper-parameters ``h`` (arrays, :mod:`lsgm.training.optimizers`):

    (L, aux, carry'), g = value_and_grad_θ objective(model_θ, batch, carry)
    u, s' = update_h(g, s, θ);   θ' = θ + u

compiled once per (graph definition of model and optimiser, objective, mesh) and reused by
every later fit of a same-shaped model with an equal optimiser, whatever ``h`` is.

:func:`run_epochs` runs ``epochs`` passes: per epoch the ``batches(epoch)`` steps, then the
parameters are written back into the model, ``metrics(losses, auxes)`` fills ``loop.logs``,
and the :class:`Callback` hooks (early stopping, checkpoints, entropy heating, progress,
logging: :mod:`lsgm.training.callbacks`) see and steer the :class:`Loop`.

Data parallelism: with a ``mesh`` the parameters, optimiser state and hyper-parameters are
replicated over its devices and the step's outputs stay replicated; the caller places each
batch's rows (:func:`shard_rows`), and ``jax.jit`` sums the gradient across devices.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lsgm.mesh import replicate, replicated
from lsgm.mesh import shard_rows as _shard
from lsgm.training.optimizers import HyperOptimizer, step_transform

#: ``objective(model, batch, carry) -> (loss, aux, carry)`` (see the module docstring).
Objective = Callable[[Any, Any, Any], tuple[jax.Array, Any, Any]]

#: How often the train and eval steps were traced (compiled), by ``"train"`` and ``"eval"``.
_TRACES: Counter = Counter()


def trace_counts() -> dict[str, int]:
    """How many times this process traced (compiled) a train step and an eval step."""
    return dict(_TRACES)


def _train_impl(state, hyperparams, batch, carry, *, graphdef, objective):
    _TRACES["train"] += 1
    model, opt = nnx.merge(graphdef, state)

    def loss_fn(model):
        loss, aux, new_carry = objective(model, batch, carry)
        return loss, (aux, new_carry)

    grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, opt.wrt), has_aux=True)
    (loss, (aux, new_carry)), grads = grad_fn(model)
    opt.update(model, grads, hyperparams=hyperparams)
    return nnx.split((model, opt))[1], loss, aux, jax.lax.stop_gradient(new_carry)


def _eval_impl(state, batch, *, graphdef, fn):
    _TRACES["eval"] += 1
    model, _ = nnx.merge(graphdef, state)
    return fn(model, batch)


@lru_cache(maxsize=64)
def _compiled_train(graphdef, objective, mesh):
    out = None if mesh is None else replicated(mesh)
    return jax.jit(partial(_train_impl, graphdef=graphdef, objective=objective), out_shardings=out)


@lru_cache(maxsize=64)
def _compiled_eval(graphdef, fn, mesh):
    out = None if mesh is None else replicated(mesh)
    return jax.jit(partial(_eval_impl, graphdef=graphdef, fn=fn), out_shardings=out)


class Trainer:
    """A model, its optimiser and the compiled steps of an objective.

    The model's parameters selected by ``wrt`` are trained (others are not in the optimiser
    at all, so they stay bit-identical); steps run the model in train mode (dropout on),
    :meth:`evaluate` in eval mode. The trainer holds the current state; :meth:`sync` writes
    it into the model (and its ``nnx.Optimizer``), :meth:`reload` reads it back (after the
    model was changed, e.g. by a checkpoint). The model is left in eval mode.

    Args:
        model: an ``nnx.Module``.
        optimizer: an optax transformation or a :class:`HyperOptimizer` (whose numbers are
            step arguments: another learning rate does not recompile).
        objective: the loss (see the module docstring); replaceable between steps.
        wrt: an NNX filter of the trained parameters.
        mesh: a :class:`jax.sharding.Mesh` for data parallelism (None: one device).
    """

    def __init__(
        self,
        model: nnx.Module,
        optimizer: optax.GradientTransformation | HyperOptimizer,
        objective: Objective,
        *,
        wrt: Any = nnx.Param,
        mesh: Any = None,
    ):
        transform, hyperparams = step_transform(optimizer)
        self.model, self.mesh = model, mesh
        self.optimizer = nnx.Optimizer(model, transform, wrt=wrt)
        model.train()
        self.graphdef = nnx.graphdef((model, self.optimizer))
        model.eval()
        self.eval_graphdef = nnx.graphdef((model, self.optimizer))
        self.hyperparams = hyperparams if mesh is None else replicate(hyperparams, mesh)
        self.state: nnx.State
        self.reload()
        self.objective = objective

    @property
    def objective(self) -> Objective:
        """The loss the next steps minimise."""
        return self._objective

    @objective.setter
    def objective(self, objective: Objective) -> None:
        self._objective = objective
        self._step = _compiled_train(self.graphdef, objective, self.mesh)

    def step(self, batch: Any, carry: Any = None) -> tuple[jax.Array, Any, Any]:
        """One optimiser step on ``batch``: ``(loss, aux, carry)`` of the objective."""
        self.state, loss, aux, carry = self._step(self.state, self.hyperparams, batch, carry)
        return loss, aux, carry

    def evaluate(self, fn: Callable[[Any, Any], Any], batch: Any) -> Any:
        """``fn(model, batch)`` compiled, with the current parameters, in eval mode (``fn``
        hashable and stable, like an objective)."""
        return _compiled_eval(self.eval_graphdef, fn, self.mesh)(self.state, batch)

    def sync(self) -> None:
        """Write the current state into the model and its optimiser."""
        nnx.update((self.model, self.optimizer), self.state)

    def reload(self) -> None:
        """Take the model's and the optimiser's variables as the current state."""
        state = nnx.state((self.model, self.optimizer))
        self.state = state if self.mesh is None else replicate(state, self.mesh)


@dataclass
class Loop:
    """What :class:`Callback` hooks see and change while :func:`run_epochs` runs.

    Attributes:
        trainer: the :class:`Trainer`.
        epochs: the last epoch (exclusive) to run.
        epoch: the current epoch (0-based).
        logs: this epoch's numbers by name (from ``metrics`` and the callbacks).
        began: ``time.perf_counter()`` at the start of the epoch.
        stop: set by a hook to end training after this epoch (or before the first one).
    """

    trainer: Trainer
    epochs: int
    epoch: int = 0
    logs: dict[str, Any] = field(default_factory=dict)
    began: float = 0.0
    stop: bool = False

    def elapsed(self) -> float:
        """Seconds since the epoch began."""
        return time.perf_counter() - self.began


class Callback:
    """Hooks of :func:`run_epochs`, called in list order; each does nothing by default."""

    def on_fit_begin(self, loop: Loop) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, loop: Loop) -> None:
        """Before the epoch's first step."""

    def on_step_end(self, loop: Loop, step: int, loss: jax.Array, aux: Any) -> None:
        """After step ``step`` (0-based within the epoch); ``loss`` is still on the device."""

    def on_epoch_end(self, loop: Loop) -> None:
        """After the epoch, with the parameters in the model and ``loop.logs`` filled."""

    def on_fit_end(self, loop: Loop) -> None:
        """After the last epoch (also after an early stop)."""


def run_epochs(
    trainer: Trainer,
    batches: Callable[[int], Iterable[Any]],
    *,
    epochs: int,
    start: int = 0,
    metrics: Callable[[list, list], dict] | None = None,
    callbacks: Sequence[Callback] = (),
    carry: Callable[[int], Any] | None = None,
) -> Loop:
    """Train for epochs ``start .. epochs - 1`` (fewer when a callback sets ``loop.stop``).

    Args:
        trainer: the model, optimiser and objective.
        batches: ``batches(epoch)``, the step inputs of that epoch, in order.
        epochs, start: the epoch range (``start > 0``: a resumed run).
        metrics: ``metrics(losses, auxes)`` of the epoch's steps (device arrays) -> numbers
            for ``loop.logs``.
        callbacks: the hooks (:mod:`lsgm.training.callbacks`).
        carry: ``carry(epoch)``, the carry of the epoch's first step (None: no carry).

    Returns:
        The :class:`Loop` after the last epoch.
    """
    loop = Loop(trainer, epochs, epoch=start)
    for callback in callbacks:
        callback.on_fit_begin(loop)
    for epoch in range(start, epochs):
        if loop.stop:
            break
        _run_epoch(loop, epoch, batches, metrics, callbacks, carry)
    for callback in callbacks:
        callback.on_fit_end(loop)
    return loop


def _run_epoch(loop: Loop, epoch: int, batches, metrics, callbacks, carry) -> None:
    loop.epoch, loop.logs, loop.began = epoch, {}, time.perf_counter()
    for callback in callbacks:
        callback.on_epoch_begin(loop)
    state = None if carry is None else carry(epoch)
    losses, auxes = [], []
    for step, batch in enumerate(batches(epoch)):
        loss, aux, state = loop.trainer.step(batch, state)
        losses.append(loss)
        auxes.append(aux)
        for callback in callbacks:
            callback.on_step_end(loop, step, loss, aux)
    loop.trainer.sync()
    if metrics is not None:
        loop.logs.update(metrics(losses, auxes))
    for callback in callbacks:
        callback.on_epoch_end(loop)


def mean_loss(losses: Sequence[jax.Array]) -> float:
    """The mean of an epoch's step losses, summed one by one as Python floats (float64)."""
    total = 0.0
    for loss in losses:
        total += float(loss)
    return total / len(losses)


def shard_rows(arrays: Sequence[Any], weights: jax.Array, mesh: Any) -> tuple:
    """``(*arrays, weights)`` of one minibatch, each ``[B, ...]`` (None entries stay None),
    padded to a multiple of the device count and split over ``mesh`` by rows. Filler rows
    copy the first array's first row (valid input for the model) and are zero in the other
    arrays (length 0) and in ``weights`` (weight 0), so they contribute nothing."""
    first, *rest = arrays
    fill = (-first.shape[0]) % mesh.size
    if fill:

        def pad(a):
            return (
                None
                if a is None
                else jnp.concatenate([a, jnp.zeros((fill,) + a.shape[1:], a.dtype)])
            )

        first = jnp.concatenate([first, jnp.repeat(first[:1], fill, axis=0)])
        rest, weights = [pad(a) for a in rest], pad(weights)
    placed = [None if a is None else _shard(a, mesh) for a in (first, *rest, weights)]
    return tuple(placed)
