"""Full text: a hostile or huge article page cannot hold the poll. Extraction runs in worker
processes with a time limit per page and a deadline for all; the pages over them keep the feed's
text, and no worker outlives `enrich`. Pages are served over real HTTP from 127.0.0.1; the limits
are lowered here so that the tests take seconds."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime

import pytest

from watcher import fulltext
from watcher.config import FetchConfig, parse_config
from watcher.demo import shipped_watches_toml
from watcher.fulltext import enrich, extract_main_text
from watcher.match import CompiledWatch, compile_watch
from watcher.models import Article

from .articles import BORDER_PARAGRAPHS
from .feedserver import FeedServer, Route

NOW = datetime.now(UTC).replace(microsecond=0)
CFG = FetchConfig(allow_networks=("127.0.0.0/8",))
TEASER = "Armenia and Azerbaijan report shelling."
# trafilatura spends ~10 s of CPU on 300 KB of these (~150 s on 1 MB)
SLOW_PAGE = ("<html><body>" + "<div><p>a b c</p></div>" * (300_000 // 22)
             + "</body></html>").encode()


def normal_page(paragraphs: list[str] = BORDER_PARAGRAPHS) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return ("<html><head><title>Frontier</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Shelling resumes</h1>{body}</article></body></html>").encode()


def watches() -> list[CompiledWatch]:
    cfg = parse_config('[[feeds]]\nname = "f"\nurl = "http://127.0.0.1/"\n'
                       + shipped_watches_toml(), None, {})
    return [compile_watch(w) for w in cfg.watches]


def article(srv: FeedServer, path: str) -> Article:
    return Article(id=path, feed="f", guid=path, url=srv.url(path), canonical_url=srv.url(path),
                   title="Armenia-Azerbaijan border shelling", text=TEASER, published=NOW,
                   fetched=NOW)


@pytest.fixture
def worker_pids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the extraction workers `enrich` starts."""
    pids: list[int] = []
    start = fulltext._start_worker

    def recording(ctx: fulltext.ForkServerContext) -> fulltext._Worker:
        worker = start(ctx)
        assert worker.proc.pid is not None
        pids.append(worker.proc.pid)
        return worker

    monkeypatch.setattr(fulltext, "_start_worker", recording)
    return pids


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_page_over_its_time_falls_back_and_its_worker_is_killed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, worker_pids: list[int],
) -> None:
    monkeypatch.setattr(fulltext, "EXTRACT_TIMEOUT", 1.0)
    with FeedServer() as srv:
        srv.routes["/slow"] = Route(body=SLOW_PAGE, content_type="text/html")
        srv.routes["/story"] = Route(body=normal_page(), content_type="text/html; charset=utf-8")
        srv.routes["/story2"] = Route(body=normal_page(BORDER_PARAGRAPHS[::-1]),
                                      content_type="text/html")
        arts = [article(srv, "/slow"), article(srv, "/story"), article(srv, "/story2")]
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="watcher.fulltext"):
            out, stats = enrich(arts, watches(), CFG)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0  # not the ~10 s the page would take (nor minutes for a larger one)
    assert stats.fetched == 2 and stats.fallback == 1
    assert out[0].text == TEASER
    # an ordinary page gives what extraction in this process gives
    assert out[1].text == extract_main_text(normal_page().decode(), srv.url("/story"))
    assert out[2].text == extract_main_text(normal_page(BORDER_PARAGRAPHS[::-1]).decode(),
                                            srv.url("/story2"))
    assert f"full text of {srv.url('/slow')} unavailable (extraction took too long)" in caplog.text
    assert 1 <= len(worker_pids) <= fulltext.EXTRACT_WORKERS + 1  # (the killed one replaced)
    assert_gone(worker_pids)


def test_the_extraction_phase_has_a_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, worker_pids: list[int],
) -> None:
    monkeypatch.setattr(fulltext, "EXTRACT_TIMEOUT", 30.0)  # not reached: the deadline is
    monkeypatch.setattr(fulltext, "EXTRACT_DEADLINE", 2.0)
    with FeedServer() as srv:
        srv.routes["/story"] = Route(body=normal_page(), content_type="text/html")
        for i in range(4):
            srv.routes[f"/slow{i}"] = Route(body=SLOW_PAGE, content_type="text/html")
        arts = [article(srv, "/story")] + [article(srv, f"/slow{i}") for i in range(4)]
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="watcher.fulltext"):
            out, stats = enrich(arts, watches(), CFG)
        elapsed = time.monotonic() - started
    assert elapsed < 4.5  # 2 s for extraction, the rest for fetching and stopping workers
    assert stats.fetched == 1 and stats.fallback == 4
    assert out[0].text != TEASER and [a.text for a in out[1:]] == [TEASER] * 4
    assert caplog.text.count("(extraction took too long)") == 4
    assert len(worker_pids) == 2  # EXTRACT_WORKERS, none restarted
    assert_gone(worker_pids)


def test_a_page_over_the_page_cap_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    small, large = normal_page(), normal_page(BORDER_PARAGRAPHS * 20)
    monkeypatch.setattr(fulltext, "MAX_PAGE_BYTES", len(small) + 100)
    with FeedServer() as srv:
        srv.routes["/small"] = Route(body=small, content_type="text/html")
        srv.routes["/large"] = Route(body=large, content_type="text/html", etag=False)
        arts = [article(srv, "/small"), article(srv, "/large")]
        with caplog.at_level(logging.INFO, logger="watcher.fulltext"):
            out, stats = enrich(arts, watches(), CFG)
    assert stats.fetched == 1 and stats.fallback == 1
    assert out[0].text != TEASER and out[1].text == TEASER
    assert f"full text of {srv.url('/large')} unavailable" in caplog.text


def test_no_worker_is_started_without_a_page(worker_pids: list[int]) -> None:
    with FeedServer() as srv:  # every page missing
        out, stats = enrich([article(srv, "/a"), article(srv, "/b")], watches(), CFG)
    assert stats.fallback == 2 and [a.text for a in out] == [TEASER, TEASER]
    assert worker_pids == []


def test_a_callers_budget_bounds_extraction_too(
    monkeypatch: pytest.MonkeyPatch, worker_pids: list[int],
) -> None:
    """`budget`: the seconds of extraction a caller's run has left. Its clock runs while pages
    are extracted, not while they are fetched: a slow download costs the others nothing."""
    monkeypatch.setattr(fulltext, "EXTRACT_TIMEOUT", 30.0)
    with FeedServer() as srv:
        srv.routes["/slow"] = Route(body=SLOW_PAGE, content_type="text/html")
        srv.routes["/story"] = Route(body=normal_page(), content_type="text/html")
        srv.routes["/late"] = Route(body=normal_page(BORDER_PARAGRAPHS[::-1]),
                                    content_type="text/html", delay=2.0)
        started = time.monotonic()
        out, stats = enrich([article(srv, "/slow")], watches(), CFG, budget=1.5)
        elapsed = time.monotonic() - started
        assert elapsed < 3.5 and stats.fallback == 1 and out[0].text == TEASER
        assert 1.4 < stats.extract_seconds < 3.0
        assert_gone(worker_pids)
        # a page that took 2 s to arrive, beside a quick one: both extracted within 1.5 s
        out, stats = enrich([article(srv, "/story"), article(srv, "/late")], watches(), CFG,
                            budget=1.5)
        assert stats.fetched == 2 and stats.fallback == 0, stats
    started_before = len(worker_pids)
    with FeedServer() as srv:  # no time left: no page is fetched, no worker is started
        srv.routes["/story"] = Route(body=normal_page(), content_type="text/html")
        out, stats = enrich([article(srv, "/story")], watches(), CFG, budget=0.0)
        assert srv.requests == []
    assert stats.fallback == 1 and out[0].text == TEASER
    assert len(worker_pids) == started_before
