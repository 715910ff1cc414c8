"""Deterministic policy rollouts on reference clips: the :class:`Rollout` object and
:func:`evaluate`.

The policy acts with its mean excitation (and, for the intention network, the latent mean),
each clip starts on its first reference frame, and episodes do not end on tracking error
(only non-finite physics freezes a rollout), so every clip is simulated to its end.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DataError
from .clips import ReferenceClip, resample_clip
from .env import make_env_params, observe, reset_to, step

__all__ = ["Rollout", "evaluate", "rollout_policy"]

_SERIES = ("time", "qpos", "ref_qpos", "keypoints", "ref_keypoints", "excitation",
           "activation", "force", "latent")


@dataclass
class Rollout:
    """Simulated clips. Per-clip lists (clip c has T_c frames at the control rate):

    time (T_c,) s; qpos / ref_qpos (T_c, nq) rad; keypoints / ref_keypoints (T_c, K, 3) m;
    excitation (T_c, nu) and activation (T_c, na) in [0, 1]; force (T_c, nu) N (MuJoCo sign:
    negative pulls); latent (T_c, L) policy latent (intention-network mean, or last hidden
    layer of an MLP policy). ``errors``: per-clip arrays (C,): joint_err_deg (mean |angle
    error| over joints and frames), joint_rmse_rad, keypoint_err_m (mean distance over
    keypoints and frames), paw_err_m, effort (mean activation^2), excitation_sq (mean u^2),
    nonfinite (1 if the physics diverged).
    """
    clip_names: list[str]
    held_out: np.ndarray
    time: list
    qpos: list
    ref_qpos: list
    keypoints: list
    ref_keypoints: list
    excitation: list
    activation: list
    force: list
    latent: list
    qpos_names: list[str]
    muscle_names: list[str]
    keypoint_names: list[str]
    errors: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def clip_errors(self) -> dict:
        """Alias of :attr:`errors` (per-clip arrays)."""
        return self.errors

    @property
    def n_clips(self) -> int:
        return len(self.clip_names)

    def summary(self) -> dict:
        """Means of the per-clip errors over training and held-out clips."""
        out = {}
        for tag, mask in (("train", ~self.held_out), ("held_out", self.held_out)):
            if mask.any():
                for k, v in self.errors.items():
                    out[f"{tag}_{k}"] = float(np.mean(np.asarray(v)[mask]))
        return out

    # -- I/O -----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """HDF5 (atomic): /clip_XXX/<series>, /errors/<name>, names as attributes."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name, dir=path.parent)
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as h:
                h.attrs["format"] = "neuroimit.rollout/1"
                for k in ("qpos_names", "muscle_names", "keypoint_names", "clip_names"):
                    h.attrs[k] = np.asarray(getattr(self, k), dtype="S")
                h.attrs["held_out"] = np.asarray(self.held_out, dtype=bool)
                for k, v in self.meta.items():
                    h.attrs[f"meta_{k}"] = v
                for c in range(self.n_clips):
                    g = h.create_group(f"clip_{c:03d}")
                    for s in _SERIES:
                        g.create_dataset(s, data=np.asarray(getattr(self, s)[c]))
                e = h.create_group("errors")
                for k, v in self.errors.items():
                    e.create_dataset(k, data=np.asarray(v))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> "Rollout":
        import h5py

        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != "neuroimit.rollout/1":
                raise DataError("not a neuroimit rollout file", file=str(path),
                                field="format", expected="neuroimit.rollout/1")
            dec = lambda k: [x.decode() for x in h.attrs[k]]  # noqa: E731
            names = dec("clip_names")
            series = {s: [np.asarray(h[f"clip_{c:03d}/{s}"]) for c in range(len(names))]
                      for s in _SERIES}
            errors = {k: np.asarray(v) for k, v in h["errors"].items()}
            meta = {k[5:]: v for k, v in h.attrs.items() if k.startswith("meta_")}
            return cls(clip_names=names, held_out=np.asarray(h.attrs["held_out"]),
                       qpos_names=dec("qpos_names"), muscle_names=dec("muscle_names"),
                       keypoint_names=dec("keypoint_names"), errors=errors, meta=meta,
                       **series)

    def errors_csv(self, path) -> Path:
        """Per-clip errors as CSV (atomic)."""
        buf = io.StringIO()
        w = csv.writer(buf)
        keys = list(self.errors)
        w.writerow(["clip", "held_out"] + keys)
        for c in range(self.n_clips):
            w.writerow([self.clip_names[c], int(self.held_out[c])] +
                       [f"{float(self.errors[k][c]):.6g}" for k in keys])
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name, dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
        return path

    def to_nwb(self, nwb_path, out_path=None, **kw) -> Path:
        """Add this rollout as processing module ``imitation_rollout`` of an NWB file
        (through :func:`neuroimit.loaders.export.add_rollout`)."""
        from ..loaders.export import add_rollout
        return add_rollout(nwb_path, self, out_path, **kw)


def rollout_policy(trainer, state, clips: Sequence[ReferenceClip],
                   held_out: Sequence[bool] | None = None) -> Rollout:
    """Deterministic rollouts of ``state``'s policy (a TrainState) on every clip at once."""
    spec, cfg = trainer.spec, trainer.cfg
    ecfg = replace(cfg.env, term_joint=float("inf"), term_keypoint=float("inf"))
    rate = 1.0 / spec.control_dt
    cs = [resample_clip(c, rate) for c in clips]
    ep = make_env_params(spec, cs, ecfg)
    C = len(cs)
    Tm = int(max(c.n_frames for c in cs))
    params, norm = jax.device_get(state.params), jax.device_get(state.norm)

    def run(ep):
        s0 = reset_to(ep, jnp.arange(C), jnp.zeros(C, jnp.int32),
                      jnp.zeros((C, 2), jnp.uint32), spec.na)

        def body(s, _):
            obs = observe(ep, s, ecfg)
            mean, _, _, lat = trainer.policy_apply(params, norm, obs,
                                                   jnp.zeros((C, trainer.eps_dim)))
            u = jax.nn.sigmoid(mean)
            so = step(ep, s, u, trainer.physics, ecfg, spec.control_dt, auto_reset=False)
            n = so.state
            rec = dict(qpos=n.qpos, kp=n.kp, act=n.act, force=n.mfrc, u=u, lat=lat,
                       nonfinite=so.info["nonfinite"])
            return n, rec

        _, rec = jax.lax.scan(body, s0, None, length=Tm - 1)
        return s0, rec

    s0, rec = jax.device_get(jax.jit(run)(ep))
    rec = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in rec.items()}   # (C, T-1, ...)
    held = np.zeros(C, bool) if held_out is None else np.asarray(held_out, bool)
    out = {s: [] for s in _SERIES}
    err = {k: np.zeros(C) for k in ("joint_err_deg", "joint_rmse_rad", "keypoint_err_m",
                                    "paw_err_m", "effort", "excitation_sq", "nonfinite")}
    names = list(spec.site_names)
    paw = next((i for i, k in enumerate(names) if k.lower() in ("paw", "hand")), len(names) - 1)
    ref_kp_all = np.asarray(ep.ref_kp)
    for c, clip in enumerate(cs):
        T = clip.n_frames
        qpos = np.concatenate([np.asarray(s0.qpos[c])[None], rec["qpos"][c, :T - 1]], 0)
        kp = np.concatenate([np.asarray(s0.kp[c])[None], rec["kp"][c, :T - 1]], 0)
        act = np.concatenate([np.asarray(s0.act[c])[None], rec["act"][c, :T - 1]], 0)
        frc = np.concatenate([np.asarray(s0.mfrc[c])[None], rec["force"][c, :T - 1]], 0)
        u = np.concatenate([rec["u"][c, :T - 1], rec["u"][c, T - 2:T - 1]], 0)
        lat = np.concatenate([rec["lat"][c, :T - 1], rec["lat"][c, T - 2:T - 1]], 0)
        rkp = ref_kp_all[c, :T]
        out["time"].append(clip.time)
        out["qpos"].append(qpos)
        out["ref_qpos"].append(clip.qpos)
        out["keypoints"].append(kp)
        out["ref_keypoints"].append(rkp)
        out["excitation"].append(u)
        out["activation"].append(act)
        out["force"].append(frc)
        out["latent"].append(lat)
        dq = qpos[1:] - clip.qpos[1:]
        dk = np.linalg.norm(kp[1:] - rkp[1:], axis=-1)
        err["joint_err_deg"][c] = np.degrees(np.mean(np.abs(dq)))
        err["joint_rmse_rad"][c] = np.sqrt(np.mean(dq ** 2))
        err["keypoint_err_m"][c] = np.mean(dk)
        err["paw_err_m"][c] = np.mean(dk[:, paw])
        err["effort"][c] = np.mean(act ** 2)
        err["excitation_sq"][c] = np.mean(u ** 2)
        err["nonfinite"][c] = float(rec["nonfinite"][c, :T - 1].any())
    body = trainer.body
    return Rollout(clip_names=[c.name or f"clip{i:03d}" for i, c in enumerate(cs)],
                   held_out=held, qpos_names=list(getattr(body, "qpos_names", ())),
                   muscle_names=list(body.muscle_names), keypoint_names=names, errors=err,
                   meta=dict(control_rate=rate, preset=cfg.preset, policy=cfg.policy,
                             backend=trainer.backend), **out)


def evaluate(source, clips: Sequence[ReferenceClip] | None = None, *,
             held_out: Sequence[ReferenceClip] | None = None, save: bool = True,
             nwb=None, backend: str | None = None, body=None,
             holdout: Sequence[int] | None = None) -> Rollout:
    """Deterministic rollouts of a trained policy on every clip (+ held-out clips).

    source: a run folder (newest checkpoint) or a :class:`~.train.TrainResult`.
    clips / held_out: default to the run's own training and held-out clips.
    holdout: alternatively, indices into ``clips`` of the held-out ones.
    body: unused when the run folder has its body (kept for API symmetry with train).
    save: write ``rollout.h5`` and ``evaluation.csv`` into ``RUN_DIR/imitation``.
    nwb: an NWB file to receive the rollout as processing module ``imitation_rollout``
    (written next to it as ``<name>_rollout.nwb`` when the loaders' export is available).
    """
    from .checkpoint import latest_checkpoint, load_checkpoint
    from .ppo import Trainer
    from .train import TrainResult, imitation_dir, load_run

    if isinstance(source, TrainResult):
        trainer, state, run_dir = source.trainer, source.state, source.run_dir
        if clips is None:
            from .train import load_clips
            clips, h = load_clips(imitation_dir(run_dir) / "clips.npz")
            held_out = h if held_out is None else held_out
    else:
        run_dir = Path(source)
        cfg, body, tclips, hclips = load_run(run_dir)
        if backend is not None:
            cfg = replace(cfg, backend=backend)
        latest = latest_checkpoint(imitation_dir(run_dir) / "checkpoints")
        if latest is None:
            raise DataError("no checkpoint to evaluate", file=str(run_dir),
                            field="imitation/checkpoints", expected="train RUN_DIR first")
        trainer = Trainer(body, tclips, cfg, devices=jax.local_devices()[:1])
        template = jax.device_get(trainer.init())
        state = load_checkpoint(latest[1], template)
        if clips is None:
            clips, held_out = tclips, (hclips if held_out is None else held_out)
    if holdout is not None:
        hs = {int(i) for i in holdout}
        flags = [i in hs for i in range(len(clips))]
        all_clips = list(clips)
    else:
        held_out = list(held_out or [])
        all_clips = list(clips) + held_out
        flags = [False] * len(clips) + [True] * len(held_out)
    roll = rollout_policy(trainer, state, all_clips, flags)
    if save:
        d = imitation_dir(run_dir)
        roll.save(d / "rollout.h5")
        roll.errors_csv(d / "evaluation.csv")
        if nwb is not None:
            nwb = Path(nwb)
            roll.to_nwb(nwb, nwb.with_name(nwb.stem + "_rollout.nwb"), overwrite=True)
    return roll
