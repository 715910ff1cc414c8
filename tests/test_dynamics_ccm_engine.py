"""The compiled CCM kernels: exact neighbour ordering (ties included), many libraries
(several 64-library bit words), thread count, and the kernels against each other."""
from __future__ import annotations

import numpy as np
import pytest

from neuroimit.dynamics import coupled_logistic
from neuroimit.dynamics._ccm_engine import cross_map_rho, pyedm_libraries
from neuroimit.dynamics.ccm import cross_map_data

numba = pytest.importorskip("numba")
nk = pytest.importorskip("neuroimit.dynamics._ccm_numba")


def _reference_order(vecs, rows, K, excl):
    """All pairwise squared distances (summed over dimensions in order), sorted by
    (distance, row); excluded rows dropped."""
    M = vecs.shape[0]
    d2 = np.zeros((M, M))
    for e in range(vecs.shape[1]):
        t = vecs[:, None, e] - vecs[None, :, e]
        d2 += t * t
    bad = np.abs(rows[:, None] - rows[None, :]) <= excl if excl > 0 else np.eye(M, dtype=bool)
    d2[bad] = np.inf
    O = np.full((M, K), M, np.int32)
    Dd = np.full((M, K), np.inf)
    for i in range(M):
        o = np.lexsort((np.arange(M), d2[i]))[:K]
        o = o[np.isfinite(d2[i, o])]
        O[i, :o.size] = o
        Dd[i, :o.size] = np.sqrt(d2[i, o])
    return O, Dd


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("excl", [0, 2])
def test_knn_order_exact_with_ties(D, excl):
    rng = np.random.default_rng(D + 10 * excl)
    # integer grid: many exactly equal distances, and duplicated points
    vecs = rng.integers(0, 6, size=(300, D)).astype(float)
    rows = np.sort(rng.choice(400, 300, replace=False)).astype(np.int64)
    for K in (5, 40, 320):  # deeper than the data: padded with M / inf
        O, Dd = nk.knn_order(vecs, rows, K, excl)
        Or, Dr = _reference_order(vecs, rows, K, excl)
        np.testing.assert_array_equal(O, Or)
        np.testing.assert_array_equal(Dd, Dr)


def test_knn_order_continuous_data_matches_kdtree():
    from scipy.spatial import cKDTree
    x, _ = coupled_logistic(3000)
    d = cross_map_data(x[:, None], x[:, None], E=2, tau=-1, Tp=0, embedded=False,
                       ok=np.ones(3000, bool))
    O, Dd = nk.knn_order(d.vecs, d.rows.astype(np.int64), 24, 0)
    dk, ok = cKDTree(d.vecs).query(d.vecs, k=25)
    np.testing.assert_array_equal(O, ok[:, 1:])
    np.testing.assert_allclose(Dd, dk[:, 1:], rtol=1e-15, atol=0)


@pytest.fixture(scope="module")
def tied_data():
    """Logistic maps rounded to 2 decimals: many tied distances between neighbours."""
    x, y = coupled_logistic(700)
    x, y = np.round(x, 2), np.round(y, 2)
    return cross_map_data(x[:, None], np.c_[y, x][:], E=2, tau=-1, Tp=0, embedded=False,
                          ok=np.ones(700, bool))


@pytest.mark.parametrize("excl", [0, 4])
def test_walk_and_brute_kernels_agree_on_ties_and_many_libraries(tied_data, excl):
    d = tied_data
    for L, S in ((15, 150), (120, 150), (400, 70), (650, 3)):
        libs = pyedm_libraries(d.M, L, S, 7)
        walk = cross_map_rho(d, libs, 3, excl, "numba_walk")
        brute = cross_map_rho(d, libs, 3, excl, "numba_brute")
        assert walk.shape == (S, 2) and np.isfinite(walk).all()
        np.testing.assert_array_equal(walk, brute, err_msg=f"L={L}")


def test_kernels_equal_kdtree_engine_many_libraries():
    x, y = coupled_logistic(800)
    d = cross_map_data(y[:, None], x[:, None], E=3, tau=-1, Tp=1, embedded=False,
                       ok=np.ones(800, bool))
    for L in (30, 300):
        libs = pyedm_libraries(d.M, L, 130, 3)  # 3 words of 64 libraries
        ref = cross_map_rho(d, libs, 4, 0, "kdtree")
        np.testing.assert_allclose(cross_map_rho(d, libs, 4, 0, "auto"), ref, atol=1e-12)


def test_threads_do_not_change_results():
    x, y = coupled_logistic(1500)
    d = cross_map_data(x[:, None], y[:, None], E=2, tau=-1, Tp=0, embedded=False,
                       ok=np.ones(1500, bool))
    libs = np.ascontiguousarray(pyedm_libraries(d.M, 500, 100, 1))
    O, Dd = nk.knn_order(d.vecs, d.rows.astype(np.int64), 48, 0)
    W = nk.weight_table(Dd)
    args = (O, Dd, W, d.vecs, d.rows.astype(np.int64), d.Y, libs, 3, 0)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nk.walk_rho(*args)
        b1 = nk.brute_rho(d.vecs, d.rows.astype(np.int64), d.Y, libs[:10], 3, 0)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = nk.walk_rho(*args)
        bm = nk.brute_rho(d.vecs, d.rows.astype(np.int64), d.Y, libs[:10], 3, 0)
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(b1, bm)


@pytest.mark.parametrize("excl", [0, 3])
def test_shallow_shared_ordering_stays_exact(excl):
    """Sizes share one ordering (see numba_depth); a shallow one sends most sparse
    (point, library) pairs to the brute-force fallback, with the same rho."""
    x, y = coupled_logistic(900)
    d = cross_map_data(x[:, None], y[:, None], E=2, tau=-1, Tp=0, embedded=False,
                       ok=np.ones(900, bool))
    d.ordering(8, excl)
    for L in (40, 200, 700):
        libs = pyedm_libraries(d.M, L, 20, 4)
        ref = cross_map_rho(d, libs, 3, excl, "kdtree")
        np.testing.assert_allclose(cross_map_rho(d, libs, 3, excl, "numba_walk"), ref,
                                   atol=1e-12, err_msg=f"L={L}")
        assert d._order[0] == 8  # the shallow ordering was used, not rebuilt


def test_numba_depth_model():
    from neuroimit.dynamics._ccm_engine import numba_depth
    sizes = np.linspace(10, 1600, 7).astype(int)
    K = numba_depth(1999, sizes, 3, 100, 2)
    assert 32 <= K <= 128
    assert numba_depth(1999, [10, 12], 3, 100, 2) == 0  # tiny libraries: brute force only


def test_thread_policy(monkeypatch):
    from neuroimit.dynamics import _ccm_engine as eng
    monkeypatch.delenv("NEUROIMIT_CCM_THREADS", raising=False)
    assert 0.0 <= eng._other_load() < 1e6        # this machine's reading
    n = min(numba.config.NUMBA_NUM_THREADS, eng.os.cpu_count() or 1)
    monkeypatch.setattr(eng, "_other_load", lambda: 0.0)
    assert eng._numba_threads(1e7) == n          # idle machine: every core
    assert eng._numba_threads(10.0) == 1         # tiny call: one thread
    monkeypatch.setattr(eng, "_other_load", lambda: float(eng.os.cpu_count() or 1))
    assert eng._numba_threads(1e7) == 1          # busy machine: one thread
    monkeypatch.setenv("NEUROIMIT_CCM_THREADS", "1")
    monkeypatch.setattr(eng, "_other_load", lambda: 0.0)
    assert eng._numba_threads(1e7) == 1          # forced
