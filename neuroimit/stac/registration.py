"""The result of STAC: :class:`Registration`, with HDF5 and stac-mjx layout I/O.

A registration holds the joint kinematics (qpos, qvel), the input and model keypoints, the
calibrated keypoint offsets and segment scales, per-frame per-keypoint residuals and
convergence information. It saves to HDF5 (:meth:`Registration.save` / :meth:`load`) and
reads/writes the output layout of the public stac-mjx tool (:meth:`to_stac_mjx`,
:meth:`from_stac_mjx`: datasets ``qpos, qvel, xpos, xquat, kp_data, marker_sites, offsets,
names_qpos, names_xpos, kp_names, config``), so its users can switch in both directions.

>>> import numpy as np
>>> T = 3
>>> reg = Registration(time=np.arange(T) / 200.0, qpos=np.zeros((T, 1)), qvel=np.zeros((T, 1)),
...     qpos_names=("elbow",), joint_names=("elbow",), keypoint_names=("Wrist",),
...     kp_data=np.zeros((T, 1, 3)), model_keypoints=np.zeros((T, 1, 3)),
...     offsets=np.zeros((1, 3)), segment_scales={}, residuals=np.zeros((T, 1)))
>>> reg.mean_error_m
0.0
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..atomic import atomic_path
from ..errors import DataError

__all__ = ["Registration"]

FORMAT = "neuroimit.stac.Registration"
FORMAT_VERSION = 1
_ARRAYS = ("time", "qpos", "qvel", "kp_data", "model_keypoints", "offsets", "residuals",
           "base_transform")
_NAMES = ("qpos_names", "joint_names", "keypoint_names", "site_names")


def _str_list(values) -> tuple[str, ...]:
    out = []
    for v in np.asarray(values).ravel():
        out.append(v.decode() if isinstance(v, bytes) else str(v))
    return tuple(out)


@dataclass
class Registration:
    """Joint kinematics registered to keypoints (all SI: s, m, rad).

    Attributes
    ----------
    time: (T,) s.
    qpos: (T, nq) joint positions (rad; m and unit quaternions for a free root).
    qvel: (T, nv) smoothed finite-difference velocities.
    qpos_names, joint_names: names of the qpos entries and of the (non-free) joints.
    keypoint_names: K keypoint names (as in the session).
    kp_data: (T, K, 3) m input keypoints (NaN where missing), in the data frame.
    model_keypoints: (T, K, 3) m model keypoints (site + offset) in the data frame.
    offsets: (K, 3) m offsets of the keypoints from their sites, in the site's body frame.
    segment_scales: segment -> length scale of the registered body (1.0 = template).
    residuals: (T, K) m distance between data and model keypoints (NaN where missing).
    base_transform: (4, 4) homogeneous transform from the model's world frame to the data
        frame (identity unless the base was calibrated).
    site_names: K model sites the keypoints were matched to.
    body_name, body_xml: the registered (scaled) body; :meth:`body` rebuilds it.
    info: convergence and timing information (JSON-serialisable).
    extras: arrays carried along (e.g. ``xpos``, ``xquat``, ``names_xpos``, ``config`` of a
        stac-mjx file) so that a read-write round trip keeps them.
    """

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    qpos_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    keypoint_names: tuple[str, ...]
    kp_data: np.ndarray
    model_keypoints: np.ndarray
    offsets: np.ndarray
    segment_scales: dict[str, float]
    residuals: np.ndarray
    base_transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    site_names: tuple[str, ...] = ()
    body_name: str = ""
    body_xml: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        T = np.asarray(self.time).shape[0]
        for name in ("qpos", "qvel", "kp_data", "model_keypoints", "residuals"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.shape[:1] != (T,):
                raise DataError(f"{name} has shape {a.shape} for {T} frames", field=name,
                                expected="time along the first axis")
            setattr(self, name, a)
        self.time = np.asarray(self.time, dtype=np.float64)
        self.offsets = np.asarray(self.offsets, dtype=np.float64)
        self.base_transform = np.asarray(self.base_transform, dtype=np.float64)
        for name in _NAMES:
            setattr(self, name, tuple(str(v) for v in getattr(self, name)))
        self.segment_scales = {str(k): float(v) for k, v in dict(self.segment_scales).items()}

    def __getattribute__(self, name):
        # the scaled body's MJCF is built on first use (building it recalibrates muscles,
        # ~0.5 s per body, too slow to do for every clip of a batch up front)
        if name == "body_xml":
            d = object.__getattribute__(self, "__dict__")
            fn = d.get("_xml_factory")
            if fn is not None:
                d["body_xml"] = fn()
                d["_xml_factory"] = None
        return object.__getattribute__(self, name)

    def set_body_xml_factory(self, fn) -> None:
        """Build ``body_xml`` lazily with ``fn()`` the first time it is read."""
        self.__dict__["_xml_factory"] = fn

    # ------------------------------------------------------------------ summaries
    @property
    def n_frames(self) -> int:
        return int(self.time.size)

    @property
    def rate(self) -> float:
        return float(np.round(1.0 / np.median(np.diff(self.time)), 6)) if self.n_frames > 1 \
            else float("nan")

    @property
    def mean_error_m(self) -> float:
        """Mean keypoint-to-model distance over present keypoints (m)."""
        r = self.residuals[np.isfinite(self.residuals)]
        return float(r.mean()) if r.size else float("nan")

    def error_per_keypoint(self) -> dict[str, float]:
        """Mean keypoint-to-model distance per keypoint (m)."""
        return {k: float(np.nanmean(self.residuals[:, i])) if np.isfinite(
            self.residuals[:, i]).any() else float("nan")
            for i, k in enumerate(self.keypoint_names)}

    def keypoints_in_model_frame(self, which: str = "model") -> np.ndarray:
        """``model_keypoints`` (or ``kp_data`` with which="data") in the model's world frame."""
        a = self.model_keypoints if which == "model" else self.kp_data
        inv = np.linalg.inv(self.base_transform)
        return a @ inv[:3, :3].T + inv[:3, 3]

    def summary(self) -> dict[str, Any]:
        return {"n_frames": self.n_frames, "mean_error_mm": 1e3 * self.mean_error_m,
                "error_mm_per_keypoint": {k: 1e3 * v for k, v in
                                          self.error_per_keypoint().items()},
                "segment_scales": self.segment_scales, "body": self.body_name,
                **{k: self.info[k] for k in ("frames_at_limit", "seconds") if k in self.info}}

    def body(self):
        """Rebuild the registered (scaled) body as a ``neuroimit.body.BodyModel``."""
        if not self.body_xml:
            raise DataError("this registration carries no body MJCF", field="body_xml",
                            expected="a registration made by neuroimit.stac.register")
        from ..body import load_body  # noqa: PLC0415 - optional at import time
        kmap = dict(zip(self.keypoint_names, self.site_names)) if self.site_names else None
        return load_body(self.body_xml, keypoint_map=kmap)

    # ------------------------------------------------------------------ HDF5
    def save(self, path: str | os.PathLike) -> Path:
        """Write to HDF5 at ``path`` atomically (temp file, then rename)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                for name in _ARRAYS:
                    f.create_dataset(name, data=np.asarray(getattr(self, name)),
                                     compression="gzip" if name != "time" else None)
                for name in _NAMES:
                    f.create_dataset(name, data=np.array(getattr(self, name), dtype="S"))
                f.attrs["segment_scales"] = json.dumps(self.segment_scales)
                f.attrs["body_name"] = self.body_name
                f.attrs["body_xml"] = self.body_xml
                f.attrs["info"] = json.dumps(self.info, default=_json_default)
                g = f.create_group("extras")
                for k, v in self.extras.items():
                    g.create_dataset(k, data=v if not isinstance(v, str) else np.bytes_(v))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Registration":
        """Read a file written by :meth:`save` (errors name the file and the field)."""
        path = Path(path)
        if not path.exists():
            raise DataError("file does not exist", file=str(path))
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"cannot be read as HDF5 ({exc})", file=str(path),
                            expected="a registration saved by Registration.save") from exc
        with f:
            if f.attrs.get("format") != FORMAT:
                hint = (" (a stac-mjx output? use Registration.from_stac_mjx)"
                        if "marker_sites" in f else "")
                raise DataError("is not a neuroimit registration" + hint, file=str(path),
                                field="attrs/format", expected=FORMAT)
            kw: dict[str, Any] = {}
            for name in _ARRAYS:
                if name not in f:
                    raise DataError("dataset missing", file=str(path), field=name)
                kw[name] = f[name][()]
            for name in _NAMES:
                kw[name] = _str_list(f[name][()]) if name in f else ()
            kw["segment_scales"] = json.loads(f.attrs["segment_scales"])
            kw["body_name"] = str(f.attrs.get("body_name", ""))
            kw["body_xml"] = str(f.attrs.get("body_xml", ""))
            kw["info"] = json.loads(f.attrs.get("info", "{}"))
            kw["extras"] = {k: f["extras"][k][()] for k in f.get("extras", {})}
        return cls(**kw)

    # ------------------------------------------------------------------ stac-mjx layout
    def to_stac_mjx(self, path: str | os.PathLike, *, dtype=np.float64) -> Path:
        """Write the stac-mjx output layout (one HDF5 file), atomically.

        ``xpos``/``xquat`` (body poses in the data frame) are computed with MuJoCo from the
        registered body when it is available, else taken from ``extras``.
        """
        path = Path(path)
        T, K = self.n_frames, len(self.keypoint_names)
        xpos = self.extras.get("xpos")
        xquat = self.extras.get("xquat")
        names_xpos = self.extras.get("names_xpos")
        if self.body_xml and (xpos is None or "xpos" not in self.extras):
            xpos, xquat, names_xpos = self._body_poses()
        if xpos is None:
            xpos, xquat = np.zeros((T, 0, 3)), np.zeros((T, 0, 4))
            names_xpos = np.array([], dtype="S")
        config = self.extras.get("config")
        if config is None:
            config = self._stac_config_yaml()
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("qpos", data=self.qpos.astype(dtype))
                f.create_dataset("qvel", data=self.qvel.astype(dtype))
                f.create_dataset("xpos", data=np.asarray(xpos).astype(dtype))
                f.create_dataset("xquat", data=np.asarray(xquat).astype(dtype))
                f.create_dataset("kp_data", data=self.kp_data.reshape(T, 3 * K).astype(dtype))
                f.create_dataset("marker_sites", data=self.model_keypoints.astype(dtype))
                f.create_dataset("offsets", data=self.offsets.astype(dtype))
                f.create_dataset("names_qpos", data=np.array(self.qpos_names, dtype="S"))
                f.create_dataset("names_xpos", data=np.array(_str_list(names_xpos), dtype="S"))
                f.create_dataset("kp_names", data=np.array(self.keypoint_names, dtype="S"))
                f.create_dataset("config", data=np.bytes_(config if isinstance(config, bytes)
                                                          else str(config).encode()))
        return path

    @classmethod
    def from_stac_mjx(cls, path: str | os.PathLike, *, rate: float | None = None) -> "Registration":
        """Read a stac-mjx output file (the rate is taken from ``rate``, else 200 Hz when the
        file's config does not state it, as for the mouse reach clips)."""
        path = Path(path)
        if not path.exists():
            raise DataError("file does not exist", file=str(path))
        need = ("qpos", "kp_data", "marker_sites", "offsets", "kp_names", "names_qpos")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"cannot be read as HDF5 ({exc})", file=str(path),
                            expected="a stac-mjx output file") from exc
        with f:
            missing = [n for n in need if n not in f]
            if missing:
                raise DataError(f"lacks datasets {missing}", file=str(path),
                                expected=f"a stac-mjx output with {list(need)}")
            qpos = f["qpos"][()].astype(np.float64)
            T = qpos.shape[0]
            kp_names = _str_list(f["kp_names"][()])
            K = len(kp_names)
            kp = f["kp_data"][()].astype(np.float64)
            if kp.size != T * K * 3:
                raise DataError(f"kp_data has shape {kp.shape} for {T} frames x {K} keypoints",
                                file=str(path), field="kp_data", expected="(T, 3K)")
            kp = kp.reshape(T, K, 3)
            ms = f["marker_sites"][()].astype(np.float64).reshape(T, K, 3)
            extras = {}
            for k in ("xpos", "xquat", "names_xpos", "config"):
                if k in f:
                    extras[k] = f[k][()]
            qvel = f["qvel"][()].astype(np.float64) if "qvel" in f else np.zeros_like(qpos)
            offsets = f["offsets"][()].astype(np.float64).reshape(K, 3)
            names_qpos = _str_list(f["names_qpos"][()])
        cfg = {}
        if "config" in extras:
            try:
                cfg = yaml.safe_load(extras["config"]) or {}
            except yaml.YAMLError:
                cfg = {}
        if rate is None:
            rate = float(_find_rate(cfg) or 200.0)
        model_cfg = cfg.get("model", {}) if isinstance(cfg, dict) else {}
        body_name = str(model_cfg.get("MJCF_PATH", "")) if isinstance(model_cfg, dict) else ""
        pairs = model_cfg.get("KEYPOINT_MODEL_PAIRS", {}) if isinstance(model_cfg, dict) else {}
        sites = tuple(str(pairs.get(k, "")) for k in kp_names) if isinstance(pairs, dict) else ()
        res = np.linalg.norm(kp - ms, axis=2)
        return cls(time=np.arange(T) / rate, qpos=qpos, qvel=qvel, qpos_names=names_qpos,
                   joint_names=names_qpos, keypoint_names=kp_names, kp_data=kp,
                   model_keypoints=ms, offsets=offsets, segment_scales={}, residuals=res,
                   site_names=sites, body_name=body_name,
                   info={"source": str(path), "tool": "stac-mjx", "rate_assumed": rate},
                   extras=extras)

    # ------------------------------------------------------------------ helpers
    def _body_poses(self):
        import mujoco  # noqa: PLC0415
        model = mujoco.MjModel.from_xml_string(self.body_xml)
        data = mujoco.MjData(model)
        T = self.n_frames
        xpos = np.zeros((T, model.nbody, 3))
        xquat = np.zeros((T, model.nbody, 4))
        for t in range(T):  # export only: the C engine
            data.qpos[:] = self.qpos[t]
            mujoco.mj_kinematics(model, data)
            xpos[t], xquat[t] = data.xpos, data.xquat
        # into the data frame
        R, p = self.base_transform[:3, :3], self.base_transform[:3, 3]
        xpos = xpos @ R.T + p
        if not np.allclose(R, np.eye(3)):
            from scipy.spatial.transform import Rotation  # noqa: PLC0415
            rq = Rotation.from_matrix(R)
            q = Rotation.from_quat(xquat.reshape(-1, 4)[:, [1, 2, 3, 0]])
            xq = (rq * q).as_quat()[:, [3, 0, 1, 2]]
            xquat = xq.reshape(T, model.nbody, 4)
        names = [model.body(i).name for i in range(model.nbody)]
        return xpos, xquat, np.array(names, dtype="S")

    def _stac_config_yaml(self) -> bytes:
        cfg = {"model": {"MJCF_PATH": self.body_name,
                         "KP_NAMES": list(self.keypoint_names),
                         "KEYPOINT_MODEL_PAIRS": dict(zip(self.keypoint_names, self.site_names)),
                         "KEYPOINT_INITIAL_OFFSETS": {
                             k: " ".join(f"{v:.9g}" for v in self.offsets[i])
                             for i, k in enumerate(self.keypoint_names)},
                         "SCALE_FACTOR": 1.0, "MOCAP_SCALE_FACTOR": 1.0},
               "stac": {"n_frames_per_clip": self.n_frames, "infer_qvels": True},
               "neuroimit": {"rate_hz": self.rate, "segment_scales": self.segment_scales,
                             "base_transform": self.base_transform.tolist(),
                             "config": self.info.get("config", {})}}
        return yaml.safe_dump(cfg, sort_keys=False).encode()


def _find_rate(cfg) -> float | None:
    if not isinstance(cfg, dict):
        return None
    for key in ("rate_hz", "RATE", "FPS", "fps", "frame_rate"):
        for sect in (cfg, cfg.get("neuroimit", {}), cfg.get("model", {}), cfg.get("stac", {})):
            if isinstance(sect, dict) and isinstance(sect.get(key), (int, float)):
                return float(sect[key])
    return None


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)
