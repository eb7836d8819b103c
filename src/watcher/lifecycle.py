"""A story's life in Slack: one parent message, then updates in its thread.

Pure functions. The first alert of a (watch, story) is its parent message. Each later article of
the story is compared with what the channel was last told about it (`Announced`):

- the severity rose -> an update, also broadcast to the channel;
- the first deaths were reported, or the current toll rose by at least `min_increase` or by at
  least `min_percent` % -> an update reading "killed 17 (was 9, +8), per <source>";
- only the number of sources grew -> an update naming the new source (no broadcast).

Every update refreshes the parent message in place (latest severity, toll, source count).

The current toll is the highest current figure any source of the story reported (the casualty
extractor already leaves out historical and earlier-incident figures). When sources disagree,
their latest figures are shown side by side (`by_source`), never merged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from watcher import casualties
from watcher.casualties import extract_casualties
from watcher.models import QUALIFIER_WORDS, Alert, Article, CasualtyFigure, SourcedFigure, TollRead


@dataclass(frozen=True, slots=True)
class Announced:
    """What the channel was last told about one story for one watch."""

    parent_id: str
    severity_rank: int  # index into the watch's severities, lowest first
    toll: int | None  # the killed count last shown, None if none
    sources: int


@dataclass(frozen=True, slots=True)
class Change:
    reasons: tuple[str, ...]  # "severity", "first_deaths", "toll"
    line: str
    broadcast: bool
    severity_rank: int
    toll: SourcedFigure | None


def toll_of(article: Article) -> tuple[SourcedFigure, CasualtyFigure] | None:
    """The article's current death toll with its provenance (and the extractor's figure, with
    its evidence), or None when it states none."""
    report = extract_casualties(f"{article.title}\n{article.text}" if article.title
                                else article.text)
    k = report.killed
    # (a count is at most MAX_COUNT, but a sum of several may be more: no toll is that large)
    if k is None or not k.current or not 1 <= k.count <= casualties.MAX_COUNT:
        return None
    return SourcedFigure("killed", k.count, k.qualifier, article.feed, article.url,
                         article.published), k


def read_toll(article: Article) -> TollRead:
    """`toll_of(article)` as it is stored (`Store.add_articles`, `Store.save_tolls`): the
    version of the rules, and the count and qualifier (None and None: it states no toll)."""
    found = toll_of(article)
    if found is None:
        return toll_rules(), None, None
    return toll_rules(), found[0].count, found[0].qualifier


def _rules_digest() -> str:
    digest = hashlib.sha256()
    try:
        for module in (casualties.__file__, __file__):
            digest.update(Path(module or "").read_bytes())
    except OSError:
        digest.update(os.urandom(16))
    return digest.hexdigest()[:16]


# Taken when this module is imported, from the sources of the code this process runs (a file
# upgraded on disk later does not relabel the old code's results).
_TOLL_RULES = _rules_digest()


def toll_rules() -> str:
    """The version of the rules behind `toll_of`: a digest of the casualty extractor's source
    and this module's, as this process loaded them, so a toll stored by other rules
    (`Store.save_tolls`) is read again. Without the sources (a frozen install), a version of
    this process only: nothing stored is trusted, every toll is read again."""
    return _TOLL_RULES


def series(articles: Sequence[Article]) -> list[SourcedFigure]:
    """The story's death tolls, one per article that states one, in publication order."""
    out = [t[0] for a in sorted(articles, key=lambda a: a.published) if (t := toll_of(a))]
    return out


def current_toll(series: Sequence[SourcedFigure]) -> SourcedFigure | None:
    """The highest current killed figure of the story (the earliest report of it on a tie)."""
    killed = [f for f in series if f.kind == "killed" and f.count > 0]
    if not killed:
        return None
    return max(killed, key=lambda f: (f.count, -f.published.timestamp()))


def by_source(series: Sequence[SourcedFigure], kind: str = "killed") -> tuple[SourcedFigure, ...]:
    """Each source's latest figure of `kind`, highest first, when at least two sources disagree;
    otherwise () (nothing to set side by side)."""
    latest: dict[str, SourcedFigure] = {}
    for f in sorted((f for f in series if f.kind == kind), key=lambda f: f.published):
        latest[f.source] = f
    if len({f.count for f in latest.values()}) < 2:
        return ()
    return tuple(sorted(latest.values(), key=lambda f: (-f.count, f.source)))


def announced(story_alerts: Sequence[Alert], severities: Sequence[str]) -> Announced | None:
    """The state of a story in the channel from its alerts so far (parent first, any order
    after); None when the story has no parent alert for the watch."""
    parent = next((a for a in story_alerts if a.kind == "story"), None)
    if parent is None:
        return None
    rank = max((_rank(a.severity, severities) for a in story_alerts), default=-1)
    tolls = [a.killed.count for a in story_alerts if a.killed is not None and a.killed.current]
    sources = max(a.sources_count for a in story_alerts)
    return Announced(parent.alert_id, rank, max(tolls) if tolls else None, sources)


def _count(figure: SourcedFigure) -> str:
    """The count as its source put it: "up to 200", "at least 17", "25"."""
    return f"{QUALIFIER_WORDS.get(figure.qualifier or '', '')}{figure.count}"


def _rank(severity: str, severities: Sequence[str]) -> int:
    try:
        return list(severities).index(severity)
    except ValueError:
        return -1


def change(
    state: Announced, severity: str | None, severities: Sequence[str],
    series: Sequence[SourcedFigure], *, min_increase: int, min_percent: float,
) -> Change | None:
    """What is worth an update in the story's thread, or None.

    `severity`: the new article's own severity for the watch (None: it does not alert on its
    own); `series`: every casualty figure the story's articles reported so far."""
    reasons: list[str] = []
    parts: list[str] = []
    rank = _rank(severity, severities) if severity is not None else -1
    new_rank = state.severity_rank
    if rank > state.severity_rank:
        reasons.append("severity")
        before = severities[state.severity_rank] if state.severity_rank >= 0 else "none"
        parts.append(f"severity {before} → {severities[rank]}")
        new_rank = rank
    toll = current_toll(series)
    if toll is not None:
        if not state.toll:
            reasons.append("first_deaths")
            parts.append(f"killed {_count(toll)}, per {toll.source}")
        else:
            rise = toll.count - state.toll
            if rise > 0 and (rise >= min_increase or rise * 100.0 >= min_percent * state.toll):
                reasons.append("toll")
                parts.append(f"killed {_count(toll)} (was {state.toll}, +{rise}), per "
                             f"{toll.source}")
    if not reasons:
        return None
    shown = toll if toll is not None and (not state.toll or toll.count > state.toll) else None
    return Change(tuple(reasons), "; ".join(parts), "severity" in reasons, new_rank, shown)


__all__ = ["Announced", "Change", "announced", "by_source", "change",
           "current_toll", "read_toll", "series", "toll_of", "toll_rules"]
