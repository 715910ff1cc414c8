"""Body adapter, segment-scale maps and initial values for the STAC calibration.

:func:`as_body_view` accepts a :class:`neuroimit.body.BodyModel`, a built-in body name, a path
to an MJCF file or a bare ``mujoco.MjModel``, and resolves the keypoint -> site map with a clear
error listing the available sites.

:func:`segment_derivatives` probes ``body.scaled(segment=s)`` and records how every body
position, joint anchor and site position changes per unit of each segment scale, so the JAX
forward kinematics scales segments exactly as ``BodyModel.scaled`` does (checked for
linearity; tests/test_stac.py compares the two).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import mujoco
import numpy as np

from ..errors import ConfigError, DataError
from .kinematics import BALL, FREE, HINGE, SLIDE

__all__ = ["BodyView", "as_body_view", "segment_derivatives", "kabsch", "qpos_names_of"]


def qpos_names_of(model: mujoco.MjModel) -> tuple[str, ...]:
    """One name per qpos entry (free root -> ``<name>_x..._qz``, ball -> ``<name>_qw...``)."""
    out = []
    for j in range(model.njnt):
        name = model.joint(j).name or f"joint{j}"
        t = int(model.jnt_type[j])
        if t == FREE:
            out += [f"{name}_{s}" for s in ("x", "y", "z", "qw", "qx", "qy", "qz")]
        elif t == BALL:
            out += [f"{name}_{s}" for s in ("qw", "qx", "qy", "qz")]
        else:
            out.append(name)
    return tuple(out)


def _limits(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(model.nq, -np.inf)
    hi = np.full(model.nq, np.inf)
    for j in range(model.njnt):
        if int(model.jnt_type[j]) in (HINGE, SLIDE) and model.jnt_limited[j]:
            a = int(model.jnt_qposadr[j])
            lo[a], hi[a] = model.jnt_range[j]
    return lo, hi


@dataclass
class BodyView:
    """What STAC needs of a body, whatever form it came in."""

    name: str
    model: mujoco.MjModel
    xml: str
    sites: tuple[str, ...]            # per keypoint
    keypoints: tuple[str, ...]        # session keypoint names, in the order used
    segments: tuple[str, ...]
    base_scales: dict[str, float]     # scales already applied to the given body
    qpos_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    has_free_root: bool
    default_qpos: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    body: Any = None                  # the BodyModel, when given one

    def scaled_xml(self, scales: Mapping[str, float]) -> str:
        """MJCF of the body with the segment scales (relative to this body) applied."""
        if self.body is None or not scales:
            return self.xml
        return self.body.scaled(**{k: float(v) for k, v in scales.items()}).xml

    def scaled_model(self, scales: Mapping[str, float]) -> mujoco.MjModel:
        if self.body is None or not scales:
            return self.model
        return self.body.scaled(**{k: float(v) for k, v in scales.items()}).mj_model


def _site_names(model) -> list[str]:
    return [model.site(i).name for i in range(model.nsite) if model.site(i).name]


def _resolve_sites(model, keypoints: Sequence[str], keypoint_map: Mapping[str, Any] | None,
                   lookup, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Pairs (keypoint, site) for the session keypoints; errors list the available sites."""
    sites_avail = _site_names(model)
    lower_sites = {s.lower(): s for s in sites_avail}
    kps, sites, unknown = [], [], []
    kmap = {str(k).lower(): v for k, v in dict(keypoint_map or {}).items()}
    for kp in keypoints:
        if keypoint_map is not None and kp.lower() in kmap:
            site = kmap[kp.lower()]
            if site is None or site == "":
                continue  # explicitly dropped
            site = str(site)
            if site.lower() not in lower_sites:
                raise DataError(f"keypoint map sends {kp!r} to site {site!r}, which the body "
                                f"{source} lacks", field="keypoint_map",
                                expected=f"one of its sites {sites_avail}")
            kps.append(kp)
            sites.append(lower_sites[site.lower()])
            continue
        site = None
        if lookup is not None:
            try:
                site = lookup(kp)
            except (DataError, KeyError, ValueError):
                site = None
        if site is None:
            for cand in (kp.lower(), f"kp_{kp.lower()}"):
                if cand in lower_sites:
                    site = lower_sites[cand]
                    break
        if site is None:
            if keypoint_map is not None:
                continue  # with an explicit map, unmapped keypoints are left out
            unknown.append(kp)
            continue
        kps.append(kp)
        sites.append(site)
    if unknown:
        raise DataError(f"keypoints {unknown} have no site on the body {source}",
                        field="keypoint_map",
                        expected=f"a keypoint map (--keypoint-map JSON/YAML) sending each "
                                 f"keypoint to one of the body's sites {sites_avail}")
    if not kps:
        raise DataError(f"no keypoint of the session {list(keypoints)} maps to a site of the "
                        f"body {source}", field="keypoint_map",
                        expected=f"keypoint -> site pairs among the sites {sites_avail}")
    return tuple(kps), tuple(sites)


def as_body_view(body: Any, keypoints: Sequence[str],
                 keypoint_map: Mapping[str, Any] | None = None) -> BodyView:
    """Adapt ``body`` (BodyModel, name, MJCF path or MjModel) and match the keypoints."""
    bm = None
    if isinstance(body, (str, Path)):
        p = Path(str(body))
        try:
            from ..body import load_body  # noqa: PLC0415
        except ImportError:
            load_body = None
        if load_body is not None:
            kw = {"keypoint_map": dict(keypoint_map)} if keypoint_map else {}
            try:
                bm = load_body(str(body), **kw)
            except TypeError:
                bm = load_body(str(body))
        elif p.suffix.lower() == ".xml" and p.exists():
            model = mujoco.MjModel.from_xml_path(str(p))
            return _view_from_model(model, p.read_text(), p.stem, keypoints, keypoint_map)
        else:
            raise ConfigError(f"unknown body {body!r}", field="body",
                              expected="a BodyModel, 'mouse_forelimb' or a path to an MJCF file")
    elif isinstance(body, mujoco.MjModel):
        return _view_from_model(body, "", "mjmodel", keypoints, keypoint_map)
    else:
        bm = body
    if not hasattr(bm, "mj_model"):
        raise ConfigError(f"cannot use {type(body).__name__} as a body", field="body",
                          expected="a neuroimit.body.BodyModel, name, MJCF path or MjModel")
    model = bm.mj_model
    lookup = getattr(bm, "site_for_keypoint", None)
    kps, sites = _resolve_sites(model, keypoints, keypoint_map, lookup,
                                repr(getattr(bm, "name", "")))
    lo, hi = _limits(model)
    dq = np.asarray(getattr(bm, "default_qpos", model.qpos0), float).copy()
    return BodyView(
        name=str(getattr(bm, "name", "")), model=model, xml=str(getattr(bm, "xml", "")),
        sites=sites, keypoints=kps, segments=tuple(getattr(bm, "segments", ()) or ()),
        base_scales=dict(getattr(bm, "segment_scales", {}) or {}),
        qpos_names=tuple(getattr(bm, "qpos_names", qpos_names_of(model))),
        joint_names=tuple(getattr(bm, "joint_names", ())),
        has_free_root=bool(getattr(bm, "has_free_root", int(model.jnt_type[0]) == FREE
                                   if model.njnt else False)),
        default_qpos=np.clip(dq, lo, hi), lower=lo, upper=hi, body=bm)


def _view_from_model(model, xml, name, keypoints, keypoint_map) -> BodyView:
    kps, sites = _resolve_sites(model, keypoints, keypoint_map, None, repr(name))
    lo, hi = _limits(model)
    free = bool(model.njnt and int(model.jnt_type[0]) == FREE)
    joints = tuple(model.joint(j).name for j in range(model.njnt)
                   if int(model.jnt_type[j]) != FREE)
    dq = np.array(model.qpos0, float)
    return BodyView(name=name, model=model, xml=xml, sites=sites, keypoints=kps, segments=(),
                    base_scales={}, qpos_names=qpos_names_of(model), joint_names=joints,
                    has_free_root=free, default_qpos=np.clip(dq, lo, hi), lower=lo, upper=hi)


def segment_derivatives(view: BodyView, probe: float = 1.5, check: float = 0.8):
    """Position derivatives with respect to each segment scale, probed on ``body.scaled``.

    Returns ``(body_dpos (S, nbody, 3), jnt_dpos (S, njnt, 3), site_dpos (S, nsite, 3),
    max_nonlinearity_m)``; the last is the largest deviation (m) of a second probe from the
    linear model (0 when positions are exactly linear in the scales, as for uniform
    scaling along a segment).
    """
    base = view.model
    S = len(view.segments)
    bd = np.zeros((S, base.nbody, 3))
    jd = np.zeros((S, base.njnt, 3))
    sd = np.zeros((S, base.nsite, 3))
    worst = 0.0
    if view.body is None or S == 0:
        return bd, jd, sd, worst
    for i, seg in enumerate(view.segments):
        m1 = view.body.scaled(**{seg: probe}).mj_model
        m2 = view.body.scaled(**{seg: check}).mj_model
        if (m1.nbody, m1.njnt, m1.nsite) != (base.nbody, base.njnt, base.nsite):
            raise ConfigError(f"scaling segment {seg!r} changes the model's structure",
                              field="body.scaled", expected="same bodies, joints and sites")
        for dst, attr in ((bd, "body_pos"), (jd, "jnt_pos"), (sd, "site_pos")):
            a0 = np.asarray(getattr(base, attr))
            d = (np.asarray(getattr(m1, attr)) - a0) / (probe - 1.0)
            pred = a0 + (check - 1.0) * d
            worst = max(worst, float(np.abs(np.asarray(getattr(m2, attr)) - pred).max(initial=0)))
            dst[i] = d
    return bd, jd, sd, worst


def kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted rigid transforms (R, t) with ``dst ~ R @ src + t``, batched.

    src, dst: (N, K, 3); w: (N, K). Returns R (N, 3, 3), t (N, 3). Frames with fewer than
    three weighted points get a translation-only fit.
    """
    w = np.asarray(w, float)
    ws = w.sum(axis=1, keepdims=True)
    ws_safe = np.where(ws > 0, ws, 1.0)
    cs = (w[..., None] * src).sum(1) / ws_safe
    cd = (w[..., None] * dst).sum(1) / ws_safe
    a = src - cs[:, None]
    b = dst - cd[:, None]
    h = np.einsum("nk,nki,nkj->nij", w, a, b)
    u, _s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("nji,nkj->nik", vt, u)))
    diag = np.stack([np.ones_like(d), np.ones_like(d), d], axis=1)
    R = np.einsum("nji,nj,nkj->nik", vt, diag, u)
    few = (w > 0).sum(1) < 3
    R[few] = np.eye(3)
    t = cd - np.einsum("nij,nj->ni", R, cs)
    return R, t
