"""neuroimit.imitation: PPO imitation of reference reaches by a muscle-driven body model.

>>> from neuroimit.imitation import TrainConfig, train, evaluate, clips_from_registrations
>>> # clips = clips_from_registrations([reg], control_rate=200.0)
>>> # result = train(clips, body, TrainConfig(preset="energy+control"), run_dir="runs/m1")
>>> # roll = evaluate("runs/m1")

See docs/imitation.md for the environment, rewards, networks, backends and run folder.
"""
from .clips import (ReferenceClip, clip_from_arrays, clips_from_registrations,
                    load_stac_h5_clips, resample_clip, split_clips)
from .config import PRESETS, EnvConfig, RewardConfig, TrainConfig
from .rollout import Rollout, evaluate, rollout_policy
from .sweep import sweep
from .toy import ToyBody, toy_arm
from .train import TrainResult, load_run, train

__all__ = ["ReferenceClip", "clip_from_arrays", "clips_from_registrations",
           "load_stac_h5_clips", "resample_clip", "split_clips", "PRESETS", "EnvConfig",
           "RewardConfig", "TrainConfig", "Rollout", "evaluate", "rollout_policy", "sweep",
           "ToyBody", "toy_arm", "TrainResult", "load_run", "train", "demo"]


def demo(clips, body, run_dir, *, held_out=(), progress: bool = True, **cfg_overrides):
    """Small-budget train + evaluate for the end-to-end demo (~2-4 min on a 2-core CPU).

    Returns (TrainResult, Rollout).
    """
    res = train(clips, body, TrainConfig.demo(**cfg_overrides), run_dir, held_out=held_out,
                progress=progress, overwrite=True)
    return res, evaluate(res)
