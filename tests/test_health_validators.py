"""The state's ETag / Last-Modified are always those of its `url` (see health.after_fetch)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from watcher.config import FeedConfig
from watcher.health import after_fetch, current_state, strip_controls
from watcher.models import FetchResult

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
FEED = FeedConfig("f", "https://a.example/rss")
VALIDATORS = {"etag": '"t1"', "last-modified": "Wed, 01 Apr 2026 10:00:00 GMT"}


def test_a_body_from_the_feeds_own_url_keeps_its_validators() -> None:
    r = FetchResult(feed="f", url=FEED.url, status=200, body=b"x", headers=VALIDATORS)
    s = after_fetch(current_state(FEED, None), r, NOW)
    assert (s.etag, s.last_modified) == ('"t1"', VALIDATORS["last-modified"])


def test_a_permanent_move_keeps_the_new_urls_validators() -> None:
    new = "https://b.example/rss"
    r = FetchResult(feed="f", url=new, status=200, body=b"x", headers=VALIDATORS,
                    permanent_url=new)
    s = after_fetch(current_state(FEED, None), r, NOW)
    assert s.url == new and s.etag == '"t1"'


def test_a_body_after_a_temporary_redirect_keeps_its_validators_with_its_url() -> None:
    """Another URL's validators are not the feed's URL's: they are kept with the URL they came
    from (`validators_url`), which fetch sends them to alone; a body from the feed's own URL
    again makes them the feed's URL's."""
    earlier = replace(current_state(FEED, None), etag='"t0"', last_modified="x")
    r = FetchResult(feed="f", url="https://cdn.example/rss", status=200, body=b"x",
                    headers=VALIDATORS)
    s = after_fetch(earlier, r, NOW)
    assert s.url == FEED.url and s.validators_url == "https://cdn.example/rss"
    assert (s.etag, s.last_modified) == ('"t1"', VALIDATORS["last-modified"])
    back = after_fetch(s, FetchResult(feed="f", url=FEED.url, status=200, body=b"y",
                                      headers={}), NOW)
    assert back.validators_url is None and back.etag is None


def test_a_304_keeps_the_validators_that_earned_it() -> None:
    state = after_fetch(current_state(FEED, None), FetchResult(
        feed="f", url=FEED.url, status=200, body=b"x", headers=VALIDATORS), NOW)
    again = after_fetch(state, FetchResult(feed="f", url=FEED.url, status=304,
                                           not_modified=True), NOW)
    assert again.etag == '"t1"'


def test_strip_controls() -> None:
    assert strip_controls("plain, café") == "plain, café"
    assert strip_controls("a\x1b[31mb\x07\x9bc\x7f\x00d\x85") == "a[31mbcd"
    assert strip_controls("one\ntwo\tthree\r") == "one two three "
