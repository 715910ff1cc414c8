"""S-map: locally weighted linear maps (Sugihara 1994, Phil Trans R Soc A 348:477,
doi:10.1098/rsta.1994.0106).

Weights ``exp(-theta * d / mean(d))`` over the neighbours (all library rows by default), a
weighted intercept column, solved per prediction row by least squares (numpy ``lstsq``
semantics, batched SVD) or ridge regression. Numbers equal pyEDM 2.5.7's ``SMap``.

>>> import numpy as np
>>> x = np.sin(np.arange(300) * 0.3)
>>> smap(x, E=2, theta=2.0, lib=[1, 200], pred=[201, 290]).rho > 0.99
True
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from ._inputs import check_int
from .embedding import library_prediction_indices
from .neighbors import knn as find_knn
from .results import Prediction
from .simplex import prepare_embedding, target_times

__all__ = ["smap", "solve_weighted"]

_CHUNK = 2_000_000


def solve_weighted(A: np.ndarray, b: np.ndarray, nrows: np.ndarray, ridge: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Batched least squares ``A[i] @ c = b[i]``.

    Parameters
    ----------
    A: (P, k, m) design matrices (rows of zeros are ignored); b: (P, k).
    nrows: (P,) number of valid rows (for lstsq's default rcond = eps * max(rows, m)).
    ridge: > 0 adds ``ridge * I`` on the non-intercept coefficients (column 0 is the
        intercept and is not penalised).

    Returns
    -------
    coef (P, m), singular values (P, m) (None for ridge).
    """
    P, k, m = A.shape
    if ridge > 0:
        G = np.einsum("pki,pkj->pij", A, A)
        pen = np.eye(m) * ridge
        pen[0, 0] = 0.0
        rhs = np.einsum("pki,pk->pi", A, b)
        return np.linalg.solve(G + pen, rhs[..., None])[..., 0], None
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    cut = np.finfo(float).eps * np.maximum(nrows, m)[:, None] * s[:, :1]
    inv = np.where(s > cut, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    Utb = np.einsum("pkr,pk->pr", U, b)
    coef = np.einsum("prm,pr->pm", Vt, inv * Utb)
    sv = np.full((P, m), np.nan)
    sv[:, :s.shape[1]] = s
    return coef, sv


def smap(x, y=None, *, E: int = 1, tau: int = -1, Tp: int = 1, theta: float = 0.0,
         knn: int = 0, lib=None, pred=None, exclusion_radius: int = 0,
         embedded: bool = False, ridge: float = 0.0, valid_lib: np.ndarray | None = None,
         time: np.ndarray | None = None) -> Prediction:
    """S-map prediction of ``y`` from the embedding of ``x``.

    Parameters
    ----------
    x, y, E, tau, Tp, lib, pred, exclusion_radius, embedded, valid_lib, time: as for
        :func:`~neuroimit.dynamics.simplex.simplex` (several columns need
        ``embedded=True``, as in pyEDM).
    theta: localisation (0 = a global linear autoregressive map).
    knn: neighbours (0 -> the whole library minus one, pyEDM's default).
    ridge: 0 = least squares (pyEDM default); > 0 = ridge penalty on the slopes.

    Returns
    -------
    :class:`~neuroimit.dynamics.results.Prediction` with ``coefficients`` (P, D+1) =
    intercept then one partial derivative per embedding column (Jacobian estimates).

    >>> import numpy as np
    >>> t = np.arange(300) * 0.2
    >>> p = smap(np.sin(t), E=3, theta=0.0)
    >>> p.coefficients.shape
    (298, 4)
    """
    if theta is None or not np.isfinite(theta) or theta < 0:
        raise ConfigError(f"theta = {theta} is invalid", field="theta",
                          expected="a finite number >= 0")
    if ridge < 0:
        raise ConfigError(f"ridge = {ridge} is invalid", field="ridge", expected=">= 0")
    X, target, emb, E, names = prepare_embedding(x, y, E=E, tau=tau, embedded=embedded)
    if not embedded and X.shape[1] > 1:
        raise ConfigError("multivariable S-map needs embedded=True", field="x",
                          expected="one column, or embedded=True with the embedding columns")
    Tp = check_int(Tp, "Tp")
    exclusion_radius = check_int(exclusion_radius, "exclusion_radius", 0)
    n = X.shape[0]
    idx = library_prediction_indices(emb, lib=lib, pred=pred, E=E, tau=tau, Tp=Tp,
                                     embedded=embedded, valid_lib=valid_lib)
    nlib = idx.lib.size
    k = check_int(knn, "knn", 0) or nlib - 1
    if nlib < 2 or k > nlib:
        raise DataError(f"library has {nlib} valid rows for knn = {k}", field="lib",
                        expected="a library of at least knn (and 2) rows")
    maxc = min(5 * k, nlib) if exclusion_radius > 0 else None
    nbr, dist = find_knn(emb[idx.lib], idx.lib, emb[idx.pred], idx.pred, k,
                         exclusion_radius, max_candidates=maxc, tie_break=False)
    finite = np.isfinite(dist)
    cnt = finite.sum(axis=1)
    dmean = np.where(cnt > 0, np.where(finite, dist, 0.0).sum(axis=1) / np.maximum(cnt, 1),
                     np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        if theta == 0:
            W = np.ones_like(dist)
        else:
            W = np.exp(-(theta / dmean)[:, None] * dist)
    B = target[nbr + Tp]
    valid = finite & np.isfinite(B)
    W = np.where(valid, W, 0.0)
    Bz = np.where(valid, B, 0.0)
    P, D = idx.pred.size, emb.shape[1]
    coef = np.full((P, D + 1), np.nan)
    sv = np.full((P, D + 1), np.nan)
    step = max(1, _CHUNK // max(k * (D + 1), 1))
    for a in range(0, P, step):
        b_ = min(a + step, P)
        Wc = W[a:b_]
        A = np.empty((b_ - a, k, D + 1))
        A[:, :, 0] = Wc
        A[:, :, 1:] = Wc[:, :, None] * emb[nbr[a:b_]]
        c, s = solve_weighted(A, Wc * Bz[a:b_], valid[a:b_].sum(axis=1), ridge)
        coef[a:b_] = c
        if s is not None:
            sv[a:b_] = s
    usable = valid.any(axis=1) & np.isfinite(dmean)
    coef[~usable] = np.nan
    sv[~usable] = np.nan
    c0 = np.where(np.isnan(coef[:, 0]), 0.0, coef[:, 0])
    proj = c0 + np.einsum("pd,pd->p", coef[:, 1:], emb[idx.pred])
    proj[~usable] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (W * (Bz - proj[:, None]) ** 2 * valid).sum(axis=1) / W.sum(axis=1)
    var[~usable] = np.nan
    trow = idx.pred + Tp
    obs = np.full(trow.size, np.nan)
    inside = (trow >= 0) & (trow < n)
    obs[inside] = target[trow[inside]]
    params = dict(method="smap", E=E, tau=tau, Tp=Tp, knn=k, theta=float(theta),
                  ridge=float(ridge), exclusion_radius=exclusion_radius, embedded=embedded,
                  columns=",".join(names[:-1]), target=names[-1])
    return Prediction(idx.pred, trow, target_times(time, trow, n), obs, proj, var,
                      coefficients=coef, singular_values=sv, params=params)
