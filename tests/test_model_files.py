"""Model files: save/load round trips for every emission family and LSGM settings; damaged,
foreign and other-version files are refused with a message naming the file."""

import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Bernoulli, Categorical, Gaussian, GaussianMixture, Poisson
from lsgm.models.serialization import load_model, model_config, save_model
from lsgm.training.checkpoint import read_checkpoint, save_checkpoint

RNG = np.random.default_rng(0)
CASES = {
    "categorical": (Categorical(2, 4, rngs=nnx.Rngs(0)), RNG.integers(0, 4, 9)),
    "gaussian-full": (Gaussian(2, 3, "full", rngs=nnx.Rngs(0)), RNG.normal(size=(9, 3))),
    "gaussian-tied": (Gaussian(2, 3, "tied", rngs=nnx.Rngs(0)), RNG.normal(size=(9, 3))),
    "bernoulli": (Bernoulli(2, 5, rngs=nnx.Rngs(0)), RNG.integers(0, 2, (9, 5))),
    "poisson": (Poisson(2, 2, rngs=nnx.Rngs(0)), RNG.integers(0, 6, (9, 2))),
    "gmm": (GaussianMixture(2, 2, 3, "diag", rngs=nnx.Rngs(0)), RNG.normal(size=(9, 2))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hmm_round_trip(name, tmp_path):
    emission, x = CASES[name]
    hmm = lsgm.HMM(2, emission, rngs=nnx.Rngs(1), transition_mask=np.array([[1, 1], [0, 1]], bool))
    save_model(tmp_path / "m.lsgm", hmm, info={"note": name})
    loaded, info = load_model(tmp_path / "m.lsgm")
    assert info == {"note": name} and model_config(loaded) == model_config(hmm)
    x = x.astype(np.float32) if x.dtype.kind == "f" else x.astype(np.int32)
    assert float(loaded.log_prob(x)) == float(hmm.log_prob(x))
    np.testing.assert_array_equal(loaded.transition_mask[...], hmm.transition_mask[...])


def test_lsgm_round_trip_is_in_inference_mode(tmp_path):
    model = lsgm.LSGM(
        3,
        Categorical(3, 4, rngs=nnx.Rngs(0)),
        rnn="lstm",
        hidden_size=6,
        num_layers=2,
        order=0,
        emission_network="per_state",
        dropout=0.3,
        rngs=nnx.Rngs(1),
    )
    save_model(tmp_path / "l.lsgm", model)
    loaded, _ = load_model(tmp_path / "l.lsgm")
    assert dict(loaded.settings) == dict(model.settings)
    x = np.array([0, 1, 2, 3, 3, 1], np.int32)
    model.eval()
    first = float(loaded.log_prob(x))
    assert first == float(loaded.log_prob(x)) == float(model.log_prob(x))  # no dropout noise


def test_damaged_foreign_and_other_version_files(tmp_path):
    hmm = lsgm.HMM(2, Categorical(2, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    save_model(tmp_path / "m.lsgm", hmm)
    raw = (tmp_path / "m.lsgm").read_bytes()
    refused = 0
    for pos in range(0, len(raw), 5):  # flip a bit every 5 bytes: never loaded silently wrong
        damaged = bytearray(raw)
        damaged[pos] ^= 0x04
        (tmp_path / "d.lsgm").write_bytes(bytes(damaged))
        try:
            loaded, _ = load_model(tmp_path / "d.lsgm")
        except ValueError as err:
            assert "d.lsgm" in str(err)
            refused += 1
        else:  # only bytes that carry no model content (envelope key names) may pass
            assert float(loaded.log_prob(np.array([0, 1]))) == float(hmm.log_prob(np.array([0, 1])))
    assert refused > 0.9 * len(range(0, len(raw), 5))
    arrays, _, meta = read_checkpoint(tmp_path / "m.lsgm")
    save_checkpoint(tmp_path / "v2.lsgm", arrays, {**meta, "format_version": 2})
    with pytest.raises(ValueError, match="model format version 2"):
        load_model(tmp_path / "v2.lsgm")
    save_checkpoint(tmp_path / "ckpt.lsgm", arrays, {"epoch": 3})
    with pytest.raises(ValueError, match="not a model file"):
        load_model(tmp_path / "ckpt.lsgm")
    with pytest.raises(ValueError, match="no such model file"):
        load_model(tmp_path / "missing.lsgm")
