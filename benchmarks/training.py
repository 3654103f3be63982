"""One EM iteration and the gradient of the log-likelihood vs hmmlearn and dynamax.

Same workloads as ``benchmarks/kernels.py`` (200 × 1000, K=8, float32, one thread). lsgm
times its jitted EM step (E-step by the kernels + closed-form M-step, exactly what
``fit_em`` runs each iteration) and ``jax.grad`` of the batch log-likelihood with respect to
all model parameters. hmmlearn (``implementation="scaling"``) times ``fit`` with
``n_iter=1`` (one E-step + M-step). dynamax runs in its own virtual environment (see
``benchmarks/peer_envs.py``), created on first use; it is skipped with a note if it cannot
be installed.

    python benchmarks/training.py            # full
    python benchmarks/training.py --quick    # tiny sizes, no dynamax (used by the tests)
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
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402
from workloads import Workload, make_workload  # noqa: E402

import lsgm  # noqa: E402
from lsgm.distributions import Categorical, Gaussian  # noqa: E402
from lsgm.training.em import HMMPrior, _make_em_step  # noqa: E402
from lsgm.training.gradient import batch_nll  # noqa: E402


def lsgm_model(w: Workload) -> lsgm.HMM:
    """An lsgm HMM (float32) with the workload's parameters."""
    if w.kind == "categorical":
        emission = Categorical.from_probs(w.emissionprob.astype(np.float32))
    else:
        emission = Gaussian.from_params(
            w.means.astype(np.float32), w.variances.astype(np.float32), covariance="diag"
        )
    return lsgm.HMM.from_probs(w.startprob, w.transmat, emission)


def lsgm_ops(w: Workload):
    """``{op: (jitted fn, args)}`` for one EM iteration and the gradient."""
    model = lsgm_model(w)
    graphdef, state = nnx.split(model)
    X = jnp.asarray(w.X, jnp.int32 if w.kind == "categorical" else jnp.float32)
    lengths = jnp.full((X.shape[0],), X.shape[1], jnp.int32)
    em_step = _make_em_step(graphdef, HMMPrior(), frozenset())
    ones = jnp.ones(X.shape[0], jnp.float32)

    graph_p, params, rest = nnx.split(model, nnx.Param, ...)

    @jax.jit
    def grad(params, rest, X):
        def loss(p):
            return batch_nll(nnx.merge(graph_p, p, rest), X, lengths, ones)

        return jax.grad(loss)(params)

    return {
        "EM iteration": (lambda s, X: em_step(s, X, lengths, None), (state, X)),
        "gradient": (grad, (params, rest, X)),
    }


def hmmlearn_ops(w: Workload) -> dict | None:
    try:
        from hmmlearn import hmm
    except ImportError:
        return None
    K = len(w.startprob)

    def make():
        if w.kind == "categorical":
            m = hmm.CategoricalHMM(K, implementation="scaling", init_params="", n_iter=1)
            m.n_features = w.emissionprob.shape[1]
            m.emissionprob_ = w.emissionprob
        else:
            m = hmm.GaussianHMM(K, "diag", implementation="scaling", init_params="", n_iter=1)
            m.means_, m.covars_ = w.means, w.variances
        m.startprob_, m.transmat_ = w.startprob, w.transmat
        return m

    X = w.X.reshape(-1, 1) if w.kind == "categorical" else w.X.reshape(-1, w.X.shape[-1])
    lengths = [w.X.shape[1]] * w.X.shape[0]
    return {"EM iteration": lambda: make().fit(X, lengths)}


def dynamax_times(w: Workload, quick: bool) -> dict:
    """``{op: seconds}`` from the dynamax runner, or ``{}`` with a printed note."""
    if quick:
        return {}
    try:
        from peer_envs import run_peer
    except ImportError:
        print("note: benchmarks/peer_envs.py missing; dynamax skipped", file=sys.stderr)
        return {}
    result = run_peer("dynamax", w, ops=("em-step", "grad"))
    if result is None:
        return {}
    return {"EM iteration": result.seconds("em-step"), "gradient": result.seconds("grad")}


def run(n: int, T: int, repeats: int, quick: bool) -> list[Row]:
    rows = []
    for kind in ("categorical", "gaussian"):
        w = make_workload(kind, n=n, T=T)
        ours, peer, dyn = lsgm_ops(w), hmmlearn_ops(w), dynamax_times(w, quick)
        for op, (fn, args) in ours.items():
            jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
            ours_s, compile_s = time_jitted(jitted, args, repeats)
            label = f"{kind} K=8, {n}×{T}"
            peer_s = None if peer is None or op not in peer else median_time(peer[op], repeats)
            rows.append(Row(label, op, ours_s, "hmmlearn-scaling", peer_s, compile_s))
            if dyn.get(op) is not None:
                rows.append(Row(label, op, ours_s, "dynamax (f32)", dyn[op], compile_s))
    return rows


def main(argv=None) -> int:
    args = quick_arguments(__doc__.splitlines()[0], argv, "tiny sizes, one repeat, no dynamax")
    n, T, repeats = (4, 50, 1) if args.quick else (200, 1000, args.repeats)
    rows = run(n, T, repeats, args.quick)
    print(f"# EM iteration and gradient, float32, one thread\n\n{machine_line()}\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
