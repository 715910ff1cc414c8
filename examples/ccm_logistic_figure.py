"""Make docs/img/ccm_logistic.png: CCM convergence curves with surrogate bands.

Coupled logistic maps (Sugihara et al. 2012: rx 3.8, ry 3.5, bxy 0.02, byx 0.1;
x0 0.4, y0 0.2), N = 1000, E = 2. Lines: mean rho over 50 random libraries per size, shaded:
5-95 % of the libraries; dashed band: 5-95 % of 200 Ebisuzaki surrogates of the candidate
driver cross-mapped with the same libraries.

    python examples/ccm_logistic_figure.py [--out docs/img/ccm_logistic.png]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuroimit.dynamics import ccm, ccm_significance, convergence_test, coupled_logistic  # noqa: E402


def make_figure(out: Path, N: int = 1000, samples: int = 50, n_surrogates: int = 200,
                seed: int = 0) -> Path:
    x, y = coupled_logistic(N)
    sizes = [10, 25, 50, 100, 200, 400, 700, 998]
    r = ccm(x, y, E=2, lib_sizes=sizes, samples=samples, seed=seed)
    sig = ccm_significance(x, y, E=2, lib_sizes=sizes, samples=10, seed=seed,
                           n_surrogates=n_surrogates, method="ebisuzaki")
    conv = convergence_test(r)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    q = r.quantiles((0.05, 0.95))
    colours = {r.label_yx: "tab:blue", r.label_xy: "tab:orange"}
    text = {r.label_yx: "y:x (y's shadow manifold recovers x: x drives y)",
            r.label_xy: "x:y (x's manifold recovers y: y drives x)"}
    for lab, mean in ((r.label_yx, r.mean_yx), (r.label_xy, r.mean_xy)):
        c = colours[lab]
        ax.plot(sizes, mean, "-o", color=c, ms=3, label=f"{text[lab]}; "
                f"surrogate p={sig.p_value[lab]:.3f}, Kendall tau={conv.loc[lab, 'kendall_tau']:.2f}")
        ax.fill_between(sizes, q[lab][:, 0], q[lab][:, 1], color=c, alpha=0.25, lw=0)
        nq = sig.null_quantiles((0.05, 0.95))[lab]
        ax.plot(sizes, nq[:, 1], "--", color=c, lw=1)
        ax.plot(sizes, nq[:, 0], "--", color=c, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("library size L")
    ax.set_ylabel("cross-map skill rho")
    ax.set_title("CCM, coupled logistic maps (byx = 0.1, bxy = 0.02)", fontsize=10)
    ax.legend(fontsize=6.5, loc="upper left")
    ax.text(0.99, 0.02, "shaded: 5-95% over random libraries\ndashed: 5-95% of surrogate null",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img"
                                         / "ccm_logistic.png"))
    print(make_figure(Path(ap.parse_args().out)))
