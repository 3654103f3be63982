"""Recurrent cells, the layer scan and the stacked GRU / LSTM encoder: lsgm's one RNN.

**Building blocks**, shared by the LSGM's encoders and the apps
(:class:`lsgm.apps.genome_lm.CharRNN`, :class:`lsgm.apps.chromatin.BiGRUClassifier`,
:class:`lsgm.apps.tf_binding.motif_model.MotifModel`). A layer of width ``H`` is two
``nnx.Linear`` maps, ``inputs: D -> G·H`` (``W x + b``) and ``recurrent: H -> G·H``
(``U h + c``), ``G`` the cell's number of gates (:data:`CELL_TYPES`; made by
:func:`recurrent_layers`). A cell step maps ``gates_x = W x_t + b`` (``[..., G·H]``, computed
for all ``t`` at once outside the time loop) and the carry to the next carry; equations
(PyTorch conventions; blocks of ``H`` in this order):

    rnn:  h' = tanh(W x + b + U h + c)                                      (:func:`tanh_step`)
    GRU:  r = σ(W_r x + U_r h + b_r), z = σ(W_z x + U_z h + b_z),           (:func:`gru_step`)
          n = tanh(W_n x + b_n + r ⊙ (U_n h + c_n)),   h' = (1 - z) ⊙ n + z ⊙ h
    LSTM: i, f, g, o = split(W x + U h + b);                                (:func:`lstm_step`)
          c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);  h' = σ(o) ⊙ tanh(c')

The carry of one layer is ``h [..., H]`` (``(c, h)`` for an LSTM); :func:`scan_layer` runs one
layer over a sequence (carry in, carry out: chunks of a long sequence can be chained) and
:func:`scan_stack` runs ``L`` layers, each reading the previous one's outputs.

**The encoder.** :class:`RecurrentStack` (``Q_t = f(Q_{t-1}, x_t)``, learned start ``Q_0``):
:meth:`RecurrentStack.__call__` returns ``[T+1, H]``, row 0 the learned ``Q_0`` (top layer),
row ``t`` having read ``x_1..x_t``. This is the :class:`~lsgm.models.encoders.Encoder`
protocol (``input_dim``, ``features``, ``__call__``) with its step mode
(:meth:`RecurrentStack.start`, :meth:`RecurrentStack.step`); :class:`GRUEncoder` and
:class:`LSTMEncoder` fix the cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array
#: One layer's carry: ``h [..., H]`` (rnn, GRU) or ``(c, h)`` (LSTM); a stack's carry is a
#: list of them, one per layer.
Carry = Any
#: A cell step: ``(gates_x [..., G·H], carry, recurrent Linear(H, G·H)) -> new carry``.
CellStep = Callable[[Array, Carry, nnx.Linear], Carry]


def tanh_step(gates_x: Array, h: Array, recurrent: nnx.Linear) -> Array:
    """Vanilla (Elman) cell, ``G = 1``: ``h' = tanh(W x + b + U h + c)``.

    ``gates_x = W x + b [..., H]``, ``h [..., H]`` -> ``h' [..., H]``."""
    return jnp.tanh(gates_x + recurrent(h))


def gru_step(gates_x: Array, h: Array, recurrent: nnx.Linear) -> Array:
    """GRU cell, ``G = 3`` (blocks ``r, z, n``; equations in the module docstring).

    ``gates_x = W x + b [..., 3H]``, ``h [..., H]`` -> ``h' [..., H]``."""
    H = h.shape[-1]
    gates_h = recurrent(h)
    r = jax.nn.sigmoid(gates_x[..., :H] + gates_h[..., :H])
    z = jax.nn.sigmoid(gates_x[..., H : 2 * H] + gates_h[..., H : 2 * H])
    n = jnp.tanh(gates_x[..., 2 * H :] + r * gates_h[..., 2 * H :])
    return (1 - z) * n + z * h


def lstm_step(
    gates_x: Array, state: tuple[Array, Array], recurrent: nnx.Linear
) -> tuple[Array, Array]:
    """LSTM cell, ``G = 4`` (blocks ``i, f, g, o``; equations in the module docstring).

    ``gates_x = W x + b [..., 4H]``, ``state = (c, h)``, each ``[..., H]`` -> ``(c', h')``."""
    c, h = state
    H = h.shape[-1]
    gates = gates_x + recurrent(h)
    i, f = jax.nn.sigmoid(gates[..., :H]), jax.nn.sigmoid(gates[..., H : 2 * H])
    g, o = jnp.tanh(gates[..., 2 * H : 3 * H]), jax.nn.sigmoid(gates[..., 3 * H :])
    c = f * c + i * g
    return c, o * jnp.tanh(c)


@dataclass(frozen=True)
class CellType:
    """A recurrent cell: ``gates`` (``G``: blocks of ``H`` in a layer's input and recurrent
    products), ``states`` (arrays in its carry: 1 for ``h``, 2 for an LSTM's ``(c, h)``) and
    ``step`` (:data:`CellStep`)."""

    gates: int
    states: int
    step: CellStep


#: Every cell by name (``"rnn"`` is the vanilla tanh cell).
CELL_TYPES: dict[str, CellType] = {
    "rnn": CellType(1, 1, tanh_step),
    "gru": CellType(3, 1, gru_step),
    "lstm": CellType(4, 2, lstm_step),
}
#: The cells of :class:`RecurrentStack`, the LSGM's built-in encoder.
CELLS = ("gru", "lstm")


def cell_type(cell: str) -> CellType:
    """The :class:`CellType` named ``cell``; a ``ValueError`` naming the choices otherwise."""
    if cell not in CELL_TYPES:
        raise ValueError(f"cell={cell!r} is not one of {tuple(CELL_TYPES)}.")
    return CELL_TYPES[cell]


def hidden_state(carry: Carry) -> Array:
    """The output ``h [..., H]`` of a layer's carry (``h``, or ``(c, h)`` for an LSTM)."""
    return carry[1] if isinstance(carry, tuple) else carry


def zero_carry(cell: str, shape: tuple[int, ...]) -> Carry:
    """A layer's zero carry: ``h = 0`` of ``shape`` (``[..., H]``; ``(c, h) = (0, 0)`` for an
    LSTM)."""
    h = jnp.zeros(shape)
    return (h, h) if cell_type(cell).states == 2 else h


def recurrent_layers(
    cell: str, sizes: Sequence[int], hidden_size: int, *, rngs: nnx.Rngs
) -> tuple[nnx.List[nnx.Linear], nnx.List[nnx.Linear]]:
    """``(inputs, recurrents)`` of ``len(sizes)`` layers of width ``H = hidden_size``: layer
    ``l`` reads ``sizes[l]`` numbers, ``inputs[l] = Linear(sizes[l], G·H)`` and
    ``recurrents[l] = Linear(H, G·H)``, all inputs built (drawing from ``rngs``) before all
    recurrents."""
    G = cell_type(cell).gates
    inputs = nnx.List([nnx.Linear(int(d), G * hidden_size, rngs=rngs) for d in sizes])
    recurrents = nnx.List([nnx.Linear(hidden_size, G * hidden_size, rngs=rngs) for _ in sizes])
    return inputs, recurrents


def scan_layer(
    cell: str,
    inputs: nnx.Linear,
    recurrent: nnx.Linear,
    carry: Carry,
    x: Array,
    *,
    time_axis: int = 0,
) -> tuple[Carry, Array]:
    """One recurrent layer over a sequence: ``h_t = step(W x_t + b, h_{t-1})`` for every ``t``.

    Args:
        cell: a name of :data:`CELL_TYPES`.
        inputs, recurrent: the layer's ``Linear(D, G·H)`` and ``Linear(H, G·H)``.
        carry: the carry before ``x``'s first step (``[..., H]`` arrays, ``...`` = the batch
            axes of ``x``): :func:`zero_carry`, a learned start or the carry a previous chunk
            ended with.
        x: ``[T, ..., D]``, or time on axis ``time_axis`` (``1`` for batch-first
            ``[B, T, D]``).

    Returns:
        ``(carry after the last step, h)``, ``h`` laid out as ``x`` with ``H`` features. The
        input product ``W x + b`` runs once over the whole sequence; only ``U h`` runs step
        by step (``jax.lax.scan``).
    """
    step_fn = cell_type(cell).step
    gates_x = jnp.moveaxis(inputs(x), time_axis, 0) if time_axis else inputs(x)

    def step(state: Carry, g: Array) -> tuple[Carry, Array]:
        new = step_fn(g, state, recurrent)
        return new, hidden_state(new)

    last, hs = jax.lax.scan(step, carry, gates_x)
    return last, (jnp.moveaxis(hs, 0, time_axis) if time_axis else hs)


def scan_stack(
    cell: str,
    inputs: Sequence[nnx.Linear],
    recurrents: Sequence[nnx.Linear],
    carries: Sequence[Carry],
    x: Array,
    *,
    time_axis: int = 0,
    between: Callable[[Array], Array] | None = None,
) -> tuple[list[Carry], Array]:
    """Stacked layers (:func:`recurrent_layers`) over a sequence: layer ``l`` runs
    :func:`scan_layer` from ``carries[l]`` over the outputs of layer ``l - 1`` (layer 0 over
    ``x [T, ..., D]``, time on axis ``time_axis``).

    ``between``: applied to each layer's output sequence before the next layer reads it (e.g.
    dropout between layers), not to the top layer's. Returns ``(the carry after the last step,
    one per layer; the top layer's outputs h [T, ..., H])``, laid out as ``x``.
    """
    seq = x
    new_carries: list[Carry] = []
    for layer, (inp, rec) in enumerate(zip(inputs, recurrents, strict=True)):
        if layer > 0 and between is not None:
            seq = between(seq)
        last, seq = scan_layer(cell, inp, rec, carries[layer], seq, time_axis=time_axis)
        new_carries.append(last)
    return new_carries, seq


class RecurrentStack(nnx.Module):
    """``num_layers`` GRU or LSTM layers with learned initial states: an
    :class:`~lsgm.models.encoders.Encoder` from ``input_dim`` to ``features = hidden_size``.

    Parameters (their paths inside an LSGM, under ``rnn/``, are what model files and
    checkpoints store): ``inputs/<layer>`` ``Linear(D or H, G·H)``, ``recurrents/<layer>``
    ``Linear(H, G·H)`` (``G`` = 3 gates for a GRU, 4 for an LSTM; :func:`recurrent_layers`)
    and ``initial`` ``[num_layers, 1 or 2, H]`` (``Q_0``; an LSTM's ``(c, h)``).
    """

    def __init__(
        self, input_dim: int, hidden_size: int, num_layers: int, cell: str, *, rngs: nnx.Rngs
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"rnn={cell!r} is not one of {CELLS}.")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"hidden_size and num_layers must be >= 1; got {hidden_size}, {num_layers}."
            )
        self.cell, self.hidden_size, self.num_layers = cell, int(hidden_size), int(num_layers)
        self.input_dim = int(input_dim)
        sizes = [self.input_dim] + [self.hidden_size] * (self.num_layers - 1)
        self.inputs, self.recurrents = recurrent_layers(cell, sizes, self.hidden_size, rngs=rngs)
        n_states = CELL_TYPES[cell].states
        self.initial = nnx.Param(jnp.zeros((self.num_layers, n_states, self.hidden_size)))

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
        return hidden_state(carry)

    def __call__(self, x: Array, between: Callable[[Array], Array] | None = None) -> Array:
        """``x [T, D]`` → ``[T+1, H]`` top-layer states (row 0 = ``Q_0``).

        ``between``: applied to each layer's output sequence ``[T, H]`` before it feeds the
        next layer (e.g. dropout between layers, as PyTorch's ``GRU(dropout=p)``); not to
        the top layer's output nor to ``Q_0``.
        """
        carries = self.initial_state()
        _, seq = scan_stack(self.cell, self.inputs, self.recurrents, carries, x, between=between)
        first = self.output(carries[-1])
        return jnp.concatenate([first[None], seq], axis=0)

    def start(self) -> tuple[list[Carry], Array]:
        """The carry before any observation and ``Q_0 [H]`` (row 0 of :meth:`__call__`)."""
        carries = self.initial_state()
        return carries, self.output(carries[-1])

    def step(self, carries: list[Carry], x_t: Array) -> tuple[list[Carry], Array]:
        """One step for generation: ``(carries, x_t [D]) -> (new carries, Q_t [H])``."""
        step_fn = CELL_TYPES[self.cell].step
        new_carries = []
        inp = x_t
        for layer in range(self.num_layers):
            new = step_fn(self.inputs[layer](inp), carries[layer], self.recurrents[layer])
            new_carries.append(new)
            inp = self.output(new)
        return new_carries, inp


class GRUEncoder(RecurrentStack):
    """A stack of ``num_layers`` GRU layers (:class:`RecurrentStack` with ``cell="gru"``)."""

    def __init__(
        self, input_dim: int, hidden_size: int, num_layers: int = 1, *, rngs: nnx.Rngs
    ) -> None:
        super().__init__(input_dim, hidden_size, num_layers, "gru", rngs=rngs)


class LSTMEncoder(RecurrentStack):
    """A stack of ``num_layers`` LSTM layers (:class:`RecurrentStack` with ``cell="lstm"``)."""

    def __init__(
        self, input_dim: int, hidden_size: int, num_layers: int = 1, *, rngs: nnx.Rngs
    ) -> None:
        super().__init__(input_dim, hidden_size, num_layers, "lstm", rngs=rngs)
