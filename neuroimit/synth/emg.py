"""Raw-like EMG from muscle activations.

Surface / intramuscular EMG is, to first order, band-limited noise whose amplitude follows the
muscle's activation (e.g. Hogan & Mann 1980; De Luca 1997) and which *leads* the force by the
electromechanical delay (10-20 ms). Here, per channel:

``emg(t) = gain_c * activation_c(t + delay) * n_c(t) + e_c(t)``

with ``n_c`` unit-variance Gaussian noise band-passed to ``band`` (4th-order Butterworth) and
``e_c`` white baseline noise. Rectifying and low-passing it recovers an envelope proportional
to the (advanced) activation, so EMG processing has real work to do.

>>> import numpy as np
>>> t = np.arange(200) / 200.0
>>> act = np.clip(np.sin(2 * np.pi * t), 0, None)[:, None]
>>> emg = synth_emg(t, act, np.arange(2000) / 2000.0, np.random.default_rng(0))
>>> emg.shape
(2000, 1)
"""
from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = ["synth_emg"]


def synth_emg(act_time: np.ndarray, activation: np.ndarray, emg_time: np.ndarray,
              rng: np.random.Generator, *, delay_s: float = 0.015,
              band_hz: tuple[float, float] = (20.0, 500.0), amplitude_v: float = 5e-4,
              gain_sd: float = 0.3, noise_v: float = 5e-6) -> np.ndarray:
    """Raw EMG (T', C) in volts.

    act_time: (T,) s; activation: (T, C) in [0, 1] (one column per channel's muscle);
    emg_time: (T',) s, uniform; rng: the random stream (noise and channel gains);
    delay_s: EMG leads activation by this much; band_hz: signal band (the upper edge is
    capped at 0.45 x the EMG rate); amplitude_v: RMS at full activation; gain_sd: log-normal
    s.d. of per-channel gains; noise_v: RMS of the baseline noise.
    """
    act_time = np.asarray(act_time, dtype=np.float64)
    activation = np.asarray(activation, dtype=np.float64)
    emg_time = np.asarray(emg_time, dtype=np.float64)
    n, c = emg_time.size, activation.shape[1]
    rate = 1.0 / float(np.median(np.diff(emg_time))) if n > 1 else 2000.0
    hi = min(float(band_hz[1]), 0.45 * rate)
    sos = signal.butter(4, [float(band_hz[0]), hi], btype="bandpass", fs=rate, output="sos")
    gains = amplitude_v * np.exp(rng.normal(0.0, gain_sd, c))
    white = rng.standard_normal((n + 2000, c))
    # run the filter in over 2000 extra samples so the start has no transient
    carrier = signal.sosfilt(sos, white, axis=0)[2000:]
    carrier /= np.sqrt(np.mean(carrier ** 2, axis=0, keepdims=True)) + 1e-30
    # amplitude: activation at t + delay (held at the ends)
    env = np.empty((n, c))
    for j in range(c):
        env[:, j] = np.interp(emg_time + delay_s, act_time, activation[:, j])
    baseline = rng.normal(0.0, noise_v, (n, c)) if noise_v > 0 else 0.0
    return gains[None, :] * np.clip(env, 0.0, None) * carrier + baseline
