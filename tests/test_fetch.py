from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.server
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from watcher.config import FeedConfig, FetchConfig
from watcher.fetch import fetch_feeds, run_sync
from watcher.models import FeedState, FetchResult

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


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(("coding", "encode"), [
    ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
    ("deflate", _raw_deflate),  # raw, as some servers send it
    ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),  # applied twice
    ("x-gzip", gzip.compress),
    ("identity", lambda b: b),
])
def test_content_encodings_are_decoded(server: FeedServer, coding: str, encode: Any) -> None:
    server.routes["/d"] = Route(body=encode(BODY), etag=False,
                                headers={"Content-Encoding": coding})
    [r] = fetch_feeds([FeedConfig("d", server.url("/d"))], {}, _cfg())
    assert r.ok and r.body == BODY, r.error


@pytest.mark.parametrize(("coding", "body", "message"), [
    ("br", b"\x1b\x00", "unsupported Content-Encoding 'br'"),
    ("gzip", b"not gzip at all", "cannot decode the gzip body"),
])
def test_undecodable_bodies_are_protocol_errors(
    server: FeedServer, coding: str, body: bytes, message: str
) -> None:
    server.routes["/u"] = Route(body=body, etag=False, headers={"Content-Encoding": coding})
    [r] = fetch_feeds([FeedConfig("u", server.url("/u"))], {}, _cfg())
    assert r.error_kind == "protocol" and message in (r.error or ""), r.error


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, gzip"])
def test_size_cap_holds_for_every_encoding_and_any_chunk(server: FeedServer, coding: str) -> None:
    """The decoder never produces more than the cap, even from one small chunk that would
    expand to far more (a 2 MB body of zeros is ~2 KB compressed)."""
    raw = b"<rss>" + b"\0" * 2_000_000
    encoded = {"gzip": gzip.compress, "deflate": zlib.compress,
               "gzip, gzip": lambda b: gzip.compress(gzip.compress(b))}[coding](raw)
    server.routes["/z"] = Route(body=encoded, etag=False, headers={"Content-Encoding": coding})
    [big] = fetch_feeds([FeedConfig("z", server.url("/z"))], {}, _cfg(max_bytes=100_000))
    assert big.error_kind == "too_large" and "100000 bytes after decoding" in (big.error or "")
    [fits] = fetch_feeds([FeedConfig("z", server.url("/z"))], {}, _cfg(max_bytes=len(raw)))
    assert fits.ok and fits.body == raw


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
    """`n` servers of `feeds` feeds each, answering after `delay` plus 3 ms per host (the hosts'
    feeds are not done at the same moment)."""
    servers = [FeedServer(f"127.0.0.{h}", shared) for h in range(1, n + 1)]
    for h, srv in enumerate(servers):
        for i in range(feeds):
            srv.routes[f"/f{i}"] = Route(body=rss([{"title": f"t{i}", "link": "https://a/x"}]),
                                         delay=delay + 0.003 * h)
    return servers


def _established_to(servers: list[FeedServer]) -> int:
    """The client sockets (of any process here) connected to these servers now, from the
    kernel's table (/proc/net/tcp: addresses as little-endian hex, state 01 = established)."""
    wanted = set()
    for srv in servers:
        host, port = srv.server.server_address[:2]
        packed = int.from_bytes(socket.inet_aton(str(host)), "little")
        wanted.add(f"{packed:08X}:{port:04X}")
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        return sum(1 for line in table if (f := line.split())[3] == "01" and f[2] in wanted)


class _Peak:
    """Samples `_established_to` every millisecond in a thread while the block runs."""

    def __init__(self, servers: list[FeedServer]) -> None:
        self.servers = servers
        self.peak = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            n = _established_to(self.servers)
            self.samples.append(n)
            self.peak = max(self.peak, n)
            time.sleep(0.001)

    def assert_none_kept_idle(self, concurrency: int) -> None:
        """At most `concurrency` connections open, but for moments: counted on the client's
        side, a closing connection outlives the next one's opening by the time its server
        (a thread of this process) takes to close it, so for a moment every worker may hold
        two. A worker that kept its connection when it moved on would hold it until the
        idle timeout (2 s, longer than these fetches): above `concurrency` most of the time
        (measured: a peak of 6 and 63-68 % of the samples with two workers; 0-2.5 % of them,
        peaks 2-4, with the connections closed, with the cores busy)."""
        assert 1 <= self.peak <= 2 * concurrency, self.peak
        above = sum(1 for n in self.samples if n > concurrency)
        assert above <= len(self.samples) // 4, (above, len(self.samples), self.peak)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize(
    ("hosts", "per_host_feeds", "concurrency", "per_host", "busy_all", "busy_host", "opened"),
    [
        # many hosts: the workers spread over them (one each), every host's feeds share a
        # connection
        (12, 3, 4, 2, 4, 1, 12),
        # two hosts, eight workers: each host holds per_host of them, over per_host connections
        (2, 6, 8, 3, 6, 3, 6),
        # one host: per_host binds before concurrency
        (1, 12, 8, 3, 3, 3, 3),
    ],
)
@pytest.mark.parametrize("interleaved", [False, True])
def test_global_and_per_host_limits_hold(
    interleaved: bool, hosts: int, per_host_feeds: int, concurrency: int, per_host: int,
    busy_all: int, busy_host: int, opened: int,
) -> None:
    """Hosts are loopback addresses. Never more requests at once than `concurrency`, nor on one
    host than `per_host`; a host's feeds reuse its connections, whatever the order the feeds are
    listed in; a connection no longer needed is closed (its last request says "Connection:
    close"), so no more than `concurrency` stay open (see `_Peak.assert_none_kept_idle`)."""
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("no /proc/net/tcp to count the client's connections in")
    shared = Connections()
    servers = _hosts(hosts, per_host_feeds, shared, delay=0.05)
    with contextlib.ExitStack() as stack:
        for srv in servers:
            stack.enter_context(srv)
        feeds = [FeedConfig(f"{h}-{i}", srv.url(f"/f{i}")) for h, srv in enumerate(servers)
                 for i in range(per_host_feeds)]
        if interleaved:
            feeds = [feeds[j] for i in range(per_host_feeds)
                     for j in range(i, len(feeds), per_host_feeds)]
        with _Peak(servers) as peak:
            results = fetch_feeds(feeds, {}, _cfg(concurrency=concurrency, per_host=per_host))
        deadline = time.monotonic() + 5
        while shared.open_now and time.monotonic() < deadline:
            time.sleep(0.01)  # the servers notice the closed sockets
    assert [r.status for r in results] == [200] * len(feeds)
    assert [r.feed for r in results] == [f.name for f in feeds]  # in the order asked
    assert shared.max_busy_all == busy_all, shared.max_busy_all
    assert max(shared.max_busy.values()) == busy_host, shared.max_busy
    peak.assert_none_kept_idle(concurrency)
    assert sum(shared.opened.values()) == opened, shared.opened
    # each connection's last request, and only it, asks the server to close
    closing = [h.get("connection") == "close" for srv in servers for _, h in srv.requests]
    assert sum(closing) == opened and all(
        [h.get("connection") == "close" for _, h in srv.requests][-1] for srv in servers)
    assert shared.open_now == 0  # closed when done, none left idle


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


@pytest.mark.parametrize(("route", "connections"), [
    (Route(status=304, etag=False), 1),
    (Route(status=404, body=b"not here"), 1),
    # the configured URLs share one; each redirect target (fetched through the address
    # guard, another client) gets one of its own, closed after it
    (Route(status=302, etag=False, headers={"Location": "/target"}), 1 + 6),
])
def test_answers_without_a_feed_body_keep_the_connection(route: Route, connections: int) -> None:
    """304s (a steady poll is mostly them), errors with a body and redirects within the host
    leave the connection open for the host's next feed."""
    shared = Connections()
    with FeedServer("127.0.0.1", shared) as srv:
        srv.routes["/target"] = Route(body=BODY)
        for i in range(6):
            srv.routes[f"/f{i}"] = route
        results = fetch_feeds([FeedConfig(f"f{i}", srv.url(f"/f{i}")) for i in range(6)], {},
                              _cfg(concurrency=1, per_host=1))
    assert [r.status for r in results] == [route.status if route.status != 302 else 200] * 6
    assert sum(shared.opened.values()) == connections, shared.opened


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
        # Ctrl-C as in a terminal, whatever this process inherited (a background job of a
        # non-interactive shell starts with SIGINT ignored, and Python then keeps it so)
        signal.signal(signal.SIGINT, signal.default_int_handler)
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


@pytest.mark.parametrize("seed", range(60))
def test_plan_gives_every_feed_once_within_the_limits(seed: int) -> None:
    """The scheduler alone, driven by random finishing orders: every feed is fetched exactly
    once, never more than `per_host` workers on a host name (whatever its origins: ports,
    schemes, clients), and a worker keeps to its origin while it has feeds."""
    import random

    from watcher.fetch import _Plan

    rng = random.Random(seed)
    n = rng.randint(1, 60)
    hosts = [f"h{rng.randrange(rng.randint(1, 6))}" for _ in range(n)]
    origins = [f"{h}:{rng.choice((80, 80, 443, 8080))}" for h in hosts]
    per_host = rng.randint(1, 4)
    plan = _Plan(origins, hosts, per_host)
    workers: list[tuple[str, int] | None] = [None] * rng.randint(1, 10)
    exited: set[int] = set()
    fetched: list[int] = []
    on_host: dict[str, int] = {}
    free = list(range(len(workers)))
    while True:
        for w in free:  # a free worker takes an origin and its first feed, or ends
            origin = plan.take()
            if origin is None:
                exited.add(w)
                continue
            host = origin.split(":")[0]
            on_host[host] = on_host.get(host, 0) + 1
            assert on_host[host] <= per_host
            feed = plan.next_feed(origin)
            assert feed is not None and origins[feed] == origin
            workers[w] = (origin, feed)
        busy = [w for w, job in enumerate(workers) if job is not None]
        if not busy:
            break
        w = rng.choice(busy)  # one of them finishes its feed
        origin, feed = workers[w]  # type: ignore[misc]
        fetched.append(feed)
        following = plan.next_feed(origin)
        if following is not None:
            assert origins[following] == origin
            workers[w] = (origin, following)
            free = []
        else:
            plan.leave(origin)
            on_host[origin.split(":")[0]] -= 1
            workers[w] = None
            free = [w]
    assert sorted(fetched) == list(range(n))  # (no worker ended while work was left)


def _fetch_raw(response: bytes) -> FetchResult:
    """One feed fetched from a server on 127.0.0.1 that answers every request with `response`,
    byte for byte (what the test feed server cannot send: non-UTF-8 bytes, repeated headers)."""
    class Raw(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.request.sendall(response)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            [r] = fetch_feeds([FeedConfig("f", f"http://127.0.0.1:{srv.server_address[1]}/f")],
                              {}, _cfg())
        finally:
            srv.shutdown()
    return r


@pytest.mark.parametrize(("etag", "reason"), [
    (b'"caf\xe9"', b"OK"),  # Latin-1 byte in a header
    (b'"plain"', b"N\xe3o Encontrado"),  # ... in the status text
])
def test_non_utf8_header_bytes_are_read_as_latin1(etag: bytes, reason: bytes) -> None:
    """What the old client gave (and a database stores): no surrogates from undecodable bytes."""
    status = b"200" if reason == b"OK" else b"404"
    body = BODY if status == b"200" else b"x"
    r = _fetch_raw(b"HTTP/1.1 " + status + b" " + reason + b"\r\nETag: " + etag
                   + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert r.headers["etag"] == etag.decode("latin-1")
    for text in (*r.headers.values(), r.error or ""):
        text.encode("utf-8")  # (UnicodeEncodeError on a surrogate, as the database would)
    if status == b"404":
        assert r.error == "HTTP 404 " + reason.decode("latin-1")


def test_retry_after_far_in_the_future_is_ignored(server: FeedServer) -> None:
    server.routes["/busy"] = Route(status=429, etag=False, headers={
        "Retry-After": "Mon, 01 Jan 9999999999 00:00:00 GMT"})
    [r] = fetch_feeds([FeedConfig("f", server.url("/busy"))], {}, _cfg())
    assert r.error_kind == "http" and r.retry_after is None


def test_error_text_does_not_carry_the_url(server: FeedServer) -> None:
    """A password or token in a feed URL stays out of the error (it is logged and stored)."""
    [bad] = fetch_feeds([FeedConfig("f", "http://user:PASSWORD@127.0.0.1:99999/f?token=SECRET")],
                        {}, _cfg())
    assert bad.error_kind == "protocol"
    assert "PASSWORD" not in (bad.error or "") and "SECRET" not in (bad.error or ""), bad.error


def test_the_request_target_is_sent_as_written(server: FeedServer) -> None:
    """Percent-escapes are not re-quoted (a signed URL stays valid)."""
    server.routes["/a%7eb"] = Route(body=BODY)
    [r] = fetch_feeds([FeedConfig("f", server.url("/a%7eb?sig=a%2Bb%41"))], {}, _cfg())
    assert r.ok
    assert server.requests[0][0] == "/a%7eb"


def test_feeds_of_one_host_on_two_ports_leave_no_idle_connection() -> None:
    """A connection serves one origin (scheme, host, port): feeds are queued by origin, so a
    worker never keeps a connection its next feed cannot use."""
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("no /proc/net/tcp to count the client's connections in")
    shared = Connections()
    servers = [FeedServer("127.0.0.1", shared) for _ in range(6)]
    with contextlib.ExitStack() as stack:
        for srv in servers:
            stack.enter_context(srv)
            for i in range(3):
                srv.routes[f"/f{i}"] = Route(body=BODY, delay=0.02)
        feeds = [FeedConfig(f"{s}-{i}", srv.url(f"/f{i}")) for i in range(3)
                 for s, srv in enumerate(servers)]  # interleaved over the ports
        with _Peak(servers) as peak:
            results = fetch_feeds(feeds, {}, _cfg(concurrency=2, per_host=2))
    assert all(r.ok for r in results)
    peak.assert_none_kept_idle(2)
    assert sum(shared.opened.values()) == 6, shared.opened  # one per port


def test_utf8_header_values_stay_utf8(server: FeedServer) -> None:
    """A UTF-8 Location is followed as such (Latin-1 is only for bytes that are not UTF-8)."""
    # (the test server writes header values as Latin-1: these two characters are the UTF-8
    # bytes of "\u00e9" on the wire)
    server.routes["/moved"] = Route(status=302, etag=False,
                                    headers={"Location": "/caf\u00c3\u00a9/feed"})
    server.routes["/caf%C3%A9/feed"] = Route(body=BODY)
    [r] = fetch_feeds([FeedConfig("f", server.url("/moved"))], {}, _cfg())
    assert r.ok and r.url == server.url("/caf\u00e9/feed"), (r.url, r.error)


def test_control_characters_in_a_url_are_quoted(server: FeedServer) -> None:
    server.routes["/a%01b"] = Route(body=BODY)
    [r] = fetch_feeds([FeedConfig("f", server.url("/a\x01b"))], {}, _cfg())
    assert r.ok, r.error


def test_hosts_spelled_differently_are_separate_origins() -> None:
    """"LOCALHOST" and "localhost" are one host name (per_host) but, sent as written, two
    connection pools: each keeps its own connection, none is left idle."""
    shared = Connections()
    with FeedServer("127.0.0.1", shared) as srv:
        for i in range(4):
            srv.routes[f"/f{i}"] = Route(body=BODY)
        port = srv.server.server_address[1]
        feeds = [FeedConfig(f"{spelling}{i}", f"http://{spelling}:{port}/f{i}")
                 for i in range(4) for spelling in ("localhost", "LOCALHOST", "Localhost")]
        results = fetch_feeds(feeds, {}, _cfg(concurrency=1, per_host=1,
                                              allow_networks=("127.0.0.0/8", "::1/128")))
        deadline = time.monotonic() + 5
        while shared.open_now and time.monotonic() < deadline:
            time.sleep(0.01)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert sum(shared.opened.values()) == 3, shared.opened  # one per spelling
    assert shared.max_open <= 1 + 1, shared.max_open


def test_repeated_headers_keep_their_first_value() -> None:
    """Joined, two Retry-After lines would make neither a number nor a date."""
    r = _fetch_raw(b"HTTP/1.1 429 Slow down\r\nRetry-After: 120\r\nRetry-After: 120\r\n"
                   b"Content-Encoding: identity\r\nContent-Length: 0\r\n\r\n")
    assert r.error_kind == "http" and r.retry_after == 120.0 and r.headers["retry-after"] == "120"


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0),
    ("99999999999999999999", 1e20),  # (capped by the feed's state: tests/test_health.py)
    ("\u00b2", None),  # a Latin-1 byte that str.isdigit takes for a digit
    ("1.5", None),
    ("", None),
    (None, None),
])
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    from watcher.fetch import _retry_after

    assert _retry_after(value, 0.0) == expected
