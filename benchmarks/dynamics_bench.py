"""CCM speed: pyEDM 2.5.7 (parallel=False) vs neuroimit, same machine, same run.

Coupled logistic maps (rx 3.8, ry 3.5, bxy 0.02, byx 0.1; x0 0.4, y0 0.2), E = 2, 7 library
sizes linearly spaced from 10 to 0.8 N (pyEDM's "10 1600 265" at N = 2,000), 100 random
libraries per size, both directions. Also a 30 x 30 pairwise CCM matrix on 5,000 samples.

Usage::

    python benchmarks/dynamics_bench.py                 # N = 2,000 and 10,000 vs pyEDM,
                                                        # N = 100,000 and the matrix (ours)
    python benchmarks/dynamics_bench.py --sizes 2000 --no-big --no-matrix

Prints one line per figure; neuroimit is timed cold (first call in the process) and warm
(median of --repeat further calls), wall and CPU time (the machine may be shared); rho
curves are compared (same seed -> same libraries -> same numbers).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from neuroimit.dynamics import ccm, ccm_matrix, coupled_logistic


def lib_sizes(N: int) -> list[int]:
    return np.linspace(10, 0.8 * N, 7).astype(int).tolist()


def _timed(f):
    """(result, wall s, CPU s of this process: all its threads)."""
    t, c = time.perf_counter(), time.process_time()
    r = f()
    return r, time.perf_counter() - t, time.process_time() - c


def bench_pair(N: int, samples: int, with_pyedm: bool, seed: int = 1, repeat: int = 3) -> dict:
    """Cold = the first call in this process (kernels loaded from numba's disk cache,
    libraries drawn); warm = the median of ``repeat`` further calls."""
    from neuroimit.dynamics._ccm_engine import _numba_threads
    x, y = coupled_logistic(N)
    sizes = lib_sizes(N)
    run = lambda: ccm(x, y, E=2, lib_sizes=sizes, samples=samples, seed=seed)  # noqa: E731
    threads = _numba_threads(float(samples) * N)
    r, cold, cold_cpu = _timed(run)
    warm = sorted(_timed(run)[1:] for _ in range(max(1, repeat)))
    warm, warm_cpu = warm[len(warm) // 2]
    out = dict(N=N, sizes=sizes, ours_cold_s=cold, ours_warm_s=warm, ours_cold_cpu_s=cold_cpu,
               ours_warm_cpu_s=warm_cpu, threads=threads,
               rho_yx=np.round(r.mean_yx, 3).tolist(), rho_xy=np.round(r.mean_xy, 3).tolist())
    if with_pyedm:
        import pyEDM as EDM
        df = pd.DataFrame({"t": np.arange(N), "x": x, "y": y})
        p, out["pyedm_s"], out["pyedm_cpu_s"] = _timed(lambda: EDM.CCM(
            df, columns="x", target="y", libSizes=sizes, sample=samples, E=2, Tp=0,
            seed=seed, parallel=False))
        out["max_abs_diff"] = float(max(np.abs(r.mean_xy - p["x:y"]).max(),
                                        np.abs(r.mean_yx - p["y:x"]).max()))
        out["speedup_cold"] = out["pyedm_s"] / cold
        out["speedup_warm"] = out["pyedm_s"] / warm
    return out


def bench_matrix(C: int = 30, N: int = 5000, seed: int = 0) -> dict:
    """C channels: C/2 coupled logistic pairs with random couplings."""
    rng = np.random.default_rng(seed)
    cols = []
    for _ in range(C // 2):
        x, y = coupled_logistic(N, byx=rng.uniform(0, 0.2), bxy=rng.uniform(0, 0.05),
                                x0=rng.uniform(0.2, 0.8), y0=rng.uniform(0.2, 0.8))
        cols += [x, y]
    data = np.column_stack(cols[:C])
    t = time.perf_counter()
    m = ccm_matrix(data, E=2)
    full = time.perf_counter() - t
    t = time.perf_counter()
    m2 = ccm_matrix(data, E=2, lib_sizes=[100, 1000, 4000], samples=20, seed=seed)
    conv = time.perf_counter() - t
    return dict(C=C, N=N, full_library_s=full, three_sizes_x20_samples_s=conv,
                mean_rho=float(np.nanmean(m.at())), shape=m2.rho.shape)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[2000, 10000])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--no-pyedm", action="store_true")
    ap.add_argument("--no-big", action="store_true", help="skip N = 100,000")
    ap.add_argument("--no-matrix", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="warm calls (median reported)")
    ap.add_argument("--threads", type=int, default=0,
                    help="force the kernels' thread count (default: idle cores)")
    a = ap.parse_args(argv)
    if a.threads:
        os.environ["NEUROIMIT_CCM_THREADS"] = str(a.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{platform.python_implementation()} {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for N in a.sizes:
        r = bench_pair(N, a.samples, not a.no_pyedm, repeat=a.repeat)
        line = (f"CCM N={N}: neuroimit {r['ours_cold_s']:.3f} s cold, "
                f"{r['ours_warm_s']:.3f} s warm (CPU {r['ours_cold_cpu_s']:.3f} / "
                f"{r['ours_warm_cpu_s']:.3f} s, {r['threads']} thread(s))")
        if "pyedm_s" in r:
            line += (f"; pyEDM {r['pyedm_s']:.2f} s (CPU {r['pyedm_cpu_s']:.2f} s); speed-up "
                     f"x{r['speedup_cold']:.1f} cold, x{r['speedup_warm']:.1f} warm; "
                     f"max |rho diff| {r['max_abs_diff']:.1e}; load average now "
                     f"{os.getloadavg()[0]:.1f}")
        print(line, flush=True)
        print(f"   lib sizes {r['sizes']}; rho y:x {r['rho_yx']}; rho x:y {r['rho_xy']}")
    if not a.no_big:
        r = bench_pair(100_000, a.samples, False, repeat=1)
        print(f"CCM N=100000: neuroimit {r['ours_cold_s']:.1f} s cold, "
              f"{r['ours_warm_s']:.1f} s warm (pyEDM not run)")
        print(f"   lib sizes {r['sizes']}; rho y:x {r['rho_yx']}")
    if not a.no_matrix:
        r = bench_matrix()
        print(f"CCM matrix {r['C']}x{r['C']}, N={r['N']}: full library {r['full_library_s']:.2f} s; "
              f"3 library sizes x 20 samples {r['three_sizes_x20_samples_s']:.1f} s")


if __name__ == "__main__":
    main()
