"""The PBM experiment of the LSGM paper (§3.2, Table 2): HMM, DeepBind, DeeperBind and LSGM
predicting probe intensities, trained and validated on array 1, tested on array 2.

Protocol (paper §3.2, under the experiment protocol of ``docs/experiments/README.md``): array 1
is split 70:30 into training and validation probes (random, by the seed); every model is
trained with the same flow (:func:`~lsgm.apps.tf_binding.regression.fit_regression`: MSE, Adam,
batches of 128, the same epoch cap and early stopping on the validation Spearman ρ) and gets the
same search: one architecture, each learning rate of ``PBMSettings.learning_rates`` (two by
default), the configuration with the best validation ρ kept ("the best performing architectures
are picked for each model"). Only the kept configuration of each model is scored by Spearman's
ρ on array 2, once per seed. ``run_pbm_seeds`` repeats this over seeds (the seed changes the
70:30 split, the initialisation and the minibatch order) and reports mean ± SD.

Starts (what each model is initialised from):

* ``hmm``: :class:`~lsgm.apps.tf_binding.motif_model.MotifModel` with static transitions
  (M motifs of width W plus a background state, both strands), PWMs seeded from the most
  enriched k-mers of the training probes (or from JASPAR/MEME motifs given by the caller);
* ``lsgm``: the paper's half LSGM — the same model with transitions from a 2-layer LSTM.
  Its configuration with learning rate ``r`` pre-trains the ``hmm`` (same start) with ``r``
  for at most ``lsgm_pretrain_epochs`` (10) epochs, starts exactly there (zero-initialised
  head) and trains on with ``r``; the pre-training epochs count in its budget: at most
  ``max_epochs − h_r`` more epochs, so that pre-training plus the LSGM's own training never
  exceed the cap the other models get;
* ``deepbind`` (16 filters × 24, DeepBind's PBM setting) and ``deeperbind`` (16 × 11, LSTM):
  :mod:`~lsgm.apps.tf_binding.baselines`, random initialisation;
* ``kmer``: ridge regression on 8-mer counts (both strands), a cheap reference; its
  configurations are the ridge penalties ``kmer_alphas`` (as many as the learning rates).

With a single array, ``folds`` > 1 runs K-fold cross-validation instead (each fold's training
part split 70:30 again for early stopping). Intensities are modelled as
``y = log(I − min I + 1)`` of array 1 (monotone, so ρ is unchanged; it tames the heavy upper
tail for the squared error).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
from flax import nnx

from lsgm.apps.seeds import check_seeds, summarise
from lsgm.apps.tf_binding import baselines, motif_model
from lsgm.apps.tf_binding.regression import count_parameters, fit_regression, predict, spearman
from lsgm.data import PBMArray, kfold_indices, normalise_intensities, split_indices

MODELS = ("hmm", "lsgm", "deepbind", "deeperbind", "kmer")

#: Paper Table 2 (test Spearman ρ on array 2): HMM, DeepBind, DeeperBind, LSGM.
PAPER_TABLE2 = {
    "Oct-1": (0.48, 0.56, 0.61, 0.67),
    "CEH-22": (0.27, 0.43, 0.45, 0.54),
    "Zif268": (0.38, 0.45, 0.45, 0.50),
    "Cbf1": (0.16, 0.14, 0.16, 0.23),
    "Rap1": (0.29, 0.15, 0.26, 0.22),
}


@dataclasses.dataclass(frozen=True)
class PBMSettings:
    """Model sizes and training settings (defaults: the paper's shared 5 motifs × 11).

    Every model gets the same search (one configuration per entry of ``learning_rates``; the
    k-mer ridge one per entry of ``kmer_alphas``, as many), the same ``max_epochs`` cap and the
    same early stopping (``patience`` epochs without a higher validation ρ). The learning
    rates, the cap (30, set by the CPU budget of the documented run) and the patience (4) were
    fixed before that run, not tuned on a score.
    """

    num_motifs: int = 5
    motif_width: int = 11
    both_strands: bool = True
    lsgm_hidden: int = 32
    lsgm_layers: int = 2
    lsgm_pretrain_epochs: int = 10  # of max_epochs, the LSGM's HMM pre-training at most
    learning_rates: tuple[float, ...] = (1e-2, 3e-3)
    batch_size: int = 128
    max_epochs: int = 30
    patience: int = 4
    valid_fraction: float = 0.3
    deepbind: tuple[int, int] = (16, 24)  # filters, filter length
    deeperbind: tuple[int, int] = (16, 11)
    kmer: int = 8
    kmer_alphas: tuple[float, ...] = (10.0, 100.0)
    max_train: int | None = None  # at most this many array-1 probes (random subset)
    max_test: int | None = None

    def __post_init__(self) -> None:
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise ValueError(
                f"learning_rates must be positive numbers, at least one; got {self.learning_rates}."
            )
        if not 1 <= self.lsgm_pretrain_epochs < self.max_epochs:
            raise ValueError(
                f"lsgm_pretrain_epochs = {self.lsgm_pretrain_epochs} must be in [1, max_epochs = "
                f"{self.max_epochs}): the LSGM's HMM pre-training counts in its epoch budget."
            )
        if len(self.kmer_alphas) != len(self.learning_rates):
            raise ValueError(
                f"{len(self.kmer_alphas)} k-mer ridge penalties for {len(self.learning_rates)} "
                "learning rates: give every model the same number of configurations."
            )


#: ``--quick`` (tests): one motif of width 8, tiny networks, a few epochs on a few hundred
#: probes, one learning rate (one configuration per model).
QUICK = PBMSettings(
    num_motifs=1,
    motif_width=8,
    lsgm_hidden=8,
    lsgm_layers=1,
    lsgm_pretrain_epochs=2,
    learning_rates=(3e-2,),
    batch_size=64,
    max_epochs=4,
    patience=1,
    deepbind=(4, 8),
    deeperbind=(4, 8),
    kmer=5,
    kmer_alphas=(10.0,),
)


@dataclasses.dataclass
class Fitted:
    """One trained model: ``predict(x) -> [N]``, its configuration and bookkeeping.

    ``epochs``: epochs run; ``best_epoch``: 1-based epoch kept; ``capped``: the cap ended
    training before early stopping did; ``pretrain_epochs``: epochs of the model it started
    from (the LSGM: its HMM's), counted in its budget; ``tried``: every configuration tried
    with its validation ρ (the kept one included).
    """

    name: str
    config: str
    predict: Callable[[np.ndarray], np.ndarray]
    n_parameters: int
    seconds: float
    valid_spearman: float
    epochs: int
    model: object = None
    best_epoch: int | None = None
    capped: bool = False
    pretrain_epochs: int = 0
    tried: list = dataclasses.field(default_factory=list)


def _subset(array: PBMArray, limit: int | None, seed: int) -> PBMArray:
    if limit is None or limit >= len(array):
        return array
    rng = np.random.default_rng(seed)
    return array.subset(np.sort(rng.choice(len(array), limit, replace=False)))


def _train_net(
    name, config, model, data, s: PBMSettings, seed, lr, freeze=None, log=None, max_epochs=None
) -> Fitted:
    """Fit one configuration (``max_epochs``: default the settings' cap)."""
    x_tr, y_tr, x_va, y_va = data
    cap = s.max_epochs if max_epochs is None else max_epochs
    config = f"{config}, Adam {lr:g}"
    if log:
        log(f"training {name} ({config}) on {len(x_tr):,} probes, <= {cap} epochs")
    started = time.perf_counter()
    history = fit_regression(
        model,
        x_tr,
        y_tr,
        x_valid=x_va,
        y_valid=y_va,
        learning_rate=lr,
        batch_size=s.batch_size,
        max_epochs=cap,
        patience=s.patience,
        freeze=freeze,
        seed=seed,
    )
    finite = [r for r in history.valid_spearman if np.isfinite(r)]
    rho = float(max(finite)) if finite else float("nan")
    if not finite:
        raise ValueError(
            f"{name} ({config}) diverged or predicts a constant: validation ρ is {rho}; lower "
            "its learning rate."
        )
    return Fitted(
        name,
        config,
        lambda x, m=model: predict(m, x),
        count_parameters(model, freeze),
        time.perf_counter() - started,
        rho,
        history.epochs,
        model,
        best_epoch=None if history.best_epoch is None else history.best_epoch + 1,
        capped=not history.stopped_early,
    )


def _best(candidates: list[Fitted]) -> Fitted:
    """The configuration with the highest validation ρ; every one tried is listed in its
    ``tried`` (with its validation ρ, epochs and seconds)."""
    best = max(candidates, key=lambda f: f.valid_spearman)
    best.tried = [
        {"config": f.config, "valid_spearman": f.valid_spearman, "epochs": f.epochs}
        for f in candidates
    ]
    best.seconds = float(sum(f.seconds for f in candidates))
    return best


def fit_motif_models(
    data,
    s: PBMSettings,
    seed: int,
    *,
    init_pwms: Sequence[np.ndarray] | None = None,
    freeze_pwms: bool = False,
    with_lsgm: bool = True,
    log=None,
) -> list[Fitted]:
    """The static-transition motif HMM (one configuration per learning rate, best validation ρ
    kept), then (``with_lsgm``) the LSTM-transition LSGM, one configuration per learning rate
    ``r``: the HMM's start trained with ``r`` for at most ``lsgm_pretrain_epochs`` epochs
    (``h_r`` run, early stopping as usual), then the LSGM started exactly there
    (zero-initialised head) and trained with ``r`` for at most ``max_epochs − h_r`` epochs, so
    that a configuration's epochs in all never exceed the cap the other models get.
    ``init_pwms``: ``M`` ``[W, 4]`` PWMs (else seeded from enriched k-mers)."""
    x_tr, y_tr, _, _ = data
    if init_pwms is None:
        init_pwms = motif_model.seed_from_kmers(
            x_tr, y_tr, s.motif_width, num_motifs=s.num_motifs, k=min(8, s.motif_width)
        )
    widths = [len(p) for p in init_pwms]
    freeze = nnx.PathContains("pwm") if freeze_pwms else None
    config = f"{len(widths)} motif(s) × {max(widths)}" + (", strands ±" if s.both_strands else "")

    def new_hmm():
        hmm = motif_model.MotifModel(
            len(init_pwms),
            widths,
            transitions="static",
            both_strands=s.both_strands,
            init_pwms=init_pwms,
            rngs=nnx.Rngs(seed),
        )
        hmm.init_readout(y_tr, x_tr)
        return hmm

    hmms = [
        _train_net("hmm", config, new_hmm(), data, s, seed, lr, freeze, log)
        for lr in s.learning_rates
    ]
    out = [_best(hmms)]
    if not with_lsgm:
        return out
    config_l = f"{config}, LSTM {s.lsgm_layers}×{s.lsgm_hidden}"
    candidates = []
    for lr in s.learning_rates:
        # pre-training: the HMM's own start and flow, cut at lsgm_pretrain_epochs
        pre = _train_net(
            "lsgm (HMM pre-training)",
            config,
            new_hmm(),
            data,
            s,
            seed,
            lr,
            freeze,
            log,
            max_epochs=s.lsgm_pretrain_epochs,
        )
        lsgm = motif_model.MotifModel.from_static(
            pre.model,
            rnn="lstm",
            hidden_size=s.lsgm_hidden,
            num_layers=s.lsgm_layers,
            rngs=nnx.Rngs(seed + 1),
        )
        left = s.max_epochs - pre.epochs
        name = f"{config_l}, from {pre.epochs} HMM epochs"
        fit = _train_net("lsgm", name, lsgm, data, s, seed, lr, freeze, log, max_epochs=left)
        fit.pretrain_epochs = pre.epochs
        fit.seconds += pre.seconds
        candidates.append(fit)
    return [*out, _best(candidates)]


def fit_baselines(data, s: PBMSettings, seed: int, names: Sequence[str], log=None) -> list[Fitted]:
    """DeepBind / DeeperBind (one configuration per learning rate, best validation ρ kept)
    and the k-mer ridge (one configuration per penalty of ``kmer_alphas``)."""
    x_tr, y_tr, x_va, y_va = data
    out = []
    networks = (
        ("deepbind", baselines.DeepBind, s.deepbind, ""),
        ("deeperbind", baselines.DeeperBind, s.deeperbind, ", LSTM"),
    )
    for name, cls, (f, w), suffix in networks:
        if name in names:
            out.append(
                _best(
                    [
                        _train_net(
                            name,
                            f"{f} filters × {w}{suffix}",
                            cls(num_filters=f, filter_length=w, rngs=nnx.Rngs(seed)),
                            data,
                            s,
                            seed,
                            lr,
                            log=log,
                        )
                        for lr in s.learning_rates
                    ]
                )
            )
    if "kmer" in names:
        fits = []
        for alpha in s.kmer_alphas:
            started = time.perf_counter()
            ridge = baselines.KmerRegression(k=s.kmer, alpha=alpha).fit(x_tr, y_tr)
            fits.append(
                Fitted(
                    "kmer",
                    f"ridge on {s.kmer}-mers, α {alpha:g}",
                    ridge.predict,
                    ridge.n_parameters(),
                    time.perf_counter() - started,
                    spearman(ridge.predict(x_va), y_va),
                    1,
                    ridge,
                )
            )
        out.append(_best(fits))
    return out


def _check_models(models: Sequence[str]) -> tuple[str, ...]:
    for m in models:
        if m not in MODELS:
            raise ValueError(f"unknown PBM model {m!r}; choose from {', '.join(MODELS)}.")
    if "lsgm" in models and "hmm" not in models:
        raise ValueError("the LSGM starts at the trained motif HMM: include 'hmm' in the models.")
    return tuple(models)


def fit_all(
    data,
    s: PBMSettings,
    seed: int,
    models: Sequence[str],
    init_pwms=None,
    freeze_pwms: bool = False,
    log=None,
) -> list[Fitted]:
    """Every requested model on one ``(x_train, y_train, x_valid, y_valid)`` split."""
    fitted = []
    if "hmm" in models:
        fitted += fit_motif_models(
            data,
            s,
            seed,
            init_pwms=init_pwms,
            freeze_pwms=freeze_pwms,
            with_lsgm="lsgm" in models,
            log=log,
        )
    fitted += fit_baselines(data, s, seed, models, log)
    return fitted


def _split(x: np.ndarray, y: np.ndarray, s: PBMSettings, seed: int):
    train, valid = split_indices(len(x), (1 - s.valid_fraction, s.valid_fraction), seed=seed)
    return x[train], y[train], x[valid], y[valid]


def _row(f: Fitted, test_rho: float) -> dict:
    return {
        "model": f.name,
        "config": f.config,
        "parameters": f.n_parameters,
        "valid_spearman": f.valid_spearman,
        "test_spearman": test_rho,
        "seconds": f.seconds,
        "epochs": f.epochs,
        "best_epoch": f.best_epoch,
        "capped": f.capped,
        "pretrain_epochs": f.pretrain_epochs,
        "tried": f.tried,
    }


def run_pbm(
    train: PBMArray,
    test: PBMArray | None = None,
    *,
    models: Sequence[str] = MODELS,
    settings: PBMSettings = PBMSettings(),
    folds: int = 0,
    seed: int = 0,
    init_pwms: Sequence[np.ndarray] | None = None,
    freeze_pwms: bool = False,
    log=None,
) -> dict:
    """Table 2 on one TF: train/validate on ``train`` (array 1), Spearman ρ on ``test``
    (array 2), or ``folds``-fold cross-validation on ``train`` alone.

    Returns a JSON-ready dict: ``rows`` (per model: configuration, parameters, validation and
    test ρ, seconds; for cross-validation the mean and SD over folds), ``pwms`` (the learned
    motif-model PWMs, ``[W, 4]`` lists, per model), sizes and ``seconds``.
    """
    models = _check_models(models)
    if (test is None) == (folds < 2):
        raise ValueError(
            "give a test array (array 2) or folds >= 2 for cross-validation, not both."
        )
    s = settings
    started = time.perf_counter()
    train = _subset(train, s.max_train, seed)
    x_all = train.sequences
    y_all = normalise_intensities(train.intensities, "log")
    result: dict = {"train": train.path, "train_probes": len(train), "models": list(models)}
    if test is not None:
        test = _subset(test, s.max_test, seed + 1)
        result.update(test=test.path, test_probes=len(test))
        data = _split(x_all, y_all, s, seed)
        fitted = fit_all(data, s, seed, models, init_pwms, freeze_pwms, log)
        rows = []
        for f in fitted:
            rho = spearman(f.predict(test.sequences), test.intensities)
            rows.append(_row(f, rho))
            if log:
                log(
                    f"{f.name:10s} {f.config:32s} ρ valid {f.valid_spearman:.3f} "
                    f"test {rho:.3f} ({f.seconds:.0f} s)"
                )
        result["rows"] = rows
        result["pwms"] = {
            f.name: [p.tolist() for p in f.model.pwms()]
            for f in fitted
            if isinstance(f.model, motif_model.MotifModel)
        }
    else:
        per_fold: dict[str, list[dict]] = {}
        for k, (tr, te) in enumerate(kfold_indices(len(x_all), folds, seed=seed)):
            data = _split(x_all[tr], y_all[tr], s, seed + k)
            for f in fit_all(data, s, seed, models, init_pwms, freeze_pwms):
                rho = spearman(f.predict(x_all[te]), y_all[te])
                per_fold.setdefault(f.name, []).append(_row(f, rho))
                if log:
                    log(f"fold {k + 1}/{folds} {f.name:10s} ρ test {rho:.3f}")
        rows = []
        for fold_rows in per_fold.values():
            rhos = np.array([r["test_spearman"] for r in fold_rows])
            rows.append(
                {
                    **fold_rows[0],
                    "test_spearman": float(rhos.mean()),
                    "test_spearman_sd": float(rhos.std(ddof=1)),
                    "valid_spearman": float(np.mean([r["valid_spearman"] for r in fold_rows])),
                    "seconds": float(sum(r["seconds"] for r in fold_rows)),
                    "capped": any(r["capped"] for r in fold_rows),
                    "folds": [r["test_spearman"] for r in fold_rows],
                }
            )
        result["rows"] = rows
        result["folds"] = folds
    result["settings"] = dataclasses.asdict(s)
    result["seconds"] = time.perf_counter() - started
    return result


def run_pbm_seeds(
    train: PBMArray,
    test: PBMArray | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    log=None,
    **kwargs,
) -> dict:
    """:func:`run_pbm` once per seed (each its own 70:30 split of array 1, initialisation,
    minibatch order and, with ``max_train``/``max_test``, probe subsets), and per model the
    mean ± sample SD over seeds (:func:`lsgm.apps.seeds.summarise`) of the test ρ (array 2, or
    the cross-validation mean), the validation ρ and the seconds.

    Returns the first seed's :func:`run_pbm` result (its PWMs, sizes, settings) with ``rows``
    replaced by one summary row per model — ``test_spearman``/``_sd``,
    ``valid_spearman``/``_sd``, ``seconds``/``_sd``, ``parameters``, ``configs`` (the kept
    configuration per seed), ``epochs``/``best_epochs``/``pretrain_epochs`` (per seed),
    ``capped_seeds`` (seeds whose kept configuration reached the epoch cap) and ``per_seed``
    (the seeds' own rows) — plus ``seeds`` and the total ``seconds``.
    """
    seeds = check_seeds(seeds)
    started = time.perf_counter()
    runs = []
    for seed in seeds:
        if log:
            log(f"seed {seed} ({len(runs) + 1} of {len(seeds)})")
        runs.append(run_pbm(train, test, seed=seed, log=log, **kwargs))
    rows = []
    for j, first in enumerate(runs[0]["rows"]):
        per = [r["rows"][j] for r in runs]
        rows.append(
            {
                "model": first["model"],
                **summarise(per, ("test_spearman", "valid_spearman", "seconds")),
                "parameters": first["parameters"],
                "configs": [r["config"] for r in per],
                "epochs": [r["epochs"] for r in per],
                "best_epochs": [r.get("best_epoch") for r in per],
                "pretrain_epochs": [r.get("pretrain_epochs", 0) for r in per],
                "capped_seeds": [s for s, r in zip(seeds, per, strict=True) if r["capped"]],
                "per_seed": per,
            }
        )
    return {**runs[0], "rows": rows, "seeds": seeds, "seconds": time.perf_counter() - started}
