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

__all__ = ["MuscleParams", "muscle_gain_bias", "activation_path", "end_activation_bounds",
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


def _gain_length(L: np.ndarray, lmin: np.ndarray, lmax: np.ndarray) -> np.ndarray:
    """MuJoCo's piecewise-quadratic active force-length curve (peak 1 at L = 1)."""
    a = 0.5 * (lmin + 1.0)
    b = 0.5 * (1.0 + lmax)
    x1 = (L - lmin) / np.maximum(_MINVAL, a - lmin)
    x2 = (1.0 - L) / np.maximum(_MINVAL, 1.0 - a)
    x3 = (L - 1.0) / np.maximum(_MINVAL, b - 1.0)
    x4 = (lmax - L) / np.maximum(_MINVAL, lmax - b)
    out = np.where(L <= a, 0.5 * x1 * x1,
                   np.where(L <= 1.0, 1.0 - 0.5 * x2 * x2,
                            np.where(L <= b, 1.0 - 0.5 * x3 * x3, 0.5 * x4 * x4)))
    return np.where((L < lmin) | (L > lmax), 0.0, out)


def muscle_gain_bias(p: MuscleParams, length: np.ndarray,
                     velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Force gain and bias of every muscle so that ``force = gain * act + bias`` (N, <= 0).

    length, velocity: (nu,) actuator lengths (m) and velocities (m/s).
    """
    L = p.range0 + (length - p.lr0) / np.maximum(_MINVAL, p.L0)
    V = velocity / np.maximum(_MINVAL, p.L0 * p.vmax)
    FL = _gain_length(L, p.lmin, p.lmax)
    y = p.fvmax - 1.0
    FV = np.where(V <= -1.0, 0.0,
                  np.where(V <= 0.0, (V + 1.0) ** 2,
                           np.where(V <= y, p.fvmax - (y - V) ** 2 / np.maximum(_MINVAL, y),
                                    p.fvmax)))
    gain = -p.force * FL * FV
    b = 0.5 * (1.0 + p.lmax)
    xb1 = (L - 1.0) / np.maximum(_MINVAL, b - 1.0)
    xb2 = (L - b) / np.maximum(_MINVAL, b - 1.0)
    bias = np.where(L <= 1.0, 0.0,
                    np.where(L <= b, -p.force * p.fpmax * 0.5 * xb1 * xb1,
                             -p.force * p.fpmax * (0.5 + xb2)))
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


def end_activation_bounds(p: MuscleParams, act0: np.ndarray,
                          nsub: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest activation reachable at the end of the interval (u = 0 and 1)."""
    both = activation_path(p, act0, np.stack([np.zeros_like(act0), np.ones_like(act0)]),
                           nsub)[-1]
    return both[0], both[1]


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
    u = np.clip((target - rn * act0) / slope, 0.0, 1.0)
    for _ in range(iters):
        u = np.clip(u + (target - activation_path(p, act0, u, nsub)[-1]) / slope, 0.0, 1.0)
    return u
