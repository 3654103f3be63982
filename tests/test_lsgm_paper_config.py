"""The LSGM's paper configuration: the two-layer transition head, dropout before every layer
that reads the features, and the filtering-entropy term of the heating loss."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy.special import logsumexp

import lsgm
from lsgm.distributions import Bernoulli, Categorical
from lsgm.models.lsgm import TransitionMLP
from lsgm.models.serialization import build_model, model_config
from lsgm.training.gradient import batch_terms

K = 3


def _model(seed: int = 1, **kw) -> lsgm.LSGM:
    kw = {"hidden_size": 4, **kw}
    return lsgm.LSGM(K, Categorical(K, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(seed), **kw)


def _head_size(head) -> int:
    return sum(np.size(leaf) for _, leaf in nnx.to_flat_state(nnx.state(head, nnx.Param)))


@pytest.mark.parametrize(
    "order,hidden,dense,want_width",
    [(1, "auto", 0, 2 * max(4, K * K)), (0, "auto", 1, 2 * max(6, K)), (1, 5, 0, 5)],
)
def test_transition_mlp_shapes_and_parameter_count(order, hidden, dense, want_width):
    model = _model(order=order, transition_hidden=hidden, dense_layers=dense, dense_size=6)
    F = 6 if dense else 4
    out = K * K if order == 1 else K
    head = model.transition_head
    assert isinstance(head, TransitionMLP)
    assert head.hidden.kernel.shape == (F, want_width)
    assert head.out.kernel.shape == (want_width, out)
    # F·H + H + H·out + out, and the model count grows by exactly that minus the linear head
    assert _head_size(head) == F * want_width + want_width + want_width * out + out
    linear = _model(order=order, dense_layers=dense, dense_size=6)
    assert model.n_parameters() - linear.n_parameters() == _head_size(head) - (F * out + out)
    x = jnp.array([0, 3, 1, 2, 2, 0])
    log_trans = np.asarray(model.potentials(x).log_trans)
    assert log_trans.shape == (5, K, K)
    np.testing.assert_allclose(np.exp(log_trans).sum(-1), 1.0, rtol=1e-5)
    u = model.features(x)
    assert model.log_transition(u[1:3]).shape == (2, K, K)


def test_transition_mlp_with_zero_output_equals_the_hmm(x64):
    rng = np.random.default_rng(1)
    hmm = lsgm.HMM.from_probs(
        rng.dirichlet(np.ones(K)),
        rng.dirichlet(np.ones(K), size=K),
        Categorical.from_probs(rng.dirichlet(np.ones(4), size=K)),
    )
    xs = [rng.integers(0, 4, n) for n in (7, 3)]
    model = lsgm.LSGM.from_hmm(hmm, hidden_size=5, transition_hidden="auto", rngs=nnx.Rngs(3))
    np.testing.assert_allclose(model.score(xs), hmm.score(xs), rtol=1e-10)


@pytest.mark.parametrize("placement", ["outputs", "inputs"])
def test_dropout_placement(monkeypatch, placement):
    """Where the masks are drawn: on the RNN and dense outputs, or before each layer reading
    the features (between RNN layers, before the dense layer, before each head)."""
    model = _model(
        num_layers=2,
        dense_layers=1,
        dense_size=6,
        dropout=0.5,
        initial="q0",
        transition_hidden="auto",
        dropout_placement=placement,
    )
    shapes = []
    original = nnx.Dropout.__call__

    def record(self, x, *args, **kw):
        shapes.append(tuple(x.shape))
        return original(self, x, *args, **kw)

    monkeypatch.setattr(nnx.Dropout, "__call__", record)
    T, H, F = 5, 4, 6
    model.train()
    model.potentials(jnp.array([0, 1, 2, 3, 0]))
    if placement == "outputs":
        assert shapes == [(T + 1, H), (T + 1, F)]
    else:  # between the RNN layers, before the dense layer, transition, emission, initial
        assert shapes == [(T, H), (T + 1, H), (T - 1, F), (T, F), (F,)]


def test_dropout_is_random_in_training_and_off_in_evaluation():
    paper = _model(dense_layers=1, dropout=0.5, dropout_placement="inputs")
    plain = _model(dense_layers=1, dropout=0.0)
    nnx.update(plain, nnx.state(paper, nnx.Param))
    x = jnp.array([0, 1, 2, 3, 0, 1])
    paper.eval()
    np.testing.assert_allclose(paper.log_prob(x), plain.log_prob(x), rtol=1e-6)
    paper.train()
    a, b = paper.potentials(x), paper.potentials(x)
    assert not np.allclose(a.log_emit, b.log_emit)


def test_settings_round_trip_and_defaults_unchanged():
    default = _model()
    assert "transition_hidden" not in dict(default.settings)
    assert "dropout_placement" not in dict(default.settings)
    paper = lsgm.LSGM(
        K,
        Bernoulli(K, 3, rngs=nnx.Rngs(0)),
        hidden_size=4,
        transition_hidden="auto",
        dropout=0.5,
        dropout_placement="inputs",
        rngs=nnx.Rngs(1),
    )
    settings = dict(paper.settings)
    assert settings["transition_hidden"] == "auto"
    assert settings["dropout_placement"] == "inputs"
    again = build_model(model_config(paper))
    shapes = nnx.to_flat_state(nnx.state(again, nnx.Param))
    want = nnx.to_flat_state(nnx.state(paper, nnx.Param))
    assert [(p, np.shape(v)) for p, v in shapes] == [(p, np.shape(v)) for p, v in want]


def test_bad_options():
    for bad in (0, -2, "big", True, 1.5):
        with pytest.raises(ValueError, match="transition_hidden"):
            _model(transition_hidden=bad)
    with pytest.raises(ValueError, match="dropout_placement='before'"):
        _model(dropout_placement="before")


def _numpy_filter_terms(log_init, log_trans, log_emit, n):
    """``(log p(x_{1:n}), sum_t H(p(z_t | x_{1:t})))`` by the normalised forward recursion."""
    alpha = log_init + log_emit[0]
    log_z, entropy = 0.0, 0.0
    for t in range(n):
        if t > 0:
            alpha = logsumexp(alpha[:, None] + log_trans[t - 1], axis=0) + log_emit[t]
        norm = logsumexp(alpha)
        log_z, alpha = log_z + norm, alpha - norm
        p = np.exp(alpha)
        entropy -= float((p * alpha).sum())
    return log_z, entropy


def test_entropy_term_equals_numpy(x64):
    """batch_terms' second output (the heating term) is sum_n w_n sum_t H(p(z_t | x_{n,1:t}))."""
    model = _model(
        dense_layers=1, dropout=0.5, transition_hidden="auto", dropout_placement="inputs"
    )
    model.eval()
    rng = np.random.default_rng(5)
    data = jnp.asarray(rng.integers(0, 4, (3, 6)))
    lengths = jnp.array([6, 4, 1])
    weights = jnp.array([1.0, 0.5, 2.0])
    log_z, entropy, steps = batch_terms(model, data, lengths, weights, entropy=True)
    want_z, want_h = 0.0, 0.0
    for x, n, w in zip(np.asarray(data), [6, 4, 1], [1.0, 0.5, 2.0], strict=True):
        p = model.potentials(jnp.asarray(x))
        z, h = _numpy_filter_terms(
            np.asarray(p.log_init), np.asarray(p.log_trans), np.asarray(p.log_emit), n
        )
        want_z, want_h = want_z + w * z, want_h + w * h
    np.testing.assert_allclose(float(log_z), want_z, rtol=1e-10)
    np.testing.assert_allclose(float(entropy), want_h, rtol=1e-10)
    assert float(steps) == 6 + 0.5 * 4 + 2 * 1
    assert 0 < float(entropy) <= float(steps) * np.log(K)
