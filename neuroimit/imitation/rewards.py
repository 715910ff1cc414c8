"""Reward terms: tracking terms ``w * exp(-k * err2)`` and the constraint penalties.

Pure functions on arrays; leading batch dimensions are allowed everywhere (reductions are
over the trailing axes), so they work per environment or on a batch.

>>> import numpy as np
>>> float(exp_term(np.array([0.1, 0.2]), w=2.0, k=10.0))   # 2 * exp(-10 * 0.05)
1.2130613194252668
"""
from __future__ import annotations

import jax.numpy as jnp

from .config import RewardConfig

__all__ = ["exp_term", "tracking_terms", "penalty_terms", "total_reward"]


def exp_term(err, *, w: float, k: float, axes=-1):
    """``w * exp(-k * sum(err**2 over axes))``."""
    return w * jnp.exp(-k * jnp.sum(jnp.square(err), axis=axes))


def tracking_terms(qpos, qvel, kp, ref_qpos, ref_qvel, ref_kp, rc: RewardConfig) -> dict:
    """Tracking rewards for joints (rad), joint velocities (rad/s) and keypoints (m).

    qpos/ref_qpos (..., nq), qvel/ref_qvel (..., nv), kp/ref_kp (..., K, 3).
    """
    return {
        "joint": exp_term(qpos - ref_qpos, w=rc.w_joint, k=rc.k_joint),
        "joint_vel": exp_term(qvel - ref_qvel, w=rc.w_joint_vel, k=rc.k_joint_vel),
        "keypoint": exp_term(kp - ref_kp, w=rc.w_keypoint, k=rc.k_keypoint, axes=(-2, -1)),
    }


def penalty_terms(act, u, u_prev, force, mvel, peak_force, qvel, qacc, qacc_prev,
                  rc: RewardConfig) -> dict:
    """Constraint terms (positive numbers, already multiplied by their weights).

    act, u, u_prev (..., nu) in [0, 1]; force (..., nu) N; mvel (..., nu) m/s (muscle-tendon
    velocity; MuJoCo muscles have rigid tendons, so it is the fibre velocity along the line of
    action); peak_force (nu,) N; qvel, qacc, qacc_prev (..., nv).

    energy: "activation" -> mean(a^2); "metabolic" -> mean(a * |F v|) / (F0 * v_ref).
    control: mean(u^2) and mean((u - u_prev)^2). velocity: mean((qvel/vel_scale)^2).
    jerk: mean(((qacc - qacc_prev)/jerk_scale)^2).
    """
    if rc.energy_kind == "metabolic":
        e = jnp.mean(act * jnp.abs(force * mvel) / (peak_force * rc.metabolic_v_ref), axis=-1)
    else:
        e = jnp.mean(jnp.square(act), axis=-1)
    return {
        "energy": rc.energy * e,
        "ctrl": rc.ctrl * jnp.mean(jnp.square(u), axis=-1),
        "ctrl_change": rc.ctrl_change * jnp.mean(jnp.square(u - u_prev), axis=-1),
        "velocity": rc.velocity * jnp.mean(jnp.square(qvel / rc.vel_scale), axis=-1),
        "jerk": rc.jerk * jnp.mean(jnp.square((qacc - qacc_prev) / rc.jerk_scale), axis=-1),
    }


def total_reward(track: dict, pen: dict, rc: RewardConfig):
    """Sum of tracking terms + alive bonus - penalties."""
    return sum(track.values()) + rc.alive - sum(pen.values())
