"""Supervised HMM fitting: maximum-likelihood counts from labelled state paths.

    pi_k ∝ #{n : z_{n,1} = k} + c,    A_ij ∝ #{(n, t) : z_{n,t} = i, z_{n,t+1} = j} + c

(``c`` = ``pseudocount``; masked transitions stay 0) and the emission's weighted M-step with
one-hot weights. This is what gene finders and CpG-island models use when annotations exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from lsgm.data import PaddedBatch
from lsgm.models import HMM, FitDivergedError, LengthsLike, SequencesLike, parameter_problems
from lsgm.training.common import check_freeze
from lsgm.training.em import EStepStats, HMMPrior, m_step

M = TypeVar("M", bound=HMM)


def _check_paths(
    model: HMM, batch: PaddedBatch, state_paths: Sequence[npt.ArrayLike]
) -> np.ndarray:
    K = model.num_states
    if len(state_paths) != batch.num_sequences:
        raise ValueError(
            f"state_paths has {len(state_paths)} sequences but the data has {batch.num_sequences}."
        )
    paths = np.zeros(batch.data.shape[:2], np.int32)
    allowed = np.asarray(model.transition_mask[...])
    for i, (z, n) in enumerate(zip(state_paths, batch.lengths, strict=True)):
        z = np.asarray(z)
        if z.shape != (n,):
            raise ValueError(f"state_paths[{i}] has shape {z.shape}; sequence {i} has {n} steps.")
        if not np.issubdtype(z.dtype, np.integer) or np.any((z < 0) | (z >= K)):
            raise ValueError(
                f"state_paths[{i}] must hold integer states in [0, {K}); got {z[:10]}..."
            )
        bad = np.flatnonzero(~allowed[z[:-1], z[1:]])
        if bad.size:
            t = int(bad[0])
            raise ValueError(
                f"state_paths[{i}] has the transition {z[t]}->{z[t + 1]} at position {t}, "
                "which transition_mask forbids."
            )
        paths[i, :n] = z
    return paths


def fit_supervised(
    model: M,
    xs: SequencesLike,
    state_paths: Sequence[npt.ArrayLike],
    lengths: LengthsLike | None = None,
    *,
    pseudocount: float = 0.0,
    emission_prior: object = None,
    freeze: str | Iterable[str] = (),
) -> M:
    """Set the HMM's parameters from labelled sequences (in place; returns the model).

    Args:
        model: an :class:`lsgm.HMM`.
        xs: sequences (list, or padded array with ``lengths``).
        state_paths: one ``[T_i]`` int array of states per sequence.
        pseudocount: added to every allowed initial and transition count.
        emission_prior: the emission family's prior for its M-step (None = MLE).
        freeze: parts to keep fixed (``"initial"``, ``"transition"``, ``"emission"``).

    Raises:
        FitDivergedError: the counts gave invalid parameters (NaN, a misplaced infinity, a
            probability row without mass: :mod:`lsgm.models.validity`), named.
    """
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0; got {pseudocount}.")
    freeze = check_freeze(freeze)
    batch = model.batch(xs, lengths)
    paths = _check_paths(model, batch, state_paths)
    K = model.num_states
    valid = np.arange(batch.max_length)[None, :] < batch.lengths[:, None]
    onehot = np.eye(K, dtype=np.float64)[paths] * valid[..., None]
    initial_counts = onehot[:, 0].sum(0)
    transition_counts = np.einsum("nti,ntj->ij", onehot[:, :-1], onehot[:, 1:])
    weights = onehot.reshape(-1, K)
    dtype = model.initial_logits[...].dtype
    data = jnp.asarray(batch.data)
    stats = EStepStats(
        jnp.asarray(jnp.nan, dtype),  # not computed: the M-step does not read it
        jnp.asarray(initial_counts, dtype),
        jnp.asarray(transition_counts, dtype),
        jnp.asarray(weights, dtype),
        data.reshape((-1,) + data.shape[2:]),
    )
    prior = HMMPrior(1.0 + pseudocount, 1.0 + pseudocount, emission_prior)
    m_step(model, stats, prior, freeze)
    problems = parameter_problems(model)
    if problems:
        raise FitDivergedError(
            f"fit_supervised made invalid parameters ({'; '.join(problems[:4])}); check the "
            "data and labels (a state without observations? constant values?), or pass a "
            "pseudocount / an emission_prior."
        )
    return model
