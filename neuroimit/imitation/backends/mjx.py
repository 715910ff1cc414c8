"""MJX backend: the same batched control step as :mod:`.cpu`, in JAX (vmapped ``mjx.step``).

For accelerators. Muscle observables are those the last ``mjx.step`` computed before
integrating (as the C backend's sensors; see :class:`~.common.PhysOut`), keypoints come from
forward kinematics at the new state; warm-starts start at zero each control step.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

from .common import PhysOut, PhysicsSpec, keypoint_fn

__all__ = ["MjxPhysics"]


class MjxPhysics:
    """Batched control step on MJX; pure JAX, so it jits, vmaps and shards."""
    name = "mjx"

    def __init__(self, spec: PhysicsSpec):
        self.spec = spec
        self.model = mjx.put_model(spec.mj_model)
        self.data0 = mjx.make_data(self.model)
        self._kp = keypoint_fn(spec)

    def _one(self, qpos, qvel, act, ctrl):
        d = self.data0.replace(qpos=qpos, qvel=qvel, act=act, ctrl=ctrl)

        def body(d, _):
            return mjx.step(self.model, d), None

        d, _ = jax.lax.scan(body, d, None, length=self.spec.n_substeps)
        return PhysOut(d.qpos, d.qvel, d.act, None, d.actuator_length, d.actuator_velocity,
                       d.actuator_force)

    def __call__(self, qpos, qvel, act, ctrl) -> PhysOut:
        out = jax.vmap(self._one)(qpos, qvel, act, ctrl)
        out = out._replace(kp=self._kp(out.qpos))
        return PhysOut(*(x.astype(jnp.float32) for x in out))
