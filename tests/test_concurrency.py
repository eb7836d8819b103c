"""Many workers: concurrent `watcher run` processes on one PostgreSQL never insert an article
twice or post an alert twice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .articles import now_minus, rss_feed, rss_item
from .conftest import POSTGRES_URL_ENV, _fresh_postgres_db
from .fakeslack import FakeSlack
from .feedserver import FeedServer, Route
from .test_cli import watcher_exe
from .test_flow_e2e import alert_messages, write_config

pytestmark = pytest.mark.integration


# Six different events (our own invented reports), each carried by three feeds under URL variants.
EVENTS = [
    ("Artillery shelling hits villages in Tavush as Armenia reports two civilians killed",
     "Armenian officials said artillery shelling struck two villages in Tavush overnight, "
     "killing two civilians and damaging a school. Yerevan blamed Azerbaijani forces."),
    ("Azerbaijan says drone strike destroyed army depot near Lachin",
     "Baku said an Armenian drone strike destroyed a fuel depot near Lachin on Monday; the "
     "defence ministry reported no casualties but promised a response."),
    ("Sniper fire wounds three soldiers on Syunik frontier",
     "Three Armenian soldiers were wounded by sniper fire on the Syunik section of the frontier, "
     "the ministry in Yerevan said, adding that an investigation had begun."),
    ("Mortar attack near Nakhchivan border post leaves one dead",
     "A mortar attack on a border post in Nakhchivan killed one Azerbaijani conscript, officials "
     "in Baku said, accusing Armenian units of opening fire first."),
    ("Clashes near Jermuk resort force evacuation of tourists",
     "Gunfire and clashes near the Jermuk resort forced police to evacuate about 200 tourists; "
     "Armenia said Azerbaijani troops had advanced towards the town."),
    ("Kalbajar mountain pass sees heaviest fighting in weeks",
     "Heavy fighting with rocket fire broke out at a mountain pass in Kalbajar, Azerbaijan's "
     "ministry said, reporting four soldiers killed in the clashes with Armenian forces."),
]


def serve_many(feeds: FeedServer) -> dict[str, str]:
    urls = {}
    for f in range(3):
        items = []
        for i, (title, body) in enumerate(EVENTS):
            link = f"https://wire.example/event-{i}?utm_source=feed{f}"
            items.append(rss_item(title, link, f"feed{f}-{i}", f"<p>{body}</p>",
                                  now_minus(10 + i)))
        feeds.routes[f"/f{f}.xml"] = Route(body=rss_feed(items))
        urls[f"feed{f}"] = feeds.url(f"/f{f}.xml")
    return urls


def run_processes(n: int, config: Path, env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "PREFECT_"))}
    procs = [subprocess.Popen([*watcher_exe(), "run", "--config", str(config)],
                              env={**base, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for _ in range(n)]
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0, out
        assert "Traceback" not in out, out


def test_four_concurrent_runs_post_what_one_run_posts_each_once(
    prefect_api: dict[str, str], tmp_path: Path
) -> None:
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_URL_ENV} not set: no PostgreSQL server for this run")
    posted: dict[int, list[str]] = {}
    for n in (1, 4):
        with FeedServer() as feeds, FakeSlack() as slack:
            workdir = tmp_path / f"n{n}"
            workdir.mkdir()
            config = write_config(workdir, serve_many(feeds))
            env = {**prefect_api, "WATCHER_TEST_SLACK_TOKEN": slack.token,
                   "WATCHER_SLACK_BASE_URL": slack.url,
                   "WATCHER_DATABASE_URL": _fresh_postgres_db(base_url)}
            run_processes(n, config, env)
            msgs = alert_messages(slack)
            posted[n] = sorted(m["text"] for m in msgs)
            assert len(posted[n]) == len(set(posted[n]))  # no message twice
            from sqlalchemy import create_engine, text

            eng = create_engine(env["WATCHER_DATABASE_URL"])
            with eng.connect() as conn:
                n_articles = conn.execute(text("select count(*) from articles")).scalar_one()
                n_alerts = conn.execute(text("select count(*) from alerts")).scalar_one()
                pending = conn.execute(text(
                    "select count(*) from alerts where status <> 'sent'")).scalar_one()
            eng.dispose()
            assert n_articles == 18 and n_alerts == len(msgs) and pending == 0
    assert len(posted[1]) >= 3  # several distinct stories alert
    assert posted[4] == posted[1]  # the same alerts, each exactly once


_SHARD_RUN = """
import os, sys, time
from pathlib import Path
from watcher.config import parse_config
from watcher.pipeline import run_cycle
from watcher.store import Store
from watcher.transports import SlackTransport
config, go, token, base, shard = sys.argv[1:6]
cfg = parse_config(Path(config).read_text(), Path(config), {}).shard(int(shard), 2)
store = Store(cfg.store.url)
transport = SlackTransport(token, base_url=base)
while not os.path.exists(go):
    time.sleep(0.002)
print(run_cycle(cfg, store, transport).to_dict()["alerts"])
"""


def _shard_runs(tmp_path: Path, store_url: str, together: bool) -> tuple[int, int, int]:
    """Two shards, one feed each, both reporting the six events from different outlets (other
    URLs, other titles), run one after the other or at the same time: (articles, stories,
    story messages in Slack)."""
    import sys
    import time

    from sqlalchemy import create_engine, text

    from watcher.config import shard_of

    names: dict[int, str] = {}
    i = 0
    while len(names) < 2:
        names.setdefault(shard_of(f"outlet{i}", 2), f"outlet{i}")
        i += 1
    with FeedServer() as feeds, FakeSlack() as slack:
        urls = {}
        for shard, name in names.items():
            items = [rss_item(title if shard == 0 else f"{title} (update)",
                              f"https://{name}.example/{j}", f"{name}-{j}", f"<p>{body}</p>",
                              now_minus(10 + j))
                     for j, (title, body) in enumerate(EVENTS)]
            feeds.routes[f"/{name}.xml"] = Route(body=rss_feed(items))
            urls[name] = feeds.url(f"/{name}.xml")
        config = write_config(tmp_path, urls)
        config.write_text(config.read_text().replace(f"sqlite:///{tmp_path}/state.db",
                                                     store_url))
        go = tmp_path / "go"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "PREFECT_"))}
        for shards in ([[0, 1]] if together else [[0], [1]]):
            go.unlink(missing_ok=True)
            procs = [subprocess.Popen([sys.executable, "-c", _SHARD_RUN, str(config), str(go),
                                       slack.token, slack.url, str(k)], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                     for k in shards]
            time.sleep(2.5)  # every run imported and waiting: they start together
            go.touch()
            for p in procs:
                out, _ = p.communicate(timeout=120)
                assert p.returncode == 0, out
        engine = create_engine(store_url)
        with engine.connect() as conn:
            stories = conn.execute(text("select count(distinct story_id) from articles")).scalar()
            n_articles = conn.execute(text("select count(*) from articles")).scalar()
        engine.dispose()
        messages = [m for m in alert_messages(slack)
                    if m["metadata"]["event_payload"].get("kind", "story") == "story"]
    return int(n_articles or 0), int(stories or 0), len(messages)


def test_shards_run_together_group_stories_as_shards_run_in_turn(
    store_url: str, tmp_path: Path,
) -> None:
    """Run at the same time, each shard's run opened a story per event before: every event was
    alerted twice, and the split stayed. The ingest lock makes them decide one after the
    other, as shards run in turn do."""
    results = {}
    for together in (False, True):
        work = tmp_path / f"together-{together}"
        work.mkdir()
        url = (f"sqlite:///{work}/state.db" if store_url.startswith("sqlite")
               else _fresh_postgres_db(os.environ[POSTGRES_URL_ENV]))
        results[together] = _shard_runs(work, url, together)
    assert results[False][0] == 12 and results[False][1] < 12  # stories joined across shards
    assert results[True] == results[False]
