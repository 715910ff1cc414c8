"""Per-segment scaling of any MJCF body (the built-in forelimb rebuilds itself instead).

Scaling segment ``b`` by ``s`` multiplies, in b's own frame: the positions of b's child bodies,
of its sites (tendon path sites included), of its geoms (``pos`` and ``fromto``), its inertial
centre, and the lengths of its geoms (capsule/cylinder half-length, box/ellipsoid sizes; sphere
radii and meshes are left alone). Muscle actuators' length ranges are multiplied by the ratio
of their path length at qpos0 (scaled / original), so L0 and the tendon slack length scale with
the muscle-tendon unit, as OpenSim's scale tool does.

    >>> from neuroimit.body.scaling import scale_xml
    >>> xml = '''<mujoco><worldbody><body name="a"><joint/>
    ...   <geom type="capsule" size=".01" fromto="0 0 0 0 0 -.1"/>
    ...   <body name="b" pos="0 0 -.1"><joint/><geom size=".01"/></body>
    ... </body></worldbody></mujoco>'''
    >>> "-0.2" in scale_xml(xml, {"a": 2.0})
    True
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import ConfigError

__all__ = ["scale_xml"]


def _lengths_at_qpos0(model) -> np.ndarray:
    import mujoco
    d = mujoco.MjData(model)
    mujoco.mj_fwdPosition(model, d)
    return np.array(d.actuator_length)


def scale_xml(xml: str, scales: Mapping[str, float], *, source: str = "<MJCF>") -> str:
    """MJCF text with the named bodies scaled by their factors (see module docstring)."""
    import mujoco
    spec = mujoco.MjSpec.from_string(xml)
    before = spec.compile()
    G = mujoco.mjtGeom
    for name, s in scales.items():
        body = spec.body(name)
        if body is None:
            raise ConfigError(f"no body named {name!r}", file=source, field="scales",
                              expected="body names of the model")
        s = float(s)
        for child in body.bodies:
            child.pos = np.asarray(child.pos) * s
        for site in body.sites:
            site.pos = np.asarray(site.pos) * s
            if site.fromto is not None and np.all(np.isfinite(site.fromto)):
                site.fromto = np.asarray(site.fromto) * s
        for g in body.geoms:
            g.pos = np.asarray(g.pos) * s
            ft = np.asarray(g.fromto)
            if np.all(np.isfinite(ft)) and np.any(ft != 0):
                g.fromto = ft * s
            elif g.type in (G.mjGEOM_CAPSULE, G.mjGEOM_CYLINDER):
                size = np.array(g.size)
                size[1] *= s
                g.size = size
            elif g.type in (G.mjGEOM_BOX, G.mjGEOM_ELLIPSOID):
                g.size = np.asarray(g.size) * s
        body.ipos = np.asarray(body.ipos) * s
    after = spec.compile()
    if before.nu:
        ratio = _lengths_at_qpos0(after) / np.maximum(_lengths_at_qpos0(before), 1e-12)
        for i, act in enumerate(spec.actuators):
            lr = np.asarray(act.lengthrange, float)
            if act.gaintype == mujoco.mjtGain.mjGAIN_MUSCLE and np.any(lr != 0):
                act.lengthrange = lr * ratio[i]
            elif act.gaintype == mujoco.mjtGain.mjGAIN_MUSCLE:
                act.lengthrange = np.asarray(before.actuator_lengthrange[i]) * ratio[i]
        spec.compile()
    return spec.to_xml()
