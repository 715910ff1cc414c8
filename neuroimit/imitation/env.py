"""The imitation environment as pure functions on pytrees (batched: leading dim N envs).

``reset(params, key, n) -> EnvState``; ``observe(params, state) -> (N, obs_dim)``;
``step(params, state, u, physics) -> StepOut``. ``physics`` is a backend's batched control
step (see :mod:`.backends`), so the same environment runs on the C engine or on MJX; tests
can pass a fake one. Finished episodes are reset inside ``step`` (auto-reset), so a jitted
rollout never leaves the device.

Observation = [reference part | proprioception]:
reference part: for k = 1..K, ``ref_qpos[t+k] - qpos`` and ``ref_kp[t+k] - kp`` (flattened);
proprioception: qpos, qvel, activations, muscle lengths, velocities, forces.

Reset states sit exactly on the reference (qpos, qvel of the start frame, activation 0), so
their observables are precomputed once per reference frame with the C engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DataError
from .backends.common import PhysOut, PhysicsSpec, reference_observables
from .clips import ReferenceClip, resample_clip
from .config import EnvConfig
from .rewards import penalty_terms, total_reward, tracking_terms

__all__ = ["EnvParams", "EnvState", "StepOut", "make_env_params", "reset", "reset_to",
           "observe", "step", "obs_layout"]


class EnvParams(NamedTuple):
    """Reference tables (C clips padded to Tm frames) and constants; arrays only."""
    ref_qpos: jnp.ndarray    # (C, Tm, nq)
    ref_qvel: jnp.ndarray    # (C, Tm, nv)
    ref_kp: jnp.ndarray      # (C, Tm, K, 3)
    ref_mlen: jnp.ndarray    # (C, Tm, nu) observables at the reference state, activation 0
    ref_mvel: jnp.ndarray
    ref_mfrc: jnp.ndarray
    lengths: jnp.ndarray     # (C,) int32 frames per clip
    peak_force: jnp.ndarray  # (nu,)


class EnvState(NamedTuple):
    qpos: jnp.ndarray        # (N, nq)
    qvel: jnp.ndarray        # (N, nv)
    act: jnp.ndarray         # (N, na)
    kp: jnp.ndarray          # (N, K, 3)
    mlen: jnp.ndarray        # (N, nu)
    mvel: jnp.ndarray
    mfrc: jnp.ndarray
    clip: jnp.ndarray        # (N,) int32
    frame: jnp.ndarray       # (N,) int32, index of the reference frame the state matches
    steps: jnp.ndarray       # (N,) int32 steps since reset
    prev_u: jnp.ndarray      # (N, nu)
    prev_qacc: jnp.ndarray   # (N, nv)
    ep_return: jnp.ndarray   # (N,)
    key: jnp.ndarray         # (N, 2) uint32


class StepOut(NamedTuple):
    state: EnvState          # after auto-reset
    reward: jnp.ndarray      # (N,)
    term: jnp.ndarray        # (N,) bool: failure (tracking error / non-finite)
    trunc: jnp.ndarray       # (N,) bool: reached the clip's end
    final_obs: jnp.ndarray   # (N, obs_dim) observation of the reached state (before reset)
    info: dict               # per-env diagnostics (N,)


@dataclass(frozen=True)
class ObsLayout:
    n_ref: int
    n_prop: int

    @property
    def size(self) -> int:
        return self.n_ref + self.n_prop


def obs_layout(spec: PhysicsSpec, cfg: EnvConfig) -> ObsLayout:
    """Sizes of the reference and proprioceptive parts of the observation."""
    K = len(spec.site_ids)
    return ObsLayout(n_ref=cfg.n_future * (spec.nq + 3 * K),
                     n_prop=spec.nq + spec.nv + spec.na + 3 * spec.nu)


def make_env_params(spec: PhysicsSpec, clips: Sequence[ReferenceClip], cfg: EnvConfig
                    ) -> EnvParams:
    """Resample clips to the control rate, compute reference keypoints and reset observables
    with the C engine, and pad into arrays."""
    if not clips:
        raise DataError("no reference clips", field="clips", expected="at least one clip")
    rate = 1.0 / spec.control_dt
    cs = [resample_clip(c, rate) for c in clips]
    for c in cs:
        if c.qpos.shape[1] != spec.nq or c.qvel.shape[1] != spec.nv:
            raise DataError(f"clip has {c.qpos.shape[1]} joints, body has nq={spec.nq}",
                            file=c.name or "clip", field="qpos",
                            expected=f"(T, {spec.nq}) in the body's qpos order")
        if c.n_frames < 2 + cfg.n_future:
            raise DataError(f"clip has {c.n_frames} frames at {rate:g} Hz", file=c.name,
                            field="qpos", expected=f">= {2 + cfg.n_future} frames")
    rng_ = np.asarray(spec.mj_model.jnt_range, float)
    limited = np.asarray(spec.mj_model.jnt_limited, bool)
    qadr = np.asarray(spec.mj_model.jnt_qposadr)
    if limited.any() and spec.mj_model.nq == spec.mj_model.njnt:   # hinge/slide-only bodies
        q = np.concatenate([c.qpos for c in cs])[:, qadr[limited]]
        out = np.mean((q < rng_[limited, 0] - 1e-6) | (q > rng_[limited, 1] + 1e-6), 0)
        if np.any(out > 0):
            import warnings
            names = [spec.mj_model.joint(int(j)).name for j in np.flatnonzero(limited)]
            bad = ", ".join(f"{n} {100 * f:.2g}% of frames" for n, f in zip(names, out) if f > 0)
            warnings.warn(f"reference frames outside the body's joint ranges ({bad}): those "
                          "poses cannot be reached; register the keypoints to this body "
                          "(neuroimit.stac) or check the joint order", stacklevel=2)
    Tm = max(c.n_frames for c in cs)
    C = len(cs)
    K = len(spec.site_ids)
    tab = {k: np.zeros((C, Tm) + s) for k, s in dict(
        qpos=(spec.nq,), qvel=(spec.nv,), kp=(K, 3), mlen=(spec.nu,), mvel=(spec.nu,),
        mfrc=(spec.nu,)).items()}
    for i, c in enumerate(cs):
        o = reference_observables(spec, c.qpos, c.qvel)
        pad = lambda x: np.concatenate([x, np.repeat(x[-1:], Tm - len(x), 0)], 0)  # noqa: E731
        tab["qpos"][i] = pad(c.qpos)
        tab["qvel"][i] = pad(c.qvel)
        tab["kp"][i] = pad(o.kp)
        tab["mlen"][i] = pad(o.mlen)
        tab["mvel"][i] = pad(o.mvel)
        tab["mfrc"][i] = pad(o.mfrc)
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return EnvParams(f(tab["qpos"]), f(tab["qvel"]), f(tab["kp"]), f(tab["mlen"]),
                     f(tab["mvel"]), f(tab["mfrc"]),
                     jnp.asarray([c.n_frames for c in cs], jnp.int32), f(spec.peak_force))


def reset_to(params: EnvParams, clip, frame, key, na: int) -> EnvState:
    """States on the reference at (clip (N,), frame (N,)), activation 0."""
    n = clip.shape[0]
    g = lambda tab: tab[clip, frame]  # noqa: E731
    nu = params.ref_mlen.shape[-1]
    nv = params.ref_qvel.shape[-1]
    z = jnp.zeros((n,), jnp.float32)
    return EnvState(g(params.ref_qpos), g(params.ref_qvel), jnp.zeros((n, na), jnp.float32),
                    g(params.ref_kp), g(params.ref_mlen), g(params.ref_mvel),
                    g(params.ref_mfrc), clip.astype(jnp.int32), frame.astype(jnp.int32),
                    jnp.zeros((n,), jnp.int32), jnp.zeros((n, nu), jnp.float32),
                    jnp.zeros((n, nv), jnp.float32), z, key)


def _random_starts(params: EnvParams, keys, min_steps: int, first_frame_prob: float = 0.0):
    def one(k):
        k1, k2, k3 = jax.random.split(k, 3)
        c = jax.random.randint(k1, (), 0, params.lengths.shape[0])
        hi = jnp.maximum(params.lengths[c] - 1 - min_steps, 1)
        f = jax.random.randint(k2, (), 0, hi)
        # evaluation tracks whole clips from their first frame, a start (often mid-movement,
        # activations at 0) that uniform starts would visit only 1 time in ~hi
        f = jnp.where(jax.random.uniform(k3) < first_frame_prob, 0, f)
        return c, f
    return jax.vmap(one)(keys)


def reset(params: EnvParams, key, n: int, na: int, cfg: EnvConfig) -> EnvState:
    """n fresh episodes: random clip, random start frame leaving >= min_steps frames (the
    first frame with probability ``cfg.first_frame_prob``)."""
    keys = jax.random.split(key, n)
    sub = jax.vmap(lambda k: jax.random.split(k))(keys)
    clip, frame = _random_starts(params, sub[:, 0], cfg.min_steps, cfg.first_frame_prob)
    return reset_to(params, clip, frame, sub[:, 1], na)


def observe(params: EnvParams, state: EnvState, cfg: EnvConfig) -> jnp.ndarray:
    """(N, obs_dim) float32 observation (see module docstring)."""
    n = state.qpos.shape[0]
    last = params.lengths[state.clip] - 1
    ks = jnp.arange(1, cfg.n_future + 1)
    idx = jnp.minimum(state.frame[:, None] + ks[None, :], last[:, None])  # (N, K)
    rq = params.ref_qpos[state.clip[:, None], idx] - state.qpos[:, None, :]
    rk = params.ref_kp[state.clip[:, None], idx] - state.kp[:, None, :, :]
    return jnp.concatenate([rq.reshape(n, -1), rk.reshape(n, -1), state.qpos, state.qvel,
                            state.act, state.mlen, state.mvel, state.mfrc], axis=-1)


def step(params: EnvParams, state: EnvState, u, physics: Callable[..., PhysOut],
         cfg: EnvConfig, control_dt: float, *, auto_reset: bool = True) -> StepOut:
    """Apply excitations ``u`` (N, nu) (clipped to [0, 1]) for one control step.

    Non-finite physics ends the episode with reward 0 (never raises); the returned state is
    then a fresh reset (or, with ``auto_reset=False``, the previous state frozen).
    """
    rc = cfg.rewards
    u = jnp.clip(jnp.nan_to_num(u, nan=0.0), 0.0, 1.0)
    out = physics(state.qpos, state.qvel, state.act, u)
    finite = jnp.ones(u.shape[0], bool)
    for x in out:
        finite &= jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=-1)
        finite &= jnp.all(jnp.abs(x.reshape(x.shape[0], -1)) < 1e8, axis=-1)
    clean = lambda new, old: jnp.where(  # noqa: E731
        finite.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
    out = PhysOut(*(clean(n_, o_) for n_, o_ in zip(out, (
        state.qpos, state.qvel, state.act, state.kp, state.mlen, state.mvel, state.mfrc))))
    frame = state.frame + 1
    last = params.lengths[state.clip] - 1
    frame_c = jnp.minimum(frame, last)
    rq = params.ref_qpos[state.clip, frame_c]
    rv = params.ref_qvel[state.clip, frame_c]
    rk = params.ref_kp[state.clip, frame_c]
    track = tracking_terms(out.qpos, out.qvel, out.kp, rq, rv, rk, rc)
    qacc = (out.qvel - state.qvel) / control_dt
    pen = penalty_terms(out.act, u, state.prev_u, out.mfrc, out.mvel, params.peak_force,
                        out.qvel, qacc, state.prev_qacc, rc)
    reward = jnp.where(finite, total_reward(track, pen, rc), 0.0)
    joint_err = jnp.sqrt(jnp.mean(jnp.square(out.qpos - rq), -1))
    kp_err = jnp.mean(jnp.linalg.norm(out.kp - rk, axis=-1), -1)
    term = (~finite) | (joint_err > cfg.term_joint) | (kp_err > cfg.term_keypoint)
    trunc = (frame >= last) & ~term
    done = term | trunc
    keys = jax.vmap(lambda k: jax.random.split(k))(state.key)
    stepped = EnvState(out.qpos, out.qvel, out.act, out.kp, out.mlen, out.mvel, out.mfrc,
                       state.clip, frame, state.steps + 1, u,
                       jnp.where(finite[:, None], qacc, 0.0),
                       state.ep_return + reward, keys[:, 0])
    final_obs = observe(params, stepped, cfg)
    info = dict(track, **{f"pen_{k}": v for k, v in pen.items()})
    info.update(joint_err=joint_err, kp_err=kp_err, nonfinite=~finite,
                ep_return=stepped.ep_return, ep_len=stepped.steps, done=done,
                effort=jnp.mean(jnp.square(out.act), -1))
    if auto_reset:
        clip, fr = _random_starts(params, keys[:, 1], cfg.min_steps, cfg.first_frame_prob)
        fresh = reset_to(params, clip, fr, keys[:, 0], state.act.shape[-1])
        new = jax.tree_util.tree_map(
            lambda a, b: jnp.where(done.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
            fresh, stepped)
    else:
        new = jax.tree_util.tree_map(
            lambda a, b: jnp.where(done.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
            state, stepped)
    return StepOut(new, reward, term, trunc, final_obs, info)
