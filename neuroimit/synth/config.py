"""Settings of a synthetic reaching session (:class:`SynthConfig`)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..errors import ConfigError

__all__ = ["SynthConfig"]


def _range(name: str, r, lo: float = 0.0) -> None:
    if len(r) != 2 or not (lo <= float(r[0]) <= float(r[1])) or not math.isfinite(r[1]):
        raise ConfigError(f"{name}={tuple(r)!r} is not a valid (min, max) range",
                          field=name, expected=f"two finite numbers {lo} <= min <= max")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic session; same config + seed -> same numbers.

    Timing
        duration: session length (s). pose_rate: keypoint frame rate and muscle control rate
        (Hz); the physics step is the body's (1.25 ms) or the nearest step that divides a
        frame. emg_rate: raw EMG sampling rate (Hz), >= 2 kHz recommended.
    Observation noise
        noise_m: s.d. of Gaussian keypoint noise per coordinate (m), default 0.2 mm.
        missing_fraction: expected fraction of missing (NaN) frames per keypoint, in gaps of
        1-5 frames; frames next to a gap get low confidence (0.3-0.6).
        offset_sd_m: s.d. of the true keypoint offsets from their model sites, in the site
        body's frame (m); 0 = keypoints sit on the sites.
        scale_sd: s.d. of the true per-segment length scales around 1 (clipped to 0.75-1.25);
        0 = the template body.
    EMG
        emg_delay_s: electromechanical delay (s): EMG at t follows the activation at
        t + delay (10-20 ms in muscle, e.g. Cavanagh & Komi 1979).
        emg_channels: recorded channels (names in the body's EMG map).
        emg_band_hz: band of the muscle signal (Hz). emg_amplitude_v: RMS (V) at full
        activation; channel gains vary log-normally by emg_gain_sd. emg_noise_v: RMS of the
        baseline (electrode/amplifier) noise (V).
    Reaches
        reach_s / hold_s / withdraw_s / pause_s: uniform ranges of the reach, hold at the
        target, withdrawal and inter-reach pause durations (s). reach_dir: direction of the
        targets from the paw's rest position in the body's world frame (x forward, z up for
        the mouse forelimb); distance_m: range of target distances (m); spread_m: s.d. of
        the targets' scatter (m); success_rate: fraction of reaches that reach the target
        (the others stop 40-70 % of the way, outcome "miss").
    Control
        track_hz: natural frequency of the critically damped PD feedback that keeps the
        muscle-driven arm on the planned path.
    Identity
        seed, body (a built-in name or MJCF path), keypoints (names in the body's keypoint
        map; the last one is the end effector that reaches for the targets), subject,
        session_id (default ``synth-seed<seed>``).

    >>> SynthConfig(duration=2.0, seed=3).pose_rate
    200.0
    """

    duration: float = 10.0
    pose_rate: float = 200.0
    emg_rate: float = 2000.0
    noise_m: float = 2e-4
    missing_fraction: float = 0.02
    offset_sd_m: float = 0.0
    scale_sd: float = 0.0
    emg_delay_s: float = 0.015
    seed: int = 0
    body: str = "mouse_forelimb"
    keypoints: tuple[str, ...] = ("Shoulder", "Elbow", "Wrist", "Paw")
    emg_channels: tuple[str, ...] = ("Biceps", "TriLong", "TriLat", "Deltoid", "Pectoralis")
    emg_band_hz: tuple[float, float] = (20.0, 500.0)
    emg_amplitude_v: float = 5e-4
    emg_gain_sd: float = 0.3
    emg_noise_v: float = 5e-6
    reach_s: tuple[float, float] = (0.15, 0.40)
    hold_s: tuple[float, float] = (0.05, 0.15)
    withdraw_s: tuple[float, float] = (0.10, 0.25)
    pause_s: tuple[float, float] = (0.30, 0.90)
    reach_dir: tuple[float, float, float] = (1.0, 0.0, 0.5)
    distance_m: tuple[float, float] = (0.006, 0.011)
    spread_m: float = 0.0015
    success_rate: float = 0.8
    track_hz: float = 10.0
    subject: str = "synthetic-mouse"
    session_id: str | None = None

    def __post_init__(self):
        pos = {"duration": self.duration, "pose_rate": self.pose_rate,
               "emg_rate": self.emg_rate, "track_hz": self.track_hz,
               "emg_amplitude_v": self.emg_amplitude_v}
        for k, v in pos.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{k}={v!r}", field=k, expected="a positive finite number")
        nonneg = {"noise_m": self.noise_m, "offset_sd_m": self.offset_sd_m,
                  "scale_sd": self.scale_sd, "emg_delay_s": self.emg_delay_s,
                  "emg_gain_sd": self.emg_gain_sd, "emg_noise_v": self.emg_noise_v,
                  "spread_m": self.spread_m}
        for k, v in nonneg.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"{k}={v!r}", field=k, expected="a finite number >= 0")
        if not 0.0 <= self.missing_fraction < 0.5:
            raise ConfigError(f"missing_fraction={self.missing_fraction!r}",
                              field="missing_fraction", expected="0 <= fraction < 0.5")
        if not 0.0 <= self.success_rate <= 1.0:
            raise ConfigError(f"success_rate={self.success_rate!r}", field="success_rate",
                              expected="a probability in [0, 1]")
        if self.duration * self.pose_rate < 2:
            raise ConfigError(f"duration {self.duration} s at {self.pose_rate} Hz gives fewer "
                              "than 2 frames", field="duration", expected="a longer session")
        lo, hi = self.emg_band_hz
        if not (0 < lo < hi) or lo >= 0.45 * self.emg_rate:
            raise ConfigError(f"emg_band_hz={self.emg_band_hz!r} at emg_rate {self.emg_rate} Hz",
                              field="emg_band_hz",
                              expected="0 < low < high, low below 0.45 x emg_rate")
        if self.emg_delay_s > 0.1:
            raise ConfigError(f"emg_delay_s={self.emg_delay_s!r}", field="emg_delay_s",
                              expected="an electromechanical delay of at most 0.1 s")
        if self.scale_sd > 0.2:
            raise ConfigError(f"scale_sd={self.scale_sd!r}", field="scale_sd",
                              expected="at most 0.2 (scales are clipped to 0.75-1.25)")
        for name in ("reach_s", "hold_s", "withdraw_s", "pause_s", "distance_m"):
            _range(name, getattr(self, name))
        if float(self.reach_s[0]) <= 0 or float(self.withdraw_s[0]) <= 0:
            raise ConfigError("reach and withdrawal durations must be positive",
                              field="reach_s/withdraw_s", expected="min > 0")
        if len(self.reach_dir) != 3 or not any(float(x) for x in self.reach_dir):
            raise ConfigError(f"reach_dir={self.reach_dir!r}", field="reach_dir",
                              expected="a non-zero 3-vector")
        if not self.keypoints:
            raise ConfigError("no keypoints requested", field="keypoints",
                              expected="names from the body's keypoint map")
        if int(self.seed) != self.seed:
            raise ConfigError(f"seed={self.seed!r}", field="seed", expected="an integer")
        # tuples, so a config is hashable and prints the same after a YAML round trip
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))

    @property
    def name(self) -> str:
        """The session id (``session_id`` or ``synth-seed<seed>``)."""
        return self.session_id or f"synth-seed{self.seed}"

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable settings."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
