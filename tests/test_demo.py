"""`neuroimit demo` runs end to end on the built-in data."""
from __future__ import annotations

from neuroimit import Session
from neuroimit.cli import main


def test_demo_quick(tmp_path):
    assert main(["demo", "--quick", "-o", str(tmp_path / "run")]) == 0
    s = Session.load(tmp_path / "run" / "session.nc")
    assert s.n_frames > 0
