"""Session data model: validation, selection, resampling, round trip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroimit import EMG, DataError, Session
from neuroimit.session import load_session_file


def make_session(n=400, rate=200.0, with_emg=True, seed=0):
    rng = np.random.default_rng(seed)
    t = 10.0 + np.arange(n) / rate
    kp = rng.normal(size=(n, 3, 3)) * 1e-3
    kp[5, 1] = np.nan
    conf = rng.uniform(0.5, 1.0, size=(n, 3))
    emg = None
    if with_emg:
        et = 10.0 + np.arange(int(n / rate * 2000)) / 2000.0
        emg = EMG(rng.normal(size=(et.size, 2)) * 1e-4, et, ["Biceps", "TriLong"],
                  ["biceps_long", "triceps_long"], unit="V", kind="raw")
    trials = pd.DataFrame({"start_time": [10.1, 11.0], "stop_time": [10.5, 11.6],
                           "outcome": ["success", "miss"], "target_x": [0.01, 0.012]})
    truth = xr.Dataset({"qpos": (("time", "joint"), rng.normal(size=(n, 4)))},
                       coords={"time": t, "joint": ["a", "b", "c", "d"]})
    return Session(kp, t, ["Shoulder", "Elbow", "Wrist"], conf, emg, trials,
                   {"subject": "M1", "session_id": "s1", "species": "Mus musculus"}, truth)


def test_basic_properties():
    s = make_session()
    assert s.rate == 200.0
    assert s.duration == pytest.approx(2.0)
    assert s.emg.rate == 2000.0
    assert s.confidence[5, 1] == 0.0  # missing keypoint gets zero confidence
    d = s.describe()
    assert d["n_trials"] == 2 and d["keypoints"] == ["Shoulder", "Elbow", "Wrist"]
    assert d["emg"]["channels"] == ["Biceps", "TriLong"]
    assert d["missing_fraction"]["Elbow"] == pytest.approx(1 / 400)


def test_round_trip(tmp_path):
    s = make_session()
    p = s.save(tmp_path / "s.nc")
    s2 = load_session_file(p)
    assert s2 == s
    np.testing.assert_array_equal(s2.keypoints, s.keypoints)  # NaN positions identical
    assert list(s2.trials["outcome"]) == ["success", "miss"]
    assert s2.trials["target_x"].tolist() == [0.01, 0.012]
    assert s2.metadata["subject"] == "M1"
    assert s2.emg.muscles == ("biceps_long", "triceps_long")
    xr.testing.assert_identical(s2.truth, s.truth)
    # no stray temp files are left next to the output
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.nc"]


def test_round_trip_without_optional_parts(tmp_path):
    s = Session(np.zeros((3, 1, 3)), [0, 1, 2], ["paw"])
    s2 = Session.load(s.save(tmp_path / "x.nc"))
    assert s2 == s and s2.emg is None and s2.truth is None and len(s2.trials) == 0


def test_equality_detects_change():
    a, b = make_session(seed=0), make_session(seed=1)
    assert a != b


@pytest.mark.parametrize("kw,field", [
    (dict(time=[0, 1, 1]), "keypoints/time"),
    (dict(time=[0, 2, 1]), "keypoints/time"),
    (dict(keypoints=np.zeros((3, 1, 2))), "keypoints"),
    (dict(keypoints=np.zeros((4, 1, 3))), "keypoints"),
    (dict(keypoints=np.full((3, 1, 3), np.inf)), "keypoints"),
    (dict(keypoint_names=["a", "b"]), "keypoint_names"),
    (dict(confidence=np.ones((3, 2))), "confidence"),
    (dict(trials=pd.DataFrame({"start_time": [1.0]})), "trials"),
    (dict(trials=pd.DataFrame({"start_time": [1.0], "stop_time": [0.5]})), "trials"),
])
def test_validation_names_the_field(kw, field):
    args = dict(keypoints=np.zeros((3, 1, 3)), time=[0.0, 1.0, 2.0], keypoint_names=["paw"],
                metadata={"source": "file.nwb"})
    args.update(kw)
    with pytest.raises(DataError) as ei:
        Session(**args)
    assert ei.value.field == field
    assert "file.nwb" in str(ei.value)


def test_2d_pose_rejected_clearly():
    with pytest.raises(DataError, match="2 coordinates.*3D"):
        Session(np.zeros((3, 1, 2)), [0, 1, 2], ["paw"])


def test_emg_validation_and_units():
    t = np.arange(10) / 1000.0
    e = EMG(np.ones((10, 1)), t, ["Biceps"], unit="mV")
    assert e.unit == "V" and e.data[0, 0] == pytest.approx(1e-3)
    with pytest.raises(DataError, match="unknown EMG unit"):
        EMG(np.ones((10, 1)), t, ["Biceps"], unit="furlongs")
    with pytest.raises(DataError, match="channel names"):
        EMG(np.ones((10, 2)), t, ["Biceps"])
    with pytest.raises(DataError, match="infinit"):
        EMG(np.full((10, 1), np.inf), t, ["Biceps"])


def test_window_and_trial_selection():
    s = make_session()
    w = s.select_trial(0)
    assert w.time[0] == pytest.approx(10.1) and w.time[-1] == pytest.approx(10.5)
    assert w.emg.time[0] >= 10.1 and w.emg.time[-1] < 10.51
    assert len(w.trials) == 1 and w.truth.sizes["time"] == w.n_frames
    with pytest.raises(DataError, match="trial 5 does not exist"):
        s.select_trial(5)
    sub = s.select_keypoints(["Wrist", "Shoulder"])
    np.testing.assert_array_equal(sub.keypoints[:, 0], s.keypoints[:, 2])
    with pytest.raises(DataError, match="available|one of"):
        s.keypoint_index("Nose")


def test_resample_keypoints_matches_analytic_signal():
    rate = 150.0
    t = np.arange(150) / rate
    f = 3.0
    kp = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), t], axis=-1)[:, None]
    s = Session(kp * 1e-2, t, ["paw"])
    r = s.resample(200.0)
    assert r.rate == pytest.approx(200.0)
    assert r.n_frames == 199  # 0 .. 0.99333 s at 200 Hz
    truth = np.stack([np.sin(2 * np.pi * f * r.time), np.cos(2 * np.pi * f * r.time), r.time],
                     axis=-1) * 1e-2
    err = np.abs(r.keypoints[:, 0] - truth)
    assert err.max() < 2e-6  # cubic spline of a 3 Hz sine at 150 Hz: error ~1e-4 relative


def test_resample_keeps_gaps_missing():
    t = np.arange(100) / 100.0
    kp = np.repeat(t[:, None, None], 3, axis=2)
    kp[40:45] = np.nan
    r = Session(kp, t, ["paw"]).resample(200.0)
    gap = (r.time > 0.391) & (r.time < 0.449)
    assert np.isnan(r.keypoints[gap]).all()
    assert np.isfinite(r.keypoints[~gap]).all()
    assert (r.confidence[gap] < 1).all()


def test_emg_downsampling_is_antialiased():
    fs = 2000.0
    t = np.arange(4000) / fs
    slow = np.sin(2 * np.pi * 5 * t)
    fast = np.sin(2 * np.pi * 400 * t)  # above the new Nyquist (100 Hz): must vanish
    e = EMG(np.stack([slow + fast], axis=1), t, ["x"], unit="a.u.", kind="envelope")
    r = e.resample(200.0)
    expect = np.sin(2 * np.pi * 5 * r.time)
    inner = slice(20, -20)  # filter edge effects
    assert np.abs(r.data[inner, 0] - expect[inner]).max() < 0.01


def test_load_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("hello")
    with pytest.raises(DataError, match="bad.nc: not an HDF5"):
        load_session_file(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_session_file(tmp_path / "nope.nc")
    good = make_session().save(tmp_path / "good.nc")
    trunc = tmp_path / "trunc.nc"
    trunc.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataError, match="trunc.nc"):
        load_session_file(trunc)
