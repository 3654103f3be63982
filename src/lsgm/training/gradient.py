"""Maximum likelihood by gradient descent through the exact kernels (optax + Flax NNX).

Loss per minibatch: the negative log-likelihood per observed step,

    L = - sum_n log p(x_n) / sum_n T_n,

differentiated through :func:`lsgm.inference.log_partition` (``jax.grad`` of the forward
algorithm equals the expected sufficient statistics, so this is exact). Works for any model
with ``potentials(x)`` and a ``PARAM_GROUPS`` mapping of part name → attribute names, which
``freeze`` uses to keep parts fixed (they are left out of the optimiser entirely).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lsgm import inference
from lsgm.training.common import check_freeze, progress


@dataclass
class GradientHistory:
    """Per-epoch mean negative log-likelihood per step (train, and validation if given)."""

    train_nll: list[float] = field(default_factory=list)
    valid_nll: list[float] = field(default_factory=list)


def trainable_filter(model, freeze: frozenset[str]):
    """An NNX filter selecting the ``nnx.Param``s that are not in a frozen part."""
    groups = getattr(model, "PARAM_GROUPS", {})
    frozen = [nnx.PathContains(name) for part in freeze for name in groups.get(part, ())]
    if not frozen:
        return nnx.Param
    return nnx.All(nnx.Param, nnx.Not(nnx.Any(*frozen)))


def batch_nll(model, data, lengths, weights):
    """Weighted NLL per step of a padded batch (``weights [B]`` are 0 for filler rows)."""
    log_z = jax.vmap(lambda x, n: inference.log_partition(model.potentials(x), n))(data, lengths)
    return -(weights * log_z).sum() / (weights * lengths).sum()


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
    seed: int = 0,
    progress_bar: bool = False,
):
    """Fit by minibatch gradient descent on the exact negative log-likelihood.

    Args:
        model: an HMM (or any model with ``potentials`` and ``PARAM_GROUPS``); updated in place.
        xs: training sequences (list, or padded array with ``lengths``).
        optimizer: an optax transformation (default ``optax.adam(1e-2)``).
        epochs: passes over the data.
        batch_size: sequences per step (default: all). The data are padded once to the
            longest sequence, so one compile serves every step.
        freeze: parts to keep fixed (``"initial"``, ``"transition"``, ``"emission"``).
        validation: optional held-out sequences; their NLL per step is logged each epoch.
        seed: shuffling seed.

    Returns:
        ``(model, history)``.
    """
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1; got {epochs}.")
    freeze = check_freeze(freeze)
    batch = model.batch(xs, lengths)
    n = batch.num_sequences
    size = n if batch_size is None else int(batch_size)
    if not 1 <= size:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    size = min(size, n)
    valid_batch = None if validation is None else model.batch(validation)
    tx = optax.adam(1e-2) if optimizer is None else optimizer
    wrt = trainable_filter(model, freeze)
    opt = nnx.Optimizer(model, tx, wrt=wrt)

    @nnx.jit
    def train_step(model, opt, data, lens, weights):
        loss_fn = lambda m: batch_nll(m, data, lens, weights)  # noqa: E731
        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt))(model)
        opt.update(model, grads)
        return loss

    @nnx.jit
    def evaluate(model, data, lens):
        return batch_nll(model, data, lens, jnp.ones(lens.shape[0]))

    data, lens = jnp.asarray(batch.data), jnp.asarray(batch.lengths)
    rng = np.random.default_rng(seed)
    history = GradientHistory()
    bar = progress(range(int(epochs)), "gradient", progress_bar)
    for _ in bar:
        order = rng.permutation(n)
        order = np.concatenate([order, order[: (-n) % size]])  # fill the last minibatch
        weights = np.ones(order.size)
        weights[n:] = 0.0
        total, steps = 0.0, 0
        for start in range(0, order.size, size):
            idx = order[start : start + size]
            w = jnp.asarray(
                weights[start : start + size], data.dtype if data.dtype.kind == "f" else jnp.float32
            )
            total += float(train_step(model, opt, data[idx], lens[idx], w))
            steps += 1
        history.train_nll.append(total / steps)
        if valid_batch is not None:
            v = evaluate(model, jnp.asarray(valid_batch.data), jnp.asarray(valid_batch.lengths))
            history.valid_nll.append(float(v))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(nll=f"{history.train_nll[-1]:.4f}")
    return model, history
