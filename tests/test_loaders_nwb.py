"""NWB reading: pose layouts, EMG layouts, trials, truth, choices, and bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from dandi_standin import assert_same_session as _same
from dandi_standin import build_nwb, make_session
from neuroimit.errors import DataError
from neuroimit.loaders import LoaderWarning, load_session, map_keypoints
from neuroimit.loaders.nwb_write import write_nwb

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A synthetic session with truth, written by the project's NWB writer."""
    d = tmp_path_factory.mktemp("synth")
    s = make_session()
    p = write_nwb(s, d / "synth.nwb")
    return s, p


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    out = {}
    specs = {
        "ndx_mm": dict(pose="ndx", pose_unit="mm", emg="electrical"),
        "position": dict(pose="position", pose_unit="cm", emg="behavioral"),
        "multicol": dict(pose="ndx", emg="multicol", trials=False),
        "plain_bts": dict(pose="ndx", emg="behavioral_plain"),
        "elec_loc": dict(pose="ndx", emg="electrical_loc"),
        "nonames": dict(pose="ndx", emg="multicol_nonames"),
        "elec_nonames": dict(pose="ndx", emg="electrical_nonames"),
        "twopose": dict(pose="ndx", two_pose=True),
        "twod": dict(pose="2d"),
        "nopose": dict(pose=None, emg="electrical"),
        "furlongs": dict(pose="ndx", pose_unit="furlongs"),
        "emptytrials": dict(pose="ndx", trials="empty"),
        "nonmono": dict(pose="ndx", n=50, timestamps=np.r_[np.arange(25) / 100,
                                                           np.arange(25) / 100]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, kw in specs.items():
            out[k] = build_nwb(d / f"{k}.nwb", **kw)
    return out


def test_synthetic_roundtrip_with_truth(synth):
    s, p = synth
    got = load_session(p)
    _same(s, got)
    assert got.emg.kind == "raw" and got.emg.muscles == ("biceps_long", "triceps_long",
                                                         "triceps_lateral")
    assert got.metadata["source"] == str(p)
    assert any("ground truth" in n for n in got.metadata["loader_notes"])


def test_envelope_emg_roundtrip(tmp_path):
    s = make_session(kind="envelope", truth=False, n=100)
    got = load_session(write_nwb(s, tmp_path / "env.nwb"))
    _same(s, got)
    assert got.emg.kind == "envelope" and got.emg.unit == "a.u."


def test_one_trial_window_matches_select_trial(synth):
    s, p = synth
    got = load_session(p, trial=1)
    want = s.select_trial(1)
    np.testing.assert_array_equal(got.keypoints, want.keypoints)
    np.testing.assert_array_equal(got.emg.data, want.emg.data)
    assert len(got.trials) == 1 and got.trials["outcome"][0] == "miss"
    assert got.truth.sizes["time"] == want.n_frames


def test_saved_session_file(synth, tmp_path):
    s, _ = synth
    p = s.save(tmp_path / "s.nc")
    assert load_session(p) == s


def test_ndx_pose_mm_and_electrical_series(files):
    s = load_session(files["ndx_mm"])
    assert s.keypoint_names == ("Shoulder", "Elbow", "Wrist")
    assert s.rate == 100.0 and s.n_frames == 200
    assert np.nanmax(np.abs(s.keypoints)) < 0.01  # mm -> m (values ~N(0,1) mm)
    np.testing.assert_allclose(s.confidence, 0.9)
    assert s.emg.channels == ("Biceps", "TriLong", "TriLat") and s.emg.kind == "raw"
    assert s.emg.rate == 1000.0 and s.emg.unit == "V"
    assert s.metadata["subject"] == "M7" and s.metadata["session_id"] == "ses-1"
    assert list(s.trials["start_time"]) == [0.2, 0.8]


def test_position_and_behavioral_timeseries(files):
    s = load_session(files["position"])
    assert s.keypoint_names == ("Elbow", "Shoulder", "Wrist")  # HDF5 name order
    assert np.nanmax(np.abs(s.keypoints)) < 0.1  # cm -> m
    assert s.emg.channels == ("Biceps", "TriLat", "TriLong")  # HDF5 name order
    assert s.emg.kind == "envelope" and s.emg.unit == "a.u."


def test_multicolumn_emg_names_from_description(files):
    s = load_session(files["multicol"])
    assert s.emg.channels == ("Biceps", "TriLong", "TriLat")
    assert s.emg.kind == "envelope"
    # mV -> V
    assert s.emg.data.max() < 0.01
    assert len(s.trials) == 0


def test_emg_found_by_muscle_names_and_other_series_only_on_request(files):
    s = load_session(files["plain_bts"])
    assert s.emg.channels == ("Biceps", "Deltoid", "Triceps")
    assert s.emg.unit == "a.u."
    lick = load_session(files["plain_bts"], emg="lick_rate", emg_unit="a.u.")
    assert lick.emg.channels == ("lick_rate",)
    assert load_session(files["ndx_mm"], emg=False).emg is None
    loc = load_session(files["elec_loc"])  # muscles named only by electrode locations
    assert loc.emg.channels == ("Biceps", "TriLong", "TriLat") and loc.emg.kind == "raw"


def test_emg_names_from_user(files):
    s = load_session(files["nonames"], emg="emg", emg_channels=["A", "B", "C"], emg_kind="raw")
    assert s.emg.channels == ("A", "B", "C") and s.emg.kind == "raw"


def test_choose_pose_container(files):
    s = load_session(files["twopose"])
    assert any("PoseEstimationB" in n and "pose=" in n for n in s.metadata["loader_notes"])
    b = load_session(files["twopose"], pose="PoseEstimationB")
    assert np.nanmean(b.keypoints) > np.nanmean(s.keypoints) + 0.005
    one = load_session(files["twopose"], pose="behavior/PoseEstimationB/Wrist")
    assert one.keypoint_names == ("Wrist",)
    sub = load_session(files["twopose"], keypoints=["wrist", "Shoulder"])
    assert sub.keypoint_names == ("Wrist", "Shoulder")
    with pytest.raises(DataError, match="no pose named 'Nope'"):
        load_session(files["twopose"], pose="Nope")


def test_intervals_and_no_trials(files):
    s = load_session(files["ndx_mm"], trials=None, intervals=["trials"])
    assert len(s.trials) == 0
    assert s.metadata["intervals"]["trials"]["start_time"] == [0.2, 0.8]
    with pytest.raises(DataError, match="no TimeIntervals table named 'epochs'"):
        load_session(files["ndx_mm"], intervals=["epochs"])


def test_real_legacy_rat_file(shared_data):
    p = shared_data / "rat_mocap_nwb" / "test_rodent_mocap_1000_frames.nwb"
    with pytest.raises(DataError) as ei:
        load_session(p)
    msg = str(ei.value)
    assert "pixels" in msg and "keypoint_unit" in msg and str(p) in msg and "\n" not in msg
    with pytest.warns(LoaderWarning, match="legacy ndx-pose 0.1"):
        s = load_session(p, keypoint_unit="mm")
    assert s.n_frames == 1000 and len(s.keypoint_names) == 23
    assert s.keypoint_names[:3] == ("Snout", "EarL", "EarR")
    assert s.rate == 30.0
    # millimetres -> metres: a rat spans tens of centimetres, not hundreds of metres
    span = np.nanmax(s.keypoints, axis=(0, 1)) - np.nanmin(s.keypoints, axis=(0, 1))
    assert 0.05 < span.max() < 1.0
    assert s.emg is None and len(s.trials) == 0
    assert 0 < s.confidence.mean() <= 1
    assert any("pixels" in n for n in s.metadata["loader_notes"])


def test_keypoint_mapping_helper():
    m = map_keypoints(["shoulder", "ELBOW"], keypoint_map={"Shoulder": "kp_s", "Elbow": "kp_e"})
    assert m == {"shoulder": "kp_s", "ELBOW": "kp_e"}
    with pytest.raises(DataError, match=r"\['Tail'\] cannot be mapped"):
        map_keypoints(["Shoulder", "Tail"], keypoint_map={"Shoulder": "kp_s"}, source="x.nwb")


def test_keypoints_the_body_cannot_map():
    body_mod = pytest.importorskip("neuroimit.body")
    if not hasattr(body_mod, "load_body"):
        pytest.skip("neuroimit.body.load_body not available yet")
    body = body_mod.load_body("mouse_forelimb")
    assert map_keypoints(["Shoulder", "hand"], body)["hand"] == "kp_paw"
    with pytest.raises(DataError, match="SpineM"):
        map_keypoints(["Shoulder", "SpineM"], body, source="rat.nwb")


def test_load_with_body_checks_keypoints(files):
    pytest.importorskip("neuroimit.body")
    s = load_session(files["ndx_mm"], body="mouse_forelimb")
    assert s.metadata["keypoint_sites"] == {"Shoulder": "kp_shoulder", "Elbow": "kp_elbow",
                                            "Wrist": "kp_wrist"}

def test_bad_keypoints_the_body_cannot_map(shared_data):
    pytest.importorskip("neuroimit.body")
    rat = shared_data / "rat_mocap_nwb" / "test_rodent_mocap_1000_frames.nwb"
    msg = _one_line_error(rat, "cannot be mapped to body model 'mouse_forelimb'",
                          keypoint_unit="mm", body="mouse_forelimb")
    assert "SpineM" in msg and "keypoint_map" in msg


# ---------------------------------------------------------------------------- bad input
def _one_line_error(path, match, **kw):
    with pytest.raises(DataError) as ei:
        load_session(path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert match in msg, msg
    return msg


def test_bad_not_hdf5(tmp_path):
    p = tmp_path / "notes.nwb"
    p.write_text("this is not HDF5\n" * 10)
    _one_line_error(p, "not an HDF5 file")


def test_bad_truncated(files, tmp_path):
    p = tmp_path / "cut.nwb"
    data = files["ndx_mm"].read_bytes()
    p.write_bytes(data[: len(data) // 3])
    _one_line_error(p, "truncated")


def test_bad_no_pose(files):
    _one_line_error(files["nopose"], "no pose found")


def test_bad_2d_pose(files):
    _one_line_error(files["twod"], "2D pose")


def test_bad_non_monotonic_timestamps(files):
    _one_line_error(files["nonmono"], "not strictly increasing")


def test_bad_unknown_units(files):
    _one_line_error(files["furlongs"], "unknown pose unit 'furlongs'")
    _one_line_error(files["ndx_mm"], "unknown length unit 'parsecs'", keypoint_unit="parsecs")


def test_bad_emg_without_channel_names(files):
    _one_line_error(files["nonames"], "no channel names", emg="emg")
    _one_line_error(files["elec_nonames"], "no channel or muscle names", emg="EMGSeries")


def test_bad_empty_trials(files):
    _one_line_error(files["emptytrials"], "trials table is empty")
    assert load_session(files["emptytrials"], trials=None).n_frames == 200


def test_bad_trial_index(files):
    _one_line_error(files["ndx_mm"], "trial 5 does not exist", trial=5)


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.nwb", "does not exist")


def test_window_matches_session_window(synth):
    s, p = synth
    got = load_session(p, window=(0.5, 1.25))
    want = s.window(0.5, 1.25)
    np.testing.assert_array_equal(got.keypoints, want.keypoints)
    np.testing.assert_array_equal(got.time, want.time)
    np.testing.assert_array_equal(got.emg.time, want.emg.time)
    assert got.truth.sizes == want.truth.sizes
    assert list(got.trials["start_time"]) == list(want.trials["start_time"])


def test_user_unit_overrides_file_unit_with_a_warning(files):
    with pytest.warns(LoaderWarning, match="says unit 'mm'; using keypoint_unit='cm'"):
        s = load_session(files["ndx_mm"], keypoint_unit="cm")
    ref = load_session(files["ndx_mm"])
    np.testing.assert_allclose(s.keypoints, ref.keypoints * 10)
