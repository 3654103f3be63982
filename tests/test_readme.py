"""The README's Python examples run as written (in order, sharing one namespace).

They run in a fresh interpreter, as a user's script would (and the dozens of programs they
compile do not add to the test worker's memory mappings: see ``conftest.py``)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import re, sys
from pathlib import Path
text = Path(sys.argv[1]).read_text(encoding="utf-8")
blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
assert len(blocks) >= 4, len(blocks)
namespace = {}
for block in blocks:
    exec(compile(block, "README.md", "exec"), namespace)
assert namespace["history"].train_nll  # the LSGM example trained
assert Path("lsgm-run").is_dir()
print("README OK", len(blocks))
"""


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path):
    # examples may write files (checkpoints): run them in tmp_path
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "README.md")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "README OK" in run.stdout
