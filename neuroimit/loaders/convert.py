"""``neuroimit convert``: any loadable source -> a standard NWB file (ndx-pose, EMG, trials).

>>> convert("A36-1_..._trial01_ik.h5", "trial01.nwb", rate=200.0)      # doctest: +SKIP
>>> inspect_nwb("trial01.nwb", min_importance="CRITICAL")             # doctest: +SKIP
[]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import DataError

__all__ = ["convert", "inspect_nwb"]


def inspect_nwb(path: str | os.PathLike, *, min_importance: str = "CRITICAL") -> list[dict]:
    """nwbinspector findings at or above ``min_importance`` (CRITICAL also includes pynwb
    validation errors and inspector errors), as dicts."""
    from nwbinspector import Importance, inspect_nwbfile

    floor = Importance[min_importance]
    out = []
    for m in inspect_nwbfile(nwbfile_path=str(path)):
        if m is None or m.importance.value < floor.value:
            continue
        out.append({"importance": m.importance.name, "check": m.check_function_name,
                    "object": f"{m.object_type} {m.object_name}", "location": m.location,
                    "message": m.message})
    return out


def convert(source: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False,
            check: bool = True, **load_kwargs: Any) -> Path:
    """Load ``source`` (see :func:`neuroimit.loaders.load_session`) and write it as NWB.

    With ``check`` the written file is inspected with nwbinspector; CRITICAL findings raise
    a :class:`DataError` (the file is removed). Returns the output path.
    """
    from . import load_session
    from .nwb_write import write_nwb

    sess = load_session(source, **load_kwargs)
    path = write_nwb(sess, out, overwrite=overwrite)
    if check:
        bad = inspect_nwb(path)
        if bad:
            path.unlink(missing_ok=True)
            first = bad[0]
            raise DataError(f"converted file fails nwbinspector ({len(bad)} critical: "
                            f"{first['check']}: {first['message']})", file=str(out))
    return path
