"""Routing: quiet hours hold lower-severity alerts for the digest; the highest severity also goes
to a watch's escalation channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from watcher.config import ConfigError, parse_config
from watcher.demo import shipped_watches_toml
from watcher.digest import build_digests
from watcher.models import Alert
from watcher.pipeline import deliver_step, run_cycle
from watcher.routing import DeliveryRules, QuietHours, parse_span, rules_for
from watcher.store import Store
from watcher.transports import SlackTransport

from .articles import rss_feed
from .fakeslack import FakeSlack
from .feedserver import FeedServer, Route
from .test_pipeline import NOW, no_sleep, story


@pytest.mark.parametrize(("span", "tz", "when", "active"), [
    ("22:00-07:00", "UTC", "2026-11-28T23:30", True),
    ("22:00-07:00", "UTC", "2026-11-28T06:59", True),
    ("22:00-07:00", "UTC", "2026-11-28T07:00", False),
    ("22:00-07:00", "UTC", "2026-11-28T12:00", False),
    ("09:00-17:30", "UTC", "2026-11-28T17:29", True),
    ("09:00-17:30", "UTC", "2026-11-28T08:59", False),
    # Yerevan is UTC+4: 19:00 UTC is 23:00 there
    ("22:00-07:00", "Asia/Yerevan", "2026-11-28T19:00", True),
    ("22:00-07:00", "Asia/Yerevan", "2026-11-28T03:30", False),
])
def test_quiet_hours_active(span: str, tz: str, when: str, active: bool) -> None:
    start, end = parse_span(span)
    q = QuietHours("#c", start, end, tz)
    assert q.active(datetime.fromisoformat(when).replace(tzinfo=UTC)) is active


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "22:00", "07:00-07:00", ""])
def test_bad_spans_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_span(bad)


BASE = '[[feeds]]\nname = "f"\nurl = "https://example.org/f"\n'


@pytest.mark.parametrize(("table", "needle"), [
    ('"#c" = "22-07"', 'write it as "22:00-07:00"'),
    ('"#c" = { hours = "22:00-07:00", timezone = "Mars/Olympus" }', "unknown time zone"),
    ('"#c" = { hours = "22:00-07:00", tz = "UTC" }', "unknown key(s) tz"),
    ('"#c" = 7', 'must be "22:00-07:00"'),
])
def test_bad_quiet_hours_are_clear_config_errors(table: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[quiet_hours]\n{table}\n" + BASE, None, {})
    assert needle in str(err.value) and "quiet_hours.#c" in str(err.value)
    assert "line 2" in str(err.value)


def test_quiet_hours_config() -> None:
    cfg = parse_config('[quiet_hours]\n"#caucasus-watch" = "22:00-07:00"\n'
                       '"C0GENERAL" = { hours = "01:00-02:00", timezone = "Asia/Yerevan" }\n'
                       + BASE, None, {})
    assert cfg.quiet_hours == (
        QuietHours("#caucasus-watch", time(22), time(7), "UTC"),
        QuietHours("C0GENERAL", time(1), time(2), "Asia/Yerevan"),
    )


def _alert(alert_id: str, severity: str, channel: str = "#caucasus-watch", **kw: object) -> Alert:
    base = Alert(alert_id, f"story-{alert_id}", "armenia-azerbaijan", channel, severity, 5.0,
                 f"Report {alert_id}", f"https://x.example/{alert_id}", "x", NOW, "", (),
                 None, None)
    return Alert(**{**{f: getattr(base, f) for f in base.__slots__}, **kw})  # type: ignore[arg-type]


RULES = DeliveryRules((QuietHours("caucasus-watch", time(22), time(7)),),
                      {"armenia-azerbaijan": "critical"})
NIGHT = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("alert", "when", "held"), [
    (_alert("w", "warning"), NIGHT, True),
    (_alert("w", "warning"), DAY, False),
    (_alert("c", "critical"), NIGHT, False),  # the highest severity is never held back
    (_alert("w", "warning", channel="#general"), NIGHT, False),  # another channel
    (_alert("w", "warning", channel="#Caucasus-Watch"), NIGHT, True),
    # an update is never held for the digest: it waits until the quiet hours end
    (_alert("u", "warning", kind="update", parent_id="w"), NIGHT, False),
])
def test_rules_hold(alert: Alert, when: datetime, held: bool) -> None:
    assert RULES.held(alert, when) is held


@pytest.mark.parametrize(("alert", "when", "deferred"), [
    (_alert("u", "warning", kind="update", parent_id="w"), NIGHT, True),
    (_alert("u", "warning", kind="update", parent_id="w"), DAY, False),
    (_alert("u", "critical", kind="update", parent_id="w"), NIGHT, False),
    (_alert("w", "warning"), NIGHT, False),  # a story alert is held, not deferred
])
def test_rules_defer_updates(alert: Alert, when: datetime, deferred: bool) -> None:
    assert RULES.deferred(alert, when) is deferred


def test_quiet_hours_hold_lower_severity_for_the_digest(
    env: tuple[FeedServer, FakeSlack, Store],
) -> None:
    _feeds, slack, store = env
    warning, critical = _alert("w", "warning"), _alert("c", "critical")
    follow = _alert("u", "warning", kind="update", parent_id="w", story_id="story-w",
                    change="killed 3, per x")
    store.enqueue([warning, critical, follow], NOW)
    transport = SlackTransport(slack.token, base_url=slack.url)
    report = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep,
                          clock=lambda: NIGHT, rules=RULES)
    assert (report.sent, report.held, report.deferred) == (1, 1, 1)
    [posted] = slack.messages_in("C0CAUCASUS")
    assert posted["metadata"]["event_payload"]["alert_id"] == "c"
    statuses = {r.alert.alert_id: r.status for r in store.recent_alerts()}
    assert statuses == {"w": "held", "c": "sent", "u": "pending"}
    # the digest lists the held story (once: its update is not a story of its own)
    rows = store.alerts_between(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    cfg = parse_config(BASE + shipped_watches_toml(), None, {})
    [digest] = build_digests([r.alert for r in rows], cfg.watches, NOW - timedelta(hours=1),
                             NOW + timedelta(hours=1))
    assert digest.stories == 1 and "Report w" in json.dumps(digest.blocks)
    # in the morning the update goes out, as the story's own message; a later update of the
    # story is a reply in its thread
    morning = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep,
                           clock=lambda: DAY, rules=RULES)
    assert morning.sent == 1 and store.pending() == []
    posted = slack.messages_in("C0CAUCASUS")
    assert [m["metadata"]["event_payload"]["alert_id"] for m in posted] == ["c", "u"]
    assert "thread_ts" not in posted[1] and "killed 3, per x" in posted[1]["text"]
    later = _alert("u2", "warning", kind="update", parent_id="w", story_id="story-w",
                   change="killed 9 (was 3, +6), per y")
    store.enqueue([later], NOW + timedelta(hours=1))
    deliver_step(store, transport, min_interval=0.0, sleep=no_sleep, clock=lambda: DAY,
                 rules=RULES)
    reply = slack.messages_in("C0CAUCASUS")[-1]
    assert reply["thread_ts"] == posted[1]["ts"]


def test_a_critical_update_of_a_held_story_goes_out_at_night(
    env: tuple[FeedServer, FakeSlack, Store],
) -> None:
    _feeds, slack, store = env
    store.enqueue([_alert("w", "warning")], NOW)
    transport = SlackTransport(slack.token, base_url=slack.url)
    deliver_step(store, transport, min_interval=0.0, sleep=no_sleep, clock=lambda: NIGHT,
                 rules=RULES)
    assert slack.messages_in("C0CAUCASUS") == []
    store.enqueue([_alert("u", "critical", kind="update", parent_id="w", story_id="story-w",
                          broadcast=True, change="severity warning → critical")],
                  NOW + timedelta(minutes=30))
    report = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep,
                          clock=lambda: NIGHT, rules=RULES)
    assert report.sent == 1
    [posted] = slack.messages_in("C0CAUCASUS")
    assert "severity warning → critical" in posted["text"] and "thread_ts" not in posted


def test_critical_alerts_also_go_to_the_escalation_channel(
    tmp_path: Path, env: tuple[FeedServer, FakeSlack, Store],
) -> None:
    feeds, slack, store = env
    feeds.routes["/a.xml"] = Route(body=rss_feed([story(30)]))  # deaths: critical
    watches = shipped_watches_toml().replace(
        'channel = "#caucasus-watch"',
        'channel = "#caucasus-watch"\nescalation_channel = "#general"', 1)
    assert "escalation_channel" in watches
    cfg = parse_config(f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[slack]\nmin_interval = 0\n'
                       f'[[feeds]]\nname = "a"\nurl = "{feeds.url("/a.xml")}"\n\n' + watches,
                       None, {})
    assert rules_for(cfg.watches, ()).top_severity == {"armenia-azerbaijan": "critical"}
    transport = SlackTransport(slack.token, base_url=slack.url)
    summary = run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert summary.alerts == 2 and summary.delivery.sent == 2
    [main] = slack.messages_in("C0CAUCASUS")
    [copy] = slack.messages_in("C0GENERAL")
    assert "CRITICAL" in copy["text"] and main["text"] == copy["text"]
    # nothing new: nothing posted again in either channel
    run_cycle(cfg, store, transport, now=NOW, sleep=no_sleep)
    assert len(slack.messages_in("C0CAUCASUS")) == 1 and len(slack.messages_in("C0GENERAL")) == 1


def test_escalation_channel_must_be_a_channel() -> None:
    watches = shipped_watches_toml().replace(
        'channel = "#caucasus-watch"', 'channel = "#caucasus-watch"\nescalation_channel = ""', 1)
    with pytest.raises(ConfigError, match="escalation_channel"):
        parse_config(BASE + watches, None, {})


# --- burst protection


BURST = DeliveryRules((QuietHours("#quiet", time(22), time(7)),),
                      {"armenia-azerbaijan": "critical"}, burst_limit=2)


@pytest.mark.parametrize(("alerts", "folded"), [
    ([_alert("a", "warning"), _alert("b", "warning")], {}),  # at the limit: no burst
    ([_alert("a", "warning"), _alert("b", "warning"), _alert("c", "warning")],
     {"caucasus-watch": ["a", "b", "c"]}),
    # the highest severity is never folded, nor counted
    ([_alert("a", "warning"), _alert("b", "critical"), _alert("c", "warning")], {}),
    # per channel
    ([_alert("a", "warning"), _alert("b", "warning", channel="#general"),
      _alert("c", "warning")], {}),
    # updates are not stories; held alerts wait for the digest instead
    ([_alert("a", "warning"), _alert("b", "warning"),
      _alert("u", "warning", kind="update", parent_id="a")], {}),
    ([_alert("a", "warning", channel="#quiet"), _alert("b", "warning", channel="#quiet"),
      _alert("c", "warning", channel="#quiet")], {}),
])
def test_bursts(alerts: list[Alert], folded: dict[str, list[str]]) -> None:
    got = BURST.bursts(alerts, NIGHT)
    assert {k: [a.alert_id for a in v] for k, v in got.items()} == folded


def test_a_burst_is_one_message_critical_alerts_go_out_alone(
    env: tuple[FeedServer, FakeSlack, Store],
) -> None:
    _feeds, slack, store = env
    many = [_alert(f"w{i:02d}", "warning", title=f"<!channel> Border report {i}",
                   published=NOW - timedelta(minutes=i)) for i in range(12)]
    critical = _alert("crit", "critical")
    store.enqueue([*many, critical], NOW)
    rules = DeliveryRules((), {"armenia-azerbaijan": "critical"}, burst_limit=10)
    transport = SlackTransport(slack.token, base_url=slack.url)
    report = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep, rules=rules)
    assert (report.sent, report.folded, report.pending) == (2, 12, 0)
    posted = slack.messages_in("C0CAUCASUS")
    assert len(posted) == 2
    burst = next(m for m in posted if m["metadata"]["event_payload"]["alert_id"] != "crit")
    text = json.dumps(burst["blocks"])
    assert "12 new stories" in burst["text"] and "Border report 11" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    statuses = {r.alert.alert_id: r.status for r in store.recent_alerts(limit=50)}
    assert sum(1 for s in statuses.values() if s == "folded") == 12
    assert statuses["crit"] == "sent"
    # an update of a folded story has no thread to go to: it is posted as the story's message
    store.enqueue([_alert("u1", "critical", kind="update", parent_id="w00",
                          story_id="story-w00", change="severity warning → critical")],
                  NOW + timedelta(minutes=5))
    again = deliver_step(store, transport, min_interval=0.0, sleep=no_sleep, rules=rules)
    assert again.sent == 1 and len(slack.messages_in("C0CAUCASUS")) == 3
    assert "thread_ts" not in slack.messages_in("C0CAUCASUS")[-1]


def test_burst_limit_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"slack\.burst_limit"):
        parse_config("[slack]\nburst_limit = -1\n" + BASE, None, {})
    assert parse_config(BASE, None, {}).slack.burst_limit == 10


def test_a_burst_of_many_watches_names_them_within_the_column(store_url: str) -> None:
    """A burst's `watch` lists its watches, within the 200 characters the store keeps."""
    from watcher.pipeline import _fold_bursts, _names_within

    names = [f"watch-{i:02d}-" + "x" * 40 for i in range(6)]  # 50 characters each
    store = Store(store_url)
    try:
        store.enqueue([_alert(f"a{i}", "warning", watch=n) for i, n in enumerate(names)], NOW)
        rules = DeliveryRules((), {n: "critical" for n in names}, burst_limit=2)
        assert _fold_bursts(store, rules, store.pending(), NOW) == 6
        (burst,) = [r.alert for r in store.pending() if r.alert.kind == "burst"]
        assert burst.watch == f"{', '.join(names[:3])} (+3 more)" and len(burst.watch) <= 200
    finally:
        store.close()
    assert _names_within(["a", "b"]) == "a, b"
    assert _names_within(["x" * 300, "y"]) == "2 watches"
