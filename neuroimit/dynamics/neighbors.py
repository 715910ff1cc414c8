"""Exact k-nearest-neighbour search for simplex projection and S-map.

Euclidean distances are computed as ``sqrt(sum((a - b)**2))`` over the embedding
dimensions (the same arithmetic as scipy's KD-tree, so exact ties stay ties).
Neighbours that are the prediction row itself, or within ``exclusion_radius`` rows of it,
are skipped. Ties are broken as pyEDM 2.5.7's Simplex does: distance, then temporal
proximity ``|pred_row - lib_row|``, then the earlier library row.

>>> import numpy as np
>>> lib = np.array([[0.0], [1.0], [3.0]]); rows = np.arange(3)
>>> nbr, d = knn(lib, rows, np.array([[0.9]]), np.array([10]), k=2)
>>> nbr.tolist(), np.round(d, 3).tolist()
([[1, 0]], [[0.1, 0.9]])
"""
from __future__ import annotations

import numpy as np

__all__ = ["knn", "pairwise_distances"]

#: elements of a (pred x lib) distance block computed at once (bounds memory to ~100 MB)
_BLOCK = 4_000_000


def pairwise_distances(P: np.ndarray, L: np.ndarray) -> np.ndarray:
    """(p, D) x (l, D) -> (p, l) Euclidean distances, KD-tree arithmetic."""
    acc = np.zeros((P.shape[0], L.shape[0]))
    for j in range(P.shape[1]):
        acc += (P[:, j, None] - L[None, :, j]) ** 2
    return np.sqrt(acc)


def knn(lib_vecs: np.ndarray, lib_rows: np.ndarray, pred_vecs: np.ndarray,
        pred_rows: np.ndarray, k: int, exclusion_radius: int = 0,
        max_candidates: int | None = None, tie_break: bool = True
        ) -> tuple[np.ndarray, np.ndarray]:
    """k nearest library rows of every prediction vector.

    Parameters
    ----------
    lib_vecs: (L, D) library embedding vectors; lib_rows: (L,) their data rows.
    pred_vecs: (P, D) prediction vectors; pred_rows: (P,) their data rows.
    k: neighbours wanted.
    exclusion_radius: skip library rows with ``|pred_row - lib_row| <= radius``; with 0 only
        the prediction row itself is skipped.
    max_candidates: only the first ``max_candidates`` library rows by distance are
        considered before exclusions are applied (pyEDM S-map's over-query); None = all.
    tie_break: order ties by temporal proximity then row (pyEDM Simplex); False keeps
        ties in library order.

    Returns
    -------
    nbr: (P, k) data rows of the neighbours, nearest first.
    dist: (P, k) distances; ``inf`` where fewer than k valid neighbours exist (the row
        index there repeats the nearest neighbour and carries no weight).
    """
    lib_vecs = np.asarray(lib_vecs, float)
    pred_vecs = np.asarray(pred_vecs, float)
    lib_rows = np.asarray(lib_rows, np.int64)
    pred_rows = np.asarray(pred_rows, np.int64)
    n_lib = lib_rows.size
    kk = min(k, n_lib)
    nbr = np.empty((pred_rows.size, k), np.int64)
    dist = np.full((pred_rows.size, k), np.inf)
    step = max(1, _BLOCK // max(n_lib, 1))
    for a in range(0, pred_rows.size, step):
        b = min(a + step, pred_rows.size)
        d = pairwise_distances(pred_vecs[a:b], lib_vecs)
        pr = pred_rows[a:b, None]
        if max_candidates is not None and max_candidates < n_lib:
            kth = np.partition(d, max_candidates - 1, axis=1)[:, max_candidates - 1]
            beyond = d > kth[:, None]
        else:
            beyond = None
        if exclusion_radius > 0:
            excl = np.abs(pr - lib_rows[None, :]) <= exclusion_radius
        else:
            excl = pr == lib_rows[None, :]
        if beyond is not None:
            excl |= beyond
        dk = np.where(excl, np.inf, d)
        if tie_break and kk < n_lib:
            # only rows tied with or nearer than the k-th distance can be selected
            kth = np.partition(dk, kk - 1, axis=1)[:, kk - 1]
            r_i, c_i = np.nonzero(dk <= kth[:, None])
            dd = dk[r_i, c_i]
            lr = lib_rows[c_i]
            prox = np.abs(pred_rows[a:b][r_i] - lr)
            o = np.lexsort((lr, prox, dd, r_i))
            r_s, c_s = r_i[o], c_i[o]
            counts = np.bincount(r_s, minlength=b - a)
            start = np.concatenate([[0], np.cumsum(counts)[:-1]])
            sel = c_s[start[:, None] + np.arange(kk)[None, :]]
        elif tie_break:
            prox = np.abs(pr - lib_rows[None, :])
            rowk = np.broadcast_to(np.arange(b - a)[:, None], dk.shape)
            libk = np.broadcast_to(lib_rows[None, :], dk.shape)
            order = np.lexsort((libk.ravel(), prox.ravel(), dk.ravel(), rowk.ravel()))
            order = order.reshape(b - a, n_lib) - (np.arange(b - a) * n_lib)[:, None]
            sel = order[:, :kk]
        else:
            sel = np.argsort(dk, axis=1, kind="stable")[:, :kk]
        rr = np.arange(b - a)[:, None]
        dsel = dk[rr, sel]
        nsel = lib_rows[sel]
        bad = ~np.isfinite(dsel)
        nsel = np.where(bad, nsel[:, :1], nsel)
        nbr[a:b, :kk] = nsel
        dist[a:b, :kk] = dsel
        if kk < k:
            nbr[a:b, kk:] = nsel[:, :1]
    return nbr, dist
