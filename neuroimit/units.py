"""Unit conversion to SI at the edges (loaders); the package works in m, s, rad, N, V."""
from __future__ import annotations

from .errors import DataError

#: factor to metres for every length unit we accept (lower-cased names and symbols)
LENGTH_TO_M: dict[str, float] = {
    "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
    "cm": 1e-2, "centimeter": 1e-2, "centimeters": 1e-2, "centimetre": 1e-2, "centimetres": 1e-2,
    "mm": 1e-3, "millimeter": 1e-3, "millimeters": 1e-3, "millimetre": 1e-3, "millimetres": 1e-3,
    "um": 1e-6, "µm": 1e-6, "micrometer": 1e-6, "micrometers": 1e-6, "micron": 1e-6,
    "microns": 1e-6,
}

#: factor to volts for EMG units; "a.u." (already normalised envelopes) is kept as is
VOLTAGE_TO_V: dict[str, float] = {
    "v": 1.0, "volt": 1.0, "volts": 1.0,
    "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3,
    "uv": 1e-6, "µv": 1e-6, "microvolt": 1e-6, "microvolts": 1e-6,
    "a.u.": 1.0, "au": 1.0, "n.a.": 1.0, "arbitrary": 1.0,
}


def length_factor(unit: str, *, file: str | None = None, field: str | None = None) -> float:
    """Factor that converts ``unit`` to metres.

    >>> length_factor("mm")
    0.001
    """
    key = str(unit).strip().lower()
    if key not in LENGTH_TO_M:
        raise DataError(f"unknown length unit {unit!r}", file=file, field=field,
                        expected="one of m, cm, mm, um")
    return LENGTH_TO_M[key]


def voltage_factor(unit: str, *, file: str | None = None, field: str | None = None) -> float:
    """Factor that converts an EMG ``unit`` to volts (1.0 for arbitrary units).

    >>> voltage_factor("mV")
    0.001
    """
    key = str(unit).strip().lower()
    if key not in VOLTAGE_TO_V:
        raise DataError(f"unknown EMG unit {unit!r}", file=file, field=field,
                        expected="one of V, mV, uV, a.u.")
    return VOLTAGE_TO_V[key]


def canonical_emg_unit(unit: str) -> str:
    """'V' for any voltage unit, 'a.u.' for arbitrary units."""
    key = str(unit).strip().lower()
    return "a.u." if key in ("a.u.", "au", "n.a.", "arbitrary") else "V"
