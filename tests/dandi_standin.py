"""A local stand-in for the DANDI REST API (for tests), plus helpers that build NWB fixtures.

It answers what ``dandi.dandiapi.DandiAPIClient(api_url=...)`` asks: ``/server-info``,
``/api/info/``, ``/api/auth/token``, dandisets, versions, the asset list filtered by path,
asset metadata (with digests and contentUrl), and the download endpoint, which redirects to
a presigned-looking blob URL served by the same :class:`RangeServer` (Range support, byte
counts, faults). Embargoed dandisets need ``Authorization: token <TOKEN>``.

    api = DandiStandin().start()
    api.add_asset("000001", "sub-M1/sub-M1_ses-1.nwb", data)
    DandiAPIClient(api_url=api.api_url)
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import h5py
import io

from http_range_server import RangeServer

NOW = "2024-01-01T00:00:00.000000Z"


@dataclass
class _Asset:
    asset_id: str
    blob: str
    path: str
    data: bytes
    metadata: dict = field(default_factory=dict)


@dataclass
class _Dandiset:
    identifier: str
    embargoed: bool = False
    published: str | None = None
    assets: list[_Asset] = field(default_factory=list)


def nwb_types(data: bytes) -> list[str]:
    """neurodata types of the groups in an NWB file (what variableMeasured summarises)."""
    out: set[str] = set()
    with h5py.File(io.BytesIO(data), "r") as f:
        def visit(name, obj):
            t = obj.attrs.get("neurodata_type")
            if t is not None and isinstance(obj, h5py.Group):
                out.add(t.decode() if isinstance(t, bytes) else str(t))
        for root in ("acquisition", "processing", "intervals"):
            if root in f:
                f[root].visititems(visit)
    return sorted(out)


def _subject_session(data: bytes) -> tuple[str | None, str | None]:
    with h5py.File(io.BytesIO(data), "r") as f:
        def s(p):
            if p in f:
                v = f[p][()]
                return v.decode() if isinstance(v, bytes) else str(v)
            return None
        return s("/general/subject/subject_id"), s("/general/session_id")


class DandiStandin:
    """The stand-in API on 127.0.0.1 (threads)."""

    def __init__(self, token: str = "test-secret-token-7f3a"):
        self.token = token
        self.dandisets: dict[str, _Dandiset] = {}
        self.api = RangeServer()        # the API host (JSON, redirects)
        self.api.hook = self._handle
        self.files = RangeServer()      # the blob store (another host:port, like S3)

    # ------------------------------------------------------------------ control
    def start(self) -> "DandiStandin":
        self.api.start()
        self.files.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        self.files.stop()

    @property
    def base(self) -> str:
        return self.api.base

    @property
    def api_url(self) -> str:
        return self.base + "/api"

    def add_dandiset(self, identifier: str, *, embargoed: bool = False,
                     published: str | None = None) -> None:
        self.dandisets[identifier] = _Dandiset(identifier, embargoed, published)

    def add_asset(self, dandiset: str, path: str, data: bytes, *,
                  metadata: dict | None = None) -> str:
        """Serve ``data`` as asset ``path``; returns the asset id."""
        ds = self.dandisets.setdefault(dandiset, _Dandiset(dandiset))
        aid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dandiset}/{path}"))
        blob = hashlib.sha256(data).hexdigest()[:24]
        self.files.add(f"/blobs/{blob}", data)
        meta = metadata
        if meta is None:
            subj, sess = _subject_session(data) if path.endswith(".nwb") else (None, None)
            types = nwb_types(data) if path.endswith(".nwb") else []
            meta = {
                "schemaKey": "Asset", "identifier": aid, "path": path,
                "contentSize": len(data), "encodingFormat": "application/x-nwb",
                "digest": {"dandi:sha2-256": hashlib.sha256(data).hexdigest()},
                "contentUrl": [f"{self.api_url}/assets/{aid}/download/",
                               f"{self.files.base}/blobs/{blob}"],
                "wasAttributedTo": [{"schemaKey": "Participant", "identifier": subj}]
                if subj else [],
                "wasGeneratedBy": [{"schemaKey": "Session", "identifier": sess, "name": sess}]
                if sess else [],
                "variableMeasured": [{"schemaKey": "PropertyValue", "value": t} for t in types],
                "measurementTechnique": [],
            }
        ds.assets.append(_Asset(aid, blob, path, data, meta))
        return aid

    # ------------------------------------------------------------------ API
    def _handle(self, h) -> bool:
        u = urlsplit(h.path)
        p = u.path
        q = parse_qs(u.query)
        if p in ("/server-info", "/api/info/", "/api/info"):
            return self._json(h, 200, {
                "version": "0.0.0-standin",
                "services": {"api": {"url": self.api_url}, "webui": {"url": self.base}},
                "cli-minimal-version": "0.0.0", "cli-bad-versions": []})
        authed = h.headers.get("Authorization") == f"token {self.token}"
        if p == "/api/auth/token/" or p == "/api/auth/token":
            return self._json(h, 200 if authed else 401, {"detail": "ok" if authed else
                                                            "Invalid token."})
        m = re.match(r"^/api/dandisets/(\d{6})/(.*)$", p)
        if not m:
            m2 = re.match(r"^/api/assets/([^/]+)/download/$", p)
            if m2:
                for ds in self.dandisets.values():
                    for a in ds.assets:
                        if a.asset_id == m2.group(1):
                            if ds.embargoed and not authed:
                                return self._json(h, 401, {"detail": "authentication"})
                            return self._redirect(h, a)
            return self._json(h, 404, {"detail": "Not found."})
        did, rest = m.group(1), m.group(2)
        ds = self.dandisets.get(did)
        if ds is None:
            return self._json(h, 404, {"detail": "Not found."})
        if ds.embargoed and not authed:
            return self._json(h, 401, {"detail": "Authentication credentials were not "
                                                 "provided."})
        if rest == "":
            return self._json(h, 200, self._dandiset_json(ds))
        m = re.match(r"^versions/([^/]+)/(.*)$", rest)
        if not m:
            return self._json(h, 404, {"detail": "Not found."})
        ver, rest = m.group(1), m.group(2)
        if ver not in ("draft", ds.published):
            return self._json(h, 404, {"detail": "Not found."})
        if rest in ("", "info/"):
            return self._json(h, 200, {**self._version_json(ds, ver), "metadata": {}})
        if rest == "assets/":
            path = q.get("path", [None])[0]
            items = [a for a in ds.assets if path is None or a.path.startswith(path)]
            return self._json(h, 200, {"count": len(items), "next": None, "previous": None,
                                       "results": [self._asset_json(a) for a in items]})
        m = re.match(r"^assets/([^/]+)/(info/|download/)?$", rest)
        if m:
            a = next((a for a in ds.assets if a.asset_id == m.group(1)), None)
            if a is None:
                return self._json(h, 404, {"detail": "Not found."})
            if m.group(2) == "download/":
                return self._redirect(h, a)
            if m.group(2) == "info/":
                return self._json(h, 200, {**self._asset_json(a), "metadata": a.metadata})
            return self._json(h, 200, a.metadata)
        return self._json(h, 404, {"detail": "Not found."})

    def _redirect(self, h, a: _Asset) -> bool:
        h.send_response(302)
        h.send_header("Location", f"{self.files.base}/blobs/{a.blob}?X-Amz-Signature=presigned-"
                                  f"{a.blob[:6]}&X-Amz-Expires=3600")
        h.send_header("Content-Length", "0")
        h.end_headers()
        return True

    def _version_json(self, ds: _Dandiset, ver: str) -> dict:
        return {"version": ver, "name": f"stand-in {ds.identifier}",
                "asset_count": len(ds.assets), "size": sum(len(a.data) for a in ds.assets),
                "created": NOW, "modified": NOW, "status": "Valid"}

    def _dandiset_json(self, ds: _Dandiset) -> dict:
        return {"identifier": ds.identifier, "created": NOW, "modified": NOW,
                "contact_person": "Test Person",
                "embargo_status": "EMBARGOED" if ds.embargoed else "OPEN",
                "most_recent_published_version": self._version_json(ds, ds.published)
                if ds.published else None,
                "draft_version": self._version_json(ds, "draft")}

    @staticmethod
    def _asset_json(a: _Asset) -> dict:
        return {"asset_id": a.asset_id, "blob": a.blob, "zarr": None, "path": a.path,
                "size": len(a.data), "created": NOW, "modified": NOW}

    @staticmethod
    def _json(h, code: int, obj) -> bool:
        body = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
        return True

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------- NWB fixtures
def make_session(n: int = 400, rate: float = 200.0, emg_rate: float = 2000.0,
                 kind: str = "raw", truth: bool = True, n_trials: int = 3, seed: int = 0,
                 trial_len: float | None = None):
    """A small synthetic Session (4 keypoints, 3 EMG channels, trials, optional truth)."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from neuroimit.session import EMG, Session

    r = np.random.default_rng(seed)
    t = np.arange(n) / rate
    kp = 0.01 * r.normal(size=(n, 4, 3)) + np.array([0.0, 0.01, 0.02])[None, None]
    kp[5, 2] = np.nan
    te = np.arange(int(round(n / rate * emg_rate))) / emg_rate
    data = 1e-4 * r.normal(size=(te.size, 3))
    if kind == "envelope":
        data = np.abs(data) * 1e4
    emg = EMG(data, te, ["Biceps", "TriLong", "TriLat"],
              ["biceps_long", "triceps_long", "triceps_lateral"],
              unit="V" if kind == "raw" else "a.u.", kind=kind)
    dur = n / rate
    starts = np.linspace(0, dur * 0.8, n_trials)
    tlen = dur * 0.15 if trial_len is None else trial_len
    tr = pd.DataFrame({"start_time": starts, "stop_time": starts + tlen,
                       "outcome": ["hit", "miss", "hit", "hit", "miss", "hit"][:n_trials]
                       if n_trials <= 6 else ["hit"] * n_trials,
                       "target_x": np.linspace(0.01, 0.02, n_trials)})
    T = None
    if truth:
        T = xr.Dataset(
            {"qpos": (("time", "joint"), r.normal(size=(n, 4))),
             "excitation": (("emg_time", "muscle"), r.random((te.size, 2))),
             "offsets": (("keypoint", "axis"), r.normal(size=(4, 3))),
             "segment_scale": (("segment",), np.array([1.0, 1.1, 0.9]))},
            coords={"time": t, "joint": ["a", "b", "c", "d"], "emg_time": te,
                    "muscle": ["m1", "m2"], "keypoint": ["Shoulder", "Elbow", "Wrist", "Paw"],
                    "axis": ["x", "y", "z"], "segment": ["humerus", "forearm", "paw"]},
            attrs={"seed": seed})
    return Session(kp, t, ["Shoulder", "Elbow", "Wrist", "Paw"], None, emg, tr,
                   {"subject": "M1", "session_id": "s1", "species": "Mus musculus"}, T)


def build_nwb(path, *, pose: str | None = "ndx", pose_unit: str = "meters", n: int = 200,
              rate: float = 100.0, timestamps=None, emg: str | None = None,
              trials: str | bool = True, two_pose: bool = False, seed: int = 0):
    """Write an NWB file with pynwb in one of many layouts (for reader tests).

    pose: "ndx" (ndx-pose Skeleton + PoseEstimation), "position" (Position of SpatialSeries),
        "2d" (ndx-pose with 2 coordinates), or None.
    emg: "electrical" (ElectricalSeries + 'muscle' column), "electrical_nonames" (location
        all "unknown"), "electrical_loc" (muscles only in the location column),
        "behavioral" (BehavioralTimeSeries, one TimeSeries per muscle),
        "behavioral_plain" (no EMG words; muscle-named series; plus a lick_rate series),
        "multicol" (one TimeSeries, names in its description), "multicol_nonames", or None.
    trials: True, "empty" (columns but no rows) or False.
    """
    import datetime as dt

    import numpy as np
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.file import Subject

    r = np.random.default_rng(seed)
    nwb = NWBFile(session_description="test", identifier=f"id-{seed}",
                  session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                  session_id="ses-1")
    nwb.subject = Subject(subject_id="M7", species="Mus musculus", age="P90D", sex="F")
    t = np.arange(n) / rate if timestamps is None else np.asarray(timestamps, float)
    names = ["Shoulder", "Elbow", "Wrist"]
    kw = {"timestamps": t} if timestamps is not None else {"rate": rate, "starting_time": 0.0}
    if pose is not None:
        beh = nwb.create_processing_module("behavior", "behaviour")
        ncoord = 2 if pose == "2d" else 3
        if pose in ("ndx", "2d"):
            from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons

            sk = Skeleton(name="arm", nodes=names, edges=np.array([[0, 1], [1, 2]], "uint8"))
            beh.add(Skeletons(skeletons=[sk]))
            for j, pe_name in enumerate(["PoseEstimation", "PoseEstimationB"][:1 + two_pose]):
                ser = [PoseEstimationSeries(name=nm, data=r.normal(size=(n, ncoord)) + 10 * j,
                                            unit=pose_unit, reference_frame="world",
                                            confidence=np.full(n, 0.9),
                                            **({"timestamps": t} if timestamps is not None
                                               else {"rate": rate, "starting_time": 0.0}))
                       for nm in names]
                beh.add(PoseEstimation(name=pe_name, pose_estimation_series=ser,
                                       skeleton=sk, description="pose"))
        elif pose == "position":
            pos = Position(name="Position")
            for nm in names:
                pos.add_spatial_series(SpatialSeries(name=nm, data=r.normal(size=(n, 3)),
                                                     reference_frame="world", unit=pose_unit,
                                                     **kw))
            beh.add(pos)
    if emg is not None:
        ne = n * 10
        e = r.normal(size=(ne, 3))
        ekw = {"rate": rate * 10, "starting_time": 0.0}
        muscles = ["Biceps", "TriLong", "TriLat"]
        if emg.startswith("electrical"):
            dev = nwb.create_device(name="amp")
            grp = nwb.create_electrode_group(name="EMG", description="emg", location="arm",
                                             device=dev)
            if emg == "electrical":
                nwb.add_electrode_column(name="muscle", description="muscle")
            for m in muscles:
                extra = {"muscle": m} if emg == "electrical" else {}
                nwb.add_electrode(group=grp, location=m if emg == "electrical_loc"
                                  else "unknown", **extra)
            region = nwb.create_electrode_table_region([0, 1, 2], "emg")
            name = "ElectricalSeries" if emg == "electrical_loc" else "EMGSeries"
            nwb.add_acquisition(ElectricalSeries(name=name, data=e * 1e-4,
                                                 electrodes=region, **ekw))
        elif emg == "behavioral_plain":  # FALCON-like: no "EMG" anywhere, muscle names
            mod = nwb.create_processing_module("misc", "processed signals")
            bts = BehavioralTimeSeries(name="BehavioralTimeSeries")
            for j, m in enumerate(["Biceps", "Triceps", "Deltoid"]):
                bts.add_timeseries(TimeSeries(name=m, data=np.abs(e[:, j]), unit="a.u.",
                                              description="signal", **ekw))
            mod.add(bts)
            nwb.add_acquisition(TimeSeries(name="lick_rate", data=np.abs(e[:, 0]), unit="Hz",
                                           description="licks per second", **ekw))
        elif emg == "behavioral":
            mod = nwb.create_processing_module("emg", "EMG envelopes")
            bts = BehavioralTimeSeries(name="EMG")
            for j, m in enumerate(muscles):
                bts.add_timeseries(TimeSeries(name=m, data=np.abs(e[:, j]), unit="a.u.",
                                              description="rectified EMG envelope", **ekw))
            mod.add(bts)
        else:
            desc = "EMG envelopes; columns: Biceps, TriLong, TriLat" if emg == "multicol" \
                else "EMG envelopes"
            nwb.add_acquisition(TimeSeries(name="emg", data=np.abs(e), unit="mV",
                                           description=desc, **ekw))
    if trials:
        nwb.add_trial_column(name="outcome", description="outcome")
        for a in (0.2, 0.8):
            nwb.add_trial(start_time=a, stop_time=a + 0.3, outcome="hit")
    with NWBHDF5IO(str(path), "w") as io_:
        io_.write(nwb)
    if trials == "empty":  # pynwb cannot write a table without rows: empty it afterwards
        with h5py.File(path, "a") as f:
            g = f["/intervals/trials"]
            for name in list(g):
                ds = g[name]
                dtype, attrs = ds.dtype, dict(ds.attrs)
                del g[name]
                new = g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype)
                for k, v in attrs.items():
                    new.attrs[k] = v
    return path


def assert_same_session(a, b, *, ignore_source=True):
    """Value equality of two sessions (metadata 'source'/'loader_notes' aside)."""
    import numpy as np
    import xarray as xr

    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    assert a.keypoint_names == b.keypoint_names
    assert (a.emg is None) == (b.emg is None)
    if a.emg is not None:
        np.testing.assert_array_equal(a.emg.data, b.emg.data)
        np.testing.assert_array_equal(a.emg.time, b.emg.time)
        assert (a.emg.channels, a.emg.muscles, a.emg.kind, a.emg.unit) == \
            (b.emg.channels, b.emg.muscles, b.emg.kind, b.emg.unit)
    assert list(a.trials.columns) == list(b.trials.columns)
    for c in a.trials.columns:
        assert list(a.trials[c]) == list(b.trials[c]), c
    if a.truth is None or b.truth is None:
        assert a.truth is None and b.truth is None
    else:
        xr.testing.assert_identical(a.truth, b.truth)
    skip = {"source", "loader_notes"} if ignore_source else set()
    ma = {k: v for k, v in a.metadata.items() if k not in skip}
    mb = {k: v for k, v in b.metadata.items() if k not in skip}
    assert ma == mb
