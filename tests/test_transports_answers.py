"""Answers no Slack server should give, from a server on 127.0.0.1 that replies with whatever
each test queues: the real slack-sdk clients read them, and delivery neither stops the run nor
posts an alert twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.models import Alert
from watcher.pipeline import deliver_step
from watcher.store import Store
from watcher.transports import SlackTransport, WebhookTransport

from .test_webhook import Hook

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=utf-8"}
POSTED = (200, JSON, b'{"ok": true, "channel": "C0AAAAAAA", "ts": "1777777777.000100"}')
NOTHING_THERE = (200, JSON, b'{"ok": true, "messages": [], "has_more": false}')

Answer = tuple[int, dict[str, str], bytes]


@pytest.fixture
def canned() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    store.enqueue([Alert("a1", "s1", "w", "C0AAAAAAA", "warning", 1.0, "Title", "https://x.org/a",
                         "src", NOW, "excerpt", ("t",), None, None)], NOW)
    return store


def _status(store: Store) -> tuple[str, str | None]:
    (row,) = store.alerts_between(datetime(2000, 1, 1, tzinfo=UTC),
                                  datetime(2100, 1, 1, tzinfo=UTC))
    return row.status, row.last_error


@pytest.mark.parametrize("first", [
    (200, JSON, b'{"ok": true, "channel": "C0AAAAAAA", "ts": "1777777777.0001'),  # cut off
    (200, JSON, b'["ok"]'),  # JSON, not an object
    (200, {"Content-Type": "application/json; charset=no-such-charset"}, b'{"ok": true}'),
    (200, JSON, b'{"ok": true, "channel": "C0AAAAAAA", "ts": "' + b"1" * 80 + b'"}'),  # no ts
])
def test_an_unreadable_answer_to_a_post_is_looked_up_before_posting_again(
    canned: Hook, tmp_path: Path, first: Answer,
) -> None:
    canned.replies.extend([first, NOTHING_THERE, POSTED])
    store = _store(tmp_path)
    report = deliver_step(store, SlackTransport("xoxb-1-2", base_url=canned.root + "api/"),
                          max_attempts=3, min_interval=0, sleep=lambda s: None)
    assert canned.paths == ["/api/chat.postMessage", "/api/conversations.history",
                            "/api/chat.postMessage"]
    assert report.sent == 1 and _status(store)[0] == "sent"
    store.close()


def test_an_unreadable_answer_to_a_webhook_is_not_posted_again(
    canned: Hook, tmp_path: Path,
) -> None:
    canned.replies.append((200, {"Content-Type": "text/html; charset=no-such-charset"}, b"ok"))
    store = _store(tmp_path)
    report = deliver_step(store, WebhookTransport(canned.url),
                          max_attempts=3, min_interval=0, sleep=lambda s: None)
    assert canned.paths == ["/services/T0/B0/secret"]  # once: a webhook cannot look it up
    status, error = _status(store)
    assert report.failed == 1 and status == "failed"
    assert error is not None and "probably posted" in error
    store.close()
