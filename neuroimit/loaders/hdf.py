"""Opening HDF5 files (local or remote file objects) with errors that name the file.

NWB, saved neuroimit sessions and stac-style clips are all HDF5. Everything here works on
``h5py`` objects only, so the same code reads a local file and a streamed remote one.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np

from ..errors import DataError

__all__ = ["HDF5_MAGIC", "open_hdf5", "is_hdf5", "attr_str", "read_str", "kind_of"]

log = logging.getLogger("neuroimit.loaders")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the HDF5 signature (at offset 0)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


def open_hdf5(source: str | os.PathLike | IO[bytes], *, name: str | None = None) -> h5py.File:
    """Open ``source`` read-only; a clear :class:`DataError` when it is not readable HDF5.

    ``source`` is a path or a seekable binary file object (e.g. a streamed remote file);
    ``name`` is what errors call it (a URL for remote files).
    """
    label = name or str(source)
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise DataError("file does not exist", file=label)
        if p.is_dir():
            raise DataError("is a directory", file=label, expected="an NWB/HDF5 file")
        size = p.stat().st_size
        with open(p, "rb") as fh:
            magic = fh.read(8)
    else:
        pos = source.tell()
        magic = source.read(8)
        source.seek(pos)
        size = None
    if magic != HDF5_MAGIC:
        what = "an empty file" if size == 0 else "not an HDF5 file"
        raise DataError(f"{what} (no HDF5 signature)", file=label,
                        expected="an NWB / HDF5 file")
    try:
        return h5py.File(source, "r")
    except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on damaged files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncat" in msg.lower() or "eof" in msg.lower():
            problem = "truncated HDF5 file"
        else:
            problem = "damaged HDF5 file"
        raise DataError(f"{problem} ({msg})", file=label,
                        expected="a complete file (download it again)") from None


def attr_str(obj: Any, key: str, default: str | None = None) -> str | None:
    """An HDF5 attribute as ``str`` (bytes decoded), or ``default``."""
    if key not in obj.attrs:
        return default
    v = obj.attrs[key]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(v)


def read_str(ds: h5py.Dataset) -> str | list[str]:
    """A scalar or 1-D string dataset as str / list of str."""
    v = ds[()]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                for x in v.ravel()]
    return str(v)


def kind_of(obj: Any) -> str | None:
    """The NWB ``neurodata_type`` of an HDF5 object, or None."""
    return attr_str(obj, "neurodata_type")
