"""STAC's JAX forward kinematics against MuJoCo's C engine (float64)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from neuroimit.stac.kinematics import (build_tree, marker_positions, mujoco_site_positions,
                                       retract, site_frames, site_jacobian)
from neuroimit.stac.models import ARM_XML, chain_xml, whole_body_xml


def _random_qpos(m, n, seed):
    rng = np.random.default_rng(seed)
    q = np.tile(m.qpos0, (n, 1)) + rng.normal(size=(n, m.nq)) * 0.6
    for i in range(n):
        mujoco.mj_normalizeQuat(m, q[i])
    return q


@pytest.mark.parametrize("xml", [ARM_XML, chain_xml(5, free_root=True), whole_body_xml()],
                         ids=["arm_all_joint_types", "free_chain", "whole_body"])
def test_fk_matches_mj_kinematics(xml):
    m = mujoco.MjModel.from_xml_string(xml)
    names = [m.site(i).name for i in range(m.nsite)]
    tree = build_tree(m, names)
    q = _random_qpos(m, 6, 0)
    off = np.random.default_rng(1).normal(size=(len(names), 3)) * 1e-3
    ref, _, _ = mujoco_site_positions(m, q, tree.site_ids, off)
    with jax.enable_x64(True):
        out = np.asarray(jax.jit(jax.vmap(lambda qq: marker_positions(tree, qq, None, off)))(q))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("xml", [ARM_XML, chain_xml(3, free_root=True)], ids=["arm", "free_chain"])
def test_analytic_jacobian_matches_mujoco(xml):
    """Hinge/slide columns equal mj_jacSite; all columns equal finite differences of the
    tangent-space retraction (ball and free joints)."""
    m = mujoco.MjModel.from_xml_string(xml)
    names = [m.site(i).name for i in range(m.nsite)]
    tree = build_tree(m, names)
    q = _random_qpos(m, 1, 3)[0]
    with jax.enable_x64(True):
        def analytic(qq):
            sp, _sr, ax, an = site_frames(tree, qq, dofs=True)
            return site_jacobian(tree, sp, ax, an)

        def numeric(qq):  # central differences along every tangent direction
            eps = 1e-6
            pos = jax.vmap(lambda dv: site_frames(tree, retract(tree, qq, dv))[0])
            e = jnp.eye(m.nv) * eps
            return jnp.transpose((pos(e) - pos(-e)) / (2 * eps), (1, 2, 0))

        qj = jnp.asarray(q)
        jac = np.asarray(jax.jit(analytic)(qj))
        num = np.asarray(jax.jit(numeric)(qj))
    np.testing.assert_allclose(jac, num, atol=1e-8)
    d = mujoco.MjData(m)
    d.qpos[:] = q
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    hinge = [int(m.jnt_dofadr[j]) for j in range(m.njnt)
             if m.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)]
    for k, sid in enumerate(tree.site_ids):
        jp = np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jp, None, sid)
        np.testing.assert_allclose(jac[k][:, hinge], jp[:, hinge], atol=1e-9)


def test_segment_scaling_matches_scaled_body():
    """Scales applied inside the JAX FK reproduce BodyModel.scaled(...) to 1e-9 m."""
    body_mod = pytest.importorskip("neuroimit.body")
    from neuroimit.stac.calibration import as_body_view, segment_derivatives

    body = body_mod.load_body("mouse_forelimb")
    view = as_body_view(body, ["Shoulder", "Elbow", "Wrist", "Paw"])
    bd, jd, sd, nonlin = segment_derivatives(view)
    assert nonlin < 1e-12
    tree = build_tree(view.model, view.sites, body_dpos=bd, jnt_dpos=jd, site_dpos=sd)
    scales = {"humerus": 1.1, "forearm": 0.9, "paw": 1.2}
    scaled = body.scaled(**scales).mj_model
    q = _random_qpos(view.model, 4, 5)
    ids = [mujoco.mj_name2id(scaled, mujoco.mjtObj.mjOBJ_SITE, s) for s in view.sites]
    ref, _, _ = mujoco_site_positions(scaled, q, ids)
    s = np.array([scales[k] for k in view.segments])
    with jax.enable_x64(True):
        out = np.asarray(jax.vmap(lambda qq: marker_positions(tree, qq, s))(q))
    np.testing.assert_allclose(out, ref, atol=1e-9)
    # and the template differs, so the test can fail
    assert np.abs(mujoco_site_positions(view.model, q, ids)[0] - ref).max() > 1e-4


@pytest.mark.parametrize("n", [4, 20])
def test_spd_solve_both_paths(n):
    """Unrolled (n <= 12) and LAPACK (n > 12) Cholesky solves, vmapped over frames."""
    from neuroimit.stac.solver import spd_solve

    rng = np.random.default_rng(n)
    a = rng.normal(size=(6, n, n))
    a = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(n)
    b = rng.normal(size=(6, n, 2))
    with jax.enable_x64(True):
        x = np.asarray(jax.jit(jax.vmap(spd_solve))(a, b))
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)


def test_theta_jacobian_matches_autodiff():
    """The m-phase Jacobian in (offsets, log scales, base translation, base rotation)
    assembled from analytic and partial forward-mode columns equals jacfwd of the residual."""
    body_mod = pytest.importorskip("neuroimit.body")
    from neuroimit.stac.calibration import as_body_view, segment_derivatives
    from neuroimit.stac.solver import Problem

    view = as_body_view(body_mod.load_body("mouse_forelimb"), ["Shoulder", "Elbow", "Wrist"])
    bd, jd, sd, _ = segment_derivatives(view)
    tree = build_tree(view.model, view.sites, body_dpos=bd, jnt_dpos=jd, site_dpos=sd)
    p = Problem(tree, view.lower, view.upper, 2e-4)
    rng = np.random.default_rng(3)
    th = rng.normal(size=p.layout.size) * 0.2
    th[:9] *= 1e-2                                            # offsets of a few mm
    q = view.default_qpos + rng.normal(size=4) * 0.3
    x = rng.normal(size=(3, 3)) * 1e-2
    sw = np.array([1.0, 0.7, 0.0])                           # one keypoint masked
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(p.jac_theta)(q, th, x, sw))
        ref = np.asarray(jax.jit(jax.jacfwd(p.residual, argnums=1))(q, th, x, sw))
    assert got.shape == (9, p.layout.size)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-6 * np.abs(ref).max())
    assert np.abs(ref[:, 9:12]).max() > 1 and np.abs(ref[:, 15:]).max() > 1  # not all zero
