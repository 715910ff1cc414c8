"""A local HTTP file server for tests: correct Range support, byte counting, injected faults.

Python's ``http.server`` ignores Range headers; this handler implements them (single ranges:
``a-b``, ``a-``, ``-n``; 206 with Content-Range; 416 when unsatisfiable), counts the body
bytes it sends per path, records request headers, and can misbehave on demand::

    srv = RangeServer({"/f.nwb": data}).start()
    srv.fault("/f.nwb", "drop", times=1)      # send half the body, then close
    srv.fault("/f.nwb", "status", times=2, status=503)
    srv.fault("/f.nwb", "truncate", times=1)  # a short body with a matching length
    srv.fault("/f.nwb", "slow", times=1, delay=2.0)
    srv.url("/f.nwb"); srv.bytes_served("/f.nwb"); srv.stop()

Runs on 127.0.0.1 in a daemon thread; never reaches the network.
"""
from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit


@dataclass
class Fault:
    kind: str            # "drop", "status", "truncate", "slow"
    times: int = 1
    status: int = 503
    delay: float = 1.0


class RangeServer:
    """Serve in-memory files (path -> bytes) with Range support and fault injection."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files: dict[str, bytes] = dict(files or {})
        self.served: dict[str, int] = defaultdict(int)
        self.requests: list[dict] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.hook: Callable[[BaseHTTPRequestHandler], bool] | None = None
        self._lock = threading.Lock()
        self._srv: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> "RangeServer":
        outer = self

        class Handler(_Handler):
            server_ref = outer

        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    @property
    def base(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)

    def fault(self, path: str, kind: str, times: int = 1, **kw) -> None:
        with self._lock:
            self.faults[path].append(Fault(kind, times, **kw))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def bytes_served(self, path: str | None = None) -> int:
        with self._lock:
            return sum(self.served.values()) if path is None else self.served[path]

    def reset_counts(self) -> None:
        with self._lock:
            self.served.clear()
            self.requests.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            lst = self.faults.get(path) or []
            while lst:
                f = lst[0]
                if f.times <= 0:
                    lst.pop(0)
                    continue
                f.times -= 1
                return f
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server_ref: RangeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.server_ref
        path = urlsplit(self.path).path
        with srv._lock:
            srv.requests.append({"method": self.command, "path": self.path,
                                 "headers": dict(self.headers.items())})
        if srv.hook is not None and srv.hook(self):
            return
        data = srv.files.get(path)
        if data is None:
            self._plain(404, b"not found")
            return
        fault = srv._take_fault(path)
        if fault is not None and fault.kind == "status":
            self._plain(fault.status, b"injected failure")
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        size = len(data)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                self._plain(416, b"bad range", {"Content-Range": f"bytes */{size}"})
                return
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:  # suffix range: last n bytes
                n = int(m.group(2))
                start, end = max(0, size - n), size - 1
            end = min(end, size - 1)
            if start >= size or start > end:
                self._plain(416, b"unsatisfiable", {"Content-Range": f"bytes */{size}"})
                return
            status = 206
        body = data[start:end + 1]
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]  # a short body that claims to be complete
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        if fault is not None and fault.kind == "drop":
            part = body[: len(body) // 2]
            self._write(path, part)
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        self._write(path, body)

    def _write(self, path: str, body: bytes) -> None:
        # count before sending: a client that has its answer must see it counted (counting
        # afterwards raced with the client's next look at the counter)
        with self.server_ref._lock:
            self.server_ref.served[path] += len(body)
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _plain(self, code: int, text: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)
