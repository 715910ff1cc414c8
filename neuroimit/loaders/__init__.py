"""Every source a user has becomes a :class:`~neuroimit.session.Session` with one call.

>>> from neuroimit.loaders import load_session, list_sessions
>>> s = load_session("session.nwb")                                   # doctest: +SKIP
>>> s = load_session("dandi://000123/sub-M1/sub-M1_ses-1.nwb", trial=0)  # streams  # doctest: +SKIP
>>> s = load_session("rat.nwb", keypoint_unit="mm")  # "pixels" label  # doctest: +SKIP
>>> s = load_session("kin.csv", emg="emg.csv", keypoint_names=["Paw", "Wrist", "Shoulder",
...                  "Elbow"], keypoint_unit="m")                     # doctest: +SKIP
>>> list_sessions("dandi://000123")                                   # doctest: +SKIP

See docs/loading.md.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Sequence

from ..errors import ConfigError, DataError, NetworkError
from ..session import Session, load_session_file
from .dandi import (DandiRef, ResolvedAsset, dandi_cache_path, is_dandi_source, list_sessions,
                    parse_dandi, resolve_asset)
from .hdf import open_hdf5
from .importers import (attach_emg_csv, read_emg_csv, read_keypoints_csv, read_stac_dir,
                        read_stac_h5)
from .names import map_keypoints
from .nwb import NWBOptions, read_nwb, read_nwb_file
from .remote import HTTPConfig, RemoteFile, cache_key, default_cache_dir, download, safe_url
from .series import LoaderWarning

__all__ = ["load_session", "list_sessions", "fetch", "open_source", "NWBOptions", "HTTPConfig",
           "LoaderWarning", "read_nwb", "read_stac_h5", "read_stac_dir", "read_keypoints_csv",
           "read_emg_csv",
           "attach_emg_csv", "map_keypoints", "parse_dandi", "resolve_asset",
           "default_cache_dir"]


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _auth(asset_url: str | None, api_host: str, token: str | None) -> dict[str, str]:
    """The Authorization header, only for requests to the API host itself."""
    from urllib.parse import urlsplit

    if token and asset_url and urlsplit(asset_url).netloc == api_host:
        return {"Authorization": f"token {token}"}
    return {}


def _resolve(ref: DandiRef, token: str | None, cache: Path, offline: bool) -> ResolvedAsset:
    """The asset record: from the cache index when offline or when the version is published
    (published versions never change, so no network is needed), else from the API."""
    from .dandi import _recall

    if offline or ref.version not in (None, "draft"):
        rec = _recall(cache, ref)
        if rec is not None:
            return rec
    return resolve_asset(ref, token=token, cache_dir=cache, offline=offline)


def fetch(source: str, *, cache_dir: str | os.PathLike | None = None, offline: bool = False,
          token: str | None = None, api_url: str | None = None,
          http: HTTPConfig | None = None) -> Path:
    """Download a remote source (DANDI asset or URL) into the cache; return its local path.

    Verified by size and (DANDI) digest; already-cached files cost no download. Local paths
    are returned unchanged.
    """
    source = str(source)
    cache = default_cache_dir(cache_dir)
    if is_dandi_source(source):
        ref = parse_dandi(source, api_url)
        tok = token or os.environ.get("DANDI_API_KEY")
        asset = _resolve(ref, tok, cache, offline)
        dest = dandi_cache_path(cache, asset)
        if offline or (asset.content_url is None and dest.exists()):
            try:
                return download("", dest, size=asset.size, digest=asset.digest, offline=True)
            except NetworkError:
                if offline:
                    raise
        if asset.content_url is None:
            asset = resolve_asset(ref, token=tok, cache_dir=cache)
        return download(asset.content_url, dest, size=asset.size, digest=asset.digest,
                        headers=_auth(asset.content_url, asset.api_host, tok), cfg=http)
    if _is_url(source):
        name = Path(safe_url(source).rsplit("/", 1)[-1] or "file").name or "file"
        dest = cache / "urls" / cache_key(safe_url(source)) / name
        return download(source, dest, cfg=http, offline=offline)
    p = Path(source)
    if not p.exists():
        raise DataError("file does not exist", file=source)
    return p


def _label(source: str, api_url: str | None) -> str:
    """What errors and ``metadata['source']`` call a remote source (no query strings)."""
    if is_dandi_source(source):
        ref = parse_dandi(source, api_url)
        return (f"dandi://{ref.dandiset}{'@' + ref.version if ref.version else ''}/"
                f"{ref.path or ref.asset_id}")
    return safe_url(source)


def open_source(source: str, *, stream: bool | None = None,
                cache_dir: str | os.PathLike | None = None, offline: bool = False,
                token: str | None = None, api_url: str | None = None,
                http: HTTPConfig | None = None) -> tuple[str | Path | IO[bytes], str]:
    """(path or streamed file object, label) for any source; remote sources stream by default.

    The label is what errors and ``metadata['source']`` call it (URLs without query strings,
    ``dandi://`` URIs as given).
    """
    source = str(source)
    stream = True if stream is None else bool(stream)
    cache = default_cache_dir(cache_dir)
    if offline and stream and (is_dandi_source(source) or _is_url(source)):
        # offline: a whole file fetched earlier serves any read; else the block cache must
        try:
            path = fetch(source, cache_dir=cache, offline=True, token=token, api_url=api_url,
                         http=http)
            return path, _label(source, api_url)
        except NetworkError:
            pass
    if is_dandi_source(source):
        ref = parse_dandi(source, api_url)
        label = _label(source, api_url)
        if not stream:
            return fetch(source, cache_dir=cache, offline=offline, token=token,
                         api_url=api_url, http=http), label
        tok = token or os.environ.get("DANDI_API_KEY")
        asset = _resolve(ref, tok, cache, offline)

        def fresh_url() -> str:  # published versions never change: resolve only when needed
            if offline:
                raise NetworkError("offline and not in the cache", file=label)
            return resolve_asset(ref, token=tok, cache_dir=cache).content_url

        fh = RemoteFile(asset.content_url, key=asset.key, cache_dir=cache, cfg=http,
                        headers=_auth(asset.content_url, asset.api_host, tok),
                        offline=offline, size=asset.size,
                        url_factory=None if asset.content_url else fresh_url,
                        refresh=None if offline else fresh_url)
        return fh, label
    if _is_url(source):
        label = safe_url(source)
        if not stream:
            return fetch(source, cache_dir=cache, offline=offline, http=http), label
        return RemoteFile(source, cache_dir=cache, cfg=http, offline=offline), label
    return Path(source), source


def load_session(source: str | os.PathLike, *, pose: str | None = None,
                 emg: str | os.PathLike | None | bool = None, keypoint_unit: str | None = None,
                 emg_channels: Sequence[str] | None = None, emg_kind: str | None = None,
                 emg_unit: str | None = None, trials: str | None = "trials",
                 intervals: Sequence[str] = (), trial: int | None = None,
                 window: tuple[float, float] | None = None,
                 keypoints: Sequence[str] | None = None,
                 keypoint_names: Sequence[str] | None = None, rate: float | None = None,
                 emg_rate: float | None = None, time_column: Any = None,
                 stream: bool | None = None, cache_dir: str | os.PathLike | None = None,
                 offline: bool = False, token: str | None = None, api_url: str | None = None,
                 truth: bool = True, http: HTTPConfig | None = None,
                 body: Any = None) -> Session:
    """Load any supported source into a :class:`Session`.

    Sources: a local ``.nwb``; a saved session (``.nc`` from :meth:`Session.save`);
    ``dandi://<id>[@<version>]/<path>`` and DANDI web/API URLs; plain ``http(s)`` URLs of NWB
    files; stac-style ``.h5`` clips and folders of them (one trial per clip); CSV keypoints
    (``emg=`` may name a CSV of EMG).

    Parameters
    ----------
    pose, emg: which pose / EMG object to read when a file holds several (name or path
        suffix); ``emg=False`` skips EMG. For CSV / stac imports ``emg`` is a CSV file path.
    keypoint_unit: true unit of the keypoints (m, cm, mm, um) when the file's is wrong or
        absent (required for CSV).
    emg_channels, emg_kind, emg_unit, emg_rate: EMG names, "raw"/"envelope", unit, rate.
    trials: trials table name (None ignores it); intervals: other TimeIntervals to read.
    trial / window: read only one trial's / a time window's samples (cheap when streaming).
    keypoints: keep only these keypoints; keypoint_names: names for CSV / stac columns.
    rate: pose rate (Hz) for CSV files without a time column and stac clips.
    stream: remote sources stream lazily by default (True); False downloads the whole file
        into the cache first (verified by size and digest).
    cache_dir: cache directory (default ``$NEUROIMIT_CACHE`` or ``~/.cache/neuroimit``).
    offline: use only the cache (no network).
    token: DANDI API token for embargoed dandisets (default ``$DANDI_API_KEY``).
    api_url: DANDI API (default the public archive or ``$NEUROIMIT_DANDI_API_URL``).

    body: a :class:`neuroimit.body.BodyModel` (or a built-in name such as
        ``"mouse_forelimb"``): every keypoint must map to one of its sites, else a
        :class:`DataError` lists the ones that cannot; the mapping is kept in
        ``metadata['keypoint_sites']``.

    What the loader picked or repaired is logged, warned (:class:`LoaderWarning`) and kept
    in ``session.metadata['loader_notes']``.
    """
    sess = _load(source, pose=pose, emg=emg, keypoint_unit=keypoint_unit,
                 emg_channels=emg_channels, emg_kind=emg_kind, emg_unit=emg_unit,
                 trials=trials, intervals=intervals, trial=trial, window=window,
                 keypoints=keypoints, keypoint_names=keypoint_names, rate=rate,
                 emg_rate=emg_rate, time_column=time_column, stream=stream,
                 cache_dir=cache_dir, offline=offline, token=token, api_url=api_url,
                 truth=truth, http=http)
    if body is not None:
        from dataclasses import replace

        if isinstance(body, str):
            from ..body import load_body
            body = load_body(body)
        sites = map_keypoints(sess.keypoint_names, body, source=sess.metadata.get("source"))
        sess = replace(sess, metadata={**sess.metadata, "keypoint_sites": sites})
    return sess


def _load(source, *, pose, emg, keypoint_unit, emg_channels, emg_kind, emg_unit, trials,
          intervals, trial, window, keypoints, keypoint_names, rate, emg_rate, time_column,
          stream, cache_dir, offline, token, api_url, truth, http) -> Session:
    src = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    opts = NWBOptions(pose=pose, emg=emg if not isinstance(emg, os.PathLike) else None,
                      keypoint_unit=keypoint_unit, emg_channels=emg_channels,
                      emg_kind=emg_kind, emg_unit=emg_unit, trials=trials,
                      intervals=tuple(intervals), window=window, trial=trial,
                      keypoints=keypoints, truth=truth)
    low = src.lower().split("?")[0]
    if not (_is_url(src) or src.startswith("dandi://")):
        if Path(src).is_dir():
            s = read_stac_dir(src, rate=rate, keypoint_names=keypoint_names,
                              unit=keypoint_unit, notes=opts.notes)
            return _finish(s, opts)
        if low.endswith((".csv", ".tsv", ".txt")):
            return _load_csv(src, opts, emg, keypoint_names, keypoint_unit, rate, emg_rate,
                             emg_channels, emg_kind, emg_unit, time_column)
    obj, label = open_source(src, stream=stream, cache_dir=cache_dir, offline=offline,
                             token=token, api_url=api_url, http=http)
    try:
        return _load_hdf5(obj, label, opts, emg, keypoint_names, keypoint_unit, rate, emg_rate,
                          emg_channels, emg_kind, emg_unit)
    finally:
        if hasattr(obj, "close"):
            obj.close()


def _load_csv(src, opts, emg, keypoint_names, keypoint_unit, rate, emg_rate, emg_channels,
              emg_kind, emg_unit, time_column) -> Session:
    notes = opts.notes
    s = read_keypoints_csv(src, keypoint_names=keypoint_names, unit=keypoint_unit, rate=rate,
                           time_column=time_column, notes=notes)
    if isinstance(emg, (str, os.PathLike)) and emg:
        s = attach_emg_csv(s, emg, rate=emg_rate, channels=emg_channels, kind=emg_kind,
                           unit=emg_unit, notes=notes)
    return _finish(s, opts)


def _finish(s: Session, opts: NWBOptions) -> Session:
    from dataclasses import replace

    if opts.keypoints is not None:
        s = s.select_keypoints(list(opts.keypoints))
    if opts.trial is not None:
        s = s.select_trial(opts.trial)
    elif opts.window is not None:
        s = s.window(*opts.window)
    if opts.notes.items:
        meta = dict(s.metadata)
        meta["loader_notes"] = list(dict.fromkeys(list(meta.get("loader_notes") or []) +
                                                  opts.notes.items))
        s = replace(s, metadata=meta)
    return s


def _load_hdf5(obj, label, opts, emg, keypoint_names, keypoint_unit, rate, emg_rate,
               emg_channels, emg_kind, emg_unit) -> Session:
    with open_hdf5(obj, name=label) as f:
        attrs = f.attrs
        if "neuroimit_format" in attrs:
            kind = "session"
        elif "nwb_version" in attrs or attrs.get("neurodata_type") in (b"NWBFile", "NWBFile"):
            kind = "nwb"
        elif "kp_data" in f:
            kind = "stac"
        else:
            raise DataError("HDF5 file of an unknown kind", file=label,
                            expected="NWB, a saved neuroimit session (.nc) or a stac-style "
                                     "clip (kp_data)")
        if kind == "nwb":
            from ..errors import NeuroimitError

            try:
                return read_nwb_file(f, label, opts)
            except NeuroimitError:
                raise
            except (OSError, KeyError, RuntimeError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise DataError(f"damaged or truncated NWB file ({msg})", file=label,
                                expected="a complete file") from None
    if kind == "session":
        if not isinstance(obj, (str, Path)):
            raise ConfigError("saved sessions stream only by download", file=label,
                              expected="stream=False")
        return _finish(load_session_file(obj), opts)
    if not isinstance(obj, (str, Path)):
        raise ConfigError("stac clips stream only by download", file=label,
                          expected="stream=False")
    s = read_stac_h5(obj, rate=rate, keypoint_names=keypoint_names, unit=keypoint_unit,
                     notes=opts.notes)
    if isinstance(emg, (str, os.PathLike)) and emg:
        s = attach_emg_csv(s, emg, rate=emg_rate, channels=emg_channels, kind=emg_kind,
                           unit=emg_unit, notes=opts.notes)
    return _finish(s, opts)
