"""Imitation training benchmarks: throughput (CPU / GPU) and tracking quality.

    python benchmarks/train_bench.py throughput [--backend cpu|mjx] [--n-envs N]
    python benchmarks/train_bench.py synth --minutes 30 --preset none     # synthetic reaches
    python benchmarks/train_bench.py real --minutes 30                     # 46 real clips (36/10)

Prints figures and (with --json PATH) writes them as JSON. Throughput counts environment
(control) steps per second of whole PPO iterations (rollout + GAE + SGD), after compilation.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _machine():
    import jax
    return dict(platform=platform.platform(), cpus=os.cpu_count(),
                affinity=len(os.sched_getaffinity(0)), jax_backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()])


def _body():
    from neuroimit.body import load_body
    return load_body("mouse_forelimb")


def _real_root() -> Path:
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "mouse_reach_ik_200hz"
    if not root.is_dir():
        root = Path(os.environ.get("NEUROIMIT_REAL_CLIPS", "shared_data/mouse_reach_ik_200hz"))
    return root


def _real_clips():
    from neuroimit.imitation import load_stac_h5_clips
    return load_stac_h5_clips(_real_root())


def throughput(args):
    import jax
    from neuroimit.imitation import TrainConfig
    from neuroimit.imitation.ppo import Trainer
    body = _body()
    clips = _real_clips()[:8]
    backend = args.backend
    if backend == "mjx" and jax.default_backend() == "cpu":
        print("no GPU: the MJX throughput figure needs an accelerator")
        return {"gpu": "no GPU"}
    cfg = TrainConfig(n_envs=args.n_envs, unroll=args.unroll, epochs=args.epochs,
                      minibatches=args.minibatches, hidden=tuple(args.hidden), latent=16,
                      backend=backend, cpu_threads=args.threads,
                      env=dict(control_rate=args.control_rate))
    tr = Trainer(body, clips, cfg)
    ts = tr.init()
    t0 = time.perf_counter()
    ts, m = tr.iterate(ts)
    jax.block_until_ready(ts)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < args.seconds or n < 3:
        ts, m = tr.iterate(ts)
        jax.block_until_ready(ts.params)
        n += 1
    dt = time.perf_counter() - t0
    sps = n * cfg.steps_per_iter / dt
    # the environment alone (physics + rewards), same batch
    from neuroimit.imitation.env import step
    import jax.numpy as jnp
    f = jax.jit(lambda s: step(tr.env_params, s, jnp.full((cfg.n_envs, tr.spec.nu), 0.3),
                               tr.physics, cfg.env, tr.spec.control_dt).state)
    s = f(ts.env)
    jax.block_until_ready(s)
    t1 = time.perf_counter()
    k = 0
    while time.perf_counter() - t1 < 5 or k < 5:
        s = f(s)
        k += 1
    jax.block_until_ready(s)
    env_sps = k * cfg.n_envs / (time.perf_counter() - t1)
    out = dict(backend=tr.backend, n_envs=cfg.n_envs, unroll=cfg.unroll, epochs=cfg.epochs,
               minibatches=cfg.minibatches, hidden=list(cfg.hidden), muscles=tr.spec.nu,
               control_rate=cfg.env.control_rate, compile_s=compile_s,
               train_steps_per_s=sps, env_only_steps_per_s=env_sps, iterations=n)
    print(f"[{tr.backend}] {cfg.n_envs} envs x {cfg.unroll}: training {sps:,.0f} env-steps/s "
          f"(environment alone {env_sps:,.0f}/s; compile {compile_s:.1f} s)")
    return out


def _train_for(trainer, minutes):
    import jax
    ts = trainer.init()
    t0 = time.perf_counter()
    it = 0
    hist = []
    while time.perf_counter() - t0 < minutes * 60:
        ts, m = trainer.iterate(ts)
        it += 1
        if it % 20 == 0:
            m = {k: float(v) for k, v in jax.device_get(m).items()}
            hist.append(dict(iteration=it, t=time.perf_counter() - t0, **m))
            print(f"  it {it} t {hist[-1]['t']:.0f}s reward {m['reward']:.3f} "
                  f"joint {np.degrees(m['joint_err']):.2f} deg kp {1e3 * m['kp_err']:.2f} mm",
                  flush=True)
    return ts, it, time.perf_counter() - t0, hist


def _quality_cfg(args, preset):
    from neuroimit.imitation import TrainConfig
    return TrainConfig(preset=preset, n_envs=args.n_envs, unroll=args.unroll,
                       epochs=args.epochs, minibatches=args.minibatches,
                       hidden=tuple(args.hidden), backend=args.backend,
                       cpu_threads=args.threads, lr=args.lr, seed=args.seed,
                       env=dict(control_rate=args.control_rate))


def _real_registered(control_rate: float):
    """The 46 real clips' keypoints registered to our forelimb with neuroimit.stac (one
    calibration shared by all clips: same animal, one scaled body). Returns (body, clips,
    registration summary)."""
    import h5py

    from neuroimit.body import load_body
    from neuroimit.imitation import clips_from_registrations
    from neuroimit.session import Session
    from neuroimit.stac import StacConfig, register_many
    root = _real_root()
    files = sorted(root.glob("*.h5"))
    sessions = []
    for f in files:
        with h5py.File(f) as h:
            kp = h["kp_data"][()].reshape(-1, 3, 3).astype(float)
        sessions.append(Session(kp, np.arange(kp.shape[0]) / 200.0,
                                ["Shoulder", "Elbow", "Wrist"]))
    t0 = time.perf_counter()
    regs = register_many(sessions, load_body("mouse_forelimb"),
                         StacConfig(shared_calibration=True))
    for r, f in zip(regs, files):
        r.name = f.stem
    body = regs[0].body()
    info = dict(stac_s=time.perf_counter() - t0,
                stac_err_mm=float(np.mean([r.mean_error_m for r in regs]) * 1e3),
                frames_at_limit=float(np.mean([r.info["frames_at_limit"] for r in regs])),
                segment_scales=dict(regs[0].segment_scales))
    print(f"registered {len(regs)} clips with neuroimit.stac in {info['stac_s']:.1f} s: "
          f"keypoint error {info['stac_err_mm']:.3f} mm, frames at a limit "
          f"{100 * info['frames_at_limit']:.1f}%, scales {info['segment_scales']}", flush=True)
    return body, clips_from_registrations(regs, control_rate=control_rate), info


def real(args):
    from neuroimit.imitation import split_clips
    from neuroimit.imitation.ppo import Trainer
    from neuroimit.imitation.rollout import rollout_policy
    if args.reference == "stac-mjx":   # stac-mjx's own joint angles (another arm's ranges)
        body, clips, reg_info = _body(), _real_clips(), {}
    else:
        body, clips, reg_info = _real_registered(args.control_rate)
    tr_c, ev_c = split_clips(clips, 10, seed=0)
    trainer = Trainer(body, tr_c, _quality_cfg(args, args.preset))
    ts, it, wall, hist = _train_for(trainer, args.minutes)
    roll = rollout_policy(trainer, ts, tr_c + ev_c, [False] * len(tr_c) + [True] * len(ev_c))
    s = roll.summary()
    for tag, mask in (("train", ~roll.held_out), ("held_out", roll.held_out)):
        e = np.asarray(roll.errors["joint_err_deg"])[mask]
        s[f"{tag}_joint_err_deg_median"] = float(np.median(e))
        s[f"{tag}_clips_over_20deg"] = int(np.sum(e > 20))
        s[f"{tag}_joint_err_deg_per_clip"] = [round(float(x), 2) for x in e]
    out = dict(preset=args.preset, reference=args.reference, iterations=it, wall_s=wall,
               env_steps=it * trainer.cfg.steps_per_iter, registration=reg_info, **s,
               history=hist)
    print(f"real clips (36 train / 10 held-out, reference {args.reference}), "
          f"{wall / 60:.1f} min, {out['env_steps']:,} env steps: held-out joint "
          f"{s['held_out_joint_err_deg']:.2f} deg, most distal keypoint "
          f"{1e3 * s['held_out_paw_err_m']:.2f} mm; train joint "
          f"{s['train_joint_err_deg']:.2f} deg, {1e3 * s['train_paw_err_m']:.2f} mm; median "
          f"clip {s['held_out_joint_err_deg_median']:.2f} / {s['train_joint_err_deg_median']:.2f}"
          f" deg, clips over 20 deg {s['held_out_clips_over_20deg']} / "
          f"{s['train_clips_over_20deg']}")
    return out


def synth(args):
    from neuroimit.imitation import clips_from_registrations, split_clips
    from neuroimit.imitation.ppo import Trainer
    from neuroimit.imitation.rollout import rollout_policy
    from neuroimit.synth import SynthConfig, make_session
    sess = make_session(SynthConfig(duration=args.duration, seed=args.seed))
    tr = sess.truth
    t = np.asarray(tr["time"], float)
    qpos = np.asarray(tr["qpos"], float)
    act = np.asarray(tr["activation"], float)
    trials = sess.trials
    wins = [(float(a), float(b)) for a, b in zip(trials["start_time"], trials["stop_time"])]
    reg = SimpleNamespace(qpos=qpos, time=t, qvel=np.asarray(tr["qvel"], float), name="synth")
    clips = clips_from_registrations([reg], control_rate=args.control_rate, windows=wins)
    idx = {c.name: i for i, c in enumerate(clips)}
    n_ev = max(1, len(clips) // 5)
    tr_c, ev_c = split_clips(clips, n_ev, seed=0)
    body = _body()
    trainer = Trainer(body, tr_c, _quality_cfg(args, args.preset))
    ts, it, wall, hist = _train_for(trainer, args.minutes)
    roll = rollout_policy(trainer, ts, tr_c + ev_c, [False] * len(tr_c) + [True] * len(ev_c))
    s = roll.summary()
    # activation correlation with ground truth, per muscle, pooled over held-out clips
    names = [str(x) for x in tr["muscle"].values] if "muscle" in tr.coords else \
        list(body.muscle_names)
    col = {m: names.index(m) for m in body.muscle_names if m in names}
    sim, true = [], []
    for c in range(roll.n_clips):
        if not roll.held_out[c]:
            continue
        j = int(clips[idx[roll.clip_names[c]]].name.split("_w")[-1])
        a, b = wins[j]
        tt = a + roll.time[c]
        ta = np.stack([np.interp(tt, t, act[:, col[m]]) for m in col], 1)
        sim.append(roll.activation[c][:, [list(body.muscle_names).index(m) for m in col]])
        true.append(ta)
    sim, true = np.concatenate(sim), np.concatenate(true)
    corr = {m: float(np.corrcoef(sim[:, k], true[:, k])[0, 1]) for k, m in enumerate(col)}
    mean_corr = float(np.nanmean(list(corr.values())))
    out = dict(preset=args.preset, iterations=it, wall_s=wall, n_clips=len(clips),
               env_steps=it * trainer.cfg.steps_per_iter, activation_corr=corr,
               mean_activation_corr=mean_corr, **s, history=hist)
    print(f"synthetic ({len(tr_c)} train / {len(ev_c)} held-out reaches), preset {args.preset},"
          f" {wall / 60:.1f} min: held-out joint {s['held_out_joint_err_deg']:.2f} deg, paw "
          f"{1e3 * s['held_out_paw_err_m']:.2f} mm; activation corr {mean_corr:.3f}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["throughput", "synth", "real"])
    p.add_argument("--backend", default="cpu")
    p.add_argument("--n-envs", type=int, default=512)
    p.add_argument("--unroll", type=int, default=16)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--minibatches", type=int, default=4)
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--control-rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--preset", default="none")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--json", default=None)
    p.add_argument("--reference", choices=["stac", "stac-mjx"], default="stac",
                   help="real clips: our STAC registration of the keypoints (default) or "
                        "stac-mjx's own joint angles")
    a = p.parse_args(argv)
    res = dict(machine=_machine(), args=vars(a))
    res.update({"throughput": throughput, "synth": synth, "real": real}[a.what](a))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float))
    return res


if __name__ == "__main__":
    main()
