"""Sanity checks of a musculoskeletal body: muscle lengths, moment-arm signs, stepping, MJX.

Every check returns a small report dataclass with ``ok`` and the measured figures, so tests,
benchmarks and docs all use the same code::

    >>> from neuroimit.body import load_body
    >>> from neuroimit.body import checks
    >>> body = load_body("mouse_forelimb")
    >>> checks.check_lengths(body, n=5).ok
    True

Sign convention: a muscle's *action* on joint j is ``-dL/dq_j`` (m): MuJoCo muscles pull
(negative force along the tendon), so a positive action drives the joint in its positive
direction (e.g. biceps on ``elbow_flexion``: positive action = flexor).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from . import forelimb

__all__ = [
    "joint_grid", "muscle_geometry", "muscle_constants", "LengthReport", "check_lengths",
    "SignReport", "check_moment_signs", "StabilityReport", "check_stability", "mjx_vs_c",
    "MjxReport", "mjx_geometry_vs_c", "HoldReport", "hold_feasibility", "FORELIMB_SIGNS", "run_all",
]

joint_grid = forelimb.joint_grid

#: Anatomical actions of the forelimb muscles: (muscle, joint) -> (sign, domain).
#: sign +1 = drives the joint in its positive direction (elevation = abduction, extension,
#: internal rotation, elbow flexion). domain "full": checked over the whole joint range;
#: "reach": shoulder joints over the reaching workspace ``REACH_WORKSPACE`` (elbow and wrist
#: over their full ranges), because the gimbal coordinates of a 3-DOF shoulder change meaning
#: far from the anatomical posture and real shoulder muscles reverse actions there too
#: (docs/body.md gives the fraction of the full range where each shoulder action holds).
FORELIMB_SIGNS: dict[tuple[str, str], tuple[int, str]] = {
    ("biceps_long", "elbow_flexion"): (+1, "full"),
    ("biceps_short", "elbow_flexion"): (+1, "full"),
    ("brachialis", "elbow_flexion"): (+1, "full"),
    ("triceps_long", "elbow_flexion"): (-1, "full"),
    ("triceps_lateral", "elbow_flexion"): (-1, "full"),
    ("triceps_medial", "elbow_flexion"): (-1, "full"),
    ("pectoralis_clavicular", "shoulder_extension"): (-1, "reach"),
    ("pectoralis_clavicular", "shoulder_elevation"): (-1, "reach"),
    ("latissimus_dorsi", "shoulder_extension"): (+1, "reach"),
    ("latissimus_dorsi", "shoulder_elevation"): (-1, "reach"),
    ("deltoid_anterior", "shoulder_extension"): (-1, "reach"),
    ("deltoid_anterior", "shoulder_elevation"): (+1, "reach"),
    ("deltoid_medial", "shoulder_elevation"): (+1, "reach"),
    ("deltoid_posterior", "shoulder_extension"): (+1, "reach"),
    ("deltoid_posterior", "shoulder_elevation"): (+1, "reach"),
    ("subscapularis", "shoulder_rotation"): (+1, "reach"),
    ("infraspinatus", "shoulder_rotation"): (-1, "reach"),
    ("triceps_long", "shoulder_extension"): (+1, "reach"),
    ("biceps_long", "shoulder_extension"): (-1, "reach"),
    ("biceps_short", "shoulder_extension"): (-1, "reach"),
    ("flexor_carpi_radialis", "wrist_flexion"): (+1, "full"),
    ("extensor_carpi_radialis", "wrist_flexion"): (-1, "full"),
}
#: shoulder joint ranges (rad) of the reaching workspace: contains the rest posture and forward
#: reaches (elevation 0.1, extension 0.6 at rest; the arm swings forward to extension ~ -0.6)
REACH_WORKSPACE = {"shoulder_elevation": (-0.1, 0.5), "shoulder_extension": (-0.8, 0.8),
                   "shoulder_rotation": (-0.25, 0.25)}
#: the muscles' operating band in L0 units (MuJoCo's lmin/lmax)
FIBRE_LIMITS = (0.5, 1.6)


def _muscle_ids(model) -> np.ndarray:
    import mujoco
    return np.array([i for i in range(model.nu)
                     if model.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE], int)


def muscle_constants(model) -> tuple[np.ndarray, np.ndarray]:
    """Optimal fibre length L0 (nu,) m and tendon slack length (nu,) m as MuJoCo derives them
    from each actuator's ``lengthrange`` and ``range`` (NaN for non-muscle actuators)."""
    lr = np.asarray(model.actuator_lengthrange, float)
    rng = np.asarray(model.actuator_gainprm[:, :2], float)
    l0 = (lr[:, 1] - lr[:, 0]) / np.where(rng[:, 1] > rng[:, 0], rng[:, 1] - rng[:, 0], np.nan)
    slack = lr[:, 0] - rng[:, 0] * l0
    mask = np.zeros(model.nu, bool)
    mask[_muscle_ids(model)] = True
    return np.where(mask, l0, np.nan), np.where(mask, slack, np.nan)


def muscle_geometry(model, qpos: np.ndarray) -> dict[str, np.ndarray]:
    """Path length (n, nu) m, normalised fibre length (n, nu), tendon length (n, nu) m and
    moment arms dL/dq (n, nu, nv) m at each posture qpos (n, nq). Uses the C engine."""
    import mujoco
    qpos = np.atleast_2d(np.asarray(qpos, float))
    d = mujoco.MjData(model)
    n = len(qpos)
    length = np.empty((n, model.nu))
    moment = np.zeros((n, model.nu, model.nv))
    dense = np.zeros((model.nu, model.nv))
    for i, q in enumerate(qpos):
        d.qpos[:] = q
        mujoco.mj_fwdPosition(model, d)
        length[i] = d.actuator_length
        mujoco.mju_sparse2dense(dense, d.actuator_moment, d.moment_rownnz, d.moment_rowadr,
                                d.moment_colind)
        moment[i] = dense
    l0, slack = muscle_constants(model)
    fibre = (length - slack) / l0
    return {"length": length, "fibre": fibre, "tendon": np.broadcast_to(slack, length.shape),
            "moment": moment}


def _model(body):
    return getattr(body, "mj_model", body)


def _ranges(body) -> np.ndarray:
    """Joint ranges for grid checks: every joint must be a limited hinge or slide."""
    import mujoco
    from ..errors import ConfigError
    m = _model(body)
    r = np.asarray(body.joint_ranges, float)
    simple = all(int(m.jnt_type[m.joint(j).id]) in (int(mujoco.mjtJoint.mjJNT_HINGE),
                                                    int(mujoco.mjtJoint.mjJNT_SLIDE))
                 for j in body.joint_names)
    if not simple or not np.all(np.isfinite(r)):
        raise ConfigError("grid checks need every joint to be a limited hinge or slide",
                          file=getattr(body, "name", None), field="joints",
                          expected="pass postures (qpos) explicitly for other bodies")
    return r


def _grid_qpos(body, grid: np.ndarray) -> np.ndarray:
    """Embed a joint grid (n, nj) into qpos (n, nq) (hinge/slide joints only; others rest)."""
    m = _model(body)
    q = np.repeat(np.asarray(body.default_qpos, float)[None], len(grid), 0)
    for k, name in enumerate(body.joint_names):
        q[:, m.jnt_qposadr[m.joint(name).id]] = grid[:, k]
    return q


@dataclass
class LengthReport:
    """Fibre/tendon length check over a set of postures."""
    ok: bool
    n_postures: int
    muscles: tuple[str, ...]
    fibre_min: np.ndarray       # (nm,) normalised
    fibre_max: np.ndarray       # (nm,)
    tendon_min: np.ndarray      # (nm,) m (rigid tendon: the slack length)
    path_min: np.ndarray        # (nm,) m
    violations: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = ["| muscle | fibre min (L0) | fibre max (L0) | tendon (mm) | path min (mm) |",
                "|---|---|---|---|---|"]
        for i, m in enumerate(self.muscles):
            rows.append(f"| {m} | {self.fibre_min[i]:.3f} | {self.fibre_max[i]:.3f} | "
                        f"{self.tendon_min[i] * 1e3:.3f} | {self.path_min[i] * 1e3:.2f} |")
        return "\n".join(rows)


def check_lengths(body, qpos: np.ndarray | None = None, *, n: int = 9,
                  limits: tuple[float, float] = FIBRE_LIMITS) -> LengthReport:
    """Every muscle's tendon length > 0, path length > 0 and normalised fibre length within
    ``limits`` at every posture (default: full grid of ``n`` points per joint, limits included).
    """
    m = _model(body)
    if qpos is None:
        qpos = _grid_qpos(body, joint_grid(_ranges(body), n))
    geo = muscle_geometry(m, qpos)
    ids = _muscle_ids(m)
    names = tuple(body.muscle_names[i] for i in ids)
    f = geo["fibre"][:, ids]
    t = geo["tendon"][:, ids]
    p = geo["length"][:, ids]
    viol = []
    for k, name in enumerate(names):
        if f[:, k].min() < limits[0] or f[:, k].max() > limits[1]:
            viol.append(f"{name}: fibre length {f[:, k].min():.3f}..{f[:, k].max():.3f} L0 "
                        f"outside {limits}")
        if t[:, k].min() <= 0:
            viol.append(f"{name}: tendon length {t[:, k].min() * 1e3:.3f} mm <= 0")
        if p[:, k].min() <= 0:
            viol.append(f"{name}: path length {p[:, k].min() * 1e3:.3f} mm <= 0")
    return LengthReport(not viol, len(qpos), names, f.min(0), f.max(0), t.min(0), p.min(0),
                        viol)


@dataclass
class SignReport:
    """Moment-arm sign check: per (muscle, joint) the fraction of postures with the expected
    action sign and the worst (most wrong-signed) action in m."""
    ok: bool
    entries: dict[tuple[str, str], dict]
    violations: list[str] = field(default_factory=list)


def check_moment_signs(body, table: Mapping[tuple[str, str], tuple[int, str]] | None = None, *,
                       n: int = 7, workspace: Mapping[str, tuple[float, float]] | None = None,
                       tol: float = 0.0, full_range: bool = False) -> SignReport:
    """Check each muscle's action sign over its domain (see ``FORELIMB_SIGNS``).

    workspace: joint -> (lo, hi) rad for the "reach" domain (default ``REACH_WORKSPACE``;
    joints not named keep their full range).

    tol: action (m) the wrong way that is still accepted (0: strict). ``full_range=True``
    evaluates every entry over the full grid (reporting, not pass/fail of "reach" entries).
    """
    m = _model(body)
    table = FORELIMB_SIGNS if table is None else table
    table = {k: v for k, v in table.items()
             if k[0] in body.muscle_names and k[1] in body.joint_names}
    ranges = _ranges(body)
    jn = list(body.joint_names)
    workspace = REACH_WORKSPACE if workspace is None else workspace
    grids = {"full": joint_grid(ranges, n)}
    box = ranges.copy()
    for i, j in enumerate(jn):
        if j in workspace:
            box[i] = (max(ranges[i, 0], workspace[j][0]), min(ranges[i, 1], workspace[j][1]))
    grids["reach"] = joint_grid(box, n)
    geos = {k: muscle_geometry(m, _grid_qpos(body, g))["moment"] for k, g in grids.items()}
    entries, viol = {}, []
    for (mus, joint), (sign, domain) in table.items():
        dom = "full" if full_range else domain
        a = -geos[dom][:, body.muscle_names.index(mus), m.jnt_dofadr[m.joint(joint).id]] * sign
        frac = float((a > -tol).mean())
        entries[(mus, joint)] = {"sign": sign, "domain": dom, "fraction": frac,
                                 "worst": float(a.min()), "mean": float(a.mean())}
        if frac < 1.0 and (domain == dom):
            viol.append(f"{mus} on {joint}: expected sign {sign:+d} over '{dom}' but "
                        f"{(1 - frac) * 100:.1f}% of postures disagree (worst action "
                        f"{a.min() * 1e3:+.3f} mm)")
    return SignReport(not viol, entries, viol)


@dataclass
class StabilityReport:
    ok: bool
    runs: list[dict]
    violations: list[str] = field(default_factory=list)


def check_stability(body, *, controls: tuple[float, ...] = (0.0, 1.0), seconds: float = 1.0,
                    max_speed: float = 200.0, limit_slack: float = 0.1,
                    starts: np.ndarray | None = None) -> StabilityReport:
    """Step the C engine at the model's timestep with every muscle held at each constant control
    in ``controls`` from several starting postures (rest, lower and upper limits, mid-range).
    ok when no NaN, every joint speed stays below ``max_speed`` rad/s and joints stay within
    ``limit_slack`` rad of their ranges."""
    import mujoco
    m = _model(body)
    ranges = _ranges(body)
    if starts is None:
        starts = np.stack([np.asarray(body.default_qpos)] + [
            _grid_qpos(body, r[None])[0] for r in (ranges[:, 0], ranges[:, 1], ranges.mean(1))])
    jadr = [m.jnt_qposadr[m.joint(j).id] for j in body.joint_names]
    steps = int(round(seconds / m.opt.timestep))
    runs, viol = [], []
    for c in controls:
        for s, q0 in enumerate(starts):
            d = mujoco.MjData(m)
            d.qpos[:] = q0
            d.ctrl[:] = c
            vmax, below, above, finite = 0.0, 0.0, 0.0, True
            for _ in range(steps):
                mujoco.mj_step(m, d)
                if not (np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel))):
                    finite = False
                    break
                vmax = max(vmax, float(np.abs(d.qvel).max()))
                q = d.qpos[jadr]
                below = max(below, float((ranges[:, 0] - q).max()))
                above = max(above, float((q - ranges[:, 1]).max()))
            run = {"control": c, "start": s, "finite": finite, "max_speed": vmax,
                   "beyond_lower": below, "beyond_upper": above,
                   "final_qpos": np.array(d.qpos)}
            runs.append(run)
            if not finite:
                viol.append(f"control {c}, start {s}: NaN/inf state")
            elif vmax > max_speed:
                viol.append(f"control {c}, start {s}: speed {vmax:.1f} rad/s > {max_speed}")
            elif max(below, above) > limit_slack:
                viol.append(f"control {c}, start {s}: joint {max(below, above):.3f} rad past "
                            f"its range (> {limit_slack})")
    return StabilityReport(not viol, runs, viol)


@dataclass
class MjxReport:
    max_abs_qpos: float      # rad, max over steps and joints
    max_abs_act: float       # activation difference
    steps: int
    dtype: str


def control_pattern(nu: int, steps: int, dt: float, seed: int = 0) -> np.ndarray:
    """Smooth excitations in [0, 1]: (steps, nu), one random-phase sine per muscle."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps) * dt
    f = rng.uniform(3.0, 12.0, nu)
    ph = rng.uniform(0, 2 * np.pi, nu)
    return 0.5 + 0.5 * np.sin(2 * np.pi * f[None] * t[:, None] + ph[None])


def mjx_vs_c(body, *, steps: int = 200, seed: int = 0, qpos0: np.ndarray | None = None
             ) -> MjxReport:
    """Roll the same excitations through the C engine and MJX; max |qpos difference|.

    JAX's precision is whatever is active (``jax.config.update("jax_enable_x64", True)``
    before calling, for float64).
    """
    import jax
    import jax.numpy as jnp
    import mujoco
    from mujoco import mjx

    m = _model(body)
    ctrl = control_pattern(m.nu, steps, m.opt.timestep, seed)
    q0 = np.asarray(body.default_qpos if qpos0 is None else qpos0, float)
    d = mujoco.MjData(m)
    d.qpos[:] = q0
    qc = np.empty((steps, m.nq))
    ac = np.empty((steps, m.na))
    for t in range(steps):
        d.ctrl[:] = ctrl[t]
        mujoco.mj_step(m, d)
        qc[t] = d.qpos
        ac[t] = d.act

    mx = mjx.put_model(m)
    dx = mjx.make_data(mx)
    dtype = jnp.zeros(()).dtype
    dx = dx.replace(qpos=jnp.asarray(q0, dtype))

    @jax.jit
    def roll(dx, ctrl):
        def step(dx, u):
            new = mjx.step(mx, dx.replace(ctrl=u))
            # keep the carry's dtypes (under x64 some index fields come back int64)
            new = jax.tree.map(lambda n, o: n.astype(o.dtype) if hasattr(o, "dtype") else n,
                               new, dx)
            return new, (new.qpos, new.act)
        return jax.lax.scan(step, dx, ctrl)[1]

    qj, aj = roll(dx, jnp.asarray(ctrl, dtype))
    return MjxReport(float(np.abs(np.asarray(qj) - qc).max()),
                     float(np.abs(np.asarray(aj) - ac).max()) if m.na else 0.0, steps,
                     str(dtype))


def mjx_geometry_vs_c(body, qpos: np.ndarray) -> float:
    """Max |tendon length (MJX) - tendon length (C)| in m over postures qpos (n, nq).

    Catches wrapping that differs between engines in poses a short rollout never visits.
    """
    import jax
    import jax.numpy as jnp
    import mujoco
    from mujoco import mjx
    from mujoco.mjx._src import smooth  # kinematics + tendon only: much cheaper to compile

    m = _model(body)
    qpos = np.atleast_2d(np.asarray(qpos, float))
    mx = mjx.put_model(m)
    d0 = mjx.make_data(mx)
    dtype = jnp.zeros(()).dtype

    @jax.jit
    @jax.vmap
    def lengths(q):
        d = smooth.kinematics(mx, d0.replace(qpos=q))
        return smooth.tendon(mx, d).ten_length

    lj = np.asarray(lengths(jnp.asarray(qpos, dtype)))
    d = mujoco.MjData(m)
    lc = np.empty_like(lj)
    for i, q in enumerate(qpos):
        d.qpos[:] = q
        mujoco.mj_fwdPosition(m, d)
        lc[i] = d.ten_length
    return float(np.abs(lj - lc).max())


@dataclass
class HoldReport:
    """Static feasibility: can muscles (activations in [0, 1]) hold each posture still?"""
    fraction: float             # of postures where gravity + passive forces can be balanced
    n_postures: int
    torque_margin: np.ndarray   # (n, nv, 2) N m: largest extra torque -/+ per dof (NaN: none)


def hold_feasibility(body, qpos: np.ndarray, *, margins: bool = False) -> HoldReport:
    """Whether muscle activations in [0, 1] can hold each posture against gravity and the
    muscles' own passive forces (zero velocity): a linear feasibility problem per posture.

    margins=True also computes, per dof and direction, the largest extra joint torque the
    muscles can add while every other dof stays balanced (slower: 2 nv LPs per posture).
    """
    import mujoco
    from scipy.optimize import linprog

    m = _model(body)
    qpos = np.atleast_2d(np.asarray(qpos, float))
    d = mujoco.MjData(m)
    dense = np.zeros((m.nu, m.nv))
    ok = np.zeros(len(qpos), bool)
    marg = np.full((len(qpos), m.nv, 2), np.nan)
    for i, q in enumerate(qpos):
        d.qpos[:] = q
        d.qvel[:] = 0
        d.act[:] = 0
        mujoco.mj_forward(m, d)
        f_passive = d.actuator_force.copy()
        d.act[:] = 1
        mujoco.mj_forward(m, d)
        f_active = d.actuator_force - f_passive
        mujoco.mju_sparse2dense(dense, d.actuator_moment, d.moment_rownnz, d.moment_rowadr,
                                d.moment_colind)
        A = dense.T * f_active[None]            # joint torque per unit activation
        need = d.qfrc_bias - dense.T @ f_passive
        r = linprog(np.zeros(m.nu), A_eq=A, b_eq=need, bounds=[(0, 1)] * m.nu, method="highs")
        ok[i] = r.status == 0
        if margins and ok[i]:
            for j in range(m.nv):
                for k, s in enumerate((-1.0, 1.0)):
                    e = np.zeros((m.nv, 1))
                    e[j] = -s
                    rr = linprog(np.r_[np.zeros(m.nu), -1.0], A_eq=np.hstack([A, e]),
                                 b_eq=need, bounds=[(0, 1)] * m.nu + [(0, None)],
                                 method="highs")
                    marg[i, j, k] = -rr.fun if rr.status == 0 else np.nan
    return HoldReport(float(ok.mean()), len(qpos), marg)


def run_all(body, *, n: int = 9) -> dict:
    """Lengths, signs (strict domain + full-range fractions) and stability in one dict."""
    return {"lengths": check_lengths(body, n=n), "signs": check_moment_signs(body),
            "signs_full_range": check_moment_signs(body, full_range=True),
            "stability": check_stability(body)}
