"""A PREFECT_API_URL where no server answers: `watcher run`, `prune` and `serve` say so in one
line and exit 1 (chained tracebacks of httpx and Prefect before). Every other error is left as it
was: only Prefect's client failing to connect to that URL is turned into the line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from watcher import cli

from .test_cli import assert_clean, run_cli
from .test_flow_e2e import write_config


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port where nothing listens (bound, so that no one else takes it meanwhile:
    connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _env(tmp_path: Path, api: str) -> dict[str, str]:
    return {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@pytest.mark.integration
@pytest.mark.parametrize("command", ["run", "prune", "serve"])
def test_unreachable_prefect_api_is_one_line_and_exit_1(
    command: str, tmp_path: Path, closed_port: int
) -> None:
    config = write_config(tmp_path, {"f": "http://127.0.0.1:9/feed.xml"})
    api = f"http://127.0.0.1:{closed_port}/api"
    proc = run_cli([command, "--config", str(config)], env=_env(tmp_path, api), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_clean(proc)
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"watcher: cannot reach the Prefect API at {api} ("), line
    assert "is `prefect server start` running" in line
    if command == "serve":
        assert "serving" not in proc.stdout
    else:
        assert "unset PREFECT_API_URL to use a temporary server" in line


@pytest.mark.integration
def test_credentials_in_an_unreachable_api_url_are_not_shown(
    tmp_path: Path, closed_port: int
) -> None:
    config = write_config(tmp_path, {"f": "http://127.0.0.1:9/feed.xml"})
    api = f"http://admin:s3cretpw@127.0.0.1:{closed_port}/api"
    proc = run_cli(["run", "--config", str(config)], env=_env(tmp_path, api), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "s3cretpw" not in proc.stdout + proc.stderr and "admin" not in proc.stderr
    assert f"at http://***@127.0.0.1:{closed_port}/api (" in proc.stderr
    assert_clean(proc)


def _connect_error(url: str) -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused",
                              request=httpx.Request("GET", url))


API = "http://127.0.0.1:4200/api"


def test_only_a_connection_failure_to_the_api_url_is_recognised(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", API)
    direct = _connect_error(f"{API}/deployments/name/x")
    assert cli.prefect_api_unreachable(direct, "serve") == (
        f"cannot reach the Prefect API at {API} ([Errno 111] Connection refused); is `prefect "
        "server start` running there? (watcher serve needs a running server)")
    wrapped = RuntimeError(f"Failed to reach API at {API}/")
    wrapped.__cause__ = _connect_error(f"{API}/admin/version")
    assert "cannot reach the Prefect API" in (cli.prefect_api_unreachable(wrapped, "run") or "")
    # another address (a feed, Slack): not the Prefect API
    assert cli.prefect_api_unreachable(_connect_error("http://127.0.0.1:4201/api/x")) is None
    assert cli.prefect_api_unreachable(_connect_error("https://slack.com/api/x")) is None
    # an error raised while handling a connection failure (not caused by it) is its own
    other = ValueError("the flow failed")
    other.__context__ = _connect_error(f"{API}/admin/version")
    assert cli.prefect_api_unreachable(other) is None
    assert cli.prefect_api_unreachable(RuntimeError("Failed to reach API")) is None


def test_other_errors_of_a_run_still_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow's own failure is not hidden behind the one line: main raises it as before."""
    monkeypatch.setenv("PREFECT_API_URL", API)

    def failing_run(_: object) -> int:
        raise RuntimeError("the pipeline broke") from _connect_error("http://127.0.0.1:1/x")

    monkeypatch.setattr(cli, "cmd_run", failing_run)
    with pytest.raises(RuntimeError, match="the pipeline broke"):
        cli.main(["run"])
