"""neuroimit.body: the built-in mouse forelimb, the BodyModel API and generic MJCF bodies."""
from __future__ import annotations

import math
from types import SimpleNamespace

import mujoco
import numpy as np
import pytest

from neuroimit.body import BodyModel, load_body
from neuroimit.body import checks, forelimb
from neuroimit.errors import ConfigError, DataError

JOINTS = ("shoulder_elevation", "shoulder_extension", "shoulder_rotation", "elbow_flexion")
GILMER_RANGES = np.array([[-0.5, 2.75], [-1.46, 2.2], [-1.0, 0.5], [-1.0, 1.25]])


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return load_body("mouse_forelimb")


def _dist(body, q, a, b):
    p = body.site_positions(q, [a, b])
    return float(np.linalg.norm(p[1] - p[0]))


# ------------------------------------------------------------------ API and anatomy

def test_forelimb_api(body):
    assert body.name == "mouse_forelimb"
    assert body.joint_names == JOINTS
    assert body.qpos_names == JOINTS
    np.testing.assert_allclose(body.joint_ranges, GILMER_RANGES)
    assert (body.nq, body.nv) == (4, 4) and not body.has_free_root
    assert body.nu == len(body.muscle_names) >= 10
    for m in ("pectoralis_clavicular", "latissimus_dorsi", "deltoid_anterior", "deltoid_medial",
              "deltoid_posterior", "triceps_lateral", "triceps_long", "brachialis",
              "biceps_long", "biceps_short"):
        assert m in body.muscle_names
    assert body.site_for_keypoint("shoulder") == "kp_shoulder"
    assert body.site_for_keypoint("ELBOW") == "kp_elbow"
    assert body.site_for_keypoint("Wrist") == "kp_wrist"
    assert body.site_for_keypoint("Hand") == body.site_for_keypoint("paw") == "kp_paw"
    assert body.emg_map["Biceps"] == "biceps_long"
    assert body.emg_map["TriLong"] == "triceps_long"
    assert body.emg_map["TriLat"] == "triceps_lateral"
    assert set(body.emg_map.values()) <= set(body.muscle_names)
    assert body.muscle_for_emg("trilat") == "triceps_lateral"
    assert body.segments == ("humerus", "forearm", "paw")
    assert body.segment_scales == {"humerus": 1.0, "forearm": 1.0, "paw": 1.0}
    lo, hi = body.joint_ranges.T
    assert np.all(body.default_qpos > lo) and np.all(body.default_qpos < hi)
    m = body.mj_model
    assert m is body.mj_model  # cached
    assert m.opt.timestep == pytest.approx(0.00125)
    np.testing.assert_allclose(m.opt.gravity, [0, 0, -9.81])


def test_segment_lengths_and_masses(body):
    for q in (np.zeros(4), body.default_qpos, GILMER_RANGES[:, 1]):
        assert _dist(body, q, "kp_shoulder", "kp_elbow") == pytest.approx(0.012, abs=1e-9)
        assert _dist(body, q, "kp_elbow", "kp_wrist") == pytest.approx(0.010, abs=1e-9)
        assert _dist(body, q, "kp_wrist", "kp_paw") == pytest.approx(0.0045, abs=1e-9)
    m = body.mj_model
    assert m.body("humerus").mass[0] == pytest.approx(0.126e-3)
    assert m.body("forearm").mass[0] == pytest.approx((0.713 + 0.053) * 1e-3)
    assert m.body("paw").mass[0] == pytest.approx(0.073e-3)
    assert np.all(m.body_inertia[1:] > 0)


def test_elbow_flexion_closes_the_elbow(body):
    q = body.default_qpos.copy()
    d = []
    for e in np.linspace(-1.0, 1.25, 5):
        q[3] = e
        d.append(_dist(body, q, "kp_shoulder", "kp_wrist"))
    assert np.all(np.diff(d) < 0)


def test_muscle_parameters_follow_gilmer(body):
    m = body.mj_model
    l0, slack = checks.muscle_constants(m)
    params = forelimb.muscle_parameters()
    for i, name in enumerate(body.muscle_names):
        p = params[name]
        fmax, l0_g, lt_g, pen = forelimb.GILMER[p.gilmer_row]
        assert l0[i] == pytest.approx(p.l0, rel=1e-6)
        assert slack[i] == pytest.approx(p.slack, rel=1e-6, abs=1e-12)
        assert p.l0_gilmer == pytest.approx(1.6e-3 * l0_g * math.cos(pen))
        assert m.actuator_gainprm[i, 2] == pytest.approx(p.force, rel=1e-5)
        if "L0" not in p.note:  # L0 is Gilmer's unless the note says why not
            assert p.l0 == pytest.approx(p.l0_gilmer)
        if "slack" not in p.note:
            assert p.slack == pytest.approx(p.slack_gilmer)
    assert params["triceps_long"].force == pytest.approx(0.6125 * math.cos(0.3))
    np.testing.assert_allclose(m.actuator_dynprm[:, :2], np.tile([0.015, 0.060], (m.nu, 1)))
    assert np.all(m.actuator_ctrlrange == [0.0, 1.0])


def test_xml_round_trip(body):
    again = load_body(body.xml)
    assert again.name == "mouse_forelimb" and again.muscle_names == body.muscle_names
    assert again.keypoint_sites == body.keypoint_sites
    np.testing.assert_allclose(again.site_positions(body.default_qpos),
                               body.site_positions(body.default_qpos))


def test_pickle_round_trip(body):
    import pickle
    again = pickle.loads(pickle.dumps(body))
    assert again.xml == body.xml and again.keypoint_sites == body.keypoint_sites
    assert again.mj_model.nu == body.nu
    np.testing.assert_allclose(again.default_qpos, body.default_qpos)


# ------------------------------------------------------------------ sanity checks

def test_fibre_and_tendon_lengths_over_dense_grid(body):
    # 12 points per joint never coincide with the 9-point calibration grid's interior points
    rep = checks.check_lengths(body, n=12)
    assert rep.ok, rep.violations
    assert rep.n_postures == 12 ** 4
    rng = np.random.default_rng(0)
    lo, hi = body.joint_ranges.T
    rep2 = checks.check_lengths(body, rng.uniform(lo, hi, size=(3000, 4)))
    assert rep2.ok, rep2.violations
    assert np.all(rep.tendon_min > 0) and np.all(rep.fibre_min >= 0.5)
    assert np.all(rep.fibre_max <= 1.6)


def test_length_check_detects_a_bad_muscle(body):
    bad = body.mj_model.__copy__()
    i = body.muscle_names.index("biceps_long")
    bad.actuator_lengthrange[i] = [0.001, 0.003]  # L0 = 1.8 mm: path far too long
    fake = SimpleNamespace(mj_model=bad, muscle_names=body.muscle_names,
                           joint_names=body.joint_names, joint_ranges=body.joint_ranges,
                           default_qpos=body.default_qpos)
    rep = checks.check_lengths(fake, n=3)
    assert not rep.ok and any("biceps_long" in v for v in rep.violations)


def test_moment_arm_signs(body):
    rep = checks.check_moment_signs(body, n=8)
    assert rep.ok, rep.violations
    # the elbow actions hold over the whole range of every joint
    for mus in ("biceps_long", "biceps_short", "brachialis", "triceps_long", "triceps_lateral"):
        e = rep.entries[(mus, "elbow_flexion")]
        assert e["domain"] == "full" and e["fraction"] == 1.0 and e["worst"] > 2e-4
    # shoulder actions over the reaching workspace, denser and at random postures too
    for mus, joint in (("deltoid_posterior", "shoulder_extension"),
                       ("infraspinatus", "shoulder_rotation"),
                       ("pectoralis_clavicular", "shoulder_elevation")):
        e = rep.entries[(mus, joint)]
        assert e["domain"] == "reach" and e["fraction"] == 1.0 and e["worst"] > 5e-5
    wrong = {("biceps_long", "elbow_flexion"): (-1, "full")}
    assert not checks.check_moment_signs(body, wrong, n=4).ok


def test_stable_stepping_all_on_all_off(body):
    rep = checks.check_stability(body, seconds=0.5)
    assert rep.ok, rep.violations
    assert len(rep.runs) == 8
    for r in rep.runs:
        assert r["finite"] and r["max_speed"] < 200.0


def test_muscles_can_hold_the_reach_workspace(body):
    rest = checks.hold_feasibility(body, body.default_qpos, margins=True)
    assert rest.fraction == 1.0
    assert np.all(rest.torque_margin > 3e-5)  # N m of spare torque both ways at every joint
    rng = np.random.default_rng(2)
    box = np.array([[0.0, 0.4], [-0.6, 0.8], [-0.2, 0.2], [-0.5, 0.8]])  # core of the reaches
    frac = checks.hold_feasibility(body, rng.uniform(box[:, 0], box[:, 1], (60, 4))).fraction
    assert frac >= 0.9
    # a body whose muscles are 100x weaker cannot hold itself up: the check can fail
    weak = body.mj_model.__copy__()
    weak.actuator_gainprm[:, 2] *= 0.01
    weak.actuator_biasprm[:, 2] *= 0.01
    fake = SimpleNamespace(mj_model=weak)
    assert checks.hold_feasibility(fake, body.default_qpos).fraction == 0.0


@pytest.mark.slow
def test_mjx_matches_c_engine(body):
    rep = checks.mjx_vs_c(body, steps=200)
    assert rep.max_abs_qpos < 1e-5, rep
    assert rep.max_abs_act < 1e-5, rep
    # tendon geometry (wrapping included) agrees over the whole joint range, not only near rest
    rng = np.random.default_rng(0)
    lo, hi = body.joint_ranges.T
    err = checks.mjx_geometry_vs_c(body, rng.uniform(lo, hi, size=(256, 4)))
    assert err < 1e-6  # metres; float32 rounding is ~1e-9 m here


# ------------------------------------------------------------------ errors

def test_keypoint_map_error_lists_sites():
    with pytest.raises(DataError) as exc:
        load_body("mouse_forelimb", keypoint_map={"Nose": "kp_nose"})
    assert "kp_nose" in str(exc.value) and "kp_paw" in str(exc.value)


def test_unknown_keypoint_error_lists_keypoints(body):
    with pytest.raises(DataError) as exc:
        body.site_for_keypoint("Tail")
    assert "Tail" in str(exc.value) and "Shoulder" in str(exc.value)


def test_emg_map_error():
    with pytest.raises(DataError, match="not_a_muscle"):
        load_body("mouse_forelimb", emg_map={"Biceps": "not_a_muscle"})


def test_missing_file_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_body(tmp_path / "nope.xml")
    with pytest.raises(DataError, match="unknown body"):
        load_body("mouse_hindlimb")
    bad = tmp_path / "bad.xml"
    bad.write_text("<mujoco><worldbody><body><joint type='nonsense'/></body></worldbody></mujoco>")
    with pytest.raises(DataError, match="bad.xml"):
        load_body(bad)


def test_committed_asset_matches_generator():
    assert forelimb.ASSET.read_text() == forelimb.forelimb_xml(), (
        "regenerate with: python -m neuroimit.body.forelimb")
    b = load_body(forelimb.ASSET)  # the file loads as the built-in body
    assert b.name == "mouse_forelimb" and b.segments == ("humerus", "forearm", "paw")
