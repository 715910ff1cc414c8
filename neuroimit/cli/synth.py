"""``neuroimit synth``: write a synthetic reaching session (NWB, or a saved session .nc)."""
from __future__ import annotations

import typer

from . import app


@app.command()
def synth(
    out: str = typer.Option(..., "-o", "--out", help="Output file: .nwb (NWB with ground truth) "
                                                     "or .nc/.h5 (neuroimit Session.save)."),
    duration: float = typer.Option(10.0, "--duration", help="Session length (s)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same session)."),
    pose_rate: float = typer.Option(200.0, "--pose-rate", help="Keypoint frame rate (Hz)."),
    emg_rate: float = typer.Option(2000.0, "--emg-rate", help="Raw EMG rate (Hz)."),
    noise_m: float = typer.Option(2e-4, "--noise", help="Keypoint noise s.d. (m)."),
    missing_fraction: float = typer.Option(0.02, "--missing", help="Fraction of missing "
                                                                    "frames per keypoint."),
    offset_sd_m: float = typer.Option(0.0, "--offset-sd", help="True keypoint offset s.d. (m)."),
    scale_sd: float = typer.Option(0.0, "--scale-sd", help="True segment scale s.d."),
    emg_delay_s: float = typer.Option(0.015, "--emg-delay", help="Electromechanical delay (s)."),
    body: str = typer.Option("mouse_forelimb", "--body", help="Body model name or MJCF path."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar or summary."),
):
    """Generate a synthetic reaching session with known ground truth and write it."""
    from pathlib import Path

    from ..errors import DataError
    from ..synth import SynthConfig, make_session
    from .core import print_summary

    cfg = SynthConfig(duration=duration, seed=seed, pose_rate=pose_rate, emg_rate=emg_rate,
                      noise_m=noise_m, missing_fraction=missing_fraction,
                      offset_sd_m=offset_sd_m, scale_sd=scale_sd, emg_delay_s=emg_delay_s,
                      body=body)
    path = Path(out)
    if path.exists() and not overwrite:
        raise DataError("file already exists", file=str(path),
                        expected="a new path, or --overwrite")
    sess = make_session(cfg, progress=not quiet)
    if path.suffix.lower() == ".nwb":
        from ..loaders.nwb_write import write_nwb

        write_nwb(sess, path, overwrite=overwrite)
    else:
        sess.save(path)
    if not quiet:
        print_summary(sess.describe())
        typer.echo(f"wrote {path}")
