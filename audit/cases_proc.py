"""Training cases: diverged fits (class 4), resume (class 5), signals, kills, rlimits,
concurrent writers (subprocesses where needed)."""

from __future__ import annotations

import os
import resource
import signal
import time

import numpy as np

from audit.harness import TRAIN_FA, fit_argv, leftovers, refused, succeeded
from audit.harness import case as _case


def case(id, cls, desc, quick=False):
    return _case("run." + id, cls, desc, quick)


def _no_model(c, verdict_detail, out="m.lsgm"):
    verdict, detail = verdict_detail
    if c.p(out).exists() and verdict != "silent":
        return "silent", f"{out} written although the run failed ({detail})"
    return verdict, detail


# ===================================================================== class 4 (CLI)
@case("lr-inf", "4", "fit --learning-rate inf: exit 1, no model")
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("gradient"), "-o", "m.lsgm", "--learning-rate", "inf")
    return _no_model(c, refused(r, "--learning-rate", "inf", "epoch", wrong="model written"))


@case("lr-1e8", "4", "fit --learning-rate 1e8: exit 1 naming the epoch, no model", quick=True)
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("gradient"), "-o", "m.lsgm", "--learning-rate", "1e8")
    return _no_model(c, refused(r, "epoch", wrong="diverged model written"))


@case("lr-nan", "holds", "fit --learning-rate nan refused")
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("gradient"), "-o", "m.lsgm", "--learning-rate", "nan")
    return _no_model(c, refused(r, "--learning-rate", "nan"))


@case("lr-negative", "holds", "fit --learning-rate -1 refused")
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("gradient"), "-o", "m.lsgm", "--learning-rate", "-1")
    return _no_model(c, refused(r, "--learning-rate"))


@case("clip-norm-nan", "4", "fit --clip-norm nan: refused or diverges with exit 1, no model")
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("gradient"), "-o", "m.lsgm", "--clip-norm", "nan")
    return _no_model(c, refused(r, "--clip-norm", "nan", "epoch", wrong="model written"))


@case(
    "gaussian-constant-data",
    "4",
    "fit a Gaussian on constant data: finite model or a clear refusal",
)
def _(c):
    from lsgm.models.serialization import load_model

    c.write("x.csv", "x\n" + "1\n" * 20)
    r = c.cli("fit", "x.csv", "-o", "m.lsgm", "--states", "2", "--max-iter", "5", "-q")
    if r.rc != 0:
        return _no_model(c, refused(r, "x.csv", "variance", "constant"))

    def check(r):
        import jax

        model, _ = load_model(c.p("m.lsgm"))
        leaves = [np.asarray(x) for x in jax.tree.leaves(model) if np.asarray(x).dtype.kind == "f"]
        return None if all(np.isfinite(x).all() for x in leaves) else "non-finite model saved"

    return succeeded(r, check)


# ===================================================================== class 5 resume
def _resume_case(c, trainer, *changes, data=None, may_change=("ckpt",), needles=()):
    folder, argv = c.fx.checkpoint(trainer)
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    if data is not None:
        c.write("other.fa", data)
        argv = [a if a != "train.fa" else "other.fa" for a in argv]
    argv = list(argv)
    for opt, value in changes:
        if opt in argv:
            argv[argv.index(opt) + 1] = value
        else:
            argv += [opt, value]
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=may_change)
    return _no_model(c, refused(r, *needles, wrong="resumed a different run"))


@case("resume-other-data", "5", "--resume with other data is refused naming the data", quick=True)
def _(c):
    return _resume_case(c, "em", data=">z\nTTTTGGGGCCCCAAAA\n", needles=("data", "other.fa"))


@case("resume-other-data-gradient", "5", "gradient --resume with other data is refused")
def _(c):
    return _resume_case(c, "gradient", data=">z\nTTTTGGGGCCCCAAAA\n", needles=("data",))


@case("resume-same-data-edited", "5", "--resume after one base of the data changed is refused")
def _(c):
    return _resume_case(c, "em", data=TRAIN_FA.replace("ACGTACGG", "ACGTACGA"), needles=("data",))


@case("resume-other-states", "5", "--resume with --states 3 is refused naming the setting")
def _(c):
    return _resume_case(c, "em", ("--states", "3"), needles=("states",))


@case("resume-other-seed", "5", "--resume with another --seed is refused naming it")
def _(c):
    return _resume_case(c, "em", ("--seed", "7"), needles=("seed",))


@case("resume-other-tol", "5", "--resume with another --tol is refused naming it")
def _(c):
    return _resume_case(c, "em", ("--tol", "0.5"), needles=("tol",))


@case("resume-other-lr", "5", "gradient --resume with another --learning-rate is refused")
def _(c):
    return _resume_case(
        c, "gradient", ("--learning-rate", "0.5"), needles=("learning", "optimizer", "0.5")
    )


@case("resume-other-batch", "5", "gradient --resume with another --batch-size is refused")
def _(c):
    return _resume_case(c, "gradient", ("--batch-size", "1"), needles=("batch",))


@case("resume-other-alphabet", "5", "--resume with another --alphabet is refused")
def _(c):
    return _resume_case(c, "em", ("--alphabet", "TGCA"), needles=("alphabet", "data"))


@case("resume-other-trainer", "5", "em checkpoint resumed by --trainer gradient is refused")
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    r = c.cli(
        *fit_argv("gradient"),
        "-o",
        "m.lsgm",
        "--checkpoint-dir",
        "ckpt",
        "--resume",
        may_change=["ckpt"],
    )
    return _no_model(
        c,
        refused(
            r, "checkpoint", "trainer", "ckpt", wrong="no checkpoint found, started afresh silently"
        ),
    )


def _flip(path, offset_from_end=200):
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


@case(
    "resume-bit-flip", "5", "--resume from a checkpoint with a flipped bit is refused", quick=True
)
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    ck = next(p for p in c.p("ckpt").iterdir() if p.is_file())
    _flip(ck)
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    return _no_model(
        c, refused(r, ck.name, "checksum", "corrupt", wrong="resumed from a corrupted checkpoint")
    )


@case("resume-bit-flip-gradient", "5", "gradient --resume from a bit-flipped checkpoint")
def _(c):
    folder, argv = c.fx.checkpoint("gradient")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    ck = next(p for p in c.p("ckpt").iterdir() if p.is_file())
    _flip(ck, 60)
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    return _no_model(c, refused(r, ck.name, "checksum", "corrupt"))


@case("resume-truncated", "5", "--resume from a truncated checkpoint names it")
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    ck = next(p for p in c.p("ckpt").iterdir() if p.is_file())
    ck.write_bytes(ck.read_bytes()[:64])
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    return _no_model(c, refused(r, ck.name))


@case(
    "resume-missing-dir", "5", "--resume with a missing checkpoint folder is an error", quick=True
)
def _(c):
    c.write("train.fa", TRAIN_FA)
    r = c.cli(*fit_argv("em"), "-o", "m.lsgm", "--checkpoint-dir", "nope", "--resume")
    return _no_model(c, refused(r, "nope", wrong="started a fresh run instead of resuming"))


@case("resume-empty-dir", "5", "--resume with an empty checkpoint folder is an error")
def _(c):
    c.write("train.fa", TRAIN_FA)
    c.p("ckpt").mkdir()
    r = c.cli(*fit_argv("em"), "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume")
    return _no_model(c, refused(r, "ckpt", wrong="started a fresh run instead of resuming"))


@case(
    "resume-metadata-tampered", "5", "checkpoint metadata edited (rehashed by msgpack) is refused"
)
def _(c):
    import json

    from flax import serialization

    folder, argv = c.fx.checkpoint("gradient")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    ck = next(p for p in c.p("ckpt").iterdir() if p.is_file())
    payload = serialization.msgpack_restore(ck.read_bytes())
    meta = json.loads(payload["metadata"])
    meta["epoch"] = 1 if meta.get("epoch") != 1 else 2
    payload["metadata"] = json.dumps(meta)
    ck.write_bytes(serialization.msgpack_serialize(payload))
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    return _no_model(
        c, refused(r, ck.name, "checksum", "corrupt", wrong="resumed an edited checkpoint")
    )


@case("resume-same-run", "holds", "--resume with the same data and settings continues (exit 0)")
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    r = c.cli(*argv, "-o", "m.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    return succeeded(r, lambda r: None if c.p("m.lsgm").exists() else "no model written")


@case("resume-without-dir", "holds", "--resume without --checkpoint-dir is refused")
def _(c):
    c.write("train.fa", TRAIN_FA)
    return refused(c.cli(*fit_argv("em"), "-o", "m.lsgm", "--resume"), "--checkpoint-dir")


# ======================================================== subprocess: signals and kills
def _wait_for(proc, path, timeout=90):
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    return proc.poll() is None and path.exists()


def _sigint_judge(c, proc, out):
    try:
        _, err = proc.communicate(timeout=60)
    except Exception:  # noqa: BLE001
        proc.kill()
        return "unclear", "did not stop within 60 s of SIGINT"
    if c.p(out).exists():
        why = ""
        if "Exception ignored" in err:
            where = [ln for ln in err.splitlines() if ln.startswith("Exception ignored")][:1]
            why = f"; the KeyboardInterrupt was swallowed ({where[0][:80] if where else ''})"
        return "silent", f"{out} written after SIGINT (exit {proc.returncode}){why}"
    if leftovers(c.dir):
        return "unclear", f"temp files left: {leftovers(c.dir)}"
    if "Traceback" in err:
        return "unclear", "traceback after SIGINT: " + err.strip().splitlines()[-1][:120]
    if proc.returncode != 130:
        return "unclear", f"exit {proc.returncode} after SIGINT (want 130)"
    return "OK", "exit 130, no output"


@case("sigint-training", "6", "SIGINT during EM training (after a checkpoint): exit 130, no model")
def _(c):
    c.write("train.fa", TRAIN_FA * 3)
    proc = c.popen(
        "fit",
        "train.fa",
        "-o",
        "m.lsgm",
        "--states",
        "3",
        "--max-iter",
        "100000",
        "--tol",
        "0",
        "-q",
        "--checkpoint-dir",
        "ckpt",
        may_change=["ckpt"],
    )
    if not _wait_for(proc, c.p("ckpt") / "em_checkpoint.msgpack"):
        proc.kill()
        return "unclear", "could not catch the run while training"
    proc.send_signal(signal.SIGINT)
    return _sigint_judge(c, proc, "m.lsgm")


@case("sigint-startup", "6", "SIGINT 1.5 s after start (imports / reading): exit 130, no model")
def _(c):
    c.write("train.fa", TRAIN_FA)
    proc = c.popen("fit", "train.fa", "-o", "m.lsgm", "--states", "2", "--max-iter", "5", "-q")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    return _sigint_judge(c, proc, "m.lsgm")


@case("sigint-decode", "6", "SIGINT during a long decode: exit 130, no output")
def _(c):
    m = c.model("dna")
    rng = np.random.default_rng(0)
    seqs = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 3000))}\n" for i in range(600))
    c.write("x.fa", seqs)
    proc = c.popen("decode", m, "x.fa", "-o", "d.tsv")
    time.sleep(3.0)
    if proc.poll() is not None or c.p("d.tsv").exists():
        proc.wait()
        return "OK", "unclear-skipped: decode finished before the signal"
    proc.send_signal(signal.SIGINT)
    return _sigint_judge(c, proc, "d.tsv")


@case("sigkill-resume-exact", "holds", "SIGKILL mid-fit then --resume equals an uninterrupted run")
def _(c):
    import jax

    from lsgm.models.serialization import load_model

    c.write("train.fa", TRAIN_FA)
    argv = [
        "fit",
        "train.fa",
        "--states",
        "2",
        "--trainer",
        "em",
        "--max-iter",
        "60",
        "--tol",
        "0",
        "-q",
        "--seed",
        "1",
    ]
    proc = c.popen(*argv, "-o", "a.lsgm", "--checkpoint-dir", "ckpt", may_change=["ckpt"])
    if not _wait_for(proc, c.p("ckpt") / "em_checkpoint.msgpack"):
        proc.kill()
        proc.wait()
        if c.p("a.lsgm").exists():
            return "OK", "unclear-skipped: the run finished before the kill"
        return "unclear", "no checkpoint appeared"
    time.sleep(0.05)
    proc.kill()
    proc.wait()
    if c.p("a.lsgm").exists():
        return "OK", "unclear-skipped: the run finished before the kill"
    r = c.cli(*argv, "-o", "a.lsgm", "--checkpoint-dir", "ckpt", "--resume", may_change=["ckpt"])
    if r.rc != 0:
        return succeeded(r)
    r2 = c.cli(*argv, "-o", "b.lsgm")
    if r2.rc != 0:
        return succeeded(r2)
    a, b = load_model(c.p("a.lsgm"))[0], load_model(c.p("b.lsgm"))[0]
    diff = max(
        float(np.abs(np.asarray(x) - np.asarray(y)).max())
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        if np.asarray(x).dtype.kind == "f"
    )
    return ("OK", f"max diff {diff:g}") if diff < 1e-5 else ("silent", f"max diff {diff:g}")


@case(
    "sigkill-mid-write-rerun",
    "1",
    "SIGKILL during a decode, rerun: whole output, no hidden temp files",
)
def _(c):
    m = c.model("dna")
    rng = np.random.default_rng(1)
    c.write(
        "x.fa", "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 2000))}\n" for i in range(200))
    )
    proc = c.popen("decode", m, "x.fa", "-o", "d.tsv")
    deadline = time.time() + 90
    while proc.poll() is None and not any(".tmp" in p.name for p in c.dir.iterdir()):
        if time.time() > deadline:
            break
        time.sleep(0.005)
    mid_write = proc.poll() is None
    proc.kill()
    proc.wait()
    when = "killed mid-write" if mid_write else "the run ended before the kill"
    r = c.cli("decode", m, "x.fa", "-o", "d.tsv", may_change=["d.tsv"] + leftovers(c.dir))
    if r.rc != 0:
        return succeeded(r)
    rows = c.p("d.tsv").read_text().count("\n")
    if rows != 1 + 400000:
        return "silent", f"torn output: {rows} lines"
    junk = leftovers(c.dir)
    if junk:
        return "unclear", f"hidden temp files left after the rerun: {junk} ({when})"
    return "OK", f"whole output, no temp files ({when})"


@case(
    "concurrent-writers",
    "holds",
    "two decodes to the same output at once: a whole file, both exit 0, no junk",
)
def _(c):
    m = c.model("dna")
    c.write("a.fa", ">a\n" + "ACGT" * 2000 + "\n")
    c.write("b.fa", ">b\n" + "TTGCA" * 1000 + "\n")
    p1 = c.popen("decode", m, "a.fa", "-o", "d.tsv", may_change=["d.tsv"])
    p2 = c.popen("decode", m, "b.fa", "-o", "d.tsv", may_change=["d.tsv"])
    e1, e2 = p1.communicate(timeout=120)[1], p2.communicate(timeout=120)[1]
    if p1.returncode or p2.returncode:
        return "unclear", f"exit {p1.returncode}/{p2.returncode}: {(e1 or e2).strip()[-120:]}"
    lines = c.p("d.tsv").read_text().splitlines()
    names = {ln.split("\t")[0] for ln in lines[1:]}
    if len(names) != 1 or len(lines) - 1 not in (8000, 5000):
        return "silent", f"mixed/torn output: {len(lines)} lines, records {sorted(names)}"
    junk = leftovers(c.dir)
    return ("unclear", f"junk {junk}") if junk else ("OK", "one whole file")


def _fsize(limit):
    def f():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return f


@case(
    "rlimit-fsize-posterior",
    "1",
    "posterior under RLIMIT_FSIZE (file too large) names the path, no partial file",
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">r\n" + "ACGT" * 3000 + "\n")
    r = c.sub("posterior", m, "x.fa", "-o", "p.tsv", preexec=_fsize(20000), timeout=120)
    verdict, detail = refused(r, "p.tsv", wrong="claimed success", forbid=(".tmp",))
    if c.p("p.tsv").exists():
        return "silent", "partial p.tsv exists"
    if leftovers(c.dir):
        return "unclear", f"temp files left: {leftovers(c.dir)}"
    return verdict, detail


@case("fifo-input", "7", "a FIFO as data file: refused, does not hang")
def _(c):
    m = c.model("dna")
    os.mkfifo(c.p("x.fa"))
    r = c.sub("score", m, "x.fa", timeout=40)
    if r.rc is None:
        return "unclear", "hung reading a FIFO"
    return refused(r, "x.fa")


@case("stdout-closed", "7", "score --json with stdout closed (broken pipe): no traceback")
def _(c):
    import subprocess
    import sys

    m = c.model("dna")
    c.write("x.fa", ">s\nACGT\n")
    proc = subprocess.run(
        f"{sys.executable} -m lsgm.cli.main score {m} x.fa --json | head -c 1",
        shell=True,
        cwd=c.dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "Traceback" in proc.stderr:
        return "unclear", "traceback on a closed pipe: " + proc.stderr.strip().splitlines()[-1]
    return "OK", "no traceback"
