"""A small dense box-constrained QP solver (active set), fast for ~10-50 variables.

``minimise 0.5 x^T H x + g^T x  subject to  lo <= x <= hi`` with ``H`` symmetric positive
definite. Static optimisation of muscle activations solves one such problem per control step;
warm-started with the previous step's active set it usually needs a single linear solve.

>>> import numpy as np
>>> x, active, it = solve_box_qp(np.eye(2), np.array([-2.0, 0.5]), np.zeros(2), np.ones(2))
>>> x.round(6).tolist(), active.tolist()
([1.0, 0.0], [1, -1])
"""
from __future__ import annotations

import numpy as np

__all__ = ["solve_box_qp"]


def solve_box_qp(H: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 active: np.ndarray | None = None, max_iter: int = 200,
                 tol: float = 1e-10, pdas_iter: int = 4) -> tuple[np.ndarray, np.ndarray, int]:
    """Solve the box QP; returns ``(x, active, linear_solves)``.

    H: (n, n) SPD; g, lo, hi: (n,) with lo <= hi; active: (n,) int guess of the optimal
    active set (-1 at lower bound, +1 at upper, 0 free), e.g. the previous control step's.
    The guess is first repaired by up to ``pdas_iter`` primal-dual active-set updates
    (Hintermueller, Ito & Kunisch 2002); warm-started, one solve and a KKT check usually
    finish. Should that not settle (it can cycle when H is not an M-matrix), a primal
    active-set method runs from the (clipped) point: Newton step on the free variables,
    shortened at the first bound it hits (that variable becomes fixed); once the free
    subproblem is solved, the fixed variable with the most wrong-signed multiplier is
    released. It terminates finitely for strictly convex problems; ``max_iter`` only guards
    against round-off cycling.
    """
    n = g.size
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    scale = tol * (1.0 + np.abs(g).max(initial=0.0))
    solves = 0
    if active is None:
        active = np.zeros(n, dtype=np.int8)
    active = np.asarray(active, dtype=np.int8).copy()
    active[lo >= hi] = -1
    # 1) trust the guess and repair it a few times (primal-dual active-set updates: a free
    #    variable outside the box gets fixed at the bound it crossed, a fixed one whose
    #    multiplier has the wrong sign is released); usually settles in one or two solves
    for _ in range(pdas_iter):
        x = np.where(active > 0, hi, lo)
        free = active == 0
        if free.any():
            x[free] = 0.0
            x[free] = np.linalg.solve(H[free][:, free], -(g[free] + H[free] @ x))
            solves += 1
        grad = H @ x + g
        below = free & (x < lo - tol)
        above = free & (x > hi + tol)
        wrong = (((active < 0) & (grad < -scale)) | ((active > 0) & (grad > scale))) & (lo < hi)
        if not (below.any() or above.any() or wrong.any()):
            return x, active, solves
        active = np.where(below, -1, np.where(above, 1, np.where(wrong, 0, active))
                          ).astype(np.int8)
    # 2) primal active set from the clipped point
    x = np.clip(x, lo, hi)
    grad = H @ x + g
    active = np.where((x <= lo) & (grad > 0), -1,
                      np.where((x >= hi) & (grad < 0), 1, 0)).astype(np.int8)
    active[lo >= hi] = -1
    for _ in range(max_iter):
        free = active == 0
        p = np.zeros(n)
        if free.any():
            p[free] = np.linalg.solve(H[free][:, free], -grad[free])
            solves += 1
        if np.abs(p).max(initial=0.0) <= tol * (1.0 + np.abs(x).max()):
            wrong = ((active < 0) & (grad < -scale)) | ((active > 0) & (grad > scale))
            wrong &= lo < hi
            if not wrong.any():
                break
            active[int(np.argmax(np.where(wrong, np.abs(grad), -1.0)))] = 0
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(p > 0, (hi - x) / p, np.where(p < 0, (lo - x) / p, np.inf))
        step = np.where(free, step, np.inf)
        j = int(np.argmin(step))
        alpha = min(1.0, float(step[j]))
        x = np.clip(x + alpha * p, lo, hi)
        if alpha < 1.0:
            x[j] = hi[j] if p[j] > 0 else lo[j]
            active[j] = 1 if p[j] > 0 else -1
        grad = H @ x + g
    return x, active, solves
