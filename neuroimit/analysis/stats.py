"""Statistics helpers for paired comparisons across clips.

- :func:`paired_wilcoxon`: Wilcoxon signed-rank test on paired per-clip values (scipy).
- :func:`mixed_effects`: linear mixed model ``value ~ condition`` with a random intercept per
  clip (statsmodels ``MixedLM``, REML), the fixed-effect table as a DataFrame.
- :func:`paired_effect`: mean paired difference and Cohen's d_z (mean / sd of differences)
  with percentile bootstrap confidence intervals over clips.
- :func:`bootstrap_ci`, :func:`holm`.

>>> a = np.array([0.5, 0.6, 0.55, 0.7, 0.65, 0.6])
>>> b = a - np.array([0.1, 0.05, 0.12, 0.08, 0.1, 0.07])
>>> round(paired_effect(a, b, seed=0)["mean_diff"], 4)
0.0867
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["bootstrap_ci", "paired_wilcoxon", "paired_effect", "mixed_effects", "holm",
           "cohens_dz"]


def bootstrap_ci(x: np.ndarray, stat: Callable[[np.ndarray], float] = np.mean, *,
                 n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` over the rows of ``x`` (resampled with replacement).

    >>> lo, hi = bootstrap_ci(np.arange(10.0), seed=0)
    >>> lo < 4.5 < hi
    True
    """
    x = np.asarray(x, float)
    x = x[np.isfinite(x)] if x.ndim == 1 else x
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    vals = np.array([stat(x[i]) for i in idx], dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return float("nan"), float("nan")
    a = (1 - ci) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def cohens_dz(d: np.ndarray) -> float:
    """Cohen's d_z of paired differences: mean / sd (ddof 1)."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return float("inf") * np.sign(d.mean()) if d.mean() != 0 else float("nan")
    return float(d.mean() / sd)


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"paired samples have shapes {a.shape} and {b.shape}", field="paired",
                        expected="two 1-D arrays of equal length (one value per clip)")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def paired_wilcoxon(a, b) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of a vs b (paired by position).

    Returns ``{"statistic", "p", "n"}``; p is NaN with fewer than 2 pairs or all-zero
    differences (no test possible).
    """
    from scipy import stats

    a, b = _paired(a, b)
    d = a - b
    n = int(d.size)
    if n < 2 or np.all(d == 0):
        return {"statistic": float("nan"), "p": float("nan"), "n": n}
    res = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "n": n}


def paired_effect(a, b, *, n_boot: int = 2000, ci: float = 0.95, seed: int = 0
                  ) -> dict[str, Any]:
    """Mean paired difference a - b and Cohen's d_z, each with a bootstrap CI over pairs."""
    a, b = _paired(a, b)
    d = a - b
    lo, hi = bootstrap_ci(d, np.mean, n_boot=n_boot, ci=ci, seed=seed)
    dlo, dhi = bootstrap_ci(d, cohens_dz, n_boot=n_boot, ci=ci, seed=seed + 1)
    return {"n": int(d.size), "mean_diff": float(d.mean()) if d.size else float("nan"),
            "mean_diff_ci": [lo, hi], "dz": cohens_dz(d), "dz_ci": [dlo, dhi], "ci": ci}


def mixed_effects(df: pd.DataFrame, value: str, *, condition: str = "preset",
                  group: str = "clip", reference: str | None = None) -> dict[str, Any]:
    """Linear mixed model ``value ~ C(condition)`` with a random intercept per ``group``.

    Parameters
    ----------
    df: long table with columns ``value``, ``condition``, ``group``.
    reference: level of ``condition`` used as the baseline (default: first in sorted order).

    Returns ``{"table": DataFrame(term, level, coef, se, z, p, ci_low, ci_high),
    "group_var", "converged", "n_obs", "n_groups", "reference", "formula"}``. With fewer
    than 2 groups or levels the model cannot be fitted and ``"error"`` says why.
    """
    import warnings

    import statsmodels.formula.api as smf

    for col in (value, condition, group):
        if col not in df.columns:
            raise DataError(f"table lacks column {col!r}", field=col,
                            expected=f"columns {value!r}, {condition!r}, {group!r}")
    d = df[[value, condition, group]].dropna().copy()
    d[condition] = d[condition].astype(str)
    d[group] = d[group].astype(str)
    levels = sorted(d[condition].unique())
    out: dict[str, Any] = {"n_obs": int(len(d)), "n_groups": int(d[group].nunique()),
                           "levels": levels}
    if len(levels) < 2 or d[group].nunique() < 2:
        out["error"] = "needs at least 2 conditions and 2 clips"
        return out
    ref = reference if reference is not None else levels[0]
    if ref not in levels:
        raise DataError(f"reference level {ref!r} not in {levels}", field=condition)
    # safe column names for the formula
    d = d.rename(columns={value: "y_", condition: "cond_", group: "grp_"})
    formula = f"y_ ~ C(cond_, Treatment(reference={ref!r}))"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm(formula, d, groups=d["grp_"]).fit(reml=True)
    ci = fit.conf_int()
    rows = []
    for term in fit.fe_params.index:
        lvl = term.split("[T.")[-1].rstrip("]") if "[T." in term else None
        name = f"{condition}[{lvl}] - {condition}[{ref}]" if lvl is not None else \
            f"intercept ({condition}[{ref}])"
        rows.append({"term": name, "level": lvl, "coef": float(fit.fe_params[term]),
                     "se": float(fit.bse[term]), "z": float(fit.tvalues[term]),
                     "p": float(fit.pvalues[term]), "ci_low": float(ci.loc[term, 0]),
                     "ci_high": float(ci.loc[term, 1])})
    out.update(table=pd.DataFrame(rows), reference=ref, converged=bool(fit.converged),
               group_var=float(np.asarray(fit.cov_re)[0, 0]), formula=
               f"{value} ~ C({condition}) + (1 | {group})")
    return out


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaNs kept)."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out
