"""lsgm.plots: every picture is a valid PNG/SVG written atomically; bad input raises; the
tables plot_model draws equal the model's own (for an LSGM built from an HMM: the HMM's)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from matplotlib.figure import Figure

import lsgm
from lsgm import plots
from lsgm.distributions import Bernoulli, Categorical, Gaussian, GaussianMixture, Poisson
from lsgm.training import FitHistory, GradientHistory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["Intergenic", "Exon", "Intron"]
SEQ = "ACGTACGTAACCGGTT"  # the DiffBio example's 16 bases
X8 = np.array(["ACGT".index(c) for c in SEQ[:8]], dtype=np.int32)  # 3^8 paths: brute force
PI = np.array([0.5, 0.3, 0.2])
RNG = np.random.default_rng(0)
POST = RNG.dirichlet(np.ones(3), size=16)
A = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]])
B = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.4, 0.4, 0.1], [0.4, 0.1, 0.1, 0.4]])
PWM = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]])
ROLL = (RNG.random((40, 88)) < 0.05).astype(np.float32)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000


def assert_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert len(list(root.iter())) > 20  # something was drawn


# Every public plotting function with small valid input: name -> call(path).
CALLS = {
    "posteriors": lambda p: plots.plot_posteriors(POST, p, state_names=NAMES, symbols=SEQ),
    "transitions": lambda p: plots.plot_transition_matrix(A, p, state_names=NAMES),
    "emissions": lambda p: plots.plot_emission_matrix(B, p, state_names=NAMES, symbols="ACGT"),
    "viterbi": lambda p: plots.plot_viterbi_path(
        POST.argmax(1), p, state_names=NAMES, true_states=np.zeros(16, int), symbols=SEQ
    ),
    "training": lambda p: plots.plot_training_curve(
        {"train": [3.0, 2.0, 1.5], "valid": [3.1, 2.4]}, p
    ),
    "logo": lambda p: plots.plot_sequence_logo(PWM, p, title="motif"),
    "piano_roll": lambda p: plots.plot_piano_roll(ROLL, p, step_seconds=0.125),
}


@pytest.mark.parametrize("name", CALLS)
def test_writes_png_and_svg(tmp_path, name):
    import matplotlib.pyplot as plt  # only to check that no pyplot figure is left open

    for suffix, check in ((".png", assert_png), (".svg", assert_svg)):
        out = tmp_path / f"{name}{suffix}"
        assert CALLS[name](str(out)) == out
        check(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.png", f"{name}.svg"]
    assert plt.get_fignums() == []


def test_one_drawing_saved_as_png_and_svg(tmp_path):
    """The matrix heatmaps take several paths: drawn once, saved to each, the first
    returned; a bad suffix among them is refused before anything is written."""
    both = [tmp_path / "t.png", tmp_path / "t.svg"]
    assert plots.plot_transition_matrix(A, both, state_names=NAMES) == both[0]
    assert_png(both[0])
    assert_svg(both[1])
    with pytest.raises(ValueError, match="suffix"):
        plots.plot_emission_matrix(B, [tmp_path / "e.png", tmp_path / "e.pdf"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.png", "t.svg"]


def test_variants_long_inputs_and_other_kinds(tmp_path):
    """Long sequences (no letters), Gaussian/Bernoulli/Poisson tables, probability logos,
    velocity piano rolls, protein logos."""
    long_post = RNG.dirichlet(np.ones(4), size=500).astype(np.float32)
    plots.plot_posteriors(long_post, tmp_path / "a.png", symbols="A" * 500)
    plots.plot_viterbi_path(long_post.argmax(1), tmp_path / "b.png")
    plots.plot_emission_matrix(RNG.normal(size=(3, 5)), tmp_path / "c.png", kind="gaussian")
    plots.plot_emission_matrix(RNG.random((22, 3)), tmp_path / "d.png", kind="bernoulli")
    plots.plot_emission_matrix(RNG.random((2, 3)) * 9, tmp_path / "e.png", kind="poisson")
    plots.plot_sequence_logo(PWM, tmp_path / "f.png", information=False)
    protein = RNG.dirichlet(np.ones(20), size=3)
    plots.plot_sequence_logo(protein, tmp_path / "g.png", alphabet="ACDEFGHIKLMNPQRSTVWY")
    plots.plot_piano_roll(ROLL * 100, tmp_path / "h.png", lowest_note=21)
    for p in tmp_path.iterdir():
        assert_png(p)
    assert len(list(tmp_path.iterdir())) == 8


def test_failed_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plots.plot_transition_matrix(A, tmp_path / "new.png")
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.png"
    old.write_bytes(b"previous")
    with pytest.raises(OSError, match="disk full"):
        plots.plot_posteriors(POST, old)
    assert old.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [old]


@pytest.mark.parametrize("name", ["transitions", "logo", "piano_roll"])
def test_unsupported_suffix(tmp_path, name):
    with pytest.raises(ValueError, match=r"'\.jpg'.*\.png, \.svg"):
        CALLS[name](tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


NAN_POST = POST.copy()
NAN_POST[3, 1] = np.nan
BAD = [
    (lambda p: plots.plot_posteriors(POST[:, :2], p), r"probs: row \[0\] sums to"),
    (lambda p: plots.plot_posteriors(NAN_POST, p), r"probs: entry \[3, 1\] is nan"),
    (lambda p: plots.plot_posteriors(POST[0], p), r"probs: expected a \[T, K\] array"),
    (lambda p: plots.plot_posteriors(POST, p, symbols="ACGT"), "symbols: has 4 letters"),
    (lambda p: plots.plot_posteriors(POST, p, state_names=["a", "b"]), "state_names: has 2"),
    (lambda p: plots.plot_transition_matrix(B, p), r"A: expected a square"),
    (lambda p: plots.plot_transition_matrix(A * 2, p), r"A: entry \[0, 0\] = 1.6 is not a prob"),
    (lambda p: plots.plot_emission_matrix(B, p, symbols="ACG"), "symbols: has 3 entries"),
    (lambda p: plots.plot_emission_matrix(B, p, kind="beta"), "kind: 'beta' is not supported"),
    (lambda p: plots.plot_emission_matrix(-B, p, kind="poisson"), "B: a Poisson rate is negative"),
    (lambda p: plots.plot_viterbi_path(np.array([0, -1]), p), r"states: entry \[1\] = -1"),
    (lambda p: plots.plot_viterbi_path(np.array([0.0, 1.0]), p), "states: dtype float64"),
    (lambda p: plots.plot_viterbi_path(np.array([0, 3]), p, state_names=NAMES), r"entry \[1\] = 3"),
    (lambda p: plots.plot_viterbi_path([0, 1], p, true_states=[0]), "true_states: has 1 posit"),
    (lambda p: plots.plot_training_curve({"train": [1.0, np.inf]}, p), r"'train'\]: entry \[1\]"),
    (lambda p: plots.plot_training_curve({}, p), "curves: the dict is empty"),
    (lambda p: plots.plot_training_curve([1.0, 2.0], p), "curves: expected a dict"),
    (lambda p: plots.plot_sequence_logo(PWM[:, :3], p), "pwm: has 3 columns"),
    (lambda p: plots.plot_sequence_logo(PWM * 0.5, p), r"pwm: row \(position\) \[0\] sums"),
    (lambda p: plots.plot_sequence_logo(PWM, p, alphabet="AACG"), "alphabet: 'AACG' repeats"),
    (lambda p: plots.plot_piano_roll(-ROLL, p), r"roll: entry \[\d+, \d+\] = -1 is negative"),
    (lambda p: plots.plot_piano_roll(ROLL, p, lowest_note=60), "notes 60..147 leave the MIDI"),
    (lambda p: plots.plot_piano_roll(ROLL, p, step_seconds=0.0), "step_seconds: 0.0 is not"),
]


@pytest.mark.parametrize("call, match", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_and_writes_nothing(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_logo_heights_are_information_content():
    # IC = log2(4) - H: a certain column carries 2 bits, a uniform one 0, {A,C} halves 1 bit.
    h = plots.logo_heights(PWM)
    H = -(0.1 * np.log2(0.1) + 0.2 * np.log2(0.2) + 0.3 * np.log2(0.3) + 0.4 * np.log2(0.4))
    expected = np.vstack([[2, 0, 0, 0], [0, 0, 0, 0], [0.5, 0.5, 0, 0], PWM[3] * (2 - H)])
    np.testing.assert_allclose(h, expected, atol=1e-12)
    np.testing.assert_array_equal(plots.logo_heights(PWM, information=False), PWM)


def test_note_names():
    assert [plots.note_name(n) for n in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


def test_history_curves():
    fit = FitHistory(log_likelihoods=[-30.0, -25.0])
    assert plots.history_curves(fit) == (
        {"EM": [30.0, 25.0]},
        "EM iteration",
        "negative log-likelihood",
    )
    grad = GradientHistory(train_nll=[2.0, 1.0], valid_nll=[2.5, 1.5])
    curves, xlabel, _ = plots.history_curves(grad)
    assert curves == {"train": [2.0, 1.0], "valid": [2.5, 1.5]} and xlabel == "epoch"
    with pytest.raises(ValueError, match="history: a int is not a training history"):
        plots.history_curves(3)


@pytest.fixture(scope="module")
def hmm():
    return lsgm.HMM.from_probs(PI, A, Categorical.from_probs(B))


def brute_force(x) -> tuple[np.ndarray, np.ndarray]:
    """Posteriors ``[T, K]`` and the Viterbi path of the (PI, A, B) HMM by enumerating all
    ``K^T`` paths (float64)."""
    T, K = len(x), len(PI)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    log_p = np.log(PI)[paths[:, 0]] + np.log(B)[paths, x].sum(1)
    log_p += np.log(A)[paths[:, :-1], paths[:, 1:]].sum(1)
    w = np.exp(log_p - log_p.max())
    w /= w.sum()
    post = np.stack([np.bincount(paths[:, t], w, K) for t in range(T)])
    return post, paths[np.argmax(log_p)]


def test_plot_model_hmm(tmp_path, hmm):
    written = plots.plot_model(
        hmm,
        X8,
        tmp_path / "figs",
        state_names=NAMES,
        symbols="ACGT",
        history={"train": [3.0, 2.0]},
        true_states=np.zeros(8, int),
    )
    names = ["posteriors", "transitions", "emissions", "viterbi", "training"]
    assert written == [tmp_path / "figs" / f"{n}.png" for n in names]
    for p in written:
        assert_png(p)
    s = plots.summarise(hmm, X8)
    post, path = brute_force(X8)
    np.testing.assert_allclose(s.posteriors, post, atol=1e-5)
    np.testing.assert_array_equal(s.path, path)
    np.testing.assert_allclose(s.transitions, A, atol=1e-6)
    np.testing.assert_allclose(s.emissions, B, atol=1e-6)
    assert (s.emission_kind, s.transition_note, s.emission_note) == ("categorical", "", "")
    # a bad argument is caught before the first file is written
    with pytest.raises(ValueError, match="true_states: expected 8 labels in 0..2"):
        plots.plot_model(hmm, X8, tmp_path / "bad", true_states=np.full(8, 3))
    with pytest.raises(ValueError, match="state_names: has 2 entries"):
        plots.plot_model(hmm, X8, tmp_path / "bad", state_names=["a", "b"])
    with pytest.raises(ValueError, match="fmt: 'jpg' is not a supported format"):
        plots.plot_model(hmm, X8, tmp_path / "bad", fmt="jpg")
    assert list((tmp_path / "bad").iterdir()) == []
    with pytest.raises(ValueError, match="x: symbol 4 at position 0"):
        plots.summarise(hmm, np.array([4, 0], np.int32))
    with pytest.raises(ValueError, match="model: a Categorical is not an lsgm.HMM"):
        plots.summarise(hmm.emission, X8)


def test_static_emission_tables():
    means, rates = np.array([[-1.0, 0.5], [2.0, 0.0]]), np.array([[0.5, 3.0], [1.0, 2.0]])
    g = Gaussian.from_params(means, np.ones((2, 2)), covariance="diag")
    table, kind = plots.static_emission_table(g)
    np.testing.assert_allclose(table, means, atol=1e-6)
    assert kind == "gaussian"
    table, kind = plots.static_emission_table(Poisson.from_rates(rates))
    np.testing.assert_allclose(table, rates, rtol=1e-6)
    assert kind == "poisson"
    table, kind = plots.static_emission_table(Bernoulli.from_probs([[0.2, 0.9]]))
    np.testing.assert_allclose(table, [[0.2, 0.9]], atol=1e-6)
    assert kind == "bernoulli"
    # a mixture state's mean is the weighted mean of its components' means
    mix = GaussianMixture.from_params(
        [[0.25, 0.75]], [[[0.0], [4.0]]], np.ones((1, 2, 1)), covariance="diag"
    )
    table, kind = plots.static_emission_table(mix)
    np.testing.assert_allclose(table, [[3.0]], atol=1e-5)


def test_plot_model_lsgm(tmp_path, hmm):
    # An LSGM built from an HMM starts exactly at it: the step-averaged tables are the HMM's.
    model = lsgm.LSGM.from_hmm(hmm, hidden_size=4, embedding_dim=2, rngs=nnx.Rngs(0))
    s = plots.summarise(model, X8)
    np.testing.assert_allclose(s.transitions, A, atol=1e-5)
    np.testing.assert_allclose(s.emissions, B, atol=1e-5)
    np.testing.assert_allclose(s.posteriors, brute_force(X8)[0], atol=1e-5)
    assert s.transition_note == "mean over the sequence's 7 steps"
    assert s.emission_note == "mean over the sequence's 8 steps"
    # Perturbed networks: tables move away from the HMM's but stay stochastic.
    rng = np.random.default_rng(1)
    noisy = jax.tree.map(lambda v: v + rng.normal(size=v.shape), nnx.state(model, nnx.Param))
    nnx.update(model, noisy)
    s = plots.summarise(model, X8)
    assert np.abs(s.transitions - A).max() > 0.01
    np.testing.assert_allclose(s.transitions.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(s.emissions.sum(1), 1, atol=1e-5)
    written = plots.plot_model(
        model,
        X8,
        tmp_path,
        symbols="ACGT",
        history=GradientHistory(train_nll=[2.0, 1.8]),
        fmt="svg",
    )
    assert [p.name for p in written] == [
        "posteriors.svg",
        "transitions.svg",
        "emissions.svg",
        "viterbi.svg",
        "training.svg",
    ]
    for p in written:
        assert_svg(p)
    with pytest.raises(ValueError, match="a 1-step sequence has none"):
        plots.summarise(model, X8[:1])
    model.dropout = nnx.Dropout(0.5, rngs=nnx.Rngs(2))  # as if built with dropout=0.5
    model.train()
    with pytest.raises(ValueError, match=r"model: is in training mode.*call model.eval\(\)"):
        plots.summarise(model, X8)
