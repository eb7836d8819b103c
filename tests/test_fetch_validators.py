"""ETag / Last-Modified go only to the URL that produced them. A feed behind a temporary redirect
stored the target's validators under the redirector's URL and sent them there on every poll;
now they are kept with the target's URL and sent to it after the redirect: a 304 again."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config import parse_config
from watcher.pipeline import run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport

from .articles import rss_feed, rss_item
from .feedserver import FeedServer, Route
from .test_flow_e2e import _watches_toml

NOW = datetime.now(UTC).replace(microsecond=0)
LAST_MODIFIED = "Wed, 01 Apr 2026 10:00:00 GMT"


@pytest.mark.parametrize("code", [302, 307])
def test_validators_never_go_to_a_temporary_redirector(code: int, tmp_path: Path) -> None:
    with FeedServer() as srv:
        srv.routes["/real.xml"] = Route(
            body=rss_feed([rss_item("x", "https://e.example/1", "1", "<p>x</p>", NOW)]),
            headers={"Last-Modified": LAST_MODIFIED})
        srv.routes["/tmp"] = Route(status=code, etag=False, headers={"Location": "/real.xml"})
        srv.routes["/direct.xml"] = Route(
            body=rss_feed([rss_item("y", "https://e.example/2", "2", "<p>y</p>", NOW)]))
        cfg = parse_config(
            f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
            '[fetch]\nallow_networks = ["127.0.0.0/8"]\n'
            f'[[feeds]]\nname = "redirected"\nurl = "{srv.url("/tmp")}"\n'
            f'[[feeds]]\nname = "direct"\nurl = "{srv.url("/direct.xml")}"\n\n'
            + _watches_toml(), None, {})
        store = Store(cfg.store.url)
        try:
            outcomes = []
            for i in range(3):
                s = run_cycle(cfg, store, ConsoleTransport(io.StringIO()),
                              now=NOW + timedelta(minutes=5 * i), sleep=lambda _: None)
                outcomes.append({o.feed: o.status for o in s.feed_outcomes})
            states = store.feed_states()
        finally:
            store.close()
    # the redirector never gets the validators /real.xml sent
    for path, headers in srv.requests:
        if path == "/tmp":
            assert "if-none-match" not in headers and "if-modified-since" not in headers, headers
    # /real.xml's validators are kept as its own, and it gets them after the redirect
    moved = states["redirected"]
    assert moved.url == srv.url("/tmp") and moved.validators_url == srv.url("/real.xml")
    assert moved.last_modified == LAST_MODIFIED and moved.etag
    real = [h for p, h in srv.requests if p == "/real.xml"]
    assert len(real) == 3 and "if-none-match" not in real[0]
    assert all(h.get("if-none-match") == moved.etag for h in real[1:])
    assert [o["direct"] for o in outcomes] == ["ok", "not_modified", "not_modified"]
    assert [o["redirected"] for o in outcomes] == ["ok", "not_modified", "not_modified"]
