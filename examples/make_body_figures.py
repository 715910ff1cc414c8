"""Render the docs figures of the built-in mouse forelimb (docs/body.md).

    MUJOCO_GL=egl python examples/make_body_figures.py [--out docs/img]

Writes body_render.png (MuJoCo offscreen render; a matplotlib stick figure when no OpenGL is
available), body_moment_arms.png (every muscle's action -dL/dq against each joint angle, the
other joints at the rest posture) and body_fibre_lengths.png (normalised fibre length against
each joint angle).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mujoco  # noqa: E402

from neuroimit.body import checks, load_body  # noqa: E402

#: a forward reach posture (rad) for the second panel
REACH_QPOS = np.array([0.25, -0.6, 0.0, -0.2])


def _save(fig, path: Path) -> None:
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def render(body, out: Path) -> str:
    """Side and front views at rest and in a reach; returns the method used."""
    m = body.mj_model
    poses = [("rest, side", body.default_qpos, "side"), ("reach, side", REACH_QPOS, "side"),
             ("rest, front", body.default_qpos, "front")]
    try:
        r = mujoco.Renderer(m, 600, 600)
        opt = mujoco.MjvOption()
        opt.geomgroup[3] = 1       # wrap geoms (translucent)
        images = []
        for _, q, cam in poses:
            d = body.make_data(q)
            r.update_scene(d, camera=cam, scene_option=opt)
            images.append(r.render().copy())
        r.close()
        method = "mujoco"
    except Exception:  # no OpenGL here: draw a stick figure instead
        images, method = None, "matplotlib"
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for k, (title, q, cam) in enumerate(poses):
        ax = axes[k]
        if images is not None:
            ax.imshow(images[k])
            ax.set_axis_off()
        else:
            p = body.site_positions(q, ["kp_shoulder", "kp_elbow", "kp_wrist", "kp_paw"]) * 1e3
            i, j = (0, 2) if cam == "side" else (1, 2)
            ax.plot(p[:, i], p[:, j], "-o", color="0.3")
            ax.set_aspect("equal")
            ax.set_xlabel(("x" if cam == "side" else "y") + " (mm)")
            ax.set_ylabel("z (mm)")
        ax.set_title(title)
    fig.suptitle("neuroimit mouse_forelimb: bones, muscle paths (red), keypoint sites (orange), "
                 "wrapping surfaces (blue)", fontsize=10)
    _save(fig, out / "body_render.png")
    return method


def sweep_plots(body, out: Path, n: int = 61) -> None:
    m = body.mj_model
    names = body.muscle_names
    colors = plt.cm.tab20(np.linspace(0, 1, len(names)))
    figs = {"moment": plt.subplots(2, 2, figsize=(12, 9)),
            "fibre": plt.subplots(2, 2, figsize=(12, 9))}
    for j, jn in enumerate(body.joint_names):
        lo, hi = body.joint_ranges[j]
        q = np.repeat(body.default_qpos[None], n, 0)
        q[:, j] = np.linspace(lo, hi, n)
        geo = checks.muscle_geometry(m, q)
        action = -geo["moment"][:, :, m.jnt_dofadr[m.joint(jn).id]] * 1e3
        for key, data in (("moment", action), ("fibre", geo["fibre"])):
            ax = figs[key][1].flat[j]
            for k, name in enumerate(names):
                if key == "moment" and np.abs(data[:, k]).max() < 1e-6:
                    continue  # muscle does not cross this joint
                ax.plot(q[:, j], data[:, k], color=colors[k], label=name, lw=1.6)
            ax.axvline(body.default_qpos[j], color="0.6", ls=":", lw=1)
            ax.set_xlabel(f"{jn} (rad)")
            if key == "moment":
                ax.axhline(0, color="k", lw=0.6)
                ax.set_ylabel("action -dL/dq (mm)")
            else:
                for y in (0.5, 1.6):
                    ax.axhline(y, color="r", lw=0.8, ls="--")
                ax.set_ylabel("fibre length (L0)")
            ax.legend(fontsize=6.5, ncol=2, loc="best")
    figs["moment"][0].suptitle("Muscle actions against each joint (others at rest, dotted); "
                               "positive = drives the joint in its positive direction")
    figs["fibre"][0].suptitle("Normalised fibre length against each joint (others at rest); "
                              "dashed: MuJoCo's 0.5 / 1.6 L0 limits")
    _save(figs["moment"][0], out / "body_moment_arms.png")
    _save(figs["fibre"][0], out / "body_fibre_lengths.png")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    body = load_body("mouse_forelimb")
    method = render(body, args.out)
    sweep_plots(body, args.out)
    print(f"wrote body_render.png ({method}), body_moment_arms.png, body_fibre_lengths.png "
          f"to {args.out}")


if __name__ == "__main__":
    main()
