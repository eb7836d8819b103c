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


def _json_body(item: dict[str, object]) -> bytes:
    import json

    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "N",
                       "items": [item]}).encode()


@pytest.mark.parametrize(("item", "title", "guid", "published"), [
    # a lone surrogate escaped in JSON: no UTF-8 holds it (the store could not write it)
    ({"id": "a\ud800b", "url": "https://n.example/1", "title": "Hi \udc00 there",
      "content_text": "Text \ud83d here."}, "Hi \ufffd there", "a\ufffdb", None),
    # a pair of halves is one character, kept
    ({"id": "p", "url": "https://n.example/2", "title": "Smile \ud83d\ude00"},
     "Smile \U0001F600", "p", None),
    # dates that UTC moves past the calendar: the fetch time
    ({"id": "d1", "url": "https://n.example/3", "title": "Old",
      "date_published": "0001-01-01T00:00:00+01:00"}, "Old", "d1", NOW),
    ({"id": "d2", "url": "https://n.example/4", "title": "Late",
      "date_published": "9999-12-31T23:30:00-01:00"}, "Late", "d2", NOW),
])
def test_json_feed_oddities_parse(item: dict[str, object], title: str, guid: str,
                                  published: datetime | None) -> None:
    p = parse_feed("f", "https://n.example/feed.json", _json_body(item),
                   {"content-type": "application/feed+json"}, NOW)
    assert p.error_kind is None
    (a,) = p.articles
    assert (a.title, a.guid) == (title, guid)
    for value in (a.title, a.text, a.url, a.guid or ""):
        value.encode()  # UTF-8 holds it (UnicodeEncodeError on a lone surrogate)
    if published is not None:
        assert a.published == published


def test_a_json_feed_with_a_huge_integer_is_not_a_feed() -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "n": ' + b"9" * 5000 + b"}"
    p = parse_feed("f", "https://n.example/feed.json", body, {}, NOW)
    assert p.error_kind == "not_a_feed"


def _rss_title(title: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>N</title>'
            f"<item><title>{title}</title><link>https://n.example/1</link><guid>g</guid>"
            "<description>d</description></item></channel></rss>").encode()


@pytest.mark.parametrize(("title", "expected"), [
    ("Smile &#55357;&#56832; now", "Smile \U0001F600 now"),  # an emoji as its two halves
    ("Smile &#xD83D;&#xDE00; now", "Smile \U0001F600 now"),
    ("Lone &#xD83D; half", "Lone \ufffd half"),
    ("Past &#1114112; it", "Past \ufffd it"),
    ("Huge &#99999999999999999999; it", "Huge \ufffd it"),
    ("Nul &#0; it", "Nul \ufffd it"),
    ("Quote &#8217; kept", "Quote \u2019 kept"),
])
def test_character_references_no_text_can_hold(title: str, expected: str) -> None:
    p = parse_feed("f", "https://n.example/rss", _rss_title(title),
                   {"content-type": "application/rss+xml"}, NOW)
    assert p.error_kind is None and [a.title for a in p.articles] == [expected]


def test_a_document_the_parser_fails_on_is_that_feed_s_error() -> None:
    body = _rss_title("x").replace(b'encoding="utf-8"', b'encoding="undefined"')
    p = parse_feed("f", "https://n.example/rss", body, {}, NOW)
    assert p.error_kind == "parse_error" and p.articles == ()
    assert p.error is not None and "UnicodeError" in p.error and "inspect-feed" in p.error


@pytest.mark.parametrize("when", ["Mon, 01 Jan 0001 00:00:00 GMT", "Sat, 31 Dec 1898 12:00:00 GMT"])
def test_a_placeholder_date_counts_as_none(when: str) -> None:
    """.NET writes DateTime.MinValue (year 1) for "no date": the item is undated (its fetch
    time), as one without a date; a real date since 1900 is kept."""
    items = [{"title": "Placeholder", "link": "https://n.example/1", "guid": "1", "pubDate": when},
             {"title": "Dated", "link": "https://n.example/2", "guid": "2",
              "pubDate": "Fri, 01 Jan 1960 12:00:00 GMT"}]
    p = parse_feed("f", "https://n.example/rss", rss(items), {}, NOW)
    assert [a.published for a in p.articles] == [NOW, datetime(1960, 1, 1, 12, tzinfo=UTC)]
    j = parse_feed("f", "https://n.example/feed.json", _json_body(
        {"id": "x", "url": "https://n.example/3", "title": "T",
         "date_published": "0001-01-01T00:00:00Z"}), {}, NOW)
    assert [a.published for a in j.articles] == [NOW]
