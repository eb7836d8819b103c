from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.parse import parse_feed

from .feedserver import rss

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://feed.example/news/rss.xml"


def parse(body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_feed("f", URL, body, headers or {"content-type": "application/rss+xml"}, NOW)


def test_rss_entry_becomes_clean_article() -> None:
    body = rss([{
        "title": "Border &lt;b&gt;clash&lt;/b&gt; reported",
        "link": "/world/clash?utm_source=rss",
        "guid": "g-1",
        "pubDate": "Fri, 01 May 2026 10:00:00 +0200",
        "description": "<![CDATA[<p>Troops <em>exchanged</em> fire.</p><script>x()</script>]]>",
    }])
    parsed = parse(body)
    assert parsed.error_kind is None and parsed.version == "rss20"
    [a] = parsed.articles
    assert a.title == "Border clash reported"
    assert a.url == "https://feed.example/world/clash?utm_source=rss"
    assert a.canonical_url == "https://feed.example/world/clash"
    assert a.text == "Troops exchanged fire."
    assert a.published == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert a.guid is not None and a.guid.endswith("g-1") and a.feed == "f"


def test_ids_are_stable_and_distinct() -> None:
    body = rss([{"title": "A", "guid": "1", "link": "https://x.example/a"},
                {"title": "B", "guid": "2", "link": "https://x.example/b"}])
    first = [a.id for a in parse(body).articles]
    again = [a.id for a in parse(body).articles]
    assert first == again and len(set(first)) == 2


def test_missing_guid_gets_stable_id_from_url_and_duplicate_guids_are_kept_apart() -> None:
    body = rss([{"title": "A", "link": "https://x.example/a"},
                {"title": "B", "guid": "same", "link": "https://x.example/b"},
                {"title": "C", "guid": "same", "link": "https://x.example/c"}])
    arts = parse(body).articles
    assert len(arts) == 3 and len({a.id for a in arts}) == 3
    assert arts[0].id == parse(body).articles[0].id


def test_missing_date_is_fetch_time_and_future_date_is_clamped() -> None:
    future = (NOW + timedelta(days=3)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = rss([{"title": "A", "guid": "1", "link": "https://x.example/a"},
                {"title": "B", "guid": "2", "link": "https://x.example/b", "pubDate": future}])
    a, b = parse(body).articles
    assert a.published == NOW and b.published == NOW


def test_empty_items_are_not_articles() -> None:
    body = rss([{"title": "A", "guid": "1", "link": "https://x.example/a"}]).replace(
        b"</channel>", b"<item></item><item><title></title></item></channel>")
    parsed = parse(body)
    assert len(parsed.articles) == 1 and parsed.skipped == 2


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
        b"<body><h1>Forbidden</h1></body></html>",
        b"this is not xml at all",
    ],
)
def test_non_feeds_are_reported_as_such(body: bytes) -> None:
    parsed = parse(body, {"content-type": "text/html"})
    assert parsed.error_kind == "not_a_feed" and parsed.articles == ()
    assert "not" in (parsed.error or "")


def test_atom_and_http_charset() -> None:
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        '<entry><title>Пример</title><id>urn:1</id><link href="https://x.example/r"/>'
        "<updated>2026-05-01T09:00:00Z</updated><summary>Текст</summary></entry></feed>"
    ).encode("koi8-r")
    parsed = parse(atom.replace(b'<?xml version="1.0"?>', b""),
                   {"content-type": "application/atom+xml; charset=koi8-r"})
    [a] = parsed.articles
    assert a.title == "Пример" and a.text == "Текст"
