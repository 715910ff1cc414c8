"""Tutorial 4: the paper's constraint experiment — does penalising energy and control make the
simulated muscles more EMG-like?

    python examples/tutorial_4_constraint_sweep.py -o runs/sweep --seeds 3
    python examples/tutorial_4_constraint_sweep.py --tiny         # seconds, for a first look

Trains presets none / energy / control / energy+control x seeds on the same reaches (a
synthetic session, whose true activations stand in for EMG), scores each variant's simulated
activations against the truth per clip, and compares presets with paired tests.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="tutorial_4")
    ap.add_argument("--presets", default="none,energy,control,energy+control")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)

    from neuroimit.analysis import compare_presets
    from neuroimit.body import load_body
    from neuroimit.imitation import TrainConfig, clips_from_registrations, evaluate, sweep
    from neuroimit.stac import register
    from neuroimit.synth import SynthConfig, make_session

    session = make_session(SynthConfig(duration=args.duration, seed=4))
    body = load_body("mouse_forelimb")
    reg = register(session, body)
    windows = list(zip(session.trials["start_time"], session.trials["stop_time"]))
    clips = clips_from_registrations([reg], windows=windows)
    base = TrainConfig.tiny() if args.tiny else TrainConfig.demo()
    presets = args.presets.split(",")
    table = pd.DataFrame(sweep(out, clips, body, presets=presets, seeds=args.seeds, base=base,
                               progress=not args.tiny))
    print(table.to_string(index=False))

    # per clip and variant: correlation of simulated and true activations
    truth = session.truth["activation"]
    rows = []
    for preset in presets:
        for seed in range(args.seeds):
            roll = evaluate(out / "sweep" / f"{preset}_s{seed}", save=False)
            for c, t in enumerate(roll.time):
                true_a = truth.interp(time=np.asarray(t) - float(t[0]) + windows[c][0]).values
                sim_a = np.asarray(roll.activation[c])
                rs = [np.corrcoef(true_a[:, m], sim_a[:, m])[0, 1]
                      for m in range(true_a.shape[1])
                      if np.std(true_a[:, m]) > 1e-6 and np.std(sim_a[:, m]) > 1e-6]
                rows.append({"preset": preset, "seed": seed, "clip": c,
                             "r": float(np.mean(rs)) if rs else np.nan})
    scores = pd.DataFrame(rows).groupby(["preset", "clip"], as_index=False)["r"].mean()
    comparison = compare_presets(scores.dropna(), "r")
    print(comparison.statement)
    return {"table": table, "scores": scores, "comparison": comparison}


if __name__ == "__main__":
    main(sys.argv[1:])
