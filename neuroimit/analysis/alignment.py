"""Alignment of simulated muscle activity with EMG envelopes, per muscle.

Both inputs are on one time base (rows), optionally split into clips (reaches). For every EMG
channel this module finds the lag at which the simulated signal best matches it (EMG leading
the simulation by 0-50 ms: electromechanical delay, Cavanagh & Komi 1979), and reports
Pearson r, R^2 (affine fit), VAF (gain-only fit, uncentred: 1 - ||y - g x||^2 / ||y||^2,
the EMG-synergy convention) and a cross-validated ridge read-out from *all* simulated
muscles to the channel, with folds that never split a clip, so models with different muscle
sets are compared on the same footing.

The functions take plain arrays / DataFrames, so any prediction can be scored by the same code:
our rollouts' activations and external predictions (e.g. the OpenSim activations of
Gilmer et al. 2025 read by :mod:`neuroimit.analysis.peers`).

>>> import numpy as np, pandas as pd
>>> t = np.arange(400) / 200.0
>>> drive = np.clip(np.sin(2 * np.pi * 1.5 * t), 0, None)
>>> emg = pd.DataFrame({"Biceps": drive})
>>> sim = pd.DataFrame({"biceps_long": np.roll(drive, 4)})   # simulation lags by 20 ms
>>> res = align(sim, emg, rate=200.0, mapping={"Biceps": "biceps_long"})
>>> float(res.per_muscle.loc[0, "lag_s"])
0.02
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..dynamics.results import pearson  # Pearson r over finite pairs
from ..errors import ConfigError, DataError

__all__ = ["Alignment", "align", "best_lag", "pearson", "r2_affine", "vaf", "ridge_readout",
           "shift_pairs", "as_frame", "default_mapping"]


# ---------------------------------------------------------------------------- inputs
def as_frame(x: Any, names: Sequence[str] | None = None, what: str = "signal") -> pd.DataFrame:
    """DataFrame (rows = time, columns = named signals) from a DataFrame, dict, xarray or array."""
    if isinstance(x, pd.DataFrame):
        df = x.copy()
    elif isinstance(x, Mapping):
        df = pd.DataFrame({str(k): np.asarray(v, dtype=float).ravel() for k, v in x.items()})
    elif hasattr(x, "dims") and hasattr(x, "values") and hasattr(x, "coords"):
        arr = np.asarray(x.values, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        cols = names or [str(c) for c in x.coords[x.dims[-1]].values] if x.ndim == 2 else names
        df = pd.DataFrame(arr, columns=cols)
    else:
        arr = np.asarray(x, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise DataError(f"{what} has shape {arr.shape}", field=what,
                            expected="(time, channel)")
        cols = list(names) if names is not None else [f"{what}{i}" for i in range(arr.shape[1])]
        if len(cols) != arr.shape[1]:
            raise DataError(f"{len(cols)} names for {arr.shape[1]} columns", field=what)
        df = pd.DataFrame(arr, columns=cols)
    df.columns = [str(c) for c in df.columns]
    return df.astype(float).reset_index(drop=True)


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


#: EMG channel name -> fragments that identify the corresponding simulated muscle
_CHANNEL_HINTS = {
    "biceps": ("bicepslong", "bicepslonghead", "biceps"),
    "trilong": ("tricepslong", "tricepslonghead"),
    "trilat": ("tricepslateral", "tricepslat", "tricepslathead"),
    "trimed": ("tricepsmedial",),
    "deltoid": ("deltoidanterior", "deltoidmedial", "deltoid"),
    "pectoralis": ("pectoralisclavicular", "pectoralisclavicle", "pectoralis"),
    "brachialis": ("brachialis",),
    "latissimus": ("latissimus",),
}


def default_mapping(channels: Sequence[str], muscles: Sequence[str]) -> dict[str, str]:
    """Guess EMG channel -> simulated muscle by name (exact, then known fragments).

    >>> default_mapping(["Biceps", "TriLat"], ["triceps_lateral", "biceps_long"])
    {'Biceps': 'biceps_long', 'TriLat': 'triceps_lateral'}
    """
    out = {}
    nm = {_norm(m): m for m in muscles}
    for ch in channels:
        key = _norm(ch)
        if key in nm:
            out[ch] = nm[key]
            continue
        for frag in _CHANNEL_HINTS.get(key, (key,)):
            hit = [m for k, m in nm.items() if k.startswith(frag)] or \
                  [m for k, m in nm.items() if frag in k]
            if hit:
                out[ch] = sorted(hit, key=len)[0]
                break
    return out


# ---------------------------------------------------------------------------- metrics
def r2_affine(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares affine fit y ~ a + b x (= r^2 in sample)."""
    r = pearson(x, y)
    return float(r * r) if np.isfinite(r) else float("nan")


def vaf(x: np.ndarray, y: np.ndarray) -> float:
    """Variance accounted for, uncentred, after a least-squares non-negative gain on x.

    ``1 - ||y - g x||^2 / ||y||^2`` with ``g = max(0, <x, y> / <x, x>)``; 1 is a perfect
    match up to scale; 0 when x cannot explain y at all.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    yy = (y * y).sum()
    xx = (x * x).sum()
    if yy <= 0 or ok.sum() < 3:
        return float("nan")
    g = max(0.0, float((x * y).sum() / xx)) if xx > 0 else 0.0
    return float(1.0 - ((y - g * x) ** 2).sum() / yy)


def _clip_slices(clips) -> list[np.ndarray]:
    """Row indices of each clip, in order of first appearance (a list passes through)."""
    if isinstance(clips, list):
        return clips
    clips = np.asarray(clips)
    uniq, first, inv = np.unique(clips, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rows = np.argsort(inv, kind="stable")
    bounds = np.cumsum(np.bincount(inv.ravel(), minlength=len(uniq)))
    groups = np.split(rows, bounds[:-1])
    return [groups[i] for i in order]


def shift_pairs(sim: np.ndarray, emg: np.ndarray, lag: int, clips: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (sim[t + lag], emg[t]) within each clip: EMG leading by ``lag`` samples.

    sim, emg: (T,) or (T, C). Returns the shifted arrays concatenated over clips.
    """
    n = len(emg)
    idx = [np.arange(n)] if clips is None else _clip_slices(clips)
    xs, ys = [], []
    for rows in idx:
        if lag >= len(rows):
            continue
        xs.append(sim[rows[lag:]])
        ys.append(emg[rows[: len(rows) - lag]])
    if not xs:
        return sim[:0], emg[:0]
    return np.concatenate(xs), np.concatenate(ys)


def best_lag(sim: np.ndarray, emg: np.ndarray, rate: float, *, max_lag_s: float = 0.05,
             min_lag_s: float = 0.0, clips: np.ndarray | None = None
             ) -> tuple[int, float, np.ndarray]:
    """Lag (samples) in [min_lag, max_lag] at which sim (delayed) best correlates with emg.

    A positive lag k means EMG leads: emg[t] is paired with sim[t + k]. Returns
    ``(k, r_at_k, r_by_lag)`` with ``r_by_lag`` over ``k = kmin..kmax``.

    >>> x = np.sin(np.arange(300) / 7.0)
    >>> best_lag(np.roll(x, 3), x, 100.0)[0]
    3
    """
    if rate <= 0:
        raise ConfigError(f"rate {rate}", field="rate", expected="a positive rate (Hz)")
    if not (0 <= min_lag_s <= max_lag_s):
        raise ConfigError(f"lag window {min_lag_s}-{max_lag_s} s", field="max_lag_s",
                          expected="0 <= min_lag_s <= max_lag_s")
    kmin = int(round(min_lag_s * rate))
    kmax = int(round(max_lag_s * rate))
    clips = None if clips is None else _clip_slices(clips)
    rs = np.array([pearson(*shift_pairs(sim, emg, k, clips)) for k in range(kmin, kmax + 1)])
    if np.all(~np.isfinite(rs)):
        return kmin, float("nan"), rs
    k = int(np.nanargmax(rs))
    return kmin + k, float(rs[k]), rs


# ---------------------------------------------------------------------------- read-out
def _ridge_loo_fit_predict(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray,
                           alphas: Sequence[float]) -> np.ndarray:
    """Standardised ridge with the penalty chosen by exact leave-one-out error on the
    training rows (closed form through the eigendecomposition of X'X, what scikit-learn's
    ``RidgeCV`` does by default, at a fraction of its cost for many folds and channels)."""
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (Xtr - mu) / sd
    ym = ytr.mean()
    yc = ytr - ym
    s, V = np.linalg.eigh(Z.T @ Z)
    s = np.clip(s, 0.0, None)
    P = Z @ V                                   # (n, p) projections
    b = V.T @ (Z.T @ yc)                        # (p,)
    best, best_err = None, np.inf
    n = len(ytr)
    P2 = P * P
    for a in alphas:
        w = 1.0 / (s + a)
        fit = P @ (w * b)
        h = P2 @ w + 1.0 / n               # leverage (+ the intercept's 1/n)
        err = np.mean(((yc - fit) / np.clip(1.0 - h, 1e-12, None)) ** 2)
        if err < best_err:
            best, best_err = a, err
    coef = V @ (b / (s + best))
    return ((Xte - mu) / sd) @ coef + ym


def ridge_readout(X: np.ndarray, y: np.ndarray, clips: np.ndarray | None = None, *,
                  alphas: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4),
                  n_folds: int = 5) -> dict[str, Any]:
    """Cross-validated ridge read-out y ~ X (scikit-learn), folds never splitting a clip.

    With >= 2 clips: grouped K-fold (min(n_folds, n_clips) folds, leave-one-clip-out when
    few); with one clip: contiguous blocks. The ridge penalty is chosen inside each training
    fold (``RidgeCV``), so the held-out score is honest. Returns ``{"r2", "r", "n_folds",
    "folds": "clip" | "block", "prediction"}`` (out-of-fold predictions, NaN where not scored).
    """
    from sklearn.model_selection import GroupKFold, KFold

    X = np.asarray(X, float)
    y = np.asarray(y, float)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    pred = np.full(y.shape, np.nan)
    Xo, yo = X[ok], y[ok]
    groups = None if clips is None else np.asarray(clips)[ok]
    n_groups = 0 if groups is None else len(np.unique(groups))
    if n_groups >= 2:
        k = min(n_folds, n_groups)
        splits = GroupKFold(n_splits=k).split(Xo, yo, groups)
        how = "clip"
    else:
        k = min(n_folds, max(2, len(yo) // 10))
        splits = KFold(n_splits=k, shuffle=False).split(Xo)
        how = "block"
    if len(yo) < 10:
        return {"r2": float("nan"), "r": float("nan"), "n_folds": 0, "folds": how,
                "prediction": pred}
    out = np.full(yo.shape, np.nan)
    for tr, te in splits:
        out[te] = _ridge_loo_fit_predict(Xo[tr], yo[tr], Xo[te], alphas)
    pred[ok] = out
    sse = float(((yo - out) ** 2).sum())
    sst = float(((yo - yo.mean()) ** 2).sum())
    return {"r2": 1.0 - sse / sst if sst > 0 else float("nan"), "r": pearson(out, yo),
            "n_folds": int(k), "folds": how, "prediction": pred}


# ---------------------------------------------------------------------------- alignment
@dataclass
class Alignment:
    """Result of :func:`align`.

    per_muscle: one row per EMG channel: channel, muscle, lag_samples, lag_s, r, r_zero_lag,
        r2, vaf, readout_r2, readout_r, n.
    per_clip: one row per (clip, channel) at the channel's lag: clip, channel, muscle, r, r2, vaf.
    lag_curves: channel -> r for lags min..max samples (for plots).
    """

    per_muscle: pd.DataFrame
    per_clip: pd.DataFrame
    lag_curves: dict[str, np.ndarray] = field(default_factory=dict)
    rate: float = float("nan")
    lag_window_s: tuple[float, float] = (0.0, 0.05)
    signal: str = "activation"
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (NaN -> None)."""
        return {"label": self.label, "signal": self.signal, "rate_hz": self.rate,
                "lag_window_s": list(self.lag_window_s),
                "per_muscle": _records(self.per_muscle), "per_clip": _records(self.per_clip),
                "lag_curves": {k: [_num(v) for v in vals] for k, vals in self.lag_curves.items()}}

    @property
    def mean_r(self) -> float:
        return float(np.nanmean(self.per_muscle["r"])) if len(self.per_muscle) else float("nan")


def _num(v):
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: _num(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def align(sim: Any, emg: Any, *, rate: float, clips: np.ndarray | None = None,
          mapping: Mapping[str, str] | None = None, sim_names: Sequence[str] | None = None,
          emg_names: Sequence[str] | None = None, max_lag_s: float = 0.05,
          min_lag_s: float = 0.0, readout: bool = True, signal: str = "activation",
          label: str = "") -> Alignment:
    """Score simulated muscle activity against EMG envelopes, per EMG channel.

    Parameters
    ----------
    sim: (T, M) simulated excitation/activation/force (DataFrame / dict / array + sim_names);
        or an external prediction (e.g. OpenSim activations) on the same time base.
    emg: (T, C) processed EMG envelopes on the same rows (see :func:`process_emg`).
    rate: rows per second (Hz) of the common time base (lags are searched in whole samples).
    clips: (T,) clip id per row: lags never cross clip boundaries and the read-out folds are
        clip-wise. mapping: EMG channel -> simulated muscle (guessed by name when None);
        channels with no mapped muscle get read-out scores only.
    max_lag_s, min_lag_s: physiological window in which EMG leads (default 0-50 ms).
    readout: also fit the cross-validated ridge read-out (all simulated muscles -> channel),
        using the channel's lag (0 when it has no mapped muscle).

    >>> rng = np.random.default_rng(0)
    >>> e = np.abs(rng.standard_normal((200, 1))).cumsum(0) % 3
    >>> a = align(e, e, rate=100.0, mapping={"emg0": "sim0"}, readout=False)
    >>> round(float(a.per_muscle.r[0]), 6)
    1.0
    """
    S = as_frame(sim, sim_names, "sim")
    E = as_frame(emg, emg_names, "emg")
    if len(S) != len(E):
        raise DataError(f"simulated activity has {len(S)} samples but EMG has {len(E)}",
                        field="sim/emg", expected="both on the same time base (resample EMG "
                                                  "with process_emg(..., time=...))")
    if clips is not None:
        clips = np.asarray(clips)
        if clips.shape != (len(E),):
            raise DataError(f"clips has shape {clips.shape}", field="clips",
                            expected=f"({len(E)},) one clip id per row")
    mapping = dict(mapping) if mapping is not None else default_mapping(E.columns, S.columns)
    unknown = [m for m in mapping.values() if m not in S.columns]
    if unknown:
        raise DataError(f"mapped muscles {unknown} are not among the simulated signals",
                        field="mapping", expected=f"names from {list(S.columns)}")
    rows, clip_rows, curves = [], [], {}
    Xall = S.to_numpy()
    slices = None if clips is None else _clip_slices(clips)
    for ch in E.columns:
        y = E[ch].to_numpy()
        mus = mapping.get(ch)
        row: dict[str, Any] = {"channel": ch, "muscle": mus, "n": int(np.isfinite(y).sum())}
        lag = 0
        if mus is not None:
            x = S[mus].to_numpy()
            lag, r, curve = best_lag(x, y, rate, max_lag_s=max_lag_s, min_lag_s=min_lag_s,
                                     clips=slices)
            curves[ch] = curve
            xs, ys = shift_pairs(x, y, lag, slices)
            row.update(lag_samples=lag, lag_s=lag / rate, r=r,
                       r_zero_lag=pearson(*shift_pairs(x, y, 0, slices)),
                       r2=r2_affine(xs, ys), vaf=vaf(xs, ys))
            if clips is not None:
                for rws in slices:
                    cx, cy = shift_pairs(x[rws], y[rws], lag)
                    clip_rows.append({"clip": clips[rws[0]], "channel": ch, "muscle": mus,
                                      "r": pearson(cx, cy), "r2": r2_affine(cx, cy),
                                      "vaf": vaf(cx, cy)})
            else:
                clip_rows.append({"clip": 0, "channel": ch, "muscle": mus, "r": r,
                                  "r2": row["r2"], "vaf": row["vaf"]})
        else:
            row.update(lag_samples=np.nan, lag_s=np.nan, r=np.nan, r_zero_lag=np.nan,
                       r2=np.nan, vaf=np.nan)
        if readout:
            Xs, ys = shift_pairs(Xall, y, lag, slices)
            cs = None if clips is None else shift_pairs(clips, clips, lag, slices)[1]
            ro = ridge_readout(Xs, ys, cs)
            row.update(readout_r2=ro["r2"], readout_r=ro["r"], readout_folds=ro["folds"])
        rows.append(row)
    cols = ["channel", "muscle", "lag_samples", "lag_s", "r", "r_zero_lag", "r2", "vaf", "n"]
    per = pd.DataFrame(rows)
    per = per[[c for c in cols if c in per] + [c for c in per if c not in cols]]
    per_clip = pd.DataFrame(clip_rows, columns=["clip", "channel", "muscle", "r", "r2", "vaf"])
    return Alignment(per, per_clip, curves, float(rate), (min_lag_s, max_lag_s), signal, label)
