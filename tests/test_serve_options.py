"""`watcher serve` refuses bad options up front: exit 2 with one line, before it says it is
serving and before it builds any Prefect deployment (a traceback after "serving ..." before)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import assert_clean, run_cli
from .test_flow_e2e import write_config


@pytest.fixture
def closed_api(tmp_path: Path) -> Iterator[dict[str, str]]:
    """PREFECT_API_URL at a 127.0.0.1 port where nothing listens (bound, so no one else takes
    it meanwhile), PREFECT_HOME in tmp_path."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        yield {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
               "PREFECT_HOME": str(tmp_path / "prefect-home"),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--digest-cron", "0 25 * * *", "--digest-cron '0 25 * * *' is not a cron expression"),
    ("--digest-cron", "every day", "--digest-cron 'every day' is not a cron expression"),
    ("--poll-every", "100000000000000000000", "--poll-every must be from 10 to 31,536,000"),
    ("--poll-every", "31536001", "--poll-every must be from 10 to 31,536,000"),
    ("--poll-every", "5", "--poll-every must be from 10 to 31,536,000"),
    ("--limit", "0", "--limit must be >= 1"),
])
def test_bad_option_is_a_usage_error_before_serving(
    option: str, value: str, said: str, tmp_path: Path, closed_api: dict[str, str]
) -> None:
    config = write_config(tmp_path, {"f": "http://127.0.0.1:9/feed.xml"})
    proc = run_cli(["serve", "--config", str(config), f"{option}={value}"], env=closed_api,
                   timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "serving" not in proc.stdout, proc.stdout
    assert_clean(proc)
    assert proc.stderr.startswith(f"watcher serve: {said}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
