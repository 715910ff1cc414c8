"""Pipeline commands: ``demo`` (and, later, ``run``, ``batch``, ``config``)."""
from __future__ import annotations

import typer

from . import app


@app.command()
def demo(
    out: str = typer.Option("demo_run", "-o", "--out", help="Run directory to write."),
    quick: bool = typer.Option(False, "--quick", help="Smallest budget (used by the tests)."),
):
    """Run the whole pipeline on a built-in synthetic session and print where the results are."""
    from ..pipeline import run_demo

    run_demo(out, quick=quick)
