"""Universal-PBM tables: the real fixtures read as [N, 36] probes + intensities, orientation
detection, every malformed input rejected with its line, and the split / fold helpers."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from lsgm.data.pbm import (
    PBM_PRIMER,
    PBMArray,
    kfold_indices,
    normalise_intensities,
    read_pbm,
    split_indices,
)

PBM = Path(__file__).parent / "data" / "pbm"
V1_FIRST = ("CTTATCTTTTCCCCACAGTATGATGTTGTAGGTCAC", 207736.651434705)
V1_LAST = ("CAGTCGAGCTTGCTAGACGAAGTTACCCTCAGTGGC", 1309.42236120425)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fixtures_read_as_variable_regions():
    arr = read_pbm(PBM / "proteinA_v1_small.txt")
    assert len(arr) == 400 and arr.sequences.shape == (400, 36)
    assert arr.sequences.dtype == np.int8 and arr.intensities.dtype == np.float64
    probes = arr.probes()
    assert (probes[0], arr.intensities[0]) == V1_FIRST
    assert (probes[-1], arr.intensities[-1]) == V1_LAST
    # A=0 C=1 G=2 T=3: "CTTATC..." by hand
    np.testing.assert_array_equal(arr.sequences[0, :6], [1, 3, 3, 0, 3, 1])
    assert np.all(np.diff(arr.intensities) <= 0)  # the sample kept the file's order
    assert arr.intensities.max() / arr.intensities.min() > 50  # random sample spans the range
    whole = read_pbm(PBM / "proteinA_v1_small.txt", primer=None)
    assert whole.sequences.shape == (400, 60) and whole.probes()[0] == V1_FIRST[0] + PBM_PRIMER
    for name, n in (("proteinA_v2_small.txt", 400), ("plagl1_small.txt", 300)):
        assert read_pbm(PBM / name).sequences.shape == (n, 36)


def test_max_probes_subset_and_gzip(tmp_path):
    arr = read_pbm(PBM / "proteinA_v1_small.txt", max_probes=3)
    assert len(arr) == 3 and arr.probes()[0] == V1_FIRST[0]
    full = read_pbm(PBM / "proteinA_v1_small.txt")
    sub = full.subset(np.array([399, 0]))
    assert sub.probes() == [V1_LAST[0], V1_FIRST[0]] and sub.path == full.path
    assert isinstance(sub, PBMArray)
    gz = tmp_path / "v1.txt.gz"
    gz.write_bytes(gzip.compress((PBM / "proteinA_v1_small.txt").read_bytes()))
    np.testing.assert_array_equal(read_pbm(gz).sequences, full.sequences)


def test_orientation_detection_and_header(tmp_path):
    lines = (PBM / "plagl1_small.txt").read_text().splitlines()[:20]
    swapped = ["\t".join(line.split("\t")[::-1]) for line in lines]
    a = read_pbm(_write(tmp_path / "a.txt", lines))
    b = read_pbm(_write(tmp_path / "b.txt", ["probe\tintensity", *swapped, "", ""]))
    np.testing.assert_array_equal(a.sequences, b.sequences)
    np.testing.assert_array_equal(a.intensities, b.intensities)
    mixed = [*lines[:5], swapped[5], *lines[6:]]
    with pytest.raises(ValueError, match=r"mixed.txt, line 6: .*columns are swapped"):
        read_pbm(_write(tmp_path / "mixed.txt", mixed))
    with pytest.raises(
        ValueError, match=r"line 3: intensity 'intensity' is not a number.*only line 1"
    ):
        read_pbm(_write(tmp_path / "hdr.txt", [*lines[:2], "intensity\tprobe", *lines[2:]]))


def test_negative_intensities_and_normalisation(tmp_path):
    probe = "ACGT" * 9 + PBM_PRIMER
    arr = read_pbm(_write(tmp_path / "neg.txt", [f"5.5\t{probe}", f"-2.0\t{probe}"]))
    np.testing.assert_array_equal(arr.intensities, [5.5, -2.0])
    np.testing.assert_allclose(normalise_intensities(arr.intensities), np.log([8.5, 1.0]))
    y = read_pbm(PBM / "proteinA_v2_small.txt").intensities
    logged = normalise_intensities(y, "log")
    assert spearmanr(logged, y).statistic == pytest.approx(1.0)
    z = normalise_intensities(y, "zscore")
    assert abs(z.mean()) < 1e-12 and z.std() == pytest.approx(1.0)
    np.testing.assert_array_equal(normalise_intensities(y, "none"), y)
    with pytest.raises(ValueError, match="unknown method 'rank'"):
        normalise_intensities(y, "rank")


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("12.0\tACGTNACGT" + PBM_PRIMER, r"line 3: probe letter 'N' at position 5"),
        ("inf\t" + "A" * 36 + PBM_PRIMER, r"line 3: intensity 'inf' is not finite"),
        ("abc\t" + "A" * 36 + PBM_PRIMER, r"line 3: intensity 'abc' is not a number"),
        ("1.0\t" + "A" * 60, r"line 3: .*does not end with the primer.*primer=None"),
        ("1.0\t" + "A" * 35 + PBM_PRIMER, r"line 3: .*length 35 but line 1 has 36"),
        ("1.0\t" + "A" * 36 + PBM_PRIMER + "\t7", r"line 3: expected 2 tab-separated columns"),
        ("1.0\t2.0", r"line 3: both columns are numbers"),
    ],
    ids=["letter", "inf", "text", "primer", "length", "columns", "numbers"],
)
def test_bad_lines_name_file_and_line(tmp_path, bad_line, message):
    good = ["3.0\t" + "C" * 36 + PBM_PRIMER, "2.0\t" + "G" * 36 + PBM_PRIMER]
    path = _write(tmp_path / "bad.txt", [*good, bad_line])
    with pytest.raises(ValueError, match=r"bad.txt, " + message):
        read_pbm(path)


def test_blank_line_inside_empty_file_and_bad_arguments(tmp_path):
    good = "3.0\t" + "C" * 36 + PBM_PRIMER
    with pytest.raises(ValueError, match=r"line 2: blank line inside the table .*line 3"):
        read_pbm(_write(tmp_path / "blank.txt", [good, "", good]))
    with pytest.raises(ValueError, match="no probe lines"):
        read_pbm(_write(tmp_path / "empty.txt", ["intensity\tprobe"]))
    with pytest.raises(ValueError, match="no such file"):
        read_pbm(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="primer=None"):
        read_pbm(tmp_path / "blank.txt", primer="GTXC")
    with pytest.raises(ValueError, match="max_probes=0"):
        read_pbm(tmp_path / "blank.txt", max_probes=0)


def test_split_and_kfold_are_disjoint_and_cover():
    train, test = split_indices(101, (0.7, 0.3), seed=3)
    assert len(train) == 71 and len(test) == 30
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(101))
    assert not np.array_equal(train, np.arange(71))  # shuffled, not the (biased) file head
    parts = split_indices(50, (0.5, 0.25, 0.25), seed=0)
    assert [len(p) for p in parts] == [
        25,
        13,
        12,
    ]  # cumulative bounds round(25.0), round(37.5) = 38
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(50))
    folds = kfold_indices(23, 4, seed=1)
    assert len(folds) == 4
    tests = np.concatenate([te for _, te in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(23))
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and len(tr) + len(te) == 23
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, (0.5, 0.4))
    with pytest.raises(ValueError, match="is empty"):
        split_indices(2, (0.9, 0.05, 0.05))
    with pytest.raises(ValueError, match="2 <= k <= n"):
        kfold_indices(3, 5)


def test_first_line_without_intensity_after_header_is_an_error(tmp_path):
    good = "3.0\t" + "C" * 36 + PBM_PRIMER
    with pytest.raises(ValueError, match=r"line 2: no numeric intensity column.*only line 1"):
        read_pbm(_write(tmp_path / "two.txt", ["intensity\tprobe", "x\ty", good]))
