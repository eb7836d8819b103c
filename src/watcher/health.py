"""Feed state transitions: what one fetch (and parse) does to a feed's stored state.

Pure functions. Rules: 301/308 chains move the feed (`url` updated, the configured URL kept in
`config_url`); 302/307 do not. HTTP 410 disables the feed until its configured URL changes.
429/503 with Retry-After skip the feed until then. Consecutive failures back off exponentially,
capped. A changed configured URL starts the feed afresh.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from watcher.config import FeedConfig
from watcher.models import FeedState, FetchResult

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
RETRY_AFTER_CAP = timedelta(days=1)


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
        wait = max(wait, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
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
        new = replace(new, etag=result.headers.get("etag"),
                      last_modified=result.headers.get("last-modified"))
    return new
