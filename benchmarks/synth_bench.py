"""Benchmark: synthetic session generation speed and ground-truth quality.

Run: ``python benchmarks/synth_bench.py [--duration 60] [--seed 0]``. Pins itself to one CPU
core (and one BLAS thread) so the figure is a one-core figure; prints wall and CPU time per
stage, the replay error of the ground truth (restart every 100 ms), the tracking error
against the plan, paw kinematics, and a numpy-overhead calibration (the machine's load
inflates every small-array operation, so the calibration says how busy the machine was).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402


def _calibration_us() -> float:
    """Median time (microseconds) of one small numpy op (x + x on 13 floats)."""
    x = np.zeros(13)
    return float(np.median([timeit.timeit("x + x", globals={"x": x}, number=20000) / 20000
                            for _ in range(5)]) * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mjx", type=float, default=0.0, metavar="SECONDS",
                    help="also replay the first SECONDS of the truth in MJX (JAX), an "
                         "independent engine (compiling takes minutes on a busy CPU)")
    ap.add_argument("--figure", default=None, metavar="PNG",
                    help="only draw the docs figure of a 4-s session (docs/img/synth_session.png)")
    args = ap.parse_args()
    if args.figure:
        figure(args.figure, args.seed)
        return
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    import neuroimit.synth.generate as gen
    from neuroimit.loaders.nwb_write import write_nwb
    from neuroimit.synth import SynthConfig, make_session, replay_truth

    # time the stages by wrapping the module's own functions
    stages: dict[str, list[float]] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            w, c = time.perf_counter(), time.process_time()
            out = fn(*a, **k)
            stages.setdefault(name, [0.0, 0.0])
            stages[name][0] += time.perf_counter() - w
            stages[name][1] += time.process_time() - c
            return out
        return wrapper

    gen.plan_session = timed("plan (IK + schedule)", gen.plan_session)
    gen.track = timed("muscle-driven simulation", gen.track)
    gen.synth_emg = timed("raw EMG", gen.synth_emg)
    gen.observe = timed("keypoint noise/gaps", gen.observe)

    cal0 = _calibration_us()
    cfg = SynthConfig(duration=args.duration, seed=args.seed)
    make_session(SynthConfig(duration=0.2, seed=args.seed))  # imports, body compile
    stages.clear()
    w, c = time.perf_counter(), time.process_time()
    sess = make_session(cfg)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    cal1 = _calibration_us()
    t = sess.truth
    n = sess.n_frames
    print(f"synthetic session: {args.duration:g} s, {n} frames @ {sess.rate:g} Hz, "
          f"EMG {sess.emg.data.shape[1]} ch @ {sess.emg.rate:g} Hz, {len(sess.trials)} reaches")
    print(f"make_session: wall {wall:.2f} s, CPU {cpu:.2f} s (one core; target < 10 s)")
    for name, (sw, sc) in stages.items():
        print(f"  {name:28s} wall {sw:6.2f} s  CPU {sc:6.2f} s")
    print(f"  per control step (simulation): {1e6 * stages['muscle-driven simulation'][1] / n:.0f}"
          " us CPU")
    print(f"numpy small-op calibration: {cal0:.2f} / {cal1:.2f} us per op (before / after); "
          "~0.3-0.5 us on an idle core")

    w = time.perf_counter()
    rq = replay_truth(t, restart_s=0.1)
    err = np.degrees(np.abs(rq - t["qpos"].values))
    print(f"replay of true excitations (restart every 100 ms): max error {err.max():.3g} deg "
          f"(target < 2 deg), {time.perf_counter() - w:.2f} s")
    rq_free = replay_truth(t, restart_s=1.0)
    print(f"replay restarted only every 1 s: max error "
          f"{np.degrees(np.abs(rq_free - t['qpos'].values)).max():.3g} deg")
    from neuroimit.synth.control import replay
    from neuroimit.synth.generate import truth_model

    zero = replay(truth_model(t), t["qpos"].values, t["qvel"].values,
                  t["activation"].values, np.zeros_like(t["excitation"].values),
                  int(t.attrs["substeps"]), 20)
    print(f"control: zero excitations, restart every 100 ms: max error "
          f"{np.degrees(np.abs(zero - t['qpos'].values)).max():.3g} deg, mean "
          f"{np.degrees(np.abs(zero - t['qpos'].values)).mean():.3g} deg")
    ok = sess.trials[sess.trials["outcome"] == "success"]
    k = np.round(ok["arrival_time"].to_numpy() * sess.rate).astype(int)
    miss = np.linalg.norm(t["keypoints_true"].values[k, -1]
                          - ok[["target_x", "target_y", "target_z"]].to_numpy(float), axis=1)
    print(f"paw-to-target distance at arrival ({len(ok)} successful reaches): mean "
          f"{1e3 * miss.mean():.2f} mm, max {1e3 * miss.max():.2f} mm")
    paw = t["keypoints_true"].values[:, -1]
    speed = np.linalg.norm(np.gradient(paw, sess.time, axis=0), axis=1)
    act = t["activation"].values
    print(f"paw peak speed {speed.max():.3f} m/s; mean activation {act.mean():.3f}, "
          f"max {act.max():.3f}")
    if args.mjx > 0:
        mjx_replay(t, args.mjx)
    with tempfile.TemporaryDirectory() as tmp:
        w = time.perf_counter()
        write_nwb(sess, os.path.join(tmp, "s.nwb"))
        size = os.path.getsize(os.path.join(tmp, "s.nwb")) / 1e6
        print(f"write_nwb: {time.perf_counter() - w:.2f} s, {size:.1f} MB")


def figure(path: str, seed: int) -> None:
    """Joint angles, paw keypoint, activations and two raw EMG channels of a 4-s session."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuroimit.synth import SynthConfig, make_session

    s = make_session(SynthConfig(duration=4.0, seed=seed))
    t = s.truth
    fig, ax = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
    for a in ax:
        for _, r in s.trials.iterrows():
            a.axvspan(r["start_time"], r["stop_time"], color="0.92", lw=0)
    lines = ax[0].plot(s.time, np.degrees(t["qpos"].values))
    ax[0].legend(lines, list(t["joint"].values), fontsize=7, ncol=2)
    ax[0].set_ylabel("true joint angle (deg)")
    lines = ax[1].plot(s.time, 1e3 * s.keypoints[:, -1])
    ax[1].legend(lines, ["x", "y", "z"], fontsize=7, ncol=3)
    ax[1].set_ylabel("paw keypoint (mm)")
    act = t["activation"].to_pandas()
    top = act.max().sort_values(ascending=False).index[:5]
    lines = ax[2].plot(s.time, act[top].values)
    ax[2].legend(lines, list(top), fontsize=7, ncol=2)
    ax[2].set_ylabel("true activation")
    lines = []
    for j, off in ((0, 0.0), (2, -0.6)):
        lines += ax[3].plot(s.emg.time, 1e3 * s.emg.data[:, j] + off, lw=0.3)
    ax[3].legend(lines, [f"{s.emg.channels[j]} ({s.emg.muscles[j]})" for j in (0, 2)],
                 fontsize=7)
    ax[3].set_ylabel("raw EMG (mV, offset)")
    ax[3].set_xlabel("time (s); grey: trials (reach, hold, withdrawal)")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    print(f"wrote {path}")


def mjx_replay(truth, seconds: float, restart_s: float = 0.1) -> None:
    """Replay the true excitations in MJX (float32), all 100-ms segments at once (vmap)."""
    import jax
    import jax.numpy as jnp
    from mujoco import mjx

    from neuroimit.synth import truth_model

    m = truth_model(truth)
    nsub = int(truth.attrs["substeps"])
    every = int(round(restart_s * float(truth.attrs["control_rate_hz"])))
    q, v = truth["qpos"].values, truth["qvel"].values
    a, u = truth["activation"].values, truth["excitation"].values
    nseg = min(len(q) - 1, int(round(seconds * float(truth.attrs["control_rate_hz"])))) // every
    mx = mjx.put_model(m)
    d0 = mjx.make_data(mx)

    def segment(q0, v0, a0, U):
        def frame(dx, uk):
            def sub(dx, _):
                return mjx.step(mx, dx.replace(ctrl=uk)), None
            dx, _ = jax.lax.scan(sub, dx, None, length=nsub)
            return dx, dx.qpos
        return jax.lax.scan(frame, d0.replace(qpos=q0, qvel=v0, act=a0), U)[1]

    run = jax.jit(jax.vmap(segment))
    idx = np.arange(nseg) * every
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    args = (f32(q[idx]), f32(v[idx]), f32(a[idx]),
            f32(u[: nseg * every].reshape(nseg, every, -1)))
    w = time.perf_counter()
    out = np.asarray(run(*args))
    first = time.perf_counter() - w
    w = time.perf_counter()
    out = np.asarray(run(*args))
    again = time.perf_counter() - w
    # out[k, j] = qpos after frame j of segment k = truth at frame idx[k] + j + 1
    pred = out.reshape(nseg * every, -1)
    ref = q[1: nseg * every + 1]
    err = np.degrees(np.abs(pred - ref))
    print(f"MJX (float32) replay of {nseg * every / float(truth.attrs['control_rate_hz']):g} s, "
          f"restart every {restart_s * 1e3:g} ms: max error {err.max():.2g} deg, mean "
          f"{err.mean():.2g} deg (compile + run {first:.1f} s, run {again:.2f} s)")


if __name__ == "__main__":
    main()
