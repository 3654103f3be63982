"""Music: the bundled data sets have the published splits; `lsgm experiment music --quick`
trains the LSGM over two seeds (validation NLL falls), writes the table with mean ± SD and
the like-for-like column, a readable MIDI and resumable checkpoints; scoring in bounded calls
equals one call. The model tests share their sizes (dim 6, GRU 8) so they share compiles."""

import json
from pathlib import Path

import numpy as np
import pytest

from lsgm.cli.main import main
from lsgm.data.pianoroll import frame_counts, read_midi
from lsgm.datasets.music import load_music


def _write_tiny_mat(path: Path) -> None:
    """A .mat in the published layout (1 x N cells of uint8 [T, 88]): train 8 and 6 frames,
    valid 5, test 7 (both padded to 8 when scored: one compiled shape)."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    cells = {}
    for key, lengths in (("traindata", (8, 6)), ("validdata", (5,)), ("testdata", (7,))):
        cells[key] = np.empty((1, len(lengths)), dtype=object)
        for i, n in enumerate(lengths):
            cells[key][0, i] = (rng.random((n, 88)) < 0.1).astype(np.uint8)
    savemat(path, cells)


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
    """The quick run with the new options: 2 seeds (mean ± SD), a train subsample, no heated
    epochs, scoring in small calls, checkpoints; resuming the finished run changes nothing,
    and a resume with another --entropy-epochs is refused, naming it."""
    tiny = tmp_path / "music_tiny.mat"
    _write_tiny_mat(tiny)
    out, ckpt = tmp_path / "music", tmp_path / "ckpt"
    args = ["experiment", "music", "--quick", "--dataset", str(tiny), "--json", "--dropout"]
    args += ["0.25", "--weight-decay", "1e-4", "--checkpoint-dir", str(ckpt), "--models"]
    args += ["LSGM", "--max-train", "1", "--entropy-epochs", "0"]
    code = main([*args, "--seeds", "2", "--eval-frames", "4", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)["music-tiny"]
    assert result["seeds"] == [0, 1] and set(result["summary"]) == {"LSGM"}
    lsgm = result["summary"]["LSGM"]
    assert lsgm["test_sd"] is not None and lsgm["paper"] is None and lsgm["met"] is None
    assert not lsgm["like_for_like"] and "train 1 of 2 pieces" in lsgm["differs"]
    assert "entropy epochs 0 (paper 10)" in lsgm["differs"]
    run0 = result["runs"]["0"]["results"]["LSGM"]
    nll = run0["valid_nll_per_step"]
    assert len(nll) == 3 and nll[-1] < nll[0]  # training lowers the validation NLL
    table = (out / "results.md").read_text()
    assert "| music-tiny | LSGM | " in table and " ± " in table and "quick smoke run" in table
    roll = read_midi(out / "music-tiny_lsgm_sample.mid", step_seconds=0.5)
    assert roll.shape[1] == 88 and 0 < roll.shape[0] <= 64
    assert (ckpt / "music-tiny" / "seed1" / "LSGM" / "checkpoint.msgpack").is_file()
    again = ["--resume", "-o", str(tmp_path / "again")]
    assert main([*args, *again]) == 0
    resumed = json.loads(capsys.readouterr().out)["music-tiny"]["runs"]["0"]["results"]
    assert resumed["LSGM"]["test_ll_per_frame"] == run0["test_ll_per_frame"]
    assert main([*args[:-1], "1", *again]) == 1
    err = capsys.readouterr().err
    assert "cannot resume" in err and "entropy_epochs 0, not 1" in err, err


def test_rnn_baseline_is_a_one_state_gru_with_bernoulli_outputs():
    from lsgm.apps.music import music_rnn

    rnn = music_rnn(8, dim=6, dropout=0.0)  # the sizes of the tests below: shared compiles
    assert rnn.num_states == 1 and rnn.conditioning == "emissions"
    x = np.array([[1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 1], [0, 0, 0, 0, 1, 0]], np.float32)
    p = rnn.potentials(x)
    # one state: log p(x) is the sum of the per-frame Bernoulli log-likelihoods
    assert float(rnn.log_prob(x)) == pytest.approx(float(p.log_emit.sum()), rel=1e-6)


def test_weight_decay_reaches_only_the_network_kernels():
    import jax
    from flax import nnx

    from lsgm.apps.music import _kernels, music_rnn

    rnn = music_rnn(8, dim=6, dropout=0.0)
    flat = jax.tree_util.tree_flatten_with_path(_kernels(nnx.state(rnn, nnx.Param)))[0]
    decayed = [jax.tree_util.keystr(p) for p, on in flat if on]
    kept = [jax.tree_util.keystr(p) for p, on in flat if not on]
    # GRU input and recurrent, dense, emission network (features, state, output)
    assert len(decayed) == 6 and all("'kernel'" in p for p in decayed)
    assert any("transition_logits" in p for p in kept) and any("'bias'" in p for p in kept)


def test_the_lsgm_starts_at_random_or_exactly_at_the_hmm():
    """Also: scoring in bounded calls (pow2 buckets, a few pieces per call) gives the same
    numbers as one call over every piece; subsamples are seeded and keep the order."""
    from lsgm.apps.music import fit_music_hmm, music_lsgm, run_music, score_pieces, subsample

    rng = np.random.default_rng(0)
    rolls = [(rng.random((n, 6)) < 0.3).astype(np.float32) for n in (5, 8, 7, 8)]
    hmm, _ = fit_music_hmm(rolls, num_states=3, max_iter=5)
    # two calls of 2 pieces padded to 8 frames against one call of 4
    np.testing.assert_allclose(
        score_pieces(hmm, rolls, max_frames=16), hmm.score_samples(rolls), rtol=1e-5
    )
    picked = [next(i for i, q in enumerate(rolls) if q is r) for r in subsample(rolls, 2, 5)]
    assert len(picked) == 2 and picked == sorted(picked) and subsample(rolls, None) == rolls
    from_hmm = music_lsgm(hmm, 8, dim=6, dropout=0.0)
    np.testing.assert_allclose(from_hmm.score_samples(rolls), hmm.score_samples(rolls), rtol=1e-5)
    random = music_lsgm(3, 8, dim=6, dropout=0.0)
    assert random.num_states == 3 and random.emission_bias[...].shape == (3, 6)
    assert not np.allclose(random.score_samples(rolls), hmm.score_samples(rolls), rtol=1e-2)
    with pytest.raises(ValueError, match="init='kmeans' is not one of"):
        run_music({"train": rolls, "valid": rolls, "test": rolls}, init="kmeans")
