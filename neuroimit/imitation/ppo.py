"""PPO in JAX: one jitted program per training iteration (rollout + GAE + SGD epochs).

The iteration is written for one device's share of the environments and wrapped in
``jax.shard_map`` over a 1-D mesh of all local devices (axis ``"d"``): environments are split
across devices, parameters are replicated and gradients / statistics are averaged with
``lax.pmean`` / ``lax.psum``. With one device this is plain data-parallel-of-one; with several
(GPUs, or ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on CPU) nothing changes in
the calling code. Several hosts: call ``jax.distributed.initialize()`` first and pass
``devices=jax.devices()`` (see docs/imitation.md).

Everything random flows from ``TrainState.key`` and the per-environment keys in the
environment state, so a run is deterministic on a given machine and resumes exactly from a
checkpoint of the TrainState.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ..errors import ConfigError
from .backends import make_physics, make_spec, resolve_backend
from .clips import ReferenceClip
from .config import TrainConfig
from .env import EnvParams, EnvState, make_env_params, obs_layout, observe, reset
from .env import step as env_step
from .networks import Critic, PolicyNet, gaussian_entropy, gaussian_logp

__all__ = ["Normalizer", "TrainState", "Trainer"]

AXIS = "d"


class Normalizer(NamedTuple):
    mean: jnp.ndarray   # (D,)
    var: jnp.ndarray    # (D,)
    count: jnp.ndarray  # ()


def normalize(n: Normalizer, x):
    return jnp.clip((x - n.mean) / jnp.sqrt(n.var + 1e-10), -10.0, 10.0)


def _combine(n: Normalizer, bsum, bsq, bcount) -> Normalizer:
    """Chan et al. parallel variance update from batch sums."""
    bmean = bsum / bcount
    bvar = jnp.maximum(bsq / bcount - bmean ** 2, 0.0)
    tot = n.count + bcount
    delta = bmean - n.mean
    mean = n.mean + delta * bcount / tot
    m2 = n.var * n.count + bvar * bcount + delta ** 2 * n.count * bcount / tot
    return Normalizer(mean, m2 / tot, tot)


class TrainState(NamedTuple):
    params: dict
    opt_state: object
    norm: Normalizer
    env: EnvState
    key: jnp.ndarray
    iteration: jnp.ndarray


class Trainer:
    """Builds the environment, networks and the jitted iteration for a body and clips.

    >>> from neuroimit.imitation.toy import toy_arm
    >>> from neuroimit.imitation.clips import clip_from_arrays
    >>> import numpy as np
    >>> clip = clip_from_arrays(np.zeros((40, 2)), rate=200.0)
    >>> tr = Trainer(toy_arm(), [clip], TrainConfig.tiny(backend="cpu"))
    >>> ts = tr.init()
    >>> ts, metrics = tr.iterate(ts)
    >>> int(ts.iteration)
    1
    """

    def __init__(self, body, clips: Sequence[ReferenceClip], cfg: TrainConfig,
                 devices=None, physics=None):
        self.cfg = cfg
        self.body = body
        self.backend = resolve_backend(cfg.backend)
        self.spec = make_spec(body, cfg.env.control_rate)
        self.physics = physics or make_physics(self.spec, self.backend, cfg.cpu_threads)
        self.env_params = make_env_params(self.spec, clips, cfg.env)
        self.layout = obs_layout(self.spec, cfg.env)
        self.devices = list(devices) if devices is not None else jax.local_devices()
        nd = len(self.devices)
        if cfg.n_envs % nd:
            raise ConfigError(f"n_envs={cfg.n_envs} is not divisible by {nd} devices",
                              field="n_envs", expected=f"a multiple of {nd}")
        if (cfg.n_envs // nd * cfg.unroll) % cfg.minibatches:
            raise ConfigError("per-device batch not divisible by minibatches",
                              field="minibatches")
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.policy = PolicyNet(kind=cfg.policy, hidden=tuple(cfg.hidden), n_act=self.spec.nu,
                                latent=cfg.latent, n_ref=self.layout.n_ref,
                                init_log_std=cfg.init_log_std)
        self.critic = Critic(hidden=tuple(cfg.hidden))
        self.tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                              optax.adam(cfg.lr))
        self.latent_dim = cfg.latent if cfg.policy == "intention" else cfg.hidden[-1]
        self.eps_dim = cfg.latent
        self._iterate = None

    # -- state ------------------------------------------------------------------------------
    def init(self, seed: int | None = None) -> TrainState:
        cfg = self.cfg
        key = jax.random.PRNGKey(cfg.seed if seed is None else seed)
        k_pi, k_v, k_env, key = jax.random.split(key, 4)
        obs0 = jnp.zeros((1, self.layout.size))
        params = {"pi": self.policy.init(k_pi, obs0, jnp.zeros((1, self.eps_dim))),
                  "v": self.critic.init(k_v, obs0)}
        es = reset(self.env_params, k_env, cfg.n_envs, self.spec.na, cfg.env)
        o = observe(self.env_params, es, cfg.env)
        norm = Normalizer(jnp.mean(o, 0), jnp.var(o, 0),
                          jnp.asarray(o.shape[0], jnp.float32))
        ts = TrainState(params, self.tx.init(params), norm, es, key, jnp.asarray(0, jnp.int32))
        return self.place(ts)

    def shardings(self, ts: TrainState):
        rep = NamedSharding(self.mesh, P())
        shard = NamedSharding(self.mesh, P(AXIS))
        return TrainState(*(jax.tree_util.tree_map(lambda _: shard if name == "env" else rep, x)
                            for name, x in zip(TrainState._fields, ts)))

    def place(self, ts: TrainState) -> TrainState:
        return jax.device_put(ts, self.shardings(ts))

    # -- the jitted iteration ---------------------------------------------------------------
    def iterate(self, ts: TrainState):
        """One PPO iteration (jitted on first call). Returns (new state, metrics dict)."""
        if self._iterate is None:
            specs = TrainState(P(), P(), P(), P(AXIS), P(), P())
            f = jax.shard_map(self._iteration_local, mesh=self.mesh,
                              in_specs=(P(), specs), out_specs=(specs, P()), check_vma=False)
            rep = NamedSharding(self.mesh, P())
            # fixed output shardings: the next call hits the compilation cache
            self._iterate = jax.jit(f, out_shardings=(self.shardings(ts), rep))
        return self._iterate(self.env_params, ts)

    def policy_apply(self, params, norm: Normalizer, obs, eps):
        return self.policy.apply(params["pi"], normalize(norm, obs), eps)

    def _iteration_local(self, ep: EnvParams, ts: TrainState):
        cfg, ecfg = self.cfg, self.cfg.env
        key, k_iter = jax.random.split(ts.key)
        k_local = jax.random.fold_in(k_iter, jax.lax.axis_index(AXIS))
        k_roll, k_sgd = jax.random.split(k_local)
        n = ts.env.qpos.shape[0]
        cdt = self.spec.control_dt

        def roll(carry, _):
            es, k = carry
            k, k1, k2 = jax.random.split(k, 3)
            obs = observe(ep, es, ecfg)
            eps = jax.random.normal(k1, (n, self.eps_dim))
            mean, log_std, _, _ = self.policy_apply(ts.params, ts.norm, obs, eps)
            x = mean + jnp.exp(log_std) * jax.random.normal(k2, mean.shape)
            logp = gaussian_logp(x, mean, log_std)
            so = env_step(ep, es, jax.nn.sigmoid(x), self.physics, ecfg, cdt)
            tr = dict(obs=obs, x=x, eps=eps, logp=logp, reward=so.reward, term=so.term,
                      trunc=so.trunc, final_obs=so.final_obs, joint_err=so.info["joint_err"],
                      kp_err=so.info["kp_err"], effort=so.info["effort"],
                      ep_return=so.info["ep_return"], ep_len=so.info["ep_len"],
                      nonfinite=so.info["nonfinite"])
            return (so.state, k), tr

        (es, _), tr = jax.lax.scan(roll, (ts.env, k_roll), None, length=cfg.unroll)
        T = cfg.unroll
        vfn = lambda o: self.critic.apply(ts.params["v"], normalize(ts.norm, o))  # noqa: E731
        last_obs = observe(ep, es, ecfg)
        v = vfn(tr["obs"])                                     # (T, n)
        v_last = vfn(last_obs)
        v_final = vfn(tr["final_obs"])
        v_next = jnp.concatenate([v[1:], v_last[None]], 0)
        v_next = jnp.where(tr["trunc"], v_final, v_next)
        notterm = 1.0 - tr["term"].astype(jnp.float32)
        notdone = 1.0 - (tr["term"] | tr["trunc"]).astype(jnp.float32)
        delta = tr["reward"] + cfg.gamma * notterm * v_next - v

        def gae(a, xs):
            d, nd = xs
            a = d + cfg.gamma * cfg.gae_lambda * nd * a
            return a, a
        _, adv = jax.lax.scan(gae, jnp.zeros(n), (delta, notdone), reverse=True)
        target = adv + v

        B = T * n
        flat = lambda x: x.reshape((B,) + x.shape[2:])  # noqa: E731
        data = dict(obs=flat(tr["obs"]), x=flat(tr["x"]), eps=flat(tr["eps"]),
                    logp=flat(tr["logp"]), adv=flat(adv), target=flat(target))
        M = cfg.minibatches

        def loss_fn(params, mb):
            on = normalize(ts.norm, mb["obs"])
            mean, log_std, kl, _ = self.policy.apply(params["pi"], on, mb["eps"])
            logp = gaussian_logp(mb["x"], mean, log_std)
            ratio = jnp.exp(logp - mb["logp"])
            a = mb["adv"]
            a = (a - a.mean()) / (a.std() + 1e-8)
            pg = -jnp.mean(jnp.minimum(ratio * a, jnp.clip(ratio, 1 - cfg.clip,
                                                            1 + cfg.clip) * a))
            vl = 0.5 * jnp.mean(jnp.square(self.critic.apply(params["v"], on) - mb["target"]))
            ent = gaussian_entropy(log_std)
            klm = jnp.mean(kl)
            loss = pg + cfg.value_coef * vl - cfg.entropy * ent + cfg.kl_weight * klm
            return loss, dict(loss_policy=pg, loss_value=vl, entropy=ent, kl=klm,
                              approx_kl=jnp.mean(mb["logp"] - logp))

        def sgd(carry, mb):
            params, opt = carry
            grads, aux = jax.grad(loss_fn, has_aux=True)(params, mb)
            grads = jax.lax.pmean(grads, AXIS)
            upd, opt = self.tx.update(grads, opt, params)
            return (optax.apply_updates(params, upd), opt), aux

        def epoch(carry, k):
            perm = jax.random.permutation(k, B)
            mbs = jax.tree_util.tree_map(lambda x: x[perm].reshape((M, B // M) + x.shape[1:]),
                                         data)
            return jax.lax.scan(sgd, carry, mbs)

        (params, opt), aux = jax.lax.scan(epoch, (ts.params, ts.opt_state),
                                          jax.random.split(k_sgd, cfg.epochs))
        # observation statistics after the update (the update used the rollout's statistics)
        o = data["obs"]
        s = jax.lax.psum(jnp.sum(o, 0), AXIS)
        sq = jax.lax.psum(jnp.sum(o * o, 0), AXIS)
        cnt = jax.lax.psum(jnp.asarray(B, jnp.float32), AXIS)
        norm = _combine(ts.norm, s, sq, cnt)

        done = (tr["term"] | tr["trunc"]).astype(jnp.float32)
        nd = jax.lax.psum(done.sum(), AXIS)
        pm = lambda x: jax.lax.pmean(jnp.mean(x), AXIS)  # noqa: E731
        metrics = dict(
            reward=pm(tr["reward"]),
            episode_return=jax.lax.psum((tr["ep_return"] * done).sum(), AXIS)
            / jnp.maximum(nd, 1.0),
            episode_length=jax.lax.psum((tr["ep_len"] * done).sum(), AXIS)
            / jnp.maximum(nd, 1.0),
            episodes=nd,
            terminated=pm(tr["term"].astype(jnp.float32)),
            nonfinite=pm(tr["nonfinite"].astype(jnp.float32)),
            joint_err=pm(tr["joint_err"]), kp_err=pm(tr["kp_err"]), effort=pm(tr["effort"]),
            value=pm(v),
            **{k: jax.lax.pmean(jnp.mean(x), AXIS) for k, x in aux.items()})
        new = TrainState(params, opt, norm, es, key, ts.iteration + 1)
        return new, metrics
