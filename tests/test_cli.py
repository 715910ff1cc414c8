"""CLI: help, version, info, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from neuroimit import Session, __version__
from neuroimit.cli import main


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "info" in capsys.readouterr().out


def test_usage_error_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    assert main(["info"]) == 2  # missing argument


def test_info_prints_summary(tmp_path, capsys):
    t = np.arange(20) / 200.0
    p = Session(np.zeros((20, 2, 3)), t, ["Shoulder", "Wrist"],
                metadata={"session_id": "abc"}).save(tmp_path / "s.nc")
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "Shoulder" in out and "200 Hz" in out and "0.100 s" in out
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_frames"] == 20 and d["session_id"] == "abc"


def test_bad_file_one_line_error_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not a session")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad.nc" in err and "\n" not in err
    assert "Traceback" not in err


def test_console_script_runs(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("x")
    r = subprocess.run([sys.executable, "-m", "neuroimit", "info", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "neuroimit", "--debug", "info", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr
