"""Pipeline orchestration: manifests, skipping, --from, resumability, config."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from neuroimit import ConfigError, Session
from neuroimit import pipeline as pl
from neuroimit.cli import main
from neuroimit.config import RunConfig, default_yaml


def _session(n=40):
    t = np.arange(n) / 200.0
    return Session(np.zeros((n, 2, 3)), t, ["Shoulder", "Wrist"], metadata={"session_id": "x"})


@pytest.fixture
def fake_stages(monkeypatch):
    """Cheap stand-ins for the heavy stages that count their calls and write real files."""
    calls = []

    def make(stage, fail_once=None):
        def fn(ctx):
            calls.append(stage)
            if fail_once is not None and fail_once["armed"]:
                fail_once["armed"] = False
                raise KeyboardInterrupt  # a kill in the middle of the stage
            ctx.path(f"{stage}.out").write_text(json.dumps(ctx.config.stage_config(stage)))
            return {"outputs": [f"{stage}.out"], "summary": {"n": len(calls)}}
        return fn

    for st in ("stac", "train", "evaluate", "report"):
        monkeypatch.setitem(pl.STAGE_FUNCS, st, make(st))
    return calls, make, monkeypatch


def test_skip_rerun_and_from(tmp_path, fake_stages):
    calls, _, _ = fake_stages
    run = tmp_path / "run"
    r1 = pl.run_pipeline(_session(), run, RunConfig(), quiet=True)
    assert [r.status for r in r1] == ["ran"] * 5
    assert calls == ["stac", "train", "evaluate", "report"]
    for st in ("load", "stac", "train", "evaluate", "report"):
        m = json.loads((run / "manifests" / f"{st}.json").read_text())
        assert m["seed"] == 0 and "jax" in m["versions"] and m["output_digests"]
    # second run: everything current -> skipped
    r2 = pl.run_pipeline(_session(), run, RunConfig(), quiet=True)
    assert [r.status for r in r2] == ["skipped"] * 5 and len(calls) == 4
    # a change in the train config reruns train and what follows, not stac
    r3 = pl.run_pipeline(_session(), run, RunConfig(train={"lr": 1e-3}), quiet=True)
    assert [r.status for r in r3] == ["skipped", "skipped", "ran", "ran", "ran"]
    # --from stac reruns everything from stac
    r4 = pl.run_pipeline(None, run, RunConfig(train={"lr": 1e-3}), from_stage="stac",
                         quiet=True)
    assert [r.status for r in r4] == ["skipped", "ran", "ran", "ran", "ran"]
    # a tampered output is detected and its stage reruns
    (run / "evaluate.out").write_text("tampered")
    r5 = pl.run_pipeline(None, run, RunConfig(train={"lr": 1e-3}), quiet=True)
    assert [r.status for r in r5] == ["skipped", "skipped", "skipped", "ran", "ran"]
    assert (run / "log.txt").read_text().count("report ...") >= 1


def test_killed_stage_resumes_without_redoing_finished(tmp_path, fake_stages):
    calls, make, monkeypatch = fake_stages
    arm = {"armed": True}
    monkeypatch.setitem(pl.STAGE_FUNCS, "train", make("train", fail_once=arm))
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pl.run_pipeline(_session(), run, RunConfig(), quiet=True)
    assert (run / "manifests" / "stac.json").exists()
    assert not (run / "manifests" / "train.json").exists()
    calls.clear()
    res = pl.run_pipeline(None, run, quiet=True)  # rerun from the directory alone
    assert [r.status for r in res] == ["skipped", "skipped", "ran", "ran", "ran"]
    assert calls == ["train", "evaluate", "report"]


def test_config_default_yaml_round_trips():
    text = default_yaml()
    cfg = RunConfig.from_dict(yaml.safe_load(text))
    assert cfg == RunConfig()
    # every top-level field is documented in the printed file
    for name in ("seed", "body", "load", "stac", "train", "holdout_fraction", "report"):
        assert f"\n{name}:" in "\n" + text
    with pytest.raises(ConfigError, match="unknown field"):
        RunConfig.from_dict({"sede": 1})
    with pytest.raises(ConfigError, match="holdout_fraction"):
        RunConfig.from_dict({"holdout_fraction": 1.5})


def test_config_cli(tmp_path, capsys):
    assert main(["config", "--default"]) == 0
    assert "holdout_fraction" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1\n")
    assert main(["config", "--check", str(bad)]) == 1
    assert "bad.yaml" in capsys.readouterr().err


def test_unknown_stage_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown stage"):
        pl.run_pipeline(_session(), tmp_path, from_stage="trian", quiet=True)


def test_split_is_seeded_and_disjoint():
    tr, ho = pl._split(10, 0.2, seed=1)
    assert len(ho) == 2 and not set(tr) & set(ho) and sorted(tr + ho) == list(range(10))
    assert pl._split(10, 0.2, seed=1) == (tr, ho)
    assert pl._split(1, 0.2, seed=0) == ([0], [])
