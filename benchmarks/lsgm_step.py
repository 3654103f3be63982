"""LSGM training-step time for the two reference configurations of the LSGM issue.

One step = forward (RNN + heads + exact log-likelihood) + backward + clip by global norm +
Adam, on a batch of 32 sequences of length 100, median of repeats after warm-up, on all
cores of this machine (the reference PyTorch timings used 2 threads):

(a) 16 states, order 1, GRU 1×64, one dense layer of 64, shared emission network over
    [Q; embedding 256] with hidden width 2·max(in, out), 4-dim one-hot (DNA) input —
    reference implementation 0.535 s, target ≤ 0.107 s;
(b) music: 88-dim Bernoulli, 16 states, order 1, GRU 1×512, one dense layer 512 (ReLU),
    dropout 0.5, embedding 256, emission network 768→1536→88 — reference 2.83 s,
    target ≤ 0.57 s.

    python benchmarks/lsgm_step.py           # both configurations
    python benchmarks/lsgm_step.py --quick   # tiny sizes, one repeat (used by the tests)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from common import machine_line, median_time  # noqa: E402
from flax import nnx  # noqa: E402

import lsgm  # noqa: E402
from lsgm.distributions import Bernoulli, Categorical  # noqa: E402
from lsgm.training.gradient import batch_nll  # noqa: E402

REFERENCE_S = {"a": 0.535, "b": 2.83}
TARGET_S = {"a": 0.107, "b": 0.57}


def build(config: str, quick: bool):
    """``(model, data [B, T, ...])`` for configuration ``"a"`` or ``"b"``."""
    rng = np.random.default_rng(0)
    B, T = (4, 10) if quick else (32, 100)
    scale = 8 if quick else 1
    if config == "a":
        model = lsgm.LSGM(
            16, Categorical(16, 4, rngs=nnx.Rngs(0)), rnn="gru", hidden_size=64 // scale,
            dense_layers=1, dense_size=64 // scale, order=1, emission_network="shared",
            embedding_dim=256 // scale, rngs=nnx.Rngs(1),
        )  # fmt: skip
        data = rng.integers(0, 4, size=(B, T))
    else:
        model = lsgm.LSGM(
            16, Bernoulli(16, 88, rngs=nnx.Rngs(0)), rnn="gru", hidden_size=512 // scale,
            dense_layers=1, dense_size=512 // scale, order=1, emission_network="shared",
            embedding_dim=256 // scale, emission_hidden=1536 // scale, dropout=0.5,
            rngs=nnx.Rngs(1),
        )  # fmt: skip
        data = (rng.random((B, T, 88)) < 0.1).astype(np.float32)
    return model, jnp.asarray(data)


def time_step(model, data, repeats: int) -> tuple[float, float]:
    """``(median step seconds, first-call seconds including compilation)``."""
    model.train()
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    lengths = jnp.full((data.shape[0],), data.shape[1], jnp.int32)
    weights = jnp.ones((data.shape[0],), jnp.float32)

    @nnx.jit
    def step(model, optimizer, data):
        loss, grads = nnx.value_and_grad(lambda m: batch_nll(m, data, lengths, weights))(model)
        optimizer.update(model, grads)
        return loss

    start = time.perf_counter()
    jax.block_until_ready(step(model, optimizer, data))
    first = time.perf_counter() - start
    seconds = median_time(lambda: jax.block_until_ready(step(model, optimizer, data)), repeats)
    return seconds, first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    print(f"# LSGM training step, float32\n\n{machine_line()}\n")
    print("| config | parameters | step (s) | first call incl. compile (s) | reference (s) | "
          "target (s) | speed-up vs reference |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config in ("a", "b"):
        model, data = build(config, args.quick)
        seconds, first = time_step(model, data, repeats)
        ref = REFERENCE_S[config]
        print(
            f"| ({config}) | {model.n_parameters():,} | {seconds:.4f} | {first:.2f} | {ref} | "
            f"{TARGET_S[config]} | {ref / seconds:.1f}× |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
