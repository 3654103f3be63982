"""Quick start: exact inference from potentials with ``lsgm.inference``.

Runs the Wikipedia forward–backward example, then a ragged batch of 1,000 random sequences
through ``jax.vmap``. Run with ``python examples/quickstart.py``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from lsgm.inference import Potentials, log_partition, posteriors, sample_paths, viterbi


def wikipedia_example() -> None:
    """Two weather states, umbrella observations (Wikipedia, "Forward–backward algorithm")."""
    frame_likelihoods = jnp.array([[0.9, 0.2], [0.9, 0.2], [0.1, 0.8], [0.9, 0.2], [0.9, 0.2]])
    p = Potentials(
        log_init=jnp.log(jnp.array([0.5, 0.5])),
        log_trans=jnp.log(jnp.array([[0.7, 0.3], [0.3, 0.7]])),
        log_emit=jnp.log(frame_likelihoods),
    )
    post = posteriors(p)
    path, score = viterbi(p)
    print(f"log p(x)            = {float(post.log_z):.4f}")
    print(f"p(rain_t | x)       = {[round(float(v), 4) for v in post.states[:, 0]]}")
    print(f"Viterbi path        = {path.tolist()}  (log p = {float(score):.4f})")
    draws = sample_paths(p, jax.random.key(0), 3)
    print(f"posterior samples   = {draws.tolist()}")


def batch_example() -> None:
    """A ragged batch: pad to the longest sequence and pass each sequence's length."""
    rng = np.random.default_rng(0)
    n, T, K = 1000, 500, 8
    log_trans = jnp.log(jnp.asarray(rng.dirichlet(np.ones(K), size=K), jnp.float32))
    log_init = jnp.full((K,), -jnp.log(K))
    log_emit = jnp.asarray(rng.normal(size=(n, T, K)), jnp.float32)
    lengths = jnp.asarray(rng.integers(100, T + 1, size=n))
    batch_log_z = jax.jit(
        jax.vmap(lambda e, m: log_partition(Potentials(log_init, log_trans, e), length=m))
    )
    jax.block_until_ready(batch_log_z(log_emit, lengths))  # compile once
    start = time.perf_counter()
    log_z = jax.block_until_ready(batch_log_z(log_emit, lengths))
    elapsed = time.perf_counter() - start
    print(f"batch of {n} ragged sequences (K={K}, T<= {T}): mean log p = {float(log_z.mean()):.2f}")
    print(f"  {int(lengths.sum()):,} steps in {elapsed * 1e3:.1f} ms")


if __name__ == "__main__":
    wikipedia_example()
    batch_example()
