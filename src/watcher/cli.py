"""`watcher` command line.

Exit status: 0 success, 1 a run that could not complete (database, Prefect), 2 bad configuration or
usage, 130 interrupted; the `watcher` command (watcher.entry) exits 120 when a run that succeeded
could not write its output (a reader that went away, `| head`, is not a failure). A user never
sees a traceback for an expected failure.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DatabaseError, OperationalError

from watcher import __version__
from watcher.config import MAX_HOURS, ConfigError
from watcher.models import SourcedFigure
from watcher.runtime import SecretError, prefect_env_defaults
from watcher.store import StoreError

if TYPE_CHECKING:
    import httpx

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: $WATCHER_CONFIG, else config/watcher.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Conflict-escalation news watcher: polls feeds, scores escalation per watch, "
        "posts Slack alerts.",
    )
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the poll-feeds flow once")
    _add_config(p)
    p.add_argument("--dry-run", action="store_true",
                   help="fetch, store and match, but queue and send no alert (prints them)")
    p.add_argument("--summary-json", metavar="FILE", help="write the run summary as JSON")
    p.add_argument("--shard", type=int, default=0, metavar="I",
                   help="poll only shard I (0-based) of --shards N (by a stable hash of the name)")
    p.add_argument("--shards", type=int, default=1, metavar="N")

    p = sub.add_parser("demo", help="run the real flow on bundled example feeds, offline")
    p.add_argument("--summary-json", metavar="FILE", help="write the run summary as JSON")

    p = sub.add_parser("check-config", help="validate the config and summarise feeds and watches")
    _add_config(p)

    p = sub.add_parser("feeds", help="feed health: last success, last error, status, cadence")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("inspect-feed", help="show what watcher makes of a feed (URL or file)")
    p.add_argument("targets", nargs="+", metavar="URL_OR_PATH")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per article on stdout; the verdict on stderr")
    p.add_argument("--base-url", metavar="URL",
                   help="resolve relative links in local files against this URL")

    p = sub.add_parser("explain", help="why a watch would (not) alert on an article")
    _add_config(p)
    p.add_argument("--watch", required=True, metavar="NAME")
    p.add_argument("target", metavar="URL_OR_FILE",
                   help="an article page URL, or a local HTML or text file")

    p = sub.add_parser("backtest", help="replay stored articles through the current rules")
    _add_config(p)
    p.add_argument("--watch", metavar="NAME", help="one watch (default: all)")
    p.add_argument("--since", default="7d", metavar="AGE",
                   help="how far back: e.g. 36h, 7d, 4w (default 7d)")

    p = sub.add_parser("serve", help="serve poll-feeds, digest and prune-store on their "
                       "schedules (needs a Prefect server: prefect server start)")
    _add_config(p)
    p.add_argument("--poll-every", type=int, default=300, metavar="SECONDS",
                   help="poll-feeds interval (default 300)")
    p.add_argument("--digest-cron", default="0 7 * * *", metavar="CRON",
                   help="digest schedule, UTC (default daily 07:00)")
    p.add_argument("--limit", type=int, default=4, metavar="N",
                   help="at most N flow runs at once in this process (default 4)")

    p = sub.add_parser("prune", help="run the prune-store flow once (retention)")
    _add_config(p)

    p = sub.add_parser("db", help="database schema: `watcher db upgrade`")
    _add_config(p)
    p.add_argument("action", choices=["upgrade", "current"],
                   help="upgrade: migrate to the newest schema; current: print the revision")

    p = sub.add_parser("alerts", help="list recent alerts from the outbox")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=_limit, default=50)

    p = sub.add_parser("tolls", help="casualty figures per story: every source's toll, with "
                       "provenance, and the current toll")
    _add_config(p)
    p.add_argument("--watch", metavar="NAME", help="only this watch's stories")
    p.add_argument("--since", default="7d", metavar="AGE",
                   help="stories alerted within this age (36h, 7d, 4w; default 7d)")
    p.add_argument("--json", action="store_true", help="one JSON object per story")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Commands that run a flow log through Prefect's logging setup (watcher's logger is one of its
    # PREFECT_LOGGING_EXTRA_LOGGERS); the others log plainly. Libraries stay at WARNING.
    if args.command not in ("run", "demo", "prune", "serve"):
        logging.basicConfig(
            level=logging.WARNING,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S",
        )
    logging.getLogger("watcher").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.command is None:
        build_parser().print_help()
        return EXIT_CONFIG
    try:
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "alerts":
            return cmd_alerts(args)
        if args.command == "tolls":
            return cmd_tolls(args)
        if args.command == "explain":
            return cmd_explain(args)
        if args.command == "backtest":
            return cmd_backtest(args)
        if args.command == "db":
            return cmd_db(args)
        if args.command == "prune":
            return cmd_prune(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "feeds":
            return cmd_feeds(args)
        if args.command == "inspect-feed":
            from watcher.inspect import inspect_feeds

            return inspect_feeds(args.targets, as_json=args.json, base_url=args.base_url)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"watcher: database error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except SecretError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("watcher: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        # Prefect's client failing to connect to the configured API (no server there): one line.
        # Anything else, a flow's own failure included, goes on as before, traceback and all.
        unreachable = prefect_api_unreachable(exc, args.command)
        if unreachable is None:
            raise
        print(f"watcher: {unreachable}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_CONFIG


def _api_url_shown(url: str) -> str:
    """A URL fit to print: without user name and password, without control characters."""
    from urllib.parse import urlsplit, urlunsplit

    from watcher.health import strip_controls

    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            url = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    except ValueError:
        return "(a URL that cannot be parsed)"
    return strip_controls(url)


def _origin_of(url: object) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL (str or httpx.URL), or None when it has none."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, (parts.hostname or "").lower(), port) if parts.hostname else None


def _connect_failure(exc: BaseException) -> httpx.ConnectError | httpx.ConnectTimeout | None:
    """The `httpx.ConnectError` / `ConnectTimeout` that `exc` is or was directly caused by (a few
    `raise ... from` links at most), or None. Only explicit causes count: an error merely raised
    while another was handled is an error of its own."""
    import httpx

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, httpx.ConnectError | httpx.ConnectTimeout):
            return seen
        seen = seen.__cause__
    return None


def prefect_api_unreachable(exc: BaseException, command: str | None = None) -> str | None:
    """What to tell the user when `exc` is Prefect's client failing to connect to the configured
    Prefect API (PREFECT_API_URL, from the environment or a Prefect profile: no server answers
    there), as `httpx.ConnectError` or `ConnectTimeout` itself or as the direct cause of
    Prefect's "Failed to reach API"; else None. The URL is shown without its user name and
    password."""
    if "httpx" not in sys.modules:  # (Prefect's HTTP client: never loaded, never failed)
        return None
    failure = _connect_failure(exc)
    if failure is None:
        return None
    api = os.environ.get("PREFECT_API_URL", "").strip()
    in_env = bool(api)
    if not api and "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        api = str(PREFECT_API_URL.value() or "").strip()
    if not api or _origin_of(api) is None:
        return None  # (Prefect's own temporary server: not the user's to start)
    try:
        target = failure.request.url
    except RuntimeError:  # (no request: not an error of Prefect's client)
        return None
    if _origin_of(target) != _origin_of(api):
        return None  # (another address: not the Prefect API)
    from urllib.parse import urlsplit

    from watcher.health import strip_controls

    why = strip_controls(str(failure)).strip() or type(failure).__name__
    try:
        userinfo = urlsplit(api).netloc.rpartition("@")[0]
    except ValueError:
        userinfo = ""
    if api in why or (userinfo and userinfo in why):
        why = type(failure).__name__  # (never a password)
    if command == "serve":
        hint = "is `prefect server start` running there? (watcher serve needs a running server)"
    elif in_env:
        hint = ("is `prefect server start` running, or unset PREFECT_API_URL to use a temporary "
                "server?")
    else:
        hint = ("is `prefect server start` running, or `prefect config unset PREFECT_API_URL` "
                "to use a temporary server?")
    return f"cannot reach the Prefect API at {_api_url_shown(api)} ({why}); {hint}"


def cmd_check_config(args: argparse.Namespace) -> int:
    from watcher import runtime
    from watcher.store import redact_url

    cfg = runtime.load(args.config)
    print(f"config {cfg.path}: OK")
    print(f"store: {redact_url(cfg.store.url)}")
    hook_env = cfg.slack.webhook_url_env
    hook = bool(hook_env and os.environ.get(hook_env, "").strip())
    has_token = bool(runtime.slack_token(cfg))
    token = ("set" if has_token else "not set: alerts go to the incoming webhook" if hook
             else "not set: alerts go to the console")
    used = "set, unused: the token is" if has_token else "set"
    print(f"slack: token from ${cfg.slack.token_env} ({token})"
          + (f", API {cfg.slack.base_url}" if cfg.slack.base_url else "")
          + (f"; incoming webhook from ${hook_env} ({used if hook else 'not set'})"
             if hook_env else ""))
    print(f"feeds: {len(cfg.feeds)}")
    for f in cfg.feeds:
        print(f"  - {f.name}: {f.url}")
    print(f"watches: {len(cfg.watches)}")
    for w in cfg.watches:
        sev = ", ".join(f"{s.name} >= {s.threshold:g}" for s in w.severities)
        print(f"  - {w.name} -> {w.channel}: {len(w.entities)} entity groups "
              f"({sum(len(a) for a in w.entities.values())} aliases), {len(w.escalation)} "
              f"escalation terms, {len(w.deescalation)} de-escalation terms; {sev}")
    return EXIT_OK


def load_flow_module() -> Any:
    """watcher.flows.poll_feeds, and with it Prefect. flows/ is installed as the package
    watcher.flows (see pyproject.toml); imported by name so that Prefect is only loaded by
    commands that run a flow. Importing creates ~150,000 objects and next to no garbage: the
    garbage collector, which would walk them all a few times meanwhile, waits."""
    prefect_env_defaults()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module("watcher.flows.poll_feeds")
    finally:
        if enabled:
            gc.enable()


def _run_flow(config_path: str | None, dry_run: bool, shard: int = 0,
              shards: int = 1) -> dict[str, Any]:
    flows = load_flow_module()
    from watcher.prefect_quiet import quiet_prefect_shutdown

    quiet_prefect_shutdown()
    # What is alive now (the modules of Prefect, pydantic, SQLAlchemy and their objects, some
    # 190,000) stays alive for the run: moved out of the garbage collector's sight, they are not
    # walked by every full collection of the run (0.1-0.2 s each once the story index is loaded;
    # 1.0 s of a 7 s poll cycle went to collections before, 0.4 s after). Young objects are
    # collected every 20,000 allocations instead of 700. Both undone when the run returns (the
    # freeze only when this froze: a caller's own frozen objects stay frozen).
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 20_000), *threshold[1:])
    try:
        result: dict[str, Any] = flows.poll_feeds(config_path=config_path, dry_run=dry_run,
                                                  shard=shard, shards=shards)
    finally:
        gc.set_threshold(*threshold)
        if froze:
            gc.unfreeze()  # (a caller that goes on, such as a test, gets its collector back)
    return result


def _finish(summary: dict[str, Any], summary_json: str | None) -> int:
    from watcher.pipeline import render_summary

    print(render_summary(summary))
    if summary_json:
        try:
            Path(summary_json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:  # (the run itself is done: its alerts are out)
            print(f"watcher: the run finished, but --summary-json {summary_json!r} cannot be "
                  f"written: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CONFIG
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from watcher import runtime

    cfg = runtime.load(args.config)  # validate up front: a bad file fails fast, without Prefect
    cfg.shard(args.shard, args.shards)
    runtime.open_store(cfg).close()
    config_path = str(cfg.path) if cfg.path else None
    return _finish(_run_flow(config_path, args.dry_run, args.shard, args.shards),
                   args.summary_json)


def cmd_demo(args: argparse.Namespace) -> int:
    from watcher.demo import demo_environment

    with demo_environment() as config_path:
        print(f"watcher demo: serving bundled example feeds on 127.0.0.1, state in a temporary "
              f"directory, alerts to this console ({config_path})")
        saved = os.environ.pop("WATCHER_DATABASE_URL", None)
        try:
            return _finish(_run_flow(str(config_path), False), args.summary_json)
        finally:
            if saved is not None:
                os.environ["WATCHER_DATABASE_URL"] = saved


def _read_article(target: str) -> tuple[str, str] | str:
    """(title, text) of an article page URL or a local file, or an error message."""

    from watcher.clean import clean_text
    from watcher.config import FeedConfig, FetchConfig
    from watcher.fetch import fetch_feeds
    from watcher.fulltext import decode_page, extract_main_text

    if target.split(":", 1)[0].strip().lower() in ("http", "https"):  # (urlsplit may raise)
        [res] = fetch_feeds([FeedConfig("explain", target)], {}, FetchConfig())
        if not res.ok or res.body is None:
            return f"cannot fetch {target}: {res.error_kind}: {res.error}"
        raw = decode_page(res.body, res.headers.get("content-type", ""))
    else:
        try:
            raw = decode_page(Path(target).read_bytes(), "")  # (a BOM or <meta charset>)
        except OSError as exc:
            return f"cannot read {target}: {exc.strerror or exc}"
    if "<" in raw and "</" in raw:
        import re

        m = re.search(r"<title[^>]*>(.*?)</title>", raw, re.S | re.I)
        title = clean_text(m.group(1)).strip() if m else ""
        text = extract_main_text(raw, target) or clean_text(raw)
        return title, text
    lines = raw.strip().splitlines()
    return (lines[0].strip() if lines else ""), "\n".join(lines[1:]).strip()


def cmd_explain(args: argparse.Namespace) -> int:
    from watcher import runtime
    from watcher.assess import assess
    from watcher.explain import render_explanation
    from watcher.match import compile_watch

    cfg = runtime.load(args.config)
    watch = cfg.watch(args.watch)
    loaded = _read_article(args.target)
    if isinstance(loaded, str):
        print(f"watcher: {loaded}", file=sys.stderr)
        return EXIT_FAILED
    title, text = loaded
    verdict = assess(compile_watch(watch), title, text, always_casualties=True)
    print(render_explanation(watch, title, text, verdict))
    return EXIT_OK


def _since_hours(value: str) -> float | None:
    """--since as hours, or None after saying what is wrong."""
    hours = _parse_age(value)
    if hours is None or hours > MAX_HOURS:  # (10 years: a date that far back is a date)
        print(f"watcher: --since {value!r}: write an age like 36h, 7d or 4w, at most 10 years",
              file=sys.stderr)
        return None
    return hours


def _limit(value: str) -> int:
    """--limit: a whole number from 1 to 1,000,000."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= n <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{value} is not from 1 to 1,000,000")
    return n


def _parse_age(value: str) -> float | None:
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hdw])\s*", value)
    if not m:
        return None
    return float(m.group(1)) * {"h": 1, "d": 24, "w": 168}[m.group(2)]


def cmd_backtest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from watcher import runtime
    from watcher.assess import assess
    from watcher.explain import BacktestRow, render_backtest
    from watcher.match import compile_watch

    hours = _since_hours(args.since)
    if hours is None:
        return EXIT_CONFIG
    cfg = runtime.load(args.config)
    watches = [cfg.watch(args.watch)] if args.watch else list(cfg.watches)
    store = runtime.open_store(cfg)
    try:
        stored = store.articles_since(datetime.now(UTC) - timedelta(hours=hours))
    finally:
        store.close()
    for watch in watches:
        cw = compile_watch(watch)
        rows = []
        for a in stored:
            verdict = assess(cw, a.title, a.text)
            if verdict.severity is None:
                continue
            killed = verdict.casualties.killed if verdict.casualties else None
            rows.append(BacktestRow(f"{a.published:%Y-%m-%d %H:%M}", verdict.severity,
                                    verdict.match.score, a.feed, a.title,
                                    killed.count if killed else None))
        print(render_backtest(watch, rows, len(stored), args.since))
    return EXIT_OK


MAX_POLL_EVERY = 365 * 24 * 3600  # --poll-every: at most a year


def _serve_usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with serve's options, or None. The cron expression is checked by the
    schedule class Prefect builds from it (Prefect loaded: call prefect_env_defaults first)."""
    if args.limit < 1:
        return f"--limit must be >= 1 (not {args.limit})"
    if not 10 <= args.poll_every <= MAX_POLL_EVERY:
        return (f"--poll-every must be from 10 to {MAX_POLL_EVERY:,} seconds (a year), not "
                f"{args.poll_every}")
    import pydantic
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=args.digest_cron, timezone="UTC")
    except pydantic.ValidationError:
        return (f"--digest-cron {args.digest_cron!r} is not a cron expression Prefect accepts: "
                "five fields, minute hour day-of-month month day-of-week, e.g. '0 7 * * *' "
                "(daily at 07:00 UTC)")
    return None


def _prefect_api_down(command: str) -> str | None:
    """What to tell the user when no Prefect API answers at PREFECT_API_URL, else None (also
    when it answers with an error: what Prefect then does is left to Prefect)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    return None if problem is None else prefect_api_unreachable(problem, command)


def cmd_serve(args: argparse.Namespace) -> int:
    from watcher import runtime

    prefect_env_defaults()
    problem = _serve_usage_problem(args)  # (before anything is served or printed)
    if problem is not None:
        print(f"watcher serve: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    cfg = runtime.load(args.config)
    runtime.open_store(cfg).close()
    if not os.environ.get("PREFECT_API_URL"):
        print("watcher serve needs a running Prefect server to schedule runs (Prefect's "
              "temporary server cannot):\n  prefect server start &\n  export "
              "PREFECT_API_URL=http://127.0.0.1:4200/api\nthen run watcher serve again.",
              file=sys.stderr)
        return EXIT_CONFIG
    down = _prefect_api_down("serve")
    if down is not None:
        print(f"watcher: {down}", file=sys.stderr)
        return EXIT_FAILED
    from prefect import serve

    poll = importlib.import_module("watcher.flows.poll_feeds").poll_feeds
    digest = importlib.import_module("watcher.flows.digest").digest
    prune = importlib.import_module("watcher.flows.prune_store").prune_store
    path = str(cfg.path.resolve()) if cfg.path else None
    print(f"serving poll-feeds every {args.poll_every} s, digest at '{args.digest_cron}' UTC, "
          f"prune-store daily; at most {args.limit} runs at once. Ctrl-C stops.")
    serve(
        poll.to_deployment(name="poll-feeds", interval=args.poll_every,
                           parameters={"config_path": path}, concurrency_limit=1),
        digest.to_deployment(name="digest", cron=args.digest_cron,
                             parameters={"config_path": path}, concurrency_limit=1),
        prune.to_deployment(name="prune-store", cron="30 3 * * *",
                            parameters={"config_path": path}, concurrency_limit=1),
        limit=args.limit,
    )
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    from watcher import runtime

    cfg = runtime.load(args.config)
    runtime.open_store(cfg).close()
    prefect_env_defaults()
    flows = importlib.import_module("watcher.flows.prune_store")
    from watcher.prefect_quiet import quiet_prefect_shutdown

    quiet_prefect_shutdown()
    deleted = flows.prune_store(config_path=str(cfg.path) if cfg.path else None)
    print("pruned: " + ", ".join(f"{k} {v}" for k, v in deleted.items()))
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from watcher import migrate, runtime
    from watcher.store import Store, newer_schema_error, not_a_database_error, redact_url

    cfg = runtime.load(args.config)
    missing = _missing_sqlite_file(cfg.store.url)
    if args.action == "current" and missing is not None:  # (connecting would create it)
        print(f"{redact_url(cfg.store.url)}: no database file yet ({missing}; the first run "
              f"or `watcher db upgrade` creates it), newest revision {migrate.head_revision()}")
        return EXIT_OK
    store = Store(cfg.store.url, create=False)
    try:
        before = migrate.current_revision(store.engine)
        if args.action == "current":
            print(f"{redact_url(cfg.store.url)}: revision {before or 'none (empty database)'}"
                  f", newest {migrate.head_revision()}")
            return EXIT_OK
        after = migrate.upgrade(store.engine)
    except migrate.UnknownRevision as exc:
        raise newer_schema_error(cfg.store.url, exc.revision, exc.head) from None
    except OperationalError as exc:
        raise StoreError(f"cannot reach {redact_url(cfg.store.url)}: "
                         f"{str(exc.orig).splitlines()[0] if exc.orig else exc}") from None
    except DatabaseError as exc:  # e.g. SQLite: "file is not a database"
        raise not_a_database_error(cfg.store.url, exc) from None
    finally:
        store.close()
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"{redact_url(cfg.store.url)}: {change} revision {after}")
    return EXIT_OK


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet, else None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # (Store says what is wrong with it)
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    path = Path(db).expanduser()
    return None if path.exists() else str(path)


def cmd_feeds(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from watcher import runtime
    from watcher.health import health_rows, strip_controls

    cfg = runtime.load(args.config)
    store = runtime.open_store(cfg)
    now = datetime.now(UTC)
    try:
        rows = health_rows(list(cfg.feeds), store.feed_states(),
                           store.publish_times(now - timedelta(days=30)), now)
    finally:
        store.close()
    # stored errors and URLs carry what servers wrote: no escape sequence reaches the terminal
    # (errors stored by an older watcher were not cleaned when fetched)
    rows = [{k: strip_controls(v) for k, v in row.items()} for row in rows]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    cols = ["feed", "status", "http", "last_success", "last_item", "cadence", "last_error"]
    widths = {c: max([len(c)] + [len(r[c][:60]) for r in rows]) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(r[c][:60].ljust(widths[c]) for c in cols).rstrip())
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from watcher import runtime

    cfg = runtime.load(args.config)
    store = runtime.open_store(cfg)
    try:
        rows = store.recent_alerts(args.limit)
    finally:
        store.close()
    for r in rows:
        if args.json:
            print(json.dumps({
                "alert_id": r.alert.alert_id, "story_id": r.alert.story_id,
                "watch": r.alert.watch, "channel": r.alert.channel, "status": r.status,
                "ts": r.ts, "severity": r.alert.severity, "title": r.alert.title,
                "url": r.alert.url, "attempts": r.attempts, "error": r.last_error,
                "created": r.created.isoformat(), "kind": r.alert.kind,
                "parent_id": r.alert.parent_id, "change": r.alert.change or None,
            }, ensure_ascii=False))
        else:
            print(f"{r.created:%Y-%m-%d %H:%M} {r.status:<8} {r.alert.watch:<20} "
                  f"{r.alert.severity:<9} {r.alert.channel:<20} {r.alert.title[:70]}")
    if not rows and not args.json:  # (--json: no line, as for any other number of alerts)
        print("no alerts")
    return EXIT_OK


def cmd_tolls(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from watcher import lifecycle, runtime

    hours = _since_hours(args.since)
    if hours is None:
        return EXIT_CONFIG
    cfg = runtime.load(args.config)
    if args.watch:
        cfg.watch(args.watch)  # an unknown name is a clear config error
    now = datetime.now(UTC)
    store = runtime.open_store(cfg)
    try:
        parents = [r.alert for r in store.alerts_between(now - timedelta(hours=hours),
                                                         now + timedelta(minutes=1))
                   if r.alert.kind == "story" and (not args.watch or r.alert.watch == args.watch)]
        articles = store.story_articles(list({a.story_id for a in parents}))
    finally:
        store.close()
    for parent in parents:
        figures = lifecycle.series(articles.get(parent.story_id, []))
        top = lifecycle.current_toll(figures)
        if args.json:
            print(json.dumps({
                "story_id": parent.story_id, "watch": parent.watch, "title": parent.title,
                "current": None if top is None else _figure_json(top),
                "series": [_figure_json(f) for f in figures],
            }, ensure_ascii=False))
            continue
        print(f"{parent.watch}  {parent.severity}  {parent.title[:90]}  (story {parent.story_id})")
        if top is None:
            print("  no current toll reported")
        else:
            print(f"  current toll: killed {top.count}, per {top.source}")
        for f in figures:
            print(f"  {f.published:%Y-%m-%d %H:%M}  {f.source[:24]:<24} {f.qualifier:<9} "
                  f"{f.count:>6}  {f.url}")
    if not parents and not args.json:
        print(f"no story alerts in the last {args.since}")
    return EXIT_OK


def _figure_json(f: SourcedFigure) -> dict[str, object]:
    return {"kind": f.kind, "count": f.count, "qualifier": f.qualifier, "source": f.source,
            "url": f.url, "published": f.published.isoformat()}


if __name__ == "__main__":
    raise SystemExit(main())
