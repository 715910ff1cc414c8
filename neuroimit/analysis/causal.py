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


def _peer_and_emg_parts(rd, env, t: np.ndarray) -> list[pd.DataFrame]:
    """Peer predictions (their EMG-mapped columns) and EMG envelopes on the times ``t``."""
    from .report import _df_on_times, _on_times

    parts = []
    for label, p in rd.peers.items():
        df = _df_on_times(p["prediction"], t)
        mp = p.get("emg_map") or {}
        cols = [c for c in (list(mp.values()) if mp else list(df.columns)) if c in df]
        parts.append(df[cols].add_prefix(f"{label}:"))
    if env is not None:
        et, ee, ch = env
        parts.append(pd.DataFrame(_on_times(et, ee, t, antialias=True),
                                  columns=[f"emg:{x}" for x in ch]))
    return parts


def causal_variables(rd, env, cfg) -> tuple[pd.DataFrame | None, np.ndarray, float, dict]:
    """(data (N, V) z-scored, segments (N,), rate Hz, {name: group}) for the causal section."""
    from .report import _main_rollout, _on_times

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
            sig = c.signal(cfg.signal)
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
        parts += _peer_and_emg_parts(rd, env, t)
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
        parts += _peer_and_emg_parts(rd, env, t)
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


def _choose_E(values: np.ndarray, rho: np.ndarray, tol: float = 0.01) -> int:
    """Smallest E whose simplex skill is within ``tol`` of the best (a parsimonious choice:
    skill usually creeps up with E on smooth signals without a real gain)."""
    rho = np.asarray(rho, float)
    if not np.isfinite(rho).any():
        return int(values[0])
    best = np.nanmax(rho)
    return int(values[int(np.flatnonzero(rho >= best - tol)[0])])


def causal_analysis(data: pd.DataFrame, segments: np.ndarray, rate: float, groups: dict,
                    cfg) -> dict[str, Any]:
    """Run the dynamics steps; returns {"numbers", "tables", "figures", "notes"}."""
    from .report import _fig

    D = _Dyn()
    if not D.has("ccm_matrix"):
        raise ImportError("neuroimit.dynamics.ccm_matrix not found")
    out: dict[str, Any] = {"numbers": {}, "tables": [], "figures": [], "notes": []}
    names = list(data.columns)
    # rows where every variable exists, segment ids kept so no embedding spans two clips
    ok = (segments >= 0) & data.notna().all(axis=1).to_numpy()
    X = data.to_numpy(float)[ok]
    seg = np.asarray(segments)[ok]
    N = int(len(X))
    nums = out["numbers"]
    nums.update(variables=names, groups=groups, n_samples=N, rate_hz=_num(rate),
                n_segments=int(len(np.unique(seg))))
    if N < 30:
        out["notes"].append(f"only {N} usable samples: too few for the causal analysis.")
        return out
    # E <= 6: short clips; and neuroimit.dynamics.ccm_matrix fails for E = 8 (reported)
    Emax = int(max(2, min(6, N // 25)))
    # ---- embedding dimension
    Es: dict[str, int] = {}
    scan_tab = {}
    for j, n in enumerate(names):
        try:
            r = D.embed_dimension(X[:, j], max_E=Emax, Tp=1)
            vals, rho = np.asarray(r.values, int), np.asarray(r.rho, float)
            Es[n] = _choose_E(vals, rho)
            scan_tab[n] = (vals, rho)
        except Exception as exc:
            out["notes"].append(f"embedding dimension of {n}: {type(exc).__name__}: {exc}")
            Es[n] = 3
    nums["embedding_dimension"] = Es
    nums["embedding_rule"] = "smallest E with simplex rho (Tp = 1) within 0.01 of the best"
    if scan_tab:
        nums["embedding_scan"] = {n: {"E": v.tolist(), "rho": [_num(float(x)) for x in r]}
                                  for n, (v, r) in scan_tab.items()}
        _fig(out, "embedding", lambda: F.embedding_figure(scan_tab, Es),
             "Embedding dimension: simplex forecast skill (one step ahead) against E for each "
             "variable; star: the chosen E (smallest within 0.01 of the best).")
    # ---- CCM matrix over library sizes
    Ebig = max(Es.values())
    lmin = max(Ebig + 2, 10)
    lib_sizes = sorted(set(np.linspace(lmin, N, 6).astype(int).tolist()))
    m = D.ccm_matrix(X, E=[Es[n] for n in names], lib_sizes=lib_sizes,
                     samples=cfg.ccm_samples, seed=cfg.seed, segments=seg, names=names)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.asarray(m.mean)            # (C, C, K)
    rho_max = mean[:, :, -1]
    gain = mean[:, :, -1] - mean[:, :, 0]
    nums["ccm"] = {"lib_sizes": [int(x) for x in np.asarray(m.lib_sizes)], "names": names,
                   "E": [Es[n] for n in names], "samples": cfg.ccm_samples,
                   "rho_at_max_library": [[_num(float(x)) for x in r] for r in rho_max],
                   "rho_gain_min_to_max_library": [[_num(float(x)) for x in r] for r in gain]}
    # ---- pairs between groups: surrogate significance and convergence tests
    pairs = [(i, j) for i in range(len(names)) for j in range(len(names))
             if i != j and groups.get(names[i]) != groups.get(names[j])]
    if not pairs:
        pairs = [(i, j) for i in range(len(names)) for j in range(len(names)) if i != j]
    pairs.sort(key=lambda p: -np.nan_to_num(rho_max[p], nan=-1))
    tested = pairs[: 2 * max(1, cfg.causal_max_pairs)]
    pvals = np.full(rho_max.shape, np.nan)
    conv: dict[tuple[int, int], dict] = {}
    done = set()
    for i, j in tested:
        if (min(i, j), max(i, j)) in done:
            continue
        done.add((min(i, j), max(i, j)))
        E = max(Es[names[i]], Es[names[j]])
        try:
            sres = D.ccm_significance(X[:, i], X[:, j], E=E, lib_sizes=[N], samples=1,
                                      seed=cfg.seed, n_surrogates=cfg.ccm_surrogates,
                                      method="ebisuzaki", segments=seg)
            pv = list(sres.p_value.values())     # "x:y" (x=i cross-maps j), then "y:x"
            pvals[i, j], pvals[j, i] = pv[0], pv[1]
        except Exception as exc:
            out["notes"].append(f"surrogates {names[i]} / {names[j]}: "
                                f"{type(exc).__name__}: {exc}")
        try:
            cr = D.ccm(X[:, i], X[:, j], E=E, lib_sizes=lib_sizes, samples=cfg.ccm_samples,
                       seed=cfg.seed, segments=seg)
            ct = D.convergence_test(cr)
            rows_ct = ct.to_dict(orient="records")
            conv[(i, j)], conv[(j, i)] = rows_ct[0], rows_ct[1]
        except Exception as exc:
            out["notes"].append(f"convergence {names[i]} / {names[j]}: "
                                f"{type(exc).__name__}: {exc}")
    sig = np.where(np.isfinite(pvals), pvals < 0.05, False)
    nums["ccm"]["surrogate_p"] = [[_num(float(x)) for x in r] for r in pvals]
    nums["ccm"]["surrogate_method"] = f"Ebisuzaki phase randomisation, {cfg.ccm_surrogates} " \
                                      "surrogates of the candidate driver"
    _fig(out, "ccm_matrix", lambda: F.ccm_matrix_figure(rho_max, names, significant=sig),
         "CCM skill at the largest library: the row variable's embedding cross-maps the column "
         "variable (evidence that the column drives the row). *: beats Ebisuzaki surrogates "
         "(p < 0.05; tested for the strongest pairs between groups).")
    rows = []
    for i, j in pairs:
        c = conv.get((i, j), {})
        rows.append({"driver": names[j], "response": names[i],
                     "rho (response:driver)": rho_max[i, j], "rho gain Lmin->Lmax": gain[i, j],
                     "surrogate p": pvals[i, j],
                     "Kendall tau": c.get("kendall_tau"), "Kendall p": c.get("kendall_p"),
                     "Fisher z p": c.get("fisher_p"),
                     "significant": bool(sig[i, j]),
                     "converges": None if not c else bool(
                         (c.get("kendall_p", 1) < 0.05) or (c.get("fisher_p", 1) < 0.05))})
    tab = pd.DataFrame(rows)
    out["tables"].append({"caption": "CCM between groups (kinematics, simulated or predicted "
                                     "activations, EMG), strongest first. driver -> response: "
                                     "the response's embedding cross-maps the driver; surrogate "
                                     "p and convergence (Kendall tau of rho against library "
                                     "size, Fisher z of rho(Lmax) vs rho(Lmin), one-sided) for "
                                     "the strongest pairs", "df": tab.head(20)})
    nums["ccm"]["pairs"] = _records(tab)
    curves = {f"{names[i]}:{names[j]}": (np.asarray(m.lib_sizes), mean[i, j])
              for i, j in pairs[:4]}
    _fig(out, "ccm_convergence", lambda: F.convergence_figure(curves),
         "CCM convergence: cross-map skill against library size for the strongest pairs.")
    # ---- forecast skill against horizon: linear state-space model (CV) and simplex
    hmax = int(min(10, max(1, N // 3 // 3 - 10)))
    horizons = sorted(set([1, 2, 5, 10]) & set(range(1, hmax + 1))) or [1]
    skill: dict[str, np.ndarray] = {}
    errors = []
    if not cfg.ssm:
        out["notes"].append("state-space forecast skipped (ssm=False).")
    for sd in [min(cfg.ssm_state_dim, X.shape[1])] if cfg.ssm else []:
        try:
            fs = D.forecast_skill(X, horizons=horizons, state_dim=sd, n_folds=3,
                                  num_iters=cfg.ssm_iters, seed=cfg.seed, names=names)
        except Exception as exc:
            errors.append(f"state_dim {sd}: {type(exc).__name__}: {exc}")
            continue
        agg = fs.groupby("horizon")["rho"].mean()
        skill[f"linear SSM (state dim {sd}, 3-fold CV)"] = agg.reindex(horizons).to_numpy()
        per = fs.groupby(["output", "horizon"])["rho"].mean().unstack()
        nums["ssm_forecast_rho"] = {o: {int(h): _num(float(v)) for h, v in r.items()}
                                    for o, r in per.iterrows()}
        nums["ssm_state_dim"] = sd
        break
    if errors and "ssm_state_dim" not in nums:
        out["notes"].append("state-space forecast failed: " + "; ".join(errors))
    for j, n in enumerate(names):
        if groups.get(n) not in ("emg", "joint", "kin") or len(skill) > 4:
            continue
        try:
            r = D.predict_interval(X[:, j], max_Tp=max(horizons), E=Es[n])
            vals = dict(zip(np.asarray(r.values, int).tolist(), np.asarray(r.rho, float)))
            skill[f"simplex {n}"] = np.array([vals.get(h, np.nan) for h in horizons])
        except Exception as exc:
            out["notes"].append(f"simplex forecast of {n}: {type(exc).__name__}: {exc}")
    if skill:
        hz = np.asarray(horizons) / rate
        nums["forecast_skill"] = {"horizons_steps": horizons, "horizons_s": hz.tolist(),
                                  "rho": {k: [_num(float(x)) for x in v]
                                          for k, v in skill.items()}}
        _fig(out, "forecast", lambda: F.forecast_skill_figure(hz, skill),
             "Forecast skill (Pearson rho between forecast and observation) against horizon: "
             "a linear Gaussian state-space model of all variables (EM, cross-validated over "
             "blocks) and simplex projection of single variables.")
    # ---- VAR / Granger beside it
    try:
        g = D.var_granger(X, names=names, max_lags=int(min(5, max(1, N // 40))))
        long = []
        for a in names:
            for b in names:
                if a != b:
                    long.append({"causing": b, "caused": a, "F": g.f_stats.loc[a, b],
                                 "p": g.p_values.loc[a, b],
                                 "significant": bool(g.p_values.loc[a, b] < 0.05)})
        gt = pd.DataFrame(long).sort_values("p").reset_index(drop=True)
        out["tables"].append({"caption": f"VAR / Granger causality (lag {g.lag}, chosen by "
                                         f"{g.criterion}); F test of 'causing' helping to "
                                         "predict 'caused', smallest p first",
                              "df": gt.head(20)})
        nums["granger"] = {"lag": int(g.lag), "criterion": g.criterion, "tests": _records(gt)}
    except Exception as exc:
        out["notes"].append(f"VAR/Granger: {type(exc).__name__}: {exc}")
    return out
