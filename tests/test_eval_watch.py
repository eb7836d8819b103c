"""`python -m watcher.eval watch` and the `assess` rules it measures.

Every item and article here is invented for the tests; nothing is copied from ../shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.assess import DEATHS_RULE, assess
from watcher.eval.__main__ import build_parser, main
from watcher.eval.watch import (
    CorpusError,
    EvalResult,
    GoldItem,
    GroupRate,
    Prediction,
    article_fields,
    evaluate,
    load_corpus,
    parse_lines,
    parse_record,
)
from watcher.match import compile_watch
from watcher.models import Severity, Term, Watch

ROOT = Path(__file__).resolve().parents[1]

WATCH = Watch(
    name="test-watch",
    channel="#test",
    entities={"armenia": ("Armenia", "Yerevan"), "azerbaijan": ("Azerbaijan", "Baku")},
    escalation=(Term("shell", 3.0), Term("clash", 2.0), Term("offensive", 8.0)),
    deescalation=(Term("ceasefire", 1.0),),
    severities=(Severity("advisory", 4.0), Severity("urgent", 8.0)),
)

CONFIG = """\
[[watches]]
name = "test-watch"
channel = "#test"
[watches.entities]
armenia = ["Armenia", "Yerevan"]
azerbaijan = ["Azerbaijan", "Baku"]
[watches.escalation]
shell = 3.0
clash = 2.0
offensive = 8.0
[watches.severities]
warning = 4.0
critical = 8.0
"""

# label, text (headline \n lead); the shipped-format fields plus ones the command ignores
CORPUS = [
    {"id": "p1", "group": "A", "label": "critical", "has_headline": True,
     "text": "Offensive near Yerevan\nBaku launched an offensive near Yerevan on Monday."},
    {"id": "p2", "group": "A", "label": "warning", "has_headline": True,
     "text": "Shelling near Baku\nArmenia said Baku shelled a village and clashes followed."},
    {"id": "p3", "group": "A", "label": "critical", "has_headline": False,
     "text": "Yerevan said clashes continued near the border."},
    {"id": "n1", "group": "B", "label": "none", "has_headline": True,
     "text": "Chess win for Armenia\nYerevan celebrated a chess title.", "note": "ignored"},
    {"id": "n2", "group": "B", "label": "none", "has_headline": True,
     "text": "Baku trade fair\nShelling of prices: Baku traders clash with a new tax."},
    {"id": "n3", "group": "C", "label": "none", "has_headline": True,
     "text": "Shelling elsewhere\nAn offensive far from the region went on."},
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "w.toml"
    config.write_text(CONFIG, encoding="utf-8")
    corpus = write(tmp_path / "c.jsonl", [json.dumps(obj) for obj in CORPUS])
    return config, corpus


# ---
# Reading the corpus
# ---


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "f:3: expected a JSON object, got list"),
        ({"text": "x", "group": "A", "label": "none"}, "f:3: missing field 'id'"),
        ({"id": "a", "group": "A", "label": "none"}, "f:3: missing field 'text'"),
        ({"id": "a", "text": "x", "label": "none"}, "f:3: missing field 'group'"),
        ({"id": "a", "text": "x", "group": "A"}, "f:3: missing field 'label'"),
        ({"id": "", "text": "x", "group": "A", "label": "none"}, "f:3: field 'id' must be"),
        ({"id": 7, "text": "x", "group": "A", "label": "none"}, "f:3: field 'id' must be"),
        ({"id": "a", "text": "x", "group": "A", "label": "high"},
         "f:3: field 'label' must be one of critical, warning, none, got 'high'"),
        ({"id": "a", "text": "x", "group": "A", "label": "none", "has_headline": "yes"},
         "f:3: field 'has_headline' must be true or false"),
    ],
)
def test_parse_record_errors(obj: object, message: str) -> None:
    with pytest.raises(CorpusError) as info:
        parse_record(obj, "f:3")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"id": "a", "text": "H\nL", "group": "B", "label": "none"},
         GoldItem("a", "H\nL", "B", "none", True)),
        ({"id": "a", "text": "only a lead", "group": "A", "label": "warning"},
         GoldItem("a", "only a lead", "A", "warning", False)),
        ({"id": "a", "text": "H\nL", "group": "A", "label": "critical", "has_headline": False,
          "date": "2020-01-01", "episode": "x"},
         GoldItem("a", "H\nL", "A", "critical", False)),
    ],
)
def test_parse_record(obj: object, expected: GoldItem) -> None:
    assert parse_record(obj, "f:1") == expected


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a"'], "c.jsonl:1: not valid JSON"),
        (["", json.dumps(CORPUS[0]), json.dumps(CORPUS[0])], "c.jsonl:3: duplicate id 'p1'"),
        ([json.dumps(CORPUS[0]), "", '{"id": "b", "text": "t", "group": "A", "label": "?"}'],
         "c.jsonl:3: field 'label'"),
    ],
)
def test_parse_lines_errors_name_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(CorpusError) as info:
        parse_lines(lines, "c.jsonl")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "no records"),
        (b"\n\n", "no records"),
        (b'{"id": "\xff"}\n', "not UTF-8"),
    ],
)
def test_load_corpus_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "c.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        load_corpus(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_load_corpus_rejects_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is a directory"):
        load_corpus(tmp_path)


# ---
# The article the pipeline would see
# ---


@pytest.mark.parametrize(
    ("text", "has_headline", "title", "body"),
    [
        ("Head line\nThe lead.", True, "Head line", "The lead."),
        ("  Head &amp; line \nThe <b>lead</b>.", True, "Head & line", "The lead."),
        ("The lead only, no headline.", False, "The lead only, no headline.",
         "The lead only, no headline."),
        ("x" * 130, False, "x" * 120, "x" * 130),  # a feed entry's title cut from its text
    ],
)
def test_article_fields(text: str, has_headline: bool, title: str, body: str) -> None:
    item = GoldItem("a", text, "A", "none", has_headline)
    assert article_fields(item) == (title, body)


# ---
# Scoring
# ---


def item(item_id: str, label: str, group: str = "A") -> GoldItem:
    return GoldItem(item_id, "text", group, label, True)


def pred(item_id: str, severity: str | None, critical: bool = False) -> Prediction:
    return Prediction(item_id, severity, critical, 1.0)


@pytest.mark.parametrize(
    ("items", "preds", "expected"),
    [
        # TP critical right, TP warning right, FN, FP in B, TN in B and C
        ([item("a", "critical"), item("b", "warning"), item("c", "warning"),
          item("d", "none", "B"), item("e", "none", "B"), item("f", "none", "C")],
         [pred("a", "urgent", True), pred("b", "advisory"), pred("c", None),
          pred("d", "advisory"), pred("e", None), pred("f", None)],
         EvalResult(items=6, tp=2, fp=1, fn=1, critical_items=1, critical_hits=1,
                    severity_right=2, groups={"B": GroupRate(2, 1), "C": GroupRate(1, 0)},
                    misses=("c",), false_alerts=("d",))),
        # critical alerting as warning: a TP with the wrong severity and a critical miss;
        # warning alerting as critical: wrong severity; a missing prediction is no alert
        ([item("a", "critical"), item("b", "warning"), item("c", "critical")],
         [pred("a", "advisory"), pred("b", "urgent", True)],
         EvalResult(items=3, tp=2, fp=0, fn=1, critical_items=2, critical_hits=0,
                    severity_right=0, groups={}, misses=("c",), wrong_severity=("a", "b"))),
    ],
)
def test_evaluate(items: list[GoldItem], preds: list[Prediction], expected: EvalResult) -> None:
    assert evaluate(items, {p.id: p for p in preds}) == expected


@pytest.mark.parametrize(
    ("result", "precision", "recall", "f1", "critical_recall", "severity_accuracy"),
    [
        (EvalResult(0, 0, 0, 0, 0, 0, 0), 0.0, 0.0, 0.0, 0.0, 0.0),
        (EvalResult(10, 3, 1, 0, 2, 1, 2), 0.75, 1.0, 6 / 7, 0.5, 2 / 3),
        (EvalResult(10, 1, 1, 3, 1, 1, 1), 0.5, 0.25, 1 / 3, 1.0, 1.0),
    ],
)
def test_rates(result: EvalResult, precision: float, recall: float, f1: float,
               critical_recall: float, severity_accuracy: float) -> None:
    assert result.precision == pytest.approx(precision)
    assert result.recall == pytest.approx(recall)
    assert result.f1 == pytest.approx(f1)
    assert result.critical_recall == pytest.approx(critical_recall)
    assert result.severity_accuracy == pytest.approx(severity_accuracy)


@pytest.mark.parametrize(
    ("prediction", "line"),
    [
        (Prediction("a", "urgent", True, 9.5), {"id": "a", "alert": True, "severity": "urgent",
                                                 "score": 9.5}),
        (Prediction("b", None, False, 0.0), {"id": "b", "alert": False, "severity": "none",
                                              "score": 0.0}),
    ],
)
def test_prediction_json(prediction: Prediction, line: dict[str, object]) -> None:
    assert prediction.as_json() == line


# ---
# assess: what the evaluation measures is what the pipeline alerts on
# ---


@pytest.mark.parametrize(
    ("title", "text", "severity", "raised"),
    [
        # alerts on its own (3 + 2) and reports a current toll: raised to the highest
        ("Clashes near Yerevan", "Baku shelled a village near Yerevan on Tuesday, killing 4 "
         "soldiers, officials said.", "urgent", True),
        ("", "Baku shelled a village near Yerevan on Tuesday, killing 4 soldiers, officials "
         "said. Clashes followed.", "urgent", True),
        # the only toll is historical: not raised
        ("Clashes near Yerevan", "Baku shelled a village near Yerevan on Tuesday. The war in "
         "1992 killed 30,000 people.", "advisory", False),
        # a toll of zero: not raised
        ("Clashes near Yerevan", "Baku shelled a village near Yerevan. No one was killed, "
         "officials said.", "advisory", False),
        # below the threshold: a toll alone never alerts
        ("Yerevan", "A bus crash near Yerevan on Tuesday killed 4 people, officials said.",
         None, False),
        # already the highest: nothing to raise
        ("Offensive near Yerevan", "Baku launched an offensive near Yerevan on Tuesday, "
         "killing 4 soldiers, officials said.", "urgent", False),
    ],
)
def test_current_deaths_raise_an_alert_to_the_highest_severity(
    title: str, text: str, severity: str | None, raised: bool
) -> None:
    verdict = assess(compile_watch(WATCH), title, text)
    assert verdict.severity == severity
    deaths = [h for h in verdict.match.hits if h.rule == DEATHS_RULE]
    assert len(deaths) == int(raised)
    joined = f"{title}\n{text}"
    for hit in verdict.match.hits:
        assert joined[hit.start:hit.end] == hit.matched
    if raised:
        assert deaths[0].note == "4 killed: severity advisory -> urgent"
        assert verdict.match.score < 8.0  # the score itself is unchanged


@pytest.mark.parametrize(
    ("title", "text", "score_"),
    [
        # a title cut from the text is not scored twice
        ("Baku shelled Yerevan", "Baku shelled Yerevan overnight.", 3.0),
        # a real headline is: the repeat counts a third
        ("Shelling hits Yerevan", "Baku shelled Yerevan overnight.", 4.0),
        ("", "Baku shelled Yerevan overnight.", 3.0),
    ],
)
def test_a_title_repeating_the_text_is_scored_once(title: str, text: str, score_: float) -> None:
    verdict = assess(compile_watch(WATCH), title, text)
    assert verdict.match.score == pytest.approx(score_)
    joined = f"{title}\n{text}"
    for hit in verdict.match.hits:
        assert joined[hit.start:hit.end] == hit.matched


# ---
# The command
# ---


def test_command_reports_scores_and_explains_errors(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, corpus = setup
    out = tmp_path / "preds.jsonl"
    code = main(["watch", str(corpus), "--watch", "test-watch", "--config", str(config),
                 "--predictions", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    # p1 critical (offensive 8 + a repeat), p2 warning (3 + 2 + 1), p3 missed (2), n2 a false
    # alert in B, n3 no entity: no alert
    assert "alert precision 0.667  recall 0.667  F1 0.667  (TP=2 FP=1 FN=1)" in printed
    assert "critical recall 1/2 = 0.500" in printed
    assert "severity accuracy on true positives 2/2 = 1.000" in printed
    assert "B: 1/2 = 50.0%" in printed and "C: 0/1 = 0.0%" in printed
    assert "misses (labelled an alert, none given): 1\n  p3 [group A, label critical]" in printed
    assert "false alerts (labelled none): 1\n  n2 [group B, label none] -> warning" in printed
    assert "escalation:shell" in printed and "[Shelling]" in printed
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [obj["id"] for obj in CORPUS]
    assert lines[0] == {"id": "p1", "alert": True, "severity": "critical", "score": 10.666667}
    assert lines[2] == {"id": "p3", "alert": False, "severity": "none", "score": 2.0}
    assert all(set(line) == {"id", "alert", "severity", "score"} for line in lines)


@pytest.mark.parametrize(
    ("corpus_lines", "extra", "message"),
    [
        (['{"id": "a", "text": "t", "group": "A", "label": "none"}', "{oops"], [],
         "c.jsonl:2: not valid JSON"),
        (['{"id": "a", "text": "t", "group": "A"}'], [], "c.jsonl:1: missing field 'label'"),
        (['{"id": "a", "text": "t", "group": "A", "label": "none"}'], ["--watch", "nope"],
         "no watch named 'nope'"),
        (['{"id": "a", "text": "t", "group": "A", "label": "none"}'],
         ["--config", "/nonexistent/w.toml"], "file not found: /nonexistent/w.toml"),
        (['{"id": "a", "text": "t", "group": "A", "label": "none"}'],
         ["--predictions", "/nonexistent/dir/p.jsonl"], "cannot write predictions"),
    ],
)
def test_command_bad_input_exits_2_with_a_message(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    corpus_lines: list[str], extra: list[str], message: str,
) -> None:
    config, _ = setup
    corpus = write(tmp_path / "c.jsonl", corpus_lines)
    args = ["watch", str(corpus), "--watch", "test-watch", "--config", str(config), *extra]
    if "--watch" in extra:
        args[2:4] = []
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_command_finds_the_config_through_the_environment(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, corpus = setup
    monkeypatch.setenv("WATCHER_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)  # no config/watcher.toml here
    assert main(["watch", str(corpus), "--watch", "test-watch"]) == 0
    assert "(TP=2 FP=1 FN=1)" in capsys.readouterr().out
    monkeypatch.delenv("WATCHER_CONFIG")
    assert main(["watch", str(corpus), "--watch", "test-watch"]) == 2
    assert "file not found: config/watcher.toml" in capsys.readouterr().err


def test_command_runs_as_a_module_without_traceback(setup: tuple[Path, Path]) -> None:
    config, _ = setup
    proc = subprocess.run(
        [sys.executable, "-m", "watcher.eval", "watch", str(config), "--watch", "test-watch",
         "--config", str(config)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 2
    assert f"{config}:1: not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["casualties", "stories", "watch"])
def test_every_eval_command_is_offered(command: str) -> None:
    parser = build_parser()
    args = parser.parse_args([command, "f.jsonl", *(["--watch", "w"] if command == "watch"
                                                    else [])])
    assert args.command == command and callable(args.handler)
