"""External predictions to score beside ours: OpenSim ``.sto`` files and the Gilmer reaches.

``read_sto`` reads any OpenSim storage file (header lines up to ``endheader``, then a
tab-separated table with a ``time`` column). ``sto_activations`` pulls the muscle activations
(``/forceset/<Muscle>/activation`` columns) out of a Moco solution; ``load_gilmer_reach`` builds
a :class:`~neuroimit.session.Session` and the peer prediction for one reach of the
``mouse_reach_emg_150hz`` data (Gilmer et al., J Neurophysiol 2025), so our activations and
theirs go through the same :func:`~neuroimit.analysis.alignment.align` code.

>>> import io
>>> txt = "inDegrees=no\\nendheader\\ntime\\t/forceset/Biceps_Long_Head/activation\\n0\\t0.1\\n0.01\\t0.2\\n"
>>> df, meta = read_sto(io.StringIO(txt))
>>> list(sto_activations(df).columns), meta["inDegrees"]
(['Biceps_Long_Head'], 'no')
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["read_sto", "sto_activations", "GILMER_EMG_MAP", "GilmerReach", "load_gilmer_reach"]

#: EMG channel of the Gilmer data -> muscle of their OpenSim model
GILMER_EMG_MAP = {"Biceps": "Biceps_Long_Head", "TriLong": "Triceps_Long_Head",
                  "TriLat": "Triceps_Lat_Head"}


def read_sto(path: str | os.PathLike | io.TextIOBase) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read an OpenSim .sto/.mot file: ``(table, header)``; table columns as in the file."""
    name = getattr(path, "name", None) or str(path)
    try:
        text = path.read() if hasattr(path, "read") else Path(path).read_text()
    except OSError as exc:
        raise DataError(f"cannot be read ({exc})", file=name) from exc
    lines = text.splitlines()
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader")
    except StopIteration:
        raise DataError("no 'endheader' line", file=name, field="header",
                        expected="an OpenSim storage file (.sto/.mot)") from None
    meta = {}
    for ln in lines[:end]:
        if "=" in ln:
            k, v = ln.split("=", 1)
            meta[k.strip()] = v.strip()
    try:
        df = pd.read_csv(io.StringIO("\n".join(lines[end + 1:])), sep="\t")
    except Exception as exc:
        raise DataError(f"table cannot be parsed ({exc})", file=name, field="data") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if "time" not in df.columns:
        raise DataError("no 'time' column", file=name, field="columns",
                        expected="a 'time' column in seconds")
    return df, meta


def sto_activations(df: pd.DataFrame, suffix: str = "activation") -> pd.DataFrame:
    """Columns ``/forceset/<Muscle>/<suffix>`` renamed to ``<Muscle>`` (index: time, s).

    ``suffix="activation"`` gives activation states; Moco controls (excitations) are the bare
    ``/forceset/<Muscle>`` columns: use ``suffix=""``.
    """
    out = {}
    for c in df.columns:
        parts = c.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "forceset":
            if suffix and len(parts) == 3 and parts[2] == suffix:
                out[parts[1]] = df[c].to_numpy(float)
            elif not suffix and len(parts) == 2:
                out[parts[1]] = df[c].to_numpy(float)
    res = pd.DataFrame(out, index=pd.Index(df["time"].to_numpy(float), name="time"))
    return res


@dataclass
class GilmerReach:
    """One reach of the Gilmer et al. data: session, peer activations, peer excitations."""

    session: Any
    activation: pd.DataFrame   # index time (s), columns OpenSim muscles
    excitation: pd.DataFrame
    joints: pd.DataFrame       # their joint angles (rad), index time
    solver_status: str
    index: int


def load_gilmer_reach(folder: str | os.PathLike, index: int = 1) -> GilmerReach:
    """Session (paw, wrist, shoulder, elbow keypoints at 150 Hz + EMG envelopes) and peer
    predictions for reach ``index`` (1 or 2) of ``mouse_reach_emg_150hz``.

    The EMG csv has no time column: its samples span the reach. We place them evenly from the
    first to the last kinematic frame (0 .. 0.3267 s, ~51 kHz): with that time base the
    zero-lag correlations of the peer activations with the EMG reproduce the figures quoted
    with the data (reach 1: biceps 0.13-0.19, triceps long 0.80, lateral 0.57), whereas a
    0.333 s span gives 0.12 / 0.75 / 0.54.
    """
    from ..session import EMG, Session

    folder = Path(folder)
    kin_p = folder / f"adjusted_kinematics_{index}.csv"
    emg_p = folder / f"emg_{index}.csv"
    sto_p = folder / f"muscle_solution_adjusted_kinematics_{index}.sto"
    for p in (kin_p, emg_p, sto_p):
        if not p.exists():
            raise DataError("file does not exist", file=str(p),
                            expected="the mouse_reach_emg_150hz folder layout")
    kin = np.loadtxt(kin_p, delimiter=",")
    if kin.ndim != 2 or kin.shape[1] != 13:
        raise DataError(f"has shape {kin.shape}", file=str(kin_p),
                        expected="13 columns: time, then x,y,z of paw, wrist, shoulder, elbow")
    t = kin[:, 0] - kin[0, 0]
    t = np.round(t * 150.0) / 150.0  # their times carry rounding noise at 1e-15
    kp = kin[:, 1:].reshape(len(kin), 4, 3)
    names = ["Paw", "Wrist", "Shoulder", "Elbow"]
    emg_df = pd.read_csv(emg_p)
    n = len(emg_df)
    et = np.linspace(0.0, float(t[-1]), n)
    emg = EMG(emg_df.to_numpy(float), et, list(emg_df.columns), unit="a.u.", kind="envelope",
              source=str(emg_p))
    sess = Session(kp, t, names, emg=emg,
                   trials=pd.DataFrame({"start_time": [0.0], "stop_time": [float(t[-1])],
                                        "outcome": ["reach"]}),
                   metadata={"subject": "Gilmer2025", "session_id": f"reach_{index}",
                             "source": str(folder), "species": "Mus musculus"})
    df, meta = read_sto(sto_p)
    act = sto_activations(df)
    exc = sto_activations(df, suffix="")
    jcols = [c for c in df.columns if c.startswith("/jointset/") and c.endswith("/value")]
    joints = pd.DataFrame({c.split("/")[-2]: df[c].to_numpy(float) for c in jcols},
                          index=pd.Index(df["time"].to_numpy(float), name="time"))
    return GilmerReach(sess, act, exc, joints, meta.get("status", ""), index)
