"""Checkpoints of the whole training state as plain ``.npz`` files, written atomically.

The file holds every leaf of the :class:`~neuroimit.imitation.ppo.TrainState` pytree in
order (``leaf_00000``, ...); loading needs a template state with the same structure (built by
the trainer from the saved config), and checks shapes and dtypes leaf by leaf.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import jax
import numpy as np

from ..errors import DataError

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "list_checkpoints"]

_PAT = re.compile(r"ckpt_(\d{8})\.npz$")


def list_checkpoints(folder) -> list[tuple[int, Path]]:
    """(iteration, path) pairs in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _PAT.search(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(folder) -> tuple[int, Path] | None:
    cks = list_checkpoints(folder)
    return cks[-1] if cks else None


def save_checkpoint(folder, state, iteration: int, keep: int = 2) -> Path:
    """Write ``state`` (any pytree of arrays) to ``folder/ckpt_<iteration>.npz`` atomically and
    keep only the newest ``keep`` checkpoints."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(x) for x in jax.device_get(jax.tree_util.tree_leaves(state))]
    path = folder / f"ckpt_{iteration:08d}.npz"
    fd, tmp = tempfile.mkstemp(prefix=".ckpt_", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{f"leaf_{i:05d}": x for i, x in enumerate(leaves)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path, template):
    """Arrays of ``path`` in the structure of ``template`` (numpy leaves)."""
    path = Path(path)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    try:
        with np.load(path) as z:
            arrs = [z[f"leaf_{i:05d}"] for i in range(len(z.files))]
    except Exception as exc:  # truncated / corrupt file
        raise DataError(f"cannot read checkpoint: {exc}", file=str(path)) from exc
    if len(arrs) != len(leaves):
        raise DataError(f"checkpoint has {len(arrs)} arrays, the model needs {len(leaves)}",
                        file=str(path), expected="a checkpoint of the same configuration")
    for i, (a, t) in enumerate(zip(arrs, leaves)):
        if a.shape != tuple(np.shape(t)) or a.dtype != np.asarray(t).dtype:
            raise DataError(f"array {i} is {a.dtype}{a.shape}, expected "
                            f"{np.asarray(t).dtype}{tuple(np.shape(t))}", file=str(path),
                            expected="a checkpoint of the same configuration")
    return jax.tree_util.tree_unflatten(treedef, arrs)
