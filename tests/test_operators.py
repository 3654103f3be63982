"""lsgm.operators.DifferentiableHMM: DiffBio compatibility, exactness, training, freezing."""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import BruteForce
from flax import nnx

import lsgm
from lsgm import inference
from lsgm.inference import Potentials
from lsgm.operators import DifferentiableHMM, FrozenParam, HMMConfig

DOC_OBSERVATIONS = [0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 1, 2, 2, 3, 3]


def _softmax(logits, axis=-1):
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _probs(hmm):
    """(pi, A, B) computed here with numpy from the raw logits and the temperature."""
    tau = hmm.config.temperature
    return (
        _softmax(np.asarray(hmm.log_initial_params[...]) / tau),
        _softmax(np.asarray(hmm.log_transition_params[...]) / tau, axis=1),
        _softmax(np.asarray(hmm.log_emission_params[...]) / tau, axis=1),
    )


def _np_forward(pi, A, B_cols):
    """Scaled forward algorithm in numpy; ``B_cols[t, k] = p(x_t | z_t = k)``."""
    alpha, log_lik = pi * B_cols[0], 0.0
    for t in range(1, len(B_cols)):
        c = alpha.sum()
        log_lik += np.log(c)
        alpha = (alpha / c) @ A * B_cols[t]
    return log_lik + np.log(alpha.sum())


#: Training data of the doc's length (16), with structure to learn (A-rich then G/T-rich).
TRAIN = {"observations": jnp.array([0, 0, 0, 0, 0, 0, 1, 0, 3, 3, 2, 3, 3, 3, 3, 2])}


def _nll(model, data):
    result, _, _ = model.apply(data, {}, None)
    return -result["log_likelihood"]


@nnx.jit
def _correct_step(model, optimizer, data):
    loss, grads = nnx.value_and_grad(_nll)(model, data)
    optimizer.update(model, grads)
    return loss


def _eager_step(model, optimizer, data):
    loss, grads = nnx.value_and_grad(_nll)(model, data)
    optimizer.update(model, grads)
    return loss


def _train(model, data, steps, lr=1e-2, jit=False):
    """The correct loop of docs/operators.md (eager by default: the kernels' compilations are
    cached across models, an nnx.jit step compiles once per model configuration)."""
    optimizer = nnx.Optimizer(model, optax.adam(lr), wrt=nnx.Param)
    step = _correct_step if jit else _eager_step
    return [float(step(model, optimizer, data)) for _ in range(steps)]


# --------------------------------------------------------------------- the DiffBio document


def test_diffbio_document_runs_with_only_the_import_changed(capsys):
    # Prerequisites (the import line is the only change)
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    # Step 1: Configure the HMM
    config = HMMConfig(
        num_states=3,  # Hidden states
        num_emissions=4,  # Observation symbols (DNA bases)
        temperature=1.0,  # Temperature for softmax
    )
    rngs = nnx.Rngs(42)
    hmm = DifferentiableHMM(config, rngs=rngs)

    print(f"Number of states: {config.num_states}")
    print(f"Number of emissions: {config.num_emissions}")

    # Step 2: Create Observation Sequence
    observations = jnp.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 1, 2, 2, 3, 3])

    print(f"Observation sequence: {observations.tolist()}")
    print(f"Sequence length: {len(observations)}")

    # Step 3: Compute Likelihood and Posteriors
    data = {"observations": observations}
    result, _, _ = hmm.apply(data, {}, None)

    log_likelihood = result["log_likelihood"]
    posteriors = result["state_posteriors"]

    print(f"Log likelihood: {float(log_likelihood):.4f}")
    print(f"Posteriors shape: {posteriors.shape}")

    # Step 4: Analyze State Posteriors
    print("\nState posteriors (first 5 positions):")
    state_names = ["Intergenic", "Exon", "Intron"]
    for i in range(5):
        probs = posteriors[i]
        print(f"  Position {i}: ", end="")
        for j, name in enumerate(state_names):
            print(f"{name[:3]}={float(probs[j]):.3f} ", end="")
        print()

    # Differentiability
    def loss_fn(hmm, data):
        """Negative log-likelihood loss."""
        result, _, _ = hmm.apply(data, {}, None)
        return -result["log_likelihood"]

    # Compute gradients
    grads = nnx.grad(loss_fn)(hmm, data)
    print("Differentiable: Yes (gradient computation successful)")

    # Training the HMM
    import optax

    # Create optimizer
    optimizer = optax.adam(learning_rate=0.01)
    opt_state = optimizer.init(nnx.state(hmm))

    # Training step
    def train_step(hmm, data, opt_state):
        def loss_fn(model):
            result, _, _ = model.apply(data, {}, None)
            return -result["log_likelihood"]

        loss, grads = nnx.value_and_grad(loss_fn)(hmm)
        updates, opt_state = optimizer.update(grads, opt_state)
        nnx.update(hmm, updates)
        return loss, opt_state

    doc_losses = []
    for _epoch in range(3):
        loss, opt_state = train_step(hmm, data, opt_state)
        doc_losses.append(float(loss))

    # Soft Observations
    soft_obs = jnp.array(
        [
            [0.9, 0.05, 0.03, 0.02],  # Likely A
            [0.1, 0.7, 0.1, 0.1],  # Likely C
            [0.05, 0.05, 0.85, 0.05],  # Likely G
            # ...
        ]
    )

    # Use forward_soft for soft observations
    log_prob = hmm.forward_soft(soft_obs)

    # ---- assertions on what the document printed and computed
    out = capsys.readouterr().out
    assert "Number of states: 3\nNumber of emissions: 4\n" in out
    assert f"Observation sequence: {DOC_OBSERVATIONS}\nSequence length: 16\n" in out
    assert "Posteriors shape: (16, 3)\n" in out
    rows = re.findall(r"  Position (\d): Int=(0\.\d{3}) Exo=(0\.\d{3}) Int=(0\.\d{3}) \n", out)
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4]
    for r in rows:  # printed posteriors: a distribution over the 3 states, near uniform
        assert abs(sum(float(v) for v in r[1:]) - 1.0) <= 0.002
        assert all(0.2 < float(v) < 0.5 for v in r[1:])
    assert "Differentiable: Yes" in out
    assert posteriors.shape == (16, 3)
    np.testing.assert_allclose(np.asarray(posteriors).sum(axis=1), 1.0, rtol=1e-5)
    # near-uniform random init: log-likelihood close to 16 * log(1/4), as in the document
    assert abs(float(log_likelihood) - 16 * np.log(0.25)) < 0.5
    assert set(nnx.to_pure_dict(nnx.state(hmm))) == {
        "log_initial_params",
        "log_transition_params",
        "log_emission_params",
    }
    assert set(nnx.to_pure_dict(grads)) == set(nnx.to_pure_dict(nnx.state(hmm)))
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(nnx.to_pure_dict(grads)))
    assert np.isfinite(doc_losses).all()
    assert np.isfinite(float(log_prob)) and float(log_prob) < 0
    # The document's nnx.update(hmm, updates) REPLACES the parameters by Adam's updates
    # (magnitude ~ learning rate) instead of adding them: that is the documented bug.
    for leaf in jax.tree.leaves(nnx.to_pure_dict(nnx.state(hmm))):
        assert np.abs(np.asarray(leaf)).max() <= 0.0101


# --------------------------------------------------------------------- exactness


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_matches_kernels_bruteforce_and_numpy_forward(x64, temperature):
    hmm = DifferentiableHMM(
        HMMConfig(num_states=3, num_emissions=4, temperature=temperature), rngs=nnx.Rngs(7)
    )
    # larger logits than the near-uniform init, so that the test has teeth
    for var in (hmm.log_initial_params, hmm.log_transition_params, hmm.log_emission_params):
        var[...] = var[...] * 15.0
    assert hmm.log_emission_params[...].dtype == jnp.float64
    pi, A, B = _probs(hmm)
    x = np.array([0, 3, 3, 1, 2, 0])
    result, _, _ = hmm.apply({"observations": jnp.asarray(x)}, {}, None)

    p = Potentials(np.log(pi), np.log(A), np.log(B).T[x])
    post = inference.posteriors(p)
    path, _ = inference.viterbi(p)
    np.testing.assert_allclose(result["log_likelihood"], post.log_z, rtol=1e-12)
    np.testing.assert_allclose(result["state_posteriors"], post.states, atol=1e-12)
    np.testing.assert_array_equal(result["viterbi_path"], path)

    brute = BruteForce(p)
    states, _ = brute.marginals()
    np.testing.assert_allclose(result["log_likelihood"], brute.log_z(), rtol=1e-12)
    np.testing.assert_allclose(result["state_posteriors"], states, atol=1e-12)
    np.testing.assert_array_equal(result["viterbi_path"], brute.viterbi()[0])
    np.testing.assert_allclose(result["log_likelihood"], _np_forward(pi, A, B.T[x]), rtol=1e-12)

    # the operator is an adapter over lsgm.HMM: the same tables, the same numbers
    model = hmm.as_hmm()
    assert isinstance(model, lsgm.HMM)
    np.testing.assert_allclose(model.transition_probs(), A, atol=1e-15)
    np.testing.assert_allclose(model.emission.probs(), B, atol=1e-15)
    np.testing.assert_allclose(model.score([x]), result["log_likelihood"], rtol=1e-12)

    # a batch: each row equals the single-sequence result and the numpy forward pass
    xs = np.random.default_rng(1).integers(0, 4, size=(3, 6))
    batch, _, _ = hmm.apply({"observations": jnp.asarray(xs)}, {}, None)
    assert batch["state_posteriors"].shape == (3, 6, 3)
    for b in range(3):
        single, _, _ = hmm.apply({"observations": jnp.asarray(xs[b])}, {}, None)
        for key in ("log_likelihood", "state_posteriors", "viterbi_path"):
            np.testing.assert_allclose(batch[key][b], single[key], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            batch["log_likelihood"][b], _np_forward(pi, A, B.T[xs[b]]), rtol=1e-12
        )
    # DiffBio's method names give the same numbers
    np.testing.assert_allclose(hmm.forward(jnp.asarray(x)), post.log_z, rtol=1e-12)
    np.testing.assert_allclose(hmm.forward_backward(jnp.asarray(x)), post.states, atol=1e-12)
    np.testing.assert_array_equal(hmm.viterbi(jnp.asarray(x)), path)


def test_gradient_is_expected_counts_minus_expected_normalisers():
    """d log p(x) / d logits = (expected counts - expected total * probabilities) / tau, the
    Fisher identity, with the counts from the kernels' smoothed marginals."""
    tau = 1.7
    hmm = DifferentiableHMM(HMMConfig(temperature=tau), rngs=nnx.Rngs(3))
    for var in (hmm.log_transition_params, hmm.log_emission_params):
        var[...] = var[...] * 10.0
    x = TRAIN["observations"]
    grads = nnx.grad(lambda m, d: -_nll(m, d))(hmm, TRAIN)
    post = inference.posteriors(hmm.potentials(x))
    pi, A, B = _probs(hmm)
    gamma, xi = np.asarray(post.states, np.float64), np.asarray(post.transitions, np.float64)
    emit_counts = gamma.T @ np.eye(4)[np.asarray(x)]  # [K, M]
    trans_counts = xi.sum(axis=0)  # [K, K]
    expected = {
        "log_initial_params": (gamma[0] - pi) / tau,
        "log_transition_params": (trans_counts - trans_counts.sum(1, keepdims=True) * A) / tau,
        "log_emission_params": (emit_counts - emit_counts.sum(1, keepdims=True) * B) / tau,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key][...], value, atol=2e-5, err_msg=key)
        assert np.abs(value).max() > 1e-2  # not a vacuous comparison


# --------------------------------------------------------------------- training and freezing


def test_correct_training_loop_lowers_the_loss():
    hmm = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(0))
    data = TRAIN
    losses = _train(hmm, data, 50, jit=True)
    final = float(_nll(hmm, data))
    assert np.isfinite(losses).all()
    assert final < losses[0] - 2.0, (losses[0], final)  # 22.5 -> 19.3 nats
    assert losses[-1] < losses[10] < losses[0]


def test_optax_apply_updates_loop_equals_nnx_optimizer_loop():
    data = TRAIN
    a = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(5))
    b = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(5))
    _train(a, data, 5)

    optimizer = optax.adam(1e-2)
    params = nnx.state(b, nnx.Param)
    opt_state = optimizer.init(params)
    for _ in range(5):
        grads = nnx.grad(_nll)(b, data)
        params = nnx.state(b, nnx.Param)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        nnx.update(b, optax.apply_updates(params, updates))
    for key in ("log_initial_params", "log_transition_params", "log_emission_params"):
        np.testing.assert_allclose(getattr(a, key)[...], getattr(b, key)[...], rtol=1e-5, atol=1e-7)
        assert np.abs(np.asarray(getattr(a, key)[...])).max() > 0.02  # trained, not replaced


@pytest.mark.parametrize("frozen", ["transitions", "emissions"])
def test_frozen_parameters_stay_bit_identical(frozen):
    config = HMMConfig(
        learnable_transitions=frozen != "transitions", learnable_emissions=frozen != "emissions"
    )
    hmm = DifferentiableHMM(config, rngs=nnx.Rngs(0))
    frozen_name = {"transitions": "log_transition_params", "emissions": "log_emission_params"}[
        frozen
    ]
    other_name = {"transitions": "log_emission_params", "emissions": "log_transition_params"}[
        frozen
    ]
    probs_attr = {"transitions": "transition_probs", "emissions": "emission_probs"}[frozen]
    other_probs_attr = {"transitions": "emission_probs", "emissions": "transition_probs"}[frozen]
    assert isinstance(getattr(hmm, frozen_name), FrozenParam)
    assert not isinstance(getattr(hmm, frozen_name), nnx.Param)
    assert frozen_name not in nnx.to_pure_dict(nnx.state(hmm, nnx.Param))
    assert set(nnx.to_pure_dict(nnx.state(hmm, FrozenParam))) == {frozen_name}

    data = TRAIN
    grads = nnx.grad(_nll)(hmm, data)
    assert frozen_name not in nnx.to_pure_dict(grads)

    frozen_before = np.array(getattr(hmm, probs_attr))
    logits_before = np.array(getattr(hmm, frozen_name)[...])
    other_before = np.array(getattr(hmm, other_probs_attr))
    losses = _train(hmm, data, 20)
    assert losses[-1] < losses[0]
    np.testing.assert_array_equal(np.asarray(getattr(hmm, frozen_name)[...]), logits_before)
    np.testing.assert_array_equal(np.asarray(getattr(hmm, probs_attr)), frozen_before)
    assert np.abs(np.asarray(getattr(hmm, other_probs_attr)) - other_before).max() > 1e-3
    assert other_name in nnx.to_pure_dict(nnx.state(hmm, nnx.Param))


def test_frozen_parameters_with_a_plain_optax_loop():
    hmm = DifferentiableHMM(HMMConfig(learnable_emissions=False), rngs=nnx.Rngs(0))
    data = TRAIN
    before = np.array(hmm.emission_probs)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(nnx.state(hmm, nnx.Param))
    for _ in range(5):
        params = nnx.state(hmm, nnx.Param)
        grads = nnx.grad(_nll)(hmm, data)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        nnx.update(hmm, optax.apply_updates(params, updates))
    np.testing.assert_array_equal(np.asarray(hmm.emission_probs), before)


# --------------------------------------------------------------------- API details


def test_seed_is_honoured():
    def logits(seed):
        hmm = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(seed))
        return [np.asarray(v) for v in jax.tree.leaves(nnx.to_pure_dict(nnx.state(hmm)))]

    same_a, same_b, other = logits(0), logits(0), logits(1)
    for a, b, c in zip(same_a, same_b, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    # the "params" stream is used (falling back to "default"); other streams do not matter
    named = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(params=0, dropout=5))
    np.testing.assert_array_equal(named.log_emission_params[...], same_a[0])  # sorted keys


def test_extra_keys_state_and_metadata_pass_through():
    hmm = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(0))
    labels = jnp.arange(16)
    data = {"observations": jnp.array(DOC_OBSERVATIONS), "sample_id": "chr1:100-116", "y": labels}
    state, metadata = {"step": 3}, {"source": "test"}
    result, state_out, metadata_out = hmm.apply(data, state, metadata)
    assert result["sample_id"] == "chr1:100-116"
    assert result["y"] is labels and result["observations"] is data["observations"]
    assert state_out is state and metadata_out is metadata
    assert set(result) == set(data) | {"log_likelihood", "state_posteriors", "viterbi_path"}
    assert set(data) == {"observations", "sample_id", "y"}  # input not mutated
    assert result["viterbi_path"].shape == (16,) and result["viterbi_path"].dtype == jnp.int32


@nnx.jit
def _jit_apply(model, data):
    return model.apply(data, {}, None)[0]


@nnx.jit
@nnx.grad
def _jit_grad(model, data):
    return -model.apply(data, {}, None)[0]["log_likelihood"].sum()


def _padded_batch(first_row_symbol=None):
    """Two sequences of lengths 16 and 12 padded to 20 (with -1 and 0), and their mask."""
    long = jnp.concatenate([jnp.array(DOC_OBSERVATIONS), jnp.full(4, -1)])
    short = jnp.concatenate([jnp.array(DOC_OBSERVATIONS[4:])[::-1], jnp.zeros(8, int)])
    if first_row_symbol is not None:
        long = long.at[2].set(first_row_symbol)
    mask = jnp.arange(20)[None, :] < jnp.array([16, 12])[:, None]
    return {"observations": jnp.stack([long, short]), "mask": mask}


def test_padding_by_mask_or_length_equals_unpadded():
    hmm = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(2))
    for var in (hmm.log_transition_params, hmm.log_emission_params):
        var[...] = var[...] * 20.0
    x = jnp.array(DOC_OBSERVATIONS)
    ref, _, _ = hmm.apply({"observations": x}, {}, None)
    padded = jnp.concatenate([x, jnp.full(4, -1)])
    mask = jnp.arange(20) < 16
    for extra in ({"mask": mask}, {"length": 16}, {"mask": mask, "length": jnp.array(16)}):
        out, _, _ = hmm.apply({"observations": padded, **extra}, {}, None)
        np.testing.assert_allclose(out["log_likelihood"], ref["log_likelihood"], rtol=1e-6)
        np.testing.assert_allclose(out["state_posteriors"][:16], ref["state_posteriors"], atol=1e-6)
        np.testing.assert_array_equal(out["viterbi_path"][:16], ref["viterbi_path"])
        np.testing.assert_array_equal(out["state_posteriors"][16:], 0.0)
        np.testing.assert_array_equal(out["viterbi_path"][16:], -1)

    # a ragged batch under jit (lengths 16 and 12; padding -1 and 0), with finite gradients
    data = _padded_batch()
    out = _jit_apply(hmm, data)
    short = data["observations"][1]
    ref_short, _, _ = hmm.apply({"observations": short, "length": 12}, {}, None)
    pi, A, B = _probs(hmm)
    np.testing.assert_allclose(
        out["log_likelihood"],
        [ref["log_likelihood"], _np_forward(pi, A, B.T[np.asarray(short[:12])])],
        rtol=1e-5,
    )
    for key in ("state_posteriors", "viterbi_path"):
        np.testing.assert_allclose(out[key][0, :16], ref[key], atol=1e-6)
        np.testing.assert_allclose(out[key][1], ref_short[key], atol=1e-6)
    np.testing.assert_array_equal(out["viterbi_path"][1, 12:], -1)
    grads = _jit_grad(hmm, data)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(nnx.to_pure_dict(grads)))


def test_bad_mask_and_length_raise():
    hmm = DifferentiableHMM(HMMConfig(), rngs=nnx.Rngs(0))
    x = jnp.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match="prefix"):
        hmm.apply({"observations": x, "mask": jnp.array([True, False, True, True])}, {}, None)
    with pytest.raises(ValueError, match="outside"):
        hmm.apply({"observations": x, "length": 5}, {}, None)
    with pytest.raises(ValueError, match="disagree"):
        hmm.apply({"observations": x, "mask": jnp.arange(4) < 2, "length": 3}, {}, None)
    with pytest.raises(ValueError, match="shape"):
        hmm.apply({"observations": x, "mask": jnp.ones(3, bool)}, {}, None)
    with pytest.raises(ValueError, match="integers"):
        hmm.apply({"observations": jnp.array([0.0, 1.0])}, {}, None)
    with pytest.raises(KeyError, match="observations"):
        hmm.apply({"obs": x}, {}, None)


@pytest.mark.parametrize("symbol", [4, -1, 17])
def test_out_of_range_symbol_raises(symbol):
    hmm = DifferentiableHMM(HMMConfig(num_emissions=4), rngs=nnx.Rngs(0))
    x = jnp.array(DOC_OBSERVATIONS).at[2].set(symbol)
    with pytest.raises(ValueError, match=rf"symbol {symbol} at index \(2,\)"):
        hmm.apply({"observations": x}, {}, None)
    with pytest.raises(ValueError, match=rf"symbol {symbol} at index \(1, 2\)"):
        hmm.apply({"observations": jnp.stack([jnp.array(DOC_OBSERVATIONS), x])}, {}, None)
    with pytest.raises(ValueError, match=rf"symbol {symbol}"):
        hmm.forward(x)
    with pytest.raises(ValueError, match=rf"symbol {symbol}"):
        nnx.grad(_nll)(hmm, {"observations": x})
    # in the padding it is fine
    padded = jnp.concatenate([jnp.array(DOC_OBSERVATIONS), jnp.full(4, symbol)])
    out, _, _ = hmm.apply({"observations": padded, "length": 16}, {}, None)
    assert np.isfinite(float(out["log_likelihood"]))


def test_out_of_range_symbol_under_jit_poisons_its_sequence_not_clamped_nor_dropped():
    """Issue 18: invalid input under jit is NaN (never -inf, a clamped or a dropped symbol);
    the other sequences of the batch and the padding (-1 symbols) are unaffected."""
    hmm = DifferentiableHMM(HMMConfig(num_emissions=4), rngs=nnx.Rngs(0))
    data = _padded_batch(first_row_symbol=4)  # traced under jit: cannot raise
    out = _jit_apply(hmm, data)
    assert np.isnan(float(out["log_likelihood"][0]))
    assert np.isfinite(float(out["log_likelihood"][1]))
    assert np.isnan(np.asarray(out["state_posteriors"][0, :16])).all()
    assert not np.isnan(np.asarray(out["state_posteriors"][1])).any()
    assert (np.asarray(out["viterbi_path"][0]) == -1).all()
    grads = _jit_grad(hmm, _padded_batch())  # -1 padding: finite gradients
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(nnx.to_pure_dict(grads)))


def test_forward_soft(x64):
    hmm = DifferentiableHMM(HMMConfig(num_states=3, num_emissions=4), rngs=nnx.Rngs(4))
    hmm.log_emission_params[...] = hmm.log_emission_params[...] * 20.0
    x = np.array([0, 3, 1, 1, 2, 0])
    one_hot = jax.nn.one_hot(x, 4, dtype=jnp.float64)
    hard, _, _ = hmm.apply({"observations": jnp.asarray(x)}, {}, None)
    np.testing.assert_allclose(hmm.forward_soft(one_hot), hard["log_likelihood"], rtol=1e-12)

    pi, A, B = _probs(hmm)
    soft = np.random.default_rng(0).dirichlet(np.ones(4), size=6)
    soft[2] = [0.0, 0.0, 1.0, 0.0]
    expected = _np_forward(pi, A, soft @ B.T)  # sum_m B[k, m] o_t[m]
    np.testing.assert_allclose(hmm.forward_soft(jnp.asarray(soft)), expected, rtol=1e-12)
    # batched and padded
    batch = jnp.stack([jnp.asarray(soft), one_hot])
    np.testing.assert_allclose(
        hmm.forward_soft(batch), [expected, hard["log_likelihood"]], rtol=1e-12
    )
    np.testing.assert_allclose(
        hmm.forward_soft(jnp.asarray(soft).at[4:].set(0.0), length=4),
        _np_forward(pi, A, soft[:4] @ B.T),
        rtol=1e-12,
    )

    # gradients w.r.t. the parameters and the soft observations (zeros included) are finite
    grads, g_obs = nnx.grad(lambda m, o: m.forward_soft(o), argnums=(0, 1))(hmm, jnp.asarray(soft))
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(nnx.to_pure_dict(grads)))
    assert np.abs(np.asarray(grads["log_emission_params"][...])).sum() > 0
    assert np.isfinite(np.asarray(g_obs)).all() and (np.asarray(g_obs[2]) > 0).all()
    eps = 1e-7
    bumped = soft.copy()
    bumped[2, 0] += eps  # a zero entry: the true derivative is finite and positive
    fd = (float(hmm.forward_soft(jnp.asarray(bumped))) - float(expected)) / eps
    np.testing.assert_allclose(g_obs[2, 0], fd, rtol=1e-5)

    with pytest.raises(ValueError, match="finite and >= 0"):
        hmm.forward_soft(jnp.asarray(soft) - 0.5)
    with pytest.raises(ValueError, match="M=num_emissions=4"):
        hmm.forward_soft(jnp.ones((5, 3)))


def test_temperature_scales_the_logits():
    cold = DifferentiableHMM(HMMConfig(temperature=1.0), rngs=nnx.Rngs(9))
    hot = DifferentiableHMM(HMMConfig(temperature=2.5), rngs=nnx.Rngs(9))
    np.testing.assert_array_equal(cold.log_emission_params[...], hot.log_emission_params[...])
    logits = np.asarray(hot.log_emission_params[...])
    np.testing.assert_allclose(hot.emission_probs, _softmax(logits / 2.5, axis=1), rtol=1e-5)
    np.testing.assert_allclose(cold.emission_probs, _softmax(logits, axis=1), rtol=1e-5)
    assert not np.allclose(hot.emission_probs, cold.emission_probs, rtol=1e-4)
    trans = np.asarray(hot.log_transition_params[...])
    np.testing.assert_allclose(hot.transition_probs, _softmax(trans / 2.5, axis=1), rtol=1e-5)
    init = np.asarray(hot.log_initial_params[...])
    np.testing.assert_allclose(hot.initial_probs, _softmax(init / 2.5), rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_states": 0}, "num_states"),
        ({"num_states": 2.5}, "num_states"),
        ({"num_emissions": -1}, "num_emissions"),
        ({"num_emissions": True}, "num_emissions"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"learnable_emissions": "yes"}, "learnable_emissions"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HMMConfig(**kwargs)


def test_config_is_frozen_and_defaults_match_diffbio():
    config = HMMConfig()
    assert (config.num_states, config.num_emissions, config.temperature) == (3, 4, 1.0)
    assert config.learnable_transitions and config.learnable_emissions
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_states = 5
    with pytest.raises(TypeError, match="HMMConfig"):
        DifferentiableHMM({"num_states": 3}, rngs=nnx.Rngs(0))
