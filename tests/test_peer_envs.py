"""The pure parts of benchmarks/peer_envs.py (no network, no virtual environment is created)."""

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peer_envs  # noqa: E402
from workloads import make_workload  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory, and peers enabled whatever the caller's environment says."""
    monkeypatch.setenv(peer_envs.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(peer_envs.DISABLE_ENV, raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_workload_npz_round_trip(tmp_path, kind):
    w = make_workload(kind, n=3, T=7)
    path = peer_envs.save_workload(w, tmp_path / "w.npz")
    assert path == tmp_path / "w.npz" and path.exists()
    back = peer_envs.load_workload(path)
    assert back.kind == kind
    for name in ("startprob", "transmat", "X", "emissionprob", "means", "variances"):
        a, b = getattr(w, name), getattr(back, name)
        if a is None:
            assert b is None
        else:
            assert b.dtype == a.dtype and np.array_equal(a, b)


def test_parse_runner_output():
    obj = {
        "log-likelihood": {"seconds": 0.5, "compile_seconds": 1.25, "value": -12.5},
        "grad": {"seconds": 0.1, "value": -12.5, "grad_norm": 3.0},
        "viterbi": {"skipped": "not supported"},
        "em-step": {"error": "RuntimeError: boom"},
        "_meta": {"versions": {"dynamax": "1.0.3"}},
    }
    stdout = "some warning\n{not json\n" + json.dumps(obj) + "\n"
    r = peer_envs.parse_runner_output(stdout, "dynamax")
    assert r.label == "dynamax 1.0.3"
    assert set(r.ops) == {"log-likelihood", "grad", "viterbi", "em-step"}
    ll = r.ops["log-likelihood"]
    assert (ll.seconds, ll.compile_seconds, ll.value, ll.note) == (0.5, 1.25, -12.5, None)
    assert r.ops["grad"].extra == {"grad_norm": 3.0}
    assert r.seconds("viterbi") is None and r.ops["viterbi"].note == "not supported"
    assert r.ops["em-step"].note.startswith("RuntimeError")
    assert r.seconds("posteriors") is None
    with pytest.raises(ValueError, match="no JSON"):
        peer_envs.parse_runner_output("Traceback ...\nError\n", "dynamax")


def test_runner_args():
    args = peer_envs.runner_args(["w.npz", "--repeats=2", "--ops=viterbi,grad"])
    assert (args.workload, args.repeats, args.warmup, args.ops) == (
        "w.npz",
        2,
        3,
        ["viterbi", "grad"],
    )
    with pytest.raises(SystemExit):
        peer_envs.runner_args(["w.npz", "--ops=nonsense"])


def test_run_ops_catches_failures(capsys):
    args = peer_envs.runner_args(["w.npz", "--ops=log-likelihood,viterbi,grad"])

    def fail():
        raise RuntimeError("boom")

    out = peer_envs.run_ops(
        args, {"log-likelihood": lambda: {"seconds": 1.0}, "viterbi": fail, "grad": "no"}, {}
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == out
    assert out["viterbi"] == {"error": "RuntimeError: boom"} and out["grad"] == {"skipped": "no"}


def test_cache_dir_override(cache):
    assert peer_envs.cache_dir() == cache


def test_unknown_peer(cache):
    with pytest.raises(ValueError, match="unknown peer"):
        peer_envs.ensure_env("nosuchpeer")


def test_skip_when_venv_cannot_be_created(cache, monkeypatch, capsys):
    calls = []

    def no_venv(root):
        calls.append(root)
        raise peer_envs.PeerUnavailable("creating a venv failed: no ensurepip")

    monkeypatch.setattr(peer_envs, "_create_venv", no_venv)
    assert peer_envs.run_peer("dynamax", make_workload("categorical", n=2, T=5)) is None
    assert len(calls) == len(peer_envs.PEERS["dynamax"].installs)  # every alternative tried
    err = capsys.readouterr().err
    assert "skipping dynamax" in err and "no ensurepip" in err


def test_skip_when_install_fails(cache, monkeypatch, capsys):
    monkeypatch.setattr(peer_envs, "_create_venv", lambda root: Path(sys.executable))

    def no_pip(python, requirements):
        raise peer_envs.PeerUnavailable("pip install failed (exit 1): no network")

    monkeypatch.setattr(peer_envs, "_pip_install", no_pip)
    assert peer_envs.run_peer("pomegranate", make_workload("gaussian", n=2, T=5)) is None
    assert "no network" in capsys.readouterr().err


def test_no_install_and_disabled(cache, monkeypatch, capsys):
    def must_not_run(root):
        raise AssertionError("should not try to create a venv")

    monkeypatch.setattr(peer_envs, "_create_venv", must_not_run)
    w = make_workload("categorical", n=2, T=5)
    assert peer_envs.run_peer("dynamax", w, allow_install=False) is None
    assert "installing is disabled" in capsys.readouterr().err
    monkeypatch.setenv(peer_envs.DISABLE_ENV, "1")
    assert peer_envs.run_peer("dynamax", w) is None
    assert peer_envs.DISABLE_ENV in capsys.readouterr().err


def test_existing_env_is_reused_and_runner_protocol(cache, tmp_path, monkeypatch):
    """A marker with the current pins is reused as is; a stand-in runner (our interpreter)
    reads the workload file and its JSON comes back."""
    spec = peer_envs.PEERS["dynamax"]
    root = cache / "dynamax"
    python = peer_envs._venv_python(root)
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    marker = {"spec": peer_envs._spec_key(spec), "install": ["x==1"], "versions": {"dynamax": "9"}}
    (root / peer_envs.MARKER).write_text(json.dumps(marker))
    runner = tmp_path / "fake_runner.py"
    runner.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {str(ROOT / "benchmarks")!r})
            from peer_envs import load_workload, runner_args
            args = runner_args()
            w = load_workload(args.workload)
            print("noise")
            print(json.dumps({{op: {{"seconds": 0.25, "value": float(w.X.sum())}} for op in args.ops}}))
            """
        )
    )
    monkeypatch.setitem(
        peer_envs.PEERS, "dynamax", peer_envs.PeerSpec(**{**vars(spec), "runner": runner})
    )
    monkeypatch.setattr(peer_envs, "_create_venv", lambda root: pytest.fail("venv rebuilt"))
    w = make_workload("categorical", n=2, T=5)
    r = peer_envs.run_peer("dynamax", w, repeats=1, ops=["log-likelihood", "viterbi"])
    assert r is not None and r.label == "dynamax 9" and r.meta["install"] == ["x==1"]
    assert set(r.ops) == {"log-likelihood", "viterbi"}
    assert r.seconds("viterbi") == 0.25 and r.ops["log-likelihood"].value == float(w.X.sum())


def test_runner_scripts_compile():
    for name in ("dynamax_runner.py", "pomegranate_runner.py"):
        path = ROOT / "benchmarks" / "peers" / name
        compile(path.read_text(encoding="utf-8"), str(path), "exec")  # syntax only, nothing written
