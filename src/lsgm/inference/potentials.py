"""Potentials: the one currency between models and the inference kernels.

A model of a length-``T`` sequence with ``K`` hidden states hands the kernels three
log-space tables (see ``DESIGN.md`` §1):

* ``log_init [K]``: ``log p(z_1 = k)``;
* ``log_trans [K, K]`` (stationary) or ``[T-1, K, K]`` (time-varying), with the convention
  ``log_trans[t, i, j] = log p(z_{t+1} = j | z_t = i, x_{1:t})`` (rows are the *from* state);
* ``log_emit [T, K]``: ``log p(x_t | z_t = k, x_{1:t-1})``.

``-inf`` marks a structural zero. Inside the kernels every ``-inf`` is replaced by the finite
:data:`LOG_FLOOR`, so that ``exp`` still gives an exact ``0`` while no ``inf - inf`` can reach a
gradient; outputs map values at or below ``LOG_FLOOR / 2`` back to ``-inf``. A probability
that is zero is exactly zero: a sequence that no path explains has ``log p(x) = -inf``.

NaN marks invalid input (e.g. an out-of-range symbol under ``jax.jit``, see the emission
families) and is never read as a zero: a NaN at a valid step makes ``log p(x)`` and every
quantity that depends on it NaN, with both methods and in every kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jax.Array

#: Finite stand-in for ``log 0`` inside the kernels (``exp(LOG_FLOOR) == 0`` in float32/64).
LOG_FLOOR = -1e30


class Potentials(NamedTuple):
    """Log-space potentials of one sequence.

    Attributes:
        log_init: ``[K]`` initial log-probabilities.
        log_trans: ``[K, K]`` (stationary) or ``[T-1, K, K]`` (time-varying) transition
            log-probabilities, ``log_trans[t, i, j] = log p(z_{t+1}=j | z_t=i)``.
        log_emit: ``[T, K]`` emission log-likelihoods ``log p(x_t | z_t=k)``.
    """

    log_init: Array
    log_trans: Array
    log_emit: Array

    @property
    def num_states(self) -> int:
        """``K``."""
        return self.log_emit.shape[-1]

    @property
    def num_steps(self) -> int:
        """``T``."""
        return self.log_emit.shape[-2]

    @property
    def is_stationary(self) -> bool:
        """True when ``log_trans`` is one ``[K, K]`` table for all steps."""
        return jnp.ndim(self.log_trans) == 2


class Prepared(NamedTuple):
    """Potentials after validation, masking and flooring (internal to the kernels)."""

    log_init: Array  # [K]
    log_trans: Array  # [K, K] or [T-1, K, K]
    log_emit: Array  # [T, K]
    length: Array  # [] int32, 1 <= length <= T
    padded: bool  # static: False when no length was given (no masking needed)

    @property
    def num_steps(self) -> int:
        return self.log_emit.shape[0]

    @property
    def num_states(self) -> int:
        return self.log_emit.shape[1]

    @property
    def is_stationary(self) -> bool:
        return self.log_trans.ndim == 2

    def select(self, valid: Array, new: Array, old: Array | float) -> Array:
        """``new`` where ``valid`` (a step before ``length``), else ``old``."""
        return jnp.where(valid, new, old) if self.padded else new

    def trans_at_steps(self) -> Array | None:
        """``log_trans`` as scan input (``[T-1, K, K]``), or ``None`` when stationary."""
        return None if self.is_stationary else self.log_trans

    def trans(self, scanned: Array | None) -> Array:
        """The ``[K, K]`` table of the current scan step."""
        return self.log_trans if scanned is None else scanned


def concrete_or_none(x: ArrayLike | None) -> np.ndarray | None:
    """``x`` as a numpy array when its value is known at trace time, else ``None``."""
    if x is None:
        return None
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_potentials(
    p: Potentials, length: ArrayLike | None = None, allowed: ArrayLike | None = None
) -> tuple[int, int]:
    """Validate shapes (at trace time) and return ``(T, K)``.

    Raises:
        ValueError: naming the offending shapes or values: ``K`` mismatch between the three
            tables, a ``log_trans`` whose length is not ``T-1``, an empty sequence, ``length``
            outside ``[1, T]``, an ``allowed`` mask of the wrong shape or with no state allowed.
    """
    shapes = (
        f"log_init {tuple(jnp.shape(p.log_init))}, log_trans {tuple(jnp.shape(p.log_trans))}, "
        f"log_emit {tuple(jnp.shape(p.log_emit))}"
    )
    if jnp.ndim(p.log_emit) != 2:
        raise ValueError(f"log_emit must be [T, K]; got {shapes}. Batch with jax.vmap.")
    T, K = jnp.shape(p.log_emit)
    if T < 1:
        raise ValueError(f"empty sequence: log_emit has T=0 steps ({shapes}).")
    if jnp.shape(p.log_init) != (K,):
        raise ValueError(f"log_init must be [K]=[{K}] to match log_emit; got {shapes}.")
    trans_shape = tuple(jnp.shape(p.log_trans))
    if trans_shape not in ((K, K), (T - 1, K, K)):
        raise ValueError(
            f"log_trans must be [K, K]=[{K}, {K}] or [T-1, K, K]=[{T - 1}, {K}, {K}]; got {shapes}."
        )
    if length is not None:
        if jnp.ndim(length) != 0:
            raise ValueError(
                f"length must be a scalar per sequence; got shape {jnp.shape(length)}."
            )
        value = concrete_or_none(length)
        if value is not None and not 1 <= int(value) <= T:
            raise ValueError(f"length={int(value)} is outside [1, T={T}] for {shapes}.")
    if allowed is not None:
        if jnp.shape(allowed) != (K,):
            raise ValueError(f"allowed must be a [K]=[{K}] mask; got {tuple(jnp.shape(allowed))}.")
        value = concrete_or_none(allowed)
        if value is not None and not value.any():
            raise ValueError("allowed is all False: no path can visit only allowed states.")
    return T, K


def prepare(
    p: Potentials, length: ArrayLike | None = None, allowed: ArrayLike | None = None
) -> Prepared:
    """Validate, apply the ``allowed`` mask and replace ``-inf`` by :data:`LOG_FLOOR`.

    States outside ``allowed`` get emission log-likelihood ``LOG_FLOOR`` at every step (and
    initial log-probability ``LOG_FLOOR``), so every sum or max runs over paths that visit
    allowed states only.
    """
    T, _ = check_potentials(p, length, allowed)
    dtype = jnp.result_type(p.log_init, p.log_trans, p.log_emit, jnp.float32)
    log_init = jnp.asarray(p.log_init, dtype)
    log_trans = jnp.asarray(p.log_trans, dtype)
    log_emit = jnp.asarray(p.log_emit, dtype)
    if allowed is not None:  # (NaN stays NaN, also in disallowed states)
        allowed = jnp.asarray(allowed, bool)
        log_init = jnp.where(allowed, log_init, floor_or_nan(log_init))
        log_emit = jnp.where(allowed[None, :], log_emit, floor_or_nan(log_emit))
    if length is not None and concrete_or_none(length) is None:
        # a traced length cannot raise (check_potentials checks concrete ones): one outside
        # [0, T] makes the potentials NaN, so every result is NaN instead of silently clipped
        # (0 is a filler row's length, see lsgm.distributed.pad_rows)
        length = jnp.asarray(length)
        log_init = nan_if((length < 0) | (length > T), log_init)
    floor = jnp.asarray(LOG_FLOOR, dtype)  # jnp.maximum keeps NaN
    return Prepared(
        jnp.maximum(log_init, floor),
        jnp.maximum(log_trans, floor),
        jnp.maximum(log_emit, floor),
        jnp.asarray(T if length is None else length, jnp.int32),
        length is not None,
    )


def floor_or_nan(x: Array) -> Array:
    """:data:`LOG_FLOOR` where ``x`` is a number, NaN where ``x`` is NaN: what a kernel stores
    for "probability 0" without turning invalid input into a zero."""
    return jnp.where(jnp.isnan(x), x, jnp.asarray(LOG_FLOOR, jnp.result_type(x)))


def to_public_log(x: Array) -> Array:
    """Map floored log-values (``<= LOG_FLOOR / 2``) back to ``-inf`` (NaN stays NaN)."""
    return jnp.where(x <= LOG_FLOOR / 2, -jnp.inf, x)


def has_nan(prep: Prepared) -> Array:
    """``[]`` bool: a NaN in the potentials of a valid step (invalid input).

    Tested explicitly, once, because a fused XLA ``max`` reduction need not propagate NaN
    (on CPU a NaN row was seen to come out of the scaled scan as a zero, i.e. ``-inf``)."""
    valid = valid_steps(prep)
    emit = jnp.any(jnp.isnan(prep.log_emit) & valid[:, None])
    trans = jnp.isnan(prep.log_trans)
    if not prep.is_stationary:
        trans = trans & valid[1:, None, None]
    return jnp.any(jnp.isnan(prep.log_init)) | emit | jnp.any(trans)


def nan_if(flag: Array, x: Array) -> Array:
    """``x``, or NaN everywhere when ``flag`` (a ``[]`` bool)."""
    return jnp.where(flag, jnp.nan, x)


def valid_steps(prep: Prepared) -> Array:
    """``[T]`` bool, True at positions ``t < length``."""
    return jnp.arange(prep.num_steps) < prep.length
