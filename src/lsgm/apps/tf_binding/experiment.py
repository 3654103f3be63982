"""The PBM experiment of the LSGM paper (§3.2, Table 2): HMM, DeepBind, DeeperBind and LSGM
predicting probe intensities, trained and validated on array 1, tested on array 2.

Protocol (paper §3.2): array 1 is split 70:30 into training and validation probes (random,
``seed``); every model is trained with the same flow (:func:`~lsgm.apps.tf_binding.regression.
fit_regression`: MSE, Adam, early stopping on the validation Spearman ρ); where a model has
several configurations the one with the best validation ρ is kept ("the best performing
architectures are picked for each model"), and the kept models are scored by Spearman's ρ on
array 2. With a single array, ``folds`` > 1 runs K-fold cross-validation instead (each fold's
training part split 70:30 again for early stopping).

Intensities are modelled as ``y = log(I − min I + 1)`` of array 1 (monotone, so ρ is
unchanged; it tames the heavy upper tail for the squared error).

Models (each keeps its parameter count and training time):

* ``hmm``: :class:`~lsgm.apps.tf_binding.motif_model.MotifModel` with static transitions
  (M motifs of width W plus a background state, both strands), seeded from the most enriched
  k-mers of the training probes (or from JASPAR/MEME motifs given by the caller);
* ``lsgm``: the paper's half LSGM — the same model with transitions from a 2-layer LSTM, started
  exactly at the trained ``hmm`` (zero-initialised head) and trained further;
* ``deepbind`` (16 filters × 24 and 5 × 11) and ``deeperbind`` (16 × 11 and 5 × 11):
  :mod:`~lsgm.apps.tf_binding.baselines`;
* ``kmer``: ridge regression on 8-mer counts (both strands), a cheap reference.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
from flax import nnx

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
    """Model sizes and training settings (defaults: the paper's shared 5 motifs × 11)."""

    num_motifs: int = 5
    motif_width: int = 11
    both_strands: bool = True
    lsgm_hidden: int = 32
    lsgm_layers: int = 2
    motif_learning_rate: float = 1e-2
    learning_rate: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 30
    patience: int = 4
    valid_fraction: float = 0.3
    deepbind_configs: tuple[tuple[int, int], ...] = ((16, 24), (5, 11))
    deeperbind_configs: tuple[tuple[int, int], ...] = ((16, 11), (5, 11))
    kmer: int = 8
    max_train: int | None = None  # at most this many array-1 probes (random subset)
    max_test: int | None = None


#: ``--quick`` (tests): one motif of width 8, tiny networks, a few epochs on a few hundred probes.
QUICK = PBMSettings(
    num_motifs=1,
    motif_width=8,
    lsgm_hidden=8,
    lsgm_layers=1,
    motif_learning_rate=3e-2,
    learning_rate=1e-2,
    batch_size=64,
    max_epochs=4,
    patience=2,
    deepbind_configs=((4, 8),),
    deeperbind_configs=((4, 8),),
    kmer=5,
)


@dataclasses.dataclass
class Fitted:
    """One trained model: ``predict(x) -> [N]``, its configuration and bookkeeping."""

    name: str
    config: str
    predict: Callable[[np.ndarray], np.ndarray]
    n_parameters: int
    seconds: float
    valid_spearman: float
    epochs: int
    model: object = None


def _subset(array: PBMArray, limit: int | None, seed: int) -> PBMArray:
    if limit is None or limit >= len(array):
        return array
    rng = np.random.default_rng(seed)
    return array.subset(np.sort(rng.choice(len(array), limit, replace=False)))


def _train_net(
    name, config, model, data, s: PBMSettings, seed, lr, freeze=None, log=None
) -> Fitted:
    x_tr, y_tr, x_va, y_va = data
    if log:
        log(f"training {name} ({config}) on {len(x_tr):,} probes")
    started = time.perf_counter()
    history = fit_regression(
        model,
        x_tr,
        y_tr,
        x_valid=x_va,
        y_valid=y_va,
        learning_rate=lr,
        batch_size=s.batch_size,
        max_epochs=s.max_epochs,
        patience=s.patience,
        freeze=freeze,
        seed=seed,
    )
    return Fitted(
        name,
        config,
        lambda x, m=model: predict(m, x),
        count_parameters(model, freeze),
        time.perf_counter() - started,
        float(max(history.valid_spearman)),
        history.epochs,
        model,
    )


def _best(candidates: list[Fitted]) -> Fitted:
    return max(candidates, key=lambda f: f.valid_spearman)


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
    """The static-transition motif HMM, then (``with_lsgm``) the LSTM-transition LSGM started
    at it. ``init_pwms``: ``M`` ``[W, 4]`` PWMs (else seeded from enriched k-mers)."""
    x_tr, y_tr, _, _ = data
    if init_pwms is None:
        init_pwms = motif_model.seed_from_kmers(
            x_tr, y_tr, s.motif_width, num_motifs=s.num_motifs, k=min(8, s.motif_width)
        )
    widths = [len(p) for p in init_pwms]
    hmm = motif_model.MotifModel(
        len(init_pwms),
        widths,
        transitions="static",
        both_strands=s.both_strands,
        init_pwms=init_pwms,
        rngs=nnx.Rngs(seed),
    )
    hmm.init_readout(y_tr, x_tr)
    freeze = nnx.PathContains("pwm") if freeze_pwms else None
    config = f"{len(widths)} motif(s) × {max(widths)}" + (", strands ±" if s.both_strands else "")
    out = [_train_net("hmm", config, hmm, data, s, seed, s.motif_learning_rate, freeze, log)]
    if with_lsgm:
        lsgm = motif_model.MotifModel.from_static(
            hmm,
            rnn="lstm",
            hidden_size=s.lsgm_hidden,
            num_layers=s.lsgm_layers,
            rngs=nnx.Rngs(seed + 1),
        )
        config_l = f"{config}, LSTM {s.lsgm_layers}×{s.lsgm_hidden}"
        out.append(_train_net("lsgm", config_l, lsgm, data, s, seed, s.learning_rate, freeze, log))
    return out


def fit_baselines(data, s: PBMSettings, seed: int, names: Sequence[str], log=None) -> list[Fitted]:
    """DeepBind / DeeperBind (best configuration by validation ρ) and k-mer ridge."""
    x_tr, y_tr, x_va, y_va = data
    out = []
    networks = (
        ("deepbind", baselines.DeepBind, s.deepbind_configs, ""),
        ("deeperbind", baselines.DeeperBind, s.deeperbind_configs, ", LSTM"),
    )
    for name, cls, configs, suffix in networks:
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
                            s.learning_rate,
                            log=log,
                        )
                        for f, w in configs
                    ]
                )
            )
    if "kmer" in names:
        started = time.perf_counter()
        ridge = baselines.KmerRegression(k=s.kmer).fit(x_tr, y_tr)
        out.append(
            Fitted(
                "kmer",
                f"ridge on {s.kmer}-mers",
                ridge.predict,
                ridge.n_parameters(),
                time.perf_counter() - started,
                spearman(ridge.predict(x_va), y_va),
                1,
                ridge,
            )
        )
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
                    "folds": [r["test_spearman"] for r in fold_rows],
                }
            )
        result["rows"] = rows
        result["folds"] = folds
    result["settings"] = dataclasses.asdict(s)
    result["seconds"] = time.perf_counter() - started
    return result
