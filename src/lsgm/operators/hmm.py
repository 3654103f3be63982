"""A DiffBio-compatible differentiable HMM operator on top of the exact kernels.

Drop-in replacement for ``diffbio.operators.statistical.DifferentiableHMM``: same
``HMMConfig`` fields, same ``apply(data, state, metadata) -> (result, state, metadata)``
contract, same ``forward_soft``, same parameter names. The operator is an adapter, not a second
HMM: its three DiffBio parameters define an :class:`lsgm.HMM` with
:class:`~lsgm.distributions.Categorical` emissions (:meth:`DifferentiableHMM.as_hmm`), whose
potentials go to the shared kernels of :mod:`lsgm.inference` (``log_partition``, ``posteriors``
and ``viterbi``).

Model (``K = num_states``, ``M = num_emissions``, ``tau = temperature``)::

    pi   = softmax(log_initial_params / tau)            [K]     p(z_1 = k)
    A    = softmax(log_transition_params / tau, axis=1) [K, K]  A[i, j] = p(z_{t+1} = j | z_t = i)
    B    = softmax(log_emission_params / tau, axis=1)   [K, M]  B[k, m] = p(x_t = m | z_t = k)

    log p(x_{1:T}) = log sum_z pi[z_1] B[z_1, x_1] prod_{t=2..T} A[z_{t-1}, z_t] B[z_t, x_t]

with ``T`` replaced by the valid length of a padded sequence; ``state_posteriors[t, k] =
p(z_t = k | x)`` (forward-backward) and ``viterbi_path = argmax_z p(z, x)``.

Differences from DiffBio (see ``docs/operators.md``): ``learnable_*=False`` really freezes the
parameters (they are stored as :class:`FrozenParam`, which is not an ``nnx.Param``);
out-of-range symbols raise instead of being silently clamped; ``forward_soft`` scores
``log sum_m B[k, m] o_t[m]`` exactly (no ``+1e-10`` inside the log); batches, padding masks
and a Viterbi path are supported; extra keys of ``data`` are passed through.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lsgm.distributions import Categorical
from lsgm.inference import Potentials, concrete_or_none, log_partition, posteriors, viterbi
from lsgm.models import HMM

Array = jax.Array

#: Standard deviation of the normal logits at initialisation (as in DiffBio: the initial
#: probabilities are close to uniform).
INIT_SCALE = 0.1


class FrozenParam(nnx.Variable):
    """A model parameter that is *not* trained.

    Not a subclass of :class:`flax.nnx.Param`, so ``nnx.grad`` / ``nnx.value_and_grad`` (which
    differentiate ``nnx.Param`` by default) and ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` never
    see or update it. Select it with ``nnx.state(model, FrozenParam)``.
    """


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


@dataclasses.dataclass(frozen=True)
class HMMConfig:
    """Configuration of :class:`DifferentiableHMM` (the fields and defaults of DiffBio's).

    Attributes:
        num_states: ``K``, number of hidden states (positive int).
        num_emissions: ``M``, number of observation symbols ``0 .. M-1`` (positive int).
        temperature: ``tau > 0``; probabilities are ``softmax(logits / tau)``.
        learnable_transitions: when False, the transition logits are a :class:`FrozenParam`.
        learnable_emissions: when False, the emission logits are a :class:`FrozenParam`.

    Raises:
        ValueError: for a non-positive or non-integer size, a non-positive or non-finite
            temperature, or a non-bool ``learnable_*`` flag.
    """

    num_states: int = 3
    num_emissions: int = 4
    temperature: float = 1.0
    learnable_transitions: bool = True
    learnable_emissions: bool = True

    def __post_init__(self):
        for name in ("num_states", "num_emissions"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"HMMConfig.{name} must be a positive integer; got {value!r}.")
            object.__setattr__(self, name, int(value))
        tau = self.temperature
        if (
            not isinstance(tau, numbers.Real)
            or isinstance(tau, bool | np.bool_)
            or not math.isfinite(tau)
            or tau <= 0
        ):
            raise ValueError(
                f"HMMConfig.temperature must be a finite number > 0; got {tau!r} "
                "(probabilities are softmax(logits / temperature))."
            )
        object.__setattr__(self, "temperature", float(tau))
        for name in ("learnable_transitions", "learnable_emissions"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"HMMConfig.{name} must be True or False; got {value!r}.")
            object.__setattr__(self, name, bool(value))


class DifferentiableHMM(nnx.Module):
    """Discrete-emission HMM whose likelihood, posteriors and Viterbi path are exact.

    Parameters (logits, ``N(0, INIT_SCALE^2)`` at initialisation, drawn from ``rngs.params()``)::

        log_initial_params     [K]     nnx.Param
        log_transition_params  [K, K]  nnx.Param, or FrozenParam if not learnable_transitions
        log_emission_params    [K, M]  nnx.Param, or FrozenParam if not learnable_emissions

    With the default config ``nnx.state(hmm)`` holds exactly these three ``nnx.Param``; the
    module stores no ``Rngs`` and no other variable.

    Args:
        config: an :class:`HMMConfig`.
        rngs: ``nnx.Rngs``; the ``params`` stream (or ``default``) seeds the logits.
        name: optional operator name (accepted for DiffBio compatibility).
    """

    def __init__(self, config: HMMConfig, *, rngs: nnx.Rngs, name: str | None = None):
        if not isinstance(config, HMMConfig):
            raise TypeError(f"config must be an HMMConfig; got {type(config).__name__}.")
        if not isinstance(rngs, nnx.Rngs):
            raise TypeError(f"rngs must be an nnx.Rngs (e.g. nnx.Rngs(0)); got {rngs!r}.")
        self.config = config
        self.name = name
        K, M = config.num_states, config.num_emissions
        trans_cls = nnx.Param if config.learnable_transitions else FrozenParam
        emit_cls = nnx.Param if config.learnable_emissions else FrozenParam
        self.log_transition_params = trans_cls(
            INIT_SCALE * jax.random.normal(rngs.params(), (K, K))
        )
        self.log_emission_params = emit_cls(INIT_SCALE * jax.random.normal(rngs.params(), (K, M)))
        self.log_initial_params = nnx.Param(INIT_SCALE * jax.random.normal(rngs.params(), (K,)))

    # ------------------------------------------------------------------ parameters

    @property
    def num_states(self) -> int:
        """``K``."""
        return self.config.num_states

    @property
    def num_emissions(self) -> int:
        """``M``."""
        return self.config.num_emissions

    @property
    def temperature(self) -> float:
        """``tau``."""
        return self.config.temperature

    def _logits(self) -> tuple[Array, Array, Array]:
        return (
            self.log_initial_params[...],
            self.log_transition_params[...],
            self.log_emission_params[...],
        )

    def as_hmm(self) -> HMM:
        """The :class:`lsgm.HMM` this operator is: initial and transition logits
        ``log_*_params / tau`` and :class:`~lsgm.distributions.Categorical` emissions with
        logits ``log_emission_params / tau``, so that ``pi``, ``A`` and ``B`` are the tables
        in the module docstring. A new module on every call, holding the current values
        (differentiable through them, also under ``jit``); edits to it do not flow back."""
        return _as_hmm(self._logits(), self.temperature)

    def get_log_initial_distribution(self) -> Array:
        """``[K]`` ``log pi = log_softmax(log_initial_params / tau)``."""
        return self.as_hmm().log_initial()

    def get_log_transition_matrix(self) -> Array:
        """``[K, K]`` ``log A = log_softmax(log_transition_params / tau, axis=1)`` (rows: from)."""
        return self.as_hmm().log_transition()

    def get_log_emission_matrix(self) -> Array:
        """``[K, M]`` ``log B = log_softmax(log_emission_params / tau, axis=1)``."""
        return _log_emission(self.as_hmm())

    @property
    def initial_probs(self) -> Array:
        """``[K]`` ``pi``."""
        return jnp.exp(self.get_log_initial_distribution())

    @property
    def transition_probs(self) -> Array:
        """``[K, K]`` ``A``; rows sum to 1."""
        return jnp.exp(self.get_log_transition_matrix())

    @property
    def emission_probs(self) -> Array:
        """``[K, M]`` ``B``; rows sum to 1."""
        return jnp.exp(self.get_log_emission_matrix())

    # ------------------------------------------------------------------ potentials

    def emission_log_likelihoods(self, observations) -> Array:
        """``[T, K]`` ``log B[k, x_t]`` for one integer sequence ``x`` of shape ``[T]`` (the
        HMM's :meth:`~lsgm.distributions.Categorical.log_prob`).

        Symbols outside ``[0, M)`` get NaN rows (invalid input, never a clamped symbol nor a
        silent probability 0); the public entry points reject them with a ``ValueError`` when
        the values are concrete, and ignore them on padded steps, so under ``jit`` an
        out-of-range symbol at a valid step makes the log-likelihood NaN.
        """
        return self.as_hmm().emission.log_prob(jnp.asarray(observations))

    def soft_emission_log_likelihoods(self, soft_obs) -> Array:
        """``[T, K]`` ``log sum_m B[k, m] o_t[m]`` for soft observations ``o`` of shape ``[T, M]``.

        Computed as ``c_k + log sum_m o_t[m] exp(log B[k, m] - c_k)`` with ``c_k = max_m log B[k, m]``
        (no epsilon inside the log): exact for one-hot rows, and its gradient with respect to
        ``o_t[m]`` is the true ``B[k, m] / sum_m' B[k, m'] o_t[m']``, also where ``o_t[m] = 0``.
        Rows whose weighted sum is 0 give ``-inf`` (with zero, not NaN, gradients); rows with
        a negative or non-finite entry are NaN (invalid input poisons the result under ``jit``).
        Unlike the HMM's soft categorical observations, the weights need not sum to 1
        (DiffBio's ``forward_soft``).
        """
        return _soft_log_emit(self.get_log_emission_matrix(), jnp.asarray(soft_obs))

    def potentials(self, observations) -> Potentials:
        """:class:`~lsgm.inference.Potentials` of one integer sequence ``[T]``: the HMM's
        (:meth:`as_hmm`) ``(log pi [K], log A [K, K], log B[:, x].T [T, K])``."""
        return self.as_hmm().potentials(jnp.asarray(observations))

    # ------------------------------------------------------------------ inference

    def forward(self, observations, length=None) -> Array:
        """``log p(x_{1:length})`` by the forward algorithm (``lsgm.inference.log_partition``).

        Args:
            observations: int ``[T]`` or ``[B, T]``.
            length: optional ``[]`` / ``[B]`` number of valid (leading) steps.

        Returns:
            ``[]`` or ``[B]``.
        """
        return self._infer(observations, length, checked=False, what="log_likelihood")

    def forward_backward(self, observations, length=None) -> Array:
        """``[T, K]`` (or ``[B, T, K]``) smoothed marginals ``p(z_t = k | x_{1:length})``; rows
        ``t >= length`` are 0."""
        return self._infer(observations, length, checked=False, what="all")["state_posteriors"]

    def viterbi(self, observations, length=None) -> Array:
        """``[T]`` (or ``[B, T]``) int32 ``argmax_z p(z, x)``; entries ``t >= length`` are -1, and
        every entry of a sequence with no path of non-zero probability (or NaN input) is -1."""
        return self._infer(observations, length, checked=False, what="all")["viterbi_path"]

    def apply(
        self,
        data: Mapping[str, Any],
        state: Any,
        metadata: Any,
        random_params: Any = None,
        stats: Any = None,
    ) -> tuple[dict[str, Any], Any, Any]:
        """Score observation sequences (DiffBio operator contract).

        Args:
            data: mapping with

                * ``"observations"``: int ``[T]`` (one sequence) or ``[B, T]`` (a batch), symbols
                  in ``[0, M)``;
                * optional ``"mask"``: bool ``[T]`` / ``[B, T]``, True on a non-empty valid
                  *prefix*; or ``"length"``: int ``[]`` / ``[B]`` with ``1 <= length <= T``.
                  Padded positions (any symbol, e.g. -1) change no result.

                Every other key is passed through unchanged.
            state: passed through unchanged.
            metadata: passed through unchanged.
            random_params, stats: unused (deterministic operator; DiffBio signature).

        Returns:
            ``(result, state, metadata)`` where ``result`` is ``data`` plus

            * ``"log_likelihood"``: ``[]`` / ``[B]`` ``log p(x_{1:length})``;
            * ``"state_posteriors"``: ``[T, K]`` / ``[B, T, K]`` ``p(z_t = k | x)``, 0 on padding;
            * ``"viterbi_path"``: int32 ``[T]`` / ``[B, T]`` most probable path, -1 on padding
                (all -1 for a sequence of probability 0, whose ``state_posteriors`` are NaN).

        Raises:
            KeyError: no ``"observations"``.
            ValueError: non-integer observations, a symbol outside ``[0, M)`` at a valid position
                (checked when the values are concrete; under ``jit`` such a symbol makes the
                outputs NaN: the log-likelihood, the posteriors, and an all ``-1`` path), or a
                malformed mask/length.
        """
        del random_params, stats
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping (dict); got {type(data).__name__}.")
        if "observations" not in data:
            raise KeyError(f"data has no 'observations' key (keys: {sorted(data)}).")
        observations = self._as_observations(data["observations"])
        length = _lengths(data.get("mask"), data.get("length"), observations.shape)
        result = dict(data)
        result.update(self._infer(observations, length, checked=True, what="all"))
        return result, state, metadata

    def forward_soft(self, soft_obs, length=None) -> Array:
        """Log-likelihood of soft observations (DiffBio's ``forward_soft``).

        ``o_t [M]`` is a non-negative weight (typically a probability) per symbol and the
        emission term is ``log sum_m B[k, m] o_t[m]`` (see :meth:`soft_emission_log_likelihoods`);
        with one-hot rows this equals the hard log-likelihood. Differentiable in the parameters
        and in ``soft_obs``.

        Args:
            soft_obs: ``[T, M]`` or ``[B, T, M]``.
            length: optional ``[]`` / ``[B]`` number of valid steps.

        Returns:
            ``[]`` or ``[B]``.

        Raises:
            ValueError: wrong trailing dimension, or (when concrete) negative or non-finite
                entries.
        """
        o = jnp.asarray(soft_obs)
        if o.ndim not in (2, 3) or o.shape[-1] != self.num_emissions:
            raise ValueError(
                f"soft_obs must be [T, M] or [B, T, M] with M=num_emissions={self.num_emissions}; "
                f"got shape {o.shape}."
            )
        if not jnp.issubdtype(o.dtype, jnp.floating):
            o = o.astype(jnp.result_type(float))
        value = concrete_or_none(o)
        if value is not None:
            bad = ~np.isfinite(value) | (value < 0)
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"soft_obs must be finite and >= 0; got {value[where]} at index {where}."
                )
        length = _lengths(None, length, o.shape[:-1])
        return _score_soft(self._logits(), o, length, self.temperature)

    def _infer(self, observations, length, checked: bool, what: str):
        """Checks, then the kernels per sequence (``vmap`` over a batch).

        ``checked``: ``length`` already comes from :func:`_lengths`. ``what``:
        ``"log_likelihood"`` (``log_partition`` alone) or ``"all"`` (the dict of three outputs)."""
        x = self._as_observations(observations)
        if not checked:
            length = _lengths(None, length, x.shape)
        self._check_symbols(x, length)
        return _score(self._logits(), x, length, self.temperature, what)

    def _as_observations(self, observations) -> Array:
        """``observations`` as an integer ``[T]`` / ``[B, T]`` array, or a ValueError."""
        x = jnp.asarray(observations)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"observations must be [T] or [B, T] integer symbols; got shape {x.shape}."
            )
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(
                f"observations must be integers in [0, {self.num_emissions}); got dtype {x.dtype}."
            )
        if x.shape[-1] < 1:
            raise ValueError(f"observations are empty (shape {x.shape}).")
        return x

    def _check_symbols(self, x: Array, length) -> None:
        """ValueError naming the first out-of-range symbol at a valid position (if concrete)."""
        value = concrete_or_none(x)
        if value is None:
            return
        valid = np.ones(value.shape, bool)
        if length is not None:
            n = concrete_or_none(length)
            if n is None:  # traced lengths: the valid positions are unknown here
                return
            valid = np.arange(value.shape[-1]) < np.asarray(n)[..., None]
        bad = valid & ((value < 0) | (value >= self.num_emissions))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"observation symbol {int(value[where])} at index {where} is out of range: "
                f"symbols must be integers in [0, num_emissions={self.num_emissions}) "
                "(DiffBio silently clamps them; lsgm refuses). Mark padding with 'mask' or "
                "'length'."
            )


# ---------------------------------------------------------------------- pure functions
# One jitted program per call configuration (instead of many small eager ops): cheaper to
# compile and to run eagerly; under an outer jit/grad/vmap they are simply inlined.


def _as_hmm(logits: tuple[Array, Array, Array], temperature: float) -> HMM:
    """An :class:`lsgm.HMM` with logits ``logits / tau`` (the HMM's softmaxes then give the
    operator's ``pi``, ``A`` and ``B``)."""
    init, trans, emit = (v / temperature for v in logits)
    K, M = emit.shape
    hmm = HMM(K, Categorical(K, M, rngs=None), rngs=nnx.Rngs(0))
    hmm.initial_logits[...] = init
    hmm.transition_logits[...] = trans
    hmm.emission.logits[...] = emit
    return hmm


def _log_emission(hmm: HMM) -> Array:
    """``[K, M]`` ``log B`` of an HMM with :class:`~lsgm.distributions.Categorical` emissions."""
    return jax.nn.log_softmax(hmm.emission.logits[...], axis=-1)


def _soft_log_emit(log_b: Array, o: Array) -> Array:
    """``[T, K]`` ``log sum_m B[k, m] o_t[m]`` from ``log B [K, M]`` and ``o [T, M]``."""
    shift = jax.lax.stop_gradient(jnp.max(log_b, axis=1))  # [K]
    weighted = o @ jnp.exp(log_b - shift[:, None]).T  # [T, K]
    positive = weighted > 0
    log_w = jnp.where(positive, jnp.log(jnp.where(positive, weighted, 1.0)), -jnp.inf)
    valid = jnp.all(jnp.isfinite(o) & (o >= 0), axis=-1)
    return jnp.where(valid[:, None], log_w + shift[None, :], jnp.nan)


def _per_sequence(one, xs: Array, length, seq_ndim: int):
    """``one(x, n)`` on one sequence, or ``vmap``-ed over a leading batch axis."""
    if xs.ndim == seq_ndim:
        return one(xs, length)
    return jax.vmap(one, in_axes=(0, None if length is None else 0))(xs, length)


@partial(jax.jit, static_argnames="what")
def _score(logits, x: Array, length, temperature, what: str):
    """Kernels on integer observations ``x [T]`` / ``[B, T]``: ``what="log_likelihood"`` gives
    ``log_partition`` alone, ``what="all"`` the dict of ``apply``'s three outputs."""
    hmm = _as_hmm(logits, temperature)

    def one(x_seq, n):
        if n is not None:  # padded steps may hold any symbol: read them as 0 (ignored)
            x_seq = jnp.where(jnp.arange(x_seq.shape[0]) < n, x_seq, 0)
        p = hmm.potentials(x_seq)
        if what == "log_likelihood":
            return log_partition(p, length=n)
        post = posteriors(p, length=n)
        return {
            "log_likelihood": post.log_z,
            "state_posteriors": post.states,
            # the Viterbi path is piecewise constant in the parameters: nothing to trace
            "viterbi_path": viterbi(jax.lax.stop_gradient(p), length=n)[0],
        }

    return _per_sequence(one, x, length, 1)


@jax.jit
def _score_soft(logits, o: Array, length, temperature) -> Array:
    """``log p(o)`` for soft observations ``o [T, M]`` / ``[B, T, M]``."""
    hmm = _as_hmm(logits, temperature)
    log_init, log_trans, log_b = hmm.log_initial(), hmm.log_transition(), _log_emission(hmm)

    def one(o_seq, n):
        return log_partition(Potentials(log_init, log_trans, _soft_log_emit(log_b, o_seq)), n)

    return _per_sequence(one, o, length, 2)


def _lengths(mask, length, shape: tuple[int, ...]):
    """``None`` or the int32 ``[]`` / ``[B]`` valid lengths of sequences of ``shape`` ``[T]`` /
    ``[B, T]`` from a prefix ``mask`` and/or ``length`` (validated when concrete)."""
    T = shape[-1]
    batch = shape[:-1]
    from_mask = None
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.shape != tuple(shape):
            raise ValueError(f"mask must have the observations' shape {shape}; got {mask.shape}.")
        if not (mask.dtype == jnp.bool_ or jnp.issubdtype(mask.dtype, jnp.integer)):
            raise ValueError(f"mask must be boolean (True = valid); got dtype {mask.dtype}.")
        mask = mask.astype(bool)
        from_mask = mask.sum(axis=-1).astype(jnp.int32)
        m = concrete_or_none(mask)
        if m is not None:
            n = m.sum(axis=-1)
            prefix = np.arange(T) < n[..., None]
            if not np.array_equal(m, prefix):
                raise ValueError(
                    "mask must be True on a prefix of each sequence (valid steps first, then "
                    f"padding); got {m.astype(int).tolist()}."
                )
            if (n < 1).any():
                raise ValueError("mask marks an empty sequence (no True entry).")
    if length is None:
        return from_mask
    length = jnp.asarray(length)
    if not jnp.issubdtype(length.dtype, jnp.integer):
        raise ValueError(f"length must be an integer; got dtype {length.dtype}.")
    if length.shape != batch:
        if length.ndim != 0:
            raise ValueError(f"length must have shape {batch} or be a scalar; got {length.shape}.")
        length = jnp.broadcast_to(length, batch)
    length = length.astype(jnp.int32)
    n = concrete_or_none(length)
    if n is not None and ((n < 1) | (n > T)).any():
        raise ValueError(f"length {n.tolist()} is outside [1, T={T}].")
    if from_mask is not None:
        a, b = concrete_or_none(from_mask), n
        if a is not None and b is not None and not np.array_equal(a, b):
            raise ValueError(f"mask (lengths {a.tolist()}) and length {b.tolist()} disagree.")
    return length
