"""`watcher prune` against a story whose update waits in the outbox (Slack was down, or the
channel's quiet hours defer it): the update still reaches Slack, in the story's thread."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from watcher.models import Alert
from watcher.pipeline import deliver_step
from watcher.store import Store
from watcher.transports import SlackTransport

from .fakeslack import FakeSlack
from .test_delivery_overlap import NOW, _alert


def _update(alert_id: str, parent: str) -> Alert:
    return replace(_alert(alert_id), kind="update", parent_id=parent, story_id=f"story-{parent}",
                   change="killed 25 (was 3, +22), per wire")


def test_prune_keeps_the_story_alert_of_a_pending_update(store_url: str) -> None:
    store = Store(store_url)
    old = NOW - timedelta(days=31)
    with FakeSlack() as slack:
        bot = SlackTransport(slack.token, base_url=slack.url)
        store.enqueue([_alert("p"), _alert("gone")], old)
        deliver_step(store, bot, min_interval=0.0, sleep=lambda s: None)
        store.enqueue([_update("u", "p")], NOW)  # (not delivered yet)
        pruned = store.prune(NOW - timedelta(days=30))
        assert pruned["alerts"] == 1  # "gone"; "p" stays while its update waits
        assert store.get_alert("gone") is None and store.get_alert("p") is not None
        report = deliver_step(store, bot, min_interval=0.0, sleep=lambda s: None)
        assert report.sent == 1 and report.failed == 0
        parent, reply = slack.messages_in("C0CAUCASUS")[-2:]
        assert reply["thread_ts"] == parent["ts"] and "killed 25" in reply["text"]
        # delivered: the next prune may take the story's alerts (the update is recent)
        assert store.prune(NOW - timedelta(days=30))["alerts"] == 1
    store.close()


def test_an_update_whose_story_alert_is_gone_is_posted_on_its_own(store_url: str) -> None:
    """(A store pruned by an earlier version.) Before, the update was marked failed: lost."""
    store = Store(store_url)
    with FakeSlack() as slack:
        store.enqueue([_update("u", "pruned-long-ago")], NOW)
        report = deliver_step(store, SlackTransport(slack.token, base_url=slack.url),
                              min_interval=0.0, sleep=lambda s: None)
        assert report.sent == 1 and report.failed == 0
        [posted] = slack.messages_in("C0CAUCASUS")
        assert "thread_ts" not in posted and "killed 25" in posted["text"]
        row = store.get_alert("u")
        assert row is not None and row.status == "sent" and row.ts == posted["ts"]
    store.close()
