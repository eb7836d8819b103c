"""The `digest` flow (daily by default): one message per channel with the lower-severity stories
since that channel's last digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from watcher import runtime
from watcher.digest import digest_step


@flow(name="digest")
def digest(config_path: str | None = None, period_hours: float = 24.0) -> dict[str, int]:
    """config_path: the TOML config (default: $WATCHER_CONFIG, else config/watcher.toml).
    period_hours: how far back a channel's first digest looks (default 24, matching a daily
    schedule); every later digest starts where the channel's last one ended."""
    cfg = runtime.load(config_path)
    transport = runtime.make_transport(cfg)
    store = runtime.open_store(cfg)
    try:
        report = digest_step(store, cfg.watches, transport, datetime.now(UTC),
                             timedelta(hours=period_hours))
    finally:
        store.close()
    create_markdown_artifact(key="digest-summary",
                             markdown=f"digests posted: {report.posted}, found already posted: "
                                      f"{report.found}, casualty charts: {report.charts}, "
                                      f"failed: {report.failed}")
    return {"posted": report.posted, "failed": report.failed, "charts": report.charts,
            "found": report.found}
