"""Encoders plug into the LSGM through a small protocol (lsgm.models.encoders): a test encoder, a
causal 1-D convolution, passes the same brute-force checks as the built-in GRU — the model sums
to one over every sequence, exact inference equals enumeration — and has gradients, samples and
checkpoints; a convolution that peeks at the current observation fails the normalisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _brute import all_sequences, lsgm_joint_log_probs, perturbed
from flax import nnx
from scipy.special import logsumexp

import lsgm
from lsgm.distributions import Categorical, Gaussian
from lsgm.models.encoders import Encoder, GRUEncoder, LSTMEncoder, SteppingEncoder
from lsgm.training.checkpoint import load_checkpoint, save_checkpoint

K, V = 2, 3  # states, symbols: 3^4 = 81 sequences to enumerate


class CausalConv(nnx.Module):
    """``h[t] = tanh(b + Σ_j W_j e[t - 3 + j])`` over ``j = 0, 1, 2`` with ``e[s] = 0`` for
    ``s < 0``: kernel size 3, left-padded, so row ``t`` reads ``e[t-3..t-1]`` and
    ``__call__`` maps ``[T, D]`` to ``[T+1, H]``. ``lag=0`` shifts the window onto
    ``e[t-2..t]`` — it sees the observation it conditions (not causal: for the negative
    control). No step mode: the LSGM samples it by re-reading the prefix."""

    def __init__(self, input_dim: int, features: int, *, lag: int = 1, rngs: nnx.Rngs):
        self.input_dim, self.features, self.lag = input_dim, features, lag
        scale = 1.0 / np.sqrt(3 * input_dim)
        self.kernel = nnx.Param(scale * jax.random.normal(rngs.params(), (3, input_dim, features)))
        self.bias = nnx.Param(jnp.zeros(features))

    def __call__(self, x: jax.Array, between=None) -> jax.Array:
        T = x.shape[0]
        padded = jnp.pad(x, ((2 + self.lag, 1 - self.lag), (0, 0)))  # [T+3, D]
        windows = jnp.stack([padded[j : j + T + 1] for j in range(3)])  # [3, T+1, D]
        return jnp.tanh(jnp.einsum("jtd,jdh->th", windows, self.kernel[...]) + self.bias[...])


class WithoutSteps(nnx.Module):
    """An encoder with its step mode hidden, so sampling re-reads the prefix."""

    def __init__(self, inner: Encoder):
        self.inner, self.input_dim, self.features = inner, inner.input_dim, inner.features

    def __call__(self, x: jax.Array, between=None) -> jax.Array:
        return self.inner(x, between)


def _encoder(name: str, seed: int = 5, input_dim: int = V):
    if name == "gru":
        return GRUEncoder(input_dim, 4, rngs=nnx.Rngs(seed))
    if name == "lstm":
        return LSTMEncoder(input_dim, 3, num_layers=2, rngs=nnx.Rngs(seed))
    return CausalConv(input_dim, 4, lag=0 if name == "leaky-conv" else 1, rngs=nnx.Rngs(seed))


def _model(encoder: str, seed: int = 1, **kw) -> lsgm.LSGM:
    emission = Categorical(K, V, rngs=nnx.Rngs(0))
    return lsgm.LSGM(K, emission, encoder=_encoder(encoder), rngs=nnx.Rngs(seed), **kw)


def test_the_test_convolution_reads_exactly_the_three_previous_observations():
    conv = _encoder("conv")
    assert isinstance(conv, Encoder) and not isinstance(conv, SteppingEncoder)
    assert isinstance(_encoder("gru"), SteppingEncoder)
    x = jax.nn.one_hot(jnp.array([0, 1, 2, 1, 0, 2, 2]), V)
    h = np.asarray(conv(x))
    assert h.shape == (8, 4)
    for t in range(7):
        changed = np.asarray(conv(x.at[t].set(0.0)))  # change e[t] only
        assert np.array_equal(changed[: t + 1], h[: t + 1])  # rows 0..t never read e[t]
        assert not np.allclose(changed[t + 1 : t + 4], h[t + 1 : t + 4])  # rows t+1..t+3 do
        assert np.array_equal(changed[t + 4 :], h[t + 4 :])  # and no later row


# The convolution on three LSGM variants (the GRU and LSTM stacks have the same brute-force
# checks in tests/test_lsgm.py; as objects they build the same models, checked below).
VARIANTS = [
    {},
    dict(order=0, emission_network="per_state", initial="q0", dense_layers=1),
    dict(conditioning="emissions", dropout_placement="inputs"),
]
IDS = ["-".join(map(str, kw.values())) or "default" for kw in VARIANTS]


@pytest.mark.parametrize("kw", VARIANTS, ids=IDS)
def test_the_convolution_lsgm_is_normalised_and_exact(x64, kw):
    """``Σ_x p(x) = 1`` over all ``V^T`` sequences for T = 2 and 4 (each ``p(x_t | z_t, x_{<t})``
    is normalised only if no feature it reads has seen ``x_t``), and log Z, state posteriors
    and the Viterbi path of the potentials equal every path scored by the model's own
    conditionals, the encoder run one observation at a time."""
    model = perturbed(_model("conv", **kw))
    for T in (2, 4):
        total = np.exp(model.score_samples(all_sequences(V, T))).sum()
        np.testing.assert_allclose(total, 1.0, rtol=1e-10, err_msg=f"T={T}")
    for x in (np.array([2, 0, 1, 2]), np.array([1, 1])):
        paths, scores = lsgm_joint_log_probs(model, x)
        log_z = logsumexp(scores)
        np.testing.assert_allclose(model.log_prob(x), log_z, rtol=1e-10)
        weights = np.exp(scores - log_z)
        want = np.stack([(weights[:, None] * (paths == k)).sum(0) for k in range(K)], axis=1)
        np.testing.assert_allclose(model.posteriors(x).states, want, atol=1e-10)
        path, score = model.viterbi(x)
        np.testing.assert_array_equal(path, paths[np.argmax(scores)])
        np.testing.assert_allclose(score, scores.max(), rtol=1e-10)


def test_an_encoder_that_sees_the_current_observation_is_not_normalised(x64):
    """The negative control: the same convolution shifted by one step."""
    model = perturbed(_model("leaky-conv"))
    total = np.exp(model.score_samples(all_sequences(V, 4))).sum()
    assert abs(total - 1.0) > 1e-2, total


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_built_in_encoder_objects_build_the_string_built_models(x64, cell):
    """``encoder=GRUEncoder(...)`` / ``LSTMEncoder(...)`` is the model ``rnn="gru"`` /
    ``"lstm"`` builds: the same parameter paths and, with the same parameters, the same
    likelihood."""
    encoder = _encoder(cell)
    emission = Categorical(K, V, rngs=nnx.Rngs(0))
    by_string = lsgm.LSGM(
        K,
        emission,
        rnn=cell,
        hidden_size=encoder.features,
        num_layers=2 if cell == "lstm" else 1,
        rngs=nnx.Rngs(1),
    )
    by_object = _model(cell)
    structure = [jax.tree.structure(nnx.to_pure_dict(nnx.state(m))) for m in (by_object, by_string)]
    assert structure[0] == structure[1]
    perturbed(by_string)
    nnx.update(by_object, nnx.state(by_string))
    x = np.array([2, 0, 1, 1, 2])
    np.testing.assert_allclose(by_object.log_prob(x), by_string.log_prob(x), rtol=1e-12)


def test_padding_after_the_length_changes_nothing(x64):
    model = perturbed(_model("conv"))
    rng = np.random.default_rng(2)
    xs = [rng.integers(0, V, n) for n in (2, 5)]
    singles = [float(model.log_prob(x)) for x in xs]
    padded = np.full((2, 5), V - 1)
    for i, x in enumerate(xs):
        padded[i, : len(x)] = x
    np.testing.assert_allclose(model.score_samples(padded, lengths=[2, 5]), singles, rtol=1e-10)


def test_the_gradient_reaches_the_convolution():
    """``nnx.grad`` of the log-likelihood has a non-zero, finite part for the convolution's
    kernel and bias (fit_gradient differentiates the same function; tests/test_training_loop.py
    runs it)."""
    model = _model("conv")
    x = np.array([2, 0, 1, 2])
    grads = nnx.grad(lambda m: -m.log_prob(x))(model)
    for g in (grads.rnn.kernel[...], grads.rnn.bias[...]):
        assert np.isfinite(g).all() and np.abs(g).max() > 0


def test_sampling_without_a_step_mode():
    model = _model("conv")
    states, obs = model.sample(5, jax.random.key(0))
    assert states.shape == (5,) and obs.shape == (5,)
    assert np.isfinite(model.log_prob(obs))
    np.testing.assert_array_equal(model.sample(5, jax.random.key(0))[1], obs)  # seeded


def test_re_reading_the_prefix_samples_what_the_step_mode_samples(x64):
    emission = Gaussian(K, 2, rngs=nnx.Rngs(0))
    stepping = lsgm.LSGM(K, emission, encoder=_encoder("gru", 7, 2), rngs=nnx.Rngs(1))
    emission = Gaussian(K, 2, rngs=nnx.Rngs(0))
    rereading = lsgm.LSGM(
        K, emission, encoder=WithoutSteps(_encoder("gru", 7, 2)), rngs=nnx.Rngs(1)
    )
    want, got = stepping.sample(5, jax.random.key(4)), rereading.sample(5, jax.random.key(4))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_model_files_keep_built_in_encoders_and_refuse_custom_ones(tmp_path):
    gru = _model("gru")
    by_name = lsgm.LSGM(K, Categorical(K, V, rngs=nnx.Rngs(0)), hidden_size=4, rngs=nnx.Rngs(1))
    assert dict(gru.settings) == dict(by_name.settings)  # an object saves as its settings
    lsgm.save_model(tmp_path / "gru.lsgm", gru)
    loaded, _ = lsgm.load_model(tmp_path / "gru.lsgm")
    x = np.array([0, 2, 1, 1], np.int32)
    assert float(loaded.log_prob(x)) == float(gru.log_prob(x))

    conv = _model("conv")
    with pytest.raises(ValueError, match=r"CausalConv.*save_checkpoint"):
        lsgm.save_model(tmp_path / "conv.lsgm", conv)
    assert not (tmp_path / "conv.lsgm").exists()
    # its parameters go through a checkpoint into a model built the same way
    save_checkpoint(tmp_path / "conv.ckpt", nnx.state(conv))
    fresh = _model("conv", seed=9)
    state, _ = load_checkpoint(tmp_path / "conv.ckpt", nnx.state(fresh))
    nnx.update(fresh, state)
    assert float(fresh.log_prob(x)) == float(conv.log_prob(x))


def test_encoder_arguments_are_checked():
    emission = Categorical(K, V, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="either encoder= or hidden_size, not both"):
        lsgm.LSGM(K, emission, encoder=_encoder("gru"), hidden_size=8, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_dim = 5.*input_dim=3"):
        lsgm.LSGM(K, emission, encoder=CausalConv(5, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="not an encoder"):
        lsgm.LSGM(K, emission, encoder=lambda x: x, rngs=nnx.Rngs(0))
