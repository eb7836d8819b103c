"""Score story grouping on a labelled JSONL corpus.

    python -m watcher.eval stories FILE.jsonl [--predictions OUT.jsonl] [--pairs PAIRS.jsonl]
        [--variants VARIANTS.jsonl] [--window-hours H]

Each line of FILE is one JSON object with ``id``, ``title``, ``text`` and ``cluster_id`` (the
real-world story), and optionally ``date`` (``YYYY-MM-DD`` or an ISO datetime, or null),
``source`` and ``url``. The articles are fed to :class:`watcher.stories.StoryIndex` in file order,
as a stream: before each article the index expires what fell out of its window, the clock being
the latest publication time seen. An article without ``date`` takes the first date written in
its opening lines (a feed without dates still shows one in the text), else the stream clock (or,
before any dated article, the first date in the file).

Reported: pairwise precision / recall / F1 over all article pairs (a pair is positive when both
articles share a story) and B-cubed precision / recall / F1 (per article: the share of its
predicted story that is its gold story, and of its gold story that its predicted story holds).
Conventions: with no predicted pair, pairwise precision is 1; with no gold pair, recall is 1.

With ``--pairs`` (lines ``a_id, b_id, label`` with label ``dup``, ``same_story`` or
``different``): the share of ``dup`` pairs flagged as duplicates (one is a revision of the other,
directly or through a chain of revisions), the share of ``same_story`` pairs put in one story and
the share of ``different`` pairs wrongly put in one story. Pairs may name synthetic near-copies
from a variants file (``--variants``; by default ``*_variants.jsonl`` next to the pairs file when
it exists), each with ``derived_from``: for the pair scores the stream is run again with each
variant fed right after the article it derives from. The main scores never include variants.

``--predictions`` writes one JSON line per article of FILE: ``{"id", "story_id",
"duplicate_of"}``. Bad input: a message naming the file and line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from watcher.eval.jsonl import CorpusError
from watcher.stories import Assignment, StoryDoc, StoryError, StoryIndex
from watcher.urls import canonical_url

__all__ = [
    "PRF",
    "Article",
    "CorpusError",
    "PairScores",
    "add_arguments",
    "bcubed",
    "date_in_text",
    "load_articles",
    "load_pairs",
    "pair_scores",
    "pairwise",
    "run",
    "run_stream",
]




@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    text: str
    date: datetime | None
    source: str
    url: str
    cluster_id: str
    derived_from: str | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    a_id: str
    b_id: str
    label: str
    line: int


@dataclass(frozen=True, slots=True)
class PRF:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PairScores:
    dup_flagged: int
    dup_total: int
    same_together: int
    same_total: int
    different_merged: int
    different_total: int


# ---
# Scoring (pure)
# ---


def _check_keys(gold: Mapping[str, str], pred: Mapping[str, str]) -> None:
    if gold.keys() != pred.keys():
        missing = sorted(set(gold) - set(pred))[:3]
        extra = sorted(set(pred) - set(gold))[:3]
        raise ValueError(f"gold and predicted items differ (missing {missing}, extra {extra})")


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(gold: Mapping[str, str], pred: Mapping[str, str]) -> PRF:
    """Pairwise precision / recall over all item pairs. `gold` and `pred` map item -> cluster."""
    _check_keys(gold, pred)
    joint = Counter((gold[k], pred[k]) for k in gold)
    tp = sum(_pairs(n) for n in joint.values())
    pred_pos = sum(_pairs(n) for n in Counter(pred.values()).values())
    gold_pos = sum(_pairs(n) for n in Counter(gold.values()).values())
    return PRF(tp / pred_pos if pred_pos else 1.0, tp / gold_pos if gold_pos else 1.0)


def bcubed(gold: Mapping[str, str], pred: Mapping[str, str]) -> PRF:
    """B-cubed precision / recall, averaged over items."""
    _check_keys(gold, pred)
    if not gold:
        return PRF(1.0, 1.0)
    joint = Counter((gold[k], pred[k]) for k in gold)
    gsize = Counter(gold.values())
    psize = Counter(pred.values())
    p = sum(n * n / psize[pc] for (_, pc), n in joint.items()) / len(gold)
    r = sum(n * n / gsize[gc] for (gc, _), n in joint.items()) / len(gold)
    return PRF(p, r)


def _dup_roots(duplicate_of: Mapping[str, str | None]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for item, dup in duplicate_of.items():
        if dup is not None:
            ra, rb = find(item), find(dup)
            if ra != rb:
                parent[ra] = rb
    return {item: find(item) for item in duplicate_of}


def pair_scores(
    pairs: Iterable[tuple[str, str, str]],
    story_of: Mapping[str, str],
    duplicate_of: Mapping[str, str | None],
) -> PairScores:
    """Score labelled pairs (a, b, label) against predicted stories and revision links."""
    roots = _dup_roots(duplicate_of)
    counts: Counter[str] = Counter()
    for a, b, label in pairs:
        counts[label + "_total"] += 1
        if label == "dup":
            counts["dup_flagged"] += roots.get(a, a) == roots.get(b, b)
        elif label == "same_story":
            counts["same_together"] += story_of[a] == story_of[b]
        elif label == "different":
            counts["different_merged"] += story_of[a] == story_of[b]
        else:
            raise ValueError(f"unknown pair label {label!r}")
    return PairScores(
        counts["dup_flagged"], counts["dup_total"], counts["same_together"],
        counts["same_story_total"], counts["different_merged"], counts["different_total"],
    )


# ---
# Reading
# ---


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
                if not isinstance(obj, dict):
                    raise CorpusError(f"{path}:{lineno}: expected a JSON object")
                yield lineno, obj
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise CorpusError(f"{where}: missing field {key!r}")
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise CorpusError(f"{where}: field {key!r} must not be empty")
    return value


def _date(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorpusError(f"{where}: field 'date' must be a string or null")
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CorpusError(f"{where}: date {value!r} is not YYYY-MM-DD or ISO 8601") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_articles(path: Path, *, variants: bool = False) -> list[Article]:
    """Articles of a corpus file (or, with `variants`, a variants file: ``derived_from`` too)."""
    out: list[Article] = []
    first_line: dict[str, int] = {}
    for lineno, obj in _records(path):
        where = f"{path}:{lineno}"
        art_id = _str(obj, "id", where, required=True)
        if art_id in first_line:
            raise CorpusError(f"{where}: duplicate id {art_id!r} (first on line "
                              f"{first_line[art_id]})")
        first_line[art_id] = lineno
        out.append(
            Article(
                id=art_id,
                title=_str(obj, "title", where, required=False),
                text=_str(obj, "text", where, required=False),
                date=_date(obj.get("date"), where),
                source=_str(obj, "source", where, required=False),
                url=_str(obj, "url", where, required=False),
                cluster_id=_str(obj, "cluster_id", where, required=True),
                derived_from=_str(obj, "derived_from", where, required=True) if variants else None,
            )
        )
        if not out[-1].title.strip() and not out[-1].text.strip():
            raise CorpusError(f"{where}: article {art_id!r} has neither title nor text")
    if not out:
        raise CorpusError(f"{path}: no records")
    return out


def load_pairs(path: Path) -> list[Pair]:
    out: list[Pair] = []
    for lineno, obj in _records(path):
        where = f"{path}:{lineno}"
        a = _str(obj, "a_id", where, required=True)
        b = _str(obj, "b_id", where, required=True)
        label = _str(obj, "label", where, required=True)
        if label not in ("dup", "same_story", "different"):
            raise CorpusError(f"{where}: label must be dup, same_story or different, "
                              f"got {label!r}")
        out.append(Pair(a, b, label, lineno))
    if not out:
        raise CorpusError(f"{path}: no records")
    return out


# ---
# Dates for undated articles
# ---

_MONTH_NUM = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
_MON = (r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?")
_DATE_PATTERNS = (
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),  # 2013-09-26
    re.compile(rf"\b{_MON}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),  # May 3rd, 2013
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MON},?\s+(\d{{4}})\b", re.I),  # 14 June 2013
    re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])"),  # 05/02/2013, 12/16/08
)


def _mkdate(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def date_in_text(text: str, head: int = 200) -> date | None:
    """The first calendar date written in the first two lines (at most `head` characters) of
    `text`: a date stamp at the top of an article, not a date mentioned in its story."""
    snippet = "\n".join(text.strip().splitlines()[:2])[:head]
    best: tuple[int, date] | None = None
    for i, pat in enumerate(_DATE_PATTERNS):
        m = pat.search(snippet)
        if m is None:
            continue
        g = m.groups()
        found: date | None
        if i == 0:
            found = _mkdate(int(g[0]), int(g[1]), int(g[2]))
        elif i == 1:
            found = _mkdate(int(g[2]), _MONTH_NUM[g[0][:3].lower()], int(g[1]))
        elif i == 2:
            found = _mkdate(int(g[2]), _MONTH_NUM[g[1][:3].lower()], int(g[0]))
        else:
            a, b, y = int(g[0]), int(g[1]), int(g[2])
            if y < 100:  # two digits: 00-69 -> 2000s, 70-99 -> 1900s
                y += 2000 if y < 70 else 1900
            found = _mkdate(y, a, b) if a <= 12 else _mkdate(y, b, a)  # US order unless impossible
        plausible = found is not None and 1900 <= found.year <= 2100
        if plausible and found is not None and (best is None or m.start() < best[0]):
            best = (m.start(), found)
    return best[1] if best else None


# ---
# Running the stream
# ---


def _published(articles: Sequence[Article]) -> list[tuple[datetime | None, datetime]]:
    """(publication time or None, stream clock) per article. The clock is the latest `date` seen
    (before any, the first `date` of the file). An undated article takes the date stamp at the
    top of its text, else stays undated (unknown time: the index applies no time penalty).
    Inferred dates never move the clock."""
    first = next((a.date for a in articles if a.date is not None), None)
    clock = first or datetime(2000, 1, 1, tzinfo=UTC)
    out: list[tuple[datetime | None, datetime]] = []
    for a in articles:
        when = a.date
        if when is None:
            found = date_in_text(a.text) or date_in_text(a.title)
            if found is not None:
                when = datetime.combine(found, datetime.min.time(), UTC)
        else:
            clock = max(clock, when)
        out.append((when, clock))
    return out


def run_stream(
    articles: Sequence[Article], window: timedelta | None = None, **tunables: Any
) -> dict[str, Assignment]:
    """Feed `articles` in order to a fresh index; the assignment of each article."""
    index = StoryIndex(window, **tunables) if window is not None else StoryIndex(**tunables)
    out: dict[str, Assignment] = {}
    for art, (when, clock) in zip(articles, _published(articles), strict=True):
        index.expire(clock)
        doc = StoryDoc(
            id=art.id,
            title=art.title,
            text=art.text,
            published=when,
            source=art.source,
            canonical_url=canonical_url(art.url) if art.url else "",
        )
        out[art.id] = index.assign(doc)
    return out


def _with_variants(articles: Sequence[Article], variants: Sequence[Article]) -> list[Article]:
    after: dict[str, list[Article]] = {}
    known = {a.id for a in articles}
    for v in variants:
        if v.id in known:
            raise CorpusError(f"variant id {v.id!r} is also an article id")
        if v.derived_from not in known:
            raise CorpusError(f"variant {v.id!r} derives from unknown article {v.derived_from!r}")
        after.setdefault(v.derived_from, []).append(v)
    out: list[Article] = []
    for a in articles:
        out.append(a)
        out.extend(after.get(a.id, ()))
    return out


# ---
# Command
# ---


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="labelled articles")
    parser.add_argument("--predictions", type=Path, metavar="OUT.jsonl",
                        help="write {id, story_id, duplicate_of} per article")
    parser.add_argument("--pairs", type=Path, metavar="PAIRS.jsonl",
                        help="labelled pairs (dup / same_story / different) to score")
    parser.add_argument("--variants", type=Path, metavar="VARIANTS.jsonl",
                        help="synthetic near-copies named by --pairs (default: "
                             "*_variants.jsonl next to the pairs file)")
    parser.add_argument("--window-hours", type=float, default=None, metavar="H",
                        help="the index's article window (default: the index default)")


def _default_variants(pairs: Path) -> Path | None:
    name = pairs.name.replace("_pairs", "_variants")
    candidate = pairs.with_name(name)
    return candidate if name != pairs.name and candidate.exists() else None


def _fmt(prf: PRF) -> str:
    return f"precision {prf.precision:.4f}  recall {prf.recall:.4f}  F1 {prf.f1:.4f}"


def _share(n: int, total: int) -> str:
    return f"{n / total:.4f} ({n}/{total})" if total else "n/a (0/0)"


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CorpusError, StoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    window: timedelta | None = None
    if args.window_hours is not None:
        if not args.window_hours > 0:
            raise CorpusError(f"--window-hours must be > 0, got {args.window_hours}")
        window = timedelta(hours=args.window_hours)
    articles = load_articles(args.file)
    pairs = load_pairs(args.pairs) if args.pairs else []
    variants_path: Path | None = args.variants
    if args.pairs and variants_path is None:
        variants_path = _default_variants(args.pairs)
    variants = load_articles(variants_path, variants=True) if variants_path else []

    assigned = run_stream(articles, window)
    gold = {a.id: a.cluster_id for a in articles}
    pred = {a.id: assigned[a.id].story_id for a in articles}
    pw = pairwise(gold, pred)
    b3 = bcubed(gold, pred)
    print(f"articles {len(articles)}  gold stories {len(set(gold.values()))}  "
          f"predicted stories {len(set(pred.values()))}  "
          f"revisions {sum(1 for a in assigned.values() if a.kind == 'revision')}")
    print(f"pairwise  {_fmt(pw)}")
    print(f"B-cubed   {_fmt(b3)}")

    if args.predictions:
        try:
            with args.predictions.open("w", encoding="utf-8") as fh:
                for a in articles:
                    asg = assigned[a.id]
                    fh.write(json.dumps({"id": a.id, "story_id": asg.story_id,
                                         "duplicate_of": asg.duplicate_of}) + "\n")
        except OSError as exc:
            raise CorpusError(f"cannot write {args.predictions}: {exc.strerror or exc}") from exc

    if pairs:
        stream = _with_variants(articles, variants) if variants else list(articles)
        if variants:
            assigned = run_stream(stream, window)
        for p in pairs:
            for x in (p.a_id, p.b_id):
                if x not in assigned:
                    raise CorpusError(f"{args.pairs}:{p.line}: unknown article id {x!r}"
                                      + ("" if variants else " (no variants file given)"))
        scores = pair_scores(
            ((p.a_id, p.b_id, p.label) for p in pairs),
            {k: v.story_id for k, v in assigned.items()},
            {k: v.duplicate_of for k, v in assigned.items()},
        )
        print(f"pairs     dup flagged {_share(scores.dup_flagged, scores.dup_total)}  "
              f"same_story together {_share(scores.same_together, scores.same_total)}  "
              f"different merged {_share(scores.different_merged, scores.different_total)}")
    return 0
