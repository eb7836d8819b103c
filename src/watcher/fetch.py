"""Fetch feeds over HTTP: concurrent, polite, bounded.

Every fetch has connect/read timeouts, an overall deadline (a server that drips bytes cannot hold a
run), and a size cap enforced on the decoded stream while reading (a gzip bomb cannot exhaust
memory). Conditional GET uses the ETag / Last-Modified stored for the feed. A failure is returned as
a `FetchResult` with `error_kind`, never raised: one bad feed never stops a run.

Only a URL written by the operator (a configured feed, a command-line argument) is connected to as
written. Every redirect target, a feed's moved URL and every article link goes through
`watcher.netguard`: refused unless the address connected to is public or in `[fetch]
allow_networks` (`error_kind` "refused", logged once per host per run).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from watcher.config import FeedConfig, FetchConfig
from watcher.models import FeedState, FetchResult
from watcher.netguard import AddressPolicy, GuardedBackend, RefusedAddress, parse_networks
from watcher.urls import absolute_url

log = logging.getLogger("watcher.fetch")

T = TypeVar("T")

# Headers that describe the transfer, not the document: feedparser must not see them, since the body
# it gets is already decoded.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _TooLarge(Exception):
    pass


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on `GuardedBackend`."""

    def __init__(
        self, limits: httpx.Limits, policy: AddressPolicy, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx does not expose the network backend: rebuild the pool its constructor made, with
        # the same settings plus the guard (tests/test_netguard.py fails if this stops working).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


def _client(cfg: FetchConfig, guarded: bool, ssl_context: ssl.SSLContext,
            policy: AddressPolicy) -> httpx.AsyncClient:
    """A client for one host: at most `cfg.per_host` connections, kept alive between its
    requests."""
    timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout, pool=cfg.deadline)
    limits = httpx.Limits(max_connections=cfg.per_host, max_keepalive_connections=cfg.per_host)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={
            "User-Agent": cfg.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
        trust_env=False,
        verify=ssl_context,
        transport=_GuardedTransport(limits, policy, ssl_context) if guarded else None,
    )


class Clients:
    """HTTP clients, one per origin (scheme, host and port) and kind: `trusted` ones connect
    anywhere (URLs written by the operator), guarded ones through `watcher.netguard`.

    One pool per origin, not one for every host: httpcore's pool walks all its connections
    (part of it once per connection) whenever a request starts or ends, so a shared pool of
    `concurrency` connections costs O(concurrency²) per fetch, about 10 ms of CPU each at 64
    (`bench/fetch_pools.py`). An origin's pool holds at most `per_host` connections, reused
    between that origin's feeds. The clients share one TLS context (making one costs ~20 ms)."""

    def __init__(self, cfg: FetchConfig) -> None:
        self._cfg = cfg
        self._policy = AddressPolicy(parse_networks(cfg.allow_networks))
        self._ssl: ssl.SSLContext | None = None
        self._clients: dict[tuple[str, bool], httpx.AsyncClient] = {}
        self._active: Counter[str] = Counter()  # per origin: responses being read...
        self._holds: Counter[str] = Counter()  # ...and fetches of feeds starting there

    def for_url(self, url: str, *, guarded: bool) -> httpx.AsyncClient:
        key = (_origin(url), guarded)
        client = self._clients.get(key)
        if client is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            client = self._clients[key] = _client(self._cfg, guarded, self._ssl, self._policy)
        return client

    @asynccontextmanager
    async def stream(self, url: str, *, guarded: bool,
                     headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """``client.stream("GET", url)`` with the origin's client."""
        origin = _origin(url)
        client = self.for_url(url, guarded=guarded)
        self._active[origin] += 1
        try:
            async with client.stream("GET", url, headers=headers) as resp:
                yield resp
        finally:
            self._active[origin] -= 1
            await self._close_if_unused(origin)

    def hold(self, url: str) -> str:
        """Keep the connections of `url`'s origin alive until `release` (a fetch of a feed
        starting there is in flight or about to be). Returns the origin."""
        origin = _origin(url)
        self._holds[origin] += 1
        return origin

    async def release(self, origin: str) -> None:
        """Once no fetch holds an origin and no response from it is being read, its clients are
        closed with their idle connections (a later feed there connects again): the connections
        kept open stay about those of the fetches in flight, whatever the number of hosts."""
        self._holds[origin] -= 1
        await self._close_if_unused(origin)

    async def _close_if_unused(self, origin: str) -> None:
        if not self._holds[origin] and not self._active[origin]:
            await self._close(origin)

    async def _close(self, origin: str) -> None:
        for guarded in (False, True):
            client = self._clients.pop((origin, guarded), None)
            if client is not None:
                await client.aclose()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


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


def _start_url(feed: FeedConfig, state: FeedState | None) -> str:
    """The URL a fetch of `feed` starts at: where a permanent redirect moved it, else its own."""
    if state is not None and state.config_url == feed.url and state.url:
        return state.url
    return feed.url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def fetch_one(
    clients: Clients, feed: FeedConfig, state: FeedState | None, cfg: FetchConfig,
    trusted: bool = True,
) -> FetchResult:
    """Fetch one feed. Never raises for network or HTTP trouble: see `FetchResult.error_kind`.

    Redirects are followed here, not by httpx, to tell permanent ones (301/308: the feed moved,
    `permanent_url` is set) from temporary ones (302/303/307: keep the configured URL). With
    `trusted`, `feed.url` itself is connected to as written; everything else goes through the guard.
    """
    url = _start_url(feed, state)
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
                guarded = not (trusted and url == feed.url)
                async with clients.stream(url, guarded=guarded, headers=headers) as resp:
                    status = resp.status_code
                    if status in _REDIRECTS and resp.headers.get("location"):
                        target = absolute_url(resp.headers["location"], url)
                        if target is None:
                            return result(status=status, error_kind="redirects",
                                          error="redirect to a non-http(s) location")
                        if status in (301, 308):
                            moved = target
                        else:
                            all_permanent = False
                        url = target
                        headers = {}  # validators belong to the old URL
                        continue
                    resp_headers = {
                        k.lower(): v for k, v in resp.headers.items()
                        if k.lower() not in _TRANSFER_HEADERS
                    }
                    if status == 304:
                        return result(status=status, headers=resp_headers, not_modified=True)
                    if status >= 400:
                        wait = (_retry_after(resp.headers.get("retry-after"), time.time())
                                if status in (429, 503) else None)
                        return result(
                            status=status, headers=resp_headers, error_kind="http",
                            error=f"HTTP {status} {resp.reason_phrase}".strip(), retry_after=wait,
                        )
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > cfg.max_bytes and not (
                        resp.headers.get("content-encoding")
                    ):
                        raise _TooLarge(f"declared {declared} bytes")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > cfg.max_bytes:
                            raise _TooLarge(f"more than {cfg.max_bytes} bytes after decoding")
                        chunks.append(chunk)
                    return result(status=status, headers=resp_headers, body=b"".join(chunks))
            return result(status=None, error_kind="redirects",
                          error=f"more than {cfg.max_redirects} redirects")
    except RefusedAddress as exc:
        return result(status=None, error_kind="refused", error=str(exc))
    except _TooLarge as exc:
        return result(status=None, error_kind="too_large",
                      error=f"response too large ({exc}); raise [fetch] max_bytes if it is genuine")
    except TimeoutError:
        return result(status=None, error_kind="deadline",
                      error=f"no complete response within the {cfg.deadline:g} s deadline")
    except httpx.TimeoutException as exc:
        return result(status=None, error_kind="timeout", error=f"{type(exc).__name__}: timed out")
    except httpx.ConnectError as exc:
        return result(status=None, error_kind="connect", error=f"cannot connect: {_short(exc)}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return result(status=None, error_kind="protocol",
                      error=f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


async def fetch_all(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], cfg: FetchConfig,
    trusted: bool = True,
) -> list[FetchResult]:
    """Fetch every feed concurrently: at most `cfg.concurrency` at once, `cfg.per_host` per host.
    Results come back in the order of `feeds`. `trusted`: the feeds' URLs were written by the
    operator (config, command line); False for URLs taken from feed content.

    `cfg.concurrency` workers take the feeds host by host: each takes the next feed of the
    first host (in the order the hosts first appear in `feeds`) below its limit, so a host's
    feeds are fetched together over its kept-alive connections (see `Clients`). A slow host
    holds only the workers of its own fetches, each for at most `cfg.deadline`."""
    queues: dict[str, deque[int]] = {}  # per host, in order of first appearance
    for i, feed in enumerate(feeds):
        queues.setdefault((urlsplit(feed.url).hostname or "").lower(), deque()).append(i)
    busy: Counter[str] = Counter()
    results: list[FetchResult | None] = [None] * len(feeds)
    changed = asyncio.Condition()

    def take() -> tuple[str, int] | None:
        host = next((h for h in queues if busy[h] < cfg.per_host), None)
        if host is None:
            return None
        queue = queues[host]
        i = queue.popleft()
        if not queue:
            del queues[host]
        busy[host] += 1
        return host, i

    async def worker(clients: Clients) -> None:
        held: str | None = None  # the origin whose connection this worker last used
        try:
            while True:
                async with changed:
                    picked = take()
                    while picked is None:
                        if not queues:
                            return
                        await changed.wait()  # every host with feeds left is at its limit
                        picked = take()
                host, i = picked
                feed, state = feeds[i], states.get(feeds[i].name)
                origin = clients.hold(_start_url(feed, state))
                if held is not None:
                    await clients.release(held)  # (still held if it is the same origin)
                held = origin
                try:
                    results[i] = await fetch_one(clients, feed, state, cfg, trusted)
                finally:
                    async with changed:
                        busy[host] -= 1
                        changed.notify_all()
        finally:
            if held is not None:
                await clients.release(held)

    clients = Clients(cfg)
    try:
        await asyncio.gather(*(worker(clients) for _ in range(min(cfg.concurrency, len(feeds)))))
    finally:
        await clients.aclose()
    done = [r for r in results if r is not None]
    if len(done) != len(feeds):  # cannot happen: every feed is taken once, and fetch_one returns
        raise RuntimeError("fetch_all: a feed was not fetched")
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
    event loop (as inside some Prefect task runners): then it runs in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def fetch_feeds(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], cfg: FetchConfig,
    trusted: bool = True,
) -> list[FetchResult]:
    return run_sync(lambda: fetch_all(feeds, states, cfg, trusted))


__all__ = ["Clients", "fetch_all", "fetch_feeds", "fetch_one", "run_sync"]
