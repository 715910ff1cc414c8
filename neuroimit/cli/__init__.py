"""The ``neuroimit`` command line. It holds no logic: every command calls the Python API.

Each area registers its commands in its own module (``neuroimit/cli/<area>.py``) on the
shared :data:`app`; this module imports them all.

Exit codes: 0 success, 2 usage error, 1 data/runtime error (one line; ``--debug`` for the
traceback).
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback
import warnings

import typer

try:  # recent typer vendors its own click
    from typer._click.exceptions import ClickException  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException

from .. import __version__
from ..errors import NeuroimitError

app = typer.Typer(
    name="neuroimit",
    help="Mouse forelimb reaching: load NWB/DANDI sessions, register a musculoskeletal model "
         "(STAC), train an imitation policy (MJX/PPO), and report causal forecasting and EMG "
         "alignment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE = {"debug": False}


def _version(value: bool):
    if value:
        typer.echo(f"neuroimit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
):
    _STATE["debug"] = debug


# area modules register their commands on `app`; a missing one must not break the others
_AREAS = ("core", "synth", "loaders", "stac", "imitation", "dynamics", "report", "pipeline")
for _area in _AREAS:
    try:
        importlib.import_module(f"{__name__}.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{_area}":
            raise


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _one_line_warning  # users see 'warning: ...', not source lines
    debug = "--debug" in argv or bool(os.environ.get("NEUROIMIT_DEBUG"))
    try:
        rv = app(args=argv, prog_name="neuroimit", standalone_mode=False)
        return int(rv or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except ClickException as exc:  # usage errors
        exc.show()
        return int(getattr(exc, "exit_code", 2) or 2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except (NeuroimitError, OSError, ValueError) as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {exc}", err=True)
        return 1
    except Exception as exc:  # unexpected: still one line unless --debug
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                   "traceback)", err=True)
        return 1


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
