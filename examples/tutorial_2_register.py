"""Tutorial 2: register the forelimb model to a session's keypoints (STAC) and check quality.

    python examples/tutorial_2_register.py path/to/session.nwb -o runs/m1
    python examples/tutorial_2_register.py                  # on a synthetic session

Prints the mean and per-keypoint error; on synthetic data also the joint-angle error against
the ground truth. Saves the registration (HDF5 and the stac-mjx layout).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", help="NWB path, dandi:// URI, saved session (.nc)")
    ap.add_argument("-o", "--out", default="tutorial_2")
    ap.add_argument("--duration", type=float, default=4.0, help="synthetic session length (s)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from neuroimit.body import load_body
    from neuroimit.stac import StacConfig, register

    if args.source:
        from neuroimit.loaders import load_session

        session = load_session(args.source)
    else:
        from neuroimit.synth import SynthConfig, make_session

        session = make_session(SynthConfig(duration=args.duration, seed=1))
    body = load_body("mouse_forelimb")
    reg = register(session, body, StacConfig())
    result = {"mean_error_mm": reg.mean_error_m * 1e3,
              "per_keypoint_mm": {k: v * 1e3 for k, v in reg.error_per_keypoint().items()},
              "segment_scales": dict(reg.segment_scales)}
    print(f"mean keypoint error {result['mean_error_mm']:.3f} mm")
    for k, v in result["per_keypoint_mm"].items():
        print(f"  {k:10s} {v:.3f} mm")
    if session.truth is not None and "qpos" in session.truth:
        true_q = session.truth["qpos"].values
        err = np.degrees(np.sqrt(np.nanmean((reg.qpos - true_q) ** 2, axis=0)))
        result["joint_rmse_deg"] = dict(zip(reg.qpos_names, map(float, err)))
        print("joint-angle RMSE vs ground truth (deg):",
              ", ".join(f"{n} {e:.2f}" for n, e in result["joint_rmse_deg"].items()))
    reg.save(out / "registration.h5")
    reg.to_stac_mjx(out / "registration_stac_mjx.h5")
    print(f"saved {out / 'registration.h5'} and the stac-mjx layout beside it")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
