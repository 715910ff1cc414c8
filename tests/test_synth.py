"""Synthetic sessions: determinism, shapes and rates, noise, EMG delay, muscle-driven truth."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest
from scipy import signal

from neuroimit import ConfigError, Session
from neuroimit.body import load_body
from neuroimit.synth import SynthConfig, make_session, replay_truth, truth_model
from neuroimit.synth.control import replay
from neuroimit.synth.emg import synth_emg

CFG = SynthConfig(duration=3.0, seed=0, offset_sd_m=1e-3, scale_sd=0.05)


@pytest.fixture(scope="module")
def sess() -> Session:
    return make_session(CFG)


def test_deterministic_given_seed():
    cfg = SynthConfig(duration=1.0, seed=5)
    a, b = make_session(cfg), make_session(cfg)
    assert a == b
    c = make_session(SynthConfig(duration=1.0, seed=6))
    assert not np.allclose(a.truth["qpos"].values, c.truth["qpos"].values)


def test_shapes_rates_units(sess):
    T = 600
    assert sess.n_frames == T and sess.rate == 200.0 and sess.duration == 3.0
    assert sess.keypoint_names == ("Shoulder", "Elbow", "Wrist", "Paw")
    assert sess.emg.rate == 2000.0 and sess.emg.data.shape == (6000, 5)
    assert sess.emg.unit == "V" and sess.emg.kind == "raw"
    assert sess.emg.channels[:3] == ("Biceps", "TriLong", "TriLat")
    assert sess.emg.muscles[:3] == ("biceps_long", "triceps_long", "triceps_lateral")
    # raw EMG: sub-millivolt, zero-mean, not an envelope
    assert 1e-6 < np.abs(sess.emg.data).max() < 5e-3
    assert (sess.emg.data < 0).mean() > 0.3
    body = load_body("mouse_forelimb")
    t = sess.truth
    assert set(t.data_vars) == {"qpos", "qvel", "excitation", "activation", "keypoints_true",
                                "offsets", "segment_scale"}
    assert t["qpos"].dims == ("time", "joint") and t["qpos"].shape == (T, 4)
    assert t["qvel"].dims == ("time", "joint")
    assert t["excitation"].dims == ("time", "muscle")
    assert t["activation"].shape == (T, body.nu)
    assert list(t["joint"].values) == list(body.joint_names)
    assert list(t["muscle"].values) == list(body.muscle_names)
    assert t["keypoints_true"].dims == ("time", "keypoint", "axis")
    assert t["offsets"].dims == ("keypoint", "axis")
    assert list(t["segment"].values) == ["humerus", "forearm", "paw"]
    np.testing.assert_array_equal(t["time"].values, sess.time)
    ex, act = t["excitation"].values, t["activation"].values
    assert ex.min() >= 0 and ex.max() <= 1 and act.min() >= 0 and act.max() <= 1
    assert np.all(t["qpos"].values >= body.joint_ranges[:, 0] - 1e-3)
    assert np.all(t["qpos"].values <= body.joint_ranges[:, 1] + 1e-3)
    tr = sess.trials
    for col in ("start_time", "stop_time", "outcome", "target_x", "target_y", "target_z"):
        assert col in tr.columns
    assert len(tr) >= 2 and np.all(tr["stop_time"] > tr["start_time"])
    dur = tr["arrival_time"] - tr["start_time"]
    assert dur.min() >= 0.15 - 1e-9 and dur.max() <= 0.40 + 1e-9
    wd = tr["stop_time"] - tr["withdrawal_time"]
    assert wd.min() >= 0.10 - 1e-9 and wd.max() <= 0.25 + 1e-9
    assert np.all(tr["start_time"].to_numpy()[1:] > tr["stop_time"].to_numpy()[:-1])


def test_keypoint_noise_missing_and_confidence(sess):
    true = sess.truth["keypoints_true"].values
    miss = np.isnan(sess.keypoints).any(axis=2)
    assert 0.005 < miss.mean() < 0.05  # about missing_fraction=0.02
    assert np.all(sess.confidence[miss] == 0)
    assert np.all(sess.confidence[~miss] >= 0.3)
    err = (sess.keypoints - true)[~miss]
    assert abs(err.std() - 2e-4) < 2e-5  # noise_m = 0.2 mm
    assert abs(err.mean()) < 2e-5


def test_keypoints_are_sites_of_the_true_scaled_body(sess):
    t = sess.truth
    scales = dict(zip(t["segment"].values, t["segment_scale"].values))
    assert any(abs(v - 1) > 1e-3 for v in scales.values())
    body = load_body("mouse_forelimb").scaled(**scales)
    assert body.xml == t.attrs["body_xml"]
    m = body.mj_model
    d = mujoco.MjData(m)
    off = t["offsets"].values
    assert np.abs(off).max() > 1e-4
    for k in (0, 150, 420):
        d.qpos[:] = t["qpos"].values[k]
        mujoco.mj_kinematics(m, d)
        for i, name in enumerate(sess.keypoint_names):
            sid = m.site(body.site_for_keypoint(name)).id
            R = d.xmat[m.site_bodyid[sid]].reshape(3, 3)
            np.testing.assert_allclose(t["keypoints_true"].values[k, i],
                                       d.site_xpos[sid] + R @ off[i], atol=1e-12)


def test_reaches_move_the_paw(sess):
    paw = sess.truth["keypoints_true"].values[:, 3]
    tr = sess.trials
    for _, row in tr[tr["outcome"] == "success"].iterrows():
        k0 = int(round(row["start_time"] * 200))
        k1 = int(round(row["withdrawal_time"] * 200))
        target = row[["target_x", "target_y", "target_z"]].to_numpy(float)
        # the paw keypoint (site + its true offset) gets onto the target it reached for
        dist = np.linalg.norm(paw[k0:k1] - target, axis=1).min()
        assert dist < 5e-4
        assert np.linalg.norm(paw[k0:k1] - paw[k0], axis=1).max() > 4e-3


def test_muscles_drive_the_motion(sess):
    """Forward simulation of the true excitations, restarted from the true state every
    100 ms, reproduces the true joint angles within 2 degrees; without the excitations the
    arm does something else (so they really are what moves it)."""
    t = sess.truth
    q = t["qpos"].values
    err = np.degrees(np.abs(replay_truth(t, restart_s=0.1) - q)).max()
    assert err < 2.0
    m = truth_model(t)
    nsub = int(t.attrs["substeps"])
    passive = replay(m, q, t["qvel"].values, t["activation"].values,
                     np.zeros_like(t["excitation"].values), nsub, 20)
    assert np.degrees(np.abs(passive - q)).max() > 10 * max(err, 0.2)
    # the excitations are not a trivial copy of the activations: activation dynamics lag
    lagged = np.corrcoef(t["excitation"].values[:-4].ravel(),
                         t["activation"].values[4:].ravel())[0, 1]
    same = np.corrcoef(t["excitation"].values.ravel(), t["activation"].values.ravel())[0, 1]
    assert lagged > same


def _envelope(x: np.ndarray, fs: float) -> np.ndarray:
    sos_hp = signal.butter(4, 20.0, "highpass", fs=fs, output="sos")
    sos_lp = signal.butter(4, 15.0, fs=fs, output="sos")
    return signal.sosfiltfilt(sos_lp, np.abs(signal.sosfiltfilt(sos_hp, x, axis=0)), axis=0)


def _lag(env: np.ndarray, act: np.ndarray, fs: float, max_lag: int) -> float:
    env = (env - env.mean(0)) / env.std(0)
    act = (act - act.mean(0)) / act.std(0)
    lags = np.arange(-max_lag, max_lag + 1)
    # positive lag: EMG leads the activation
    score = [np.sum(env[max_lag:-max_lag] * act[max_lag + L: len(act) - max_lag + L])
             for L in lags]
    return lags[int(np.argmax(score))] / fs


def test_emg_delay_recovered(sess):
    fs = sess.emg.rate
    names = list(sess.truth["muscle"].values)
    idx = [names.index(mu) for mu in sess.emg.muscles]
    act_t = sess.truth["activation"].values[:, idx]
    act = np.stack([np.interp(sess.emg.time, sess.time, act_t[:, j])
                    for j in range(act_t.shape[1])], 1)
    moving = act.std(0) > 1e-3  # channels whose muscle does something in this session
    assert moving.sum() >= 2
    act, act_t = act[:, moving], act_t[:, moving]
    lag = _lag(_envelope(sess.emg.data[:, moving], fs), act, fs, 80)
    assert abs(lag - CFG.emg_delay_s) <= 0.004
    # another delay, same activations: the estimate follows it
    emg2 = synth_emg(sess.time, act_t, sess.emg.time, np.random.default_rng(3), delay_s=0.01)
    assert abs(_lag(_envelope(emg2, fs), act, fs, 80) - 0.01) <= 0.004
    # the envelope follows the activation closely
    env = _envelope(sess.emg.data[:, moving], fs)
    shift = int(round(CFG.emg_delay_s * fs))
    r = [np.corrcoef(env[:-shift, j], act[shift:, j])[0, 1] for j in range(act.shape[1])]
    assert min(r) > 0.8


def test_config_errors():
    with pytest.raises(ConfigError, match="duration"):
        SynthConfig(duration=-1)
    with pytest.raises(ConfigError, match="missing_fraction"):
        SynthConfig(missing_fraction=0.9)
    with pytest.raises(ConfigError, match="emg_band_hz"):
        SynthConfig(emg_rate=30.0)
    with pytest.raises(ConfigError, match="reach_s"):
        SynthConfig(reach_s=(0.4, 0.1))
    with pytest.raises(ConfigError, match="EMG channel"):
        make_session(SynthConfig(duration=0.5, emg_channels=("Quadriceps",)))
