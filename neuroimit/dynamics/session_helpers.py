"""Thin helpers from Sessions, rollouts and plain arrays to dynamics-ready channels.

Channels from several sources are put on one uniform time grid (linear interpolation,
NaN outside each source's span), and every sample carries a trial id so embeddings never
span two trials (pass ``ch.segments`` as ``segments=`` to :func:`ccm`, or iterate over
:meth:`Channels.trials`).

>>> import numpy as np
>>> t = np.arange(0, 1, 0.01)
>>> ch = channels_from_arrays({"a": (t, np.sin(t)), "b": (t, np.cos(t))}, rate=50.0,
...                           trials=[(0.0, 0.4), (0.5, 0.9)])
>>> ch.data.shape, int(ch.segments.max())
((50, 2), 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["Channels", "channels_from_arrays", "channels_from_session"]


@dataclass
class Channels:
    """Channels on one uniform time base.

    data: (T, C); time: (T,) s; names: C names; segments: (T,) trial id (-1 = outside
    every trial); rate: Hz.
    """

    data: np.ndarray
    time: np.ndarray
    names: tuple[str, ...]
    segments: np.ndarray
    rate: float

    def select(self, names: Sequence[str]) -> "Channels":
        """Subset of channels by name (KeyError-free: clear DataError listing names)."""
        idx = []
        for n in names:
            if n not in self.names:
                raise DataError(f"unknown channel {n!r}", field="channels",
                                expected=f"one of {list(self.names)}")
            idx.append(self.names.index(n))
        return Channels(self.data[:, idx], self.time, tuple(names), self.segments, self.rate)

    def column(self, name: str) -> np.ndarray:
        return self.select([name]).data[:, 0]

    def trials(self) -> list["Channels"]:
        """One Channels per trial (segment id >= 0), in order."""
        out = []
        for s in np.unique(self.segments[self.segments >= 0]):
            m = self.segments == s
            out.append(Channels(self.data[m], self.time[m], self.names,
                                np.zeros(int(m.sum()), int), self.rate))
        return out

    def concatenated(self) -> "Channels":
        """Samples inside trials only, concatenated; ``segments`` keeps the trial ids so
        that :func:`ccm` / :func:`simplex` (``valid_lib``) respect the gaps."""
        m = self.segments >= 0
        return Channels(self.data[m], self.time[m], self.names, self.segments[m], self.rate)

    def to_pandas(self):
        import pandas as pd
        df = pd.DataFrame(self.data, columns=list(self.names),
                          index=pd.Index(self.time, name="time"))
        df["segment"] = self.segments
        return df


def _segments(time: np.ndarray, trials) -> np.ndarray:
    seg = np.full(time.size, -1, int)
    if trials is None:
        seg[:] = 0
        return seg
    for i, (a, b) in enumerate(trials):
        seg[(time >= a) & (time <= b)] = i
    return seg


def channels_from_arrays(sources: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                         rate: float | None = None, trials=None,
                         t_start: float | None = None, t_stop: float | None = None
                         ) -> Channels:
    """Resample named (time, values) pairs onto one grid.

    Parameters
    ----------
    sources: name -> (time (T_i,), values (T_i,) or (T_i, D_i)); a 2-D source gives
        channels ``name[0]``, ``name[1]``, ...
    rate: common rate in Hz (default: the lowest source rate).
    trials: list of (start, stop) seconds, or None (one trial spanning everything).
    t_start, t_stop: grid span (default: the overlap of all sources).
    """
    if not sources:
        raise DataError("no sources given", field="sources", expected="name -> (time, values)")
    rates, t0s, t1s = [], [], []
    for name, (t, v) in sources.items():
        t = np.asarray(t, float)
        if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
            raise DataError("time must be 1-D, strictly increasing, >= 2 samples",
                            field=f"{name}/time")
        if np.asarray(v).shape[0] != t.size:
            raise DataError(f"{np.asarray(v).shape[0]} values for {t.size} times",
                            field=f"{name}/values", expected="one row per timestamp")
        rates.append(1.0 / np.median(np.diff(t)))
        t0s.append(t[0])
        t1s.append(t[-1])
    rate = float(min(rates) if rate is None else rate)
    if rate <= 0:
        raise ConfigError(f"rate = {rate}", field="rate", expected="> 0 Hz")
    a = max(t0s) if t_start is None else t_start
    b = min(t1s) if t_stop is None else t_stop
    if b <= a:
        raise DataError("sources do not overlap in time", field="sources",
                        expected="a common time span")
    grid = a + np.arange(int(np.floor((b - a) * rate + 1e-9)) + 1) / rate
    cols, names = [], []
    for name, (t, v) in sources.items():
        v = np.asarray(v, float)
        v2 = v[:, None] if v.ndim == 1 else v.reshape(v.shape[0], -1)
        for j in range(v2.shape[1]):
            ok = np.isfinite(v2[:, j])
            col = np.interp(grid, np.asarray(t)[ok], v2[ok, j], left=np.nan, right=np.nan) \
                if ok.sum() >= 2 else np.full(grid.size, np.nan)
            cols.append(col)
            names.append(name if v2.shape[1] == 1 else f"{name}[{j}]")
    return Channels(np.column_stack(cols), grid, tuple(names), _segments(grid, trials), rate)


def channels_from_session(session, *, keypoints: Sequence[str] | None = None,
                          emg: Sequence[str] | None = None,
                          truth: Sequence[str] | None = None, rate: float | None = None,
                          use_trials: bool = True) -> Channels:
    """Channels from a :class:`~neuroimit.session.Session`.

    keypoints: keypoint names -> channels ``"<name>_x"``, ``_y``, ``_z`` (metres).
    emg: EMG channel names (use envelopes; raw EMG should be processed first).
    truth: ground-truth variables (e.g. ``"qpos"``, ``"activation"``), one channel per
        entry of their second dimension, named ``"<var>:<label>"``.
    rate: common rate (default: the pose rate).
    use_trials: segment by the session's trials table (else one segment).
    """
    src: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kp in keypoints or ():
        i = session.keypoint_index(kp)
        for a, ax in enumerate("xyz"):
            src[f"{kp}_{ax}"] = (session.time, session.keypoints[:, i, a])
    if emg:
        if session.emg is None:
            raise DataError("session has no EMG", field="emg", expected="a session with EMG")
        for ch in emg:
            if ch not in session.emg.channels:
                raise DataError(f"unknown EMG channel {ch!r}", field="emg",
                                expected=f"one of {list(session.emg.channels)}")
            src[ch] = (session.emg.time, session.emg.data[:, session.emg.channels.index(ch)])
    for var in truth or ():
        if session.truth is None or var not in session.truth:
            raise DataError(f"no ground-truth variable {var!r}", field="truth",
                            expected="a synthetic session with that variable")
        da = session.truth[var]
        tdim = da.dims[0]
        t = np.asarray(session.truth[tdim].values if tdim in session.truth.coords
                       else session.time, float)
        vals = np.asarray(da.values, float).reshape(da.shape[0], -1)
        labels = (list(map(str, da[da.dims[1]].values)) if da.ndim > 1 and da.dims[1] in da.coords
                  else [str(j) for j in range(vals.shape[1])])
        for j in range(vals.shape[1]):
            src[f"{var}:{labels[j]}"] = (t, vals[:, j])
    if not src:
        raise ConfigError("nothing selected", field="keypoints/emg/truth",
                          expected="at least one channel")
    trials = None
    if use_trials and session.trials is not None and len(session.trials):
        trials = list(zip(session.trials["start_time"], session.trials["stop_time"]))
    return channels_from_arrays(src, rate=rate or session.rate, trials=trials)
