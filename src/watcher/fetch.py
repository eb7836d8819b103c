"""Fetch feeds over HTTP: concurrent, polite, bounded.

Every fetch has connect/read timeouts, an overall deadline (a server that drips bytes cannot hold a
run), and a size cap enforced on the decoded stream while reading (a gzip bomb cannot exhaust
memory: bodies are decompressed here, in steps that never produce more than the cap). Conditional
GET uses the ETag / Last-Modified stored for the feed. A failure is returned as a `FetchResult`
with `error_kind`, never raised: one bad feed never stops a run.

Scheduling: `concurrency` workers, each using one connection at a time. A worker takes a host
(one no worker is on first, in the order of the feeds; at most `per_host` workers on one host)
and fetches that host's feeds one after another over the same kept-alive connection; its last
request to the host says "Connection: close". Connections are reused within a host, and no idle
one is left open: at most `concurrency` are open (plus, for a moment, one its server is
closing). HTTP is aiohttp's client (about a fifth of the CPU per request of the httpx client used
before: `bench/ingest.py fetch`, docs/benchmarks.md).

Only a URL written by the operator (a configured feed, a command-line argument) is connected to as
written. Every redirect target, a feed's moved URL and every article link goes through
`watcher.netguard`: refused unless the address connected to is public or in `[fetch]
allow_networks` (`error_kind` "refused", logged once per host per run).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import certifi

from watcher.config import FeedConfig, FetchConfig
from watcher.models import FeedState, FetchResult
from watcher.netguard import (
    AddressPolicy,
    GuardedResolver,
    RefusedAddress,
    guarded_socket_factory,
    parse_networks,
)
from watcher.urls import absolute_url

log = logging.getLogger("watcher.fetch")

T = TypeVar("T")

# Headers that describe the transfer, not the document: feedparser must not see them, since the body
# it gets is already decoded.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 1 << 16


class _TooLarge(Exception):
    pass


class _Undecodable(Exception):
    pass


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS context of every client: certifi's CAs (as before, with httpx), certificates and
    host names verified. Made once: loading the CA file costs ~50 ms."""
    return ssl.create_default_context(cafile=certifi.where())


class _Decoder:
    """Undoes a Content-Encoding ("gzip", "deflate", several in a row, "identity"), producing at
    most `limit` bytes in all: a gzip bomb stops at the cap, whatever one chunk expands to."""

    def __init__(self, header: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.stages: list[Any] = []
        for coding in reversed([c.strip().lower() for c in header.split(",") if c.strip()]):
            if coding in ("gzip", "x-gzip"):
                self.stages.append(zlib.decompressobj(16 + zlib.MAX_WBITS))
            elif coding == "deflate":
                self.stages.append(None)  # zlib-wrapped or raw: told by the first bytes
            elif coding != "identity":
                raise _Undecodable(f"unsupported Content-Encoding {coding!r}")
        self.codings = header

    def _stage(self, i: int, data: bytes) -> Any:
        stage = self.stages[i]
        if stage is None and data:
            # "deflate" is zlib-wrapped by the standard, raw deflate from some servers
            wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0 \
                if len(data) > 1 else True
            stage = self.stages[i] = zlib.decompressobj(zlib.MAX_WBITS if wrapped
                                                        else -zlib.MAX_WBITS)
        return stage

    def feed(self, data: bytes, final: bool = False) -> bytes:
        try:
            for i in range(len(self.stages)):
                stage = self._stage(i, data)
                if stage is None:
                    continue
                room = self.limit - self.size + 1
                out = stage.decompress(data, room)
                if final and len(out) < room:
                    out += stage.flush()
                if len(out) >= room or stage.unconsumed_tail:
                    raise _TooLarge(f"more than {self.limit} bytes after decoding")
                data = out
        except zlib.error as exc:
            raise _Undecodable(f"cannot decode the {self.codings} body: {exc}") from None
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge(f"more than {self.limit} bytes after decoding")
        return data


@dataclass(frozen=True, slots=True)
class Clients:
    """`trusted` connects anywhere (URLs written by the operator); `guarded` through the guard."""

    trusted: aiohttp.ClientSession
    guarded: aiohttp.ClientSession


def _session(cfg: FetchConfig, guarded: bool) -> aiohttp.ClientSession:
    policy = AddressPolicy(parse_networks(cfg.allow_networks))
    connector = aiohttp.TCPConnector(
        limit=cfg.concurrency,
        ssl=_ssl_context(),
        resolver=GuardedResolver(policy) if guarded else aiohttp.ThreadedResolver(),
        socket_factory=guarded_socket_factory(policy) if guarded else None,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout,
                                      sock_read=cfg.read_timeout),
        auto_decompress=False,  # (decoded here, under the size cap)
        headers={
            "User-Agent": cfg.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
        trust_env=False,
        max_line_size=16384,
        max_field_size=16384,
    )


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """The response's headers, names lower-cased, repeated ones joined by ", ", without the
    transfer headers."""
    out: dict[str, str] = {}
    for k, v in resp.headers.items():
        name = k.lower()
        if name not in _TRANSFER_HEADERS:
            out[name] = f"{out[name]}, {v}" if name in out else v
    return out


_DRAIN = 1 << 16  # a body not needed (an error page, a redirect's) is read this far to reuse
# the connection; a longer one closes it


def _close_after(resp: aiohttp.ClientResponse) -> None:
    """The response's connection is closed once the response is done, not kept for reuse."""
    conn = resp.connection
    if conn is not None and conn.protocol is not None:
        conn.protocol.force_close()


async def _finish(resp: aiohttp.ClientResponse, reuse: bool) -> None:
    """Done with a response whose body is not wanted: with `reuse`, read a short body to its end
    (the connection then goes back to the pool), else close the connection."""
    if reuse:
        size = 0
        while size <= _DRAIN and (chunk := await resp.content.read(_CHUNK)):
            size += len(chunk)
        if size <= _DRAIN:
            return
    resp.close()


async def fetch_one(
    clients: Clients, feed: FeedConfig, state: FeedState | None, cfg: FetchConfig,
    trusted: bool = True, keep: str | None = None,
) -> FetchResult:
    """Fetch one feed. Never raises for network or HTTP trouble: see `FetchResult.error_kind`.

    Redirects are followed here, not by the client, to tell permanent ones (301/308: the feed
    moved, `permanent_url` is set) from temporary ones (302/303/307: keep the configured URL).
    With `trusted`, `feed.url` itself is connected to as written; everything else goes through
    the guard. `keep`: the host whose connection the caller fetches from next (kept open); every
    other connection is closed after its response ("Connection: close", and on our side).
    """
    url = effective_url(feed, state)
    headers: dict[str, str] = {}
    if state is not None and state.url == url:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    started = time.monotonic()
    moved: str | None = None
    all_permanent = True

    def result(**kw: Any) -> FetchResult:
        return FetchResult(feed=feed.name, url=url, elapsed=time.monotonic() - started,
                           permanent_url=moved if all_permanent else None, **kw)

    try:
        async with asyncio.timeout(cfg.deadline):
            for _hop in range(cfg.max_redirects + 1):
                client = clients.trusted if trusted and url == feed.url else clients.guarded
                reuse = _host(url) == keep
                sent = headers if reuse else {**headers, "Connection": "close"}
                async with client.get(url, headers=sent, allow_redirects=False) as resp:
                    status = resp.status
                    location = resp.headers.get("location")
                    if status in _REDIRECTS and location:
                        target = absolute_url(location, url)
                        if target is None:
                            await _finish(resp, reuse)
                            return result(status=status, error_kind="redirects",
                                          error="redirect to a non-http(s) location")
                        if status in (301, 308):
                            moved = target
                        else:
                            all_permanent = False
                        await _finish(resp, reuse)
                        url = target
                        headers = {}  # validators belong to the old URL
                        continue
                    resp_headers = _headers(resp)
                    if status == 304:
                        await _finish(resp, reuse)
                        return result(status=status, headers=resp_headers, not_modified=True)
                    if status >= 400:
                        await _finish(resp, reuse)
                        wait = (_retry_after(resp.headers.get("retry-after"), time.time())
                                if status in (429, 503) else None)
                        return result(
                            status=status, headers=resp_headers, error_kind="http",
                            error=f"HTTP {status} {resp.reason or ''}".strip(), retry_after=wait,
                        )
                    if not reuse:
                        _close_after(resp)
                    coding = resp.headers.get("content-encoding", "")
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > cfg.max_bytes and not coding:
                        raise _TooLarge(f"declared {declared} bytes")
                    decoder = _Decoder(coding, cfg.max_bytes)
                    chunks: list[bytes] = []
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        chunks.append(decoder.feed(chunk))
                    chunks.append(decoder.feed(b"", final=True))
                    return result(status=status, headers=resp_headers, body=b"".join(chunks))
            return result(status=None, error_kind="redirects",
                          error=f"more than {cfg.max_redirects} redirects")
    except RefusedAddress as exc:
        return result(status=None, error_kind="refused", error=str(exc))
    except _TooLarge as exc:
        return result(status=None, error_kind="too_large",
                      error=f"response too large ({exc}); raise [fetch] max_bytes if it is genuine")
    except _Undecodable as exc:
        return result(status=None, error_kind="protocol", error=str(exc))
    except aiohttp.ServerTimeoutError as exc:  # (a TimeoutError too: before the deadline's)
        return result(status=None, error_kind="timeout", error=f"{type(exc).__name__}: timed out")
    except TimeoutError:
        return result(status=None, error_kind="deadline",
                      error=f"no complete response within the {cfg.deadline:g} s deadline")
    except aiohttp.ClientConnectorError as exc:
        return result(status=None, error_kind="connect", error=f"cannot connect: {_short(exc)}")
    except (aiohttp.ClientError, ValueError) as exc:
        return result(status=None, error_kind="protocol",
                      error=f"{type(exc).__name__}: {_short(exc)}")


def effective_url(feed: FeedConfig, state: FeedState | None) -> str:
    """The URL a feed is fetched at: the configured one, or where a permanent redirect moved it."""
    if state is not None and state.config_url == feed.url and state.url:
        return state.url
    return feed.url


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class _Plan:
    """Which feed a worker fetches next: feeds grouped by host in the order of their first
    appearance; a free worker takes a host no worker is on (the first such), else the one with
    the fewest workers below `per_host`, and stays on it while it has feeds."""

    def __init__(self, hosts: Sequence[str], per_host: int) -> None:
        self.queues: dict[str, deque[int]] = {}
        for i, host in enumerate(hosts):
            self.queues.setdefault(host, deque()).append(i)
        self.fresh = deque(self.queues)  # hosts no worker has taken yet
        self.workers: Counter[str] = Counter()
        self.per_host = per_host

    def take_host(self) -> str | None:
        while self.fresh:
            host = self.fresh.popleft()
            if self.queues[host]:
                self.workers[host] += 1
                return host
        self.queues = {h: q for h, q in self.queues.items() if q}  # (done hosts: not again)
        open_hosts = [h for h in self.queues if self.workers[h] < self.per_host]
        if not open_hosts:
            return None
        host = min(open_hosts, key=self.workers.__getitem__)  # (the first of the fewest)
        self.workers[host] += 1
        return host

    def next_feed(self, host: str) -> int | None:
        queue = self.queues.get(host)
        return queue.popleft() if queue else None

    def leave(self, host: str) -> None:
        self.workers[host] -= 1


async def fetch_all(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], cfg: FetchConfig,
    trusted: bool = True,
) -> list[FetchResult]:
    """Fetch every feed concurrently: at most `cfg.concurrency` at once, `cfg.per_host` per host
    (see the module docstring). Results come back in the order of `feeds`. `trusted`: the feeds'
    URLs were written by the operator (config, command line); False for URLs taken from feed
    content."""
    plan = _Plan([_host(effective_url(f, states.get(f.name))) for f in feeds], cfg.per_host)
    results: list[FetchResult | None] = [None] * len(feeds)

    async def worker(clients: Clients) -> None:
        while (host := plan.take_host()) is not None:
            try:
                index = plan.next_feed(host)
                while index is not None:
                    # the host's next feed is taken now: only a worker that goes on with the
                    # host keeps its connection open
                    following = plan.next_feed(host)
                    feed = feeds[index]
                    results[index] = await fetch_one(
                        clients, feed, states.get(feed.name), cfg, trusted,
                        keep=host if following is not None else None)
                    index = following
            finally:
                plan.leave(host)
            # the connection just closed (its socket goes at the loop's next turn) before the
            # next host's opens: never more than `concurrency` open, even for a moment
            await asyncio.sleep(0)

    async with _session(cfg, guarded=False) as plain, _session(cfg, guarded=True) as guarded:
        clients = Clients(plain, guarded)
        await asyncio.gather(*(worker(clients) for _ in range(min(cfg.concurrency, len(feeds)))))
    done = [r for r in results if r is not None]
    assert len(done) == len(feeds)  # (every feed was taken by a worker)
    _log_refused(done)
    return done


def _log_refused(results: Sequence[FetchResult]) -> None:
    """One warning per refused host per call, with how many fetches it refused."""
    hosts: dict[str, list[FetchResult]] = {}
    for r in results:
        if r.error_kind == "refused":
            hosts.setdefault((urlsplit(r.url).hostname or r.url).lower(), []).append(r)
    for host, refused in hosts.items():
        log.warning("refused %d fetch%s to %s: %s", len(refused),
                    "" if len(refused) == 1 else "es", host, refused[0].error)


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when the caller's thread already runs an
    event loop (as inside some Prefect task runners): then it runs in a loop of its own in a
    helper thread. Interrupted there (Ctrl-C), the coroutine is cancelled (its connections
    closed) and the interrupt raised at once, not after the fetch would have ended."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    coro = factory()
    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(coro)  # (the loop does not run yet: safe from this thread)
    except BaseException:  # (a Ctrl-C right here)
        coro.close()
        raise
    finished = threading.Event()

    def run() -> None:
        try:
            loop.run_until_complete(asyncio.wait([task]))  # the outcome stays in `task`
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            finished.set()

    # a daemon: an interrupted run does not wait for it at exit
    helper = threading.Thread(target=run, name="watcher-run-sync", daemon=True)
    try:
        helper.start()  # (in the try: an interrupt while it starts cancels the task too)
        finished.wait()
    except BaseException:  # KeyboardInterrupt, SystemExit from a signal handler
        if not helper.is_alive() and not finished.is_set():  # (it never started)
            coro.close()
            loop.close()
            raise
        with contextlib.suppress(RuntimeError):  # (the loop closed: it was done)
            loop.call_soon_threadsafe(task.cancel)
        # (an Event, not Thread.join: an interrupted join takes the thread for ended)
        finished.wait(5)
        raise
    return task.result()


def fetch_feeds(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], cfg: FetchConfig,
    trusted: bool = True,
) -> list[FetchResult]:
    return run_sync(lambda: fetch_all(feeds, states, cfg, trusted))


__all__ = ["Clients", "fetch_all", "fetch_feeds", "fetch_one", "run_sync"]
