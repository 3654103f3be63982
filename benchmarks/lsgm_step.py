"""LSGM training-step time against the authors' PyTorch code, timed in the same run.

One step = forward (RNN + heads + exact log-likelihood) + backward + clip by global norm 1 +
Adam (lr 1e-3) on one random batch of 32 sequences of length 100, median of repeats after
warm-up, with the same number of threads on both sides (default: every core this process may
use). Two configurations of the LSGM issue, 16 states, order 1, ReLU:

(a) DNA: 4-symbol input (one-hot), GRU 1×64, one dense layer of 64, shared emission network
    over [u; state embedding 256] with hidden width 2·max(in, out) = 640, no dropout;
(b) music: 88-dim Bernoulli, GRU 1×512, one dense layer of 512, embedding 256, emission
    network 768 → 1536 → 88, dropout 0.5.

Each configuration is timed three ways:

* lsgm, as today: a linear transition head ``F -> K²``, the loss is the NLL only, dropout on
  the RNN and dense outputs (one mask shared by both heads);
* lsgm, paper-faithful: the authors' model — a two-layer transition head
  ``F -> 2·max(F, K²) -> K²`` (``transition_hidden="auto"``), dropout before the dense layer
  and, with its own mask, before the first layer of each head
  (``dropout_placement="inputs"``), and the loss of the heating epochs,
  ``-(sum log p(x) + w · sum_t H(p(z_t | x_{1:t}))) / steps`` with ``w = 1``;
* reference: the authors' ``networks/lsgm.py`` (PyTorch, CPU) from a checkout the user gives
  with ``--reference PATH``, run by ``benchmarks/peers/lsgm_torch_runner.py`` in its own
  virtual environment (the ``lsgm-torch`` peer of ``peer_envs.py``, CPU torch 2.13.0), in its
  paper configuration with the entropy term (weight 1) on — the same model as the
  paper-faithful row. Without ``--reference`` (or ``$LSGM_BENCH_REFERENCE``) its rows say
  how to provide it.

The ratio column is reference time ÷ our time, both measured in this run.

    python benchmarks/lsgm_step.py --reference ~/src/lsgm-authors   # both configs, both sides
    python benchmarks/lsgm_step.py                                   # our side only
    python benchmarks/lsgm_step.py --quick   # tiny sizes, one repeat (used by the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from common import machine_line, median_time  # noqa: E402
from flax import nnx  # noqa: E402

import lsgm  # noqa: E402
from lsgm.distributions import Bernoulli, Categorical  # noqa: E402
from lsgm.training.gradient import batch_nll, batch_terms  # noqa: E402

REFERENCE_ENV = "LSGM_BENCH_REFERENCE"
PEER = "lsgm-torch"
# Quoted in the issue for the authors' code on another (Intel) machine with 2 threads; shown
# for context only, never used as the basis of a ratio.
QUOTED_REFERENCE_S = {"a": 0.535, "b": 2.83}
K = 16
ENTROPY_WEIGHT = 1.0
CLIP, LEARNING_RATE = 1.0, 1e-3


@dataclass(frozen=True)
class Config:
    """One configuration's sizes (full or ``--quick``)."""

    name: str
    symbols: int | None  # categorical alphabet (DNA), or None: Bernoulli of ``dim``
    dim: int  # observation width: one-hot size or Bernoulli dimension
    hidden: int  # GRU units = dense units
    embedding: int
    emission_hidden: int | None  # None: 2·max(F + E, P)
    dropout: float
    batch: int
    length: int


def configs(quick: bool) -> list[Config]:
    """Configurations (a) and (b); ``quick`` divides the widths by 8 and uses a 4 × 10 batch."""
    s = 8 if quick else 1
    B, T = (4, 10) if quick else (32, 100)
    return [
        Config("a", 4, 4, 64 // s, 256 // s, None, 0.0, B, T),
        Config("b", None, 88, 512 // s, 256 // s, 1536 // s, 0.5, B, T),
    ]


def make_batch(c: Config) -> np.ndarray:
    """The random batch, ``[B, T]`` symbols (a) or ``[B, T, D]`` 0/1 floats (b)."""
    rng = np.random.default_rng(0)
    if c.symbols is not None:
        return rng.integers(0, c.symbols, size=(c.batch, c.length))
    return (rng.random((c.batch, c.length, c.dim)) < 0.1).astype(np.float32)


def build(c: Config, paper: bool) -> lsgm.LSGM:
    """Our LSGM for ``c``: as today, or paper-faithful (2-layer transition head, dropout
    before every layer that reads the features)."""
    if c.symbols is not None:
        emission = Categorical(K, c.symbols, rngs=nnx.Rngs(0))
    else:
        emission = Bernoulli(K, c.dim, rngs=nnx.Rngs(0))
    extra = dict(transition_hidden="auto", dropout_placement="inputs") if paper else {}
    return lsgm.LSGM(
        K,
        emission,
        rnn="gru",
        hidden_size=c.hidden,
        dense_layers=1,
        dense_size=c.hidden,
        order=1,
        emission_network="shared",
        embedding_dim=c.embedding,
        emission_hidden=c.emission_hidden,
        dropout=c.dropout,
        rngs=nnx.Rngs(1),
        **extra,
    )


def reference_kwargs(c: Config) -> dict:
    """The authors' ``lsgm(...)`` arguments for ``c`` (their emission is Bernoulli per input
    dimension, so DNA is its one-hot)."""
    return dict(
        num_stochastic_nodes=K,
        num_recurrent_layers=1,
        num_recurrent_units=c.hidden,
        num_dense_layers=1,
        num_dense_units=c.hidden,
        dimension=c.dim,
        dropout=c.dropout,
        order=1,
        dense_activations="relu",
        embedding_dim=c.embedding,
        num_emission_layers=2,
        emission_type="binary",
        entropy_type="forward",
    )


def time_step(model: lsgm.LSGM, data: jax.Array, repeats: int, heated: bool):
    """``(median step seconds, first-call seconds including compilation)``. ``heated``: the
    loss also subtracts ``ENTROPY_WEIGHT ·`` the filtering entropies (per step), as in the
    heating epochs of ``fit_gradient`` and of the authors' training."""
    model.train()
    tx = optax.chain(optax.clip_by_global_norm(CLIP), optax.adam(LEARNING_RATE))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    lengths = jnp.full((data.shape[0],), data.shape[1], jnp.int32)
    weights = jnp.ones((data.shape[0],), jnp.float32)

    def loss_fn(m):
        if not heated:
            return batch_nll(m, data, lengths, weights)
        log_z, entropy, steps = batch_terms(m, data, lengths, weights, entropy=True)
        return -(log_z + ENTROPY_WEIGHT * entropy) / steps

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    start = time.perf_counter()
    jax.block_until_ready(step(model, optimizer))
    first = time.perf_counter() - start
    seconds = median_time(lambda: jax.block_until_ready(step(model, optimizer)), repeats)
    return seconds, first


@dataclass
class Timing:
    """One row: a step time, or why there is none."""

    parameters: int | None = None
    seconds: float | None = None
    first: float | None = None
    note: str | None = None


def time_reference(
    checkout: Path, c: Config, data: np.ndarray, threads: int, repeats: int, allow_install: bool
) -> tuple[Timing, dict]:
    """The authors' step on ``data`` (one-hot for DNA), in the lsgm-torch environment."""
    import peer_envs

    try:
        env = peer_envs.ensure_env(PEER, allow_install=allow_install)
    except peer_envs.PeerUnavailable as e:
        return Timing(note=f"no torch environment: {str(e).splitlines()[0]}"), {}
    x = np.eye(c.dim, dtype=np.float32)[data] if c.symbols is not None else data
    with tempfile.TemporaryDirectory(prefix="lsgm-step-") as tmp:
        npz = Path(tmp) / "batch.npz"
        with open(npz, "wb") as f:
            np.savez(f, x=x)
        cmd = [
            str(env.python),
            str(peer_envs.MODEL_PEERS[PEER].runner),
            f"--reference={checkout}",
            f"--batch={npz}",
            f"--model-json={json.dumps(reference_kwargs(c))}",
            f"--threads={threads}",
            f"--repeats={repeats}",
            f"--warmup={1 if repeats == 1 else 3}",
            f"--entropy-weight={ENTROPY_WEIGHT}",
            f"--clip={CLIP}",
            f"--lr={LEARNING_RATE}",
        ]
        thread_vars = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        env_vars = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env_vars.update({k: str(threads) for k in thread_vars})
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=3600, cwd=tmp, env=env_vars
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return Timing(note=f"the runner failed: {e}"), {}
    if out.returncode != 0:
        tail = " / ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
        return Timing(note=f"the runner failed (exit {out.returncode}): {tail}"), {}
    result = peer_envs.parse_runner_output(out.stdout, PEER)
    t = result.ops["train-step"]
    timing = Timing(t.extra.get("parameters"), t.seconds, t.compile_seconds, t.note)
    return timing, {**result.meta, "install": env.install}


def _set_threads(threads: int) -> int:
    """Restrict this process (and the runner it starts) to ``threads`` cores; the count used."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not available:
        return threads
    threads = max(1, min(threads, len(available)))
    if threads < len(available):
        os.sched_setaffinity(0, available[:threads])  # before XLA sizes its thread pool
    return threads


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--reference",
        type=Path,
        default=os.environ.get(REFERENCE_ENV) or None,
        help="a checkout of the LSGM authors' repository (the folder holding "
        f"networks/lsgm.py); default ${REFERENCE_ENV}, else the reference is not run",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        help="threads on both sides (default: every core this process may use)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="do not create the torch environment"
    )
    args = parser.parse_args(argv)
    if args.reference is not None:
        args.reference = Path(args.reference).expanduser().resolve()
        if not (args.reference / "networks" / "lsgm.py").is_file():
            parser.error(f"--reference {args.reference}: no networks/lsgm.py there")
    threads = _set_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    load = os.getloadavg() if hasattr(os, "getloadavg") else None

    print(f"# LSGM training step, float32\n\n{machine_line()}\n")
    print(
        f"Threads: {threads} on both sides. Batch "
        f"{configs(args.quick)[0].batch} × {configs(args.quick)[0].length}.\n"
    )
    print(
        "| config | side | what is timed | parameters | step (s) | first call (s) | "
        "reference ÷ this (same run) |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    meta, notes = {}, []
    for c in configs(args.quick):
        data = make_batch(c)
        rows = []
        for paper in (False, True):
            model = build(c, paper)
            seconds, first = time_step(model, jnp.asarray(data), repeats, heated=paper)
            label = (
                "paper-faithful: 2-layer transition head, NLL − entropy, dropout before layers"
                if paper
                else "as today: linear transition head, NLL only, dropout on outputs"
            )
            rows.append(("lsgm", label, Timing(model.n_parameters(), seconds, first)))
        if args.reference is None:
            ref = Timing(note=f"not run: pass --reference PATH (or set ${REFERENCE_ENV})")
        else:
            ref, meta = time_reference(
                args.reference, c, data, threads, repeats, not args.no_install
            )
        label = "authors' code, paper configuration, entropy term on"
        rows.append(("reference (PyTorch)", label, ref))
        for i, (side, label, t) in enumerate(rows):
            if t is ref:
                ratio = "—"
            elif t.seconds is None or ref.seconds is None:
                ratio = "n/a"
            else:
                ratio = f"{ref.seconds / t.seconds:.2f}×"
            step = _fmt(t.seconds, ".4f") if t.note is None else t.note
            params = "n/a" if t.parameters is None else f"{t.parameters:,}"
            print(
                f"| {f'({c.name})' if i == 0 else ''} | {side} | {label} | {params} | {step} | "
                f"{_fmt(t.first, '.2f')} | {ratio} |"
            )
    end_load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    if meta:
        versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
        notes.append(
            f"Reference: {args.reference}/networks/lsgm.py (sha256 "
            f"{meta.get('reference_sha256', '?')[:12]}), {versions}, "
            f"{meta.get('threads')} torch threads."
        )
    quoted = ", ".join(f"({k}) {v} s" for k, v in QUOTED_REFERENCE_S.items())
    notes.append(
        f"Previously quoted reference times, measured on another (Intel) machine and not "
        f"comparable with this run: {quoted}."
    )
    if load is not None and end_load is not None:
        notes.append(
            "Load average (1, 5, 15 min) at start "
            + ", ".join(f"{x:.2f}" for x in load)
            + "; at end "
            + ", ".join(f"{x:.2f}" for x in end_load)
            + "."
        )
    print("\n".join(f"- {n}" for n in notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
