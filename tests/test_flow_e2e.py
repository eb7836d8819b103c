"""End to end: feeds served over HTTP on 127.0.0.1 -> the real `poll-feeds` Prefect flow -> a fake
Slack Web API on 127.0.0.1, driven by the real slack_sdk WebClient. Nothing is mocked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from watcher.demo import shipped_watches_toml
from watcher.models import Alert
from watcher.store import Store

from .articles import (
    APPEAL_MARKERS,
    BORDER_TITLE,
    HOSTILE_BODY,
    HOSTILE_RAW,
    HOSTILE_TITLE,
    border_html,
    now_minus,
    rss_feed,
    rss_item,
)
from .fakeslack import FakeSlack, rate_limited, server_error
from .feedserver import FeedServer, Route

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def _watches_toml() -> str:
    return shipped_watches_toml()


def write_config(tmp: Path, feeds: dict[str, str], **slack: Any) -> Path:
    """A config with the given feeds, the shipped watches, state in `tmp`, the token in
    $WATCHER_TEST_SLACK_TOKEN; extra keyword arguments become [slack] keys."""
    lines = ["[store]", f'url = "sqlite:///{tmp}/state.db"', "[slack]",
             'token_env = "WATCHER_TEST_SLACK_TOKEN"', "min_interval = 0.0",
             "max_send_attempts = 2"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in slack.items()]
    lines += ["[fetch]", "deadline = 5.0", ""]
    for name, url in feeds.items():
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"', ""]
    path = tmp / "watcher.toml"
    path.write_text("\n".join(lines) + "\n" + _watches_toml(), encoding="utf-8")
    return path


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("WATCHER_TEST_SLACK_TOKEN", fake.token)
        monkeypatch.setenv("WATCHER_SLACK_BASE_URL", fake.url)
        monkeypatch.delenv("WATCHER_DATABASE_URL", raising=False)
        yield fake


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def serve_border_story(feeds: FeedServer) -> dict[str, str]:
    """The border article in two feeds under URL variants, plus unrelated news."""
    html = border_html(with_appeal=True)
    wire = rss_feed([
        rss_item(BORDER_TITLE,
                 "https://m.wire.example/world/frontier-shelling/amp?utm_source=rss",
                 "wire-1", html, now_minus(30)),
        rss_item("Central bank keeps rates on hold", "https://wire.example/economy/rates",
                 "wire-2", "<p>Rates are unchanged, the bank said.</p>", now_minus(60)),
    ])
    regional = rss_feed([
        rss_item(BORDER_TITLE + " - Regional Desk",
                 "https://www.wire.example/world/frontier-shelling/?fbclid=xyz#comments",
                 "regional-77", html, now_minus(20)),
    ])
    feeds.routes["/wire.xml"] = Route(body=wire)
    feeds.routes["/regional.xml"] = Route(body=regional)
    return {"wire": feeds.url("/wire.xml"), "regional": feeds.url("/regional.xml")}


def run_flow(config: Path) -> dict[str, Any]:
    from watcher.flows.poll_feeds import poll_feeds

    result: dict[str, Any] = poll_feeds(config_path=str(config), dry_run=False)
    return result


def alert_messages(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages_in("caucasus-watch")
            if (m.get("metadata") or {}).get("event_type") == "watcher_alert"]


def message_text(m: dict[str, Any]) -> str:
    return json.dumps({"text": m.get("text"), "blocks": m.get("blocks")}, ensure_ascii=False)


def test_reference_like_story_gives_one_clean_message(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    config = write_config(tmp_path, serve_border_story(feeds))
    summary = run_flow(config)
    assert summary["feeds"] == 2 and summary["failed"] == 0
    assert summary["new_articles"] == 2 and summary["duplicates"] == 1
    assert summary["alerts"] == 1 and summary["sent"] == 1

    [msg] = alert_messages(slack)
    payload = msg["metadata"]["event_payload"]
    assert payload["killed"] == 17
    assert payload["watch"] == "armenia-azerbaijan" and payload["alert_id"]
    body = message_text(msg)
    assert "17" in body
    assert "30,000" not in body and "30000" not in body
    for marker in APPEAL_MARKERS:
        assert marker not in body
    call = slack.calls_to("chat.postMessage")[-1]
    assert call.params.get("unfurl_links") in (False, "false", "0", 0)
    assert "link_names" not in call.params and "parse" not in call.params
    assert msg.get("text")  # the fallback is always sent with blocks

    # a second run posts nothing new
    again = run_flow(config)
    assert again["new_articles"] == 0 and again["alerts"] == 0
    assert len(alert_messages(slack)) == 1

    # the outbox says sent, with Slack's ts
    store = Store(f"sqlite:///{tmp_path}/state.db")
    [row] = store.recent_alerts()
    store.close()
    assert row.status == "sent" and row.ts == msg["ts"]


def test_hostile_feed_text_arrives_escaped(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    feeds.routes["/h.xml"] = Route(body=rss_feed([
        rss_item(HOSTILE_TITLE, "https://evil.example/a", "h-1", HOSTILE_BODY, now_minus(5)),
    ]))
    config = write_config(tmp_path, {"hostile": feeds.url("/h.xml")})
    summary = run_flow(config)
    assert summary["alerts"] == 1
    [msg] = alert_messages(slack)
    body = message_text(msg)
    for raw in HOSTILE_RAW:
        assert raw not in body, raw
    assert "&lt;!channel&gt;" in body  # shown as text
    assert "&lt;!here&gt;" in body


def test_429_then_success_posts_exactly_once(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    config = write_config(tmp_path, serve_border_story(feeds))
    slack.inject("chat.postMessage", rate_limited(1))
    summary = run_flow(config)
    assert summary["sent"] == 1 and summary["pending"] == 0
    assert len(alert_messages(slack)) == 1
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses == [429, 200]


def test_slack_down_for_a_whole_run_delivers_on_the_next(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    config = write_config(tmp_path, serve_border_story(feeds))
    slack.fail_rate(1.0, faults=[server_error(503)])
    down = run_flow(config)
    assert down["alerts"] == 1 and down["sent"] == 0 and down["pending"] == 1
    assert alert_messages(slack) == []

    slack.fail_rate(0.0)
    up = run_flow(config)
    assert up["alerts"] == 0 and up["sent"] == 1 and up["pending"] == 0
    assert len(alert_messages(slack)) == 1


def test_run_publishes_summary_and_feed_table_artifacts(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    config = write_config(tmp_path, serve_border_story(feeds))
    run_flow(config)

    async def latest() -> dict[str, Any]:
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["poll-summary", "poll-feed-status"])))
        newest: dict[str, Any] = {}
        for a in sorted(arts, key=lambda a: a.created):  # the session's other runs made some too
            newest[a.key] = a
        return newest

    arts = asyncio.run(latest())
    assert set(arts) == {"poll-summary", "poll-feed-status"}
    assert "feeds polled: 2" in str(arts["poll-summary"].data)
    assert "regional" in str(arts["poll-feed-status"].data)


def test_digest_flow_lists_each_story_once(
    prefect_api: dict[str, str], tmp_path: Path, slack: FakeSlack, feeds: FeedServer
) -> None:
    """The real `digest` flow, twice: the second run finds nothing new to list; a story stored
    after the first is listed by the next run, alone."""
    from watcher.flows.digest import digest

    config = write_config(tmp_path, {"wire": feeds.url("/wire.xml")})

    def story(name: str, severity: str, hours_ago: float) -> None:
        now = datetime.now(UTC)
        store = Store(f"sqlite:///{tmp_path}/state.db")
        store.enqueue([Alert(f"al-{name}", name, "armenia-azerbaijan", "#caucasus-watch",
                             severity, 5.0, f"Frontier report {name}",
                             f"https://n.example/{name}", "n", now, "", (), None, None)],
                      now - timedelta(hours=hours_ago))
        store.close()

    def digests() -> list[str]:
        return [message_text(m) for m in slack.messages_in("caucasus-watch")
                if (m.get("metadata") or {}).get("event_type") == "watcher_digest"]

    story("one", "warning", 3)
    story("two", "critical", 2)  # the highest severity: alerted on its own, not in the digest
    assert digest(config_path=str(config))["posted"] == 1
    assert digest(config_path=str(config))["posted"] == 0
    story("three", "warning", 1)  # stamped before the last run, stored after it
    assert digest(config_path=str(config))["posted"] == 1
    first, second = digests()
    assert "Frontier report one" in first and "report two" not in first
    assert "Frontier report three" in second and "report one" not in second
