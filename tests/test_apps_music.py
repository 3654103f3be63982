"""Music: the bundled data sets have the published splits; `lsgm experiment music --quick`
trains all three models (validation NLL falls), writes the Table-3 layout and a readable MIDI."""

import json
from pathlib import Path

import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.data.pianoroll import frame_counts, read_midi
from lsgm.datasets.music import load_music

TINY = Path(__file__).parent / "data" / "music_tiny.mat"


@pytest.mark.parametrize(
    ("name", "sizes", "frames"),
    [
        ("jsb", (229, 76, 77), 23_134),
        ("nottingham", (694, 173, 170), 266_537),
        ("piano-midi", (87, 12, 25), 103_487),
    ],
)
def test_bundled_splits_and_frame_counts(name, sizes, frames):
    data = load_music(name)
    assert tuple(len(data[s]) for s in ("train", "valid", "test")) == sizes
    assert sum(frame_counts(data).values()) == frames
    assert all(r.shape[1] == 88 and set(np.unique(r)) <= {0.0, 1.0} for r in data["test"])


def test_unknown_bundled_name():
    with pytest.raises(ValueError, match="no bundled music data set 'bach'"):
        load_music("bach")


@pytest.mark.slow
def test_experiment_music_quick(tmp_path, capsys):
    out = tmp_path / "music"
    code = main(
        [
            "experiment",
            "music",
            "--quick",
            "--dataset",
            str(TINY),
            "-o",
            str(out),
            "--models",
            "HMM,LSGM",
            "--weight-decay",
            "1e-4",
            "--dropout",
            "0.25",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)["music-tiny"]["results"]
    assert set(result) == {"HMM", "LSGM"}
    nll = result["LSGM"]["valid_nll_per_step"]
    assert len(nll) == 3 and nll[-1] < nll[0]  # training lowers the validation NLL
    assert result["LSGM"]["n_parameters"] > result["HMM"]["n_parameters"]
    table = (out / "results.md").read_text()
    assert "| LSGM (paper) |" in table and "| HMM (lsgm) |" in table and "RNN (lsgm)" not in table
    roll = read_midi(out / "music-tiny_lsgm_sample.mid", step_seconds=0.5)
    assert roll.shape[1] == 88 and 0 < roll.shape[0] <= 64


def test_rnn_baseline_is_a_one_state_gru_with_bernoulli_outputs():
    from lsgm.apps.music import music_rnn

    rnn = music_rnn(8, dim=5, dropout=0.0)
    assert rnn.num_states == 1 and rnn.conditioning == "emissions"
    x = np.array([[1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 1]], np.float32)
    p = rnn.potentials(x)
    # one state: log p(x) is the sum of the per-frame Bernoulli log-likelihoods
    assert float(rnn.log_prob(x)) == pytest.approx(float(p.log_emit.sum()), rel=1e-6)


def test_weight_decay_reaches_only_the_network_kernels():
    import jax
    from flax import nnx

    from lsgm.apps.music import _kernels, music_rnn

    rnn = music_rnn(4, dim=5, dropout=0.0)
    flat = jax.tree_util.tree_flatten_with_path(_kernels(nnx.state(rnn, nnx.Param)))[0]
    decayed = [jax.tree_util.keystr(p) for p, on in flat if on]
    kept = [jax.tree_util.keystr(p) for p, on in flat if not on]
    # GRU input and recurrent, dense, emission network (features, state, output)
    assert len(decayed) == 6 and all("'kernel'" in p for p in decayed)
    assert any("transition_logits" in p for p in kept) and any("'bias'" in p for p in kept)


def test_the_lsgm_starts_at_random_or_exactly_at_the_hmm():
    from lsgm.apps.music import fit_music_hmm, music_lsgm, run_music

    rng = np.random.default_rng(0)
    rolls = [(rng.random((n, 6)) < 0.3).astype(np.float32) for n in (9, 7, 12)]
    hmm, _ = fit_music_hmm(rolls, num_states=3, max_iter=5)
    from_hmm = music_lsgm(hmm, 8, dim=6, dropout=0.0)
    np.testing.assert_allclose(from_hmm.score_samples(rolls), hmm.score_samples(rolls), rtol=1e-5)
    random = music_lsgm(3, 8, dim=6, dropout=0.0)
    assert random.num_states == 3 and random.emission_bias[...].shape == (3, 6)
    assert not np.allclose(random.score_samples(rolls), hmm.score_samples(rolls), rtol=1e-2)
    with pytest.raises(ValueError, match="init='kmeans' is not one of"):
        run_music({"train": rolls, "valid": rolls, "test": rolls}, init="kmeans")
