"""The console script is installed and answers --version."""

import subprocess
import sys

import lsgm
from lsgm.cli.main import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"lsgm {lsgm.__version__}"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "lsgm.cli.main", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith("lsgm ")


def test_no_command_is_a_usage_error():
    assert main([]) == 2
