"""Item identity: is a parsed article new, an item we already hold, or a URL variant of one?

Layer one of deduplication (story grouping builds on it): the same feed GUID (an article id we
stored before) is the same item; the same canonical URL (tracking parameters, fragments, AMP and
mobile hosts folded, see `watcher.urls`) from any feed is a duplicate of the stored item and joins
its story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Literal

from watcher.models import Article

Kind = Literal["seen", "duplicate", "new", "joined"]  # joined: a new article of a known story


@dataclass(frozen=True, slots=True)
class Decision:
    article: Article
    kind: Kind
    story_id: str
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class KnownItem:
    article_id: str
    story_id: str


def classify(
    batch: Sequence[Article],
    known_ids: Set[str],
    known_urls: Mapping[str, KnownItem],
) -> list[Decision]:
    """Decide each article of `batch`, in order. Articles earlier in the batch count as known
    to later ones, so the same item in two feeds of one run is still one item."""
    ids = set(known_ids)
    urls = dict(known_urls)
    out: list[Decision] = []
    for art in batch:
        if art.id in ids:
            out.append(Decision(art, "seen", ""))
            continue
        ids.add(art.id)
        prior = urls.get(art.canonical_url) if art.canonical_url else None
        if prior is not None:
            out.append(Decision(art, "duplicate", prior.story_id, prior.article_id))
            continue
        if art.canonical_url:
            urls[art.canonical_url] = KnownItem(art.id, art.id)
        out.append(Decision(art, "new", art.id))
    return out
