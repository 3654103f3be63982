"""CLI cases run in-process through ``lsgm.cli.main.main``: classes 1, 2, 6, 7 and what holds."""

from __future__ import annotations

import json
import os

import numpy as np

from audit.harness import (
    DATA,
    leftovers,
    limited,
    refused,
    strict_json,
    succeeded,
)
from audit.harness import case as _case

DNA = ">s1\nACGTACGTTGCA\n>s2\nGGTACCATGA\n"
FIT = ["--states", "2", "--max-iter", "2", "-q"]  # a fit that still trains is short


def case(id, cls, desc, quick=False):
    return _case("cli." + id, cls, desc, quick)


def _table(ctx, name="x.csv"):
    return ctx.write(name, "seq_id,x,y\nA,0.5,1\nA,-1.25,2\nA,3,0.4\nB,7,8\nB,1,2\n")


# =========================================================== class 1: outputs vs inputs
@case("fit-o-same-file", "1", "fit x.fa -o x.fa (output is the training file)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "x.fa", *FIT), "x.fa", wrong="wrote over x.fa")


@case("fit-o-fasta-suffix", "1", "fit small.fa -o copy.fa (a model written under a FASTA name)")
def _(c):
    c.write("small.fa", DNA)
    r = c.cli("fit", "small.fa", "-o", "copy.fa", *FIT)
    return refused(r, "copy.fa", ".fa", wrong="a model file named copy.fa")


@case("fit-o-dotdot", "1", "fit x.fa -o sub/../x.fa (same file by another spelling)")
def _(c):
    c.write("x.fa", DNA)
    (c.p("sub")).mkdir()
    return refused(c.cli("fit", "x.fa", "-o", "sub/../x.fa", *FIT), "x.fa")


@case("fit-o-symlink-to-input", "1", "fit x.fa -o m.lsgm where m.lsgm is a symlink to x.fa")
def _(c):
    c.write("x.fa", DNA)
    os.symlink("x.fa", c.p("m.lsgm"))
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", *FIT), "m.lsgm", "x.fa")


@case(
    "fit-o-hardlink-to-input",
    "1",
    "fit x.fa -o m.lsgm where m.lsgm is a hard link of x.fa",
    quick=True,
)
def _(c):
    c.write("x.fa", DNA)
    os.link(c.p("x.fa"), c.p("m.lsgm"))
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", *FIT), "m.lsgm", "x.fa")


@case("fit-o-labels", "1", "fit x.fa --labels lab.lsgm -o lab.lsgm (output is the labels file)")
def _(c):
    c.write("x.fa", ">a\nACGT\n")
    c.write("lab.lsgm", ">a\nCCNN\n")  # a labels FASTA under a model-like name
    r = c.cli("fit", "x.fa", "--labels", "lab.lsgm", "-o", "lab.lsgm", "-q")
    return refused(r, "lab.lsgm")


@case("fit-o-validation", "1", "fit --validation v.fa -o v.fa (output is the validation file)")
def _(c):
    c.write("x.fa", DNA)
    c.write("v.fa", ">v\nACGTTT\n")
    r = c.cli(
        "fit",
        "x.fa",
        "--trainer",
        "gradient",
        "--epochs",
        "1",
        "--validation",
        "v.fa",
        "-o",
        "v.fa",
        "-q",
    )
    return refused(r, "v.fa")


@case("fit-o-second-data", "1", "fit a.fa b.fa -o b.fa (output is the second training file)")
def _(c):
    c.write("a.fa", DNA)
    c.write("b.fa", ">b\nACGTTT\n")
    return refused(c.cli("fit", "a.fa", "b.fa", "-o", "b.fa", *FIT), "b.fa")


@case(
    "posterior-o-own-npz",
    "1",
    "posterior m.lsgm x.npz -o x.npz (replaces its own input)",
    quick=True,
)
def _(c):
    m = c.model("gauss")
    np.savez(c.p("x.npz"), a=np.zeros((5, 2), np.float32))
    return refused(c.cli("posterior", m, "x.npz", "-o", "x.npz"), "x.npz")


@case("posterior-o-own-tsv", "1", "posterior m.lsgm x.tsv -o x.tsv")
def _(c):
    m = c.model("gauss")
    c.write("x.tsv", "x\ty\n0.5\t1\n2\t3\n")
    return refused(c.cli("posterior", m, "x.tsv", "-o", "x.tsv"), "x.tsv")


@case("decode-o-own-tsv", "1", "decode m.lsgm x.tsv -o x.tsv")
def _(c):
    m = c.model("gauss")
    c.write("x.tsv", "x\ty\n0.5\t1\n2\t3\n")
    return refused(c.cli("decode", m, "x.tsv", "-o", "x.tsv"), "x.tsv")


@case("score-o-own-tsv", "1", "score m.lsgm x.tsv -o x.tsv")
def _(c):
    m = c.model("gauss")
    c.write("x.tsv", "x\ty\n0.5\t1\n2\t3\n")
    return refused(c.cli("score", m, "x.tsv", "-o", "x.tsv"), "x.tsv")


@case(
    "score-o-hardlink-model",
    "1",
    "score m.lsgm x.fa -o s.tsv where s.tsv is a hard link of the model",
)
def _(c):
    m = c.model("dna", "m.lsgm")
    c.write("x.fa", DNA)
    os.link(m, c.p("s.tsv"))
    return refused(c.cli("score", "m.lsgm", "x.fa", "-o", "s.tsv"), "s.tsv", "m.lsgm")


@case("decode-o-symlink-data", "1", "decode m x.fa -o out.tsv where out.tsv -> x.fa (symlink)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    os.symlink("x.fa", c.p("out.tsv"))
    return refused(c.cli("decode", m, "x.fa", "-o", "out.tsv"), "out.tsv", "x.fa")


@case("posterior-o-via-dir-link", "1", "posterior m x.npz -o ln/x.npz where ln -> . (dir link)")
def _(c):
    m = c.model("gauss")
    np.savez(c.p("x.npz"), a=np.zeros((5, 2), np.float32))
    os.symlink(".", c.p("ln"))
    return refused(c.cli("posterior", m, "x.npz", "-o", "ln/x.npz"), "x.npz")


@case("sample-o-symlink-model", "1", "sample m.lsgm -o s.fa where s.fa -> m.lsgm")
def _(c):
    c.model("dna", "m.lsgm")
    os.symlink("m.lsgm", c.p("s.fa"))
    return refused(c.cli("sample", "m.lsgm", "-o", "s.fa", "-n", "5"), "s.fa", "m.lsgm")


@case("decode-o-model-file", "1", "decode m.tsv... model named m.tsv, -o m.tsv (output = model)")
def _(c):
    c.model("dna", "m.tsv")
    c.write("x.fa", DNA)
    return refused(c.cli("decode", "m.tsv", "x.fa", "-o", "m.tsv"), "m.tsv")


@case("plot-o-data-file", "1", "plot m x.fa -o x.fa (output folder is the data file)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("plot", m, "x.fa", "-o", "x.fa"), "x.fa")


@case("fit-o-directory", "1", "fit x.fa -o out/ where out is an existing directory")
def _(c):
    c.write("x.fa", DNA)
    c.p("out").mkdir()
    r = c.cli("fit", "x.fa", "-o", "out", *FIT)
    return refused(r, "out", wrong="model written into/over a directory")


@case("decode-o-directory", "1", "decode m x.fa -o d.tsv where d.tsv is a directory")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    c.p("d.tsv").mkdir()
    return refused(c.cli("decode", m, "x.fa", "-o", "d.tsv"), "d.tsv")


@case("fit-o-parent-is-file", "1", "fit x.fa -o x.fa/m.lsgm (parent of the output is a file)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "x.fa/m.lsgm", *FIT), "x.fa")


@case(
    "fit-o-readonly-dir",
    "1",
    "fit x.fa -o ro/m.lsgm in a read-only filesystem: refused before training",
)
def _(c):
    c.write("x.fa", DNA)
    ro = c.mount_tmpfs("ro", ro=True)
    if ro is None:
        return "OK", "unclear-skipped: cannot mount a read-only tmpfs (not root?)"
    r = c.cli(
        "fit", "x.fa", "-o", "ro/m.lsgm", "--states", "2", "--max-iter", "50", "--tol", "0", "-q"
    )
    verdict, detail = refused(r, "ro")
    if verdict == "OK" and r.seconds > 4:
        return "unclear", f"refused only after training ({r.seconds:.1f} s): {detail}"
    return verdict, detail


@case("decode-o-readonly-dir", "1", "decode into a read-only filesystem names the destination")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    if c.mount_tmpfs("ro", ro=True) is None:
        return "OK", "unclear-skipped: cannot mount a read-only tmpfs"
    return refused(c.cli("decode", m, "x.fa", "-o", "ro/d.tsv"), "ro/d.tsv", "ro")


def _full_disk(c, argv, out):
    """Run ``argv`` with its output on a full 64 KiB tmpfs."""
    fs = c.mount_tmpfs("full", size="64k")
    if fs is None:
        return None
    fd = os.open(fs / "filler.bin", os.O_WRONLY | os.O_CREAT)  # fill it (the user's file)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    r = c.cli(*argv)
    verdict, detail = refused(r, out, wrong="claimed success on a full disk", forbid=(".tmp",))
    if (fs / os.path.basename(out)).exists():
        return "silent", f"{out} exists after a failed write"
    junk = leftovers(fs)
    if junk and verdict == "OK":
        return "unclear", f"temp files left: {junk}"
    return verdict, detail


@case("fit-full-disk", "1", "fit -o on a full disk: exit 1 naming the path, no temp file")
def _(c):
    c.write("x.fa", DNA)
    res = _full_disk(c, ["fit", "x.fa", "-o", "full/m.lsgm", *FIT], "full/m.lsgm")
    return res or ("OK", "unclear-skipped: cannot mount tmpfs")


@case(
    "decode-full-disk",
    "1",
    "decode -o on a full disk names the path (not the temp file)",
    quick=True,
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    res = _full_disk(c, ["decode", m, "x.fa", "-o", "full/d.tsv"], "full/d.tsv")
    return res or ("OK", "unclear-skipped: cannot mount tmpfs")


@case("posterior-full-disk", "1", "posterior -o .npz on a full disk names the path")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    res = _full_disk(c, ["posterior", m, "x.fa", "-o", "full/p.npz"], "full/p.npz")
    return res or ("OK", "unclear-skipped: cannot mount tmpfs")


@case("sample-full-disk", "1", "sample -o on a full disk names the path")
def _(c):
    m = c.model("dna")
    res = _full_disk(c, ["sample", m, "-o", "full/s.fa", "-n", "2000"], "full/s.fa")
    return res or ("OK", "unclear-skipped: cannot mount tmpfs")


@case(
    "stale-tmp-cleaned",
    "1",
    "a crash's hidden .NAME.*.tmp.* file is gone after the next successful run",
    quick=True,
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    stale = c.write(".d.tsv.k3j2x9.tmp.tsv", "half a file")
    os.utime(stale, (1, 1))
    r = c.cli("decode", m, "x.fa", "-o", "d.tsv", may_change=[stale.name])
    verdict, detail = succeeded(r)
    if verdict == "OK" and leftovers(c.dir):
        return (
            "unclear",
            f"stale temp file left behind: {[os.path.basename(p) for p in leftovers(c.dir)]}",
        )
    return verdict, detail


@case("checkpoint-dir-is-data", "1", "fit --checkpoint-dir x.fa (a data file as the folder)")
def _(c):
    c.write("x.fa", DNA)
    r = c.cli("fit", "x.fa", "-o", "m.lsgm", "--checkpoint-dir", "x.fa", *FIT)
    return refused(r, "x.fa")


@case("failed-run-keeps-old-output", "1", "a refused decode leaves the previous d.tsv intact")
def _(c):
    m = c.model("dna")
    c.write("bad.fa", ">s\nACGZ\n")
    c.write("d.tsv", "previous results\n")
    return refused(c.cli("decode", m, "bad.fa", "-o", "d.tsv"), "bad.fa")


@case("demo-o-file", "1", "demo --quick -o x.fa (output folder is an existing file)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("demo", "--quick", "-o", "x.fa"), "x.fa")


@case("score-o-wrong-suffix", "holds", "score -o x.fa (per-sequence table under a FASTA name)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    c.write("y.fa", DNA)
    return refused(c.cli("score", m, "x.fa", "-o", "y.fa"), "y.fa")


@case("sample-o-wrong-suffix", "holds", "sample a DNA model -o s.npy (suffix of another kind)")
def _(c):
    m = c.model("dna")
    return refused(c.cli("sample", m, "-o", "s.npy"), "s.npy")


# ================================================================ class 2: impossible data
IMP = ">ok\nACAC\n>bad\nACTA\n"  # record 2 position 3 (T) has probability 0


def _no_finite_for_bad(r, name="bad"):
    """exit 0 is only right if the impossible record is reported, not given a number."""
    try:
        data = strict_json(r.out)
    except ValueError as err:
        return f"--json output is not strict JSON ({err})"
    for s in data.get("per_sequence", []):
        if s.get("name") == name and s.get("log_likelihood") is not None:
            return f"record {name!r} got log-likelihood {s['log_likelihood']}"
    return None


@case(
    "score-impossible",
    "2",
    "score a record with a probability-0 symbol (says which, where)",
    quick=True,
)
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    r = c.cli("score", m, "x.fa")
    if r.rc == 0 and not r.tb:
        text = r.out + r.err
        if "inf" in text.lower() and "bad" in text:
            return "OK", "exit 0 reporting -inf for record bad"
        if "inf" in text.lower():
            return "unclear", "exit 0, total -inf, but which record (bad) and where is not said"
        return "silent", f"exit 0 with a finite score: {r.out.strip().splitlines()[1:2]}"
    return refused(r, "bad", "record 2")


@case(
    "score-impossible-json",
    "2",
    "score --json of an impossible record: strict JSON, no finite value for it",
)
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    r = c.cli("score", m, "x.fa", "--json")
    if r.rc == 0 and not r.tb:
        problem = _no_finite_for_bad(r)
        return ("silent", problem) if problem else ("OK", "exit 0, strict JSON, bad has null")
    return refused(r, "bad")


@case("score-impossible-tsv", "2", "score -o s.tsv of an impossible record: no finite value")
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    r = c.cli("score", m, "x.fa", "-o", "s.tsv")
    if r.rc == 0 and not r.tb:
        rows = c.p("s.tsv").read_text().splitlines()
        bad = [row for row in rows if row.startswith("bad\t")]
        if bad and "inf" not in bad[0].lower() and "nan" not in bad[0].lower():
            return "silent", f"finite row {bad[0]!r}"
        return "OK", f"exit 0, row {bad[:1]}"
    return refused(r, "bad")


@case("score-impossible-transitions", "2", "score 'AA' under a model that must alternate A/C")
def _(c):
    m = c.model("alt")
    c.write("x.fa", ">alt\nACAC\n>stuck\nACAA\n")
    r = c.cli("score", m, "x.fa", "--json")
    if r.rc == 0 and not r.tb:
        problem = _no_finite_for_bad(r, "stuck")
        return ("silent", problem) if problem else ("OK", "exit 0, stuck reported")
    return refused(r, "stuck")


@case("decode-impossible", "2", "decode an impossible record: no made-up path", quick=True)
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    r = c.cli("decode", m, "x.fa", "-o", "d.tsv")
    if r.rc == 0 and not r.tb:
        rows = [x.split("\t") for x in c.p("d.tsv").read_text().splitlines()[1:]]
        states = [row[2] for row in rows if row[0] == "bad"]
        if states and all(s not in ("-1", "") for s in states):
            return "silent", f"made-up path {''.join(states)} for an impossible record"
        return "OK", "exit 0, no path for bad"
    return refused(r, "bad", "record 2")


@case("decode-impossible-bed", "2", "decode .bed of an impossible record: no invented intervals")
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    r = c.cli("decode", m, "x.fa", "-o", "d.bed")
    if r.rc == 0 and not r.tb:
        bad = [x for x in c.p("d.bed").read_text().splitlines() if x.startswith("bad\t")]
        return ("silent", f"intervals {bad[:2]}") if bad else ("OK", "no intervals for bad")
    return refused(r, "bad", "record 2")


@case("posterior-impossible-tsv", "2", "posterior .tsv of an impossible record: refused naming it")
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    return refused(
        c.cli("posterior", m, "x.fa", "-o", "p.tsv"),
        "bad",
        "record 2",
        wrong="posteriors written for an impossible record",
    )


@case("posterior-impossible-npz", "2", "posterior .npz of an impossible record: refused naming it")
def _(c):
    m = c.model("imp")
    c.write("x.fa", IMP)
    return refused(
        c.cli("posterior", m, "x.fa", "-o", "p.npz"),
        "bad",
        "record 2",
        wrong="posteriors written for an impossible record",
    )


@case("plot-impossible", "2", "plot of an impossible record: refused naming it")
def _(c):
    m = c.model("imp")
    c.write("x.fa", ">bad\nTTTT\n")
    return refused(c.cli("plot", m, "x.fa", "-o", "pl"), "bad", wrong="pictures of nothing")


# ====================================================== class 6: say what you do
@case(
    "score-default-split-all",
    "6",
    "score MODEL music.json scores every split (help: all)",
    quick=True,
)
def _(c):
    m = c.model("roll")
    data = c.copy(DATA / "music_tiny.json")
    splits = json.loads(data.read_text())
    total = sum(len(v) for v in splits.values())
    r = c.cli("score", m, data.name, "--json")

    def check(r):
        n = strict_json(r.out)["num_sequences"]
        return None if n == total else f"scored {n} of {total} sequences (help says all splits)"

    return succeeded(r, check)


@case("decode-default-split-all", "6", "decode MODEL music.json decodes every split")
def _(c):
    m = c.model("roll")
    data = c.copy(DATA / "music_tiny.json")
    total = sum(len(v) for v in json.loads(data.read_text()).values())
    r = c.cli("decode", m, data.name, "-o", "d.tsv", "--json")

    def check(r):
        n = strict_json(r.out)["num_sequences"]
        return None if n == total else f"decoded {n} of {total} sequences"

    return succeeded(r, check)


@case("dup-state-names", "6", "fit --state-names a,a (duplicate names) refused", quick=True)
def _(c):
    c.write("x.fa", DNA)
    return refused(
        c.cli("fit", "x.fa", "-o", "m.lsgm", "--state-names", "a,a", *FIT),
        "a,a",
        "'a'",
        "duplicate",
        wrong="two states named a",
    )


@case("dup-alphabet", "6", "fit --alphabet AACGT (duplicate letter) refused")
def _(c):
    c.write("x.fa", DNA)
    return refused(
        c.cli("fit", "x.fa", "-o", "m.lsgm", "--alphabet", "AACGT", *FIT),
        "AACGT",
        "'A'",
        wrong="symbol A has two indices",
    )


@case("empty-alphabet", "6", "fit --alphabet '' refused")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--alphabet", "", *FIT), "alphabet")


@case("unnamed-fasta-record", "6", "a FASTA record with an empty name ('>') refused", quick=True)
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">s1\nACGT\n>\nACGT\n")
    return refused(c.cli("score", m, "x.fa"), "x.fa", wrong="unnamed record scored")


@case("csv-underscore-number", "6", "a CSV cell '1_000' refused (strict numbers)", quick=True)
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "x,y\n1_000,2\n3,4\n")
    return refused(c.cli("score", m, "x.csv"), "1_000", "x.csv", wrong="1_000 read as 1000")


@case("csv-hex-number", "6", "a CSV cell '0x10' refused")
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "x,y\n0x10,2\n3,4\n")
    return refused(c.cli("score", m, "x.csv"), "0x10", "x.csv")


@case(
    "csv-padded-number", "6", "a CSV cell ' 1.5 ' with spaces: read as 1.5 or refused, no traceback"
)
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "x,y\n 1.5 ,2\n3,4\n")
    r = c.cli("score", m, "x.csv")
    return succeeded(r) if r.rc == 0 else refused(r, "x.csv", "1.5")


@case("json-no-infinity", "6", "score --json with -inf is strict RFC 8259 (no -Infinity)")
def _(c):
    m = c.model("imp")
    c.write("x.fa", ">bad\nTTTT\n")
    r = c.cli("score", m, "x.fa", "--json")
    if r.rc == 0 and not r.tb:
        try:
            strict_json(r.out)
        except ValueError as err:
            return "silent", str(err)
        return "OK", "strict JSON"
    return refused(r, "bad")


@case(
    "interrupt-inprocess-write",
    "6",
    "Ctrl-C while the output is renamed into place: exit 130, no output, no temp file",
    quick=True,
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    calls = []
    real_replace, real_rename = os.replace, os.rename

    def interrupt(*a, **k):
        calls.append(a)
        raise KeyboardInterrupt

    os.replace = os.rename = interrupt
    try:
        r = c.cli("decode", m, "x.fa", "-o", "d.tsv")
    finally:
        os.replace, os.rename = real_replace, real_rename
    if not calls:
        return "unclear", "could not inject the interrupt (no os.replace/os.rename call)"
    if r.tb:
        return "unclear", "traceback: " + r.tb.strip().splitlines()[-1]
    if c.p("d.tsv").exists() or leftovers(c.dir):
        return "silent", f"output or temp file left after Ctrl-C (exit {r.rc})"
    if r.rc != 130:
        return "unclear", f"exit {r.rc} after Ctrl-C (want 130): {r.first_err}"
    return "OK", "exit 130, nothing written"


@case("interrupt-inprocess-compute", "6", "Ctrl-C during inference (score -o): exit 130, no output")
def _(c):
    import lsgm.models.base as base

    m = c.model("dna")
    c.write("x.fa", DNA)
    real = base._batched

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    base._batched = interrupt
    try:
        r = c.cli("score", m, "x.fa", "-o", "s.tsv")
    finally:
        base._batched = real
    if r.tb:
        return "unclear", "traceback: " + r.tb.strip().splitlines()[-1]
    if c.p("s.tsv").exists():
        return "silent", "output written after Ctrl-C"
    if r.rc == 0:
        return "unclear", "could not inject the interrupt"
    return ("OK", "exit 130") if r.rc == 130 else ("unclear", f"exit {r.rc} (want 130)")


@case("state-names-empty-item", "holds", "--state-names 'a,' refused")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--state-names", "a,", *FIT), "a,")


@case("states-zero", "holds", "fit --states 0 refused naming the option")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--states", "0", "-q"), "--states")


@case(
    "states-huge",
    "6",
    "fit --states 100000 on 22 symbols: refused (more states than data) or bounded, no crash",
)
def _(c):
    c.write("x.fa", DNA)
    r = limited(c, "fit", "x.fa", "-o", "m.lsgm", "--states", "100000", "--max-iter", "1", "-q")
    if r.rc is None:
        return "unclear", "timed out (allocating?)"
    return refused(r, "--states", "100000", "states", forbid=("memory",))


@case("sample-length-zero", "holds", "sample -n 0 refused")
def _(c):
    m = c.model("dna")
    return refused(c.cli("sample", m, "-o", "s.fa", "-n", "0"), "--length", "-n")


@case("sample-num-negative", "holds", "sample --num-sequences -2 refused")
def _(c):
    m = c.model("dna")
    return refused(c.cli("sample", m, "-o", "s.fa", "--num-sequences", "-2"), "--num-sequences")


@case("sample-step-seconds-nan", "6", "sample a music model --step-seconds nan refused")
def _(c):
    m = c.model("roll")
    return refused(
        c.cli("sample", m, "-o", "s.mid", "-n", "4", "--step-seconds", "nan"),
        "--step-seconds",
        "nan",
    )


@case("sample-step-seconds-negative", "6", "sample a music model --step-seconds -1 refused")
def _(c):
    m = c.model("roll")
    return refused(
        c.cli("sample", m, "-o", "s.mid", "-n", "4", "--step-seconds", "-1"), "--step-seconds", "-1"
    )


@case("plot-record-zero", "holds", "plot --record 0 refused")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("plot", m, "x.fa", "-o", "pl", "--record", "0"), "--record")


@case("plot-record-too-big", "holds", "plot --record 9 on a 2-record file refused naming both")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("plot", m, "x.fa", "-o", "pl", "--record", "9"), "x.fa")


@case("bed-states-unknown", "holds", "decode --bed-states nope refused naming the states")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("decode", m, "x.fa", "-o", "d.bed", "--bed-states", "nope"), "nope")


@case("seed-negative", "7", "sample --seed -1: works or refused cleanly (no traceback)")
def _(c):
    m = c.model("dna")
    r = c.cli("sample", m, "-o", "s.fa", "-n", "5", "--seed", "-1")
    return succeeded(r) if r.rc == 0 else refused(r, "--seed", "-1")


@case("seed-huge", "7", "sample --seed 2**70: works or refused naming --seed")
def _(c):
    m = c.model("dna")
    r = c.cli("sample", m, "-o", "s.fa", "-n", "5", "--seed", str(2**70))
    return succeeded(r) if r.rc == 0 else refused(r, "--seed", str(2**70))


@case("gmm-components-zero", "holds", "fit --emission gmm --components 0 refused")
def _(c):
    _table(c)
    r = c.cli("fit", "x.csv", "-o", "m.lsgm", "--emission", "gmm", "--components", "0", *FIT)
    return refused(r, "--components")


@case("pseudocount-negative", "6", "fit --labels --pseudocount -5 refused (negative counts)")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", ">a\nCCNNCC\n")
    r = c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "--pseudocount", "-5", "-q")
    return refused(r, "--pseudocount", "-5")


@case("pseudocount-nan", "6", "fit --labels --pseudocount nan refused")
def _(c):
    c.write("x.fa", ">a\nACGTAC\n")
    c.write("lab.fa", ">a\nCCNNCC\n")
    r = c.cli("fit", "x.fa", "--labels", "lab.fa", "-o", "m.lsgm", "--pseudocount", "nan", "-q")
    return refused(r, "--pseudocount", "nan")


@case("dropout-above-one", "6", "fit --model lsgm --dropout 2 refused")
def _(c):
    c.write("x.fa", DNA)
    r = c.cli(
        "fit",
        "x.fa",
        "-o",
        "m.lsgm",
        "--model",
        "lsgm",
        "--dropout",
        "2",
        "--epochs",
        "1",
        "--hidden-size",
        "4",
        "--embedding-dim",
        "4",
        "--init",
        "random",
        "-q",
    )
    return refused(r, "--dropout", "dropout")


@case("tol-nan", "6", "fit --tol nan refused (EM would never converge and say nothing)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "-o", "m.lsgm", "--tol", "nan", *FIT), "--tol", "nan")
