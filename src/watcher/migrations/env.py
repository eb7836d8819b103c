"""Alembic environment: runs on the connection `watcher.migrate` hands over."""

from __future__ import annotations

from alembic import context

from watcher.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - watcher always passes a connection
    raise RuntimeError("run migrations through `watcher db upgrade`, not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
