"""Slack set up after a time on the console (no token yet): the stories the console showed have
no Slack message, and their updates must still reach Slack (before: marked "console", never
posted)."""

from __future__ import annotations

import io
from dataclasses import replace

from watcher.models import Alert
from watcher.pipeline import deliver_step
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport

from .fakeslack import FakeSlack
from .test_delivery_overlap import NOW, _alert


def _update(alert_id: str, change: str) -> Alert:
    return replace(_alert(alert_id), kind="update", parent_id="p", story_id="story-p",
                   change=change)


def test_updates_of_a_story_shown_on_the_console_reach_slack(store_url: str) -> None:
    store = Store(store_url)
    console = io.StringIO()
    store.enqueue([_alert("p")], NOW)
    deliver_step(store, ConsoleTransport(console), min_interval=0.0, sleep=lambda s: None)
    assert "Border report" in console.getvalue()
    with FakeSlack() as slack:
        bot = SlackTransport(slack.token, base_url=slack.url)
        store.enqueue([_update("u1", "killed 25 (was 17, +8), per wire")], NOW)
        report = deliver_step(store, bot, min_interval=0.0, sleep=lambda s: None)
        assert report.sent == 1 and report.console == 0
        [posted] = slack.messages_in("C0CAUCASUS")
        assert "thread_ts" not in posted and "killed 25" in posted["text"]
        parent = store.get_alert("p")
        assert parent is not None and parent.ts == posted["ts"]
        store.enqueue([_update("u2", "killed 31 (was 25, +6), per wire")], NOW)
        deliver_step(store, bot, min_interval=0.0, sleep=lambda s: None)
        reply = slack.messages_in("C0CAUCASUS")[-1]
        assert reply["thread_ts"] == posted["ts"] and "killed 31" in reply["text"]
    store.close()
