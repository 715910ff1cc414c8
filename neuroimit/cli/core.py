"""Core commands: ``info``."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from . import app


@app.command()
def info(
    path: str = typer.Argument(..., help="A saved session (.nc/.h5 from Session.save) or, "
                                         "when loaders are installed, an NWB file or URI."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    keypoint_unit: str = typer.Option(None, "--keypoint-unit", help="True length unit of the "
                                      "keypoints when the file's own unit is wrong (m, cm, mm, "
                                      "um), e.g. legacy files that say 'pixels' for 3D data."),
):
    """Print a readable summary of a session: keypoints, EMG channels, rates, duration, trials."""
    from ..session import Session, load_session_file

    try:
        from ..loaders import load_session  # NWB / DANDI / importers, when available
    except ImportError:
        load_session = None
    if load_session is not None:
        sess = load_session(path, **({"keypoint_unit": keypoint_unit} if keypoint_unit else {}))
    else:
        sess = load_session_file(path)
    assert isinstance(sess, Session)
    summary = sess.describe()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    print_summary(summary)


def print_summary(summary: dict) -> None:
    """Render :meth:`Session.describe` output as a table."""
    con = Console()
    t = Table(title=f"session {summary.get('session_id') or ''}".strip(), show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("source", str(summary.get("source")))
    t.add_row("subject / species", f"{summary.get('subject')} / {summary.get('species')}")
    t.add_row("frames", f"{summary['n_frames']} @ {summary['pose_rate_hz']:g} Hz")
    t.add_row("duration", f"{summary['duration_s']:.3f} s")
    miss = summary.get("missing_fraction", {})
    t.add_row("keypoints", ", ".join(f"{k} ({100 * miss.get(k, 0):.1f}% missing)"
                                     for k in summary["keypoints"]))
    emg = summary.get("emg")
    if emg:
        t.add_row("EMG", f"{len(emg['channels'])} channels @ {emg['rate_hz']:g} Hz, "
                         f"{emg['kind']}, unit {emg['unit']}")
        t.add_row("EMG channels", ", ".join(f"{c} ({m})" for c, m in
                                           zip(emg["channels"], emg["muscles"])))
    else:
        t.add_row("EMG", "none")
    outcomes = summary.get("outcomes")
    t.add_row("trials", f"{summary['n_trials']}" + (f" {outcomes}" if outcomes else ""))
    if summary.get("ground_truth"):
        t.add_row("ground truth", ", ".join(summary["ground_truth"]))
    con.print(t)
