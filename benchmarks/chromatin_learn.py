"""ChromHMM ``LearnModel`` vs ``lsgm chromatin learn`` end to end, back to back, same CPU.

Both run on the same binarized folder (default: ChromHMM's sample data, Debian package
``chromhmm-example``: GM12878 and K562, chr11 of hg18, 10 marks) with their default
information initialisation, ``-d 0.001``, ``-r 200``, each pinned to one CPU
(``taskset -c CPU``)::

    java -mx4000M -jar chromhmm.jar LearnModel -p 1 -noautoopen -noenrich INPUTDIR OUT 15 hg18
    lsgm chromatin learn -p 1 -noautoopen -noenrich INPUTDIR OUT 15 hg18

and writes every output (model, tables, heatmaps, segmentations, browser tracks, web page).
Reported: process wall time (``/usr/bin/time``-like, from ``os.wait4``) and CPU time, the
final log-likelihoods (each tool's own report: ChromHMM's last iteration line, ours the
same quantity), iterations, the emission probabilities compared state by state after
matching the states by the Hungarian method (:func:`scipy.optimize.linear_sum_assignment` on
the summed absolute differences), and the fraction of bins given the same (matched) state in
the two segmentations (read from the ``*_segments.bed`` files).

    python benchmarks/chromatin_learn.py                      # both tools, K = 15
    python benchmarks/chromatin_learn.py --compare A B        # two existing output folders

The machine may be shared: say so next to any timing, and rerun.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from lsgm.data import read_chromhmm_model

SAMPLE_DIR = Path("/usr/share/doc/chromhmm/examples/SAMPLEDATA_HG18")
CHROMHMM_JAR = Path("/usr/share/java/chromhmm.jar")
LINE = re.compile(r"^\s*(\d+)\s+(-?[\d.]+|-Infinity)\s+(\S+)\s+([\d.]+)\s*$")


def timed(command: list[str], log: Path) -> dict:
    """Run ``command`` (stdout and stderr to ``log``); wall and CPU seconds, exit code."""
    with open(log, "w", encoding="utf-8") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-6:])
        raise SystemExit(f"error: {' '.join(command)} failed ({code}):\n{tail}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "command": " ".join(command)}


def iterations(log: Path) -> list[tuple[int, float, float]]:
    """``(iteration, log-likelihood, total seconds)`` lines of either tool's progress."""
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m[1]), float(m[2].replace("Infinity", "inf")), float(m[4])))
    return rows


def bins(folder: Path, K: int, bin_size: int = 200) -> dict[tuple[str, str], np.ndarray]:
    """Per (cell, chromosome) the state (1-based) of every bin, from ``*_K_segments.bed``."""
    out: dict[tuple[str, str], list[np.ndarray]] = {}
    for path in sorted(folder.glob(f"*_{K}_segments.bed")):
        cell = path.name[: -len(f"_{K}_segments.bed")]
        for line in path.read_text().splitlines():
            chrom, start, end, state = line.split("\t")[:4]
            n = (int(end) - int(start)) // bin_size
            out.setdefault((cell, chrom), []).append(np.full(n, int(state.lstrip("E"))))
    return {key: np.concatenate(parts) for key, parts in out.items()}


def compare(theirs: Path, ours: Path, K: int) -> dict:
    """Emissions matched by the Hungarian method, and the fraction of bins with the same
    (matched) state."""
    a = read_chromhmm_model(theirs / f"model_{K}.txt")
    b = read_chromhmm_model(ours / f"model_{K}.txt").with_marks(a.marks)
    cost = np.abs(a.emission[:, None, :] - b.emission[None, :, :]).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    diff = np.abs(a.emission[rows] - b.emission[cols])
    mapping = np.zeros(K + 1, int)
    mapping[cols + 1] = rows + 1  # our state -> ChromHMM's
    ta, tb = bins(theirs, K), bins(ours, K)
    same = total = 0
    for key, za in ta.items():
        zb = mapping[tb[key]]
        same += int(np.sum(za == zb))
        total += za.size
    return {
        "max_abs_emission_diff": float(diff.max()),
        "per_state_max_abs_emission_diff": diff.max(1).round(4).tolist(),
        "same_state_fraction": same / total,
        "bins": total,
        "identity_matching": bool(np.all(rows == cols)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", default=str(SAMPLE_DIR))
    parser.add_argument("--states", type=int, default=15)
    parser.add_argument("--cpu", type=int, default=0, help="taskset CPU (-1: no pinning)")
    parser.add_argument("--workdir", default="chromatin_learn_run")
    parser.add_argument("--compare", nargs=2, metavar=("CHROMHMM_OUT", "LSGM_OUT"))
    args = parser.parse_args(argv)
    K = args.states
    if args.compare:
        theirs, ours = (Path(p) for p in args.compare)
        runs = {}
    else:
        if not CHROMHMM_JAR.is_file() or shutil.which("java") is None:
            raise SystemExit(f"error: ChromHMM ({CHROMHMM_JAR}) or java not found.")
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        theirs, ours = work / "chromhmm_out", work / "lsgm_out"
        pin = [] if args.cpu < 0 else ["taskset", "-c", str(args.cpu)]
        flags = ["-p", "1", "-noautoopen", "-noenrich", args.input_dir]
        java = ["java", "-mx4000M", "-jar", str(CHROMHMM_JAR), "LearnModel"]
        lsgm = [shutil.which("lsgm") or "lsgm", "chromatin", "learn"]
        runs = {
            "ChromHMM": timed(
                [*pin, *java, *flags, str(theirs), str(K), "hg18"], work / "chromhmm.log"
            ),
            "lsgm": timed([*pin, *lsgm, *flags, str(ours), str(K), "hg18"], work / "lsgm.log"),
        }
        for name, log in (("ChromHMM", "chromhmm.log"), ("lsgm", "lsgm.log")):
            its = iterations(work / log)
            runs[name].update(iterations=len(its), final_log_likelihood=its[-1][1])
    result = {"runs": runs, **compare(theirs, ours, K)}
    for name, run in runs.items():
        print(
            f"{name}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
            f"{run['iterations']} iterations, final log-likelihood "
            f"{run['final_log_likelihood']:.3f}"
        )
    print(
        f"emissions after Hungarian matching: max |difference| "
        f"{result['max_abs_emission_diff']:.4f} (per state "
        f"{result['per_state_max_abs_emission_diff']}); same state in "
        f"{100 * result['same_state_fraction']:.2f}% of {result['bins']:,} bins"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
