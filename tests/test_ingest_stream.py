"""Streaming ingestion: `iter_parse_feeds` yields `parse_feed`'s results in job order while the
pool parses the rest, and `ingest_step` handles them in chunks with the results of one batch."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watcher import parsepool, pipeline
from watcher.config import Config, FeedConfig
from watcher.models import FeedState, FetchResult
from watcher.parse import parse_feed
from watcher.parsepool import ParseJob, iter_parse_feeds
from watcher.pipeline import FetchBatch, ingest_step
from watcher.store import Store
from watcher.stories import StoryIndex

from .feedserver import rss
from .test_parsepool import _serial

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def _body(f: int, n: int = 5, shared: int = 0) -> bytes:
    """Feed `f` with `n` items; its first `shared` items link to URLs every feed carries."""
    items = [{
        "title": f"Report {f}-{k} on the valley floods" if k >= shared else f"Wire copy {k}",
        "link": (f"https://wire.example/story/{k}" if k < shared
                 else f"https://x{f}.example/{k}"),
        "guid": f"g-{f}-{k}",
        "pubDate": "Fri, 01 May 2026 10:00:00 +0200",
        "description": f"<p>Water rose {f} metres in district {k} overnight, officials said.</p>",
    } for k in range(n)]
    return rss(items)


def _jobs(n: int = 7) -> list[ParseJob]:
    jobs: list[ParseJob] = [(f"feed-{f}", f"https://x{f}.example/rss", _body(f), HEADERS, NOW)
                            for f in range(n)]
    jobs.insert(3, ("broken", "https://b.example/rss", b"<html><body>no</body></html>",
                    {"content-type": "text/html"}, NOW))
    return jobs


def _known(jobs: list[ParseJob]) -> dict[str, set[str]]:
    """The first two entries of every other feed are already stored."""
    out: dict[str, set[str]] = {}
    for i, job in enumerate(jobs):
        if i % 2 == 0:
            out[job[0]] = {a.id for a in parse_feed(*job).articles[:2]}
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_gives_the_serial_results_in_order(workers: int) -> None:
    jobs = _jobs()
    known = _known(jobs)
    got = [p for p, _ in iter_parse_feeds(jobs, known, workers=workers, min_pool_bytes=0)]
    want = _serial(jobs, known)
    assert got == want
    assert [p.known for p in got] == [2 if i % 2 == 0 else 0 for i in range(len(jobs))]
    assert got[3].error_kind == "not_a_feed"


def test_stream_stopped_early_cancels_the_rest() -> None:
    jobs = _jobs(40)
    stream = iter_parse_feeds(jobs, workers=2, min_pool_bytes=0)
    first = next(stream)
    stream.close()  # returns promptly: the jobs not started are cancelled
    assert first == (parse_feed(*jobs[0]), ())


def test_a_broken_pool_leaves_the_rest_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs()

    class Broken:
        def __init__(self, *a: Any, **k: Any) -> None:
            raise BrokenProcessPool("no processes here")

    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", Broken)
    got = [p for p, _ in iter_parse_feeds(jobs, workers=2, min_pool_bytes=0)]
    assert got == _serial(jobs, {})


def _batch(jobs: list[ParseJob]) -> FetchBatch:
    results = tuple(FetchResult(feed=name, url=url, status=200, body=body, headers=dict(hdrs))
                    for name, url, body, hdrs, _ in jobs)
    states = {name: FeedState(name=name, url=url) for name, url, *_ in jobs}
    return FetchBatch(results, states, ())


def _ingest(tmp_path: Any, name: str, chunk: int, monkeypatch: pytest.MonkeyPatch,
            now: datetime = NOW) -> tuple[pipeline.IngestResult, Store]:
    jobs = [(f"feed-{f}", f"https://x{f}.example/rss", _body(f, 6, shared=2), HEADERS, now)
            for f in range(6)]
    cfg = Config(path=None, feeds=tuple(FeedConfig(j[0], j[1]) for j in jobs))
    store = Store(f"sqlite:///{tmp_path}/{name}.db")
    monkeypatch.setattr(pipeline, "INGEST_CHUNK_ARTICLES", chunk)
    batch = _batch(jobs)
    batch = FetchBatch(batch.results, {**batch.states, **store.feed_states()}, ())  # (as fetched)
    return ingest_step(cfg, store, batch, now), store


def test_chunked_ingest_gives_the_results_of_one_chunk(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, s1 = _ingest(tmp_path, "whole", 10_000, monkeypatch)
    chunked, s2 = _ingest(tmp_path, "chunked", 1, monkeypatch)  # a chunk per feed
    try:
        assert whole.new_articles == chunked.new_articles == 6 * 4 + 2
        # the wire copies carried by every feed are one item each: the later ones duplicates,
        # found in the same chunk (whole) or in the store (chunked)
        assert whole.duplicates == chunked.duplicates == 5 * 2
        assert whole == chunked
        assert s1.count("articles") == s2.count("articles") == 36
        # the saved index holds every stored article, wire copies included, as a rebuild would
        for s in (s1, s2):
            data = s.load_story_index()
            assert data is not None
            index = StoryIndex.loads(data)
            assert index.doc_ids() == s.window_assignments(NOW - timedelta(hours=72)).keys()
    finally:
        s1.close()
        s2.close()


# Where a run fails: (the function, on which call, the feeds whose chunks were stored by then,
# their articles, and how many of those were new)
FAILURES = [
    ("_assign_stories", 3, {"feed-0", "feed-1"}, 12, 10),  # deciding chunk 3
    ("add_articles", 2, {"feed-0"}, 6, 6),  # storing chunk 2: its feed's state must wait
    ("save_feed_states", 2, {"feed-0"}, 12, 10),  # chunk 2's articles stored, not its state
]


@pytest.mark.parametrize(("where", "call", "stored_feeds", "stored", "new"), FAILURES)
def test_a_run_failing_half_way_keeps_its_stored_chunks_and_loses_nothing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, where: str, call: int,
    stored_feeds: set[str], stored: int, new: int,
) -> None:
    """Each chunk is stored (articles, then its feeds' states) while the rest is parsed. After
    a failure in a later chunk the stored chunks stay, their candidates waiting for matching:
    the next run parses only the feeds whose state was not saved (their stored items known),
    and takes up those candidates once the failed run's lease is over. Every item is stored
    once and is a candidate once."""
    owner = pipeline if where == "_assign_stories" else Store
    real = getattr(owner, where)
    calls = []

    def fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == call:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, where, fails)
    with pytest.raises(RuntimeError):
        _ingest(tmp_path, "failing", 1, monkeypatch)
    store = Store(f"sqlite:///{tmp_path}/failing.db")
    try:
        # a chunk per feed, 6 items each; from feed 1 on, the two wire copies are duplicates
        assert store.count("articles") == stored
        first = {a.id for a, _ in store.pending_matches()}
        assert len(first) == new  # the new ones, waiting for matching
        assert {n for n, st in store.feed_states().items() if st.body_hash} == stored_feeds
    finally:
        store.close()
    monkeypatch.setattr(owner, where, real)
    later = NOW + timedelta(seconds=Config(path=None).slack.claim_lease + 1)
    again, s = _ingest(tmp_path, "failing", 1, monkeypatch, now=later)
    try:
        assert [o.status for o in again.outcomes if o.status == "unchanged"] == \
            ["unchanged"] * len(stored_feeds)
        assert again.new_articles == 6 * 4 + 2 - new
        ids = [c.article.id for c in again.candidates]
        assert len(ids) == len(set(ids)) == 26 and first <= set(ids)
        assert {c.article.id for c in again.candidates[-new:]} == first  # (after its own)
        assert s.count("articles") == 36
    finally:
        s.close()


def test_a_copy_of_an_article_joining_a_story_in_the_same_run_gets_that_story(
    tmp_path: Any,
) -> None:
    from .story_articles import BAR_SHOOTING, BAR_SHOOTING_FOLLOWUP

    def feed(items: list[tuple[str, str, str]]) -> bytes:
        return rss([{"title": t, "link": link, "guid": link,
                     "pubDate": "Fri, 01 May 2026 10:00:00 +0200", "description": text}
                    for t, link, text in items])

    jobs: list[ParseJob] = [
        ("a", "https://a.example/rss", feed([("Two wounded in Millbrook bar shooting",
                                              "https://a.example/bar", BAR_SHOOTING)]),
         HEADERS, NOW),
        ("b", "https://b.example/rss", feed([("Arrest after Millbrook bar shooting",
                                              "https://wire.example/arrest",
                                              BAR_SHOOTING_FOLLOWUP)]), HEADERS, NOW),
        ("c", "https://c.example/rss", feed([("Millbrook man arrested",
                                              "https://wire.example/arrest?utm_source=rss",
                                              BAR_SHOOTING_FOLLOWUP)]), HEADERS, NOW),
    ]
    cfg = Config(path=None, feeds=tuple(FeedConfig(j[0], j[1]) for j in jobs))
    store = Store(f"sqlite:///{tmp_path}/copy.db")
    try:
        got = ingest_step(cfg, store, _batch(jobs), NOW)
        assert (got.new_articles, got.duplicates) == (2, 1)
        stories = {r["feed"]: r["story_id"] for r in _rows(store)}
        assert stories["a"] == stories["b"] == stories["c"]
    finally:
        store.close()


def _rows(store: Store) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from watcher.store import articles

    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(articles)).mappings()]


def test_ingest_uses_the_story_features_the_parse_step_derived(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index takes each article's features from the parse step (the workers, on a pool)
    instead of deriving them again, and decides exactly as when it derives them itself."""
    from watcher import stories

    monkeypatch.setattr(parsepool, "MIN_POOL_BYTES", 0)  # the pool, even for small bodies
    plain, s1 = _ingest(tmp_path, "plain", 4, monkeypatch)
    real = stories.extract_features
    in_index: list[str] = []

    def counted(title: str, text: str, *args: Any) -> Any:
        in_index.append(title)
        return real(title, text, *args)

    monkeypatch.setattr(stories, "extract_features", counted)
    fed, s2 = _ingest(tmp_path, "fed", 4, monkeypatch)
    try:
        assert in_index == []
        assert fed == plain
        assert {r["id"]: (r["story_id"], r["duplicate_of"]) for r in _rows(s2)} == \
            {r["id"]: (r["story_id"], r["duplicate_of"]) for r in _rows(s1)}
        # without them (as after a full-text fetch replaced the article), the index derives them
        parse_only = pipeline.iter_parse_feeds
        monkeypatch.setattr(pipeline, "iter_parse_feeds", lambda *a, **k: (
            (parsed, ()) for parsed, _ in parse_only(*a, **k)))
        bare, s3 = _ingest(tmp_path, "bare", 4, monkeypatch)
        assert len(in_index) == 36 and bare == plain
        s3.close()
    finally:
        s1.close()
        s2.close()


@pytest.mark.parametrize("pool", [False, True])
def test_ingest_stores_the_tolls_the_parse_step_read(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, pool: bool
) -> None:
    """Each article's death toll is read once, by the parse step (the workers, on a pool), and
    stored with it: ingest does not read it again."""
    from watcher import lifecycle

    started: list[int] = []
    real_pool = parsepool.ProcessPoolExecutor

    def counted_pool(*args: Any, **kwargs: Any) -> Any:
        started.append(1)
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(parsepool, "ProcessPoolExecutor", counted_pool)
    if pool:
        monkeypatch.setattr(parsepool, "MIN_POOL_BYTES", 0)  # the pool, even for small bodies
    again: list[str] = []
    real = lifecycle.read_toll

    def counted(article: Any) -> Any:
        again.append(article.id)
        return real(article)

    monkeypatch.setattr(lifecycle, "read_toll", counted)  # (the parse step has its own name)
    _, store = _ingest(tmp_path, f"tolls-{pool}", 4, monkeypatch)
    try:
        rows = _rows(store)
        assert again == [] and len(rows) == 36 and started == ([1] if pool else [])
        assert {r["toll_rules"] for r in rows} == {lifecycle.toll_rules()}
    finally:
        store.close()


def test_the_snapshot_is_saved_once_the_articles_it_lacks_add_up(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that adds a few articles leaves the saved snapshot as it is (the next run restores
    them from the store); once the articles it lacks reach SNAPSHOT_BACKLOG, it is saved."""
    from sqlalchemy import select

    from watcher.store import story_index

    monkeypatch.setattr(pipeline, "SNAPSHOT_BACKLOG", 8)
    store = Store(f"sqlite:///{tmp_path}/lag.db")

    def saved() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(story_index.c.articles)).scalar_one())

    def run(feed: int) -> pipeline.IngestResult:
        job = (f"feed-{feed}", f"https://x{feed}.example/rss", _body(feed, 3), HEADERS, NOW)
        cfg = Config(path=None, feeds=(FeedConfig(job[0], job[1]),))
        return ingest_step(cfg, store, _batch([job]), NOW)

    try:
        run(0)
        assert saved() == 3  # no snapshot yet: saved
        run(1)
        assert saved() == 3  # 3 articles behind: left as it is
        run(2)
        assert saved() == 3  # 3 restored at load + 3 new = 6 behind
        loaded = pipeline.load_story_index(Config(path=None), store, NOW)
        assert loaded.doc_ids() == store.window_assignments(NOW - timedelta(hours=72)).keys()
        run(3)
        assert saved() == 12  # 9 + 3 >= 8: saved
        later = NOW + pipeline.SNAPSHOT_MAX_AGE
        job = ("feed-4", "https://x4.example/rss", _body(4, 3), HEADERS, later)
        cfg = Config(path=None, feeds=(FeedConfig(job[0], job[1]),))
        ingest_step(cfg, store, _batch([job]), later)
        assert saved() == 15  # 3 behind, but the saved one is SNAPSHOT_MAX_AGE old: saved
    finally:
        store.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_ingest_lets_each_body_go_once_parsed(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """`ingest_step` takes the batch's results: while the feeds are parsed, only the bodies of
    the feeds still to be parsed are held (by the caller's batch neither), and a batch is
    ingested once."""
    from .test_parsepool import _FREED, _watched

    jobs = [_watched(j) for j in _jobs(7)]
    names = [j[0] for j in jobs]
    batch = _batch(jobs)
    del jobs
    cfg = Config(path=None, feeds=tuple(FeedConfig(name, f"https://{name}.example/rss")
                                        for name in names))
    store = Store(f"sqlite:///{tmp_path}/w.db")
    real = pipeline.iter_parse_feeds
    seen: list[set[str]] = []

    def watching(jobs: list[ParseJob], *args: Any, **kwargs: Any) -> Any:
        stream = real(jobs, *args, **{**kwargs, "workers": workers, "min_pool_bytes": 0})
        del jobs  # (as the pipeline lets go of its list)
        for n, parsed in enumerate(stream, 1):
            assert sorted(_FREED) == sorted(names[:n])  # this feed's body included
            seen.append(set(_FREED))
            yield parsed

    monkeypatch.setattr(pipeline, "iter_parse_feeds", watching)
    _FREED.clear()
    try:
        result = ingest_step(cfg, store, batch, NOW)
        assert len(seen) == len(names) and sorted(_FREED) == sorted(names)
        assert result.new_articles == 7 * 5
        assert batch.results == () and batch.states  # the states stay for the caller
        with pytest.raises(ValueError, match="ingested already"):
            ingest_step(cfg, store, batch, NOW)
    finally:
        store.close()
