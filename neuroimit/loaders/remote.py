"""Remote files over HTTP(S): lazy streaming with an on-disk block cache, and verified downloads.

:class:`RemoteFile` is a seekable, read-only file object that fetches only the byte ranges a
reader asks for (HTTP Range requests), keeps every fetched block in a sparse file under the
cache directory, and serves later reads of those blocks with no network traffic at all (the
file size is remembered too). :func:`download` writes a whole file to a temporary name next to
its destination, resumes with Range after a dropped connection, verifies size and digest, and
renames it into place; a failed download leaves no partial file behind.

Credentials travel only in request headers; URLs are shown without their query strings, and
cache names are hashes of token-free keys.

>>> with RemoteFile("https://example.org/s.nwb", cache_dir="/tmp/c") as fh:  # doctest: +SKIP
...     h5py.File(fh, "r")
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import io

import numpy as np

from ..atomic import write_bytes_atomic
from ..errors import NetworkError

__all__ = ["HTTPConfig", "RemoteFile", "download", "safe_url", "default_cache_dir",
           "cache_key", "verify_file"]

log = logging.getLogger("neuroimit.loaders")
RETRY_STATUSES = (408, 425, 429, 500, 502, 503, 504)


@dataclass
class HTTPConfig:
    """Network behaviour.

    timeout: seconds to wait for a connection or a read (per request).
    retries: extra attempts after a failure (dropped connection, 5xx, truncated body).
    backoff: first pause between attempts (doubles each time, capped at ``max_backoff``).
    block_size: bytes per cached block when streaming (64 KiB: NWB metadata reads are
        small and scattered, so small blocks keep the transfer low).
    max_request: largest single Range request (bytes); bigger reads are split.
    """

    timeout: float = 30.0
    retries: int = 5
    backoff: float = 0.25
    max_backoff: float = 8.0
    block_size: int = 64 * 1024
    max_request: int = 16 * 1024 * 1024


class _Retry(Exception):
    """A transient failure worth another attempt."""


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or user info (safe to print)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$NEUROIMIT_CACHE``, else ``~/.cache/neuroimit``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("NEUROIMIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neuroimit"


def cache_key(text: str) -> str:
    """A short hash naming a cache entry (never built from secrets)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _session():
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = "neuroimit-loaders"
    return s


def _sleep(cfg: HTTPConfig, attempt: int) -> None:
    time.sleep(min(cfg.max_backoff, cfg.backoff * (2 ** attempt)))


def _status_error(code: int, url: str) -> NetworkError:
    if code in (401, 403):
        return NetworkError(f"access denied (HTTP {code})", file=safe_url(url),
                            expected="a valid DANDI API token (token= or DANDI_API_KEY) for "
                                     "embargoed data")
    if code == 404:
        return NetworkError("not found (HTTP 404)", file=safe_url(url))
    return NetworkError(f"server answered HTTP {code}", file=safe_url(url))


def _fetch_range(sess, url: str, start: int, end: int, headers: Mapping[str, str],
                 cfg: HTTPConfig, size: int | None = None) -> tuple[bytes, int | None]:
    """Bytes ``[start, end]`` (inclusive) of ``url`` and the total size, with retries."""
    import requests

    last: Exception | None = None
    for attempt in range(cfg.retries + 1):
        try:
            r = sess.get(url, headers={**headers, "Range": f"bytes={start}-{end}"},
                         timeout=cfg.timeout, stream=True)
            try:
                if r.status_code in RETRY_STATUSES:
                    raise _Retry(f"HTTP {r.status_code}")
                if r.status_code == 200:
                    clen = int(r.headers.get("Content-Length", "-1"))
                    if start == 0 and 0 <= clen <= end + 1:
                        body = r.content  # the whole (small) file
                        if len(body) != clen:
                            raise _Retry("truncated body")
                        return body, clen
                    raise NetworkError("server ignores HTTP Range requests", file=safe_url(url),
                                       expected="a server with Range support, or stream=False "
                                                "to download the whole file")
                if r.status_code != 206:
                    raise _status_error(r.status_code, url)
                total = None
                cr = r.headers.get("Content-Range", "")
                if "/" in cr and cr.rsplit("/", 1)[1].strip().isdigit():
                    total = int(cr.rsplit("/", 1)[1])
                want = min(end, (total or size or end + 1) - 1) - start + 1
                body = r.content
                if len(body) != want:
                    raise _Retry(f"truncated body ({len(body)} of {want} bytes)")
                return body, total
            finally:
                r.close()
        except (_Retry, requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            last = exc
            log.debug("retrying %s bytes %d-%d after %s", safe_url(url), start, end,
                      type(exc).__name__)
            if attempt < cfg.retries:
                _sleep(cfg, attempt)
    raise NetworkError(f"gave up after {cfg.retries + 1} attempts "
                       f"({type(last).__name__}: {_short_exc(last)})", file=safe_url(url))


def _short_exc(exc: Exception | None) -> str:
    text = str(exc).splitlines()[0] if exc is not None and str(exc) else ""
    # requests' messages can quote the URL with its query: keep them out
    return text.split("?")[0][:200]


class RemoteFile(io.RawIOBase):
    """A read-only, seekable view of a remote file with a persistent block cache.

    Parameters
    ----------
    url: the file's URL (presigned query strings are fine: they are never printed).
    key: what names the cache entry (e.g. ``"dandi:000123/0.1/sub-1/x.nwb"``); defaults to
        the URL without its query. Never put a token in it.
    cache_dir: where the blocks live (``$NEUROIMIT_CACHE`` by default).
    headers: extra request headers (e.g. Authorization for the API host only).
    offline: never touch the network; missing blocks raise :class:`NetworkError`.
    url_factory: called for the URL when none was given and a block must be fetched.
    refresh: called once for a new URL when the server refuses the current one (401/403,
        e.g. an expired presigned URL during a long session).
    """

    def __init__(self, url: str | None, *, key: str | None = None,
                 cache_dir: str | os.PathLike | None = None,
                 headers: Mapping[str, str] | None = None, cfg: HTTPConfig | None = None,
                 offline: bool = False, size: int | None = None,
                 url_factory: Callable[[], str] | None = None,
                 refresh: Callable[[], str] | None = None):
        super().__init__()
        if url is None and url_factory is None and not offline:
            raise NetworkError("no URL to stream from", file=key)
        self.url = url
        self._url_factory = url_factory  # resolves the URL only if a block must be fetched
        self._refresh = refresh  # a new URL when the old one is refused (expired signature)
        self.cfg = cfg or HTTPConfig()
        self.offline = offline
        self.headers = dict(headers or {})
        self.label = safe_url(url) if url else str(key).split("#")[0]
        self.key = key or safe_url(url or "")
        self.dir = default_cache_dir(cache_dir) / "blocks" / cache_key(self.key)
        self.bytes_fetched = 0
        self.requests = 0
        self._sess = None
        self._pos = 0
        self._mem: dict[int, bytes] = {}
        meta_p = self.dir / "meta.json"
        meta = None
        if meta_p.exists():
            try:
                meta = json.loads(meta_p.read_text())
            except ValueError:
                meta = None
        if meta is not None and not ((self.dir / "data").exists() and
                                     (self.dir / "map").exists()):
            meta = None  # a damaged cache entry: start it again
        if meta is not None and (size is None or meta.get("size") == size):
            self.size = int(meta["size"])
            self.block = int(meta["block"])
        else:
            if offline:
                raise NetworkError("offline and not in the cache", file=self.label,
                                   expected="a source fetched before (or offline=False)")
            self.block = self.cfg.block_size
            first = None
            if size is None:
                first, size = self._request(0, self.block - 1, None)
                if size is None:
                    size = len(first)
            self.size = int(size)
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.dir / "data", "wb") as fh:
                fh.truncate(self.size)
            np.zeros(self.n_blocks, np.uint8).tofile(self.dir / "map")
            write_bytes_atomic(meta_p, json.dumps({"key": self.key, "size": self.size,
                                              "block": self.block}).encode())
            if first is not None:
                self._store(0, first[: min(self.block, self.size)])
                self._flush_map()
        self._map = np.fromfile(self.dir / "map", dtype=np.uint8)
        if self._map.size != self.n_blocks:
            self._map = np.zeros(self.n_blocks, np.uint8)
        self._data = open(self.dir / "data", "r+b")

    # -------------------------------------------------------------- cache plumbing
    @property
    def n_blocks(self) -> int:
        return max(1, -(-self.size // self.block))

    def _request(self, start: int, end: int, size: int | None) -> tuple[bytes, int | None]:
        if self.offline:
            raise NetworkError(f"offline and bytes {start}-{end} are not in the cache",
                               file=self.label, expected="offline=False to fetch them")
        if self.url is None:
            self.url = self._url_factory()
        if self._sess is None:
            self._sess = _session()
        try:
            body, total = _fetch_range(self._sess, self.url, start, end, self.headers,
                                       self.cfg, size)
        except NetworkError as exc:
            if self._refresh is None or "access denied" not in exc.message:
                raise
            log.debug("%s refused; asking for a fresh URL", self.label)
            self.url, self._refresh = self._refresh(), None  # once only
            body, total = _fetch_range(self._sess, self.url, start, end, self.headers,
                                       self.cfg, size)
        self.bytes_fetched += len(body)
        self.requests += 1
        return body, total

    def _store(self, b: int, data: bytes) -> None:
        if not hasattr(self, "_data"):
            with open(self.dir / "data", "r+b") as fh:
                fh.seek(b * self.block)
                fh.write(data)
            m = np.fromfile(self.dir / "map", dtype=np.uint8)
            m[b] = 1
            self._map = m
            return
        self._data.seek(b * self.block)
        self._data.write(data)
        self._map[b] = 1
        self._mem[b] = data

    def _flush_map(self) -> None:
        if hasattr(self, "_data"):
            self._data.flush()
        write_bytes_atomic(self.dir / "map", self._map.tobytes())

    def _ensure(self, b0: int, b1: int) -> None:
        """Fetch blocks ``b0..b1`` (inclusive) that are not cached, in contiguous runs."""
        missing = np.flatnonzero(self._map[b0:b1 + 1] == 0) + b0
        if missing.size == 0:
            return
        runs = np.split(missing, np.flatnonzero(np.diff(missing) != 1) + 1)
        per_req = max(1, self.cfg.max_request // self.block)
        for run in runs:
            for i in range(0, run.size, per_req):
                part = run[i:i + per_req]
                start = int(part[0]) * self.block
                end = min(self.size, (int(part[-1]) + 1) * self.block) - 1
                body, _ = self._request(start, end, self.size)
                for j, b in enumerate(part):
                    self._store(int(b), body[j * self.block:(j + 1) * self.block])
        self._flush_map()

    def _block(self, b: int) -> bytes:
        data = self._mem.get(b)
        if data is None:
            self._data.seek(b * self.block)
            data = self._data.read(min(self.block, self.size - b * self.block))
            if len(self._mem) > 256:
                self._mem.clear()
            self._mem[b] = data
        return data

    # -------------------------------------------------------------- file protocol
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self._pos + offset
        elif whence == 2:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buf) -> int:
        mv = memoryview(buf).cast("B")
        n = min(len(mv), max(0, self.size - self._pos))
        if n <= 0:
            return 0
        b0, b1 = self._pos // self.block, (self._pos + n - 1) // self.block
        self._ensure(b0, b1)
        out = 0
        pos = self._pos
        for b in range(b0, b1 + 1):
            data = self._block(b)
            lo = pos - b * self.block
            take = min(len(data) - lo, n - out)
            mv[out:out + take] = data[lo:lo + take]
            out += take
            pos += take
        self._pos = pos
        return out

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        buf = bytearray(max(0, size))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def close(self) -> None:
        if getattr(self, "_data", None) is not None and not self._data.closed:
            self._data.close()
        if self._sess is not None:
            self._sess.close()
            self._sess = None
        super().close()

    @property
    def cached_fraction(self) -> float:
        """Share of the file's blocks held in the cache."""
        return float(self._map.mean()) if self._map.size else 0.0


# ---------------------------------------------------------------------------- downloads
def verify_file(path: Path, size: int | None = None,
                digest: Mapping[str, str] | None = None) -> str | None:
    """None when ``path`` matches ``size`` and the strongest known ``digest``; else why not.

    Digest keys as in DANDI metadata: ``dandi:sha2-256``, ``dandi:dandi-etag``, ``md5``.
    """
    if not path.exists():
        return "missing"
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual} bytes, expected {size}"
    digest = dict(digest or {})
    sha = digest.get("dandi:sha2-256") or digest.get("sha256")
    if sha:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return None if h.hexdigest() == sha.lower() else "sha2-256 digest mismatch"
    etag = digest.get("dandi:dandi-etag")
    if etag:
        from dandi.support.digests import get_dandietag

        got = get_dandietag(path).as_str()
        return None if got == etag else "dandi-etag digest mismatch"
    md5 = digest.get("md5") or digest.get("dandi:md5")
    if md5:
        h = hashlib.md5()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return None if h.hexdigest() == md5.lower() else "md5 digest mismatch"
    return None


def _progress(total: int | None, label: str):
    if not sys.stderr.isatty():
        return None
    from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                               TransferSpeedColumn)

    p = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                 TransferSpeedColumn(), TimeRemainingColumn(), transient=True)
    p.start()
    task = p.add_task(f"download {Path(label).name}", total=total)
    return p, task


def download(url: str, dest: str | os.PathLike, *, size: int | None = None,
             digest: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, cfg: HTTPConfig | None = None,
             offline: bool = False, on_bytes: Callable[[int], None] | None = None) -> Path:
    """Download ``url`` to ``dest`` (verified by size and digest), unless already there.

    The file is written to a hidden temporary name in the same folder and renamed only when
    complete and verified; a dropped connection is resumed with a Range request; after the
    last failed attempt the temporary file is removed, so the cache never holds a partial
    file. Returns ``dest``.
    """
    import requests

    cfg = cfg or HTTPConfig()
    dest = Path(dest)
    label = safe_url(url) if url else str(dest)
    if dest.exists():
        why = verify_file(dest, size, digest)
        if why is None:
            return dest
        log.warning("%s: cached copy is stale (%s); fetching it again", dest, why)
        if offline:
            raise NetworkError(f"offline and the cached copy is bad ({why})", file=str(dest))
    if offline:
        raise NetworkError("offline and not in the cache", file=label,
                           expected="a source fetched before (or offline=False)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.*.part"):
        stale.unlink(missing_ok=True)  # left by a process that was killed
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
    sess = _session()
    prog = _progress(size, dest.name)
    got = 0
    try:
        with open(tmp, "wb") as out:
            attempt = 0
            while True:
                try:
                    hdr = dict(headers or {})
                    if got:
                        hdr["Range"] = f"bytes={got}-"
                    r = sess.get(url, headers=hdr, stream=True, timeout=cfg.timeout)
                    try:
                        if r.status_code in RETRY_STATUSES:
                            raise _Retry(f"HTTP {r.status_code}")
                        if r.status_code == 200 and got:
                            out.seek(0)
                            out.truncate()
                            got = 0  # server ignored Range: start over
                        elif r.status_code not in (200, 206):
                            raise _status_error(r.status_code, url)
                        for chunk in r.iter_content(1 << 16):
                            out.write(chunk)
                            got += len(chunk)
                            if on_bytes:
                                on_bytes(len(chunk))
                            if prog:
                                prog[0].update(prog[1], completed=got)
                    finally:
                        r.close()
                    if size is not None and got < size:
                        raise _Retry(f"truncated body ({got} of {size} bytes)")
                    break
                except (_Retry, requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError) as exc:
                    attempt += 1
                    log.debug("download of %s interrupted at %d bytes (%s); attempt %d",
                              label, got, type(exc).__name__, attempt)
                    if attempt > cfg.retries:
                        raise NetworkError(f"download failed after {attempt} attempts at "
                                           f"{got} bytes ({type(exc).__name__}: "
                                           f"{_short_exc(exc)})", file=label) from None
                    _sleep(cfg, attempt - 1)
        why = verify_file(tmp, size, digest)
        if why is not None:
            raise NetworkError(f"downloaded file failed verification ({why})", file=label,
                               expected="the size and digest the server announced")
        os.replace(tmp, dest)
    finally:
        if prog:
            prog[0].stop()
        sess.close()
        if tmp.exists():
            tmp.unlink()
    return dest
