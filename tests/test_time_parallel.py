"""The exact time-parallel E-step (lsgm.inference.time_parallel, method="chunked").

Float64 against the plain kernels and brute-force enumeration with chunk boundaries
everywhere (chunks of 1 and 3 steps), ragged padding, transition masks, ``-inf``
emissions and impossible sequences, NaN input, weights, the product fallback (a periodic
chain that never forgets its start) and gradients; then every model-level user (``fit_em``
with ML, MAP, masks and labels, ``score``/``predict``/``predict_proba``) against
``method="scaled"``, the automatic choice, and sequence parallelism over 4 virtual devices
(chunks sharded, boundary messages exchanged, no ``[T, K]`` gather).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BruteForce, random_potentials, run_on_four_devices
from scipy.special import logsumexp

import lsgm
from lsgm import inference
from lsgm.distributions import Categorical, Gaussian
from lsgm.inference import Potentials, time_parallel
from lsgm.training import HMMPrior, fit_em

TOL = dict(rtol=1e-10, atol=1e-10)


def _batch(rng, lengths, K, neg_inf_frac=0.0):
    """Shared stationary parameters and ``[N, T, K]`` emissions of rows of ``lengths``."""
    T = max(lengths)
    p = random_potentials(rng, T, K, True, neg_inf_frac)
    log_emit = np.stack(
        [random_potentials(rng, T, K, True, neg_inf_frac).log_emit for _ in lengths]
    )
    return p.log_init, p.log_trans, log_emit, np.asarray(lengths)


def _reference(li, lt, le, lengths, method="scaled"):
    """Per-row plain-kernel counts, summed like BatchCounts."""
    rows = [
        inference.expected_counts(Potentials(li, lt, le[n]), int(lengths[n]), method=method)
        for n in range(len(lengths))
    ]
    log_z = np.array([r.log_z for r in rows])
    states = np.stack([np.asarray(r.states) for r in rows])
    return (
        log_z,
        states,
        sum(np.asarray(r.states[0]) for r in rows),
        sum(r.transitions for r in rows),
    )


@pytest.mark.parametrize("chunk", [1, 3])
def test_equals_brute_force_and_the_plain_kernels(x64, chunk):
    rng = np.random.default_rng(chunk)
    K, lengths = 3, [7, 4, 1, 6]
    li, lt, le, lengths = _batch(rng, lengths, K, neg_inf_frac=0.15)
    lt[0] = [np.log(0.5), np.log(0.5), -np.inf]  # a structural zero
    out = time_parallel.batch_expected_counts(li, lt, le, lengths, chunk=chunk)
    log_z, states, initial, transitions = _reference(li, lt, le, lengths)
    for n, length in enumerate(lengths):
        brute = BruteForce(Potentials(li, lt, le[n, :length]))
        want = brute.log_z()
        if np.isfinite(want):
            np.testing.assert_allclose(out.log_z[n], want, **TOL)
            marg, pairs = brute.marginals()
            np.testing.assert_allclose(out.states[n, :length], marg, **TOL)
        else:
            assert np.isneginf(out.log_z[n]) and np.isnan(out.states[n, :length]).all()
        assert (np.asarray(out.states[n, length:]) == 0).all()
    np.testing.assert_allclose(out.log_z, log_z, **TOL)
    finite = np.isfinite(log_z)
    np.testing.assert_allclose(out.states[finite], states[finite], **TOL)
    if finite.all():
        np.testing.assert_allclose(out.initial, initial, **TOL)
        np.testing.assert_allclose(out.transitions, transitions, **TOL)
    else:  # an impossible row makes the summed statistics undefined, as in e_step
        assert np.isnan(out.transitions).all() and np.isnan(out.initial).all()


def test_weights_drop_rows_and_padding_changes_nothing(x64):
    rng = np.random.default_rng(7)
    li, lt, le, lengths = _batch(rng, [300, 40, 1], 4)
    weights = np.array([1.0, 0.0, 1.0])
    out = time_parallel.batch_expected_counts(li, lt, le, lengths, weights, chunk=16)
    keep = [0, 2]
    _, _, initial, transitions = _reference(li, lt, le[keep], lengths[keep])
    np.testing.assert_allclose(out.transitions, transitions, **TOL)
    np.testing.assert_allclose(out.initial, initial, **TOL)
    # at least one sweep and one stored pass each way; no fallback needed
    assert not out.fallback and 4 <= int(out.sweeps) <= 2 * time_parallel.MAX_SWEEPS + 4


def test_a_guess_changes_nothing(x64):
    """EM passes one call's messages to the next (``guess``): the counts are the same from
    the uniform start, from the messages of other parameters (whose tail sweep starts from
    their messages inside every chunk), with a second warm-up sweep, with tails of every
    length, and from a guess full of zeros next to an impossible row (the guess keeps full
    support, so a dead chunk is still a proof)."""
    rng = np.random.default_rng(11)
    li, lt, le, lengths = _batch(rng, [200, 90, 37], 3, neg_inf_frac=0.02)
    le[2, 30] = -np.inf  # an impossible row
    blocked = time_parallel.block(jnp.asarray(le), 16)
    run = lambda lt, guess=None: time_parallel.blocked_expected_counts(  # noqa: E731
        li, lt, blocked, lengths, le.shape[1], guess=guess
    )
    want = run(lt)
    other = run(lt + rng.normal(size=lt.shape)).messages  # messages of other parameters
    J = 4  # blocks of a 16-step chunk
    assert 0 < int(other.tail) < J  # a tail sweep is next
    one_hot = jnp.zeros_like(other.entering).at[0].set(1.0)
    guesses = [
        other,
        other._replace(two=jnp.bool_(True)),
        other._replace(tail=jnp.int32(0), two=jnp.bool_(True)),  # two full sweeps
        other._replace(tail=jnp.int32(1)),
        other._replace(tail=jnp.int32(J - 1)),
        other._replace(tail=jnp.int32(J)),  # a tail grown to the whole chunk
        other._replace(entering=one_hot, leaving=one_hot, forward=one_hot, backward=one_hot),
    ]
    assert np.isneginf(want.log_z).any() and np.isfinite(want.log_z).any()
    for guess in guesses:
        got = run(lt, guess)
        for a, b in zip(got[:4], want[:4], strict=True):
            np.testing.assert_allclose(a, b, **TOL)
    # the second warm-up sweep is asked for only when one fell short
    assert not bool(want.messages.two) or int(want.sweeps) > 4


def test_a_tail_that_falls_short_grows(x64):
    """A tail sweep that leaves the stored pass off the fixed point costs one more stored
    pass and doubles the next call's tail (up to the whole chunk, where the full sweeps
    take over); one that lands keeps its length; neither changes the counts."""
    K, T = 3, 512
    li = np.log([0.2, 0.5, 0.3])
    lt = np.log(np.full((K, K), 0.001) + np.eye(K))  # a chain that forgets slowly
    le = np.random.default_rng(3).normal(size=(1, T, K)) * 0.05
    blocked = time_parallel.block(jnp.asarray(le), 64)  # 8 blocks of 8 steps
    run = lambda guess=None: time_parallel.blocked_expected_counts(  # noqa: E731
        li, lt, blocked, jnp.asarray([T]), T, guess=guess
    )
    want = run()
    exact = want.messages
    assert int(exact.tail) == 4  # TAIL_SHARE of 8 blocks, after a first (full) call
    again = run(exact)  # from its own messages: lands, keeps the tail
    assert int(again.sweeps) == 4 and int(again.messages.tail) == 4
    skewed = jnp.zeros_like(exact.forward).at[0].set(1.0)
    short = exact._replace(tail=jnp.int32(1), forward=skewed, backward=skewed)
    got = run(short)  # one block cannot forget that start: a second stored pass
    assert int(got.sweeps) > 4 and int(got.messages.tail) == 2
    for a, b in zip(got[:4], want[:4], strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    whole = run(exact._replace(tail=jnp.int32(8), forward=skewed, backward=skewed))
    assert int(whole.messages.tail) == 8  # stays whole


def test_a_chain_that_never_forgets_falls_back_to_exact_products(x64):
    """A deterministic 3-cycle with uninformative emissions: every chunk's end depends on its
    start forever, so no sweep converges; the chunk products are exact."""
    K, T = 3, 200
    li = np.log([0.2, 0.5, 0.3])
    lt = np.where(np.roll(np.eye(K), 1, axis=1) > 0, 0.0, -np.inf)
    le = np.zeros((1, T, K))
    out = time_parallel.batch_expected_counts(li, lt, le, chunk=7)
    assert bool(out.fallback)
    ref = inference.expected_counts(Potentials(li, lt, le[0]))
    np.testing.assert_allclose(out.log_z[0], ref.log_z, **TOL)
    np.testing.assert_allclose(out.states[0], ref.states, **TOL)
    np.testing.assert_allclose(out.transitions, ref.transitions, **TOL)
    np.testing.assert_allclose(
        time_parallel.batch_log_partition(li, lt, le, chunk=7), [ref.log_z], **TOL
    )


def _numpy_counts(li, lt, le, lengths, weights):
    """``(log_z [N], gamma [N, T, K], initial, transitions)`` by a log-space forward-backward
    in numpy (no compiled program), rows of weight 0 left out of the sums."""
    N, T, K = le.shape
    log_z, gamma = np.zeros(N), np.zeros((N, T, K))
    initial, transitions = np.zeros(K), np.zeros((K, K))
    for n in range(N):
        e, m = le[n, : lengths[n]], lengths[n]
        la, lb = np.zeros((m, K)), np.zeros((m, K))
        la[0] = li + e[0]
        for t in range(1, m):
            la[t] = logsumexp(la[t - 1][:, None] + lt, axis=0) + e[t]
        for t in range(m - 2, -1, -1):
            lb[t] = logsumexp(lt + e[t + 1] + lb[t + 1], axis=1)
        log_z[n] = logsumexp(la[-1])
        gamma[n, :m] = np.exp(la + lb - log_z[n])
        pairs = la[:-1, :, None] + lt + (e[1:] + lb[1:])[:, None, :] - log_z[n]
        initial += weights[n] * gamma[n, 0]
        transitions += weights[n] * np.exp(pairs).sum(0)
    return log_z, gamma, initial, transitions


def test_pattern_codes_equal_the_dense_emissions(x64):
    """``blocked_pattern_counts`` (a ``[V, K]`` table looked up per step, marginals summed
    per pattern, checkpointed forward pass) equals a forward-backward on ``table[codes]``:
    ragged rows, a weight-0 row, ``-inf`` entries, chunks of 7 steps (blocks padded), a
    guess, an invalid (NaN) pattern, and the product fallback of a chain that never
    forgets (one compiled program for every case)."""
    rng = np.random.default_rng(5)
    K, V, T = 3, 5, 60
    li, lt, _, lengths = _batch(rng, [T, 23, 1], K)
    table = rng.normal(size=(V, K))
    table[1, 2] = -np.inf
    codes = rng.integers(0, V, (3, T))
    weights = np.array([1.0, 0.0, 1.0])
    blocked = time_parallel.block(jnp.asarray(codes), 7)
    start = time_parallel.first_messages(K, blocked.shape[1], jnp.float64)
    run = jax.jit(
        lambda lt, table, guess=start: time_parallel.blocked_pattern_counts(
            li, lt, table, blocked, lengths, T, weights, guess=guess
        )
    )

    def check(got, lt, table):
        log_z, gamma, initial, transitions = _numpy_counts(li, lt, table[codes], lengths, weights)
        w = (gamma * weights[:, None, None]).reshape(-1, K)
        by_code = np.stack([w[codes.reshape(-1) == v].sum(0) for v in range(V)])
        for a, b in zip(got[:4], (log_z, by_code, initial, transitions), strict=True):
            np.testing.assert_allclose(a, b, **TOL)

    check(run(lt, table), lt, table)
    check(run(lt, table, run(lt + 1.0, table).messages), lt, table)
    # the deterministic 3-cycle: the chunk products are exact with pattern codes too
    cycle = np.where(np.roll(np.eye(K), 1, axis=1) > 0, 0.0, -np.inf)
    got = run(cycle, np.zeros((V, K)))
    assert bool(got.fallback)
    check(got, cycle, np.zeros((V, K)))
    table[3] = np.nan  # an invalid observation's pattern poisons its rows and the counts
    bad = run(lt, table)
    assert np.isnan(bad.log_z).any() and np.isnan(bad.states).all()


@pytest.mark.parametrize("single", [False, True])
def test_pattern_codes_decode_every_step(x64, single):
    """``decode=True``: the counting pass also writes every step's most probable state and
    its posterior, equal to the argmax and max of the forward-backward marginals (float64
    and float32), -1 and NaN in an impossible row; the counts are unchanged."""
    rng = np.random.default_rng(11)
    K, V, T = 3, 4, 50
    li, lt, _, lengths = _batch(rng, [T, 17, 1, 30], K)
    table = rng.normal(size=(V, K))
    table[2, :] = -np.inf  # pattern 2 is impossible in every state
    codes = rng.integers(0, V, (4, T))
    codes[codes == 2] = 0
    codes[3, 5] = 2  # the last row is impossible
    weights = np.array([1.0, 1.0, 1.0, 0.0])
    dtype = np.float32 if single else np.float64
    args = [np.asarray(x, dtype) for x in (li, lt, table)]
    blocked = time_parallel.block(jnp.asarray(codes), 7)
    plain = time_parallel.blocked_pattern_counts(*args, blocked, lengths, T, weights)
    got = time_parallel.blocked_pattern_counts(*args, blocked, lengths, T, weights, decode=True)
    np.testing.assert_array_equal(got.states, plain.states)
    states = np.asarray(time_parallel.unblock(got.decoded[0], 4, T))
    probs = np.asarray(time_parallel.unblock(got.decoded[1], 4, T))
    with np.errstate(invalid="ignore"):  # (the impossible row)
        _, gamma, _, _ = _numpy_counts(li, lt, table[codes], lengths, weights)
    tol = dict(rtol=2e-5, atol=2e-6) if single else TOL
    for n in range(3):
        m = lengths[n]
        np.testing.assert_array_equal(states[n, :m], gamma[n, :m].argmax(1))
        np.testing.assert_allclose(probs[n, :m], gamma[n, :m].max(1), **tol)
    assert (states[3] == -1).all() and np.isnan(probs[3]).all()


def test_tiny_filtered_probabilities_with_large_smoothed_ones(x64):
    """Float64 scales the backward variable by the forward normalisers (Rabiner), so it grows
    like ``1 / a_t(k)`` for a state the past makes very unlikely: here a switch of
    probability 1e-120 that the second half of the sequence makes certain, and a state that
    can never be reached (``a_t(k) = 0``) whose emissions are e^30 times likelier than the
    others' at every step (its backward variable would overflow within 24 steps if it were
    propagated), with chunk boundaries. A sweep from the uniform vector lands on the
    unreachable state and the stored passes correct one chunk each: chunks of 64 steps
    need fewer than ``MAX_SWEEPS``, chunks of 32 get the chunk products (in log space,
    the backward messages kept to the reachable states). Float32 keeps normalised backward
    messages, which underflow here: the marginals are then undefined (NaN), never 0. The counts equal a log-space
    forward-backward's, dense and with pattern codes."""
    T = 200
    with np.errstate(divide="ignore"):
        li = np.log([1.0, 0.0, 0.0, 0.0])
        lt = np.log(
            [
                [1 - 1e-120, 1e-120, 0.0, 0.0],
                [0.0, 0.99, 0.01, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
    table = np.array([[-30.0, -35.0, -35.0, 0.0], [-38.0, -30.0, -31.0, 0.0]])
    codes = (np.arange(T) >= 100).astype(int)[None]  # two patterns
    lengths = np.array([T])
    log_z, gamma, initial, transitions = _numpy_counts(li, lt, table[codes], lengths, np.ones(1))
    for chunk in (32, 64):
        out = time_parallel.batch_expected_counts(li, lt, table[codes], lengths, chunk=chunk)
        assert bool(out.fallback) == (chunk == 32)
        np.testing.assert_allclose(out.log_z, log_z, **TOL)
        np.testing.assert_allclose(out.states, gamma, **TOL)
        np.testing.assert_allclose(out.transitions, transitions, **TOL)
        blocked = time_parallel.block(jnp.asarray(codes), chunk)
        got = time_parallel.blocked_pattern_counts(li, lt, table, blocked, lengths, T)
        by_code = np.stack([gamma[0][codes[0] == v].sum(0) for v in range(2)])
        np.testing.assert_allclose(got.states, by_code, **TOL)
        np.testing.assert_allclose(got.initial, initial, **TOL)
        np.testing.assert_allclose(got.transitions, transitions, **TOL)
    single = [np.float32(x) for x in (li, lt, table[codes])]
    out = time_parallel.batch_expected_counts(*single, lengths, chunk=64)
    assert out.states.dtype == np.float32 and np.isnan(out.states).all()


def test_nan_input_is_nan_never_a_number(x64):
    # (the shapes of test_equals_brute_force_and_the_plain_kernels[3]: no new compile)
    rng = np.random.default_rng(3)
    li, lt, le, lengths = _batch(rng, [7, 4, 1, 6], 3)
    le[1, 2, 1] = np.nan
    out = time_parallel.batch_expected_counts(li, lt, le, lengths, chunk=3)
    assert np.isfinite(out.log_z[0]) and np.isnan(out.log_z[1])
    assert np.isnan(out.states[1, :4]).all() and np.isnan(out.transitions).all()
    le[1, 2, 1] = 0.0
    lt[1, 2] = np.nan
    assert np.isnan(time_parallel.batch_log_partition(li, lt, le, lengths, chunk=3)).all()


def test_kernel_methods_and_gradients(x64):
    rng = np.random.default_rng(5)
    p = random_potentials(rng, 400, 4, True)
    p = Potentials(*(jnp.asarray(a) for a in p))
    allowed = jnp.array([True, False, True, True])
    for length, allow in ((None, None), (333, allowed)):
        want = inference.expected_counts(p, length, allow)
        got = inference.expected_counts(p, length, allow, method="chunked")
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, **TOL)
        grad = jax.grad(lambda q: inference.log_partition(q, length, allow, method="chunked"))
        want_grad = jax.grad(lambda q: inference.log_partition(q, length, allow))
        for a, b in zip(grad(p), want_grad(p), strict=True):
            np.testing.assert_allclose(a, b, **TOL)
    assert inference.choose_method(1, 10**6) == "chunked"
    assert inference.choose_method(1, 10**6, stationary=False) == "scaled"
    assert inference.choose_method(500, 10**4) == "chunked"  # many rows: one chunk each
    assert inference.choose_method(500, 10**4, devices=2) == "scaled"  # rows split instead
    assert inference.choose_method(100, 10**4) == "scaled"
    assert inference.choose_method(128, 100, num_states=2) == "scaled"  # N·K too small
    assert inference.choose_method(128, 100, num_states=3) == "chunked"
    assert inference.choose_method(2, 100) == "scaled"
    varying = Potentials(p.log_init, jnp.zeros((399, 4, 4)), p.log_emit)
    with pytest.raises(ValueError, match="stationary"):
        inference.log_partition(varying, method="chunked")
    with pytest.raises(ValueError, match="method="):
        inference.forward(p, method="chunked")


def _hmm(K=3, M=4, seed=1, mask=None):
    r = np.random.default_rng(seed)
    trans = 0.8 * np.eye(K) + 0.2 * r.dirichlet(np.ones(K), K)
    if mask is not None:
        trans = np.where(mask, trans, 0.0)
        trans /= trans.sum(1, keepdims=True)
    emission = Categorical.from_probs(r.dirichlet(np.ones(M), K))
    return lsgm.HMM.from_probs(r.dirichlet(np.ones(K)), trans, emission, transition_mask=mask)


def test_fit_em_chunked_equals_scaled_with_priors_masks_and_labels(x64):
    """Ragged batch mixing long and short records; MAP EM with a transition mask, ML EM with
    partial state labels: the same fit either way."""
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 4, size=n) for n in (900, 37, 1, 450)]
    mask = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool)
    labels = [np.where(rng.random(len(x)) < 0.05, rng.integers(0, 3, len(x)), -1) for x in xs]
    plain, masked = (lambda: _hmm()), (lambda: _hmm(mask=mask))
    cases = [
        ({"priors": HMMPrior(initial=2.0, transition=1.5)}, masked),
        ({"state_labels": labels}, plain),  # (random labels could contradict the mask)
    ]
    for kwargs, build in cases:
        a, b = build(), build()
        _, ha = fit_em(a, xs, max_iter=3, tol=-np.inf, method="scaled", **kwargs)
        _, hb = fit_em(b, xs, max_iter=3, tol=-np.inf, method="chunked", **kwargs)
        np.testing.assert_allclose(ha.objectives, hb.objectives, rtol=1e-10)
        for pa, pb in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(pa, pb, rtol=1e-9, atol=1e-12)


def test_posterior_decode_equals_the_argmax_of_the_posteriors(x64):
    """``HMM.posterior_decode``: by the pattern-code E-step (``decode``) for a few long
    records, by ``predict_proba`` otherwise; the same states and posteriors either way, and
    an impossible record raises as ``predict_proba`` does."""
    rng = np.random.default_rng(4)
    xs = [rng.integers(0, 4, size=n) for n in (900, 37, 450)]
    model = _hmm()
    posteriors = model.predict_proba(xs, method="scaled")
    for method in ("chunked", "scaled"):
        decoded = model.posterior_decode(xs, method=method)
        for (states, probs), p in zip(decoded, posteriors, strict=True):
            np.testing.assert_array_equal(states, np.argmax(p, axis=1))
            np.testing.assert_allclose(probs, np.max(p, axis=1), **TOL)


def test_model_apis_chunked_equal_scaled_and_auto_picks_chunked(x64):
    rng = np.random.default_rng(2)
    model = lsgm.HMM.from_probs(
        [0.5, 0.5],
        [[0.95, 0.05], [0.1, 0.9]],
        Gaussian.from_params(np.array([[0.0], [2.0]]), np.array([[1.0], [0.5]])),
    )
    xs = [rng.normal(size=(n, 1)) for n in (5000, 120)]
    assert model.inference_method("auto", 2, 5000) == "chunked"
    for name in ("score_samples", "predict_proba", "predict"):
        got = getattr(model, name)(xs, method="chunked")
        want = getattr(model, name)(xs, method="scaled")
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert model.score(xs) == pytest.approx(model.score(xs, method="scaled"), rel=1e-12)
    with pytest.raises(ValueError, match="method="):
        model.score(xs, method="fast")


def test_many_short_rows_run_one_chunk_per_row(x64):
    """``ONE_CHUNK_ROWS`` ragged rows (lengths 1 … 40, a label mask, MAP priors): ``auto``
    picks the time-parallel kernels with one chunk per row (no sweep), and EM, scores,
    posteriors and Viterbi paths equal the per-sequence scans'."""
    rng = np.random.default_rng(3)
    N = time_parallel.ONE_CHUNK_ROWS
    xs = [rng.integers(0, 4, size=n) for n in rng.integers(1, 41, size=N)]
    assert time_parallel.chunk_layout(40, num_rows=N) == (40, 1)
    labels = [np.where(rng.random(len(x)) < 0.1, rng.integers(0, 3, len(x)), -1) for x in xs]
    a, b = _hmm(), _hmm()
    assert a.inference_method("auto", N, 40) == "chunked"
    kwargs = {"priors": HMMPrior(transition=1.5), "state_labels": labels}
    _, ha = fit_em(a, xs, max_iter=3, tol=-np.inf, method="scaled", **kwargs)
    _, hb = fit_em(b, xs, max_iter=3, tol=-np.inf, **kwargs)
    np.testing.assert_allclose(ha.objectives, hb.objectives, rtol=1e-10)
    for pa, pb in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(pa, pb, rtol=1e-9, atol=1e-12)
    for name in ("score_samples", "predict_proba", "predict"):
        got, want = getattr(a, name)(xs), getattr(a, name)(xs, method="scaled")
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_lsgm_refuses_chunked_and_auto_runs_the_scan():
    from flax import nnx

    model = lsgm.LSGM(2, Categorical(2, 4, rngs=nnx.Rngs(0)), hidden_size=4, rngs=nnx.Rngs(1))
    assert not model.supports_chunked
    assert model.inference_method("auto", 1, 10**6) == "scaled"
    with pytest.raises(ValueError, match="method='chunked' needs stationary"):
        model.inference_method("chunked", 1, 10**6)


SCRIPT = r"""
import json, re
import numpy as np
import lsgm
from flax import nnx
from lsgm import distributed
from lsgm.distributions import Categorical
from lsgm.training import em

def hmm():
    r = np.random.default_rng(1)
    return lsgm.HMM.from_probs(r.dirichlet(np.ones(3)), 0.8 * np.eye(3) + 0.2 * r.dirichlet(np.ones(3), 3),
                               Categorical.from_probs(r.dirichlet(np.ones(4), 3)))

rng = np.random.default_rng(0)
xs = [rng.integers(0, 4, size=3000), rng.integers(0, 4, size=700)]
four = distributed.make_mesh(4)
one, sharded = hmm(), hmm()
_, h1 = em.fit_em(one, xs, max_iter=3, tol=-np.inf, method="chunked")
_, h4 = em.fit_em(sharded, xs, max_iter=3, tol=-np.inf, method="chunked", mesh=four)
rel = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(b)) + 1.0)))
out = {"devices": len(four.devices.flat),
       "fit_em": max(rel(h4.log_likelihoods, h1.log_likelihoods),
                     rel(sharded.transition_probs(), one.transition_probs()),
                     rel(sharded.emission.probs(), one.emission.probs())),
       "score": rel(one.score_samples(xs, mesh=four, method="chunked"), one.score_samples(xs)),
       "proba": max(rel(a, b) for a, b in zip(one.predict_proba(xs, mesh=four, method="chunked"),
                                              one.predict_proba(xs)))}
batch = one.batch(xs)
inputs = em.sharded_inputs(batch, None, four, "chunked")
step = em.em_step_for(nnx.graphdef(one), em.HMMPrior(), frozenset(), four, "chunked")
hlo = step.lower(distributed.replicate(nnx.state(one), four), *inputs).compile().as_text()
sizes = [int(np.prod([int(d) for d in m.group(1).split(",") if d]))
         for m in re.finditer(r"= \w+\[([\d,]*)\][^=]*? all-gather\(", hlo)]
out["permutes"] = hlo.count("collective-permute(")
out["largest_gather"] = max(sizes, default=0)
out["steps_times_states"] = int(sum(len(x) for x in xs) * 3)
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_sequence_parallel_over_four_devices_equals_one_device():
    """Chunks split over 4 virtual devices: the same fit and scores as one device, boundary
    messages exchanged by collective permutes, and nothing of size ``[T, K]`` gathered."""
    out = run_on_four_devices(SCRIPT)
    assert out["devices"] == 4
    assert out["fit_em"] <= 1e-5 and out["score"] <= 1e-5 and out["proba"] <= 1e-5, out
    assert out["permutes"] > 0  # boundary messages move between neighbouring devices
    assert out["largest_gather"] < out["steps_times_states"] / 10, out


def test_nll_gradient_of_long_rows_uses_the_chunked_jvp(x64):
    """``nll_and_grad`` on a few long rows (the time-parallel custom JVP) equals reverse-mode
    through the scan kernels."""
    from flax import nnx

    from lsgm import distributed

    rng = np.random.default_rng(4)
    model = _hmm(seed=3)
    xs = [rng.integers(0, 4, size=n) for n in (6000, 300)]
    value, grads = distributed.nll_and_grad(model, xs)
    batch = model.batch(xs)
    data, lengths = jnp.asarray(batch.data), jnp.asarray(batch.lengths)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def scan_nll(params):
        m = nnx.merge(graphdef, params, rest)
        one = lambda x, n: inference.log_partition(m.potentials(x), n, method="scaled")  # noqa: E731
        return -jax.vmap(one)(data, lengths).sum() / lengths.sum()

    want_value, want = jax.value_and_grad(scan_nll)(params)
    assert float(value) == pytest.approx(float(want_value), rel=1e-12)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
