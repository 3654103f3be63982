"""Polyphonic music as piano rolls: a Bernoulli HMM, an RNN and the LSGM (LSGM paper §2.6, §3.3).

A piano roll ``x [T, 88]`` has ``x[t, j] = 1`` when MIDI note ``21 + j`` sounds in frame ``t``.
Every model emits 88 independent Bernoullis given its state:

    HMM:   p(x_t | z_t = k)          = prod_j Bern(x_tj; sigma(l_kj))                  (EM)
    RNN:   p(x_t | x_{<t})           = prod_j Bern(x_tj; sigma(b_j + g(Q_{t-1})_j))
    LSGM:  p(x_t | z_t = k, x_{<t})  = prod_j Bern(x_tj; sigma(l_kj + g(Q_{t-1}, e_k)_j)),
           p(z_{t+1} = j | z_t = i, x_{1:t}) = softmax_j(B_ij + [W Q_t]_ij)

``Q_t`` is a GRU over the frames followed by one dense ReLU layer feeding both networks (the
paper's modification of Fig. 3a); the emission network is the shared one with state
embeddings (Fig. 1b). The "RNN" baseline is the same network with a single state (an LSGM with
``K = 1`` is exactly a GRU with independent Bernoulli outputs). Training follows §3.3: Adam,
the filtering-entropy regulariser for the first ten epochs, then early stopping after three
epochs without a lower validation NLL; dropout 0.5. The LSGM starts from random parameters,
as the paper's does (the entropy regulariser is there to keep such a start from settling on
a few states), or, with ``init="hmm"``, from the fitted HMM (:meth:`~lsgm.LSGM.from_hmm`),
exactly where the HMM ends; on JSB the random start ends 0.22 nat per frame better (two seeds)
(``docs/experiments/music.md``).

Metric: the paper's "average log-likelihood per frame per sequence", the mean over test
sequences of ``log p(x_{1:T}) / T`` (nats).

Memory is bounded by the batch, not by the data set: training and validation run in
minibatches of ``batch_size`` pieces from one power-of-two length bucket, and scoring
(:func:`score_pieces`) pads each call to at most :data:`EVAL_FRAMES` frames (``rows x padded
length``; a piece longer than that goes alone). Protocol (``docs/experiments/README.md``):
epochs are chosen by early stopping on the validation split, the test split is scored once per
fitted model at the end, and :func:`run_music_seeds` repeats a configuration over seeds
(mean ± SD).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from lsgm.apps.seeds import mean_sd as _mean_sd
from lsgm.data import pad_sequences
from lsgm.distributions import Bernoulli, BetaPrior
from lsgm.models import HMM, LSGM
from lsgm.training import CHECKPOINT_FILE, HMMPrior, fit_em, fit_gradient

#: The paper's sizes (§3.3): (states, GRU units); JSB differs from the other corpora.
PAPER_SIZES = {
    "jsb": (32, 128),
    "nottingham": (16, 512),
    "musedata": (16, 512),
    "piano-midi": (16, 512),
}
#: Table 3 of the LSGM paper (nats per frame): LSGM, RNN-NADE and RNN rows.
PAPER_TABLE3 = {
    "LSGM": {"nottingham": -2.09, "jsb": -5.91, "musedata": -5.31, "piano-midi": -7.96},
    "RNN-NADE": {"nottingham": -2.31, "jsb": -5.56, "musedata": -5.60, "piano-midi": -7.05},
    "RNN": {"nottingham": -4.46, "jsb": -8.71, "musedata": -8.13, "piano-midi": -8.37},
}
#: The paper's training recipe (§3.3): entropy-regularised epochs, patience, dropout.
PAPER_TRAINING = {"entropy_epochs": 10, "patience": 3, "dropout": 0.5}
#: Most padded frames (rows x padded length) per scoring call of :func:`score_pieces`.
EVAL_FRAMES = 16_384


def subsample(rolls: list[np.ndarray], n: int | None, seed: int = 0) -> list[np.ndarray]:
    """``n`` of ``rolls`` drawn without replacement by ``numpy.random.default_rng(seed)``, in
    their original order (all of them when ``n`` is None or at least ``len(rolls)``)."""
    if n is None or n >= len(rolls):
        return list(rolls)
    if n < 1:
        raise ValueError(f"a subsample needs at least 1 piece; got {n}.")
    keep = np.sort(np.random.default_rng(seed).choice(len(rolls), size=n, replace=False))
    return [rolls[i] for i in keep]


def _pow2(n):
    """The smallest power of two ``>= n`` (elementwise)."""
    return 2 ** np.ceil(np.log2(n)).astype(np.int64)


def score_pieces(model, rolls: list[np.ndarray], max_frames: int = EVAL_FRAMES) -> np.ndarray:
    """``[N]`` ``log p(x_n)`` of the pieces ``rolls`` (each ``[T_n, 88]``), in calls of at
    most ``max_frames`` padded frames, so memory is bounded by ``max_frames`` (or the longest
    piece), not by the number of pieces. Each piece is padded to the next power of two
    ``P``; a call holds ``R = min(2^ceil(log2 n_P), max(1, max_frames // P))`` pieces of
    one such length (``n_P`` of them; the last call filled with copies), so every shape
    ``[R, P]`` is a power of two in both axes and a few compiles serve any split (the
    validation and test splits of a data set share most of them).

    Raises:
        ValueError: a score is not finite (naming the piece): a diverged model is an error,
            not a number.
    """
    pads = _pow2(np.array([len(r) for r in rolls]))
    out = np.empty(len(rolls))
    for pad in np.unique(pads):
        members = np.flatnonzero(pads == pad)
        rows = int(min(_pow2(members.size), max(1, int(max_frames) // int(pad))))
        for start in range(0, members.size, rows):
            idx = members[start : start + rows]
            batch = pad_sequences([rolls[i] for i in np.resize(idx, rows)], pad_to=int(pad))
            out[idx] = np.asarray(model.score_samples(batch.data, batch.lengths))[: idx.size]
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise ValueError(
            f"piece {int(bad[0])} (of {len(rolls)}) has log-likelihood {out[bad[0]]}: the model "
            "diverged; lower the learning rate or start from another seed."
        )
    return out


def per_frame_log_likelihood(
    model, rolls: list[np.ndarray], max_frames: int = EVAL_FRAMES
) -> float:
    """Mean over pieces of ``log p(x) / T`` (nats per frame), scored by :func:`score_pieces`."""
    scores = score_pieces(model, rolls, max_frames)
    return float(np.mean(scores / np.array([len(r) for r in rolls])))


def fit_music_hmm(train, *, num_states: int, max_iter: int, seed: int = 0, progress_bar=False):
    """A Bernoulli HMM by EM with a Beta(1.1, 1.1) prior (keeps unseen notes finite)."""
    model = HMM(
        num_states,
        Bernoulli(num_states, train[0].shape[1], rngs=nnx.Rngs(seed)),
        rngs=nnx.Rngs(seed + 1),
    )
    prior = HMMPrior(1.0, 1.0, BetaPrior(1.1, 1.1))
    model, history = fit_em(
        model,
        train,
        max_iter=max_iter,
        tol=1e-3,
        priors=prior,
        init=True,
        seed=seed,
        progress_bar=progress_bar,
    )
    return model, history


INITS = ("random", "hmm")


def music_lsgm(
    start: HMM | int, hidden_size: int, *, dim: int = 88, dropout: float = 0.5, seed: int = 0
) -> LSGM:
    """The paper's music LSGM (GRU, one dense layer, first order, shared emission network).

    ``start``: a fitted :class:`~lsgm.HMM` (the LSGM starts exactly at it) or a number of
    states ``K`` (random start: static emission logits ~ N(0, 0.5²), network outputs near 0).
    """
    kwargs = dict(
        rnn="gru",
        hidden_size=hidden_size,
        dense_layers=1,
        embedding_dim=16,
        dropout=dropout,
        rngs=nnx.Rngs(seed),
    )
    if isinstance(start, HMM):
        return LSGM.from_hmm(start, **kwargs)
    return LSGM(int(start), Bernoulli(int(start), dim, rngs=nnx.Rngs(seed + 7)), **kwargs)


def music_rnn(hidden_size: int, dim: int = 88, *, dropout: float = 0.5, seed: int = 0) -> LSGM:
    """The RNN baseline: a GRU (+ dense layer) with independent Bernoulli outputs (one state)."""
    return LSGM(
        1,
        Bernoulli(1, dim, rngs=nnx.Rngs(seed)),
        rnn="gru",
        hidden_size=hidden_size,
        dense_layers=1,
        conditioning="emissions",
        embedding_dim=4,
        dropout=dropout,
        rngs=nnx.Rngs(seed + 1),
    )


def _kernels(params):
    """Weight-decay mask: True for the networks' weight matrices (``kernel``); biases,
    embeddings and the static logits (``-inf`` where the HMM has zeros) are not decayed."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: any(getattr(k, "key", None) == "kernel" for k in path), params
    )


def fit_music_network(
    model: LSGM,
    train,
    valid,
    *,
    epochs: int,
    entropy_epochs: int = 10,
    patience: int = 3,
    batch_size: int | None = 32,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress_bar: bool = False,
    checkpoint_dir=None,
    resume: bool = False,
    settings: dict | None = None,
):
    """Adam with clipping; entropy regulariser for ``entropy_epochs``, then early stopping.

    ``weight_decay > 0``: AdamW (decoupled decay ``theta -= lr * weight_decay * theta`` each
    step) on the networks' weight matrices (:func:`_kernels`). ``batch_size=None``: one
    full-batch step per epoch (one compile; quick runs). ``settings`` (e.g.
    ``{"--max-train": 200}``) are stored in the checkpoint; a resume with other values is
    refused naming them (as are other data, entropy epochs, seeds or optimiser numbers)."""
    optimizer = (
        optax.adamw(learning_rate, weight_decay=weight_decay, mask=_kernels)
        if weight_decay > 0
        else optax.adam(learning_rate)
    )
    return fit_gradient(
        model,
        train,
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        validation=valid,
        patience=patience,
        clip_norm=1.0,
        entropy_epochs=entropy_epochs,
        seed=seed,
        progress_bar=progress_bar,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        optimizer_settings=settings,
    )


def fit_music_lsgm(train, valid, *, hmm: HMM, hidden_size: int, epochs: int, **kwargs):
    """:func:`music_lsgm` from ``hmm`` trained by :func:`fit_music_network` (``kwargs``;
    ``dropout`` and ``seed`` also set the model's)."""
    model = music_lsgm(
        hmm, hidden_size, dropout=kwargs.pop("dropout", 0.5), seed=kwargs.get("seed", 0)
    )
    return fit_music_network(model, train, valid, epochs=epochs, **kwargs)


def run_music(
    data: dict[str, list[np.ndarray]],
    *,
    name: str = "jsb",
    quick: bool = False,
    epochs: int = 100,
    seed: int = 0,
    checkpoint_dir=None,
    resume: bool = False,
    progress_bar: bool = False,
    models=("HMM", "RNN", "LSGM"),
    learning_rate: float = 1e-3,
    patience: int = 3,
    num_states: int | None = None,
    hidden_size: int | None = None,
    dropout: float = 0.5,
    weight_decay: float = 0.0,
    init: str = "random",
    entropy_epochs: int | None = None,
    max_train: int | None = None,
    max_valid: int | None = None,
    max_test: int | None = None,
    eval_frames: int = EVAL_FRAMES,
    batch_size: int = 32,
) -> dict:
    """HMM, RNN and LSGM on one data set's train/valid/test splits (one seed).

    Sizes are the paper's (:data:`PAPER_SIZES`; the HMM has the LSGM's number of states)
    unless ``num_states`` / ``hidden_size`` (GRU units of the RNN and the LSGM) are given;
    Adam at ``learning_rate`` (AdamW with ``weight_decay > 0``), ``dropout`` (the paper's
    0.5), ``entropy_epochs`` with the filtering-entropy regulariser (default: the paper's 10;
    0 in quick mode), then early stopping after ``patience`` epochs without a lower
    validation NLL; the networks keep the parameters of their best validation epoch.
    ``max_train`` / ``max_valid`` / ``max_test``: a subsample of that many pieces of the split
    (:func:`subsample` with seed 0, the same for every model seed). ``eval_frames``: the
    scoring memory bound (:func:`score_pieces`); ``batch_size``: pieces per training step,
    all from one power-of-two length bucket (training memory is bounded by ``batch_size``
    times the longest piece).
    ``quick``: 12/6/6 sequences, 4 states, 16 GRU units, 3 epochs, full-batch steps (one
    compile per model: a smoke run, seconds).
    ``checkpoint_dir``/``resume``: per-model training checkpoints (``DIR/RNN``, ``DIR/LSGM``);
    a checkpoint written with other data, subsamples or settings is refused naming them.
    ``init``: the LSGM's start, ``"random"`` (the paper's) or ``"hmm"`` (the fitted HMM); the
    HMM is fitted only when it is among ``models`` or is the start.

    Returns ``{"results": {model: {"test_ll_per_frame", "valid_ll_per_frame",
    "n_parameters", "seconds", "epochs", "best_epoch", "stopped_early",
    "valid_nll_per_step"}}, "models", "histories", "sizes", "settings", "test"}``; the test
    split is scored once per model, after its training and selection on validation.
    """
    if init not in INITS:
        raise ValueError(f"init={init!r} is not one of {INITS}.")
    if entropy_epochs is not None and entropy_epochs < 0:
        raise ValueError(f"entropy_epochs must be >= 0 (0: no heating); got {entropy_epochs}.")
    train = subsample(data["train"], max_train)
    valid = subsample(data["valid"], max_valid)
    test = subsample(data["test"], max_test)
    K, hidden = PAPER_SIZES.get(name, PAPER_SIZES["nottingham"])
    K, hidden = num_states or K, hidden_size or hidden
    heat = PAPER_TRAINING["entropy_epochs"] if entropy_epochs is None else entropy_epochs
    fit: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
    }
    if quick:
        train, valid, test = train[:12], valid[:6], test[:6]
        K, hidden = 4, 16
        heat = 0 if entropy_epochs is None else entropy_epochs
        fit = {"epochs": 3, "batch_size": None, "learning_rate": 1e-2}
    fit.update(entropy_epochs=heat, patience=patience, weight_decay=weight_decay)
    settings = {"--max-train": max_train, "--max-valid": max_valid, "--quick": quick}
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and (ckpt is None or not ckpt.is_dir()):
        raise ValueError(
            f"cannot resume: the checkpoint folder {str(ckpt)!r} does not exist; pass the folder "
            "of the interrupted run, or drop --resume to start afresh."
        )
    results, fitted, histories = {}, {}, {}
    hmm = None
    kinds = [m for m in models if m != "HMM"]
    if "HMM" in models or (init == "hmm" and "LSGM" in models):
        kinds.insert(0, "HMM")  # fitted first: the LSGM may start from it
    for kind in kinds:
        start = time.perf_counter()
        if kind == "HMM":
            hmm, history = fit_music_hmm(
                train,
                num_states=K,
                max_iter=10 if quick else 100,
                seed=seed,
                progress_bar=progress_bar,
            )
            model, n_epochs, best, early = hmm, history.n_iter, None, None
        else:
            dim, origin = train[0].shape[1], (hmm if init == "hmm" else K)
            model = (
                music_rnn(hidden, dim, dropout=dropout, seed=seed)
                if kind == "RNN"
                else music_lsgm(origin, hidden, dim=dim, dropout=dropout, seed=seed)
            )
            # models the interrupted run had not started yet start afresh
            started = ckpt is not None and (ckpt / kind / CHECKPOINT_FILE).is_file()
            model, history = fit_music_network(
                model,
                train,
                valid,
                seed=seed,
                progress_bar=progress_bar,
                resume=resume and started,
                checkpoint_dir=None if ckpt is None else ckpt / kind,
                settings=settings,
                **fit,
            )
            n_epochs, best, early = history.epochs, history.best_epoch, history.stopped_early
        if kind not in models:
            continue
        results[kind] = {
            "valid_ll_per_frame": per_frame_log_likelihood(model, valid, eval_frames),
            "test_ll_per_frame": per_frame_log_likelihood(model, test, eval_frames),
            "n_parameters": model.n_parameters(),
            "seconds": time.perf_counter() - start,
            "epochs": n_epochs,
            "best_epoch": None if best is None else best + 1,
            "stopped_early": early,
            "valid_nll_per_step": list(getattr(history, "valid_nll", [])),
        }
        fitted[kind], histories[kind] = model, history
    return {
        "results": results,
        "models": fitted,
        "histories": histories,
        "sizes": {
            "train": len(train),
            "valid": len(valid),
            "test": len(test),
            "states": K,
            "hidden": hidden,
        },
        "settings": {
            "entropy_epochs": heat,
            "patience": patience,
            "dropout": dropout,
            "epochs": fit["epochs"],
            "quick": quick,
            "init": init,
        },
        "test": test,
    }


def compare_with_paper(name: str, model: str, run: dict, full: dict[str, int]) -> dict:
    """How a row compares with Table 3: ``{"paper", "met", "like_for_like", "differs"}``.

    ``run``: a :func:`run_music` result (its ``sizes`` and ``settings``); ``full``: the
    number of pieces in each split of the whole data set. ``met``: the row's mean test
    log-likelihood per frame is at least the paper's (None without a paper value). Like for
    like means the same data and split (every piece), the paper's model size (LSGM:
    :data:`PAPER_SIZES`) and training recipe (:data:`PAPER_TRAINING`); ``differs`` lists what
    is not.
    """
    paper = PAPER_TABLE3.get(model, {}).get(name)
    sizes, settings = run["sizes"], run["settings"]
    differs = []
    if name not in PAPER_SIZES:
        differs.append("not a Table 3 data set")
    if settings["quick"]:
        differs.append("quick smoke run")
    for split in ("train", "valid", "test"):
        if sizes[split] < full[split]:
            differs.append(f"{split} {sizes[split]} of {full[split]} pieces")
    if model == "HMM":
        differs.append("no HMM row in the paper")
    elif model == "RNN":
        differs.append("the paper's RNN row is Boulanger-Lewandowski et al.'s RNN, not this GRU")
    want = PAPER_SIZES.get(name)
    if model == "LSGM" and want and want != (sizes["states"], sizes["hidden"]):
        differs.append(
            f"{sizes['states']} states, GRU {sizes['hidden']} (paper {want[0]}, GRU {want[1]})"
        )
    if model != "HMM":
        for key, value in PAPER_TRAINING.items():
            if settings[key] != value:
                differs.append(f"{key.replace('_', ' ')} {settings[key]} (paper {value})")
    return {"paper": paper, "like_for_like": not differs, "differs": differs}


def run_music_seeds(
    data: dict[str, list[np.ndarray]],
    *,
    seeds=(0,),
    name: str = "jsb",
    checkpoint_dir=None,
    **kwargs,
) -> dict:
    """:func:`run_music` once per seed (checkpoints in ``DIR/seedS/MODEL``), and per model the
    mean ± sample SD over seeds of the test and validation log-likelihood per frame, with
    its comparison with Table 3 (:func:`compare_with_paper`; ``met``: the mean reaches the
    paper's value).

    Returns ``{"seeds", "runs": {seed: {"results", "sizes", "settings"}}, "summary": {model:
    {"test_mean", "test_sd", "valid_mean", "valid_sd", "n_parameters", "epochs",
    "best_epochs", "paper", "met", "like_for_like", "differs"}}, "models"}`` (``models``: the
    fitted models of the last seed).
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one; got {seeds}.")
    runs, last = {}, {}
    for seed in seeds:
        ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / f"seed{seed}"
        last = run_music(data, name=name, seed=seed, checkpoint_dir=ckpt, **kwargs)
        runs[seed] = {k: last[k] for k in ("results", "sizes", "settings")}
    full = {split: len(data[split]) for split in ("train", "valid", "test")}
    summary = {}
    for model in last["results"]:
        rows = [runs[s]["results"][model] for s in seeds]
        test_mean, test_sd = _mean_sd([r["test_ll_per_frame"] for r in rows])
        valid_mean, valid_sd = _mean_sd([r["valid_ll_per_frame"] for r in rows])
        paper = compare_with_paper(name, model, last, full)
        capped = [s for s, r in zip(seeds, rows, strict=True) if r["stopped_early"] is False]
        if capped and model != "HMM":
            paper["differs"].append(f"epoch cap reached before early stopping (seeds {capped})")
            paper["like_for_like"] = False
        summary[model] = {
            "test_mean": test_mean,
            "test_sd": test_sd,
            "valid_mean": valid_mean,
            "valid_sd": valid_sd,
            "n_parameters": rows[-1]["n_parameters"],
            "epochs": [r["epochs"] for r in rows],
            "best_epochs": [r["best_epoch"] for r in rows],
            **paper,
            "met": None if paper["paper"] is None else test_mean >= paper["paper"],
        }
    return {"seeds": seeds, "runs": runs, "summary": summary, "models": last["models"]}


def run_jsb(*, quick: bool, seed: int = 0, progress_bar: bool = False) -> dict:
    """HMM vs LSGM on the bundled JSB Chorales, as ``lsgm demo`` runs them: quick, 40/20/20
    chorales, 4 states, 3 epochs; full, every chorale, 8 states, 64 GRU units, 15 epochs
    (smaller than the paper's model, to fit the demo's time; ``lsgm experiment music`` runs
    the paper's)."""
    from lsgm.datasets import load_jsb_chorales

    data = load_jsb_chorales()
    train, valid, test = data["train"], data["valid"], data["test"]
    if quick:
        train, valid, test = train[:40], valid[:20], test[:20]
    K, hidden, epochs, iters, batch = (4, 16, 3, 10, None) if quick else (8, 64, 15, 60, 16)
    results = {}
    start = time.perf_counter()
    hmm, hmm_history = fit_music_hmm(
        train, num_states=K, max_iter=iters, seed=seed, progress_bar=progress_bar
    )
    results["HMM"] = {
        "test_ll_per_frame": per_frame_log_likelihood(hmm, test),
        "n_parameters": hmm.n_parameters(),
        "seconds": time.perf_counter() - start,
    }
    start = time.perf_counter()
    lsgm, lsgm_history = fit_music_lsgm(
        train,
        valid,
        hmm=hmm,
        hidden_size=hidden,
        epochs=epochs,
        batch_size=batch,
        seed=seed,
        progress_bar=progress_bar,
        dropout=0.0,
        entropy_epochs=0,
        learning_rate=3e-3,
    )
    results["LSGM"] = {
        "test_ll_per_frame": per_frame_log_likelihood(lsgm, test),
        "n_parameters": lsgm.n_parameters(),
        "seconds": time.perf_counter() - start,
    }
    return {
        "results": results,
        "models": {"HMM": hmm, "LSGM": lsgm},
        "histories": {"HMM": hmm_history, "LSGM": lsgm_history},
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "test": test,
    }


def sample_roll(model, num_frames: int, seed: int = 0) -> np.ndarray:
    """``[num_frames, 88]`` 0/1 piano roll sampled from a music model."""
    _, x = model.sample(num_frames, jax.random.key(seed))
    return np.asarray(x, np.uint8)


__all__ = [
    "EVAL_FRAMES",
    "PAPER_SIZES",
    "PAPER_TABLE3",
    "PAPER_TRAINING",
    "compare_with_paper",
    "fit_music_hmm",
    "fit_music_lsgm",
    "fit_music_network",
    "music_lsgm",
    "music_rnn",
    "per_frame_log_likelihood",
    "run_jsb",
    "run_music",
    "run_music_seeds",
    "sample_roll",
    "score_pieces",
    "subsample",
]
