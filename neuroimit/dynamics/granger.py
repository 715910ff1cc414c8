"""Linear baselines with statsmodels: VAR with lag selection and Granger causality.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=500); y = np.zeros(500)
>>> for t in range(1, 500): y[t] = 0.5 * y[t - 1] + 0.8 * x[t - 1] + 0.3 * rng.normal()
>>> g = var_granger(np.c_[x, y], names=["x", "y"], max_lags=4)
>>> bool(g.p_values.loc["y", "x"] < 0.01)   # x Granger-causes y
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ._inputs import check_series, columns_and_names

__all__ = ["GrangerResult", "var_granger"]


@dataclass
class GrangerResult:
    """Pairwise Granger tests from one VAR.

    lag: lag order used; criterion: how it was chosen.
    p_values / f_stats: DataFrames indexed [caused, causing] (rows: the effect, columns:
    the candidate cause; NaN on the diagonal).
    """

    lag: int
    criterion: str
    p_values: pd.DataFrame
    f_stats: pd.DataFrame
    lag_table: dict = field(default_factory=dict)

    def significant(self, alpha: float = 0.05) -> pd.DataFrame:
        return self.p_values < alpha

    def to_xarray(self):
        import xarray as xr
        return xr.Dataset({"p_value": (("caused", "causing"), self.p_values.to_numpy()),
                           "f_stat": (("caused", "causing"), self.f_stats.to_numpy())},
                          coords={"caused": list(self.p_values.index),
                                  "causing": list(self.p_values.columns)},
                          attrs=dict(lag=self.lag, criterion=self.criterion))


def var_granger(data, *, names: Sequence[str] | None = None, max_lags: int = 10,
                criterion: str = "aic", lag: int | None = None) -> GrangerResult:
    """Fit a VAR (lag chosen by ``criterion`` up to ``max_lags``, or fixed ``lag``) and run
    an F test of Granger causality for every ordered pair.

    Parameters
    ----------
    data: (T, C) finite series (array or DataFrame), C >= 2.
    criterion: "aic", "bic", "hqic" or "fpe".
    """
    from statsmodels.tsa.api import VAR
    X, cn = columns_and_names(data, "data")
    check_series(X, "data")
    if not np.all(np.isfinite(X)):
        raise DataError("VAR needs gap-free data", field="data", expected="no NaN")
    T, C = X.shape
    if C < 2:
        raise DataError(f"{C} channel(s)", field="data", expected="at least 2 channels")
    names = list(names) if names is not None else cn
    if len(names) != C:
        raise ConfigError(f"{len(names)} names for {C} channels", field="names")
    if criterion not in ("aic", "bic", "hqic", "fpe"):
        raise ConfigError(f"unknown criterion {criterion!r}", field="criterion",
                          expected="aic, bic, hqic or fpe")
    df = pd.DataFrame(X, columns=names)
    model = VAR(df)
    table = {}
    if lag is None:
        max_lags = int(min(max_lags, (T - 1) // (C + 1) - 1))
        if max_lags < 1:
            raise DataError(f"{T} samples are too few for a VAR of {C} channels", field="data",
                            expected="more samples")
        sel = model.select_order(max_lags)
        table = {k: int(v) for k, v in sel.selected_orders.items()}
        lag = max(1, table[criterion])
    res = model.fit(int(lag))
    p = pd.DataFrame(np.nan, index=pd.Index(names, name="caused"),
                     columns=pd.Index(names, name="causing"))
    f = p.copy()
    for a in names:
        for b in names:
            if a == b:
                continue
            t = res.test_causality(a, [b], kind="f")
            p.loc[a, b] = float(t.pvalue)
            f.loc[a, b] = float(t.test_statistic)
    return GrangerResult(int(lag), criterion if table else "fixed", p, f, table)
