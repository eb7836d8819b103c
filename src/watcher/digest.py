"""The digest: one message per channel summarising the period's lower-severity alerts.

Pure builders (`build_digests`, `charts_for`), and `digest_step`, which `flows/digest.py` runs:
it reads the alerts from the store, posts, and records each channel's digest in the store's
digest ledger, so that every story is in exactly one digest of its channel. Every piece of feed
text is escaped with `slack_format` like any alert.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.models import Alert, Article, SourcedFigure, Watch
from watcher.slack_format import escape, fit, safe_url
from watcher.store import Store
from watcher.transports import (
    ConsoleTransport,
    DeliveryError,
    PermanentError,
    SlackTransport,
    WebhookTransport,
)

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
            title = fit(a.title, 200) or "(untitled)"  # (never an empty link label)
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
    posted: int = 0  # digest messages posted by this run
    failed: int = 0  # messages (finished by the next run) or charts (not retried) that failed
    charts: int = 0  # casualty charts uploaded
    found: int = 0  # messages an interrupted run had posted, found in the channel, not reposted


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


# A digest left "sending" this long (its run stopped or failed) is finished by the next run.
DIGEST_IDLE = timedelta(minutes=10)
DIGEST_EVENT = "watcher_digest"  # Slack message metadata: event_type; the payload's digest_id


def digest_id_for(channel: str, after: datetime | None) -> str:
    """A channel's digest that starts where its last one ended (`after`; None for its first):
    runs that start from the same point get the same id, and only one of them has the digest.
    A refused digest's id comes back (the channel's last digest is the same): the next run
    takes it over."""
    start = after.isoformat() if after is not None else "first"
    return hashlib.sha256(f"{channel}\0{start}".encode()).hexdigest()[:24]


@dataclass(slots=True)
class _Counts:
    posted: int = 0
    failed: int = 0
    charts: int = 0
    found: int = 0
    failing: set[str] = field(default_factory=set)  # channels that failed in this run


def digest_step(
    store: Store, watches: Sequence[Watch], transport: DigestTransport, now: datetime,
    period: timedelta, clock: Callable[[], datetime] | None = None,
) -> DigestReport:
    """Post each channel's digest: the lower-severity stories that no earlier digest of the
    channel took into account, then each of its watches' casualty chart in the digest's thread
    (in the channel when there is no digest message).

    Every run records a digest for each channel (an empty one posts nothing) that claims the
    channel's new alerts in the store before anything is posted (`Store.begin_digest`), so a
    late, early, repeated or concurrent run neither skips nor repeats a story, an alert stored
    after its digest ran goes to the next, and one that was posted on its own (the highest
    severity) stays out even if the watch's severities change. A channel's first digest looks
    `period` back. A run that stops half-way leaves the digest "sending"; the next run (after
    `DIGEST_IDLE`) looks for the message in the channel before posting it (Slack bot token with
    channels:history; a webhook cannot look, so a message whose answer was lost may come twice
    there). A refused message releases its stories for the channel's next digest. Failures are
    logged and counted; the other channels still get theirs."""
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    tick = clock or (lambda: datetime.now(UTC))
    by_name = {w.name: w for w in watches}
    counts = _Counts()
    for row in store.unfinished_digests(now - DIGEST_IDLE):
        if store.take_digest(row, tick()):
            listed = [r.alert for r in store.digest_alerts(row.digest_id)
                      if _listed(r.alert, by_name)]
            period_alerts = [r.alert for r in store.alerts_between(row.since, row.until)]
            _deliver(store, watches, transport, row.digest_id, row.attempts + 1, row.channel,
                     row.since, row.until, listed, period_alerts, counts, tick, ts=row.ts,
                     posted_since=row.created)
    cursors = store.digest_cursors()
    default = now - period
    recent = store.alerts_between(min([default, *(first for _, first in cursors.values())]),
                                  now)
    pool = [r for r in recent if r.digest_id is None]  # (claimed again atomically below)
    channels = {r.alert.channel for r in pool} | {w.channel for w in watches}
    for channel in sorted(channels):
        last, first = cursors.get(channel, (None, default))
        since = last or default
        if channel in counts.failing or since >= now:
            continue  # (a channel whose unfinished digest failed again is tried next run)
        mine = [r.alert for r in pool if r.alert.channel == channel and r.created >= first]
        digest_id = digest_id_for(channel, last)
        got = store.begin_digest(digest_id, channel, since, now, [a.alert_id for a in mine],
                                 tick())
        if got is None:
            continue  # another run has this channel's digest
        claimed, attempt, since = set(got[0]), got[1], got[2]  # (a refused one keeps its start)
        _deliver(store, watches, transport, digest_id, attempt, channel,
                 since, now, [a for a in mine if a.alert_id in claimed and _listed(a, by_name)],
                 [r.alert for r in recent if since <= r.created < now], counts, tick)
    return DigestReport(counts.posted, counts.failed, counts.charts, counts.found)


def _listed(alert: Alert, by_name: dict[str, Watch]) -> bool:
    """Whether a digest lists the alert: a new story's alert of a configured watch, below the
    watch's highest severity."""
    return alert.kind == "story" and alert.watch in by_name and lower_severity(alert, by_name)


def _chart_watches(alerts: Sequence[Alert], watches: Sequence[Watch], channel: str) -> list[Watch]:
    named = {a.watch for a in alerts if a.kind == "story"}
    return [w for w in watches if w.channel == channel and w.name in named]


def _deliver(
    store: Store, watches: Sequence[Watch], transport: DigestTransport, digest_id: str,
    attempt: int, channel: str, since: datetime, until: datetime, listed: Sequence[Alert],
    period_alerts: Sequence[Alert], counts: _Counts, tick: Callable[[], datetime], *,
    ts: str | None = None, posted_since: datetime | None = None,
) -> None:
    """Post one channel's digest message listing `listed` (unless `ts` says it is out), then
    the charts of its watches over `period_alerts`, and record each step. `posted_since`: an
    earlier run began this digest then; look for its message before posting. `attempt`: this
    run's attempt number; a run that finds it changed (another run took the digest over while
    this one stalled) posts nothing more."""
    built = build_digests(listed, watches, since, until)
    try:
        if built and ts is None:
            if posted_since is not None and isinstance(transport, SlackTransport):
                ts = _already_posted(transport, channel, digest_id, posted_since)
                counts.found += ts is not None
            if ts is None:
                if store.digest_attempt(digest_id) != attempt:
                    log.info("digest %s to %s: taken over by another run", digest_id, channel)
                    return
                d = built[0]
                ts = transport.post_message(
                    channel, d.text, d.blocks,
                    metadata={"event_type": DIGEST_EVENT,
                              "event_payload": {"digest_id": digest_id}})
                counts.posted += 1
            if not store.digest_progress(digest_id, attempt, tick(), ts=ts):
                log.info("digest %s to %s: taken over by another run", digest_id, channel)
                return
    except DeliveryError as exc:
        counts.failed += 1
        counts.failing.add(channel)
        if isinstance(exc, PermanentError):
            if not store.fail_digest(digest_id, attempt, str(exc), tick()):
                return  # another run took it over (and may have posted it)
            log.error("digest to %s failed: %s; its stories go to the channel's next digest",
                      channel, exc)
        else:
            store.digest_progress(digest_id, attempt, tick(), error=str(exc))
            log.error("digest to %s failed: %s; the next digest run finishes it", channel, exc)
        return
    chart_watches = _chart_watches(period_alerts, watches, channel)
    if chart_watches and isinstance(transport, WebhookTransport):
        log.info("incoming-webhook mode: the digest's casualty charts are not posted (a webhook "
                 "cannot upload files)")
        chart_watches = []
    if chart_watches:
        articles = store.story_articles(sorted({a.story_id for a in period_alerts
                                                if a.kind == "story"}))
        try:  # (best effort: a chart that cannot be drawn never holds the digest back)
            charts = list(charts_for(period_alerts, chart_watches, articles, until))
        except Exception as exc:
            counts.failed += 1
            log.error("casualty charts for %s cannot be drawn (%s: %s); the digest goes without "
                      "them", channel, type(exc).__name__, exc)
            charts = []
        for _, title, png in charts:
            try:
                transport.upload_file(channel, ts, "casualty-timeline.png", png, title)
                counts.charts += 1
            except DeliveryError as exc:
                counts.failed += 1
                log.error("casualty chart to %s failed: %s", channel, exc)
    store.digest_progress(digest_id, attempt, tick(), posted=True)


def _already_posted(transport: SlackTransport, channel: str, digest_id: str,
                    since: datetime) -> str | None:
    """The ts of the digest's message if an earlier run posted it. A failed lookup that is
    transient propagates (the digest stays unfinished: re-posting blind could double-post); one
    that is permanent (no history scope) is logged and treated as not found, as for alerts."""
    try:
        return transport.find_posted(channel, digest_id, since.timestamp() - 60,
                                     event_type=DIGEST_EVENT, key="digest_id")
    except PermanentError as exc:
        log.warning("cannot check whether digest %s already reached %s (%s); posting it. Grant "
                    "the bot channels:history to rule out duplicates after lost responses",
                    digest_id, channel, exc)
        return None
