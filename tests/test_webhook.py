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

from watcher.config import ConfigError, parse_config
from watcher.demo import shipped_watches_toml
from watcher.pipeline import run_cycle
from watcher.runtime import make_transport
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport, WebhookTransport

from .articles import DRONE_TITLE, HOSTILE_BODY, HOSTILE_TITLE, drone_html, rss_feed, rss_item
from .fakeslack import FakeSlack
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



@pytest.mark.parametrize("value", ["hooks.slack.com/services/T0/B0/secretpart",
                                   "ftp://hooks.example/x", "http://[::1/hook", "https://"])
def test_a_webhook_variable_without_an_http_url_is_a_config_error(value: str) -> None:
    """Found at the first delivery before (every run then failed on it); the value, a secret,
    is never shown."""
    cfg_text = '[slack]\nwebhook_url_env = "H"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(cfg_text, None, {"H": value})
    [problem] = info.value.problems
    assert "slack.webhook_url_env (line 2)" in problem
    assert "$H does not hold an http(s) URL" in problem
    assert "secretpart" not in str(info.value) and "[::1" not in str(info.value)
    assert "ftp:" not in str(info.value)
    for fine in ({}, {"H": ""}, {"H": "  "}, {"H": "https://hooks.slack.com/services/T0/B0/x"}):
        assert parse_config(cfg_text, None, fine).slack.webhook_url_env == "H"


def test_updates_of_a_story_alerted_through_a_webhook_after_a_switch_to_a_bot(
    hook: Hook, env: tuple[FeedServer, FakeSlack, Store],
) -> None:
    """The story's message has no ts a bot can reply to or edit: its first update is posted as
    a message of its own and carries the story from then on (before: a reply to thread "webhook"
    and an edit of message "webhook", both refused, and every update of the story failed)."""
    from watcher.pipeline import deliver_step

    from .test_pipeline import no_sleep
    from .test_routing import _alert

    _feeds, slack, store = env
    store.enqueue([_alert("w", "warning")], NOW)
    deliver_step(store, WebhookTransport(hook.url), min_interval=0.0, sleep=no_sleep)
    assert len(hook.bodies) == 1 and store.get_alert("w").ts == "webhook"  # type: ignore[union-attr]
    bot = SlackTransport(slack.token, base_url=slack.url)
    store.enqueue([_alert("u", "critical", kind="update", parent_id="w", story_id="story-w",
                          change="killed 3, per x")], NOW + timedelta(minutes=5))
    report = deliver_step(store, bot, min_interval=0.0, sleep=no_sleep)
    assert report.sent == 1 and report.failed == 0
    [posted] = slack.messages_in("C0CAUCASUS")
    assert "thread_ts" not in posted and "killed 3, per x" in posted["text"]
    assert slack.calls_to("chat.update") == []
    parent = store.get_alert("w")
    assert parent is not None and parent.ts == posted["ts"]
    # the next update is a reply in that message's thread, and refreshes it in place
    store.enqueue([_alert("u2", "critical", kind="update", parent_id="w", story_id="story-w",
                          change="killed 9 (was 3, +6), per y")], NOW + timedelta(minutes=9))
    report = deliver_step(store, bot, min_interval=0.0, sleep=no_sleep)
    assert report.sent == 1 and report.failed == 0
    reply = slack.messages_in("C0CAUCASUS")[-1]
    assert reply["thread_ts"] == posted["ts"] and "killed 9" in reply["text"]
    [edit] = slack.calls_to("chat.update")
    assert edit.params["ts"] == posted["ts"]
