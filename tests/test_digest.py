from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from watcher.digest import build_digests
from watcher.models import Alert, Severity, Term, Watch

NOW = datetime(2026, 5, 2, 8, tzinfo=UTC)
WATCH = Watch(name="w", channel="#c", entities={"x": ("X",)}, escalation=(Term("attack", 2),),
              severities=(Severity("warning", 4), Severity("critical", 8)))


def alert(aid: str, severity: str, title: str = "t", channel: str = "#c") -> Alert:
    return Alert(alert_id=aid, story_id=aid, watch="w", channel=channel, severity=severity,
                 score=5, title=title, url=f"https://n.example/{aid}", source="feed",
                 published=NOW - timedelta(hours=1), excerpt="", matched_terms=(),
                 killed=None, injured=None)


def test_digest_lists_lower_severity_per_channel_escaped() -> None:
    alerts = [alert("a", "warning", "<!channel> ping"), alert("b", "critical"),
              replace(alert("c", "warning"), channel="#other")]
    digests = build_digests(alerts, [WATCH], NOW - timedelta(days=1), NOW)
    assert [(d.channel, d.stories) for d in digests] == [("#c", 1), ("#other", 1)]
    body = json.dumps(digests[0].blocks)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "n.example/b" not in body  # critical alerts were posted on their own


def test_digest_is_bounded() -> None:
    alerts = [alert(str(i), "warning", "x" * 500) for i in range(200)]
    [d] = build_digests(alerts, [WATCH], NOW - timedelta(days=1), NOW)
    assert len(d.blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in d.blocks)
    assert "and 160 more" in json.dumps(d.blocks)


def test_a_title_with_nothing_to_show_gets_a_link_label() -> None:
    """A title of format characters alone (U+0600) is emptied by `fit`: the line read
    `<url|>`, a link Slack shows as its bare URL, or refuses."""
    [d] = build_digests([alert("a", "warning", "\u0600")], [WATCH], NOW - timedelta(days=1), NOW)
    body = json.dumps(d.blocks)
    assert "|>" not in body and "<https://n.example/a|(untitled)>" in body
