"""Kinematic reproduction: how closely a rollout tracks its reference clips.

Errors are computed per frame (joint-angle absolute error averaged over joints, keypoint
Euclidean error averaged over keypoints), then summarised over time (mean across clips at each
frame of clip time) and per clip (RMSE, max). A clip is *tracked* when the rollout covers the
whole clip with finite values and its keypoint error never exceeds ``success_threshold_m``
(default 5 mm: about half a forearm of the mouse, Gilmer et al. 2025; track-mjx terminates an
episode at a comparable error).

>>> ref = np.zeros((2, 50, 4)); pred = ref + 0.01
>>> k = tracking_errors(pred, ref)
>>> round(float(k.per_clip["joint_rmse_rad"].iloc[0]), 3), k.success_rate
(0.01, None)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .alignment import _records, _num

__all__ = ["KinematicErrors", "tracking_errors", "phase_labels"]


@dataclass
class KinematicErrors:
    """Result of :func:`tracking_errors`.

    per_clip: clip, n_frames, joint_rmse_rad, joint_max_rad, kp_rmse_m, kp_max_m, tracked.
    over_time: frame, time_s, joint_err_rad (mean over clips), kp_err_m (mean), and the
        10th-90th percentiles across clips.
    success_rate: fraction of clips tracked (None without keypoints).
    """

    per_clip: pd.DataFrame
    over_time: pd.DataFrame
    success_rate: float | None
    threshold_m: float
    per_joint_rmse_rad: dict[str, float]
    per_keypoint_rmse_m: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"success_rate": _num(self.success_rate), "success_threshold_m": self.threshold_m,
                "per_clip": _records(self.per_clip), "over_time": _records(self.over_time),
                "per_joint_rmse_rad": {k: _num(v) for k, v in self.per_joint_rmse_rad.items()},
                "per_keypoint_rmse_m": {k: _num(v) for k, v in self.per_keypoint_rmse_m.items()},
                "mean_joint_rmse_rad": _num(float(np.nanmean(self.per_clip["joint_rmse_rad"])))
                if len(self.per_clip) else None,
                "mean_kp_rmse_m": _num(float(np.nanmean(self.per_clip["kp_rmse_m"])))
                if len(self.per_clip) and "kp_rmse_m" in self.per_clip else None}


def _clipwise(x, ndim_one: int) -> list[np.ndarray] | None:
    """Per-clip list from a (C, T, ...) stack, a single (T, ...) clip or a list of clips."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [np.asarray(a, float) for a in x]
    x = np.asarray(x, float)
    return [x] if x.ndim == ndim_one else [a for a in x]


def _pad(arrs: list[np.ndarray]) -> np.ndarray:
    """Stack clips of different lengths, NaN-padded at the end: (C, T_max, ...)."""
    T = max(len(a) for a in arrs)
    out = np.full((len(arrs), T) + arrs[0].shape[1:], np.nan)
    for i, a in enumerate(arrs):
        out[i, :len(a)] = a
    return out


def tracking_errors(pred_qpos, ref_qpos, pred_kp=None, ref_kp=None, *,
                    rate: float | None = None, joint_names=None, keypoint_names=None,
                    clip_ids=None, success_threshold_m: float = 0.005) -> KinematicErrors:
    """Joint-angle and keypoint errors of a rollout against its reference.

    Parameters
    ----------
    pred_qpos, ref_qpos: (n_clips, T, nq) or (T, nq) rad, or lists of (T_c, nq) per clip
        (clips may differ in length); NaN after an early termination.
    pred_kp, ref_kp: (n_clips, T, K, 3), (T, K, 3) or lists of (T_c, K, 3) m, optional.
    rate: frames per second (for the time axis; default 1 -> frame index).
    """
    pq, rq = _clipwise(pred_qpos, 2), _clipwise(ref_qpos, 2)
    pk, rk = _clipwise(pred_kp, 3), _clipwise(ref_kp, 3)
    if pq is None and pk is None:
        raise DataError("no joint angles and no keypoints to compare", field="rollout",
                        expected="qpos and/or keypoints with references")
    if pq is not None and (rq is None or [a.shape for a in pq] != [a.shape for a in rq]):
        raise DataError("rollout qpos and reference qpos differ in shape", field="qpos",
                        expected="same (clip, time, joint) shapes")
    if pk is not None and (rk is None or [a.shape for a in pk] != [a.shape for a in rk]):
        raise DataError("rollout keypoints and reference keypoints differ in shape",
                        field="keypoints", expected="same (clip, time, keypoint, 3) shapes")
    clips_ = pq if pq is not None else pk
    n_clips = len(clips_)
    rate = float(rate) if rate else 1.0
    ids = list(clip_ids) if clip_ids is not None else list(range(n_clips))
    jerr = None if pq is None else [np.abs(a - b) for a, b in zip(pq, rq)]        # (T, nq)
    kerr = None if pk is None else [np.linalg.norm(a - b, axis=-1) for a, b in zip(pk, rk)]
    rows = []
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for c in range(n_clips):
            row: dict[str, Any] = {"clip": ids[c], "n_frames": len(clips_[c])}
            complete = True
            if jerr is not None:
                e = jerr[c]
                complete &= bool(np.isfinite(e).all())
                row["joint_rmse_rad"] = float(np.sqrt(np.nanmean(e ** 2)))
                row["joint_max_rad"] = float(np.nanmax(e)) if np.isfinite(e).any() else np.nan
            if kerr is not None:
                e = kerr[c]
                complete &= bool(np.isfinite(e).all())
                row["kp_rmse_m"] = float(np.sqrt(np.nanmean(e ** 2)))
                row["kp_max_m"] = float(np.nanmax(e)) if np.isfinite(e).any() else np.nan
                row["tracked"] = bool(complete and row["kp_max_m"] <= success_threshold_m)
            row["complete"] = complete
            rows.append(row)
        per_clip = pd.DataFrame(rows)
        T = max(len(a) for a in clips_)
        ot: dict[str, Any] = {"frame": np.arange(T), "time_s": np.arange(T) / rate}
        if jerr is not None:
            jt = _pad([np.nanmean(e, axis=1) for e in jerr])
            ot["joint_err_rad"] = np.nanmean(jt, axis=0)
            ot["joint_err_p10"] = np.nanpercentile(jt, 10, axis=0)
            ot["joint_err_p90"] = np.nanpercentile(jt, 90, axis=0)
        if kerr is not None:
            kt = _pad([np.nanmean(e, axis=1) for e in kerr])
            ot["kp_err_m"] = np.nanmean(kt, axis=0)
            ot["kp_err_p10"] = np.nanpercentile(kt, 10, axis=0)
            ot["kp_err_p90"] = np.nanpercentile(kt, 90, axis=0)
        pj = {}
        if jerr is not None:
            J = np.concatenate(jerr)
            names = list(joint_names) if joint_names is not None and \
                len(joint_names) == J.shape[1] else [f"q{i}" for i in range(J.shape[1])]
            pj = {n: float(np.sqrt(np.nanmean(J[:, i] ** 2))) for i, n in enumerate(names)}
        pk_ = {}
        if kerr is not None:
            K = np.concatenate(kerr)
            names = list(keypoint_names) if keypoint_names is not None and \
                len(keypoint_names) == K.shape[1] else [f"kp{i}" for i in range(K.shape[1])]
            pk_ = {n: float(np.sqrt(np.nanmean(K[:, i] ** 2))) for i, n in enumerate(names)}
    success = float(per_clip["tracked"].mean()) if "tracked" in per_clip else None
    return KinematicErrors(per_clip, pd.DataFrame(ot), success, success_threshold_m, pj, pk_)


def phase_labels(position: np.ndarray, *, onset_fraction: float = 0.2) -> np.ndarray:
    """Reach phase of each frame from an end-effector path (T, 3): 0 rest, 1 outward, 2 return.

    Onset: first frame whose speed exceeds ``onset_fraction`` x peak speed; outward until the
    frame of maximum displacement from the start position; return afterwards.

    >>> s = np.linspace(0, 1, 50); p = np.stack([np.sin(np.pi * s) ** 2, 0 * s, 0 * s], 1)
    >>> lab = phase_labels(p); int(lab[0]), int(lab[20]), int(lab[-5])
    (0, 1, 2)
    """
    p = np.asarray(position, float)
    if p.ndim != 2 or len(p) < 3:
        raise DataError(f"position has shape {p.shape}", field="position",
                        expected="(T >= 3, 3)")
    ok = np.isfinite(p).all(axis=1)
    if ok.sum() < 3:
        return np.zeros(len(p), int)
    idx = np.arange(len(p))
    pf = np.stack([np.interp(idx, idx[ok], p[ok, j]) for j in range(p.shape[1])], 1)
    speed = np.r_[0.0, np.linalg.norm(np.diff(pf, axis=0), axis=1)]
    disp = np.linalg.norm(pf - pf[0], axis=1)
    peak = int(np.argmax(disp))
    onset_cands = np.flatnonzero(speed[: peak + 1] > onset_fraction * speed.max())
    onset = int(onset_cands[0]) if onset_cands.size else 0
    lab = np.zeros(len(p), int)
    lab[onset: peak + 1] = 1
    lab[peak + 1:] = 2
    return lab
