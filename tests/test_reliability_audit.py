"""The quick subset of the reliability audit (issue 18): no case may lose data, give a silent
wrong answer, or end in a traceback or a message that names nothing."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `audit` lives at the repo root, next to `tests`
    sys.path.insert(0, str(ROOT))

from audit import reliability  # noqa: E402


@pytest.mark.slow
def test_quick_audit_has_no_failures():
    cases, _ = reliability.run(quick=True)
    assert len(cases) >= 30
    for cls in ("1", "2", "3", "4", "5", "6", "7", "holds"):
        assert sum(c.cls == cls for c in cases) >= 2, cls
    bad = [f"{c.id} [class {c.cls}] {c.verdict}: {c.detail}" for c in cases if c.verdict != "OK"]
    by_verdict = {v: [b for b in bad if f"] {v}:" in b] for v in ("loss", "silent", "unclear")}
    assert not by_verdict["loss"], "\n".join(bad)
    assert not by_verdict["silent"], "\n".join(bad)
    assert not by_verdict["unclear"], "\n".join(bad)
