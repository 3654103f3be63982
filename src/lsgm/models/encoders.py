"""The encoder protocol: what the LSGM needs from the network that summarises the observed past.

An encoder maps one sequence's encoded observations ``e = family.encode(x)`` (``[T, D]``:
one-hot rows for symbols, the values themselves for real vectors) to features ``h [T+1, H]``:

    h[t] = f(e_1, ..., e_t),    t = 0, 1, ..., T

Row 0 has read nothing (a learned or fixed start, ``Q_0``), row ``t`` has read the first ``t``
observations and never more: **the encoder owns the shift**. The LSGM reads ``h[0]`` for
``p(z_1)``, ``h[t-1]`` for the emission of ``x_t`` and ``h[t]`` for the transition
``z_t -> z_{t+1}``; because no row sees the observation it conditions, every
``p(x_t | z_t, x_{<t})`` is a normalised distribution, ``p(x) = Σ_z p(x, z)`` sums to one over
sequences, and every exact inference of :mod:`lsgm.inference` holds. The last row
(``h[T]``, having read the whole sequence) is for continuing it (generation).

Padding and lengths: sequences are padded at the end and encoded one at a time (``jax.vmap``
at the call site) with no ``length`` argument; causality alone guarantees that padding after
``length`` changes no row ``h[t]`` with ``t <= length``.

Step mode (optional, :class:`SteppingEncoder`): ``start() -> (carry, h[0])`` and
``step(carry, e_t) -> (carry, h[t])``, used by :meth:`lsgm.models.LSGM.sample`. An encoder
without it is sampled exactly by re-running ``__call__`` on the prefix (:func:`start`,
:func:`step`): ``O(T^2)`` instead of ``O(T)``.

Built in: :class:`GRUEncoder`, :class:`LSTMEncoder` (and :class:`RecurrentStack`, the cell
as an argument), from :mod:`lsgm.models.rnn`. A new encoder is an ``nnx.Module`` with these
attributes (no base class needed), passed as ``LSGM(..., encoder=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from flax import nnx

from lsgm.models.rnn import GRUEncoder, LSTMEncoder, RecurrentStack

Array = jax.Array
#: Whatever an encoder carries from one step to the next (a pytree of arrays).
Carry = Any


@runtime_checkable
class Encoder(Protocol):
    """A causal sequence encoder: ``e [T, input_dim] -> h [T+1, features]``, row ``t`` a
    function of ``e[:t]`` only (module docstring)."""

    @property
    def input_dim(self) -> int:
        """``D``: the width of the encoded observations it reads."""
        ...

    @property
    def features(self) -> int:
        """``H``: the width of the rows it returns."""
        ...

    def __call__(self, x: Array, between: Callable[[Array], Array] | None = None) -> Array:
        """``x [T, D] -> h [T+1, H]``.

        ``between``: a function (the LSGM's dropout with ``dropout_placement="inputs"``) to
        apply to the output sequence of every internal layer before the next one reads it;
        an encoder with one layer ignores it.
        """
        ...


@runtime_checkable
class SteppingEncoder(Encoder, Protocol):
    """An :class:`Encoder` that also runs one observation at a time (for generation)."""

    def start(self) -> tuple[Carry, Array]:
        """``(carry, h[0] [H])`` before any observation."""
        ...

    def step(self, carry: Carry, x_t: Array) -> tuple[Carry, Array]:
        """``(carry after e_1..e_{t-1}, e_t [D]) -> (carry after e_t, h[t] [H])``."""
        ...


def check_encoder(encoder: object, input_dim: int) -> None:
    """Raise a ``ValueError`` naming the fix unless ``encoder`` is an ``nnx.Module`` with the
    :class:`Encoder` attributes and reads ``input_dim``-wide observations."""
    name = type(encoder).__name__
    if not isinstance(encoder, nnx.Module) or not isinstance(encoder, Encoder):
        raise ValueError(
            f"encoder={name} is not an encoder: pass an nnx.Module with integer attributes "
            "input_dim and features and a causal __call__(x [T, D]) -> [T+1, features] "
            "(lsgm.models.encoders.Encoder), e.g. GRUEncoder(input_dim, hidden_size, rngs=...)."
        )
    if encoder.input_dim != input_dim:
        raise ValueError(
            f"encoder {name} reads input_dim = {encoder.input_dim}, but the emission family "
            f"encodes each observation as {input_dim} numbers; build it with input_dim="
            f"{input_dim}."
        )


def build_encoder(
    encoder: Encoder | None,
    input_dim: int,
    *,
    rnn: str | None,
    hidden_size: int | None,
    num_layers: int | None,
    rngs: nnx.Rngs,
) -> Encoder:
    """``encoder`` checked by :func:`check_encoder`, or (``encoder=None``) the built-in
    :class:`RecurrentStack` of ``rnn``, ``hidden_size``, ``num_layers`` (defaults ``"gru"``,
    32, 1); giving both is a ``ValueError``."""
    if encoder is None:
        return RecurrentStack(
            input_dim,
            32 if hidden_size is None else hidden_size,
            1 if num_layers is None else num_layers,
            "gru" if rnn is None else rnn,
            rngs=rngs,
        )
    given = [
        name
        for name, value in (("rnn", rnn), ("hidden_size", hidden_size), ("num_layers", num_layers))
        if value is not None
    ]
    if given:
        raise ValueError(
            f"pass either encoder= or {', '.join(given)}, not both: encoder= replaces the "
            f"built-in encoder that {', '.join(given)} would configure."
        )
    check_encoder(encoder, input_dim)
    return encoder


def start(encoder: Encoder, num_steps: int) -> tuple[Carry, Array]:
    """``(carry, h[0])`` for generating ``num_steps`` observations: the encoder's own step mode,
    or else a zero buffer ``[num_steps, D]`` that :func:`step` fills and re-encodes."""
    if isinstance(encoder, SteppingEncoder):
        return encoder.start()
    buffer = jnp.zeros((int(num_steps), encoder.input_dim), jnp.result_type(float))
    return (buffer, jnp.zeros((), jnp.int32)), encoder(buffer)[0]


def step(encoder: Encoder, carry: Carry, x_t: Array) -> tuple[Carry, Array]:
    """``(carry, e_t [D]) -> (carry, h[t] [H])`` after :func:`start`. Without a step mode: write
    ``e_t`` at the buffer's next position ``i`` and return row ``i + 1`` of the re-encoded
    buffer — exact, because that row reads the buffer up to ``e_t`` and not the zeros after."""
    if isinstance(encoder, SteppingEncoder):
        return encoder.step(carry, x_t)
    buffer, t = carry
    buffer = buffer.at[t].set(x_t.astype(buffer.dtype))
    return (buffer, t + 1), encoder(buffer)[t + 1]


__all__ = [
    "Encoder",
    "GRUEncoder",
    "LSTMEncoder",
    "RecurrentStack",
    "SteppingEncoder",
    "build_encoder",
    "check_encoder",
    "start",
    "step",
]
