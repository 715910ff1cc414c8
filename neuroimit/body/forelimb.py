"""The built-in right mouse forelimb, written as MJCF by code.

Geometry (all lengths in mm in the tables below, converted to metres in the XML):

* frame: x rostral (forward), y left, z up; the shoulder (glenohumeral centre) is the world
  origin and the scapula/thorax is fixed (no free root);
* zero pose: humerus hanging straight down (-z); forearm at an interior elbow angle of
  ``ELBOW_ZERO_INTERIOR`` (1.9 rad, so the forearm points forward-down); paw in line with the
  forearm;
* segment lengths: humerus 12 mm, forearm (elbow-wrist) 10 mm, paw (wrist-paw keypoint) 4.5 mm
  (real reach markers: shoulder-elbow ~12 mm, elbow-wrist ~9-10 mm, wrist-paw ~4-4.6 mm);
* joints (Gilmer et al. 2025 ranges): ``shoulder_elevation`` (abduction positive, axis -x),
  ``shoulder_extension`` (elbow moves caudally for positive, axis +y), ``shoulder_rotation``
  (internal rotation positive, about the humeral long axis), ``elbow_flexion`` (closing the
  elbow positive), optional ``wrist_flexion`` (palmar flexion positive; locked in Gilmer's model,
  our range +-0.8 rad);
* masses from Gilmer's template (g): humerus 0.126, ulna + radius 0.766, hand 0.073.

Muscle parameters come from Gilmer et al. 2025 (``GILMER`` below). Their template is ~1.6x
smaller than the adult arm modelled here, so fibre and tendon slack lengths are scaled by
``TEMPLATE_SCALE`` (OpenSim's scale tool scales both with the muscle-tendon length), and the
pennation is folded in: MuJoCo's L0 = 1.6 * L0_gilmer * cos(pennation), force = Fmax *
cos(pennation) (MuJoCo has no pennation). Tendon slack lengths are then checked against the
geometry (see :func:`muscle_parameters`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import math

import numpy as np

__all__ = [
    "GILMER", "MUSCLES", "WRIST_MUSCLES", "JOINTS", "WRIST_JOINT", "SEGMENT_LENGTHS_MM",
    "DEFAULT_QPOS", "KEYPOINT_MAP", "EMG_MAP", "MuscleSpec", "build_xml", "muscle_parameters",
]

#: Gilmer et al., J Neurophysiol 133:1266-1278 (2025), template model:
#: name -> (Fmax N, L0 mm, tendon slack mm, pennation rad)
GILMER: dict[str, tuple[float, float, float, float]] = {
    "Pectoralis clavicle head": (0.0326, 5.6, 0.2, 0.25),
    "Biceps short head": (0.0178, 5.0, 0.5, 0.10),
    "Biceps long head": (0.0934, 8.5, 0.2, 0.10),
    "Deltoid medial": (0.0687, 6.0, 0.002, 0.20),
    "Deltoid posterior": (0.0677, 3.5, 0.1, 0.20),
    "Triceps lateral head": (0.1252, 7.0, 0.01, 0.17),
    "Triceps long head": (0.6125, 8.0, 0.7, 0.30),
    "Triceps medial head": (0.1601, 4.0, 0.1, 0.20),
    "Brachialis proximal": (0.0660, 7.0, 0.1, 0.10),
    "Brachialis distal": (0.0671, 7.0, 0.01, 0.10),
    "Anconeus": (0.0233, 3.0, 0.2, 0.10),
    "Subscapularis superior": (0.3407, 5.0, 0.1, 0.20),
    "Infraspinatus": (0.0654, 3.0, 0.1, 0.20),
    "Latissimus dorsi rostral": (0.1335, 11.0, 0.5, 0.36),
    "Latissimus dorsi caudal": (0.1335, 11.0, 5.0, 0.36),
    "Pectoralis major anterior": (0.2329, 8.0, 0.2, 0.30),
    "Pectoralis major posterior": (0.1702, 7.0, 0.5, 0.30),
    "Pronator teres": (0.020, 3.0, 0.1, 0.10),
    "Flexor carpi radialis": (0.020, 7.0, 0.1, 0.10),
    "Brachioradialis": (0.020, 7.0, 0.0001, 0.10),
}

#: Gilmer template -> modelled adult arm (their scaled adult example is ~1.6x longer).
TEMPLATE_SCALE = 1.6
#: activation / deactivation time constants (s), Gilmer et al. 2025
TIMECONST = (0.015, 0.060)
#: maximum contraction velocity in L0/s, Gilmer et al. 2025 (MuJoCo's default is 1.5)
VMAX = 10.0
#: interior elbow angle (rad) at elbow_flexion = 0
ELBOW_ZERO_INTERIOR = 1.9
#: segment lengths (mm)
SEGMENT_LENGTHS_MM = {"humerus": 12.0, "forearm": 10.0, "paw": 4.5}
#: body masses (kg), Gilmer template: humerus; ulna + radius; hand
SEGMENT_MASS = {"humerus": 0.126e-3, "forearm": (0.713 + 0.053) * 1e-3, "paw": 0.073e-3}
#: bone radii (mm) used for visual capsules and inertia
SEGMENT_RADIUS_MM = {"humerus": 0.55, "forearm": 0.5, "paw": 0.6}

#: (name, axis in the parent-aligned frame, range rad)
JOINTS: tuple[tuple[str, tuple[float, float, float], tuple[float, float]], ...] = (
    ("shoulder_elevation", (-1.0, 0.0, 0.0), (-0.5, 2.75)),
    ("shoulder_extension", (0.0, 1.0, 0.0), (-1.46, 2.2)),
    ("shoulder_rotation", (0.0, 0.0, 1.0), (-1.0, 0.5)),
    ("elbow_flexion", (0.0, -1.0, 0.0), (-1.0, 1.25)),
)
WRIST_JOINT = ("wrist_flexion", (0.0, 1.0, 0.0), (-0.8, 0.8))
#: viscous damping (N m s / rad) and armature (kg m^2) of every joint: armature stands for
#: soft tissue moving with the joint and keeps the 1.25 ms explicit step stable when the
#: humerus' own axial inertia (~2e-11 kg m^2) is all that resists shoulder rotation.
JOINT_DAMPING = 1.0e-6
JOINT_ARMATURE = 5.0e-9
#: joint-limit constraint time constant (s): stiff enough that full activation cannot push a
#: joint far past its range, and > 2 * timestep for stability.
LIMIT_SOLREF = (0.005, 1.0)
TIMESTEP = 0.00125

#: a standing rest posture (rad), inside all ranges: humerus back-down, elbow flexed
DEFAULT_QPOS = {"shoulder_elevation": 0.1, "shoulder_extension": 0.6,
                "shoulder_rotation": 0.0, "elbow_flexion": 0.35, "wrist_flexion": 0.0}

KEYPOINT_MAP = {"Shoulder": "kp_shoulder", "Elbow": "kp_elbow", "Wrist": "kp_wrist",
                "Paw": "kp_paw", "Hand": "kp_paw"}


@dataclass(frozen=True)
class MuscleSpec:
    """One muscle: its Gilmer row(s) and its path.

    ``path`` items are ``("site", frame, (x, y, z) mm)`` or ``("wrap", geom, frame, sidesite
    (x, y, z) mm | None)``; frame is ``thorax`` (world), ``humerus``, ``forearm`` or ``paw``.
    ``fmax_rows`` are summed for the force (a muscle lumping several Gilmer heads); ``row`` gives
    L0, tendon slack and pennation.
    """
    name: str
    row: str
    path: tuple
    fmax_rows: tuple[str, ...] = ()
    note: str = ""


def _s(frame, x, y, z):
    return ("site", frame, (x, y, z))


def _w(geom, frame=None, side=None):
    return ("wrap", geom, frame, side)


# Muscle paths (mm). Humerus frame: origin at the shoulder, -z distal, +x anterior, -y lateral.
# Forearm frame: origin at the elbow, -z distal, +x flexor (anterior) side, -x olecranon side.
MUSCLES: tuple[MuscleSpec, ...] = (
    MuscleSpec("pectoralis_clavicular", "Pectoralis clavicle head",
               (_s("thorax", 6.5, 6.5, -1.5), _s("humerus", 0.9, 0.2, -3.0))),
    MuscleSpec("latissimus_dorsi", "Latissimus dorsi rostral",
               (_s("thorax", -11.0, 4.0, 3.0), _s("humerus", -0.6, 0.5, -3.5)),
               fmax_rows=("Latissimus dorsi rostral",),
               note="rostral head's parameters (the caudal head's 5 mm tendon does not fit)"),
    MuscleSpec("deltoid_anterior", "Deltoid medial",
               (_s("thorax", 1.0, -1.0, 0.6), _w("humeral_head"),
                _s("humerus", 0.7, -0.8, -6.0)),
               note="Gilmer lists no anterior head: the medial (acromial) head's values are used"),
    MuscleSpec("deltoid_medial", "Deltoid medial",
               (_s("thorax", 0.0, -1.3, 0.8), _w("humeral_head"),
                _s("humerus", 0.0, -0.9, -6.0))),
    MuscleSpec("deltoid_posterior", "Deltoid posterior",
               (_s("thorax", -1.0, -1.0, 0.7), _w("humeral_head"),
                _s("humerus", -0.6, -0.8, -6.0))),
    MuscleSpec("subscapularis", "Subscapularis superior",
               (_s("thorax", -5.5, 3.0, 2.5), _w("humeral_head"),
                _s("humerus", 0.6, 0.8, -1.2))),
    MuscleSpec("infraspinatus", "Infraspinatus",
               (_s("thorax", -5.5, -2.0, 2.0), _w("humeral_head"),
                _s("humerus", 0.3, -1.2, -1.5))),
    MuscleSpec("triceps_long", "Triceps long head",
               (_s("thorax", -1.8, 0.0, -1.0), _s("humerus", -1.0, 0.0, -8.0),
                _w("elbow", "humerus", (-2.0, 0.0, -12.0)), _s("forearm", -0.9, 0.0, 1.0))),
    MuscleSpec("triceps_lateral", "Triceps lateral head",
               (_s("humerus", -0.6, -0.6, -2.5), _w("elbow", "humerus", (-2.0, -0.2, -12.0)),
                _s("forearm", -0.9, -0.2, 1.0))),
    MuscleSpec("triceps_medial", "Triceps medial head",
               (_s("humerus", -0.6, 0.4, -6.0), _w("elbow", "humerus", (-2.0, 0.2, -12.0)),
                _s("forearm", -0.9, 0.1, 1.0))),
    MuscleSpec("brachialis", "Brachialis proximal",
               (_s("humerus", 0.6, -0.5, -3.0), _w("elbow_front", "humerus", (1.5, -0.3, -12.0)),
                _s("forearm", 0.7, 0.0, -1.6)),
               fmax_rows=("Brachialis proximal", "Brachialis distal"),
               note="one path for both heads: force = proximal + distal, L0/slack of the proximal"),
    MuscleSpec("biceps_long", "Biceps long head",
               (_s("thorax", 1.0, 0.0, 0.9), _w("humeral_head"),
                _s("humerus", 1.0, 0.0, -3.0), _w("elbow_front", "humerus", (1.5, 0.0, -12.0)),
                _s("forearm", 0.7, 0.0, -1.8))),
    MuscleSpec("biceps_short", "Biceps short head",
               (_s("thorax", 1.6, 1.0, 0.0), _s("humerus", 0.9, 0.3, -3.5),
                _w("elbow_front", "humerus", (1.5, 0.3, -12.0)), _s("forearm", 0.7, 0.1, -1.8))),
)

WRIST_MUSCLES: tuple[MuscleSpec, ...] = (
    MuscleSpec("flexor_carpi_radialis", "Flexor carpi radialis",
               (_s("humerus", -0.2, 0.8, -11.5), _s("forearm", -0.5, 0.3, -9.0),
                _w("wrist", "forearm", (-1.0, 0.0, -10.0)), _s("paw", -0.5, 0.0, -1.5))),
    MuscleSpec("extensor_carpi_radialis", "Flexor carpi radialis",
               (_s("humerus", 0.2, -0.8, -11.5), _s("forearm", 0.5, -0.2, -9.0),
                _w("wrist", "forearm", (1.0, 0.0, -10.0)), _s("paw", 0.5, 0.0, -1.5)),
               note="Gilmer lists no wrist extensor: the flexor carpi radialis values are used"),
)

#: EMG channel name -> muscle (names as used by mouse EMG data sets; lookup is case-insensitive)
EMG_MAP = {
    "Biceps": "biceps_long", "BicepsLong": "biceps_long", "BicepsShort": "biceps_short",
    "TriLong": "triceps_long", "TricepsLong": "triceps_long", "Triceps": "triceps_long",
    "TriLat": "triceps_lateral", "TricepsLateral": "triceps_lateral",
    "TriMed": "triceps_medial", "Brachialis": "brachialis",
    "Deltoid": "deltoid_anterior", "DeltAnt": "deltoid_anterior",
    "DeltMed": "deltoid_medial", "DeltPost": "deltoid_posterior",
    "Pectoralis": "pectoralis_clavicular", "Pec": "pectoralis_clavicular",
    "Latissimus": "latissimus_dorsi", "LatDorsi": "latissimus_dorsi",
    "Subscapularis": "subscapularis", "Infraspinatus": "infraspinatus",
}
WRIST_EMG_MAP = {"ECR": "extensor_carpi_radialis", "FCR": "flexor_carpi_radialis"}

# Wrap geoms (mm): humeral head sphere (centred on the joint) and the elbow cylinder (axis y).
# The sphere has no side sites: with a side site, MJX (mujoco-mjx 3.x) wraps a sphere in poses
# where the C engine does not (up to 5 mm of tendon length apart); without, they agree exactly.
HEAD_RADIUS = 0.8
ELBOW_RADIUS = 0.8
#: flexor-side elbow cylinder: keeps biceps/brachialis in front of the joint in deep flexion
ELBOW_FRONT_RADIUS = 0.6
#: wrist cylinder (only with the wrist joint): keeps the wrist muscles on their own side
WRIST_RADIUS = 0.4

_MM = 1e-3


def _f(*v: float) -> str:
    return " ".join(f"{x:.12g}" for x in v)


def _rod_inertia(m: float, length: float, r: float) -> tuple[float, float, float]:
    """Diagonal inertia (kg m^2) of a solid rod along z: (Ixx, Iyy, Izz)."""
    perp = m * (length ** 2 / 12.0 + r ** 2 / 4.0)
    return perp, perp, 0.5 * m * r ** 2


def _quat_y(angle: float) -> tuple[float, float, float, float]:
    return (math.cos(angle / 2), 0.0, math.sin(angle / 2), 0.0)


#: joint zones (mm from a joint centre along the bone) whose attachments keep their distance
#: to that joint when a segment is scaled: joint ends (condyles, olecranon, tuberosities) do not
#: grow with shaft length, so moment arms at the elbow and wrist stay anatomical.
JOINT_ZONE = 2.5


def _scaled_point(frame: str, p, scales: dict[str, float]) -> np.ndarray:
    """Attachment point (mm, in its frame) -> metres with segment scaling applied.

    thorax: multiplied by the humerus factor (the shoulder girdle grows with the humerus, so
    every shoulder muscle's geometry scales uniformly and keeps its fibre-length band);
    humerus: multiplied by its factor except points within ``JOINT_ZONE`` of the elbow, which
    keep their offset from the elbow; forearm/paw: only the coordinate along the bone (z) is
    multiplied, and points within ``JOINT_ZONE`` of either end keep their offset from that end.
    Every point is linear in the scale factor (STAC relies on it).
    """
    x, y, z = (float(v) for v in p)
    if frame == "thorax":
        return np.array([x, y, z]) * scales["humerus"] * _MM
    length = SEGMENT_LENGTHS_MM[frame]
    k = scales[frame]
    if z < -(length - JOINT_ZONE):           # distal joint zone: keep offset from the joint
        zz = -length * k + (z + length)
    elif frame == "humerus":
        return np.array([x, y, z]) * k * _MM
    elif z > -JOINT_ZONE:                    # proximal joint zone of forearm / paw
        zz = z
    else:
        zz = z * k
    return np.array([x, y, zz]) * _MM


def muscle_list(wrist: bool) -> tuple[MuscleSpec, ...]:
    return MUSCLES + (WRIST_MUSCLES if wrist else ())


def build_xml(*, wrist: bool = False, scales: dict[str, float] | None = None,
              muscle_params: dict[str, tuple[float, float, float]] | None = None) -> str:
    """MJCF text of the forelimb.

    ``scales``: per-segment length factors (humerus, forearm, paw; 1.0 = template): positions
    of sites, child bodies and bone geoms in a segment's frame are multiplied by its factor,
    masses scale linearly with length (constant cross-section).
    ``muscle_params``: muscle -> (force N, L0 m, tendon slack m); ``None`` writes placeholder
    values (used once to measure path lengths, see :func:`muscle_parameters`).
    """
    sc = {"humerus": 1.0, "forearm": 1.0, "paw": 1.0, **(scales or {})}
    L = {k: SEGMENT_LENGTHS_MM[k] * sc[k] * _MM for k in SEGMENT_LENGTHS_MM}
    R = {k: SEGMENT_RADIUS_MM[k] * _MM for k in SEGMENT_RADIUS_MM}
    M = {k: SEGMENT_MASS[k] * sc[k] for k in SEGMENT_MASS}
    muscles = muscle_list(wrist)

    # sites per frame, in metres (scaled along their segment)
    sites: dict[str, list[str]] = {"thorax": [], "humerus": [], "forearm": [], "paw": []}
    tendons: list[str] = []
    for ms in muscles:
        parts = []
        for i, item in enumerate(ms.path):
            if item[0] == "site":
                _, frame, p = item
                sname = f"{ms.name}_p{i}"
                sites[frame].append(f'<site name="{sname}" pos="{_f(*_scaled_point(frame, p, sc))}" '
                                    f'class="path"/>')
                parts.append(f'<site site="{sname}"/>')
            else:
                _, geom, frame, side = item
                if side is not None:
                    sname = f"{ms.name}_side{i}"
                    sites[frame].append(f'<site name="{sname}" pos="'
                                        f'{_f(*_scaled_point(frame, side, sc))}" class="side"/>')
                    parts.append(f'<geom geom="{geom}_wrap" sidesite="{sname}"/>')
                else:
                    parts.append(f'<geom geom="{geom}_wrap"/>')
        tendons.append(f'<spatial name="{ms.name}_tendon" class="muscle_path">'
                       + "".join(parts) + "</spatial>")

    acts = []
    for ms in muscles:
        if muscle_params is None:
            force, l0, lt = 0.1, 0.01, 0.001
        else:
            force, l0, lt = muscle_params[ms.name]
        acts.append(f'<muscle name="{ms.name}" tendon="{ms.name}_tendon" force="{force:.6g}" '
                    f'lengthrange="{_f(lt + 0.5 * l0, lt + 1.6 * l0)}" range="0.5 1.6"/>')

    ih = _rod_inertia(M["humerus"], L["humerus"], R["humerus"])
    if_ = _rod_inertia(M["forearm"], L["forearm"], R["forearm"])
    ip = _rod_inertia(M["paw"], L["paw"], R["paw"])
    jh = "\n".join(f'<joint name="{n}" axis="{_f(*a)}" range="{_f(*r)}"/>' for n, a, r in JOINTS[:3])
    je = f'<joint name="{JOINTS[3][0]}" axis="{_f(*JOINTS[3][1])}" range="{_f(*JOINTS[3][2])}"/>'
    jw = (f'<joint name="{WRIST_JOINT[0]}" axis="{_f(*WRIST_JOINT[1])}" '
          f'range="{_f(*WRIST_JOINT[2])}"/>') if wrist else ""
    fq = _quat_y(ELBOW_ZERO_INTERIOR - math.pi)
    wrist_wrap = (f'<geom name="wrist_wrap" class="wrap" type="cylinder" size="'
                  f'{_f(WRIST_RADIUS * _MM, 1.0 * _MM)}" pos="{_f(0, 0, -L["forearm"])}" '
                  f'quat="0.70710678 0.70710678 0 0"/>') if wrist else ""
    meta = (f"mouse_forelimb;wrist={int(wrist)};humerus={sc['humerus']!r};"
            f"forearm={sc['forearm']!r};paw={sc['paw']!r}")
    nl = "\n"
    return f"""<mujoco model="mouse_forelimb">
  <!-- neuroimit right mouse forelimb (SI units). Generated by neuroimit.body.forelimb. -->
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{TIMESTEP}" gravity="0 0 -9.81" integrator="Euler">
    <flag contact="disable"/>
  </option>
  <visual><global offwidth="1200" offheight="900"/><headlight ambient="0.35 0.35 0.35"/></visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="1 1 1" rgb2="0.85 0.9 0.95" width="64" height="64"/>
  </asset>
  <default>
    <joint type="hinge" pos="0 0 0" damping="{JOINT_DAMPING}" armature="{JOINT_ARMATURE}"
           limited="true" solreflimit="{_f(*LIMIT_SOLREF)}"/>
    <geom contype="0" conaffinity="0" group="1" rgba="0.92 0.88 0.78 1"/>
    <site size="0.0002" group="3" rgba="0.2 0.2 0.9 1"/>
    <default class="path"><site size="0.00015" group="4" rgba="0.8 0.2 0.2 1"/></default>
    <default class="side"><site size="0.0001" group="5" rgba="0.2 0.8 0.2 1"/></default>
    <default class="wrap"><geom group="3" rgba="0.5 0.5 0.9 0.3"/></default>
    <default class="kp"><site size="0.0004" group="2" rgba="1 0.5 0 1"/></default>
    <default class="muscle_path"><tendon width="0.00012" rgba="0.75 0.15 0.15 1"/></default>
    <muscle ctrllimited="true" ctrlrange="0 1" timeconst="{_f(*TIMECONST)}" vmax="{VMAX}"/>
  </default>
  <custom><text name="neuroimit_body" data="{meta}"/></custom>
  <worldbody>
    <light pos="0.02 -0.06 0.06" dir="-0.3 1 -1" diffuse="0.8 0.8 0.8"/>
    <camera name="side" pos="0.006 -0.052 -0.006" xyaxes="1 0 0 0 0 1"/>
    <camera name="front" pos="0.042 -0.002 -0.007" xyaxes="0 1 0 0 0 1"/>
    <body name="thorax" pos="0 0 0">
      <geom name="scapula" type="capsule" size="0.0006" fromto="{_f(-0.0012, 0.0004, 0.0008, -0.0085, 0.0020, 0.0050)}"/>
      <geom name="clavicle" type="capsule" size="0.0003" fromto="{_f(0.0008, 0.0006, 0.0006, 0.0030, 0.0050, -0.0004)}"/>
      {nl.join(sites["thorax"])}
      <body name="humerus" pos="0 0 0">
        <inertial pos="{_f(0, 0, -L['humerus'] / 2)}" mass="{M['humerus']:.6g}" diaginertia="{_f(*ih)}"/>
        {jh}
        <geom name="humeral_head" type="sphere" size="{HEAD_RADIUS * _MM * sc['humerus']:.12g}" rgba="0.95 0.9 0.8 1"/>
        <geom name="humerus_bone" type="capsule" size="{R['humerus']:.6g}" fromto="{_f(0, 0, -0.8 * _MM, 0, 0, -L['humerus'] + 0.6 * _MM)}"/>
        <geom name="humeral_head_wrap" class="wrap" type="sphere" size="{HEAD_RADIUS * _MM * sc['humerus']:.12g}"/>
        <geom name="elbow_front_wrap" class="wrap" type="cylinder" size="{_f(ELBOW_FRONT_RADIUS * _MM, 1.2 * _MM)}" pos="{_f(0, 0, -L['humerus'])}" quat="0.70710678 0.70710678 0 0"/>
        <geom name="elbow_wrap" class="wrap" type="cylinder" size="{_f(ELBOW_RADIUS * _MM, 1.2 * _MM)}" pos="{_f(0, 0, -L['humerus'])}" quat="0.70710678 0.70710678 0 0"/>
        <site name="kp_shoulder" class="kp" pos="0 0 0"/>
        {nl.join(sites["humerus"])}
        <body name="forearm" pos="{_f(0, 0, -L['humerus'])}" quat="{_f(*fq)}">
          <inertial pos="{_f(0, 0, -0.45 * L['forearm'])}" mass="{M['forearm']:.6g}" diaginertia="{_f(*if_)}"/>
          {je}
          <geom name="forearm_bone" type="capsule" size="{R['forearm']:.6g}" fromto="{_f(0, 0, 0.5 * _MM, 0, 0, -L['forearm'] + 0.4 * _MM)}"/>
          <site name="kp_elbow" class="kp" pos="0 0 0"/>
          {wrist_wrap}
          <site name="kp_wrist" class="kp" pos="{_f(0, 0, -L['forearm'])}"/>
          {nl.join(sites["forearm"])}
          <body name="paw" pos="{_f(0, 0, -L['forearm'])}">
            <inertial pos="{_f(0, 0, -L['paw'] / 2)}" mass="{M['paw']:.6g}" diaginertia="{_f(*ip)}"/>
            {jw}
            <geom name="paw_bone" type="capsule" size="{R['paw']:.6g}" fromto="{_f(0, 0, -0.3 * _MM, 0, 0, -L['paw'] + 0.6 * _MM)}" rgba="0.95 0.75 0.7 1"/>
            <site name="kp_paw" class="kp" pos="{_f(0, 0, -L['paw'])}"/>
            {nl.join(sites["paw"])}
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <tendon>
    {nl.join(f"    {t}" for t in tendons).strip()}
  </tendon>
  <actuator>
    {nl.join(f"    {a}" for a in acts).strip()}
  </actuator>
</mujoco>
"""


# ---------------------------------------------------------------- muscle parameters

#: operating band for the normalised fibre length (MuJoCo's lmin/lmax are 0.5/1.6); the margin
#: keeps points between grid samples inside [0.5, 1.6] too.
FIBRE_BAND = (0.55, 1.55)
#: smallest tendon slack length allowed (m)
MIN_SLACK = 1e-5


def joint_grid(ranges: np.ndarray, n: int | tuple[int, ...] = 9) -> np.ndarray:
    """Full factorial grid over joint ranges: (prod(n), nj) rad, including the limits."""
    ranges = np.asarray(ranges, float)
    ns = (n,) * len(ranges) if isinstance(n, int) else tuple(n)
    axes = [np.linspace(lo, hi, k) for (lo, hi), k in zip(ranges, ns)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def path_lengths(model, qpos: np.ndarray) -> np.ndarray:
    """Actuator (muscle-tendon path) lengths (m) at each posture: (n, nu)."""
    import mujoco
    data = mujoco.MjData(model)
    out = np.empty((len(qpos), model.nu))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_fwdPosition(model, data)
        out[i] = data.actuator_length
    return out


@dataclass(frozen=True)
class MuscleParams:
    """MuJoCo parameters chosen for one muscle (SI) and how they relate to Gilmer's."""
    name: str
    gilmer_row: str
    force: float           # N (tendon force at full activation, optimal length)
    l0: float              # m, optimal fibre length along the path
    slack: float           # m, tendon slack length
    l0_gilmer: float       # m, 1.6 * L0 * cos(pennation) (x any segment scaling)
    slack_gilmer: float    # m, 1.6 * slack (x any segment scaling)
    path_min: float        # m, over the joint grid
    path_max: float        # m
    note: str = ""

    @property
    def fibre_range(self) -> tuple[float, float]:
        """Normalised fibre length range (L - slack) / L0 over the calibration grid."""
        return ((self.path_min - self.slack) / self.l0, (self.path_max - self.slack) / self.l0)


def _choose(lmin: float, lmax: float, l0: float, lt: float) -> tuple[float, float, str]:
    """Pick (L0, slack): keep Gilmer's L0 if the path excursion fits the fibre band, then the
    slack length nearest to Gilmer's that keeps the fibre inside the band."""
    lo_b, hi_b = FIBRE_BAND
    note = []
    if lmax - lmin > (hi_b - lo_b) * l0:
        l0 = (lmax - lmin) / (hi_b - lo_b)
        note.append("L0 raised to fit the path excursion")
    hi = lmin - lo_b * l0
    if hi < MIN_SLACK:
        l0 = (lmin - MIN_SLACK) / lo_b
        hi = MIN_SLACK
        note.append("L0 lowered to fit the shortest path")
    lo = max(lmax - hi_b * l0, MIN_SLACK)
    if lo > hi + 1e-12:
        raise ValueError(f"no tendon slack fits path range [{lmin}, {lmax}] with L0 {l0}")
    new = min(max(lt, lo), hi)
    if abs(new - lt) > 1e-9:
        note.append(f"slack moved from {lt * 1e3:.2f} to {new * 1e3:.2f} mm")
    return l0, new, "; ".join(note)


@lru_cache(maxsize=32)
def muscle_parameters(wrist: bool = False, humerus: float = 1.0, forearm: float = 1.0,
                      paw: float = 1.0, grid_n: int = 9) -> dict[str, MuscleParams]:
    """Muscle parameters for the forelimb with the given segment scales.

    Procedure (documented in docs/body.md):

    1. Gilmer values: L0 = 1.6 * L0_g * cos(pennation), slack = 1.6 * slack_g,
       force = sum(Fmax) * cos(pennation);
    2. for a scaled arm, L0 and slack are multiplied by the ratio of the muscle-tendon length at
       the rest posture (scaled / template), as OpenSim's scale tool does;
    3. the path length range over a full joint grid (``grid_n`` points per joint, limits
       included) is measured with MuJoCo;
    4. L0 is kept unless the excursion cannot fit the fibre band ``FIBRE_BAND`` (then L0 is
       raised just enough), and the slack is the value nearest the Gilmer-derived one that
       keeps every normalised fibre length inside the band (and > ``MIN_SLACK``).
    """
    import mujoco
    scales = {"humerus": humerus, "forearm": forearm, "paw": paw}
    model = mujoco.MjModel.from_xml_string(build_xml(wrist=wrist, scales=scales))
    joints = JOINTS + ((WRIST_JOINT,) if wrist else ())
    ranges = np.array([j[2] for j in joints])
    grid = joint_grid(ranges, grid_n)
    lens = path_lengths(model, grid)
    rest = np.array([[DEFAULT_QPOS[j[0]] for j in joints]])
    ratio = np.ones(model.nu)
    if any(abs(v - 1.0) > 1e-12 for v in scales.values()):
        tmpl = mujoco.MjModel.from_xml_string(build_xml(wrist=wrist))
        ratio = path_lengths(model, rest)[0] / path_lengths(tmpl, rest)[0]
    out = {}
    for i, ms in enumerate(muscle_list(wrist)):
        fmax_g, l0_g, lt_g, pen = GILMER[ms.row]
        fmax = sum(GILMER[r][0] for r in ms.fmax_rows) if ms.fmax_rows else fmax_g
        l0_pref = TEMPLATE_SCALE * l0_g * math.cos(pen) * _MM * ratio[i]
        lt_pref = TEMPLATE_SCALE * lt_g * _MM * ratio[i]
        lmin, lmax = float(lens[:, i].min()), float(lens[:, i].max())
        try:
            l0, lt, note = _choose(lmin, lmax, l0_pref, lt_pref)
        except ValueError:
            from ..errors import ConfigError
            raise ConfigError(
                f"segment scales {scales} leave muscle {ms.name!r} a path of "
                f"{lmin * 1e3:.2f}-{lmax * 1e3:.2f} mm over the joint range, which no fibre/"
                f"tendon split keeps within {FIBRE_BAND} L0", field="scales",
                expected="segment factors the muscles can span (humerus >= 0.5; checked "
                         "0.5-2.5 per segment)") from None
        out[ms.name] = MuscleParams(ms.name, ms.row, fmax * math.cos(pen), l0, lt, l0_pref,
                                    lt_pref, lmin, lmax, "; ".join(x for x in (ms.note, note) if x))
    return out


def forelimb_xml(*, wrist: bool = False, scales: dict[str, float] | None = None) -> str:
    """Final MJCF text of the forelimb (muscle parameters calibrated for the given scales)."""
    sc = {"humerus": 1.0, "forearm": 1.0, "paw": 1.0, **(scales or {})}
    params = muscle_parameters(wrist, float(sc["humerus"]), float(sc["forearm"]), float(sc["paw"]))
    return build_xml(wrist=wrist, scales=sc,
                     muscle_params={k: (p.force, p.l0, p.slack) for k, p in params.items()})


ASSET = __import__("pathlib").Path(__file__).with_name("assets") / "mouse_forelimb.xml"


def write_asset(path=None) -> "__import__('pathlib').Path":
    """Write the template MJCF (4 DOF) to ``assets/mouse_forelimb.xml`` (for reading and for
    other tools); ``load_body`` always builds from code, and a test keeps the two identical.

        python -m neuroimit.body.forelimb
    """
    import os
    from pathlib import Path
    path = Path(path) if path is not None else ASSET
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(forelimb_xml())
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    print(write_asset())
