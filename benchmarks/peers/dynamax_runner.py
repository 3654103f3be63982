"""dynamax timings on one workload; runs INSIDE the dynamax virtual environment.

    python dynamax_runner.py WORKLOAD.npz [--repeats 7] [--warmup 3] [--ops log-likelihood,...]

Builds ``CategoricalHMM`` (one categorical emission per step) or ``DiagonalGaussianHMM`` with
exactly the workload's parameters in float32 and times, on one thread, each jitted batch
function (median of repeats after warm-up; compile time apart, from ``jit(...).lower().compile()``).
Prints one JSON line ``{op: {"seconds", "compile_seconds", "value"}, "_meta": {...}}``
(see ``benchmarks/peer_envs.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import median_time, pin_one_thread  # noqa: E402

pin_one_thread()  # before jax and numpy are imported
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from peer_envs import distribution_versions, load_workload, run_ops, runner_args  # noqa: E402

WHAT = {
    "log-likelihood": "jit(vmap(marginal_log_prob)) over the batch, summed (params closed over)",
    "posteriors": "jit(vmap(smoother)).smoothed_probs [N,T,K] (params closed over)",
    "viterbi": "jit(vmap(most_likely_states)) (params closed over)",
    "em-step": "one jitted EM step = fit_em's step without the log-prior: vmap(e_step) over the "
    "batch + m_step (dynamax's M-step is MAP with its default priors); params are an argument",
    "grad": "jit(value_and_grad(sum of vmap(marginal_log_prob))) w.r.t. the params pytree "
    "(probabilities, means, scale_diags)",
}


def build(w):
    """The dynamax model, its params/props (float32) and the batch of emissions."""
    from dynamax.hidden_markov_model import CategoricalHMM, DiagonalGaussianHMM

    def f32(a):
        return jnp.asarray(a, jnp.float32)

    K = len(w.startprob)
    common = dict(initial_probs=f32(w.startprob), transition_matrix=f32(w.transmat))
    if w.kind == "categorical":
        M = w.emissionprob.shape[1]
        hmm = CategoricalHMM(K, emission_dim=1, num_classes=M)
        params, props = hmm.initialize(emission_probs=f32(w.emissionprob)[:, None, :], **common)
        X = jnp.asarray(w.X, jnp.int32)[..., None]  # [N, T, 1]
    elif w.kind == "gaussian":
        hmm = DiagonalGaussianHMM(K, w.means.shape[1])
        params, props = hmm.initialize(
            emission_means=f32(w.means), emission_scale_diags=jnp.sqrt(f32(w.variances)), **common
        )
        X = f32(w.X)  # [N, T, D]
    else:
        raise ValueError(f"unknown workload kind {w.kind!r}")
    return hmm, params, props, X


def ops(w, repeats: int, warmup: int) -> dict:
    hmm, params, props, X = build(w)
    K = len(w.startprob)

    def batch_ll(p, X):
        return jax.vmap(lambda x: hmm.marginal_log_prob(p, x))(X).sum()

    def em_step(p, X):
        stats, lls = jax.vmap(lambda x: hmm.e_step(p, x))(X)
        new_p, _ = hmm.m_step(p, props, stats, hmm.initialize_m_step_state(p, props))
        return new_p, lls.sum()

    fns = {
        "log-likelihood": (jax.jit(lambda X: batch_ll(params, X)), (X,)),
        "posteriors": (
            jax.jit(lambda X: jax.vmap(lambda x: hmm.smoother(params, x).smoothed_probs)(X)),
            (X,),
        ),
        "viterbi": (
            jax.jit(lambda X: jax.vmap(lambda x: hmm.most_likely_states(params, x))(X)),
            (X,),
        ),
        "em-step": (jax.jit(em_step), (params, X)),
        "grad": (jax.jit(jax.value_and_grad(batch_ll)), (params, X)),
    }

    def checksum(op, out) -> dict:
        if op == "log-likelihood":
            return {"value": float(out)}
        if op == "posteriors":  # expected state index summed over every step
            return {"value": float(jnp.sum(out * jnp.arange(K)))}
        if op == "viterbi":
            return {"value": float(jnp.sum(out))}
        if op == "em-step":  # log-likelihood at the input params (from the E-step)
            return {"value": float(out[1])}
        value, grads = out  # grad
        leaves = jax.tree_util.tree_leaves(grads)
        norm = float(jnp.sqrt(sum(jnp.sum(g.astype(jnp.float32) ** 2) for g in leaves)))
        return {"value": float(value), "grad_norm": norm}

    def timed(op):
        fn, args = fns[op]

        def run():
            compile_s = median_time(lambda: fn.lower(*args).compile(), repeats=1, warmup=0)
            seconds = median_time(lambda: jax.block_until_ready(fn(*args)), repeats, warmup)
            return {"seconds": seconds, "compile_seconds": compile_s, **checksum(op, fn(*args))}

        return run

    return {op: timed(op) for op in fns}


def main(argv=None) -> int:
    args = runner_args(argv)
    w = load_workload(args.workload)
    meta = {
        "library": "dynamax",
        "versions": distribution_versions(["dynamax", "jax", "jaxlib", "tfp-nightly", "numpy"]),
        "what": {op: WHAT[op] for op in args.ops if op in WHAT},
        "backend": jax.default_backend(),
    }
    run_ops(args, ops(w, args.repeats, args.warmup), meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
