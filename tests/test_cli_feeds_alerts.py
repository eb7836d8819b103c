"""`watcher feeds` and `watcher alerts` as users run them (the real console script)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from watcher.config import FeedConfig
from watcher.health import current_state
from watcher.store import Store

from .test_cli import assert_clean, run_cli
from .test_flow_e2e import write_config

CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # (output lines end in \n)


def test_feeds_never_prints_control_characters_from_a_stored_error(tmp_path: Path) -> None:
    """An error stored by an older watcher (or any other writer) with a server's escape
    sequences in it is shown without them, in both formats."""
    url = "http://127.0.0.1:9/feed.xml"
    config = write_config(tmp_path, {"evil": url})
    store = Store(f"sqlite:///{tmp_path}/state.db")
    try:
        store.save_feed_states([replace(
            current_state(FeedConfig("evil", url), None), consecutive_failures=1,
            last_status=500, last_error="http: HTTP 500 Oops\x1b[31mRED\x1b[0m\x07\x9b2J line")])
    finally:
        store.close()
    table = run_cli(["feeds", "--config", str(config)])
    assert table.returncode == 0 and "HTTP 500 Oops[31mRED[0m2J line" in table.stdout, table
    as_json = run_cli(["feeds", "--config", str(config), "--json"])
    assert as_json.returncode == 0, as_json
    [row] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["last_error"] == "http: HTTP 500 Oops[31mRED[0m2J line"
    for proc in (table, as_json):
        assert_clean(proc)
        assert not CONTROLS.search(proc.stdout + proc.stderr), repr(proc.stdout)


def test_alerts_on_an_empty_store_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"f": "http://127.0.0.1:9/feed.xml"})
    plain = run_cli(["alerts", "--config", str(config)])
    assert plain.returncode == 0 and plain.stdout == "no alerts\n", plain
    as_json = run_cli(["alerts", "--config", str(config), "--json"])
    assert as_json.returncode == 0 and as_json.stdout == "", as_json  # JSON lines: none
    assert_clean(plain)
    assert_clean(as_json)
