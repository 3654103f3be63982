"""Chromatin-state models: ChromHMM's initialisations, Baum–Welch on all cells and chromosomes,
and the per-bin posteriors and state calls.

The model is ChromHMM's: an HMM over bins whose emission is a product of independent
Bernoullis, one per mark, ``p(x_t | z_t = k) = prod_d p_kd^[x_td = 1] (1 - p_kd)^[x_td = 0]``;
a missing mark (``x_td = 2``) contributes a factor 1 (it is marginalised exactly, never read
as absent). Every binarized file (one cell, one chromosome) is one sequence, and all share
one set of parameters.

Initialisations (ChromHMM ``-init``):

* ``information`` (ChromHMM's default; Ernst & Kellis): read every pair of consecutive bins
  as the vector of marks present in *both* (``y_t = [x_t = 1] AND [x_{t+1} = 1]``; a missing
  mark counts as absent there) and count the distinct vectors. Start with all of them in one
  group (state 1) and make states 2..K by splitting greedily: at each step, over every
  existing group ``g`` and mark ``d``, move the vectors of ``g`` that have ``d`` to a new group
  where that most increases the entropy of the group sizes, ``gain = -n1/N log(n1/N) -
  n2/N log(n2/N) + n/N log(n/N)`` (``n = n1 + n2`` the group's count, ``N`` all pairs; the
  first best split in group-then-mark order wins; no split with a positive gain: the data
  support fewer states, an error). State 1's emissions are ``h/2`` for every mark; state
  ``k > 1`` gets ``h/2 + (1 - h) f_kd``, with ``f_kd`` the fraction of the pairs in ``k``'s
  group and the groups split off it later that have mark ``d``. The initial distribution
  (over the groups of each sequence's first pair) and the transitions (between the groups of
  consecutive pairs) are the counted frequencies mixed with uniform, ``h/K + (1 - h) freq``
  (a state that no pair leaves gets a uniform row). ``h`` is ChromHMM's ``-h`` (0.02).
* ``random``: every probability uniform in (0, 1) (seeded, ``-s``), rows normalised.
* ``load``: a ``model_K.txt`` (``-m``) mixed with uniform as ChromHMM does:
  ``e/2 + (1 - e) p`` for the emissions (``-e``, 0.02) and ``t/K + (1 - t) a`` for the
  transitions (``-t``, 0.5).

Training is :func:`lsgm.training.fit_em` (Baum–Welch; the exact time-parallel E-step for
long chromosomes) until the log-likelihood improves by less than ``-d`` (0.001; a negative
value turns the rule off) or after ``-r`` iterations (200), ChromHMM's rule. ChromHMM's own
default is an incremental EM (its ``-p 0``) and it zeroes transitions below ``10^-z``; here
every iteration is a full Baum–Welch step (ChromHMM's ``-p`` mode) and no transition is
zeroed.

State calls are ChromHMM's: the state of largest posterior probability at each bin.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lsgm.data import Binarized, ChromHMMModel

#: ChromHMM's defaults: ``-h`` (information smoothing), ``-e`` and ``-t`` (load smoothing),
#: ``-d`` (change threshold), ``-r`` (iteration cap), ``-s`` (seed).
INFORMATION_SMOOTH, LOAD_SMOOTH_EMISSION, LOAD_SMOOTH_TRANSITION = 0.02, 0.02, 0.5
CONVERGE_DELTA, MAX_ITERATIONS, SEED = 0.001, 200, 999


def _pair_groups(xs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The distinct pair vectors ``[P, D]`` (bool), their counts ``[P]``, and per sequence
    the index of each pair's vector ``[T_i - 1]``."""
    pairs = [(x[:-1] == 1) & (x[1:] == 1) for x in xs]
    allpairs = np.concatenate(pairs) if pairs else np.zeros((0, 0), bool)
    if allpairs.shape[0] == 0:
        raise ValueError(
            "the information initialisation needs sequences of at least 2 bins; use -init random."
        )
    D = allpairs.shape[1]
    if D <= 62:  # one integer per vector: much faster than unique rows
        codes = allpairs @ (np.int64(1) << np.arange(D, dtype=np.int64))
        unique, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        vectors = (unique[:, None] >> np.arange(D, dtype=np.int64)) & 1 == 1
    else:
        vectors, inverse, counts = np.unique(
            allpairs, axis=0, return_inverse=True, return_counts=True
        )
    splits = np.cumsum([len(p) for p in pairs])[:-1]
    return vectors, counts.astype(np.float64), np.split(inverse.reshape(-1), splits)


def _entropy_term(count: np.ndarray, total: float) -> np.ndarray:
    p = count / total
    return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def information_init(
    xs: Sequence[np.ndarray], num_states: int, marks: Sequence[str], smooth: float = 0.02
) -> ChromHMMModel:
    """ChromHMM's ``information`` initialisation (module docstring).

    Args:
        xs: per sequence ``[T_i, D]`` values 0, 1, 2 (missing).
        num_states: ``K``.
        marks: the ``D`` mark names.
        smooth: ``h`` in [0, 1], ChromHMM's ``-h``.

    Returns:
        The starting :class:`~lsgm.data.ChromHMMModel` (log-likelihood ``-inf``, 0
        iterations).

    Raises:
        ValueError: the data support fewer than ``K`` states this way (no split increases
            the entropy), naming how many.
    """
    K, D = int(num_states), len(marks)
    vectors, counts, inverse = _pair_groups(xs)
    total = float(counts.sum())
    group = np.zeros(len(counts), np.int64)
    parent = np.zeros(K, np.int64)
    for new in range(1, K):
        size = np.bincount(group, counts, minlength=new)  # [new]
        with_mark = np.zeros((new, D))
        np.add.at(with_mark, group, vectors * counts[:, None])
        gain = (
            _entropy_term(size, total)[:, None]
            - _entropy_term(size[:, None] - with_mark, total)
            - _entropy_term(with_mark, total)
        )
        best = int(np.argmax(gain))  # the first maximum, group-major as in ChromHMM
        if not gain.flat[best] > 0:
            raise ValueError(
                f"on these data the information initialisation supports only {new} states, "
                f"not {K}; check the binarization, or use -init random (or -init load -m "
                "MODEL) for more states."
            )
        g, d = divmod(best, D)
        parent[new] = g
        group[(group == g) & vectors[:, d]] = new
    size = np.bincount(group, counts, minlength=K)
    with_mark = np.zeros((K, D))
    np.add.at(with_mark, group, vectors * counts[:, None])
    for k in range(K - 1, 0, -1):  # a group's subtree: itself and what was split off it
        if parent[k] != 0:
            size[parent[k]] += size[k]
            with_mark[parent[k]] += with_mark[k]
    emission = np.full((K, D), smooth / 2)
    emission[1:] += (1 - smooth) * with_mark[1:] / size[1:, None]
    paths = [group[i] for i in inverse if len(i)]
    starts = np.bincount([p[0] for p in paths], minlength=K)
    initial = smooth / K + (1 - smooth) * starts / len(paths)
    tally = np.zeros((K, K))
    for p in paths:
        tally += np.bincount(p[:-1] * K + p[1:], minlength=K * K).reshape(K, K)
    rows = tally.sum(1, keepdims=True)
    freq = np.divide(tally, rows, out=np.full((K, K), 1.0 / K), where=rows > 0)
    transition = smooth / K + (1 - smooth) * freq
    return ChromHMMModel(initial, transition, emission, list(marks))


def random_init(num_states: int, marks: Sequence[str], seed: int = SEED) -> ChromHMMModel:
    """``-init random``: every probability uniform in (0, 1) from ``numpy`` ``default_rng(
    seed)``; initial and transition rows normalised to sum to 1."""
    rng = np.random.default_rng(seed)
    K, D = int(num_states), len(marks)
    initial = rng.random(K)
    transition = rng.random((K, K))
    emission = rng.random((K, D))
    return ChromHMMModel(
        initial / initial.sum(),
        transition / transition.sum(1, keepdims=True),
        emission,
        list(marks),
    )


def smooth_loaded(
    model: ChromHMMModel,
    emission: float = LOAD_SMOOTH_EMISSION,
    transition: float = LOAD_SMOOTH_TRANSITION,
) -> ChromHMMModel:
    """``-init load``: ``e/2 + (1 - e) p`` for the emissions and ``t/K + (1 - t) a`` for the
    transitions (ChromHMM's ``-e`` and ``-t``); the initial distribution as loaded."""
    K = model.num_states
    return ChromHMMModel(
        model.initial,
        transition / K + (1 - transition) * model.transition,
        emission / 2 + (1 - emission) * model.emission,
        model.marks,
    )


def to_hmm(model: ChromHMMModel, allow_missing: bool = True):
    """An :class:`lsgm.HMM` with Bernoulli emissions (``allow_missing``: a 2 is missing)
    holding ``model``'s parameters (float64 under ``jax_enable_x64``, else float32)."""
    from lsgm import HMM
    from lsgm.distributions import Bernoulli

    emission = Bernoulli.from_probs(model.emission, allow_missing=allow_missing)
    return HMM.from_probs(model.initial, model.transition, emission)


def from_hmm(hmm, marks: Sequence[str], log_likelihood: float, iterations: int) -> ChromHMMModel:
    """The parameters of ``hmm`` (an :class:`lsgm.HMM` with Bernoulli emissions) as a
    :class:`~lsgm.data.ChromHMMModel`, in float64, rows renormalised."""
    initial = np.asarray(hmm.initial_probs(), np.float64)
    transition = np.asarray(hmm.transition_probs(), np.float64)
    emission = np.asarray(hmm.emission.probs(), np.float64)
    return ChromHMMModel(
        initial / initial.sum(),
        transition / transition.sum(1, keepdims=True),
        emission,
        list(marks),
        float(log_likelihood),
        int(iterations),
    )


def greedy_order(dist: np.ndarray) -> np.ndarray:
    """ChromHMM's ordering of rows by a distance ``dist [K, K]``: from each possible first
    row, a path through all rows built greedily (always the nearest row not yet placed, the
    lowest index on ties); the path of the smallest total distance is the order (the first
    one on ties, totals within ``1e-9`` relative counting as ties: a path and its reverse
    have the same total up to round-off). An undefined distance (NaN) counts as the
    largest.

    Returns:
        ``order [K]``: ``order[i]`` is the old index of the new row ``i``.
    """
    dist = np.where(np.isnan(dist), np.inf, dist)
    K = dist.shape[0]
    best, best_total = np.arange(K), np.inf
    for first in range(K):
        path, free, total = [first], np.ones(K, bool), 0.0
        free[first] = False
        for _ in range(K - 1):
            d = np.where(free, dist[:, path[-1]], np.inf)
            nxt = int(np.argmin(d)) if np.isfinite(d).any() else int(np.flatnonzero(free)[0])
            total += d[nxt]
            path.append(nxt)
            free[nxt] = False
        # "first on ties" robust to round-off: a path and its reverse have the same total
        if total < best_total and not np.isclose(total, best_total, rtol=1e-9, atol=1e-12):
            best, best_total = np.array(path), total
    return best


def emission_order(emission: np.ndarray) -> np.ndarray:
    """ChromHMM's "emission order" of the rows of ``emission [K, D]`` (its ``-stateordering
    emission``; on the transposed table, its default order of the mark columns of
    ``emissions_K.txt``): :func:`greedy_order` under the distance ``sqrt(1 - corr(p_i,
    p_j))`` between the rows (Pearson; an undefined correlation is the largest distance)."""
    K = emission.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(emission) if K > 1 else np.ones((1, 1))
    return greedy_order(np.sqrt(np.clip(1 - corr, 0, None)))


def transition_order(transition: np.ndarray) -> np.ndarray:
    """ChromHMM's "transition order" of the states (``-stateordering transition``):
    :func:`greedy_order` under the distance ``2 - (a_ij + a_ji)``, so that states that often
    follow each other are neighbours."""
    return greedy_order(2.0 - (transition + transition.T))


#: ``-stateordering`` (and ``-holdroworder``: ``"fixed"``) as ChromHMM's name of the order.
STATE_ORDERS = {"emission": "Emission", "transition": "Transition", "fixed": "Fixed"}


def state_order(model: ChromHMMModel, ordering: str) -> np.ndarray:
    """The state order of ``ordering`` (a key of :data:`STATE_ORDERS`): ``order[i]`` is the
    old index of the new state ``i`` (``"fixed"``: as trained)."""
    if ordering == "emission":
        return emission_order(model.emission)
    if ordering == "transition":
        return transition_order(model.transition)
    if ordering == "fixed":
        return np.arange(model.num_states)
    raise ValueError(f"-stateordering must be emission or transition; got {ordering!r}.")


def reorder(model: ChromHMMModel, order: np.ndarray) -> ChromHMMModel:
    """``model`` with its states permuted: new state ``i`` is old state ``order[i]``."""
    return dataclasses.replace(
        model,
        initial=model.initial[order],
        transition=model.transition[np.ix_(order, order)],
        emission=model.emission[order],
    )


@dataclass
class Iteration:
    """One EM iteration: its number (1-based), the log-likelihood of the parameters before
    its M-step, the change from the previous one and the seconds since training began."""

    number: int
    log_likelihood: float
    change: float
    seconds: float


@dataclass
class Training:
    """The fitted model and what EM did."""

    model: ChromHMMModel
    iterations: list[Iteration] = field(default_factory=list)
    converged: bool = False
    seconds: float = 0.0


def pseudo_prior(num_marks: int, last: bool = True):
    """ChromHMM's ``-pseudo`` as a prior: a pseudo-count of 1 added to every expected count
    of the M-step (initial states, transitions, and both values of every mark) is MAP EM
    under ``Dirichlet(2)`` rows and ``Beta(2, 2)`` emissions. With ``last=False``
    (``-nopseudolast``) the initial states and the last mark get none (a dummy mark)."""
    from lsgm.distributions import BetaPrior
    from lsgm.training import HMMPrior

    if last:
        return HMMPrior(initial=2.0, transition=2.0, emission=BetaPrior(2.0, 2.0))
    alpha = np.full(num_marks, 2.0)
    alpha[-1] = 1.0
    return HMMPrior(initial=1.0, transition=2.0, emission=BetaPrior(alpha, alpha))


def fit(
    data: Sequence[Binarized],
    start: ChromHMMModel,
    *,
    max_iterations: int = MAX_ITERATIONS,
    converge_delta: float = CONVERGE_DELTA,
    on_iteration: Callable[[Iteration], None] | None = None,
    max_seconds: float = -1.0,
    prior=None,
    mesh=None,
) -> Training:
    """Baum–Welch from ``start`` on every sequence of ``data`` (ChromHMM's stopping rule:
    module docstring).

    Args:
        data: binarized files with the same marks (:func:`lsgm.data.read_binarized_folder`).
        start: the starting parameters (marks in the data's order).
        max_iterations: ``-r``.
        converge_delta: ``-d``; negative: iterate ``max_iterations`` times.
        on_iteration: called after each iteration (progress lines).
        max_seconds: ``-x``: no iteration starts after this many seconds of training
            (negative: no limit); the fit then ends unconverged.
        prior: an :class:`lsgm.training.HMMPrior` for MAP EM (``-pseudo``:
            :func:`pseudo_prior`); the stopping rule then follows the log-posterior.
        mesh: a :class:`jax.sharding.Mesh` (:func:`lsgm.distributed.make_mesh`): the exact
            time-parallel E-step with the chunks of every sequence split over its devices
            (sequence parallelism; the same fit as one device up to round-off). None: one
            device, the E-step :func:`lsgm.training.fit_em` chooses.

    Raises:
        lsgm.training.FitDivergedError: the log-likelihood or a parameter became non-finite.
    """
    from lsgm.training import fit_em

    if max_iterations < 1:
        raise ValueError(f"-r (max iterations) must be >= 1; got {max_iterations}.")
    marks = data[0].marks
    start = start.with_marks(marks)
    xs = [d.x for d in data]
    hmm = to_hmm(start, allow_missing=any(d.missing() for d in data))
    began = time.perf_counter()
    steps: list[Iteration] = []
    out_of_time = False

    def progress(history) -> None:
        nonlocal out_of_time
        lls = history.log_likelihoods
        change = lls[-1] - lls[-2] if len(lls) > 1 else float("nan")
        steps.append(Iteration(len(lls), float(lls[-1]), change, time.perf_counter() - began))
        if on_iteration is not None:
            on_iteration(steps[-1])
        if 0 <= max_seconds <= steps[-1].seconds and not history.converged:
            # fit_em stops after an iteration whose history says converged (-x: time is up)
            out_of_time = history.converged = True

    tol = converge_delta if converge_delta >= 0 else -np.inf
    hmm, history = fit_em(
        hmm,
        xs,
        max_iter=max_iterations,
        tol=tol,
        callback=progress,
        priors=prior,
        mesh=mesh,
        method="auto" if mesh is None else "chunked",
    )
    lls = history.log_likelihoods
    model = from_hmm(hmm, marks, lls[-1], len(lls))
    converged = bool(history.converged) and not out_of_time
    return Training(model, steps, converged, time.perf_counter() - began)


def posteriors(model: ChromHMMModel, data: Sequence[Binarized]) -> list[np.ndarray]:
    """``p(z_t = k | x)`` for every sequence: a list of ``[T_i, K]`` float arrays."""
    hmm = to_hmm(model.with_marks(data[0].marks), any(d.missing() for d in data))
    return [np.asarray(p) for p in hmm.predict_proba([d.x for d in data])]


def score(model: ChromHMMModel, data: Sequence[Binarized]) -> float:
    """The total log-likelihood ``sum_i log p(x_i)`` of ``data`` under ``model``."""
    hmm = to_hmm(model.with_marks(data[0].marks), any(d.missing() for d in data))
    return float(hmm.score([d.x for d in data]))


def calls(posterior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ChromHMM's state calls from ``posterior [T, K]`` and their segments.

    Returns:
        ``(states [T], starts [S], ends [S], confidence [S])``: the most probable state per
        bin (0-based), the runs of equal calls as bin ranges ``[start, end)``, and each run's
        confidence, the mean posterior of its state over its bins,
        ``c_s = mean_{t in s} p(z_t = k_s | x)``.
    """
    states = np.argmax(posterior, axis=1)
    return (states, *runs(states, posterior[np.arange(len(states)), states]))


def runs(states: np.ndarray, called: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts [S], ends [S], confidence [S])`` of the runs of equal ``states [T]``, each
    run's confidence the mean of ``called [T]`` (the posterior of the called state) over it
    (:func:`calls`)."""
    change = np.flatnonzero(states[1:] != states[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(states)]])
    confidence = np.add.reduceat(called, starts) / (ends - starts)
    return starts, ends, confidence


def decoded_calls(
    model: ChromHMMModel, data: Sequence[Binarized]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per file ``(states [T], called [T])``: the most probable state of every bin and its
    posterior (:meth:`lsgm.HMM.posterior_decode`), what the segmentations need without
    ``-printposterior``."""
    hmm = to_hmm(model.with_marks(data[0].marks), any(d.missing() for d in data))
    return hmm.posterior_decode([d.x for d in data])
