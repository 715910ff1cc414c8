"""Synthetic reaching sessions with known ground truth.

Pipeline (each step a pure function of the config and one random stream):

1. the true body: ``load_body(cfg.body)`` scaled per segment (``scale_sd``);
2. the plan: reaches to targets in front of the mouse (IK onto the paw site), minimum-jerk
   joint paths with holds, withdrawals and pauses (:mod:`.planner`);
3. the muscle-driven simulation that tracks the plan (:mod:`.control`): its joint angles,
   velocities, excitations and activations are the ground truth;
4. keypoints = sites + true offsets + noise + gaps (:mod:`.keypoints`);
5. raw EMG from the activations with an electromechanical delay (:mod:`.emg`).

>>> from neuroimit.synth import SynthConfig, make_session
>>> s = make_session(SynthConfig(duration=2.0, seed=1))        # doctest: +SKIP
>>> sorted(s.truth.data_vars)                                  # doctest: +SKIP
['activation', 'excitation', 'keypoints_true', 'offsets', 'qpos', 'qvel', 'segment_scale']
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import mujoco
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, DataError
from ..session import EMG, Session
from .config import SynthConfig
from .control import replay, track
from .emg import synth_emg
from .keypoints import observe, true_keypoints
from .planner import plan_session

__all__ = ["make_session", "write_synthetic_nwb", "demo_session", "replay_truth",
           "truth_model"]

AXES = ("x", "y", "z")

def _timing(body_dt: float, pose_rate: float) -> tuple[int, float]:
    """Physics substeps per frame and the physics step (the body's, or the nearest that
    divides one frame into whole steps)."""
    frame = 1.0 / pose_rate
    nsub = max(1, int(round(frame / body_dt)))
    return nsub, frame / nsub

def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("synth"), BarColumn(), TextColumn("{task.completed}/{task.total}"
                                                               " frames"),
                   TimeRemainingColumn(), transient=True)
    task = bar.add_task("simulate", total=total)
    return bar, (lambda done: bar.update(task, completed=done))

def make_session(cfg: SynthConfig | None = None, *, progress: bool = False) -> Session:
    """Generate a synthetic reaching session (see the module docstring).

    cfg: settings (default ``SynthConfig()``: 10 s, 200 Hz pose, 2 kHz EMG, seed 0);
    progress: show a progress bar (rich) while simulating.

    Returns a :class:`~neuroimit.session.Session` with keypoints (metres), raw EMG (V),
    trials (``start_time, stop_time, outcome, target_x, target_y, target_z, arrival_time,
    withdrawal_time``) and ``truth`` (``qpos, qvel, excitation, activation, keypoints_true,
    offsets, segment_scale``; see docs/synth.md). Deterministic for a given config.
    """
    from ..body import load_body

    cfg = cfg or SynthConfig()
    seeds = np.random.SeedSequence(int(cfg.seed)).spawn(5)
    rng_scale, rng_offset, rng_plan, rng_kp, rng_emg = (np.random.default_rng(s)
                                                        for s in seeds)
    template = load_body(cfg.body)
    if template.has_free_root:
        raise ConfigError(f"body {template.name!r} has a free root", field="body",
                          expected="a fixed-base limb model (e.g. mouse_forelimb)")
    segs = tuple(template.segments)
    scales = {s: 1.0 for s in segs}
    if cfg.scale_sd > 0 and segs:
        draw = np.clip(1.0 + rng_scale.normal(0.0, cfg.scale_sd, len(segs)), 0.75, 1.25)
        scales = {s: float(v) for s, v in zip(segs, draw)}
        body = template.scaled(**scales)
    else:
        body = template
    try:
        kp_sites = [body.site_for_keypoint(k) for k in cfg.keypoints]
        paw_site = body.site_for_keypoint(cfg.keypoints[-1])
        emg_muscles = [body.muscle_for_emg(c) for c in cfg.emg_channels]
    except DataError as exc:
        raise ConfigError(str(exc.message), field="keypoints/emg_channels",
                          expected=exc.expected) from None

    # a private copy of the model: the body's cached one stays untouched
    m = mujoco.MjModel.from_xml_string(body.xml)
    nsub, dt = _timing(float(m.opt.timestep), cfg.pose_rate)
    m.opt.timestep = dt
    n_frames = int(round(cfg.duration * cfg.pose_rate))
    control_dt = 1.0 / cfg.pose_rate
    lo, hi = body.joint_ranges[:, 0], body.joint_ranges[:, 1]
    plan, trials = plan_session(
        m, paw_site, np.asarray(body.default_qpos, float), lo, hi, n_frames * control_dt,
        rng_plan, reach_s=cfg.reach_s, hold_s=cfg.hold_s, withdraw_s=cfg.withdraw_s,
        pause_s=cfg.pause_s, reach_dir=cfg.reach_dir, distance_m=cfg.distance_m,
        spread_m=cfg.spread_m, success_rate=cfg.success_rate)
    site_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s) for s in kp_sites]
    bar, cb = _progress_bar(n_frames, progress)
    if bar is not None:
        bar.start()
    try:
        sim = track(m, plan, n_frames, control_dt, nsub, sites=site_ids,
                    track_hz=cfg.track_hz, progress=cb)
    finally:
        if bar is not None:
            bar.stop()
    time = sim.time

    # keypoints
    offsets = rng_offset.normal(0.0, cfg.offset_sd_m, (len(kp_sites), 3)) \
        if cfg.offset_sd_m > 0 else np.zeros((len(kp_sites), 3))
    kp_true = true_keypoints(sim.site_xpos, sim.site_xmat, offsets)
    kp, conf = observe(kp_true, rng_kp, noise_m=cfg.noise_m,
                       missing_fraction=cfg.missing_fraction)

    # EMG
    n_emg = int(round(cfg.duration * cfg.emg_rate))
    emg_time = np.arange(n_emg) / cfg.emg_rate
    mus_idx = [body.muscle_names.index(mu) for mu in emg_muscles]
    data = synth_emg(time, sim.act[:, mus_idx], emg_time, rng_emg, delay_s=cfg.emg_delay_s,
                     band_hz=cfg.emg_band_hz, amplitude_v=cfg.emg_amplitude_v,
                     gain_sd=cfg.emg_gain_sd, noise_v=cfg.emg_noise_v)
    emg = EMG(data, emg_time, list(cfg.emg_channels), emg_muscles, unit="V", kind="raw",
              source=f"neuroimit.synth seed {cfg.seed}")

    # targets as the paw *keypoint* (site + its true offset) at the posture that reaches them
    targets = np.array([tr.target for tr in trials]).reshape(-1, 3)
    if trials and np.any(offsets[-1] != 0):
        d = mujoco.MjData(m)
        for i, tr in enumerate(trials):
            d.qpos[:] = tr.target_posture
            mujoco.mj_kinematics(m, d)
            R = d.xmat[m.site_bodyid[site_ids[-1]]].reshape(3, 3)
            targets[i] = d.site_xpos[site_ids[-1]] + R @ offsets[-1]
    table = pd.DataFrame({
        "start_time": [tr.start for tr in trials],
        "stop_time": [tr.stop for tr in trials],
        "outcome": pd.Series([tr.outcome for tr in trials], dtype=object),
        "target_x": targets[:, 0].astype(float),
        "target_y": targets[:, 1].astype(float),
        "target_z": targets[:, 2].astype(float),
        "arrival_time": [tr.arrive for tr in trials],
        "withdrawal_time": [tr.leave for tr in trials],
    })

    joints = list(body.joint_names)
    muscles = list(body.muscle_names)
    names = list(cfg.keypoints)
    truth = xr.Dataset(
        {"qpos": (("time", "joint"), sim.qpos,
                  {"units": "radians", "description": "GROUND TRUTH joint angles"}),
         "qvel": (("time", "joint"), sim.qvel,
                  {"units": "radians/s", "description": "GROUND TRUTH joint velocities"}),
         "excitation": (("time", "muscle"), sim.ctrl,
                        {"units": "n.a.", "description": "GROUND TRUTH muscle excitation "
                         "(MuJoCo ctrl) held from this frame to the next"}),
         "activation": (("time", "muscle"), sim.act,
                        {"units": "n.a.", "description": "GROUND TRUTH muscle activation "
                         "(MuJoCo act) at the frame"}),
         "keypoints_true": (("time", "keypoint", "axis"), kp_true,
                            {"units": "meters", "description": "GROUND TRUTH noiseless "
                             "keypoints (site + offset)"}),
         "offsets": (("keypoint", "axis"), offsets,
                     {"units": "meters", "description": "GROUND TRUTH keypoint offsets from "
                      "their sites in the site body's frame"}),
         "segment_scale": (("segment",), np.array([scales[s] for s in segs], dtype=float),
                           {"units": "n.a.", "description": "GROUND TRUTH segment scales"})},
        coords={"time": time, "joint": joints, "muscle": muscles, "keypoint": names,
                "axis": list(AXES), "segment": list(segs)},
        attrs={"body": body.name, "body_xml": body.xml, "timestep": dt, "substeps": nsub,
               "control_rate_hz": float(cfg.pose_rate), "seed": int(cfg.seed),
               "emg_delay_s": float(cfg.emg_delay_s),
               "sites_json": json.dumps(dict(zip(names, kp_sites))),
               "synth_config_json": json.dumps(cfg.to_dict()),
               "description": "ground truth of a synthetic session: a MuJoCo simulation of "
                              "the muscle-driven body; excitation k is held over "
                              "[time k, time k+1) with `substeps` physics steps of "
                              "`timestep` s"})
    meta = {"subject": cfg.subject, "session_id": cfg.name,
            "source": f"neuroimit.synth (seed {cfg.seed})", "species": "Mus musculus",
            "synthetic": True, "body": body.name,
            "reference_frame": f"world frame of the body model {body.name!r} (metres; "
                               "x forward, z up for mouse_forelimb)",
            "description": f"synthetic mouse forelimb reaching session {cfg.name} "
                           f"({len(trials)} reaches, {cfg.duration:g} s)",
            "synth_config": cfg.to_dict()}
    return Session(kp, time, names, conf, emg, table, meta, truth)

def truth_model(truth: xr.Dataset) -> mujoco.MjModel:
    """The exact MuJoCo model (true body, physics step) that generated ``truth``."""
    try:
        m = mujoco.MjModel.from_xml_string(str(truth.attrs["body_xml"]))
        m.opt.timestep = float(truth.attrs["timestep"])
    except KeyError as exc:
        raise DataError(f"ground truth lacks attribute {exc.args[0]!r}", field="truth.attrs",
                        expected="a synthetic session made by neuroimit.synth") from None
    return m

def replay_truth(truth: xr.Dataset, restart_s: float = 0.1) -> np.ndarray:
    """Joint angles (T, nq) from forward simulation of the true excitations, restarting
    from the true state (qpos, qvel, activation) every ``restart_s`` seconds.

    The check that the muscles really drive the motion: compare with ``truth["qpos"]``.
    """
    m = truth_model(truth)
    rate = float(truth.attrs["control_rate_hz"])
    every = max(1, int(round(restart_s * rate)))
    return replay(m, truth["qpos"].values, truth["qvel"].values, truth["activation"].values,
                  truth["excitation"].values, int(truth.attrs["substeps"]), every)

def write_synthetic_nwb(path: str | os.PathLike, cfg: SynthConfig | None = None, *,
                        overwrite: bool = False, progress: bool = False) -> Path:
    """Generate a session with ``cfg`` and write it (ground truth included) as NWB.

    >>> write_synthetic_nwb("synth.nwb", SynthConfig(duration=5, seed=2))   # doctest: +SKIP
    PosixPath('synth.nwb')
    """
    from ..loaders.nwb_write import write_nwb

    path = Path(path)
    if path.exists() and not overwrite:  # fail before spending time on the simulation
        raise DataError("file already exists", file=str(path),
                        expected="a new path, or overwrite=True (--overwrite)")
    return write_nwb(make_session(cfg, progress=progress), path, overwrite=overwrite)

def demo_session(seed: int = 0, duration: float = 4.0) -> Session:
    """A short synthetic session for demos and quick checks (default settings)."""
    return make_session(SynthConfig(duration=duration, seed=seed))
