"""Shared pieces of the physics backends."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import mujoco
import numpy as np

from ...errors import ConfigError, DataError

__all__ = ["PhysOut", "PhysicsSpec", "make_spec", "reference_observables", "resolve_backend",
           "keypoint_fn"]


class PhysOut(NamedTuple):
    """State and observables after a control step (batched, leading dim N).

    qpos (N, nq) rad, qvel (N, nv) rad/s, act (N, na) activations and kp (N, K, 3) m keypoint
    site positions at the new state; mlen (N, nu) m actuator (muscle-tendon) lengths, mvel
    (N, nu) m/s and mfrc (N, nu) N (negative = pulling, MuJoCo's sign) as sensed at the start
    of the control step's last physics step (one physics step, 1.25 ms for the forelimb,
    before the new state). Sensing the muscles there, where ``mj_step`` computes them anyway,
    saves one whole forward pass per control step (a quarter to a third of the physics cost);
    it is a proprioceptive delay far shorter than the animal's own (spindle and tendon-organ
    feedback arrives after ~10 ms or more).
    """
    qpos: object
    qvel: object
    act: object
    kp: object
    mlen: object
    mvel: object
    mfrc: object


@dataclass(frozen=True, eq=False)
class PhysicsSpec:
    """What a backend needs: the model (+ its XML for adding sensors), keypoint sites, and the
    number of physics steps per control step."""
    mj_model: mujoco.MjModel
    xml: str | None
    site_ids: tuple[int, ...]
    site_names: tuple[str, ...]
    n_substeps: int

    @property
    def nq(self): return int(self.mj_model.nq)

    @property
    def nv(self): return int(self.mj_model.nv)

    @property
    def nu(self): return int(self.mj_model.nu)

    @property
    def na(self): return int(self.mj_model.na)

    @property
    def dt(self): return float(self.mj_model.opt.timestep)

    @property
    def control_dt(self): return self.dt * self.n_substeps

    @property
    def peak_force(self) -> np.ndarray:
        """(nu,) N, the muscles' peak isometric forces (gainprm[2] of MuJoCo muscles)."""
        f = np.abs(np.asarray(self.mj_model.actuator_gainprm[:, 2], dtype=float))
        return np.where(f > 0, f, 1.0)


def resolve_backend(backend: str) -> str:
    """``auto`` -> ``mjx`` when JAX sees a GPU/TPU, else ``cpu``."""
    if backend == "auto":
        import jax
        return "mjx" if jax.default_backend() in ("gpu", "cuda", "rocm", "tpu") else "cpu"
    if backend not in ("cpu", "mjx"):
        raise ConfigError(f"unknown backend {backend!r}", field="backend",
                          expected="auto | cpu | mjx")
    return backend


def make_spec(body, control_rate: float, keypoints: dict[str, str] | None = None
              ) -> PhysicsSpec:
    """PhysicsSpec for a body (BodyModel-like: ``mj_model``, ``xml``, ``keypoint_sites``).

    ``control_rate`` Hz must be a whole fraction of the physics rate.
    """
    m = body.mj_model if hasattr(body, "mj_model") else body
    xml = getattr(body, "xml", None)
    kps = dict(keypoints if keypoints is not None else getattr(body, "keypoint_sites", {}))
    if not kps:
        raise DataError("the body has no keypoint sites", file=getattr(body, "name", "body"),
                        field="keypoint_sites", expected="keypoint name -> site name")
    if m.nu == 0 or m.na == 0:
        raise DataError("the body has no muscles with activation dynamics",
                        file=getattr(body, "name", "body"), field="actuators",
                        expected="MuJoCo <muscle> actuators")
    names, ids = [], []
    for k, s in kps.items():
        sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s)
        if sid < 0:
            raise DataError(f"site {s!r} for keypoint {k!r} not in the model",
                            file=getattr(body, "name", "body"), field="keypoint_sites")
        if sid in ids:  # aliases (e.g. "Hand" and "Paw" -> kp_paw): keep the first name
            continue
        names.append(k)
        ids.append(sid)
    ratio = 1.0 / (control_rate * m.opt.timestep)
    n_sub = int(round(ratio))
    if n_sub < 1 or abs(ratio - n_sub) > 1e-6:
        raise ConfigError(f"control rate {control_rate} Hz is not a whole fraction of the "
                          f"physics rate {1 / m.opt.timestep:g} Hz", field="control_rate",
                          expected=f"e.g. {1 / m.opt.timestep / 4:g} or "
                                   f"{1 / m.opt.timestep / 2:g} Hz")
    return PhysicsSpec(mj_model=m, xml=xml, site_ids=tuple(ids), site_names=tuple(names),
                       n_substeps=n_sub)


def keypoint_fn(spec: PhysicsSpec):
    """JAX function ``qpos (N, nq) -> (N, K, 3)`` m: the keypoint sites by forward kinematics
    of the spec's model (:mod:`neuroimit.stac.kinematics`, equal to ``mj_kinematics`` to
    1e-12 in float64), vmapped over the batch; jit-able, runs on any backend."""
    import jax

    from ...stac.kinematics import build_tree, marker_positions
    m = spec.mj_model
    tree = build_tree(m, [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_SITE, i)
                          for i in spec.site_ids])
    return jax.vmap(lambda q: marker_positions(tree, q))


def reference_observables(spec: PhysicsSpec, qpos: np.ndarray, qvel: np.ndarray,
                          act: np.ndarray | None = None) -> PhysOut:
    """Observables at given states with the C engine (``mj_forward``), numpy float64.

    Used for the reference keypoints and for the observables of reset states
    (activation 0 unless ``act`` is given). qpos (T, nq), qvel (T, nv) -> PhysOut (T, ...).
    """
    m = spec.mj_model
    d = mujoco.MjData(m)
    T = len(qpos)
    act = np.zeros((T, m.na)) if act is None else np.asarray(act, dtype=float)
    kp = np.zeros((T, len(spec.site_ids), 3))
    mlen, mvel, mfrc = (np.zeros((T, m.nu)) for _ in range(3))
    sids = list(spec.site_ids)
    for t in range(T):
        d.qpos[:] = qpos[t]
        d.qvel[:] = qvel[t]
        d.act[:] = act[t]
        d.ctrl[:] = 0.0
        mujoco.mj_forward(m, d)
        kp[t] = d.site_xpos[sids]
        mlen[t] = d.actuator_length
        mvel[t] = d.actuator_velocity
        mfrc[t] = d.actuator_force
    return PhysOut(np.asarray(qpos, float), np.asarray(qvel, float), act, kp, mlen, mvel, mfrc)
