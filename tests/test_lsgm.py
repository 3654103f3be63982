"""The LSGM: exact inference equals enumeration over its own conditionals, for every variant."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _brute import lsgm_joint_log_probs
from flax import nnx
from scipy.special import logsumexp

import lsgm
from lsgm.distributions import Bernoulli, Categorical, Gaussian
from lsgm.inference import posteriors, viterbi

K = 3
# Every value of every option appears (a covering design rather than the full product).
VARIANTS = [
    dict(conditioning="full", order=1, emission_network="shared", rnn="gru"),
    dict(conditioning="full", order=0, emission_network="per_state", rnn="lstm", dense_layers=1),
    dict(conditioning="transitions", order=1, emission_network="shared", rnn="lstm"),
    dict(conditioning="transitions", order=0, emission_network="per_state", rnn="gru"),
    dict(conditioning="emissions", order=1, emission_network="per_state", rnn="gru", initial="q0"),
    dict(conditioning="emissions", order=0, emission_network="shared", rnn="lstm"),
]
FAMILIES = {
    "categorical": (lambda: Categorical(K, 4, rngs=nnx.Rngs(0)), lambda r: r.integers(0, 4, 4)),
    "gaussian": (lambda: Gaussian(K, 2, rngs=nnx.Rngs(0)), lambda r: r.normal(size=(4, 2))),
    "bernoulli": (lambda: Bernoulli(K, 3, rngs=nnx.Rngs(0)), lambda r: r.integers(0, 2, (4, 3))),
}


def _model(family, variant, seed=1):
    make_emission, _ = FAMILIES[family]
    return lsgm.LSGM(K, make_emission(), hidden_size=4, rngs=nnx.Rngs(seed), **variant)


# All variants on Categorical; the GRU variants on the other families (keeps CI fast).
CASES = [
    pytest.param(family, variant, id=f"{family}-" + "-".join(map(str, variant.values())))
    for family in FAMILIES
    for variant in VARIANTS
    if family == "categorical" or variant["rnn"] == "gru"
]


@pytest.mark.parametrize("family,variant", CASES)
def test_inference_equals_enumeration(x64, family, variant):
    model = _model(family, variant)
    x = FAMILIES[family][1](np.random.default_rng(0))
    paths, scores = lsgm_joint_log_probs(model, x)
    log_z = logsumexp(scores)
    np.testing.assert_allclose(model.log_prob(x), log_z, rtol=1e-6)
    post = model.posteriors(x)
    weights = np.exp(scores - log_z)
    want = np.stack([(weights[:, None] * (paths == k)).sum(0) for k in range(K)], axis=1)
    np.testing.assert_allclose(post.states, want, atol=1e-6)
    path, score = model.viterbi(x)
    np.testing.assert_array_equal(path, paths[np.argmax(scores)])
    np.testing.assert_allclose(score, scores.max(), rtol=1e-6)


def test_zero_network_outputs_equal_the_hmm(x64):
    rng = np.random.default_rng(1)
    hmm = lsgm.HMM.from_probs(
        rng.dirichlet(np.ones(K)),
        rng.dirichlet(np.ones(K), size=K),
        Categorical.from_probs(rng.dirichlet(np.ones(4), size=K)),
    )
    xs = [rng.integers(0, 4, n) for n in (7, 3, 12)]
    for network in ("shared", "per_state"):
        model = lsgm.LSGM.from_hmm(hmm, hidden_size=5, emission_network=network, rngs=nnx.Rngs(3))
        np.testing.assert_allclose(model.score(xs), hmm.score(xs), rtol=1e-10)
        for got, want in zip(model.predict_proba(xs), hmm.predict_proba(xs), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-10)


def test_padded_equals_unpadded_and_batch_equals_single(x64):
    model = _model("categorical", VARIANTS[0])
    rng = np.random.default_rng(2)
    xs = [rng.integers(0, 4, n) for n in (6, 2, 9)]
    singles = [float(model.log_prob(x)) for x in xs]
    np.testing.assert_allclose(model.score_samples(xs), singles, rtol=1e-10)
    padded = np.zeros((3, 9), int)
    for i, x in enumerate(xs):
        padded[i, : len(x)] = x
        padded[i, len(x) :] = 3  # junk after the end must not matter
    np.testing.assert_allclose(model.score_samples(padded, lengths=[6, 2, 9]), singles, rtol=1e-10)
    post = posteriors(model.potentials(jnp.asarray(padded[0])), length=6)
    np.testing.assert_allclose(post.states[:6], model.posteriors(xs[0]).states, atol=1e-10)
    np.testing.assert_array_equal(
        viterbi(model.potentials(jnp.asarray(padded[0])), 6)[0][:6], model.viterbi(xs[0])[0]
    )


def test_gradients_match_finite_differences(x64):
    model = _model("gaussian", VARIANTS[0])
    x = jnp.asarray(np.random.default_rng(3).normal(size=(5, 2)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)  # nnx layers default to f32

    @jax.jit  # one compile for the 25 evaluations below
    def f(p):
        return nnx.merge(graphdef, p, rest).log_prob(x)

    grads = jax.jit(jax.grad(f))(params)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    flat_grad, _ = jax.flatten_util.ravel_pytree(grads)
    rng = np.random.default_rng(4)
    for i in rng.choice(flat.size, 12, replace=False):
        e = jnp.zeros_like(flat).at[i].set(1e-6)
        fd = (f(unravel(flat + e)) - f(unravel(flat - e))) / 2e-6
        np.testing.assert_allclose(flat_grad[i], fd, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sampling_is_autoregressive_and_well_shaped(family):
    model = _model(family, VARIANTS[0])
    states, obs = model.sample(30, jax.random.key(0))
    assert states.shape == (30,)
    assert obs.shape[0] == 30
    assert np.isfinite(model.log_prob(obs))
    again = model.sample(30, jax.random.key(0))
    np.testing.assert_array_equal(again[0], states)  # seeded


def test_bad_input():
    model = _model("gaussian", VARIANTS[0])
    with pytest.raises(ValueError, match="sequence 0"):
        model.score([np.zeros((4, 3))])  # wrong feature dimension
    bad = np.zeros((4, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="sequence 0"):
        model.score([bad])
    with pytest.raises(ValueError, match="empty batch"):
        model.score([])
    with pytest.raises(ValueError, match=r"length 9 is outside \[1, T=4\]"):
        model.score(np.zeros((1, 4, 2)), lengths=[9])
    with pytest.raises(ValueError, match="cannot use a Gaussian emission with covariance='full'"):
        lsgm.LSGM(K, Gaussian(K, 2, covariance="full", rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="conditioning='both'"):
        lsgm.LSGM(K, Categorical(K, 4, rngs=nnx.Rngs(0)), conditioning="both", rngs=nnx.Rngs(0))


def test_transition_mask_respected_at_every_step():
    mask = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool)
    model = lsgm.LSGM(
        K,
        Categorical(K, 4, rngs=nnx.Rngs(0)),
        hidden_size=4,
        transition_mask=mask,
        rngs=nnx.Rngs(0),
    )
    p = model.potentials(jnp.array([0, 1, 2, 3, 0]))
    assert np.all(np.isneginf(np.asarray(p.log_trans)[:, ~mask]))


# shared and per-state networks, a static emission, dense layers, LSTM, q0, no conditioning
@pytest.mark.parametrize(
    "variant", [*VARIANTS[:2], *VARIANTS[3:5], dict(conditioning="none")], ids=str
)
def test_n_parameters_counts_exactly_what_the_likelihood_reads(variant):
    """``n_parameters`` = the sizes of the parameter arrays the log-likelihood has a gradient
    for (the static emission under an emission network, the RNN of an unconditioned model
    are not counted)."""
    model = _model("gaussian", variant)
    x = FAMILIES["gaussian"][1](np.random.default_rng(2))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    leaves, tree = jax.tree.flatten(params)  # perturbed: no gradient vanishes by accident
    noise = np.random.default_rng(3)
    params = tree.unflatten([p + 0.3 * noise.standard_normal(np.shape(p)) for p in leaves])

    def log_lik(p):
        return nnx.merge(graphdef, p, rest).log_prob(x)

    grads = jax.jit(jax.grad(log_lik))(params)
    read = sum(int(np.size(g)) for g in jax.tree.leaves(grads) if np.any(np.asarray(g) != 0))
    assert model.n_parameters() == read
