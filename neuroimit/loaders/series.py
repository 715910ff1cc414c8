"""Lazy views of NWB TimeSeries groups: read only the samples a time window needs.

A :class:`LazySeries` wraps an HDF5 group with ``data`` and either ``timestamps`` or
``starting_time`` + ``rate``. :meth:`LazySeries.index_range` finds the samples inside a time
window by bisecting the timestamps dataset (a handful of small reads, not the whole array),
which is what keeps streamed loads of one trial cheap.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..errors import DataError
from .hdf import attr_str

__all__ = ["LazySeries", "Notes", "LoaderWarning", "searchsorted_lazy"]

log = logging.getLogger("neuroimit.loaders")


class LoaderWarning(UserWarning):
    """A loader had to guess or repair something; the message says what it did."""


@dataclass
class Notes:
    """What a loader picked or repaired, in plain words (kept in ``metadata['loader_notes']``).

    ``info`` is logged; ``warn`` is logged and raised as a :class:`LoaderWarning`.
    """

    items: list[str] = field(default_factory=list)

    def info(self, msg: str) -> None:
        self.items.append(msg)
        log.info(msg)

    def warn(self, msg: str) -> None:
        self.items.append(msg)
        log.info(msg)
        warnings.warn(msg, LoaderWarning, stacklevel=3)


def searchsorted_lazy(ds: h5py.Dataset, value: float, side: str = "left",
                      block: int = 4096) -> int:
    """``np.searchsorted`` on a sorted 1-D dataset, reading O(log n) single samples.

    >>> import h5py, numpy as np, io
    >>> f = h5py.File(io.BytesIO(), "w"); d = f.create_dataset("t", data=np.arange(10.0))
    >>> searchsorted_lazy(d, 3.5), searchsorted_lazy(d, 3.0, "right")
    (4, 4)
    """
    lo, hi = 0, int(ds.shape[0])
    while hi - lo > block:
        mid = (lo + hi) // 2
        v = float(ds[mid])
        if v < value or (side == "right" and v == value):
            lo = mid + 1
        else:
            hi = mid
    return lo + int(np.searchsorted(ds[lo:hi], value, side=side))


def _clean_rate(rate: float) -> float:
    """A rate stored as 1/step loses its last bits (199.99999999999997 for 200 Hz): snap
    it to the nearest micro-hertz when that is within float noise, so times rebuild exactly.
    """
    if np.isfinite(rate) and rate > 0:
        snapped = round(rate, 6)
        if abs(snapped - rate) <= 1e-12 * rate:
            return snapped
    return rate


class LazySeries:
    """An NWB TimeSeries-like group read lazily.

    Parameters
    ----------
    group: the HDF5 group (must hold ``data``).
    label: how errors name the file (path or URL).
    """

    def __init__(self, group: h5py.Group, label: str):
        self.group = group
        self.label = label
        self.path = group.name
        self.name = group.name.rsplit("/", 1)[-1]
        if "data" not in group:
            raise DataError("time series has no 'data'", file=label, field=self.path)
        self.data: h5py.Dataset = group["data"]
        self.unit = attr_str(self.data, "unit", "") or ""
        self.conversion = float(self.data.attrs.get("conversion", 1.0))
        self.offset = float(self.data.attrs.get("offset", 0.0))
        self.timestamps: h5py.Dataset | None = group["timestamps"] if "timestamps" in group \
            else None
        self.start = 0.0
        self.rate: float | None = None
        if self.timestamps is None:
            if "starting_time" not in group:
                raise DataError("time series has neither timestamps nor starting_time/rate",
                                file=label, field=self.path)
            st = group["starting_time"]
            self.start = float(st[()])
            self.rate = _clean_rate(float(st.attrs.get("rate", np.nan)))
            if not np.isfinite(self.rate) or self.rate <= 0:
                raise DataError(f"invalid sampling rate {self.rate}", file=label,
                                field=f"{self.path}/starting_time",
                                expected="a positive rate attribute in Hz")
        self.description = attr_str(group, "description", "") or ""
        self.comments = attr_str(group, "comments", "") or ""

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def index_range(self, window: tuple[float, float] | None) -> tuple[int, int]:
        """Samples ``[i0, i1)`` with ``t0 <= time < t1`` (all samples when window is None)."""
        if window is None:
            return 0, self.n
        t0, t1 = window
        if self.timestamps is None:
            i0 = int(np.ceil((t0 - self.start) * self.rate - 1e-9))
            i1 = int(np.ceil((t1 - self.start) * self.rate - 1e-9))
            return max(0, min(i0, self.n)), max(0, min(i1, self.n))
        n = min(self.n, int(self.timestamps.shape[0]))
        i0 = searchsorted_lazy(self.timestamps, t0, "left")
        i1 = searchsorted_lazy(self.timestamps, t1, "left")
        return min(i0, n), min(max(i1, i0), n)

    def times(self, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Seconds for samples ``[i0, i1)``."""
        i1 = self.n if i1 is None else i1
        if self.timestamps is None:
            return self.start + np.arange(i0, i1) / self.rate
        if self.timestamps.shape[0] < self.n:
            raise DataError(f"{self.timestamps.shape[0]} timestamps for {self.n} samples",
                            file=self.label, field=f"{self.path}/timestamps",
                            expected="one timestamp per sample")
        return np.asarray(self.timestamps[i0:i1], dtype=np.float64)

    def values(self, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Samples ``[i0, i1)`` as float64 with NWB's conversion and offset applied."""
        i1 = self.n if i1 is None else i1
        v = np.asarray(self.data[i0:i1], dtype=np.float64)
        if self.conversion != 1.0:
            v = v * self.conversion
        if self.offset != 0.0:
            v = v + self.offset
        return v

    def same_time_base(self, other: "LazySeries") -> bool:
        """True when both series share a timestamps dataset or the same start/rate."""
        if self.timestamps is not None and other.timestamps is not None:
            return self.timestamps == other.timestamps
        if self.timestamps is None and other.timestamps is None:
            return self.start == other.start and self.rate == other.rate
        return False
