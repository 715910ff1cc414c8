"""Many sessions at once: the pipeline over a dandiset or a folder, on a Dask cluster.

Each session runs the whole pipeline in its own run directory ``OUT/<name>/`` on a Dask
worker (a :class:`distributed.LocalCluster` by default; an existing scheduler when an address
is given, e.g. one started by dask-jobqueue on SLURM). A failure of one session is recorded in
``OUT/batch_status.json`` and does not stop the others; a rerun skips finished sessions (each
run's stage manifests make this cheap) and retries the rest. A cross-session summary
(``OUT/batch_summary.csv`` and ``OUT/batch_report.json``) aggregates every run's report.

>>> from neuroimit.batch import run_batch                   # doctest: +SKIP
>>> run_batch("dandi://000XXX", "out", select="sub-*")      # doctest: +SKIP
"""
from __future__ import annotations

import fnmatch
import json
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .atomic import write_text_atomic
from .config import RunConfig
from .errors import ConfigError

__all__ = ["discover_sources", "run_batch", "run_one", "aggregate"]


def _safe_name(text: str) -> str:
    """A run-directory name from a source path/URI (no separators, no '..')."""
    stem = text.rstrip("/").split("/")[-1]
    for suffix in (".nwb", ".nc", ".h5", ".csv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", stem).strip("._") or "session"
    return stem


def discover_sources(source: str | Sequence[str], select: str | None = None) -> list[str]:
    """The session sources a batch runs over.

    ``source``: a ``dandi://<dandiset>[@version]`` URI (its NWB assets, via
    :func:`neuroimit.loaders.list_sessions`), a local folder (its ``*.nwb`` files), or a list
    of sources. ``select``: a glob on the asset path (e.g. ``'sub-*'`` or ``'sub-M1/*'``).
    """
    if not isinstance(source, str):
        items = [str(s) for s in source]
    elif source.startswith("dandi://") and source.count("/") <= 2:
        from .loaders import list_sessions

        listing = list_sessions(source)
        items = []
        for row in (listing.to_dict("records") if isinstance(listing, pd.DataFrame)
                    else listing):
            uri = row.get("uri") or row.get("source") or \
                f"{source.rstrip('/')}/{row['path']}"
            items.append(str(uri))
    elif Path(source).is_dir():
        items = [str(p) for p in sorted(Path(source).rglob("*.nwb"))]
    else:
        items = [source]
    if select:
        items = [s for s in items if fnmatch.fnmatch(_asset_path(s), select)
                 or fnmatch.fnmatch(_asset_path(s), select + "/*")
                 or fnmatch.fnmatch(Path(_asset_path(s)).name, select)]
    if not items:
        raise ConfigError("no sessions found", file=str(source), field="--select",
                          expected="at least one NWB asset matching the selection")
    return items


def _asset_path(src: str) -> str:
    if src.startswith("dandi://"):
        return src.split("/", 3)[3] if src.count("/") >= 3 else ""
    return src


def run_one(source: str, run_dir: str, config: dict[str, Any] | None,
            stages: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the pipeline for one session (on a worker); never raises, returns a status."""
    from .config import STAGES
    from .pipeline import run_pipeline

    t0 = time.perf_counter()
    try:
        cfg = RunConfig.from_dict(config) if config is not None else None
        results = run_pipeline(source, run_dir, cfg, quiet=True,
                               stages=tuple(stages) if stages else STAGES)
        return {"source": source, "run_dir": run_dir, "status": "done",
                "seconds": round(time.perf_counter() - t0, 2),
                "stages": {r.stage: r.status for r in results}}
    except BaseException as exc:  # one session's failure must not stop the batch
        tb = traceback.format_exc(limit=5)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "error.txt").write_text(tb)
        return {"source": source, "run_dir": run_dir, "status": "failed",
                "seconds": round(time.perf_counter() - t0, 2),
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500]}


@dataclass
class BatchResult:
    status: list[dict[str, Any]]
    summary: pd.DataFrame

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.status if s["status"] == "failed"]


def _status_path(out: Path) -> Path:
    return out / "batch_status.json"


def run_batch(source: str | Sequence[str], out: str | Path, *, select: str | None = None,
              config: RunConfig | None = None, scheduler: str | None = None,
              n_workers: int = 2, threads_per_worker: int = 1, progress: bool = True,
              stages: Sequence[str] | None = None) -> BatchResult:
    """Run the pipeline over many sessions on Dask; see the module docstring."""
    from dask.distributed import Client, LocalCluster, as_completed

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = discover_sources(source, select)
    names: dict[str, str] = {}
    for s in sources:  # unique run-directory names
        base = _safe_name(s)
        name, k = base, 1
        while name in names.values():
            k += 1
            name = f"{base}-{k}"
        names[s] = name
    previous = {}
    if _status_path(out).exists():
        previous = {d["source"]: d for d in json.loads(_status_path(out).read_text())}
    todo = [s for s in sources if previous.get(s, {}).get("status") != "done"]
    cfg_dict = config.to_dict() if config is not None else None
    status = {s: previous[s] for s in sources if s in previous and s not in todo}
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(run_one, s, str(out / names[s]), cfg_dict, stages,
                                 key=f"run-{names[s]}", pure=False) for s in todo]
        for fut in as_completed(futures):
            res = fut.result()
            status[res["source"]] = res
            _write_status(out, [status[s] for s in sources if s in status])
            if progress:
                mark = "ok" if res["status"] == "done" else f"FAILED ({res.get('error')})"
                print(f"[{len(status)}/{len(sources)}] {names[res['source']]}: {mark}",
                      flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    ordered = [status[s] for s in sources]
    _write_status(out, ordered)
    summary = aggregate(out, ordered)
    return BatchResult(ordered, summary)


def _write_status(out: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(_status_path(out), json.dumps(rows, indent=2, default=str))


def aggregate(out: Path, status: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per session: status, stage summaries and the report's headline numbers."""
    from .pipeline import read_manifest

    rows = []
    for st in status:
        run_dir = Path(st["run_dir"])
        row: dict[str, Any] = {"session": run_dir.name, "source": st["source"],
                               "status": st["status"], "error": st.get("error")}
        for stage in ("load", "stac", "train", "evaluate"):
            m = read_manifest(run_dir, stage)
            if m:
                for k, v in (m.get("summary") or {}).items():
                    if isinstance(v, (int, float, str)):
                        row[f"{stage}.{k}"] = v
        rep = run_dir / "report.json"
        if rep.exists():
            try:
                headline = json.loads(rep.read_text()).get("headline", {})
                for k, v in headline.items():
                    if isinstance(v, (int, float, str)):
                        row[f"report.{k}"] = v
            except json.JSONDecodeError:
                row["report.error"] = "unreadable report.json"
        rows.append(row)
    df = pd.DataFrame(rows)
    write_text_atomic(out / "batch_summary.csv", df.to_csv(index=False))
    numeric = df.select_dtypes("number")
    done = df[df["status"] == "done"] if len(df) else df
    report = {"n_sessions": int(len(df)), "n_done": int(len(done)),
              "n_failed": int((df["status"] == "failed").sum()) if len(df) else 0,
              "failed": [{"session": r["session"], "error": r["error"]}
                         for r in rows if r["status"] == "failed"],
              "means": {c: float(numeric[c].mean()) for c in numeric.columns},
              "sessions": rows}
    write_text_atomic(out / "batch_report.json", json.dumps(report, indent=2, default=str))
    return df
