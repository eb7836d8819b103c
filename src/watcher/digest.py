"""The digest: one message per channel summarising the period's lower-severity alerts.

Pure builders here; `flows/digest.py` fetches the alerts and posts. Every piece of feed text is
escaped with `slack_format` like any alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watcher.models import Alert, Watch
from watcher.slack_format import escape, fit, safe_url

MAX_ITEMS = 40  # stories listed in one digest message; the rest are counted


@dataclass(frozen=True, slots=True)
class Digest:
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    stories: int


def lower_severity(alert: Alert, watches: dict[str, Watch]) -> bool:
    """Everything but a watch's highest severity goes to the digest."""
    watch = watches.get(alert.watch)
    if watch is None or not watch.severities:
        return True
    top = max(watch.severities, key=lambda s: s.threshold).name
    return alert.severity != top


def build_digests(
    alerts: Sequence[Alert], watches: Sequence[Watch], since: datetime, until: datetime,
) -> list[Digest]:
    by_name = {w.name: w for w in watches}
    per_channel: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        if a.watch in by_name and lower_severity(a, by_name):
            per_channel[a.channel].append(a)
    out = []
    for channel, items in sorted(per_channel.items()):
        items.sort(key=lambda a: a.published, reverse=True)
        period = f"{since:%Y-%m-%d %H:%M}–{until:%Y-%m-%d %H:%M} UTC"
        head = f"Digest: {len(items)} lower-severity stor{'y' if len(items) == 1 else 'ies'}, " \
               f"{period}"
        lines = []
        for a in items[:MAX_ITEMS]:
            url = safe_url(a.url)
            title = fit(a.title, 200)
            link = f"<{url}|{title}>" if url else title
            lines.append(f"• [{escape(a.severity)}] {link} ({fit(a.source, 60)}, "
                         f"{a.sources_count} source{'s' if a.sources_count != 1 else ''})")
        if len(items) > MAX_ITEMS:
            lines.append(f"… and {len(items) - MAX_ITEMS} more")
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": fit(head, 150,
                                                                          mrkdwn=False)}}]
        chunk: list[str] = []
        for line in lines:
            if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
                blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                           "text": "\n".join(chunk)}})
                chunk = []
            chunk.append(line)
        if chunk:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
        out.append(Digest(channel, escape(head), blocks[:50], len(items)))
    return out
