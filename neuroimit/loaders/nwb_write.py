"""Write a :class:`~neuroimit.session.Session` to an NWB file (pynwb + ndx-pose >= 0.4).

Layout (documented in ``docs/synth.md``, read back by ``neuroimit.loaders.load_session``):

* ``processing["behavior"]``: ``Skeletons`` (one ``Skeleton`` named ``"skeleton"`` whose nodes
  are the keypoint names) and a ``PoseEstimation`` named ``"PoseEstimation"`` holding one
  ``PoseEstimationSeries`` per keypoint (name = keypoint name, data (T, 3) metres, unit
  ``"meters"``, ``confidence`` (T,)).
* EMG with ``kind="raw"`` in volts: ``acquisition["EMG"]``, an ``ElectricalSeries`` whose
  electrodes table rows (group / device ``"EMG"``) carry the columns ``channel`` (recorded
  name, e.g. ``Biceps``) and ``muscle`` (e.g. ``biceps_long``). Any other EMG (envelopes,
  arbitrary units): ``processing["ecephys"]["EMG"]``, a ``TimeSeries`` (unit ``"V"`` or
  ``"a.u."``). Both carry ``comments`` = JSON
  ``{"channels": [...], "muscles": [...], "kind": ..., "unit": ...}``.
* the trials table (``start_time``, ``stop_time``, ``outcome`` and every extra column).
* ``Subject`` (species from metadata, default ``"Mus musculus"``).
* ``processing["ground_truth"]`` (only when ``session.truth`` is set): one ``TimeSeries`` per
  truth variable whose first dimension is ``time`` or ``emg_time``, one ``DynamicTable`` per
  other variable (columns ``<first dim>`` = labels and ``value``), and a table
  ``dataset_attrs`` (``key``, ``value_json``). Every object's ``comments`` / ``description``
  holds JSON with its ``dims``, ``coords`` and ``attrs`` so the xarray Dataset rebuilds exactly.
* ``notes``: ``"neuroimit_metadata: " + JSON`` of ``session.metadata``.

>>> from neuroimit.synth import demo_session            # doctest: +SKIP
>>> write_nwb(demo_session(), "demo.nwb")               # doctest: +SKIP
PosixPath('demo.nwb')
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..atomic import atomic_path
from ..errors import DataError
from ..session import Session

__all__ = ["write_nwb", "TRUTH_MODULE", "POSE_MODULE", "METADATA_PREFIX", "truth_to_nwb"]

TRUTH_MODULE = "ground_truth"
POSE_MODULE = "behavior"
METADATA_PREFIX = "neuroimit_metadata: "
#: session start used when metadata has none: a fixed instant keeps synthetic files reproducible
DEFAULT_START = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)

# units / descriptions of the synthetic ground-truth variables (others use their attrs)
_TRUTH_DOC = {
    "qpos": ("radians", "GROUND TRUTH joint angles (qpos of the body model), rad"),
    "qvel": ("radians/s", "GROUND TRUTH joint velocities (qvel), rad/s"),
    "excitation": ("n.a.", "GROUND TRUTH muscle excitations (MuJoCo ctrl, 0..1), held "
                           "constant from this frame to the next"),
    "activation": ("n.a.", "GROUND TRUTH muscle activations (MuJoCo act, 0..1) at the frame"),
    "keypoints_true": ("meters", "GROUND TRUTH noiseless keypoint positions (site + offset), m"),
    "offsets": ("meters", "GROUND TRUTH keypoint offsets from their sites, in the site's body "
                          "frame, m"),
    "segment_scale": ("n.a.", "GROUND TRUTH per-segment length scales of the body model"),
}


def _regular_rate(t: np.ndarray) -> float | None:
    """The rate when ``t`` is uniformly sampled (to 1e-6 relative), else None."""
    if t.size < 2:
        return None
    d = np.diff(t)
    step = float(np.median(d))
    if step > 0 and np.allclose(d, step, rtol=1e-6, atol=1e-9 * max(1.0, abs(t[-1]))):
        # rounded like Session.rate, so 1 / 0.0005 is written as 2000.0, not 1999.99...
        rate = float(np.round(1.0 / step, 6))
        if np.allclose(t[0] + np.arange(t.size) / rate, t, rtol=0, atol=1e-9 * max(1.0, t[-1])):
            return rate
    return None


def _time_kwargs(t: np.ndarray, link=None) -> dict[str, Any]:
    """``starting_time``/``rate`` for regular timestamps, else explicit (or linked) timestamps."""
    rate = _regular_rate(t)
    if rate is not None:
        return {"starting_time": float(t[0]), "rate": float(rate)}
    return {"timestamps": link if link is not None else np.asarray(t, dtype=np.float64)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


def _start_time(meta: dict[str, Any]) -> _dt.datetime:
    raw = meta.get("session_start_time")
    if raw is None:
        return DEFAULT_START
    if isinstance(raw, _dt.datetime):
        t = raw
    else:
        try:
            t = _dt.datetime.fromisoformat(str(raw))
        except ValueError:
            raise DataError(f"session_start_time {raw!r} is not ISO 8601", field="metadata",
                            expected="e.g. 2024-05-01T10:00:00+00:00") from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _subject(meta: dict[str, Any]):
    from pynwb.file import Subject

    return Subject(subject_id=str(meta.get("subject") or "unknown"),
                   species=str(meta.get("species") or "Mus musculus"),
                   # placeholders nwbinspector accepts: adult (8 weeks or older), sex unknown
                   age=str(meta.get("age") or "P8W/"), sex=str(meta.get("sex") or "U"),
                   description=str(meta.get("subject_description")
                                   or "subject of a neuroimit session"))


def _add_pose(nwb, session: Session) -> None:
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons

    meta = session.metadata
    names = list(session.keypoint_names)
    edges = meta.get("skeleton_edges")
    if edges is None:  # a chain in keypoint order (proximal to distal for a limb)
        edges = [[i, i + 1] for i in range(len(names) - 1)]
    if len(names) > 256:  # ndx-pose stores skeleton edges as uint8 node indices
        raise DataError(f"{len(names)} keypoints; an ndx-pose Skeleton holds at most 256",
                        file=meta.get("source"), field="keypoint_names",
                        expected="at most 256 keypoints")
    edges_arr = np.asarray(edges, dtype=np.uint8).reshape(-1, 2) if len(edges) else None
    skeleton = Skeleton(name="skeleton", nodes=names, edges=edges_arr)
    frame = str(meta.get("reference_frame") or "3D world frame of the session, metres")
    series = []
    link = None
    for k, name in enumerate(names):
        s = PoseEstimationSeries(
            name=name, data=session.keypoints[:, k, :], unit="meters", reference_frame=frame,
            confidence=session.confidence[:, k],
            confidence_definition="1 = tracked, 0 = missing (NaN coordinates)",
            description=f"3D position of keypoint {name}, metres",
            **_time_kwargs(session.time, link))
        if link is None and "timestamps" in _time_kwargs(session.time):
            link = s  # later series share the first one's timestamps
        series.append(s)
    pe = PoseEstimation(name="PoseEstimation", pose_estimation_series=series,
                        description=str(meta.get("pose_description")
                                        or "3D keypoints of the reaching forelimb"),
                        skeleton=skeleton,
                        source_software=str(meta.get("pose_software") or "neuroimit"))
    mod = nwb.create_processing_module(POSE_MODULE, "behavioural data: 3D pose")
    mod.add(Skeletons(skeletons=[skeleton]))
    mod.add(pe)


def _add_emg(nwb, session: Session) -> None:
    from pynwb import TimeSeries
    from pynwb.ecephys import ElectricalSeries

    emg = session.emg
    info = json.dumps({"channels": list(emg.channels), "muscles": list(emg.muscles),
                       "kind": emg.kind, "unit": emg.unit})
    desc = (f"{'raw' if emg.kind == 'raw' else 'envelope'} EMG; channels "
            + ", ".join(f"{c} ({m})" for c, m in zip(emg.channels, emg.muscles)))
    if emg.kind == "raw" and emg.unit == "V":
        dev = nwb.create_device(name="EMG", description="intramuscular EMG electrodes")
        group = nwb.create_electrode_group(name="EMG", description="EMG electrodes, one per "
                                           "muscle", location="forelimb muscles", device=dev)
        nwb.add_electrode_column(name="channel", description="EMG channel name as recorded")
        nwb.add_electrode_column(name="muscle", description="muscle this channel records")
        for c, m in zip(emg.channels, emg.muscles):
            nwb.add_electrode(group=group, location=str(m), channel=str(c), muscle=str(m))
        region = nwb.create_electrode_table_region(list(range(len(emg.channels))),
                                                   "EMG channels")
        es = ElectricalSeries(name="EMG", data=emg.data, electrodes=region, conversion=1.0,
                              filtering="none (raw)", description=desc, comments=info,
                              **_time_kwargs(emg.time))
        nwb.add_acquisition(es)
    else:
        ts = TimeSeries(name="EMG", data=emg.data, unit=emg.unit, description=desc,
                        comments=info, **_time_kwargs(emg.time))
        mod = nwb.create_processing_module("ecephys", "processed EMG")
        mod.add(ts)


def _add_trials(nwb, trials: pd.DataFrame) -> None:
    if not len(trials):
        return
    docs = {"outcome": "trial outcome", "target_x": "reach target x, m",
            "target_y": "reach target y, m", "target_z": "reach target z, m"}
    cols = {}
    for c in trials.columns:
        if c in ("start_time", "stop_time"):
            continue
        v = trials[c]
        if v.dtype.kind in "fiub":
            vals = v.to_numpy()
        else:
            vals = v.astype(str).to_numpy()
        cols[str(c)] = vals
        nwb.add_trial_column(name=str(c), description=docs.get(str(c), f"column {c}"))
    start = trials["start_time"].to_numpy(dtype=float)
    stop = trials["stop_time"].to_numpy(dtype=float)
    for i in range(len(trials)):
        nwb.add_trial(start_time=float(start[i]), stop_time=float(stop[i]),
                      **{c: _jsonable(v[i]) for c, v in cols.items()})


def truth_to_nwb(truth: xr.Dataset, nwb) -> None:
    """Add ``truth`` (an xarray Dataset) to ``nwb.processing["ground_truth"]``.

    Variables whose first dimension is ``time`` or ``emg_time`` become TimeSeries (their
    ``comments`` hold JSON ``{"dims", "coords", "attrs"}``); others become DynamicTables
    (first-dimension labels in a column named after that dimension, the values in ``value``;
    the JSON in the table's description after ``"json: "``).
    """
    from hdmf.common import DynamicTable, VectorData
    from pynwb import TimeSeries

    mod = nwb.create_processing_module(
        TRUTH_MODULE, "GROUND TRUTH of a synthetic session (not measured data): the true joint "
        "angles, muscle excitations/activations, noiseless keypoints, keypoint offsets and "
        "segment scales that generated the recorded pose and EMG.")

    def coords_of(da: xr.DataArray, skip: tuple[str, ...]) -> dict[str, Any]:
        out = {}
        for name, c in da.coords.items():
            if name in skip:
                continue
            out[str(name)] = {"dims": list(c.dims), "values": _jsonable(c.values)}
        return out

    for name, da in truth.data_vars.items():
        name = str(name)
        unit, desc = _TRUTH_DOC.get(name, (None, None))
        unit = str(da.attrs.get("units", unit or "n.a."))
        desc = str(da.attrs.get("description", desc or f"GROUND TRUTH {name}"))
        meta = {"dims": list(da.dims), "attrs": {k: _jsonable(v) for k, v in da.attrs.items()}}
        if da.ndim and da.dims[0] in ("time", "emg_time"):
            tdim = da.dims[0]
            meta["coords"] = coords_of(da, (tdim,))
            t = np.asarray(da[tdim].values, dtype=np.float64)
            mod.add(TimeSeries(name=name, data=np.asarray(da.values), unit=unit,
                               description=desc, comments=json.dumps(meta),
                               **_time_kwargs(t)))
        else:
            meta["coords"] = coords_of(da, ())
            vals = np.asarray(da.values)
            if da.ndim == 0:
                vals = vals.reshape(1)
                labels = [name]
                dim0 = "name"
            else:
                dim0 = str(da.dims[0])
                labels = (list(map(str, da[dim0].values)) if dim0 in da.coords
                          else [str(i) for i in range(da.shape[0])])
            cols = [VectorData(name=dim0, description=f"{dim0} label", data=labels),
                    VectorData(name="value", description=f"{desc} ({unit})", data=vals)]
            mod.add(DynamicTable(name=name, description=f"{desc}; json: {json.dumps(meta)}",
                                 columns=cols))
    keys = [str(k) for k in truth.attrs]
    if keys:
        cols = [VectorData(name="key", description="attribute name", data=keys),
                VectorData(name="value_json", description="attribute value as JSON",
                           data=[json.dumps(_jsonable(truth.attrs[k]), default=str)
                                 for k in keys])]
        mod.add(DynamicTable(name="dataset_attrs", description="attributes of the ground-truth "
                             "dataset (simulation settings)", columns=cols))


def build_nwbfile(session: Session):
    """An in-memory ``pynwb.NWBFile`` holding ``session`` (see the module docstring)."""
    from pynwb import NWBFile

    meta = dict(session.metadata)
    sid = str(meta.get("session_id") or "session")
    ident = str(meta.get("identifier")
                or uuid.uuid5(uuid.NAMESPACE_URL, f"neuroimit/{sid}/{meta.get('source')}"))
    nwb = NWBFile(
        session_description=str(meta.get("description") or f"neuroimit session {sid}"),
        identifier=ident, session_start_time=_start_time(meta), session_id=sid,
        experiment_description=str(meta.get("experiment_description")
                                   or "mouse forelimb reaching"),
        notes=METADATA_PREFIX + json.dumps(meta, default=str),
        institution=meta.get("institution"), lab=meta.get("lab"))
    nwb.subject = _subject(meta)
    if session.n_frames:
        _add_pose(nwb, session)
    if session.emg is not None and session.emg.time.size:
        _add_emg(nwb, session)
    _add_trials(nwb, session.trials)
    if session.truth is not None:
        truth_to_nwb(session.truth, nwb)
    return nwb


def write_nwb(session: Session, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``session`` to the NWB file ``path`` atomically (temp file, then rename).

    Parameters
    ----------
    session: the session to write (pose, EMG, trials, metadata, ground truth).
    path: destination ``.nwb`` file; its folder is created when missing.
    overwrite: replace an existing file (otherwise a :class:`DataError`).

    Returns the path written.

    >>> write_nwb(sess, "out.nwb")            # doctest: +SKIP
    PosixPath('out.nwb')
    """
    from pynwb import NWBHDF5IO

    if not isinstance(session, Session):
        raise DataError(f"expected a neuroimit Session, got {type(session).__name__}",
                        field="session")
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("file already exists", file=str(path),
                        expected="a new path, or overwrite=True (--overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    nwb = build_nwbfile(session)
    with atomic_path(path, suffix=".tmp.nwb") as tmp:
        with NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwb)
    return path
