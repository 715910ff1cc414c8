"""Paper-ready matplotlib figures with one colour per muscle and per preset everywhere.

Every function takes plain arrays / DataFrames and returns a ``matplotlib.figure.Figure``
sized for a journal column (3.5 in single, 7 in double) with labelled axes and units.
:func:`to_png_base64` turns a figure into an ``<img>``-ready data URI for the HTML report.

>>> fig = lag_curves_figure({"Biceps": np.linspace(0.2, 0.5, 11)}, rate=200.0)
>>> to_png_base64(fig).startswith("data:image/png;base64,")
True
"""
from __future__ import annotations

import base64
import hashlib
import io
from contextlib import contextmanager
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["STYLE", "style", "muscle_color", "preset_color", "to_png_base64",
           "keypoints_figure", "emg_figure", "residuals_figure", "tracking_figure",
           "alignment_bars_figure", "alignment_traces_figure", "lag_curves_figure",
           "preset_comparison_figure", "ccm_matrix_figure", "convergence_figure",
           "embedding_figure", "forecast_skill_figure", "latent_figure"]

#: rcParams for print: 8-9 pt text, thin spines, no top/right spines, colour-blind safe cycle
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "legend.fontsize": 7, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.7,
    "lines.linewidth": 1.2, "figure.dpi": 150, "savefig.dpi": 150, "savefig.bbox": "tight",
    "axes.prop_cycle": matplotlib.cycler(color=["#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                "#E69F00", "#56B4E9", "#F0E442", "#000000"]),
    "pdf.fonttype": 42, "svg.fonttype": "none",
}

_MUSCLE_FAMILIES = [  # name fragment (normalised) -> colour (Okabe-Ito based families)
    ("bicepslong", "#0072B2"), ("bicepsshort", "#56B4E9"), ("biceps", "#0072B2"),
    ("tricepslong", "#D55E00"), ("trilong", "#D55E00"), ("tricepslat", "#E69F00"),
    ("trilat", "#E69F00"), ("tricepsmed", "#F5C710"), ("triceps", "#D55E00"),
    ("deltoidant", "#009E73"), ("deltoidmed", "#2CA02C"), ("deltoidpost", "#7FBF7B"),
    ("deltoid", "#009E73"), ("pectoralis", "#CC79A7"), ("latissimus", "#7F7F7F"),
    ("brachialis", "#8C564B"), ("brachioradialis", "#A0522D"), ("anconeus", "#BCBD22"),
    ("subscapularis", "#17BECF"), ("infraspinatus", "#9467BD"),
]
_PRESETS = {"none": "#7F7F7F", "baseline": "#7F7F7F", "energy": "#E69F00",
            "control": "#0072B2", "ctrl": "#0072B2", "energy+control": "#009E73",
            "energy+ctrl": "#009E73", "peer": "#000000", "gilmer": "#000000",
            "gilmer2025": "#000000", "emg": "#444444"}
_FALLBACK = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2",
             "#BCBD22", "#17BECF"]


def _norm(s: str) -> str:
    return "".join(c for c in str(s).lower() if c.isalnum() or c == "+")


def _hash_colour(name: str) -> str:
    h = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return _FALLBACK[h % len(_FALLBACK)]


def muscle_color(name: str) -> str:
    """Colour of a muscle or EMG channel; the same family colour for e.g. ``Biceps`` and
    ``biceps_long`` so EMG and simulated traces match across every figure."""
    key = _norm(name).replace("+", "")
    for frag, col in _MUSCLE_FAMILIES:
        if key.startswith(frag) or frag in key:
            return col
    return _hash_colour(key)


def preset_color(name: str) -> str:
    """Colour of a constraint preset (or a peer model) in every figure."""
    import re
    key = _norm(re.sub(r"\s*\(seed \d+\)$", "", str(name)))
    if key in _PRESETS:
        return _PRESETS[key]
    for k in sorted(_PRESETS, key=len, reverse=True):   # "energy+control" before "energy"
        if k in key:
            return _PRESETS[k]
    return _hash_colour(key)


@contextmanager
def style():
    """Context manager applying :data:`STYLE`."""
    with plt.rc_context(STYLE):
        yield


def to_png_base64(fig) -> str:
    """PNG data URI of a figure (the figure is closed)."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w=7.0, h=2.6, ncols=1, nrows=1, **kw):
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def break_gaps(time: np.ndarray, *ys: np.ndarray, factor: float = 5.0):
    """Insert a NaN row where the time step exceeds ``factor`` x the median step, so lines
    are not drawn across gaps between clips. Returns (time, *ys)."""
    t = np.asarray(time, float)
    if t.size < 3:
        return (t, *ys)
    dt = np.diff(t)
    cut = np.flatnonzero(dt > factor * np.median(dt)) + 1
    if cut.size == 0:
        return (t, *ys)
    t2 = np.insert(t, cut, np.nan)
    out = [np.insert(np.asarray(y, float), cut, np.nan, axis=0) for y in ys]
    return (t2, *out)


# ---------------------------------------------------------------------------- data
def keypoints_figure(time: np.ndarray, keypoints: np.ndarray, names: Sequence[str]):
    """Keypoint coordinates (mm) over time, one panel per axis."""
    time, keypoints = break_gaps(time, keypoints)
    with style():
        fig, axes = _fig(7.0, 2.2, ncols=3)
        for a, ax in enumerate(axes[0]):
            for k, n in enumerate(names):
                ax.plot(time, 1e3 * keypoints[:, k, a], label=n)
            ax.set_xlabel("time (s)")
            ax.set_ylabel(f"{'xyz'[a]} (mm)")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def emg_figure(time: np.ndarray, env: np.ndarray, channels: Sequence[str], *,
               title: str = "EMG envelopes"):
    """Normalised EMG envelopes over time, one colour per muscle."""
    time, env = break_gaps(time, env)
    with style():
        fig, axes = _fig(7.0, 2.0)
        ax = axes[0, 0]
        for j, ch in enumerate(channels):
            ax.plot(time, env[:, j], color=muscle_color(ch), label=ch)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("envelope (norm.)")
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------------------- registration
def residuals_figure(time: np.ndarray, residuals: np.ndarray, names: Sequence[str]):
    """Keypoint-to-site residuals (mm): over time and per keypoint (box plot)."""
    time, residuals = break_gaps(time, residuals)
    with style():
        fig, axes = _fig(7.0, 2.4, ncols=2, gridspec_kw={"width_ratios": [2, 1]})
        ax = axes[0, 0]
        for k, n in enumerate(names):
            ax.plot(time, 1e3 * residuals[:, k], lw=0.8, label=n)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("residual (mm)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(6, len(names)))
        ax = axes[0, 1]
        data = [1e3 * r[np.isfinite(r)] for r in residuals.T]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), list(names), rotation=30)
        ax.set_ylabel("residual (mm)")
    return fig


# ---------------------------------------------------------------------------- tracking
def tracking_figure(over_time: pd.DataFrame, per_clip: pd.DataFrame):
    """Tracking error over clip time (mean and 10-90 % band) and per-clip RMSE."""
    with style():
        has_kp = "kp_err_m" in over_time
        fig, axes = _fig(7.0, 2.4, ncols=2)
        ax = axes[0, 0]
        if has_kp:
            ax.plot(over_time.time_s, 1e3 * over_time.kp_err_m, color="#0072B2",
                    label="keypoints (mm)")
            ax.fill_between(over_time.time_s, 1e3 * over_time.kp_err_p10,
                            1e3 * over_time.kp_err_p90, color="#0072B2", alpha=0.2, lw=0)
            ax.set_ylabel("keypoint error (mm)")
        if "joint_err_rad" in over_time:
            tw = ax.twinx() if has_kp else ax
            tw.plot(over_time.time_s, np.degrees(over_time.joint_err_rad), color="#D55E00",
                    label="joints (deg)")
            tw.set_ylabel("joint error (deg)")
            if has_kp:
                tw.spines["right"].set_visible(True)
        ax.set_xlabel("time in clip (s)")
        ax.set_title("error over time")
        ax = axes[0, 1]
        x = np.arange(len(per_clip))
        if "kp_rmse_m" in per_clip:
            cols = ["#009E73" if t else "#D55E00" for t in per_clip.get("tracked",
                                                                        [True] * len(x))]
            ax.bar(x, 1e3 * per_clip.kp_rmse_m, color=cols)
            ax.set_ylabel("keypoint RMSE (mm)")
        else:
            ax.bar(x, np.degrees(per_clip.joint_rmse_rad), color="#D55E00")
            ax.set_ylabel("joint RMSE (deg)")
        ax.set_xticks(x, [str(c) for c in per_clip["clip"]], rotation=90 if len(x) > 10 else 0)
        ax.set_xlabel("clip")
        ax.set_title("per clip (green: tracked)")
    return fig


# ---------------------------------------------------------------------------- alignment
def alignment_bars_figure(table: pd.DataFrame, metric: str = "r", *, source: str = "source"):
    """Grouped bars: per EMG channel, one bar per source (preset / peer)."""
    with style():
        chans = list(dict.fromkeys(table["channel"]))
        srcs = list(dict.fromkeys(table[source]))
        fig, axes = _fig(min(7.0, max(4.5, 2.5 + 0.35 * len(chans) * max(1, len(srcs)))),
                         2.4)
        ax = axes[0, 0]
        w = 0.8 / max(1, len(srcs))
        for i, s in enumerate(srcs):
            sub = table[table[source] == s].set_index("channel")
            vals = [sub[metric].get(c, np.nan) if c in sub.index else np.nan for c in chans]
            ax.bar(np.arange(len(chans)) + (i - (len(srcs) - 1) / 2) * w, vals, w,
                   color=preset_color(s), label=s)
        ax.axhline(0, color="k", lw=0.5)
        if metric.startswith("readout") or metric in ("r2", "vaf"):
            lo = np.nanmin(table[metric].to_numpy(float)) if len(table) else 0.0
            if np.isfinite(lo) and lo < -1.0:   # a failed read-out must not hide the others
                ax.set_ylim(-1.0, 1.0)
                ax.text(0.01, 0.02, "bars below -1 cut at -1 (values in the table)",
                        transform=ax.transAxes, fontsize=6, color="0.3")
        ax.set_xticks(np.arange(len(chans)), chans)
        ax.set_ylabel({"r": "Pearson r", "vaf": "VAF", "r2": "R$^2$",
                       "readout_r2": "read-out R$^2$ (CV)"}.get(metric, metric))
        ax.set_xlabel("EMG channel")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def alignment_traces_figure(time: np.ndarray, emg: pd.DataFrame,
                            preds: Mapping[str, pd.DataFrame],
                            mapping: Mapping[str, Mapping[str, str]]):
    """EMG envelope (thick, muscle colour) with each source's mapped prediction (preset colour),
    each scaled to its own maximum; one panel per channel."""
    with style():
        chans = list(emg.columns)
        fig, axes = _fig(7.0, 1.6 * len(chans) + 0.3, nrows=len(chans), sharex=True)
        for i, ch in enumerate(chans):
            ax = axes[i, 0]
            y = emg[ch].to_numpy()
            ax.plot(time, y / np.nanmax(np.abs(y)) if np.nanmax(np.abs(y)) > 0 else y,
                    color=muscle_color(ch), lw=2.0, label=f"EMG {ch}")
            for src, df in preds.items():
                m = mapping.get(src, {}).get(ch)
                if m is None or m not in df:
                    continue
                x = df[m].to_numpy()
                mx = np.nanmax(np.abs(x))
                ax.plot(time, x / mx if mx > 0 else x, color=preset_color(src), lw=1.0,
                        label=f"{src}: {m}")
            ax.set_ylabel("norm.")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes[-1, 0].set_xlabel("time (s)")
    return fig


def lag_curves_figure(curves: Mapping[str, np.ndarray], rate: float, min_lag_s: float = 0.0):
    """Correlation against lag (ms, EMG leading) per channel; the chosen lag marked."""
    with style():
        fig, axes = _fig(3.5, 2.4)
        ax = axes[0, 0]
        for ch, r in curves.items():
            r = np.asarray(r, float)
            lags = 1e3 * (min_lag_s + np.arange(len(r)) / rate)
            ax.plot(lags, r, color=muscle_color(ch), label=ch, marker="o", ms=2)
            if np.isfinite(r).any():
                k = int(np.nanargmax(r))
                ax.plot(lags[k], r[k], "k*", ms=6)
        ax.set_xlabel("lag, EMG leading (ms)")
        ax.set_ylabel("Pearson r")
        ax.legend(loc="best")
    return fig


def preset_comparison_figure(per_clip: pd.DataFrame, metric: str, *, preset: str = "preset",
                             clip: str = "clip", summary: pd.DataFrame | None = None):
    """Paired per-clip values (grey lines) and preset means with bootstrap 95 % CI."""
    with style():
        presets = list(summary["preset"]) if summary is not None else \
            sorted(per_clip[preset].unique())
        fig, axes = _fig(max(3.0, 1.1 * len(presets) + 1), 2.6)
        ax = axes[0, 0]
        wide = per_clip.pivot(index=clip, columns=preset, values=metric).reindex(columns=presets)
        xs = np.arange(len(presets))
        for _, row in wide.iterrows():
            ax.plot(xs, row.to_numpy(), color="0.75", lw=0.6, zorder=1)
        for i, p in enumerate(presets):
            v = wide[p].dropna()
            ax.scatter(np.full(len(v), i), v, s=8, color=preset_color(p), zorder=2)
            if summary is not None:
                s = summary[summary["preset"] == p].iloc[0]
                ax.errorbar(i + 0.15, s["mean"], yerr=[[s["mean"] - s["ci_low"]],
                                                       [s["ci_high"] - s["mean"]]],
                            fmt="D", color=preset_color(p), ms=5, capsize=3, zorder=3)
        ax.set_xticks(xs, presets, rotation=20)
        ax.set_ylabel(f"{metric} per clip")
        ax.set_xlabel("constraint preset")
    return fig


# ---------------------------------------------------------------------------- dynamics
def ccm_matrix_figure(rho: np.ndarray, names: Sequence[str], *, significant=None,
                      title: str = "CCM skill (row cross-maps column)"):
    """Heatmap of CCM rho; cell (i, j) = how well variable i's embedding predicts j (evidence
    that j drives i). Significant cells starred."""
    rho = np.asarray(rho, float)
    n = len(names)
    with style():
        fig, axes = _fig(min(7.0, 1.5 + 0.45 * n), min(6.5, 1.2 + 0.42 * n))
        ax = axes[0, 0]
        im = ax.imshow(rho, vmin=min(0.0, np.nanmin(rho)) if np.isfinite(rho).any() else 0,
                       vmax=1.0, cmap="viridis")
        ax.set_xticks(range(n), names, rotation=90)
        ax.set_yticks(range(n), names)
        ax.set_xlabel("cross-mapped (putative driver)")
        ax.set_ylabel("library (putative response)")
        if significant is not None:
            sig = np.asarray(significant, bool)
            for i in range(n):
                for j in range(n):
                    if i != j and sig[i, j]:
                        ax.text(j, i, "*", ha="center", va="center", color="w", fontsize=9)
        fig.colorbar(im, ax=ax, label=r"$\rho$ at largest library", shrink=0.8)
        ax.set_title(title)
    return fig


def convergence_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]):
    """CCM rho against library size for selected pairs."""
    with style():
        fig, axes = _fig(3.5, 2.4)
        ax = axes[0, 0]
        for lbl, (L, r) in curves.items():
            ax.plot(L, r, marker="o", ms=2, label=lbl)
        ax.set_xlabel("library size (samples)")
        ax.set_ylabel(r"CCM $\rho$")
        ax.legend(loc="best", fontsize=6)
    return fig


def embedding_figure(table: Mapping[str, tuple[np.ndarray, np.ndarray]], chosen=None):
    """Simplex skill against embedding dimension E per variable; chosen E marked."""
    with style():
        fig, axes = _fig(3.5, 2.4)
        ax = axes[0, 0]
        for name, (E, rho) in table.items():
            line, = ax.plot(E, rho, marker="o", ms=2, label=name)
            if chosen and name in chosen:
                e = chosen[name]
                idx = list(np.asarray(E)).index(e) if e in list(np.asarray(E)) else None
                if idx is not None:
                    ax.plot(e, rho[idx], "*", color=line.get_color(), ms=7)
        ax.set_xlabel("embedding dimension E")
        ax.set_ylabel(r"simplex $\rho$ (Tp = 1)")
        ax.legend(loc="best", fontsize=6)
    return fig


def forecast_skill_figure(horizons_s: np.ndarray, skill: Mapping[str, np.ndarray], *,
                          ylabel: str = r"forecast skill $\rho$"):
    """Forecast skill against horizon (ms), one line per model / variable."""
    with style():
        fig, axes = _fig(3.5, 2.4)
        ax = axes[0, 0]
        for lbl, s in skill.items():
            ax.plot(1e3 * np.asarray(horizons_s), s, marker="o", ms=2, label=lbl)
        ax.set_xlabel("horizon (ms)")
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", fontsize=6)
    return fig


# ---------------------------------------------------------------------------- latents
_PHASE_COLOURS = ["#7F7F7F", "#0072B2", "#D55E00", "#009E73", "#CC79A7"]
PHASE_NAMES = ["rest", "outward", "return"]


def latent_figure(projection: np.ndarray, phase: np.ndarray | None, clips: np.ndarray | None,
                  evr: np.ndarray):
    """PC1-PC2 trajectories per clip, points coloured by reach phase; explained variance."""
    with style():
        fig, axes = _fig(7.0, 2.8, ncols=2, gridspec_kw={"width_ratios": [2, 1]})
        ax = axes[0, 0]
        P = np.asarray(projection)
        if P.shape[1] >= 2:
            ids = np.zeros(len(P)) if clips is None else np.asarray(clips)
            for c in np.unique(ids):
                m = ids == c
                ax.plot(P[m, 0], P[m, 1], color="0.8", lw=0.6, zorder=1)
            if phase is not None:
                ph = np.asarray(phase).astype(int)
                for k in np.unique(ph):
                    m = ph == k
                    ax.scatter(P[m, 0], P[m, 1], s=4, zorder=2,
                               color=_PHASE_COLOURS[k % len(_PHASE_COLOURS)],
                               label=PHASE_NAMES[k] if k < len(PHASE_NAMES) else f"phase {k}")
                ax.legend(loc="best", markerscale=2)
            else:
                ax.scatter(P[:, 0], P[:, 1], s=4)
            ax.set_xlabel("PC1 (a.u.)")
            ax.set_ylabel("PC2 (a.u.)")
        ax = axes[0, 1]
        ax.bar(np.arange(1, len(evr) + 1), 100 * np.asarray(evr), color="#0072B2")
        ax.set_xlabel("principal component")
        ax.set_ylabel("variance explained (%)")
    return fig
