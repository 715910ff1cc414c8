"""Tolerant reading of a run directory for the report (see docs/report.md for the layout).

Every piece is optional; what cannot be read is recorded in ``RunData.problems`` (shown in
the report) instead of stopping the report::

    RUN_DIR/session.nc            Session.save (or session.nwb: neuroimit.loaders)
    RUN_DIR/registration.h5       neuroimit.stac.Registration.save
    RUN_DIR/rollout.h5            neuroimit.imitation.Rollout.save (the run's own preset)
    RUN_DIR/rollouts/<preset>.h5  one Rollout per constraint preset (a sweep)
    RUN_DIR/sweep/<preset>/rollout.h5   (same, sweep sub-runs)
    RUN_DIR/sweep.csv             the imitation sweep table (preset, clip, metrics ...)
    RUN_DIR/peers/<name>.sto|.csv external predictions on the session time base
    RUN_DIR/peers/<name>.json     {"emg_map": {channel: muscle}, "label": ..., "signal": ...}
    RUN_DIR/config.yaml, clips.json, policy/metrics.csv   (shown when present)

Objects from the other areas are read through their own ``load`` when importable, else
straight from the HDF5 file (datasets become attributes), and then viewed through
:class:`RolloutView` / duck typing, so the report keeps working while formats evolve.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RunData", "ClipView", "RolloutView", "load_run", "view_rollout", "H5Object"]


class H5Object:
    """An HDF5 file's datasets and attributes as attributes (groups nest).

    ``obj.qpos`` -> numpy array; ``obj.attrs`` -> dict; ``obj.groups`` -> {name: H5Object}.
    """

    def __init__(self, group):
        import h5py

        self.attrs = {k: _decode(v) for k, v in group.attrs.items()}
        self.groups: dict[str, H5Object] = {}
        self._keys: list[str] = []
        for k, v in group.items():
            if isinstance(v, h5py.Dataset):
                val = v[()]
                setattr(self, k, _decode(val))
                self._keys.append(k)
            elif isinstance(v, h5py.Group):
                self.groups[k] = H5Object(v)
        for k, v in self.attrs.items():
            if not hasattr(self, k):
                setattr(self, k, v)

    @classmethod
    def read(cls, path) -> "H5Object":
        import h5py

        with h5py.File(path, "r") as fh:
            return cls(fh)

    def keys(self) -> list[str]:
        return list(self._keys)


def _decode(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
        return np.array([x.decode() if isinstance(x, bytes) else x for x in v.ravel()],
                        dtype=object).reshape(v.shape)
    return v


def _get(obj, *names, default=None):
    for n in names:
        if obj is None:
            return default
        if isinstance(obj, dict) and n in obj and obj[n] is not None:
            return obj[n]
        v = getattr(obj, n, None)
        if v is not None and not callable(v):
            return v
        groups = getattr(obj, "groups", None)
        if isinstance(groups, dict) and n in groups:
            return groups[n]
    return default


def _names(v) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            return [v]
    return [str(x.decode() if isinstance(x, bytes) else x) for x in np.asarray(v).ravel()]


@dataclass
class ClipView:
    """One clip of a rollout, with its reference and its place on the session time base."""

    name: str
    t0: float | None                 # session time (s) of frame 0; None when unknown
    rate: float
    qpos: np.ndarray | None = None   # (T, nq) rad
    ref_qpos: np.ndarray | None = None
    keypoints: np.ndarray | None = None   # (T, K, 3) m
    ref_keypoints: np.ndarray | None = None
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # excitation/activation/force
    latent: np.ndarray | None = None  # (T, D)
    holdout: bool = False

    def signal(self, name: str) -> np.ndarray | None:
        """Simulated ``excitation``, ``activation`` or ``force``; forces are returned as
        tensions (MuJoCo muscle forces are negative when pulling), so that every signal
        grows with muscle activity, like EMG."""
        x = self.signals.get(name)
        if x is None:
            return None
        x = np.asarray(x, float)
        if name == "force" and np.nansum(x < 0) > np.nansum(x > 0):
            x = -x
        return x

    @property
    def n_frames(self) -> int:
        for a in (self.qpos, self.keypoints, self.latent, *self.signals.values()):
            if a is not None:
                return int(len(a))
        return 0

    @property
    def time(self) -> np.ndarray | None:
        if self.t0 is None:
            return None
        return self.t0 + np.arange(self.n_frames) / self.rate


@dataclass
class RolloutView:
    """A rollout, whatever its storage, as a list of :class:`ClipView`."""

    label: str
    clips: list[ClipView]
    muscle_names: list[str]
    joint_names: list[str]
    keypoint_names: list[str]
    rate: float
    source: str = ""

    def stacked(self, what: str):
        """Per-clip arrays stacked to (C, T, ...) when all clips have the same length."""
        arrs = [getattr(c, what) for c in self.clips]
        if any(a is None for a in arrs) or len({len(a) for a in arrs}) != 1:
            return None
        return np.stack(arrs)


_SIGNALS = ("excitation", "activation", "force")


def _split_clips(arr, n_clips: int | None, clip_index=None) -> list | None:
    """(C, T, ...) array, list of arrays, or (T, ...) + per-frame clip index -> list."""
    if arr is None:
        return None
    if isinstance(arr, (list, tuple)):
        return [np.asarray(a, float) for a in arr]
    a = np.asarray(arr)
    if a.dtype == object:
        return [np.asarray(x, float) for x in a]
    a = a.astype(float)
    if clip_index is not None and len(clip_index) == len(a):
        ci = np.asarray(clip_index)
        _, first = np.unique(ci, return_index=True)
        return [a[ci == c] for c in ci[np.sort(first)]]
    if n_clips is not None and a.shape[0] == n_clips and a.ndim >= 2:
        return [a[i] for i in range(n_clips)]
    return [a]


def place_clips(clips: list[ClipView], session, *, clip_seconds: float | None = None) -> None:
    """Put clip-relative rollouts (every clip starting at 0) on the session time base.

    A clip named ``..._wNNN`` (``clips_from_registrations(windows=...)``, as the pipeline
    cuts them) is window NNN: the session's trial NNN when the session has trials, else the
    NNN-th piece of ``clip_seconds`` from the start. Otherwise, when the session has as many
    trials as there are clips, clip i is trial i; a single clip starts with the session.
    Each start is snapped to the first session frame at or after it.
    """
    import re

    if not all(c.t0 in (None, 0.0) for c in clips) or (len(clips) == 1 and
                                                         clips[0].t0 == 0.0 and
                                                         session.time[0] == 0.0):
        return
    starts = session.trials["start_time"].to_numpy(float) if len(session.trials) else None
    t = np.asarray(session.time, float)

    def snap(x: float) -> float:
        i = int(np.searchsorted(t, x - 1e-9))
        return float(t[min(i, len(t) - 1)])

    idx = [re.search(r"_w(\d+)$", c.name) for c in clips]
    if all(idx):
        for c, m in zip(clips, idx):
            j = int(m.group(1))
            if starts is not None and j < len(starts):
                c.t0 = snap(starts[j])
            elif clip_seconds:
                c.t0 = snap(t[0] + j * clip_seconds)
        return
    if starts is not None and len(starts) == len(clips):
        for c, a in zip(clips, starts):
            c.t0 = snap(a)
    elif len(clips) == 1:
        clips[0].t0 = float(t[0])


def view_rollout(roll: Any, label: str = "rollout", *, session=None,
                 default_rate: float = 200.0, clip_seconds: float | None = None
                 ) -> RolloutView:
    """Duck-typed view of a Rollout (object, H5Object or dict) as per-clip arrays.

    Recognised fields (first found wins): ``time`` / ``dt`` / ``rate``; ``qpos``;
    ``ref_qpos`` / ``reference_qpos`` / ``qpos_ref``; ``keypoints``; ``ref_keypoints`` /
    ``reference_keypoints``; ``excitation``, ``activation``, ``force``; ``latent`` /
    ``latents``; ``muscle_names``; ``joint_names``; ``keypoint_names``; ``clip_names``;
    ``clip_start`` / ``t0`` / ``start_time`` (session time of each clip's first frame);
    ``holdout``. Arrays may be (C, T, ...) stacks, lists per clip, or a nested ``clips`` list.
    """
    nested = _get(roll, "clips")
    if isinstance(nested, (list, tuple)) and nested and not isinstance(nested[0], str):
        views = [view_rollout(c, label, session=None, default_rate=default_rate)
                 for c in nested]
        clips = []
        for i, v in enumerate(views):
            for c in v.clips:
                c.name = c.name if c.name not in ("0", "clip0") else str(i)
                clips.append(c)
        v0 = views[0]
        if session is not None:
            place_clips(clips, session, clip_seconds=clip_seconds)
        return RolloutView(label, clips, v0.muscle_names, v0.joint_names, v0.keypoint_names,
                           v0.rate, str(_get(roll, "source", default="")))
    if isinstance(nested, H5Object) or (isinstance(getattr(roll, "groups", None), dict) and
                                        any(k.startswith("clip") for k in roll.groups)):
        groups = nested.groups if isinstance(nested, H5Object) else \
            {k: g for k, g in roll.groups.items() if k.startswith("clip")}
        if groups:
            subs = [groups[k] for k in sorted(groups)]
            v = view_rollout({"clips": subs, **{k: getattr(roll, k) for k in
                                                getattr(roll, "_keys", [])}}, label,
                             session=session, default_rate=default_rate,
                             clip_seconds=clip_seconds)
            for c, k in zip(v.clips, sorted(groups)):
                c.name = k if c.name.isdigit() else c.name
            mn = _names(_get(roll, "muscle_names"))
            if mn:
                v.muscle_names = mn
            return v
    qpos = _get(roll, "qpos")
    n_clips = None
    time = _get(roll, "time")
    rate = _get(roll, "rate", "control_rate")
    dt = _get(roll, "dt")
    if qpos is not None and not isinstance(qpos, (list, tuple)) and np.ndim(qpos) == 3:
        n_clips = np.shape(qpos)[0]
    else:
        for s in _SIGNALS + ("latent", "latents", "keypoints"):
            v = _get(roll, s)
            if v is not None and not isinstance(v, (list, tuple)) and \
                    np.ndim(v) == (4 if s == "keypoints" else 3):
                n_clips = np.shape(v)[0]
                break
    if isinstance(qpos, (list, tuple)):
        n_clips = len(qpos)
    cidx = _get(roll, "clip_index", "clip_id")
    if cidx is not None and (isinstance(cidx, (list, tuple)) or np.ndim(cidx) != 1):
        cidx = None
    split = lambda x: _split_clips(x, n_clips, cidx)  # noqa: E731
    times = split(time) if time is not None and (isinstance(time, (list, tuple)) or
                                                 np.ndim(time) >= 1) else None
    if rate is None:
        if dt is not None:
            rate = 1.0 / float(np.ravel(dt)[0])
        elif times is not None and len(times[0]) > 1:
            rate = 1.0 / float(np.median(np.diff(times[0])))
        else:
            rate = default_rate
    rate = float(np.ravel(rate)[0])
    qp = split(qpos)
    rq = split(_get(roll, "ref_qpos", "reference_qpos", "qpos_ref", "target_qpos"))
    kp = split(_get(roll, "keypoints", "kp"))
    rk = split(_get(roll, "ref_keypoints", "reference_keypoints", "keypoints_ref",
                    "target_keypoints"))
    sig = {s: split(_get(roll, s, s + "s")) for s in _SIGNALS}
    lat = split(_get(roll, "latent", "latents", "intention"))
    lens = [len(x) for x in (qp, kp, lat, *sig.values()) if x is not None]
    n = lens[0] if lens else 0
    names = _names(_get(roll, "clip_names", "names")) or [str(i) for i in range(n)]
    if len(names) != n:
        names = [str(i) for i in range(n)]
    starts = _get(roll, "clip_start", "t0", "start_time", "clip_t0")
    starts = None if starts is None else np.ravel(np.asarray(starts, float))
    hold = _get(roll, "holdout", "held_out")
    hold = None if hold is None else np.ravel(np.asarray(hold))
    clips = []
    for i in range(n):
        t0 = None
        if starts is not None and len(starts) == n:
            t0 = float(starts[i])
        elif times is not None and len(times) == n and len(times[i]):
            t0 = float(times[i][0])
        h = False
        if hold is not None:
            h = bool(hold[i]) if hold.dtype == bool and len(hold) == n else \
                (i in set(int(x) for x in hold) if hold.dtype.kind in "iu" else False)
        c = ClipView(names[i], t0, rate,
                     qpos=None if qp is None else qp[i], ref_qpos=None if rq is None else rq[i],
                     keypoints=None if kp is None else kp[i],
                     ref_keypoints=None if rk is None else rk[i],
                     signals={s: np.asarray(v[i], float) for s, v in sig.items()
                              if v is not None and len(v) == n and np.ndim(v[i]) == 2},
                     latent=None if lat is None else lat[i], holdout=h)
        clips.append(c)
    if session is not None and clips:
        place_clips(clips, session, clip_seconds=clip_seconds)
    msel = _names(_get(roll, "muscle_names", "muscles", "actuator_names")) or []
    jn = _names(_get(roll, "joint_names", "qpos_names")) or []
    kn = _names(_get(roll, "keypoint_names", "kp_names")) or []
    return RolloutView(label, clips, msel, jn, kn, rate, str(_get(roll, "source", default="")))


def sweep_label(dirname: str) -> str:
    """Preset label of a sweep variant folder: ``energy_control_s1`` -> ``energy+control
    (seed 1)``; names that do not follow the pattern are kept."""
    import re

    m = re.match(r"^(.*)_s(\d+)$", dirname)
    base, seed = (m.group(1), m.group(2)) if m else (dirname, None)
    try:
        from ..imitation.config import PRESETS
        known = {p.replace("+", "_"): p for p in PRESETS}
    except Exception:
        known = {"energy_control": "energy+control"}
    base = known.get(base, base)
    return base if seed is None else f"{base} (seed {seed})"


@dataclass
class RunData:
    """Everything the report found in a run directory (None / empty where absent)."""

    run_dir: Path
    session: Any = None
    registration: Any = None
    rollouts: dict[str, RolloutView] = field(default_factory=dict)
    sweep: pd.DataFrame | None = None
    peers: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    clips: dict[str, Any] = field(default_factory=dict)
    metrics: pd.DataFrame | None = None
    body: Any = None
    problems: list[str] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)


def _load_session(path: Path):
    if path.suffix == ".nwb":
        from ..loaders import load_session
        return load_session(str(path))
    from ..session import load_session_file
    return load_session_file(path)


def _load_registration(path: Path):
    try:
        from ..stac import Registration  # type: ignore[attr-defined]
    except ImportError:
        Registration = None
    if Registration is not None and hasattr(Registration, "load"):
        try:
            return Registration.load(path)
        except Exception:  # fall back to a plain read; the format may be older/newer
            pass
    return H5Object.read(path)


def _load_rollout(path: Path):
    try:
        from ..imitation import Rollout  # type: ignore[attr-defined]
    except ImportError:
        Rollout = None
    if Rollout is not None and hasattr(Rollout, "load"):
        try:
            return Rollout.load(path)
        except Exception:
            pass
    return H5Object.read(path)


def _read_peer(path: Path) -> pd.DataFrame:
    if path.suffix in (".sto", ".mot"):
        from .peers import read_sto, sto_activations
        df, _ = read_sto(path)
        act = sto_activations(df)
        if act.shape[1] == 0:
            act = df.set_index("time")
        return act
    df = pd.read_csv(path)
    if "time" not in df.columns:
        from ..errors import DataError
        raise DataError("no 'time' column", file=str(path), field="columns",
                        expected="time (s, session time base) and one column per muscle")
    return df.set_index("time")


def load_run(run_dir, *, session=None) -> RunData:
    """Read what exists in ``run_dir`` (see the module docstring); never raises on a missing
    or unreadable piece, records it in ``problems`` instead."""
    run_dir = Path(run_dir)
    rd = RunData(run_dir)
    if not run_dir.is_dir():
        from ..errors import DataError
        raise DataError("run directory does not exist", file=str(run_dir),
                        expected="a directory written by neuroimit run / demo")

    def attempt(what: str, fn):
        try:
            return fn()
        except Exception as exc:  # report, do not stop
            rd.problems.append(f"{what}: {type(exc).__name__}: {exc}")
            return None

    if session is not None:
        rd.session = session
        rd.found["session"] = "(given)"
    else:
        for name in ("session.nc", "session.h5", "session.nwb"):
            p = run_dir / name
            if p.exists():
                rd.session = attempt(name, lambda p=p: _load_session(p))
                if rd.session is not None:
                    rd.found["session"] = name
                break
    p = run_dir / "registration.h5"
    if p.exists():
        rd.registration = attempt("registration.h5", lambda: _load_registration(p))
        if rd.registration is not None:
            rd.found["registration"] = "registration.h5"
    p = run_dir / "config.yaml"
    if p.exists():
        import yaml
        rd.config = attempt("config.yaml", lambda: yaml.safe_load(p.read_text())) or {}
    clip_seconds = rd.config.get("clip_seconds") if isinstance(rd.config, dict) else None
    cands: list[tuple[str, Path]] = []
    for name in ("rollout.h5", "imitation/rollout.h5", "policy/imitation/rollout.h5"):
        if (run_dir / name).exists():
            cands.append(("run", run_dir / name))
            break
    for p in sorted((run_dir / "rollouts").glob("*.h5")):
        cands.append((p.stem, p))
    for p in sorted(list((run_dir / "sweep").glob("*/rollout.h5")) +
                    list((run_dir / "sweep").glob("*/imitation/rollout.h5"))):
        d = p.parent if p.parent.name != "imitation" else p.parent.parent
        cands.append((sweep_label(d.name), p))
    for label, p in cands:
        obj = attempt(str(p.relative_to(run_dir)), lambda p=p: _load_rollout(p))
        if obj is None:
            continue
        v = attempt(f"{p.relative_to(run_dir)} (view)",
                    lambda obj=obj, label=label: view_rollout(obj, label, session=rd.session,
                                                              clip_seconds=clip_seconds))
        if v is not None and v.clips:
            rd.rollouts[label] = v
            rd.found[f"rollout:{label}"] = str(p.relative_to(run_dir))
    for name in ("sweep.csv", "sweep/table.csv"):
        p = run_dir / name
        if p.exists():
            rd.sweep = attempt(name, lambda p=p: pd.read_csv(p))
            break
    for p in sorted((run_dir / "peers").glob("*")):
        if p.suffix not in (".sto", ".mot", ".csv"):
            continue
        df = attempt(f"peers/{p.name}", lambda p=p: _read_peer(p))
        if df is None:
            continue
        meta = {}
        mp = p.with_suffix(".json")
        if mp.exists():
            meta = attempt(f"peers/{mp.name}", lambda mp=mp: json.loads(mp.read_text())) or {}
        rd.peers[str(meta.get("label", p.stem))] = {"prediction": df, **meta}
        rd.found[f"peer:{p.stem}"] = f"peers/{p.name}"
    p = run_dir / "clips.json"
    if p.exists():
        rd.clips = attempt("clips.json", lambda: json.loads(p.read_text())) or {}
    for p in (run_dir / "policy" / "metrics.csv", run_dir / "policy" / "imitation" /
              "metrics.csv", run_dir / "imitation" / "metrics.csv", run_dir / "metrics.csv"):
        if p.exists():
            rd.metrics = attempt(str(p.relative_to(run_dir)), lambda p=p: pd.read_csv(p))
            break
    return rd
