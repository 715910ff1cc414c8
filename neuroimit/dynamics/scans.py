"""Parameter scans: embedding dimension, prediction interval, nonlinearity, exclusion radius.

Same numbers as pyEDM 2.5.7's ``EmbedDimension``, ``PredictInterval``, ``PredictNonlinear``
and ``PredictExclusionRadius`` (run serially; no process pool).

>>> import numpy as np
>>> x = np.sin(np.arange(400) * 0.3) + 0.5 * np.sin(np.arange(400) * 0.71)
>>> s = embed_dimension(x, max_E=4, lib=[1, 200], pred=[201, 390])
>>> s.to_pandas().shape
(4, 4)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .results import ScanResult
from .simplex import simplex
from .smap import smap

__all__ = ["embed_dimension", "predict_interval", "predict_nonlinear",
           "predict_exclusion_radius", "DEFAULT_THETAS", "DEFAULT_RADII"]

#: pyEDM's default theta grid for PredictNonlinear
DEFAULT_THETAS = (0.01, 0.1, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
#: pyEDM's default exclusion radii for PredictExclusionRadius
DEFAULT_RADII = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 25, 30)


def _scan(name: str, values, fn, params) -> ScanResult:
    rho, mae, rmse = [], [], []
    for v in values:
        s = fn(v).skill()
        rho.append(s["rho"])
        mae.append(s["mae"])
        rmse.append(s["rmse"])
    return ScanResult(name, np.asarray(values), np.asarray(rho), np.asarray(mae),
                      np.asarray(rmse), params=params)


def embed_dimension(x, y=None, *, max_E: int = 10, tau: int = -1, Tp: int = 1, lib=None,
                    pred=None, exclusion_radius: int = 0, valid_lib=None) -> ScanResult:
    """Simplex skill for E = 1..max_E (pyEDM ``EmbedDimension``).

    Parameters as for :func:`~neuroimit.dynamics.simplex.simplex`. ``result.best`` is the
    E with the highest rho.
    """
    if max_E < 1:
        raise ConfigError(f"max_E = {max_E} is invalid", field="max_E", expected=">= 1")
    return _scan("E", list(range(1, int(max_E) + 1)),
                 lambda E: simplex(x, y, E=E, tau=tau, Tp=Tp, lib=lib, pred=pred,
                                   exclusion_radius=exclusion_radius, valid_lib=valid_lib),
                 dict(tau=tau, Tp=Tp, exclusion_radius=exclusion_radius))


def predict_interval(x, y=None, *, max_Tp: int = 10, E: int = 1, tau: int = -1, lib=None,
                     pred=None, exclusion_radius: int = 0, valid_lib=None) -> ScanResult:
    """Simplex skill for Tp = 1..max_Tp (pyEDM ``PredictInterval``)."""
    if max_Tp < 1:
        raise ConfigError(f"max_Tp = {max_Tp} is invalid", field="max_Tp", expected=">= 1")
    return _scan("Tp", list(range(1, int(max_Tp) + 1)),
                 lambda Tp: simplex(x, y, E=E, tau=tau, Tp=Tp, lib=lib, pred=pred,
                                    exclusion_radius=exclusion_radius, valid_lib=valid_lib),
                 dict(E=E, tau=tau, exclusion_radius=exclusion_radius))


def predict_nonlinear(x, y=None, *, thetas: Sequence[float] = DEFAULT_THETAS, E: int = 1,
                      tau: int = -1, Tp: int = 1, knn: int = 0, lib=None, pred=None,
                      exclusion_radius: int = 0, embedded: bool = False,
                      ridge: float = 0.0) -> ScanResult:
    """S-map skill over theta (pyEDM ``PredictNonlinear``); rising rho = nonlinearity."""
    return _scan("theta", [float(t) for t in thetas],
                 lambda th: smap(x, y, E=E, tau=tau, Tp=Tp, knn=knn, theta=th, lib=lib,
                                 pred=pred, exclusion_radius=exclusion_radius,
                                 embedded=embedded, ridge=ridge),
                 dict(E=E, tau=tau, Tp=Tp, knn=knn, ridge=ridge))


def predict_exclusion_radius(x, y=None, *, radii: Sequence[int] = DEFAULT_RADII, E: int = 1,
                             tau: int = -1, Tp: int = 1, lib=None, pred=None) -> ScanResult:
    """Simplex skill over the exclusion radius (pyEDM ``PredictExclusionRadius``)."""
    return _scan("exclusion_radius", [int(r) for r in radii],
                 lambda r: simplex(x, y, E=E, tau=tau, Tp=Tp, lib=lib, pred=pred,
                                   exclusion_radius=r),
                 dict(E=E, tau=tau, Tp=Tp))
