"""Training driver: run folder layout, checkpoints / resume, metrics (CSV + TensorBoard),
progress bar.

Run folder (``RUN_DIR/imitation``)::

    config.json      TrainConfig
    body.json        body name, keypoint sites; body.xml the MJCF
    clips.npz        training (and held-out) reference clips
    checkpoints/     ckpt_<iteration>.npz (whole TrainState)
    metrics.csv      one row per iteration
    tb/              TensorBoard event files
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import jax
import numpy as np

from ..errors import ConfigError, DataError
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .clips import ReferenceClip
from .config import TrainConfig
from .ppo import Trainer, TrainState
from .toy import ToyBody

__all__ = ["train", "TrainResult", "imitation_dir", "load_run", "save_clips", "load_clips"]


def imitation_dir(run_dir) -> Path:
    return Path(run_dir) / "imitation"


def _atomic_write(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name, dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_clips(path: Path, clips: Sequence[ReferenceClip], held_out: Sequence[ReferenceClip] = ()):
    arrs = {}
    for tag, cs in (("train", clips), ("eval", held_out)):
        for i, c in enumerate(cs):
            arrs[f"{tag}_{i:04d}_qpos"] = c.qpos
            arrs[f"{tag}_{i:04d}_qvel"] = c.qvel
            arrs[f"{tag}_{i:04d}_dt"] = np.asarray(c.dt)
            arrs[f"{tag}_{i:04d}_name"] = np.asarray(c.name or f"{tag}{i:04d}")
    buf = io.BytesIO()
    np.savez(buf, **arrs)
    _atomic_write(Path(path), buf.getvalue())


def load_clips(path) -> tuple[list[ReferenceClip], list[ReferenceClip]]:
    """(training clips, held-out clips) saved by :func:`train`."""
    out = {"train": [], "eval": []}
    with np.load(path) as z:
        keys = sorted({k.rsplit("_", 1)[0] for k in z.files})
        for k in keys:
            tag = k.split("_")[0]
            out[tag].append(ReferenceClip(qpos=z[k + "_qpos"], qvel=z[k + "_qvel"],
                                          dt=float(z[k + "_dt"]), name=str(z[k + "_name"])))
    return out["train"], out["eval"]


@dataclass
class TrainResult:
    run_dir: Path
    trainer: Trainer
    state: TrainState
    metrics: list[dict] = field(default_factory=list)
    steps_per_s: float = float("nan")
    wall_s: float = float("nan")


def _body_from_run(d: Path):
    info = json.loads((d / "body.json").read_text())
    return ToyBody(xml=(d / "body.xml").read_text(), name=info["name"],
                   keypoint_sites=info["keypoint_sites"])


def load_run(run_dir):
    """(config, body, train clips, held-out clips) of a run folder."""
    d = imitation_dir(run_dir)
    if not (d / "config.json").exists():
        raise DataError("not an imitation run folder", file=str(run_dir),
                        field="imitation/config.json", expected="a folder written by train()")
    cfg = TrainConfig.from_dict(json.loads((d / "config.json").read_text()))
    clips, held = load_clips(d / "clips.npz")
    return cfg, _body_from_run(d), clips, held


class _Metrics:
    """metrics.csv (rewritten atomically up to the resumed iteration) + TensorBoard."""

    def __init__(self, d: Path, start_iter: int, tensorboard: bool):
        self.path = d / "metrics.csv"
        self.rows: list[dict] = []
        if start_iter > 0 and self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= start_iter]
        self.tb = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
                self.tb = SummaryWriter(str(d / "tb"), purge_step=start_iter + 1)
            except Exception:  # tensorboard is optional
                self.tb = None

    def add(self, row: dict):
        self.rows.append(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "iteration":
                    self.tb.add_scalar(k, float(v), int(row["iteration"]))

    def flush(self):
        if not self.rows:
            return
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.rows[-1].keys()), extrasaction="ignore")
        w.writeheader()
        w.writerows(self.rows)
        _atomic_write(self.path, buf.getvalue().encode())
        if self.tb is not None:
            self.tb.flush()

    def close(self):
        self.flush()
        if self.tb is not None:
            self.tb.close()


def train(clips: Sequence[ReferenceClip], body, cfg: TrainConfig | None = None,
          run_dir=None, *, resume: bool = False, overwrite: bool = False,
          held_out: Sequence[ReferenceClip] = (), progress: bool = True,
          tensorboard: bool = True, stop_after: int | None = None, devices=None,
          physics=None) -> TrainResult:
    """Train an imitation policy with PPO; checkpoints and metrics go to ``run_dir/imitation``.

    resume: continue from the newest checkpoint (the final parameters equal those of an
        uninterrupted run with the same config). stop_after: stop after this many iterations
        in this call (tests, time budgets).

    >>> from neuroimit.imitation.toy import toy_arm                       # doctest: +SKIP
    >>> res = train(clips, toy_arm(), TrainConfig.demo(), "runs/demo")    # doctest: +SKIP
    """
    cfg = cfg or TrainConfig()
    if run_dir is None:
        raise ConfigError("run_dir is required", field="run_dir")
    d = imitation_dir(run_dir)
    ck_dir = d / "checkpoints"
    latest = latest_checkpoint(ck_dir)
    if latest is not None and not resume:
        if not overwrite:
            raise ConfigError("the run folder already has checkpoints", file=str(d),
                              expected="--resume to continue, or overwrite=True")
        shutil.rmtree(ck_dir)
        latest = None
    if resume and (d / "config.json").exists():
        saved = TrainConfig.from_dict(json.loads((d / "config.json").read_text()))
        if saved.to_dict() != cfg.to_dict():
            raise ConfigError("the config differs from the run's saved config", file=str(d),
                              field="config.json", expected="the same settings to resume")
        if latest is not None:
            clips, held_out = load_clips(d / "clips.npz")
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / "config.json", cfg.to_json().encode())
    _atomic_write(d / "body.xml", body.xml.encode())
    _atomic_write(d / "body.json", json.dumps(dict(
        name=getattr(body, "name", "body"), keypoint_sites=dict(body.keypoint_sites),
        muscle_names=list(body.muscle_names), joint_names=list(body.joint_names))).encode())
    if not (resume and latest is not None):
        save_clips(d / "clips.npz", clips, held_out)

    tr = Trainer(body, clips, cfg, devices=devices, physics=physics)
    ts = tr.init()
    start = 0
    if latest is not None:
        start, path = latest
        host = load_checkpoint(path, jax.device_get(ts))
        ts = tr.place(host)
    n_iters = cfg.n_iters
    end = n_iters if stop_after is None else min(n_iters, start + stop_after)
    log = _Metrics(d, start, tensorboard)
    res = TrainResult(Path(run_dir), tr, ts)
    t_start = time.perf_counter()
    steps_done = 0
    prog = None
    if progress:
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        prog = Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/"
                        "{task.total} it"), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
        task = prog.add_task("train", total=n_iters, completed=start, info="compiling...")
        prog.start()
    try:
        t_last = time.perf_counter()
        for it in range(start, end):
            ts, m = tr.iterate(ts)
            m = {k: float(v) for k, v in jax.device_get(m).items()}
            now = time.perf_counter()
            sps = cfg.steps_per_iter / max(now - t_last, 1e-9)
            t_last = now
            steps_done += cfg.steps_per_iter
            row = dict(iteration=it + 1, env_steps=(it + 1) * cfg.steps_per_iter,
                       steps_per_s=sps, **m)
            log.add(row)
            res.metrics.append(row)
            if prog is not None:
                prog.update(task, completed=it + 1, info=f"{sps:,.0f} steps/s  reward "
                            f"{m['reward']:.3f}  return {m['episode_return']:.1f}")
            if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == n_iters:
                log.flush()
                save_checkpoint(ck_dir, ts, it + 1)
        if end > start and latest_checkpoint(ck_dir)[0] != end:
            log.flush()
            save_checkpoint(ck_dir, ts, end)
    finally:
        if prog is not None:
            prog.stop()
        log.close()
    res.state = ts
    res.wall_s = time.perf_counter() - t_start
    # steady-state rate: skip the first (compiling) iteration of this call
    rates = [r["steps_per_s"] for r in res.metrics[1:]]
    res.steps_per_s = float(np.median(rates)) if rates else float("nan")
    return res
