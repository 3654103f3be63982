"""Polyphonic music as piano rolls: a Bernoulli HMM (EM) and an LSGM (gradient) on JSB Chorales.

A piano roll ``x [T, 88]`` has ``x[t, j] = 1`` when MIDI note ``21 + j`` sounds in frame
``t``. Both models emit 88 independent Bernoullis per state:

    HMM:   p(x_t | z_t = k)            = prod_j Bern(x_tj; sigma(l_kj))
    LSGM:  p(x_t | z_t = k, x_{<t})    = prod_j Bern(x_tj; sigma(l_kj + g(Q_{t-1}, k)_j))

with transitions conditioned on ``Q_t`` too (LSGM paper §2.6). The metric is the LSGM paper's
"average log-likelihood per frame per sequence": the mean over test sequences of
``log p(x_{1:T}) / T``.

This module is the small harness ``lsgm demo`` runs; the full Table-3 experiment (all three
data sets, the paper's model sizes, an RNN baseline) is a separate issue.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from flax import nnx

from lsgm.distributions import Bernoulli, BetaPrior
from lsgm.models import HMM, LSGM
from lsgm.training import HMMPrior, fit_em, fit_gradient


def per_frame_log_likelihood(model, rolls: list[np.ndarray]) -> float:
    """Mean over sequences of ``log p(x) / T`` (nats per frame)."""
    scores = model.score_samples(rolls)
    return float(np.mean(scores / np.array([len(r) for r in rolls])))


def fit_music_hmm(train, *, num_states: int, max_iter: int, seed: int = 0, progress_bar=False):
    """A Bernoulli HMM by EM with a Beta(1.1, 1.1) prior (keeps unseen notes finite)."""
    model = HMM(num_states, Bernoulli(num_states, train[0].shape[1], rngs=nnx.Rngs(seed)),
                rngs=nnx.Rngs(seed + 1))  # fmt: skip
    prior = HMMPrior(1.0, 1.0, BetaPrior(1.1, 1.1))
    model, history = fit_em(
        model, train, max_iter=max_iter, tol=1e-3, priors=prior, init=True, seed=seed,
        progress_bar=progress_bar,
    )  # fmt: skip
    return model, history


def fit_music_lsgm(
    train, valid, *, hmm: HMM, hidden_size: int, epochs: int, batch_size: int | None = 16,
    seed: int = 0, progress_bar=False, checkpoint_dir=None,
):  # fmt: skip
    """An LSGM started at ``hmm`` (:meth:`LSGM.from_hmm`), trained by Adam with early stopping
    (``batch_size=None``: one full-batch step per epoch, a single compile)."""
    model = LSGM.from_hmm(hmm, hidden_size=hidden_size, embedding_dim=16, rngs=nnx.Rngs(seed))
    model, history = fit_gradient(
        model, train, optimizer=optax.adam(3e-3), epochs=epochs, batch_size=batch_size,
        validation=valid, patience=3, clip_norm=1.0, seed=seed, progress_bar=progress_bar,
        checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    return model, history


def run_jsb(*, quick: bool, seed: int = 0, progress_bar: bool = False) -> dict:
    """HMM vs LSGM on the bundled JSB Chorales; held-out log-likelihood per frame.

    ``quick``: 40 training chorales, 20 validation and 20 test, a 4-state model and 3 epochs
    (seconds; for CI). Otherwise the full split, 8 states, 15 epochs at most.
    """
    from lsgm.datasets.music import load_jsb_chorales

    data = load_jsb_chorales()
    train, valid, test = data["train"], data["valid"], data["test"]
    if quick:
        train, valid, test = train[:40], valid[:20], test[:20]
    K, hidden, epochs, iters, batch = (4, 16, 3, 10, None) if quick else (8, 64, 15, 60, 16)
    results = {}
    start = time.perf_counter()
    hmm, hmm_history = fit_music_hmm(train, num_states=K, max_iter=iters, seed=seed,
                                     progress_bar=progress_bar)  # fmt: skip
    results["HMM"] = {
        "test_ll_per_frame": per_frame_log_likelihood(hmm, test),
        "n_parameters": hmm.n_parameters(),
        "seconds": time.perf_counter() - start,
    }
    start = time.perf_counter()
    lsgm, lsgm_history = fit_music_lsgm(
        train, valid, hmm=hmm, hidden_size=hidden, epochs=epochs, batch_size=batch, seed=seed,
        progress_bar=progress_bar,
    )  # fmt: skip
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


__all__ = ["fit_music_hmm", "fit_music_lsgm", "per_frame_log_likelihood", "run_jsb", "sample_roll"]
