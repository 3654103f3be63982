"""``lsgm chromatin binarize`` makes the calls ChromHMM ``BinarizeBed`` makes.

Reads are simulated on two short chromosomes (each with a partial last bin) for two cells:
hot spots, ``-`` reads ending within the shift of a chromosome start (Java's truncating
division puts them in bin 0), reads in the partial last bin, a ``track`` line, reads on a
chromosome missing from the sizes file, a gzipped file, a mark with an empty file (all 0) and
marks with no file for a cell (all 2). The same command lines run through ChromHMM (where it is
installed) and through our parser: uniform background, a single control, per-mark controls,
ChromHMM's threshold options, ``-center`` and ``-peaks``; the output files must be identical
byte for byte (gzip compared after decompression).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from lsgm.apps.chromatin_states import BinarizeOptions, binarize_bed
from lsgm.apps.chromatin_states.binarize import poisson_threshold
from lsgm.cli import chromatin_tools

SIZES = {"chrA": 20150, "chrB": 12030}


def _reads(rng, n: int, hot: tuple[str, int, int] | None = None, width: int = 36) -> list[str]:
    lines = []
    for _ in range(n):
        chrom = str(rng.choice(list(SIZES)))
        if hot is not None and rng.random() < 0.6:
            chrom, lo, hi = hot
            start = int(rng.integers(lo, hi))
        else:
            start = int(rng.integers(0, SIZES[chrom] - width))
        strand = "+-"[int(rng.integers(2))]
        lines.append(f"{chrom}\t{start}\t{start + width}\tread\t0\t{strand}\n")
    return lines


def _write_inputs(root: Path) -> None:
    rng = np.random.default_rng(7)
    reads = root / "reads"
    reads.mkdir()
    edge = [
        "track name=reads\n",
        "chrA\t0\t40\tr\t0\t-\n",  # ends within the shift of the start: bin 0 (Java division)
        "chrB\t10\t46\tr\t0\t-\n",
        f"chrA\t{SIZES['chrA'] - 36}\t{SIZES['chrA']}\tr\t0\t+\n",  # the partial last bin
        "chrM\t5\t41\tr\t0\t+\n",  # not in the sizes file: skipped, with a warning
    ]
    (reads / "c1_m1.bed").write_text("".join(edge + _reads(rng, 500, ("chrA", 1000, 3000))))
    (reads / "c1_m2.bed").write_text("".join(_reads(rng, 350, ("chrB", 5000, 6200))))
    (reads / "c1_m3.bed").write_text("")
    with gzip.open(reads / "c2_m1.bed.gz", "wt") as f:
        f.write("".join(_reads(rng, 400, ("chrA", 8000, 9000))))
    (reads / "c2_m2.bed").write_text("".join(_reads(rng, 300, ("chrB", 100, 900), width=150)))
    for name, n in (("c1_ctl.bed", 250), ("c2_ctlA.bed", 200), ("c2_ctlB.bed", 120)):
        (reads / name).write_text("".join(_reads(rng, n)))
    (root / "sizes.txt").write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    (root / "plain.txt").write_text(
        "c1\tm1\tc1_m1.bed\nc1\tm2\tc1_m2.bed\nc1\tm3\tc1_m3.bed\n"
        "c2\tm1\tc2_m1.bed.gz\nc2\tm2\tc2_m2.bed\n"
    )
    (root / "control.txt").write_text(
        "c1\tm1\tc1_m1.bed\tc1_ctl.bed\nc1\tm2\tc1_m2.bed\tc1_ctl.bed\n"
        "c1\tm3\tc1_m3.bed\tc1_ctl.bed\n"
        "c2\tm1\tc2_m1.bed.gz\tc2_ctlA.bed\nc2\tm2\tc2_m2.bed\tc2_ctlB.bed\n"
    )


# (name, options, table): ChromHMM BinarizeBed command lines, output folder by name.
RUNS = [
    ("uniform", [], "plain.txt"),
    ("control", [], "control.txt"),
    ("options", "-b 100 -n 50 -f 1.5 -strictthresh -w 2 -u 2 -gzip".split(), "control.txt"),
    ("center", "-center -p 0.01 -g 2".split(), "plain.txt"),
    ("peaks", ["-peaks"], "plain.txt"),
]


def _argv(root: Path, name: str, options: list[str], table: str, out: str) -> list[str]:
    return [
        *options,
        str(root / "sizes.txt"),
        str(root / "reads"),
        str(root / table),
        str(root / out / name),
    ]


def _contents(folder: Path) -> dict[str, bytes]:
    return {
        p.name.removesuffix(".gz"): gzip.decompress(p.read_bytes())
        if p.suffix == ".gz"
        else p.read_bytes()
        for p in sorted(folder.iterdir())
    }


@pytest.mark.skipif(shutil.which("ChromHMM") is None, reason="ChromHMM is not installed")
def test_binarize_matches_chromhmm(tmp_path):
    _write_inputs(tmp_path)
    script = " && ".join(
        "ChromHMM BinarizeBed " + " ".join(_argv(tmp_path, *run, "java")) + " > /dev/null"
        for run in RUNS
    )
    subprocess.run(["sh", "-c", script], check=True, timeout=120)

    parser = argparse.ArgumentParser()
    chromatin_tools.register(parser.add_subparsers(dest="command"))
    for name, options, table in RUNS:
        args = parser.parse_args(
            ["binarize", "--quiet", *_argv(tmp_path, name, options, table, "ours")]
        )
        with pytest.warns(UserWarning, match=r"c1_m1.bed: skipped 1 read.*line 5: chrM"):
            assert args.run(args) == 0
        ours, java = _contents(tmp_path / "ours" / name), _contents(tmp_path / "java" / name)
        assert (
            sorted(ours)
            == sorted(java)
            == [f"{c}_{chrom}_binary.txt" for c in ("c1", "c2") for chrom in SIZES]
        ), name
        for file in java:
            assert ours[file] == java[file], (name, file)
        calls = (
            np.loadtxt(tmp_path / "ours" / name / "c1_chrA_binary.txt", skiprows=2)
            if name == "uniform"
            else None
        )
        if calls is not None:  # the data exercise all three values
            assert calls.shape == (100, 3) and set(np.unique(calls)) == {0.0, 1.0}
            c2 = np.loadtxt(tmp_path / "ours" / name / "c2_chrB_binary.txt", skiprows=2)
            assert (c2[:, 2] == 2).all() and c2[:, :2].max() == 1


def test_binarize_rejects_malformed_inputs(tmp_path, capsys):
    _write_inputs(tmp_path)
    reads, sizes = tmp_path / "reads", tmp_path / "sizes.txt"

    def run(table_text: str) -> None:
        (tmp_path / "t.txt").write_text(table_text)
        binarize_bed(sizes, reads, tmp_path / "t.txt", tmp_path / "out", BinarizeOptions())

    with pytest.raises(ValueError, match=r"t.txt, line 2: .* 2 tab-separated field"):
        run("c1\tm1\tc1_m1.bed\nc1\tm2\n")
    (reads / "past.bed").write_text("chrB\t100\t136\tr\t0\t+\nchrB\t12000\t12036\tr\t0\t-\n")
    with pytest.raises(
        ValueError,
        match=r"past.bed, line 2: read chrB:12000-12036 is not inside chrB \(length 12030",
    ):
        run("c1\tm1\tpast.bed\n")
    (reads / "names.bed").write_text("1\t100\t136\tr\t0\t+\n1\t300\t336\tr\t0\t+\n")
    with pytest.raises(
        ValueError,
        match=r"names.bed, line 1: no read is on a chromosome of the chromosome-sizes file",
    ):
        run("c1\tm1\tnames.bed\n")
    (reads / "strand.bed").write_text("chrA\t100\t136\tr\t0\t+\nchrA\t1\t37\tr\t0\t*\n")
    with pytest.raises(ValueError, match=r"strand.bed, line 2: strand '\*'"):
        run("c1\tm1\tstrand.bed\n")
    with pytest.raises(ValueError, match=r"missing.bed: no such read file"):
        run("c1\tm1\tmissing.bed\n")
    (tmp_path / "sizes2.txt").write_text("chrA\t20150\nchrB\n")
    with pytest.raises(ValueError, match=r"sizes2.txt, line 2: 'chrB' has no length"):
        binarize_bed(tmp_path / "sizes2.txt", reads, tmp_path / "plain.txt", tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"Poisson threshold \(-p\) 0.0: must be in"):
            BinarizeOptions(poisson_threshold=0.0)
    # Java loops for ever where the Poisson sum cannot pass 1 - p in float64; we stop.
    assert poisson_threshold(1000.0, 1e-4) == 1120
    with pytest.raises(ValueError, match=r"-p\) 1e-12: too small for a background of 1000"):
        poisson_threshold(1000.0, 1e-12)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # ChromHMM's split outputs are refused, naming the option and what to do
    parser = argparse.ArgumentParser(prog="lsgm chromatin", exit_on_error=False)
    chromatin_tools.register(parser.add_subparsers())
    for extra in (["-splitrows"], ["-j", "100"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["binarize", *extra, "s", "r", "t", "o"])
    err = capsys.readouterr().err
    assert "-splitrows: not offered: lsgm writes one file per cell and chromosome" in err
    assert "-j: goes with -splitrows/-splitcols" in err


def _bed_to_bam(bed: Path, bam: Path) -> None:
    """The reads of ``bed`` (plus an unmapped record) as a BAM file, with pysam."""
    pysam = pytest.importorskip("pysam")
    names = [*SIZES, "chrM"]
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": c, "LN": SIZES.get(c, 16569)} for c in names]}
    text = gzip.decompress(bed.read_bytes()).decode() if bed.suffix == ".gz" else bed.read_text()
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i, line in enumerate(text.splitlines()):
            if line.startswith("track"):
                continue
            chrom, start, end, *_, strand = line.split("\t")
            rec = pysam.AlignedSegment(out.header)
            rec.query_name, rec.query_sequence = f"r{i}", "A" * (int(end) - int(start))
            rec.reference_id, rec.reference_start = names.index(chrom), int(start)
            rec.cigarstring, rec.mapping_quality = f"{int(end) - int(start)}M", 30
            rec.flag = 16 if strand == "-" else 0
            out.write(rec)
        rec = pysam.AlignedSegment(out.header)
        rec.query_name, rec.query_sequence, rec.flag = "unmapped", "ACGT", 4
        out.write(rec)


@pytest.mark.skipif(shutil.which("ChromHMM") is None, reason="ChromHMM is not installed")
def test_bam_input_matches_chromhmm_binarizebam(tmp_path):
    pytest.importorskip("pysam")
    _write_inputs(tmp_path)
    reads = tmp_path / "reads"
    for name in ("c1_m1.bed", "c2_m1.bed.gz", "c2_m2.bed"):
        _bed_to_bam(reads / name, reads / (name.split(".")[0] + ".bam"))
    (tmp_path / "bam.txt").write_text("c1\tm1\tc1_m1.bam\nc2\tm1\tc2_m1.bam\nc2\tm2\tc2_m2.bam\n")
    argv = _argv(tmp_path, "bam", [], "bam.txt", "java")
    subprocess.run(["ChromHMM", "BinarizeBam", *argv], check=True, timeout=60, capture_output=True)
    with pytest.warns(UserWarning, match=r"c1_m1.bam: skipped 1 read.*from record 4: chrM"):
        written = binarize_bed(*map(Path, _argv(tmp_path, "bam", [], "bam.txt", "ours")))
    assert len(written) == 4
    assert _contents(tmp_path / "ours" / "bam") == _contents(tmp_path / "java" / "bam")
