"""End-to-end orchestration used by the CLI (``neuroimit demo`` / ``run``).

Each stage is a plain function from one saved object to the next; this module only chains
them, writes them to the run directory and prints progress.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from .session import Session

console = Console()


def _demo_session(seed: int = 0) -> Session:
    """A built-in session: the synthetic generator when available."""
    try:
        from .synth import SynthConfig, make_session
    except ImportError:
        make_session = None
    if make_session is not None:
        return make_session(SynthConfig(duration=4.0, seed=seed))
    # fallback before the synthetic generator lands: a planar minimum-jerk paw path
    t = np.arange(200) / 200.0
    s = np.clip(t / 0.3, 0, 1)
    mj = 10 * s**3 - 15 * s**4 + 6 * s**5
    paw = np.stack([0.01 * mj, np.zeros_like(t), 0.005 * mj], axis=1)
    return Session(paw[:, None, :], t, ["Paw"], metadata={"session_id": "demo", "seed": seed})


def run_demo(out: str | Path, quick: bool = False, seed: int = 0) -> Path:
    """Build the demo session, save it to ``out/session.nc`` and print its summary."""
    from .cli.core import print_summary

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sess = _demo_session(seed)
    path = sess.save(out / "session.nc")
    print_summary(sess.describe())
    console.print(f"session written to [bold]{path}[/bold]")
    return out
