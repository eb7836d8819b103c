"""One message per story, developments in its thread, the parent updated in place: real feeds on
127.0.0.1, the real pipeline and slack-sdk client, the fake Slack Web API."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from watcher.models import Alert
from watcher.pipeline import deliver_step, run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport

from .articles import rss_feed, rss_item
from .fakeslack import FakeSlack, lost_response
from .feedserver import FeedServer
from .feedserver import Route as R
from .test_pipeline import NOW, config, no_sleep, story

CHANNEL = "C0CAUCASUS"


def story_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def follow_up(toll: int, guid: str, link: str, minutes_ago: float) -> str:
    """Another outlet's report of the same border fighting, with its own toll."""
    html = story_html([
        "Officials in Yerevan and Baku said shelling along the Armenia-Azerbaijan border went "
        f"on overnight after a week of clashes that have now killed {toll} people, according to "
        "the two defence ministries.",
        "Moscow again offered to mediate between Armenia and Azerbaijan.",
    ])
    return rss_item("Armenia-Azerbaijan border shelling continues as toll rises", link, guid,
                    html, NOW - timedelta(minutes=minutes_ago))


def messages(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages_in(CHANNEL)
            if (m.get("metadata") or {}).get("event_type") == "watcher_alert"]


def text_of(m: dict[str, Any]) -> str:
    return json.dumps({"text": m.get("text"), "blocks": m.get("blocks")}, ensure_ascii=False)


def test_toll_rise_is_a_thread_reply_and_the_parent_is_updated_in_place(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))  # killed 17
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    feeds.routes["/d.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml"),
                            "d": feeds.url("/d.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    first = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert first.alerts == 1
    [parent] = messages(slack)
    assert "killed: 17" in text_of(parent)

    # another outlet: the toll is now 25 -> one reply in the parent's thread
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.new_articles == 1 and second.new_stories == 0 and second.alerts == 1
    parent_now, reply = messages(slack)
    assert reply["thread_ts"] == parent["ts"] and reply.get("subtype") != "thread_broadcast"
    assert "killed 25 (was 17, +8), per c" in text_of(reply)
    assert "UPDATE" in text_of(reply)
    # the parent was edited in place: latest toll, source count, figures side by side
    assert parent_now["ts"] == parent["ts"] and "edited" in parent_now
    shown = text_of(parent_now)
    assert "killed: 25" in shown and "2 sources" in shown
    assert "25 per c" in shown and "17 per a" in shown

    # a third outlet reports a lower figure: a reply naming the new source, no toll change; the
    # parent shows the source count and the disagreement side by side
    other = rss_item(
        "Armenia and Azerbaijan blame each other as border clashes go on", "https://d.example/1",
        "d1", story_html([
            "Artillery exchanges continued along the Armenia-Azerbaijan frontier, with Baku "
            "accusing Yerevan of breaking a truce and Yerevan saying the reverse.",
            "A regional health official said 12 people had been killed in the clashes, fewer "
            "than other counts.",
            "The Kremlin repeated that it stands ready to mediate.",
        ]), NOW - timedelta(minutes=10))
    feeds.routes["/d.xml"] = R(body=rss_feed([other]))
    third = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert third.new_articles == 1 and third.alerts == 1
    parent_now, _reply, source_reply = messages(slack)
    # the new source is a reply in the thread (not broadcast); the toll did not go down
    assert source_reply["thread_ts"] == parent["ts"]
    assert source_reply.get("subtype") != "thread_broadcast"
    assert "new source: d (3 sources)" in text_of(source_reply)
    shown = text_of(parent_now)
    assert "3 sources" in shown and "12 per d" in shown and "killed: 25" in shown

    # nothing new: nothing posted, nothing edited
    edits = len(slack.calls_to("chat.update"))
    fourth = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert fourth.alerts == 0 and len(slack.calls_to("chat.update")) == edits


def test_update_waits_for_its_story_alert(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    # Slack unreachable: the story alert, then (next run) its update, both stay pending. (Both
    # in one run make one message: see test_a_story_and_its_higher_toll_in_one_run_...)
    down = SlackTransport(slack.token, base_url="http://127.0.0.1:9/api/", timeout=0.5)
    first = run_cycle(cfg, store, down, now=NOW, sleep=no_sleep)
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    second = run_cycle(cfg, store, down, now=NOW, sleep=no_sleep)
    assert first.alerts == 1 and second.alerts == 1 and second.delivery.pending == 2
    assert sorted(r.alert.kind for r in store.pending()) == ["story", "update"]
    # the story alert goes first, then its update into the thread
    transport = SlackTransport(slack.token, base_url=slack.url)
    report = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep)
    assert report.sent == 2 and store.pending() == []
    parent, reply = messages(slack)
    assert reply["thread_ts"] == parent["ts"]


def test_a_reply_whose_response_was_lost_is_found_in_the_thread_not_posted_twice(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    slack.inject("chat.postMessage", lost_response())  # the reply is stored, its answer lost
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.alerts == 1 and second.delivery.recovered == 1
    assert slack.calls_to("conversations.replies")
    parent, reply = messages(slack)
    assert reply["thread_ts"] == parent["ts"] and store.pending() == []


def test_severity_jump_is_broadcast_to_the_channel(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    _feeds, slack, store = env
    parent = Alert("p1", "s1", "armenia-azerbaijan", "#caucasus-watch", "warning", 5.0,
                   "Shelling reported near Tavush", "https://x.example/1", "x", NOW, "", (),
                   None, None)
    update = Alert("u1", "s1", "armenia-azerbaijan", "#caucasus-watch", "critical", 9.0,
                   "Armenia declares martial law", "https://x.example/2", "y", NOW, "", (),
                   None, None, kind="update", parent_id="p1", broadcast=True,
                   change="severity warning → critical")
    store.enqueue([parent, update], NOW)
    transport = SlackTransport(slack.token, base_url=slack.url)
    report = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep)
    assert report.sent == 2
    first, reply = slack.messages_in(CHANNEL)
    assert reply["thread_ts"] == first["ts"] and reply["subtype"] == "thread_broadcast"
    assert "CRITICAL" in text_of(slack.messages_in(CHANNEL)[0])  # the parent now reads critical


def test_console_mode_prints_updates(tmp_path: Path,
                                     env: tuple[FeedServer, FakeSlack, Store]) -> None:
    feeds, _slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    out = io.StringIO()
    run_cycle(cfg, store, ConsoleTransport(out), now=NOW, sleep=no_sleep)
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    run_cycle(cfg, store, ConsoleTransport(out), now=NOW, sleep=no_sleep)
    assert "[UPDATE]" in out.getvalue() and "killed 25 (was 17, +8), per c" in out.getvalue()
    assert store.pending() == []


def test_tolls_command_lists_each_story_series_with_provenance(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.cli import main

    from .test_flow_e2e import _watches_toml

    feeds, _slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    path = tmp_path / "w.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                    f'[[feeds]]\nname = "a"\nurl = "{feeds.url("/a.xml")}"\n'
                    f'[[feeds]]\nname = "c"\nurl = "{feeds.url("/c.xml")}"\n\n' + _watches_toml())
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW, sleep=no_sleep)
    capsys.readouterr()
    assert main(["tolls", "--config", str(path), "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    got = json.loads(line)
    assert [(f["source"], f["count"], f["qualifier"]) for f in got["series"]] == [
        ("a", 17, "exact"), ("c", 25, "exact")]
    assert got["series"][1]["url"] == "https://c.example/1"
    assert got["current"]["count"] == 25 and got["current"]["source"] == "c"
    assert main(["tolls", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert "current toll: killed 25, per c" in text and "30000" not in text.replace(",", "")
    assert main(["tolls", "--config", str(path), "--watch", "nope"]) == 2


def test_a_story_whose_alert_was_pruned_starts_over(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    from watcher.store import alerts as alerts_table

    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    with store.engine.begin() as conn:  # retention removed the story's alert, not its articles
        conn.execute(alerts_table.delete())
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.alerts == 1 and second.delivery.sent == 1
    _first, again = messages(slack)
    assert "thread_ts" not in again and "killed: 25" in text_of(again)


def test_messages_show_the_toll_the_story_stands_at(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """A rise below the update threshold ("new source" reply), and a higher toll reported by an
    earlier article that did not alert: the messages showed an older toll than `watcher tolls`
    (17 beside "18 per c"; a parent with 17 while its story had reported 25)."""
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))  # killed 17
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(18, "c1", "https://c.example/1", 20)]))
    run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    parent, reply = messages(slack)
    assert "new source: c (2 sources)" in text_of(reply)
    assert "killed: 18" in text_of(reply) and "killed: 17" not in text_of(reply)
    assert "have now killed 18 people" in text_of(reply)  # its evidence, from c's article
    assert "killed: 18" in text_of(parent)  # refreshed in place


def test_a_story_alert_shows_a_higher_toll_its_story_reported_before(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    feeds, slack, store = env
    calm = rss_item(  # names both sides and a toll, but nothing that escalates: no alert
        "Armenia and Azerbaijan agree border ceasefire as toll climbs", "https://a.example/1",
        "a1", story_html([
            "Armenian and Azerbaijani officials in Yerevan and Baku agreed a ceasefire on "
            "Wednesday after a week of clashes along the shared border.",
            "The clashes, which each side blames on the other, have so far killed 25 people, "
            "the two defence ministries said in separate statements.",
        ]), NOW - timedelta(minutes=90))
    feeds.routes["/a.xml"] = R(body=rss_feed([calm]))
    feeds.routes["/b.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "b": feeds.url("/b.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    assert run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep).alerts == 0
    feeds.routes["/b.xml"] = R(body=rss_feed([story(60, "b1", "https://b.example/1")]))  # 17
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.alerts == 1 and second.new_stories == 0
    [parent] = messages(slack)
    shown = text_of(parent)
    assert "killed: 25" in shown and "have so far killed 25 people" in shown
    assert "25 per a" in shown and "17 per b" in shown


def test_a_story_and_its_higher_toll_in_one_run_make_one_message(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """The story's first report (17) and another outlet's (25) arrive in the same run: one
    message, at 25; no update "25 (was 17)" about a 17 the channel never saw."""
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))  # killed 17
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(25, "c1", "https://c.example/1", 20)]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    summary = run_cycle(cfg, store, SlackTransport(slack.token, base_url=slack.url), now=NOW,
                        sleep=no_sleep)
    assert summary.new_stories == 1
    [parent] = messages(slack)
    assert "killed: 25" in text_of(parent) and "was 17" not in text_of(parent)


def test_the_new_source_reply_names_the_feeds_not_counted_before(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """d carries a copy of c's article (a duplicate: counted as a source, no reply of its own);
    the next reply, for a's new article, said "new source: a", the story's first feed."""
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(120)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    feeds.routes["/d.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {f: feeds.url(f"/{f}.xml") for f in "acd"})
    transport = SlackTransport(slack.token, base_url=slack.url)

    def run(minutes: int) -> None:
        run_cycle(cfg, store, transport, now=NOW + timedelta(minutes=minutes), sleep=no_sleep)

    run(0)
    feeds.routes["/c.xml"] = R(body=rss_feed([follow_up(17, "c1", "https://c.example/1", 90)]))
    run(1)
    feeds.routes["/d.xml"] = R(body=rss_feed([follow_up(17, "d1",
                                                        "https://c.example/1?utm_source=d", 80)]))
    run(2)
    other = rss_item("Armenia and Azerbaijan trade blame as border shelling goes on",
                     "https://a.example/2", "a2", story_html([
                         "Artillery exchanges continued along the Armenia-Azerbaijan frontier, "
                         "with Baku accusing Yerevan of breaking a truce.",
                         "The Kremlin repeated that it stands ready to mediate."]),
                     NOW - timedelta(minutes=10))
    feeds.routes["/a.xml"] = R(body=rss_feed([story(120), other]))
    run(3)
    changes = [m["metadata"]["event_payload"].get("change", "") for m in messages(slack)]
    replies = [text_of(m) for m in messages(slack) if m.get("thread_ts")]
    assert any("new source: c (2 sources)" in r for r in replies), changes
    assert any("new source: d (3 sources)" in r for r in replies), changes
    assert not any("new source: a" in r for r in replies)


def test_another_outlet_with_a_quiet_report_of_the_story_is_a_new_source_reply(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """An article that joins an alerted story without alerting on its own (the ingest step
    keeps its verdict as a `Look`) still counts for the story's update: another outlet
    reporting the story makes a "new source" reply."""
    feeds, slack, store = env
    feeds.routes["/a.xml"] = R(body=rss_feed([story(60)]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    assert run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep).alerts == 1
    quiet = rss_item(
        "Armenia and Azerbaijan trade blame over the frontier as Moscow offers to mediate",
        "https://c.example/q", "cq", story_html([
            "Officials in Yerevan and Baku each blamed the other on Wednesday for the week along "
            "the shared Armenia-Azerbaijan border, the two defence ministries said in separate "
            "statements.",
            "A Kremlin spokesman said Moscow was ready to mediate between the neighbours.",
        ]), NOW - timedelta(minutes=15))
    feeds.routes["/c.xml"] = R(body=rss_feed([quiet]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.new_articles == 1 and second.new_stories == 0
    from watcher.assess import assess
    from watcher.match import compile_watch

    arts = [a for a in store.articles_by_id([r for r in store.window_assignments(
        NOW - timedelta(days=3))]).values() if a.feed == "c"]
    assert not assess(compile_watch(cfg.watches[0]), arts[0].title, arts[0].text).alerts
    assert second.alerts == 1
    _parent, reply = messages(slack)
    assert "new source: c (2 sources)" in text_of(reply)


def test_a_follow_up_at_a_higher_severity_is_a_broadcast_update_with_its_score(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store]
) -> None:
    """The severity and score a story's update reports come from its new article's assessment
    (made by the ingest step): a warning, then martial law in the same story."""
    feeds, slack, store = env
    first = rss_item(
        "Azerbaijan orders mobilisation of reservists near the Armenian border",
        "https://a.example/m", "am", story_html([
            "Azerbaijan's defence ministry ordered the mobilisation of reservists in districts "
            "along the border with Armenia on Tuesday, officials in Baku said.",
            "Yerevan called the order a provocation and said it was watching the frontier near "
            "Tavush closely.",
        ]), NOW - timedelta(minutes=50))
    feeds.routes["/a.xml"] = R(body=rss_feed([first]))
    feeds.routes["/c.xml"] = R(body=rss_feed([]))
    cfg = config(tmp_path, {"a": feeds.url("/a.xml"), "c": feeds.url("/c.xml")})
    transport = SlackTransport(slack.token, base_url=slack.url)
    assert run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep).alerts == 1
    [parent] = messages(slack)
    assert "WARNING" in text_of(parent)
    feeds.routes["/c.xml"] = R(body=rss_feed([rss_item(
        "Armenia declares martial law after Azerbaijan mobilises reservists",
        "https://c.example/m", "cm", story_html([
            "Armenia declared martial law on Wednesday, a day after Azerbaijan's defence ministry "
            "ordered the mobilisation of reservists in districts along the border with Armenia, "
            "officials in Yerevan said.",
            "Baku called the decision a provocation and said it was watching the frontier near "
            "Tavush closely.",
        ]), NOW - timedelta(minutes=10))]))
    second = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert second.new_stories == 0 and second.alerts == 1
    [update] = [r.alert for r in store.recent_alerts() if r.alert.kind == "update"]
    assert update.severity == "critical" and update.broadcast
    assert update.change is not None and "severity warning → critical" in update.change
    assert update.score > 7.0 and "martial law" in update.matched_terms
    _parent, reply = messages(slack)
    assert reply["thread_ts"] == parent["ts"] and reply.get("subtype") == "thread_broadcast"
