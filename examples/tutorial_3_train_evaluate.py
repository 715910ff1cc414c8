"""Tutorial 3: train an imitation policy on registered reaches and evaluate it.

    python examples/tutorial_3_train_evaluate.py path/to/session.nwb -o runs/m1
    python examples/tutorial_3_train_evaluate.py                 # synthetic session

Loads the session, registers the forelimb (STAC), cuts one reference clip per trial, trains
a PPO policy that drives the 13 muscles to reproduce the reaches, and evaluates tracking on the
training clips and on held-out clips. On synthetic data it also scores the simulated muscle
activations against the ground-truth activations.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", help="NWB path, dandi:// URI or saved session")
    ap.add_argument("-o", "--out", default="tutorial_3")
    ap.add_argument("--preset", default="energy+control",
                    help="none, energy, control or energy+control")
    ap.add_argument("--duration", type=float, default=8.0, help="synthetic session (s)")
    ap.add_argument("--tiny", action="store_true", help="a few iterations (tests)")
    args = ap.parse_args(argv)
    out = Path(args.out)

    from neuroimit.body import load_body
    from neuroimit.imitation import TrainConfig, clips_from_registrations, evaluate, train
    from neuroimit.pipeline import _split
    from neuroimit.stac import register

    if args.source:
        from neuroimit.loaders import load_session

        session = load_session(args.source)
    else:
        from neuroimit.synth import SynthConfig, make_session

        session = make_session(SynthConfig(duration=args.duration, seed=2))
    body = load_body("mouse_forelimb")
    reg = register(session, body)
    windows = list(zip(session.trials["start_time"], session.trials["stop_time"]))
    clips = clips_from_registrations([reg], windows=windows or None)
    train_idx, held_idx = _split(len(clips), 0.25, seed=0)
    cfg = (TrainConfig.tiny if args.tiny else TrainConfig.demo)(preset=args.preset)
    train([clips[i] for i in train_idx], body, cfg, out, overwrite=True,
          held_out=[clips[i] for i in held_idx])
    roll = evaluate(out)
    err = roll.errors
    held = np.asarray(roll.held_out, bool)
    result = {"n_clips": len(clips), "n_held_out": int(held.sum()),
              "joint_err_deg": float(np.mean(err["joint_err_deg"])),
              "paw_err_mm": float(np.mean(err["paw_err_m"]) * 1e3),
              "effort": float(np.mean(err["effort"]))}
    if held.any():
        result["held_out_joint_err_deg"] = float(np.mean(np.asarray(err["joint_err_deg"])[held]))
    print(f"{len(clips)} clips ({int(held.sum())} held out); preset {args.preset}")
    print(f"mean joint-angle error {result['joint_err_deg']:.2f} deg, paw error "
          f"{result['paw_err_mm']:.2f} mm, effort (mean activation^2) {result['effort']:.4f}")
    if session.truth is not None and "activation" in session.truth:
        # simulated vs true activation per muscle, on the clip time bases
        truth = session.truth["activation"]
        r = []
        for c, t in enumerate(roll.time):
            true_a = truth.interp(time=np.asarray(t) + float(windows[c][0]) - float(t[0])
                                  if windows else np.asarray(t)).values
            sim_a = np.asarray(roll.activation[c])
            for m in range(min(true_a.shape[1], sim_a.shape[1])):
                if np.std(true_a[:, m]) > 1e-6 and np.std(sim_a[:, m]) > 1e-6:
                    r.append(np.corrcoef(true_a[:, m], sim_a[:, m])[0, 1])
        result["activation_r_vs_truth"] = float(np.nanmean(r)) if r else float("nan")
        print(f"simulated vs ground-truth activation: mean r {result['activation_r_vs_truth']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
