"""The `prune-store` flow: retention. Deletes articles, stories and finished alerts older than
`[store] retention_days`, so the database stays the size of its window, not of its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from watcher import runtime


@flow(name="prune-store")
def prune_store(config_path: str | None = None) -> dict[str, int]:
    """config_path: the TOML config (default: $WATCHER_CONFIG, else config/watcher.toml)."""
    cfg = runtime.load(config_path)
    store = runtime.open_store(cfg)
    try:
        cutoff = datetime.now(UTC) - timedelta(days=cfg.store.retention_days)
        deleted = store.prune(cutoff)
    finally:
        store.close()
    create_markdown_artifact(
        key="prune-summary",
        markdown=f"Pruned rows older than {cutoff:%Y-%m-%d %H:%M} UTC: "
        + ", ".join(f"{k} {v}" for k, v in deleted.items()),
    )
    return deleted
