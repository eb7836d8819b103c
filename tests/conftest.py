"""Shared fixtures. Integration tests use one real Prefect test server for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from watcher.store import Store

from .fakeslack import FakeSlack
from .feedserver import FeedServer

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


POSTGRES_URL_ENV = "WATCHER_TEST_POSTGRES_URL"


def _fresh_postgres_db(base_url: str) -> str:
    """A new, empty database on the test server; returns its URL."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"watcher_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests on SQLite and, when WATCHER_TEST_POSTGRES_URL names a server
    (CI starts one), on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sub/dir/w.db"
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} not set: no PostgreSQL server for this run")
    return _fresh_postgres_db(base)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[FeedServer, FakeSlack, Store]]:
    """A feed server and a fake Slack on 127.0.0.1, and a SQLite store in `tmp_path`."""
    with FeedServer() as feeds, FakeSlack() as slack:
        store = Store(f"sqlite:///{tmp_path}/s.db")
        yield feeds, slack, store
        store.close()
