"""Casualty extraction: a war's or conflict's whole toll restated as background, and guessed
figures ("may have been killed"), are never the current toll. Table-driven cases written for
this project (no corpus text)."""

from __future__ import annotations

import pytest

from watcher.casualties import extract_casualties
from watcher.models import CasualtyReport


def _killed(report: CasualtyReport) -> int | None:
    return report.killed.count if report.killed is not None else None


# (text, current killed, the background figure, reason fragment): a follow-up that restates the
# whole war's or conflict's toll beside (or without) the toll of the present episode
WAR_LONG: list[tuple[str, int | None, int, str]] = [
    # the war or conflict is the subject of "killed", "claimed ... lives", "cost ... lives"
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The conflict over the "
     "valley has killed more than 12,000 people.", 4, 12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The valley conflict has "
     "claimed about 12,000 lives.", 4, 12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday. The war has cost 12,000 lives.", None, 12000,
     "war-long"),
    ("Artillery fire hit two hamlets on Monday. The civil war killed 12,000 people.", None,
     12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday. The insurgency has so far killed 12,000 "
     "people.", None, 12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The rebellion has claimed "
     "the lives of 12,000 people.", 4, 12000, "war-long"),
    # a relative clause: the war it hangs on, even after a comparison ("the worst ... since")
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. It was the heaviest "
     "bombardment since a war that cost 12,000 lives.", 4, 12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The conflict over the "
     "valley, which has killed 12,000 people, is unresolved.", 4, 12000, "war-long"),
    # a parenthesis between the war and its verb
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The war, now in its "
     "fifth year, has claimed 12,000 lives.", 4, 12000, "war-long"),
    # "left ... dead", "caused ... deaths"
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The conflict has left "
     "12,000 people dead.", 4, 12000, "war-long"),
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The war has caused 12,000 "
     "deaths.", 4, 12000, "war-long"),
    # a long-run episode, whatever its name
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The decades-old feud over "
     "the valley has claimed 900 lives.", 4, 900, "long-run"),
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. Years of fighting have "
     "killed 12,000 people.", 4, 12000, "long-run"),
    # the death toll of the war, named after "toll"
    ("Artillery fire hit two hamlets on Monday, killing 4 farmers. The death toll in the "
     "conflict has passed 12,000.", 4, 12000, "war-long"),
]


@pytest.mark.parametrize(("text", "current", "background", "reason"), WAR_LONG)
def test_a_war_s_whole_toll_is_background(
    text: str, current: int | None, background: int, reason: str
) -> None:
    report = extract_casualties(text)
    assert _killed(report) == current
    figs = [f for f in report.figures if f.count == background]
    assert figs, "the war's toll should still be reported, as not current"
    assert all(not f.current and reason in f.reason for f in figs)


# (text, current killed): the present episode's toll stays current, even near a war
EPISODE: list[tuple[str, int]] = [
    ("Fighting that has killed 9 since Saturday spread to the coast.", 9),
    ("The clashes have killed 9 people, the ministry said.", 9),
    ("The shelling has so far killed 9 people.", 9),
    ("The war has killed 9 civilians since Saturday, the ministry said.", 9),
    ("The war in the east killed 9 civilians on Thursday.", 9),
    ("Mortar fire in the conflict zone killed 9 soldiers.", 9),
    ("Mortar fire on the edge of the conflict killed 9 soldiers on Tuesday.", 9),
    ("The death toll from the raid in the conflict zone rose to 9.", 9),
    ("The clashes, the worst since the war, have killed 9 people.", 9),
    # an incident, not a long-run episode: "a ... war", a dispute, a feud
    ("A gang war left 2 men dead outside a bar.", 2),
    ("A row over a parking space left 2 men dead.", 2),
    ("A land dispute left 2 brothers dead.", 2),
    ("A family feud left 2 cousins dead.", 2),
]


@pytest.mark.parametrize(("text", "current"), EPISODE)
def test_the_present_episode_s_toll_stays_current(text: str, current: int) -> None:
    assert _killed(extract_casualties(text)) == current


# (text, kind, the guessed figure, current killed): a modal perfect or passive ("may have been
# killed", "must have died", "might be dead") is a guess, reported but never the toll
GUESSES: list[tuple[str, str, int, int | None]] = [
    ("Up to 150 people may have been killed in the flooding.", "killed", 150, None),
    ("Residents said as many as 150 people may have been killed.", "killed", 150, None),
    ("Some 150 people might have been killed, a witness said.", "killed", 150, None),
    ("Up to 150 people could have been killed.", "killed", 150, None),
    ("The landslide may have killed 150 villagers.", "killed", 150, None),
    ("The gunmen must have killed 150 villagers, a priest said.", "killed", 150, None),
    ("At least 150 miners must have died underground.", "killed", 150, None),
    ("About 150 people may be dead, officials fear.", "killed", 150, None),
    ("As many as 150 people may have been hurt in the crush.", "injured", 150, None),
    ("Six hikers may be missing on the ridge.", "missing", 6, None),
    # beside a firm count: the firm count is the toll
    ("The blast killed 3 workers on Monday, and up to 150 may have been injured.", "injured",
     150, 3),
    ("Rescuers found 3 bodies on Monday; up to 150 people may have been killed.", "killed",
     150, 3),
]


@pytest.mark.parametrize(("text", "kind", "guess", "killed"), GUESSES)
def test_a_guessed_figure_is_never_the_toll(
    text: str, kind: str, guess: int, killed: int | None
) -> None:
    report = extract_casualties(text)
    figs = [f for f in report.figures if f.kind == kind and f.count == guess]
    assert figs, "the guess should still be reported, as not current"
    assert all(not f.current and "hypothetical" in f.reason for f in figs)
    assert _killed(report) == killed
    if kind != "killed":
        assert getattr(report, kind) is None


# (text, current killed): firm and merely hedged reports stay current
FIRM: list[tuple[str, int]] = [
    ("Up to 150 people were killed in the flooding.", 150),
    ("Twelve climbers were presumed dead after the avalanche.", 12),
    ("A fisherman was believed killed by a crocodile on Sunday.", 1),
    ("Twelve people have been killed, officials said.", 12),
]


@pytest.mark.parametrize(("text", "current"), FIRM)
def test_firm_counts_stay_current(text: str, current: int) -> None:
    assert _killed(extract_casualties(text)) == current


# (text, current killed): a capitalised weekday mid-sentence is a time expression (it was taken
# for a name such as "Gulf Today"), so the figure does not inherit an older date
@pytest.mark.parametrize(("text", "current"), [
    ("A 2019 survey mapped the valley. Shelling killed 9 people on Tuesday.", 9),
    ("A 2019 survey mapped the valley. Shelling killed 9 people on Thursday.", 9),
    ("A 2019 survey mapped the valley. Shelling killed 9 people on Monday.", 9),
])
def test_a_capitalised_weekday_dates_the_figure(text: str, current: int) -> None:
    assert _killed(extract_casualties(text)) == current
