"""Feed content is untrusted: parsing never reads local files, and secrets never leak into
output, logs or summaries, even in runs that fail on purpose."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.parse import parse_feed

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

        db_env = {**env, "WATCHER_DATABASE_URL":
                  f"postgresql+psycopg://watcher:{password}@127.0.0.1:1/watcher"}
        for args in (["run", "--config", str(config)], ["check-config", "--config", str(config)],
                     ["db", "current", "--config", str(config)]):
            proc = run_cli(args, env=db_env)
            text = proc.stdout + proc.stderr
            assert password not in text, args
            assert "Traceback" not in text, text
        assert "***" in run_cli(["check-config", "--config", str(config)], env=db_env).stdout
