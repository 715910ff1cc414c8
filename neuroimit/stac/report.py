"""Registration report: keypoint vs model traces, residual histograms, joint angles vs limits.

>>> registration_report(reg, "run/registration_report.png")        # doctest: +SKIP
>>> registration_report_html(reg, "run/registration_report.html")  # doctest: +SKIP
"""
from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["registration_figure", "registration_report", "registration_report_html"]


def registration_figure(reg, *, joint_ranges: np.ndarray | None = None, max_keypoints: int = 6):
    """A matplotlib Figure: one row per keypoint (x, y, z data vs model, mm), a residual
    histogram per keypoint, and joint-angle traces with the joint limits shaded.

    joint_ranges: (n_joints, 2) rad for ``reg.joint_names`` (read from the body when None).
    """
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    K = min(len(reg.keypoint_names), max_keypoints)
    t = reg.time - reg.time[0]
    nj = len(reg.joint_names)
    if joint_ranges is None and reg.body_xml:
        try:
            import mujoco  # noqa: PLC0415
            m = mujoco.MjModel.from_xml_string(reg.body_xml)
            joint_ranges = np.array([m.joint(n).range if m.joint(n).limited[0] else
                                     [np.nan, np.nan] for n in reg.joint_names])
        except Exception:  # noqa: BLE001 - the figure is still useful without limits
            joint_ranges = None
    rows = K + 1
    fig = plt.figure(figsize=(13, 2.2 * rows), constrained_layout=True)
    gs = fig.add_gridspec(rows, 4)
    colors = ("tab:red", "tab:green", "tab:blue")
    for k in range(K):
        for a in range(3):
            ax = fig.add_subplot(gs[k, a])
            ax.plot(t, reg.kp_data[:, k, a] * 1e3, ".", ms=2, color=colors[a], alpha=0.6,
                    label="data")
            ax.plot(t, reg.model_keypoints[:, k, a] * 1e3, "-", lw=1, color="k", label="model")
            ax.set_ylabel(f"{reg.keypoint_names[k]} {'xyz'[a]} (mm)", fontsize=8)
            ax.tick_params(labelsize=7)
            if k == 0 and a == 0:
                ax.legend(fontsize=7, loc="best")
        ax = fig.add_subplot(gs[k, 3])
        r = reg.residuals[:, k]
        r = r[np.isfinite(r)] * 1e3
        if r.size:
            ax.hist(r, bins=30, color="0.4")
            ax.axvline(r.mean(), color="tab:orange", lw=1)
        ax.set_xlabel(f"residual (mm), mean {r.mean() if r.size else np.nan:.3f}", fontsize=8)
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(gs[K, :])
    nq0 = len(reg.qpos_names) - nj
    for j, name in enumerate(reg.joint_names):
        line, = ax.plot(t, reg.qpos[:, nq0 + j], lw=1.2, label=name)
        if joint_ranges is not None and np.all(np.isfinite(joint_ranges[j])):
            lo, hi = joint_ranges[j]
            ax.axhspan(lo - 0.02, lo, color=line.get_color(), alpha=0.25)
            ax.axhspan(hi, hi + 0.02, color=line.get_color(), alpha=0.25)
            ax.axhline(lo, color=line.get_color(), lw=0.6, ls=":")
            ax.axhline(hi, color=line.get_color(), lw=0.6, ls=":")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("joint angle (rad); limits dotted/shaded")
    ax.legend(fontsize=7, ncol=min(nj, 6) or 1, loc="upper right")
    fig.suptitle(f"STAC registration of {reg.body_name or 'body'}: mean keypoint error "
                 f"{reg.mean_error_m * 1e3:.3f} mm over {reg.n_frames} frames")
    return fig


def _atomic_write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _png_bytes(reg, **kw) -> bytes:
    import matplotlib.pyplot as plt  # noqa: PLC0415
    fig = registration_figure(reg, **kw)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def registration_report(reg, path: str | os.PathLike, **kw) -> Path:
    """Write the report figure as PNG (or HTML when ``path`` ends in .html)."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        return registration_report_html(reg, path, **kw)
    return _atomic_write(path, _png_bytes(reg, **kw))


def registration_report_html(reg, path: str | os.PathLike, **kw) -> Path:
    """A self-contained HTML page: summary table + the embedded figure."""
    png = base64.b64encode(_png_bytes(reg, **kw)).decode()
    per = reg.error_per_keypoint()
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v * 1e3:.3f}</td></tr>"
                   for k, v in per.items())
    scales = ", ".join(f"{k} {v:.3f}" for k, v in reg.segment_scales.items()) or "none"
    lim = reg.info.get("frames_at_limit")
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>STAC registration</title></head><body style="font-family:sans-serif">
<h1>STAC registration: {html.escape(reg.body_name or 'body')}</h1>
<p>{reg.n_frames} frames; mean keypoint error {reg.mean_error_m * 1e3:.3f} mm;
segment scales: {html.escape(scales)}; frames at a joint limit:
{'n/a' if lim is None else f'{100 * lim:.1f}%'}</p>
<table border="1" cellpadding="3"><tr><th>keypoint</th><th>mean error (mm)</th></tr>{rows}</table>
<img alt="registration figure" src="data:image/png;base64,{png}" style="max-width:100%">
</body></html>"""
    return _atomic_write(Path(path), page.encode())
