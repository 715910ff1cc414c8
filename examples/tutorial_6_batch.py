"""Tutorial 6: run the pipeline over many sessions (a dandiset or a folder) with Dask.

    python examples/tutorial_6_batch.py dandi://000XXX --select 'sub-*' -o out
    python examples/tutorial_6_batch.py path/to/folder_of_nwb -o out
    python examples/tutorial_6_batch.py                      # three synthetic sessions

Failures of single sessions are recorded, not fatal; rerunning picks up only unfinished ones.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", help="dandi://<dandiset>, a folder of NWB files")
    ap.add_argument("-o", "--out", default="tutorial_6")
    ap.add_argument("--select", default=None, help="glob on asset paths, e.g. 'sub-*'")
    ap.add_argument("--stages", default="load,stac",
                    help="stages per session (all: load,stac,train,evaluate,report)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    out = Path(args.out)

    from neuroimit.batch import run_batch

    source = args.source
    if source is None:
        from neuroimit.synth import SynthConfig, write_synthetic_nwb

        folder = out / "sessions"
        for seed in range(3):
            write_synthetic_nwb(folder / f"sub-S{seed}_ses-1.nwb",
                                SynthConfig(duration=2.0, seed=seed), overwrite=True)
        source = str(folder)
    res = run_batch(source, out / "runs", select=args.select, n_workers=args.workers,
                    stages=tuple(args.stages.split(",")))
    print(res.summary.to_string(index=False))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
