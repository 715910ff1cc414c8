"""Convergent cross mapping (Sugihara et al. 2012, Science 338:496,
doi:10.1126/science.1227079), exact.

``"x:y"`` (pyEDM's naming): the delay embedding of x cross-maps (predicts) y; high and
converging skill is evidence that **y drives x**.

The same seed gives the same random libraries as pyEDM 2.5.7's ``CCM`` (its sampling
scheme is reproduced), so the rho curves agree with pyEDM number for number; the neighbour
search is exact and about 20x faster than pyEDM on a 2-core CPU (see
:mod:`neuroimit.dynamics._ccm_engine` and docs/benchmarks.md).

>>> import numpy as np
>>> from neuroimit.dynamics.ccm import ccm, coupled_logistic
>>> x, y = coupled_logistic(500)
>>> r = ccm(x, y, E=2, lib_sizes=[20, 400], samples=20, seed=1)
>>> bool(r.mean_yx[-1] > r.mean_yx[0])
True
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ._ccm_engine import (CrossMapData, choose_strategy, cross_map_rho, numba_depth,
                          numba_kernels, pyedm_libraries)
from ._inputs import check_int, check_series, columns_and_names
from .embedding import embed_columns, segment_ids_to_valid
from .results import CCMMatrix, CCMResult

__all__ = ["ccm", "ccm_matrix", "coupled_logistic", "lib_range", "cross_map_data"]


def coupled_logistic(n: int, rx: float = 3.8, ry: float = 3.5, bxy: float = 0.02,
                     byx: float = 0.1, x0: float = 0.4, y0: float = 0.2
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Two coupled logistic maps (Sugihara et al. 2012, Fig. 1 parameters).

    ``x[t+1] = x[t] (rx - rx x[t] - bxy y[t])``, ``y[t+1] = y[t] (ry - ry y[t] - byx x[t])``:
    bxy is y's effect on x, byx is x's effect on y (with the defaults x drives y more).
    """
    x = np.empty(n)
    y = np.empty(n)
    x[0], y[0] = x0, y0
    for t in range(n - 1):
        x[t + 1] = x[t] * (rx - rx * x[t] - bxy * y[t])
        y[t + 1] = y[t] * (ry - ry * y[t] - byx * x[t])
    return x, y


def lib_range(start: int, stop: int, step: int) -> list[int]:
    """pyEDM's ``libSizes = "start stop step"`` expanded: start, start+step, ..., <= stop."""
    return list(range(int(start), int(stop) + 1, int(step)))


def _valid_rows(N: int, segments, valid, E: int, tau: int, Tp: int, embedded: bool):
    ok = np.ones(N, bool)
    if segments is not None:
        seg = np.asarray(segments)
        if seg.shape != (N,):
            raise DataError(f"segments has shape {seg.shape}", field="segments",
                            expected=f"({N},) trial id per sample (-1 = gap)")
        ok &= segment_ids_to_valid(seg, 1 if embedded else E, tau, Tp)
    if valid is not None:
        v = np.asarray(valid, bool)
        if v.shape != (N,):
            raise DataError(f"valid has shape {v.shape}", field="valid",
                            expected=f"({N},) boolean mask")
        ok &= v
    return ok


def cross_map_data(lib_cols: np.ndarray, targets: np.ndarray, *, E: int, tau: int, Tp: int,
                   embedded: bool, ok: np.ndarray) -> CrossMapData:
    """Valid points of one direction: embedding of ``lib_cols`` (N, C), targets (N, T)."""
    N = lib_cols.shape[0]
    emb = lib_cols if embedded else embed_columns(lib_cols, E, tau, order="variable")
    good = ok & ~np.isnan(emb).any(axis=1) & ~np.isnan(lib_cols[:, 0])
    t = np.arange(N) + Tp
    inside = (t >= 0) & (t < N)
    good &= inside
    good[inside] &= ~np.isnan(targets[t[inside]]).any(axis=1)
    idx = np.flatnonzero(good)
    return CrossMapData(np.ascontiguousarray(emb[idx]), idx, targets[idx + Tp])


def _check_sizes(lib_sizes, N: int, E: int) -> np.ndarray:
    ls = np.asarray(lib_sizes, dtype=np.int64).ravel()
    if ls.size == 0:
        raise ConfigError("no library sizes given", field="lib_sizes",
                          expected="a list of library sizes, e.g. [10, 50, 100]")
    if ls.max() > N:
        raise ConfigError(f"largest library size {ls.max()} exceeds the {N} samples",
                          field="lib_sizes", expected=f"sizes <= {N}")
    if ls.min() < E + 2:
        raise ConfigError(f"smallest library size {ls.min()} is too small for E = {E}",
                          field="lib_sizes", expected=f"sizes >= E + 2 = {E + 2}")
    return ls


def _direction(data: CrossMapData, sizes: np.ndarray, samples: int, seed, k: int, excl: int,
               strategy: str, min_points: int) -> np.ndarray:
    """(K, S, T) rho over library sizes and samples."""
    M = data.M
    if M < min_points:
        raise DataError(f"only {M} valid points after embedding, Tp and NaN removal",
                        field="x", expected=f"at least {min_points} valid points")
    # one ordering shared by every library size that walks it
    if strategy == "auto" and numba_kernels() is not None:
        Kmax = numba_depth(M, sizes, k, samples, data.vecs.shape[1])
    else:
        Ks = [choose_strategy(M, min(int(L), M), min(k, min(int(L), M) - 1), samples,
                              data.vecs.shape[1]) for L in sizes]
        Kmax = max([K for s, K in Ks if s == "order" and K] or [0])
    if Kmax and strategy in ("auto", "order"):
        data.ordering(Kmax, excl)
    out = np.empty((sizes.size, samples, data.Y.shape[1]))
    for i, L in enumerate(sizes):
        L = min(int(L), M)
        libs = pyedm_libraries(M, L, samples if L < M else 1, seed)
        if L >= M:
            libs = np.repeat(libs, samples, axis=0)
        out[i] = cross_map_rho(data, libs, k, excl, strategy)
    return out


def ccm(x, y, *, E: int, lib_sizes: Sequence[int], samples: int = 100,
        seed: int | None = 0, tau: int = -1, Tp: int = 0, knn: int = 0,
        exclusion_radius: int = 0, embedded: bool = False, segments=None, valid=None,
        strategy: str = "auto") -> CCMResult:
    """Convergent cross mapping in both directions.

    Parameters
    ----------
    x, y: (N,) series, or (N, C) for multivariate / conditional embeddings: all columns of
        x are embedded to cross-map y's first column, and vice versa (pyEDM ``columns`` /
        ``target`` lists). Arrays, Series or DataFrames.
    E, tau: embedding dimension and delay (per variable).
    lib_sizes: library sizes (each <= N and >= E + 2); a size >= the number of valid
        points uses the full library (deterministic).
    samples: random libraries per size; seed: their seed (pyEDM's scheme).
    Tp: cross-map lag (predict the target Tp steps ahead; negative = behind), for lagged
        CCM (Ye et al. 2015, Sci Rep 5:14750).
    knn: neighbours (0 -> E + 1, or the number of columns + 1 when ``embedded``).
    exclusion_radius: neighbours within this many rows of the predicted row are skipped.
    embedded: the columns of x and y are already embeddings.
    segments: (N,) trial id per sample (-1 = gap): no embedding vector or target spans
        two trials. valid: (N,) extra mask of usable rows.
    strategy: "auto" (default), "order", "brute" or "kdtree" (all exact).

    Returns
    -------
    :class:`~neuroimit.dynamics.results.CCMResult` with rho per library size and sample.

    >>> import numpy as np
    >>> x, y = coupled_logistic(300)
    >>> r = ccm(x, y, E=2, lib_sizes=[298], samples=1)
    >>> round(float(r.mean_yx[0]), 3) > 0.5
    True
    """
    X, xn = columns_and_names(x, "x")
    Y, yn = columns_and_names(y, "y")
    if X.shape[0] != Y.shape[0]:
        raise DataError(f"x has {X.shape[0]} samples but y has {Y.shape[0]}", field="y",
                        expected="series of equal length")
    check_series(X, "x")
    check_series(Y, "y")
    N = X.shape[0]
    if embedded:
        Ex, Ey = X.shape[1], Y.shape[1]
    else:
        E = check_int(E, "E", 1)
        tau = check_int(tau, "tau")
        if tau == 0:
            raise ConfigError("tau = 0 is invalid", field="tau", expected="a non-zero integer")
        need = (E - 1) * abs(tau) + abs(Tp) + E + 2
        if N < need:
            raise DataError(f"series of {N} samples is too short for E = {E}, tau = {tau}, "
                            f"Tp = {Tp}", field="x", expected=f"at least {need} samples")
        Ex = Ey = E
    samples = check_int(samples, "samples", 1)
    excl = check_int(exclusion_radius, "exclusion_radius", 0)
    Tp = check_int(Tp, "Tp")
    if strategy not in ("auto", "order", "brute", "kdtree"):
        raise ConfigError(f"unknown strategy {strategy!r}", field="strategy",
                          expected="'auto', 'order', 'brute' or 'kdtree'")
    Eknn = X.shape[1] if embedded else E  # pyEDM: knn = E + 1 (E = columns if embedded)
    k = check_int(knn, "knn", 0) or Eknn + 1
    sizes = _check_sizes(lib_sizes, N, Eknn)
    ok = _valid_rows(N, segments, valid, E if not embedded else 1, tau, Tp, embedded)
    dx = cross_map_data(X, Y[:, :1], E=E, tau=tau, Tp=Tp, embedded=embedded, ok=ok)
    dy = cross_map_data(Y, X[:, :1], E=E, tau=tau, Tp=Tp, embedded=embedded, ok=ok)
    rxy = _direction(dx, sizes, samples, seed, k, excl, strategy, k + 1)[:, :, 0]
    ryx = _direction(dy, sizes, samples, seed, k, excl, strategy, k + 1)[:, :, 0]
    params = dict(E=E, tau=tau, Tp=Tp, knn=k, exclusion_radius=excl, samples=samples,
                  seed=seed, embedded=embedded, n_points_xy=dx.M, n_points_yx=dy.M)
    return CCMResult(sizes, rxy, ryx, names=(xn[0], yn[0]), params=params)


def ccm_matrix(data, *, E: int | Sequence[int], lib_sizes: Sequence[int] | None = None,
               samples: int = 1, seed: int | None = 0, tau: int = -1, Tp: int = 0,
               knn: int = 0, exclusion_radius: int = 0, names: Sequence[str] | None = None,
               segments=None, valid=None, strategy: str = "auto",
               progress: bool = False) -> CCMMatrix:
    """Pairwise CCM over all channels at once.

    Each channel's embedding finds its neighbours once per library and cross-maps every
    other channel with them, so C channels cost C neighbour searches, not C^2.

    Parameters
    ----------
    data: (N, C) channels (array or DataFrame).
    E: one embedding dimension, or one per channel (e.g. from :func:`embed_dimension`).
    lib_sizes: library sizes (default: the full library only, deterministic).
    samples, seed, tau, Tp, knn, exclusion_radius, segments, valid, strategy: as in
        :func:`ccm`. Rows where any channel is NaN at the target time are left out.

    Returns
    -------
    :class:`~neuroimit.dynamics.results.CCMMatrix`; ``rho[i, j]`` = "i:j" (channel i
    cross-maps channel j, evidence that j drives i). The diagonal is NaN.

    >>> import numpy as np
    >>> x, y = coupled_logistic(400)
    >>> m = ccm_matrix(np.c_[x, y], E=2)
    >>> m.rho.shape
    (2, 2, 1, 1)
    """
    X, cn = columns_and_names(data, "data")
    check_series(X, "data")
    N, C = X.shape
    names = tuple(names) if names is not None else tuple(cn)
    if len(names) != C:
        raise ConfigError(f"{len(names)} names for {C} channels", field="names")
    Es = np.broadcast_to(np.asarray(E, dtype=np.int64), (C,))
    for e in Es:
        check_int(e, "E", 1)
    tau = check_int(tau, "tau")
    if tau == 0:
        raise ConfigError("tau = 0 is invalid", field="tau", expected="a non-zero integer")
    sizes = _check_sizes(lib_sizes if lib_sizes is not None else [N], N, int(Es.max()))
    samples = check_int(samples, "samples", 1)
    excl = check_int(exclusion_radius, "exclusion_radius", 0)
    rho = np.full((C, C, sizes.size, samples), np.nan)
    it = range(C)
    if progress:
        from rich.progress import track
        it = track(it, description="CCM matrix")
    for i in it:
        e = int(Es[i])
        ok = _valid_rows(N, segments, valid, e, tau, Tp, False)
        d = cross_map_data(X[:, i:i + 1], X, E=e, tau=tau, Tp=Tp, embedded=False, ok=ok)
        k = check_int(knn, "knn", 0) or e + 1
        r = _direction(d, sizes, samples, seed, k, excl, strategy, k + 1)  # (K, S, C)
        rho[i] = np.transpose(r, (2, 0, 1))
        rho[i, i] = np.nan
    params = dict(E=[int(e) for e in Es], tau=tau, Tp=Tp, exclusion_radius=excl,
                  samples=samples, seed=seed)
    return CCMMatrix(names, sizes, rho, params=params)
