"""Dynamics commands: ``ccm``, ``simplex-scan``, ``granger`` on CSV tables (no logic here)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from . import app


def _read(path: str, columns: list[str]):
    import pandas as pd
    from ..errors import DataError
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", file=path, expected="a CSV table, one column per series")
    df = pd.read_csv(p)
    for c in columns:
        if c not in df.columns:
            raise DataError(f"no column {c!r}", file=path, field=c,
                            expected=f"one of {list(df.columns)}")
    return df


def _write(df, out: str | None) -> None:
    if out is None:
        typer.echo(df.to_string())
        return
    out_p = Path(out)
    out_p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_p.parent, suffix=".csv")
    os.close(fd)
    df.to_csv(tmp)
    os.replace(tmp, out_p)
    typer.echo(f"wrote {out_p}")


@app.command()
def ccm(
    path: str = typer.Argument(..., help="CSV table with one column per series."),
    x: str = typer.Option(..., "--x", help="Column of the first series."),
    y: str = typer.Option(..., "--y", help="Column of the second series."),
    E: int = typer.Option(2, "--E", "-E", help="Embedding dimension."),
    tau: int = typer.Option(-1, help="Embedding delay (samples; negative looks back)."),
    Tp: int = typer.Option(0, "--Tp", help="Cross-map lag (samples)."),
    lib_sizes: str = typer.Option("", help="Library sizes, e.g. '10,100,500' "
                                           "(default: 7 sizes from 10 to 0.8 N)."),
    samples: int = typer.Option(100, help="Random libraries per size."),
    seed: int = typer.Option(0, help="Random seed."),
    exclusion_radius: int = typer.Option(0, help="Temporal exclusion radius (samples)."),
    surrogates: int = typer.Option(0, help="Also run a surrogate test with this many "
                                           "surrogates (0 = no test)."),
    method: str = typer.Option("ebisuzaki", help="Surrogate method."),
    out: str = typer.Option(None, help="Write the table to this CSV instead of printing."),
):
    """Convergent cross mapping between two columns (pyEDM's "x:y" = x cross-maps y)."""
    import numpy as np

    from ..dynamics import ccm as run_ccm
    from ..dynamics import ccm_significance, convergence_test
    df = _read(path, [x, y])
    N = len(df)
    sizes = [int(s) for s in lib_sizes.split(",") if s.strip()] or \
        np.linspace(max(10, E + 2), 0.8 * N, 7).astype(int).tolist()
    r = run_ccm(df[x], df[y], E=E, tau=tau, Tp=Tp, lib_sizes=sizes, samples=samples,
                seed=seed, exclusion_radius=exclusion_radius)
    table = r.to_pandas().set_index("LibSize")
    if len(sizes) > 1:
        conv = convergence_test(r)
        for lab in conv.index:
            typer.echo(f"{lab}: Kendall tau {conv.loc[lab, 'kendall_tau']:.2f} "
                       f"(p={conv.loc[lab, 'kendall_p']:.2g}), Fisher z p="
                       f"{conv.loc[lab, 'fisher_p']:.2g}")
    if surrogates:
        sig = ccm_significance(df[x].to_numpy(float), df[y].to_numpy(float), E=E, tau=tau,
                               Tp=Tp, n_surrogates=surrogates, method=method, seed=seed,
                               exclusion_radius=exclusion_radius)
        # the significance test labels directions "x:y" / "y:x"; print the column names
        names = {"x:y": f"{x}:{y}", "y:x": f"{y}:{x}"}
        for lab, p in sig.p_value.items():
            typer.echo(f"{names.get(lab, lab)}: surrogate p = {p:.3g} ({method}, "
                       f"{surrogates} surrogates)")
    _write(table, out)


@app.command("embed-scan")
def embed_scan(
    path: str = typer.Argument(..., help="CSV table."),
    column: str = typer.Option(..., "--column", help="Series to scan."),
    max_E: int = typer.Option(10, help="Largest embedding dimension."),
    tau: int = typer.Option(-1, help="Embedding delay."),
    Tp: int = typer.Option(1, "--Tp", help="Prediction horizon."),
    out: str = typer.Option(None, help="Write the table to this CSV."),
):
    """Simplex skill against embedding dimension (pyEDM EmbedDimension)."""
    from ..dynamics import embed_dimension
    df = _read(path, [column])
    s = embed_dimension(df[column], max_E=max_E, tau=tau, Tp=Tp)
    typer.echo(f"best E = {s.best}")
    _write(s.to_pandas().set_index("E"), out)


@app.command()
def granger(
    path: str = typer.Argument(..., help="CSV table."),
    columns: str = typer.Option(..., help="Comma-separated columns."),
    max_lags: int = typer.Option(10, help="Largest VAR lag tried."),
    out: str = typer.Option(None, help="Write the p-value table to this CSV."),
):
    """VAR Granger causality p-values (rows: caused, columns: causing)."""
    from ..dynamics import var_granger
    cols = [c.strip() for c in columns.split(",") if c.strip()]
    df = _read(path, cols)
    g = var_granger(df[cols], max_lags=max_lags)
    typer.echo(f"VAR lag {g.lag} ({g.criterion})")
    _write(g.p_values, out)
