"""A resume can only continue the same run (issue 18, class 5): checkpoints record a
fingerprint of the data and of every setting that changes the result, and a checksum; a
mismatch, a flipped bit or a missing checkpoint is an error naming what is wrong."""

import numpy as np
import optax
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Categorical
from lsgm.training import ResumeError, fit_em, fit_gradient
from lsgm.training.checkpoint import load_metadata

RNG = np.random.default_rng(3)
DATA = [RNG.integers(0, 3, 10) for _ in range(4)]
OTHER = [x.copy() for x in DATA]
OTHER[2][5] = (OTHER[2][5] + 1) % 3  # same sizes, one symbol differs
LABELS = [np.where(np.arange(10) < 2, 0, -1) for _ in DATA]
TX = optax.adam(0.05)


def _hmm(seed=1):
    return lsgm.HMM(2, Categorical(2, 3, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(seed))


GRAD = dict(epochs=2, batch_size=2, optimizer=TX)
# (id, changed arguments (model seed under "model_seed"), expected text)
GRADIENT_CASES = [
    ("other-data", {"xs": OTHER}, "written for other training data"),
    (
        "other-labels",
        {"state_labels": [np.where(lab == 0, 1, lab) for lab in LABELS]},
        "written for other state labels",
    ),
    ("other-seed", {"seed": 7}, "written for seed 0, not 7"),
    ("other-batch-size", {"batch_size": 3}, "written for batch_size 2, not 3"),
    ("other-clip-norm", {"clip_norm": 0.5}, "written for clip_norm None, not 0.5"),
    ("other-learning-rate", {"optimizer": optax.adam(0.02)}, "optimizer hyper-parameters"),
    (
        "named-setting",
        {"optimizer_settings": {"--learning-rate": 0.02}},
        "written for --learning-rate 0.05, not 0.02",
    ),
    ("other-start", {"model_seed": 2}, "written for other starting parameters"),
]


@pytest.fixture(scope="module")
def gradient_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grad")
    fit_gradient(
        _hmm(),
        DATA,
        state_labels=LABELS,
        checkpoint_dir=folder,
        optimizer_settings={"--learning-rate": 0.05},
        **{**GRAD, "epochs": 1},
    )
    return folder


@pytest.mark.parametrize(
    "changes, text", [c[1:] for c in GRADIENT_CASES], ids=[c[0] for c in GRADIENT_CASES]
)
def test_gradient_resume_refuses_another_run(gradient_dir, changes, text):
    kwargs = {
        **GRAD,
        "xs": DATA,
        "state_labels": LABELS,
        "optimizer_settings": {"--learning-rate": 0.05},
        **changes,
    }
    model = _hmm(kwargs.pop("model_seed", 1))
    xs = kwargs.pop("xs")
    with pytest.raises(ResumeError, match=text) as err:
        fit_gradient(model, xs, checkpoint_dir=gradient_dir, resume=True, **kwargs)
    assert str(gradient_dir) in str(err.value)
    assert load_metadata(gradient_dir / "checkpoint.msgpack")["epoch"] == 1  # untouched


def test_gradient_resume_may_run_longer_and_equals_an_uninterrupted_run(tmp_path):
    fit_gradient(_hmm(), DATA, checkpoint_dir=tmp_path, **{**GRAD, "epochs": 1})
    _, resumed = fit_gradient(_hmm(), DATA, checkpoint_dir=tmp_path, resume=True, **GRAD)
    _, straight = fit_gradient(_hmm(), DATA, **GRAD)
    assert resumed.train_nll == straight.train_nll


EM = dict(max_iter=2, tol=0.0)
EM_CASES = [
    ("other-data", {"xs": OTHER}, "written for other training data"),
    ("other-tol", {"tol": 1e-3}, "written for tol 0.0, not 0.001"),
    ("other-n-init", {"n_init": 2}, "written for .*n_init 1, not 2"),
    ("other-priors", {"priors": {"transition": 2.0}}, "written for other priors"),
    ("other-labels", {"state_labels": LABELS}, "written for other state labels"),
    ("other-freeze", {"freeze": ("initial",)}, "written for freeze"),
    ("other-start", {"model_seed": 2}, "written for other starting parameters"),
]


@pytest.fixture(scope="module")
def em_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("em")
    fit_em(_hmm(), DATA, checkpoint_dir=folder, **{**EM, "max_iter": 1})
    return folder


@pytest.mark.parametrize("changes, text", [c[1:] for c in EM_CASES], ids=[c[0] for c in EM_CASES])
def test_em_resume_refuses_another_run(em_dir, changes, text):
    kwargs = {**EM, "xs": DATA, **changes}
    model = _hmm(kwargs.pop("model_seed", 1))
    xs = kwargs.pop("xs")
    with pytest.raises(ResumeError, match=text):
        fit_em(model, xs, checkpoint_dir=em_dir, resume=True, **kwargs)


def test_em_resume_may_run_longer_and_equals_an_uninterrupted_run(tmp_path):
    fit_em(_hmm(), DATA, checkpoint_dir=tmp_path, **{**EM, "max_iter": 1})
    _, resumed = fit_em(_hmm(), DATA, checkpoint_dir=tmp_path, resume=True, **EM)
    _, straight = fit_em(_hmm(), DATA, **EM)
    assert resumed.log_likelihoods == straight.log_likelihoods


def _fit(trainer, folder, resume=False):
    if trainer == "gradient":
        return fit_gradient(
            _hmm(), DATA, checkpoint_dir=folder, resume=resume, **{**GRAD, "epochs": 1}
        )
    return fit_em(_hmm(), DATA, checkpoint_dir=folder, resume=resume, **{**EM, "max_iter": 1})


FILES = {"gradient": "checkpoint.msgpack", "em": "em_checkpoint.msgpack"}


@pytest.mark.parametrize("trainer", ["gradient", "em"])
@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_a_flipped_bit_is_refused_naming_the_file(trainer, where, tmp_path):
    _fit(trainer, tmp_path)
    path = tmp_path / FILES[trainer]
    raw = bytearray(path.read_bytes())
    raw[int(where * len(raw))] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=FILES[trainer]):
        _fit(trainer, tmp_path, resume=True)


@pytest.mark.parametrize("trainer", ["gradient", "em"])
@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_resume_without_a_checkpoint_is_an_error(trainer, folder, tmp_path):
    target = tmp_path / folder
    if folder == "empty":
        target.mkdir()
    text = "does not exist" if folder == "missing" else "holds no checkpoint"
    with pytest.raises(ResumeError, match=f"{folder}.*{text}"):
        _fit(trainer, target, resume=True)
    assert not (tmp_path / "missing").exists()
