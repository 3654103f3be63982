"""Exact HMM inference from potentials, shared by every model (``DESIGN.md`` §1).

Models produce :class:`Potentials` (log-space ``log_init [K]``, ``log_trans [K,K]`` or
``[T-1,K,K]``, ``log_emit [T,K]``); these kernels turn them into the likelihood, forward and
backward variables, filtering and smoothing marginals, Viterbi paths and posterior samples.
Each works on one sequence (batch with ``jax.vmap``) and accepts ``length`` (padding) and
``allowed`` (restrict paths to a subset of states). ``chunked_*`` are exact blocked variants for
very long sequences with stationary potentials (:mod:`lsgm.inference.chunked`), and
:mod:`lsgm.inference.time_parallel` (a public name of this package, used as a namespace) is the
exact time-parallel E-step of a batch of them (``method="chunked"``, chosen by
``method="auto"`` for a few long sequences).
:func:`chain_log_partition` is the ``O(K·S)`` forward recursion of chain-structured
transitions (motif states, :mod:`lsgm.inference.chains`).

Zero is exact: an impossible sequence has ``log p(x) = -inf``, NaN posteriors and an all
``-1`` Viterbi path (:func:`first_impossible_step` says where it becomes impossible); NaN
potentials (invalid input) give NaN, never ``-inf``.
"""

from lsgm.inference import time_parallel
from lsgm.inference.chains import chain_log_partition, dense_transitions
from lsgm.inference.chunked import (
    chunked_log_partition,
    chunked_posteriors,
    chunked_viterbi,
)
from lsgm.inference.kernels import (
    CHUNKED_MAX_ROWS,
    CHUNKED_MIN_STEPS,
    EXPECTATION_METHODS,
    METHODS,
    ExpectedCounts,
    Posteriors,
    backward,
    choose_method,
    expected_counts,
    filtered,
    first_impossible_step,
    forward,
    log_partition,
    posteriors,
)
from lsgm.inference.potentials import LOG_FLOOR, Potentials, check_potentials, concrete_or_none
from lsgm.inference.sampling import sample_paths
from lsgm.inference.viterbi import viterbi

__all__ = [
    "CHUNKED_MAX_ROWS",
    "CHUNKED_MIN_STEPS",
    "EXPECTATION_METHODS",
    "LOG_FLOOR",
    "METHODS",
    "ExpectedCounts",
    "Potentials",
    "Posteriors",
    "backward",
    "chain_log_partition",
    "chunked_log_partition",
    "chunked_posteriors",
    "chunked_viterbi",
    "check_potentials",
    "choose_method",
    "concrete_or_none",
    "dense_transitions",
    "expected_counts",
    "filtered",
    "first_impossible_step",
    "forward",
    "log_partition",
    "posteriors",
    "sample_paths",
    "time_parallel",
    "viterbi",
]
