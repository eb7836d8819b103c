"""Score casualty extraction on a labelled JSONL corpus.

    python -m watcher.eval casualties FILE.jsonl [--predictions OUT.jsonl] [--errors]

Each line of FILE is one JSON object with at least ``id``, ``text``, ``expected_current_killed``
and ``expected_current_injured`` (an integer or null), and optionally ``current``, ``killed``,
``injured``, ``qualifier``, ``injured_qualifier``, ``killed_max``, ``injured_max`` and ``tags``.

Scoring, per item and per field (killed, injured), with gold g and predicted current figure p:
TP when g is not null and p == g (for a range, any p from g to the field's ``*_max``); FP when p is
not null and differs from g (or g is null); FN when g is not null and p differs. Reported: micro
precision / recall / F1 overall, per field and per tag; the trap rate (items whose only figures are
not current - ``current`` false with a killed or injured figure - where a current figure is still
predicted); negation accuracy (items whose gold is 0: every such field predicted 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watcher.casualties import extract_casualties
from watcher.eval import jsonl
from watcher.eval.jsonl import CorpusError

FIELDS: tuple[str, str] = ("killed", "injured")




@dataclass(frozen=True, slots=True)
class GoldItem:
    id: str
    text: str
    killed: int | None  # gold current figures (expected_current_*)
    injured: int | None
    killed_high: int | None = None  # upper bound when the gold figure is a range
    injured_high: int | None = None
    current: bool = True
    has_figure: bool = False  # the label gives a killed or injured figure (current or not)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    killed: int | None
    injured: int | None


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class EvalResult:
    items: int
    overall: Counts
    by_field: Mapping[str, Counts]
    by_tag: Mapping[str, tuple[int, Counts]]  # tag -> (items with the tag, counts)
    trap_items: int
    trapped: int
    negation_items: int
    negation_correct: int
    wrong: tuple[str, ...] = field(default=())  # ids with any FP or FN
    tag_correct: Mapping[str, int] = field(default_factory=dict)  # tag -> items fully right

    @property
    def trap_rate(self) -> float:
        return self.trapped / self.trap_items if self.trap_items else 0.0

    @property
    def negation_accuracy(self) -> float:
        return self.negation_correct / self.negation_items if self.negation_items else 0.0


# ---
# Pure scoring
# ---


def score_field(gold: int | None, pred: int | None, high: int | None = None) -> Counts:
    """TP / FP / FN of one field of one item. `high` makes the gold a range [gold, high]."""
    if gold is None:
        return Counts(fp=1) if pred is not None else Counts()
    if pred is not None:
        hit = gold <= pred <= high if high is not None else pred == gold
        if hit:
            return Counts(tp=1)
        return Counts(fp=1, fn=1)
    return Counts(fn=1)


def is_trap_item(item: GoldItem) -> bool:
    """An item whose only figures are not current."""
    return not item.current and item.has_figure


def evaluate(items: Sequence[GoldItem], predictions: Mapping[str, Prediction]) -> EvalResult:
    """Score predictions (by item id; a missing prediction counts as all-null)."""
    by_field = {f: Counts() for f in FIELDS}
    by_tag_counts: dict[str, Counts] = {}
    by_tag_items: dict[str, int] = {}
    tag_correct: dict[str, int] = {}
    trap_items = trapped = neg_items = neg_correct = 0
    wrong: list[str] = []
    for item in items:
        pred = predictions.get(item.id, Prediction(item.id, None, None))
        item_counts = Counts()
        for f in FIELDS:
            gold: int | None = getattr(item, f)
            high: int | None = getattr(item, f + "_high")
            c = score_field(gold, getattr(pred, f), high)
            by_field[f] = by_field[f] + c
            item_counts = item_counts + c
        right = not (item_counts.fp or item_counts.fn)
        for tag in item.tags:
            by_tag_counts[tag] = by_tag_counts.get(tag, Counts()) + item_counts
            by_tag_items[tag] = by_tag_items.get(tag, 0) + 1
            tag_correct[tag] = tag_correct.get(tag, 0) + int(right)
        if not right:
            wrong.append(item.id)
        if is_trap_item(item):
            trap_items += 1
            if pred.killed is not None or pred.injured is not None:
                trapped += 1
        zero_fields = [f for f in FIELDS if getattr(item, f) == 0]
        if zero_fields:
            neg_items += 1
            if all(getattr(pred, f) == 0 for f in zero_fields):
                neg_correct += 1
    overall = by_field["killed"] + by_field["injured"]
    return EvalResult(
        items=len(items), overall=overall, by_field=by_field,
        by_tag={t: (by_tag_items[t], by_tag_counts[t]) for t in sorted(by_tag_counts)},
        trap_items=trap_items, trapped=trapped, negation_items=neg_items,
        negation_correct=neg_correct, wrong=tuple(wrong), tag_correct=tag_correct,
    )


def predict(item: GoldItem) -> Prediction:
    report = extract_casualties(item.text)
    return Prediction(
        item.id,
        report.killed.count if report.killed is not None else None,
        report.injured.count if report.injured is not None else None,
    )


# ---
# Reading the corpus
# ---


def _opt_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorpusError(f"{where}: field {key!r} must be a non-negative integer or null, "
                          f"got {value!r}")
    return value


def parse_record(obj: object, where: str) -> GoldItem:
    """One corpus record; `where` ("FILE:LINE") prefixes every error message."""
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "text", "expected_current_killed", "expected_current_injured"):
        if key not in obj:
            raise CorpusError(f"{where}: missing field {key!r} (see corpus/casualties/README.md)")
    if not isinstance(obj["id"], str) or not obj["id"]:
        raise CorpusError(f"{where}: field 'id' must be a non-empty string")
    if not isinstance(obj["text"], str):
        raise CorpusError(f"{where}: field 'text' must be a string")
    current = obj.get("current", True)
    if not isinstance(current, bool):
        raise CorpusError(f"{where}: field 'current' must be true or false, got {current!r}")
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CorpusError(f"{where}: field 'tags' must be a list of strings")
    killed = _opt_int(obj, "expected_current_killed", where)
    injured = _opt_int(obj, "expected_current_injured", where)
    highs: dict[str, int | None] = {}
    for f, qual_key in (("killed", "qualifier"), ("injured", "injured_qualifier")):
        high = _opt_int(obj, f + "_max", where)
        quals = {obj.get(qual_key), obj.get("qualifier")}
        highs[f] = high if high is not None and "range" in quals else None
    return GoldItem(
        id=obj["id"], text=obj["text"], killed=killed, injured=injured,
        killed_high=highs["killed"], injured_high=highs["injured"], current=current,
        has_figure=_opt_int(obj, "killed", where) is not None
        or _opt_int(obj, "injured", where) is not None,
        tags=tuple(tags),
    )


def parse_lines(lines: Iterable[str], name: str) -> list[GoldItem]:
    return jsonl.parse_lines(lines, name, parse_record)


def load_corpus(path: Path) -> list[GoldItem]:
    return jsonl.load(path, parse_lines, "a casualties JSONL corpus "
                      "(e.g. ../shared/corpus/casualties/dev.jsonl)")


# ---
# Report
# ---


def _row(label: str, c: Counts, n: int | None = None, correct: int | None = None) -> str:
    items = f"{correct:>3}/{n:<3} " if n is not None and correct is not None else ""
    if not (c.tp or c.fp or c.fn):
        return f"  {label:<26}{items}no figures, nothing to score"
    return (f"  {label:<26}{items}P={c.precision:.3f} R={c.recall:.3f} F1={c.f1:.3f}  "
            f"(TP={c.tp} FP={c.fp} FN={c.fn})")


def format_report(result: EvalResult, name: str) -> str:
    lines = [f"casualties: {name} ({result.items} items)", _row("overall", result.overall)]
    lines += [_row(f, result.by_field[f]) for f in FIELDS]
    lines.append(f"  trap rate: {result.trapped}/{result.trap_items} = {result.trap_rate:.1%}")
    lines.append(f"  negation accuracy: {result.negation_correct}/{result.negation_items} = "
                 f"{result.negation_accuracy:.3f}")
    lines.append("by tag (items fully right / items with the tag):")
    lines += [_row(tag, c, n, result.tag_correct.get(tag, 0))
              for tag, (n, c) in result.by_tag.items()]
    return "\n".join(lines)


def _error_lines(items: Sequence[GoldItem], preds: Mapping[str, Prediction],
                 wrong: Sequence[str]) -> list[str]:
    by_id = {it.id: it for it in items}
    out = ["misses:"]
    for item_id in wrong:
        it, p = by_id[item_id], preds[item_id]
        out.append(f"  {item_id}: gold killed={it.killed} injured={it.injured}; "
                   f"predicted killed={p.killed} injured={p.injured}  tags={','.join(it.tags)}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="labelled corpus")
    parser.add_argument("--predictions", type=Path, metavar="OUT.jsonl",
                        help='write {"id", "killed", "injured"} per item (current figures)')
    parser.add_argument("--errors", action="store_true", help="list the items scored wrong")


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        items = load_corpus(path)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    preds = {it.id: predict(it) for it in items}
    if args.predictions is not None:
        out: Path = args.predictions
        try:
            with out.open("w", encoding="utf-8") as fh:
                for it in items:
                    p = preds[it.id]
                    fh.write(json.dumps({"id": p.id, "killed": p.killed, "injured": p.injured})
                             + "\n")
        except OSError as exc:
            print(f"error: {out}: cannot write predictions ({exc.strerror}); check that the "
                  "directory exists and is writable", file=sys.stderr)
            return 2
    result = evaluate(items, preds)
    print(format_report(result, str(path)))
    if args.errors:
        print("\n".join(_error_lines(items, preds, result.wrong)))
    return 0
