"""C-engine backend: batches of environments stepped by ``mujoco.rollout`` on a thread pool.

MJX on a CPU runs a small arm at a few thousand steps/s; the C engine steps the same batch
two orders of magnitude faster. The step is exposed to JAX through ``jax.pure_callback`` so
the whole PPO iteration stays one jitted program on every backend.

Muscle observables come from sensors added to a copy of the model (actuator length /
velocity / force). ``mj_step`` evaluates sensors *before* integrating, so the values recorded
by the control step's last physics step are those one physics step before the new state
(see :class:`~.common.PhysOut`); the keypoint sites at the new state come from forward
kinematics (``step_numpy``: the C engine's ``mj_kinematics``; under JAX:
:func:`~.common.keypoint_fn`). No extra physics step is run for the observation.
Warm-starts start at zero each control step (MJX backend does the same), so a control step
depends only on (qpos, qvel, act, ctrl): exact resume, and the same function on both backends.
"""
from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from ...errors import DataError
from ...stac.kinematics import mujoco_site_positions
from .common import PhysOut, PhysicsSpec, keypoint_fn

__all__ = ["CpuPhysics", "sensor_model"]


def sensor_model(spec: PhysicsSpec) -> mujoco.MjModel:
    """The spec's model with sensors appended: actuatorpos/vel/frc per actuator (in that
    order). Physics is unchanged; auto-reset on bad accelerations is
    disabled so non-finite states reach the environment (which ends the episode)."""
    if spec.xml is None:
        raise DataError("the CPU backend needs the model's MJCF text", field="body.xml")
    s = mujoco.MjSpec.from_string(spec.xml)
    m0 = spec.mj_model
    anames = [mujoco.mj_id2name(m0, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(m0.nu)]
    if any(a is None for a in anames):
        raise DataError("every actuator needs a name for the CPU backend", field="actuator")
    for kind in (mujoco.mjtSensor.mjSENS_ACTUATORPOS, mujoco.mjtSensor.mjSENS_ACTUATORVEL,
                 mujoco.mjtSensor.mjSENS_ACTUATORFRC):
        for a in anames:
            s.add_sensor(type=kind, objtype=mujoco.mjtObj.mjOBJ_ACTUATOR, objname=a)
    m = s.compile()
    m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)
    n0 = m0.nsensordata
    if m.nsensordata != n0 + 3 * m0.nu or m.nq != m0.nq:
        raise DataError("could not add observation sensors to the model", field="sensors")
    # keep any compiled-time quantities (e.g. muscle length ranges) identical to the original
    m.actuator_lengthrange[:] = m0.actuator_lengthrange
    m.actuator_gainprm[:] = m0.actuator_gainprm
    m.actuator_biasprm[:] = m0.actuator_biasprm
    return m


class CpuPhysics:
    """Batched control step on the C engine; ``__call__`` works inside ``jax.jit``.

    >>> from neuroimit.imitation.toy import toy_arm
    >>> from neuroimit.imitation.backends import make_spec
    >>> phys = CpuPhysics(make_spec(toy_arm(), 200.0))
    >>> out = phys.step_numpy(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 4)),
    ...                       np.full((3, 4), 0.5))
    >>> out.kp.shape
    (3, 3, 3)
    """
    name = "cpu"

    def __init__(self, spec: PhysicsSpec, threads: int = 2):
        self.spec = spec
        self.model = sensor_model(spec)
        self.threads = max(1, int(threads))
        self._datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = mj_rollout.Rollout(nthread=self.threads if self.threads > 1 else 0)
        m = self.model
        self.nstate = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        d0 = mujoco.MjData(m)
        self._state0 = np.empty(self.nstate)
        mujoco.mj_getState(m, d0, self._state0, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        size = lambda f: mujoco.mj_stateSize(m, f)  # noqa: E731
        S = mujoco.mjtState
        self._o_qpos = size(S.mjSTATE_TIME)
        self._o_qvel = self._o_qpos + size(S.mjSTATE_QPOS)
        self._o_act = self._o_qvel + size(S.mjSTATE_QVEL)
        self._o_end = self._o_act + size(S.mjSTATE_ACT)
        self._s0 = spec.mj_model.nsensordata
        self._models: list = []
        self._kp_data = mujoco.MjData(spec.mj_model)
        self._kp_jax = keypoint_fn(spec)
        # several JAX devices may call back at once; the thread pool and MjData are shared
        self._lock = threading.Lock()

    def close(self):
        self._pool.close()

    def step_numpy(self, qpos, qvel, act, ctrl) -> PhysOut:
        """numpy in/out (float64); see :class:`PhysOut`. Thread-safe."""
        with self._lock:
            out = self._step_numpy(qpos, qvel, act, ctrl)
            kp = mujoco_site_positions(self.spec.mj_model, out.qpos, self.spec.site_ids,
                                       data=self._kp_data)[0]
        return out._replace(kp=kp)

    def _step_numpy(self, qpos, qvel, act, ctrl) -> PhysOut:
        """The C engine's part: state and muscle sensors (``kp`` left None)."""
        m, sp = self.model, self.spec
        n = qpos.shape[0]
        init = np.tile(self._state0, (n, 1))
        init[:, self._o_qpos:self._o_qvel] = qpos
        init[:, self._o_qvel:self._o_act] = qvel
        init[:, self._o_act:self._o_end] = act
        nstep = sp.n_substeps
        ctrl = np.ascontiguousarray(np.broadcast_to(
            np.asarray(ctrl, np.float64)[:, None, :], (n, nstep, m.nu)))
        if len(self._models) != n:
            self._models = [m] * n
        state, sens = self._pool.rollout(
            self._models, self._datas, init, ctrl, nstep=nstep, skip_checks=True,
            initial_warmstart=np.zeros((n, m.nv)),
            state=np.empty((n, nstep, self.nstate)),
            sensordata=np.empty((n, nstep, m.nsensordata)))
        last = state[:, nstep - 1]
        sd = sens[:, nstep - 1, self._s0:]
        nu = m.nu
        return PhysOut(qpos=last[:, self._o_qpos:self._o_qvel],
                       qvel=last[:, self._o_qvel:self._o_act],
                       act=last[:, self._o_act:self._o_end], kp=None,
                       mlen=sd[:, :nu], mvel=sd[:, nu:2 * nu], mfrc=sd[:, 2 * nu:3 * nu])

    def __call__(self, qpos, qvel, act, ctrl) -> PhysOut:
        """JAX arrays in/out (float32), usable under jit; batch shape (N, ...)."""
        sp = self.spec
        n = qpos.shape[0]
        f = jnp.float32
        vec = lambda k: jax.ShapeDtypeStruct((n, k), f)  # noqa: E731
        shapes = (vec(sp.nq), vec(sp.nv), vec(sp.na), vec(sp.nu), vec(sp.nu), vec(sp.nu))

        def host(qp, qv, a, u):
            with self._lock:
                out = self._step_numpy(np.asarray(qp, np.float64), np.asarray(qv, np.float64),
                                       np.asarray(a, np.float64), np.asarray(u, np.float64))
            with np.errstate(over="ignore", invalid="ignore"):
                return tuple(np.asarray(x, np.float32) for x in (
                    out.qpos, out.qvel, out.act, out.mlen, out.mvel, out.mfrc))

        qp, qv, a, ml, mv, mf = jax.pure_callback(host, shapes, qpos, qvel, act, ctrl,
                                                  vmap_method="broadcast_all")
        return PhysOut(qp, qv, a, self._kp_jax(qp), ml, mv, mf)
