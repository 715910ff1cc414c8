"""Reference clips: the joint trajectories the policy learns to reproduce.

A :class:`ReferenceClip` holds ``qpos (T, nq)`` rad, ``qvel (T, nv)`` rad/s, optional
``keypoints (T, K, 3)`` m and the frame interval ``dt`` (s). Clips come from STAC
``Registration`` objects (:func:`clips_from_registrations`, duck typed: anything with
``qpos`` and ``time`` or a rate), from plain arrays (:func:`clip_from_arrays`) or from a
folder of stac-mjx HDF5 outputs (:func:`load_stac_h5_clips`), and are resampled to the
control rate with :func:`resample_clip`.

>>> import numpy as np
>>> c = clip_from_arrays(np.zeros((50, 2)), rate=200.0)
>>> resample_clip(c, 400.0).qpos.shape
(99, 2)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError

__all__ = ["ReferenceClip", "clip_from_arrays", "clips_from_registrations", "resample_clip",
           "load_stac_h5_clips", "split_clips"]


@dataclass
class ReferenceClip:
    """One reference trajectory.

    qpos: (T, nq) rad. qvel: (T, nv) rad/s. keypoints: (T, K, 3) m or None (then computed
    from the body's keypoint sites by the environment). dt: s between frames.
    """
    qpos: np.ndarray
    qvel: np.ndarray
    dt: float
    keypoints: np.ndarray | None = None
    keypoint_names: tuple[str, ...] = ()
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.qpos = np.asarray(self.qpos, dtype=np.float64)
        self.qvel = np.asarray(self.qvel, dtype=np.float64)
        where = self.name or "ReferenceClip"
        if self.qpos.ndim != 2 or len(self.qpos) < 2:
            raise DataError(f"qpos has shape {self.qpos.shape}", file=where, field="qpos",
                            expected="(T >= 2, nq)")
        if self.qvel.shape[0] != self.qpos.shape[0]:
            raise DataError(f"qvel has {self.qvel.shape[0]} frames, qpos {len(self.qpos)}",
                            file=where, field="qvel", expected="same number of frames")
        if not (np.all(np.isfinite(self.qpos)) and np.all(np.isfinite(self.qvel))):
            raise DataError("non-finite values", file=where, field="qpos/qvel",
                            expected="finite joint angles (fill gaps before imitation)")
        if not self.dt > 0:
            raise DataError(f"dt={self.dt}", file=where, field="dt", expected="> 0 s")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
            if self.keypoints.ndim != 3 or self.keypoints.shape[0] != len(self.qpos):
                raise DataError(f"keypoints have shape {self.keypoints.shape}", file=where,
                                field="keypoints", expected=f"({len(self.qpos)}, K, 3)")

    @property
    def n_frames(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def duration(self) -> float:
        return (self.n_frames - 1) * self.dt

    @property
    def time(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.dt


def clip_from_arrays(qpos, qvel=None, *, rate: float | None = None, dt: float | None = None,
                     keypoints=None, keypoint_names: Sequence[str] = (), name: str = "",
                     ) -> ReferenceClip:
    """Build a clip from arrays; ``qvel`` defaults to the finite-difference derivative.

    >>> clip_from_arrays(np.zeros((10, 4)), rate=200.0).dt
    0.005
    """
    if dt is None:
        if rate is None:
            raise DataError("give rate (Hz) or dt (s)", file=name or "arrays", field="rate")
        dt = 1.0 / float(rate)
    qpos = np.asarray(qpos, dtype=np.float64)
    if qvel is None:
        qvel = np.gradient(qpos, dt, axis=0) if len(qpos) > 1 else np.zeros_like(qpos)
    return ReferenceClip(qpos=qpos, qvel=qvel, dt=float(dt), keypoints=keypoints,
                         keypoint_names=tuple(keypoint_names), name=name)


def clips_from_registrations(regs: Iterable, control_rate: float | None = 200.0,
                             *, windows: Sequence[tuple[float, float]] | None = None,
                             ) -> list[ReferenceClip]:
    """Reference clips from STAC Registrations (or anything with ``qpos`` and ``time``).

    Uses ``reg.qpos`` (T, nq), ``reg.qvel`` when present (else finite differences),
    ``reg.time`` (T,) s (or ``reg.dt`` / ``reg.rate``), and ``reg.model_keypoints``
    (T, K, 3) with ``reg.keypoint_names`` when present. Clips are resampled to
    ``control_rate`` (None keeps the original rate). ``windows``: (start, stop) times in s;
    each registration is cut into one clip per window (windows with < 2 frames are skipped).
    """
    clips = []
    for i, reg in enumerate(regs):
        name = str(getattr(reg, "name", "") or getattr(reg, "session_id", "") or f"clip{i:03d}")
        qpos = getattr(reg, "qpos", None)
        if qpos is None:
            raise DataError("object has no qpos", file=name, field="qpos",
                            expected="a Registration (qpos (T, nq), time (T,))")
        qpos = np.asarray(qpos, dtype=np.float64)
        t = getattr(reg, "time", None)
        if t is not None:
            t = np.asarray(t, dtype=np.float64)
            if t.shape != (len(qpos),) or np.any(np.diff(t) <= 0):
                raise DataError("time is not strictly increasing or has the wrong length",
                                file=name, field="time", expected=f"({len(qpos)},) seconds")
            dt = float(np.median(np.diff(t)))
        elif getattr(reg, "dt", None):
            dt = float(reg.dt)
        elif getattr(reg, "rate", None):
            dt = 1.0 / float(reg.rate)
        else:
            raise DataError("no time base", file=name, field="time",
                            expected="time (T,) or dt or rate")
        qvel = getattr(reg, "qvel", None)
        kp = getattr(reg, "model_keypoints", None)
        names = tuple(getattr(reg, "keypoint_names", ()) or ())
        clip = clip_from_arrays(qpos, qvel, dt=dt, keypoints=kp, keypoint_names=names,
                                name=name)
        pieces = [clip]
        if windows is not None:
            tt = t if t is not None else np.arange(len(qpos)) * dt
            pieces = []
            for j, (a, b) in enumerate(windows):
                sel = np.flatnonzero((tt >= a - 1e-9) & (tt <= b + 1e-9))
                if len(sel) < 2:
                    continue
                pieces.append(clip_from_arrays(
                    clip.qpos[sel], clip.qvel[sel], dt=dt,
                    keypoints=None if clip.keypoints is None else clip.keypoints[sel],
                    keypoint_names=names, name=f"{name}_w{j:03d}"))
        for piece in pieces:
            if control_rate is not None:
                piece = resample_clip(piece, control_rate)
            clips.append(piece)
    if not clips:
        raise DataError("no registrations given", field="regs", expected="at least one")
    return clips


def resample_clip(clip: ReferenceClip, rate: float) -> ReferenceClip:
    """Resample to ``rate`` Hz over the same time span (cubic spline on qpos; qvel from the
    spline's derivative when the rate changes; keypoints linearly)."""
    new_dt = 1.0 / float(rate)
    if abs(new_dt - clip.dt) < 1e-12:
        return clip
    from scipy.interpolate import CubicSpline

    t = clip.time
    n = int(np.floor(clip.duration / new_dt + 1e-9)) + 1
    tn = np.arange(n) * new_dt
    spl = CubicSpline(t, clip.qpos, axis=0)
    kp = None
    if clip.keypoints is not None:
        flat = clip.keypoints.reshape(len(t), -1)
        kp = np.stack([np.interp(tn, t, flat[:, j]) for j in range(flat.shape[1])], 1)
        kp = kp.reshape(n, *clip.keypoints.shape[1:])
    return replace(clip, qpos=spl(tn), qvel=spl(tn, 1), dt=new_dt, keypoints=kp)


def load_stac_h5_clips(folder, *, rate: float = 200.0, control_rate: float | None = 200.0,
                       pattern: str = "*.h5", joint_order: Sequence[int] | None = None,
                       ) -> list[ReferenceClip]:
    """Clips from stac-mjx output files (``qpos`` (T, nq) [+ ``qvel``]) in ``folder``.

    The 46 real reaches in ../shared/data/mouse_reach_ik_200hz are such files (200 Hz; joint
    order sh_elv, sh_extension, sh_rotation, elbow_joint = neuroimit's shoulder_elevation,
    shoulder_extension, shoulder_rotation, elbow_flexion).
    """
    import h5py

    folder = Path(folder)
    files = sorted(folder.glob(pattern)) if folder.is_dir() else [folder]
    if not files:
        raise DataError("no HDF5 files found", file=str(folder), field=pattern,
                        expected="stac-mjx outputs with a qpos dataset")
    clips = []
    for f in files:
        with h5py.File(f, "r") as h:
            if "qpos" not in h:
                raise DataError("no qpos dataset", file=str(f), field="qpos",
                                expected="(T, nq) joint angles in rad")
            qpos = np.asarray(h["qpos"], dtype=np.float64)
            qvel = np.asarray(h["qvel"], dtype=np.float64) if "qvel" in h else None
        if joint_order is not None:
            qpos = qpos[:, list(joint_order)]
            qvel = None if qvel is None else qvel[:, list(joint_order)]
        # stac-mjx's qvel is a finite difference of noisy fits: recompute consistently
        clip = clip_from_arrays(qpos, None, rate=rate, name=f.stem)
        if control_rate is not None:
            clip = resample_clip(clip, control_rate)
        clips.append(clip)
    return clips


def split_clips(clips: Sequence[ReferenceClip], n_eval: int, seed: int = 0):
    """Random (seeded) split into (train, held-out) lists."""
    if not 0 <= n_eval < len(clips):
        raise DataError(f"n_eval={n_eval} with {len(clips)} clips", field="n_eval",
                        expected="0 <= n_eval < number of clips")
    idx = np.random.default_rng(seed).permutation(len(clips))
    held = set(idx[:n_eval].tolist())
    return ([c for i, c in enumerate(clips) if i not in held],
            [c for i, c in enumerate(clips) if i in held])
