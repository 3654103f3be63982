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
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from lsgm.distributions import Bernoulli, BetaPrior
from lsgm.models import HMM, LSGM
from lsgm.training import CHECKPOINT_FILE, HMMPrior, fit_em, fit_gradient

#: The paper's sizes (§3.3): (states, GRU units); JSB differs from the other corpora.
PAPER_SIZES = {"jsb": (32, 128), "nottingham": (16, 512), "piano-midi": (16, 512)}
#: Table 3 of the LSGM paper (nats per frame): LSGM, RNN-NADE and RNN rows.
PAPER_TABLE3 = {
    "LSGM": {"nottingham": -2.09, "jsb": -5.91, "piano-midi": -7.96},
    "RNN-NADE": {"nottingham": -2.31, "jsb": -5.56, "piano-midi": -7.05},
    "RNN": {"nottingham": -4.46, "jsb": -8.71, "piano-midi": -8.37},
}


def per_frame_log_likelihood(model, rolls: list[np.ndarray]) -> float:
    """Mean over sequences of ``log p(x) / T`` (nats per frame)."""
    scores = model.score_samples(rolls)
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
):
    """Adam with clipping; entropy regulariser for ``entropy_epochs``, then early stopping.

    ``weight_decay > 0``: AdamW (decoupled decay ``theta -= lr * weight_decay * theta`` each
    step) on the networks' weight matrices (:func:`_kernels`). ``batch_size=None``: one full-batch step per epoch (one
    compile; quick runs)."""
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
) -> dict:
    """HMM, RNN and LSGM on one data set's train/valid/test splits.

    Sizes are the paper's (:data:`PAPER_SIZES`; the HMM has the LSGM's number of states)
    unless ``num_states`` / ``hidden_size`` (GRU units of the RNN and the LSGM) are given;
    Adam at ``learning_rate`` (AdamW with ``weight_decay > 0``), ``dropout`` (the paper's
    0.5), early stopping after ``patience`` epochs without progress;
    ``quick``: 12/6/6 sequences, 4 states, 16 GRU units, 3 epochs without the entropy term,
    full-batch steps (one compile per model: a smoke run, seconds).
    ``checkpoint_dir``/``resume``: per-model training checkpoints (``DIR/RNN``, ``DIR/LSGM``).
    ``init``: the LSGM's start, ``"random"`` (the paper's) or ``"hmm"`` (the fitted HMM); the
    HMM is fitted only when it is among ``models`` or is the start.

    Returns ``{"results": {model: {"test_ll_per_frame", "n_parameters", "seconds", "epochs",
    "valid_nll_per_step"}}, "models", "histories", "sizes", "test"}``.
    """
    if init not in INITS:
        raise ValueError(f"init={init!r} is not one of {INITS}.")
    train, valid, test = data["train"], data["valid"], data["test"]
    K, hidden = PAPER_SIZES.get(name, PAPER_SIZES["nottingham"])
    K, hidden = num_states or K, hidden_size or hidden
    fit = {
        "epochs": epochs,
        "entropy_epochs": 10,
        "batch_size": 32,
        "learning_rate": learning_rate,
        "patience": patience,
        "weight_decay": weight_decay,
    }
    if quick:
        train, valid, test = train[:12], valid[:6], test[:6]
        K, hidden = 4, 16
        fit = {
            "epochs": 3,
            "entropy_epochs": 0,
            "batch_size": None,
            "learning_rate": 1e-2,
            "patience": patience,
            "weight_decay": weight_decay,
        }
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
            model, n_epochs = hmm, history.n_iter
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
                **fit,
            )
            n_epochs = history.epochs
        if kind not in models:
            continue
        results[kind] = {
            "test_ll_per_frame": per_frame_log_likelihood(model, test),
            "n_parameters": model.n_parameters(),
            "seconds": time.perf_counter() - start,
            "epochs": n_epochs,
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
        "test": test,
    }


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
    "PAPER_SIZES",
    "PAPER_TABLE3",
    "fit_music_hmm",
    "fit_music_lsgm",
    "fit_music_network",
    "music_lsgm",
    "music_rnn",
    "per_frame_log_likelihood",
    "run_jsb",
    "run_music",
    "sample_roll",
]
