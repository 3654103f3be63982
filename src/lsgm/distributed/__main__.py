"""``python -m lsgm.distributed``: data parallel vs one device on the benchmark workload.

Prints a Markdown table: for one EM iteration (the jitted step), ``score_samples`` and the
batch-NLL gradient, the time on one device (``mesh=None``) and on a mesh over every device,
and the largest relative difference between the two results; then the collectives XLA put
in the compiled data-parallel EM step. Virtual CPU devices (``XLA_FLAGS=--xla_force_host_
platform_device_count=4``) share the machine's cores, so their times are no speed claim:
the command checks correctness and shows the overhead.
"""

from __future__ import annotations

import argparse
import platform
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import lsgm
from lsgm import distributed
from lsgm.distributions import Categorical
from lsgm.training import HMMPrior, em_step_for, sharded_inputs


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1.0)))


def _timed(fn, repeats: int):
    """``(result, first-call seconds (compile + run), median seconds of later calls)``."""
    began = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - began
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - began)
    return out, first, float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsgm.distributed", description=__doc__)
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20 x 50, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.length, args.repeats = 20, 50, 1
    for name in ("sequences", "length", "states", "symbols", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")

    mesh = distributed.make_mesh()
    rng = np.random.default_rng(0)
    xs = rng.integers(0, args.symbols, size=(args.sequences, args.length))
    K = args.states
    model = lsgm.HMM(K, Categorical(K, args.symbols, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(0))
    batch = model.batch(xs)
    graphdef, state = nnx.split(model)
    rows = []

    def em_step(on):
        step = em_step_for(graphdef, HMMPrior(), frozenset(), on)
        if on is None:
            inputs = (jnp.asarray(batch.data), jnp.asarray(batch.lengths), None)
            placed = state
        else:
            inputs = sharded_inputs(batch, None, on)
            placed = distributed.replicate(state, on)
        return step, placed, inputs

    results = {}
    for on in (None, mesh):
        step, placed, inputs = em_step(on)
        results[on] = [
            _timed(lambda step=step, p=placed, i=inputs: step(p, *i), args.repeats),
            _timed(lambda on=on: model.score_samples(xs, mesh=on), args.repeats),
            _timed(lambda on=on: distributed.nll_and_grad(model, xs, mesh=on), args.repeats),
        ]
    for i, name in enumerate(("EM iteration (jitted step)", "score_samples", "NLL gradient")):
        (one, one_first, one_t), (many, many_first, many_t) = results[None][i], results[mesh][i]
        diff = max(jax.tree.leaves(jax.tree.map(_rel, many, one)))
        rows.append(
            f"| {name} | {one_t:.4f} ({one_first:.2f}) | {many_t:.4f} ({many_first:.2f}) "
            f"| {diff:.1e} |"
        )
    step, placed, inputs = em_step(mesh)
    hlo = step.lower(placed, *inputs).compile().as_text()
    collectives = {
        op: len(re.findall(rf"\b{op}(?:-start)?\(", hlo))
        for op in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
    }

    devices = jax.devices()
    print(
        f"Workload: categorical HMM K={K}, M={args.symbols}; {args.sequences} x {args.length} "
        f"steps; float32. Devices: {len(devices)} x {devices[0].platform} "
        f"({devices[0].device_kind}); host {platform.machine()}, {platform.processor() or '?'}; "
        f"jax {jax.__version__}."
    )
    print()
    print(
        f"| op | 1 device: median s (first call s) | {len(devices)} devices: median s "
        "(first call s) | max relative difference |"
    )
    print("|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(
        "Collectives in the compiled data-parallel EM step: "
        + ", ".join(f"{op} x{n}" for op, n in collectives.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
