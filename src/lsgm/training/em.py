"""Baum–Welch (EM) for HMMs: exact E-step by the shared kernels, closed-form M-steps.

E-step, per sequence (``lsgm.inference.posteriors``): ``gamma_t(k) = p(z_t = k | x)`` and
``xi_t(i, j) = p(z_t = i, z_{t+1} = j | x)``. M-step with Dirichlet priors ``alpha``
(``alpha = 1`` is the plain maximum-likelihood update, as in hmmlearn):

    pi_k   ∝ max(sum_n gamma_{n,1}(k) + alpha_pi - 1, 0)
    A_ij   ∝ max(sum_n sum_t xi_{n,t}(i, j) + alpha_A - 1, 0)        (masked entries stay 0)
    emission.m_step(x, gamma, prior)                                 (family-specific)

A state whose row gets no mass keeps its previous row (hmmlearn would leave it all-zero).
One jit-compiled step serves every iteration; batches are padded once.

Semi-supervised EM: ``state_labels`` (per sequence, ``-1`` = unknown) clamp the posterior at
labelled positions by adding ``log 1{k = label}`` to the emission potentials; with every
position labelled a single step equals :func:`lsgm.training.fit_supervised`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from lsgm import inference
from lsgm.data import PaddedBatch
from lsgm.distributions import dirichlet_log_density
from lsgm.inference import time_parallel
from lsgm.mesh import gather, pad_rows, replicate, replicated, row_sharding, shard_rows
from lsgm.models import (
    HMM,
    FitDivergedError,
    LengthsLike,
    SequenceModel,
    SequencesLike,
    parameter_problems,
)
from lsgm.training.checkpoint import (
    ResumeError,
    check_resume,
    fingerprint,
    fresh_checkpoint_path,
    load_checkpoint,
    load_metadata,
    resume_path,
    run_record,
    save_checkpoint,
)
from lsgm.training.common import PARTS, check_freeze, progress
from lsgm.training.labels import label_potentials, with_labels

EM_CHECKPOINT = "em_checkpoint.msgpack"

Array = jax.Array
#: The time-parallel E-step's boundary messages (:attr:`EStepStats.messages`).
Messages = time_parallel.Messages
#: A compiled EM iteration (:func:`em_step_for`): ``step(state, data, lengths, log_mask[,
#: weights], messages=...) -> (new state, log-likelihood, log-prior, messages)``.
EMStep = Callable[..., tuple[nnx.State, Array, Array, Messages | None]]
M = TypeVar("M", bound=HMM)


@dataclass(frozen=True)
class HMMPrior:
    """Conjugate priors for MAP EM.

    Attributes:
        initial: Dirichlet concentration of ``pi`` (scalar or ``[K]``); 1 = no prior.
        transition: Dirichlet concentration of each row of ``A`` (scalar or ``[K, K]``).
        emission: the emission family's prior object (see the family), or None.
    """

    initial: float | np.ndarray = 1.0
    transition: float | np.ndarray = 1.0
    emission: object = None


@dataclass
class FitHistory:
    """What a fit did: the log-likelihood before each M-step, the objective EM maximises
    (the log-likelihood, plus the prior's log-density for MAP EM: see
    :func:`hmm_log_prior`), and whether it converged."""

    log_likelihoods: list[float] = field(default_factory=list)
    converged: bool = False
    restarts: list[float] = field(default_factory=list)  # final objective per restart
    objectives: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.objectives:  # a checkpoint written before objectives were recorded
            self.objectives = list(self.log_likelihoods)

    @property
    def n_iter(self) -> int:
        return len(self.log_likelihoods)


def _normalise_counts(counts: Array, old_log: Array) -> Array:
    """Rows of ``counts`` as log-probabilities; a row without mass keeps ``old_log``."""
    total = counts.sum(-1, keepdims=True)
    with_mass = total > 0
    probs = counts / jnp.where(with_mass, total, 1.0)
    log = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf)
    return jnp.where(with_mass, log, old_log)


class EStepStats(NamedTuple):
    """Expected sufficient statistics of a batch (what :func:`m_step` needs).

    Attributes:
        log_likelihood: ``[]`` ``sum_n w_n log p(x_n)``.
        initial: ``[K]`` ``sum_n w_n p(z_{n,1} = k | x_n)``.
        transitions: ``[K, K]`` ``sum_n w_n sum_t p(z_{n,t} = i, z_{n,t+1} = j | x_n)``.
        weights: ``[M, K]`` posterior state probabilities, one row per observation of
            ``observations`` (0 on padding and on rows of weight 0).
        observations: ``[M, ...]`` the observations, in the order of ``weights`` (the padded
            batch flattened, or its chunks for ``method="chunked"``; the ``V`` distinct
            patterns, with ``weights`` their summed posteriors, on pattern codes).
        messages: the time-parallel E-step's exact boundary messages (``method="chunked"``,
            see :class:`lsgm.inference.time_parallel.BatchCounts`), for the next iteration's
            ``e_step(..., messages=...)``; None otherwise.
    """

    log_likelihood: Array
    initial: Array
    transitions: Array
    weights: Array
    observations: Array
    messages: Messages | None = None


def e_step(
    model: SequenceModel,
    data: Array,
    lengths: Array,
    log_mask: Array | None = None,
    weights: Array | None = None,
    method: str = "scaled",
    mesh: Mesh | None = None,
    messages: Messages | None = None,
) -> EStepStats:
    """Expected sufficient statistics of a padded batch (``log_mask``: from
    :func:`label_potentials`, added to the emission potentials).

    ``weights [N]`` (0 or 1; None: all 1) drop rows: a row of weight 0 contributes exactly
    nothing (the filler rows of :func:`lsgm.distributed.pad_rows`, whose length is 0 — the
    kernels still count step 0 of such a row in ``log_z``).

    ``method``: ``"scaled"``/``"log"`` (a scan per sequence, vectorised over the batch) or
    ``"chunked"`` (the exact time-parallel E-step of :mod:`lsgm.inference.time_parallel`, for
    models whose potentials are stationary with per-step emissions, see
    :attr:`lsgm.models.base.SequenceModel.supports_chunked`); resolve ``"auto"`` first
    (:meth:`~lsgm.models.base.SequenceModel.inference_method`). With ``"chunked"`` and a
    ``mesh`` the chunks are split over its devices (sequence parallelism), and ``messages``
    (the previous iteration's :attr:`EStepStats.messages`) start its sweep. Without a mesh
    or labels, an emission with :meth:`~lsgm.distributions.base.Emission.pattern_codes`
    (symbols, binary marks) gets the E-step on pattern codes: ``weights`` are then ``[V, K]``
    pattern counts and ``observations`` the ``V`` patterns (the same M-step).
    """
    if method == "chunked":
        return _chunked_e_step(model, data, lengths, log_mask, weights, mesh, messages)

    def one(x, n, mask):
        p = model.potentials(x)
        return inference.expected_counts(with_labels(p, mask), n, method=method)

    counts = jax.vmap(one)(data, lengths, log_mask)
    if weights is not None:
        keep = weights > 0
        counts = jax.tree.map(
            lambda a: jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, 0.0), counts
        )
    K = counts.states.shape[-1]
    return EStepStats(
        counts.log_z.sum(),
        counts.states[:, 0].sum(0),
        counts.transitions.sum(0),
        counts.states.reshape(-1, K),
        data.reshape((-1,) + data.shape[2:]),
    )


@partial(jax.jit, static_argnums=0)
def _blocked_codes_once(graphdef, state, data: Array) -> time_parallel.BlockedCodes | None:
    """:func:`_pattern_codes` of a batch on one device, compiled (as eager operations it
    took 0.65 s on ChromHMM's sample; compiled, 0.01 s plus its compile)."""
    return _pattern_codes(nnx.merge(graphdef, state), data, None, None)


def _chunked_e_step(model, data, lengths, log_mask, weights, mesh, messages) -> EStepStats:
    """:func:`e_step` by :func:`lsgm.inference.time_parallel.blocked_expected_counts`: the
    observations are cut into chunks (``[L, N·C, ...]``) before the emission potentials are
    computed, so no ``[T, K]`` array is transposed, and the M-step reads the chunks (on a
    mesh, chunk by chunk, so that every device sums its own chunks). ``data`` may be
    :class:`~lsgm.inference.time_parallel.BlockedCodes` (pattern codes, blocked once per
    fit)."""
    if isinstance(data, time_parallel.BlockedCodes):
        coded: time_parallel.BlockedCodes | None = data
    else:
        coded = _pattern_codes(model, data, log_mask, mesh)
    if coded is not None:
        patterns = coded.patterns
        counts = model.pattern_counts(coded, lengths, weights, guess=messages)
        log_z = counts.log_z if weights is None else jnp.where(weights > 0, counts.log_z, 0.0)
        return EStepStats(
            log_z.sum(),
            counts.initial,
            counts.transitions,
            counts.states,
            patterns,
            counts.messages,
        )
    N = data.shape[0]
    p, blocked = model.chunked_potentials(data, mesh)
    log_emit = p.log_emit
    L, NC, K = log_emit.shape
    if log_mask is not None:
        log_emit = log_emit + time_parallel.block(log_mask, L, NC // N)
    counts = time_parallel.blocked_expected_counts(
        p.log_init, p.log_trans, log_emit, lengths, data.shape[1], weights, guess=messages
    )
    log_z = counts.log_z if weights is None else jnp.where(weights > 0, counts.log_z, 0.0)
    states, observations = counts.states, blocked
    if mesh is not None:  # flatten chunk-major: each device's chunks stay a contiguous block
        states, observations = jnp.swapaxes(states, 0, 1), jnp.swapaxes(observations, 0, 1)
    flat = observations.reshape((-1,) + observations.shape[2:])
    weights = states.reshape(-1, K)
    stats = (log_z.sum(), counts.initial, counts.transitions, weights, flat, counts.messages)
    return EStepStats(*stats)


def _pattern_codes(model, data, log_mask, mesh) -> time_parallel.BlockedCodes | None:
    """``data`` as :meth:`~lsgm.models.HMM.blocked_codes` when the chunked E-step can use
    them: an :class:`~lsgm.models.HMM` whose emission potentials are the emission's own (no
    label mask), on one device. Then the E-step looks the ``[V, K]`` table up inside its
    scans and the M-step reads ``[V, K]`` pattern counts
    (:meth:`~lsgm.models.HMM.pattern_counts`): no ``[T, K]`` array."""
    if not isinstance(model, HMM) or log_mask is not None or mesh is not None:
        return None
    return model.blocked_codes(data)


def hmm_log_prior(model: HMM, prior: HMMPrior) -> Array | None:
    """``log p(theta)`` up to a constant under ``prior``: Dirichlet densities of ``pi`` and of
    each row of ``A`` (:func:`~lsgm.distributions.categorical.dirichlet_log_density`) plus the
    emission's :meth:`~lsgm.distributions.base.Emission.log_prior`. The M-step maximises
    ``E[log p(x, z | theta)] + log p(theta)``, so ``log p(x | theta) + log p(theta)`` never
    decreases over MAP EM iterations. None when the emission's prior has no such density."""
    emission = model.emission.log_prior(prior.emission)
    if emission is None:
        return None
    return (
        dirichlet_log_density(model.log_initial(), prior.initial)
        + dirichlet_log_density(model.log_transition(), prior.transition)
        + emission
    )


def m_step(model: HMM, stats: EStepStats, prior: HMMPrior, freeze: frozenset[str]) -> None:
    """Closed-form update of ``model`` in place from :func:`e_step` statistics."""
    initial_counts, transition_counts = stats.initial, stats.transitions
    if "initial" not in freeze:
        counts = jnp.maximum(initial_counts + jnp.asarray(prior.initial) - 1, 0)
        model.initial_logits[...] = _normalise_counts(counts, model.log_initial())
    if "transition" not in freeze:
        counts = jnp.maximum(transition_counts + jnp.asarray(prior.transition) - 1, 0)
        counts = jnp.where(model.transition_mask[...], counts, 0.0)
        model.transition_logits[...] = _normalise_counts(counts, model.log_transition())
    if "emission" not in freeze:
        model.emission.m_step(stats.observations, stats.weights, prior.emission)


def _log_prior_or_zero(model: HMM, prior: HMMPrior) -> Array:
    out = hmm_log_prior(model, prior)
    return jnp.zeros(()) if out is None else out


def _make_em_step(graphdef, prior: HMMPrior, freeze: frozenset[str], mesh=None, method="scaled"):
    """One jitted EM iteration ``state -> (new_state, log-likelihood, log-prior, messages)``,
    the log-likelihood and log-prior of the parameters before the update
    (:func:`hmm_log_prior`; 0 when it is None); ``messages`` (keyword in, last out; None but
    for ``method="chunked"``) carry the time-parallel E-step's boundary messages from one
    iteration to the next (:attr:`EStepStats.messages`).

    With a ``mesh`` the step also takes row ``weights [N]``; for ``method="scaled"`` or
    ``"log"`` its inputs are sharded by rows (data parallelism, see :mod:`lsgm.distributed`),
    for ``"chunked"`` they are replicated and the chunks of every sequence are split over the
    devices (sequence parallelism). Either way the sums of the E-step become all-reduces
    across devices and the new parameters come out replicated."""

    def body(state, data, lengths, log_mask, weights, messages=None):
        model = nnx.merge(graphdef, state)
        log_prior = _log_prior_or_zero(model, prior)
        stats = e_step(model, data, lengths, log_mask, weights, method, mesh, messages)
        m_step(model, stats, prior, freeze)
        return nnx.state(model), stats.log_likelihood, log_prior, stats.messages

    if mesh is None:
        return jax.jit(partial(body, weights=None))
    return jax.jit(body, out_shardings=replicated(mesh))


def _as_prior(priors) -> HMMPrior:
    if priors is None:
        return HMMPrior()
    if isinstance(priors, HMMPrior):
        return priors
    if isinstance(priors, dict):
        return HMMPrior(**priors)
    raise TypeError(f"priors must be an HMMPrior, a dict or None; got {type(priors).__name__}.")


def _randomise(model, data: PaddedBatch, key: Array) -> None:
    """Fresh random initial/transition rows and a data-driven emission initialisation."""
    k_init, k_trans, k_emit = jax.random.split(key, 3)
    K = model.num_states
    model.initial_logits[...] = jnp.log(jax.random.dirichlet(k_init, jnp.ones(K)))
    model.transition_logits[...] = jnp.log(jax.random.dirichlet(k_trans, jnp.ones(K), (K,)))
    valid = np.concatenate([data.data[i, :n] for i, n in enumerate(data.lengths)])
    model.emission.initialize(valid, k_emit)


@lru_cache(maxsize=64)
def _cached_em_step(graphdef, prior: HMMPrior, freeze: frozenset[str], mesh, method):
    return _make_em_step(graphdef, prior, freeze, mesh, method)


def em_step_for(
    graphdef: nnx.GraphDef,
    prior: HMMPrior,
    freeze: frozenset[str],
    mesh: Mesh | None = None,
    method: str = "scaled",
) -> EMStep:
    """The jitted EM step, shared by every fit of the same model structure, prior, ``freeze``,
    mesh and method (so repeated fits compile once); priors holding arrays are not hashable
    and get a fresh step."""
    try:
        return _cached_em_step(graphdef, prior, freeze, mesh, method)
    except TypeError:
        return _make_em_step(graphdef, prior, freeze, mesh, method)


@partial(jax.jit, static_argnums=(0, 5, 6))
def _log_z_per_sequence(graphdef, state, data, lengths, mask, method="scaled", mesh=None):
    m = nnx.merge(graphdef, state)
    if method == "chunked":
        p, _ = m.chunked_potentials(data, mesh)
        log_emit = p.log_emit
        if mask is not None:
            L, NC = log_emit.shape[:2]
            log_emit = log_emit + time_parallel.block(mask, L, NC // data.shape[0])
        T = data.shape[1]
        return time_parallel.blocked_log_partition(p.log_init, p.log_trans, log_emit, lengths, T)

    def one(x, n, extra):
        p = m.potentials(x)
        return inference.log_partition(with_labels(p, extra), n, method=method)

    return jax.vmap(one)(data, lengths, mask)


def check_feasible(
    model: SequenceModel,
    batch: PaddedBatch,
    log_mask: np.ndarray | None,
    mesh: Mesh | None = None,
    method: str = "scaled",
) -> None:
    """Raise a ``ValueError`` naming the first sequence that no state path can explain
    (``mesh``: the work split over its devices, see :mod:`lsgm.distributed`; ``method``: a
    resolved E-step method, see :func:`e_step`)."""
    graphdef, state = nnx.split(model)
    if mesh is None:
        mask = None if log_mask is None else jnp.asarray(log_mask)
        data, lengths = jnp.asarray(batch.data), jnp.asarray(batch.lengths)
        log_z = np.asarray(_log_z_per_sequence(graphdef, state, data, lengths, mask, method))
    else:
        data, lengths, mask = sharded_inputs(batch, log_mask, mesh, method)[:3]
        state = replicate(state, mesh)
        log_z = _log_z_per_sequence(graphdef, state, data, lengths, mask, method, mesh)
        log_z = gather(log_z)[: batch.num_sequences]
    bad = np.flatnonzero(~np.isfinite(log_z))
    if bad.size:
        raise ValueError(
            f"sequence {bad[0]} has probability 0 under the model (log p = {log_z[bad[0]]}): "
            "the transition mask, zero probabilities or state_labels forbid every path. "
            "Relax the mask/labels or start from parameters without those zeros."
        )


def sharded_inputs(
    batch: PaddedBatch, log_mask: np.ndarray | None, mesh: Mesh, method: str = "scaled"
) -> tuple[Array, Array, Array | None, Array]:
    """``(data, lengths, log_mask, weights)`` on ``mesh``: for the chunked E-step replicated
    (the chunks are split inside the step: sequence parallelism), otherwise padded to a
    multiple of the device count with rows that contribute nothing and split over ``mesh``
    by rows (data parallelism, :mod:`lsgm.distributed`)."""
    if method == "chunked":
        weights = np.ones(batch.num_sequences, np.float32)
        on = partial(replicate, mesh=mesh)
        mask = None if log_mask is None else on(jnp.asarray(log_mask))
        lengths = jnp.asarray(batch.lengths.astype(np.int32))
        return on(jnp.asarray(batch.data)), on(lengths), mask, on(jnp.asarray(weights))
    data, lengths, weights, padded = pad_rows(batch.data, batch.lengths, mesh.size, None, log_mask)
    put = partial(shard_rows, mesh=mesh)
    return (
        put(data),
        put(lengths.astype(np.int32)),
        None if padded is None else put(padded),
        put(weights.astype(np.float32)),
    )


def _first_messages(model, batch: PaddedBatch, mesh, method: str):
    """The chunked E-step's first ``messages``: uniform (the same start as none), with the
    shape, dtype and placement of the ones every later iteration passes, so the step compiles
    once. None for the other methods."""
    if method != "chunked":
        return None
    N, T = batch.data.shape[:2]
    _, C = model.chunk_layout(N, T, mesh)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    dtype = jnp.result_type(jnp.float32, *(x.dtype for x in params))
    messages = time_parallel.first_messages(model.num_states, N * C, dtype)
    return messages if mesh is None else replicate(messages, mesh)


def _step_inputs(model, batch: PaddedBatch, log_mask, mesh, method: str) -> tuple:
    """``(state, inputs)`` for the EM step: the parameters, and ``(data, lengths, log_mask)``
    (or :func:`sharded_inputs` on a mesh); on one device the chunked E-step's pattern codes
    are blocked once here (:class:`~lsgm.inference.time_parallel.BlockedCodes`) instead
    of in every iteration."""
    _, state = nnx.split(model)
    if mesh is not None:
        return replicate(state, mesh), sharded_inputs(batch, log_mask, mesh, method)
    data, lengths = jnp.asarray(batch.data), jnp.asarray(batch.lengths)
    mask = None if log_mask is None else jnp.asarray(log_mask)
    plain = method == "chunked" and mask is None
    coded = _blocked_codes_once(*nnx.split(model), data) if plain else None
    return state, (data if coded is None else coded, lengths, mask)


def _run_em(
    model,
    step,
    batch,
    log_mask,
    max_iter,
    tol,
    show,
    history=None,
    after_iteration=None,
    mesh=None,
    monotone=True,
    method="scaled",
) -> FitHistory:
    """EM iterations until convergence or ``max_iter`` in all (counting ``history``'s, for a
    resumed restart); ``after_iteration(state, history)`` runs after each one. With a
    ``mesh`` the batch is split over its devices by rows and the parameters are replicated.
    Convergence and the decrease warning (only when ``monotone``: the objective is one EM
    maximises) follow the objective, log-likelihood + log-prior."""
    history = FitHistory() if history is None else history
    state, inputs = _step_inputs(model, batch, log_mask, mesh, method)
    last = history.n_iter if history.converged else max_iter
    bar = progress(range(history.n_iter, last), "EM", show)
    # the chunked E-step's boundary messages, from one iteration to the next
    messages = _first_messages(model, batch, mesh, method)
    first = True
    for _ in bar:
        new_state, log_l, log_prior, messages = step(state, *inputs, messages=messages)
        log_l = float(log_l)
        if first and not np.isfinite(log_l):
            # an impossible sequence under the starting parameters: name it (ValueError)
            # before anything is updated or written; checked only here, so a feasible fit
            # compiles no separate pass (the E-step's own log-likelihood is the test)
            check_feasible(model, batch, log_mask, mesh, method)
        first = False
        if not np.isfinite(log_l):
            raise FitDivergedError(
                f"EM diverged: the log-likelihood became {log_l} at iteration "
                f"{history.n_iter}; check the data and the initial parameters (an impossible "
                "observation? extreme values?), or use priors / a larger variance floor."
            )
        nnx.update(model, new_state)
        problems = parameter_problems(model)
        if problems:
            raise FitDivergedError(
                f"EM diverged at iteration {history.n_iter}: the M-step made invalid "
                f"parameters ({'; '.join(problems[:4])}); check the data (constant or "
                "extreme values?), or use priors (priors=...) / a larger variance floor."
            )
        objective = log_l + float(log_prior)
        previous = history.objectives[-1] if history.objectives else None
        history.log_likelihoods.append(log_l)
        history.objectives.append(objective)
        state = new_state  # like hmmlearn, the M-step after the last E-step is kept
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(log_likelihood=f"{log_l:.4f}")
        delta = np.inf if previous is None else objective - previous
        if monotone and previous is not None and delta < -1e-6 * max(1.0, abs(previous)):
            what = "log-likelihood" if objective == log_l else "log-posterior"
            warnings.warn(
                f"EM {what} decreased by {-delta:.3g} at iteration "
                f"{history.n_iter - 1}; numerical trouble or a variance floor at work.",
                RuntimeWarning,
                stacklevel=3,
            )
        if delta < tol:  # hmmlearn's ConvergenceMonitor rule
            history.converged = True
        if after_iteration is not None:
            after_iteration(state, history)
        if history.converged:
            break
    nnx.update(model, state)
    return history


#: ``(metadata, {"current", "best"} states)`` of an EM checkpoint.
Saved = tuple[dict, dict[str, nnx.State]]


def _load_em_checkpoint(path: Path, model: nnx.Module, record: dict) -> Saved:
    """``(metadata, {"current", "best"} states)`` of the EM checkpoint at ``path``, after
    checking that it was written for the same run (:func:`~lsgm.training.checkpoint.check_resume`
    against ``record``)."""
    check_resume(path, load_metadata(path).get("run"), record)
    template = {"current": nnx.state(model), "best": nnx.state(model)}
    tree, meta = load_checkpoint(path, template)
    return meta, tree


def em_run_record(
    model: nnx.Module,
    batch: PaddedBatch,
    log_mask: np.ndarray | None,
    prior: HMMPrior,
    freeze: frozenset[str],
    n_init: int,
    seed: int,
    max_iter: int,
    tol: float,
    init: bool,
) -> dict:
    """What an EM checkpoint must match to be resumed: hashes of the data, labels, priors
    and the starting parameters, and the settings that change the result. ``max_iter`` may
    grow on resume (to continue longer) when ``n_init == 1``; with restarts it must match."""
    settings = {
        "n_init": int(n_init),
        "seed": int(seed),
        "tol": float(tol),
        "init": bool(init),
        "freeze": sorted(freeze),
    }
    if int(n_init) > 1:
        settings["max_iter"] = int(max_iter)
    hashes = {
        "training data": fingerprint(batch.data, batch.lengths),
        "state labels": fingerprint(log_mask),
        "priors": fingerprint(prior),
        "starting parameters (another model, --states, --seed or initialisation?)": (
            fingerprint(nnx.state(model))
        ),
    }
    return run_record(hashes, settings)


@dataclass
class _EMRun:
    """The fixed parts of one :func:`fit_em` call: the padded data, label masks, prior, frozen
    parts, restarts, E-step kernel and the compiled EM step."""

    batch: PaddedBatch
    log_mask: np.ndarray | None
    prior: HMMPrior
    freeze: frozenset[str]
    init: bool
    n_init: int
    mesh: Mesh | None
    method: str
    monotone: bool
    step: EMStep

    @classmethod
    def prepare(
        cls,
        model: HMM,
        xs: SequencesLike,
        lengths: LengthsLike | None,
        priors: HMMPrior | dict | None,
        freeze: str | Iterable[str] | None,
        labels: SequencesLike | None,
        init: bool | None,
        n_init: int,
        mesh: Mesh | None,
        method: str,
    ) -> _EMRun:
        """Validate the arguments and build the run, in :func:`fit_em`'s order of checks."""
        freeze = check_freeze(freeze)
        prior = _as_prior(priors)
        batch = model.batch(xs, lengths)
        log_mask = label_potentials(batch, labels, model.num_states)
        init = n_init > 1 if init is None else bool(init)
        if mesh is not None:
            row_sharding(mesh)  # a clear error for a wrong mesh argument
        devices = 1 if mesh is None else mesh.size
        method = model.inference_method(method, batch.num_sequences, batch.max_length, devices)
        monotone = model.emission.log_prior(prior.emission) is not None
        step = em_step_for(nnx.graphdef(model), prior, freeze, mesh, method)
        return cls(batch, log_mask, prior, freeze, init, n_init, mesh, method, monotone, step)


@dataclass
class _EMStore:
    """Where :func:`fit_em` checkpoints (``path`` None: nowhere), the run's fingerprint, and
    ``saved = (metadata, tree)`` of the checkpoint it resumes (None: a fresh start)."""

    path: Path | None
    record: dict | None
    saved: Saved | None
    checkpoint_dir: str | os.PathLike[str] | None

    @classmethod
    def open(
        cls,
        model: HMM,
        run: _EMRun,
        checkpoint_dir: str | os.PathLike[str] | None,
        resume: bool,
        seed: int,
        max_iter: int,
        tol: float,
    ) -> _EMStore:
        if checkpoint_dir is None:  # no checkpoints (fit_em refuses resume=True without them)
            return cls(None, None, None, None)
        b, f = run.batch, run.freeze
        args = (run.log_mask, run.prior, f, run.n_init, seed, max_iter, tol, run.init)
        record = em_run_record(model, b, *args)
        path = Path(checkpoint_dir) / EM_CHECKPOINT
        saved = None
        if resume:
            saved = _load_em_checkpoint(resume_path(checkpoint_dir, EM_CHECKPOINT), model, record)
        else:
            fresh_checkpoint_path(checkpoint_dir, EM_CHECKPOINT)
        return cls(path, record, saved, checkpoint_dir)

    def save(
        self,
        state: nnx.State,
        hist: FitHistory,
        restart: int,
        best: HMM | None,
        best_history: FitHistory | None,
        restarts: list[float],
    ) -> None:
        """Write the current restart's ``state`` and history and the best restart so far."""
        tree = {"current": state, "best": state if best is None else nnx.state(best)}
        meta = {
            "restart": restart,
            "history": {
                "log_likelihoods": hist.log_likelihoods,
                "objectives": hist.objectives,
                "converged": hist.converged,
            },
            "best_history": None if best_history is None else asdict(best_history),
            "restarts": restarts,
            "run": self.record,
        }
        save_checkpoint(self.path, tree, meta)

    def resumed_history(self, meta: dict, max_iter: int) -> FitHistory:
        """The interrupted restart's history in the checkpoint's metadata ``meta``; a
        ``ResumeError`` when it ran past ``max_iter``."""
        history = FitHistory(**meta["history"])
        if history.n_iter > max_iter:
            raise ResumeError(
                f"cannot resume: the checkpoint in {str(self.checkpoint_dir)!r} has already run "
                f"{history.n_iter} EM iterations, more than max_iter={max_iter}; pass "
                f"max_iter >= {history.n_iter} (CLI: --max-iter) to continue it."
            )
        return history


def _fit_restarts(
    model: M,
    run: _EMRun,
    store: _EMStore,
    seed: int,
    max_iter: int,
    tol: float,
    progress_bar: bool,
    callback: Callable[[FitHistory], None] | None = None,
) -> tuple[M, FitHistory]:
    """The restarts of :func:`fit_em` (continuing a resumed one); the model ends with the
    parameters of the restart with the best final objective."""
    saved = store.saved
    start = saved[0]["restart"] if saved else 0
    best: HMM | None = None
    best_history: FitHistory | None = None
    history_restarts: list[float] = []
    if saved:
        meta, tree = saved
        history_restarts = list(meta["restarts"])
        if meta["best_history"] is not None:
            best, best_history = nnx.clone(model), FitHistory(**meta["best_history"])
            nnx.update(best, tree["best"])
    keys = jax.random.split(jax.random.key(seed), run.n_init)
    for restart in range(start, int(run.n_init)):
        candidate = nnx.clone(model) if run.n_init > 1 else model
        history = None
        if saved and restart == start:
            nnx.update(candidate, saved[1]["current"])
            history = store.resumed_history(saved[0], max_iter)
        elif run.init:
            _randomise(candidate, run.batch, keys[restart])

        def save(
            state: nnx.State,
            hist: FitHistory,
            restart: int = restart,
            best: HMM | None = best,
            best_history: FitHistory | None = best_history,
        ) -> None:
            if store.path is not None:
                store.save(state, hist, restart, best, best_history, history_restarts)
            if callback is not None:
                callback(hist)

        history = _run_em(
            candidate,
            run.step,
            run.batch,
            run.log_mask,
            max_iter,
            tol,
            progress_bar,
            history=history,
            after_iteration=None if store.path is None and callback is None else save,
            mesh=run.mesh,
            monotone=run.monotone,
            method=run.method,
        )
        history_restarts.append(history.objectives[-1])
        if best_history is None or history.objectives[-1] > best_history.objectives[-1]:
            best, best_history = candidate, history
    # n_init >= 1 and a resumed restart index is below n_init: at least one restart ran
    assert best is not None and best_history is not None
    if best is not model:
        nnx.update(model, nnx.state(best))
    best_history.restarts = history_restarts
    return model, best_history


def fit_em(
    model: M,
    xs: SequencesLike,
    lengths: LengthsLike | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    priors: HMMPrior | dict | None = None,
    freeze: str | Iterable[str] = (),
    n_init: int = 1,
    init: bool | None = None,
    state_labels: SequencesLike | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    mesh: Mesh | None = None,
    method: str = "auto",
    callback: Callable[[FitHistory], None] | None = None,
) -> tuple[M, FitHistory]:
    """Fit an HMM by Baum–Welch.

    Args:
        model: an :class:`lsgm.HMM` (updated in place and returned).
        xs: a list of sequences, or a padded array with ``lengths``.
        max_iter: at most this many EM iterations per restart.
        tol: stop when the objective (the total log-likelihood; plus the prior's log-density
            for MAP EM, :func:`hmm_log_prior`) improves by less than ``tol``.
        priors: :class:`HMMPrior` (or a dict of its fields) for MAP estimation.
        freeze: any of ``"initial"``, ``"transition"``, ``"emission"``: kept fixed.
        n_init: random restarts; the one with the best final objective is kept.
        init: re-initialise before fitting (random rows, ``emission.initialize`` e.g. k-means).
            Default: only when ``n_init > 1``; the model's current parameters otherwise.
        state_labels: per sequence ``[T_i]`` ints, ``-1`` = unknown (semi-supervised EM).
        seed: seeds the restarts.
        progress_bar: show a tqdm bar.
        checkpoint_dir: write ``em_checkpoint.msgpack`` there after every iteration,
            atomically (current restart, its parameters and history, the best restart so
            far, and a fingerprint of the run: see :func:`em_run_record`).
        resume: continue from that checkpoint; with the same data and settings the result
            equals an uninterrupted fit. A missing folder or checkpoint, or one written for
            other data, labels, priors, starting parameters or settings (``n_init``,
            ``seed``, ``tol``, ``init``, ``freeze``; ``max_iter`` too with restarts) raises
            :class:`~lsgm.training.checkpoint.ResumeError`; ``max_iter`` may grow with
            ``n_init == 1`` (continue longer), ``progress_bar`` and ``mesh`` may change.
        mesh: a :class:`jax.sharding.Mesh` (see :func:`lsgm.distributed.make_mesh`): data
            parallel EM, the sequences split over its devices, the expected counts summed
            across them (all-reduce), the parameters replicated; with the chunked E-step,
            sequence parallel EM: the chunks of every sequence split over the devices.
            None: one device.
        method: the E-step kernel: ``"auto"`` (default: the exact time-parallel E-step,
            ``"chunked"``, for a few long sequences — whole chromosomes — and ``"scaled"``
            otherwise; see :func:`lsgm.inference.choose_method`), ``"scaled"``, ``"log"`` or
            ``"chunked"``. All give the same fit up to round-off.
        callback: called with the restart's history after every iteration (e.g. to print
            progress: ``history.log_likelihoods[-1]``, the change, the time).

    Returns:
        ``(model, history)`` with ``history.log_likelihoods`` and ``history.objectives``
        (before each M-step). The objective never decreases up to round-off (a decrease
        triggers a ``RuntimeWarning``); the log-likelihood alone may, under a prior.

    Raises:
        FitDivergedError: the log-likelihood or a parameter became non-finite (or a
            probability row lost all mass: :mod:`lsgm.models.validity`), naming the
            iteration; nothing is checkpointed after it.
    """
    if int(max_iter) < 1 or int(n_init) < 1:
        raise ValueError(f"max_iter and n_init must be >= 1; got {max_iter}, {n_init}.")
    run = _EMRun.prepare(
        model, xs, lengths, priors, freeze, state_labels, init, n_init, mesh, method
    )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (where the checkpoint is).")
    store = _EMStore.open(model, run, checkpoint_dir, resume, seed, max_iter, tol)
    return _fit_restarts(model, run, store, seed, max_iter, tol, progress_bar, callback)


__all__ = [
    "PARTS",
    "FitHistory",
    "EStepStats",
    "HMMPrior",
    "e_step",
    "em_run_record",
    "fit_em",
    "hmm_log_prior",
    "label_potentials",
    "m_step",
]
