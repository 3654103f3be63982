"""The LSGM paper's synthetic studies: generators (determinism, documented statistics, exact
oracle likelihoods) and the two ``--quick`` experiments with their qualitative results."""

import itertools
import json

import numpy as np
import pytest
from scipy.special import logsumexp

import lsgm
from lsgm.apps import synthetic as S
from lsgm.cli.main import main
from lsgm.distributions import Gaussian

PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ λ-process
def test_lambda_generator_is_deterministic_and_shares_its_system():
    a = S.generate_lambda_data(20, 0.5, length=6, seed=3)
    b = S.generate_lambda_data(20, 0.5, length=6, seed=3)
    c = S.generate_lambda_data(20, 0.5, length=6, seed=4)
    assert a.x.shape == (20, 6, 4) and a.x.dtype == np.float32 and a.states.shape == (20, 6)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.states, b.states)
    assert not np.array_equal(a.x, c.x)
    s0, s1 = S.lambda_system(0), S.lambda_system(0)
    np.testing.assert_array_equal(s0.w_h, s1.w_h)
    assert s0.w_h.shape == (33, 99) and s0.w_x.shape == (4, 99)  # 33 = 12 + 12 + 9
    np.testing.assert_allclose(s0.switch.sum(1), 1.0)


def test_lambda_zero_is_the_static_hmm_with_the_documented_parameters():
    system = S.lambda_system(0)
    # the quick experiment's test-set shape and HMM structure: the scorer compiles once
    data = S.generate_lambda_data(300, 0.0, seed=1, return_params=True)
    np.testing.assert_allclose(data.means, np.broadcast_to(system.means, data.means.shape))
    np.testing.assert_allclose(data.variances, np.broadcast_to(system.variances, data.means.shape))
    x, z = data.x.reshape(-1, 4).astype(np.float64), data.states.ravel()
    for k in range(3):
        xk = x[z == k]
        se = np.sqrt(system.variances[k] / len(xk))
        assert np.all(np.abs(xk.mean(0) - system.means[k]) < 5 * se)
        np.testing.assert_allclose(xk.var(0), system.variances[k], rtol=0.15)
    pairs = np.zeros((3, 3))
    np.add.at(pairs, (data.states[:, :-1].ravel(), data.states[:, 1:].ravel()), 1)
    np.testing.assert_allclose(pairs / pairs.sum(1, keepdims=True), system.switch, atol=0.04)
    assert np.all(np.abs(np.bincount(data.states[:, 0], minlength=3) / 300 - 1 / 3) < 0.1)
    # the oracle equals the likelihood of that HMM (full-covariance form, diagonal matrices)
    covariances = np.stack([np.diag(v) for v in system.variances])
    hmm = lsgm.HMM.from_probs(
        np.full(3, 1 / 3), system.switch, Gaussian.from_params(system.means, covariances, "full")
    )
    np.testing.assert_allclose(
        S.generator_log_likelihood(data), hmm.score_samples(list(data.x)), rtol=2e-5, atol=2e-4
    )


def test_lambda_process_draws_from_its_history_driven_distributions():
    lam = 0.5
    data = S.generate_lambda_data(2000, lam, length=8, seed=2, return_params=True)
    system = S.lambda_system(0)
    rows, steps = np.arange(2000)[:, None], np.arange(8)[None]
    means = data.means[rows, steps, data.states]  # [N, T, D]
    variances = data.variances[rows, steps, data.states]
    resid = (data.x - means) / np.sqrt(variances)
    assert abs(resid.mean()) < 0.02 and abs(resid.var() - 1) < 0.03
    # mixing: λ̄·static + λ·f(history) with positive f-variances and normalised f-rows
    f_var = (data.variances - (1 - lam) * system.variances) / lam
    bounds = system.scales.variance * np.exp([-1.0, 1.0])  # variance · exp(h), h in (-1, 1)
    assert f_var.min() > bounds[0] - 1e-9 and f_var.max() < bounds[1] + 1e-9
    probs = np.exp(data.log_trans)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    f_switch = (probs - (1 - lam) * system.switch) / lam
    assert f_switch.min() > 0 and f_switch.std() > 0.05  # history really moves the switch
    # realised transitions follow the per-step probabilities (expected vs observed counts)
    prev, nxt = data.states[:, :-1], data.states[:, 1:]
    chosen = np.take_along_axis(probs, prev[..., None, None].repeat(3, -2), -2)[..., 0, :]
    expected = chosen.sum((0, 1))
    observed = np.bincount(nxt.ravel(), minlength=3)
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected))


def test_the_oracle_is_the_sum_over_all_regime_paths():
    for data in (
        S.generate_lambda_data(3, 1.0, length=4, seed=5, return_params=True),
        S.generate_scalar_data(3, length=4, seed=5, return_params=True),
    ):
        got = S.generator_log_likelihood(data)
        for n in range(3):
            scores = [
                data.log_init[z[0]]
                + sum(data.log_trans[n, t - 1, z[t - 1], z[t]] for t in range(1, 4))
                + sum(data.log_emit[n, t, z[t]] for t in range(4))
                for z in itertools.product(range(3), repeat=4)
            ]
            assert got[n] == pytest.approx(logsumexp(scores), abs=1e-9)


# ------------------------------------------------------------------ scalar process
def test_scalar_generator_follows_its_documented_rules():
    a = S.generate_scalar_data(1500, seed=7)
    b = S.generate_scalar_data(1500, seed=7)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (1500, 25, 1)
    sys_ = S.ScalarSystem()
    x, z = a.x[..., 0].astype(np.float64), a.states
    first = x[:, 0]
    assert abs(first.mean() - 1.0) < 0.03 and abs(first.std() - 0.3) < 0.02
    resid = x[:, 1:] - sys_.factors[z[:, 1:]] * x[:, :-1]
    assert abs(resid.mean()) < 1e-3 and abs(resid.std() / sys_.noise - 1) < 0.05
    # the target regime (from the mean of the last 5 emissions) is taken 90% of the time
    hits = total = 0
    for t in range(1, 25):
        m = x[:, max(0, t - 5) : t].mean(1)
        target = np.where(m < 0.8, 0, np.where(m > 1.6, 2, z[:, t - 1]))
        hits += (z[:, t] == target).sum()
        total += len(target)
    assert abs(hits / total - 0.9) < 0.01
    # after the start the oscillation stays between about 0.7 and 1.9 (5th / 95th percentile)
    low, high = np.percentile(x[:, 10:], [5, 95])
    assert 0.6 < low < 0.8 and 1.7 < high < 2.0


def test_bad_generator_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="lam must be in"):
        S.generate_lambda_data(5, 1.5)
    with pytest.raises(ValueError, match="num_sequences and length"):
        S.generate_scalar_data(0)
    with pytest.raises(ValueError, match="return_params=True"):
        S.generator_log_likelihood(S.generate_scalar_data(2, length=3))
    assert main(["experiment", "synthetic-lambda", "--lambdas", "2", "--quiet"]) == 1


# ------------------------------------------------------------------ the experiments
@pytest.mark.slow
def test_lambda_sweep_quick(tmp_path, capsys):
    out = tmp_path / "lam"
    code = main(["experiment", "synthetic-lambda", "--quick", "-o", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "results.json").read_text())
    rows = {r["lambda"]: r for r in result["rows"]}
    assert set(rows) == {0.0, 1.0}
    # λ = 0: the data is an HMM; the LSGM is within noise of the HMM
    r0 = rows[0.0]
    assert abs(r0["lsgm"] - r0["hmm"]) < r0["hmm_se"]
    assert abs(r0["hmm"] - r0["oracle"]) < r0["hmm_se"]
    # λ = 1: long-range structure; the LSGM is better, well beyond the paired noise
    r1 = rows[1.0]
    assert r1["difference"] > 3 * r1["difference_se"] and r1["lsgm"] > r1["hmm"]
    assert r1["oracle"] > r1["lsgm"]
    assert r1["difference"] == pytest.approx(r1["lsgm"] - r1["hmm"], abs=1e-9)
    counts = result["parameters"]
    assert counts["hmm"] == 2 + 6 + 12 + 30 and counts["hmm_paper_count"] == 68
    # 1-unit GRU on R^4 (12 + 3 + 3 + 3 + 1 initial state), transition head 1 -> 9 (18) and
    # static logits (9 + 3), emission bias 3x8 and per-state nets 3x(1 + 1 + 8 + 8); the static
    # Gaussians, which no conditioned emission reads, are not counted
    assert counts["lsgm"] == 22 + 30 + 24 + 54
    text = (out / "results.md").read_text()
    assert "LSGM − HMM" in text and "68" in text
    pictures = sorted(out.glob("*.png"))
    assert len(pictures) == 2 and all(p.read_bytes()[:8] == PNG for p in pictures)


@pytest.mark.slow
def test_scalar_study_quick(tmp_path, capsys):
    out = tmp_path / "scalar"
    code = main(["experiment", "synthetic-scalar", "--quick", "-o", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    n = result["observations"]
    assert n == 200 * 25
    for r in result["hmms"]:
        assert (
            r["parameters"] == r["states"] - 1 + r["states"] * (r["states"] - 1) + 2 * r["states"]
        )
        assert r["bic"] == pytest.approx(-2 * r["log_likelihood"] + r["parameters"] * np.log(n))
    assert result["best"] == min(result["hmms"], key=lambda r: r["bic"])
    (lsgm_row,) = result["lsgms"]
    assert lsgm_row["states"] == 10 and lsgm_row["order"] == 0
    best = result["best"]
    assert lsgm_row["train_ll"] > best["train_ll"] and lsgm_row["test_ll"] > best["test_ll"]
    assert result["oracle_test_ll"] > lsgm_row["test_ll"]
    assert (out / "bic_curve.png").read_bytes()[:8] == PNG
    text = (out / "results.md").read_text()
    assert "BIC-selected" in text and "chosen on validation" in text
    # one seed: the summary is that seed's numbers, with no SD
    summary = result["summary"]
    assert result["seeds"] == [0] and len(result["per_seed"]) == 1 and result["chosen"] == 0
    assert summary["best"]["test_ll"] == best["test_ll"] and summary["best"]["test_ll_sd"] is None
    assert summary["chosen"]["parameter_ratio"] == pytest.approx(lsgm_row["parameter_ratio"])
    assert summary["chosen"]["seeds_meeting_target"] == int(
        lsgm_row["parameter_ratio"] >= 10 and lsgm_row["test_ll"] > best["test_ll"]
    )
    assert main(["experiment", "synthetic-scalar", "--quick", "--seeds", "0", "-o", str(out)])
    assert "--seeds must be a positive integer; got 0" in capsys.readouterr().err


def test_lambda_calibration_quick(tmp_path, capsys):
    out = tmp_path / "cal"
    code = main(
        ["experiment", "synthetic-lambda", "--calibrate", "--quick", "-o", str(out), "--json"]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "calibration.json").read_text())
    rows = result["rows"]
    assert len(rows) == 2 and rows[0]["rms"] <= rows[1]["rms"]
    paper = {float(k): v[0] for k, v in S.PAPER_TABLE1.items()}
    for r in rows:
        scores = {float(k): v for k, v in r["hmm"].items()}
        assert set(scores) == set(paper)
        want = np.sqrt(np.mean([(scores[k] - paper[k]) ** 2 for k in paper]))
        assert r["rms"] == pytest.approx(want)
    # the two candidates share the static variances: the same λ = 0 score
    assert rows[0]["hmm"]["0.0"] == rows[1]["hmm"]["0.0"]
    assert "paper HMM" in (out / "calibration.md").read_text()


def test_lambda_scales_option_changes_the_generator(tmp_path, capsys):
    default = S.generate_lambda_data(5, 1.0, length=4, seed=1)
    wider = S.generate_lambda_data(5, 1.0, length=4, seed=1, scales=S.LambdaScales(mean=6.0))
    assert not np.array_equal(default.x, wider.x)
    np.testing.assert_array_equal(  # λ = 0 reads only the static variance factor
        S.generate_lambda_data(5, 0.0, seed=1, scales=S.LambdaScales(mean=6.0, variance=1.0)).x,
        S.generate_lambda_data(5, 0.0, seed=1).x,
    )
    code = main(
        ["experiment", "synthetic-lambda", "--scales", "1", "0", "0.1", "-o", str(tmp_path / "x")]
    )
    assert code != 0 and "--scales must be three positive numbers" in capsys.readouterr().err


def _sweep(gaps):
    return {
        "rows": [{"lambda": lam, "difference": g} for lam, g in zip((0, 0.5, 1), gaps, strict=True)]
    }


def test_summarise_systems_pairs_the_gaps_of_each_system():
    sweeps = [_sweep([0.0, 0.2, 0.1]), _sweep([0.0, 0.1, 0.5]), _sweep([0.0, 0.3, 0.6])]
    s = S.summarise_systems(sweeps)
    gaps = np.array([[0.0, 0.2, 0.1], [0.0, 0.1, 0.5], [0.0, 0.3, 0.6]])
    np.testing.assert_allclose(s["mean"], gaps.mean(0))
    np.testing.assert_allclose(s["se"], gaps.std(0, ddof=1) / np.sqrt(3))
    steps = np.diff(gaps, axis=1)
    np.testing.assert_allclose([st["mean"] for st in s["steps"]], steps.mean(0))
    np.testing.assert_allclose([st["se"] for st in s["steps"]], steps.std(0, ddof=1) / np.sqrt(3))
    assert [st["grows"] for st in s["steps"]] == [3, 2]
    assert s["ahead"] == [0, 3, 3] and s["monotone"] == 2 and s["systems"] == 3
    with pytest.raises(ValueError, match="same λ values"):
        S.summarise_systems([_sweep([0, 1, 2]), {"rows": [{"lambda": 0, "difference": 0}]}])


def test_lambda_sweep_over_several_systems(tmp_path, capsys):
    out = tmp_path / "systems"
    argv = [
        "experiment",
        "synthetic-lambda",
        "--quick",
        "--systems",
        "2",
        "--seed",
        "3",
        "--train",
        "60",
        "--valid",
        "30",
        "--test",
        "60",
        "--epochs",
        "3",
        "-o",
        str(out),
        "--json",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert [s["seed"] for s in result["systems"]] == [3, 4]
    # the systems differ (another random generator each), the summary is over them
    hmm = [[r["hmm"] for r in s["rows"]] for s in result["systems"]]
    assert hmm[0] != hmm[1]
    gaps = [[r["difference"] for r in s["rows"]] for s in result["systems"]]
    assert result["summary"]["gaps"] == gaps
    assert result["summary"]["mean"] == pytest.approx(np.mean(gaps, axis=0).tolist())
    assert "mean ± SE (2)" in (out / "results.md").read_text()
    assert (out / "gaps.png").read_bytes()[:8] == PNG
