"""The run report: one self-contained HTML file and a JSON file with every number shown.

``build_report(run_dir)`` reads what exists in the run directory (layout in docs/report.md
and :mod:`neuroimit.analysis.rundir`) and writes ``report.html`` (figures embedded as base64
PNG, no external resources, no scripts: it opens offline in any browser) and ``report.json``.

Sections: data summary; registration quality; tracking quality; EMG alignment per muscle and
per preset (with statistics); causal analysis (:mod:`neuroimit.dynamics`); latent structure.
A section whose inputs are missing says so (e.g. "EMG absent") instead of failing.

>>> from neuroimit.analysis.report import build_report      # doctest: +SKIP
>>> html, js = build_report("runs/m1")                       # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import html as _html
import json
import os
import tempfile
import time as _time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .alignment import Alignment, _num, _records, align, default_mapping
from .comparisons import compare_presets
from .emg import EMGConfig, normalise, process_emg_array, resample_to
from .kinematics import phase_labels, tracking_errors
from .latent import latent_structure
from .rundir import RolloutView, RunData, load_run
from . import figures as F

__all__ = ["ReportConfig", "build_report", "collect_report"]


@dataclass
class ReportConfig:
    """Settings of the report (all optional; pass as keyword arguments to build_report).

    signal: simulated quantity aligned with EMG: ``"activation"`` (default), ``"excitation"``
        or ``"force"``. emg: :class:`~neuroimit.analysis.emg.EMGConfig` fields as a dict.
    max_lag_s: EMG-leading lag window upper bound (s). success_threshold_m: tracking success
        threshold (m). n_boot: bootstrap resamples. seed: every random step.
    causal: run the dynamics section. causal_max_vars: at most this many variables in the CCM
        matrix (joint angles, activations, EMG; CCM cost grows with its square).
    ccm_samples / ccm_surrogates: random libraries per size / surrogate series per pair
        (99 surrogates: smallest attainable p 0.01). causal_max_pairs: pairs (strongest
        between groups) given surrogate and convergence tests. ssm: fit the linear state-space
        forecaster (dynamax EM, the slowest step); ssm_iters / ssm_state_dim: its EM
        iterations and latent dimension.
    emg_map: EMG channel -> simulated muscle (default: the body's emg_map, else by name).
    """

    signal: str = "activation"
    emg: dict[str, Any] = field(default_factory=dict)
    max_lag_s: float = 0.05
    success_threshold_m: float = 0.005
    n_boot: int = 2000
    seed: int = 0
    causal: bool = True
    causal_max_vars: int = 8
    ccm_samples: int = 20
    ccm_surrogates: int = 99
    causal_max_pairs: int = 6
    ssm: bool = True
    ssm_iters: int = 30
    ssm_state_dim: int = 2
    emg_map: dict[str, str] | None = None
    title: str | None = None


# ============================================================================ helpers
def _fig(sec: dict, key: str, make: Callable[[], Any], caption: str) -> None:
    """Render a figure into the section; a failing figure becomes a note, not a crash."""
    try:
        fig = make()
        sec.setdefault("figures", []).append({"key": key, "src": F.to_png_base64(fig),
                                              "caption": caption})
    except Exception as exc:  # pragma: no cover - defensive
        sec.setdefault("notes", []).append(f"figure {key} could not be drawn: "
                                           f"{type(exc).__name__}: {exc}")


def _mm(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x) * 1e3


def _clean(o):
    """JSON-safe copy (NaN/inf -> None, numpy -> python)."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return [_clean(v) for v in o.tolist()]
    if isinstance(o, pd.DataFrame):
        return _records(o)
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, Path):
        return str(o)
    return o


def _emg_envelopes(session, cfg: EMGConfig) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Full-rate normalised envelope of the session's EMG: (time, env, channels)."""
    emg = getattr(session, "emg", None) if session is not None else None
    if emg is None:
        return None
    t = np.asarray(emg.time, float)
    fs = 1.0 / float(np.median(np.diff(t)))
    env = process_emg_array(np.asarray(emg.data, float), fs, cfg, kind=emg.kind, time=t)
    return t, env, list(emg.channels)


def _on_times(src_t: np.ndarray, src: np.ndarray, times: np.ndarray, *,
              antialias: bool) -> np.ndarray:
    """Resample (T', C) onto ``times``, anti-aliasing only a local window around them."""
    if len(times) == 0:
        return np.zeros((0, src.shape[1]))
    lo, hi = times[0] - 0.1, times[-1] + 0.1
    m = (src_t >= lo) & (src_t <= hi)
    if m.sum() < 2:
        return np.full((len(times), src.shape[1]), np.nan)
    aa = None
    if antialias and len(times) > 1:
        new_fs = 1.0 / float(np.median(np.diff(times)))
        fs = 1.0 / float(np.median(np.diff(src_t[m])))
        if new_fs < fs:
            aa = 0.45 * new_fs
    return resample_to(src_t[m], src[m], times, antialias_hz=aa)


def _df_on_times(df: pd.DataFrame, times: np.ndarray) -> pd.DataFrame:
    t = df.index.to_numpy(float)
    out = {c: np.interp(times, t, df[c].to_numpy(float), left=np.nan, right=np.nan)
           for c in df.columns}
    return pd.DataFrame(out)


def _body_emg_map(rd: RunData) -> dict[str, str]:
    reg = rd.registration
    for obj in (reg,):
        body = None
        try:
            if obj is not None and callable(getattr(obj, "body", None)):
                body = obj.body()
        except Exception:
            body = None
        if body is not None and getattr(body, "emg_map", None):
            return dict(body.emg_map)
    try:
        from ..body import load_body
        name = rd.config.get("body", "mouse_forelimb") if rd.config else "mouse_forelimb"
        return dict(load_body(name).emg_map)
    except Exception:
        return {}


# ============================================================================ sections
def _section_data(rd: RunData, rep: dict, env) -> dict:
    sec: dict[str, Any] = {"id": "data", "title": "Data summary", "tables": [], "notes": []}
    s = rd.session
    if s is None:
        sec["notes"].append("No session in the run directory (session.nc): data summary "
                            "unavailable.")
        return sec
    d = s.describe()
    sec["numbers"] = _clean(d)
    rows = [("source", d.get("source")), ("subject / species", f"{d.get('subject')} / "
                                                               f"{d.get('species')}"),
            ("frames", f"{d['n_frames']} at {d['pose_rate_hz']:g} Hz"),
            ("duration", f"{d['duration_s']:.3f} s"),
            ("keypoints", ", ".join(f"{k} ({100 * v:.1f}% missing)" for k, v in
                                    d["missing_fraction"].items())),
            ("trials", str(d["n_trials"])),
            ("ground truth", ", ".join(d.get("ground_truth") or []) or "none")]
    if d.get("emg"):
        e = d["emg"]
        rows.append(("EMG", f"{len(e['channels'])} channels ({', '.join(e['channels'])}) at "
                            f"{e['rate_hz']:g} Hz, {e['kind']}, {e['unit']}"))
    else:
        rows.append(("EMG", "absent: this session has no EMG, so the EMG alignment section is "
                            "empty"))
    sec["kv"] = rows
    if s.n_frames > 1:
        _fig(sec, "keypoints", lambda: F.keypoints_figure(s.time, s.keypoints,
                                                          s.keypoint_names),
             "Keypoint coordinates of the session (mm).")
    if env is not None:
        t, e, ch = env
        step = max(1, len(t) // 4000)
        _fig(sec, "emg", lambda: F.emg_figure(t[::step], e[::step], ch),
             "EMG envelopes (band-pass, rectified, low-pass, normalised per channel; "
             "envelopes recorded as such are only normalised).")
    return sec


def _residuals(reg) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    res = getattr(reg, "residuals", None)
    kp = getattr(reg, "kp_data", None)
    mk = getattr(reg, "model_keypoints", None)
    if res is None and kp is not None and mk is not None:
        res = np.linalg.norm(np.asarray(kp, float) - np.asarray(mk, float), axis=-1)
    names = getattr(reg, "keypoint_names", None)
    names = [str(n) for n in np.ravel(names)] if names is not None else []
    t = getattr(reg, "time", None)
    if res is not None:
        res = np.asarray(res, float)
        if not names or len(names) != res.shape[1]:
            names = [f"kp{i}" for i in range(res.shape[1])]
        t = np.arange(len(res)) if t is None else np.asarray(t, float)
    return (None if t is None else np.asarray(t, float)), res, names


def _section_registration(rd: RunData, rep: dict) -> dict:
    sec: dict[str, Any] = {"id": "registration", "title": "Registration quality (STAC)",
                           "tables": [], "notes": []}
    reg = rd.registration
    if reg is None:
        sec["notes"].append("No registration (registration.h5) in the run directory.")
        return sec
    t, res, names = _residuals(reg)
    nums: dict[str, Any] = {}
    if res is not None:
        with np.errstate(all="ignore"):
            per = {n: _mm(float(np.nanmean(res[:, k]))) for k, n in enumerate(names)}
            nums = {"mean_error_mm": _mm(float(np.nanmean(res))),
                    "median_error_mm": _mm(float(np.nanmedian(res))),
                    "p95_error_mm": _mm(float(np.nanpercentile(res, 95))),
                    "per_keypoint_mean_mm": per, "n_frames": int(len(res))}
        sec["tables"].append({"caption": "Keypoint-to-model-site distance per keypoint (mm)",
                              "df": pd.DataFrame({"keypoint": names,
                                                  "mean (mm)": [per[n] for n in names],
                                                  "median (mm)": [_mm(float(np.nanmedian(
                                                      res[:, k]))) for k in range(len(names))],
                                                  "95th pct (mm)": [_mm(float(np.nanpercentile(
                                                      res[:, k], 95))) for k in
                                                      range(len(names))]})})
        _fig(sec, "residuals", lambda: F.residuals_figure(t, res, names),
             "Registration residuals: distance between each recorded keypoint and its model "
             "site after STAC (mm).")
    scales = getattr(reg, "segment_scales", None)
    if isinstance(scales, dict) and scales:
        nums["segment_scales"] = {k: float(v) for k, v in scales.items()}
    qpos = getattr(reg, "qpos", None)
    jn = getattr(reg, "joint_names", None)
    if jn is None:
        jn = getattr(reg, "qpos_names", None)
    if qpos is not None:
        q = np.asarray(qpos, float)
        jn = [str(x) for x in np.ravel(jn)] if jn is not None and len(np.ravel(jn)) == \
            q.shape[1] else [f"q{i}" for i in range(q.shape[1])]
        nums["joint_range_deg"] = {n: [float(np.degrees(np.nanmin(q[:, i]))),
                                       float(np.degrees(np.nanmax(q[:, i])))]
                                   for i, n in enumerate(jn)}
    info = getattr(reg, "info", None)
    if isinstance(info, dict):
        nums["info"] = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
    sec["numbers"] = _clean(nums)
    if nums.get("mean_error_mm") is not None:
        rep["headline"]["registration_mean_error_mm"] = nums["mean_error_mm"]
    return sec


def _main_rollout(rd: RunData) -> RolloutView | None:
    if not rd.rollouts:
        return None
    return rd.rollouts.get("run") or next(iter(rd.rollouts.values()))


def _section_tracking(rd: RunData, rep: dict, cfg: ReportConfig) -> dict:
    sec: dict[str, Any] = {"id": "tracking", "title": "Tracking quality (imitation)",
                           "tables": [], "notes": []}
    if not rd.rollouts:
        sec["notes"].append("No rollout (rollout.h5): the policy has not been trained or "
                            "evaluated yet, so tracking, EMG alignment of simulated activity "
                            "and latent structure are not available.")
        return sec
    nums = {}
    for label, v in rd.rollouts.items():
        def per(what):
            arrs = [getattr(c, what) for c in v.clips]
            return None if any(a is None for a in arrs) else arrs
        pq, rq = per("qpos"), per("ref_qpos")
        pk, rk = per("keypoints"), per("ref_keypoints")
        if pq is None or rq is None:
            pq = rq = None
        if pk is None or rk is None:
            pk = rk = None
        if pq is None and pk is None:
            sec["notes"].append(f"{label}: rollout lacks reference qpos/keypoints: tracking "
                                "errors not computed.")
            continue
        k = tracking_errors(pq, rq, pk, rk, rate=v.rate, joint_names=v.joint_names or None,
                            keypoint_names=v.keypoint_names or None,
                            clip_ids=[c.name for c in v.clips],
                            success_threshold_m=cfg.success_threshold_m)
        k.per_clip["holdout"] = [c.holdout for c in v.clips]
        nums[label] = k.to_dict()
        tab = k.per_clip.copy()
        for col in ("kp_rmse_m", "kp_max_m"):
            if col in tab:
                tab[col.replace("_m", " (mm)")] = 1e3 * tab.pop(col)
        for col in ("joint_rmse_rad", "joint_max_rad"):
            if col in tab:
                tab[col.replace("_rad", " (deg)")] = np.degrees(tab.pop(col))
        sec["tables"].append({"caption": f"{label}: per-clip tracking errors "
                                         f"(success: keypoint error <= "
                                         f"{1e3 * cfg.success_threshold_m:g} mm all clip long)",
                              "df": tab})
        _fig(sec, f"tracking_{label}", lambda k=k: F.tracking_figure(k.over_time, k.per_clip),
             f"{label}: tracking error over clip time (mean, 10-90 % band across clips) and "
             "per clip.")
        if label == _main_rollout(rd).label:
            if k.success_rate is not None:
                rep["headline"]["tracking_success_rate"] = k.success_rate
            if "kp_rmse_m" in k.per_clip:
                rep["headline"]["tracking_kp_rmse_mm"] = _mm(float(np.nanmean(
                    k.per_clip["kp_rmse_m"])))
            if "joint_rmse_rad" in k.per_clip:
                rep["headline"]["tracking_joint_rmse_deg"] = float(np.degrees(np.nanmean(
                    k.per_clip["joint_rmse_rad"])))
    if rd.metrics is not None and len(rd.metrics):
        m = rd.metrics
        xcol = next((c for c in ("step", "steps", "env_steps", "num_steps") if c in m), None)
        ycol = next((c for c in ("reward", "eval/episode_reward", "episode_reward", "return",
                                 "mean_reward") if c in m), None)
        if xcol and ycol:
            import matplotlib.pyplot as plt

            def mk():
                with F.style():
                    fig, ax = plt.subplots(figsize=(3.5, 2.4), layout="constrained")
                    ax.plot(m[xcol], m[ycol], color="#0072B2")
                    ax.set_xlabel("environment steps")
                    ax.set_ylabel("episode reward")
                return fig
            _fig(sec, "training", mk, "Training curve (policy/metrics.csv).")
            nums["training"] = {"final_" + ycol: _num(float(m[ycol].iloc[-1])),
                                "steps": _num(float(m[xcol].iloc[-1]))}
    sec["numbers"] = _clean(nums)
    return sec


@dataclass
class _Source:
    """Predictions of one source (a preset's rollout or a peer) on the EMG clips."""
    label: str
    kind: str                      # "ours" | "peer"
    frames: list[pd.DataFrame]     # per clip: (T_c, M) simulated signal
    mapping: dict[str, str]


def _clips_for_alignment(rd: RunData) -> list[tuple[str, np.ndarray]]:
    """(clip name, session times) of the frames to align on."""
    v = _main_rollout(rd)
    if v is not None:
        return [(c.name, c.time) for c in v.clips if c.time is not None and c.n_frames > 1]
    # no rollout: align peers on their own samples, per trial window (or the whole session)
    if rd.peers and rd.session is not None:
        df = next(iter(rd.peers.values()))["prediction"]
        pt = df.index.to_numpy(float)
        tr = rd.session.trials
        if len(tr):
            out = []
            for i, (a, b) in enumerate(zip(tr["start_time"], tr["stop_time"])):
                m = (pt >= a - 1e-9) & (pt <= b + 1e-9)
                if m.sum() > 2:
                    out.append((f"trial{i}", pt[m]))
            return out
        return [("session", pt)]
    return []


def _section_emg(rd: RunData, rep: dict, cfg: ReportConfig, env) -> tuple[dict, dict]:
    sec: dict[str, Any] = {"id": "emg", "title": "EMG alignment", "tables": [], "notes": []}
    extra: dict[str, Any] = {}
    if env is None:
        sec["notes"].append("EMG absent: the session has no EMG recording, so simulated "
                            "activity cannot be aligned with it." if rd.session is not None
                            else "No session: EMG alignment unavailable.")
        return sec, extra
    et, eenv, channels = env
    clips = _clips_for_alignment(rd)
    if not clips:
        sec["notes"].append("No simulated activity (no rollout) and no external prediction "
                            "(peers/): nothing to align with the EMG.")
        return sec, extra
    emg_frames = [pd.DataFrame(_on_times(et, eenv, t, antialias=True), columns=channels)
                  for _, t in clips]
    # rows where the EMG is defined (clip frames outside the recording are dropped)
    rate = float(1.0 / np.median(np.diff(clips[0][1])))
    emap = cfg.emg_map or _body_emg_map(rd)
    sources: list[_Source] = []
    for label, v in rd.rollouts.items():
        by_name = {c.name: c for c in v.clips}
        frames = []
        for name, t in clips:
            c = by_name.get(name)
            sig = None if c is None else c.signal(cfg.signal)
            if sig is None:
                frames = []
                break
            names = v.muscle_names if len(v.muscle_names) == sig.shape[1] else \
                [f"m{i}" for i in range(sig.shape[1])]
            frames.append(pd.DataFrame(np.asarray(sig, float)[: len(t)], columns=names))
        if not frames:
            sec["notes"].append(f"{label}: rollout has no '{cfg.signal}' signal per clip.")
            continue
        cols = list(frames[0].columns)
        mp = {ch: m for ch, m in (emap or {}).items() if ch in channels and m in cols}
        guess = default_mapping(channels, cols)
        for ch in channels:
            if ch not in mp and guess.get(ch):
                mp[ch] = guess[ch]
        sources.append(_Source(label, "ours", frames, {k: v for k, v in mp.items() if v}))
    for label, p in rd.peers.items():
        df = p["prediction"]
        frames = [_df_on_times(df, t) for _, t in clips]
        mp = dict(p.get("emg_map") or {})
        if not mp:
            from .peers import GILMER_EMG_MAP
            mp = {ch: m for ch, m in GILMER_EMG_MAP.items() if m in df.columns} or \
                default_mapping(channels, list(df.columns))
        sources.append(_Source(f"peer: {label}", "peer", frames,
                               {k: v for k, v in mp.items() if k in channels and v in df}))
    if not sources:
        sec["notes"].append("No source of simulated activity to align.")
        return sec, extra
    clip_ids = np.concatenate([np.full(len(t), i) for i, (_, t) in enumerate(clips)])
    E = pd.concat(emg_frames, ignore_index=True)
    results: dict[str, Alignment] = {}
    for src in sources:
        S = pd.concat(src.frames, ignore_index=True)
        ok = np.isfinite(E.to_numpy()).all(1) & np.isfinite(S.to_numpy()).all(1)
        if ok.sum() < 10:
            sec["notes"].append(f"{src.label}: fewer than 10 frames overlap the EMG.")
            continue
        # keep each clip's contiguous valid run so lags stay within clips
        a = align(S[ok].reset_index(drop=True), E[ok].reset_index(drop=True), rate=rate,
                  clips=np.array([clips[i][0] for i in clip_ids[ok]]), mapping=src.mapping,
                  max_lag_s=cfg.max_lag_s, signal=cfg.signal, label=src.label)
        results[src.label] = a
    if not results:
        return sec, extra
    rows = []
    for lbl, a in results.items():
        pm = a.per_muscle.copy()
        pm.insert(0, "source", lbl)
        rows.append(pm)
    table = pd.concat(rows, ignore_index=True)
    show = table[["source", "channel", "muscle", "lag_s", "r", "r_zero_lag", "r2", "vaf"] +
                 [c for c in ("readout_r2", "readout_r") if c in table]].copy()
    show["lag (ms)"] = 1e3 * show.pop("lag_s")
    sec["tables"].append({"caption": f"Alignment of simulated {cfg.signal} with EMG per "
                                     f"channel (lag: EMG leading, searched 0-"
                                     f"{1e3 * cfg.max_lag_s:g} ms; r at that lag; r2 affine; "
                                     "VAF gain-only; read-out: cross-validated ridge from all "
                                     "muscles, clip-wise folds)", "df": show})
    sec["numbers"] = {"alignment": {k: a.to_dict() for k, a in results.items()},
                      "n_clips": len(clips), "rate_hz": rate, "signal": cfg.signal}
    for lbl, a in results.items():
        rep["headline"][f"emg_mean_r[{lbl}]"] = _num(a.mean_r)
    _fig(sec, "alignment_r", lambda: F.alignment_bars_figure(table, "r"),
         "Pearson r between each EMG envelope and its mapped simulated muscle at the best lag, "
         "per source (our presets and peer predictions scored by the same code).")
    if "readout_r2" in table:
        _fig(sec, "alignment_readout", lambda: F.alignment_bars_figure(table, "readout_r2"),
             "Cross-validated ridge read-out R² (all simulated muscles -> each EMG channel; folds "
         "never split a clip).")
    first = next(iter(results.values()))
    _fig(sec, "lag_curves", lambda: F.lag_curves_figure(first.lag_curves, rate),
         f"{first.label}: correlation against lag (EMG leading); star: chosen lag.")
    # traces of the first clip
    c0 = 0
    preds = {s.label: s.frames[c0] for s in sources if s.label in results}
    maps = {s.label: s.mapping for s in sources}
    _fig(sec, "traces", lambda: F.alignment_traces_figure(clips[c0][1] - clips[c0][1][0],
                                                          emg_frames[c0], preds, maps),
         f"Clip {clips[c0][0]}: EMG envelope (thick) and mapped predictions, each scaled to "
         "its maximum (no lag applied).")
    extra = {"results": results, "clips": clips, "emg_frames": emg_frames, "sources": sources,
             "rate": rate}
    return sec, extra


def _section_presets(rd: RunData, rep: dict, cfg: ReportConfig, emg_extra: dict) -> dict:
    sec: dict[str, Any] = {"id": "presets", "title": "Constraint presets compared",
                           "tables": [], "notes": []}
    nums: dict[str, Any] = {}
    results: dict[str, Alignment] = emg_extra.get("results", {})
    kinds = {s.label: s.kind for s in emg_extra.get("sources", [])}
    per_clip = []
    import re
    for lbl, a in results.items():
        if len(a.per_clip):
            pc = a.per_clip.copy()
            # seeds of one preset are averaged per clip (compare_presets averages duplicates)
            pc["preset"] = re.sub(r" \(seed \d+\)$", "", lbl)
            kinds.setdefault(pc["preset"].iloc[0], kinds.get(lbl, "ours"))
            per_clip.append(pc)
    comparisons = []
    if per_clip:
        long = pd.concat(per_clip, ignore_index=True)
        ours = long[long["preset"].map(kinds).fillna("ours") == "ours"]
        if ours["preset"].nunique() >= 1:
            comparisons.append(("EMG alignment r (per clip, mean over channels)", ours, "r",
                                True))
        peers = [p for p in long["preset"].unique() if kinds.get(p) == "peer"]
        if peers and len(ours):
            best_ours = ours.groupby("preset")["r"].mean().idxmax()
            both = long[long["preset"].isin([best_ours] + peers)]
            comparisons.append((f"Ours ({best_ours}) vs peer predictions: EMG alignment r",
                                both, "r", True))
    sw = rd.sweep
    if sw is not None and {"preset", "clip"} <= set(sw.columns):
        for col in sw.columns:
            if col in ("preset", "clip") or not pd.api.types.is_numeric_dtype(sw[col]):
                continue
            low = any(s in col.lower() for s in ("err", "rmse", "loss", "mae", "time"))
            comparisons.append((f"sweep.csv: {col}", sw, col, not low))
    elif sw is not None and "preset" in sw.columns:
        sec["tables"].append({"caption": "Imitation sweep table (one row per preset and seed)",
                              "df": sw.drop(columns=[c for c in ("run_dir",) if c in sw])})
        nums["sweep_table"] = _records(sw)
    elif sw is not None:
        sec["notes"].append(f"sweep table has columns {list(sw.columns)}; 'preset' and "
                            "'clip' are needed for per-clip comparisons.")
    if not comparisons:
        sec["notes"].append("No per-clip metrics from several presets (sweep) in this run: "
                            "nothing to compare.")
        sec["numbers"] = _clean(nums)
        return sec
    for title, table, metric, hib in comparisons:
        try:
            cmp = compare_presets(table, metric, higher_is_better=hib, n_boot=cfg.n_boot,
                                  seed=cfg.seed)
        except Exception as exc:
            sec["notes"].append(f"{title}: comparison failed ({type(exc).__name__}: {exc})")
            continue
        nums[title] = cmp.to_dict()
        sec.setdefault("statements", []).append(f"{title}: {cmp.statement}")
        sec["tables"].append({"caption": f"{title}: per-preset mean and bootstrap 95 % CI",
                              "df": cmp.summary})
        if len(cmp.pairwise):
            sec["tables"].append({"caption": f"{title}: best vs others (paired Wilcoxon, Holm; "
                                             "mean difference and Cohen's d_z, bootstrap 95 % "
                                             "CI)", "df": cmp.pairwise})
        if "table" in cmp.mixed:
            sec["tables"].append({"caption": f"{title}: linear mixed model "
                                             f"{cmp.mixed.get('formula')} (reference: "
                                             f"{cmp.mixed.get('reference')})",
                                  "df": cmp.mixed["table"]})
        if cmp.best and cmp.per_clip[cmp.per_clip.columns[0]].nunique() > 1:
            _fig(sec, f"presets_{metric}", lambda cmp=cmp, metric=metric:
                 F.preset_comparison_figure(cmp.per_clip, metric, summary=cmp.summary),
                 f"{title}: per-clip values (grey lines pair a clip across presets) and means "
                 "with bootstrap 95 % CI.")
        if title.startswith("EMG") and len(cmp.summary) > 1:
            rep["headline"]["best_preset"] = cmp.best
            rep["headline"]["best_preset_significant"] = cmp.significant
        elif title.startswith("Ours"):
            rep["headline"]["best_vs_peer"] = cmp.best
    sec["numbers"] = _clean(nums)
    return sec


def _section_causal(rd: RunData, rep: dict, cfg: ReportConfig, env) -> dict:
    sec: dict[str, Any] = {"id": "causal", "title": "Causal analysis (neuroimit.dynamics)",
                           "tables": [], "notes": []}
    if not cfg.causal:
        sec["notes"].append("Disabled (causal=False).")
        return sec
    from .causal import causal_analysis, causal_variables

    try:
        data, segments, rate, groups = causal_variables(rd, env, cfg)
    except Exception as exc:
        sec["notes"].append(f"Variables could not be assembled: {type(exc).__name__}: {exc}")
        return sec
    if data is None or data.shape[1] < 2:
        sec["notes"].append("Fewer than two variables (need joint angles, simulated "
                            "activations or EMG): causal analysis skipped.")
        return sec
    try:
        res = causal_analysis(data, segments, rate, groups, cfg)
    except ImportError as exc:
        sec["notes"].append(f"neuroimit.dynamics is not available ({exc}).")
        return sec
    except Exception as exc:
        sec["notes"].append(f"Causal analysis failed: {type(exc).__name__}: {exc}")
        sec["notes"].append(traceback.format_exc(limit=3))
        return sec
    sec.update({k: v for k, v in res.items() if k in ("tables", "figures", "notes")
                and v})
    sec["numbers"] = _clean(res.get("numbers", {}))
    return sec


def _section_latent(rd: RunData, rep: dict, cfg: ReportConfig) -> dict:
    sec: dict[str, Any] = {"id": "latent", "title": "Latent structure of the policy",
                           "tables": [], "notes": []}
    v = _main_rollout(rd)
    if v is None or any(c.latent is None for c in v.clips):
        sec["notes"].append("No policy latents in the rollout: latent structure unavailable.")
        return sec
    Z, ph, cl, tg = [], [], [], []
    for i, c in enumerate(v.clips):
        lat = np.asarray(c.latent, float).reshape(c.n_frames, -1)
        path = None
        if c.ref_keypoints is not None:
            names = [n.lower() for n in v.keypoint_names]
            k = next((names.index(n) for n in ("paw", "hand", "wrist") if n in names),
                     c.ref_keypoints.shape[1] - 1)
            path = c.ref_keypoints[:, k, :]
        elif c.ref_qpos is not None:
            path = c.ref_qpos
        elif c.qpos is not None:
            path = c.qpos
        lab = phase_labels(path) if path is not None and len(path) >= 3 else \
            np.zeros(len(lat), int)
        Z.append(lat)
        ph.append(lab)
        cl.append(np.full(len(lat), i))
        if path is not None:
            peak = int(np.argmax(np.linalg.norm(path - path[0], axis=1)))
            tg.append(np.repeat(path[peak][None], len(lat), axis=0))
    Z = np.concatenate(Z)
    ph = np.concatenate(ph)
    cl = np.concatenate(cl)
    target = np.concatenate(tg) if len(tg) == len(v.clips) else None
    ls = latent_structure(Z, phase=ph, target=target, clips=cl, seed=cfg.seed)
    sec["numbers"] = _clean(ls.to_dict())
    dec = ls.decoding
    rows = []
    if "phase" in dec:
        rows.append({"decoded": "reach phase (rest/outward/return)", "score": "balanced accuracy",
                     "value": dec["phase"]["balanced_accuracy"], "chance": dec["phase"]["chance"],
                     "folds": f"{dec['phase']['n_folds']} ({dec['phase']['folds']})"})
        rep["headline"]["latent_phase_accuracy"] = dec["phase"]["balanced_accuracy"]
    if "target" in dec:
        t = dec["target"]
        rows.append({"decoded": "reach target (peak end-effector position)",
                     "score": "R2 (CV)" if t["kind"] == "continuous" else "balanced accuracy",
                     "value": t.get("r2", t.get("balanced_accuracy")),
                     "chance": 0.0 if t["kind"] == "continuous" else t.get("chance"),
                     "folds": f"{t['n_folds']} ({t['folds']})"})
    if rows:
        sec["tables"].append({"caption": "Cross-validated decoding from policy latents "
                                         "(folds never split a clip)",
                              "df": pd.DataFrame(rows)})
    _fig(sec, "latent", lambda: F.latent_figure(ls.projection, ph, cl,
                                                ls.explained_variance_ratio),
         "Policy latents projected on their first two principal components, one trajectory "
         "per clip, coloured by reach phase; variance explained per component.")
    return sec


# ============================================================================ HTML
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0.2em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;
margin-top:2em}table{border-collapse:collapse;margin:0.6em 0 1.2em 0;font-size:0.85em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}caption{caption-side:top;text-align:left;
font-weight:600;padding:4px 0}figure{margin:1em 0}figure img{max-width:100%;height:auto;
border:1px solid #eee}figcaption{font-size:0.85em;color:#555}.note{background:#fff8e1;
border-left:4px solid #f0b400;padding:6px 10px;margin:6px 0}.statement{background:#e8f5e9;
border-left:4px solid #2e7d32;padding:6px 10px;margin:6px 0}.meta{color:#666;font-size:0.9em}
nav a{margin-right:1em}.kv td{text-align:left}
"""


def _fmt_cell(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "&ndash;"
        a = abs(v)
        return f"{v:.3g}" if (a >= 1e4 or (0 < a < 1e-3)) else f"{v:.3f}"
    return _html.escape(str(v))


def _table_html(df: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt_cell(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return (f"<table><caption>{_html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def render_html(rep: dict, sections: list[dict]) -> str:
    """The report as one HTML string (figures inline, no scripts, no external resources)."""
    e = _html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{e(rep['title'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(rep['title'])}</h1>",
             f"<p class='meta'>Run directory: <code>{e(str(rep['run_dir']))}</code> &middot; "
             f"generated {e(rep['generated'])} &middot; neuroimit {e(rep['version'])}</p>",
             "<nav>" + "".join(f"<a href='#{s['id']}'>{e(s['title'])}</a>" for s in sections)
             + "</nav>"]
    if rep["headline"]:
        hl = pd.DataFrame({"quantity": list(rep["headline"]),
                           "value": list(rep["headline"].values())})
        parts.append(_table_html(hl, "Headline numbers"))
    for p in rep["problems"]:
        parts.append(f"<div class='note'>Could not read {e(p)}</div>")
    for s in sections:
        parts.append(f"<section id='{s['id']}'><h2>{e(s['title'])}</h2>")
        for st in s.get("statements", []):
            parts.append(f"<div class='statement'>{e(st)}</div>")
        for n in s.get("notes", []):
            parts.append(f"<div class='note'>{e(n)}</div>")
        if s.get("kv"):
            parts.append("<table class='kv'>" + "".join(
                f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in s["kv"])
                + "</table>")
        for t in s.get("tables", []):
            parts.append(_table_html(t["df"], t["caption"]))
        for f in s.get("figures", []):
            parts.append(f"<figure><img alt='{e(f['key'])}' src='{f['src']}'>"
                         f"<figcaption>{e(f['caption'])}</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ============================================================================ entry points
def collect_report(run_dir, *, session=None, **kwargs) -> tuple[dict, list[dict]]:
    """Compute every section: ``(report_dict, sections)`` (sections hold figures/tables)."""
    from .. import __version__

    cfg = ReportConfig(**kwargs)
    emg_cfg = EMGConfig(**cfg.emg)
    rd = load_run(run_dir, session=session)
    rep: dict[str, Any] = {
        "title": cfg.title or f"neuroimit report: {Path(run_dir).resolve().name}",
        "run_dir": str(Path(run_dir).resolve()),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__, "found": rd.found, "problems": list(rd.problems),
        "config": _clean({k: getattr(cfg, k) for k in cfg.__dataclass_fields__}),
        "headline": {}}
    env = None
    if rd.session is not None and getattr(rd.session, "emg", None) is not None:
        try:
            env = _emg_envelopes(rd.session, emg_cfg)
        except Exception as exc:
            rep["problems"].append(f"EMG processing: {type(exc).__name__}: {exc}")
    timings: dict[str, float] = {}

    def safe(sid: str, title: str, fn, *a):
        # one failing section must not take the others down: it becomes a note
        t0 = _time.perf_counter()
        try:
            return fn(*a)
        except Exception as exc:
            rep["problems"].append(f"section {sid}: {type(exc).__name__}: {exc}")
            return {"id": sid, "title": title, "tables": [], "notes": [
                f"This section failed: {type(exc).__name__}: {exc}"]}
        finally:
            timings[sid] = round(_time.perf_counter() - t0, 3)

    sections = [safe("data", "Data summary", _section_data, rd, rep, env),
                safe("registration", "Registration quality (STAC)", _section_registration,
                     rd, rep),
                safe("tracking", "Tracking quality (imitation)", _section_tracking, rd, rep,
                     cfg)]
    emg_out = safe("emg", "EMG alignment", _section_emg, rd, rep, cfg, env)
    emg_sec, extra = emg_out if isinstance(emg_out, tuple) else (emg_out, {})
    sections += [emg_sec,
                 safe("presets", "Constraint presets compared", _section_presets, rd, rep, cfg,
                      extra),
                 safe("causal", "Causal analysis (neuroimit.dynamics)", _section_causal, rd,
                      rep, cfg, env),
                 safe("latent", "Latent structure of the policy", _section_latent, rd, rep,
                      cfg)]
    rep["sections"] = {}
    for s in sections:
        rep["sections"][s["id"]] = _clean({
            "title": s["title"], "notes": s.get("notes", []),
            "statements": s.get("statements", []),
            "numbers": s.get("numbers", {}),
            "tables": [{"caption": t["caption"], "rows": _records(t["df"])}
                       for t in s.get("tables", [])],
            "figures": [{"key": f["key"], "caption": f["caption"]}
                        for f in s.get("figures", [])],
            "summary": [[str(k), str(v)] for k, v in s.get("kv", [])]})
    rep["headline"] = _clean(rep["headline"])
    rep["timings_s"] = timings
    return rep, sections


def build_report(run_dir, html_path=None, json_path=None, *, session=None, **kwargs
                 ) -> tuple[Path, Path]:
    """Write the run's report: ``(html_path, json_path)``.

    Parameters
    ----------
    run_dir: run directory (layout: docs/report.md). html_path / json_path: outputs (default
        ``RUN_DIR/report.html`` / ``RUN_DIR/report.json``). session: use this Session instead
        of ``RUN_DIR/session.nc``. kwargs: :class:`ReportConfig` fields.

    Both files are written atomically (temporary file, then rename).
    """
    run_dir = Path(run_dir)
    html_path = Path(html_path) if html_path else run_dir / "report.html"
    json_path = Path(json_path) if json_path else html_path.with_suffix(".json")
    rep, sections = collect_report(run_dir, session=session, **kwargs)
    _atomic_write(json_path, json.dumps(rep, indent=1, default=str, allow_nan=False))
    _atomic_write(html_path, render_html(rep, sections))
    return html_path, json_path
