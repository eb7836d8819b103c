from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from watcher import lifecycle
from watcher.config import parse_config
from watcher.demo import shipped_watches_toml
from watcher.fulltext import extract_main_text
from watcher.pipeline import run_cycle
from watcher.store import Store, articles
from watcher.transports import ConsoleTransport

from .articles import APPEAL_PARAGRAPHS, BORDER_PARAGRAPHS, rss_feed, rss_item
from .feedserver import FeedServer, Route

NOW = datetime.now(UTC).replace(microsecond=0)


def page(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><title>Frontier</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
        f"<article><h1>Shelling resumes</h1>{body}</article>"
        "<aside><h3>Related stories</h3><ul><li><a href='/x'>Markets rally</a></li></ul></aside>"
        "<footer>All rights reserved</footer></body></html>"
    ).encode()


def test_extract_main_text_drops_navigation_and_appeals() -> None:
    text = extract_main_text(page(BORDER_PARAGRAPHS + APPEAL_PARAGRAPHS).decode())
    assert text is not None
    assert "killed 17 people" in text
    assert "Home" not in text and "Markets rally" not in text
    assert "monthly contribution" not in text


def test_full_text_feed_uses_page_text_and_falls_back(tmp_path: Path) -> None:
    with FeedServer() as srv:
        srv.routes["/story"] = Route(body=page(BORDER_PARAGRAPHS + APPEAL_PARAGRAPHS),
                                     content_type="text/html; charset=utf-8")
        teaser = "<p>Armenia and Azerbaijan report new shelling on the border.</p>"
        srv.routes["/f.xml"] = Route(body=rss_feed([
            rss_item("Armenia-Azerbaijan border shelling", srv.url("/story"), "1", teaser,
                     NOW - timedelta(minutes=5)),
            rss_item("Armenia border shelling, more", srv.url("/missing"), "2", teaser,
                     NOW - timedelta(minutes=6)),
            rss_item("Markets rally", srv.url("/story"), "3", "<p>Stocks rose.</p>",
                     NOW - timedelta(minutes=7)),
        ]))
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                '[fetch]\nallow_networks = ["127.0.0.0/8"]  # article pages on this test server\n'
                f'[[feeds]]\nname = "f"\nurl = "{srv.url("/f.xml")}"\nfull_text = true\n\n'
                + shipped_watches_toml())
        cfg = parse_config(text, None, {})
        store = Store(cfg.store.url)
        out = io.StringIO()
        summary = run_cycle(cfg, store, ConsoleTransport(out), now=NOW)
        with store.engine.connect() as conn:  # each article's toll, stored with it
            tolls = {title: (rules, killed) for title, rules, killed in conn.execute(
                select(articles.c.title, articles.c.toll_rules, articles.c.toll_killed))}
        store.close()
        # read (by these rules) from the page's text (the parse step read none in the
        # teaser), or from the feed's
        rules = lifecycle.toll_rules()
        assert tolls == {"Armenia-Azerbaijan border shelling": (rules, 17),
                         "Armenia border shelling, more": (rules, None),
                         "Markets rally": (rules, None)}
        assert summary.full_text.fetched == 1 and summary.full_text.fallback == 1
        pages = [p for p, _ in srv.requests if p in ("/story", "/missing")]
        assert sorted(pages) == ["/missing", "/story"]  # "Markets rally" failed the pre-filter
        assert "Casualties: killed: 17" in out.getvalue()  # the toll is only in the page
        assert "monthly contribution" not in out.getvalue()
