"""Simplex projection (Sugihara & May 1990, Nature 344:734, doi:10.1038/344734a0).

Numbers equal pyEDM 2.5.7's ``Simplex`` (same library/prediction rows, neighbour ties,
weights ``exp(-d / max(d_min, 1e-6))``).

>>> import numpy as np
>>> x = np.sin(np.arange(300) * 0.3)
>>> p = simplex(x, E=2, lib=[1, 200], pred=[201, 290])
>>> round(p.rho, 3) > 0.99
True
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ._inputs import check_int, check_series, columns_and_names
from .embedding import embed_columns, library_prediction_indices
from .neighbors import knn as find_knn
from .results import Prediction

__all__ = ["simplex", "prepare_embedding", "simplex_weights", "target_times"]


def prepare_embedding(x, y=None, *, E: int, tau: int, embedded: bool):
    """Columns, target and embedding for simplex / S-map.

    Returns (X (N, C), target (N,), embedding (N, D), effective E, names).
    """
    X, names = columns_and_names(x, "x")
    check_series(X, "x")
    if y is None:
        target = X[:, 0].copy()
        tname = names[0]
    else:
        Y, tn = columns_and_names(y, "y")
        if Y.shape[0] != X.shape[0]:
            raise DataError(f"target has {Y.shape[0]} samples but x has {X.shape[0]}",
                            field="y", expected="the same number of samples as x")
        check_series(Y[:, :1], "y")
        target, tname = Y[:, 0].copy(), tn[0]
    if embedded:
        emb = X.copy()
        E = X.shape[1]
    else:
        E = check_int(E, "E", 1)
        tau = check_int(tau, "tau")
        if tau == 0:
            raise ConfigError("tau = 0 is invalid", field="tau", expected="a non-zero integer")
        need = (E - 1) * abs(tau) + 2
        if X.shape[0] < need:
            raise DataError(f"series of {X.shape[0]} samples is too short for E = {E}, "
                            f"tau = {tau}", field="x", expected=f"at least {need} samples")
        emb = embed_columns(X, E, tau, order="lag")
    return X, target, emb, E, names + [tname]


def simplex_weights(dist: np.ndarray) -> np.ndarray:
    """pyEDM Simplex weights from (P, k) neighbour distances (inf = no neighbour)."""
    finite = np.isfinite(dist)
    dmin = np.where(finite, dist, np.inf).min(axis=1)
    dmin = np.where(np.isfinite(dmin), dmin, 1.0)
    dmin = np.fmax(dmin, 1e-6)
    with np.errstate(invalid="ignore"):
        w = np.exp(-dist / dmin[:, None])
    return np.where(finite, w, 0.0)


def target_times(time: np.ndarray | None, target_row: np.ndarray, n: int) -> np.ndarray:
    """Times of (possibly out-of-record) target rows, extrapolated with the first step."""
    if time is None:
        return target_row.astype(float)
    t = np.asarray(time, float)
    if t.shape != (n,):
        raise DataError(f"time has shape {t.shape}", field="time", expected=f"({n},)")
    dt = t[1] - t[0] if n > 1 else 1.0
    inside = (target_row >= 0) & (target_row < n)
    out = np.empty(target_row.shape, float)
    out[inside] = t[target_row[inside]]
    hi = target_row >= n
    out[hi] = t[-1] + (target_row[hi] - (n - 1)) * dt
    lo = target_row < 0
    out[lo] = t[0] + target_row[lo] * dt
    return out


def simplex(x, y=None, *, E: int = 1, tau: int = -1, Tp: int = 1, knn: int = 0,
            lib=None, pred=None, exclusion_radius: int = 0, embedded: bool = False,
            valid_lib: np.ndarray | None = None, time: np.ndarray | None = None
            ) -> Prediction:
    """Simplex projection of ``y`` from the delay embedding of ``x``.

    Parameters
    ----------
    x: (N,) or (N, C) series (array, Series or DataFrame); with several columns each is
        delay-embedded (mixed multivariate embedding), or, with ``embedded=True``, the
        columns are the embedding itself.
    y: (N,) target; default the first column of x.
    E, tau: embedding dimension and delay (tau < 0 looks back).
    Tp: prediction horizon in samples (0 = cross-mapping at the same time).
    knn: neighbours (0 -> E + 1).
    lib, pred: pyEDM 1-based inclusive row pairs, e.g. ``[1, 100]`` (None: all rows).
    exclusion_radius: library rows within this many rows of a prediction row are skipped.
    valid_lib: (N,) bool mask of rows allowed in the library (e.g. inside one trial).
    time: (N,) times for the output (default row numbers).

    Returns
    -------
    :class:`~neuroimit.dynamics.results.Prediction`.

    >>> import numpy as np
    >>> t = np.arange(200) * 0.2
    >>> simplex(np.sin(t), np.cos(t), E=2, Tp=0).rho > 0.99
    True
    """
    X, target, emb, E, names = prepare_embedding(x, y, E=E, tau=tau, embedded=embedded)
    Tp = check_int(Tp, "Tp")
    exclusion_radius = check_int(exclusion_radius, "exclusion_radius", 0)
    n = X.shape[0]
    idx = library_prediction_indices(emb, lib=lib, pred=pred, E=E, tau=tau, Tp=Tp,
                                     embedded=embedded, valid_lib=valid_lib)
    k = check_int(knn, "knn", 0) or E + 1
    if idx.lib.size < k:
        raise DataError(f"library has {idx.lib.size} valid rows but knn = {k}", field="lib",
                        expected="a library larger than the number of neighbours")
    nbr, dist = find_knn(emb[idx.lib], idx.lib, emb[idx.pred], idx.pred, k,
                         exclusion_radius, tie_break=True)
    w = simplex_weights(dist)
    ytgt = np.where(np.isfinite(dist), target[nbr + Tp], 0.0)
    wsum = w.sum(axis=1)
    safe = np.where(wsum > 0, wsum, 1.0)
    proj = (w * ytgt).sum(axis=1) / safe
    var = (w * (ytgt - proj[:, None]) ** 2).sum(axis=1) / safe
    empty = wsum <= 0
    proj[empty] = np.nan
    var[empty] = np.nan
    trow = idx.pred + Tp
    obs = np.full(trow.size, np.nan)
    inside = (trow >= 0) & (trow < n)
    obs[inside] = target[trow[inside]]
    params: dict[str, Any] = dict(method="simplex", E=E, tau=tau, Tp=Tp, knn=k,
                                  exclusion_radius=exclusion_radius, embedded=embedded,
                                  columns=",".join(names[:-1]), target=names[-1])
    return Prediction(idx.pred, trow, target_times(time, trow, n), obs, proj, var,
                      params=params)
