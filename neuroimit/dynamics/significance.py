"""Significance of CCM: surrogate tests and convergence tests.

Surrogate test (e.g. van Nes et al. 2015, Nat Clim Change 5:445): the candidate driver is
replaced by surrogates; the cross-map skill of the real pair must beat the surrogates'.
Because the library embedding does not change, all surrogates are cross-mapped with the
same neighbours in one pass (cost ~ one CCM run, not n of them).

Convergence (Sugihara et al. 2012): rho must rise with library size. Tested by Kendall's
tau of mean rho over library sizes and by a one-sided Fisher z test of rho(L_max) >
rho(L_min).

>>> from neuroimit.dynamics.ccm import coupled_logistic
>>> x, y = coupled_logistic(400)
>>> sig = ccm_significance(x, y, E=2, n_surrogates=19, seed=0)
>>> sig.p_value["x:y"] <= 0.05
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigError, DataError
from ._inputs import check_int, check_series, columns_and_names
from .ccm import _check_sizes, _direction, _valid_rows, cross_map_data
from .results import CCMResult
from .surrogates import surrogates

__all__ = ["SignificanceResult", "ccm_significance", "convergence_test", "fisher_z_test"]


@dataclass
class SignificanceResult:
    """Observed CCM skill against a surrogate null.

    lib_sizes: (K,); observed[label]: (K,) mean rho; null[label]: (n, K) mean rho of each
    surrogate; p_value[label]: p at the largest library size, ``(1 + #null >= obs)/(n+1)``;
    p_values[label]: (K,) the same at every size. Labels "x:y" and "y:x" (pyEDM naming:
    "x:y" tests whether y drives x).
    """

    lib_sizes: np.ndarray
    observed: dict[str, np.ndarray]
    null: dict[str, np.ndarray]
    p_values: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def p_value(self) -> dict[str, float]:
        return {k: float(v[-1]) for k, v in self.p_values.items()}

    def null_quantiles(self, q=(0.05, 0.95)) -> dict[str, np.ndarray]:
        """(K, len(q)) quantiles of the surrogate null per direction."""
        return {k: np.quantile(v, q, axis=0).T for k, v in self.null.items()}

    def to_pandas(self) -> pd.DataFrame:
        rows = []
        for lab in self.observed:
            q = np.quantile(self.null[lab], [0.05, 0.5, 0.95], axis=0)
            for i, L in enumerate(self.lib_sizes):
                rows.append(dict(direction=lab, lib_size=int(L), rho=self.observed[lab][i],
                                 null_q05=q[0, i], null_median=q[1, i], null_q95=q[2, i],
                                 p_value=self.p_values[lab][i]))
        return pd.DataFrame(rows)


def ccm_significance(x, y, *, E: int, lib_sizes: Sequence[int] | None = None,
                     samples: int = 1, seed: int | None = 0, n_surrogates: int = 100,
                     method: str = "ebisuzaki", tau: int = -1, Tp: int = 0, knn: int = 0,
                     exclusion_radius: int = 0, period: int | None = None,
                     segments=None, valid=None, strategy: str = "auto"
                     ) -> SignificanceResult:
    """Surrogate test of CCM in both directions.

    Parameters
    ----------
    x, y: (N,) finite series.
    E, tau, Tp, knn, exclusion_radius, segments, valid, strategy: as for
        :func:`~neuroimit.dynamics.ccm.ccm`.
    lib_sizes: library sizes (default: the full library only).
    samples: random libraries per size (the same libraries for the real pair and for
        every surrogate).
    n_surrogates, method, period: the null (see :func:`surrogates`); the candidate
        driver is replaced (y for "x:y", x for "y:x").
    seed: seeds libraries and surrogates.

    Returns
    -------
    :class:`SignificanceResult`.
    """
    X, xn = columns_and_names(x, "x")
    Y, yn = columns_and_names(y, "y")
    if X.shape != Y.shape or X.shape[1] != 1:
        raise DataError(f"x {X.shape} and y {Y.shape} must be single series of equal length",
                        field="y", expected="two (N,) series")
    check_series(X, "x")
    check_series(Y, "y")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise DataError("surrogate tests need gap-free series", field="x/y",
                        expected="no NaN (use segments= for trials instead of NaN gaps)")
    N = X.shape[0]
    E = check_int(E, "E", 1)
    n_surrogates = check_int(n_surrogates, "n_surrogates", 1)
    sizes = _check_sizes(lib_sizes if lib_sizes is not None else [N], N, E)
    k = check_int(knn, "knn", 0) or E + 1
    excl = check_int(exclusion_radius, "exclusion_radius", 0)
    ok = _valid_rows(N, segments, valid, E, tau, Tp, False)
    ss = np.random.SeedSequence(seed)
    s1, s2 = [int(c.generate_state(1)[0]) for c in ss.spawn(2)]
    sy = surrogates(Y[:, 0], n_surrogates, method, seed=s1, period=period, E=E, tau=tau)
    sx = surrogates(X[:, 0], n_surrogates, method, seed=s2, period=period, E=E, tau=tau)
    out_obs, out_null, out_p = {}, {}, {}
    for lab, lib, tgt, sur in ((f"{xn[0]}:{yn[0]}", X, Y, sy), (f"{yn[0]}:{xn[0]}", Y, X, sx)):
        targets = np.column_stack([tgt[:, 0], sur.T])
        d = cross_map_data(lib, targets, E=E, tau=tau, Tp=Tp, embedded=False, ok=ok)
        r = _direction(d, sizes, samples, seed, k, excl, strategy, k + 1)  # (K, S, n+1)
        m = np.nanmean(r, axis=1)
        obs, null = m[:, 0], m[:, 1:].T
        out_obs[lab] = obs
        out_null[lab] = null
        out_p[lab] = (1 + (null >= obs[None, :]).sum(axis=0)) / (n_surrogates + 1)
    params = dict(E=E, tau=tau, Tp=Tp, knn=k, exclusion_radius=excl, samples=samples,
                  seed=seed, n_surrogates=n_surrogates, method=method)
    return SignificanceResult(sizes, out_obs, out_null, out_p, params=params)


def fisher_z_test(r_small: float, r_large: float, n_small: int, n_large: int) -> tuple[float, float]:
    """One-sided test that correlation r_large (from n_large pairs) exceeds r_small.

    Returns (z, p) with ``z = (atanh r_large - atanh r_small) / sqrt(1/(n_s-3) + 1/(n_l-3))``.
    """
    if n_small <= 3 or n_large <= 3:
        raise DataError("Fisher z needs more than 3 pairs per correlation", field="n",
                        expected="> 3 predicted points")
    zs = np.arctanh(np.clip(r_small, -0.999999, 0.999999))
    zl = np.arctanh(np.clip(r_large, -0.999999, 0.999999))
    z = (zl - zs) / np.sqrt(1.0 / (n_small - 3) + 1.0 / (n_large - 3))
    return float(z), float(stats.norm.sf(z))


def convergence_test(result: CCMResult) -> pd.DataFrame:
    """Does rho converge (rise) with library size? One row per direction.

    Columns: kendall_tau, kendall_p (one-sided, tau > 0) of mean rho against library size;
    fisher_z, fisher_p (one-sided) of rho(L_max) vs rho(L_min), with the number of
    predicted points as the sample size of each correlation; rho_min, rho_max.
    """
    if result.lib_sizes.size < 2:
        raise ConfigError("convergence needs at least two library sizes", field="lib_sizes",
                          expected=">= 2 sizes, e.g. 10 .. N")
    rows = []
    for lab, mean, npts in ((result.label_xy, result.mean_xy, result.params.get("n_points_xy")),
                            (result.label_yx, result.mean_yx, result.params.get("n_points_yx"))):
        tau, p2 = stats.kendalltau(result.lib_sizes, mean)
        p1 = p2 / 2 if tau > 0 else 1 - p2 / 2
        n = int(npts) if npts else int(result.lib_sizes.max())
        z, pz = fisher_z_test(mean[0], mean[-1], n, n)
        rows.append(dict(direction=lab, kendall_tau=float(tau), kendall_p=float(p1),
                         fisher_z=z, fisher_p=pz, rho_min=float(mean[0]),
                         rho_max=float(mean[-1])))
    return pd.DataFrame(rows).set_index("direction")
