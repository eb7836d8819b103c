"""Feed content is untrusted: parsing never reads local files, and secrets never leak into
output, logs or summaries, even in runs that fail on purpose."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from watcher.config import parse_config
from watcher.demo import shipped_watches_toml
from watcher.parse import parse_feed
from watcher.pipeline import run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport

from .articles import BORDER_TITLE, border_html, now_minus, rss_feed, rss_item
from .fakeslack import FakeSlack
from .feedserver import FeedServer, Route
from .test_cli import run_cli
from .test_flow_e2e import write_config

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize("entity_url", ["file://{path}", "{path}"])
def test_external_entities_are_not_expanded(tmp_path: Path, entity_url: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE-CONTENT")
    url = entity_url.format(path=secret)
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{url}">]>'
           '<rss version="2.0"><channel><title>t &xxe;</title><item><title>A &xxe; B</title>'
           "<link>https://x.example/1</link><description>body &xxe;</description></item>"
           "</channel></rss>").encode()
    parsed = parse_feed("f", "https://x.example/rss", doc, {}, NOW)
    dump = json.dumps([a.__repr__() for a in parsed.articles]) + parsed.title + str(parsed.error)
    assert "TOP-SECRET" not in dump


def _prefect_records(api: str) -> str:
    """Flow and task runs (with their parameters), artifacts and logs the server holds, newest
    first, as one string."""
    queries = {"flow_runs/filter": "EXPECTED_START_TIME_DESC", "task_runs/filter":
               "EXPECTED_START_TIME_DESC", "artifacts/filter": "CREATED_DESC",
               "logs/filter": "TIMESTAMP_DESC"}
    with httpx.Client(timeout=20) as client:
        out = []
        for path, sort in queries.items():
            resp = client.post(f"{api.rstrip('/')}/{path}", json={"limit": 200, "sort": sort})
            resp.raise_for_status()
            out.append(resp.text)
    return "".join(out)


def test_external_entities_reach_no_article_log_or_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole run over a feed whose DOCTYPE names a local file: nothing of the file in the
    stored articles, the log or the alert posted."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE-CONTENT")
    entity = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    body = rss_feed([rss_item(BORDER_TITLE + " &xxe;", "https://wire.example/x", "x1",
                              border_html(), now_minus(5))]).decode()
    body = body.replace("<rss", entity + "<rss", 1).replace(
        "<description>", "<description>&xxe; ", 1)
    with FeedServer() as feeds:
        feeds.routes["/x.xml"] = Route(body=body.encode())
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                f'[[feeds]]\nname = "x"\nurl = "{feeds.url("/x.xml")}"\n\n'
                + shipped_watches_toml())
        cfg = parse_config(text, None, {})
        store = Store(cfg.store.url)
        out = io.StringIO()
        with caplog.at_level(logging.DEBUG):
            summary = run_cycle(cfg, store, ConsoleTransport(out), now=datetime.now(UTC))
        stored = [a.title + a.text for a in store.articles_since(
            datetime.now(UTC) - timedelta(days=1))]
        store.close()
    assert summary.new_articles == 1 and summary.alerts == 1  # the item itself got through
    everything = "".join(stored) + out.getvalue() + caplog.text
    assert "17" in out.getvalue()  # the alert was rendered, with the article's toll
    assert "TOP-SECRET" not in everything


def test_billion_laughs_is_harmless() -> None:
    lol = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">'
                  for i in range(1, 12))
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{lol}]>'
           '<rss version="2.0"><channel><title>t</title><item><title>&l11;</title>'
           "<link>https://x.example/1</link></item></channel></rss>").encode()
    parsed = parse_feed("f", "https://x.example/rss", doc, {}, NOW)
    assert all(len(a.title) <= 500 for a in parsed.articles)


@pytest.mark.integration
def test_secrets_never_appear_in_output_of_failing_runs(
    prefect_api: dict[str, str], tmp_path: Path
) -> None:
    password = "pw-Zq81-never-show"
    with FeedServer() as feeds, FakeSlack() as slack:
        feeds.routes["/w.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/a", "w1", border_html(),
                     now_minus(10))]))
        config = write_config(tmp_path, {"wire": feeds.url("/w.xml")})
        bad_token = "xoxb-bad-token-9f8e7d6c5b4a"
        env = {**prefect_api, "WATCHER_TEST_SLACK_TOKEN": bad_token,
               "WATCHER_SLACK_BASE_URL": slack.url}
        summary = tmp_path / "summary.json"
        run = run_cli(["run", "--config", str(config), "--summary-json", str(summary)], env=env)
        assert run.returncode == 0  # a failed alert is reported, not a crash
        outputs = run.stdout + run.stderr + summary.read_text()
        assert json.loads(summary.read_text())["failed_alerts"] == 1
        alerts = run_cli(["alerts", "--config", str(config), "--json"], env=env)
        outputs += alerts.stdout + alerts.stderr
        check = run_cli(["check-config", "--config", str(config)], env=env)
        outputs += check.stdout + check.stderr
        assert "invalid_auth" in outputs
        assert bad_token not in outputs
        # what the Prefect server keeps of the run: parameters, artifacts, logs
        stored = _prefect_records(prefect_api["PREFECT_API_URL"])
        assert "poll-summary" in stored and "config_path" in stored  # there is something to scan
        assert "invalid_auth" in stored or "failed" in stored
        assert bad_token not in stored

        db_env = {**env, "WATCHER_DATABASE_URL":
                  f"postgresql+psycopg://watcher:{password}@127.0.0.1:1/watcher"}
        for args in (["run", "--config", str(config)], ["check-config", "--config", str(config)],
                     ["db", "current", "--config", str(config)]):
            proc = run_cli(args, env=db_env)
            text = proc.stdout + proc.stderr
            assert password not in text, args
            assert "Traceback" not in text, text
        assert "***" in run_cli(["check-config", "--config", str(config)], env=db_env).stdout
