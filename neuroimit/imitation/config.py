"""Configuration dataclasses for the imitation environment and PPO trainer.

Defaults follow the public track-mjx design where it is documented (PPO with GAE lambda
0.95, gamma 0.95, physics timestep 1.25 ms; see docs/imitation.md) and are scaled down so
that a policy trains on a 2-core CPU.

>>> cfg = TrainConfig(preset="energy+control")
>>> cfg.env.rewards.energy > 0 and cfg.env.rewards.ctrl > 0
True
>>> TrainConfig.demo().total_steps < TrainConfig().total_steps
True
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError

__all__ = ["RewardConfig", "EnvConfig", "TrainConfig", "PRESETS", "apply_preset"]


@dataclass(frozen=True)
class RewardConfig:
    """Reward weights. Tracking terms are ``w * exp(-k * err2)``; penalties are subtracted.

    Tracking errors: ``err2`` is the sum over joints of squared angle error (rad^2), over
    joints of squared velocity error ((rad/s)^2), and over keypoints of squared distance (m^2).
    Penalties are means over muscles (so weights do not depend on the muscle count).
    """
    w_joint: float = 1.0
    k_joint: float = 30.0            # 0.1 rad on each of 4 joints -> exp(-1.2)
    w_joint_vel: float = 0.25
    k_joint_vel: float = 0.005       # 10 rad/s on each of 4 joints -> exp(-2)
    w_keypoint: float = 1.0
    k_keypoint: float = 1.0e5        # 1 mm on each of 4 keypoints -> exp(-0.4)
    alive: float = 0.0               # constant per-step bonus
    # constraint terms (the paper's experiment); all off in preset "none"
    energy: float = 0.0              # weight of the energy term
    energy_kind: str = "activation"  # "activation": mean a^2; "metabolic": mean a*|F v|/(F0 v_ref)
    metabolic_v_ref: float = 0.1     # m/s, scales fibre power to ~1
    ctrl: float = 0.0                # weight of mean u^2
    ctrl_change: float = 0.0         # weight of mean (u - u_prev)^2
    velocity: float = 0.0            # weight of mean qvel^2 / vel_scale^2
    vel_scale: float = 10.0          # rad/s
    jerk: float = 0.0                # weight of mean (qacc - qacc_prev)^2 / jerk_scale^2
    jerk_scale: float = 1.0e3        # rad/s^2 per control step


#: the constraint experiment's named variants (weights of energy / control terms)
PRESETS: dict[str, dict[str, float]] = {
    "none": dict(energy=0.0, ctrl=0.0, ctrl_change=0.0),
    "energy": dict(energy=0.2, ctrl=0.0, ctrl_change=0.0),
    "control": dict(energy=0.0, ctrl=0.1, ctrl_change=0.5),
    "energy+control": dict(energy=0.2, ctrl=0.1, ctrl_change=0.5),
}


def apply_preset(rewards: RewardConfig, preset: str) -> RewardConfig:
    """Return ``rewards`` with the constraint weights of ``preset`` (see :data:`PRESETS`)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}", field="preset",
                          expected=" | ".join(PRESETS))
    return replace(rewards, **PRESETS[preset])


@dataclass(frozen=True)
class EnvConfig:
    """Imitation environment settings.

    control_rate: Hz of the policy (physics timestep is the body's, 1.25 ms for the forelimb;
        the number of physics steps per control step is ``round(1 / (control_rate * dt))``).
    n_future: K, the number of future reference frames in the observation.
    min_steps: a random start frame leaves at least this many frames before the clip's end.
    first_frame_prob: probability that a reset starts at the clip's first frame instead of a
        uniform frame; evaluation rolls whole clips out from there (real reach clips start
        mid-movement at up to ~30 rad/s with activations at 0, a start uniform sampling
        rarely visits).
    term_joint: episode ends when the RMS joint-angle error exceeds this (rad).
    term_keypoint: ... or when the mean keypoint distance exceeds this (m).
    """
    control_rate: float = 200.0
    n_future: int = 3
    min_steps: int = 10
    first_frame_prob: float = 0.2
    term_joint: float = 0.5
    term_keypoint: float = 0.006
    rewards: RewardConfig = field(default_factory=RewardConfig)


@dataclass(frozen=True)
class TrainConfig:
    """PPO settings (per iteration: ``n_envs * unroll`` env steps, then ``epochs`` passes of
    ``minibatches`` minibatches). ``total_steps`` counts environment (control) steps.

    policy: "mlp" or "intention" (encoder of reference frames -> latent of size ``latent``,
    decoder [latent, proprioception] -> excitations, KL weight ``kl_weight``).
    backend: "auto" (MJX when JAX sees an accelerator, else the C engine), "cpu" or "mjx".
    """
    preset: str = "none"
    total_steps: int = 2_000_000
    n_envs: int = 256
    unroll: int = 16
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-4
    gamma: float = 0.95
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy: float = 1e-3
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    hidden: tuple[int, ...] = (128, 128)
    policy: str = "intention"
    latent: int = 16
    kl_weight: float = 1e-3
    init_log_std: float = -0.5
    seed: int = 0
    backend: str = "auto"
    checkpoint_every: int = 20        # iterations
    cpu_threads: int = 2
    env: EnvConfig = field(default_factory=EnvConfig)

    def __post_init__(self):
        if isinstance(self.env, dict):  # from dataclasses.asdict / JSON
            env = dict(self.env)
            rw = env.pop("rewards", {})
            object.__setattr__(self, "env", EnvConfig(
                rewards=rw if isinstance(rw, RewardConfig) else RewardConfig(**rw), **env))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}", field="preset",
                              expected=" | ".join(PRESETS))
        if self.policy not in ("mlp", "intention"):
            raise ConfigError(f"unknown policy {self.policy!r}", field="policy",
                              expected="mlp | intention")
        if self.backend not in ("auto", "cpu", "mjx"):
            raise ConfigError(f"unknown backend {self.backend!r}", field="backend",
                              expected="auto | cpu | mjx")
        if (self.n_envs * self.unroll) % self.minibatches:
            raise ConfigError("n_envs * unroll must be divisible by minibatches",
                              field="minibatches")
        # the preset sets the constraint weights unless they were given explicitly
        r = self.env.rewards
        if not any(getattr(r, k) for k in ("energy", "ctrl", "ctrl_change")):
            object.__setattr__(self, "env", replace(self.env,
                                                    rewards=apply_preset(r, self.preset)))

    @property
    def steps_per_iter(self) -> int:
        return self.n_envs * self.unroll

    @property
    def n_iters(self) -> int:
        return max(1, -(-self.total_steps // self.steps_per_iter))

    @classmethod
    def demo(cls, quick: bool = False, **kw) -> "TrainConfig":
        """A small budget (~2-4 min on a 2-core CPU) for the end-to-end demo; ``quick``: a
        few iterations only (tests of the pipeline)."""
        base = dict(total_steps=300_000, n_envs=128, unroll=16, hidden=(64, 64), latent=8,
                    checkpoint_every=25)
        if quick:
            base.update(total_steps=4 * 16 * 8, n_envs=16, unroll=8, epochs=2,
                        minibatches=2, hidden=(16,), latent=4, checkpoint_every=2)
        base.update(kw)
        return cls(**base)

    @classmethod
    def fast_cpu(cls, **kw) -> "TrainConfig":
        """Settings for throughput on a CPU with the C engine: control at 400 Hz (2 physics
        steps of 1.25 ms per control step instead of 4), 512 environments, a 64x64 network
        and 2 epochs per batch (the SGD is most of the cost on a CPU). Tracking quality and
        throughput of this and of the default settings: docs/benchmarks.md.

        >>> TrainConfig.fast_cpu().env.control_rate
        400.0
        """
        base = dict(n_envs=512, hidden=(64, 64), epochs=2, lr=5e-4,
                    env=EnvConfig(control_rate=400.0))
        base.update(kw)
        return cls(**base)

    @classmethod
    def tiny(cls, **kw) -> "TrainConfig":
        """Tests: a few iterations of a very small network."""
        base = dict(total_steps=8 * 8 * 4, n_envs=8, unroll=8, epochs=2, minibatches=2,
                    hidden=(16,), latent=4, checkpoint_every=2)
        base.update(kw)
        return cls(**base)

    def with_weights(self, *, energy: float | None = None, ctrl: float | None = None,
                     ctrl_change: float | None = None) -> "TrainConfig":
        """Override constraint weights on top of the preset."""
        r = apply_preset(self.env.rewards, self.preset)
        upd = {k: v for k, v in dict(energy=energy, ctrl=ctrl, ctrl_change=ctrl_change).items()
               if v is not None}
        return replace(self, env=replace(self.env, rewards=replace(r, **upd)))

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        env = dict(d.pop("env", {}))
        rewards = RewardConfig(**env.pop("rewards", {}))
        envc = EnvConfig(rewards=rewards, **env)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        try:
            return cls(env=envc, **d)
        except TypeError as exc:
            raise ConfigError(str(exc), field="TrainConfig") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
