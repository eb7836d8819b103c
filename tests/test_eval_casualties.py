"""Scoring of casualty extraction (`python -m watcher.eval casualties`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.eval.__main__ import main
from watcher.eval.casualties import (
    CorpusError,
    Counts,
    GoldItem,
    Prediction,
    evaluate,
    format_report,
    is_trap_item,
    load_corpus,
    parse_lines,
    parse_record,
    score_field,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEV = SHARED / "corpus" / "casualties" / "dev.jsonl"


@pytest.mark.parametrize(
    ("gold", "pred", "high", "expected"),
    [
        (None, None, None, Counts()),
        (None, 3, None, Counts(fp=1)),
        (3, None, None, Counts(fn=1)),
        (3, 3, None, Counts(tp=1)),
        (3, 4, None, Counts(fp=1, fn=1)),
        (0, 0, None, Counts(tp=1)),
        (0, None, None, Counts(fn=1)),
        (None, 0, None, Counts(fp=1)),
        (10, 10, 12, Counts(tp=1)),
        (10, 11, 12, Counts(tp=1)),
        (10, 12, 12, Counts(tp=1)),
        (10, 13, 12, Counts(fp=1, fn=1)),
        (10, 9, 12, Counts(fp=1, fn=1)),
    ],
)
def test_score_field(gold: int | None, pred: int | None, high: int | None,
                     expected: Counts) -> None:
    assert score_field(gold, pred, high) == expected


@pytest.mark.parametrize(
    ("counts", "precision", "recall", "f1"),
    [
        (Counts(), 0.0, 0.0, 0.0),
        (Counts(tp=3, fp=1, fn=0), 0.75, 1.0, 6 / 7),
        (Counts(tp=1, fp=1, fn=3), 0.5, 0.25, 1 / 3),
        (Counts(fp=2), 0.0, 0.0, 0.0),
    ],
)
def test_counts_metrics(counts: Counts, precision: float, recall: float, f1: float) -> None:
    assert counts.precision == pytest.approx(precision)
    assert counts.recall == pytest.approx(recall)
    assert counts.f1 == pytest.approx(f1)


def _item(item_id: str, killed: int | None, injured: int | None, *, current: bool = True,
          has_figure: bool | None = None, tags: tuple[str, ...] = ()) -> GoldItem:
    if has_figure is None:
        has_figure = killed is not None or injured is not None
    return GoldItem(id=item_id, text="", killed=killed, injured=injured, current=current,
                    has_figure=has_figure, tags=tags)


def test_evaluate_counts_fields_tags_traps_and_negations() -> None:
    items = [
        _item("a", 5, 2, tags=("update",)),  # both right
        _item("b", 3, None, tags=("update", "vague")),  # killed wrong, injured spurious
        _item("c", None, None, current=False, has_figure=True, tags=("historical",)),  # trap
        _item("d", None, None, current=False, has_figure=True),  # trap avoided
        _item("e", 0, 0, tags=("negation",)),  # negation right
        _item("f", None, 0, tags=("negation",)),  # negation missed
        _item("g", None, None, current=False, has_figure=False),  # not a trap item
    ]
    preds = {
        "a": Prediction("a", 5, 2),
        "b": Prediction("b", 4, 1),
        "c": Prediction("c", 30000, None),
        "d": Prediction("d", None, None),
        "e": Prediction("e", 0, 0),
        "f": Prediction("f", None, 3),
        # "g" has no prediction: counts as all null
    }
    r = evaluate(items, preds)
    assert r.items == 7
    assert r.by_field["killed"] == Counts(tp=2, fp=2, fn=1)
    assert r.by_field["injured"] == Counts(tp=2, fp=2, fn=1)
    assert r.overall == Counts(tp=4, fp=4, fn=2)
    assert (r.trapped, r.trap_items, r.trap_rate) == (1, 2, 0.5)
    assert (r.negation_correct, r.negation_items, r.negation_accuracy) == (1, 2, 0.5)
    assert r.by_tag["update"] == (2, Counts(tp=2, fp=2, fn=1))
    assert r.by_tag["negation"] == (2, Counts(tp=2, fp=1, fn=1))
    assert r.wrong == ("b", "c", "f")
    assert r.tag_correct == {"update": 1, "vague": 0, "historical": 0, "negation": 1}
    report = format_report(r, "mini.jsonl")
    assert "trap rate: 1/2 = 50.0%" in report
    assert "negation accuracy: 1/2 = 0.500" in report
    assert "historical" in report and "nothing to score" not in report.split("historical")[0]
    assert " 0/1   P=0.000 R=0.000 F1=0.000  (TP=0 FP=1 FN=0)" in report  # the trapped item


def test_report_says_when_a_tag_has_nothing_to_score() -> None:
    r = evaluate([_item("n", None, None, tags=("figurative",))], {})
    assert "figurative                  1/1   no figures, nothing to score" in format_report(r, "x")


def test_evaluate_with_nothing_to_measure() -> None:
    r = evaluate([], {})
    assert (r.trap_rate, r.negation_accuracy, r.overall.f1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("record", "trap"),
    [
        ({"current": False, "killed": 12, "injured": None}, True),
        ({"current": False, "killed": 0, "injured": 0}, True),
        ({"current": False, "killed": None, "injured": None}, False),
        ({"current": True, "killed": 12, "injured": None}, False),
    ],
)
def test_trap_items(record: dict[str, object], trap: bool) -> None:
    base = {"id": "x", "text": "t", "expected_current_killed": None,
            "expected_current_injured": None}
    assert is_trap_item(parse_record({**base, **record}, "f:1")) is trap


def test_parse_record_reads_range_bounds_only_for_ranges() -> None:
    base = {"id": "r", "text": "t", "expected_current_killed": 10,
            "expected_current_injured": 4, "killed_max": 12, "injured_max": 6,
            "tags": ["range"]}
    ranged = parse_record({**base, "qualifier": "range", "injured_qualifier": "range"}, "f:1")
    assert (ranged.killed_high, ranged.injured_high) == (12, 6)
    plain = parse_record({**base, "qualifier": "at_least"}, "f:1")
    assert (plain.killed_high, plain.injured_high) == (None, None)
    assert plain.tags == ("range",) and plain.current


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"text": "t", "expected_current_killed": 1, "expected_current_injured": None},
         "missing field 'id'"),
        ({"id": "x", "text": "t", "expected_current_injured": None},
         "missing field 'expected_current_killed'"),
        ({"id": "", "text": "t", "expected_current_killed": 1, "expected_current_injured": 1},
         "'id' must be a non-empty string"),
        ({"id": "x", "text": 5, "expected_current_killed": 1, "expected_current_injured": 1},
         "'text' must be a string"),
        ({"id": "x", "text": "t", "expected_current_killed": "3",
          "expected_current_injured": None}, "must be a non-negative integer or null"),
        ({"id": "x", "text": "t", "expected_current_killed": True,
          "expected_current_injured": None}, "must be a non-negative integer or null"),
        ({"id": "x", "text": "t", "expected_current_killed": -1,
          "expected_current_injured": None}, "must be a non-negative integer or null"),
        ({"id": "x", "text": "t", "expected_current_killed": 1, "expected_current_injured": 1,
          "current": "yes"}, "'current' must be true or false"),
        ({"id": "x", "text": "t", "expected_current_killed": 1, "expected_current_injured": 1,
          "tags": "a"}, "'tags' must be a list of strings"),
    ],
)
def test_parse_record_errors_name_the_place(record: object, message: str) -> None:
    with pytest.raises(CorpusError) as exc:
        parse_record(record, "corpus.jsonl:7")
    assert str(exc.value).startswith("corpus.jsonl:7: ")
    assert message in str(exc.value)


def _line(item_id: str) -> str:
    return json.dumps({"id": item_id, "text": "t", "expected_current_killed": None,
                       "expected_current_injured": None})


def test_parse_lines_skips_blank_lines_and_names_bad_ones() -> None:
    assert [it.id for it in parse_lines([_line("a"), "\n", _line("b")], "c.jsonl")] == ["a", "b"]
    with pytest.raises(CorpusError, match=r"^c\.jsonl:2: not valid JSON"):
        parse_lines([_line("a"), '{"id": "b", ', _line("c")], "c.jsonl")
    with pytest.raises(CorpusError, match=r"^c\.jsonl:3: duplicate id 'a'"):
        parse_lines([_line("a"), _line("b"), _line("a")], "c.jsonl")


def test_load_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "absent.jsonl")
    with pytest.raises(CorpusError, match="is a directory"):
        load_corpus(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no records"):
        load_corpus(empty)


def test_cli_scores_a_small_corpus_and_writes_predictions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "mini.jsonl"
    rows = [
        {"id": "one", "text": "A car bomb killed 7 people and wounded 12 on Monday.",
         "expected_current_killed": 7, "expected_current_injured": 12, "tags": ["plain"]},
        {"id": "two", "text": "The shelling caused no casualties.",
         "expected_current_killed": 0, "expected_current_injured": 0, "tags": ["negation"]},
        {"id": "three", "text": "A war in the 1970s cost 9,000 lives.", "current": False,
         "killed": 9000, "injured": None, "expected_current_killed": None,
         "expected_current_injured": None, "tags": ["historical"]},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    assert main(["casualties", str(corpus), "--predictions", str(out), "--errors"]) == 0
    printed = capsys.readouterr().out
    assert "overall" in printed and "F1=1.000" in printed
    assert "trap rate: 0/1 = 0.0%" in printed
    assert "negation accuracy: 1/1 = 1.000" in printed
    preds = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert preds == [
        {"id": "one", "killed": 7, "injured": 12},
        {"id": "two", "killed": 0, "injured": 0},
        {"id": "three", "killed": None, "injured": None},
    ]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watcher.eval", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_line("a") + "\nnot json\n", encoding="utf-8")
    res = _run_cli("casualties", str(bad))
    assert res.returncode == 2
    assert f"{bad}:2: not valid JSON" in res.stderr
    assert "Traceback" not in res.stderr
    res = _run_cli("casualties", str(tmp_path / "absent.jsonl"))
    assert res.returncode == 2 and "no such file" in res.stderr
    assert "Traceback" not in res.stderr
    res = _run_cli("casualties", str(bad), "--predictions", str(tmp_path / "no" / "p.jsonl"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_cli_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_dev_set_meets_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not DEV.is_file():
        pytest.skip("../shared/corpus/casualties/dev.jsonl is not available")
    out = tmp_path / "pred.jsonl"
    assert main(["casualties", str(DEV), "--predictions", str(out)]) == 0
    assert "trap rate" in capsys.readouterr().out
    items = load_corpus(DEV)
    preds = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        preds[row["id"]] = Prediction(row["id"], row["killed"], row["injured"])
    assert set(preds) == {it.id for it in items}
    result = evaluate(items, preds)
    assert result.overall.f1 >= 0.90
    assert result.trap_rate <= 0.05
    assert result.negation_accuracy >= 0.90
