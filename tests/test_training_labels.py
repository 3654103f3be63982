"""Label-supervised gradient training: ``fit_gradient(..., state_labels=...)``.

With labels the loss is ``-log p(x, z_L = labels_L)`` per step: checked against the joint
log-likelihood summed by hand along the labelled path (HMM and LSGM), against brute-force
enumeration of the paths that agree with partial labels, against the plain NLL (all labels
unknown), and against supervised counting (a long fit with full labels reaches the counting
MLE). An optimiser with learning rate 0 makes ``history.train_nll[0]`` exactly the loss of the
starting parameters, whatever the minibatching.

Every test runs in float64 and most fits share shapes and optimisers, so the compiled steps
are shared (a compile is seconds, a cached call milliseconds).
"""

import itertools

import jax
import numpy as np
import optax
import pytest
from flax import nnx
from scipy.special import logsumexp

import lsgm
from lsgm.distributions import Categorical
from lsgm.training import fit_gradient, fit_supervised
from lsgm.training.checkpoint import load_metadata
from lsgm.training.em import label_potentials
from lsgm.training.gradient import batch_nll


@pytest.fixture(autouse=True)
def _float64(x64):
    """Every test of this module in float64 (see ``conftest.x64``)."""
    yield


PI = np.array([0.6, 0.3, 0.1])
A = np.array([[0.90, 0.08, 0.02], [0.05, 0.90, 0.05], [0.10, 0.10, 0.80]])
B = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.05, 0.05, 0.2, 0.7]])
#: Module-level optimisers, so that fits share their compiled steps (optax closures are part
#: of the jit cache key). ``FROZEN`` never moves the parameters: ``train_nll[0]`` is then the
#: loss of the starting parameters.
FROZEN = optax.sgd(0.0)
TX = optax.adam(0.1)


def _sample(T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = [rng.choice(3, p=PI)]
    for _ in range(T - 1):
        z.append(rng.choice(3, p=A[z[-1]]))
    z = np.array(z, np.int32)
    x = np.array([rng.choice(4, p=B[k]) for k in z], np.int32)
    return x, z


_RNG = np.random.default_rng(0)
_DATA = [_sample(T, _RNG) for T in [5, 6, 7, 8, 9, 10, 11, 12, 5, 8, 12, 12]]
TRAIN, PATHS = [d[0] for d in _DATA], [d[1] for d in _DATA]
_VDATA = [_sample(T, _RNG) for T in [6, 8, 7]]  # one pow2 bucket (pad 8)
VALID, VPATHS = [d[0] for d in _VDATA], [d[1] for d in _VDATA]
#: Partial labels for the two shortest training sequences (5 and 6 steps, enumerable).
PARTIAL = {0: np.array([-1, 2, -1, -1, 0]), 1: np.array([1, -1, -1, 1, -1, -1])}


def _hmm(seed: int = 0):
    return lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(seed)), rngs=nnx.Rngs(seed + 1))


def _joint(model, xs, paths) -> float:
    """``sum_n log p(x_n, z_n)`` added up by hand along each path from the model's potentials
    (``log_init[z_1] + sum_t log_trans[t-1, z_{t-1}, z_t] + sum_t log_emit[t, z_t]``)."""
    total = 0.0
    for x, z in zip(xs, paths, strict=True):
        p = model.potentials(jax.numpy.asarray(x))
        li, lt, le = (np.asarray(a, np.float64) for a in (p.log_init, p.log_trans, p.log_emit))
        lt = np.broadcast_to(lt, (len(z) - 1, 3, 3)) if lt.ndim == 2 else lt
        total += li[z[0]] + le[np.arange(len(z)), z].sum()
        total += lt[np.arange(len(z) - 1), z[:-1], z[1:]].sum()
    return total


def _steps(xs) -> int:
    return sum(len(x) for x in xs)


def _leaves(model) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(nnx.state(model, nnx.Param))]


def test_full_labels_give_the_joint_likelihood_of_an_hmm():
    model = lsgm.HMM.from_probs(PI, A, Categorical.from_probs(B))
    # by hand from the true tables (not from the model)
    want = sum(
        np.log(PI[z[0]]) + np.log(A[z[:-1], z[1:]]).sum() + np.log(B[z, x]).sum()
        for x, z in zip(TRAIN, PATHS, strict=True)
    )
    _, history = fit_gradient(model, TRAIN, epochs=1, optimizer=FROZEN, state_labels=PATHS)
    np.testing.assert_allclose(history.train_nll[0], -want / _steps(TRAIN), rtol=1e-12)
    assert history.entropy[0] == 0.0  # the clamped filter is certain at every step


def test_full_labels_give_the_joint_likelihood_of_an_lsgm():
    model = lsgm.LSGM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), hidden_size=4, rngs=nnx.Rngs(1))
    xs, paths = [TRAIN[3], TRAIN[9]], [PATHS[3], PATHS[9]]  # one length: one compile
    batch = model.batch(xs)
    mask = label_potentials(batch, paths, 3)

    @nnx.jit
    def loss_and_potentials(model, data, lengths, mask):
        # the loss that the training step differentiates, on one batch; and the potentials
        loss = batch_nll(model, data, lengths, jax.numpy.ones(2), mask)
        return loss, jax.vmap(model.potentials)(data)

    loss, p = loss_and_potentials(model, batch.data, batch.lengths, mask)
    want = 0.0
    for i, z in enumerate(paths):  # the joint summed by hand along each path
        li, lt, le = (np.asarray(a[i], np.float64) for a in (p.log_init, p.log_trans, p.log_emit))
        want += li[z[0]] + le[np.arange(len(z)), z].sum()
        want += lt[np.arange(len(z) - 1), z[:-1], z[1:]].sum()
    np.testing.assert_allclose(loss, -want / _steps(xs), rtol=1e-12)
    # the network really conditions on the history: the transitions vary along the sequence
    assert np.ptp(np.asarray(p.log_trans), axis=1).max() > 1e-6


def test_partial_labels_sum_over_the_agreeing_paths():
    model = _hmm(seed=4)
    labels = [PARTIAL.get(i, z) for i, z in enumerate(PATHS)]
    want = _joint(model, TRAIN[2:], PATHS[2:])  # fully labelled: the joint by hand
    for i, lab in PARTIAL.items():  # partially labelled: enumerate the agreeing paths
        x = TRAIN[i]
        scores = [
            _joint(model, [x], [np.array(z)])
            for z in itertools.product(range(3), repeat=len(x))
            if all(lab[t] < 0 or lab[t] == z[t] for t in range(len(x)))
        ]
        want += logsumexp(scores)
    _, history = fit_gradient(model, TRAIN, epochs=1, optimizer=FROZEN, state_labels=labels)
    np.testing.assert_allclose(history.train_nll[0], -want / _steps(TRAIN), rtol=1e-12)


def test_labels_follow_their_sequences_through_shuffled_buckets_and_validation():
    model = _hmm()
    _, history = fit_gradient(
        model,
        TRAIN,
        epochs=2,
        batch_size=4,  # two pow2 buckets, shuffled rows, a partial batch with filler rows
        optimizer=FROZEN,
        state_labels=PATHS,
        validation=VALID,
        validation_labels=VPATHS,
        seed=3,
    )
    want = -_joint(model, TRAIN, PATHS) / _steps(TRAIN)
    np.testing.assert_allclose(history.train_nll, [want, want], rtol=1e-12)
    np.testing.assert_allclose(
        history.valid_nll, -_joint(model, VALID, VPATHS) / _steps(VALID), rtol=1e-12
    )


def test_unknown_labels_everywhere_give_the_plain_nll():
    unknown = [np.full(len(x), -1) for x in TRAIN]
    common = dict(epochs=3, optimizer=TX, validation=VALID)
    fitted, labelled = fit_gradient(_hmm(), TRAIN, state_labels=unknown, **common)
    plain_model, plain = fit_gradient(_hmm(), TRAIN, **common)
    np.testing.assert_allclose(labelled.train_nll, plain.train_nll, rtol=1e-12)
    # labelled training data but no validation_labels: the plain validation NLL
    np.testing.assert_allclose(labelled.valid_nll, plain.valid_nll, rtol=1e-12)
    for a, b in zip(_leaves(fitted), _leaves(plain_model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fully_labelled_fit_recovers_the_supervised_counting_hmm():
    counted = fit_supervised(_hmm(), TRAIN, PATHS, pseudocount=0.0)
    model, history = fit_gradient(_hmm(seed=2), TRAIN, epochs=150, optimizer=TX, state_labels=PATHS)
    assert history.train_nll[-1] < history.train_nll[0]
    np.testing.assert_allclose(model.initial_probs(), counted.initial_probs(), atol=0.02)
    np.testing.assert_allclose(model.transition_probs(), counted.transition_probs(), atol=0.02)
    np.testing.assert_allclose(model.emission.probs(), counted.emission.probs(), atol=0.02)


def test_resume_with_labels_is_exact_and_checks_the_labels(tmp_path):
    common = dict(epochs=3, optimizer=TX, state_labels=PATHS)
    full, full_history = fit_gradient(_hmm(), TRAIN, **common)
    fit_gradient(_hmm(), TRAIN, checkpoint_dir=tmp_path, **{**common, "epochs": 1})
    assert load_metadata(tmp_path / "checkpoint.msgpack")["settings"]["labelled_steps"] == 105
    resumed, history = fit_gradient(_hmm(), TRAIN, checkpoint_dir=tmp_path, resume=True, **common)
    assert history.train_nll == full_history.train_nll
    for a, b in zip(_leaves(resumed), _leaves(full), strict=True):
        np.testing.assert_array_equal(a, b)
    fewer = [np.where(np.arange(len(z)) == 0, -1, z) for z in PATHS]
    with pytest.raises(ValueError, match=r"settings or data differ \(\['labelled_steps'\]"):
        fit_gradient(
            _hmm(), TRAIN, checkpoint_dir=tmp_path, resume=True, **{**common, "state_labels": fewer}
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(state_labels=PATHS[:-1]), "state_labels has 11 sequences but the data has 12"),
        (
            dict(state_labels=[z[:-1] for z in PATHS]),
            r"state_labels\[0\] has shape \(4,\); sequence 0 has 5 steps",
        ),
        (dict(state_labels=[z + 1 for z in PATHS]), r"state_labels\[\d+\] holds 3; use -1"),
        (dict(state_labels=[z - 2 for z in PATHS]), r"holds -2; use -1 \(unknown\) or 0..2"),
        (dict(state_labels=[z.astype(float) for z in PATHS]), "must be integers"),
        (dict(state_labels=PATHS[0]), r"one \[T_i\] array per sequence"),
        (dict(validation_labels=VPATHS), "validation_labels needs validation sequences"),
        (
            dict(validation=VALID, validation_labels=VPATHS[:2]),
            "validation_labels has 2 sequences but the data has 3",
        ),
    ],
)
def test_bad_labels_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_gradient(_hmm(), TRAIN, epochs=1, optimizer=FROZEN, **kwargs)


def test_labels_that_no_path_can_follow_fail_clearly():
    left_to_right = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], bool)
    model = lsgm.HMM(
        3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1), transition_mask=left_to_right
    )
    labels = [np.array([0, 1, 1, 0, 2])] + PATHS[1:]
    with pytest.raises(
        ValueError, match=r"state_labels\[0\] has the transition 1->0 at positions 2, 3"
    ):
        fit_gradient(model, TRAIN, epochs=1, optimizer=FROZEN, state_labels=labels)
    impossible = lsgm.HMM.from_probs([1.0, 0.0, 0.0], A, Categorical.from_probs(B))
    starts_in_2 = [np.full(len(x), 2) for x in TRAIN]
    with pytest.raises(ValueError, match="labelled training NLL is inf in epoch 1"):
        fit_gradient(impossible, TRAIN, epochs=1, optimizer=FROZEN, state_labels=starts_in_2)
