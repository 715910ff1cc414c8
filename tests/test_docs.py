"""`make docs` builds: mkdocs --strict over docs/ and the API reference, offline."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it comes with the 'test' extra)")
    exe = str(mkdocs) if mkdocs.exists() else shutil.which("mkdocs")
    r = subprocess.run([exe, "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    # the reference is generated from the docstrings of every area
    for name in ("neuroimit.session", "neuroimit.loaders", "neuroimit.stac", "neuroimit.dynamics",
                 "neuroimit.pipeline"):
        assert name in api
    assert (tmp_path / "site" / "tutorials" / "index.html").exists()
