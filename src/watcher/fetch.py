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

An error message never carries a control character: what a server wrote (a reason phrase, a
host name in a redirect) goes to logs, terminals and the store, where an escape sequence could
rewrite what an operator sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import certifi
import yarl

from watcher.config import FeedConfig, FetchConfig
from watcher.decoding import BodyDecoder, TooLarge, Undecodable
from watcher.health import strip_controls
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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS context of every client: certifi's CAs (as before, with httpx), certificates and
    host names verified. Made once: loading the CA file costs ~50 ms."""
    return ssl.create_default_context(cafile=certifi.where())


_IDLE = 2.0  # seconds an idle kept-alive connection stays open
_CLEANUP_CLOSED = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)


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
        # a connection is reused at once or not at all (see fetch_all): one left idle by a
        # server that ignored "Connection: close" goes soon
        keepalive_timeout=_IDLE,
        # (TLS connections aborted by a timeout are closed, not left to the garbage collector,
        # on the Pythons that need it; newer ones would warn)
        enable_cleanup_closed=_CLEANUP_CLOSED,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # connect: the lookup and the connection (the old client bounded both)
        timeout=aiohttp.ClientTimeout(total=None, connect=cfg.connect_timeout,
                                      sock_connect=cfg.connect_timeout,
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
    if value.isascii() and value.isdigit():  # ("²" is a digit to str.isdigit, not to float)
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):  # (year 9999999999: overflow)
        return None


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _guarded(feed: FeedConfig, url: str, trusted: bool) -> bool:
    """Whether `url` (fetched for `feed`) goes through the guard: all but a trusted feed's own
    configured URL (a moved feed's URL and every redirect target included)."""
    return not (trusted and url == feed.url)


def _origin(url: str, guarded: bool) -> str:
    """What a connection can serve: the client (trusted or guarded), scheme, host (as written:
    the client's pool tells "LOCALHOST" from "localhost" when the URL is sent as written) and
    port."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    host = host[: host.index("]") + 1] if host.startswith("[") and "]" in host \
        else host.partition(":")[0]
    return f"{'g' if guarded else 't'} {parts.scheme.lower()}://{host}:{port}"


def _text(value: str) -> str:
    """A header value as sent: UTF-8 when its bytes are that (aiohttp reads them so), else
    Latin-1 (aiohttp keeps undecodable bytes as surrogates, which no database takes), as the old
    client read them."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


_LISTS = frozenset({"content-encoding"})  # headers whose repeats make one list


def _headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """The response's headers, names lower-cased; a repeated one keeps its first value (a list
    header, Content-Encoding, joins them by ", ")."""
    out: dict[str, str] = {}
    for k, v in resp.headers.items():
        name = k.lower()
        if name not in out:
            out[name] = _text(v)
        elif name in _LISTS:
            out[name] = f"{out[name]}, {_text(v)}"
    return out


def _sent_as_written(url: str) -> bool:
    """Printable ASCII without characters that must be quoted in a request target."""
    return url.isascii() and all("!" <= c <= "~" for c in url) \
        and not any(c in url for c in "\"<>\\^`{|}")


def _request_url(url: str) -> yarl.URL | str:
    """The URL sent as written (percent-escapes kept, nothing re-quoted: signed URLs stay valid)
    when it is printable ASCII without characters that need quoting; else aiohttp quotes it (a
    space, a control character, an international host name)."""
    if _sent_as_written(url):
        try:
            return yarl.URL(url, encoded=True)
        except ValueError:
            return url  # (aiohttp says what is wrong with it)
    return url


def _describe(exc: BaseException) -> str:
    """An error's text without the URL it may carry (a query string or a password in it)."""
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return f"{type(exc).__name__}: not an http(s) URL"
    if isinstance(exc, aiohttp.InvalidURL):
        reason = getattr(exc, "description", None)
        return f"{type(exc).__name__}: invalid URL{f' ({reason})' if reason else ''}"
    if isinstance(exc, aiohttp.ClientResponseError):
        message = strip_controls(exc.message or "")
        return f"{type(exc).__name__}: {exc.status}, {message[:200]}"
    return f"{type(exc).__name__}: {_short(exc)}"


_DRAIN = 1 << 16  # an unwanted body (an error page, a redirect's) is read this far ...
_DRAIN_WAIT = 0.2  # ... for this long at most, to reuse its connection; else it is closed


async def _finish(resp: aiohttp.ClientResponse, reuse: bool, deadline: asyncio.Timeout) -> None:
    """Done with a response whose body is not wanted (its result is already decided): with
    `reuse`, a short body is read to its end, briefly, so the connection goes back for reuse;
    anything else (a long or slow body, an error reading it, a deadline close by) closes it."""
    when = deadline.when()
    if reuse and (when is None or when - asyncio.get_running_loop().time() > 2 * _DRAIN_WAIT):
        size = 0
        try:
            async with asyncio.timeout(_DRAIN_WAIT):
                while size <= _DRAIN and (chunk := await resp.content.read(_CHUNK)):
                    size += len(chunk)
        except (TimeoutError, aiohttp.ClientError, OSError):
            size = _DRAIN + 1
        if size <= _DRAIN:
            return
    resp.close()


def _close_after(resp: aiohttp.ClientResponse) -> None:
    """The response's connection is closed once the response is done, not kept for reuse (when
    aiohttp still holds it: a body that came with the headers has released it already, and
    then the server closes it, asked by "Connection: close")."""
    conn = resp.connection
    if conn is not None and conn.protocol is not None:
        conn.protocol.force_close()


async def fetch_one(
    clients: Clients, feed: FeedConfig, state: FeedState | None, cfg: FetchConfig,
    trusted: bool = True, keep: str | None = None,
) -> FetchResult:
    """Fetch one feed. Never raises for network or HTTP trouble: see `FetchResult.error_kind`.

    Redirects are followed here, not by the client, to tell permanent ones (301/308: the feed
    moved, `permanent_url` is set) from temporary ones (302/303/307: keep the configured URL).
    With `trusted`, `feed.url` itself is connected to as written; everything else goes through
    the guard. `keep`: the origin (see `_origin`) the caller fetches from next, whose connection
    is kept open; every other connection is closed after its response ("Connection: close", and
    on this side when it can).
    """
    url = effective_url(feed, state)
    # the stored validators are those of the URL the last body came from (the state's URL, or
    # the target of a temporary redirect: see watcher.health.after_fetch): sent to it alone
    validators: dict[str, str] = {}
    home: str | None = None
    if state is not None and state.url == url:
        home = state.validators_url or state.url
        if state.etag:
            validators["If-None-Match"] = state.etag
        if state.last_modified:
            validators["If-Modified-Since"] = state.last_modified
    headers = dict(validators) if home == url else {}
    started = time.monotonic()
    moved: str | None = None
    all_permanent = True

    def result(**kw: Any) -> FetchResult:
        if kw.get("error"):
            kw["error"] = strip_controls(kw["error"])
        return FetchResult(feed=feed.name, url=url, elapsed=time.monotonic() - started,
                           permanent_url=moved if all_permanent else None, **kw)

    try:
        async with asyncio.timeout(cfg.deadline) as deadline:
            for _hop in range(cfg.max_redirects + 1):
                guarded = _guarded(feed, url, trusted)
                client = clients.guarded if guarded else clients.trusted
                reuse = keep is not None and _origin(url, guarded) == keep
                sent = headers if reuse else {**headers, "Connection": "close"}
                async with client.get(_request_url(url), headers=sent,
                                      allow_redirects=False) as resp:
                    status = resp.status
                    got = _headers(resp)
                    location = got.get("location")
                    if status in _REDIRECTS and location:
                        await _finish(resp, reuse, deadline)
                        target = absolute_url(location, url)
                        if target is None:
                            return result(status=status, error_kind="redirects",
                                          error="redirect to a non-http(s) location")
                        if status in (301, 308):
                            moved = target
                        else:
                            all_permanent = False
                        url = target
                        headers = dict(validators) if target == home else {}
                        continue
                    resp_headers = {k: v for k, v in got.items() if k not in _TRANSFER_HEADERS}
                    if status == 304:
                        done = result(status=status, headers=resp_headers, not_modified=True)
                        await _finish(resp, reuse, deadline)
                        return done
                    if status >= 400:
                        wait = (_retry_after(got.get("retry-after"), time.time())
                                if status in (429, 503) else None)
                        reason = strip_controls(_text(resp.reason or ""))
                        done = result(
                            status=status, headers=resp_headers, error_kind="http",
                            error=f"HTTP {status} {reason}".strip(), retry_after=wait,
                        )
                        await _finish(resp, reuse, deadline)
                        return done
                    if not reuse:
                        _close_after(resp)
                    coding = got.get("content-encoding", "")
                    declared = got.get("content-length", "")
                    if declared.isdigit() and int(declared) > cfg.max_bytes and not coding:
                        raise TooLarge(f"declared {declared} bytes")
                    decoder = BodyDecoder(coding, cfg.max_bytes)
                    chunks: list[bytes] = []
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        chunks.append(decoder.feed(chunk))
                    chunks.append(decoder.feed(b"", final=True))
                    return result(status=status, headers=resp_headers, body=b"".join(chunks))
            return result(status=None, error_kind="redirects",
                          error=f"more than {cfg.max_redirects} redirects")
    except RefusedAddress as exc:
        return result(status=None, error_kind="refused", error=str(exc))
    except TooLarge as exc:
        return result(status=None, error_kind="too_large",
                      error=f"response too large ({exc}); raise [fetch] max_bytes if it is genuine")
    except Undecodable as exc:
        return result(status=None, error_kind="protocol", error=str(exc))
    except aiohttp.ServerTimeoutError as exc:  # (a TimeoutError too: before the deadline's)
        return result(status=None, error_kind="timeout", error=f"{type(exc).__name__}: timed out")
    except TimeoutError:
        return result(status=None, error_kind="deadline",
                      error=f"no complete response within the {cfg.deadline:g} s deadline")
    except aiohttp.ClientConnectorError as exc:
        return result(status=None, error_kind="connect", error=f"cannot connect: {_short(exc)}")
    except (aiohttp.ClientError, ValueError) as exc:
        return result(status=None, error_kind="protocol", error=_describe(exc))


def effective_url(feed: FeedConfig, state: FeedState | None) -> str:
    """The URL a feed is fetched at: the configured one, or where a permanent redirect moved it."""
    if state is not None and state.config_url == feed.url and state.url:
        return state.url
    return feed.url


def _short(exc: BaseException) -> str:
    text = strip_controls(str(exc)) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class _Plan:
    """Which feed a worker fetches next. Feeds are queued by origin (what one connection can
    serve: see `_origin`), origins in the order of their first feed. A free worker takes an
    origin no worker is on (the first such), else the one with the fewest workers, always with
    fewer than `per_host` workers on its host name; it stays on the origin while it has feeds."""

    def __init__(self, origins: Sequence[str], hosts: Sequence[str], per_host: int) -> None:
        self.queues: dict[str, deque[int]] = {}
        self.host_of: dict[str, str] = {}
        for i, (origin, host) in enumerate(zip(origins, hosts, strict=True)):
            self.queues.setdefault(origin, deque()).append(i)
            self.host_of.setdefault(origin, host)
        self.fresh = deque(self.queues)  # origins no worker has taken yet
        self.on_origin: Counter[str] = Counter()
        self.on_host: Counter[str] = Counter()
        self.per_host = per_host

    def _open(self, origin: str) -> bool:
        return bool(self.queues.get(origin)) and self.on_host[self.host_of[origin]] < self.per_host

    def take(self) -> str | None:
        chosen = None
        for _ in range(len(self.fresh)):  # (the hosts of some may be full for now)
            origin = self.fresh.popleft()
            if self._open(origin):
                chosen = origin
                break
            if self.queues[origin]:
                self.fresh.append(origin)  # its turn comes when its host has room
        if chosen is None:
            self.queues = {o: q for o, q in self.queues.items() if q}  # (done: not again)
            candidates = [o for o in self.queues if self._open(o)]
            if not candidates:
                return None
            chosen = min(candidates, key=self.on_origin.__getitem__)  # (the first of the fewest)
        self.on_origin[chosen] += 1
        self.on_host[self.host_of[chosen]] += 1
        return chosen

    def next_feed(self, origin: str) -> int | None:
        queue = self.queues.get(origin)
        return queue.popleft() if queue else None

    def leave(self, origin: str) -> None:
        self.on_origin[origin] -= 1
        self.on_host[self.host_of[origin]] -= 1


async def fetch_all(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], cfg: FetchConfig,
    trusted: bool = True,
) -> list[FetchResult]:
    """Fetch every feed concurrently: at most `cfg.concurrency` at once, `cfg.per_host` per host
    (see the module docstring). Results come back in the order of `feeds`. `trusted`: the feeds'
    URLs were written by the operator (config, command line); False for URLs taken from feed
    content."""
    first_urls = [effective_url(f, states.get(f.name)) for f in feeds]
    origins = [_origin(u, _guarded(f, u, trusted)) for u, f in zip(first_urls, feeds,
                                                                     strict=True)]
    plan = _Plan(origins, [_host(u) for u in first_urls], cfg.per_host)
    results: list[FetchResult | None] = [None] * len(feeds)

    async def fetch(clients: Clients, index: int, keep: str | None) -> FetchResult:
        feed = feeds[index]
        try:
            return await fetch_one(clients, feed, states.get(feed.name), cfg, trusted, keep)
        except Exception as exc:  # a bug: the feed fails, the others go on
            log.exception("fetching %s failed unexpectedly", feed.name)
            return FetchResult(feed=feed.name, url=first_urls[index], status=None,
                               error_kind="protocol",
                               error=f"internal error ({type(exc).__name__}): see the log")

    async def worker(clients: Clients) -> None:
        while (origin := plan.take()) is not None:
            try:
                index = plan.next_feed(origin)
                while index is not None:
                    # the origin's next feed is taken now: only a worker that goes on with it
                    # keeps its connection open
                    following = plan.next_feed(origin)
                    results[index] = await fetch(
                        clients, index, origin if following is not None else None)
                    index = following
            finally:
                plan.leave(origin)
            # the connection just closed (its socket goes at the loop's next turn) before the
            # next origin's opens
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
        running = False
    else:
        running = True
    if not running:  # (outside the except: a traceback from inside does not chain to it)
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
