"""NWB files -> :class:`~neuroimit.session.Session` (pose, EMG, trials, metadata, truth).

The reader walks the HDF5 layout of NWB directly (``neurodata_type`` attributes), so it reads
current ndx-pose files (Skeleton + PoseEstimation), legacy ndx-pose 0.1 files that pynwb 4 +
ndx-pose 0.4 refuse to build, and plain Position/SpatialSeries, locally or streamed, and it
reads only the samples a requested time window needs.

>>> sess = read_nwb("session.nwb")                               # doctest: +SKIP
>>> sess = read_nwb("rat.nwb", keypoint_unit="mm")     # "pixels" label      # doctest: +SKIP
>>> sess = read_nwb("s.nwb", trial=3)                  # one trial only      # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import IO, Any, Sequence

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, NeuroimitError
from ..session import EMG, Session
from ..units import LENGTH_TO_M, length_factor, voltage_factor
from .hdf import attr_str, kind_of, open_hdf5, read_str
from .names import normalise_name, parse_channel_names
from .series import LazySeries, Notes

__all__ = ["NWBOptions", "read_nwb", "read_nwb_file", "catalog", "read_table"]

log = logging.getLogger("neuroimit.loaders")

METADATA_PREFIX = "neuroimit_metadata: "
PIXEL_UNITS = {"pixels", "pixel", "px"}
POSE_TYPES = ("PoseEstimation",)
EMG_WORDS = re.compile(r"emg|electromyo|muscle", re.I)
MUSCLE_WORDS = re.compile(r"biceps|triceps|tri_?l(ong|at)|deltoid|pector|brachi|latissim|"
                          r"trapez|flexor|extensor|ecr|ecu|fcr|fcu|edc|fdp|fds|supinator|"
                          r"pronator|anconeus|teres|infraspin|supraspin|muscle", re.I)
ENVELOPE_WORDS = re.compile(r"envelope|rectif|smooth|normali[sz]ed|processed|filtered", re.I)


@dataclass
class NWBOptions:
    """What to read from an NWB file (every field has a sensible default).

    pose: which pose container/series to read: a name or path suffix such as
        ``"PoseEstimation"`` or ``"behavior/Position"``; None picks one and says which.
    emg: which EMG object to read (name or path suffix); None picks one; False skips EMG.
    keypoint_unit: the true unit of the keypoints (m, cm, mm, um) when the file's label is
        wrong or missing (e.g. 3D data labelled "pixels").
    emg_channels: channel names for EMG stored without them (one multi-column series).
    emg_kind: "raw" or "envelope"; None infers it (ElectricalSeries -> raw; descriptions
        saying envelope/rectified/normalised -> envelope).
    emg_unit: the EMG unit when the file's is missing or wrong (V, mV, uV, a.u.).
    trials: name of the trials table (``"trials"``) or None to ignore trials.
    intervals: other TimeIntervals tables to read into ``metadata['intervals']``.
    window: (t0, t1) seconds: read only samples with t0 <= t < t1.
    trial: read only this trial's window (row index into the trials table).
    keypoints: keep only these keypoints (in this order).
    """

    pose: str | None = None
    emg: str | None | bool = None
    keypoint_unit: str | None = None
    emg_channels: Sequence[str] | None = None
    emg_kind: str | None = None
    emg_unit: str | None = None
    trials: str | None = "trials"
    intervals: Sequence[str] = ()
    window: tuple[float, float] | None = None
    trial: int | None = None
    keypoints: Sequence[str] | None = None
    truth: bool = True
    notes: Notes = field(default_factory=Notes)


# ---------------------------------------------------------------------------- catalog
def catalog(f: h5py.File, roots: Sequence[str] = ("acquisition", "processing"),
            max_depth: int = 4) -> list[tuple[str, str]]:
    """``(path, neurodata_type)`` of every typed group under ``roots`` (groups only)."""
    out: list[tuple[str, str]] = []

    def walk(g: h5py.Group, depth: int) -> None:
        for name in g:
            cls = g.get(name, getclass=True)
            if cls is not h5py.Group:
                continue
            sub = g[name]
            t = kind_of(sub)
            if t:
                out.append((sub.name, t))
            if depth < max_depth:
                walk(sub, depth + 1)

    for r in roots:
        if r in f and isinstance(f[r], h5py.Group):
            walk(f[r], 1)
    return out


def _short(path: str) -> str:
    return path[len("/processing/"):] if path.startswith("/processing/") else path.lstrip("/")


def _matches(path: str, want: str) -> bool:
    want = want.strip("/")
    short = _short(path)
    return short == want or path.strip("/") == want or short.endswith("/" + want) \
        or path.rsplit("/", 1)[-1] == want


# ---------------------------------------------------------------------------- pose
@dataclass
class _PoseCandidate:
    path: str
    kind: str                 # "PoseEstimation", "Position", "SpatialSeries"
    series: list[str]         # group paths of the per-keypoint series
    legacy: bool = False


def _pose_candidates(f: h5py.File, cat: list[tuple[str, str]]) -> list[_PoseCandidate]:
    cands: list[_PoseCandidate] = []
    inside: set[str] = set()
    for path, t in cat:
        if t in POSE_TYPES:
            g = f[path]
            members = [g[n].name for n in g if g.get(n, getclass=True) is h5py.Group
                       and kind_of(g[n]) == "PoseEstimationSeries"]
            order = None
            legacy = "nodes" in g and isinstance(g["nodes"], h5py.Dataset)
            if legacy:
                order = read_str(g["nodes"])
            else:  # ndx-pose >= 0.2: a link to the Skeleton (named after the skeleton)
                for n in g:
                    if g.get(n, getclass=True) is h5py.Group and \
                            kind_of(g[n]) == "Skeleton" and "nodes" in g[n]:
                        order = read_str(g[n]["nodes"])
                        break
            if order:
                by_name = {m.rsplit("/", 1)[-1]: m for m in members}
                if set(by_name) == set(order):
                    members = [by_name[n] for n in order]
            inside.update(members)
            cands.append(_PoseCandidate(path, "PoseEstimation", members, legacy))
        elif t == "Position":
            g = f[path]
            members = [g[n].name for n in g if g.get(n, getclass=True) is h5py.Group
                       and kind_of(g[n]) == "SpatialSeries"]
            inside.update(members)
            if members:
                cands.append(_PoseCandidate(path, "Position", members))
    for path, t in cat:
        if t == "SpatialSeries" and path not in inside:
            cands.append(_PoseCandidate(path, "SpatialSeries", [path]))
    return cands


def _pick(cands: list, want: str | None, what: str, label: str, notes: Notes,
          hint: str) -> Any:
    names = [_short(c.path) for c in cands]
    if want is not None:
        hits = [c for c in cands if _matches(c.path, want)]
        if not hits:
            # a series name inside a container
            hits = [c for c in cands if any(_matches(s, want) for s in c.series)]
            if hits:
                c = hits[0]
                sel = [s for s in c.series if _matches(s, want)]
                return _PoseCandidate(c.path, c.kind, sel, c.legacy)
        if not hits:
            raise DataError(f"no {what} named {want!r}", file=label, field=what,
                            expected=f"one of {names}")
        return hits[0]
    chosen = cands[0]
    if len(cands) > 1:
        notes.info(f"{label}: {len(cands)} {what} candidates {names}; read "
                   f"{_short(chosen.path)!r} ({hint} to choose another)")
    return chosen


def _read_pose(f: h5py.File, cat, opts: NWBOptions, label: str):
    notes = opts.notes
    cands = _pose_candidates(f, cat)
    if not cands:
        types = sorted({t for _, t in cat})
        raise DataError("no pose found (no PoseEstimation, Position or SpatialSeries)",
                        file=label, field="processing",
                        expected=f"3D keypoints in an NWB file; it holds {types or 'nothing'}")
    # prefer ndx-pose containers, then Position, then loose series; more keypoints first
    rank = {"PoseEstimation": 0, "Position": 1, "SpatialSeries": 2}
    cands.sort(key=lambda c: (rank[c.kind], -len(c.series), c.path))
    cand = _pick(cands, opts.pose, "pose", label, notes, "pass pose=NAME")
    if not cand.series:
        raise DataError("pose container holds no series", file=label, field=cand.path,
                        expected="PoseEstimationSeries / SpatialSeries")
    if cand.legacy:
        notes.warn(f"{label}: legacy ndx-pose 0.1 layout at {cand.path} (nodes/edges on "
                   "PoseEstimation, which pynwb 4 + ndx-pose 0.4 cannot build); read its "
                   f"{len(cand.series)} PoseEstimationSeries directly from the HDF5 groups")
    series = [LazySeries(f[p], label) for p in cand.series]
    # loose SpatialSeries with 3K columns -> K keypoints
    ref = series[0]
    for s in series:
        if len(s.shape) != 2 or s.shape[1] not in (2, 3):
            if s.shape[1:] and len(s.shape) == 2 and s.shape[1] % 3 == 0 and len(series) == 1:
                continue
            raise DataError(f"pose series has shape {s.shape}", file=label, field=s.path,
                            expected="(frames, 3) x, y, z per keypoint")
        if s.shape[1] == 2:
            raise DataError("pose has 2 coordinates per frame (2D pose)", file=label,
                            field=s.path, expected="3D keypoints (x, y, z); 2D pose cannot be "
                            "registered to a 3D body")
    i0, i1 = ref.index_range(opts.window)
    time = ref.times(i0, i1)
    cols, confs, names, units = [], [], [], set()
    for s in series:
        if s.n != ref.n:
            raise DataError(f"pose series have different lengths ({s.n} vs {ref.n} frames)",
                            file=label, field=s.path, expected="one time base for all keypoints")
        if not s.same_time_base(ref) and s.timestamps is not None:
            t = s.times(i0, i1)
            if t.shape != time.shape or not np.allclose(t, time, rtol=0, atol=1e-9):
                raise DataError("pose series have different timestamps", file=label,
                                field=f"{s.path}/timestamps",
                                expected="one time base for all keypoints")
        v = s.values(i0, i1)
        units.add(s.unit.strip().lower())
        if v.shape[1] == 3:
            cols.append(v[:, None, :])
            names.append(s.name)
        else:  # one series with K x 3 columns
            k = v.shape[1] // 3
            cols.append(v.reshape(v.shape[0], k, 3))
            kn = parse_channel_names(s.description or s.comments, k)
            names.extend(kn or [f"{s.name}_{j}" for j in range(k)])
        if "confidence" in s.group:
            c = np.asarray(s.group["confidence"][i0:i1], dtype=np.float64)
            confs.append(np.repeat(c[:, None], cols[-1].shape[1], axis=1) if c.ndim == 1 else c)
        else:
            confs.append(np.ones(cols[-1].shape[:2]))
    kp = np.concatenate(cols, axis=1) if cols else np.zeros((0, 0, 3))
    conf = np.concatenate(confs, axis=1)
    if len(units) > 1:
        raise DataError(f"pose series use different units {sorted(units)}", file=label,
                        field=cand.path, expected="one length unit")
    unit = units.pop() if units else ""
    kp = kp * _length_factor(unit, opts.keypoint_unit, kp, label, cand.path, notes)
    if opts.keypoints is not None:
        idx = []
        for n in opts.keypoints:
            hit = [i for i, m in enumerate(names) if normalise_name(m) == normalise_name(n)]
            if not hit:
                raise DataError(f"no keypoint named {n!r}", file=label, field="keypoints",
                                expected=f"names among {names}")
            idx.append(hit[0])
        kp, conf, names = kp[:, idx], conf[:, idx], [names[i] for i in idx]
    return kp, time, names, conf, _short(cand.path)


def _peek_pose_rate(f: h5py.File, cat, opts: NWBOptions, label: str) -> float:
    """The pose rate (Hz) from the chosen series' rate or its first timestamps."""
    cands = _pose_candidates(f, cat)
    if not cands:
        raise DataError("no pose found", file=label, field="processing")
    rank = {"PoseEstimation": 0, "Position": 1, "SpatialSeries": 2}
    cands.sort(key=lambda c: (rank[c.kind], -len(c.series), c.path))
    cand = _pick(cands, opts.pose, "pose", label, Notes(), "pass pose=NAME")
    s = LazySeries(f[cand.series[0]], label)
    if s.rate is not None:
        return s.rate
    t = s.times(0, min(s.n, 65))
    d = np.diff(t)
    return float(1.0 / np.median(d)) if d.size and np.median(d) > 0 else 1e6


def _length_factor(unit: str, user_unit: str | None, kp: np.ndarray, label: str,
                   where: str, notes: Notes) -> float:
    """Factor to metres; the user's unit wins; 'pixels' cannot be right for 3D data."""
    if user_unit is not None:
        factor = length_factor(user_unit, file=label, field="keypoint_unit")
        if unit and unit != user_unit.lower() and unit in LENGTH_TO_M \
                and LENGTH_TO_M[unit] != factor:
            notes.warn(f"{label}: {where} says unit {unit!r}; using keypoint_unit="
                       f"{user_unit!r} as you asked")
        elif unit and unit not in LENGTH_TO_M:
            notes.warn(f"{label}: {where} says unit {unit!r}, which is not a length for 3D "
                       f"keypoints; read them as {user_unit!r} as you asked")
        return factor
    if unit in LENGTH_TO_M:
        return LENGTH_TO_M[unit]
    finite = kp[np.isfinite(kp)]
    span = f" (values span {finite.min():.4g} to {finite.max():.4g})" if finite.size else ""
    if unit in PIXEL_UNITS:
        raise DataError(f"pose unit {unit!r} cannot be right for 3D keypoints{span}",
                        file=label, field=f"{where} unit",
                        expected="the true unit via keypoint_unit= (CLI: --keypoint-unit): m, cm, mm or um")
    raise DataError(f"unknown pose unit {unit!r}{span}", file=label, field=f"{where} unit",
                    expected="m, cm, mm or um (or pass keypoint_unit=)")


# ---------------------------------------------------------------------------- tables
def read_table(g: h5py.Group, label: str, notes: Notes | None = None) -> pd.DataFrame:
    """An NWB DynamicTable as a DataFrame (ragged and reference columns are skipped)."""
    cols = attr_str(g, "colnames")
    raw = g.attrs.get("colnames", [])
    names = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(raw)] \
        if cols is not None else []
    data: dict[str, Any] = {}
    n = int(g["id"].shape[0]) if "id" in g else None
    for c in names:
        if c not in g:
            continue
        if f"{c}_index" in g:
            if notes is not None:
                notes.info(f"{label}: skipped ragged column {c!r} of {g.name}")
            continue
        ds = g[c]
        if ds.dtype.kind == "O" and h5py.check_string_dtype(ds.dtype) is None:
            continue  # object references
        if ds.dtype.names:  # compound (e.g. TimeSeriesReference): not a plain column
            continue
        v = ds[()]
        if isinstance(v, np.ndarray) and v.ndim > 1:
            continue
        if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind in "SO":
            v = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                          for x in np.atleast_1d(v)], dtype=object)
        data[c] = v
    df = pd.DataFrame(data)
    if n is not None and df.empty and n:
        df = pd.DataFrame(index=range(n))
    return df


def _read_trials(f: h5py.File, name: str, label: str, notes: Notes) -> pd.DataFrame | None:
    g = None
    for p in (f"/intervals/{name}", f"/{name}"):
        if p in f and isinstance(f[p], h5py.Group):
            g = f[p]
            break
    if g is None:
        if name != "trials":
            have = list(f["intervals"]) if "intervals" in f else []
            raise DataError(f"no TimeIntervals table named {name!r}", file=label,
                            field="intervals", expected=f"one of {have}")
        return None
    df = read_table(g, label, notes)
    if len(df) == 0:
        raise DataError("trials table is empty (0 rows)", file=label, field=g.name,
                        expected="at least one trial, or trials=None to ignore the table")
    for c in ("start_time", "stop_time"):
        if c not in df:
            raise DataError(f"trials table lacks {c!r}", file=label, field=g.name,
                            expected="start_time and stop_time columns in seconds")
    return df


# ---------------------------------------------------------------------------- EMG
@dataclass
class _EMGCandidate:
    path: str
    kind: str                 # "ElectricalSeries", "BehavioralTimeSeries", "TimeSeries"
    series: list[str]
    score: int = 0


def _emg_candidates(f: h5py.File, cat) -> list[_EMGCandidate]:
    """Every object that could hold EMG, scored: > 0 when it says it is EMG (words in its
    path/description, a muscle column, series named after muscles). Unscored ones are
    read only when the user names them (``emg=``)."""
    cands: list[_EMGCandidate] = []
    inside: set[str] = set()
    for path, t in cat:
        g = f[path]
        text = f"{path} {attr_str(g, 'description', '')} {attr_str(g, 'comments', '')}"
        if t == "ElectricalSeries":
            score = 2 if EMG_WORDS.search(text) else 0
            if _electrode_muscle_column(f, g) is not None:
                score += 2
            elif _locations_are_muscles(f, g):
                score += 2
            cands.append(_EMGCandidate(path, t, [path], score))
        elif t in ("BehavioralTimeSeries", "EMG", "TimeSeriesContainer"):
            members = [g[n].name for n in g if g.get(n, getclass=True) is h5py.Group
                       and kind_of(g[n]) in ("TimeSeries",)]
            if not members:
                continue
            inside.update(members)
            names = [m.rsplit("/", 1)[-1] for m in members]
            score = 3 if EMG_WORDS.search(text) else \
                2 if sum(bool(MUSCLE_WORDS.search(n)) for n in names) >= max(1, len(names) // 2) \
                else 0
            cands.append(_EMGCandidate(path, "BehavioralTimeSeries", members, score))
    for path, t in cat:
        if t == "TimeSeries" and path not in inside and "/ground_truth/" not in path:
            g = f[path]
            text = f"{path} {attr_str(g, 'description', '')} {attr_str(g, 'comments', '')}"
            cands.append(_EMGCandidate(path, "TimeSeries", [path],
                                       1 if EMG_WORDS.search(text) else 0))
    return cands


def _electrodes_table(f: h5py.File, g: h5py.Group) -> tuple[h5py.Group | None, np.ndarray]:
    if "electrodes" not in g:
        return None, np.zeros(0, int)
    reg = g["electrodes"]
    rows = np.asarray(reg[()], dtype=np.int64)
    table = None
    ref = reg.attrs.get("table")
    if ref is not None:
        try:
            table = f[ref]
        except Exception:  # dangling reference
            table = None
    if table is None and "/general/extracellular_ephys/electrodes" in f:
        table = f["/general/extracellular_ephys/electrodes"]
    return table, rows


def _locations_are_muscles(f: h5py.File, g: h5py.Group) -> bool:
    """True when the electrodes' ``location`` values name muscles (e.g. "biceps")."""
    table, rows = _electrodes_table(f, g)
    if table is None or "location" not in table or rows.size == 0 or rows.size > 256:
        return False
    locs = read_str(table["location"])
    locs = [locs] if isinstance(locs, str) else locs
    picked = [locs[i] for i in rows if 0 <= i < len(locs)]
    return bool(picked) and all(MUSCLE_WORDS.search(x) for x in picked)


def _electrode_muscle_column(f: h5py.File, g: h5py.Group) -> str | None:
    table, _ = _electrodes_table(f, g)
    if table is None:
        return None
    for c in ("muscle", "muscle_name", "muscles"):
        if c in table:
            return c
    return None


def _read_emg(f: h5py.File, cat, opts: NWBOptions, label: str) -> EMG | None:
    notes = opts.notes
    cands = _emg_candidates(f, cat)
    if opts.emg is None:
        cands = [c for c in cands if c.score > 0]
    if not cands:
        if opts.emg not in (None, False):
            raise DataError(f"no EMG named {opts.emg!r}", file=label, field="emg",
                            expected="an ElectricalSeries, a BehavioralTimeSeries of "
                                     "per-muscle TimeSeries, or a multi-column TimeSeries")
        return None
    cands.sort(key=lambda c: (-c.score, c.path))
    cand = _pick(cands, opts.emg if isinstance(opts.emg, str) else None, "EMG", label, notes,
                 "pass emg=NAME")
    series = [LazySeries(f[p], label) for p in cand.series]
    ref = series[0]
    i0, i1 = ref.index_range(opts.window)
    time = ref.times(i0, i1)
    muscles: list[str] | None = None
    info = _json_comments(ref.comments)
    if info.get("channels") and opts.emg_channels is None:
        opts_channels = list(info["channels"])
    else:
        opts_channels = None
    if cand.kind == "ElectricalSeries":
        g = f[cand.path]
        data = ref.values(i0, i1)
        if data.ndim == 1:
            data = data[:, None]
        if "channel_conversion" in g:
            data = data * np.asarray(g["channel_conversion"][()], dtype=np.float64)[None, :]
        channels, muscles = _electrode_names(f, g, data.shape[1], opts, label, notes)
        if opts_channels is not None and len(opts_channels) == data.shape[1]:
            channels = opts_channels
        unit = opts.emg_unit or ref.unit or "volts"
        kind = opts.emg_kind or ("envelope" if ENVELOPE_WORDS.search(ref.description) else "raw")
    elif cand.kind == "BehavioralTimeSeries":
        cols, channels, units = [], [], set()
        for s in series:
            if s.n != ref.n or (not s.same_time_base(ref) and s.timestamps is not None and
                                not np.allclose(s.times(i0, i1), time, rtol=0, atol=1e-9)):
                raise DataError("EMG series have different time bases", file=label,
                                field=s.path, expected="one time base for all muscles")
            v = s.values(i0, i1)
            cols.append(v.reshape(v.shape[0], -1)[:, :1])
            channels.append(s.name)
            units.add(s.unit)
        data = np.concatenate(cols, axis=1)
        if opts.emg_channels is not None:
            channels = list(opts.emg_channels)
        if len(units) > 1:
            raise DataError(f"EMG series use different units {sorted(units)}", file=label,
                            field=cand.path)
        unit = opts.emg_unit or units.pop()
        text = " ".join([attr_str(f[cand.path], "description", "") or ""] +
                        [s.description for s in series])
        kind = opts.emg_kind or ("envelope" if ENVELOPE_WORDS.search(text) else "raw")
    else:
        data = ref.values(i0, i1)
        if data.ndim == 1:
            data = data[:, None]
        channels = list(opts.emg_channels) if opts.emg_channels is not None else \
            opts_channels or ([ref.name] if data.shape[1] == 1 else None) or \
            parse_channel_names(ref.description, data.shape[1]) or \
            parse_channel_names(ref.comments, data.shape[1])
        if channels is None:
            if data.shape[1] == 1:
                channels = [ref.name]
            else:
                raise DataError(f"EMG has {data.shape[1]} columns but no channel names",
                                file=label, field=ref.path,
                                expected="channel names in its description, or pass "
                                         "emg_channels=[...]")
        unit = opts.emg_unit or ref.unit
        kind = opts.emg_kind or ("envelope" if ENVELOPE_WORDS.search(
            ref.description + " " + ref.comments) else "raw")
    if info.get("muscles") and len(info["muscles"]) == data.shape[1] and \
            opts.emg_channels is None:
        muscles = list(info["muscles"])
    if info.get("kind") in ("raw", "envelope") and opts.emg_kind is None:
        kind = info["kind"]
    if muscles is not None and len(muscles) != len(channels):
        muscles = None
    if len(channels) != data.shape[1]:
        raise DataError(f"{len(channels)} EMG channel names for {data.shape[1]} columns",
                        file=label, field=cand.path, expected="one name per column")
    unit = _emg_unit(unit, label, cand.path)
    if kind not in ("raw", "envelope"):
        raise DataError(f"unknown EMG kind {kind!r}", file=label, field="emg_kind",
                        expected="'raw' or 'envelope'")
    notes.info(f"{label}: EMG from {_short(cand.path)} ({cand.kind}, {len(channels)} "
               f"channels, {kind})")
    return EMG(data, time, channels, muscles, unit=unit, kind=kind,
               source=f"{label}#{cand.path}")


def _json_comments(text: str) -> dict[str, Any]:
    """The JSON some writers (neuroimit's among them) keep in a series' comments."""
    text = (text or "").strip()
    if text.startswith("{"):
        try:
            v = json.loads(text)
            return v if isinstance(v, dict) else {}
        except ValueError:
            return {}
    return {}


def _emg_unit(unit: str, label: str, where: str) -> str:
    u = (unit or "").strip()
    low = u.lower()
    if low in ("", "n.a.", "na", "none", "unitless", "arbitrary units", "a.u", "normalized"):
        return "a.u."
    voltage_factor(low, file=label, field=f"{where} unit")
    return u


def _electrode_names(f, g, n: int, opts: NWBOptions, label: str, notes: Notes):
    table, rows = _electrodes_table(f, g)
    if opts.emg_channels is not None:
        ch = list(opts.emg_channels)
        return ch, None
    if table is None or rows.size != n:
        raise DataError("EMG has no electrodes table to name its channels", file=label,
                        field=f"{g.name}/electrodes", expected="an electrodes region with one "
                        "row per channel, or pass emg_channels=[...]")
    df = read_table(table, label)
    df = df.iloc[rows].reset_index(drop=True) if len(df) else df

    def col(names):
        for c in names:
            if c in df and df[c].astype(str).str.len().gt(0).all() \
                    and df[c].astype(str).nunique() == n:
                return [str(x) for x in df[c]]
        return None

    muscles = col(["muscle", "muscle_name", "muscles", "location", "description"])
    channels = col(["channel", "channel_name", "label", "name", "electrode_name"]) or muscles
    if channels is None:
        raise DataError(f"EMG has {n} channels but no channel or muscle names", file=label,
                        field=f"{g.name}/electrodes", expected="a 'muscle' (or location) "
                        "column naming each channel, or pass emg_channels=[...]")
    return channels, muscles


# ---------------------------------------------------------------------------- truth
def _read_truth(f: h5py.File, label: str, window: tuple[float, float] | None,
                notes: Notes) -> xr.Dataset | None:
    """Ground truth from processing['ground_truth'] (see neuroimit.loaders.truth)."""
    if "/processing/ground_truth" not in f:
        return None
    from .truth import read_truth_module
    return read_truth_module(f["/processing/ground_truth"], label, notes, window)


# ---------------------------------------------------------------------------- metadata
def _metadata(f: h5py.File, label: str) -> dict[str, Any]:
    def s(path):
        if path in f and isinstance(f[path], h5py.Dataset):
            v = read_str(f[path])
            return v[0] if isinstance(v, list) and v else (v or None)
        return None

    meta = {
        "subject": s("/general/subject/subject_id"),
        "species": s("/general/subject/species"),
        "session_id": s("/general/session_id") or s("/identifier"),
        "session_description": s("/session_description"),
        "session_start_time": s("/session_start_time"),
        "identifier": s("/identifier"),
    }
    notes = s("/general/notes") or ""
    if notes.startswith(METADATA_PREFIX):  # a file written by neuroimit: its own metadata
        try:
            meta = dict(json.loads(notes[len(METADATA_PREFIX):]))
        except ValueError:
            pass
    meta["source"] = label
    return meta


# ---------------------------------------------------------------------------- entry points
def read_nwb_file(f: h5py.File, label: str, opts: NWBOptions | None = None) -> Session:
    """Read a Session from an open NWB :class:`h5py.File` (local or streamed)."""
    opts = opts or NWBOptions()
    cat = catalog(f)
    trials = None
    if opts.trials is not None:
        trials = _read_trials(f, opts.trials, label, opts.notes)
    if opts.trial is not None:
        if trials is None or not len(trials):
            raise DataError(f"trial {opts.trial} requested but the file has no trials table",
                            file=label, field="trials")
        if not 0 <= opts.trial < len(trials):
            raise DataError(f"trial {opts.trial} does not exist ({len(trials)} trials)",
                            file=label, field="trials")
        row = trials.iloc[opts.trial]
        # the stop frame itself is included: half a pose step past stop_time, as
        # Session.select_trial does
        opts.window = (float(row["start_time"]),
                       float(row["stop_time"]) + 0.5 / _peek_pose_rate(f, cat, opts, label))
    kp, time, names, conf, pose_path = _read_pose(f, cat, opts, label)
    emg = None if opts.emg is False else _read_emg(f, cat, opts, label)
    meta = _metadata(f, label)
    opts.notes.info(f"{label}: pose from {pose_path} ({len(names)} keypoints)")
    intervals = {}
    for name in opts.intervals:
        df = _read_trials(f, name, label, opts.notes)
        intervals[name] = df.to_dict(orient="list") if df is not None else {}
    if intervals:
        meta["intervals"] = intervals
    if trials is not None and opts.window is not None:
        t0, t1 = opts.window
        trials = trials[(trials["stop_time"] > t0) & (trials["start_time"] < t1)]
    truth = _read_truth(f, label, opts.window, opts.notes) if opts.truth else None
    if opts.notes.items:
        meta["loader_notes"] = list(opts.notes.items)
    if time.size == 0:
        raise DataError("no pose frames in the requested window", file=label, field="window",
                        expected="a window that overlaps the recording")
    return Session(kp, time, names, conf, emg,
                   trials.reset_index(drop=True) if trials is not None else None, meta, truth)


def summarise_nwb(f: h5py.File) -> dict[str, bool]:
    """Which of pose / EMG / trials an open NWB file holds (structure only, no data read)."""
    cat = catalog(f)
    trials = "/intervals/trials" in f and "id" in f["/intervals/trials"] and \
        f["/intervals/trials/id"].shape[0] > 0
    return {"pose": bool(_pose_candidates(f, cat)),
            "emg": any(c.score > 0 for c in _emg_candidates(f, cat)),
            "trials": bool(trials)}


def read_nwb(source: str | os.PathLike | IO[bytes], opts: NWBOptions | None = None, *,
             label: str | None = None, **kwargs: Any) -> Session:
    """Read an NWB file (path or seekable file object) into a Session.

    Keyword arguments are :class:`NWBOptions` fields.
    """
    if opts is None:
        opts = NWBOptions(**kwargs)
    elif kwargs:
        raise TypeError("pass either opts or keyword options, not both")
    label = label or str(source)
    with open_hdf5(source, name=label) as f:
        if "nwb_version" not in f.attrs and kind_of(f) != "NWBFile":
            raise DataError("HDF5 file is not NWB (no nwb_version attribute)", file=label,
                            expected="an NWB 2 file")
        try:
            return read_nwb_file(f, label, opts)
        except NeuroimitError:
            raise
        except (OSError, KeyError, RuntimeError) as exc:  # damaged inside
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"damaged or truncated NWB file ({msg})", file=label,
                            expected="a complete file") from None
