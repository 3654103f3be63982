"""Inference kernels vs hmmlearn (``implementation="scaling"``) on identical parameters.

Times log-likelihood, posteriors and Viterbi for the standard workloads (see
``benchmarks/workloads.py``) on one thread, median of repeats after warm-up, compile time
reported apart, and prints a Markdown table with the speed-up (hmmlearn time / lsgm time).

    python benchmarks/kernels.py            # full: 200 × 1000, 7 repeats
    python benchmarks/kernels.py --quick    # tiny sizes, 1 repeat (used by the test suite)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    Row,
    machine_line,
    markdown_table,
    median_time,
    pin_one_thread,
    quick_arguments,
    time_jitted,
)

pin_one_thread()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from workloads import Workload, make_workload  # noqa: E402

from lsgm.inference import Potentials, log_partition, posteriors, viterbi  # noqa: E402


def log_emissions(w: Workload):
    """A jittable ``x [T] or [T, D] -> log_emit [T, K]`` for the workload's emission model."""
    if w.kind == "categorical":
        log_b = jnp.log(jnp.asarray(w.emissionprob, jnp.float32))
        return lambda x: log_b.T[x]
    means = jnp.asarray(w.means, jnp.float32)
    var = jnp.asarray(w.variances, jnp.float32)
    const = -0.5 * jnp.sum(jnp.log(2 * jnp.pi * var), axis=1)
    inv = 1.0 / var

    def gaussian(x):
        sq = (x**2) @ inv.T - 2 * x @ (means * inv).T + jnp.sum(means**2 * inv, axis=1)
        return const - 0.5 * sq

    return gaussian


def lsgm_ops(w: Workload) -> dict:
    """Jitted batch functions ``X -> result`` for each op."""
    log_init = jnp.log(jnp.asarray(w.startprob, jnp.float32))
    log_trans = jnp.log(jnp.asarray(w.transmat, jnp.float32))
    emit = log_emissions(w)

    def pots(x):
        return Potentials(log_init, log_trans, emit(x))

    return {
        "log-likelihood": jax.jit(lambda X: jax.vmap(lambda x: log_partition(pots(x)))(X).sum()),
        "posteriors": jax.jit(lambda X: jax.vmap(lambda x: posteriors(pots(x)).states)(X)),
        "viterbi": jax.jit(lambda X: jax.vmap(lambda x: viterbi(pots(x))[0])(X)),
    }


def hmmlearn_ops(w: Workload) -> dict | None:
    """hmmlearn (scaling) callables on the same parameters and data, or None if missing."""
    try:
        from hmmlearn import hmm
    except ImportError:
        return None
    K = len(w.startprob)
    if w.kind == "categorical":
        model = hmm.CategoricalHMM(K, implementation="scaling", init_params="", params="")
        model.n_features = w.emissionprob.shape[1]
        model.emissionprob_ = w.emissionprob
        X = w.X.reshape(-1, 1)
    else:
        model = hmm.GaussianHMM(K, "diag", implementation="scaling", init_params="", params="")
        model.means_ = w.means
        model.covars_ = w.variances
        X = w.X.reshape(-1, w.X.shape[-1])
    model.startprob_ = w.startprob
    model.transmat_ = w.transmat
    lengths = [w.X.shape[1]] * w.X.shape[0]
    return {
        "log-likelihood": lambda: model.score(X, lengths),
        "posteriors": lambda: model.predict_proba(X, lengths),
        "viterbi": lambda: model.decode(X, lengths, algorithm="viterbi"),
    }


def run(n: int, T: int, repeats: int) -> list[Row]:
    rows = []
    for kind in ("categorical", "gaussian"):
        w = make_workload(kind, n=n, T=T)
        X = jnp.asarray(w.X, jnp.int32 if kind == "categorical" else jnp.float32)
        ours, peer = lsgm_ops(w), hmmlearn_ops(w)
        for op, fn in ours.items():
            ours_s, compile_s = time_jitted(fn, (X,), repeats)
            peer_s = None if peer is None else median_time(peer[op], repeats)
            label = f"{kind} K=8, {n}×{T}"
            rows.append(Row(label, op, ours_s, "hmmlearn-scaling", peer_s, compile_s))
    return rows


def main(argv=None) -> int:
    args = quick_arguments(__doc__.splitlines()[0], argv)
    n, T, repeats = (4, 50, 1) if args.quick else (200, 1000, args.repeats)
    rows = run(n, T, repeats)
    print(f"# Inference kernels, float32, one thread\n\n{machine_line()}\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
