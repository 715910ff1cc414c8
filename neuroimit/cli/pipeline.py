"""Pipeline commands: ``run``, ``demo``, ``config``, ``batch``."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import app


def _results_json(results) -> str:
    return json.dumps([{"stage": r.stage, "status": r.status, "seconds": round(r.seconds, 3),
                        "summary": r.summary} for r in results], indent=2, default=str)


@app.command()
def run(
    source: Optional[str] = typer.Argument(None, help="Local NWB, dandi:// URI, http(s) URL or "
                                           "importer input; omit to rerun RUN_DIR."),
    out: Path = typer.Option(..., "-o", "--out", help="Run directory."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config "
                                          "(see `neuroimit config --default`)."),
    from_stage: Optional[str] = typer.Option(None, "--from", help="Rerun from this stage on: "
                                             "load, stac, train, evaluate, report."),
    only: Optional[str] = typer.Option(None, "--stages", help="Comma-separated stages to run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final table."),
    as_json: bool = typer.Option(False, "--json", help="Print the stage results as JSON."),
):
    """Run load -> stac -> train -> evaluate -> report for one session (skips finished stages)."""
    from ..config import STAGES, RunConfig
    from ..pipeline import run_pipeline, summary_table

    cfg = RunConfig.from_yaml(config) if config else None
    stages = tuple(s.strip() for s in only.split(",")) if only else STAGES
    con = Console(quiet=quiet or as_json)
    # with --json, stdout carries only the JSON: progress bars of the stages go to stderr
    with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
        results = run_pipeline(source, out, cfg, stages=stages, from_stage=from_stage,
                               quiet=quiet or as_json, console=con)
    if as_json:
        typer.echo(_results_json(results))
    else:
        Console().print(summary_table(results, out))


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_run"), "-o", "--out", help="Run directory to write."),
    quick: bool = typer.Option(False, "--quick", help="Smallest budget (used by the tests)."),
    seed: int = typer.Option(0, help="Seed of the synthetic session and of training."),
):
    """Run the whole pipeline on a built-in synthetic session and print where the results are."""
    from ..pipeline import run_demo

    run_demo(out, quick=quick, seed=seed)


@app.command("config")
def config_cmd(
    default: bool = typer.Option(False, "--default", help="Print the default run config."),
    check: Optional[Path] = typer.Option(None, "--check", help="Validate a config file."),
):
    """Print the default run configuration (YAML, every field documented) or check a file."""
    from ..config import RunConfig, default_yaml

    if check is not None:
        RunConfig.from_yaml(check)
        typer.echo(f"{check}: ok")
        return
    typer.echo(default_yaml(), nl=False)


@app.command()
def batch(
    source: str = typer.Argument(..., help="dandi://<dandiset>[@version], a folder of NWB "
                                 "files, or one source."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (one run per session)."),
    select: Optional[str] = typer.Option(None, "--select", help="Glob on asset paths, e.g. "
                                         "'sub-*'."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running "
                                            "dask.distributed scheduler (default: a local "
                                            "cluster)."),
    workers: int = typer.Option(2, "--workers", help="Local cluster workers."),
):
    """Run the pipeline over many sessions on Dask; failures are recorded, not fatal."""
    from ..batch import run_batch
    from ..config import RunConfig

    cfg = RunConfig.from_yaml(config) if config else None
    res = run_batch(source, out, select=select, config=cfg, scheduler=scheduler,
                    n_workers=workers)
    n_fail = len(res.failed)
    typer.echo(f"{len(res.status) - n_fail} done, {n_fail} failed; summary: "
               f"{out / 'batch_summary.csv'}")
    if n_fail == len(res.status):
        raise typer.Exit(1)
