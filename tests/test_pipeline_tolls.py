"""A story's death tolls are read from each stored article once: the toll is stored with the
article (by ingest, or else `Store.save_tolls`), and read again only under other casualty rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from watcher import lifecycle, pipeline
from watcher.config import Config, FeedConfig
from watcher.models import Article
from watcher.store import Store

from .feedserver import rss
from .test_ingest_stream import _batch

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)

# (id, text, the toll lifecycle.toll_of reads from it)
REPORTS = [
    ("a", "Shelling of a border village killed 4 people overnight, officials said.", 4),
    ("b", "Officials said the talks would resume next week in the capital.", None),
    ("c", "The toll from the border shelling rose to 9, the ministry said on Friday.", 9),
    ("d", "At least 11 people were killed in the shelling, a regional governor said.", 11),
]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def art(aid: str, text: str, hours_ago: float) -> Article:
    t = NOW - timedelta(hours=hours_ago)
    return Article(id=aid, feed=f"feed-{aid}", guid=aid, url=f"https://{aid}.example/a",
                   canonical_url=f"https://{aid}.example/a", title="Border shelling", text=text,
                   published=t, fetched=t)


def stored(store: Store) -> list[Article]:
    arts = [art(aid, text, 10 - i) for i, (aid, text, _) in enumerate(REPORTS)]
    store.add_articles([(a, "s1", None) for a in arts])
    store.add_articles([(art("other", REPORTS[0][1], 1), "s2", None)])
    return arts


def test_the_tolls_are_those_toll_of_reads_and_are_stored(store: Store) -> None:
    arts = stored(store)
    assert [f.count for a in arts if (t := lifecycle.toll_of(a)) for f in [t[0]]] == [4, 9, 11]
    got = pipeline._story_tolls(store, ["s1"])
    assert got.series["s1"] == lifecycle.series(store.story_articles(["s1"])["s1"])
    assert [(f.count, f.source) for f in got.series["s1"]] == [(4, "feed-a"), (9, "feed-c"),
                                                             (11, "feed-d")]
    assert {got.ids[f] for f in got.series["s1"]} == {"a", "c", "d"}
    rows = store.story_tolls(["s1", "s2"])
    assert [(t.id, t.killed, t.rules) for t in rows["s1"]] == [
        (aid, toll, lifecycle.toll_rules()) for aid, _, toll in REPORTS]
    assert [t.rules for t in rows["s2"]] == [None]  # not asked for: not read


def test_a_stored_toll_is_not_read_again_unless_the_rules_changed(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored(store)
    first = pipeline._story_tolls(store, ["s1"])
    read: list[str] = []
    real = lifecycle.toll_of

    def counting(a: Article) -> object:
        read.append(a.id)
        return real(a)

    monkeypatch.setattr(lifecycle, "toll_of", counting)
    again = pipeline._story_tolls(store, ["s1"])
    assert read == [] and again.series == first.series and again.ids == first.ids
    monkeypatch.setattr(lifecycle, "toll_rules", lambda: "other-rules")
    changed = pipeline._story_tolls(store, ["s1"])
    assert sorted(read) == ["a", "b", "c", "d"] and changed.series == first.series
    assert {t.rules for t in store.story_tolls(["s1"])["s1"]} == {"other-rules"}


def test_toll_rules_name_the_casualty_rules() -> None:
    rules = lifecycle.toll_rules()
    assert len(rules) == 16 and rules == lifecycle.toll_rules()


def test_tolls_not_saved_cost_a_warning_not_the_run(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    stored(store)

    def locked(*args: object, **kwargs: object) -> None:
        raise RuntimeError("deadlock detected")

    monkeypatch.setattr(store, "save_tolls", locked)
    got = pipeline._story_tolls(store, ["s1"])
    assert [f.count for f in got.series["s1"]] == [4, 9, 11]
    assert "article tolls not saved (RuntimeError: deadlock detected)" in caplog.text
    assert {t.rules for t in store.story_tolls(["s1"])["s1"]} == {None}  # read again next time


def test_with_rules_the_articles_read_without_a_toll_are_not_fetched(store: Store) -> None:
    stored(store)
    rules = lifecycle.toll_rules()
    before = store.story_tolls(["s1"], rules=rules)
    assert [t.id for t in before["s1"]] == ["a", "b", "c", "d"]  # none read yet: all listed
    pipeline._story_tolls(store, ["s1", "s2"])
    after = store.story_tolls(["s1", "s2"], rules=rules)
    assert [(t.id, t.killed) for t in after["s1"]] == [("a", 4), ("c", 9), ("d", 11)]
    assert [(t.id, t.killed) for t in after["s2"]] == [("other", 4)]
    assert [t.id for t in store.story_tolls(["s1"], rules="other-rules")["s1"]] == [
        "a", "b", "c", "d"]  # rules changed: every article is read again
    store.add_articles([(art("quiet", REPORTS[1][1], 2), "s3", None)])
    pipeline._story_tolls(store, ["s3"])
    assert store.story_tolls(["s3"], rules=rules) == {}
    assert pipeline._story_tolls(store, ["s3"]).series == {}


def _feed_batch(reports: list[tuple[str, str, int | None]]) -> pipeline.FetchBatch:
    items = [{"title": f"Border shelling {aid}", "link": f"https://news.example/{aid}",
              "guid": aid, "pubDate": "Fri, 01 May 2026 10:00:00 +0000", "description": text}
             for aid, text, _ in reports]
    return _batch([("news", "https://news.example/rss", rss(items),
                    {"content-type": "application/rss+xml"}, NOW)])


def test_ingest_stores_each_article_with_its_toll_and_updates_read_no_text_back(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = Config(path=None, feeds=(FeedConfig("news", "https://news.example/rss"),))
    pipeline.ingest_step(cfg, store, _feed_batch(REPORTS), NOW)
    assignments = store.window_assignments(NOW - timedelta(days=3))
    stories = sorted({story for story, _ in assignments.values()})
    rows = {t.id: t for ts in store.story_tolls(stories).values() for t in ts}
    articles = store.articles_by_id(list(assignments))
    assert {aid: (t.rules, t.killed) for aid, t in rows.items()} == {
        aid: lifecycle.read_toll(articles[aid])[:2] for aid in assignments}
    assert sorted((t.killed for t in rows.values()), key=lambda k: k or 0) == [None, 4, 9, 11]
    assert {t.rules for t in rows.values()} == {lifecycle.toll_rules()}

    def not_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stored article's toll was read again")

    monkeypatch.setattr(store, "articles_by_id", not_read)
    monkeypatch.setattr(lifecycle, "toll_of", not_read)
    got = pipeline._story_tolls(store, stories)
    assert sorted(f.count for fs in got.series.values() for f in fs) == [4, 9, 11]


def test_a_number_too_large_for_a_toll_is_stored_as_none(store: Store) -> None:
    """Feed text is anything: a count past a billion, or a sum of counts past it, is no toll
    (and never overflows the toll column: a failed insert would fail every run)."""
    cfg = Config(path=None, feeds=(FeedConfig("news", "https://news.example/rss"),))
    huge = [("h1", "Shelling killed 2147483648 people overnight.", None),
            ("h2", "The strikes killed 900,000,000 soldiers, 900,000,000 civilians and "
                   "900,000,000 police officers.", None),
            ("h3", "Shelling killed 99999999999999999999 people overnight.", None),
            REPORTS[0]]
    for _ in range(2):  # (the second run finds them stored)
        pipeline.ingest_step(cfg, store, _feed_batch(huge), NOW)
    assignments = store.window_assignments(NOW - timedelta(days=3))
    rows = {t.id: t for ts in store.story_tolls(
        sorted({story for story, _ in assignments.values()})).values() for t in ts}
    assert len(rows) == 4 and sorted((t.killed or 0) for t in rows.values()) == [0, 0, 0, 4]
