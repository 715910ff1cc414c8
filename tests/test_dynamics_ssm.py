"""State-space forecasting (dynamax), Granger baselines, session helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroimit.dynamics import (LinearSSMForecaster, channels_from_arrays, forecast_skill,
                                kalman_forecast, var_granger)
from neuroimit.dynamics.ssm import SSMParams, dynamax_forecast
from neuroimit.errors import ConfigError, DataError

F = np.array([[0.9, 0.2], [-0.2, 0.9]])
H = np.array([[1.0, 0.0], [0.5, 1.0]])
Q = 0.1 * np.eye(2)
R = 0.05 * np.eye(2)


@pytest.fixture(scope="module")
def linear_system():
    rng = np.random.default_rng(0)
    T = 900
    z = np.zeros((T, 2))
    y = np.zeros((T, 2))
    for t in range(T):
        z[t] = (F @ z[t - 1] if t else 0) + rng.multivariate_normal([0, 0], Q)
        y[t] = H @ z[t] + rng.multivariate_normal([0, 0], R)
    true = SSMParams(F, np.zeros((2, 0)), np.zeros(2), Q, H, np.zeros((2, 0)), np.zeros(2), R,
                     np.zeros(2), np.eye(2))
    return y, true


def _theory_rmse(h):
    """Steady-state Kalman h-step forecast error of the true system."""
    P = np.eye(2)
    for _ in range(500):
        Pp = F @ P @ F.T + Q
        K = Pp @ H.T @ np.linalg.inv(H @ Pp @ H.T + R)
        P = (np.eye(2) - K @ H) @ Pp
    for _ in range(h):
        P = F @ P @ F.T + Q
    return np.sqrt(np.diag(H @ P @ H.T + R))


def test_forecast_alignment_against_dynamax(linear_system):
    """Our k-step forecast out[t] predicts y[t]; dynamax's forecast after y[:T] gives the
    1..k-step predictions of y[T..T+k-1] (first step = one step ahead in dynamax 1.0.3)."""
    y, true = linear_system
    T = 100
    dm = dynamax_forecast(true, y[:T], 3)
    for h in (1, 2, 3):
        padded = np.vstack([y[:T], np.zeros((h, 2))])  # future rows are never read
        own = kalman_forecast(true, padded, None, h)[T + h - 1]
        np.testing.assert_allclose(own, dm[h - 1], atol=1e-6)
    # and a lag of one would be clearly wrong
    one = kalman_forecast(true, np.vstack([y[:T], np.zeros((1, 2))]), None, 1)[T]
    assert np.abs(one - dm[1]).max() > 1e-3


def test_fitted_ssm_recovers_true_forecast_error(linear_system):
    y, true = linear_system
    m = LinearSSMForecaster(state_dim=2, num_iters=30, seed=0).fit(y[:600])
    for h in (1, 3):
        fit = np.sqrt(np.nanmean((m.predict(y[600:], horizon=h) - y[600:]) ** 2, axis=0))
        opt = np.sqrt(np.nanmean((kalman_forecast(true, y[600:], None, h) - y[600:]) ** 2,
                                 axis=0))
        np.testing.assert_allclose(fit, opt, rtol=0.08)
        np.testing.assert_allclose(opt, _theory_rmse(h), rtol=0.15)
    assert m.score(y[600:], horizon=1) > m.score(y[600:], horizon=5) > 0
    assert np.isnan(m.predict(y[600:], horizon=4)[:4]).all()


def test_exogenous_inputs_and_cv_skill():
    rng = np.random.default_rng(1)
    T = 600
    u = np.sin(np.arange(T) * 0.1)[:, None] + 0.1 * rng.normal(size=(T, 1))  # "joint angle"
    z = np.zeros(T)
    for t in range(1, T):
        z[t] = 0.8 * z[t - 1] + 1.0 * u[t, 0] + 0.1 * rng.normal()
    y = (z + 0.05 * rng.normal(size=T))[:, None]                           # "EMG"
    with_u = LinearSSMForecaster(1, num_iters=30).fit(y[:400], u[:400])
    without = LinearSSMForecaster(1, num_iters=30).fit(y[:400])
    assert with_u.score(y[400:], u[400:], horizon=5) > without.score(y[400:], horizon=5) + 0.2
    df = forecast_skill(y, u, horizons=(1, 5), state_dim=1, n_folds=2, num_iters=15)
    agg = df.groupby("horizon")["rho"].mean()
    assert agg.loc[1] > 0.95 and agg.loc[5] > 0.9   # known inputs carry the forecast
    assert set(df.columns) == {"horizon", "output", "fold", "rho", "mae", "rmse"}
    with pytest.raises(DataError, match="inputs"):
        with_u.predict(y[400:], horizon=1)
    with pytest.raises(ConfigError, match="not fitted"):
        LinearSSMForecaster(1).predict(y)


def test_var_granger_finds_direction():
    rng = np.random.default_rng(0)
    T = 600
    x = rng.normal(size=T)
    y = np.zeros(T)
    for t in range(2, T):
        y[t] = 0.5 * y[t - 1] + 0.6 * x[t - 2] + 0.3 * rng.normal()
    g = var_granger(pd.DataFrame({"x": x, "y": y}), max_lags=6)
    assert g.lag >= 2
    assert g.p_values.loc["y", "x"] < 1e-6 and g.p_values.loc["x", "y"] > 0.01
    assert g.to_xarray()["p_value"].shape == (2, 2)
    with pytest.raises(DataError, match="gap-free"):
        var_granger(np.c_[x, np.where(np.arange(T) == 5, np.nan, y)])


def test_channels_helper_segments_and_resampling():
    t1 = np.arange(0, 2, 0.005)    # 200 Hz
    t2 = np.arange(0, 2, 0.0005)   # 2 kHz
    ch = channels_from_arrays({"angle": (t1, np.sin(t1)),
                               "emg": (t2, np.c_[np.cos(t2), t2])},
                              rate=100.0, trials=[(0.1, 0.5), (1.0, 1.5)])
    assert ch.names == ("angle", "emg[0]", "emg[1]") and ch.rate == 100.0
    np.testing.assert_allclose(ch.column("angle"), np.sin(ch.time), atol=1e-4)
    trials = ch.trials()
    assert len(trials) == 2 and trials[0].time[0] >= 0.1 and trials[1].time[-1] <= 1.5
    cat = ch.concatenated()
    assert set(np.unique(cat.segments)) == {0, 1}
    with pytest.raises(DataError, match="unknown channel"):
        ch.select(["nope"])
