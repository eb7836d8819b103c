"""Feed state transitions: what one fetch (and parse) does to a feed's stored state.

Pure functions. Rules: 301/308 chains move the feed (`url` updated, the configured URL kept in
`config_url`); 302/307 do not. HTTP 410 disables the feed until its configured URL changes.
429/503 with Retry-After skip the feed until then. Consecutive failures back off exponentially,
capped. A changed configured URL starts the feed afresh. The stored ETag / Last-Modified are
those of the URL the last body came from: `url`, or after a temporary redirect the URL it led
to (`validators_url`), and are sent to that URL alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise

from watcher.config import FeedConfig, OpsConfig
from watcher.models import FeedState, FetchResult

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
RETRY_AFTER_CAP = timedelta(days=1)

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """`text` without C0 / C1 control characters and DEL (a terminal would obey an escape
    sequence from a server); tab, CR and LF become spaces."""
    if text.isprintable():
        return text
    return _CONTROLS.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


def current_state(feed: FeedConfig, stored: FeedState | None) -> FeedState:
    """The state to use for `feed`: the stored one, unless the configured URL changed."""
    if stored is None:
        return FeedState(name=feed.name, url=feed.url, config_url=feed.url)
    if (stored.config_url is not None and stored.config_url != feed.url) or (
        stored.config_url is None and stored.url != feed.url
    ):
        return FeedState(name=feed.name, url=feed.url, config_url=feed.url,
                         first_polled=stored.first_polled)
    return replace(stored, config_url=feed.url)


def skip_reason(state: FeedState, now: datetime) -> str | None:
    """Why the feed is not fetched this run, or None when it is due."""
    if state.disabled:
        return f"disabled: {state.disabled}"
    if state.retry_at is not None and state.retry_at > now:
        return f"backing off until {state.retry_at:%Y-%m-%d %H:%M} UTC"
    return None


def backoff(failures: int) -> timedelta:
    if failures <= 0:
        return timedelta(0)
    step: timedelta = BACKOFF_BASE * (2 ** min(failures - 1, 20))
    return min(step, BACKOFF_CAP)


def after_failure(state: FeedState, kind: str, message: str, status: int | None, now: datetime,
                  retry_after: float | None = None) -> FeedState:
    failures = state.consecutive_failures + 1
    wait = backoff(failures)
    if retry_after is not None:
        # (capped before it is a timedelta: a server may ask for 10^20 seconds, past its range)
        wait = max(wait, timedelta(seconds=min(retry_after, RETRY_AFTER_CAP.total_seconds())))
    disabled = state.disabled
    if status == 410:
        disabled = (f"HTTP 410 Gone at {now:%Y-%m-%d %H:%M} UTC; remove the feed or change its "
                    "url in the config to re-enable it")
    return replace(
        state, last_error=f"{kind}: {message}", last_status=status,
        consecutive_failures=failures, retry_at=now + wait, disabled=disabled,
        first_polled=state.first_polled or now,
    )


def after_fetch(state: FeedState, result: FetchResult, now: datetime) -> FeedState:
    """State after a fetch that did not fail (a body or 304). Parsing may still fail it."""
    new = replace(
        state, last_success=now, last_error=None, last_status=result.status,
        consecutive_failures=0, retry_at=None, first_polled=state.first_polled or now,
    )
    if result.permanent_url and result.permanent_url != state.url:
        new = replace(new, url=result.permanent_url)
    if result.body is not None:
        # the validators of the URL the body came from (after a temporary redirect, another
        # URL than `url`: fetch sends them to that URL alone)
        new = replace(new, etag=result.headers.get("etag"),
                      last_modified=result.headers.get("last-modified"),
                      validators_url=None if result.url == new.url else result.url)
    return new


def cadence(published: list[datetime]) -> timedelta | None:
    """Typical gap between a feed's items: the median gap of its recent items (None with fewer
    than 3 items)."""
    times = sorted(published)
    gaps = [b - a for a, b in pairwise(times) if b > a]
    if len(gaps) < 2:
        return None
    gaps.sort()
    return gaps[len(gaps) // 2]


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    secs = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def _span(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    secs = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs / size:.1f}{unit}"
    return f"{secs}s"


def health_rows(
    feeds: list[FeedConfig], states: dict[str, FeedState],
    published: dict[str, list[datetime]], now: datetime,
) -> list[dict[str, str]]:
    """One row per configured feed for `watcher feeds`."""
    rows = []
    for feed in feeds:
        st = states.get(feed.name)
        if st is None:
            status = "new"
        elif st.disabled:
            status = "disabled"
        elif st.consecutive_failures:
            status = f"failing x{st.consecutive_failures}"
        else:
            status = "ok"
        times = published.get(feed.name, [])
        rows.append({
            "feed": feed.name,
            "status": status,
            "http": str(st.last_status) if st and st.last_status else "-",
            "last_success": _ago(st.last_success if st else None, now),
            "last_item": _ago(max(times) if times else None, now),
            "cadence": _span(cadence(times)),
            "last_error": (st.disabled or st.last_error or "") if st else "",
            "url": st.url if st else feed.url,
        })
    return rows


@dataclass(frozen=True, slots=True)
class OpsEvent:
    feed: str
    kind: str  # "down" | "silent" | "recovered"
    message: str


def ops_check(
    state: FeedState, published: list[datetime], now: datetime, cfg: OpsConfig,
) -> tuple[FeedState, OpsEvent | None]:
    """One feed-health transition at most: a feed that keeps failing or goes silent far beyond
    its usual cadence opens one alert; getting well again closes it with one recovery notice."""
    problem: tuple[str, str] | None = None
    if state.disabled:
        problem = ("down", f"disabled: {state.disabled}")
    elif state.consecutive_failures >= cfg.failures:
        problem = ("down", f"{state.consecutive_failures} consecutive failures; last error: "
                           f"{state.last_error}")
    else:
        gap = cadence(published)
        last = max(published) if published else None
        if gap is not None and last is not None:
            limit = max(gap * cfg.silence_factor, timedelta(hours=cfg.min_silence_hours))
            if now - last > limit:
                problem = ("silent", f"no new item for {_span(now - last)} (usually one every "
                                     f"{_span(gap)})")
    if problem and state.ops_alert != problem[0]:
        return replace(state, ops_alert=problem[0]), OpsEvent(state.name, *problem)
    if problem is None and state.ops_alert is not None:
        event = OpsEvent(state.name, "recovered", f"recovered (was {state.ops_alert})")
        return replace(state, ops_alert=None), event
    return state, None
