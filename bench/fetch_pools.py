"""Fetching many feeds spread over many hosts: one connection pool per host against one shared pool.

A child process serves N small feeds on H loopback addresses (127.0.0.1 ... 127.0.0.H, one
listener each: H hosts to watcher), each response after 50 ms; each feed answers 200 with a body
of about 20 KB, then 304 to a conditional request. In this process, `fetch_feeds` as it is now
(a pool per origin) and as it was at BASELINE (one pool for every host, up to `concurrency`
connections, loaded from git) each fetch every feed, cold (200) and steady (304), at several
`[fetch] concurrency` settings with `per_host` 4. Printed: wall and CPU time of this process per
cycle, and the ratios. CPU is what the fetch costs the cycle's main process beside parsing.

    .venv/bin/python bench/fetch_pools.py [--feeds 1000] [--hosts 50] [--concurrency 32,64,128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "e8cee53"  # src/watcher/fetch.py with one shared pool
LATENCY = 0.05


def serve(hosts: int, port_file: Path) -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            + b"".join(b"<item><title>item %d</title><link>https://n.example/%d</link>"
                       b"<description>" % (i, i) + b"x" * 180 + b"</description></item>"
                       for i in range(80))
            + b"</channel></rss>")
    etag = '"v1"'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                conditional = b"if-none-match: " + etag.encode() in raw.lower()
                await asyncio.sleep(LATENCY)
                if conditional:
                    head = f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0"
                    writer.write(head.encode() + b"\r\n\r\n")
                else:
                    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                            f"ETag: {etag}\r\nContent-Length: {len(body)}")
                    writer.write(head.encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        first = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        servers = [first] + [await asyncio.start_server(handle, f"127.0.0.{h}", port,
                                                        backlog=1024)
                             for h in range(2, hosts + 1)]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.rename(port_file)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def baseline_fetch() -> Any:
    source = subprocess.run(["git", "show", f"{BASELINE}:src/watcher/fetch.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("watcher_fetch_baseline")
    sys.modules[mod.__name__] = mod
    exec(compile(source, f"{BASELINE}:fetch.py", "exec"), mod.__dict__)
    return mod.fetch_feeds


def cycle(fetch: Any, feeds: list[Any], states: dict[str, Any], cfg: Any) -> tuple[float, float,
                                                                                  list[Any]]:
    t0, c0 = time.perf_counter(), time.process_time()
    results = fetch(feeds, states, cfg)
    return time.perf_counter() - t0, time.process_time() - c0, results


def main() -> None:
    from watcher.config import FeedConfig, FetchConfig
    from watcher.fetch import fetch_feeds
    from watcher.health import after_fetch, current_state

    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--concurrency", default="32,64,128")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fetch-pools-"))
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, __file__, "serve", str(args.hosts), str(port_file)])
    try:
        while not port_file.exists():
            if proc.poll() is not None:
                raise SystemExit("the feed server did not start")
            time.sleep(0.05)
        port = port_file.read_text()
        feeds = [FeedConfig(f"feed-{i}", f"http://127.0.0.{i % args.hosts + 1}:{port}/feed/{i}")
                 for i in range(args.feeds)]
        old = baseline_fetch()
        print(f"{args.feeds} feeds on {args.hosts} hosts, {LATENCY * 1000:.0f} ms per response, "
              f"per_host 4; load average {os.getloadavg()[0]:.2f}")
        print(f"{'concurrency':>11} {'cycle':>6} | {'pools per host':>20} | {'one pool':>20} | "
              f"{'CPU ratio':>9}")
        for conc in (int(c) for c in args.concurrency.split(",")):
            cfg = FetchConfig(concurrency=conc, per_host=4, deadline=60.0)
            rows = {}
            for name, fetch in (("now", fetch_feeds), ("base", old)):
                wall, cpu, res = cycle(fetch, feeds, {}, cfg)
                assert all(r.status == 200 for r in res), [r.error for r in res][:3]
                states = {f.name: after_fetch(current_state(f, None), r, _now())
                          for f, r in zip(feeds, res, strict=True)}
                wall2, cpu2, res2 = cycle(fetch, feeds, states, cfg)
                assert all(r.not_modified for r in res2), [r.error for r in res2][:3]
                rows[name] = ((wall, cpu), (wall2, cpu2))
            for k, label in ((0, "cold"), (1, "steady")):
                (nw, nc), (bw, bc) = rows["now"][k], rows["base"][k]
                print(f"{conc:>11} {label:>6} | wall {nw:5.2f} s CPU {nc:5.2f} s | "
                      f"wall {bw:5.2f} s CPU {bc:5.2f} s | {nc / bc:8.2f}x")
    finally:
        proc.kill()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
