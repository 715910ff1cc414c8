"""Tutorial 1: load a session (DANDI, URL or local NWB) and look at it.

    python examples/tutorial_1_load_session.py dandi://000XXX/sub-M1/sub-M1_ses-1.nwb
    python examples/tutorial_1_load_session.py path/to/session.nwb
    python examples/tutorial_1_load_session.py            # a synthetic session written to NWB

Prints the session summary and saves a figure of the keypoint traces and the EMG.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", help="NWB path, dandi:// URI or URL")
    ap.add_argument("-o", "--out", default="tutorial_1", help="output folder")
    ap.add_argument("--trial", type=int, default=0, help="trial to plot")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuroimit.loaders import load_session

    source = args.source
    if source is None:  # no data at hand: write a synthetic session as NWB first
        from neuroimit.synth import SynthConfig, write_synthetic_nwb

        source = str(write_synthetic_nwb(out / "synthetic.nwb", SynthConfig(duration=3.0),
                                         overwrite=True))
    session = load_session(source)
    print(session)
    summary = session.describe()
    print(json.dumps(summary, indent=1, default=str))

    trial = session.select_trial(args.trial) if len(session.trials) else session
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for k, name in enumerate(trial.keypoint_names):
        axes[0].plot(trial.time, trial.keypoints[:, k, 0] * 1e3, label=name)
    axes[0].set_ylabel("x (mm)")
    axes[0].legend(fontsize=7)
    if trial.emg is not None:
        for c, ch in enumerate(trial.emg.channels):
            axes[1].plot(trial.emg.time, trial.emg.data[:, c], lw=0.5, label=ch)
        axes[1].set_ylabel(f"EMG ({trial.emg.unit})")
        axes[1].legend(fontsize=7)
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out / "session.png", dpi=120)
    print(f"figure: {out / 'session.png'}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
