"""Exact cross-map skill over many random libraries (the CCM inner loop).

For one embedding (M valid points) and a set of random libraries, every point is
predicted from its k nearest neighbours *inside the library* (itself and rows within the
exclusion radius skipped), with pyEDM 2.5.7's CCM weights, and Pearson rho is taken over
all M points, per library.

With numba installed (the default), "auto" runs the compiled kernels of
:mod:`neuroimit.dynamics._ccm_numba`: one exact neighbour ordering per point (a grid
search for E <= 3, a KD-tree above), one depth shared by every library size
(:func:`numba_depth`), walked for all libraries at once with per-row library bit sets
(exact brute-force fallback), or blocked brute force for tiny libraries; parallel on idle
cores only. Neighbours are ranked by (squared distance, row): ties go to the lower row.
Without numba (or with an explicit NumPy strategy) three exact
NumPy strategies are picked by a cost model:

``order``  One neighbour ordering per point over the whole data set (a single KD-tree
           query, K candidates), then for every library the first k candidates that are
           library members (a gather + cumulative sum, JAX-jitted, vmapped over
           libraries). Points whose K candidates hold fewer than k members are completed
           by a brute-force search over their library (rare by the choice of K).
``brute``  All point-to-library distances and a top-k (JAX), for small libraries.
``kdtree`` A KD-tree on each library (scipy), as pyEDM does, for mid-size libraries on
           large data where neither of the above pays.

All three give the same neighbours (up to exact distance ties) and the same rho.
Computations run in float64 (``jax.enable_x64`` locally, the global JAX setting is left
alone).
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import binom

__all__ = ["CrossMapData", "cross_map_rho", "pyedm_libraries", "choose_strategy"]

#: largest embedding dimension for the compiled sorted-scan neighbour ordering (a KD-tree
#: above it)
_SCAN_MAX_D = 3

#: elements per JAX batch (libraries x points x candidates) to bound memory (~1 GB peak)
_BATCH_ELEMS = 12_000_000


@dataclass
class CrossMapData:
    """Valid points of one direction.

    vecs: (M, D) embedding vectors; rows: (M,) their data rows (for the exclusion radius);
    Y: (M, T) targets ``Tp`` steps ahead of each point (T = 1 for a pair, C for a matrix).
    """

    vecs: np.ndarray
    rows: np.ndarray
    Y: np.ndarray
    _order: tuple | None = None

    @property
    def M(self) -> int:
        return self.vecs.shape[0]

    def byte_table(self, k: int, excl: int, Kp: int) -> np.ndarray:
        """Cached :func:`_byte_table` of the current ordering."""
        key = (k, excl)
        if getattr(self, "_table", None) is not None and self._table[0] == key:
            return self._table[1]
        O, Dd = self._order[2], self._order[3]
        Yx = np.concatenate([self.Y, np.full((1, self.Y.shape[1]), np.nan)])
        Oc = np.where(np.isfinite(Dd[:, :8]), O[:, :8], self.M)
        tbl = _byte_table(Oc, Dd[:, :8], Yx, k)
        self._table = (key, tbl)
        return tbl

    def ordering(self, K: int, excl: int):
        """(O (M, K) int, Dist (M, K), complete: bool): nearest non-excluded candidates."""
        if self._order is not None and self._order[0] >= K and self._order[1] == excl:
            Kc, _, O, Dd, complete = self._order
            return O[:, :K], Dd[:, :K], complete and Kc == K
        M = self.M
        q = min(M, K + 1 + 2 * excl)
        nk = numba_kernels()
        if nk is not None and self.vecs.shape[1] <= _SCAN_MAX_D:
            with kernel_threads(float(M) * K * 4):
                O, Dd = nk.knn_order(np.ascontiguousarray(self.vecs, dtype=np.float64),
                                     np.ascontiguousarray(self.rows, dtype=np.int64),
                                     int(K), int(excl))
            self._order = (K, excl, O, Dd, q >= M)
            return O, Dd, q >= M
        tree = cKDTree(self.vecs)
        d, o = tree.query(self.vecs, k=q, workers=-1)
        if q == 1:
            d, o = d[:, None], o[:, None]
        bad = np.abs(self.rows[o] - self.rows[:, None]) <= excl if excl > 0 else \
            (o == np.arange(M)[:, None])
        good = ~bad
        pos = np.argsort(~good, axis=1, kind="stable")[:, :K]
        rr = np.arange(M)[:, None]
        O = o[rr, pos]
        Dd = np.where(good[rr, pos], d[rr, pos], np.inf)
        if Dd.shape[1] < K:
            pad = K - Dd.shape[1]
            O = np.pad(O, ((0, 0), (0, pad)))
            Dd = np.pad(Dd, ((0, 0), (0, pad)), constant_values=np.inf)
        complete = q >= M
        self._order = (K, excl, O.astype(np.int32), Dd, complete)
        return O.astype(np.int32), Dd, complete


def _byte_table(O: np.ndarray, Dd: np.ndarray, Y: np.ndarray, k: int) -> np.ndarray:
    """(M*256,) prediction of each point for every membership pattern of its first 8
    candidates (NaN for patterns with fewer than k members)."""
    M = O.shape[0]
    out = np.full((M, 256), np.nan)
    valid = _POPCNT >= k
    vals = np.flatnonzero(valid)
    pos = _FIRST[vals][:, :k]                      # (V, k)
    step = max(1, 2_000_000 // (vals.size * k))
    for a in range(0, M, step):
        b = min(a + step, M)
        d = Dd[a:b][:, pos]                        # (m, V, k)
        y = Y[O[a:b]][:, :, 0][:, pos]             # (m, V, k)
        d0 = d[..., :1]
        with np.errstate(invalid="ignore", over="ignore"):
            w = np.where(d0 > 0, np.exp(-d / np.where(d0 > 0, d0, 1.0)),
                         (d == 0).astype(float))
        w = np.where(np.isfinite(d), w, 0.0)
        ws = w.sum(axis=2)
        p = (w * y).sum(axis=2) / np.where(ws > 0, ws, 1.0)
        p[~np.isfinite(d[..., k - 1])] = np.nan
        out[a:b, vals] = p
    return out.ravel()


_LIB_CACHE: dict = {}


def pyedm_libraries(M: int, L: int, S: int, seed: int | None) -> np.ndarray:
    """(S, L) sorted random libraries drawn as pyEDM 2.5.7 draws them.

    pyEDM seeds every (direction, library size) task with ``SeedSequence(seed)`` and draws
    ``rng.choice(M, L, replace=False)`` per sample, so the same seed gives the same
    libraries here and there. Seeded draws are memoised (read-only arrays): both CCM
    directions and every target of a matrix reuse them.
    """
    if seed is not None:
        key = (int(M), int(L), int(S), seed)
        hit = _LIB_CACHE.get(key)
        if hit is None:
            if len(_LIB_CACHE) > 64:
                _LIB_CACHE.clear()
            hit = _draw_libraries(M, L, S, seed)
            hit.flags.writeable = False
            _LIB_CACHE[key] = hit
        return hit
    return _draw_libraries(M, L, S, seed)


def _draw_libraries(M: int, L: int, S: int, seed) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    out = np.empty((S, L), np.int64)
    for s in range(S):
        out[s] = np.sort(rng.choice(M, size=L, replace=False))
    return out


def independent_libraries(M: int, L: int, S: int, rng: np.random.Generator) -> np.ndarray:
    """(S, L) sorted random libraries from one generator (independent across sizes)."""
    out = np.empty((S, L), np.int64)
    for s in range(S):
        out[s] = np.sort(rng.choice(M, size=L, replace=False))
    return out


# --------------------------------------------------------------------------- weights / rho
def _ccm_weights_np(dist: np.ndarray) -> np.ndarray:
    """pyEDM CCM weights for (..., k) distances sorted ascending (inf = missing)."""
    dmin = dist[..., :1]
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.where(dmin > 0, np.exp(-dist / np.where(dmin > 0, dmin, 1.0)),
                     (dist == 0).astype(float))
    w = np.where(np.isfinite(dist), w, 0.0)
    s = w.sum(axis=-1, keepdims=True)
    return w / np.where(s > 0, s, 1.0)


def rho_over_points(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Pearson r over points for each library and target.

    pred: (B, M, T) (NaN = no prediction); actual: (M, T). Returns (B, T): NaN with fewer
    than 3 pairs, 0 when either side has no spread (pyEDM's convention).
    """
    ok = np.isfinite(pred)
    n = ok.sum(axis=1)  # (B, T)
    a = np.broadcast_to(actual[None], pred.shape)
    p0 = np.where(ok, pred, 0.0)
    a0 = np.where(ok, a, 0.0)
    nn = np.maximum(n, 1)
    pm = p0.sum(axis=1) / nn
    am = a0.sum(axis=1) / nn
    pc = np.where(ok, p0 - pm[:, None, :], 0.0)
    ac = np.where(ok, a0 - am[:, None, :], 0.0)
    num = (pc * ac).sum(axis=1)
    den = np.sqrt((pc * pc).sum(axis=1) * (ac * ac).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.where(n >= 3, r, np.nan)


# --------------------------------------------------------------------------- bit tables
#: number of set bits of each byte value
_POPCNT = np.array([bin(v).count("1") for v in range(256)], np.int64)
#: _FIRST[v, j] = position of the (j+1)-th set bit of byte v (8 when absent)
_FIRST = np.full((256, 8), 8, np.int64)
for _v in range(256):
    _pos = [b for b in range(8) if _v >> b & 1]
    _FIRST[_v, :len(_pos)] = _pos


def _brute_rows(data: CrossMapData, lib: np.ndarray, rows_i: np.ndarray, k: int, excl: int):
    """(nbr, dist) (len(rows_i), k) by brute force over one library (inf = missing)."""
    from .neighbors import pairwise_distances
    d = pairwise_distances(data.vecs[rows_i], data.vecs[lib])
    bad = np.abs(data.rows[rows_i][:, None] - data.rows[lib][None, :]) <= excl if excl > 0 \
        else rows_i[:, None] == lib[None, :]
    d = np.where(bad, np.inf, d)
    kk = min(k, lib.size)
    if kk < lib.size:
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(lib.size), d.shape)
    dp = np.take_along_axis(d, part, axis=1)
    o = np.lexsort((part, dp), axis=1) if dp.size else part
    pos = np.take_along_axis(part, o, axis=1)
    dist = np.take_along_axis(d, pos, axis=1)
    nbr = lib[pos]
    if kk < k:
        dist = np.pad(dist, ((0, 0), (0, k - kk)), constant_values=np.inf)
        nbr = np.pad(nbr, ((0, 0), (0, k - kk)))
    return np.where(np.isfinite(dist), nbr, 0), dist


def _predict(data: CrossMapData, nbr: np.ndarray, dist: np.ndarray, k: int) -> np.ndarray:
    """(..., T) predictions from (..., k) neighbours; NaN where fewer than k exist."""
    return _predict_from(dist, data.Y[nbr], k)


def _predict_from(dist: np.ndarray, yv: np.ndarray, k: int) -> np.ndarray:
    """(P, T) predictions from (P, k) sorted distances and (P, k, T) neighbour targets."""
    d0 = dist[:, :1]
    if np.all(d0 > 0):
        w = np.exp(-dist / d0)          # inf distances -> weight 0
    else:
        w = _ccm_weights_np(dist)
    wsum = w.sum(axis=1, keepdims=True)
    if yv.shape[-1] == 1:
        p = (w * yv[..., 0]).sum(axis=1, keepdims=True)
    else:
        p = np.einsum("pk,pkt->pt", w, yv)
    with np.errstate(invalid="ignore", divide="ignore"):
        p /= wsum
    p[~np.isfinite(dist[:, k - 1])] = np.nan
    return p


_MAGIC = np.uint64(0x0102040810204080)  # 8 bytes of 0/1 -> one byte of bits (little)
_S56 = np.uint64(56)
_WIDE = 16  # candidates per step after the first 8


def _pack_bits(member: np.ndarray) -> np.ndarray:
    """(A, w <= 64) bool -> (A,) uint64 with bit j = member[:, j]."""
    A, w = member.shape
    wp = (w + 7) // 8 * 8
    m = np.zeros((A, wp), bool)
    m[:, :w] = member
    by = (m.view(np.uint64) * _MAGIC) >> _S56                              # (A, wp/8)
    bits = by[:, 0].copy()
    for q in range(1, wp // 8):
        bits |= by[:, q] << np.uint64(8 * q)
    return bits


def _run_order(data: CrossMapData, libs: np.ndarray, k: int, excl: int, K: int):
    """First k library members along each point's neighbour ordering, 8 candidates at a
    time (8 membership bytes turned into one bit byte by a multiply, set bits read from
    lookup tables).

    The first block is done densely for every (library, point) pair; the pairs that hold
    fewer than k members among their first 8 candidates continue sparsely, and pairs
    still short after K candidates are completed by brute force over their library.
    """
    O, Dd, complete = data.ordering(K, excl)
    M = data.M
    T = data.Y.shape[1]
    S = libs.shape[0]
    B = max(1, min(S, 2_000_000 // max(M * (1 + (T - 1) // 2), 1)))  # bound (B*M, k, T) memory
    preds = np.empty((S, M, T))
    nblk = (K + 7) // 8
    if K % 8:
        O = np.pad(O, ((0, 0), (0, 8 * nblk - K)))
        Dd = np.pad(Dd, ((0, 0), (0, 8 * nblk - K)), constant_values=np.inf)
    Kp = O.shape[1]
    fin = np.isfinite(Dd)
    O = np.where(fin, O, M)  # index M = the always-false mask slot (no candidate)
    Oflat = np.ascontiguousarray(O, dtype=np.int32).ravel()
    Dflat = np.ascontiguousarray(Dd).ravel()
    Yx = np.concatenate([data.Y, np.zeros((1, T))])
    YOflat = Yx[O].reshape(M * Kp, T)
    O8 = np.ascontiguousarray(O[:, :8], dtype=np.int32)
    rowoff = (np.arange(M, dtype=np.int32) * Kp)[None, :]
    first = _FIRST.astype(np.int32)
    first[first == 8] = 7  # absent slots read a harmless candidate, overwritten later
    # the per-point table pays when many libraries reuse it (building it costs ~M*650)
    table = data.byte_table(k, excl, Kp) if T == 1 and M <= 20_000 else None
    tbl_off = (np.arange(M, dtype=np.intp) * 256)[None, :]
    for a in range(0, S, B):
        b = min(a + B, S)
        nb = b - a
        masks = np.zeros((nb, M + 1), bool)
        sub = libs[a:b]
        masks[np.repeat(np.arange(nb), sub.shape[1]), sub.ravel()] = True
        member = np.ascontiguousarray(masks[:, O8])                        # (nb, M, 8)
        byte = (member.view(np.uint64)[..., 0] * _MAGIC) >> _S56           # (nb, M)
        byte = byte.astype(np.intp)
        if table is not None:
            # prediction is a function of (point, membership byte) when >= k members
            p0 = table[byte + tbl_off]                                     # (nb, M)
            cnt = np.where(np.isnan(p0), 0, k).ravel()
            dist = np.empty((nb * M, k))
            yv = np.empty((nb * M, k, T))
            pflat = p0.reshape(nb * M, 1)
        else:
            cnt = _POPCNT[byte]
            dist = np.empty((nb, M, k))
            yv = np.empty((nb, M, k, T))
            for j in range(k):
                flat = rowoff + first[byte, j]
                dist[..., j] = Dflat[flat]
                yv[:, :, j, :] = YOflat[flat]
            dist = dist.reshape(nb * M, k)
            yv = yv.reshape(nb * M, k, T)
            cnt = cnt.ravel()
            pflat = None
        act = np.flatnonzero(cnt < k)
        if act.size:
            if table is not None:  # redo short pairs from the first block, sparsely
                s_ = act // M
                i_ = act - s_ * M
                b0 = (byte.ravel()[act])
                c0 = _POPCNT[b0]
                for j in range(k):
                    flat = i_ * Kp + _FIRST[b0, j]
                    dist[act, j] = np.where(c0 > j, Dflat[np.minimum(flat, M * Kp - 1)], np.inf)
                    yv[act, j] = YOflat[np.minimum(flat, M * Kp - 1)]
                cnt = np.full(nb * M, k, np.int64)
                cnt[act] = c0
            need = k - np.minimum(cnt, k)
            # slots past the members found so far are not neighbours yet
            short = np.arange(k)[None, :] >= cnt[act, None]
            dsub = dist[act]
            dsub[short] = np.inf
            dist[act] = dsub
            mflat = masks.ravel()
            for start in range(8, Kp, _WIDE):
                if act.size == 0:
                    break
                w = min(_WIDE, Kp - start)
                s_ = act // M
                i_ = act - s_ * M
                base = i_ * Kp + start
                Ob = Oflat[base[:, None] + np.arange(w)[None, :]]
                member = mflat[(s_ * (M + 1))[:, None] + Ob]
                bits = _pack_bits(member)
                bcnt = np.bitwise_count(bits).astype(np.int64)
                nd = need[act]
                take = np.minimum(bcnt, nd)
                filled = k - nd
                for j in range(k):
                    sel = np.flatnonzero(take > j)
                    if sel.size == 0:
                        break
                    bsel = bits[sel]
                    low = bsel & (~bsel + np.uint64(1))
                    bits[sel] = bsel ^ low
                    pos = np.frexp(low.astype(np.float64))[1] - 1
                    flat = base[sel] + pos
                    rows = act[sel]
                    slot = filled[sel] + j
                    dist[rows, slot] = Dflat[flat]
                    yv[rows, slot] = YOflat[flat]
                nd = nd - take
                need[act] = nd
                act = act[nd > 0]
            if act.size and not complete:
                s_ = act // M
                for s in np.unique(s_):
                    rows = act[s_ == s]
                    n2, d2 = _brute_rows(data, libs[a + s], rows - s * M, k, excl)
                    dist[rows] = d2
                    yv[rows] = data.Y[n2]
        if pflat is None:
            preds[a:b] = _predict_from(dist, yv, k).reshape(nb, M, T)
        else:
            if act.size or (cnt < k).any():
                rows = np.flatnonzero(cnt < k)
                pflat[rows] = _predict_from(dist[rows], yv[rows], k)
            preds[a:b] = pflat.reshape(nb, M, T)
    return preds


def _run_brute(data: CrossMapData, libs: np.ndarray, k: int, excl: int):
    """All point-to-library distances, many libraries at once (small libraries)."""
    M, T = data.M, data.Y.shape[1]
    S, L = libs.shape
    kk = min(k, L)
    preds = np.empty((S, M, T))
    B = max(1, min(S, 3_000_000 // max(M * L, 1)))
    step = max(1, 3_000_000 // max(L, 1))  # rows per chunk when one library is too big
    for a in range(0, S, B):
        b = min(a + B, S)
        nb = b - a
        lb = libs[a:b]                                                     # (nb, L)
        for r0 in range(0, M, step if nb == 1 else M):
            r1 = min(M, r0 + (step if nb == 1 else M))
            rows_i = np.arange(r0, r1)
            V = data.vecs[rows_i]
            lv = data.vecs[lb]                                             # (nb, L, D)
            d2 = np.zeros((nb, rows_i.size, L))
            for j in range(V.shape[1]):
                d2 += (V[None, :, None, j] - lv[:, None, :, j]) ** 2
            d = np.sqrt(d2)
            if excl > 0:
                bad = np.abs(data.rows[rows_i][None, :, None] - data.rows[lb][:, None, :]) <= excl
            else:
                bad = rows_i[None, :, None] == lb[:, None, :]
            d[bad] = np.inf
            if kk < L:
                part = np.sort(np.argpartition(d, kk - 1, axis=2)[..., :kk], axis=2)
            else:
                part = np.broadcast_to(np.arange(L), d.shape).copy()
            dp = np.take_along_axis(d, part, axis=2)
            o = np.argsort(dp, axis=2, kind="stable")   # ties: lower library row first
            pos = np.take_along_axis(part, o, axis=2)
            dist = np.take_along_axis(dp, o, axis=2)
            nbr = lb[np.arange(nb)[:, None, None], pos]
            if kk < k:
                dist = np.concatenate([dist, np.full(dist.shape[:2] + (k - kk,), np.inf)], 2)
                nbr = np.concatenate([nbr, np.zeros(nbr.shape[:2] + (k - kk,), nbr.dtype)], 2)
            nbr = np.where(np.isfinite(dist), nbr, 0)
            p = _predict_from(dist.reshape(-1, k), data.Y[nbr].reshape(-1, k, T), k)
            preds[a:b, r0:r1] = p.reshape(nb, r1 - r0, T)
    return preds


def _run_kdtree(data: CrossMapData, libs: np.ndarray, k: int, excl: int):
    """pyEDM's way: a KD-tree per library, queried with enough extra neighbours."""
    M = data.M
    S, L = libs.shape
    q = min(L, k + 1 + 2 * excl)
    preds = np.empty((S, M, data.Y.shape[1]))
    rr = np.arange(M)[:, None]
    for s in range(S):
        lib = libs[s]
        d, o = cKDTree(data.vecs[lib]).query(data.vecs, k=q, workers=-1)
        if q == 1:
            d, o = d[:, None], o[:, None]
        g = lib[o]
        bad = np.abs(data.rows[g] - data.rows[:, None]) <= excl if excl > 0 else g == rr
        good = ~bad
        first = good & (np.cumsum(good, axis=1) <= k)
        pos = np.argsort(~first, axis=1, kind="stable")[:, :k]
        if pos.shape[1] < k:
            pos = np.pad(pos, ((0, 0), (0, k - pos.shape[1])))
            first = np.pad(first, ((0, 0), (0, k)))
        dist = np.where(np.take_along_axis(first, pos, 1), np.take_along_axis(d, pos, 1),
                        np.inf)
        nbr = np.where(np.isfinite(dist), np.take_along_axis(g, pos, 1), 0)
        preds[s] = _predict(data, nbr, dist, k)
    return preds


def _order_K(M: int, L: int, k: int, S: int) -> int | None:
    """Candidates per point so that few (point, library) pairs need the brute fallback."""
    f = L / M
    for K in (8, 16, 24, 32, 48, 64, 96, 128):
        if binom.cdf(k - 1, K, f) * M * S <= max(50.0, 1e-5 * M * S):
            return K
    return None


_NUMBA: list = []


def numba_kernels():
    """The compiled kernels module, or None when numba is unavailable (NumPy fallback)."""
    if not _NUMBA:
        try:
            from . import _ccm_numba
            _NUMBA.append(_ccm_numba)
        except Exception:  # noqa: BLE001 - any import/compile problem: use NumPy
            _NUMBA.append(None)
    return _NUMBA[0]


def _binom_cdf(m: int, n: int, p: float) -> float:
    """P(X <= m), X ~ Binomial(n, p), for small m (cheaper than scipy per call)."""
    q = 1.0 - p
    return float(sum(math.comb(n, j) * p ** j * q ** (n - j) for j in range(m + 1)))


#: cost of the compiled neighbour ordering per point and candidate, in units of one
#: brute-force distance (about 70 ns against 4 ns on the 2-core development CPU)
_ORDER_UNITS = 17.0
_DEPTHS = (8, 16, 24, 32, 48, 64, 96, 128)


def _walk_units(f: float, k: int, K: int, brute: float) -> float:
    """Modelled walk cost per (point, library): about k / f candidates visited, plus a
    brute-force pass over the library when the K candidates hold fewer than k members."""
    return 4.0 + min(k / f, K) + _binom_cdf(k - 1, K, f) * brute


def _numba_choice(M: int, L: int, k: int, S: int, D: int,
                  K: int | None = None) -> tuple[str, int | None]:
    """('order'|'brute', K) for the compiled kernels: the walk of a K-deep ordering (see
    :func:`_walk_units`) or brute force (L distances per point), whichever is cheaper.
    Without K: the shallowest ordering whose expected fallback work is under ~1 distance
    per point (the fallback keeps results exact whatever K is)."""
    f = L / M
    brute = L * (D + 1) / 3.0
    if K is None:
        for K in _DEPTHS:
            if _binom_cdf(k - 1, K, f) * brute <= 1.0:
                break
    return ("order", K) if _walk_units(f, k, K, brute) < brute else ("brute", None)


def numba_depth(M: int, sizes, k: int, S: int, D: int) -> int:
    """Depth of the one neighbour ordering shared by all library sizes (0: none walks).

    Minimises the modelled ordering cost (:data:`_ORDER_UNITS` per candidate per point)
    plus, per size, S times the cheaper of walk and brute force at that depth: a deeper
    ordering saves brute-force fallbacks for sparse libraries but costs more to build.
    """
    best, best_K = math.inf, 0
    for K in _DEPTHS:
        Ke = min(K, M - 1)
        total, walks = 0.0, False
        for L in sizes:
            L = min(int(L), M)
            if L >= M:
                continue
            kk = min(k, L - 1)
            brute = L * (D + 1) / 3.0
            w = _walk_units(L / M, kk, Ke, brute) if kk >= 1 else math.inf
            walks |= w < brute
            total += S * min(w, brute)
        if walks:
            total += _ORDER_UNITS * Ke
        if total < best:
            best, best_K = total, (Ke if walks else 0)
    return best_K


def choose_strategy(M: int, L: int, k: int, S: int, D: int) -> tuple[str, int | None]:
    """('full'|'order'|'brute'|'kdtree', K) by a cost model in microseconds per predicted
    point, calibrated on the 2-core development machine (N = 2,000 .. 100,000). With the
    compiled kernels available only 'full', 'order' (walk) and 'brute' are chosen."""
    if L >= M:
        return "full", None
    if numba_kernels() is not None:
        return _numba_choice(M, L, k, S, D)
    f = L / M
    cost = {"brute": 0.6 + 0.12 * L * (D + 1) / 3.0,
            "kdtree": 2.0 + 0.2 * np.log2(max(L, 2)) * (k + 1) / 4.0}
    K = _order_K(M, L, k, S)
    if K is not None:
        blocks = sum(binom.cdf(k - 1, 8 * b, f) for b in range(1, K // 8))
        fallback = binom.cdf(k - 1, K, f) * cost["brute"]
        cost["order"] = 0.4 + 2.4 * blocks + fallback
    best = min(cost, key=cost.get)
    return best, (K if best == "order" else None)


def cross_map_rho(data: CrossMapData, libs: np.ndarray, k: int, excl: int = 0,
                  strategy: str = "auto") -> np.ndarray:
    """Rho (S, T) of cross-mapping ``data.Y`` from each library in ``libs`` (S, L).

    strategy: "auto", "order", "brute", "kdtree" (NumPy engine), "numba", "numba_walk",
    "numba_brute" (compiled kernels); all exact. "auto" picks the compiled kernels when
    numba is available, else the NumPy strategy with the lowest modelled cost.
    """
    S, L = libs.shape
    M = data.M
    k = min(k, L - 1)
    if k < 1:
        return np.full((S, data.Y.shape[1]), np.nan)
    nk = numba_kernels() if strategy in ("auto", "numba", "numba_walk", "numba_brute") \
        else None
    if strategy.startswith("numba") and nk is None:
        raise RuntimeError("numba is not available for the compiled CCM kernels")
    if nk is not None:
        return _run_numba(nk, data, libs, k, excl, strategy)
    name, K = choose_strategy(M, L, k, S, data.vecs.shape[1])
    if strategy != "auto":
        name = strategy
        if name == "order":
            K = _order_K(M, L, k, S) or 128
    if name == "full":
        K = min(M - 1, k)
        preds = _run_order(data, libs[:1], k, excl, K)
        r = rho_over_points(preds, data.Y)
        return np.repeat(r, S, axis=0)
    if name == "order":
        preds = _run_order(data, libs, k, excl, K)
    elif name == "brute":
        preds = _run_brute(data, libs, k, excl)
    else:
        preds = _run_kdtree(data, libs, k, excl)
    return rho_over_points(preds, data.Y)


def _walk_arrays(data: CrossMapData, K: int, excl: int):
    """Contiguous (O, Dd) of the (cached) ordering at least K deep; O = M where none."""
    data.ordering(K, excl)
    key = (id(data._order), data._order[0], excl)
    cache = getattr(data, "_walk", None)
    if cache is None or cache[0] != key:
        O, Dd = data._order[2], data._order[3]
        Oc = np.ascontiguousarray(np.where(np.isfinite(Dd), O, data.M), dtype=np.int32)
        Dc = np.ascontiguousarray(Dd, dtype=np.float64)
        with kernel_threads(float(data.M) * 16):
            W = numba_kernels().weight_table(Dc)
        cache = (key, Oc, Dc, W)
        data._walk = cache
    return cache[1], cache[2], cache[3]


#: below this much work (point-library pairs, or point-candidate pairs for an ordering)
#: a kernel runs on one thread: the parallel region's start-up would cost more than it saves
_MIN_PARALLEL_WORK = 2e5


def _other_load() -> float:
    """Cores' worth of other work on this machine: the larger of the tasks runnable right
    now besides this one (Linux ``/proc/loadavg``) and the 1-minute load average less
    this process's own share (at most one core)."""
    try:
        with open("/proc/loadavg") as f:
            parts = f.read().split()
        now = int(parts[3].split("/")[0]) - 1
        return max(0.0, float(now), float(parts[0]) - 1.0)
    except (OSError, IndexError, ValueError):
        try:
            return max(0.0, os.getloadavg()[0] - 1.0)
        except (AttributeError, OSError):
            return 0.0


def _numba_threads(work: float) -> int:
    """Threads for one kernel call: one, plus the cores that other work leaves idle
    (:func:`_other_load`; a second thread on a busy core mostly waits at the loop's
    barriers for a descheduled partner: measured 2-3x slower at N = 2,000 with load 4-6 on
    2 cores), one thread for small calls. ``NEUROIMIT_CCM_THREADS`` overrides (benchmarks,
    tests)."""
    import numba
    n = numba.config.NUMBA_NUM_THREADS
    forced = os.environ.get("NEUROIMIT_CCM_THREADS")
    if forced:
        return int(max(1, min(n, int(forced))))
    if work < _MIN_PARALLEL_WORK:
        return 1
    idle = (os.cpu_count() or 1) - _other_load()
    # a core counts when at least three quarters of it is idle
    return int(max(1, min(n, int(idle + 0.25))))


@contextmanager
def kernel_threads(work: float):
    """Run the compiled kernels inside with :func:`_numba_threads` threads."""
    import numba
    prev = numba.get_num_threads()
    numba.set_num_threads(_numba_threads(work))
    try:
        yield
    finally:
        numba.set_num_threads(prev)


def _run_numba(nk, data: CrossMapData, libs: np.ndarray, k: int, excl: int,
               strategy: str) -> np.ndarray:
    """(S, T) rho with the compiled kernels."""
    with kernel_threads(float(libs.shape[0]) * data.M * data.Y.shape[1]):
        return _run_numba_inner(nk, data, libs, k, excl, strategy)


def _run_numba_inner(nk, data: CrossMapData, libs: np.ndarray, k: int, excl: int,
                     strategy: str) -> np.ndarray:
    S, L = libs.shape
    M = data.M
    vecs = np.ascontiguousarray(data.vecs, dtype=np.float64)
    rows = np.ascontiguousarray(data.rows, dtype=np.int64)
    Y = np.ascontiguousarray(data.Y, dtype=np.float64)
    full = L >= M and strategy in ("auto", "numba")
    lb = np.ascontiguousarray(libs[:1] if full else libs, dtype=np.int64)
    if strategy == "numba_brute":
        name, K = "brute", None
    elif full:
        name, K = "order", min(M - 1, k)
    else:
        # an ordering built already (for every size, see numba_depth) is used as it is
        Kc = data._order[0] if data._order is not None and data._order[1] == excl else None
        name, K = _numba_choice(M, L, k, S, vecs.shape[1], Kc)
        if strategy == "numba_walk":
            name, K = "order", K or Kc or 128
    if name == "brute":
        r = nk.brute_rho(vecs, rows, Y, lb, int(k), int(excl))
    else:
        O, Dd, W = _walk_arrays(data, K, excl)
        import numba
        r = nk.walk_rho(O, Dd, W, vecs, rows, Y, lb, int(k), int(excl),
                        numba.get_num_threads())
    return np.repeat(r, S, axis=0) if full else r
