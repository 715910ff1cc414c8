"""Batched Levenberg-Marquardt solvers of STAC (pure JAX functions on arrays).

Three jitted programs, all vmapped, none with a Python loop over frames:

* :meth:`Problem.solve_frames` - the independent q-phase: every frame its own small LM
  problem (``nq`` unknowns), joint limits by projection, per-frame damping.
* :meth:`Problem.solve_smooth` - the coupled q-phase: chunks of consecutive frames solved
  jointly with a second-difference smoothness prior. The normal equations are block
  diagonal (one ``nq x nq`` block per frame) plus a banded smoothness term; each LM step is
  solved by block-Jacobi preconditioned conjugate gradients.
* :meth:`Problem.calibrate` - the m-phase: the global parameters (keypoint offsets, log
  segment scales, base transform) jointly with the poses of a sample of frames, by LM on the
  Schur complement (the frame blocks are eliminated, a ``P x P`` system remains).

The parameter vector ``theta`` (P,) is ``[offsets (3K), log_scales (S), base_t (3),
base_rotvec (3)]``; markers are ``R(base_rotvec) @ site_marker + base_t``. All residuals are
standardised (keypoint error / noise sd), so costs are negative log-posteriors up to a
constant.
"""
from __future__ import annotations

from dataclasses import dataclass
import jax
import jax.numpy as jnp
import numpy as np

from .kinematics import FREE, HINGE, SLIDE, KinTree, marker_positions, retract, \
    site_frames, site_jacobian

__all__ = ["Layout", "Problem", "rotvec_to_mat"]

_EPS_DAMP = 1e-9


def rotvec_to_mat(v):
    """Rotation matrix of a rotation vector (axis * angle), differentiable at 0."""
    th2 = jnp.sum(v * v)
    small = th2 < 1e-16
    th = jnp.sqrt(jnp.where(small, 1.0, th2))
    a = jnp.where(small, 1.0 - th2 / 6.0, jnp.sin(th) / th)
    b = jnp.where(small, 0.5 - th2 / 24.0, (1.0 - jnp.cos(th)) / jnp.where(small, 1.0, th2))
    k = jnp.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]], dtype=v.dtype)
    return jnp.eye(3, dtype=v.dtype) + a * k + b * (k @ k)


@dataclass(frozen=True)
class Layout:
    """Index layout of the global parameter vector ``theta``."""

    n_kp: int
    n_seg: int

    @property
    def size(self) -> int:
        return 3 * self.n_kp + self.n_seg + 6

    def unpack(self, theta):
        k3 = 3 * self.n_kp
        off = theta[:k3].reshape(self.n_kp, 3)
        logs = theta[k3:k3 + self.n_seg]
        t = theta[k3 + self.n_seg:k3 + self.n_seg + 3]
        rv = theta[k3 + self.n_seg + 3:k3 + self.n_seg + 6]
        return off, logs, t, rv

    def pack(self, offsets, log_scales, base_t, base_rv) -> np.ndarray:
        return np.concatenate([np.asarray(offsets, float).ravel(),
                               np.asarray(log_scales, float).ravel(),
                               np.asarray(base_t, float).ravel(),
                               np.asarray(base_rv, float).ravel()])

    def slices(self) -> dict[str, slice]:
        k3 = 3 * self.n_kp
        return {"offsets": slice(0, k3), "scales": slice(k3, k3 + self.n_seg),
                "base_t": slice(k3 + self.n_seg, k3 + self.n_seg + 3),
                "base_r": slice(k3 + self.n_seg + 3, k3 + self.n_seg + 6)}


def _cg_block(matvec, b, minv, x0, n):
    """Preconditioned CG for ``matvec(x) = b`` with block preconditioner ``minv`` (C, n, n)."""
    def prec(v):
        return jnp.einsum("cij,cj->ci", minv, v)

    r = b - matvec(x0)
    z = prec(r)
    p = z
    rz = jnp.sum(r * z)

    def body(_, s):
        x, r, p, rz = s
        ap = matvec(p)
        den = jnp.sum(p * ap)
        alpha = jnp.where(den > 0, rz / jnp.where(den > 0, den, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * ap
        z = prec(r)
        rz_new = jnp.sum(r * z)
        beta = jnp.where(rz > 0, rz_new / jnp.where(rz > 0, rz, 1.0), 0.0)
        return x, r, z + beta * p, rz_new

    x, *_ = jax.lax.fori_loop(0, n, body, (x0, r, p, rz))
    return x


class Problem:
    """Compiled STAC programs for one kinematic tree and keypoint set.

    Parameters
    ----------
    tree: kinematic tree of the keypoint sites (:func:`~neuroimit.stac.kinematics.build_tree`).
    lower, upper: (nq,) joint limits (``-inf``/``inf`` where unlimited).
    noise_sd: keypoint noise sd (m); residuals are divided by it.
    """

    def __init__(self, tree: KinTree, lower: np.ndarray, upper: np.ndarray, noise_sd: float):
        self.tree = tree
        self.layout = Layout(len(tree.site_ids), tree.n_segments)
        self.nq = tree.nq
        self.nv = tree.nv
        # coordinates that are plain numbers (hinge, slide, free-root position): smoothed
        lq, lv = [], []
        for js in tree.joints:
            for (t, adr, _a, _p, _q0, _j, dof) in js:
                if t == FREE:
                    lq += [adr, adr + 1, adr + 2]
                    lv += [dof, dof + 1, dof + 2]
                elif t in (HINGE, SLIDE):
                    lq.append(adr)
                    lv.append(dof)
        self.lin_q = np.array(lq, int)
        self.lin_v = np.array(lv, int)
        self.lower = np.asarray(lower, float)
        self.upper = np.asarray(upper, float)
        self.noise_sd = float(noise_sd)
        # iteration counts are traced (not static) so that one compiled program serves them all
        self._jit_frames = jax.jit(self._frames_impl)
        self._jit_smooth = jax.jit(self._smooth_impl)
        self._jit_calib = jax.jit(self._calib_impl)
        self._jit_markers = jax.jit(jax.vmap(self.markers, in_axes=(0, 0)))

    # ------------------------------------------------------------------ model
    def markers(self, q, theta):
        """Model keypoint positions (K, 3) in the data frame for one frame."""
        off, logs, t, rv = self.layout.unpack(theta)
        scales = jnp.exp(logs) if self.layout.n_seg else None
        m = marker_positions(self.tree, q, scales, off)
        return m @ rotvec_to_mat(rv).T + t

    def residual(self, q, theta, x, sw):
        """Standardised residuals (3K,) of one frame; ``sw`` (K,) sqrt weights."""
        return ((self.markers(q, theta) - x) * sw[:, None]).ravel() / self.noise_sd

    def project(self, q):
        """Clip to the joint limits (one frame; quaternions stay unit through retract)."""
        return jnp.clip(q, jnp.asarray(self.lower, q.dtype), jnp.asarray(self.upper, q.dtype))

    def free_dofs(self, q, g):
        """(nv,) 1 for dofs an LM step may move, 0 for a coordinate held at a joint limit.

        A coordinate at its lower (upper) limit whose cost gradient ``g`` (nv,) points
        inward-positive (outward) is held: the descent direction leaves the feasible range,
        so the projected step could not move it anyway. Dropping it from the linear system
        (an active set) lets the other unknowns - in the m-phase the base rotation, offsets
        and scales - account for the pose that cannot follow, instead of assuming it can.
        """
        nv = self.nv
        if self.lin_q.size == 0:
            return jnp.ones(nv, q.dtype)
        lo = jnp.asarray(self.lower[self.lin_q], q.dtype)
        hi = jnp.asarray(self.upper[self.lin_q], q.dtype)
        ql = q[self.lin_q]
        gl = g[self.lin_v]
        tol = 1e-6 if q.dtype == jnp.float32 else 1e-12
        held = ((ql <= lo + tol) & (gl > 0)) | ((ql >= hi - tol) & (gl < 0))
        return jnp.ones(nv, q.dtype).at[self.lin_v].set(jnp.where(held, 0.0, 1.0))

    def limit_barrier(self, q, bar):
        """Soft barrier keeping plain coordinates off their limits (one frame).

        ``bar`` (3, nq): inner bounds ``lo'`` and ``hi'`` and slopes ``isd``; the residual of
        coordinate j is ``isd_j * (min(q_j - lo'_j, 0) + max(q_j - hi'_j, 0))`` (zero inside
        [lo', hi'], so it costs nothing away from the limits). Returns the residual and its
        derivative, both (n_lin,) over :attr:`lin_q` / :attr:`lin_v`.
        """
        ql = q[self.lin_q]
        lo, hi, isd = bar[0, self.lin_q], bar[1, self.lin_q], bar[2, self.lin_q]
        below = ql < lo
        above = ql > hi
        r = isd * (jnp.where(below, ql - lo, 0.0) + jnp.where(above, ql - hi, 0.0))
        return r, jnp.where(below | above, isd, 0.0)

    def step(self, q, dv):
        """Tangent step then projection onto the joint limits."""
        return self.project(retract(self.tree, q, dv))

    def _res_jac(self, q, theta, x, sw):
        """Residual (3K,) and its analytic Jacobian (3K, nv) for one frame."""
        off, logs, t, rv = self.layout.unpack(theta)
        scales = jnp.exp(logs) if self.layout.n_seg else None
        sp, sr, ax, an = site_frames(self.tree, q, scales, dofs=True)
        m = sp + jnp.einsum("kij,kj->ki", sr, off)
        jac = site_jacobian(self.tree, m, ax, an)                   # (K, 3, nv)
        R = rotvec_to_mat(rv)
        w = sw[:, None] / self.noise_sd
        r = ((m @ R.T + t - x) * w).ravel()
        jac = jnp.einsum("ij,kjv->kiv", R, jac) * w[:, :, None]
        return jac.reshape(-1, self.nv), r

    # ------------------------------------------------------------------ q-phase, independent
    def _frames_one(self, q0, theta, x, sw, n_iter, ftol):
        q0 = self.project(q0)
        r0 = self.residual(q0, theta, x, sw)
        eye = jnp.eye(self.nv, dtype=q0.dtype)

        def body(s):
            it, q, cost, mu, done = s
            jac, r = self._res_jac(q, theta, x, sw)
            g = jac.T @ r
            free = self.free_dofs(q, g)
            jac = jac * free
            h = jac.T @ jac + jnp.diag(1.0 - free)
            d = jnp.diagonal(h)
            dv = spd_solve(h + mu * (jnp.diag(d) + _EPS_DAMP * eye), -(g * free))
            qn = self.step(q, dv)
            rn = self.residual(qn, theta, x, sw)
            cn = rn @ rn
            ok = cn < cost
            # converged: an accepted step gained less than ftol (relative), or the damping
            # has run away (no descent left)
            done = (ok & (cost - cn <= ftol * cost)) | (mu >= 1e8)
            return (it + 1, jnp.where(ok, qn, q), jnp.where(ok, cn, cost),
                    jnp.clip(jnp.where(ok, mu * 0.3, mu * 4.0), 1e-9, 1e9), done)

        _, q, cost, _, _ = jax.lax.while_loop(
            lambda s: (s[0] < n_iter) & ~s[4], body,
            (jnp.int32(0), q0, r0 @ r0, jnp.asarray(1e-3, q0.dtype), jnp.asarray(False)))
        return q, cost

    def _frames_impl(self, q0, theta, x, sw, n_iter, ftol):
        return jax.vmap(self._frames_one, in_axes=(0, 0, 0, 0, None, None))(
            q0, theta, x, sw, n_iter, ftol)

    def solve_frames(self, q0, theta, x, sw, n_iter: int, ftol: float = 0.0):
        """Independent LM per frame (joint limits by projection and an active set).

        Parameters: q0 (N, nq); theta (N, P); x (N, K, 3) m (NaN-free); sw (N, K);
        at most ``n_iter`` iterations, a frame stops when an accepted step improves its cost
        by less than ``ftol`` (relative; 0 = run all; the batch runs until every frame stops).
        Returns q (N, nq), cost (N,) (sum of squared standardised residuals).
        """
        return self._jit_frames(q0, theta, x, sw, np.int32(n_iter),
                                np.asarray(ftol, np.asarray(q0).dtype))

    # ------------------------------------------------------------------ q-phase, coupled
    def _smooth_one(self, q0, theta, x, sw, w2, n_iter, n_cg):
        """One chunk: q0 (C, nq), x (C, K, 3), sw (C, K), w2 (C-2,) second-difference weights
        (1 / sd^2, 0 where a padded frame is involved). Only plain coordinates (hinge, slide,
        root position) are smoothed; ball/free rotations are not."""
        nv = self.nv
        lq, lv = jnp.asarray(self.lin_q), jnp.asarray(self.lin_v)
        eye = jnp.eye(nv, dtype=q0.dtype)
        rj = jax.vmap(self._res_jac, in_axes=(0, None, 0, 0))
        res = jax.vmap(self.residual, in_axes=(0, None, 0, 0))
        step = jax.vmap(self.step)
        lin = np.zeros(nv)
        lin[self.lin_v] = 1.0

        def d2(a):
            return a[2:] - 2.0 * a[1:-1] + a[:-2]

        def d2t(v):  # adjoint of d2
            z = jnp.zeros((v.shape[0] + 2,) + v.shape[1:], v.dtype)
            return z.at[:-2].add(v).at[1:-1].add(-2.0 * v).at[2:].add(v)

        def smooth_grad(qlin):  # gradient wrt the tangent coordinates (C, nv)
            g = d2t(w2[:, None] * d2(qlin))
            return jnp.zeros((qlin.shape[0], nv), qlin.dtype).at[:, lv].set(g)

        def cost_of(q, r):
            return jnp.sum(r * r) + jnp.sum(w2[:, None] * d2(q[:, lq]) ** 2)

        # diagonal of the smoothness term's normal matrix, for the preconditioner
        dd = (jnp.zeros(w2.shape[0] + 2, q0.dtype).at[:-2].add(w2).at[1:-1].add(4.0 * w2)
              .at[2:].add(w2))
        q0 = jax.vmap(self.project)(q0)
        c0 = cost_of(q0, res(q0, theta, x, sw))

        def body(_, s):
            q, cost, mu = s
            jac, r = rj(q, theta, x, sw)
            a = jnp.einsum("cmi,cmj->cij", jac, jac)
            g = jnp.einsum("cmi,cm->ci", jac, r) + smooth_grad(q[:, lq])
            damp = mu * (jnp.diagonal(a, axis1=1, axis2=2) + _EPS_DAMP)

            def matvec(v):
                return (jnp.einsum("cij,cj->ci", a, v) + smooth_grad(v[:, lv]) + damp * v)

            blocks = a + jax.vmap(jnp.diag)(damp + dd[:, None] * lin)
            minv = jax.vmap(lambda m: spd_solve(m, eye))(blocks)
            x0 = -jnp.einsum("cij,cj->ci", minv, g)
            dv = _cg_block(matvec, -g, minv, x0, n_cg)
            qn = step(q, dv)
            cn = cost_of(qn, res(qn, theta, x, sw))
            ok = cn < cost
            return (jnp.where(ok, qn, q), jnp.where(ok, cn, cost),
                    jnp.clip(jnp.where(ok, mu * 0.3, mu * 4.0), 1e-9, 1e9))

        q, cost, _ = jax.lax.fori_loop(0, n_iter, body, (q0, c0, jnp.asarray(1e-3, q0.dtype)))
        return q, cost

    def _smooth_impl(self, q0, theta, x, sw, w2, n_iter, n_cg):
        return jax.vmap(self._smooth_one, in_axes=(0, 0, 0, 0, 0, None, None))(
            q0, theta, x, sw, w2, n_iter, n_cg)

    def solve_smooth(self, q0, theta, x, sw, w2, n_iter: int, n_cg: int):
        """Coupled LM over chunks: q0 (B, C, nq), theta (B, P), x (B, C, K, 3), sw (B, C, K),
        w2 (B, C-2). Returns q (B, C, nq), cost (B,)."""
        return self._jit_smooth(q0, theta, x, sw, w2, np.int32(n_iter), np.int32(n_cg))

    # ------------------------------------------------------------------ m-phase
    def jac_theta(self, q, th, xx, ss):
        """(3K, P) Jacobian of one frame's residual in theta, column blocks in layout
        order: offsets and base translation enter linearly (analytic), log scales by
        forward mode through the kinematics, the base rotation by forward mode through
        the rotation only (the model markers do not depend on it). One frame: q (nq,),
        th (P,), xx (K, 3), ss (K,) sqrt weights."""
        lay = self.layout
        k3 = 3 * lay.n_kp
        off, logs, _t, rv = lay.unpack(th)

        def model(lg):
            sp, sr = site_frames(self.tree, q, jnp.exp(lg) if lay.n_seg else None)
            mk = sp + jnp.einsum("kij,kj->ki", sr, off)
            return mk, (mk, sr)

        if lay.n_seg:
            j_s, (m, sr) = jax.jacfwd(model, has_aux=True)(logs)          # (K, 3, S)
        else:
            m, sr = model(logs)[1]
            j_s = jnp.zeros((lay.n_kp, 3, 0), q.dtype)
        R = rotvec_to_mat(rv)
        j_r = jax.jacfwd(lambda v: m @ rotvec_to_mat(v).T)(rv)             # (K, 3, 3)
        w = (ss / self.noise_sd)[:, None, None]
        blocks = jnp.einsum("ij,kjl->kil", R, sr) * w                     # (K, 3, 3)
        j_off = (blocks[:, :, None, :] * np.eye(lay.n_kp)[:, None, :, None]).reshape(k3, k3)
        j_t = (jnp.eye(3, dtype=q.dtype)[None] * w).reshape(k3, 3)
        j_s = (jnp.einsum("ij,kjs->kis", R, j_s) * w).reshape(k3, lay.n_seg)
        return jnp.concatenate([j_off, j_s, j_t, (j_r * w).reshape(k3, 3)], axis=1)

    def _calib_one(self, q0, theta0, x, sw, prior_mean, prior_isd, mask, bar, n_iter, ftol):
        """One calibration group: q0 (F, nq), theta0 (P,), x (F, K, 3), sw (F, K); bar (3, nq)
        the joint-limit barrier (:meth:`limit_barrier`)."""
        nv, npar = self.nv, self.layout.size
        eye_q = jnp.eye(nv, dtype=q0.dtype)
        eye_p = jnp.eye(npar, dtype=q0.dtype)
        step = jax.vmap(self.step)
        rj = jax.vmap(self._res_jac, in_axes=(0, None, 0, 0))
        jac_t = jax.vmap(self.jac_theta, in_axes=(0, None, 0, 0))
        res = jax.vmap(self.residual, in_axes=(0, None, 0, 0))

        lv = self.lin_v
        bar_on = self.lin_q.size > 0

        def cost_of(q, th):
            r = res(q, th, x, sw)
            pr = (th - prior_mean) * prior_isd * mask
            c = jnp.sum(r * r) + jnp.sum(pr * pr)
            if bar_on:
                rb, _ = jax.vmap(self.limit_barrier, in_axes=(0, None))(q, bar)
                c = c + jnp.sum(rb * rb)
            return c

        q0 = jax.vmap(self.project)(q0)

        def body(s):
            it, q, th, cost, mu, done = s
            jq, r = rj(q, th, x, sw)
            jt = jac_t(q, th, x, sw) * mask
            gq = jnp.einsum("fmi,fm->fi", jq, r)
            if bar_on:  # the barrier is diagonal in the plain coordinates
                rb, db = jax.vmap(self.limit_barrier, in_axes=(0, None))(q, bar)
                gq = gq.at[:, lv].add(db * rb)
            free = jax.vmap(self.free_dofs)(q, gq)                              # (F, nv)
            jq = jq * free[:, None, :]
            gq = gq * free
            dfix = 1.0 - free
            if bar_on:
                dfix = dfix.at[:, lv].add(db * db * free[:, lv])
            a = jnp.einsum("fmi,fmj->fij", jq, jq) + jax.vmap(jnp.diag)(dfix)
            b = jnp.einsum("fmi,fmp->fip", jq, jt)
            c = jnp.einsum("fmp,fmr->pr", jt, jt) + jnp.diag(prior_isd ** 2 * mask)
            gt = jnp.einsum("fmp,fm->p", jt, r) + (th - prior_mean) * prior_isd ** 2 * mask
            am = a + mu * (jax.vmap(jnp.diag)(jnp.diagonal(a, axis1=1, axis2=2)) + _EPS_DAMP * eye_q)
            cm = c + mu * (jnp.diag(jnp.diagonal(c)) + _EPS_DAMP * eye_p) + jnp.diag(1.0 - mask)
            ainv = jax.vmap(lambda m: spd_solve(m, eye_q))(am)
            ainv_b = jnp.einsum("fij,fjp->fip", ainv, b)
            ainv_g = jnp.einsum("fij,fj->fi", ainv, gq)
            schur = cm - jnp.einsum("fip,fir->pr", b, ainv_b)
            rhs = -(gt - jnp.einsum("fip,fi->p", b, ainv_g))
            dth = jnp.linalg.solve(schur, rhs) * mask
            dq = -(ainv_g + jnp.einsum("fip,p->fi", ainv_b, dth))
            qn = step(q, dq)
            thn = th + dth
            cn = cost_of(qn, thn)
            ok = cn < cost
            done = (ok & (cost - cn <= ftol * cost)) | (mu >= 1e8)
            return (it + 1, jnp.where(ok, qn, q), jnp.where(ok, thn, th),
                    jnp.where(ok, cn, cost),
                    jnp.clip(jnp.where(ok, mu * 0.3, mu * 4.0), 1e-9, 1e9), done)

        _, q, th, cost, _, _ = jax.lax.while_loop(
            lambda s: (s[0] < n_iter) & ~s[5], body,
            (jnp.int32(0), q0, theta0, cost_of(q0, theta0), jnp.asarray(1e-3, q0.dtype),
             jnp.asarray(False)))
        return q, th, cost

    def _calib_impl(self, q0, theta0, x, sw, prior_mean, prior_isd, mask, bar, n_iter, ftol):
        return jax.vmap(self._calib_one, in_axes=(0, 0, 0, 0, 0, None, None, None, None, None))(
            q0, theta0, x, sw, prior_mean, prior_isd, mask, bar, n_iter, ftol)

    def calibrate(self, q0, theta0, x, sw, prior_mean, prior_isd, mask, n_iter: int,
                  bar=None, ftol: float = 0.0):
        """Joint LM over sample poses and global parameters, per calibration group.

        q0 (G, F, nq); theta0 (G, P); x (G, F, K, 3); sw (G, F, K); prior_mean (G, P);
        prior_isd (P,) inverse prior sds (1 / sd in each parameter's unit); mask (P,) 1 = free;
        bar (3, nq) the joint-limit barrier of the sample poses (:meth:`limit_barrier`; None
        = off); at most ``n_iter`` iterations, stopping once an accepted step gains less than
        ``ftol`` (relative) in every group.
        Returns q (G, F, nq), theta (G, P), cost (G,).
        """
        dt = np.asarray(q0).dtype
        if bar is None:
            bar = np.stack([np.full(self.nq, -1e30), np.full(self.nq, 1e30), np.zeros(self.nq)])
        return self._jit_calib(q0, theta0, x, sw, prior_mean, prior_isd, mask,
                               np.asarray(bar, dt), np.int32(n_iter), np.asarray(ftol, dt))

    def model_markers(self, q, theta):
        """Model keypoints (N, K, 3) for q (N, nq), theta (N, P)."""
        return self._jit_markers(q, theta)


def spd_solve(a, b):
    """Solve ``a x = b`` for a symmetric positive-definite ``a`` (n, n), ``b`` (n,) or (n, m).

    Small systems (n <= 12, every STAC frame block of a limb) use an unrolled Cholesky of
    scalar operations, which vectorises across vmapped frames; LAPACK's batched solve calls
    one small routine per frame and is several times slower on a CPU. Larger systems use
    ``jax.scipy.linalg.cho_solve``.
    """
    n = a.shape[-1]
    vec = b.ndim == 1
    bb = b[:, None] if vec else b
    if n > 12:
        c = jax.scipy.linalg.cho_factor(a, lower=True)
        x = jax.scipy.linalg.cho_solve(c, bb)
        return x[:, 0] if vec else x
    L = [[None] * n for _ in range(n)]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        d = jnp.sqrt(jnp.maximum(s, 1e-300 if a.dtype == jnp.float64 else 1e-30))
        L[j][j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = s / d
    y = [None] * n
    for i in range(n):  # forward: L y = b
        s = bb[i]
        for k in range(i):
            s = s - L[i][k] * y[k]
        y[i] = s / L[i][i]
    x = [None] * n
    for i in reversed(range(n)):  # backward: L^T x = y
        s = y[i]
        for k in range(i + 1, n):
            s = s - L[k][i] * x[k]
        x[i] = s / L[i][i]
    x = jnp.stack(x)
    return x[:, 0] if vec else x

