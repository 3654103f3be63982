"""The console script: --version, and every subcommand end to end on tiny files in the repo."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lsgm
from lsgm.cli.main import main
from lsgm.data import read_gff, read_sequences
from lsgm.data.pianoroll import read_json, read_midi
from lsgm.models.serialization import load_model


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"lsgm {lsgm.__version__}"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "lsgm.cli.main", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith("lsgm ")


def test_no_command_is_a_usage_error():
    assert main([]) == 2


# ----------------------------------------------------------------- end to end, every command
DATA = Path(__file__).parent / "data"
DNA, LABELS = str(DATA / "cli_dna.fa"), str(DATA / "cli_labels.fa")
PNG = b"\x89PNG\r\n\x1a\n"


def run_json(capsys, argv) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def supervised_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "cpg.lsgm"
    assert main(["fit", DNA, "--labels", LABELS, "-o", str(path), "--quiet"]) == 0
    return path


def test_fit_supervised_info_score_decode_posterior(supervised_model, tmp_path, capsys):
    info = run_json(capsys, ["info", str(supervised_model)])
    assert info["kind"] == "HMM" and info["state_names"] == ["C", "N"]
    assert info["input"]["alphabet"] == "ACGT" and info["training"]["trainer"] == "supervised"
    # score equals the library on the same model and data
    score = run_json(capsys, ["score", str(supervised_model), DNA])
    model, _ = load_model(supervised_model)
    xs = [r.data for r in read_sequences(DNA)]
    assert score["log_likelihood"] == pytest.approx(model.score(xs), rel=1e-6)
    assert score["perplexity"] == pytest.approx(np.exp(-score["log_likelihood"] / 360), rel=1e-6)
    # decode: TSV rows = positions, BED intervals of the island state match Viterbi runs
    run_json(capsys, ["decode", str(supervised_model), DNA, "-o", str(tmp_path / "d.tsv")])
    rows = (tmp_path / "d.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["name", "position", "state", "state_name"]
    assert len(rows) == 1 + 360
    paths = model.predict(xs)
    assert [int(r.split("\t")[2]) for r in rows[1:121]] == list(np.asarray(paths[0]))
    bed = tmp_path / "islands.bed"
    run_json(capsys, ["decode", str(supervised_model), DNA, "-o", str(bed), "--bed-states", "C"])
    header, *lines = bed.read_text().splitlines()
    assert header.startswith("track name=") and 'itemRgb="On"' in header
    intervals = [line.split("\t") for line in lines]
    assert intervals and all(iv[3] == "C" and iv[8] == "31,119,180" for iv in intervals)
    called = sum(int(iv[2]) - int(iv[1]) for iv in intervals)
    assert called == sum(int((np.asarray(p) == 0).sum()) for p in paths)
    # the synthetic island (positions 41-80) is found in every window
    for name in ("win1", "win2", "win3"):
        mine = [iv for iv in intervals if iv[0] == name]
        assert any(int(iv[1]) < 60 < int(iv[2]) for iv in mine)
    # posteriors: TSV and NPZ, rows sum to one and equal the library's
    run_json(capsys, ["posterior", str(supervised_model), DNA, "-o", str(tmp_path / "p.npz")])
    npz = np.load(tmp_path / "p.npz")
    expected = model.predict_proba(xs)
    np.testing.assert_allclose(npz["win2"], expected[1], atol=1e-6)  # keyed by record name
    assert list(npz["state_names"]) == ["C", "N"]
    run_json(capsys, ["posterior", str(supervised_model), DNA, "-o", str(tmp_path / "p.tsv")])
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    probs = np.array([[float(v) for v in ln.split("\t")[2:]] for ln in lines[1:]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


# Bases 11-60 of win1 and the whole of win3 and win2 (a genome CLI selection); record sizes.
PICK = ["--region", "win1:11-60", "--records", "win3,win2"]
SIZES = {"win1": 120, "win2": 120, "win3": 120}


def test_genome_outputs_of_regions(supervised_model, tmp_path, capsys):
    """``--region`` / ``--records`` select what is read; ``decode`` writes sorted, coloured
    BED9, GFF3 and bedGraph in the records' coordinates, ``posterior`` bedGraph (bigWig with
    pyBigWig) tracks and NPZ arrays keyed by record name — each checked against the library.
    Three sequences of at most 120 bases, as above: the same compiled shapes."""
    m = str(supervised_model)
    model, _ = load_model(m)
    seqs = {r.name: r.data for r in read_sequences(DNA)}
    # --records first (win3, win2), then the region: bases 11-60 of win1 ([10, 60)).
    xs = [seqs["win3"], seqs["win2"], seqs["win1"][10:60]]
    paths = [np.asarray(p) for p in model.predict(xs)]
    probs = [np.asarray(p) for p in model.predict_proba(xs)]
    offsets = {"win3": 0, "win2": 0, "win1": 10}

    # BED9: sorted (chrom, start), state names, itemRgb colours, the records' coordinates.
    out = run_json(capsys, ["decode", m, DNA, *PICK, "-o", str(tmp_path / "d.bed")])
    assert out["num_sequences"] == 3 and out["format"] == "bed"
    header, *lines = (tmp_path / "d.bed").read_text().splitlines()
    assert header == 'track name="lsgm decode cpg.lsgm" itemRgb="On"'
    rows = [line.split("\t") for line in lines]
    keys = [(r[0], int(r[1])) for r in rows]
    assert keys == sorted(keys) and {r[0] for r in rows} == {"win1", "win2", "win3"}
    colour = {"C": "31,119,180", "N": "255,127,14"}
    for chrom, path in zip(["win3", "win2", "win1"], paths, strict=True):
        mine = [r for r in rows if r[0] == chrom]
        assert int(mine[0][1]) == offsets[chrom] and int(mine[-1][2]) == offsets[chrom] + len(path)
        for r in mine:
            a, b = int(r[1]) - offsets[chrom], int(r[2]) - offsets[chrom]
            state = ["C", "N"].index(r[3])
            assert (path[a:b] == state).all() and r[6:9] == [r[1], r[2], colour[r[3]]]

    # Binned data (e.g. ChromHMM's 200-bp bins): the same runs in bases.
    run_json(capsys, ["decode", m, DNA, *PICK, "--bin-size", "200", "-o", str(tmp_path / "b.bed")])
    binned = [line.split("\t") for line in (tmp_path / "b.bed").read_text().splitlines()[1:]]
    assert [(b[0], int(b[1]), int(b[2])) for b in binned] == [
        (r[0], 200 * int(r[1]), 200 * int(r[2])) for r in rows
    ]
    # GFF3: the same runs, 1-based; bedGraph: a 0/1 track of the chosen state.
    run_json(capsys, ["decode", m, DNA, *PICK, "-o", str(tmp_path / "d.gff3")])
    features = read_gff(tmp_path / "d.gff3")
    assert [(f.seqid, f.start - 1, f.end, f.get("Name")) for f in features] == [
        (r[0], int(r[1]), int(r[2]), r[3]) for r in rows
    ]
    run_json(capsys, ["decode", m, DNA, *PICK, "--states", "C", "-o", str(tmp_path / "c.bedgraph")])
    track = _bedgraph(tmp_path / "c.bedgraph", SIZES)
    np.testing.assert_array_equal(track["win1"][10:60], paths[2] == 0)
    np.testing.assert_array_equal(track["win3"], paths[0] == 0)
    assert np.isnan(track["win1"][:10]).all() and np.isnan(track["win1"][60:]).all()

    # posterior: one bedGraph per state; NPZ keyed by record (region) name.
    out = run_json(capsys, ["posterior", m, DNA, *PICK, "-o", str(tmp_path / "p.bedgraph")])
    assert out["outputs"] == [str(tmp_path / f"p.{s}.bedgraph") for s in ("C", "N")]
    track = _bedgraph(tmp_path / "p.N.bedgraph", SIZES)
    np.testing.assert_allclose(track["win1"][10:60], probs[2][:, 1], atol=6e-5)
    np.testing.assert_allclose(track["win3"], probs[0][:, 1], atol=6e-5)
    run_json(capsys, ["posterior", m, DNA, *PICK, "-o", str(tmp_path / "p.npz")])
    npz = np.load(tmp_path / "p.npz")
    assert list(npz["names"]) == ["win3", "win2", "win1:11-60"]
    np.testing.assert_allclose(npz["win1:11-60"], probs[2], atol=1e-6)
    if importlib.util.find_spec("pyBigWig"):  # the optional extra: lsgm[bigwig]
        import pyBigWig

        run_json(
            capsys, ["posterior", m, DNA, *PICK, "--states", "N", "-o", str(tmp_path / "p.bw")]
        )
        bw = pyBigWig.open(str(tmp_path / "p.bw"))
        assert bw.chroms() == SIZES  # the records' whole lengths
        values = np.asarray(bw.values("win1", 10, 60))
        np.testing.assert_allclose(values, probs[2][:, 1], atol=6e-5)

    # Bad selections: exit 1 (or 2 for the syntax) naming the record and the fix.
    for argv, code, said in [
        (["--region", "win1:100-200"], 1, "win1 has 120 steps"),
        (["--records", "chrX"], 1, "no record 'chrX'"),
        (["--region", "win1:0-5"], 2, "need 1 <= START <= END"),
        (["--region", "win1"], 2, "is not RECORD:START-END"),
    ]:
        assert main(["decode", m, DNA, *argv, "-o", str(tmp_path / "e.bed")]) == code
        assert said in capsys.readouterr().err
    assert not (tmp_path / "e.bed").exists()


def test_fit_labels_from_gff3_and_bed(supervised_model, tmp_path, capsys):
    """``lsgm fit --labels FILE.gff3|.bed``: the annotated bases (CDS, or a BED name) are one
    state, the rest 'background'; a record without annotation of the chosen source is
    refused. The islands of cli_labels.fa (bases 41-80 of each window) as GFF3 and BED give
    the FASTA-labelled model with its two states swapped."""
    gff, bed = tmp_path / "a.gff3", tmp_path / "a.bed"
    sources = {"win1": "WormBase", "win2": "WormBase", "win3": "RefSeq"}
    gff.write_text(
        "##gff-version 3\n"
        + "".join(f"{w}\t{s}\tCDS\t41\t80\t.\t+\t0\tID=c{w}\n" for w, s in sources.items())
    )
    bed.write_text("track name=islands\n" + "".join(f"{w}\t40\t80\tisland\n" for w in sources))
    argv = ["fit", DNA, "--labels", str(gff), "-o", str(tmp_path / "x.lsgm")]
    assert main([*argv, "--sources", "WormBase", "-q"]) == 1
    err = capsys.readouterr().err
    assert "no CDS features of source WormBase on win3" in err and "come from RefSeq" in err
    assert not (tmp_path / "x.lsgm").exists()
    want, _ = load_model(supervised_model)  # states C (island), N
    for labels, extra in [(gff, []), (bed, ["--feature", "island"])]:
        out = tmp_path / f"{labels.suffix[1:]}.lsgm"
        fit = run_json(capsys, ["fit", DNA, "--labels", str(labels), *extra, "-o", str(out)])
        assert fit["trainer"] == "supervised"
        got, info = load_model(out)
        assert info["state_names"] == ["background", "CDS" if labels == gff else "island"]
        np.testing.assert_allclose(
            got.transition_probs(), np.asarray(want.transition_probs())[::-1, ::-1], atol=1e-6
        )
        np.testing.assert_allclose(
            got.emission.probs(), np.asarray(want.emission.probs())[::-1], atol=1e-6
        )


def _bedgraph(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """A bedGraph file as one array per chrom (NaN where no line covers a base)."""
    header, *lines = path.read_text().splitlines()
    assert header.startswith("track type=bedGraph name=")
    out = {c: np.full(n, np.nan) for c, n in sizes.items()}
    last = ("", -1)
    for line in lines:
        chrom, a, b, v = line.split("\t")
        assert (chrom, int(a)) > last  # sorted
        last = (chrom, int(a))
        out[chrom][int(a) : int(b)] = float(v)
    return out


def test_sample_and_plot(supervised_model, tmp_path, capsys):
    out = run_json(
        capsys,
        [
            "sample",
            str(supervised_model),
            "-o",
            str(tmp_path / "s.fa"),
            "-n",
            "75",
            "--num-sequences",
            "2",
            "--seed",
            "3",
        ],
    )
    records = read_sequences(tmp_path / "s.fa")
    assert [len(r.data) for r in records] == [75, 75] and len(out["states"]) == 2
    again = run_json(
        capsys,
        [
            "sample",
            str(supervised_model),
            "-o",
            str(tmp_path / "t.fa"),
            "-n",
            "75",
            "--num-sequences",
            "2",
            "--seed",
            "3",
        ],
    )
    assert again["states"] == out["states"]  # --seed makes it reproducible
    plots = run_json(capsys, ["plot", str(supervised_model), DNA, "-o", str(tmp_path / "pl")])
    names = sorted(Path(p).name for p in plots["outputs"])
    assert names == [
        "emissions.png",
        "posteriors.png",
        "state_logo.png",
        "transitions.png",
        "viterbi.png",
    ]
    assert all(Path(p).read_bytes()[:8] == PNG for p in plots["outputs"])


@pytest.mark.slow
def test_fit_em_gaussian_table_and_lsgm(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    fit = run_json(
        capsys,
        [
            "fit",
            str(tmp_path / "x.npy"),
            "--states",
            "2",
            "-o",
            str(tmp_path / "g.lsgm"),
            "--max-iter",
            "30",
        ],
    )
    assert fit["emission"] == "gaussian" and fit["history"]["log_likelihood"]
    ll = fit["history"]["log_likelihood"]
    assert all(b >= a - 1e-3 for a, b in zip(ll, ll[1:], strict=False))  # EM is monotone
    lsgm_fit = run_json(
        capsys,
        [
            "fit",
            DNA,
            "--model",
            "lsgm",
            "--states",
            "2",
            "--hidden-size",
            "4",
            "--epochs",
            "3",
            "--batch-size",
            "3",
            "-o",
            str(tmp_path / "l.lsgm"),
            "--learning-rate",
            "0.005",
        ],
    )
    nll = lsgm_fit["history"]["train_nll"]
    assert lsgm_fit["kind"] == "LSGM" and len(nll) == 3 and nll[-1] < nll[0]
    score = run_json(capsys, ["score", str(tmp_path / "l.lsgm"), DNA])
    assert score["log_likelihood"] == pytest.approx(lsgm_fit["log_likelihood"], rel=1e-5)


def test_music_fit_sample_midi(tmp_path, capsys):
    capsys.readouterr()
    argv = ["fit", str(DATA / "music_tiny.json"), "--states", "2", "-o", str(tmp_path / "m.lsgm")]
    assert main([*argv, "--max-iter", "5", "--tol", "0", "--json"]) == 0
    out = capsys.readouterr()
    fit = json.loads(out.out)
    assert fit["emission"] == "bernoulli"
    # --tol 0: EM runs to its cap, and says so (stderr, the result, the model file)
    ll = fit["history"]["log_likelihood"]
    assert (fit["converged"], fit["n_iter"], fit["last_change"]) == (False, 5, ll[4] - ll[3])
    assert "warning: EM did not converge: it stopped at its iteration cap, 5 iterations" in out.err
    training = run_json(capsys, ["info", str(tmp_path / "m.lsgm")])["training"]
    assert (training["converged"], training["n_iter"]) == (False, 5)
    out = run_json(
        capsys, ["sample", str(tmp_path / "m.lsgm"), "-o", str(tmp_path / "s.mid"), "-n", "16"]
    )
    roll = read_midi(tmp_path / "s.mid", step_seconds=0.5)
    assert roll.shape[1] == 88 and roll.shape[0] <= 16
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    assert out["outputs"] == [str(tmp_path / "s.mid"), str(tmp_path / "s.png")]
    # the test split of the same file scores; train split is what fit used
    assert read_json(DATA / "music_tiny.json")["train"][0].shape[1] == 88
    score = run_json(
        capsys,
        ["score", str(tmp_path / "m.lsgm"), str(DATA / "music_tiny.json"), "--split", "test"],
    )
    # maximum-likelihood EM gives notes never played in the train split probability exactly 0:
    # the test piece is either scored finitely or reported impossible, never a made-up number
    assert score["num_sequences"] == 1
    if score["log_likelihood"] is None:  # -inf as strict JSON
        assert score["impossible"] and score["impossible"][0].startswith(str(DATA))
    else:
        assert np.isfinite(score["log_likelihood"]) and score["impossible"] == []


def test_lsgm_on_labels_starts_from_the_counted_hmm_and_finds_the_islands(tmp_path, capsys):
    model = tmp_path / "lab.lsgm"
    fit = run_json(
        capsys,
        [
            "fit",
            DNA,
            "--labels",
            LABELS,
            "--model",
            "lsgm",
            "--epochs",
            "2",
            "--hidden-size",
            "4",
            "--batch-size",
            "3",
            "-o",
            str(model),
        ],
    )
    assert fit["trainer"] == "gradient" and fit["kind"] == "LSGM"
    nll = fit["history"]["train_nll"]  # the joint NLL -log p(x, z) per base
    assert nll[-1] <= nll[0]
    bed = tmp_path / "islands.bed"
    run_json(capsys, ["decode", str(model), DNA, "-o", str(bed), "--bed-states", "C"])
    for name in ("win1", "win2", "win3"):  # the synthetic islands span positions 41-80
        calls = [ln.split("\t") for ln in bed.read_text().splitlines() if ln.startswith(name)]
        assert any(int(c[1]) < 60 < int(c[2]) for c in calls)
