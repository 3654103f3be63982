"""Chromatin states by an LSGM, compared with ChromHMM's HMM on held-out files (issue 21,
"beyond ChromHMM").

Both models have ``K`` states over bins and ChromHMM's emission, independent Bernoullis per
mark (a missing mark, ``x_td = 2``, is marginalised exactly). The HMM's transitions are one
table; the LSGM's are conditioned on a GRU over the marks of the bins before:

    HMM:   p(z_{t+1} = j | z_t = i)            = A_ij
    LSGM:  p(z_{t+1} = j | z_t = i, x_{1:t})   = softmax_j(log A_ij + [W Q_t]_ij),
           Q_t = GRU(Q_{t-1}, x_t)

(``conditioning="full"`` also moves the emission logits by a network of ``Q_{t-1}``,
:class:`lsgm.LSGM`). Because ``Q_t`` reads observations only, every inference stays exact.

Protocol (:func:`compare`):

1. Every file is cut to its first ``max_bins`` bins (if given). One chromosome or cell is
   held out (:func:`.workflow.holdout_split`); of every training file the last
   ``valid_fraction`` of its bins is the validation part, the rest the fitting part.
2. HMM at ``K``: ChromHMM's information initialisation and Baum–Welch
   (:func:`.model.information_init`, :func:`.model.fit`) on the fitting part, in float64.
3. LSGM at ``K`` for each seed: :meth:`lsgm.LSGM.from_hmm` of that HMM (network outputs zero,
   so it starts exactly at the HMM), trained by Adam on non-overlapping windows of ``window``
   bins of the fitting part (the GRU restarts from ``Q_0`` at each window), early-stopped on
   the windows of the validation part (the parameters of the best validation epoch are kept).
4. HMMs at the larger ``K`` (``multiples``; default ``2K``, ``3K``) as in step 2.
5. Scored once on the held-out files: the exact log-likelihood per bin of the whole
   held-out sequences, ``sum_i log p(x_i) / sum_i T_i``, for every model, in float32 (the
   HMM at ``K`` as the LSGM at its start, which equals it); the Viterbi paths of the HMM at
   ``K`` and of each LSGM, matched state to state by the Hungarian method on their
   co-occurrence counts (:func:`matched_agreement`).

Settings are chosen on validation only; the held-out files are read only in step 5.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lsgm.apps.chromatin_states import model as chrom_model
from lsgm.apps.chromatin_states.workflow import holdout_split
from lsgm.data import Binarized, ChromHMMModel

CONDITIONINGS = ("transitions", "full")


@dataclass(frozen=True)
class CompareSettings:
    """The settings of :func:`compare` (module docstring).

    Attributes:
        max_bins: every file cut to its first ``max_bins`` bins (None: whole files).
        window: bins per training window of the LSGM.
        hidden: GRU units ``H``.
        epochs: at most this many passes over the training windows.
        seeds: LSGM seeds (initialisation of the networks and window order).
        multiples: the larger HMMs have ``m * K`` states for each ``m``.
        conditioning: ``"transitions"`` or ``"full"`` (transitions and emissions).
        batch_size: windows per gradient step.
        learning_rate: Adam's step size (gradients clipped to norm 1).
        patience: stop after this many epochs without a lower validation NLL.
        valid_fraction: the last fraction of each training file's bins used for validation.
        max_iterations, converge_delta: ChromHMM's ``-r`` and ``-d`` for the HMMs.
    """

    max_bins: int | None = None
    window: int = 200
    hidden: int = 16
    epochs: int = 20
    seeds: tuple[int, ...] = (0, 1, 2)
    multiples: tuple[int, ...] = (2, 3)
    conditioning: str = "transitions"
    batch_size: int = 32
    learning_rate: float = 1e-2
    patience: int = 3
    valid_fraction: float = 0.1
    max_iterations: int = chrom_model.MAX_ITERATIONS
    converge_delta: float = chrom_model.CONVERGE_DELTA

    def checked(self) -> CompareSettings:
        """The settings, or a ValueError naming the bad one and its allowed values."""
        for name in ("window", "hidden", "epochs", "batch_size", "patience", "max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1; got {getattr(self, name)}."
                )
        if self.max_bins is not None and self.max_bins < 2:
            raise ValueError(f"--max-bins must be >= 2; got {self.max_bins}.")
        if not self.seeds:
            raise ValueError("give at least one seed.")
        if any(m < 2 for m in self.multiples):  # none: no larger HMMs
            raise ValueError(f"the larger HMMs need multiples >= 2 of K; got {self.multiples}.")
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(
                f"--conditioning must be one of {', '.join(CONDITIONINGS)}; got "
                f"{self.conditioning!r}."
            )
        if not 0 < self.valid_fraction < 1:
            raise ValueError(
                f"the validation fraction must be in (0, 1); got {self.valid_fraction}."
            )
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0; got {self.learning_rate}.")
        return self


def split_validation(
    train: Sequence[Binarized], fraction: float
) -> tuple[list[Binarized], list[Binarized]]:
    """``(fitting, validation)``: each training file split into its first bins and its last
    ``round(fraction * T)`` bins (at least 1 each).

    Raises:
        ValueError: a file of fewer than 2 bins, naming it.
    """
    fit, valid = [], []
    for d in train:
        T = len(d.x)
        if T < 2:
            raise ValueError(f"{d.path}: {T} bin(s); a training file needs at least 2 bins.")
        n = min(max(1, round(fraction * T)), T - 1)
        fit.append(dataclasses.replace(d, x=d.x[: T - n]))
        valid.append(dataclasses.replace(d, x=d.x[T - n :]))
    return fit, valid


def windows(xs: Sequence[np.ndarray], length: int) -> list[np.ndarray]:
    """Consecutive non-overlapping pieces of at most ``length`` rows of every sequence (the
    last piece of a sequence may be shorter)."""
    return [x[s : s + length] for x in xs for s in range(0, len(x), length)]


def matched_agreement(a: np.ndarray, b: np.ndarray, K_a: int, K_b: int) -> tuple[float, np.ndarray]:
    """The fraction of positions with the same state after matching ``b``'s states to ``a``'s.

    With ``C_ij = #{t : a_t = i, b_t = j}`` (``[K_a, K_b]``) the matching ``pi`` maximises
    ``sum_i C_{i, pi(i)}`` (Hungarian method, :func:`scipy.optimize.linear_sum_assignment`);
    the agreement is that sum over ``T``.

    Returns:
        ``(agreement, match)`` with ``match [K_a]``: the state of ``b`` matched to each state
        of ``a`` (-1 where none, when ``K_b < K_a``).
    """
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((K_a, K_b))
    np.add.at(counts, (a, b), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    match = np.full(K_a, -1)
    match[rows] = cols
    return float(counts[rows, cols].sum() / max(len(a), 1)), match


def _fit_hmm(fit: Sequence[Binarized], K: int, s: CompareSettings) -> tuple[ChromHMMModel, dict]:
    """ChromHMM's information start (random, seed 999, where the data support fewer states
    that way) and Baum–Welch in float64."""
    import jax

    xs = [d.x for d in fit]
    marks = fit[0].marks
    with jax.enable_x64(True):
        try:
            start, init = chrom_model.information_init(xs, K, marks), "information"
        except ValueError:
            start, init = chrom_model.random_init(K, marks), "random"
        trained = chrom_model.fit(
            fit, start, max_iterations=s.max_iterations, converge_delta=s.converge_delta
        )
    info = {
        "init": init,
        "iterations": len(trained.iterations),
        "converged": trained.converged,
        "seconds": trained.seconds,
    }
    return trained.model, info


def _heldout(model, held: Sequence[Binarized]) -> tuple[float, np.ndarray]:
    """``(sum_i log p(x_i), Viterbi states of all held-out bins concatenated)`` under an
    :class:`lsgm.HMM` or :class:`lsgm.LSGM`, exactly, on the whole sequences."""
    xs = [d.x for d in held]
    return float(model.score(xs)), np.concatenate([np.asarray(p) for p in model.predict(xs)])


def _start_lsgm(model: ChromHMMModel, missing: bool, seed: int, s: CompareSettings):
    """The LSGM at the fitted HMM (float32; network outputs zero, so it equals the HMM)."""
    from flax import nnx

    from lsgm import LSGM

    lsgm = LSGM.from_hmm(
        chrom_model.to_hmm(model, missing),
        rnn="gru",
        hidden_size=s.hidden,
        conditioning=s.conditioning,
        rngs=nnx.Rngs(seed),
    )
    lsgm.eval()  # as fit_gradient leaves it: scoring before and after shares its compiles
    return lsgm


def _train_lsgm(
    lsgm,
    fit: Sequence[Binarized],
    valid: Sequence[Binarized],
    seed: int,
    s: CompareSettings,
    log: Callable[[str], object] | None,
):
    """Adam on the windows of the fitting part, early-stopped on those of the validation
    part; returns the model and its :class:`lsgm.training.GradientHistory`."""
    import optax

    from lsgm.training import fit_gradient

    return fit_gradient(
        lsgm,
        windows([d.x for d in fit], s.window),
        optimizer=optax.adam(s.learning_rate),
        epochs=s.epochs,
        batch_size=s.batch_size,
        buckets=None,
        validation=windows([d.x for d in valid], s.window),
        patience=s.patience,
        clip_norm=1.0,
        seed=seed,
        log=log,
    )


def _mean_sd(values: Sequence[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}


def _finite(name: str, value: float) -> float:
    if not np.isfinite(value):
        raise ValueError(
            f"{name} is {value}: a model gives the held-out data probability 0 or diverged; "
            "check the inputs (values 0, 1, 2) and lower --learning-rate."
        )
    return value


def compare(
    data: Sequence[Binarized],
    num_states: int,
    *,
    holdout: str | None = None,
    settings: CompareSettings | None = None,
    log: Callable[[str], object] | None = None,
) -> dict:
    """The HMM and the LSGM at ``num_states`` on held-out files (module docstring).

    Args:
        data: binarized files (:func:`lsgm.data.read_binarized_folder`).
        num_states: ``K >= 1``.
        holdout: the held-out chromosome or cell (default: as :func:`.workflow.holdout_split`).
        settings: :class:`CompareSettings` (default: its defaults).
        log: progress lines (None: silent).

    Returns:
        A JSON-ready summary: data sizes, ``hmm`` (the HMM at ``K``), ``lsgm`` (per seed and
        mean ± SD), ``larger_hmms``, ``states_to_match`` (the smallest ``K`` among the HMMs
        whose held-out log-likelihood per bin reaches the LSGM's mean, or None) and the
        settings. Log-likelihoods are in nats; ``*_per_bin`` divide by the held-out bins.

    Raises:
        ValueError: bad settings or split, or a non-finite held-out log-likelihood.
    """
    s = (settings or CompareSettings()).checked()
    K = int(num_states)
    if K < 1:
        raise ValueError(f"NUMSTATES must be >= 1; got {num_states}.")
    say = log or (lambda _: None)
    began = time.perf_counter()
    if s.max_bins is not None:
        data = [dataclasses.replace(d, x=d.x[: s.max_bins]) for d in data]
    train, held, name = holdout_split(data, holdout)
    fit, valid = split_validation(train, s.valid_fraction)
    missing = any(d.missing() for d in data)
    T_held = sum(len(d.x) for d in held)
    say(
        f"held out {name}: {len(held)} files, {T_held} bins; fitting {sum(len(d.x) for d in fit)}"
        f" bins, validation {sum(len(d.x) for d in valid)} bins"
    )

    hmm_model, hmm_info = _fit_hmm(fit, K, s)
    D = len(data[0].marks)
    hmm_row: dict = {"K": K, **hmm_info, "parameters": (K - 1) + K * (K - 1) + K * D}
    hmm_paths = np.zeros(0, int)
    runs = []
    for seed in s.seeds:
        lsgm = _start_lsgm(hmm_model, missing, seed, s)
        if not runs:  # the LSGM at its start is the HMM: its exact score and Viterbi path
            hmm_ll, hmm_paths = _heldout(lsgm, held)
            hmm_row["heldout_log_likelihood"] = _finite("the HMM's held-out log-likelihood", hmm_ll)
            hmm_row["heldout_per_bin"] = hmm_ll / T_held
            say(f"HMM K = {K}: held-out {hmm_row['heldout_per_bin']:.6f} per bin")
        t0 = time.perf_counter()
        lsgm, history = _train_lsgm(lsgm, fit, valid, seed, s, log)
        train_s = time.perf_counter() - t0
        ll, paths = _heldout(lsgm, held)
        _finite(f"the LSGM's (seed {seed}) held-out log-likelihood", ll)
        agree, match = matched_agreement(hmm_paths, paths, K, K)
        runs.append(
            {
                "seed": seed,
                # the HMM's free parameters plus the networks' (n_parameters also counts
                # the redundant logit of every softmax: K + K^2 + K D tables)
                "parameters": hmm_row["parameters"] + lsgm.n_parameters() - K - K * K - K * D,
                "epochs": history.epochs,
                "best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
                "stopped_early": history.stopped_early,
                "valid_nll_per_bin": [float(v) for v in history.valid_nll],
                "train_seconds": train_s,
                "heldout_log_likelihood": ll,
                "heldout_per_bin": ll / T_held,
                "viterbi_agreement": agree,
                "state_match": match.tolist(),
            }
        )
        say(
            f"LSGM seed {seed}: held-out {ll / T_held:.6f} per bin, Viterbi agreement "
            f"{agree:.4f}, {history.epochs} epochs, {train_s:.1f} s"
        )

    larger = []
    for m in s.multiples:
        model_m, info = _fit_hmm(fit, m * K, s)
        ll_m = float(chrom_model.to_hmm(model_m, missing).score([d.x for d in held]))
        row = {
            "K": m * K,
            **info,
            "parameters": (m * K - 1) + m * K * (m * K - 1) + m * K * D,
            "heldout_log_likelihood": _finite(f"the HMM's (K = {m * K}) held-out", ll_m),
            "heldout_per_bin": ll_m / T_held,
        }
        larger.append(row)
        say(f"HMM K = {m * K}: held-out {row['heldout_per_bin']:.6f} per bin")

    lsgm_mean = _mean_sd([r["heldout_per_bin"] for r in runs])
    reach = [r["K"] for r in [hmm_row, *larger] if r["heldout_per_bin"] >= lsgm_mean["mean"]]
    return {
        "holdout": name,
        "files": {"fit": len(fit), "heldout": len(held)},
        "bins": {
            "fit": sum(len(d.x) for d in fit),
            "validation": sum(len(d.x) for d in valid),
            "heldout": T_held,
        },
        "marks": list(data[0].marks),
        "missing_values": sum(d.missing() for d in data),
        "settings": dataclasses.asdict(s),
        "scoring": "exact log-likelihood of the whole held-out sequences, float32",
        "hmm": hmm_row,
        "lsgm": {
            "runs": runs,
            "heldout_per_bin": lsgm_mean,
            "gain_per_bin_over_hmm": _mean_sd(
                [r["heldout_per_bin"] - hmm_row["heldout_per_bin"] for r in runs]
            ),
            "viterbi_agreement": _mean_sd([r["viterbi_agreement"] for r in runs]),
            "train_seconds": _mean_sd([r["train_seconds"] for r in runs]),
        },
        "larger_hmms": larger,
        "states_to_match": min(reach) if reach else None,
        "seconds": time.perf_counter() - began,
    }


def compare_report(result: dict) -> list[str]:
    """``comparison.txt``: the settings, the table of held-out log-likelihoods and
    parameter counts, and the segmentation agreement."""
    b, lsgm, hmm = result["bins"], result["lsgm"], result["hmm"]
    s = result["settings"]
    pm = "\u00b1"
    lines = [
        f"# held out: {result['holdout']} ({result['files']['heldout']} files, {b['heldout']} "
        f"bins); fitted on {b['fit']} bins, validation {b['validation']} bins"
        + (f"; every file cut to its first {s['max_bins']} bins" if s["max_bins"] else ""),
        f"# LSGM: GRU {s['hidden']} units, conditioning {s['conditioning']}, windows of "
        f"{s['window']} bins, batch {s['batch_size']}, Adam {s['learning_rate']}, at most "
        f"{s['epochs']} epochs, patience {s['patience']}, seeds {list(s['seeds'])}",
        f"# {result['scoring']}",
        "model\tK\tparameters\theldout_log_likelihood_per_bin",
        f"HMM\t{hmm['K']}\t{hmm['parameters']}\t{hmm['heldout_per_bin']:.6f}",
        f"LSGM\t{hmm['K']}\t{lsgm['runs'][0]['parameters']}\t"
        f"{lsgm['heldout_per_bin']['mean']:.6f} {pm} {lsgm['heldout_per_bin']['sd']:.6f}",
    ]
    lines += [
        f"HMM\t{r['K']}\t{r['parameters']}\t{r['heldout_per_bin']:.6f}"
        for r in result["larger_hmms"]
    ]
    reach = result["states_to_match"]
    Ks = [hmm["K"]] + [r["K"] for r in result["larger_hmms"]]
    lines += [
        f"LSGM gain over the HMM at K = {hmm['K']}: {lsgm['gain_per_bin_over_hmm']['mean']:.6f} "
        f"{pm} {lsgm['gain_per_bin_over_hmm']['sd']:.6f} nats per bin",
        "HMM states needed to match the LSGM: "
        + (f"{reach}" if reach else f"more than {max(Ks)} (none of K = {Ks})"),
        f"Viterbi agreement with the HMM at K = {hmm['K']} (Hungarian-matched states): "
        f"{lsgm['viterbi_agreement']['mean']:.4f} {pm} {lsgm['viterbi_agreement']['sd']:.4f}",
    ]
    return lines
