"""STAC settings: one dataclass, every knob documented with its default.

>>> cfg = StacConfig(smooth_sd_acc=5000.0, calibrate_scales=False)
>>> cfg.replace(n_rounds=1).n_rounds
1
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from ..errors import ConfigError

__all__ = ["StacConfig"]


@dataclass(frozen=True)
class StacConfig:
    """Settings of :func:`neuroimit.stac.register`.

    Noise model (sets the relative weight of every term; costs are sums of squared
    standardised residuals, i.e. a MAP estimate under Gaussian noise and priors):

    noise_sd_m: keypoint noise standard deviation (m), 0.2 mm.
    min_confidence: keypoints with confidence below this are masked (weight 0); above it they
        are weighted by their confidence.
    smooth_sd_acc: prior sd of joint angular acceleration (rad/s^2, or m/s^2 for slide and
        root-position coordinates); the temporal smoothness term penalises second differences
        of qpos with sd ``smooth_sd_acc / rate**2``. ``0`` or ``None`` turns smoothing off.
        The default (1000 rad/s^2, 0.025 rad per frame^2 at 200 Hz) is about the peak of a
        mouse reach, so it damps keypoint noise without flattening the movement and carries
        the pose through missing frames.

    Pose phase (q-phase):
    n_iter: Levenberg-Marquardt iterations per frame (independent phase).
    n_iter_smooth: iterations of the coupled (smoothing) phase.
    n_cg: conjugate-gradient iterations per coupled LM step.
    n_starts: random starts per calibration-sample frame (plus the default pose), so poses
        far from the rest posture are found; every frame of the session then starts from
        the sample solution interpolated in time and from the default pose.
    n_iter_starts: iterations run from every start before the best start per frame is kept
        and finished (the others are dropped).
    chunk_frames: frames per chunk of the coupled phase (chunks overlap by
        ``chunk_overlap``); bounds memory for long sessions.
    batch_frames: frames per compiled call of the independent phase (memory bound).

    Calibration (m-phase, alternated with the q-phase):
    calibrate_offsets: fit a 3D offset per keypoint in its site's body frame.
    offset_prior_sd_m: prior sd pulling offsets toward ``initial_offsets`` (m).
    calibrate_scales: fit one length scale per body segment (``body.segments``).
    scale_prior_sd: prior sd of log segment scales around 1.
    calibrate_base: for fixed-base bodies, fit the transform between the data frame and the
        model's world frame: ``"none"``, ``"translation"``, ``"rigid"`` (translation +
        rotation) or ``"auto"``: ``"rigid"`` when the most proximal keypoint sits more than
        ``auto_base_m`` from its site at the rest pose (data in another frame, e.g. the real
        clips), else ``"none"`` (data already in the model frame, e.g. synthetic sessions;
        a free base transform would trade off against the offsets). Free-root bodies carry
        their pose in qpos and ignore this.
    auto_base_m: threshold of ``"auto"`` (m).
    base_prior_sd_m / base_prior_sd_rad: priors of that transform.
    n_sample_frames: frames per clip used for calibration (evenly spaced over frames with
        at least half of the keypoints present).
    n_iter_calib: LM iterations of each m-phase (joint over the sample poses and the global
        parameters, Schur complement).
    limit_margin / limit_sd: the m-phase's soft joint-limit barrier, as fractions of each
        limited joint's range. A sample pose closer than ``limit_margin * range`` to a limit
        costs ``(depth / (limit_sd * range))**2`` (a pose at the limit: ``(limit_margin /
        limit_sd)**2``, 25 with the defaults, as much as a keypoint coordinate 5 noise sds
        off). The base rotation, offsets and scales are thereby chosen so the poses sit inside
        the range when the data allow it (the base rotation and the shoulder hinges are
        nearly interchangeable, so without it the fit may park poses on a limit). The
        q-phase has no barrier: poses go to a limit when the data put them there.
        ``limit_margin=0`` turns it off.
    n_rounds: maximum calibration rounds; stops earlier when the cost improves by less than
        ``tol`` (relative).
    shared_calibration: one set of offsets/scales/base for all clips given together to
        :func:`register_many` (same animal, same markers) instead of one per clip.
    initial_offsets: keypoint name -> (3,) initial offset (m); missing names start at zero.
    lm_ftol: every LM solve (q-phase per frame, m-phase per calibration group) stops early
        once an accepted step lowers its cost by less than this fraction (0: always run the
        full iteration counts above); a batch stops when all of its problems have.

    Output:
    qvel_smooth_s: length (s) of the Savitzky-Golay window used to differentiate qpos.
    float64: solve in double precision (recommended; float32 gave the same errors on the
        real clips but was not faster on the 2-core development CPU).
    seed: random starts.
    """

    noise_sd_m: float = 2e-4
    min_confidence: float = 0.0
    smooth_sd_acc: float | None = 1000.0
    n_iter: int = 25
    n_iter_smooth: int = 8
    n_cg: int = 12
    n_starts: int = 8
    n_iter_starts: int = 6
    chunk_frames: int = 256
    chunk_overlap: int = 16
    batch_frames: int = 2048
    calibrate_offsets: bool = True
    offset_prior_sd_m: float = 2e-3
    calibrate_scales: bool = True
    scale_prior_sd: float = 0.1
    calibrate_base: str = "auto"
    auto_base_m: float = 1e-3
    base_prior_sd_m: float = 0.01
    base_prior_sd_rad: float = 0.3
    n_sample_frames: int = 500
    n_iter_calib: int = 15
    limit_margin: float = 0.05
    limit_sd: float = 0.01
    n_rounds: int = 2
    tol: float = 1e-3
    shared_calibration: bool = False
    initial_offsets: Mapping[str, Any] = field(default_factory=dict)
    lm_ftol: float = 0.0
    qvel_smooth_s: float = 0.05
    float64: bool = True
    seed: int = 0

    def __post_init__(self):
        positive = ("noise_sd_m", "offset_prior_sd_m", "scale_prior_sd", "base_prior_sd_m",
                    "base_prior_sd_rad", "qvel_smooth_s", "limit_sd")
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ConfigError(f"{name}={v!r}", field=name, expected="a positive number")
        counts = ("n_iter", "n_iter_calib", "n_rounds", "chunk_frames", "batch_frames",
                  "n_sample_frames")
        for name in counts:
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ConfigError(f"{name}={v!r}", field=name, expected="an integer >= 1")
        for name in ("n_iter_smooth", "n_cg", "n_starts", "chunk_overlap", "n_iter_starts"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ConfigError(f"{name}={v!r}", field=name, expected="an integer >= 0")
        if self.chunk_overlap * 2 >= self.chunk_frames:
            raise ConfigError(f"chunk_overlap={self.chunk_overlap} with chunk_frames="
                              f"{self.chunk_frames}", field="chunk_overlap",
                              expected="less than half of chunk_frames")
        for name, top in (("limit_margin", 0.5), ("lm_ftol", 1.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v < top):
                raise ConfigError(f"{name}={v!r}", field=name, expected=f"a number in [0, {top})")
        if self.calibrate_base not in ("auto", "none", "translation", "rigid"):
            raise ConfigError(f"calibrate_base={self.calibrate_base!r}", field="calibrate_base",
                              expected="'auto', 'none', 'translation' or 'rigid'")
        if self.smooth_sd_acc is not None and self.smooth_sd_acc < 0:
            raise ConfigError(f"smooth_sd_acc={self.smooth_sd_acc}", field="smooth_sd_acc",
                              expected="a positive number, 0 or None (no smoothing)")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence={self.min_confidence}", field="min_confidence",
                              expected="a value in [0, 1]")

    def replace(self, **changes) -> "StacConfig":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["initial_offsets"] = {k: [float(x) for x in v]
                                for k, v in dict(self.initial_offsets).items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StacConfig":
        """Build from a mapping; unknown keys are a ConfigError listing the known ones."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"unknown STAC settings {bad}", field="config",
                              expected=f"names among {sorted(known)}")
        return cls(**dict(d))
