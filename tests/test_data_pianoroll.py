"""Piano-roll readers and writers: the bundled JSB Chorales, .mat / .json / MIDI files."""

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import scipy.io

from lsgm.data.pianoroll import (
    frame_counts,
    lengths,
    read_json,
    read_mat,
    read_midi,
    read_pianoroll,
    roll_to_notes,
    write_midi,
)
from lsgm.datasets.music import load_jsb_chorales

DATA = Path(__file__).parent / "data"


def _cell(seqs) -> np.ndarray:
    cell = np.empty((1, len(seqs)), object)
    for i, s in enumerate(seqs):
        cell[0, i] = s
    return cell


def _mat(path, train, valid=None, test=None):
    roll = np.zeros((2, 88), np.uint8)
    content = {
        "traindata": _cell(train),
        "validdata": _cell(valid or [roll]),
        "testdata": _cell(test or [roll]),
    }
    scipy.io.savemat(path, content)
    return path


# --- the bundled JSB Chorales -----------------------------------------------------------------


def test_jsb_chorales_splits_and_frames():
    data = load_jsb_chorales()
    assert list(data) == ["train", "valid", "test"]
    assert {s: len(v) for s, v in data.items()} == {"train": 229, "valid": 76, "test": 77}
    assert frame_counts(data) == {"train": 13807, "valid": 4602, "test": 4725}
    assert sum(frame_counts(data).values()) == 23134
    first = data["train"][0]
    assert first.dtype == np.float32 and first.shape == (129, 88)
    assert lengths(data)["train"][0] == 129
    everything = np.concatenate([np.concatenate(v) for v in data.values()])
    assert set(np.unique(everything)) == {0.0, 1.0}
    keys = np.flatnonzero(everything.any(axis=0)) + 21  # MIDI range of the chorales
    assert (keys.min(), keys.max()) == (43, 96)
    # The first chord of the first chorale (the original pickle: [60, 72, 79, 88]).
    assert roll_to_notes(first[:1]) == [[60, 72, 79, 88]]


# --- .mat and .json ---------------------------------------------------------------------------


def test_json_reader_equals_mat_reader():
    from_mat = read_pianoroll(DATA / "music_tiny.mat")
    from_json = read_pianoroll(DATA / "music_tiny.json")
    assert list(from_mat) == list(from_json) == ["train", "valid", "test"]
    assert lengths(from_mat) == {"train": [8, 6], "valid": [5], "test": [4]}
    for split in from_mat:
        for a, b in zip(from_mat[split], from_json[split], strict=True):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)
    assert not from_json["valid"][0][2].any()  # [] = a silent step
    assert roll_to_notes(from_json["train"][0][:1]) == [[60, 72, 79, 88]]


def test_mat_missing_key(tmp_path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"traindata": _cell([np.zeros((2, 88))])})
    with pytest.raises(ValueError, match=r"x\.mat: missing key\(s\) \['validdata', 'testdata'\]"):
        read_mat(path)


def test_mat_wrong_width(tmp_path):
    path = _mat(tmp_path / "x.mat", [np.zeros((3, 88)), np.zeros((3, 87))])
    with pytest.raises(
        ValueError, match=r"x\.mat, split 'train', sequence 1: .*\[T, 88\].*\(3, 87\)"
    ):
        read_mat(path)


def test_mat_values_not_binary_and_nan(tmp_path):
    bad = np.zeros((4, 88))
    bad[2, 5] = 2
    with pytest.raises(ValueError, match=r"sequence 0: value 2.0 at time step 2, column 5"):
        read_mat(_mat(tmp_path / "a.mat", [bad]))
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"sequence 0: value nan at time step 2, column 5"):
        read_mat(_mat(tmp_path / "b.mat", [bad]))


def test_mat_unreadable(tmp_path):
    path = tmp_path / "broken.mat"
    path.write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(ValueError, match=r"broken\.mat: not a readable MATLAB \.mat file"):
        read_mat(path)


def test_json_note_out_of_range(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"train": [[[60], []], [[60, 64], [12]]]}))
    with pytest.raises(
        ValueError,
        match=r"x\.json, split 'train', sequence 1, time step 1: note 12 is outside .*21\.\.108",
    ):
        read_json(path)


def test_json_bad_layout(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"train": [[[60], 61]]}))
    with pytest.raises(ValueError, match=r"sequence 0, time step 1: expected a list of MIDI"):
        read_json(path)
    path.write_text(json.dumps({"train": [[[60.5]]]}))
    with pytest.raises(ValueError, match=r"note 60\.5 is not an integer"):
        read_json(path)
    path.write_text('{"train": [[[60]]')
    with pytest.raises(ValueError, match=r"x\.json, line 1, column \d+: not valid JSON"):
        read_json(path)


def test_unsupported_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported piano-roll file type '\.pkl'.*\.mat.*\.mid"):
        read_pianoroll(tmp_path / "rolls.pkl")


# --- MIDI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grid", [{}, {"step_seconds": 0.3}, {"steps_per_quarter": 4}], ids=["0.5s", "0.3s", "1/16"]
)
def test_midi_round_trip_exact(tmp_path, grid):
    rng = np.random.default_rng(0)
    for trial in range(6):
        T = int(rng.integers(1, 30))
        roll = (rng.random((T, 88)) < 0.2).astype(np.float32)
        roll[:, 0] = 1  # a key held the whole time
        roll[: T // 2, 87] = 1  # held from the start, then released
        roll[-2:, 40] = 0
        if trial == 0:
            roll[-3:] = 0  # trailing silence survives (end-of-track time)
        path = tmp_path / f"r{trial}.mid"
        write_midi(path, roll, velocity=64, program=19, **grid)
        back = read_midi(path, **grid)
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, roll)
    # Consecutive 1s are one held note: a single column of 3 ones -> one note_on, one note_off.
    roll = np.zeros((5, 88), np.float32)
    roll[1:4, 39] = 1
    write_midi(tmp_path / "held.mid", roll, **grid)
    msgs = [m for m in mido.MidiFile(tmp_path / "held.mid") if m.type in ("note_on", "note_off")]
    assert [(m.type, m.note) for m in msgs] == [("note_on", 60), ("note_off", 60)]
    assert read_pianoroll(tmp_path / "held.mid", **grid)["all"][0].tolist() == roll.tolist()


def test_midi_tempo_change_tracks_and_velocity_zero():
    # Hand-built: 96 ticks/beat; tempo 120 bpm, 240 bpm from tick 192 (1.0 s). Track 1: note 60
    # ticks 0-96 (0-0.5 s), note 64 ticks 96-384 (0.5-1.5 s; ended by a velocity-0 note_on);
    # track 2, channel 1: note 67 ticks 192-576 (1.0-2.0 s).
    roll = read_midi(DATA / "music_two_tracks.mid")  # 0.5 s steps
    assert roll.shape == (4, 88)
    assert roll_to_notes(roll) == [[60], [64], [64, 67], [67]]
    by_beat = read_midi(DATA / "music_two_tracks.mid", steps_per_quarter=1)  # tempo-free
    assert roll_to_notes(by_beat) == [[60], [64], [64, 67], [64, 67], [67], [67]]
    only_ch0 = read_midi(DATA / "music_two_tracks.mid", channels={0})
    assert roll_to_notes(only_ch0) == [[60], [64], [64], []]


def test_midi_note_outside_piano_range(tmp_path):
    track = mido.MidiTrack(
        [
            mido.Message("note_on", note=60, velocity=80, time=0),
            mido.Message("note_on", note=12, velocity=80, time=0),
            mido.Message("note_off", note=60, time=480),
            mido.Message("note_off", note=12, time=0),
        ]
    )
    path = tmp_path / "low.mid"
    mido.MidiFile(type=0, tracks=[track]).save(path)
    with pytest.raises(
        ValueError, match=r"low\.mid, track 0, tick 0 .*note 12 is outside.*out_of_range='drop'"
    ):
        read_midi(path)
    assert roll_to_notes(read_midi(path, out_of_range="drop")) == [[60]]


def test_midi_unreadable_and_bad_arguments(tmp_path):
    path = tmp_path / "junk.mid"
    path.write_bytes(b"MThd junk")
    with pytest.raises(ValueError, match=r"junk\.mid: not a readable MIDI file"):
        read_pianoroll(path)
    with pytest.raises(ValueError, match=r"\[T, 88\].*\(3, 80\)"):
        write_midi(tmp_path / "x.mid", np.zeros((3, 80)))
    with pytest.raises(ValueError, match=r"velocity must be an integer in 1\.\.127, got 0"):
        write_midi(tmp_path / "x.mid", np.zeros((3, 88)), velocity=0)
    with pytest.raises(ValueError, match=r"MIDI files only"):
        read_pianoroll(DATA / "music_tiny.json", step_seconds=0.25)
    assert not (tmp_path / "x.mid").exists()
