"""Compiled (numba) CCM kernels: exact cross-map rho for many random libraries.

Two kernels, both parallel over libraries (``prange``), both giving pyEDM 2.5.7's CCM
numbers (same neighbours, same weights ``exp(-d / d_min)``, zero distances weighted 1 and
the rest 0 when ``d_min = 0``, NaN prediction with fewer than ``k`` neighbours, Pearson rho
over the predicted points):

``walk_rho``   every point walks its precomputed neighbour ordering over the whole data
               set (nearest first, excluded rows already removed) and keeps the first
               ``k`` library members; when the ordering runs out first, the point is done
               by brute force over its library (exact either way).
``brute_rho``  distances from every point to every library member, top ``k`` kept by
               insertion (small libraries, where a walk would be long).

Ties between equal distances go to the earlier candidate (the ordering's order, or the
lower data row for brute force), as the NumPy engine does.

Compiled on first use and cached on disk (``cache=True``); importing this module fails
cleanly when numba is missing, and the NumPy engine is used instead.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["walk_rho", "brute_rho"]

_EXP_M1 = math.exp(-1.0)


@njit(cache=True, nogil=True, inline="always")
def _brute_point(vecs, rows, lib, i, k, excl, nb, dk):
    """Top-k library members of point i by brute force (exclusion rules applied)."""
    c = 0
    D = vecs.shape[1]
    ri = rows[i]
    for jj in range(lib.shape[0]):
        j = lib[jj]
        if excl > 0:
            if abs(rows[j] - ri) <= excl:
                continue
        elif j == i:
            continue
        acc = 0.0
        for e in range(D):
            t = vecs[i, e] - vecs[j, e]
            acc += t * t
        d = math.sqrt(acc)
        # insertion into the sorted top-k; ties keep the earlier (lower row) first
        if c == k:
            if not d < dk[k - 1]:
                continue
            pos = k - 1
        else:
            pos = c
            c += 1
        while pos > 0 and dk[pos - 1] > d:
            dk[pos] = dk[pos - 1]
            nb[pos] = nb[pos - 1]
            pos -= 1
        dk[pos] = d
        nb[pos] = j
    return c


@njit(cache=True, nogil=True, inline="always")
def _predict_point(dk, nb, c, k, Y, w, pred, i):
    """pyEDM CCM simplex prediction of point i into pred[i, :] (NaN when c < k)."""
    T = Y.shape[1]
    if c < k:
        for t in range(T):
            pred[i, t] = np.nan
        return
    d0 = dk[0]
    ws = 0.0
    for j in range(k):
        if d0 > 0:
            # dk[0] / d0 is exactly 1: skip one exp per point
            w[j] = _EXP_M1 if j == 0 else math.exp(-dk[j] / d0)
        else:
            w[j] = 1.0 if dk[j] == 0.0 else 0.0
        ws += w[j]
    for t in range(T):
        p = 0.0
        for j in range(k):
            p += w[j] * Y[nb[j], t]
        pred[i, t] = p / ws


@njit(cache=True, nogil=True)
def _rho(pred, Y, out, s):
    """Pearson r over points with a prediction (pyEDM's conventions: NaN with < 3 pairs,
    0 without spread), two-pass like the NumPy engine."""
    M, T = pred.shape
    for t in range(T):
        n = 0
        sp = 0.0
        sa = 0.0
        for i in range(M):
            p = pred[i, t]
            if np.isfinite(p):
                n += 1
                sp += p
                sa += Y[i, t]
        if n < 3:
            out[s, t] = np.nan
            continue
        pm = sp / n
        am = sa / n
        num = 0.0
        vp = 0.0
        va = 0.0
        for i in range(M):
            p = pred[i, t]
            if np.isfinite(p):
                dp = p - pm
                da = Y[i, t] - am
                num += dp * da
                vp += dp * dp
                va += da * da
        den = math.sqrt(vp * va)
        out[s, t] = num / den if den > 0 else 0.0


#: weight table depth: first-member position < _Q0, member position < _QW
_Q0 = 4
_QW = 16


@njit(parallel=True, cache=True)
def weight_table(Dd):
    """(M, _Q0, _QW) exp(-Dd[i, q] / Dd[i, q0]) (the same arithmetic as the kernels, so
    bit-identical): most walks end inside this window and skip the exps."""
    M, K = Dd.shape
    W = np.zeros((M, _Q0, _QW))
    for i in prange(M):
        for q0 in range(min(_Q0, K)):
            d0 = Dd[i, q0]
            if d0 > 0 and np.isfinite(d0):
                for q in range(q0, min(_QW, K)):
                    W[i, q0, q] = math.exp(-Dd[i, q] / d0)
    return W


@njit(parallel=True, cache=True)
def walk_rho(O, Dd, W, vecs, rows, Y, libs, k, excl):
    """(S, T) rho. O: (M, K) int32 candidates per point, nearest first, M = no candidate;
    Dd: (M, K) their distances; W: :func:`weight_table` of Dd; vecs (M, D); rows (M,)
    int64; Y (M, T); libs (S, L).

    Points are the outer (parallel) loop: a point walks its ordering once and hands each
    candidate to the libraries that hold it, until every library has k members (or the
    ordering ends: exact brute-force fallback over that library)."""
    S = libs.shape[0]
    M, K = O.shape
    T = Y.shape[1]
    # libraries holding each row (CSR): a point's walk visits each candidate once and
    # hands it to the libraries that contain it
    ptr = np.zeros(M + 2, np.int64)
    for s in range(S):
        for jj in range(libs.shape[1]):
            ptr[libs[s, jj] + 2] += 1
    for o in range(M + 1):
        ptr[o + 1] += ptr[o]
    idx = np.empty(S * libs.shape[1], np.int64)
    for s in range(S):
        for jj in range(libs.shape[1]):
            o = libs[s, jj] + 1
            idx[ptr[o]] = s
            ptr[o] += 1
    # now ptr[o] .. ptr[o + 1] are the libraries of row o
    pred = np.empty((S, M, T))
    nchunk = min(M, 256)
    step = (M + nchunk - 1) // nchunk
    for ch in prange(nchunk):
        nb = np.empty(k, np.int64)
        qp = np.empty(k, np.int64)
        dk = np.empty(k)
        w = np.empty(k)
        cnt = np.empty(S, np.int64)
        qs = np.empty((S, k), np.int64)
        for i in range(ch * step, min(M, (ch + 1) * step)):
            cnt[:] = 0
            done = 0
            for q in range(K):
                o = O[i, q]
                if o == M:
                    break
                for pp in range(ptr[o], ptr[o + 1]):
                    s = idx[pp]
                    c = cnt[s]
                    if c < k:
                        qs[s, c] = q
                        cnt[s] = c + 1
                        if c + 1 == k:
                            done += 1
                if done == S:
                    break
            for s in range(S):
                c = cnt[s]
                for j in range(c):
                    qp[j] = qs[s, j]
                    nb[j] = O[i, qp[j]]
                    dk[j] = Dd[i, qp[j]]
                if c == k and dk[0] > 0 and qp[0] < _Q0 and qp[k - 1] < _QW:
                    ws = 0.0
                    for j in range(k):
                        w[j] = W[i, qp[0], qp[j]]
                        ws += w[j]
                    for t in range(T):
                        p = 0.0
                        for j in range(k):
                            p += w[j] * Y[nb[j], t]
                        pred[s, i, t] = p / ws
                    continue
                if c < k:
                    c = _brute_point(vecs, rows, libs[s], i, k, excl, nb, dk)
                _predict_point(dk, nb, c, k, Y, w, pred[s], i)
    out = np.empty((S, T))
    for s in prange(S):
        _rho(pred[s], Y, out, s)
    return out


@njit(parallel=True, cache=True)
def brute_rho(vecs, rows, Y, libs, k, excl):
    """(S, T) rho by brute force over each library (S, L) (small libraries)."""
    S = libs.shape[0]
    M = vecs.shape[0]
    T = Y.shape[1]
    out = np.empty((S, T))
    for s in prange(S):
        lib = libs[s]
        nb = np.empty(k, np.int64)
        dk = np.empty(k)
        w = np.empty(k)
        pred = np.empty((M, T))
        for i in range(M):
            c = _brute_point(vecs, rows, lib, i, k, excl, nb, dk)
            _predict_point(dk, nb, c, k, Y, w, pred, i)
        _rho(pred, Y, out, s)
    return out
