"""Ingestion benchmark: watcher against a plain feedparser loop and lemon24's reader.

    .venv/bin/python bench/ingest.py                  # N = 200 and 1000, every peer
    .venv/bin/python bench/ingest.py --feeds 200 --peers core,watcher --json /tmp/r.json
    .venv/bin/python bench/ingest.py --feeds 1000 --peers watcher,reader --steady-repeats 5
    .venv/bin/python bench/ingest.py micro 40        # cleaning/parsing rates, before and after
    .venv/bin/python bench/ingest.py fetch 1000 3    # the fetch alone, against the httpx one
    .venv/bin/python bench/ingest.py timeline 1000   # RSS by pipeline step, cold then steady
    .venv/bin/python bench/ingest.py timeline 1000 --baseline-ref HEAD --rounds 2  # against HEAD

A local HTTP server on 127.0.0.1 (a child process) serves N synthetic feeds: RSS 2.0 and Atom,
20-100 items, 20-150 KB, 50 ms added latency per request, ETag and Last-Modified with 304s. Every
peer runs two cycles on a fresh state: cold (everything new) and steady (every tenth feed gained
1-5 items; the others answer 304; with --steady-repeats K, K steady cycles, each from the state
the cold cycle left). Each cycle is one child process, measured from outside: wall
time, CPU (user + system of the whole process tree), peak RSS (sampled every 50 ms: the process
tree summed, and the largest single process), and the new articles it reports.

Peers:
  watcher       `watcher run --dry-run` (the CLI's main() in a child process) against a Prefect
                server this script starts (`prefect server start`, PREFECT_HOME in a temporary
                directory, analytics off, flow heartbeats every 30 s). The step functions (and
                parsepool.parse_feeds inside ingest_step) are timed in the process: the flow call
                minus the steps' sum is the Prefect overhead of the cycle.
  watcher-cli   the installed `watcher run --dry-run` command itself, nothing patched.
  core          the same pipeline steps (pipeline.run_cycle) without Prefect.
  reader        reader 3.26: add_feed for each feed, update_feeds_iter(workers=16,
                scheduled=False) (the default scheduled=True skips feeds not yet due).
  feedparser    feedparser.parse(url, etag=..., modified=...) for each feed in turn, defaults
                (sanitizer on), ids remembered between cycles in a JSON file.

All feeds live on one host here, so watcher's per-host limit is raised to its global concurrency
(the default, 64): real feeds are spread over many hosts. The output is a table and, with
--json, the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import html
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
LATENCY = 0.05
READER_WORKERS = 16
ALL_PEERS = ("core", "watcher", "watcher-cli", "reader", "feedparser")

# ---
# Synthetic feeds: deterministic, our own vocabulary (no text from anywhere else)


def _words(text: str) -> list[str]:
    return text.split()


_FUNCTION = _words(
    "the of and to in a is that for on with as was at by from it an be this have are were "
    "has had not but they their which after over more into than its about also been two "
    "three when some new would could other while during near under since before against "
    "between"
)
_NEWS = _words(
    "officials troops border ministry government president talks region village residents "
    "forces ceasefire army police attack shelling drones civilians election court "
    "minister protest capital rebels report agency statement sources military "
    "negotiations delegation parliament spokesman investigation convoy checkpoint "
    "humanitarian aid supplies shelter infrastructure power water roads bridge market "
    "prices economy budget sanctions trade"
)
_VERBS = _words(
    "said told reported announced confirmed warned urged denied added noted stated"
)
_NAMES = _words(
    "Arlen Veska Tamar Orik Selin Davor Mirela Kasim Ilona Ruben Nadia Teodor Zarina Emil "
    "Lusia Gorik Halina Bastien Oriane Kelvar"
)
_SURNAMES = _words(
    "Marovan Telesk Quorin Abadze Varnet Holmqvist Serbanov Idrisova Kaltenor Ostrava "
    "Penrell Dunmore Askarli Velichko Brannock"
)
_PLACES = _words(
    "Northvale Eastmere Karsk Dovrin Lowenport Tessaly Marigold Fenholt Ulmora Vantor "
    "Riverside Ashgrove Quellin Sarovan Brightwater"
)
_REAL_PLACES = ("Armenia", "Azerbaijan", "Yerevan", "Baku")  # so that a few items match a watch
_APPEAL = (
    "Dear readers, we need your help.",
    "Please support our independent journalism with a small monthly donation.",
    "Every contribution, however big or small, makes a difference. Thank you for reading.",
    "Subscribe to our free newsletter to get the headlines delivered to your inbox.",
)


def _sentence(rng: random.Random) -> str:
    who = f"{rng.choice(_NAMES)} {rng.choice(_SURNAMES)}"
    words = [rng.choice(_NEWS if rng.random() < 0.35 else _FUNCTION)
             for _ in range(rng.randint(8, 22))]
    if rng.random() < 0.3:
        place = rng.choice(_REAL_PLACES if rng.random() < 0.03 else _PLACES)
        words.insert(rng.randrange(len(words)), place)
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words)), str(rng.randint(2, 950)))
    verb = rng.choice(_VERBS)
    form = rng.random()
    if form < 0.4:
        return f"{who} {verb} that {' '.join(words)}."
    if form < 0.6:
        return f"“{' '.join(words).capitalize()},” {who} {verb}."
    return f"{' '.join(words).capitalize()}, {verb} {who}."


def _inline(rng: random.Random, text: str, site: str) -> str:
    """`text` HTML-escaped, a few words in links or emphasis."""
    words = html.escape(text, quote=False).replace("'", "&#8217;").split(" ")
    for _ in range(rng.randint(0, 2)):
        k = rng.randrange(len(words))
        r = rng.random()
        if r < 0.5:
            words[k] = f'<a href="https://{site}/topic/{rng.randint(1, 999)}">{words[k]}</a>'
        elif r < 0.8:
            words[k] = f"<em>{words[k]}</em>"
        else:
            words[k] = f"<strong>{words[k]}</strong>"
    return " ".join(words)


def _item_html(rng: random.Random, target: int, site: str) -> str:
    parts: list[str] = []
    size = 0
    while size < target:
        r = rng.random()
        if r < 0.06 and parts:
            cap = html.escape(_sentence(rng), quote=False)
            block = (f'<figure class="wp-block-image"><img src="https://{site}/img/'
                     f'{rng.randint(1, 99999)}.jpg" alt="photo" width="800" height="450">'
                     f"<figcaption>{cap}</figcaption></figure>")
        elif r < 0.10:
            block = ("<ul>" + "".join(f"<li>{_inline(rng, _sentence(rng), site)}</li>"
                                      for _ in range(rng.randint(2, 4))) + "</ul>")
        elif r < 0.13:
            block = f"<blockquote><p>{_inline(rng, _sentence(rng), site)}</p></blockquote>"
        else:
            sents = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
            block = f"<p>{_inline(rng, sents, site)}</p>"
            if rng.random() < 0.05:
                block = block.replace("<p>", "<p>&nbsp;", 1)
        parts.append(block)
        size += len(block)
    if rng.random() < 0.15:
        parts.append('<div class="share-bar"><a href="#">Share</a> | <a href="#">Tweet</a>'
                     ' | <a href="#">Email</a></div>')
    if rng.random() < 0.15:
        parts.extend(f"<p>{html.escape(s, quote=False)}</p>" for s in _APPEAL[: rng.randint(2, 4)])
    return "\n".join(parts)


def feed_shape(feed: int) -> tuple[str, int, int]:
    """(format, items, HTML bytes per item) of feed `feed`: 20-100 items, about 20-150 KB."""
    rng = random.Random(f"shape-{feed}")
    fmt = "rss" if rng.random() < 0.6 else "atom"
    n = rng.randint(20, 100)
    lo, hi = max(20_000 // n, 500), min(150_000 // n, 5_000)
    per_item = int(rng.randint(lo, hi) * (0.62 if fmt == "rss" else 0.68)) - 120
    return fmt, n, max(per_item, 150)


def gained(feed: int, gen: int) -> int:
    """Items feed `feed` gained by generation `gen`: every tenth feed, 1-5 per generation."""
    if feed % 10 != 3:
        return 0
    return sum(random.Random(f"gain-{feed}-{g}").randint(1, 5) for g in range(1, gen + 1))


def expected_new(n_feeds: int, gen: int) -> int:
    if gen == 0:
        return sum(feed_shape(i)[1] for i in range(n_feeds))
    return sum(gained(i, gen) - gained(i, gen - 1) for i in range(n_feeds))


def feed_body(feed: int, gen: int, now: datetime) -> bytes:
    """The document of feed `feed` at generation `gen` (0: cold; 1: after gaining items)."""
    fmt, n, per_item = feed_shape(feed)
    site = f"news{feed}.example"
    extra = gained(feed, gen)
    items = []
    for k in range(n + extra - 1, extra - 1, -1):  # newest first; the oldest `extra` dropped
        rng = random.Random(f"item-{feed}-{k}")
        title = f"{rng.choice(_PLACES)} " + " ".join(rng.choice(_NEWS)
                                                     for _ in range(rng.randint(4, 9)))
        items.append({
            "title": f"{title.capitalize()} ({feed}-{k})",
            "link": f"https://{site}/{2026 - k % 3}/story-{feed}-{k}?utm_source=rss",
            "guid": f"https://{site}/item/{feed}/{k}",
            "html": _item_html(rng, per_item, site),
            "author": f"{rng.choice(_NAMES)} {rng.choice(_SURNAMES)}",
            "category": rng.choice(_NEWS),
            # spread over three days before `now`
            "published": now - timedelta(minutes=(n + extra - 1 - k) * 4320 // n
                                         + rng.randint(0, 30)),
        })
    return (_rss if fmt == "rss" else _atom)(feed, items, site, now)


def _rss(feed: int, items: list[dict[str, Any]], site: str, now: datetime) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
           'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:media="http://search.yahoo.com/mrss/" '
           'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
           f"<title>Synthetic News {feed}</title>\n<link>https://{site}/</link>\n"
           f'<atom:link href="https://{site}/feed/" rel="self" type="application/rss+xml"/>\n'
           f"<description>Feed {feed}</description>\n"
           f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>\n"]
    for it in items:
        summary = html.escape(it["html"].split("\n", 1)[0], quote=False)
        out.append(
            f"<item>\n<title>{html.escape(it['title'], quote=False)}</title>\n"
            f"<link>{html.escape(it['link'])}</link>\n"
            f"<dc:creator>{it['author']}</dc:creator>\n"
            f"<pubDate>{format_datetime(it['published'])}</pubDate>\n"
            f"<category>{it['category']}</category>\n"
            f'<guid isPermaLink="false">{it["guid"]}</guid>\n'
            f"<description>{summary}</description>\n"
            f"<content:encoded><![CDATA[{it['html']}]]></content:encoded>\n"
            f'<media:content url="https://{site}/img/{len(it["title"])}.jpg" medium="image"/>\n'
            "</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def _atom(feed: int, items: list[dict[str, Any]], site: str, now: datetime) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
           f"<title>Synthetic News {feed}</title>\n<id>https://{site}/</id>\n"
           f'<link href="https://{site}/" rel="alternate"/>\n'
           f"<updated>{now.isoformat()}</updated>\n"]
    for it in items:
        out.append(
            f"<entry>\n<title>{html.escape(it['title'], quote=False)}</title>\n"
            f'<link href="{html.escape(it["link"])}" rel="alternate"/>\n'
            f"<id>{it['guid']}</id>\n"
            f"<author><name>{it['author']}</name></author>\n"
            f"<published>{it['published'].isoformat()}</published>\n"
            f"<updated>{it['published'].isoformat()}</updated>\n"
            f'<category term="{it["category"]}"/>\n'
            f'<content type="html">{html.escape(it["html"], quote=False)}</content>\n'
            "</entry>\n"
        )
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


# ---
# The feed server (a child process: `ingest.py serve`)


def serve(n_feeds: int, now: datetime, port_file: Path) -> None:
    bodies: dict[tuple[int, int], tuple[bytes, str, str, str]] = {}
    for i in range(n_feeds):
        for gen in (0, 1):
            if gen == 0 or gained(i, gen) != gained(i, gen - 1):
                body = feed_body(i, gen, now)
                ctype = ("application/rss+xml; charset=utf-8" if feed_shape(i)[0] == "rss"
                         else "application/atom+xml; charset=utf-8")
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                modified = format_datetime(now - timedelta(hours=1 - gen), usegmt=True)
                bodies[(gen, i)] = (body, etag, modified, ctype)
    state = {"gen": 0}

    async def respond(writer: asyncio.StreamWriter, status: str, headers: dict[str, str],
                      body: bytes) -> None:
        head = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                req = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if ":" in line)}
                if path.startswith("/_gen/"):
                    state["gen"] = int(path[6:])
                    await respond(writer, "200 OK", {"Content-Type": "text/plain"}, b"ok")
                elif path.startswith("/feed/") and path[6:].isdigit() and int(path[6:]) < n_feeds:
                    i = int(path[6:])
                    body, etag, modified, ctype = bodies.get((state["gen"], i), bodies[(0, i)])
                    await asyncio.sleep(LATENCY)
                    inm, ims = req.get("if-none-match"), req.get("if-modified-since")
                    validators = {"ETag": etag, "Last-Modified": modified}
                    if inm == etag or (inm is None and ims == modified):
                        await respond(writer, "304 Not Modified", validators, b"")
                    else:
                        await respond(writer, "200 OK", {"Content-Type": ctype, **validators},
                                      body)
                else:
                    await respond(writer, "404 Not Found", {"Content-Type": "text/plain"}, b"")
                if req.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.rename(port_file)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---
# Peers (each cycle is a child process: `ingest.py peer-NAME ...`)


def _report(data: dict[str, Any]) -> None:
    path = os.environ.get("BENCH_REPORT")
    if path:
        Path(path).write_text(json.dumps(data))


def peer_reader(db: str, urls_file: str, cold: bool) -> None:
    from reader import make_reader  # type: ignore[import-not-found]

    urls = Path(urls_file).read_text().split()
    r = make_reader(db)
    if cold:
        for url in urls:
            r.add_feed(url, exist_ok=True)
    new = errors = 0
    t0 = time.perf_counter()
    for res in r.update_feeds_iter(workers=READER_WORKERS, scheduled=False):
        value = res.value
        if isinstance(value, Exception):
            errors += 1
        elif value is not None:
            new += value.new
    _report({"new": new, "errors": errors, "update_s": time.perf_counter() - t0})
    r.close()


def peer_feedparser(state_file: str, urls_file: str) -> None:
    import feedparser

    urls = Path(urls_file).read_text().split()
    path = Path(state_file)
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    new = errors = 0
    for url in urls:
        st = state.get(url, {})
        d = feedparser.parse(url, etag=st.get("etag"), modified=st.get("modified"))
        if d.get("status") == 304:
            continue
        if d.get("status") != 200:
            errors += 1
            continue
        seen = set(st.get("ids", []))
        ids = [e.get("id") or e.get("link") for e in d.entries]
        new += sum(1 for i in ids if i not in seen)
        state[url] = {"etag": d.get("etag"), "modified": d.get("modified"), "ids": ids}
    path.write_text(json.dumps(state))
    _report({"new": new, "errors": errors})


def _install_timers(timings: dict[str, float]) -> None:
    """Time the pipeline's steps (parsing runs inside ingest_step, overlapping its other work)."""
    from watcher import pipeline

    for name in ("fetch_step", "ingest_step", "match_step", "ops_step", "show_dry_run",
                 "enqueue_step", "mark_matched_step"):
        fn = getattr(pipeline, name, None)
        if fn is not None:
            setattr(pipeline, name, _timed(name, fn, timings))


def _timed(name: str, fn: Callable[..., Any], timings: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0

    return wrapper


def peer_core(config: str) -> None:
    """The pipeline without Prefect: run_cycle, alerts printed to stdout (discarded)."""
    t_start = time.perf_counter()
    from watcher import pipeline, runtime
    from watcher.transports import ConsoleTransport

    timings: dict[str, float] = {}
    _install_timers(timings)
    cfg = runtime.load(config)
    store = runtime.open_store(cfg)
    t0 = time.perf_counter()
    summary = pipeline.run_cycle(cfg, store, ConsoleTransport(), dry_run=True)
    cycle = time.perf_counter() - t0
    store.close()
    _report({"new": summary.new_articles, "cycle_s": cycle, "steps": timings,
             "startup_s": t0 - t_start})


def peer_watcher(argv: list[str]) -> None:
    """`watcher run --dry-run ...` through watcher.cli.main, timing the flow call and the
    pipeline steps inside it."""
    t_start = time.perf_counter()

    from watcher import entry

    entry.arm()  # the process ends as the `watcher` command does (see watcher/entry.py)
    from watcher import cli

    timings: dict[str, float] = {}
    _install_timers(timings)
    t0 = time.perf_counter()
    cli.load_flow_module()  # Prefect's import, timed apart (as `watcher run` makes it)
    import_s = time.perf_counter() - t0
    flow_s: list[float] = []
    run_flow = cli._run_flow

    def timed_run_flow(*args: Any, **kwargs: Any) -> Any:
        t1 = time.perf_counter()
        try:
            return run_flow(*args, **kwargs)
        finally:
            flow_s.append(time.perf_counter() - t1)

    cli._run_flow = timed_run_flow  # type: ignore[assignment]
    rc = cli.main(argv)
    main_s = time.perf_counter() - t_start
    summary_path = argv[argv.index("--summary-json") + 1]
    summary = json.loads(Path(summary_path).read_text())
    _report({"new": summary["new_articles"], "rc": rc, "flow_s": sum(flow_s),
             "steps": timings, "prefect_import_s": import_s, "startup_s": t0 - t_start,
             "main_s": main_s})
    entry.finish(0)  # (the run's own status is in the report)


# ---
# Micro-benchmark: cleaning and parsing, against the code before the speed work


BASELINE_COMMIT = "4448c34"  # src/watcher/{clean,parse}.py before the ingestion speed work
PREVIOUS_COMMIT = "0750e90"  # ... and before its last round (2026-12-06)


def _baseline_modules(commit: str = BASELINE_COMMIT) -> tuple[Any, Any]:
    """clean and parse as they were at `commit`, loaded from git as separate modules."""
    import types

    mods = []
    tag = "".join(c if c.isalnum() else "_" for c in commit)
    for name in ("clean", "parse"):
        source = subprocess.run(["git", "show", f"{commit}:src/watcher/{name}.py"],
                                cwd=ROOT, check=True, capture_output=True, text=True).stdout
        if name == "parse":
            source = source.replace("from watcher.clean import",
                                    f"from watcher_{tag}_clean import")
        mod = types.ModuleType(f"watcher_{tag}_{name}")
        sys.modules[mod.__name__] = mod
        exec(compile(source, f"{commit}:{name}.py", "exec"), mod.__dict__)
        mods.append(mod)
    return mods[0], mods[1]


def micro(n_feeds: int, repeats: int = 3) -> None:
    """Entries per CPU-second for the cleaning functions and parse_feed: at BASELINE_COMMIT
    (before the speed work), at PREVIOUS_COMMIT (before the last round of it) and now. Each rate
    is the best of `repeats` interleaved runs (other processes on the machine slow runs down)."""
    import feedparser

    from watcher import clean, parse

    old_clean, old_parse = _baseline_modules()
    head_clean, head_parse = _baseline_modules(PREVIOUS_COMMIT)
    now = datetime.now(UTC).replace(microsecond=0)
    bodies = [(feed_body(i, 0, now), {"content-type": "application/rss+xml; charset=utf-8"
                                      if feed_shape(i)[0] == "rss" else "application/atom+xml"})
              for i in range(n_feeds)]
    htmls = [parse._entry_html(e) for b, _ in bodies
             for e in feedparser.parse(b, sanitize_html=False).entries]
    texts = [clean.html_to_text(h) for h in htmls]
    assert texts == [old_clean.html_to_text(h) for h in htmls]
    assert [clean.strip_boilerplate(t) for t in texts] == [
        head_clean.strip_boilerplate(t) for t in texts]

    def rates(fns: list[Callable[[Any], Any]], items: list[Any], n: int) -> list[float]:
        best = [float("inf")] * len(fns)
        for _ in range(repeats):
            for k, fn in enumerate(fns):
                t0 = time.process_time()
                for item in items:
                    fn(item)
                best[k] = min(best[k], time.process_time() - t0)
        return [n / b for b in best]

    print(f"{len(htmls)} entries from {n_feeds} synthetic feeds; items per CPU-second, best of "
          f"{repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':<18} {'baseline':>9} {PREVIOUS_COMMIT:>9} {'now':>9}  now/{PREVIOUS_COMMIT}")
    for label, new_fn, head_fn, old_fn, items in (
        ("html_to_text", clean.html_to_text, head_clean.html_to_text, old_clean.html_to_text,
         htmls),
        ("strip_boilerplate", clean.strip_boilerplate, head_clean.strip_boilerplate,
         old_clean.strip_boilerplate, texts),
        ("clean_text", clean.clean_text, head_clean.clean_text, old_clean.clean_text, htmls),
    ):
        old, head, new = rates([old_fn, head_fn, new_fn], items, len(items))
        print(f"  {label:<18} {old:8.0f}/s {head:8.0f}/s {new:8.0f}/s  x{new / head:.2f}")
    url = "https://news.example/feed"
    n = sum(len(parse.parse_feed("f", url, b, h, now).articles) for b, h in bodies)
    assert [parse.parse_feed("f", url, b, h, now).articles for b, h in bodies] == [
        head_parse.parse_feed("f", url, b, h, now).articles for b, h in bodies]
    for label, name in (("parse_feed", "parse_feed"), ("stage_feed", "stage_feed")):
        mods = [m for m in (old_parse, head_parse, parse) if hasattr(m, name)]
        fns = [(lambda bh, m=m, name=name: getattr(m, name)("f", url, bh[0], bh[1], now))
               for m in mods]
        *older, head, new = rates(fns, bodies, n)
        old_col = f"{older[0]:8.0f}/s" if older else f"{'-':>10}"
        print(f"  {label:<18} {old_col} {head:8.0f}/s {new:8.0f}/s  x{new / head:.2f}")
    parse.FAST_PARSE = False
    (no_fast,) = rates([lambda bh: parse.parse_feed("f", url, bh[0], bh[1], now)], bodies, n)
    parse.FAST_PARSE = True
    print(f"  parse_feed now with feedparser instead of the lxml path {no_fast:6.0f}/s")


# ---
# Fetch only: watcher.fetch against the httpx-based one it replaced


FETCH_BASELINE_COMMIT = "d5a59ef"  # src/watcher/{fetch,netguard}.py on httpx / httpcore


def _baseline_fetch(commit: str = FETCH_BASELINE_COMMIT) -> Any:
    """fetch.py as it was at `commit` (with its netguard.py), loaded from git as modules."""
    import types

    tag = "".join(c if c.isalnum() else "_" for c in commit)
    mods = {}
    for name in ("netguard", "fetch"):
        source = subprocess.run(["git", "show", f"{commit}:src/watcher/{name}.py"],
                                cwd=ROOT, check=True, capture_output=True, text=True).stdout
        source = source.replace("from watcher.netguard import",
                                f"from watcher_{tag}_netguard import")
        mod = types.ModuleType(f"watcher_{tag}_{name}")
        sys.modules[mod.__name__] = mod
        exec(compile(source, f"{commit}:{name}.py", "exec"), mod.__dict__)
        mods[name] = mod
    return mods["fetch"]


def fetch_bench(n_feeds: int, rounds: int = 3) -> None:
    """Wall and CPU of fetching N feeds from the bench server (a cold fetch, then steady
    fetches: every feed answers 304), for the current watcher.fetch and the baseline's, taking
    turns, at concurrency 32 and 64 (per_host as high: one host here)."""
    import dataclasses
    import resource

    from watcher import fetch
    from watcher.config import FeedConfig, FetchConfig
    from watcher.models import FeedState

    old = _baseline_fetch()

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def timed(mod: Any, feeds: list[Any], states: dict[str, Any], cfg: Any) -> tuple[float,
                                                                                      float, Any]:
        t, c = time.perf_counter(), cpu()
        results = mod.fetch_feeds(feeds, states, cfg)
        return time.perf_counter() - t, cpu() - c, results

    print(f"fetch of {n_feeds} feeds (50 ms latency each), {rounds} rounds taking turns; "
          f"load {os.getloadavg()[0]:.2f}")
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, feed_server(n_feeds, now, Path(tmp)) as (base, _):
        feeds = [FeedConfig(f"f{i}", f"{base}/feed/{i}") for i in range(n_feeds)]
        figures: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        states: dict[str, Any] = {}
        for _ in range(rounds):
            for conc in (32, 64):
                cfg = dataclasses.replace(FetchConfig(), concurrency=conc, per_host=conc)
                for label, mod in (("before", old), ("now", fetch)):
                    wall, used, results = timed(mod, feeds, {}, cfg)
                    assert all(r.ok and r.body for r in results), label
                    figures.setdefault(("cold", label, conc), []).append((wall, used))
                    states = {r.feed: FeedState(r.feed, r.url, etag=r.headers.get("etag"),
                                                last_modified=r.headers.get("last-modified"))
                              for r in results}
                    wall, used, results = timed(mod, feeds, states, cfg)
                    assert all(r.not_modified for r in results), label
                    figures.setdefault(("steady", label, conc), []).append((wall, used))
        print(f"  {'':<7} {'conc':>4}  {'before (httpx) wall / CPU':>26}  {'now wall / CPU':>18}"
              "  ratio wall / CPU (medians)")
        for cycle in ("cold", "steady"):
            for conc in (32, 64):
                b = figures[(cycle, "before", conc)]
                n = figures[(cycle, "now", conc)]
                bw, bc = (statistics.median_high(x) for x in zip(*b, strict=True))
                nw, nc = (statistics.median_high(x) for x in zip(*n, strict=True))
                print(f"  {cycle:<7} {conc:>4}  {bw:11.2f} s / {bc:5.2f} s {'':>4}"
                      f"{nw:7.2f} s / {nc:5.2f} s  {nw / bw:.2f}x / {nc / bc:.2f}x")


# ---
# Measuring a child process


def measure(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> dict[str, Any]:
    import psutil  # type: ignore[import-untyped]

    report = log.with_suffix(".json")
    report.unlink(missing_ok=True)
    env = {**env, "BENCH_REPORT": str(report)}
    peak = {"tree": 0, "single": 0}
    cpu: dict[int, float] = {}  # pid -> user + system seconds, last seen
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            rss = []
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error), p.oneshot():
                        rss.append(p.memory_info().rss)
                        t = p.cpu_times()
                        cpu[p.pid] = t.user + t.system
            if rss:
                peak["tree"] = max(peak["tree"], sum(rss))
                peak["single"] = max(peak["single"], max(rss))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline = time.monotonic() + timeout
    status = None
    while status is None:
        pid, st, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = st
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    data = json.loads(report.read_text()) if report.exists() else {}
    # rusage misses processes the child does not reap itself (a forkserver's pool workers);
    # the sampled per-process times miss the last 50 ms of each: take the larger
    cpu_s = max(usage.ru_utime + usage.ru_stime, sum(cpu.values()))
    return {"wall_s": wall, "cpu_s": cpu_s, "rc": proc.returncode,
            "rss_tree_mb": peak["tree"] / 2**20, "rss_single_mb": peak["single"] / 2**20,
            "maxrss_mb": usage.ru_maxrss / 1024, "load1": load, **data}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


@contextlib.contextmanager
def feed_server(n_feeds: int, now: datetime, tmp: Path) -> Iterator[tuple[str, Any]]:
    import psutil

    port_file = tmp / "feed-server.port"
    proc = subprocess.Popen([sys.executable, __file__, "serve", str(n_feeds), now.isoformat(),
                             str(port_file)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the feed server did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port_file.read_text()}", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def prefect_server(tmp: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=tmp))
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = (tmp / "prefect-server.log").open("wb")
    proc = subprocess.Popen([str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if http_get(api + "/health", 2.0):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start; see {log.name}")
            time.sleep(0.5)
        yield {"PREFECT_API_URL": api, "PREFECT_HOME": str(home),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def watcher_config(path: Path, base: str, n_feeds: int, db: Path) -> None:
    watches = (ROOT / "config" / "watcher.toml").read_text(encoding="utf-8")
    watches = watches[watches.index("\n[[watches]]") + 1:]
    feeds = "".join(f'[[feeds]]\nname = "feed-{i:04d}"\nurl = "{base}/feed/{i}"\n\n'
                    for i in range(n_feeds))
    path.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n\n'
        "[fetch]\nper_host = 64\ndeadline = 60.0\n\n"  # (concurrency: the default, 64)
        f"{feeds}{watches}", encoding="utf-8")


# What a peer keeps between cycles (SQLite databases with their WAL files, feedparser's JSON).
STATE_FILES = ("watcher.db", "reader.sqlite", "state.json")


def _state_files(work: Path) -> list[Path]:
    return [p for name in STATE_FILES for p in work.glob(name + "*") if p.is_file()]


def run_peer(peer: str, n_feeds: int, base: str, tmp: Path, prefect_env: dict[str, str] | None,
             server: Any, steady_repeats: int = 1, stale_snapshot: bool = False
             ) -> list[dict[str, Any]]:
    work = tmp / peer
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "WATCHER_"))}
    env["PYTHONPATH"] = str(ROOT / "bench")
    urls = work / "urls.txt"
    urls.write_text("\n".join(f"{base}/feed/{i}" for i in range(n_feeds)))
    config = work / "watcher.toml"
    watcher_config(config, base, n_feeds, work / "watcher.db")
    me = [sys.executable, __file__]
    rows = []
    saved = work / "after-cold"
    for i, (gen, cycle) in enumerate([(0, "cold")] + [(1, "steady")] * steady_repeats):
        if i == 1:  # each steady cycle starts from the state the cold cycle left
            saved.mkdir()
            for p in _state_files(work):
                shutil.copy2(p, saved / p.name)
        elif i > 1:
            for p in _state_files(work):
                p.unlink()
            for p in saved.iterdir():
                shutil.copy2(p, work / p.name)
        if i >= 1 and stale_snapshot and peer in ("core", "watcher", "watcher-cli"):
            _age_snapshot(work / "watcher.db", timedelta(hours=2))
        http_get(f"{base}/_gen/{gen}")
        name = cycle if i < 2 else f"{cycle}-{i - 1}"  # (one log and summary per repeat)
        summary = work / f"summary-{name}.json"
        summary.unlink(missing_ok=True)
        if peer == "core":
            cmd = [*me, "peer-core", str(config)]
        elif peer == "watcher":
            cmd = [*me, "peer-watcher", "run", "--dry-run", "--config", str(config),
                   "--summary-json", str(summary)]
            env.update(prefect_env or {})
        elif peer == "watcher-cli":
            cmd = [str(VENV_BIN / "watcher"), "run", "--dry-run", "--config", str(config),
                   "--summary-json", str(summary)]
            env.update(prefect_env or {})
        elif peer == "reader":
            cmd = [*me, "peer-reader", str(work / "reader.sqlite"), str(urls),
                   "cold" if gen == 0 else "steady"]
        else:
            cmd = [*me, "peer-feedparser", str(work / "state.json"), str(urls)]
        server_cpu = sum(server.cpu_times()[:2])
        row = measure(cmd, env, work / f"{name}.log", timeout=1800)
        if peer == "watcher-cli" and summary.exists():
            row["new"] = json.loads(summary.read_text())["new_articles"]
        row.update(peer=peer, cycle=cycle, feeds=n_feeds, expected=expected_new(n_feeds, gen),
                   repeat=max(0, i - 1),
                   server_cpu_s=sum(server.cpu_times()[:2]) - server_cpu)
        rows.append(row)
        print(_row_text(row), flush=True)
    return rows


def _row_text(r: dict[str, Any]) -> str:
    extra = ""
    if "flow_s" in r:
        steps = sum(v for k, v in r.get("steps", {}).items() if k != "parse_feeds")
        extra = f"  flow {r['flow_s']:.2f}s steps {steps:.2f}s overhead {r['flow_s'] - steps:.2f}s"
    elif "cycle_s" in r:
        extra = f"  cycle {r['cycle_s']:.2f}s"
    return (f"N={r['feeds']:<5} {r['peer']:<12} {r['cycle']:<7} wall {r['wall_s']:7.2f}s  "
            f"cpu {r['cpu_s']:7.2f}s  rss tree {r['rss_tree_mb']:6.0f} MB  single "
            f"{r['rss_single_mb']:5.0f} MB  new {r.get('new', '?')}/{r['expected']}  rc {r['rc']}"
            f"  load {r['load1']:.1f}  server cpu {r['server_cpu_s']:.1f}s{extra}")


def _age_snapshot(db: Path, by: timedelta) -> None:
    """Make watcher's saved story index snapshot look `by` older: the next cycle saves it again
    (as a deployed poller does every hour, `pipeline.SNAPSHOT_MAX_AGE`)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        (saved,) = conn.execute("SELECT saved FROM story_index WHERE name = 'default'").fetchone()
        older = datetime.fromisoformat(saved) - by
        conn.execute("UPDATE story_index SET saved = ? WHERE name = 'default'",
                     (older.isoformat(sep=" "),))
        conn.commit()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--feeds", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--peers", default=",".join(ALL_PEERS),
                    help=f"comma-separated, from {', '.join(ALL_PEERS)}")
    ap.add_argument("--steady-repeats", type=int, default=1, metavar="K",
                    help="steady cycles per peer, each from the state the cold cycle left "
                         "(the table gives their median, the lower one for an even K, and "
                         "range; default 1)")
    ap.add_argument("--stale-snapshot", action="store_true",
                    help="before each steady cycle of watcher, age its saved story index "
                         "snapshot by 2 hours, so that the cycle saves it again (the hourly "
                         "save of a deployed poller)")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    if args.steady_repeats < 1:
        ap.error("--steady-repeats must be at least 1")
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(ALL_PEERS)
    if unknown:
        ap.error(f"unknown peers: {', '.join(sorted(unknown))}")
    now = datetime.now(UTC).replace(microsecond=0)
    rows: list[dict[str, Any]] = []
    print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, load {os.getloadavg()}",
          flush=True)
    for n_feeds in args.feeds:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{n_feeds}-"))
        try:
            with feed_server(n_feeds, now, tmp) as (base, server):
                for peer in peers:
                    if not peer.startswith("watcher"):
                        rows += run_peer(peer, n_feeds, base, tmp, None, server,
                                         args.steady_repeats, args.stale_snapshot)
                with_prefect = [p for p in peers if p.startswith("watcher")]
                if with_prefect:  # one Prefect server for these, stopped before the others run
                    with prefect_server(tmp) as penv:
                        for peer in with_prefect:
                            rows += run_peer(peer, n_feeds, base, tmp, penv, server,
                                             args.steady_repeats, args.stale_snapshot)
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"kept {tmp}")
        print(summary_table(rows, n_feeds), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


def summary_table(rows: list[dict[str, Any]], n_feeds: int) -> str:
    """Per cycle and peer: wall (the median of the repeats, and their range), CPU, peak RSS and
    new articles of that median run, and the wall's ratio to reader's median."""
    def median_row(peer: str, cycle: str) -> tuple[dict[str, Any], str] | None:
        """The (lower) median run among those that ended well (rc 0, the expected articles);
        the others are counted apart."""
        mine = [r for r in rows if r["feeds"] == n_feeds and r["peer"] == peer
                and r["cycle"] == cycle]
        runs = sorted((r for r in mine if r.get("rc") == 0 and r.get("new") == r["expected"]),
                      key=lambda r: r["wall_s"])
        failed = len(mine) - len(runs)
        note = f", {failed} failed and left out" if failed else ""
        if not mine:
            return None
        if not runs:
            return {**mine[0], "wall_s": float("nan")}, f"  (all {failed} failed)"
        spread = (f"  ({runs[0]['wall_s']:.2f}-{runs[-1]['wall_s']:.2f} s, {len(runs)} runs{note})"
                  if len(runs) > 1 or failed else "")
        return runs[(len(runs) - 1) // 2], spread

    lines = [f"\nN = {n_feeds}: wall / CPU / peak RSS (tree) / new articles; ratio = wall / "
             "reader's wall (medians when cycles were repeated)"]
    for cycle in ("cold", "steady"):
        ref = median_row("reader", cycle)
        for peer in ALL_PEERS:
            got = median_row(peer, cycle)
            if got is None:
                continue
            r, spread = got
            ratio = f"{r['wall_s'] / ref[0]['wall_s']:.2f}x" if ref else "-"
            lines.append(f"  {cycle:<7} {peer:<12} {r['wall_s']:7.2f} s {r['cpu_s']:7.2f} s "
                         f"{r['rss_tree_mb']:6.0f} MB {r.get('new', '?'):>6}  {ratio}{spread}")
    return "\n".join(lines)

def peer_timeline(config: str) -> None:
    """One core cycle (pipeline.run_cycle, no Prefect) with this process's RSS sampled every
    50 ms and tagged with the step running; prints each step's span, RSS range and CPU (this
    process's), the time spent in the costlier calls (story grouping, the store's), how long
    this process waited for the parse workers' results, and the workers' CPU."""
    from watcher import pipeline, runtime
    from watcher.transports import ConsoleTransport

    current = ["start"]
    samples: list[tuple[float, float, str]] = []
    done = threading.Event()

    def rss_mb() -> float:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), rss_mb(), current[0]))
            if me is not None:  # (the workers' CPU so far; the feed server is no child here)
                for child in me.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        times = child.cpu_times()
                        workers[child.pid] = times.user + times.system
            time.sleep(0.05)

    # the main process's CPU by step; wall time (and calls) of the costlier pieces, and how long
    # it waited for the parse workers' results; the workers' CPU (psutil, when installed)
    cpu_by_step: dict[str, float] = {}
    spent: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        got = spent.setdefault(name, [0.0, 0])
        got[0] += seconds
        got[1] += 1

    def tagged(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current[0] = name
            c = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu_by_step[name] = time.process_time() - c
                current[0] = "between steps"
        return wrapper

    for name in ("fetch_step", "ingest_step", "match_step", "ops_step", "show_dry_run",
                 "mark_matched_step"):
        setattr(pipeline, name, tagged(name, getattr(pipeline, name)))

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                note(name, time.perf_counter() - t)
        return wrapper

    for name in ("_assign_stories", "save_story_index"):
        setattr(pipeline, name, timed(name, getattr(pipeline, name)))
    parse_feeds = pipeline.iter_parse_feeds

    def waited(*args: Any, **kwargs: Any) -> Any:
        feeds = parse_feeds(*args, **kwargs)
        try:
            while True:
                t = time.perf_counter()
                try:
                    got = next(feeds)
                except StopIteration:
                    return
                finally:
                    note("waiting for parse results", time.perf_counter() - t)
                yield got
        finally:
            feeds.close()

    pipeline.iter_parse_feeds = waited  # type: ignore[assignment]
    cfg = runtime.load(config)
    store = runtime.open_store(cfg)
    for name in ("known_ids", "by_canonical_url", "add_articles", "save_feed_states",
                 "mark_matched"):
        setattr(store, name, timed(f"store.{name}", getattr(store, name)))
    workers: dict[int, float] = {}
    try:
        import psutil

        me = psutil.Process()
    except ImportError:
        me = None
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):  # (alerts)
        summary = pipeline.run_cycle(cfg, store, ConsoleTransport(), dry_run=True)
    done.set()
    sampler.join()
    store.close()
    spans: dict[str, list[float]] = {}
    for t, rss, step in samples:
        span = spans.setdefault(step, [t - t0, t - t0, rss, rss])
        span[1], span[2], span[3] = t - t0, min(span[2], rss), max(span[3], rss)
    print(f"cycle {time.perf_counter() - t0:.2f} s, {summary.new_articles} new articles, "
          f"peak {max(r for _, r, _ in samples):.0f} MB "
          f"(watcher of {Path(pipeline.__file__).parent})")
    for step, (a, b, low, high) in spans.items():
        cpu = f"  CPU {cpu_by_step[step]:6.2f} s" if step in cpu_by_step else ""
        print(f"  {step:<18} {a:6.2f}-{b:6.2f} s  RSS {low:5.0f}-{high:5.0f} MB{cpu}")
    for name, (seconds, calls) in spent.items():
        print(f"  {name:<28} {seconds:6.2f} s in {calls} calls")
    busy = sorted(round(c, 2) for c in workers.values() if c >= 0.5)
    if busy:
        print(f"  other processes' CPU (parse workers): {busy} s")


def checkout_src(ref: str, into: Path) -> Path:
    """`src/` of git `ref`, extracted under `into`, with this install's compiled extensions
    (setup.py) for each module whose source is the same in `ref`; the others are built from `ref`
    (a wheel), or run from their source there if that fails, as `watcher._compiled` would run
    them. Returns the directory for PYTHONPATH."""
    from watcher._compiled import source_digest

    proc = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, capture_output=True,
                          check=False)
    if proc.returncode:
        raise SystemExit(f"--baseline-ref {ref}: {proc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(into, filter="data")
    here, there = ROOT / "src" / "watcher", into / "src" / "watcher"
    try:
        built = json.loads((here / "compiled.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        built = {}
    same = {name: digest for name, digest in built.items()
            if (there / f"{name}.py").is_file() and source_digest(there, name) == digest}
    for name in same:
        for ext in here.glob(f"{name}*.so"):
            if ext.name.startswith((f"{name}.", f"{name}__mypyc.")):
                shutil.copy2(ext, there / ext.name)
    differ = sorted(name for name in set(built) - set(same) if (there / f"{name}.py").is_file())
    if differ:  # built from `ref`'s own sources (a wheel of it: ~1 min), so both sides compiled
        print(f"baseline {ref}: building its own {differ} ...", flush=True)
        same.update(_build_compiled(ref, into, differ))
    (there / "compiled.json").write_text(json.dumps(same), encoding="utf-8")
    source = sorted(name for name in set(built) - set(same) if (there / f"{name}.py").is_file())
    print(f"baseline {ref}: compiled {sorted(same) or 'none'}; from source: "
          f"{source or 'none'}", flush=True)
    return into / "src"


def _build_compiled(ref: str, into: Path, names: list[str]) -> dict[str, str]:
    """The compiled extensions of `names` built from git `ref` (`pip wheel` of its tree), put
    beside its sources under `into`; returns {name: digest} of those built (none when the build
    fails: they then run from source, as the message says)."""
    import zipfile

    tree, wheels = into / "tree", into / "wheels"
    proc = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(tree, filter="data")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                            str(wheels), str(tree)], capture_output=True, text=True, check=False)
    found = sorted(wheels.glob("*.whl"))
    if built.returncode or not found:
        print(f"baseline {ref}: build failed: {built.stderr.strip()[-300:]}", flush=True)
        return {}
    there = into / "src" / "watcher"
    with zipfile.ZipFile(found[0]) as whl:
        recorded = json.loads(whl.read("watcher/compiled.json"))
        for member in whl.namelist():
            leaf = member.rsplit("/", 1)[-1]
            if member.startswith("watcher/") and leaf.endswith(".so") and any(
                    leaf.startswith((f"{n}.", f"{n}__mypyc.")) for n in names):
                (there / leaf).write_bytes(whl.read(member))
    return {n: recorded[n] for n in names if n in recorded}


def timeline(n_feeds: int, baseline_ref: str | None = None, rounds: int = 1) -> None:
    """RSS by pipeline step (core, no Prefect), a cold then a steady cycle, each in a child
    process. With `baseline_ref`, each round runs git REF's src/ first (same feeds, a store of
    its own), then this tree's."""
    with tempfile.TemporaryDirectory(prefix="watcher-timeline-") as tmp_dir:
        tmp = Path(tmp_dir)
        versions: list[tuple[str, dict[str, str]]] = [("current", dict(os.environ))]
        if baseline_ref:
            src = checkout_src(baseline_ref, tmp / "baseline")
            versions.insert(0, (baseline_ref, {**os.environ, "PYTHONPATH": str(src)}))
        now = datetime.now(UTC)
        with feed_server(n_feeds, now, tmp) as (base, _):
            for round_ in range(1, rounds + 1):
                for name, env in versions:
                    run = tmp / f"{name.replace('/', '_')}-{round_}"
                    run.mkdir()
                    config = run / "watcher.toml"
                    watcher_config(config, base, n_feeds, run / "watcher.db")
                    for gen, cycle in ((0, "cold"), (1, "steady")):
                        http_get(f"{base}/_gen/{gen}")
                        print(f"N={n_feeds} {cycle} ({name}, round {round_}):", flush=True)
                        subprocess.run([sys.executable, __file__, "peer-timeline", str(config)],
                                       check=True, cwd=ROOT, env=env)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), Path(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "peer-reader":
        peer_reader(sys.argv[2], sys.argv[3], sys.argv[4] == "cold")
    elif len(sys.argv) > 1 and sys.argv[1] == "peer-feedparser":
        peer_feedparser(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "peer-core":
        peer_core(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "peer-watcher":
        peer_watcher(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "micro":
        micro(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    elif len(sys.argv) > 1 and sys.argv[1] == "timeline":
        tl = argparse.ArgumentParser(prog="ingest.py timeline")
        tl.add_argument("feeds", type=int, nargs="?", default=1000)
        tl.add_argument("--baseline-ref", metavar="REF",
                        help="also run src/ of this git ref, before this tree, in each round")
        tl.add_argument("--rounds", type=int, default=1)
        tl_args = tl.parse_args(sys.argv[2:])
        timeline(tl_args.feeds, tl_args.baseline_ref, tl_args.rounds)
    elif len(sys.argv) > 1 and sys.argv[1] == "peer-timeline":
        peer_timeline(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "fetch":
        fetch_bench(int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
                    int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    else:
        raise SystemExit(main(sys.argv[1:]))
