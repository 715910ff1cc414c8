"""Input checking shared by simplex, S-map and CCM (arrays, pandas objects)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .embedding import as_columns

__all__ = ["columns_and_names", "check_series", "check_int"]


def columns_and_names(x, name: str) -> tuple[np.ndarray, list[str]]:
    """Array-like / Series / DataFrame -> ((N, C) float64, C names)."""
    if isinstance(x, pd.DataFrame):
        return as_columns(x.to_numpy(float), name), [str(c) for c in x.columns]
    if isinstance(x, pd.Series):
        return as_columns(x.to_numpy(float), name), [str(x.name) if x.name is not None
                                                      else name]
    X = as_columns(x, name)
    names = [name] if X.shape[1] == 1 else [f"{name}{i}" for i in range(X.shape[1])]
    return X, names


def check_series(X: np.ndarray, name: str, min_len: int = 1) -> None:
    """Clear errors for empty, all-NaN, infinite or constant columns."""
    if X.shape[0] < min_len:
        raise DataError(f"series has {X.shape[0]} samples", field=name,
                        expected=f"at least {min_len} samples")
    if np.isinf(X).any():
        raise DataError("series contains infinities", field=name,
                        expected="finite values (NaN marks missing samples)")
    for c in range(X.shape[1]):
        col = X[:, c]
        fin = col[np.isfinite(col)]
        label = name if X.shape[1] == 1 else f"{name}[:, {c}]"
        if fin.size == 0:
            raise DataError("series is all NaN", field=label, expected="finite samples")
        if fin.size > 1 and np.all(fin == fin[0]):
            raise DataError(f"series is constant ({fin[0]:.6g})", field=label,
                            expected="a varying signal (a constant has no dynamics)")


def check_int(v, name: str, lo: int | None = None) -> int:
    if int(v) != v:
        raise ConfigError(f"{name} = {v} is not an integer", field=name)
    v = int(v)
    if lo is not None and v < lo:
        raise ConfigError(f"{name} = {v} is invalid", field=name, expected=f">= {lo}")
    return v
