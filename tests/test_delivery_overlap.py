"""Two delivery runs overlapping on one outbox (two `watcher run`s, a manual run beside a
scheduled one), on SQLite and PostgreSQL: an alert is posted once, whatever the interleaving."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from watcher.models import Alert
from watcher.pipeline import DeliveryReport, deliver_step
from watcher.store import Store
from watcher.transports import SlackTransport

from .fakeslack import FakeSlack, lost_response, server_error

NOW = datetime.now(UTC).replace(microsecond=0)


def _alert(alert_id: str) -> Alert:
    return Alert(alert_id=alert_id, story_id=f"story-{alert_id}", watch="w",
                 channel="#caucasus-watch", severity="warning", score=5.0, title="Border report",
                 url=f"https://news.example/{alert_id}", source="wire", published=NOW,
                 excerpt="Shelling reported.", matched_terms=("shell",), killed=None,
                 injured=None)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as s:
        yield s


def _posted(slack: FakeSlack, alert_id: str) -> int:
    return sum(1 for m in slack.messages_in("C0CAUCASUS")
               if (m.get("metadata") or {}).get("event_payload", {}).get("alert_id") == alert_id)


def _deliver(store: Store, slack: FakeSlack, **kw: Any) -> DeliveryReport:
    transport = SlackTransport(slack.token, base_url=slack.url, timeout=2.0)
    return deliver_step(store, transport, min_interval=0.0, **{"sleep": lambda s: None, **kw})


def test_a_run_that_listed_the_outbox_before_another_tried_an_alert_looks_it_up(
    store_url: str, slack: FakeSlack,
) -> None:
    """Run A lists the outbox (the alert never tried), then run B posts it and loses Slack's
    answer (pending, 1 attempt). A claims it next: it must look it up before posting. Before,
    A trusted its list (0 attempts) and posted it blind: twice in Slack."""
    Store(store_url).enqueue([_alert("a1")], NOW)
    b_done = threading.Event()

    class SlowerStore(Store):  # run A: B gets in between A's listing and its claim
        waited = False

        def claim(self, *args: Any, **kw: Any) -> bool:
            if not SlowerStore.waited:
                SlowerStore.waited = True
                b_done.wait(30)
            return super().claim(*args, **kw)

    reports: list[DeliveryReport] = []
    run_a = threading.Thread(target=lambda: reports.append(_deliver(SlowerStore(store_url),
                                                                    slack)))
    run_a.start()
    while not SlowerStore.waited:  # A has listed the outbox and waits before claiming
        threading.Event().wait(0.01)
    slack.inject("chat.postMessage", lost_response())
    report_b = _deliver(Store(store_url), slack, max_attempts=1)
    b_done.set()
    run_a.join(30)
    assert report_b.pending == 1 and reports and reports[0].recovered == 1
    assert _posted(slack, "a1") == 1
    assert len(slack.calls_to("conversations.history")) == 1


def test_an_alert_stays_claimed_while_its_run_waits_to_retry(
    store_url: str, slack: FakeSlack,
) -> None:
    """While run A sleeps before retrying a transient error, run B (started then) must leave
    the alert alone; before, A's error record let go of the claim and B sent it."""
    store = Store(store_url)
    store.enqueue([_alert("a2")], NOW)
    slack.inject("chat.postMessage", server_error(503))
    during: list[DeliveryReport] = []

    def sleep_a(seconds: float) -> None:  # run B starts while A waits
        if not during:
            during.append(_deliver(Store(store_url), slack))

    report_a = _deliver(store, slack, sleep=sleep_a)
    assert during and during[0].sent == 0 and during[0].pending == 0
    assert report_a.sent == 1 and _posted(slack, "a2") == 1
    row = store.get_alert("a2")
    assert row is not None and row.status == "sent" and row.attempts == 2


def test_a_run_that_claims_an_alert_again_after_its_lease_ran_out_looks_it_up(
    store_url: str, slack: FakeSlack,
) -> None:
    """Run A waits out a Retry-After longer than its claim's lease (nothing reached Slack); run
    B takes the alert meanwhile, posts it and loses the answer. When A claims it again, B's
    attempt must make A look it up: before, A posted it blind, a second time."""
    from datetime import timedelta

    from .fakeslack import rate_limited

    store = Store(store_url)
    store.enqueue([_alert("a3")], NOW)
    now = [NOW]

    def clock() -> datetime:
        return now[0]

    def sleep_a(seconds: float) -> None:  # A's lease runs out while it waits; B runs then
        now[0] += timedelta(seconds=seconds + 1)
        slack.inject("chat.postMessage", lost_response())
        during.append(_deliver(Store(store_url), slack, max_attempts=1, clock=clock,
                               claim_lease=60.0))

    during: list[DeliveryReport] = []
    slack.inject("chat.postMessage", rate_limited(retry_after=90))
    report_a = _deliver(store, slack, sleep=sleep_a, clock=clock, claim_lease=60.0)
    assert during and during[0].pending == 1  # B posted it, and lost Slack's answer
    assert report_a.recovered == 1 and _posted(slack, "a3") == 1
