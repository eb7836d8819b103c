"""The digest's casualty timeline: each story's toll over time, uploaded into the digest thread."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.chart import timeline, toll_chart
from watcher.digest import digest_step
from watcher.models import Alert, Article, CasualtyFigure, Severity, SourcedFigure, Term, Watch
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport, WebhookTransport

from .fakeslack import FakeSlack

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=24)
PERIOD = timedelta(hours=24)
WATCH = Watch("armenia-azerbaijan", "#caucasus-watch", {"a": ("Armenia",)},
              (Term("shelling", 3.0),), severities=(Severity("warning", 4.0),
                                                     Severity("critical", 8.0)))


def fig(count: int, source: str, hours: float) -> SourcedFigure:
    return SourcedFigure("killed", count, "exact", source, f"https://{source}.example/{count}",
                         T0 + timedelta(hours=hours))


def test_timeline_steps_up_only() -> None:
    assert timeline([]) == []
    pts = timeline([fig(9, "a", 1), fig(17, "b", 3), fig(12, "c", 4), fig(17, "d", 5),
                    fig(25, "e", 9)])
    assert [(t.hour, n) for t, n in pts] == [(9, 9), (11, 17), (17, 25)]


def test_chart_is_a_png_or_nothing() -> None:
    assert toll_chart({"quiet story": []}, "t", UNTIL) is None
    png = toll_chart({"Border clashes $5m damage": [fig(9, "a", 1), fig(17, "b", 3)],
                      "Սահման": [fig(2, "c", 2)]}, "Death toll by story", UNTIL)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def _article(story: str, count: int, source: str, hours: float) -> Article:
    return Article(f"{story}-{source}", source, None, f"https://{source}.example/{story}",
                   f"https://{source}.example/{story}", f"Border report {story}",
                   f"Officials said {count} people had been killed in the shelling on the "
                   f"Armenia border.", T0 + timedelta(hours=hours), T0 + timedelta(hours=hours))


def _alert(story: str, severity: str) -> Alert:
    killed = CasualtyFigure("killed", 3, "exact", True, (0, 1), "x")
    return Alert(f"al-{story}", story, WATCH.name, WATCH.channel, severity, 5.0,
                 f"Border report {story}", f"https://x.example/{story}", "x", T0, "", (),
                 killed, None)


def _stored(tmp_path: Path, alerts: list[Alert], articles: dict[str, list[Article]]) -> Store:
    store = Store(f"sqlite:///{tmp_path}/d.db")
    store.add_articles([(a, story, None) for story, arts in articles.items() for a in arts])
    store.enqueue(alerts, T0 + timedelta(hours=6))
    return store


def test_digest_posts_one_message_and_the_chart_in_its_thread(tmp_path: Path) -> None:
    alerts = [_alert("s1", "warning"), _alert("s2", "critical"),
              Alert("up", "s1", WATCH.name, WATCH.channel, "warning", 5.0, "update", "", "x", T0,
                    "", (), None, None, kind="update", parent_id="al-s1")]
    articles = {"s1": [_article("s1", 3, "a", 1), _article("s1", 7, "b", 5)],
                "s2": [_article("s2", 12, "c", 2)]}
    store = _stored(tmp_path, alerts, articles)
    with FakeSlack() as slack:
        transport = SlackTransport(slack.token, base_url=slack.url)
        report = digest_step(store, [WATCH], transport, UNTIL, PERIOD)
        assert (report.posted, report.charts, report.failed) == (1, 1, 0)
        digest, chart = slack.messages_in("C0CAUCASUS")
        assert "1 lower-severity story" in digest["text"]  # s1 only: s2 is critical
        assert chart["thread_ts"] == digest["ts"] and chart["files"]
        [f] = slack.files.values()
        assert f["data"][:4] == b"\x89PNG" and f["title"] == "Death toll by story: " + WATCH.name
    store.close()


def test_chart_without_a_bot_is_skipped_and_counted(tmp_path: Path) -> None:
    alerts = [_alert("s2", "critical")]
    articles = {"s2": [_article("s2", 12, "c", 2)]}
    store = _stored(tmp_path, alerts, articles)
    hook = WebhookTransport("http://127.0.0.1:9/hook", timeout=0.5)
    report = digest_step(store, [WATCH], hook, UNTIL, PERIOD)
    assert (report.posted, report.charts, report.failed) == (0, 0, 0)  # no digest, no chart
    store.close()
    out = io.StringIO()
    store = _stored(tmp_path / "console", alerts, articles)
    report = digest_step(store, [WATCH], ConsoleTransport(out), UNTIL, PERIOD)
    assert report.charts == 1 and "casualty-timeline.png" in out.getvalue()
    store.close()


def test_a_refused_first_digest_still_charts_its_period(tmp_path: Path) -> None:
    """The channel's first digest is refused; the next run, taking it over, lists and charts
    the story of the refused period."""
    from .test_digest_ledger import _Refusing

    store = _stored(tmp_path, [_alert("s1", "warning")], {"s1": [_article("s1", 3, "a", 1),
                                                                _article("s1", 7, "b", 5)]})
    digest_step(store, [WATCH], _Refusing(), UNTIL, PERIOD, clock=lambda: UNTIL)
    ok = _Refusing()
    ok.meanwhile = None
    later = UNTIL + PERIOD
    digest_step(store, [WATCH], ok, later, PERIOD, clock=lambda: later)
    assert len(ok.posts) == 1 and "Border report s1" in ok.posts[0]
    assert ok.charts == [("1.0", "Death toll by story: " + WATCH.name)]
    store.close()


def test_a_chart_that_cannot_be_drawn_never_holds_the_digest_back(tmp_path: Path) -> None:
    """An article stored with a placeholder date (year 1: the parser now reads it as undated,
    an older version stored it) is past matplotlib's dates: the digest is posted without the
    chart, and the next digest is not blocked by an unfinished one."""
    old = replace(_article("s1", 3, "a", 1), published=datetime(1, 1, 1, tzinfo=UTC))
    store = _stored(tmp_path, [_alert("s1", "warning")], {"s1": [old, _article("s1", 7, "b", 5)]})
    with FakeSlack() as slack:
        transport = SlackTransport(slack.token, base_url=slack.url)
        report = digest_step(store, [WATCH], transport, UNTIL, PERIOD)
        assert (report.posted, report.charts, report.failed) == (1, 0, 1)
        assert len(slack.messages_in("C0CAUCASUS")) == 1
        again = digest_step(store, [WATCH], transport, UNTIL + PERIOD, PERIOD)
        assert again.failed == 0  # nothing left unfinished
    store.close()
