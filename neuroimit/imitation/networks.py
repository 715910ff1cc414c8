"""Policy and critic networks (flax linen).

* ``mlp`` policy: MLP(observation) -> excitation means (pre-sigmoid); its "latent" is the
  last hidden layer.
* ``intention`` policy (the paper's intention network): an encoder of the reference part of
  the observation into a Gaussian latent (mean, log-variance) of size ``latent``, a decoder
  from [latent sample, proprioception] to excitation means, and a KL(q(z|ref) || N(0, I))
  regulariser. The latent noise ``eps`` is an input, so PPO evaluates old and new policies
  on the same sample (a reparameterised policy conditioned on eps).
* critic: MLP(observation) -> value (separate parameters).

Actions: pre-activations ``x ~ N(mean, exp(log_std))``, excitation ``u = sigmoid(x)`` in
[0, 1]; log-probabilities are of ``x`` (the squashing Jacobian cancels in PPO's ratio).

>>> import jax, jax.numpy as jnp
>>> pol = PolicyNet(kind="intention", hidden=(8,), n_act=4, latent=2, n_ref=6)
>>> p = pol.init(jax.random.PRNGKey(0), jnp.zeros((1, 10)), jnp.zeros((1, 2)))
>>> [a.shape for a in pol.apply(p, jnp.zeros((3, 10)), jnp.zeros((3, 2)))]
[(3, 4), (4,), (3,), (3, 2)]
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["MLP", "PolicyNet", "Critic", "gaussian_logp", "gaussian_entropy"]


class MLP(nn.Module):
    hidden: Sequence[int]
    out: int
    final_scale: float = 1.0

    @nn.compact
    def __call__(self, x, return_hidden: bool = False):
        h = x
        for w in self.hidden:
            h = nn.swish(nn.Dense(w, kernel_init=nn.initializers.lecun_uniform())(h))
        y = nn.Dense(self.out, kernel_init=nn.initializers.variance_scaling(
            self.final_scale, "fan_in", "uniform"))(h)
        return (y, h) if return_hidden else y


class PolicyNet(nn.Module):
    """Returns (mean (B, n_act), log_std (n_act,), kl (B,), latent (B, L))."""
    kind: str
    hidden: Sequence[int]
    n_act: int
    latent: int
    n_ref: int
    init_log_std: float = -0.5

    @nn.compact
    def __call__(self, obs, eps):
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std),
                             (self.n_act,))
        if self.kind == "mlp":
            mean, h = MLP(self.hidden, self.n_act, 0.01, name="mlp")(obs, return_hidden=True)
            return mean, log_std, jnp.zeros(obs.shape[:-1]), h
        ref, prop = obs[..., :self.n_ref], obs[..., self.n_ref:]
        enc = MLP(self.hidden, 2 * self.latent, 0.1, name="encoder")(ref)
        mu, logvar = enc[..., :self.latent], jnp.clip(enc[..., self.latent:], -8.0, 4.0)
        z = mu + jnp.exp(0.5 * logvar) * eps
        kl = 0.5 * jnp.sum(jnp.exp(logvar) + jnp.square(mu) - 1.0 - logvar, axis=-1)
        mean = MLP(self.hidden, self.n_act, 0.01, name="decoder")(
            jnp.concatenate([z, prop], axis=-1))
        return mean, log_std, kl, mu


class Critic(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs):
        return MLP(self.hidden, 1, 1.0, name="mlp")(obs)[..., 0]


def gaussian_logp(x, mean, log_std):
    """Sum over the last axis of the diagonal Gaussian log-density."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z * z - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_entropy(log_std):
    return jnp.sum(log_std + 0.5 * (1.0 + jnp.log(2 * jnp.pi)), axis=-1)
