"""Alembic migrations of watcher's store schema (applied by `watcher db upgrade` and on start)."""
