"""Full text for feeds that carry only a headline and a sentence.

For new articles of feeds with `full_text = true` that pass a cheap pre-filter (a watched entity in
the title or summary), watcher fetches the article page with the same politeness, deadline and size
cap as feeds, extracts the main text with trafilatura (navigation, related links, comments removed),
then removes publisher appeals with `clean.strip_boilerplate`. A page that fails to fetch or
extract leaves the feed's own text in place; both outcomes are counted.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from watcher.clean import strip_boilerplate
from watcher.config import FeedConfig, FetchConfig
from watcher.fetch import fetch_feeds
from watcher.match import CompiledWatch, score
from watcher.models import Article

log = logging.getLogger("watcher.fulltext")

MAX_TEXT = 100_000


@dataclass(frozen=True, slots=True)
class FullTextStats:
    fetched: int = 0  # pages fetched and used
    fallback: int = 0  # pages that failed to fetch or extract: the feed text was kept
    capped: int = 0  # candidates left out by [fetch] max_article_fetches
    refused: int = 0  # links refused by the address guard (counted in `fallback` too)


def extract_main_text(html: str, url: str | None = None, max_chars: int = MAX_TEXT) -> str | None:
    """The article's main text from a whole page, or None when nothing usable is found."""
    # imported here: trafilatura takes ~0.1 s to import, and most runs fetch no page
    import trafilatura

    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=False,
            include_images=False, include_links=False, favor_precision=True,
        )
    except Exception as exc:  # trafilatura raises assorted errors on broken pages
        log.debug("extraction failed for %s: %s", url, exc)
        return None
    if not text or not text.strip():
        return None
    cleaned = strip_boilerplate(text)
    return cleaned[:max_chars] if cleaned.strip() else None


def wants_full_text(article: Article, watches: Sequence[CompiledWatch]) -> bool:
    """Cheap pre-filter: a watched entity appears in the title or the feed's text."""
    return any(score(cw, article.title, article.text).entities for cw in watches)


def enrich(
    articles: Sequence[Article], watches: Sequence[CompiledWatch], cfg: FetchConfig,
) -> tuple[list[Article], FullTextStats]:
    """Replace the text of promising articles with their page's main text, where that works."""
    wanted = [a for a in articles if a.url and wants_full_text(a, watches)]
    capped = max(0, len(wanted) - cfg.max_article_fetches)
    wanted = wanted[: cfg.max_article_fetches]
    if not wanted:
        return list(articles), FullTextStats(capped=capped)
    results = fetch_feeds([FeedConfig(a.id, a.url) for a in wanted], {}, cfg, trusted=False)
    by_id: dict[str, str] = {}
    fallback = 0
    for article, res in zip(wanted, results, strict=True):
        text = None
        if res.ok and res.body:
            html = _decode(res.body, _charset(res.headers.get("content-type", "")))
            text = extract_main_text(html, res.url, cfg.max_article_chars)
        if text and len(text) > len(article.text):
            by_id[article.id] = text
        else:
            fallback += 1
            log.info("full text of %s unavailable (%s); using the feed's text", article.url,
                     res.error or "no main text found")
    out = [replace(a, text=by_id[a.id]) if a.id in by_id else a for a in articles]
    refused = sum(1 for r in results if r.error_kind == "refused")
    return out, FullTextStats(fetched=len(by_id), fallback=fallback, capped=capped,
                              refused=refused)


def _decode(body: bytes, charset: str | None) -> str:
    """The page's text in its declared charset, else UTF-8 (bad bytes replaced)."""
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except (LookupError, UnicodeError):  # a codec that decodes no text ("base64"), or
            pass  # refuses errors="replace" or fails anyway ("idna", "punycode", "undefined")
    return body.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str | None:
    """The charset a Content-Type names, when Python knows a codec by that name (`_decode`
    falls back to UTF-8 when it decodes no text)."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip().strip('"')
            try:
                codecs.lookup(name)
            except LookupError:
                return None
            return name
    return None
