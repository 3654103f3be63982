"""Invalid models and diverged fits are refused (issue 18, class 4): NaN / +inf anywhere,
-inf outside log-probabilities and probability rows without mass are refused at save, at load
and after every fitting step; model metadata is checked against the stored shapes before
anything is built."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import lsgm
from lsgm.cli.main import main
from lsgm.distributions import Bernoulli, Categorical, Gaussian, GaussianMixture, Poisson
from lsgm.models.serialization import _digest, load_model, save_model
from lsgm.training import FitDivergedError, HMMPrior, fit_em, fit_gradient, fit_supervised
from lsgm.training.checkpoint import load_metadata, read_checkpoint, save_checkpoint
from lsgm.training.gradient import _check_divergence

DNA = str(Path(__file__).parent / "data" / "cli_dna.fa")
NAN, INF = np.nan, np.inf


def _hmm(emission):
    return lsgm.HMM(2, emission, rngs=nnx.Rngs(1))


MODELS = {
    "categorical": lambda: _hmm(Categorical(2, 3, rngs=nnx.Rngs(0))),
    "gaussian": lambda: _hmm(Gaussian(2, 2, rngs=nnx.Rngs(0))),
    "gmm": lambda: _hmm(GaussianMixture(2, 2, 2, rngs=nnx.Rngs(0))),
    "bernoulli": lambda: _hmm(Bernoulli(2, 2, rngs=nnx.Rngs(0))),
    "poisson": lambda: _hmm(Poisson(2, 2, rngs=nnx.Rngs(0))),
    "lsgm": lambda: lsgm.LSGM(
        2, Categorical(2, 3, rngs=nnx.Rngs(0)), hidden_size=3, embedding_dim=2, rngs=nnx.Rngs(0)
    ),
}

# (model, parameter path, index (None: the whole array), value, valid?)
CASES = [
    ("categorical", "initial_logits", (0,), NAN, False),
    ("categorical", "initial_logits", (0,), INF, False),
    ("categorical", "initial_logits", (0,), -INF, True),
    ("categorical", "initial_logits", None, -INF, False),  # no probability mass
    ("categorical", "transition_logits", (1, 0), NAN, False),
    ("categorical", "transition_logits", (1, 0), -INF, True),
    ("categorical", "transition_logits", (1,), -INF, False),
    ("categorical", "emission/logits", (0, 1), NAN, False),
    ("categorical", "emission/logits", (0, 1), -INF, True),
    ("categorical", "emission/logits", (0,), -INF, False),
    ("gaussian", "emission/loc", (0, 0), NAN, False),
    ("gaussian", "emission/loc", (0, 0), -INF, False),
    ("gaussian", "emission/cov_params", (1, 0), -INF, False),
    ("gaussian", "emission/cov_params", (1, 0), INF, False),
    ("gmm", "emission/weight_logits", (0, 0), -INF, True),
    ("gmm", "emission/weight_logits", (0,), -INF, False),
    ("gmm", "emission/loc", (0, 0, 0), INF, False),
    ("bernoulli", "emission/logits", (0, 0), INF, True),  # log-odds: p = 1
    ("bernoulli", "emission/logits", (0, 0), -INF, True),  # p = 0
    ("bernoulli", "emission/logits", (0, 0), NAN, False),
    ("poisson", "emission/log_rates", (0, 0), -INF, True),  # a rate of 0
    ("poisson", "emission/log_rates", (0, 0), INF, False),
    ("lsgm", "rnn/inputs/0/kernel", (0, 0), NAN, False),
    ("lsgm", "emission_net/out/kernel", (0, 0), -INF, False),
    ("lsgm", "transition_head/bias", (0,), INF, False),
    ("lsgm", "emission_bias", (0, 1), -INF, True),  # a categorical's logits
    ("lsgm", "emission_bias", (0,), -INF, False),
]
IDS = [f"{m}-{p}-{i}-{v}" for m, p, i, v, _ in CASES]


def _set(model, name, index, value):
    node = model
    for key in name.split("/"):
        node = node[int(key)] if key.isdigit() else getattr(node, key)
    a = np.array(node[...])
    a[() if index is None else index] = value
    node[...] = jnp.asarray(a)


def _tamper(path, name, index, value):
    """Change one stored array and fix both checksums: only the validity check can refuse."""
    arrays, _, meta = read_checkpoint(path)
    a = np.array(arrays[name])
    a[() if index is None else index] = value
    arrays[name] = a
    meta["sha256"] = _digest(arrays, meta)
    save_checkpoint(path, arrays, meta)


@pytest.mark.parametrize("model_name, name, index, value, valid", CASES, ids=IDS)
def test_invalid_parameters_are_refused_at_save_and_load(
    model_name, name, index, value, valid, tmp_path
):
    model = MODELS[model_name]()
    _set(model, name, index, value)
    path = tmp_path / "m.lsgm"
    if valid:
        save_model(path, model)
        loaded, _ = load_model(path)
        np.testing.assert_array_equal(_get(loaded, name), _get(model, name))
        return
    with pytest.raises(ValueError, match=f"m.lsgm.*{name}"):
        save_model(path, model)
    assert not path.exists()
    save_model(path, MODELS[model_name]())
    _tamper(path, name, index, value)
    with pytest.raises(ValueError, match=f"m.lsgm: invalid model file.*{name}"):
        load_model(path)


def _get(model, name):
    node = model
    for key in name.split("/"):
        node = node[int(key)] if key.isdigit() else getattr(node, key)
    return np.asarray(node[...])


# (model, metadata field path, tampered value, array named in the message, stored value)
META_CASES = [
    ("categorical", ("num_states",), 200000, "initial_logits", 2),
    ("categorical", ("emission", "num_symbols"), 7, "emission/logits", 3),
    ("gaussian", ("emission", "dim"), 5, "emission/loc", 2),
    ("gmm", ("emission", "num_components"), 9, "emission/loc", 2),
    ("lsgm", ("settings", "hidden_size"), 10**6, "rnn/initial", 3),
    ("lsgm", ("settings", "num_layers"), 4000, "rnn/initial", 1),
    ("lsgm", ("settings", "embedding_dim"), 10**7, "emission_net/embedding", 2),
    ("lsgm", ("settings", "emission_hidden"), 10**7, "emission_net/from_features", 10),
]


@pytest.mark.parametrize(
    "model_name, field, value, array, stored",
    META_CASES,
    ids=["/".join(c[1]) + "-" + c[0] for c in META_CASES],
)
def test_metadata_is_checked_against_the_stored_shapes(
    model_name, field, value, array, stored, tmp_path
):
    path = tmp_path / "m.lsgm"
    save_model(path, MODELS[model_name]())
    arrays, _, meta = read_checkpoint(path)
    node = meta
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    meta["sha256"] = _digest(arrays, meta)
    save_checkpoint(path, arrays, meta)
    with pytest.raises(ValueError) as err:
        load_model(path)
    text = str(err.value)
    assert "m.lsgm" in text and array in text and str(value) in text and str(stored) in text
    assert field[-1] in text


# ------------------------------------------------------------------ diverged fits
RNG = np.random.default_rng(0)
SYMBOLS = [RNG.integers(0, 3, 12) for _ in range(3)]


@pytest.mark.parametrize(
    "model_name, lr, what",
    [
        ("categorical", 1e8, "NLL per step became inf"),
        ("categorical", INF, "invalid parameters"),
        ("lsgm", 1e8, ""),
    ],
)
def test_diverged_gradient_fit_raises_naming_the_epoch_and_the_fix(model_name, lr, what, tmp_path):
    model = MODELS[model_name]()
    with pytest.raises(FitDivergedError, match=r"diverged in epoch (\d+): .*--learning-rate") as e:
        fit_gradient(
            model,
            SYMBOLS,
            optimizer=optax.adam(lr),
            epochs=3,
            clip_norm=1.0,
            checkpoint_dir=tmp_path,
        )
    assert what in str(e.value)
    epoch = int(str(e.value).split("epoch ")[1].split(":")[0])
    saved = tmp_path / "checkpoint.msgpack"  # the diverged epoch was not checkpointed
    assert (load_metadata(saved)["epoch"] if saved.exists() else 0) == epoch - 1
    assert issubclass(FitDivergedError, ValueError)


def _break_m_step(how):
    def m_step(self, x, weights, prior=None):
        if how == "nan-loc":
            self.loc[...] = jnp.full_like(self.loc[...], jnp.nan)
        elif how == "zero-variance":
            self.cov_params[...] = jnp.full_like(self.cov_params[...], -jnp.inf)
        else:  # "inf-loc"
            self.loc[...] = jnp.full_like(self.loc[...], jnp.inf)

    return m_step


@pytest.mark.parametrize("how", ["nan-loc", "zero-variance", "inf-loc"])
def test_diverged_em_fit_raises_naming_the_iteration(how, monkeypatch):
    monkeypatch.setattr(Gaussian, "m_step", _break_m_step(how))
    xs = [RNG.normal(size=(10, 2)).astype(np.float32) for _ in range(2)]
    prior = HMMPrior(initial=np.ones(2))  # an unhashable prior: a freshly traced EM step
    with pytest.raises(FitDivergedError, match=r"EM diverged at iteration 0: .*emission/"):
        fit_em(MODELS["gaussian"](), xs, max_iter=3, priors=prior)


def test_invalid_supervised_fit_raises(monkeypatch):
    monkeypatch.setattr(Gaussian, "m_step", _break_m_step("nan-loc"))
    xs = [RNG.normal(size=(6, 2)).astype(np.float32)]
    paths = [np.array([0, 0, 1, 1, 0, 1])]
    with pytest.raises(FitDivergedError, match="fit_supervised .*emission/loc holds NaN"):
        fit_supervised(MODELS["gaussian"](), xs, paths)


@pytest.mark.parametrize(
    "nll, previous, diverged",
    [
        (INF, [1.0], True),
        (NAN, [], True),
        (500.0, [1.2, 1.0], True),
        (1.5, [1.2, 1.0], False),
        (-50.0, [-60.0], False),
        (5e4, [-60.0], True),
    ],
)
def test_a_training_nll_that_explodes_is_divergence(nll, previous, diverged):
    if diverged:
        with pytest.raises(FitDivergedError, match="diverged in epoch 4"):
            _check_divergence(3, nll, previous)
    else:
        _check_divergence(3, nll, previous)


def test_cli_refuses_to_save_a_diverged_fit(tmp_path, capsys):
    out = tmp_path / "m.lsgm"
    argv = [
        "fit",
        DNA,
        "--model",
        "lsgm",
        "--states",
        "2",
        "--epochs",
        "3",
        "--init",
        "random",
        "--hidden-size",
        "2",
        "--embedding-dim",
        "2",
        "--learning-rate",
        "1e8",
        "-o",
        str(out),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "diverged in epoch" in err and "--learning-rate" in err
    assert not out.exists()
