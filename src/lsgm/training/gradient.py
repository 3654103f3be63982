"""Maximum likelihood by gradient descent through the exact kernels (optax + Flax NNX).

The objective shared by the HMM and the LSGM, trained by the engine of
:mod:`lsgm.training.loop`. Loss per minibatch: the negative log-likelihood per observed step,

    L = - sum_n log p(x_n) / sum_n T_n,

differentiated through :func:`lsgm.inference.log_partition` (``jax.grad`` of the forward
algorithm equals the expected sufficient statistics, so this is exact). During the first
``entropy_epochs`` ("heating", LSGM paper §2.6) the loss is

    L - entropy_weight * sum_{n,t} H(p(z_t | x_{n,1:t})) / sum_n T_n,

with the filtering distributions of :func:`lsgm.inference.filtered`: maximising their entropy
keeps the state distribution near uniform while the emissions settle.

Label-supervised training: ``state_labels`` (per sequence ``[T_i]`` ints, ``-1`` = unknown)
clamp the state at labelled positions (:mod:`lsgm.training.labels`), so ``log p(x)`` becomes

    log p(x, z_L = labels_L) = log sum_{z : z_t = label_t for t in L} p(x, z),

``L`` the labelled positions. With every position labelled this is the joint log-likelihood
``log p(x, z)`` (supervised training, e.g. of an LSGM on annotated sequences); with none it is
``log p(x)``. The filtering entropy is then that of the clamped filter (0 at labelled steps).

Models are :class:`~lsgm.models.base.SequenceModel` subclasses (or alike):
``potentials(x)`` (one sequence), ``batch(xs, lengths)`` (a
:class:`~lsgm.data.batching.PaddedBatch`), ``train()``/``eval()`` (``nnx.Module`` has them;
they switch dropout on and off) and, to use ``freeze``, a ``PARAM_GROUPS`` mapping of part
name → attribute names. Frozen parts are left out of the optimiser entirely.

Sequences are bucketed by length (:func:`lsgm.data.batching.bucketed_minibatches`): every
minibatch has ``batch_size`` rows from one bucket, padded to the bucket's length, so there is
one compile per bucket. Rows are vmapped with ``nnx.vmap`` and split RNG streams, so a model's
dropout draws a fresh mask per sequence and step, and its RNG state advances (and is
checkpointed) like every other variable.

Checkpoints: with ``checkpoint_dir``, ``checkpoint.msgpack`` is written there after every
epoch, atomically: model state (parameters and RNG streams), optimiser state, best parameters,
epoch, early-stopping counters, history and a fingerprint of the run. ``resume=True``
continues it; with the same data and settings the result equals an uninterrupted run. A
missing folder or checkpoint, or one written for other training/validation data or labels,
other starting parameters, or other settings (``seed``, ``batch_size``, ``buckets``,
``freeze``, ``clip_norm``, the entropy settings, ``patience``, the optimiser's readable
hyper-parameters and ``optimizer_settings``) raises
:class:`~lsgm.training.checkpoint.ResumeError` naming what differs. ``epochs`` may change
(continue longer), and so may ``restore_best``, ``progress_bar``, ``log``, ``verbose`` and
``mesh``. ``optimizer_settings`` (e.g. ``{"--learning-rate": 0.01}``) are recorded so that a
resume with other values is refused naming them (an optax object is opaque; its readable
numbers are compared too, see :func:`~lsgm.training.checkpoint.optimizer_numbers`).

Data parallelism: with a :class:`jax.sharding.Mesh` (:func:`lsgm.distributed.make_mesh`) each
minibatch's rows are split over its devices (padded to a multiple of the device count with
rows of weight 0), the gradient summed across them (all-reduce), parameters and optimiser
state replicated. With dropout the masks differ from a single-device run (other RNG splits).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from flax.nnx.filterlib import Filter
from jax.sharding import Mesh
from tqdm.auto import tqdm

from lsgm import inference
from lsgm.data import Minibatch, PaddedBatch, bucket_lengths, bucketed_minibatches
from lsgm.inference import time_parallel
from lsgm.mesh import row_sharding
from lsgm.models import (
    NLL_RISE_FACTOR,
    FitDivergedError,
    LengthsLike,
    SequenceModel,
    SequencesLike,
    parameter_problems,
)
from lsgm.training.callbacks import (
    Checkpointing,
    EarlyStopping,
    EntropyHeating,
    ProgressBar,
)
from lsgm.training.callbacks import (
    resume as resume_from,
)
from lsgm.training.checkpoint import (
    fingerprint,
    fresh_checkpoint_path,
    optimizer_numbers,
    resume_path,
    run_record,
)
from lsgm.training.common import PARTS, check_real, int_at_least, params_except
from lsgm.training.labels import label_masks, labelled_steps, with_labels
from lsgm.training.loop import Callback, Loop, Trainer, run_epochs, shard_rows
from lsgm.training.optimizers import HyperOptimizer

#: File name of the training checkpoint inside ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.msgpack"

Array = jax.Array
M = TypeVar("M", bound=SequenceModel)
#: Length buckets (:func:`lsgm.data.batching.bucket_lengths`): ``"pow2"``, a number of
#: buckets, explicit pad lengths, or None (one bucket).
Buckets = str | int | Sequence[int] | None
#: One training step's inputs: ``(x [B, T, ...], lengths [B], log_mask [B, T, K] or None,
#: weights [B], entropy_weight [])``.
TrainBatch = tuple[Array, Array, Array | None, Array, Array]
#: One validation batch: ``(x, lengths, log_mask, weights)`` as in :data:`TrainBatch`.
EvalBatch = tuple[Array, Array, Array | None, Array]


@dataclass
class GradientHistory:
    """Per-epoch records of :func:`fit_gradient` (one entry per completed epoch).

    Attributes:
        train_nll: mean training NLL per step over the epoch's minibatches (the parameters
            change within the epoch, as usual); with ``state_labels`` it is
            ``-log p(x, z_L = labels_L)`` per step.
        valid_nll: validation NLL per step after the epoch (empty without validation); with
            ``validation_labels`` it is ``-log p(x, z_L = labels_L)`` per step.
        entropy: mean filtering entropy ``H(p(z_t | x_{1:t}))`` per step on the training
            minibatches (nats), whether or not it was in the loss.
        heated: whether the entropy term was in the loss that epoch.
        wall_time: seconds the epoch took (training, validation and checkpointing).
        best_epoch: index (0-based) of the epoch with the lowest validation NLL, whose
            parameters the model holds at the end; ``None`` without validation.
        stopped_early: whether ``patience`` ended training before ``epochs``.
    """

    train_nll: list[float] = field(default_factory=list)
    valid_nll: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    heated: list[bool] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_nll)

    def to_dict(self) -> dict:
        """The history as plain lists and numbers (as a checkpoint stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GradientHistory:
        """The history :meth:`to_dict` wrote (unknown keys ignored)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


# ------------------------------------------------------------------ model pieces
def trainable_filter(model: nnx.Module, freeze: frozenset[str]) -> Filter:
    """An NNX filter selecting the ``nnx.Param``s that are not in a frozen part."""
    groups = getattr(model, "PARAM_GROUPS", {})
    frozen = [nnx.PathContains(name) for part in freeze for name in groups.get(part, ())]
    return params_except(nnx.Any(*frozen) if frozen else None)


def _check_freeze(model: nnx.Module, freeze: str | Iterable[str] | None) -> frozenset[str]:
    names = {freeze} if isinstance(freeze, str) else set(freeze or ())
    groups = getattr(model, "PARAM_GROUPS", None)
    parts = list(groups) if groups is not None else list(PARTS)
    unknown = names - set(parts)
    if unknown:
        raise ValueError(f"cannot freeze {sorted(unknown)}; choose from {parts}.")
    if names and groups is None:
        raise ValueError(
            f"cannot freeze {sorted(names)}: {type(model).__name__} has no PARAM_GROUPS."
        )
    return frozenset(names)


def _check_model(model: object) -> None:
    missing = [a for a in ("potentials", "batch", "train", "eval") if not hasattr(model, a)]
    if missing:
        raise TypeError(
            f"{type(model).__name__} cannot be trained by fit_gradient: it lacks {missing} "
            "(a model needs potentials(x), batch(xs, lengths), train() and eval())."
        )


def _entropy(probs: Array) -> Array:
    """``sum_t H(probs_t)`` of ``[T, K]`` distributions (zero rows contribute 0)."""
    positive = probs > 0
    plogp = jnp.where(positive, probs * jnp.log(jnp.where(positive, probs, 1.0)), 0.0)
    return -plogp.sum()


def batch_terms(
    model: SequenceModel,
    data: Array,
    lengths: Array,
    weights: Array,
    entropy: bool = True,
    log_mask: Array | None = None,
) -> tuple[Array, Array, Array]:
    """``(sum_n w_n log p(x_n), sum_n w_n sum_t H_nt, sum_n w_n T_n)`` of a padded batch
    (``H_nt`` the entropy of ``p(z_t | x_{n,1:t})``; zero when ``entropy`` is False).

    ``log_mask [B, T, K]`` (from :func:`lsgm.training.labels.label_potentials`; None: no labels)
    is added to each row's ``log_emit``: ``log p(x_n)`` becomes ``log p(x_n, z_L = labels)``
    and the filter is clamped at the labelled steps.

    A model with random streams (dropout) is vmapped with ``nnx.vmap`` over split RNG
    streams: each row gets its own dropout mask, and the RNG counters advance once per call.
    """

    if not entropy and _chunked_rows(model, data):
        return _chunked_terms(model, data, lengths, weights, log_mask)

    def one(model: SequenceModel, x: Array, n: Array, mask: Array | None) -> tuple[Array, Array]:
        # potentials once per row: both terms see the same dropout mask
        p = with_labels(model.potentials(x), mask)
        log_z = inference.log_partition(p, n)
        return log_z, _entropy(inference.filtered(p, n)) if entropy else jnp.zeros_like(log_z)

    if not jax.tree.leaves(nnx.state(model, nnx.RngState)):
        # No random streams (e.g. an HMM, or an LSGM without dropout): a plain vmap, which
        # also works when the caller differentiates with respect to split-off parameters.
        log_z, ent = jax.vmap(lambda x, n, mask: one(model, x, n, mask))(data, lengths, log_mask)
    else:
        axes: dict[Filter, int | None] = {nnx.RngState: 0, ...: None}  # streams split by row
        rows = nnx.split_rngs(splits=data.shape[0])(
            nnx.vmap(one, in_axes=(nnx.StateAxes(axes), 0, 0, 0))
        )
        log_z, ent = rows(model, data, lengths, log_mask)
    weights = weights.astype(log_z.dtype)
    return (weights * log_z).sum(), (weights * ent).sum(), (weights * lengths).sum()


def _chunked_rows(model: SequenceModel, data: Array) -> bool:
    """The batch is a few long rows of a model with stationary potentials and no random
    streams: its log-likelihood goes through the time-parallel kernels."""
    if not model.supports_chunked or jax.tree.leaves(nnx.state(model, nnx.RngState)):
        return False
    return model.inference_method("auto", data.shape[0], data.shape[1]) == "chunked"


def _chunked_terms(
    model: SequenceModel, data: Array, lengths: Array, weights: Array, log_mask: Array | None
) -> tuple[Array, Array, Array]:
    """:func:`batch_terms` without entropy by
    :func:`lsgm.inference.time_parallel.weighted_log_likelihood` (its derivative is one
    counting pass, as the scan kernels' custom JVP)."""
    N, T = data.shape[:2]
    p, _ = model.chunked_potentials(data)
    log_emit = p.log_emit
    if log_mask is not None:
        L, NC = log_emit.shape[:2]
        log_emit = log_emit + time_parallel.block(log_mask, L, NC // N)
    w = weights.astype(log_emit.dtype)
    log_z = time_parallel.weighted_log_likelihood(p.log_init, p.log_trans, log_emit, lengths, T, w)
    return log_z, jnp.zeros_like(log_z), (w * lengths).sum()


def batch_nll(
    model: SequenceModel,
    data: Array,
    lengths: Array,
    weights: Array,
    log_mask: Array | None = None,
) -> Array:
    """Weighted NLL per step of a padded batch (``weights [B]`` are 0 for filler rows;
    ``log_mask``: label clamps as in :func:`batch_terms`, giving ``-log p(x, z_L)``)."""
    log_z, _, steps = batch_terms(model, data, lengths, weights, entropy=False, log_mask=log_mask)
    return -log_z / steps


@dataclass(frozen=True)
class NLLObjective:
    """The loss of :func:`fit_gradient` on a batch ``(x [B, T, ...], lengths [B], log_mask
    [B, T, K] or None, weights [B], entropy_weight [])``: ``-log_z / steps``, minus
    ``entropy_weight * entropy / steps`` when ``heated``; aux: ``[-log_z, entropy, steps]``
    (the weighted sums of :func:`batch_terms`)."""

    heated: bool = False

    def __call__(
        self, model: SequenceModel, batch: TrainBatch, carry: None
    ) -> tuple[Array, Array, None]:
        x, n, log_mask, weights, entropy_weight = batch
        log_z, entropy, steps = batch_terms(model, x, n, weights, log_mask=log_mask)
        loss = -log_z / steps
        if self.heated:
            loss = loss - entropy_weight * entropy / steps
        return loss, jnp.stack([-log_z, entropy, steps]), carry


def nll_sums(model: SequenceModel, batch: EvalBatch) -> Array:
    """``[-sum_n w_n log p(x_n), sum_n w_n T_n]`` of a batch ``(x, lengths, log_mask,
    weights)`` (the validation NLL of :func:`fit_gradient` is their ratio)."""
    x, n, log_mask, weights = batch
    log_z, _, steps = batch_terms(model, x, n, weights, entropy=False, log_mask=log_mask)
    return jnp.stack([-log_z, steps])


# ------------------------------------------------------------------ arguments


class _Buckets:
    """The sequences of each pad length on the device, ``[n_b, pad, ...]`` per bucket (so the
    device never holds the data padded to the longest sequence), and a minibatch's rows
    ``([B, pad, ...], [B], [B, pad, K] or None)`` gathered from its bucket on the device: data,
    lengths and the label masks (``log_mask [N, T, K]`` from
    :func:`~lsgm.training.labels.label_potentials`, or None), which follow the data. The compiled
    step sees only ``[B, pad]`` shapes, so it is shared by any data set with the same bucket
    lengths."""

    def __init__(self, batch: PaddedBatch, pads: np.ndarray, log_mask: np.ndarray | None = None):
        self.parts: dict[int, tuple[np.ndarray, Array, Array, Array | None]] = {}
        for pad in np.unique(pads):
            members = np.flatnonzero(pads == pad)
            data = jnp.asarray(batch.data[members, : int(pad)])
            mask = None if log_mask is None else jnp.asarray(log_mask[members, : int(pad)])
            self.parts[int(pad)] = (members, data, jnp.asarray(batch.lengths[members]), mask)

    def rows(self, mb: Minibatch) -> tuple[Array, Array, Array | None]:
        members, data, lengths, mask = self.parts[mb.pad_to]
        local = jnp.asarray(np.searchsorted(members, mb.indices), jnp.int32)
        masks = None if mask is None else jnp.take(mask, local, axis=0)
        return jnp.take(data, local, axis=0), jnp.take(lengths, local, axis=0), masks


def _buckets_setting(buckets: Buckets) -> str | int | list[int] | None:
    if buckets is None or isinstance(buckets, str | int | np.integer):
        return buckets if not isinstance(buckets, np.integer) else int(buckets)
    return [int(b) for b in buckets]


# ------------------------------------------------------------------ one fit
@dataclass
class _Options:
    """The keyword arguments of :func:`fit_gradient` (documented there), checked."""

    optimizer: optax.GradientTransformation | HyperOptimizer | None
    epochs: int
    batch_size: int | None
    freeze: str | Iterable[str] | None
    validation: SequencesLike | None
    state_labels: SequencesLike | None
    validation_labels: SequencesLike | None
    seed: int
    progress_bar: bool
    buckets: Buckets
    clip_norm: float | None
    entropy_weight: float
    entropy_epochs: int
    patience: int | None
    restore_best: bool
    checkpoint_dir: str | os.PathLike[str] | None
    resume: bool
    log: Callable[[str], object] | None
    verbose: bool
    mesh: Mesh | None
    optimizer_settings: dict | None
    #: ``freeze`` checked against the model's parts (by :meth:`checked`).
    frozen: frozenset[str] = frozenset()

    def checked(self, model: nnx.Module) -> _Options:
        """Validate (in a fixed order) and normalise the arguments; ``ValueError`` naming one."""
        self.epochs = int_at_least("epochs", self.epochs, 1)
        if self.batch_size is not None:
            self.batch_size = int_at_least("batch_size", self.batch_size, 1)
        self.seed = int_at_least("seed", self.seed, 0)
        self.entropy_weight = check_real("entropy_weight", self.entropy_weight, positive=False)
        self.entropy_epochs = int_at_least("entropy_epochs", self.entropy_epochs, 0)
        if self.clip_norm is not None:
            self.clip_norm = check_real("clip_norm", self.clip_norm, positive=True)
        if self.patience is not None:
            self.patience = int_at_least("patience", self.patience, 1)
            if self.validation is None:
                raise ValueError("patience (early stopping) needs validation sequences.")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where the checkpoint is).")
        self.frozen = _check_freeze(model, self.freeze)
        if self.mesh is not None:
            row_sharding(self.mesh)  # a clear error for a wrong mesh argument
        if self.validation_labels is not None and self.validation is None:
            raise ValueError("validation_labels needs validation sequences (validation=...).")
        return self

    def transformation(self) -> tuple[optax.GradientTransformation | HyperOptimizer, list]:
        """``(optimiser with the clipping, its readable numbers without the clipping)``."""
        tx = optax.adam(1e-2) if self.optimizer is None else self.optimizer
        if isinstance(tx, HyperOptimizer):
            if self.clip_norm is not None and tx.clip_norm is not None:
                raise ValueError("clip_norm is given twice: by fit_gradient and the optimizer.")
            clip = tx.clip_norm if self.clip_norm is None else self.clip_norm
            return HyperOptimizer(tx.factory, tx.hyperparams, clip), tx.numbers()
        numbers = optimizer_numbers(tx)
        if self.clip_norm is not None:
            tx = optax.chain(optax.clip_by_global_norm(self.clip_norm), tx)
        return tx, numbers

    def say(self) -> Callable[[str], object] | None:
        """Where the one-line epoch summaries go (None: nowhere)."""
        if self.log is None and self.verbose:
            return tqdm.write if self.progress_bar else print
        return self.log


@dataclass
class _Data:
    """The training and validation sequences of a fit, bucketed on the device."""

    batch: PaddedBatch
    full_batch: bool
    size: int
    bucketing: Buckets
    log_mask: np.ndarray | None
    train: _Buckets
    vbatch: PaddedBatch | None = None
    vmask: np.ndarray | None = None
    valid: _Buckets | None = None
    valid_plan: list[Minibatch] = field(default_factory=list)

    @classmethod
    def prepare(
        cls, model: SequenceModel, xs: SequencesLike, lengths: LengthsLike | None, o: _Options
    ) -> _Data:
        batch = model.batch(xs, lengths)
        n = batch.num_sequences
        if n == 0:
            raise ValueError("empty batch: no training sequences were given.")
        size = n if o.batch_size is None else min(o.batch_size, n)
        bucketing = None if o.batch_size is None else o.buckets
        bucket_lengths(batch.lengths, o.buckets)  # a bad scheme fails now, not after an epoch
        log_mask = label_masks(model, batch, o.state_labels, "state_labels")
        train = _Buckets(batch, bucket_lengths(batch.lengths, bucketing), log_mask)
        data = cls(batch, o.batch_size is None, size, bucketing, log_mask, train)
        if o.validation is not None:
            data.vbatch = vbatch = model.batch(o.validation)
            if vbatch.num_sequences == 0:
                raise ValueError("empty batch: no validation sequences were given.")
            vsize = min(size, vbatch.num_sequences) if o.batch_size else vbatch.num_sequences
            data.valid_plan = bucketed_minibatches(vbatch.lengths, vsize, bucketing)
            data.vmask = label_masks(model, vbatch, o.validation_labels, "validation_labels")
            data.valid = _Buckets(vbatch, bucket_lengths(vbatch.lengths, bucketing), data.vmask)
        return data

    def plan(self, seed: int, epoch: int) -> list[Minibatch]:
        """The minibatches of ``epoch``: one full batch, or shuffled bucketed ones."""
        if self.full_batch:
            n = self.batch.num_sequences
            return [Minibatch(np.arange(n), np.ones(n), self.batch.max_length)]
        rng = np.random.default_rng([seed, epoch])
        return bucketed_minibatches(self.batch.lengths, self.size, self.bucketing, rng)

    def settings(self, o: _Options, numbers: list) -> dict:
        """What a resumed run must share with the checkpoint, as a checkpoint stores it."""
        settings = {
            "seed": o.seed,
            "batch_size": self.size,
            "buckets": _buckets_setting(self.bucketing),
            "entropy_weight": o.entropy_weight,
            "entropy_epochs": o.entropy_epochs,
            "clip_norm": o.clip_norm,
            "freeze": sorted(o.frozen),
            "num_sequences": self.batch.num_sequences,
            "num_steps": int(np.sum(self.batch.lengths)),
            "validation": None if self.vbatch is None else int(np.sum(self.vbatch.lengths)),
            "labelled_steps": labelled_steps(o.state_labels),
            "validation_labelled_steps": labelled_steps(o.validation_labels),
            "patience": o.patience,
            "optimizer hyper-parameters": numbers,
            **{str(k): v for k, v in (o.optimizer_settings or {}).items()},
        }
        return json.loads(json.dumps(settings))  # lists and floats, as a checkpoint stores them

    def record(self, model: nnx.Module) -> dict:
        """The fingerprint of the run's data, labels and starting parameters."""
        vdata = None if self.vbatch is None else (self.vbatch.data, self.vbatch.lengths)
        start = "starting parameters (another model, --states, --seed or initialisation?)"
        hashes = {
            "training data": fingerprint(self.batch.data, self.batch.lengths),
            "state labels": fingerprint(self.log_mask),
            "validation data": fingerprint(vdata),
            "validation labels": fingerprint(None if self.vbatch is None else self.vmask),
            start: fingerprint(nnx.state(model)),
        }
        return run_record(hashes, {})


class _Epochs(Callback):
    """fit_gradient's side of the loop: each epoch's minibatches, its checks and numbers
    (``metrics``), and the history (``on_epoch_end``, before the checkpoint)."""

    def __init__(
        self,
        trainer: Trainer,
        data: _Data,
        o: _Options,
        history: GradientHistory,
        early: EarlyStopping,
    ):
        self.trainer, self.data, self.o, self.history, self.early = trainer, data, o, history, early
        self.dtype = jnp.result_type(float)
        self.entropy_weight = jnp.asarray(o.entropy_weight, self.dtype)

    def inputs(self, buckets: _Buckets, mb: Minibatch) -> EvalBatch:
        rows, weights = buckets.rows(mb), jnp.asarray(mb.weights, self.dtype)
        return (*rows, weights) if self.o.mesh is None else shard_rows(rows, weights, self.o.mesh)

    def batches(self, epoch: int) -> Iterator[TrainBatch]:
        for mb in self.data.plan(self.o.seed, epoch):
            yield (*self.inputs(self.data.train, mb), self.entropy_weight)

    def metrics(self, losses: list, auxes: list) -> dict:
        """The epoch's NLL and entropy per step (raising when training diverged) and the
        validation NLL per step."""
        epoch = len(self.history.train_nll)
        nll, ent, steps = np.sum(np.asarray(jax.device_get(auxes), np.float64), axis=0)
        if self.data.log_mask is not None and np.isposinf(nll) and epoch == 0:
            raise ValueError(
                f"the labelled training NLL is inf in epoch {epoch + 1}: for some sequence "
                "the state_labels allow only paths of probability 0 under the model (zero "
                "initial/transition probabilities or emissions). Relax the labels (-1 = "
                "unknown) or start from parameters without those zeros."
            )
        _check_divergence(epoch, float(nll / steps), self.history.train_nll)
        problems = parameter_problems(self.trainer.model)
        if problems:
            raise FitDivergedError(
                f"gradient training diverged in epoch {epoch + 1}: invalid parameters "
                f"({'; '.join(problems[:4])}). {_FIX}"
            )
        logs = {"train_nll": float(nll / steps), "entropy": float(ent / steps)}
        if self.data.valid is not None:
            batches = (self.inputs(self.data.valid, mb) for mb in self.data.valid_plan)
            totals = [self.trainer.evaluate(nll_sums, b) for b in batches]
            v_nll, v_steps = np.sum(np.asarray(jax.device_get(totals), np.float64), axis=0)
            logs["valid_nll"] = float(v_nll / v_steps)
        return logs

    def on_epoch_end(self, loop: Loop) -> None:
        h, logs = self.history, loop.logs
        h.train_nll.append(logs["train_nll"])
        h.entropy.append(logs["entropy"])
        h.heated.append(logs["heated"])
        if "valid_nll" in logs:
            h.valid_nll.append(logs["valid_nll"])
            h.best_epoch, h.stopped_early = self.early.best_epoch, loop.stop
        h.wall_time.append(loop.elapsed())


class _Report(Callback):
    """After the checkpoint: the epoch's full wall time, and its one-line summary."""

    def __init__(self, history: GradientHistory, say: Callable[[str], object] | None):
        self.history, self.say = history, say

    def on_epoch_end(self, loop: Loop) -> None:
        self.history.wall_time[-1] = loop.elapsed()
        if self.say is not None:
            heated = loop.logs["heated"]
            self.say(_summary(loop.epoch, loop.epochs, self.history, heated))

    def postfix(self, loop: Loop) -> dict:
        post = {"nll": f"{self.history.train_nll[-1]:.4f}"}
        if self.history.valid_nll:
            post["valid"] = f"{self.history.valid_nll[-1]:.4f}"
        return post


def _start(
    o: _Options, trainer: Trainer, data: _Data, settings: dict
) -> tuple[GradientHistory, int, _Epochs, list[Callback]]:
    """``(history, first epoch, the _Epochs, callbacks)`` of a fit: a fresh one, or the
    continuation of the checkpoint in ``o.checkpoint_dir`` (``o.resume``)."""
    model, history, start = trainer.model, GradientHistory(), 0
    restore = o.restore_best and o.validation is not None
    not_rng = nnx.Not(nnx.RngState)
    early = EarlyStopping(
        model, "valid_nll", patience=o.patience, restore=restore, snapshot_filter=not_rng
    )
    path, record = None, None
    if o.checkpoint_dir is not None:  # (resume=True without one: refused by _Options.checked)
        record = data.record(model)
        if o.resume:
            path = str(resume_path(o.checkpoint_dir, CHECKPOINT_FILE))
            meta = resume_from(path, trainer, early, settings, record)
            history, start = GradientHistory.from_dict(meta["history"]), meta["epoch"]
            early.best_epoch = history.best_epoch
        else:
            path = os.path.join(o.checkpoint_dir, CHECKPOINT_FILE)
            fresh_checkpoint_path(o.checkpoint_dir, CHECKPOINT_FILE)
    epochs, report = _Epochs(trainer, data, o, history, early), _Report(history, o.say())
    heating = EntropyHeating(
        o.entropy_epochs, o.entropy_weight, NLLObjective(heated=True), NLLObjective()
    )
    callbacks: list[Callback] = [heating, early, epochs]
    if path is not None:
        meta = {"settings": settings, "run": record}
        callbacks.append(Checkpointing(path, early, lambda: {"history": history.to_dict(), **meta}))
    callbacks.append(report)
    if o.progress_bar:
        callbacks.append(ProgressBar("gradient", report.postfix))
    return history, o.epochs if history.stopped_early else start, epochs, callbacks


def fit_gradient(
    model: M,
    xs: SequencesLike,
    lengths: LengthsLike | None = None,
    *,
    optimizer: optax.GradientTransformation | HyperOptimizer | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    freeze: str | Iterable[str] = (),
    validation: SequencesLike | None = None,
    state_labels: SequencesLike | None = None,
    validation_labels: SequencesLike | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    buckets: Buckets = "pow2",
    clip_norm: float | None = None,
    entropy_weight: float = 1.0,
    entropy_epochs: int = 0,
    patience: int | None = None,
    restore_best: bool = True,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    log: Callable[[str], object] | None = None,
    verbose: bool = False,
    mesh: Mesh | None = None,
    optimizer_settings: dict | None = None,
) -> tuple[M, GradientHistory]:
    """Fit by minibatch gradient descent on the exact negative log-likelihood (module docstring).

    Args:
        model: an HMM, LSGM or any model with ``potentials``, ``batch``, ``train``/``eval``
            (and ``PARAM_GROUPS`` for ``freeze``); updated in place.
        xs, lengths: training sequences (a list, or a padded array with ``lengths``).
        optimizer: an optax transformation (default ``optax.adam(1e-2)``), or a
            :class:`~lsgm.training.optimizers.HyperOptimizer` (another learning rate then
            reuses the compiled step).
        epochs: total passes over the data (counting those of a resumed run).
        batch_size: sequences per step (``None``: one full-batch step per epoch).
        freeze: parts to keep fixed (names from the model's ``PARAM_GROUPS``).
        validation: held-out sequences; their NLL per step after each epoch drives early
            stopping and picks the parameters kept at the end (``restore_best``).
        state_labels, validation_labels: per sequence ``[T_i]`` ints, ``-1`` = unknown: the
            NLL becomes ``-log p(x, z_L = labels_L)`` per step.
        seed: epoch ``e`` shuffles with ``numpy.random.default_rng([seed, e])``.
        progress_bar: a tqdm bar over epochs; log, verbose: a one-line summary per epoch is
            passed to ``log`` (or printed with ``verbose``).
        buckets: length buckets (:func:`lsgm.data.batching.bucket_lengths`).
        clip_norm: clip gradients to this global norm before the optimiser.
        entropy_weight, entropy_epochs: the entropy bonus of the first epochs ("heating").
        patience: stop after this many epochs without a lower validation NLL.
        checkpoint_dir, resume, optimizer_settings: checkpoints (module docstring).
        mesh: a :class:`jax.sharding.Mesh` for data-parallel training (module docstring).

    Returns:
        ``(model, history)`` with a :class:`GradientHistory`.

    Raises:
        FitDivergedError: the training NLL became non-finite or rose far above its best
            (:data:`~lsgm.models.validity.NLL_RISE_FACTOR`), or a parameter became
            invalid (:mod:`lsgm.models.validity`), naming the epoch (not checkpointed).
    """
    _check_model(model)
    options = dict(locals())  # the arguments by name: first statement, nothing else defined yet
    o = _Options(**{k: v for k, v in options.items() if k not in ("model", "xs", "lengths")})
    data = _Data.prepare(model, xs, lengths, o.checked(model))
    tx, numbers = o.transformation()
    trainer = Trainer(model, tx, NLLObjective(), wrt=trainable_filter(model, o.frozen), mesh=mesh)
    history, start, epoch_steps, callbacks = _start(o, trainer, data, data.settings(o, numbers))
    run_epochs(
        trainer,
        epoch_steps.batches,
        epochs=o.epochs,
        start=start,
        metrics=epoch_steps.metrics,
        callbacks=callbacks,
    )
    model.eval()
    return model, history


_FIX = (
    "Lower the learning rate (CLI: --learning-rate), clip the gradients (--clip-norm), or "
    "start from other parameters."
)


def _check_divergence(epoch: int, nll: float, previous: list[float]) -> None:
    """Raise :class:`FitDivergedError` for a non-finite training NLL per step, or one that
    rose more than :data:`NLL_RISE_FACTOR` times (at least 1 nat) above the best so far."""
    if not math.isfinite(nll):
        raise FitDivergedError(
            f"gradient training diverged in epoch {epoch + 1}: the training NLL per step "
            f"became {nll}. {_FIX}"
        )
    if previous:
        best = min(previous)
        if nll > best + NLL_RISE_FACTOR * max(1.0, abs(best)):
            raise FitDivergedError(
                f"gradient training diverged in epoch {epoch + 1}: the training NLL per step "
                f"rose to {nll:.6g} from {best:.6g}. {_FIX}"
            )


def _summary(epoch: int, epochs: int, history: GradientHistory, heated: bool) -> str:
    line = f"epoch {epoch + 1}/{epochs}: train nll/step {history.train_nll[-1]:.4f}"
    if history.valid_nll:
        best = history.best_epoch
        best_text = "" if best is None else f" (best {history.valid_nll[best]:.4f} @ {best + 1})"
        line += f", valid {history.valid_nll[-1]:.4f}{best_text}"
    line += f", entropy/step {history.entropy[-1]:.4f}"
    if heated:
        line += " [heating]"
    line += f", {history.wall_time[-1]:.2f}s"
    if history.stopped_early:
        line += "; early stop"
    return line
