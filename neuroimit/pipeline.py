"""End-to-end orchestration: load -> stac -> train -> evaluate -> report.

Each stage is a plain function of the run directory and the :class:`~neuroimit.config.RunConfig`
that calls the Python API of its area and writes its outputs into the run directory. After a
stage finishes, a manifest ``RUN_DIR/manifests/<stage>.json`` records its inputs (a digest of
the stage's config and of the upstream manifests), config, package versions, seed, timings and
the digests of its outputs. A rerun skips every stage whose manifest still matches; a change in
a stage's config reruns it and everything downstream; ``from_stage`` forces a rerun from there.
A killed run leaves finished stages intact (their manifests are written last, atomically) and
the running one resumable (training resumes from its checkpoints).

Run directory layout::

    RUN_DIR/config.yaml         the effective configuration
    RUN_DIR/session.nc          load: the Session (Session.save)
    RUN_DIR/registration.h5     stac: the Registration (+ registration_report.png)
    RUN_DIR/clips.json          train: which clips were trained on / held out
    RUN_DIR/policy/             train: checkpoints, metrics.csv, TensorBoard events
    RUN_DIR/rollout.h5          evaluate: the Rollout of every clip
    RUN_DIR/report.html/.json   report
    RUN_DIR/manifests/*.json    one per finished stage
    RUN_DIR/log.txt             the log of every run

>>> from neuroimit.pipeline import run_pipeline           # doctest: +SKIP
>>> run_pipeline("session.nwb", "runs/m1")                # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml
from rich.console import Console
from rich.markup import render as render_markup
from rich.table import Table

from .atomic import write_text_atomic
from .config import STAGES, RunConfig
from .errors import ConfigError, DataError
from .session import Session

log = logging.getLogger("neuroimit.pipeline")

_VERSION_PACKAGES = ("neuroimit", "jax", "mujoco", "mujoco-mjx", "flax", "optax", "numpy",
                     "pynwb", "ndx-pose")


# --------------------------------------------------------------------------- utilities
def _digest_obj(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a directory (names and contents)."""
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


# --------------------------------------------------------------------------- context
@dataclass
class RunContext:
    """What every stage gets: the run directory, the config, the source, a console."""

    run_dir: Path
    config: RunConfig
    source: Any = None
    console: Console = field(default_factory=Console)
    quiet: bool = False

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def say(self, text: str) -> None:
        log.info(render_markup(text).plain)
        if not self.quiet:
            self.console.print(text)

    def session(self) -> Session:
        return Session.load(self.path("session.nc"))

    def body(self):
        from .body import load_body

        kw = {"keypoint_map": self.config.keypoint_map} if self.config.keypoint_map else {}
        return load_body(self.config.body, **kw)

    def registration(self):
        from .stac import Registration

        return Registration.load(self.path("registration.h5"))


# --------------------------------------------------------------------------- stages
def stage_load(ctx: RunContext) -> dict[str, Any]:
    """Read the source into a Session and save it as ``session.nc``."""
    lc = ctx.config.load
    if isinstance(ctx.source, Session):
        sess = ctx.source
    else:
        if ctx.source is None:
            raise ConfigError("no source given and no session.nc in the run directory",
                              file=str(ctx.run_dir), field="source")
        from .loaders import load_session

        kw = {k: v for k, v in dataclasses.asdict(lc).items()
              if v is not None and k not in ("trials", "max_duration_s", "offline")}
        if lc.offline:
            kw["offline"] = True
        sess = load_session(str(ctx.source), **kw)
    if lc.max_duration_s is not None:
        sess = sess.window(float(sess.time[0]), float(sess.time[0]) + lc.max_duration_s)
    if lc.trials is not None and len(sess.trials):
        rows = sess.trials.iloc[list(lc.trials)]
        sess = sess.window(float(rows["start_time"].min()),
                           float(rows["stop_time"].max()) + 1.0 / sess.rate)
    sess.save(ctx.path("session.nc"))
    d = sess.describe()
    ctx.say(f"loaded {d['n_frames']} frames x {len(d['keypoints'])} keypoints @ "
            f"{d['pose_rate_hz']:g} Hz, EMG: "
            f"{'none' if not d['emg'] else ', '.join(d['emg']['channels'])}, "
            f"{d['n_trials']} trials")
    return {"outputs": ["session.nc"], "summary": {k: d[k] for k in
                                                    ("n_frames", "pose_rate_hz", "duration_s",
                                                     "n_trials")}}


def stage_stac(ctx: RunContext) -> dict[str, Any]:
    """Register the body to the keypoints (STAC) and save ``registration.h5``."""
    from .stac import StacConfig, register

    sess, body = ctx.session(), ctx.body()
    cfg = StacConfig(**ctx.config.stac)
    reg = register(sess, body, cfg)
    reg.save(ctx.path("registration.h5"))
    outputs = ["registration.h5"]
    try:
        from .stac.report import registration_report
    except ImportError:
        registration_report = None
    if registration_report is not None:
        registration_report(reg, ctx.path("registration_report.png"))
        outputs.append("registration_report.png")
    res = np.asarray(reg.residuals, dtype=float)
    err_mm = float(np.nanmean(res) * 1e3)
    ctx.say(f"registration: mean keypoint error {err_mm:.3f} mm "
            f"({sess.n_frames} frames)")
    return {"outputs": outputs, "summary": {"mean_keypoint_error_mm": err_mm}}


def _clips(ctx: RunContext):
    """Reference clips from the registration: trial windows, else fixed-length pieces."""
    from .imitation import clips_from_registrations

    reg = ctx.registration()
    sess = ctx.session()
    windows: list[tuple[float, float]] = []
    if len(sess.trials):
        windows = [(float(a), float(b)) for a, b in
                   zip(sess.trials["start_time"], sess.trials["stop_time"])]
    else:
        t0, t1 = float(reg.time[0]), float(reg.time[-1])
        n = max(1, int((t1 - t0) // ctx.config.clip_seconds))
        windows = [(t0 + i * ctx.config.clip_seconds, t0 + (i + 1) * ctx.config.clip_seconds)
                   for i in range(n)]
    return clips_from_registrations([reg], windows=windows)


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Clip indices for training and held-out evaluation (at least one each when n >= 2)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n).tolist()
    k = int(round(n * fraction))
    if n >= 2:
        k = min(max(k, 1), n - 1)
    else:
        k = 0
    return sorted(order[k:]), sorted(order[:k])


def stage_train(ctx: RunContext) -> dict[str, Any]:
    """Train the imitation policy on the training clips (resumes from checkpoints)."""
    from .imitation import TrainConfig, train

    clips = _clips(ctx)
    tr, ho = _split(len(clips), ctx.config.holdout_fraction, ctx.config.seed)
    write_text_atomic(ctx.path("clips.json"), json.dumps({"train": tr, "holdout": ho}))
    kw = dict(ctx.config.train)
    kw.setdefault("seed", ctx.config.seed)
    cfg = TrainConfig(**kw)
    train_clips = [clips[i] for i in tr]
    try:  # continue an interrupted run of the same config from its last checkpoint
        result = train(train_clips, ctx.body(), cfg, run_dir=ctx.path("policy"), resume=True)
    except ConfigError as exc:
        if exc.field != "config.json":
            raise
        # the train config changed since the checkpoints were written: start afresh
        ctx.say("[yellow]train config changed: previous checkpoints discarded[/yellow]")
        result = train(train_clips, ctx.body(), cfg, run_dir=ctx.path("policy"),
                       overwrite=True)
    summary = {"n_train_clips": len(tr), "n_holdout_clips": len(ho)}
    for key in ("steps_per_s", "wall_s"):
        val = getattr(result, key, None)
        if isinstance(val, (int, float)) and np.isfinite(val):
            summary[key] = float(val)
    ctx.say(f"trained on {len(tr)} clips ({len(ho)} held out)")
    return {"outputs": ["policy", "clips.json"], "summary": summary}


def stage_evaluate(ctx: RunContext) -> dict[str, Any]:
    """Deterministic rollouts of the policy on every clip -> ``rollout.h5``."""
    from .imitation import evaluate

    clips = _clips(ctx)
    split = json.loads(ctx.path("clips.json").read_text())
    # save=False: the rollout goes to RUN_DIR/rollout.h5, leaving the train stage's outputs
    # (RUN_DIR/policy) untouched so its manifest stays valid
    roll = evaluate(ctx.path("policy"), clips, body=ctx.body(), holdout=split["holdout"],
                    save=False)
    roll.save(ctx.path("rollout.h5"))
    summary = {}
    errs = getattr(roll, "clip_errors", None)
    if errs is not None:
        summary = {k: float(np.nanmean(v)) for k, v in dict(errs).items()
                   if np.size(v) and np.issubdtype(np.asarray(v).dtype, np.number)}
    ctx.say("evaluated: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()))
    return {"outputs": ["rollout.h5"], "summary": summary}


def stage_report(ctx: RunContext) -> dict[str, Any]:
    """Write ``report.html`` and ``report.json``."""
    from .analysis.report import build_report

    html, js = build_report(ctx.run_dir, ctx.path("report.html"), ctx.path("report.json"),
                            **ctx.config.report)
    ctx.say(f"report: {html}")
    return {"outputs": ["report.html", "report.json"], "summary": {}}


STAGE_FUNCS: dict[str, Callable[[RunContext], dict[str, Any]]] = {
    "load": stage_load, "stac": stage_stac, "train": stage_train,
    "evaluate": stage_evaluate, "report": stage_report,
}


# --------------------------------------------------------------------------- runner
def _manifest_path(run_dir: Path, stage: str) -> Path:
    return run_dir / "manifests" / f"{stage}.json"


def read_manifest(run_dir: Path, stage: str) -> dict[str, Any] | None:
    p = _manifest_path(run_dir, stage)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def _inputs_digest(ctx: RunContext, stage: str) -> str:
    idx = STAGES.index(stage)
    upstream = {}
    for s in STAGES[:idx]:
        m = read_manifest(ctx.run_dir, s)
        upstream[s] = None if m is None else m.get("output_digests")
    src = ctx.source
    source_id = None if isinstance(src, Session) or src is None else str(src)
    if isinstance(src, Session):
        source_id = _digest_obj(src.describe())
    return _digest_obj({"stage": stage, "config": ctx.config.stage_config(stage),
                        "upstream": upstream, "source": source_id if stage == "load" else None})


def _stage_current(ctx: RunContext, stage: str) -> bool:
    m = read_manifest(ctx.run_dir, stage)
    if m is None or m.get("inputs_digest") != _inputs_digest(ctx, stage):
        return False
    for name, dig in (m.get("output_digests") or {}).items():
        p = ctx.path(name)
        if not p.exists() or file_digest(p) != dig:
            return False
    return True


@dataclass
class StageResult:
    stage: str
    status: str  # "ran", "skipped", "failed", "not run"
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run_pipeline(source: Any, run_dir: str | Path, config: RunConfig | None = None, *,
                 stages: tuple[str, ...] = STAGES, from_stage: str | None = None,
                 quiet: bool = False, console: Console | None = None) -> list[StageResult]:
    """Run the stages in order, skipping those whose manifest is current.

    Parameters
    ----------
    source: a local NWB path, ``dandi://`` URI, importer input, or a :class:`Session`; may be
        None when ``RUN_DIR/session.nc`` already exists (reruns).
    run_dir: the run directory (created).
    config: the run configuration (defaults when None; a ``config.yaml`` already in the run
        directory is used when ``config`` is None).
    stages: which stages to run (in pipeline order).
    from_stage: rerun this stage and all after it even if current.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config is None:
        cfg_path = run_dir / "config.yaml"
        config = RunConfig.from_yaml(cfg_path) if cfg_path.exists() else RunConfig()
    if from_stage is not None and from_stage not in STAGES:
        raise ConfigError(f"unknown stage {from_stage!r}", field="--from",
                          expected=f"one of {', '.join(STAGES)}")
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ConfigError(f"unknown stage(s) {bad}", field="stages",
                          expected=f"among {', '.join(STAGES)}")
    write_text_atomic(run_dir / "config.yaml",
                       yaml.safe_dump(config.to_dict(), sort_keys=False))
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("neuroimit")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ctx = RunContext(run_dir, config, source, console or Console(), quiet)
    if source is None and not (run_dir / "session.nc").exists():
        raise ConfigError("no source given and the run directory has no session.nc",
                          file=str(run_dir), field="source")
    results: list[StageResult] = []
    forced = False
    try:
        for stage in STAGES:
            if stage not in stages:
                continue
            forced = forced or stage == from_stage
            if source is None and stage == "load" and (run_dir / "session.nc").exists() \
                    and read_manifest(run_dir, "load") is not None:
                results.append(StageResult(stage, "skipped"))
                continue
            if not forced and _stage_current(ctx, stage):
                results.append(StageResult(stage, "skipped",
                                           summary=(read_manifest(run_dir, stage) or {})
                                           .get("summary", {})))
                ctx.say(f"[dim]{stage}: up to date, skipped[/dim]")
                continue
            # a stage that reruns invalidates everything after it
            forced = True
            _manifest_path(run_dir, stage).unlink(missing_ok=True)
            ctx.say(f"[bold]{stage}[/bold] ...")
            t0 = time.perf_counter()
            out = STAGE_FUNCS[stage](ctx)
            dt = time.perf_counter() - t0
            manifest = {
                "stage": stage,
                "inputs_digest": _inputs_digest(ctx, stage),
                "config": ctx.config.stage_config(stage),
                "seed": config.seed,
                "source": None if isinstance(source, Session) else
                (str(source) if source is not None else None),
                "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - dt)),
                "seconds": round(dt, 3),
                "output_digests": {name: file_digest(ctx.path(name))
                                   for name in out.get("outputs", [])},
                "summary": out.get("summary", {}),
            }
            write_text_atomic(_manifest_path(run_dir, stage),
                               json.dumps(manifest, indent=2, default=str))
            results.append(StageResult(stage, "ran", dt, out.get("summary", {})))
    finally:
        root.removeHandler(handler)
        handler.close()
    return results


def summary_table(results: list[StageResult], run_dir: Path) -> Table:
    t = Table(title=f"neuroimit run: {run_dir}")
    t.add_column("stage")
    t.add_column("status")
    t.add_column("seconds", justify="right")
    t.add_column("summary")
    for r in results:
        summ = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r.summary.items())
        t.add_row(r.stage, r.status, f"{r.seconds:.1f}", summ)
    return t


# --------------------------------------------------------------------------- demo
def demo_config(quick: bool = False) -> RunConfig:
    """The small-budget configuration of ``neuroimit demo`` (``quick``: tests)."""
    train: dict[str, Any] = {}
    try:
        from .imitation import TrainConfig

        if hasattr(TrainConfig, "demo"):
            # the full demo trains 1 M env steps (~1.5 min at ~11,500 steps/s on 2 cores):
            # enough to track the synthetic reaches within a few degrees
            kw = {} if quick else {"total_steps": 1_000_000}
            train = dict(dataclasses.asdict(TrainConfig.demo(quick=quick, **kw)))
    except ImportError:
        pass
    return RunConfig(train=train, clip_seconds=0.5, holdout_fraction=0.25)


def demo_session(seed: int = 0, quick: bool = False) -> Session:
    """The built-in synthetic session of the demo (:func:`neuroimit.synth.demo_session`)."""
    try:
        from .synth import demo_session as synth_demo
    except ImportError:  # generator not installed: a plain minimum-jerk paw reach
        t = np.arange(200) / 200.0
        s = np.clip(t / 0.3, 0, 1)
        mj = 10 * s**3 - 15 * s**4 + 6 * s**5
        paw = np.stack([0.01 * mj, np.zeros_like(t), 0.005 * mj], axis=1)
        return Session(paw[:, None, :], t, ["Paw"], metadata={"session_id": "demo"})
    return synth_demo(seed=seed, duration=3.0 if quick else 6.0)


def available_stages() -> tuple[str, ...]:
    """Stages whose area is installed (the demo runs what the package offers)."""
    import importlib.util

    need = {"load": "neuroimit.session", "stac": "neuroimit.stac.register",
            "train": "neuroimit.imitation.ppo", "evaluate": "neuroimit.imitation.rollout",
            "report": "neuroimit.analysis.report"}
    out = []
    for s in STAGES:
        try:
            ok = importlib.util.find_spec(need[s]) is not None
        except ModuleNotFoundError:
            ok = False
        if not ok:
            break
        out.append(s)
    return tuple(out)


def run_demo(out: str | Path, quick: bool = False, seed: int = 0,
             console: Console | None = None) -> list[StageResult]:
    """``neuroimit demo``: the pipeline on a built-in synthetic session."""
    console = console or Console()
    stages = available_stages()
    if not stages:
        raise DataError("the synthetic session generator is not installed",
                        field="neuroimit.synth")
    sess = demo_session(seed, quick)
    results = run_pipeline(sess, out, demo_config(quick), stages=stages, console=console)
    console.print(summary_table(results, Path(out)))
    if (Path(out) / "report.html").exists():
        console.print(f"report: [bold]{Path(out) / 'report.html'}[/bold]")
    return results
