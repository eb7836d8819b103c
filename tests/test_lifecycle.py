"""A story's life in Slack: when a later article makes an update, an edit, or nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from watcher.lifecycle import Announced, announced, by_source, change, current_toll
from watcher.models import Alert, CasualtyFigure, SourcedFigure

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SEV = ["warning", "critical"]


def fig(count: int, source: str = "wire", minutes: int = 0) -> SourcedFigure:
    return SourcedFigure("killed", count, "exact", source, f"https://{source}.example/{count}",
                         T0 + timedelta(minutes=minutes))


def state(rank: int = 0, toll: int | None = None, sources: int = 1) -> Announced:
    return Announced("parent", rank, toll, sources)


@pytest.mark.parametrize(("st", "severity", "series", "reasons", "line", "broadcast"), [
    # nothing new
    (state(0, None), "warning", [], None, None, False),
    (state(0, None), None, [], None, None, False),
    (state(1, 17), "critical", [fig(17)], None, None, False),
    (state(1, 17), "warning", [fig(12, "b")], None, None, False),  # a lower figure: no update
    # severity rose: update, broadcast
    (state(0, None), "critical", [], ("severity",), "severity warning → critical", True),
    # first deaths
    (state(0, None), None, [fig(2, "oc")], ("first_deaths",), "killed 2, per oc", False),
    (state(0, 0), None, [fig(1, "oc")], ("first_deaths",), "killed 1, per oc", False),
    # rises: by min_increase (3) or by min_percent (20 %)
    (state(1, 9), None, [fig(9, "a"), fig(17, "b")], ("toll",),
     "killed 17 (was 9, +8), per b", False),
    (state(1, 9), None, [fig(11, "a")], ("toll",), "killed 11 (was 9, +2), per a", False),
    (state(1, 100), None, [fig(102, "a")], None, None, False),  # +2, +2 %: not enough
    (state(1, 100), None, [fig(103, "a")], ("toll",), "killed 103 (was 100, +3), per a", False),
    (state(1, 10), None, [fig(12, "a")], ("toll",), "killed 12 (was 10, +2), per a", False),
    # both at once
    (state(0, 3), "critical", [fig(30, "x")], ("severity", "toll"),
     "severity warning → critical; killed 30 (was 3, +27), per x", True),
    # the count as its source put it (before: "killed 200", for a source's "up to 200")
    (state(1, 17), None, [fig(17), replace(fig(200, "c"), qualifier="up_to")], ("toll",),
     "killed up to 200 (was 17, +183), per c", False),
    (state(0, None), None, [replace(fig(4, "oc"), qualifier="at_least")], ("first_deaths",),
     "killed at least 4, per oc", False),
])
def test_change(st: Announced, severity: str | None, series: list[SourcedFigure],
                reasons: tuple[str, ...] | None, line: str | None, broadcast: bool) -> None:
    got = change(st, severity, SEV, series, min_increase=3, min_percent=20.0)
    if reasons is None:
        assert got is None
        return
    assert got is not None
    assert (got.reasons, got.line, got.broadcast) == (reasons, line, broadcast)


def test_current_toll_is_the_highest_figure_earliest_on_a_tie() -> None:
    assert current_toll([]) is None
    assert current_toll([fig(0)]) is None
    series = [fig(9, "a", 0), fig(17, "b", 5), fig(17, "c", 1), fig(12, "d", 9)]
    top = current_toll(series)
    assert top is not None and (top.count, top.source) == (17, "c")


def test_conflicting_figures_stand_side_by_side() -> None:
    assert by_source([fig(17, "a"), fig(17, "b")]) == ()  # they agree: nothing to show
    series = [fig(9, "a", 0), fig(17, "b", 5), fig(12, "a", 10), fig(12, "c", 3)]
    shown = by_source(series)
    # each source's latest figure, highest first
    assert [(f.count, f.source) for f in shown] == [(17, "b"), (12, "a"), (12, "c")]


def _alert(kind: str, severity: str, killed: int | None, sources: int = 1) -> Alert:
    figure = (CasualtyFigure("killed", killed, "exact", True, (0, 1), "x")
              if killed is not None else None)
    return Alert(f"{kind}-{severity}-{killed}", "s", "w", "#c", severity, 5.0, "t",
                 "https://x.example", "src", T0, "", (), figure, None, sources_count=sources,
                 kind=kind, parent_id=None if kind == "story" else "story-warning-None")


def test_announced_reads_the_story_state_from_its_alerts() -> None:
    assert announced([], SEV) is None
    assert announced([_alert("update", "warning", 3)], SEV) is None  # no parent
    st = announced([_alert("story", "warning", None),
                    _alert("update", "critical", 9, sources=3),
                    _alert("edit", "critical", 9, sources=4)], SEV)
    assert st == Announced("story-warning-None", 1, 9, 4)
