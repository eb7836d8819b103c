from __future__ import annotations

import pytest

from watcher.urls import absolute_url, canonical_url

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
    ],
)
def test_absolute_url(link: str, base: str, expected: str | None) -> None:
    assert absolute_url(link, base) == expected
