"""The report's causal section: what drives what among joint angles, simulated activations
and EMG, with :mod:`neuroimit.dynamics`.

Variables come from the rollout (per clip, clips kept apart with segment ids so no embedding
vector spans two clips) or, without a rollout, from the registration's joint angles with the
EMG (and any peer prediction) resampled onto its time base. Each variable is z-scored.

Steps: embedding dimension per variable (simplex skill against E); CCM matrix at increasing
library sizes (convergence: rho at the largest vs the smallest library); surrogate
significance of each pair's cross-map skill; forecast skill against horizon (linear
state-space model and simplex); VAR / Granger table beside it.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from . import figures as F
from .alignment import _num, _records, default_mapping

__all__ = ["causal_variables", "causal_analysis"]


def _call(fn, *args, **kwargs):
    """Call ``fn`` with only the keyword arguments it accepts (APIs still settling)."""
    try:
        sig = inspect.signature(fn)
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in sig.parameters}
    except (TypeError, ValueError):
        pass
    return fn(*args, **kwargs)


def _pick(df: pd.DataFrame, k: int) -> list[str]:
    """The k columns with the largest variance (constant columns never)."""
    v = df.var(skipna=True)
    v = v[v > 1e-12].sort_values(ascending=False)
    return list(v.index[:k])


def causal_variables(rd, env, cfg) -> tuple[pd.DataFrame | None, np.ndarray, float, dict]:
    """(data (N, V) z-scored, segments (N,), rate Hz, {name: group}) for the causal section."""
    from .report import _df_on_times, _main_rollout, _on_times

    v = _main_rollout(rd)
    per = max(1, cfg.causal_max_vars // 3)
    frames: list[pd.DataFrame] = []
    seg: list[np.ndarray] = []
    rate = float("nan")
    if v is not None and all(c.qpos is not None for c in v.clips):
        rate = v.rate
        jn = v.joint_names if v.joint_names and len(v.joint_names) == v.clips[0].qpos.shape[1] \
            else [f"q{i}" for i in range(v.clips[0].qpos.shape[1])]
        for i, c in enumerate(v.clips):
            parts = [pd.DataFrame(c.qpos, columns=[f"joint:{n}" for n in jn])]
            sig = c.signals.get(cfg.signal)
            if sig is not None:
                mn = v.muscle_names if len(v.muscle_names) == sig.shape[1] else \
                    [f"m{j}" for j in range(sig.shape[1])]
                parts.append(pd.DataFrame(sig, columns=[f"sim:{m}" for m in mn]))
            if env is not None and c.time is not None:
                et, ee, ch = env
                parts.append(pd.DataFrame(_on_times(et, ee, c.time, antialias=True),
                                          columns=[f"emg:{x}" for x in ch]))
            frames.append(pd.concat(parts, axis=1))
            seg.append(np.full(c.n_frames, i))
    elif rd.registration is not None and getattr(rd.registration, "qpos", None) is not None:
        reg = rd.registration
        q = np.asarray(reg.qpos, float)
        t = getattr(reg, "time", None)
        t = np.arange(len(q)) / 200.0 if t is None else np.asarray(t, float)
        rate = 1.0 / float(np.median(np.diff(t)))
        jn = getattr(reg, "joint_names", None)
        jn = [str(x) for x in np.ravel(jn)] if jn is not None and len(np.ravel(jn)) == \
            q.shape[1] else [f"q{i}" for i in range(q.shape[1])]
        parts = [pd.DataFrame(q, columns=[f"joint:{n}" for n in jn])]
        for label, p in rd.peers.items():
            df = _df_on_times(p["prediction"], t)
            mp = p.get("emg_map") or {}
            cols = list(mp.values()) if mp else list(df.columns)
            cols = [c for c in cols if c in df]
            parts.append(df[cols].add_prefix(f"{label}:"))
        if env is not None:
            et, ee, ch = env
            parts.append(pd.DataFrame(_on_times(et, ee, t, antialias=True),
                                      columns=[f"emg:{x}" for x in ch]))
        frames.append(pd.concat(parts, axis=1))
        dt = np.diff(t)
        seg.append(np.r_[0, np.cumsum(dt > 5 * np.median(dt))])
    elif rd.session is not None and rd.session.n_frames > 10:
        # no joint angles yet: the session's keypoint coordinates stand in for kinematics
        s = rd.session
        t = s.time
        rate = s.rate
        cols = {f"kin:{n}_{'xyz'[a]}": s.keypoints[:, k, a]
                for k, n in enumerate(s.keypoint_names) for a in range(3)}
        parts = [pd.DataFrame(cols)]
        for label, p in rd.peers.items():
            df = _df_on_times(p["prediction"], t)
            mp = p.get("emg_map") or {}
            cols = [c for c in (list(mp.values()) if mp else list(df.columns)) if c in df]
            parts.append(df[cols].add_prefix(f"{label}:"))
        if env is not None:
            et, ee, ch = env
            parts.append(pd.DataFrame(_on_times(et, ee, t, antialias=True),
                                      columns=[f"emg:{x}" for x in ch]))
        frames.append(pd.concat(parts, axis=1))
        # a gap in time (separate reaches) starts a new segment
        dt = np.diff(t)
        seg.append(np.r_[0, np.cumsum(dt > 5 * np.median(dt))])
    if not frames:
        return None, np.zeros(0, int), rate, {}
    data = pd.concat(frames, ignore_index=True)
    segments = np.concatenate(seg)
    groups = {c: c.split(":", 1)[0] for c in data.columns}
    # choose variables: EMG channels, their mapped simulated muscles, the most variable joints
    chosen: list[str] = []
    emg_cols = [c for c in data if groups[c] == "emg"]
    sim_cols = [c for c in data if groups[c] not in ("emg", "joint", "kin")]
    joint_cols = [c for c in data if groups[c] in ("joint", "kin")]
    chosen += _pick(data[emg_cols], per) if emg_cols else []
    if sim_cols:
        mapped = []
        if emg_cols:
            mp = default_mapping([c.split(":", 1)[1] for c in chosen],
                                 [c.split(":", 1)[1] for c in sim_cols])
            names = {c.split(":", 1)[1]: c for c in sim_cols}
            mapped = [names[m] for m in mp.values() if m in names]
        rest = [c for c in _pick(data[sim_cols], len(sim_cols)) if c not in mapped]
        chosen += (mapped + rest)[:per]
    kin = [c for c in joint_cols if groups[c] == "kin"]
    if kin:  # one coordinate per keypoint (its most variable axis): x, y, z are redundant
        best: dict[str, str] = {}
        for c in _pick(data[kin], len(kin)):
            best.setdefault(c.split(":", 1)[1].rsplit("_", 1)[0], c)
        joint_cols = [c for c in joint_cols if groups[c] == "joint"] + list(best.values())
    chosen += _pick(data[joint_cols], cfg.causal_max_vars - len(chosen)) if joint_cols else []
    chosen = chosen[: cfg.causal_max_vars]
    data = data[chosen]
    ok = data.notna().all(axis=1).to_numpy()
    segments = np.where(ok, segments, -1)
    z = (data - data.mean()) / data.std(ddof=0).replace(0, 1)
    return z, segments, rate, {c: groups[c] for c in chosen}


class _Dyn:
    """neuroimit.dynamics' public functions, found in the package or its submodules."""

    _MODULES = ("ccm", "embedding", "simplex", "smap", "scans", "significance", "surrogates",
                "ssm", "granger", "forecast")

    def __init__(self):
        import importlib

        import neuroimit.dynamics as D
        self._mods = [D]
        for m in self._MODULES:
            try:
                self._mods.append(importlib.import_module(f"neuroimit.dynamics.{m}"))
            except ImportError:
                pass

    def has(self, name: str) -> bool:
        return any(hasattr(m, name) for m in self._mods)

    def __getattr__(self, name: str):
        for m in self._mods:
            if hasattr(m, name):
                return getattr(m, name)
        raise AttributeError(f"neuroimit.dynamics has no {name}")


def causal_analysis(data: pd.DataFrame, segments: np.ndarray, rate: float, groups: dict,
                    cfg) -> dict[str, Any]:
    """Run the dynamics steps; returns {"numbers", "tables", "figures", "notes"}."""
    from .report import _fig

    D = _Dyn()
    if not D.has("ccm_matrix"):
        raise ImportError("neuroimit.dynamics.ccm_matrix not found")

    out: dict[str, Any] = {"numbers": {}, "tables": [], "figures": [], "notes": []}
    names = list(data.columns)
    X = data.to_numpy(float)
    N = int((segments >= 0).sum())
    out["numbers"]["variables"] = names
    out["numbers"]["n_samples"] = N
    out["numbers"]["rate_hz"] = _num(rate)
    out["numbers"]["n_segments"] = int(len(np.unique(segments[segments >= 0])))
    Emax = int(max(2, min(8, N // 20)))
    Es: dict[str, int] = {}
    # ---- embedding dimension
    scan_tab = {}
    if D.has("embed_dimension"):
        for j, n in enumerate(names):
            try:
                r = _call(D.embed_dimension, X[:, j], E_max=Emax, max_E=Emax,
                          E=list(range(1, Emax + 1)), Es=list(range(1, Emax + 1)), Tp=1,
                          segments=segments, exclusion_radius=0)
                vals = np.asarray(getattr(r, "values"), int)
                rho = np.asarray(getattr(r, "rho"), float)
                best = getattr(r, "best", None)
                Es[n] = int(best if best is not None else vals[int(np.nanargmax(rho))])
                scan_tab[n] = (vals, rho)
            except Exception as exc:
                out["notes"].append(f"embedding dimension of {n}: {type(exc).__name__}: {exc}")
    else:
        out["notes"].append("neuroimit.dynamics.embed_dimension is not available: E = 3 used.")
    for n in names:
        Es.setdefault(n, 3)
    out["numbers"]["embedding_dimension"] = Es
    if scan_tab:
        out["numbers"]["embedding_scan"] = {n: {"E": v.tolist(), "rho": [_num(x) for x in r]}
                                            for n, (v, r) in scan_tab.items()}
        _fig(out, "embedding", lambda: F.embedding_figure(scan_tab, Es),
             "Embedding dimension: simplex forecast skill (one step ahead) against E for each "
             "variable; star: chosen E.")
    # ---- CCM matrix with convergence
    Ebig = max(Es.values())
    lmin = max(Ebig + 2, 10)
    lmax = N
    if lmax <= lmin:
        out["notes"].append(f"only {N} usable samples: too few for CCM.")
        return out
    lib_sizes = sorted(set(np.linspace(lmin, lmax, 6).astype(int).tolist()))
    m = _call(D.ccm_matrix, data, E=[Es[n] for n in names], lib_sizes=lib_sizes,
              samples=cfg.ccm_samples, seed=cfg.seed, segments=segments, names=names,
              exclusion_radius=0)
    mean = np.asarray(m.mean)            # (C, C, K)
    rho_max = mean[:, :, -1]
    conv = mean[:, :, -1] - mean[:, :, 0]
    out["numbers"]["ccm"] = {"lib_sizes": [int(x) for x in np.asarray(m.lib_sizes)],
                             "rho_at_max_library": [[_num(float(x)) for x in r] for r in rho_max],
                             "rho_gain_min_to_max_library": [[_num(float(x)) for x in r]
                                                             for r in conv],
                             "names": names, "E": [Es[n] for n in names],
                             "samples": cfg.ccm_samples}
    sig = None
    # ---- surrogate significance
    if D.has("ccm_significance"):
        try:
            sig_res = _call(D.ccm_significance, data, E=[Es[n] for n in names],
                            n_surrogates=cfg.ccm_surrogates, surrogates=cfg.ccm_surrogates,
                            seed=cfg.seed, segments=segments, names=names,
                            lib_size=lmax, matrix=m)
            p = getattr(sig_res, "p", None)
            if p is None and isinstance(sig_res, dict):
                p = sig_res.get("p")
            if p is not None:
                p = np.asarray(p, float)
                sig = p < 0.05
                out["numbers"]["ccm"]["surrogate_p"] = [[_num(float(x)) for x in r] for r in p]
        except Exception as exc:
            out["notes"].append(f"CCM surrogate significance: {type(exc).__name__}: {exc}")
    else:
        out["notes"].append("neuroimit.dynamics.ccm_significance is not available: no "
                            "surrogate test.")
    _fig(out, "ccm_matrix", lambda: F.ccm_matrix_figure(rho_max, names, significant=sig),
         "CCM skill at the largest library: row variable's embedding cross-maps the column "
         "variable (evidence that the column drives the row). *: beats surrogates (p < 0.05).")
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            rows.append({"driver": b, "response": a, "rho(response:driver)": rho_max[i, j],
                         "rho gain (Lmin->Lmax)": conv[i, j],
                         "converges": bool(conv[i, j] > 0.05),
                         **({"surrogate p": float(p[i, j])} if sig is not None else {})})
    tab = pd.DataFrame(rows).sort_values("rho(response:driver)", ascending=False)
    tab["across groups"] = [groups.get(a) != groups.get(b) for a, b in
                            zip(tab["driver"], tab["response"])]
    across = tab[tab["across groups"]] if tab["across groups"].any() else tab
    out["tables"].append({"caption": "CCM between groups (kinematics, simulated or predicted "
                                     "activations, EMG), strongest first; driver -> response: "
                                     "the response's embedding cross-maps the driver",
                          "df": across.drop(columns="across groups").head(20)
                          .reset_index(drop=True)})
    out["numbers"]["ccm"]["pairs"] = _records(tab)
    top = across.head(4)
    curves = {}
    for _, r in top.iterrows():
        i, j = names.index(r["response"]), names.index(r["driver"])
        curves[f"{r['response']}:{r['driver']}"] = (np.asarray(m.lib_sizes), mean[i, j])
    _fig(out, "ccm_convergence", lambda: F.convergence_figure(curves),
         "CCM convergence: cross-map skill against library size for the strongest pairs.")
    # ---- forecast skill against horizon
    horizons = list(range(1, min(10, max(2, N // 20)) + 1))
    skill: dict[str, list] = {}
    if D.has("LinearSSMForecaster"):
        try:
            fc = _call(D.LinearSSMForecaster, state_dim=min(4, X.shape[1]), seed=cfg.seed)
            fc = _call(fc.fit, X, segments=segments) or fc
            sk = _call(fc.skill, X, horizons=horizons, segments=segments)
            arr = np.asarray(getattr(sk, "rho", sk), float)
            if arr.ndim == 2:
                arr = np.nanmean(arr, axis=1)
            skill["linear SSM (all variables)"] = arr.tolist()
        except Exception as exc:
            out["notes"].append(f"state-space forecast: {type(exc).__name__}: {exc}")
    else:
        out["notes"].append("neuroimit.dynamics.LinearSSMForecaster is not available.")
    if D.has("predict_interval"):
        for j, n in enumerate(names[:4]):
            try:
                r = _call(D.predict_interval, X[:, j], E=Es[n], Tp=horizons,
                          Tps=horizons, segments=segments)
                skill[f"simplex {n}"] = np.asarray(r.rho, float).tolist()
            except Exception as exc:
                out["notes"].append(f"simplex forecast of {n}: {type(exc).__name__}: {exc}")
    if skill:
        hz = np.asarray(horizons) / rate
        out["numbers"]["forecast_skill"] = {"horizons_s": hz.tolist(),
                                            "rho": {k: [_num(float(x)) for x in v]
                                                    for k, v in skill.items()}}
        _fig(out, "forecast", lambda: F.forecast_skill_figure(hz, {k: np.asarray(v) for k, v
                                                                   in skill.items()}),
             "Forecast skill (Pearson rho of prediction and observation) against horizon.")
    # ---- VAR / Granger
    if D.has("var_granger"):
        try:
            g = _call(D.var_granger, data, segments=segments, maxlag=min(5, N // 20),
                      max_lag=min(5, N // 20), names=names)
            gt = g if isinstance(g, pd.DataFrame) else getattr(g, "table", None)
            if gt is None and hasattr(g, "to_pandas"):
                gt = g.to_pandas()
            if isinstance(gt, pd.DataFrame):
                out["tables"].append({"caption": "VAR / Granger causality (driver -> "
                                                 "response)", "df": gt.reset_index(drop=True)
                                      if "driver" in gt else gt.reset_index()})
                out["numbers"]["granger"] = _records(gt.reset_index())
        except Exception as exc:
            out["notes"].append(f"VAR/Granger: {type(exc).__name__}: {exc}")
    else:
        out["notes"].append("neuroimit.dynamics.var_granger is not available.")
    return out
