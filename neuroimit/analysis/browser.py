"""Headless Chromium helpers: check that a report renders, and take screenshots of it.

Used by the report rendering test and by ``examples/real_reaches_report.py`` (docs
screenshots). Chromium runs with a throw-away profile, no network services, no GPU.

:func:`render_check` copies the page, appends a small probe script that waits for the load
event and records, for every ``<img>``, whether it decoded (``complete`` and
``naturalWidth > 0``), plus every error the page raised (``window.onerror``, rejected
promises, ``console.error``); Chromium's ``--dump-dom`` prints the DOM after load, and the
probe's record is read back from it. The report itself carries no script.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["find_chromium", "render_check", "screenshot"]

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run",
          "--disable-default-apps", "--disable-extensions", "--mute-audio",
          "--hide-scrollbars"]

_PROBE = """
<script>
(function(){
  var errors = [];
  window.addEventListener('error', function(e){ errors.push('error: ' + (e.message || e)); });
  window.addEventListener('unhandledrejection', function(e){ errors.push('rejection: ' + e.reason); });
  var ce = console.error;
  console.error = function(){ errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); };
  window.addEventListener('load', function(){
    var imgs = Array.prototype.slice.call(document.images);
    var res = {n_images: imgs.length,
               decoded: imgs.filter(function(i){ return i.complete && i.naturalWidth > 0; }).length,
               widths: imgs.map(function(i){ return i.naturalWidth; }),
               errors: errors, title: document.title};
    var pre = document.createElement('pre');
    pre.id = '__neuroimit_probe__';
    pre.textContent = JSON.stringify(res);
    document.body.appendChild(pre);
  });
})();
</script>
"""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None (env ``NEUROIMIT_CHROMIUM`` first)."""
    cands = [os.environ.get("NEUROIMIT_CHROMIUM"), "/usr/bin/chromium",
             shutil.which("chromium"), shutil.which("chromium-browser"),
             shutil.which("google-chrome"), shutil.which("chrome")]
    for c in cands:
        if c and Path(c).exists() and os.access(c, os.X_OK):
            return c
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="neuroimit-chromium-") as prof:
        return subprocess.run(args[:1] + _FLAGS + [f"--user-data-dir={prof}"] + args[1:],
                              capture_output=True, text=True, timeout=timeout)


def render_check(html_path, *, chromium: str | None = None, timeout: float = 90.0) -> dict:
    """Load ``html_path`` in headless Chromium; returns {"n_images", "decoded", "widths",
    "errors", "console"} where ``console`` lists Chromium's logged console/JS errors."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium executable found (install Debian's 'chromium')")
    html_path = Path(html_path)
    text = html_path.read_text(encoding="utf-8")
    # the probe goes first in <body> so it also hears errors raised by the page's own scripts
    m = re.search(r"<body[^>]*>", text, re.I)
    probed = text[:m.end()] + _PROBE + text[m.end():] if m else _PROBE + text
    with tempfile.TemporaryDirectory(prefix="neuroimit-render-") as d:
        page = Path(d) / "page.html"
        page.write_text(probed, encoding="utf-8")
        proc = _run([exe, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                     "--dump-dom", page.as_uri()], timeout)
    m = re.search(r'<pre id="__neuroimit_probe__">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        raise RuntimeError(f"Chromium did not report the page (rc {proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    import html as _html
    res = json.loads(_html.unescape(m.group(1)))
    res["console"] = [ln for ln in proc.stderr.splitlines()
                      if "CONSOLE" in ln and ("rror" in ln or "Uncaught" in ln)]
    return res


def screenshot(html_path, png_path, *, width: int = 1200, height: int = 1600,
               chromium: str | None = None, timeout: float = 90.0) -> Path:
    """Screenshot of the top ``width`` x ``height`` pixels of a page (PNG)."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium executable found (install Debian's 'chromium')")
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    proc = _run([exe, f"--window-size={width},{height}", "--virtual-time-budget=10000",
                 f"--screenshot={png_path}", Path(html_path).resolve().as_uri()], timeout)
    if not png_path.exists():
        raise RuntimeError(f"Chromium wrote no screenshot (rc {proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    return png_path
