"""The shared gradient training loop: length buckets, clipping, dropout, entropy heating,
early stopping, atomic checkpoints and exact resumption.

Every fit uses the same training array (12 sequences, longest 12), ``batch_size=4`` and the
module-level optimiser ``TX``, so the compiled steps are shared between tests (a compile of
the step is seconds; a cached call is milliseconds).
"""

import json
import math
import os

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import lsgm
from lsgm.data import checkpoints as checkpoint_module
from lsgm.data import files as files_module
from lsgm.data.batching import bucket_lengths, bucketed_minibatches
from lsgm.distributions import Categorical, Gaussian
from lsgm.training import (
    CheckpointMismatchError,
    ResumeError,
    fit_gradient,
    load_checkpoint,
    load_metadata,
    save_checkpoint,
)
from lsgm.training.loop import trace_counts

PI = np.array([0.6, 0.3, 0.1])
A = np.array([[0.90, 0.08, 0.02], [0.05, 0.90, 0.05], [0.10, 0.10, 0.80]])
B = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.05, 0.05, 0.2, 0.7]])


def _sample(T: int, rng: np.random.Generator) -> np.ndarray:
    z, out = rng.choice(3, p=PI), []
    for _ in range(T):
        out.append(rng.choice(4, p=B[z]))
        z = rng.choice(3, p=A[z])
    return np.array(out)


_RNG = np.random.default_rng(0)
#: pow2 buckets: lengths 5..8 pad to 8, lengths 9..12 pad to 12 (capped at the longest).
TRAIN = [_sample(T, _RNG) for T in [5, 6, 7, 8, 9, 10, 11, 12, 5, 8, 12, 12]]
VALID = [_sample(T, _RNG) for T in [6, 9, 12, 7]]
TX = optax.adam(0.1)


def _hmm(seed: int = 0, K: int = 3):
    return lsgm.HMM(K, Categorical(K, 4, rngs=nnx.Rngs(seed)), rngs=nnx.Rngs(seed + 1))


class DropoutHMM(lsgm.HMM):
    """A duck-typed stand-in for a model with dropout: dropout on the log-emissions."""

    def __init__(self, seed: int = 0):
        rngs = nnx.Rngs(params=seed + 1, dropout=seed + 2)
        super().__init__(3, Categorical(3, 4, rngs=nnx.Rngs(seed)), rngs=rngs)
        self.dropout = nnx.Dropout(0.3, rngs=rngs)

    def potentials(self, x):
        p = super().potentials(x)
        return p._replace(log_emit=self.dropout(p.log_emit))


def _params(model) -> list[np.ndarray]:
    return [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _all_state(model) -> list[np.ndarray]:
    leaves = jax.tree.leaves(nnx.state(model))
    return [
        np.asarray(jax.random.key_data(v))
        if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key)
        else np.asarray(v)
        for v in leaves
    ]


def _without_time(history) -> dict:
    d = history.to_dict()
    assert len(d.pop("wall_time")) == history.epochs
    return d


# ------------------------------------------------------------------ bucketing
def test_bucket_lengths_schemes():
    lengths = np.array([1, 3, 4, 5, 9, 17, 30])
    np.testing.assert_array_equal(bucket_lengths(lengths, "pow2"), [1, 4, 4, 8, 16, 30, 30])
    np.testing.assert_array_equal(bucket_lengths(lengths, None), [30] * 7)
    np.testing.assert_array_equal(bucket_lengths(lengths, 1), [30] * 7)
    quant = bucket_lengths(lengths, 3)
    assert len(np.unique(quant)) <= 3 and np.all(quant >= lengths) and quant.max() == 30
    np.testing.assert_array_equal(bucket_lengths(lengths, [4, 10]), [4, 4, 4, 10, 10, 30, 30])
    with pytest.raises(ValueError, match="buckets='log'"):
        bucket_lengths(lengths, "log")
    with pytest.raises(ValueError, match="buckets must be >= 1"):
        bucket_lengths(lengths, 0)
    with pytest.raises(ValueError, match="explicit buckets must be positive"):
        bucket_lengths(lengths, [0, 5])


@pytest.mark.parametrize("buckets, max_shapes", [("pow2", 7), (3, 3), (None, 1)])
def test_minibatches_hold_every_sequence_once_in_few_shapes(buckets, max_shapes):
    lengths = np.random.default_rng(1).integers(1, 100, size=37)
    for epoch in range(3):
        plan = bucketed_minibatches(lengths, 5, buckets, np.random.default_rng([7, epoch]))
        real = np.concatenate([mb.indices[mb.weights == 1] for mb in plan])
        np.testing.assert_array_equal(np.sort(real), np.arange(37))  # each exactly once
        assert all(mb.indices.shape == (5,) and mb.weights.shape == (5,) for mb in plan)
        assert all(np.all(lengths[mb.indices] <= mb.pad_to) for mb in plan)
        pads = {mb.pad_to for mb in plan}
        assert len(pads) <= max_shapes
        # filler rows repeat rows of the same bucket, and only partial batches have them
        assert sum(int((mb.weights == 0).sum() > 0) for mb in plan) <= len(pads)
    again = bucketed_minibatches(lengths, 5, buckets, np.random.default_rng([7, 2]))
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(plan, again, strict=True))


def test_one_compile_per_bucket_shape():
    before = trace_counts().get("train", 0)
    tx = optax.adam(0.0123)  # a learning rate no other test uses: nothing compiled for it yet
    _, history = fit_gradient(_hmm(), TRAIN, epochs=3, batch_size=4, optimizer=tx)
    # two buckets (pad 8 and pad 12), each [4 rows, pad]: two compiles for all three epochs
    assert trace_counts()["train"] - before == 2
    assert history.epochs == 3
    # a new optax object with the same numbers computes the same step: no compile
    fit_gradient(_hmm(1), TRAIN, epochs=2, batch_size=4, optimizer=optax.adam(0.0123))
    assert trace_counts()["train"] - before == 2


# ------------------------------------------------------------------ the loop
def test_loss_decreases_history_and_logging():
    lines = []
    model, history = fit_gradient(
        _hmm(),
        TRAIN,
        epochs=8,
        batch_size=4,
        optimizer=TX,
        validation=VALID,
        log=lines.append,
        progress_bar=True,
    )
    assert history.train_nll[-1] < history.train_nll[0] - 0.03
    assert min(history.valid_nll) < history.valid_nll[0]
    for name in ("train_nll", "valid_nll", "entropy", "heated", "wall_time"):
        assert len(getattr(history, name)) == 8, name
    assert all(t > 0 for t in history.wall_time)
    assert not any(history.heated)
    assert all(0 < h <= math.log(3) + 1e-6 for h in history.entropy)
    assert len(lines) == 8 and lines[0].startswith("epoch 1/8: train nll/step")
    assert "valid" in lines[-1] and "entropy/step" in lines[-1]
    assert history.best_epoch == int(np.argmin(history.valid_nll))


def test_clip_norm_bounds_the_update():
    moves = {}
    for clip in (None, 1e-3):
        model = _hmm()
        before = _params(model)
        fit_gradient(model, TRAIN, epochs=1, optimizer=optax.sgd(1e3), clip_norm=clip)
        after = _params(model)
        moves[clip] = math.sqrt(
            sum(((a - b) ** 2).sum() for a, b in zip(after, before, strict=True))
        )
    assert moves[None] > 10.0  # the huge learning rate really is huge
    assert moves[1e-3] <= 1e3 * 1e-3 * (1 + 1e-4)  # ||lr * clipped grad|| <= lr * clip_norm
    assert moves[1e-3] > 0.99  # and the gradient was larger than the bound


def test_entropy_heating_raises_the_filtering_entropy():
    common = dict(epochs=5, batch_size=4, optimizer=TX, buckets=None, seed=3)
    _, plain = fit_gradient(_hmm(), TRAIN, **common)
    _, heated = fit_gradient(_hmm(), TRAIN, entropy_epochs=3, entropy_weight=5.0, **common)
    assert heated.heated == [True, True, True, False, False]
    _, weightless = fit_gradient(_hmm(), TRAIN, entropy_epochs=3, entropy_weight=0.0, **common)
    assert not any(weightless.heated) and weightless.train_nll == plain.train_nll
    for epoch in (3, 4):  # after heating
        assert heated.entropy[epoch] > plain.entropy[epoch] + 0.05


def test_early_stopping_restores_the_best_parameters():
    model, history = fit_gradient(
        _hmm(), TRAIN, epochs=40, batch_size=4, optimizer=TX, validation=VALID, patience=3
    )
    best = history.best_epoch
    assert history.stopped_early
    assert history.epochs == best + 1 + 3 < 40
    assert all(v >= history.valid_nll[best] for v in history.valid_nll[best + 1 :])
    # the returned model holds exactly the parameters after epoch `best` ...
    reference, _ = fit_gradient(_hmm(), TRAIN, epochs=best + 1, batch_size=4, optimizer=TX)
    for got, want in zip(_params(model), _params(reference), strict=True):
        np.testing.assert_array_equal(got, want)
    # ... and restore_best=False keeps the last ones.
    last, _ = fit_gradient(
        _hmm(),
        TRAIN,
        epochs=40,
        batch_size=4,
        optimizer=TX,
        validation=VALID,
        patience=3,
        restore_best=False,
    )
    assert any(not np.array_equal(a, b) for a, b in zip(_params(last), _params(model), strict=True))


# ------------------------------------------------------------------ dropout & resume
class _Crash(RuntimeError):
    pass


def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path):
    common = dict(
        epochs=5,
        batch_size=4,
        optimizer=TX,
        buckets=None,
        validation=VALID,
        patience=10,
        seed=4,
    )
    full, full_history = fit_gradient(DropoutHMM(), TRAIN, checkpoint_dir=tmp_path / "a", **common)
    # dropout was used in training (its RNG stream advanced once per step) and is off now
    assert int(nnx.state(full, nnx.RngCount)["dropout"]["rngs"]["count"][...]) == 5 * 3
    assert full.dropout.deterministic

    def crash_after_two(line):
        if line.startswith("epoch 2/"):
            raise _Crash("simulated kill")

    with pytest.raises(_Crash):
        fit_gradient(
            DropoutHMM(), TRAIN, checkpoint_dir=tmp_path / "b", log=crash_after_two, **common
        )
    assert load_metadata(tmp_path / "b" / "checkpoint.msgpack")["epoch"] == 2
    resumed, history = fit_gradient(
        DropoutHMM(), TRAIN, checkpoint_dir=tmp_path / "b", resume=True, **common
    )
    for got, want in zip(_all_state(resumed), _all_state(full), strict=True):
        np.testing.assert_array_equal(got, want)  # parameters and RNG state, bit for bit
    assert _without_time(history) == _without_time(full_history)
    # the final checkpoints agree too (optimiser state included)
    a = checkpoint_module.read_checkpoint(tmp_path / "a" / "checkpoint.msgpack")
    b = checkpoint_module.read_checkpoint(tmp_path / "b" / "checkpoint.msgpack")
    assert a[0].keys() == b[0].keys()
    for key in a[0]:
        np.testing.assert_array_equal(a[0][key], b[0][key], err_msg=key)
    # resuming a finished run trains no further
    again, again_history = fit_gradient(
        DropoutHMM(), TRAIN, checkpoint_dir=tmp_path / "b", resume=True, **common
    )
    assert again_history.epochs == 5
    for got, want in zip(_params(again), _params(full), strict=True):
        np.testing.assert_array_equal(got, want)


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ResumeError, match="holds no checkpoint"):
        fit_gradient(
            _hmm(),
            TRAIN,
            epochs=2,
            batch_size=4,
            optimizer=TX,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    assert not (tmp_path / "checkpoint.msgpack").exists()


# ------------------------------------------------------------------ checkpoint files
def test_checkpoint_round_trip_keeps_keys_dtypes_and_metadata(tmp_path):
    model = DropoutHMM(seed=5)
    path = tmp_path / "model.ckpt"
    meta = {"kind": "DropoutHMM", "best": float("inf"), "history": [1.5, 0.25]}
    save_checkpoint(path, nnx.state(model), metadata=meta)
    fresh = DropoutHMM(seed=9)
    state, got_meta = load_checkpoint(path, nnx.state(fresh))
    nnx.update(fresh, state)
    assert got_meta == meta
    for got, want in zip(_all_state(fresh), _all_state(model), strict=True):
        np.testing.assert_array_equal(got, want)
    key = nnx.state(fresh, nnx.RngKey)["dropout"]["rngs"]["key"][...]
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    first = {"w": np.arange(4.0)}
    save_checkpoint(path, first, metadata={"epoch": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    # the serializer fails, the fsync fails (bytes written, not yet renamed), the rename fails
    for target, name in [
        (checkpoint_module.serialization, "msgpack_serialize"),
        (files_module.os, "fsync"),
        (files_module.os, "replace"),
    ]:
        with monkeypatch.context() as m:
            m.setattr(target, name, boom)
            with pytest.raises(OSError, match="disk full"):
                save_checkpoint(path, {"w": np.zeros(4)}, metadata={"epoch": 2})
        tree, meta = load_checkpoint(path, {"w": np.zeros(4)})
        np.testing.assert_array_equal(tree["w"], first["w"])
        assert meta == {"epoch": 1}
        assert sorted(os.listdir(tmp_path)) == ["ckpt"], name  # no temporary file left


def test_training_interrupted_while_writing_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    real = checkpoint_module.serialization.msgpack_serialize
    calls = []

    def fails_on_second_call(payload):
        calls.append(1)
        if len(calls) == 2:
            data = real(payload)
            raise KeyboardInterrupt(f"killed after {len(data) // 2} bytes")
        return real(payload)

    monkeypatch.setattr(checkpoint_module.serialization, "msgpack_serialize", fails_on_second_call)
    with pytest.raises(KeyboardInterrupt):
        fit_gradient(_hmm(), TRAIN, epochs=4, batch_size=4, optimizer=TX, checkpoint_dir=tmp_path)
    assert os.listdir(tmp_path) == ["checkpoint.msgpack"]
    meta = load_metadata(tmp_path / "checkpoint.msgpack")
    assert meta["epoch"] == 1 and len(meta["history"]["train_nll"]) == 1
    monkeypatch.undo()
    _, history = fit_gradient(
        _hmm(), TRAIN, epochs=4, batch_size=4, optimizer=TX, checkpoint_dir=tmp_path, resume=True
    )
    _, straight = fit_gradient(_hmm(), TRAIN, epochs=4, batch_size=4, optimizer=TX)
    assert history.train_nll == straight.train_nll


def test_checkpoint_of_another_model_or_settings_is_rejected(tmp_path):
    fit_gradient(_hmm(), TRAIN, epochs=1, batch_size=4, optimizer=TX, checkpoint_dir=tmp_path)
    common = dict(epochs=2, batch_size=4, optimizer=TX, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"model/transition_logits: shape \(3, 3\) in the checkpoint, \(4, 4\) expected",
    ):
        fit_gradient(_hmm(K=4), TRAIN, **common)
    gaussian = lsgm.HMM(3, Gaussian(3, 1, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    xs = [x[:, None].astype(np.float32) for x in TRAIN]
    with pytest.raises(
        CheckpointMismatchError, match="missing from the checkpoint: .*model/emission/loc"
    ):
        fit_gradient(gaussian, xs, **common)
    with pytest.raises(ValueError, match=r"settings or data differ \(\['seed'\]"):
        fit_gradient(_hmm(), TRAIN, seed=1, **common)
    with pytest.raises(
        ValueError, match=r"settings or data differ \(\['num_sequences', 'num_steps'\]"
    ):
        fit_gradient(_hmm(), TRAIN[:-1], **common)
    (tmp_path / "junk").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not .*lsgm checkpoint"):
        load_checkpoint(tmp_path / "junk", {})
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing", {})


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(xs=[]), ValueError, "empty batch"),
        (dict(validation=[]), ValueError, "empty batch"),
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1; got 0"),
        (dict(epochs=0), ValueError, "epochs must be an integer >= 1; got 0"),
        (dict(patience=0, validation=VALID), ValueError, "patience must be an integer >= 1"),
        (dict(patience=2), ValueError, "patience .* needs validation"),
        (dict(resume=True), ValueError, "resume=True needs checkpoint_dir"),
        (dict(entropy_weight=-1.0), ValueError, "entropy_weight must be a finite number >= 0"),
        (dict(entropy_weight=float("nan")), ValueError, "entropy_weight must be a finite"),
        (dict(entropy_weight="big"), ValueError, "entropy_weight must be a finite"),
        (dict(entropy_epochs=-1), ValueError, "entropy_epochs must be an integer >= 0"),
        (dict(clip_norm=0.0), ValueError, "clip_norm must be a finite number > 0"),
        (dict(freeze="emissions"), ValueError, "cannot freeze"),
        (dict(buckets="log"), ValueError, "buckets='log'"),
        (dict(seed=-1), ValueError, "seed must be an integer >= 0"),
        (dict(model=object()), TypeError, r"lacks \['potentials', 'batch', 'train', 'eval'\]"),
    ],
)
def test_bad_arguments_fail_clearly(kwargs, error, match):
    args = dict(model=_hmm(), xs=TRAIN)
    args.update(kwargs)
    model, xs = args.pop("model"), args.pop("xs")
    with pytest.raises(error, match=match):
        fit_gradient(model, xs, **{"optimizer": TX, "batch_size": 4, **args})


def test_history_is_json_serialisable():
    _, history = fit_gradient(_hmm(), TRAIN, epochs=1, batch_size=4, optimizer=TX)
    assert json.loads(json.dumps(history.to_dict()))["train_nll"] == history.train_nll
