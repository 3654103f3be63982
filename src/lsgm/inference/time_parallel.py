"""Exact time-parallel E-step for a batch of long sequences with stationary potentials.

A sequential ``lax.scan`` pays a fixed cost per step (about a microsecond per operation on
XLA:CPU), which dominates when a batch holds a few very long sequences (whole chromosomes):
nothing is left to vectorise over. Here every sequence of a padded batch is cut into ``C``
chunks of ``L ≈ sqrt(T)`` steps (longer when one step's ``[K, N·C]`` block would not fit a
core's cache, :func:`chunk_layout`) and all ``N·C`` chunks are processed side by side, so each
scan step works on a ``[K, N·C]`` block and the scans are ``L`` steps long instead of ``T``.

Notation (one sequence; shared ``log_init [K]``, ``log_trans [K, K]``; ``log_emit [T, K]``).
With ``A = exp(log_trans - max)``, ``e_t = exp(log_emit_t - max_k log_emit_t)`` and the
normalised forward variable ``a_t = p(z_t | x_{1:t})``:

    a_0 ∝ pi * e_0,    a_t ∝ (a_{t-1} A) * e_t,    s_t = the normaliser of step t,
    log p(x) = sum_t log s_t + (the shifts),

and the backward variable ``b_t ∝ A (e_{t+1} * b_{t+1})`` (each normalised to sum 1).

**Boundary messages.** Chunk ``c`` needs the exact ``a`` entering it (``a`` at the last step of
chunk ``c-1``) and the exact ``b`` leaving it (``b`` at its last step). Write ``f_c`` for the
map "message entering chunk c -> message at its end"; the entering messages are the unique
fixed point of ``m_c = f_{c-1}(m_{c-1})`` (``m_0 = pi``). A **sweep** guesses them: every
chunk runs from the uniform vector in parallel, and each chunk's end message becomes the next
chunk's entering message. The stored pass from these messages then checks them for free: if
no end message differs from the next chunk's entering message by more than a few units of
round-off, they are a fixed point, hence exact. This is the case once a chain forgets its
start within a chunk (the product of the chunk's transfer matrices is numerically rank one).
Otherwise the stored pass runs again from the messages it produced: it is itself a sweep
(after ``s`` sweeps the first ``s`` chunks of every sequence are exact whatever the chain).

**Tail sweeps.** An EM iteration hands its messages to the next (:class:`Messages`): the
boundary messages, and also the messages where the last ``tail`` blocks of every chunk start
(forward) and where its first ``tail`` blocks end (backward). The next call's warm-up sweep
then runs only those blocks, from those messages: the error it must wash out is the change of
the parameters, not a uniform start, so well under half a chunk suffices where a whole one
was needed before (:data:`TAIL_SHARE`). Measured on ChromHMM's sample (15 states, chunks of
1,642 steps in 42 blocks, float64, one core): the E-step took 130 ms with whole-chunk sweeps
and 108 ms with tails of 17 blocks, which never fell short over a 200-iteration fit; in 12
iterations sampled from it, tails of 562 steps or more landed on all 820 boundaries (442
steps missed one). The stored pass still checks the fixed point, so nothing rests on this: a
tail that falls short costs a stored pass and doubles for the next call (a whole chunk at
most; then whole sweeps, two of them when one falls short).

A chain that still has not converged after :data:`MAX_SWEEPS`
stored passes (e.g. a periodic or absorbing structure with uninformative emissions) gets the
**chunk transfer products** (``O(T K^3)``, exact for every chain: every chunk run forward
from each of the ``K`` unit vectors, its rows scaled by their log-normalisers) and one more
stored pass.

**One program.** Sweeps, stored passes and the rows of the products are iterations of one
loop that runs the one forward pass (:func:`_forward`: end messages, the chunk's
log-normaliser, and a checkpoint every ``m ≈ sqrt(L)`` steps) and then, by phase, a backward
sweep or the counting pass, so each pass is compiled once. XLA:CPU's compile time is about
30 ms per distinct kernel (measured: ~130 kernels for the E-step, ~190 for an EM step);
it does not grow with ``T``. Either way the result equals the
sequential kernels up to floating-point round-off; :class:`BatchCounts` reports the passes and whether the fallback ran.

A uniform start has full support, so a chunk whose end message is all zero in any sweep is
truly dead (every path has probability 0): such a sequence is impossible (``log p = -inf``,
NaN posteriors), and it does not hold the sweeps back.

**Counts**, fused into the stored backward pass, which recomputes each block of ``m``
forward messages from its checkpoint (nothing but the marginals is written): with
``g_t = sum_k a_t b_t``, ``gamma_t = a_t b_t / g_t`` and ``w_t = e_t b_t / (s_t g_t)``, the
summed pairwise marginals are ``sum_t xi_{t-1,t} = A ⊙ sum_t a_{t-1} w_t^T`` — one small
matrix product per step; the pair that crosses a chunk boundary uses the entering message
as ``a_{t-1}``. ``log p(x)`` is summed per chunk inside the forward pass (Kahan-compensated),
then pairwise over the chunks, so float32 keeps its precision over 10^7 steps.

**Layouts.** :func:`block` cuts observations or tables ``[N, T, ...]`` into ``[L, N·C, ...]``
(step ``l`` of chunk ``c`` of row ``n`` at ``[l, n·C + c]``); models compute their emission
potentials on the blocked observations (:meth:`lsgm.models.base.SequenceModel.
chunked_potentials`), the recursions run on ``[L, K, N·C]`` (the chunks are the minor axis)
and the marginals come back as ``[L, N·C, K]``, aligned with the blocked observations for an
M-step. :func:`shard_chunks` splits the chunk axis over a mesh (sequence parallelism).

**Pattern codes** (:func:`blocked_pattern_counts`, used by EM when the emission has
:meth:`~lsgm.distributions.base.Emission.pattern_codes`: DNA symbols, ChromHMM's binary
marks): the observations take ``V`` distinct values, so the emissions are a ``[V, K]`` table
and ``[L, N·C]`` codes. Every scan step looks its ``[K, N·C]`` emissions up in the table
(which stays in cache), and the state marginals are summed per code into ``[V, K]`` (the
M-step's sufficient statistics, for any family whose M-step is a weighted sum over
observations) instead of being written as ``[L, N·C, K]``: no array of ``T·K`` numbers is
written or read. On this 2-core VM's memory, writing a fresh ``[T, K]`` array costs several
times the arithmetic that produces it (measured: an 80 MB scan output 0.15 s, the scan
without it 0.004 s), so the recomputation is cheaper than the storage.

Padding (``t >= length``) and the first step of every sequence are "stay" steps with no
transition; padding also emits ``log 1 = 0``, so it changes nothing. Compile time does not
grow with ``T``: the program scans ``L`` steps, whatever the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from lsgm.inference.chunked import _kahan, _right
from lsgm.inference.potentials import LOG_FLOOR, floor_or_nan, to_public_log

Array = jax.Array

#: Stored passes tried before the exact chunk-product fallback (the first decides in most
#: chains; a chain that forgets its start more slowly than the warm-up needs a second).
MAX_SWEEPS = 8


def default_chunk(num_steps: int) -> int:
    """Steps per chunk for ``T`` steps: ``ceil(sqrt(T))``, at least 64 (long enough for a
    chain to forget its start; the ``C = T / L`` chunks are what is vectorised over); ``T``
    itself when ``T <= 64``: one chunk per row, whose boundary messages are known (``pi``
    in, uniform out), so no sweep runs and the rows of the batch are what is vectorised
    over (see :func:`_passes`)."""
    if num_steps <= 64:
        return max(num_steps, 1)
    return max(64, math.isqrt(max(num_steps - 1, 0)) + 1)


class BatchCounts(NamedTuple):
    """Expected sufficient statistics of a padded batch (see :func:`batch_expected_counts`).

    Attributes:
        log_z: ``[N]`` ``log p(x_n)`` (``-inf`` impossible, NaN invalid input).
        states: ``[N, T, K]`` ``p(z_t = k | x_n)``; 0 on padding, NaN (valid steps) where
            ``log_z`` is not finite.
        initial: ``[K]`` ``sum_n w_n p(z_0 = k | x_n)``.
        transitions: ``[K, K]`` ``sum_n w_n sum_t p(z_t = i, z_{t+1} = j | x_n)``.
        sweeps: ``[]`` int32, forward and backward passes over the chunks (4 when one sweep
            each way found the exact boundary messages, the least possible).
        fallback: ``[]`` bool, the exact chunk products were needed (no fixed point within
            ``max_sweeps`` sweeps).
        messages: :class:`Messages`, the exact messages found, to start the next call from
            (``guess``: an EM iteration's messages are close to the next one's, and so is
            how fast its chain forgets).
        decoded: with ``decode=True`` (:func:`blocked_pattern_counts`), ``(states, probs)``
            in the :func:`block` layout ``[L, N·C]``: the most probable state of every step,
            ``argmax_k p(z_t = k | x)`` (the first on ties; -1 in an undefined row), and its
            posterior (NaN there); garbage on padding. None otherwise.
    """

    log_z: Array
    states: Array
    initial: Array
    transitions: Array
    sweeps: Array
    fallback: Array
    messages: Messages
    decoded: tuple[Array, Array] | None = None


class Messages(NamedTuple):
    """What one E-step hands the next (:attr:`BatchCounts.messages`, the ``guess`` of the
    next call; :func:`first_messages` before the first): exact messages under its parameters,
    from which the next call's warm-up sweep starts (see :func:`_passes`).

    Attributes:
        entering: ``[K, N·C]`` the forward message entering every chunk.
        leaving: ``[K, N·C]`` the backward message at every chunk's last step.
        two: ``[]`` bool, one full warm-up sweep fell short: run two.
        tail: ``[]`` int32, the blocks of every chunk that the next warm-up sweep runs (its
            tail forward, its head backward); 0: none known yet, the whole chunk.
        forward: ``[K, N·C]`` the forward message entering block ``J - tail`` of every chunk.
        backward: ``[K, N·C]`` the backward message at the last step of block ``tail - 1``.
    """

    entering: Array
    leaving: Array
    two: Array
    tail: Array
    forward: Array
    backward: Array


def first_messages(num_states: int, num_chunks: int, dtype: DTypeLike) -> Messages:
    """The :class:`Messages` before a first call: uniform, no tail known (the same start as
    no ``guess``, with the shapes of every later call's, so that a loop compiles once)."""
    uniform = jnp.full((num_states, num_chunks), 1.0 / num_states, dtype)
    return Messages(uniform, uniform, jnp.bool_(False), jnp.int32(0), uniform, uniform)


class _Layout(NamedTuple):
    """A padded batch cut into chunks for the recursions: ``[L', K, N·C]``, the step inside
    the chunk first, the chunk index last (the minor axis: every per-step operation is
    vectorised over the ``N·C`` chunks; chunk ``c`` of row ``n`` is column ``n·C + c``).
    ``L' = J·m >= L``: the chunk's ``L`` steps in ``J`` blocks of ``m ≈ sqrt(L)`` steps
    (:func:`_blocks`), the last ``L' - L`` steps padding (stay, invalid, emitting 1)."""

    emit: Array  # [L', K, NC] exp(log_emit - shift), 1 on padding; or [L', NC] codes (table)
    log_shift: Array  # [L', NC] the per-step shift; 0 on padding
    stay: Array  # [L', NC] bool: no transition into this step (t == 0 or padding)
    valid: Array  # [L', NC] bool: a step of the chunk with t < length
    first: Array  # [NC] bool: the chunk starts its sequence
    last: Array  # [NC] bool: no later chunk of its sequence has a valid step
    used: Array  # [NC] bool: the chunk has a valid step (its messages matter)
    num_chunks: int  # C
    steps: int  # L, the steps of a chunk (before the padding to J·m)
    block: int  # m: the forward pass keeps the message entering every block of m steps
    #: ``[V + 1, K]`` ``exp(log_table - shift)`` when ``emit`` holds pattern codes (row
    #: ``V``: padding, all 1), looked up one step at a time inside the scans; None otherwise
    table: Array | None = None


def _emission(lay: _Layout, e_l: Array) -> Array:
    """Step ``l``'s ``[K, NC]`` scaled emissions from its slice of ``lay.emit``: the slice
    itself, or its codes' rows of ``lay.table`` (a ``[V + 1, K]`` table stays in cache;
    no ``[L, K, NC]`` array is written or read)."""
    if lay.table is None:
        return e_l
    return lay.table.at[e_l].get(mode="promise_in_bounds").T


#: A batch of at least this many rows runs one chunk per row (``L = T``) on one device: the
#: rows alone fill the ``[K, N]`` blocks of the scans, and no sweep is needed. Measured on one
#: CPU core, float32, E-step against a ``vmap`` of the per-sequence scan (which multiplies
#: ``N`` matrix–vector pairs per step instead of one matrix product): 1.3–1.5x faster at
#: ``N = 128–300, T = 100–2000, K = 4–16``, 2.3–5x at ``N = 500–2000, T = 25–100``, 3.9x at
#: ``N = 1000, T = 25, K = 30``; at ``N = 128, K = 2`` 0.8x (0.15 ms).
ONE_CHUNK_ROWS = 128


#: Bytes of one ``[K, N·C]`` message block per device that :func:`chunk_layout` keeps to:
#: every step of the recursions reads and writes a few such blocks, and they should stay in
#: a core's level-2 cache. Measured on ChromHMM's sample (2 x 672,261 steps, K = 15, one
#: AMD EPYC core, EM iteration): float64 0.172 s at 1,100 steps per chunk (144 KiB
#: blocks), 0.150 s at 1,640 (96 KiB), 0.148 s at 2,200 (72 KiB), 0.164 s at 3,280
#: (48 KiB, longer scans); float32 0.103 s at 820 and 1,640 alike.
BLOCK_BYTES = 96 * 1024


def chunk_layout(
    num_steps: int, multiple: int = 1, num_rows: int = 1, num_states: int = 0, itemsize: int = 0
) -> tuple[int, int]:
    """``(L, C)``: steps per chunk and chunks per row, ``C`` rounded up to a multiple of
    ``multiple`` (the device count, for sequence parallelism: the ``N·C`` chunks are split
    evenly; extra chunks are padding). ``L`` is :func:`default_chunk`'s, or longer when
    ``num_states`` and ``itemsize`` (bytes per number) are given and the ``[K, N·C / multiple]``
    block of one step would exceed :data:`BLOCK_BYTES`. ``num_rows >=``
    :data:`ONE_CHUNK_ROWS` on one device: one chunk per row (``L = T``)."""
    if num_rows >= ONE_CHUNK_ROWS and multiple == 1:
        return max(num_steps, 1), 1
    L = default_chunk(num_steps)
    if num_states and itemsize:
        block_bytes = num_rows * num_steps * num_states * itemsize // multiple  # at L = 1
        L = min(max(L, -(-block_bytes // BLOCK_BYTES)), max(num_steps, 1))
    C = -(-num_steps // L)
    return L, -(-C // multiple) * multiple


def block(x: Array, chunk: int, num_chunks: int | None = None) -> Array:
    """``x [N, T, ...]`` cut into ``C`` chunks of ``chunk`` steps (``C = num_chunks``, default
    ``ceil(T / chunk)``): ``[L, N·C, ...]``, step ``l`` of chunk ``c`` of row ``n`` at
    ``[l, n·C + c]``; the tail of every row padded by repeating its last step (valid input for
    any emission family; the kernels ignore padding). The observations are small next to the
    ``[T, K]`` tables, so this is where the (cheap) transpose happens."""
    x = jnp.asarray(x)
    N, T = x.shape[:2]
    C = -(-T // chunk) if num_chunks is None else num_chunks
    if C * chunk < T:
        raise ValueError(f"{C} chunks of {chunk} steps cannot hold T={T} steps.")
    pad = ((0, 0), (0, C * chunk - T)) + ((0, 0),) * (x.ndim - 2)
    x = jnp.pad(x, pad, mode="edge").reshape((N, C, chunk) + x.shape[2:])
    return jnp.moveaxis(x, 2, 0).reshape((chunk, N * C) + x.shape[3:])


def shard_chunks(x: Array, mesh: Mesh | None = None) -> Array:
    """``x [L, N·C, ...]`` with its chunk axis split over every axis of ``mesh`` (a
    :class:`jax.sharding.Mesh`; None: unchanged). Inside ``jax.jit`` this is all sequence
    parallelism needs: every per-chunk scan step stays on the chunk's device, the boundary
    messages move between neighbouring devices (the ``roll`` of a sweep becomes a collective
    permute) and the sums over chunks become all-reduces (GSPMD)."""
    if mesh is None:
        return x
    from jax.sharding import NamedSharding, PartitionSpec

    spec = PartitionSpec(None, tuple(mesh.axis_names))
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def unblock(x: Array, num_rows: int, num_steps: int) -> Array:
    """Inverse of :func:`block`: ``[L, N·C, ...]`` back to ``[N, T, ...]``."""
    L, NC = x.shape[:2]
    x = jnp.moveaxis(x.reshape((L, num_rows, NC // num_rows) + x.shape[2:]), 0, 2)
    return x.reshape((num_rows, -1) + x.shape[3:])[:, :num_steps]


def _blocks(L: int) -> tuple[int, int]:
    """``(J, m)``: ``J`` blocks of ``m ≈ sqrt(L)`` steps, ``J·m >= L`` (``J·m - L < J``)."""
    J = -(-L // max(1, math.isqrt(L)))
    return J, -(-L // J)


def _layout(log_emit: Array, lengths: Array, num_steps: int) -> _Layout:
    """``log_emit [L, N·C, K]`` (:func:`block` layout) and ``lengths [N]`` as a
    :class:`_Layout` (one fused pass: floor, shift, exponentiate, to ``[L', K, N·C]``)."""
    L, NC, K = log_emit.shape
    lay = _positions(L, NC, lengths, num_steps)
    x = jnp.swapaxes(log_emit, 1, 2)  # [L, K, NC]
    x = jnp.pad(x, ((0, lay.valid.shape[0] - L), (0, 0), (0, 0)))
    # (a NaN at a valid step survives: it makes that step's normaliser NaN, hence log p(x),
    # which marks the row as invalid input; no separate pass over [L, K, NC] looks for it)
    x = jnp.where(lay.valid[:, None, :], jnp.maximum(x, LOG_FLOOR), 0.0)
    shift = jnp.max(x, axis=1)  # [L', NC]
    return lay._replace(emit=jnp.exp(x - shift[:, None, :]), log_shift=shift)


def _coded_layout(log_table: Array, codes: Array, lengths: Array, num_steps: int) -> _Layout:
    """:func:`_layout` of ``log_emit = log_table[codes]`` without building it: the floor,
    shift and exponential act on the ``[V, K]`` table, ``codes [L, N·C]`` (:func:`block`
    layout, in ``[0, V)``) stay codes, padding gets code ``V`` (a row of ones)."""
    L, NC = codes.shape
    V, K = log_table.shape
    lay = _positions(L, NC, lengths, num_steps)
    x = jnp.maximum(log_table, LOG_FLOOR)  # (NaN stays NaN: an invalid pattern)
    shift = jnp.concatenate([jnp.max(x, axis=1), jnp.zeros((1,), x.dtype)])  # [V + 1]
    table = jnp.concatenate([jnp.exp(x - shift[:V, None]), jnp.ones((1, K), x.dtype)])
    codes = jnp.pad(codes, ((0, lay.valid.shape[0] - L), (0, 0)))
    codes = jnp.where(lay.valid, codes, V).astype(jnp.int32)
    return lay._replace(emit=codes, log_shift=shift[codes], table=table)


def _positions(L: int, NC: int, lengths: Array, num_steps: int) -> _Layout:
    """The parts of a :class:`_Layout` that depend only on the lengths (``emit`` and
    ``log_shift`` left None), for chunks of ``L`` steps padded to ``J·m``."""
    N = lengths.shape[0]
    C = NC // N
    J, m = _blocks(L)
    chunk = jnp.broadcast_to(jnp.arange(C), (N, C)).reshape(-1)  # [NC]
    step = jnp.arange(J * m)[:, None]
    t = chunk[None, :] * L + step  # [L', NC] global step
    lengths = jnp.maximum(jnp.minimum(lengths, num_steps), 1)  # step 0 always counts
    valid = (step < L) & (t < jnp.repeat(lengths, C)[None, :])
    used = valid.any(0)
    # padding chunks pass messages through unchanged, so the chunk holding a sequence's last
    # step starts its backward pass from the uniform vector itself (no sweep has to carry it)
    last = (chunk == C - 1) | ~jnp.roll(used, -1)
    stay = (t == 0) | ~valid
    none: Array = None  # type: ignore[assignment]
    return _Layout(none, none, stay, valid, chunk == 0, last, used, C, L, m)


def _normalise(x: Array, axes=0) -> tuple[Array, Array]:
    """``(x / sum, sum)`` over ``axes`` (an all-zero slice stays 0)."""
    total = x.sum(axes)
    safe = jnp.where(total > 0, total, 1.0)
    return x / jnp.expand_dims(safe, axes), total


def _advance(lay: _Layout, trans_t: Array, a: Array, e_l: Array, stay_l: Array):
    """One forward step: ``(a_l, s_l)``, the normalised message and its normaliser."""
    y, s = _advance_lazily(lay, trans_t, a, jnp.ones_like(a[0]), e_l, stay_l)
    return y * _inverse(s), s


def _inverse(s: Array) -> Array:
    """``1 / s`` where ``s > 0``, else 0 (an all-zero message stays 0; NaN stays NaN)."""
    return jnp.where(s > 0, 1.0 / jnp.where(s > 0, s, 1.0), jnp.where(jnp.isnan(s), s, 0.0))


def _advance_lazily(lay: _Layout, trans_t: Array, y: Array, inv: Array, e_l: Array, stay_l: Array):
    """One forward step on an unnormalised message ``y = a_{l-1} / inv`` (``inv [NC]``):
    ``(y_l, s_l)`` with ``a_l = y_l / s_l``. The division by the last normaliser rides on
    the multiplication by the emissions, so no separate pass normalises the message (one
    ``[K, NC]`` read and write a step fewer). ``trans_t``: the transposed transition
    matrix, materialised outside the scan (a transpose inside the step costs as much as the
    product: measured 19 ms vs 11 ms for 820 steps of ``[15, 15] x [15, 1640]`` in float64
    on one core)."""
    moved = jnp.where(stay_l, y, trans_t @ y)
    y = moved * (_emission(lay, e_l) * inv)
    return y, y.sum(0)


def _in_blocks(lay: _Layout, xs):
    """``xs`` (arrays ``[L', ...]``) as ``[J, m, ...]``: the :attr:`_Layout.block` steps."""
    return jax.tree.map(lambda x: x.reshape((-1, lay.block) + x.shape[1:]), xs)


def _forward(lay: _Layout, trans_t: Array, entering: Array, trans_shift: Array, first_block=None):
    """Forward through every chunk from ``entering [K, NC]``: ``(end [K, NC], chunk_log
    [NC], checkpoints [J, K, NC])``; with ``first_block`` (``[]`` int32, traced) from the
    message ``entering`` block ``first_block`` instead (a tail sweep, see :func:`_passes`:
    the blocks before it are skipped, and ``chunk_log`` and their checkpoints mean
    nothing). ``chunk_log`` is the sum over the chunk's valid steps of ``log s_t`` plus the
    shifts (Kahan-compensated, so float32 keeps ~1 ulp per chunk).
    In float64 the normalisers of each block are multiplied instead, the product kept as
    a mantissa and a power of two (:func:`jax.numpy.frexp`: no underflow, whatever the
    normalisers), with one logarithm per block, and the shifts are summed apart: a
    logarithm a step cost 6% of the E-step on ChromHMM's sample (0.150 s against 0.143 s,
    interleaved runs on one core). Padding steps multiply by 1 (their message sums to 1);
    the checkpoints are the messages entering every block of ``m`` steps, from which the
    counting pass recomputes each block's messages (an ``[L, K, NC]`` array written and
    read back costs more than the recomputation, measured). The one forward program of the
    E-step: sweeps, stored passes and the rows of the chunk products all run it."""

    def step(carry, xs):
        y, inv, total, comp = carry
        e_l, stay_l, valid_l, shift_l = xs
        y, s = _advance_lazily(lay, trans_t, y, inv, e_l, stay_l)
        positive = s > 0
        log_s = jnp.where(positive, jnp.log(jnp.where(positive, s, 1.0)), floor_or_nan(s))
        term = log_s + shift_l + jnp.where(stay_l, 0.0, trans_shift)
        total, comp = _kahan(total, comp, jnp.where(valid_l, term, 0.0))
        return (y, _inverse(s), total, comp), None

    def checkpoint(carry):  # the normalised message entering a block
        return carry[0] * carry[1]

    def block(carry, xs_j):
        return jax.lax.scan(step, carry, xs_j)[0], checkpoint(carry)

    # blocks before ``first_block`` pass their message on unchanged
    active = None if first_block is None else (lambda j: j >= first_block)

    def product_step(carry, xs):  # float64: the normalisers multiplied, no logarithm
        y, inv, mant, expo = carry
        y, s = _advance_lazily(lay, trans_t, y, inv, *xs)
        mant, e = jnp.frexp(mant * s)
        return (y, _inverse(s), mant, expo + e), None

    def product_block(carry, xs_j):
        y, inv, total = carry
        start = (y, inv, jnp.ones_like(total), jnp.zeros(total.shape, jnp.int32))
        (y, inv, mant, expo), _ = jax.lax.scan(product_step, start, xs_j)
        positive = mant > 0
        log = jnp.where(positive, jnp.log(jnp.where(positive, mant, 1.0)), floor_or_nan(mant))
        return (y, inv, total + log + expo * math.log(2.0)), checkpoint(carry)

    zeros = jnp.zeros(entering.shape[1:], entering.dtype)
    if entering.dtype == jnp.float64:
        shifts = lay.log_shift + jnp.where(lay.stay, 0.0, trans_shift)
        shifts = jnp.sum(jnp.where(lay.valid, shifts, 0.0), axis=0)  # [NC]
        xs = _in_blocks(lay, (lay.emit, lay.stay))
        (y, inv, chunk_log), checkpoints = _scan_blocks(
            product_block, (entering, jnp.ones_like(zeros), zeros), xs, active, checkpoint
        )
        return y * inv, chunk_log + shifts, checkpoints
    xs = _in_blocks(lay, (lay.emit, lay.stay, lay.valid, lay.log_shift))
    init = (entering, jnp.ones_like(zeros), zeros, zeros)
    (y, inv, chunk_log, _), checkpoints = _scan_blocks(block, init, xs, active, checkpoint)
    return y * inv, chunk_log, checkpoints


def _backward(lay: _Layout, trans: Array, leaving: Array, last_block=None) -> Array:
    """Backward through every chunk from ``leaving [K, NC]`` (``b`` at each chunk's last
    step): ``begin [K, NC]``, the message for the last step of the chunk before. With
    ``last_block`` (``[]`` int32, traced) ``leaving`` is the message the block
    ``last_block - 1`` starts from instead (a tail sweep, see :func:`_passes`; the later
    blocks are skipped)."""

    def step(b, xs):
        e_l, stay_l = xs
        moved, _ = _normalise(jnp.where(stay_l, b, _right(trans, _emission(lay, e_l) * b)))
        return moved, None

    def block(b, xs_j):
        return jax.lax.scan(step, b, xs_j, reverse=True)[0], None

    active = None if last_block is None else (lambda j: j < last_block)
    xs = _in_blocks(lay, (lay.emit, lay.stay))
    return _scan_blocks(block, leaving, xs, active, reverse=True)[0]


def _scan_blocks(run, init, xs, active=None, idle=lambda carry: None, reverse=False):
    """``jax.lax.scan(run, init, xs, reverse=reverse)`` over the blocks of ``xs``; with
    ``active`` (block index -> ``[]`` bool, traced) the blocks where it is False are skipped
    by a ``lax.cond``: the carry passes on and the block's output is ``idle(carry)``. A tail
    sweep (:func:`_passes`) runs only some blocks of every chunk this way."""
    if active is None:
        return jax.lax.scan(run, init, xs, reverse=reverse)

    def maybe(carry, xs_j):
        j, xs_j = xs_j
        return jax.lax.cond(active(j), run, lambda c, _: (c, idle(c)), carry, xs_j)

    blocks = jnp.arange(jax.tree.leaves(xs)[0].shape[0])
    return jax.lax.scan(maybe, init, (blocks, xs), reverse=reverse)


class _Counts(NamedTuple):
    """What the counting backward pass returns."""

    begin: Array  # [K, NC] message for the last step of the chunk before
    #: [L, NC, K] p(z_t | x) (0 on padding and where p(x) = 0); with pattern codes instead
    #: [V + 1, K] sum_t w_chunk p(z_t | x) over the steps of each code (row V: padding)
    gamma: Array
    acc: Array  # [K, K] sum_t w_chunk a_{t-1} w_t^T (transitions = A ⊙ acc)
    gamma0: Array  # [NC, K] p(z_t | x) at each chunk's first step
    #: [NC] bool: the chunk's forward and leaving messages have disjoint supports (the
    #: backward message underflowed: the chunk's marginals would be 0, so they are undefined)
    lost: Array
    #: [P, K, NC] the backward message that block ``pick[p]`` starts from (unnormalised):
    #: where a tail sweep of the next call may start (:func:`_passes`)
    starts: Array
    #: ``decode``: ``(states [L, NC] int32, probs [L, NC])``, the most probable state of every
    #: step and its posterior; None otherwise
    decoded: tuple[Array, Array] | None = None


def _backward_counts(
    lay: _Layout,
    trans: Array,
    trans_t: Array,
    leaving: Array,
    fwd,
    weights: Array,
    decode: bool = False,
    pick: Array | None = None,
):
    """The backward pass fused with the expected counts (one pass, nothing else stored);
    ``pick [P]`` (int32): also the backward messages that these blocks start from.

    ``fwd = (entering, checkpoints, end)`` (:func:`_forward`): block by block, last first,
    the block's ``m`` forward messages are recomputed from its checkpoint, then counted
    backwards. At step ``l`` (``b`` = beta_l): ``gamma_l = a_l b_l / g_l``,
    ``w_l = e_l b_l / (s_l g_l)`` (times the row weight; 0 without a transition into step
    ``l``), and the pair ``(l, l+1)`` adds ``a_l w_{l+1}^T`` to the ``[K, K]`` accumulator;
    after the scan the pair that enters the chunk adds ``entering w_0^T``. With pattern
    codes (``lay.table``) the marginals are not stored: they are summed per code, times the
    chunk's weight, into a ``[V + 1, K]`` accumulator (a scatter-add per step), all that an
    M-step on ``(patterns, pattern counts)`` needs.

    **Float64: Rabiner's scaling.** ``b`` is normalised to sum 1 at every step in float32,
    which costs a reduction and a division per step. In float64 the backward variable is
    scaled instead by the forward normalisers, ``b_{l-1} = A (e_l b_l) / s_l``, starting
    from ``leaving / g`` with ``g = sum_k end_k leaving_k``: then ``sum_k a_l b_l = 1`` at
    every step (exactly, by the forward recursion), so ``gamma_l = a_l b_l`` and
    ``w_l = e_l b_l / s_l`` with no per-step reduction (measured: the counting pass 20%
    faster on ChromHMM's sample). ``b_l(k) <= 1 / a_l(k)`` then, and where ``a_l(k) = 0``
    (a state the chunk cannot be in) ``w_l(k)`` is set to 0, which changes no count (every
    transition into such a state from a reachable one has probability 0) and keeps ``b``
    finite. It could overflow only where a state's filtered probability is below 1e-308
    times its smoothed one; float32's range is too small for this (1e-38), so float32 keeps
    the normalised variable. With pattern codes the start is ``leaving * weight / g``: every
    count then carries the chunk's weight with no multiplication (rows of weight 0 get zero
    backward messages, which no check waits for).

    The forward messages are recomputed unnormalised (:func:`_advance_lazily`: ``y_l`` and
    ``s_l``, ``a_l = y_l / s_l``), the ``1 / s_l`` applied where ``a_l`` is used. The
    marginals at each chunk's first step (for the initial-state counts) come from the
    message the scan ends with: a chunk that starts a sequence starts with a step without a
    transition, whose backward message is passed on unchanged. Measured on ChromHMM's
    sample (float64, K = 15, one core, interleaved runs): the E-step took 0.160 s before,
    0.152 s with the weight carried and the first-step marginals taken from the final
    message, 0.147 s with the lazy normalisation too."""
    entering, checkpoints, end = fwd
    K, NC = entering.shape
    keep = weights > 0
    coded = lay.table is not None
    rescaled = entering.dtype == jnp.float64
    # pattern codes in float64: the backward variable carries the chunk's weight from the
    # start (it is linear in it), so the counts need no multiplication by it
    weighted = coded and rescaled

    def step(carry, xs):
        b, w_next, acc, by_code = carry
        e_l, stay_l, valid_l, y_l, s_l = xs  # a_l = y_l / s_l (see _advance_lazily)
        emit_l = _emission(lay, e_l)
        inv_l = _inverse(s_l)  # (a_l's normaliser, applied where a_l is used)
        joint = y_l * (b * inv_l)
        if rescaled:  # sum_k joint = 1 (or the weight; see above): no normaliser to compute
            gamma = jnp.where(valid_l & keep, joint, 0.0).T  # [NC, K]
            pair = ~stay_l & (s_l > 0) & keep
            scale = jnp.where(pair, 1.0 / jnp.where(pair, s_l, 1.0), 0.0)
            u = jnp.where(y_l > 0, emit_l * b * scale, 0.0)
            acc = acc + y_l @ (w_next * (inv_l if weighted else inv_l * weights)).T
            moved = jnp.where(stay_l, b, _right(trans, u))
        else:
            g = joint.sum(0)
            ok = (g > 0) & valid_l
            gamma = jnp.where(ok, joint / jnp.where(ok, g, 1.0), 0.0).T  # [NC, K]
            norm = s_l * g
            pair = ok & ~stay_l & (norm > 0) & keep
            u = emit_l * b * jnp.where(pair, weights / jnp.where(pair, norm, 1.0), 0.0)
            acc = acc + y_l @ (w_next * inv_l).T
            moved, _ = _normalise(jnp.where(stay_l, b, _right(trans, emit_l * b)))
        if coded:  # the pattern counts; nothing stored per step (but the decoded states)
            counted = gamma if weighted else gamma * weights[:, None]
            by_code = by_code.at[e_l].add(counted, mode="promise_in_bounds")
            if not decode:
                return (moved, u, acc, by_code), None
            # the most probable state and its posterior (joint / its sum: the weight or g)
            total = weights if rescaled else g
            scale = jnp.where(total > 0, 1.0 / jnp.where(total > 0, total, 1.0), 0.0)
            best = (jnp.argmax(joint, axis=0).astype(jnp.int32), jnp.max(joint, 0) * scale)
            return (moved, u, acc, by_code), best
        return (moved, u, acc, by_code), gamma  # [NC, K]: the observations' layout

    def block(carry, xs_j):
        (e_j, stay_j, valid_j, a_j, j), (counted, starts) = xs_j, carry

        def advance(c, xs):
            y, s = _advance_lazily(lay, trans_t, *c, *xs)
            return (y, _inverse(s)), (y, s)

        ones = jnp.ones_like(a_j[0])
        _, (alphas_j, s_j) = jax.lax.scan(advance, (a_j, ones), (e_j, stay_j))
        xs = (e_j, stay_j, valid_j, alphas_j, s_j)
        # the backward message the block starts from, kept where ``pick`` asks for it (a
        # select: an output of all J of them made the pass 20% slower)
        starts = jnp.where((pick == j)[:, None, None], counted[0][None], starts)
        counted, out = jax.lax.scan(step, counted, xs, reverse=True)
        return (counted, starts), out

    zeros = jnp.zeros((K, NC), entering.dtype)
    by_code = jnp.zeros((0 if lay.table is None else lay.table.shape[0], K), entering.dtype)
    g = jnp.sum(end * leaving, axis=0)  # sum_k a_l b_l, the same at every step of a chunk
    lost = lay.used & ~(g > 0) & (end.sum(0) > 0)
    if rescaled:
        top = weights if weighted else jnp.ones_like(g)
        leaving = leaving * jnp.where(g > 0, top / jnp.where(g > 0, g, 1.0), 0.0)
    init = (leaving, zeros, jnp.zeros((K, K), entering.dtype), by_code)
    xs = (*_in_blocks(lay, (lay.emit, lay.stay, lay.valid)), checkpoints)
    xs = (*xs, jnp.arange(checkpoints.shape[0]))
    pick = jnp.zeros((0,), jnp.int32) if pick is None else pick
    starts = jnp.zeros(pick.shape + (K, NC), entering.dtype)
    ((begin, w_first, acc, by_code), starts), gamma = jax.lax.scan(
        block, (init, starts), xs, reverse=True
    )
    acc = acc + entering @ (w_first * weights if rescaled and not weighted else w_first).T
    # the marginals at each chunk's first step, for the initial-state counts: the chunks
    # that start a sequence start with a step without a transition, whose backward message
    # is the one the scan ends with
    a_0 = _advance(lay, trans_t, entering, lay.emit[0], lay.stay[0])[0]
    first, total = _normalise(a_0 * begin)
    first = jnp.where(keep & (total > 0), first, 0.0).T  # [NC, K]
    if rescaled:
        begin = _normalise(begin)[0]
    if coded:
        decoded = None
        if decode:  # [J, m, NC] -> [L, NC]
            decoded = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[: lay.steps], gamma)
        return _Counts(begin, by_code, acc, first, lost, starts, decoded)
    gamma = gamma.reshape((-1,) + gamma.shape[2:])[: lay.steps]  # [L, NC, K]
    return _Counts(begin, gamma, acc, first, lost, starts)


def _next_entering(lay: _Layout, start: Array, end: Array) -> Array:
    """Entering messages from the chunks' end messages: chunk ``c`` gets ``end[c-1]``; the
    first chunk of a sequence gets ``start``."""
    return jnp.where(lay.first[None, :], start[:, None], jnp.roll(end, 1, axis=1))


def _next_leaving(lay: _Layout, begin: Array) -> Array:
    """Leaving messages from the chunks' begin messages (last chunk: uniform)."""
    K = begin.shape[0]
    uniform = jnp.full((K, 1), 1.0 / K, begin.dtype)
    return jnp.where(lay.last[None, :], uniform, jnp.roll(begin, -1, axis=1))


def _dead(lay: _Layout, message: Array) -> Array:
    """``[N]`` bool: some chunk of the sequence has an all-zero message."""
    zero = ~(message.sum(0) > 0)
    return zero.reshape(-1, lay.num_chunks).any(1)


def _moved(lay: _Layout, new: Array, old: Array, tol: float, dead: Array | None = None) -> Array:
    """``[]`` bool: some live sequence's message moved by more than ``tol`` (padding chunks,
    whose messages change nothing, are not counted; nor are dead sequences, see the module
    docstring: ``dead [N]``, by default those with an all-zero message in ``new`` or
    ``old``; backward messages pass the forward ones' verdict, because an all-zero
    backward message can also come from a leaving message whose support missed the chunk's
    states, which the next stored pass corrects)."""
    moved = jnp.where(lay.used, jnp.abs(new - old).max(0), 0.0)
    moved = moved.reshape(-1, lay.num_chunks).max(1)  # [N]
    if dead is None:
        dead = _dead(lay, new) | _dead(lay, old)
    return jnp.any((moved > tol) & ~dead)  # NaN compares False: invalid input stops too


def _exact_messages(lay: _Layout, rows: Array, logs: Array, start: Array, backward: bool):
    """Exact boundary messages by chunk transfer products: ``(entering, leaving)``
    (``leaving`` None unless ``backward``).

    ``rows [K, K, NC]``: the end message of every chunk run from the unit vector ``i`` (row
    ``i``), ``logs [K, NC]`` its log-normaliser (:func:`_forward`), so that the chunk's
    transfer product is ``P_c[i, j] ∝ exp(logs[i, c]) rows[i, j, c]``; then sequential
    passes over the chunks of every sequence, in log space (the rows' normalisers can
    differ by more than float64's range): ``m_c ∝ m_{c-1} P_{c-1}`` and
    ``b_{c-1} ∝ P_c b_c``, the latter kept to the states of positive forward probability at
    that boundary (``m_c > 0``): the others have posterior 0 and move no other state's
    marginal, and a state that cannot be reached but explains the data far better would
    otherwise take all of a normalised backward message."""
    K, _, NC = rows.shape
    C = lay.num_chunks
    log_rows = jnp.where(rows > 0, jnp.log(jnp.where(rows > 0, rows, 1.0)), -jnp.inf)
    log_p = log_rows + logs[:, None, :]  # [K, K, NC]
    log_p = log_p.transpose(2, 0, 1).reshape(-1, C, K, K).transpose(1, 0, 2, 3)  # [C, N, ..]
    N = log_p.shape[1]

    def log_normalise(x):  # (all -inf stays -inf: a dead chunk; NaN stays NaN)
        total = jax.nn.logsumexp(x, axis=1, keepdims=True)
        return jnp.where(total > -jnp.inf, x - total, jnp.where(jnp.isnan(total), jnp.nan, x))

    def forward(m, p):
        return log_normalise(jax.nn.logsumexp(m[:, :, None] + p, axis=1)), m

    log_start = jnp.broadcast_to(jnp.log(start), (N, K))
    _, entering = jax.lax.scan(forward, log_start, log_p)  # [C, N, K] (log)
    as_layout = lambda x: jnp.exp(x).transpose(2, 1, 0).reshape(K, NC)  # noqa: E731
    if not backward:
        return as_layout(entering), None
    # the forward message at the end of chunk c is the one entering chunk c + 1
    reach = jnp.concatenate([entering[1:], jnp.zeros_like(entering[:1])]) > -jnp.inf

    def backward_step(b, xs):
        p, ok = xs
        b = jnp.where(ok, b, -jnp.inf)
        return log_normalise(jax.nn.logsumexp(p + b[:, None, :], axis=2)), b

    b0 = jnp.full((N, K), -jnp.log(K), log_p.dtype)
    last = jnp.arange(C)[:, None, None] == C - 1
    _, leaving = jax.lax.scan(backward_step, b0, (log_p, reach | last), reverse=True)
    return as_layout(entering), as_layout(leaving)


class _Passes(NamedTuple):
    """The stored forward and backward passes from exact boundary messages."""

    chunk_log: Array  # [NC] log-normalisers of each chunk's steps, summed
    counts: _Counts | None
    sweeps: Array  # [] int32: forward and backward passes run, stored ones included
    fallback: Array  # [] bool: the exact chunk products were needed
    entering: Array  # [K, NC] the exact boundary messages used
    leaving: Array | None
    two: Array  # [] bool: the next call should warm up with two sweeps
    #: (tail, forward, backward) of :class:`Messages` for the next call (None: forward only)
    tail: tuple[Array, Array, Array] | None = None


#: Weight of the uniform vector mixed into a ``guess`` before the sweep runs from it: the
#: start keeps full support (so an all-zero end message still proves a chunk dead), and the
#: mixture's error is contracted by the sweep like any other.
GUESS_MIX = 1e-12

#: Phases of :func:`_passes`' loop.
_WARM, _STORED, _ROWS = 0, 1, 2

#: The share of a chunk's blocks that a tail sweep runs at first (:func:`_passes`). Measured
#: on ChromHMM's sample (15 states, chunks of 1,642 steps in 42 blocks of 40, each EM
#: iteration from the previous one's messages; 12 iterations sampled from 200): tails of 562
#: steps or more landed on every boundary message to round-off (1e-15), 442 steps missed one
#: of 820; 0.4 gives 17 blocks (642 steps), which never fell short over the 200 iterations.
TAIL_SHARE = 0.4


def _first_tail(num_blocks: int) -> int:
    return max(1, math.ceil(TAIL_SHARE * num_blocks))


class _Loop(NamedTuple):
    """The state of :func:`_passes`' loop."""

    phase: Array  # [] int32: _WARM sweeps, _STORED passes, _ROWS of the chunk products
    i: Array  # [] int32: iterations of this phase so far
    e: Array  # [K, NC] the entering messages the next pass runs from
    b: Array | None  # [K, NC] the leaving messages (None: forward only)
    out: tuple  # (chunk_log, counts) of the last stored pass
    ok: Array  # [] bool: the last stored pass ran from a fixed point
    moved: Array  # [] bool: the last warm sweep moved a message
    stored: Array  # [] int32: stored passes run
    fell: Array  # [] bool: the messages came from the chunk products
    done: Array  # [] bool: the last stored pass ran from a fixed point or the products
    e_used: Array  # the messages the last stored pass ran from
    b_used: Array | None
    rows: Array  # [K, K, NC] the chunk products' rows (phase _ROWS)
    logs: Array  # [K, NC] their log-normalisers
    #: (tail, forward, backward): where the next call's tail sweep starts, from the last
    #: stored pass (None: forward only)
    tail: tuple[Array, Array, Array] | None


def _passes(lay: _Layout, su, max_sweeps: int, weights=None, guess=None, decode=False):
    """Stored passes from exact boundary messages: forward, and with ``weights [NC]`` (the
    row weight of every chunk) the counting backward pass too.

    A sweep from the uniform vector (every chunk run from it, in parallel, forward and
    backward), or from ``guess`` (the :class:`Messages` of a previous call, with
    :data:`GUESS_MIX` of the uniform vector: its tails only when it has them, see the module
    docstring; ``two``: a second whole sweep, because one fell short last time), gives every
    chunk's boundary message; the stored pass from them
    checks them for free: when no message moves (a fixed point), they are exact. Otherwise
    the stored pass is itself a sweep: it runs again from the messages it just produced
    (after ``s`` passes the first ``s`` chunks of every sequence are exact whatever the
    chain), at most ``max_sweeps`` times; a chain that still moves gets the exact chunk
    products (every chunk run from each unit vector: ``K`` more forward passes) and one
    more stored pass.

    All of it is one loop whose body runs :func:`_forward` once (a sweep, a stored pass or
    a row of the products) and then, by phase, the backward sweep or the counting pass: each
    pass appears once in the program, which keeps the compile time at a few seconds."""
    trans, trans_t, start, trans_shift = su.trans, su.trans_t, su.start, su.trans_shift
    tol = su.tol
    K, NC, dtype = trans.shape[0], lay.valid.shape[1], trans.dtype
    uniform = jnp.full((K, NC), 1.0 / K, dtype)
    backward = weights is not None
    per_pass = jnp.int32(1 + backward)  # passes run by one stored pass
    if lay.num_chunks == 1:  # every chunk is a whole row: its boundary messages are known
        return _one_chunk_passes(lay, su, uniform, weights, decode)

    # first guess: every chunk run from the uniform vector or the guess (one sweep each way;
    # two when the guess says the last call needed them), or the tail of every chunk run
    # from the guess's messages where the tail starts
    J = lay.valid.shape[0] // lay.block
    from_f = from_b = tail_f = tail_b = uniform
    two, tail_in = jnp.bool_(False), jnp.int32(0)
    if guess is not None:
        mix = lambda m: (1 - GUESS_MIX) * m.astype(dtype) + GUESS_MIX * uniform  # noqa: E731
        from_f, from_b, two = mix(guess.entering), mix(guess.leaving), guess.two
        tail_in, tail_f, tail_b = guess.tail, mix(guess.forward), mix(guess.backward)
    use_tail = jnp.bool_(backward) & (tail_in > 0) & (tail_in < J)
    warm_sweeps = 1 + (two & ~use_tail).astype(jnp.int32)
    after_warm = _STORED if max_sweeps > 0 else _ROWS
    # the next call's tail: this one's when its first stored pass lands on the fixed point,
    # twice as long when it does not; a first call (tail 0) starts at TAIL_SHARE; a tail
    # grown to the whole chunk stays there (the full sweeps and their ``two``)
    tail_ok = jnp.where(use_tail, tail_in, jnp.where(tail_in == 0, _first_tail(J), J))
    tail_miss = jnp.where(use_tail, jnp.minimum(2 * tail_in, J), tail_ok)

    def counted(e, b, checkpoints, chunk_log, end):
        fwd = (e, checkpoints, end)
        pick = jnp.stack([tail_ok, tail_miss]) - 1  # (the block a tail of that size starts at)
        counts = _backward_counts(lay, trans, trans_t, b, fwd, weights, decode, pick)
        return _next_leaving(lay, counts.begin), (chunk_log, counts)

    def body(c):
        warm, stored, rows_phase = (c.phase == p for p in (_WARM, _STORED, _ROWS))
        unit = (jnp.arange(K) == c.i).astype(dtype)[:, None]
        tail_now = warm & (c.i == 0) & use_tail  # this sweep runs the tails only
        entering = jnp.where(rows_phase, unit, jnp.where(tail_now, tail_f, c.e))
        first_block = jnp.where(tail_now, J - tail_in, 0) if backward else None
        end, chunk_log, checkpoints = _forward(lay, trans_t, entering, trans_shift, first_block)
        e_next = _next_entering(lay, start, end)
        dead = _dead(lay, e_next) | _dead(lay, c.e)
        moved = _moved(lay, e_next, c.e, tol, dead)
        b_next, out, tail = c.b, c.out, c.tail
        if backward:
            leaving = jnp.where(tail_now, tail_b, c.b)
            last_block = jnp.where(tail_now, tail_in, J)
            branches = [
                lambda: (_next_leaving(lay, _backward(lay, trans, leaving, last_block)), c.out),
                lambda: counted(c.e, c.b, checkpoints, chunk_log, end),
                lambda: (c.b, c.out),
            ]
            b_next, out = jax.lax.switch(c.phase, branches)
            idle = dead | ~(weights.reshape(-1, lay.num_chunks)[:, 0] > 0)  # no counts
            moved = moved | (~rows_phase & _moved(lay, b_next, c.b, tol, idle))
            # where the next call's tail sweep starts, from this stored pass's messages
            hit = (c.stored == 0) & ~moved
            size = jnp.where(hit, tail_ok, tail_miss)
            starts = jnp.where(hit, out[1].starts[0], out[1].starts[1])
            here = (size, checkpoints[J - size], _normalise(starts)[0])
            tail = jax.tree.map(lambda new, old: jnp.where(stored, new, old), here, c.tail)
        else:
            out = (jnp.where(stored, chunk_log, c.out[0]), None)
        ok = stored & ~moved
        # the rows of the products, and the exact messages from them after the last
        row = jnp.where(rows_phase, c.i, K)  # (out of range: dropped)
        rows = c.rows.at[row].set(end, mode="drop")
        logs = c.logs.at[row].set(chunk_log, mode="drop")
        rows_done = rows_phase & (c.i == K - 1)
        exact = lambda: _exact_messages(lay, rows, logs, start, backward)  # noqa: E731
        e_next, b_next = jax.lax.cond(rows_done, exact, lambda: (e_next, b_next))
        # the next phase
        count = c.stored + stored.astype(jnp.int32)
        to_rows = stored & ~ok & ~c.fell & (count >= max_sweeps)
        phase = jnp.where(warm & (c.i + 1 >= warm_sweeps), after_warm, c.phase)
        phase = jnp.where(to_rows, _ROWS, jnp.where(rows_done, _STORED, phase))
        return _Loop(
            phase,
            jnp.where(phase == c.phase, c.i + 1, 0),
            jnp.where(rows_phase & ~rows_done, c.e, e_next),
            b_next if not backward else jnp.where(rows_phase & ~rows_done, c.b, b_next),
            out,
            ok,
            jnp.where(warm, moved, c.moved),
            count,
            c.fell | rows_done,
            stored & (ok | c.fell),
            jnp.where(stored, c.e, c.e_used),
            c.b_used if not backward else jnp.where(stored, c.b, c.b_used),
            rows,
            logs,
            tail,
        )

    false, zero = jnp.bool_(False), jnp.int32(0)
    leaving = from_b if backward else None
    chunk_log = jnp.zeros((NC,), dtype)
    if backward:
        checkpoints = jnp.zeros((lay.valid.shape[0] // lay.block, K, NC), dtype)
        shapes = jax.eval_shape(
            lambda: counted(uniform, uniform, checkpoints, chunk_log, uniform)[1][1]
        )
        blank = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
        out: tuple = (chunk_log, blank)
    else:
        out = (chunk_log, None)
    init = _Loop(
        jnp.int32(_WARM),
        zero,
        from_f,
        leaving,
        out,
        false,
        false,
        zero,
        false,
        false,
        from_f,
        leaving,
        jnp.zeros((K, K, NC), dtype),
        jnp.zeros((K, NC), dtype),
        (tail_ok, uniform, uniform) if backward else None,
    )
    c = jax.lax.while_loop(lambda c: ~c.done, body, init)
    # the warm-up sweeps and the stored passes (the fallback's included)
    sweeps = per_pass * (warm_sweeps + c.stored)
    # the next call's warm-up: two sweeps when one left the first stored pass off the fixed
    # point, or when two were run and the second still moved a message (full sweeps only:
    # a tail that fell short grows instead)
    two_next = ~use_tail & jnp.where(two, c.moved, ~(c.ok & (c.stored == 1)))
    chunk_log, counts = c.out
    return _Passes(chunk_log, counts, sweeps, c.fell, c.e_used, c.b_used, two_next, c.tail)


def _one_chunk_passes(lay: _Layout, su, uniform: Array, weights, decode=False) -> _Passes:
    """:func:`_passes` when every row is one chunk (short rows, :func:`default_chunk`): the
    entering message is ``pi`` and the leaving one uniform, exactly, so the stored passes run
    once, with no sweep and no loop: a batched forward–backward whose every step is one
    ``[K, K] x [K, N]`` matrix product (the transition matrix is shared by the rows; a
    ``vmap`` of the per-sequence scan multiplies ``N`` matrix–vector pairs instead)."""
    entering = jnp.broadcast_to(su.start[:, None], uniform.shape)
    end, chunk_log, checkpoints = _forward(lay, su.trans_t, entering, su.trans_shift)
    counts = leaving = None
    if weights is not None:
        leaving = uniform
        fwd = (entering, checkpoints, end)
        counts = _backward_counts(lay, su.trans, su.trans_t, leaving, fwd, weights, decode)
    passes = jnp.int32(1 if weights is None else 2)
    tail = None if leaving is None else (jnp.int32(0), entering, leaving)
    false = jnp.bool_(False)
    return _Passes(chunk_log, counts, passes, false, entering, leaving, false, tail)


def _pairwise_sum(x: Array) -> Array:
    """Sum over axis 0 by pairwise (tree) addition: round-off ``O(log n)`` ulps instead of
    ``O(n)``, so float32 sums of millions of per-step logs stay accurate."""
    n = x.shape[0]
    size = 1 << max(n - 1, 0).bit_length()
    x = jnp.pad(x, ((0, size - n),) + ((0, 0),) * (x.ndim - 1))
    while x.shape[0] > 1:
        x = x[0::2] + x[1::2]
    return x[0]


def _start(log_init: Array) -> tuple[Array, Array]:
    """``(pi normalised [K], log of its normaliser)``."""
    shift = jnp.max(log_init)
    start, total = _normalise(jnp.exp(log_init - shift))
    return start, jnp.log(jnp.where(total > 0, total, 1.0)) + shift


def _sequence_log_z(lay: _Layout, chunk_log: Array, log_start: Array) -> Array:
    """``[N]`` ``log p(x_n)`` from the chunks' summed log-normalisers ``chunk_log [NC]``."""
    per_chunk = chunk_log.reshape(-1, lay.num_chunks)  # [N, C]
    return jnp.maximum(_pairwise_sum(per_chunk.T) + log_start, LOG_FLOOR)


class _Setup(NamedTuple):
    lay: _Layout
    trans: Array  # [K, K] exp(log_trans - trans_shift)
    trans_t: Array  # [K, K] its transpose, materialised once (see :func:`_advance`)
    trans_shift: Array
    start: Array  # [K] normalised pi
    log_start: Array
    bad: Array  # [] NaN parameters
    tol: float


def _setup(log_init, log_trans, log_emit, lengths, num_steps: int, codes=None) -> _Setup:
    """``codes``: ``log_emit`` is a ``[V, K]`` table and the emissions are
    ``log_emit[codes]`` (:func:`_coded_layout`)."""
    dtype = jnp.result_type(log_init, log_trans, log_emit, jnp.float32)
    log_init = jnp.maximum(jnp.asarray(log_init, dtype), LOG_FLOOR)
    log_trans = jnp.maximum(jnp.asarray(log_trans, dtype), LOG_FLOOR)
    log_emit, lengths = jnp.asarray(log_emit, dtype), jnp.asarray(lengths)
    if codes is None:
        lay = _layout(log_emit, lengths, num_steps)
    else:
        lay = _coded_layout(log_emit, jnp.asarray(codes), lengths, num_steps)
    trans_shift = jnp.max(log_trans)
    start, log_start = _start(log_init)
    param_nan = jnp.isnan(log_init).any() | jnp.isnan(log_trans).any()
    # a fixed point to 16 ulps in float32; in float64 to 1e-12 (the exactness target is
    # 1e-10: a message error is contracted, never amplified, on its way to the marginals)
    tol = max(16 * float(jnp.finfo(dtype).eps), 1e-12)
    trans = jnp.exp(log_trans - trans_shift)
    trans_t = jnp.exp(log_trans.T - trans_shift)
    return _Setup(lay, trans, trans_t, trans_shift, start, log_start, param_nan, tol)


def _lengths(lengths: ArrayLike | None, num_rows: int, num_steps: int) -> Array:
    if lengths is None:
        return jnp.full((num_rows,), num_steps, jnp.int32)
    return jnp.asarray(lengths, jnp.int32)


def blocked_log_partition(
    log_init: Array,
    log_trans: Array,
    log_emit: Array,
    lengths: ArrayLike,
    num_steps: int,
    *,
    max_sweeps: int = MAX_SWEEPS,
) -> Array:
    """``[N]`` ``log p(x_n)`` from blocked emissions ``log_emit [L, N·C, K]`` (see
    :func:`block`) of rows with ``lengths [N]`` out of ``num_steps`` padded steps."""
    su = _setup(log_init, log_trans, log_emit, lengths, num_steps)
    passes = _passes(su.lay, su, max_sweeps)
    log_z = _sequence_log_z(su.lay, passes.chunk_log, su.log_start)
    return jnp.where(su.bad | jnp.isnan(log_z), jnp.nan, to_public_log(log_z))


def blocked_expected_counts(
    log_init: Array,
    log_trans: Array,
    log_emit: Array,
    lengths: ArrayLike,
    num_steps: int,
    weights: ArrayLike | None = None,
    *,
    max_sweeps: int = MAX_SWEEPS,
    guess: Messages | None = None,
) -> BatchCounts:
    """:func:`batch_expected_counts` on blocked emissions ``log_emit [L, N·C, K]`` (see
    :func:`block`); ``states`` come back blocked too (``[L, N·C, K]``), which is all an M-step
    needs (pair them with the blocked observations). ``guess``: the ``messages`` of an
    earlier call on the same layout, to start the sweep from (an EM iteration passes its
    messages to the next: the result is the same, but the sweep lands on the fixed point
    more often)."""
    su = _setup(log_init, log_trans, log_emit, lengths, num_steps)
    return _batch_counts(su, lengths, weights, max_sweeps, guess)


@dataclass(frozen=True)
class BlockedCodes:
    """A padded batch as the pattern codes of its steps, cut into chunks (:func:`block`):
    what :func:`blocked_pattern_counts` reads (see :meth:`lsgm.HMM.blocked_codes`). EM codes
    and blocks its data once per fit (measured on ChromHMM's sample: 8–12 ms, 5–8% of a
    float64 EM iteration, when it was done in every one)."""

    codes: Array  # [L, N·C] int32, the pattern of every step
    patterns: Array  # [V + 1, ...] the observation of every code
    num_steps: int  # T


jax.tree_util.register_dataclass(
    BlockedCodes, data_fields=["codes", "patterns"], meta_fields=["num_steps"]
)


def blocked_pattern_counts(
    log_init: Array,
    log_trans: Array,
    log_table: Array,
    codes: Array,
    lengths: ArrayLike,
    num_steps: int,
    weights: ArrayLike | None = None,
    *,
    max_sweeps: int = MAX_SWEEPS,
    guess: Messages | None = None,
    decode: bool = False,
) -> BatchCounts:
    """:func:`blocked_expected_counts` of ``log_emit = log_table[codes]`` for observations
    that take few distinct values ("patterns": symbols, binary vectors), without a
    ``[T, K]`` array: each scan step looks its codes up in the ``[V, K]`` table, and the
    state marginals are summed per pattern instead of stored.

    Args:
        log_table: ``[V, K]`` ``log p(pattern v | z = k)``.
        codes: ``[L, N·C]`` int, the pattern of every step (:func:`block` layout; any value
            in ``[0, V)`` on padding).

    Returns:
        :class:`BatchCounts` whose ``states`` are ``[V, K]`` pattern counts
        ``sum_n w_n sum_{t < length_n: codes = v} p(z_t = k | x_n)`` (NaN when a row of
        positive weight is impossible or invalid), so that an M-step on
        ``(patterns [V, ...], states)`` equals one on the observations and their marginals.
        ``decode`` (static): also ``decoded``, every step's most probable state and its
        posterior, written by the counting pass (``[L, N·C]`` int32 and float: ~12 bytes a
        step, where the marginals would take ``8 K``), so that a decoding after EM can run
        the EM step's own program.
    """
    su = _setup(log_init, log_trans, log_table, lengths, num_steps, codes)
    return _batch_counts(su, lengths, weights, max_sweeps, guess, decode)


def _batch_counts(
    su: _Setup, lengths, weights, max_sweeps: int, guess, decode: bool = False
) -> BatchCounts:
    lay = su.lay
    N, C = jnp.shape(lengths)[0], lay.num_chunks
    dtype = su.trans.dtype
    w_rows = jnp.ones((N,), dtype) if weights is None else jnp.asarray(weights, dtype)
    w_chunks = jnp.repeat(w_rows, C)  # [NC]
    ps = _passes(lay, su, max_sweeps, w_chunks, guess, decode)
    log_z = _sequence_log_z(lay, ps.chunk_log, su.log_start)
    bad = su.bad | jnp.isnan(log_z)  # [N] NaN input (parameters, or a valid step)
    lost = ps.counts.lost.reshape(N, C).any(1)  # the backward message underflowed
    undefined = ~(log_z > LOG_FLOOR / 2) | bad | lost
    any_bad = jnp.any(undefined & (w_rows > 0))
    transitions = jnp.where(any_bad, jnp.nan, su.trans * ps.counts.acc)
    first = jnp.where(lay.first & (w_chunks > 0), w_chunks, 0.0)
    initial = jnp.where(any_bad, jnp.nan, first @ ps.counts.gamma0)
    gamma = ps.counts.gamma
    if lay.table is not None:  # [V + 1, K] pattern counts, the padding row dropped
        states = jnp.where(any_bad, jnp.nan, gamma[:-1])
    else:  # [L, NC, K]
        row_bad = jnp.repeat(undefined, C)  # [NC]
        states = jnp.where((row_bad[None, :] & lay.valid[: lay.steps])[..., None], jnp.nan, gamma)
    log_z = jnp.where(bad, jnp.nan, to_public_log(log_z))
    messages = Messages(ps.entering, ps.leaving, ps.two, *ps.tail)
    decoded = ps.counts.decoded
    if decoded is not None:  # undefined rows: state -1, posterior NaN
        row_bad = jnp.repeat(undefined, C)[None, :]  # [1, NC]
        decoded = (jnp.where(row_bad, -1, decoded[0]), jnp.where(row_bad, jnp.nan, decoded[1]))
    counts = (log_z, states, initial, transitions, ps.sweeps, ps.fallback, messages)
    return BatchCounts(*counts, decoded)


@partial(jax.custom_jvp, nondiff_argnums=(4,))
def weighted_log_likelihood(
    log_init: Array,
    log_trans: Array,
    log_emit: Array,
    lengths: Array,
    num_steps: int,
    weights: Array,
) -> Array:
    """``sum_n w_n log p(x_n)`` from blocked emissions ``log_emit [L, N·C, K]``, differentiable:
    the derivative is the forward–backward identity (one counting pass, as for
    :func:`lsgm.inference.log_partition`)

        d = <sum_n w_n p(z_1|x_n), d log_init> + <sum_n w_n sum_t xi_nt, d log_trans>
            + sum_n w_n <p(z_t|x_n), d log_emit_nt>.

    ``lengths [N]`` and ``weights [N]`` are not differentiated (rows of weight 0 count
    nothing, not even a NaN)."""
    log_z = blocked_log_partition(log_init, log_trans, log_emit, lengths, num_steps)
    return jnp.sum(jnp.where(weights > 0, weights * log_z, 0.0))


@weighted_log_likelihood.defjvp
def _weighted_log_likelihood_jvp(num_steps, primals, tangents):
    log_init, log_trans, log_emit, lengths, weights = primals
    d_init, d_trans, d_emit = tangents[:3]
    c = blocked_expected_counts(log_init, log_trans, log_emit, lengths, num_steps, weights)
    chunk_weights = jnp.repeat(weights, log_emit.shape[1] // weights.shape[0])
    states = jnp.where(chunk_weights[None, :, None] > 0, c.states, 0.0)
    tangent = (
        jnp.sum(c.initial * d_init)
        + jnp.sum(c.transitions * d_trans)
        + jnp.sum(states * chunk_weights[None, :, None] * d_emit)
    )
    total = jnp.sum(jnp.where(weights > 0, weights * c.log_z, 0.0))
    return total, tangent


def batch_log_partition(
    log_init: Array,
    log_trans: Array,
    log_emit: Array,
    lengths: ArrayLike | None = None,
    *,
    chunk: int | None = None,
    max_sweeps: int = MAX_SWEEPS,
) -> Array:
    """``[N]`` ``log p(x_n)`` of a padded batch, by parallel chunks (forward messages only).

    Args:
        log_init: ``[K]``; log_trans: ``[K, K]`` (shared by the batch); log_emit: ``[N, T, K]``.
        lengths: ``[N]`` valid steps per row (None: all ``T``).
        chunk: steps per chunk (default :func:`chunk_layout`'s).
        max_sweeps: sweeps before the exact chunk-product fallback.
    """
    N, T, K = jnp.shape(log_emit)
    itemsize = jnp.result_type(log_init, log_trans, log_emit, jnp.float32).itemsize
    L = chunk_layout(T, 1, N, K, itemsize)[0] if chunk is None else chunk
    return blocked_log_partition(
        log_init,
        log_trans,
        block(log_emit, L),
        _lengths(lengths, N, T),
        T,
        max_sweeps=max_sweeps,
    )


def batch_expected_counts(
    log_init: Array,
    log_trans: Array,
    log_emit: Array,
    lengths: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    *,
    chunk: int | None = None,
    max_sweeps: int = MAX_SWEEPS,
) -> BatchCounts:
    """The E-step of a padded batch with shared stationary parameters, by parallel chunks.

    Args:
        log_init: ``[K]`` initial log-probabilities.
        log_trans: ``[K, K]`` transition log-probabilities (``-inf``: structural zero).
        log_emit: ``[N, T, K]`` emission log-likelihoods (add label masks here).
        lengths: ``[N]`` valid steps per row (None: all ``T``; 0 counts step 0, as in the
            scan kernels — give such filler rows weight 0).
        weights: ``[N]`` row weights for ``initial`` and ``transitions`` (None: 1); a row of
            weight 0 contributes exactly nothing.
        chunk: steps per chunk ``L`` (default :func:`chunk_layout`'s; static).
        max_sweeps: sweeps before the chunk-product fallback (static).

    Returns:
        :class:`BatchCounts` with ``states [N, T, K]``, equal to
        :func:`lsgm.inference.expected_counts` per row (summed over rows) up to round-off.
    """
    N, T, K = jnp.shape(log_emit)
    itemsize = jnp.result_type(log_init, log_trans, log_emit, jnp.float32).itemsize
    L = chunk_layout(T, 1, N, K, itemsize)[0] if chunk is None else chunk
    out = blocked_expected_counts(
        log_init,
        log_trans,
        block(log_emit, L),
        _lengths(lengths, N, T),
        T,
        weights,
        max_sweeps=max_sweeps,
    )
    return out._replace(states=unblock(out.states, N, T))


__all__ = [
    "MAX_SWEEPS",
    "BatchCounts",
    "BlockedCodes",
    "batch_expected_counts",
    "batch_log_partition",
    "block",
    "blocked_expected_counts",
    "blocked_pattern_counts",
    "ONE_CHUNK_ROWS",
    "BLOCK_BYTES",
    "chunk_layout",
    "blocked_log_partition",
    "default_chunk",
    "first_messages",
    "Messages",
    "shard_chunks",
    "unblock",
    "weighted_log_likelihood",
]
