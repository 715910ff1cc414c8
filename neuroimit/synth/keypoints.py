"""Keypoints as a tracker would report them: model sites + offsets + noise + gaps.

>>> import numpy as np
>>> true = np.zeros((100, 2, 3))
>>> kp, conf = observe(true, np.random.default_rng(0), noise_m=2e-4, missing_fraction=0.05)
>>> kp.shape, conf.shape
((100, 2, 3), (100, 2))
"""
from __future__ import annotations

import numpy as np

__all__ = ["true_keypoints", "observe"]


def true_keypoints(site_xpos: np.ndarray, site_xmat: np.ndarray,
                   offsets: np.ndarray) -> np.ndarray:
    """Noiseless keypoints (T, K, 3): site position + offset rotated by the site's body.

    site_xpos: (T, K, 3) m; site_xmat: (T, K, 3, 3) world orientation of each site's body;
    offsets: (K, 3) m in the site body's frame.
    """
    return site_xpos + np.einsum("tkij,kj->tki", site_xmat, offsets)


def observe(true: np.ndarray, rng: np.random.Generator, *, noise_m: float = 2e-4,
            missing_fraction: float = 0.02, gap_frames: tuple[int, int] = (1, 5)
            ) -> tuple[np.ndarray, np.ndarray]:
    """Noisy keypoints (T, K, 3) with NaN gaps, and confidences (T, K).

    Gaussian noise of s.d. ``noise_m`` per coordinate; per keypoint, gaps of ``gap_frames``
    (uniform) frames at random places until about ``missing_fraction`` of the frames are
    missing. Confidence is 0.85-1 normally, 0.3-0.6 on frames next to a gap, 0 in a gap.
    """
    T, K, _ = true.shape
    kp = true + rng.normal(0.0, noise_m, true.shape) if noise_m > 0 else true.copy()
    conf = rng.uniform(0.85, 1.0, (T, K))
    missing = np.zeros((T, K), dtype=bool)
    mean_gap = 0.5 * (gap_frames[0] + gap_frames[1])
    n_gaps = int(round(missing_fraction * T / mean_gap))
    for k in range(K):
        for _ in range(n_gaps):
            length = int(rng.integers(gap_frames[0], gap_frames[1] + 1))
            start = int(rng.integers(0, max(1, T - length)))
            missing[start:start + length, k] = True
    near = np.zeros_like(missing)
    near[1:] |= missing[:-1]
    near[:-1] |= missing[1:]
    near &= ~missing
    conf[near] = rng.uniform(0.3, 0.6, int(near.sum()))
    conf[missing] = 0.0
    kp[missing] = np.nan
    return kp, conf
