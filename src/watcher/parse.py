"""Turn a fetched feed body into clean `Article`s.

feedparser reads the bytes through `io.BytesIO` (never a str or bytes argument: given a str it would
open a local path or URL) with the response headers, so the HTTP charset is honoured. Its HTML
sanitizer is switched off: watcher never renders feed HTML, it reduces it to text with `clean`.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import io
import json
import re
import time
import xml.parsers.expat
import zlib
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from lxml import etree  # type: ignore[import-untyped]  # no stubs in the dev extra

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
    error_kind: str | None = None  # "not_a_feed": no feed at all; "parse_error": a parser failed
    error: str | None = None
    skipped: int = 0  # entries dropped: no title, text or link (phantom items)
    known: int = 0  # entries left out because `known_ids` already knew them
    capped: int = 0  # entries beyond `max_items`, left out


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
            return _plausible(when, fetched)
    return fetched


# A publication time before this is a placeholder ("0001-01-01", .NET's DateTime.MinValue), not
# a date: the item counts as undated (its fetch time), as when it gives none.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


def _plausible(when: datetime, fetched: datetime) -> datetime:
    """`when`, a feed's publication time: a future one clamped to the fetch time, a
    placeholder before `EARLIEST` taken as none."""
    if when < EARLIEST:
        return fetched
    return min(when, fetched) if when > fetched + FUTURE_SLACK else when


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


# An absolute http(s) URL that urllib's urljoin returns unchanged whatever the base (and that
# is_http_url accepts): lower-case scheme, a host name without user, port or brackets, a path and
# a non-empty query of plain characters, no ";" parameters, no fragment, no white space. Then
# urlunparse(urlparse(url)) == url, and feedparser's URI fixer leaves it alone.
_PLAIN_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~%+=&,/-]*)?"
                           r"(?:\?[A-Za-z0-9._~%+=&,/-]+)?")


def _absolute_url(link: str, base: str) -> str | None:
    """`watcher.urls.absolute_url(link, base)`, without parsing a plain absolute URL."""
    return link if _PLAIN_URL_RE.fullmatch(link) else absolute_url(link, base)


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
        url = _absolute_url(cand, base)
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
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        except (ValueError, OverflowError):  # (year 1 or 9999 moved past the calendar by UTC)
            return fetched
        return _plausible(when, fetched)
    return fetched


# JSON may escape what no text may hold: a lone UTF-16 surrogate (no UTF-8 encodes it: the
# store's insert would fail) or a NUL (PostgreSQL refuses it). Paired surrogates decode to one
# character and are left alone.
_JSON_BAD_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_BAD_CHARS = re.compile("[\ud800-\udfff]|\x00")


def _scrub(value: Any) -> Any:
    """`value` (decoded JSON) with every lone surrogate replaced by U+FFFD and NUL removed."""
    if isinstance(value, str):
        return _BAD_CHARS.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _json_feed(body: bytes) -> dict[str, Any] | None:
    """A JSON Feed 1.0 / 1.1 document, or None when the body is not one."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # (bad UTF-8 or JSON, an integer of 4,300+ digits)
        return None
    if _JSON_BAD_ESCAPE.search(body):  # a lone surrogate or a NUL, escaped
        doc = _scrub(doc)
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


@dataclass(frozen=True, slots=True)
class StagedEntry:
    """An entry whose identity is decided and whose text is not cleaned yet."""

    id: str
    guid: str | None
    url: str
    canonical_url: str
    title: str
    html: str  # the entry's raw text (HTML or plain), cleaned by `finish_feed`
    published: datetime


@dataclass(frozen=True, slots=True)
class StagedFeed:
    """A parsed document before text cleaning: `stage_feed`'s result, `finish_feed`'s input."""

    version: str
    title: str
    entries: tuple[StagedEntry, ...] = ()
    skipped: int = 0
    error_kind: str | None = None
    error: str | None = None
    capped: int = 0  # entries beyond `max_items`, left out


def parse_feed(
    feed_name: str, url: str, body: bytes, headers: Mapping[str, str], fetched: datetime,
    known_ids: KnownIds | None = None, *, max_items: int | None = None,
    max_chars: int = MAX_TEXT,
) -> ParsedFeed:
    """Parse one feed document (RSS 0.9x-2.0, RSS 1.0, Atom, JSON Feed 1.0/1.1; a gzip-compressed
    body too). Never raises for bad input: a body that is no feed comes back with
    `error_kind="not_a_feed"`. With `known_ids` (ids -> the subset already stored), entries
    already known are left out before their text is cleaned: only new items cost cleaning.

    Limits on what one feed can cost: only the first `max_items` entries in document order are
    considered (feeds list the newest first; the rest are counted in `capped`), and each
    article's text is cut at `max_chars` characters.

    The same as `finish_feed(stage_feed(...), known)`; `watcher.parsepool.iter_parse_feeds`
    runs it for many feeds on several processes."""
    staged = stage_feed(feed_name, url, body, headers, fetched)
    if max_items is not None and len(staged.entries) > max_items:
        staged = replace(staged, entries=staged.entries[:max_items],
                         capped=len(staged.entries) - max_items)
    known = (known_ids([e.id for e in staged.entries]) if known_ids and staged.entries
             else set())
    return finish_feed(staged, feed_name, fetched, known, max_chars=max_chars)


def stage_feed(
    feed_name: str, url: str, body: bytes, headers: Mapping[str, str], fetched: datetime,
) -> StagedFeed:
    """The cheap half of `parse_feed`: the document parsed, each entry's identity (id, link,
    title, date) decided; no text cleaned. A document the parsers fail on (an exception of
    feedparser's or ours) is this feed's error, `error_kind="parse_error"`: never the run's."""
    try:
        return _stage_feed(feed_name, url, body, headers, fetched)
    except Exception as exc:  # any document: one feed's failure, reported (ingest logs it)
        return StagedFeed("", "", error_kind="parse_error", error=_failed(exc))


def _failed(exc: Exception) -> str:
    return (f"the parser failed on this document ({type(exc).__name__}: {str(exc)[:120]}); "
            "`watcher inspect-feed URL` shows it")


# Character references no string may hold: UTF-16 surrogates (an emoji written as its two halves,
# "&#55357;&#56832;", is common), NUL, or past U+10FFFF. A coarse test finds the documents that
# may have one (few: most go on untouched); `_fix_char_refs` then joins each pair of halves into
# one reference and makes every other such reference U+FFFD.
_SUSPECT_REF = re.compile(
    rb"&#(?:[xX]0*(?:[dD][89a-fA-F][0-9a-fA-F]{2}|[0-9a-fA-F]{6,}|0;)|0*(?:5[5-7][0-9]{3}|"
    rb"[0-9]{7,}|0;))")
_REF_RUN = re.compile(rb"(?:&#(?:[xX][0-9a-fA-F]+|[0-9]+);)+")
_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _fix_char_refs(body: bytes) -> bytes:
    def run(m: re.Match[bytes]) -> bytes:
        codes = [int(h, 16) if h else int(d) for h, d in _REF.findall(m.group())]
        out: list[int] = []
        i = 0
        while i < len(codes):
            c = codes[i]
            if 0xD800 <= c < 0xDC00 and i + 1 < len(codes) and 0xDC00 <= codes[i + 1] < 0xE000:
                out.append(0x10000 + ((c - 0xD800) << 10) + (codes[i + 1] - 0xDC00))
                i += 2
                continue
            out.append(0xFFFD if c == 0 or 0xD800 <= c < 0xE000 or c > 0x10FFFF else c)
            i += 1
        return b"".join(b"&#x%X;" % c for c in out)

    return _REF_RUN.sub(run, body)


def _stage_feed(
    feed_name: str, url: str, body: bytes, headers: Mapping[str, str], fetched: datetime,
) -> StagedFeed:
    if body[:2] == b"\x1f\x8b":
        decoded = _gunzip(body)
        if decoded is None:
            return StagedFeed("", "", error_kind="not_a_feed", error="gzip-compressed body that "
                              "does not decompress (corrupt or larger than 50 MiB)")
        body = decoded
    if _SUSPECT_REF.search(body):
        body = _fix_char_refs(body)
    if not body.strip():
        return StagedFeed("", "", error_kind="not_a_feed", error="empty body: not a feed")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        doc = _json_feed(body)
        if doc is None:
            return StagedFeed("", "", error_kind="not_a_feed",
                              error="JSON that is not a JSON Feed (no jsonfeed.org version)")
        version = "json" + str(doc.get("version", "")).rstrip("/").rsplit("/", 1)[-1]
        title = html_to_text(str(doc.get("title") or ""))[:MAX_TITLE]
        entries, skipped = _stage_entries(feed_name, url, _json_entries(doc, fetched), fetched)
        return StagedFeed(version, title, entries, skipped)
    response_headers = dict(headers) | {"content-location": url}
    fast = _fast_document(body, response_headers, url) if FAST_PARSE else None
    if fast is not None:
        version, raw_title, raw_entries = fast
        feed_title = html_to_text(raw_title)[:MAX_TITLE]
        entries, skipped = _stage_entries(feed_name, url, raw_entries, fetched)
        return StagedFeed(version, feed_title, entries, skipped)
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = str(parsed.get("version") or "")
    raw_entries = parsed.get("entries") or []
    if not version and not raw_entries:
        exc = parsed.get("bozo_exception")
        why = f" ({type(exc).__name__}: {str(exc)[:120]})" if exc else ""
        ctype = headers.get("content-type", "")
        kind = f" (content-type {ctype})" if ctype else ""
        return StagedFeed("", "", error_kind="not_a_feed",
                          error=f"not an RSS, Atom or JSON feed{kind}{why}")
    feed_meta = parsed.get("feed") or {}
    feed_title = html_to_text(str(feed_meta.get("title") or ""))[:MAX_TITLE]
    entries, skipped = _stage_entries(feed_name, url, raw_entries, fetched)
    return StagedFeed(version or "unknown", feed_title, entries, skipped)


def _stage_entries(
    feed_name: str, base: str, entries: list[Any], fetched: datetime,
) -> tuple[tuple[StagedEntry, ...], int]:
    """Identity for every entry (cheap: link, GUID, title). Returns (entries, skipped
    phantoms)."""
    staged: list[StagedEntry] = []
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
        if isinstance(guid_raw, str) and "\x00" in guid_raw:  # (JSON may hold one; no database
            guid_raw = guid_raw.replace("\x00", "")  # text column does)
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
        staged.append(StagedEntry(aid, guid, link, canon, title, html, published))
    return tuple(staged), skipped


def finish_feed(
    staged: StagedFeed, feed_name: str, fetched: datetime, known: Set[str] = frozenset(),
    *, max_chars: int = MAX_TEXT,
) -> ParsedFeed:
    """The expensive half of `parse_feed`: the text of every entry not in `known` cleaned, and
    the articles built. `known` is what `known_ids` said of the staged entries' ids. An
    exception on the way is this feed's error (`error_kind="parse_error"`), as in `stage_feed`."""
    try:
        return _finish_feed(staged, feed_name, fetched, known, max_chars=max_chars)
    except Exception as exc:
        return ParsedFeed((), staged.version, staged.title, "parse_error", _failed(exc))


def _finish_feed(
    staged: StagedFeed, feed_name: str, fetched: datetime, known: Set[str],
    *, max_chars: int,
) -> ParsedFeed:
    if staged.error_kind:
        return ParsedFeed((), "", "", staged.error_kind, staged.error)
    articles: list[Article] = []
    skipped = staged.skipped
    n_known = 0
    for e in staged.entries:
        if e.id in known:
            n_known += 1
            continue
        text = clean_text(e.html)[:max_chars]
        if not (e.title or text or e.url):
            skipped += 1
            continue
        articles.append(
            Article(
                id=e.id, feed=feed_name, guid=e.guid, url=e.url, canonical_url=e.canonical_url,
                title=e.title or (text[:120] if text else e.url), text=text,
                published=e.published, fetched=fetched,
            )
        )
    return ParsedFeed(tuple(articles), staged.version, staged.title, skipped=skipped,
                      known=n_known, capped=staged.capped)


# ---
# The fast path: plain RSS 2.0 and Atom 1.0 documents without feedparser
#
# feedparser walks a document with a Python SAX handler: some 0.5 ms per entry, more than all
# the rest of parsing. For the documents most feeds serve (well-formed UTF-8 RSS 2.0 or Atom 1.0
# whose items hold only common elements) `_fast_document` builds the same entry fields that
# `_stage_entries` reads (title, link, links, id, guidislink, content, summary, *_parsed) from
# lxml's tree, replaying what feedparser's handlers do to them: whitespace stripped, links and
# permalink GUIDs resolved against the base URL, feedparser's UTF-8/latin-1 and cp1252 repairs,
# its date parser. Anything outside that profile (another encoding or format, a DOCTYPE,
# xml:base, an element feedparser would treat specially, markup inside a text element...)
# returns None and feedparser parses the document as before. tests/test_parse_fast.py checks
# that both paths give the same result.

FAST_PARSE = True  # tests switch it off to compare with feedparser's own result

try:
    from feedparser.api import StrictFeedParser as _FpParser
    from feedparser.datetimes import _parse_date as _fp_parse_date
    from feedparser.encodings import convert_to_utf8 as _fp_convert_to_utf8
    from feedparser.html import _cp1252 as _FP_CP1252
    from feedparser.urls import _urljoin as _fp_urljoin_full
    from feedparser.urls import make_safe_absolute_uri as _fp_safe_uri

    _FP_NAMESPACES: dict[str, str] = {
        k.lower(): v for k, v in _FpParser.namespaces.items()
    }
except (ImportError, AttributeError):  # another feedparser: always use feedparser itself
    FAST_PARSE = False
    _FP_NAMESPACES = {}

_ATOM_NS = "http://www.w3.org/2005/Atom"
_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
# Namespaces whose mere declaration gives the document another version in feedparser.
_VERSION_NS = frozenset({"http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/rss/1.0/"})
_CANONICAL_PREFIXES = frozenset(p.lower() for p in _FP_NAMESPACES.values() if p)
# Entry keys `_stage_entries` reads: an unknown element stored under one of them -> feedparser.
_READ_KEYS = frozenset({"title", "link", "links", "id", "guidislink", "content", "summary",
                        "published_parsed", "updated_parsed", "created_parsed"})
_DATE_KEYS = {
    "pubdate": "published", "published": "published", "issued": "published",
    "dcterms:issued": "published", "updated": "updated", "modified": "updated",
    "dc:date": "updated", "dcterms:modified": "updated", "created": "created",
    "dcterms:created": "created",
}
# Elements with a feedparser handler that touches none of `_READ_KEYS` (authors, tags,
# enclosures, media), accepted inside an entry when they hold no element of their own
# (author and contributor: only name, email, uri).
_HARMLESS = frozenset({"author", "dc:creator", "dc:author", "contributor", "category",
                       "dc:subject", "comments", "enclosure", "media:content", "media:thumbnail",
                       "media:credit", "rights"})
_PERSON_PARTS = frozenset({"name", "email", "uri"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_XML_PARSER_KW: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "huge_tree": False, "recover": False,
    "remove_comments": False, "remove_pis": False,
}


_C1_RE = re.compile("[\x80-\x9f]")


def _fp_urljoin(base: str, uri: str) -> str:
    """feedparser's _urljoin(base, uri), without parsing a plain absolute URL."""
    return uri if _PLAIN_URL_RE.fullmatch(uri) else str(_fp_urljoin_full(base, uri))


class _Bail(Exception):
    """The document is outside the fast path's profile: feedparser parses it."""


def _fp_map_type(value: str) -> str:
    value = value.lower()
    if value in ("text", "plain"):
        return "text/plain"
    if value == "html":
        return "text/html"
    if value == "xhtml":
        return "application/xhtml+xml"
    return value


def _fp_fix(value: str) -> str:
    """feedparser's repairs of every text value: double-decoded UTF-8, cp1252 control codes."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    # str.translate with a dict is slow on long non-ASCII text; it only changes C1 codes
    return value.translate(_FP_CP1252) if _C1_RE.search(value) else value


class _Doc:
    """One document on the fast path: the names feedparser gives its elements."""

    def __init__(self, decls: list[tuple[str | None, str]], base: str) -> None:
        self.base = base
        unknown: dict[str, str] = {}  # namespace URI -> its one prefix
        for prefix, uri in decls:
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                lower = "http://backend.userland.com/rss"
            if lower in _VERSION_NS:
                raise _Bail("a namespace that sets the feed version")
            if lower in _FP_NAMESPACES:
                canonical = _FP_NAMESPACES[lower]
                if prefix is not None and prefix != canonical and (
                        prefix.lower() in _CANONICAL_PREFIXES):
                    raise _Bail("a known prefix bound to another namespace")
            else:
                if prefix is None or prefix.lower() in _CANONICAL_PREFIXES:
                    raise _Bail("an unknown default namespace, or a known prefix reused")
                if unknown.setdefault(uri, prefix) != prefix:
                    raise _Bail("a namespace declared with two prefixes")
        self.unknown = unknown

    def name(self, el: Any) -> str:
        tag = el.tag
        if tag[0] != "{":
            return str(tag).lower()
        uri, local = tag[1:].split("}", 1)
        lower = uri.lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        prefix = _FP_NAMESPACES.get(lower)
        if prefix is None:
            prefix = self.unknown.get(uri)
            if prefix is None:
                raise _Bail("an undeclared namespace")
        return f"{prefix.lower()}:{local.lower()}" if prefix else local.lower()

    @staticmethod
    def attrs(el: Any) -> dict[str, str]:
        """Attributes as feedparser normalises them; namespaced ones only if xml:lang."""
        out: dict[str, str] = {}
        for key, value in el.attrib.items():
            if key[0] == "{":
                if key == "{http://www.w3.org/XML/1998/namespace}lang":
                    continue
                raise _Bail("a namespaced attribute")
            key = key.lower()
            out[key] = value.lower() if key in ("rel", "type") else value
        return out

    @staticmethod
    def text(el: Any) -> str:
        for child in el:
            raise _Bail(f"markup inside a text element ({child.tag!r})")
        return str(el.text or "").strip()

    def content_type(self, attrs: dict[str, str], default: str) -> str:
        """feedparser's content type; base64 or XHTML content -> _Bail."""
        for key in attrs:
            if key not in ("type", "src"):
                raise _Bail(f"a {key} attribute on content")
        ctype = _fp_map_type(attrs.get("type", default))
        if ctype == "application/xhtml+xml" or not (
                ctype.startswith("text/") or ctype.endswith(("+xml", "/xml"))):
            raise _Bail("XHTML or base64 content")
        return ctype

    def entry(self, item: Any) -> dict[str, Any]:
        """feedparser's fields of one <item>/<entry>, the ones `_stage_entries` reads."""
        if item.attrib:
            raise _Bail("attributes on an item")
        e: dict[str, Any] = {}
        guidislink = False
        has_content = False
        title_done = False
        for child in item:
            if not isinstance(child.tag, str):
                continue  # a comment or processing instruction: SAX skips it
            name = self.name(child)
            if name == "title":
                self.content_type(self.attrs(child), "text/plain")
                value = _fp_fix(self.text(child))
                if not title_done:
                    e["title"] = value
                    title_done = bool(value)
            elif name == "link":
                self._link(child, e)
            elif name in ("guid", "id"):
                attrs = self.attrs(child)
                if set(attrs) - {"ispermalink"}:
                    raise _Bail("attributes on a guid")
                guidislink = attrs.get("ispermalink", "true") == "true"
                value = self.text(child)
                if value and guidislink:
                    value = _fp_urljoin(self.base, value)
                value = _fp_fix(value)
                e["id"] = value
                e.setdefault("guidislink", guidislink and "link" not in e)
                if guidislink:
                    e.setdefault("link", value)
            elif name in ("description", "summary"):
                if "summary" in e and not has_content:
                    raise _Bail("a second summary (feedparser makes it content)")
                default = "text/html" if name == "description" else "text/plain"
                self.content_type(self.attrs(child), default)
                e["summary"] = _fp_fix(self.text(child))
            elif name in ("content:encoded", "content"):
                has_content = True
                ctype = self.content_type(
                    self.attrs(child), "text/html" if name == "content:encoded" else "text/plain")
                value = _fp_fix(self.text(child))
                e.setdefault("content", []).append({"type": ctype, "value": value})
                if ctype == "text/plain" or ctype in _HTML_TYPES:
                    e.setdefault("summary", value)
            elif name in _DATE_KEYS:
                if set(self.attrs(child)):
                    raise _Bail("attributes on a date")
                value = _fp_fix(self.text(child))
                e[_DATE_KEYS[name] + "_parsed"] = _fp_parse_date(value)
            elif name in _HARMLESS:
                for part in child:
                    if isinstance(part.tag, str) and not (
                            name in ("author", "contributor")
                            and self.name(part) in _PERSON_PARTS and len(part) == 0):
                        raise _Bail(f"elements inside {name}")
            else:
                self._inert(child, name)
        return e

    def _link(self, el: Any, e: dict[str, Any]) -> None:
        """feedparser's _start_link/_end_link."""
        attrs = self.attrs(el)
        if set(attrs) - {"href", "rel", "type", "title", "hreflang", "length"}:
            raise _Bail("unusual attributes on a link")
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self"
                         else "text/html")
        links = e.setdefault("links", [])
        if "href" in attrs:
            attrs["href"] = _fp_urljoin(self.base, attrs["href"])
            links.append(attrs)
            if attrs["rel"] == "alternate" and _fp_map_type(attrs["type"]) in _HTML_TYPES:
                e["link"] = attrs["href"]
            return
        links.append(attrs)
        value = self.text(el)
        if value:
            value = _fp_urljoin(self.base, value)
        value = _fp_fix(value).replace("&amp;", "&")
        value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)
        e["link"] = value
        if value:
            links[-1]["href"] = value

    @staticmethod
    def _inert(el: Any, name: str) -> None:
        """An element feedparser has no handler for: it only stores it under its own name."""
        method = name.replace(":", "_")
        if (hasattr(_FpParser, "_start_" + method) or hasattr(_FpParser, "_end_" + method)
                or method in _READ_KEYS):
            raise _Bail(f"an element feedparser handles ({name})")
        for child in el:
            if isinstance(child.tag, str):
                raise _Bail(f"elements inside {name}")

    def feed_title(self, parent: Any) -> str:
        titles = []
        for child in parent:
            if isinstance(child.tag, str):
                name = self.name(child)
                if name == "title":
                    titles.append(child)
                elif name.endswith(":title"):
                    raise _Bail("a namespaced feed title")
        if len(titles) > 1:
            raise _Bail("several feed titles")
        if not titles:
            return ""
        self.content_type(self.attrs(titles[0]), "text/plain")
        return _fp_fix(self.text(titles[0]))




def _fast_document(
    body: bytes, headers: Mapping[str, str], url: str,
) -> tuple[str, str, list[dict[str, Any]]] | None:
    """(version, raw feed title, entries) as feedparser would give them, or None when the
    document is outside the fast path's profile (see above)."""
    if not url or _fp_safe_uri(url, url) != url or b"base=" in body:
        return None  # feedparser would resolve links against another base
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None
    result: dict[str, Any] = {}
    try:
        data = _fp_convert_to_utf8(headers, body, result)
    except Exception:  # feedparser's own code: whatever it raises, let feedparser report it
        return None
    if result.get("encoding") != "utf-8" or result.get("bozo"):
        return None
    decls: list[tuple[str | None, str]] = []
    expat = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    expat.StartNamespaceDeclHandler = lambda prefix, uri: decls.append((prefix, uri))
    try:
        expat.Parse(data, True)  # feedparser's SAX parser must take it too
    except xml.parsers.expat.ExpatError:
        return None
    parser = etree.XMLParser(**_XML_PARSER_KW)
    try:
        root = etree.fromstring(data, parser)
    except etree.LxmlError:
        return None
    if len(parser.error_log):
        return None
    try:
        doc = _Doc(decls, url)
        return _walk(doc, root)
    except _Bail:
        return None


def _case_spellings(word: str) -> list[str]:
    """Every spelling of `word` with each letter in lower or upper case."""
    spellings = [""]
    for c in word:
        spellings = [s + v for s in spellings for v in (c, c.upper())]
    return spellings


# Elements named item or entry in any case, in any namespace or none (lxml's "{*}"): the names
# that XPath's translate(local-name(), 'ITEMNRY', 'itemnry') turns into "item" or "entry".
_ITEM_TAGS = tuple("{*}" + s for w in ("item", "entry") for s in _case_spellings(w))


def _walk(doc: _Doc, root: Any) -> tuple[str, str, list[dict[str, Any]]]:
    n_items = sum(1 for _ in root.iter(*_ITEM_TAGS))  # the root and all elements below it
    if root.tag == "rss":
        version_attr = doc.attrs(root).get("version", "")
        if not version_attr.startswith("2."):
            raise _Bail("not RSS 2.0")
        channels = [c for c in root if isinstance(c.tag, str)]
        if len(channels) != 1 or doc.name(channels[0]) != "channel" or channels[0].attrib:
            raise _Bail("not one plain <channel>")
        channel = channels[0]
        items = [c for c in channel if isinstance(c.tag, str) and c.tag == "item"]
        title = doc.feed_title(channel)
        version = "rss20"
    elif root.tag == f"{{{_ATOM_NS}}}feed":
        items = [c for c in root if c.tag == f"{{{_ATOM_NS}}}entry"]
        title = doc.feed_title(root)
        version = "atom10"
    else:
        raise _Bail("neither RSS 2.0 nor Atom 1.0")
    if len(items) != n_items:
        raise _Bail("items elsewhere than in the channel or feed")
    return version, title, [doc.entry(item) for item in items]
