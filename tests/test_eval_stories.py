"""Story-grouping evaluation: scoring on hand-made clusters, input checks, the command, and the
targets on the development set (skipped when ../shared is absent)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.story_articles import BACKGROUND, BAR_SHOOTING, BAR_SHOOTING_FOLLOWUP, QUAKE_PERU
from watcher.eval import stories as ev

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "stories"

# gold: {a b c} {d e}
GOLD = {"a": "G1", "b": "G1", "c": "G1", "d": "G2", "e": "G2"}


@pytest.mark.parametrize(
    ("pred", "pairwise", "bcubed"),
    [
        # perfect
        ({"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}, (1.0, 1.0), (1.0, 1.0)),
        # {a b} {c d e}: pairs ab, cd, ce, de predicted; ab and de right, of 4 gold pairs.
        # B-cubed precision: a, b 1; c 1/3; d, e 2/3 -> 11/15. Recall: a, b 2/3; c 1/3; d, e 1.
        ({"a": 1, "b": 1, "c": 2, "d": 2, "e": 2}, (2 / 4, 2 / 4), (11 / 15, 11 / 15)),
        # all singletons: no predicted pair (precision 1 by convention), recall 0.
        # B-cubed recall: a, b, c 1/3; d, e 1/2 -> 2/5.
        ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, (1.0, 0.0), (1.0, 2 / 5)),
        # one cluster: 10 predicted pairs, 4 right. B-cubed precision: 3 * 3/5 + 2 * 2/5 -> 13/25.
        ({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}, (4 / 10, 1.0), (13 / 25, 1.0)),
    ],
)
def test_pairwise_and_bcubed(pred: dict[str, int], pairwise: tuple[float, float],
                             bcubed: tuple[float, float]) -> None:
    p = {k: str(v) for k, v in pred.items()}
    pw = ev.pairwise(GOLD, p)
    b3 = ev.bcubed(GOLD, p)
    assert (pw.precision, pw.recall) == pytest.approx(pairwise)
    assert (b3.precision, b3.recall) == pytest.approx(bcubed)


def test_f1_is_the_harmonic_mean() -> None:
    assert ev.PRF(0.5, 1.0).f1 == pytest.approx(2 / 3)
    assert ev.PRF(0.0, 0.0).f1 == 0.0


def test_scores_need_the_same_items() -> None:
    with pytest.raises(ValueError, match="differ"):
        ev.pairwise({"a": "1"}, {"b": "1"})


def test_pair_scores() -> None:
    story = {"a": "s1", "b": "s1", "c": "s1", "d": "s2", "e": "s3", "f": "s3"}
    # b revises a, c revises b: a and c are duplicates through the chain; f revises nothing
    dup_of: dict[str, str | None] = {"a": None, "b": "a", "c": "b", "d": None, "e": None,
                                     "f": None}
    pairs = [
        ("a", "c", "dup"),  # flagged through the chain
        ("e", "f", "dup"),  # same story but not flagged as a duplicate
        ("a", "b", "same_story"),
        ("a", "d", "same_story"),
        ("a", "d", "different"),
        ("e", "f", "different"),  # wrongly merged
    ]
    got = ev.pair_scores(pairs, story, dup_of)
    assert got == ev.PairScores(dup_flagged=1, dup_total=2, same_together=1, same_total=2,
                                different_merged=1, different_total=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/02/2013\nLindsay checks in.", date(2013, 5, 2)),
        ("27/09/2013 - Elections to be held", date(2013, 9, 27)),  # day first: 27 > 12
        ("12/16/08 1:30 AM EST\nBoston looks to sign.", date(2008, 12, 16)),
        ("Published on Friday, 27 September 2013\nText.", date(2013, 9, 27)),
        ("May 3rd, 2013 2:00pm EDT\nText.", date(2013, 5, 3)),
        ("2013-09-26\nText.", date(2013, 9, 26)),
        ("No date up here.\nNor here.\nMarch 3, 2009 is too far down.", None),
        ("13/13/2013 is not a date.", None),
    ],
)
def test_date_in_text(text: str, expected: date | None) -> None:
    assert ev.date_in_text(text) == expected


# ---
# Reading and the command
# ---


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def corpus(tmp_path: Path) -> tuple[Path, Path, Path]:
    rows = [
        {"id": "bar", "title": "Two men wounded in shooting outside Millbrook bar",
         "text": BAR_SHOOTING, "date": "2024-05-04", "source": "a.example",
         "url": "https://a.example/bar?utm_source=x", "cluster_id": "bar"},
        {"id": "quake", "title": "Magnitude 6.1 earthquake strikes off northern Peru",
         "text": QUAKE_PERU, "date": "2024-05-05", "source": "b.example", "url": None,
         "cluster_id": "quake"},
        {"id": "arrest", "title": "Police arrest suspect in Blue Anchor bar shooting",
         "text": BAR_SHOOTING_FOLLOWUP, "date": "2024-05-06", "source": "a.example",
         "url": "https://a.example/arrest", "cluster_id": "bar"},
        {"id": "budget", "title": BACKGROUND[0][0], "text": BACKGROUND[0][1], "date": None,
         "source": None, "url": None, "cluster_id": "budget"},
    ]
    variants = [
        {"id": "bar-amp", "title": "Two men wounded in shooting outside Millbrook bar | AP",
         "text": "(AP) - " + BAR_SHOOTING, "date": "2024-05-04", "source": "a.example",
         "url": "https://a.example/bar/amp", "cluster_id": "bar", "derived_from": "bar"},
    ]
    pairs = [
        {"a_id": "bar", "b_id": "bar-amp", "label": "dup"},
        {"a_id": "bar", "b_id": "arrest", "label": "same_story"},
        {"a_id": "bar", "b_id": "quake", "label": "different"},
        {"a_id": "bar", "b_id": "budget", "label": "different"},
    ]
    return (write_jsonl(tmp_path / "small.jsonl", rows),
            write_jsonl(tmp_path / "small_pairs.jsonl", pairs),
            write_jsonl(tmp_path / "small_variants.jsonl", variants))


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    return ev.run(parser.parse_args(argv))


def test_command_scores_and_writes_predictions(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data, pairs, _ = corpus(tmp_path)
    out = tmp_path / "pred.jsonl"
    # the variants file is found next to the pairs file
    assert run_command([str(data), "--predictions", str(out), "--pairs", str(pairs)]) == 0
    printed = capsys.readouterr().out
    assert "pairwise  precision 1.0000  recall 1.0000  F1 1.0000" in printed
    assert "B-cubed   precision 1.0000  recall 1.0000  F1 1.0000" in printed
    assert "dup flagged 1.0000 (1/1)" in printed
    assert "same_story together 1.0000 (1/1)" in printed
    assert "different merged 0.0000 (0/2)" in printed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["bar", "quake", "arrest", "budget"]  # no variants
    assert {r["id"]: r["story_id"] for r in rows}["arrest"] == "bar"
    assert all(set(r) == {"id", "story_id", "duplicate_of"} for r in rows)


def test_pairs_naming_unknown_articles_without_variants(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, pairs, variants = corpus(tmp_path)
    variants.unlink()
    assert run_command([str(data), "--pairs", str(pairs)]) == 2
    err = capsys.readouterr().err
    assert "small_pairs.jsonl:1: unknown article id 'bar-amp'" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "title": "t", "text": "x", "cluster_id": "c"}\n{not json}\n',
         ":2: invalid JSON"),
        ('{"title": "t", "text": "x", "cluster_id": "c"}\n', ":1: missing field 'id'"),
        ('{"id": "a", "title": "t", "text": "x"}\n', ":1: missing field 'cluster_id'"),
        ('{"id": 5, "title": "t", "text": "x", "cluster_id": "c"}\n',
         ":1: field 'id' must be a string"),
        ('{"id": "a", "title": "t", "text": "x", "cluster_id": "c"}\n' * 2,
         ":2: duplicate id 'a' (first on line 1)"),
        ('{"id": "a", "title": "t", "text": "x", "cluster_id": "c", "date": "2024-13-01"}\n',
         ":1: date '2024-13-01' is not YYYY-MM-DD or ISO 8601"),
        ('{"id": "a", "title": "", "text": " ", "cluster_id": "c"}\n',
         ":1: article 'a' has neither title nor text"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ("", "no records"),
    ],
)
def test_bad_input_is_reported_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    assert run_command([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_missing_file_and_bad_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command([str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    data, _, _ = corpus(tmp_path)
    assert run_command([str(data), "--window-hours", "0"]) == 2
    assert "--window-hours must be > 0" in capsys.readouterr().err


def test_python_m_watcher_eval_stories(tmp_path: Path) -> None:
    data, pairs, _ = corpus(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "watcher.eval", "stories", str(data), "--pairs", str(pairs)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pairwise" in proc.stdout and "dup flagged" in proc.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "watcher.eval", "stories", str(bad)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "bad.jsonl:1: invalid JSON" in proc.stderr and "Traceback" not in proc.stderr


# ---
# Targets on the development set
# ---


def test_development_set_targets() -> None:
    dev = CORPUS / "dev.jsonl"
    pairs_path = CORPUS / "dev_pairs.jsonl"
    variants_path = CORPUS / "dev_variants.jsonl"
    if not (dev.exists() and pairs_path.exists() and variants_path.exists()):
        pytest.skip("../shared/corpus/stories is not available")
    articles = ev.load_articles(dev)
    assigned = ev.run_stream(articles)
    gold = {a.id: a.cluster_id for a in articles}
    pred = {a.id: assigned[a.id].story_id for a in articles}
    assert ev.pairwise(gold, pred).f1 >= 0.90
    assert ev.bcubed(gold, pred).f1 >= 0.90

    variants = ev.load_articles(variants_path, variants=True)
    with_variants = ev.run_stream(ev._with_variants(articles, variants))
    scores = ev.pair_scores(
        ((p.a_id, p.b_id, p.label) for p in ev.load_pairs(pairs_path)),
        {k: v.story_id for k, v in with_variants.items()},
        {k: v.duplicate_of for k, v in with_variants.items()},
    )
    assert scores.dup_flagged / scores.dup_total >= 0.98
    assert scores.different_merged / scores.different_total <= 0.01
