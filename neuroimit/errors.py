"""One exception family for neuroimit.

Every error names *where* (file or source), *what* (field) and *what was expected*, so a
user can fix the input without reading a traceback::

    >>> raise DataError("timestamps are not increasing", file="s.nwb", field="pose/time",
    ...                 expected="strictly increasing seconds")
    Traceback (most recent call last):
    neuroimit.errors.DataError: s.nwb: pose/time: timestamps are not increasing (expected strictly increasing seconds)
"""
from __future__ import annotations

__all__ = [
    "NeuroimitError",
    "DataError",
    "ConfigError",
    "NetworkError",
    "NumericalError",
]


class NeuroimitError(Exception):
    """Base of every error neuroimit raises on purpose.

    Parameters
    ----------
    message: what is wrong, one line.
    file: the file, URL or object the problem is in (optional).
    field: the field / dataset / argument inside it (optional).
    expected: what a good value looks like (optional).
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 expected: str | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        self.expected = expected
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        text = ": ".join(parts + [self.message])
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class DataError(NeuroimitError, ValueError):
    """Input data is missing, malformed, or inconsistent."""


class ConfigError(NeuroimitError, ValueError):
    """A configuration value or argument is invalid."""


class NetworkError(NeuroimitError, OSError):
    """A remote source could not be reached or answered badly."""


class NumericalError(NeuroimitError, ArithmeticError):
    """A computation diverged or produced non-finite values."""
