"""Loader benchmark: what one trial costs from a ~200 MB remote NWB file.

Builds a synthetic session (4 keypoints at 200 Hz, 3 raw EMG channels at 10 kHz, 1 s
trials every 5 s) of about 200 MB as NWB, serves it from the tests' Range-capable HTTP
server on 127.0.0.1, and prints:

* bytes transferred to stream one trial's pose + EMG (default 64 KiB blocks), as a share
  of the file, and the wall time;
* the same trial again: bytes and requests (the block cache should answer everything);
* a whole-file verified download, and loading the trial from local disk, for comparison.

Run: ``.venv/bin/python benchmarks/loaders_bench.py [--mb 200]``
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from http_range_server import RangeServer  # noqa: E402

from neuroimit.loaders import HTTPConfig, download, load_session  # noqa: E402
from neuroimit.loaders.nwb_write import write_nwb  # noqa: E402
from neuroimit.session import EMG, Session  # noqa: E402


def big_session(mb: float, seed: int = 0) -> Session:
    """A session whose NWB file is about ``mb`` megabytes (EMG dominates)."""
    rate, emg_rate, ch = 200.0, 10_000.0, 3
    per_s = rate * 4 * 4 * 8 + emg_rate * ch * 8  # pose+confidence, EMG (float64)
    dur = int(mb * 1e6 / per_s)
    r = np.random.default_rng(seed)
    t = np.arange(int(dur * rate)) / rate
    kp = 0.01 * r.standard_normal((t.size, 4, 3))
    te = np.arange(int(dur * emg_rate)) / emg_rate
    emg = EMG(1e-4 * r.standard_normal((te.size, ch)), te, ["Biceps", "TriLong", "TriLat"],
              unit="V", kind="raw")
    starts = np.arange(1.0, dur - 2.0, 5.0)
    trials = pd.DataFrame({"start_time": starts, "stop_time": starts + 1.0,
                           "outcome": ["hit"] * starts.size})
    return Session(kp, t, ["Shoulder", "Elbow", "Wrist", "Paw"], None, emg, trials,
                   {"subject": "bench", "session_id": "bench"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--trial", type=int, default=57)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t0 = time.perf_counter()
        s = big_session(args.mb)
        path = write_nwb(s, d / "big.nwb")
        data = path.read_bytes()
        size = len(data)
        print(f"file: {size / 1e6:.1f} MB, {s.n_frames} frames, "
              f"{s.emg.data.shape[0]} EMG samples, {len(s.trials)} trials "
              f"(built in {time.perf_counter() - t0:.1f} s)")
        with RangeServer({"/big.nwb": data}) as srv:
            url = srv.url("/big.nwb")
            cache = d / "cache"
            t0 = time.perf_counter()
            one = load_session(url, cache_dir=cache, trial=args.trial)
            dt = time.perf_counter() - t0
            b1, r1 = srv.bytes_served(), len(srv.requests)
            print(f"stream trial {args.trial} ({one.n_frames} frames, "
                  f"{one.emg.data.shape[0]} EMG samples): {b1 / 1e6:.3f} MB in {r1} requests "
                  f"= {100 * b1 / size:.2f}% of the file, {dt:.2f} s")
            t0 = time.perf_counter()
            again = load_session(url, cache_dir=cache, trial=args.trial)
            dt2 = time.perf_counter() - t0
            b2, r2 = srv.bytes_served() - b1, len(srv.requests) - r1
            assert np.array_equal(again.emg.data, one.emg.data)
            print(f"same trial again: {b2} bytes in {r2} requests, {dt2:.2f} s")
            srv.reset_counts()
            t0 = time.perf_counter()
            local = download(url, d / "dl" / "big.nwb", size=size,
                             digest={"dandi:sha2-256": hashlib.sha256(data).hexdigest()},
                             cfg=HTTPConfig())
            dt3 = time.perf_counter() - t0
            print(f"verified download (sha-256): {srv.bytes_served() / 1e6:.1f} MB, "
                  f"{dt3:.2f} s ({size / 1e6 / dt3:.0f} MB/s on loopback)")
        t0 = time.perf_counter()
        disk = load_session(local, trial=args.trial)
        dt4 = time.perf_counter() - t0
        assert np.array_equal(disk.keypoints, one.keypoints)
        assert np.array_equal(disk.emg.data, one.emg.data)
        print(f"same trial from local disk: {dt4:.2f} s")
        t0 = time.perf_counter()
        full = load_session(local)
        print(f"whole session from local disk: {time.perf_counter() - t0:.2f} s "
              f"({full.n_frames} frames)")


if __name__ == "__main__":
    main()
