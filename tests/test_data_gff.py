"""GFF3 reader/writer and per-base gene-structure labels (lsgm.data.gff)."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lsgm.data.gff import (
    Feature,
    check_seqids,
    feature_labels,
    intervals_to_features,
    read_gff,
    transcripts,
    write_gff,
)
from lsgm.data.intervals import Interval

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "gene_celegans.gff3"
SEQID = "I_108501_112300"


def test_fixture_counts_by_source_and_type():
    every = read_gff(FIXTURE)
    assert len(every) == 65
    curated = read_gff(FIXTURE, sources={"WormBase"})
    assert Counter(f.type for f in curated) == {
        "exon": 19,
        "intron": 11,
        "CDS": 9,
        "gene": 6,
        "ncRNA": 3,
        "five_prime_UTR": 3,
        "three_prime_UTR": 3,
        "mRNA": 2,
        "snoRNA": 1,
        "circular_ncRNA": 1,
    }
    assert Counter(f.source for f in every)["RNASeq_splice"] == 7
    cds = read_gff(FIXTURE, sources={"WormBase"}, types={"CDS"})
    first = cds[0]
    assert (first.seqid, first.start, first.end, first.strand, first.phase) == (
        SEQID,
        765,
        946,
        "-",
        2,
    )
    assert first.get("Parent") == "Transcript:F53G12.1.1"
    assert cds[4].attributes["Parent"] == ("Transcript:F53G12.10.1", "Transcript:F53G12.10.2")
    assert {len(v) for v in transcripts(cds).values()} == {4, 5}  # 3 transcripts, one shared CDS
    # %3B in a value is unescaped
    notes = [f.get("Note") for f in curated if f.type == "intron" and f.get("Note")]
    assert any(" ; " in n for n in notes)


def test_gzip_by_magic_bytes_comments_and_fasta_section(tmp_path):
    text = FIXTURE.read_text() + "##FASTA\n>x\nACGT\n"
    path = tmp_path / "annotation.gff3"  # gzip content under a plain name
    path.write_bytes(gzip.compress(text.encode()))
    assert read_gff(path) == read_gff(FIXTURE)


def _bad(tmp_path, line: str) -> Path:
    path = tmp_path / "bad.gff3"
    good = "chr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=g1\n"
    path.write_text("##gff-version 3\n# a comment\n" + good + line + "\n")
    return path


@pytest.mark.parametrize(
    "line, message",
    [
        ("chr1\tsrc\tgene\t1\t10\t.\t+\t.", "expected 9 tab-separated columns, found 8"),
        ("chr1\tsrc\tgene\t20\t10\t.\t+\t.\tID=x", "start 20 > end 10"),
        ("chr1\tsrc\tgene\t1\t1e3\t.\t+\t.\tID=x", "end '1e3' is not an integer"),
        ("chr1\tsrc\tgene\t0\t10\t.\t+\t.\tID=x", "start 0 must be >= 1"),
        ("chr1\tsrc\tgene\t1\t10\t.\tplus\t.\tID=x", "strand 'plus' must be one of"),
        ("chr1\tsrc\tCDS\t1\t10\t.\t+\t3\tID=x", "phase '3' must be 0, 1, 2"),
        ("chr1\tsrc\tCDS\t1\t10\t.\t+\t.\tID=x", "a CDS feature needs a phase"),
        ("chr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=x;Name", "malformed attribute 'Name'"),
        ("chr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=x;ID=y", "attribute 'ID' appears twice"),
        ("chr1\tsrc\tgene\t1\t10\tbig\t+\t.\tID=x", "score 'big' is not a number"),
    ],
    ids=[
        "columns",
        "start>end",
        "non-integer",
        "zero",
        "strand",
        "phase",
        "cds-phase",
        "attribute",
        "duplicate-tag",
        "score",
    ],
)
def test_errors_name_file_and_line(tmp_path, line, message):
    path = _bad(tmp_path, line)
    with pytest.raises(ValueError, match="line 4") as err:
        read_gff(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gff3.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes())[:200])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_gff(path)


def _cds(start, end, strand, parent, phase=0, seqid="s"):
    return Feature(seqid, "test", "CDS", start, end, None, strand, phase, {"Parent": (parent,)})


def test_labels_of_a_two_exon_gene_on_each_strand():
    # CDS 3..5 and 9..11 (1-based): exon bases 2-4 and 8-10 (0-based), intron 5-7.
    for sign, strand in ((1, "+"), (-1, "-")):
        features = [_cds(9, 11, strand, "t", 0), _cds(3, 5, strand, "t", 0)]
        labels, strands = feature_labels(features, "s", 14)
        np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 0, 0, 0])
        np.testing.assert_array_equal(strands, sign * (labels != 0))
        assert labels.dtype == np.int8 and strands.dtype == np.int8


def test_overlaps_exon_beats_intron_beats_intergenic_and_sources_filter():
    features = [
        _cds(1, 2, "+", "a"),
        _cds(9, 10, "+", "a"),  # intron 3..8 of transcript a
        _cds(5, 6, "-", "b"),  # a reverse-strand CDS inside that intron wins
        _cds(12, 13, "+", "c"),
        Feature("s", "evidence", "CDS", 14, 15, None, "-", 0, {"Parent": ("d",)}),
        Feature("t", "test", "CDS", 1, 3, None, "+", 0, {"Parent": ("e",)}),  # other seqid
    ]
    labels, strands = feature_labels(features, "s", 16, sources={"test"})
    np.testing.assert_array_equal(labels, [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(strands, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0])
    assert feature_labels(features, "s", 16).labels[13] == 1  # no filter: source "evidence"


def test_feature_beyond_sequence_end_is_named():
    features = [_cds(5, 30, "+", "Transcript:long")]
    with pytest.raises(ValueError, match="Transcript:long.*ends beyond 's', which has 20 bases"):
        feature_labels(features, "s", 20)


def test_seqid_not_in_fasta():
    with pytest.raises(ValueError, match="seqid 'chrZ', which is not in the FASTA"):
        check_seqids([_cds(1, 3, "+", "t", seqid="chrZ")], {"chr1": 100}, "a.gff3")


def test_fixture_labels_cover_the_two_genes():
    features = read_gff(FIXTURE, sources={"WormBase"})
    labels, strands = feature_labels(features, SEQID, 3800)
    assert (labels == 1).sum() == 636 + 735  # whole codons: 212 and 245
    assert set(strands[764:1544]) == {-1} and set(strands[2554:3727]) == {1}
    assert (labels[:764] == 0).all() and (labels[3727:] == 0).all()


def test_write_read_round_trip(tmp_path):
    features = read_gff(FIXTURE)
    tricky = Feature(
        "chr 1",
        "lsgm",
        "CDS",
        3,
        9,
        0.5,
        "-",
        1,
        {"ID": ("a;b=c",), "Parent": ("p,1", "p2"), "Note": ("50% & more",)},
    )
    path = tmp_path / "out" / "round.gff3"
    write_gff(path, [*features, tricky])
    assert path.read_text().startswith("##gff-version 3\n")
    assert read_gff(path) == [*features, tricky]
    assert not [p for p in path.parent.iterdir() if p.name != "round.gff3"]  # no temp files


def test_intervals_to_features():
    ivs = [Interval("c", 0, 10, "CDS", None, "+"), Interval("c", 19, 22, "CDS", 2.0, "-")]
    exons = intervals_to_features(ivs, id_prefix="e")
    assert [(f.start, f.end, f.strand, f.type, f.phase, f.get("ID")) for f in exons] == [
        (1, 10, "+", "exon", None, "e1"),
        (20, 22, "-", "exon", None, "e2"),
    ]
    cds = intervals_to_features(ivs, feature_type="CDS", phases=[0, 2], parents=["g", None])
    assert [(f.phase, f.get("Parent"), f.score) for f in cds] == [(0, "g", None), (2, None, 2.0)]
    with pytest.raises(ValueError, match="CDS features need phases"):
        intervals_to_features(ivs, feature_type="CDS")
