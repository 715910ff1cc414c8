"""Every tutorial in examples/ runs at a tiny size, so the docs never rot."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_1_load_from_dandi_standin(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from dandi_standin import DandiStandin

    from neuroimit.loaders.nwb_write import write_nwb
    from neuroimit.synth import SynthConfig, make_session

    nwb = write_nwb(make_session(SynthConfig(duration=1.5, seed=3)), tmp_path / "s.nwb")
    api = DandiStandin().start()
    try:
        api.add_asset("000123", "sub-M3/sub-M3_ses-1_behavior.nwb", nwb.read_bytes())
        monkeypatch.setenv("NEUROIMIT_DANDI_API_URL", api.api_url)
        monkeypatch.setenv("NEUROIMIT_CACHE", str(tmp_path / "cache"))
        summary = _load("tutorial_1_load_session").main(
            ["dandi://000123/sub-M3/sub-M3_ses-1_behavior.nwb", "-o", str(tmp_path / "t1")])
    finally:
        api.stop()
    assert summary["n_frames"] == 300 and summary["emg"]["channels"][0] == "Biceps"
    assert (tmp_path / "t1" / "session.png").stat().st_size > 10_000


def test_tutorial_2_register(tmp_path):
    res = _load("tutorial_2_register").main(["-o", str(tmp_path / "t2"), "--duration", "1.5"])
    assert res["mean_error_mm"] < 0.5  # 0.2 mm keypoint noise
    assert max(res["joint_rmse_deg"].values()) < 3.0
    assert (tmp_path / "t2" / "registration_stac_mjx.h5").exists()


def test_tutorial_5_causal_analysis(tmp_path):
    res = _load("tutorial_5_causal_analysis").main(
        ["-n", "400", "--samples", "10", "--surrogates", "19", "-o", str(tmp_path / "t5")])
    tab = res["ccm"]
    # x drives y (byx 0.1 > bxy 0.02): y's embedding cross-maps x better, and it converges
    assert tab["y:x"].iloc[-1] > tab["x:y"].iloc[-1] + 0.2
    assert np.all(res["convergence"]["kendall_tau"] > 0)
    assert res["granger"].p_values.loc["y", "x"] < 0.01


def test_tutorial_6_batch_over_a_folder(tmp_path):
    res = _load("tutorial_6_batch").main(["-o", str(tmp_path / "t6"), "--stages", "load"])
    assert [s["status"] for s in res.status] == ["done"] * 3
    assert len(res.summary) == 3


def test_tutorial_3_train_evaluate(tmp_path):
    res = _load("tutorial_3_train_evaluate").main(
        ["--tiny", "--duration", "3", "-o", str(tmp_path / "t3")])
    assert res["n_clips"] >= 2 and res["n_held_out"] >= 1
    assert np.isfinite(res["joint_err_deg"]) and 0 <= res["effort"] <= 1
    assert -1 <= res["activation_r_vs_truth"] <= 1
    assert (tmp_path / "t3" / "imitation" / "rollout.h5").exists()


def test_tutorial_4_constraint_sweep(tmp_path):
    res = _load("tutorial_4_constraint_sweep").main(
        ["--tiny", "--presets", "none,energy", "--seeds", "1", "--duration", "3",
         "-o", str(tmp_path / "t4")])
    assert sorted(res["table"]["preset"]) == ["energy", "none"]
    assert set(res["scores"]["preset"]) == {"energy", "none"}
    assert res["comparison"].best in ("none", "energy") and res["comparison"].statement
