"""parse_feeds: the same results as parse_feed in a loop, on a process pool or without one."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

import pytest

from watcher import parsepool
from watcher.parse import ParsedFeed, parse_feed
from watcher.parsepool import ParseJob, parse_feeds

from .feedserver import rss

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def _jobs(n: int = 6) -> list[ParseJob]:
    jobs: list[ParseJob] = []
    for f in range(n):
        items = [{
            "title": f"Story {f}-{k}",
            "link": f"https://x{f}.example/{k}",
            "guid": f"g-{f}-{k}",
            "pubDate": "Fri, 01 May 2026 10:00:00 +0200",
            "description": f"<![CDATA[<p>Troops <em>exchanged</em> fire {f} {k}.</p>"
                           "<p>Please support our journalism. Donate now.</p>]]>",
        } for k in range(5)]
        jobs.append((f"feed-{f}", f"https://x{f}.example/rss", rss(items), HEADERS, NOW))
    jobs.append(("broken", "https://b.example/rss", b"<html><body>403</body></html>",
                 {"content-type": "text/html"}, NOW))
    jobs.append(("empty", "https://e.example/rss", b"", HEADERS, NOW))
    return jobs


class Store:
    """known_ids that knows the first two entries of every feed, and records its calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.known: set[str] = set()

    def known_ids(self, ids: Sequence[str]) -> set[str]:
        self.calls.append(list(ids))
        return {i for i in ids if i in self.known}


def _serial(jobs: list[ParseJob], store: Store) -> list[ParsedFeed]:
    return [parse_feed(*job, known_ids=store.known_ids) for job in jobs]


def _store_knowing_some(jobs: list[ParseJob]) -> Store:
    store = Store()
    for parsed in _serial(jobs, Store()):
        store.known.update(a.id for a in parsed.articles[:2])
    return store


def test_pool_gives_the_serial_results_and_asks_known_ids_in_this_process() -> None:
    jobs = _jobs()
    serial_store, pool_store = _store_knowing_some(jobs), _store_knowing_some(jobs)
    expected = _serial(jobs, serial_store)
    got = parse_feeds(jobs, pool_store.known_ids, workers=2, min_pool_bytes=0)
    assert got == expected
    assert [p.known for p in got[:6]] == [2] * 6 and all(len(p.articles) == 3 for p in got[:6])
    assert got[6].error_kind == "not_a_feed" and got[7].error_kind == "not_a_feed"
    # known_ids ran here (the recorded calls are in this process's object), once per feed
    assert sorted(map(sorted, pool_store.calls)) == sorted(map(sorted, serial_store.calls))


def test_pool_without_known_ids_and_with_everything_known() -> None:
    jobs = _jobs(3)
    assert parse_feeds(jobs, None, workers=2, min_pool_bytes=0) == [parse_feed(*j) for j in jobs]
    store = Store()
    store.known = {a.id for p in _serial(jobs, Store()) for a in p.articles}
    got = parse_feeds(jobs, store.known_ids, workers=2, min_pool_bytes=0)
    assert all(p.articles == () for p in got) and [p.known for p in got[:3]] == [5, 5, 5]
    assert got == _serial(jobs, store)


class _NoPool:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a process pool was started")


@pytest.mark.parametrize(
    ("workers", "min_pool_bytes", "n"),
    [(1, 0, 6), (2, 10**9, 6), (2, 0, 1)],
    ids=["one-worker", "small-batch", "single-job"],
)
def test_small_batches_run_serially_without_starting_processes(
    monkeypatch: pytest.MonkeyPatch, workers: int, min_pool_bytes: int, n: int,
) -> None:
    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", _NoPool)
    jobs = _jobs(n)[:n]
    store = _store_knowing_some(jobs)
    assert parse_feeds(jobs, store.known_ids, workers=workers,
                       min_pool_bytes=min_pool_bytes) == _serial(jobs, _store_knowing_some(jobs))


def test_default_threshold_keeps_a_few_small_feeds_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", _NoPool)
    jobs = _jobs()
    assert sum(len(j[2]) for j in jobs) < parsepool.MIN_POOL_BYTES
    assert parse_feeds(jobs, workers=2) == [parse_feed(*j) for j in jobs]


def test_a_broken_pool_leaves_the_rest_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs()

    def half_then_break(jobs: Sequence[ParseJob], known_ids: object, workers: int,
                        start_method: str, results: list[ParsedFeed | None]) -> None:
        results[0] = parse_feed(*jobs[0])
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(parsepool, "_parse_on_pool", half_then_break)
    assert parse_feeds(jobs, workers=2, min_pool_bytes=0) == [parse_feed(*j) for j in jobs]


def test_default_workers_is_at_least_one() -> None:
    assert 1 <= parsepool.default_workers() <= parsepool.MAX_WORKERS
