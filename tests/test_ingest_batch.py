"""Batched ingestion: Store.add_articles in bulk gives what row-by-row inserts gave, and
iter_parse_feeds applies parse_feed's per-feed limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from watcher.models import Article
from watcher.parse import parse_feed
from watcher.parsepool import ParseJob, iter_parse_feeds
from watcher.store import Store, stories

from .feedserver import rss

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def art(aid: str, minutes: int = 0, title: str = "") -> Article:
    t = NOW + timedelta(minutes=minutes)
    return Article(id=aid, feed="f", guid=aid, url=f"https://x.example/{aid}",
                   canonical_url=f"https://x.example/{aid}", title=title or f"t {aid}",
                   text="body", published=t, fetched=t)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def _stories(store: Store) -> dict[str, tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return {r.id: (r.title, r.first_seen, r.updated, r.articles)
                for r in conn.execute(select(stories))}


def _batch() -> list[tuple[Article, str, str | None]]:
    return [
        (art("b", 1, "second story"), "s2", None),
        (art("a", 0, "first"), "s1", None),
        (art("c", 5, "later"), "s1", None),
        (art("a", 9, "repeat of a"), "s9", None),  # a repeated id: the first one wins
        (art("d", 3), "s2", "b"),
    ]


def test_bulk_insert_matches_row_by_row(store: Store, tmp_path: Any) -> None:
    reference = Store(f"sqlite:///{tmp_path}/ref.db")
    try:
        first = [(art("old", -60, "old story"), "s1", None)]
        assert store.add_articles(first) == reference._add_articles_rowwise(first) == 1
        assert store.add_articles(_batch()) == reference._add_articles_rowwise(_batch()) == 4
        assert _stories(store) == _stories(reference)
        got = _stories(store)
        assert got["s1"][0] == "old story" and got["s1"][3] == 3
        assert got["s2"][0] == "second story" and got["s2"][3] == 2
        assert "s9" not in got
        # a second run with the same rows inserts nothing and touches no story
        assert store.add_articles(_batch()) == 0
        assert _stories(store) == got
        assert store.count("articles") == reference.count("articles") == 5
    finally:
        reference.close()


def test_bulk_insert_of_many_rows_in_several_batches(store: Store) -> None:
    rows = [(art(f"id{i:05d}", i % 7), f"s{i % 3}", None) for i in range(2500)]
    assert store.add_articles(rows[:600]) == 600
    assert store.add_articles(rows) == 1900
    got = _stories(store)
    assert sorted(v[3] for v in got.values()) == [833, 833, 834]
    assert store.count("articles") == 2500


def _jobs() -> list[ParseJob]:
    jobs: list[ParseJob] = []
    for f in range(4):
        items = [{"title": f"Story {f}-{k}", "link": f"https://x{f}.example/{k}",
                  "guid": f"g-{f}-{k}", "pubDate": "Fri, 01 May 2026 10:00:00 +0200",
                  "description": f"<p>{'Troops exchanged fire. ' * 20} {f} {k}</p>"}
                 for k in range(12)]
        jobs.append((f"feed-{f}", f"https://x{f}.example/rss", rss(items), HEADERS, NOW))
    return jobs


@pytest.mark.parametrize("workers", [1, 2])
def test_parse_feeds_applies_the_per_feed_limits(workers: int) -> None:
    jobs = _jobs()
    expected = [parse_feed(*j, max_items=5, max_chars=40) for j in jobs]
    assert all(p.capped == 7 and len(p.articles) == 5 for p in expected)
    assert all(len(a.text) <= 40 for p in expected for a in p.articles)
    got = [p for p, _ in iter_parse_feeds(jobs, None, workers=workers, min_pool_bytes=0,
                                           max_items=5, max_chars=40)]
    assert got == expected
