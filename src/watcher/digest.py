"""The digest: one message per channel summarising the period's lower-severity alerts.

Pure builders here; `flows/digest.py` fetches the alerts and posts. Every piece of feed text is
escaped with `slack_format` like any alert.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watcher.models import Alert, Article, SourcedFigure, Watch
from watcher.slack_format import escape, fit, safe_url
from watcher.transports import ConsoleTransport, DeliveryError, SlackTransport, WebhookTransport

log = logging.getLogger("watcher.digest")
DigestTransport = SlackTransport | WebhookTransport | ConsoleTransport

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
        if a.kind != "story":  # updates, edits, escalation copies: the story is listed once
            continue
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


# --- the digest run


@dataclass(frozen=True, slots=True)
class DigestReport:
    posted: int = 0
    failed: int = 0
    charts: int = 0


def charts_for(
    alerts: Sequence[Alert], watches: Sequence[Watch], articles: Mapping[str, Sequence[Article]],
    until: datetime,
) -> list[tuple[str, str, bytes]]:
    """(channel, title, PNG) per watch that has casualty figures among the period's story
    alerts (every severity): each story's toll over time."""
    from watcher.chart import toll_chart
    from watcher.lifecycle import series

    out = []
    for watch in watches:
        stories: dict[str, list[SourcedFigure]] = {}
        for a in alerts:
            if a.kind == "story" and a.watch == watch.name:
                label = a.title
                while label in stories:  # two stories under one headline stay two lines
                    label += " "
                stories[label] = series(articles.get(a.story_id, []))
        title = f"Death toll by story: {watch.name}"
        png = toll_chart(stories, title, until)
        if png is not None:
            out.append((watch.channel, title, png))
    return out


def run_digest(
    alerts: Sequence[Alert], watches: Sequence[Watch], articles: Mapping[str, Sequence[Article]],
    transport: DigestTransport, since: datetime, until: datetime,
) -> DigestReport:
    """Post one digest message per channel, then each watch's casualty chart in the digest's
    thread (in the channel when there is no digest message). A failure is logged and counted;
    the other channels still get theirs."""
    posted = failed = charts = 0
    threads: dict[str, str] = {}
    for d in build_digests(alerts, watches, since, until):
        try:
            threads[d.channel] = transport.post_message(d.channel, d.text, d.blocks)
            posted += 1
        except DeliveryError as exc:
            failed += 1
            log.error("digest to %s failed: %s", d.channel, exc)
    if isinstance(transport, WebhookTransport):
        log.info("incoming-webhook mode: the digest's casualty charts are not posted (a webhook "
                 "cannot upload files)")
        return DigestReport(posted, failed, charts)
    for channel, title, png in charts_for(alerts, watches, articles, until):
        try:
            transport.upload_file(channel, threads.get(channel), "casualty-timeline.png", png,
                                  title)
            charts += 1
        except DeliveryError as exc:
            failed += 1
            log.error("casualty chart to %s failed: %s", channel, exc)
    return DigestReport(posted, failed, charts)
