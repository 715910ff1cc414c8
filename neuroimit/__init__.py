"""neuroimit: mouse forelimb reaching, from NWB sessions to musculoskeletal imitation and
dynamical forecasting.

>>> import neuroimit
>>> neuroimit.Session  # the one data model
<class 'neuroimit.session.Session'>
"""
from __future__ import annotations

__version__ = "0.1.0"

import os as _os


def _enable_jax_compilation_cache() -> None:
    """Keep JAX's compiled programs on disk so a second run skips compilation (on a CPU,
    compiling the STAC and PPO programs costs more than running them). Set before JAX is
    imported; ``NEUROIMIT_JAX_CACHE=0`` turns it off, ``JAX_COMPILATION_CACHE_DIR`` moves it."""
    if _os.environ.get("NEUROIMIT_JAX_CACHE", "1") == "0":
        return
    base = _os.environ.get("NEUROIMIT_CACHE") or _os.path.join(
        _os.path.expanduser("~"), ".cache", "neuroimit")
    _os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _os.path.join(base, "jax"))
    _os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


_enable_jax_compilation_cache()

from .errors import ConfigError, DataError, NetworkError, NeuroimitError, NumericalError
from .session import EMG, Session

__all__ = ["__version__", "Session", "EMG", "NeuroimitError", "DataError", "ConfigError",
           "NetworkError", "NumericalError"]
