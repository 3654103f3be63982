"""Model files: an HMM or LSGM with its configuration, alphabet and a format version.

A model file is one :mod:`lsgm.training.checkpoint` file (msgpack via
:mod:`flax.serialization`; never a pickle) written atomically. Its arrays are the model's
``nnx.State``; its JSON metadata holds

* ``format`` = ``"lsgm-model"`` and ``format_version`` (:data:`MODEL_FORMAT_VERSION`),
* ``kind`` (``"HMM"`` / ``"LSGM"``), ``num_states``, the emission family and its sizes,
  and for an LSGM its constructor settings — enough to rebuild the model before its
  arrays are loaded and checked path by path, shape by shape;
* ``sha256`` of the arrays, so a corrupted file is detected, not silently loaded;
* free-form ``info`` chosen by the caller (the CLI stores the alphabet, input kind, state
  names and the training summary there).

Only valid models are written and read (:mod:`lsgm.models.validity`: no NaN, no ``+inf``,
``-inf`` only in log-probabilities, no probability row without mass), and :func:`load_model`
compares the metadata's sizes with the shapes of the stored arrays *before* building the model,
so an edited ``num_states`` cannot make it allocate a huge model.

    save_model("cpg.lsgm", model, info={"alphabet": "ACGT"})
    model, info = load_model("cpg.lsgm")
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import jax
import numpy as np
from flax import nnx

from lsgm.distributions import Emission, registry
from lsgm.models.base import SequenceModel
from lsgm.models.hmm import HMM
from lsgm.models.lsgm import LSGM

MODEL_FORMAT = "lsgm-model"
#: Bumped whenever a saved model's layout changes; files of another version are refused.
MODEL_FORMAT_VERSION = 1


def _lsgm_version() -> str:
    try:
        return version("lsgm")
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def emission_config(emission: Emission) -> dict:
    """``{"family": name, <config fields>}`` of an emission, enough to rebuild it (the
    family's registered ``name`` and ``config()``; :mod:`lsgm.distributions.registry`)."""
    name = getattr(type(emission), "name", None)
    if not isinstance(name, str) or registry.families().get(name) is not type(emission):
        # unregistered, or a subclass
        raise ValueError(f"cannot save an emission of type {type(emission).__name__}.")
    return {"family": name, **emission.config()}


def build_emission(config: dict, num_states: int, rngs: nnx.Rngs) -> Emission:
    """A fresh emission from :func:`emission_config`'s dict."""
    cls = registry.family(config.get("family"))
    # a field missing from the file (one written before the field existed) takes the
    # constructor's default
    args = {f: config[f] for f in cls.config_fields if f in config}
    # Every family's constructor takes (num_states, *config_fields, rngs) (the registry's
    # contract); the base class declares no constructor, so call it as a plain callable.
    make: Callable[..., Emission] = cls
    return make(num_states, **args, rngs=rngs)


def model_config(model: SequenceModel) -> dict:
    """The JSON-serialisable configuration that :func:`build_model` turns back into ``model``."""
    if isinstance(model, LSGM):
        kind, settings = "LSGM", dict(model.settings)
    elif isinstance(model, HMM):
        kind, settings = "HMM", {}
    else:
        raise ValueError(f"cannot save a {type(model).__name__}; only HMM and LSGM models.")
    return {
        "kind": kind,
        "num_states": int(model.num_states),
        "emission": emission_config(model.emission),
        "settings": settings,
    }


def build_model(config: dict, rngs: nnx.Rngs | None = None) -> HMM | LSGM:
    """A fresh model (random parameters) of :func:`model_config`'s configuration."""
    rngs = nnx.Rngs(0) if rngs is None else rngs
    K = int(config["num_states"])
    emission = build_emission(config["emission"], K, rngs)
    if config["kind"] == "HMM":
        return HMM(K, emission, rngs=rngs)
    if config["kind"] == "LSGM":
        return LSGM(K, emission, **config["settings"], rngs=rngs)
    raise ValueError(f"unknown model kind {config['kind']!r}; known: HMM, LSGM.")


def _digest(arrays: dict[str, np.ndarray], metadata: dict) -> str:
    """sha256 over the metadata (less the digest itself) and every array's name, dtype, shape
    and bytes."""
    h = hashlib.sha256()
    rest = {k: v for k, v in metadata.items() if k != "sha256"}
    h.update(json.dumps(rest, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model(path: str | os.PathLike[str], model: HMM | LSGM, info: dict | None = None) -> None:
    """Write ``model`` (HMM or LSGM) and a JSON-serialisable ``info`` dict to ``path``, atomically.

    Raises:
        InvalidParametersError: (a ``ValueError``) the model holds NaN, ``+inf``, a ``-inf``
            outside a log-probability or a probability row without mass; nothing is written.
    """
    from lsgm.data import flatten_arrays, save_checkpoint
    from lsgm.models.validity import check_parameters

    check_parameters(model, f"{path}: refusing to save the model")
    state = nnx.state(model)
    metadata = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "lsgm_version": _lsgm_version(),
        **model_config(model),
        "info": info or {},
    }
    metadata["sha256"] = _digest(flatten_arrays(state)[0], metadata)
    save_checkpoint(path, state, metadata)


def _read(path) -> tuple[dict, dict]:
    """``(arrays, metadata)`` of a model file after checking format, version and checksum."""
    from lsgm.data import read_checkpoint

    try:
        arrays, _, meta = read_checkpoint(path)
    except FileNotFoundError as err:
        raise ValueError(f"{path}: no such model file.") from err
    except ValueError as err:
        raise ValueError(
            f"{path}: not a readable lsgm model file (corrupted or another format): {err}"
        ) from err
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{path}: an lsgm checkpoint but not a model file (format {meta.get('format')!r}); "
            "pass a file written by `lsgm fit` or lsgm.save_model."
        )
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ValueError(
            f"{path}: model format version {meta.get('format_version')} (written by lsgm "
            f"{meta.get('lsgm_version')}); this lsgm {_lsgm_version()} reads version "
            f"{MODEL_FORMAT_VERSION}. Use the matching lsgm version or refit the model."
        )
    if _digest(arrays, meta) != meta.get("sha256"):
        raise ValueError(
            f"{path}: corrupted model file (its checksum does not match); restore it from a "
            "copy or refit."
        )
    return arrays, meta


#: ``(setting, stored array, axis of that array)``: an LSGM's sizes that :func:`load_model`
#: checks against the stored shapes before building anything (the emission's come from its
#: family's ``stored_sizes``; the rest is compared array by array).
_LSGM_SIZES = (
    ("hidden_size", "rnn/initial", 2),
    ("num_layers", "rnn/initial", 0),
    ("embedding_dim", "emission_net/embedding", 1),
)


def _check_sizes(path, meta: dict, arrays: dict) -> None:
    """Compare the metadata's configuration with the stored arrays' shapes, cheapest first
    (``num_states``, the emission's sizes, then every array of the model the metadata
    describes, built abstractly by ``nnx.eval_shape``: nothing is allocated)."""
    from lsgm.data import is_prng_key, leaf_name

    def shape(name):
        a = arrays.get(name)
        return None if a is None else tuple(np.shape(a))

    def refuse(field, value, name, actual):
        raise ValueError(
            f"{path}: invalid model file: the metadata says {field} = {value!r} but the stored "
            f"array {name!r} has shape {shape(name)} ({field} = {actual!r}); the file was "
            "edited or damaged."
        )

    def positive(field, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{path}: invalid model file: {field} = {value!r} in the metadata; it must be "
                "an integer >= 1."
            )

    K = meta.get("num_states")
    positive("num_states", K)
    for name in ("initial_logits", "transition_logits", "transition_mask"):
        if shape(name) is not None and (not shape(name) or shape(name)[0] != K):
            refuse("num_states", K, name, shape(name)[0] if shape(name) else None)
    emission = meta.get("emission")
    if not isinstance(emission, dict):
        raise ValueError(f"{path}: invalid model file: no emission configuration.")
    family_name = emission.get("family")
    family = registry.families().get(family_name) if isinstance(family_name, str) else None
    for field, parameter, axis in family.stored_sizes if family is not None else ():
        name = f"emission/{parameter}"
        value = emission.get(field)
        positive(f"emission {field}", value)
        got = shape(name)
        if got is None:
            continue
        if not got or got[0] != K:
            refuse("num_states", K, name, got[0] if got else None)
        if len(got) <= axis or got[axis] != value:
            refuse(f"emission {field}", value, name, got[axis] if len(got) > axis else None)
    settings = meta.get("settings")
    if meta.get("kind") == "LSGM" and isinstance(settings, dict):
        for field, name, axis in _LSGM_SIZES:
            value, got = settings.get(field), shape(name)
            if field in settings:
                positive(field, value)
            if got is not None and field in settings and (len(got) <= axis or got[axis] != value):
                refuse(field, value, name, got[axis] if len(got) > axis else None)
    try:
        abstract = nnx.eval_shape(lambda: build_model(meta))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: invalid model file (configuration): {err}") from err
    flat = jax.tree_util.tree_flatten_with_path(nnx.state(abstract))[0]
    problems = []
    for p, leaf in flat:
        name = leaf_name(p)
        if name not in arrays or is_prng_key(leaf):
            continue  # a missing array is reported, by name, when the arrays are loaded
        if tuple(leaf.shape) != shape(name):
            problems.append(
                f"{name!r} has shape {shape(name)} in the file, {tuple(leaf.shape)} from the "
                "metadata"
            )
    if problems:
        settings = meta.get("settings") or {}
        raise ValueError(
            f"{path}: invalid model file: its metadata (settings {settings}) does not match "
            f"the stored arrays: {'; '.join(problems[:6])}; the file was edited or damaged."
        )


def read_model_metadata(path: str | os.PathLike[str]) -> dict:
    """The metadata of a model file, after checking its format, version and checksum."""
    return _read(path)[1]


def load_model(path: str | os.PathLike[str]) -> tuple[HMM | LSGM, dict]:
    """``(model, info)`` from a file written by :func:`save_model`, in inference mode
    (``model.eval()``: dropout off).

    Raises:
        ValueError: a missing, corrupted or foreign file, another format version, a
            configuration that does not match the stored arrays' shapes (checked before
            anything is built), or invalid parameter values (``InvalidParametersError``) —
            each naming the file.
    """
    from lsgm.data import CheckpointMismatchError, load_checkpoint
    from lsgm.models.validity import check_parameters

    arrays, meta = _read(path)
    _check_sizes(path, meta, arrays)
    del arrays
    try:
        model = build_model(meta)
        state, _ = load_checkpoint(path, nnx.state(model))
    except (KeyError, TypeError, ValueError) as err:  # CheckpointMismatchError is a ValueError
        kind = "arrays" if isinstance(err, CheckpointMismatchError) else "configuration"
        raise ValueError(f"{path}: invalid model file ({kind}): {err}") from err
    nnx.update(model, state)
    check_parameters(model, f"{path}: invalid model file")
    model.eval()  # inference mode: dropout off (``model.train()`` turns it back on)
    return model, meta.get("info", {})


__all__ = [
    "MODEL_FORMAT_VERSION",
    "build_model",
    "load_model",
    "model_config",
    "read_model_metadata",
    "save_model",
]
