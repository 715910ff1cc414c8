"""Simplex, S-map and scans against pyEDM 2.5.7 (its sample data and validation outputs)."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from neuroimit.dynamics import (embed, embed_dimension, predict_exclusion_radius,
                                predict_interval, predict_nonlinear, simplex, smap)
from neuroimit.errors import ConfigError, DataError

EDM = pytest.importorskip("pyEDM")
VALID = os.path.join(os.path.dirname(EDM.__file__), "tests", "validation")
D = EDM.sampleData


def _valid(name):
    return pd.read_csv(os.path.join(VALID, name))


def _by_time(edm_df, pred):
    """pyEDM predictions and ours, matched by target time."""
    t = edm_df["Time"].to_numpy(float)
    want = edm_df["Predictions"].to_numpy(float)
    ours = dict(zip(pred.time, pred.predicted))
    got = np.array([ours.get(tt, np.nan) for tt in t])
    return want, got


def _nan_circle():
    c = D["circle"].copy()
    c.iloc[[5, 6, 12], 1] = np.nan
    c.iloc[[10, 11, 17], 2] = np.nan
    return c


SIMPLEX_CASES = {
    "block_3sp_E3": (D["block_3sp"], "x_t", "x_t", dict(lib=[1, 100], pred=[101, 195], E=3)),
    "block_3sp_embedded": (D["block_3sp"], "x_t y_t z_t", "x_t",
                           dict(lib=[1, 99], pred=[100, 198], E=3, embedded=True)),
    "block_3sp_negTp": (D["block_3sp"], "x_t", "y_t",
                        dict(lib=[1, 100], pred=[50, 80], E=3, Tp=-2)),
    "circle_disjoint_lib": (D["circle"], "x", "x",
                            dict(lib=[1, 40, 50, 130], pred=[80, 170], E=2, tau=-3)),
    "circle_exclusion": (D["circle"], "x", "y",
                         dict(lib=[1, 100], pred=[21, 81], E=2, exclusionRadius=5)),
    "circle_nan": (_nan_circle(), "x", "y", dict(lib=[1, 100], pred=[1, 95], E=2)),
    "lorenz_mv_tau2": (D["Lorenz5D"], "V1 V3", "V2",
                       dict(lib=[1, 500], pred=[501, 800], E=3, tau=-2, Tp=3)),
    "lorenz_pos_tau": (D["Lorenz5D"], "V1", "V1", dict(lib=[1, 500], pred=[501, 800], E=3,
                                                       tau=2)),
    "tentmap_noise": (D["TentMapNoise"], "TentMap", "TentMap",
                      dict(lib=[1, 500], pred=[501, 800], E=4)),
}


def _ours_kw(kw):
    return dict(E=kw.get("E", 1), Tp=kw.get("Tp", 1), tau=kw.get("tau", -1),
                lib=kw["lib"], pred=kw["pred"], exclusion_radius=kw.get("exclusionRadius", 0),
                embedded=kw.get("embedded", False), knn=kw.get("knn", 0))


@pytest.mark.parametrize("case", list(SIMPLEX_CASES))
def test_simplex_equals_pyedm(case):
    data, cols, tgt, kw = SIMPLEX_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = EDM.Simplex(data, columns=cols, target=tgt, **kw)
    p = simplex(data[cols.split()], data[tgt], time=data.iloc[:, 0].to_numpy(float),
                **_ours_kw(kw))
    want, got = _by_time(ref, p)
    ok = np.isfinite(want)
    assert ok.sum() > 20
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-6, rtol=0)
    assert np.isnan(got[~ok]).all() or not np.isfinite(got[~ok]).any()


def test_simplex_disjoint_pred_with_nan_equals_pyedm():
    data = D["Lorenz5D"].copy()
    data.iloc[[8, 50, 501], [1, 2]] = np.nan
    kw = dict(E=5, Tp=2, lib=[1, 50, 101, 200, 251, 500],
              pred=[1, 10, 151, 155, 551, 555, 881, 885, 991, 1000])
    ref = EDM.Simplex(data, columns="V1", target="V2", **kw)
    p = simplex(data["V1"], data["V2"], time=data["Time"].to_numpy(float), **_ours_kw(kw))
    want, got = _by_time(ref, p)
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-6)


def test_simplex_neighbour_ties_match_validation():
    data = _valid("Smplx_NeighborTies.csv")
    p = simplex(data["1137"], data["1135"], E=1, Tp=0, lib=[1, 96], pred=[1, 96],
                exclusion_radius=1)   # the file has no time column: compare by row
    want = _valid("Smplx_NeighborTies_valid.csv")["Predictions"].to_numpy()[p.target_row]
    assert np.isfinite(want).sum() > 30
    np.testing.assert_allclose(p.predicted, want, atol=1e-5)


SMAP_CASES = {
    "circle_E4_theta3": (D["circle"], "x", "x",
                         dict(lib=[1, 100], pred=[110, 160], E=4, theta=3.0)),
    "circle_embedded": (D["circle"], "x y", "x",
                        dict(lib=[1, 200], pred=[1, 200], E=2, theta=3.0, embedded=True)),
    "circle_nan": (_nan_circle(), "x", "y", dict(lib=[1, 50], pred=[1, 50], E=2, theta=3.0)),
    "tentmap_theta2": (D["TentMapNoise"], "TentMap", "TentMap",
                       dict(lib=[1, 500], pred=[501, 800], E=4, theta=2.0)),
    "block_3sp_linear": (D["block_3sp"], "x_t", "x_t",
                         dict(lib=[1, 100], pred=[101, 195], E=3, theta=0.0)),
    "lorenz_exclusion": (D["Lorenz5D"], "V1", "V1",
                         dict(lib=[1, 300], pred=[1, 300], E=3, theta=1.0, exclusionRadius=10)),
    "lorenz_knn20": (D["Lorenz5D"], "V1", "V1",
                     dict(lib=[1, 300], pred=[301, 400], E=3, theta=1.0, knn=20)),
}


@pytest.mark.parametrize("case", list(SMAP_CASES))
def test_smap_equals_pyedm(case):
    data, cols, tgt, kw = SMAP_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = EDM.SMap(data, columns=cols, target=tgt, **kw)
    p = smap(data[cols.split()], data[tgt], theta=kw["theta"],
             time=data.iloc[:, 0].to_numpy(float), **_ours_kw(kw))
    want, got = _by_time(ref["predictions"], p)
    ok = np.isfinite(want)
    assert ok.sum() > 20
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-6, rtol=0)
    if case == "circle_embedded":  # coefficients too
        cref = ref["coefficients"]["∂x/∂x"].to_numpy(float)
        cref = cref[np.isfinite(cref)]
        np.testing.assert_allclose(np.nanmean(p.coefficients[:, 1]), cref.mean(), atol=1e-6)


def test_smap_ridge_shrinks_slopes():
    x = D["TentMapNoise"]["TentMap"].to_numpy()
    a = smap(x, E=3, theta=1.0, lib=[1, 300], pred=[301, 400])
    b = smap(x, E=3, theta=1.0, lib=[1, 300], pred=[301, 400], ridge=10.0)
    assert np.abs(b.coefficients[:, 1:]).mean() < np.abs(a.coefficients[:, 1:]).mean()
    assert b.rho > 0.3


def test_scans_match_pyedm_validation():
    lz = D["Lorenz5D"]
    s = embed_dimension(lz["V1"], max_E=12, lib=[1, 500], pred=[501, 800], Tp=15, tau=-5,
                        exclusion_radius=20)
    np.testing.assert_allclose(s.rho, _valid("EmbedDim_valid.csv")["rho"], atol=1.5e-6)
    b3 = D["block_3sp"]
    s = predict_interval(b3["x_t"], max_Tp=15, lib=[1, 150], pred=[151, 198], E=3)
    np.testing.assert_allclose(s.rho, _valid("PredictInterval_valid.csv")["rho"], atol=1.5e-6)
    tm = D["TentMapNoise"]
    th = [0.01, 0.1, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    s = predict_nonlinear(tm["TentMap"], thetas=th, lib=[1, 500], pred=[501, 800], E=4)
    np.testing.assert_allclose(s.rho, _valid("PredictNonlinear_valid.csv")["rho"], atol=1.5e-6)
    assert s.best > 0.01  # tent map is nonlinear: skill peaks at theta > 0
    sf = D["SumFlow_1980-2005"]
    s = predict_exclusion_radius(sf["S12.C.D.S333"], lib=[1, 900], pred=[1, 900], E=7,
                                 tau=-3, Tp=0)
    np.testing.assert_allclose(s.rho, _valid("PredictExclusionRadius_valid.csv")["rho"],
                               atol=1.5e-6)
    assert list(s.to_pandas().columns) == ["exclusion_radius", "rho", "mae", "rmse"]


def test_embedding_and_skill_outputs():
    e = embed(np.arange(6.0), E=3, tau=-2)
    assert np.isnan(e[:4, 2]).all() and e[5].tolist() == [5.0, 3.0, 1.0]
    e = embed(np.arange(6.0), E=2, tau=1)
    assert e[0].tolist() == [0.0, 1.0] and np.isnan(e[5, 1])
    t = np.arange(300) * 0.2
    p = simplex(np.sin(t), np.cos(t), E=2, Tp=0, time=t)
    sk = p.skill()
    assert sk["rho"] > 0.99 and sk["rmse"] < 0.05 and 0 < sk["mae"] <= sk["rmse"]
    df = p.to_pandas()
    assert {"time", "observed", "predicted", "variance"} <= set(df.columns)
    assert p.to_xarray()["predicted"].shape == (p.row.size,)


def test_bad_inputs_give_clear_errors():
    x = np.sin(np.arange(50) * 0.3)
    with pytest.raises(DataError, match="too short"):
        simplex(x[:6], E=4, tau=-2)
    with pytest.raises(DataError, match="constant"):
        simplex(np.ones(100), E=2)
    with pytest.raises(DataError, match="all NaN"):
        smap(np.full(100, np.nan), E=2, theta=1.0)
    with pytest.raises(ConfigError, match="tau"):
        simplex(x, E=2, tau=0)
    with pytest.raises(ConfigError, match="lib"):
        simplex(x, E=2, lib=[0, 20])
    with pytest.raises(ConfigError, match="past the 50 data rows"):
        simplex(x, E=2, pred=[1, 80])
    with pytest.raises(ConfigError, match="theta"):
        smap(x, E=2, theta=-1.0)
