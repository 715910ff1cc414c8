"""Importers for the formats labs already have: stac-style HDF5 clips, CSV keypoints, CSV EMG.

>>> s = read_stac_h5("A36-1_..._trial01_ik.h5")                          # doctest: +SKIP
>>> s = read_keypoints_csv("adjusted_kinematics_1.csv",                   # doctest: +SKIP
...                        keypoint_names=["Paw", "Wrist", "Shoulder", "Elbow"], unit="m")
>>> s = attach_emg_csv(s, "emg_1.csv")          # rate inferred from the reach  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..session import EMG, Session
from ..units import length_factor
from .hdf import open_hdf5, read_str
from .series import Notes

__all__ = ["read_stac_h5", "read_stac_dir", "read_keypoints_csv", "read_emg_csv",
           "attach_emg_csv", "is_stac_h5"]

TIME_NAMES = {"time", "t", "times", "timestamp", "timestamps", "time_s", "seconds", "sec"}
STAC_NAME = re.compile(r"^(?P<subject>[A-Za-z0-9\-]+?)_(?P<date>\d{4}-\d{2}-\d{2})")


# ---------------------------------------------------------------------------- stac .h5
def is_stac_h5(f) -> bool:
    """True for an open h5py File holding ``kp_data`` (a stac / stac-mjx clip)."""
    return "kp_data" in f


def _rate_from_config(text: str) -> float | None:
    """A frame rate stored in a stac YAML config (render rates are ignored)."""
    import yaml

    try:
        cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    found: list[float] = []

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            for k, v in d.items():
                key = str(k).lower()
                if isinstance(v, (int, float)) and "render" not in key and key in (
                        "fps", "frame_rate", "framerate", "rate", "fs", "sampling_rate",
                        "mocap_fps", "data_fps"):
                    found.append(float(v))
                walk(v)
        elif isinstance(d, list):
            for v in d:
                walk(v)

    walk(cfg)
    return found[0] if found else None


def read_stac_h5(path: str | os.PathLike, *, rate: float | None = None,
                 keypoint_names: Sequence[str] | None = None, unit: str | None = None,
                 notes: Notes | None = None) -> Session:
    """A stac-style clip (``kp_data`` (T, 3K), ``kp_names``, YAML ``config``) as a Session.

    ``rate`` (Hz) is needed because stac configs do not store it; when neither the argument
    nor the config gives one, 200 Hz is assumed with a warning. The clip becomes one trial.
    """
    notes = notes or Notes()
    label = str(path)
    with open_hdf5(path) as f:
        if not is_stac_h5(f):
            raise DataError("no 'kp_data' dataset", file=label, field="kp_data",
                            expected="a stac-style clip (kp_data, kp_names, config)")
        kp = np.asarray(f["kp_data"][()], dtype=np.float64)
        names = list(keypoint_names) if keypoint_names is not None else \
            (read_str(f["kp_names"]) if "kp_names" in f else None)
        cfg = read_str(f["config"]) if "config" in f else ""
        cfg = cfg if isinstance(cfg, str) else "\n".join(cfg)
    if names is None:
        raise DataError("clip has no kp_names", file=label, field="kp_names",
                        expected="keypoint names in the file, or pass keypoint_names=[...]")
    if kp.ndim == 2:
        if kp.shape[1] != 3 * len(names):
            if kp.shape[1] == 2 * len(names):
                raise DataError("pose has 2 coordinates per keypoint (2D pose)", file=label,
                                field="kp_data", expected="3D keypoints (x, y, z)")
            raise DataError(f"kp_data has {kp.shape[1]} columns for {len(names)} keypoints",
                            file=label, field="kp_data", expected="3 columns per keypoint")
        kp = kp.reshape(kp.shape[0], len(names), 3)
    elif kp.ndim != 3 or kp.shape[1:] != (len(names), 3):
        raise DataError(f"kp_data has shape {kp.shape}", file=label, field="kp_data",
                        expected=f"(frames, {3 * len(names)}) or (frames, {len(names)}, 3)")
    if rate is None:
        rate = _rate_from_config(cfg)
        if rate is None:
            rate = 200.0
            notes.warn(f"{label}: the clip stores no frame rate; assumed 200 Hz (pass rate= "
                       "to override)")
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(f"rate must be positive, got {rate}", file=label, field="rate")
    kp = kp * length_factor(unit or "m", file=label, field="unit")
    t = np.arange(kp.shape[0]) / float(rate)
    m = STAC_NAME.match(Path(label).name)
    meta = {"subject": m.group("subject") if m else None, "session_id": Path(label).stem,
            "species": "Mus musculus" if m else None, "source": label,
            "session_start_time": None, "format": "stac-h5", "rate_hz": float(rate)}
    trials = pd.DataFrame({"start_time": [float(t[0])], "stop_time": [float(t[-1])],
                           "outcome": ["unknown"]}) if t.size else None
    if notes.items:
        meta["loader_notes"] = list(notes.items)
    return Session(kp, t, names, None, None, trials, meta)


def read_stac_dir(folder: str | os.PathLike, *, rate: float | None = None,
                  keypoint_names: Sequence[str] | None = None, unit: str | None = None,
                  gap_s: float = 0.1, pattern: str = "*.h5",
                  notes: Notes | None = None) -> Session:
    """All stac-style clips in ``folder`` as one Session, one trial per clip.

    Clips follow each other in file-name order, separated by ``gap_s`` seconds of missing
    (NaN) frames so that nothing (smoothing, velocities) bridges two clips; the trials table
    has ``start_time``/``stop_time`` per clip and a ``clip`` column (the file stem).
    """
    notes = notes or Notes()
    folder = Path(folder)
    files = sorted(folder.glob(pattern))
    if not files:
        raise DataError(f"no {pattern} clips", file=str(folder),
                        expected="a folder of stac-style .h5 clips")
    clips = []
    for i, p in enumerate(files):
        # one warning about an assumed rate is enough for the whole folder
        c = read_stac_h5(p, rate=rate, keypoint_names=keypoint_names, unit=unit,
                         notes=notes if i == 0 else Notes())
        if rate is None:
            rate = c.rate
        if clips and c.keypoint_names != clips[0].keypoint_names:
            raise DataError(f"keypoints {c.keypoint_names} differ from the first clip's "
                            f"{clips[0].keypoint_names}", file=str(p), field="kp_names")
        clips.append(c)
    step = 1.0 / float(rate)
    n_gap = max(1, int(round(gap_s / step)))
    k = len(clips[0].keypoint_names)
    kps, starts, stops, names = [], [], [], []
    n = 0
    for p, c in zip(files, clips):
        if kps:
            kps.append(np.full((n_gap, k, 3), np.nan))
            n += n_gap
        starts.append(n * step)
        stops.append((n + c.n_frames - 1) * step)
        kps.append(c.keypoints)
        n += c.n_frames
        names.append(p.stem)
    kp = np.concatenate(kps, axis=0)
    t = np.arange(kp.shape[0]) * step
    subjects = {c.metadata.get("subject") for c in clips}
    meta = {"subject": subjects.pop() if len(subjects) == 1 else None,
            "species": clips[0].metadata.get("species"), "session_id": folder.name,
            "source": str(folder), "format": "stac-h5 folder", "rate_hz": float(rate),
            "n_clips": len(clips)}
    notes.info(f"{folder}: {len(clips)} clips joined, {n_gap} missing frames between clips")
    meta["loader_notes"] = list(notes.items)
    trials = pd.DataFrame({"start_time": starts, "stop_time": stops,
                           "outcome": ["unknown"] * len(clips), "clip": names})
    return Session(kp, t, clips[0].keypoint_names, None, None, trials, meta)


# ---------------------------------------------------------------------------- CSV helpers
def _read_rows(path: str | os.PathLike) -> tuple[list[str] | None, np.ndarray]:
    """(header or None, float array) of a CSV/TSV file; empty cells become NaN."""
    label = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError("file does not exist", file=label)
    text = p.read_text(errors="replace")
    if not text.strip():
        raise DataError("empty file", file=label, expected="comma-separated numbers")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if any(c.strip()
                                                                             for c in r)]
    header = None

    def numeric(cell: str) -> bool:
        c = cell.strip()
        if c.lower() in ("", "nan", "na", "null"):
            return True
        try:
            float(c)
            return True
        except ValueError:
            return False

    if rows and not all(numeric(c) for c in rows[0]):
        header = [c.strip() for c in rows[0]]
        rows = rows[1:]
    if not rows:
        raise DataError("no data rows", file=label, expected="one row per sample")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DataError(f"row {i + 1 + (header is not None)} has {len(r)} columns, "
                            f"expected {width}", file=label)
    try:
        arr = np.array([[float(c) if c.strip().lower() not in ("", "nan", "na", "null")
                         else np.nan for c in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"non-numeric value ({exc})", file=label,
                        expected="numbers (empty or NaN for missing)") from None
    return header, arr


def _is_time(col: np.ndarray) -> bool:
    return col.size > 1 and bool(np.all(np.isfinite(col))) and bool(np.all(np.diff(col) > 0))


_AXIS = re.compile(r"^(?P<name>.+?)[\s_.\-:/]*(?P<axis>[xyzXYZ])$")


FRAME_NAMES = {"fnum", "frame", "frames", "frame_index", "frame_number"}


def _header_triplets(header: Sequence[str]) -> list[tuple[str, list[int]]]:
    """``[(name, [ix, iy, iz]), ...]`` for header columns named ``<name>_x/_y/_z``."""
    found: dict[str, dict[str, int]] = {}
    for i, h in enumerate(header):
        m = _AXIS.match(h)
        if m:
            found.setdefault(m.group("name"), {})[m.group("axis").lower()] = i
    return [(n, [d["x"], d["y"], d["z"]]) for n, d in found.items()
            if {"x", "y", "z"} <= set(d)]


def _find(header: Sequence[str], name: str, suffixes: Sequence[str]) -> int | None:
    want = {f"{name}_{s}".lower() for s in suffixes} | {f"{name}.{s}".lower() for s in suffixes}
    for i, h in enumerate(header):
        if h.lower() in want:
            return i
    return None


def read_keypoints_csv(path: str | os.PathLike, *, keypoint_names: Sequence[str] | None = None,
                       unit: str | None = None, rate: float | None = None,
                       time_column: bool | int | str | None = None,
                       notes: Notes | None = None) -> Session:
    """3D keypoints from a CSV file (headed or headerless) as a Session.

    Columns: an optional time column (seconds), then x, y, z per keypoint. Headed files may
    name columns ``<keypoint>_x`` (also ``.x``, `` x``); a ``time``/``t`` column is the time.
    Other columns of headed files are set aside (anipose 3D files: ``<kp>_score`` becomes the
    confidence, ``fnum`` frame numbers become times with ``rate``).
    Headerless files need ``keypoint_names``. CSV stores no unit: ``unit`` (m, cm, mm, um) is
    required. Without a time column, ``rate`` (Hz) gives the timestamps.

    ``time_column``: None detects it (a ``time``/``t`` header, or a strictly increasing first
    column when the column count is not a multiple of 3), True/False forces it, or an index
    / header name.
    """
    notes = notes or Notes()
    label = str(path)
    header, arr = _read_rows(path)
    ncol = arr.shape[1]
    tcol: int | None = None
    if isinstance(time_column, str):
        if header is None or time_column not in header:
            raise DataError(f"no column named {time_column!r}", file=label,
                            field="time_column", expected=f"one of {header}")
        tcol = header.index(time_column)
    elif isinstance(time_column, bool):
        tcol = 0 if time_column else None
    elif isinstance(time_column, int):
        tcol = time_column
    elif header is not None and any(h.lower() in TIME_NAMES for h in header):
        tcol = [h.lower() in TIME_NAMES for h in header].index(True)
    elif header is None and ncol % 3 != 0 and _is_time(arr[:, 0]):
        tcol = 0
    data_cols = [i for i in range(ncol) if i != tcol]
    conf = None
    trip = _header_triplets(header) if header is not None and keypoint_names is None else []
    if trip:  # named x/y/z columns; other columns (anipose: _error, _score, ...) aside
        keypoint_names = [n for n, _ in trip]
        used = [c for _, cols in trip for c in cols]
        conf_cols = [_find(header, n, ("score", "likelihood", "confidence", "conf"))
                     for n, _ in trip]
        if all(c is not None for c in conf_cols):
            conf = np.clip(np.nan_to_num(arr[:, conf_cols], nan=0.0), 0.0, 1.0)
        frame_col = next((i for i, h in enumerate(header) if h.lower() in FRAME_NAMES), None)
        if tcol is None and frame_col is not None and rate is not None:
            tcol, rate_for_frames = frame_col, float(rate)
        else:
            rate_for_frames = None
        skipped = [header[i] for i in data_cols if i not in used and i not in conf_cols
                   and i != frame_col]
        if skipped:
            notes.info(f"{label}: ignored {len(skipped)} column(s) that are not x/y/z "
                       f"coordinates ({', '.join(skipped[:6])}{'...' if len(skipped) > 6 else ''})")
        data_cols = used
    else:
        rate_for_frames = None
    if len(data_cols) % 3:
        if len(data_cols) % 2 == 0:
            raise DataError(f"{len(data_cols)} coordinate columns: 2D pose (x, y per "
                            "keypoint)?", file=label, expected="3D keypoints: x, y, z per "
                            "keypoint (2D pose cannot be registered to a 3D body)")
        raise DataError(f"{len(data_cols)} coordinate columns are not x, y, z triples",
                        file=label, expected="a time column plus 3 columns per keypoint")
    k = len(data_cols) // 3
    names: list[str] | None = list(keypoint_names) if keypoint_names is not None else None
    if names is None and header is not None:
        parsed = []
        for j in range(k):
            trip = [header[data_cols[3 * j + a]] for a in range(3)]
            ms = [_AXIS.match(h) for h in trip]
            if all(ms) and len({m.group("name") for m in ms}) == 1 and \
                    [m.group("axis").lower() for m in ms] == ["x", "y", "z"]:
                parsed.append(ms[0].group("name"))
            else:
                parsed = None
                break
        names = parsed
    if names is None:
        raise DataError(f"cannot name the {k} keypoints", file=label, field="keypoint_names",
                        expected="headers like paw_x, paw_y, paw_z, or pass "
                                 "keypoint_names=[...]")
    if len(names) != k:
        raise DataError(f"{len(names)} keypoint names for {k} x,y,z triples", file=label,
                        field="keypoint_names", expected=f"{k} names")
    if unit is None:
        raise DataError("CSV keypoints carry no unit", file=label, field="keypoint_unit",
                        expected="keypoint_unit= m, cm, mm or um")
    kp = arr[:, data_cols].reshape(arr.shape[0], k, 3) * length_factor(
        unit, file=label, field="keypoint_unit")
    if rate_for_frames is not None:  # a frame-number column (anipose 'fnum')
        t = arr[:, tcol] / rate_for_frames
    elif tcol is not None:
        t = arr[:, tcol]
        if rate is not None:
            notes.info(f"{label}: used the time column; rate={rate} ignored")
    elif rate is not None:
        t = np.arange(arr.shape[0]) / float(rate)
    else:
        raise DataError("no time column and no rate", file=label, field="rate",
                        expected="a time column, or pass rate= in Hz")
    meta = {"source": label, "session_id": Path(label).stem, "format": "csv"}
    if notes.items:
        meta["loader_notes"] = list(notes.items)
    s = Session(kp, t, names, conf, None, pd.DataFrame({
        "start_time": [float(t[0])], "stop_time": [float(t[-1])], "outcome": ["unknown"]}), meta)
    return s


def read_emg_csv(path: str | os.PathLike, *, rate: float | None = None,
                 channels: Sequence[str] | None = None, kind: str | None = None,
                 unit: str | None = None, start_time: float = 0.0,
                 duration: float | None = None, time_column: bool | str | None = None,
                 notes: Notes | None = None) -> EMG:
    """EMG from a CSV file with one column per muscle (header names or ``channels``).

    The time base: a ``time`` column, else ``rate`` (Hz), else ``duration`` (s): the samples
    span that duration, ``rate = n / duration``. ``kind`` None: "envelope" when every value is
    >= 0 (rectified/processed), else "raw". ``unit`` None: "a.u." for envelopes, V for raw.
    """
    notes = notes or Notes()
    label = str(path)
    header, arr = _read_rows(path)
    tcol = None
    if isinstance(time_column, str):
        tcol = header.index(time_column) if header and time_column in header else None
        if tcol is None:
            raise DataError(f"no column named {time_column!r}", file=label,
                            field="time_column")
    elif time_column is True:
        tcol = 0
    elif time_column is None and header is not None:
        hits = [i for i, h in enumerate(header) if h.lower() in TIME_NAMES]
        tcol = hits[0] if hits else None
    cols = [i for i in range(arr.shape[1]) if i != tcol]
    if channels is not None:
        names = list(channels)
    elif header is not None:
        names = [header[i] for i in cols]
    else:
        raise DataError(f"EMG has {len(cols)} columns but no channel names", file=label,
                        field="emg_channels", expected="a header row naming the muscles, or "
                        "pass emg_channels=[...]")
    if len(names) != len(cols):
        raise DataError(f"{len(names)} channel names for {len(cols)} columns", file=label,
                        field="emg_channels")
    data = arr[:, cols]
    n = data.shape[0]
    if tcol is not None:
        t = arr[:, tcol]
    elif rate is not None:
        t = start_time + np.arange(n) / float(rate)
    elif duration is not None:
        if duration <= 0:
            raise DataError(f"duration must be positive, got {duration}", file=label,
                            field="duration")
        rate = n / float(duration)
        t = start_time + np.arange(n) / rate
        notes.info(f"{label}: EMG rate inferred as {rate:.6g} Hz ({n} samples spanning "
                   f"{duration:.6g} s)")
    else:
        raise DataError("EMG has no time column and no rate", file=label, field="emg_rate",
                        expected="a time column, emg_rate= in Hz, or a duration to span")
    finite = data[np.isfinite(data)]
    if kind is None:
        kind = "envelope" if finite.size and finite.min() >= 0 else "raw"
        notes.info(f"{label}: EMG marked {kind!r} (values are "
                   f"{'all non-negative' if kind == 'envelope' else 'bipolar'}); pass "
                   "emg_kind= to override")
    if unit is None:
        unit = "a.u." if kind == "envelope" else "V"
    return EMG(data, t, names, None, unit=unit, kind=kind, source=label)


def attach_emg_csv(session: Session, path: str | os.PathLike, *, rate: float | None = None,
                   channels: Sequence[str] | None = None, kind: str | None = None,
                   unit: str | None = None, notes: Notes | None = None) -> Session:
    """``session`` with EMG from a CSV file; without a rate the samples span the session
    (first frame to one step past the last), starting at its first frame."""
    notes = notes or Notes()
    emg = read_emg_csv(path, rate=rate, channels=channels, kind=kind, unit=unit,
                       start_time=float(session.time[0]) if session.n_frames else 0.0,
                       duration=None if rate is not None else session.duration, notes=notes)
    meta = dict(session.metadata)
    if notes.items:
        meta["loader_notes"] = list(meta.get("loader_notes") or []) + list(notes.items)
    return replace(session, emg=emg, metadata=meta)
