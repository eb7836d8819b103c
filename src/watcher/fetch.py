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
import contextlib
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, the environment ignored), made once: loading
    the CA file costs ~50 ms, which every client made its own context pay."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on `GuardedBackend`."""

    def __init__(self, limits: httpx.Limits, policy: AddressPolicy) -> None:
        super().__init__(verify=_ssl_context(), limits=limits, trust_env=False)
        # httpx does not expose the network backend: rebuild the pool its constructor made, with
        # the same settings plus the guard (tests/test_netguard.py fails if this stops working).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


def _client(cfg: FetchConfig, guarded: bool) -> httpx.AsyncClient:
    timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout, pool=cfg.deadline)
    limits = httpx.Limits(
        max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency
    )
    policy = AddressPolicy(parse_networks(cfg.allow_networks))
    return httpx.AsyncClient(
        verify=_ssl_context(),
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
        transport=_GuardedTransport(limits, policy) if guarded else None,
    )


@dataclass(frozen=True, slots=True)
class Clients:
    """`trusted` connects anywhere (URLs written by the operator); `guarded` through the guard."""

    trusted: httpx.AsyncClient
    guarded: httpx.AsyncClient


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


async def fetch_one(
    clients: Clients, feed: FeedConfig, state: FeedState | None, cfg: FetchConfig,
    trusted: bool = True,
) -> FetchResult:
    """Fetch one feed. Never raises for network or HTTP trouble: see `FetchResult.error_kind`.

    Redirects are followed here, not by httpx, to tell permanent ones (301/308: the feed moved,
    `permanent_url` is set) from temporary ones (302/303/307: keep the configured URL). With
    `trusted`, `feed.url` itself is connected to as written; everything else goes through the guard.
    """
    url = feed.url
    if state is not None and state.config_url == feed.url and state.url:
        url = state.url  # a permanent redirect moved the feed earlier
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
                async with client.stream("GET", url, headers=headers) as resp:
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
    operator (config, command line); False for URLs taken from feed content."""
    global_limit = asyncio.Semaphore(cfg.concurrency)
    per_host: dict[str, asyncio.Semaphore] = {}

    async def limited(clients: Clients, feed: FeedConfig) -> FetchResult:
        host = (urlsplit(feed.url).hostname or "").lower()
        host_limit = per_host.setdefault(host, asyncio.Semaphore(cfg.per_host))
        async with host_limit, global_limit:
            return await fetch_one(clients, feed, states.get(feed.name), cfg, trusted)

    async with _client(cfg, guarded=False) as plain, _client(cfg, guarded=True) as guarded:
        results = list(await asyncio.gather(*(limited(Clients(plain, guarded), f)
                                              for f in feeds)))
    _log_refused(results)
    return results


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
