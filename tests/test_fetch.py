from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from watcher.config import FeedConfig, FetchConfig
from watcher.fetch import fetch_feeds, run_sync
from watcher.models import FeedState

from .feedserver import Connections, FeedServer, Route, rss

BODY = rss([{"title": "One", "link": "https://a.example/1", "guid": "1"}])


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def _cfg(**kw: object) -> FetchConfig:
    # redirects on the test server stay on 127.0.0.1: allowed here (tests/test_netguard.py
    # covers the guard itself)
    base = {"connect_timeout": 2.0, "read_timeout": 2.0, "deadline": 3.0,
            "allow_networks": ("127.0.0.0/8",)}
    base.update(kw)
    return FetchConfig(**base)  # type: ignore[arg-type]


def test_fetch_ok_sends_user_agent_and_returns_body(server: FeedServer) -> None:
    server.routes["/f"] = Route(body=BODY)
    [r] = fetch_feeds([FeedConfig("f", server.url("/f"))], {}, _cfg())
    assert r.ok and r.status == 200 and r.body == BODY
    assert "etag" in r.headers
    assert server.requests[0][1]["user-agent"].startswith("watcher/")


def test_conditional_get_gives_304(server: FeedServer) -> None:
    server.routes["/f"] = Route(body=BODY)
    feed = FeedConfig("f", server.url("/f"))
    [first] = fetch_feeds([feed], {}, _cfg())
    state = FeedState(name="f", url=feed.url, etag=first.headers["etag"])
    [second] = fetch_feeds([feed], {"f": state}, _cfg())
    assert second.not_modified and second.body is None and second.status == 304
    assert server.requests[1][1]["if-none-match"] == first.headers["etag"]


def test_gzip_body_is_decoded_and_transfer_headers_dropped(server: FeedServer) -> None:
    server.routes["/g"] = Route(body=BODY, gzip=True)
    [r] = fetch_feeds([FeedConfig("g", server.url("/g"))], {}, _cfg())
    assert r.body == BODY
    assert "content-encoding" not in r.headers and "content-length" not in r.headers


def test_size_cap_applies_to_decoded_stream(server: FeedServer) -> None:
    bomb = b"<rss>" + b" " * 5_000_000 + b"</rss>"  # compresses to a few KB
    server.routes["/bomb"] = Route(body=bomb, gzip=True, etag=False)
    [r] = fetch_feeds([FeedConfig("b", server.url("/bomb"))], {}, _cfg(max_bytes=1_000_000))
    assert r.error_kind == "too_large" and r.body is None


def test_deadline_stops_a_dripping_server_without_delaying_others(server: FeedServer) -> None:
    server.routes["/drip"] = Route(body=b"x" * 200_000, drip=0.05, etag=False)
    server.routes["/fast"] = Route(body=BODY)
    feeds = [FeedConfig("drip", server.url("/drip")), FeedConfig("fast", server.url("/fast"))]
    started = time.monotonic()
    drip, fast = fetch_feeds(feeds, {}, _cfg(deadline=1.0))
    elapsed = time.monotonic() - started
    assert drip.error_kind == "deadline"
    assert fast.ok and fast.body == BODY
    assert elapsed < 3.0  # bounded by the 1 s deadline, not by the 10 s drip


@pytest.mark.parametrize(
    ("route", "kind"),
    [
        (Route(status=500, body=b"oops"), "http"),
        (Route(status=404, body=b"gone"), "http"),
    ],
)
def test_http_errors_are_results_not_exceptions(
    server: FeedServer, route: Route, kind: str
) -> None:
    server.routes["/e"] = route
    [r] = fetch_feeds([FeedConfig("e", server.url("/e"))], {}, _cfg())
    assert r.error_kind == kind and r.status == route.status


def test_unreachable_host_is_a_connect_error() -> None:
    # a port on loopback with nothing listening
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    [r] = fetch_feeds([FeedConfig("x", f"http://127.0.0.1:{port}/feed")], {}, _cfg())
    assert r.error_kind == "connect" and not r.ok


@pytest.mark.parametrize(("code", "permanent"), [(301, True), (308, True), (302, False),
                                                  (307, False)])
def test_redirects_tell_permanent_from_temporary(
    server: FeedServer, code: int, permanent: bool
) -> None:
    server.routes["/old"] = Route(status=code, etag=False, headers={"Location": "/new"})
    server.routes["/new"] = Route(body=BODY)
    [r] = fetch_feeds([FeedConfig("f", server.url("/old"))], {}, _cfg())
    assert r.ok and r.body == BODY and r.url == server.url("/new")
    assert r.permanent_url == (server.url("/new") if permanent else None)


def test_moved_feed_is_fetched_at_its_new_url(server: FeedServer) -> None:
    server.routes["/new"] = Route(body=BODY)
    feed = FeedConfig("f", server.url("/old"))
    state = FeedState("f", url=server.url("/new"), config_url=feed.url)
    [r] = fetch_feeds([feed], {"f": state}, _cfg())
    assert r.ok and [p for p, _ in server.requests] == ["/new"]


def test_redirect_loop_is_an_error(server: FeedServer) -> None:
    server.routes["/a"] = Route(status=302, etag=False, headers={"Location": "/a"})
    [r] = fetch_feeds([FeedConfig("f", server.url("/a"))], {}, _cfg(max_redirects=3))
    assert r.error_kind == "redirects"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_reported(server: FeedServer, status: int) -> None:
    server.routes["/busy"] = Route(status=status, etag=False, headers={"Retry-After": "120"})
    [r] = fetch_feeds([FeedConfig("f", server.url("/busy"))], {}, _cfg())
    assert r.error_kind == "http" and r.retry_after == 120.0


def _hosts(n: int, feeds: int, shared: Connections, delay: float) -> list[FeedServer]:
    servers = [FeedServer(f"127.0.0.{h}", shared) for h in range(1, n + 1)]
    for srv in servers:
        for i in range(feeds):
            srv.routes[f"/f{i}"] = Route(body=rss([{"title": f"t{i}", "link": "https://a/x"}]),
                                         delay=delay)
    return servers


@pytest.mark.parametrize("interleaved", [False, True])
def test_global_and_per_host_limits_hold(interleaved: bool) -> None:
    """Twelve hosts (loopback addresses), three feeds each, concurrency 4, per host 2: never
    more requests at once than the limits allow (both are used when the feeds of a host are
    listed together), and never more connections open than `concurrency`."""
    shared = Connections()
    servers = _hosts(12, 3, shared, delay=0.05)
    with contextlib.ExitStack() as stack:
        for srv in servers:
            stack.enter_context(srv)
        feeds = [FeedConfig(f"{h}-{i}", srv.url(f"/f{i}")) for h, srv in enumerate(servers)
                 for i in range(3)]
        if interleaved:
            feeds = feeds[0::3] + feeds[1::3] + feeds[2::3]
        results = fetch_feeds(feeds, {}, _cfg(concurrency=4, per_host=2))
        deadline = time.monotonic() + 5
        while shared.open_now and time.monotonic() < deadline:
            time.sleep(0.01)  # the servers notice the closed sockets
    assert [r.status for r in results] == [200] * 36
    assert [r.feed for r in results] == [f.name for f in feeds]  # in the order asked
    assert shared.max_busy_all == 4, shared.max_busy_all
    assert max(shared.max_busy.values()) == (1 if interleaved else 2), shared.max_busy
    # one pool of `concurrency` connections (the server may notice a closed socket a moment
    # after the client has opened the next one)
    assert shared.max_open <= 4 + 1, shared.max_open
    assert shared.open_now == 0


def test_connections_are_reused_within_a_host() -> None:
    shared = Connections()
    with FeedServer("127.0.0.1", shared) as srv:
        for i in range(12):
            srv.routes[f"/f{i}"] = Route(body=rss([{"title": f"t{i}", "link": "https://a/x"}]),
                                         delay=0.05)
        results = fetch_feeds([FeedConfig(f"f{i}", srv.url(f"/f{i}")) for i in range(12)], {},
                              _cfg(concurrency=8, per_host=3))
    assert [r.status for r in results] == [200] * 12
    assert shared.max_busy_all == 3
    assert sum(shared.opened.values()) == 3, shared.opened  # 12 fetches over 3 connections


def test_redirect_into_a_host_whose_feeds_are_done() -> None:
    """A's feeds redirect to B (one while B's own feed is being fetched, one after it is
    done): every fetch completes."""
    shared = Connections()
    with FeedServer("127.0.0.1", shared) as a, FeedServer("127.0.0.2", shared) as b:
        b.routes["/own"] = Route(body=rss([{"title": "own", "link": "https://b/1"}]), delay=0.1)
        b.routes["/slow"] = Route(body=rss([{"title": "slow", "link": "https://b/2"}]),
                                  delay=0.5)
        b.routes["/later"] = Route(body=rss([{"title": "later", "link": "https://b/3"}]))
        a.routes["/now"] = Route(status=302, headers={"Location": b.url("/slow")})
        a.routes["/after"] = Route(status=302, headers={"Location": b.url("/later")},
                                   delay=0.8)
        feeds = [FeedConfig("a-now", a.url("/now")), FeedConfig("a-after", a.url("/after")),
                 FeedConfig("b-own", b.url("/own"))]
        results = fetch_feeds(feeds, {}, _cfg(concurrency=4, per_host=4))
    assert [(r.feed, r.status, r.error) for r in results] == [
        ("a-now", 200, None), ("a-after", 200, None), ("b-own", 200, None)]
    assert b"slow" in (results[0].body or b"") and b"later" in (results[1].body or b"")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (no CA vouches for it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the TLS server")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "cert.pem", d / "key.pem")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/feed.xml"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("trusted", [True, False])
def test_tls_certificates_are_verified(tls_server: str, trusted: bool) -> None:
    """Both clients (the operator's URLs, and those taken from feeds, through the guard) refuse
    a certificate no CA vouches for: one TLS context, made once, serves both."""
    results = [fetch_feeds([FeedConfig("tls", tls_server)], {}, _cfg(), trusted=trusted)[0]
               for _ in range(2)]  # (the second call reuses the context)
    for r in results:
        assert r.body is None and r.error_kind is not None
        assert "CERTIFICATE_VERIFY_FAILED" in (r.error or "") or "certificate" in (r.error or "")


def test_run_sync_inside_a_running_event_loop() -> None:
    """Sync code called from a coroutine (a task run by an async runner) runs the fetch in a loop
    of its own: its result, or its exception, comes back."""
    async def value() -> int:
        await asyncio.sleep(0.01)
        return 7

    async def failing() -> int:
        raise ValueError("feed exploded")

    async def caller() -> tuple[int, str]:
        got = run_sync(value)
        with pytest.raises(ValueError, match="feed exploded") as info:
            run_sync(failing)
        return got, str(info.value)

    assert asyncio.run(caller()) == (7, "feed exploded")
    assert run_sync(value) == 7  # and without a running loop


def test_ctrl_c_stops_run_sync_inside_a_running_loop_at_once() -> None:
    script = textwrap.dedent("""
        import asyncio, os, signal, threading, time
        from watcher.fetch import run_sync
        cancelled = []
        async def slow():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
        async def flow():
            run_sync(slow)
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            asyncio.new_event_loop().run_until_complete(flow())
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - t, 1), "cancelled", cancelled)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[:2] == ["interrupted", "after"], proc.stdout
    assert float(words[2]) < 5 and words[3:] == ["cancelled", "[1]"], proc.stdout
