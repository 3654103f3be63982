"""The shared regression training flow for PBM models (LSGM paper §3.2), metrics and test data.

Every PBM model (motif HMM / LSGM, DeepBind, DeeperBind) is an ``nnx.Module`` mapping probes
``x [B, L]`` (int, ``A=0, C=1, G=2, T=3``) to predicted intensities ``[B]``. They are all
trained here the same way, as in the paper ("to subject all models to similar training
flows"):

* loss: mean squared error ``sum_n w_n (f(x_n) - y_n)^2 / sum_n w_n`` over a minibatch;
* optimiser: Adam (AdamW when ``weight_decay > 0``), on the ``nnx.Param``s not matched by the
  ``freeze`` filter (frozen parameters are not in the optimiser at all, so they stay
  bit-identical);
* minibatches: each epoch shuffles the probes (``numpy.random.default_rng([seed, epoch])``)
  and cuts them into batches of a FIXED size ``B``. The last, ragged batch is filled up with
  rows repeated from the start of the epoch's order with weight ``w_n = 0``: every probe is
  used exactly once per epoch, nothing is dropped, and the compiled step sees one shape;
* early stopping on the validation Spearman ρ (``patience`` epochs without a higher ρ); at the
  end the model holds the parameters (the whole ``nnx.state``) of the best epoch.

Training runs on the engine of :mod:`lsgm.training.loop`: the loss is an objective of the
model, the optimiser's learning rate and weight decay are arguments of the compiled step
(:class:`~lsgm.training.optimizers.HyperOptimizer`), so a second :func:`fit_regression` of a
same-shaped model reuses the compiled step whatever its settings (:func:`trace_counts` counts
the traces, for tests).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy.stats import spearmanr

from lsgm.training import (
    Callback,
    EarlyStopping,
    HyperOptimizer,
    Loop,
    ProgressBar,
    Trainer,
    check_real,
    int_at_least,
    params_except,
    run_epochs,
)

#: Number of times each jitted function of this module was traced (python side effect).
_TRACES: Counter = Counter()


def trace_counts() -> dict[str, int]:
    """How often the train step (``"train"``) and the prediction step (``"predict"``) were
    traced (compiled) in this process; a call that reuses a compiled step adds nothing."""
    return dict(_TRACES)


# ------------------------------------------------------------------ history and metrics
@dataclass
class RegressionHistory:
    """Per-epoch records of :func:`fit_regression` (one entry per completed epoch).

    Attributes:
        train_loss: mean squared error over the epoch's training probes (averaged over the
            minibatches, weighted by their real rows; parameters change within the epoch).
        valid_loss: mean squared error on the validation probes after the epoch (empty
            without validation).
        valid_spearman: Spearman ρ between predictions and targets on the validation probes
            after the epoch (``nan`` when the predictions are constant).
        best_epoch: 0-based epoch whose parameters the model holds at the end: the highest
            validation ρ, or the last epoch without validation.
        wall_time: seconds each epoch took (training and validation; the first includes
            compilation).
        stopped_early: whether ``patience`` ended training before ``max_epochs``.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_spearman: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    wall_time: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    @property
    def total_time(self) -> float:
        """Seconds over all epochs."""
        return float(sum(self.wall_time))

    def to_dict(self) -> dict:
        return asdict(self)


def spearman(pred, y) -> float:
    """Spearman rank correlation ρ of two ``[N]`` arrays (:func:`scipy.stats.spearmanr`, ties
    get average ranks); ``nan`` when either is constant."""
    pred, y = np.asarray(pred, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if pred.shape != y.shape:
        raise ValueError(f"spearman needs arrays of one length; got {pred.size} and {y.size}.")
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(pred, y).statistic)


def count_parameters(model: nnx.Module, freeze=None) -> int:
    """Number of scalars in the model's ``nnx.Param``s (also of an abstract model from
    ``nnx.eval_shape``, whose leaves are shapes only); those matched by the ``freeze`` filter
    (as :func:`fit_regression` takes it: kept fixed, so not fitted) are not counted."""
    leaves = jax.tree.leaves(nnx.state(model, params_except(freeze)))
    return int(sum(math.prod(np.shape(leaf)) for leaf in leaves))


# ------------------------------------------------------------------ input checks
def check_probes(x, name: str = "x") -> np.ndarray:
    """``x`` as an ``int32 [N, L]`` array of codes ``0..3``; a ``ValueError`` naming ``name``
    and the first bad row otherwise."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a [N, L] array of probes; got shape {x.shape}.")
    if x.size and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} has dtype {x.dtype}; probes must be integer codes A=0..T=3.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); give at least one probe.")
    bad = np.flatnonzero(((x < 0) | (x > 3)).any(axis=1))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{name}[{row}] has codes outside 0..3 ({x[row][(x[row] < 0) | (x[row] > 3)][:5]});"
            " encode probes as A=0, C=1, G=2, T=3 (no N)."
        )
    return x.astype(np.int32)


def _check_targets(y, n: int, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one target per probe); got {y.shape}.")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"{name}[{int(bad[0])}] = {y[bad[0]]} is not finite; remove that probe.")
    return y.astype(np.float32)


# ------------------------------------------------------------------ compiled steps
def _optimizer(learning_rate: float, weight_decay: float) -> HyperOptimizer:
    """Adam, or AdamW when ``weight_decay > 0``, with its numbers as step arguments."""
    if weight_decay > 0:
        return HyperOptimizer(
            optax.adamw, {"learning_rate": learning_rate, "weight_decay": weight_decay}
        )
    return HyperOptimizer(optax.adam, {"learning_rate": learning_rate})


def _squared_error(model, batch, carry):
    """Objective: ``sum_n w_n (f(x_n) - y_n)^2 / max(sum_n w_n, 1)`` of ``(x, y, w)``; aux:
    ``sum_n w_n`` (the batch's real rows)."""
    _TRACES["train"] += 1
    x, y, w = batch
    err = model(x) - y
    return jnp.sum(w * err * err) / jnp.maximum(jnp.sum(w), 1.0), jnp.sum(w), carry


def _predict_impl(state, x, *, graphdef):
    _TRACES["predict"] += 1
    return nnx.merge(graphdef, state)(x)


@lru_cache(maxsize=64)
def _predict_step(graphdef):
    return jax.jit(partial(_predict_impl, graphdef=graphdef))


def _chunk_size(n: int, batch_size: int) -> int:
    """Rows per prediction call: ``min(batch_size, next power of two >= n)`` (few shapes)."""
    return min(batch_size, 1 << max(n - 1, 0).bit_length())


def predict(model: nnx.Module, x, batch_size: int = 1024) -> np.ndarray:
    """Predictions ``[N]`` (float32) of ``model`` on probes ``x [N, L]``, in eval mode (the model
    is left in eval mode), in jitted chunks of a fixed size (the last one padded)."""
    x = check_probes(x)
    batch_size = int_at_least("batch_size", batch_size, 1)
    model.eval()
    graphdef, state = nnx.split(model)
    step = _predict_step(graphdef)
    size = _chunk_size(len(x), batch_size)
    out = []
    for start in range(0, len(x), size):
        rows = x[start : start + size]
        n = len(rows)
        if n < size:
            rows = np.concatenate([rows, np.zeros((size - n, x.shape[1]), np.int32)])
        out.append(np.asarray(step(state, jnp.asarray(rows)))[:n])
    return np.concatenate(out).astype(np.float32)


def _epoch_batches(n: int, size: int, seed: int, epoch: int):
    """``[n_batches, size]`` row indices and 0/1 weights of one shuffled epoch; the last batch is
    filled with weight-0 rows repeated from the start of the order."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    n_batches = -(-n // size)
    fill = n_batches * size - n
    idx = np.concatenate([order, order[:fill]]) if fill else order
    weights = np.ones(n_batches * size, np.float32)
    weights[n:] = 0.0
    return idx.reshape(n_batches, size), weights.reshape(n_batches, size)


# ------------------------------------------------------------------ the loop
def fit_regression(
    model: nnx.Module,
    x,
    y,
    *,
    x_valid=None,
    y_valid=None,
    learning_rate: float = 1e-3,
    batch_size: int | None = 128,
    max_epochs: int = 50,
    patience: int | None = 5,
    freeze: Callable | object | None = None,
    seed: int = 0,
    weight_decay: float = 0.0,
    progress_bar: bool = False,
) -> RegressionHistory:
    """Fit ``model`` (updated in place) to targets ``y`` by minibatch Adam on the MSE.

    Args:
        model: an ``nnx.Module`` with ``model(x [B, L] int32) -> [B]``.
        x: training probes ``[N, L]`` (int codes ``0..3``); y: targets ``[N]`` (already
            normalised by the caller, e.g. standardised log intensities).
        x_valid, y_valid: validation probes and targets; after every epoch their MSE and
            Spearman ρ are recorded, ρ drives early stopping and picks the parameters kept.
        learning_rate: Adam step size (``> 0``).
        batch_size: rows per step (``None``: the whole training set in one step per epoch).
            A batch larger than ``N`` is cut to ``N``.
        max_epochs: most passes over the training probes.
        patience: stop after this many epochs without a higher validation ρ (``None``: run
            ``max_epochs``, still keeping the best epoch). Unused without validation.
        freeze: an NNX filter (e.g. ``nnx.PathContains("pwm")``) of parameters to keep fixed.
        seed: shuffling seed (epoch ``e`` uses ``numpy.random.default_rng([seed, e])``).
        weight_decay: decoupled weight decay (AdamW) when ``> 0``.
        progress_bar: a tqdm bar over epochs.

    Returns:
        A :class:`RegressionHistory`. The model ends in eval mode with the best epoch's state.
    """
    x = check_probes(x, "x")
    y = _check_targets(y, len(x), "y")
    if (x_valid is None) != (y_valid is None):
        raise ValueError("give both x_valid and y_valid, or neither.")
    if x_valid is not None:
        x_valid = check_probes(x_valid, "x_valid")
        y_valid = _check_targets(y_valid, len(x_valid), "y_valid")
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    weight_decay = check_real("weight_decay", weight_decay, positive=False)
    max_epochs = int_at_least("max_epochs", max_epochs, 1)
    seed = int_at_least("seed", seed, 0)
    if patience is not None:
        patience = int_at_least("patience", patience, 1)
    size = len(x) if batch_size is None else min(int_at_least("batch_size", batch_size, 1), len(x))

    wrt = params_except(freeze)
    if not jax.tree.leaves(nnx.state(model, wrt)):
        raise ValueError("nothing to train: every parameter of the model is frozen.")
    trainer = Trainer(model, _optimizer(learning_rate, weight_decay), _squared_error, wrt=wrt)
    valid = None if x_valid is None else (x_valid, y_valid)
    early = None
    if valid is not None:
        early = EarlyStopping(
            model, "valid_spearman", mode="max", patience=patience, keep_first=True
        )
    epochs = _RegressionEpochs(trainer, x, y, size, seed, valid, early, max_epochs)
    callbacks: list[Callback] = [epochs] if early is None else [early, epochs]
    if progress_bar:
        callbacks.append(ProgressBar("fit_regression", epochs.postfix))
    run_epochs(
        trainer, epochs.batches, epochs=max_epochs, metrics=epochs.metrics, callbacks=callbacks
    )
    model.eval()
    return epochs.history


class _RegressionEpochs(Callback):
    """fit_regression's side of the loop: shuffled fixed-size minibatches ``(x, y, w)``, the
    epoch's numbers (training MSE; validation MSE and Spearman ρ) and the history."""

    def __init__(self, trainer: Trainer, x, y, size: int, seed: int, valid, early, max_epochs: int):
        self.trainer, self.x, self.y, self.size, self.seed = trainer, x, y, size, seed
        self.valid, self.early, self.max_epochs = valid, early, max_epochs
        self.history = RegressionHistory()

    def batches(self, epoch: int):
        idx, weights = _epoch_batches(len(self.x), self.size, self.seed, epoch)
        for b in range(len(idx)):
            yield jnp.asarray(self.x[idx[b]]), jnp.asarray(self.y[idx[b]]), jnp.asarray(weights[b])

    def metrics(self, losses: list, real: list) -> dict:
        real = np.asarray(real)
        logs = {"train_loss": float(np.dot(np.asarray(losses), real) / real.sum())}
        if self.valid is not None:
            x_valid, y_valid = self.valid
            pred = predict(self.trainer.model, x_valid)
            logs["valid_loss"] = float(np.mean((pred - y_valid) ** 2))
            logs["valid_spearman"] = spearman(pred, y_valid)
        return logs

    def on_epoch_end(self, loop: Loop) -> None:
        h, logs = self.history, loop.logs
        h.train_loss.append(logs["train_loss"])
        if self.valid is None:
            h.best_epoch = loop.epoch
        else:
            h.valid_loss.append(logs["valid_loss"])
            h.valid_spearman.append(logs["valid_spearman"])
            h.best_epoch = self.early.best_epoch
        h.stopped_early = loop.stop and loop.epoch + 1 < self.max_epochs
        h.wall_time.append(loop.elapsed())

    def postfix(self, loop: Loop) -> dict:
        shown = {"loss": self.history.train_loss[-1]}
        if self.valid is not None:
            shown["rho"] = self.history.valid_spearman[-1]
        return shown


# ------------------------------------------------------------------ synthetic data
def planted_motif_data(
    n: int,
    L: int,
    pwm,
    seed: int = 0,
    *,
    fraction: float = 0.5,
    scale: float = 1.0,
    noise: float = 0.5,
    both_strands: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic PBM probes with a planted motif and intensities from its best log-odds score.

    Probes are uniform random ``[n, L]`` codes; in a random ``fraction`` of them a site sampled
    from ``pwm [W, 4]`` (rows are base probabilities) replaces positions ``p .. p+W-1``, ``p``
    uniform in ``[0, L-W]`` (with ``both_strands``, half of the sites are planted as their
    reverse complement). The target is

        y = scale * max_t sum_w log(max(pwm[w, x_{t+w}], 1e-4) / 0.25) + noise * N(0, 1),

    the best log-odds window score against the uniform background (over both strands with
    ``both_strands``), so probes without a site also get graded intensities.

    Returns:
        ``(x int8 [n, L], y float32 [n], positions int64 [n])``, ``positions`` the planted start
        (``-1``: no site planted).
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[1] != 4 or not np.allclose(pwm.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"pwm must be [W, 4] with rows summing to 1; got shape {pwm.shape}.")
    if (pwm < 0).any():
        raise ValueError("pwm has negative entries; rows must be probabilities.")
    n = int_at_least("n", n, 1)
    W = pwm.shape[0]
    if int_at_least("L", L, 1) < W:
        raise ValueError(f"L={L} is shorter than the motif (W={W}).")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]; got {fraction}.")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, L))
    planted = rng.random(n) < fraction
    starts = rng.integers(0, L - W + 1, size=n)
    u = rng.random((n, W))
    sites = np.minimum((u[..., None] > np.cumsum(pwm, axis=1)[None]).sum(-1), 3)  # [n, W]
    if both_strands:
        flip = rng.random(n) < 0.5
        sites = np.where(flip[:, None], 3 - sites[:, ::-1], sites)
    rows = np.flatnonzero(planted)
    x[rows[:, None], starts[rows, None] + np.arange(W)] = sites[rows]
    log_odds = np.log(np.maximum(pwm, 1e-4) / 0.25)  # [W, 4]
    windows = np.lib.stride_tricks.sliding_window_view(x, W, axis=1)  # [n, L-W+1, W]
    best = log_odds[np.arange(W), windows].sum(-1).max(-1)
    if both_strands:
        rc = (3 - windows)[..., ::-1]
        best = np.maximum(best, log_odds[np.arange(W), rc].sum(-1).max(-1))
    y = scale * best + noise * rng.standard_normal(n)
    return x.astype(np.int8), y.astype(np.float32), np.where(planted, starts, -1)
