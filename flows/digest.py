"""The `digest` flow (daily by default): one message per channel with the period's
lower-severity stories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from watcher import runtime
from watcher.digest import run_digest


@flow(name="digest")
def digest(config_path: str | None = None, period_hours: float = 24.0) -> dict[str, int]:
    """config_path: the TOML config (default: $WATCHER_CONFIG, else config/watcher.toml).
    period_hours: how far back the digest looks (default 24, matching a daily schedule)."""
    cfg = runtime.load(config_path)
    until = datetime.now(UTC)
    since = until - timedelta(hours=period_hours)
    store = runtime.open_store(cfg)
    try:
        rows = store.alerts_between(since, until)
        articles = store.story_articles(list({r.alert.story_id for r in rows}))
    finally:
        store.close()
    transport = runtime.make_transport(cfg)
    report = run_digest([r.alert for r in rows], cfg.watches, articles, transport, since, until)
    posted, failed = report.posted, report.failed
    create_markdown_artifact(key="digest-summary",
                             markdown=f"digests posted: {posted}, casualty charts: "
                                      f"{report.charts}, failed: {failed}")
    return {"posted": posted, "failed": failed, "charts": report.charts}
