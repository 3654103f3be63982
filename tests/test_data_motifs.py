"""Motif readers: the bundled JASPAR and MEME files agree, TRANSFAC = JASPAR for the same
counts, UniPROBE PWM, information content by hand, reverse complement, the motif correlation
used to check PWM recovery, and an error with file + line for every malformed matrix."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from lsgm.data.motifs import (
    Motif,
    find_motif,
    motif_correlation,
    read_jaspar,
    read_meme,
    read_motifs,
    read_transfac,
    read_uniprobe_pwm,
)
from lsgm.datasets import data_path

PBM = Path(__file__).parent / "data" / "pbm"

JASPAR_TWO = """>MA0001.3\tAGL3
A  [ 0 82 40 ]
C  [ 92 1 4 ]
G  [ 0 2 3 ]
T  [ 3 10 48 ]
>MX0002.1 Runx1 like
A 123 57 0
C 1072 0 75
G 149 7 1872
T 656 1936 53
"""

TRANSFAC_TWO = """VV  TRANSFAC MATRIX TABLE
XX
//
AC MA0001.3
XX
ID AGL3
XX
DE MA0001.3 AGL3 ; From JASPAR
PO\tA\tC\tG\tT
01\t0.0\t92.0\t0.0\t3.0
02\t82.0\t1.0\t2.0\t10.0
03\t40.0\t4.0\t3.0\t48.0
XX
CC tax_group:plants
//
AC MX0002.1
ID Runx1
P0      T      G      C      A
01    656    149   1072    123 C
02   1936      7      0     57 T
03     53   1872     75      0 G
//
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_jaspar_and_meme_agree():
    jaspar = read_motifs(data_path("motifs/pbm_5tfs.jaspar"))
    meme = read_motifs(data_path("motifs/pbm_5tfs_latest.meme"))
    assert [m.name for m in jaspar] == ["EGR1", "ceh-22", "CBF1", "RAP1", "POU2F1"]
    assert len(meme) == 5
    for motif in jaspar:
        other = find_motif(meme, motif.identifier)
        assert other.name == motif.name and other.counts is None
        np.testing.assert_allclose(other.probabilities, motif.probabilities, atol=1e-3)
        np.testing.assert_allclose(motif.probabilities, motif.counts / motif.counts.sum(1)[:, None])
    egr1 = find_motif(jaspar, "egr1")
    assert egr1.identifier == "MA0162.5" and len(egr1) == 10
    np.testing.assert_array_equal(egr1.counts[0], [14508, 10303, 3854, 1933])  # column 1 by hand


def test_transfac_matches_hand_written_jaspar(tmp_path):
    jaspar = read_jaspar(_write(tmp_path, "two.jaspar", JASPAR_TWO))
    gz = tmp_path / "two.transfac.gz"
    gz.write_bytes(gzip.compress(TRANSFAC_TWO.encode()))
    for transfac in (read_transfac(_write(tmp_path, "two.txt", TRANSFAC_TWO)), read_motifs(gz)):
        assert [(m.identifier, m.name) for m in transfac] == [
            ("MA0001.3", "AGL3"),
            ("MX0002.1", "Runx1"),
        ]
        for a, b in zip(jaspar, transfac, strict=True):
            np.testing.assert_array_equal(a.counts, b.counts)
            np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-12)
    assert jaspar[1].name == "Runx1 like"  # names may contain spaces; unbracketed rows work
    np.testing.assert_array_equal(jaspar[0].counts[:, 1], [92, 1, 4])


def test_uniprobe_pwm_and_format_sniffing(tmp_path):
    (plagl1,) = read_uniprobe_pwm(PBM / "Plagl1_pwm_primary.txt")
    assert plagl1.name == "Plagl1" and len(plagl1) == 16
    consensus = "".join("ACGT"[i] for i in plagl1.probabilities.argmax(1)[4:12])
    assert consensus == "GGGCGCCC"  # argmax read by hand (seed k-mer GGGGCCCC, 7-8 ambiguous)
    np.testing.assert_allclose(plagl1.probabilities[0], [0.1197, 0.2419, 0.2997, 0.3387], atol=1e-4)
    assert read_motifs(PBM / "Plagl1_pwm_primary.txt")[0].name == "Plagl1"
    sniffed = {
        "a.txt": JASPAR_TWO,
        "b.txt": TRANSFAC_TWO.split("//\n", 1)[1],
        "c.txt": data_path("motifs/pbm_5tfs_latest.meme").read_text(),
    }
    for name, text in sniffed.items():
        assert len(read_motifs(_write(tmp_path, name, text))) in (2, 5)
    with pytest.raises(ValueError, match="cannot tell the motif format"):
        read_motifs(_write(tmp_path, "d.txt", "hello\n"))
    with pytest.raises(ValueError, match="unknown motif format 'pfm'"):
        read_motifs(tmp_path / "a.txt", format="pfm")


def test_information_content_pwm_and_reverse_complement():
    probs = np.array([[1.0, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]])
    m = Motif("toy", "T1", None, probs)
    h4 = -(0.1 * np.log2(0.1) + 0.2 * np.log2(0.2) + 0.3 * np.log2(0.3) + 0.4 * np.log2(0.4))
    np.testing.assert_allclose(m.information_content(), [2.0, 0.0, 1.0, 2.0 - h4])
    np.testing.assert_allclose(m.pwm(0.01)[0], np.array([1.01, 0.01, 0.01, 0.01]) / 1.04)
    np.testing.assert_allclose(m.log_odds(pseudocount=0.0)[2], [1.0, 1.0, -np.inf, -np.inf])
    rc = m.reverse_complement()
    np.testing.assert_array_equal(rc.probabilities[0], [0.4, 0.3, 0.2, 0.1])
    np.testing.assert_array_equal(rc.probabilities[-1], [0, 0, 0, 1.0])
    egr1 = find_motif(read_motifs(data_path("motifs/pbm_5tfs.jaspar")), "MA0162")
    twice = egr1.reverse_complement().reverse_complement()
    np.testing.assert_array_equal(twice.probabilities, egr1.probabilities)
    np.testing.assert_array_equal(twice.counts, egr1.counts)


def test_motif_correlation():
    motifs = read_motifs(data_path("motifs/pbm_5tfs.jaspar"))
    rng = np.random.default_rng(0)
    for m in motifs:
        p = m.probabilities
        assert motif_correlation(p, p) == pytest.approx(1.0)
        assert motif_correlation(p, m.reverse_complement().probabilities) == pytest.approx(1.0)
        assert motif_correlation(p, p[1:]) == pytest.approx(1.0)  # shifted by one column
        flank = np.vstack([np.full((2, 4), 0.25), p[:-1]])  # shifted right, uniform flank
        assert motif_correlation(p, flank) == pytest.approx(1.0)
        random = [motif_correlation(p, rng.dirichlet(np.ones(4), len(p))) for _ in range(10)]
        assert np.median(random) < 0.5 and max(random) < 0.9, random
    # distinct real factors stay below the 0.9 recovery threshold
    for i, a in enumerate(motifs):
        for b in motifs[i + 1 :]:
            assert motif_correlation(a, b) < 0.9, (a.name, b.name)
    # hand check: IC weights [2, 0]; column 2 ignored, column 1 anti-correlated
    a = np.array([[1.0, 0, 0, 0], [0.25] * 4])
    b = np.array([[0.0, 1, 0, 0], [1.0, 0, 0, 0]])
    assert motif_correlation(a, b, weights="uniform") == pytest.approx(1.0)  # shift: b[1] ~ a[0]
    assert motif_correlation(a[:1], b[:1]) == pytest.approx(-1 / 3)
    with pytest.raises(ValueError, match="zero total weight"):
        motif_correlation(np.full((3, 4), 0.25), b)


def test_find_motif_errors():
    motifs = read_motifs(data_path("motifs/pbm_5tfs_latest.meme"))
    with pytest.raises(ValueError, match="no motif named 'EGR2' .*close: EGR1"):
        find_motif(motifs, "EGR2")


@pytest.mark.parametrize(
    "reader, text, message",
    [
        (
            read_jaspar,
            ">M1 X\nA [ 1 2 ]\nC [ 1 2 3 ]\nG [ 1 1 1 ]\nT [ 1 1 1 ]\n",
            "line 3: row C has 3",
        ),
        (
            read_jaspar,
            ">M1 X\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 1 ]\nN [ 1 1 ]\n",
            "line 5: row letter 'N'",
        ),
        (
            read_jaspar,
            ">M1 X\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 1 ]\n>M2 Y\n",
            "line 1: motif 'M1' has 3",
        ),
        (read_jaspar, ">M1 X\nA [ 1 -2 ]\nC [ 1 2 ]\nG [ 1 1 ]\nT [ 1 1 ]\n", "line 2: negative"),
        (
            read_jaspar,
            ">M1 X\nA [ 1 0 ]\nC [ 1 0 ]\nG [ 1 0 ]\nT [ 1 0 ]\n",
            "position 2 sums to 0",
        ),
        (read_jaspar, ">M1 X\nA [ 1 x ]\n", "line 2: 'x' is not a number"),
        (read_jaspar, "A [ 1 2 ]\n", "line 1: matrix row before any"),
        (read_jaspar, ">M1 X\nA [ 1 2\n", "line 2: unbalanced brackets"),
        (
            read_meme,
            "MEME version 4\n\nMOTIF m1\nletter-probability matrix: alength= 4 w= 3\n"
            " 0.1 0.2 0.3 0.4\n 0.25 0.25 0.25 0.25\n",
            "line 4: w= 3 but the matrix of motif 'm1' has 2 rows",
        ),
        (
            read_meme,
            "MEME version 4\nMOTIF m1\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5\n",
            "line 4: 3 values in a matrix row",
        ),
        (
            read_meme,
            "MOTIF m1\nletter-probability matrix: alength= 20 w= 1\n",
            "line 2: alength= 20",
        ),
        (
            read_meme,
            "MOTIF m1\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5 0.5\n",
            "line 3: .*sum to 2, not 1",
        ),
        (read_meme, "MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n", "line 2: ALPHABET"),
        (
            read_transfac,
            "AC M1\nPO A C G T\n01 1 2 3 4\n03 1 2 3 4\n//\n",
            "line 4: row number 03 after 1 rows",
        ),
        (read_transfac, "AC M1\nPO A C G T N\n", "line 2: matrix header"),
        (read_transfac, "AC M1\nPO A C G T\n01 1 2 3\n//\n", "line 3: 3 values"),
        (read_transfac, "AC M1\nID X\n//\n", "line 1: record 'M1' .* has no 'PO A C G T'"),
        (read_uniprobe_pwm, "A:\t0.5\t0.5\nC:\t0.5\t0.5\nG:\t0\t0\n", "last matrix has 3 of"),
        (read_uniprobe_pwm, "A:\t0.5\t1\nC:\t0.5\nG:\t0\t0\nT:\t0\t0\n", "line 2: row C has 1"),
        (read_uniprobe_pwm, "A:\t1\nC:\t1\nG:\t0\nT:\t0\n", "line 1: .*sum to 2, not 1"),
    ],
)
def test_malformed_matrices_name_file_and_line(tmp_path, reader, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(ValueError, match=message) as err:
        reader(path)
    assert str(err.value).startswith(str(path)), err.value  # every error names the file
