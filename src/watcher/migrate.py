"""Schema migrations with Alembic: `watcher db upgrade`, also applied whenever the store opens.

Concurrent starts are safe: the upgrade holds a lock (PostgreSQL: an advisory lock; SQLite: the
database's write lock) and re-checks the version under it.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, text

_LOCK_KEY = 7_245_201_337  # arbitrary, constant: the advisory lock id for watcher migrations


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("watcher") / "migrations"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("watcher's migration scripts are missing: reinstall watcher")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class UnknownRevision(RuntimeError):
    """The database's schema is at a revision these migration scripts do not have: written by a
    newer watcher (or another program)."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(revision, head)
        self.revision = revision
        self.head = head


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it. A no-op when already there. Raises
    UnknownRevision when the database is at a revision this version does not know."""
    head = head_revision()
    if current_revision(engine) == head:
        return head
    cfg = _alembic_config()
    scripts = ScriptDirectory.from_config(cfg)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":  # the database's write lock, taken now
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            if current is not None:
                try:
                    scripts.get_revision(current)
                except CommandError:
                    raise UnknownRevision(current, head) from None
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return head
