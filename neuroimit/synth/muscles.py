"""MuJoCo muscle model in vectorised numpy: force gain/bias and activation dynamics.

The synthesiser needs, at every control step and for all muscles at once, the muscle force
as an affine function of activation, ``force = gain * act + bias`` (MuJoCo's force-length-
velocity gain and passive bias, both <= 0 because muscles pull), and the map from a held
excitation ``u`` to the activations MuJoCo will integrate over the next control interval.
Both follow MuJoCo's documented muscle model (``mju_muscleGain``, ``mju_muscleBias``,
``mju_muscleDynamics``); ``tests/test_synth_muscles.py`` checks them against the C functions.

>>> import mujoco
>>> p = MuscleParams.from_model(model)              # doctest: +SKIP
>>> gain, bias = muscle_gain_bias(p, length, velocity)  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..errors import ConfigError

__all__ = ["MuscleParams", "muscle_gain_bias", "activation_path", "activation_end",
           "end_activation_bounds",
           "excitation_for_activation"]

_MINVAL = 1e-15


@dataclass(frozen=True)
class MuscleParams:
    """Per-muscle constants of a MuJoCo model (all arrays (nu,)).

    range0/range1: operating length range in L0 units; force: peak force (N);
    lmin/lmax/vmax/fpmax/fvmax: curve shape; L0: optimal fibre length (m);
    lr0: lower end of the actuator length range (m); tau_act/tau_deact (s); tausmooth;
    actearly: force uses the next activation; dt: physics timestep (s).
    """

    range0: np.ndarray
    range1: np.ndarray
    force: np.ndarray
    lmin: np.ndarray
    lmax: np.ndarray
    vmax: np.ndarray
    fpmax: np.ndarray
    fvmax: np.ndarray
    L0: np.ndarray
    lr0: np.ndarray
    tau_act: np.ndarray
    tau_deact: np.ndarray
    actearly: np.ndarray
    dt: float

    def __post_init__(self):
        # constants of the folded curves in :func:`muscle_gain_bias`
        c = {"inv_L0": 1.0 / np.maximum(_MINVAL, self.L0),
             "inv_left": 1.0 / np.maximum(_MINVAL, 1.0 - self.lmin),
             "inv_right": 1.0 / np.maximum(_MINVAL, self.lmax - 1.0),
             "inv_vel": 1.0 / np.maximum(_MINVAL, self.L0 * self.vmax),
             "inv_y": 1.0 / np.maximum(_MINVAL, self.fvmax - 1.0),
             "inv_b1": 1.0 / np.maximum(_MINVAL, 0.5 * (1.0 + self.lmax) - 1.0),
             "neg_force": -self.force, "neg_force_fp": -self.force * self.fpmax}
        for k, v in c.items():
            object.__setattr__(self, k, v)

    @classmethod
    def from_model(cls, m: mujoco.MjModel) -> "MuscleParams":
        """Read the constants of every actuator; all must be MuJoCo muscles."""
        if m.nu == 0:
            raise ConfigError("the body has no actuators", field="body",
                              expected="a model with <muscle> actuators")
        musc = int(mujoco.mjtDyn.mjDYN_MUSCLE)
        if not (np.all(m.actuator_dyntype == musc)
                and np.all(m.actuator_gaintype == int(mujoco.mjtGain.mjGAIN_MUSCLE))
                and np.all(m.actuator_biastype == int(mujoco.mjtBias.mjBIAS_MUSCLE))):
            bad = [m.actuator(i).name for i in range(m.nu)
                   if m.actuator_dyntype[i] != musc]
            raise ConfigError(f"actuators {bad or 'some'} are not muscles", field="body",
                              expected="every actuator a MuJoCo <muscle>")
        if np.any(m.actuator_dynprm[:, 2] > 0):
            raise ConfigError("smoothed muscle activation dynamics (tausmooth > 0) are not "
                              "supported", field="body", expected="tausmooth=0")
        if m.opt.integrator == int(mujoco.mjtIntegrator.mjINT_RK4):
            raise ConfigError("the RK4 integrator is not supported by the synthesiser",
                              field="body/option/integrator",
                              expected="Euler, implicit or implicitfast")
        g = m.actuator_gainprm
        force = g[:, 2].copy()
        neg = force < 0  # MuJoCo: negative force means scale / acc0
        force[neg] = g[neg, 3] / np.maximum(_MINVAL, m.actuator_acc0[neg])
        lr = m.actuator_lengthrange
        L0 = (lr[:, 1] - lr[:, 0]) / np.maximum(_MINVAL, g[:, 1] - g[:, 0])
        return cls(range0=g[:, 0].copy(), range1=g[:, 1].copy(), force=force,
                   lmin=g[:, 4].copy(), lmax=g[:, 5].copy(), vmax=g[:, 6].copy(),
                   fpmax=g[:, 7].copy(), fvmax=g[:, 8].copy(), L0=L0, lr0=lr[:, 0].copy(),
                   tau_act=m.actuator_dynprm[:, 0].copy(),
                   tau_deact=m.actuator_dynprm[:, 1].copy(),
                   actearly=m.actuator_actearly.astype(bool).copy(), dt=float(m.opt.timestep))


def muscle_gain_bias(p: MuscleParams, length: np.ndarray,
                     velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Force gain and bias of every muscle so that ``force = gain * act + bias`` (N, <= 0).

    length, velocity: (nu,) (or (..., nu)) actuator lengths (m) and velocities (m/s).
    MuJoCo's curves, written in a folded form that needs few array operations:

    * active force-length: with ``t = (L - lmin) / (1 - lmin)`` below the optimum and
      ``t = (lmax - L) / (lmax - 1)`` above it, ``FL = 2 t^2`` for ``t <= 1/2`` and
      ``1 - 2 (1 - t)^2`` otherwise (0 outside ``[lmin, lmax]``);
    * force-velocity: ``(V + 1)^2`` when shortening (0 below ``V = -1``), ``fvmax - (y - V)^2
      / y`` when lengthening (``y = fvmax - 1``, constant ``fvmax`` beyond ``V = y``);
    * passive: with ``x = max(L - 1, 0) / (b - 1)``, ``b = (1 + lmax) / 2``, ``fpmax * x^2 / 2``
      up to ``x = 1`` and ``fpmax * (x - 1/2)`` beyond.
    """
    L = p.range0 + (length - p.lr0) * p.inv_L0
    t = np.maximum(np.where(L <= 1.0, (L - p.lmin) * p.inv_left, (p.lmax - L) * p.inv_right),
                   0.0)
    FL = np.where(t <= 0.5, 2.0 * t * t, 1.0 - 2.0 * (1.0 - t) ** 2)
    V = velocity * p.inv_vel
    y = p.fvmax - 1.0
    FV = np.where(V <= 0.0, (np.maximum(V, -1.0) + 1.0) ** 2,
                  p.fvmax - (y - np.minimum(V, y)) ** 2 * p.inv_y)
    gain = p.neg_force * FL * FV
    x = np.maximum(L - 1.0, 0.0) * p.inv_b1
    bias = p.neg_force_fp * np.where(x <= 1.0, 0.5 * x * x, x - 0.5)
    return gain, bias


def activation_path(p: MuscleParams, act0: np.ndarray, u: np.ndarray,
                    nsub: int) -> np.ndarray:
    """Activations MuJoCo integrates (Euler) over ``nsub`` steps with excitation ``u`` held.

    act0: (nu,); u: (..., nu) (a stack of excitations is evaluated at once);
    returns (nsub + 1, ..., nu) with row 0 = act0. Activations stay in [0, 1] (Euler with
    dt well below the time constants never overshoots), so MuJoCo's clamp of act inside the
    time constants is inactive; the branch (activation / deactivation) is fixed by the sign
    of ``u - act0`` for the whole interval because act moves monotonically toward u.
    """
    u = np.clip(u, 0.0, 1.0)
    a = np.asarray(act0, dtype=np.float64) + np.zeros_like(u)
    up = u > a
    # dt / tau = up ? dt / (tau_act * w) : dt * w / tau_deact, with w = 0.5 + 1.5 a
    ca = p.dt / p.tau_act
    cd = p.dt / p.tau_deact
    out = np.empty((nsub + 1,) + u.shape)
    out[0] = a
    for j in range(nsub):
        w = 0.5 + 1.5 * a
        a = a + (u - a) * np.where(up, ca / w, cd * w)
        out[j + 1] = a
    return out


def activation_end(p: MuscleParams, act0: np.ndarray, u: np.ndarray, nsub: int) -> np.ndarray:
    """Last row of :func:`activation_path` (same arithmetic, nothing stored on the way)."""
    a = np.asarray(act0, dtype=np.float64)
    up = u > a
    ca = p.dt / p.tau_act
    cd = p.dt / p.tau_deact
    for _ in range(nsub):
        w = 0.5 + 1.5 * a
        a = a + (u - a) * np.where(up, ca / w, cd * w)
    return a


def end_activation_bounds(p: MuscleParams, act0: np.ndarray,
                          nsub: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest activation reachable at the end of the interval (u = 0 and 1)."""
    a = np.asarray(act0, dtype=np.float64)
    lo = hi = a
    ca = p.dt / p.tau_act
    cd = p.dt / p.tau_deact
    for _ in range(nsub):  # u = 0: deactivation branch; u = 1: activation branch
        lo = lo - lo * cd * (0.5 + 1.5 * lo)
        hi = hi + (1.0 - hi) * ca / (0.5 + 1.5 * hi)
    return lo, hi


def excitation_for_activation(p: MuscleParams, act0: np.ndarray, target: np.ndarray,
                              nsub: int, iters: int = 2) -> np.ndarray:
    """Excitation ``u`` in [0, 1] that brings the activation from ``act0`` to ``target``
    at the end of ``nsub`` physics steps (MuJoCo's Euler integration of the muscle
    activation dynamics).

    First guess: the exact inverse for a time constant frozen at its value for the midpoint
    activation (end = u + (act0 - u) r^n, r = 1 - dt / tau); then ``iters`` corrections
    ``u += (target - end(u)) / (1 - r^n)`` against the true, activation-dependent time
    constant. The end activation is monotone in ``u`` with slope close to ``1 - r^n``;
    with two corrections it misses the target by < 5e-4 (checked in the tests; one
    correction: < 3e-3). Unreachable targets give u = 0 or 1.
    """
    act0 = np.asarray(act0, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    w = 0.5 + 1.5 * np.clip(0.5 * (act0 + target), 0.0, 1.0)
    rn = (1.0 - p.dt / np.where(target >= act0, p.tau_act * w, p.tau_deact / w)) ** nsub
    slope = np.maximum(1.0 - rn, 1e-9)
    u = np.minimum(np.maximum((target - rn * act0) / slope, 0.0), 1.0)
    for _ in range(iters):
        u = np.minimum(np.maximum(u + (target - activation_end(p, act0, u, nsub)) / slope,
                                  0.0), 1.0)
    return u
