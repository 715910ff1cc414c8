"""CCM against pyEDM 2.5.7, the exact engine's strategies against each other, significance
and convergence tests on known ground truth."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from neuroimit.dynamics import (ccm, ccm_matrix, ccm_significance, convergence_test,
                                coupled_logistic, lib_range, surrogates)
from neuroimit.dynamics._ccm_engine import cross_map_rho, pyedm_libraries
from neuroimit.dynamics.ccm import cross_map_data
from neuroimit.errors import ConfigError, DataError

EDM = pytest.importorskip("pyEDM")
VALID = os.path.join(os.path.dirname(EDM.__file__), "tests", "validation")
D = EDM.sampleData


@pytest.fixture(scope="module")
def logistic():
    return coupled_logistic(1000)  # rx 3.8, ry 3.5, bxy 0.02, byx 0.1; x0 0.4, y0 0.2


def _nan_circle():
    c = D["circle"].copy()
    c.iloc[[5, 6, 12], 1] = np.nan
    c.iloc[[10, 11, 17], 2] = np.nan
    return c


# pyEDM's own CCM validation cases (seed 777); CSVs hold 4 (or 2) decimals
CASES = {
    "CCM_anch_sst_valid.csv": (D["sardine_anchovy_sst"], ["anchovy"], ["np_sst"],
                               dict(lib_sizes=[10, 20, 30, 40, 50, 60, 70, 75], samples=100,
                                    E=3)),
    "CCM_Lorenz5D_MV_valid.csv": (D["Lorenz5D"], ["V3", "V5"], ["V1"],
                                  dict(lib_sizes=[20, 200, 500, 950], samples=30, E=5, Tp=10,
                                       tau=-5)),
    "CCM_nan_valid.csv": (_nan_circle(), ["x"], ["y"],
                          dict(lib_sizes=lib_range(10, 190, 10), samples=20, E=2, Tp=5)),
    "CCM_Lorenz5D_MV_Space_valid.csv": (D["columnNameSpace"], ["Var 1", "Var3", "Var 5 1"],
                                        ["Var 2", "Var 4 A"],
                                        dict(lib_sizes=[20, 50, 90], samples=1, E=5)),
    "CCM_NegativeTp.csv": (D["circle"], ["x"], ["y"],
                           dict(lib_sizes=lib_range(20, 200, 50), samples=10, E=2, Tp=-5)),
    "CCM_exclusionRadius.csv": (D["circle"], ["x"], ["y"],
                                dict(lib_sizes=lib_range(20, 200, 30), samples=10, E=2, Tp=3,
                                     exclusion_radius=5)),
    "CCM_positiveTau.csv": (D["circle"], ["x"], ["y"],
                            dict(lib_sizes=lib_range(20, 200, 30), samples=10, E=2, tau=3)),
    "CCM_embedded.csv": (D["Lorenz5D"], ["V1", "V2", "V3"], ["V5"],
                         dict(lib_sizes=lib_range(50, 950, 100), samples=20, E=0,
                              embedded=True)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ccm_matches_pyedm_validation(name):
    data, cols, tgts, kw = CASES[name]
    r = ccm(data[cols], data[tgts], seed=777, **kw)
    v = pd.read_csv(os.path.join(VALID, name))
    tol = 0.006 if name == "CCM_anch_sst_valid.csv" else 6e-5  # CSV rounding
    np.testing.assert_allclose(r.mean_xy, v.iloc[:, 1], atol=tol)
    np.testing.assert_allclose(r.mean_yx, v.iloc[:, 2], atol=tol)


def test_ccm_logistic_equals_pyedm_run(logistic):
    """Same seed -> same libraries -> same rho (far inside the 0.02 requirement)."""
    x, y = logistic
    df = pd.DataFrame({"t": np.arange(x.size), "x": x, "y": y})
    sizes = [10, 50, 100, 200, 400, 800, 1000]
    ref = EDM.CCM(df, columns="x", target="y", libSizes=sizes, sample=100, E=2, Tp=0,
                  seed=5, parallel=False)
    r = ccm(x, y, E=2, lib_sizes=sizes, samples=100, seed=5)
    np.testing.assert_allclose(r.mean_xy, ref["x:y"], atol=1e-9)
    np.testing.assert_allclose(r.mean_yx, ref["y:x"], atol=1e-9)
    # full library (deterministic) to 1e-6 and the reference's published shape
    assert r.mean_yx[-1] > 0.9 and r.mean_yx[0] < r.mean_yx[-1]
    # a different seed: still within 0.02 of pyEDM at every size with 100 samples
    r2 = ccm(x, y, E=2, lib_sizes=sizes, samples=100, seed=11)
    assert np.abs(r2.mean_xy - ref["x:y"]).max() < 0.02
    assert np.abs(r2.mean_yx - ref["y:x"]).max() < 0.02


@pytest.mark.parametrize("excl", [0, 3])
def test_strategies_agree_exactly(logistic, excl):
    x, y = logistic
    d = cross_map_data(x[:600, None], y[:600, None], E=2, tau=-1, Tp=0, embedded=False,
                       ok=np.ones(600, bool))
    for L in (12, 90, 300, 540):
        libs = pyedm_libraries(d.M, L, 6, 3)
        ref = cross_map_rho(d, libs, 3, excl, "kdtree")
        for s in ("order", "brute", "auto"):
            np.testing.assert_allclose(cross_map_rho(d, libs, 3, excl, s), ref, atol=1e-12,
                                       err_msg=f"{s} L={L}")


@pytest.mark.parametrize("excl", [0, 3])
def test_numba_kernels_equal_numpy_strategies(logistic, excl):
    """Compiled walk and brute-force kernels give the NumPy engine's rho (1 and 3
    targets, small to full libraries)."""
    pytest.importorskip("numba")
    x, y = logistic
    d = cross_map_data(x[:600, None], np.c_[y, x, y * y][:600], E=2, tau=-1, Tp=0,
                       embedded=False, ok=np.ones(600, bool))
    for L in (12, 90, 300, 540, d.M):
        libs = pyedm_libraries(d.M, L, 6, 3)
        ref = cross_map_rho(d, libs, 3, excl, "kdtree" if L < d.M else "order")
        assert np.isfinite(ref).all()
        for s in ("numba", "numba_walk", "numba_brute", "auto"):
            np.testing.assert_allclose(cross_map_rho(d, libs, 3, excl, s), ref, atol=1e-12,
                                       err_msg=f"{s} L={L}")


def test_auto_falls_back_to_numpy_without_numba(logistic, monkeypatch):
    from neuroimit.dynamics import _ccm_engine
    x, y = logistic
    d = cross_map_data(x[:400, None], y[:400, None], E=2, tau=-1, Tp=0, embedded=False,
                       ok=np.ones(400, bool))
    libs = pyedm_libraries(d.M, 150, 4, 1)
    ref = cross_map_rho(d, libs, 3, 0, "kdtree")
    monkeypatch.setattr(_ccm_engine, "_NUMBA", [None])
    np.testing.assert_allclose(cross_map_rho(d, libs, 3, 0, "auto"), ref, atol=1e-12)
    with pytest.raises(RuntimeError, match="numba"):
        cross_map_rho(d, libs, 3, 0, "numba")


def test_ccm_matrix_equals_pairwise_ccm(logistic):
    x, y = logistic
    rng = np.random.default_rng(0)
    z = rng.normal(size=x.size)
    data = np.c_[x, y, z]
    m = ccm_matrix(data, E=2, lib_sizes=[100, 998], samples=5, seed=2, names=["x", "y", "z"])
    r = ccm(x, y, E=2, lib_sizes=[100, 998], samples=5, seed=2)
    np.testing.assert_allclose(m.rho[0, 1], r.rho_xy, atol=1e-12)
    np.testing.assert_allclose(m.rho[1, 0], r.rho_yx, atol=1e-12)
    assert np.isnan(m.rho[2, 2]).all()
    assert m.to_pandas().loc["y", "x"] > 0.9 and abs(m.to_pandas().loc["z", "x"]) < 0.2
    assert m.to_xarray()["rho"].shape == (3, 3, 2, 5)


def test_segments_keep_embeddings_inside_trials(logistic):
    x, y = logistic
    seg = np.repeat([0, 1], 500)
    r = ccm(x, y, E=3, tau=-2, lib_sizes=[900], samples=1, segments=seg)
    # rows whose delay vector reaches into the previous trial are left out (4 per trial)
    assert r.params["n_points_xy"] == 1000 - 2 * 4


def test_logistic_direction_and_surrogate_p(logistic):
    x, y = logistic
    sig = ccm_significance(x[:500], y[:500], E=2, n_surrogates=199, seed=0)
    # x drives y strongly (byx = 0.1): y's embedding cross-maps x, "y:x"
    assert sig.p_value["y:x"] < 0.01
    assert sig.observed["y:x"][-1] > sig.observed["x:y"][-1]
    q = sig.null_quantiles()["y:x"]
    assert q.shape == (1, 2) and q[0, 1] < sig.observed["y:x"][-1]
    assert set(sig.to_pandas().columns) >= {"direction", "rho", "null_q95", "p_value"}


def test_convergence_tests(logistic):
    x, y = logistic
    r = ccm(x, y, E=2, lib_sizes=[10, 25, 50, 100, 200, 400, 800], samples=30, seed=1)
    c = convergence_test(r)
    assert c.loc["y:x", "kendall_tau"] > 0.9 and c.loc["y:x", "kendall_p"] < 0.01
    assert c.loc["y:x", "fisher_p"] < 1e-6
    assert r.to_xarray()["rho"].shape == (2, 7, 30)
    assert r.quantiles()["y:x"].shape == (7, 2)


def test_independent_systems_rarely_significant():
    """Two uncoupled chaotic maps: p >= 0.01 in both directions in >= 95 of 100 repeats."""
    rng = np.random.default_rng(123)
    false_pos = 0
    for rep in range(100):
        x, _ = coupled_logistic(300, rx=3.8, bxy=0.0, byx=0.0, x0=rng.uniform(0.1, 0.9))
        _, y = coupled_logistic(300, ry=3.7, bxy=0.0, byx=0.0, y0=rng.uniform(0.1, 0.9))
        sig = ccm_significance(x, y, E=2, n_surrogates=99, seed=rep, exclusion_radius=0)
        false_pos += min(sig.p_value.values()) < 0.01
    assert false_pos <= 5


def test_surrogates_properties():
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(512) * 0.2) + 0.3 * rng.normal(size=512)
    e = surrogates(x, 20, "ebisuzaki", seed=1)
    np.testing.assert_allclose(np.abs(np.fft.rfft(e - e.mean(1, keepdims=True)))[:, 1:-1],
                               np.broadcast_to(np.abs(np.fft.rfft(x - x.mean()))[1:-1],
                                               (20, 255)), rtol=1e-8)
    s = surrogates(x, 5, "shuffle", seed=1)
    np.testing.assert_allclose(np.sort(s, axis=1), np.broadcast_to(np.sort(x), s.shape))
    t = surrogates(x[:300], 3, "twin", seed=1, E=2)
    assert t.shape == (3, 300) and np.isfinite(t).all()
    se = surrogates(x, 4, "seasonal", seed=1, period=31)
    assert se.shape == (4, 512)
    assert not np.allclose(surrogates(x, 2, seed=1), surrogates(x, 2, seed=2))


def test_ccm_bad_inputs(logistic):
    x, y = logistic
    with pytest.raises(ConfigError, match="exceeds"):
        ccm(x, y, E=2, lib_sizes=[5000])
    with pytest.raises(ConfigError, match="too small"):
        ccm(x, y, E=3, lib_sizes=[3, 100])
    with pytest.raises(DataError, match="too short"):
        ccm(x[:6], y[:6], E=3, tau=-2, lib_sizes=[5])
    with pytest.raises(DataError, match="constant"):
        ccm(np.ones(100), y[:100], E=2, lib_sizes=[50])
    with pytest.raises(DataError, match="all NaN"):
        ccm(np.full(100, np.nan), y[:100], E=2, lib_sizes=[50])
    with pytest.raises(DataError, match="equal length"):
        ccm(x[:100], y[:90], E=2, lib_sizes=[50])
    with pytest.raises(ConfigError, match="surrogate method"):
        surrogates(x, 2, "bogus")


def test_cli_ccm_and_granger(tmp_path, logistic):
    from typer.testing import CliRunner

    from neuroimit.cli import app
    x, y = logistic
    csv = tmp_path / "xy.csv"
    pd.DataFrame({"x": x[:400], "y": y[:400]}).to_csv(csv, index=False)
    out = tmp_path / "ccm.csv"
    res = CliRunner().invoke(app, ["ccm", str(csv), "--x", "x", "--y", "y", "--samples", "10",
                                   "--lib-sizes", "10,100,390", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    direct = ccm(x[:400], y[:400], E=2, lib_sizes=[10, 100, 390], samples=10, seed=0)
    np.testing.assert_allclose(table["y:x"], direct.mean_yx)
    res = CliRunner().invoke(app, ["granger", str(csv), "--columns", "x,y", "--max-lags", "3"])
    assert res.exit_code == 0 and "VAR lag" in res.output
