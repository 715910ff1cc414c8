"""Comparison of constraint presets (imitation sweep) on per-clip metrics.

Input: a long table, one row per (preset, clip[, channel]) with a metric column (e.g. the
alignment r of simulated activations with EMG). Rows of several channels are averaged per
(preset, clip) first, so each clip contributes one paired value per preset.

The best preset is the one with the highest (or lowest, ``higher_is_better=False``) mean over
clips. It is compared with every other preset by a paired Wilcoxon signed-rank test (Holm
adjusted), the mean paired difference and Cohen's d_z with bootstrap CIs; a linear mixed
model with clip as a random intercept tests all presets at once against the best one.

>>> import pandas as pd
>>> rng = np.random.default_rng(0)
>>> rows = [{"preset": p, "clip": c, "r": 0.3 + 0.2 * (p == "energy+control") + 0.05 * c
...          + 0.02 * rng.standard_normal()} for p in ("none", "energy+control")
...         for c in range(8)]
>>> cmp = compare_presets(pd.DataFrame(rows), metric="r", seed=0)
>>> cmp.best, cmp.significant
('energy+control', True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .alignment import _records, _num
from .stats import holm, mixed_effects, paired_effect, paired_wilcoxon

__all__ = ["PresetComparison", "compare_presets"]


@dataclass
class PresetComparison:
    """Result of :func:`compare_presets`.

    summary: per preset: mean, sd, n, ci_low, ci_high (bootstrap CI of the mean).
    pairwise: best vs each other preset: wilcoxon statistic, p, p_holm, mean_diff (+CI),
        dz (+CI), n.
    mixed: output of :func:`~neuroimit.analysis.stats.mixed_effects` (reference = best).
    best, significant, statement: the answer in words.
    """

    metric: str
    summary: pd.DataFrame
    pairwise: pd.DataFrame
    mixed: dict[str, Any]
    best: str | None
    significant: bool
    statement: str
    alpha: float = 0.05
    per_clip: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        mixed = {k: (_records(v) if isinstance(v, pd.DataFrame) else _num(v) if not
                     isinstance(v, list) else v) for k, v in self.mixed.items()}
        return {"metric": self.metric, "best": self.best, "significant": self.significant,
                "alpha": self.alpha, "statement": self.statement,
                "summary": _records(self.summary), "pairwise": _records(self.pairwise),
                "mixed_effects": mixed, "per_clip": _records(self.per_clip)}


def compare_presets(table: pd.DataFrame, metric: str = "r", *, preset: str = "preset",
                    clip: str = "clip", higher_is_better: bool = True, alpha: float = 0.05,
                    n_boot: int = 2000, seed: int = 0) -> PresetComparison:
    """Which preset scores best on ``metric`` across clips, and is it significant?

    Parameters
    ----------
    table: long DataFrame with columns ``preset``, ``clip``, ``metric`` (extra columns, e.g.
        channel, are averaged over).
    higher_is_better: direction of the metric (False for errors).
    alpha: significance level applied to Holm-adjusted Wilcoxon p-values and the mixed model.
    """
    for col in (preset, clip, metric):
        if col not in table.columns:
            raise DataError(f"comparison table lacks column {col!r}", field=col,
                            expected=f"columns {preset!r}, {clip!r}, {metric!r}")
    d = (table[[preset, clip, metric]].dropna()
         .groupby([preset, clip], as_index=False)[metric].mean())
    d[preset] = d[preset].astype(str)
    wide = d.pivot(index=clip, columns=preset, values=metric)
    presets = list(wide.columns)
    rng_seed = seed
    summ = []
    for p in presets:
        v = wide[p].dropna().to_numpy()
        from .stats import bootstrap_ci
        lo, hi = bootstrap_ci(v, np.mean, n_boot=n_boot, seed=rng_seed)
        summ.append({"preset": p, "mean": float(v.mean()) if v.size else np.nan,
                     "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan, "n": int(v.size),
                     "ci_low": lo, "ci_high": hi})
    summary = pd.DataFrame(summ)
    if summary.empty or summary["mean"].isna().all():
        return PresetComparison(metric, summary, pd.DataFrame(), {}, None, False,
                                f"no {metric} values to compare", alpha, d)
    sign = 1.0 if higher_is_better else -1.0
    best = str(summary.loc[(sign * summary["mean"]).idxmax(), "preset"])
    summary = summary.sort_values("mean", ascending=not higher_is_better).reset_index(drop=True)
    pw = []
    for p in presets:
        if p == best:
            continue
        both = wide[[best, p]].dropna()
        w = paired_wilcoxon(both[best], both[p])
        e = paired_effect(both[best].to_numpy(), both[p].to_numpy(), n_boot=n_boot, seed=seed)
        pw.append({"best": best, "other": p, "n": w["n"], "wilcoxon_W": w["statistic"],
                   "p": w["p"], "mean_diff": e["mean_diff"], "mean_diff_ci_low":
                   e["mean_diff_ci"][0], "mean_diff_ci_high": e["mean_diff_ci"][1],
                   "dz": e["dz"], "dz_ci_low": e["dz_ci"][0], "dz_ci_high": e["dz_ci"][1]})
    pairwise = pd.DataFrame(pw)
    if len(pairwise):
        pairwise["p_holm"] = holm(pairwise["p"].to_numpy())
    mixed = mixed_effects(d, metric, condition=preset, group=clip, reference=best) \
        if len(presets) > 1 else {"error": "only one preset"}
    # significant: the best beats every other preset after Holm correction, in the right
    # direction, and the mixed model agrees
    significant = False
    if len(pairwise):
        ok_w = bool(np.all(pairwise["p_holm"].fillna(1.0) < alpha)) and \
            bool(np.all(sign * pairwise["mean_diff"] > 0))
        ok_m = True
        if "table" in mixed:
            t = mixed["table"]
            others = t[t["level"].notna()]
            ok_m = bool(np.all(others["p"] < alpha) and np.all(-sign * others["coef"] > 0))
        significant = ok_w and ok_m
    n_clips = int(wide.dropna().shape[0])
    best_mean = float(summary.loc[summary.preset == best, "mean"].iloc[0])
    if len(presets) == 1:
        statement = (f"Only one preset ({best}) was evaluated: mean {metric} {best_mean:.3f} "
                     f"over {n_clips} clips; nothing to compare.")
    else:
        worst = pairwise.sort_values("p_holm", ascending=False).iloc[0]
        statement = (f"'{best}' has the {'highest' if higher_is_better else 'lowest'} mean "
                     f"{metric} ({best_mean:.3f}, {n_clips} clips). ")
        if significant:
            statement += (f"It is significantly better than every other preset (paired "
                          f"Wilcoxon, Holm-adjusted p <= {pairwise['p_holm'].max():.3g}; mixed "
                          f"model with clip as random effect p < {alpha}).")
        else:
            statement += (f"The difference is not significant at alpha={alpha} against "
                          f"'{worst['other']}' (Holm-adjusted Wilcoxon p = "
                          f"{_fmt(worst['p_holm'])}, mean difference {worst['mean_diff']:.3f} "
                          f"[{worst['mean_diff_ci_low']:.3f}, {worst['mean_diff_ci_high']:.3f}])"
                          + (f"; with {n_clips} clips the smallest possible two-sided Wilcoxon "
                             f"p is {2 / 2 ** n_clips:.3g}." if n_clips < 6 else "."))
    return PresetComparison(metric, summary, pairwise, mixed, best, significant, statement,
                            alpha, d)


def _fmt(p) -> str:
    return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"
