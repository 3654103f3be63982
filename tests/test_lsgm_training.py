"""LSGM training: it learns from HMM data, and beats an HMM of the same size on long-range data."""

import jax
import numpy as np
import optax
from flax import nnx

import lsgm
from lsgm.distributions import Categorical
from lsgm.training import fit_em, fit_gradient

EMIT = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])


def running_sum_data(n: int, T: int, seed: int) -> list[np.ndarray]:
    """Two regimes whose switching depends on the whole past: with
    ``S_t = #3 - #0`` among ``x_{<t}``, ``p(z_t = 1) = sigmoid(-2 S_t)``; regime ``z`` emits
    from ``EMIT[z]``. An HMM must approximate the unbounded counter with its states."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        S, x = 0, np.empty(T, int)
        for t in range(T):
            z = int(rng.random() < 1 / (1 + np.exp(2.0 * S)))
            x[t] = rng.choice(4, p=EMIT[z])
            S += int(x[t] == 3) - int(x[t] == 0)
        out.append(x)
    return out


def test_lsgm_beats_an_hmm_with_as_many_parameters_on_long_range_data():
    train, test = running_sum_data(150, 40, 0), running_sum_data(60, 40, 1)
    steps = sum(len(x) for x in test)
    model = lsgm.LSGM(
        2,
        Categorical.from_probs(EMIT * 0.5 + 0.125),
        rnn="gru",
        hidden_size=4,
        order=0,
        conditioning="transitions",
        rngs=nnx.Rngs(0),
    )
    fit_gradient(model, train, optimizer=optax.adam(0.05), epochs=30, batch_size=32)
    hmm = lsgm.HMM(11, Categorical(11, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    fit_em(hmm, train, max_iter=60)
    assert hmm.n_parameters() >= model.n_parameters()  # 153 vs 146
    lsgm_ll, hmm_ll = model.score(test) / steps, hmm.score(test) / steps
    assert lsgm_ll > hmm_ll + 0.02, (lsgm_ll, hmm_ll)


def test_training_on_hmm_data_lowers_the_validation_nll():
    truth = lsgm.HMM.from_probs([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], Categorical.from_probs(EMIT))
    keys = jax.random.split(jax.random.key(0), 100)
    data = [np.asarray(truth.sample(30, k)[1]) for k in keys]
    train, valid = data[:60], data[60:]
    steps = sum(len(x) for x in valid)
    model = lsgm.LSGM(2, Categorical(2, 4, rngs=nnx.Rngs(2)), hidden_size=8, rngs=nnx.Rngs(3))
    untrained = -model.score(valid) / steps
    _, history = fit_gradient(
        model, train, validation=valid, optimizer=optax.adam(0.01), epochs=10, batch_size=20
    )
    assert history.valid_nll[-1] < untrained - 0.02
    assert history.train_nll[-1] < history.train_nll[0]
    assert history.valid_nll[-1] > -truth.score(valid) / steps - 0.02  # no impossible fit
