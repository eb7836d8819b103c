"""Turn a fetched feed body into clean `Article`s.

feedparser reads the bytes through `io.BytesIO` (never a str or bytes argument: given a str it would
open a local path or URL) with the response headers, so the HTTP charset is honoured. Its HTML
sanitizer is switched off: watcher never renders feed HTML, it reduces it to text with `clean`.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from watcher.clean import clean_text, html_to_text
from watcher.models import Article
from watcher.urls import absolute_url, canonical_url

KnownIds = Callable[[Sequence[str]], set[str]]
MAX_TITLE = 500
MAX_DECODED = 50 * 1024 * 1024  # a gzip body inside the body is decoded up to this size
MAX_TEXT = 100_000
FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    articles: tuple[Article, ...]
    version: str  # feedparser's format name ("rss20", "atom10", "json11"...), "" when not a feed
    title: str
    error_kind: str | None = None  # "not_a_feed" when the body is no feed at all
    error: str | None = None
    skipped: int = 0  # entries dropped: no title, text or link (phantom items)
    known: int = 0  # entries left out because `known_ids` already knew them


def article_id(feed: str, key: str) -> str:
    return hashlib.sha256(f"{feed}\0{key}".encode()).hexdigest()[:24]


def _entry_time(entry: Mapping[str, Any], fetched: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: bypass FeedParserDict's deprecated updated->published key fallback
        value = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            return min(when, fetched) if when > fetched + FUTURE_SLACK else when
    return fetched


def _entry_html(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    best = ""
    for c in contents:
        value = c.get("value") if isinstance(c, Mapping) else None
        if isinstance(value, str) and len(value) > len(best):
            best = value
    summary = entry.get("summary")
    if isinstance(summary, str) and len(summary) > len(best):
        best = summary
    return best


def _entry_link(entry: Mapping[str, Any], base: str) -> str | None:
    candidates: list[str] = []
    link = entry.get("link")
    if isinstance(link, str):
        candidates.append(link)
    for item in entry.get("links") or []:
        if isinstance(item, Mapping) and item.get("rel", "alternate") == "alternate":
            href = item.get("href")
            if isinstance(href, str):
                candidates.append(href)
    guid = entry.get("id")
    if isinstance(guid, str) and entry.get("guidislink", False):
        candidates.append(guid)
    for cand in candidates:
        url = absolute_url(cand, base)
        if url:
            return url
    return None


def _gunzip(body: bytes) -> bytes | None:
    """Bodies saved or served gzip-compressed without a Content-Encoding header."""
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(body, MAX_DECODED)
        return out if not d.unconsumed_tail else None
    except zlib.error:
        return None


def _parse_datetime(value: object, fetched: datetime) -> datetime:
    if isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return fetched
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        return min(when, fetched) if when > fetched + FUTURE_SLACK else when
    return fetched


def _json_feed(body: bytes) -> dict[str, Any] | None:
    """A JSON Feed 1.0 / 1.1 document, or None when the body is not one."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    version = doc.get("version")
    if not (isinstance(version, str) and "jsonfeed.org/version/" in version):
        return None
    return doc


def _json_entries(doc: dict[str, Any], fetched: datetime) -> list[dict[str, Any]]:
    """JSON Feed items in the shape `_build_articles` takes (feedparser's entry keys)."""
    out: list[dict[str, Any]] = []
    items = doc.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        html = item.get("content_html") or item.get("content_text") or item.get("summary") or ""
        link = item.get("url") or item.get("external_url") or ""
        guid = item.get("id")
        out.append({
            "id": str(guid) if isinstance(guid, str | int) and str(guid).strip() else None,
            "link": link if isinstance(link, str) else "",
            "title": item.get("title") if isinstance(item.get("title"), str) else "",
            "summary": html if isinstance(html, str) else "",
            "_published": _parse_datetime(item.get("date_published")
                                          or item.get("date_modified"), fetched),
        })
    return out


def parse_feed(
    feed_name: str, url: str, body: bytes, headers: Mapping[str, str], fetched: datetime,
    known_ids: KnownIds | None = None,
) -> ParsedFeed:
    """Parse one feed document (RSS 0.9x-2.0, RSS 1.0, Atom, JSON Feed 1.0/1.1; a gzip-compressed
    body too). Never raises for bad input: a body that is no feed comes back with
    `error_kind="not_a_feed"`. With `known_ids` (ids -> the subset already stored), entries
    already known are left out before their text is cleaned: only new items cost cleaning."""
    if body[:2] == b"\x1f\x8b":
        decoded = _gunzip(body)
        if decoded is None:
            return ParsedFeed((), "", "", "not_a_feed", "gzip-compressed body that does not "
                              "decompress (corrupt or larger than 50 MiB)")
        body = decoded
    if not body.strip():
        return ParsedFeed((), "", "", "not_a_feed", "empty body: not a feed")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        doc = _json_feed(body)
        if doc is None:
            return ParsedFeed((), "", "", "not_a_feed",
                              "JSON that is not a JSON Feed (no jsonfeed.org version)")
        version = "json" + str(doc.get("version", "")).rstrip("/").rsplit("/", 1)[-1]
        title = html_to_text(str(doc.get("title") or ""))[:MAX_TITLE]
        arts, skipped, n_known = _build_articles(feed_name, url, _json_entries(doc, fetched),
                                                 fetched, known_ids)
        return ParsedFeed(arts, version, title, skipped=skipped, known=n_known)
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=dict(headers) | {"content-location": url},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = str(parsed.get("version") or "")
    entries = parsed.get("entries") or []
    if not version and not entries:
        exc = parsed.get("bozo_exception")
        why = f" ({type(exc).__name__}: {str(exc)[:120]})" if exc else ""
        ctype = headers.get("content-type", "")
        kind = f" (content-type {ctype})" if ctype else ""
        return ParsedFeed((), "", "", "not_a_feed",
                          f"not an RSS, Atom or JSON feed{kind}{why}")
    feed_meta = parsed.get("feed") or {}
    feed_title = html_to_text(str(feed_meta.get("title") or ""))[:MAX_TITLE]
    arts, skipped, n_known = _build_articles(feed_name, url, entries, fetched, known_ids)
    return ParsedFeed(arts, version or "unknown", feed_title, skipped=skipped, known=n_known)


def _build_articles(
    feed_name: str, base: str, entries: list[Any], fetched: datetime,
    known_ids: KnownIds | None = None,
) -> tuple[tuple[Article, ...], int, int]:
    """Articles from entries, in two passes: identity first (cheap: link, GUID, title), then the
    expensive text cleaning only for entries whose id `known_ids` does not already know.
    Returns (articles, skipped phantoms, known entries left out)."""
    staged: list[tuple[str, str | None, str, str, str, str, datetime]] = []
    seen: set[str] = set()
    skipped = 0
    for entry in entries:
        link = _entry_link(entry, base) or ""
        title = html_to_text(str(entry.get("title") or "")).replace("\n", " ").strip()[:MAX_TITLE]
        html = _entry_html(entry)
        if not (title or link or html.strip()):
            skipped += 1  # an empty or nested phantom item
            continue
        guid_raw = entry.get("id")
        guid = guid_raw.strip() if isinstance(guid_raw, str) and guid_raw.strip() else None
        canon = canonical_url(link) if link else ""
        published = entry.get("_published") or _entry_time(entry, fetched)
        if guid:
            key = f"guid:{guid}"
        elif canon:
            key = f"url:{canon}"
        else:
            key = f"title:{title}\0{html[:400]}"
        aid = article_id(feed_name, key)
        if aid in seen:  # a duplicate GUID within one document: tell the items apart by URL/title
            aid = article_id(feed_name, f"{key}\0{canon}\0{title}")
            if aid in seen:
                skipped += 1
                continue
        seen.add(aid)
        staged.append((aid, guid, link, canon, title, html, published))
    known = known_ids([s[0] for s in staged]) if known_ids and staged else set()
    articles: list[Article] = []
    for aid, guid, link, canon, title, html, published in staged:
        if aid in known:
            continue
        text = clean_text(html)[:MAX_TEXT]
        if not (title or text or link):
            skipped += 1
            continue
        articles.append(
            Article(
                id=aid, feed=feed_name, guid=guid, url=link, canonical_url=canon,
                title=title or (text[:120] if text else link), text=text,
                published=published, fetched=fetched,
            )
        )
    return tuple(articles), skipped, len(known)
