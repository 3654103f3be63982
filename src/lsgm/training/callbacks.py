"""Hooks of the training engine (:func:`lsgm.training.loop.run_epochs`).

* :class:`EarlyStopping`: track a validation number, snapshot the parameters of the best
  epoch, stop after ``patience`` epochs without improvement, restore the best at the end.
* :class:`Checkpointing` and :func:`resume`: an atomic checkpoint after every epoch (model,
  optimiser, best parameters, epoch, early-stopping counters and the caller's metadata) and
  the exact continuation of an interrupted run (:mod:`lsgm.training.checkpoint`).
* :class:`EntropyHeating`: another objective for the first epochs (LSGM paper §2.6).
* :class:`ProgressBar`, :class:`EpochLog`, :class:`StepLog`: progress and logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from flax import nnx
from tqdm.auto import tqdm

from lsgm.training.checkpoint import (
    ResumeError,
    check_resume,
    load_checkpoint,
    load_metadata,
    save_checkpoint,
)
from lsgm.training.loop import Callback, Loop, Objective, Trainer


def snapshot(state: nnx.State) -> nnx.State:
    """A copy of a state's containers: ``nnx.state`` returns the model's live Variables, which
    later updates would overwrite (the arrays themselves are immutable and shared)."""
    return jax.tree.map(lambda leaf: leaf, state)


class EarlyStopping(Callback):
    """Keep the parameters of the epoch with the best ``loop.logs[monitor]``.

    An epoch improves when its value is lower (``mode="min"``) or higher (``"max"``) than the
    best so far; NaN never improves, except that with ``keep_first`` the first epoch is kept
    whatever its value. After ``patience`` epochs in a row without improvement ``loop.stop``
    is set. At the end the model gets the snapshot of the best epoch (``restore``). Epochs
    without the value (no validation) change nothing.

    Attributes:
        best: the snapshot (``nnx.state(model, snapshot)``; the starting state until an
            epoch improves); best_value, best_epoch (None: none yet), bad_epochs.
    """

    def __init__(
        self,
        model: nnx.Module,
        monitor: str,
        *,
        mode: str = "min",
        patience: int | None = None,
        restore: bool = True,
        keep_first: bool = False,
        snapshot_filter: Any = ...,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}.")
        self.model, self.monitor, self.sign = model, monitor, 1.0 if mode == "min" else -1.0
        self.patience, self.restore, self.keep_first = patience, restore, keep_first
        self.filter = snapshot_filter
        self.best = snapshot(nnx.state(model, snapshot_filter))
        self.best_value: float = self.sign * math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def on_epoch_end(self, loop: Loop) -> None:
        value = loop.logs.get(self.monitor)
        if value is None:
            return
        first = self.keep_first and self.best_epoch is None
        if first or self.sign * value < self.sign * self.best_value:
            self.best_value = value if not math.isnan(value) else self.best_value
            self.best_epoch, self.bad_epochs = loop.epoch, 0
            self.best = snapshot(nnx.state(self.model, self.filter))
        else:
            self.bad_epochs += 1
        if self.patience is not None and self.bad_epochs >= self.patience:
            loop.stop = True

    def on_fit_end(self, loop: Loop) -> None:
        if self.restore and self.best_epoch is not None:
            nnx.update(self.model, self.best)


def _tree(trainer: Trainer, early: EarlyStopping) -> dict:
    return {
        "model": nnx.state(trainer.model),
        "optimizer": nnx.state(trainer.optimizer),
        "best": early.best,
    }


class Checkpointing(Callback):
    """After every epoch, atomically write ``path``: the model's state (parameters and RNG
    streams), the optimiser's state, the best snapshot of ``early``, and the metadata
    ``{"epoch": completed epochs, "best_valid", "bad_epochs", **metadata()}``."""

    def __init__(self, path: str, early: EarlyStopping, metadata: Callable[[], dict]):
        self.path, self.early, self.metadata = path, early, metadata

    def on_epoch_end(self, loop: Loop) -> None:
        meta = {
            "epoch": loop.epoch + 1,
            "best_valid": self.early.best_value,
            "bad_epochs": self.early.bad_epochs,
            **self.metadata(),
        }
        save_checkpoint(self.path, _tree(loop.trainer, self.early), metadata=meta)


def resume(path: str, trainer: Trainer, early: EarlyStopping, settings: dict, record: dict) -> dict:
    """Load the checkpoint at ``path`` into ``trainer`` (model and optimiser) and ``early``
    (best snapshot, its value and the epochs without improvement) and return its metadata.

    Raises :class:`~lsgm.training.checkpoint.ResumeError` when its ``settings`` differ from
    ``settings`` (naming each with both values) or its run record from ``record``
    (:func:`~lsgm.training.checkpoint.check_resume`).
    """
    was = load_metadata(path).get("settings") or {}
    changed = sorted(k for k, v in settings.items() if was.get(k, "<unset>") != v)
    if changed:
        parts = ", ".join(f"{k} {was.get(k, '<unset>')!r}, not {settings[k]!r}" for k in changed)
        raise ResumeError(
            f"cannot resume from {str(path)!r}: settings or data differ ({changed}): the "
            f"checkpoint in {str(Path(path).parent)!r} was written for {parts}. Use the same "
            "ones, or a new checkpoint_dir."
        )
    restored, meta = load_checkpoint(path, _tree(trainer, early))
    check_resume(path, meta.get("run"), record)
    nnx.update(trainer.model, restored["model"])
    nnx.update(trainer.optimizer, restored["optimizer"])
    trainer.reload()
    early.best, early.best_value, early.bad_epochs = (
        restored["best"],
        meta["best_valid"],
        meta["bad_epochs"],
    )
    return meta


class EntropyHeating(Callback):
    """``heated`` as the objective for epochs ``< epochs`` (when ``weight > 0``), ``cooled``
    afterwards; ``loop.logs["heated"]`` says which one the epoch used."""

    def __init__(self, epochs: int, weight: float, heated: Objective, cooled: Objective):
        self.epochs, self.weight, self.heated, self.cooled = epochs, weight, heated, cooled

    def on_epoch_begin(self, loop: Loop) -> None:
        heated = loop.epoch < self.epochs and self.weight > 0
        loop.trainer.objective = self.heated if heated else self.cooled
        loop.logs["heated"] = heated


class ProgressBar(Callback):
    """A tqdm bar over the epochs, with ``postfix(loop)`` shown after each."""

    def __init__(self, desc: str, postfix: Callable[[Loop], dict] | None = None):
        self.desc, self.postfix = desc, postfix
        self.bar: Any = None

    def on_fit_begin(self, loop: Loop) -> None:
        self.bar = tqdm(desc=self.desc, initial=loop.epoch, total=loop.epochs, leave=False)

    def on_epoch_end(self, loop: Loop) -> None:
        self.bar.update(1)
        if self.postfix is not None:
            self.bar.set_postfix(self.postfix(loop))

    def on_fit_end(self, loop: Loop) -> None:
        self.bar.close()


class EpochLog(Callback):
    """``say(line(loop))`` after every epoch."""

    def __init__(self, say: Callable[[str], object], line: Callable[[Loop], str]):
        self.say, self.line = say, line

    def on_epoch_end(self, loop: Loop) -> None:
        self.say(self.line(loop))


class StepLog(Callback):
    """``say(line(loop, step, loss))`` after every ``every``-th step of an epoch (the step
    count 1-based; reading ``loss`` waits for the device)."""

    def __init__(self, every: int, say: Callable[[str], object], line: Callable[..., str]):
        self.every, self.say, self.line = every, say, line

    def on_step_end(self, loop: Loop, step: int, loss: jax.Array, aux: Any) -> None:
        if (step + 1) % self.every == 0:
            self.say(self.line(loop, step + 1, loss))
