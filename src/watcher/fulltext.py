"""Full text for feeds that carry only a headline and a sentence.

For new articles of feeds with `full_text = true` that pass a cheap pre-filter (a watched entity in
the title or summary), watcher fetches the article page with the same politeness and deadline as
feeds and a smaller size cap (`MAX_PAGE_BYTES`), decodes it as a browser would (`decode_page`),
extracts the main text with trafilatura (navigation, related links, comments removed), then
removes publisher appeals with `clean.strip_boilerplate`.

Extraction runs in worker processes (at most `EXTRACT_WORKERS`, started only when a page was
fetched): trafilatura can spend minutes of CPU on a hostile or merely huge page (1 MB of small
`<div>`s: ~150 s), so a page gets `EXTRACT_TIMEOUT` seconds and all the pages of a call
`EXTRACT_DEADLINE`; a worker over its time is killed, and no worker outlives `enrich`. A page
that fails to fetch, is too large, takes too long, yields no main text or yields mostly
undecodable characters leaves the feed's own text in place; both outcomes are counted.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import logging
import multiprocessing
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from watcher.clean import strip_boilerplate
from watcher.config import FeedConfig, FetchConfig
from watcher.fetch import fetch_feeds
from watcher.match import CompiledWatch, score
from watcher.models import Article

__all__ = ["EXTRACT_DEADLINE", "EXTRACT_TIMEOUT", "EXTRACT_WORKERS", "MAX_PAGE_BYTES",
           "MAX_REPLACEMENT_SHARE", "MAX_TEXT", "FullTextStats", "decode_page", "enrich",
           "extract_main_text", "wants_full_text"]

log = logging.getLogger("watcher.fulltext")

MAX_TEXT = 100_000
# Bytes of an article page, at most (counted after gzip decoding, enforced while reading, like
# [fetch] max_bytes, which caps it further when smaller): a larger page keeps the feed's text.
MAX_PAGE_BYTES = 3 * 1024 * 1024
# Worker processes extracting pages at once, at most (never more than the pages to extract).
EXTRACT_WORKERS = 2
# Seconds (wall clock) the extraction of one page may take, from when its worker gets it; a page
# over it keeps the feed's text and its worker is killed. An ordinary page takes 0.01-0.3 s.
EXTRACT_TIMEOUT = 10.0
# Seconds (wall clock) all the extractions of one `enrich` call may take, starting the workers
# included: the pages not done by then keep the feed's text.
EXTRACT_DEADLINE = 30.0
# An extracted text with more than this share of U+FFFD (bytes its charset could not read) is
# not used: the feed's text is kept.
MAX_REPLACEMENT_SHARE = 0.05
# Bytes at the start of a page searched for a <meta> charset declaration.
PRESCAN_BYTES = 2048

TOO_SLOW = "extraction took too long"


@dataclass(frozen=True, slots=True)
class FullTextStats:
    fetched: int = 0  # pages fetched and used
    fallback: int = 0  # pages that failed to fetch or extract: the feed text was kept
    capped: int = 0  # candidates left out by [fetch] max_article_fetches
    refused: int = 0  # links refused by the address guard (counted in `fallback` too)
    extract_seconds: float = 0.0  # wall time spent extracting pages (the run's budget)

    def __add__(self, other: FullTextStats) -> FullTextStats:
        return FullTextStats(*(a + b for a, b in zip(astuple(self), astuple(other),
                                                      strict=True)))


def extract_main_text(html: str, url: str | None = None, max_chars: int = MAX_TEXT) -> str | None:
    """The article's main text from a whole page, or None when nothing usable is found.

    Runs trafilatura in this process, with no time limit: `enrich` calls it in worker processes
    that it kills when a page takes too long."""
    # imported here: trafilatura takes ~0.1 s to import, and most runs fetch no page
    import trafilatura

    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=False,
            include_images=False, include_links=False, favor_precision=True,
        )
    except Exception as exc:  # trafilatura raises assorted errors on broken pages
        log.debug("extraction failed for %s: %s", url, exc)
        return None
    if not text or not text.strip():
        return None
    cleaned = strip_boilerplate(text)
    return cleaned[:max_chars] if cleaned.strip() else None


def wants_full_text(article: Article, watches: Sequence[CompiledWatch]) -> bool:
    """Cheap pre-filter: a watched entity appears in the title or the feed's text."""
    return any(score(cw, article.title, article.text).entities for cw in watches)


def enrich(
    articles: Sequence[Article], watches: Sequence[CompiledWatch], cfg: FetchConfig,
    *, budget: float | None = None,
) -> tuple[list[Article], FullTextStats]:
    """Replace the text of promising articles with their page's main text, where that works.

    Pages are fetched with `cfg` (their size capped at `MAX_PAGE_BYTES`) and extracted in worker
    processes within `EXTRACT_TIMEOUT` seconds each and `EXTRACT_DEADLINE` seconds in all, or
    within `budget` seconds if fewer (what a caller's run has left: the clock runs while pages
    are extracted, not while they are fetched; none left, no page is fetched); the workers are
    gone when this returns. The stats say how long extraction took (`extract_seconds`)."""
    wanted = [a for a in articles if a.url and wants_full_text(a, watches)]
    capped = max(0, len(wanted) - cfg.max_article_fetches)
    wanted = wanted[: cfg.max_article_fetches]
    if not wanted:
        return list(articles), FullTextStats(capped=capped)
    if budget is not None and budget <= 0:
        log.info("full text: no extraction time left in this run; %d articles keep their "
                 "feed's text", len(wanted))
        return list(articles), FullTextStats(fallback=len(wanted), capped=capped)
    page_cfg = replace(cfg, max_bytes=min(cfg.max_bytes, MAX_PAGE_BYTES))
    results = fetch_feeds([FeedConfig(a.id, a.url) for a in wanted], {}, page_cfg, trusted=False)
    # (the bodies go to the workers undecoded: decoding is part of a page's time)
    jobs: list[_Job] = []
    pages: dict[int, int] = {}  # index in `wanted` -> index in `jobs`, for the pages fetched
    for k, res in enumerate(results):
        if res.ok and res.body:
            pages[k] = len(jobs)
            jobs.append((res.body, res.headers.get("content-type", ""), res.url,
                         cfg.max_article_chars))
    started = time.monotonic()
    extracted = (_extract_pages(jobs, None if budget is None else started + budget)
                 if jobs else [])
    spent = time.monotonic() - started if jobs else 0.0
    by_id: dict[str, str] = {}
    fallback = 0
    for k, (article, res) in enumerate(zip(wanted, results, strict=True)):
        if k in pages:
            text, why = extracted[pages[k]]
        else:
            text, why = None, res.error or "no page"
        if text and _mostly_undecodable(text):
            text, why = None, "mostly undecodable characters"
        if text and len(text) > len(article.text):
            by_id[article.id] = text
        else:
            fallback += 1
            log.info("full text of %s unavailable (%s); using the feed's text", article.url,
                     why if not text else "no main text longer than the feed's")
    out = [replace(a, text=by_id[a.id]) if a.id in by_id else a for a in articles]
    refused = sum(1 for r in results if r.error_kind == "refused")
    return out, FullTextStats(fetched=len(by_id), fallback=fallback, capped=capped,
                              refused=refused, extract_seconds=spent)


def _mostly_undecodable(text: str) -> bool:
    return text.count("\ufffd") > MAX_REPLACEMENT_SHARE * len(text)


# --- decoding ---

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"))
# The encodings of the WHATWG Encoding standard that Python has, by codec name (as
# `codecs.lookup(label).name` gives it): a label naming any other codec (a binary one such as
# "base64", "unicode_escape", "idna", "utf-7", ...) is not a page's charset and is ignored.
_PAGE_CODECS = frozenset({
    "utf-8", "utf-16-le", "utf-16-be", "cp866", "iso8859-2", "iso8859-3", "iso8859-4",
    "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-10", "iso8859-13",
    "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u", "mac-roman", "cp874",
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "mac-cyrillic", "gbk", "gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949",
})
# Labels Python does not know, and codecs the standard reads as a superset (as browsers do:
# a page labelled ISO-8859-1 or ASCII is read as windows-1252).
_LABELS = {"windows-874": "cp874", "x-mac-cyrillic": "mac-cyrillic", "iso-8859-8-i": "iso8859-8",
           "windows-31j": "cp932", "x-sjis": "cp932", "unicode-1-1-utf-8": "utf-8",
           "x-user-defined": "cp1252"}
_SUPERSETS = {"iso8859-1": "cp1252", "ascii": "cp1252", "iso8859-9": "cp1254",
              "iso8859-11": "cp874", "tis-620": "cp874", "gb2312": "gbk", "big5": "big5hkscs",
              "shift_jis": "cp932", "euc_kr": "cp949", "utf-16": "utf-16-le"}


def _codec(label: str) -> str | None:
    """The Python codec to read a page labelled `label` with, or None for no text encoding."""
    label = label.strip().strip("\"'").strip().lower()
    if not label or len(label) > 40:
        return None
    name = _LABELS.get(label)
    if name is None:
        try:
            name = codecs.lookup(label).name
        except (LookupError, ValueError):  # (ValueError: a NUL in the label)
            return None
        name = _SUPERSETS.get(name, name)
    return name if name in _PAGE_CODECS else None


def _http_charset(content_type: str) -> str | None:
    """The codec of the charset a Content-Type header names, if a page's charset."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return _codec(value)
    return None


_COMMENT = re.compile(rb"<!--.*?(?:-->|\Z)", re.S)
_META = re.compile(rb"""<meta[\s/]((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.I)
_ATTR = re.compile(rb"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]*))?""")
_CONTENT_CHARSET = re.compile(rb"""charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;"']+))""", re.I)


def _meta_charset(head: bytes) -> str | None:
    """The codec a `<meta charset>` or `<meta http-equiv="Content-Type" content="...;
    charset=...">` in `head` names (the first usable one), as HTML's prescan reads it: a
    UTF-16 label reads as UTF-8 (a page whose markup is ASCII is no UTF-16)."""
    for meta in _META.finditer(_COMMENT.sub(b"", head)):
        attrs: dict[bytes, bytes] = {}
        for m in _ATTR.finditer(meta.group(1)):
            attrs.setdefault(m.group(1).lower(), (m.group(2) or b"").strip(b"\"'"))
        label = attrs.get(b"charset")
        if label is None and attrs.get(b"http-equiv", b"").strip().lower() == b"content-type":
            found = _CONTENT_CHARSET.search(attrs.get(b"content", b""))
            if found:
                label = found.group(1) or found.group(2) or found.group(3)
        if label is None:
            continue
        name = _codec(label.decode("latin-1"))
        if name is not None:
            return "utf-8" if name.startswith("utf-16") else name
    return None


def decode_page(body: bytes, content_type: str) -> str:
    """An HTML page's text, decoded as HTML says a browser decodes it: by its byte order mark,
    else the charset of its Content-Type header (`content_type`), else a `<meta>` charset in its
    first `PRESCAN_BYTES` bytes, else as UTF-8. Labels name the encodings of the WHATWG standard
    (ISO-8859-1 and ASCII read as windows-1252); a label naming none is ignored. Bytes the
    encoding cannot read become U+FFFD."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(name, errors="replace")
    name = _http_charset(content_type) or _meta_charset(body[:PRESCAN_BYTES]) or "utf-8"
    return body.decode(name, errors="replace")


# --- extraction in worker processes ---

# A page to extract: (body, Content-Type header, URL, max_chars).
_Job = tuple[bytes, str, str | None, int]


def _extract_page(job: _Job) -> str | None:
    body, content_type, url, max_chars = job
    return extract_main_text(decode_page(body, content_type), url, max_chars)


def _serve(conn: Connection) -> None:
    """A worker: says it is ready, then extracts each page it is sent until its pipe closes."""
    importlib.import_module("trafilatura")  # before the clock of its first page starts
    conn.send(None)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        conn.send(_extract_page(job))


@dataclass(slots=True)
class _Worker:
    proc: BaseProcess
    conn: Connection
    since: float  # when it was started (not ready yet) or given its page
    ready: bool = False
    job: int | None = None  # the index of the page it is extracting


def _start_worker(ctx: ForkServerContext) -> _Worker:
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), name="watcher-fulltext", daemon=True)
    proc.start()
    child.close()
    return _Worker(proc, conn, time.monotonic())


def _stop_worker(worker: _Worker) -> None:
    worker.conn.close()
    worker.proc.kill()  # (an idle one holds nothing; a busy one may be stuck in C code)
    worker.proc.join()


def _extract_pages(jobs: Sequence[_Job], deadline: float | None = None,
                   ) -> list[tuple[str | None, str]]:
    """(main text or None, why None) of each page, extracted in worker processes: a page
    `EXTRACT_TIMEOUT` seconds after its (started) worker got it, or any `EXTRACT_DEADLINE`
    seconds after this is called (or at `deadline`, if sooner), is given up ("extraction took
    too long") and its worker killed. No worker is left running on return. If no worker can be
    started, or one dies before it is ready, the pages not extracted are given up."""
    out: list[tuple[str | None, str]] = [(None, TOO_SLOW)] * len(jobs)
    todo = deque(range(len(jobs)))
    deadline = min(time.monotonic() + EXTRACT_DEADLINE,
                   float("inf") if deadline is None else deadline)
    workers: list[_Worker] = []
    try:
        ctx = multiprocessing.get_context("forkserver")
        # (one forkserver serves the process: the parse pool's module is preloaded too)
        ctx.set_forkserver_preload(["watcher.parsepool", "watcher.fulltext"])
        while True:
            if time.monotonic() < deadline:
                for worker in workers:  # an idle worker takes the next page
                    if worker.ready and worker.job is None and todo:
                        worker.job, worker.since = todo.popleft(), time.monotonic()
                        # (a worker that died is seen as such below, and replaced)
                        with contextlib.suppress(OSError):
                            worker.conn.send(jobs[worker.job])
                # as many workers as pages waiting for one, up to EXTRACT_WORKERS
                while (len(workers) < EXTRACT_WORKERS
                       and sum(w.job is None for w in workers) < len(todo)):
                    workers.append(_start_worker(ctx))
            waiting = [w for w in workers if not w.ready or w.job is not None]
            if not waiting:
                break
            until = min(min(w.since for w in waiting) + EXTRACT_TIMEOUT, deadline)
            ready = wait([w.conn for w in waiting], timeout=max(0.0, until - time.monotonic()))
            now = time.monotonic()
            for worker in waiting:
                if worker.conn in ready:
                    try:
                        text = worker.conn.recv()
                    except (EOFError, OSError):  # it died (out of memory?)
                        workers.remove(worker)
                        _stop_worker(worker)
                        if worker.job is None:  # (starting again would fail again)
                            raise OSError("a worker process died while starting") from None
                        out[worker.job] = (None, "extraction failed: its process died")
                        continue
                    if worker.ready and worker.job is not None:
                        out[worker.job] = (text, "no main text found")
                        worker.job = None
                    worker.ready = True
                elif now >= worker.since + EXTRACT_TIMEOUT or now >= deadline:
                    workers.remove(worker)  # its page (if any) stays TOO_SLOW
                    _stop_worker(worker)
                    if not worker.ready and now < deadline:
                        raise OSError("a worker process did not start in time")
    except (OSError, ValueError) as exc:  # no process could be started
        log.warning("cannot start full-text extraction (%s: %s); the feeds' texts are kept",
                    type(exc).__name__, exc)
        out = [(None, "extraction unavailable") if why == TOO_SLOW else (text, why)
               for text, why in out]
    finally:
        for worker in workers:
            _stop_worker(worker)
    return out
