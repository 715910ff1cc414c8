"""`BodyModel`: one MuJoCo body (the built-in mouse forelimb or any MJCF) behind one API.

    >>> from neuroimit.body import load_body
    >>> body = load_body("mouse_forelimb")
    >>> body.joint_names
    ('shoulder_elevation', 'shoulder_extension', 'shoulder_rotation', 'elbow_flexion')
    >>> body.site_for_keypoint("hand")
    'kp_paw'
    >>> longer = body.scaled(humerus=1.1)      # a new model; `body` is unchanged
"""
from __future__ import annotations

from functools import cached_property
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, DataError
from . import forelimb

__all__ = ["BodyModel", "load_body", "BUILTIN_BODIES"]

#: names that load_body resolves without a file
BUILTIN_BODIES = ("mouse_forelimb",)
#: MJCF <custom><text> entries where a BodyModel keeps its own metadata (so body.xml round-trips)
_META_BUILTIN = "neuroimit_body"
_META_GENERIC = "neuroimit_meta"
_FREE_SUFFIX = ("x", "y", "z", "qw", "qx", "qy", "qz")
_BALL_SUFFIX = ("qw", "qx", "qy", "qz")


def _mujoco():
    import mujoco
    return mujoco


class BodyModel:
    """A MuJoCo body with the names the rest of neuroimit needs.

    Build it with :func:`load_body`. Attributes follow the binding interface in
    docs (CONTRACTS): ``name, xml, mj_model, mjx_model(), joint_names, joint_ranges (nj, 2) rad,
    qpos_names, has_free_root, nq, nv, nu, muscle_names, keypoint_sites, site_for_keypoint(),
    emg_map, segments, scaled(), segment_scales, default_qpos (nq,)``.
    """

    def __init__(self, name: str, xml: str, *, keypoint_sites: Mapping[str, str] | None = None,
                 emg_map: Mapping[str, str] | None = None, segments: tuple[str, ...] = (),
                 segment_scales: Mapping[str, float] | None = None,
                 default_qpos: np.ndarray | None = None, builtin: dict | None = None,
                 source: str | None = None):
        self.name = name
        self.xml = xml
        self._builtin = builtin          # {"wrist": bool} for the built-in forelimb
        self._source = source or name
        self.segments = tuple(segments)
        self.segment_scales = {s: float((segment_scales or {}).get(s, 1.0)) for s in self.segments}
        m = self.mj_model               # compile now: bad XML fails at load time
        self._check_names(keypoint_sites or {}, emg_map or {})
        self.keypoint_sites = dict(keypoint_sites or {})
        self.emg_map = dict(emg_map or {})
        if default_qpos is None:
            default_qpos = np.array(m.qpos0, float)
        default_qpos = np.asarray(default_qpos, float)
        if default_qpos.shape != (m.nq,):
            raise ConfigError(f"default_qpos has shape {default_qpos.shape}", file=self._source,
                              field="default_qpos", expected=f"shape ({m.nq},)")
        self.default_qpos = default_qpos

    _CACHES = ("mj_model", "_mjx", "_joint_ids", "qpos_names")

    def __getstate__(self) -> dict:
        # compiled models are rebuilt from the XML after unpickling (e.g. on a Dask worker)
        return {k: v for k, v in self.__dict__.items() if k not in self._CACHES}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ MuJoCo models
    @cached_property
    def mj_model(self):
        """The compiled ``mujoco.MjModel`` (cached; treat as read-only)."""
        mujoco = _mujoco()
        try:
            return mujoco.MjModel.from_xml_string(self.xml)
        except ValueError as exc:  # mujoco reports XML/compile errors as ValueError
            raise DataError(f"MuJoCo could not compile the model: {exc}", file=self._source,
                            expected="a valid MJCF model") from exc

    def mjx_model(self):
        """The model on the MJX (JAX) side: ``mujoco.mjx.Model`` (cached per instance)."""
        if "_mjx" not in self.__dict__:
            from mujoco import mjx
            self.__dict__["_mjx"] = mjx.put_model(self.mj_model)
        return self.__dict__["_mjx"]

    def make_data(self, qpos: np.ndarray | None = None):
        """A fresh ``mujoco.MjData`` at ``qpos`` (default: ``default_qpos``), kinematics done."""
        mujoco = _mujoco()
        d = mujoco.MjData(self.mj_model)
        d.qpos[:] = self.default_qpos if qpos is None else qpos
        mujoco.mj_forward(self.mj_model, d)
        return d

    # ------------------------------------------------------------------ names
    @cached_property
    def _joint_ids(self) -> tuple[int, ...]:
        m = self.mj_model
        mujoco = _mujoco()
        ids = [j for j in range(m.njnt) if m.jnt_type[j] != mujoco.mjtJoint.mjJNT_FREE]
        return tuple(sorted(ids, key=lambda j: m.jnt_qposadr[j]))

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Non-free joints in qpos order."""
        return tuple(self.mj_model.joint(j).name for j in self._joint_ids)

    @property
    def joint_ranges(self) -> np.ndarray:
        """(nj, 2) rad (or m for slides): limits, or (-inf, inf) for unlimited joints."""
        m = self.mj_model
        out = np.empty((len(self._joint_ids), 2))
        for i, j in enumerate(self._joint_ids):
            out[i] = m.jnt_range[j] if m.jnt_limited[j] else (-np.inf, np.inf)
        return out

    @cached_property
    def qpos_names(self) -> tuple[str, ...]:
        """One name per qpos entry; a free root gives root_x..root_qz, a ball joint <name>_qw..."""
        m = self.mj_model
        mujoco = _mujoco()
        names: list[str | None] = [None] * m.nq
        free_seen = 0
        for j in range(m.njnt):
            adr, t, nm = m.jnt_qposadr[j], m.jnt_type[j], m.joint(j).name
            if t == mujoco.mjtJoint.mjJNT_FREE:
                prefix = "root" if free_seen == 0 else (nm or f"free{free_seen}")
                free_seen += 1
                for k, suf in enumerate(_FREE_SUFFIX):
                    names[adr + k] = f"{prefix}_{suf}"
            elif t == mujoco.mjtJoint.mjJNT_BALL:
                for k, suf in enumerate(_BALL_SUFFIX):
                    names[adr + k] = f"{nm or f'joint{j}'}_{suf}"
            else:
                names[adr] = nm or f"joint{j}"
        return tuple(n if n is not None else f"q{i}" for i, n in enumerate(names))

    @property
    def has_free_root(self) -> bool:
        m = self.mj_model
        return bool(m.njnt and m.jnt_type[0] == _mujoco().mjtJoint.mjJNT_FREE
                    and m.jnt_qposadr[0] == 0)

    @property
    def nq(self) -> int:
        return int(self.mj_model.nq)

    @property
    def nv(self) -> int:
        return int(self.mj_model.nv)

    @property
    def nu(self) -> int:
        return int(self.mj_model.nu)

    @property
    def muscle_names(self) -> tuple[str, ...]:
        """Actuator names in actuator order (all actuators, muscles or not)."""
        m = self.mj_model
        return tuple(m.actuator(i).name or f"actuator{i}" for i in range(m.nu))

    @property
    def site_names(self) -> tuple[str, ...]:
        m = self.mj_model
        return tuple(m.site(i).name for i in range(m.nsite))

    def site_for_keypoint(self, name: str) -> str:
        """Site name for a keypoint (case-insensitive); DataError listing the known ones."""
        low = {k.lower(): v for k, v in self.keypoint_sites.items()}
        try:
            return low[str(name).lower()]
        except KeyError:
            raise DataError(f"no site is mapped to keypoint {name!r}", file=self._source,
                            field="keypoint_map",
                            expected=f"one of the keypoints {sorted(self.keypoint_sites)} "
                                     f"(pass keypoint_map={{'{name}': <site>}} to load_body; "
                                     f"sites: {list(self.site_names)})") from None

    def muscle_for_emg(self, channel: str) -> str:
        """Muscle for an EMG channel name (case-insensitive); DataError when unknown."""
        low = {k.lower(): v for k, v in self.emg_map.items()}
        try:
            return low[str(channel).lower()]
        except KeyError:
            raise DataError(f"no muscle is mapped to EMG channel {channel!r}", file=self._source,
                            field="emg_map",
                            expected=f"one of {sorted(self.emg_map)} (muscles: "
                                     f"{list(self.muscle_names)})") from None

    def _check_names(self, kp: Mapping[str, str], emg: Mapping[str, str]) -> None:
        sites = set(self.site_names)
        bad = {k: v for k, v in kp.items() if v not in sites}
        if bad:
            raise DataError(f"keypoint map names sites that are not in the model: {bad}",
                            file=self._source, field="keypoint_map",
                            expected=f"site names from {sorted(sites)}")
        muscles = set(self.muscle_names)
        bad = {k: v for k, v in emg.items() if v not in muscles}
        if bad:
            raise DataError(f"EMG map names muscles that are not in the model: {bad}",
                            file=self._source, field="emg_map",
                            expected=f"actuator names from {sorted(muscles)}")

    # ------------------------------------------------------------------ scaling
    def scaled(self, scales: Mapping[str, float] | None = None, /, **kw: float) -> "BodyModel":
        """A new model with segments lengthened by the given factors (1.0 = unchanged).

        Factors compose with those already applied (``segment_scales``). For the built-in
        forelimb the segments are ``humerus, forearm, paw`` and muscle parameters are
        recalibrated (docs/body.md); for other bodies the segments are the named bodies given to
        :func:`load_body`, and positions of a segment's child bodies, sites, geoms (and geom
        lengths) are multiplied by its factor.

        >>> b = load_body("mouse_forelimb").scaled(humerus=1.1, forearm=0.95)
        >>> b.segment_scales["humerus"]
        1.1
        """
        req = {**(scales or {}), **kw}
        unknown = sorted(set(req) - set(self.segments))
        if unknown:
            raise ConfigError(f"unknown segment(s) {unknown}", file=self._source, field="scales",
                              expected=f"segments of this body: {list(self.segments)}")
        for k, v in req.items():
            if not (np.isfinite(v) and 0.2 <= float(v) <= 5.0):
                raise ConfigError(f"scale {k}={v!r} is out of range", file=self._source,
                                  field=k, expected="a factor between 0.2 and 5")
        total = {s: self.segment_scales[s] * float(req.get(s, 1.0)) for s in self.segments}
        if self._builtin is not None:
            return _forelimb(wrist=self._builtin["wrist"], scales=total,
                             keypoint_map=self.keypoint_sites, emg_map=self.emg_map,
                             default_qpos=self.default_qpos)
        from .scaling import scale_xml
        rel = {s: float(req[s]) for s in req}
        xml = scale_xml(self.xml, rel, source=self._source)
        xml = _with_meta(xml, self.keypoint_sites, self.emg_map, self.segments, total,
                         self.default_qpos)
        return BodyModel(self.name, xml, keypoint_sites=self.keypoint_sites,
                         emg_map=self.emg_map, segments=self.segments, segment_scales=total,
                         default_qpos=self.default_qpos, source=self._source)

    # ------------------------------------------------------------------ misc
    def site_positions(self, qpos: np.ndarray, sites: list[str] | tuple[str, ...] | None = None
                       ) -> np.ndarray:
        """World positions (m) of ``sites`` (default: keypoint sites) at each posture.

        qpos: (T, nq) or (nq,); returns (T, S, 3) or (S, 3).
        """
        mujoco = _mujoco()
        names = list(sites) if sites is not None else list(dict.fromkeys(
            self.keypoint_sites.values()))
        ids = [self.mj_model.site(s).id for s in names]
        q = np.atleast_2d(np.asarray(qpos, float))
        d = mujoco.MjData(self.mj_model)
        out = np.empty((len(q), len(ids), 3))
        for t, qt in enumerate(q):
            d.qpos[:] = qt
            mujoco.mj_kinematics(self.mj_model, d)
            out[t] = d.site_xpos[ids]
        return out if np.ndim(qpos) == 2 else out[0]

    def __repr__(self) -> str:
        sc = {k: v for k, v in self.segment_scales.items() if v != 1.0}
        return (f"BodyModel({self.name!r}, nq={self.nq}, nu={self.nu}, "
                f"joints={list(self.joint_names)}" + (f", scales={sc}" if sc else "") + ")")


# ---------------------------------------------------------------------- loading

def _forelimb(*, wrist: bool, scales: Mapping[str, float] | None = None,
              keypoint_map: Mapping[str, str] | None = None,
              emg_map: Mapping[str, str] | None = None,
              default_qpos: np.ndarray | None = None, xml: str | None = None) -> BodyModel:
    sc = {"humerus": 1.0, "forearm": 1.0, "paw": 1.0, **(scales or {})}
    if xml is None:
        xml = forelimb.forelimb_xml(wrist=wrist, scales=sc)
    joints = forelimb.JOINTS + ((forelimb.WRIST_JOINT,) if wrist else ())
    q0 = (np.array([forelimb.DEFAULT_QPOS[j[0]] for j in joints]) if default_qpos is None
          else default_qpos)
    emg = dict(forelimb.EMG_MAP, **(forelimb.WRIST_EMG_MAP if wrist else {}))
    if emg_map is not None:
        emg = dict(emg_map)
    return BodyModel("mouse_forelimb", xml,
                     keypoint_sites=dict(keypoint_map or forelimb.KEYPOINT_MAP),
                     emg_map=emg, segments=("humerus", "forearm", "paw"), segment_scales=sc,
                     default_qpos=q0, builtin={"wrist": bool(wrist)},
                     source="mouse_forelimb")


def _read_text(xml: str, name: str) -> str | None:
    """Data of an MJCF <custom><text name=...> entry, without compiling the model."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for t in root.iter("text"):
        if t.get("name") == name:
            return t.get("data") if t.get("data") is not None else (t.text or "")
    return None


def _parse_builtin_meta(data: str) -> dict[str, Any]:
    parts = data.split(";")
    out: dict[str, Any] = {"name": parts[0]}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        out[k] = float(v)
    return out


def _with_meta(xml: str, kp, emg, segments, scales, default_qpos) -> str:
    """Store keypoint/EMG maps, segments and scales in the MJCF as <custom><text>."""
    mujoco = _mujoco()
    spec = mujoco.MjSpec.from_string(xml)
    for t in list(spec.texts):
        if t.name == _META_GENERIC:
            spec.delete(t)
    data = json.dumps({"keypoint_map": dict(kp), "emg_map": dict(emg),
                       "segments": list(segments), "segment_scales": dict(scales),
                       "default_qpos": [float(x) for x in default_qpos]})
    spec.add_text(name=_META_GENERIC, data=data)
    return spec.to_xml()


def _resolve_keypoints(spec, keypoint_map: Mapping[str, str], source: str) -> dict[str, str]:
    """Map keypoints to sites; a body name gets a new site at the body's origin."""
    sites = {s.name for s in spec.sites}
    bodies = {b.name: b for b in spec.bodies}
    out = {}
    missing = {}
    for kp, target in keypoint_map.items():
        if target in sites:
            out[kp] = target
        elif target in bodies:
            sname = f"kp_body_{target}"
            if sname not in sites:
                bodies[target].add_site(name=sname, pos=[0, 0, 0], size=[0.001, 0, 0], group=3)
                sites.add(sname)
            out[kp] = sname
        else:
            missing[kp] = target
    if missing:
        raise DataError(f"keypoint map names sites/bodies that are not in the model: {missing}",
                        file=source, field="keypoint_map",
                        expected=f"site names {sorted(sites)} or body names {sorted(bodies)}")
    return out


def load_body(path_or_xml: str | os.PathLike = "mouse_forelimb", *,
              keypoint_map: Mapping[str, str] | None = None,
              emg_map: Mapping[str, str] | None = None,
              segments: tuple[str, ...] | list[str] | None = None,
              default_qpos: np.ndarray | None = None, wrist: bool = False,
              name: str | None = None) -> BodyModel:
    """Load a body by built-in name, MJCF path, or MJCF text.

    path_or_xml: ``"mouse_forelimb"``, a path to an ``.xml`` MJCF file, or MJCF text (e.g. a
        ``BodyModel.xml``: it round-trips, maps and scales included).
    keypoint_map: keypoint name -> site name (or body name: a site is added at its origin).
        The built-in forelimb defaults to Shoulder/Elbow/Wrist/Paw(/Hand) -> kp_* sites.
    emg_map: EMG channel name -> actuator name.
    segments: scalable bodies for :meth:`BodyModel.scaled` (other bodies); the forelimb's are
        humerus, forearm, paw.
    default_qpos: rest posture (nq,); default the model's qpos0 (forelimb: a standing pose).
    wrist: built-in forelimb only: add the wrist_flexion joint and two wrist muscles.

    >>> body = load_body("mouse_forelimb")
    >>> body.nq, body.nu >= 10
    (4, True)
    """
    src = os.fspath(path_or_xml) if isinstance(path_or_xml, os.PathLike) else path_or_xml
    if not isinstance(src, str):
        raise ConfigError(f"cannot load a body from {type(src).__name__}", field="path_or_xml",
                          expected="a built-in name, an MJCF path or MJCF text")
    if src == "mouse_forelimb":
        return _forelimb(wrist=wrist, keypoint_map=keypoint_map, emg_map=emg_map,
                         default_qpos=default_qpos)
    if src.lstrip().startswith("<"):
        xml, source, base_dir = src, name or "<MJCF text>", None
    else:
        p = Path(src)
        if p.suffix.lower() != ".xml" and not p.exists() and src not in BUILTIN_BODIES:
            raise DataError(f"unknown body {src!r}", file=src, field="path_or_xml",
                            expected=f"a built-in body {list(BUILTIN_BODIES)} or an MJCF .xml path")
        if not p.is_file():
            raise DataError("MJCF file not found", file=src, field="path_or_xml",
                            expected="an existing MJCF .xml file")
        xml, source, base_dir = p.read_text(), str(p), p.resolve().parent
    meta = _read_text(xml, _META_BUILTIN)
    if meta and meta.startswith("mouse_forelimb"):  # a (scaled) built-in forelimb's own XML
        info = _parse_builtin_meta(meta)
        return _forelimb(wrist=bool(info.get("wrist", 0)),
                         scales={k: info.get(k, 1.0) for k in ("humerus", "forearm", "paw")},
                         keypoint_map=keypoint_map, emg_map=emg_map,
                         default_qpos=default_qpos, xml=xml)
    return _generic(xml, source=source, base_dir=base_dir, keypoint_map=keypoint_map,
                    emg_map=emg_map, segments=segments, default_qpos=default_qpos, name=name)


def _generic(xml: str, *, source: str, base_dir: Path | None, keypoint_map, emg_map, segments,
             default_qpos, name) -> BodyModel:
    mujoco = _mujoco()
    meta_txt = _read_text(xml, _META_GENERIC)
    meta = json.loads(meta_txt) if meta_txt else {}
    try:
        spec = (mujoco.MjSpec.from_file(str(base_dir / Path(source).name)) if base_dir is not None
                else mujoco.MjSpec.from_string(xml))
    except ValueError as exc:
        raise DataError(f"MuJoCo could not parse the model: {exc}", file=source,
                        expected="a valid MJCF model") from exc
    if base_dir is not None:  # make asset folders absolute so body.xml loads from anywhere
        for attr in ("meshdir", "texturedir"):
            d = getattr(spec, attr)
            setattr(spec, attr, str((base_dir / d).resolve()) if d else str(base_dir))
    kp = keypoint_map if keypoint_map is not None else meta.get("keypoint_map", {})
    kp_sites = _resolve_keypoints(spec, kp, source)
    segs = tuple(segments) if segments is not None else tuple(meta.get("segments", ()))
    body_names = {b.name for b in spec.bodies}
    bad = [s for s in segs if s not in body_names]
    if bad:
        raise DataError(f"segments name bodies that are not in the model: {bad}", file=source,
                        field="segments", expected=f"body names from {sorted(body_names)}")
    scales = meta.get("segment_scales", {})
    try:
        model = spec.compile()
    except ValueError as exc:
        raise DataError(f"MuJoCo could not compile the model: {exc}", file=source,
                        expected="a valid MJCF model") from exc
    if default_qpos is None and "default_qpos" in meta and len(meta["default_qpos"]) == model.nq:
        default_qpos = np.array(meta["default_qpos"])
    q0 = np.array(model.qpos0) if default_qpos is None else np.asarray(default_qpos, float)
    emg = dict(emg_map) if emg_map is not None else meta.get("emg_map", {})
    out_xml = _with_meta(spec.to_xml(), kp_sites, emg, segs, scales, q0)
    model_name = spec.modelname if spec.modelname not in ("", "MuJoCo Model") else None
    return BodyModel(name or model_name or Path(source).stem.strip("<>").replace(" ", "_"), out_xml,
                     keypoint_sites=kp_sites, emg_map=emg, segments=segs,
                     segment_scales=scales, default_qpos=q0, source=source)
