"""Imitation environment: rewards vs hand-computed values, clips, termination / NaN handling,
C-engine backend vs plain mj_step."""
from __future__ import annotations

from types import SimpleNamespace

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from neuroimit.errors import ConfigError, DataError
from neuroimit.imitation import (PRESETS, EnvConfig, RewardConfig, TrainConfig,
                                 clip_from_arrays, clips_from_registrations, resample_clip,
                                 toy_arm)
from neuroimit.imitation.backends import PhysOut, make_spec
from neuroimit.imitation.backends.cpu import CpuPhysics
from neuroimit.imitation.env import make_env_params, observe, obs_layout, reset, step
from neuroimit.imitation.rewards import penalty_terms, total_reward, tracking_terms


@pytest.fixture(scope="module")
def toy():
    body = toy_arm()
    spec = make_spec(body, 200.0)
    t = np.arange(40) / 200.0
    q = np.stack([0.3 * np.sin(2 * np.pi * t), 0.6 + 0.3 * np.sin(2 * np.pi * t + 1)], 1)
    clip = clip_from_arrays(q, rate=200.0, name="sine")
    cfg = EnvConfig(n_future=2)
    return SimpleNamespace(body=body, spec=spec, clip=clip, cfg=cfg,
                           params=make_env_params(spec, [clip], cfg),
                           cpu=CpuPhysics(spec))


def test_tracking_terms_match_hand_values():
    rc = RewardConfig(w_joint=2.0, k_joint=10.0, w_joint_vel=0.5, k_joint_vel=0.01,
                      w_keypoint=1.5, k_keypoint=1e4)
    qpos, ref_q = np.array([0.1, -0.2]), np.array([0.0, 0.0])          # err2 = 0.05
    qvel, ref_v = np.array([3.0, 4.0]), np.array([0.0, 0.0])           # err2 = 25
    kp = np.array([[0.001, 0.0, 0.0], [0.0, 0.002, 0.0]])              # err2 = 5e-6
    t = tracking_terms(qpos, qvel, kp, ref_q, ref_v, np.zeros((2, 3)), rc)
    assert float(t["joint"]) == pytest.approx(2.0 * np.exp(-0.5), rel=1e-6)
    assert float(t["joint_vel"]) == pytest.approx(0.5 * np.exp(-0.25), rel=1e-6)
    assert float(t["keypoint"]) == pytest.approx(1.5 * np.exp(-0.05), rel=1e-5)


def test_penalty_terms_match_hand_values():
    rc = RewardConfig(energy=0.3, ctrl=0.2, ctrl_change=0.5, velocity=0.1, vel_scale=10.0,
                      jerk=0.4, jerk_scale=100.0)
    act = np.array([0.5, 1.0])
    u, u_prev = np.array([0.2, 0.6]), np.array([0.0, 1.0])
    force, mvel, f0 = np.array([-0.1, -0.4]), np.array([0.02, -0.05]), np.array([0.5, 1.0])
    qvel, qacc, qacc_prev = np.array([10.0, 20.0]), np.array([100.0, 0.0]), np.zeros(2)
    p = penalty_terms(act, u, u_prev, force, mvel, f0, qvel, qacc, qacc_prev, rc)
    assert float(p["energy"]) == pytest.approx(0.3 * (0.25 + 1.0) / 2, rel=1e-6)
    assert float(p["ctrl"]) == pytest.approx(0.2 * (0.04 + 0.36) / 2, rel=1e-6)
    assert float(p["ctrl_change"]) == pytest.approx(0.5 * (0.04 + 0.16) / 2, rel=1e-6)
    assert float(p["velocity"]) == pytest.approx(0.1 * (1.0 + 4.0) / 2, rel=1e-6)
    assert float(p["jerk"]) == pytest.approx(0.4 * (1.0 + 0.0) / 2, rel=1e-6)
    met = penalty_terms(act, u, u_prev, force, mvel, f0, qvel, qacc, qacc_prev,
                        RewardConfig(energy=1.0, energy_kind="metabolic", metabolic_v_ref=0.1))
    hand = np.mean(act * np.abs(force * mvel) / (f0 * 0.1))
    assert float(met["energy"]) == pytest.approx(hand, rel=1e-6)
    track = {"a": jnp.asarray(1.0), "b": jnp.asarray(0.5)}
    assert float(total_reward(track, p, rc)) == pytest.approx(
        1.5 - sum(float(v) for v in p.values()), rel=1e-6)


def test_presets_and_config_errors():
    assert set(PRESETS) == {"none", "energy", "control", "energy+control"}
    r = TrainConfig(preset="energy+control").env.rewards
    assert r.energy > 0 and r.ctrl > 0 and r.ctrl_change > 0
    r = TrainConfig(preset="none").env.rewards
    assert r.energy == r.ctrl == r.ctrl_change == 0
    assert TrainConfig(preset="energy").with_weights(ctrl=0.3).env.rewards.ctrl == 0.3
    with pytest.raises(ConfigError, match="preset"):
        TrainConfig(preset="lazy")
    cfg = TrainConfig(preset="control", seed=3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_clips_from_registrations_and_resampling():
    t = np.arange(21) / 100.0
    q = np.stack([np.sin(t), t], 1)
    reg = SimpleNamespace(qpos=q, time=t, qvel=None, model_keypoints=np.zeros((21, 2, 3)),
                          keypoint_names=("Elbow", "Paw"))
    (clip,) = clips_from_registrations([reg], control_rate=200.0)
    assert clip.dt == pytest.approx(0.005) and clip.n_frames == 41
    np.testing.assert_allclose(clip.qpos[::2], q, atol=1e-9)        # spline hits the knots
    np.testing.assert_allclose(clip.qvel[:, 1], 1.0, atol=1e-6)     # d(t)/dt
    assert clip.keypoints.shape == (41, 2, 3)
    assert resample_clip(clip, 200.0) is clip
    with pytest.raises(DataError, match="qpos"):
        clip_from_arrays(np.full((5, 2), np.nan), rate=200.0, name="bad")
    with pytest.raises(DataError, match="time"):
        clips_from_registrations([SimpleNamespace(qpos=q, time=t[::-1])])


def test_real_clips_load(shared_data):
    from neuroimit.imitation import load_stac_h5_clips
    clips = load_stac_h5_clips(shared_data / "mouse_reach_ik_200hz")
    assert len(clips) == 46
    assert all(c.qpos.shape == (100, 4) and c.dt == pytest.approx(0.005) for c in clips)


def test_cpu_backend_equals_mj_step(toy):
    rng = np.random.default_rng(0)
    n, m = 4, toy.body.mj_model
    qp, qv = rng.uniform(-0.5, 0.5, (n, 2)), rng.normal(size=(n, 2))
    act, u = rng.uniform(0, 1, (n, 4)), rng.uniform(0, 1, (n, 4))
    out = toy.cpu.step_numpy(qp, qv, act, u)
    d = mujoco.MjData(m)
    sids = list(toy.spec.site_ids)
    for i in range(n):
        d.qpos[:], d.qvel[:], d.act[:], d.ctrl[:] = qp[i], qv[i], act[i], u[i]
        d.qacc_warmstart[:] = 0
        for _ in range(toy.spec.n_substeps):
            mujoco.mj_step(m, d)
        # muscles as the last mj_step sensed them (before its integration), see PhysOut
        np.testing.assert_array_equal(out.mfrc[i], d.actuator_force)
        np.testing.assert_array_equal(out.mlen[i], d.actuator_length)
        np.testing.assert_array_equal(out.mvel[i], d.actuator_velocity)
        np.testing.assert_array_equal(out.qpos[i], d.qpos)
        np.testing.assert_array_equal(out.act[i], d.act)
        mujoco.mj_kinematics(m, d)      # keypoints at the new state
        np.testing.assert_array_equal(out.kp[i], d.site_xpos[sids])


def test_cpu_backend_under_jit_equals_step_numpy(toy):
    """The jitted path (callback for the physics, JAX forward kinematics for the keypoints)
    gives step_numpy's numbers up to float32 rounding."""
    import jax
    rng = np.random.default_rng(3)
    n = 5
    x = (rng.uniform(-0.5, 0.5, (n, 2)), rng.normal(size=(n, 2)), rng.uniform(0, 1, (n, 4)),
         rng.uniform(0, 1, (n, 4)))
    ref = toy.cpu.step_numpy(*x)
    got = jax.jit(toy.cpu.__call__)(*(jnp.asarray(v, jnp.float32) for v in x))
    for name, a, b in zip(PhysOut._fields, got, ref):
        assert np.asarray(a).shape == np.shape(b), name
        scale = max(np.abs(b).max(), 1e-9)
        assert np.abs(np.asarray(a, float) - b).max() <= 2e-6 * scale, name
    assert np.abs(ref.kp - toy.params.ref_kp[0, 0]).max() > 1e-4   # keypoints really moved


def test_reset_and_observation_layout(toy):
    import jax
    s = reset(toy.params, jax.random.PRNGKey(0), 6, toy.spec.na, toy.cfg)
    o = observe(toy.params, s, toy.cfg)
    lay = obs_layout(toy.spec, toy.cfg)
    assert o.shape == (6, lay.size)
    # reset states sit on the reference: the first future frame difference is ref[t+1]-ref[t]
    f = np.asarray(s.frame)
    np.testing.assert_allclose(np.asarray(o[:, :2]),
                               toy.clip.qpos[f + 1] - toy.clip.qpos[f], atol=1e-6)
    assert np.all(f <= toy.clip.n_frames - 1 - toy.cfg.min_steps)


def test_first_frame_probability_of_resets(toy):
    import jax
    from dataclasses import replace
    n = 4000
    frac = {}
    for p in (0.0, 0.2, 1.0):
        s = reset(toy.params, jax.random.PRNGKey(2), n, toy.spec.na,
                  replace(toy.cfg, first_frame_prob=p))
        frac[p] = float(np.mean(np.asarray(s.frame) == 0))
    hi = toy.clip.n_frames - 1 - toy.cfg.min_steps          # uniform starts: 1 / hi at 0
    assert frac[1.0] == 1.0
    assert abs(frac[0.0] - 1 / hi) < 0.02
    assert abs(frac[0.2] - (0.2 + 0.8 / hi)) < 0.03


def _fake_physics(nan_env=None, offset=0.0):
    def phys(qpos, qvel, act, ctrl):
        n = qpos.shape[0]
        qp = qpos + offset
        if nan_env is not None:
            qp = qp.at[nan_env].set(jnp.nan)
        K = 3
        return PhysOut(qp, qvel, act, jnp.zeros((n, K, 3)), jnp.zeros((n, 4)),
                       jnp.zeros((n, 4)), jnp.zeros((n, 4)))
    return phys


def test_nan_physics_ends_episode_without_crash(toy):
    import jax
    s = reset(toy.params, jax.random.PRNGKey(1), 3, toy.spec.na, toy.cfg)
    u = jnp.full((3, 4), 0.5)
    out = step(toy.params, s, u, _fake_physics(nan_env=1), toy.cfg, toy.spec.control_dt)
    term = np.asarray(out.term)
    assert term[1] and np.asarray(out.info["nonfinite"])[1]
    assert float(out.reward[1]) == 0.0
    assert np.all(np.isfinite(np.asarray(out.reward)))
    for leaf in jax.tree_util.tree_leaves(out.state):
        assert np.all(np.isfinite(np.asarray(leaf, dtype=float)))
    assert int(out.state.steps[1]) == 0          # env 1 was reset
    assert np.all(np.isfinite(np.asarray(observe(toy.params, out.state, toy.cfg))))


def test_tracking_error_terminates(toy):
    import jax
    s = reset(toy.params, jax.random.PRNGKey(2), 2, toy.spec.na, toy.cfg)
    u = jnp.zeros((2, 4))
    far = step(toy.params, s, u, _fake_physics(offset=1.0), toy.cfg, toy.spec.control_dt)
    assert np.all(np.asarray(far.term))           # RMS joint error 1 rad > 0.5
    near = step(toy.params, s, u, _fake_physics(offset=0.0), toy.cfg, toy.spec.control_dt)
    # keypoints of the fake physics sit at the origin: beyond the 6 mm keypoint threshold
    kp_far = np.asarray(near.info["kp_err"]) > toy.cfg.term_keypoint
    np.testing.assert_array_equal(np.asarray(near.term), kp_far)


def test_real_physics_blowup_is_caught(toy):
    import jax
    s = reset(toy.params, jax.random.PRNGKey(3), 2, toy.spec.na, toy.cfg)
    s = s._replace(qvel=s.qvel.at[0].set(jnp.array([1e30, -1e30])))
    out = jax.jit(lambda s: step(toy.params, s, jnp.full((2, 4), 0.5), toy.cpu, toy.cfg,
                                 toy.spec.control_dt))(s)
    assert bool(out.term[0]) and bool(out.info["nonfinite"][0])
    assert not bool(out.info["nonfinite"][1])
    assert np.all(np.isfinite(np.asarray(out.state.qvel)))
