"""What a server writes never brings a control character into an error message: a reason phrase
like "Oops\x1b[31m..." reached `watcher feeds`, the run summary, the log and the store, where a
terminal would obey it."""

from __future__ import annotations

import io
import logging
import re
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config import FeedConfig, FetchConfig, parse_config
from watcher.fetch import fetch_feeds
from watcher.pipeline import render_summary, run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport

from .articles import BORDER_TITLE, border_html, rss_feed, rss_item
from .feedserver import FeedServer, Route
from .test_flow_e2e import _watches_toml

CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# ESC sequences (colour, window title, erase screen), BEL, a C1 CSI, NEL, DEL, NUL
HOSTILE = b"Oops\x1b[31mRED\x1b[0m\x07 \x1b]0;pwned\x07\x9b2J\x85\x7f\x00 line"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def raw_url() -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with a 500 and the hostile reason."""
    class Raw(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.1 500 " + HOSTILE + b"\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw) as srv:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{srv.server_address[1]}/x"
        finally:
            srv.shutdown()


def test_reason_phrase_loses_its_control_characters(raw_url: str) -> None:
    [r] = fetch_feeds([FeedConfig("evil", raw_url)], {}, FetchConfig())
    assert r.error_kind == "http" and r.status == 500
    assert r.error == "HTTP 500 Oops[31mRED[0m ]0;pwned2J line"
    assert not CONTROLS.search(r.error)


def test_nothing_a_server_wrote_reaches_summary_log_or_store_with_control_characters(
    raw_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FeedServer() as feeds:
        feeds.routes["/f.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/a", "1", border_html(),
                     NOW - timedelta(minutes=5))]))
        cfg = parse_config(
            f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
            f'[[feeds]]\nname = "f"\nurl = "{feeds.url("/f.xml")}"\n'
            f'[[feeds]]\nname = "evil"\nurl = "{raw_url}"\n\n' + _watches_toml(), None, {})
        store = Store(cfg.store.url)
        try:
            with caplog.at_level(logging.INFO, logger="watcher"):
                summary = run_cycle(cfg, store, ConsoleTransport(io.StringIO()), now=NOW,
                                    sleep=lambda _: None)
            stored = store.feed_states()["evil"].last_error or ""
        finally:
            store.close()
    shown = render_summary(summary.to_dict())
    assert "failed feed evil: http: HTTP 500 Oops[31mRED[0m" in shown
    assert not CONTROLS.search(shown.replace("\n", "")), shown
    assert stored.startswith("http: HTTP 500 Oops") and not CONTROLS.search(stored), stored
    logged = [r.getMessage() for r in caplog.records if "evil" in r.getMessage()]
    assert logged and not any(CONTROLS.search(m) for m in logged), logged


def test_server_text_inside_other_fetch_errors_has_no_control_characters() -> None:
    """aiohttp's parse errors quote what the server sent, over several lines: one line now."""
    response = b"HTTP/1.1 2\x1b[31m00 OK\r\nContent-Length: 0\r\n\r\n"

    class Raw(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.request.sendall(response)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw) as srv:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            [r] = fetch_feeds([FeedConfig("f", f"http://127.0.0.1:{srv.server_address[1]}/")],
                              {}, FetchConfig())
        finally:
            srv.shutdown()
    assert r.error_kind == "protocol" and r.error
    assert not CONTROLS.search(r.error), repr(r.error)
