"""What every sequence model shares: inference and scoring from ``potentials``.

A subclass defines ``potentials(x) -> Potentials`` for one sequence, ``n_parameters()``,
and holds an :class:`~lsgm.distributions.Emission` as ``self.emission`` (used to validate
observations). Everything else — per-sequence inference, batched scoring and decoding over
ragged sequences, information criteria — is written once here on top of
:mod:`lsgm.inference`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.sharding import Mesh
from jax.typing import ArrayLike

from lsgm import inference
from lsgm.data import PaddedBatch, pad_sequences, unpad
from lsgm.distributions import Emission
from lsgm.inference import Potentials, chunked_viterbi, time_parallel
from lsgm.mesh import gather, replicate, shard_batch

Array = jax.Array
#: Many sequences, as models and fitters take them: a list of ``[T_i, ...]`` arrays (or nested
#: lists), or a padded ``[N, T, ...]`` array whose rows ``lengths`` cut.
SequencesLike = Sequence[npt.ArrayLike] | np.ndarray | Array
#: ``[N]`` valid lengths of a padded array's rows (None: every row is full).
LengthsLike = Sequence[int] | np.ndarray | Array
#: A result on the device (one device) or gathered to the host (a mesh).
HostOrDevice = Array | np.ndarray


class SequenceModel(nnx.Module):
    """Base class: exact inference and scoring for any model that makes potentials."""

    #: True when :meth:`potentials` are stationary (``log_trans [K, K]``) and the emission row
    #: of step ``t`` depends on ``x_t`` only, so that a sequence may be cut into chunks that
    #: are processed in parallel (``method="chunked"``, :mod:`lsgm.inference.time_parallel`).
    supports_chunked: bool = False
    #: The emission family (every model has one; it validates the data).
    emission: Emission
    #: ``K``, the number of hidden states.
    num_states: int

    def potentials(self, x: Array) -> Potentials:  # pragma: no cover - abstract
        """Potentials of one sequence ``x [T, ...]``."""
        raise NotImplementedError

    def n_parameters(self) -> int:  # pragma: no cover - abstract
        """Number of free scalar parameters."""
        raise NotImplementedError

    # ------------------------------------------------------------ one sequence
    def _checked(self, x) -> Array:
        if isinstance(x, jax.core.Tracer):
            return x
        self.emission.check_data(np.asarray(x), "the sequence")
        return jnp.asarray(x)

    def log_prob(self, x: npt.ArrayLike, length: ArrayLike | None = None) -> Array:
        """``log p(x)`` of one sequence."""
        return inference.log_partition(self.potentials(self._checked(x)), length)

    def posteriors(self, x: npt.ArrayLike, length: ArrayLike | None = None) -> inference.Posteriors:
        """State and pairwise posteriors of one sequence (see :func:`lsgm.inference.posteriors`).

        Called eagerly, an impossible sequence (``p(x) = 0``: posteriors undefined) is a
        ``ValueError`` naming the position where it becomes impossible; under ``jax.jit``
        its posteriors are NaN (the kernels' convention)."""
        post = inference.posteriors(self.potentials(self._checked(x)), length)
        self._raise_if_undefined(x, length, post.states)
        return post

    def filtered(self, x: npt.ArrayLike, length: ArrayLike | None = None) -> Array:
        """``[T, K]`` ``p(z_t | x_{1:t})`` of one sequence (eagerly, an impossible sequence
        raises as in :meth:`posteriors`; under ``jax.jit`` its rows from the impossible
        position on are NaN)."""
        probs = inference.filtered(self.potentials(self._checked(x)), length)
        self._raise_if_undefined(x, length, probs)
        return probs

    def _raise_if_undefined(self, x, length, probs: Array) -> None:
        if isinstance(probs, jax.core.Tracer) or not np.isnan(np.asarray(probs)).any():
            return
        batch = self.batch([np.asarray(x)], None if length is None else [int(length)])
        self._raise_if_impossible(batch, np.ones(1, bool))

    def viterbi(self, x: npt.ArrayLike, length: ArrayLike | None = None) -> tuple[Array, Array]:
        """``(path [T], log_score)`` of one sequence (see :func:`lsgm.inference.viterbi`).

        When the sequence is impossible under the model (no path has a non-zero
        probability) ``log_score`` is ``-inf`` and the path is all ``-1``: no made-up path.
        """
        return inference.viterbi(self.potentials(self._checked(x)), length)

    # -------------------------------------------------------- many sequences
    def inference_method(
        self, method: str, num_sequences: int, num_steps: int, devices: int = 1
    ) -> str:
        """The kernel a batch of ``num_sequences`` rows of ``num_steps`` steps runs under
        ``method`` (one of :data:`lsgm.inference.EXPECTATION_METHODS`) on ``devices``
        devices: ``"auto"`` picks ``"chunked"`` for a few long sequences, or many rows on one
        device, of a model that supports it (:func:`lsgm.inference.choose_method`),
        ``"scaled"`` otherwise."""
        if method not in inference.EXPECTATION_METHODS:
            raise ValueError(f"method={method!r} is not one of {inference.EXPECTATION_METHODS}.")
        if method == "auto":
            return inference.choose_method(
                num_sequences, num_steps, self.supports_chunked, devices, self.num_states
            )
        if method == "chunked" and not self.supports_chunked:
            raise ValueError(
                f"method='chunked' needs stationary potentials with per-step emissions; a "
                f"{type(self).__name__}'s transitions depend on the sequence. Use "
                "method='scaled' (or 'auto')."
            )
        return method

    def chunk_layout(
        self, num_rows: int, num_steps: int, mesh: Mesh | None = None
    ) -> tuple[int, int]:
        """``(L, C)``, the chunks the time-parallel kernels cut a ``[num_rows, num_steps]``
        batch into on ``mesh`` (:func:`lsgm.inference.time_parallel.chunk_layout`, sized for
        this model's ``K`` and the precision of its parameters)."""
        params = jax.tree.leaves(nnx.state(self, nnx.Param))
        itemsize = jnp.result_type(jnp.float32, *(x.dtype for x in params)).itemsize
        devices = 1 if mesh is None else mesh.size
        return time_parallel.chunk_layout(num_steps, devices, num_rows, self.num_states, itemsize)

    def chunked_potentials(self, data: Array, mesh: Mesh | None = None) -> tuple[Potentials, Array]:
        """Potentials of a padded batch ``data [N, T, ...]`` cut into chunks.

        Returns ``(Potentials(log_init [K], log_trans [K, K], log_emit [L, N·C, K]),
        observations [L, N·C, ...])``: the data blocked by
        :func:`lsgm.inference.time_parallel.block` (``C`` a multiple of ``mesh.size``, the
        chunk axis split over ``mesh``) and the emissions computed on the blocks, so no
        ``[T, K]`` array is ever transposed. Needs :attr:`supports_chunked`."""
        if not self.supports_chunked:
            raise ValueError(f"{type(self).__name__} cannot be cut into chunks.")
        L, C = self.chunk_layout(data.shape[0], data.shape[1], mesh)
        blocked = time_parallel.shard_chunks(time_parallel.block(data, L, C), mesh)
        p = jax.vmap(self.potentials)(blocked)  # per step l: the [N·C] chunks as one "row"
        return Potentials(p.log_init[0], p.log_trans[0], p.log_emit), blocked

    def batch(self, xs: SequencesLike, lengths: LengthsLike | None = None) -> PaddedBatch:
        """Validate every sequence and pad them (see :func:`lsgm.data.pad_sequences`)."""
        batch = pad_sequences(xs, lengths)
        for i, n in enumerate(batch.lengths):
            self.emission.check_data(batch.data[i, :n], f"sequence {i}")
        return batch

    def score(
        self,
        xs: SequencesLike,
        lengths: LengthsLike | None = None,
        *,
        mesh: Mesh | None = None,
        method: str = "auto",
    ) -> float:
        """Total log-likelihood ``sum_i log p(x_i)`` of many sequences (``mesh``, ``method``:
        see :meth:`score_samples`)."""
        batch = self.batch(xs, lengths)
        return float(_batched(self, "log_z", batch, mesh, method).sum())

    def score_samples(
        self,
        xs: SequencesLike,
        lengths: LengthsLike | None = None,
        *,
        mesh: Mesh | None = None,
        method: str = "auto",
    ) -> np.ndarray:
        """``[N]`` log-likelihood of each sequence.

        ``mesh``: a :class:`jax.sharding.Mesh` (:func:`lsgm.distributed.make_mesh`) to split
        the work over its devices (parameters replicated): the sequences (data parallelism),
        or with the chunked kernels the chunks of every sequence (sequence parallelism);
        None: one device. ``method``: ``"auto"`` (the time-parallel kernels for a few long
        sequences, see :meth:`inference_method`), ``"scaled"``, ``"log"`` or ``"chunked"``;
        all give the same numbers up to round-off. The same holds for :meth:`score`,
        :meth:`predict` and :meth:`predict_proba`.
        """
        return np.asarray(_batched(self, "log_z", self.batch(xs, lengths), mesh, method))

    def predict(
        self,
        xs: SequencesLike,
        lengths: LengthsLike | None = None,
        *,
        mesh: Mesh | None = None,
        method: str = "auto",
    ) -> list[HostOrDevice] | HostOrDevice:
        """Viterbi paths: a list of ``[T_i]`` arrays (or ``[N, T]`` padded with -1).

        Raises:
            ValueError: a sequence is impossible under the model (probability 0: no state
                path exists), naming the sequence and the first position at which it becomes
                impossible (see :meth:`impossible_positions`).
        """
        batch = self.batch(xs, lengths)
        paths = _batched(self, "viterbi", batch, mesh, method)
        self._raise_if_impossible(batch, np.asarray(paths)[:, 0] < 0)
        return unpad(paths, batch)

    def predict_proba(
        self,
        xs: SequencesLike,
        lengths: LengthsLike | None = None,
        *,
        mesh: Mesh | None = None,
        method: str = "auto",
    ) -> list[HostOrDevice] | HostOrDevice:
        """State posteriors: a list of ``[T_i, K]`` arrays (or ``[N, T, K]``, zero-padded).

        Raises:
            ValueError: a sequence is impossible under the model (its posteriors are
                undefined), naming the sequence and the first position at which it becomes
                impossible (see :meth:`impossible_positions`).
        """
        batch = self.batch(xs, lengths)
        states = _batched(self, "states", batch, mesh, method)
        self._raise_if_impossible(batch, np.isnan(np.asarray(states)).any(axis=(1, 2)))
        return unpad(states, batch)

    def impossible_positions(
        self, xs: SequencesLike, lengths: LengthsLike | None = None, *, mesh: Mesh | None = None
    ) -> list[int | None]:
        """For each sequence, the first position (1-based) at which it becomes impossible.

        Entry ``i`` is ``None`` when ``p(x_i) > 0``, else the smallest ``P`` with
        ``p(x_{i,1:P}) = 0``: at position ``P`` no state the model can be in gives the
        observation a non-zero probability (typically a symbol whose emission probability
        is 0 in every reachable state). :meth:`score_samples` gives ``-inf`` for exactly
        these sequences; :meth:`predict` and :meth:`predict_proba` raise for them.
        """
        batch = self.batch(xs, lengths)
        steps = np.asarray(_batched(self, "first_impossible", batch, mesh))
        return [None if t < 0 else int(t) + 1 for t in steps]

    def _raise_if_impossible(self, batch: PaddedBatch, bad: np.ndarray) -> None:
        """ValueError naming the first sequence flagged in ``bad [N]`` and where (and why) it
        becomes impossible."""
        if not bad.any():
            return
        i = int(np.flatnonzero(bad)[0])
        n = int(batch.lengths[i])
        x = jnp.asarray(batch.data[i, :n])
        t = int(inference.first_impossible_step(self.potentials(x)))
        others = f" ({int(bad.sum()) - 1} more sequence(s) too)" if bad.sum() > 1 else ""
        if t < 0:  # not a zero: NaN potentials (e.g. NaN parameters)
            raise ValueError(
                f"sequence {i}: the posteriors are NaN{others}; the model's potentials hold a "
                "NaN (check the parameters for NaN, e.g. after a diverged fit)."
            )
        value = np.asarray(batch.data[i, t])
        shown = value.item() if value.ndim == 0 else np.array2string(value, threshold=8)
        raise ValueError(
            f"sequence {i} is impossible under the model (probability 0, log p = -inf){others}: "
            f"it becomes impossible at position {t + 1} (1-based), where the model gives "
            f"observation {shown} probability 0 in every state it can be in; refit with a "
            "pseudocount (a prior, e.g. DirichletPrior(concentration > 1) for categorical "
            "emissions) or check the data. impossible_positions() lists every such sequence."
        )

    def aic(self, xs: SequencesLike, lengths: LengthsLike | None = None) -> float:
        """Akaike information criterion ``-2 log L + 2 k``."""
        return -2 * self.score(xs, lengths) + 2 * self.n_parameters()

    def bic(self, xs: SequencesLike, lengths: LengthsLike | None = None) -> float:
        """Bayesian information criterion ``-2 log L + k log n`` (n = number of observations)."""
        batch = self.batch(xs, lengths)
        log_l = float(_batched(self, "log_z", batch, None, "auto").sum())
        return -2 * log_l + self.n_parameters() * np.log(batch.lengths.sum())


@partial(jax.jit, static_argnums=(0, 1, 5))
def _batched_impl(graphdef, op: str, state, data, lengths, method: str = "scaled"):
    model = nnx.merge(graphdef, state)

    def one(x, n):
        p = model.potentials(x)
        if op == "log_z":
            return inference.log_partition(p, n, method=method)
        if op == "states":
            return inference.posteriors(p, n, method=method).states
        if op == "first_impossible":
            return inference.first_impossible_step(p, n)
        return inference.viterbi(p, n)[0]

    return jax.vmap(one)(data, lengths)


def _batched(
    model: SequenceModel,
    op: str,
    batch: PaddedBatch,
    mesh: Mesh | None = None,
    method: str = "scaled",
) -> HostOrDevice:
    """Run one per-sequence op over a padded batch under one jit (cached per graph and shape).

    With a ``mesh`` the rows are split over its devices (padded to a multiple of the device
    count; the filler rows are dropped from the result) and the parameters replicated; with
    the chunked kernels (``method``, see :meth:`SequenceModel.inference_method`) the rows are
    replicated and the chunks of every row split instead."""
    devices = 1 if mesh is None else mesh.size
    method = model.inference_method(method, batch.num_sequences, batch.max_length, devices)
    graphdef, state = nnx.split(model)
    if method == "chunked" and op in ("log_z", "states", "viterbi"):
        data, lengths = jnp.asarray(batch.data), jnp.asarray(batch.lengths, jnp.int32)
        if mesh is not None:
            state, data, lengths = replicate((state, data, lengths), mesh)
        return _chunked_impl(graphdef, op, mesh, state, data, lengths)
    if mesh is None:
        data, lengths = jnp.asarray(batch.data), jnp.asarray(batch.lengths)
        return _batched_impl(graphdef, op, state, data, lengths, method)
    sharded = shard_batch(batch, mesh)
    state = replicate(state, mesh)
    out = _batched_impl(graphdef, op, state, sharded.data, sharded.lengths, method)
    return gather(out)[: batch.num_sequences]


@partial(jax.jit, static_argnums=(0, 1, 2))
def _chunked_impl(graphdef, op: str, mesh, state, data, lengths):
    """``op`` of a padded batch by the time-parallel kernels (sequence parallel over
    ``mesh``): log-likelihoods, state posteriors or Viterbi paths."""
    model = nnx.merge(graphdef, state)
    N, T = data.shape[:2]
    if op == "viterbi":  # max-plus chunk products per sequence (lsgm.inference.chunked)
        one_chunk = model.chunk_layout(N, T, mesh)[1] == 1
        decode = inference.viterbi if one_chunk else chunked_viterbi  # many short rows: plain
        return jax.vmap(lambda x, n: decode(model.potentials(x), length=n)[0])(data, lengths)
    p, _ = model.chunked_potentials(data, mesh)
    if op == "log_z":
        return time_parallel.blocked_log_partition(p.log_init, p.log_trans, p.log_emit, lengths, T)
    counts = time_parallel.blocked_expected_counts(p.log_init, p.log_trans, p.log_emit, lengths, T)
    return time_parallel.unblock(counts.states, N, T)
