"""The digest ledger: every lower-severity story reaches exactly one digest of its channel, however
the digest runs are timed, interrupted or doubled. A real store (SQLite, and PostgreSQL when CI
provides one), the real slack-sdk client against the fake Slack on 127.0.0.1."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watcher.digest import DIGEST_IDLE, digest_step
from watcher.models import Alert, Severity, Term, Watch
from watcher.store import Store
from watcher.transports import ConsoleTransport, PermanentError, SlackTransport

from .fakeslack import FakeSlack, error, lost_response, rate_limited

CHANNEL = "#caucasus-watch"
CID = "C0CAUCASUS"
WATCH = Watch("border", CHANNEL, {"a": ("Armenia",)}, (Term("shelling", 3.0),),
              severities=(Severity("warning", 4.0), Severity("critical", 8.0)))
DAY = timedelta(days=1)
T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # a daily digest's time


def story(name: str, severity: str = "warning", channel: str = CHANNEL) -> Alert:
    return Alert(f"al-{name}", name, WATCH.name, channel, severity, 5.0, f"Story {name}",
                 f"https://n.example/{name}", "n", T0, "", (), None, None)


def queue(store: Store, created: datetime, *names: str) -> None:
    store.enqueue([story(n) for n in names], created)


def listed(slack: FakeSlack) -> list[list[str]]:
    """The stories named in each digest message of the channel, in posting order."""
    out = []
    for m in slack.messages_in(CID):
        text = " ".join(b["text"]["text"] for b in m["blocks"] if b["type"] == "section")
        out.append(sorted(w for w in text.replace("|", " ").replace(">", " ").split()
                          if w.startswith("s") and w[1:].isdigit()))
    return out


def run(store: Store, slack: FakeSlack, now: datetime) -> tuple[int, int, int]:
    report = digest_step(store, [WATCH], SlackTransport(slack.token, base_url=slack.url), now,
                         DAY, clock=lambda: now)
    return report.posted, report.found, report.failed


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def test_each_story_in_exactly_one_digest_however_runs_are_timed(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=20), "s1")
        queue(store, T0 - timedelta(hours=2), "s2")
        assert run(store, slack, T0) == (1, 0, 0)
        assert run(store, slack, T0 + timedelta(minutes=1)) == (0, 0, 0)  # a repeated run
        queue(store, T0 + timedelta(minutes=20), "s3")
        # the next day's run comes 3 h late: a fixed 24 h window ending then would start at
        # 10:00 and miss s3 (07:20); the channel's digest starts where its last one ended
        late = T0 + DAY + timedelta(hours=3)
        assert run(store, slack, late) == (1, 0, 0)
        # a poll run stamps its alerts with its start and stores them when it ends: s4 is
        # stored after the late digest, stamped before it, and goes to the next one
        queue(store, late - timedelta(minutes=30), "s4")
        assert run(store, slack, late + timedelta(hours=6)) == (1, 0, 0)
        assert listed(slack) == [["s1", "s2"], ["s3"], ["s4"]]
        rows = store.digest_rows()  # one per run, the repeated run's empty
        assert [r[1] for r in rows] == ["posted"] * 4
        assert [r[2] for r in rows] == [T0 - DAY, T0, T0 + timedelta(minutes=1), late]
        assert [r[3] for r in rows[:-1]] == [r[2] for r in rows[1:]]  # contiguous periods
        assert [r[4] is None for r in rows] == [False, True, False, False]


def test_quiet_run_still_marks_where_the_next_digest_starts(store: Store) -> None:
    with FakeSlack() as slack:
        assert run(store, slack, T0) == (0, 0, 0)  # nothing to say: an empty digest
        queue(store, T0 + timedelta(hours=1), "s1")
        assert run(store, slack, T0 + DAY + timedelta(hours=3)) == (1, 0, 0)  # late: still s1
        assert listed(slack) == [["s1"]]


def test_stories_alerted_on_their_own_stay_out_when_severities_change(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        store.enqueue([story("s9", "critical")], T0 - timedelta(hours=2))  # posted on its own
        assert run(store, slack, T0) == (1, 0, 0)
        queue(store, T0 + timedelta(hours=3), "s2")
        stricter = replace(WATCH, severities=(*WATCH.severities, Severity("extreme", 12.0)))
        digest_step(store, [stricter], SlackTransport(slack.token, base_url=slack.url),
                    T0 + DAY, DAY, clock=lambda: T0 + DAY)
        assert listed(slack) == [["s1"], ["s2"]]  # s9 was taken into account yesterday


def test_message_posted_but_answer_lost_is_found_not_reposted(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1", "s2")
        slack.inject("chat.postMessage", lost_response())
        assert run(store, slack, T0) == (0, 0, 1)
        assert len(slack.messages_in(CID)) == 1  # it did arrive; watcher cannot know
        assert run(store, slack, T0 + DIGEST_IDLE / 2) == (0, 0, 0)  # its run may still be on
        assert run(store, slack, T0 + DIGEST_IDLE * 2) == (0, 1, 0)  # found in the channel
        assert len(slack.messages_in(CID)) == 1
        first, *empty = store.digest_rows()  # (the later runs' digests had nothing to list)
        assert first[1] == "posted" and first[4] == slack.messages_in(CID)[0]["ts"]
        assert [(r[1], r[4]) for r in empty] == [("posted", None)] * 2
        assert run(store, slack, T0 + DAY) == (0, 0, 0)  # and not repeated the next day


def test_message_refused_for_now_is_posted_by_the_next_run(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        slack.inject("chat.postMessage", rate_limited(30))
        assert run(store, slack, T0) == (0, 0, 1)
        assert slack.messages_in(CID) == []
        queue(store, T0 + timedelta(hours=1), "s2")
        assert run(store, slack, T0 + timedelta(hours=2)) == (2, 0, 0)  # s1's, then s2's
        assert listed(slack) == [["s1"], ["s2"]]


def test_permanent_failure_keeps_the_stories_for_the_next_digest(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        slack.inject("chat.postMessage", error("not_in_channel"))
        assert run(store, slack, T0) == (0, 0, 1)
        assert [r[1] for r in store.digest_rows()] == ["failed"]
        queue(store, T0 + timedelta(hours=5), "s2")
        # fixed (the bot invited): the next day's digest holds both, in one message
        assert run(store, slack, T0 + DAY) == (1, 0, 0)
        assert listed(slack) == [["s1", "s2"]]
        assert [(r[1], r[2], r[3]) for r in store.digest_rows()] == [
            ("posted", T0 - DAY, T0 + DAY)]


def test_permanent_failure_after_a_posted_digest(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        assert run(store, slack, T0) == (1, 0, 0)
        queue(store, T0 + timedelta(hours=3), "s2")
        slack.inject("chat.postMessage", error("not_in_channel"))
        assert run(store, slack, T0 + DAY) == (0, 0, 1)
        queue(store, T0 + DAY + timedelta(hours=3), "s3")
        assert run(store, slack, T0 + 2 * DAY) == (1, 0, 0)  # the failed digest taken over
        assert run(store, slack, T0 + 3 * DAY) == (0, 0, 0)
        assert listed(slack) == [["s1"], ["s2", "s3"]]


def test_lookup_without_history_scope_posts_once_more_and_keeps_the_stories(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        slack.inject("chat.postMessage", lost_response())
        assert run(store, slack, T0) == (0, 0, 1)
        slack.inject("conversations.history", error("missing_scope"))
        # as for alerts: it cannot look, so it posts (the warning says which scope rules it out)
        assert run(store, slack, T0 + DIGEST_IDLE * 2) == (1, 0, 0)
        assert "channels:history" in caplog.text
        queue(store, T0 + timedelta(hours=3), "s2")
        assert run(store, slack, T0 + DAY) == (1, 0, 0)
        assert listed(slack) == [["s1"], ["s1"], ["s2"]]


def test_a_run_that_stalled_past_its_lease_posts_nothing(store: Store) -> None:
    queue(store, T0 - timedelta(hours=3), "s1")
    got = store.begin_digest("d1", CHANNEL, T0 - DAY, T0, ["al-s1"], T0)
    assert got == (["al-s1"], 1, T0 - DAY)
    [row] = store.unfinished_digests(T0 + DIGEST_IDLE * 2)
    assert store.take_digest(row, T0 + DIGEST_IDLE * 2)  # another run takes it over
    assert store.digest_attempt("d1") == 2  # the first run, checking before it posts, stops
    assert store.begin_digest("d1", CHANNEL, T0 - DAY, T0, ["al-s1"], T0) is None
    # and whatever the first run writes later is refused: no ts, no release of the stories
    assert not store.digest_progress("d1", 1, T0, ts="1.0")
    assert not store.fail_digest("d1", 1, "refused", T0)
    assert store.digest_progress("d1", 2, T0, ts="2.0", posted=True)
    assert [r.alert.alert_id for r in store.digest_alerts("d1")] == ["al-s1"]


class _Refusing(ConsoleTransport):
    """A transport whose first post runs `meanwhile` and is then refused (a stalled request
    whose answer comes back late), and which records the rest."""

    def __init__(self, meanwhile: Callable[[], object] = lambda: None) -> None:
        super().__init__(io.StringIO())
        self.meanwhile: Callable[[], object] | None = meanwhile
        self.posts: list[str] = []
        self.charts: list[tuple[str | None, str]] = []

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]],
                     metadata: dict[str, Any] | None = None) -> str:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
            raise PermanentError("not_in_channel")
        self.posts.append(" ".join(b["text"]["text"] for b in blocks))
        return f"{len(self.posts)}.0"

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes,
                    title: str) -> None:
        self.charts.append((thread_ts, title))


def test_a_stalled_runs_late_refusal_does_not_undo_the_run_that_took_over(store: Store) -> None:
    queue(store, T0 - timedelta(hours=3), "s1")
    other = _Refusing(meanwhile=lambda: None)
    other.meanwhile = None  # posts normally

    def meanwhile() -> None:  # the first run is stalled here; another takes the digest over
        later = T0 + 2 * DIGEST_IDLE
        digest_step(store, [WATCH], other, later, DAY, clock=lambda: later)

    digest_step(store, [WATCH], _Refusing(meanwhile), T0, DAY, clock=lambda: T0)
    assert len(other.posts) == 1 and "Story s1" in other.posts[0]
    nxt = _Refusing()
    nxt.meanwhile = None
    digest_step(store, [WATCH], nxt, T0 + DAY, DAY, clock=lambda: T0 + DAY)
    assert nxt.posts == []  # s1 stays listed once
    assert {r[1] for r in store.digest_rows()} == {"posted"}  # none failed


def test_a_refused_first_digest_taken_over_keeps_its_period(store: Store) -> None:
    with FakeSlack() as slack:
        queue(store, T0 - timedelta(hours=3), "s1")
        slack.inject("chat.postMessage", error("not_in_channel"))
        assert run(store, slack, T0) == (0, 0, 1)
        assert run(store, slack, T0 + DAY) == (1, 0, 0)
        [message] = slack.messages_in(CID)
        assert f"{T0 - DAY:%Y-%m-%d %H:%M}–{T0 + DAY:%Y-%m-%d %H:%M}" in message["text"]


@pytest.mark.parametrize("apart", [timedelta(0), timedelta(seconds=1)])
def test_runs_at_once_post_one_digest(store_url: str, apart: timedelta) -> None:
    stores = [Store(store_url) for _ in range(4)]
    queue(stores[0], T0 - timedelta(hours=3), "s1")
    with FakeSlack() as slack:
        start = threading.Barrier(len(stores))
        results: list[tuple[int, int, int]] = []

        def one(s: Store, now: datetime) -> None:
            start.wait()
            results.append(run(s, slack, now))

        threads = [threading.Thread(target=one, args=(s, T0 + i * apart))
                   for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [(0, 0, 0)] * 3 + [(1, 0, 0)]
        assert len(slack.messages_in(CID)) == 1
    for s in stores:
        s.close()


def test_console_transport_and_nothing_to_say(store: Store) -> None:
    out = io.StringIO()
    report = digest_step(store, [WATCH], ConsoleTransport(out), T0, DAY, clock=lambda: T0)
    assert (report.posted, out.getvalue()) == (0, "")  # no stories: no message
    assert store.digest_rows() == [(CHANNEL, "posted", T0 - DAY, T0, None)]
    queue(store, T0 + timedelta(hours=1), "s1")
    store.enqueue([story("s9", "critical")], T0 + timedelta(hours=1))  # posted on its own
    later = T0 + timedelta(hours=2)
    naive = later.replace(tzinfo=None)  # a naive time is taken as UTC
    report = digest_step(store, [WATCH], ConsoleTransport(out), naive, DAY, clock=lambda: later)
    assert report.posted == 1 and "1 lower-severity story" in out.getvalue()
    assert "s9" not in out.getvalue()
