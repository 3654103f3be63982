"""Gene-structure HMM: grammar, labels -> codon-position paths, fit/decode, scores, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from lsgm.apps.genomics import gene_structure as gs
from lsgm.cli.main import main
from lsgm.data import read_sequences
from lsgm.data.gff import Feature, feature_labels, read_gff, write_gff
from lsgm.training import fit_supervised

DATA = Path(__file__).parent / "data"
FASTA, GFF = DATA / "gene_celegans.fa", DATA / "gene_celegans.gff3"
SEQID = "I_108501_112300"
S = {name: k for k, name in enumerate(gs.STATE_NAMES)}


@pytest.fixture(scope="module")
def fixture():
    x = read_sequences(FASTA)[0].data
    features = read_gff(GFF, sources={"WormBase"})
    return x, features, feature_labels(features, SEQID, len(x))


def test_grammar_leaves_genes_on_codon_boundaries_only():
    mask = gs.gene_transition_mask()
    N = S["intergenic"]
    assert [bool(mask[S[f"exon+{p}"], N]) for p in (1, 2, 3)] == [False, False, True]
    assert [bool(mask[S[f"exon-{p}"], N]) for p in (1, 2, 3)] == [True, False, False]
    assert np.flatnonzero(mask[N]).tolist() == [N, S["exon+1"], S["exon-3"]]
    assert np.flatnonzero(mask[S["intron+2"]]).tolist() == [S["exon+3"], S["intron+2"]]
    assert np.flatnonzero(mask[S["intron-2"]]).tolist() == [S["exon-2"], S["intron-2"]]
    assert mask.sum() == 3 + 2 * (2 * 3 + 2 * 3 + 1)
    # The mask is a structural zero in supervised fitting too: a mid-codon exit is refused.
    model = gs.gene_hmm()
    bad = [S["intergenic"], S["exon+1"], S["exon+2"], S["intergenic"]]
    with pytest.raises(ValueError, match="transition_mask forbids"):
        fit_supervised(model, [np.zeros(4, np.int32)], [np.array(bad)])


def test_codon_positions_cycle_through_an_intron_on_both_strands():
    # 4 coding bases, a 3-base intron, 5 coding bases: 9 = 3 codons; the intron follows
    # codon position 1 (4th coding base), so it is intron 1 and the next exon base is 2.
    labels = np.array([0, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 0])
    plus = gs.state_paths_from_labels(labels, np.where(labels > 0, 1, 0))
    names = [gs.STATE_NAMES[s] for s in plus]
    assert names == ["intergenic"] + [f"exon+{p}" for p in (1, 2, 3, 1)] + ["intron+1"] * 3 + [
        f"exon+{p}" for p in (2, 3, 1, 2, 3)
    ] + ["intergenic"]
    # Reverse strand: read right to left, 5 coding bases (positions 1 2 3 1 2) come first,
    # so the intron follows codon position 2.
    minus = gs.state_paths_from_labels(labels, np.where(labels > 0, -1, 0))
    names = [gs.STATE_NAMES[s] for s in minus]
    assert names == ["intergenic"] + [f"exon-{p}" for p in (3, 2, 1, 3)] + ["intron-2"] * 3 + [
        f"exon-{p}" for p in (2, 1, 3, 2, 1)
    ] + ["intergenic"]
    mask = gs.gene_transition_mask()
    for path in (plus, minus):
        assert mask[path[:-1], path[1:]].all()
    np.testing.assert_array_equal(gs.path_to_labels(minus).labels, labels)


def test_codon_positions_agree_with_gff_phases(fixture):
    x, features, truth = fixture
    path = gs.state_paths_from_labels(*truth)
    assert gs.gene_transition_mask()[path[:-1], path[1:]].all()
    cds = [f for f in features if f.type == "CDS"]
    for f in cds:  # the 5' base of a CDS with phase φ sits at codon position (3 - φ) % 3 + 1
        five_prime = f.start - 1 if f.strand == "+" else f.end - 1
        assert gs.STATE_POSITION[path[five_prime]] == (3 - f.phase) % 3 + 1, f


def test_loci_the_grammar_cannot_express():
    labels = np.array([0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0])  # 4 coding bases, then 6
    strand = np.where(labels > 0, 1, 0)
    loci = gs.gene_loci(labels, strand)
    assert [(lo.start, lo.end, lo.strand) for lo in loci] == [(1, 5, 1), (7, 13, 1)]
    assert "4 coding bases" in loci[0].problem and loci[1].problem is None
    with pytest.raises(ValueError, match=r"\+ strand locus at 2..5 has 4 coding bases"):
        gs.state_paths_from_labels(labels, strand)
    pieces, excluded = gs.training_pieces(labels, strand)
    assert pieces == [(0, 1), (5, 14)] and excluded == loci[:1]
    touching = np.array([1, 1, 1, 1, 1, 1])
    loci = gs.gene_loci(touching, np.array([1, 1, 1, -1, -1, -1]))
    assert "touches the locus before it" in loci[1].problem
    with pytest.raises(ValueError, match="strand must be"):
        gs.state_paths_from_labels(touching, np.zeros(6, int))


def test_exon_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    pred, truth = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    got = gs.exon_scores([pred[:200], pred[200:]], [truth[:200], truth[200:]])
    want = precision_recall_fscore_support(truth == 1, pred == 1, average="binary")
    np.testing.assert_allclose([got["precision"], got["recall"], got["f1"]], want[:3])
    assert got["tp"] + got["fn"] == (truth == 1).sum()
    none = gs.exon_scores(np.zeros(5), np.zeros(5))
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)


def test_fit_and_decode_on_the_fixture(fixture, tmp_path):
    x, _, truth = fixture
    model = gs.fit_gene_hmm([x], [gs.state_paths_from_labels(*truth)], pseudocount=1.0)
    mask = gs.gene_transition_mask()
    trans = np.asarray(model.transition_probs())
    assert (trans[~mask] == 0).all()
    np.testing.assert_allclose(trans.sum(1), 1, atol=1e-5)
    exact, chunked = gs.decode(model, [x]), gs.decode(model, [x], chunk_size=1000)
    assert exact[0].shape == chunked[0].shape == x.shape
    assert mask[exact[0][:-1], exact[0][1:]].all()  # Viterbi obeys the grammar
    pred = gs.path_to_labels(exact[0]).labels
    scores = gs.exon_scores(pred, truth.labels)
    want = precision_recall_fscore_support(truth.labels == 1, pred == 1, average="binary")
    np.testing.assert_allclose([scores["precision"], scores["recall"], scores["f1"]], want[:3])
    assert scores["f1"] > 0.5  # trained on this very slice
    # predicted genes as GFF3: CDS phases agree with the decoded codon positions
    features = gs.predicted_features(exact[0], SEQID)
    write_gff(tmp_path / "pred.gff3", features)
    back = read_gff(tmp_path / "pred.gff3")
    assert back == features
    relabelled = feature_labels(back, SEQID, len(x)).labels
    last = np.flatnonzero(pred == 1).max()  # a path may end inside an intron; CDS cannot
    np.testing.assert_array_equal(relabelled[: last + 1], pred[: last + 1])
    assert (relabelled[last + 1 :] == 0).all() and (pred[last + 1 :] != 1).all()
    for f in back:
        if f.type == "CDS":
            five_prime = f.start - 1 if f.strand == "+" else f.end - 1
            assert gs.STATE_POSITION[exact[0][five_prime]] == (3 - f.phase) % 3 + 1


def test_predicted_exons_and_features_of_a_hand_path():
    names = ["intergenic", "exon+1", "exon+2", "exon+3", "intron+3", "exon+1", "exon+2"]
    names += ["exon+3", "intergenic", "exon-3", "exon-2", "exon-1", "intergenic"]
    path = np.array([S[n] for n in names])
    exons = gs.predicted_exons(path, "c", offset=100)
    assert [(iv.start, iv.end, iv.strand, iv.name) for iv in exons] == [
        (101, 104, "+", "CDS"),
        (105, 108, "+", "CDS"),
        (109, 112, "-", "CDS"),
    ]
    feats = gs.predicted_features(path, "c")
    assert [(f.type, f.start, f.end, f.strand, f.phase) for f in feats] == [
        ("mRNA", 2, 8, "+", None),
        ("CDS", 2, 4, "+", 0),
        ("CDS", 6, 8, "+", 0),
        ("mRNA", 10, 12, "-", None),
        ("CDS", 10, 12, "-", 0),
    ]


def _split_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """Two records from the fixture (each holding one gene), with shifted GFF features."""
    seq = "".join(FASTA.read_text().splitlines()[1:])
    cut = 1900
    fasta = tmp_path / "two.fa"
    fasta.write_text(f">left\n{seq[:cut]}\n>right\n{seq[cut:]}\n")
    feats = []
    for f in read_gff(GFF, sources={"WormBase"}):
        if f.end <= cut:
            feats.append(f.__class__(**{**f.__dict__, "seqid": "left"}))
        elif f.start > cut:
            moved = {**f.__dict__, "seqid": "right", "start": f.start - cut, "end": f.end - cut}
            feats.append(Feature(**moved))
    gff = tmp_path / "two.gff3"
    write_gff(gff, feats)
    return fasta, gff


def test_run_gene_structure_cli(tmp_path, capsys):
    fasta, gff = _split_fixture(tmp_path)
    out = tmp_path / "run"
    args = ["--fasta", str(fasta), "--gff", str(gff), "--train", "left", "--test", "right"]
    args += ["--test-fasta", str(FASTA), "--test-gff", str(GFF), "--test-sources", "WormBase"]
    assert main(["experiment", "gene-structure", *args, "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train"]["loci"] == 1 and result["train"]["excluded_loci"] == []
    assert result["test"]["bases"] == 1900 and result["cross"]["bases"] == 3800
    for key in ("test", "cross"):
        r = result[key]
        assert r["tp"] + r["fn"] == {"test": 735, "cross": 636 + 735}[key]
        assert 0 <= r["f1"] <= 1
    saved = json.loads((out / "results.json").read_text())
    assert saved["test"]["f1"] == pytest.approx(result["test"]["f1"])
    assert "| cross |" in (out / "results.md").read_text()
    assert read_gff(out / "test.predicted.gff3")[0].seqid == "right"
    assert (out / "cross.predicted_exons.bed").exists()
    with pytest.raises(ValueError, match=r"seqids \['chrQ'\] are not in"):
        gs.run_gene_structure(fasta, gff, train_seqids=["left"], test_seqids=["chrQ"])
    with pytest.raises(ValueError, match="both the training and the test set"):
        gs.run_gene_structure(fasta, gff, train_seqids=["left"], test_seqids=["left"])
