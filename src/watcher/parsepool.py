"""Parse many fetched feeds at once, on several processes: `parse_feeds`.

A cold poll of a thousand feeds is some 60,000 entries to parse and clean: CPU-bound Python that
one interpreter runs on one core. `parse_feeds` gives the same results as calling
`watcher.parse.parse_feed` on each feed in turn, using a process pool when the batch is large
enough to repay starting one:

1. a worker parses each document and decides each entry's identity (`parse.stage_feed`);
2. the main process asks `known_ids` (a store query: it only works in the process that opened the
   store) which of those ids are already stored;
3. a worker cleans the text of the entries the store does not know (`parse.finish_feed`).

Steps 2 and 3 of one feed overlap step 1 of the next: the workers never wait for the store.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime

from watcher.parse import (
    MAX_TEXT,
    KnownIds,
    ParsedFeed,
    StagedFeed,
    finish_feed,
    parse_feed,
    stage_feed,
)

__all__ = ["MIN_POOL_BYTES", "ParseJob", "default_workers", "parse_feeds"]

log = logging.getLogger("watcher")

# (feed name, URL fetched, body, response headers, fetch time): parse_feed's arguments.
ParseJob = tuple[str, str, bytes, Mapping[str, str], datetime]

# Below this many body bytes in a batch the pool is not started: a worker process costs some
# 0.2-0.3 s to start, about what parsing 4 MB of feeds costs on one core.
MIN_POOL_BYTES = 8 * 1024 * 1024
MAX_WORKERS = 8


def default_workers() -> int:
    """The CPUs this process may run on (at most `MAX_WORKERS`)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def parse_feeds(
    jobs: Sequence[ParseJob],
    known_ids: KnownIds | None = None,
    workers: int | None = None,
    *,
    min_pool_bytes: int = MIN_POOL_BYTES,
    start_method: str = "forkserver",
    max_items: int | None = None,
    max_chars: int = MAX_TEXT,
) -> list[ParsedFeed]:
    """`[parse_feed(*job, known_ids=known_ids, max_items=max_items, max_chars=max_chars) for job
    in jobs]`, on `workers` processes.

    The result is the same list, in the order of `jobs`, whatever the number of workers.
    `known_ids` (ids -> the subset already stored) is only called in this process, once per
    feed with entries, like `parse_feed` calls it. Runs serially, without starting any process,
    when `workers` (default: `default_workers()`) is 1, there is a single job, or the bodies add
    up to less than `min_pool_bytes`. If the pool cannot start or a worker dies, what is left is
    parsed serially (logged as a warning); an exception raised by the parser itself propagates
    as it would from `parse_feed`.
    """
    n_workers = default_workers() if workers is None else workers
    total = sum(len(job[2]) for job in jobs)
    if n_workers < 2 or len(jobs) < 2 or total < min_pool_bytes:
        return [parse_feed(*job, known_ids=known_ids, max_items=max_items, max_chars=max_chars)
                for job in jobs]
    results: list[ParsedFeed | None] = [None] * len(jobs)
    try:
        _parse_on_pool(jobs, known_ids, min(n_workers, len(jobs)),
                       _PoolOptions(start_method, max_items, max_chars), results)
    except (BrokenProcessPool, OSError) as exc:
        left = sum(1 for r in results if r is None)
        log.warning("parse pool failed (%s: %s); parsing the %d feeds left in this process",
                    type(exc).__name__, exc, left)
    return [r if r is not None else parse_feed(*job, known_ids=known_ids, max_items=max_items,
                                                 max_chars=max_chars)
            for r, job in zip(results, jobs, strict=True)]


@dataclass(frozen=True, slots=True)
class _PoolOptions:
    start_method: str
    max_items: int | None
    max_chars: int


def _parse_on_pool(
    jobs: Sequence[ParseJob], known_ids: KnownIds | None, workers: int, options: _PoolOptions,
    results: list[ParsedFeed | None],
) -> None:
    start_method, max_items, max_chars = options.start_method, options.max_items, \
        options.max_chars
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["watcher.parsepool"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        staging: dict[Future[StagedFeed], int] = {
            pool.submit(stage_feed, *job): i for i, job in enumerate(jobs)
        }
        finishing: dict[Future[ParsedFeed], tuple[int, int]] = {}
        for fut in as_completed(staging):
            i = staging.pop(fut)
            staged = _cap(fut.result(), max_items)
            name, _url, _body, _headers, fetched = jobs[i]
            known = (known_ids([e.id for e in staged.entries]) if known_ids and staged.entries
                     else set())
            todo = tuple(e for e in staged.entries if e.id not in known)
            if not todo:  # nothing to clean: finishing is cheap, do it here
                results[i] = finish_feed(staged, name, fetched, known, max_chars=max_chars)
                continue
            n_known = len(staged.entries) - len(todo)
            part = replace(staged, entries=todo)
            finishing[pool.submit(_finish, part, name, fetched, max_chars)] = (i, n_known)
        for done in as_completed(finishing):
            i, n_known = finishing.pop(done)
            results[i] = replace(done.result(), known=n_known)


def _cap(staged: StagedFeed, max_items: int | None) -> StagedFeed:
    """The first `max_items` entries, the rest counted in `capped` (as `parse_feed` does)."""
    if max_items is not None and len(staged.entries) > max_items:
        return replace(staged, entries=staged.entries[:max_items],
                       capped=len(staged.entries) - max_items)
    return staged


def _finish(staged: StagedFeed, feed_name: str, fetched: datetime, max_chars: int) -> ParsedFeed:
    return finish_feed(staged, feed_name, fetched, max_chars=max_chars)
