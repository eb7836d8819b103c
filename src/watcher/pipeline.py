"""The poll cycle as plain functions: fetch -> ingest -> match -> enqueue -> deliver.

Each step is callable without Prefect (tests call them directly); `flows/poll_feeds.py` wires
them into a Prefect flow, one task per step. Steps take the store and config explicitly and return
frozen results.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from watcher import fulltext, health, lifecycle
from watcher.assess import Assessment, assess
from watcher.clean import excerpt
from watcher.config import Config
from watcher.dedupe import Decision, KnownItem, classify
from watcher.fetch import fetch_feeds
from watcher.fulltext import FullTextStats, enrich
from watcher.match import CompiledWatch, compile_watch
from watcher.models import (
    Alert,
    Article,
    CasualtyFigure,
    FeedState,
    FetchResult,
    Qualifier,
    SourcedFigure,
    TollRead,
    Watch,
)
from watcher.parsepool import Derived, Parsed, ParseJob, iter_parse_feeds
from watcher.routing import DeliveryRules, rules_for
from watcher.store import OutboxRow, Store, WindowRow
from watcher.stories import DocFeatures, StoryDoc, StoryError, StoryIndex, StoryTunables
from watcher.transports import (
    WEBHOOK_TS,
    ConsoleTransport,
    DeliveryError,
    PermanentError,
    SlackTransport,
    TransientError,
    WebhookTransport,
)

log = logging.getLogger("watcher")

MAX_RETRY_AFTER = 120.0  # longest 429 wait inside one run; longer waits leave the alert pending


Transport = SlackTransport | WebhookTransport | ConsoleTransport


# ---
# results


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    feed: str
    status: str  # ok | not_modified | unchanged | failed
    articles: int = 0
    new: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A new article recent enough to alert on, and the story it belongs to."""

    article: Article
    story_id: str
    # When the ingest step assessed the article against the config's watches (while the parse
    # workers went on): (watch name, verdict) for each watch, the verdict the `assess` when it
    # alerts, else only the `Look` an update reads (a few hundred bytes; the full one holds
    # every rule hit, kilobytes, and a cold poll has tens of thousands of candidates); a watch
    # not listed failed to score it (logged).
    # None: `match_step` assesses it.
    verdicts: tuple[tuple[str, Assessment | Look], ...] | None = None


class Look(NamedTuple):
    """What a story's update reads of a candidate's assessment (`match_step`)."""

    severity: str | None
    score: float
    terms: tuple[str, ...]  # `Assessment.matched_terms()`

    @classmethod
    def of(cls, verdict: Assessment) -> Look:
        return cls(verdict.severity, verdict.match.score, verdict.matched_terms())


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcomes: tuple[FeedOutcome, ...]
    candidates: tuple[Candidate, ...]
    new_articles: int
    duplicates: int
    seen: int
    full_text: FullTextStats = field(default_factory=FullTextStats)
    new_stories: int = 0
    capped: int = 0  # items left out: beyond [fetch] max_items in their feed


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    console: int = 0
    pending: int = 0
    failed: int = 0
    recovered: int = 0  # found already in Slack after an ambiguous earlier attempt
    held: int = 0  # quiet hours: kept for the digest
    folded: int = 0  # alerts folded into burst messages
    deferred: int = 0  # updates waiting for their channel's quiet hours to end (still pending)


@dataclass(frozen=True, slots=True)
class RunSummary:
    feeds: int
    skipped: int
    not_modified: int
    failed: int
    new_articles: int
    duplicates: int
    alerts: int
    new_stories: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    dry_run: bool = False
    full_text: FullTextStats = field(default_factory=FullTextStats)
    failed_feeds: tuple[FeedOutcome, ...] = ()
    feed_outcomes: tuple[FeedOutcome, ...] = ()
    items_capped: int = 0
    refused: int = 0  # fetches refused by the address guard (redirects and article links)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feeds": self.feeds,
            "skipped": self.skipped,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "new_articles": self.new_articles,
            "new_stories": self.new_stories,
            "duplicates": self.duplicates,
            "alerts": self.alerts,
            "sent": self.delivery.sent,
            "console": self.delivery.console,
            "pending": self.delivery.pending,
            "failed_alerts": self.delivery.failed,
            "held": self.delivery.held,
            "folded": self.delivery.folded,
            "deferred": self.delivery.deferred,
            "full_text_fetched": self.full_text.fetched,
            "full_text_fallback": self.full_text.fallback,
            "full_text_capped": self.full_text.capped,
            "items_capped": self.items_capped,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "failed_feeds": [{"feed": o.feed, "error": o.error} for o in self.failed_feeds],
        }


def render_summary(d: Mapping[str, Any]) -> str:
    """The short human summary printed at the end of a run, from `RunSummary.to_dict()`."""
    lines = [
        f"feeds polled: {d['feeds']} (not modified: {d['not_modified']}, failed: {d['failed']}"
        + (f", skipped: {d['skipped']}" if d.get("skipped") else "") + ")",
        f"articles: {d['new_articles']} new ({d.get('new_stories', 0)} new stories), "
        f"{d['duplicates']} duplicates",
    ]
    if d.get("full_text_fetched") or d.get("full_text_fallback") or d.get("full_text_capped"):
        capped = d.get("full_text_capped", 0)
        lines.append(f"full text: {d['full_text_fetched']} pages used, "
                     f"{d['full_text_fallback']} fell back to the feed's text"
                     + (f", {capped} not fetched (beyond [fetch] max_article_fetches)"
                        if capped else ""))
    if d.get("items_capped"):
        lines.append(f"items left out: {d['items_capped']} beyond [fetch] max_items in their feed")
    if d.get("refused"):
        lines.append(f"refused: {d['refused']} fetches to non-public addresses (redirects or "
                     "article links; see [fetch] allow_networks)")
    if d.get("dry_run"):
        lines.append(f"alerts: {d['alerts']} would be sent (dry run: nothing queued or sent)")
    else:
        lines.append(
            f"alerts: {d['alerts']} new; delivered {d['sent']} to Slack, {d['console']} to the "
            f"console; {d['pending']} pending, {d['failed_alerts']} failed"
            + (f", {d['held']} held for the digest (quiet hours)" if d.get("held") else "")
            + (f", {d['folded']} folded into burst messages" if d.get("folded") else "")
            + (f", {d['deferred']} updates deferred until quiet hours end"
               if d.get("deferred") else "")
        )
    failed = d.get("failed_feeds") or []
    for o in failed[:20]:
        lines.append(f"  failed feed {o['feed']}: {o['error']}")
    if len(failed) > 20:
        lines.append(f"  ... and {len(failed) - 20} more failed feeds")
    return "\n".join(lines)


# ---
# steps


@dataclass(slots=True)
class FetchBatch:
    """What `fetch_step` hands `ingest_step`. Ingesting it takes its results (`take_results`):
    the batch holds the bodies only until then, and `ingest_step` lets each go once parsed
    (a cold poll's bodies are tens of megabytes)."""

    results: Sequence[FetchResult]
    states: dict[str, FeedState]  # the state each fetched feed was fetched with
    skipped: tuple[tuple[str, str], ...] = ()  # (feed, why): disabled or backing off
    taken: bool = False

    def take_results(self) -> list[FetchResult]:
        """The results, handed over once: the batch keeps none of them. Raises ValueError when
        they were taken already (a batch is ingested once)."""
        if self.taken:
            raise ValueError("this FetchBatch was ingested already: fetch again for a new batch")
        results, self.results, self.taken = list(self.results), (), True
        return results


def fetch_step(cfg: Config, store: Store, now: datetime) -> FetchBatch:
    stored = store.feed_states()
    states: dict[str, FeedState] = {}
    due = []
    skipped: list[tuple[str, str]] = []
    for feed in cfg.feeds:
        state = health.current_state(feed, stored.get(feed.name))
        why = health.skip_reason(state, now)
        if why:
            skipped.append((feed.name, why))
            continue
        states[feed.name] = state
        due.append(feed)
    results = fetch_feeds(due, states, cfg.fetch)
    for r in results:
        if r.error:
            log.warning("feed %s: fetch failed (%s): %s", r.feed, r.error_kind, r.error)
    return FetchBatch(tuple(results), states, tuple(skipped))


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def ingest_step(cfg: Config, store: Store, batch: FetchBatch, now: datetime) -> IngestResult:
    """Parse fetched bodies, decide identity, store new articles and feed state. The changed
    bodies are parsed together (`parsepool.iter_parse_feeds`: on several processes when the
    batch is large), with the results each feed would have had from `parse_feed`; the parsed
    articles are deduplicated, grouped into stories and stored a chunk at a time while the rest
    is still being parsed."""
    outcomes: list[FeedOutcome | None] = [FeedOutcome(f, "skipped", error=why)
                                          for f, why in batch.skipped]
    new_states: list[FeedState | None] = []
    first_poll: set[str] = set()
    # changed bodies: (index in outcomes, index in new_states, state if parsed, previous state)
    pending: list[tuple[int, int, FeedState, FeedState, FetchResult]] = []
    jobs: list[ParseJob] = []
    for r in batch.take_results():  # (the batch keeps none: the bodies live on in `jobs`)
        prev = batch.states[r.feed]
        if prev.first_polled is None:
            first_poll.add(r.feed)
        if r.error or (r.body is None and not r.not_modified):
            err = f"{r.error_kind}: {r.error}"
            new_states.append(health.after_failure(prev, r.error_kind or "error", r.error or "",
                                                   r.status, now, r.retry_after))
            outcomes.append(FeedOutcome(r.feed, "failed", error=err))
            continue
        ok_state = health.after_fetch(prev, r, now)
        if r.permanent_url and r.permanent_url != prev.url:
            log.info("feed %s moved permanently to %s", r.feed, r.permanent_url)
        if r.not_modified or r.body is None:
            new_states.append(ok_state)
            outcomes.append(FeedOutcome(r.feed, "not_modified"))
            continue
        digest = _body_hash(r.body)
        if prev.body_hash == digest:
            new_states.append(replace(ok_state, body_hash=digest))
            outcomes.append(FeedOutcome(r.feed, "unchanged"))
            continue
        pending.append((len(outcomes), len(new_states), replace(ok_state, body_hash=digest),
                        prev, replace(r, body=None)))
        outcomes.append(None)
        new_states.append(None)
        jobs.append((r.feed, r.url, r.body, r.headers, now))
    r = None  # type: ignore[assignment]  # (the last result's body: held by `jobs` alone)

    known = store.ids_by_feed([job[0] for job in jobs])
    acc = _Ingested(first_poll=first_poll)
    chunk: list[tuple[tuple[int, int, FeedState, FeedState, FetchResult], Parsed]] = []
    chunk_items = 0

    def load_index() -> None:
        # while worker processes parse a large batch (one that will almost surely hold new
        # articles), this process loads the story index instead of waiting idle. (A batch
        # without a new article then still loaded it, and saves it below when the saved
        # snapshot was unusable or an hour old, as a run with new articles would.)
        _load_index_once(cfg, store, now, acc)

    # the workers also derive the articles' story features, the costliest part of grouping,
    # and their death tolls (stored with them, for the stories' updates to come); the generator
    # is the only holder of the jobs' bodies, and lets each go once parsed. From loading the
    # story index until its articles are stored, the run holds the ingest lock (`acc.locks`,
    # see `Store.ingest_lock`): concurrent runs decide stories one after the other.
    with acc.locks:
        parsing = iter_parse_feeds(jobs, known, max_items=cfg.fetch.max_items,
                                   max_chars=cfg.fetch.max_article_chars,
                                   story_features=STORY_TUNABLES, tolls=True, meanwhile=load_index)
        del jobs
        with closing(parsing) as parsed_feeds:
            for slot, parsed in zip(pending, parsed_feeds, strict=True):
                chunk.append((slot, parsed))
                chunk_items += len(parsed[0].articles)
                if chunk_items >= INGEST_CHUNK_ARTICLES:
                    _ingest_chunk(cfg, store, chunk, outcomes, new_states, now, acc)
                    _store_chunk(cfg, store, chunk, new_states, now, acc)
                    chunk, chunk_items = [], 0
            _ingest_chunk(cfg, store, chunk, outcomes, new_states, now, acc)
            _store_chunk(cfg, store, chunk, new_states, now, acc)
        acc.candidates.extend(acc.earlier or ())  # (after this run's, as they always came)
        # the states not saved with a chunk: the feeds not parsed (not modified, unchanged,
        # failed)
        store.save_feed_states([st for st in new_states if st is not None])
        if acc.index is not None and (acc.snapshot_lag is None
                                      or acc.snapshot_lag + acc.stored >= SNAPSHOT_BACKLOG):
            save_story_index(store, acc.index, now)

    final = [replace(o, new=acc.new_per_feed.get(o.feed, 0)) for o in outcomes if o is not None]
    return IngestResult(
        outcomes=tuple(final),
        candidates=tuple(acc.candidates),
        new_stories=acc.new_stories,
        new_articles=acc.new_articles,
        duplicates=acc.duplicates,
        seen=acc.seen,
        full_text=acc.full_text,
        capped=acc.capped,
    )


def _load_index_once(cfg: Config, store: Store, now: datetime, acc: _Ingested) -> StoryIndex:
    """The story index of `acc`, loaded once per run under the ingest lock (taken here, let go
    when `ingest_step` is done)."""
    if acc.index is None:
        acc.locks.enter_context(store.ingest_lock())
        acc.index, acc.snapshot_lag = _load_index(cfg, store, now)
    return acc.index


def _earlier_candidates(cfg: Config, store: Store, now: datetime) -> list[Candidate]:
    """The candidates an earlier run stored but did not get to match: it stopped before
    queueing their alerts (or failed half-way through its ingest). A run stored them at its
    start time (`fetched`); those of the last `[slack] claim_lease` seconds may belong to a run
    still going (this one's among them), and are left to it (as an alert claimed by a run is).
    Those now too old to alert on are marked matched."""
    lease = now - timedelta(seconds=cfg.slack.claim_lease)
    earlier = [(a, story) for a, story in store.pending_matches() if a.fetched < lease]
    if not earlier:
        return []
    cutoff = now - timedelta(hours=cfg.poll.max_age_hours)
    recent = [(a, story) for a, story in earlier if a.published >= cutoff]
    store.mark_matched([a.id for a, _ in earlier if a.published < cutoff])
    if recent:
        log.info("%d articles stored by an earlier run that stopped before matching them are "
                 "matched now", len(recent))
    return [Candidate(a, story) for a, story in recent]


def mark_matched_step(store: Store, ingest: IngestResult) -> None:
    """The run's candidates are matched and their alerts queued: no longer pending."""
    store.mark_matched([c.article.id for c in ingest.candidates])


def _store_chunk(
    cfg: Config, store: Store,
    chunk: Sequence[tuple[tuple[int, int, FeedState, FeedState, FetchResult], Parsed]],
    new_states: list[FeedState | None], now: datetime, acc: _Ingested,
) -> None:
    """Store what `_ingest_chunk` decided for a chunk: its articles (the candidates among them
    stored as waiting for matching, `mark_matched_step`) and its feeds' states (then cleared
    from `new_states`), in that order, while the parse workers go on. A run that fails
    half-way keeps the chunks it stored: the next run finds their items known and their feeds'
    bodies unchanged, parses the rest again, and matches the stored candidates
    (`_earlier_candidates`). The first call takes up the
    candidates an earlier run stored but did not get to match."""
    if acc.earlier is None:  # (before this run's first candidates are stored)
        acc.earlier = _earlier_candidates(cfg, store, now)
    if acc.rows:
        store.add_articles(acc.rows, pending=acc.pending, tolls=acc.tolls)
        acc.stored += len(acc.rows)
        acc.rows, acc.tolls, acc.pending = [], {}, set()
    slots = [slot[1] for slot, _ in chunk]
    store.save_feed_states([st for i in slots if (st := new_states[i]) is not None])
    for i in slots:
        new_states[i] = None  # (saved)


# Parsed articles are deduplicated and grouped into stories this many at a time, while the parse
# workers go on with the next feeds.
INGEST_CHUNK_ARTICLES = 2000


@dataclass
class _Ingested:
    """What `ingest_step` adds up over its chunks."""

    first_poll: set[str]  # feeds polled for the first time (their old items are not candidates)
    rows: list[tuple[Article, str, str | None]] = field(default_factory=list)  # to store
    tolls: dict[str, TollRead] = field(default_factory=dict)  # the rows' tolls
    pending: set[str] = field(default_factory=set)  # the rows' ids that are candidates
    stored: int = 0  # rows stored so far
    earlier: list[Candidate] | None = None  # an earlier run's (`_earlier_candidates`)
    watches: list[tuple[str, CompiledWatch]] | None = None  # compiled for the candidates
    urls: dict[str, KnownItem] = field(default_factory=dict)  # their canonical URLs
    index: StoryIndex | None = None  # loaded by the first chunk that needs it
    locks: ExitStack = field(default_factory=ExitStack)  # the ingest lock, once `index` is loaded
    # articles the saved snapshot lacked when `index` was loaded (None: no usable snapshot)
    snapshot_lag: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    new_per_feed: dict[str, int] = field(default_factory=dict)
    new_stories: int = 0
    new_articles: int = 0
    duplicates: int = 0
    seen: int = 0
    capped: int = 0
    full_text: FullTextStats = field(default_factory=FullTextStats)


def _ingest_chunk(
    cfg: Config, store: Store,
    chunk: Sequence[tuple[tuple[int, int, FeedState, FeedState, FetchResult], Parsed]],
    outcomes: list[FeedOutcome | None], new_states: list[FeedState | None], now: datetime,
    acc: _Ingested,
) -> None:
    """Identity and stories for the articles of some parsed feeds (see `ingest_step`), added to
    `acc`. The URLs of earlier chunks count as known, so an item seen twice in one run is still
    one item, wherever the chunks are cut."""
    parsed_articles: list[Article] = []
    derived: dict[str, tuple[Article, Derived]] = {}
    for (i_out, i_state, parsed_state, prev, r), (parsed, feats) in chunk:
        if parsed.capped:
            acc.capped += parsed.capped
            log.warning("feed %s: %d items beyond [fetch] max_items = %d left out", r.feed,
                        parsed.capped, cfg.fetch.max_items)
        if parsed.error_kind:
            log.warning("feed %s: %s", r.feed, parsed.error)
            new_states[i_state] = health.after_failure(prev, parsed.error_kind,
                                                       parsed.error or "", r.status, now)
            outcomes[i_out] = FeedOutcome(r.feed, "failed",
                                          error=f"{parsed.error_kind}: {parsed.error}")
            continue
        new_states[i_state] = parsed_state
        acc.seen += parsed.known  # entries the parser left out: the store already had them
        parsed_articles.extend(parsed.articles)
        if feats:  # derived by the parse step (see `iter_parse_feeds`)
            derived.update((a.id, (a, f)) for a, f in zip(parsed.articles, feats, strict=True))
        outcomes[i_out] = FeedOutcome(r.feed, "ok", articles=len(parsed.articles))
    if not parsed_articles:
        return

    # (ids are per feed and a feed is in one chunk: earlier chunks never hold these ids)
    known_ids = store.known_ids([a.id for a in parsed_articles])
    unknown = [a for a in parsed_articles if a.id not in known_ids]
    urls = list({a.canonical_url for a in unknown})
    known_urls = {url: acc.urls[url] for url in urls if url in acc.urls}
    known_urls.update({url: KnownItem(k.id, k.story_id) for url, k in store.by_canonical_url(
        [u for u in urls if u not in known_urls]).items()})
    decisions = classify(parsed_articles, known_ids, known_urls)
    decisions, acc.full_text = _full_text(cfg, decisions, acc.full_text)
    decisions = _assign_stories(cfg, store, decisions, now, acc, derived)
    none_read = (lifecycle.toll_rules(), None, None)  # most articles': held once, not per row
    for d in decisions:
        if d.kind != "seen":
            acc.rows.append((d.article, d.story_id, d.duplicate_of))
            got = derived.get(d.article.id)  # (for that very article: see `_assign_stories`)
            toll = got[1].toll if got is not None and got[0] is d.article else None
            if toll is None:
                toll = lifecycle.read_toll(d.article)
            acc.tolls[d.article.id] = none_read if toll == none_read else toll
            if d.article.canonical_url and d.article.canonical_url not in acc.urls:
                acc.urls[d.article.canonical_url] = KnownItem(d.article.id, d.story_id)
        if d.kind in ("new", "joined"):
            acc.new_per_feed[d.article.feed] = acc.new_per_feed.get(d.article.feed, 0) + 1
            acc.new_articles += 1
            if _recent_enough(cfg, d.article, acc.first_poll, now):
                if acc.watches is None:
                    acc.watches = [(w.name, compile_watch(w)) for w in cfg.watches]
                acc.candidates.append(Candidate(d.article, d.story_id, tuple(
                    (name, v if v.alerts else Look.of(v)) for name, cw in acc.watches
                    if (v := _assess(cw, d.article)) is not None)))
                acc.pending.add(d.article.id)
        acc.new_stories += d.kind == "new"
        acc.duplicates += d.kind == "duplicate"
        acc.seen += d.kind == "seen"


def _full_text(
    cfg: Config, decisions: list[Decision], spent: FullTextStats | None = None,
) -> tuple[list[Decision], FullTextStats]:
    """Fetch page text for new items of full_text feeds, before stories and matching see them.
    `spent`: what earlier chunks of this run fetched and how long they extracted; `[fetch]
    max_article_fetches` is per run, as is `fulltext.EXTRACT_DEADLINE`, the time page
    extraction may take. Returns the decisions and the run's stats so far."""
    spent = spent or FullTextStats()
    feeds = {f.name for f in cfg.feeds if f.full_text}
    todo = [d.article for d in decisions if d.kind == "new" and d.article.feed in feeds]
    if not todo or not cfg.watches:
        return decisions, spent
    budget = max(0, cfg.fetch.max_article_fetches - spent.fetched - spent.fallback)
    enriched, stats = enrich(todo, [compile_watch(w) for w in cfg.watches],
                             replace(cfg.fetch, max_article_fetches=budget),
                             budget=fulltext.EXTRACT_DEADLINE - spent.extract_seconds)
    if stats.capped:
        log.info("full text: %d more articles not fetched this run ([fetch] max_article_fetches "
                 "= %d); they keep their feed's text", stats.capped,
                 cfg.fetch.max_article_fetches)
    by_id = {a.id: a for a in enriched}
    return ([replace(d, article=by_id.get(d.article.id, d.article)) for d in decisions],
            spent + stats)


def _assign_stories(
    cfg: Config, store: Store, decisions: list[Decision], now: datetime, acc: _Ingested,
    derived: Mapping[str, tuple[Article, Derived]] | None = None,
) -> list[Decision]:
    """Story grouping: each new article joins a story of the window or opens one. The index's
    state lives in the store (`load_story_index`), so it survives restarts and is shared by every
    run; a re-published copy of an article (a revision) counts as a duplicate. The index is
    `acc.index`: the one an earlier chunk of this run loaded, else it is loaded here (and left
    there for the caller to save once the articles are stored: a snapshot never runs ahead of
    the store). `derived`: article id -> (the article, what the parse step derived from it);
    its story features are used for that very article only (a full-text fetch replaces an
    article, and its features are derived again)."""
    if not any(d.kind == "new" for d in decisions):
        return decisions
    index = _load_index_once(cfg, store, now, acc)
    derived = derived or {}

    def features_of(art: Article) -> DocFeatures | None:
        got = derived.get(art.id)
        return got[1].features if got is not None and got[0] is art else None

    out: list[Decision] = []
    for d in decisions:
        if d.kind == "duplicate":  # a copy under a known URL: held as a rebuild would hold it
            original = index.assignment(d.duplicate_of) if d.duplicate_of else None
            if original is not None:  # in this batch: its story was only decided just now
                d = replace(d, story_id=original.story_id)
            index.restore(_story_doc(d.article), d.story_id, d.duplicate_of,
                          features=features_of(d.article))
        if d.kind != "new":
            out.append(d)
            continue
        got = index.assign(_story_doc(d.article), features=features_of(d.article))
        # (Decision(...) rather than dataclasses.replace: a cold poll makes tens of thousands)
        if got.kind == "joined":
            out.append(Decision(d.article, "joined", got.story_id, d.duplicate_of))
        elif got.kind == "revision":
            out.append(Decision(d.article, "duplicate", got.story_id, got.duplicate_of))
        else:
            out.append(d)
    return out


def load_story_index(cfg: Config, store: Store, now: datetime) -> StoryIndex:
    """The story index as of now: the snapshot the last run saved, brought in line with the
    articles stored in the window (the store is the truth: articles another run added are
    restored into it, pruned ones dropped), or, without a usable snapshot, rebuilt from the
    window's articles, read in batches (`Store.iter_window`) so their texts are not all held at
    once."""
    return _load_index(cfg, store, now)[0]


def _load_index(cfg: Config, store: Store, now: datetime) -> tuple[StoryIndex, int | None]:
    """`load_story_index`, and how many articles of the window the snapshot lacked (restored
    from the store); None when it is to be saved this run whatever the count: there was no
    usable snapshot, or it was saved more than `SNAPSHOT_MAX_AGE` ago (the stories that left the
    window since are remembered only by a snapshot that held their articles)."""
    window = timedelta(hours=cfg.stories.window_hours)
    index: StoryIndex | None = None
    saved = store.story_index_saved()  # (None: no snapshot was saved)
    if saved is not None:
        # read part by part: the snapshot (tens of megabytes) is never whole in memory
        with closing(store.iter_story_index()) as parts:
            try:
                index = StoryIndex.load_parts(parts, window=window)
            except StoryError as exc:
                log.info("story index snapshot not used (%s); rebuilding it from the store", exc)
    if index is None:
        index = StoryIndex(window=window)
        for r in store.iter_window(now - window):
            index.restore(_window_doc(r), r.story_id, r.duplicate_of)
        index.expire(now)
        return index, None
    index.expire(now)
    stored = store.window_assignments(now - window)
    held = index.assignments()
    if held != stored:  # (one comparison in C when they agree: the snapshot was current)
        for doc_id, got in held.items():
            if stored.get(doc_id) != got:
                # pruned, or decided otherwise by a concurrent run whose insert came first
                index.remove(doc_id)
    missing = stored.keys() - index.doc_ids()
    if missing:
        for r in store.window_rows(sorted(missing)):
            index.restore(_window_doc(r), r.story_id, r.duplicate_of)
        index.expire(now)
    if saved is None or now - saved >= SNAPSHOT_MAX_AGE:
        return index, None
    return index, len(missing)


# A run saves the index snapshot once the articles the saved one lacks (restored into it by every
# run that loads it, at ~0.5 ms each) reach this many; saving costs ~1 s per 60,000 articles.
SNAPSHOT_BACKLOG = 2000
# ... or once it is this old, however few articles it lacks.
SNAPSHOT_MAX_AGE = timedelta(hours=1)
# The tunables of the pipeline's index (the parse workers derive story features with them):
# the index's defaults, the ones `python -m watcher.eval stories` measures. Among them, how long
# the index remembers a story whose articles all left the window (a follow-up weeks later still
# joins it) and how many such stories at most (what it holds beyond the window).
STORY_TUNABLES = StoryTunables()


def save_story_index(store: Store, index: StoryIndex, now: datetime) -> None:
    """Save the index for the next run. It is a cache: a failure costs the next run a rebuild
    from the store (or the restore of what the older snapshot lacks), nothing else."""
    try:
        store.save_story_index(index.dump_parts(), len(index), now)
    except Exception as exc:
        log.warning("story index snapshot not saved (%s: %s); the next run rebuilds it",
                    type(exc).__name__, exc)


def _window_doc(r: WindowRow) -> StoryDoc:
    return StoryDoc(id=r.id, title=r.title, text=r.text, published=r.published, source=r.feed,
                    canonical_url=r.canonical_url)


def _story_doc(art: Article) -> StoryDoc:
    return StoryDoc(id=art.id, title=art.title, text=art.text, published=art.published,
                    source=art.feed, canonical_url=art.canonical_url)


def _recent_enough(cfg: Config, art: Article, first_poll: set[str], now: datetime) -> bool:
    hours = cfg.poll.recent_hours if art.feed in first_poll else cfg.poll.max_age_hours
    return art.published >= now - timedelta(hours=hours)


def ops_story_id(feed: str) -> str:
    """The story id of a feed's health alerts: "ops:" and the feed's name, or (a name too long
    for the 64 characters of a story id) the name's start and a digest of it."""
    story_id = f"ops:{feed}"
    if len(story_id) <= 64:
        return story_id
    digest = hashlib.sha256(feed.encode("utf-8", "surrogatepass")).hexdigest()
    return f"ops:{feed[:27]}~{digest[:32]}"


def alert_id_for(watch: str, story_id: str) -> str:
    return hashlib.sha256(f"{watch}\0{story_id}".encode()).hexdigest()[:24]


def match_step(cfg: Config, store: Store, candidates: Sequence[Candidate]) -> list[Alert]:
    """Assess each candidate against every watch. A story alerts once per watch: its first
    alerting article makes the story alert (the parent message). Its later articles are compared
    with what the channel was told (`watcher.lifecycle`): a higher severity or a new or higher
    death toll makes an update (a reply in the parent's thread, broadcast when the severity
    rose), and so does another outlet reporting it. Alert ids are derived from the story and the
    change, so concurrent runs agree."""
    if not candidates or not cfg.watches:
        return []
    compiled = [(w, compile_watch(w)) for w in cfg.watches]
    story_ids = list(dict.fromkeys(c.story_id for c in candidates))
    sources = store.story_sources(story_ids)
    # stories with a story alert (a parent) for a watch; one pruned by retention starts over
    history = {k: v for k, v in store.story_alerts(story_ids).items()
               if any(a.kind == "story" for a in v)}
    out: list[Alert] = []
    follow_ups: dict[tuple[str, str], list[Candidate]] = {}
    for cand in candidates:
        art = cand.article
        for watch, cw in compiled:
            key = (watch.name, cand.story_id)
            if key in history:
                follow_ups.setdefault(key, []).append(cand)
                continue
            verdict = _verdict(cand, watch.name, cw)
            if verdict is None or verdict.severity is None:
                continue
            report = verdict.casualties
            parent = Alert(
                alert_id=alert_id_for(watch.name, cand.story_id), story_id=cand.story_id,
                watch=watch.name,
                channel=watch.channel, severity=verdict.severity,
                score=round(verdict.match.score, 2), title=art.title, url=art.url,
                source=art.feed, published=art.published, excerpt=excerpt(art.text, 300),
                matched_terms=verdict.matched_terms(),
                killed=report.killed if report else None,
                injured=report.injured if report else None,
                sources_count=max(1, sources.get(cand.story_id, 1)),
            )
            history[key] = [parent]
            out.append(parent)
    # (as announced: a follow-up of this very run compares its toll with the parent's)
    out = _with_story_tolls(store, out)
    history.update({(a.watch, a.story_id): [a] for a in out})
    if follow_ups:
        out.extend(_story_updates(cfg, store, compiled, follow_ups, history, sources))
    return out + _escalation_copies(cfg, out)


def _with_story_tolls(store: Store, parents: list[Alert]) -> list[Alert]:
    """New story alerts with their story's current toll where an earlier article of the story
    (one that did not alert) reported a higher one than the alerting article, and the tolls by
    source where sources disagree: the message shows what `watcher tolls` shows."""
    if not parents:
        return parents
    tolls = _story_tolls(store, list({a.story_id for a in parents}))
    out = []
    for alert in parents:
        series = tolls.series.get(alert.story_id, [])
        top = lifecycle.current_toll(series)
        if top is not None and (alert.killed is None or top.count > alert.killed.count):
            killed = tolls.report(store, top)[1]
            if killed is not None:
                alert = replace(alert, killed=killed)
        out.append(replace(alert, reports=lifecycle.by_source(series)) if series else alert)
    return out


def _escalation_copies(cfg: Config, alerts: Sequence[Alert]) -> list[Alert]:
    """A copy of each story alert or update at its watch's highest severity for the watch's
    `escalation_channel`: one per story (its id is derived from the story, so a story escalated
    twice, or by two runs, is posted there once)."""
    out: list[Alert] = []
    seen: set[str] = set()
    for watch in cfg.watches:
        if not watch.escalation_channel or not watch.severities:
            continue
        top = max(watch.severities, key=lambda s: s.threshold).name
        for a in alerts:
            if a.watch != watch.name or a.kind not in ("story", "update") or a.severity != top:
                continue
            alert_id = alert_id_for(watch.name, f"{a.story_id}\0escalation")
            if alert_id in seen:
                continue
            seen.add(alert_id)
            out.append(replace(a, alert_id=alert_id, channel=watch.escalation_channel,
                               kind="escalation", parent_id=None, broadcast=False))
    return out


def _verdict(cand: Candidate, watch: str, cw: CompiledWatch) -> Assessment | None:
    """The candidate's `_assess` for this watch when it alerts (None: it does not, or failed
    to score)."""
    got = _judged(cand, watch, cw)
    return got if isinstance(got, Assessment) and got.alerts else None


def _look(cand: Candidate, watch: str, cw: CompiledWatch) -> Look | None:
    """`Look.of` the candidate's `_assess` for this watch, alerting or not (None: it failed
    to score)."""
    got = _judged(cand, watch, cw)
    return Look.of(got) if isinstance(got, Assessment) else got


def _judged(cand: Candidate, watch: str, cw: CompiledWatch) -> Assessment | Look | None:
    """The candidate's verdict for this watch: the one the ingest step kept, else `_assess`
    made now."""
    if cand.verdicts is None:
        return _assess(cw, cand.article)
    return next((got for name, got in cand.verdicts if name == watch), None)


def _assess(cw: CompiledWatch, art: Article) -> Assessment | None:
    """`assess`, but an article that breaks it is logged and skipped: one bad text never costs
    the run its other alerts."""
    try:
        return assess(cw, art.title, art.text)
    except Exception:
        log.exception("watch %s: cannot score article %s (%s); skipped", cw.watch.name, art.id,
                      art.url)
        return None


def _story_updates(
    cfg: Config, store: Store, compiled: Sequence[tuple[Watch, CompiledWatch]],
    follow_ups: Mapping[tuple[str, str], Sequence[Candidate]],
    history: Mapping[tuple[str, str], Sequence[Alert]], sources: Mapping[str, int],
) -> list[Alert]:
    """Updates for stories that already have a story alert (see `match_step`)."""
    watches = {w.name: (w, cw) for w, cw in compiled}
    series_of = _story_tolls(store, list({story for _, story in follow_ups}))
    out: list[Alert] = []
    # One look per (watch, story) and run, at the story as it now stands: its new articles'
    # highest severity and every toll its articles reported.
    for (watch_name, story_id), cands in follow_ups.items():
        watch, cw = watches[watch_name]
        names = [s.name for s in watch.severities]
        alerts = list(history[(watch_name, story_id)])
        state = lifecycle.announced(alerts, names)
        if state is None:
            continue
        parent = next(a for a in alerts if a.alert_id == state.parent_id)
        verdicts = [(v, c.article) for c in cands if (v := _look(c, watch_name, cw)) is not None]
        if not verdicts:
            continue
        rank = {n: i for i, n in enumerate(names)}
        verdict, art = max(verdicts, key=lambda v: rank.get(v[0].severity or "", -1))
        series = series_of.series.get(story_id, [])
        change = lifecycle.change(state, verdict.severity, names, series,
                                  min_increase=watch.toll_update_min,
                                  min_percent=watch.toll_update_percent)
        n_sources = max(1, sources.get(story_id, 1))
        top = lifecycle.current_toll(series)
        shown = _latest_killed(alerts)  # the toll the story's messages announced
        reported: Article | None = None
        if top is not None and (shown is None or top.count > shown.count):
            # a higher toll (news when `change` says so; else below the update threshold, and
            # shown as it stands, as `watcher tolls` shows it), with the sentence reporting it
            reported, killed = series_of.report(store, top)
            shown = killed or shown
        if change is not None:
            severity = names[change.severity_rank] if change.severity_rank >= 0 else \
                parent.severity
            # (`change.toll`, a rise, is `top`)
            if change.toll is not None and "severity" not in change.reasons and reported:
                art = reported  # the report of the new toll is the news
            out.append(replace(
                parent,
                alert_id=alert_id_for(watch_name, f"{story_id}\0update\0{severity}\0"
                                      f"{change.toll.count if change.toll else ''}"),
                kind="update", parent_id=parent.alert_id, change=change.line,
                broadcast=change.broadcast, severity=severity,
                score=round(max(parent.score, verdict.score), 2), title=art.title,
                url=art.url, source=art.feed, published=art.published,
                excerpt=excerpt(art.text, 300), matched_terms=verdict.terms,
                killed=shown, injured=None,
                sources_count=n_sources, reports=lifecycle.by_source(series),
            ))
        elif n_sources > state.sources:  # another outlet reports the story: a reply, no ping
            v, newest = max(verdicts, key=lambda va: va[1].published)
            # the feeds not counted when the story's messages last gave a count: those that
            # came after the first `state.sources` (a copy under a known URL counts, and may
            # have come from a feed that had no article of its own to alert on)
            new_feeds = store.story_feeds([story_id]).get(story_id, [])[state.sources:]
            named = _names_within(new_feeds, noun="feeds") if new_feeds else newest.feed
            out.append(replace(
                parent, alert_id=alert_id_for(watch_name, f"{story_id}\0sources\0{n_sources}"),
                kind="update", parent_id=parent.alert_id,
                change=f"new source{'s' if len(new_feeds) > 1 else ''}: {named} "
                       f"({n_sources} sources)",
                severity=names[state.severity_rank] if state.severity_rank >= 0 else
                parent.severity, title=newest.title, url=newest.url, source=newest.feed,
                published=newest.published, excerpt=excerpt(newest.text, 300),
                matched_terms=v.terms, score=parent.score,
                killed=shown, injured=None, sources_count=n_sources,
                reports=lifecycle.by_source(series), broadcast=False,
            ))
    return out


@dataclass(frozen=True, slots=True)
class _Tolls:
    series: Mapping[str, list[SourcedFigure]]  # story id -> its tolls, oldest first
    ids: Mapping[SourcedFigure, str]  # a toll -> the id of the article that reported it
    # the articles read back by `report` (id -> the article, None when no longer stored)
    read: dict[str, Article | None] = field(default_factory=dict)

    def report(self, store: Store, figure: SourcedFigure,
               ) -> tuple[Article | None, CasualtyFigure | None]:
        """The stored article that reported `figure` (read once), and its toll as the casualty
        rules read it, with the sentence that states it (None: it states none now)."""
        aid = self.ids.get(figure)
        if aid is None:
            return None, None
        if aid not in self.read:
            self.read[aid] = store.articles_by_id([aid]).get(aid)
        article = self.read[aid]
        found = lifecycle.toll_of(article) if article is not None else None
        return article, found[1] if found is not None else None


# Articles whose toll is read at once (their texts are held meanwhile).
TOLL_BATCH = 2000


def _story_tolls(store: Store, story_ids: Sequence[str]) -> _Tolls:
    """The death tolls the stories' stored articles report (`lifecycle.toll_of`). An article's
    toll is read once and stored with it: when it is stored (`ingest_step`), or else here the
    first time it is needed (`Store.save_tolls`). Only articles not read yet, or read by other
    rules (`lifecycle.toll_rules`), have their text read back and scanned again."""
    rules = lifecycle.toll_rules()
    stored = store.story_tolls(story_ids, rules=rules)
    stale = [t.id for ts in stored.values() for t in ts if t.rules != rules]
    read: dict[str, tuple[int | None, str | None]] = {}
    for start in range(0, len(stale), TOLL_BATCH):
        arts = store.articles_by_id(stale[start:start + TOLL_BATCH])
        for aid, art in arts.items():
            read[aid] = lifecycle.read_toll(art)[1:]
        try:
            store.save_tolls({aid: read[aid] for aid in arts}, rules)
        except Exception as exc:  # a cache: the next run reads these tolls again
            log.warning("article tolls not saved (%s: %s); the next run reads them again",
                        type(exc).__name__, exc)
    series: dict[str, list[SourcedFigure]] = {}
    ids: dict[SourcedFigure, str] = {}
    for story_id, tolls in stored.items():
        figs = series.setdefault(story_id, [])
        for t in tolls:
            if t.id not in read and t.rules != rules:
                continue  # an article pruned since it was listed
            killed, qualifier = read.get(t.id, (t.killed, t.qualifier))
            if killed is None:
                continue
            fig = SourcedFigure("killed", killed, cast(Qualifier, qualifier), t.feed, t.url,
                                t.published)
            figs.append(fig)
            ids[fig] = t.id
    return _Tolls(series, ids)


def _latest_killed(alerts: Sequence[Alert]) -> CasualtyFigure | None:
    """The highest current toll the story's alerts announced."""
    figs = [a.killed for a in alerts if a.killed is not None and a.killed.current]
    return max(figs, key=lambda f: f.count) if figs else None


def ops_step(cfg: Config, store: Store, now: datetime) -> list[Alert]:
    """Feed-health alerts: one when a feed keeps failing or goes silent, one when it recovers.
    They go to `[ops] channel` through the same outbox; without one they are only logged."""
    states = store.feed_states()
    since = now - timedelta(days=30)
    last = store.last_published(since)
    # A feed that published within `min_silence_hours` is not silent whatever its cadence: its
    # latest time decides as its whole history would. Only the others' histories are read.
    quiet = [f for f, t in last.items() if now - t > timedelta(hours=cfg.ops.min_silence_hours)]
    published = store.publish_times(since, quiet) if quiet else {}
    out: list[Alert] = []
    for feed in cfg.feeds:
        state = states.get(feed.name)
        if state is None:
            continue
        history = published.get(feed.name) or ([last[feed.name]] if feed.name in last else [])
        new_state, event = health.ops_check(state, history, now, cfg.ops)
        if event is None:
            continue
        # compare-and-set: of overlapping runs that saw the same change, one reports it
        if not store.set_ops_alert(feed.name, state.ops_alert, new_state.ops_alert):
            continue
        level = logging.INFO if event.kind == "recovered" else logging.WARNING
        log.log(level, "feed %s %s: %s", event.feed, event.kind, event.message)
        if cfg.ops.channel:
            out.append(Alert(
                alert_id=alert_id_for("ops", f"{event.feed}\0{event.kind}\0{now.isoformat()}"),
                story_id=ops_story_id(event.feed), watch="feed-health", channel=cfg.ops.channel,
                severity="ops", score=0.0,
                title=f"Feed {event.feed} {event.kind}: {event.message}"[:500],
                url=new_state.url, source=event.feed, published=now, excerpt=event.message,
                matched_terms=(), killed=None, injured=None,
            ))
    return out


def enqueue_step(store: Store, batch: Sequence[Alert], now: datetime) -> list[Alert]:
    return store.enqueue(batch, now)


def deliver_step(
    store: Store,
    transport: Transport,
    *,
    max_attempts: int = 3,
    min_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    claim_lease: float = 300.0,
    rules: DeliveryRules | None = None,
) -> DeliveryReport:
    """Send every pending alert in the outbox.

    Order of events per alert: the attempt is recorded (committed) before the network call; the
    alert is marked sent with Slack's ts after it. An alert with an earlier attempt may already be
    in Slack (a lost response, a crash): it is looked up by its alert_id first and posted only if
    absent. 429 waits for Retry-After (up to MAX_RETRY_AFTER); other transient errors are retried
    up to `max_attempts` in this run and otherwise left pending for the next run; permanent errors
    mark the alert failed. Each alert is claimed first (see `Store.claim`): concurrent runs never
    send the same alert.

    With `rules` (see `watcher.routing`): an alert below its watch's highest severity for a
    channel in its quiet hours is held (status "held") for the digest, with its updates; more
    than `rules.burst_limit` new lower-severity story alerts for one channel are folded (status
    "folded") into one burst message listing them.
    """
    rows = store.pending()
    folded = _fold_bursts(store, rules, rows, clock()) if rules and rules.burst_limit else 0
    if folded:
        rows = store.pending()
    counts = {"sent": 0, "console": 0, "pending": 0, "failed": 0, "recovered": 0, "elsewhere": 0,
              "held": 0, "folded": folded, "deferred": 0}
    last_post: dict[str, float] = {}
    owner = uuid.uuid4().hex
    # stories first: an update needs its story's message (often queued in the same run)
    rows = [r for r in rows if r.alert.kind == "story"] + [r for r in rows
                                                          if r.alert.kind != "story"]
    lease = timedelta(seconds=claim_lease)
    claim = _Claim(owner, lease)
    for row in rows:
        if not store.claim(row.alert.alert_id, owner, clock(), lease):
            counts["elsewhere"] += 1  # another run is delivering it right now
            continue
        # the attempts as they are now, not as listed when this run began: another run may have
        # tried it meanwhile, and a message it may have posted must be looked up first
        attempts = store.attempts_of(row.alert.alert_id)
        if attempts != row.attempts:
            row = replace(row, attempts=attempts)
        if rules is not None and rules.held(row.alert, clock()):
            store.mark(row.alert.alert_id, "held", clock(), error="quiet hours: in the digest")
            status = "held"
        elif rules is not None and rules.deferred(row.alert, clock()):
            store.mark(row.alert.alert_id, "pending", clock(),
                       error="quiet hours: sent when they end")
            status = "deferred"
        elif row.alert.kind == "update":
            status = _deliver_follow_up(store, transport, row, max_attempts, min_interval,
                                        last_post, sleep, clock, claim=claim)
        else:
            status = _deliver_one(store, transport, row, max_attempts, min_interval, last_post,
                                  sleep, clock, claim=claim)
        counts[status] += 1
        if status == "recovered":
            counts["sent"] += 1
    return DeliveryReport(sent=counts["sent"], console=counts["console"],
                          pending=counts["pending"], failed=counts["failed"],
                          recovered=counts["recovered"], held=counts["held"],
                          folded=counts["folded"], deferred=counts["deferred"])


def _names_within(names: Sequence[str], limit: int = 200, noun: str = "watches") -> str:
    """The names joined by commas, within `limit` characters (an alert's `watch` column): as
    many as fit, then how many more (none fits: how many `noun`)."""
    joined = ", ".join(names)
    if len(joined) <= limit:
        return joined
    for k in range(len(names) - 1, 0, -1):
        text = f"{', '.join(names[:k])} (+{len(names) - k} more)"
        if len(text) <= limit:
            return text
    return f"{len(names)} {noun}"


def _fold_bursts(store: Store, rules: DeliveryRules, rows: Sequence[OutboxRow],
                 now: datetime) -> int:
    """Burst protection: per channel, more than `rules.burst_limit` new lower-severity story
    alerts become one message listing them (critical alerts are never folded). Only alerts never
    attempted are folded, atomically with queueing the burst message. Returns how many were."""
    fresh = [r.alert for r in rows if r.attempts == 0]
    folded = 0
    for members in rules.bursts(fresh, now).values():
        members = sorted(members, key=lambda a: a.published, reverse=True)
        ids = sorted(m.alert_id for m in members)
        severities = [m.severity for m in members]
        burst = replace(
            members[0],
            alert_id=alert_id_for("burst", members[0].channel + "\0" + "\0".join(ids)),
            story_id=f"burst:{ids[0]}", watch=_names_within(sorted({m.watch for m in members})),
            severity=max(set(severities), key=severities.count),
            score=max(m.score for m in members), title=f"{len(members)} new stories",
            url="", source="", published=members[0].published, excerpt="", matched_terms=(),
            killed=None, injured=None, sources_count=1, kind="burst", parent_id=None,
            change="", broadcast=False, reports=(),
            items=tuple((m.title, m.url, m.source) for m in members),
        )
        if store.fold(burst, ids, now):
            log.info("burst: %d lower-severity alerts for %s folded into one message",
                     len(members), burst.channel)
            folded += len(members)
    return folded


def refreshed_parent(parent: Alert, follow: Alert) -> Alert:
    """The story's parent message as it should read after the update `follow`."""
    return replace(parent, severity=follow.severity, killed=follow.killed or parent.killed,
                   sources_count=max(parent.sources_count, follow.sources_count),
                   reports=follow.reports or parent.reports,
                   change=f"Latest: {follow.change}" if follow.change else parent.change)


class _Claim(NamedTuple):
    """This delivery run's hold on the alerts it sends (see `Store.claim`)."""

    owner: str
    lease: timedelta


def _deliver_follow_up(
    store: Store, transport: Transport, row: OutboxRow, max_attempts: int, min_interval: float,
    last_post: dict[str, float], sleep: Callable[[float], None], clock: Callable[[], datetime],
    *, claim: _Claim | None = None,
) -> str:
    """An update: a reply in the story's thread, then the parent refreshed in place. Waits while
    the story alert itself is pending."""
    alert = row.alert
    parent = store.get_alert(alert.parent_id or "")
    if parent is None:
        # (pruned by an older watcher, which deleted a story's alerts under a pending update):
        # the update is posted as a message of its own rather than lost
        log.warning("%s %s for story %s: its story alert is no longer in the outbox; posting "
                    "it as a message of its own", alert.kind, alert.alert_id, alert.story_id)
        return _deliver_one(store, transport, row, max_attempts, min_interval, last_post,
                            sleep, clock, claim=claim)
    if parent.status == "failed":
        why = "its story alert failed"
        store.mark(alert.alert_id, "failed", clock(), error=why)
        log.error("%s %s for story %s: %s", alert.kind, alert.alert_id, alert.story_id, why)
        return "failed"
    if parent.status == "pending":
        store.mark(alert.alert_id, "pending", clock(), error="waiting for its story alert")
        return "pending"
    by_webhook = parent.ts == WEBHOOK_TS and not isinstance(
        transport, (WebhookTransport, ConsoleTransport))
    on_console = parent.status == "console" and not isinstance(transport, ConsoleTransport)
    if parent.status in ("held", "folded") or by_webhook or on_console:
        # The story has no message of its own (it went to the digest or into a burst message,
        # or only to the console before Slack was set up), or none a bot can reply to or edit
        # (posted through an incoming webhook before the channel got a bot token): this update
        # is posted as one, and becomes the story's message for later updates.
        status = _deliver_one(store, transport, row, max_attempts, min_interval, last_post,
                              sleep, clock, claim=claim)
        if status in ("sent", "recovered", "console"):
            posted = store.get_alert(alert.alert_id)
            how = ("posted through a webhook" if by_webhook else
                   "shown on the console" if on_console else "posted late")
            store.mark(parent.alert.alert_id, "console" if status == "console" else "sent",
                       clock(), ts=posted.ts if posted else None,
                       error=f"{how}: update {alert.alert_id} carries the story")
        return status
    if isinstance(transport, ConsoleTransport):
        transport.post(alert)
        store.mark(alert.alert_id, "console", clock(), ts="console")
        return "console"
    if isinstance(transport, WebhookTransport):  # no threads, no edits: a message of its own
        return _deliver_one(store, transport, row, max_attempts, min_interval, last_post,
                            sleep, clock, claim=claim)
    status = _deliver_one(store, transport, row, max_attempts, min_interval, last_post,
                          sleep, clock, thread_ts=parent.ts, claim=claim)
    if status not in ("sent", "recovered") or store.newer_update_sent(parent.alert, row):
        return status  # not posted; or the parent already shows a later state: no roll-back
    try:
        transport.update(parent.alert.channel, parent.ts or "",
                         refreshed_parent(parent.alert, alert))
    except PermanentError as exc:
        log.error("cannot update the message of story alert %s in %s: %s",
                  parent.alert.alert_id, parent.alert.channel, exc)
    except DeliveryError as exc:
        log.warning("the update %s was posted, but its story's message was not refreshed "
                    "(%s); the next change refreshes it", alert.alert_id, exc)
    return status


def _deliver_one(
    store: Store, transport: Transport, row: OutboxRow, max_attempts: int, min_interval: float,
    last_post: dict[str, float], sleep: Callable[[float], None], clock: Callable[[], datetime],
    thread_ts: str | None = None, *, claim: _Claim | None = None,
) -> str:
    """Post one alert, looking it up first when an earlier attempt may have posted it. Between
    retries the alert stays claimed by this run (`claim`), renewed before each attempt: another
    run never takes it over while this one waits to retry."""
    alert = row.alert
    console = isinstance(transport, ConsoleTransport)
    maybe_posted = row.attempts > 0  # an earlier attempt may have reached Slack
    tried = row.attempts  # the attempts recorded, as this run last knew them
    for attempt in range(1, max_attempts + 1):
        if attempt > 1 and claim is not None:
            if not store.claim(alert.alert_id, claim.owner, clock(), claim.lease):
                return "elsewhere"  # (the lease ran out while waiting, and another run took it)
            if store.attempts_of(alert.alert_id) > tried:  # (and another run tried it meanwhile)
                maybe_posted = True
        try:
            if maybe_posted and isinstance(transport, SlackTransport):
                ts = _already_posted(transport, row, thread_ts)
                if ts is not None:
                    store.mark(alert.alert_id, "sent", clock(), ts=ts)
                    log.info("alert %s was already in %s (ts %s); not posting it again",
                             alert.alert_id, alert.channel, ts)
                    return "recovered"
            wait = min_interval - (time.monotonic() - last_post.get(alert.channel, -1e9))
            if wait > 0 and not console:
                sleep(wait)
            tried = store.mark_attempt(alert.alert_id, clock())
            maybe_posted = True
            ts = transport.post(alert, thread_ts=thread_ts)
            last_post[alert.channel] = time.monotonic()
            status = "console" if console else "sent"
            store.mark(alert.alert_id, status, clock(), ts=ts)
            return status
        except PermanentError as exc:
            store.mark(alert.alert_id, "failed", clock(), error=str(exc))
            log.error("alert %s to %s failed permanently: %s", alert.alert_id, alert.channel, exc)
            return "failed"
        except TransientError as exc:
            if not exc.maybe_posted and row.attempts == 0 and attempt == 1:
                maybe_posted = False  # e.g. connection refused: nothing reached Slack
            retry_after = exc.retry_after
            if attempt >= max_attempts or (retry_after or 0) > MAX_RETRY_AFTER:
                store.mark(alert.alert_id, "pending", clock(), error=str(exc))
                log.warning("alert %s to %s still pending after %d attempt(s) (%s); it will be "
                            "retried on the next run", alert.alert_id, alert.channel, attempt, exc)
                return "pending"
            store.note_error(alert.alert_id, clock(), str(exc))  # (still claimed: see above)
            delay = retry_after if retry_after is not None else min(2.0 ** attempt, 30.0)
            log.info("alert %s: transient error (%s); retrying in %.1f s", alert.alert_id, exc,
                     delay)
            sleep(delay)
        except DeliveryError as exc:
            store.mark(alert.alert_id, "pending", clock(), error=str(exc))
            log.warning("alert %s: delivery error (%s); left pending", alert.alert_id, exc)
            return "pending"
    return "pending"


def _already_posted(
    transport: SlackTransport, row: OutboxRow, thread_ts: str | None = None
) -> str | None:
    """The ts of this alert's message if an earlier attempt posted it. A failed lookup that is
    transient propagates (the alert stays pending: re-posting blind could double-post); one that
    is permanent (no history scope) is logged and treated as not found."""
    oldest = row.created.timestamp() - 60
    try:
        return transport.find_posted(row.alert.channel, row.alert.alert_id, oldest,
                                     thread_ts=thread_ts)
    except PermanentError as exc:
        log.warning("cannot check whether alert %s already reached %s (%s); posting it. Grant "
                    "the bot channels:history to rule out duplicates after lost responses",
                    row.alert.alert_id, row.alert.channel, exc)
        return None


def show_dry_run(batch: Sequence[Alert]) -> None:
    """Print the alerts a dry run would have queued."""
    console = ConsoleTransport()
    for alert in batch:
        console.post(alert)


def summarize(
    cfg: Config, ingest: IngestResult, new_alerts: Sequence[Alert], delivery: DeliveryReport,
    dry_run: bool,
) -> RunSummary:
    outcomes = [o for o in ingest.outcomes if o.status != "skipped"]
    return RunSummary(
        feeds=len(outcomes),
        skipped=len(ingest.outcomes) - len(outcomes),
        not_modified=sum(1 for o in outcomes if o.status in ("not_modified", "unchanged")),
        failed=sum(1 for o in outcomes if o.status == "failed"),
        new_articles=ingest.new_articles,
        new_stories=ingest.new_stories,
        duplicates=ingest.duplicates,
        alerts=len(new_alerts),
        delivery=delivery,
        dry_run=dry_run,
        full_text=ingest.full_text,
        failed_feeds=tuple(o for o in outcomes if o.status == "failed"),
        feed_outcomes=tuple(ingest.outcomes),
        items_capped=ingest.capped,
        refused=ingest.full_text.refused + sum(
            1 for o in outcomes if o.status == "failed" and (o.error or "").startswith("refused:")
        ),
    )


def run_cycle(
    cfg: Config, store: Store, transport: Transport, *, dry_run: bool = False,
    now: datetime | None = None, sleep: Callable[[float], None] = time.sleep,
) -> RunSummary:
    """One whole poll cycle without Prefect (the flow runs the same steps as tasks)."""
    now = now or datetime.now(UTC)
    batch = fetch_step(cfg, store, now)
    ingest = ingest_step(cfg, store, batch, now)
    alerts = match_step(cfg, store, ingest.candidates) + ops_step(cfg, store, now)
    if dry_run:
        show_dry_run(alerts)
        mark_matched_step(store, ingest)
        return summarize(cfg, ingest, alerts, DeliveryReport(), dry_run=True)
    added = enqueue_step(store, alerts, now)
    mark_matched_step(store, ingest)
    delivery = deliver_step(store, transport, max_attempts=cfg.slack.max_send_attempts,
                            min_interval=cfg.slack.min_interval, sleep=sleep,
                            claim_lease=cfg.slack.claim_lease,
                            rules=rules_for(cfg.watches, cfg.quiet_hours,
                                            cfg.slack.burst_limit))
    return summarize(cfg, ingest, added, delivery, dry_run=False)
