"""Figures of the built-in mouse forelimb (docs/benchmarks.md, docs/body.md).

    JAX_PLATFORMS=cpu python benchmarks/body_bench.py [--quick]

Prints: load/scale times, muscle-length and moment-arm checks over dense grids, stepping
stability, C-engine step speed, MJX vs C agreement (float32 here, float64 in a subprocess) with
compile and step times, and static hold feasibility over the reach workspace and the full range.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from neuroimit.body import checks, forelimb, load_body

#: the reaching workspace of the sign checks (checks.REACH_WORKSPACE, elbow full range) and
#: its core (where the synthetic reaches and the real rest-to-target paths lie)
REACH_BOX = np.array([*checks.REACH_WORKSPACE.values(), (-1.0, 1.25)])
CORE_BOX = np.array([[0.0, 0.4], [-0.6, 0.8], [-0.2, 0.2], [-0.5, 0.8]])

_X64 = r"""
import json, time, jax
jax.config.update("jax_enable_x64", True)
from neuroimit.body import load_body, checks
b = load_body("mouse_forelimb")
t = time.perf_counter(); r = checks.mjx_vs_c(b, steps=200)
print(json.dumps({"qpos": r.max_abs_qpos, "act": r.max_abs_act, "dtype": r.dtype,
                  "seconds": time.perf_counter() - t}))
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip MJX (compiles take minutes)")
    args = ap.parse_args(argv)
    out = {}

    t = time.perf_counter()
    body = load_body("mouse_forelimb")
    out["load_body cold (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    load_body("mouse_forelimb")
    out["load_body warm (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    body.scaled(humerus=1.1, forearm=0.95)
    out["scaled(humerus=1.1, forearm=0.95) (s)"] = time.perf_counter() - t

    t = time.perf_counter()
    rep = checks.check_lengths(body, n=15)
    out["length check, 15^4 grid: ok / seconds"] = (rep.ok, time.perf_counter() - t)
    out["fibre length range over grid (L0)"] = (float(rep.fibre_min.min()),
                                                float(rep.fibre_max.max()))
    out["tendon slack min (mm)"] = float(rep.tendon_min.min() * 1e3)
    print(rep.table())

    signs = checks.check_moment_signs(body, n=9)
    full = checks.check_moment_signs(body, n=9, full_range=True)
    out["sign table (strict domains) ok"] = signs.ok
    print("\n| muscle | joint | sign | domain | fraction of full grid with that sign |")
    print("|---|---|---|---|---|")
    for (mus, jn), e in signs.entries.items():
        print(f"| {mus} | {jn} | {e['sign']:+d} | {e['domain']} | "
              f"{full.entries[(mus, jn)]['fraction']:.2f} |")

    st = checks.check_stability(body, seconds=1.0)
    out["stability ok"] = st.ok
    for c in (0.0, 1.0):
        runs = [r for r in st.runs if r["control"] == c]
        out[f"control {c}: max speed (rad/s), max beyond limits (rad)"] = (
            max(r["max_speed"] for r in runs),
            max(max(r["beyond_lower"], r["beyond_upper"]) for r in runs))

    import mujoco
    m = body.mj_model
    d = body.make_data()
    d.ctrl[:] = 0.3
    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        mujoco.mj_step(m, d)
    dt = time.perf_counter() - t
    out["C engine mj_step (steps/s)"] = n / dt
    out["C engine real-time factor"] = n * m.opt.timestep / dt

    rng = np.random.default_rng(0)
    for name, box in (("core reach box", CORE_BOX), ("reach workspace", REACH_BOX),
                      ("full range", body.joint_ranges)):
        q = rng.uniform(box[:, 0], box[:, 1], size=(400, 4))
        out[f"hold feasibility, {name} (400 postures)"] = checks.hold_feasibility(body, q).fraction
    hm = checks.hold_feasibility(body, body.default_qpos, margins=True).torque_margin[0]
    out["rest: extra torque -/+ per joint (1e-4 N m)"] = np.round(hm * 1e4, 2).tolist()

    if not args.quick:
        t = time.perf_counter()
        r32 = checks.mjx_vs_c(body, steps=200)
        out["MJX float32 vs C, 200 steps: max |dq| (rad), seconds incl. compile"] = (
            r32.max_abs_qpos, time.perf_counter() - t)
        q = rng.uniform(*body.joint_ranges.T, size=(512, 4))
        t = time.perf_counter()
        out["MJX vs C tendon length over 512 random postures (m), seconds"] = (
            checks.mjx_geometry_vs_c(body, q), time.perf_counter() - t)
        res = subprocess.run([sys.executable, "-c", _X64], capture_output=True, text=True)
        line = [x for x in res.stdout.splitlines() if x.startswith("{")]
        out["MJX float64 vs C, 200 steps"] = json.loads(line[-1]) if line else res.stderr[-500:]

    print()
    for k, v in out.items():
        print(f"{k}: {v}")
    p = forelimb.muscle_parameters()
    print("\nmuscle parameters (mm, N):")
    for k, v in p.items():
        print(f"  {k}: row={v.gilmer_row!r} force={v.force:.4f} L0={v.l0 * 1e3:.2f} "
              f"(Gilmer-derived {v.l0_gilmer * 1e3:.2f}) slack={v.slack * 1e3:.2f} "
              f"(Gilmer-derived {v.slack_gilmer * 1e3:.2f}) {v.note}")


if __name__ == "__main__":
    main()
