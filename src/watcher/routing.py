"""Where and when alerts go: per-channel quiet hours, and which alerts they hold back.

Pure. During a channel's quiet hours, alerts below their watch's highest severity are not posted:
they are *held* (status "held") and appear in the next digest instead. Alerts of the highest
severity always go out at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.models import Alert, Watch

_SPAN = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """`start`-`end` local time in `timezone` (an IANA name); a span may cross midnight."""

    channel: str
    start: time
    end: time
    timezone: str = "UTC"

    def active(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def parse_span(text: str) -> tuple[time, time]:
    """'22:00-07:00' -> (22:00, 07:00). ValueError says what is wrong."""
    m = _SPAN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a span of hours: write it as \"22:00-07:00\"")
    start = time(int(m[1]), int(m[2]))
    end = time(int(m[3]), int(m[4]))
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as "
                         "\"Asia/Yerevan\" or \"UTC\"") from None
    return name


def channel_key(channel: str) -> str:
    """Channel names compare without '#' and case; IDs (C0123...) as they are."""
    c = channel.strip()
    return c if re.fullmatch(r"[CGD][A-Z0-9]{6,}", c) else c.lstrip("#").lower()


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    quiet: tuple[QuietHours, ...] = ()
    top_severity: Mapping[str, str] | None = None  # watch -> its highest severity
    burst_limit: int = 0  # more new lower-severity stories than this for one channel in one
    #                       run are folded into one message (0: never)

    def is_top(self, alert: Alert) -> bool:
        top = (self.top_severity or {}).get(alert.watch)
        return top is not None and alert.severity == top

    def bursts(self, alerts: Sequence[Alert], now: datetime) -> dict[str, list[Alert]]:
        """channel -> the alerts to fold into one message: the channel's story alerts below
        their watch's highest severity (and not held for quiet hours), when there are more than
        `burst_limit` of them."""
        if self.burst_limit <= 0 or self.top_severity is None:
            return {}
        per: dict[str, list[Alert]] = {}
        for a in alerts:
            if (a.kind == "story" and a.watch in self.top_severity and not self.is_top(a)
                    and not self.held(a, now)):
                per.setdefault(channel_key(a.channel), []).append(a)
        return {k: v for k, v in per.items() if len(v) > self.burst_limit}

    def quiet_now(self, alert: Alert, now: datetime) -> bool:
        """The alert's channel is in its quiet hours and the alert is below its watch's highest
        severity."""
        if not self.quiet:
            return False
        top = (self.top_severity or {}).get(alert.watch)
        if top is None or alert.severity == top:
            return False
        key = channel_key(alert.channel)
        return any(q.active(now) for q in self.quiet if channel_key(q.channel) == key)

    def held(self, alert: Alert, now: datetime) -> bool:
        """A new story's alert that goes to the digest instead of the channel (quiet hours)."""
        return alert.kind == "story" and self.quiet_now(alert, now)

    def deferred(self, alert: Alert, now: datetime) -> bool:
        """An update that waits (pending) until its channel's quiet hours end."""
        return alert.kind == "update" and self.quiet_now(alert, now)


def rules_for(watches: Sequence[Watch], quiet: Sequence[QuietHours],
              burst_limit: int = 0) -> DeliveryRules:
    tops = {w.name: max(w.severities, key=lambda s: s.threshold).name
            for w in watches if w.severities}
    return DeliveryRules(tuple(quiet), tops, burst_limit)


__all__ = ["DeliveryRules", "QuietHours", "channel_key", "check_timezone", "parse_span",
           "rules_for"]
