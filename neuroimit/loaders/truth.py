"""Read ``processing["ground_truth"]`` (layout: docs/synth.md, written by nwb_write.py) back
into the ``xarray.Dataset`` that :attr:`Session.truth` holds.

TimeSeries -> variables over ``time``/``emg_time`` (dims, coords, attrs from the JSON in
``comments``); DynamicTables -> the other variables (JSON after ``"; json: "`` in the
description); the ``dataset_attrs`` table -> the Dataset's attributes.
"""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ..errors import DataError
from .hdf import attr_str, kind_of
from .series import LazySeries, Notes

__all__ = ["read_truth_module"]


def _coords(meta: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, c in (meta.get("coords") or {}).items():
        out[name] = (tuple(c.get("dims", ())), np.asarray(c.get("values")))
    return out


def _table_column(g: h5py.Group, name: str) -> np.ndarray:
    v = g[name][()]
    if v.dtype.kind in "SO":
        v = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in np.ravel(v)])
    return v


def read_truth_module(mod: h5py.Group, label: str, notes: Notes,
                      window: tuple[float, float] | None = None) -> xr.Dataset:
    """The ground-truth Dataset stored in the processing module ``mod``.

    ``window`` (t0, t1): read only the samples of time series with t0 <= t < t1.
    """
    variables: dict[str, xr.DataArray] = {}
    attrs: dict[str, Any] = {}
    for name in mod:
        if mod.get(name, getclass=True) is not h5py.Group:
            continue
        g = mod[name]
        t = kind_of(g)
        try:
            if t == "TimeSeries":
                s = LazySeries(g, label)
                meta = json.loads(s.comments or "{}")
                dims = tuple(meta.get("dims") or ("time",) + tuple(
                    f"{name}_dim{i}" for i in range(1, len(s.shape))))
                i0, i1 = s.index_range(window)
                data = np.asarray(g["data"][i0:i1])
                coords = _coords(meta)
                coords[dims[0]] = s.times(i0, i1)
                variables[name] = xr.DataArray(data, dims=dims, coords=coords,
                                               attrs=meta.get("attrs") or {})
            elif t == "DynamicTable" and name == "dataset_attrs":
                keys = _table_column(g, "key")
                vals = _table_column(g, "value_json")
                attrs = {str(k): json.loads(str(v)) for k, v in zip(keys, vals)}
            elif t == "DynamicTable":
                desc = attr_str(g, "description", "") or ""
                meta = json.loads(desc.split("; json: ", 1)[1]) if "; json: " in desc else {}
                dims = tuple(meta.get("dims") or ())
                vals = np.asarray(g["value"][()])
                if vals.dtype.kind in "SO":
                    vals = np.array([x.decode() if isinstance(x, bytes) else x
                                     for x in np.ravel(vals)]).reshape(vals.shape)
                if not dims:
                    vals = vals.reshape(())
                variables[name] = xr.DataArray(vals, dims=dims, coords=_coords(meta),
                                               attrs=meta.get("attrs") or {})
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"ground-truth object cannot be read ({exc})", file=label,
                            field=g.name, expected="the layout of docs/synth.md") from None
    if not variables:
        return None  # type: ignore[return-value]
    ds = xr.Dataset(variables, attrs=attrs)
    notes.info(f"{label}: ground truth {sorted(variables)} from processing/ground_truth")
    return ds
