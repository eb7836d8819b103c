"""Frozen data types shared by every stage. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

CasualtyKind = Literal["killed", "injured", "missing"]
Qualifier = Literal["exact", "at_least", "more_than", "about", "nearly", "up_to", "range", "vague"]
# how a count with its qualifier reads ("up to 200"): the words before the number
QUALIFIER_WORDS: dict[str, str] = {
    "exact": "", "at_least": "at least ", "more_than": "more than ", "about": "about ",
    "nearly": "nearly ", "up_to": "up to ",
}
# An article's death toll as stored with it: the version of the casualty rules that read it
# (`lifecycle.toll_rules`), and the count and qualifier they found (None, None: it states none).
TollRead = tuple[str, int | None, str | None]

_T = TypeVar("_T")


def _slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slotted dataclass an ``__init__`` that sets each slot through its descriptor.

    The one ``dataclass`` generates sets a frozen instance's fields through ``object.__setattr__``,
    about three times slower; that counts for the results made for every article (rule hits,
    casualty figures). Same parameters and defaults, same instance. Only for classes without
    ``__post_init__`` or default factories."""
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    namespace: dict[str, Any] = {}
    params: list[str] = []
    body: list[str] = []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has a default factory")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about one feed between runs."""

    name: str
    url: str  # the URL fetched: the configured one, or where a permanent redirect moved it
    config_url: str | None = None  # the configured URL `url` derives from
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_polled: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_status: int | None = None
    consecutive_failures: int = 0
    retry_at: datetime | None = None  # skipped until then (Retry-After, back-off)
    disabled: str | None = None  # why the feed is no longer fetched (HTTP 410)
    ops_alert: str | None = None  # an open feed-health alert: "down" or "silent"
    # the URL `etag` / `last_modified` came from, when not `url` (a temporary redirect's target)
    validators_url: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Outcome of one HTTP fetch of a feed. Exactly one of body / not_modified / error applies."""

    feed: str
    url: str
    status: int | None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    not_modified: bool = False
    error_kind: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    permanent_url: str | None = None  # set when every redirect on the way was permanent (301/308)
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned feed entry."""

    id: str  # stable across runs: derived from feed name + GUID (or URL/title when no GUID)
    feed: str
    guid: str | None
    url: str
    canonical_url: str
    title: str
    text: str  # clean plain text (HTML removed, boilerplate removed)
    published: datetime  # UTC, fetch time when the feed gives none
    fetched: datetime  # UTC


@_slot_init
@dataclass(frozen=True, slots=True)
class CasualtyFigure:
    kind: CasualtyKind
    count: int
    qualifier: Qualifier
    current: bool
    span: tuple[int, int]  # character offsets in the text given to the extractor
    text: str  # the sentence-level evidence, text[span[0]:span[1]]
    count_high: int | None = None  # upper bound for ranges ("10 to 12")
    reason: str = ""  # why a figure is not current ("historical", "earlier incident"...)


@_slot_init
@dataclass(frozen=True, slots=True)
class CasualtyReport:
    figures: tuple[CasualtyFigure, ...]
    killed: CasualtyFigure | None  # the current toll, or None when no current figure is stated
    injured: CasualtyFigure | None
    missing: CasualtyFigure | None = None


@_slot_init
@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired on a text, with where."""

    rule: str  # e.g. "entity:armenia", "escalation:shelling", "deescalation:ceasefire"
    term: str  # the configured term
    matched: str  # the text actually matched
    start: int
    end: int
    weight: float  # contribution to the score (0 for entities, negative for de-escalation)
    note: str = ""  # "negated", "near entity", ...


@_slot_init
@dataclass(frozen=True, slots=True)
class MatchResult:
    watch: str
    score: float
    severity: str | None  # None: below the alert threshold
    entities: tuple[str, ...]  # entity groups found
    hits: tuple[RuleHit, ...]

    @property
    def alerts(self) -> bool:
        return self.severity is not None


@dataclass(frozen=True, slots=True)
class SourcedFigure:
    """A casualty figure with its provenance: which source said it, where and when."""

    kind: CasualtyKind
    count: int
    qualifier: Qualifier
    source: str
    url: str
    published: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    """What gets posted: everything the Slack formatter and the console printer need."""

    alert_id: str
    story_id: str
    watch: str
    channel: str
    severity: str
    score: float
    title: str
    url: str
    source: str
    published: datetime
    excerpt: str
    matched_terms: tuple[str, ...]
    killed: CasualtyFigure | None
    injured: CasualtyFigure | None
    sources_count: int = 1
    # The story lifecycle (watcher.lifecycle). "story": the story's first alert, its parent
    # message; "update": a development (higher severity, a new or higher toll, another source)
    # posted as a reply in the parent's thread, the parent refreshed in place; "escalation": a
    # copy for the watch's escalation channel; "burst": one message for many stories.
    kind: str = "story"
    parent_id: str | None = None  # update: the story alert's id
    change: str = ""  # what changed: "killed 17 (was 9, +8), per OC Media"
    broadcast: bool = False  # an update also shown in the channel (the severity rose)
    reports: tuple[SourcedFigure, ...] = ()  # the story's current tolls by source, when they differ
    items: tuple[tuple[str, str, str], ...] = ()  # a burst: (title, url, source) of each story


@dataclass(frozen=True, slots=True)
class Term:
    """A configured term and its weight. Matching is word-bounded, case- and accent-insensitive,
    and admits simple inflections (shell / shells / shelled / shelling)."""

    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Severity:
    name: str
    threshold: float  # minimum score for this severity


@dataclass(frozen=True, slots=True)
class Watch:
    name: str
    channel: str
    entities: Mapping[str, tuple[str, ...]]  # group -> aliases: "armenia" -> ("Armenia", "Yerevan")
    escalation: tuple[Term, ...]
    deescalation: tuple[Term, ...] = ()
    severities: tuple[Severity, ...] = (Severity("warning", 4.0), Severity("critical", 8.0))
    min_entities: int = 1  # distinct entity groups that must appear
    proximity: int = 200  # characters: an escalation term this close to an entity counts in full
    # A story's death toll rising by this many, or by this many percent, posts an update in its
    # thread (the first reported deaths always do): watcher.lifecycle.
    toll_update_min: int = 3
    toll_update_percent: float = 20.0
    escalation_channel: str | None = None  # the highest-severity alerts are also posted here

    @property
    def threshold(self) -> float:
        """The lowest severity's threshold: the score an article needs to alert at all."""
        return min(s.threshold for s in self.severities)
