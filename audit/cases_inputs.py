"""CLI cases about malformed inputs and their messages (class 7), and what already holds."""

from __future__ import annotations

import gzip
import os

import numpy as np

from audit.cases_cli import DNA, FIT, _table, case
from audit.harness import TRAIN_FA, leftovers, refused, strict_json, succeeded


# ============================================== class 7: messages for malformed input
def _score(c, model_kind, name, content, *needles, forbid=(), wrong="accepted"):
    m = c.model(model_kind)
    c.write(name, content)
    return refused(c.cli("score", m, name), name, *needles, forbid=forbid, wrong=wrong)


@case("csv-bad-quoting", "7", "CSV with an unterminated quote: message names file/line", quick=True)
def _(c):
    return _score(c, "gauss", "x.csv", 'x,y\n"1,2\n3,4\n')


@case("csv-ragged", "7", "CSV row with a missing cell")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n1,2\n3\n")


@case("csv-nan-string", "7", "CSV cell 'nan' refused naming the line")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n1,2\nnan,4\n", wrong="NaN read as data")


@case("csv-inf-string", "7", "CSV cell 'inf' refused")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n1,2\ninf,4\n", wrong="inf read as data")


@case("csv-overflow", "7", "CSV cell 1e400 (overflows to inf) refused")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n1,2\n1e400,4\n", wrong="1e400 read as inf")


@case("csv-empty-cell", "7", "CSV empty cell refused")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n1,2\n,4\n")


@case("csv-empty-file", "7", "an empty CSV file refused naming it")
def _(c):
    return _score(c, "gauss", "x.csv", "")


@case("csv-header-only", "7", "a CSV with only a header refused naming it")
def _(c):
    return _score(c, "gauss", "x.csv", "x,y\n")


@case("csv-crlf", "7", "CSV with CRLF line endings reads like LF")
def _(c):
    m = c.model("gauss")
    c.write("lf.csv", "x,y\n1,2\n3,4\n")
    c.write("crlf.csv", "x,y\r\n1,2\r\n3,4\r\n")
    a, b = c.cli("score", m, "lf.csv", "--json"), c.cli("score", m, "crlf.csv", "--json")
    if a.rc != 0:
        return refused(a, "lf.csv")

    def check(r):
        x, y = strict_json(a.out)["log_likelihood"], strict_json(r.out)["log_likelihood"]
        return None if x == y else f"CRLF gives {y}, LF gives {x}"

    return succeeded(b, check)


@case("csv-cp1252", "7", "CSV with Windows-1252 bytes (0x96 dash) names the file")
def _(c):
    return _score(c, "gauss", "x.csv", b"x,y\n1,2\n\x963,4\n")


@case("tsv-wrong-feature-count", "holds", "3-column table for a 2-feature model refused")
def _(c):
    return _score(c, "gauss", "x.tsv", "a\tb\tc\n1\t2\t3\n")


@case("npy-random-bytes", "7", "random bytes in .npy: not 'a pickled array'", quick=True)
def _(c):
    return _score(c, "gauss", "x.npy", os.urandom(300), forbid=("pickle",))


@case("npy-truncated", "7", "a truncated .npy names the file")
def _(c):
    import io

    buf = io.BytesIO()
    np.save(buf, np.ones((50, 2), np.float32))
    return _score(c, "gauss", "x.npy", buf.getvalue()[:150])


@case("npy-pickle-refused", "holds", "an object .npy (pickle) is refused, never unpickled")
def _(c):
    import io
    import pickle

    marker = c.p("PWNED")

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    del pickle
    verdict, detail = _score(c, "gauss", "x.npy", buf.getvalue())
    if marker.exists():
        return "silent", "the pickle was executed"
    return verdict, detail


@case("npy-nan-values", "7", ".npy with NaN values refused naming the file")
def _(c):
    buf = __import__("io").BytesIO()
    np.save(buf, np.array([[1.0, np.nan], [2.0, 3.0]], np.float32))
    return _score(c, "gauss", "x.npy", buf.getvalue(), wrong="NaN data scored")


@case("npy-3d", "holds", "a [N, T, D] .npy (as `lsgm sample` writes) reads as N sequences")
def _(c):
    m = c.model("gauss")
    np.save(c.p("x.npy"), np.ones((2, 3, 2), np.float32))
    r = c.cli("score", m, "x.npy", "--json")

    def check(r):
        n = strict_json(r.out)["num_sequences"]
        return None if n == 2 else f"{n} sequences from a [2, 3, 2] array"

    return succeeded(r, check) if r.rc == 0 else refused(r, "x.npy")


@case("npy-strings", "7", "a .npy of strings refused")
def _(c):
    buf = __import__("io").BytesIO()
    np.save(buf, np.array([["a", "b"], ["c", "d"]]))
    return _score(c, "gauss", "x.npy", buf.getvalue())


@case("npy-complex", "7", "a complex .npy refused (imaginary part would be dropped)")
def _(c):
    buf = __import__("io").BytesIO()
    np.save(buf, np.ones((3, 2), np.complex64) * 1j)
    return _score(c, "gauss", "x.npy", buf.getvalue(), wrong="complex data scored")


@case("npz-empty", "7", "an .npz with no arrays refused naming it")
def _(c):
    buf = __import__("io").BytesIO()
    np.savez(buf)
    return _score(c, "gauss", "x.npz", buf.getvalue())


@case("npy-zero-length", "7", "a [0, 2] .npy (zero-length sequence) refused")
def _(c):
    buf = __import__("io").BytesIO()
    np.save(buf, np.ones((0, 2), np.float32))
    return _score(c, "gauss", "x.npy", buf.getvalue())


@case("ints-negative-symbol", "7", "integer table with -1 for a categorical model names the value")
def _(c):
    return _score(c, "ctab", "x.tsv", "x\n0\n-1\n2\n", "-1")


@case("ints-symbol-too-big", "7", "integer table symbol 7 for a 4-symbol model names the value")
def _(c):
    return _score(c, "ctab", "x.tsv", "x\n0\n7\n2\n", "7")


@case("poisson-negative-count", "7", "Poisson model on a count of -3 refused naming it")
def _(c):
    return _score(c, "pois", "x.tsv", "x\n1\n-3\n2\n", "-3")


@case("poisson-fractional-count", "7", "Poisson model on a count of 1.5 refused naming it")
def _(c):
    return _score(c, "pois", "x.tsv", "x\n1\n1.5\n2\n", "1.5")


@case("poisson-huge-count", "7", "Poisson count 1e30: a number or a clear refusal")
def _(c):
    m = c.model("pois")
    c.write("x.tsv", "x\n1\n1e30\n2\n")
    r = c.cli("score", m, "x.tsv", "--json")
    if r.rc == 0 and not r.tb:
        try:
            v = strict_json(r.out)["log_likelihood"]
        except (ValueError, KeyError) as err:
            return "silent", f"bad JSON: {err}"
        if v is None:
            return "unclear", "reported as impossible (null), though the count has probability > 0"
        return "OK", f"log-likelihood {v}"
    return refused(r, "x.tsv", "1e30", "1e+30")


@case("dir-as-input", "7", "a directory as data file: not 'no such file'", quick=True)
def _(c):
    m = c.model("dna")
    c.p("x.fa").mkdir()
    return refused(c.cli("score", m, "x.fa"), "x.fa", forbid=("no such file",))


@case("dir-as-model", "7", "a directory as model file: says it is a directory")
def _(c):
    c.p("m.lsgm").mkdir()
    c.write("x.fa", DNA)
    return refused(c.cli("score", "m.lsgm", "x.fa"), "m.lsgm", forbid=("no such",))


@case("missing-input", "holds", "a missing data file is named")
def _(c):
    m = c.model("dna")
    return refused(c.cli("score", m, "nope.fa"), "nope.fa")


@case("missing-model", "holds", "a missing model file is named")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("score", "nope.lsgm", "x.fa"), "nope.lsgm")


@case("fasta-bom", "7", "FASTA with a UTF-8 BOM reads (or a precise message)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", b"\xef\xbb\xbf" + DNA.encode())
    r = c.cli("score", m, "x.fa")
    if r.rc == 0:
        return succeeded(r)
    return refused(r, "x.fa", "BOM", forbid=("not a text file",))


@case("fasta-nonascii-header", "7", "FASTA header '>séq1' reads (or a precise message)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">séq1 données\nACGT\n")
    r = c.cli("score", m, "x.fa")
    if r.rc == 0:
        return succeeded(r)
    return refused(r, "x.fa", "line 1", forbid=("not a text file",))


@case("fasta-cp1252-header", "7", "Windows-1252 byte in a FASTA header names file and line")
def _(c):
    m = c.model("dna")
    c.write("x.fa", b">s1\nACGT\n>s\xe92\nACGT\n")
    r = c.cli("score", m, "x.fa")
    if r.rc == 0:
        return succeeded(r)
    return refused(r, "x.fa", forbid=("not a text file",))


@case("fasta-cp1252-sequence", "7", "a Windows-1252 byte inside a sequence line names it")
def _(c):
    return _score(c, "dna", "x.fa", b">s1\nAC\x96GT\n", "s1", "line 2")


@case("fasta-crlf", "7", "FASTA with CRLF reads exactly like LF")
def _(c):
    m = c.model("dna")
    c.write("lf.fa", DNA)
    c.write("crlf.fa", DNA.replace("\n", "\r\n"))
    a, b = c.cli("score", m, "lf.fa", "--json"), c.cli("score", m, "crlf.fa", "--json")
    if a.rc != 0:
        return refused(a, "lf.fa")

    def check(r):
        x, y = strict_json(a.out)["log_likelihood"], strict_json(r.out)["log_likelihood"]
        return None if x == y else f"CRLF gives {y}, LF gives {x}"

    return succeeded(b, check)


@case("fasta-empty-file", "7", "an empty FASTA file refused naming it")
def _(c):
    return _score(c, "dna", "x.fa", "")


@case("fasta-zero-length-record", "7", "a FASTA record with no sequence refused naming it")
def _(c):
    return _score(c, "dna", "x.fa", ">s1\nACGT\n>empty\n>s3\nACGT\n", "empty")


@case("fasta-no-header", "7", "a FASTA file without '>' names line 1")
def _(c):
    return _score(c, "dna", "x.fa", "ACGTACGT\n")


@case("fasta-binary", "7", "random bytes named .fa names the file")
def _(c):
    return _score(c, "dna", "x.fa", os.urandom(200))


@case("fasta-bad-symbol", "holds", "a symbol outside the alphabet names record and position")
def _(c):
    return _score(c, "dna", "x.fa", ">s1\nACGT\n>s2\nACXT\n", "s2")


@case("score-N-hint", "7", "N under lsgm score: no hint to an option score rejects", quick=True)
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">s1\nACGNT\n")
    r = c.cli("score", m, "x.fa")
    verdict, detail = refused(r, "x.fa", "s1")
    if verdict == "OK" and "--ambiguous" in r.err and "lsgm fit" not in r.err:
        return "unclear", f"suggests --ambiguous, which lsgm score does not accept: {detail}"
    return verdict, detail


@case("fasta-gz-truncated", "7", "a truncated .fa.gz names the file")
def _(c):
    return _score(c, "dna", "x.fa.gz", gzip.compress((DNA * 200).encode())[:-40])


@case("fasta-gz-not-gzip", "7", "plain text named .fa.gz: read or a precise message")
def _(c):
    m = c.model("dna")
    c.write("x.fa.gz", DNA)
    r = c.cli("score", m, "x.fa.gz")
    return succeeded(r) if r.rc == 0 else refused(r, "x.fa.gz")


@case("fasta-gz-empty", "7", "an empty .fa.gz file names it")
def _(c):
    return _score(c, "dna", "x.fa.gz", b"")


@case("fastq-qual-length", "7", "FASTQ with a quality line of the wrong length names the record")
def _(c):
    return _score(c, "dna", "x.fq", "@r1\nACGT\n+\nII\n", "r1")


@case("fastq-truncated", "7", "a truncated FASTQ record names the record")
def _(c):
    return _score(c, "dna", "x.fq", "@r1\nACGT\n+\nIIII\n@r2\nACGT\n", "r2")


@case("model-as-data", "7", "score m.lsgm m.lsgm (a model file as data) names the file")
def _(c):
    c.model("dna", "m.lsgm")
    return refused(c.cli("score", "m.lsgm", "m.lsgm"), "m.lsgm")


@case("data-of-other-kind", "holds", "a CSV for a DNA model refused naming it")
def _(c):
    m = c.model("dna")
    _table(c)
    return refused(c.cli("score", m, "x.csv"), "x.csv")


@case(
    "json-roll-deep-nesting",
    "7",
    "piano-roll JSON nested 100000 deep: a message, no RecursionError",
    quick=True,
)
def _(c):
    return _score(c, "roll", "x.json", "[" * 100000 + "]" * 100000)


@case("json-roll-malformed", "7", "piano-roll JSON with a trailing comma names file/line")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[60, 64],]]}')


@case("json-roll-note-out-of-range", "7", "piano-roll note 200 (outside 21..108) names it")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[60], [200]]]}', "200")


@case("json-roll-note-negative", "7", "piano-roll note -5 names it")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[60], [-5]]]}', "-5")


@case("json-roll-note-string", "7", "piano-roll note 'C4' (a string) names it")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[60], ["C4"]]]}', "C4")


@case("json-roll-note-float", "7", "piano-roll note 60.5 names it")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[60.5]]]}', "60.5")


@case("json-roll-nan", "7", "piano-roll JSON with NaN names the file")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [[[NaN]]]}')


@case("json-roll-wrong-shape", "7", "piano-roll JSON that is a list, not splits")
def _(c):
    return _score(c, "roll", "x.json", "[1, 2, 3]")


@case("json-roll-empty-split", "7", "piano-roll JSON whose splits hold no sequences")
def _(c):
    return _score(c, "roll", "x.json", '{"train": [], "test": []}')


@case("mat-random-bytes", "7", "random bytes named .mat names the file")
def _(c):
    return _score(c, "roll", "x.mat", os.urandom(400))


@case("midi-random-bytes", "7", "random bytes named .mid names the file")
def _(c):
    return _score(c, "roll", "x.mid", os.urandom(400))


@case("midi-empty", "7", "an empty .mid names the file")
def _(c):
    return _score(c, "roll", "x.mid", b"")


@case("labels-count-mismatch", "holds", "labels with another record count refused naming them")
def _(c):
    c.write("x.fa", DNA)
    c.write("lab.fa", ">s1\nCCCCNNNNCCCC\n")
    return refused(c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q"), "lab.fa")


@case("labels-length-mismatch", "holds", "a label record shorter than its sequence names it")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", ">a\nCCN\n")
    return refused(c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q"), "lab.fa")


@case("labels-name-mismatch", "holds", "label record names differing from data names are named")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", ">b\nCCNNCC\n")
    return refused(c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q"), "lab.fa")


@case("labels-empty", "7", "an empty labels file names it")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", "")
    return refused(c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q"), "lab.fa")


@case("labels-is-directory", "7", "--labels DIR: says it is a directory")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.p("lab.fa").mkdir()
    return refused(
        c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q"),
        "lab.fa",
        forbid=("no such",),
    )


@case("labels-crlf", "7", "labels FASTA with CRLF: read like LF (no length mismatch from \\r)")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", ">a\r\nCCNNCC\r\n")
    r = c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "-q", "--json")

    def check(r):
        names = strict_json(r.out).get("num_states")
        return None if names == 2 else f"{names} states from labels 'C','N' (\\r a label?)"

    return succeeded(r, check) if r.rc == 0 else refused(r, "lab.fa")


@case("validation-other-kind", "7", "--validation with a CSV for a DNA fit names it")
def _(c):
    c.write("x.fa", DNA)
    _table(c, "v.csv")
    r = c.cli(
        "fit",
        "x.fa",
        "-o",
        "m.lsgm",
        "--trainer",
        "gradient",
        "--epochs",
        "1",
        "--validation",
        "v.csv",
        "-q",
    )
    return refused(r, "v.csv")


@case("unknown-suffix", "holds", "data file with an unknown suffix names the supported ones")
def _(c):
    m = c.model("dna")
    c.write("x.txt", DNA)
    return refused(c.cli("score", m, "x.txt"), "x.txt")


@case("sequence-emission-mismatch", "holds", "fit x.fa --emission gaussian refused")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--emission", "gaussian", *FIT), "gaussian")


@case("alphabet-mismatch", "holds", "RNA data (U) for a DNA model names the record and symbol")
def _(c):
    return _score(c, "dna", "x.fa", ">r1\nACGU\n", "r1", "U")


@case("empty-states-names-option", "7", "--state-names '' refused naming the option")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--state-names", "", *FIT), "--state-names")


# ======================================================================= holds
@case(
    "fit-score-decode-posterior",
    "holds",
    "fit, score, decode, posterior, sample, info work and write whole files",
)
def _(c):
    c.write("train.fa", TRAIN_FA)
    steps = [
        ("fit", "train.fa", "-o", "m.lsgm", "--states", "2", "--max-iter", "3", "--tol", "0", "-q"),
        ("score", "m.lsgm", "train.fa", "-o", "s.tsv", "--json"),
        ("decode", "m.lsgm", "train.fa", "-o", "d.tsv"),
        ("posterior", "m.lsgm", "train.fa", "-o", "p.npz"),
        ("sample", "m.lsgm", "-o", "s.fa", "-n", "10"),
        ("info", "m.lsgm", "--json"),
    ]
    for argv in steps:
        r = c.cli(*argv)
        if r.rc != 0 or r.tb:
            return succeeded(r)
    if leftovers(c.dir):
        return "unclear", f"temp files left: {leftovers(c.dir)}"
    probs = np.load(c.p("p.npz"))
    sums = [np.abs(probs[k].sum(1) - 1).max() for k in probs.files if k.startswith("seq")]
    if max(sums) > 1e-4:
        return "silent", f"posterior rows sum to 1 +- {max(sums)}"
    rows = c.p("d.tsv").read_text().splitlines()
    if len(rows) != 1 + 56:
        return "silent", f"decode wrote {len(rows) - 1} rows for 56 positions"
    return "OK", "all six commands exit 0; posteriors normalised; whole files"


@case(
    "rerun-overwrites-output",
    "holds",
    "decode twice to the same output: replaced, no junk",
    quick=True,
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    r1 = c.cli("decode", m, "x.fa", "-o", "d.tsv")
    r2 = c.cli("decode", m, "x.fa", "-o", "d.tsv", may_change=["d.tsv"])
    if r1.rc != 0:
        return succeeded(r1)
    return succeeded(r2, lambda r: f"junk {leftovers(c.dir)}" if leftovers(c.dir) else None)


@case("plot-works", "holds", "plot writes pictures into a new folder")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    r = c.cli("plot", m, "x.fa", "-o", "pl", "--format", "svg")
    return succeeded(r, lambda r: None if any(c.p("pl").iterdir()) else "no pictures")


@case("sample-table-csv", "holds", "sample a Gaussian model to .csv with finite numbers")
def _(c):
    m = c.model("gauss")
    r = c.cli("sample", m, "-o", "s.csv", "-n", "5")

    def check(r):
        vals = np.loadtxt(c.p("s.csv"), delimiter=",", skiprows=1)
        return None if np.isfinite(vals).all() else "non-finite samples"

    return succeeded(r, check)


@case("score-matches-api", "holds", "score --json equals the API's log p(x)")
def _(c):
    from lsgm.models.serialization import load_model

    m = c.model("dna")
    c.write("x.fa", ">s\nACGTTGCA\n")
    r = c.cli("score", m, "x.fa", "--json")
    model, _ = load_model(m)
    want = float(model.log_prob(np.array([0, 1, 2, 3, 3, 2, 1, 0], np.int32)))

    def check(r):
        got = strict_json(r.out)["log_likelihood"]
        return None if abs(got - want) < 1e-4 else f"CLI {got} vs API {want}"

    return succeeded(r, check)


@case("help-exit-0", "holds", "lsgm --help / lsgm score --help exit 0")
def _(c):
    r = c.cli("score", "--help")
    return succeeded(r, lambda r: None if "--output" in r.out else "no --output in help")


@case("unknown-option", "holds", "an unknown option exits 2 naming it")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("score", m, "x.fa", "--frobnicate"), "--frobnicate")


@case("info-works", "holds", "info prints kind, states and input, strict JSON")
def _(c):
    m = c.model("lsgm")
    r = c.cli("info", m, "--json")
    return succeeded(r, lambda r: None if strict_json(r.out)["kind"] == "LSGM" else "wrong kind")
