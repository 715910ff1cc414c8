"""Muscle-driven forward simulation that tracks a joint-space plan.

At every control step (the pose frame rate; MuJoCo physics steps in between):

1. desired joint acceleration = plan acceleration (at the end of the interval) + PD
   feedback on the tracking error (critically damped, natural frequency ``track_hz``);
2. the generalised force that produces it, by inverse dynamics (``mj_inverse``: inertia,
   gravity, passive and constraint forces);
3. muscle activations by static optimisation: minimise ``sum a^2 + w * ||residual||^2``
   subject to ``moment_arm^T (gain * a + bias) = tau`` (as a heavily weighted least-squares
   term, so the problem stays feasible when muscles cannot deliver the torque) and
   ``lo <= a <= hi``, where ``gain``/``bias`` are each muscle's force-length-velocity gain
   and passive force at the current state and ``[lo, hi]`` is the activation that the
   activation dynamics (15/60 ms) can reach by the end of the control interval;
4. the excitation (MuJoCo ``ctrl``) that brings the activation there, held for the interval
   while MuJoCo steps the model. Targeting the activation at the end of the interval (as
   computed muscle control does, Thelen & Anderson 2006) rather than its mean over the
   interval avoids a ringing of the excitations at the control rate: the activation the
   controller leaves behind is the one it asked for.

The simulated trajectory *is* the ground truth: its joint angles come from integrating the
muscle forces, so replaying the excitations reproduces it (:func:`replay`).

>>> sim = track(model, plan, n_steps=400, control_dt=0.005, nsub=4)   # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..errors import NumericalError
from .muscles import (MuscleParams, end_activation_bounds, excitation_for_activation,
                      muscle_gain_bias)
from .planner import Waypoints
from .qp import solve_box_qp

__all__ = ["Tracking", "track", "replay", "static_activation"]


@dataclass(frozen=True)
class Tracking:
    """Simulated trajectory at the control steps (T = number of steps).

    time (T,) s; qpos (T, nq); qvel (T, nv); act (T, nu) activation at the step;
    ctrl (T, nu) excitation held from the step to the next; site_xpos (T, S, 3) and
    site_xmat (T, S, 3, 3) (the site's body orientation) for the requested sites;
    q_ref (T, nq) the plan; residual_torque (T, nv) N m the muscles could not deliver.
    """

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    act: np.ndarray
    ctrl: np.ndarray
    site_xpos: np.ndarray
    site_xmat: np.ndarray
    q_ref: np.ndarray
    residual_torque: np.ndarray


def _dense_moment(m: mujoco.MjModel, d: mujoco.MjData, out: np.ndarray) -> np.ndarray:
    mujoco.mju_sparse2dense(out, d.actuator_moment, d.moment_rownnz, d.moment_rowadr,
                            d.moment_colind)
    return out


def _activation_problem(A: np.ndarray, c: np.ndarray, weight: float, eye2=None):
    """H, g of ``sum a^2 + weight * ||(A a - c) / s||^2`` (rows scaled by their capacity s)."""
    s = np.abs(A).sum(axis=1) + 1e-12
    An = A / s[:, None]
    Aw = (2.0 * weight) * An.T
    H = (2.0 * np.eye(A.shape[1]) if eye2 is None else eye2) + Aw @ An
    g = -(Aw @ (c / s))
    return H, g


def static_activation(m: mujoco.MjModel, q: np.ndarray, weight: float = 1e4) -> np.ndarray:
    """Activations (nu,) that hold posture ``q`` still against gravity (min sum a^2)."""
    d = mujoco.MjData(m)
    d.qpos[:] = q
    d.qvel[:] = 0.0
    d.qacc[:] = 0.0
    mujoco.mj_inverse(m, d)
    p = MuscleParams.from_model(m)
    M = _dense_moment(m, d, np.zeros((m.nu, m.nv)))
    gain, bias = muscle_gain_bias(p, d.actuator_length, d.actuator_velocity)
    A = M.T * gain[None, :]
    H, g = _activation_problem(A, d.qfrc_inverse - M.T @ bias, weight)
    a, _, _ = solve_box_qp(H, g, np.zeros(m.nu), np.ones(m.nu))
    return a


def track(m: mujoco.MjModel, plan: Waypoints, n_steps: int, control_dt: float, nsub: int,
          *, sites: list[int] | tuple[int, ...] = (), track_hz: float = 10.0,
          weight: float = 1e4, progress=None) -> Tracking:
    """Simulate ``n_steps`` control steps of the muscle-driven model tracking ``plan``.

    m: the model (its ``opt.timestep`` must equal ``control_dt / nsub``); sites: site ids
    whose world positions (and body orientations) are recorded at each step; progress: an
    optional callable ``progress(done_steps)`` called every 200 steps.
    Starts at rest on the plan's first posture with the activations that hold it.
    """
    if abs(m.opt.timestep * nsub - control_dt) > 1e-9:
        raise ValueError("model timestep * nsub must equal control_dt")
    nq, nv, nu = m.nq, m.nv, m.nu
    p = MuscleParams.from_model(m)
    d = mujoco.MjData(m)
    t = np.arange(n_steps) * control_dt
    q_ref, qd_ref, _ = plan.evaluate(t)
    # feed-forward acceleration at the end of each interval, where the activations that
    # the static optimisation chooses are reached
    _, _, qdd_next = plan.evaluate(t + control_dt)
    wn = 2.0 * np.pi * track_hz
    kp, kd = wn * wn, 2.0 * wn
    q0 = q_ref[0]
    d.qpos[:] = q0
    d.qvel[:] = 0.0
    d.act[:] = static_activation(m, q0, weight)
    sites = list(sites)
    out_q = np.empty((n_steps, nq))
    out_v = np.empty((n_steps, nv))
    out_a = np.empty((n_steps, nu))
    out_u = np.empty((n_steps, nu))
    out_x = np.empty((n_steps, len(sites), 3))
    out_R = np.empty((n_steps, len(sites), 3, 3))
    out_r = np.empty((n_steps, nv))
    site_body = m.site_bodyid[sites] if sites else np.zeros(0, int)
    M = np.zeros((nu, nv))
    active = None
    eye2 = 2.0 * np.eye(nu)
    for k in range(n_steps):
        q = d.qpos.copy()
        v = d.qvel.copy()
        act = d.act.copy()
        out_q[k], out_v[k], out_a[k] = q, v, act
        d.qacc[:] = qdd_next[k] + kp * (q_ref[k] - q) + kd * (qd_ref[k] - v)
        mujoco.mj_inverse(m, d)  # also computes kinematics, moment arms, lengths, velocities
        if sites:
            out_x[k] = d.site_xpos[sites]
            out_R[k] = d.xmat[site_body].reshape(-1, 3, 3)
        _dense_moment(m, d, M)
        gain, bias = muscle_gain_bias(p, d.actuator_length, d.actuator_velocity)
        A = M.T * gain[None, :]
        tau = d.qfrc_inverse - M.T @ bias
        H, g = _activation_problem(A, tau, weight, eye2)
        lo, hi = end_activation_bounds(p, act, nsub)
        a_end, active, _ = solve_box_qp(H, g, lo, hi, active)
        out_r[k] = tau - A @ a_end
        u = excitation_for_activation(p, act, a_end, nsub)
        d.ctrl[:] = u
        out_u[k] = u
        mujoco.mj_step(m, d, nsub)
        if progress is not None and (k + 1) % 200 == 0:
            progress(k + 1)
    if not (np.isfinite(out_q).all() and np.isfinite(out_u).all()):
        raise NumericalError("the muscle-driven simulation diverged", field="synth",
                             expected="a stable model at this timestep")
    return Tracking(t, out_q, out_v, out_a, out_u, out_x, out_R, q_ref, out_r)


def replay(m: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray,
           ctrl: np.ndarray, nsub: int, restart_every: int) -> np.ndarray:
    """Forward-simulate the excitations ``ctrl`` (T, nu), restarting from the true state.

    Every ``restart_every`` control steps the state is reset to (qpos, qvel, act) of that
    step; in between only the held excitations drive the model. Returns the replayed
    qpos (T, nq) (row k = state at step k).
    """
    d = mujoco.MjData(m)
    T = qpos.shape[0]
    out = np.empty_like(qpos)
    for k in range(T):
        if k % restart_every == 0:
            mujoco.mj_resetData(m, d)
            d.qpos[:], d.qvel[:], d.act[:] = qpos[k], qvel[k], act[k]
        out[k] = d.qpos
        d.ctrl[:] = ctrl[k]
        mujoco.mj_step(m, d, nsub)
    return out
