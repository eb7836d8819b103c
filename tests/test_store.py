from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.models import Alert, Article, CasualtyFigure, FeedState
from watcher.store import Store, StoreError, alert_from_json, alert_to_json, redact_url
from watcher.urls import canonical_url

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def art(aid: str, feed: str = "f", canon: str = "") -> Article:
    return Article(id=aid, feed=feed, guid=aid, url=canon or f"https://x.example/{aid}",
                   canonical_url=canon or f"https://x.example/{aid}", title=f"t {aid}",
                   text="body", published=NOW, fetched=NOW)


def alert(aid: str, story: str = "s1") -> Alert:
    fig = CasualtyFigure(kind="killed", count=17, qualifier="at_least", current=True,
                         span=(3, 20), text="at least 17 killed")
    return Alert(alert_id=aid, story_id=story, watch="w", channel="#c", severity="warning",
                 score=5.5, title="T", url="https://x.example/1", source="f", published=NOW,
                 excerpt="e", matched_terms=("shell",), killed=fig, injured=None,
                 sources_count=2)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def test_sqlite_creates_file_and_parent_dirs_and_uses_wal(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/sub/dir/w.db")
    assert (tmp_path / "sub/dir/w.db").exists()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_schema_is_at_the_newest_migration_and_matches_the_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from watcher.migrate import current_revision, head_revision, upgrade
    from watcher.store import metadata

    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], diff  # a model change without a migration fails here
    assert upgrade(store.engine) == head_revision()  # idempotent


def test_a_store_at_the_newest_migration_opens_without_alembic(tmp_path: Path) -> None:
    """`schema_head()` is alembic's head; a store there is opened without importing alembic, a
    new or older one is migrated (alembic imported then)."""
    from alembic import command

    from watcher.migrate import _alembic_config, head_revision
    from watcher.store import schema_head

    assert head_revision() == schema_head()  # (a migration named otherwise fails here)
    url = f"sqlite:///{tmp_path}/w.db"
    probe = ("import sys; from watcher.store import Store; Store(sys.argv[1]).close(); "
             "print('alembic' in sys.modules)")

    def opens_with_alembic() -> bool:
        out = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return out.strip() == "True"

    assert opens_with_alembic()  # a new database: migrated
    assert not opens_with_alembic()  # at the head: a query, no alembic
    older = f"sqlite:///{tmp_path}/older.db"
    bare = Store(older, create=False)
    config = _alembic_config()
    with bare.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    bare.close()
    url = older
    assert opens_with_alembic()  # behind: alembic upgrades it
    migrated = Store(url, create=False)
    with migrated.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    migrated.close()
    assert version == schema_head()
    assert not opens_with_alembic()
    # two version rows (a branched or damaged history): alembic judges, as before
    from watcher.store import _at_schema_head

    several = Store(url, create=False)
    assert _at_schema_head(several.engine)
    with several.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0004')")
    assert not _at_schema_head(several.engine)
    several.close()


def test_a_database_from_a_newer_watcher_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    Store(url).close()
    newer = Store(url, create=False)
    with newer.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    newer.close()
    with pytest.raises(StoreError, match=r"schema revision '9999'.*newer watcher.*Upgrade"):
        Store(url)


def test_feed_state_roundtrip(store: Store) -> None:
    st = FeedState(name="f", url="https://x.example/rss", etag='"e"', last_modified="lm",
                   body_hash="h", first_polled=NOW, last_success=NOW, consecutive_failures=2,
                   last_error="http: 500", last_status=500)
    store.save_feed_states([st])
    assert store.feed_states()["f"] == st
    store.save_feed_states([FeedState(name="f", url="https://x.example/rss2")])
    assert store.feed_states()["f"].url == "https://x.example/rss2"


def test_feed_states_inserted_by_another_run_meanwhile_are_updated(store_url: str) -> None:
    """New feeds' states are inserted in one batch; when another run inserted one of them after
    this run looked (a race), the batch gives way to one row at a time, that one updated."""
    store, other = Store(store_url), Store(store_url)
    try:
        _race_feed_states(store, other)
    finally:
        other.close()
        store.close()


def _race_feed_states(store: Store, other: Store) -> None:
    from sqlalchemy import event

    store.save_feed_states([FeedState(name="old", url="https://x.example/old")])
    raced: list[str] = []

    def race(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("SAVEPOINT") and not raced:  # (before the batch's insert)
            raced.append(statement)
            other.save_feed_states([FeedState(name="b", url="https://x.example/theirs",
                                              consecutive_failures=7)])
            assert other.set_ops_alert("b", None, "failing")  # theirs, kept by the update

    event.listen(store.engine, "before_cursor_execute", race)
    try:
        store.save_feed_states([
            FeedState(name=name, url=f"https://x.example/{name}", etag=f'"{name}"')
            for name in ("a", "b", "c")])
    finally:
        event.remove(store.engine, "before_cursor_execute", race)
    assert raced
    got = store.feed_states()
    assert sorted(got) == ["a", "b", "c", "old"]
    assert {n: (s.url, s.etag) for n, s in got.items()} == {
        "old": ("https://x.example/old", None),
        **{n: (f"https://x.example/{n}", f'"{n}"') for n in ("a", "b", "c")}}
    assert got["b"].consecutive_failures == 0  # this run's state, over theirs
    with store.engine.connect() as conn:
        alerts = dict(conn.exec_driver_sql("SELECT name, ops_alert FROM feeds").all())
    assert alerts == {"a": None, "b": "failing", "c": None, "old": None}


def test_articles_stories_and_sources(store: Store) -> None:
    assert store.add_articles([(art("a", "f1"), "a", None), (art("b", "f2"), "a", "a"),
                               (art("c", "f1"), "c", None)]) == 3
    assert store.add_articles([(art("a", "f1"), "a", None)]) == 0  # idempotent
    assert store.known_ids(["a", "z"]) == {"a"}
    assert store.by_canonical_url(["https://x.example/b"])["https://x.example/b"].story_id == "a"
    assert store.story_sources(["a", "c"]) == {"a": 2, "c": 1}
    assert store.count("stories") == 2


def test_outbox_is_idempotent_and_tracks_status(store: Store) -> None:
    assert [a.alert_id for a in store.enqueue([alert("x1"), alert("x2")], NOW)] == ["x1", "x2"]
    assert store.enqueue([alert("x1")], NOW) == []
    assert [r.alert.alert_id for r in store.pending()] == ["x1", "x2"]
    assert store.mark_attempt("x1", NOW) == 1
    store.mark("x1", "sent", NOW, ts="123.456")
    [row] = store.pending()
    assert row.alert.alert_id == "x2"
    sent = {r.alert.alert_id: r for r in store.recent_alerts()}["x1"]
    assert sent.status == "sent" and sent.ts == "123.456" and sent.attempts == 1


def test_alert_json_roundtrip() -> None:
    a = alert("z")
    assert alert_from_json(alert_to_json(a)) == a


def test_bad_url_and_unreachable_database_give_store_errors_without_password() -> None:
    with pytest.raises(StoreError) as info:
        Store("not a url")
    assert "invalid database URL" in str(info.value)
    with pytest.raises(StoreError) as info:
        Store("sqlite:////proc/definitely/not/writable/w.db")
    assert "hunter2" not in redact_url("postgresql://u:hunter2@h/db")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    """SQLite's "file is not a database" is neither an OperationalError nor a
    ProgrammingError: before, every command showed a traceback."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"meeting notes, not a database\n" * 200)
    with pytest.raises(StoreError) as info:
        Store(f"sqlite:///{path}")
    assert "file is not a database" in str(info.value) and "[store] url" in str(info.value)


def test_prune_keeps_the_window_and_pending_alerts(store: Store) -> None:
    from dataclasses import replace
    from datetime import timedelta

    old = NOW - timedelta(days=40)
    store.add_articles([(replace(art("old"), published=old, fetched=old), "old", None),
                        (art("new"), "new", None)])
    # (a story's alerts stay while one of them is pending: tests/test_prune_updates.py)
    store.enqueue([alert("done", "old"), alert("waiting", "other")], old)
    store.mark("done", "sent", old, ts="1.0")
    for day, channel, status in ((45, "#a", "posted"), (44, "#a", "posted"), (43, "#a", "failed"),
                                 (44, "#b", "posted"), (42, "#b", "sending")):
        start = NOW - timedelta(days=day)
        assert store.begin_digest(f"{channel}{day}", channel, start, start + timedelta(days=1),
                                  [], start) == ([], 1, start)
        if status == "posted":
            assert store.digest_progress(f"{channel}{day}", 1, start, posted=True)
        elif status == "failed":
            assert store.fail_digest(f"{channel}{day}", 1, "refused", start)
    deleted = store.prune(NOW - timedelta(days=30))
    assert deleted == {"articles": 1, "stories": 1, "alerts": 1, "digests": 3}
    # kept: each channel's last digest (the next one starts where it ended; #b's is unfinished)
    assert [(c, st) for c, st, *_ in store.digest_rows()] == [("#a", "posted"), ("#b", "sending")]
    assert store.known_ids(["old", "new"]) == {"new"}
    assert [r.alert.alert_id for r in store.pending()] == ["waiting"]


def test_claims_are_exclusive_until_the_lease_runs_out(store: Store) -> None:
    from datetime import timedelta

    store.enqueue([alert("c1")], NOW)
    lease = timedelta(seconds=60)
    assert store.claim("c1", "run-a", NOW, lease)
    assert not store.claim("c1", "run-b", NOW + timedelta(seconds=30), lease)
    assert store.claim("c1", "run-b", NOW + timedelta(seconds=61), lease)  # run-a crashed
    store.mark("c1", "sent", NOW, ts="9.9")
    assert not store.claim("c1", "run-c", NOW + timedelta(days=1), lease)  # not pending


def test_articles_are_stored_with_the_tolls_already_read(store: Store) -> None:
    tolls = {"a": ("rules-1", 12, "at_least"), "b": ("rules-1", None, None)}  # c: none read
    assert store.add_articles([(art("a"), "s1", None), (art("b"), "s1", None)], tolls=tolls) == 2
    assert store._add_articles_rowwise([(art("c"), "s1", None), (art("d"), "s1", None)],
                                       tolls={"d": ("rules-2", 3, "exact")}) == 2
    rows = {t.id: (t.rules, t.killed, t.qualifier) for t in store.story_tolls(["s1"])["s1"]}
    assert rows == {"a": ("rules-1", 12, "at_least"), "b": ("rules-1", None, None),
                    "c": (None, None, None), "d": ("rules-2", 3, "exact")}
    # under rules-1, the article read without a toll is left out; the others are listed
    assert [t.id for t in store.story_tolls(["s1"], rules="rules-1")["s1"]] == ["a", "c", "d"]


@pytest.mark.parametrize("path", [
    "a" * 9000,  # too long for the column
    # fits the column, but 3,000 bytes that do not compress: too long for PostgreSQL's index
    "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(1000)),
])
def test_an_article_with_a_very_long_link_is_stored_and_found(store: Store, path: str) -> None:
    """Feeds link anything: the canonical URL of a link of any length fits its column and
    PostgreSQL's index (`urls.MAX_KEY_BYTES`)."""
    url = f"https://news.example/{path}"
    a = art("long", canon=canonical_url(url))
    assert store.add_articles([(a, "s1", None)]) == 1
    assert set(store.by_canonical_url([canonical_url(url + "?utm_source=x")])) == {
        a.canonical_url}


def test_nul_characters_from_a_feed_never_reach_the_database(store: Store) -> None:
    """JSON may hold "\\u0000" anywhere, and PostgreSQL refuses NUL in text: the parse step
    leaves none in an article (ids, links, titles, texts), nor the store in a feed's error."""
    import json
    from dataclasses import replace

    from watcher.config import FeedConfig
    from watcher.health import current_state
    from watcher.parse import parse_feed

    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "N\u0000", "items": [{
        "id": "item\u00001", "url": "https://news.example/a\u0000b",
        "title": "Storm\u0000 warning", "content_text": "Wind\u0000 and rain.",
        "date_published": "2026-05-01T10:00:00Z"}]}
    parsed = parse_feed("f", "https://news.example/feed.json", json.dumps(doc).encode(),
                        {"content-type": "application/feed+json"}, NOW)
    (a,) = parsed.articles
    assert (a.guid, a.url, a.title, a.text) == ("item1", "https://news.example/ab",
                                                "Storm warning", "Wind and rain.")
    assert store.add_articles([(a, "s1", None)]) == 1
    assert set(store.by_canonical_url([a.canonical_url])) == {a.canonical_url}
    state = replace(current_state(FeedConfig("f", "https://news.example/feed.json"), None),
                    last_error="not_a_feed: near '\x00'")
    store.save_feed_states([state])
    assert store.feed_states()["f"].last_error == "not_a_feed: near ''"


def test_an_error_with_nul_is_stored_without_it(store: Store) -> None:
    """A peer's answer quoted in an error may hold NUL (PostgreSQL refuses it in text) or a
    lone surrogate (no UTF-8 holds it)."""
    store.enqueue([alert("a1")], NOW)
    store.mark("a1", "failed", NOW, error="slack: weird\x00code \ud800!")
    (row,) = [r for r in store.alerts_between(NOW - timedelta(days=1), NOW + timedelta(days=1))
              if r.alert.alert_id == "a1"]
    assert row.status == "failed" and row.last_error == "slack: weirdcode ?!"


def test_a_user_that_may_not_create_tables_gets_a_clear_error(store_url: str) -> None:
    """PostgreSQL 15 gives a role that does not own the database no CREATE on its public
    schema: opening the store says so, and how to fix it."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's privileges")
    import secrets

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    role = f"watcher_ro_{secrets.token_hex(4)}"
    admin = create_engine(store_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        url = make_url(store_url).set(username=role).render_as_string(hide_password=False)
        with pytest.raises(StoreError, match=r"cannot set up the tables.*right to create tables"):
            Store(url)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_processes_that_open_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """`watcher serve` starts its flows together: on a new SQLite store, all but one failed with
    "table ... already exists" (the migration's version check was not under a lock)."""
    import subprocess
    import sys
    import time

    url = f"sqlite:///{tmp_path}/fresh.db"
    go = tmp_path / "go"
    # each child's migration takes a while (0.5 s more), so that all of them start it before
    # the first is done: without a lock, every one of them but one then fails
    child = ("import sys, time, pathlib\nfrom alembic import command\n"
             "from watcher.store import Store\n"
             "upgrade = command.upgrade\n"
             "command.upgrade = lambda *a, **k: (time.sleep(0.5), upgrade(*a, **k))\n"
             "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.002)\n"
             "Store(sys.argv[1]).close()\nprint('opened')")
    procs = [subprocess.Popen([sys.executable, "-c", child, url, str(go)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(4)]
    time.sleep(3.0)  # every child imported and waiting
    go.touch()
    outs = [p.communicate(timeout=60)[0] for p in procs]
    opened = [p.returncode == 0 and o.strip().endswith("opened")
              for p, o in zip(procs, outs, strict=True)]
    assert all(opened), outs


def test_db_current_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    """A mistyped path: `db current` created an empty database (and its directories)."""
    from .test_cli import run_cli

    db = tmp_path / "typo" / "watcher.db"
    config = tmp_path / "w.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{db}"\n[[feeds]]\nname = "f"\n'
                      'url = "https://a.example/rss"\n')
    proc = run_cli(["db", "current", "--config", str(config)])
    assert proc.returncode == 0 and "no database file yet" in proc.stdout, proc
    assert not db.parent.exists()
    upgraded = run_cli(["db", "upgrade", "--config", str(config)])
    assert upgraded.returncode == 0 and db.exists(), upgraded
    proc = run_cli(["db", "current", "--config", str(config)])
    assert proc.returncode == 0 and "no database file yet" not in proc.stdout
