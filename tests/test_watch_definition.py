"""The shipped watch definition (the [[watches]] part of config/watcher.toml) is written as
general rules, not memorised from the labelled development set.

The dev set is read from ../shared at run time (never copied into the project); the tests that
need it skip when it is absent. Every example string in this file is invented.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from watcher.assess import assess
from watcher.config import load_config
from watcher.eval.watch import EvalResult, evaluate, highest_severity, load_corpus, predict
from watcher.match import compile_watch, fold

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "watcher.toml"
DEV = ROOT.parent / "shared" / "corpus" / "escalation" / "dev.jsonl"
WATCH = "armenia-azerbaijan"
RUN = 5  # words: no run this long from a dev item may appear in the definition

needs_dev = pytest.mark.skipif(not DEV.is_file(), reason="../shared escalation corpus absent")


def watch_definition() -> str:
    """Everything from the first [[watches]] line of the shipped config on."""
    text = CONFIG.read_text(encoding="utf-8")
    m = re.search(r"^\[\[watches\]\]", text, re.M)
    assert m is not None, "config/watcher.toml has no [[watches]] section"
    return text[m.start():]


def words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def runs(text: str, n: int = RUN) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def copied_from(items: Iterable[dict[str, object]], definition: str) -> list[str]:
    """What of `items` appears in `definition`: whole headlines, and runs of RUN words."""
    flat = " ".join(words(definition))
    found: list[str] = []
    item_runs: dict[tuple[str, ...], str] = {}
    for item in items:
        text = str(item["text"])
        headline = text.split("\n", 1)[0] if item.get("has_headline", "\n" in text) else ""
        head = " ".join(words(headline))
        if head and re.search(rf"\b{re.escape(head)}\b", flat):
            found.append(f"{item['id']}: headline {headline!r}")
        for r in runs(text):
            item_runs.setdefault(r, str(item["id"]))
    shared = sorted(runs(definition) & item_runs.keys())
    found += [f"{item_runs[r]}: {' '.join(r)!r}" for r in shared]
    return found


def dev_items() -> list[dict[str, object]]:
    with DEV.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---
# The checker itself, on invented items (it must be able to fail)
# ---

INVENTED = [
    {"id": "X1", "text": "Quiet night on the northern ridge\nPatrols on both sides of the "
                         "northern ridge reported a quiet night and no incidents.",
     "has_headline": True},
    {"id": "X2", "text": "Drills end early\nThe annual drills ended early because of snow.",
     "has_headline": True},
]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ('terms = ["shell", "artillery"]', []),
        ('terms = ["quiet night", "northern ridge"]', []),  # short runs are general words
        ('# reported a quiet night and no incidents', ["X1: 'reported a quiet night and'",
                                                       "X1: 'a quiet night and no'",
                                                       "X1: 'quiet night and no incidents'"]),
        ('terms = ["Patrols on both sides of"]', ["X1: 'patrols on both sides of'"]),
        ('terms = ["QUIET-NIGHT on the Northern ridge"]',
         ["X1: headline 'Quiet night on the northern ridge'",
          "X1: 'quiet night on the northern'", "X1: 'night on the northern ridge'"]),
        ('terms = ["drills end early"]', ["X2: headline 'Drills end early'"]),
        ('terms = ["drills end earlyish"]', []),
    ],
)
def test_copy_checker(definition: str, expected: Sequence[str]) -> None:
    assert sorted(copied_from(INVENTED, definition)) == sorted(expected)


# ---
# The shipped definition
# ---


@needs_dev
def test_watch_definition_copies_nothing_from_the_dev_set() -> None:
    found = copied_from(dev_items(), watch_definition())
    assert found == [], "dev-set text in config/watcher.toml's watch definition:\n" + "\n".join(
        found)


@needs_dev
def test_quality_doc_copies_nothing_from_the_dev_set() -> None:
    doc = ROOT / "docs" / "watch-quality.md"
    found = copied_from(dev_items(), doc.read_text(encoding="utf-8"))
    assert found == [], "dev-set text in docs/watch-quality.md:\n" + "\n".join(found)


def test_shipped_watch_compiles_and_names_its_highest_severity_critical() -> None:
    watch = load_config(CONFIG, {}).watch(WATCH)
    compile_watch(watch)
    assert highest_severity(watch) == "critical"
    assert watch.threshold < max(s.threshold for s in watch.severities)


# Invented articles (title, text) and the shipped watch's verdict: the general rules at work.
@pytest.mark.parametrize(
    ("title", "text", "severity"),
    [
        # escalation
        ("Azerbaijan declares partial mobilisation",
         "Azerbaijan announced a partial mobilisation of reservists amid tension with Armenia.",
         "warning"),
        ("Baku accuses Yerevan of border shooting",
         "Baku said Armenian troops fired at its positions overnight; Yerevan denied the claim.",
         "warning"),
        ("Peacekeepers come under fire in Karabakh",
         "Russian peacekeepers in Nagorno-Karabakh came under fire overnight; two were wounded.",
         "warning"),
        ("Heavy shelling along the Armenian border",
         "Azerbaijani forces attacked villages in Syunik with drones and artillery overnight, "
         "Yerevan said.", "critical"),
        ("Martial law declared in Armenia", "Armenia's government imposed martial law.",
         "critical"),
        ("Border clash near Tavush", "Two Armenian soldiers were killed in a clash with "
         "Azerbaijani troops near Tavush on Monday, the defence ministry said.", "critical"),
        # not escalation, or not this watch's
        ("Armenia's economy slows", "Growth in Armenia slowed as the boom that followed "
         "Russia's invasion of Ukraine faded, the central bank said.", None),
        ("Missiles hit Kyiv", "Russian missiles hit Kyiv overnight, killing 12 people. "
         "Separately, Armenia's foreign minister visited Paris.", None),
        ("Armenian army holds large-scale drills", "Armenia's armed forces began exercises "
         "involving artillery near Yerevan, the defence ministry said.", None),
        ("Azerbaijan marks Victory Day", "Parades were held across Azerbaijan for the "
         "anniversary of the 2020 war, in which thousands of soldiers were killed.", None),
        ("Anniversary of the 2016 fighting", "Yerevan remembered the 2016 fighting and the "
         "1990s war with a ceremony.", None),
        ("Armenia and Azerbaijan agree to de-escalate", "The two sides agreed to de-escalate "
         "tensions on the border and continue peace talks.", None),
        ("Earthquake in Armenia", "A moderate earthquake struck northern Armenia on Sunday, "
         "injuring three people.", None),
        ("Baku denies shelling reports", "Azerbaijan's defence ministry said there was no "
         "shelling near Armenia's border overnight.", None),
    ],
)
def test_shipped_watch_on_invented_articles(title: str, text: str, severity: str | None) -> None:
    compiled = compile_watch(load_config(CONFIG, {}).watch(WATCH))
    assert assess(compiled, title, text).severity == severity


@needs_dev
@pytest.mark.parametrize(
    ("measure", "minimum"),
    [("f1", 0.90), ("critical_recall", 0.95)],
)
def test_shipped_watch_meets_dev_targets(measure: str, minimum: float) -> None:
    result = _dev_result()
    assert getattr(result, measure) >= minimum


@needs_dev
@pytest.mark.parametrize(("group", "maximum"), [("B", 0.05), ("C", 0.02)])
def test_shipped_watch_false_alert_rates(group: str, maximum: float) -> None:
    result = _dev_result()
    assert result.groups[group].negatives > 0
    assert result.groups[group].rate <= maximum


def _dev_result() -> EvalResult:
    watch = load_config(CONFIG, {}).watch(WATCH)
    compiled = compile_watch(watch)
    items = load_corpus(DEV)
    return evaluate(items, {it.id: predict(compiled, it) for it in items})
