"""The audit's machinery: case registry, per-case temp dirs, input hashing, judges, fixtures.

Verdicts: ``OK`` (correct result, or exit 1 with a one-line message naming the file, record,
line or value), ``unclear`` (refused with a traceback, or a message naming nothing / a
misleading one), ``silent`` (exit 0 or an API return with a wrong or invented answer),
``loss`` (an input file changed or destroyed; found automatically by hashing).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@contextlib.contextmanager
def _no_fork_warning():
    """JAX warns on os.fork(); our children exec a fresh interpreter at once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
        yield


REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
VERDICTS = ("OK", "unclear", "silent", "loss")
CLASSES = ("1", "2", "3", "4", "5", "6", "7", "holds")


@dataclass
class Case:
    id: str
    cls: str
    desc: str
    fn: Callable
    quick: bool = False
    verdict: str = ""
    detail: str = ""
    seconds: float = 0.0


CASES: list[Case] = []


def case(id: str, cls: str, desc: str, quick: bool = False):
    """Register ``fn(ctx) -> (verdict, detail)`` as an audit case."""
    assert cls in CLASSES, cls

    def wrap(fn):
        assert all(c.id != id for c in CASES), id
        CASES.append(Case(id, cls, desc, fn, quick))
        return fn

    return wrap


# --------------------------------------------------------------------- results
@dataclass
class Result:
    """One CLI run: exit code, stdout, stderr, and the traceback of an escaping exception."""

    rc: int | None
    out: str = ""
    err: str = ""
    tb: str | None = None
    seconds: float = 0.0

    @property
    def first_err(self) -> str:
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""


@dataclass
class ApiResult:
    value: object = None
    exc: BaseException | None = None
    tb: str | None = None


def _hash(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    st = path.stat()
    return f"{h.hexdigest()}:{st.st_mode:o}"


def snapshot(root: Path) -> dict[str, str]:
    """Hash of every regular file / symlink under ``root`` (links not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / name
            try:
                if p.is_symlink() or p.is_file():
                    out[str(p)] = _hash(p)
            except OSError:
                continue
    return out


def leftovers(root: Path) -> list[str]:
    """Hidden temporary files of an atomic write (``.NAME.*.tmp*``) under ``root``."""
    found = []
    for dirpath, _, filenames in os.walk(root):
        found += [str(Path(dirpath) / f) for f in filenames if f.startswith(".") and ".tmp" in f]
    return found


#: ``python -m lsgm.cli.main`` as a terminal starts it: Ctrl-C raises KeyboardInterrupt even when
#: the audit itself runs in a background job (which starts children with SIGINT ignored).
CLI_CMD = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('lsgm.cli.main', run_name='__main__', alter_sys=True)",
]


class Ctx:
    """A case's fresh temp dir, its fixtures, and the CLI/API runners that watch inputs."""

    def __init__(self, root: Path, fixtures: Fixtures):
        self.dir = root
        self.fx = fixtures
        self.loss: list[str] = []
        self.mounts: list[Path] = []
        self.cleanup: list[Callable] = []
        self._pending: list = []

    # files ------------------------------------------------------------
    def p(self, name: str) -> Path:
        return self.dir / name

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        return path

    def copy(self, src, name: str | None = None) -> Path:
        src = Path(src)
        dst = self.dir / (name or src.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        return dst

    def model(self, kind: str, name: str | None = None) -> Path:
        """A copy of a fixture model file (see :class:`Fixtures`)."""
        return self.copy(self.fx.model(kind), name or f"{kind}.lsgm")

    def mount_tmpfs(self, name: str, size: str = "64k", ro: bool = False) -> Path | None:
        """A tiny tmpfs (root only); None when it cannot be mounted."""
        path = self.dir / name
        path.mkdir(parents=True, exist_ok=True)
        opts = f"size={size}" + (",ro" if ro else "")
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
        )
        if r.returncode != 0:
            return None
        self.mounts.append(path)
        return path

    def finish(self) -> None:
        """Check the inputs of background runs (:meth:`popen`) now that the case is over."""
        for before, allowed in self._pending:
            self._check(before, allowed)
        self._pending.clear()

    def close(self) -> None:
        for fn in self.cleanup:
            with contextlib.suppress(Exception):
                fn()
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)

    # watching inputs ------------------------------------------------------
    def _watch(self, may_change=()):
        before = snapshot(self.dir)
        allowed = [str(self.dir / m) if not os.path.isabs(str(m)) else str(m) for m in may_change]
        return before, allowed

    def _check(self, before: dict, allowed: list[str]) -> None:
        after = snapshot(self.dir)
        for path, digest in before.items():
            if any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed):
                continue
            now = after.get(path)
            if now is None:
                self.loss.append(f"{Path(path).name} deleted")
            elif now != digest:
                self.loss.append(f"{Path(path).name} changed")

    # runners ----------------------------------------------------------------
    def cli(self, *argv, may_change=()) -> Result:
        """``lsgm.cli.main.main(argv)`` in-process, in this dir, output captured."""
        from lsgm.cli.main import main

        argv = [str(a) for a in argv]
        before, allowed = self._watch(may_change)
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc, tb = main(argv), None
                except SystemExit as exit_:
                    rc, tb = (exit_.code if isinstance(exit_.code, int) else 1), None
                except BaseException:  # noqa: BLE001 - a traceback is what we audit
                    rc, tb = None, traceback.format_exc()
        finally:
            os.chdir(cwd)
        self._check(before, allowed)
        return Result(rc, out.getvalue(), err.getvalue(), tb, time.perf_counter() - start)

    def sub(self, *argv, timeout=120, may_change=(), preexec=None, env=None) -> Result:
        """``python -m lsgm.cli.main argv`` in a subprocess (for signals and rlimits)."""
        before, allowed = self._watch(may_change)
        start = time.perf_counter()
        try:
            with _no_fork_warning():
                r = subprocess.run(
                    [*CLI_CMD, *map(str, argv)],
                    cwd=self.dir,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    preexec_fn=preexec,
                    env=env,
                )
            res = Result(r.returncode, r.stdout, r.stderr, None, time.perf_counter() - start)
        except subprocess.TimeoutExpired as e:
            res = Result(None, str(e.stdout or ""), f"timed out after {timeout} s", None, timeout)
        if "Traceback (most recent call last)" in res.err:
            res.tb = res.err
        self._check(before, allowed)
        return res

    def popen(self, *argv, may_change=(), **kw) -> subprocess.Popen:
        """A background CLI run; its inputs are checked when the case ends (:meth:`finish`)."""
        self._pending.append(self._watch(may_change))
        with _no_fork_warning():
            return subprocess.Popen(
                [*CLI_CMD, *map(str, argv)],
                cwd=self.dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                **kw,
            )

    def api(self, fn: Callable, may_change=()) -> ApiResult:
        before, allowed = self._watch(may_change)
        try:
            res = ApiResult(value=fn())
        except Exception as exc:  # noqa: BLE001
            res = ApiResult(exc=exc, tb=traceback.format_exc())
        self._check(before, allowed)
        return res


def limited(ctx: Ctx, *argv, gib: int = 6, timeout: int = 90) -> Result:
    """A CLI run in a subprocess with its address space capped at ``gib`` GiB (for cases that
    could otherwise allocate tens of GiB: a huge K from a hostile file or option)."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (gib << 30, gib << 30))

    return ctx.sub(*argv, timeout=timeout, preexec=cap)


# ------------------------------------------------------------------ judges
def _names(needles) -> list[str]:
    out = []
    for n in needles:
        if isinstance(n, Path):
            out += [n.name]
        elif n is not None:
            out.append(str(n))
    return out


def _mentions(text: str, needles) -> bool:
    names = _names(needles)
    low = text.lower()
    return not names or any(n.lower() in low for n in names)


def refused(r: Result, *needles, wrong: str = "accepted", forbid=()) -> tuple[str, str]:
    """The run must fail with exit 1 (or argparse's 2) and a message naming one of ``needles``
    (paths are matched by file name); exit 0 is ``silent`` (``wrong`` says why that is wrong);
    ``forbid``: strings whose presence makes the message misleading."""
    if r.tb:
        return "unclear", "traceback: " + r.tb.strip().splitlines()[-1][:160]
    if r.rc == 0:
        return "silent", f"exit 0: {wrong}"
    if r.rc == 130:
        return "unclear", "exit 130 (interrupted) for a bad input"
    msg = r.first_err
    if r.rc not in (1, 2):
        return "unclear", f"exit {r.rc}: {msg}"
    if "Traceback" in r.err:
        return "unclear", "traceback on stderr: " + msg
    if not msg:
        return "unclear", f"exit {r.rc} with no message"
    bad = [f for f in forbid if f.lower() in r.err.lower()]
    if bad:
        return "unclear", f"misleading ({bad[0]!r}): {msg}"
    if not _mentions(r.err, needles):
        return "unclear", f"names none of {_names(needles)}: {msg}"
    return "OK", f"exit {r.rc}: {msg}"


def succeeded(r: Result, check: Callable[[Result], str | None] | None = None) -> tuple[str, str]:
    """The run must succeed (exit 0); ``check(r)`` returns None or what is wrong (``silent``)."""
    if r.tb:
        return "unclear", "traceback: " + r.tb.strip().splitlines()[-1][:160]
    if r.rc != 0:
        return "unclear", f"valid input refused (exit {r.rc}): {r.first_err}"
    if check is not None:
        problem = check(r)
        if problem:
            return "silent", problem
    return "OK", "exit 0" + (f" ({r.seconds:.1f} s)" if r.seconds > 5 else "")


def api_refused(
    res: ApiResult, *needles, wrong: str = "returned a value", types=(ValueError, TypeError)
) -> tuple[str, str]:
    """The call must raise a ValueError/TypeError whose message names one of ``needles``."""
    if res.exc is None:
        return "silent", f"{wrong}: {short(res.value)}"
    msg = f"{type(res.exc).__name__}: {res.exc}"[:200]
    if not isinstance(res.exc, types):
        return "unclear", msg
    if not _mentions(str(res.exc), needles):
        return "unclear", f"names none of {_names(needles)}: {msg}"
    return "OK", msg


def short(value) -> str:
    try:
        import numpy as np

        arr = np.asarray(value)
        if arr.dtype != object:
            return np.array2string(arr.ravel()[:8], precision=4)
    except Exception:  # noqa: BLE001
        pass
    return repr(value)[:80]


def strict_json(text: str):
    """Parse RFC 8259 JSON: NaN/Infinity are refused (ValueError)."""

    def bad(token):
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=bad)


def is_neg_inf(v) -> bool:
    try:
        return float(v) == -math.inf
    except (TypeError, ValueError):
        return False


def is_nan(v) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- fixtures
SEQ_INPUT = {
    "kind": "sequence",
    "alphabet": "ACGT",
    "ambiguous": "error",
    "quality": "ignore",
    "soft": False,
    "reverse_complement": False,
    "split": None,
    "dim": None,
}
TABLE_INPUT = {
    "kind": "table",
    "alphabet": "ACGT",
    "ambiguous": "error",
    "quality": "ignore",
    "soft": False,
    "reverse_complement": False,
    "split": None,
}

TRAIN_FA = ">r1\nACGTACGGTACCAGTTACGA\n>r2\nTTGACCAGGTACAGTACGTA\n>r3\nGGGCCCAATTACGTAC\n"


class Fixtures:
    """Model files and checkpoints built once per audit run and copied into cases."""

    def __init__(self, root: Path):
        self.root = root
        self._models: dict[str, Path] = {}
        self._ckpt: dict[str, Path] = {}

    def model(self, kind: str) -> Path:
        if kind not in self._models:
            self._models[kind] = self._build(kind)
        return self._models[kind]

    def _build(self, kind: str) -> Path:
        import numpy as np
        from flax import nnx

        from lsgm.distributions import Bernoulli, Categorical, Gaussian, Poisson
        from lsgm.models import HMM, LSGM
        from lsgm.models.serialization import save_model

        path = self.root / f"{kind}.lsgm"
        info = {"input": dict(SEQ_INPUT), "state_names": ["lo", "hi"], "training": {}}
        init, trans = [0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]]
        if kind == "dna":
            emit = Categorical.from_probs([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
            model = HMM.from_probs(init, trans, emit)
        elif kind == "imp":  # T (symbol 3) has probability 0 in every state
            emit = Categorical.from_probs([[0.5, 0.5, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0]])
            model = HMM.from_probs(init, trans, emit)
        elif kind == "alt":  # A then C then A ...: "AA" is impossible through the transitions
            emit = Categorical.from_probs([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
            model = HMM.from_probs([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], emit)
        elif kind == "gauss":
            emit = Gaussian.from_params(np.array([[0.0, 0.0], [3.0, 3.0]]), np.ones((2, 2)))
            model = HMM.from_probs(init, trans, emit)
            info["input"] = dict(TABLE_INPUT, dim=2)
        elif kind == "pois":
            emit = Poisson.from_rates(np.array([[1.0], [5.0]]))
            model = HMM.from_probs(init, trans, emit)
            info["input"] = dict(TABLE_INPUT, dim=1)
        elif kind == "ctab":  # categorical over integer tables
            emit = Categorical.from_probs([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
            model = HMM.from_probs(init, trans, emit)
            info["input"] = dict(TABLE_INPUT, dim=None)
        elif kind == "roll":
            p = np.full((2, 88), 0.05)
            p[1, 40:60] = 0.3
            model = HMM.from_probs(init, trans, Bernoulli.from_probs(p))
            info["input"] = dict(SEQ_INPUT, kind="pianoroll", dim=88)
        elif kind == "lsgm":
            emit = Categorical(2, 4, rngs=nnx.Rngs(0))
            model = LSGM(2, emit, hidden_size=4, embedding_dim=4, rngs=nnx.Rngs(1))
        else:
            raise KeyError(kind)
        save_model(path, model, info)
        return path

    def checkpoint(self, trainer: str) -> tuple[Path, list[str]]:
        """A checkpoint folder of a short `lsgm fit` run and that run's argv (less -o)."""
        if trainer not in self._ckpt:
            folder = self.root / f"ckpt_{trainer}"
            folder.mkdir()
            (folder / "train.fa").write_text(TRAIN_FA)
            argv = fit_argv(trainer)
            ctx = Ctx(folder, self)
            r = ctx.cli(*argv, "-o", "first.lsgm", "--checkpoint-dir", "ckpt")
            if r.rc != 0:
                raise RuntimeError(f"fixture fit failed: {r.first_err or r.tb}")
            self._ckpt[trainer] = folder
        return self._ckpt[trainer], fit_argv(trainer)


def fit_argv(trainer: str, data: str = "train.fa") -> list[str]:
    """A tiny, fast `lsgm fit` command line (em: 3 iterations; gradient: 3 epochs)."""
    if trainer == "em":
        extra = ["--trainer", "em", "--max-iter", "3", "--tol", "0"]
    else:
        extra = ["--trainer", "gradient", "--epochs", "3", "--batch-size", "2"]
    return ["fit", data, "--states", "2", "-q", *extra]


# ---------------------------------------------------------------- running
def run_cases(cases: list[Case], log=None) -> None:
    """Run every case in a fresh temp dir; fill in verdict, detail, seconds."""
    base = Path(tempfile.mkdtemp(prefix="lsgm-audit-"))
    fixtures = Fixtures(base / "_fixtures")
    fixtures.root.mkdir()
    data_before = snapshot(DATA)
    try:
        for i, c in enumerate(cases):
            root = base / f"{i:03d}_{c.id}"
            root.mkdir()
            ctx = Ctx(root, fixtures)
            start = time.perf_counter()
            try:
                verdict, detail = c.fn(ctx)
                ctx.finish()
            except Exception as exc:  # noqa: BLE001 - a harness/setup failure, reported
                tb = traceback.format_exc().strip().splitlines()
                verdict, detail = "unclear", f"case raised {type(exc).__name__}: {exc} ({tb[-3]})"
            finally:
                ctx.close()
            if ctx.loss:
                verdict, detail = "loss", "; ".join(ctx.loss) + f" ({detail})"
            c.verdict, c.detail = verdict, " ".join(str(detail).split())[:300]
            c.seconds = time.perf_counter() - start
            if log:
                log(
                    f"[{i + 1}/{len(cases)}] {c.id:<28} {c.verdict:<8} {c.seconds:5.1f}s "
                    f"{c.detail[:90]}"
                )
        data_after = snapshot(DATA)
        if data_after != data_before:  # never expected: cases copy tests/data first
            for c in cases:
                c.detail += " [tests/data changed during the audit]"
    finally:
        for dirpath, dirnames, _ in os.walk(base):  # read-only dirs made by cases
            for d in dirnames:
                with contextlib.suppress(OSError):
                    os.chmod(Path(dirpath) / d, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def counts(cases: list[Case]) -> dict:
    per_class = {k: dict.fromkeys(VERDICTS, 0) for k in CLASSES}
    total = dict.fromkeys(VERDICTS, 0)
    for c in cases:
        per_class[c.cls][c.verdict] += 1
        total[c.verdict] += 1
    return {"total": total, "per_class": per_class}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(cases: list[Case], seconds: float, mode: str) -> str:
    n = counts(cases)
    lines = [
        "# lsgm reliability audit",
        "",
        f"{len(cases)} cases ({mode}), {seconds:.0f} s. Verdicts: "
        + ", ".join(f"{k} {v}" for k, v in n["total"].items()),
        "",
        "| class | " + " | ".join(VERDICTS) + " |",
        "|---|" + "---|" * len(VERDICTS),
    ]
    for k, row in n["per_class"].items():
        lines.append(f"| {k} | " + " | ".join(str(row[v]) for v in VERDICTS) + " |")
    lines += ["", "| id | class | description | verdict | detail |", "|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c.id} | {c.cls} | {_cell(c.desc)} | {c.verdict} | {_cell(c.detail)} |")
    return "\n".join(lines) + "\n"


def as_json(cases: list[Case], seconds: float, mode: str) -> str:
    return json.dumps(
        {
            "mode": mode,
            "seconds": round(seconds, 1),
            **counts(cases),
            "cases": [
                {
                    "id": c.id,
                    "class": c.cls,
                    "description": c.desc,
                    "verdict": c.verdict,
                    "detail": c.detail,
                    "seconds": round(c.seconds, 2),
                }
                for c in cases
            ],
        },
        indent=2,
    )


def atomic_write(path: Path, text: str) -> None:
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
