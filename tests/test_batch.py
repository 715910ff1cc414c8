"""Batch: many sessions from the local DANDI stand-in on a 2-worker Dask LocalCluster."""
from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dandi_standin import DandiStandin, make_session  # noqa: E402

from neuroimit.batch import discover_sources, run_batch  # noqa: E402
from neuroimit.loaders.nwb_write import write_nwb  # noqa: E402

#: the stages the batch test runs per session (kept light: the orchestration is under test)
BATCH_STAGES = ("load",)


@pytest.fixture
def dandiset(tmp_path, monkeypatch):
    api = DandiStandin().start()
    for i in range(3):
        p = write_nwb(make_session(n=200, seed=i, truth=False), tmp_path / f"s{i}.nwb")
        api.add_asset("000777", f"sub-M{i}/sub-M{i}_ses-1_behavior.nwb", p.read_bytes())
    # one deliberately corrupt session: an HDF5 signature followed by garbage
    bad = b"\x89HDF\r\n\x1a\n" + b"\x00garbage" * 500
    path = "sub-M9/sub-M9_ses-1_behavior.nwb"
    aid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"000777/{path}"))
    blob = hashlib.sha256(bad).hexdigest()[:24]
    api.add_asset("000777", path, bad, metadata={  # the stand-in cannot read it either
        "schemaKey": "Asset", "identifier": aid, "path": path, "contentSize": len(bad),
        "encodingFormat": "application/x-nwb",
        "digest": {"dandi:sha2-256": hashlib.sha256(bad).hexdigest()},
        "contentUrl": [f"{api.api_url}/assets/{aid}/download/",
                       f"{api.files.base}/blobs/{blob}"]})
    monkeypatch.setenv("NEUROIMIT_DANDI_API_URL", api.api_url)
    monkeypatch.setenv("NEUROIMIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DANDI_NO_ET", "1")
    yield api
    api.stop()


def test_batch_records_failures_and_reruns_only_unfinished(dandiset, tmp_path):
    sources = discover_sources("dandi://000777")
    assert len(sources) == 4
    assert len(discover_sources("dandi://000777", select="sub-M1")) == 1
    out = tmp_path / "out"
    res = run_batch("dandi://000777", out, n_workers=2, stages=BATCH_STAGES, progress=False)
    status = {Path(s["run_dir"]).name: s for s in res.status}
    assert len(status) == 4
    failed = [n for n, s in status.items() if s["status"] == "failed"]
    assert failed == ["sub-M9_ses-1_behavior"], status
    assert "sub-M9" in json.dumps(json.loads((out / "batch_status.json").read_text()))
    assert (out / "sub-M9_ses-1_behavior" / "error.txt").exists()
    for name in ("sub-M0_ses-1_behavior", "sub-M1_ses-1_behavior", "sub-M2_ses-1_behavior"):
        assert (out / name / "session.nc").exists()
        assert (out / name / "manifests" / "load.json").exists()
    summary = (out / "batch_summary.csv").read_text()
    assert summary.count("\n") == 5  # header + 4 sessions
    report = json.loads((out / "batch_report.json").read_text())
    assert report["n_done"] == 3 and report["n_failed"] == 1
    # a rerun runs only the unfinished (failed) session again
    mtime = (out / "sub-M0_ses-1_behavior" / "session.nc").stat().st_mtime_ns
    res2 = run_batch("dandi://000777", out, n_workers=2, stages=BATCH_STAGES, progress=False)
    assert [s["status"] for s in res2.status].count("failed") == 1
    assert (out / "sub-M0_ses-1_behavior" / "session.nc").stat().st_mtime_ns == mtime
