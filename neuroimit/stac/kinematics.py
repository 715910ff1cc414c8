"""Small forward kinematics in JAX, built from a MuJoCo model's body tree.

``jax.jit(mjx.kinematics)`` of a whole rodent model takes minutes to compile on a CPU
(REFERENCE.md: ~93 s for a 67-body rat). STAC needs only the positions of a few keypoint
sites, so :func:`build_tree` keeps just the bodies on the paths from the world to those sites
and :func:`marker_positions` unrolls that short chain into a handful of 3x3 products. It follows
``mj_kinematics`` exactly (hinge and slide joints relative to ``qpos0``, ball joints as unit
quaternions about their anchor, free joints replacing the body pose) and agrees with it to
1e-12 in float64 (tests/test_stac_kinematics.py).

Segment scaling (``BodyModel.scaled``) enters as linear changes of body, joint-anchor and site
positions (see :mod:`neuroimit.stac.calibration`), so the calibration can
differentiate through it.

>>> import mujoco
>>> m = mujoco.MjModel.from_xml_string(
...     '<mujoco><worldbody><body><joint type="hinge" axis="0 0 1"/>'
...     '<site name="tip" pos="1 0 0"/></body></worldbody></mujoco>')
>>> tree = build_tree(m, ["tip"])
>>> import numpy as np
>>> np.round(np.asarray(marker_positions(tree, np.array([np.pi / 2]))), 6)[0] + 0.0
array([0., 1., 0.])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jax.numpy as jnp
import mujoco
import numpy as np

from ..errors import DataError

__all__ = ["KinTree", "build_tree", "marker_positions", "site_frames", "site_jacobian",
           "retract", "quat_to_mat", "mujoco_site_positions"]

FREE, BALL, SLIDE, HINGE = (int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL),
                            int(mujoco.mjtJoint.mjJNT_SLIDE), int(mujoco.mjtJoint.mjJNT_HINGE))


def _quat_to_mat_np(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def quat_to_mat(q):
    """Rotation matrix (3, 3) of a (not necessarily unit) quaternion ``q`` (w, x, y, z).

    A zero quaternion maps to the identity, as in MuJoCo's ``mju_normalize4``.
    """
    n = jnp.sqrt(jnp.sum(q * q))
    safe = n > 1e-14
    q = jnp.where(safe, q / jnp.where(safe, n, 1.0), jnp.array([1.0, 0.0, 0.0, 0.0], q.dtype))
    w, x, y, z = q[0], q[1], q[2], q[3]
    return jnp.stack([
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
        jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
        jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])])


@dataclass(frozen=True, eq=False)
class KinTree:
    """The part of a MuJoCo body tree between the world and a set of sites (numpy, static).

    Attributes
    ----------
    bodies: body ids kept, parents before children.
    parent: parent body id of each kept body (0 = world).
    body_pos, body_rot: (nbody, 3) / (nbody, 3, 3) local pose of every body of the model.
    joints: per kept body, a tuple of ``(type, qposadr, axis (3,), pos (3,), qpos0 (float),
        joint id)``.
    site_ids, site_body: the selected sites and their bodies.
    site_pos: (nsel, 3) site positions in their body frame.
    nq: the model's nq (length of a qpos vector).
    body_dpos, jnt_dpos, site_dpos: (S, nbody, 3) / (S, njnt, 3) / (S, nsel, 3): change of each
        body position, joint anchor and selected site position per unit change of each
        segment scale (positions are linear in the scales: ``pos + sum_s (scale_s - 1) *
        dpos[s]``); see :mod:`neuroimit.stac.calibration`.
    """

    bodies: tuple[int, ...]
    parent: tuple[int, ...]
    body_pos: np.ndarray
    body_rot: np.ndarray
    joints: tuple[tuple, ...]
    site_ids: tuple[int, ...]
    site_body: tuple[int, ...]
    site_pos: np.ndarray
    nq: int
    body_dpos: np.ndarray
    jnt_dpos: np.ndarray
    site_dpos: np.ndarray
    n_segments: int = 0
    nv: int = 0
    dof_rot: np.ndarray = None        # (nv,) True for rotational dofs
    dof_site: np.ndarray = None       # (nsel, nv) True where the dof moves the site


def build_tree(model: mujoco.MjModel, sites: Sequence[str], *,
               body_dpos: np.ndarray | None = None, jnt_dpos: np.ndarray | None = None,
               site_dpos: np.ndarray | None = None) -> KinTree:
    """Extract the kinematic chain from the world to ``sites`` of ``model``.

    Parameters
    ----------
    model: a compiled MuJoCo model.
    sites: site names, one per marker (repeats allowed).
    body_dpos, jnt_dpos, site_dpos: (S, nbody, 3), (S, njnt, 3), (S, nsite, 3) position
        derivatives with respect to S segment scales (None: no scaling).
    """
    ids = []
    for s in sites:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, s)
        if i < 0:
            avail = [model.site(k).name for k in range(model.nsite)]
            raise DataError(f"the body model has no site named {s!r}", field="keypoint_map",
                            expected=f"one of its sites {avail}")
        ids.append(i)
    site_body = [int(model.site_bodyid[i]) for i in ids]
    keep = set()
    for b in site_body:
        while b > 0 and b not in keep:
            keep.add(b)
            b = int(model.body_parentid[b])
    bodies = tuple(sorted(keep))  # MuJoCo numbers parents before children
    joints = []
    nv = int(model.nv)
    dof_rot = np.zeros(nv, bool)
    dof_body = np.full(nv, -1, int)
    for j in range(model.njnt):
        t, d = int(model.jnt_type[j]), int(model.jnt_dofadr[j])
        n = {FREE: 6, BALL: 3, SLIDE: 1, HINGE: 1}[t]
        dof_body[d:d + n] = int(model.jnt_bodyid[j])
        if t == FREE:
            dof_rot[d + 3:d + 6] = True
        elif t in (BALL, HINGE):
            dof_rot[d:d + n] = True
    for b in bodies:
        js = []
        for j in range(int(model.body_jntadr[b]), int(model.body_jntadr[b] + model.body_jntnum[b])):
            t = int(model.jnt_type[j])
            adr = int(model.jnt_qposadr[j])
            q0 = float(model.qpos0[adr]) if t in (HINGE, SLIDE) else 0.0
            js.append((t, adr, np.array(model.jnt_axis[j], dtype=np.float64),
                       np.array(model.jnt_pos[j], dtype=np.float64), q0, j,
                       int(model.jnt_dofadr[j])))
        joints.append(tuple(js))
    dof_site = np.zeros((len(ids), nv), bool)
    for k, sb in enumerate(site_body):
        chain = set()
        b = sb
        while b > 0:
            chain.add(b)
            b = int(model.body_parentid[b])
        dof_site[k] = np.isin(dof_body, list(chain))
    S = 0 if body_dpos is None else int(np.shape(body_dpos)[0])
    bd = np.zeros((S, model.nbody, 3)) if body_dpos is None else np.asarray(body_dpos, float)
    jd = np.zeros((S, model.njnt, 3)) if jnt_dpos is None else np.asarray(jnt_dpos, float)
    sd = np.zeros((S, model.nsite, 3)) if site_dpos is None else np.asarray(site_dpos, float)
    return KinTree(
        bodies=bodies, parent=tuple(int(model.body_parentid[b]) for b in bodies),
        body_pos=np.array(model.body_pos, dtype=np.float64),
        body_rot=np.stack([_quat_to_mat_np(q) for q in model.body_quat]),
        joints=tuple(joints), site_ids=tuple(ids), site_body=tuple(site_body),
        site_pos=np.array(model.site_pos[ids], dtype=np.float64).reshape(len(ids), 3),
        nq=int(model.nq), body_dpos=bd, jnt_dpos=jd, site_dpos=sd[:, ids].reshape(S, len(ids), 3),
        n_segments=S, nv=nv, dof_rot=dof_rot, dof_site=dof_site)


def _scaled(vec: np.ndarray, dpos: np.ndarray, scales):
    """``vec + sum_s (scales[s] - 1) * dpos[s]`` over the segments that move it."""
    out = jnp.asarray(vec)
    if scales is None:
        return out
    for s in range(dpos.shape[0]):
        if np.any(dpos[s] != 0.0):
            out = out + (scales[s] - 1.0) * dpos[s]
    return out


def _axis_rotation(axis: np.ndarray, angle):
    """Rodrigues' formula with a constant unit axis (numpy) and a traced angle."""
    a = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + jnp.sin(angle) * k + (1.0 - jnp.cos(angle)) * (k @ k)


def site_frames(tree: KinTree, qpos, scales=None, *, dofs: bool = False):
    """World position of each selected site and rotation of its body.

    Parameters
    ----------
    tree: from :func:`build_tree`.
    qpos: (nq,) joint positions (one frame; ``jax.vmap`` for many).
    scales: (n_segments,) segment scale factors or None (template).
    dofs: also return each degree of freedom's world axis and anchor (for the Jacobian).

    Returns
    -------
    site_xpos (nsel, 3), body_xmat (nsel, 3, 3) of each site's body; with ``dofs``, also
    dof_axis (nv, 3) and dof_anchor (nv, 3) (zeros for dofs outside the tree). The
    rotational dofs of a ball joint are the body's local axes after the joint, those of a
    free joint the world axes at the root position (see :func:`site_jacobian`).
    """
    xpos = {0: jnp.zeros(3, dtype=qpos.dtype)}
    xmat = {0: jnp.eye(3, dtype=qpos.dtype)}
    ax = [jnp.zeros(3, qpos.dtype)] * tree.nv
    an = [jnp.zeros(3, qpos.dtype)] * tree.nv
    eye = jnp.eye(3, dtype=qpos.dtype)
    for b, p, js in zip(tree.bodies, tree.parent, tree.joints):
        pos = xpos[p] + xmat[p] @ _scaled(tree.body_pos[b], tree.body_dpos[:, b], scales)
        rot = xmat[p] @ tree.body_rot[b]
        for (t, adr, axis, jpos, q0, jid, dof) in js:
            if t == FREE:
                pos = qpos[adr:adr + 3]
                rot = quat_to_mat(qpos[adr + 3:adr + 7])
                for i in range(3):
                    ax[dof + i], an[dof + i] = eye[i], pos
                    ax[dof + 3 + i], an[dof + 3 + i] = eye[i], pos
                continue
            anchor_local = _scaled(jpos, tree.jnt_dpos[:, jid], scales)
            if t == SLIDE:
                wa = rot @ (axis / np.linalg.norm(axis))
                ax[dof], an[dof] = wa, pos
                pos = pos + wa * (qpos[adr] - q0)
                continue
            anchor = pos + rot @ anchor_local
            if t == HINGE:
                ax[dof], an[dof] = rot @ (axis / np.linalg.norm(axis)), anchor
                rot = rot @ _axis_rotation(axis, qpos[adr] - q0)
            else:  # BALL
                rot = rot @ quat_to_mat(qpos[adr:adr + 4])
                for i in range(3):
                    ax[dof + i], an[dof + i] = rot[:, i], anchor
            pos = anchor - rot @ anchor_local
        xpos[b], xmat[b] = pos, rot
    out_p, out_r = [], []
    for k, b in enumerate(tree.site_body):
        sp = _scaled(tree.site_pos[k], tree.site_dpos[:, k], scales)
        out_p.append(xpos[b] + xmat[b] @ sp)
        out_r.append(xmat[b])
    if not out_p:
        sp, sr = jnp.zeros((0, 3), qpos.dtype), jnp.zeros((0, 3, 3), qpos.dtype)
    else:
        sp, sr = jnp.stack(out_p), jnp.stack(out_r)
    if not dofs:
        return sp, sr
    return sp, sr, jnp.stack(ax), jnp.stack(an)


def site_jacobian(tree: KinTree, points, dof_axis, dof_anchor):
    """Jacobian (nsel, 3, nv) of points rigidly attached to the selected sites' bodies.

    Rotational dof: ``axis x (point - anchor)``; translational dof: ``axis``; zero where
    the dof does not move the site's body. For ball and free joints these are derivatives
    with respect to the rotation increments used by :func:`retract`.
    """
    rel = points[:, None, :] - dof_anchor[None]                       # (nsel, nv, 3)
    rot = jnp.cross(jnp.broadcast_to(dof_axis[None], rel.shape), rel)
    col = jnp.where(jnp.asarray(tree.dof_rot)[None, :, None], rot, dof_axis[None])
    col = jnp.where(jnp.asarray(tree.dof_site)[:, :, None], col, 0.0)
    return jnp.transpose(col, (0, 2, 1))


def _quat_mul(a, b):
    w1, x1, y1, z1 = a[0], a[1], a[2], a[3]
    w2, x2, y2, z2 = b[0], b[1], b[2], b[3]
    return jnp.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
                      w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                      w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                      w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def _quat_exp(v):
    th2 = jnp.sum(v * v)
    small = th2 < 1e-20
    th = jnp.sqrt(jnp.where(small, 1.0, th2))
    s = jnp.where(small, 0.5 - th2 / 48.0, jnp.sin(0.5 * th) / th)
    c = jnp.where(small, 1.0 - th2 / 8.0, jnp.cos(0.5 * th))
    return jnp.concatenate([c[None], s * v])


def retract(tree: KinTree, qpos, dv):
    """Apply a step ``dv`` (nv,) in the tangent space of ``qpos`` (nq,): hinge and slide
    coordinates add; a ball joint's quaternion is right-multiplied by ``exp(dv)`` (local
    axes); a free joint's position adds and its quaternion is left-multiplied (world axes).
    """
    q = qpos
    handled = []
    for js in tree.joints:
        for (t, adr, axis, jpos, q0, jid, dof) in js:
            if t == FREE:
                q = q.at[adr:adr + 3].add(dv[dof:dof + 3])
                quat = _quat_mul(_quat_exp(dv[dof + 3:dof + 6]), q[adr + 3:adr + 7])
                q = q.at[adr + 3:adr + 7].set(quat / jnp.sqrt(jnp.sum(quat * quat)))
            elif t == BALL:
                quat = _quat_mul(q[adr:adr + 4], _quat_exp(dv[dof:dof + 3]))
                q = q.at[adr:adr + 4].set(quat / jnp.sqrt(jnp.sum(quat * quat)))
            else:
                q = q.at[adr].add(dv[dof])
            handled.append(jid)
    return q


def marker_positions(tree: KinTree, qpos, scales=None, offsets=None):
    """World positions (nsel, 3) of the markers: each site plus its offset (site's body frame).

    >>> # see the module docstring for an example
    """
    p, r = site_frames(tree, jnp.asarray(qpos), scales)
    if offsets is None:
        return p
    return p + jnp.einsum("kij,kj->ki", r, offsets)


def mujoco_site_positions(model: mujoco.MjModel, qpos: np.ndarray, site_ids: Sequence[int],
                          offsets: np.ndarray | None = None, data: mujoco.MjData | None = None):
    """Reference implementation with MuJoCo's C ``mj_kinematics`` (numpy, (T, nsel, 3)).

    Also returns the body positions (T, nbody, 3) and quaternions (T, nbody, 4), which the
    stac-mjx output layout stores.
    """
    qpos = np.atleast_2d(np.asarray(qpos, dtype=np.float64))
    d = mujoco.MjData(model) if data is None else data
    ids = list(site_ids)
    bodies = model.site_bodyid[ids]
    T = qpos.shape[0]
    sp = np.zeros((T, len(ids), 3))
    xpos = np.zeros((T, model.nbody, 3))
    xquat = np.zeros((T, model.nbody, 4))
    for t in range(T):  # export only (not the solver): the C engine, one frame at a time
        d.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, d)
        xpos[t], xquat[t] = d.xpos, d.xquat
        p = d.site_xpos[ids].copy()
        if offsets is not None:
            p += np.einsum("kij,kj->ki", d.xmat[bodies].reshape(-1, 3, 3), offsets)
        sp[t] = p
    return sp, xpos, xquat
