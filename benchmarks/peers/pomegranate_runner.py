"""pomegranate (>= 1.0) timings on one workload; runs INSIDE the pomegranate virtual environment.

    python pomegranate_runner.py WORKLOAD.npz [--repeats 7] [--warmup 3] [--ops log-likelihood,...]

Builds a ``DenseHMM`` of ``Categorical`` or diagonal ``Normal`` distributions with exactly the
workload's parameters in float32 (end probabilities all 1, i.e. no end state, so the
log-likelihood is the usual one) and times, with torch on one thread, each call on the whole
batch (median of repeats after warm-up). torch runs eagerly: there is no compile time.
Prints one JSON line ``{op: {"seconds", "compile_seconds", "value"}, "_meta": {...}}``
(see ``benchmarks/peer_envs.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import median_time, pin_one_thread  # noqa: E402

pin_one_thread()  # before torch and numpy are imported

import numpy as np  # noqa: E402
import torch  # noqa: E402
from peer_envs import distribution_versions, load_workload, run_ops, runner_args  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

WHAT = {
    "log-likelihood": "DenseHMM.log_probability(X) on the batch, summed",
    "posteriors": "DenseHMM.predict_proba(X) [N,T,K]",
    "viterbi": "DenseHMM.viterbi(X)",
    "em-step": "DenseHMM.fit(X) with max_iter=1 (one summarize + from_summaries; maximum "
    "likelihood, also re-estimates the end probabilities); the model is reused across repeats",
}


def build(w):
    """A DenseHMM with the workload's parameters (float32) and the batch as a tensor."""
    from pomegranate.distributions import Categorical, Normal
    from pomegranate.hmm import DenseHMM

    def f32(a):
        return torch.as_tensor(np.asarray(a, np.float32))

    K = len(w.startprob)
    if w.kind == "categorical":
        dists = [Categorical(probs=f32(w.emissionprob[k : k + 1])) for k in range(K)]
        X = torch.as_tensor(np.asarray(w.X, np.int64)[..., None])  # [N, T, 1]
    elif w.kind == "gaussian":
        dists = [
            Normal(means=f32(w.means[k]), covs=f32(w.variances[k]), covariance_type="diag")
            for k in range(K)
        ]
        X = f32(w.X)  # [N, T, D]
    else:
        raise ValueError(f"unknown workload kind {w.kind!r}")
    model = DenseHMM(
        dists,
        edges=f32(w.transmat),
        starts=f32(w.startprob),
        ends=torch.ones(K, dtype=torch.float32),
        max_iter=1,
        verbose=False,
    )
    return model, X


def ops(w, repeats: int, warmup: int) -> dict:
    K = len(w.startprob)
    model, X = build(w)

    def timed(call, checksum):
        def run():
            with torch.no_grad():
                seconds = median_time(call, repeats, warmup)
                return {"seconds": seconds, "compile_seconds": None, "value": checksum()}

        return run

    em_model, _ = build(w)

    def em_value():  # log-likelihood at the input params, from the E-step of a fresh model
        fresh, _ = build(w)
        return float(fresh.summarize(X).sum())

    return {
        "log-likelihood": timed(
            lambda: model.log_probability(X), lambda: float(model.log_probability(X).sum())
        ),
        "posteriors": timed(
            lambda: model.predict_proba(X),
            lambda: float((model.predict_proba(X) * torch.arange(K)).sum()),
        ),
        "viterbi": timed(lambda: model.viterbi(X), lambda: float(model.viterbi(X).sum())),
        "em-step": timed(lambda: em_model.fit(X), em_value),
        "grad": "pomegranate keeps its parameters as non-differentiable buffers",
    }


def main(argv=None) -> int:
    args = runner_args(argv)
    w = load_workload(args.workload)
    meta = {
        "library": "pomegranate",
        "versions": distribution_versions(["pomegranate", "torch", "numpy"]),
        "what": {op: WHAT[op] for op in args.ops if op in WHAT},
        "torch_threads": torch.get_num_threads(),
    }
    run_ops(args, ops(w, args.repeats, args.warmup), meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
