"""Motif-state model for PBM intensities (issue 7): exactness against brute-force enumeration of
segmentations, strand symmetry, the zero-head RNN = static identity, and a planted-motif fit."""

from __future__ import annotations

from math import comb

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy.special import logsumexp

from lsgm import inference
from lsgm.apps.tf_binding.motif_model import (
    MotifModel,
    enriched_kmers,
    pwm_from_kmer,
    seed_from_kmers,
)
from lsgm.apps.tf_binding.regression import fit_regression, planted_motif_data
from lsgm.data.motifs import motif_correlation


# ------------------------------------------------------------------ brute force
def _randomise(model: MotifModel, rng: np.random.Generator, head_scale: float = 0.7) -> None:
    """Random PWMs, background, destination logits and (if any) RNN head."""
    for p in model.pwm:
        p[...] = jnp.asarray(rng.normal(size=p.shape))
    if model.background_logits is not None:
        model.background_logits[...] = jnp.asarray(rng.normal(size=model.background_logits.shape))
    d = model.destination_logits
    d[...] = jnp.asarray(rng.normal(size=d.shape))
    if model.head is not None:
        model.head.kernel[...] = jnp.asarray(head_scale * rng.normal(size=model.head.kernel.shape))
        model.head.bias[...] = jnp.asarray(rng.normal(size=model.head.bias.shape))


def _segmentation_log_probs(model: MotifModel, x: np.ndarray, log_pi: np.ndarray) -> list[float]:
    """log-probability of every segmentation of ``x`` into background symbols and complete motif
    occurrences (each with its strand), from the model's definition (paper §2.5): a unit starting
    at position t draws its type from pi_t (row of the previous unit's type for order 1; the
    first unit as if after background), a motif's mass is halved per strand with both strands.
    ``log_pi [L, 1+M]`` (``[L, 1+M, 1+M]``) are the model's destination log-probabilities."""
    log_bg = np.asarray(model.log_background(), np.float64)
    log_pwms = [np.asarray(lp, np.float64) for lp in model.log_pwms()]
    strands = (0, 1) if model.both_strands else (0,)
    half = np.log(0.5) if model.both_strands else 0.0
    L = len(x)

    def pi(t: int, src: int) -> np.ndarray:
        return log_pi[t] if model.order == 0 else log_pi[t][src]

    def rec(t: int, src: int) -> list[float]:
        if t == L:
            return [0.0]
        out = [pi(t, src)[0] + log_bg[x[t]] + r for r in rec(t + 1, 0)]
        for m, lp in enumerate(log_pwms):
            W = lp.shape[0]
            if t + W > L:
                continue
            for s in strands:
                site = x[t : t + W]
                emit = lp[np.arange(W), site] if s == 0 else lp[W - 1 - np.arange(W), 3 - site]
                head = pi(t, src)[1 + m] + half + emit.sum()
                out += [head + r for r in rec(t + W, 1 + m)]
        return out

    return rec(0, 0)


def _background_path(model: MotifModel, x: np.ndarray, log_pi: np.ndarray) -> float:
    log_bg = np.asarray(model.log_background(), np.float64)
    first = log_pi[:, 0] if model.order == 0 else log_pi[:, 0, 0]
    return float(first.sum() + log_bg[x].sum())


CASES = [
    # (both_strands, transitions, order, widths, background_path): the brief's W=2, M=1 with
    # and without the reverse strand, static and RNN; the last case adds order 1 and a second
    # (W=1) motif; one case scores Θ′ by the masked kernel instead of the closed form.
    (False, "static", 0, (2,), "closed_form"),
    (True, "static", 0, (2,), "kernel"),
    (False, "rnn", 0, (2,), "closed_form"),
    (True, "rnn", 1, (2, 1), "closed_form"),
]


@nnx.jit
def _evaluate(model: MotifModel, x):
    """One compile per model: destination log-probs, log P(x | Θ) by the chain recursion and by
    the shared kernel, log P(x | Θ′) (masked kernel), score."""
    mask = model.background_mask()
    return (
        model.destination_log_probs(x),
        model.log_likelihood(x),
        inference.log_partition(model.potentials(x)),
        model.log_likelihood(x, mask),
        model.score(x),
    )


@pytest.mark.parametrize("both_strands,transitions,order,widths,background_path", CASES)
def test_likelihood_equals_segmentation_enumeration(
    x64, both_strands, transitions, order, widths, background_path
):
    rng = np.random.default_rng(len(widths) + 2 * both_strands + 4 * (transitions == "rnn"))
    model = MotifModel(
        len(widths),
        widths,
        transitions=transitions,
        order=order,
        both_strands=both_strands,
        background_path=background_path,
        hidden_size=4,
        num_layers=2,
        rngs=nnx.Rngs(1),
    )
    _randomise(model, rng)
    for x in (np.array([0, 3, 1, 2, 2]), rng.integers(0, 4, 5)):
        log_pi, ll, ll_kernel, ll_bg, score = _evaluate(model, jnp.asarray(x, jnp.int32))
        want = logsumexp(_segmentation_log_probs(model, x, np.asarray(log_pi)))
        bg = _background_path(model, x, np.asarray(log_pi))
        assert float(ll) == pytest.approx(want, abs=1e-10)
        assert float(ll_kernel) == pytest.approx(want, abs=1e-10)
        assert float(ll_bg) == pytest.approx(bg, abs=1e-10)
        assert float(score) == pytest.approx(want - bg, abs=1e-10) and want > bg
    if transitions == "rnn":  # row t of log_pi has read x_1..x_t only (causal, aligned)
        x2 = x.copy()
        x2[2] = (x2[2] + 1) % 4
        log_pi2 = np.asarray(_evaluate(model, jnp.asarray(x2, jnp.int32))[0])
        np.testing.assert_array_equal(log_pi2[:3], np.asarray(log_pi)[:3])
        assert np.abs(log_pi2[3] - np.asarray(log_pi)[3]).max() > 1e-6
    if widths == (2,):  # the enumeration: sum_j S^j C(L-j, j) segmentations with j sites
        n = len(_segmentation_log_probs(model, np.zeros(5, int), np.asarray(log_pi)))
        S = 2 if both_strands else 1
        assert n == sum(S**j * comb(5 - j, j) for j in range(3))


def _revcomp(x: np.ndarray) -> np.ndarray:
    return 3 - x[..., ::-1]


@nnx.jit
def _scores(model: MotifModel, x, x_padded, lengths):
    """Scores of ``x [B, L]`` and of ``x_padded [B, L']`` read up to ``lengths`` (one compile)."""
    return jax.vmap(model.score)(x), jax.vmap(model.score)(x_padded, lengths)


def test_reverse_complement_symmetry_padding_and_positions(x64):
    rng = np.random.default_rng(5)
    widths = (3, 5)
    model = MotifModel(2, widths, both_strands=True, rngs=nnx.Rngs(0))
    _randomise(model, rng)
    x = rng.integers(0, 4, (6, 14))
    both = np.concatenate([x, _revcomp(x)])
    # padding: probes written into longer rows of junk, with their true length
    lengths = np.repeat([14, 9, 9], 6)
    padded = rng.integers(0, 4, (18, 20))
    padded[:6, :14] = x
    padded[6:12, :9] = padded[12:, :9] = x[:, :9]
    s, s_pad = (np.asarray(v) for v in _scores(model, both, padded, lengths))
    np.testing.assert_allclose(s[:6], s[6:], atol=1e-6)  # strand symmetry
    assert (s > 0).all()
    np.testing.assert_allclose(s_pad[:6], s[:6], atol=1e-10)  # junk after the length is ignored
    np.testing.assert_allclose(s_pad[6:12], s_pad[12:], atol=1e-10)
    assert np.abs(s_pad[6:12] - s[:6]).max() > 1e-3  # ... but the length is used
    # a site starting at t in x starts at L - W - t in revcomp(x)
    pos, pos_rc = (
        np.asarray(model.motif_positions(v, per_motif=True)) for v in (x[0], _revcomp(x[0]))
    )
    for m, W in enumerate(widths):
        np.testing.assert_allclose(pos_rc[: 15 - W, m], pos[: 15 - W, m][::-1], atol=1e-9)
        np.testing.assert_allclose(pos[15 - W :, m], 0.0, atol=1e-12)  # no room for a site
    assert pos.min() >= -1e-12 and pos.sum(1).max() <= 1 + 1e-9


def test_zero_head_rnn_equals_static():
    rng = np.random.default_rng(7)
    static = MotifModel(1, 4, readout="identity", rngs=nnx.Rngs(0))  # intensity = score
    _randomise(static, rng)
    x = rng.integers(0, 4, (5, 16))
    rnn = MotifModel.from_static(static, rnn="gru", hidden_size=8, num_layers=2, rngs=nnx.Rngs(3))
    s_static, s_rnn = np.asarray(static(x)), np.asarray(rnn(x))
    assert s_static.std() > 0.1
    np.testing.assert_allclose(s_rnn, s_static, rtol=1e-5, atol=1e-5)
    rnn.head.kernel[...] = jnp.asarray(rng.normal(size=rnn.head.kernel.shape), jnp.float32)
    assert np.abs(np.asarray(rnn(x)) - s_static).max() > 1e-2
    assert rnn.n_parameters() > static.n_parameters()


def test_freeze_pwm_filter_and_errors():
    model = MotifModel(2, (3, 4), rngs=nnx.Rngs(0))
    pwm_state = nnx.state(model, nnx.PathContains("pwm"))
    assert sum(np.size(v) for v in jax.tree.leaves(pwm_state)) == 4 * (3 + 4)
    with pytest.raises(ValueError, match="not a DNA symbol"):
        model.score(np.array([0, 1, 4, 2]))
    with pytest.raises(ValueError, match="must be \\[B, L\\]"):
        model(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="init_pwms\\[0\\] has shape"):
        MotifModel(1, 5, init_pwms=[np.full((4, 4), 0.25)], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="row 1 sums to"):
        MotifModel(1, 2, init_pwms=[np.array([[1, 0, 0, 0], [0.5, 0.6, 0, 0]])], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="transitions="):
        MotifModel(1, 2, transitions="hmm", rngs=nnx.Rngs(0))


def test_kmer_seeding_finds_planted_word():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (400, 30))
    word = np.array([2, 0, 3, 0, 0, 2, 2, 1])  # GATAAGGC
    y = rng.normal(size=400)
    hits = rng.choice(400, 40, replace=False)
    for i in hits[:20]:
        x[i, 5:13] = word
    for i in hits[20:]:
        x[i, 10:18] = 3 - word[::-1]  # reverse strand
    y[hits] += 5.0
    (kmer, ratio), *_ = enriched_kmers(x, y, k=8, top_fraction=0.1)
    assert kmer in ("GATAAGGC", "GCCTTATC") and ratio > 5
    pwm = seed_from_kmers(x, y, 10, top_fraction=0.1)[0]
    assert pwm.shape == (10, 4) and np.allclose(pwm.sum(1), 1)
    assert np.allclose(pwm[0], 0.25) and pwm[1:9].max(1).min() == pytest.approx(0.7)
    assert pwm_from_kmer("ACGTAC", 4).argmax(1).tolist() == [1, 2, 3, 0]  # CGTA


# ------------------------------------------------------------------ planted motif fit
TRUE_PWM = np.array(
    [
        [0.05, 0.05, 0.85, 0.05],  # G
        [0.85, 0.05, 0.05, 0.05],  # A
        [0.05, 0.05, 0.05, 0.85],  # T
        [0.85, 0.05, 0.05, 0.05],  # A
        [0.70, 0.10, 0.10, 0.10],  # A
        [0.10, 0.10, 0.70, 0.10],  # G
        [0.05, 0.05, 0.85, 0.05],  # G
        [0.10, 0.70, 0.10, 0.10],  # C
    ]
)


def test_planted_motif_is_recovered():
    x, y, _ = planted_motif_data(1500, 36, TRUE_PWM, seed=0)
    xt, yt, xv, yv = x[:1200], y[:1200], x[1200:], y[1200:]
    seeds = seed_from_kmers(xt, yt, 8, k=8, top_fraction=0.02)
    model = MotifModel(1, 8, init_pwms=seeds, rngs=nnx.Rngs(0))
    model.init_readout(yt, xt)
    history = fit_regression(
        model,
        xt,
        yt,
        x_valid=xv,
        y_valid=yv,
        learning_rate=0.03,
        batch_size=128,
        max_epochs=5,
        patience=5,
        seed=0,
    )
    rho = history.valid_spearman[history.best_epoch]
    assert rho >= 0.8, history.valid_spearman
    assert motif_correlation(model.pwms()[0], TRUE_PWM) >= 0.9
    # training improved on the seeded start: lower training loss than after the first epoch
    assert history.train_loss[-1] < history.train_loss[0]
