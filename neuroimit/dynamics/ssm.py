"""Linear Gaussian state-space forecasting (dynamax EM fit, Kalman filter / smoother).

Model (dynamax's convention)::

    z[t] = F z[t-1] + B u[t] + b + w,   w ~ N(0, Q)
    y[t] = H z[t]   + D u[t] + d + v,   v ~ N(0, R)

A k-step-ahead forecast made at time t uses observations y[0..t] (and the inputs up to
t + k, treated as known exogenous drivers, e.g. measured joint angles) and predicts
y[t + k]. :meth:`LinearSSMForecaster.predict` returns forecasts aligned with the series
they predict: ``out[t]`` is the forecast of ``y[t]`` made at ``t - k`` (NaN for t < k).

dynamax's own ``forecast`` starts from the last filtered state; it is used only to
cross-check the alignment in the tests (see :func:`dynamax_forecast`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> z = np.zeros(400)
>>> for t in range(1, 400): z[t] = 0.9 * z[t - 1] + rng.normal()
>>> y = (z + 0.1 * rng.normal(size=400))[:, None]
>>> m = LinearSSMForecaster(state_dim=1, num_iters=20).fit(y[:300])
>>> m.predict(y[300:], horizon=1).shape
(100, 1)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .results import skill

__all__ = ["LinearSSMForecaster", "forecast_skill", "kalman_forecast", "dynamax_forecast",
           "SSMParams"]


@dataclass
class SSMParams:
    """Plain numpy parameters of a linear Gaussian SSM (see the module docstring)."""

    F: np.ndarray
    B: np.ndarray
    b: np.ndarray
    Q: np.ndarray
    H: np.ndarray
    D: np.ndarray
    d: np.ndarray
    R: np.ndarray
    m0: np.ndarray
    S0: np.ndarray

    def to_dynamax(self):
        from dynamax.linear_gaussian_ssm import LinearGaussianSSM
        m = LinearGaussianSSM(self.F.shape[0], self.H.shape[0], self.B.shape[1])
        params, _ = m.initialize(initial_mean=self.m0, initial_covariance=self.S0,
                                 dynamics_weights=self.F, dynamics_bias=self.b,
                                 dynamics_input_weights=self.B, dynamics_covariance=self.Q,
                                 emission_weights=self.H, emission_bias=self.d,
                                 emission_input_weights=self.D, emission_covariance=self.R)
        return m, params

    @classmethod
    def from_dynamax(cls, p) -> "SSMParams":
        a = lambda v: np.asarray(v, float)  # noqa: E731
        R = a(p.emissions.cov)
        if R.ndim == 1:
            R = np.diag(R)
        return cls(a(p.dynamics.weights), a(p.dynamics.input_weights), a(p.dynamics.bias),
                   a(p.dynamics.cov), a(p.emissions.weights), a(p.emissions.input_weights),
                   a(p.emissions.bias), R, a(p.initial.mean), a(p.initial.cov))


def _as2d(a, name: str, T: int | None = None) -> np.ndarray:
    a = np.asarray(a, float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise DataError(f"array has shape {a.shape}", field=name, expected="(T,) or (T, D)")
    if T is not None and a.shape[0] != T:
        raise DataError(f"{a.shape[0]} samples, expected {T}", field=name,
                        expected="the same number of samples as y")
    if not np.all(np.isfinite(a)):
        raise DataError("contains NaN or infinity", field=name,
                        expected="finite values (interpolate gaps first)")
    return a


def _filter_means(params: SSMParams, y: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Filtered state means m[t|t] (T, Dz) with dynamax's Kalman filter."""
    import jax
    import jax.numpy as jnp
    from dynamax.linear_gaussian_ssm.inference import lgssm_filter
    with jax.enable_x64(True):
        _, p = params.to_dynamax()
        post = _jit_filter()(p, jnp.asarray(y), jnp.asarray(u) if u.shape[1] else None)
        return np.asarray(post.filtered_means, float)


_FILTER = []


def _jit_filter():
    """One jitted Kalman filter, reused across calls (compiles once per shape)."""
    if not _FILTER:
        import jax
        from dynamax.linear_gaussian_ssm.inference import lgssm_filter
        _FILTER.append(jax.jit(lgssm_filter))
    return _FILTER[0]


def kalman_forecast(params: SSMParams, y: np.ndarray, u: np.ndarray | None,
                    horizon: int) -> np.ndarray:
    """Forecasts aligned with their targets: out[t] = E[y[t] | y[0..t-horizon]].

    Parameters
    ----------
    y: (T, Dy) observations; u: (T, Du) inputs or None; horizon: steps ahead (>= 1).

    Returns
    -------
    (T, Dy) with NaN in the first ``horizon`` rows.
    """
    T = y.shape[0]
    u = np.zeros((T, 0)) if u is None else u
    m = _filter_means(params, y, u)
    out = np.full(y.shape, np.nan)
    if horizon >= T:
        return out
    z = m[: T - horizon]                      # state at t, predicted forward to t + h
    for j in range(1, horizon + 1):
        z = z @ params.F.T + u[j: T - horizon + j] @ params.B.T + params.b
    out[horizon:] = z @ params.H.T + u[horizon:] @ params.D.T + params.d
    return out


def dynamax_forecast(params: SSMParams, y: np.ndarray, steps: int,
                     u: np.ndarray | None = None, u_future: np.ndarray | None = None
                     ) -> np.ndarray:
    """dynamax's ``LinearGaussianSSM.forecast`` after y[0..T-1]: (steps, Dy) emission means."""
    import jax
    with jax.enable_x64(True):
        model, p = params.to_dynamax()
        import jax.numpy as jnp
        _, _, ym, _ = model.forecast(p, jnp.asarray(y), steps,
                                     inputs=None if u is None else jnp.asarray(u),
                                     forecast_inputs=None if u_future is None
                                     else jnp.asarray(u_future))
        return np.asarray(ym, float)


class LinearSSMForecaster:
    """scikit-learn-style linear Gaussian SSM forecaster (dynamax EM).

    Parameters
    ----------
    state_dim: latent dimension.
    num_iters: EM iterations.
    horizon: default forecast horizon (steps) for :meth:`predict` / :meth:`score`.
    seed: initialisation seed.

    Attributes after :meth:`fit`: ``params_`` (:class:`SSMParams`), ``log_probs_``.
    """

    def __init__(self, state_dim: int = 2, num_iters: int = 50, horizon: int = 1,
                 seed: int = 0):
        self.state_dim = state_dim
        self.num_iters = num_iters
        self.horizon = horizon
        self.seed = seed

    def get_params(self, deep: bool = True) -> dict:
        return dict(state_dim=self.state_dim, num_iters=self.num_iters,
                    horizon=self.horizon, seed=self.seed)

    def set_params(self, **kw) -> "LinearSSMForecaster":
        for k, v in kw.items():
            setattr(self, k, v)
        return self

    def fit(self, y, u=None) -> "LinearSSMForecaster":
        """Fit by EM.

        y: (T, Dy) or a list of (T_i, Dy) segments of equal length (trials); u: matching
        inputs or None.
        """
        import jax
        import jax.numpy as jnp
        from dynamax.linear_gaussian_ssm import LinearGaussianSSM
        if self.state_dim < 1:
            raise ConfigError(f"state_dim = {self.state_dim}", field="state_dim",
                              expected=">= 1")
        ys = [_as2d(s, "y") for s in (y if isinstance(y, (list, tuple)) else [y])]
        us = None
        if u is not None:
            us = [_as2d(s, "u", ys[i].shape[0])
                  for i, s in enumerate(u if isinstance(u, (list, tuple)) else [u])]
        if len({s.shape for s in ys}) != 1:
            raise DataError("segments differ in shape", field="y",
                            expected="equal-length segments (crop trials to one length)")
        if ys[0].shape[0] < 3 * self.state_dim + 3:
            raise DataError(f"{ys[0].shape[0]} samples are too few", field="y",
                            expected=f"at least {3 * self.state_dim + 3} samples")
        Y = np.stack(ys)
        U = None if us is None else np.stack(us)
        din = 0 if U is None else U.shape[2]
        with jax.enable_x64(True):
            model = LinearGaussianSSM(self.state_dim, Y.shape[2], din)
            params, props = model.initialize(jax.random.PRNGKey(self.seed))
            params, lps = model.fit_em(params, props, jnp.asarray(Y[0] if Y.shape[0] == 1 else Y),
                                       inputs=None if U is None else
                                       jnp.asarray(U[0] if U.shape[0] == 1 else U),
                                       num_iters=self.num_iters, verbose=False)
            self.params_ = SSMParams.from_dynamax(params)
            self.log_probs_ = np.asarray(lps, float)
        if not np.all(np.isfinite(self.params_.F)):
            from ..errors import NumericalError
            raise NumericalError("EM diverged (non-finite dynamics)", field="y",
                                 expected="standardised data or a smaller state_dim")
        self.n_inputs_ = din
        return self

    def _check(self):
        if not hasattr(self, "params_"):
            raise ConfigError("the forecaster is not fitted", field="fit",
                              expected="call fit(y, u) first")

    def predict(self, y, u=None, horizon: int | None = None) -> np.ndarray:
        """(T, Dy) forecasts: row t is the forecast of y[t] made ``horizon`` steps before."""
        self._check()
        h = int(self.horizon if horizon is None else horizon)
        if h < 1:
            raise ConfigError(f"horizon = {h}", field="horizon", expected=">= 1")
        y = _as2d(y, "y")
        uu = None if u is None else _as2d(u, "u", y.shape[0])
        if (uu is None and self.n_inputs_) or (uu is not None and uu.shape[1] != self.n_inputs_):
            raise DataError("inputs do not match the fitted model", field="u",
                            expected=f"{self.n_inputs_} input columns")
        return kalman_forecast(self.params_, y, uu, h)

    def score(self, y, u=None, horizon: int | None = None) -> float:
        """Mean coefficient of determination R^2 over output dims at ``horizon``."""
        y = _as2d(y, "y")
        p = self.predict(y, u, horizon)
        ok = np.isfinite(p).all(axis=1)
        r2 = 1 - ((y[ok] - p[ok]) ** 2).sum(0) / ((y[ok] - y[ok].mean(0)) ** 2).sum(0)
        return float(np.mean(r2))


def forecast_skill(y, u=None, *, horizons: Sequence[int] = (1, 2, 5, 10),
                   state_dim: int = 2, n_folds: int = 5, num_iters: int = 50,
                   seed: int = 0, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Cross-validated forecast skill against horizon.

    The series is cut into ``n_folds`` contiguous blocks; for each fold the model is fit by
    EM on the other blocks (joined in time order) and forecasts the held-out block (the
    filter starts at the block's start).

    Returns
    -------
    DataFrame with columns horizon, output, fold, rho, mae, rmse (one row per horizon,
    output dimension and fold); aggregate with ``.groupby(["horizon", "output"]).mean()``.
    """
    y = _as2d(y, "y")
    u = None if u is None else _as2d(u, "u", y.shape[0])
    T, Dy = y.shape
    if n_folds < 2:
        raise ConfigError(f"n_folds = {n_folds}", field="n_folds", expected=">= 2")
    Lb = T // n_folds
    hmax = max(horizons)
    if Lb < hmax + 10:
        raise DataError(f"blocks of {Lb} samples are too short for horizon {hmax}",
                        field="y", expected="a longer series or fewer folds")
    names = list(names) if names is not None else [f"y{i}" for i in range(Dy)]
    rows = []
    for f in range(n_folds):
        tr = [g for g in range(n_folds) if g != f]
        # training blocks joined into one sequence (one jump where the test block was);
        # dynamax's batched EM with inputs diverges (dynamax 1.0.3)
        ys = np.concatenate([y[g * Lb:(g + 1) * Lb] for g in tr])
        us = None if u is None else np.concatenate([u[g * Lb:(g + 1) * Lb] for g in tr])
        m = LinearSSMForecaster(state_dim, num_iters, seed=seed).fit(ys, us)
        yt = y[f * Lb:(f + 1) * Lb]
        ut = None if u is None else u[f * Lb:(f + 1) * Lb]
        for h in horizons:
            p = m.predict(yt, ut, h)
            for j in range(Dy):
                s = skill(yt[:, j], p[:, j])
                rows.append(dict(horizon=int(h), output=names[j], fold=f, rho=s["rho"],
                                 mae=s["mae"], rmse=s["rmse"]))
    return pd.DataFrame(rows)
