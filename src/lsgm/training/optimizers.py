"""Optimisers as arguments of a compiled training step, not constants baked into it.

An optax transformation is a pair of closures, ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; its hyper-parameters (learning rate,
betas, clipping norm, ...) are Python numbers captured by those closures. ``nnx.Optimizer``
keeps the transformation as a static part of its graph definition, so a jitted step keyed on
that graph definition compiles again for every *new optax object*, even ``optax.adam(0.01)``
built twice. Two remedies, both behind :func:`step_transform`:

* :class:`HyperOptimizer` names a factory and its numeric hyper-parameters,
  ``HyperOptimizer(optax.adam, {"learning_rate": 0.01})``. The factory is called *inside* the
  step with the hyper-parameters as traced arrays, so the update is
  ``factory(**h).update(grads, state, params)`` with ``h`` an argument of the step: another
  learning rate reuses the compiled step. The optimiser state has the layout of
  ``factory(**h).init(params)`` (the same arrays a plain optax object would make).
* Any other optax transformation is compared by its *structure*: the code and the captured
  values of its closures (:func:`structure`). Two objects built by the same calls with the
  same numbers compute the same update, so they share the compiled step; other numbers
  compile again (they are constants of the computation).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from lsgm.training.checkpoint import optimizer_numbers


@dataclass(frozen=True)
class HyperOptimizer:
    """``factory(**hyperparams)``, optionally after ``optax.clip_by_global_norm(clip_norm)``,
    with every number an argument of the compiled step (see the module docstring).

    Attributes:
        factory: an optax constructor such as ``optax.adam`` or ``optax.adamw``; a function
            defined once (a module-level function), since it is part of the step's identity.
        hyperparams: its numeric arguments by name, e.g. ``{"learning_rate": 1e-3}``.
        clip_norm: clip the gradients to this global norm first (None: no clipping).

    >>> HyperOptimizer(optax.adam, {"learning_rate": 0.1}).build()  # doctest: +ELLIPSIS
    GradientTransformationExtraArgs(init=<function ...>, update=<function ...>)
    """

    factory: Callable[..., optax.GradientTransformation]
    hyperparams: Mapping[str, float] = field(default_factory=dict)
    clip_norm: float | None = None

    def build(self, **values: ArrayLike | None) -> optax.GradientTransformation:
        """The optax transformation for ``values`` (default: the stored numbers; traced
        arrays inside a step); ``clip_norm`` is the name of the clipping norm."""
        values = {**self.hyperparams, "clip_norm": self.clip_norm, **values}
        clip = values.pop("clip_norm")
        tx = self.factory(**values)
        return tx if clip is None else optax.chain(optax.clip_by_global_norm(clip), tx)

    def numbers(self) -> list[float | str]:
        """The readable hyper-parameters of the factory's transformation (without the
        clipping), as :func:`~lsgm.training.checkpoint.optimizer_numbers` reads them."""
        return optimizer_numbers(self.factory(**self.hyperparams))

    def values(self) -> dict[str, float]:
        """The numbers that the step receives as arrays."""
        clip = {} if self.clip_norm is None else {"clip_norm": self.clip_norm}
        return {**self.hyperparams, **clip}


class StepTransform:
    """The static half of an optimiser in a compiled step: ``init(params)`` and
    ``update(grads, state, params, *, hyperparams)``.

    It stands in for the optax object inside ``nnx.Optimizer``, and equals (and hashes like)
    any other ``StepTransform`` with the same ``key``: optimisers that compute the same update
    from the same state and ``hyperparams`` share one graph definition, hence one compile.
    """

    def __init__(
        self,
        build: Callable[..., optax.GradientTransformation],
        key: Hashable,
        values: Mapping[str, float],
    ):
        self._build, self.key, self._values = build, key, values

    def init(self, params: optax.Params) -> optax.OptState:
        """The optimiser state for ``params`` (a pytree of arrays)."""
        return self._build(**self._values).init(params)

    def update(
        self,
        grads: optax.Updates,
        state: optax.OptState,
        params: optax.Params | None = None,
        *,
        hyperparams: Mapping[str, Any],
    ) -> tuple[optax.Updates, optax.OptState]:
        """``(updates, new state)`` of the optax transformation built from ``hyperparams``."""
        return self._build(**hyperparams).update(grads, state, params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StepTransform) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"StepTransform({self.key!r:.60})"


def step_transform(
    optimizer: optax.GradientTransformation | HyperOptimizer,
) -> tuple[StepTransform, dict[str, Any]]:
    """``(static transform, hyper-parameter arrays)`` of an optimiser for a compiled step."""
    if isinstance(optimizer, HyperOptimizer):
        values = optimizer.values()
        key: tuple = ("hyper", structure(optimizer.factory), tuple(sorted(values)))
        arrays = {name: jnp.asarray(value) for name, value in values.items()}  # weakly typed
        return StepTransform(optimizer.build, key, values), arrays
    key = ("optax", structure(optimizer))
    return StepTransform(partial(_fixed, optimizer), key, {}), {}


def _fixed(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    return tx


class _Same:
    """Compares by identity: a value :func:`structure` cannot look into."""

    def __init__(self, obj: object):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def structure(obj: object, depth: int = 0) -> Hashable:
    """A hashable key equal for two optax objects that compute the same thing: functions by
    their module, name, code and the structures of their closure cells and defaults;
    tuples, lists, dicts and ``functools.partial`` by their items; numbers and strings by
    type and value; anything else (arrays, schedules' objects) by identity."""
    if depth > 30:
        return _Same(obj)
    if isinstance(obj, _PLAIN):
        return (type(obj), obj)
    if isinstance(obj, types.FunctionType):
        cells = tuple(_cell(c, depth) for c in obj.__closure__ or ())
        defaults = structure(obj.__defaults__, depth + 1)
        kwdefaults = structure(obj.__kwdefaults__, depth + 1)
        where = (obj.__module__, obj.__qualname__, id(obj.__globals__))
        return ("function", where, obj.__code__, cells, defaults, kwdefaults)
    if isinstance(obj, partial):
        parts = (obj.func, obj.args, obj.keywords)
        return ("partial", *(structure(p, depth + 1) for p in parts))
    if isinstance(obj, tuple | list):
        return (type(obj), tuple(structure(item, depth + 1) for item in obj))
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: repr(kv[0]))
        return (dict, tuple((k, structure(v, depth + 1)) for k, v in items))
    if isinstance(obj, type | types.BuiltinFunctionType | jnp.dtype):
        return obj
    return _Same(obj)


def _cell(cell: types.CellType, depth: int) -> Hashable:
    try:
        return structure(cell.cell_contents, depth + 1)
    except ValueError:  # an empty cell
        return "<empty>"
