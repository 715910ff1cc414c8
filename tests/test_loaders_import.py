"""Importers (stac .h5, CSV keypoints/EMG), the real datasets, convert, export, and the CLI."""
from __future__ import annotations

import hashlib
import types

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import shared_path
from dandi_standin import make_session
from neuroimit.cli import main
from neuroimit.errors import DataError
from neuroimit.loaders import LoaderWarning, load_session
from neuroimit.loaders.convert import convert, inspect_nwb
from neuroimit.loaders.export import add_registration, add_rollout, add_table
from neuroimit.loaders.nwb_write import write_nwb

REACH_KP = ["Paw", "Wrist", "Shoulder", "Elbow"]


# ---------------------------------------------------------------------------- real data
def test_real_stac_clips_all_load(shared_data):
    files = sorted((shared_data / "mouse_reach_ik_200hz").glob("*.h5"))
    assert len(files) == 46
    for p in files:
        s = load_session(p, rate=200.0)
        assert s.keypoints.shape == (100, 3, 3)
        assert s.keypoint_names == ("Shoulder", "Elbow", "Wrist")
        assert s.rate == 200.0 and s.metadata["subject"] == "A36-1"
        with h5py.File(p) as f:
            raw = f["kp_data"][()].astype(np.float64).reshape(100, 3, 3)
        np.testing.assert_array_equal(s.keypoints, raw)  # metres already
        assert np.nanmax(np.abs(s.keypoints)) < 0.05
        assert len(s.trials) == 1
    with pytest.warns(LoaderWarning, match="assumed 200 Hz"):
        assert load_session(files[0]).rate == 200.0


@pytest.mark.parametrize("reach", [1, 2])
def test_real_csv_reach_with_emg(reach):
    kin = shared_path("mouse_reach_emg_150hz", f"adjusted_kinematics_{reach}.csv")
    emg = shared_path("mouse_reach_emg_150hz", f"emg_{reach}.csv")
    s = load_session(kin, emg=emg, keypoint_names=REACH_KP, keypoint_unit="m")
    assert s.keypoints.shape == (50, 4, 3) and s.rate == 150.0
    assert s.keypoint_names == tuple(REACH_KP)
    # the dataset's own facts (its README): the humerus is fixed at 12.2 mm by the authors'
    # adjustment; wrist-elbow about 9.9 mm and paw-wrist about 4.6 mm (markers, so they vary)
    k = {n: s.keypoints[:, i] for i, n in enumerate(REACH_KP)}
    hum = np.linalg.norm(k["Shoulder"] - k["Elbow"], axis=1) * 1e3
    assert abs(hum.mean() - 12.2) < 0.05 and hum.std() < 1e-6
    for a, b, mm in (("Wrist", "Elbow", 9.9), ("Paw", "Wrist", 4.6)):
        d = np.linalg.norm(k[a] - k[b], axis=1) * 1e3
        assert abs(np.median(d) - mm) < 0.6, (a, b, np.median(d))
    e = s.emg
    assert e.channels == ("Biceps", "TriLong", "TriLat") and e.data.shape[1] == 3
    assert e.kind == "envelope" and e.unit == "a.u."
    assert e.data.shape[0] > 16000
    # the envelope spans the reach: from the first frame to one pose step past the last
    assert e.time[0] == s.time[0]
    assert abs(e.time[-1] + 1 / e.rate - (s.time[0] + s.duration)) < 1e-6
    assert 49000 < e.rate < 51000
    assert any("inferred" in n for n in s.metadata["loader_notes"])


# ---------------------------------------------------------------------------- CSV variants
def _write(path, text):
    path.write_text(text)
    return path


def test_csv_headed_with_time_and_units(tmp_path):
    rows = ["time,paw_x,paw_y,paw_z,elbow_x,elbow_y,elbow_z"]
    for i in range(10):
        rows.append(f"{i / 100},{i},{2 * i},{3 * i},1,2,3")
    p = _write(tmp_path / "kp.csv", "\n".join(rows))
    s = load_session(p, keypoint_unit="mm")
    assert s.keypoint_names == ("paw", "elbow") and s.rate == 100.0
    np.testing.assert_allclose(s.keypoints[3, 0], [0.003, 0.006, 0.009])


def test_csv_headerless_without_time_needs_rate(tmp_path):
    p = _write(tmp_path / "kp.csv", "\n".join(",".join(["1"] * 6) for _ in range(5)))
    with pytest.raises(DataError, match="no time column and no rate"):
        load_session(p, keypoint_names=["a", "b"], keypoint_unit="cm")
    s = load_session(p, keypoint_names=["a", "b"], keypoint_unit="cm", rate=50)
    assert s.rate == 50.0 and np.allclose(s.keypoints, 0.01)


def test_csv_bad_inputs(tmp_path):
    p = _write(tmp_path / "kp.csv", "\n".join(f"{i / 10},1,2,3" for i in range(5)))
    with pytest.raises(DataError, match="carry no unit"):
        load_session(p, keypoint_names=["a"])
    with pytest.raises(DataError, match="cannot name"):
        load_session(p, keypoint_unit="m")
    q = _write(tmp_path / "kp2d.csv", "\n".join(f"{i / 10},1,2,3,4" for i in range(5)))
    with pytest.raises(DataError, match="2D pose"):
        load_session(q, keypoint_names=["a", "b"], keypoint_unit="m")
    r = _write(tmp_path / "emg.csv", "\n".join("0.1,0.2,0.3" for _ in range(20)))
    with pytest.raises(DataError, match="no channel names") as ei:
        load_session(p, keypoint_names=["a"], keypoint_unit="m", emg=r)
    assert str(r) in str(ei.value)
    s = load_session(p, keypoint_names=["a"], keypoint_unit="m", emg=r,
                     emg_channels=["x", "y", "z"], emg_rate=1000.0, emg_kind="raw",
                     emg_unit="mV")
    assert s.emg.rate == 1000.0 and s.emg.kind == "raw" and s.emg.unit == "V"
    np.testing.assert_allclose(s.emg.data[0], [1e-4, 2e-4, 3e-4])
    bad = _write(tmp_path / "ragged.csv", "0,1,2,3\n0.1,1,2\n")
    with pytest.raises(DataError, match="row 2 has 3 columns"):
        load_session(bad, keypoint_names=["a"], keypoint_unit="m")


# ---------------------------------------------------------------------------- convert
def test_convert_real_clip_and_reach_pass_nwbinspector(tmp_path):
    clip = shared_path("mouse_reach_ik_200hz",
                       "A36-1_2023-07-18_16-54-01_lightOff_trial01_ik.h5")
    out = convert(clip, tmp_path / "clip.nwb", rate=200.0)
    back = load_session(out)
    src = load_session(clip, rate=200.0)
    np.testing.assert_allclose(back.keypoints, src.keypoints, rtol=0, atol=1e-12)
    assert back.rate == 200.0 and back.keypoint_names == src.keypoint_names
    kin = shared_path("mouse_reach_emg_150hz", "adjusted_kinematics_1.csv")
    emg = shared_path("mouse_reach_emg_150hz", "emg_1.csv")
    rc = main(["convert", str(kin), "-o", str(tmp_path / "reach.nwb"), "--keypoint-names",
               ",".join(REACH_KP), "--keypoint-unit", "m", "--emg", str(emg)])
    assert rc == 0
    r = load_session(tmp_path / "reach.nwb")
    assert r.emg.kind == "envelope" and r.emg.channels == ("Biceps", "TriLong", "TriLat")
    assert inspect_nwb(tmp_path / "reach.nwb") == []
    assert main(["info", str(tmp_path / "reach.nwb")]) == 0


def test_convert_legacy_rat_file(tmp_path):
    rat = shared_path("rat_mocap_nwb", "test_rodent_mocap_1000_frames.nwb")
    with pytest.warns(LoaderWarning):
        out = convert(rat, tmp_path / "rat.nwb", keypoint_unit="mm")
    s = load_session(out)  # now a current ndx-pose file in metres: no unit needed
    assert s.n_frames == 1000 and len(s.keypoint_names) == 23
    assert s.keypoint_names[0] == "Snout"
    assert inspect_nwb(out) == []
    with pytest.raises(DataError, match="already exists"):
        convert(rat, out, keypoint_unit="mm")


# ---------------------------------------------------------------------------- export
def _digest(path, *names):
    with h5py.File(path) as f:
        return {n: hashlib.sha256(np.ascontiguousarray(f[n][()]).tobytes()).hexdigest()
                for n in names}


@pytest.fixture
def session_nwb(tmp_path):
    s = make_session(n=200, truth=False)
    return s, write_nwb(s, tmp_path / "s.nwb")


def test_export_registration_rollout_table(session_nwb, tmp_path):
    s, p = session_nwb
    keep = ("acquisition/EMG/data", "processing/behavior/PoseEstimation/Paw/data")
    before = _digest(p, *keep)
    src_bytes = p.read_bytes()
    T = s.n_frames
    reg = {"time": s.time, "qpos": np.zeros((T, 4)), "qvel": np.ones((T, 4)),
           "qpos_names": ["sh_elv", "sh_ext", "sh_rot", "elbow"],
           "keypoint_names": list(s.keypoint_names), "residuals": np.full((T, 4), 5e-4),
           "model_keypoints": s.keypoints, "offsets": np.full((4, 3), 1e-3),
           "segment_scales": {"humerus": 1.05, "forearm": 0.97}, "body_name": "mouse_forelimb",
           "info": {"iterations": 12}}
    out = add_registration(p, reg, tmp_path / "reg.nwb")
    assert p.read_bytes() == src_bytes  # the input file is untouched
    roll = types.SimpleNamespace(
        time=[s.time[:100], s.time[100:]], qpos=[np.zeros((100, 4))] * 2,
        activation=[np.full((100, 10), 0.1)] * 2, force=[np.full((100, 10), 0.2)] * 2,
        latent=[np.zeros((100, 8))] * 2, muscle_names=[f"m{i}" for i in range(10)],
        errors={"kp_error_m": [1e-3, 2e-3]})
    add_rollout(out, roll)                       # in place, safely
    add_table(out, pd.DataFrame({"muscle": ["biceps", "triceps"], "r": [0.8, 0.5]}),
              "alignment", units={"r": "Pearson r"})
    assert _digest(out, *keep) == before
    with h5py.File(out) as f:
        reg_g = f["processing/stac_registration"]
        assert reg_g["joint_angles/data"].attrs["unit"] == "radians"
        assert reg_g["joint_velocities/data"].attrs["unit"] == "radians/s"
        assert reg_g["marker_residuals/data"].attrs["unit"] == "meters"
        np.testing.assert_allclose(reg_g["marker_residuals/data"][()], 5e-4)
        assert list(reg_g["segment_scales/scale"][()]) == [1.05, 0.97]
        ro = f["processing/imitation_rollout"]
        assert ro["muscle_force_clip1/data"].attrs["unit"] == "newtons"
        assert ro["muscle_activation_clip0/data"].shape == (100, 10)
        np.testing.assert_allclose(ro["errors/kp_error_m"][()], [1e-3, 2e-3])
        assert "Pearson r" in f["processing/neuroimit_analysis/alignment/r"].attrs[
            "description"]
    assert inspect_nwb(out) == []
    # the session still loads exactly, results beside it
    back = load_session(out)
    np.testing.assert_array_equal(back.keypoints, s.keypoints)
    with pytest.raises(DataError, match="already has a processing module"):
        add_registration(out, reg)
    assert _digest(out, *keep) == before
    with pytest.raises(DataError, match="registration has no 'qpos'"):
        add_registration(out, {"time": s.time}, tmp_path / "x.nwb")
    assert not (tmp_path / "x.nwb").exists()
    assert not list(tmp_path.glob(".*.tmp.nwb"))


def test_export_refuses_files_pynwb_cannot_open(tmp_path):
    rat = shared_path("rat_mocap_nwb", "test_rodent_mocap_1000_frames.nwb")
    with pytest.raises(DataError, match="pynwb cannot open"):
        add_table(rat, {"a": [1]}, "t", tmp_path / "rat+t.nwb")
    assert not list(tmp_path.iterdir())


def test_export_real_stac_mjx_registration(tmp_path):
    """A real stac-mjx registration (through the STAC engineer's Registration) written into
    the NWB converted from the same clip."""
    stac = pytest.importorskip("neuroimit.stac")
    Registration = getattr(stac, "Registration", None)
    if Registration is None or not hasattr(Registration, "from_stac_mjx"):
        pytest.skip("neuroimit.stac.Registration.from_stac_mjx not available")
    clip = shared_path("mouse_reach_ik_200hz",
                       "A36-1_2023-07-18_16-54-01_lightOff_trial01_ik.h5")
    reg = Registration.from_stac_mjx(clip)
    nwb = convert(clip, tmp_path / "clip.nwb", rate=200.0, check=False)
    out = add_registration(nwb, reg, tmp_path / "clip+stac.nwb")
    with h5py.File(out) as f, h5py.File(clip) as src:
        g = f["processing/stac_registration"]
        np.testing.assert_allclose(g["joint_angles/data"][()], src["qpos"][()], rtol=1e-6)
        assert "sh_elv" in g["joint_angles"].attrs["description"]
        res = g["marker_residuals/data"][()]
        assert res.shape == (100, 3) and 0 < np.nanmean(res) < 0.005


def test_real_stac_folder_one_trial_per_clip(shared_data):
    folder = shared_data / "mouse_reach_ik_200hz"
    s = load_session(folder, rate=200.0)
    assert len(s.trials) == 46 and s.rate == 200.0
    assert s.n_frames == 46 * 100 + 45 * 20
    first = load_session(sorted(folder.glob("*.h5"))[0], rate=200.0)
    np.testing.assert_array_equal(s.select_trial(0).keypoints, first.keypoints)
    last = load_session(sorted(folder.glob("*.h5"))[-1], rate=200.0)
    np.testing.assert_array_equal(s.select_trial(45).keypoints, last.keypoints)
    assert s.trials["clip"].iloc[0].endswith("trial01_ik")
    gap = s.window(s.trials["stop_time"][0] + 0.001, s.trials["start_time"][1] - 0.001)
    assert gap.n_frames == 20 and np.isnan(gap.keypoints).all()
    assert s.metadata["subject"] == "A36-1"


def test_csv_anipose_style_3d(tmp_path):
    rows = ["paw_x,paw_y,paw_z,paw_error,paw_ncams,paw_score,wrist_x,wrist_y,wrist_z,"
            "wrist_error,wrist_ncams,wrist_score,M_00,fnum"]
    for i in range(8):
        rows.append(f"{i},{i},{i},0.5,3,0.9,1,1,1,0.4,2,{0.1 * i},0,{i}")
    p = _write(tmp_path / "pose_3d.csv", "\n".join(rows))
    s = load_session(p, keypoint_unit="mm", rate=100.0)
    assert s.keypoint_names == ("paw", "wrist") and s.rate == 100.0
    np.testing.assert_allclose(s.keypoints[5, 0], [0.005] * 3)
    np.testing.assert_allclose(s.confidence[:, 0], 0.9)
    np.testing.assert_allclose(s.confidence[:, 1], 0.1 * np.arange(8))
    assert any("ignored" in n and "paw_error" in n for n in s.metadata["loader_notes"])
