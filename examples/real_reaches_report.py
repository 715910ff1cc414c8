"""The neuroimit report on two real mouse reaches with EMG (Gilmer et al., J Neurophysiol 2025).

Data: ../shared/data/mouse_reach_emg_150hz (public Al-Borno-Lab/mousearm repository): paw,
wrist, shoulder and elbow keypoints at 150 Hz, biceps / triceps long / triceps lateral EMG
envelopes, and the muscle activations their OpenSim optimal-control model predicted for the
same reaches (the peer scored beside ours by the same alignment code).

Steps (each one is skipped, with a message, when its module is not available):
1. both reaches -> one Session (reach 2 placed 1 s after reach 1) -> RUN_DIR/session.nc;
2. STAC registration of the mouse_forelimb body -> RUN_DIR/registration.h5;
3. a short imitation training + evaluation per constraint preset (none, energy+control)
   -> RUN_DIR/sweep/<preset>_s<seed>/imitation/ (policy checkpoints, rollout.h5);
4. the peer's activations on the session time base -> RUN_DIR/peers/gilmer2025.csv (+ .json);
5. build_report -> RUN_DIR/report.html / report.json, and screenshots for docs/img/.

Usage::

    python examples/real_reaches_report.py [--out runs/real_reaches] [--steps 200000]
        [--no-train] [--screenshots docs/img]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mouse_reach_emg_150hz"
GAP_S = 1.0  # reach 2 starts this long after reach 1 on the combined time base


def combined_session(folder: Path):
    """Both reaches as one Session (two trials) and the peer activations on its time base."""
    from neuroimit.analysis.peers import load_gilmer_reach
    from neuroimit.session import EMG, Session

    reaches = [load_gilmer_reach(folder, i) for i in (1, 2)]
    kp, t, et, ed, peer, trials = [], [], [], [], [], []
    for k, g in enumerate(reaches):
        s = g.session
        off = k * GAP_S
        kp.append(s.keypoints)
        t.append(s.time + off)
        et.append(s.emg.time + off)
        ed.append(s.emg.data)
        a = g.activation.copy()
        a.index = a.index + off
        peer.append(a)
        trials.append({"start_time": off, "stop_time": off + float(s.time[-1]),
                       "outcome": "reach", "solver_status": g.solver_status})
    s0 = reaches[0].session
    emg = EMG(np.concatenate(ed), np.concatenate(et), s0.emg.channels, unit="a.u.",
              kind="envelope", source=str(folder))
    sess = Session(np.concatenate(kp), np.concatenate(t), s0.keypoint_names, emg=emg,
                   trials=pd.DataFrame(trials),
                   metadata={"subject": "Gilmer2025", "session_id": "real_reaches",
                             "source": str(folder), "species": "Mus musculus",
                             "note": "two reaches of reachset_1; reach 2 shifted by 1 s"})
    peer_df = pd.concat(peer)
    peer_df.index.name = "time"
    return sess, peer_df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "real_reaches"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--steps", type=int, default=150_000,
                    help="PPO environment steps per preset")
    ap.add_argument("--presets", default="none,energy+control",
                    help="comma-separated constraint presets to train and compare")
    ap.add_argument("--no-train", action="store_true", help="skip imitation training")
    ap.add_argument("--screenshots", default=None,
                    help="folder for report_*.png screenshots (e.g. docs/img)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(args.data)
    if not folder.is_dir():
        print(f"data folder {folder} not found (it exists beside the project's checkout)")
        return 1
    t0 = time.time()
    sess, peer = combined_session(folder)
    sess.save(out / "session.nc")
    print(f"[{time.time() - t0:6.1f} s] session: {sess}")
    (out / "peers").mkdir(exist_ok=True)
    peer.reset_index().to_csv(out / "peers" / "gilmer2025.csv", index=False)
    (out / "peers" / "gilmer2025.json").write_text(json.dumps({
        "label": "Gilmer2025 (OpenSim)",
        "emg_map": {"Biceps": "Biceps_Long_Head", "TriLong": "Triceps_Long_Head",
                    "TriLat": "Triceps_Lat_Head"},
        "reference": "Gilmer et al., J Neurophysiol 133:1266-1278 (2025)"}, indent=1))

    # ---- STAC
    reg = None
    try:
        from neuroimit.stac import StacConfig, register
    except ImportError as exc:
        print(f"STAC not available ({exc}): report without registration")
    else:
        try:
            reg = register(sess, "mouse_forelimb", StacConfig())
        except Exception as exc:  # report what failed, go on with the rest
            print(f"STAC failed ({type(exc).__name__}: {exc}): report without registration")
        else:
            reg.save(out / "registration.h5")
            print(f"[{time.time() - t0:6.1f} s] registration: mean keypoint error "
                  f"{1e3 * reg.mean_error_m:.3f} mm")

    # ---- short imitation training on the two reaches, then rollouts
    if reg is not None and not args.no_train:
        try:
            from neuroimit.imitation import TrainConfig, clips_from_registrations, evaluate, \
                train
        except ImportError as exc:
            print(f"imitation not available ({exc}): report without rollouts")
        else:
            windows = [(float(a), float(b)) for a, b in
                       zip(sess.trials["start_time"], sess.trials["stop_time"])]
            try:
                clips = clips_from_registrations([reg], windows=windows)
            except TypeError:
                clips = clips_from_registrations([reg])
            for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
                vdir = out / "sweep" / f"{preset.replace('+', '_')}_s{args.seed}"
                try:
                    cfg = TrainConfig.demo(preset=preset, total_steps=args.steps,
                                           seed=args.seed)
                    res = train(clips, reg.body(), cfg, vdir, progress=False, overwrite=True)
                    evaluate(res)          # writes vdir/imitation/rollout.h5
                except Exception as exc:
                    print(f"training/evaluation of {preset} failed ({type(exc).__name__}: "
                          f"{exc}): report without it")
                else:
                    print(f"[{time.time() - t0:6.1f} s] {preset}: trained {args.steps} steps, "
                          f"rollout in {vdir / 'imitation' / 'rollout.h5'}")

    from neuroimit.analysis.report import build_report

    html, js = build_report(out, title="neuroimit report: two real mouse reaches "
                                       "(Gilmer et al. 2025 data)", seed=args.seed)
    print(f"[{time.time() - t0:6.1f} s] report: {html}\n                numbers: {js}")
    rep = json.loads(js.read_text())
    for src, a in rep["sections"]["emg"].get("numbers", {}).get("alignment", {}).items():
        rows = ", ".join(f"{r['channel']} r={r['r']:.3f} (lag {1e3 * r['lag_s']:.0f} ms, "
                         f"zero-lag {r['r_zero_lag']:.3f})" for r in a["per_muscle"]
                         if r.get("r") is not None)
        print(f"  {src}: {rows}")
    if args.screenshots:
        from neuroimit.analysis.browser import find_chromium, screenshot

        if find_chromium() is None:
            print("no Chromium: screenshots skipped")
        else:
            shots = Path(args.screenshots)
            p = screenshot(html, shots / "report_top.png", width=1100, height=1500)
            print(f"screenshot: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
