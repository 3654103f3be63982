"""CpG islands: the bundled data, the three models, per-base scores and BED intervals.

Known truths: the data set's own counts (``data/SOURCE.md``: 1,103 windows of 2,000 bases,
357,198 island labels), the UCSC hg19 ``cpgIslandExt`` entries of the first two islands
(``chr1 135124 135563`` and ``chr1 327790 328229``, 0-based BED), dinucleotide counts by
hand, and scikit-learn's precision/recall/F1.
"""

import gzip

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from lsgm.apps import seeds
from lsgm.apps.genomics import cpg
from lsgm.datasets.cpg import Window, load_cpg_islands


@pytest.fixture(scope="module")
def windows():
    return load_cpg_islands()


@pytest.fixture(scope="module")
def quick_seeds():
    return cpg.run_cpg_seeds(quick=True, seeds=(0,))


@pytest.fixture(scope="module")
def quick_results(quick_seeds):
    return quick_seeds["first"]


def _window(bases: str, labels: str, start: int = 100, chrom: str = "chrT") -> Window:
    eye = np.eye(4, dtype=np.float32)
    rows = [eye["ACGT".index(b)] if b != "N" else np.full(4, 0.25, np.float32) for b in bases]
    x = np.array(rows) if "N" in bases else np.array(["ACGT".index(b) for b in bases], np.int32)
    y = np.array([int(c) for c in labels], np.int32)
    return Window(f"{chrom}:{start + 1}-{start + len(bases)}", chrom, start, x, y)


# ------------------------------------------------------------------ data
def test_bundled_windows_match_the_published_counts(windows):
    assert len(windows) == 1103
    assert {len(w.labels) for w in windows} == {2000}
    assert {w.x.shape[0] for w in windows} == {2000}
    assert sum(int(w.labels.sum()) for w in windows) == 357_198
    assert {w.chrom for w in windows} == {"chr1"}
    soft = [w for w in windows if w.is_soft]
    assert [w.name for w in soft] == ["chr1:148175624-148177623"]  # the one window with N
    uniform = np.all(np.isclose(soft[0].x, 0.25), axis=1)
    assert uniform.sum() == 415  # SOURCE.md: 415 N bases
    np.testing.assert_allclose(soft[0].x.sum(1), 1.0)
    first = windows[0]
    assert (first.name, first.chrom, first.start, first.end) == (
        "chr1:134858-136857",
        "chr1",
        134857,  # header coordinates are 1-based inclusive
        136857,
    )


def test_header_coordinates_put_the_islands_on_the_ucsc_track(windows):
    truth = [w.labels.astype(bool) for w in windows[:2]]
    got = [(iv.chrom, iv.start, iv.end) for iv in cpg.calls_to_intervals(truth, windows[:2])]
    # UCSC hg19 cpgIslandExt: "chr1 135124 135563 CpG: 30" and "chr1 327790 328229 CpG: 29"
    assert got == [("chr1", 135124, 135563), ("chr1", 327790, 328229)]


def _write(path, text: str) -> str:
    with gzip.open(path, "wt") as f:
        f.write(text)
    return str(path)


@pytest.mark.parametrize(
    "seq, lbl, match",
    [
        (">chr1:1-4\nACGT\n>chr1:5-8\nACGT\n", ">chr1:1-4\nNNCC\n", "2 records but .* has 1"),
        (">chr1:1-4\nACGT\n", ">chr1:2-5\nNNCC\n", r"record 1 \(chr1:1-4\): the label file's"),
        (">chr1:1-4\nACGT\n", ">chr1:1-4\nNNC\n", r"record 1 \(chr1:1-4\): 4 bases but 3 labels"),
        (">chr1:1-4\nACGT\n", ">chr1:1-4\nNNXC\n", r"position 3: unknown letter 'X'.*C \(island\)"),
        (">chr1:1-5\nACGT\n", ">chr1:1-5\nNNCC\n", "spans 5 bases .* but the record has 4"),
        (">window7\nACGT\n", ">window7\nNNCC\n", "header 'window7' is not 'chrom:first-last'"),
    ],
)
def test_inconsistent_files_fail_naming_the_record(tmp_path, seq, lbl, match):
    s = _write(tmp_path / "s.fa.gz", seq)
    l = _write(tmp_path / "l.fa.gz", lbl)
    with pytest.raises(ValueError, match=match):
        load_cpg_islands(s, l)


def test_small_files_load_with_their_coordinates(tmp_path):
    s = _write(tmp_path / "s.fa.gz", ">chr2:11-16\nACNGTa\n")
    l = _write(tmp_path / "l.fa.gz", ">chr2:11-16\nNCCCNN\n")
    (w,) = load_cpg_islands(s, l)
    assert (w.chrom, w.start, w.end) == ("chr2", 10, 16)
    np.testing.assert_array_equal(w.labels, [0, 1, 1, 1, 0, 0])
    assert w.x.shape == (6, 4) and np.allclose(w.x[2], 0.25) and w.x[5, 0] == 1.0
    with pytest.raises(ValueError, match="ambiguous IUPAC code 'N'"):
        load_cpg_islands(s, l, ambiguous="error")


def test_split_is_deterministic_and_disjoint(windows):
    train, valid, test = cpg.split_windows(windows, seed=3)
    assert (len(train), len(valid), len(test)) == (772, 110, 221)
    names = [w.name for part in (train, valid, test) for w in part]
    assert len(set(names)) == 1103
    again = cpg.split_windows(windows, seed=3)
    assert [w.name for w in again[2]] == [w.name for w in test]
    assert [w.name for w in cpg.split_windows(windows, seed=4)[2]] != [w.name for w in test]
    with pytest.raises(ValueError, match="test_fraction must be in"):
        cpg.split_windows(windows, test_fraction=1.5)


# ------------------------------------------------------------------ models
def test_dinucleotide_hmm_counts_dinucleotides_and_emits_its_own_base():
    train = [_window("ACGCG", "00111"), _window("CGTN", "1100")]
    model = cpg.fit_dinucleotide_hmm(train, pseudocount=0.5)
    emit = np.asarray(model.emission.probs())
    np.testing.assert_allclose(emit, np.tile(np.eye(4), (2, 1)), atol=1e-6)  # deterministic
    assert emit[~np.tile(np.eye(4), (2, 1)).astype(bool)].max() < 1e-30
    # states A+ C+ G+ T+ A- C- G- T- = 0..7; hand counts (N spreads 1/4 over A- C- G- T-)
    counts = np.full((8, 8), 0.5)
    for a, b in [(4, 5), (5, 2), (2, 1), (1, 2), (1, 2), (2, 7)]:  # A-C-, C-G+, G+C+, ...
        counts[a, b] += 1
    counts[7, 4:] += 0.25  # T- -> N(-)
    np.testing.assert_allclose(
        model.transition_probs(), counts / counts.sum(1, keepdims=True), rtol=1e-5
    )
    initial = np.full(8, 0.5)
    initial[[4, 1]] += 1  # A- and C+
    np.testing.assert_allclose(model.initial_probs(), initial / initial.sum(), rtol=1e-5)
    np.testing.assert_array_equal(cpg.island_states(model), [1, 1, 1, 1, 0, 0, 0, 0])


def test_two_state_hmm_is_the_supervised_count(windows, quick_results):
    # the quick run's training windows: the compiled M-step is reused
    train = cpg.split_windows(windows)[0][: quick_results["windows"]["train"]]
    model = cpg.fit_two_state_hmm(train, pseudocount=1.0)
    initial, transition, emission = np.ones(2), np.ones((2, 2)), np.ones((2, 4))
    for w in train:  # counts by hand, plus the pseudocount 1
        y = w.labels
        initial[y[0]] += 1
        np.add.at(transition, (y[:-1], y[1:]), 1)
        emission += np.stack([np.eye(4)[w.x][y == k].sum(0) for k in (0, 1)])
    np.testing.assert_allclose(model.initial_probs(), initial / initial.sum(), rtol=1e-5)
    np.testing.assert_allclose(
        model.transition_probs(), transition / transition.sum(1, keepdims=True), rtol=1e-5
    )
    np.testing.assert_allclose(
        model.emission.probs(), emission / emission.sum(1, keepdims=True), rtol=1e-5
    )
    np.testing.assert_array_equal(cpg.island_states(model), [0, 1])


# ------------------------------------------------------------------ scores and intervals
def test_per_base_scores_equal_scikit_learn():
    rng = np.random.default_rng(0)
    ws = [_window("ACGTACGT", "".join(map(str, rng.integers(0, 2, 8)))) for _ in range(3)]
    calls = [rng.random(8) < 0.5 for _ in ws]
    got = cpg.per_base_scores(calls, ws)
    y, p = np.concatenate([w.labels for w in ws]), np.concatenate(calls).astype(int)
    want = precision_recall_fscore_support(y, p, average="binary", zero_division=0)
    np.testing.assert_allclose([got["precision"], got["recall"], got["f1"]], want[:3])
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    none = cpg.per_base_scores([np.zeros(8, bool)] * 3, ws)
    assert none["precision"] == none["recall"] == none["f1"] == 0.0
    with pytest.raises(ValueError, match=r"calls\[1\] has shape \(7,\)"):
        cpg.per_base_scores([calls[0], calls[1][:7], calls[2]], ws)
    with pytest.raises(ValueError, match="hold no island base"):  # nothing to score
        cpg.per_base_scores(calls, [_window("ACGTACGT", "00000000")] * 3)


def test_intervals_of_a_hand_made_example():
    ws = [_window("ACGTACGT", "00000000", start=1000), _window("ACGT", "0000", chrom="chrX")]
    calls = [np.array([0, 1, 1, 0, 0, 1, 1, 1], bool), np.array([1, 0, 0, 0], bool)]
    got = [(iv.chrom, iv.start, iv.end, iv.name) for iv in cpg.calls_to_intervals(calls, ws)]
    assert got == [
        ("chrT", 1001, 1003, "CpG_island"),
        ("chrT", 1005, 1008, "CpG_island"),
        ("chrX", 100, 101, "CpG_island"),
    ]


# ------------------------------------------------------------------ the experiment
def test_quick_run_finds_islands(quick_results):
    r = quick_results
    assert r["mode"] == "quick" and r["windows"] == {"train": 60, "valid": 10, "test": 20}
    models = r["models"]
    assert set(models) == {"two_state_hmm", "dinucleotide_hmm", "lsgm"}
    assert models["two_state_hmm"]["f1"] > 0.5
    assert models["dinucleotide_hmm"]["f1"] > 0.5
    assert models["two_state_hmm"]["n_parameters"] == 1 + 2 + 2 * 3
    assert models["dinucleotide_hmm"]["n_parameters"] == 7 + 8 * 7
    assert all(0 <= m[k] <= 1 for m in models.values() for k in ("precision", "recall", "f1"))
    assert r["best_model"] == max(models, key=lambda k: models[k]["f1"])
    # the intervals are the best model's calls, in genome coordinates
    tests = r["test_windows"]
    assert len(r["test_calls"]) == 20
    assert r["test_intervals"] == cpg.calls_to_intervals(r["test_calls"], tests)
    called = sum(int(c.sum()) for c in r["test_calls"])
    assert sum(iv.end - iv.start for iv in r["test_intervals"]) == called > 0
    history = r["lsgm_history"]
    assert len(history["train_nll"]) == 2 and history["best_epoch"] is not None


def test_seed_summary_is_the_mean_and_sample_sd(quick_seeds, quick_results):
    # one seed: the mean is that run's score and there is no SD
    lsgm_row = quick_seeds["summary"]["lsgm"]
    assert lsgm_row["f1"] == quick_results["models"]["lsgm"]["f1"] and lsgm_row["f1_sd"] is None
    assert quick_seeds["lsgm_epochs"] == [{"seed": 0, **quick_results["lsgm_epochs"]}]
    assert quick_results["lsgm_epochs"]["cap"] == 2 and 1 <= quick_results["lsgm_epochs"]["best"]
    table = cpg.format_results(quick_seeds)
    assert f"| lsgm | {lsgm_row['precision']:.3f} |" in table and "seed 0: best" in table
    # several seeds: numpy's mean and ddof=1 SD, written "mean ± SD"
    rows = [{"f1": 0.5, "recall": 1.0}, {"f1": 0.7, "recall": 0.0}, {"f1": 0.6, "recall": 0.5}]
    got = seeds.summarise(rows, ("f1", "recall"))
    assert got["f1"] == pytest.approx(0.6) and got["f1_sd"] == pytest.approx(0.1)
    assert got["recall_sd"] == pytest.approx(np.std([1.0, 0.0, 0.5], ddof=1))
    assert seeds.mean_sd_text(got["f1"], got["f1_sd"]) == "0.600 ± 0.100"
    with pytest.raises(ValueError, match="NaN .* a run diverged"):
        seeds.mean_sd([0.5, float("nan")])
    with pytest.raises(ValueError, match="seeds must be distinct"):
        cpg.run_cpg_seeds(quick=True, seeds=(1, 1))
