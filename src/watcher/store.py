"""Persistent state: feed state, articles, stories and the alert outbox (SQLAlchemy 2 Core).

SQLite by default (created on first use, WAL journal); any SQLAlchemy URL works. Every write that
must not be lost or doubled is one transaction; uniqueness is enforced by the database, not by
checks in Python, so concurrent runs cannot insert an article or an alert twice.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from watcher.models import Alert, Article, CasualtyFigure, FeedState, SourcedFigure, TollRead

try:
    import fcntl
except ImportError:  # (not POSIX: SQLite runs go without the ingest lock)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("watcher.store")

INGEST_LOCK_TIMEOUT = 600.0  # seconds a run waits for `Store.ingest_lock`
_INGEST_LOCK_KEY = 7_245_201_338  # the advisory lock id (migrations use ...337)
_NO_TOLLS: Mapping[str, TollRead] = {}  # (`Store.add_articles`: no toll read yet)

metadata = MetaData()


feeds = Table(
    "feeds", metadata,
    Column("name", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("config_url", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("first_polled", DateTime),
    Column("last_success", DateTime),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("retry_at", DateTime),
    Column("disabled", Text),
    Column("ops_alert", String(20)),
    Column("validators_url", Text),
)

articles = Table(
    "articles", metadata,
    Column("id", String(64), primary_key=True),
    Column("feed", String(200), nullable=False),
    Column("guid", Text),
    Column("url", Text, nullable=False),
    Column("canonical_url", String(2000), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("published", DateTime, nullable=False),
    Column("fetched", DateTime, nullable=False),
    Column("story_id", String(64), nullable=False),
    Column("duplicate_of", String(64)),
    # true while the article waits for matching (set with the insert, cleared once its alerts are
    # queued): a run that stops in between leaves it to the next run, never lost
    Column("pending_match", Boolean),
    # the article's current death toll as the casualty rules read it (`save_tolls`): `toll_rules`
    # names the rules' version (NULL: not read yet), `toll_killed` is NULL when it states none
    Column("toll_rules", String(16)),
    Column("toll_killed", Integer),
    Column("toll_qualifier", String(20)),
    Index("ix_articles_canonical_url", "canonical_url"),
    Index("ix_articles_story_id", "story_id"),
    Index("ix_articles_published", "published"),
    Index("ix_articles_feed", "feed"),
    Index("ix_articles_pending_match", "pending_match"),
)

stories = Table(
    "stories", metadata,
    Column("id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("articles", Integer, nullable=False, default=1),
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("story_id", String(64), nullable=False),
    Column("watch", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("severity", String(50), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent | failed | console
    Column("ts", String(64)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("claimed_by", String(64)),  # the run delivering it now...
    Column("claimed_until", DateTime),  # ...until this time (a lease: a crashed run lets go)
    Column("digest_id", String(64)),  # the channel's digest that took it into account
    Index("ix_alerts_status", "status"),
    Index("ix_alerts_created", "created"),
    Index("ix_alerts_digest_id", "digest_id"),
)


# the digest ledger (`watcher.digest`): one row per channel and digest run, which claims the
# channel's new alerts (`alerts.digest_id`). "sending" until the message and its charts are out
# (a run that stops half-way leaves it for the next run to finish), then "posted"; "failed" when
# the message was refused (its alerts are released, and the next run takes the row over).
digests = Table(
    "digests", metadata,
    Column("digest_id", String(64), primary_key=True),  # see watcher.digest.digest_id_for
    Column("channel", String(200), nullable=False),
    Column("since", DateTime, nullable=False),
    Column("until", DateTime, nullable=False),
    Column("status", String(20), nullable=False),  # sending | posted | failed
    Column("ts", String(64)),  # the message's ts, once posted
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Index("ix_digests_channel", "channel"),
)


class StoreError(Exception):
    """The database cannot be opened or used. The message says which and how to fix it; it never
    contains the database password."""


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _at(dt: datetime) -> datetime:
    """A stored (naive UTC) time, aware."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    """`_at` of a nullable column."""
    return None if dt is None else _at(dt)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    alert: Alert
    status: str
    ts: str | None
    attempts: int
    last_error: str | None
    created: datetime
    updated: datetime
    digest_id: str | None = None  # the channel's digest that took it into account


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One channel's digest for one period (see the `digests` table)."""

    digest_id: str
    channel: str
    since: datetime
    until: datetime
    status: str
    ts: str | None
    attempts: int
    last_error: str | None
    created: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class KnownArticle:
    id: str
    story_id: str
    feed: str


@dataclass(frozen=True, slots=True)
class StoredToll:
    """An article's death toll as stored (`Store.story_tolls`), with what its provenance needs."""

    id: str
    feed: str
    url: str
    published: datetime
    rules: str | None  # the version of the casualty rules that read it; None: not read yet
    killed: int | None  # None: the article states no current toll
    qualifier: str | None


@dataclass(frozen=True, slots=True)
class WindowRow:
    """A stored article as the story index is rebuilt from it (`Store.iter_window`)."""

    id: str
    feed: str
    canonical_url: str
    title: str
    text: str
    published: datetime
    story_id: str
    duplicate_of: str | None

# a cache of the story index between runs (`watcher.pipeline`); the articles stay the truth
story_index = Table(
    "story_index", metadata,
    Column("name", String(64), primary_key=True),
    Column("saved", DateTime, nullable=False),
    Column("articles", Integer, nullable=False),
)

# the snapshot itself, in parts (a part is a row: no row, nor its copies, holds the whole)
story_index_parts = Table(
    "story_index_parts", metadata,
    Column("name", String(64), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


class Store:
    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(
                f"invalid database URL {redact_url(url)!r}: use sqlite:///path/to/watcher.db or "
                "postgresql+psycopg://user:password@host/dbname"
            ) from None
        kwargs: dict[str, Any] = {"future": True}
        if parsed.get_backend_name() == "sqlite":
            db = parsed.database
            if db and db != ":memory:":
                try:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the directory for the SQLite database {db}: "
                        f"{exc.strerror or exc}; choose a writable path in [store] url"
                    ) from None
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(
                f"no database driver for {parsed.drivername!r} ({exc.__class__.__name__}); "
                "install it, e.g. pip install 'psycopg[binary]' for PostgreSQL"
            ) from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if create:
            try:
                if not _at_schema_head(self.engine):
                    from watcher.migrate import UnknownRevision, upgrade

                    try:
                        upgrade(self.engine)
                    except UnknownRevision as exc:
                        raise newer_schema_error(url, exc.revision, exc.head) from None
            except OperationalError as exc:
                raise StoreError(
                    f"cannot open database {redact_url(url)}: {_orig(exc)}; check the URL in "
                    "[store] url or WATCHER_DATABASE_URL, and that the server is reachable"
                ) from None
            except ProgrammingError as exc:  # e.g. a role that may not create tables
                raise StoreError(
                    f"cannot set up the tables of database {redact_url(url)}: {_orig(exc)}; the "
                    "user in [store] url needs the right to create tables there (PostgreSQL: "
                    "GRANT CREATE ON SCHEMA public TO that user, or make it the owner), or the "
                    "database holds tables watcher did not make: point [store] url at another"
                ) from None
            except DatabaseError as exc:  # e.g. SQLite: "file is not a database"
                raise not_a_database_error(url, exc) from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def ingest_lock(self, timeout: float = INGEST_LOCK_TIMEOUT) -> Iterator[bool]:
        """Held by a run from loading the story index until its articles are stored, so that
        concurrent runs (shards above all) decide stories one after the other, each seeing what
        the one before stored: two runs that got articles of one event at the same time opened a
        story each. PostgreSQL: a session advisory lock (let go if the run dies); SQLite: an
        exclusive lock on the file `<database>-ingest.lock` beside it (let go likewise); an
        in-memory database needs none. Waits at most `timeout` seconds, then goes on without
        it (yields False), with a warning: a run stuck holding it must not stop the others."""
        backend = self.engine.dialect.name
        if backend == "postgresql":
            conn = self.engine.connect()
            got = False
            try:
                got = _wait_for(lambda: bool(conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _INGEST_LOCK_KEY}).scalar()),
                    timeout)
                conn.commit()
                _warn_unlocked(got, timeout)
                yield got
            finally:
                try:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                     {"k": _INGEST_LOCK_KEY})
                        conn.commit()
                finally:
                    conn.close()
            return
        db = self.engine.url.database if backend == "sqlite" else None
        if not db or db == ":memory:" or fcntl is None:
            yield True
            return
        try:
            handle = open(f"{Path(db).expanduser()}-ingest.lock", "a+b")  # noqa: SIM115
        except OSError as exc:
            log.warning("cannot open the ingest lock beside %s (%s); going on without it", db,
                        exc.strerror or exc)
            yield False
            return
        with handle:
            lock = fcntl
            got = _wait_for(lambda: _try_flock(lock, handle.fileno()), timeout)
            _warn_unlocked(got, timeout)
            try:
                yield got
            finally:
                if got:
                    lock.flock(handle.fileno(), lock.LOCK_UN)

    # -- feeds ---
    def feed_states(self) -> dict[str, FeedState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feeds)).mappings().all()
        return {
            r["name"]: FeedState(
                name=r["name"], url=r["url"], config_url=r["config_url"], etag=r["etag"],
                last_modified=r["last_modified"], retry_at=_aware(r["retry_at"]),
                disabled=r["disabled"], ops_alert=r["ops_alert"],
                validators_url=r["validators_url"],
                body_hash=r["body_hash"], first_polled=_aware(r["first_polled"]),
                last_success=_aware(r["last_success"]), last_error=r["last_error"],
                last_status=r["last_status"], consecutive_failures=r["consecutive_failures"] or 0,
            )
            for r in rows
        }

    def set_ops_alert(self, name: str, old: str | None, new: str | None) -> bool:
        """Move a feed's open feed-health alert from `old` to `new`, if it is still `old`
        (compare-and-set: of several runs that saw the same change, only one reports it)."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(feeds).where(feeds.c.name == name)
                                   .where(feeds.c.ops_alert.is_not_distinct_from(old))
                                   .values(ops_alert=new)).rowcount
        return bool(changed)

    def save_feed_states(self, states: Iterable[FeedState]) -> None:
        """Upsert feed states (update, else insert; an insert that loses a race with another run
        becomes an update), in one transaction: the stored feeds are updated in one batch."""
        rows: list[dict[str, Any]] = []
        names = [f.name for f in fields(FeedState)]
        for s in states:
            values = {name: getattr(s, name) for name in names}  # (asdict deep-copies: slower)
            for key in ("first_polled", "last_success", "retry_at"):
                if values[key] is not None:
                    values[key] = _naive(values[key])
            values["last_error"] = _storable(values["last_error"])  # (an error may quote a feed)
            rows.append(values)
        if not rows:
            return
        with self.engine.begin() as conn:
            stored: set[str] = set()
            for chunk in _chunks([r["name"] for r in rows], 500):
                stored.update(conn.execute(select(feeds.c.name).where(feeds.c.name.in_(chunk)))
                              .scalars())
            # an open feed-health alert is set by `set_ops_alert` alone: an update from a state
            # read before another run set it must not undo it (the alert would come again)
            kept = ("name", "ops_alert")
            old = [{f"v_{k}": v for k, v in r.items()} for r in rows if r["name"] in stored]
            if old:
                conn.execute(update(feeds).where(feeds.c.name == bindparam("v_name"))
                             .values({k: bindparam(f"v_{k}") for k in rows[0] if k not in kept}),
                             old)
            new = [r for r in rows if r["name"] not in stored]
            if not new:
                return
            try:  # in one batch (a first poll of a thousand feeds: one row at a time took 1 s)
                with conn.begin_nested():
                    conn.execute(insert(feeds), new)
                return
            except IntegrityError:  # another run stored some of them meanwhile
                pass
            for values in new:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(feeds).values(**values))
                except IntegrityError:
                    conn.execute(update(feeds).where(feeds.c.name == values["name"])
                                 .values({k: v for k, v in values.items() if k not in kept}))

    # -- articles and stories ---
    def known_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                found.update(conn.execute(select(articles.c.id).where(articles.c.id.in_(chunk)))
                             .scalars())
        return found

    def ids_by_feed(self, feeds: Sequence[str]) -> dict[str, set[str]]:
        """Per feed, the ids of its stored articles (feeds without any are left out)."""
        out: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(feeds)), 500):
                for feed, aid in conn.execute(select(articles.c.feed, articles.c.id)
                                              .where(articles.c.feed.in_(chunk))):
                    out.setdefault(feed, set()).add(aid)
        return out

    def by_canonical_url(self, urls: Sequence[str]) -> dict[str, KnownArticle]:
        """The earliest stored article for each canonical URL."""
        out: dict[str, KnownArticle] = {}
        wanted = [u for u in urls if u]
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted, 500):
                rows = conn.execute(
                    select(articles.c.id, articles.c.story_id, articles.c.feed,
                           articles.c.canonical_url)
                    .where(articles.c.canonical_url.in_(chunk))
                    .order_by(articles.c.fetched, articles.c.id)
                ).all()
                for r in rows:
                    out.setdefault(r.canonical_url, KnownArticle(r.id, r.story_id, r.feed))
        return out

    def add_articles(self, new: Sequence[tuple[Article, str, str | None]],
                     pending: Set[str] = frozenset(),
                     tolls: Mapping[str, TollRead] = _NO_TOLLS) -> int:
        """Insert (article, story_id, duplicate_of) rows and open or touch their stories.
        Returns how many were inserted; an id already present (a concurrent run, or earlier in
        `new`) is skipped and does not touch its story. Ids in `pending` are stored as waiting
        for matching (`pending_matches`, `mark_matched`). `tolls`: id -> the article's death
        toll as already read (`lifecycle.read_toll`: the rules, count and qualifier), stored
        with it as `save_tolls` would; an article without one is read when first needed.

        On SQLite and PostgreSQL the rows go in batches (`INSERT ... ON CONFLICT DO NOTHING
        RETURNING id`, then one upsert per story: `articles` raised by the story's inserted
        articles, `updated` set to the last one's fetch time, a new story titled after its
        first), in one transaction, rows in key order so that concurrent runs take their locks
        in the same order. Other databases insert row by row."""
        if self.engine.dialect.name not in ("sqlite", "postgresql"):
            return self._add_articles_rowwise(new, pending, tolls)
        first: dict[str, tuple[Article, str, str | None]] = {}
        for row in new:
            first.setdefault(row[0].id, row)  # a repeated id: the first wins, as row by row
        if not first:
            return 0
        ins = _dialect_insert(self.engine.dialect.name)
        inserted: set[str] = set()
        with self.engine.begin() as conn:
            stmt = ins(articles).on_conflict_do_nothing(index_elements=[articles.c.id]) \
                .returning(articles.c.id)
            ordered = sorted(first)
            for i in range(0, len(ordered), _BATCH):
                batch = [_article_row(*first[aid], pending=aid in pending,
                                      toll=tolls.get(aid)) for aid in ordered[i:i + _BATCH]]
                inserted.update(conn.execute(stmt, batch).scalars())
            if not inserted:
                return 0
            touched: dict[str, dict[str, Any]] = {}
            for aid, (article, story_id, _dup) in first.items():  # in the order of `new`
                if aid not in inserted:
                    continue
                fetched = _naive(article.fetched)
                story = touched.get(story_id)
                if story is None:
                    touched[story_id] = {"id": story_id, "title": article.title,
                                         "first_seen": fetched, "updated": fetched,
                                         "articles": 1}
                else:
                    story["updated"] = fetched
                    story["articles"] += 1
            upsert = ins(stories)
            upsert = upsert.on_conflict_do_update(
                index_elements=[stories.c.id],
                set_={"articles": stories.c.articles + upsert.excluded.articles,
                      "updated": upsert.excluded.updated},
            )
            story_rows = [touched[k] for k in sorted(touched)]
            for i in range(0, len(story_rows), _BATCH):
                conn.execute(upsert, story_rows[i:i + _BATCH])
        return len(inserted)

    def _add_articles_rowwise(self, new: Sequence[tuple[Article, str, str | None]],
                              pending: Set[str] = frozenset(),
                              tolls: Mapping[str, TollRead] = _NO_TOLLS) -> int:
        inserted = 0
        with self.engine.begin() as conn:
            for article, story_id, duplicate_of in new:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(articles).values(**_article_row(
                            article, story_id, duplicate_of, pending=article.id in pending,
                            toll=tolls.get(article.id))))
                except IntegrityError:
                    continue
                inserted += 1
                self._touch_story(conn, story_id, article)
        return inserted

    def _touch_story(self, conn: Connection, story_id: str, article: Article) -> None:
        now = _naive(article.fetched)
        changed = conn.execute(
            update(stories).where(stories.c.id == story_id)
            .values(articles=stories.c.articles + 1, updated=now)
        ).rowcount
        if not changed:
            try:
                with conn.begin_nested():
                    conn.execute(insert(stories).values(
                        id=story_id, title=article.title, first_seen=now, updated=now, articles=1))
            except IntegrityError:
                conn.execute(update(stories).where(stories.c.id == story_id)
                             .values(articles=stories.c.articles + 1, updated=now))

    def story_sources(self, story_ids: Sequence[str]) -> dict[str, int]:
        """Distinct feeds reporting each story."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), 500):
                rows = conn.execute(
                    select(articles.c.story_id, func.count(func.distinct(articles.c.feed)))
                    .where(articles.c.story_id.in_(chunk)).group_by(articles.c.story_id)
                ).all()
                out.update({r[0]: int(r[1]) for r in rows})
        return out

    def story_feeds(self, story_ids: Sequence[str]) -> dict[str, list[str]]:
        """The feeds reporting each story, in the order they first did (their first article's
        fetch time, then name)."""
        first = func.min(articles.c.fetched)
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), 500):
                rows = conn.execute(
                    select(articles.c.story_id, articles.c.feed, first)
                    .where(articles.c.story_id.in_(chunk))
                    .group_by(articles.c.story_id, articles.c.feed)
                    .order_by(articles.c.story_id, first, articles.c.feed)
                ).all()
                for story, feed, _ in rows:
                    out.setdefault(story, []).append(feed)
        return out

    def articles_since(self, since: datetime) -> list[Article]:
        """Stored articles published since `since`, oldest first (one per story: duplicates of
        an article under other URLs are left out)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles).where(articles.c.published >= _naive(since))
                .where(articles.c.duplicate_of.is_(None))
                .order_by(articles.c.published, articles.c.id)
            ).mappings().all()
        return [
            Article(id=r["id"], feed=r["feed"], guid=r["guid"], url=r["url"],
                    canonical_url=r["canonical_url"], title=r["title"], text=r["text"],
                    published=_aware(r["published"]) or since,
                    fetched=_aware(r["fetched"]) or since)
            for r in rows
        ]

    def window_articles(self, since: datetime) -> list[tuple[Article, str, str | None]]:
        """(article, story_id, duplicate_of) for articles published since `since`, in
        publication order: what the story index is rebuilt from at the start of a run."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles).where(articles.c.published >= _naive(since))
                .order_by(articles.c.published, articles.c.id)
            ).mappings().all()
        return [
            (Article(id=r["id"], feed=r["feed"], guid=r["guid"], url=r["url"],
                     canonical_url=r["canonical_url"], title=r["title"], text=r["text"],
                     published=_aware(r["published"]) or since,
                     fetched=_aware(r["fetched"]) or since),
             r["story_id"], r["duplicate_of"])
            for r in rows
        ]

    def iter_window(self, since: datetime, batch: int = 1000) -> Iterator[WindowRow]:
        """What `window_articles` returns, as `WindowRow`s (the columns the story index needs),
        read `batch` rows at a time: the texts of the whole window are never all in memory."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(
                select(*_WINDOW_COLS).where(articles.c.published >= _naive(since))
                .order_by(articles.c.published, articles.c.id))
            for r in result:
                yield _window_row(r)

    def pending_matches(self) -> list[tuple[Article, str]]:
        """(article, story_id) of the articles stored as waiting for matching and not marked
        matched since: left by a run that stopped before queueing their alerts (or running now)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(articles).where(articles.c.pending_match.is_(True))
                                .order_by(articles.c.fetched, articles.c.id)).mappings().all()
        return [(_row_article(r), r["story_id"]) for r in rows]

    def mark_matched(self, ids: Sequence[str]) -> None:
        """These articles' alerts are queued (or they need none): no longer pending."""
        with self.engine.begin() as conn:
            for chunk in _chunks(list(ids), 500):
                # by id alone: a condition on the flag as well led SQLite to look the rows up
                # through the flag's index, going over every waiting row for each chunk (a cold
                # poll's 20,000 candidates: 1.0 s instead of 0.4 s, measured)
                conn.execute(update(articles).where(articles.c.id.in_(chunk))
                             .values(pending_match=None))

    def window_assignments(self, since: datetime) -> dict[str, tuple[str, str | None]]:
        """id -> (story_id, duplicate_of) of the articles published since `since` (the story
        window), without their texts."""
        with self.engine.connect() as conn:  # all() then plain tuples: ~1.4x cheaper for 60,000
            rows = conn.execute(
                select(articles.c.id, articles.c.story_id, articles.c.duplicate_of)
                .where(articles.c.published >= _naive(since))).all()
        return {aid: (story, duplicate_of) for aid, story, duplicate_of in rows}

    def window_rows(self, ids: Sequence[str]) -> list[WindowRow]:
        """The `WindowRow`s of these articles (those still stored), oldest first."""
        out: list[WindowRow] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                out.extend(_window_row(r) for r in conn.execute(
                    select(*_WINDOW_COLS).where(articles.c.id.in_(chunk))))
        out.sort(key=lambda w: (w.published, w.id))
        return out

    # -- the digest ledger ---
    def digest_cursors(self) -> dict[str, tuple[datetime | None, datetime]]:
        """Per channel with digests: (the end of its last digest that was not refused, or None;
        the start of its oldest digest kept, before which its alerts are never listed)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(digests.c.channel, digests.c.status, func.max(digests.c.until),
                       func.min(digests.c.since))
                .group_by(digests.c.channel, digests.c.status)).all()
        out: dict[str, tuple[datetime | None, datetime]] = {}
        for channel, status, until, since in rows:
            last, first = out.get(channel, (None, _at(since)))
            if status != "failed" and (last is None or _at(until) > last):
                last = _at(until)
            out[channel] = (last, min(first, _at(since)))
        return out

    def digest_alerts(self, digest_id: str) -> list[OutboxRow]:
        """The alerts a digest lists."""
        return self._rows(select(alerts).where(alerts.c.digest_id == digest_id)
                          .order_by(alerts.c.created, alerts.c.alert_id))

    def begin_digest(self, digest_id: str, channel: str, since: datetime, until: datetime,
                     alert_ids: Sequence[str], now: datetime
                     ) -> tuple[list[str], int, datetime] | None:
        """Record a digest as "sending" (or take over a failed one of that id, to its new end)
        and claim for it those of `alert_ids` that no digest has claimed, in one transaction,
        before anything is posted. Returns (the claimed ids, this attempt's number, the
        digest's start: a failed one taken over keeps its own), or None when another run has
        the digest."""
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(digests).values(
                        digest_id=digest_id, channel=channel, since=_naive(since),
                        until=_naive(until), status="sending", attempts=1,
                        created=_naive(now), updated=_naive(now),
                    ))
                attempt, start = 1, since
            except IntegrityError:
                taken = conn.execute(
                    update(digests).where(digests.c.digest_id == digest_id)
                    .where(digests.c.status == "failed")
                    .values(status="sending", until=_naive(until), ts=None,
                            attempts=digests.c.attempts + 1, created=_naive(now),
                            updated=_naive(now))
                    .returning(digests.c.attempts, digests.c.since)
                ).one_or_none()
                if taken is None:
                    return None
                attempt, start = taken[0], _at(taken[1])
            claimed: list[str] = []
            for chunk in _chunks(sorted(set(alert_ids)), 500):
                claimed += conn.execute(
                    update(alerts).where(alerts.c.alert_id.in_(chunk))
                    .where(alerts.c.digest_id.is_(None))
                    .values(digest_id=digest_id).returning(alerts.c.alert_id)
                ).scalars().all()
        return claimed, attempt, start

    def digest_attempt(self, digest_id: str) -> int | None:
        """The attempt number of a "sending" digest (a run checks, right before posting, that no
        other run took it over), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(digests.c.attempts)
                                .where(digests.c.digest_id == digest_id)
                                .where(digests.c.status == "sending")).scalar_one_or_none()

    def unfinished_digests(self, idle_since: datetime) -> list[DigestRow]:
        """Digests still "sending" that no run has touched since `idle_since` (their run
        stopped or failed), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(digests).where(digests.c.status == "sending")
                                .where(digests.c.updated < _naive(idle_since))
                                .order_by(digests.c.since, digests.c.channel)).mappings().all()
        return [DigestRow(
            digest_id=r["digest_id"], channel=r["channel"], since=_at(r["since"]),
            until=_at(r["until"]), status=r["status"], ts=r["ts"],
            attempts=r["attempts"], last_error=r["last_error"],
            created=_at(r["created"]), updated=_at(r["updated"]),
        ) for r in rows]

    def take_digest(self, row: DigestRow, now: datetime) -> bool:
        """Take over an unfinished digest; False when another run took it first."""
        with self.engine.begin() as conn:
            got = conn.execute(
                update(digests).where(digests.c.digest_id == row.digest_id)
                .where(digests.c.status == "sending")
                .where(digests.c.attempts == row.attempts)
                .values(attempts=row.attempts + 1, updated=_naive(now))
            ).rowcount
        return bool(got)

    def digest_progress(self, digest_id: str, attempt: int, now: datetime, *,
                        ts: str | None = None, error: str | None = None,
                        posted: bool = False) -> bool:
        """Record the message's ts, an error (the row stays "sending" for the next run), or
        that the digest is complete. Only while the digest is still this run's `attempt`
        (another run may have taken it over); returns whether it was."""
        values: dict[str, Any] = {"updated": _naive(now)}
        if ts is not None:
            values["ts"] = ts
        if error is not None:
            values["last_error"] = _storable(error)
        if posted:
            values["status"] = "posted"
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(digests).where(digests.c.digest_id == digest_id)
                .where(digests.c.status == "sending").where(digests.c.attempts == attempt)
                .values(**values)).rowcount)

    def fail_digest(self, digest_id: str, attempt: int, error: str, now: datetime) -> bool:
        """A digest whose message was refused (a permanent error): its alerts are released, for
        the channel's next digest. Only while the digest is still this run's `attempt` (a run
        that took it over may have posted it); returns whether it was."""
        with self.engine.begin() as conn:
            failed = conn.execute(
                update(digests).where(digests.c.digest_id == digest_id)
                .where(digests.c.status == "sending").where(digests.c.attempts == attempt)
                .values(status="failed", last_error=_storable(error), updated=_naive(now))
            ).rowcount
            if failed:
                conn.execute(update(alerts).where(alerts.c.digest_id == digest_id)
                             .values(digest_id=None))
        return bool(failed)

    def digest_rows(self) -> list[tuple[str, str, datetime, datetime, str | None]]:
        """(channel, status, since, until, ts) of every digest, oldest first (for tests and
        diagnostics)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(digests.c.channel, digests.c.status, digests.c.since,
                                       digests.c.until, digests.c.ts)
                                .order_by(digests.c.since, digests.c.channel)).all()
        return [(c, st, _at(a), _at(b), ts) for c, st, a, b, ts in rows]

    # -- the story index snapshot ---
    def story_index_saved(self, name: str = "default") -> datetime | None:
        """When the snapshot was last saved, or None."""
        with self.engine.connect() as conn:
            saved = conn.execute(select(story_index.c.saved)
                                 .where(story_index.c.name == name)).scalar_one_or_none()
        return _aware(saved)

    def load_story_index(self, name: str = "default") -> bytes | None:
        """The last saved snapshot of the story index (its parts joined), or None."""
        parts = list(self.iter_story_index(name))
        return b"".join(parts) if parts else None

    def iter_story_index(self, name: str = "default") -> Generator[bytes, None, None]:
        """The parts of the last saved snapshot of the story index, in order, read one at a
        time (none when there is none). One statement reads them: one snapshot's parts, never a
        mix. Close the iterator when not reading it to the end."""
        query = (select(story_index_parts.c.data).where(story_index_parts.c.name == name)
                 .order_by(story_index_parts.c.part))
        with self.engine.connect() as conn, conn.execution_options(
            stream_results=True, yield_per=1
        ).execute(query) as result:
            for (data,) in result:
                yield bytes(data)

    def save_story_index(self, data: bytes | Iterable[bytes | memoryview], articles_count: int,
                         now: datetime, name: str = "default") -> None:
        """Replace the saved snapshot, given whole or in parts (stored as given, a row each), in
        one transaction: a reader sees the old one or the new one, never a mix. The row naming
        it is written first, so concurrent savers take turns. Parts given by an iterator (not a
        sequence) are first written to a temporary file (`tempfile`: $TMPDIR, else /tmp; held
        in memory when none can be made), then stored one at a time: the snapshot is never whole
        in the process's memory, and its making does not hold the transaction."""
        if isinstance(data, bytes | bytearray | memoryview):
            self._save_story_index([data], articles_count, now, name)
        elif isinstance(data, list | tuple):  # (already in memory)
            self._save_story_index(data, articles_count, now, name)
        else:
            # made part by part: spooled to a temporary file first, so that the snapshot is
            # neither whole in memory nor made while the transaction holds the write lock
            try:
                spool = tempfile.TemporaryFile(prefix="watcher-snapshot-")  # noqa: SIM115 (with below)
            except OSError as exc:  # (no writable temporary directory: held in memory)
                log.info("story index snapshot made in memory (no temporary file: %s)", exc)
                self._save_story_index(list(data), articles_count, now, name)
                return
            with spool:
                sizes = [spool.write(part) for part in data]
                spool.seek(0)
                self._save_story_index((spool.read(n) for n in sizes), articles_count, now,
                                       name)

    def _save_story_index(self, parts: Iterable[bytes | bytearray | memoryview],
                          articles_count: int, now: datetime, name: str) -> None:
        row = {"name": name, "saved": _naive(now), "articles": articles_count}
        try:
            with self.engine.begin() as conn:
                done = conn.execute(update(story_index).where(story_index.c.name == name)
                                    .values(**row)).rowcount
                if not done:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(story_index).values(**row))
                    except IntegrityError:  # another run inserted it meanwhile: last one wins
                        conn.execute(update(story_index).where(story_index.c.name == name)
                                     .values(**row))
                conn.execute(story_index_parts.delete().where(story_index_parts.c.name == name))
                for i, part in enumerate(parts):  # one at a time: one part's copy at a time
                    conn.execute(insert(story_index_parts).values(name=name, part=i, data=part))
        except OperationalError as exc:
            raise StoreError(f"cannot save the story index snapshot in {redact_url(self.url)}: "
                             f"{_orig(exc)}") from None

    def publish_times(self, since: datetime, feeds: Sequence[str] | None = None
                      ) -> dict[str, list[datetime]]:
        """Per feed (of `feeds`, default all), the publication times of articles first seen
        since `since`, oldest first."""
        out: dict[str, list[datetime]] = {}
        query = (select(articles.c.feed, articles.c.published)
                 .where(articles.c.fetched >= _naive(since)))
        with self.engine.connect() as conn:
            if feeds is None:
                rows = list(conn.execute(query.order_by(articles.c.feed, articles.c.published)))
            else:
                rows = []
                for chunk in _chunks(sorted(set(feeds)), 500):
                    rows += conn.execute(query.where(articles.c.feed.in_(chunk))
                                         .order_by(articles.c.feed, articles.c.published))
        for feed, published in rows:
            out.setdefault(feed, []).append(_aware(published) or since)
        return out

    def last_published(self, since: datetime) -> dict[str, datetime]:
        """Per feed, the latest publication time of its articles first seen since `since`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.feed, func.max(articles.c.published))
                .where(articles.c.fetched >= _naive(since)).group_by(articles.c.feed)
            ).all()
        return {feed: _at(last) for feed, last in rows}

    def prune(self, cutoff: datetime) -> dict[str, int]:
        """Delete what is older than `cutoff`: articles published before it, stories not updated
        since, alerts created before it that are done (sent, failed, console, held, folded), and
        digests that ended before it (but each channel's last one, and unfinished ones). Pending
        alerts are never deleted, nor the alerts of their stories. Returns the rows deleted per
        table."""
        c = _naive(cutoff)
        with self.engine.begin() as conn:
            n_articles = conn.execute(
                articles.delete().where(articles.c.published < c)).rowcount
            live = select(articles.c.story_id).distinct()
            n_stories = conn.execute(
                stories.delete().where(stories.c.updated < c).where(stories.c.id.not_in(live))
            ).rowcount
            # a story's alerts stay while one of its alerts is pending: an update needs its
            # story's message (to reply to it and refresh it)
            waiting = select(alerts.c.story_id).where(alerts.c.status == "pending").distinct()
            n_alerts = conn.execute(
                alerts.delete().where(alerts.c.created < c)
                .where(alerts.c.status.in_(["sent", "failed", "console", "held", "folded"]))
                .where(alerts.c.story_id.not_in(waiting))
            ).rowcount
            # each channel keeps its last digest: the next one starts where it ended
            last = (select(digests.c.channel, func.max(digests.c.until).label("until"))
                    .where(digests.c.status != "failed").group_by(digests.c.channel).subquery())
            keep = select(digests.c.digest_id).join(
                last, (digests.c.channel == last.c.channel) & (digests.c.until == last.c.until))
            n_digests = conn.execute(
                digests.delete().where(digests.c.until < c)
                .where(digests.c.status != "sending").where(digests.c.digest_id.not_in(keep))
            ).rowcount
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA incremental_vacuum")
        return {"articles": n_articles, "stories": n_stories, "alerts": n_alerts,
                "digests": n_digests}

    def count(self, table: str) -> int:
        t = metadata.tables[table]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

    # -- the alert outbox ---
    def enqueue(self, batch: Sequence[Alert], now: datetime) -> list[Alert]:
        """Write alerts to the outbox as pending. An alert_id already present is left as it is
        (idempotent). Returns the alerts actually added."""
        added: list[Alert] = []
        with self.engine.begin() as conn:
            for alert in batch:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(alerts).values(
                            alert_id=alert.alert_id, story_id=alert.story_id, watch=alert.watch,
                            channel=alert.channel, severity=alert.severity,
                            payload=alert_to_json(alert), status="pending", attempts=0,
                            created=_naive(now), updated=_naive(now),
                        ))
                    added.append(alert)
                except IntegrityError:
                    continue
        return added

    def pending(self, limit: int = 10_000) -> list[OutboxRow]:
        return self._rows(select(alerts).where(alerts.c.status == "pending")
                          .order_by(alerts.c.created, alerts.c.alert_id).limit(limit))

    def recent_alerts(self, limit: int = 50) -> list[OutboxRow]:
        rows = self._rows(select(alerts).order_by(alerts.c.created.desc(), alerts.c.alert_id)
                          .limit(limit))
        return rows

    def alerts_between(self, since: datetime, until: datetime) -> list[OutboxRow]:
        return self._rows(select(alerts).where(alerts.c.created >= _naive(since))
                          .where(alerts.c.created < _naive(until))
                          .where(alerts.c.watch != "feed-health")
                          .order_by(alerts.c.created))

    def fold(self, burst: Alert, members: Sequence[str], now: datetime) -> bool:
        """Replace pending, never-attempted alerts `members` by the one alert `burst`, in one
        transaction: the burst is queued and the members marked "folded". All or nothing: if
        any member is no longer pending, unattempted and unclaimed (another run took it),
        nothing changes and the result is False."""
        wanted = set(members)
        with self.engine.connect() as conn, conn.begin() as tx:
            folded = conn.execute(
                update(alerts).where(alerts.c.alert_id.in_(sorted(wanted)))
                .where(alerts.c.status == "pending").where(alerts.c.attempts == 0)
                .where(alerts.c.claimed_by.is_(None))
                .values(status="folded", last_error=f"in burst {burst.alert_id}",
                        updated=_naive(now))
                .returning(alerts.c.alert_id)
            ).scalars().all()
            if set(folded) != wanted:
                tx.rollback()
                return False
            conn.execute(insert(alerts).values(
                alert_id=burst.alert_id, story_id=burst.story_id, watch=burst.watch,
                channel=burst.channel, severity=burst.severity, payload=alert_to_json(burst),
                status="pending", attempts=0, created=_naive(now), updated=_naive(now),
            ))
        return True

    def newer_update_sent(self, parent: Alert, row: OutboxRow) -> bool:
        """Whether an update of `parent`'s story created after `row` is already in Slack."""
        later = self._rows(select(alerts).where(alerts.c.story_id == parent.story_id)
                           .where(alerts.c.watch == parent.watch)
                           .where(alerts.c.status == "sent")
                           .where(alerts.c.created > _naive(row.created)))
        return any(r.alert.kind == "update" and r.alert.parent_id == parent.alert_id
                   for r in later)

    def get_alert(self, alert_id: str) -> OutboxRow | None:
        rows = self._rows(select(alerts).where(alerts.c.alert_id == alert_id))
        return rows[0] if rows else None

    def story_alerts(self, story_ids: Sequence[str]) -> dict[tuple[str, str], list[Alert]]:
        """(watch, story_id) -> the story's alerts for that watch (its story alert whatever its
        status; updates and copies the channel saw or will see: not held, folded or failed),
        oldest first."""
        out: dict[tuple[str, str], list[Alert]] = {}
        for chunk in _chunks(list(story_ids), 500):
            for row in self._rows(select(alerts).where(alerts.c.story_id.in_(chunk))
                                  .order_by(alerts.c.created, alerts.c.alert_id)):
                if row.alert.kind != "story" and row.status in ("held", "folded", "failed"):
                    continue
                out.setdefault((row.alert.watch, row.alert.story_id), []).append(row.alert)
        return out

    def story_articles(self, story_ids: Sequence[str]) -> dict[str, list[Article]]:
        """story_id -> its stored articles (copies under other URLs included: each is a source),
        oldest first."""
        out: dict[str, list[Article]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), 500):
                rows = conn.execute(
                    select(articles).where(articles.c.story_id.in_(chunk))
                    .order_by(articles.c.published, articles.c.id)
                ).mappings().all()
                for r in rows:
                    out.setdefault(r["story_id"], []).append(_row_article(r))
        return out

    def story_tolls(
        self, story_ids: Sequence[str], *, rules: str | None = None,
    ) -> dict[str, list[StoredToll]]:
        """story_id -> the stored tolls of its articles (as `story_articles`: copies included,
        oldest first), without their texts. With `rules`, the articles those rules already read
        and found no toll in are left out (a story absent from the result has none to show):
        most articles state no toll, and a long story's rows would cost more than the rest."""
        out: dict[str, list[StoredToll]] = {}
        c = articles.c
        query = select(c.story_id, c.id, c.feed, c.url, c.published, c.toll_rules,
                       c.toll_killed, c.toll_qualifier)
        if rules is not None:
            query = query.where(or_(c.toll_rules.is_(None), c.toll_rules != rules,
                                    c.toll_killed.is_not(None)))
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), 500):
                for r in conn.execute(
                    query.where(c.story_id.in_(chunk)).order_by(c.published, c.id)
                ):
                    out.setdefault(r.story_id, []).append(StoredToll(
                        r.id, r.feed, r.url, _at(r.published), r.toll_rules, r.toll_killed,
                        r.toll_qualifier))
        return out

    def articles_by_id(self, ids: Sequence[str]) -> dict[str, Article]:
        """The stored articles with these ids (those still stored)."""
        out: dict[str, Article] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids), 500):
                for r in conn.execute(select(articles).where(articles.c.id.in_(chunk))).mappings():
                    out[r["id"]] = _row_article(r)
        return out

    def save_tolls(self, tolls: Mapping[str, tuple[int | None, str | None]], rules: str) -> None:
        """Record the death toll (count and qualifier, or None and None) read from each article
        by version `rules` of the casualty rules, so that later runs need not read it again."""
        if not tolls:
            return
        with self.engine.begin() as conn:
            conn.execute(update(articles).where(articles.c.id == bindparam("t_id"))
                         .values(toll_rules=rules, toll_killed=bindparam("t_killed"),
                                 toll_qualifier=bindparam("t_qualifier")),
                         [{"t_id": aid, "t_killed": k, "t_qualifier": q}  # in key order:
                          for aid, (k, q) in sorted(tolls.items())])  # concurrent runs agree

    def _rows(self, query: Any) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            out.append(OutboxRow(
                alert=alert_from_json(r["payload"]), status=r["status"], ts=r["ts"],
                attempts=r["attempts"], last_error=r["last_error"],
                created=_aware(r["created"]) or datetime.now(UTC),
                updated=_aware(r["updated"]) or datetime.now(UTC), digest_id=r["digest_id"],
            ))
        return out

    def mark_attempt(self, alert_id: str, now: datetime) -> int:
        """Record that a send is about to be tried (before the network call), so a crash after
        it leaves evidence that the message may exist. Returns the attempt number."""
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.alert_id == alert_id)
                         .values(attempts=alerts.c.attempts + 1, updated=_naive(now)))
            return int(conn.execute(select(alerts.c.attempts)
                                    .where(alerts.c.alert_id == alert_id)).scalar_one())

    def claim(self, alert_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take a pending alert for delivery by `owner` until now + lease. Atomic: of several
        runs (processes, machines) only one gets it; a claim whose lease ran out (its run
        crashed) can be taken again."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(alerts)
                .where(alerts.c.alert_id == alert_id)
                .where(alerts.c.status == "pending")
                .where(or_(alerts.c.claimed_until.is_(None),
                           alerts.c.claimed_until < _naive(now),
                           alerts.c.claimed_by == owner))
                .values(claimed_by=owner, claimed_until=_naive(now + lease))
            ).rowcount
        return bool(taken)

    def attempts_of(self, alert_id: str) -> int:
        """How many sends of the alert were tried, as the store has it now (0: unknown alert)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(alerts.c.attempts)
                                 .where(alerts.c.alert_id == alert_id)).scalar()
        return int(found or 0)

    def note_error(self, alert_id: str, now: datetime, error: str) -> None:
        """Record a transient error of an alert that its run will retry: status and claim kept
        (`mark` lets go of the claim, and another run could then send it meanwhile)."""
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.alert_id == alert_id)
                         .values(updated=_naive(now), last_error=_storable(error)))

    def mark(self, alert_id: str, status: str, now: datetime, *, ts: str | None = None,
             error: str | None = None) -> None:
        """Record a delivery outcome and let go of the claim."""
        values: dict[str, Any] = {"status": status, "updated": _naive(now),
                                  "last_error": _storable(error),
                                  "claimed_by": None, "claimed_until": None}
        if ts is not None:
            values["ts"] = ts
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.alert_id == alert_id).values(**values))


def newer_schema_error(url: str, revision: str, head: str) -> StoreError:
    """The database's schema is at a revision this watcher does not know."""
    return StoreError(
        f"database {redact_url(url)} has schema revision {revision!r}, which this version of "
        f"watcher does not know (its newest is {head!r}): a newer watcher wrote it. Upgrade "
        "watcher, or point [store] url at another database")


def not_a_database_error(url: str, exc: DatabaseError) -> StoreError:
    """The database cannot be opened as one (SQLite: "file is not a database")."""
    return StoreError(f"cannot open database {redact_url(url)}: {_orig(exc)}; check that "
                      "[store] url or WATCHER_DATABASE_URL names watcher's database")


def _wait_for(attempt: Callable[[], bool], timeout: float) -> bool:
    """Call `attempt` until it returns True (backing off from 10 ms to 0.5 s), at most
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    return True


def _try_flock(lock: Any, fd: int) -> bool:
    try:
        lock.flock(fd, lock.LOCK_EX | lock.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _warn_unlocked(got: bool, timeout: float) -> None:
    if not got:
        log.warning("another run has held the ingest lock for over %.0f s; storing this run's "
                    "articles without it (a story may be opened twice)", timeout)


def schema_head() -> str:
    """The newest schema migration: the highest revision among the migration scripts
    (src/watcher/migrations/versions/NNNN_*.py, revision "NNNN"), read without importing alembic
    (~0.1 s of every run). tests/test_store.py checks it against alembic's own head."""
    versions = resources.files("watcher") / "migrations" / "versions"
    revisions = [m.group(1) for entry in versions.iterdir()
                 if (m := re.fullmatch(r"(\d{4})_\w+\.py", entry.name))]
    return max(revisions, default="")


def _at_schema_head(engine: Engine) -> bool:
    """The database is at the newest migration (one version row, the head): no need to ask
    alembic. Anything else (a new database, an older or unknown version) is alembic's to judge."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except ProgrammingError:  # PostgreSQL: no such table, a new database
        return False
    except OperationalError as exc:
        if "no such table" in str(exc.orig):  # SQLite: a new database
            return False
        raise
    head = schema_head()
    return bool(head) and [tuple(r) for r in rows] == [(head,)]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new database only
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _orig(exc: DatabaseError) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__


_BATCH = 1000  # rows per executemany call of `Store.add_articles`


def _storable(text: str | None) -> str | None:
    """An error message as stored (it may quote a feed or a peer's answer): without NUL, which
    PostgreSQL refuses in text, and with a lone surrogate (no UTF-8 holds one) as "?"."""
    if not text:
        return text
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _article_row(article: Article, story_id: str, duplicate_of: str | None, *,
                 pending: bool = False, toll: TollRead | None = None) -> dict[str, Any]:
    rules, killed, qualifier = toll if toll is not None else (None, None, None)
    return {"id": article.id, "feed": article.feed, "guid": article.guid, "url": article.url,
            "canonical_url": article.canonical_url, "title": article.title,
            "text": article.text, "published": _naive(article.published),
            "fetched": _naive(article.fetched), "story_id": story_id,
            "duplicate_of": duplicate_of, "pending_match": True if pending else None,
            "toll_rules": rules, "toll_killed": killed, "toll_qualifier": qualifier}


# the columns of a `WindowRow` (what the story index needs of an article)
_WINDOW_COLS = (articles.c.id, articles.c.feed, articles.c.canonical_url, articles.c.title,
                articles.c.text, articles.c.published, articles.c.story_id,
                articles.c.duplicate_of)


def _window_row(r: Any) -> WindowRow:
    return WindowRow(r.id, r.feed, r.canonical_url, r.title, r.text,
                     _aware(r.published) or datetime.now(UTC), r.story_id, r.duplicate_of)


def _row_article(r: Any) -> Article:
    return Article(id=r["id"], feed=r["feed"], guid=r["guid"], url=r["url"],
                   canonical_url=r["canonical_url"], title=r["title"], text=r["text"],
                   published=_aware(r["published"]) or datetime.now(UTC),
                   fetched=_aware(r["fetched"]) or datetime.now(UTC))


def _dialect_insert(dialect: str) -> Callable[[Table], Any]:
    """The dialect's INSERT construct (with on_conflict_do_nothing / _do_update)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# -- serialisation of alerts (the outbox keeps the full payload) ---

def _figure_to_dict(f: CasualtyFigure | None) -> dict[str, Any] | None:
    if f is None:
        return None
    d = asdict(f)
    d["span"] = list(f.span)
    return d


def _figure_from_dict(d: dict[str, Any] | None) -> CasualtyFigure | None:
    if d is None:
        return None
    return CasualtyFigure(
        kind=d["kind"], count=int(d["count"]), qualifier=d["qualifier"], current=bool(d["current"]),
        span=(int(d["span"][0]), int(d["span"][1])), text=d["text"],
        count_high=d.get("count_high"), reason=d.get("reason", ""),
    )


def alert_to_json(alert: Alert) -> str:
    d = asdict(alert)
    d["published"] = alert.published.isoformat()
    d["killed"] = _figure_to_dict(alert.killed)
    d["injured"] = _figure_to_dict(alert.injured)
    d["matched_terms"] = list(alert.matched_terms)
    d["reports"] = [dict(asdict(f), published=f.published.isoformat()) for f in alert.reports]
    return json.dumps(d, ensure_ascii=False, sort_keys=True)


def alert_from_json(text: str) -> Alert:
    d = json.loads(text)
    return replace(
        Alert(
            alert_id=d["alert_id"], story_id=d["story_id"], watch=d["watch"], channel=d["channel"],
            severity=d["severity"], score=float(d["score"]), title=d["title"], url=d["url"],
            source=d["source"], published=datetime.fromisoformat(d["published"]),
            excerpt=d["excerpt"], matched_terms=tuple(d["matched_terms"]),
            killed=_figure_from_dict(d["killed"]), injured=_figure_from_dict(d["injured"]),
        ),
        sources_count=int(d.get("sources_count", 1)),
        kind=str(d.get("kind", "story")),
        parent_id=d.get("parent_id"),
        change=str(d.get("change", "")),
        broadcast=bool(d.get("broadcast", False)),
        items=tuple((str(t), str(u), str(s)) for t, u, s in d.get("items", [])),
        reports=tuple(
            SourcedFigure(kind=f["kind"], count=int(f["count"]), qualifier=f["qualifier"],
                          source=f["source"], url=f["url"],
                          published=datetime.fromisoformat(f["published"]))
            for f in d.get("reports", [])
        ),
    )
