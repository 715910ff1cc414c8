"""Per-segment scaling, the wrist option and generic MJCF bodies (free root) through load_body."""
from __future__ import annotations

import numpy as np
import pytest

from neuroimit.body import load_body
from neuroimit.body import checks
from neuroimit.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def body():
    return load_body("mouse_forelimb")


def _dist(body, q, a, b):
    p = body.site_positions(q, [a, b])
    return float(np.linalg.norm(p[1] - p[0]))


def test_scaled_humerus_changes_shoulder_elbow_distance(body):
    big = body.scaled(humerus=1.1)
    assert big is not body and big.segment_scales == {"humerus": 1.1, "forearm": 1.0, "paw": 1.0}
    assert body.segment_scales["humerus"] == 1.0  # original untouched
    rng = np.random.default_rng(1)
    lo, hi = body.joint_ranges.T
    for q in rng.uniform(lo, hi, size=(5, 4)):
        assert _dist(big, q, "kp_shoulder", "kp_elbow") == pytest.approx(
            1.1 * _dist(body, q, "kp_shoulder", "kp_elbow"), rel=1e-9)
        assert _dist(big, q, "kp_elbow", "kp_wrist") == pytest.approx(
            _dist(body, q, "kp_elbow", "kp_wrist"), rel=1e-9)
    assert big.mj_model.body("humerus").mass[0] == pytest.approx(1.1 * 0.126e-3)


def test_scales_compose_and_round_trip(body):
    b = body.scaled(forearm=0.9).scaled(forearm=1.1, paw=1.2)
    assert b.segment_scales["forearm"] == pytest.approx(0.99)
    assert b.segment_scales["paw"] == pytest.approx(1.2)
    again = load_body(b.xml)
    assert again.segment_scales == pytest.approx(b.segment_scales)
    q = body.default_qpos
    assert _dist(again, q, "kp_wrist", "kp_paw") == pytest.approx(1.2 * 0.0045, rel=1e-9)


@pytest.mark.parametrize("scales", [{"humerus": 1.3, "forearm": 0.75, "paw": 1.3},
                                    {"humerus": 0.5, "forearm": 2.5},
                                    {"humerus": 2.5, "forearm": 0.5, "paw": 0.5}])
def test_scaled_model_keeps_muscle_sanity(body, scales):
    b = body.scaled(**scales)
    rep = checks.check_lengths(b, n=8)
    assert rep.ok, rep.violations
    assert checks.check_moment_signs(b, n=5).ok
    # L0 scales with the muscle-tendon length (OpenSim style) for an elbow-only muscle
    l0a, _ = checks.muscle_constants(body.mj_model)
    l0b, _ = checks.muscle_constants(b.mj_model)
    i = body.muscle_names.index("triceps_lateral")
    assert l0b[i] != pytest.approx(l0a[i], rel=1e-3)


def test_site_positions_are_linear_in_scale(body):
    # STAC differentiates positions with respect to scales: every body and site position in
    # its parent frame must be an affine function of each segment factor
    for seg in body.segments:
        m = [body.scaled(**{seg: k}).mj_model for k in (0.8, 1.0, 1.6)]
        for attr in ("site_pos", "body_pos", "geom_pos"):
            a, b, c = (getattr(x, attr) for x in m)
            np.testing.assert_allclose(c - b, 3.0 * (b - a), atol=1e-12, err_msg=f"{seg} {attr}")


def test_bad_scales(body):
    with pytest.raises(ConfigError, match="tibia"):
        body.scaled(tibia=1.1)
    with pytest.raises(ConfigError, match="humerus"):
        body.scaled(humerus=-1.0)
    with pytest.raises(ConfigError, match="biceps_long"):  # too short for the muscles to span
        body.scaled(humerus=0.4)


def test_wrist_option():
    w = load_body("mouse_forelimb", wrist=True)
    assert w.joint_names[-1] == "wrist_flexion" and w.nq == 5
    assert {"flexor_carpi_radialis", "extensor_carpi_radialis"} <= set(w.muscle_names)
    assert checks.check_lengths(w, n=5).ok
    rep = checks.check_moment_signs(w, n=4)
    assert rep.ok, rep.violations
    assert rep.entries[("flexor_carpi_radialis", "wrist_flexion")]["fraction"] == 1.0
    again = load_body(w.xml)
    assert again.nq == 5 and again.joint_names == w.joint_names


GENERIC = """<mujoco model="critter">
  <option timestep="0.002"/>
  <worldbody>
    <body name="torso" pos="0 0 0.1">
      <freejoint name="root"/>
      <geom type="capsule" size="0.01" fromto="-0.03 0 0 0.03 0 0" mass="0.02"/>
      <site name="spine_m" pos="0 0 0.01"/>
      <site name="hip_o" pos="-0.03 0 0"/>
      <body name="neck" pos="0.03 0 0">
        <joint name="neck" type="ball"/>
        <geom size="0.008" pos="0.01 0 0" mass="0.005"/>
      </body>
      <body name="thigh" pos="-0.03 0 0">
        <joint name="hip" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" size="0.004" fromto="0 0 0 0 0 -0.04" mass="0.004"/>
        <site name="knee_i" pos="0.004 0 -0.035"/>
        <body name="shin" pos="0 0 -0.04">
          <joint name="knee" axis="0 1 0" range="-2 0"/>
          <geom type="capsule" size="0.003" fromto="0 0 0 0 0 -0.04" mass="0.002"/>
          <site name="foot" pos="0 0 -0.04"/>
        </body>
      </body>
    </body>
  </worldbody>
  <tendon><spatial name="t"><site site="hip_o"/><site site="knee_i"/></spatial></tendon>
  <actuator><muscle name="quad" tendon="t" lengthrange="0.02 0.06"/></actuator>
</mujoco>"""


def test_generic_free_root_body(tmp_path):
    path = tmp_path / "critter.xml"
    path.write_text(GENERIC)
    b = load_body(path, keypoint_map={"SpineM": "spine_m", "Foot": "foot", "Knee": "shin"},
                  emg_map={"Quad": "quad"}, segments=("thigh", "shin"))
    assert b.name == "critter" and b.has_free_root
    assert b.qpos_names[:7] == ("root_x", "root_y", "root_z", "root_qw", "root_qx", "root_qy",
                                "root_qz")
    assert b.qpos_names[7:] == ("neck_qw", "neck_qx", "neck_qy", "neck_qz", "hip", "knee")
    assert b.joint_names == ("neck", "hip", "knee")
    assert (b.nq, b.nv, b.nu) == (13, 11, 1) and b.muscle_names == ("quad",)
    assert b.site_for_keypoint("spinem") == "spine_m"
    knee = b.site_for_keypoint("Knee")  # a body name: a site was added at its origin
    assert knee in b.site_names
    np.testing.assert_allclose(b.site_positions(b.default_qpos, [knee])[0], [-0.03, 0, 0.06],
                               atol=1e-12)
    assert b.muscle_for_emg("quad") == "quad"
    # round trip keeps maps and segments
    again = load_body(b.xml)
    assert again.keypoint_sites == b.keypoint_sites and again.segments == b.segments
    assert again.emg_map == {"Quad": "quad"}
    # scaling the thigh moves the shin (child) and the thigh's sites/geoms along it
    s = b.scaled(thigh=1.5)
    assert s.segment_scales == {"thigh": 1.5, "shin": 1.0}
    q = b.default_qpos
    foot0 = b.site_positions(q, ["foot"])[0]
    foot1 = s.site_positions(q, ["foot"])[0]
    assert foot1[2] == pytest.approx(foot0[2] - 0.02, abs=1e-12)
    lr0 = b.mj_model.actuator_lengthrange[0]
    lr1 = s.mj_model.actuator_lengthrange[0]
    assert lr1[0] > lr0[0]  # the thigh muscle got longer with the thigh
    with pytest.raises(ConfigError, match="torso"):
        b.scaled(torso=1.2)
    # grid checks need limited hinges; explicit postures work for any body
    with pytest.raises(ConfigError, match="limited hinge"):
        checks.check_lengths(b)
    rep = checks.check_lengths(b, np.tile(b.default_qpos, (3, 1)))
    assert rep.muscles == ("quad",) and rep.n_postures == 3


def test_generic_body_keypoint_errors(tmp_path):
    path = tmp_path / "critter.xml"
    path.write_text(GENERIC)
    with pytest.raises(DataError) as exc:
        load_body(path, keypoint_map={"Nose": "snout"})
    msg = str(exc.value)
    assert "snout" in msg and "spine_m" in msg and "critter.xml" in msg
    with pytest.raises(DataError, match="segments"):
        load_body(path, segments=("wing",))
    b = load_body(GENERIC)  # MJCF text works too; no keypoints mapped
    assert b.keypoint_sites == {} and b.has_free_root
