"""Limits on what one feed can cost: items per run, characters per article, redirects per fetch,
article fetches per run. One hostile feed cannot starve the others."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from watcher.config import FeedConfig, FetchConfig, parse_config
from watcher.fetch import fetch_feeds
from watcher.parse import parse_feed
from watcher.pipeline import render_summary, run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport

from .articles import rss_feed, rss_item
from .feedserver import FeedServer, Route

NOW = datetime.now(UTC).replace(microsecond=0)


def _flood(n: int, words: int = 5) -> bytes:
    return rss_feed([
        rss_item(f"Item {i}", f"https://example.org/{i}", f"g{i}",
                 "<p>" + " ".join(["word"] * words) + "</p>", NOW - timedelta(minutes=i))
        for i in range(n)
    ])


def test_parse_takes_the_first_max_items_entries_and_counts_the_rest() -> None:
    parsed = parse_feed("f", "https://example.org/f", _flood(30), {}, NOW, max_items=10)
    assert [a.title for a in parsed.articles] == [f"Item {i}" for i in range(10)]
    assert parsed.capped == 20
    assert parse_feed("f", "https://example.org/f", _flood(30), {}, NOW).capped == 0


def test_article_text_is_cut_at_max_chars() -> None:
    parsed = parse_feed("f", "https://example.org/f", _flood(1, words=5000), {}, NOW,
                        max_chars=1000)
    assert len(parsed.articles[0].text) == 1000


def test_redirect_chains_stop_at_max_redirects() -> None:
    with FeedServer() as srv:
        for i in range(6):
            srv.routes[f"/r{i}"] = Route(status=302, etag=False, headers={"Location": f"/r{i+1}"})
        cfg = FetchConfig(max_redirects=3, allow_networks=("127.0.0.0/8",), deadline=5.0)
        [r] = fetch_feeds([FeedConfig("f", srv.url("/r0"))], {}, cfg)
        assert r.error_kind == "redirects" and "more than 3 redirects" in (r.error or "")
        assert len(srv.requests) == 4


def test_one_flooding_feed_does_not_crowd_out_the_others(tmp_path: Path) -> None:
    with FeedServer() as srv:
        srv.routes["/flood.xml"] = Route(body=_flood(400))
        srv.routes["/calm.xml"] = Route(body=rss_feed([
            rss_item("Calm item", "https://example.org/calm", "c", "<p>Quiet.</p>", NOW)
        ]))
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                "[fetch]\nmax_items = 50\nmax_article_chars = 2000\n"
                f'[[feeds]]\nname = "flood"\nurl = "{srv.url("/flood.xml")}"\n'
                f'[[feeds]]\nname = "calm"\nurl = "{srv.url("/calm.xml")}"\n')
        cfg = parse_config(text, None, {})
        store = Store(cfg.store.url)
        summary = run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW)
        store.close()
        assert summary.new_articles == 51 and summary.items_capped == 350
        assert "items left out: 350 beyond [fetch] max_items" in render_summary(summary.to_dict())


def test_limits_have_defaults_and_are_validated() -> None:
    d = FetchConfig()
    assert (d.max_items, d.max_article_chars, d.max_redirects, d.max_article_fetches) == (
        500, 100_000, 5, 50)
    text = ("[fetch]\nmax_items = 0\nmax_article_chars = -1\n"
            '[[feeds]]\nname = "f"\nurl = "https://example.org/f"\n')
    try:
        parse_config(text, None, {})
    except Exception as exc:  # ConfigError: both problems reported at once
        assert "fetch.max_items" in str(exc) and "fetch.max_article_chars" in str(exc)
    else:
        raise AssertionError("a zero max_items was accepted")


def test_article_fetches_per_run_are_capped(tmp_path: Path) -> None:
    from watcher.demo import shipped_watches_toml

    with FeedServer() as srv:
        srv.routes["/f.xml"] = Route(body=rss_feed([
            rss_item(f"Armenia-Azerbaijan border report {i}", srv.url(f"/page{i}"), f"p{i}",
                     "<p>Shelling near the border with Azerbaijan.</p>",
                     NOW - timedelta(minutes=i))
            for i in range(5)
        ]))
        for i in range(5):
            srv.routes[f"/page{i}"] = Route(body=b"<html><body><p>x</p></body></html>",
                                            content_type="text/html")
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                '[fetch]\nmax_article_fetches = 2\nallow_networks = ["127.0.0.0/8"]\n'
                f'[[feeds]]\nname = "f"\nurl = "{srv.url("/f.xml")}"\nfull_text = true\n\n'
                + shipped_watches_toml())
        cfg = parse_config(text, None, {})
        store = Store(cfg.store.url)
        summary = run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW)
        store.close()
        pages = [p for p, _ in srv.requests if p.startswith("/page")]
        assert len(pages) == 2 and summary.full_text.capped == 3
        # ... and the user is told: the run summary and its JSON say so
        assert summary.to_dict()["full_text_capped"] == 3
        assert ("full text: 0 pages used, 2 fell back to the feed's text, 3 not fetched (beyond "
                "[fetch] max_article_fetches)") in render_summary(summary.to_dict())


def test_page_extraction_has_one_deadline_per_run(tmp_path: Path, monkeypatch: Any) -> None:
    """The run's new articles are handled in chunks, and each chunk extracts its pages; the
    extraction deadline is the run's, not each chunk's: two feeds of slow pages, one chunk
    each, cost one deadline (before: one per chunk, and a run of many chunks had none)."""
    import time

    from watcher import fulltext, pipeline
    from watcher.demo import shipped_watches_toml

    from .test_fulltext_limits import SLOW_PAGE

    monkeypatch.setattr(pipeline, "INGEST_CHUNK_ARTICLES", 1)  # a chunk per feed
    monkeypatch.setattr(fulltext, "EXTRACT_TIMEOUT", 30.0)
    monkeypatch.setattr(fulltext, "EXTRACT_DEADLINE", 3.0)
    with FeedServer() as srv:
        feeds = ""
        for k in range(2):
            srv.routes[f"/f{k}.xml"] = Route(body=rss_feed([rss_item(
                ["Armenia reports shelling of Tavush villages",
                 "Azerbaijan says a drone hit a depot near Lachin"][k],
                srv.url(f"/page{k}"), f"p{k}",
                ["<p>Yerevan said artillery fire struck two villages overnight.</p>",
                 "<p>Baku said the strike destroyed fuel stores on Monday.</p>"][k], NOW)]))
            srv.routes[f"/page{k}"] = Route(body=SLOW_PAGE, content_type="text/html")
            feeds += f'[[feeds]]\nname = "f{k}"\nurl = "{srv.url(f"/f{k}.xml")}"\n' \
                     "full_text = true\n\n"
        cfg = parse_config(f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                           '[fetch]\nallow_networks = ["127.0.0.0/8"]\n' + feeds
                           + shipped_watches_toml(), None, {})
        store = Store(cfg.store.url)
        started = time.monotonic()
        summary = run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW)
        took = time.monotonic() - started
        store.close()
    assert summary.new_articles == 2 and summary.full_text.fallback == 2
    # the second chunk had no extraction time left: its page was not even fetched
    assert [p for p, _ in srv.requests if p.startswith("/page")] == ["/page0"]
    assert took < 5.5, took  # one 3 s deadline; one per chunk made it over 6 s
