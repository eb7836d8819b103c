"""`watcher inspect-feed`: what watcher makes of a feed, for a user whose feed misbehaves.

Exit status: 0 every target is a feed (any number of articles, 0 included); 3 a target is not a
feed or could not be fetched. Never a traceback for bad input.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from watcher.config import FeedConfig, FetchConfig
from watcher.fetch import fetch_feeds
from watcher.parse import ParsedFeed, parse_feed

EXIT_NOT_A_FEED = 3


def _load(target: str, cfg: FetchConfig) -> tuple[str, bytes | None, dict[str, str], str | None]:
    """(base URL, body, headers, error) for a URL or a local file."""
    if target.split(":", 1)[0].strip().lower() in ("http", "https"):  # (urlsplit may raise)
        [res] = fetch_feeds([FeedConfig("inspect", target)], {}, cfg)
        if res.error:
            return target, None, {}, f"{res.error_kind}: {res.error}"
        return res.url, res.body or b"", dict(res.headers), None
    path = Path(target)
    try:
        body = path.read_bytes()
    except OSError as exc:
        return target, None, {}, f"cannot read {_shown(target)}: {exc.strerror or exc}"
    return path.resolve().as_uri(), body, {}, None


def _shown(target: str) -> str:
    """`target` as text: a file name that is not UTF-8 (its bytes kept by the OS as lone
    surrogates) with U+FFFD in place of the undecodable bytes."""
    return os.fsencode(target).decode("utf-8", "replace") if _SURROGATE.search(target) else target


_SURROGATE = re.compile("[\ud800-\udfff]")


def _verdict(target: str, parsed: ParsedFeed) -> str:
    if parsed.error_kind:
        return f"{target}: NOT A FEED: {parsed.error}"
    extra = f", {parsed.skipped} empty items skipped" if parsed.skipped else ""
    title = f" {parsed.title!r}" if parsed.title else ""
    return f"{target}: feed{title} ({parsed.version}), {len(parsed.articles)} articles{extra}"


def inspect_feeds(targets: list[str], *, as_json: bool, base_url: str | None = None) -> int:
    cfg = FetchConfig()
    status = 0
    for given in targets:
        base, body, headers, error = _load(given, cfg)
        target = _shown(given)
        if body is None:
            print(f"{target}: FETCH FAILED: {error}", file=sys.stderr)
            status = EXIT_NOT_A_FEED
            continue
        # A local file has no http(s) address: its relative links resolve against --base-url,
        # or are dropped (an article keeps no link rather than a wrong one).
        link_base = base if base.startswith(("http://", "https://")) else (base_url or "")
        parsed = parse_feed(Path(target).name or target, link_base, body, headers,
                            datetime.now(UTC))
        if parsed.error_kind:
            status = EXIT_NOT_A_FEED
        if as_json:
            for a in parsed.articles:
                print(json.dumps({
                    "source": target, "id": a.id, "guid": a.guid, "url": a.url,
                    "canonical_url": a.canonical_url, "title": a.title,
                    "published": a.published.isoformat(), "text": a.text,
                }, ensure_ascii=False))
            print(_verdict(target, parsed), file=sys.stderr)
        else:
            print(_verdict(target, parsed))
            for a in parsed.articles:
                print(f"  - {a.published:%Y-%m-%d %H:%M} {a.title[:100]}")
                print(f"    {a.url or '(no link)'}")
                if a.text:
                    snippet = a.text.replace("\n", " ")
                    print(f"    {snippet[:160]}{'…' if len(snippet) > 160 else ''}")
    return status
