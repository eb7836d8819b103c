"""The real `watcher` console script, run as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .articles import BORDER_TITLE, border_html, now_minus, rss_feed, rss_item
from .fakeslack import FakeSlack
from .feedserver import FeedServer, Route
from .test_flow_e2e import alert_messages, write_config

ROOT = Path(__file__).resolve().parents[1]


def watcher_exe() -> list[str]:
    exe = shutil.which("watcher", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "watcher.cli"]


def run_cli(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("WATCHER_", "PREFECT_"))}
    full_env.update(env or {})
    return subprocess.run(watcher_exe() + args, capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert " ERROR " not in out and "| ERROR" not in out, out


def test_check_config_ok_prints_summary() -> None:
    proc = run_cli(["check-config", "--config", str(ROOT / "config" / "watcher.toml")])
    assert proc.returncode == 0, proc.stderr
    assert "feeds: 1" in proc.stdout and "armenia-azerbaijan -> #caucasus-watch" in proc.stdout


def test_check_config_bad_file_exit_2_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nname = "x"\nurl = "ftp://nope"\n\n[[watches]]\nname = "W W"\n'
                   'channel = "#c"\n[fetch]\ndeadline = -1\n')
    proc = run_cli(["check-config", "--config", str(bad)])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "feeds[0].url (line 3)" in proc.stderr
    assert "fetch.deadline (line 9)" in proc.stderr
    assert "watches[0].name (line 6)" in proc.stderr


def test_check_config_says_where_alerts_go(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[slack]\nwebhook_url_env = "HOOK"\n[store]\nurl = "sqlite:///{tmp_path}/s.db"\n')
    hook = {"HOOK": "https://hooks.slack.com/services/T0/B0/secretpart"}
    lines = {}
    for name, env in (("console", {}), ("hook", hook),
                      ("both", {**hook, "WATCHER_SLACK_TOKEN": "xoxb-secretpart"})):
        proc = run_cli(["check-config", "--config", str(cfg)], env=env)
        assert proc.returncode == 0 and "secretpart" not in proc.stdout + proc.stderr, proc
        [lines[name]] = [x for x in proc.stdout.splitlines() if x.startswith("slack:")]
    assert lines["console"] == ("slack: token from $WATCHER_SLACK_TOKEN (not set: alerts go to "
                                "the console); incoming webhook from $HOOK (not set)")
    assert lines["hook"] == ("slack: token from $WATCHER_SLACK_TOKEN (not set: alerts go to the "
                             "incoming webhook); incoming webhook from $HOOK (set)")
    assert lines["both"] == ("slack: token from $WATCHER_SLACK_TOKEN (set); incoming webhook "
                             "from $HOOK (set, unused: the token is)")
    bad = run_cli(["check-config", "--config", str(cfg)], env={"HOOK": "hooks.slack.com/x/y"})
    assert bad.returncode == 2 and "$HOOK does not hold an http(s) URL" in bad.stderr
    assert "hooks.slack.com/x/y" not in bad.stdout + bad.stderr and "Traceback" not in bad.stderr


def test_config_from_env_and_missing_file(tmp_path: Path) -> None:
    proc = run_cli(["check-config"], env={"WATCHER_CONFIG": str(tmp_path / "none.toml")})
    assert proc.returncode == 2 and "file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_run_posts_once_and_writes_summary_json(
    prefect_api: dict[str, str], tmp_path: Path
) -> None:
    with FeedServer() as feeds, FakeSlack() as slack:
        feeds.routes["/w.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/a?utm_source=x", "w1", border_html(),
                     now_minus(10))]))
        config = write_config(tmp_path, {"wire": feeds.url("/w.xml")})
        env = {**prefect_api, "WATCHER_TEST_SLACK_TOKEN": slack.token,
               "WATCHER_SLACK_BASE_URL": slack.url}
        out = tmp_path / "summary.json"
        proc = run_cli(["run", "--config", str(config), "--summary-json", str(out)], env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert_clean(proc)
        summary = json.loads(out.read_text())
        for key in ("feeds", "not_modified", "failed", "new_articles", "duplicates", "alerts"):
            assert key in summary
        assert summary["alerts"] == 1 and summary["sent"] == 1
        assert "feeds polled: 1" in proc.stdout
        assert slack.token not in proc.stdout + proc.stderr
        assert len(alert_messages(slack)) == 1

        proc2 = run_cli(["run", "--config", str(config), "--summary-json", str(out)], env=env)
        assert proc2.returncode == 0
        assert json.loads(out.read_text())["alerts"] == 0
        assert len(alert_messages(slack)) == 1

        listing = run_cli(["alerts", "--config", str(config), "--json"], env=env)
        rows = [json.loads(line) for line in listing.stdout.splitlines()]
        assert [r["status"] for r in rows] == ["sent"]
        assert {"alert_id", "story_id", "watch", "channel", "status", "ts"} <= set(rows[0])


@pytest.mark.integration
def test_demo_shows_alerts_offline_without_tracebacks(
    prefect_api: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "demo.json"
    proc = run_cli(["demo", "--summary-json", str(out)], env=prefect_api, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_clean(proc)
    summary = json.loads(out.read_text())
    assert summary["alerts"] >= 1 and summary["console"] == summary["alerts"]
    assert summary["failed"] == 0 and summary["duplicates"] >= 1
    assert "armenia-azerbaijan" in proc.stdout
    assert "Donate" not in proc.stdout and "Become a member" not in proc.stdout
    assert re.search(r"Casualties: killed: [^\n]*\b17\b", proc.stdout), proc.stdout
    assert not re.search(r"Casualties:[^\n]*30,?000", proc.stdout)
    assert not (tmp_path / "watcher.db").exists()  # temporary state only


def test_explain_prints_rules_spans_and_casualties(tmp_path: Path) -> None:
    art = tmp_path / "a.txt"
    art.write_text(BORDER_TITLE + "\n" + "\n".join(
        __import__("tests.articles", fromlist=["BORDER_PARAGRAPHS"]).BORDER_PARAGRAPHS))
    proc = run_cli(["explain", "--config", str(ROOT / "config" / "watcher.toml"),
                    "--watch", "armenia-azerbaijan", str(art)])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "ALERT, severity" in out and "escalation:shell" in out and "[Shelling]" in out
    assert re.search(r"killed 17 \[\w+\] current", out)
    assert re.search(r"killed 30000 \[\w+\] not current", out)
    assert "current toll: killed: 17" in out


@pytest.mark.parametrize(("content_type", "declared"), [
    ("text/html; charset=windows-1251", ""),  # the HTTP header says it
    ("text/html", '<meta charset="windows-1251">'),  # only the page does
])
def test_explain_reads_a_page_in_its_charset(content_type: str, declared: str) -> None:
    """Before, a page was read as UTF-8 whatever it declared: no entity of a Russian page was
    found (every letter was U+FFFD)."""
    page = (f"<html><head>{declared}<title>Обстрел у границы</title></head><body><article>"
            "<p>Азербайджан и Армения обменялись ударами у границы в понедельник, сообщили "
            "в министерстве обороны в Ереване.</p><p>В Баку заявили, что огонь первой "
            "открыла армянская сторона, и пообещали ответить.</p></article></body></html>")
    with FeedServer() as srv:
        srv.routes["/ru"] = Route(body=page.encode("cp1251"), content_type=content_type)
        proc = run_cli(["explain", "--config", str(ROOT / "config" / "watcher.toml"),
                        "--watch", "armenia-azerbaijan", srv.url("/ru")])
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr
    assert "entity groups found: armenia, azerbaijan" in proc.stdout, proc.stdout


def test_explain_unknown_watch_and_missing_file(tmp_path: Path) -> None:
    cfg = str(ROOT / "config" / "watcher.toml")
    proc = run_cli(["explain", "--config", cfg, "--watch", "nope", str(tmp_path)])
    assert proc.returncode == 2 and "no watch named 'nope'" in proc.stderr
    proc = run_cli(["explain", "--config", cfg, "--watch", "armenia-azerbaijan",
                    str(tmp_path / "missing.txt")])
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_backtest_replays_stored_articles(tmp_path: Path) -> None:
    import io

    from watcher.config import load_config
    from watcher.pipeline import run_cycle
    from watcher.store import Store
    from watcher.transports import ConsoleTransport

    with FeedServer() as feeds:
        feeds.routes["/w.xml"] = Route(body=rss_feed([
            rss_item(BORDER_TITLE, "https://wire.example/a", "w1", border_html(), now_minus(60)),
            rss_item("Rates on hold", "https://wire.example/r", "w2", "<p>Calm markets.</p>",
                     now_minus(50))]))
        config = write_config(tmp_path, {"wire": feeds.url("/w.xml")})
        cfg = load_config(config, {})
        store = Store(cfg.store.url)
        run_cycle(cfg, store, ConsoleTransport(io.StringIO()))
        store.close()
    proc = run_cli(["backtest", "--config", str(config), "--since", "2d"])
    assert proc.returncode == 0, proc.stderr
    assert "over 2 stored articles" in proc.stdout and BORDER_TITLE[:40] in proc.stdout
    assert re.search(r"would alert: critical \d+, warning \d+; total 1 of 2", proc.stdout)
    bad = run_cli(["backtest", "--config", str(config), "--since", "yesterday"])
    assert bad.returncode == 2 and "36h" in bad.stderr
    for args in (["backtest", "--since", "1000000w"], ["tolls", "--since", "99999999999d"],
                 ["alerts", "--limit", "-1"], ["alerts", "--limit", "99999999999999999999"]):
        odd = run_cli([*args, "--config", str(config)])  # (no date or LIMIT out of range)
        assert_clean(odd)
        assert odd.returncode == 2 and ("10 years" in odd.stderr or "--limit" in odd.stderr), (
            args, odd.stderr)


def test_db_upgrade_of_a_database_from_a_newer_watcher_is_a_clear_error(tmp_path: Path) -> None:
    from watcher.config import load_config
    from watcher.store import Store

    config = write_config(tmp_path, {"wire": "https://wire.example/rss"})
    store = Store(load_config(config, {}).store.url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    proc = run_cli(["db", "upgrade", "--config", str(config)])
    assert_clean(proc)
    assert proc.returncode != 0 and "schema revision '9999'" in proc.stderr, proc.stderr
    assert "newer watcher" in proc.stderr
