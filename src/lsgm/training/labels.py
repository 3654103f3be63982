"""State labels for gradient training: validation, clamping masks and their record.

Labels are per sequence ``[T_i]`` ints, ``-1`` = unknown, else a state in ``[0, K)``. They
clamp the state at labelled positions by adding ``log 1{k = label_t}`` to ``log_emit`` (the
``[N, T, K]`` masks of :func:`label_potentials`), so that ``log p(x)``
becomes ``log p(x, z_L = labels_L)``, ``L`` the labelled positions.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from lsgm.data import PaddedBatch
from lsgm.inference import Potentials
from lsgm.models import SequencesLike


def label_potentials(
    batch: PaddedBatch, labels: SequencesLike | None, num_states: int
) -> np.ndarray | None:
    """``[N, T, K]`` additive log-masks: 0 where allowed, -inf where a label forbids a state
    (None without labels)."""
    if labels is None:
        return None
    out = np.zeros((batch.num_sequences, batch.max_length, num_states), np.float32)
    if len(labels) != batch.num_sequences:
        raise ValueError(
            f"state_labels has {len(labels)} sequences but the data has {batch.num_sequences}."
        )
    for i, (lab, n) in enumerate(zip(labels, batch.lengths, strict=True)):
        lab = np.asarray(lab)
        if lab.shape != (n,):
            raise ValueError(
                f"state_labels[{i}] has shape {lab.shape}; sequence {i} has {n} steps."
            )
        if np.any((lab < -1) | (lab >= num_states)):
            bad = int(lab[(lab < -1) | (lab >= num_states)][0])
            raise ValueError(
                f"state_labels[{i}] holds {bad}; use -1 (unknown) or 0..{num_states - 1}."
            )
        known = lab >= 0
        out[i, :n][known] = -np.inf
        out[i, np.flatnonzero(known), lab[known]] = 0.0
    return out


def with_labels(p: Potentials, log_mask: jax.Array | np.ndarray | None) -> Potentials:
    """Potentials with a :func:`label_potentials` row added to the emissions (None: as is)."""
    if log_mask is None:
        return p
    return Potentials(p.log_init, p.log_trans, p.log_emit + log_mask)


def labelled_steps(labels: SequencesLike | None) -> int | None:
    """Number of labelled positions (the checkpoint's record of the labels; None: no labels)."""
    if labels is None:
        return None
    return int(sum(np.count_nonzero(np.asarray(lab) >= 0) for lab in labels))


def check_labels_feasible(model: nnx.Module, labels: SequencesLike | None, name: str) -> None:
    """Raise a ``ValueError`` when two consecutive labels make a transition that the model's
    ``transition_mask`` (``[K, K]`` booleans, if it has one) forbids: every path would then
    have probability 0."""
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


def label_masks(
    model: nnx.Module, batch: PaddedBatch, labels: SequencesLike | None, name: str
) -> np.ndarray | None:
    """Validated ``[N, T, K]`` label masks (:func:`label_potentials`) of a
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
    check_labels_feasible(model, labels, name)
    return mask
