"""A real HTTP server on 127.0.0.1 that serves test feeds with the behaviours real servers have:
ETag / Last-Modified with 304, gzip, slow drips, oversize bodies, errors, redirects."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: bool = True  # send an ETag and honour If-None-Match
    gzip: bool = False
    drip: float = 0.0  # seconds between 1 KiB chunks
    delay: float = 0.0  # before the status line
    headers: dict[str, str] = field(default_factory=dict)


class Connections:
    """Counts TCP connections across servers (share one between several `FeedServer`s)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened: dict[str, int] = {}  # per server address
        self.open_now = 0
        self.max_open = 0
        self.busy: dict[str, int] = {}  # requests in their `delay`, per server address
        self.max_busy: dict[str, int] = {}
        self.busy_now = 0
        self.max_busy_all = 0

    def enter(self, where: str) -> None:
        with self.lock:
            self.opened[where] = self.opened.get(where, 0) + 1
            self.open_now += 1
            self.max_open = max(self.max_open, self.open_now)

    def leave(self) -> None:
        with self.lock:
            self.open_now -= 1

    def request(self, where: str, delta: int) -> None:
        """A request starts (+1) or stops (-1) being answered (see `Route.delay`)."""
        with self.lock:
            self.busy[where] = self.busy.get(where, 0) + delta
            self.max_busy[where] = max(self.max_busy.get(where, 0), self.busy[where])
            self.busy_now += delta
            self.max_busy_all = max(self.max_busy_all, self.busy_now)


class FeedServer:
    """`host`: the loopback address to listen on (127.0.0.1 by default; any 127.x.y.z works on
    Linux, so several servers can be several hosts). `connections`: a shared counter."""

    def __init__(self, host: str = "127.0.0.1", connections: Connections | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = connections or Connections()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections.enter(server.url(""))

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    server.connections.leave()

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server._lock:
                    server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                    route = server.routes.get(path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    # counted as busy while it waits, before anything is sent: the client
                    # cannot see the answer (and start its next request) before it ends
                    server.connections.request(server.url(""), 1)
                    time.sleep(route.delay)
                    server.connections.request(server.url(""), -1)
                headers = {"Content-Type": route.content_type, **route.headers}
                body = route.body
                if route.etag and route.status == 200:
                    tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        self._send(304, b"", {"ETag": tag})
                        return
                if route.gzip:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self._send(route.status, body, headers, drip=route.drip)

            def _send(self, status: int, body: bytes, headers: dict[str, str],
                      drip: float = 0.0) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if drip:
                        for i in range(0, len(body), 1024):
                            self.wfile.write(body[i:i + 1024])
                            self.wfile.flush()
                            time.sleep(drip)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def rss(items: list[dict[str, str]], title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document; item keys: title, link, guid, pubDate, description (raw XML-safe
    text or CDATA is the caller's business)."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
             f"<title>{title}</title><link>https://feed.example/</link>"
             "<description>test</description>"]
    for it in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "pubDate", "description"):
            if key in it:
                parts.append(f"<{key}>{it[key]}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")
