"""PBM regression flow (fit_regression) and the DeepBind / DeeperBind / k-mer baselines.

Tiny sizes (600 training probes of length 36) and one shared DeepBind shape, so the whole
file compiles a handful of steps.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from flax import nnx
from scipy.stats import spearmanr

from lsgm.apps.tf_binding.baselines import DeepBind, DeeperBind, KmerRegression
from lsgm.apps.tf_binding.regression import (
    count_parameters,
    fit_regression,
    planted_motif_data,
    predict,
    spearman,
    trace_counts,
)

W, L = 8, 36
SMALL = dict(num_filters=8, filter_length=12, hidden=16)  # one DeepBind shape for every test


def motif() -> np.ndarray:
    rng = np.random.default_rng(1)
    pwm = np.full((W, 4), 0.03)
    pwm[np.arange(W), rng.integers(0, 4, W)] = 0.91
    return pwm


@pytest.fixture(scope="module")
def data():
    """Standardised planted-motif probes: train 600, valid 200, test 200 (another seed)."""
    x, y, _ = planted_motif_data(800, L, motif(), seed=0)
    xs, ys, _ = planted_motif_data(200, L, motif(), seed=1)
    mu, sd = y.mean(), y.std()
    y, ys = (y - mu) / sd, (ys - mu) / sd
    return x[:600], y[:600], x[600:], y[600:], xs, ys


def fit_small(data, y_valid=None, **kw):
    xt, yt, xv, yv, *_ = data
    model = DeepBind(**SMALL, rngs=nnx.Rngs(0))
    settings = dict(learning_rate=1e-2, batch_size=100, max_epochs=8, patience=None)
    history = fit_regression(
        model, xt, yt, x_valid=xv, y_valid=yv if y_valid is None else y_valid, **settings | kw
    )
    return model, history


# ------------------------------------------------------------------ synthetic data
def test_planted_motif_data_plants_sites_and_scores():
    pwm = np.eye(4)[[0, 1, 2, 3, 3, 1]]  # deterministic site ACGTTC
    x, y, pos = planted_motif_data(300, 20, pwm, seed=3, fraction=0.5, noise=0.0)
    assert x.dtype == np.int8 and x.shape == (300, 20) and y.shape == (300,)
    planted = pos >= 0
    assert 100 < planted.sum() < 200
    for row in np.flatnonzero(planted):
        np.testing.assert_array_equal(x[row, pos[row] : pos[row] + 6], [0, 1, 2, 3, 3, 1])
    np.testing.assert_allclose(y[planted], 6 * np.log(4), rtol=1e-6)  # best log-odds score
    # brute-force best window score of the other probes
    lo = np.log(np.maximum(pwm, 1e-4) / 0.25)
    row = int(np.flatnonzero(~planted)[0])
    best = max(lo[np.arange(6), x[row, t : t + 6]].sum() for t in range(15))
    np.testing.assert_allclose(y[row], best, rtol=1e-5)
    # both strands: the site or its reverse complement (GAACGT) is at the position
    x2, y2, pos2 = planted_motif_data(200, 20, pwm, seed=4, noise=0.0, both_strands=True)
    sites = {tuple(x2[r, pos2[r] : pos2[r] + 6]) for r in np.flatnonzero(pos2 >= 0)}
    assert sites == {(0, 1, 2, 3, 3, 1), (2, 0, 0, 1, 2, 3)}
    np.testing.assert_allclose(y2[pos2 >= 0], 6 * np.log(4), rtol=1e-6)
    with pytest.raises(ValueError, match="rows summing to 1"):
        planted_motif_data(10, 20, np.ones((3, 4)))


def test_spearman_and_input_errors():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(spearman(np.ones(5), np.arange(5)))
    model = DeepBind(**SMALL, rngs=nnx.Rngs(0))
    x = np.zeros((4, L), np.int8)
    x[2, 5] = 4
    with pytest.raises(ValueError, match=r"x\[2\] has codes outside 0..3"):
        fit_regression(model, x, np.zeros(4))
    x[2, 5] = 0
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        fit_regression(model, x[:3], np.zeros(4))
    with pytest.raises(ValueError, match="every parameter of the model is frozen"):
        fit_regression(model, x, np.zeros(4), freeze=nnx.Param)


# ------------------------------------------------------------------ parameter counts
def abstract(cls, *args, **kw):
    """The model's shapes only (no initialisation compiled)."""
    return nnx.eval_shape(lambda: cls(*args, **kw, rngs=nnx.Rngs(0)))


def test_count_parameters_by_hand():
    # conv 4·5·3 + 3, hidden (2·3)·4 + 4, output 4 + 1
    assert count_parameters(abstract(DeepBind, 3, 5, hidden=4)) == 63 + 28 + 5
    # max pooling only, no hidden layer: conv 63, output 3 + 1
    assert count_parameters(abstract(DeepBind, 3, 5, hidden=0, pooling="max")) == 63 + 4
    # conv 63; LSTM input 3·(4·2) (no bias), recurrent 2·8 + 8; hidden (2·2)·4 + 4; output 5
    deeper = abstract(DeeperBind, 3, 5, lstm_hidden=2, hidden=4)
    assert count_parameters(deeper) == 63 + 24 + 24 + 20 + 5
    # a second convolution layer of width 3: + 3·3·3 + 3
    deeper2 = abstract(DeeperBind, 3, 5, conv_layers=2, lstm_hidden=2, hidden=4)
    assert count_parameters(deeper2) == 136 + 30
    # parameters kept fixed (the ``freeze`` filter of fit_regression) are not counted
    frozen = nnx.PathContains("conv")
    assert count_parameters(abstract(DeepBind, 3, 5, hidden=4), frozen) == 28 + 5
    # the documented defaults; a concrete model counts the same
    assert count_parameters(abstract(DeepBind)) == 2641
    assert count_parameters(abstract(DeeperBind)) == 9105
    assert (
        count_parameters(DeepBind(**SMALL, rngs=nnx.Rngs(0))) == 4 * 12 * 8 + 8 + 16 * 16 + 16 + 17
    )


# ------------------------------------------------------------------ models on planted motifs
def test_deepbind_learns_planted_motif_and_is_strand_symmetric(data):
    *_, xv, _, xs, ys = data
    model, history = fit_small(data)
    assert max(history.valid_spearman) >= 0.7
    assert spearman(predict(model, xs), ys) >= 0.7  # held-out probes of another seed
    # both strands: a probe and its reverse complement get the same prediction
    rc = 3 - xv[:, ::-1]
    np.testing.assert_allclose(predict(model, rc), predict(model, xv), rtol=1e-5, atol=1e-6)


def test_kmer_ridge_counts_and_learns(data):
    xt, yt, _, _, xs, ys = data
    # exact counts against brute force, strands merged through the canonical k-mer
    probes = np.random.default_rng(2).integers(0, 4, size=(5, 9))
    counts = KmerRegression(k=(2, 3)).features(probes).toarray()
    for row, k in itertools.product(range(5), (2, 3)):
        offset = 0 if k == 2 else 16
        expected = np.zeros(4**k)
        for t in range(9 - k + 1):
            s = probes[row, t : t + k]
            code = int(np.dot(s, 4 ** np.arange(k - 1, -1, -1)))
            rc = int(np.dot(3 - s[::-1], 4 ** np.arange(k - 1, -1, -1)))
            expected[min(code, rc)] += 1
        np.testing.assert_array_equal(counts[row, offset : offset + 4**k], expected)
    model = KmerRegression(k=6, alpha=10.0).fit(xt, yt)
    assert spearman(model.predict(xs), ys) >= 0.7
    assert model.n_parameters() == 4**6 + 1


def test_deeperbind_lowers_validation_loss(data):
    xt, yt, xv, yv, *_ = data
    model = DeeperBind(num_filters=8, lstm_hidden=8, hidden=8, rngs=nnx.Rngs(0))
    initial = float(np.mean((predict(model, xv) - yv) ** 2))
    history = fit_regression(
        model, xt, yt, x_valid=xv, y_valid=yv, learning_rate=2e-2, batch_size=100, max_epochs=5
    )
    assert min(history.valid_loss) < 0.9 * initial
    assert history.valid_loss[-1] < history.valid_loss[0]


# ------------------------------------------------------------------ the training flow
def test_early_stopping_restores_best_epoch_without_recompiling(data):
    _, _, xv, yv, *_ = data
    noise = np.random.default_rng(5).permutation(yv)  # unrelated targets: ρ wanders
    model, history = fit_small(data, y_valid=noise, max_epochs=6)
    best = history.best_epoch
    assert best == int(np.nanargmax(history.valid_spearman)) and best < history.epochs - 1
    pred = predict(model, xv)
    assert spearman(pred, noise) == pytest.approx(history.valid_spearman[best], abs=1e-6)
    # a fresh model trained for exactly best + 1 epochs holds the same parameters; the
    # same-shaped second fit reuses the compiled train and predict steps
    before = trace_counts()
    again, _ = fit_small(data, y_valid=noise, max_epochs=best + 1)
    assert trace_counts() == before
    np.testing.assert_array_equal(predict(again, xv), pred)
    # patience: training stops `patience` epochs after the best one
    _, stopped = fit_small(data, y_valid=noise, max_epochs=6, patience=1)
    assert stopped.stopped_early and stopped.epochs == stopped.best_epoch + 2
    assert len(stopped.train_loss) == len(stopped.wall_time) == stopped.epochs


def test_freeze_keeps_parameters_bit_identical(data):
    model = DeepBind(**SMALL, rngs=nnx.Rngs(0))
    conv0 = jax.tree.map(np.asarray, nnx.state(model.conv, nnx.Param))
    head0 = jax.tree.map(np.asarray, nnx.state(model.head, nnx.Param))
    xt, yt, *_ = data
    fit_regression(
        model,
        xt,
        yt,
        learning_rate=1e-2,
        batch_size=100,
        max_epochs=1,
        freeze=nnx.PathContains("conv"),
    )
    conv1 = jax.tree.map(np.asarray, nnx.state(model.conv, nnx.Param))
    head1 = jax.tree.map(np.asarray, nnx.state(model.head, nnx.Param))
    for a, b in zip(jax.tree.leaves(conv0), jax.tree.leaves(conv1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(head0), jax.tree.leaves(head1), strict=True)
    )
