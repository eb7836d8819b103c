"""The poll cycle's steps without Prefect: real HTTP feeds, real store, fake Slack over HTTP."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config import Config, parse_config
from watcher.pipeline import deliver_step, fetch_step, ingest_step, run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport

from .articles import BORDER_TITLE, DRONE_TITLE, border_html, drone_html, rss_feed, rss_item
from .fakeslack import FakeSlack, drop, error, lost_response
from .feedserver import FeedServer, Route
from .test_flow_e2e import _watches_toml, alert_messages

NOW = datetime.now(UTC).replace(microsecond=0)


def config(tmp: Path, feeds: dict[str, str]) -> Config:
    text = "\n".join(
        [f'[store]\nurl = "sqlite:///{tmp}/s.db"', "[slack]\nmin_interval = 0.0\n"]
        + [f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items()]
    ) + "\n" + _watches_toml()
    return parse_config(text, None, {})


def story(minutes_ago: float, guid: str = "b1", link: str = "https://wire.example/a") -> str:
    return rss_item(BORDER_TITLE, link, guid, border_html(), NOW - timedelta(minutes=minutes_ago))


def other_story(minutes_ago: float, guid: str = "d1",
                link: str = "https://wire.example/drone") -> str:
    return rss_item(DRONE_TITLE, link, guid, drone_html(), NOW - timedelta(minutes=minutes_ago))


def no_sleep(_: float) -> None:
    return None


def test_first_poll_alerts_only_on_recent_items_then_new_items_alert(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([
        story(60 * 30, "old", "https://wire.example/old")]))  # 30 h old: backlog
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    first = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert first.new_articles == 1 and first.alerts == 0
    feeds.routes["/f.xml"] = Route(body=rss_feed([
        story(60 * 30, "old", "https://wire.example/old"),
        other_story(5, "new", "https://wire.example/new")]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.new_articles == 1 and second.alerts == 1 and second.delivery.sent == 1


def test_unchanged_body_and_304_skip_parsing(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, _, store = env
    feeds.routes["/etag.xml"] = Route(body=rss_feed([story(5)]))
    feeds.routes["/noetag.xml"] = Route(body=rss_feed([story(5, "x", "https://o.example/x")]),
                                        etag=False)
    cfg = config(tmp_path, {"a": feeds.url("/etag.xml"), "b": feeds.url("/noetag.xml")})
    out = io.StringIO()
    run_cycle(cfg, store, ConsoleTransport(out), now=NOW)
    again = run_cycle(cfg, store, ConsoleTransport(out), now=NOW)
    assert again.not_modified == 2 and again.new_articles == 0
    outcomes = {o.feed: o.status for o in again.feed_outcomes}
    assert outcomes == {"a": "not_modified", "b": "unchanged"}


def test_dry_run_queues_nothing(tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store],
                                capsys: pytest.CaptureFixture[str]) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    summary = run_cycle(cfg, store, SlackTransport(slack.token, base_url=slack.url),
                        dry_run=True, now=NOW)
    assert summary.alerts == 1 and store.count("alerts") == 0 and slack.calls == []
    assert BORDER_TITLE in capsys.readouterr().out


def test_failing_feed_is_counted_not_fatal(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, _, store = env
    feeds.routes["/ok.xml"] = Route(body=rss_feed([story(5)]))
    feeds.routes["/html"] = Route(body=b"<html><body>Forbidden</body></html>",
                                  content_type="text/html")
    cfg = config(tmp_path, {"ok": feeds.url("/ok.xml"), "html": feeds.url("/html"),
                            "missing": feeds.url("/nope.xml")})
    summary = run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW)
    assert summary.feeds == 3 and summary.failed == 2 and summary.new_articles == 1
    errors = {o.feed: o.error or "" for o in summary.failed_feeds}
    assert errors["html"].startswith("not_a_feed") and "404" in errors["missing"]
    state = store.feed_states()["missing"]
    assert state.consecutive_failures == 1 and state.last_status == 404


def test_lost_response_is_found_by_alert_id_not_posted_twice(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    slack.inject("chat.postMessage", lost_response())
    summary = run_cycle(cfg, store, SlackTransport(slack.token, base_url=slack.url, timeout=2),
                        now=NOW, sleep=no_sleep)
    assert summary.delivery.sent == 1 and summary.delivery.recovered == 1
    assert len(alert_messages(slack)) == 1
    assert slack.calls_to("conversations.history")


def test_crash_after_attempt_recorded_checks_history_on_next_run(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url, timeout=2)
    slack.inject("chat.postMessage", lost_response(), drop(), drop())
    first = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    # the first attempt stored the message; the later ones found it before posting
    assert first.delivery.sent == 1
    assert len(alert_messages(slack)) == 1


def test_permanent_error_marks_failed_with_clear_reason(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    slack.inject("chat.postMessage", error("not_in_channel"))
    summary = run_cycle(cfg, store, SlackTransport(slack.token, base_url=slack.url),
                        now=NOW, sleep=no_sleep)
    assert summary.delivery.failed == 1
    [row] = store.recent_alerts()
    assert row.status == "failed" and "invite" in (row.last_error or "").lower()
    # a later run does not retry a failed alert
    assert deliver_step(store, SlackTransport(slack.token, base_url=slack.url)).sent == 0


def test_feed_health_alerts_once_down_and_once_recovered(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(status=500, body=b"boom", etag=False)
    text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[slack]\nmin_interval = 0.0\n'
            '[ops]\nchannel = "#general"\nfailures = 2\n'
            f'[[feeds]]\nname = "f"\nurl = "{feeds.url("/f.xml")}"\n\n' + _watches_toml())
    cfg = parse_config(text, None, {})
    transport = SlackTransport(slack.token, base_url=slack.url)
    for hour in range(4):
        run_cycle(cfg, store, transport, now=NOW + timedelta(hours=hour), sleep=no_sleep)
    assert "down" in slack.messages_in("general")[0]["text"]
    assert len(slack.messages_in("general")) == 1
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    run_cycle(cfg, store, transport, now=NOW + timedelta(hours=5), sleep=no_sleep)
    run_cycle(cfg, store, transport, now=NOW + timedelta(hours=6), sleep=no_sleep)
    texts = [m["text"] for m in slack.messages_in("general")]
    assert len(texts) == 2 and "recovered" in texts[1]


def test_syndicated_copy_and_follow_up_join_one_story_and_alert_once(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    from .articles import BORDER_PARAGRAPHS

    feeds, slack, store = env
    copy_html = ("<p>YEREVAN, Nov 4 (Regional Wire) - " + BORDER_PARAGRAPHS[0] + "</p>"
                 + "".join(f"<p>{p}</p>" for p in BORDER_PARAGRAPHS[1:])
                 + "<p>Reporting by the Regional Wire desk; editing by the night team.</p>")
    feeds.routes["/a.xml"] = Route(body=rss_feed([story(30)]))
    feeds.routes["/b.xml"] = Route(body=rss_feed([rss_item(
        "Armenia, Azerbaijan trade fire again; death toll at 17", "https://other.example/x",
        "x1", copy_html, NOW - timedelta(minutes=20))]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "b": feeds.url("/b.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    first = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    # a near-identical copy is a revision (counted with duplicates) of the same story
    assert first.new_stories == 1 and first.alerts == 1
    assert first.new_articles + first.duplicates == 2
    [msg] = alert_messages(slack)
    assert "2 sources" in json.dumps(msg["blocks"])

    # a later run (a fresh index rebuilt from the store): a follow-up joins, no new alert
    follow = ("<p>Officials in Yerevan and Baku said shelling along the border continued on "
              "Thursday after clashes that have killed 17 people this week; Moscow again offered "
              "to mediate between Armenia and Azerbaijan.</p>")
    feeds.routes["/b.xml"] = Route(body=rss_feed([rss_item(
        "Border shelling between Armenia and Azerbaijan continues", "https://other.example/y",
        "y1", follow, NOW - timedelta(minutes=5))]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.new_articles == 1 and second.new_stories == 0 and second.alerts == 0
    assert len(alert_messages(slack)) == 1


def test_an_article_that_breaks_scoring_is_logged_and_the_run_goes_on(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import watcher.pipeline as pipeline

    real = pipeline.assess

    def fragile(cw, title, text):  # type: ignore[no-untyped-def]
        if "Drone" in title:
            raise IndexError("a scoring bug")
        return real(cw, title, text)

    monkeypatch.setattr(pipeline, "assess", fragile)
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5), other_story(6)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    summary = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert summary.new_articles == 2 and summary.alerts == 1 and summary.delivery.sent == 1
    assert "cannot score article" in caplog.text and "a scoring bug" in caplog.text


HARBOUR_WATCH = """
[[watches]]
name = "harbour-events"
channel = "#town"
[watches.entities]
town = ["quay", "harbour"]
[watches.escalation]
crowds = { weight = 5.0, terms = ["crowds", "parade"] }
[watches.severities]
notice = 4.0
"""


def test_candidates_come_assessed_from_ingest_and_match_step_does_not_assess_again(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ingest step assesses each candidate against every watch while the parse workers go
    on (an alerting verdict kept whole, another as the `Look` an update reads); `match_step`
    uses them (no second scoring), each for its own watch, and makes the very alerts it makes
    from bare candidates, which it assesses itself."""
    from dataclasses import replace

    import watcher.pipeline as pipeline

    feeds, _, store = env
    quiet = rss_item("Harbour festival draws record crowds", "https://town.example/fest", "q1",
                     "<p>The lantern parade along the quay ran late into the evening, and the "
                     "organisers thanked the volunteers who kept the stalls open.</p>",
                     NOW - timedelta(minutes=7))
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5), other_story(6), quiet]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    # a second watch, on which the festival alerts and the border stories do not
    cfg = replace(cfg, watches=(*cfg.watches, *parse_config(HARBOUR_WATCH, None, {}).watches))
    got = ingest_step(cfg, store, fetch_step(cfg, store, NOW), NOW)
    assert len(got.candidates) == 3
    alerting = []
    for cand in got.candidates:  # by watch: an alerting verdict whole, else what updates read
        assert cand.verdicts is not None
        want = []
        for w in cfg.watches:
            v = pipeline.assess(pipeline.compile_watch(w), cand.article.title, cand.article.text)
            want.append((w.name, v if v.alerts else pipeline.Look(
                None, v.match.score, v.matched_terms())))
            alerting += [v] if v.alerts else []
        assert list(cand.verdicts) == want
    assert [[isinstance(v, pipeline.Look) for _, v in c.verdicts or ()]
            for c in got.candidates] == [[False, True], [False, True], [True, False]]
    real, calls = pipeline.assess, []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "assess", counted)
    alerts = pipeline.match_step(cfg, store, got.candidates)
    assert calls == []
    # (the two border reports are one story: its first alerts, the second adds nothing)
    assert got.candidates[0].story_id == got.candidates[1].story_id
    assert sorted((a.watch, a.kind, a.title) for a in alerts) == [
        ("armenia-azerbaijan", "story", got.candidates[0].article.title),
        ("harbour-events", "story", got.candidates[2].article.title)]
    bare = tuple(replace(c, verdicts=None) for c in got.candidates)
    assert pipeline.match_step(cfg, store, bare) == alerts
    assert len(calls) == len(bare) * len(cfg.watches)


def test_a_run_stopped_before_matching_leaves_its_articles_to_the_next_run(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """The articles are stored before matching; a run killed in between (here: it stops after
    ingest_step) must not cost their alerts: the next run, with nothing new to fetch, matches
    them and alerts once. A run matching them again later queues nothing more."""
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    stopped = ingest_step(cfg, store, fetch_step(cfg, store, NOW), NOW)
    assert stopped.new_articles == 1 and len(stopped.candidates) == 1
    assert [a.id for a, _ in store.pending_matches()] == [stopped.candidates[0].article.id]
    # a run within the claim lease leaves them alone: the stopped run may still be going
    soon = run_cycle(cfg, store, transport, now=NOW + timedelta(seconds=60), sleep=no_sleep)
    assert soon.alerts == 0 and len(store.pending_matches()) == 1
    later = NOW + timedelta(seconds=cfg.slack.claim_lease + 60)
    after = run_cycle(cfg, store, transport, now=later, sleep=no_sleep)
    assert after.new_articles == 0 and after.alerts == 1 and after.delivery.sent == 1
    assert store.pending_matches() == []
    again = run_cycle(cfg, store, transport, now=later, sleep=no_sleep)
    assert again.alerts == 0 and len(alert_messages(slack)) == 1


def test_pending_articles_too_old_to_alert_are_just_marked_matched(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/f.xml"] = Route(body=rss_feed([story(5)]))
    cfg = config(tmp_path, {"f": feeds.url("/f.xml")})
    ingest_step(cfg, store, fetch_step(cfg, store, NOW), NOW)
    later = NOW + timedelta(hours=cfg.poll.max_age_hours + 1)
    summary = run_cycle(cfg, store, SlackTransport(slack.token, base_url=slack.url), now=later,
                        sleep=no_sleep)
    assert summary.alerts == 0 and store.pending_matches() == []
