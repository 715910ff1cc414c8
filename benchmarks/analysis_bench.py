"""Analysis benchmarks: EMG processing, alignment, preset comparison, report build time.

Prints one line per figure; results go into the "Analysis and report" section of
docs/benchmarks.md.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timeit(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    from neuroimit.analysis import EMGConfig, align, compare_presets, process_emg
    from neuroimit.session import EMG

    rng = np.random.default_rng(0)
    # 8 channels x 600 s of raw EMG at 2 kHz -> envelopes on a 200 Hz time base
    fs, dur, C = 2000.0, 600.0, 8
    t = np.arange(int(fs * dur)) / fs
    emg = EMG(rng.standard_normal((t.size, C)) * 1e-4, t, [f"ch{i}" for i in range(C)])
    kin_t = np.arange(0, dur, 1 / 200.0)
    s, env = timeit(lambda: process_emg(emg, EMGConfig(), time=kin_t), repeat=2)
    n = t.size * C
    print(f"process_emg: {C} ch x {dur:g} s @ {fs:g} Hz ({n / 1e6:.1f} M samples) -> 200 Hz: "
          f"{s:.2f} s ({n / s / 1e6:.1f} M samples/s)")
    # alignment: 13 muscles vs 8 channels, 100 clips of 0.5 s at 200 Hz, lag search + CV ridge
    T = 100 * 100
    sim = pd.DataFrame(rng.random((T, 13)), columns=[f"m{i}" for i in range(13)])
    E = pd.DataFrame(rng.random((T, C)), columns=[f"ch{i}" for i in range(C)])
    clips = np.repeat(np.arange(100), 100)
    mapping = {f"ch{i}": f"m{i}" for i in range(C)}
    s, _ = timeit(lambda: align(sim, E, rate=200.0, clips=clips, mapping=mapping), repeat=2)
    print(f"align: 13 muscles vs {C} channels, 100 clips x 100 frames, 11 lags + 5-fold CV "
          f"ridge: {s:.2f} s")
    rows = [{"preset": p, "clip": c, "r": rng.random()} for p in ("none", "energy", "control",
                                                                   "energy+control")
            for c in range(50)]
    s, _ = timeit(lambda: compare_presets(pd.DataFrame(rows), "r", n_boot=2000), repeat=1)
    print(f"compare_presets: 4 presets x 50 clips, 2000 bootstrap resamples, mixed model: "
          f"{s:.2f} s")
    from test_report import make_tiny_run

    from neuroimit.analysis.report import build_report
    with tempfile.TemporaryDirectory() as d:
        root = make_tiny_run(Path(d) / "run")
        t0 = time.perf_counter()
        html, js = build_report(root, causal=False)
        t1 = time.perf_counter()
        build_report(root)
        t2 = time.perf_counter()
        print(f"build_report (tiny run: 4 clips, 2 presets + 1 peer, 3 EMG ch): "
              f"{t1 - t0:.1f} s without the causal section, {t2 - t1:.1f} s with it; "
              f"HTML {html.stat().st_size / 1e6:.2f} MB, JSON {js.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
