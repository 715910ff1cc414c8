"""The constraint experiment: train each preset x seed and tabulate tracking error and effort.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .config import PRESETS, TrainConfig

__all__ = ["sweep"]

_COLUMNS = ("preset", "seed", "run_dir", "train_joint_err_deg", "train_paw_err_m",
            "train_keypoint_err_m", "held_out_joint_err_deg", "held_out_paw_err_m",
            "held_out_keypoint_err_m", "train_effort", "train_excitation_sq",
            "final_reward", "steps_per_s")


def sweep(run_dir, clips, body, presets: Sequence[str] = tuple(PRESETS), seeds: int = 3,
          base: TrainConfig | None = None, *, held_out=(), resume: bool = True,
          progress: bool = True) -> list[dict]:
    """Train ``presets`` x ``seeds`` variants into ``run_dir/sweep/<preset>_s<seed>`` and write
    ``run_dir/sweep/table.csv`` (one row per variant: tracking errors, effort, reward).

    Finished variants (final checkpoint present) are not retrained when ``resume``.
    """
    from .checkpoint import latest_checkpoint
    from .rollout import evaluate
    from .train import imitation_dir, train

    base = base or TrainConfig()
    bad = [p for p in presets if p not in PRESETS]
    if bad:
        raise ConfigError(f"unknown presets {bad}", field="presets", expected=" | ".join(PRESETS))
    root = Path(run_dir) / "sweep"
    rows = []
    for preset in presets:
        for seed in range(int(seeds)):
            # reset constraint weights so the preset sets them
            r = replace(base.env.rewards, energy=0.0, ctrl=0.0, ctrl_change=0.0)
            cfg = replace(base, preset=preset, seed=seed, env=replace(base.env, rewards=r))
            cfg = TrainConfig.from_dict(cfg.to_dict())
            vdir = root / f"{preset.replace('+', '_')}_s{seed}"
            ck = latest_checkpoint(imitation_dir(vdir) / "checkpoints")
            done = ck is not None and ck[0] >= cfg.n_iters
            if not done:
                train(clips, body, cfg, vdir, held_out=held_out, progress=progress,
                      resume=resume and ck is not None, overwrite=not resume)
            roll = evaluate(vdir)
            s = roll.summary()
            last = {}
            mpath = imitation_dir(vdir) / "metrics.csv"
            if mpath.exists():
                with open(mpath, newline="") as f:
                    rr = list(csv.DictReader(f))
                last = rr[-1] if rr else {}
                sps = [float(x["steps_per_s"]) for x in rr[1:]]
            else:
                sps = []
            row = dict(preset=preset, seed=seed, run_dir=str(vdir),
                       final_reward=float(last.get("reward", "nan")),
                       steps_per_s=(sorted(sps)[len(sps) // 2] if sps else float("nan")))
            for k in _COLUMNS[3:11]:
                row[k] = s.get(k, float("nan"))
            rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(_COLUMNS))
    w.writeheader()
    w.writerows(rows)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".table", dir=root)
    with os.fdopen(fd, "w") as f:
        f.write(buf.getvalue())
    os.replace(tmp, root / "table.csv")
    return rows
