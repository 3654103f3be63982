"""Stacked GRU / LSTM with a learned initial state: the LSGM's built-in encoders.

``Q_t = f(Q_{t-1}, x_t)``; :meth:`RecurrentStack.__call__` returns ``[T+1, H]``: row 0 is the
learned ``Q_0`` (top layer), row ``t`` has read ``x_1..x_t``. This is the
:class:`~lsgm.models.encoders.Encoder` protocol (``input_dim``, ``features``, ``__call__``) with
its step mode (:meth:`RecurrentStack.start`, :meth:`RecurrentStack.step`);
:class:`GRUEncoder` and :class:`LSTMEncoder` fix the cell. The input projection of every
layer is one ``[T, D] @ [D, G·H]`` product outside the scan; only the recurrent product runs
step by step. Gate equations (PyTorch conventions):

    GRU:  r = σ(W_r x + U_r h + b_r), z = σ(W_z x + U_z h + b_z),
          n = tanh(W_n x + b_n + r ⊙ (U_n h + c_n)),   h' = (1 - z) ⊙ n + z ⊙ h
    LSTM: i, f, g, o = split(W x + U h + b);  c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);  h' = σ(o) ⊙ tanh(c')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array
#: One layer's carry: ``h [H]`` (GRU) or ``(c, h)`` (LSTM); the stack's carry is a list of them.
Carry = Any
CELLS = ("gru", "lstm")


def _gru_step(gates_x: Array, h: Array, recurrent: nnx.Linear) -> Array:
    H = h.shape[-1]
    gates_h = recurrent(h)
    r = jax.nn.sigmoid(gates_x[..., :H] + gates_h[..., :H])
    z = jax.nn.sigmoid(gates_x[..., H : 2 * H] + gates_h[..., H : 2 * H])
    n = jnp.tanh(gates_x[..., 2 * H :] + r * gates_h[..., 2 * H :])
    return (1 - z) * n + z * h


def _lstm_step(
    gates_x: Array, state: tuple[Array, Array], recurrent: nnx.Linear
) -> tuple[Array, Array]:
    c, h = state
    H = h.shape[-1]
    gates = gates_x + recurrent(h)
    i, f = jax.nn.sigmoid(gates[..., :H]), jax.nn.sigmoid(gates[..., H : 2 * H])
    g, o = jnp.tanh(gates[..., 2 * H : 3 * H]), jax.nn.sigmoid(gates[..., 3 * H :])
    c = f * c + i * g
    return c, o * jnp.tanh(c)


class RecurrentStack(nnx.Module):
    """``num_layers`` GRU or LSTM layers with learned initial states: an
    :class:`~lsgm.models.encoders.Encoder` from ``input_dim`` to ``features = hidden_size``.

    Parameters (their paths inside an LSGM, under ``rnn/``, are what model files and
    checkpoints store): ``inputs/<layer>`` ``Linear(D or H, G·H)``, ``recurrents/<layer>``
    ``Linear(H, G·H)`` (``G`` = 3 gates for a GRU, 4 for an LSTM) and ``initial``
    ``[num_layers, 1 or 2, H]`` (``Q_0``; an LSTM's ``(c, h)``).
    """

    def __init__(
        self, input_dim: int, hidden_size: int, num_layers: int, cell: str, *, rngs: nnx.Rngs
    ):
        if cell not in CELLS:
            raise ValueError(f"rnn={cell!r} is not one of {CELLS}.")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"hidden_size and num_layers must be >= 1; got {hidden_size}, {num_layers}."
            )
        self.cell, self.hidden_size, self.num_layers = cell, int(hidden_size), int(num_layers)
        self.input_dim = int(input_dim)
        gates = 3 if cell == "gru" else 4
        sizes = [int(input_dim)] + [self.hidden_size] * (self.num_layers - 1)
        self.inputs = nnx.List([nnx.Linear(d, gates * hidden_size, rngs=rngs) for d in sizes])
        self.recurrents = nnx.List(
            [nnx.Linear(hidden_size, gates * hidden_size, rngs=rngs) for _ in sizes]
        )
        n_states = 1 if cell == "gru" else 2  # LSTM: (c, h)
        self.initial = nnx.Param(jnp.zeros((self.num_layers, n_states, hidden_size)))

    @property
    def features(self) -> int:
        """``H``, the width of every row :meth:`__call__` and :meth:`step` return."""
        return self.hidden_size

    def initial_state(self) -> list[Carry]:
        """Per-layer initial carry (``h`` for GRU, ``(c, h)`` for LSTM)."""
        q0 = self.initial[...]
        if self.cell == "gru":
            return [q0[layer, 0] for layer in range(self.num_layers)]
        return [(q0[layer, 0], q0[layer, 1]) for layer in range(self.num_layers)]

    @staticmethod
    def output(carry: Carry) -> Array:
        """The hidden state ``h`` of a layer's carry (``h``, or ``(c, h)`` for an LSTM)."""
        return carry[1] if isinstance(carry, tuple) else carry

    def __call__(self, x: Array, between: Callable[[Array], Array] | None = None) -> Array:
        """``x [T, D]`` → ``[T+1, H]`` top-layer states (row 0 = ``Q_0``).

        ``between``: applied to each layer's output sequence ``[T, H]`` before it feeds the
        next layer (e.g. dropout between layers, as PyTorch's ``GRU(dropout=p)``); not to
        the top layer's output nor to ``Q_0``.
        """
        seq = x
        carries = self.initial_state()
        for layer in range(self.num_layers):
            if layer > 0 and between is not None:
                seq = between(seq)
            gates_x = self.inputs[layer](seq)  # [T, G·H], outside the scan
            recurrent = self.recurrents[layer]
            step_fn = _gru_step if self.cell == "gru" else _lstm_step

            def step(carry, g, recurrent=recurrent, step_fn=step_fn):
                new = step_fn(g, carry, recurrent)
                return new, self.output(new)

            _, seq = jax.lax.scan(step, carries[layer], gates_x)
        first = self.output(carries[-1])
        return jnp.concatenate([first[None], seq], axis=0)

    def start(self) -> tuple[list[Carry], Array]:
        """The carry before any observation and ``Q_0 [H]`` (row 0 of :meth:`__call__`)."""
        carries = self.initial_state()
        return carries, self.output(carries[-1])

    def step(self, carries: list[Carry], x_t: Array) -> tuple[list[Carry], Array]:
        """One step for generation: ``(carries, x_t [D]) -> (new carries, Q_t [H])``."""
        new_carries = []
        inp = x_t
        for layer in range(self.num_layers):
            step_fn = _gru_step if self.cell == "gru" else _lstm_step
            new = step_fn(self.inputs[layer](inp), carries[layer], self.recurrents[layer])
            new_carries.append(new)
            inp = self.output(new)
        return new_carries, inp


class GRUEncoder(RecurrentStack):
    """A stack of ``num_layers`` GRU layers (:class:`RecurrentStack` with ``cell="gru"``)."""

    def __init__(self, input_dim: int, hidden_size: int, num_layers: int = 1, *, rngs: nnx.Rngs):
        super().__init__(input_dim, hidden_size, num_layers, "gru", rngs=rngs)


class LSTMEncoder(RecurrentStack):
    """A stack of ``num_layers`` LSTM layers (:class:`RecurrentStack` with ``cell="lstm"``)."""

    def __init__(self, input_dim: int, hidden_size: int, num_layers: int = 1, *, rngs: nnx.Rngs):
        super().__init__(input_dim, hidden_size, num_layers, "lstm", rngs=rngs)
