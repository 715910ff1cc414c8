"""The one data model: a reaching session.

A :class:`Session` holds 3D keypoints (time x keypoint x 3, metres, NaN where missing) with a
per-keypoint confidence, optional EMG on its own time base (:class:`EMG`), a trials table,
metadata, and optional ground truth (synthetic sessions: true joint angles, activations).
Everything is SI: metres, seconds, volts (or ``"a.u."`` for normalised envelopes).

Construction validates shapes, timestamps and units and raises :class:`~neuroimit.errors.DataError`
naming the offending field. Sessions save to and load from NetCDF4/HDF5 losslessly.

>>> import numpy as np
>>> t = np.arange(100) / 200.0
>>> kp = np.zeros((100, 2, 3))
>>> s = Session(kp, t, ["shoulder", "elbow"])
>>> s.rate, s.duration
(200.0, 0.5)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import interpolate, signal

from .atomic import atomic_path
from .errors import DataError
from .units import canonical_emg_unit, voltage_factor

__all__ = ["EMG", "Session", "load_session_file"]

AXES = ("x", "y", "z")
TRIAL_REQUIRED = ("start_time", "stop_time")
FORMAT_VERSION = 1


def _check_time(t: np.ndarray, name: str, source: str | None) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1:
        raise DataError(f"timestamps have shape {t.shape}", file=source, field=name,
                        expected="a 1-D array of seconds")
    if t.size and not np.all(np.isfinite(t)):
        raise DataError("timestamps contain NaN or infinity", file=source, field=name,
                        expected="finite seconds")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        i = int(np.argmax(~(np.diff(t) > 0)))
        raise DataError(f"timestamps are not strictly increasing (at index {i + 1}: "
                        f"{t[i]:.6g} -> {t[i + 1]:.6g})", file=source, field=name,
                        expected="strictly increasing seconds")
    return t


def _rate(t: np.ndarray) -> float:
    """Nominal sampling rate (Hz) from the median step, rounded to 1e-6 Hz."""
    if t.size < 2:
        return float("nan")
    return float(np.round(1.0 / np.median(np.diff(t)), 6))


@dataclass(frozen=True)
class EMG:
    """EMG on its own time base.

    Attributes
    ----------
    data: (T', C) float64; volts for ``unit="V"``, or arbitrary units (``"a.u."``).
    time: (T',) seconds, strictly increasing.
    channels: C channel names (as recorded, e.g. ``"Biceps"``).
    muscles: C muscle names each channel records (defaults to the channel names).
    unit: ``"V"`` or ``"a.u."``; other voltage units are converted on construction.
    kind: ``"raw"`` (needs band-pass, rectification, envelope) or ``"envelope"`` (processed).

    >>> e = EMG(np.zeros((2000, 1)), np.arange(2000) / 2000.0, ["Biceps"], unit="mV")
    >>> e.rate, e.unit
    (2000.0, 'V')
    """

    data: np.ndarray
    time: np.ndarray
    channels: tuple[str, ...]
    muscles: tuple[str, ...] | None = None
    unit: str = "V"
    kind: Literal["raw", "envelope"] = "raw"
    source: str | None = None

    def __post_init__(self):
        src = self.source
        time = _check_time(self.time, "emg/time", src)
        data = np.asarray(self.data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[0] != time.size:
            raise DataError(f"EMG data has shape {data.shape} but {time.size} timestamps",
                            file=src, field="emg/data", expected="(time, channel)")
        channels = tuple(str(c) for c in self.channels)
        if len(channels) != data.shape[1]:
            raise DataError(f"{len(channels)} channel names for {data.shape[1]} columns",
                            file=src, field="emg/channels", expected="one name per column")
        if any(not c for c in channels) or len(set(channels)) != len(channels):
            raise DataError(f"channel names must be non-empty and unique, got {channels}",
                            file=src, field="emg/channels")
        muscles = channels if self.muscles is None else tuple(str(m) for m in self.muscles)
        if len(muscles) != len(channels):
            raise DataError(f"{len(muscles)} muscle names for {len(channels)} channels",
                            file=src, field="emg/muscles", expected="one muscle per channel")
        if np.isinf(data).any():
            raise DataError("EMG contains infinities", file=src, field="emg/data",
                            expected="finite values (NaN allowed for gaps)")
        if self.kind not in ("raw", "envelope"):
            raise DataError(f"unknown EMG kind {self.kind!r}", file=src, field="emg/kind",
                            expected="'raw' or 'envelope'")
        factor = voltage_factor(self.unit, file=src, field="emg/unit")
        object.__setattr__(self, "data", data * factor if factor != 1.0 else data)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "muscles", muscles)
        object.__setattr__(self, "unit", canonical_emg_unit(self.unit))

    @property
    def rate(self) -> float:
        """Nominal sampling rate in Hz."""
        return _rate(self.time)

    def to_xarray(self) -> xr.DataArray:
        """Labelled (emg_time, channel) array with a ``muscle`` coordinate."""
        return xr.DataArray(self.data, dims=("emg_time", "channel"),
                            coords={"emg_time": self.time, "channel": list(self.channels),
                                    "muscle": ("channel", list(self.muscles))},
                            attrs={"unit": self.unit, "kind": self.kind}, name="emg")

    def window(self, t0: float, t1: float) -> "EMG":
        """Samples with t0 <= time < t1."""
        m = (self.time >= t0) & (self.time < t1)
        return replace(self, data=self.data[m], time=self.time[m], unit=self.unit)

    def resample(self, rate: float) -> "EMG":
        """EMG resampled to ``rate`` Hz on a uniform grid starting at the first sample.

        Downsampling low-passes first (anti-aliasing, zero phase, cut-off at 0.45 x new rate)
        so no energy folds back; upsampling interpolates with cubic splines.
        """
        return replace(self, data=_resample_signal(self.time, self.data, rate,
                                                   antialias=True),
                       time=_uniform_grid(self.time, rate), unit=self.unit)


def _uniform_grid(t: np.ndarray, rate: float) -> np.ndarray:
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(f"resampling rate must be positive, got {rate}", field="rate")
    n = int(np.floor((t[-1] - t[0]) * rate + 1e-9)) + 1
    return t[0] + np.arange(n) / rate


def _resample_signal(t: np.ndarray, y: np.ndarray, rate: float, *,
                     antialias: bool) -> np.ndarray:
    """Resample y(t) (time along axis 0) onto a uniform grid; NaNs stay missing."""
    new_t = _uniform_grid(t, rate)
    if t.size < 2:
        return np.asarray(y, dtype=np.float64)[: new_t.size]
    flat = y.reshape(y.shape[0], -1).astype(np.float64)
    out = np.full((new_t.size, flat.shape[1]), np.nan)
    old_rate = _rate(t)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        ok = np.isfinite(col)
        if ok.sum() < 2:
            continue
        col_f = col
        if antialias and rate < old_rate and ok.all():
            # zero-phase low-pass before decimating so no energy folds back
            sos = signal.butter(8, min(0.45 * rate, 0.49 * old_rate), fs=old_rate,
                                output="sos")
            col_f = signal.sosfiltfilt(sos, col)
        f = interpolate.CubicSpline(t[ok], col_f[ok], extrapolate=False)
        vals = f(new_t)
        if not ok.all():
            # keep gaps missing: a new sample is valid only if both neighbours were valid
            idx = np.clip(np.searchsorted(t, new_t, side="right") - 1, 0, t.size - 1)
            nxt = np.clip(idx + 1, 0, t.size - 1)
            exact = np.isclose(t[idx], new_t, rtol=0, atol=1e-9)
            valid = ok[idx] & (ok[nxt] | exact)
            vals = np.where(valid, vals, np.nan)
        out[:, j] = vals
    return out.reshape((new_t.size,) + y.shape[1:])


def _default_trials() -> pd.DataFrame:
    return pd.DataFrame({"start_time": pd.Series(dtype=float),
                         "stop_time": pd.Series(dtype=float),
                         "outcome": pd.Series(dtype=str)})


@dataclass(frozen=True)
class Session:
    """A reaching session: keypoints, EMG, trials, metadata and optional ground truth.

    Attributes
    ----------
    keypoints: (T, K, 3) float64 metres; NaN where a keypoint is missing.
    time: (T,) seconds, strictly increasing.
    keypoint_names: K names (e.g. ``"Shoulder", "Elbow", "Wrist"``).
    confidence: (T, K) in [0, 1]; defaults to 1 where present and 0 where missing.
    emg: an :class:`EMG` or None.
    trials: DataFrame with ``start_time``, ``stop_time`` (s), ``outcome`` and any extra columns.
    metadata: dict with ``subject``, ``session_id``, ``source``, ``species`` and anything else
        JSON-serialisable.
    truth: ground truth for synthetic sessions, an ``xr.Dataset`` whose variables share the
        ``time`` dimension (pose time base) or ``emg_time`` (EMG time base); None for real data.
    """

    keypoints: np.ndarray
    time: np.ndarray
    keypoint_names: tuple[str, ...]
    confidence: np.ndarray | None = None
    emg: EMG | None = None
    trials: pd.DataFrame = field(default_factory=_default_trials)
    metadata: dict[str, Any] = field(default_factory=dict)
    truth: xr.Dataset | None = None

    def __post_init__(self):
        meta = dict(self.metadata or {})
        for key in ("subject", "session_id", "source", "species"):
            meta.setdefault(key, None)
        src = meta.get("source")
        time = _check_time(self.time, "keypoints/time", src)
        kp = np.asarray(self.keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[0] != time.size:
            raise DataError(f"keypoints have shape {kp.shape} with {time.size} timestamps",
                            file=src, field="keypoints", expected="(time, keypoint, 3)")
        if kp.shape[2] != 3:
            raise DataError(f"keypoints have {kp.shape[2]} coordinates", file=src,
                            field="keypoints", expected="3D pose (x, y, z); 2D pose cannot be "
                            "registered to a 3D body")
        if np.isinf(kp).any():
            raise DataError("keypoints contain infinities", file=src, field="keypoints",
                            expected="finite metres, NaN for missing")
        names = tuple(str(n) for n in self.keypoint_names)
        if len(names) != kp.shape[1]:
            raise DataError(f"{len(names)} keypoint names for {kp.shape[1]} keypoints",
                            file=src, field="keypoint_names", expected="one name per keypoint")
        if len(set(names)) != len(names):
            raise DataError(f"keypoint names are not unique: {names}", file=src,
                            field="keypoint_names")
        missing = np.isnan(kp).any(axis=2)
        kp[missing] = np.nan  # a keypoint is missing as a whole
        if self.confidence is None:
            conf = np.where(missing, 0.0, 1.0)
        else:
            conf = np.asarray(self.confidence, dtype=np.float64)
            if conf.shape != kp.shape[:2]:
                raise DataError(f"confidence has shape {conf.shape}", file=src,
                                field="confidence", expected=f"{kp.shape[:2]} (time, keypoint)")
            if np.isinf(conf).any():
                raise DataError("confidence contains infinities", file=src, field="confidence")
            conf = np.where(missing, 0.0, np.nan_to_num(conf, nan=0.0))
        trials = self._check_trials(self.trials, src)
        if self.truth is not None and not isinstance(self.truth, xr.Dataset):
            raise DataError("ground truth must be an xarray.Dataset", file=src, field="truth")
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "keypoint_names", names)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "metadata", meta)

    @staticmethod
    def _check_trials(trials: pd.DataFrame | None, src: str | None) -> pd.DataFrame:
        if trials is None:
            return _default_trials()
        trials = pd.DataFrame(trials).reset_index(drop=True)
        for col in TRIAL_REQUIRED:
            if col not in trials.columns:
                raise DataError(f"trials table lacks column {col!r}", file=src,
                                field="trials", expected="start_time and stop_time in seconds")
        if "outcome" not in trials.columns:
            trials["outcome"] = ""
        start = trials["start_time"].to_numpy(dtype=float)
        stop = trials["stop_time"].to_numpy(dtype=float)
        if not (np.all(np.isfinite(start)) and np.all(np.isfinite(stop))):
            raise DataError("trial times contain NaN or infinity", file=src, field="trials")
        if np.any(stop < start):
            i = int(np.argmax(stop < start))
            raise DataError(f"trial {i} stops before it starts ({start[i]} > {stop[i]})",
                            file=src, field="trials", expected="stop_time >= start_time")
        return trials

    # ------------------------------------------------------------------ properties
    @property
    def rate(self) -> float:
        """Nominal keypoint sampling rate (Hz)."""
        return _rate(self.time)

    @property
    def duration(self) -> float:
        """Seconds from the first to one step past the last keypoint frame."""
        if self.time.size == 0:
            return 0.0
        step = 1.0 / self.rate if self.time.size > 1 else 0.0
        return float(np.round(self.time[-1] - self.time[0] + step, 9))

    @property
    def n_frames(self) -> int:
        return int(self.time.size)

    def keypoint_index(self, name: str) -> int:
        """Index of keypoint ``name``; a clear error lists the available names."""
        try:
            return self.keypoint_names.index(name)
        except ValueError:
            raise DataError(f"no keypoint named {name!r}", file=self.metadata.get("source"),
                            field="keypoint_names",
                            expected=f"one of {list(self.keypoint_names)}") from None

    def to_xarray(self) -> xr.Dataset:
        """The pose as a labelled Dataset (keypoints, confidence) plus EMG when present."""
        ds = xr.Dataset(
            {"keypoints": (("time", "keypoint", "axis"), self.keypoints, {"units": "m"}),
             "confidence": (("time", "keypoint"), self.confidence)},
            coords={"time": self.time, "keypoint": list(self.keypoint_names),
                    "axis": list(AXES)})
        if self.emg is not None:
            ds["emg"] = self.emg.to_xarray()
        return ds

    # ------------------------------------------------------------------ selection
    def window(self, t0: float, t1: float) -> "Session":
        """The part of the session with t0 <= time < t1 (EMG, trials and truth too).

        Trials are kept when they overlap the window.
        """
        m = (self.time >= t0) & (self.time < t1)
        emg = self.emg.window(t0, t1) if self.emg is not None else None
        tr = self.trials
        tr = tr[(tr["stop_time"] > t0) & (tr["start_time"] < t1)].reset_index(drop=True)
        truth = None
        if self.truth is not None:
            sel = {}
            if "time" in self.truth.dims:
                sel["time"] = np.flatnonzero(m)
            if "emg_time" in self.truth.dims:
                et = self.truth["emg_time"].values
                sel["emg_time"] = np.flatnonzero((et >= t0) & (et < t1))
            truth = self.truth.isel(sel)
        return replace(self, keypoints=self.keypoints[m], time=self.time[m],
                       confidence=self.confidence[m], emg=emg, trials=tr, truth=truth)

    def select_trial(self, index: int) -> "Session":
        """The window of trial ``index`` (row of the trials table)."""
        if not 0 <= index < len(self.trials):
            raise DataError(f"trial {index} does not exist ({len(self.trials)} trials)",
                            file=self.metadata.get("source"), field="trials")
        row = self.trials.iloc[index]
        # include the stop frame itself
        eps = 0.5 / self.rate if self.n_frames > 1 else 1e-9
        return self.window(float(row["start_time"]), float(row["stop_time"]) + eps)

    def select_keypoints(self, names: Sequence[str]) -> "Session":
        """Only the named keypoints, in the given order."""
        idx = [self.keypoint_index(n) for n in names]
        return replace(self, keypoints=self.keypoints[:, idx], confidence=self.confidence[:, idx],
                       keypoint_names=tuple(names))

    def resample(self, rate: float | None = None, emg_rate: float | None = None) -> "Session":
        """Resample keypoints to ``rate`` Hz and/or EMG to ``emg_rate`` Hz.

        Keypoints use cubic splines (gaps stay NaN, confidence follows by nearest-valid
        linear interpolation); EMG is anti-aliased before downsampling. Ground truth on the
        pose time base is interpolated too.
        """
        out = self
        if rate is not None:
            kp = _resample_signal(self.time, self.keypoints, rate, antialias=False)
            new_t = _uniform_grid(self.time, rate)
            conf = np.stack([np.interp(new_t, self.time, self.confidence[:, k])
                             for k in range(self.confidence.shape[1])], axis=1) \
                if self.n_frames else self.confidence
            truth = self.truth
            if truth is not None and "time" in truth.dims:
                truth = truth.interp(time=new_t, method="linear")
            out = replace(out, keypoints=kp, time=new_t, confidence=conf, truth=truth)
        if emg_rate is not None and self.emg is not None:
            out = replace(out, emg=self.emg.resample(emg_rate))
        return out

    # ------------------------------------------------------------------ summary
    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary: sizes, rates, duration, channels, trials, missingness."""
        miss = np.isnan(self.keypoints).any(axis=2)
        d: dict[str, Any] = {
            "subject": self.metadata.get("subject"),
            "session_id": self.metadata.get("session_id"),
            "species": self.metadata.get("species"),
            "source": self.metadata.get("source"),
            "n_frames": self.n_frames,
            "pose_rate_hz": self.rate,
            "duration_s": self.duration,
            "start_time_s": float(self.time[0]) if self.n_frames else None,
            "keypoints": list(self.keypoint_names),
            "missing_fraction": {n: float(miss[:, i].mean()) if self.n_frames else 0.0
                                 for i, n in enumerate(self.keypoint_names)},
            "emg": None,
            "n_trials": int(len(self.trials)),
            "trial_columns": [str(c) for c in self.trials.columns],
            "ground_truth": sorted(self.truth.data_vars) if self.truth is not None else [],
        }
        if self.emg is not None:
            d["emg"] = {"channels": list(self.emg.channels), "muscles": list(self.emg.muscles),
                        "rate_hz": self.emg.rate, "unit": self.emg.unit, "kind": self.emg.kind,
                        "n_samples": int(self.emg.time.size),
                        "duration_s": float(self.emg.time[-1] - self.emg.time[0])
                        if self.emg.time.size else 0.0}
        if len(self.trials) and "outcome" in self.trials:
            d["outcomes"] = {str(k): int(v) for k, v in
                             self.trials["outcome"].astype(str).value_counts().items()}
        return d

    def __repr__(self) -> str:
        emg = "no EMG" if self.emg is None else \
            f"EMG {len(self.emg.channels)} ch @ {self.emg.rate:g} Hz"
        return (f"Session({self.metadata.get('session_id') or 'unnamed'}: {self.n_frames} frames"
                f" x {len(self.keypoint_names)} keypoints @ {self.rate:g} Hz, {emg}, "
                f"{len(self.trials)} trials)")

    # ------------------------------------------------------------------ persistence
    def to_dataset(self) -> xr.Dataset:
        """Pose, EMG and metadata as one xarray Dataset (trials and truth: see :meth:`save`)."""
        ds = self.to_xarray()
        if self.emg is not None:
            ds["emg"].attrs["source"] = self.emg.source or ""
        ds.attrs["neuroimit_format"] = FORMAT_VERSION
        ds.attrs["metadata_json"] = json.dumps(self.metadata, default=str)
        return ds

    def trials_dataset(self) -> xr.Dataset:
        """The trials table as a Dataset over dimension ``trial`` (strings kept as str)."""
        data = {}
        for col in self.trials.columns:
            vals = self.trials[col]
            if vals.dtype == object or pd.api.types.is_string_dtype(vals):
                data[str(col)] = (("trial",), vals.astype(str).to_numpy(dtype=str))
            else:
                data[str(col)] = (("trial",), vals.to_numpy())
        ds = xr.Dataset(data)
        ds.attrs["columns_json"] = json.dumps([str(c) for c in self.trials.columns])
        return ds

    def save(self, path: str | os.PathLike) -> Path:
        """Write the session to ``path`` (NetCDF4/HDF5), atomically: temp file, then rename.

        Root group: keypoints, confidence, EMG, metadata; group ``trials``; group ``truth``.
        """
        path = Path(path)
        with atomic_path(path) as tmp:
            self.to_dataset().to_netcdf(tmp, engine="h5netcdf", invalid_netcdf=True)
            self.trials_dataset().to_netcdf(tmp, group="trials", mode="a", engine="h5netcdf",
                                            invalid_netcdf=True)
            if self.truth is not None:
                self.truth.to_netcdf(tmp, group="truth", mode="a", engine="h5netcdf",
                                     invalid_netcdf=True)
        return path

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, trials: xr.Dataset | None = None,
                     truth: xr.Dataset | None = None, source: str | None = None) -> "Session":
        """Inverse of :meth:`to_dataset` / :meth:`trials_dataset`."""
        meta = json.loads(ds.attrs.get("metadata_json", "{}"))
        if "keypoints" not in ds:
            raise DataError("no 'keypoints' variable", file=source, field="keypoints",
                            expected="a session saved by neuroimit")
        emg = None
        if "emg" in ds:
            e = ds["emg"]
            emg = EMG(e.values, ds["emg_time"].values, list(map(str, ds["channel"].values)),
                      list(map(str, ds["muscle"].values)), unit=str(e.attrs.get("unit", "V")),
                      kind=str(e.attrs.get("kind", "raw")),
                      source=str(e.attrs.get("source") or "") or None)
        table = None
        if trials is not None:
            cols = json.loads(trials.attrs.get("columns_json", "[]"))
            table = pd.DataFrame({c: trials[c].values for c in cols})
            for c in table.columns:
                if table[c].dtype.kind in "SUO":
                    table[c] = table[c].astype(str).astype(object)
        return cls(ds["keypoints"].values, ds["time"].values,
                   list(map(str, ds["keypoint"].values)), ds["confidence"].values, emg,
                   table, meta, truth)

    def __eq__(self, other: object) -> bool:  # value equality, NaN == NaN
        if not isinstance(other, Session):
            return NotImplemented
        try:
            xr.testing.assert_identical(self.to_dataset(), other.to_dataset())
            xr.testing.assert_identical(self.trials_dataset(), other.trials_dataset())
            if (self.truth is None) != (other.truth is None):
                return False
            if self.truth is not None:
                xr.testing.assert_identical(self.truth, other.truth)
        except AssertionError:
            return False
        return True

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Session":
        """Read a session written by :meth:`save`; errors name the file."""
        return load_session_file(path)


def load_session_file(path: str | os.PathLike) -> Session:
    """Load a saved session (.nc / .h5 written by :meth:`Session.save`)."""
    path = Path(path)
    if not path.exists():
        raise DataError("file does not exist", file=str(path))
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic != b"\x89HDF\r\n\x1a\n":
        raise DataError("not an HDF5/NetCDF4 file", file=str(path),
                        expected="a session saved by neuroimit (NetCDF4/HDF5)")
    try:
        import h5py
        with h5py.File(path, "r") as fh:
            groups = set(fh.keys())
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
        trials = truth = None
        if "trials" in groups:
            with xr.open_dataset(path, engine="h5netcdf", group="trials") as g:
                trials = g.load()
        if "truth" in groups:
            with xr.open_dataset(path, engine="h5netcdf", group="truth") as g:
                truth = g.load()
    except Exception as exc:  # h5py/netCDF raise many types on corrupt files
        raise DataError(f"cannot be read ({type(exc).__name__}: {exc})", file=str(path),
                        expected="a complete, uncorrupted file") from exc
    if "neuroimit_format" not in ds.attrs:
        raise DataError("is not a neuroimit session file", file=str(path),
                        field="attrs/neuroimit_format",
                        expected="a file written by Session.save (NWB files: use "
                                 "neuroimit.loaders.load_session)")
    return Session.from_dataset(ds, trials, truth, source=str(path))


def merge_metadata(meta: Mapping[str, Any] | None, **defaults: Any) -> dict[str, Any]:
    """``defaults`` overridden by ``meta`` (helper for loaders)."""
    out = dict(defaults)
    out.update(dict(meta or {}))
    return out
