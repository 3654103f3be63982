"""The hidden Markov model: static tables that make potentials for the shared kernels.

    p(x_{1:T}, z_{1:T}) = pi(z_1) prod_{t>1} A(z_{t-1}, z_t) prod_t p(x_t | z_t)

``pi = softmax(initial_logits)``, ``A = row-softmax(transition_logits)`` restricted to
``transition_mask`` (structural zeros stay zero through every kind of training: masked
entries are ``-inf`` before the softmax), and ``p(x | z)`` is any
:class:`~lsgm.distributions.Emission`. Everything the model knows about inference goes
through :meth:`HMM.potentials` and :mod:`lsgm.inference`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx

from lsgm.distributions import Emission
from lsgm.inference import Potentials, time_parallel
from lsgm.models.base import LengthsLike, SequenceModel, SequencesLike

Array = jax.Array


class TransitionMask(nnx.Variable):
    """``[K, K]`` bool: allowed transitions (not a trainable parameter)."""


def _check_probs(name: str, probs: np.ndarray, shape: tuple[int, ...]) -> None:
    if probs.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}; got {list(probs.shape)}.")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError(f"{name} must be finite and non-negative; got {probs}.")
    sums = probs.sum(-1)
    bad = np.flatnonzero(np.abs(np.atleast_1d(sums) - 1) > 1e-6)
    if bad.size:
        where = "" if probs.ndim == 1 else f" (row {bad[0]})"
        value = float(np.atleast_1d(sums)[bad[0]])
        raise ValueError(f"{name} must sum to 1{where}; it sums to {value:.6g}. Normalise it.")


def check_transition_mask(mask: npt.ArrayLike | None, K: int) -> np.ndarray:
    """A ``[K, K]`` bool mask (all True when ``mask`` is None); every row must allow a move."""
    mask = np.ones((K, K), bool) if mask is None else np.asarray(mask)
    if mask.shape != (K, K) or mask.dtype != bool:
        raise ValueError(
            f"transition_mask must be a [{K}, {K}] bool array; got {mask.dtype}{list(mask.shape)}."
        )
    empty = np.flatnonzero(~mask.any(1))
    if empty.size:
        raise ValueError(
            f"transition_mask row {empty[0]} allows no transition; allow at least one."
        )
    return mask


def _log64(p: npt.ArrayLike) -> np.ndarray:
    """The exact ``log p`` in float64 (``log 0 = -inf``, no warning), rounded once to the
    parameters' dtype by the caller (as :func:`lsgm.distributions._common.exact_log`, but
    on the host at full precision)."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(p, np.float64))


class HMM(SequenceModel):
    """A discrete-state HMM with any emission family.

    Args:
        num_states: ``K``.
        emission: an :class:`~lsgm.distributions.Emission` with ``num_states == K``.
        rngs: random initialisation of the initial and transition logits (None: zeros, i.e.
            uniform probabilities, with nothing compiled; what the ``from_*`` constructors use).
        transition_mask: optional ``[K, K]`` bool; ``False`` entries are structural zeros
            (e.g. left-to-right or gene-structure grammars). Each row needs a ``True``.

    Example:
        >>> import lsgm
        >>> from flax import nnx
        >>> hmm = lsgm.HMM(2, lsgm.distributions.Categorical(2, 4, rngs=nnx.Rngs(0)),
        ...                rngs=nnx.Rngs(1))
        >>> hmm.transition_probs().shape
        (2, 2)
    """

    #: Parameter names of each part, used by the fitters' ``freeze`` argument.
    PARAM_GROUPS = {
        "initial": ("initial_logits",),
        "transition": ("transition_logits",),
        "emission": ("emission",),
    }

    def __init__(
        self,
        num_states: int,
        emission: Emission,
        *,
        rngs: nnx.Rngs | None,
        transition_mask: npt.ArrayLike | None = None,
    ) -> None:
        if int(num_states) < 1:
            raise ValueError(f"num_states must be >= 1; got {num_states}.")
        K = int(num_states)
        if emission.num_states != K:
            raise ValueError(
                f"the emission has {emission.num_states} states but the HMM has {K}; "
                "build both with the same num_states."
            )
        mask = check_transition_mask(transition_mask, K)
        self.num_states = K
        self.emission = emission
        if rngs is None:  # placeholders the from_* constructors overwrite: nothing compiled
            self.initial_logits = nnx.Param(jnp.asarray(np.zeros(K)))
            self.transition_logits = nnx.Param(jnp.asarray(np.zeros((K, K))))
        else:
            key_init, key_trans = jax.random.split(rngs.params())
            self.initial_logits = nnx.Param(0.1 * jax.random.normal(key_init, (K,)))
            self.transition_logits = nnx.Param(0.1 * jax.random.normal(key_trans, (K, K)))
        self.transition_mask = TransitionMask(jnp.asarray(mask))

    @classmethod
    def from_probs(
        cls,
        initial: npt.ArrayLike,
        transition: npt.ArrayLike,
        emission: Emission,
        transition_mask: npt.ArrayLike | None = None,
    ) -> HMM:
        """An HMM with the given ``initial [K]`` and ``transition [K, K]`` probabilities.

        Zero probabilities become ``-inf`` logits, i.e. structural zeros.

        Example: a fair and a loaded coin (symbol 0 is heads).

        >>> import numpy as np
        >>> import lsgm
        >>> from lsgm.distributions import Categorical
        >>> coins = Categorical.from_probs([[0.5, 0.5], [0.9, 0.1]])
        >>> model = lsgm.HMM.from_probs([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], coins)
        >>> x = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1])
        >>> model.predict([x])[0].tolist()  # the most probable coin at each toss
        [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
        >>> round(model.score([x]), 4)
        -5.7177
        """
        initial, transition = np.asarray(initial), np.asarray(transition)
        K = initial.shape[0] if initial.ndim == 1 else -1
        _check_probs("initial", initial, (K,))
        _check_probs("transition", transition, (K, K))
        model = cls(K, emission, rngs=None, transition_mask=transition_mask)
        model.initial_logits[...] = jnp.asarray(_log64(initial), model.initial_logits.dtype)
        model.transition_logits[...] = jnp.asarray(
            _log64(transition), model.transition_logits.dtype
        )
        return model

    # ----------------------------------------------------------------- parameters
    def log_initial(self) -> Array:
        """``[K]`` ``log pi``."""
        return jax.nn.log_softmax(self.initial_logits[...])

    def log_transition(self) -> Array:
        """``[K, K]`` ``log A`` with structural zeros at ``-inf``."""
        logits = jnp.where(self.transition_mask[...], self.transition_logits[...], -jnp.inf)
        return jax.nn.log_softmax(logits, axis=1)

    def initial_probs(self) -> Array:
        """``[K]`` initial state distribution."""
        return jnp.exp(self.log_initial())

    def transition_probs(self) -> Array:
        """``[K, K]`` transition matrix (rows = from-state)."""
        return jnp.exp(self.log_transition())

    def n_parameters(self) -> int:
        """Free scalar parameters: ``K-1`` initial, ``sum_i (allowed_i - 1)`` transition, plus
        the emission's (the LSGM paper §3.1 count; a 52-state scalar Gaussian HMM has 2,807)."""
        allowed = np.asarray(self.transition_mask[...]).sum(1)
        return int(self.num_states - 1 + (allowed - 1).sum() + self.emission.n_parameters())

    # ------------------------------------------------------------ one sequence
    supports_chunked = True  # stationary tables, emissions of x_t alone

    def potentials(self, x: Array) -> Potentials:
        """Potentials of one sequence ``x [T, ...]``."""
        return Potentials(self.log_initial(), self.log_transition(), self.emission.log_prob(x))

    def sample(self, num_steps: int, key: Array) -> tuple[Array, Array]:
        """Ancestral sampling: ``(states [T], observations [T, ...])``."""
        if int(num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1; got {num_steps}.")
        key_states, key_obs = jax.random.split(key)
        states = sample_states(
            self.log_initial(), self.log_transition(), key_states, int(num_steps)
        )
        return states, self.emission.sample(key_obs, states)

    def blocked_codes(self, data: Array) -> time_parallel.BlockedCodes | None:
        """``data [N, T, ...]`` as the pattern codes of its steps, cut into this model's
        chunks (:meth:`chunk_layout`, one device): what the time-parallel E-step on pattern
        codes reads (:meth:`pattern_counts`), looking the ``[V, K]`` emission table up inside
        its scans with no ``[T, K]`` array. None when the emission has no
        :meth:`~lsgm.distributions.base.Emission.pattern_codes` (too many patterns) or a
        subclass changes :meth:`potentials`."""
        if type(self).potentials is not HMM.potentials:
            return None
        coded = self.emission.pattern_codes(data)
        if coded is None:
            return None
        N, T = data.shape[:2]
        L, C = self.chunk_layout(N, T)
        return time_parallel.BlockedCodes(time_parallel.block(coded[0], L, C), coded[1], T)

    def pattern_counts(
        self,
        coded: time_parallel.BlockedCodes,
        lengths: Array,
        weights: Array | None = None,
        *,
        guess: time_parallel.Messages | None = None,
        decode: bool = False,
    ) -> time_parallel.BatchCounts:
        """The E-step of :meth:`blocked_codes` under this model's parameters
        (:func:`lsgm.inference.time_parallel.blocked_pattern_counts`)."""
        return time_parallel.blocked_pattern_counts(
            self.log_initial(),
            self.log_transition(),
            self.emission.log_prob(coded.patterns),
            coded.codes,
            lengths,
            coded.num_steps,
            weights,
            guess=guess,
            decode=decode,
        )

    def posterior_decode(
        self, xs: SequencesLike, lengths: LengthsLike | None = None, *, method: str = "auto"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Posterior decoding (hmmlearn's ``algorithm="map"``; ChromHMM's segmentation): per
        sequence ``(states [T_i], probs [T_i])``, ``states_t = argmax_k p(z_t = k | x)`` (the
        first on ties) and ``probs_t`` that posterior.

        For a few long sequences whose emission has
        :meth:`~lsgm.distributions.base.Emission.pattern_codes` (symbols, binary marks) the
        time-parallel E-step writes these two numbers per step while it counts
        (:func:`lsgm.inference.time_parallel.blocked_pattern_counts` with ``decode``):
        no ``[T, K]`` array (on ChromHMM's sample, 2 x 672,261 bins, K = 15, once compiled:
        0.25 s instead of 0.69 s for :meth:`predict_proba` and the argmax; peak memory
        halved). Otherwise the argmax and max of
        :meth:`predict_proba`.

        Raises:
            ValueError: a sequence is impossible under the model, as :meth:`predict_proba`.
        """
        batch = self.batch(xs, lengths)
        method = self.inference_method(method, batch.num_sequences, batch.max_length)
        if method == "chunked":
            graphdef, state = nnx.split(self)
            data, n = jnp.asarray(batch.data), jnp.asarray(batch.lengths, jnp.int32)
            cpu = jax.default_backend() == "cpu"
            out = (_posterior_decode_cpu if cpu else _posterior_decode)(graphdef, state, data, n)
            if out is not None:
                states, probs = (np.asarray(jax.device_get(x)) for x in out)
                self._raise_if_impossible(batch, states[:, 0] < 0)
                return [(states[i, :m], probs[i, :m]) for i, m in enumerate(batch.lengths)]
        posteriors = self.predict_proba(batch.data, batch.lengths, method=method)
        rows = [np.asarray(p)[:m] for p, m in zip(posteriors, batch.lengths, strict=True)]
        return [(np.argmax(p, axis=1), np.max(p, axis=1)) for p in rows]


def _decode_impl(graphdef, state, data: Array, lengths: Array):
    """``(states [N, T], probs [N, T])`` by the pattern-code E-step, or None when the model
    has no pattern codes (:meth:`HMM.blocked_codes`)."""
    model = nnx.merge(graphdef, state)
    coded = model.blocked_codes(data)
    if coded is None:
        return None
    counts = model.pattern_counts(coded, lengths, decode=True)
    assert counts.decoded is not None
    N, T = data.shape[:2]
    return tuple(time_parallel.unblock(x, N, T) for x in counts.decoded)


#: :func:`_decode_impl`, compiled. On XLA:CPU with its fusion emitters off: a decoding is
#: usually run once per fit, and that halves most of its cost, the compile (ChromHMM's
#: sample: 3.1 s -> 2.1 s for the first call, while a call once compiled takes 0.25 s
#: instead of 0.21 s; the EM step keeps the emitters: it runs hundreds of times).
_posterior_decode = jax.jit(_decode_impl, static_argnums=0)
_posterior_decode_cpu = jax.jit(
    _decode_impl, static_argnums=0, compiler_options={"xla_cpu_use_fusion_emitters": False}
)


@partial(jax.jit, static_argnums=(3,))
def sample_states(log_initial: Array, log_trans: Array, key: Array, num_steps: int) -> Array:
    """``[T]`` states of a Markov chain with ``log_trans [K, K]`` or ``[T-1, K, K]``."""
    keys = jax.random.split(key, num_steps)
    first = jax.random.categorical(keys[0], log_initial).astype(jnp.int32)

    def step(z, inputs):
        step_key, table = inputs
        z_next = jax.random.categorical(step_key, table[z]).astype(jnp.int32)
        return z_next, z_next

    tables = (
        log_trans
        if log_trans.ndim == 3
        else jnp.broadcast_to(log_trans, (num_steps - 1, *log_trans.shape))
    )
    _, rest = jax.lax.scan(step, first, (keys[1:], tables))
    return jnp.concatenate([first[None], rest])
