"""The C-engine and MJX backends give the same trajectories for the same excitations.

Tolerance: MJX runs in float32, the C engine in float64; over 8 control steps (32 physics
steps) of the toy arm the observed differences are ~1e-7 rad (qpos), ~1e-6 rad/s (qvel),
~1e-7 N (forces). The test allows 1e-5 rad for qpos, 1e-4 rad/s for qvel and 1e-5 of each
quantity's scale elsewhere: a real mismatch (a wrong sub-step count, a sensor of the wrong
state, a missing activation update) is orders of magnitude larger.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuroimit.imitation import toy_arm
from neuroimit.imitation.backends import make_spec
from neuroimit.imitation.backends.cpu import CpuPhysics
from neuroimit.imitation.backends.mjx import MjxPhysics


def test_cpu_and_mjx_trajectories_agree():
    body = toy_arm()
    spec = make_spec(body, 200.0)
    cpu, mjx_ = CpuPhysics(spec), MjxPhysics(spec)
    f = jax.jit(mjx_.__call__)
    rng = np.random.default_rng(1)
    n = 3
    qp = rng.uniform(-0.4, 0.4, (n, spec.nq)) + np.array([0.0, 0.6])
    sc = (qp, np.zeros((n, spec.nv)), np.zeros((n, spec.na)))
    sm = tuple(jnp.asarray(x, jnp.float32) for x in sc)
    worst = np.zeros(7)
    moved = 0.0
    for _ in range(8):
        u = rng.uniform(0, 1, (n, spec.nu))
        oc = cpu.step_numpy(*sc, u)
        om = f(*sm, jnp.asarray(u, jnp.float32))
        for i, (a, b) in enumerate(zip(om, oc)):
            scale = max(np.abs(b).max(), 1e-12)
            worst[i] = max(worst[i], np.abs(np.asarray(a) - b).max() / scale)
        assert np.abs(np.asarray(om.qpos) - oc.qpos).max() < 1e-5
        assert np.abs(np.asarray(om.qvel) - oc.qvel).max() < 1e-4
        moved = max(moved, np.abs(oc.qpos - qp).max())
        sc, sm = (oc.qpos, oc.qvel, oc.act), (om.qpos, om.qvel, om.act)
    assert np.all(worst < 1e-5), worst
    assert moved > 0.01          # the arm actually moved: the comparison is not trivial
