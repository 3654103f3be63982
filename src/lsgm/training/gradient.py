"""Maximum likelihood by gradient descent through the exact kernels (optax + Flax NNX).

The training loop shared by the HMM and the LSGM. Loss per minibatch: the negative
log-likelihood per observed step,

    L = - sum_n log p(x_n) / sum_n T_n,

differentiated through :func:`lsgm.inference.log_partition` (``jax.grad`` of the forward
algorithm equals the expected sufficient statistics, so this is exact). During the first
``entropy_epochs`` ("heating", LSGM paper §2.6) the loss is

    L - entropy_weight * sum_{n,t} H(p(z_t | x_{n,1:t})) / sum_n T_n,

with the filtering distributions of :func:`lsgm.inference.filtered`: maximising their entropy
keeps the state distribution near uniform while the emissions settle.

Label-supervised training: ``state_labels`` (per sequence ``[T_i]`` ints, ``-1`` = unknown)
clamp the state at labelled positions by adding ``log 1{k = label_t}`` to ``log_emit`` (the
masks of :func:`lsgm.training.em.label_potentials`, as in semi-supervised EM), so ``log p(x)``
becomes

    log p(x, z_L = labels_L) = log sum_{z : z_t = label_t for t in L} p(x, z),

``L`` the labelled positions. With every position labelled this is the joint log-likelihood
``log p(x, z)`` (supervised training, e.g. of an LSGM on annotated sequences); with none it is
``log p(x)``. The filtering entropy is then that of the clamped filter (0 at labelled steps).

Models are duck-typed: anything with ``potentials(x)`` (one sequence), ``batch(xs, lengths)``
(a :class:`~lsgm.data.batching.PaddedBatch`), ``train()``/``eval()`` (``nnx.Module`` has them;
they switch dropout on and off) and, to use ``freeze``, a ``PARAM_GROUPS`` mapping of part
name → attribute names. Frozen parts are left out of the optimiser entirely.

Sequences are bucketed by length (:func:`lsgm.data.batching.bucketed_minibatches`): every
minibatch has ``batch_size`` rows from one bucket, padded to the bucket's length, so there is
one compile per bucket. Rows are vmapped with ``nnx.vmap`` and split RNG streams, so a model's
dropout draws a fresh mask per sequence and step, and its RNG state advances (and is
checkpointed) like every other variable.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from lsgm import distributed, inference
from lsgm.data.batching import Minibatch, bucket_lengths, bucketed_minibatches
from lsgm.inference import time_parallel
from lsgm.training.checkpoint import (
    ResumeError,
    check_resume,
    fingerprint,
    fresh_checkpoint_path,
    load_checkpoint,
    load_metadata,
    optimizer_numbers,
    resume_path,
    run_record,
    save_checkpoint,
)
from lsgm.training.common import PARTS
from lsgm.training.em import _with_labels, label_potentials
from lsgm.training.validity import NLL_RISE_FACTOR, FitDivergedError, parameter_problems

#: File name of the training checkpoint inside ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.msgpack"


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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GradientHistory:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


# ------------------------------------------------------------------ model pieces
def trainable_filter(model, freeze: frozenset[str]):
    """An NNX filter selecting the ``nnx.Param``s that are not in a frozen part."""
    groups = getattr(model, "PARAM_GROUPS", {})
    frozen = [nnx.PathContains(name) for part in freeze for name in groups.get(part, ())]
    if not frozen:
        return nnx.Param
    return nnx.All(nnx.Param, nnx.Not(nnx.Any(*frozen)))


def _snapshot(state):
    """A copy of a state's containers: ``nnx.state`` returns the model's live Variables, which
    later updates would overwrite (the arrays themselves are immutable and shared)."""
    return jax.tree.map(lambda leaf: leaf, state)


def _check_freeze(model, freeze) -> frozenset[str]:
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


def _check_model(model) -> None:
    missing = [a for a in ("potentials", "batch", "train", "eval") if not hasattr(model, a)]
    if missing:
        raise TypeError(
            f"{type(model).__name__} cannot be trained by fit_gradient: it lacks {missing} "
            "(a model needs potentials(x), batch(xs, lengths), train() and eval())."
        )


def _entropy(probs):
    """``sum_t H(probs_t)`` of ``[T, K]`` distributions (zero rows contribute 0)."""
    positive = probs > 0
    plogp = jnp.where(positive, probs * jnp.log(jnp.where(positive, probs, 1.0)), 0.0)
    return -plogp.sum()


def batch_terms(model, data, lengths, weights, entropy: bool = True, log_mask=None):
    """``(sum_n w_n log p(x_n), sum_n w_n sum_t H_nt, sum_n w_n T_n)`` of a padded batch
    (``H_nt`` the entropy of ``p(z_t | x_{n,1:t})``; zero when ``entropy`` is False).

    ``log_mask [B, T, K]`` (from :func:`lsgm.training.em.label_potentials`; None: no labels)
    is added to each row's ``log_emit``: ``log p(x_n)`` becomes ``log p(x_n, z_L = labels)``
    and the filter is clamped at the labelled steps.

    A model with random streams (dropout) is vmapped with ``nnx.vmap`` over split RNG
    streams: each row gets its own dropout mask, and the RNG counters advance once per call.
    """

    if not entropy and _chunked_rows(model, data):
        return _chunked_terms(model, data, lengths, weights, log_mask)

    def one(model, x, n, mask):
        # potentials once per row: both terms see the same dropout mask
        p = _with_labels(model.potentials(x), mask)
        log_z = inference.log_partition(p, n)
        return log_z, _entropy(inference.filtered(p, n)) if entropy else jnp.zeros_like(log_z)

    if not jax.tree.leaves(nnx.state(model, nnx.RngState)):
        # No random streams (e.g. an HMM, or an LSGM without dropout): a plain vmap, which
        # also works when the caller differentiates with respect to split-off parameters.
        rows = jax.vmap(lambda x, n, mask: one(model, x, n, mask))
        log_z, ent = rows(data, lengths, log_mask)
    else:
        rows = nnx.split_rngs(splits=data.shape[0])(
            nnx.vmap(one, in_axes=(nnx.StateAxes({nnx.RngState: 0, ...: None}), 0, 0, 0))
        )
        log_z, ent = rows(model, data, lengths, log_mask)
    weights = weights.astype(log_z.dtype)
    return (weights * log_z).sum(), (weights * ent).sum(), (weights * lengths).sum()


def _chunked_rows(model, data) -> bool:
    """The batch is a few long rows of a model with stationary potentials and no random
    streams: its log-likelihood goes through the time-parallel kernels."""
    if not model.supports_chunked or jax.tree.leaves(nnx.state(model, nnx.RngState)):
        return False
    return inference.choose_method(data.shape[0], data.shape[1]) == "chunked"


def _chunked_terms(model, data, lengths, weights, log_mask):
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


def batch_nll(model, data, lengths, weights, log_mask=None):
    """Weighted NLL per step of a padded batch (``weights [B]`` are 0 for filler rows;
    ``log_mask``: label clamps as in :func:`batch_terms`, giving ``-log p(x, z_L)``)."""
    log_z, _, steps = batch_terms(model, data, lengths, weights, entropy=False, log_mask=log_mask)
    return -log_z / steps


@partial(jax.jit, static_argnames=("graphdef", "wrt", "heated"))
def _train_step(state, x, n, log_mask, weights, entropy_weight, *, graphdef, wrt, heated):
    model, opt = nnx.merge(graphdef, state)

    def loss_fn(model):
        log_z, entropy, steps = batch_terms(model, x, n, weights, log_mask=log_mask)
        loss = -log_z / steps
        if heated:
            loss = loss - entropy_weight * entropy / steps
        return loss, (-log_z, entropy, steps)

    grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt), has_aux=True)
    (_, sums), grads = grad_fn(model)
    opt.update(model, grads)
    return nnx.split((model, opt))[1], jnp.stack(sums)


@partial(jax.jit, static_argnames=("graphdef",))
def _eval_step(state, x, n, log_mask, weights, *, graphdef):
    model, _ = nnx.merge(graphdef, state)
    log_z, _, steps = batch_terms(model, x, n, weights, entropy=False, log_mask=log_mask)
    return jnp.stack([-log_z, steps])


@lru_cache(maxsize=16)
def _mesh_steps(mesh):
    """``(train_step, eval_step)`` for rows split over ``mesh``: the same functions, compiled
    with replicated outputs (the parameter and optimiser state, the summed NLL)."""
    out = distributed.replicated(mesh)
    train = jax.jit(
        _train_step.__wrapped__,
        static_argnames=("graphdef", "wrt", "heated"),
        out_shardings=out,
    )
    return train, jax.jit(_eval_step.__wrapped__, static_argnames=("graphdef",), out_shardings=out)


def _sharded_rows(rows, weights, mesh):
    """A minibatch ``(x [B, T, ...], n [B], log_mask or None)`` and ``weights [B]``, padded to
    a multiple of the device count with rows of length 0 and weight 0 (they copy a real row's
    observations) and split over ``mesh`` by rows."""
    x, n, mask = rows
    fill = (-x.shape[0]) % mesh.size
    if fill:

        def pad(a):
            return jnp.concatenate([a, jnp.zeros((fill,) + a.shape[1:], a.dtype)])

        x = jnp.concatenate([x, jnp.repeat(x[:1], fill, axis=0)])
        n, weights = pad(n), pad(weights)
        mask = None if mask is None else pad(mask)
    put = partial(distributed.shard_rows, mesh=mesh)
    return put(x), put(n), None if mask is None else put(mask), put(weights)


# ------------------------------------------------------------------ arguments
def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def _check_real(name: str, value, *, positive: bool) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return value


class _Buckets:
    """The sequences of each pad length on the device, ``[n_b, pad, ...]`` per bucket (so the
    device never holds the data padded to the longest sequence), and a minibatch's rows
    ``([B, pad, ...], [B], [B, pad, K] or None)`` gathered from its bucket on the device: data,
    lengths and the label masks (``log_mask [N, T, K]`` from
    :func:`~lsgm.training.em.label_potentials`, or None), which follow the data. The compiled
    step sees only ``[B, pad]`` shapes, so it is shared by any data set with the same bucket
    lengths."""

    def __init__(self, batch, pads: np.ndarray, log_mask: np.ndarray | None = None):
        self.parts = {}
        for pad in np.unique(pads):
            members = np.flatnonzero(pads == pad)
            data = jnp.asarray(batch.data[members, : int(pad)])
            mask = None if log_mask is None else jnp.asarray(log_mask[members, : int(pad)])
            self.parts[int(pad)] = (members, data, jnp.asarray(batch.lengths[members]), mask)

    def rows(self, mb: Minibatch):
        members, data, lengths, mask = self.parts[mb.pad_to]
        local = jnp.asarray(np.searchsorted(members, mb.indices), jnp.int32)
        masks = None if mask is None else jnp.take(mask, local, axis=0)
        return jnp.take(data, local, axis=0), jnp.take(lengths, local, axis=0), masks


def _labelled_steps(labels) -> int | None:
    """Number of labelled positions (the checkpoint's record of the labels; None: no labels)."""
    if labels is None:
        return None
    return int(sum(np.count_nonzero(np.asarray(lab) >= 0) for lab in labels))


def _check_labels_feasible(model, labels, name: str) -> None:
    """Raise a ``ValueError`` when two consecutive labels make a transition that the model's
    ``transition_mask`` forbids (every path would then have probability 0)."""
    mask = getattr(model, "transition_mask", None)
    if labels is None or mask is None:
        return
    allowed = np.asarray(mask[...])
    for i, lab in enumerate(labels):
        lab = np.asarray(lab)
        both = (lab[:-1] >= 0) & (lab[1:] >= 0)
        bad = np.flatnonzero(both & ~allowed[np.maximum(lab[:-1], 0), np.maximum(lab[1:], 0)])
        if bad.size:
            t = int(bad[0])
            raise ValueError(
                f"{name}[{i}] has the transition {lab[t]}->{lab[t + 1]} at positions {t}, "
                f"{t + 1} (0-based), which the model's transition_mask forbids; fix the labels "
                "or set them to -1 there."
            )


def _label_masks(model, batch, labels, name: str) -> np.ndarray | None:
    """Validated ``[N, T, K]`` label masks (:func:`~lsgm.training.em.label_potentials`) of a
    padded batch; None without labels. Errors name ``name`` (the argument)."""
    if labels is None:
        return None
    K = getattr(model, "num_states", None)
    if K is None:
        raise ValueError(f"{name} needs a model with num_states; {type(model).__name__} has none.")
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        raise ValueError(f"{name} must be one [T_i] array per sequence; got one 1-D array.")
    for i, lab in enumerate(labels):
        lab = np.asarray(lab)
        if lab.size and not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(
                f"{name}[{i}] has dtype {lab.dtype}; labels must be integers (-1 = unknown)."
            )
    try:
        mask = label_potentials(batch, labels, K)
    except ValueError as err:
        raise ValueError(str(err).replace("state_labels", name)) from err
    _check_labels_feasible(model, labels, name)
    return mask


def _buckets_setting(buckets):
    if buckets is None or isinstance(buckets, str | int | np.integer):
        return buckets if not isinstance(buckets, np.integer) else int(buckets)
    return [int(b) for b in buckets]


# ------------------------------------------------------------------ the loop
def fit_gradient(
    model,
    xs,
    lengths=None,
    *,
    optimizer: optax.GradientTransformation | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    freeze=(),
    validation=None,
    state_labels=None,
    validation_labels=None,
    seed: int = 0,
    progress_bar: bool = False,
    buckets="pow2",
    clip_norm: float | None = None,
    entropy_weight: float = 1.0,
    entropy_epochs: int = 0,
    patience: int | None = None,
    restore_best: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    log: Callable[[str], object] | None = None,
    verbose: bool = False,
    mesh=None,
    optimizer_settings: dict | None = None,
):
    """Fit by minibatch gradient descent on the exact negative log-likelihood.

    Args:
        model: an HMM, LSGM or any model with ``potentials``, ``batch``, ``train``/``eval``
            (and ``PARAM_GROUPS`` for ``freeze``); updated in place.
        xs: training sequences (list, or padded array with ``lengths``).
        optimizer: an optax transformation (default ``optax.adam(1e-2)``).
        epochs: total passes over the data (counting those of a resumed run).
        batch_size: sequences per step. ``None``: one full-batch step per epoch, padded to the
            longest sequence (``buckets`` unused).
        freeze: parts to keep fixed (names from the model's ``PARAM_GROUPS``, e.g.
            ``"initial"``, ``"transition"``, ``"emission"``).
        validation: held-out sequences; their NLL per step is computed after each epoch,
            drives early stopping and picks the parameters kept at the end.
        state_labels: per training sequence ``[T_i]`` ints, ``-1`` = unknown, else a state in
            ``[0, K)``: the loss becomes ``-log p(x, z_L = labels_L)`` per step (every position
            labelled: the joint NLL ``-log p(x, z)``, i.e. supervised training). Labels follow
            their sequences through buckets, shuffling, the entropy term and checkpoints.
        validation_labels: the same for ``validation`` (then the validation NLL is
            ``-log p(x, z_L)`` per step); without them the validation NLL is ``-log p(x)``.
        seed: shuffling seed (epoch ``e`` shuffles with ``numpy.random.default_rng([seed, e])``,
            so a resumed run shuffles exactly as an uninterrupted one).
        progress_bar: show a tqdm bar over epochs.
        buckets: length buckets for minibatches (see :func:`lsgm.data.batching.bucket_lengths`):
            ``"pow2"`` (pad to powers of two), an int (at most that many quantile buckets),
            a list of pad lengths, or ``None`` (pad everything to the longest).
        clip_norm: clip gradients to this global norm (``optax.clip_by_global_norm`` before
            the optimiser).
        entropy_weight: weight of the filtering-entropy bonus while heating (``>= 0``).
        entropy_epochs: number of initial "heating" epochs with the entropy bonus (0: none).
        patience: stop after this many epochs without a lower validation NLL (needs
            ``validation``; ``None``: never stop early).
        restore_best: with ``validation``, end with the parameters of the best epoch.
        checkpoint_dir: write ``checkpoint.msgpack`` there after every epoch, atomically: model
            state (parameters and RNG streams), optimiser state, best parameters, epoch,
            early-stopping counters, history and a fingerprint of the run.
        resume: continue from the checkpoint in ``checkpoint_dir``. With the same data and
            settings the result equals an uninterrupted run. A missing folder or checkpoint,
            or one written for other training/validation data or labels, other starting
            parameters, or other settings (``seed``, ``batch_size``, ``buckets``, ``freeze``,
            ``clip_norm``, the entropy settings, ``patience``, the optimiser's readable
            hyper-parameters and ``optimizer_settings``) raises
            :class:`~lsgm.training.checkpoint.ResumeError` naming what differs. ``epochs``
            may change (continue longer), and so may ``restore_best``, ``progress_bar``,
            ``log``, ``verbose`` and ``mesh``.
        log: called with a one-line summary after every epoch.
        verbose: print that line (when ``log`` is not given).
        mesh: a :class:`jax.sharding.Mesh` (see :func:`lsgm.distributed.make_mesh`): data
            parallel training, each minibatch's rows split over its devices (padded to a
            multiple of the device count with rows of weight 0), the gradient summed across
            them (all-reduce), parameters and optimiser state replicated. None: one device.
            With dropout the masks differ from a single-device run (other RNG splits).
        optimizer_settings: names and values of the optimiser's settings (e.g.
            ``{"--learning-rate": 0.01}``), recorded in checkpoints so that a resume with
            other values is refused naming them (``optimizer`` is opaque; its readable
            numbers are compared too, see :func:`~lsgm.training.checkpoint.optimizer_numbers`).

    Returns:
        ``(model, history)`` with a :class:`GradientHistory`.

    Raises:
        FitDivergedError: the training NLL became non-finite or rose far above its best
            (:data:`~lsgm.training.validity.NLL_RISE_FACTOR`), or a parameter became
            invalid (:mod:`lsgm.training.validity`), naming the epoch; that epoch is not
            checkpointed.
    """
    _check_model(model)
    epochs = _int_at_least("epochs", epochs, 1)
    if batch_size is not None:
        batch_size = _int_at_least("batch_size", batch_size, 1)
    seed = _int_at_least("seed", seed, 0)
    entropy_weight = _check_real("entropy_weight", entropy_weight, positive=False)
    entropy_epochs = _int_at_least("entropy_epochs", entropy_epochs, 0)
    if clip_norm is not None:
        clip_norm = _check_real("clip_norm", clip_norm, positive=True)
    if patience is not None:
        patience = _int_at_least("patience", patience, 1)
        if validation is None:
            raise ValueError("patience (early stopping) needs validation sequences.")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (where the checkpoint is).")
    freeze = _check_freeze(model, freeze)
    if mesh is not None:
        distributed.row_sharding(mesh)  # a clear error for a wrong mesh argument
    if validation_labels is not None and validation is None:
        raise ValueError("validation_labels needs validation sequences (validation=...).")

    batch = model.batch(xs, lengths)
    n = batch.num_sequences
    if n == 0:
        raise ValueError("empty batch: no training sequences were given.")
    size = n if batch_size is None else min(batch_size, n)
    bucketing = None if batch_size is None else buckets
    bucket_lengths(batch.lengths, buckets)  # a bad scheme fails now, not after an epoch
    log_mask = _label_masks(model, batch, state_labels, "state_labels")
    train_buckets = _Buckets(batch, bucket_lengths(batch.lengths, bucketing), log_mask)

    valid_plan = []
    if validation is not None:
        vbatch = model.batch(validation)
        if vbatch.num_sequences == 0:
            raise ValueError("empty batch: no validation sequences were given.")
        vsize = min(size, vbatch.num_sequences) if batch_size else vbatch.num_sequences
        valid_plan = bucketed_minibatches(vbatch.lengths, vsize, bucketing)
        vmask = _label_masks(model, vbatch, validation_labels, "validation_labels")
        valid_buckets = _Buckets(vbatch, bucket_lengths(vbatch.lengths, bucketing), vmask)

    tx = optax.adam(1e-2) if optimizer is None else optimizer
    tx_numbers = optimizer_numbers(tx)
    if clip_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
    wrt = trainable_filter(model, freeze)
    opt = nnx.Optimizer(model, tx, wrt=wrt)
    not_rng = nnx.Not(nnx.RngState)

    model.train()
    train_def, state = nnx.split((model, opt))
    model.eval()
    eval_def = nnx.graphdef((model, opt))
    float_dtype = jnp.result_type(float)

    settings = {
        "seed": seed,
        "batch_size": size,
        "buckets": _buckets_setting(bucketing),
        "entropy_weight": entropy_weight,
        "entropy_epochs": entropy_epochs,
        "clip_norm": clip_norm,
        "freeze": sorted(freeze),
        "num_sequences": n,
        "num_steps": int(np.sum(batch.lengths)),
        "validation": None if validation is None else int(np.sum(vbatch.lengths)),
        "labelled_steps": _labelled_steps(state_labels),
        "validation_labelled_steps": _labelled_steps(validation_labels),
        "patience": patience,
        "optimizer hyper-parameters": tx_numbers,
        **{str(k): v for k, v in (optimizer_settings or {}).items()},
    }
    settings = json.loads(json.dumps(settings))  # as a checkpoint stores them (lists, floats)
    record = (
        None
        if checkpoint_dir is None
        else run_record(
            {
                "training data": fingerprint(batch.data, batch.lengths),
                "state labels": fingerprint(log_mask),
                "validation data": fingerprint(
                    None if validation is None else (vbatch.data, vbatch.lengths)
                ),
                "validation labels": fingerprint(None if validation is None else vmask),
                "starting parameters (another model, --states, --seed or initialisation?)": (
                    fingerprint(nnx.state(model))
                ),
            },
            {},
        )
    )
    history = GradientHistory()
    best = _snapshot(nnx.state(model, not_rng))  # placeholder until a validation NLL improves
    best_valid, bad_epochs, start = math.inf, 0, 0
    path = None if checkpoint_dir is None else os.path.join(checkpoint_dir, CHECKPOINT_FILE)
    if path is not None and not resume:
        fresh_checkpoint_path(checkpoint_dir, CHECKPOINT_FILE)

    def tree():
        return {"model": nnx.state(model), "optimizer": nnx.state(opt), "best": best}

    if resume:
        path = str(resume_path(checkpoint_dir, CHECKPOINT_FILE))
        stored = load_metadata(path)
        was_settings = stored.get("settings") or {}
        changed = sorted(k for k, v in settings.items() if was_settings.get(k, "<unset>") != v)
        if changed:
            parts = ", ".join(
                f"{k} {was_settings.get(k, '<unset>')!r}, not {settings[k]!r}" for k in changed
            )
            raise ResumeError(
                f"cannot resume from {path!r}: settings or data differ ({changed}): the "
                f"checkpoint in {str(checkpoint_dir)!r} was written for {parts}. Use the same "
                "ones, or a new checkpoint_dir."
            )
        restored, meta = load_checkpoint(path, tree())
        check_resume(path, meta.get("run"), record)
        nnx.update(model, restored["model"])
        nnx.update(opt, restored["optimizer"])
        best = restored["best"]
        state = nnx.split((model, opt))[1]
        history = GradientHistory.from_dict(meta["history"])
        best_valid, bad_epochs, start = meta["best_valid"], meta["bad_epochs"], meta["epoch"]

    say = log
    if say is None and verbose:
        say = tqdm.write if progress_bar else print

    train_step, eval_step = _train_step, _eval_step
    if mesh is not None:
        train_step, eval_step = _mesh_steps(mesh)
        state = distributed.replicate(state, mesh)

    def inputs(buckets, mb):
        rows, weights = buckets.rows(mb), jnp.asarray(mb.weights, float_dtype)
        return (*rows, weights) if mesh is None else _sharded_rows(rows, weights, mesh)

    todo = range(start, epochs) if not history.stopped_early else range(0)
    if progress_bar:
        bar = tqdm(todo, desc="gradient", initial=start, total=epochs, leave=False)
    else:
        bar = todo
    for epoch in bar:
        began = time.perf_counter()
        heated = epoch < entropy_epochs and entropy_weight > 0
        if batch_size is None:  # one full-batch step
            plan = [Minibatch(np.arange(n), np.ones(n), batch.max_length)]
        else:
            plan = bucketed_minibatches(
                batch.lengths, size, bucketing, np.random.default_rng([seed, epoch])
            )
        sums = []
        for mb in plan:
            state, s = train_step(
                state,
                *inputs(train_buckets, mb),
                jnp.asarray(entropy_weight, float_dtype),
                graphdef=train_def,
                wrt=wrt,
                heated=heated,
            )
            sums.append(s)
        nll, ent, steps = np.sum(np.asarray(jax.device_get(sums), np.float64), axis=0)
        if log_mask is not None and np.isposinf(nll) and epoch == 0:
            raise ValueError(
                f"the labelled training NLL is inf in epoch {epoch + 1}: for some sequence "
                "the state_labels allow only paths of probability 0 under the model (zero "
                "initial/transition probabilities or emissions). Relax the labels (-1 = "
                "unknown) or start from parameters without those zeros."
            )
        _check_divergence(epoch, float(nll / steps), history.train_nll)
        history.train_nll.append(float(nll / steps))
        history.entropy.append(float(ent / steps))
        history.heated.append(heated)
        nnx.update((model, opt), state)
        problems = parameter_problems(model)
        if problems:
            raise FitDivergedError(
                f"gradient training diverged in epoch {epoch + 1}: invalid parameters "
                f"({'; '.join(problems[:4])}). {_FIX}"
            )

        if validation is not None:
            totals = [
                eval_step(state, *inputs(valid_buckets, mb), graphdef=eval_def) for mb in valid_plan
            ]
            v_nll, v_steps = np.sum(np.asarray(jax.device_get(totals), np.float64), axis=0)
            valid = float(v_nll / v_steps)
            history.valid_nll.append(valid)
            if valid < best_valid:
                best_valid, bad_epochs, history.best_epoch = valid, 0, epoch
                best = _snapshot(nnx.state(model, not_rng))
            else:
                bad_epochs += 1
            if patience is not None and bad_epochs >= patience:
                history.stopped_early = True

        history.wall_time.append(time.perf_counter() - began)
        if path is not None:
            meta = {
                "epoch": epoch + 1,
                "history": history.to_dict(),
                "best_valid": best_valid,
                "bad_epochs": bad_epochs,
                "settings": settings,
                "run": record,
            }
            save_checkpoint(path, tree(), metadata=meta)
            history.wall_time[-1] = time.perf_counter() - began
        if say is not None:
            say(_summary(epoch, epochs, history, heated))
        if hasattr(bar, "set_postfix"):
            post = {"nll": f"{history.train_nll[-1]:.4f}"}
            if history.valid_nll:
                post["valid"] = f"{history.valid_nll[-1]:.4f}"
            bar.set_postfix(post)
        if history.stopped_early:
            break
    if hasattr(bar, "close"):
        bar.close()

    if validation is not None and restore_best and history.best_epoch is not None:
        nnx.update(model, best)
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
