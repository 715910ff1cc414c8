"""Shared test configuration: CPU-only JAX, no network telemetry, the shared data folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("DANDI_NO_ET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# a fresh JAX compilation cache for this test session, shared with the subprocesses the tests
# start (CLI runs, kill/resume, multi-device): the same programs compile once, not per process
os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="neuroimit-jax-cache-")
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

import pytest  # noqa: E402

#: ../shared/data beside the checkout (absent on a user's clone)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it exists only beside the "
                    "project's own checkout)")
    return SHARED_DATA


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, skipping the calling test when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data file {p} is absent (../shared/data exists only beside the "
                    "project's own checkout)")
    return p
