"""The Long Short-term Graphical Model: an HMM conditioned on an RNN over the observed past.

A deterministic state ``Q_t = f(Q_{t-1}, x_t)`` (an encoder of the observed past: GRU/LSTM
layers with a learned ``Q_0`` or any :class:`~lsgm.models.encoders.Encoder`; an optional dense
stack) conditions the HMM's distributions (LSGM paper §2.1, ``DESIGN.md`` §3):

    p(z_1)                    = softmax(b_pi [+ W_pi u_0])
    p(x_t | z_t = k, x_{<t})  = family(x_t; bias_k + g(u_{t-1}, k))        (emission network)
    p(z_{t+1} = j | z_t = i, x_{1:t}) = softmax_j(B_ij + [W_A u_t]_ij)       (order 1)
                                      = softmax_j(b_j + [W_A u_t]_j)          (order 0)

with ``u_t`` the (dense-stacked) encoder state after reading ``x_1..x_t`` (``u_0`` from ``Q_0``).
Because ``u_t`` depends on the observations only, :meth:`LSGM.potentials` yields ordinary
time-varying potentials and every exact inference of :mod:`lsgm.inference` applies.

Emission networks: ``"per_state"`` (a one-hidden-layer network per state, paper Fig. 1a) or
``"shared"`` (one network over ``[u; e_k]`` with state embeddings ``e_k``, Fig. 1b, whose first
layer is computed as ``W_u u_t + W_e e_k`` so the large product runs once per step, not once
per step and state). ``conditioning="transitions"`` keeps the emissions static (the given
:class:`~lsgm.distributions.Emission`), ``"emissions"`` keeps the transitions static, and
``"none"`` is an HMM. With the network output weights at zero an LSGM equals the HMM with its
static tables (:meth:`LSGM.from_hmm`).

Paper configuration (the authors' code, ``networks/lsgm.py``): ``transition_hidden="auto"``
makes the transition head a two-layer network ``W_2 relu(W_1 u + c_1) + c_2`` of shapes
``F -> 2·max(F, K²) -> K²`` (``K`` for order 0), and ``dropout_placement="inputs"`` draws the
dropout masks before every layer that reads the features (between RNN layers, before each
dense layer, and independently before the first layer of the transition and emission
networks) instead of on the RNN and dense outputs. The entropy-heating term of the paper's
training loss is :func:`lsgm.training.gradient.batch_terms`' second output.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx
from jax.typing import ArrayLike

from lsgm.distributions import Emission
from lsgm.inference import Potentials
from lsgm.models import encoders
from lsgm.models.base import SequenceModel
from lsgm.models.emission_heads import family_of
from lsgm.models.encoders import Encoder
from lsgm.models.hmm import HMM, TransitionMask, check_transition_mask
from lsgm.models.rnn import GRUEncoder, LSTMEncoder, RecurrentStack

Array = jax.Array
CONDITIONING = ("full", "transitions", "emissions", "none")
#: Encoder classes a model file can rebuild from the settings ``rnn``, ``hidden_size`` and
#: ``num_layers`` (exact types: a subclass may compute something else).
BUILT_IN_ENCODERS = (RecurrentStack, GRUEncoder, LSTMEncoder)
EMISSION_NETWORKS = ("shared", "per_state")
DROPOUT_PLACEMENTS = ("outputs", "inputs")


def _small(scale: float = 0.01) -> nnx.Initializer:
    return nnx.initializers.normal(scale)


def _zero(layer: nnx.Linear) -> None:
    """Zero a dense layer's kernel and bias (if it has one)."""
    layer.kernel[...] = jnp.zeros_like(layer.kernel[...])
    if layer.bias is not None:
        layer.bias[...] = jnp.zeros_like(layer.bias[...])


class LSGM(SequenceModel):
    """Long Short-term Graphical Model.

    Args:
        num_states: ``K``.
        emission: the emission family and its static parameters (per-state output biases of
            the emission network, or the whole emission when it is not conditioned):
            ``Categorical``, diagonal ``Gaussian`` or ``Bernoulli``.
        rnn: ``"gru"`` (default) or ``"lstm"``: the built-in encoder's cell.
        hidden_size, num_layers: the built-in encoder's size (default 32, 1).
        encoder: instead of ``rnn``/``hidden_size``/``num_layers``, an encoder object
            (:class:`~lsgm.models.encoders.Encoder`: an ``nnx.Module``, causal,
            ``[T, D] -> [T+1, H]`` with ``D = `` the emission family's input width); the model
            holds it (under ``rnn``) and trains it. A :class:`GRUEncoder`,
            :class:`LSTMEncoder` or :class:`RecurrentStack` is saved in model files like the
            built-in one; a model with any other encoder cannot be written by
            :func:`lsgm.models.serialization.save_model` (its training checkpoints work).
        dense_layers, dense_size: a ReLU dense stack after the RNN feeding both networks.
        order: 1 (``[K, K]`` transition logits per step) or 0 (one ``[K]`` destination
            distribution per step, paper §2.3).
        conditioning: ``"full"``, ``"transitions"``, ``"emissions"`` or ``"none"``.
        emission_network: ``"shared"`` (Fig. 1b) or ``"per_state"`` (Fig. 1a).
        embedding_dim: state-embedding size of the shared emission network.
        emission_hidden: hidden width of the emission network (default ``2·max(in, out)``).
        dropout: dropout rate (training only: ``model.train()``), applied where
            ``dropout_placement`` says.
        dropout_placement: ``"outputs"`` (default): one mask on the RNN output and one on
            each dense layer's output, so both heads read the same dropped features;
            ``"inputs"`` (the authors' code): a mask before every layer that reads the
            features — between RNN layers, before each dense layer (none after the last),
            and one mask per head before the first layer of the transition head, of the
            emission network (on ``u`` only, one mask per step shared by the states, so the
            first layer stays factorised; the authors draw it per step and state over
            ``[u; e_k]``) and of the ``initial="q0"`` head.
        transition_hidden: ``None`` (default): the transition head is one linear layer
            ``F -> K²`` (``K`` for order 0); an int ``H`` or ``"auto"`` (``H = 2·max(F, K²)``,
            the paper's width): a two-layer network ``F -> H -> K²`` with a ReLU between
            (:class:`TransitionMLP`).
        transition_mask: ``[K, K]`` bool structural zeros, respected at every step.
        initial: ``"learned"`` (static logits) or ``"q0"`` (also a head on ``Q_0``).
        rngs: parameter initialisation and dropout.
    """

    PARAM_GROUPS = {
        "initial": ("initial_logits", "initial_head"),
        "transition": ("transition_logits", "transition_head"),
        "emission": ("emission", "emission_bias", "emission_net"),
        "rnn": ("rnn", "dense"),
    }

    def __init__(
        self,
        num_states: int,
        emission: Emission,
        *,
        rnn: str | None = None,
        hidden_size: int | None = None,
        num_layers: int | None = None,
        encoder: Encoder | None = None,
        dense_layers: int = 0,
        dense_size: int | None = None,
        order: int = 1,
        conditioning: str = "full",
        emission_network: str = "shared",
        embedding_dim: int = 16,
        emission_hidden: int | None = None,
        dropout: float = 0.0,
        dropout_placement: str = "outputs",
        transition_hidden: int | str | None = None,
        transition_mask: npt.ArrayLike | None = None,
        initial: str = "learned",
        rngs: nnx.Rngs,
    ) -> None:
        K = int(num_states)
        if K < 1:
            raise ValueError(f"num_states must be >= 1; got {num_states}.")
        if emission.num_states != K:
            raise ValueError(
                f"the emission has {emission.num_states} states but the LSGM has {K}; "
                "build both with the same num_states."
            )
        if order not in (0, 1):
            raise ValueError(f"order must be 0 or 1; got {order}.")
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning={conditioning!r} is not one of {CONDITIONING}.")
        if emission_network not in EMISSION_NETWORKS:
            raise ValueError(
                f"emission_network={emission_network!r} is not one of {EMISSION_NETWORKS}."
            )
        if initial not in ("learned", "q0"):
            raise ValueError(f"initial={initial!r} is not 'learned' or 'q0'.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}.")
        if dropout_placement not in DROPOUT_PLACEMENTS:
            raise ValueError(
                f"dropout_placement={dropout_placement!r} is not one of {DROPOUT_PLACEMENTS}."
            )
        if transition_hidden is not None and transition_hidden != "auto":
            if isinstance(transition_hidden, bool) or not isinstance(
                transition_hidden, int | np.integer
            ):
                raise ValueError(
                    f"transition_hidden must be None, 'auto' or an int >= 1; got {transition_hidden!r}."
                )
            if transition_hidden < 1:
                raise ValueError(f"transition_hidden must be >= 1; got {transition_hidden}.")
            transition_hidden = int(transition_hidden)
        if dense_layers < 0 or embedding_dim < 1:
            raise ValueError(
                f"dense_layers must be >= 0 and embedding_dim >= 1; got {dense_layers}, {embedding_dim}."
            )
        family = family_of(emission)
        self.rnn = encoders.build_encoder(
            encoder,
            family.input_dim,
            rnn=rnn,
            hidden_size=hidden_size,
            num_layers=num_layers,
            rngs=rngs,
        )
        # The constructor's settings (hashable, static) that rebuild the model; None for a
        # custom encoder, which no settings describe (:attr:`settings` raises).
        self._settings: tuple[tuple[str, object], ...] | None = None
        built_in = self.rnn
        if isinstance(built_in, RecurrentStack) and type(built_in) in BUILT_IN_ENCODERS:
            self._settings = (
                ("rnn", built_in.cell),
                ("hidden_size", built_in.hidden_size),
                ("num_layers", built_in.num_layers),
                ("dense_layers", int(dense_layers)),
                ("dense_size", None if dense_size is None else int(dense_size)),
                ("order", int(order)),
                ("conditioning", conditioning),
                ("emission_network", emission_network),
                ("embedding_dim", int(embedding_dim)),
                ("emission_hidden", None if emission_hidden is None else int(emission_hidden)),
                ("dropout", float(dropout)),
                ("initial", initial),
            )
            # Appended only when not the default, so the settings (and saved files) of models
            # without these options are what they were before the options existed.
            if dropout_placement != "outputs":
                self._settings += (("dropout_placement", dropout_placement),)
            if transition_hidden is not None:
                self._settings += (("transition_hidden", transition_hidden),)
        self.dropout_placement = dropout_placement
        self.num_states, self.order, self.conditioning = K, int(order), conditioning
        self.emission_network, self.initial_mode = emission_network, initial
        self.emission = emission
        self.family = family
        self.transition_mask = TransitionMask(
            jnp.asarray(check_transition_mask(transition_mask, K))
        )

        H = int(self.rnn.features)
        width = int(dense_size or H)
        sizes = [H] + [width] * dense_layers
        self.dense = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        F = sizes[-1]
        # Random streams only when needed: a model without them batches with plain jax.vmap.
        self.dropout = nnx.Dropout(dropout, rngs=rngs if dropout > 0 else None)

        key = rngs.params()
        k_init, k_trans = jax.random.split(key)
        self.initial_logits = nnx.Param(0.1 * jax.random.normal(k_init, (K,)))
        self.initial_head = (
            nnx.Linear(F, K, kernel_init=_small(), rngs=rngs) if initial == "q0" else None
        )
        trans_shape = (K, K) if order == 1 else (K,)
        self.transition_logits = nnx.Param(0.1 * jax.random.normal(k_trans, trans_shape))
        head: nnx.Linear | TransitionMLP | None = None
        if conditioning in ("full", "transitions"):
            out = K * K if order == 1 else K
            if transition_hidden is None:
                head = nnx.Linear(F, out, kernel_init=_small(), rngs=rngs)
            else:  # "auto" or an int (checked above)
                auto = 2 * max(F, out)
                width = transition_hidden if isinstance(transition_hidden, int) else auto
                head = TransitionMLP(F, width, out, rngs=rngs)
        self.transition_head: nnx.Linear | TransitionMLP | None = nnx.data(head)

        bias: nnx.Param[Array] | None = None
        net: SharedEmissionNet | PerStateEmissionNet | None = None
        if conditioning in ("full", "emissions"):
            P = family.num_params
            bias = nnx.Param(jnp.asarray(family.bias(emission)))
            if emission_network == "shared":
                hidden = int(emission_hidden or 2 * max(F + embedding_dim, P))
                net = SharedEmissionNet(F, K, P, embedding_dim, hidden, rngs=rngs)
            else:
                hidden = int(emission_hidden or 2 * max(F, P))
                net = PerStateEmissionNet(F, K, P, hidden, rngs=rngs)
        self.emission_bias: nnx.Param[Array] | None = nnx.data(bias)
        self.emission_net: SharedEmissionNet | PerStateEmissionNet | None = nnx.data(net)

    @property
    def encoder(self) -> Encoder:
        """The encoder of the observed past (stored as ``rnn``: its parameters' paths start
        with ``rnn/``, as saved files expect)."""
        return self.rnn

    @property
    def settings(self) -> tuple[tuple[str, object], ...]:
        """The constructor's settings (hashable, static), from which a model file rebuilds the
        model; ``rnn``, ``hidden_size`` and ``num_layers`` describe the built-in encoder.

        Raises:
            ValueError: the model holds a custom encoder, which no settings describe.
        """
        if self._settings is None:
            raise ValueError(
                f"this LSGM's encoder is a {type(self.rnn).__name__}, which model files cannot "
                "rebuild (they rebuild GRUEncoder/LSTMEncoder from rnn, hidden_size and "
                "num_layers). Save its parameters with lsgm.training.checkpoint.save_checkpoint("
                "path, nnx.state(model)) and load them with load_checkpoint into a model built "
                "the same way in code, or use rnn='gru'/'lstm' or a GRUEncoder/LSTMEncoder."
            )
        return self._settings

    @classmethod
    def from_hmm(cls, hmm: HMM, **kwargs: Any) -> LSGM:
        """An LSGM whose network outputs start at zero, so it equals ``hmm`` exactly (order 1).

        The HMM's initial/transition logits and emission become the static parts; training
        then learns how the RNN state moves them.
        """
        model = cls(
            hmm.num_states, hmm.emission, transition_mask=hmm.transition_mask[...], **kwargs
        )
        model.initial_logits[...] = hmm.initial_logits[...]
        if model.order == 1:
            model.transition_logits[...] = hmm.transition_logits[...]
        for head in (model.transition_head, model.initial_head):
            if isinstance(head, TransitionMLP):
                head.zero_output()
            elif head is not None:
                _zero(head)
        if model.emission_net is not None:
            model.emission_net.zero_output()
        return model

    # ---------------------------------------------------------------- features
    def _dense(self, h: Array, train_dropout: bool = True) -> Array:
        """The dense stack on encoder states ``h [..., H]``; dropout as ``dropout_placement``
        says when ``train_dropout`` (and the model is in training mode)."""
        inputs = self.dropout_placement == "inputs"
        if train_dropout and not inputs:
            h = self.dropout(h)
        for layer in self.dense:
            if train_dropout and inputs:
                h = self.dropout(h)
            h = jax.nn.relu(layer(h))
            if train_dropout and not inputs:
                h = self.dropout(h)
        return h

    def features(self, x: Array) -> Array:
        """``[T+1, F]``: ``u_0`` (from ``Q_0``) and ``u_t`` after reading ``x_1..x_t`` (the
        encoder's rows through the dense stack)."""
        between = self.dropout if self.dropout_placement == "inputs" else None
        return self._dense(self.rnn(self.family.encode(x), between=between))

    def _head_input(self, u: Array) -> Array:
        """``u`` with a fresh dropout mask for one head (``dropout_placement="inputs"``)."""
        return self.dropout(u) if self.dropout_placement == "inputs" else u

    # ------------------------------------------------------------- conditionals
    def log_initial(self, u0: Array) -> Array:
        """``[K]`` ``log p(z_1)``."""
        logits = self.initial_logits[...]
        if self.initial_head is not None:
            logits = logits + self.initial_head(u0)
        return jax.nn.log_softmax(logits)

    def log_transition(self, u: Array) -> Array:
        """``[..., K, K]`` transition log-probabilities from features ``u [..., F]`` (the
        static table when transitions are not conditioned)."""
        K = self.num_states
        logits = self.transition_logits[...]
        if self.transition_head is not None:
            out = self.transition_head(u)
            out = out.reshape(out.shape[:-1] + ((K, K) if self.order == 1 else (K,)))
            logits = logits + out
        if self.order == 0:
            logits = jnp.broadcast_to(logits[..., None, :], logits.shape[:-1] + (K, K))
        logits = jnp.where(self.transition_mask[...], logits, -jnp.inf)
        return jax.nn.log_softmax(logits, axis=-1)

    def emission_params(self, u: Array) -> Array:
        """``[..., K, P]`` raw emission parameters from features ``u [..., F]``."""
        if self.emission_bias is None or self.emission_net is None:
            raise ValueError(
                f"conditioning={self.conditioning!r}: the emissions are static (no emission "
                "network); read them from model.emission."
            )
        return self.emission_bias[...] + self.emission_net(u)

    def log_emission(self, u: Array, x: Array) -> Array:
        """``[T, K]`` ``log p(x_t | z_t, x_{<t})`` with ``u [T, F]`` = features before each step."""
        if self.emission_net is None:
            return self.emission.log_prob(x)
        return self.family.log_prob(self.emission_params(u), x)

    # ------------------------------------------------------------- potentials
    def potentials(self, x: Array, length: ArrayLike | None = None) -> Potentials:
        """Time-varying potentials of one sequence ``x [T, ...]``.

        ``length`` is accepted for symmetry with batching and ignored: the encoder is causal, so
        padding after ``length`` cannot change earlier potentials.
        """
        del length
        u = self.features(x)  # [T+1, F]
        T = u.shape[0] - 1
        # [T-1, K, K] from u_t for z_t -> z_{t+1}; the static [K, K] table when unconditioned.
        # Each head reads u through its own dropout mask with dropout_placement="inputs".
        trans_u = u[1:T] if self.transition_head is None else self._head_input(u[1:T])
        emit_u = u[:T] if self.emission_net is None else self._head_input(u[:T])
        init_u = u[0] if self.initial_head is None else self._head_input(u[0])
        return Potentials(
            self.log_initial(init_u), self.log_transition(trans_u), self.log_emission(emit_u, x)
        )

    def n_parameters(self) -> int:
        """The trainable scalars (``nnx.Param`` sizes) the likelihood depends on, as the LSGM
        paper counts them: every parameter except those nothing reads — the encoder and dense
        layers when ``conditioning="none"``, and the static emission when an emission network
        produces the emission parameters (its output is added to ``emission_bias``, which
        holds the static values, so the static emission module is then dead weight)."""
        unread = {"rnn", "dense"} if self.conditioning == "none" else set()
        if self.emission_net is not None:
            unread.add("emission")
        flat = nnx.to_flat_state(nnx.state(self, nnx.Param))
        return int(sum(np.size(leaf) for path, leaf in flat if path[0] not in unread))

    # -------------------------------------------------------------- generation
    def sample(self, num_steps: int, key: Array) -> tuple[Array, Array]:
        """Autoregressive generation: ``(states [T], observations [T, ...])``.

        ``z_1 ~ p(z_1)``; then for each step: ``x_t ~ p(x | z_t, Q_{t-1})``,
        ``Q_t = f(Q_{t-1}, x_t)``, ``z_{t+1} ~ p(z | z_t, Q_t)``. Dropout is off. The encoder
        runs in its step mode, or re-reads the prefix when it has none
        (:func:`lsgm.models.encoders.step`).
        """
        if int(num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1; got {num_steps}.")
        carries, q0 = encoders.start(self.rnn, num_steps)
        u0 = self._dense(q0, train_dropout=False)
        key_first, key_steps = jax.random.split(key)
        z0 = jax.random.categorical(key_first, self.log_initial(u0)).astype(jnp.int32)

        def step(carry, step_key):
            carries, u, z = carry
            k_x, k_z = jax.random.split(step_key)
            if self.emission_net is None:
                x = self.emission.sample(k_x, z[None])[0]
            else:
                x = self.family.sample(k_x, self.emission_params(u)[z])
            carries, q = encoders.step(self.rnn, carries, self.family.encode(x[None])[0])
            u_next = self._dense(q, train_dropout=False)
            z_next = jax.random.categorical(k_z, self.log_transition(u_next)[z]).astype(jnp.int32)
            return (carries, u_next, z_next), (z, x)

        keys = jax.random.split(key_steps, int(num_steps))
        _, (states, obs) = jax.lax.scan(step, (carries, u0, z0), keys)
        return states, obs


class TransitionMLP(nnx.Module):
    """Two-layer transition head ``W_2 relu(W_1 u + c_1) + c_2``: ``u [..., F] -> [..., out]``.

    ``W_1 [F, H]`` (default initialisation), ``W_2 [H, out]`` (small, like the linear head's),
    so it holds ``F·H + H + H·out + out`` parameters; ``out = K²`` for order 1, ``K`` for 0.
    """

    def __init__(self, F: int, hidden: int, out: int, *, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.Linear(F, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, out, kernel_init=_small(), rngs=rngs)

    def __call__(self, u: Array) -> Array:
        return self.out(jax.nn.relu(self.hidden(u)))

    def zero_output(self) -> None:
        """Zero the output layer, so the head adds nothing to the static logits."""
        _zero(self.out)


class SharedEmissionNet(nnx.Module):
    """One network over ``[u; e_k]``: ``W_out relu(W_u u + W_e e_k + b) + b_out`` (Fig. 1b)."""

    def __init__(
        self, F: int, K: int, P: int, embedding_dim: int, hidden: int, *, rngs: nnx.Rngs
    ) -> None:
        self.embedding = nnx.Param(jax.random.normal(rngs.params(), (K, embedding_dim)))
        self.from_features = nnx.Linear(F, hidden, rngs=rngs)
        self.from_state = nnx.Linear(embedding_dim, hidden, use_bias=False, rngs=rngs)
        self.out = nnx.Linear(hidden, P, kernel_init=_small(), rngs=rngs)

    def __call__(self, u: Array) -> Array:
        per_step = self.from_features(u)  # [..., H]: once per step
        per_state = self.from_state(self.embedding[...])  # [K, H]: once
        return self.out(jax.nn.relu(per_step[..., None, :] + per_state))  # [..., K, P]

    def zero_output(self) -> None:
        """Zero the output layer, so the network adds nothing to ``emission_bias``."""
        _zero(self.out)


class PerStateEmissionNet(nnx.Module):
    """A one-hidden-layer network per state (Fig. 1a), evaluated for all states at once."""

    def __init__(self, F: int, K: int, P: int, hidden: int, *, rngs: nnx.Rngs) -> None:
        k1, k2 = jax.random.split(rngs.params())
        self.w1 = nnx.Param(jax.random.normal(k1, (K, F, hidden)) / np.sqrt(F))
        self.b1 = nnx.Param(jnp.zeros((K, hidden)))
        self.w2 = nnx.Param(0.01 * jax.random.normal(k2, (K, hidden, P)))
        self.b2 = nnx.Param(jnp.zeros((K, P)))

    def __call__(self, u: Array) -> Array:
        h = jax.nn.relu(jnp.einsum("...f,kfh->...kh", u, self.w1[...]) + self.b1[...])
        return jnp.einsum("...kh,khp->...kp", h, self.w2[...]) + self.b2[...]

    def zero_output(self) -> None:
        """Zero the output layer, so the network adds nothing to ``emission_bias``."""
        self.w2[...] = jnp.zeros_like(self.w2[...])
        self.b2[...] = jnp.zeros_like(self.b2[...])
