"""Every benchmark in one command, one Markdown file with all tables and a machine header.

Runs, each in its own process (so each pins its own threads), in this order:

* ``kernels.py``: inference kernels vs hmmlearn (in-process peer);
* ``training.py``: EM iteration and gradient vs hmmlearn and dynamax (dynamax in its own
  virtual environment, created on first use by ``peer_envs.py``; a note if it cannot be);
* ``peer_envs.py``: dynamax and pomegranate on the kernel ops, in their environments;
* ``lsgm_step.py``: the LSGM training step of the two reference configurations;
* ``genome_decode.py``: whole-genome decoding (only with ``--genome PATH``; skipped with a
  note otherwise; ``--quick`` runs its synthetic 20 kb sequence instead);
* ``scaling.py``: time vs T, K and batch size (plot in ``DIR/scaling/scaling.png``).

and writes ``DIR/benchmarks.md``. A failing script is reported in the file (with the tail of
its error output) and makes the exit code 1; the others still run.

    nice -n 10 python benchmarks/run.py --genome /path/to/ecoli.fna.gz --output lsgm-benchmarks
    python benchmarks/run.py --quick --output /tmp/b   # runs everything tiny (the test suite)
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import machine_line  # noqa: E402

from lsgm.data.files import atomic_write_text, check_writable_dir  # noqa: E402


def sections(args, out: Path) -> list[tuple[str, list[str] | None, str]]:
    """``(title, argv or None if skipped, note)`` for each script, in order."""
    quick = ["--quick"] if args.quick else []
    genome: list[str] | None
    if args.genome:
        genome, note = ["genome_decode.py", args.genome, *quick], ""
    elif args.quick:
        genome, note = ["genome_decode.py", "--quick"], ""
    else:
        genome = None
        note = "skipped: pass `--genome PATH` (e.g. the E. coli K-12 MG1655 FASTA) to run it."
    peers = ["peer_envs.py", *quick] + (["--no-install"] if args.no_install else [])
    if args.quick:
        peers.append("--no-check")  # the check compiles our kernels again; nothing to check
    return [
        ("Inference kernels", ["kernels.py", *quick], ""),
        ("EM iteration and gradient", ["training.py", *quick], ""),
        ("Peers on the kernel ops", peers, ""),
        ("LSGM training step", ["lsgm_step.py", *quick], ""),
        ("Whole-genome decoding", genome, note),
        ("Scaling curves", ["scaling.py", *quick, "--output", str(out / "scaling")], ""),
    ]


def demote(text: str) -> str:
    """Markdown headings one level down per ``#`` (so every script's title nests here)."""
    return "\n".join("##" + line if line.startswith("#") else line for line in text.splitlines())


def run_script(argv: list[str], timeout: float, quick: bool = False) -> tuple[int, str, str, float]:
    """Run one benchmark script; ``quick``: with XLA's backend optimisations and its CPU fusion
    emitters off (both only cost compile time there: quick runs measure nothing)."""
    env = dict(os.environ)
    if quick:
        for flag in ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false"):
            if flag.split("=")[0] not in env.get("XLA_FLAGS", ""):
                env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        code, stdout, stderr = 124, e.stdout or "", f"timed out after {timeout:.0f} s"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    return code, stdout, stderr, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--output", default="lsgm-benchmarks", help="folder for benchmarks.md")
    parser.add_argument("--genome", help="genome FASTA for the whole-genome decoding benchmark")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not create missing peer environments (skip those peers)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per script")
    args = parser.parse_args(argv)
    if args.genome and not Path(args.genome).is_file():
        raise SystemExit(f"--genome {args.genome}: no such file.")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out)
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        "# lsgm benchmarks",
        "",
        f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. Command: `{command}`.",
        "",
        f"Machine: {machine_line()}.",
        "",
    ]
    if args.quick:
        parts += ["**--quick: tiny sizes; these numbers measure nothing.**", ""]
    failed = []
    total = time.perf_counter()
    for title, script, note in sections(args, out):
        parts += [f"## {title}", ""]
        if script is None:
            parts += [note, ""]
            print(f"[{title}] {note}", file=sys.stderr)
            continue
        print(f"[{title}] python benchmarks/{' '.join(script)}", file=sys.stderr)
        code, stdout, stderr, seconds = run_script(script, args.timeout, args.quick)
        parts += [f"`python benchmarks/{' '.join(script)}` ({seconds:.0f} s)", ""]
        parts += [demote(stdout.strip()), ""]
        notes = [line for line in stderr.splitlines() if line.startswith("note:")]
        if notes:
            parts += ["Notes:", ""] + [f"- {line[5:].strip()}" for line in notes] + [""]
        if code != 0:
            failed.append(title)
            tail = "\n".join(stderr.strip().splitlines()[-20:])
            parts += [
                f"**Failed (exit code {code}).** Last lines of its error output:",
                "",
                "```",
                tail,
                "```",
                "",
            ]
    parts += [f"Total wall time {time.perf_counter() - total:.0f} s."]
    if failed:
        parts += ["", f"Failed: {', '.join(failed)}."]
    target = out / "benchmarks.md"
    atomic_write_text(target, "\n".join(parts) + "\n")
    print(f"wrote {target}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
