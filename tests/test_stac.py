"""STAC registration: ground-truth recovery, limits, missing data, I/O, errors, CLI.

All solver tests share one body, one keypoint set and one session length so the compiled
programs are reused (compilation dominates on a CPU).
"""
from __future__ import annotations

import h5py
import mujoco
import numpy as np
import pytest

from neuroimit.errors import ConfigError, DataError
from neuroimit.session import Session
from neuroimit.stac import Registration, StacConfig, register
from neuroimit.stac.kinematics import mujoco_site_positions

from conftest import shared_path

body_mod = pytest.importorskip("neuroimit.body")
synth = pytest.importorskip("neuroimit.synth")

KP = ("Shoulder", "Elbow", "Wrist", "Paw")
T = 400  # frames of every solver test (one compiled shape)


@pytest.fixture(scope="module")
def body():
    return body_mod.load_body("mouse_forelimb")


@pytest.fixture(scope="module")
def synth_session():
    return synth.make_session(synth.SynthConfig(duration=T / 200.0, offset_sd_m=5e-4,
                                                scale_sd=0.05, missing_fraction=0.0, seed=1))


@pytest.fixture(scope="module")
def synth_reg(synth_session, body):
    return register(synth_session, body)


def _rmse_deg(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) * 180 / np.pi)


def test_synthetic_ground_truth_recovery(synth_session, synth_reg):
    truth = synth_session.truth
    reg = synth_reg
    assert reg.qpos.shape == (T, 4) and reg.qvel.shape == (T, 4)
    assert _rmse_deg(reg.qpos, truth["qpos"].values) <= 1.0
    # the humerus scale is identifiable (the forearm/paw scales trade off against the wrist
    # and paw offsets along the forearm, see docs/stac.md)
    true_s = dict(zip(truth["segment"].values, truth["segment_scale"].values))
    assert abs(reg.segment_scales["humerus"] / true_s["humerus"] - 1) < 0.02
    # shoulder and elbow offsets within 0.2 mm per coordinate
    off_err = np.abs(reg.offsets - truth["offsets"].values)
    assert off_err[:2].max() < 2e-4
    # residual at the noise level (0.2 mm per coordinate -> ~0.3 mm per point, minus fit dof)
    assert 0.15e-3 < reg.mean_error_m < 0.35e-3
    # velocities: smoothed finite differences agree with the truth
    assert np.corrcoef(reg.qvel[:, 3], truth["qvel"].values[:, 3])[0, 1] > 0.7
    assert reg.info["rounds"] >= 1 and reg.info["history"]


def test_missing_keypoints_are_masked(body):
    s = synth.make_session(synth.SynthConfig(duration=T / 200.0, missing_fraction=0.1,
                                             seed=2))
    miss = np.isnan(s.keypoints).any(axis=2)
    assert 0.05 < miss.mean() < 0.2
    # plus a block where every keypoint is gone: smoothing carries the pose through
    kp = s.keypoints.copy()
    kp[200:206] = np.nan
    s2 = Session(kp, s.time, s.keypoint_names, truth=s.truth)
    reg = register(s2, body)
    assert np.isfinite(reg.qpos).all()
    assert np.isnan(reg.residuals[np.isnan(kp).any(axis=2)]).all()
    assert np.isfinite(reg.residuals[~np.isnan(kp).any(axis=2)]).all()
    assert _rmse_deg(reg.qpos, s.truth["qpos"].values) <= 2.0
    assert _rmse_deg(reg.qpos[200:206], s.truth["qpos"].values[200:206]) <= 3.0


def test_joint_limits_respected(body):
    """Keypoints made with the elbow beyond its range: the solution stays inside it."""
    m = body.mj_model
    lo, hi = body.joint_ranges[:, 0], body.joint_ranges[:, 1]
    t = np.arange(T) / 200.0
    q = np.tile(body.default_qpos, (T, 1))
    q[:, 3] = 0.9 + 0.6 * np.sin(2 * np.pi * 2 * t)          # up to 1.5 > 1.25
    q[:, 0] = 0.5 + 0.3 * np.sin(2 * np.pi * 1.3 * t)
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, body.site_for_keypoint(k))
           for k in KP]
    kp, _, _ = mujoco_site_positions(m, q, ids)
    kp += np.random.default_rng(0).normal(size=kp.shape) * 1e-4
    reg = register(Session(kp, t, KP), body, StacConfig(calibrate_scales=False,
                                                        calibrate_offsets=False))
    assert np.all(reg.qpos >= lo - 1e-12) and np.all(reg.qpos <= hi + 1e-12)
    beyond = q[:, 3] > hi[3] + 0.05
    assert beyond.any()
    assert np.allclose(reg.qpos[beyond, 3], hi[3], atol=2e-3)
    assert reg.info["frames_at_limit_per_joint"]["elbow_flexion"] >= 0.5 * beyond.mean()
    # where the truth is inside the range, the fit is accurate
    inside = (q[:, 3] < hi[3] - 0.1)
    assert _rmse_deg(reg.qpos[inside], q[inside]) < 1.0


def test_limit_barrier_keeps_poses_off_limits(body):
    """Data in a shifted frame (rigid base fitted, its rotation held near the model's by a
    firm prior) with the shoulder rotation resting on its upper limit a quarter of the
    time: the base rotation and the shoulder hinges are nearly interchangeable, so the
    m-phase barrier moves the poses inside the range at no cost in keypoint error; without
    it the fit leaves them at the limit."""
    m = body.mj_model
    hi = body.joint_ranges[2, 1]
    t = np.arange(T) / 200.0
    q = np.tile(body.default_qpos, (T, 1))
    q[:, 0] = 0.6 + 0.05 * np.sin(2 * np.pi * 0.7 * t)
    q[:, 1] = 0.3 + 0.05 * np.sin(2 * np.pi * 0.9 * t)
    q[:, 2] = np.minimum(hi, hi - 0.08 + 0.12 * np.sin(2 * np.pi * 1.5 * t))
    q[:, 3] = 0.5 + 0.4 * np.sin(2 * np.pi * 1.1 * t)
    assert (q[:, 2] == hi).mean() > 0.2
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, body.site_for_keypoint(k))
           for k in KP]
    kp, _, _ = mujoco_site_positions(m, q, ids)
    kp = kp + np.array([0.003, -0.001, 0.002])
    kp += np.random.default_rng(0).normal(size=kp.shape) * 1e-4
    s = Session(kp, t, KP)
    cfg = StacConfig(calibrate_scales=False, calibrate_offsets=False, calibrate_base="rigid",
                     base_prior_sd_rad=0.02)
    free = register(s, body, cfg.replace(limit_margin=0.0))
    kept = register(s, body, cfg)
    width = hi - body.joint_ranges[2, 0]
    assert free.qpos[:, 2].max() > hi - 0.015                  # at the limit
    assert kept.qpos[:, 2].max() < hi - 0.5 * cfg.limit_margin * width
    assert kept.info["frames_at_limit"] == 0.0
    assert kept.mean_error_m < 1.02 * free.mean_error_m < 0.2e-3


def test_bad_keypoint_map_lists_sites(synth_session, body):
    with pytest.raises(DataError) as e:
        register(synth_session, body, keypoint_map={"Shoulder": "no_such_site"})
    msg = str(e.value)
    assert "no_such_site" in msg and "kp_shoulder" in msg and "kp_paw" in msg
    odd = Session(np.zeros((5, 1, 3)), np.arange(5) / 200.0, ["Nose"])
    with pytest.raises(DataError) as e:
        register(odd, body)
    assert "Nose" in str(e.value) and "kp_wrist" in str(e.value)


def test_config_validation():
    with pytest.raises(ConfigError, match="n_iter"):
        StacConfig(n_iter=0)
    with pytest.raises(ConfigError, match="calibrate_base"):
        StacConfig(calibrate_base="sideways")
    with pytest.raises(ConfigError, match="limit_margin"):
        StacConfig(limit_margin=0.6)
    with pytest.raises(ConfigError, match="limit_sd"):
        StacConfig(limit_sd=0.0)
    with pytest.raises(ConfigError, match="unknown STAC settings"):
        StacConfig.from_dict({"noise": 1})


def test_registration_hdf5_and_stac_layout_round_trip(synth_reg, tmp_path):
    reg = synth_reg
    back = Registration.load(reg.save(tmp_path / "reg.h5"))
    for name in ("time", "qpos", "qvel", "kp_data", "model_keypoints", "offsets", "residuals",
                 "base_transform"):
        np.testing.assert_array_equal(getattr(back, name), getattr(reg, name))
    assert back.segment_scales == reg.segment_scales
    assert back.keypoint_names == reg.keypoint_names and back.body_xml == reg.body_xml
    rb = back.body()  # rebuilds the scaled body
    assert rb.nq == 4
    p = reg.to_stac_mjx(tmp_path / "stac.h5")
    with h5py.File(p) as f:
        assert f["kp_data"].shape == (T, 12)
        assert f["xpos"].shape[0] == T and f["xquat"].shape[2] == 4
        assert b"Shoulder" in list(f["kp_names"][()])
        cfg = f["config"][()]
    assert b"KEYPOINT_MODEL_PAIRS" in cfg
    rs = Registration.from_stac_mjx(p)
    np.testing.assert_array_equal(rs.qpos, reg.qpos)
    np.testing.assert_array_equal(rs.model_keypoints, reg.model_keypoints)
    np.testing.assert_allclose(rs.time, reg.time - reg.time[0] + rs.time[0], atol=1e-12)
    # body positions written through MuJoCo match the registered model keypoints
    m = mujoco.MjModel.from_xml_string(reg.body_xml)
    names = [n.decode() for n in h5py.File(p)["names_xpos"][()]]
    assert names[0] == "world" and "forearm" in names
    elbow = h5py.File(p)["xpos"][()][:, names.index("forearm")]
    off = reg.offsets[KP.index("Elbow")]
    assert m is not None and np.abs(off).max() < 3e-3
    # the elbow keypoint sits at the forearm origin + offset (forearm frame)
    xq = h5py.File(p)["xquat"][()][:, names.index("forearm")]
    R = np.stack([_quat_mat(q) for q in xq])
    np.testing.assert_allclose(elbow + R @ off, reg.model_keypoints[:, 1], atol=1e-9)


def _quat_mat(q):
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, q)
    return m.reshape(3, 3)


def test_stac_mjx_real_clip_round_trip(tmp_path):
    src = shared_path("mouse_reach_ik_200hz",
                      "A36-1_2023-07-18_16-54-01_lightOff_trial01_ik.h5")
    reg = Registration.from_stac_mjx(src)
    assert reg.keypoint_names == ("Shoulder", "Elbow", "Wrist")
    assert reg.qpos_names == ("sh_elv", "sh_extension", "sh_rotation", "elbow_joint")
    assert reg.rate == 200.0 and reg.n_frames == 100
    assert reg.site_names == ("scapula", "elbow", "wrist_body")
    out = reg.to_stac_mjx(tmp_path / "copy.h5", dtype=np.float32)
    with h5py.File(src) as a, h5py.File(out) as b:
        assert set(a.keys()) == set(b.keys())
        for k in a.keys():
            va, vb = a[k][()], b[k][()]
            if isinstance(va, np.ndarray) and va.dtype.kind == "f":
                assert va.shape == vb.shape, k
                np.testing.assert_array_equal(va, vb, err_msg=k)
            else:
                assert np.array_equal(np.asarray(va), np.asarray(vb)), k
    again = Registration.from_stac_mjx(out)
    np.testing.assert_array_equal(again.residuals, reg.residuals)
    # the files' own error, as the data README states it (0.56 mm over all 46 clips)
    assert 0.1e-3 < reg.mean_error_m < 2e-3


def test_cli_stac(synth_session, tmp_path):
    from neuroimit.cli import main

    sp = synth_session.save(tmp_path / "s.nc")
    out = tmp_path / "run"
    assert main(["stac", str(sp), "-o", str(out), "--html", "--stac-mjx"]) == 0
    reg = Registration.load(out / "registration.h5")
    assert reg.n_frames == T and reg.mean_error_m < 0.35e-3
    for f in ("registration_report.png", "registration_report.html", "stac_mjx.h5"):
        assert (out / f).stat().st_size > 1000
    assert main(["stac", str(sp), "-o", str(out), "--keypoint-map", '{"Shoulder": "nope"}']) == 1
