"""Parse many fetched feeds at once, on several processes: `iter_parse_feeds`.

A cold poll of a thousand feeds is some 60,000 entries to parse and clean: CPU-bound Python that
one interpreter runs on one core. `iter_parse_feeds` gives the same results as calling
`watcher.parse.parse_feed` on each feed in turn, using a process pool when the batch is large
enough to repay starting one. The caller passes, per feed, the ids already stored (one store
query for the whole batch, made before: a worker cannot use the store), so that only new entries
cost cleaning; results come back in order while the workers go on, so the caller's own work on
the first feeds (deduplication, stories, storage) overlaps the parsing of the rest. Asked to, the
workers also derive each new article's story features (`watcher.stories.extract_features`), the
costliest part of story grouping, so that the caller only has to look them up in its index,
and each article's death toll as the casualty rules read it (`watcher.lifecycle.read_toll`),
stored with the article so that a story's updates need not read its articles back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence, Set
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from itertools import islice
from typing import NamedTuple

from watcher.lifecycle import read_toll
from watcher.models import TollRead
from watcher.parse import MAX_TEXT, ParsedFeed, parse_feed
from watcher.stories import DocFeatures, StoryTunables, extract_features

__all__ = ["KNOWN_FEED_SHARE", "MIN_POOL_BYTES", "Derived", "ParseJob", "Parsed",
           "default_workers", "iter_parse_feeds"]

log = logging.getLogger("watcher")

# (feed name, URL fetched, body, response headers, fetch time): parse_feed's arguments.
ParseJob = tuple[str, str, bytes, Mapping[str, str], datetime]


class Derived(NamedTuple):
    """What the parse step derives from one new article for the steps after it. (A named
    tuple: tens of thousands come back from the workers, and a tuple unpickles in C.)"""

    features: DocFeatures | None  # its story features, when asked for (`story_features`)
    toll: TollRead | None  # its death toll as stored, when asked for (`tolls`)


# parse_feed's result, and what was derived from its articles (in order; empty unless asked for)
Parsed = tuple[ParsedFeed, tuple[Derived, ...]]

# Below this many body bytes in a batch the pool is not started: a worker process costs some
# 0.2-0.3 s to start, about what parsing 4 MB of feeds costs on one core.
MIN_POOL_BYTES = 8 * 1024 * 1024
# ... counting a feed with articles already stored (a `known` id) at 1/KNOWN_FEED_SHARE of its
# bytes: most of its entries are known and left out before cleaning, which is most of the cost
# (measured: 10 MB of feeds parse in 1.7 s with every entry new, 0.43 s with every entry known).
# A steady poll, where a tenth of the feeds gained a few items, then parses in this process,
# without starting (and holding the memory of) worker processes.
KNOWN_FEED_SHARE = 4
MAX_WORKERS = 8
# Feeds submitted to the pool ahead of the one the caller waits for, per worker.
AHEAD_PER_WORKER = 32


def default_workers() -> int:
    """The CPUs this process may run on (at most `MAX_WORKERS`)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def iter_parse_feeds(
    jobs: Sequence[ParseJob],
    known: Mapping[str, Set[str]] | None = None,
    workers: int | None = None,
    *,
    min_pool_bytes: int | None = None,
    start_method: str = "forkserver",
    max_items: int | None = None,
    max_chars: int = MAX_TEXT,
    story_features: StoryTunables | None = None,
    tolls: bool = False,
    meanwhile: Callable[[], object] | None = None,
) -> Generator[Parsed, None, None]:
    """`parse_feed` of each job, with what is derived from its articles, yielded in the order
    of `jobs` as soon as it (and every one before it) is ready: the caller works on the first
    feeds while the workers parse the rest.

    `known` maps a feed name to the ids of its articles already stored (entries with those ids
    are left out before their text is cleaned, as `parse_feed`'s `known_ids` does). With
    `story_features` (the tunables of the story index), the `Derived.features` of each article
    are `extract_features(a.title, a.text, story_features)`; with `tolls`, its `Derived.toll` is
    `lifecycle.read_toll(a)` (which names the rules of the process that read it); with neither,
    the tuple is empty. Each job is
    one task; `AHEAD_PER_WORKER` tasks per worker are kept submitted, so the workers go on while
    the caller works, and results wait for a slow caller only that far ahead. Runs serially in
    this process (no pool started) when `workers` (default: `default_workers()`) is 1, there is
    a single job, or the bodies add up to less than `min_pool_bytes` (default: `MIN_POOL_BYTES`,
    read at the call; the body of a feed with ids in
    `known` counts for `1 / KNOWN_FEED_SHARE` of its bytes); if the pool cannot start or a
    worker dies, what is left is parsed serially (logged as a warning). A caller that stops
    early cancels the jobs not yet started.

    `meanwhile`: called once, in this process, when the first jobs are submitted to the worker
    processes, before their results are waited for (the caller's own preparation then overlaps
    the parsing); not called when the feeds are parsed in this process. What it raises is
    raised here, the jobs cancelled.

    Memory: the generator holds a job (its body) only until the job's result is in hand, before
    it is yielded. A caller that keeps no reference of its own to `jobs` (or to the bodies) lets
    each body be freed once parsed: a cold poll's bodies are tens of megabytes."""
    known = known or {}
    n_workers = default_workers() if workers is None else workers
    # the jobs whose results are not yet handed out, oldest first; `jobs` itself is let go
    todo: deque[ParseJob] = deque(jobs)
    del jobs
    total = sum(len(job[2]) // KNOWN_FEED_SHARE if known.get(job[0]) else len(job[2])
                for job in todo)
    if min_pool_bytes is None:
        min_pool_bytes = MIN_POOL_BYTES
    if n_workers < 2 or len(todo) < 2 or total < min_pool_bytes:
        while todo:
            yield _parse_and_drop(todo, known, max_items, max_chars, story_features, tolls)
        return
    in_meanwhile = False
    try:
        ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            ctx.set_forkserver_preload(["watcher.parsepool"])
        pool = ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=ctx)
        try:
            ahead = max(AHEAD_PER_WORKER * n_workers, 1)
            # the futures of todo[0], todo[1], ... (the first len(queued) jobs)
            queued: deque[Future[Parsed]] = deque(
                pool.submit(_parse_known, job, known.get(job[0], frozenset()), max_items,
                            max_chars, story_features, tolls) for job in islice(todo, ahead))
            if meanwhile is not None:
                in_meanwhile = True
                meanwhile()
                in_meanwhile = False
            while queued:
                result = queued.popleft().result()
                # (queued now holds the futures of todo[1:1 + len(queued)])
                if len(queued) + 1 < len(todo):  # keep the workers busy, never far ahead
                    job = todo[len(queued) + 1]
                    queued.append(pool.submit(_parse_known, job, known.get(job[0], frozenset()),
                                              max_items, max_chars, story_features, tolls))
                    del job
                todo.popleft()  # its result is in hand (a failed submit above keeps it)
                yield result
                del result
        finally:  # a caller that stops early (or fails) does not wait for the rest
            pool.shutdown(wait=True, cancel_futures=True)
    except (BrokenProcessPool, OSError) as exc:
        if in_meanwhile:  # the caller's error, not the pool's
            raise
        log.warning("parse pool failed (%s: %s); parsing the %d feeds left in this process",
                    type(exc).__name__, exc, len(todo))
    while todo:
        yield _parse_and_drop(todo, known, max_items, max_chars, story_features, tolls)


def _parse_and_drop(todo: deque[ParseJob], known: Mapping[str, Set[str]], max_items: int | None,
                    max_chars: int, story_features: StoryTunables | None,
                    tolls: bool) -> Parsed:
    """The first job's result, the job taken out of `todo` (a failed job stays in it): the
    caller's generator holds the result only, not the body, while its own caller works."""
    job = todo[0]
    result = _parse_known(job, known.get(job[0], frozenset()), max_items, max_chars,
                          story_features, tolls)
    todo.popleft()
    return result


def _parse_known(job: ParseJob, known: Set[str], max_items: int | None, max_chars: int,
                 story_features: StoryTunables | None, tolls: bool) -> Parsed:
    parsed = parse_feed(*job, known_ids=lambda ids: {i for i in ids if i in known},
                        max_items=max_items, max_chars=max_chars)
    if story_features is None and not tolls:
        return parsed, ()
    return parsed, tuple(
        Derived(None if story_features is None else
                extract_features(a.title, a.text, story_features),
                read_toll(a) if tolls else None)
        for a in parsed.articles)
