"""iter_parse_feeds: the same results as parse_feed in a loop, on a process pool or without one."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from watcher import lifecycle, parsepool
from watcher.parse import ParsedFeed, parse_feed
from watcher.parsepool import ParseJob, iter_parse_feeds
from watcher.stories import StoryTunables, extract_features

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


def _serial(jobs: list[ParseJob], known: dict[str, set[str]]) -> list[ParsedFeed]:
    def parse(job: ParseJob) -> ParsedFeed:
        stored = known.get(job[0], set())
        return parse_feed(*job, known_ids=lambda ids: {i for i in ids if i in stored})
    return [parse(job) for job in jobs]


def _knowing_some(jobs: list[ParseJob]) -> dict[str, set[str]]:
    """The first two entries of every feed are already stored."""
    return {job[0]: {a.id for a in parse_feed(*job).articles[:2]} for job in jobs}


def test_pool_gives_the_serial_results() -> None:
    jobs = _jobs()
    known = _knowing_some(jobs)
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=2, min_pool_bytes=0)]
    assert got == _serial(jobs, known)
    assert [p.known for p in got[:6]] == [2] * 6 and all(len(p.articles) == 3 for p in got[:6])
    assert got[6].error_kind == "not_a_feed" and got[7].error_kind == "not_a_feed"


def test_pool_without_known_ids_and_with_everything_known() -> None:
    jobs = _jobs(3)
    got = [p for p, _ in iter_parse_feeds(jobs, None, workers=2, min_pool_bytes=0)]
    assert got == [parse_feed(*j) for j in jobs]
    known = {job[0]: {a.id for a in parse_feed(*job).articles} for job in jobs}
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=2, min_pool_bytes=0)]
    assert all(p.articles == () for p in got) and [p.known for p in got[:3]] == [5, 5, 5]
    assert got == _serial(jobs, known)


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
    known = _knowing_some(jobs)
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=workers,
                                          min_pool_bytes=min_pool_bytes)]
    assert got == _serial(jobs, known)


def test_default_threshold_keeps_a_few_small_feeds_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", _NoPool)
    jobs = _jobs()
    assert sum(len(j[2]) for j in jobs) < parsepool.MIN_POOL_BYTES
    assert [p for p, _ in iter_parse_feeds(jobs, workers=2)] == [parse_feed(*j) for j in jobs]


def test_feeds_with_stored_articles_count_a_share_of_their_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of feeds polled before (ids in `known`: most of their entries are left out
    before cleaning) starts the pool only at KNOWN_FEED_SHARE times the bytes of new feeds."""
    jobs = _jobs()
    size = sum(len(j[2]) for j in jobs)
    known = _knowing_some(jobs)  # (every feed with entries has ids stored)
    share = parsepool.KNOWN_FEED_SHARE
    unknown = sum(len(j[2]) for j in jobs if not known.get(j[0]))
    counted = unknown + sum(len(j[2]) // share for j in jobs if known.get(j[0]))
    assert counted < size // 2
    calls: list[int] = []
    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", _NoPool)
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=2, min_pool_bytes=counted + 1,
                                          meanwhile=lambda: calls.append(1))]
    assert got == _serial(jobs, known) and calls == []
    monkeypatch.undo()
    # the same bodies, nothing stored: they count in full, and the pool parses them
    got = [p for p, _ in iter_parse_feeds(jobs, {}, workers=2, min_pool_bytes=counted + 1,
                                          meanwhile=lambda: calls.append(1))]
    assert got == _serial(jobs, {}) and calls == [1]
    # and the known feeds at the threshold exactly: the pool
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=2, min_pool_bytes=counted,
                                          meanwhile=lambda: calls.append(2))]
    assert got == _serial(jobs, known) and calls == [1, 2]


_parse_known = parsepool._parse_known
_TEST_PROCESS = os.getpid()


def _dies_on_feed_3(job: ParseJob, *args: object) -> ParsedFeed:
    if job[0] == "feed-3" and os.getpid() != _TEST_PROCESS:
        os._exit(3)  # the worker process dies: the pool is broken
    return _parse_known(job, *args)  # type: ignore[arg-type]


def test_a_worker_dying_half_way_leaves_the_rest_to_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = _jobs()
    monkeypatch.setattr(parsepool, "_parse_known", _dies_on_feed_3)
    got = [p for p, _ in iter_parse_feeds(jobs, workers=2, min_pool_bytes=0, start_method="fork")]
    assert got == [parse_feed(*j) for j in jobs]
    assert "parse pool failed" in caplog.text


def test_default_workers_is_at_least_one() -> None:
    assert 1 <= parsepool.default_workers() <= parsepool.MAX_WORKERS


@pytest.mark.parametrize("workers", [1, 2])
def test_story_features_come_with_each_article(workers: int) -> None:
    jobs = _jobs()
    tunables = StoryTunables(title_weight=2.0, lead_words=5)  # not the defaults: they are passed
    got = list(iter_parse_feeds(jobs, None, workers=workers, min_pool_bytes=0,
                                story_features=tunables))
    assert [p for p, _ in got] == [parse_feed(*j) for j in jobs]
    for parsed, derived in got:
        assert len(derived) == len(parsed.articles)
        assert [d.features for d in derived] == [extract_features(a.title, a.text, tunables)
                                                 for a in parsed.articles]
        if parsed.articles:
            assert [d.features for d in derived] != [extract_features(a.title, a.text)
                                                     for a in parsed.articles]
        assert all(d.toll is None for d in derived)  # not asked for
    assert sum(len(f) for _, f in got) == 30


# (title, description, the toll lifecycle.toll_of reads from the article)
TOLL_ITEMS = [
    ("Ferry capsizes on the lake", "Rescuers said 23 passengers drowned when the ferry capsized "
     "in a storm on Tuesday evening.", 23),
    ("Storm warning for the coast", "Forecasters told residents to stay indoors as the storm "
     "moved north.", None),
    ("Mine blast toll rises", "The number of miners killed in the blast rose to at least 8, the "
     "company said.", 8),
]


@pytest.mark.parametrize("workers", [1, 2])
def test_tolls_come_with_each_article_as_lifecycle_reads_them(workers: int) -> None:
    items = [{"title": t, "link": f"https://t.example/{k}", "guid": f"t-{k}",
              "pubDate": "Fri, 01 May 2026 10:00:00 +0200", "description": d}
             for k, (t, d, _) in enumerate(TOLL_ITEMS)]
    jobs = [("tolls", "https://t.example/rss", rss(items), HEADERS, NOW), *_jobs(3)]
    got = list(iter_parse_feeds(jobs, None, workers=workers, min_pool_bytes=0, tolls=True))
    assert [p for p, _ in got] == [parse_feed(*j) for j in jobs]
    for parsed, derived in got:
        assert [d.toll for d in derived] == [lifecycle.read_toll(a) for a in parsed.articles]
        assert all(d.features is None for d in derived)  # not asked for
    first = got[0][1]
    assert [d.toll for d in first] == [(lifecycle.toll_rules(), n, "exact" if n == 23 else
                                        "at_least" if n else None) for _, _, n in TOLL_ITEMS]


def test_meanwhile_runs_once_while_the_workers_parse() -> None:
    jobs = _jobs()
    calls: list[int] = []
    got = iter_parse_feeds(jobs, workers=2, min_pool_bytes=0,
                           meanwhile=lambda: calls.append(len(calls)))
    first = next(got)
    assert calls == [0]  # called before the first result was handed out
    rest = [p for p, _ in got]
    assert calls == [0]
    assert [first[0], *rest] == _serial(jobs, {})


def test_meanwhile_is_not_called_when_this_process_parses() -> None:
    calls: list[int] = []
    got = list(iter_parse_feeds(_jobs(), workers=1, meanwhile=lambda: calls.append(1)))
    assert len(got) == len(_jobs()) and calls == []


@pytest.mark.parametrize("error", [OSError("disk gone"), RuntimeError("bad")])
def test_an_error_of_meanwhile_is_raised_not_taken_for_a_pool_failure(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise error

    with pytest.raises(type(error)) as info:
        list(iter_parse_feeds(_jobs(), workers=2, min_pool_bytes=0, meanwhile=fail))
    assert info.value is error
    assert "parse pool failed" not in caplog.text  # (an OSError is not the pool's here)



_FREED: list[str] = []


class _Body(bytes):
    """A body that says when it is freed (bytes take no weak references) and pickles as plain
    bytes."""

    feed = ""

    def __del__(self) -> None:
        _FREED.append(self.feed)

    def __reduce__(self) -> tuple[type[bytes], tuple[bytes]]:
        return bytes, (bytes(self),)


def _watched(job: ParseJob) -> ParseJob:
    body = _Body(job[2])
    body.feed = job[0]
    return (job[0], job[1], body, job[3], job[4])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_body_is_let_go_once_its_result_is_handed_out(workers: int) -> None:
    jobs = [_watched(job) for job in _jobs()]
    names = [job[0] for job in jobs]
    _FREED.clear()
    stream = iter_parse_feeds(jobs, workers=workers, min_pool_bytes=0)
    del jobs
    handed = 0
    for _ in stream:
        handed += 1
        # the bodies of the feeds handed out, this one's included, are gone; those of the
        # feeds still to come are held
        assert sorted(_FREED) == sorted(names[:handed])
    assert handed == len(names)
    assert sorted(_FREED) == sorted(names)
