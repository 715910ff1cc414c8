"""Building blocks of the synthesiser: muscle model vs MuJoCo, QP solver, planner, keypoints."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest
from scipy.optimize import minimize

from neuroimit.body import load_body
from neuroimit.synth.keypoints import observe
from neuroimit.synth.muscles import (MuscleParams, activation_path, end_activation_bounds,
                                     excitation_for_activation, muscle_gain_bias)
from neuroimit.synth.planner import Waypoints, ik_site, min_jerk
from neuroimit.synth.qp import solve_box_qp


@pytest.fixture(scope="module")
def model():
    return load_body("mouse_forelimb").mj_model


def test_gain_bias_match_mujoco(model):
    m = model
    d = mujoco.MjData(m)
    p = MuscleParams.from_model(m)
    rng = np.random.default_rng(0)
    lo, hi = m.jnt_range[:, 0], m.jnt_range[:, 1]
    for _ in range(20):
        d.qpos[:] = rng.uniform(lo, hi)
        d.qvel[:] = rng.normal(0, 5, m.nv)
        d.act[:] = rng.uniform(0, 1, m.nu)
        mujoco.mj_forward(m, d)
        gain, bias = muscle_gain_bias(p, d.actuator_length, d.actuator_velocity)
        np.testing.assert_allclose(gain * d.act + bias, d.actuator_force, rtol=1e-12,
                                   atol=1e-15)
    # a stretched, fast-shortening state exercises the other branches of the curves
    L = np.linspace(0.3, 2.0, 50)
    for V in (-1.5, -0.5, 0.1, 0.5):
        for i in range(3):
            prm = m.actuator_gainprm[i]
            lr = m.actuator_lengthrange[i]
            L0 = p.L0[i]
            length = lr[0] + (L - prm[0]) * L0
            vel = V * L0 * prm[6]
            g, b = muscle_gain_bias(p, np.full((50, m.nu), length[:, None]),
                                    np.full((50, m.nu), vel))
            ref_g = [mujoco.mju_muscleGain(x, vel, lr, m.actuator_acc0[i], prm[:9])
                     for x in length]
            ref_b = [mujoco.mju_muscleBias(x, lr, m.actuator_acc0[i], m.actuator_biasprm[i, :9])
                     for x in length]
            np.testing.assert_allclose(g[:, i], ref_g, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(b[:, i], ref_b, rtol=1e-12, atol=1e-15)


def test_activation_path_matches_mujoco_and_inverts(model):
    m = model
    d = mujoco.MjData(m)
    p = MuscleParams.from_model(m)
    rng = np.random.default_rng(1)
    for _ in range(10):
        mujoco.mj_resetData(m, d)
        d.qpos[:] = load_body("mouse_forelimb").default_qpos
        d.act[:] = rng.uniform(0, 1, m.nu)
        a0 = d.act.copy()
        u = rng.uniform(0, 1, m.nu)
        d.ctrl[:] = u
        path = activation_path(p, a0, u, 4)
        for j in range(4):
            mujoco.mj_step(m, d)
            np.testing.assert_allclose(path[j + 1], d.act, atol=1e-15)
    worst = 0.0
    for _ in range(300):
        a0 = rng.uniform(0, 1, m.nu)
        lo, hi = end_activation_bounds(p, a0, 4)
        target = rng.uniform(lo, hi)
        u = excitation_for_activation(p, a0, target, 4)
        assert np.all((u >= 0) & (u <= 1))
        worst = max(worst, np.abs(activation_path(p, a0, u, 4)[-1] - target).max())
    assert worst < 5e-4
    # unreachable targets saturate the excitation
    a0 = np.full(m.nu, 0.5)
    assert np.all(excitation_for_activation(p, a0, np.ones(m.nu), 4) == 1.0)
    assert np.all(excitation_for_activation(p, a0, np.zeros(m.nu), 4) == 0.0)


def _kkt_violation(H, g, lo, hi, x):
    """Largest violation of the optimality conditions of the box QP at x (0 = optimal)."""
    grad = H @ x + g
    scale = 1.0 + np.abs(g).max()
    at_lo, at_hi = x <= lo + 1e-12, x >= hi - 1e-12
    free = ~(at_lo | at_hi)
    v = [np.abs(grad[free]).max(initial=0.0) / scale,
         np.maximum(-grad[at_lo & ~at_hi], 0).max(initial=0.0) / scale,
         np.maximum(grad[at_hi & ~at_lo], 0).max(initial=0.0) / scale,
         np.maximum(lo - x, 0).max(), np.maximum(x - hi, 0).max()]
    return max(v)


def test_box_qp_is_optimal():
    rng = np.random.default_rng(2)
    for trial in range(200):
        n = 13
        A = rng.normal(size=(4, n))
        H = np.eye(n) + 1e4 * A.T @ A
        g = rng.normal(size=n) * 100
        lo = rng.uniform(0, 0.3, n)
        hi = lo + rng.uniform(0, 0.7, n)
        hi[0] = lo[0]  # a fixed variable
        x, active, _ = solve_box_qp(H, g, lo, hi)
        assert _kkt_violation(H, g, lo, hi, x) < 1e-9
        # warm start from the optimal active set: a single solve
        x2, _, solves = solve_box_qp(H, g, lo, hi, active)
        assert solves <= 1
        np.testing.assert_allclose(x2, x, atol=1e-9)
        if trial < 3:  # and an independent solver agrees
            f = lambda z: 0.5 * z @ H @ z + g @ z  # noqa: E731
            ref = minimize(f, np.clip(np.zeros(n), lo, hi), jac=lambda z: H @ z + g,
                           bounds=list(zip(lo, hi)), method="L-BFGS-B",
                           options=dict(ftol=1e-16, gtol=1e-12, maxiter=20000))
            assert f(x) <= f(ref.x) + 1e-9 * (1 + abs(f(ref.x)))


def test_min_jerk_and_waypoints():
    tau = np.linspace(0, 1, 101)
    s, ds, dds = min_jerk(tau)
    assert s[0] == 0 and s[-1] == 1 and ds[0] == 0 and ds[-1] == 0
    assert abs(dds[0]) < 1e-12 and abs(dds[-1]) < 1e-12
    np.testing.assert_allclose(np.gradient(s, tau), ds, atol=2e-3)
    wp = Waypoints(np.array([0.0, 0.1, 0.4, 0.6]),
                   np.array([[0.0, 1.0], [0.0, 1.0], [0.3, 0.5], [0.3, 0.5]]))
    t = np.linspace(-0.1, 0.7, 801)
    q, qd, qdd = wp.evaluate(t)
    assert np.allclose(q[t <= 0.1], [0.0, 1.0]) and np.allclose(q[t >= 0.4], [0.3, 0.5])
    np.testing.assert_allclose(np.gradient(q, t, axis=0)[5:-5], qd[5:-5], atol=0.02)
    np.testing.assert_allclose(np.gradient(qd, t, axis=0)[5:-5], qdd[5:-5], atol=0.5)
    peak = np.abs(qd[:, 0]).max()
    assert abs(peak - 1.875 * 0.3 / 0.3) < 0.01  # min-jerk peak speed = 1.875 D / T


def test_ik_reaches_a_target(model):
    body = load_body("mouse_forelimb")
    d = mujoco.MjData(model)
    q_goal = body.default_qpos + np.array([0.2, -0.3, 0.1, 0.2])
    d.qpos[:] = q_goal
    mujoco.mj_kinematics(model, d)
    target = d.site("kp_paw").xpos.copy()
    lo, hi = body.joint_ranges.T
    q, err = ik_site(model, "kp_paw", target, body.default_qpos, lo, hi)
    assert err < 1e-5 and np.all(q >= lo) and np.all(q <= hi)


def test_observe_gaps_and_confidence():
    true = np.zeros((2000, 3, 3))
    kp, conf = observe(true, np.random.default_rng(4), noise_m=1e-3, missing_fraction=0.1)
    miss = np.isnan(kp).any(axis=2)
    assert np.isnan(kp[miss]).all()
    assert 0.06 < miss.mean() < 0.12
    assert np.all(conf[miss] == 0)
    # frames next to a gap have low confidence, others high
    nxt = np.zeros_like(miss)
    nxt[1:] |= miss[:-1]
    nxt &= ~miss
    assert np.all((conf[nxt] >= 0.3) & (conf[nxt] <= 0.6))
    assert abs(np.nanstd(kp) - 1e-3) < 1e-4
