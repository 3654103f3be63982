"""Baum–Welch on a genome given as a few long records: lsgm vs hmmlearn, per EM iteration.

The users' shape: one to a few very long sequences (a bacterial chromosome, a set of
chromosomes), a small categorical HMM over the bases (M = 4 symbols, A=0 C=1 G=2 T=3), and
EM. For K = 4 and K = 8 states both libraries start from the same random parameters (numpy,
``--seed``; hmmlearn with ``init_params=""``) and run exactly ``n = --iters + 1`` EM
iterations on the same records (lsgm: ``fit_em(..., max_iter=n, tol=-inf)``; hmmlearn:
``CategoricalHMM(n_iter=n, tol=-inf).fit``), so both stop after the same number of
iterations and their log-likelihoods must agree: the one of the last E-step (the parameters
before the last M-step, what both libraries record) and the score of the fitted model.

What is timed, one thread each (every run is its own process, pinned with ``taskset -c
--cpu`` when taskset exists, with ``pin_one_thread``: ``XLA_FLAGS`` and
``OMP/OPENBLAS/MKL_NUM_THREADS=1``):

* **EM iteration** = the median wall time between consecutive iterations, the first one left
  out (it holds lsgm's compile and hmmlearn's input checks). lsgm: the time between calls of
  the jitted step ``fit_em`` runs each iteration (taken by wrapping
  ``lsgm.training.em.em_step_for`` in this process; each interval covers the E-step, the
  M-step and ``fit_em``'s own per-iteration checks); hmmlearn: the time between calls of its
  ``ConvergenceMonitor.report`` (one per E-step + M-step).
* **first iteration** and **setup**: lsgm's first interval (``compile ≈ first − median``) and
  the time ``fit_em`` spends before it (padding, input checks, the feasibility check with its
  own compile); hmmlearn's setup is inside its first interval.
* **peak RSS**: ``resource.getrusage`` of the process that ran the row.

Records holding letters other than ACGT: ``lsgm.data.read_sequences`` rejects IUPAC codes
(``N``, ...) by default, naming the file, record and position (``ambiguous="soft"`` would read
them as soft observations, which lsgm's EM accepts but hmmlearn's CategoricalHMM cannot), so
``--ambiguous error`` (default) stops with that message and ``--ambiguous split`` cuts the
records at every ambiguous position (the pieces become separate sequences; the count is
printed).

    python benchmarks/genome_em.py /path/to/GCF_000005845.2_ASM584v2_genomic.fna.gz
    python benchmarks/genome_em.py --quick     # synthetic 3 records, 20 kb; K = 4, float32

This module also holds the helpers that ``benchmarks/chromhmm_em.py`` shares (worker
processes, the timed ``fit_em``, atomic JSON).
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, pin_one_thread  # noqa: E402

if __name__ == "__main__" and "--worker" in sys.argv:
    pin_one_thread()  # a worker process: one thread, before numpy and jax are imported

import numpy as np  # noqa: E402

ALPHABET = "ACGT"
QUICK_LENGTHS = (9_000, 7_000, 4_000)

# ----------------------------------------------------------------------------------------
# Helpers shared with benchmarks/chromhmm_em.py
# ----------------------------------------------------------------------------------------


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (``os.getloadavg``; empty where unsupported)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def peak_rss_mb() -> float:
    """Maximum resident set size of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file in the same folder, then
    ``os.replace``): a reader never sees a half-written file. Non-finite floats become null."""
    path = Path(path)
    text = json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def pin_prefix(cpu: int | None) -> list[str]:
    """``["taskset", "-c", cpu]`` when taskset exists and ``cpu`` is given, else ``[]``."""
    if cpu is None or cpu < 0 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def run_workers(
    script: Path,
    configs: list[dict],
    cpu: int | None,
    parallel: bool = False,
    timeout: float | None = None,
) -> list[dict]:
    """Run ``script --worker CONFIG OUT`` once per config, each in a fresh Python process, and
    return their JSON results, each with ``process_wall_s`` (the whole process: start-up,
    imports, reading the data, the work). One after the other, pinned to ``cpu``; or, with
    ``parallel`` (``--quick``: nothing is measured), all at once and unpinned. A failing
    worker raises ``RuntimeError`` with the end of its stderr."""
    prefix = [] if parallel else pin_prefix(cpu)
    with tempfile.TemporaryDirectory(prefix="lsgm-bench-") as tmp:
        running = []
        for i, config in enumerate(configs):
            cfg, out = Path(tmp) / f"config{i}.json", Path(tmp) / f"result{i}.json"
            cfg.write_text(json.dumps(config), encoding="utf-8")
            log = open(Path(tmp) / f"log{i}.txt", "w+", encoding="utf-8")  # noqa: SIM115
            command = [*prefix, sys.executable, str(script), "--worker", str(cfg), str(out)]
            start = time.perf_counter()
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
            running.append((proc, start, out, log))
            if not parallel:
                proc.wait(timeout)
                running[-1] = (proc, start, out, log, time.perf_counter() - start)
        results = []
        for item in running:
            proc, start, out, log = item[:4]
            if parallel:
                proc.wait(timeout)
            wall = item[4] if len(item) > 4 else time.perf_counter() - start
            log.seek(0)
            text = log.read()
            log.close()
            if proc.returncode != 0 or not out.exists():
                tail = "\n".join(text.strip().splitlines()[-15:])
                raise RuntimeError(f"{script.name} worker failed (exit {proc.returncode}):\n{tail}")
            result = json.loads(out.read_text(encoding="utf-8"))
            result["process_wall_s"] = wall
            results.append(result)
    return results


def fit_em_method() -> tuple[bool, str | None]:
    """``(fit_em takes a method argument, its default)``, by ``inspect.signature``."""
    from lsgm.training import fit_em

    parameter = inspect.signature(fit_em).parameters.get("method")
    if parameter is None:
        return False, None
    default = parameter.default
    return True, None if default is inspect.Parameter.empty else str(default)


def methods_to_time(requested: str | None, full_run: bool) -> list[str | None]:
    """The ``method`` values to time: ``[requested]`` when given (an error if ``fit_em`` has no
    ``method`` argument); else the default (None = not passed) and, in a full run where
    ``fit_em`` takes ``method``, also ``"scaled"`` (the plain scan)."""
    supported, default = fit_em_method()
    if requested is not None:
        if not supported:
            raise SystemExit(
                f"--method {requested}: this lsgm's fit_em has no 'method' argument; "
                "leave --method out to time its default."
            )
        return [requested]
    if supported and full_run and default != "scaled":
        return [None, "scaled"]
    return [None]


def method_label(method: str | None, model=None, xs=None) -> str:
    """How a row names its method: the value passed, or the default's name; with ``model``
    and ``xs``, also the kernel it resolves to for this batch (``"auto (default) →
    chunked"``), from ``model.inference_method`` where that exists."""
    supported, default = fit_em_method()
    label = (
        method
        if method is not None
        else (f"{default} (default)" if supported and default else "default")
    )
    resolve = getattr(model, "inference_method", None)
    chosen = method if method is not None else default
    if resolve is not None and xs is not None and chosen is not None:
        try:
            resolved = resolve(chosen, len(xs), max(len(x) for x in xs))
        except (TypeError, ValueError):
            resolved = None
        if resolved is not None and resolved != chosen:
            label += f" → {resolved}"
    return label


def timed_fit_em(model, xs, *, max_iter: int, tol: float, method: str | None = None) -> dict:
    """Run ``lsgm.training.fit_em`` and time each of its EM iterations.

    ``method`` is passed to ``fit_em`` only when it is not None. The per-iteration times come
    from wrapping ``lsgm.training.em.em_step_for`` (the function ``fit_em`` gets its jitted
    step from) so that every call of the step is time-stamped; ``fit_em`` blocks on each
    step's log-likelihood before the next call, so the intervals between calls (and from the
    last call to the return of ``fit_em``) are whole iterations. The step is compiled
    apart, before its first call (``step.lower(...).compile()``, timed: ``lower_s`` tracing
    and lowering, ``compile_s`` XLA, ``compile_cpu_s`` both in CPU seconds of this process,
    which a loaded machine does not inflate), and every call runs that executable, so the
    first iteration holds no compile. When that hook is missing or was not used (another
    lsgm version), only the mean over the ``fit_em`` wall time is given
    (``timing = "mean of fit_em wall"``).

    Returns:
        a dict with the fitted ``model``, its ``history`` and ``fit_wall_s``, ``setup_s``,
        ``lower_s``, ``compile_s``, ``compile_cpu_s``, ``first_iteration_s``,
        ``median_iteration_s``, ``mean_iteration_s`` (both over the iterations after the
        first), ``median_iteration_cpu_s`` (CPU seconds), ``compile_estimate_s`` and
        ``timing``.
    """
    import lsgm.training.em as em_module
    from lsgm.training import fit_em

    calls: list[float] = []
    cpu: list[float] = []
    compile_times: dict[str, float] = {}
    original = getattr(em_module, "em_step_for", None)

    def probe(*args, **kwargs):
        step = original(*args, **kwargs)
        compiled = []

        def timed_step(*a, **k):
            calls.append(time.perf_counter())
            cpu.append(time.process_time())
            if not compiled and hasattr(step, "lower"):  # compile apart from the iteration
                lowered = step.lower(*a, **k)
                lowered_at = time.perf_counter()
                compiled.append(lowered.compile())
                compile_times.update(
                    lower_s=lowered_at - calls[-1],
                    compile_s=time.perf_counter() - lowered_at,
                    compile_cpu_s=time.process_time() - cpu[-1],
                )
                calls[-1], cpu[-1] = time.perf_counter(), time.process_time()
            return compiled[0](*a, **k) if compiled else step(*a, **k)

        return timed_step

    extra = {} if method is None else {"method": method}
    if original is not None:
        em_module.em_step_for = probe
    start = time.perf_counter()
    try:
        model, history = fit_em(model, xs, max_iter=max_iter, tol=tol, **extra)
    finally:
        if original is not None:
            em_module.em_step_for = original
    end = time.perf_counter()
    n = history.n_iter
    out = {"model": model, "history": history, "fit_wall_s": end - start, "iterations": n}
    if n >= 1 and len(calls) == n:
        intervals = np.diff([*calls, end])
        rest = intervals[1:]
        out.update(
            timing="per-iteration stamps",
            setup_s=calls[0]
            - start
            - compile_times.get("lower_s", 0.0)
            - compile_times.get("compile_s", 0.0),
            first_iteration_s=float(intervals[0]),
            median_iteration_s=float(np.median(rest)) if rest.size else float(intervals[0]),
            mean_iteration_s=float(rest.mean()) if rest.size else float(intervals[0]),
            iteration_s=[float(v) for v in intervals],
            median_iteration_cpu_s=float(np.median(np.diff([*cpu, time.process_time()])[1:]))
            if n > 1
            else None,
            **compile_times,
        )
        out["compile_estimate_s"] = compile_times.get(
            "compile_s", out["first_iteration_s"] - out["median_iteration_s"]
        )
    else:
        mean = (end - start) / max(n, 1)
        out.update(
            timing="mean of fit_em wall",
            setup_s=None,
            first_iteration_s=None,
            median_iteration_s=mean,
            mean_iteration_s=mean,
            iteration_s=[],
            compile_estimate_s=None,
        )
    return out


def compile_cell(row: dict) -> str:
    """``lower + compile`` of the jitted EM step in wall seconds, and in CPU seconds of the
    process (what a loaded machine does not inflate): ``"w (cpu c)"``; ``—`` when not timed
    apart (not lsgm)."""
    if row.get("compile_s") is None:
        return "—"
    wall = row["lower_s"] + row["compile_s"]
    return f"{wall:.2f} (cpu {row['compile_cpu_s']:.2f})"


def fitted_tables(model, names: tuple[str, str, str]) -> dict[str, list]:
    """A fitted HMM's initial, transition and emission probabilities (float64 lists) under
    ``names`` (each peer's own words for them)."""
    tables = (model.initial_probs(), model.transition_probs(), model.emission.probs())
    return {name: np.asarray(t, np.float64).tolist() for name, t in zip(names, tables, strict=True)}


def relative(a: float | None, b: float | None) -> float | None:
    """``|a - b| / |b|`` (None when either is missing or not finite)."""
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)) or b == 0:
        return None
    return abs(a - b) / abs(b)


def fmt(value, spec: str = ".3f", missing: str = "n/a") -> str:
    """``format(value, spec)``, or ``missing`` for None."""
    return missing if value is None else format(value, spec)


# ----------------------------------------------------------------------------------------
# The genome benchmark
# ----------------------------------------------------------------------------------------


def write_synthetic_genome(path: Path, seed: int = 0) -> None:
    """A gzipped FASTA of 3 records (9, 7 and 4 kb) from a 2-state GC-rich/AT-rich chain."""
    rng = np.random.default_rng(seed)
    emission = np.array([[0.3, 0.2, 0.2, 0.3], [0.15, 0.35, 0.35, 0.15]])
    lines = []
    for i, length in enumerate(QUICK_LENGTHS):
        switches = rng.random(length) < 1e-3
        states = np.cumsum(switches) % 2
        u = rng.random((length, 1))
        symbols = (u > np.cumsum(emission, axis=1)[states][:, :-1]).sum(1)
        seq = "".join(np.array(list(ALPHABET))[symbols])
        lines.append(f">synthetic_{i + 1} quick test record")
        lines += [seq[j : j + 70] for j in range(0, length, 70)]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def load_genome(path: str, ambiguous: str) -> tuple[list[str], list[np.ndarray], int]:
    """``(names, [T_i] int32 symbol arrays, ambiguous positions dropped)`` of a FASTA.

    ``ambiguous="error"``: ``lsgm.data.read_sequences``' own error for any IUPAC code;
    ``"split"``: the records are read with ``ambiguous="soft"`` and cut at every position
    that is not a plain base (pieces named ``record:start-end``, 1-based inclusive)."""
    from lsgm.data import read_sequences
    from lsgm.data.fasta import AmbiguousSymbolError

    if ambiguous == "error":
        try:
            records = read_sequences(path)
        except AmbiguousSymbolError as err:
            raise SystemExit(f"{err} (genome_em.py: --ambiguous split cuts records there)") from err
        except ValueError as err:
            raise SystemExit(str(err)) from err
        return [r.name for r in records], [r.data.astype(np.int32) for r in records], 0
    try:
        records = read_sequences(path, ambiguous="soft")
    except ValueError as err:
        raise SystemExit(str(err)) from err
    names, xs, dropped = [], [], 0
    for r in records:
        if not r.is_soft:
            names.append(r.name)
            xs.append(r.data.astype(np.int32))
            continue
        hard = r.data.max(axis=1) >= 1.0
        dropped += int((~hard).sum())
        symbols = r.data.argmax(axis=1).astype(np.int32)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], hard.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            names.append(f"{r.name}:{start + 1}-{stop}")
            xs.append(symbols[start:stop])
    if not xs:
        raise SystemExit(f"{path}: no unambiguous bases left after splitting at IUPAC codes.")
    return names, xs, dropped


def start_parameters(K: int, seed: int) -> dict:
    """Random starting parameters (numpy ``default_rng(seed + K)``), float64 lists:
    ``startprob`` Dirichlet(1), ``transmat`` 0.9 I + 0.1 Dirichlet(1) rows, ``emissionprob``
    Dirichlet(5) rows over ACGT."""
    rng = np.random.default_rng(seed + K)
    start = rng.dirichlet(np.ones(K))
    trans = 0.9 * np.eye(K) + 0.1 * rng.dirichlet(np.ones(K), K)
    emit = rng.dirichlet(5 * np.ones(len(ALPHABET)), K)
    return {"startprob": start.tolist(), "transmat": trans.tolist(), "emissionprob": emit.tolist()}


def lsgm_worker(config: dict) -> dict:
    """Worker: lsgm EM rows (one dtype per process; ``jax_enable_x64`` for float64)."""
    import jax

    if config["dtype"] == "float64":
        jax.config.update("jax_enable_x64", True)
    import lsgm
    from lsgm.distributions import Categorical

    _, xs, _ = load_genome(config["fasta"], config["ambiguous"])
    dtype = np.float64 if config["dtype"] == "float64" else np.float32
    rows = []
    for job in config["jobs"]:
        p = job["start"]
        emission = Categorical.from_probs(np.asarray(p["emissionprob"], dtype))
        model = lsgm.HMM.from_probs(p["startprob"], p["transmat"], emission)
        fit = timed_fit_em(model, xs, max_iter=config["n_iter"], tol=-np.inf, method=job["method"])
        model = fit.pop("model")
        history = fit.pop("history")
        rows.append(
            {
                **fit,
                "library": "lsgm",
                "K": job["K"],
                "precision": config["dtype"],
                "method": method_label(job["method"], model, xs),
                "log_likelihoods": [float(v) for v in history.log_likelihoods],
                "score_after": float(model.score(xs)),
                "fitted": fitted_tables(model, ("startprob", "transmat", "emissionprob")),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    return {"rows": rows, "machine": machine_line()}


def hmmlearn_worker(config: dict) -> dict:
    """Worker: hmmlearn ``CategoricalHMM`` EM rows (float64, its only precision)."""
    from hmmlearn import hmm
    from hmmlearn.base import ConvergenceMonitor

    class TimedMonitor(ConvergenceMonitor):
        """hmmlearn's monitor, also time-stamping every ``report`` (one per EM iteration)
        and keeping every log-likelihood (hmmlearn keeps the last two)."""

        def _reset(self):
            super()._reset()
            self.stamps, self.cpu, self.values = [], [], []

        def report(self, log_prob):
            self.stamps.append(time.perf_counter())
            self.cpu.append(time.process_time())
            self.values.append(float(log_prob))
            super().report(log_prob)

    _, xs, _ = load_genome(config["fasta"], config["ambiguous"])
    X = np.concatenate(xs).reshape(-1, 1)
    lengths = [len(x) for x in xs]
    rows = []
    for job in config["jobs"]:
        p = job["start"]
        K, n = job["K"], config["n_iter"]
        model = hmm.CategoricalHMM(
            n_components=K,
            n_iter=n,
            tol=-np.inf,
            implementation=job["implementation"],
            init_params="",
            params="ste",
        )
        model.n_features = len(ALPHABET)
        model.startprob_ = np.asarray(p["startprob"])
        model.transmat_ = np.asarray(p["transmat"])
        model.emissionprob_ = np.asarray(p["emissionprob"])
        model.monitor_ = TimedMonitor(model.tol, n, False)
        start, start_cpu = time.perf_counter(), time.process_time()
        model.fit(X, lengths)
        monitor = model.monitor_
        intervals = np.diff([start, *monitor.stamps])
        rest = intervals[1:] if intervals.size > 1 else intervals
        cpu = np.diff([start_cpu, *monitor.cpu])
        cpu = cpu[1:] if cpu.size > 1 else cpu
        rows.append(
            {
                "library": "hmmlearn",
                "K": K,
                "precision": "float64",
                "method": job["implementation"],
                "iterations": len(monitor.values),
                "timing": "per-iteration stamps",
                "setup_s": None,
                "first_iteration_s": float(intervals[0]),
                "median_iteration_s": float(np.median(rest)),
                "median_iteration_cpu_s": float(np.median(cpu)),
                "mean_iteration_s": float(rest.mean()),
                "iteration_s": [float(v) for v in intervals],
                "compile_estimate_s": None,
                "fit_wall_s": float(monitor.stamps[-1] - start),
                "log_likelihoods": monitor.values,
                "score_after": float(model.score(X, lengths)),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    return {"rows": rows}


def genome_rows(args, fasta: str) -> tuple[list[dict], str]:
    """Run every worker and return ``(rows, machine line)``."""
    script = Path(__file__).resolve()
    n_iter = args.iters + 1
    methods = methods_to_time(args.method, full_run=not args.quick)
    common_cfg = {"fasta": fasta, "ambiguous": args.ambiguous, "n_iter": n_iter}
    starts = {K: start_parameters(K, args.seed) for K in args.states}
    groups: list[tuple[str, dict, list[dict]]] = []
    if not args.no_hmmlearn:
        jobs = [
            {"K": K, "implementation": impl, "start": starts[K]}
            for K in args.states
            for impl in args.hmmlearn
        ]
        groups.append(("hmmlearn", {}, jobs))
    for dtype in args.dtype:
        jobs = [{"K": K, "method": m, "start": starts[K]} for K in args.states for m in methods]
        groups.append(("lsgm", {"dtype": dtype}, jobs))
    configs = []
    for kind, extra, jobs in groups:
        # a full run gives every row its own process (its own peak RSS); --quick batches them
        for batch in [jobs] if args.quick else [[job] for job in jobs]:
            configs.append({**common_cfg, **extra, "kind": kind, "jobs": batch})
    rows, machine = [], ""
    for result in run_workers(script, configs, args.cpu, parallel=args.quick):
        for row in result["rows"]:
            row["process_wall_s"] = None if args.quick else result["process_wall_s"]
        rows += result["rows"]
        machine = result.get("machine", machine)
    return rows, machine


def agreement(rows: list[dict]) -> None:
    """Add to every row its relative difference from hmmlearn-scaling (same K): the last
    E-step log-likelihood, every iteration's, and the fitted model's score; and the speed-up
    (hmmlearn-scaling's median iteration / this row's)."""
    for row in rows:
        ref = next(
            (
                r
                for r in rows
                if r["K"] == row["K"] and r["library"] == "hmmlearn" and r["method"] == "scaling"
            ),
            None,
        )
        if ref is None:
            row.update(rel_last=None, rel_max=None, rel_score=None, speedup=None, speedup_cpu=None)
            continue
        pairs = zip(row["log_likelihoods"], ref["log_likelihoods"], strict=False)
        diffs = [relative(a, b) for a, b in pairs]
        row["rel_last"] = relative(row["log_likelihoods"][-1], ref["log_likelihoods"][-1])
        row["rel_max"] = None if None in diffs or not diffs else max(diffs)
        row["rel_score"] = relative(row["score_after"], ref["score_after"])
        row["speedup"] = ref["median_iteration_s"] / row["median_iteration_s"]
        cpu = (ref.get("median_iteration_cpu_s"), row.get("median_iteration_cpu_s"))
        row["speedup_cpu"] = cpu[0] / cpu[1] if None not in cpu and cpu[1] > 0 else None


def tolerance(row: dict) -> float:
    """The agreement the check asks for: 1e-5 relative in float32, 1e-9 in float64."""
    return 1e-5 if row["precision"] == "float32" else 1e-9


def genome_markdown(result: dict) -> str:
    """The results as Markdown: a header, the table, the agreement verdict."""
    n = result["n_iter"]
    lines = [
        f"Genome: {result['label']}; {result['records']} record(s), {result['bases']:,} bases "
        f"(longest {result['longest']:,}); {result['ambiguous_dropped']} ambiguous positions "
        f"dropped. {n} EM iterations from the same start, one thread each.",
        "",
        "| K | library | precision | method | EM iteration (s, median) | first iteration (s) "
        "| setup (s) | compile (s) | log-lik. after last E-step | rel. diff vs hmmlearn-scaling "
        "| speed-up vs hmmlearn-scaling | same, CPU seconds | peak RSS (MB) |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['K']} | {r['library']} | {r['precision']} | {r['method']} "
            f"| {fmt(r['median_iteration_s'], '.4f')} | {fmt(r['first_iteration_s'], '.3f')} "
            f"| {fmt(r['setup_s'], '.3f')} | {compile_cell(r)} | {r['log_likelihoods'][-1]:.4f} "
            f"| {fmt(r['rel_last'], '.1e')} | "
            f"{'n/a' if r['speedup'] is None else format(r['speedup'], '.2f') + '×'} "
            f"| {'n/a' if r.get('speedup_cpu') is None else format(r['speedup_cpu'], '.2f') + '×'} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    ours = [r for r in result["rows"] if r["library"] == "lsgm"]
    if all(r["rel_max"] is None for r in ours):
        lines += ["", "No hmmlearn rows: the log-likelihoods were not compared."]
    else:
        bad = [r for r in ours if r["rel_max"] is None or r["rel_max"] > tolerance(r)]
        worst = {
            p: max((r["rel_max"] or 0.0) for r in ours if r["precision"] == p)
            for p in {r["precision"] for r in ours}
        }
        lines += [
            "",
            "Largest relative log-likelihood difference of lsgm from hmmlearn-scaling over all "
            f"{n} iterations: "
            + ", ".join(f"{p} {v:.1e}" for p, v in sorted(worst.items()))
            + " (asked: ≤ 1e-5 float32, ≤ 1e-9 float64): "
            + ("**agree**." if not bad else f"**{len(bad)} lsgm row(s) disagree**."),
        ]
    peers = [r for r in result["rows"] if r["library"] == "hmmlearn" and r["method"] != "scaling"]
    if peers:
        lines.append(
            "hmmlearn's own implementations differ by "
            + ", ".join(f"{fmt(r['rel_max'], '.1e')} (K={r['K']}, {r['method']})" for r in peers)
            + " from its scaling one."
        )
    if result.get("notes"):
        lines += ["", *[f"Note: {note}" for note in result["notes"]]]
    return "\n".join(lines)


def header(title: str, machine: str, load_start: list[float], load_end: list[float]) -> str:
    """The benchmark's title, machine line and load averages."""
    return (
        f"# {title}\n\n{machine}\n\nLoad average (1/5/15 min) at start "
        f"{' / '.join(map(str, load_start))}, at end {' / '.join(map(str, load_end))}.\n"
    )


def print_report(title: str, result: dict, sections: list[str], json_path: str | None) -> None:
    """Print the header, the ``sections`` (Markdown) and the wall time of ``result`` (which
    holds ``machine``, ``load_average_start``/``_end`` and ``wall_s``), and write ``result``
    to ``json_path`` atomically when given."""
    load = result["load_average_start"], result["load_average_end"]
    print(header(title, result["machine"], *load))
    for section in sections:
        print(section)
    print(f"\nWall time {result['wall_s']:.1f} s.")
    if json_path:
        write_json_atomic(json_path, result)


def worker_main(config_path: str, out_path: str, workers: dict[str, Callable]) -> int:
    """Run the worker named by the config's ``kind`` and write its JSON result."""
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    result = workers[config["kind"]](config)
    write_json_atomic(out_path, result)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fasta", nargs="?", help="genome FASTA (gzip ok); required without --quick")
    parser.add_argument("--quick", action="store_true", help="synthetic 3-record 20 kb genome")
    parser.add_argument(
        "--states", type=int, nargs="+", help="numbers of states K (default 4 8; --quick 4)"
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help="timed EM iterations after the first (default 5; --quick 2)",
    )
    parser.add_argument(
        "--dtype",
        nargs="+",
        choices=["float32", "float64"],
        help="lsgm precisions (default float32 float64; --quick float32)",
    )
    parser.add_argument("--method", help="passed to fit_em(method=...) (only when given)")
    parser.add_argument(
        "--ambiguous",
        choices=["error", "split"],
        default="error",
        help="records with IUPAC codes (N, ...): stop, or cut them there",
    )
    parser.add_argument("--seed", type=int, default=0, help="starting parameters")
    parser.add_argument("--cpu", type=int, default=0, help="taskset CPU (-1: no pinning)")
    parser.add_argument("--no-hmmlearn", action="store_true", help="lsgm rows only")
    parser.add_argument(
        "--hmmlearn",
        nargs="+",
        choices=("scaling", "log"),
        default=["scaling", "log"],
        help="hmmlearn implementations to time (default both; speed-ups are against scaling)",
    )
    parser.add_argument("--workdir", help="keep the synthetic genome here (default: a temp dir)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker, {"lsgm": lsgm_worker, "hmmlearn": hmmlearn_worker})
    if args.fasta is None and not args.quick:
        parser.error("give a genome FASTA path (e.g. the E. coli K-12 .fna.gz), or --quick")
    if args.iters is None:
        args.iters = 2 if args.quick else 5
    if args.states is None:
        args.states = [4] if args.quick else [4, 8]
    if args.dtype is None:
        args.dtype = ["float32"] if args.quick else ["float32", "float64"]
    if args.iters < 1 or any(K < 1 for K in args.states):
        parser.error("--iters and --states must be >= 1")
    if not args.no_hmmlearn:
        try:
            import hmmlearn  # noqa: F401
        except ImportError:
            print("note: hmmlearn is not installed; lsgm rows only", file=sys.stderr)
            args.no_hmmlearn = True
    load_start, wall_start = load_average(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genome-em-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.quick:
            fasta = str(workdir / "synthetic_genome.fa.gz")
            write_synthetic_genome(Path(fasta))
            label = "synthetic 3 records (9 + 7 + 4 kb)"
        else:
            fasta = args.fasta
            label = Path(fasta).name
        names, xs, dropped = load_genome(fasta, args.ambiguous)
        rows, machine = genome_rows(args, fasta)
    agreement(rows)
    lengths = [len(x) for x in xs]
    notes = []
    if len(set(lengths)) > 1:
        padded = len(lengths) * max(lengths)
        notes.append(
            f"fit_em pads the {len(lengths)} records to the longest: {padded:,} steps per "
            f"E-step for {sum(lengths):,} bases ({padded / sum(lengths):.2f}×)."
        )
    result = {
        "benchmark": "genome_em",
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine,
        "label": f"{label} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})",
        "fasta": fasta,
        "records": len(xs),
        "bases": sum(lengths),
        "longest": max(lengths),
        "ambiguous_dropped": dropped,
        "n_iter": args.iters + 1,
        "seed": args.seed,
        "rows": rows,
        "notes": notes,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - wall_start,
    }
    title = "Genome EM per iteration: lsgm vs hmmlearn"
    print_report(title, result, [genome_markdown(result)], args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
