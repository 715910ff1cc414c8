"""PPO training: resume equality (incl. kill -9), learning, evaluate outputs, multi-device, CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from neuroimit.imitation import (Rollout, TrainConfig, clip_from_arrays, evaluate, toy_arm,
                                 train)
from neuroimit.imitation.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _clips():
    t = np.arange(50) / 200.0
    q = np.stack([0.3 * np.sin(2 * np.pi * t), 0.6 + 0.3 * np.sin(2 * np.pi * t + 1)], 1)
    return ([clip_from_arrays(q, rate=200.0, name="train0")],
            [clip_from_arrays(0.8 * q[:40], rate=200.0, name="held0")])


CFG = TrainConfig.tiny(backend="cpu", total_steps=8 * 8 * 6, seed=5)   # 6 iterations


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    clips, held = _clips()
    d = tmp_path_factory.mktemp("full")
    res = train(clips, toy_arm(), CFG, d, held_out=held, progress=False)
    return d, res


def _leaves(state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(state))]


def test_resume_gives_identical_parameters(full_run, tmp_path):
    d_full, full = full_run
    clips, held = _clips()
    half = train(clips, toy_arm(), CFG, tmp_path, held_out=held, progress=False, stop_after=3)
    assert int(half.state.iteration) == 3
    assert latest_checkpoint(tmp_path / "imitation" / "checkpoints")[0] == 3
    res = train(clips, toy_arm(), CFG, tmp_path, resume=True, progress=False)
    assert int(res.state.iteration) == CFG.n_iters
    a, b = _leaves(full.state), _leaves(res.state)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    # metrics.csv holds each iteration exactly once
    import csv
    rows = list(csv.DictReader(open(tmp_path / "imitation" / "metrics.csv")))
    assert [int(r["iteration"]) for r in rows] == list(range(1, CFG.n_iters + 1))
    # without --resume an existing run is not silently overwritten
    from neuroimit.errors import ConfigError
    with pytest.raises(ConfigError, match="resume"):
        train(clips, toy_arm(), CFG, tmp_path, progress=False)


def test_resume_after_kill_9(full_run, tmp_path):
    """A training process killed with SIGKILL right after a checkpoint resumes exactly."""
    script = textwrap.dedent(f"""
        import importlib, time
        T = importlib.import_module("neuroimit.imitation.train")   # the module, not train()
        from tests.test_imitation_train import CFG, _clips
        from neuroimit.imitation import toy_arm
        orig = T.save_checkpoint
        def slow(folder, state, it, keep=2):
            p = orig(folder, state, it, keep)
            print("CKPT", it, flush=True)
            time.sleep(120)          # killed here
            return p
        T.save_checkpoint = slow
        clips, held = _clips()
        T.train(clips, toy_arm(), CFG, r"{tmp_path}", held_out=held, progress=False)
    """)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("CKPT"), line
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    it, _ = latest_checkpoint(tmp_path / "imitation" / "checkpoints")
    assert it < CFG.n_iters
    res = train(*_clips()[:1], toy_arm(), CFG, tmp_path, resume=True, progress=False)
    a, b = _leaves(full_run[1].state), _leaves(res.state)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_checkpoint_is_atomic_and_checked(tmp_path):
    state = {"a": np.arange(3.0), "b": np.ones((2, 2), np.float32)}
    save_checkpoint(tmp_path, state, 1)
    save_checkpoint(tmp_path, state, 2)
    save_checkpoint(tmp_path, state, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_00000002.npz",
                                                          "ckpt_00000003.npz"]
    back = load_checkpoint(tmp_path / "ckpt_00000003.npz", state)
    np.testing.assert_array_equal(back["b"], state["b"])
    from neuroimit.errors import DataError
    with pytest.raises(DataError, match="expected"):
        load_checkpoint(tmp_path / "ckpt_00000003.npz", {"a": np.arange(4.0), "b": state["b"]})
    (tmp_path / "ckpt_00000009.npz").write_bytes(b"truncated")
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(tmp_path / "ckpt_00000009.npz", state)


def test_evaluate_writes_every_output(full_run, tmp_path):
    d, res = full_run
    roll = evaluate(d)
    assert roll.n_clips == 2 and list(roll.held_out) == [False, True]
    out = d / "imitation"
    assert (out / "rollout.h5").exists() and (out / "evaluation.csv").exists()
    back = Rollout.load(out / "rollout.h5")
    nu, nq = 4, 2
    for c, T in enumerate((50, 40)):
        assert back.qpos[c].shape == (T, nq) and back.keypoints[c].shape == (T, 3, 3)
        assert back.excitation[c].shape == (T, nu) and back.activation[c].shape == (T, nu)
        assert back.force[c].shape == (T, nu) and back.latent[c].shape == (T, CFG.latent)
        assert np.all((back.excitation[c] >= 0) & (back.excitation[c] <= 1))
        np.testing.assert_allclose(back.qpos[c][0], back.ref_qpos[c][0], atol=1e-6)
    for k in ("joint_err_deg", "keypoint_err_m", "paw_err_m", "effort"):
        assert back.errors[k].shape == (2,) and np.all(np.isfinite(back.errors[k]))
    # the error is what it says: mean |angle error| in degrees over frames 1..T-1
    e = np.degrees(np.mean(np.abs(back.qpos[0][1:] - back.ref_qpos[0][1:])))
    assert back.errors["joint_err_deg"][0] == pytest.approx(e, rel=1e-6)
    # deterministic: a second evaluation gives the same numbers
    again = evaluate(d, save=False)
    np.testing.assert_array_equal(again.qpos[1], roll.qpos[1])
    # NWB module through the loaders' export
    pytest.importorskip("pynwb")
    from datetime import datetime, timezone
    from pynwb import NWBHDF5IO, NWBFile
    nwb = tmp_path / "s.nwb"
    with NWBHDF5IO(nwb, "w") as io:
        io.write(NWBFile(session_description="t", identifier="x",
                         session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    written = roll.to_nwb(nwb, tmp_path / "s_rollout.nwb")
    with h5py.File(written, "r") as h:
        names = list(h["processing/imitation_rollout"].keys())
    assert any("joint_angles" in n for n in names) and any("muscle_activation" in n
                                                           for n in names)


def test_short_training_increases_return(tmp_path):
    from neuroimit.imitation.ppo import Trainer
    from neuroimit.imitation.rollout import rollout_policy
    t = np.arange(80) / 200.0
    q = np.stack([0.6 * np.sin(4 * np.pi * t), 0.6 + 0.6 * np.sin(4 * np.pi * t + 1)], 1)
    clip = clip_from_arrays(q, rate=200.0)
    cfg = TrainConfig(n_envs=32, unroll=8, epochs=4, minibatches=2, hidden=(32, 32),
                      latent=4, lr=3e-3, backend="cpu", seed=0, policy="mlp",
                      total_steps=32 * 8 * 30)
    tr = Trainer(toy_arm(), [clip], cfg)
    ts = tr.init()
    returns = []
    for _ in range(30):
        ts, m = tr.iterate(ts)
        returns.append(float(m["episode_return"]))
    assert np.mean(returns[-5:]) > 1.2 * np.mean(returns[1:6]), returns


def test_two_devices_data_parallel(tmp_path):
    """Same code on 2 (simulated) devices: environments split across them."""
    script = textwrap.dedent("""
        import jax, numpy as np
        from tests.test_imitation_train import CFG, _clips
        from neuroimit.imitation import toy_arm
        from neuroimit.imitation.ppo import Trainer
        tr = Trainer(toy_arm(), _clips()[0], CFG)
        ts = tr.init()
        for _ in range(2):
            ts, m = tr.iterate(ts)
        devs = {d for d in ts.env.qpos.sharding.device_set}
        shards = [s.data.shape for s in ts.env.qpos.addressable_shards]
        ok = all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(ts.params))
        print("RESULT", len(jax.devices()), len(devs), shards, ok, int(ts.iteration))
    """)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=300)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    assert line, out.stderr[-2000:]
    assert line[0] == f"RESULT 2 2 [(4, 2), (4, 2)] True 2"


def test_cli_train_and_evaluate(tmp_path, shared_data):
    from neuroimit.cli import main
    src = shared_data / "mouse_reach_ik_200hz"
    files = sorted(src.glob("*.h5"))[:3]
    clipdir = tmp_path / "clips"
    clipdir.mkdir()
    for f in files:
        (clipdir / f.name).symlink_to(f)
    rc = main(["train", str(tmp_path / "run"), "--clips", str(clipdir), "--held-out", "1",
               "--total-steps", "128", "--n-envs", "8", "--backend", "cpu", "--demo"])
    assert rc == 0
    rc = main(["evaluate", str(tmp_path / "run")])
    assert rc == 0
    roll = Rollout.load(tmp_path / "run" / "imitation" / "rollout.h5")
    assert roll.n_clips == 3 and roll.held_out.sum() == 1
    assert roll.muscle_names and roll.qpos[0].shape[1] == 4


def test_sweep_writes_table(tmp_path):
    import csv
    from neuroimit.imitation import sweep
    clips, held = _clips()
    base = TrainConfig.tiny(backend="cpu", total_steps=8 * 8)
    rows = sweep(tmp_path, clips, toy_arm(), ["none", "energy+control"], 1, base,
                 held_out=held, progress=False)
    table = list(csv.DictReader(open(tmp_path / "sweep" / "table.csv")))
    assert [r["preset"] for r in table] == ["none", "energy+control"]
    assert all(np.isfinite(float(r["held_out_joint_err_deg"])) and float(r["train_effort"]) > 0
               for r in table)
    cfg = json.loads((tmp_path / "sweep" / "energy_control_s0" / "imitation" /
                      "config.json").read_text())
    assert cfg["env"]["rewards"]["energy"] > 0 and cfg["env"]["rewards"]["ctrl"] > 0
    assert len(rows) == 2
