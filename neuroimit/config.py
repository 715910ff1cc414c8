"""The run configuration (one YAML file) for ``neuroimit run`` / ``demo`` / ``batch``.

Every field has a default and a one-line doc (``metadata["doc"]``); ``neuroimit config
--default`` prints the whole file with the docs as comments. Stage sections (``stac``,
``train``) hold keyword arguments for the stage's own config dataclass
(:class:`neuroimit.stac.StacConfig`, :class:`neuroimit.imitation.TrainConfig`); unknown keys
are refused with the list of valid ones.

>>> cfg = RunConfig.from_dict({"seed": 3, "train": {"preset": "energy"}})
>>> cfg.seed, cfg.train["preset"]
(3, 'energy')
"""
from __future__ import annotations

import dataclasses
import io
import textwrap
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

STAGES = ("load", "stac", "train", "evaluate", "report")


def _doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING):
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass
class LoadConfig:
    """How the session source is read (passed to ``neuroimit.loaders.load_session``)."""

    keypoint_unit: str | None = _doc("length unit of the file's keypoints when the file's own "
                                     "unit is wrong or missing (m, cm, mm, um); null = trust "
                                     "the file", None)
    keypoint_names: list[str] | None = _doc("keypoint names for importers without names "
                                            "(CSV); null = from the file", None)
    emg_channels: list[str] | None = _doc("EMG channel names when the file lacks them; "
                                          "null = from the file", None)
    stream: bool | None = _doc("remote sources: true = stream byte ranges, false = download "
                               "the whole file; null = stream", None)
    cache_dir: str | None = _doc("cache for remote files; null = $NEUROIMIT_CACHE or "
                                 "~/.cache/neuroimit", None)
    offline: bool = _doc("use only the cache, never the network", False)
    trials: list[int] | None = _doc("keep only these trial rows (0-based); null = all", None)
    max_duration_s: float | None = _doc("keep only the first N seconds (quick looks); "
                                        "null = all", None)


@dataclass
class RunConfig:
    """Configuration of one pipeline run: load -> stac -> train -> evaluate -> report."""

    seed: int = _doc("seed of every random step (same seed, same numbers on one machine)", 0)
    body: str = _doc("body model: 'mouse_forelimb' or a path to an MJCF file", "mouse_forelimb")
    keypoint_map: dict[str, str] | None = _doc("keypoint name -> body site name; null = the "
                                               "body's default map", None)
    load: LoadConfig = _doc("how the source is read", factory=LoadConfig)
    stac: dict[str, Any] = _doc("keyword arguments of neuroimit.stac.StacConfig", factory=dict)
    train: dict[str, Any] = _doc("keyword arguments of neuroimit.imitation.TrainConfig",
                                 factory=dict)
    holdout_fraction: float = _doc("fraction of clips held out of training and evaluated "
                                   "separately", 0.2)
    clip_seconds: float = _doc("length of the reference clips cut from the registration "
                               "(trial windows when the session has trials)", 0.5)
    report: dict[str, Any] = _doc("keyword arguments of neuroimit.analysis.report."
                                  "build_report", factory=dict)

    # ----------------------------------------------------------------- conversions
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, *, source: str | None = None) -> "RunConfig":
        d = dict(d or {})
        valid = {f.name for f in fields(cls)}
        bad = sorted(set(d) - valid)
        if bad:
            raise ConfigError(f"unknown field(s) {bad}", file=source, field="config",
                              expected=f"fields among {sorted(valid)}")
        load = d.pop("load", None) or {}
        lvalid = {f.name for f in fields(LoadConfig)}
        lbad = sorted(set(load) - lvalid)
        if lbad:
            raise ConfigError(f"unknown field(s) {lbad}", file=source, field="load",
                              expected=f"fields among {sorted(lvalid)}")
        for key in ("stac", "train", "report"):  # an all-commented section reads as null
            if d.get(key, {}) is None:
                d[key] = {}
        cfg = cls(load=LoadConfig(**load), **d)
        if not 0.0 <= cfg.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction {cfg.holdout_fraction}", file=source,
                              field="holdout_fraction", expected="0 <= value < 1")
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError("config file does not exist", file=str(path)) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML ({exc})", file=str(path)) from None
        if not isinstance(data, dict):
            raise ConfigError("top level is not a mapping", file=str(path),
                              expected="key: value pairs")
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stage_config(self, stage: str) -> dict[str, Any]:
        """The part of the config a stage depends on (its manifest hashes this)."""
        base = {"seed": self.seed}
        if stage == "load":
            return {**base, "load": dataclasses.asdict(self.load)}
        if stage == "stac":
            return {**base, "body": self.body, "keypoint_map": self.keypoint_map,
                    "stac": self.stac}
        if stage == "train":
            return {**base, "train": self.train, "holdout_fraction": self.holdout_fraction,
                    "clip_seconds": self.clip_seconds}
        if stage == "evaluate":
            return {**base, "holdout_fraction": self.holdout_fraction,
                    "clip_seconds": self.clip_seconds}
        if stage == "report":
            return {**base, "report": self.report}
        raise ConfigError(f"unknown stage {stage!r}", field="stage", expected=f"one of {STAGES}")


def _stage_defaults(section: str) -> list[tuple[str, Any, str]]:
    """(name, default, doc) of a stage's own config dataclass, when it is installed."""
    try:
        if section == "stac":
            from .stac import StacConfig as C
        elif section == "train":
            from .imitation import TrainConfig as C
        else:
            return []
    except ImportError:
        return []
    out = []
    docs = _attribute_docs(C.__doc__ or "")
    for f in fields(C):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            continue
        if dataclasses.is_dataclass(default):
            default = dataclasses.asdict(default)
        doc = f.metadata.get("doc") or docs.get(f.name, "")
        out.append((f.name, default, doc))
    return out


def _attribute_docs(doc: str) -> dict[str, str]:
    """'name: text' entries of a docstring -> {name: text}, with the entry's indented
    continuation lines joined (numpy-style attribute lists)."""
    out: dict[str, str] = {}
    lines = doc.expandtabs().splitlines()
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        indent = len(lines[i]) - len(lines[i].lstrip())
        name, sep, text = s.partition(":")
        name = name.split("(")[0].strip()
        if sep and name.isidentifier() and text.strip() and not s.startswith((">>>", "...")):
            parts = [text.strip()]
            j = i + 1
            while j < len(lines) and lines[j].strip() and \
                    len(lines[j]) - len(lines[j].lstrip()) > indent:
                parts.append(lines[j].strip())
                j += 1
            out.setdefault(name, " ".join(parts))
            i = j
            continue
        i += 1
    return out


def _yaml_value(v: Any) -> str:
    text = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    return text[:-4].strip() if text.endswith("\n...") else text.replace("\n...", "")


def default_yaml() -> str:
    """The default run configuration as commented YAML (``neuroimit config --default``)."""
    buf = io.StringIO()
    buf.write("# neuroimit run configuration: every field shown with its default.\n")
    for f in fields(RunConfig):
        doc = f.metadata.get("doc", "")
        if f.name == "load":
            buf.write(f"# {doc}\nload:\n")
            for lf in fields(LoadConfig):
                buf.write(f"  # {lf.metadata.get('doc', '')}\n")
                buf.write(f"  {lf.name}: {_yaml_value(lf.default)}\n")
            continue
        if f.name in ("stac", "train"):
            # the stage's own defaults, commented out: uncomment a line to change it
            buf.write(f"# {doc} (uncomment a line to change it)\n{f.name}:\n")
            for name, default, sdoc in _stage_defaults(f.name):
                for line in textwrap.wrap(sdoc, 92):
                    buf.write(f"  # -- {line}\n")
                buf.write(f"  # {name}: {_yaml_value(default)}\n")
            continue
        default = f.default if f.default is not dataclasses.MISSING else \
            f.default_factory()  # type: ignore[misc]
        buf.write(f"# {doc}\n{f.name}: {_yaml_value(default)}\n")
    return buf.getvalue()
