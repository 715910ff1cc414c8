"""Time-delay embeddings and pyEDM-style library / prediction index sets.

Conventions follow pyEDM 2.5.7 so that numbers can be compared one to one:

* ``tau < 0`` looks back in time: row ``t`` of an ``E``-dimensional embedding of ``x`` is
  ``[x(t), x(t+tau), ..., x(t+(E-1)tau)]``; rows that reach outside the series are NaN.
* ``lib`` / ``pred`` are flat lists of 1-based, inclusive ``start, stop`` pairs
  (``[1, 100, 201, 300]`` = rows 1..100 and 201..300).
* The library is trimmed so that no embedding vector reaches into a gap between disjoint
  library segments and so that every neighbour has a target ``Tp`` steps ahead.

>>> import numpy as np
>>> embed(np.arange(5.0), E=2, tau=-1)
array([[ 0., nan],
       [ 1.,  0.],
       [ 2.,  1.],
       [ 3.,  2.],
       [ 4.,  3.]])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["embed", "embed_columns", "as_columns", "parse_ranges", "IndexSets",
           "library_prediction_indices", "segment_ids_to_valid"]


def _check_E_tau(E: int, tau: int) -> None:
    if int(E) != E or E < 1:
        raise ConfigError(f"E = {E} is invalid", field="E", expected="an integer >= 1")
    if int(tau) != tau or tau == 0:
        raise ConfigError(f"tau = {tau} is invalid", field="tau",
                          expected="a non-zero integer (negative looks back in time)")


def embed(x: np.ndarray, E: int, tau: int = -1) -> np.ndarray:
    """Delay embedding of one series.

    Parameters
    ----------
    x: (N,) series (NaN allowed).
    E: embedding dimension (>= 1).
    tau: delay in samples; negative (default) looks back in time, as in pyEDM.

    Returns
    -------
    (N, E) array; row t holds ``x[t + j*tau]`` for j = 0..E-1, NaN outside the series.
    """
    _check_E_tau(E, tau)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise DataError(f"series has shape {x.shape}", field="x", expected="a 1-D array")
    n = x.size
    out = np.full((n, E), np.nan)
    for j in range(E):
        s = j * tau  # row t reads x[t + s]
        if s <= 0:
            if -s < n:
                out[-s:, j] = x[:n + s]
        else:
            if s < n:
                out[:n - s, j] = x[s:]
    return out


def embed_columns(X: np.ndarray, E: int, tau: int = -1, *, order: str = "lag") -> np.ndarray:
    """Mixed multivariate embedding: every column delay-embedded with the same E, tau.

    Parameters
    ----------
    X: (N, C) columns.
    order: ``"lag"`` (pyEDM Simplex/Embed: a(t), b(t), a(t-1), b(t-1), ...) or ``"variable"``
        (pyEDM CCM: a(t), a(t-1), ..., b(t), ...). Distances do not depend on the order.

    Returns
    -------
    (N, E*C) array with NaN where a lag leaves the series.
    """
    X = as_columns(X)
    blocks = [embed(X[:, c], E, tau) for c in range(X.shape[1])]
    if order == "variable":
        return np.hstack(blocks)
    if order != "lag":
        raise ConfigError(f"unknown order {order!r}", field="order",
                          expected="'lag' or 'variable'")
    stacked = np.stack(blocks, axis=2)  # (N, E, C)
    return stacked.reshape(X.shape[0], E * X.shape[1])


def as_columns(X, name: str = "x") -> np.ndarray:
    """(N,) or (N, C) array-like -> float64 (N, C)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"array has shape {X.shape}", field=name,
                        expected="(N,) or (N, C) samples x channels")
    return X


def parse_ranges(r, n: int, name: str) -> list[tuple[int, int]]:
    """pyEDM ``lib``/``pred`` spec -> list of 1-based inclusive (start, stop) pairs.

    ``None`` means the whole record ``[1, n]``; a string ``"1 100"`` is split on spaces.
    """
    if r is None:
        return [(1, n)]
    if isinstance(r, str):
        r = [int(v) for v in r.split()]
    r = [int(v) for v in np.asarray(r).ravel()]
    if len(r) == 0 or len(r) % 2:
        raise ConfigError(f"{name} = {r} must hold start, stop pairs", field=name,
                          expected="an even number of 1-based inclusive row numbers")
    pairs = [(r[i], r[i + 1]) for i in range(0, len(r), 2)]
    for a, b in pairs:
        if a < 1 or b < 1:
            raise ConfigError(f"{name} pair ({a}, {b}) has rows below 1", field=name,
                              expected="1-based row numbers (the first row is 1)")
        if a > b:
            raise ConfigError(f"{name} pair ({a}, {b}) starts after it stops", field=name,
                              expected="start <= stop")
        if b > n:
            raise ConfigError(f"{name} pair ({a}, {b}) reaches past the {n} data rows",
                              field=name, expected=f"rows within 1..{n}")
    return pairs


@dataclass(frozen=True)
class IndexSets:
    """0-based row indices of the library and of the prediction points.

    lib: (L,) rows whose embedding vectors may serve as neighbours (NaN rows removed).
    pred: (P,) rows to predict from (NaN embedding rows removed).
    """

    lib: np.ndarray
    pred: np.ndarray


def library_prediction_indices(emb: np.ndarray, *, lib=None, pred=None, E: int = 1,
                               tau: int = -1, Tp: int = 1, embedded: bool = False,
                               valid_lib: np.ndarray | None = None,
                               target: np.ndarray | None = None) -> IndexSets:
    """Library and prediction rows exactly as pyEDM 2.5.7 builds them.

    Parameters
    ----------
    emb: (N, D) embedding (NaN rows are left out of both sets).
    lib, pred: pyEDM 1-based inclusive pairs (None: all rows).
    E, tau, Tp, embedded: as for :func:`simplex`.
    valid_lib: optional (N,) bool mask restricting the library.
    target: optional (N,) target; library rows whose target ``Tp`` steps ahead is outside
        the record are dropped (pyEDM would wrap around there).
    """
    n = emb.shape[0]
    lib_pairs = parse_ranges(lib, n, "lib")
    pred_pairs = parse_ranges(pred, n, "pred")
    shift = abs(tau) * (E - 1)
    parts = []
    for r, (start, stop) in enumerate(lib_pairs):
        if not embedded:
            if tau < 0:
                start += shift
            else:
                stop -= shift
        if Tp < 0:
            if not embedded:
                start = max(start, start + abs(Tp) - 1)
        elif r == len(lib_pairs) - 1:
            stop -= Tp
        parts.append(np.arange(start - 1, stop, dtype=np.int64))
    lib_i = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if embedded:
        if lib_i.size < abs(Tp):
            raise DataError(f"library of {lib_i.size} rows is too short for Tp = {Tp}",
                            field="lib", expected="more library rows than |Tp|")
    else:
        span = max(-shift, 0, Tp) - min(-shift, 0, Tp) + 1
        if span > lib_i.size:
            raise DataError(f"E = {E}, tau = {tau}, Tp = {Tp} need {span} rows but the "
                            f"library has {max(lib_i.size, 0)}", field="lib",
                            expected="a longer library, or a smaller E*|tau| + |Tp|")
    pred_i = np.concatenate([np.arange(a - 1, b, dtype=np.int64) for a, b in pred_pairs])
    ok = ~np.isnan(emb).any(axis=1)
    lib_i = lib_i[(lib_i >= 0) & (lib_i < n)]
    lib_i = lib_i[ok[lib_i]]
    tgt_rows = lib_i + Tp
    lib_i = lib_i[(tgt_rows >= 0) & (tgt_rows < n)]
    if valid_lib is not None:
        valid_lib = np.asarray(valid_lib, dtype=bool)
        if valid_lib.shape != (n,):
            raise DataError(f"valid_lib has shape {valid_lib.shape}", field="valid_lib",
                            expected=f"a boolean mask of {n} rows")
        lib_i = lib_i[valid_lib[lib_i]]
    pred_i = pred_i[ok[pred_i]]
    if lib_i.size == 0:
        raise DataError("no library rows are left (all NaN or excluded)", field="lib",
                        expected="finite embedding vectors in the library range")
    if pred_i.size == 0:
        raise DataError("no prediction rows are left (all NaN or excluded)", field="pred",
                        expected="finite embedding vectors in the prediction range")
    return IndexSets(lib_i, pred_i)


def segment_ids_to_valid(segments: np.ndarray, E: int, tau: int, Tp: int = 0) -> np.ndarray:
    """Rows whose embedding vector (and target ``Tp`` ahead) lie inside one segment.

    Parameters
    ----------
    segments: (N,) integer segment (trial) id per row; a row with id < 0 is a gap.

    Returns
    -------
    (N,) bool: True where ``t + j*tau`` (j < E) and ``t + Tp`` all share row t's segment.
    """
    seg = np.asarray(segments)
    n = seg.size
    ok = seg >= 0
    idx = np.arange(n)
    for s in [j * tau for j in range(1, E)] + ([Tp] if Tp else []):
        j = idx + s
        inside = (j >= 0) & (j < n)
        same = np.zeros(n, bool)
        same[inside] = seg[j[inside]] == seg[inside]
        ok &= same
    return ok
