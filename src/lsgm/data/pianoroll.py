"""Piano rolls: MATLAB ``.mat`` and JSON benchmark files, and MIDI files (via ``mido``).

A piano roll is a ``[T, 88]`` float32 array of 0/1: row ``t`` is time step ``t`` and column
``j`` is the piano key with MIDI note number ``21 + j`` (A0 = 21 ... C8 = 108); ``1`` means
the key sounds during step ``t``. A data set is a ``dict`` split name -> list of rolls, e.g.
``{"train": [...], "valid": [...], "test": [...]}`` for the Boulanger-Lewandowski et al.
(2012) benchmarks, or ``{"all": [roll]}`` for one MIDI file.

**MIDI time grid.** A MIDI file is quantised on a grid of ``step_seconds`` (default 0.5 s,
one quarter note at the MIDI default of 120 beats per minute), following every tempo change;
or, with ``steps_per_quarter=n``, on a grid of ``1/n`` quarter note in score time (tempo
changes then do not matter). A note sounding from time ``a`` to ``b`` covers the steps
``round(a / step) <= t < round(b / step)`` (round half to even); a note shorter than half a
step, which would round to no step at all, keeps the one step ``round(a / step)``.

**Held versus re-struck notes.** A roll has no note-onset information, so consecutive 1s in
a column are *one held note*: :func:`write_midi` writes one note per maximal run of 1s, and a
key that :func:`read_midi` finds struck again the moment it ends gives one unbroken run. The
round trip roll -> MIDI -> roll is exact; MIDI -> roll -> MIDI merges such re-strikes.
``note_on`` with velocity 0 is a ``note_off``; a ``note_on`` of a key that is already
sounding ends the sounding note and starts a new one; notes still sounding at the end of the
file end there; a ``note_off`` of a key that is not sounding changes nothing. Sustain pedal
and other controllers are not read. All tracks and channels are merged (``channels=``
selects channels).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Collection
from pathlib import Path

import numpy as np

from lsgm.data.files import atomic_path

#: MIDI note number of column 0 and the number of piano keys (columns).
LOWEST_NOTE = 21
NUM_KEYS = 88
HIGHEST_NOTE = LOWEST_NOTE + NUM_KEYS - 1  # 108

#: ``.mat`` keys -> split names.
MAT_SPLITS = {"traindata": "train", "validdata": "valid", "testdata": "test"}

MIDI_SUFFIXES = (".mid", ".midi")
SUPPORTED_SUFFIXES = (".mat", ".json", *MIDI_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# Checks and helpers
# ---------------------------------------------------------------------------------------------


def check_roll(roll, where: str) -> np.ndarray:
    """Validate one piano roll and return it as ``[T, 88]`` float32 of 0/1.

    Raises a ``ValueError`` starting with ``where`` when the array is not 2-D with 88
    columns, or holds NaN or values other than 0 and 1.
    """
    roll = np.asarray(roll)
    if roll.dtype == object or not (np.issubdtype(roll.dtype, np.number) or roll.dtype == np.bool_):
        raise ValueError(f"{where}: a piano roll must be numeric 0/1, got dtype {roll.dtype}.")
    if roll.ndim != 2 or roll.shape[1] != NUM_KEYS:
        raise ValueError(
            f"{where}: a piano roll must have shape [T, {NUM_KEYS}] (column j = MIDI note "
            f"{LOWEST_NOTE}+j), got shape {roll.shape}."
        )
    if np.issubdtype(roll.dtype, np.inexact):
        bad = ~np.isfinite(roll)
        if bad.any():
            t, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where}: value {roll[t, j]} at time step {t}, column {j}; a piano roll "
                "holds only 0 and 1."
            )
    bad = (roll != 0) & (roll != 1)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: value {roll[t, j]} at time step {t}, column {j}; a piano roll holds "
            "only 0 and 1."
        )
    return roll.astype(np.float32)


def lengths(data: dict[str, list[np.ndarray]]) -> dict[str, list[int]]:
    """The number of time steps ``T`` of every roll, per split."""
    return {split: [int(r.shape[0]) for r in rolls] for split, rolls in data.items()}


def frame_counts(data: dict[str, list[np.ndarray]]) -> dict[str, int]:
    """The total number of time steps (frames) per split."""
    return {split: sum(ns) for split, ns in lengths(data).items()}


def notes_to_roll(steps, where: str) -> np.ndarray:
    """A roll ``[T, 88]`` from ``T`` lists of sounding MIDI note numbers (``[]`` = silence)."""
    if not isinstance(steps, list):
        raise ValueError(
            f"{where}: a sequence must be a list of time steps, got {type(steps).__name__}."
        )
    roll = np.zeros((len(steps), NUM_KEYS), np.float32)
    for t, notes in enumerate(steps):
        if not isinstance(notes, list):
            raise ValueError(
                f"{where}, time step {t}: expected a list of MIDI note numbers "
                f"({LOWEST_NOTE}..{HIGHEST_NOTE}, [] = silence), got {notes!r}."
            )
        for note in notes:
            if isinstance(note, bool) or not isinstance(note, int):
                raise ValueError(
                    f"{where}, time step {t}: note {note!r} is not an integer MIDI note number "
                    f"({LOWEST_NOTE}..{HIGHEST_NOTE})."
                )
            if not LOWEST_NOTE <= note <= HIGHEST_NOTE:
                raise ValueError(
                    f"{where}, time step {t}: note {note} is outside the piano range "
                    f"{LOWEST_NOTE}..{HIGHEST_NOTE}; transpose or remove it."
                )
            roll[t, note - LOWEST_NOTE] = 1.0
    return roll


def roll_to_notes(roll) -> list[list[int]]:
    """The inverse of :func:`notes_to_roll`: per time step, the sorted sounding MIDI notes."""
    roll = check_roll(roll, "roll_to_notes")
    return [[LOWEST_NOTE + int(j) for j in np.flatnonzero(row)] for row in roll]


# ---------------------------------------------------------------------------------------------
# .mat and .json benchmark files
# ---------------------------------------------------------------------------------------------


def read_mat(path) -> dict[str, list[np.ndarray]]:
    """Read a Boulanger-Lewandowski benchmark ``.mat`` file (MATLAB 5, ``scipy.io.loadmat``).

    The file holds 1 x N cell arrays ``traindata``, ``validdata``, ``testdata`` of ``[T, 88]``
    0/1 arrays. Returns ``{"train": [...], "valid": [...], "test": [...]}``, each roll
    ``[T, 88]`` float32. Raises a ``ValueError`` naming the file, split and sequence index
    (0-based) for an unreadable file, a missing key, a wrong width, NaN or values not 0/1.
    """
    import scipy.io

    path = Path(path)
    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError as err:  # MATLAB v7.3 (HDF5) files
        raise ValueError(
            f"{path}: cannot read this MATLAB file ({err}); save it with `save(..., '-v7')`."
        ) from err
    except (
        OSError,
        ValueError,
        TypeError,
        EOFError,
        KeyError,
        IndexError,
        AttributeError,
        struct.error,
        zlib.error,
        RecursionError,
    ) as err:
        raise ValueError(
            f"{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err})."
        ) from err
    missing = [key for key in MAT_SPLITS if key not in content]
    if missing:
        present = sorted(k for k in content if not k.startswith("__"))
        raise ValueError(
            f"{path}: missing key(s) {missing}; a piano-roll .mat file needs the cell arrays "
            f"{list(MAT_SPLITS)} (found {present})."
        )
    data: dict[str, list[np.ndarray]] = {}
    for key, split in MAT_SPLITS.items():
        cell = content[key]
        if cell.dtype != object:
            raise ValueError(
                f"{path}, split {split!r} ({key}): expected a cell array of [T, {NUM_KEYS}] "
                f"rolls, got a {cell.dtype} array of shape {cell.shape}."
            )
        data[split] = [
            check_roll(seq, f"{path}, split {split!r}, sequence {i}")
            for i, seq in enumerate(cell.ravel(order="F"))
        ]
    return data


def read_json(path) -> dict[str, list[np.ndarray]]:
    """Read piano rolls in the Boulanger-Lewandowski layout, stored as JSON.

    The file holds ``{split: [sequence, ...]}``, a sequence being a list of time steps and a
    time step the list of sounding MIDI note numbers (21..108; ``[]`` = silence). Returns
    ``{split: [roll [T, 88] float32, ...]}`` in the file's split order. Errors name the
    split, sequence index (0-based), time step and the bad value.
    """
    path = Path(path)

    def no_constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        content = json.loads(text, parse_constant=no_constant)
    except UnicodeDecodeError as err:
        from lsgm.data.fasta import decode_error_message

        raise ValueError(decode_error_message(path, err)) from err
    except OSError as err:
        raise ValueError(f"{path}: cannot read the file ({err.strerror or err}).") from err
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}, line {err.lineno}, column {err.colno}: not valid JSON ({err.msg})."
        ) from err
    except ValueError as err:  # NaN / Infinity, which strict JSON does not have
        raise ValueError(f"{path}: not valid JSON ({err}); store MIDI note numbers.") from err
    except RecursionError as err:
        raise ValueError(
            f"{path}: the JSON is nested too deeply to read; a piano-roll file is "
            "{split: [sequence [time step [notes]]]}, three levels of lists."
        ) from err
    if not isinstance(content, dict) or not content:
        raise ValueError(
            f"{path}: expected a JSON object {{split: [sequence, ...]}} such as "
            '{"train": [[[60, 64], [], ...], ...]}, got '
            f"{type(content).__name__ if content else 'an empty object'}."
        )
    data: dict[str, list[np.ndarray]] = {}
    for split, seqs in content.items():
        if not isinstance(seqs, list):
            raise ValueError(
                f"{path}, split {split!r}: expected a list of sequences, got {type(seqs).__name__}."
            )
        data[split] = [
            notes_to_roll(seq, f"{path}, split {split!r}, sequence {i}")
            for i, seq in enumerate(seqs)
        ]
    return data


# ---------------------------------------------------------------------------------------------
# MIDI
# ---------------------------------------------------------------------------------------------


def _open_midi(path: Path):
    import mido

    try:
        return mido.MidiFile(path)
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        struct.error,
    ) as err:
        reason = "the file ends too early" if isinstance(err, EOFError) else str(err)
        raise ValueError(
            f"{path}: not a readable MIDI file ({type(err).__name__}: {reason}); the file is "
            "damaged or not a standard MIDI file — export it again from its source."
        ) from err


def _grid(step_seconds, steps_per_quarter) -> tuple[float | None, int | None]:
    if steps_per_quarter is not None:
        if step_seconds is not None:
            raise ValueError("give either step_seconds or steps_per_quarter, not both.")
        if isinstance(steps_per_quarter, bool) or not isinstance(steps_per_quarter, int):
            raise ValueError(
                f"steps_per_quarter must be a positive integer, got {steps_per_quarter!r}."
            )
        if steps_per_quarter < 1:
            raise ValueError(
                f"steps_per_quarter must be a positive integer, got {steps_per_quarter}."
            )
        return None, steps_per_quarter
    step_seconds = 0.5 if step_seconds is None else float(step_seconds)
    if not (np.isfinite(step_seconds) and step_seconds > 0):
        raise ValueError(f"step_seconds must be a positive number, got {step_seconds}.")
    return step_seconds, None


def read_midi(
    path,
    step_seconds: float | None = None,
    *,
    steps_per_quarter: int | None = None,
    channels: Collection[int] | None = None,
    out_of_range: str = "error",
) -> np.ndarray:
    """Read a MIDI file into one piano roll ``[T, 88]`` float32 (see the module docstring).

    Args:
        path: a standard MIDI file (type 0 or 1; all tracks are merged).
        step_seconds: the grid step in seconds (default 0.5), following tempo changes.
        steps_per_quarter: instead, quantise in score time on ``1/n`` quarter notes.
        channels: MIDI channels (0..15) to read; all by default. (Channel 9 is the
            General MIDI drum channel, whose note numbers are instruments, not pitches.)
        out_of_range: a note outside the piano range 21..108 raises a ``ValueError``
            (``"error"``, default) or is left out (``"drop"``).

    Returns:
        ``[T, 88]`` float32 roll; ``T = round(end / step)`` with ``end`` the time of the
        file's last event (its end-of-track), or more if a note ends later.
    """
    import mido

    path = Path(path)
    if out_of_range not in ("error", "drop"):
        raise ValueError(f"out_of_range must be 'error' or 'drop', got {out_of_range!r}.")
    step_seconds, steps_per_quarter = _grid(step_seconds, steps_per_quarter)
    mid = _open_midi(path)
    if mid.type == 2:
        raise ValueError(
            f"{path}: a type-2 MIDI file holds independent patterns that do not share one "
            "time line; convert it to type 0 or 1, or split it into one file per track."
        )
    tpb = mid.ticks_per_beat
    if not tpb or tpb <= 0:
        raise ValueError(
            f"{path}: SMPTE time division is not supported; re-save with ticks per beat."
        )

    # All events on one time line: (tick, kind, track, message); offs sort before ons.
    events = []
    for k, track in enumerate(mid.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                events.append((tick, 0, k, msg))
            elif msg.type in ("note_on", "note_off"):
                is_on = msg.type == "note_on" and msg.velocity > 0
                events.append((tick, 2 if is_on else 1, k, msg))
            else:
                events.append((tick, 3, k, msg))
    events.sort(key=lambda e: (e[0], e[1]))

    def to_step(seconds: float, tick: int) -> float:
        if steps_per_quarter is not None:
            return tick * steps_per_quarter / tpb
        return seconds / step_seconds

    notes: list[tuple[int, int]] = []  # (start step, end step) per note; its column in pitches
    pitches: list[int] = []
    sounding: dict[tuple[int, int], float] = {}  # (channel, note) -> start in steps
    tempo, last_tick, seconds = 500_000, 0, 0.0  # MIDI default: 120 beats per minute
    end_steps = 0.0
    for tick, kind, k, msg in events:
        seconds += mido.tick2second(tick - last_tick, tpb, tempo)
        last_tick = tick
        now = to_step(seconds, tick)
        end_steps = now
        if kind == 0:
            tempo = msg.tempo
            continue
        if kind == 3 or (channels is not None and msg.channel not in channels):
            continue
        if not LOWEST_NOTE <= msg.note <= HIGHEST_NOTE:
            if out_of_range == "drop":
                continue
            raise ValueError(
                f"{path}, track {k}, tick {tick} ({seconds:.3f} s): note {msg.note} is outside "
                f"the piano range {LOWEST_NOTE}..{HIGHEST_NOTE}; transpose it, or pass "
                "out_of_range='drop' to leave such notes out."
            )
        key = (msg.channel, msg.note)
        if key in sounding:  # a note_off, or a re-strike of a sounding key, ends it
            start = sounding.pop(key)
            notes.append((_round(start), max(_round(now), _round(start) + 1)))
            pitches.append(msg.note - LOWEST_NOTE)
        if kind == 2:
            sounding[key] = now
    for (_, note), start in sounding.items():  # still sounding at the end of the file
        notes.append((_round(start), max(_round(end_steps), _round(start) + 1)))
        pitches.append(note - LOWEST_NOTE)

    T = max([_round(end_steps)] + [stop for _, stop in notes])
    roll = np.zeros((T, NUM_KEYS), np.float32)
    for (start, stop), j in zip(notes, pitches, strict=True):
        roll[start:stop, j] = 1.0
    return roll


def _round(steps: float) -> int:
    return int(np.rint(steps))


def write_midi(
    path,
    roll,
    step_seconds: float | None = None,
    *,
    steps_per_quarter: int | None = None,
    velocity: int = 80,
    program: int = 0,
    channel: int = 0,
    ticks_per_beat: int = 480,
) -> None:
    """Write a piano roll ``[T, 88]`` (0/1) as a type-0 MIDI file, atomically.

    Every maximal run of 1s in a column becomes one note (see the module docstring); the
    end-of-track event sits at ``T`` steps, so trailing silent steps survive the round trip:
    ``read_midi(path, same grid) == roll`` exactly.

    Args:
        step_seconds: seconds per step (default 0.5); the file's tempo is set so that one
            step is one quarter note (0.5 s = 120 beats per minute).
        steps_per_quarter: instead, ``n`` steps per quarter note at 120 beats per minute.
        velocity: key velocity 1..127 of every note. program: General MIDI program 0..127
            (0 = acoustic grand piano). channel: MIDI channel 0..15.
        ticks_per_beat: MIDI resolution (ticks per quarter note).
    """
    import mido

    path = Path(path)
    roll = check_roll(roll, f"write_midi({path})")
    for name, value, lo, hi in (
        ("velocity", velocity, 1, 127),
        ("program", program, 0, 127),
        ("channel", channel, 0, 15),
        ("ticks_per_beat", ticks_per_beat, 1, 32767),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or not lo <= value <= hi
        ):
            raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}.")
    step_seconds, steps_per_quarter = _grid(step_seconds, steps_per_quarter)
    if steps_per_quarter is not None:
        tempo = 500_000
        if ticks_per_beat % steps_per_quarter:
            raise ValueError(
                f"ticks_per_beat={ticks_per_beat} is not a multiple of steps_per_quarter="
                f"{steps_per_quarter}; choose ticks_per_beat divisible by it."
            )
        ticks_per_step = ticks_per_beat // steps_per_quarter
    else:
        tempo = int(round(step_seconds * 1e6))  # one step = one beat
        if not 1 <= tempo < 2**24:
            raise ValueError(
                f"step_seconds={step_seconds} is outside the MIDI tempo range "
                "(1 microsecond .. 16.7 s per step)."
            )
        ticks_per_step = ticks_per_beat

    # Note boundaries: +1 where a run of 1s starts, -1 where it ends (one past its last step).
    padded = np.zeros((roll.shape[0] + 2, NUM_KEYS), np.int8)
    padded[1:-1] = roll
    change = np.diff(padded, axis=0)  # [T + 1, 88]; row t = change entering step t
    events = [(int(t), 0 if change[t, j] < 0 else 1, int(j)) for t, j in np.argwhere(change != 0)]
    events.sort()  # by step; note-offs before note-ons at the same step

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    track.append(mido.Message("program_change", program=program, channel=channel, time=0))
    last = 0
    for t, is_on, j in events:
        kind = "note_on" if is_on else "note_off"
        track.append(
            mido.Message(
                kind,
                note=LOWEST_NOTE + j,
                velocity=velocity if is_on else 0,
                channel=channel,
                time=(t - last) * ticks_per_step,
            )
        )
        last = t
    track.append(mido.MetaMessage("end_of_track", time=(roll.shape[0] - last) * ticks_per_step))
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat, tracks=[track])
    with atomic_path(path) as tmp:
        mid.save(tmp)


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def read_pianoroll(path, **midi_options) -> dict[str, list[np.ndarray]]:
    """Read piano rolls from ``.mat``, ``.json`` or ``.mid``/``.midi`` (by suffix).

    Returns ``{split: [roll [T, 88] float32, ...]}``; a MIDI file gives one roll under the
    split ``"all"``. ``midi_options`` (``step_seconds``, ``steps_per_quarter``, ``channels``,
    ``out_of_range``) go to :func:`read_midi` and are an error for other formats.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return {"all": [read_midi(path, **midi_options)]}
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported piano-roll file type {path.suffix!r}; supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )
    if midi_options:
        raise ValueError(f"{path}: the options {sorted(midi_options)} apply to MIDI files only.")
    return read_mat(path) if suffix == ".mat" else read_json(path)


__all__ = [
    "HIGHEST_NOTE",
    "LOWEST_NOTE",
    "NUM_KEYS",
    "check_roll",
    "frame_counts",
    "lengths",
    "notes_to_roll",
    "read_json",
    "read_mat",
    "read_midi",
    "read_pianoroll",
    "roll_to_notes",
    "write_midi",
]
