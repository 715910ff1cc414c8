"""DANDI Archive sources: ``dandi://`` URIs and web/API URLs, resolved with the dandi client.

``dandi://<dandiset>[@<version>]/<asset path>`` (also ``dandi://<instance>/<dandiset>...``),
``https://dandiarchive.org/dandiset/<id>[/<version>]``, and API URLs such as
``https://api.dandiarchive.org/api/dandisets/<id>/versions/<v>/assets/<asset id>/download/``.
The API server defaults to the public archive; ``api_url=`` or ``$NEUROIMIT_DANDI_API_URL``
point elsewhere (a sandbox, a local stand-in). A token (``token=`` or ``$DANDI_API_KEY``) is
sent to the API host only, for embargoed dandisets, and never logged or used in names.
Resolutions are remembered in the cache so ``offline=True`` works without the network.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError, DataError, NetworkError
from ..atomic import write_bytes_atomic
from .remote import default_cache_dir, safe_url

__all__ = ["DandiRef", "ResolvedAsset", "parse_dandi", "is_dandi_source", "safe_asset_path",
           "resolve_asset", "list_sessions", "dandi_cache_path", "DEFAULT_API_URL"]

log = logging.getLogger("neuroimit.loaders")
DEFAULT_API_URL = "https://api.dandiarchive.org/api"
_ID = re.compile(r"^\d{6}$")


@dataclass
class DandiRef:
    """A parsed DANDI reference (asset path or asset id may be None for a whole dandiset)."""

    dandiset: str
    version: str | None = None
    path: str | None = None
    asset_id: str | None = None
    api_url: str = DEFAULT_API_URL


@dataclass
class ResolvedAsset:
    """What the API said about one asset (everything needed to stream or download it)."""

    dandiset: str
    version: str
    path: str
    asset_id: str
    size: int
    digest: dict[str, str] = field(default_factory=dict)
    content_url: str | None = None     # the blob URL (presigned query kept, never printed)
    api_host: str = ""
    embargoed: bool = False

    @property
    def key(self) -> str:
        """Cache key: instance, dandiset, version, path and digest (no secrets)."""
        d = self.digest.get("dandi:sha2-256") or self.digest.get("dandi:dandi-etag") or ""
        return f"dandi:{self.api_host}/{self.dandiset}/{self.version}/{self.path}#{d}"


def _api_url(api_url: str | None) -> str:
    return (api_url or os.environ.get("NEUROIMIT_DANDI_API_URL") or DEFAULT_API_URL).rstrip("/")


def safe_asset_path(path: str, *, source: str | None = None) -> str:
    """``path`` if it is a plain relative asset path; refuses ``..``, absolute, backslashes."""
    p = str(path)
    parts = p.split("/")
    if (not p or p.startswith("/") or "\\" in p or "\x00" in p or
            any(part in ("..", ".", "") for part in parts) or re.match(r"^[A-Za-z]:", p)):
        raise DataError(f"unsafe asset path {p!r} (it would leave the cache directory)",
                        file=source, field="asset path",
                        expected="a relative path like sub-M1/sub-M1_ses-1.nwb")
    return p


def is_dandi_source(source: str) -> bool:
    """True for dandi:// URIs and DANDI web/API URLs."""
    s = str(source)
    if s.startswith("dandi://"):
        return True
    if s.startswith(("http://", "https://")):
        u = urlsplit(s)
        return "dandiarchive.org" in (u.hostname or "") and "/dandiset" in u.path \
            or bool(re.search(r"/api/(dandisets|assets)/", u.path))
    return False


def parse_dandi(source: str, api_url: str | None = None) -> DandiRef:
    """Parse a DANDI URI / URL.

    >>> parse_dandi("dandi://000123@0.230101.0001/sub-1/sub-1_ses-2.nwb")
    ... # doctest: +NORMALIZE_WHITESPACE
    DandiRef(dandiset='000123', version='0.230101.0001', path='sub-1/sub-1_ses-2.nwb',
             asset_id=None, api_url='https://api.dandiarchive.org/api')
    """
    s = str(source)
    api = _api_url(api_url)
    if s.startswith("dandi://"):
        rest = s[len("dandi://"):]
        parts = rest.split("/", 1)
        head = parts[0]
        tail = parts[1] if len(parts) > 1 else ""
        if not _ID.match(head.split("@", 1)[0]):  # dandi://<instance>/<id>...
            inst = head
            if inst.lower() == "dandi-sandbox" and api_url is None:
                api = "https://api.sandbox.dandiarchive.org/api"
            parts = tail.split("/", 1)
            head = parts[0]
            tail = parts[1] if len(parts) > 1 else ""
        did, _, ver = head.partition("@")
        if not _ID.match(did):
            raise DataError(f"bad dandiset id {did!r}", file=s, field="dandiset",
                            expected="six digits, e.g. dandi://000123/sub-1/file.nwb")
        path = tail.strip() or None
        if path is not None:
            path = safe_asset_path(path, source=s)
        return DandiRef(did, ver or None, path, None, api)
    u = urlsplit(s)
    m = re.search(r"^(?P<base>.*?/api)/dandisets/(?P<id>\d{6})(?:/versions/(?P<v>[^/]+))?"
                  r"(?:/assets/(?P<aid>[^/]+))?", u.path)
    if m:
        base = f"{u.scheme}://{u.netloc}{m.group('base')}"
        q = parse_qs(u.query)
        path = q.get("path", [None])[0]
        return DandiRef(m.group("id"), m.group("v"), safe_asset_path(path, source=safe_url(s))
                        if path else None, m.group("aid"), base if api_url is None else api)
    m = re.search(r"^(?P<base>.*?/api)/assets/(?P<aid>[^/]+)", u.path)
    if m:
        raise DataError("an asset URL without its dandiset", file=safe_url(s),
                        expected="a dandisets/<id>/versions/<v>/assets/<asset>/ URL or "
                                 "dandi://<id>/<path>")
    m = re.search(r"/dandiset/(?P<id>\d{6})(?:/(?P<v>[^/?#]+))?", u.path)
    if m:
        q = parse_qs(u.query)
        loc = q.get("location", [None])[0]
        ver = m.group("v")
        if ver == "files":
            ver = None
        path = loc.strip("/") if loc else None
        return DandiRef(m.group("id"), ver, safe_asset_path(path, source=safe_url(s))
                        if path else None, None, api)
    raise DataError("not a DANDI URL", file=safe_url(s),
                    expected="dandi://<id>[@<version>]/<path> or a dandiarchive.org URL")


def _token(token: str | None) -> str | None:
    return token or os.environ.get("DANDI_API_KEY") or None


def _client(ref: DandiRef, token: str | None):
    try:
        from dandi.dandiapi import DandiAPIClient
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("the 'dandi' package is needed for DANDI sources",
                          expected="pip install dandi") from exc
    try:
        client = DandiAPIClient(api_url=ref.api_url)
        if token:
            client.authenticate(token)
        return client
    except Exception as exc:
        raise _net_error(exc, ref) from None


def _net_error(exc: Exception, ref: DandiRef, what: str = "DANDI API") -> NetworkError:
    code = getattr(getattr(exc, "response", None), "status_code", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = text.split("?")[0][:200]
    where = f"{safe_url(ref.api_url)} dandiset {ref.dandiset}"
    if code in (401, 403):
        return NetworkError(f"access denied by the {what} (HTTP {code})", file=where,
                            expected="a valid token (token= or DANDI_API_KEY) for an "
                                     "embargoed dandiset")
    return NetworkError(f"{what} request failed ({type(exc).__name__}: {text})", file=where)


def _index_path(cache: Path) -> Path:
    return cache / "dandi" / "index.json"


def _index_key(ref: DandiRef) -> str:
    host = urlsplit(ref.api_url).netloc
    return f"{host}/{ref.dandiset}@{ref.version or ''}/{ref.path or ref.asset_id}"


def _remember(cache: Path, ref: DandiRef, asset: ResolvedAsset) -> None:
    p = _index_path(cache)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        idx = json.loads(p.read_text()) if p.exists() else {}
    except ValueError:
        idx = {}
    rec = asdict(asset)
    rec["content_url"] = None  # presigned URLs expire; re-resolve online
    idx[_index_key(ref)] = rec
    write_bytes_atomic(p, json.dumps(idx, indent=1).encode())


def _recall(cache: Path, ref: DandiRef) -> ResolvedAsset | None:
    p = _index_path(cache)
    if not p.exists():
        return None
    try:
        rec = json.loads(p.read_text()).get(_index_key(ref))
    except ValueError:
        return None
    return ResolvedAsset(**rec) if rec else None


def dandi_cache_path(cache: Path, asset: ResolvedAsset) -> Path:
    """Where a downloaded asset lives: ``<cache>/dandi/<host>/<id>/<version>/<path>``.

    Refuses any path that would resolve outside the cache directory.
    """
    rel = safe_asset_path(asset.path, source=f"dandi:{asset.dandiset}")
    host = re.sub(r"[^A-Za-z0-9._-]", "_", asset.api_host or "dandi")
    version = re.sub(r"[^A-Za-z0-9._-]", "_", asset.version)
    root = (cache / "dandi" / host).resolve()
    dest = (root / asset.dandiset / version / PurePosixPath(rel)).resolve()
    if root not in dest.parents:
        raise DataError(f"unsafe asset path {asset.path!r} (it would leave the cache "
                        "directory)", file=f"dandi:{asset.dandiset}", field="asset path")
    return dest


def resolve_asset(ref: DandiRef, *, token: str | None = None,
                  cache_dir: str | os.PathLike | None = None, offline: bool = False,
                  need_url: bool = True) -> ResolvedAsset:
    """Ask the API (or, offline, the cache index) about the asset ``ref`` names."""
    cache = default_cache_dir(cache_dir)
    if ref.path is None and ref.asset_id is None:
        raise DataError("no asset path", file=f"dandi://{ref.dandiset}",
                        expected="dandi://<id>[@<version>]/<asset path> (list_sessions() "
                                 "lists the assets)")
    if offline:
        rec = _recall(cache, ref)
        if rec is None:
            raise NetworkError("offline and this asset was never resolved",
                               file=f"dandi://{ref.dandiset}/{ref.path or ref.asset_id}",
                               expected="a source loaded once online (or offline=False)")
        return rec
    tok = _token(token)
    client = _client(ref, tok)
    try:
        ds = client.get_dandiset(ref.dandiset, ref.version, lazy=False)
        embargoed = str(getattr(ds, "embargo_status", "")).upper().endswith("EMBARGOED")
        if ref.asset_id:
            asset = ds.get_asset(ref.asset_id)
        else:
            asset = ds.get_asset_by_path(ref.path)
        meta = asset.get_raw_metadata()
    except DataError:
        raise
    except Exception as exc:
        client.session.close()
        if type(exc).__name__ == "NotFoundError":
            raise NetworkError(f"not found: {str(exc).splitlines()[0][:200]}",
                               file=f"dandi://{ref.dandiset}/{ref.path or ref.asset_id}") \
                from None
        raise _net_error(exc, ref) from None
    path = safe_asset_path(asset.path, source=f"dandi://{ref.dandiset}")
    digest = {k: str(v) for k, v in (meta.get("digest") or {}).items()}
    res = ResolvedAsset(ref.dandiset, str(ds.version_id), path, str(asset.identifier),
                        int(asset.size), digest, None, urlsplit(ref.api_url).netloc,
                        embargoed)
    if need_url:
        res.content_url = _content_url(client, asset, ref)
    client.session.close()
    _remember(cache, ref, res)
    return res


def _content_url(client, asset, ref: DandiRef) -> str:
    """The blob URL behind the API's download endpoint (one redirect, followed here so the
    token goes to the API host only)."""
    url = asset.download_url
    try:
        r = client.session.head(url, allow_redirects=False, timeout=30)
        if r.status_code in (301, 302, 303, 307, 308) and "Location" in r.headers:
            return r.headers["Location"]
        if r.status_code in (401, 403):
            raise NetworkError(f"access denied (HTTP {r.status_code})",
                               file=f"dandi://{ref.dandiset}/{asset.path}",
                               expected="a valid token (token= or DANDI_API_KEY)")
        r.raise_for_status()
    except NetworkError:
        raise
    except Exception as exc:
        raise _net_error(exc, ref) from None
    return url


# ---------------------------------------------------------------------------- listing
_POSE_TYPES = {"PoseEstimation", "PoseEstimationSeries", "Skeleton", "Position",
               "SpatialSeries"}
_TRIAL_TYPES = {"TimeIntervals", "Trials"}


def _measured(meta: dict[str, Any]) -> set[str]:
    out = set()
    for v in meta.get("variableMeasured") or []:
        val = v.get("value") if isinstance(v, dict) else v
        if val:
            out.add(str(val).split(" ")[0])
    return out


def _first(meta: dict[str, Any], key: str, schema: str) -> str | None:
    for v in meta.get(key) or []:
        if isinstance(v, dict) and (v.get("schemaKey") == schema or schema == "*"):
            return str(v.get("identifier") or v.get("name") or "") or None
    return None


def _probe(ref: DandiRef, path: str, token: str | None, cache_dir) -> dict[str, bool]:
    from . import open_source
    from .hdf import open_hdf5
    from .nwb import summarise_nwb

    uri = f"dandi://{ref.dandiset}{'@' + ref.version if ref.version else ''}/{path}"
    fh, label = open_source(uri, token=token, api_url=ref.api_url, cache_dir=cache_dir)
    try:
        with open_hdf5(fh, name=label) as f:
            return summarise_nwb(f)
    finally:
        fh.close()


def list_sessions(source: str, *, api_url: str | None = None, token: str | None = None,
                  path_prefix: str | None = None, probe: bool = False,
                  cache_dir: str | os.PathLike | None = None):
    """The NWB assets of a dandiset, from their metadata only (no file downloads).

    Returns a DataFrame with columns ``path, subject, session, size, pose, emg, trials,
    asset_id, variables``. ``pose``/``emg``/``trials`` come from the asset's
    ``variableMeasured`` (NWB types), measurement techniques and path: True where the
    metadata shows it, None where the metadata does not say (the archive's metadata lists
    only some NWB types). ``probe=True`` answers exactly instead, by streaming each file's
    HDF5 structure (a few blocks per file; no data arrays are read).

    >>> list_sessions("dandi://000123")                       # doctest: +SKIP
    """
    import pandas as pd

    ref = parse_dandi(source if str(source).startswith(("dandi://", "http")) else
                      f"dandi://{source}", api_url)
    client = _client(ref, _token(token))
    rows = []
    try:
        ds = client.get_dandiset(ref.dandiset, ref.version, lazy=False)
        prefix = path_prefix or ref.path
        it = ds.get_assets_with_path_prefix(prefix) if prefix else ds.get_assets(order="path")
        for a in it:
            if not a.path.endswith(".nwb"):
                continue
            meta = a.get_raw_metadata()
            types = _measured(meta)
            techniques = " ".join(str(t.get("name", "")) for t in
                                  meta.get("measurementTechnique") or [] if isinstance(t, dict))
            text = f"{a.path} {techniques} {' '.join(types)}".lower()
            flags = {
                "pose": True if (types & _POSE_TYPES or "pose" in text) else None,
                "emg": True if ("emg" in text or "electromyograph" in text) else None,
                "trials": True if (types & _TRIAL_TYPES or "trials" in text) else None}
            if probe:
                flags = _probe(ref, a.path, token, cache_dir)
            rows.append({
                "path": a.path,
                "subject": _first(meta, "wasAttributedTo", "Participant"),
                "session": _first(meta, "wasGeneratedBy", "Session"),
                "size": int(a.size), **flags,
                "asset_id": a.identifier,
                "variables": sorted(types),
            })
    except DataError:
        raise
    except Exception as exc:
        raise _net_error(exc, ref) from None
    finally:
        client.session.close()
    cols = ["path", "subject", "session", "size", "pose", "emg", "trials", "asset_id",
            "variables"]
    return pd.DataFrame(sorted(rows, key=lambda r: r["path"]), columns=cols)
