"""Atomic single-file checkpoints of array trees (model state, optimiser state, ...).

A checkpoint is one msgpack file (:mod:`flax.serialization`) holding

* ``arrays``: the leaves of a pytree (an ``nnx.State``, dicts, lists, optax states), keyed by
  their path (``"model/transition_logits"``), as numpy arrays — bit-exact, any dtype; JAX
  typed PRNG keys are stored as their key data and re-wrapped on load;
* ``metadata``: a JSON string (epoch, history, settings, ...).

Writes are atomic: the bytes go to a temporary file in the same directory, which is flushed,
``fsync``-ed and then ``os.replace``-d over the target, so a crash or an exception at any
point leaves either the previous checkpoint or the new one, never a torn file.

Every file carries a ``sha256`` of its arrays, key impls and metadata: a damaged file (one
flipped bit) is refused, naming it, instead of being read as other numbers.

Training checkpoints (:mod:`lsgm.training.checkpoint`) also record a *fingerprint* of the run (:func:`fingerprint`,
:func:`check_resume`): hashes of the training data, labels, priors and initial parameters, and
every setting that changes the result, so ``resume=True`` continues only the same run and
refuses, naming what differs, a checkpoint written for other data or settings
(:class:`ResumeError`); a missing checkpoint is an error too (:func:`resume_path`).

Loading needs a *template* with the expected structure (e.g. ``nnx.state(model)`` of a freshly
built model): every path, shape and dtype is checked, and a mismatch raises
:class:`CheckpointMismatchError` naming the offending paths. The same two functions serve
training checkpoints and saved model files::

    save_checkpoint("model.ckpt", nnx.state(model), metadata={"kind": "HMM"})
    state, meta = load_checkpoint("model.ckpt", nnx.state(fresh_model))
    nnx.update(fresh_model, state)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from lsgm.data.files import atomic_write_bytes

FORMAT = "lsgm-checkpoint"
#: 2: a ``sha256`` over the whole content (version 1 files, without it, are still read).
VERSION = 2


class CheckpointMismatchError(ValueError):
    """A checkpoint's arrays do not fit the template (different model or settings)."""


def _key_name(key) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def leaf_name(path: tuple[Any, ...]) -> str:
    """The name a checkpoint stores a leaf under, from its pytree key path: the keys joined
    by ``/`` (``"model/transition_logits"``; ``"<root>"`` for a bare array). An ``nnx``
    Variable's trailing ``.value`` is left out (an implementation detail of the flattening)."""
    names = [_key_name(k) for k in path]
    if names and names[-1] == "value" and isinstance(path[-1], jax.tree_util.GetAttrKey):
        names = names[:-1]
    return "/".join(names) or "<root>"


def is_prng_key(x: Any) -> bool:
    """Whether ``x`` is a typed JAX PRNG key array (stored as its key data, re-wrapped on
    load)."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def flatten_arrays(tree) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``({path: numpy array}, {path: PRNG impl name for typed keys})`` of a pytree."""
    arrays, keys = {}, {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = leaf_name(path)
        if name in arrays:
            raise ValueError(f"two leaves share the checkpoint path {name!r}.")
        if is_prng_key(leaf):
            keys[name] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        arrays[name] = np.array(jax.device_get(leaf))
    return arrays, keys


def _content_digest(arrays: dict, keys: dict, metadata: str) -> str:
    """sha256 over every array's name, dtype, shape and bytes, the key impls and metadata."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps(keys, sort_keys=True).encode())
    h.update(metadata.encode())
    return h.hexdigest()


def _encode(tree, metadata) -> bytes:
    arrays, keys = flatten_arrays(tree)
    text = json.dumps(metadata if metadata is not None else {})
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arrays": arrays,
        "prng_keys": keys,
        "metadata": text,
        "sha256": _content_digest(arrays, keys, text),
    }
    return serialization.msgpack_serialize(payload)


def save_checkpoint(path, tree, metadata: dict | None = None) -> None:
    """Atomically write the arrays of ``tree`` and a JSON-serialisable ``metadata`` dict.

    The file is complete before it replaces ``path``; on any error the previous file at
    ``path`` (if any) is left untouched and no temporary file remains.
    """
    atomic_write_bytes(path, _encode(tree, metadata))


def read_checkpoint(path) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    """``(arrays by path, PRNG-key impls by path, metadata)`` of a checkpoint, unchecked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}.")
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:  # msgpack raises several unrelated types
        raise ValueError(f"{str(path)!r} is not a readable lsgm checkpoint: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an lsgm checkpoint (format {FORMAT!r}).")
    if int(payload.get("version", -1)) > VERSION:
        raise ValueError(
            f"{str(path)!r} has checkpoint version {payload['version']}; this lsgm reads "
            f"<= {VERSION}. Upgrade lsgm."
        )
    try:
        arrays, keys = payload["arrays"], dict(payload.get("prng_keys", {}))
        text = payload["metadata"]
        metadata = json.loads(text)
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"{str(path)!r} is a damaged lsgm checkpoint ({err!r}).") from err
    if not isinstance(arrays, dict) or not isinstance(metadata, dict):
        raise ValueError(f"{str(path)!r} is a damaged lsgm checkpoint (bad layout).")
    version = payload.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{str(path)!r} is a damaged lsgm checkpoint (version {version!r}).")
    if version >= 2:
        try:
            ok = payload.get("sha256") == _content_digest(arrays, keys, text)
        except (AttributeError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"{str(path)!r} is a corrupted lsgm checkpoint (its checksum does not match "
                "its content: a damaged copy or disk?); restore it or start afresh."
            )
    return arrays, keys, metadata


def load_metadata(path) -> dict:
    """Only the metadata dict of a checkpoint."""
    return read_checkpoint(path)[2]


def _few(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{f', ... and {len(names) - limit} more' if len(names) > limit else ''}]"


def load_checkpoint(path, template):
    """``(tree, metadata)``: the checkpoint's arrays in the structure of ``template``.

    Raises:
        CheckpointMismatchError: paths missing from or unexpected in the checkpoint, or a
            shape/dtype that differs from the template — each named.
    """
    arrays, keys, metadata = read_checkpoint(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = [leaf_name(p) for p, _ in flat]
    missing = [p for p in expected if p not in arrays]
    unexpected = sorted(set(arrays) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {_few(missing)}")
    if unexpected:
        problems.append(f"not in the template: {_few(unexpected)}")
    leaves = []
    for name, (_, ref) in zip(expected, flat, strict=True):
        if name not in arrays:
            continue
        value = arrays[name]
        if is_prng_key(ref):
            if name not in keys:
                problems.append(f"{name}: the template has a PRNG key, the checkpoint does not")
                continue
            value = jax.random.wrap_key_data(value, impl=keys[name])
        ref_shape = np.shape(ref)
        ref_dtype = ref.dtype if hasattr(ref, "dtype") else np.result_type(ref)
        if tuple(value.shape) != tuple(ref_shape):
            problems.append(
                f"{name}: shape {tuple(value.shape)} in the checkpoint, {tuple(ref_shape)} expected"
            )
        elif value.dtype != ref_dtype:
            problems.append(f"{name}: dtype {value.dtype} in the checkpoint, {ref_dtype} expected")
        leaves.append(jnp.asarray(value) if isinstance(ref, jax.Array) else value)
    if len(problems) > 12:
        problems = problems[:12] + [f"... and {len(problems) - 12} more"]
    if problems:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} does not match the expected structure (a different "
            "model, emission, number of states or optimiser?): " + "; ".join(problems) + "."
        )
    return jax.tree_util.tree_unflatten(treedef, leaves), metadata
