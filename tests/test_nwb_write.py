"""NWB writer: layout, nwbinspector validity, pynwb round trip, atomicity."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroimit import EMG, DataError, Session
from neuroimit.loaders.nwb_write import METADATA_PREFIX, write_nwb

NAMES = ["Shoulder", "Elbow", "Wrist", "Paw"]


def _session(kind: str = "raw", irregular: bool = False) -> Session:
    rng = np.random.default_rng(1)
    T = 300
    t = np.arange(T) / 200.0
    if irregular:
        t = t + rng.uniform(0, 1e-3, T) * (np.arange(T) % 2)
    kp = rng.normal(size=(T, 4, 3)) * 1e-3
    kp[7, 2] = np.nan
    conf = rng.uniform(0.5, 1.0, (T, 4))
    data = rng.normal(size=(3000, 3)) * 1e-4 if kind == "raw" else rng.uniform(0, 1, (3000, 3))
    emg = EMG(data, np.arange(3000) / 2000.0, ["Biceps", "TriLong", "TriLat"],
              ["biceps_long", "triceps_long", "triceps_lateral"], kind=kind,
              unit="V" if kind == "raw" else "a.u.")
    trials = pd.DataFrame({"start_time": [0.1, 0.9], "stop_time": [0.5, 1.3],
                           "outcome": ["success", "miss"], "target_x": [0.011, 0.012],
                           "target_y": [-0.002, 0.001], "target_z": [0.004, 0.005]})
    truth = xr.Dataset(
        {"qpos": (("time", "joint"), rng.normal(size=(T, 4))),
         "keypoints_true": (("time", "keypoint", "axis"), kp),
         "offsets": (("keypoint", "axis"), rng.normal(size=(4, 3)) * 1e-3),
         "segment_scale": (("segment",), np.array([1.05, 0.97, 1.0]))},
        coords={"time": t, "joint": ["a", "b", "c", "d"], "keypoint": NAMES,
                "axis": ["x", "y", "z"], "segment": ["humerus", "forearm", "paw"]},
        attrs={"timestep": 0.00125, "body": "mouse_forelimb"})
    return Session(kp, t, NAMES, conf, emg, trials,
                   {"subject": "m1", "session_id": "s1", "species": "Mus musculus"}, truth)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    s = _session()
    p = write_nwb(s, tmp_path_factory.mktemp("nwb") / "s.nwb")
    return s, p


def test_nwbinspector_no_critical(written):
    from nwbinspector import Importance, inspect_nwbfile

    _, p = written
    msgs = list(inspect_nwbfile(nwbfile_path=str(p)))
    bad = [m for m in msgs if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not bad, [(m.check_function_name, m.object_name, m.message) for m in bad]


def test_round_trip_with_pynwb(written):
    from pynwb import NWBHDF5IO

    s, p = written
    with NWBHDF5IO(str(p), "r", load_namespaces=True) as io:
        nwb = io.read()
        # pose
        pe = nwb.processing["behavior"]["PoseEstimation"]
        assert set(pe.pose_estimation_series) == set(NAMES)
        assert list(pe.skeleton.nodes[:]) == NAMES
        for k, n in enumerate(NAMES):
            ser = pe.pose_estimation_series[n]
            assert ser.unit == "meters"
            np.testing.assert_array_equal(ser.data[:], s.keypoints[:, k])
            np.testing.assert_array_equal(ser.confidence[:], s.confidence[:, k])
            np.testing.assert_allclose(ser.get_timestamps(), s.time, atol=1e-12)
        assert "Skeletons" in nwb.processing["behavior"].data_interfaces
        # EMG
        es = nwb.acquisition["EMG"]
        np.testing.assert_array_equal(es.data[:], s.emg.data)
        np.testing.assert_allclose(es.get_timestamps(), s.emg.time, atol=1e-12)
        el = es.electrodes.to_dataframe()
        assert list(el["muscle"]) == list(s.emg.muscles)
        assert list(el["channel"]) == list(s.emg.channels)
        assert json.loads(es.comments)["channels"] == list(s.emg.channels)
        # trials
        tr = nwb.trials.to_dataframe()
        pd.testing.assert_frame_equal(tr.reset_index(drop=True)[list(s.trials.columns)],
                                      s.trials, check_dtype=False)
        # subject + metadata
        assert nwb.subject.species == "Mus musculus" and nwb.subject.subject_id == "m1"
        assert json.loads(nwb.notes[len(METADATA_PREFIX):])["session_id"] == "s1"
        # ground truth
        gt = nwb.processing["ground_truth"]
        assert "GROUND TRUTH" in gt.description
        q = gt["qpos"]
        np.testing.assert_array_equal(q.data[:], s.truth["qpos"].values)
        meta = json.loads(q.comments)
        assert meta["dims"] == ["time", "joint"]
        assert meta["coords"]["joint"]["values"] == ["a", "b", "c", "d"]
        kt = gt["keypoints_true"]
        np.testing.assert_array_equal(kt.data[:], s.truth["keypoints_true"].values)
        off = gt["offsets"].to_dataframe()
        assert list(off["keypoint"]) == NAMES
        np.testing.assert_array_equal(np.stack(off["value"].to_numpy()),
                                      s.truth["offsets"].values)
        sc = gt["segment_scale"].to_dataframe()
        np.testing.assert_array_equal(sc["value"].to_numpy(), [1.05, 0.97, 1.0])
        attrs = gt["dataset_attrs"].to_dataframe()
        assert dict(zip(attrs["key"], map(json.loads, attrs["value_json"]))) == \
            {"timestep": 0.00125, "body": "mouse_forelimb"}


def test_envelope_and_irregular_time(tmp_path):
    from pynwb import NWBHDF5IO

    s = _session(kind="envelope", irregular=True)
    p = write_nwb(s, tmp_path / "e.nwb")
    with NWBHDF5IO(str(p), "r", load_namespaces=True) as io:
        nwb = io.read()
        assert "EMG" not in nwb.acquisition
        ts = nwb.processing["ecephys"]["EMG"]
        assert ts.unit == "a.u." and json.loads(ts.comments)["kind"] == "envelope"
        np.testing.assert_array_equal(ts.data[:], s.emg.data)
        ser = nwb.processing["behavior"]["PoseEstimation"].pose_estimation_series["Paw"]
        np.testing.assert_allclose(ser.get_timestamps(), s.time, atol=1e-12)
        np.testing.assert_allclose(nwb.processing["ground_truth"]["qpos"].get_timestamps(),
                                   s.time, atol=1e-12)


def test_refuses_overwrite_and_leaves_no_temp(tmp_path, written):
    s, _ = written
    p = write_nwb(s, tmp_path / "a.nwb")
    with pytest.raises(DataError, match="already exists"):
        write_nwb(s, p)
    write_nwb(s, p, overwrite=True)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.nwb"]
    with pytest.raises(DataError, match="Session"):
        write_nwb("not a session", tmp_path / "b.nwb")
