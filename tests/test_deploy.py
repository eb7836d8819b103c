"""The deployments as users run them: a real `prefect server start`, `prefect deploy --all
--prefect-file deploy/prefect.yaml`, a process worker on the `watcher` pool, `prefect deployment
run`, and the run seen to complete."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .articles import BORDER_TITLE, border_html, now_minus, rss_feed, rss_item
from .feedserver import FeedServer, Route
from .test_flow_e2e import write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture  # one server per test: deployments of the two modes share names
def prefect_server() -> Iterator[dict[str, str]]:
    home = tempfile.mkdtemp(prefix="watcher-deploy-home-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WATCHER_"))}
    env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    log = open(Path(home) / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("prefect server did not start: "
                                + (Path(home) / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def prefect(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_deploy_worker_and_manual_run_complete(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    env = prefect_server
    prefect(["work-pool", "create", "watcher", "--type", "process"], env)
    out = prefect(["--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"], env)
    for name in ("poll-feeds/poll-feeds", "digest/digest", "prune-store/prune-store"):
        assert f"Deployment '{name}' successfully created" in " ".join(out.split())
    inspect = prefect(["deployment", "inspect", "poll-feeds/poll-feeds"], env)
    assert "CANCEL_NEW" in inspect and "*/5 * * * *" in inspect and "'UTC'" in inspect
    # Paused for the rest of the test: a run the schedule makes at the next five-minute mark
    # would take the deployment's concurrency slot, and CANCEL_NEW cancelled the manual run
    # (seen once, at 05:09:58). Pausing drops the runs it had scheduled.
    prefect(["--no-prompt", "deployment", "schedule", "pause", "--all"], env)
    # The server's scheduler may have been creating runs as the pause came (one was left, once,
    # in CI at 16:49:54): those left are deleted, until none has been there for a second.
    quiet_since, deadline = None, time.monotonic() + 30
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{env['PREFECT_API_URL']}/flow_runs/filter", method="POST",
            data=json.dumps({"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            left = json.load(resp)
        for run in left:
            urllib.request.urlopen(urllib.request.Request(
                f"{env['PREFECT_API_URL']}/flow_runs/{run['id']}", method="DELETE"), timeout=10)
        if left:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            break
        time.sleep(0.2)
    assert quiet_since is not None, "scheduled runs kept coming after the schedules were paused"

    with FeedServer() as feeds:
        feeds.routes["/w.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/a", "w1", border_html(),
                     now_minus(10))]))
        config = write_config(tmp_path, {"wire": feeds.url("/w.xml")})
        worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "watcher"], env=env,
                                  cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            run = prefect(["deployment", "run", "poll-feeds/poll-feeds",
                           "--param", f"config_path={config}"], env)
            m = re.search(r"UUID: ([0-9a-f-]{36})", run)
            assert m, run
            state = ""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                url = f"{env['PREFECT_API_URL']}/flow_runs/{m.group(1)}"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    state = json.load(resp)["state"]["type"]
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(1)
            log = (tmp_path / "worker.log").read_text()
            assert state == "COMPLETED", log[-3000:]
            assert "Casualties: killed" in log  # the run printed its console alert
            assert "Traceback" not in log
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Prefect's worker forwards the signal to its child and, seen once on a loaded
                # CI machine, did not exit within 30 s of it (after the run above had completed
                # and been checked): not what this test is about, so it is killed
                worker.kill()
                worker.wait(timeout=30)
            worker_log.close()


def test_watcher_serve_runs_flows_and_reads_the_token_from_a_secret_block(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    from .fakeslack import FakeSlack
    from .test_cli import watcher_exe
    from .test_flow_e2e import alert_messages

    env = dict(prefect_server)
    with FeedServer() as feeds, FakeSlack() as slack:
        # the token lives only in a Prefect Secret block, not in the environment
        subprocess.run([sys.executable, "-c",
                        "from prefect.blocks.system import Secret; "
                        f"Secret(value={slack.token!r}).save('watcher-slack', overwrite=True)"],
                       env=env, check=True, timeout=60)
        feeds.routes["/w.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/s", "s1", border_html(),
                     now_minus(10))]))
        config = write_config(tmp_path, {"wire": feeds.url("/w.xml")},
                              secret_block="watcher-slack")
        env["WATCHER_SLACK_BASE_URL"] = slack.url
        log_path = tmp_path / "serve.log"
        with open(log_path, "w") as log:
            served = subprocess.Popen([*watcher_exe(), "serve", "--config", str(config),
                                       "--limit", "2"], env=env, cwd=tmp_path, stdout=log,
                                      stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while "serving poll-feeds" not in log_path.read_text():
                    assert served.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.5)
                time.sleep(3)  # let serve register its deployments
                prefect(["deployment", "run", "poll-feeds/poll-feeds"], env)
                deadline = time.monotonic() + 90
                while not alert_messages(slack) and time.monotonic() < deadline:
                    time.sleep(1)
                assert len(alert_messages(slack)) == 1, log_path.read_text()[-3000:]
                inspect = prefect(["deployment", "inspect", "poll-feeds/poll-feeds"], env)
                assert "'interval': 300.0" in inspect
            finally:
                served.terminate()
                served.wait(timeout=30)
        assert slack.token not in log_path.read_text()
