from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config import FeedConfig
from watcher.health import after_failure, after_fetch, backoff, current_state, skip_reason
from watcher.models import FeedState, FetchResult

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
FEED = FeedConfig("f", "https://a.example/rss")


def test_new_feed_and_changed_config_url_start_fresh() -> None:
    assert current_state(FEED, None).url == FEED.url
    moved = FeedState("f", url="https://b.example/rss", config_url=FEED.url, etag="e")
    assert current_state(FEED, moved).url == "https://b.example/rss"  # keeps the move
    edited = FeedConfig("f", "https://c.example/rss")
    fresh = current_state(edited, replace_disabled(moved))
    assert fresh.url == edited.url and fresh.etag is None and fresh.disabled is None


def replace_disabled(s: FeedState) -> FeedState:
    from dataclasses import replace

    return replace(s, disabled="gone")


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, timedelta(0)), (1, timedelta(minutes=1)), (3, timedelta(minutes=4)),
     (12, timedelta(hours=6)), (60, timedelta(hours=6))],
)
def test_backoff_is_exponential_and_capped(failures: int, expected: timedelta) -> None:
    assert backoff(failures) == expected


def test_failure_backs_off_and_410_disables() -> None:
    s = current_state(FEED, None)
    s = after_failure(s, "http", "HTTP 500", 500, NOW)
    s = after_failure(s, "http", "HTTP 500", 500, NOW)
    assert s.consecutive_failures == 2 and s.retry_at == NOW + timedelta(minutes=2)
    assert skip_reason(s, NOW) is not None and skip_reason(s, NOW + timedelta(minutes=3)) is None
    gone = after_failure(s, "http", "HTTP 410 Gone", 410, NOW)
    assert gone.disabled and "410" in (skip_reason(gone, NOW + timedelta(days=9)) or "")


def test_retry_after_is_honoured() -> None:
    s = after_failure(current_state(FEED, None), "http", "HTTP 429", 429, NOW, retry_after=900)
    assert s.retry_at == NOW + timedelta(seconds=900)


def test_success_resets_and_permanent_redirect_moves() -> None:
    s = after_failure(current_state(FEED, None), "http", "x", 500, NOW)
    r = FetchResult(feed="f", url="https://b.example/rss", status=200, body=b"x",
                    headers={"etag": '"1"'}, permanent_url="https://b.example/rss")
    ok = after_fetch(s, r, NOW)
    assert ok.consecutive_failures == 0 and ok.retry_at is None and ok.last_error is None
    assert ok.url == "https://b.example/rss" and ok.config_url == FEED.url and ok.etag == '"1"'
    temp = FetchResult(feed="f", url="https://t.example/rss", status=200, body=b"x")
    assert after_fetch(s, temp, NOW).url == FEED.url


OPS = __import__("watcher.config", fromlist=["OpsConfig"]).OpsConfig(failures=3)


def test_failing_feed_raises_one_ops_alert_then_one_recovery() -> None:
    from watcher.health import ops_check

    s = current_state(FEED, None)
    events = []
    for _ in range(6):
        s = after_failure(s, "http", "HTTP 500", 500, NOW)
        s, ev = ops_check(s, [], NOW, OPS)
        events.append(ev.kind if ev else None)
    assert events == [None, None, "down", None, None, None]
    ok = after_fetch(s, FetchResult(feed="f", url=FEED.url, status=200, body=b"x"), NOW)
    ok, ev = ops_check(ok, [], NOW, OPS)
    assert ev is not None and ev.kind == "recovered" and ok.ops_alert is None
    assert ops_check(ok, [], NOW, OPS)[1] is None


def test_silent_feed_beyond_its_cadence() -> None:
    from watcher.health import cadence, ops_check

    hourly = [NOW - timedelta(hours=h) for h in range(30, 40)]  # last item 30 h ago
    assert cadence(hourly) == timedelta(hours=1)
    s, ev = ops_check(current_state(FEED, None), hourly, NOW, OPS)
    assert ev is not None and ev.kind == "silent" and "usually one every 1.0h" in ev.message
    assert ops_check(s, hourly, NOW, OPS)[1] is None  # once, not every run
    recent = [NOW - timedelta(hours=h) for h in range(0, 10)]
    assert ops_check(current_state(FEED, None), recent, NOW, OPS)[1] is None


def test_ops_step_reads_only_the_histories_it_needs(tmp_path: Path) -> None:
    """`ops_step` reads a feed's whole history only when its latest item is older than
    `min_silence_hours`; its decisions are those of `ops_check` over every feed's history."""
    from dataclasses import replace

    from watcher.config import load_config
    from watcher.demo import shipped_watches_toml
    from watcher.health import ops_check
    from watcher.models import Article
    from watcher.pipeline import ops_step
    from watcher.store import Store

    plans = {  # feed -> hours ago of its items
        "hourly-recent": [h for h in range(1, 30)],
        "hourly-silent": [h for h in range(30, 60)],
        "daily-quiet": [30 + 24 * d for d in range(6)],
        "two-old": [40, 50],
        "none": [],
        "back": [2, 3, 4],  # was silent, published again
        "failing": [1, 2, 3, 4],
    }
    lines = [f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[ops]\nchannel = "#ops"\n']
    lines += [f'[[feeds]]\nname = "{f}"\nurl = "https://{f}.example/rss"\n' for f in plans]
    path = tmp_path / "w.toml"
    path.write_text("\n".join(lines) + shipped_watches_toml(), encoding="utf-8")
    cfg = load_config(path, {})
    store = Store(cfg.store.url)
    store.add_articles([(Article(f"{f}-{h}", f, None, f"https://{f}.example/{h}",
                                 f"https://{f}.example/{h}", "t", "x",
                                 NOW - timedelta(hours=h), NOW - timedelta(hours=h)), f"{f}-{h}",
                         None) for f, hours in plans.items() for h in hours])
    states = {f.name: current_state(f, None) for f in cfg.feeds}
    states["back"] = replace(states["back"], ops_alert="silent")
    states["failing"] = replace(states["failing"], consecutive_failures=5, last_error="HTTP 500")
    store.save_feed_states(list(states.values()))
    history = store.publish_times(NOW - timedelta(days=30))
    expected = {f: ev.kind for f, s in states.items()
                if (ev := ops_check(s, history.get(f, []), NOW, cfg.ops)[1]) is not None}
    got = {a.source: a.title.split(": ")[0].rsplit(" ", 1)[1] for a in ops_step(cfg, store, NOW)}
    assert got == expected == {"hourly-silent": "silent", "back": "recovered", "failing": "down"}
    store.close()


def test_a_feed_with_a_long_name_raises_its_ops_alert(store_url: str) -> None:
    """Feed names may be 200 characters long (the feeds table's key); a health alert's story id
    has 64: a long name is cut and ends in a digest, and the alert is queued on either database."""
    from watcher.config import NAME_MAX, parse_config
    from watcher.demo import shipped_watches_toml
    from watcher.pipeline import enqueue_step, ops_step, ops_story_id
    from watcher.store import Store

    names = ["short", "x" * NAME_MAX, "x" * (NAME_MAX - 1) + "y"]
    text = f'[store]\nurl = "{store_url}"\n[ops]\nchannel = "#ops"\n' + "".join(
        f'[[feeds]]\nname = "{n}"\nurl = "https://f{i}.example/rss"\n'
        for i, n in enumerate(names)) + shipped_watches_toml()
    cfg = parse_config(text, None, {})
    store = Store(cfg.store.url)
    try:
        store.save_feed_states([replace(current_state(f, None), consecutive_failures=5,
                                        last_error="HTTP 500") for f in cfg.feeds])
        alerts = ops_step(cfg, store, NOW)
        assert sorted(a.source for a in alerts) == sorted(names)
        assert [a.alert_id for a in enqueue_step(store, alerts, NOW)] == [
            a.alert_id for a in alerts]  # all queued
        ids = {a.source: a.story_id for a in alerts}
        assert ids["short"] == "ops:short" and len(set(ids.values())) == 3
        assert all(len(i) <= 64 for i in ids.values())
        assert ids[names[1]] == ops_story_id(names[1]) != ops_story_id(names[2])
    finally:
        store.close()


@pytest.mark.parametrize("seconds", ["99999999999999999999", "1" + "0" * 400])
def test_a_retry_after_of_any_size_waits_the_cap(seconds: str) -> None:
    """Retry-After in seconds is digits of any length: from a server on 127.0.0.1 through the
    fetch to the feed's state, it waits `RETRY_AFTER_CAP` at most (no overflow)."""
    from watcher.config import FetchConfig
    from watcher.fetch import fetch_feeds
    from watcher.health import RETRY_AFTER_CAP

    from .feedserver import FeedServer, Route

    with FeedServer() as server:
        server.routes["/busy"] = Route(status=429, etag=False, headers={"Retry-After": seconds})
        feed = FeedConfig("f", server.url("/busy"))
        [r] = fetch_feeds([feed], {}, FetchConfig(allow_networks=("127.0.0.0/8",)))
    assert r.retry_after is not None and r.retry_after > 1e19
    s = after_failure(current_state(feed, None), r.error_kind or "", r.error or "", r.status,
                      NOW, r.retry_after)
    assert s.retry_at == NOW + RETRY_AFTER_CAP


def test_overlapping_runs_report_a_feed_health_change_once(store_url: str) -> None:
    """Two runs that read the same failing feed state each saw "down" newly; before, both queued
    an alert (two "feed down" messages), and a run that saved a state read before the other's
    alert reopened it. Now the change is a compare-and-set, and only the health check sets it."""
    from watcher.config import parse_config
    from watcher.demo import shipped_watches_toml
    from watcher.pipeline import ops_step
    from watcher.store import Store

    text = (f'[store]\nurl = "{store_url}"\n[ops]\nchannel = "#ops"\nfailures = 2\n'
            '[[feeds]]\nname = "f"\nurl = "https://a.example/rss"\n' + shipped_watches_toml())
    cfg = parse_config(text, None, {})
    store = Store(cfg.store.url)
    try:
        failing = replace(current_state(cfg.feeds[0], None), consecutive_failures=3,
                          last_error="HTTP 500")
        store.save_feed_states([failing])
        stale = store.feed_states()

        class StaleStore(Store):  # the other run: it read the states before this one's check
            def feed_states(self) -> dict[str, FeedState]:
                return stale

        other = StaleStore(cfg.store.url)
        first = ops_step(cfg, store, NOW)
        assert [a.title.split(":")[0] for a in first] == ["Feed f down"]
        assert ops_step(cfg, other, NOW + timedelta(seconds=1)) == []
        other.save_feed_states([replace(failing, consecutive_failures=4)])  # its ingest's save
        assert store.feed_states()["f"].ops_alert == "down"
        assert store.feed_states()["f"].consecutive_failures == 4
        assert ops_step(cfg, store, NOW + timedelta(minutes=5)) == []  # still down: no news
        other.close()
    finally:
        store.close()
