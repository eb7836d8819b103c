"""The fast paths give exactly what the reference paths give.

- clean: lxml's tree walked directly (`_Tree`) against BeautifulSoup (`_Soup`); the paragraph-wide
  sentence scoring against `_score_sentence` one sentence at a time; the rewritten quotation
  masking, sentence splitting, tail stripping and character table against their originals
  (copied below as they were).
- parse: `_fast_document` (lxml, no feedparser) against feedparser, on generated documents and on
  ../shared/corpus/feeds when present.
"""

from __future__ import annotations

import csv
import html
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from watcher import clean, parse
from watcher.clean import (
    _ABBREVIATIONS,
    _CHAR_TABLE,
    _CLOSING_QUOTES,
    _LAST_WORD_RE,
    _OPENERS,
    _QUOTE_CHARS,
    _REPORTING_RE,
    _SENTENCE_END_RE,
    _TAIL_RES,
    _TRUNCATION_RE,
    _markup_to_text,
    _markup_to_text_bs4,
    _normalise,
    _opens_quote,
)

pytestmark = pytest.mark.filterwarnings("ignore::bs4.XMLParsedAsHTMLWarning")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
URL = "https://feeds.example/section/feed.xml"

# ---
# clean: HTML


_TAGS = ["p", "div", "span", "a", "b", "em", "br", "pre", "textarea", "template", "rt", "rp",
         "ruby", "script", "style", "table", "tr", "td", "th", "ul", "li", "h2", "blockquote",
         "figure", "figcaption", "img", "iframe", "noscript", "aside", "nav", "footer", "form",
         "button", "svg", "font", "small", "code", "hr", "html", "body", "head", "title", "o:p",
         "foo", "select", "option", "caption"]
_ATTRS = ['class="share"', 'class="social-links"', 'class="article body"', 'id="newsletter"',
          'class="tweet"', "hidden", 'aria-hidden="true"', 'aria-hidden="TRUE"',
          'style="display:none"', 'style="visibility: hidden"', 'class=""', 'class="ad"',
          'id="main"', 'class="related-posts"', 'href="/x"', "class='embed'", 'data-x="1"']
_TEXTS = ["hello", "world", "  ", "\n", "\n\n  ", "\t", " a b ", "&amp;", "&nbsp;", "&#8217;",
          "x&lt;y", "<", ">", "&", "Troops said 5 people died.", "\r\n", "\xa0", "“quote”", "é",
          "\u2003", "&bogus;", "]]>", "&#0;", "text\x0c", "&amp;#39;", "country #39;s"]
_SPECIAL = ["<!-- comment -->", "<!---->", "<![CDATA[cdata]]>", "<?php echo 1 ?>",
            "<!DOCTYPE html>", "<?xml version='1.0'?>", "</p>", "</div>", "</b>", "<p/>",
            "<br/>", "</br>", "<", "< p>", "<p", "<!--", "-->", "<a href='x'>", "</a>",
            "&lt;p&gt;escaped&lt;/p&gt;"]


def _markup(rng: random.Random, depth: int = 0) -> str:
    out = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.35:
            out.append(rng.choice(_TEXTS))
        elif r < 0.45:
            out.append(rng.choice(_SPECIAL))
        elif depth < 6:
            tag = rng.choice(_TAGS)
            attrs = " ".join(rng.sample(_ATTRS, rng.randint(0, 2))) if rng.random() < 0.4 else ""
            close = f"</{tag}>" if rng.random() < 0.8 else ""
            out.append(f"<{tag}{' ' + attrs if attrs else ''}>{_markup(rng, depth + 1)}{close}")
    return "".join(out)


EDGE_MARKUP = [
    "<div>" * 300 + "deep" + "</div>" * 300 + "<p>after</p>",
    "<div>" * 254 + "x" + "</div>" * 254,
    "<pre>  a\n   b  </pre><textarea> t\n </textarea>",
    "<template><p class='share'>t</p></template><rt class='share'>r</rt><p>" + "w " * 50,
    "<div class='newsletter'>" + "x" * 10 + "</div><p>" + "y" * 30 + "</p>",
    "<div class='newsletter'>" + "x" * 30 + "</div><p>" + "y" * 10 + "</p>",
    "<div class='share'><pre>   </pre>\n\n   </div>" + "<p>z</p>" * 3,
    "\ufeff<p>bom</p>", "<p>a</p><!--c--> tail", "  <b>x", "<!---->", "a<!-- c --> <!-- d -->b",
    "<table><tr><td>1</td><td>2</td></tr></table>", "<p>a<br>b<br/>c</p>",
]


def _same_text(markup: str) -> None:
    """html_to_text gives what it gave with BeautifulSoup; and so does each parse, up to white
    space that html_to_text's final normalisation folds (lxml's tree leaves out a few
    white-space-only strings that BeautifulSoup's events keep, e.g. before the first tag)."""
    fast = clean.html_to_text(markup)
    saved = clean._markup_to_text
    clean._markup_to_text = _markup_to_text_bs4
    try:
        reference = clean.html_to_text(markup)
    finally:
        clean._markup_to_text = saved
    assert fast == reference, markup
    assert _normalise(_markup_to_text(markup)) == _normalise(_markup_to_text_bs4(markup)), markup


@pytest.mark.parametrize("markup", EDGE_MARKUP)
def test_lxml_walk_matches_beautifulsoup_on_edge_cases(markup: str) -> None:
    _same_text(markup)


def test_lxml_walk_matches_beautifulsoup_on_generated_markup() -> None:
    rng = random.Random(20261128)
    for _ in range(800):
        _same_text(_markup(rng))


def _corpus_entry_texts(limit: int) -> list[str]:
    path = SHARED / "feeds" / "MANIFEST.tsv"
    if not path.exists():
        return []
    out: list[str] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            parsed = feedparser.parse((SHARED / "feeds" / row["path"]).read_bytes(),
                                      sanitize_html=False, resolve_relative_uris=False)
            for e in parsed.entries:
                out.append(str(e.get("summary") or ""))
                out.extend(str(c.get("value") or "") for c in e.get("content") or [])
    return [t for t in out if t][:limit]


@pytest.mark.skipif(not (SHARED / "feeds").exists(), reason="../shared/corpus is not present")
def test_lxml_walk_matches_beautifulsoup_on_real_feed_entries() -> None:
    texts = _corpus_entry_texts(800)
    assert len(texts) == 800
    for text in texts:
        _same_text(text)


def test_translate_matches_str_translate() -> None:
    rng = random.Random(7)
    chars = [chr(c) for c in range(0x3100)] + ["\U000e0001", "\U000e007f", "\U0001f600"]
    for _ in range(3000):
        s = "".join(rng.choice(chars) for _ in range(rng.randint(0, 30)))
        assert clean._translate(s) == s.translate(_CHAR_TABLE)


# ---
# clean: boilerplate. The originals of the rewritten helpers, as they were:


def _mask_quotations_original(text: str) -> str:
    chars = list(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            chars[k] = " "

    start = -1
    opener = ""
    seen = False
    for i, c in enumerate(text):
        if c not in _QUOTE_CHARS:
            continue
        if start >= 0:
            if c in _CLOSING_QUOTES or c == '"' or (c == "“" and opener == "„"):
                blank(start + 1, i)
                start = -1
        elif _opens_quote(text, i):
            start, opener = i, c
        elif not seen:
            blank(0, i)
        seen = True
    if start >= 0:
        blank(start + 1, len(text))
    return "".join(chars)


def _sentence_spans_original(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        nxt = m.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if nxt >= len(text):
            break
        first = nxt
        while first < len(text) and text[first] in _OPENERS:
            first += 1
        if first >= len(text) or not (text[first].isupper() or text[first].isdigit()):
            continue
        if m.group().rstrip("\"'”’»)]") == ".":
            word = _LAST_WORD_RE.search(text, start, m.start())
            if word is not None:
                token = word.group(1)
                if token.lower() in _ABBREVIATIONS or (len(token) == 1 and token.isupper()):
                    continue
        spans.append((start, m.end()))
        start = nxt
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _strip_tails_original(paragraph: str) -> str:
    for pattern in _TAIL_RES:
        m = pattern.search(paragraph)
        if m is not None and _REPORTING_RE.search(m.group().lower()) is None:
            paragraph = paragraph[: m.start()]
    return _TRUNCATION_RE.sub("", paragraph).strip()


# Words and pieces that the scoring patterns react to, to build paragraphs that exercise them.
_PIECES = [
    "said", "told Reuters", "according to", "they asked", "posted on", "killed", "troops",
    "clashes", "you", "your", "you're", "we", "our", "us", "we've", "donate", "donation",
    "your support", "support our journalism", "independent journalism", "our work", "help us",
    "subscribe", "newsletter", "inbox", "sign up", "log in", "cookies", "privacy policy",
    "follow us on Twitter", "share this", "please support", "just a minute", "$5 a month",
    "€3", "10 dollars", "$50 million", "2,300", "3.5", "A-380", "Pashinyan", "Yerevan",
    "U.S.", "Mr.", "Dr.", "Gen.", "e.g.", "No.", "St.", "read more", "Continue reading",
    "The post X appeared first on Y", "This article was originally published on Z",
    "[…]", "(more…)", "Click here", "all rights reserved", "©", "Advertisement", "Share",
    "Tweet", "Remind me later", "“", "”", '"', "«", "»", "„", "'", "’", "(", ")",
    "İ", "ı", "ſ", "K", "leer más", "читать далее", "lire la suite", "Weiterlesen",
]
_ENDS = [". ", "! ", "? ", "… ", ".” ", ". ", ".' ", " ", ", ", "; ", ": ", " - "]


def _paragraph_text(rng: random.Random) -> str:
    words: list[str] = []
    for _ in range(rng.randint(1, 40)):
        r = rng.random()
        if r < 0.45:
            words.append(rng.choice(_PIECES))
        elif r < 0.8:
            words.append(rng.choice(["the", "a", "village", "Border", "It", "people", "5"]))
        else:
            words.append(rng.choice(_ENDS).strip() or ".")
        words.append(rng.choice([" ", " ", " ", "", "  "]))
    return "".join(words).strip()


def _paragraphs() -> list[str]:
    rng = random.Random(11)
    out = [_paragraph_text(rng) for _ in range(2000)]
    stories = SHARED / "stories" / "dev.jsonl"
    if stories.exists():
        with stories.open(encoding="utf-8") as fh:
            for k, line in enumerate(fh):
                if k >= 150:
                    break
                out.extend(p for p in json.loads(line)["text"].split("\n") if p.strip())
    return out


def test_rewritten_helpers_match_their_originals() -> None:
    for text in _paragraphs():
        assert clean._mask_quotations(text) == _mask_quotations_original(text), text
        assert clean._sentence_spans(text) == _sentence_spans_original(text), text
        assert clean._strip_tails(text) == _strip_tails_original(text), text


def test_paragraph_scoring_matches_sentence_by_sentence_scoring() -> None:
    checked = 0
    for text in _paragraphs():
        text = clean._strip_tails(text)
        if not text:
            continue
        masked = clean._mask_quotations(text)
        spans = clean._sentence_spans(text)
        reference = [clean._score_sentence(text, masked, s, e) for s, e in spans]
        assert clean._score_sentences(text, masked, spans) == reference, text
        checked += 1
    assert checked > 1500


# ---
# parse: the lxml path against feedparser


_VALUES = ["Hello", "  spaced  ", "", "A &amp; B", "café", "cafÃ©", "x\x92s", "<b>bold</b>",
           "&lt;i&gt;it&lt;/i&gt;", "line\nbreak", "’quote’", "Troops said 5 people died.",
           "\t\n", "&#233;té", "1 &lt; 2"]
_LINKS = ["https://a.example/x", "/rel/path", "rel2", "  https://a.example/sp  ", "",
          "https://a.example/q?a=1&amp;b=2", "http:///triple", "javascript:alert(1)",
          "//proto.example/p", "https://a.example/x#frag", "mailto:x@y.example",
          "HTTPS://A.EXAMPLE/Up"]
_DATES = ["Fri, 01 May 2026 10:00:00 +0200", "2026-05-01T10:00:00Z", "2026-05-01", "garbage", "",
          "Sat, 31 Dec 2099 00:00:00 GMT", "2026-04-30T23:59:59.123+05:30",
          "Mon, 32 Feb 2026 10:00:00 +0000"]


def _text(rng: random.Random) -> str:
    t = rng.choice(_VALUES)
    if rng.random() < 0.3 and "]]>" not in t:
        return "<![CDATA[" + html.unescape(t) + "]]>"
    return t if "&" in t and ";" in t and rng.random() < 0.5 else html.escape(t, quote=False)


def _rss_item(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 8)):
        k = rng.randrange(21)
        parts.append([
            lambda: f"<title>{_text(rng)}</title>",
            lambda: f"<Title>{_text(rng)}</Title>",
            lambda: f"<link>{html.escape(rng.choice(_LINKS))}</link>",
            lambda: "<guid{}>{}</guid>".format(
                rng.choice(["", ' isPermaLink="false"', ' isPermaLink="true"',
                            ' isPermaLink="False"']),
                html.escape(rng.choice([*_LINKS, "id-1", "id-1", "urn:x:1"]))),
            lambda: f"<description>{_text(rng)}</description>",
            lambda: f"<summary>{_text(rng)}</summary>",
            lambda: f"<pubDate>{rng.choice(_DATES)}</pubDate>",
            lambda: f"<content:encoded>{_text(rng)}</content:encoded>",
            lambda: "<author>a@b.example (A)</author>",
            lambda: '<category domain="d">cat</category>',
            lambda: "<comments>/c</comments>",
            lambda: '<enclosure url="/e.mp3" length="1" type="audio/mpeg"/>',
            lambda: "<dc:creator>Someone</dc:creator>",
            lambda: f"<dc:date>{rng.choice(_DATES)}</dc:date>",
            lambda: f"<dc:title>{_text(rng)}</dc:title>",
            lambda: '<media:content url="https://m.example/i.jpg" medium="image"/>',
            lambda: "<slash:comments>3</slash:comments><foo:bar>z</foo:bar>",
            lambda: '<atom:link rel="{}" href="{}"/>'.format(
                rng.choice(["alternate", "self", "Alternate"]), html.escape(rng.choice(_LINKS))),
            lambda: "<!-- c -->",
            lambda: '<source url="https://s.example/">S</source>',
            lambda: "<media:thumbnail url='https://m.example/t.jpg'/>",
        ][k]())
    return "<item>" + "\n".join(parts) + "</item>"


def _atom_entry(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 8)):
        k = rng.randrange(11)
        parts.append([
            lambda: "<title{}>{}</title>".format(
                rng.choice(["", ' type="html"', ' type="text"', ' type="xhtml"']), _text(rng)),
            lambda: '<link{}{} href="{}"/>'.format(
                rng.choice(["", ' rel="alternate"', ' rel="self"', ' rel="ALTERNATE"']),
                rng.choice(["", ' type="text/html"', ' type="application/pdf"', ' type="html"']),
                html.escape(rng.choice(_LINKS))),
            lambda: "<id>{}</id>".format(html.escape(
                rng.choice([*_LINKS, "tag:x.example,2026:1", "urn:uuid:1", "rel-id"]))),
            lambda: "<summary{}>{}</summary>".format(rng.choice(["", ' type="html"']),
                                                     _text(rng)),
            lambda: "<content{}>{}</content>".format(
                rng.choice(["", ' type="html"', ' type="text"', ' type="image/png"']),
                _text(rng)),
            lambda: f"<published>{rng.choice(_DATES)}</published>",
            lambda: f"<updated>{rng.choice(_DATES)}</updated>",
            lambda: "<author><name>N</name><uri>/u</uri><email>e@x.example</email></author>",
            lambda: '<category term="t"/>',
            lambda: "<x:foo>1</x:foo>",
            lambda: "<rights>r</rights>",
        ][k]())
    return "<entry>" + "\n".join(parts) + "</entry>"


def _document(rng: random.Random) -> bytes:
    title = "" if rng.random() < 0.2 else f"<title>{_text(rng)}</title>"
    if rng.random() < 0.55:
        ns = ('xmlns:content="http://purl.org/rss/1.0/modules/content/" '
              'xmlns:dc="http://purl.org/dc/elements/1.1/" '
              'xmlns:media="http://search.yahoo.com/mrss/" '
              'xmlns:slash="http://purl.org/rss/1.0/modules/slash/" '
              'xmlns:foo="http://foo.example/ns" xmlns:atom="http://www.w3.org/2005/Atom"')
        items = "".join(_rss_item(rng) for _ in range(rng.randint(0, 6)))
        version = rng.choice(["2.0", "2.0", "2.01", "0.92"])
        doc = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="{version}" {ns}><channel>'
               f"{title}<link>https://a.example/</link>{items}</channel></rss>")
    else:
        entries = "".join(_atom_entry(rng) for _ in range(rng.randint(0, 6)))
        doc = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
               f'xmlns:x="http://x.example/">{title}<id>urn:f</id>{entries}</feed>')
    body = doc.encode("utf-8")
    if rng.random() < 0.05:
        body = body.replace(b"<item>", b"<item><bad>", 1)  # not well-formed
    return body


def _both(body: bytes, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch,
          ) -> tuple[bool, parse.StagedFeed, parse.StagedFeed]:
    """Whether the fast path takes the document, and stage_feed with and without it (the same
    feedparser call twice when it does not take it: then only the first is made)."""
    taken = parse._fast_document(body, headers | {"content-location": URL}, URL) is not None
    fast = parse.stage_feed("f", URL, body, headers, NOW)
    if not taken:
        return False, fast, fast
    monkeypatch.setattr(parse, "FAST_PARSE", False)
    slow = parse.stage_feed("f", URL, body, headers, NOW)
    monkeypatch.setattr(parse, "FAST_PARSE", True)
    return True, fast, slow


def test_fast_feed_path_matches_feedparser_on_generated_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(5)
    headers = [{"content-type": "application/rss+xml; charset=utf-8"},
               {"content-type": "application/atom+xml"}, {"content-type": "text/xml"}]
    taken = 0
    for _ in range(1500):
        body = _document(rng)
        took, fast, slow = _both(body, rng.choice(headers), monkeypatch)
        taken += took
        assert fast == slow, body
    assert taken > 200  # the fast path is exercised, not only the fallback


@pytest.mark.skipif(not (SHARED / "feeds").exists(), reason="../shared/corpus is not present")
def test_fast_feed_path_matches_feedparser_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = 0
    with (SHARED / "feeds" / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        body = (SHARED / "feeds" / row["path"]).read_bytes()
        ctype = "application/atom+xml" if row["format"].startswith("atom") else "application/xml"
        took, fast, slow = _both(body, {"content-type": ctype}, monkeypatch)
        taken += took
        assert fast == slow, row["path"]
    assert taken > 50


def test_plain_rss_and_atom_do_not_need_feedparser(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("feedparser.parse was called")

    rss = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
           b"<item><title>A &amp; B</title><link>/a?x=1&amp;y=2</link><guid>g1</guid>"
           b"<pubDate>Fri, 01 May 2026 10:00:00 +0200</pubDate>"
           b"<description><![CDATA[<p>Troops exchanged fire.</p>]]></description></item>"
           b"</channel></rss>")
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">T</title><entry>'
            b'<id>rel-id</id><link href="/e"/><title>E</title><updated>2026-05-01T09:00:00Z'
            b'</updated><content type="html">&lt;p&gt;Text&lt;/p&gt;</content></entry></feed>')
    expected = {}
    for name, body, ctype in (("rss", rss, "application/rss+xml"),
                              ("atom", atom, "application/atom+xml")):
        expected[name] = parse.parse_feed("f", URL, body, {"content-type": ctype}, NOW)
    monkeypatch.setattr(feedparser, "parse", refuse)
    monkeypatch.setattr(parse.feedparser, "parse", refuse)
    for name, body, ctype in (("rss", rss, "application/rss+xml"),
                              ("atom", atom, "application/atom+xml")):
        assert parse.parse_feed("f", URL, body, {"content-type": ctype}, NOW) == expected[name]
    [a] = expected["rss"].articles
    assert (a.title, a.url, a.text) == ("A & B", "https://feeds.example/a?x=1&y=2",
                                        "Troops exchanged fire.")
    [e] = expected["atom"].articles
    assert e.url == "https://feeds.example/e" and e.guid == "https://feeds.example/section/rel-id"
    assert re.fullmatch(r"[0-9a-f]{24}", e.id)


def test_plain_url_shortcut_matches_urljoin() -> None:
    """`parse._fp_urljoin` and `parse._absolute_url` return a plain absolute URL as it is: what
    feedparser's _urljoin and watcher.urls.absolute_url return, whatever the base."""
    from feedparser.urls import _urljoin

    from watcher.urls import absolute_url

    rng = random.Random(11)
    alphabet = "aZ09.-_~%+=&,/?#;:@ \t\nHhTtPpSs"
    prefixes = ("https://", "http://", "HTTP://", "https:///", "ftp://", "", "//",
                "https://a.example", "http://x.example/p", "https://[::1]", "https://u@h")
    bases = ("https://news.example/feed", "http://b.example/a/b?x=1", "", "ftp://f.example/")
    plain = 0
    for _ in range(40_000):
        url = rng.choice(prefixes) + "".join(rng.choice(alphabet)
                                             for _ in range(rng.randint(0, 12)))
        base = rng.choice(bases)
        plain += parse._PLAIN_URL_RE.fullmatch(url) is not None
        assert parse._fp_urljoin(base, url) == _urljoin(base, url), (base, url)
        assert parse._absolute_url(url, base) == absolute_url(url, base), (base, url)
    assert plain > 1000  # the shortcut is exercised


def test_item_count_matches_the_xpath_count() -> None:
    """`parse._walk` counts items and entries with lxml's iter(): as the XPath count did."""
    from lxml import etree

    xpath = ("count(//*[translate(local-name(), 'ITEMNRY', 'itemnry')='item' or "
             "translate(local-name(), 'ITEMNRY', 'itemnry')='entry'])")
    rng = random.Random(4)
    names = ("item", "ITEM", "Item", "iTeM", "entry", "ENTRY", "eNtRy", "items", "entr", "ıtem",
             "x", "channel", "a:item", "a:Entry", "b:ENTRY", "b:x")
    checked = 0
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(0, 12)):
            name = rng.choice(names)
            parts.append(f"<{name}>" + ("<!-- c --><?pi x?>" if rng.random() < 0.2 else "")
                         + f"</{name}>")
        root_name = rng.choice(names)
        doc = (f'<{root_name} xmlns:a="urn:a" xmlns:b="urn:b">{"".join(parts)}</{root_name}>')
        root = etree.fromstring(doc.encode())
        count = sum(1 for _ in root.iter(*parse._ITEM_TAGS))
        assert count == int(root.xpath(xpath)), doc
        checked += count > 0
    assert checked > 100
