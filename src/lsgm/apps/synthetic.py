"""The LSGM paper's synthetic studies (§2.4, §3.1): data generators and the two experiments.

The authors' generator code is not public; both generators are **our documented
reconstructions** of the paper's description. Every choice is listed here and in
``docs/experiments/synthetic.md``.

**1. Multidimensional long-range data (Table 1, the λ-sweep).** Three regimes ``i``, observations
``x_t ∈ R^4``. A fixed random *system* (drawn once from ``system_seed``, the same for every λ):

* static means ``mu_i ~ N(0, I_4)`` and diagonal variances ``s2_i ~ U(0.006, 0.018)`` per
  coordinate (small against the mean separation, so the regimes are distinct at λ = 0);
* a static switching matrix ``a`` with rows ``~ Dirichlet(1 + 4·1{p = q})`` (sticky);
* ``f``: a GRU with 33 units and PyTorch's gate equations and default initialisation (every
  weight and bias ``~ U(-1/√33, 1/√33)``) times a gain ``GRU_GAIN = 3`` (with the default scale
  the 33 outputs barely leave 0 and carry little history), an update-gate bias of ``+1`` (longer
  memory) and ``h_0 = 0``. ``h_{t-1} = f(x_{1:t-1})`` has read the observations before step
  ``t``; its 33 outputs in ``(-1, 1)`` split as 12 + 12 + 9:

      mu_i(t)   = 2.5 · h[4i : 4i+4]                        (12 means)
      s2_i(t)   = 0.15 · exp(h[12+4i : 16+4i])              (12 variances, positivity map)
      a_pq(t)   = softmax_q(3 · h[24+3p : 27+3p])           (9 logits, row normalisation)

The scales (:class:`LambdaScales`) are calibrated so that a 3-state HMM scores close to the
paper's HMM column of Table 1 (:func:`calibrate_lambda_scales`; the LSGM plays no part).

With ``λ̄ = 1 - λ``: ``z_1 ~ U{0, 1, 2}``, ``p(z_t = q | z_{t-1} = p) = λ̄ a_pq + λ a_pq(t)`` and
``x_t | z_t = i ~ N(λ̄ mu_i + λ mu_i(t), diag(λ̄ s2_i + λ s2_i(t)))``. At λ = 0 the data is an
ordinary 3-state diagonal-Gaussian HMM; at λ = 1 every distribution is driven by the history.
Because ``f`` reads observations only, the generator is itself an LSGM: its exact
log-likelihood (the "oracle" row of the tables) comes from the forward algorithm over its
own time-varying potentials (:func:`generator_log_likelihood`).

**2. Scalar regimes (the BIC study).** Regime 0 grows, 1 holds, 2 decays:
``x_t = c_{z_t} x_{t-1} + σ ε_t`` with ``c = (GROWTH, 1, 1/GROWTH)``, ``GROWTH = 1.1``,
``σ = 0.005``, ``ε_t ~ N(0, 1)``; ``x_1 ~ N(1, 0.3²)`` (no previous value) and
``z_1 ~ U{0, 1, 2}``. Switching depends on the mean ``m_t`` of the last ``WINDOW = 5``
emissions ``x_{t-5..t-1}`` (fewer at the start), i.e. their sum over 5: the *target* regime is
0 (grow) when ``m_t < 0.8``, 2 (decay) when ``m_t > 1.6`` and the previous regime otherwise;
``z_t`` is the target with probability 0.9 and each other regime with 0.05. The window's lag
makes the values overshoot the band and oscillate between about 0.7 and 1.9 (5th and
95th percentiles after step 10; a relaxation oscillator). The noise scale is the one choice
calibrated against a number the paper reports: with ``σ = 0.02`` the BIC selects a 32-state
HMM, with ``σ = 0.005`` one of 39 states (the paper's: 52); smaller noise makes value
levels finer, so the BIC pays for more states. The exact log-likelihood again follows from
the forward algorithm.

**Metric.** The paper's "average log-likelihood per sample (one item in a sequence) in the test
set": ``sum_n log p(x_n) / sum_n T_n`` (every sequence has 25 steps, so this is also the mean
per-sequence log-likelihood over 25). Standard errors are over test sequences.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import NamedTuple

import jax
import numpy as np
import optax
from flax import nnx

from lsgm.distributions import Gaussian
from lsgm.models import HMM, LSGM
from lsgm.training import HyperOptimizer, fit_em, fit_gradient

NUM_REGIMES = 3
DIM = 4
GRU_UNITS = 33  # 12 means + 12 variances + 9 switching logits
GRU_GAIN = 3.0
UPDATE_GATE_BIAS = 1.0
LAMBDAS = (0.0, 0.25, 0.5, 1.0)
#: Paper sizes of the λ-sweep: train / validation / test sequences and their length.
PAPER_LAMBDA_SIZES = (90_000, 5_000, 5_000)
SEQUENCE_LENGTH = 25
#: The paper's Table 1 (HMM, LSGM) test log-likelihood per sample, for comparison only.
PAPER_TABLE1 = {0.0: (2.70, 2.70), 0.25: (-0.58, -0.47), 0.5: (-2.47, -2.29), 1.0: (-4.43, -4.36)}

Array = np.ndarray


class SyntheticData(NamedTuple):
    """Sequences of a generator and, optionally, the distributions that produced them.

    Attributes:
        x: ``[N, T, D]`` float32 observations.
        states: ``[N, T]`` int32 regimes.
        log_init: ``[K]`` log ``p(z_1)``.
        log_trans: ``[N, T-1, K, K]`` log ``p(z_{t+1} = q | z_t = p, x_{1:t})`` (None unless
            requested).
        log_emit: ``[N, T, K]`` log ``p(x_t | z_t = k, x_{<t})`` (None unless requested).
        means, variances: ``[N, T, K, D]`` emission means and diagonal variances of the
            λ-process (None unless requested; None for the scalar process).
    """

    x: Array
    states: Array
    log_init: Array
    log_trans: Array | None = None
    log_emit: Array | None = None
    means: Array | None = None
    variances: Array | None = None


# ------------------------------------------------------------------ λ-process
def _sigmoid(v: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-v))


def _log_softmax(v: Array, axis: int = -1) -> Array:
    v = v - v.max(axis=axis, keepdims=True)
    return v - np.log(np.exp(v).sum(axis=axis, keepdims=True))


def _diag_gaussian_log_pdf(x: Array, means: Array, variances: Array) -> Array:
    """``log N(x; means, diag(variances))`` summed over the last axis."""
    return -0.5 * (((x - means) ** 2 / variances) + np.log(2 * np.pi * variances)).sum(-1)


@dataclasses.dataclass(frozen=True)
class LambdaScales:
    """The λ-process's free scales: static variances ``static_variance · U(0.01, 0.03)``, history
    means ``mean · h``, history variances ``variance · exp(h)``, switch logits ``logit · h``.
    The defaults are the result of :func:`calibrate_lambda_scales` (see the module docstring)."""

    static_variance: float = 0.6
    mean: float = 2.5
    variance: float = 0.15
    logit: float = 3.0


@dataclasses.dataclass(frozen=True)
class LambdaSystem:
    """The fixed random system behind every λ (see the module docstring).

    Attributes:
        means, variances: ``[3, 4]`` static regime means and diagonal variances.
        switch: ``[3, 3]`` static switching matrix (rows sum to 1).
        w_x: ``[4, 99]``, w_h: ``[33, 99]``, b_x, b_h: ``[99]`` GRU weights, gates ``(r, z, n)``.
        scales: the :class:`LambdaScales` of the history-driven maps.
    """

    means: Array
    variances: Array
    switch: Array
    w_x: Array
    w_h: Array
    b_x: Array
    b_h: Array
    scales: LambdaScales

    def gru_step(self, h: Array, x: Array) -> Array:
        """``h [N, 33]``, ``x [N, 4]`` → the next GRU state (PyTorch gate equations)."""
        H = GRU_UNITS
        gx, gh = x @ self.w_x + self.b_x, h @ self.w_h + self.b_h
        r = _sigmoid(gx[:, :H] + gh[:, :H])
        z = _sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1 - z) * n + z * h

    def step_params(self, h: Array, lam: float) -> tuple[Array, Array, Array]:
        """Mixed ``(means [N,3,4], variances [N,3,4], switch [N,3,3])`` from ``h [N, 33]``."""
        N, K, D, sc = h.shape[0], NUM_REGIMES, DIM, self.scales
        mu_t = sc.mean * h[:, : K * D].reshape(N, K, D)
        var_t = sc.variance * np.exp(h[:, K * D : 2 * K * D].reshape(N, K, D))
        switch_t = np.exp(_log_softmax(sc.logit * h[:, 2 * K * D :].reshape(N, K, K)))
        keep = 1.0 - lam
        return (
            keep * self.means + lam * mu_t,
            keep * self.variances + lam * var_t,
            keep * self.switch + lam * switch_t,
        )


def lambda_system(seed: int = 0, scales: LambdaScales | None = None) -> LambdaSystem:
    """The random system of the λ-process, drawn from ``numpy.random.default_rng(seed)``
    (the same draws for any ``scales``; default :class:`LambdaScales`)."""
    scales = LambdaScales() if scales is None else scales
    rng = np.random.default_rng(seed)
    K, D, H = NUM_REGIMES, DIM, GRU_UNITS
    means = rng.standard_normal((K, D))
    variances = scales.static_variance * rng.uniform(0.01, 0.03, (K, D))
    switch = np.stack([rng.dirichlet(1.0 + 4.0 * (np.arange(K) == p)) for p in range(K)])
    bound = GRU_GAIN / math.sqrt(H)
    w_x, w_h = rng.uniform(-bound, bound, (D, 3 * H)), rng.uniform(-bound, bound, (H, 3 * H))
    b_x, b_h = rng.uniform(-bound, bound, 3 * H), rng.uniform(-bound, bound, 3 * H)
    b_x[H : 2 * H] += UPDATE_GATE_BIAS
    return LambdaSystem(means, variances, switch, w_x, w_h, b_x, b_h, scales)


def _check_sizes(num_sequences: int, length: int) -> None:
    if int(num_sequences) < 1 or int(length) < 1:
        raise ValueError(
            f"num_sequences and length must be >= 1; got {num_sequences} and {length}."
        )


def _categorical_rows(rng: np.random.Generator, probs: Array) -> Array:
    """One draw per row of ``probs [N, K]`` (inverse CDF with one uniform per row)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(1), probs.shape[1] - 1).astype(np.int32)


def generate_lambda_data(
    num_sequences: int,
    lam: float,
    *,
    length: int = SEQUENCE_LENGTH,
    seed: int = 0,
    system_seed: int = 0,
    return_params: bool = False,
    scales: LambdaScales | None = None,
) -> SyntheticData:
    """Sequences of the multidimensional long-range process (paper §2.4, Fig. 4).

    Args:
        num_sequences: ``N``.
        lam: the mixing factor ``λ ∈ [0, 1]`` (0: a static HMM; 1: fully history-driven).
        length: ``T`` (paper: 25).
        seed: the draws of states and noise (``numpy.random.default_rng(seed)``).
        system_seed: the fixed system (:func:`lambda_system`), shared by every λ.
        return_params: also return the per-step log-potentials, means and variances.
        scales: the generator's scales (default :class:`LambdaScales`, the calibrated ones).

    Returns:
        :class:`SyntheticData` with ``x [N, T, 4]``; deterministic for given arguments.
    """
    _check_sizes(num_sequences, length)
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"lam must be in [0, 1]; got {lam}.")
    lam, N, T = float(lam), int(num_sequences), int(length)
    system = lambda_system(system_seed, scales)
    rng = np.random.default_rng(seed)
    K = NUM_REGIMES
    x = np.empty((N, T, DIM))
    states = np.empty((N, T), np.int32)
    h = np.zeros((N, GRU_UNITS))
    rows = np.arange(N)
    keep = (np.empty((N, T, K, DIM)), np.empty((N, T, K, DIM)), np.empty((N, max(T - 1, 0), K, K)))
    for t in range(T):
        means, variances, switch = system.step_params(h, lam)
        if t == 0:
            z = rng.integers(0, K, N).astype(np.int32)
        else:
            z = _categorical_rows(rng, switch[rows, states[:, t - 1]])
            keep[2][:, t - 1] = switch
        states[:, t] = z
        noise = rng.standard_normal((N, DIM))
        # rounded to float32 first: the GRU and the oracle see exactly the returned data
        x[:, t] = (means[rows, z] + np.sqrt(variances[rows, z]) * noise).astype(np.float32)
        keep[0][:, t], keep[1][:, t] = means, variances
        h = system.gru_step(h, x[:, t])
    log_init = np.full(K, -np.log(K))
    if not return_params:
        return SyntheticData(x.astype(np.float32), states, log_init)
    log_emit = _diag_gaussian_log_pdf(x[:, :, None, :], keep[0], keep[1])
    return SyntheticData(
        x.astype(np.float32), states, log_init, np.log(keep[2]), log_emit, keep[0], keep[1]
    )


# ------------------------------------------------------------------ scalar process
@dataclasses.dataclass(frozen=True)
class ScalarSystem:
    """Settings of the scalar regime process (see the module docstring)."""

    growth: float = 1.1
    noise: float = 0.005
    window: int = 5
    low: float = 0.8
    high: float = 1.6
    p_target: float = 0.9
    start_mean: float = 1.0
    start_std: float = 0.3

    @property
    def factors(self) -> Array:
        """``[3]`` per-regime multipliers ``(growth, 1, 1/growth)``."""
        return np.array([self.growth, 1.0, 1.0 / self.growth])

    def log_switch(self, window_mean: Array, previous: Array) -> Array:
        """``[N, K]`` log ``p(z_t | z_{t-1} = previous, m_t = window_mean)``."""
        target = np.where(window_mean < self.low, 0, np.where(window_mean > self.high, 2, previous))
        other = (1.0 - self.p_target) / (NUM_REGIMES - 1)
        probs = np.where(np.arange(NUM_REGIMES) == target[:, None], self.p_target, other)
        return np.log(probs)


def generate_scalar_data(
    num_sequences: int,
    *,
    length: int = SEQUENCE_LENGTH,
    seed: int = 0,
    system: ScalarSystem | None = None,
    return_params: bool = False,
) -> SyntheticData:
    """Sequences of the scalar grow / hold / decay process (paper §2.4, second dataset).

    Returns:
        :class:`SyntheticData` with ``x [N, T, 1]``; with ``return_params`` also the
        log-potentials (``log_trans [N, T-1, 3, 3]``, ``log_emit [N, T, 3]``).
    """
    _check_sizes(num_sequences, length)
    system = ScalarSystem() if system is None else system
    N, T, K = int(num_sequences), int(length), NUM_REGIMES
    rng = np.random.default_rng(seed)
    c = system.factors
    x = np.empty((N, T))
    states = np.empty((N, T), np.int32)
    log_trans = np.empty((N, max(T - 1, 0), K, K))
    log_emit = np.empty((N, T, K))
    states[:, 0] = rng.integers(0, K, N)
    x[:, 0] = (system.start_mean + system.start_std * rng.standard_normal(N)).astype(np.float32)
    log_emit[:, 0] = _scalar_log_pdf(x[:, 0, None], system.start_mean, system.start_std)
    for t in range(1, T):
        window_mean = x[:, max(0, t - system.window) : t].mean(1)
        table = np.stack(
            [system.log_switch(window_mean, np.full(N, p)) for p in range(K)], axis=1
        )  # [N, from, to]
        log_trans[:, t - 1] = table
        z = _categorical_rows(rng, np.exp(table[np.arange(N), states[:, t - 1]]))
        states[:, t] = z
        x[:, t] = (c[z] * x[:, t - 1] + system.noise * rng.standard_normal(N)).astype(np.float32)
        log_emit[:, t] = _scalar_log_pdf(x[:, t, None], c * x[:, t - 1, None], system.noise)
    log_init = np.full(K, -np.log(K))
    x = x[..., None].astype(np.float32)
    if not return_params:
        return SyntheticData(x, states, log_init)
    return SyntheticData(x, states, log_init, log_trans, log_emit)


def _scalar_log_pdf(x: Array, mean, std: float) -> Array:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std * math.sqrt(2 * math.pi))


# ------------------------------------------------------------------ oracle
def generator_log_likelihood(data: SyntheticData) -> Array:
    """``[N]`` exact ``log p(x_n)`` under the generating process: the forward algorithm

        log α_1 = log_init + log_emit_1,
        log α_t(q) = logsumexp_p(log α_{t-1}(p) + log_trans_{t-1}(p, q)) + log_emit_t(q),
        log p(x) = logsumexp_q log α_T(q),

    over the generator's own potentials (float64 numpy; ``data`` must come with
    ``return_params=True``)."""
    if data.log_trans is None or data.log_emit is None:
        raise ValueError("generator_log_likelihood needs data generated with return_params=True.")
    log_alpha = data.log_init[None] + data.log_emit[:, 0]
    for t in range(1, data.log_emit.shape[1]):
        log_alpha = _logsumexp(log_alpha[:, :, None] + data.log_trans[:, t - 1], axis=1)
        log_alpha = log_alpha + data.log_emit[:, t]
    return _logsumexp(log_alpha, axis=1)


def _logsumexp(v: Array, axis: int) -> Array:
    top = v.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(v - top).sum(axis=axis, keepdims=True))).squeeze(axis)


# ------------------------------------------------------------------ shared model pieces
class Score(NamedTuple):
    """Held-out log-likelihood per sample: ``mean = sum_n log p(x_n) / sum_n T_n`` and its
    standard error over sequences (of ``log p(x_n) / T_n``); ``per_sequence [N]`` is
    ``log p(x_n) / T_n``."""

    mean: float
    se: float
    per_sequence: np.ndarray


def per_sample_score(log_likelihoods: Array, lengths: Array) -> Score:
    """:class:`Score` from per-sequence ``log p(x_n) [N]`` and lengths ``[N]``."""
    ll, n = np.asarray(log_likelihoods, np.float64), np.asarray(lengths, np.float64)
    per = ll / n
    se = float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else float("nan")
    return Score(float(ll.sum() / n.sum()), se, per)


def model_score(model, xs: Array) -> Score:
    """:class:`Score` of a model on ``xs [N, T, D]``."""
    return per_sample_score(model.score_samples(list(xs)), np.full(len(xs), xs.shape[1]))


def paired_difference(a: Score, b: Score) -> tuple[float, float]:
    """``(mean of a - b, its standard error)`` over the same test sequences (paired)."""
    d = a.per_sequence - b.per_sequence
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def fit_gaussian_hmm(
    train: Array,
    num_states: int,
    covariance: str,
    *,
    seed: int = 0,
    max_iter: int = 200,
    tol: float = 1e-2,
    restarts: int = 1,
) -> tuple[HMM, dict]:
    """A Gaussian HMM by Baum–Welch from k-means means and the global covariance.

    ``train [N, T, D]``. With ``restarts = R`` EM runs from ``R`` initialisations (k-means and
    transition draws from seeds ``seed, …, seed + R - 1``) and the fit with the highest
    training log-likelihood is kept (scikit-learn's ``n_init``). Returns ``(hmm, info)`` with
    the kept fit's EM iterations, whether it converged, the seconds (all restarts), the
    largest float32 round-off decrease of the log-likelihood seen near convergence, and every
    restart's final log-likelihood (EM's ``RuntimeWarning``s are counted, not printed).
    """
    if int(restarts) < 1:
        raise ValueError(f"restarts must be >= 1; got {restarts}.")
    K, D = int(num_states), train.shape[-1]
    start = time.perf_counter()
    best, finals = None, []  # best: (hmm, history, log-likelihoods, warnings) of the top fit
    for r in range(int(restarts)):
        emission = Gaussian(K, D, covariance, rngs=None)  # placeholder: initialize sets it
        emission.initialize(train.reshape(-1, D), jax.random.key(seed + r))
        hmm = HMM(K, emission, rngs=nnx.Rngs(seed + r + 1))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            hmm, history = fit_em(hmm, list(train), max_iter=max_iter, tol=tol, init=False)
        lls = np.asarray(history.log_likelihoods)
        if best is None or lls[-1] > max(finals):
            best = (hmm, history, lls, caught)
        finals.append(float(lls[-1]))
    hmm, history, lls, caught = best
    drops = -np.diff(lls) if len(lls) > 1 else np.zeros(1)
    info = {
        "em_iterations": history.n_iter,
        "converged": bool(history.converged),
        "seconds": time.perf_counter() - start,
        "largest_decrease": float(max(drops.max(), 0.0)) + 0.0,  # + 0.0: no -0.0
        "em_warnings": len([w for w in caught if issubclass(w.category, RuntimeWarning)]),
        "restart_log_likelihoods": finals,
    }
    return hmm, info


def diagonal_hmm(hmm: HMM) -> HMM:
    """The HMM with each Gaussian's covariance replaced by its diagonal (same means,
    initial and transition probabilities): the LSGM's Gaussians are diagonal."""
    cov = np.asarray(hmm.emission.covariances(), np.float64)
    variances = np.diagonal(cov, axis1=-2, axis2=-1) if cov.ndim == 3 else cov
    emission = Gaussian.from_params(np.asarray(hmm.emission.means()), variances, "diag")
    return HMM.from_probs(
        np.asarray(hmm.initial_probs(), np.float64),
        np.asarray(hmm.transition_probs(), np.float64),
        emission,
    )


#: Models reused across fits of the same configuration: JAX caches a compiled training step
#: by the model's static structure, which holds the objects themselves (the LSGM's
#: emission-family functions). Reusing them turns one compile per fit into one per
#: configuration; the optimiser's numbers are step arguments (:func:`_optimizer`).
_TEMPLATES: dict[tuple, LSGM] = {}
CLIP_NORM = 10.0


def _optimizer(learning_rate: float) -> HyperOptimizer:
    """Adam after clipping gradients to global norm :data:`CLIP_NORM`; the learning rate is an
    argument of the compiled step, so another rate compiles nothing."""
    return HyperOptimizer(optax.adam, {"learning_rate": float(learning_rate)}, CLIP_NORM)


def lsgm_from_hmm(
    hmm: HMM,
    *,
    hidden_size: int,
    emission_hidden: int,
    order: int = 1,
    seed: int = 0,
    emission_network: str = "per_state",
    embedding_dim: int = 2,
) -> LSGM:
    """A first- or zeroth-order full LSGM with per-state emission networks (Fig. 1a) and a
    GRU of ``hidden_size`` units that equals ``hmm`` (diagonal Gaussians) at the start: its
    network outputs are zero (:meth:`LSGM.from_hmm`). Returned as the cached model object of
    this configuration, with fresh parameters (see :data:`_TEMPLATES`)."""
    fresh = LSGM.from_hmm(
        hmm,
        hidden_size=hidden_size,
        emission_network=emission_network,
        emission_hidden=emission_hidden,
        embedding_dim=embedding_dim,
        order=order,
        conditioning="full",
        rngs=nnx.Rngs(seed),
    )
    key = (
        hmm.num_states,
        hmm.emission.dim,
        int(hidden_size),
        int(emission_hidden),
        int(order),
        emission_network,
        int(embedding_dim),
    )
    template = _TEMPLATES.setdefault(key, fresh)
    if template is not fresh:
        nnx.update(template, nnx.state(fresh))
    return template


def fit_lsgm_from_hmm(
    hmm: HMM,
    train: Array,
    valid: Array | None,
    *,
    hidden_size: int,
    emission_hidden: int,
    order: int = 1,
    epochs: int = 100,
    batch_size: int | None = None,
    learning_rate: float = 1e-2,
    patience: int = 10,
    seed: int = 0,
    progress_bar: bool = False,
    emission_network: str = "per_state",
    embedding_dim: int = 2,
):
    """The LSGM of :func:`lsgm_from_hmm` trained by Adam (gradients clipped to global norm
    :data:`CLIP_NORM`) on the exact likelihood of ``train [N, T, D]``, early-stopped on
    ``valid`` (keeping the best epoch; ``valid=None``: all ``epochs``, the last kept).
    ``batch_size=None``: one full-batch step per epoch.

    Returns ``(model, info)``; ``model`` is an independent copy.
    """
    model = lsgm_from_hmm(
        hmm,
        hidden_size=hidden_size,
        emission_hidden=emission_hidden,
        order=order,
        seed=seed,
        emission_network=emission_network,
        embedding_dim=embedding_dim,
    )
    start = time.perf_counter()
    model, history = fit_gradient(
        model,
        list(train),
        optimizer=_optimizer(learning_rate),
        epochs=epochs,
        batch_size=batch_size,
        validation=None if valid is None else list(valid),
        patience=None if valid is None else patience,
        buckets=None,
        seed=seed,
        progress_bar=progress_bar,
    )
    info = {
        "epochs": history.epochs,
        "best_epoch": history.best_epoch,
        "seconds": time.perf_counter() - start,
        "train_nll": history.train_nll,
        "valid_nll": history.valid_nll,
    }
    return nnx.clone(model), info


def _paper_hmm_count(K: int, D: int) -> int:
    """The paper's apparent count for a full-covariance HMM: ``K-1 + K(K-1) + KD + KD²``
    (every covariance entry counted; 68 for K = 3, D = 4)."""
    return K - 1 + K * (K - 1) + K * D + K * D * D


# ------------------------------------------------------------------ experiment 1: λ-sweep
@dataclasses.dataclass(frozen=True)
class LambdaSettings:
    """Sizes and training settings of the λ-sweep (defaults: the paper's sizes)."""

    lambdas: tuple[float, ...] = LAMBDAS
    train: int = PAPER_LAMBDA_SIZES[0]
    valid: int = PAPER_LAMBDA_SIZES[1]
    test: int = PAPER_LAMBDA_SIZES[2]
    length: int = SEQUENCE_LENGTH
    hidden_size: int = 1
    emission_hidden: int = 1
    epochs: int = 40
    batch_size: int | None = 1000
    learning_rate: float = 1e-2
    patience: int = 4
    em_iterations: int = 300
    scales: LambdaScales = LambdaScales()


#: ``--quick``: λ ∈ {0, 1}, 300 / 100 / 300 sequences, full-batch training (one compile).
QUICK_LAMBDA = LambdaSettings(
    lambdas=(0.0, 1.0),
    train=300,
    valid=100,
    test=300,
    epochs=80,
    batch_size=None,
    learning_rate=1e-2,
    patience=8,
    em_iterations=100,
)


def lambda_datasets(lam: float, settings: LambdaSettings, seed: int = 0):
    """``(train, valid, test)`` of one λ: seeds ``10·seed + 1, 2, 3`` for the draws and
    ``system_seed = seed`` (so every λ shares the system and the random numbers)."""
    common = {"length": settings.length, "system_seed": seed, "scales": settings.scales}
    train = generate_lambda_data(settings.train, lam, seed=10 * seed + 1, **common)
    valid = generate_lambda_data(settings.valid, lam, seed=10 * seed + 2, **common)
    test = generate_lambda_data(
        settings.test, lam, seed=10 * seed + 3, return_params=True, **common
    )
    return train, valid, test


def run_lambda_sweep(
    settings: LambdaSettings = LambdaSettings(),
    *,
    seed: int = 0,
    progress_bar: bool = False,
    log=None,
) -> dict:
    """Table 1: for each λ a 3-state full-covariance HMM (k-means + global covariance, EM)
    against a 3-state first-order full LSGM with per-state emission networks started at that
    HMM's diagonal; test log-likelihood per sample, with the generator's own (oracle) value.

    Returns a JSON-ready dict: ``rows`` (one per λ), ``parameters``, ``settings``,
    ``seconds``; and ``histories`` (training curves per λ).
    """
    rows, histories = [], {}
    counts = {}
    started = time.perf_counter()
    for lam in settings.lambdas:
        train, valid, test = lambda_datasets(lam, settings, seed)
        hmm, hmm_info = fit_gaussian_hmm(
            train.x, NUM_REGIMES, "full", seed=seed, max_iter=settings.em_iterations
        )
        lsgm, lsgm_info = fit_lsgm_from_hmm(
            diagonal_hmm(hmm),
            train.x,
            valid.x,
            hidden_size=settings.hidden_size,
            emission_hidden=settings.emission_hidden,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            patience=settings.patience,
            seed=seed,
            progress_bar=progress_bar,
        )
        s_hmm, s_lsgm = model_score(hmm, test.x), model_score(lsgm, test.x)
        oracle = per_sample_score(
            generator_log_likelihood(test), np.full(settings.test, settings.length)
        )
        diff, diff_se = paired_difference(s_lsgm, s_hmm)
        paper = PAPER_TABLE1.get(float(lam))
        rows.append(
            {
                "lambda": float(lam),
                "hmm": s_hmm.mean,
                "hmm_se": s_hmm.se,
                "lsgm": s_lsgm.mean,
                "lsgm_se": s_lsgm.se,
                "difference": diff,
                "difference_se": diff_se,
                "oracle": oracle.mean,
                "paper_hmm": None if paper is None else paper[0],
                "paper_lsgm": None if paper is None else paper[1],
                "hmm_fit": hmm_info,
                "lsgm_fit": {
                    k: v for k, v in lsgm_info.items() if k not in ("train_nll", "valid_nll")
                },
            }
        )
        histories[f"{lam:g}"] = {"train": lsgm_info["train_nll"], "valid": lsgm_info["valid_nll"]}
        counts = {
            "hmm": hmm.n_parameters(),
            "hmm_paper_count": _paper_hmm_count(NUM_REGIMES, DIM),
            "lsgm": lsgm.n_parameters(),
        }
        if log is not None:
            log(
                f"lambda={lam:g}: HMM {s_hmm.mean:.3f}  LSGM {s_lsgm.mean:.3f}  "
                f"oracle {oracle.mean:.3f}"
            )
    return {
        "rows": rows,
        "parameters": counts,
        "settings": dataclasses.asdict(settings),
        "seconds": time.perf_counter() - started,
        "histories": histories,
    }


def summarise_systems(sweeps: list[dict]) -> dict:
    """The LSGM − HMM gap over ``S`` independent random systems (one
    :func:`run_lambda_sweep` each, same λ values): how it varies between draws of the
    generator and how it grows with λ on average.

    With ``g[s, l]`` the gap of system ``s`` at ``λ_l``: the mean and standard error over
    systems per λ, how many systems have the LSGM ahead (``g > 0``); for each step
    ``λ_l → λ_{l+1}`` the mean and SE over systems of ``g[s, l+1] − g[s, l]`` (a paired
    comparison: the same system at both λ) and how many systems grow; and how many grow at
    every step.

    Returns ``{"lambdas" [L], "gaps" [S][L], "mean" [L], "se" [L], "ahead" [L],
    "steps": [{"from", "to", "mean", "se", "grows"}], "monotone", "systems"}``.
    """
    lambdas = [r["lambda"] for r in sweeps[0]["rows"]]
    for sweep in sweeps[1:]:
        if [r["lambda"] for r in sweep["rows"]] != lambdas:
            raise ValueError("every sweep must cover the same λ values in the same order.")
    gaps = np.array([[r["difference"] for r in sweep["rows"]] for sweep in sweeps])
    S = len(sweeps)

    def mean_se(a):
        return a.mean(0), (a.std(0, ddof=1) / np.sqrt(S) if S > 1 else np.full(a.shape[1:], np.nan))

    mean, se = mean_se(gaps)
    increments = np.diff(gaps, axis=1)
    inc_mean, inc_se = mean_se(increments)
    steps = [
        {
            "from": lambdas[i],
            "to": lambdas[i + 1],
            "mean": float(inc_mean[i]),
            "se": float(inc_se[i]),
            "grows": int((increments[:, i] > 0).sum()),
        }
        for i in range(len(lambdas) - 1)
    ]
    return {
        "lambdas": lambdas,
        "gaps": gaps.tolist(),
        "mean": mean.tolist(),
        "se": se.tolist(),
        "ahead": (gaps > 0).sum(0).tolist(),
        "steps": steps,
        "monotone": int(np.all(increments > 0, axis=1).sum()),
        "systems": S,
    }


#: The candidate scales searched for :class:`LambdaScales` (two grids, 36 points): a coarse
#: one, then a finer one around its best region.
CALIBRATION_GRID = tuple(
    LambdaScales(static_variance=f, variance=v, mean=m)
    for grid in (
        ((1.0, 0.5, 0.25), (0.2, 0.3, 0.5), (2.0, 3.0, 4.0)),
        ((0.6,), (0.05, 0.1, 0.15), (2.5, 3.0, 3.5)),
    )
    for f in grid[0]
    for v in grid[1]
    for m in grid[2]
)


def calibrate_lambda_scales(
    grid=CALIBRATION_GRID,
    *,
    train: int = 5000,
    test: int = 2000,
    seed: int = 0,
    em_iterations: int = 300,
    log=None,
) -> list[dict]:
    """Score each candidate :class:`LambdaScales` by how closely a 3-state full-covariance HMM
    (the λ-sweep's, EM) reproduces the paper's HMM column of Table 1: for every λ of
    :data:`PAPER_TABLE1` the HMM is fitted on ``train`` sequences and scored per sample on
    ``test`` others (seeds ``10·seed + 1`` and ``+ 3``, system ``seed``).

    Returns one row per candidate, best first: ``scales`` (dict), ``hmm`` (λ → score) and
    ``rms`` (root-mean-square distance to the paper's four values, nats per sample). The
    LSGM plays no part. λ = 0 does not depend on the history scales, so it is fitted once per
    static-variance factor.
    """
    rows, at_zero = [], {}
    for scales in grid:
        scores = {}
        for lam in PAPER_TABLE1:
            if lam == 0.0 and scales.static_variance in at_zero:
                scores[lam] = at_zero[scales.static_variance]
                continue
            common = {"system_seed": seed, "scales": scales}
            tr = generate_lambda_data(train, lam, seed=10 * seed + 1, **common)
            te = generate_lambda_data(test, lam, seed=10 * seed + 3, **common)
            hmm, _ = fit_gaussian_hmm(tr.x, NUM_REGIMES, "full", seed=seed, max_iter=em_iterations)
            scores[lam] = model_score(hmm, te.x).mean
            if lam == 0.0:
                at_zero[scales.static_variance] = scores[lam]
        rms = math.sqrt(np.mean([(scores[lam] - PAPER_TABLE1[lam][0]) ** 2 for lam in scores]))
        rows.append({"scales": dataclasses.asdict(scales), "hmm": scores, "rms": rms})
        if log is not None:
            log(f"{scales}: " + " ".join(f"{v:.2f}" for v in scores.values()) + f"  RMS {rms:.2f}")
    return sorted(rows, key=lambda r: r["rms"])


# ------------------------------------------------------------------ experiment 2: scalar BIC
class ScalarLSGM(NamedTuple):
    """One LSGM of the scalar study: transition ``order`` (0 or 1), emission ``network``
    (``"per_state"``, Fig. 1a, or ``"shared"``, Fig. 1b) and its hidden width."""

    order: int
    network: str
    emission_hidden: int

    @property
    def label(self) -> str:
        return f"order {self.order}, {self.network.replace('_', '-')} emission net"


@dataclasses.dataclass(frozen=True)
class ScalarSettings:
    """Sizes and settings of the scalar study (defaults: the paper's 1,000 sequences and
    3…60 HMM states; validation and test sets are extra draws for the LSGM's early stopping
    and for held-out scores; ``valid = 0``: no early stopping)."""

    states: tuple[int, ...] = tuple(range(3, 61))
    train: int = 1000
    valid: int = 200
    test: int = 1000
    length: int = SEQUENCE_LENGTH
    lsgm_states: int = 10
    hidden_size: int = 2
    lsgms: tuple[ScalarLSGM, ...] = (
        ScalarLSGM(1, "per_state", 1),
        ScalarLSGM(0, "per_state", 1),
        ScalarLSGM(0, "shared", 2),
    )
    embedding_dim: int = 2
    epochs: int = 2000
    batch_size: int | None = 50
    learning_rate: float = 3e-3
    patience: int = 100
    em_iterations: int = 300
    restarts: int = 3
    system: ScalarSystem = ScalarSystem()


#: ``--quick``: 200 training sequences, one 10-state HMM and one zeroth-order LSGM trained
#: full-batch for 300 epochs without validation (fewest compiles; the test suite runs it).
QUICK_SCALAR = ScalarSettings(
    states=(10,),
    train=200,
    valid=0,
    test=200,
    lsgms=(ScalarLSGM(0, "per_state", 1),),
    epochs=300,
    batch_size=None,
    learning_rate=2e-2,
    patience=8,
    em_iterations=100,
    restarts=1,
)


def run_scalar_study(
    settings: ScalarSettings = ScalarSettings(),
    *,
    seed: int = 0,
    progress_bar: bool = False,
    log=None,
) -> dict:
    """HMMs with ``settings.states`` states on the scalar data, BIC ``= -2 log L + k log n``
    (``k``: free parameters, hmmlearn's count; ``n``: observations), against LSGMs with 10
    states and 2 GRU units started at the ``lsgm_states``-state HMM.

    Log-likelihoods per point are reported on the training data (where the BIC is computed,
    as in the paper) and on held-out test sequences. Returns a JSON-ready dict with ``hmms``
    (one row per size), ``best`` (the BIC choice), ``lsgms``, ``oracle``, ``settings``,
    ``seconds``.
    """
    started = time.perf_counter()
    common = {"length": settings.length, "system": settings.system}
    train = generate_scalar_data(settings.train, seed=10 * seed + 1, **common)
    valid = None  # settings.valid = 0: no early stopping (the quick mode: one compile less)
    if settings.valid > 0:
        valid = generate_scalar_data(settings.valid, seed=10 * seed + 2, **common)
    test = generate_scalar_data(settings.test, seed=10 * seed + 3, return_params=True, **common)
    n = settings.train * settings.length
    hmms, fitted = [], {}
    for K in settings.states:
        hmm, info = fit_gaussian_hmm(
            train.x,
            K,
            "diag",
            seed=seed,
            max_iter=settings.em_iterations,
            restarts=settings.restarts,
        )
        s_train, s_test = model_score(hmm, train.x), model_score(hmm, test.x)
        k = hmm.n_parameters()
        hmms.append(
            {
                "states": int(K),
                "parameters": k,
                "log_likelihood": s_train.mean * n,
                "bic": -2 * s_train.mean * n + k * math.log(n),
                "train_ll": s_train.mean,
                "test_ll": s_test.mean,
                "test_se": s_test.se,
                "fit": info,
            }
        )
        fitted[int(K)] = hmm
        if log is not None:
            log(f"HMM {K:2d} states: BIC {hmms[-1]['bic']:.1f}  LL/point {s_train.mean:.3f}")
    best = min(hmms, key=lambda r: r["bic"])
    start_hmm = fitted.get(settings.lsgm_states)
    if start_hmm is None:
        start_hmm, _ = fit_gaussian_hmm(
            train.x,
            settings.lsgm_states,
            "diag",
            seed=seed,
            max_iter=settings.em_iterations,
            restarts=settings.restarts,
        )
    lsgms, histories = [], {}
    for variant in settings.lsgms:
        variant = ScalarLSGM(*variant)
        lsgm, info = fit_lsgm_from_hmm(
            start_hmm,
            train.x,
            None if valid is None else valid.x,
            hidden_size=settings.hidden_size,
            emission_hidden=variant.emission_hidden,
            order=variant.order,
            emission_network=variant.network,
            embedding_dim=settings.embedding_dim,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            patience=settings.patience,
            seed=seed,
            progress_bar=progress_bar,
        )
        s_train, s_test = model_score(lsgm, train.x), model_score(lsgm, test.x)
        s_valid = None if valid is None else model_score(lsgm, valid.x).mean
        lsgms.append(
            {
                "order": variant.order,
                "network": variant.network,
                "emission_hidden": variant.emission_hidden,
                "label": variant.label,
                "states": settings.lsgm_states,
                "parameters": lsgm.n_parameters(),
                "parameter_ratio": best["parameters"] / lsgm.n_parameters(),
                "train_ll": s_train.mean,
                "valid_ll": s_valid,
                "test_ll": s_test.mean,
                "test_se": s_test.se,
                "fit": {k: v for k, v in info.items() if k not in ("train_nll", "valid_nll")},
            }
        )
        histories[f"order{variant.order}-{variant.network}"] = {
            "train": info["train_nll"],
            "valid": info["valid_nll"],
        }
        if log is not None:
            log(f"LSGM ({variant.label}): LL/point {s_train.mean:.3f} (test {s_test.mean:.3f})")
    oracle = per_sample_score(
        generator_log_likelihood(test), np.full(settings.test, settings.length)
    )
    # the reported LSGM: the variant with the best validation LL (the first without one)
    chosen = max(range(len(lsgms)), key=lambda i: lsgms[i]["valid_ll"] or -np.inf)
    return {
        "hmms": hmms,
        "best": best,
        "lsgms": lsgms,
        "chosen": chosen,
        "oracle_test_ll": oracle.mean,
        "observations": n,
        "settings": dataclasses.asdict(settings),
        "seconds": time.perf_counter() - started,
        "histories": histories,
    }


def summarise_scalar_seeds(results: list[dict]) -> dict:
    """Mean ± SD over seeds of :func:`run_scalar_study` results (one per seed).

    Returns ``{"best": ..., "lsgms": [...], "chosen": ...}``: for the BIC-selected HMM its
    states, parameters and train/test LL per point; for every LSGM variant its parameters,
    the ratio ``HMM parameters / LSGM parameters`` and the LLs; for the validation-chosen
    LSGM of each seed (``result["chosen"]``) the same, plus how many seeds reach the paper's
    ``>= 10x`` fewer parameters while beating the HMM on test. Each metric ``m`` comes as
    ``m`` (mean) and ``m_sd`` (sample SD, None for one seed)."""
    from lsgm.apps.seeds import summarise

    keys = ("parameters", "train_ll", "test_ll")
    best = summarise([r["best"] for r in results], ("states", *keys))
    oracle = summarise([{"oracle": r["oracle_test_ll"]} for r in results], ["oracle"])
    variants = []
    for i, row in enumerate(results[0]["lsgms"]):
        rows = [r["lsgms"][i] for r in results]
        variants.append({"label": row["label"], **summarise(rows, (*keys, "parameter_ratio"))})
    picked = [r["lsgms"][r["chosen"]] for r in results]
    chosen = summarise(picked, (*keys, "parameter_ratio"))
    chosen["labels"] = [p["label"] for p in picked]
    chosen["seeds_meeting_target"] = sum(
        p["parameter_ratio"] >= 10 and p["test_ll"] > r["best"]["test_ll"]
        for p, r in zip(picked, results, strict=True)
    )
    return {**oracle, "best": best, "lsgms": variants, "chosen": chosen, "seeds": len(results)}


__all__ = [
    "CALIBRATION_GRID",
    "LAMBDAS",
    "PAPER_TABLE1",
    "QUICK_LAMBDA",
    "QUICK_SCALAR",
    "calibrate_lambda_scales",
    "LambdaScales",
    "LambdaSettings",
    "LambdaSystem",
    "ScalarLSGM",
    "ScalarSettings",
    "ScalarSystem",
    "Score",
    "SyntheticData",
    "diagonal_hmm",
    "fit_gaussian_hmm",
    "fit_lsgm_from_hmm",
    "generate_lambda_data",
    "generate_scalar_data",
    "generator_log_likelihood",
    "lambda_datasets",
    "lambda_system",
    "lsgm_from_hmm",
    "model_score",
    "paired_difference",
    "per_sample_score",
    "run_lambda_sweep",
    "run_scalar_study",
    "summarise_scalar_seeds",
    "summarise_systems",
]
