"""Full text: an article page is decoded as a browser decodes it (byte order mark, then the HTTP
charset, then a <meta> charset, else UTF-8), and an extracted text that is mostly U+FFFD never
replaces the feed's text. Pages are served over real HTTP from 127.0.0.1."""

from __future__ import annotations

import codecs
import logging

import pytest

from watcher.fulltext import decode_page, enrich

from .feedserver import FeedServer, Route
from .test_fulltext_limits import CFG, TEASER, article, watches

RU = ["Азербайджан обстрелял армянские позиции у границы, сообщило министерство обороны "
      "Армении в понедельник утром.",
      "По данным министерства, в результате обстрела погибли 17 человек, ещё 30 получили "
      "ранения в приграничных сёлах.",
      "Баку отверг обвинения и заявил, что армянская сторона первой открыла огонь по "
      "азербайджанским позициям."]
META = '<meta charset="windows-1251">'
HTTP_EQUIV = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'


def page(head: str = "", paragraphs: list[str] = RU) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head>{head}<title>Граница</title></head><body>"
            f"<article><h1>Обстрел</h1>{body}</article></body></html>")


def test_pages_in_a_charset_named_in_the_page_are_read_in_it() -> None:
    routes = {
        "/meta": Route(body=page(META).encode("cp1251"), content_type="text/html"),
        "/http-equiv": Route(body=page(HTTP_EQUIV).encode("cp1251"), content_type="text/html"),
        "/bom": Route(body=codecs.BOM_UTF16_LE + page().encode("utf-16-le"),
                      content_type="text/html"),
        # the header names the charset, the page another: the header wins
        "/header": Route(body=page('<meta charset="koi8-r">').encode("cp1251"),
                         content_type="text/html; charset=windows-1251"),
    }
    with FeedServer() as srv:
        srv.routes.update(routes)
        out, stats = enrich([article(srv, p) for p in routes], watches(), CFG)
    assert stats.fetched == 4 and stats.fallback == 0
    for a in out:
        assert "погибли 17 человек" in a.text, a.id
        assert "\ufffd" not in a.text, a.id


def test_a_page_read_as_mostly_undecodable_keeps_the_feed_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FeedServer() as srv:  # windows-1251, declared nowhere: read as UTF-8
        srv.routes["/ru"] = Route(body=page().encode("cp1251"), content_type="text/html")
        with caplog.at_level(logging.INFO, logger="watcher.fulltext"):
            out, stats = enrich([article(srv, "/ru")], watches(), CFG)
    assert stats.fetched == 0 and stats.fallback == 1
    assert out[0].text == TEASER
    assert "(mostly undecodable characters)" in caplog.text


CAFE = "caf\u00e9"


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    # the HTTP charset
    (CAFE.encode(), "text/html; charset=utf-8", CAFE),
    (CAFE.encode(), "text/html; charset=latin-1", "caf\u00c3\u00a9"),  # as declared, if wrong
    (CAFE.encode("cp1252"), 'text/html; Charset="ISO-8859-1"', CAFE),
    (b"\x93q\x94", "text/html; charset=iso-8859-1", "\u201cq\u201d"),  # read as windows-1252
    # labels that name no text encoding, or none: the page is read as UTF-8
    (CAFE.encode(), "text/html; charset=idna", CAFE),
    (CAFE.encode(), "text/html; charset=punycode", CAFE),
    (CAFE.encode(), "text/html; charset=undefined", CAFE),
    (CAFE.encode(), "text/html; charset=base64", CAFE),
    (CAFE.encode(), "text/html; charset=no-such-thing", CAFE),
    (b"\\ud800 \\x07", "text/html; charset=unicode_escape", "\\ud800 \\x07"),
    (b"\\ud800", "text/html; charset=raw_unicode_escape", "\\ud800"),
    (b"+AGEAYgBj-", "text/html; charset=utf-7", "+AGEAYgBj-"),
    (CAFE.encode(), "text/html; charset=a\x00b", CAFE),
    (CAFE.encode(), "text/html", CAFE),
    (CAFE.encode(), "", CAFE),
    # a byte order mark wins over the header and is not part of the text
    (codecs.BOM_UTF8 + CAFE.encode(), "text/html; charset=windows-1251", CAFE),
    (codecs.BOM_UTF16_BE + CAFE.encode("utf-16-be"), "text/html; charset=utf-8", CAFE),
    (codecs.BOM_UTF16_LE + CAFE.encode("utf-16-le"), "", CAFE),
    # a <meta> charset, when the header names none
    (f'<meta charset="windows-1251">{RU[0]}'.encode("cp1251"), "text/html",
     f'<meta charset="windows-1251">{RU[0]}'),
    (f"<META CHARSET=windows-1251>{RU[0]}".encode("cp1251"), "text/html",
     f"<META CHARSET=windows-1251>{RU[0]}"),
    (f"<meta content='text/html; charset=koi8-r' http-equiv='content-type'>{RU[0]}"
     .encode("koi8-r"), "text/html; charset=bogus",
     f"<meta content='text/html; charset=koi8-r' http-equiv='content-type'>{RU[0]}"),
    # ... not one in a comment, or in a content without http-equiv, or naming no encoding
    (f'<!-- <meta charset="koi8-r"> --><meta charset="windows-1251">{RU[0]}'.encode("cp1251"),
     "", f'<!-- <meta charset="koi8-r"> --><meta charset="windows-1251">{RU[0]}'),
    (f'<meta content="text/html; charset=windows-1251">{CAFE}'.encode(), "",
     f'<meta content="text/html; charset=windows-1251">{CAFE}'),
    (f'<meta charset="base64"><meta charset="utf-8">{CAFE}'.encode(), "",
     f'<meta charset="base64"><meta charset="utf-8">{CAFE}'),
    # a UTF-16 label in the page reads as UTF-8 (its markup was readable as ASCII)
    (f'<meta charset="utf-16">{CAFE}'.encode(), "", f'<meta charset="utf-16">{CAFE}'),
])
def test_decode_page(body: bytes, content_type: str, expected: str) -> None:
    assert decode_page(body, content_type) == expected


def test_a_meta_charset_is_looked_for_at_the_start_of_the_page_only() -> None:
    from watcher.fulltext import PRESCAN_BYTES

    late = b" " * PRESCAN_BYTES + '<meta charset="windows-1251">ж'.encode("cp1251")
    assert decode_page(late, "").endswith("\ufffd")
    early = b" " * (PRESCAN_BYTES - 40) + '<meta charset="windows-1251">ж'.encode("cp1251")
    assert decode_page(early, "").endswith("ж")
