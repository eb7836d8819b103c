"""Incoming-webhook mode: the real slack_sdk WebhookClient against a webhook endpoint served on
127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from watcher.config import parse_config
from watcher.demo import shipped_watches_toml
from watcher.pipeline import run_cycle
from watcher.runtime import make_transport
from watcher.store import Store
from watcher.transports import ConsoleTransport, WebhookTransport

from .articles import DRONE_TITLE, HOSTILE_BODY, HOSTILE_TITLE, drone_html, rss_feed, rss_item
from .feedserver import FeedServer, Route

NOW = datetime.now(UTC).replace(microsecond=0)


class Hook:
    """Answers each request with the next queued reply (status, headers, body), else 200 "ok";
    records the paths asked for, and the JSON bodies of the requests answered with 200 (a form
    posted to the Web API is not kept)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.replies: list[tuple[int, dict[str, str], bytes]] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.paths.append(self.path.split("?")[0])
                status, headers, body = (hook.replies.pop(0) if hook.replies
                                         else (200, {}, b"ok"))
                if status == 200 and "json" in self.headers.get("Content-Type", ""):
                    hook.bodies.append(json.loads(data))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # (the Web API reads history with GET)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.url = f"{self.root}services/T0/B0/secret"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def test_webhook_mode_posts_one_escaped_message_per_alert(tmp_path: Path, hook: Hook) -> None:
    hook.replies.append((429, {"Retry-After": "1"}, b"rate_limited"))
    with FeedServer() as feeds:
        feeds.routes["/f.xml"] = Route(body=rss_feed([
            rss_item(DRONE_TITLE, "https://wire.example/a", "1", drone_html(),
                     NOW - timedelta(minutes=5)),
            rss_item(HOSTILE_TITLE, "https://evil.example/b", "2", HOSTILE_BODY,
                     NOW - timedelta(minutes=6))]))
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[slack]\nmin_interval = 0.0\n'
                'webhook_url_env = "TEST_HOOK_URL"\ntoken_env = "TEST_NO_TOKEN"\n'
                f'[[feeds]]\nname = "f"\nurl = "{feeds.url("/f.xml")}"\n\n'
                + shipped_watches_toml())
        cfg = parse_config(text, None, {})
        transport = make_transport(cfg, {"TEST_HOOK_URL": hook.url})
        assert isinstance(transport, WebhookTransport)
        store = Store(cfg.store.url)
        summary = run_cycle(cfg, store, transport, now=NOW)
        assert summary.delivery.sent == 2 and summary.delivery.pending == 0
        again = run_cycle(cfg, store, transport, now=NOW)
        store.close()
    assert again.alerts == 0 and len(hook.bodies) == 2
    raw = json.dumps(hook.bodies)
    assert "<!channel>" not in raw and "<!here>" not in raw and "&lt;!channel&gt;" in raw
    assert all(b["unfurl_links"] is False and b.get("text") for b in hook.bodies)
    assert "secret" not in repr(transport)


def test_webhook_refusal_is_permanent_and_no_url_means_console(tmp_path: Path,
                                                               hook: Hook) -> None:
    from watcher.transports import PermanentError

    hook.replies.append((404, {}, b"no_service"))
    cfg = parse_config('[slack]\nwebhook_url_env = "H"\n', None, {})
    with pytest.raises(PermanentError) as info:
        WebhookTransport(hook.url).post_message("#c", "hi", [])
    assert "no_service" in str(info.value) and "secret" not in str(info.value)
    assert isinstance(make_transport(cfg, {}), ConsoleTransport)

