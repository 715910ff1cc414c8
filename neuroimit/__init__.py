"""neuroimit: mouse forelimb reaching, from NWB sessions to musculoskeletal imitation and
dynamical forecasting.

>>> import neuroimit
>>> neuroimit.Session  # the one data model
<class 'neuroimit.session.Session'>
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConfigError, DataError, NetworkError, NeuroimitError, NumericalError
from .session import EMG, Session

__all__ = ["__version__", "Session", "EMG", "NeuroimitError", "DataError", "ConfigError",
           "NetworkError", "NumericalError"]
