"""CpG-island segmentation: supervised HMMs and a label-trained LSGM, scored per base.

Three models label every base of a window as island (1) or background (0) by Viterbi
decoding:

* **two-state HMM** (state 0 = background, 1 = island), fitted by counting
  (:func:`lsgm.training.fit_supervised`);
* **dinucleotide HMM** (Durbin et al. 1998, ch. 3): eight states ``A+ C+ G+ T+ A- C- G- T-``,
  state = (label, base); each state emits its own base with probability 1, so the transitions
  ``p(s_{t+1} | s_t)`` carry the dinucleotide statistics of islands (``+``) and background
  (``-``). Fitted by counting with soft state paths: a soft base (``N``) spreads its count over
  the four states of its label, ``q_t(s) = 1{label(s) = y_t} · x_t[base(s)]``;
* **LSGM** (2 states, GRU over the bases read so far), started from the two-state HMM
  (:meth:`lsgm.LSGM.from_hmm`) and trained on the joint likelihood ``log p(x, z)`` of labelled
  sub-windows (``fit_gradient(..., state_labels=...)``), early-stopped on the validation split.

Scores are pooled over all bases of the test windows: precision ``TP / (TP + FP)``, recall
``TP / (TP + FN)``, ``F1 = 2 P R / (P + R)`` and accuracy, island = positive class.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import optax
from flax import nnx

import lsgm
from lsgm.apps.seeds import check_seeds, mean_sd_text, summarise
from lsgm.data import Interval, path_to_intervals
from lsgm.datasets import Window, load_cpg_islands
from lsgm.distributions import Categorical, DirichletPrior
from lsgm.training import fit_gradient, fit_supervised

#: Bases in symbol order.
BASES = "ACGT"
#: Names of the dinucleotide HMM's states, in index order (state = 4 * (1 - island) + base).
DINUCLEOTIDE_STATES = ("A+", "C+", "G+", "T+", "A-", "C-", "G-", "T-")
#: Which dinucleotide states are island states.
DINUCLEOTIDE_ISLAND = np.array([True] * 4 + [False] * 4)
#: Interval name of a called island in BED output.
ISLAND_NAME = "CpG_island"


# ------------------------------------------------------------------ data handling
def split_windows(
    windows: Sequence[Window],
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[list[Window], list[Window], list[Window]]:
    """A deterministic random ``(train, valid, test)`` split of the windows.

    ``round(test_fraction · N)`` windows go to test, ``round(valid_fraction · N)`` to
    validation, the rest to training; the order comes from ``numpy.random.default_rng(seed)``.
    """
    n = len(windows)
    for name, value in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1); got {value}.")
    n_test, n_valid = round(test_fraction * n), round(valid_fraction * n)
    if n - n_test - n_valid < 1:
        raise ValueError(
            f"no training windows left: {n} windows, {n_test} for test and {n_valid} for "
            "validation; lower the fractions or pass more windows."
        )
    order = np.random.default_rng(seed).permutation(n)
    pick = [windows[i] for i in order]
    return pick[n_test + n_valid :], pick[n_test : n_test + n_valid], pick[:n_test]


def observations(windows: Sequence[Window]) -> list[np.ndarray]:
    """The windows' observations in one batchable form: ``[T]`` ints when every window is
    hard, else every window as ``[T, 4]`` float32 soft rows (hard bases one-hot)."""
    if not any(w.is_soft for w in windows):
        return [w.x for w in windows]
    eye = np.eye(len(BASES), dtype=np.float32)
    return [w.x if w.is_soft else eye[w.x] for w in windows]


def _soft(x: np.ndarray) -> np.ndarray:
    """``[T, 4]`` base probabilities of hard ``[T]`` or soft ``[T, 4]`` observations."""
    return np.asarray(x, np.float64) if x.ndim == 2 else np.eye(len(BASES))[x]


def _chunks(windows: Sequence[Window], length: int | None):
    """Observations and labels of the windows cut into pieces of at most ``length`` bases."""
    xs, labels = [], []
    for x, w in zip(observations(windows), windows, strict=True):
        step = len(w.labels) if length is None else int(length)
        for start in range(0, len(w.labels), step):
            xs.append(x[start : start + step])
            labels.append(w.labels[start : start + step])
    return xs, labels


# ------------------------------------------------------------------ models
def fit_two_state_hmm(train: Sequence[Window], pseudocount: float = 1.0) -> lsgm.HMM:
    """The two-state HMM (0 = background, 1 = island) by supervised counting.

    ``pi``, ``A`` and ``B`` are the label/base counts plus ``pseudocount`` each, normalised
    (:func:`lsgm.training.fit_supervised`; soft bases add fractional emission counts).
    """
    if not train:
        raise ValueError("no training windows were given.")
    # the emission table is a placeholder (zeros) until the counts overwrite it
    model = lsgm.HMM(2, Categorical(2, len(BASES), rngs=None), rngs=nnx.Rngs(1))
    prior = DirichletPrior(1.0 + pseudocount)
    labels = [w.labels for w in train]
    return fit_supervised(
        model, observations(train), labels, pseudocount=pseudocount, emission_prior=prior
    )


def fit_dinucleotide_hmm(train: Sequence[Window], pseudocount: float = 1.0) -> lsgm.HMM:
    """The 8-state dinucleotide HMM of Durbin et al. (1998, §3.2) by supervised counting.

    State ``s = 4 · (1 - island) + base`` (``A+ C+ G+ T+ A- C- G- T-``) emits its own base
    with probability 1. With the soft state occupancy ``q_t(s) = 1{label(s) = y_t} ·
    x_t[base(s)]`` (one-hot for a hard base)

        pi_s ∝ sum_n q_{n,1}(s) + c,    A_rs ∝ sum_{n,t} q_{n,t}(r) q_{n,t+1}(s) + c

    (``c`` = ``pseudocount``), the counting maximum-likelihood estimate for hard bases.
    """
    if not train:
        raise ValueError("no training windows were given.")
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0; got {pseudocount}.")
    K = len(DINUCLEOTIDE_STATES)
    initial = np.full(K, float(pseudocount))
    transition = np.full((K, K), float(pseudocount))
    for w in train:
        island = w.labels.astype(bool)[:, None]
        bases = _soft(w.x)
        q = np.concatenate([bases * island, bases * ~island], axis=1)  # [T, 8]
        initial += q[0]
        transition += q[:-1].T @ q[1:]
    for name, counts in (("initial", initial[None]), ("transition", transition)):
        if np.any(counts.sum(1) == 0):
            state = DINUCLEOTIDE_STATES[int(np.flatnonzero(counts.sum(1) == 0)[0])]
            raise ValueError(
                f"no {name} counts for state {state} (and pseudocount 0): pass a pseudocount "
                "> 0 or more training windows."
            )
    emission = Categorical.from_probs(np.tile(np.eye(len(BASES)), (2, 1)))
    return lsgm.HMM.from_probs(
        initial / initial.sum(), transition / transition.sum(1, keepdims=True), emission
    )


def fit_lsgm(
    train: Sequence[Window],
    valid: Sequence[Window],
    *,
    epochs: int,
    hidden_size: int = 32,
    batch_size: int = 32,
    chunk_length: int | None = None,
    learning_rate: float = 1e-2,
    patience: int = 3,
    pseudocount: float = 1.0,
    seed: int = 0,
    progress_bar: bool = False,
    checkpoint_dir=None,
    resume: bool = False,
):
    """A two-state LSGM (GRU) trained on the joint likelihood of labelled windows.

    Starts from the supervised two-state HMM (:meth:`lsgm.LSGM.from_hmm`: network outputs at
    zero, so it starts as that HMM), then minimises the joint NLL per base ``-log p(x, z) / T``
    (``fit_gradient(..., state_labels=...)``) with Adam and gradient clipping at norm 1, on
    whole training windows (``chunk_length=None``) or on pieces of ``chunk_length`` bases.
    Keeps the parameters of the epoch with the lowest validation ``-log p(x, z) / T`` and stops
    after ``patience`` epochs without improvement. ``checkpoint_dir``/``resume``: per-epoch
    checkpoints and exact resumption (see :func:`lsgm.training.fit_gradient`).

    Returns:
        ``(model, history)`` (a :class:`lsgm.training.GradientHistory`).
    """
    if not train or not valid:
        raise ValueError("fit_lsgm needs training and validation windows.")
    hmm = fit_two_state_hmm(train, pseudocount)
    model = lsgm.LSGM.from_hmm(hmm, rnn="gru", hidden_size=hidden_size, rngs=nnx.Rngs(seed))
    xs, labels = _chunks(train, chunk_length)
    vxs, vlabels = _chunks(valid, chunk_length)
    return fit_gradient(
        model,
        xs,
        state_labels=labels,
        validation=vxs,
        validation_labels=vlabels,
        optimizer=optax.adam(learning_rate),
        clip_norm=1.0,
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        progress_bar=progress_bar,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
    )


# ------------------------------------------------------------------ decoding and scoring
def island_states(model) -> np.ndarray:
    """``[K]`` bool: which states of a CpG model are island states (2 states: state 1; the
    8-state dinucleotide HMM: ``A+ C+ G+ T+``)."""
    K = model.num_states
    if K == 2:
        return np.array([False, True])
    if K == len(DINUCLEOTIDE_STATES):
        return DINUCLEOTIDE_ISLAND.copy()
    raise ValueError(f"a CpG model has 2 states (background, island) or 8 (dinucleotide); got {K}.")


def island_calls(model, windows: Sequence[Window]) -> list[np.ndarray]:
    """Viterbi island calls: one bool ``[T]`` array per window (True = island base)."""
    if not windows:
        return []
    paths = model.predict(observations(windows))
    island = island_states(model)
    return [island[np.asarray(path)] for path in paths]


def _pooled(calls: Sequence[np.ndarray], windows: Sequence[Window]):
    if len(calls) != len(windows):
        raise ValueError(f"{len(calls)} call arrays for {len(windows)} windows; give one each.")
    for i, (c, w) in enumerate(zip(calls, windows, strict=True)):
        if np.shape(c) != w.labels.shape:
            raise ValueError(
                f"calls[{i}] has shape {np.shape(c)} but window {w.name} has {len(w.labels)} bases."
            )
    if not calls:
        raise ValueError("no windows to score.")
    return np.concatenate([np.asarray(c, bool) for c in calls]), np.concatenate(
        [w.labels.astype(bool) for w in windows]
    )


def per_base_scores(calls: Sequence[np.ndarray], windows: Sequence[Window]) -> dict:
    """Per-base ``precision``, ``recall``, ``f1`` and ``accuracy`` pooled over all windows
    (island = positive; a ratio with a zero denominator is 0, as scikit-learn's
    ``zero_division=0``). Windows with no island base at all are a ``ValueError``: the scores
    would say nothing."""
    pred, true = _pooled(calls, windows)
    if not true.any():
        raise ValueError(
            f"the {len(windows)} test windows hold no island base, so precision, recall and F1 "
            "would measure nothing; score windows that contain islands."
        )
    tp = int(np.sum(pred & true))
    fp = int(np.sum(pred & ~true))
    fn = int(np.sum(~pred & true))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": float(np.mean(pred == true)),
    }


def calls_to_intervals(
    calls: Sequence[np.ndarray], windows: Sequence[Window], name: str = ISLAND_NAME
) -> list[Interval]:
    """Island runs as genome intervals (0-based, half-open, BED-ready), window by window."""
    _pooled(calls, windows)
    out = []
    for c, w in zip(calls, windows, strict=True):
        path = np.asarray(c, bool).astype(np.int32)
        out += path_to_intervals(path, w.chrom, ["background", name], keep=[name], offset=w.start)
    return out


# ------------------------------------------------------------------ the experiment
#: Sizes of the quick (CI / ``lsgm demo --quick``) and full runs. The full run's epoch cap (40)
#: and patience (3) were fixed before its run, not tuned on any score: the LSGM's epochs are
#: chosen by early stopping on the validation joint NLL, the cap only bounds the CPU time.
QUICK = {"train": 60, "valid": 10, "test": 20, "epochs": 2, "patience": 3, "hidden_size": 8}
FULL = {"epochs": 40, "patience": 3, "hidden_size": 32}
#: The models of one run, in table order.
MODELS = ("two_state_hmm", "dinucleotide_hmm", "lsgm")
#: The per-base test scores reported for every model (mean ± SD over seeds).
METRICS = ("precision", "recall", "f1", "accuracy")


def _n_parameters(model) -> int:
    """Free parameters; the dinucleotide HMM's emissions are fixed (0/1), not counted."""
    if model.num_states == len(DINUCLEOTIDE_STATES) and isinstance(model, lsgm.HMM):
        allowed = np.asarray(model.transition_mask[...]).sum(1)
        return int(model.num_states - 1 + (allowed - 1).sum())
    return int(model.n_parameters())


def run_cpg(
    *,
    quick: bool,
    seed: int = 0,
    progress_bar: bool = False,
    lsgm_epochs: int | None = None,
) -> dict:
    """Load the bundled windows, split them, fit the three models and score them on test.

    ``seed`` draws the 70/10/20 % split (:func:`split_windows`), the LSGM's initialisation
    and its minibatch order. Every choice is made before the test windows are read: the
    HMMs are counted, the LSGM's epoch is the one with the lowest validation joint NLL
    (early stopping, ``patience`` 3, at most ``lsgm_epochs`` or the mode's cap); then each
    model's Viterbi calls on the test windows are scored once.

    ``quick=True``: 60 training, 10 validation and 20 test windows, an 8-unit GRU for
    ``QUICK["epochs"]`` epochs (seconds; CI and ``lsgm demo --quick``). Otherwise the whole
    data set split 70/10/20 % and a 32-unit GRU for at most ``FULL["epochs"]`` epochs.

    Returns:
        ``{"mode", "seed", "windows": {"train", "valid", "test"}, "models": {name: {"precision",
        "recall", "f1", "accuracy", "n_parameters", "fit_seconds"}}, "best_model",
        "test_calls" (bool [T] per test window, best model), "test_intervals" (its calls as
        :class:`~lsgm.data.intervals.Interval`), "test_windows", "lsgm_history", "lsgm_epochs":
        {"cap", "run", "best", "stopped_early"}}`` (``best``: 1-based epoch kept).
    """
    windows = load_cpg_islands()
    train, valid, test = split_windows(windows, seed=seed)
    settings = dict(QUICK if quick else FULL)
    if quick:
        train, valid, test = (
            train[: QUICK["train"]],
            valid[: QUICK["valid"]],
            test[: QUICK["test"]],
        )
    epochs = settings["epochs"] if lsgm_epochs is None else lsgm_epochs

    fitted, history = {}, None
    fit_seconds = {}
    for name in MODELS:  # every choice first ...
        began = time.perf_counter()
        if name == "two_state_hmm":
            fitted[name] = fit_two_state_hmm(train)
        elif name == "dinucleotide_hmm":
            fitted[name] = fit_dinucleotide_hmm(train)
        else:
            fitted[name], history = fit_lsgm(
                train,
                valid,
                epochs=epochs,
                hidden_size=settings["hidden_size"],
                patience=settings["patience"],
                seed=seed,
                progress_bar=progress_bar,
            )
        fit_seconds[name] = time.perf_counter() - began
    models, results = {}, {}
    for name, model in fitted.items():  # ... then the test windows, once per model
        calls = island_calls(model, test)
        models[name] = calls
        results[name] = {
            **per_base_scores(calls, test),
            "n_parameters": _n_parameters(model),
            "fit_seconds": fit_seconds[name],
        }
    best = max(results, key=lambda k: results[k]["f1"])
    assert history is not None  # the LSGM is always fitted
    return {
        "mode": "quick" if quick else "full",
        "seed": seed,
        "windows": {"train": len(train), "valid": len(valid), "test": len(test)},
        "models": results,
        "best_model": best,
        "test_calls": models[best],
        "test_intervals": calls_to_intervals(models[best], test),
        "test_windows": test,
        "lsgm_history": history.to_dict(),
        "lsgm_epochs": {
            "cap": int(epochs),
            "run": int(history.epochs),
            "best": None if history.best_epoch is None else int(history.best_epoch) + 1,
            "stopped_early": bool(history.stopped_early),
        },
    }


def run_cpg_seeds(
    *,
    quick: bool,
    seeds=(0, 1, 2),
    progress_bar: bool = False,
    lsgm_epochs: int | None = None,
) -> dict:
    """:func:`run_cpg` once per seed (each seed its own split, initialisation and minibatch
    order) and, per model, the mean ± sample SD over seeds of every test score
    (:func:`lsgm.apps.seeds.summarise`, ``S`` seeds, SD with ``ddof = 1``).

    Returns:
        ``{"mode", "seeds", "windows" (sizes, equal for every seed), "summary": {model:
        {metric, metric + "_sd" for precision, recall, f1, accuracy, fit_seconds;
        "n_parameters"}}, "lsgm_epochs": [per seed {"seed", "cap", "run", "best",
        "stopped_early"}], "runs": {seed: {"models", "best_model"}}, "first": the first
        seed's whole :func:`run_cpg` result (its calls and intervals)}``.
    """
    seeds = check_seeds(seeds)
    runs = [
        run_cpg(quick=quick, seed=s, progress_bar=progress_bar, lsgm_epochs=lsgm_epochs)
        for s in seeds
    ]
    summary = {}
    for name in MODELS:
        rows = [r["models"][name] for r in runs]
        summary[name] = {
            **summarise(rows, (*METRICS, "fit_seconds")),
            "n_parameters": rows[0]["n_parameters"],
        }
    return {
        "mode": runs[0]["mode"],
        "seeds": seeds,
        "windows": runs[0]["windows"],
        "summary": summary,
        "lsgm_epochs": [{"seed": r["seed"], **r["lsgm_epochs"]} for r in runs],
        "runs": {str(r["seed"]): {k: r[k] for k in ("models", "best_model")} for r in runs},
        "first": runs[0],
    }


def format_results(results: dict) -> str:
    """A Markdown table of :func:`run_cpg_seeds`'s per-model test scores, mean ± SD over
    seeds (the mean alone for one seed), with the LSGM's epochs per seed below it."""
    n = len(results["seeds"])
    lines = [
        "| model | precision | recall | F1 | accuracy | parameters | fit (s) | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["summary"].items():
        cells = [mean_sd_text(r[k], r[k + "_sd"]) for k in METRICS]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {r['n_parameters']} | "
            f"{mean_sd_text(r['fit_seconds'], r['fit_seconds_sd'], 1)} | {n} |"
        )
    epochs = ", ".join(
        f"seed {e['seed']}: best {e['best']} of {e['run']}"
        + ("" if e["stopped_early"] else f" (cap {e['cap']} reached)")
        for e in results["lsgm_epochs"]
    )
    lines += ["", f"LSGM epochs (early stopping on the validation joint NLL): {epochs}."]
    return "\n".join(lines)


__all__ = [
    "DINUCLEOTIDE_STATES",
    "calls_to_intervals",
    "fit_dinucleotide_hmm",
    "fit_lsgm",
    "fit_two_state_hmm",
    "format_results",
    "island_calls",
    "island_states",
    "observations",
    "per_base_scores",
    "run_cpg",
    "run_cpg_seeds",
    "split_windows",
]
