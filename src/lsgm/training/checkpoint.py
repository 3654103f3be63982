"""Resumable training runs: fingerprints of the run, checkpoint paths, resume checks.

The file format (atomic, checksummed msgpack files of array trees) is
:mod:`lsgm.data.checkpoints`; its functions are re-exported here. A training checkpoint
also records a *fingerprint* of the run (:func:`fingerprint`, :func:`check_resume`): hashes of
the training data, labels, priors and initial parameters, and every setting that changes the
result, so ``resume=True`` continues only the same run and refuses, naming what differs, a
checkpoint written for other data or settings (:class:`ResumeError`); a missing checkpoint is
an error too (:func:`resume_path`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np

from lsgm.data import (
    CheckpointMismatchError,
    flatten_arrays,
    is_prng_key,
    load_checkpoint,
    load_metadata,
    read_checkpoint,
    save_checkpoint,
)

if TYPE_CHECKING:
    import optax

#: The file format's names are re-exported: one import serves training code.
__all__ = [
    "CheckpointMismatchError",
    "ResumeError",
    "check_resume",
    "fingerprint",
    "flatten_arrays",
    "fresh_checkpoint_path",
    "load_checkpoint",
    "load_metadata",
    "optimizer_numbers",
    "read_checkpoint",
    "resume_path",
    "run_record",
    "save_checkpoint",
]


class ResumeError(ValueError):
    """``resume=True`` cannot continue: no checkpoint, or one written for other training data
    or other settings (the message names what differs)."""


# ------------------------------------------------------------------ resuming the same run
def _feed(h, obj, depth: int = 0) -> None:
    """Feed ``obj`` (arrays, numbers, strings, None, sequences, dicts, dataclasses, pytrees of
    arrays such as an ``nnx.State``) into the hash ``h``, with its type and shape."""
    if depth > 20:
        raise ValueError("fingerprint: too deeply nested")
    if obj is None or isinstance(obj, bool | int | float | str | np.integer | np.floating):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, np.ndarray | jax.Array):
        if is_prng_key(obj):
            obj = jax.random.key_data(obj)
        a = np.ascontiguousarray(jax.device_get(obj))
        h.update(f"array:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    elif isinstance(obj, dict):
        h.update(f"dict:{len(obj)};".encode())
        for k in sorted(obj, key=str):
            h.update(f"{k!s}=".encode())
            _feed(h, obj[k], depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
        h.update(f"{type(obj).__name__}:{len(items)};".encode())
        for item in items:
            _feed(h, item, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"{type(obj).__name__}:".encode())
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        _feed(h, fields, depth + 1)
    else:  # a pytree (nnx.State, optax state, NamedTuple)
        arrays, keys = flatten_arrays(obj)
        h.update(f"{type(obj).__name__}:".encode())
        for name in sorted(arrays):
            if arrays[name].dtype == object:  # an opaque leaf: its repr, never its address
                arrays[name] = np.array(repr(arrays[name].item()))
        _feed(h, arrays, depth + 1)
        _feed(h, keys, depth + 1)


def fingerprint(*parts: object) -> str:
    """A sha256 hex digest of ``parts`` (arrays by dtype, shape and bytes; numbers, strings,
    sequences, dicts, dataclasses, pytrees of arrays): equal only for bit-identical inputs."""
    h = hashlib.sha256()
    _feed(h, parts)
    return h.hexdigest()


def _numbers(obj, out: list, seen: set, depth: int = 0) -> None:
    if depth > 8 or id(obj) in seen:
        return
    if isinstance(obj, bool | int | float | np.integer | np.floating) and not isinstance(obj, type):
        value = float(obj)
        out.append(value if math.isfinite(value) else str(value))
        return
    if isinstance(obj, np.ndarray | jax.Array) and np.size(obj) <= 16:
        for v in np.ravel(np.asarray(jax.device_get(obj))):
            if np.issubdtype(np.asarray(v).dtype, np.number):
                _numbers(v.item(), out, seen, depth + 1)
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _numbers(item, out, seen, depth + 1)
    elif callable(obj) and getattr(obj, "__closure__", None):
        for cell in obj.__closure__:
            try:
                _numbers(cell.cell_contents, out, seen, depth + 1)
            except ValueError:  # an empty cell
                continue
    elif hasattr(obj, "update") and hasattr(obj, "init"):  # an optax transformation
        _numbers(obj.init, out, seen, depth + 1)
        _numbers(obj.update, out, seen, depth + 1)


def optimizer_numbers(tx: optax.GradientTransformation) -> list[float | str]:
    """The numeric hyper-parameters that can be read off an optax transformation (learning
    rate, betas, eps, clipping norm, ... as captured by its ``init``/``update`` closures), in
    a stable order: part of a gradient fit's fingerprint. Best effort: values hidden elsewhere
    (e.g. inside a schedule object) are not seen."""
    out: list[float | str] = []
    _numbers(tx, out, set())
    return out


def fresh_checkpoint_path(checkpoint_dir: str | os.PathLike[str], filename: str) -> Path:
    """``checkpoint_dir / filename`` for a run that starts afresh (not a resume): an existing
    file there that is not an lsgm checkpoint (a user's own file) is a ``ValueError``, not
    something to overwrite."""
    path = Path(checkpoint_dir) / filename
    if path.exists() or path.is_symlink():
        try:
            read_checkpoint(path)
        except (OSError, ValueError) as err:
            raise ValueError(
                f"{path}: exists and is not an lsgm checkpoint ({err}); a new run would "
                "overwrite it. Move it, or choose another checkpoint folder."
            ) from err
    return path


def resume_path(checkpoint_dir: str | os.PathLike[str], filename: str) -> Path:
    """``checkpoint_dir / filename`` for ``resume=True``; :class:`ResumeError` when the folder
    does not exist or holds no such checkpoint (a resume never silently starts afresh)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise ResumeError(
            f"cannot resume: the checkpoint folder {str(folder)!r} does not exist; pass the "
            "folder of the interrupted run, or drop resume to start afresh."
        )
    path = folder / filename
    if not path.is_file():
        raise ResumeError(
            f"cannot resume: the checkpoint folder {str(folder)!r} holds no checkpoint "
            f"({filename}); pass the folder of the interrupted run, or drop resume to start "
            "afresh."
        )
    return path


def _jsonable(value):
    return json.loads(json.dumps(value))


def run_record(hashes: dict[str, str], settings: dict) -> dict:
    """The fingerprint of a run, for a checkpoint's metadata: ``hashes`` (what -> a
    :func:`fingerprint`, e.g. ``{"training data": ...}``) and ``settings`` (name -> a
    JSON-serialisable value, e.g. ``{"seed": 0}``)."""
    return {"hashes": dict(hashes), "settings": _jsonable(settings)}


def check_resume(path: str | os.PathLike[str], stored: dict | None, current: dict) -> None:
    """Raise :class:`ResumeError` unless the :func:`run_record` ``stored`` in the checkpoint
    at ``path`` equals ``current``: settings first (named with both values), then hashes
    (named by what they cover)."""
    folder = str(Path(path).parent)
    if not isinstance(stored, dict) or "hashes" not in stored or "settings" not in stored:
        raise ResumeError(
            f"cannot resume from {str(path)!r}: the checkpoint has no record of its run "
            "(written by an older lsgm?); start afresh in another checkpoint folder."
        )
    now = _jsonable(current["settings"])
    was = stored["settings"]
    changed = sorted(set(now) | set(was), key=str)
    changed = [k for k in changed if was.get(k, "<unset>") != now.get(k, "<unset>")]
    if changed:
        parts = ", ".join(
            f"{k} {was.get(k, '<unset>')!r}, not {now.get(k, '<unset>')!r}" for k in changed
        )
        raise ResumeError(
            f"cannot resume: the checkpoint in {folder!r} was written for {parts}. Use the "
            "same settings, or another checkpoint folder."
        )
    for what, digest in current["hashes"].items():
        if stored["hashes"].get(what) != digest:
            raise ResumeError(
                f"cannot resume: the checkpoint in {folder!r} was written for other {what}. "
                "Resume with the same inputs, or use another checkpoint folder."
            )
