"""Exactly once under faults and crashes: 300 alerts (200 story messages and 100 updates posted
as replies in their stories' threads, each refreshing its parent with chat.update), 30 % of Slack
calls failing (429, 500, timeouts, dropped connections, responses lost after the message was
stored), and the delivering process killed with SIGKILL at random moments 20 times. Every alert
reaches Slack exactly once and nothing stays pending.

The deliverer is the real `pipeline.deliver_step` with the real `SlackTransport` (slack-sdk's
`WebClient`) in a child process, against the fake Slack Web API on 127.0.0.1, on a SQLite outbox.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.models import Alert
from watcher.store import Store

from .fakeslack import FakeSlack, drop, lost_response, rate_limited, server_error, slow

N_ALERTS = 300
N_UPDATES = 100  # of the 300: replies in the threads of the first 100 stories
KILLS = 20
CHANNEL_ID = "C0CAUCASUS"

DELIVER = """
import sys
from watcher.pipeline import deliver_step
from watcher.store import Store
from watcher.transports import SlackTransport
store = Store(sys.argv[1])
transport = SlackTransport(sys.argv[2], base_url=sys.argv[3], timeout=0.3)
report = deliver_step(store, transport, max_attempts=2, min_interval=0.0, claim_lease=0.5,
                      sleep=lambda s: None)
store.close()
print(report.sent, report.pending, report.failed, report.recovered, flush=True)
"""


def _alert(i: int, now: datetime) -> Alert:
    n_stories = N_ALERTS - N_UPDATES
    if i >= n_stories:  # an update of story i - n_stories
        parent = _alert(i - n_stories, now)
        return replace(parent, alert_id=f"kill-{i:03d}", kind="update",
                       parent_id=parent.alert_id, change=f"killed {i} (was 2, +{i - 2}), per y",
                       title=f"Toll rises in border report {i - n_stories}")
    return Alert(
        alert_id=f"kill-{i:03d}", story_id=f"story-{i:03d}", watch="armenia-azerbaijan",
        channel="#caucasus-watch", severity="warning", score=5.0,
        title=f"Border report number {i}", url=f"https://news.example/{i}",
        source="Example Wire", published=now - timedelta(minutes=i % 50),
        excerpt="Shelling was reported near a border village.", matched_terms=("shell",),
        killed=None, injured=None,
    )


def _deliverer(db: str, fake: FakeSlack) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return subprocess.Popen(
        [sys.executable, "-c", DELIVER, db, fake.token, fake.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.integration
def test_every_alert_exactly_once_despite_faults_and_sigkill(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'outbox.db'}"
    now = datetime.now(UTC)
    store = Store(db)
    assert len(store.enqueue([_alert(i, now) for i in range(N_ALERTS)], now)) == N_ALERTS
    store.close()
    rng = random.Random(20261128)
    with FakeSlack() as fake:
        fake.fail_rate(0.3, faults=[rate_limited(0.01), server_error(500), server_error(503),
                                    slow(0.6), drop(), lost_response()], seed=11)
        killed_mid_run = 0
        for _ in range(KILLS):
            # kill after a random number (1-20) of this process's Slack calls, plus a random
            # fraction of a call's time: in the middle of delivery, at a random moment
            calls_before = len(fake.calls)
            target = calls_before + rng.randint(1, 20)
            proc = _deliverer(db, fake)
            deadline = time.monotonic() + 60
            while len(fake.calls) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the deliverer made no progress"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                killed_mid_run += 1
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        posted_before_final = len(fake.messages_in(CHANNEL_ID))
        runs = 0
        while True:
            runs += 1
            proc = _deliverer(db, fake)
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            store = Store(db)
            pending = store.pending()
            store.close()
            if not pending:
                break
            assert runs < 30, f"{len(pending)} alerts still pending after {runs} runs"
            time.sleep(0.6)  # let the killed runs' claims (0.5 s lease) expire
        messages = fake.messages_in(CHANNEL_ID)
        ids = [m["metadata"]["event_payload"]["alert_id"] for m in messages]
        calls = fake.calls
        faults = [c.fault for c in calls if c.fault]

    assert killed_mid_run == KILLS  # every kill landed in the middle of delivery
    assert 0 < posted_before_final < N_ALERTS  # ... and some alerts were out before the last runs
    assert len(faults) >= 0.2 * len(calls)  # and faults did happen, of every kind
    assert {"rate_limited", "server_error", "slow", "drop", "lost_response"} <= set(faults)
    assert sorted(ids) == [f"kill-{i:03d}" for i in range(N_ALERTS)]  # none lost, none doubled
    # each update is a reply in its own story's thread; the parents were refreshed in place
    by_id = {m["metadata"]["event_payload"]["alert_id"]: m for m in messages}
    for i in range(N_ALERTS - N_UPDATES, N_ALERTS):
        parent = by_id[f"kill-{i - (N_ALERTS - N_UPDATES):03d}"]
        assert by_id[f"kill-{i:03d}"].get("thread_ts") == parent["ts"]
    assert any("edited" in by_id[f"kill-{i:03d}"] for i in range(N_UPDATES))
    assert {"chat.update", "conversations.replies"} <= {c.method for c in calls}
    store = Store(db)
    rows = store.recent_alerts(limit=N_ALERTS + 10)
    store.close()
    assert len(rows) == N_ALERTS and {r.status for r in rows} == {"sent"}
