"""Imitation commands: ``train``, ``evaluate``, ``sweep`` (logic in neuroimit.imitation)."""
from __future__ import annotations

from pathlib import Path

import typer

from . import app


def _clips_and_body(run_dir: Path, clips: str | None, rate: float, held_out: int, seed: int):
    """Reference clips (+ held-out split) and the body for a run folder.

    clips: a stac-mjx .h5 file / folder of them; default: RUN_DIR/registration.h5 (STAC).
    """
    from ..imitation import clips_from_registrations, load_stac_h5_clips, split_clips

    body = None
    if clips is None:
        reg_path = run_dir / "registration.h5"
        if not reg_path.exists():
            from ..errors import DataError
            raise DataError("no reference clips", file=str(run_dir), field="registration.h5",
                            expected="run `neuroimit stac` first or pass --clips")
        from ..stac import Registration
        reg = Registration.load(reg_path)
        cl = clips_from_registrations([reg], control_rate=None)
        body = reg.body()
    else:
        cl = load_stac_h5_clips(clips, rate=rate, control_rate=None)
    if body is None:
        from ..body import load_body
        body = load_body("mouse_forelimb")
    train_c, held = (split_clips(cl, held_out, seed) if held_out else (cl, []))
    return train_c, held, body


@app.command()
def train(
    run_dir: Path = typer.Argument(..., help="Run folder (outputs in RUN_DIR/imitation)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint."),
    preset: str = typer.Option("none", help="Constraint preset: none, energy, control, "
                                            "energy+control."),
    energy: float = typer.Option(None, "--energy", help="Energy weight (overrides preset)."),
    ctrl: float = typer.Option(None, "--ctrl", help="Control (u^2) weight (overrides preset)."),
    ctrl_change: float = typer.Option(None, "--ctrl-change", help="Control-change weight."),
    clips: str = typer.Option(None, help="stac-mjx .h5 file or folder (default: "
                                         "RUN_DIR/registration.h5)."),
    rate: float = typer.Option(200.0, help="Frame rate of --clips files (Hz)."),
    held_out: int = typer.Option(0, help="Clips kept out of training for evaluation."),
    total_steps: int = typer.Option(None, help="Environment steps (default: config's)."),
    n_envs: int = typer.Option(None, help="Parallel environments."),
    policy: str = typer.Option("intention", help="intention | mlp"),
    backend: str = typer.Option("auto", help="auto | cpu | mjx"),
    seed: int = typer.Option(0),
    demo: bool = typer.Option(False, "--demo", help="Small budget (~2-4 min on CPU)."),
):
    """Train an imitation policy with PPO (checkpoints, metrics.csv, TensorBoard)."""
    from ..imitation import TrainConfig
    from ..imitation import train as do_train

    kw = dict(preset=preset, policy=policy, backend=backend, seed=seed)
    if total_steps is not None:
        kw["total_steps"] = total_steps
    if n_envs is not None:
        kw["n_envs"] = n_envs
    cfg = TrainConfig.demo(**kw) if demo else TrainConfig(**kw)
    cfg = cfg.with_weights(energy=energy, ctrl=ctrl, ctrl_change=ctrl_change)
    tc, hc, body = _clips_and_body(run_dir, clips, rate, held_out, seed)
    res = do_train(tc, body, cfg, run_dir, resume=resume, held_out=hc)
    typer.echo(f"trained {cfg.n_iters} iterations; {res.steps_per_s:,.0f} env-steps/s; "
               f"outputs in {run_dir / 'imitation'}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="Run folder with a trained policy."),
    nwb: Path = typer.Option(None, help="Also add the rollout to this NWB file "
                                        "(written as <name>_rollout.nwb)."),
):
    """Deterministic rollouts on every clip: rollout.h5 + evaluation.csv."""
    from ..imitation import evaluate as do_eval

    roll = do_eval(run_dir, nwb=nwb)
    for k, v in roll.summary().items():
        typer.echo(f"{k}: {v:.6g}")


@app.command()
def sweep(
    run_dir: Path = typer.Argument(..., help="Run folder (variants in RUN_DIR/sweep)."),
    presets: str = typer.Option("none,energy,control,energy+control"),
    seeds: int = typer.Option(3),
    clips: str = typer.Option(None, help="stac-mjx .h5 file or folder."),
    rate: float = typer.Option(200.0),
    held_out: int = typer.Option(0),
    total_steps: int = typer.Option(None),
    demo: bool = typer.Option(False, "--demo", help="Small budget per variant."),
):
    """Train every preset x seed and write RUN_DIR/sweep/table.csv."""
    from ..imitation import TrainConfig
    from ..imitation import sweep as do_sweep

    kw = {} if total_steps is None else dict(total_steps=total_steps)
    base = TrainConfig.demo(**kw) if demo else TrainConfig(**kw)
    tc, hc, body = _clips_and_body(run_dir, clips, rate, held_out, 0)
    rows = do_sweep(run_dir, tc, body, [p.strip() for p in presets.split(",") if p.strip()],
                    seeds, base, held_out=hc)
    for r in rows:
        typer.echo(f"{r['preset']:>15s} seed {r['seed']}: joint {r['train_joint_err_deg']:.2f} "
                   f"deg, paw {1e3 * r['train_paw_err_m']:.2f} mm, effort "
                   f"{r['train_effort']:.4f}")
