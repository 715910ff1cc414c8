"""The demo runs the whole pipeline; a run killed mid-training finishes on rerun without
redoing finished stages."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py

from neuroimit import Session


def _neuroimit(*args, **kw):
    return [sys.executable, "-m", "neuroimit", *args]


def test_demo_killed_mid_training_then_rerun_finishes(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(_neuroimit("demo", "--quick", "-o", str(run)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 1200
    # wait until the train stage has started (stac finished, the policy folder exists)
    while not ((run / "manifests" / "stac.json").exists() and (run / "policy").exists()):
        assert proc.poll() is None, f"demo ended before training: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, "demo did not reach training in time"
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)  # kill -9: no chance to clean up
    proc.wait()
    assert not (run / "manifests" / "train.json").exists(), "training finished before the kill"
    stac_manifest = (run / "manifests" / "stac.json").read_text()

    r = subprocess.run(_neuroimit("run", "-o", str(run), "--json"), env=env,
                       capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    status = {d["stage"]: d["status"] for d in json.loads(r.stdout)}
    assert status == {"load": "skipped", "stac": "skipped", "train": "ran",
                      "evaluate": "ran", "report": "ran"}
    assert (run / "manifests" / "stac.json").read_text() == stac_manifest  # not redone

    # every output of the pipeline is there and readable
    sess = Session.load(run / "session.nc")
    assert sess.truth is not None and sess.emg is not None
    with h5py.File(run / "registration.h5") as f:
        assert f["qpos"].shape[0] == sess.n_frames
    with h5py.File(run / "rollout.h5") as f:
        assert len(f.keys()) > 0
    assert any((run / "policy").rglob("*.npz"))
    report = json.loads((run / "report.json").read_text())
    assert report and (run / "report.html").stat().st_size > 50_000
    for stage in ("load", "stac", "train", "evaluate", "report"):
        assert (run / "manifests" / f"{stage}.json").exists()
    assert "train ..." in (run / "log.txt").read_text()
