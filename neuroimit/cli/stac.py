"""``neuroimit stac``: register a body model to a session's keypoints (calls neuroimit.stac)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from . import app


def _read_mapping(text: str | None, what: str) -> dict | None:
    """A JSON/YAML mapping given inline or as a file path."""
    if not text:
        return None
    import yaml

    from ..errors import ConfigError

    p = Path(text)
    src = p.read_text() if p.exists() else text
    try:
        data = yaml.safe_load(src)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse ({exc})", file=str(p) if p.exists() else None,
                          field=what, expected="a JSON or YAML mapping") from None
    if not isinstance(data, dict):
        raise ConfigError(f"is a {type(data).__name__}", file=str(p) if p.exists() else None,
                          field=what, expected="a JSON or YAML mapping")
    return data


@app.command()
def stac(
    session: str = typer.Argument(..., help="Session: .nwb, saved session (.nc), stac .h5 "
                                            "clip, CSV, dandi:// ... (anything load_session "
                                            "reads)."),
    out: Path = typer.Option(..., "-o", "--out", help="Run directory for the outputs."),
    body: str = typer.Option("mouse_forelimb", "--body",
                             help="Built-in body name or a path to an MJCF .xml file."),
    keypoint_map: Optional[str] = typer.Option(
        None, "--keypoint-map", help="Keypoint -> site map: JSON/YAML text or file."),
    config: Optional[str] = typer.Option(
        None, "--config", help="StacConfig settings: JSON/YAML text or file (see docs/stac.md)."),
    html: bool = typer.Option(False, "--html", help="Also write registration_report.html."),
    stac_mjx: bool = typer.Option(False, "--stac-mjx",
                                  help="Also write the stac-mjx layout (stac_mjx.h5)."),
    nwb: Optional[Path] = typer.Option(None, "--nwb", help="Write an NWB copy of the source "
                                       "with a stac_registration processing module here."),
):
    """Register a body to the keypoints (STAC): writes registration.h5 + a report figure."""
    from rich.console import Console

    from ..stac import StacConfig, register
    from ..stac.report import registration_report

    con = Console(stderr=True)
    try:
        from ..loaders import load_session
    except ImportError:  # loaders not installed: saved sessions only
        from ..session import load_session_file as load_session
    sess = load_session(session)
    cfg = StacConfig.from_dict(_read_mapping(config, "--config") or {})
    kmap = _read_mapping(keypoint_map, "--keypoint-map")
    with con.status("registering (STAC)..."):
        reg = register(sess, body, cfg, keypoint_map=kmap, progress=False)
    out.mkdir(parents=True, exist_ok=True)
    reg.save(out / "registration.h5")
    registration_report(reg, out / "registration_report.png")
    written = ["registration.h5", "registration_report.png"]
    if html:
        registration_report(reg, out / "registration_report.html")
        written.append("registration_report.html")
    if stac_mjx:
        reg.to_stac_mjx(out / "stac_mjx.h5")
        written.append("stac_mjx.h5")
    if nwb is not None:
        from ..errors import ConfigError
        from ..loaders.export import add_registration

        if not str(session).lower().endswith(".nwb"):
            raise ConfigError(f"--nwb needs an NWB source, got {session!r}", field="--nwb",
                              expected="SESSION to be a local .nwb file")

        add_registration(session, reg, nwb, overwrite=True)
        written.append(str(nwb))
    s = reg.summary()
    typer.echo(f"registered {s['n_frames']} frames: mean keypoint error "
               f"{s['mean_error_mm']:.3f} mm ("
               + ", ".join(f"{k} {v:.3f}" for k, v in s["error_mm_per_keypoint"].items())
               + f"); frames at a joint limit {100 * reg.info['frames_at_limit']:.1f}%; "
               f"{reg.info['timings']['total_s']:.2f} s")
    typer.echo(f"scales {json.dumps({k: round(v, 4) for k, v in reg.segment_scales.items()})}; "
               f"wrote {', '.join(written)} in {out}")
