"""Exact symmetries of the forelimb STAC problem (docs/stac.md, "What the data can and cannot
identify"): transformations of poses and keypoint offsets that leave every keypoint where it
was, so that no registration can tell them apart without a prior on the offsets/base."""
from __future__ import annotations

import numpy as np
import pytest

from neuroimit.body import load_body
from neuroimit.stac.kinematics import mujoco_site_positions

SITES = ["kp_shoulder", "kp_elbow", "kp_wrist", "kp_paw"]
THETA = np.deg2rad(2.0)


@pytest.fixture(scope="module")
def arm():
    m = load_body("mouse_forelimb").mj_model
    ids = [m.site(s).id for s in SITES]
    rng = np.random.default_rng(3)
    lo, hi = m.jnt_range[:, 0], m.jnt_range[:, 1]
    q = lo + (hi - lo) * rng.uniform(0.1, 0.9, size=(200, m.nq))
    offsets = rng.normal(size=(len(SITES), 3)) * 5e-4
    return m, ids, q, offsets


def _frames(m, ids, q):
    import mujoco

    d = mujoco.MjData(m)
    d.qpos[:] = q
    mujoco.mj_kinematics(m, d)
    return d.site_xpos[ids].copy(), d.xmat[m.site_bodyid[ids]].reshape(-1, 3, 3).copy(), d


def _matching_offsets(m, ids, q_old, off_old, q_new):
    """Offsets (site body frames) that put the markers of pose q_new where those of q_old are."""
    x_old = mujoco_site_positions(m, q_old[None], ids, off_old)[0][0]
    p, r, _ = _frames(m, ids, q_new)
    return np.einsum("kji,kj->ki", r, x_old - p)


def test_elbow_angle_trades_exactly_against_forearm_offsets(arm):
    m, ids, q, off = arm
    el = m.joint("elbow_flexion").qposadr[0]
    q2 = q.copy()
    q2[:, el] += THETA
    off2 = _matching_offsets(m, ids, q[0], off, q2[0])
    x = mujoco_site_positions(m, q, ids, off)[0]
    x2 = mujoco_site_positions(m, q2, ids, off2)[0]
    assert np.abs(x2 - x).max() < 1e-12          # identical keypoints at every pose
    # the offsets turn about the elbow axis: change = theta x distance from the axis
    change = np.linalg.norm(off2 - off, axis=1)
    assert change[0] == pytest.approx(0.0, abs=1e-15)           # shoulder: untouched
    assert 0.25e-3 < change[2] < 0.45e-3 and 0.4e-3 < change[3] < 0.6e-3  # wrist, paw
    # control: without the offset change the keypoints do move
    x_bad = mujoco_site_positions(m, q2, ids, off)[0]
    assert np.linalg.norm(x_bad - x, axis=2).max() > 2e-4


def test_whole_arm_rotation_about_shoulder_is_a_base_rotation(arm):
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    m, ids, q, off = arm
    hum = m.body("humerus").id
    g = Rotation.from_rotvec(THETA * np.array([0.3, -0.5, 0.8]) / np.linalg.norm(
        [0.3, -0.5, 0.8])).as_matrix()
    for qt in q[:25]:
        target = g @ _frames(m, ids, qt)[2].xmat[hum].reshape(3, 3)

        def res(a, qt=qt, target=target):
            return (_frames(m, ids, np.r_[a, qt[3:]])[2].xmat[hum].reshape(3, 3)
                    - target).ravel()

        sol = least_squares(res, qt[:3], xtol=1e-15, ftol=1e-15, gtol=1e-15)
        q2 = np.r_[sol.x, qt[3:]]
        x = mujoco_site_positions(m, qt[None], ids, off)[0][0]
        x2 = mujoco_site_positions(m, q2[None], ids, off)[0][0]
        # same offsets, shoulder angles changed: keypoints = the old ones rotated by g
        assert np.abs(x2 - x @ g.T).max() < 1e-12
        assert np.abs(sol.x - qt[:3]).max() > 1e-3
