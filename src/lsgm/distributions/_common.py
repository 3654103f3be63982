"""Helpers shared by the emission families: argument and data checks, safe arithmetic.

Data checks run on concrete numpy arrays (never under ``jit``) and raise ``ValueError``
messages of the form ``"{where}: {problem}; {fix}"``, naming the offending position.
"""

from __future__ import annotations

import math
from typing import NoReturn

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx

Array = jax.Array

#: dtype kinds accepted as real-valued data (bool, signed and unsigned ints, floats).
REAL_KINDS = "biuf"


def fail(where: str, problem: str, fix: str) -> NoReturn:
    """Raise the library's data error: location, problem, then how to fix it."""
    raise ValueError(f"{where}: {problem}; {fix}.")


def check_positive_int(**sizes: int) -> None:
    """Constructor check: every named size is a positive Python/numpy integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_matrix(x: npt.ArrayLike, where: str, dim: int, kinds: str, expected: str) -> np.ndarray:
    """Check that ``x`` is a non-empty ``[T, dim]`` array of a dtype kind in ``kinds``.

    ``expected`` describes the data in the messages (e.g. "0/1 values").
    """
    x = np.asarray(x)
    if x.dtype.kind not in kinds:
        fail(where, f"dtype {x.dtype} cannot hold {expected}", f"pass a [T, {dim}] numeric array")
    if x.ndim != 2:
        hint = " (add a feature axis: x[:, None])" if x.ndim == 1 and dim == 1 else ""
        fail(where, f"expected a [T, {dim}] array, got shape {x.shape}", f"reshape the data{hint}")
    if x.shape[0] == 0:
        fail(where, "the sequence is empty", "drop empty sequences before fitting or scoring")
    if x.shape[1] != dim:
        fail(
            where,
            f"expected {dim} features per observation, got {x.shape[1]}",
            f"pass [T, {dim}] data or build the model with dim={x.shape[1]}",
        )
    return x


def check_finite(x: np.ndarray, where: str) -> None:
    """Reject NaN and +-inf, naming the first bad position."""
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        pos = first(~np.isfinite(x))
        fail(where, f"non-finite value {x[pos]} at position {pos}", "remove or impute NaN/inf")


def first(mask: np.ndarray) -> tuple[int, ...] | int:
    """Index of the first True entry of ``mask`` (an int for 1-D masks)."""
    pos = tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))
    return pos[0] if len(pos) == 1 else pos


def index_str(pos: tuple[int, ...] | int) -> str:
    """``[i, j]`` for a position returned by :func:`first`."""
    return "[" + ", ".join(map(str, pos if isinstance(pos, tuple) else (pos,))) + "]"


def check_stochastic(p: npt.ArrayLike, name: str, atol: float = 1e-6) -> np.ndarray:
    """Check a ``[K, M]`` table of probability rows (non-negative, each summing to 1)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"{name} must have shape [K, M] (one row per state), got {p.shape}.")
    bad = ~np.isfinite(p) | (p < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"row {row} of {name}: entry {col} is {p[row, col]}, not a probability.")
    sums = p.sum(-1)
    off = np.abs(sums - 1) > atol
    if off.any():
        row = int(np.argmax(off))
        raise ValueError(
            f"row {row} of {name} sums to {float(sums[row]):.10g}, not 1 (tolerance {atol}); "
            "normalise each row."
        )
    return p


def zeros(shape: tuple[int, ...]) -> Array:
    """Default-float zeros, placed without compiling anything."""
    return jnp.asarray(np.zeros(shape))


def init_normal(rngs: nnx.Rngs | None, shape: tuple[int, ...], scale: float = 1.0) -> Array:
    """``scale * N(0, 1)`` draws with the key ``rngs.params()``; zeros when ``rngs`` is None
    (the placeholder that the ``from_*`` constructors overwrite)."""
    if rngs is None:
        return zeros(shape)
    return scale * jax.random.normal(rngs.params(), shape)


def exact_log(p: Array) -> Array:
    """``log p`` with ``log 0 = -inf`` exactly: a probability that is zero stays zero (a
    symbol no state emits makes a sequence impossible, ``log p(x) = -inf``, rather than
    costing a made-up ``log(tiny) = -87.3`` nats). Only for parameter values (M-steps,
    ``from_*`` constructors), never differentiated."""
    return jnp.log(jnp.asarray(p))


def poison(valid: Array, log_prob: Array) -> Array:
    """``log_prob [T, K]`` with NaN rows where ``valid [T]`` is False (after reductions such
    as ``logsumexp``, whose fused ``max`` need not propagate NaN; elsewhere prefer poisoning
    the input, which costs nothing).

    The families' ``check_data`` rejects invalid observations eagerly; under ``jax.jit``
    (traced values) an invalid observation cannot raise, so it makes its row NaN, which the
    inference kernels propagate to the result (never a silently dropped observation)."""
    return jnp.where(valid[:, None], log_prob, jnp.nan)


def nan_if_not_finite(x: Array) -> Array:
    """``x`` with NaN in place of +-inf: an input whose NaN every product and sum carries to
    the log-density (+-inf could become a finite or infinite density instead). Poisoning the
    input is free; a ``where`` over the ``[T, K]`` output cost ~35% of a jitted E-step."""
    return jnp.where(jnp.isfinite(x), x, jnp.nan)


def all_finite_rows(x: Array) -> Array:
    """``[T]`` bool: row ``t`` of ``x [T, D]`` holds no NaN and no +-inf."""
    return jnp.all(jnp.isfinite(x), axis=-1)


#: Finite stand-in for ``log 0`` in a one-hot product (``1 * floor + 0 * floor`` stays finite
#: where ``0 * -inf`` would be NaN); results at or below half of it are mapped back to ``-inf``.
ONE_HOT_FLOOR = -1e30


def safe_divide(num: Array, den: Array, fallback: Array) -> Array:
    """``num / den`` where ``den > 0`` and ``fallback`` elsewhere (no NaN in values or grads)."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), fallback)


def seed_from_key(key: Array) -> int:
    """A numpy/scikit-learn seed derived from a JAX PRNG key."""
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


def num_free_symmetric(dim: int) -> int:
    """Free scalars of a symmetric ``dim x dim`` matrix."""
    return dim * (dim + 1) // 2


def prod(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
