"""FASTA/FASTQ reading: symbols, soft observations from IUPAC codes and Phred qualities,
and a clear error (file, record, position) for every malformed input."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from lsgm.data.fasta import read_sequences, reverse_complement

DATA = Path(__file__).parent / "data"


def test_fasta_symbols_lowercase_and_gzip():
    for name in ("tiny.fa", "tiny.fa.gz"):
        records = read_sequences(DATA / name, ambiguous="soft")
        assert [r.name for r in records] == ["seq1", "seq2"]
        np.testing.assert_array_equal(records[0].data, [0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1])
        assert records[1].is_soft
        np.testing.assert_allclose(records[1].data[2], [0.25] * 4)  # N
        np.testing.assert_allclose(records[1].data[0], [0, 0, 1, 0])


def test_ambiguous_codes_are_an_error_by_default():
    with pytest.raises(
        ValueError, match=r"record 2 \(seq2\), position 3: ambiguous IUPAC code 'N'"
    ):
        read_sequences(DATA / "tiny.fa")


def test_fastq_phred_to_soft_observations():
    records = read_sequences(DATA / "tiny.fq", quality="soft")
    soft = records[0].data
    e_i, e_hash = 10 ** (-40 / 10), 10 ** (-2 / 10)  # 'I' = Q40, '#' = Q2
    np.testing.assert_allclose(soft[0], [1 - e_i, e_i / 3, e_i / 3, e_i / 3], rtol=1e-6)
    np.testing.assert_allclose(soft[2, 2], 1 - e_hash, rtol=1e-6)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    hard = read_sequences(DATA / "tiny.fq")
    np.testing.assert_array_equal(hard[1].data, [3, 3])


def test_reverse_complement():
    assert reverse_complement("ACGTN") == "NACGT"
    assert reverse_complement("aacR") == "YGTT"


@pytest.mark.parametrize(
    "content,match",
    [
        ("ACGT\n", r"line 1 must start a FASTA \('>'\) or FASTQ \('@'\) record; found 'A'"),
        ("", "found an empty file"),
        (">a\n\n>b\nAC\n", r"record 1 \(a\): the record is empty"),
        (">a\nACGX\n", r"record 1 \(a\), position 4: unknown letter 'X'"),
        ("@r\nACGT\n+\nII\n", r"Lengths of sequence and quality values differs for r \(4 and 2\)"),
    ],
)
def test_malformed_files_name_the_file_and_place(tmp_path, content, match):
    path = tmp_path / "bad.fa"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as err:
        read_sequences(path)
    assert str(path) in str(err.value)


def test_truncated_gzip(tmp_path):
    data = gzip.compress((DATA / "tiny.fa").read_bytes() * 50)
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="gzip stream is truncated or corrupt"):
        read_sequences(path, ambiguous="soft")


def test_bad_options_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_sequences(tmp_path / "nope.fa")
    with pytest.raises(ValueError, match="ambiguous='maybe'"):
        read_sequences(DATA / "tiny.fa", ambiguous="maybe")


def test_fastq_soft_observations_feed_an_hmm():
    import lsgm
    from lsgm.distributions import Categorical

    records = read_sequences(DATA / "tiny.fq", quality="soft")
    hmm = lsgm.HMM.from_probs(
        [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], Categorical.from_probs(np.full((2, 4), 0.25))
    )
    # Uniform emissions: every observation has likelihood sum_m 0.25 * o[m] = 0.25.
    np.testing.assert_allclose(hmm.score([r.data for r in records]), 6 * np.log(0.25), rtol=1e-5)
