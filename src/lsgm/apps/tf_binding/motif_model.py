"""Motif-state HMM / half-LSGM for PBM intensities, scored by a likelihood ratio (paper §2.5).

**States.** One background state ``b`` plus ``M`` motifs of widths ``W_m``. Motif ``m`` is a chain
of ``W_m`` single-symbol states ``(m, 0..W_m-1)`` (``DESIGN.md`` §3, "motif states as chains");
``both_strands=True`` adds a second chain per motif that reads the reverse complement with the
same parameters. ``K = 1 + S·sum_m W_m`` with ``S`` = 1 or 2 strands. Symbols are ``ACGT`` =
``0..3`` (the complement of ``s`` is ``3 - s``).

**Emissions** (static, "half" LSGM): ``b`` emits from a categorical ``bg`` (learned, or fixed
uniform); chain state ``(m, j)`` emits ``PWM_m[j, x_t]`` with ``PWM_m = softmax(pwm_logits_m)``
row-wise; reverse-strand state ``(m, j)`` emits ``PWM_m[W_m-1-j, 3-x_t]``. With both strands the
learned background is strand-symmetric (``bg_A = bg_T``, ``bg_C = bg_G``), so that scores of a
probe and of its reverse complement agree.

**Transitions.** Inside a chain ``(m, j) → (m, j+1)`` with probability 1. From a *free* state
(``b`` or any chain end) the next state is drawn from a destination distribution over
``D = {b, motif 1..M}``: ``π_t = softmax(logits_t) [1+M]``; motif ``m``'s mass is split in half
between its forward and reverse chain starts when ``both_strands``. ``z_1 ~ π_0``. Zeroth order
(``order=0``): the same ``π_t`` for every source; ``order=1``: one row per source (``b`` or the
end of motif ``m``, either strand) and ``z_1`` uses the row of source ``b``. Paths may not end
inside a chain: the last position's emission of every non-end chain state is ``-inf``.

* ``transitions="static"`` (the HMM baseline): ``logits_t = a``, a free parameter.
* ``transitions="rnn"`` (the paper's half LSGM): ``logits_t = a + W·h_t + c`` with ``h_t`` the
  top layer of a GRU/LSTM stack (:class:`~lsgm.models.rnn.RecurrentStack`) over the one-hot
  probe after reading ``x_1..x_t`` (``h_0 = Q_0``). ``z_{t+1}`` uses ``h_t``. The head starts
  at zero, so a fresh RNN model equals the static model with the same ``a``
  (:meth:`MotifModel.from_static`).

The ``[K, K]`` (or ``[T-1, K, K]``) transition tables are built from the ``[1+M]`` (or
``[1+M, 1+M]``) destination log-probabilities by a fixed gather (index arrays computed once
from the layout) and handed with ``log_init`` and ``log_emit`` to the shared kernels
(``method="scaled"`` or ``"log"``). The default ``method="chain"`` computes the same
``log P(X | Θ)`` by a forward recursion that uses the chain structure, ``O(K)`` instead of
``O(K²)`` per step (tested equal to the kernels and to brute-force enumeration).

**Score** (paper Eq. 12): ``s(X) = log P(X | Θ) − log P(X | Θ′)``, ``Θ′`` = paths through ``b``
only, computed by :func:`lsgm.inference.log_partition` with ``allowed`` = ``{b}``: the same
potentials restricted to the all-background path, *not renormalised* (the all-background path
keeps its probability ``π_0(b)·∏ π_t(b)·∏ bg(x_t)`` under ``Θ``). Hence ``s ≥ 0`` and
``exp(s) = 1 + sum over segmentations with ≥ 1 motif occurrence of their likelihood ratio``.

**Readout** (paper Eq. 13): ``intensity = w·σ(η·s + c) + b0`` with ``σ`` one of
:data:`READOUTS` (``"identity"`` has no ``c``); :meth:`MotifModel.init_readout` sets
``η, c, w, b0`` from data so gradients flow from the first step.

**Initialisation.** Random near-uniform PWMs train poorly; :func:`seed_from_kmers` builds PWMs
from the k-mers most enriched among the highest-intensity probes (0.7 on the k-mer's letter,
0.1 elsewhere, centred in the motif width), and ``init_pwms`` accepts them (or JASPAR PWMs).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lsgm import inference
from lsgm.data import dna
from lsgm.inference import Potentials
from lsgm.models import CELLS, RecurrentStack

Array = jax.Array
TRANSITIONS = ("static", "rnn")
BACKGROUNDS = ("learned", "uniform")
READOUTS = ("sigmoid", "identity", "softplus", "tanh")
#: ``log P(x | Θ)`` by the shared kernels (``"scaled"``, ``"log"``) or the chain recursion.
METHODS = ("scaled", "log", "chain")
#: Pseudocount mixed into ``init_pwms`` before taking logs: ``p' = (p + ε) / (1 + 4ε)``.
PWM_PSEUDOCOUNT = 1e-3


@dataclasses.dataclass(frozen=True)
class ChainLayout:
    """Static state layout (hashable): state 0 is ``b``; per motif, the forward chain then the
    reverse chain. All arrays are ``[K]`` tuples.

    Attributes:
        widths: ``W_m`` per motif.
        motif: motif index of each state (-1 for ``b``).
        strand: 0 forward, 1 reverse (0 for ``b``).
        position: position ``j`` within the chain (0 for ``b``).
    """

    widths: tuple[int, ...]
    both_strands: bool
    motif: tuple[int, ...]
    strand: tuple[int, ...]
    position: tuple[int, ...]

    @classmethod
    def build(cls, widths: Sequence[int], both_strands: bool) -> ChainLayout:
        motif, strand, position = [-1], [0], [0]
        for m, w in enumerate(widths):
            for s in range(2 if both_strands else 1):
                motif += [m] * w
                strand += [s] * w
                position += list(range(w))
        return cls(tuple(widths), bool(both_strands), tuple(motif), tuple(strand), tuple(position))

    @property
    def num_states(self) -> int:
        return len(self.motif)

    @property
    def num_motifs(self) -> int:
        return len(self.widths)

    def arrays(self) -> dict[str, np.ndarray]:
        """Index arrays for the gathers (numpy constants at trace time)."""
        M = self.num_motifs
        motif, position = np.asarray(self.motif), np.asarray(self.position)
        chain = motif >= 0
        width = np.where(chain, np.asarray(self.widths + (1,))[motif], 1)
        start = chain & (position == 0)
        end = chain & (position == width - 1)
        free = ~chain | end
        dest = start.copy()
        dest[0] = True
        # destination / source slots in the [1+M] logits (M+1 = unused)
        dest_slot = np.where(start, motif + 1, M + 1)
        dest_slot[0] = 0
        dest_shift = np.where(start & self.both_strands, -math.log(2.0), 0.0)
        src_slot = np.where(end, motif + 1, 0)
        K = self.num_states
        interior = np.zeros((K, K), bool)  # (m, j) -> (m, j+1) inside a chain
        idx = np.flatnonzero(chain & ~end)
        interior[idx, idx + 1] = True
        return {
            "start": start,
            "end": end,
            "free": free,
            "dest": dest,
            "dest_slot": dest_slot,
            "dest_shift": dest_shift,
            "src_slot": src_slot,
            "interior": interior,
            "non_end_chain": chain & ~end,
        }


def _as_widths(num_motifs: int, motif_width) -> tuple[int, ...]:
    if isinstance(motif_width, (int, np.integer)):
        widths = (int(motif_width),) * num_motifs
    else:
        widths = tuple(int(w) for w in motif_width)
        if len(widths) != num_motifs:
            raise ValueError(
                f"motif_width lists {len(widths)} widths for num_motifs={num_motifs}; "
                "give one width per motif or a single int."
            )
    if any(w < 1 for w in widths):
        raise ValueError(f"every motif width must be >= 1; got {widths}.")
    return widths


def _check_pwm(pwm, m: int, width: int) -> np.ndarray:
    pwm = np.asarray(pwm, np.float64)
    if pwm.shape != (width, 4):
        raise ValueError(
            f"init_pwms[{m}] has shape {pwm.shape}; motif {m} needs [{width}, 4] (ACGT columns)."
        )
    if not np.all(np.isfinite(pwm)) or (pwm < 0).any():
        raise ValueError(f"init_pwms[{m}] has negative or non-finite entries.")
    sums = pwm.sum(1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(
            f"init_pwms[{m}] row {bad} sums to {sums[bad]:.4g}, not 1: pass probabilities "
            "(normalise counts first)."
        )
    return pwm


def pwm_logits(pwm: np.ndarray, pseudocount: float = PWM_PSEUDOCOUNT) -> np.ndarray:
    """``log((p + ε) / (1 + 4ε))``: logits of a probability PWM ``[W, 4]`` with zeros allowed."""
    return np.log((np.asarray(pwm, np.float64) + pseudocount) / (1.0 + 4.0 * pseudocount))


def check_probes(x, where: str = "x") -> np.ndarray:
    """``x`` as an int array of symbols ``0..3``; ``ValueError`` naming the first bad entry."""
    arr = np.asarray(x)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{where} must hold integer symbols 0..3 (ACGT); got dtype {arr.dtype}.")
    bad = np.argwhere((arr < 0) | (arr > 3))
    if len(bad):
        pos = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{where}{list(pos)} = {int(arr[pos])} is not a DNA symbol 0..3 (ACGT); "
            "encode probes with lsgm.data (ambiguous bases are not supported by motif models)."
        )
    return arr


def _float_dtype():
    """The default float dtype (float64 under ``jax_enable_x64``, else float32)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _concrete(args) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(args))


def _dispatch(ndim: int):
    """Decorate a method whose first argument is probes ``x`` with ``ndim`` axes: concrete calls
    are validated (:func:`check_probes`) and run under one ``jax.jit`` cached per model structure,
    argument shapes and method; calls with traced arguments (inside a caller's ``jit``,
    ``grad`` or ``vmap``) run the method directly."""

    def wrap(impl):
        @functools.wraps(impl)
        def method(self, x, *args, **kwargs):
            if not _concrete((x, args, kwargs)) or not _concrete(nnx.state(self)):
                return impl(self, x, *args, **kwargs)
            arr = check_probes(x)
            if arr.ndim != ndim:
                shape = "[L] (one probe)" if ndim == 1 else "[B, L] (a batch of probes)"
                raise ValueError(f"{impl.__name__}: x must be {shape}; got shape {arr.shape}.")
            graphdef, state = nnx.split(self)
            return _run(graphdef, state, impl.__name__, jnp.asarray(arr, jnp.int32), args, kwargs)

        return method

    return wrap


@functools.partial(jax.jit, static_argnums=(0, 2))
def _run(graphdef, state, name: str, x: Array, args: tuple, kwargs: dict):
    model = nnx.merge(graphdef, state)
    return getattr(type(model), name).__wrapped__(model, x, *args, **kwargs)


class MotifModel(nnx.Module):
    """Motif-state model with likelihood-ratio scores and the Eq. 13 intensity readout.

    Args:
        num_motifs: ``M >= 1``.
        motif_width: one width for all motifs or a list of ``M`` widths.
        transitions: ``"static"`` (HMM baseline) or ``"rnn"`` (half LSGM).
        rnn, hidden_size, num_layers: the recurrent stack of ``transitions="rnn"``.
        order: 0 (one destination distribution per step) or 1 (one per source).
        both_strands: add reverse-complement chains (tied parameters).
        background: ``"learned"`` categorical or fixed ``"uniform"``.
        readout: ``σ`` of Eq. 13, one of :data:`READOUTS`.
        init_pwms: ``M`` probability PWMs ``[W_m, 4]`` (else random near-uniform).
        method: how ``log P(x | Θ)`` is computed: ``"chain"`` (default; :meth:`_chain_log_z`,
            ``O(K)`` per step) or the shared kernels ``"scaled"`` / ``"log"`` on
            :meth:`potentials` (dense ``O(K^2)``; same numbers, tested). Posteriors and masked
            likelihoods always use the kernels (``"scaled"`` for ``"chain"``).
        background_path: how :meth:`score` gets ``log P(x | Θ′)``: ``"closed_form"`` (the one
            all-background path, default) or ``"kernel"`` (the masked kernel); equal values.
        rngs: parameter initialisation.
    """

    def __init__(
        self,
        num_motifs: int = 1,
        motif_width: int | Sequence[int] = 10,
        *,
        transitions: str = "static",
        rnn: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 2,
        order: int = 0,
        both_strands: bool = True,
        background: str = "learned",
        readout: str = "sigmoid",
        init_pwms: Sequence[np.ndarray] | None = None,
        method: str = "chain",
        background_path: str = "closed_form",
        rngs: nnx.Rngs,
    ):
        M = int(num_motifs)
        if M < 1:
            raise ValueError(f"num_motifs must be >= 1; got {num_motifs}.")
        widths = _as_widths(M, motif_width)
        if transitions not in TRANSITIONS:
            raise ValueError(f"transitions={transitions!r} is not one of {TRANSITIONS}.")
        if order not in (0, 1):
            raise ValueError(f"order must be 0 or 1; got {order}.")
        if background not in BACKGROUNDS:
            raise ValueError(f"background={background!r} is not one of {BACKGROUNDS}.")
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r} is not one of {READOUTS}.")
        if method not in METHODS:
            raise ValueError(f"method={method!r} is not one of {METHODS}.")
        if transitions == "rnn" and rnn not in CELLS:
            raise ValueError(f"rnn={rnn!r} is not one of {CELLS}.")
        if background_path not in ("closed_form", "kernel"):
            raise ValueError(
                f"background_path={background_path!r} is not 'closed_form' or 'kernel'."
            )
        if init_pwms is not None and len(init_pwms) != M:
            raise ValueError(f"init_pwms has {len(init_pwms)} PWMs for num_motifs={M}.")

        #: Constructor settings (hashable), e.g. for :meth:`from_static` and saving.
        self.settings = (
            ("num_motifs", M),
            ("motif_width", widths),
            ("transitions", transitions),
            ("rnn", rnn),
            ("hidden_size", int(hidden_size)),
            ("num_layers", int(num_layers)),
            ("order", int(order)),
            ("both_strands", bool(both_strands)),
            ("background", background),
            ("readout", readout),
            ("method", method),
            ("background_path", background_path),
        )
        self.layout = ChainLayout.build(widths, both_strands)
        self.num_motifs, self.widths, self.order = M, widths, int(order)
        self.transitions, self.background, self.readout, self.method = (
            transitions,
            background,
            readout,
            method,
        )
        self.both_strands = bool(both_strands)
        self.background_path = background_path

        keys = jax.random.split(rngs.params(), M)
        pwms = []
        for m, w in enumerate(widths):
            if init_pwms is None:
                logits = 0.1 * jax.random.normal(keys[m], (w, 4))
            else:
                logits = jnp.asarray(pwm_logits(_check_pwm(init_pwms[m], m, w)), _float_dtype())
            pwms.append(nnx.Param(logits))
        #: ``M`` PWM logit tables ``[W_m, 4]`` (path ``("pwm", m)``: freeze with
        #: ``nnx.PathContains("pwm")``).
        self.pwm = nnx.List(pwms)
        n_bg = 2 if both_strands else 4
        self.background_logits = nnx.data(
            nnx.Param(jnp.zeros((n_bg,))) if background == "learned" else None
        )
        D = 1 + M
        static = np.full((D,), math.log(0.02 / 0.98))  # p(motif start) ≈ 2% each at first
        static[0] = 0.0
        if order == 1:
            static = np.broadcast_to(static, (D, D)).copy()
        self.destination_logits = nnx.Param(jnp.asarray(static, _float_dtype()))
        if transitions == "rnn":
            self.rnn = nnx.data(RecurrentStack(4, hidden_size, num_layers, rnn, rngs=rngs))
            zeros = nnx.initializers.zeros
            out = D * D if order == 1 else D
            self.head = nnx.data(
                nnx.Linear(
                    hidden_size,
                    out,
                    kernel_init=zeros,
                    bias_init=zeros,
                    param_dtype=_float_dtype(),
                    rngs=rngs,
                )
            )
        else:
            self.rnn = nnx.data(None)
            self.head = nnx.data(None)
        # Eq. 13 readout: w·σ(η·s + c) + b0 (see init_readout)
        self.eta = nnx.Param(jnp.asarray(1.0))
        self.offset = nnx.data(nnx.Param(jnp.asarray(0.0)) if readout != "identity" else None)
        self.weight = nnx.Param(jnp.asarray(1.0))
        self.bias = nnx.Param(jnp.asarray(0.0))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_static(
        cls,
        static: MotifModel,
        *,
        rnn: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 2,
        rngs: nnx.Rngs,
    ) -> MotifModel:
        """An RNN-transition model that starts exactly at ``static`` (zero head): same PWMs,
        background, destination logits and readout (like :meth:`lsgm.LSGM.from_hmm`)."""
        kw = dict(static.settings)
        kw.update(transitions="rnn", rnn=rnn, hidden_size=hidden_size, num_layers=num_layers)
        num_motifs, motif_width = kw.pop("num_motifs"), kw.pop("motif_width")
        model = cls(num_motifs, motif_width, rngs=rngs, **kw)
        for m in range(static.num_motifs):
            model.pwm[m][...] = static.pwm[m][...]
        if static.background_logits is not None:
            model.background_logits[...] = static.background_logits[...]
        model.destination_logits[...] = static.destination_logits[...]
        for name in ("eta", "weight", "bias", "offset"):
            if getattr(static, name) is not None:
                getattr(model, name)[...] = getattr(static, name)[...]
        return model

    def background_mask(self) -> np.ndarray:
        """``[K]`` bool: only ``b`` allowed (the ``Θ′`` hypothesis)."""
        mask = np.zeros(self.layout.num_states, bool)
        mask[0] = True
        return mask

    # --------------------------------------------------------------- parameters
    def log_background(self) -> Array:
        """``[4]`` ``log bg`` (strand-symmetric when ``both_strands``)."""
        if self.background_logits is None:
            return jnp.full((4,), -math.log(4.0))
        logits = self.background_logits[...]
        if self.both_strands:  # (A/T, C/G) -> A, C, G, T
            logits = jnp.stack([logits[0], logits[1], logits[1], logits[0]])
        return jax.nn.log_softmax(logits)

    def log_pwms(self) -> list[Array]:
        """``M`` tables ``[W_m, 4]`` of ``log PWM_m``."""
        return [jax.nn.log_softmax(p[...], axis=-1) for p in self.pwm]

    def pwms(self) -> list[np.ndarray]:
        """The current PWMs as probabilities, ``M`` arrays ``[W_m, 4]``."""
        return [np.asarray(jnp.exp(lp)) for lp in self.log_pwms()]

    def emission_table(self) -> Array:
        """``[K, 4]`` ``log p(symbol | state)`` in layout order."""
        rows = [self.log_background()[None]]
        for lp in self.log_pwms():
            rows.append(lp)
            if self.both_strands:
                rows.append(lp[::-1, ::-1])  # rc state j: column W-1-j, complement 3-s
        return jnp.concatenate(rows, axis=0)

    @_dispatch(1)
    def destination_log_probs(self, x: Array) -> Array:
        """``[T, 1+M]`` (order 0) or ``[T, 1+M, 1+M]`` (order 1, rows = source) ``log π_t``;
        row ``t`` (0-based) is the distribution of ``z_{t+1}`` (1-based ``z_1`` for ``t = 0``),
        having read ``x_1..x_t``."""
        T = x.shape[0]
        D = 1 + self.num_motifs
        logits = self.destination_logits[...]
        if self.head is None:
            logits = jnp.broadcast_to(logits, (T,) + logits.shape)
        else:
            h = self.rnn(jax.nn.one_hot(x, 4, dtype=logits.dtype))[:T]  # [T, H]
            out = self.head(h)
            logits = logits + out.reshape((T,) + ((D, D) if self.order == 1 else (D,)))
        return jax.nn.log_softmax(logits, axis=-1)

    def _destinations(self, log_pi: Array) -> Array:
        """Destination log-probs ``[..., 1+M]`` → ``[..., K]`` over states (``-inf`` except at
        ``b`` and the chain starts; a motif's mass halved per strand)."""
        a = self.layout.arrays()
        pad = jnp.full(log_pi.shape[:-1] + (1,), -jnp.inf, log_pi.dtype)
        ext = jnp.concatenate([log_pi, pad], axis=-1)  # slot 1+M = impossible
        dest = jnp.take(ext, a["dest_slot"], axis=-1) + a["dest_shift"]
        return jnp.where(a["dest"], dest, -jnp.inf)

    def _scatter(self, log_pi: Array) -> tuple[Array, Array]:
        """Destination log-probs ``[..., 1+M]`` / ``[..., 1+M, 1+M]`` → ``(log_init [..., K],
        log_trans [..., K, K])``."""
        a = self.layout.arrays()
        dest = self._destinations(log_pi)  # [..., (S,) K]
        interior = jnp.where(a["interior"], 0.0, -jnp.inf).astype(log_pi.dtype)
        if self.order == 0:
            init = dest
            rows = dest[..., None, :]
        else:
            init = dest[..., 0, :]  # z_1 as if preceded by background
            rows = jnp.take(dest, a["src_slot"], axis=-2)  # [..., K, K]
        trans = jnp.where(a["free"][:, None], rows, interior)
        return init, trans

    # ---------------------------------------------------------------- inference
    @_dispatch(1)
    def potentials(self, x: Array, length=None) -> Potentials:
        """Potentials of one probe ``x [L]`` (ints 0..3): ``log_init [K]``, ``log_trans``
        (``[K, K]`` static, ``[L-1, K, K]`` rnn) and ``log_emit [L, K]``; non-end chain states
        get ``-inf`` at the last position ``length - 1`` (default ``L - 1``)."""
        log_pi, log_emit = self._parts(x, length)
        if self.head is None:
            log_init, log_trans = self._scatter(log_pi[0])
        else:
            inits, trans = self._scatter(log_pi)
            log_init, log_trans = inits[0], trans[1:]
        return Potentials(log_init, log_trans, log_emit)

    def _parts(self, x: Array, length=None) -> tuple[Array, Array]:
        """``(log_pi, log_emit)``: destination log-probs (``[L, 1+M]`` or ``[1, 1+M]`` when
        static; order 1 adds a source axis) and ``[L, K]`` emissions with the sequence-end
        constraint."""
        L = x.shape[0]
        log_pi = self.destination_log_probs(x) if self.head is not None else None
        if log_pi is None:
            log_pi = jax.nn.log_softmax(self.destination_logits[...], axis=-1)[None]
        log_emit = self.emission_table().T[x]  # [L, K]
        last = (L - 1) if length is None else length - 1
        at_last = (jnp.arange(L) == last)[:, None] & self.layout.arrays()["non_end_chain"]
        return log_pi, jnp.where(at_last, -jnp.inf, log_emit)

    def _background_log_z(self, x: Array, length=None) -> Array:
        """``log P(x | Θ′)`` in closed form: the one all-background path,
        ``sum_{t < length} [log π_t(b) + log bg(x_t)]`` (``π_t(b | b)`` for order 1), equal to
        the kernels' likelihood with ``allowed = {b}``."""
        log_pi, log_emit = self._parts(x, length)
        L = log_emit.shape[0]
        stay = log_pi[..., 0] if self.order == 0 else log_pi[..., 0, 0]
        stay = jnp.broadcast_to(stay, (L,))
        valid = jnp.arange(L) < (L if length is None else length)
        return jnp.where(valid, stay + log_emit[:, 0], 0.0).sum()

    @property
    def _kernel_method(self) -> str:
        """The shared kernels' method (``"scaled"`` stands in for ``"chain"``)."""
        return "scaled" if self.method == "chain" else self.method

    def _chain_log_z(self, x: Array, length=None) -> Array:
        """``log P(x | Θ)`` by :func:`lsgm.inference.chain_log_partition`, the forward
        recursion that uses the chain structure (``O(K·S)`` per step instead of the dense
        ``O(K²)``): free states (``b``, chain ends) jump by the destination distributions,
        non-end chain states advance by one. Equal to :func:`lsgm.inference.log_partition` of
        :meth:`potentials` (tested)."""
        a = self.layout.arrays()
        log_pi, log_emit = self._parts(x, length)
        log_dest = self._destinations(log_pi)  # [L or 1, (1+M,) K]
        if self.order == 0:
            log_dest = log_dest[:, None, :]  # one destination row for every free state
            source = a["free"][:, None].astype(float)
        else:
            source = np.zeros((self.layout.num_states, 1 + self.num_motifs))
            source[np.flatnonzero(a["free"]), a["src_slot"][a["free"]]] = 1.0
        log_init = log_dest[0, 0]  # z_1 as if preceded by background
        steps = log_dest if log_dest.shape[0] == 1 else log_dest[1:]
        return inference.chain_log_partition(
            log_init, steps, log_emit, source, a["non_end_chain"], length
        )

    @_dispatch(1)
    def log_likelihood(self, x: Array, allowed=None, length=None) -> Array:
        """``log P(x | Θ)`` of one probe, or restricted to ``allowed [K]`` states (not
        renormalised)."""
        if allowed is None and self.method == "chain":
            return self._chain_log_z(x, length)
        p = self.potentials(x, length)
        return inference.log_partition(p, length, allowed, method=self._kernel_method)

    @_dispatch(1)
    def score(self, x: Array, length=None) -> Array:
        """Eq. 12 likelihood ratio ``log P(x | Θ) − log P(x | Θ′)`` of one probe (``≥ 0``).

        ``log P(x | Θ′)`` is the kernels' ``allowed = {b}`` likelihood; since ``{b}`` admits one
        path it is evaluated in closed form when ``background_path="closed_form"`` (default,
        one forward pass instead of two), or by the masked kernel with ``"kernel"`` (the same
        number; both are tested against brute-force enumeration).
        """
        if self.method == "chain":
            full = self._chain_log_z(x, length)
        else:
            full = inference.log_partition(self.potentials(x, length), length, method=self.method)
        if self.background_path == "kernel":
            p, mask = self.potentials(x, length), self.background_mask()
            bg = inference.log_partition(p, length, mask, method=self._kernel_method)
        else:
            bg = self._background_log_z(x, length)
        return full - bg

    def squash(self, s: Array) -> Array:
        """``σ(η·s + c)`` of Eq. 13."""
        z = self.eta[...] * s
        if self.readout == "identity":
            return z
        z = z + self.offset[...]
        return {"sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus, "tanh": jnp.tanh}[
            self.readout
        ](z)

    @_dispatch(1)
    def intensity(self, x: Array, length=None) -> Array:
        """Predicted intensity of one probe: ``w·σ(η·s(x) + c) + b0``."""
        return self.weight[...] * self.squash(self.score(x, length)) + self.bias[...]

    @_dispatch(2)
    def __call__(self, x: Array, lengths=None) -> Array:
        """``x [B, L]`` ints → ``[B]`` predicted intensities (vmapped over probes)."""
        if lengths is None:
            return jax.vmap(lambda xi: self.intensity(xi))(x)
        return jax.vmap(self.intensity)(x, jnp.asarray(lengths, jnp.int32))

    def scores(self, x, batch_size: int = 2048) -> np.ndarray:
        """``[N]`` likelihood-ratio scores of probes ``x [N, L]`` (jitted, in batches)."""
        arr = check_probes(x)
        if arr.ndim != 2:
            raise ValueError(f"expected probes x [N, L]; got shape {arr.shape}.")
        graphdef, state = nnx.split(self)
        out = [
            np.asarray(_batched_scores(graphdef, state, jnp.asarray(arr[i : i + batch_size])))
            for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0,))

    def motif_positions(self, x: Array, per_motif: bool = False) -> Array:
        """Posterior probability that a motif occurrence (either strand) starts at each
        position of one probe: ``[L]`` (summed over motifs) or ``[L, M]`` with ``per_motif``.
        A reverse-strand occurrence "starts" at its leftmost position on the probe."""
        by_motif = self._start_probs(x)  # [L, M]
        return by_motif if per_motif else by_motif.sum(-1)

    @_dispatch(1)
    def _start_probs(self, x: Array) -> Array:
        """``[L, M]`` posterior probability that motif ``m`` starts (either strand) at ``t``."""
        post = inference.posteriors(self.potentials(x), method=self._kernel_method).states
        start = self.layout.arrays()["start"]
        motif = np.asarray(self.layout.motif)
        onehot = (start[:, None] & (motif[:, None] == np.arange(self.num_motifs))).astype(
            post.dtype
        )
        return post @ onehot

    # ------------------------------------------------------------------ readout
    def init_readout(self, y, x=None, max_probes: int = 4096) -> None:
        """Set ``η, c, w, b0`` from intensities ``y [N]`` (and probes ``x [N, L]``).

        With ``x``: standardise the current scores (``η = 1/sd(s)``, ``c = −η·mean(s)``; for
        ``"identity"`` only ``η``) and match moments: ``w = sd(y)/sd(σ)``, ``b0 = mean(y) −
        w·mean(σ)``; the scores come from at most ``max_probes`` probes drawn at random (seed 0;
        PBM tables are often sorted by intensity), the moments of ``y`` from all. Without ``x``:
        ``η = 1``, ``c = 0``, ``w = sd(y)``, ``b0 = mean(y) − w·σ(0)``.
        """
        y = np.asarray(y, np.float64)
        if y.ndim != 1 or len(y) < 2 or not np.all(np.isfinite(y)):
            raise ValueError(f"init_readout needs >= 2 finite intensities y [N]; got {y.shape}.")
        sd_y, mean_y = float(y.std()) or 1.0, float(y.mean())
        if x is None:
            self.eta[...] = jnp.asarray(1.0, self.eta.dtype)
            if self.offset is not None:
                self.offset[...] = jnp.asarray(0.0, self.offset.dtype)
            sig0 = float(self.squash(jnp.asarray(0.0)))
            self.weight[...] = jnp.asarray(sd_y, self.weight.dtype)
            self.bias[...] = jnp.asarray(mean_y - sd_y * sig0, self.bias.dtype)
            return
        x = np.asarray(x)
        if len(x) > max_probes:
            x = x[np.sort(np.random.default_rng(0).choice(len(x), max_probes, replace=False))]
        s = self.scores(x).astype(np.float64)
        sd_s = float(s.std())
        eta = 1.0 / sd_s if sd_s > 1e-8 else 1.0
        self.eta[...] = jnp.asarray(eta, self.eta.dtype)
        if self.offset is not None:
            self.offset[...] = jnp.asarray(-eta * float(s.mean()), self.offset.dtype)
        sq = np.asarray(self.squash(jnp.asarray(s, self.eta.dtype)), np.float64)
        sd_q = float(sq.std())
        w = sd_y / sd_q if sd_q > 1e-8 else sd_y
        self.weight[...] = jnp.asarray(w, self.weight.dtype)
        self.bias[...] = jnp.asarray(mean_y - w * float(sq.mean()), self.bias.dtype)

    def n_parameters(self) -> int:
        """All trainable scalars (``nnx.Param`` sizes, PWM logits counted in full)."""
        return int(sum(np.size(v) for v in jax.tree.leaves(nnx.state(self, nnx.Param))))


@jax.jit
def _batched_scores(graphdef, state, x: Array) -> Array:
    model = nnx.merge(graphdef, state)
    return jax.vmap(model.score)(x)


# ------------------------------------------------------------------ k-mer seeding
def _kmer_codes(x: np.ndarray, k: int) -> np.ndarray:
    """``[N, L-k+1]`` base-4 codes of every k-mer (first letter most significant)."""
    N, L = x.shape
    codes = np.zeros((N, L - k + 1), np.int64)
    for j in range(k):
        codes = codes * 4 + x[:, j : L - k + 1 + j]
    return codes


def _revcomp_code(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(codes)
    c = codes.copy()
    for _ in range(k):
        out = out * 4 + (3 - c % 4)
        c //= 4
    return out


def _decode(code: int, k: int) -> np.ndarray:
    return np.array([(code // 4 ** (k - 1 - j)) % 4 for j in range(k)])


def enriched_kmers(
    x, y, k: int = 8, top_fraction: float = 0.01, min_top: int = 20, count: int = 1
) -> list[tuple[str, float]]:
    """The ``count`` k-mers (strand-canonical) most enriched among the top probes.

    Top probes: the ``max(min_top, top_fraction·N)`` highest intensities. With ``n_top``,
    ``n_rest`` the numbers of top / other probes containing a k-mer on either strand, k-mers are
    ranked by the two-proportion statistic ``z = (n_top/|top| − n_rest/|rest|) / sqrt(p̄(1−p̄)
    (1/|top| + 1/|rest|))`` (``p̄`` the pooled fraction; a plain ratio would favour rare
    k-mers); the reported enrichment is ``(n_top + 1)/(|top| + 1) ÷ (n_rest + 1)/(|rest| + 1)``. Later picks skip k-mers within Hamming distance 2 (either
    strand, shifts of 0..2) of earlier ones, so several motifs start apart. Returns
    ``[(kmer, enrichment)]`` with ``kmer`` a string over ``ACGT``.
    """
    x = check_probes(x, "x")
    y = np.asarray(y, np.float64)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"need x [N, L] and y [N]; got {x.shape} and {y.shape}.")
    if not 1 <= k <= x.shape[1]:
        raise ValueError(f"k={k} must be in [1, L={x.shape[1]}].")
    N = len(x)
    n_top = min(N - 1, max(int(min_top), int(round(top_fraction * N))))
    if n_top < 1:
        raise ValueError(f"need at least 2 probes to find enriched k-mers; got {N}.")
    codes = _kmer_codes(x.astype(np.int64), k)
    canon = np.minimum(codes, _revcomp_code(codes, k))
    rows = np.repeat(np.arange(N), canon.shape[1])
    pairs = np.unique(rows * 4**k + canon.ravel())  # (probe, k-mer) presence
    probe, kmer = pairs // 4**k, pairs % 4**k
    top = np.zeros(N, bool)
    top[np.argsort(-y, kind="stable")[:n_top]] = True
    in_top = np.bincount(kmer[top[probe]], minlength=4**k)
    in_rest = np.bincount(kmer[~top[probe]], minlength=4**k)
    n_rest = N - n_top
    ratio = ((in_top + 1) / (n_top + 1)) / ((in_rest + 1) / (n_rest + 1))
    # rank by the two-proportion z statistic (a pure ratio favours rare k-mers)
    pooled = (in_top + in_rest + 1) / (N + 2)
    z = (in_top / n_top - in_rest / n_rest) / np.sqrt(
        pooled * (1 - pooled) * (1 / n_top + 1 / n_rest)
    )
    order = np.argsort(-z, kind="stable")
    chosen: list[np.ndarray] = []
    out = []
    for code in order:
        if in_top[code] == 0:
            break
        word = _decode(int(code), k)
        if any(_near(word, c) for c in chosen):
            continue
        chosen.append(word)
        out.append(("".join(dna.ALPHABET[i] for i in word), float(ratio[code])))
        if len(out) == count:
            break
    return out


def _near(a: np.ndarray, b: np.ndarray, max_dist: int = 2) -> bool:
    """Mismatches over the overlap plus the shift ``<= max_dist``, on either strand of ``b``."""
    for other in (b, 3 - b[::-1]):
        for s in range(max_dist + 1):
            for u, v in ((a[s:], other[: len(other) - s]), (other[s:], a[: len(a) - s])):
                if int((u != v).sum()) + s <= max_dist:
                    return True
    return False


def pwm_from_kmer(kmer: str, width: int, on: float = 0.7) -> np.ndarray:
    """``[width, 4]`` PWM: ``on`` on the k-mer's letter, ``(1-on)/3`` elsewhere, centred;
    columns beyond the k-mer are uniform, a k-mer longer than ``width`` keeps its centre."""
    if not kmer or any(c not in dna.ALPHABET for c in kmer):
        raise ValueError(f"k-mer {kmer!r} must be a non-empty string over {dna.ALPHABET}.")
    k = len(kmer)
    if k > width:
        cut = (k - width) // 2
        kmer, k = kmer[cut : cut + width], width
    pwm = np.full((width, 4), 0.25)
    left = (width - k) // 2
    for j, c in enumerate(kmer):
        pwm[left + j] = (1.0 - on) / 3.0
        pwm[left + j, dna.ALPHABET.index(c)] = on
    return pwm


def seed_from_kmers(
    x, y, width: int | Sequence[int], *, num_motifs: int = 1, k: int = 8, top_fraction=0.01
) -> list[np.ndarray]:
    """Initial PWMs ``[W_m, 4]`` from the ``num_motifs`` most enriched k-mers among the top
    ``top_fraction`` probes (:func:`enriched_kmers`, :func:`pwm_from_kmer`). When fewer distinct
    k-mers are enriched, the remaining motifs get uniform PWMs."""
    widths = _as_widths(num_motifs, width)
    kmers = enriched_kmers(x, y, k=k, top_fraction=top_fraction, count=num_motifs)
    out = []
    for m, w in enumerate(widths):
        out.append(pwm_from_kmer(kmers[m][0], w) if m < len(kmers) else np.full((w, 4), 0.25))
    return out
