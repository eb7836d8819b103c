from __future__ import annotations

import hashlib

import pytest

from watcher.urls import MAX_KEY_BYTES, absolute_url, canonical_url

SAME = [
    ("https://news.example/a/b", "https://news.example/a/b/"),
    ("https://news.example/a/b", "http://www.news.example/a/b"),
    ("https://news.example/a/b", "https://m.news.example/a/b"),
    ("https://news.example/a/b", "https://mobile.news.example/a/b"),
    ("https://news.example/a/b", "https://amp.news.example/a/b"),
    ("https://news.example/a/b", "https://news.example/a/b/amp"),
    ("https://news.example/a/b", "https://news.example/amp/a/b"),
    ("https://news.example/a/b.html", "https://news.example/a/b.amp.html"),
    ("https://news.example/a/b", "https://news.example/a/b?utm_source=rss&utm_medium=x"),
    ("https://news.example/a/b", "https://news.example/a/b?fbclid=abc&gclid=1"),
    ("https://news.example/a/b", "https://news.example/a/b#comments"),
    ("https://news.example/a/b", "https://NEWS.example:443/a/b"),
    ("https://news.example/a?id=1&p=2", "https://news.example/a?p=2&id=1&utm_campaign=z"),
    ("https://news.example/a/b", "https://news.example/a/b?amp=1"),
    ("https://news.example/a/b", "https://news.example/a/b?outputType=amp"),
]

DIFFERENT = [
    ("https://news.example/a/b", "https://news.example/a/c"),
    ("https://news.example/a?id=1", "https://news.example/a?id=2"),
    ("https://news.example/a", "https://other.example/a"),
    ("https://news.example/a/b", "https://news.example:8080/a/b"),
    ("https://news.example/example", "https://news.example/exampl"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_variants_share_a_canonical_url(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_items_keep_different_canonical_urls(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("/x/y", "https://feed.example/rss.xml", "https://feed.example/x/y"),
        ("y", "https://feed.example/news/rss.xml", "https://feed.example/news/y"),
        ("https://other.example/z", "https://feed.example/rss", "https://other.example/z"),
        ("javascript:alert(1)", "https://feed.example/rss", None),
        ("mailto:a@b.example", "https://feed.example/rss", None),
        ("", "https://feed.example/rss", None),
        ("file:///etc/passwd", "https://feed.example/rss", None),
        # control characters: tabs and line breaks dropped, the others percent-encoded
        ("https://feed.example/a\x00b", "https://feed.example/rss", "https://feed.example/a%00b"),
        ("/a\nb\tc", "https://feed.example/rss", "https://feed.example/abc"),
        ("\r\nhttps://feed.example/a?q=\x1f\x7f", "https://feed.example/rss",
         "https://feed.example/a?q=%1F%7F"),
        ("https://feed.example/\u00e9t\u00e9", "https://feed.example/rss",
         "https://feed.example/\u00e9t\u00e9"),  # (printable: left as it is)
    ],
)
def test_absolute_url(link: str, base: str, expected: str | None) -> None:
    assert absolute_url(link, base) == expected


@pytest.mark.parametrize("path", [
    "a" * 5000,  # ASCII
    "\u00e9" * 1500,  # two bytes each: 3,000 bytes in 1,500 characters
    "\u6771" * 700 + "x" * 10,  # three bytes each, cut inside one
])
def test_a_very_long_key_is_cut_and_ends_in_a_digest(path: str) -> None:
    url = f"https://www.news.example/{path}?utm_source=feed"
    key = canonical_url(url)
    assert len(key.encode()) <= MAX_KEY_BYTES and key.startswith("https://news.example/")
    assert key == canonical_url(f"https://news.example/{path}")  # variants still share it
    assert key != canonical_url(f"https://news.example/{path}b")  # others do not
    assert key.rsplit("#sha256=", 1)[1] == hashlib.sha256(
        f"https://news.example/{path}".encode()).hexdigest()


def test_a_key_at_the_limit_is_kept_whole() -> None:
    url = "https://news.example/" + "a" * (MAX_KEY_BYTES - len("https://news.example/"))
    assert canonical_url(url) == url
    assert "#sha256=" in canonical_url(url + "a")
