"""Write pipeline results back into NWB, as processing modules beside the original data.

Registration results (joint angles, velocities, marker residuals, model keypoints, keypoint
offsets, segment scales), rollout results (simulated joint angles, keypoints, muscle
excitations, activations, forces, policy latents) and analysis tables go into processing
modules with clear names and units. Acquisition data is never touched: the file is copied
to a temporary name beside the output, the module is appended there with pynwb, and the copy
is renamed into place (``out_path=None`` replaces the input file the same safe way).

Objects are duck-typed: anything with the attributes of ``neuroimit.stac.Registration`` /
``neuroimit.imitation.Rollout`` (or a plain dict with those keys) works.

>>> add_registration("session.nwb", reg, "session+stac.nwb")         # doctest: +SKIP
>>> add_rollout("session+stac.nwb", roll)                             # doctest: +SKIP
>>> add_table("session.nwb", {"muscle": ["biceps"], "r": [0.8]}, "alignment")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import DataError

__all__ = ["add_registration", "add_rollout", "add_table", "REGISTRATION_MODULE",
           "ROLLOUT_MODULE", "ANALYSIS_MODULE"]

REGISTRATION_MODULE = "stac_registration"
ROLLOUT_MODULE = "imitation_rollout"
ANALYSIS_MODULE = "neuroimit_analysis"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _append(nwb_path: str | os.PathLike, out_path: str | os.PathLike | None,
            build: Callable[[Any], None], overwrite: bool) -> Path:
    """Copy, append with pynwb, rename: the input is never modified in place."""
    from pynwb import NWBHDF5IO

    src = Path(nwb_path)
    if not src.exists():
        raise DataError("file does not exist", file=str(src))
    out = Path(out_path) if out_path is not None else src
    if out != src and out.exists() and not overwrite:
        raise DataError("output file already exists", file=str(out),
                        expected="a new path, or overwrite=True")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".tmp.nwb") as tmp:
        shutil.copyfile(src, tmp)
        try:
            io = NWBHDF5IO(tmp, mode="a")
            nwb = io.read()
        except Exception as exc:
            raise DataError(f"pynwb cannot open the file for appending "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                            file=str(src), expected="an NWB file pynwb can read (convert "
                            "legacy files first: neuroimit convert)") from None
        try:
            build(nwb)
            io.write(nwb)
        finally:
            io.close()
    return out


def _module(nwb, name: str, description: str):
    if name in nwb.processing:
        raise DataError(f"the file already has a processing module named {name!r}",
                        field="module", expected="another module= name")
    return nwb.create_processing_module(name, description)


def _time(obj: Any, n: int, what: str) -> np.ndarray:
    t = _get(obj, "time")
    if t is None:
        rate = _get(obj, "rate") or _get(obj, "control_rate")
        if rate is None:
            raise DataError(f"{what} has no 'time' (or rate)", field="time",
                            expected="timestamps in seconds")
        return np.arange(n) / float(rate)
    t = np.asarray(t, dtype=np.float64).ravel()
    if t.size != n:
        raise DataError(f"{what}: {t.size} timestamps for {n} samples", field="time")
    return t


def _series(mod, name: str, data: Any, time: np.ndarray, unit: str, description: str,
            columns: Sequence[str] | None = None, link=None):
    """Add one TimeSeries (first axis time); returns it so later series can share timestamps."""
    from pynwb import TimeSeries

    data = np.asarray(data, dtype=np.float64)
    if data.shape[0] != time.size:
        raise DataError(f"{name}: {data.shape[0]} samples for {time.size} timestamps",
                        field=name, expected="time along the first axis")
    comments = json.dumps({"columns": list(map(str, columns))}) if columns is not None \
        else "no comments"
    if columns is not None:
        description = f"{description}; columns: {', '.join(map(str, columns))}"
    ts = TimeSeries(name=name, data=data, unit=unit, description=description,
                    comments=comments, timestamps=link if link is not None else time)
    mod.add(ts)
    return ts


def _table(mod, name: str, description: str, columns: Mapping[str, Any],
           docs: Mapping[str, str] | None = None):
    from hdmf.common import DynamicTable, VectorData

    cols = []
    for c, v in columns.items():
        arr = np.asarray(v)
        if arr.dtype.kind in "OU":
            arr = arr.astype(str)
        cols.append(VectorData(name=str(c), description=(docs or {}).get(c, str(c)), data=arr))
    mod.add(DynamicTable(name=name, description=description, columns=cols))


def add_registration(nwb_path: str | os.PathLike, registration: Any,
                     out_path: str | os.PathLike | None = None, *,
                     module: str = REGISTRATION_MODULE, overwrite: bool = False) -> Path:
    """Add STAC registration results as processing module ``stac_registration``.

    ``registration``: a :class:`neuroimit.stac.Registration` or anything (object or dict)
    with ``time (T,)``, ``qpos (T, nq)`` rad and optionally ``qvel``, ``qpos_names``,
    ``keypoint_names``, ``residuals (T, K)`` m, ``model_keypoints (T, K, 3)`` m,
    ``offsets (K, 3)`` m, ``segment_scales`` dict, ``body_name``, ``info`` dict.

    Writes TimeSeries ``joint_angles`` (radians), ``joint_velocities`` (radians/s),
    ``marker_residuals`` (meters), ``model_keypoints`` (meters), and tables
    ``keypoint_offsets`` (meters, in each site's body frame) and ``segment_scales``.
    """
    qpos = _get(registration, "qpos")
    if qpos is None:
        raise DataError("registration has no 'qpos'", field="qpos",
                        expected="joint angles (T, nq) in radians")
    qpos = np.asarray(qpos, dtype=np.float64)
    t = _time(registration, qpos.shape[0], "registration")
    names = _get(registration, "qpos_names") or _get(registration, "joint_names")
    kp_names = _get(registration, "keypoint_names")
    body = _get(registration, "body_name") or "body model"
    info = _get(registration, "info") or {}

    def build(nwb):
        mod = _module(nwb, module, f"neuroimit STAC registration of the pose to {body}: joint "
                      f"angles, velocities, marker residuals, keypoint offsets; info "
                      f"{json.dumps(_jsonable(info), default=str)[:2000]}")
        link = _series(mod, "joint_angles", qpos, t, "radians",
                       "registered joint angles (qpos)", names)
        qvel = _get(registration, "qvel")
        if qvel is not None:
            _series(mod, "joint_velocities", qvel, t, "radians/s",
                    "registered joint velocities (qvel)", names, link)
        res = _get(registration, "residuals")
        if res is not None:
            _series(mod, "marker_residuals", res, t, "meters", "distance between each "
                    "keypoint and its model site after registration", kp_names, link)
        mk = _get(registration, "model_keypoints")
        if mk is not None:
            _series(mod, "model_keypoints", mk, t, "meters", "model keypoint positions "
                    "(site + offset), x y z per keypoint", kp_names, link)
        off = _get(registration, "offsets")
        if off is not None:
            off = np.asarray(off, dtype=np.float64).reshape(-1, 3)
            labels = list(kp_names) if kp_names is not None else \
                [str(i) for i in range(off.shape[0])]
            _table(mod, "keypoint_offsets", "keypoint offsets from their model sites, in the "
                   "site's body frame, meters",
                   {"keypoint": labels, "offset_x": off[:, 0], "offset_y": off[:, 1],
                    "offset_z": off[:, 2]})
        scales = _get(registration, "segment_scales")
        if scales:
            _table(mod, "segment_scales", "per-segment length scales of the registered body "
                   "(1 = template)", {"segment": list(scales), "scale":
                                      [float(v) for v in scales.values()]})

    return _append(nwb_path, out_path, build, overwrite)


_ROLLOUT_FIELDS = (
    ("qpos", "joint_angles", "radians", "simulated joint angles", "qpos_names"),
    ("keypoints", "keypoints", "meters", "simulated keypoint positions", "keypoint_names"),
    ("excitation", "muscle_excitation", "n.a.", "muscle excitations (controls, 0..1)",
     "muscle_names"),
    ("activation", "muscle_activation", "n.a.", "muscle activations (0..1)", "muscle_names"),
    ("force", "muscle_force", "newtons", "muscle forces", "muscle_names"),
    ("latent", "policy_latent", "n.a.", "policy network latent activity", None),
)


def add_rollout(nwb_path: str | os.PathLike, rollout: Any,
                out_path: str | os.PathLike | None = None, *, module: str = ROLLOUT_MODULE,
                overwrite: bool = False) -> Path:
    """Add imitation rollout results as processing module ``imitation_rollout``.

    ``rollout``: a :class:`neuroimit.imitation.Rollout` or anything with ``time`` and any of
    ``qpos`` (rad), ``keypoints`` (m), ``excitation``, ``activation`` (0..1), ``force`` (N),
    ``latent``; optional ``qpos_names``, ``muscle_names``, ``keypoint_names``, ``errors``.
    Arrays may hold several clips (a leading clip axis, with ``time`` (clips, T) or a list):
    each clip becomes its own series (``joint_angles_clip0`` ...).
    """
    present = [f for f in _ROLLOUT_FIELDS if _get(rollout, f[0]) is not None]
    if not present:
        raise DataError("rollout has none of qpos, keypoints, excitation, activation, force, "
                        "latent", field="rollout")
    time = _get(rollout, "time")
    multi = time is not None and (isinstance(time, (list, tuple)) and time and
                                  np.ndim(time[0]) == 1 or np.ndim(time) == 2)

    def build(nwb):
        mod = _module(nwb, module, "neuroimit imitation rollout: the policy driving the "
                      "musculoskeletal model (simulated joints, keypoints, muscle "
                      "excitations, activations, forces, latents)")
        clips = range(len(time)) if multi else [None]
        for c in clips:
            t = np.asarray(time[c] if c is not None else
                           _time(rollout, np.asarray(_get(rollout, present[0][0])).shape[0],
                                 "rollout"), dtype=np.float64)
            link = None
            for attr, name, unit, desc, names_attr in present:
                v = _get(rollout, attr)
                v = np.asarray(v[c] if c is not None else v, dtype=np.float64)
                cols = _get(rollout, names_attr) if names_attr else None
                if cols is not None and (v.ndim < 2 or len(cols) != v.shape[1]):
                    cols = None
                ts = _series(mod, name if c is None else f"{name}_clip{c}", v, t, unit, desc,
                             cols, link)
                link = link or ts
        errors = _get(rollout, "errors")
        if isinstance(errors, Mapping) and errors:
            cols = {k: np.ravel(np.asarray(v, dtype=np.float64)) for k, v in errors.items()}
            lengths = {len(v) for v in cols.values()}
            if len(lengths) == 1:
                _table(mod, "errors", "per-clip tracking errors of the rollout (SI units)",
                       cols)

    return _append(nwb_path, out_path, build, overwrite)


def add_table(nwb_path: str | os.PathLike, table: Any, name: str,
              out_path: str | os.PathLike | None = None, *, description: str | None = None,
              units: Mapping[str, str] | None = None, module: str = ANALYSIS_MODULE,
              overwrite: bool = False) -> Path:
    """Add an analysis table (DataFrame or dict of equal-length columns) to module
    ``neuroimit_analysis`` (created when missing), as DynamicTable ``name``.

    ``units`` maps column -> unit, written into each column's description.
    """
    df = pd.DataFrame(table) if not isinstance(table, pd.DataFrame) else table
    if df.empty:
        raise DataError(f"table {name!r} is empty", field="table",
                        expected="at least one row")
    units = dict(units or {})

    def build(nwb):
        mod = nwb.processing[module] if module in nwb.processing else \
            nwb.create_processing_module(module, "neuroimit analysis results (tables)")
        if name in mod.data_interfaces:
            raise DataError(f"module {module!r} already holds {name!r}", field="name",
                            expected="another table name")
        docs = {c: f"{c} ({units[c]})" if c in units else str(c) for c in df.columns}
        _table(mod, name, description or f"analysis table {name}",
               {str(c): df[c].to_numpy() for c in df.columns}, docs)

    return _append(nwb_path, out_path, build, overwrite)
