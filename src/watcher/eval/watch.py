"""Score a watch's alerts on a labelled escalation corpus.

    python -m watcher.eval watch FILE.jsonl --watch NAME [--config F] [--predictions OUT.jsonl]

Each line of FILE is one JSON object with ``id``, ``text``, ``group`` and ``label``
(``critical``, ``warning`` or ``none``), and optionally ``has_headline`` (the first line of
``text`` is the headline; default: the text has more than one line) plus any other fields
(``date``, ``source``, ``note``, ``episode``...), which are ignored.

Every item is judged exactly as the pipeline judges a feed entry: the headline is the entry's
title and the rest its body, both cleaned as the feed parser cleans them (an entry without a
headline gets one cut from its text), then :func:`watcher.assess.assess` scores it with the
named watch (matching, negation, proximity, casualty figures, severity).

Scoring. An item *alerts* when the watch gives it a severity (its score reaches the lowest
threshold). Gold positive: ``label`` is ``critical`` or ``warning``. Reported: alert precision,
recall and F1; critical recall (items labelled ``critical`` that alert with the watch's highest
severity); severity accuracy on true positives (critical vs not, the watch's highest severity
counting as critical); the false-alert rate among the negatives of each group. Then the misses,
the false alerts and the true positives with the wrong severity, each with the rules that fired.

``--predictions`` writes one JSON line per item: ``{"id", "alert", "severity", "score"}``, the
severity in the watch's own names (``none`` without an alert). The config is found like the
other commands': ``--config``, else ``$WATCHER_CONFIG``, else ``config/watcher.toml``. Bad
input: a message naming the file and line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watcher.assess import Assessment, assess
from watcher.clean import clean_text, html_to_text
from watcher.config import ConfigError, load_config, resolve_path
from watcher.eval import jsonl
from watcher.eval.jsonl import CorpusError
from watcher.match import CompiledWatch, compile_watch
from watcher.models import RuleHit, Watch
from watcher.parse import MAX_TEXT, MAX_TITLE

LABELS: tuple[str, ...] = ("critical", "warning", "none")
NO_ALERT = "none"
FALLBACK_TITLE = 120  # characters of the text a title-less feed entry takes as its title




@dataclass(frozen=True, slots=True)
class GoldItem:
    id: str
    text: str
    group: str
    label: str  # one of LABELS
    has_headline: bool

    @property
    def positive(self) -> bool:
        return self.label != NO_ALERT


@dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    severity: str | None  # the watch's severity name, None: no alert
    critical: bool  # alerts with the watch's highest severity
    score: float
    verdict: Assessment | None = None  # kept for the report's "rules that fired"
    title: str = ""
    text: str = ""

    @property
    def alert(self) -> bool:
        return self.severity is not None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "alert": self.alert, "severity": self.severity or NO_ALERT,
                "score": self.score}


@dataclass(frozen=True, slots=True)
class GroupRate:
    negatives: int = 0
    false_alerts: int = 0

    @property
    def rate(self) -> float:
        return self.false_alerts / self.negatives if self.negatives else 0.0


@dataclass(frozen=True, slots=True)
class EvalResult:
    items: int
    tp: int
    fp: int
    fn: int
    critical_items: int  # labelled critical
    critical_hits: int  # ... that alert with the highest severity
    severity_right: int  # true positives whose critical-or-not matches the label
    groups: Mapping[str, GroupRate] = field(default_factory=dict)  # negatives per group
    misses: tuple[str, ...] = ()  # gold positive, no alert
    false_alerts: tuple[str, ...] = ()  # gold none, alert
    wrong_severity: tuple[str, ...] = ()  # true positives, critical-or-not wrong

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

    @property
    def critical_recall(self) -> float:
        return self.critical_hits / self.critical_items if self.critical_items else 0.0

    @property
    def severity_accuracy(self) -> float:
        return self.severity_right / self.tp if self.tp else 0.0


# ---
# Judging one item as the pipeline would
# ---


def article_fields(item: GoldItem) -> tuple[str, str]:
    """(title, text) of the feed entry the item stands for, built as ``watcher.parse`` builds
    an article: the headline through ``html_to_text`` on one line, the body through
    ``clean_text``, and a title cut from the text when the entry has none."""
    if item.has_headline:
        headline, _, body = item.text.partition("\n")
    else:
        headline, body = "", item.text
    title = html_to_text(headline).replace("\n", " ").strip()[:MAX_TITLE]
    text = clean_text(body)[:MAX_TEXT]
    return title or text[:FALLBACK_TITLE], text


def highest_severity(watch: Watch) -> str:
    return max(watch.severities, key=lambda s: s.threshold).name


def predict(compiled: CompiledWatch, item: GoldItem) -> Prediction:
    title, text = article_fields(item)
    verdict = assess(compiled, title, text)
    return Prediction(
        id=item.id, severity=verdict.severity,
        critical=verdict.severity == highest_severity(compiled.watch),
        score=verdict.match.score, verdict=verdict, title=title, text=text,
    )


# ---
# Pure scoring
# ---


def evaluate(items: Sequence[GoldItem], predictions: Mapping[str, Prediction]) -> EvalResult:
    """Score predictions by item id; a missing prediction counts as no alert."""
    tp = fp = fn = crit_items = crit_hits = sev_right = 0
    groups: dict[str, GroupRate] = {}
    misses: list[str] = []
    false_alerts: list[str] = []
    wrong_severity: list[str] = []
    for item in items:
        pred = predictions.get(item.id, Prediction(item.id, None, False, 0.0))
        gold_critical = item.label == "critical"
        if gold_critical:
            crit_items += 1
            crit_hits += int(pred.critical)
        if item.positive and pred.alert:
            tp += 1
            if pred.critical == gold_critical:
                sev_right += 1
            else:
                wrong_severity.append(item.id)
        elif item.positive:
            fn += 1
            misses.append(item.id)
        else:
            rate = groups.get(item.group, GroupRate())
            groups[item.group] = GroupRate(rate.negatives + 1, rate.false_alerts + pred.alert)
            if pred.alert:
                fp += 1
                false_alerts.append(item.id)
    return EvalResult(
        items=len(items), tp=tp, fp=fp, fn=fn, critical_items=crit_items,
        critical_hits=crit_hits, severity_right=sev_right,
        groups={g: groups[g] for g in sorted(groups)}, misses=tuple(misses),
        false_alerts=tuple(false_alerts), wrong_severity=tuple(wrong_severity),
    )


# ---
# Reading the corpus
# ---


def _string(obj: Mapping[str, object], key: str, where: str) -> str:
    if key not in obj:
        raise CorpusError(f"{where}: missing field {key!r} (each line needs id, text, group "
                          "and label; see docs/watch-quality.md)")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise CorpusError(f"{where}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_record(obj: object, where: str) -> GoldItem:
    """One corpus record; `where` ("FILE:LINE") prefixes every error message."""
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    item_id = _string(obj, "id", where)
    text = _string(obj, "text", where)
    group = _string(obj, "group", where)
    label = _string(obj, "label", where)
    if label not in LABELS:
        raise CorpusError(f"{where}: field 'label' must be one of {', '.join(LABELS)}, "
                          f"got {label!r}")
    has_headline = obj.get("has_headline", "\n" in text.strip())
    if not isinstance(has_headline, bool):
        raise CorpusError(f"{where}: field 'has_headline' must be true or false, "
                          f"got {has_headline!r}")
    return GoldItem(id=item_id, text=text, group=group, label=label, has_headline=has_headline)


def parse_lines(lines: Iterable[str], name: str) -> list[GoldItem]:
    return jsonl.parse_lines(lines, name, parse_record)


def load_corpus(path: Path) -> list[GoldItem]:
    return jsonl.load(path, parse_lines, "an escalation JSONL corpus "
                      "(e.g. ../shared/corpus/escalation/dev.jsonl)")


# ---
# Report
# ---


def format_scores(result: EvalResult, name: str, watch: Watch) -> str:
    top = highest_severity(watch)
    lines = [
        f"watch {watch.name}: {name} ({result.items} items; alert = severity "
        f"{min(watch.severities, key=lambda s: s.threshold).name} or higher, critical = {top})",
        f"  alert precision {result.precision:.3f}  recall {result.recall:.3f}  "
        f"F1 {result.f1:.3f}  (TP={result.tp} FP={result.fp} FN={result.fn})",
        f"  critical recall {result.critical_hits}/{result.critical_items} = "
        f"{result.critical_recall:.3f}",
        f"  severity accuracy on true positives {result.severity_right}/{result.tp} = "
        f"{result.severity_accuracy:.3f}",
        "  false-alert rate among each group's negatives:",
    ]
    lines += [f"    {g}: {r.false_alerts}/{r.negatives} = {r.rate:.1%}"
              for g, r in result.groups.items()]
    if not result.groups:
        lines.append("    (no negatives)")
    return "\n".join(lines)


def _hit_line(hit: RuleHit, joined: str) -> str:
    left = joined[max(0, hit.start - 30):hit.start].replace("\n", " ")
    right = joined[hit.end:hit.end + 30].replace("\n", " ")
    note = f" ({hit.note})" if hit.note else ""
    span = f"…{left}[{joined[hit.start:hit.end]}]{right}…"
    return f"      {hit.weight:+6.2f}  {hit.rule:<30} {span}{note}"


def explain_item(item: GoldItem, pred: Prediction) -> list[str]:
    """The item's verdict and every non-entity rule that fired, with its context."""
    excerpt = " ".join(item.text.split())
    excerpt = excerpt if len(excerpt) <= 100 else excerpt[:99] + "…"
    got = pred.severity or "no alert"
    lines = [f"  {item.id} [group {item.group}, label {item.label}] -> {got} "
             f"(score {pred.score:.2f}): {excerpt}"]
    verdict = pred.verdict
    if verdict is None:
        return lines
    joined = f"{pred.title}\n{pred.text}"
    entities = ", ".join(verdict.match.entities) or "none"
    lines.append(f"      entity groups: {entities}")
    rules = [h for h in verdict.match.hits if not h.rule.startswith("entity:")]
    lines += [_hit_line(h, joined) for h in rules]
    if not rules:
        lines.append("      no escalation or de-escalation rule fired")
    return lines


def format_errors(items: Sequence[GoldItem], preds: Mapping[str, Prediction],
                  result: EvalResult) -> str:
    by_id = {it.id: it for it in items}
    out: list[str] = []
    for heading, ids in (("misses (labelled an alert, none given)", result.misses),
                         ("false alerts (labelled none)", result.false_alerts),
                         ("wrong severity (alerted, critical or not wrong)",
                          result.wrong_severity)):
        out.append(f"{heading}: {len(ids)}")
        for item_id in ids:
            out += explain_item(by_id[item_id], preds[item_id])
    return "\n".join(out)


# ---
# Command line
# ---


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="labelled corpus")
    parser.add_argument("--watch", required=True, metavar="NAME", help="the watch to score")
    parser.add_argument("--config", metavar="F",
                        help="config file (default: $WATCHER_CONFIG, else config/watcher.toml)")
    parser.add_argument("--predictions", type=Path, metavar="OUT.jsonl",
                        help='write {"id", "alert", "severity", "score"} per item')


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        cfg = load_config(resolve_path(args.config, os.environ))
    except ConfigError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    try:
        watch = cfg.watch(args.watch)
    except ConfigError as exc:
        print(f"error: {cfg.path}: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    try:
        items = load_corpus(path)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    compiled = compile_watch(watch)
    preds = {it.id: predict(compiled, it) for it in items}
    if args.predictions is not None:
        out: Path = args.predictions
        try:
            with out.open("w", encoding="utf-8") as fh:
                for it in items:
                    fh.write(json.dumps(preds[it.id].as_json()) + "\n")
        except OSError as exc:
            print(f"error: {out}: cannot write predictions ({exc.strerror}); check that the "
                  "directory exists and is writable", file=sys.stderr)
            return 2
    result = evaluate(items, preds)
    print(format_scores(result, str(path), watch))
    print(format_errors(items, preds, result))
    return 0
