"""Reach planning: a schedule of reaches, inverse kinematics onto targets, minimum-jerk paths.

A session is a sequence of trials: rest (pause) -> reach (minimum-jerk, joint space) to a
posture whose paw site sits on a target in front of the mouse -> short hold -> withdrawal
back to a rest posture. Minimum-jerk profile (Flash & Hogan 1985):
``s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5`` for ``tau`` in [0, 1].

>>> import numpy as np
>>> wp = Waypoints(np.array([0.0, 0.2, 0.5]), np.array([[0.0], [0.0], [1.0]]))
>>> q, qd, qdd = wp.evaluate(np.array([0.35]))
>>> round(float(q[0, 0]), 9)   # half way through the minimum-jerk segment
0.5
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..errors import ConfigError

__all__ = ["min_jerk", "Waypoints", "ik_site", "Trial", "plan_session"]


def min_jerk(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-jerk blend s(tau) and its first two derivatives w.r.t. tau (tau clipped to 0..1)."""
    t = np.clip(tau, 0.0, 1.0)
    t2 = t * t
    s = t2 * t * (10.0 - 15.0 * t + 6.0 * t2)
    ds = 30.0 * t2 * (1.0 - t) ** 2
    dds = 60.0 * t * (1.0 - t) * (1.0 - 2.0 * t)
    return s, ds, dds


@dataclass(frozen=True)
class Waypoints:
    """Postures at times; consecutive postures are joined by minimum-jerk segments.

    times: (W,) increasing seconds; postures: (W, nq). Before the first and after the last
    waypoint the posture is held.
    """

    times: np.ndarray
    postures: np.ndarray

    def evaluate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity, acceleration (each (T, nq)) at times ``t`` (T,)."""
        t = np.asarray(t, dtype=np.float64)
        tw, P = self.times, self.postures
        i = np.clip(np.searchsorted(tw, t, side="right") - 1, 0, len(tw) - 2)
        t0, t1 = tw[i], tw[i + 1]
        dur = np.maximum(t1 - t0, 1e-12)
        s, ds, dds = min_jerk((t - t0) / dur)
        dq = P[i + 1] - P[i]
        q = P[i] + s[:, None] * dq
        qd = (ds / dur)[:, None] * dq
        qdd = (dds / dur ** 2)[:, None] * dq
        before, after = t < tw[0], t >= tw[-1]
        q[before], q[after] = P[0], P[-1]
        qd[before | after] = 0.0
        qdd[before | after] = 0.0
        return q, qd, qdd


def ik_site(m: mujoco.MjModel, site: str, target: np.ndarray, q_init: np.ndarray,
            lo: np.ndarray, hi: np.ndarray, *, iters: int = 100, damping: float = 1e-3,
            posture_weight: float = 1e-3) -> tuple[np.ndarray, float]:
    """Joint angles that put ``site`` on ``target`` (m): damped least squares within bounds.

    A weak pull toward ``q_init`` picks a natural solution among the redundant ones.
    Returns ``(q, residual_m)``. Only for fixed-base models (qpos == joint angles).
    """
    d = mujoco.MjData(m)
    sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, site)
    if sid < 0:
        raise ConfigError(f"no site {site!r} in the model", field="body")
    q = np.clip(q_init.astype(np.float64), lo, hi)
    jac = np.zeros((3, m.nv))
    err = np.inf
    for _ in range(iters):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        e = target - d.site_xpos[sid]
        err = float(np.linalg.norm(e))
        if err < 1e-7:
            break
        mujoco.mj_jacSite(m, d, jac, None, sid)
        # scale the damping to the Jacobian so it works for millimetre-sized bodies
        lam = damping * (np.linalg.norm(jac) ** 2 + 1e-12)
        H = jac.T @ jac + (lam + posture_weight * lam) * np.eye(m.nv)
        dq = np.linalg.solve(H, jac.T @ e + posture_weight * lam * (q_init - q))
        q = np.clip(q + dq, lo, hi)
    return q, err


@dataclass(frozen=True)
class Trial:
    """One reach: onset, arrival, end of hold, end of withdrawal (s), target of the paw site
    (m), the posture reached, the posture that would put the site on the target (the same
    unless the reach is a miss), outcome."""

    start: float
    arrive: float
    leave: float
    stop: float
    target: np.ndarray
    posture: np.ndarray
    outcome: str
    target_posture: np.ndarray | None = None


def plan_session(m: mujoco.MjModel, paw_site: str, rest: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, duration: float, rng: np.random.Generator, *,
                 reach_s=(0.15, 0.40), hold_s=(0.05, 0.15), withdraw_s=(0.10, 0.25),
                 pause_s=(0.3, 0.9), reach_dir=(1.0, 0.0, 0.0), distance_m=(0.004, 0.008),
                 spread_m: float = 0.0015, rest_jitter: float = 0.03,
                 success_rate: float = 0.8, max_ik_error_m: float = 5e-4,
                 ) -> tuple[Waypoints, list[Trial]]:
    """Reach schedule and joint-space waypoints for a session of ``duration`` seconds.

    Targets: the paw's rest position moved ``distance_m`` (uniform range) along ``reach_dir``
    plus isotropic Gaussian spread ``spread_m``; each is reached by IK on ``paw_site``
    (targets IK cannot reach within ``max_ik_error_m`` are redrawn). Missed reaches
    (probability ``1 - success_rate``) stop short: the paw ends 40-70 % of the way. Rest
    postures vary by ``rest_jitter`` rad per joint between trials.
    """
    d = mujoco.MjData(m)
    sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, paw_site)
    margin = 0.05 * (hi - lo)
    lo_in, hi_in = lo + margin, hi - margin
    rest = np.clip(rest, lo_in, hi_in)
    d.qpos[:] = rest
    mujoco.mj_kinematics(m, d)
    paw_rest = d.site_xpos[sid].copy()
    direction = np.asarray(reach_dir, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    u = lambda r: float(rng.uniform(*r))  # noqa: E731
    times = [0.0]
    postures = [rest]
    trials: list[Trial] = []
    t = u(pause_s) * 0.5
    cur = rest
    while True:
        r_dur, h_dur, w_dur = u(reach_s), u(hold_s), u(withdraw_s)
        if t + r_dur + h_dur + w_dur > duration - 0.05:
            break
        for _attempt in range(20):
            target = paw_rest + u(distance_m) * direction + rng.normal(0, spread_m, 3)
            q_t, err = ik_site(m, paw_site, target, cur, lo_in, hi_in)
            if err <= max_ik_error_m:
                break
        else:
            raise ConfigError("could not find reachable reach targets (IK residual "
                              f"{err * 1e3:.2f} mm)", field="reach_dir/distance",
                              expected="targets inside the paw's workspace")
        outcome = "success" if rng.uniform() < success_rate else "miss"
        q_full = q_t
        if outcome == "miss":  # stop short of the target
            q_t = cur + rng.uniform(0.4, 0.7) * (q_t - cur)
        new_rest = np.clip(rest + rng.normal(0, rest_jitter, rest.shape), lo_in, hi_in)
        times += [t, t + r_dur, t + r_dur + h_dur, t + r_dur + h_dur + w_dur]
        postures += [cur, q_t, q_t, new_rest]
        trials.append(Trial(t, t + r_dur, t + r_dur + h_dur, t + r_dur + h_dur + w_dur,
                            target, q_t, outcome, q_full))
        cur = new_rest
        t = t + r_dur + h_dur + w_dur + u(pause_s)
    times.append(max(duration, times[-1] + 1e-3))
    postures.append(cur)
    return Waypoints(np.asarray(times), np.asarray(postures)), trials
