"""``neuroimit report RUN_DIR``: the HTML + JSON report of a run (logic in neuroimit.analysis)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Run directory (session.nc, registration.h5, "
                                             "rollout.h5, ...; see docs/report.md)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="HTML file (default RUN_DIR/report.html)."),
    json_path: Optional[Path] = typer.Option(None, "--json",
                                             help="JSON file with every number shown "
                                                  "(default: beside the HTML)."),
    signal: str = typer.Option("activation", help="Simulated signal aligned with EMG: "
                                                  "activation, excitation or force."),
    causal: bool = typer.Option(True, "--causal/--no-causal",
                                help="Run the causal (dynamics) section."),
    seed: int = typer.Option(0, help="Seed of every random step."),
):
    """Write one self-contained HTML report (figures embedded) and a JSON of its numbers."""
    from ..analysis.report import build_report

    html, js = build_report(run_dir, output, json_path, signal=signal, causal=causal, seed=seed)
    typer.echo(f"report: {html}")
    typer.echo(f"numbers: {js}")
