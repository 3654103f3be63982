"""Kernels vs hmmlearn on identical random HMMs (float64, ragged batches via vmap + length)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from lsgm.inference import METHODS, Potentials, log_partition, posteriors, viterbi

hmm = pytest.importorskip("hmmlearn.hmm")
LENGTHS = [37, 50, 1, 12]


def _random_tables(rng, K):
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K), size=K)
    return startprob, transmat


def _categorical(rng, K=4, M=5):
    startprob, transmat = _random_tables(rng, K)
    B = rng.dirichlet(np.ones(M), size=K)
    model = hmm.CategoricalHMM(K, init_params="", params="")
    model.startprob_, model.transmat_, model.emissionprob_ = startprob, transmat, B
    model.n_features = M
    X = rng.integers(0, M, size=(sum(LENGTHS), 1))
    log_emit = np.log(B).T[X[:, 0]]
    return model, X, log_emit


def _gaussian(rng, K=3, D=2):
    startprob, transmat = _random_tables(rng, K)
    means = rng.normal(0, 2, size=(K, D))
    variances = rng.uniform(0.3, 2.0, size=(K, D))
    model = hmm.GaussianHMM(K, "diag", init_params="", params="")
    model.startprob_, model.transmat_ = startprob, transmat
    model.means_, model.covars_ = means, variances
    X, _ = model.sample(sum(LENGTHS), random_state=1)
    log_emit = np.stack(
        [multivariate_normal(means[k], np.diag(variances[k])).logpdf(X) for k in range(K)], 1
    )
    return model, X, log_emit


def _padded_batch(model, log_emit):
    T = max(LENGTHS)
    K = log_emit.shape[1]
    batch = np.zeros((len(LENGTHS), T, K))
    for i, (start, n) in enumerate(zip(np.cumsum([0] + LENGTHS[:-1]), LENGTHS, strict=True)):
        batch[i, :n] = log_emit[start : start + n]
    log_init = jnp.log(model.startprob_)
    log_trans = jnp.log(model.transmat_)
    pots = jax.vmap(lambda e: Potentials(log_init, log_trans, e))(jnp.asarray(batch))
    return pots, jnp.asarray(LENGTHS)


@pytest.mark.parametrize("build", [_categorical, _gaussian], ids=["categorical", "gaussian-diag"])
@pytest.mark.parametrize("method", METHODS)
def test_matches_hmmlearn(x64, build, method):
    model, X, log_emit = build(np.random.default_rng(0))
    pots, lengths = _padded_batch(model, log_emit)
    # One sequence per vmap lane; the Potentials fields are batched on axis 0 except
    # the shared tables, which we broadcast explicitly.
    axes = Potentials(0, 0, 0)
    log_z = jax.vmap(lambda p, n: log_partition(p, n, method=method), in_axes=(axes, 0))(
        pots, lengths
    )
    np.testing.assert_allclose(log_z.sum(), model.score(X, LENGTHS), rtol=1e-10)

    states = jax.vmap(lambda p, n: posteriors(p, n, method=method).states, in_axes=(axes, 0))(
        pots, lengths
    )
    want = model.predict_proba(X, LENGTHS)
    got = np.concatenate([states[i, :n] for i, n in enumerate(LENGTHS)])
    np.testing.assert_allclose(got, want, atol=1e-8)

    paths, scores = jax.vmap(lambda p, n: viterbi(p, n), in_axes=(axes, 0))(pots, lengths)
    want_score, want_path = model.decode(X, LENGTHS, algorithm="viterbi")
    got_path = np.concatenate([paths[i, :n] for i, n in enumerate(LENGTHS)])
    np.testing.assert_array_equal(got_path, want_path)
    np.testing.assert_allclose(scores.sum(), want_score, rtol=1e-10)
