"""The standard benchmark workloads: random HMMs and data sampled from them (numpy, seeded).

* categorical: K=8 states, M=4 symbols;
* gaussian: K=8 states, D=4 dimensions, diagonal covariances;

each ``N`` sequences of ``T`` steps (the issue's workload is 200 × 1000, numpy seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Workload:
    """Parameters (float64 numpy) and data of one benchmark workload."""

    kind: str  # "categorical" | "gaussian"
    startprob: np.ndarray  # [K]
    transmat: np.ndarray  # [K, K]
    X: np.ndarray  # [N, T] int or [N, T, D] float
    emissionprob: np.ndarray | None = None  # [K, M]
    means: np.ndarray | None = None  # [K, D]
    variances: np.ndarray | None = None  # [K, D]


def _sample_states(rng, startprob, transmat, n, T) -> np.ndarray:
    K = len(startprob)
    z = np.empty((n, T), np.int64)
    z[:, 0] = rng.choice(K, size=n, p=startprob)
    cum = np.cumsum(transmat, axis=1)
    for t in range(1, T):
        u = rng.random(n)[:, None]
        z[:, t] = np.minimum((u > cum[z[:, t - 1]]).sum(1), K - 1)
    return z


def make_workload(kind: str, n: int = 200, T: int = 1000, K: int = 8, seed: int = 0) -> Workload:
    """Random parameters and ``n × T`` observations sampled from them."""
    rng = np.random.default_rng(seed)
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K), size=K) + np.eye(K) * 2
    transmat /= transmat.sum(1, keepdims=True)
    z = _sample_states(rng, startprob, transmat, n, T)
    if kind == "categorical":
        M = 4
        emissionprob = rng.dirichlet(np.ones(M) * 0.7, size=K)
        cum = np.cumsum(emissionprob, axis=1)
        X = np.minimum((rng.random((n, T))[..., None] > cum[z]).sum(-1), M - 1)
        return Workload(kind, startprob, transmat, X, emissionprob=emissionprob)
    if kind == "gaussian":
        D = 4
        means = rng.normal(0, 2, size=(K, D))
        variances = rng.uniform(0.5, 1.5, size=(K, D))
        X = means[z] + rng.normal(size=(n, T, D)) * np.sqrt(variances[z])
        return Workload(kind, startprob, transmat, X, means=means, variances=variances)
    raise ValueError(f"unknown workload kind {kind!r}; use 'categorical' or 'gaussian'.")
