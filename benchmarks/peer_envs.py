"""Peer libraries that cannot share our environment, each measured in its own virtual environment.

A peer (dynamax, pomegranate) is installed with pip into ``$LSGM_BENCH_CACHE/<peer>`` (default
``~/.cache/lsgm-bench/<peer>``) the first time it is needed, so our package's dependencies are
never disturbed. A runner script (``benchmarks/peers/<peer>_runner.py``) then runs inside that
environment: it reads the workload from an ``.npz`` file, times each op with the conventions of
``benchmarks/common.py`` (one thread, median of repeats after warm-up, compile time apart) and
prints one JSON object ``{op: {"seconds", "compile_seconds", "value"}, "_meta": {...}}``.

From another benchmark script::

    from peer_envs import run_peer
    result = run_peer("dynamax", workload, repeats=7)   # None (with a printed note) if unavailable
    if result is not None:
        result.ops["log-likelihood"].seconds

As a script, it prints a Markdown table of the peers' timings on the standard workloads and
checks that each peer's log-likelihood equals ours (same parameters)::

    python benchmarks/peer_envs.py                 # 200 × 1000, 7 repeats, every peer
    python benchmarks/peer_envs.py --quick         # tiny sizes, 1 repeat
    python benchmarks/peer_envs.py --peers dynamax --no-install

Environment variables: ``LSGM_BENCH_CACHE`` (where the environments live),
``LSGM_BENCH_PYTHON`` (the interpreter that creates them; default: this one),
``LSGM_BENCH_NO_PEERS=1`` (skip every peer).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from workloads import Workload  # noqa: E402

CACHE_ENV = "LSGM_BENCH_CACHE"
PYTHON_ENV = "LSGM_BENCH_PYTHON"
DISABLE_ENV = "LSGM_BENCH_NO_PEERS"
MARKER = "lsgm-peer.json"
OPS = ("log-likelihood", "posteriors", "viterbi", "em-step", "grad")
INSTALL_TIMEOUT_S = 1800


class PeerUnavailable(RuntimeError):
    """A peer's environment could not be created, installed or used."""


@dataclass(frozen=True)
class PeerSpec:
    """How to install one peer: pip argument lists tried in order (the first that works wins)."""

    name: str
    runner: Path
    check_import: str  # a module whose import proves the install works
    distributions: tuple[str, ...]  # distributions whose versions are recorded
    installs: tuple[tuple[str, ...], ...]


# Pinned versions known to work (Python 3.11, Linux x86-64); the unpinned fallback is tried only
# if the pinned set cannot be installed (the versions that were installed are always recorded).
PEERS: dict[str, PeerSpec] = {
    "dynamax": PeerSpec(
        name="dynamax",
        runner=HERE / "peers" / "dynamax_runner.py",
        check_import="dynamax.hidden_markov_model",
        distributions=("dynamax", "jax", "jaxlib", "tfp-nightly", "numpy"),
        installs=(
            (
                "dynamax==1.0.3",
                "jax==0.10.2",
                "jaxlib==0.10.2",
                "tfp-nightly==0.26.0.dev20261027",
                "optax==0.2.8",
                "jaxtyping==0.3.11",
                "numpy==2.4.6",
            ),
            ("dynamax",),
        ),
    ),
    "pomegranate": PeerSpec(
        name="pomegranate",
        runner=HERE / "peers" / "pomegranate_runner.py",
        check_import="pomegranate.hmm",
        distributions=("pomegranate", "torch", "numpy"),
        installs=(
            # The CPU wheel (a local file where pip's find-links has it); never a CUDA torch.
            ("torch==2.13.0+cpu", "pomegranate==1.1.2", "numpy==2.4.6"),
            (
                "--index-url",
                "https://download.pytorch.org/whl/cpu",
                "--extra-index-url",
                "https://pypi.org/simple",
                "torch",
                "pomegranate>=1.0",
            ),
        ),
    ),
}


# Peers that run a whole model rather than the kernel ops, each driven by its own benchmark
# (not by this script's table): their environments use the same install mechanism.
MODEL_PEERS: dict[str, PeerSpec] = {
    # The LSGM authors' PyTorch code (a checkout the user provides; nothing of it is installed
    # here), run by ``benchmarks/lsgm_step.py --reference PATH`` through
    # ``benchmarks/peers/lsgm_torch_runner.py``. CPU torch only, never a CUDA build.
    "lsgm-torch": PeerSpec(
        name="lsgm-torch",
        runner=HERE / "peers" / "lsgm_torch_runner.py",
        check_import="torch",
        distributions=("torch", "numpy"),
        # The CPU wheel of torch 2.13.0 (a local file where pip's find-links has it).
        installs=(("torch==2.13.0+cpu", "numpy==2.4.6"),),
    ),
}


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


# --- workloads and results crossing the process boundary ----------------------------------------


def save_workload(w: Workload, path: str | Path) -> Path:
    """Write a workload's parameters and data to ``path`` (.npz) for a runner to read."""
    arrays = {
        "kind": np.array(w.kind),
        "startprob": np.asarray(w.startprob),
        "transmat": np.asarray(w.transmat),
        "X": np.asarray(w.X),
    }
    for name in ("emissionprob", "means", "variances"):
        if getattr(w, name) is not None:
            arrays[name] = np.asarray(getattr(w, name))
    path = Path(path)
    with open(path, "wb") as f:  # a file object: np.savez would otherwise append ".npz"
        np.savez(f, **arrays)
    return path


def load_workload(path: str | Path) -> Workload:
    """Read a workload written by :func:`save_workload`."""
    with np.load(path, allow_pickle=False) as z:
        opt = {k: z[k] for k in ("emissionprob", "means", "variances") if k in z.files}
        return Workload(str(z["kind"]), z["startprob"], z["transmat"], z["X"], **opt)


@dataclass
class OpTiming:
    """One op's result from a runner; ``seconds`` is None when the op was skipped or failed."""

    seconds: float | None
    compile_seconds: float | None = None
    value: float | None = None
    note: str | None = None  # why it was skipped / the error
    extra: dict = field(default_factory=dict)


@dataclass
class PeerResult:
    """The timings of one peer on one workload."""

    peer: str
    ops: dict[str, OpTiming]
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The peer and its version, e.g. ``dynamax 1.0.3``."""
        version = self.meta.get("versions", {}).get(self.peer)
        return self.peer if version is None else f"{self.peer} {version}"

    def seconds(self, op: str) -> float | None:
        """The median time of ``op``, or None if it was not measured."""
        t = self.ops.get(op)
        return None if t is None else t.seconds


def parse_runner_output(stdout: str, peer: str = "peer") -> PeerResult:
    """The last JSON object line of a runner's stdout as a :class:`PeerResult`."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            break
    else:
        tail = "\n".join(stdout.strip().splitlines()[-5:])
        raise ValueError(f"{peer} runner printed no JSON result; its output ended with:\n{tail}")
    ops = {}
    for op, d in obj.items():
        if op.startswith("_"):
            continue
        known = {"seconds", "compile_seconds", "value", "skipped", "error"}
        ops[op] = OpTiming(
            seconds=d.get("seconds"),
            compile_seconds=d.get("compile_seconds"),
            value=d.get("value"),
            note=d.get("skipped") or d.get("error"),
            extra={k: v for k, v in d.items() if k not in known},
        )
    return PeerResult(peer, ops, obj.get("_meta", {}))


# --- the runner side (imported by benchmarks/peers/*_runner.py inside the peer's venv) ----------


def runner_args(argv=None) -> argparse.Namespace:
    """Command line shared by the runners: ``WORKLOAD.npz [--repeats R] [--warmup W] [--ops ...]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", help=".npz written by peer_envs.save_workload")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--ops", default=",".join(OPS), help="comma-separated subset of " + ",".join(OPS)
    )
    args = parser.parse_args(argv)
    args.ops = [op for op in args.ops.split(",") if op]
    unknown = sorted(set(args.ops) - set(OPS))
    if unknown:
        parser.error(f"unknown ops {unknown}; choose from {list(OPS)}")
    return args


def run_ops(
    args: argparse.Namespace,
    ops: dict[str, Callable[[], dict] | str],
    meta: dict,
) -> dict:
    """Run each requested op (a callable returning its result dict, or a string: why it is
    unsupported), catching failures per op, and print the JSON object on one line."""
    out: dict = {}
    for op in args.ops:
        fn = ops.get(op, "not implemented by this runner")
        if isinstance(fn, str):
            out[op] = {"skipped": fn}
            continue
        try:
            out[op] = fn()
        except Exception as e:  # one op failing must not lose the others
            out[op] = {"error": f"{type(e).__name__}: {e}"[:500]}
    out["_meta"] = meta
    print(json.dumps(out), flush=True)
    return out


def distribution_versions(names) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones left out)."""
    from importlib import metadata

    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


# --- environments ----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the peers' environments live: ``$LSGM_BENCH_CACHE`` or ``~/.cache/lsgm-bench``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "lsgm-bench"


def _spec(peer: str) -> PeerSpec:
    known = {**PEERS, **MODEL_PEERS}
    try:
        return known[peer]
    except KeyError:
        raise ValueError(f"unknown peer {peer!r}; known: {sorted(known)}") from None


def _spec_key(spec: PeerSpec) -> str:
    """Changes when the pins (or the interpreter asked for) change: the venv is then rebuilt."""
    text = json.dumps([spec.name, spec.installs, os.environ.get(PYTHON_ENV, "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _base_python() -> str:
    return os.environ.get(PYTHON_ENV) or sys.executable


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without what would leak our packages into the peer's interpreter."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(extra)
    return env


def _run(cmd: list[str], what: str, timeout: float, **kw) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_clean_env(), **kw
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PeerUnavailable(f"{what} failed: {e}") from e
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-6:])
        raise PeerUnavailable(f"{what} failed (exit {out.returncode}):\n{tail}")
    return out


def _create_venv(root: Path) -> Path:
    """A fresh virtual environment at ``root``; its interpreter."""
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    _run([_base_python(), "-m", "venv", str(root)], f"creating a venv at {root}", timeout=300)
    python = _venv_python(root)
    if not python.exists():
        raise PeerUnavailable(f"creating a venv at {root} left no interpreter at {python}")
    return python


def _pip_install(python: Path, requirements: tuple[str, ...]) -> None:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements]
    _run(cmd, "pip install " + " ".join(requirements), timeout=INSTALL_TIMEOUT_S)


def _probe(python: Path, spec: PeerSpec) -> dict[str, str]:
    """Import the peer in its venv; the installed versions of its main distributions."""
    code = (
        f"import json, {spec.check_import}\n"
        "from importlib import metadata\n"
        "v = {}\n"
        f"for d in {list(spec.distributions)!r}:\n"
        "    try: v[d] = metadata.version(d)\n"
        "    except metadata.PackageNotFoundError: pass\n"
        "print(json.dumps(v))\n"
    )
    out = _run([str(python), "-c", code], f"importing {spec.check_import}", timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive lock on ``path`` (POSIX; a no-op elsewhere) so concurrent runs do not
    build the same environment twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class PeerEnv:
    """A ready virtual environment holding one peer."""

    peer: str
    root: Path
    python: Path
    versions: dict[str, str]
    install: list[str]  # the pip arguments that worked


def ensure_env(peer: str, allow_install: bool = True) -> PeerEnv:
    """The peer's environment, created and installed if missing (or if its pins changed).

    Raises :class:`PeerUnavailable` if it cannot be created or installed (or is missing and
    ``allow_install`` is false), :class:`ValueError` for an unknown peer.
    """
    spec = _spec(peer)
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        raise PeerUnavailable(f"{DISABLE_ENV} is set")
    root = cache_dir() / peer
    key = _spec_key(spec)
    with _lock(cache_dir() / f".{peer}.lock"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            marker = json.loads((root / MARKER).read_text())
            if marker["spec"] == key and _venv_python(root).exists():
                return PeerEnv(
                    peer, root, _venv_python(root), marker["versions"], marker["install"]
                )
        if not allow_install:
            raise PeerUnavailable(f"no {peer} environment at {root} and installing is disabled")
        errors = []
        for requirements in spec.installs:
            try:
                python = _create_venv(root)
                _pip_install(python, requirements)
                versions = _probe(python, spec)
            except PeerUnavailable as e:
                errors.append(str(e))
                continue
            marker = {"spec": key, "install": list(requirements), "versions": versions}
            (root / MARKER).write_text(json.dumps(marker, indent=1))
            return PeerEnv(peer, root, python, versions, list(requirements))
        shutil.rmtree(root, ignore_errors=True)
        raise PeerUnavailable(f"could not install {peer}:\n" + "\n".join(errors))


def run_runner(
    env: PeerEnv,
    w: Workload,
    repeats: int = 7,
    warmup: int = 3,
    ops: list[str] | tuple[str, ...] | None = None,
    timeout: float = 3600,
) -> PeerResult:
    """Run the peer's runner in its environment on ``w``; raises PeerUnavailable on failure."""
    spec = _spec(env.peer)
    with tempfile.TemporaryDirectory(prefix="lsgm-peer-") as tmp:
        npz = save_workload(w, Path(tmp) / "workload.npz")
        cmd = [
            str(env.python),
            str(spec.runner),
            str(npz),
            f"--repeats={repeats}",
            f"--warmup={warmup}",
        ]
        if ops:
            cmd.append("--ops=" + ",".join(ops))
        out = _run(cmd, f"the {env.peer} runner", timeout=timeout, cwd=tmp)
    try:
        result = parse_runner_output(out.stdout, env.peer)
    except ValueError as e:
        raise PeerUnavailable(str(e)) from e
    result.meta.setdefault("versions", env.versions)
    result.meta["install"] = env.install
    return result


def run_peer(
    peer: str,
    w: Workload,
    repeats: int = 7,
    warmup: int = 3,
    ops: list[str] | tuple[str, ...] | None = None,
    allow_install: bool = True,
    timeout: float = 3600,
) -> PeerResult | None:
    """The peer's timings on ``w`` (installing it first if needed), or None with a printed note
    (stderr) if it cannot be installed or run."""
    try:
        env = ensure_env(peer, allow_install=allow_install)
        return run_runner(env, w, repeats=repeats, warmup=warmup, ops=ops, timeout=timeout)
    except PeerUnavailable as e:
        _note(f"skipping {peer}: {e}")
        return None


# --- the script ------------------------------------------------------------------------------------


def lsgm_log_likelihood(w: Workload) -> float | None:
    """Our float32 total log-likelihood of ``w`` (as ``benchmarks/kernels.py`` computes it)."""
    try:
        import jax.numpy as jnp
        from kernels import lsgm_ops

        X = jnp.asarray(w.X, jnp.int32 if w.kind == "categorical" else jnp.float32)
        return float(lsgm_ops(w)["log-likelihood"](X))
    except Exception as e:  # the check is a convenience; never fail the benchmark over it
        _note(f"no lsgm log-likelihood to compare with: {type(e).__name__}: {e}")
        return None


def peer_table(rows: list[tuple[str, str, PeerResult]]) -> str:
    """(workload, op, result) rows as a Markdown table (times in ms)."""
    lines = [
        "| workload | op | peer | peer (ms) | compile (s) | value |",
        "|---|---|---|---:|---:|---:|",
    ]
    for label, op, result in rows:
        t = result.ops[op]
        ms = f"{t.seconds * 1e3:.2f}" if t.seconds is not None else f"n/a ({t.note})"
        comp = "" if t.compile_seconds is None else f"{t.compile_seconds:.2f}"
        value = "" if t.value is None else f"{t.value:.6g}"
        lines.append(f"| {label} | {op} | {result.label} | {ms} | {comp} | {value} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=list(OPS))
    parser.add_argument("--no-install", action="store_true", help="skip peers not yet installed")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the lsgm log-likelihood check"
    )
    args = parser.parse_args(argv)
    n, T, repeats = (4, 50, 1) if args.quick else (200, 1000, args.repeats)

    from common import cpu_name, pin_one_thread

    pin_one_thread()  # for our own check (the runners pin themselves)
    from workloads import make_workload

    rows, checks, notes, versions = [], [], {}, {}
    for kind in ("categorical", "gaussian"):
        w = make_workload(kind, n=n, T=T)
        label = f"{kind} K={len(w.startprob)}, {n}×{T}"
        ours = None if args.no_check else lsgm_log_likelihood(w)
        for peer in args.peers:
            result = run_peer(peer, w, repeats, ops=args.ops, allow_install=not args.no_install)
            if result is None:
                continue
            versions[peer] = result.meta.get("versions", {})
            notes.update({f"{peer} {op}": what for op, what in result.meta.get("what", {}).items()})
            rows += [(label, op, result) for op in args.ops if op in result.ops]
            ll = result.ops.get("log-likelihood")
            if ours is not None and ll is not None and ll.value is not None:
                rel = abs(ll.value - ours) / abs(ours)
                ok = "OK" if rel <= 1e-4 else "MISMATCH"
                checks.append(
                    f"{label}: {peer} {ll.value:.7g}, lsgm {ours:.7g}, rel. diff {rel:.1e} {ok}"
                )

    print("# Peer libraries in their own environments, float32, one thread\n")
    print(f"{cpu_name()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}")
    for peer, v in versions.items():
        print(f"- {peer} env: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    print()
    print(peer_table(rows) if rows else "No peer could be measured (see the notes on stderr).")
    if checks:
        print("\nLog-likelihood vs lsgm (same parameters, float32; rel. tolerance 1e-4):\n")
        print("\n".join(f"- {c}" for c in checks))
    if notes:
        print("\nWhat was timed:\n")
        print("\n".join(f"- {k}: {v}" for k, v in notes.items()))
    return 1 if any("MISMATCH" in c for c in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
