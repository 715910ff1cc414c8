"""Physics backends: the same batched step on the MuJoCo C engine (``cpu``) or on MJX (``mjx``).

Both map ``(qpos (N, nq), qvel (N, nv), act (N, na), ctrl (N, nu))`` to a :class:`PhysOut`
after ``n_substeps`` physics steps, with the keypoint site positions at the *new* state and
the muscle lengths, velocities and forces sensed at the start of the last physics step (see
:class:`~.common.PhysOut`), so the environment built on top is identical for both. Both are
callable inside ``jax.jit`` (the C engine through
``jax.pure_callback``).
"""
from .common import PhysOut, PhysicsSpec, make_spec, reference_observables, resolve_backend

__all__ = ["PhysOut", "PhysicsSpec", "make_spec", "reference_observables", "make_physics",
           "resolve_backend"]


def make_physics(spec: PhysicsSpec, backend: str = "cpu", threads: int = 2):
    """Return the batched step function of ``backend`` ("cpu" or "mjx") for ``spec``."""
    backend = resolve_backend(backend)
    if backend == "cpu":
        from .cpu import CpuPhysics
        return CpuPhysics(spec, threads=threads)
    from .mjx import MjxPhysics
    return MjxPhysics(spec)
