"""Retention benchmark: the database stays the size of its window, not of its history.

Simulates 30 days of polling into a fresh SQLite store (or WATCHER_BENCH_DATABASE_URL): every
simulated day N new articles (about 1.5 KB of text each) and their alerts arrive in 288 polls,
then the prune-store step runs with retention_days = 7. A baseline store in the same run gets the
same data and is never pruned. Prints the database size per day for both, and the ratio.

    .venv/bin/python bench/retention.py [--days 30] [--per-day 3000] [--retention 7]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.models import Alert, Article
from watcher.store import Store

WORDS = [
    "border",
    "shelling",
    "ministry",
    "said",
    "officials",
    "village",
    "artillery",
    "talks",
    "ceasefire",
    "region",
    "forces",
    "statement",
    "reported",
    "overnight",
    "government",
    "conflict",
    "troops",
    "residents",
]


def article(i: int, day: datetime, rng: random.Random) -> Article:
    text = " ".join(rng.choice(WORDS) for _ in range(220))
    when = day + timedelta(seconds=rng.randrange(86_400))
    url = f"https://n{i % 50}.example/{i}"
    return Article(
        id=f"a{i}",
        feed=f"feed{i % 200}",
        guid=f"g{i}",
        url=url,
        canonical_url=url,
        title=f"Story {i}",
        text=text,
        published=when,
        fetched=when,
    )


def alert(a: Article) -> Alert:
    return Alert(
        alert_id=f"x{a.id}",
        story_id=a.id,
        watch="w",
        channel="#c",
        severity="warning",
        score=5.0,
        title=a.title,
        url=a.url,
        source=a.feed,
        published=a.published,
        excerpt=a.text[:300],
        matched_terms=("shell",),
        killed=None,
        injured=None,
    )


def size(store: Store, path: Path | None) -> int:
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with store.engine.connect() as conn:
        query = "select pg_database_size(current_database())"
        return int(conn.exec_driver_sql(query).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=3000)
    ap.add_argument("--retention", type=float, default=7.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="watcher-bench-retention-"))
    pruned_path, base_path = tmp / "pruned.db", tmp / "baseline.db"
    pruned, baseline = Store(f"sqlite:///{pruned_path}"), Store(f"sqlite:///{base_path}")
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    print(f"{args.per_day} articles/day, retention {args.retention:g} days, {args.days} days")
    print(f"{'day':>4} {'pruned MB':>10} {'baseline MB':>12} {'ratio':>6} {'articles kept':>14}")
    n = 0
    sizes = []
    for d in range(args.days):
        day = start + timedelta(days=d)
        batch = [article(n + k, day, rng) for k in range(args.per_day)]
        n += args.per_day
        for s in (pruned, baseline):
            for p in range(0, len(batch), max(1, len(batch) // 288)):
                chunk = batch[p : p + max(1, len(batch) // 288)]
                s.add_articles([(a, a.id, None) for a in chunk])
                s.enqueue([alert(a) for a in chunk[:1]], day)
            for row in s.pending():
                s.mark(row.alert.alert_id, "sent", day, ts="1")
        pruned.prune(day + timedelta(days=1) - timedelta(days=args.retention))
        a, b = size(pruned, pruned_path), size(baseline, base_path)
        sizes.append(a)
        print(
            f"{d + 1:>4} {a / 1e6:>10.1f} {b / 1e6:>12.1f} {a / b:>6.2f} "
            f"{pruned.count('articles'):>14}"
        )
    steady = sizes[int(args.retention) + 1 :]
    if steady:
        print(
            f"pruned store after the window filled: min {min(steady) / 1e6:.1f} MB, "
            f"max {max(steady) / 1e6:.1f} MB (growth {max(steady) / min(steady) - 1:.1%}); "
            f"baseline grew to {size(baseline, base_path) / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
