"""Loader commands: ``fetch``, ``convert``, ``ls`` (alias ``list``). Logic lives in
:mod:`neuroimit.loaders`."""
from __future__ import annotations

import json
import logging
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import app


def _names(text: Optional[str]) -> Optional[list[str]]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _show_notes() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("neuroimit.loaders").setLevel(logging.INFO)


@app.command()
def fetch(
    source: str = typer.Argument(..., help="dandi://<id>[@<version>]/<path>, a DANDI or "
                                           "http(s) URL."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir",
                                            help="Cache folder (default $NEUROIMIT_CACHE or "
                                                 "~/.cache/neuroimit)."),
    offline: bool = typer.Option(False, "--offline", help="Use only the cache."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="DANDI API URL."),
):
    """Download a remote session into the cache (verified by size and digest); print its
    path. The DANDI token, for embargoed data, comes from $DANDI_API_KEY."""
    from ..loaders import fetch as _fetch

    typer.echo(str(_fetch(source, cache_dir=cache_dir, offline=offline, api_url=api_url)))


@app.command()
def convert(
    source: str = typer.Argument(..., help="NWB, stac .h5 clip, CSV keypoints, URL, dandi://"),
    out: str = typer.Option(..., "-o", "--out", help="Output .nwb file."),
    rate: Optional[float] = typer.Option(None, "--rate", help="Pose rate (Hz) when the "
                                         "source stores none (stac clips, CSV without time)."),
    keypoint_names: Optional[str] = typer.Option(None, "--keypoint-names",
                                                 help="Comma-separated keypoint names."),
    keypoint_unit: Optional[str] = typer.Option(None, "--keypoint-unit",
                                                help="True keypoint unit: m, cm, mm, um."),
    emg: Optional[str] = typer.Option(None, "--emg", help="CSV of EMG (one column per "
                                      "muscle) to attach, or the EMG object in an NWB file."),
    emg_rate: Optional[float] = typer.Option(None, "--emg-rate", help="EMG rate (Hz); "
                                             "default: the samples span the pose."),
    emg_channels: Optional[str] = typer.Option(None, "--emg-channels",
                                               help="Comma-separated EMG channel names."),
    emg_kind: Optional[str] = typer.Option(None, "--emg-kind", help="raw or envelope."),
    pose: Optional[str] = typer.Option(None, "--pose", help="Pose object to read."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Run nwbinspector on the output (critical = error)."),
):
    """Convert a source into a standard NWB file (ndx-pose pose, EMG, trials)."""
    from ..loaders.convert import convert as _convert

    _show_notes()
    path = _convert(source, out, overwrite=overwrite, check=check, rate=rate,
                    keypoint_names=_names(keypoint_names), keypoint_unit=keypoint_unit,
                    emg=emg, emg_rate=emg_rate, emg_channels=_names(emg_channels),
                    emg_kind=emg_kind, pose=pose)
    typer.echo(str(path))


def _ls(dandiset: str, api_url: Optional[str], probe: bool, as_json: bool) -> None:
    from ..loaders import list_sessions

    df = list_sessions(dandiset, api_url=api_url, probe=probe)
    if as_json:
        typer.echo(json.dumps(df.to_dict(orient="records"), indent=2, default=str))
        return
    t = Table(title=f"{dandiset}: {len(df)} NWB assets")
    for c in ("path", "subject", "session", "size", "pose", "emg", "trials"):
        t.add_column(c)
    mark = {True: "yes", False: "no", None: "?"}
    for r in df.itertuples():
        t.add_row(r.path, str(r.subject), str(r.session), f"{r.size / 1e6:.1f} MB",
                  *(mark.get(v if v is None else bool(v), "?")
                    for v in (r.pose, r.emg, r.trials)))
    Console().print(t)


@app.command("ls")
def ls(
    dandiset: str = typer.Argument(..., help="dandi://<id>[@<version>] or a dandiset URL."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="DANDI API URL."),
    probe: bool = typer.Option(False, "--probe", help="Read each file's structure (streamed, "
                               "a few KB each) instead of trusting the metadata."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """List a dandiset's NWB sessions: subject, session, size, pose / EMG / trials."""
    _ls(dandiset, api_url, probe, as_json)


@app.command("list", hidden=True)
def list_cmd(
    dandiset: str = typer.Argument(..., help="dandi://<id>[@<version>] or a dandiset URL."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="DANDI API URL."),
    probe: bool = typer.Option(False, "--probe", help="Read each file's structure."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Alias of ``ls``."""
    _ls(dandiset, api_url, probe, as_json)
