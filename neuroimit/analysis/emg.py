"""EMG processing: band-pass, full-wave rectification, envelope, normalisation, resampling.

Offline analysis allows zero-phase filtering, so every filter here runs forward and backward
(``scipy.signal.sosfiltfilt``): envelopes keep their timing, which matters when the lag between
EMG and simulated activations is the quantity of interest. Cut-offs are checked against the
sampling rate and a bad one raises :class:`~neuroimit.errors.ConfigError` naming the field.

Typical mouse reaching processing (see docs/REFERENCE.md): 20-450 Hz band-pass, rectify,
~50 Hz low-pass envelope, normalise per channel. EMG whose ``kind`` is ``"envelope"`` is
already processed: it is only normalised and resampled, never filtered twice.

>>> import numpy as np
>>> fs = 2000.0
>>> t = np.arange(4000) / fs
>>> rng = np.random.default_rng(0)
>>> raw = (1 + np.sin(2 * np.pi * 2 * t))[:, None] * rng.standard_normal((4000, 1))
>>> env = process_emg_array(raw, fs)
>>> env.shape, float(env.max())
((4000, 1), 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import signal

from ..errors import ConfigError, DataError

__all__ = ["EMGConfig", "bandpass", "rectify", "envelope", "normalise", "resample_to",
           "process_emg", "process_emg_array"]


@dataclass(frozen=True)
class EMGConfig:
    """How EMG is turned into a normalised envelope.

    Attributes
    ----------
    band: (low, high) Hz band-pass for raw EMG, or None to skip. Default 20-450 Hz
        (removes movement artefact and DC below 20 Hz; surface/intramuscular EMG power lies
        below ~500 Hz). ``high`` is capped at 0.45 x the sampling rate when it is too high
        only if ``cap_high`` is True; otherwise a too-high cut-off is an error.
    envelope_hz: low-pass cut-off (Hz) of the rectified signal. Default 50 Hz
        (docs/REFERENCE.md), fast enough for 15-60 ms muscle activation dynamics.
    order: Butterworth order of each filter (applied twice: zero phase, so 2 x order).
    normalise: ``"max"`` (divide by the channel maximum), ``"percentile"`` (divide by the
        ``percentile``-th percentile, robust to spikes) or ``None``.
    percentile: used by ``normalise="percentile"``; default 95.
    antialias: low-pass at 0.45 x the target rate before downsampling onto a slower time base
        (only when the envelope cut-off is above that; an envelope is not re-filtered otherwise).
    cap_high: clip the band-pass upper edge to 0.45 x rate instead of raising.
    """

    band: tuple[float, float] | None = (20.0, 450.0)
    envelope_hz: float = 50.0
    order: int = 4
    normalise: Literal["max", "percentile"] | None = "max"
    percentile: float = 95.0
    antialias: bool = True
    cap_high: bool = False

    def __post_init__(self):
        if self.order < 1 or self.order > 10:
            raise ConfigError(f"filter order {self.order} out of range", field="EMGConfig.order",
                              expected="an integer 1..10")
        if self.normalise not in ("max", "percentile", None):
            raise ConfigError(f"unknown normalisation {self.normalise!r}",
                              field="EMGConfig.normalise",
                              expected="'max', 'percentile' or None")
        if not 0 < self.percentile <= 100:
            raise ConfigError(f"percentile {self.percentile} out of range",
                              field="EMGConfig.percentile", expected="0 < percentile <= 100")
        if self.envelope_hz is not None and not self.envelope_hz > 0:
            raise ConfigError(f"envelope cut-off {self.envelope_hz} Hz",
                              field="EMGConfig.envelope_hz", expected="a positive frequency")
        if self.band is not None:
            lo, hi = self.band
            if not (0 < lo < hi):
                raise ConfigError(f"band-pass {self.band} Hz", field="EMGConfig.band",
                                  expected="0 < low < high")


def _check_rate(fs: float) -> float:
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ConfigError(f"sampling rate {fs} Hz", field="rate", expected="a positive rate (Hz)")
    return fs


def _fill_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation over NaNs per column (filters cannot run over gaps)."""
    x = np.array(x, dtype=np.float64, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.arange(x.shape[0])
        for j in range(x.shape[1]):
            ok = ~bad[:, j]
            if ok.sum() == 0:
                x[:, j] = 0.0
            elif (~ok).any():
                x[~ok, j] = np.interp(idx[~ok], idx[ok], x[ok, j])
    return x, bad


def _as2d(x) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None], True
    if x.ndim != 2:
        raise DataError(f"EMG array has shape {x.shape}", field="emg",
                        expected="(time,) or (time, channel)")
    return x, False


def _sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    # padlen must be shorter than the signal; short clips get the longest pad they allow
    padlen = min(3 * (2 * len(sos) + 1), x.shape[0] - 1)
    if x.shape[0] < 2:
        return x.copy()
    return signal.sosfiltfilt(sos, x, axis=0, padlen=max(padlen, 0))


def bandpass(x: np.ndarray, fs: float, low: float = 20.0, high: float = 450.0, order: int = 4,
             *, cap_high: bool = False) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0.

    Parameters
    ----------
    x: (T,) or (T, C) signal. fs: sampling rate (Hz). low, high: band edges (Hz),
    0 < low < high < fs / 2 (else ConfigError; ``cap_high`` clips high to 0.45 fs instead).

    >>> y = bandpass(np.random.default_rng(0).standard_normal(2000), 2000.0)
    >>> y.shape
    (2000,)
    """
    fs = _check_rate(fs)
    if cap_high:
        high = min(high, 0.45 * fs)
    if not (0 < low < high < fs / 2):
        raise ConfigError(f"band-pass {low}-{high} Hz is not inside (0, {fs / 2:g}) Hz "
                          f"for a sampling rate of {fs:g} Hz", field="EMGConfig.band",
                          expected="0 < low < high < rate/2 (use a lower high cut-off or "
                                   "cap_high=True)")
    a, one = _as2d(x)
    filled, bad = _fill_gaps(a)
    sos = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    y = _sosfiltfilt(sos, filled)
    y[bad] = np.nan
    return y[:, 0] if one else y


def rectify(x: np.ndarray) -> np.ndarray:
    """Full-wave rectification: ``|x|``."""
    return np.abs(np.asarray(x, dtype=np.float64))


def envelope(x: np.ndarray, fs: float, cutoff: float = 50.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass of a (rectified) signal; negatives clipped to 0.

    ``cutoff`` must be below fs / 2 (ConfigError otherwise).
    """
    fs = _check_rate(fs)
    if not (0 < cutoff < fs / 2):
        raise ConfigError(f"envelope cut-off {cutoff} Hz is not below the Nyquist frequency "
                          f"{fs / 2:g} Hz of a {fs:g} Hz signal", field="EMGConfig.envelope_hz",
                          expected="0 < cut-off < rate/2")
    a, one = _as2d(x)
    filled, bad = _fill_gaps(a)
    sos = signal.butter(order, cutoff, btype="lowpass", fs=fs, output="sos")
    y = np.maximum(_sosfiltfilt(sos, filled), 0.0)  # ringing can dip below zero
    y[bad] = np.nan
    return y[:, 0] if one else y


def normalise(x: np.ndarray, method: str | None = "max", percentile: float = 95.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel normalisation. Returns ``(normalised, scale)`` with ``scale`` (C,).

    ``method``: ``"max"``, ``"percentile"`` or None (scale 1). Channels that are all zero keep
    scale 1.
    """
    a, one = _as2d(x)
    if method is None:
        scale = np.ones(a.shape[1])
    elif method == "max":
        scale = np.nanmax(np.abs(a), axis=0) if a.size else np.ones(a.shape[1])
    elif method == "percentile":
        scale = np.nanpercentile(np.abs(a), percentile, axis=0)
    else:
        raise ConfigError(f"unknown normalisation {method!r}", field="normalise",
                          expected="'max', 'percentile' or None")
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    y = a / scale
    return (y[:, 0] if one else y), scale


def resample_to(time: np.ndarray, x: np.ndarray, new_time: np.ndarray, *,
                antialias_hz: float | None = None) -> np.ndarray:
    """Values of x(time) at ``new_time`` (linear interpolation; NaN outside the range).

    ``antialias_hz``: zero-phase low-pass at this frequency first (used when moving onto a
    slower time base).
    """
    time = np.asarray(time, dtype=np.float64)
    new_time = np.asarray(new_time, dtype=np.float64)
    a, one = _as2d(x)
    if time.shape[0] != a.shape[0]:
        raise DataError(f"{time.shape[0]} timestamps for {a.shape[0]} samples", field="emg/time",
                        expected="one timestamp per sample")
    if antialias_hz is not None and time.size > 8:
        fs = 1.0 / np.median(np.diff(time))
        if antialias_hz < 0.5 * fs:
            filled, bad = _fill_gaps(a)
            sos = signal.butter(4, antialias_hz, fs=fs, output="sos")
            a = _sosfiltfilt(sos, filled)
            a[bad] = np.nan
    out = np.full((new_time.size, a.shape[1]), np.nan)
    for j in range(a.shape[1]):
        ok = np.isfinite(a[:, j])
        if ok.sum() < 2:
            continue
        v = np.interp(new_time, time[ok], a[ok, j], left=np.nan, right=np.nan)
        # a resampled point is missing when it falls in a gap of the source
        idx = np.clip(np.searchsorted(time, new_time) , 1, time.size - 1)
        gap = ~(ok[idx] & ok[idx - 1])
        exact = np.isclose(time[idx - 1], new_time, atol=1e-12) & ok[idx - 1]
        v[gap & ~exact] = np.nan
        out[:, j] = v
    return out[:, 0] if one else out


def process_emg_array(x: np.ndarray, fs: float, config: EMGConfig = EMGConfig(), *,
                      kind: Literal["raw", "envelope"] = "raw", time: np.ndarray | None = None,
                      new_time: np.ndarray | None = None) -> np.ndarray:
    """Raw EMG (or an envelope) -> normalised envelope, optionally on ``new_time``.

    Parameters
    ----------
    x: (T, C) or (T,) EMG. fs: its rate (Hz). kind: ``"raw"`` runs band-pass, rectification
    and envelope; ``"envelope"`` skips them. time: (T,) timestamps (default ``arange(T)/fs``).
    new_time: (T2,) seconds to resample onto (e.g. the kinematics time base).

    Returns (T, C) or (T2, C) normalised envelopes (normalisation uses the full-rate
    envelope, before resampling, so a peak between new samples still counts).
    """
    fs = _check_rate(fs)
    a, one = _as2d(x)
    if kind == "raw":
        if config.band is not None:
            a = bandpass(a, fs, *config.band, order=config.order, cap_high=config.cap_high)
        a = rectify(a)
        if config.envelope_hz is not None:
            a = envelope(a, fs, config.envelope_hz, config.order)
    elif kind != "envelope":
        raise ConfigError(f"unknown EMG kind {kind!r}", field="kind",
                          expected="'raw' or 'envelope'")
    a, _ = normalise(a, config.normalise, config.percentile)
    if new_time is not None:
        t = np.arange(a.shape[0]) / fs if time is None else np.asarray(time, dtype=float)
        new_time = np.asarray(new_time, dtype=float)
        aa = None
        if config.antialias and new_time.size > 1:
            new_fs = 1.0 / np.median(np.diff(new_time))
            limit = 0.45 * new_fs
            cur = config.envelope_hz if kind == "raw" else fs / 2
            if new_fs < fs and (cur is None or cur > limit):
                aa = limit
        a = resample_to(t, a, new_time, antialias_hz=aa)
    return a[:, 0] if one else a


def process_emg(emg, config: EMGConfig = EMGConfig(), *, time: np.ndarray | None = None):
    """Process a :class:`neuroimit.EMG` (or anything with ``data``, ``time``, ``kind``).

    Returns a new EMG with ``kind="envelope"``, unit ``"a.u."``, on ``time`` when given (the
    kinematics / simulation time base) or its own time otherwise. Envelopes
    (``emg.kind == "envelope"``) are normalised and resampled, not filtered again.

    >>> from neuroimit.session import EMG
    >>> e = EMG(np.random.default_rng(1).standard_normal((2000, 2)), np.arange(2000) / 2000,
    ...         ["Biceps", "TriLong"])
    >>> env = process_emg(e, time=np.arange(100) / 100)
    >>> env.kind, env.data.shape
    ('envelope', (100, 2))
    """
    from ..session import EMG

    data = np.asarray(emg.data, dtype=float)
    t = np.asarray(emg.time, dtype=float)
    if t.size < 2:
        raise DataError("EMG has fewer than 2 samples", file=getattr(emg, "source", None),
                        field="emg/time", expected="a sampled signal")
    fs = 1.0 / float(np.median(np.diff(t)))
    kind = getattr(emg, "kind", "raw")
    out = process_emg_array(data, fs, config, kind=kind, time=t, new_time=time)
    new_t = t if time is None else np.asarray(time, dtype=float)
    if isinstance(emg, EMG):
        return replace(emg, data=out, time=new_t, unit="a.u.", kind="envelope")
    return EMG(out, new_t, list(emg.channels), list(getattr(emg, "muscles", emg.channels)),
               unit="a.u.", kind="envelope", source=getattr(emg, "source", None))
