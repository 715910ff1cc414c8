"""Result objects of the dynamics module; each converts to pandas and xarray.

>>> import numpy as np
>>> skill(np.array([1.0, 2, 3, 4, 5]), np.array([1.1, 2, 2.9, 4, 5]))["rho"] > 0.99
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["skill", "pearson", "Prediction", "ScanResult", "CCMResult", "CCMMatrix"]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the finite pairs (NaN with fewer than 3 pairs or no spread)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a = a[ok] - a[ok].mean()
    b = b[ok] - b[ok].mean()
    den = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / den) if den > 0 else float("nan")


def skill(observed: np.ndarray, predicted: np.ndarray, min_pairs: int = 5) -> dict[str, float]:
    """Prediction skill over the finite (observed, predicted) pairs.

    Returns ``{"rho": Pearson r, "mae": mean |error|, "rmse": root mean square error,
    "n": pairs used}``; NaN figures with fewer than ``min_pairs`` pairs (pyEDM uses 5).
    Note: pyEDM's ``ComputeError`` reports the *maximum* signed error under the name MAE;
    here MAE is the mean absolute error.
    """
    o = np.asarray(observed, float)
    p = np.asarray(predicted, float)
    ok = np.isfinite(o) & np.isfinite(p)
    n = int(ok.sum())
    if n < min_pairs:
        return {"rho": float("nan"), "mae": float("nan"), "rmse": float("nan"), "n": n}
    err = o[ok] - p[ok]
    return {"rho": pearson(o[ok], p[ok]), "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err ** 2))), "n": n}


@dataclass
class Prediction:
    """Simplex / S-map predictions, one per prediction row.

    Attributes
    ----------
    row: (P,) 0-based data row the prediction is made from.
    target_row: (P,) data row predicted (``row + Tp``; may reach past the record).
    time: (P,) time of the predicted row.
    observed: (P,) target at ``target_row`` (NaN when outside the record or missing).
    predicted: (P,) prediction; variance: (P,) weighted spread of the neighbours' targets.
    coefficients: (P, D+1) S-map coefficients (intercept first) or None for simplex.
    singular_values: (P, D+1) S-map singular values (lstsq solver) or None.
    params: the settings used.
    """

    row: np.ndarray
    target_row: np.ndarray
    time: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray
    variance: np.ndarray
    coefficients: np.ndarray | None = None
    singular_values: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def skill(self) -> dict[str, float]:
        """rho, MAE, RMSE of the predictions (see :func:`skill`)."""
        return skill(self.observed, self.predicted)

    @property
    def rho(self) -> float:
        return self.skill()["rho"]

    def to_pandas(self) -> pd.DataFrame:
        """Columns time, observed, predicted, variance (+ C0.. for S-map), index target_row."""
        df = pd.DataFrame({"time": self.time, "observed": self.observed,
                           "predicted": self.predicted, "variance": self.variance},
                          index=pd.Index(self.target_row, name="target_row"))
        if self.coefficients is not None:
            for j in range(self.coefficients.shape[1]):
                df[f"C{j}"] = self.coefficients[:, j]
        return df

    def to_xarray(self) -> xr.Dataset:
        ds = xr.Dataset({k: ("time", getattr(self, k)) for k in
                         ("observed", "predicted", "variance", "row", "target_row")},
                        coords={"time": self.time}, attrs=_attrs(self.params))
        if self.coefficients is not None:
            ds["coefficients"] = (("time", "coef"), self.coefficients)
        return ds


def _attrs(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (int, float, str, bool, np.integer, np.floating)):
            out[k] = v.item() if hasattr(v, "item") else v
        elif v is None:
            out[k] = "None"
        else:
            out[k] = str(v)
    return out


@dataclass
class ScanResult:
    """Skill over one parameter (E, Tp, theta or exclusion radius).

    parameter: name ("E", "Tp", "theta", "exclusion_radius"); values: (K,) settings;
    rho, mae, rmse: (K,) skill at each setting.
    """

    parameter: str
    values: np.ndarray
    rho: np.ndarray
    mae: np.ndarray
    rmse: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self):
        """The setting with the highest rho."""
        return self.values[int(np.nanargmax(self.rho))]

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame({self.parameter: self.values, "rho": self.rho,
                             "mae": self.mae, "rmse": self.rmse})

    def to_xarray(self) -> xr.Dataset:
        return xr.Dataset({"rho": (self.parameter, self.rho), "mae": (self.parameter, self.mae),
                           "rmse": (self.parameter, self.rmse)},
                          coords={self.parameter: self.values}, attrs=_attrs(self.params))


@dataclass
class CCMResult:
    """Convergent cross mapping between two variables.

    Naming follows pyEDM: ``"x:y"`` means x's embedding cross-maps (predicts) y, evidence
    that **y drives x**.

    Attributes
    ----------
    lib_sizes: (K,) library sizes.
    rho_xy: (K, S) rho of x:y for each library size and random library (S samples).
    rho_yx: (K, S) rho of y:x.
    names: (x name, y name).
    params: settings (E, tau, Tp, knn, exclusion_radius, samples, seed, ...).
    """

    lib_sizes: np.ndarray
    rho_xy: np.ndarray
    rho_yx: np.ndarray
    names: tuple[str, str] = ("x", "y")
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_xy(self) -> np.ndarray:
        return np.nanmean(self.rho_xy, axis=1)

    @property
    def mean_yx(self) -> np.ndarray:
        return np.nanmean(self.rho_yx, axis=1)

    @property
    def std_xy(self) -> np.ndarray:
        return np.nanstd(self.rho_xy, axis=1)

    @property
    def std_yx(self) -> np.ndarray:
        return np.nanstd(self.rho_yx, axis=1)

    def quantiles(self, q=(0.05, 0.95)) -> dict[str, np.ndarray]:
        """Spread over random libraries: ``{"x:y": (K, len(q)), "y:x": ...}``."""
        return {self.label_xy: np.nanquantile(self.rho_xy, q, axis=1).T,
                self.label_yx: np.nanquantile(self.rho_yx, q, axis=1).T}

    @property
    def label_xy(self) -> str:
        return f"{self.names[0]}:{self.names[1]}"

    @property
    def label_yx(self) -> str:
        return f"{self.names[1]}:{self.names[0]}"

    def to_pandas(self) -> pd.DataFrame:
        """pyEDM layout: LibSize, "x:y", "y:x" means, plus their standard deviations."""
        return pd.DataFrame({"LibSize": self.lib_sizes, self.label_xy: self.mean_xy,
                             self.label_yx: self.mean_yx,
                             f"{self.label_xy}_sd": self.std_xy,
                             f"{self.label_yx}_sd": self.std_yx})

    def to_xarray(self) -> xr.Dataset:
        """rho (direction, lib_size, sample) with every sample kept."""
        rho = np.stack([self.rho_xy, self.rho_yx])
        return xr.Dataset({"rho": (("direction", "lib_size", "sample"), rho)},
                          coords={"direction": [self.label_xy, self.label_yx],
                                  "lib_size": self.lib_sizes,
                                  "sample": np.arange(rho.shape[2])},
                          attrs=_attrs(self.params))


@dataclass
class CCMMatrix:
    """Pairwise CCM over channels.

    rho: (C, C, K, S) where ``rho[i, j]`` is channel i's embedding cross-mapping channel j
    (pyEDM "i:j": evidence that j drives i), for each library size and sample.
    """

    names: tuple[str, ...]
    lib_sizes: np.ndarray
    rho: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        """(C, C, K) mean rho over samples (NaN on the diagonal)."""
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.rho, axis=3)

    def at(self, lib_size: int | None = None) -> np.ndarray:
        """(C, C) mean rho at one library size (default the largest)."""
        k = -1 if lib_size is None else int(np.flatnonzero(self.lib_sizes == lib_size)[0])
        return self.mean[:, :, k]

    def to_pandas(self, lib_size: int | None = None) -> pd.DataFrame:
        """Rows: the cross-mapping channel (library); columns: the cross-mapped channel."""
        return pd.DataFrame(self.at(lib_size), index=pd.Index(self.names, name="library"),
                            columns=pd.Index(self.names, name="target"))

    def to_xarray(self) -> xr.Dataset:
        return xr.Dataset({"rho": (("library", "target", "lib_size", "sample"), self.rho)},
                          coords={"library": list(self.names), "target": list(self.names),
                                  "lib_size": self.lib_sizes,
                                  "sample": np.arange(self.rho.shape[3])},
                          attrs=_attrs(self.params))
