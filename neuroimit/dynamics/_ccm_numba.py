"""Compiled (numba) CCM kernels: exact cross-map rho for many random libraries.

All give pyEDM 2.5.7's CCM numbers (same neighbours, same weights ``exp(-d / d_min)``,
zero distances weighted 1 and the rest 0 when ``d_min = 0``, NaN prediction with fewer
than ``k`` neighbours, Pearson rho over the predicted points):

``knn_order``  every point's K nearest other points, nearest first: a uniform grid
               searched ring by ring (D = 2, 3; cell side from a sample of K-th
               neighbour distances) or an outward scan of the sorted values (D = 1).
``walk_rho``   every point walks its ordering once for all libraries: each candidate
               row carries a bit set of the libraries holding it, so each (point,
               library) pair costs about k bit operations; pairs whose ordering ends
               first are done by brute force over their library (exact either way).
``brute_rho``  blocks of points against each member of a small library (vectorised
               distances, branch-free top-k).

Neighbours are ranked by (squared distance, row): equal distances go to the lower row,
in every kernel, so walk and brute force agree bit for bit.

Compiled on first use and cached on disk (``cache=True``); importing this module fails
cleanly when numba is missing, and the NumPy engine is used instead.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros

__all__ = ["walk_rho", "brute_rho"]

_EXP_M1 = math.exp(-1.0)


@njit(cache=True, nogil=True, inline="always")
def _brute_point(vecs, rows, lib, i, k, excl, nb, dk):
    """Top-k library members of point i by brute force (exclusion rules applied); returns
    how many were found, their rows in nb and distances in dk, nearest first.

    Squared distances are compared (as a KD-tree and :func:`knn_order` do) and only the
    k kept are square-rooted; ties keep the earlier library member (the lower row)."""
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
        # insertion into the sorted top-k
        if c == k:
            if not acc < dk[k - 1]:
                continue
            pos = k - 1
        else:
            pos = c
            c += 1
        while pos > 0 and dk[pos - 1] > acc:
            dk[pos] = dk[pos - 1]
            nb[pos] = nb[pos - 1]
            pos -= 1
        dk[pos] = acc
        nb[pos] = j
    for j in range(c):
        dk[j] = math.sqrt(dk[j])
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


@njit(cache=True)
def _row_masks(libs, M):
    """(M + 1, ceil(S / 64)) uint64: bit s of row o is set when library s holds row o
    (row M, "no candidate", is in none)."""
    S, L = libs.shape
    rm = np.zeros((M + 1, (S + 63) // 64), np.uint64)
    for s in range(S):
        bit = np.uint64(1) << np.uint64(s & 63)
        for jj in range(L):
            rm[libs[s, jj], s >> 6] |= bit
    return rm


@njit(cache=True, nogil=True)
def _rho_cols(P, Y, out, a, b):
    """Pearson r of columns a..b-1 of P (M, S * T) (column s * T + t: library s, target
    t) against Y (M, T), into out (S * T,): the arithmetic of :func:`_rho` (the same
    sums in the same order, so bit-identical), with points as the outer loop so a row's
    libraries are read contiguously, and branch-free so the column loop vectorises."""
    M = P.shape[0]
    T = Y.shape[1]
    nc = b - a
    n = np.zeros(nc)
    sp = np.zeros(nc)
    sa = np.zeros(nc)
    ycol = np.empty(nc)
    for i in range(M):
        row = P[i, a:b]
        if T == 1:
            ycol[:] = Y[i, 0]
        else:
            for c in range(nc):
                ycol[c] = Y[i, (a + c) % T]
        for c in range(nc):
            p = row[c]
            ok = (p - p) == 0.0  # finite
            n[c] += 1.0 if ok else 0.0
            sp[c] += p if ok else 0.0
            sa[c] += ycol[c] if ok else 0.0
    pm = np.empty(nc)
    am = np.empty(nc)
    for c in range(nc):
        pm[c] = sp[c] / n[c] if n[c] > 0 else 0.0
        am[c] = sa[c] / n[c] if n[c] > 0 else 0.0
    num = np.zeros(nc)
    vp = np.zeros(nc)
    va = np.zeros(nc)
    for i in range(M):
        row = P[i, a:b]
        if T == 1:
            ycol[:] = Y[i, 0]
        else:
            for c in range(nc):
                ycol[c] = Y[i, (a + c) % T]
        for c in range(nc):
            p = row[c]
            ok = (p - p) == 0.0
            # adding 0.0 leaves a sum unchanged
            dp = p - pm[c] if ok else 0.0
            da = ycol[c] - am[c] if ok else 0.0
            num[c] += dp * da
            vp[c] += dp * dp
            va[c] += da * da
    for c in range(nc):
        if n[c] < 3:
            out[a + c] = np.nan
        else:
            den = math.sqrt(vp[c] * va[c])
            out[a + c] = num[c] / den if den > 0 else 0.0


@njit(parallel=True, cache=True)
def _rho_all(pred, Y, groups):
    """(S, T) rho of pred (M, S, T), parallel over ``groups`` groups of columns (one per
    thread: each group sweeps all rows)."""
    M, S, T = pred.shape
    P = pred.reshape(M, S * T)
    C = S * T
    out = np.empty(C)
    bs = (C + groups - 1) // groups
    ng = (C + bs - 1) // bs  # every group non-empty
    for g in prange(ng):
        _rho_cols(P, Y, out, g * bs, min(C, (g + 1) * bs))
    return out.reshape(S, T)


@njit(cache=True, nogil=True, inline="always")
def _walk_members(O, rm, allset, i, k, S, act, cnt, qs):
    """Point i's walk: each candidate is handed to the libraries that hold it and are
    still short of k members; qs[s, :cnt[s]] = positions of library s's first members."""
    M, K = O.shape
    nw = rm.shape[1]
    cnt[:] = 0
    left = S
    for w in range(nw):
        act[w] = allset[w]
    for q in range(K):
        o = O[i, q]
        if o == M:
            break
        for w in range(nw):
            a = act[w]
            m = rm[o, w] & a
            base = w << 6
            while m:
                b = trailing_zeros(m)
                m &= m - np.uint64(1)
                s = base + b
                c = cnt[s]
                qs[s, c] = q
                c += 1
                cnt[s] = c
                # branch-free: a library completes on every k-th hand-off
                dn = np.uint64(c == k)
                a &= ~(dn << np.uint64(b))
                left -= np.int64(dn)
            act[w] = a
        if left == 0:
            break


@njit(cache=True, nogil=True, inline="always")
def _walk_absent(O, rm, allset, i, k, S, absm, cnt, qs):
    """Point i's walk for dense libraries: each candidate marks the libraries that do
    *not* hold it (bit q of absm[s]); the walk stops once the library missing most of
    the first Q candidates still has k members among them (Q <= 64). Then the first k
    members of every library are the first k clear bits of its mask. Same output as
    :func:`_walk_members` (cnt[s] < k only where the first min(K, 64) candidates hold
    too few, left to the brute-force fallback)."""
    M, K = O.shape
    nw = rm.shape[1]
    absm[:] = 0
    cnt[:] = 0  # here: candidates each library misses
    worst = 0
    Q = 0
    for q in range(min(K, 64)):
        o = O[i, q]
        if o == M:
            break
        Q = q + 1
        bit = np.uint64(1) << np.uint64(q)
        for w in range(nw):
            m = ~rm[o, w] & allset[w]
            base = w << 6
            while m:
                b = trailing_zeros(m)
                m &= m - np.uint64(1)
                s = base + b
                absm[s] |= bit
                c = cnt[s] + 1
                cnt[s] = c
                worst = max(worst, c)
        if Q - worst >= k:
            break
    full = np.uint64(0xFFFFFFFFFFFFFFFF) if Q == 64 else \
        (np.uint64(1) << np.uint64(Q)) - np.uint64(1)
    for s in range(S):
        m = ~absm[s] & full
        c = 0
        while m and c < k:
            qs[s, c] = trailing_zeros(m)
            m &= m - np.uint64(1)
            c += 1
        cnt[s] = c


@njit(parallel=True, cache=True)
def walk_rho(O, Dd, W, vecs, rows, Y, libs, k, excl, groups=1):
    """(S, T) rho. O: (M, K) int32 candidates per point, nearest first, M = no candidate;
    Dd: (M, K) their distances; W: :func:`weight_table` of Dd; vecs (M, D); rows (M,)
    int64; Y (M, T); libs (S, L); groups: column groups for the rho (the thread count).

    Points are the outer (parallel) loop. A point walks its ordering once; each candidate
    row carries a bit set of the libraries that hold it, ANDed with the libraries still
    short of k members, so every (point, library) pair costs k hand-offs however sparse
    the library; for dense libraries (L >= M / 2) the complement is walked instead (the
    libraries *missing* each candidate, :func:`_walk_absent`). Pairs whose ordering ends
    first are done by brute force over their
    library (exact either way). Predictions of the first-k pattern inside the weight
    window use per-point tables of w and w * y (bit-identical to the general path)."""
    S = libs.shape[0]
    M, K = O.shape
    T = Y.shape[1]
    rm = _row_masks(libs, M)
    nw = rm.shape[1]
    allset = np.empty(nw, np.uint64)
    for w in range(nw):
        nbits = min(64, S - 64 * w)
        allset[w] = np.uint64(0xFFFFFFFFFFFFFFFF) if nbits == 64 else \
            (np.uint64(1) << np.uint64(nbits)) - np.uint64(1)
    pred = np.empty((M, S, T))
    qw = min(_QW, K)
    # dense libraries: walk the libraries *missing* each candidate (fewer bits to visit)
    dense = 2 * libs.shape[1] >= M
    nchunk = min(M, 256)
    step = (M + nchunk - 1) // nchunk
    for ch in prange(nchunk):
        nb = np.empty(k, np.int64)
        dk = np.empty(k)
        wt = np.empty(k)
        cnt = np.empty(S, np.int64)
        qs = np.empty((S, k), np.int64)
        act = np.empty(nw, np.uint64)
        wy = np.zeros((_Q0, _QW))
        absm = np.empty(S, np.uint64)
        for i in range(ch * step, min(M, (ch + 1) * step)):
            if dense:
                _walk_absent(O, rm, allset, i, k, S, absm, cnt, qs)
            else:
                _walk_members(O, rm, allset, i, k, S, act, cnt, qs)
            if T == 1:
                for q0 in range(min(_Q0, K)):
                    for q in range(q0, qw):
                        o = O[i, q]
                        wy[q0, q] = W[i, q0, q] * Y[o, 0] if o < M else 0.0
            pi = pred[i]
            for s in range(S):
                c = cnt[s]
                if c == k:
                    q0 = qs[s, 0]
                    if q0 < _Q0 and qs[s, k - 1] < _QW and Dd[i, q0] > 0:
                        if T == 1:
                            # sum of w * y and of w in the general path's order
                            p = 0.0
                            ws = 0.0
                            for j in range(k):
                                p += wy[q0, qs[s, j]]
                                ws += W[i, q0, qs[s, j]]
                            pi[s, 0] = p / ws
                            continue
                        ws = 0.0
                        for j in range(k):
                            wt[j] = W[i, q0, qs[s, j]]
                            ws += wt[j]
                        for t in range(T):
                            p = 0.0
                            for j in range(k):
                                p += wt[j] * Y[O[i, qs[s, j]], t]
                            pi[s, t] = p / ws
                        continue
                    if T == 1 and Dd[i, q0] > 0:
                        # outside the window: the general path's sums, inline, with the
                        # table's weights where it has them (the same exps, bit-identical)
                        d0 = Dd[i, q0]
                        p = 0.0
                        ws = 0.0
                        for j in range(k):
                            q = qs[s, j]
                            if j == 0:
                                wj = _EXP_M1
                            elif q0 < _Q0 and q < _QW:
                                wj = W[i, q0, q]
                            else:
                                wj = math.exp(-Dd[i, q] / d0)
                            ws += wj
                            p += wj * Y[O[i, q], 0]
                        pi[s, 0] = p / ws
                        continue
                for j in range(c):
                    nb[j] = O[i, qs[s, j]]
                    dk[j] = Dd[i, qs[s, j]]
                if c < k:
                    c = _brute_point(vecs, rows, libs[s], i, k, excl, nb, dk)
                _predict_point(dk, nb, c, k, Y, wt, pi, s)
    return _rho_all(pred, Y, max(1, groups))


_BLOCK = 256  # points per block in brute_rho (its work arrays stay in L1)


@njit(parallel=True, cache=True)
def brute_rho(vecs, rows, Y, libs, k, excl):
    """(S, T) rho by brute force over each library (S, L) (small libraries).

    Blocks of points against one library member at a time, so the distance and top-k
    loops run over contiguous point arrays and vectorise: the candidate moves down the
    top-k, sorted by (squared distance, row), swapping with every entry after it
    (branch-free); the lower row comes first among equal distances, as in
    :func:`_brute_point`, with the same arithmetic (bit-identical results)."""
    S, L = libs.shape
    M, D = vecs.shape
    T = Y.shape[1]
    VT = np.ascontiguousarray(vecs.T)
    out = np.empty((S, T))
    for s in prange(S):
        lib = libs[s]
        pred = np.empty((M, T))
        bd = np.empty((k, _BLOCK))
        bj = np.empty((k, _BLOCK), np.int64)
        cd = np.empty(_BLOCK)
        cj = np.empty(_BLOCK, np.int64)
        nb = np.empty(k, np.int64)
        dk = np.empty(k)
        w = np.empty(k)
        for a in range(0, M, _BLOCK):
            nbk = min(M, a + _BLOCK) - a
            bd[:, :nbk] = np.inf
            bj[:, :nbk] = 0
            for jj in range(L):
                j = lib[jj]
                rj = rows[j]
                cd[:nbk] = 0.0
                for e in range(D):
                    xe = VT[e, j]
                    ve = VT[e, a:a + nbk]
                    for ii in range(nbk):
                        t = ve[ii] - xe
                        cd[ii] += t * t
                if excl > 0:
                    for ii in range(nbk):
                        if abs(rows[a + ii] - rj) <= excl:
                            cd[ii] = np.inf
                elif a <= j < a + nbk:
                    cd[j - a] = np.inf
                cj[:nbk] = j
                for p in range(k):
                    bdp = bd[p]
                    bjp = bj[p]
                    for ii in range(nbk):
                        x = cd[ii]
                        y = bdp[ii]
                        xj = cj[ii]
                        yj = bjp[ii]
                        # (distance, row) order: a displaced earlier row moving down
                        # must pass an equal later one
                        sw = x < y or (x == y and xj < yj)
                        bdp[ii] = x if sw else y
                        bjp[ii] = xj if sw else yj
                        cd[ii] = y if sw else x
                        cj[ii] = yj if sw else xj
            for ii in range(nbk):
                c = 0
                for p in range(k):
                    if bd[p, ii] < np.inf:
                        dk[p] = math.sqrt(bd[p, ii])
                        nb[p] = bj[p, ii]
                        c += 1
                _predict_point(dk, nb, c, k, Y, w, pred, a + ii)
        _rho(pred, Y, out, s)
    return out


@njit(cache=True, nogil=True, inline="always")
def _after(da, ja, db, jb):
    """(da, ja) sorts after (db, jb): larger distance, or equal distance and later row."""
    return da > db or (da == db and ja > jb)


@njit(cache=True, nogil=True, inline="always")
def _best_offer(hd, hj, n, K, acc, j):
    """Offer candidate (acc, j) to the sorted K-best list hd/hj[:n] (ascending by
    :func:`_after`); returns the new n. Candidates mostly arrive in rough distance order
    (rings, outward scans), so insertions land near the end and shift little."""
    if n == K:
        if not _after(hd[K - 1], hj[K - 1], acc, j):
            return n
        pos = K - 1
    else:
        pos = n
        n += 1
    while pos > 0 and _after(hd[pos - 1], hj[pos - 1], acc, j):
        hd[pos] = hd[pos - 1]
        hj[pos] = hj[pos - 1]
        pos -= 1
    hd[pos] = acc
    hj[pos] = j
    return n


@njit(cache=True, nogil=True, inline="always")
def _best_out(hd, hj, n, O, Dd, i):
    """Write the list's n entries (already nearest first) to O[i], Dd[i]."""
    for r in range(n):
        O[i, r] = hj[r]
        Dd[i, r] = math.sqrt(hd[r])


@njit(cache=True, nogil=True)
def _scan_one(p, perm, SV, rows, K, excl, ax, hd, hj):
    """K best (squared distance, row) of the point at sorted position p, by scanning
    outwards along coordinate ax of the sorted points SV until the gap along ax alone
    exceeds the K-th distance (the gap is one of the distance's summands, so the stop is
    exact). Returns the number kept in the sorted list hd/hj."""
    M, D = SV.shape
    i = perm[p]
    ri = rows[i]
    n = 0
    lo = p - 1
    hi = p + 1
    xa = SV[p, ax]
    while True:
        gl = xa - SV[lo, ax] if lo >= 0 else np.inf
        gh = SV[hi, ax] - xa if hi < M else np.inf
        if gl <= gh:
            g = gl
            idx = lo
            lo -= 1
        else:
            g = gh
            idx = hi
            hi += 1
        if g == np.inf:
            break
        if n == K and g * g > hd[K - 1]:
            break
        j = perm[idx]
        if excl > 0:
            if abs(rows[j] - ri) <= excl:
                continue
        elif j == i:
            continue
        acc = 0.0
        for e in range(D):
            t = SV[p, e] - SV[idx, e]
            acc += t * t
        n = _best_offer(hd, hj, n, K, acc, j)
    return n


@njit(parallel=True, cache=True)
def _knn_scan(perm, SV, rows, K, excl, ax):
    M = SV.shape[0]
    O = np.full((M, K), M, np.int32)
    Dd = np.full((M, K), np.inf)
    nchunk = min(M, 256)
    step = (M + nchunk - 1) // nchunk
    for ch in prange(nchunk):
        hd = np.empty(K)
        hj = np.empty(K, np.int64)
        for p in range(ch * step, min(M, (ch + 1) * step)):
            n = _scan_one(p, perm, SV, rows, K, excl, ax, hd, hj)
            _best_out(hd, hj, n, O, Dd, perm[p])
    return O, Dd


@njit(parallel=True, cache=True)
def _knn_grid(vecs, rows, K, excl, h):
    """Exact K nearest by a uniform grid of cell side h (D <= 3): each point searches
    rings of cells around its own until every unvisited cell lies farther than its K-th
    distance (with a margin for the rounding of cell assignment)."""
    M, D = vecs.shape
    mn = np.zeros(3)
    mx = np.zeros(3)
    G = np.ones(3, np.int64)
    for e in range(D):
        mn[e] = vecs[:, e].min()
        mx[e] = vecs[:, e].max()
        G[e] = int((mx[e] - mn[e]) / h) + 1
    margin = 1e-9 * (np.abs(mn).max() + np.abs(mx).max() + h)
    ncell = G[0] * G[1] * G[2]
    cell = np.empty(M, np.int64)
    cc = np.zeros((M, 3), np.int64)
    for i in range(M):
        for e in range(D):
            c = int((vecs[i, e] - mn[e]) / h)
            cc[i, e] = min(G[e] - 1, max(0, c))
        cell[i] = (cc[i, 0] * G[1] + cc[i, 1]) * G[2] + cc[i, 2]
    start = np.zeros(ncell + 1, np.int64)
    for i in range(M):
        start[cell[i] + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    pts = np.empty(M, np.int64)
    SV = np.zeros((M, 3))
    for i in range(M):  # stable: rows ascending inside a cell
        q = fill[cell[i]]
        pts[q] = i
        for e in range(D):
            SV[q, e] = vecs[i, e]
        fill[cell[i]] = q + 1
    O = np.full((M, K), M, np.int32)
    Dd = np.full((M, K), np.inf)
    rmax = max(G[0], max(G[1], G[2]))
    nchunk = min(M, 256)
    step = (M + nchunk - 1) // nchunk
    for ch in prange(nchunk):
        hd = np.empty(K)
        hj = np.empty(K, np.int64)
        x = np.zeros(3)
        for i in range(ch * step, min(M, (ch + 1) * step)):
            ri = rows[i]
            for e in range(D):
                x[e] = vecs[i, e]
            c0 = cc[i, 0]
            c1 = cc[i, 1]
            c2 = cc[i, 2]
            n = 0
            for r in range(rmax + 1):
                a0 = max(0, c0 - r)
                b0 = min(G[0] - 1, c0 + r)
                a1 = max(0, c1 - r)
                b1 = min(G[1] - 1, c1 + r)
                a2 = max(0, c2 - r)
                b2 = min(G[2] - 1, c2 + r)
                for i0 in range(a0, b0 + 1):
                    e0 = abs(i0 - c0) == r
                    for i1 in range(a1, b1 + 1):
                        e1 = e0 or abs(i1 - c1) == r
                        for i2 in range(a2, b2 + 1):
                            if not (e1 or abs(i2 - c2) == r):
                                continue  # inside the box searched already
                            cid = (i0 * G[1] + i1) * G[2] + i2
                            for q in range(start[cid], start[cid + 1]):
                                j = pts[q]
                                if excl > 0:
                                    if abs(rows[j] - ri) <= excl:
                                        continue
                                elif j == i:
                                    continue
                                acc = 0.0
                                for e in range(D):
                                    t = x[e] - SV[q, e]
                                    acc += t * t
                                n = _best_offer(hd, hj, n, K, acc, j)
                # distance from the point to the nearest cell outside the searched box
                gap = np.inf
                for e in range(D):
                    ce = cc[i, e]
                    if ce - r > 0:
                        gap = min(gap, x[e] - (mn[e] + (ce - r) * h))
                    if ce + r < G[e] - 1:
                        gap = min(gap, mn[e] + (ce + r + 1) * h - x[e])
                if gap == np.inf:
                    break  # the box holds every cell
                gap -= margin
                if n == K and gap > 0 and gap * gap > hd[K - 1]:
                    break
            _best_out(hd, hj, n, O, Dd, i)
    return O, Dd


@njit(cache=True)
def _sorted_along(vecs):
    """(axis of largest variance, stable order along it, the sorted vectors)."""
    M, D = vecs.shape
    ax = 0
    best = -1.0
    for e in range(D):
        v = np.var(vecs[:, e])
        if v > best:
            best = v
            ax = e
    perm = np.argsort(vecs[:, ax], kind="mergesort")
    SV = np.empty((M, D))
    for p in range(M):
        for e in range(D):
            SV[p, e] = vecs[perm[p], e]
    return ax, perm, SV


@njit(cache=True)
def _typical_kth_distance(perm, SV, rows, K, excl, ax, nsample):
    """Median K-th neighbour distance over an evenly spaced sample of points."""
    M = SV.shape[0]
    hd = np.empty(K)
    hj = np.empty(K, np.int64)
    out = np.empty(nsample)
    m = 0
    for t in range(nsample):
        p = (2 * t + 1) * M // (2 * nsample)
        n = _scan_one(p, perm, SV, rows, K, excl, ax, hd, hj)
        if n > 0:
            out[m] = math.sqrt(hd[n - 1])
            m += 1
    if m == 0:
        return 0.0
    return np.median(out[:m])


def knn_order(vecs, rows, K, excl, cell_factor=1.0):
    """(O (M, K) int32, Dd (M, K)): every point's K nearest other points, nearest first
    (ties: lower row first), rows within ``excl`` of the point's row (itself when
    excl = 0) left out; O = M and Dd = inf past the last candidate. Squared distances are
    compared, as a KD-tree does.

    D = 1: a scan outwards along the sorted values. D = 2, 3: a uniform grid whose cell
    side is ``cell_factor`` times the median K-th neighbour distance of a sample of points
    (so a point's K nearest mostly lie in the 3^D cells around it), searched ring by ring.
    Exact either way."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    M, D = vecs.shape
    K = int(K)
    ax, perm, SV = _sorted_along(vecs)
    if D == 1 or M < 4 * K:
        return _knn_scan(perm, SV, rows, K, int(excl), ax)
    h = _typical_kth_distance(perm, SV, rows, K, int(excl), ax, min(M, 64)) * cell_factor
    span = float(np.max(vecs.max(axis=0) - vecs.min(axis=0)))
    # at most ~4 cells per point and 2^22 cells in all
    h = max(h, span / (4.0 * M) ** (1.0 / D), span / float(1 << 22) ** (1.0 / D))
    if not np.isfinite(h) or h <= 0:
        return _knn_scan(perm, SV, rows, K, int(excl), ax)
    return _knn_grid(vecs, rows, K, int(excl), h)
