"""Small MJCF models generated in code, for tests and benchmarks of the STAC solver.

:func:`chain_xml` builds an arm-like chain (fixed base or free root) and :func:`whole_body_xml`
a branching, rodent-sized free-root "whole body" with ~20 keypoint sites (spine, head, four
limbs), so the solver can be tested and timed without any external model file.

>>> import mujoco
>>> m = mujoco.MjModel.from_xml_string(whole_body_xml())
>>> m.nsite >= 20, m.jnt_type[0] == 0   # free root
(True, True)
"""
from __future__ import annotations

__all__ = ["chain_xml", "whole_body_xml", "ARM_XML"]

#: a 4-joint arm with a slide and a ball joint elsewhere, every joint type but free (tests)
ARM_XML = """
<mujoco model="test_arm">
  <compiler angle="radian" boundmass="1e-5" boundinertia="1e-10"/>
  <worldbody>
    <body name="base" pos="0.001 0.002 0.003" quat="0.9 0.1 0.2 0.1">
      <site name="s_base" pos="0.001 0 0"/>
      <body name="upper" pos="0.0005 0 0" euler="0.1 0.2 0.3">
        <joint name="j1" type="hinge" axis="0 0 1" pos="0.0002 0 0" range="-1.5 1.5"/>
        <joint name="j2" type="hinge" axis="0 1 0.2" range="-1 2" ref="0.3"/>
        <joint name="j3" type="hinge" axis="1 0 0" range="-0.6 0.6"/>
        <site name="s_mid" pos="0.006 0.0005 0"/>
        <body name="lower" pos="0.012 0 0" euler="0 0.3 0">
          <joint name="j4" type="hinge" axis="0 1 0" range="-0.2 2.2"/>
          <site name="s_tip" pos="0.010 0.001 0.0005" euler="0.3 0 0"/>
          <body name="hand" pos="0.010 0 0">
            <joint name="slide" type="slide" axis="1 0.5 0" range="-0.001 0.001"/>
            <joint name="ball" type="ball" pos="0.001 0 0"/>
            <site name="s_hand" pos="0.004 0.001 0"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def chain_xml(n_links: int = 4, *, free_root: bool = False, link: float = 0.01,
              limit: float = 1.8) -> str:
    """An n-link chain of alternating hinge axes with one site at each link's end.

    Joints ``j0..j{n-1}`` (range ``+-limit``), sites ``s0..s{n}`` (``s0`` on the root body).
    """
    lines = ['<mujoco model="chain">', '  <compiler angle="radian" boundmass="1e-5" boundinertia="1e-10"/>', "  <worldbody>",
             '    <body name="root" pos="0 0 0.05">']
    if free_root:
        lines.append('      <freejoint name="root"/>')
    lines.append('      <site name="s0" pos="0 0 0"/>')
    lines.append('      <site name="sr1" pos="0 0.004 0"/>')
    lines.append('      <site name="sr2" pos="0 0 0.004"/>')
    axes = ["0 0 1", "0 1 0", "1 0 0"]
    indent = "      "
    for i in range(n_links):
        lines.append(f'{indent}<body name="l{i}" pos="{link if i else 0.0:g} 0 0">')
        lines.append(f'{indent}  <joint name="j{i}" type="hinge" axis="{axes[i % 3]}" '
                     f'range="{-limit:g} {limit:g}"/>')
        lines.append(f'{indent}  <site name="s{i + 1}" pos="{link:g} 0.001 0"/>')
        indent += "  "
    for _ in range(n_links):
        indent = indent[:-2]
        lines.append(f"{indent}</body>")
    lines += ["    </body>", "  </worldbody>", "</mujoco>"]
    return "\n".join(lines)


def _limb(name: str, pos: str, axis_sign: float, lengths=(0.012, 0.012, 0.006)) -> str:
    s = axis_sign
    a, b, c = lengths
    return f"""
      <body name="{name}_1" pos="{pos}">
        <joint name="{name}_abd" type="hinge" axis="1 0 0" range="-1.2 1.2"/>
        <joint name="{name}_flex" type="hinge" axis="0 1 0" range="-1.5 1.5"/>
        <joint name="{name}_rot" type="hinge" axis="0 0 1" range="-0.8 0.8"/>
        <site name="{name}_prox" pos="0 {0.002 * s:g} 0"/>
        <body name="{name}_2" pos="0 0 {-a:g}">
          <joint name="{name}_knee" type="hinge" axis="0 1 0" range="-2.0 0.2"/>
          <site name="{name}_mid" pos="0 0 0"/>
          <body name="{name}_3" pos="0 0 {-b:g}">
            <joint name="{name}_ankle" type="hinge" axis="0 1 0" range="-1.0 1.0"/>
            <joint name="{name}_ankle_y" type="hinge" axis="1 0 0" range="-0.5 0.5"/>
            <site name="{name}_dist" pos="0 0 0"/>
            <site name="{name}_end" pos="{c:g} 0 -0.001"/>
          </body>
        </body>
      </body>"""


def whole_body_xml() -> str:
    """A free-root rodent-like body: 3-segment spine, head, four 3-segment limbs, 22 sites,
    nq = 7 + 28 joints. Sizes are rat-like (body ~12 cm)."""
    limbs = "".join([
        _limb("fl", "0.03 0.012 -0.005", 1.0), _limb("fr", "0.03 -0.012 -0.005", -1.0),
    ])
    hind = "".join([
        _limb("hl", "-0.02 0.014 -0.005", 1.0, (0.02, 0.02, 0.01)),
        _limb("hr", "-0.02 -0.014 -0.005", -1.0, (0.02, 0.02, 0.01)),
    ])
    return f"""<mujoco model="synthetic_rodent">
  <compiler angle="radian" boundmass="1e-5" boundinertia="1e-10"/>
  <worldbody>
    <body name="torso" pos="0 0 0.05">
      <freejoint name="root"/>
      <site name="spine_m" pos="0 0 0.01"/>
      <site name="tail_base" pos="-0.05 0 0.005"/>
      <body name="spine_f" pos="0.03 0 0">
        <joint name="spine_f_y" type="hinge" axis="0 1 0" range="-0.6 0.6"/>
        <joint name="spine_f_z" type="hinge" axis="0 0 1" range="-0.6 0.6"/>
        <site name="spine_f_site" pos="0 0 0.01"/>
        <body name="head" pos="0.03 0 0.005">
          <joint name="neck_y" type="hinge" axis="0 1 0" range="-0.8 0.8"/>
          <joint name="neck_z" type="hinge" axis="0 0 1" range="-0.8 0.8"/>
          <joint name="neck_x" type="hinge" axis="1 0 0" range="-0.5 0.5"/>
          <site name="snout" pos="0.03 0 0"/>
          <site name="ear_l" pos="0.01 0.01 0.008"/>
          <site name="ear_r" pos="0.01 -0.01 0.008"/>
        </body>{limbs}
      </body>
      <body name="spine_l" pos="-0.03 0 0">
        <joint name="spine_l_y" type="hinge" axis="0 1 0" range="-0.6 0.6"/>
        <joint name="spine_l_z" type="hinge" axis="0 0 1" range="-0.6 0.6"/>
        <site name="spine_l_site" pos="0 0 0.01"/>{hind}
      </body>
    </body>
  </worldbody>
</mujoco>
"""
