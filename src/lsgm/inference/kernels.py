"""Exact sum-product inference on one sequence: log Z, log alpha, log beta, filtering, posteriors.

Every function takes :class:`~lsgm.inference.Potentials` of one sequence plus

* ``length``: positions ``t >= length`` are padding and change no result (outputs there are
  ``-inf`` for log-quantities and ``0`` for probabilities);
* ``allowed``: ``[K]`` bool; restricts every sum to paths that visit allowed states only, i.e.
  the kernels compute ``log p(x, z_{1:T} ⊂ allowed)`` (the LSGM paper's likelihood "with motif
  states removed", used by likelihood-ratio tests);
* ``method``: ``"scaled"`` (normalised probability-space scan, fast) or ``"log"`` (log-space
  scan, robust reference). Both give the same numbers. :func:`log_partition` and
  :func:`expected_counts` also take ``"chunked"`` (stationary potentials only): the exact
  time-parallel E-step of :mod:`lsgm.inference.time_parallel`, the same numbers up to
  round-off, for very long sequences; and ``"auto"``, which picks ``"chunked"`` for a long
  sequence with stationary potentials (:func:`choose_method`) and ``"scaled"`` otherwise.

Batch with ``jax.vmap``; all functions compose with ``jax.jit`` and ``jax.grad``. Shapes are
validated at trace time (:func:`~lsgm.inference.potentials.check_potentials`).

Zeros and NaN: an impossible sequence (every path has probability 0) has ``log_z = -inf``,
``-inf`` forward variables from the step where it becomes impossible
(:func:`first_impossible_step`) on, NaN filtering rows from there and NaN posteriors; a NaN
in the potentials of a valid step (invalid input) makes every output NaN on the valid steps.
Both methods give the same answers.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lsgm.inference import log_space, scaled, time_parallel
from lsgm.inference.potentials import (
    LOG_FLOOR,
    Potentials,
    Prepared,
    check_potentials,
    floor_or_nan,
    has_nan,
    nan_if,
    prepare,
    to_public_log,
    valid_steps,
)

Array = jax.Array

#: Scan unrolling factor (measured in ``benchmarks/kernels.py``).
UNROLL = 4
METHODS = ("scaled", "log")
#: Methods of :func:`log_partition` and :func:`expected_counts` (and of the models' E-step).
EXPECTATION_METHODS = ("auto", *METHODS, "chunked")
#: Sequences at least this long (with stationary potentials) use the time-parallel kernels
#: under ``method="auto"``, when the batch holds at most :data:`CHUNKED_MAX_ROWS` of them.
CHUNKED_MIN_STEPS = 4096
CHUNKED_MAX_ROWS = 16


def choose_method(
    num_sequences: int,
    num_steps: int,
    stationary: bool = True,
    devices: int = 1,
    num_states: int | None = None,
) -> str:
    """What ``method="auto"`` runs for a padded batch of ``num_sequences`` rows of
    ``num_steps`` steps on ``devices`` devices: ``"chunked"`` (:mod:`~lsgm.inference.
    time_parallel`) when the potentials are stationary and either the rows are long
    (``>= CHUNKED_MIN_STEPS``) and few (``<= CHUNKED_MAX_ROWS``) or, on one device, many
    (``>=`` :data:`~lsgm.inference.time_parallel.ONE_CHUNK_ROWS`, and ``N·K >= 3 x`` that
    when ``num_states`` is given: one chunk per row, every scan step one matrix product
    over the rows; with 2 states and 128 rows the plain scan is faster); else ``"scaled"``
    (measured in ``benchmarks/long_sequences.py``)."""
    if not stationary:
        return "scaled"
    if num_steps >= CHUNKED_MIN_STEPS and num_sequences <= CHUNKED_MAX_ROWS:
        return "chunked"
    rows = time_parallel.ONE_CHUNK_ROWS
    wide = num_states is None or num_sequences * num_states >= 3 * rows
    if devices == 1 and num_sequences >= rows and wide:
        return "chunked"
    return "scaled"


class ExpectedCounts(NamedTuple):
    """Expected sufficient statistics of one sequence (what EM and gradients need).

    Attributes:
        log_z: ``[]`` ``log p(x_{1:length})``.
        states: ``[T, K]`` ``p(z_t = k | x)``; rows ``t >= length`` are 0.
        transitions: ``[K, K]`` ``sum_t p(z_t = i, z_{t+1} = j | x)`` for stationary
            potentials (computed without a ``[T-1, K, K]`` array), ``[T-1, K, K]`` per-step
            pairwise marginals for time-varying ones.
    """

    log_z: Array
    states: Array
    transitions: Array


class Posteriors(NamedTuple):
    """Smoothed marginals of one sequence.

    Attributes:
        log_z: ``[]`` ``log p(x_{1:length})``.
        states: ``[T, K]`` ``p(z_t = k | x)``; rows ``t >= length`` are 0.
        transitions: ``[T-1, K, K]`` ``p(z_t = i, z_{t+1} = j | x)``; rows ``t >= length-1`` are 0.
    """

    log_z: Array
    states: Array
    transitions: Array


def _check_method(method: str, allowed=METHODS) -> None:
    if method not in allowed:
        raise ValueError(f"method={method!r} is not one of {allowed}.")


def _resolve(p: Potentials, method: str) -> str:
    """``"auto"`` resolved for one sequence; ``"chunked"`` checked against the potentials."""
    stationary = jnp.ndim(p.log_trans) == 2
    if method == "auto":
        return choose_method(1, jnp.shape(p.log_emit)[0], stationary)
    if method == "chunked" and not stationary:
        raise ValueError(
            "method='chunked' needs stationary potentials (log_trans [K, K]); these have "
            f"log_trans {tuple(jnp.shape(p.log_trans))}. Use method='scaled'."
        )
    return method


def _kernel(impl, methods=METHODS):
    """Make a public kernel from ``impl(p, length, allowed, method)``: validate the method and
    the shapes at trace time, then run ``impl`` under ``jax.jit`` (``method`` static)."""
    jitted = jax.jit(impl, static_argnames="method")

    @functools.wraps(impl)
    def public(
        p: Potentials,
        length: ArrayLike | None = None,
        allowed: ArrayLike | None = None,
        method: str = "scaled",
    ):
        _check_method(method, methods)
        check_potentials(p, length, allowed)
        return jitted(p, length, allowed, _resolve(p, method))

    return public


def _expectation_kernel(impl):
    return _kernel(impl, EXPECTATION_METHODS)


def _chunked_counts(prep: Prepared) -> ExpectedCounts:
    """One sequence through :func:`lsgm.inference.time_parallel.batch_expected_counts`."""
    out = time_parallel.batch_expected_counts(
        prep.log_init, prep.log_trans, prep.log_emit[None], prep.length[None]
    )
    return ExpectedCounts(out.log_z[0], out.states[0], out.transitions)


def floored_log(x: Array) -> Array:
    """``log x`` with ``0 -> LOG_FLOOR``; NaN stays NaN (never read as a zero).

    The kernels' log of normalised forward/backward variables: the finite floor keeps
    gradients through an unreachable state finite (``DESIGN.md`` §1). Parameters use the exact
    log instead (``log 0 = -inf``, :func:`lsgm.distributions._common.exact_log`)."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), floor_or_nan(x))


def _dead_steps(prep: Prepared, log_c: Array) -> Array:
    """``[T]`` bool: True at the valid steps ``t`` where ``p(x_{1:t}) = 0`` (the forward mass
    is all zero). Both methods agree here: the scaled scan's zero vector gives
    ``log_c = LOG_FLOOR``, the log scan's all-floored vector a normaliser near ``LOG_FLOOR``,
    and no later finite ``log_c`` lifts the running sum back above ``LOG_FLOOR / 2``."""
    return (jnp.cumsum(log_c) <= LOG_FLOOR / 2) & valid_steps(prep)


def _undefined(log_z: Array) -> Array:
    """``[]`` bool: the posteriors are undefined (``p(x) = 0``, or NaN potentials)."""
    return ~(log_z > LOG_FLOOR / 2)


def _nan_where(bad: Array, x: Array) -> Array:
    """``x`` with NaN where ``bad`` (broadcast over the trailing axes of ``x``)."""
    bad = jnp.reshape(bad, jnp.shape(bad) + (1,) * (x.ndim - jnp.ndim(bad)))
    return jnp.where(bad, jnp.nan, x)


def _mask_rows(prep: Prepared, x: Array, valid: Array, fill) -> Array:
    return prep.select(valid.reshape(valid.shape + (1,) * (x.ndim - 1)), x, fill)


def _forward_normalised(prep: Prepared, method: str) -> tuple[Array, Array]:
    """``(log alpha_hat [T, K], log_c [T])`` with ``log alpha = log alpha_hat + cumsum(log_c)``."""
    if method == "log":
        return log_space.forward(prep, UNROLL)
    fwd = scaled.forward(prep, UNROLL)
    return floored_log(fwd.alpha_hat), fwd.log_c


def _expected_counts(prep: Prepared, method: str) -> ExpectedCounts:
    if method == "chunked":
        return _chunked_counts(prep)
    valid = valid_steps(prep)
    if method == "log":
        post = _posteriors_log(prep)
        transitions = _mask_rows(prep, post.transitions, valid[1:], 0.0)
        if prep.is_stationary:
            transitions = transitions.sum(0)
        return ExpectedCounts(post.log_z, _mask_rows(prep, post.states, valid, 0.0), transitions)
    fwd = scaled.forward(prep, UNROLL)
    if prep.is_stationary:
        states, transitions = scaled.backward_counts(prep, fwd, UNROLL)
        return ExpectedCounts(fwd.log_c.sum(), states, transitions)
    bwd = scaled.backward(prep, fwd, UNROLL)
    smoothed = scaled.smooth(prep, fwd, bwd)
    transitions = scaled.pairwise(prep, fwd, bwd, smoothed)
    states = _mask_rows(prep, smoothed.states, valid, 0.0)
    return ExpectedCounts(fwd.log_c.sum(), states, transitions)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _log_z(method, padded, log_init, log_trans, log_emit, length):
    """log Z of prepared potentials, with the forward–backward identity as its derivative:

    d log Z = <p(z_1 | x), d log_init> + <sum_t xi_t, d log_trans> + <p(z_t | x), d log_emit>.

    The derivative costs one backward pass instead of reverse-mode through the forward scan,
    and stays differentiable itself (higher-order derivatives work).
    """
    if method == "chunked":
        return time_parallel.batch_log_partition(log_init, log_trans, log_emit[None], length[None])[
            0
        ]
    prep = Prepared(log_init, log_trans, log_emit, length, padded)
    return _forward_normalised(prep, method)[1].sum()


@_log_z.defjvp
def _log_z_jvp(method, padded, primals, tangents):
    d_init, d_trans, d_emit, _ = tangents
    counts = _expected_counts(Prepared(*primals, padded), method)
    tangent = (
        (counts.states[0] * d_init).sum()
        + (counts.transitions * d_trans).sum()
        + (counts.states * d_emit).sum()
    )
    return counts.log_z, tangent


@_expectation_kernel
def log_partition(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Array:
    """``log p(x_{1:length})`` summed over all (allowed) state paths. Returns a scalar.

    Example: two states, four steps (``log_emit[t, k] = log p(x_t | z_t = k)``):

    >>> import jax.numpy as jnp
    >>> from lsgm.inference import Potentials, log_partition
    >>> p = Potentials(jnp.log(jnp.array([0.5, 0.5])),
    ...                jnp.log(jnp.array([[0.9, 0.1], [0.2, 0.8]])),
    ...                jnp.log(jnp.array([[0.5, 0.9], [0.5, 0.9], [0.5, 0.1], [0.5, 0.9]])))
    >>> round(float(log_partition(p)), 5)
    -2.51324
    >>> round(float(log_partition(p, length=2)), 5)  # the first two steps only
    -0.68518
    """
    prep = prepare(p, length, allowed)
    log_z = _log_z(method, prep.padded, prep.log_init, prep.log_trans, prep.log_emit, prep.length)
    return nan_if(has_nan(prep), to_public_log(log_z))


@_kernel
def forward(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Array:
    """``[T, K]`` ``log alpha_t(k) = log p(x_{1:t}, z_t = k)``; ``-inf`` on padding."""
    prep = prepare(p, length, allowed)
    log_alpha_hat, log_c = _forward_normalised(prep, method)
    log_alpha = log_alpha_hat + jnp.cumsum(log_c)[:, None]
    valid = valid_steps(prep)
    log_alpha = _nan_where(has_nan(prep) & valid, log_alpha)
    return to_public_log(_mask_rows(prep, log_alpha, valid, LOG_FLOOR))


@_kernel
def backward(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Array:
    """``[T, K]`` ``log beta_t(k) = log p(x_{t+1:length} | z_t = k)``; ``-inf`` on padding."""
    prep = prepare(p, length, allowed)
    if method == "log":
        log_beta_hat, log_d = log_space.backward(prep, UNROLL)
    else:
        bwd = scaled.backward(prep, scaled.forward(prep, UNROLL), UNROLL)
        log_beta_hat, log_d = floored_log(bwd.beta_hat), bwd.log_d
    later = jnp.cumsum(log_d[::-1])[::-1]  # sum_{u >= t} log_d_u
    log_beta = log_beta_hat + later[:, None]
    if allowed is not None:  # no allowed path passes through a disallowed state
        log_beta = jnp.where(jnp.asarray(allowed, bool)[None, :], log_beta, LOG_FLOOR)
    valid = valid_steps(prep)
    log_beta = _nan_where(has_nan(prep) & valid, log_beta)
    return to_public_log(_mask_rows(prep, log_beta, valid, LOG_FLOOR))


@_kernel
def filtered(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Array:
    """``[T, K]`` filtering distributions ``p(z_t = k | x_{1:t})``; rows ``t >= length`` are 0.

    Rows from the first step whose prefix has probability 0 on (see
    :func:`first_impossible_step`) are NaN: the conditional is undefined there."""
    prep = prepare(p, length, allowed)
    if method == "log":
        log_fwd = log_space.forward(prep, UNROLL)
        probs, log_c = jnp.exp(log_fwd.log_alpha_hat), log_fwd.log_c
    else:
        fwd = scaled.forward(prep, UNROLL)
        probs, log_c = fwd.alpha_hat, fwd.log_c
    valid = valid_steps(prep)
    probs = _nan_where(_dead_steps(prep, log_c) | (has_nan(prep) & valid), probs)
    return _mask_rows(prep, probs, valid, 0.0)


@_expectation_kernel
def expected_counts(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> ExpectedCounts:
    """Expected sufficient statistics: ``log_z``, state marginals and summed pairwise marginals.

    The E-step of Baum–Welch. For stationary potentials ``transitions`` is the ``[K, K]`` sum
    over time of the pairwise marginals, accumulated inside the backward scan
    (:func:`lsgm.inference.scaled.backward_counts`; ``method="log"``: summed from the
    ``[T-1, K, K]`` marginals); see :class:`ExpectedCounts`. An impossible sequence
    (``log_z = -inf``) or NaN potentials give NaN ``states`` (valid rows) and ``transitions``.
    """
    prep = prepare(p, length, allowed)
    counts = _expected_counts(prep, method)
    bad = has_nan(prep)
    undefined = _undefined(counts.log_z) | bad
    valid = valid_steps(prep)
    if prep.is_stationary:
        transitions = _nan_where(undefined, counts.transitions)
    else:
        transitions = _nan_where(undefined & valid[1:], counts.transitions)
    return ExpectedCounts(
        log_z=nan_if(bad, to_public_log(counts.log_z)),
        states=_nan_where(undefined & valid, counts.states),
        transitions=transitions,
    )


@_kernel
def first_impossible_step(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Array:
    """``[]`` int32: the first step ``t`` (0-based) at which ``p(x_{1:t+1}) = 0``, i.e. the
    forward mass over (allowed) states is all zero; ``-1`` when ``p(x_{1:length}) > 0``.

    Where a sequence is impossible (``log_partition = -inf``) this says where: at step ``t``
    no state that a path can reach gives the observation a non-zero likelihood (or no allowed
    transition leads there). NaN potentials (invalid input, ``log_partition`` NaN) give ``-1``.
    """
    prep = prepare(p, length, allowed)
    log_c = _forward_normalised(prep, method)[1]
    dead = _dead_steps(prep, log_c)
    return jnp.where(dead.any() & ~has_nan(prep), jnp.argmax(dead), -1).astype(jnp.int32)


def _posteriors_log(prep: Prepared) -> Posteriors:
    fwd = log_space.forward(prep, UNROLL)
    bwd = log_space.backward(prep, UNROLL)
    states = log_space.states(fwd, bwd)
    return Posteriors(fwd.log_c.sum(), states, log_space.pairwise(prep, fwd, bwd))


def _posteriors_scaled(prep: Prepared) -> Posteriors:
    fwd = scaled.forward(prep, UNROLL)
    bwd = scaled.backward(prep, fwd, UNROLL)
    smoothed = scaled.smooth(prep, fwd, bwd)
    pairwise = scaled.pairwise(prep, fwd, bwd, smoothed)
    return Posteriors(fwd.log_c.sum(), smoothed.states, pairwise)


@_kernel
def posteriors(
    p: Potentials,
    length: ArrayLike | None = None,
    allowed: ArrayLike | None = None,
    method: str = "scaled",
) -> Posteriors:
    """Forward–backward smoothing: ``log_z``, state marginals and pairwise marginals.

    ``states[t, k] = p(z_t = k | x)`` and ``transitions[t, i, j] = p(z_t = i, z_{t+1} = j | x)``,
    which are also the gradients of ``log_partition`` with respect to ``log_emit`` and
    ``log_trans`` (time-varying), respectively.

    An impossible sequence (``log_z = -inf``: every path has probability 0) has no posterior:
    its ``states`` and ``transitions`` are NaN on the valid steps (0 on padding), with both
    methods; so are those of NaN potentials (``log_z`` NaN).
    """
    prep = prepare(p, length, allowed)
    post = _posteriors_log(prep) if method == "log" else _posteriors_scaled(prep)
    valid = valid_steps(prep)
    bad = has_nan(prep)
    undefined = _undefined(post.log_z) | bad
    states = _mask_rows(prep, post.states, valid, 0.0)
    transitions = _mask_rows(prep, post.transitions, valid[1:], 0.0)
    return Posteriors(
        log_z=nan_if(bad, to_public_log(post.log_z)),
        states=_nan_where(undefined & valid, states),
        transitions=_nan_where(undefined & valid[1:], transitions),
    )
