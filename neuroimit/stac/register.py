"""STAC: register a body model to a session's keypoints.

:func:`register` (one session) and :func:`register_many` (many clips at once, e.g. the trials
of one animal) alternate

1. the q-phase: joint angles of every frame by batched Levenberg-Marquardt (independent per
   frame from several starts, then chunks of frames jointly with a temporal smoothness prior),
2. the m-phase: keypoint offsets, segment scales and (fixed-base bodies) the data-to-model
   base transform, jointly with the poses of a sample of frames,

until the total cost improves by less than ``config.tol``. See docs/stac.md.

>>> from neuroimit.stac import register, StacConfig          # doctest: +SKIP
>>> reg = register(session, "mouse_forelimb")                 # doctest: +SKIP
>>> reg.mean_error_m * 1e3                                    # mm   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import time as _time
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from scipy import signal

from ..errors import DataError
from .calibration import BodyView, as_body_view, kabsch, segment_derivatives
from .config import StacConfig
from .kinematics import BALL, FREE, build_tree
from .registration import Registration
from .solver import Problem

__all__ = ["register", "register_many", "register_arrays", "register_demo"]

_ENGINES: dict[tuple, "_Engine"] = {}


class _Engine:
    """A compiled :class:`Problem` for one body + keypoint set (cached across calls)."""

    def __init__(self, view: BodyView, noise_sd: float):
        bd, jd, sd, nonlin = segment_derivatives(view)
        self.tree = build_tree(view.model, view.sites, body_dpos=bd, jnt_dpos=jd, site_dpos=sd)
        self.problem = Problem(self.tree, view.lower, view.upper, noise_sd)
        self.layout = self.problem.layout
        self.scale_nonlinearity_m = nonlin


def _engine(view: BodyView, cfg: StacConfig) -> _Engine:
    src = view.xml if view.xml else f"id{id(view.model)}"
    # one engine per precision: jitted programs traced with and without x64 must not share
    # a trace cache
    key = (hashlib.sha1(src.encode()).hexdigest(), view.sites, view.segments,
           float(cfg.noise_sd_m), bool(cfg.float64))
    eng = _ENGINES.get(key)
    if eng is None:
        if len(_ENGINES) > 16:
            _ENGINES.clear()
        eng = _ENGINES[key] = _Engine(view, cfg.noise_sd_m)
    return eng


# --------------------------------------------------------------------------- helpers
def _bucket(n: int, cap: int) -> int:
    """Padded batch size: always ``cap``, so each program compiles for one shape only
    (compilation, not padding, is what costs on a CPU)."""
    return cap


def _quat_slices(tree) -> list[int]:
    out = []
    for js in tree.joints:
        for (t, adr, *_r) in js:
            if t == FREE:
                out.append(adr + 3)
            elif t == BALL:
                out.append(adr)
    return out


def _free_adr(tree) -> int | None:
    for js in tree.joints:
        for (t, adr, *_r) in js:
            if t == FREE:
                return adr
    return None


def _mat_to_quat(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation  # noqa: PLC0415
    return Rotation.from_matrix(R).as_quat()[:, [3, 0, 1, 2]]


class _Runner:
    """numpy-side orchestration of the jitted programs for a list of clips."""

    def __init__(self, eng: _Engine, view: BodyView, cfg: StacConfig, dtype):
        self.eng, self.view, self.cfg, self.dtype = eng, view, cfg, dtype
        self.p = eng.problem
        self.nq = self.p.nq
        self.P = self.p.layout.size
        self.timings: dict[str, float] = {}
        self.rng = np.random.default_rng(cfg.seed)
        self.quats = _quat_slices(eng.tree)
        self.free = _free_adr(eng.tree)

    def _t(self, key, t0):
        self.timings[key] = self.timings.get(key, 0.0) + _time.perf_counter() - t0

    # ---------------------------------------------------------------- q-phase (independent)
    def frames(self, q0, theta, x, sw, n_iter):
        """Independent LM on N frames in padded batches. Returns q (N, nq), cost (N,)."""
        t0 = _time.perf_counter()
        N = q0.shape[0]
        cap = self.cfg.batch_frames
        q_out = np.empty((N, self.nq))
        c_out = np.empty(N)
        for s in range(0, N, cap):
            e = min(N, s + cap)
            n = e - s
            B = _bucket(n, cap)
            pad = B - n
            qb = np.concatenate([q0[s:e], np.repeat(self.view.default_qpos[None], pad, 0)])
            tb = np.concatenate([theta[s:e], np.repeat(theta[s:s + 1], pad, 0)])
            xb = np.concatenate([x[s:e], np.zeros((pad,) + x.shape[1:])])
            wb = np.concatenate([sw[s:e], np.zeros((pad,) + sw.shape[1:])])
            q, c = self.p.solve_frames(*(np.asarray(a, self.dtype) for a in (qb, tb, xb, wb)),
                                       n_iter=n_iter, ftol=self.cfg.lm_ftol)
            q_out[s:e] = np.asarray(q)[:n]
            c_out[s:e] = np.asarray(c)[:n]
        self._t("q_independent_s", t0)
        return q_out, c_out

    def markers(self, q, theta):
        """Model keypoints (N, K, 3) for q (N, nq), theta (N, P), in padded batches."""
        N = q.shape[0]
        cap = self.cfg.batch_frames
        out = []
        for s in range(0, N, cap):
            e = min(N, s + cap)
            B = _bucket(e - s, cap)
            pad = B - (e - s)
            qb = np.concatenate([q[s:e], np.repeat(self.view.default_qpos[None], pad, 0)])
            tb = np.concatenate([theta[s:e], np.repeat(theta[s:s + 1], pad, 0)])
            out.append(np.asarray(self.p.model_markers(np.asarray(qb, self.dtype),
                                                       np.asarray(tb, self.dtype)))[:e - s])
        return np.concatenate(out).astype(float) if out else np.zeros((0, self.p.layout.n_kp, 3))

    def best_of(self, starts: Sequence[np.ndarray], theta, x, sw, n_iter):
        """Solve from each start for a few iterations, keep the best per frame, then finish
        only that one (most of the work is spent on one start per frame)."""
        n = starts[0].shape[0]
        if len(starts) == 1:
            return self.frames(starts[0], theta, x, sw, n_iter)
        k = len(starts)
        pre = min(self.cfg.n_iter_starts, n_iter)
        q, c = self.frames(np.concatenate(starts), np.tile(theta, (k, 1)),
                           np.tile(x, (k, 1, 1)), np.tile(sw, (k, 1)), pre)
        q = q.reshape(k, n, self.nq)
        c = c.reshape(k, n)
        best = np.argmin(c, axis=0)
        q, c = q[best, np.arange(n)], c[best, np.arange(n)]
        if n_iter > pre:
            q, c = self.frames(q, theta, x, sw, n_iter - pre)
        return q, c

    def random_starts(self, n: int, k: int) -> list[np.ndarray]:
        v = self.view
        out = []
        for _ in range(k):
            lo = np.where(np.isfinite(v.lower), v.lower, v.default_qpos - 1.0)
            hi = np.where(np.isfinite(v.upper), v.upper, v.default_qpos + 1.0)
            q = self.rng.uniform(lo, hi, size=(n, self.nq))
            for a in self.quats:
                qq = self.rng.normal(size=(n, 4))
                q[:, a:a + 4] = qq / np.linalg.norm(qq, axis=1, keepdims=True)
            out.append(q)
        return out

    def root_from_data(self, q: np.ndarray, theta: np.ndarray, x: np.ndarray,
                       w: np.ndarray) -> np.ndarray:
        """Free root: place the root by a rigid fit of the model markers to the data."""
        if self.free is None:
            return q
        a = self.free
        q = q.copy()
        q0 = q.copy()
        q0[:, a:a + 3] = 0.0
        q0[:, a + 3:a + 7] = [1.0, 0.0, 0.0, 0.0]
        m0 = self.markers(q0, theta)
        R, t = kabsch(m0, x, w)
        q[:, a:a + 3] = t
        q[:, a + 3:a + 7] = _mat_to_quat(R)
        return q

    # ---------------------------------------------------------------- q-phase (coupled)
    def smooth(self, clips_q, clips, theta_c):
        """Chunked coupled LM over every clip; returns the refined list of (T, nq)."""
        cfg = self.cfg
        t0 = _time.perf_counter()
        maxT = max(c["x"].shape[0] for c in clips)
        L = min(cfg.chunk_frames, -(-maxT // 16) * 16)
        L = max(L, 3)
        ov = cfg.chunk_overlap if maxT > L else 0
        step = L - 2 * ov
        chunks = []  # (clip, start)
        for i, c in enumerate(clips):
            T = c["x"].shape[0]
            s = 0
            while True:
                chunks.append((i, s))
                if s + L >= T:
                    break
                s += step
        n_ch = len(chunks)
        per_call = max(1, cfg.batch_frames // L)
        out = [q.copy() for q in clips_q]
        K = clips[0]["x"].shape[1]
        for b0 in range(0, n_ch, per_call):
            part = chunks[b0:b0 + per_call]
            B = per_call if n_ch > per_call else len(part)  # one compiled shape per session size
            q0 = np.repeat(self.view.default_qpos[None, None], B, 0).repeat(L, 1)
            xs = np.zeros((B, L, K, 3))
            ws = np.zeros((B, L, K))
            w2 = np.zeros((B, L - 2))
            th = np.repeat(theta_c[:1], B, 0)
            for j, (i, s) in enumerate(part):
                T = clips[i]["x"].shape[0]
                e = min(T, s + L)
                n = e - s
                q0[j, :n] = clips_q[i][s:e]
                q0[j, n:] = clips_q[i][e - 1]
                xs[j, :n] = clips[i]["x"][s:e]
                ws[j, :n] = clips[i]["sw"][s:e]
                sd = cfg.smooth_sd_acc / clips[i]["rate"] ** 2
                w2[j, :max(0, n - 2)] = 1.0 / sd ** 2
                th[j] = theta_c[i]
            q, _c = self.p.solve_smooth(*(np.asarray(a, self.dtype) for a in (q0, th, xs, ws, w2)),
                                        n_iter=cfg.n_iter_smooth, n_cg=cfg.n_cg)
            q = np.asarray(q)
            for j, (i, s) in enumerate(part):
                T = clips[i]["x"].shape[0]
                e = min(T, s + L)
                lo = s if s == 0 else s + ov
                hi = e if e == T else e - ov
                out[i][lo:hi] = q[j, lo - s:hi - s]
        self._t("q_smooth_s", t0)
        return out

    # ---------------------------------------------------------------- m-phase
    def barrier(self) -> np.ndarray | None:
        """(3, nq) inner bounds and slopes of the m-phase joint-limit barrier (None = off)."""
        cfg, v = self.cfg, self.view
        lim = np.isfinite(v.lower) & np.isfinite(v.upper)
        if not cfg.limit_margin or not lim.any():
            return None
        width = np.where(lim, v.upper - v.lower, 1.0)
        bar = np.stack([np.full(self.nq, -1e30), np.full(self.nq, 1e30), np.zeros(self.nq)])
        bar[0, lim] = v.lower[lim] + cfg.limit_margin * width[lim]
        bar[1, lim] = v.upper[lim] - cfg.limit_margin * width[lim]
        bar[2, lim] = 1.0 / (cfg.limit_sd * width[lim])
        return bar

    def calibrate(self, q_s, theta_g, x_s, sw_s, prior_mean, prior_isd, mask, n_iter):
        t0 = _time.perf_counter()
        q, th, c = self.p.calibrate(*(np.asarray(a, self.dtype) for a in
                                      (q_s, theta_g, x_s, sw_s, prior_mean, prior_isd, mask)),
                                    n_iter=n_iter, bar=self.barrier(), ftol=self.cfg.lm_ftol)
        out = np.array(q, float), np.array(th, float), np.array(c, float)
        self._t("m_phase_s", t0)
        return out


def _sample_frames(w: np.ndarray, n: int) -> np.ndarray:
    """Up to n frame indices, evenly spaced over frames with >= half the keypoints present."""
    present = (w > 0).sum(1)
    ok = np.flatnonzero(present >= max(1, (w.shape[1] + 1) // 2))
    if ok.size == 0:
        ok = np.flatnonzero(present > 0)
    if ok.size == 0:
        return ok
    if ok.size <= n:
        return ok
    return ok[np.round(np.linspace(0, ok.size - 1, n)).astype(int)]


def _interp_q(T: int, idx: np.ndarray, qs: np.ndarray, quats: list[int]) -> np.ndarray:
    """Linear interpolation of sample poses over all frames (quaternions renormalised)."""
    if idx.size == 0:
        return None
    t = np.arange(T)
    q = np.stack([np.interp(t, idx, qs[:, j]) for j in range(qs.shape[1])], axis=1)
    for a in quats:
        q[:, a:a + 4] /= np.maximum(np.linalg.norm(q[:, a:a + 4], axis=1, keepdims=True), 1e-12)
    return q


def _qvel(model, qpos: np.ndarray, rate: float, window_s: float) -> np.ndarray:
    """Velocities by a Savitzky-Golay (cubic) derivative; quaternion joints by central
    differences of the smoothed positions with ``mj_differentiatePos``."""
    import mujoco  # noqa: PLC0415
    T = qpos.shape[0]
    dt = 1.0 / rate
    win = int(round(window_s * rate)) | 1
    win = max(win, 5)
    if T < 2:
        return np.zeros((T, model.nv))
    if model.nq == model.nv:
        if T >= win:
            return signal.savgol_filter(qpos, win, 3, deriv=1, delta=dt, axis=0)
        return np.gradient(qpos, dt, axis=0)
    qs = signal.savgol_filter(qpos, win, 3, axis=0) if T >= win else qpos.copy()
    for j in range(model.njnt):
        if int(model.jnt_type[j]) in (FREE, BALL):
            a = int(model.jnt_qposadr[j]) + (3 if int(model.jnt_type[j]) == FREE else 0)
            qs[:, a:a + 4] /= np.linalg.norm(qs[:, a:a + 4], axis=1, keepdims=True)
    out = np.zeros((T, model.nv))
    v = np.zeros(model.nv)
    for t in range(T):  # output only, C engine
        a, b = max(0, t - 1), min(T - 1, t + 1)
        mujoco.mj_differentiatePos(model, v, (b - a) * dt, qs[a], qs[b])
        out[t] = v
    return out


# --------------------------------------------------------------------------- core
def register_arrays(clips: Sequence[Mapping[str, Any]], view: BodyView,
                    config: StacConfig | None = None, *, progress: bool = False
                    ) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """STAC on arrays (the engine behind :func:`register` / :func:`register_many`).

    Parameters
    ----------
    clips: each a mapping with ``x`` (T, K, 3) m keypoints (NaN missing) in the order of
        ``view.keypoints``, ``w`` (T, K) weights (0 = masked) and ``rate`` (Hz).
    view: the body (:func:`~neuroimit.stac.calibration.as_body_view`).

    Returns
    -------
    qpos per clip (T, nq), theta per clip (n_clips, P), info dict.
    """
    cfg = config or StacConfig()
    t_start = _time.perf_counter()
    with jax.enable_x64(cfg.float64):
        dtype = np.float64 if cfg.float64 else np.float32
        eng = _engine(view, cfg)
        run = _Runner(eng, view, cfg, dtype)
        lay = eng.layout
        K, S, P = lay.n_kp, lay.n_seg, lay.size
        sl = lay.slices()
        # --- data
        cl = []
        for c in clips:
            x = np.asarray(c["x"], float)
            w = np.asarray(c["w"], float)
            bad = ~np.isfinite(x).all(axis=2)
            w = np.where(bad, 0.0, w)
            cl.append({"x": np.where(bad[..., None], 0.0, x), "w": w, "sw": np.sqrt(w),
                       "rate": float(c["rate"])})
        n_clips = len(cl)
        # --- parameters, priors, mask
        off0 = np.zeros((K, 3))
        init = {str(k).lower(): v for k, v in dict(cfg.initial_offsets).items()}
        for i, k in enumerate(view.keypoints):
            if k.lower() in init:
                off0[i] = np.asarray(init[k.lower()], float).reshape(3)
        mask = np.zeros(P)
        if cfg.calibrate_offsets:
            mask[sl["offsets"]] = 1.0
        if cfg.calibrate_scales and S:
            mask[sl["scales"]] = 1.0
        fixed_base = not view.has_free_root
        base_mode = cfg.calibrate_base if fixed_base else "none"
        if base_mode != "none":
            mask[sl["base_t"]] = 1.0
        isd = np.zeros(P)
        isd[sl["offsets"]] = 1.0 / cfg.offset_prior_sd_m
        isd[sl["scales"]] = 1.0 / cfg.scale_prior_sd
        isd[sl["base_t"]] = 1.0 / cfg.base_prior_sd_m
        isd[sl["base_r"]] = 1.0 / cfg.base_prior_sd_rad
        theta_c = np.tile(lay.pack(off0, np.zeros(S), np.zeros(3), np.zeros(3)), (n_clips, 1))
        # base translation init: the most proximal keypoint's mean mismatch at the rest pose
        if mask[sl["base_t"]].any():
            m_rest = run.markers(view.default_qpos[None], theta_c[:1])[0]
            depth = [sum(len(js) for b, js in zip(eng.tree.bodies, eng.tree.joints)
                         if _is_ancestor(eng.tree, b, sb)) for sb in eng.tree.site_body]
            for i, c in enumerate(cl):
                wk = c["w"].sum(0)
                order = [k for k in np.argsort(depth, kind="stable") if wk[k] > 0]
                if order:
                    k = order[0]
                    mean = (c["x"][:, k] * c["w"][:, k, None]).sum(0) / wk[k]
                    theta_c[i, sl["base_t"]] = mean - m_rest[k]
            if base_mode == "auto":
                far = np.linalg.norm(theta_c[:, sl["base_t"]], axis=1).max() > cfg.auto_base_m
                base_mode = "rigid" if far else "none"
                if not far:
                    mask[sl["base_t"]] = 0.0
                    theta_c[:, sl["base_t"]] = 0.0
            if base_mode == "rigid":
                mask[sl["base_r"]] = 1.0
        prior_c = theta_c.copy()
        group = np.zeros(n_clips, int) if cfg.shared_calibration else np.arange(n_clips)
        n_groups = int(group.max()) + 1
        # --- calibration samples
        samples = [_sample_frames(c["w"], cfg.n_sample_frames) for c in cl]
        # fixed sample-block size (not the count of usable frames) so the calibration
        # program keeps one compiled shape for sessions of one length
        cap_s = [min(cfg.n_sample_frames, c["x"].shape[0]) for c in cl]
        F = max(1, max(sum(cap_s[i] for i in range(n_clips) if group[i] == g)
                       for g in range(n_groups)))
        xs = np.zeros((n_groups, F, K, 3))
        ws = np.zeros((n_groups, F, K))
        fill = np.zeros(n_groups, int)
        where = []  # (group, start, clip) of each clip's samples
        for i, c in enumerate(cl):
            g = group[i]
            n = samples[i].size
            xs[g, fill[g]:fill[g] + n] = c["x"][samples[i]]
            ws[g, fill[g]:fill[g] + n] = c["sw"][samples[i]]
            where.append((g, fill[g], n))
            fill[g] += n

        def group_theta(th_c):
            return np.stack([th_c[np.flatnonzero(group == g)[0]] for g in range(n_groups)])

        def sample_theta(th_c):
            out = np.repeat(group_theta(th_c)[:, None], F, 1)
            for i, (g, s, n) in enumerate(where):
                out[g, s:s + n] = th_c[i]
            return out

        # --- round 0: sample poses from several starts
        flat = lambda a: a.reshape((-1,) + a.shape[2:])  # noqa: E731
        xs_f, ws_f = flat(xs), flat(ws)
        th_f = flat(sample_theta(theta_c))
        nS = xs_f.shape[0]
        starts = [np.repeat(view.default_qpos[None], nS, 0)] + run.random_starts(nS, cfg.n_starts)
        starts = [run.root_from_data(s, th_f, xs_f, ws_f ** 2) for s in starts]
        q_s, _ = run.best_of(starts, th_f, xs_f, ws_f, cfg.n_iter)
        q_s = q_s.reshape(n_groups, F, -1)
        history: list[dict] = []
        q_all: list[np.ndarray] | None = None
        prev_total = np.inf
        rounds = 0
        for rnd in range(cfg.n_rounds):
            rounds = rnd + 1
            # m-phase
            if mask.any():
                q_s, th_g, _c = run.calibrate(q_s, group_theta(theta_c), xs, ws,
                                              group_theta(prior_c), isd, mask,
                                              cfg.n_iter_calib)
                theta_c = th_g[group]
            # q-phase on every frame
            N_all = [c["x"].shape[0] for c in cl]
            x_all = np.concatenate([c["x"] for c in cl])
            sw_all = np.concatenate([c["sw"] for c in cl])
            th_all = np.concatenate([np.repeat(theta_c[i][None], N_all[i], 0)
                                     for i in range(n_clips)])
            all_sampled = all(samples[i].size == N_all[i] for i in range(n_clips))
            if all_sampled:
                # every frame was in the calibration sample, whose poses the m-phase has
                # just optimised jointly with theta: nothing left for an independent pass
                q_flat = np.concatenate([q_s[where[i][0], where[i][1]:where[i][1] + where[i][2]]
                                         for i in range(n_clips)])
            elif q_all is None:
                interp = []
                for i, c in enumerate(cl):
                    g, s, n = where[i]
                    qi = _interp_q(N_all[i], samples[i], q_s[g, s:s + n], run.quats)
                    interp.append(qi if qi is not None else
                                  np.repeat(view.default_qpos[None], N_all[i], 0))
                dflt = np.repeat(view.default_qpos[None], sum(N_all), 0)
                cand = [np.concatenate(interp),
                        run.root_from_data(dflt, th_all, x_all, sw_all ** 2)]
                q_flat, _c = run.best_of(cand, th_all, x_all, sw_all, cfg.n_iter)
            else:  # warm start from the previous round
                q_flat, _c = run.frames(np.concatenate(q_all), th_all, x_all, sw_all,
                                        max(1, cfg.n_iter // 2))
            q_all = np.split(q_flat, np.cumsum(N_all)[:-1])
            if cfg.smooth_sd_acc and cfg.n_iter_smooth > 0:
                q_all = run.smooth(q_all, cl, theta_c)
            # total cost (data + priors) for the stopping rule
            q_flat = np.concatenate(q_all)
            mk = run.markers(q_flat, th_all)
            data_cost = float((((mk - x_all) * sw_all[..., None]) ** 2).sum()) / cfg.noise_sd_m ** 2
            prior_cost = float((((group_theta(theta_c) - group_theta(prior_c)) * isd * mask) ** 2)
                               .sum())
            total = data_cost + prior_cost
            err = np.linalg.norm(mk - x_all, axis=2)[sw_all > 0]
            history.append({"round": rnd, "cost": total, "data_cost": data_cost,
                            "prior_cost": prior_cost,
                            "mean_error_mm": float(err.mean() * 1e3) if err.size else None})
            if progress:
                from rich.console import Console  # noqa: PLC0415
                Console(stderr=True).print(
                    f"[dim]stac round {rnd + 1}: cost {total:.6g}, mean error "
                    f"{history[-1]['mean_error_mm']:.4f} mm[/dim]")
            if prev_total - total <= cfg.tol * abs(total):
                break
            prev_total = total
            # next m-phase starts from the refined poses at the sample frames
            for i in range(n_clips):
                g, s, n = where[i]
                q_s[g, s:s + n] = q_all[i][samples[i]]
        info = {"rounds": rounds, "history": history,
                "model_keypoints": np.split(mk, np.cumsum(N_all)[:-1]),
                "timings": dict(run.timings, total_s=_time.perf_counter() - t_start),
                "n_calibration_frames": int(sum(s.size for s in samples)),
                "scale_nonlinearity_m": eng.scale_nonlinearity_m,
                "base_mode": base_mode,
                "dtype": "float64" if cfg.float64 else "float32"}
    return q_all, theta_c, info


def _is_ancestor(tree, b: int, child: int) -> bool:
    parent = dict(zip(tree.bodies, tree.parent))
    while child > 0:
        if child == b:
            return True
        child = parent.get(child, 0)
    return False


# --------------------------------------------------------------------------- public API
def _clip_of(session, view: BodyView, cfg: StacConfig) -> dict:
    idx = [session.keypoint_index(k) for k in view.keypoints]
    x = np.asarray(session.keypoints, float)[:, idx]
    conf = np.asarray(session.confidence, float)[:, idx]
    w = np.where(conf >= cfg.min_confidence, conf, 0.0)
    w = np.where(np.isfinite(x).all(axis=2), w, 0.0)
    if session.n_frames < 1:
        raise DataError("the session has no frames", file=session.metadata.get("source"),
                        field="keypoints")
    rate = session.rate if session.n_frames > 1 else 200.0
    return {"x": x, "w": w, "rate": rate}


def _build_registration(session, view: BodyView, eng_layout, q: np.ndarray, theta: np.ndarray,
                        mk: np.ndarray, info: dict, cfg: StacConfig) -> Registration:
    lay = eng_layout
    off, logs, bt, brv = (np.asarray(a) for a in lay.unpack(theta))
    scales_rel = {s: float(np.exp(v)) for s, v in zip(view.segments, logs)}
    seg_scales = {s: float(view.base_scales.get(s, 1.0)) * scales_rel[s] for s in view.segments}
    from scipy.spatial.transform import Rotation  # noqa: PLC0415
    R = Rotation.from_rotvec(np.asarray(brv, float)).as_matrix()
    clip = _clip_of(session, view, cfg)
    x = clip["x"]
    res = np.linalg.norm(mk - x, axis=2)
    res[~np.isfinite(x).all(axis=2)] = np.nan
    lo, hi = view.lower, view.upper
    lim = np.isfinite(lo) | np.isfinite(hi)
    tol = 1e-3
    at = (np.abs(q - lo) < tol) | (np.abs(q - hi) < tol)
    at = at[:, lim]
    names_lim = [n for n, l in zip(view.qpos_names, lim) if l]
    info = dict(info)
    info["frames_at_limit"] = float(at.any(axis=1).mean()) if at.size else 0.0
    info["frames_at_limit_per_joint"] = {n: float(at[:, i].mean()) for i, n in
                                         enumerate(names_lim)}
    info["config"] = cfg.to_dict()
    info["seconds"] = info.get("timings", {}).get("total_s")
    base = np.eye(4)
    base[:3, :3], base[:3, 3] = R, bt
    needs_scaling = any(abs(v - 1) > 0 for v in scales_rel.values())
    reg = Registration(
        time=np.asarray(session.time, float), qpos=q,
        qvel=_qvel(view.model, q, clip["rate"], cfg.qvel_smooth_s),
        qpos_names=view.qpos_names, joint_names=view.joint_names,
        keypoint_names=view.keypoints, kp_data=x, model_keypoints=mk, offsets=off,
        segment_scales=seg_scales, residuals=res, base_transform=base, site_names=view.sites,
        body_name=view.name, body_xml="" if needs_scaling else view.xml, info=info)
    if needs_scaling:
        key = tuple(sorted(scales_rel.items()))
        reg.set_body_xml_factory(lambda: _scaled_xml_cached(view, key))
    return reg


_XML_CACHE: dict = {}


def _scaled_xml_cached(view: BodyView, key: tuple) -> str:
    k = (id(view.model), key)
    if k not in _XML_CACHE:
        if len(_XML_CACHE) > 64:
            _XML_CACHE.clear()
        _XML_CACHE[k] = view.scaled_xml(dict(key))
    return _XML_CACHE[k]


def register_many(sessions: Sequence, body: Any = "mouse_forelimb",
                  config: StacConfig | None = None, *,
                  keypoint_map: Mapping[str, Any] | None = None,
                  progress: bool = False) -> list[Registration]:
    """Register several sessions/clips together (one batched solve; see :func:`register`).

    With ``config.shared_calibration`` the clips share one set of offsets, scales and base
    transform (same animal and markers); otherwise each clip gets its own, solved in the same
    batched programs.
    """
    cfg = config or StacConfig()
    if not sessions:
        raise DataError("no sessions given", field="sessions", expected="at least one Session")
    view = as_body_view(body, sessions[0].keypoint_names, keypoint_map)
    clips = [_clip_of(s, view, cfg) for s in sessions]
    q_all, theta_c, info = register_arrays(clips, view, cfg, progress=progress)
    eng = _engine(view, cfg)
    mks = info.pop("model_keypoints")
    regs = []
    for i, s in enumerate(sessions):
        inf = dict(info)
        inf["clip_index"] = i
        inf["n_clips_solved_together"] = len(sessions)
        regs.append(_build_registration(s, view, eng.layout, q_all[i], theta_c[i], mks[i], inf,
                                        cfg))
    return regs


def register(session, body: Any = "mouse_forelimb", config: StacConfig | None = None, *,
             keypoint_map: Mapping[str, Any] | None = None,
             progress: bool = False) -> Registration:
    """Register ``body`` to the keypoints of ``session`` (STAC).

    Parameters
    ----------
    session: a :class:`neuroimit.Session` (keypoints in metres).
    body: a ``neuroimit.body.BodyModel``, a built-in name ("mouse_forelimb"), a path to an
        MJCF file, or a ``mujoco.MjModel``.
    config: :class:`StacConfig` (defaults are fast and accurate for the forelimb).
    keypoint_map: keypoint -> site name (case-insensitive); keypoints mapped to None are left
        out. Without it, the body's own map (or sites named like the keypoints) is used.

    Returns
    -------
    :class:`Registration`.
    """
    return register_many([session], body, config, keypoint_map=keypoint_map,
                         progress=progress)[0]


def register_demo(session, body: Any = "mouse_forelimb") -> Registration:
    """Fast defaults for ``neuroimit demo``: :func:`register` with the default config."""
    return register(session, body, StacConfig())
