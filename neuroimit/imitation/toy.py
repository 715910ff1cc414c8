"""A tiny muscle-driven arm (2 hinges, 4 muscles) for tests, examples and fallbacks.

It offers the subset of :class:`neuroimit.body.BodyModel` that the imitation code uses
(``name, xml, mj_model, mjx_model(), joint_names, qpos_names, nq, nv, nu, muscle_names,
keypoint_sites, default_qpos, joint_ranges``), so the trainer can be exercised before (or
without) the full forelimb model.

>>> body = toy_arm()
>>> body.nq, body.nu
(2, 4)
"""
from __future__ import annotations

from functools import cached_property

import mujoco
import numpy as np

__all__ = ["ToyBody", "toy_arm", "TOY_XML"]

# mouse scale: 12 mm upper arm, 10 mm forearm, ~1 g in total; muscles on spatial tendons
TOY_XML = """
<mujoco model="toy_arm">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.00125" integrator="Euler" gravity="0 0 -9.81"/>
  <default>
    <joint damping="2e-5" armature="1e-6"/>
    <geom type="capsule" size="0.0015" density="1000" contype="0" conaffinity="0"/>
    <muscle ctrllimited="true" ctrlrange="0 1" timeconst="0.015 0.06"/>
  </default>
  <worldbody>
    <site name="o_shoulder_flex" pos="0.004 0 0.003"/>
    <site name="o_shoulder_ext" pos="-0.004 0 0.003"/>
    <body name="upper" pos="0 0 0">
      <joint name="shoulder" type="hinge" axis="0 1 0" range="-1.2 1.2"/>
      <geom fromto="0 0 0 0 0 -0.012"/>
      <site name="kp_shoulder" pos="0 0 0"/>
      <site name="i_shoulder_flex" pos="0.0015 0 -0.004"/>
      <site name="i_shoulder_ext" pos="-0.0015 0 -0.004"/>
      <site name="o_elbow_flex" pos="0.0015 0 -0.003"/>
      <site name="o_elbow_ext" pos="-0.0015 0 -0.003"/>
      <body name="fore" pos="0 0 -0.012">
        <joint name="elbow" type="hinge" axis="0 1 0" range="-0.2 1.8"/>
        <geom fromto="0 0 0 0 0 -0.010" size="0.0012"/>
        <site name="kp_elbow" pos="0 0 0"/>
        <site name="i_elbow_flex" pos="0.0012 0 -0.003"/>
        <site name="i_elbow_ext" pos="-0.0012 0 0.002"/>
        <site name="kp_paw" pos="0 0 -0.010"/>
      </body>
    </body>
  </worldbody>
  <tendon>
    <spatial name="t_shoulder_flex"><site site="o_shoulder_flex"/><site site="i_shoulder_flex"/></spatial>
    <spatial name="t_shoulder_ext"><site site="o_shoulder_ext"/><site site="i_shoulder_ext"/></spatial>
    <spatial name="t_elbow_flex"><site site="o_elbow_flex"/><site site="i_elbow_flex"/></spatial>
    <spatial name="t_elbow_ext"><site site="o_elbow_ext"/><site site="i_elbow_ext"/></spatial>
  </tendon>
  <actuator>
    <muscle name="shoulder_flexor" tendon="t_shoulder_flex" force="0.6"/>
    <muscle name="shoulder_extensor" tendon="t_shoulder_ext" force="0.6"/>
    <muscle name="elbow_flexor" tendon="t_elbow_flex" force="0.4"/>
    <muscle name="elbow_extensor" tendon="t_elbow_ext" force="0.4"/>
  </actuator>
</mujoco>
"""


class ToyBody:
    """Duck-typed stand-in for :class:`neuroimit.body.BodyModel` built from MJCF text."""

    def __init__(self, xml: str = TOY_XML, name: str = "toy_arm",
                 keypoint_sites: dict[str, str] | None = None):
        self.xml = xml
        self.name = name
        self.keypoint_sites = dict(keypoint_sites or {"Shoulder": "kp_shoulder",
                                                      "Elbow": "kp_elbow", "Paw": "kp_paw"})

    @cached_property
    def mj_model(self) -> mujoco.MjModel:
        return mujoco.MjModel.from_xml_string(self.xml)

    def mjx_model(self):
        from mujoco import mjx
        return mjx.put_model(self.mj_model)

    def _names(self, objtype, n):
        return tuple(mujoco.mj_id2name(self.mj_model, objtype, i) for i in range(n))

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._names(mujoco.mjtObj.mjOBJ_JOINT, self.mj_model.njnt)

    @property
    def qpos_names(self) -> tuple[str, ...]:
        return self.joint_names

    @property
    def joint_ranges(self) -> np.ndarray:
        return np.asarray(self.mj_model.jnt_range, dtype=float).copy()

    @property
    def muscle_names(self) -> tuple[str, ...]:
        return self._names(mujoco.mjtObj.mjOBJ_ACTUATOR, self.mj_model.nu)

    nq = property(lambda self: int(self.mj_model.nq))
    nv = property(lambda self: int(self.mj_model.nv))
    nu = property(lambda self: int(self.mj_model.nu))
    has_free_root = False

    @property
    def default_qpos(self) -> np.ndarray:
        return np.asarray(self.mj_model.qpos0, dtype=float).copy()


def toy_arm() -> ToyBody:
    """The 2-hinge, 4-muscle toy arm (see :data:`TOY_XML`)."""
    return ToyBody()
