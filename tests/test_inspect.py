"""`watcher inspect-feed`, the real console script against a feed server on 127.0.0.1 and local
files: JSON lines on stdout, the verdict on stderr, exit 0 for a feed (any number of articles),
3 for what is not a feed or cannot be fetched, never a traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from .articles import (
    APPEAL_MARKERS,
    BORDER_PARAGRAPHS,
    BORDER_TITLE,
    border_html,
    now_minus,
    rss_feed,
    rss_item,
)
from .feedserver import FeedServer, Route
from .test_cli import assert_clean, run_cli

FEED = rss_feed([
    rss_item(BORDER_TITLE, "/news/frontier?utm_source=rss", "border-1", border_html(),
             now_minus(30)),
    rss_item("Talks <b>resume</b> in Geneva", "https://wire.example/talks", "talks-1",
             "<p>Delegations met for a second day.</p>", now_minus(90)),
])
EMPTY_FEED = rss_feed([])
PAGE = b"<!doctype html><html><head><title>Home</title></head><body><p>Hello</p></body></html>"


@pytest.fixture
def server():
    with FeedServer() as s:
        s.routes["/feed.xml"] = Route(body=FEED)
        s.routes["/gz.xml"] = Route(body=FEED, gzip=True)
        s.routes["/empty.xml"] = Route(body=EMPTY_FEED)
        s.routes["/page"] = Route(body=PAGE, content_type="text/html; charset=utf-8")
        s.routes["/blank"] = Route(body=b"", content_type="application/rss+xml")
        yield s


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/feed.xml", "/gz.xml"])
def test_json_lines_for_a_feed_url(server: FeedServer, path: str) -> None:
    proc = run_cli(["inspect-feed", "--json", server.url(path)])
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"source", "id", "url", "title", "published", "text"} <= set(row)
        assert row["source"] == server.url(path)
        assert row["url"].startswith(("http://", "https://"))  # relative links resolved
    border, talks = rows
    assert border["url"].startswith(server.url("/news/frontier"))
    assert "<b>" not in talks["title"] and talks["title"] == "Talks resume in Geneva"
    assert BORDER_PARAGRAPHS[1] in border["text"]  # the body as text ...
    assert not any(m in border["text"] for m in APPEAL_MARKERS)  # ... without the appeal
    assert f"{server.url(path)}: feed 'Test wire' (rss20), 2 articles" in proc.stderr


@pytest.mark.integration
def test_a_feed_without_articles_is_still_a_feed(server: FeedServer) -> None:
    proc = run_cli(["inspect-feed", "--json", server.url("/empty.xml")])
    assert_clean(proc)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert "0 articles" in proc.stderr


@pytest.mark.integration
@pytest.mark.parametrize(("path", "says"), [
    ("/page", "NOT A FEED"),
    ("/blank", "NOT A FEED"),
    ("/missing", "FETCH FAILED: http: HTTP 404"),
])
def test_what_is_not_a_feed_exits_3(server: FeedServer, path: str, says: str) -> None:
    proc = run_cli(["inspect-feed", "--json", server.url(path)])
    assert_clean(proc)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and says in proc.stderr, proc.stderr


@pytest.mark.integration
def test_local_files_and_a_mix_of_targets(server: FeedServer, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    packed = tmp_path / "page.html.gz"
    packed.write_bytes(gzip.compress(PAGE))
    proc = run_cli(["inspect-feed", str(feed), "--base-url", "https://wire.example/"])
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr
    assert "feed 'Test wire' (rss20), 2 articles" in proc.stdout
    assert "https://wire.example/news/frontier" in proc.stdout  # resolved against --base-url
    # a feed, a file that is not one, a file that does not exist: exit 3, each one reported
    proc = run_cli(["inspect-feed", str(feed), str(packed), str(tmp_path / "nope.xml"),
                    server.url("/feed.xml")])
    assert_clean(proc)
    assert proc.returncode == 3
    assert proc.stdout.count("2 articles") == 2 and "NOT A FEED" in proc.stdout
    assert "nope.xml: FETCH FAILED: cannot read" in proc.stderr


@pytest.mark.parametrize("target", ["http://[::1", "http://[::1/feed"])
def test_a_url_that_cannot_be_split_is_a_failed_fetch(target: str) -> None:
    proc = run_cli(["inspect-feed", "--json", target])
    assert_clean(proc)
    assert proc.returncode == 3 and "FETCH FAILED" in proc.stderr, proc.stderr


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    """The OS keeps its bytes as lone surrogates: before, parsing failed on them (the file was
    called NOT A FEED) and --json could not print them."""
    feed = tmp_path / "wire\udcff.xml"  # the name's bytes: b"wire\xff.xml"
    feed.write_bytes(FEED)
    missing = tmp_path / "gone\udcfe.xml"
    for args in (["inspect-feed", str(feed)], ["inspect-feed", "--json", str(feed), str(missing)]):
        proc = run_cli(args)
        assert_clean(proc)
        assert "wire\ufffd.xml: feed 'Test wire' (rss20), 2 articles" in proc.stdout + proc.stderr
    assert proc.returncode == 3 and "gone\ufffd.xml: FETCH FAILED: cannot read" in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2 and {r["source"] for r in rows} == {str(tmp_path / "wire\ufffd.xml")}
