from __future__ import annotations

from datetime import UTC, datetime

from watcher.dedupe import KnownItem, classify
from watcher.models import Article

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def art(aid: str, feed: str, canon: str) -> Article:
    return Article(id=aid, feed=feed, guid=aid, url=canon, canonical_url=canon, title=aid,
                   text="", published=NOW, fetched=NOW)


def test_known_id_is_seen_known_url_is_duplicate_rest_is_new() -> None:
    batch = [art("a", "f1", "https://x.example/1"), art("b", "f2", "https://x.example/2"),
             art("c", "f3", "https://x.example/3")]
    known = {"https://x.example/2": KnownItem("old", "story-old")}
    kinds = [(d.kind, d.story_id, d.duplicate_of) for d in classify(batch, {"a"}, known)]
    assert kinds == [("seen", "", None), ("duplicate", "story-old", "old"), ("new", "c", None)]


def test_same_item_twice_in_one_batch_is_one_new_and_one_duplicate() -> None:
    batch = [art("a", "f1", "https://x.example/1"), art("b", "f2", "https://x.example/1"),
             art("a", "f1", "https://x.example/1")]
    kinds = [d.kind for d in classify(batch, set(), {})]
    assert kinds == ["new", "duplicate", "seen"]
    assert classify(batch, set(), {})[1].story_id == "a"


def test_articles_without_url_are_never_url_duplicates() -> None:
    batch = [art("a", "f1", ""), art("b", "f2", "")]
    assert [d.kind for d in classify(batch, set(), {})] == ["new", "new"]
