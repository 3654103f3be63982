"""A new emission family is one class: this module adds a geometric family (the class below is
the only thing it adds to the library) and checks that it works everywhere the built-in
families do — EM, gradient training, the LSGM, model files, plots and ``lsgm fit``."""

import json
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm import plots
from lsgm.cli.main import main
from lsgm.data.checkpoints import read_checkpoint, save_checkpoint
from lsgm.distributions import Emission, EmissionSummary, NetworkHead, registry
from lsgm.models.serialization import _digest, load_model, model_config, save_model
from lsgm.training import fit_em, fit_gradient

#: The clamp of the geometric success probabilities (keeps every logit finite).
P_MIN = 1e-6


class Geometric(Emission):
    """``K`` products of ``D`` independent geometric distributions on the counts 0, 1, 2, ...

    With ``p[k, d] = sigmoid(logits[k, d])`` (the success probability):

        log p(x_t | z_t = k) = sum_d log p[k, d] + x_td log(1 - p[k, d])

    Weighted MLE (the M-step): ``p[k, d] = W_k / (W_k + S_kd)`` with ``W_k = sum_n w[n, k]``
    and ``S_kd = sum_n w[n, k] x[n, d]``, clamped to ``[P_MIN, 1 - P_MIN]`` (the maximiser of
    the concave ``W log p + S log(1 - p)`` on that interval, so EM stays monotone).
    """

    name = "geometric"
    config_fields = ("dim",)
    stored_sizes = (("dim", "logits", 1),)

    def __init__(self, num_states: int, dim: int, *, rngs: nnx.Rngs | None):
        self.num_states, self.dim = int(num_states), int(dim)
        init = 0.5 * jax.random.normal(rngs.params(), (num_states, dim)) if rngs else None
        self.logits = nnx.Param(jnp.zeros((num_states, dim)) if init is None else init)

    @staticmethod
    def log_prob_from_logits(logits: jax.Array, x: jax.Array) -> jax.Array:
        """``[T, K]`` from ``logits [K, D]`` or ``[T, K, D]`` and counts ``x [T, D]``; NaN rows
        for invalid counts (negative, non-integer, non-finite)."""
        x = jnp.asarray(x, logits.dtype)
        bad = jnp.where(jnp.isfinite(x) & (x >= 0) & (x == jnp.round(x)), 0.0, jnp.nan)
        x = x[:, None, :]
        terms = jax.nn.log_sigmoid(logits) + x * jax.nn.log_sigmoid(-logits)
        return jnp.sum(terms + bad[:, None, :], axis=-1)

    def log_prob(self, x: jax.Array) -> jax.Array:
        return self.log_prob_from_logits(self.logits[...], x)

    def m_step(self, x: jax.Array, weights: jax.Array, prior: None = None) -> None:
        weights = jnp.asarray(weights, self.logits[...].dtype)
        total = weights.sum(0)[:, None]  # W_k
        counts = weights.T @ jnp.asarray(x, weights.dtype)  # S_kd
        p = jnp.clip(total / jnp.maximum(total + counts, 1e-30), P_MIN, 1 - P_MIN)
        self.logits[...] = jnp.log(p) - jnp.log1p(-p)

    def n_parameters(self) -> int:
        return self.num_states * self.dim

    def check_data(self, x: np.ndarray, where: str) -> None:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim or x.shape[0] == 0:
            raise ValueError(f"{where}: expected a non-empty [T, {self.dim}] array of counts.")
        if x.dtype.kind not in "iuf" or not np.all(np.isfinite(x)):
            raise ValueError(f"{where}: counts must be finite numbers.")
        if np.any(x < 0) or np.any(x != np.round(x)):
            raise ValueError(f"{where}: geometric counts must be integers >= 0.")

    def sample(self, key: jax.Array, states: jax.Array) -> jax.Array:
        p = jax.nn.sigmoid(self.logits[...][states])
        return jax.random.geometric(key, p) - 1  # failures before the first success

    def summary(self) -> EmissionSummary:
        means = np.exp(-np.asarray(self.logits[...]))  # (1 - p) / p
        return EmissionSummary(means, "poisson", "Emission mean counts per state", "mean count")

    def network_head(self) -> NetworkHead:
        return self._head(self.dim)

    @staticmethod
    @cache
    def _head(D: int) -> NetworkHead:
        """Raw outputs are the logits; the RNN reads ``log1p`` of the counts."""

        def encode(x: jax.Array) -> jax.Array:
            x = jnp.asarray(x, jnp.result_type(float))
            valid = jnp.all(jnp.isfinite(x) & (x >= 0), -1)
            return jnp.where(valid[:, None], jnp.log1p(jnp.maximum(x, 0)), jnp.nan)

        return NetworkHead(
            num_params=D,
            input_dim=D,
            bias=lambda em: em.logits[...],
            log_prob=Geometric.log_prob_from_logits,
            encode=encode,
            sample=lambda key, raw: jax.random.geometric(key, jax.nn.sigmoid(raw)) - 1,
            table=lambda raw: jnp.exp(-raw),
        )


K, D = 2, 2


def _data(n: int = 6, T: int = 40, seed: int = 0) -> list[np.ndarray]:
    """Counts from a 2-state geometric HMM: sticky states with means 0.5 and 5."""
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(n):
        z = np.cumsum(rng.random(T) < 0.1) % 2
        p = np.where(z == 0, 2 / 3, 1 / 6)[:, None]
        xs.append(rng.geometric(np.broadcast_to(p, (T, D))) - 1)
    return xs


def _hmm(seed: int = 0) -> lsgm.HMM:
    return lsgm.HMM(K, Geometric(K, D, rngs=nnx.Rngs(seed)), rngs=nnx.Rngs(seed + 1))


def test_the_family_is_registered_by_its_name():
    assert registry.family("geometric") is Geometric
    assert "geometric" in registry.family_names()
    with pytest.raises(
        ValueError, match=r"unknown emission family 'geometrc'; known: \[.*'geometric'"
    ):
        registry.family("geometrc")


def test_em_is_monotone_and_recovers_the_means():
    model = _hmm()
    _, history = fit_em(model, _data(), max_iter=40, tol=0.0)
    ll = np.array(history.log_likelihoods)
    assert np.all(np.diff(ll) >= -1e-4 * np.abs(ll[:-1])), ll
    means = np.sort(model.emission.summary().values.mean(1))
    np.testing.assert_allclose(means, [0.5, 5.0], rtol=0.5)


def test_gradient_training_lowers_the_nll():
    model = _hmm(seed=3)
    xs = _data()
    before = -float(model.score(xs))
    _, history = fit_gradient(model, xs, epochs=15, batch_size=3)
    assert history.train_nll[-1] < history.train_nll[0]
    assert -float(model.score(xs)) < before


def test_lsgm_starts_at_the_hmm_and_trains():
    hmm = _hmm()
    fit_em(hmm, _data(), max_iter=10)
    model = lsgm.LSGM.from_hmm(hmm, hidden_size=4, embedding_dim=2, rngs=nnx.Rngs(0))
    xs = _data(seed=1)
    # network outputs start at zero: the LSGM is the HMM exactly
    np.testing.assert_allclose(float(model.score(xs)), float(hmm.score(xs)), rtol=1e-5)
    _, history = fit_gradient(model, xs, epochs=3, batch_size=3)
    assert len(history.train_nll) == 3 and np.isfinite(history.train_nll).all()
    z, x = model.sample(12, jax.random.key(0))
    assert x.shape == (12, D) and np.all(np.asarray(x) >= 0)


@pytest.mark.parametrize("kind", ["HMM", "LSGM"])
def test_model_file_round_trip(kind, tmp_path):
    model = _hmm()
    if kind == "LSGM":
        model = lsgm.LSGM(K, model.emission, hidden_size=4, embedding_dim=2, rngs=nnx.Rngs(2))
        model.eval()
    save_model(tmp_path / "g.lsgm", model, info={"note": kind})
    loaded, info = load_model(tmp_path / "g.lsgm")
    config = model_config(loaded)
    assert info == {"note": kind} and config == model_config(model)
    assert config["emission"] == {"family": "geometric", "dim": D}
    x = _data(n=1)[0]
    assert float(loaded.log_prob(x)) == float(model.log_prob(x))


def test_a_file_whose_sizes_were_edited_is_refused(tmp_path):
    save_model(tmp_path / "g.lsgm", _hmm())
    arrays, _, meta = read_checkpoint(tmp_path / "g.lsgm")
    meta["emission"]["dim"] = 5  # the stored logits are [2, 2]: the family's stored_sizes
    meta["sha256"] = _digest(arrays, meta)
    save_checkpoint(tmp_path / "bad.lsgm", nnx.state(_hmm()), meta)
    with pytest.raises(ValueError, match="metadata says emission dim = 5"):
        load_model(tmp_path / "bad.lsgm")


@pytest.mark.parametrize("kind", ["HMM", "LSGM"])
def test_plots(kind, tmp_path):
    model = _hmm()
    if kind == "LSGM":
        model = lsgm.LSGM.from_hmm(model, hidden_size=4, embedding_dim=2, rngs=nnx.Rngs(0))
    x = _data(n=1, T=12)[0]
    s = plots.summarise(model, x)
    expected = np.exp(-np.asarray(model.emission.logits[...]))
    np.testing.assert_allclose(s.emissions, expected, rtol=1e-4)  # from_hmm: the HMM's means
    assert (s.emission_kind, s.emission_title) == ("poisson", "Emission mean counts per state")
    written = plots.plot_model(model, x, tmp_path / kind)
    assert {p.name for p in written} >= {"emissions.png", "posteriors.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_cli_fit_score_and_plot(tmp_path, capsys):
    xs = _data(n=1, T=120)
    np.save(tmp_path / "counts.npy", xs[0].astype(np.int64))
    out = tmp_path / "g.lsgm"
    argv = ["fit", str(tmp_path / "counts.npy"), "--emission", "geometric", "--states", "2"]
    assert main([*argv, "--max-iter", "15", "-o", str(out), "--json", "--quiet"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["emission"] == "geometric" and fit["kind"] == "HMM"
    ll = fit["history"]["log_likelihood"]
    assert all(b >= a - 1e-3 * abs(a) for a, b in zip(ll, ll[1:], strict=False))
    assert main(["score", str(out), str(tmp_path / "counts.npy"), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["log_likelihood"] == pytest.approx(fit["log_likelihood"], rel=1e-5)
    assert main(["plot", str(out), str(tmp_path / "counts.npy"), "-o", str(tmp_path / "pl")]) == 0
    assert (tmp_path / "pl" / "emissions.png").read_bytes()[:4] == b"\x89PNG"
    # an option no geometric model reads is refused, naming the families that read it
    assert main([*argv, "--covariance", "full", "-o", str(tmp_path / "x.lsgm")]) != 0
    err = capsys.readouterr().err
    assert (
        "--covariance 'full' would be ignored: it acts only with --emission gaussian or gmm" in err
    )
