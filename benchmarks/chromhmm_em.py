"""ChromHMM vs lsgm: Baum–Welch on ChromHMM's own sample data, one thread each, in one run.

The data are ChromHMM's sample binarized files (Debian package ``chromhmm-example``:
GM12878 and K562, chromosome 11 of hg18, 10 histone marks, 672,261 bins of 200 bp each):
two very long sequences of 10 binary marks. Both tools fit a 15-state HMM with independent
Bernoulli emissions per mark by plain Baum–Welch from the **same starting parameters**: a
seeded random model (``--seed``) written in ChromHMM's model-file format, loaded by ChromHMM
with ``-init load -m FILE -e 0 -t 0`` (no smoothing towards uniform) and parsed by this
script for lsgm. ChromHMM runs as

    taskset -c CPU java -mx4000M -jar chromhmm.jar LearnModel -p 1 -r MAXITER -d TOL
        -init load -m init_model.txt -e 0 -t 0 -nobrowser -noenrich -noautoopen -noimage
        -nobed INPUTDIR OUTDIR 15 hg18

(``-p 1``: ChromHMM's standard "parallel" Baum–Welch with one thread; without ``-p`` it runs
its incremental EM instead. Under ``taskset`` the JVM sees one CPU and picks its serial
garbage collector.) lsgm runs ``lsgm.training.fit_em`` in its own process, pinned the same
way, with ``pin_one_thread`` (XLA one thread, BLAS threads 1); float64 for the convergence
rows (ChromHMM computes in doubles, and a 1e-3 change of a log-likelihood near -7.5e5 is
below float32 resolution), plus a float32 row of ``--float32-iters`` iterations for its
speed.

Stopping rules: ChromHMM stops when the log-likelihood of an E-step exceeds the previous one
by less than ``-d`` (default 0.001, absolute) or after ``-r`` iterations (default 200);
``fit_em`` stops when the objective (the log-likelihood; no priors here) improves by less
than ``tol`` (absolute) or after ``max_iter`` iterations. Both record the log-likelihood of
the parameters before each M-step and keep the M-step after the last E-step, so with the
same ``--tol`` and ``--max-iter`` the rules are the same. (ChromHMM also sets transitions
below 1e-8 to zero after each M-step, its ``-z 8`` default; lsgm does not.)

What is timed:

* ChromHMM: its per-iteration lines (iteration, log-likelihood, change, total seconds since
  training began, 0.1 s resolution); an iteration's time is the difference of consecutive
  totals, the first one is the total at iteration 1. "EM to convergence" is the total at
  the last iteration; the process wall time adds JVM start-up, reading the data and writing
  the outputs. Peak RSS of the Java process from ``os.wait4``.
* lsgm: the time between calls of the jitted EM step inside ``fit_em`` (see
  ``genome_em.timed_fit_em``); "EM to convergence" is the whole ``fit_em`` call (input
  checks, padding, the feasibility check, compile, every iteration). Peak RSS of the worker
  process (``resource.getrusage``).
* Both fitted models are scored by lsgm (``HMM.score``, float64): ChromHMM's final
  ``model_15.txt`` is parsed into an ``lsgm.HMM``. ChromHMM reports the log-likelihood of the
  parameters *before* its last M-step, the file holds those after it; at convergence they
  differ by less than the last change.

Missing data: ChromHMM's binarized files may hold ``2`` (missing, marginalised out by
ChromHMM). ``lsgm.distributions.Bernoulli`` accepts only 0/1, so a file with any 2 stops
the run with the file, line and mark; the sample data hold none (the count is printed).

    python benchmarks/chromhmm_em.py                 # installs chromhmm(-example) if root
    python benchmarks/chromhmm_em.py --quick         # synthetic 2 x 5,000 bins (the tests)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, pin_one_thread  # noqa: E402

if __name__ == "__main__" and "--worker" in sys.argv:
    pin_one_thread()  # a worker process: one thread, before numpy and jax are imported

import numpy as np  # noqa: E402
from genome_em import (  # noqa: E402
    compile_cell,
    fitted_tables,
    fmt,
    load_average,
    method_label,
    methods_to_time,
    peak_rss_mb,
    pin_prefix,
    print_report,
    relative,
    run_workers,
    timed_fit_em,
    worker_main,
)

from lsgm.data import (  # noqa: E402
    Binarized,
    read_binarized,
    read_binarized_folder,
    read_chromhmm_model,
    write_binarized,
    write_chromhmm_model,
)
from lsgm.data import ChromHMMModel as ChromModel  # noqa: E402

SAMPLE_DIR = Path("/usr/share/doc/chromhmm/examples/SAMPLEDATA_HG18")
CHROMHMM_JAR = Path("/usr/share/java/chromhmm.jar")
PACKAGES = ("chromhmm", "chromhmm-example")
MISSING = 2


# ----------------------------------------------------------------------------------------
# ChromHMM's file formats
# ----------------------------------------------------------------------------------------


def read_folder(folder: str | os.PathLike) -> list[Binarized]:
    """Every binarized file of ``folder``, columns matched by mark name
    (:func:`lsgm.data.read_binarized_folder`)."""
    return read_binarized_folder(folder)


def check_no_missing(data: list[Binarized]) -> None:
    """Raise ``ValueError`` at the first ``2`` (missing): lsgm's Bernoulli cannot express it."""
    for d in data:
        if d.missing():
            row, col = (int(v[0]) for v in np.nonzero(d.x == MISSING))
            raise ValueError(
                f"{d.path}, line {row + 3}, mark {d.marks[col]!r}: value 2 (missing; "
                f"{d.missing():,} in this file). lsgm.distributions.Bernoulli accepts only 0/1 "
                "and cannot marginalise a missing mark as ChromHMM does; this benchmark needs "
                "data without 2s."
            )


def parse_model_file(path: str | os.PathLike, marks: list[str] | None = None) -> ChromModel:
    """A ChromHMM ``model_K.txt`` (:func:`lsgm.data.read_chromhmm_model`), its emission
    columns in the order of ``marks`` when given."""
    model = read_chromhmm_model(path)
    return model if marks is None else model.with_marks(marks)


def start_model(data: list[Binarized], K: int, seed: int) -> ChromModel:
    """The shared starting model (numpy ``default_rng(seed)``): uniform initial
    distribution; transitions 0.9 I + 0.1 Dirichlet(1) rows; emissions
    ``clip(f_d exp(N(0, 1.5^2)), 1e-4, 0.9)`` around each mark's frequency ``f_d``."""
    rng = np.random.default_rng(seed)
    freq = np.concatenate([d.x for d in data]).mean(0)
    D = len(freq)
    emission = np.clip(freq * np.exp(rng.normal(0.0, 1.5, (K, D))), 1e-4, 0.9)
    transition = 0.9 * np.eye(K) + 0.1 * rng.dirichlet(np.ones(K), K)
    transition /= transition.sum(1, keepdims=True)
    initial = np.full(K, 1.0 / K)
    return ChromModel(initial, transition, emission, list(data[0].marks), -np.inf, 0)


def write_quick_data(folder: Path, seed: int = 0) -> None:
    """Two synthetic binarized files of 5,000 bins, 3 marks, from a sticky 3-state HMM."""
    rng = np.random.default_rng(seed)
    p = np.array([[0.02, 0.05, 0.01], [0.6, 0.1, 0.3], [0.1, 0.7, 0.05]])
    trans = np.array([[0.98, 0.01, 0.01], [0.05, 0.9, 0.05], [0.03, 0.02, 0.95]])
    folder.mkdir(parents=True, exist_ok=True)
    for cell in ("cellA", "cellB"):
        z = np.empty(5_000, np.int64)
        z[0] = 0
        u = rng.random(5_000)
        for t in range(1, 5_000):
            z[t] = int((u[t] > np.cumsum(trans[z[t - 1]])[:-1]).sum())
        x = (rng.random((5_000, 3)) < p[z]).astype(np.int8)
        write_binarized(folder / f"{cell}_chrQ_binary.txt", cell, "chrQ", ["M1", "M2", "M3"], x)


# ----------------------------------------------------------------------------------------
# ChromHMM
# ----------------------------------------------------------------------------------------

ITERATION = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\d+(?:\.\d+)?)\s*$")


def parse_iterations(text: str) -> list[tuple[int, float, float]]:
    """``[(iteration, log-likelihood, total seconds)]`` from ChromHMM's LearnModel output
    (the lines after its ``Iteration  Estimated Log Likelihood  Change  Total Time (secs)``
    header)."""
    rows, started = [], False
    for line in text.splitlines():
        if "Estimated Log Likelihood" in line:
            started = True
            continue
        m = ITERATION.match(line) if started else None
        if m:
            rows.append((int(m[1]), float(m[2].replace("Infinity", "inf")), float(m[4])))
    return rows


def chromhmm_available(jar: Path, need_sample: bool) -> bool:
    return (
        jar.is_file()
        and shutil.which("java") is not None
        and (not need_sample or SAMPLE_DIR.is_dir())
    )


def install_chromhmm(notes: list[str]) -> None:
    """``apt-get install -y chromhmm chromhmm-example`` (after ``apt-get update`` if the first
    try fails); failures become notes."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", *PACKAGES]
    print(f"installing: {' '.join(command)}", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        notes.append(f"`{' '.join(command)}` failed: {' '.join(tail)}")


def jvm_flags(cpu: int | None) -> dict:
    """The JVM's ergonomic choices under the same pinning (``-XX:+PrintFlagsFinal``)."""
    command = [*pin_prefix(cpu), "java", "-XX:+PrintFlagsFinal", "-version"]
    try:
        text = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    flags = {}
    for name in ("UseSerialGC", "UseG1GC", "ParallelGCThreads", "CICompilerCount"):
        m = re.search(rf"\b{name}\s+=\s+(\S+)", text)
        if m:
            flags[name] = m[1]
    return flags


def run_chromhmm(
    jar: Path,
    input_dir: Path,
    out_dir: Path,
    init: Path,
    K: int,
    max_iter: int,
    tol: float,
    cpu: int | None,
    java_mem: str,
) -> dict:
    """Run ChromHMM's LearnModel (flags in the module docstring) and parse what it did."""
    command = [
        *pin_prefix(cpu),
        "java",
        f"-mx{java_mem}",
        "-jar",
        str(jar),
        "LearnModel",
        "-p",
        "1",
        "-r",
        str(max_iter),
        "-d",
        repr(tol),
        "-init",
        "load",
        "-m",
        str(init),
        "-e",
        "0",
        "-t",
        "0",
        "-nobrowser",
        "-noenrich",
        "-noautoopen",
        "-noimage",
        "-nobed",
        str(input_dir),
        str(out_dir),
        str(K),
        "hg18",
    ]
    log_path = out_dir.parent / f"{out_dir.name}.log"
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text("utf-8", errors="replace")
    its = parse_iterations(text)
    model_path = out_dir / f"model_{K}.txt"
    if proc.returncode != 0 or not its or not model_path.is_file():
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise RuntimeError(f"ChromHMM LearnModel failed (exit {proc.returncode}):\n{tail}")
    totals = np.array([t for _, _, t in its])
    intervals = np.diff(np.concatenate([[0.0], totals]))
    rest = intervals[1:] if intervals.size > 1 else intervals
    lls = [ll for _, ll, _ in its]
    threads = re.search(r"Using (\d+) threads? for Baum-Welch", text)
    return {
        "command": " ".join(command),
        "iterations": len(its),
        "converged": len(lls) >= 2 and lls[-1] - lls[-2] < tol,
        "log_likelihoods": lls,
        "first_iteration_s": float(intervals[0]),
        "median_iteration_s": float(np.median(rest)),
        "mean_iteration_s": float(rest.mean()),
        "em_total_s": float(totals[-1]),
        "process_wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "threads": None if threads is None else int(threads[1]),
        "model_file": str(model_path),
    }


# ----------------------------------------------------------------------------------------
# lsgm (worker process)
# ----------------------------------------------------------------------------------------


def lsgm_hmm(m: ChromModel, dtype):
    """An ``lsgm.HMM`` with Bernoulli emissions holding ``m``'s parameters."""
    import lsgm
    from lsgm.distributions import Bernoulli

    return lsgm.HMM.from_probs(
        m.initial, m.transition, Bernoulli.from_probs(m.emission.astype(dtype))
    )


def lsgm_worker(config: dict) -> dict:
    """Worker: one lsgm fit (one dtype per process; ``jax_enable_x64`` for float64), and the
    lsgm score of ChromHMM's fitted model when given."""
    import jax

    float64 = config["dtype"] == "float64"
    if float64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if float64 else np.float32
    start = time.perf_counter()
    data = [read_binarized(p) for p in config["files"]]
    check_no_missing(data)
    xs = [d.x for d in data]
    read_s = time.perf_counter() - start
    marks = data[0].marks
    model = lsgm_hmm(parse_model_file(config["init_model"], marks), dtype)
    fit = timed_fit_em(
        model, xs, max_iter=config["max_iter"], tol=config["tol"], method=config["method"]
    )
    model, history = fit.pop("model"), fit.pop("history")
    out = {
        **fit,
        "tool": "lsgm",
        "precision": config["dtype"],
        "method": method_label(config["method"], model, xs),
        "read_s": read_s,
        "converged": bool(history.converged),
        "log_likelihoods": [float(v) for v in history.log_likelihoods],
        "score": float(model.score(xs)),
        "fitted": fitted_tables(model, ("initial", "transition", "emission")),
        "machine": machine_line(),
    }
    if config.get("chromhmm_model"):
        theirs = parse_model_file(config["chromhmm_model"], marks)
        out["chromhmm_model_score"] = float(lsgm_hmm(theirs, dtype).score(xs))
        out["chromhmm_model_header_ll"] = theirs.log_likelihood
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------


def chromhmm_markdown(r: dict) -> str:
    """The results as Markdown."""
    lines = [
        f"Data: {r['label']}: {r['sequences']} sequences × {r['bins']:,} bins "
        f"({r['total_bins']:,} in all), {len(r['marks'])} marks; {r['missing']} missing (2) "
        f"entries. K = {r['K']}, the same starting model for both tools (seed {r['seed']}), "
        f"stop at change < {r['tol']:g} or {r['max_iter']} iterations; one thread each "
        f"({r['pinning']}).",
        "",
        "| tool | precision | method | setup (s) | compile (s) | first iteration (s) "
        "| EM iteration (s, median) | iterations | converged | EM to convergence (s) "
        "| process wall (s) | peak RSS (MB) | final log-lik. (own) | lsgm score of the fitted model |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['tool']} | {row['precision']} | {row['method']} | {fmt(row.get('setup_s'), '.2f')} "
            f"| {compile_cell(row)} "
            f"| {fmt(row['first_iteration_s'], '.2f')} | {fmt(row['median_iteration_s'], '.3f')} "
            f"| {row['iterations']} | {'yes' if row['converged'] else 'no'} "
            f"| {fmt(row['em_total_s'], '.1f')} | {fmt(row['process_wall_s'], '.1f')} "
            f"| {fmt(row['peak_rss_mb'], '.0f')} | {fmt(row['log_likelihoods'][-1], '.3f')} "
            f"| {fmt(row.get('score'), '.3f')} |"
        )
    lines.append("")
    lines += [f"* {line}" for line in r["findings"]]
    if r["notes"]:
        lines += ["", *[f"Note: {n}" for n in r["notes"]]]
    return "\n".join(lines)


def findings(result: dict, chrom: dict | None, lsgm_rows: list[dict]) -> list[str]:
    """The agreement and speed lines under the table."""
    out = []
    ref = next((r for r in lsgm_rows if r["precision"] == "float64"), None)
    if chrom is not None and ref is not None and "chromhmm_model_score" in ref:
        reported = chrom["log_likelihoods"][-1]
        scored = ref["chromhmm_model_score"]
        rel = relative(reported, scored)
        result["chromhmm_reported_vs_lsgm_score_rel"] = rel
        verdict = "within" if rel is not None and rel <= 2e-4 else "NOT within"
        if not chrom["converged"]:
            verdict += " 2e-4; ChromHMM did not converge, so its last M-step still moved the fit"
        else:
            verdict += " 2e-4"
        out.append(
            f"ChromHMM's reported log-likelihood {reported:.3f} (before its last M-step) vs "
            f"lsgm's score of ChromHMM's `model_{result['K']}.txt` {scored:.3f}: relative "
            f"difference {fmt(rel, '.1e')} ({verdict})."
        )
        common = min(len(chrom["log_likelihoods"]), len(ref["log_likelihoods"]))
        diffs = np.abs(
            np.array(chrom["log_likelihoods"][:common]) - np.array(ref["log_likelihoods"][:common])
        )
        finite = diffs[np.isfinite(diffs)]
        worst = float(finite.max()) if finite.size else None
        apart = np.flatnonzero(~(diffs <= 0.01))  # ChromHMM prints 3 decimals
        same = int(apart[0]) if apart.size else common
        result["trajectory_max_abs_diff"] = worst
        result["trajectory_same_iterations"] = same
        zeros = None
        if Path(chrom["model_file"]).is_file():
            zeros = int((parse_model_file(chrom["model_file"]).transition == 0).sum())
        result["chromhmm_zero_transitions"] = zeros
        out.append(
            f"Per-iteration log-likelihoods, ChromHMM vs lsgm float64 from the same start: equal "
            f"to ≤ 0.01 (ChromHMM prints 3 decimals) for the first {same} of {common} "
            f"iterations, max |difference| {fmt(worst, '.3g')} over all; ChromHMM sets "
            f"transitions below 1e-8 to 0 (its -z 8 default; {fmt(zeros, 'd')} zeros in its "
            "final model), lsgm keeps them."
        )
        rel_final = relative(ref["score"], scored)
        out.append(
            f"Fitted models, lsgm score: lsgm {ref['score']:.3f} vs ChromHMM {scored:.3f} "
            f"(relative difference {fmt(rel_final, '.1e')})."
        )
    for row in lsgm_rows:
        if row.get("compile_s") is not None:
            out.append(
                f"Compile, lsgm {row['precision']} (the jitted EM step, lowered and compiled "
                f"before its first call): {compile_cell(row)} s (target ≤ 5 s); "
                f"EM iteration {fmt(row.get('median_iteration_cpu_s'), '.3f')} CPU s."
            )
    if chrom is not None:
        for row in lsgm_rows:
            ratio = chrom["median_iteration_s"] / row["median_iteration_s"]
            out.append(
                f"Speed per EM iteration, lsgm {row['precision']} {row['method']}: "
                f"{ratio:.2f}× ChromHMM's (ChromHMM {chrom['median_iteration_s']:.3f} s / lsgm "
                f"{row['median_iteration_s']:.3f} s; > 1 means lsgm is faster)."
            )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="synthetic 2 x 5,000 bins, 3 marks, 3 states, 3 iterations",
    )
    parser.add_argument(
        "--input-dir",
        default=str(SAMPLE_DIR),
        help="folder of binarized files (default: ChromHMM's sample data)",
    )
    parser.add_argument("--states", type=int, help="K (default 15; --quick 3)")
    parser.add_argument("--max-iter", type=int, help="ChromHMM -r / fit_em max_iter (default 200)")
    parser.add_argument("--tol", type=float, default=0.001, help="ChromHMM -d / fit_em tol")
    parser.add_argument(
        "--float32-iters",
        type=int,
        help="iterations of the float32 speed row (default 10; --quick 0: none)",
    )
    parser.add_argument("--method", help="passed to fit_em(method=...) (only when given)")
    parser.add_argument("--seed", type=int, default=0, help="the shared starting model")
    parser.add_argument("--cpu", type=int, default=0, help="taskset CPU (-1: no pinning)")
    parser.add_argument("--java-mem", default="4000M", help="java -mx value")
    parser.add_argument("--chromhmm-jar", default=str(CHROMHMM_JAR))
    parser.add_argument("--no-install", action="store_true", help="never apt-get install")
    parser.add_argument("--no-chromhmm", action="store_true", help="lsgm rows only")
    parser.add_argument("--workdir", help="keep the inputs and ChromHMM's output here")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker, {"lsgm": lsgm_worker})
    K = args.states or (3 if args.quick else 15)
    max_iter = args.max_iter or (3 if args.quick else 200)
    f32_iters = args.float32_iters if args.float32_iters is not None else (0 if args.quick else 10)
    methods = methods_to_time(args.method, full_run=not args.quick)
    load_start, wall_start = load_average(), time.perf_counter()
    notes: list[str] = []
    jar = Path(args.chromhmm_jar)
    default_input = not args.quick and Path(args.input_dir) == SAMPLE_DIR
    use_chromhmm = not args.no_chromhmm
    if use_chromhmm and not chromhmm_available(jar, default_input):
        can_install = not args.quick and not args.no_install and os.geteuid() == 0
        if can_install and shutil.which("apt-get"):
            install_chromhmm(notes)
        if not chromhmm_available(jar, default_input):
            why = (
                "--quick never installs"
                if args.quick
                else (
                    "--no-install"
                    if args.no_install
                    else "not root"
                    if os.geteuid()
                    else "apt-get failed"
                )
            )
            notes.append(
                f"ChromHMM skipped: {jar} or java not found ({why}); install the Debian "
                f"packages {' and '.join(PACKAGES)}."
            )
            use_chromhmm = False
    with tempfile.TemporaryDirectory(prefix="chromhmm-em-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.quick:
            input_dir = work / "quick_binarized"
            write_quick_data(input_dir, args.seed)
            label = "synthetic (quick)"
        else:
            input_dir = Path(args.input_dir)
            label = str(input_dir)
            if input_dir == SAMPLE_DIR and not input_dir.is_dir():
                raise SystemExit(
                    f"error: ChromHMM's sample data are not in {SAMPLE_DIR}: install the Debian "
                    "package chromhmm-example (this script runs apt-get itself as root unless "
                    "--no-install is given), or pass --input-dir with other binarized files."
                )
        try:
            data = read_folder(input_dir)
            missing = sum(d.missing() for d in data)
            check_no_missing(data)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from err
        init = start_model(data, K, args.seed)
        init_path = work / "init_model.txt"
        write_chromhmm_model(init_path, init)
        chrom = None
        if use_chromhmm:
            try:
                chrom = run_chromhmm(
                    jar,
                    input_dir,
                    work / "chromhmm_out",
                    init_path,
                    K,
                    max_iter,
                    args.tol,
                    args.cpu,
                    args.java_mem,
                )
                chrom.update(
                    tool="ChromHMM",
                    precision="float64",
                    method="-p 1 (standard EM)",
                    score=None,
                    jvm=jvm_flags(args.cpu),
                )
            except (RuntimeError, OSError) as err:
                notes.append(f"ChromHMM failed, skipped: {err}")
        base = {"kind": "lsgm", "files": [str(d.path) for d in data], "init_model": str(init_path)}
        configs = [
            {
                **base,
                "dtype": "float64",
                "method": m,
                "max_iter": max_iter,
                "tol": args.tol,
                "chromhmm_model": chrom["model_file"] if chrom and i == 0 else None,
            }
            for i, m in enumerate(methods)
        ]
        if f32_iters > 0:
            configs.append(
                {
                    **base,
                    "dtype": "float32",
                    "method": methods[0],
                    "max_iter": f32_iters,
                    "tol": -np.inf,
                }
            )
        lsgm_rows = run_workers(Path(__file__).resolve(), configs, args.cpu, parallel=args.quick)
    for row in lsgm_rows:
        speed_only = row["precision"] == "float32"  # a fixed number of iterations, tol = -inf
        row["em_total_s"] = None if speed_only else row["fit_wall_s"]
        if speed_only:
            row["precision"] = f"float32 ({row['iterations']} its, speed only)"
        if args.quick:
            row["process_wall_s"] = None
    if chrom is not None:
        scored = lsgm_rows[0].get("chromhmm_model_score")
        chrom["score"] = scored
    rows = ([chrom] if chrom else []) + lsgm_rows
    pin = f"taskset -c {args.cpu}" if pin_prefix(args.cpu) else "no taskset"
    lsgm_pin = "unpinned (--quick runs the lsgm workers at once)" if args.quick else pin
    result = {
        "benchmark": "chromhmm_em",
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": lsgm_rows[0]["machine"],
        "label": label,
        "files": [str(d.path) for d in data],
        "marks": data[0].marks,
        "sequences": len(data),
        "bins": max(d.x.shape[0] for d in data),
        "total_bins": sum(d.x.shape[0] for d in data),
        "missing": missing,
        "K": K,
        "seed": args.seed,
        "tol": args.tol,
        "max_iter": max_iter,
        "pinning": f"ChromHMM {pin}; lsgm {lsgm_pin}, pin_one_thread",
        "rows": rows,
        "notes": notes,
        "load_average_start": load_start,
    }
    result["findings"] = findings(result, chrom, lsgm_rows)
    result["load_average_end"] = load_average()
    result["wall_s"] = time.perf_counter() - wall_start
    sections = [chromhmm_markdown(result)]
    if chrom is not None:
        sections.append(
            f"\nChromHMM command: `{chrom['command']}`; it reported using "
            f"{chrom['threads']} thread(s); JVM under the same pinning: "
            f"{chrom['jvm']}."
        )
    print_report("ChromHMM vs lsgm: Baum–Welch, one thread each", result, sections, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
