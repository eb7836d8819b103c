"""The `poll-feeds` flow: one run per poll cycle, one task per pipeline step.

Wiring only: every step is a plain function in `watcher.pipeline`, callable and tested without
Prefect. Parameters are a config path and a flag; secrets never pass through parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from watcher import pipeline, runtime
from watcher.config import Config
from watcher.models import Alert
from watcher.routing import rules_for
from watcher.store import Store


@task(name="fetch-feeds", cache_policy=NO_CACHE)
def fetch_feeds(cfg: Config, store: Store, now: datetime) -> pipeline.FetchBatch:
    return pipeline.fetch_step(cfg, store, now)


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(
    cfg: Config, store: Store, batch: pipeline.FetchBatch, now: datetime
) -> pipeline.IngestResult:
    return pipeline.ingest_step(cfg, store, batch, now)


@task(name="match", cache_policy=NO_CACHE)
def match(
    cfg: Config, store: Store, candidates: tuple[pipeline.Candidate, ...]
) -> list[Alert]:
    return pipeline.match_step(cfg, store, candidates)


@task(name="feed-health", cache_policy=NO_CACHE)
def feed_health(cfg: Config, store: Store, now: datetime) -> list[Alert]:
    return pipeline.ops_step(cfg, store, now)


@task(name="enqueue-alerts", cache_policy=NO_CACHE)
def enqueue(store: Store, alerts: list[Alert], now: datetime) -> list[Alert]:
    return pipeline.enqueue_step(store, alerts, now)


@task(name="mark-matched", cache_policy=NO_CACHE)
def mark_matched(store: Store, ingested: pipeline.IngestResult) -> None:
    pipeline.mark_matched_step(store, ingested)


@task(name="deliver-alerts", cache_policy=NO_CACHE)
def deliver(cfg: Config, store: Store) -> pipeline.DeliveryReport:
    transport = runtime.make_transport(cfg)
    return pipeline.deliver_step(store, transport, max_attempts=cfg.slack.max_send_attempts,
                                 min_interval=cfg.slack.min_interval,
                                 claim_lease=cfg.slack.claim_lease,
                                 rules=rules_for(cfg.watches, cfg.quiet_hours,
                                                 cfg.slack.burst_limit))


@flow(name="poll-feeds")
def poll_feeds(
    config_path: str | None = None, dry_run: bool = False, shard: int = 0, shards: int = 1,
) -> dict[str, Any]:
    """Poll every configured feed once, match new stories against the watches, send alerts.

    config_path: the TOML config (default: $WATCHER_CONFIG, else config/watcher.toml).
    dry_run: fetch, store articles and match, but queue and send nothing; print the alerts.
    shard, shards: poll only the feeds of shard `shard` (0-based) of `shards`, split by a stable
        hash of the feed name, so several deployments or runs can share the feed list.
    """
    cfg = runtime.load(config_path).shard(shard, shards)
    store = runtime.open_store(cfg)
    try:
        now = datetime.now(UTC)
        # quote(): Prefect walks task arguments looking for futures and states; a cold cycle
        # passes megabytes of bodies and thousands of articles, which it need not visit.
        c, s = quote(cfg), quote(store)
        batch = fetch_feeds(c, s, now)
        ingested = ingest(c, s, quote(batch), now)
        alerts = match(c, s, quote(ingested.candidates)) + feed_health(c, s, now)
        if dry_run:
            pipeline.show_dry_run(alerts)
            mark_matched(s, quote(ingested))
            summary = pipeline.summarize(cfg, ingested, alerts, pipeline.DeliveryReport(), True)
        else:
            added = enqueue(s, quote(alerts), now)
            mark_matched(s, quote(ingested))
            delivery = deliver(c, s)
            summary = pipeline.summarize(cfg, ingested, added, delivery, False)
    finally:
        store.close()
    result = summary.to_dict()
    publish_report(summary, result)
    return result


def publish_report(summary: pipeline.RunSummary, result: dict[str, Any]) -> None:
    """The run's report as Prefect artifacts: a markdown summary and a per-feed status table."""
    create_markdown_artifact(
        key="poll-summary",
        markdown="## poll-feeds\n\n```\n" + pipeline.render_summary(result) + "\n```\n",
        description="watcher poll cycle summary",
    )
    create_table_artifact(
        key="poll-feed-status",
        table=[
            {"feed": o.feed, "status": o.status, "articles": o.articles, "new": o.new,
             "error": o.error or ""}
            for o in summary.feed_outcomes
        ],
        description="per-feed status of this poll cycle",
    )
