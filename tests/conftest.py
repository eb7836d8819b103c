"""Shared fixtures. Integration tests use one real Prefect test server for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[dict[str, str]]:
    """A real Prefect server (Prefect's test harness) for the session, with PREFECT_HOME in a
    temporary directory. Yields the environment a subprocess needs to use the same server."""
    home = tempfile.mkdtemp(prefix="watcher-prefect-home-")
    env = {
        "PREFECT_HOME": home,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "watcher",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=60):
            api = str(PREFECT_API_URL.value())
            yield {**env, "PREFECT_API_URL": api}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
