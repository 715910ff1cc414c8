"""Surrogate series for significance tests.

* ``shuffle``: random permutation (destroys all temporal structure; a lenient null).
* ``ebisuzaki``: phase randomisation keeping the power spectrum (Ebisuzaki 1997,
  J Climate 10:2147).
* ``twin``: twin surrogates that follow the recurrence structure of the attractor
  (Thiel et al. 2006, Europhys Lett 75:535), the null used for CCM by van Nes et al. 2015.
* ``seasonal``: the mean cycle of period ``period`` plus shuffled residuals (pyEDM's
  "seasonal" surrogate; a null for periodic drivers).

>>> import numpy as np
>>> s = surrogates(np.sin(np.arange(100) * 0.3), n=5, method="ebisuzaki", seed=0)
>>> s.shape
(5, 100)
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from .embedding import embed

__all__ = ["surrogates", "METHODS"]

METHODS = ("shuffle", "ebisuzaki", "twin", "seasonal")


def _ebisuzaki(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    N = x.size
    mu = x.mean()
    X = np.fft.rfft(x - mu)
    amp = np.abs(X)
    ph = rng.uniform(0, 2 * np.pi, (n, X.size))
    Z = amp[None, :] * np.exp(1j * ph)
    Z[:, 0] = 0.0
    if N % 2 == 0:  # Nyquist bin stays real (random sign keeps its power)
        Z[:, -1] = amp[-1] * np.sqrt(2.0) * np.cos(ph[:, -1])
    return np.fft.irfft(Z, n=N, axis=1) + mu


def _twin(x: np.ndarray, n: int, rng: np.random.Generator, E: int, tau: int,
          quantile: float) -> np.ndarray:
    from .neighbors import pairwise_distances
    emb = embed(x, E, tau)
    ok = ~np.isnan(emb).any(axis=1)
    idx = np.flatnonzero(ok)
    V = emb[idx]
    M = idx.size
    if M > 6000:
        raise DataError(f"twin surrogates need an (M x M) recurrence matrix; M = {M}",
                        field="x", expected="at most 6000 embedded points (decimate first)")
    D = pairwise_distances(V, V)
    eps = np.quantile(D[np.triu_indices(M, 1)], quantile)
    R = D <= eps
    # twins: points with identical recurrence-matrix columns
    _, group = np.unique(np.packbits(R, axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    members = [np.flatnonzero(group == g) for g in range(group.max() + 1)]
    out = np.empty((n, M))
    for s in range(n):
        i = int(rng.integers(M))
        for t in range(M):
            out[s, t] = V[i, 0]
            twins = members[group[i]]
            j = int(twins[rng.integers(twins.size)]) if twins.size > 1 else i
            i = j + 1 if j + 1 < M else int(rng.integers(M))
    full = np.full((n, x.size), np.nan)
    full[:, idx] = out
    # rows lost to the embedding get values from the surrogate's own start
    lost = np.flatnonzero(~ok)
    if lost.size:
        full[:, lost] = out[:, :lost.size]
    return full


def _seasonal(x: np.ndarray, n: int, rng: np.random.Generator, period: int) -> np.ndarray:
    N = x.size
    phase = np.arange(N) % period
    cycle = np.array([np.mean(x[phase == p]) for p in range(period)])
    resid = x - cycle[phase]
    out = np.empty((n, N))
    for s in range(n):
        out[s] = cycle[phase] + rng.permutation(resid)
    return out


def surrogates(x, n: int = 100, method: str = "ebisuzaki", *, seed: int | None = 0,
               period: int | None = None, E: int = 2, tau: int = -1,
               recurrence_quantile: float = 0.05) -> np.ndarray:
    """``n`` surrogate copies of a series.

    Parameters
    ----------
    x: (N,) finite series.
    n: number of surrogates.
    method: "shuffle", "ebisuzaki", "twin" or "seasonal".
    seed: random seed.
    period: samples per cycle (seasonal only).
    E, tau, recurrence_quantile: embedding and recurrence threshold (quantile of the
        pairwise distances) for twin surrogates.

    Returns
    -------
    (n, N) array.
    """
    x = np.asarray(x, float)
    if x.ndim != 1:
        raise DataError(f"series has shape {x.shape}", field="x", expected="a 1-D array")
    if x.size < 4 or not np.all(np.isfinite(x)):
        raise DataError("surrogates need a finite series of >= 4 samples", field="x",
                        expected="no NaN (fill or drop gaps first)")
    if np.all(x == x[0]):
        raise DataError("series is constant", field="x", expected="a varying signal")
    if n < 1:
        raise ConfigError(f"n = {n} is invalid", field="n", expected=">= 1")
    rng = np.random.default_rng(seed)
    if method == "shuffle":
        return np.stack([rng.permutation(x) for _ in range(n)])
    if method == "ebisuzaki":
        return _ebisuzaki(x, n, rng)
    if method == "twin":
        return _twin(x, n, rng, E, tau, recurrence_quantile)
    if method == "seasonal":
        if period is None or period < 2 or period > x.size // 2:
            raise ConfigError(f"period = {period} is invalid", field="period",
                              expected="samples per cycle, 2 <= period <= N/2")
        return _seasonal(x, n, rng, int(period))
    raise ConfigError(f"unknown surrogate method {method!r}", field="method",
                      expected=" / ".join(METHODS))
