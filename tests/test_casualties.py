"""Casualty extraction: table-driven cases written for this project (no corpus text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.casualties import extract_casualties
from watcher.models import CasualtyFigure, CasualtyReport

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _counts(report: CasualtyReport) -> tuple[int | None, int | None]:
    return (
        report.killed.count if report.killed is not None else None,
        report.injured.count if report.injured is not None else None,
    )


# (text, current killed, current injured)
CURRENT_TOLL: list[tuple[str, int | None, int | None]] = [
    # digits, number words, "a dozen", compounds
    ("The floods have killed 1,200 people across the region, officials said on Wednesday.",
     1200, None),
    ("Seventeen people died when a ferry capsized off the coast late on Saturday.", 17, None),
    ("Twenty-five miners were trapped and presumed dead after the blast.", 25, None),
    ("A dozen villagers were wounded in the shelling overnight.", None, 12),
    ("Half a dozen soldiers were wounded.", None, 6),
    ("Three hundred people were killed.", 300, None),
    ("The attack killed one hundred and twenty people.", 120, None),
    ("Six were killed.", 6, None),
    # implicit one
    ("A soldier was killed in a clash with rebels near the frontier on Thursday.", 1, None),
    ("A serviceman was wounded by sniper fire overnight, the ministry said.", None, 1),
    ("A 45-year-old man was stabbed to death in the city centre late on Friday.", 1, None),
    ("Unknown assailants shot dead a journalist outside his home on Monday.", 1, None),
    ("A tanker truck exploded on the highway, killing its driver.", 1, None),
    ("Police reported that unidentified individuals murdered the mayor of the town yesterday.",
     1, None),
    ("The constable was wounded in one arm and is recovering.", None, 1),
    ("Doctors said the girl died of her injuries in hospital on Sunday.", 1, None),
    # enumerations are summed
    ("Three policemen and a shopkeeper died during the gunfight on Sunday.", 4, None),
    ("Air strikes killed a militia commander and his two bodyguards on Tuesday.", 3, None),
    ("The fire killed a mother and her three children late on Saturday.", 4, None),
    ("Two farmers died and a third was injured when a shell hit their barn.", 2, 1),
    ("The insurgent leader was killed along with two of his associates.", 3, None),
    ("Two brothers, 17 and 19, were killed on Friday.", 2, None),
    # killed and injured together, active and passive
    ("Three soldiers were killed and eight wounded when their convoy hit a roadside bomb on "
     "Tuesday.", 3, 8),
    ("A roadside bomb killed four police officers and wounded two passers-by near the northern "
     "city on Monday.", 4, 2),
    ("At least 8 people were killed and 20 others injured in the attack on the market.", 8, 20),
    ("The quake left 56 people dead and more than 300 injured.", 56, 300),
    ("Medics said the raid left one guard dead and three hurt.", 1, 3),
    ("The bombing killed 5 and injured 18, police said.", 5, 18),
    ("One person died and 14 were injured when a gas cylinder exploded in a restaurant.", 1, 14),
    ("The security force killed four militants and wounded a fifth during the operation.", 4, 1),
    ("The military said that 12 terrorists died and 5 soldiers were wounded in the "
     "confrontation.", 12, 5),
    ("Between 30 and 40 people were injured.", None, 30),
    ("Nobody was killed by the blast but four people suffered minor injuries.", 0, 4),
    ("A shooting fatally wounded a teenager and injured five others.", 1, 5),
    # lives, bodies, drownings
    ("The blast claimed 14 lives, according to local officials on Tuesday.", 14, None),
    ("The hurricane has so far claimed 28 lives in the Caribbean.", 28, None),
    ("Nearly 40 people lost their lives when the building collapsed on Wednesday.", 40, None),
    ("Villagers found the bodies of three men in a ditch on Sunday.", 3, None),
    ("Local media reported that 9 people drowned when their boat capsized.", 9, None),
    # running totals and updates
    ("The death toll from the landslide rose to 25 on Friday, up from 9 a day earlier.", 25, None),
    ("Rescuers pulled more bodies from the rubble, bringing the number of dead to 39.", 39, None),
    ("Nine people were killed on Tuesday, taking the death toll from a week of violence to 84.",
     84, None),
    ("A further 3 bodies were recovered, raising the toll to 27.", 27, None),
    ("Authorities put the toll at 48 dead and 112 injured.", 48, 112),
    ("The shelling has claimed 23 lives since fighting resumed on Sunday, officials said.",
     23, None),
    ("Clashes that erupted on Tuesday have so far left 11 people dead.", 11, None),
    # subsets and parentheticals do not add up
    ("Eleven people, including four children, were killed when the bus plunged into a gorge.",
     11, None),
    ("Seven people, six of them children, died in the fire.", 7, None),
    ("The attack wounded 27, six of them seriously.", None, 27),
    ("The strike killed five, including two children.", 5, None),
    ("Hospital officials said 11 of the wounded were in critical condition.", None, None),
    # negations
    ("No casualties were reported after the overnight shelling, officials said.", 0, 0),
    ("A mortar round struck an empty school; no one was hurt.", None, 0),
    ("The attack caused no casualties.", 0, 0),
    ("The explosion did not cause any injuries, the fire service said.", None, 0),
    ("No Israeli soldiers were hurt, the army said.", None, None),  # restricted: no figure
    ("No civilians were killed in the strikes, the military said.", None, None),
    # vague amounts: no current number
    ("Dozens of fans were hurt in the stampede on Monday.", None, None),
    ("Several protesters were killed when police opened fire, witnesses said.", None, None),
    ("Ten people were killed and dozens wounded in the twin blasts on Friday.", 10, None),
    ("A number of people were hurt in the scuffles.", None, None),
    # background figures are not the current toll
    ("The dispute dates back to a 1980s war in which some 12,000 people died.", None, None),
    ("More than 400 people have been killed in the province since January.", None, None),
    ("Since the war began in 2014, more than 13,000 people have died.", None, None),
    ("At least 120 people have died in the floods so far this year.", None, None),
    ("Ceremonies marked the tenth anniversary of the bombing that killed 52 commuters.",
     None, None),
    ("The court sentenced the former commander to life for ordering the massacre of 80 "
     "villagers.", None, None),
    ("Road accidents kill about 3,500 people a day worldwide.", None, None),
    ("The militants threatened to kill all 12 hostages unless their demands were met.",
     None, None),
    ("A collapse of the dam could kill thousands, engineers warned.", None, None),
    ("The opposition vowed to kill the tax bill in the senate.", None, None),
    ("It was a dead heat between the two candidates.", None, None),
    ("Four people were killed in a similar attack last month.", None, None),
    ("Two years ago, a blast at the same plant killed 31 workers.", None, None),
    ("A grenade attack on 3 March 2019 killed 5 people.", None, None),
    ("The toll could reach 100, officials feared.", None, None),
    ("Troops killed two gunmen on Monday. The army said the gunmen were behind an attack that "
     "killed 3 settlers.", 2, None),
    ("A week after a car bomb killed 20 people in the capital, another blast killed 4 on Monday.",
     4, None),
    ("The blast killed 12 people on Monday, police said. It was the deadliest attack since 2007, "
     "when a truck bomb killed 30.", 12, None),
    ("The virus has killed 4 million people worldwide since it was identified in 1981.",
     None, None),
    ("The storm was blamed for 9 deaths in three states.", 9, None),
    ("Of the 40 passengers, 12 were killed and the rest were injured.", 12, None),
    ("Fighting in the north killed 20 rebels and 5 soldiers over the weekend, the army said.",
     25, None),
    # distractors: ages, times, objects, detainees, possessives
    ("Two girls, ages 9 and 14, and three men, 19, 26 and 57, were hurt on Sunday.", None, 5),
    ("Ines Varga, 52, and Tom Reed, 61, both of whom perished in the blaze, were neighbours.",
     2, None),
    ("A roadside bomb wounded three police officers and destroyed two vehicles.", None, 3),
    ("The gunmen killed two guards and took nine hostages.", 2, None),
    ("The bombing happened at around 8:15 in the morning, killing 6 commuters.", 6, None),
    ("Their cat was also killed in the fire.", None, None),
    # headline (first line without a full stop) and body
    ("Car bomb kills 9 in northern town\nA car bomb exploded near a market on Sunday, killing "
     "nine people and wounding 30.", 9, 30),
    ("Blast kills 12 at rally\nThe toll from Friday's blast at an election rally rose to 15 on "
     "Saturday.", 15, None),
    ("Train derailment injures 40\nA passenger train left the tracks near the coast on Monday "
     "evening.", None, 40),
    ("Floods kill dozens in the delta\nFloods triggered by heavy rains have killed at least 42 "
     "people, officials said.", 42, None),
    # wire datelines: a date older than the dateline is background
    ("LIMA, 14 Jun 89 (AFP) -- [Text] Rebels ambushed a patrol today, killing four soldiers.",
     4, None),
    ("LIMA, 14 Jun 89 (AFP) -- [Text] The court heard that rebels killed 9 villagers on 2 May.",
     None, None),
    # all capitals
    ("QUITO, 3 MAY 89 (RADIO) -- [TEXT] AN AMBUSH TODAY LEFT TWO POLICEMEN DEAD AND FOUR "
     "HURT.", 2, 4),
]


@pytest.mark.parametrize(("text", "killed", "injured"), CURRENT_TOLL)
def test_current_toll(text: str, killed: int | None, injured: int | None) -> None:
    assert _counts(extract_casualties(text)) == (killed, injured)


# (text, kind, count, qualifier, count_high)
QUALIFIERS: list[tuple[str, str, int, str, int | None]] = [
    ("At least 8 people were killed in the raid.", "killed", 8, "at_least", None),
    ("More than 300 people were injured.", "injured", 300, "more_than", None),
    ("The storm killed an estimated 200 people.", "killed", 200, "about", None),
    ("The blast killed around 15 people.", "killed", 15, "about", None),
    ("Nearly 40 people lost their lives in the fire.", "killed", 40, "nearly", None),
    # ("may have been killed" is a guess, not a toll: see test_casualties_war_and_guesses.py)
    ("Up to 25 people were killed in the landslide.", "killed", 25, "up_to", None),
    ("The clashes killed between 10 and 12 fighters.", "killed", 10, "range", 12),
    ("Fighting left 20 to 25 soldiers wounded.", "injured", 20, "range", 25),
    ("Five shepherds were killed by a landmine.", "killed", 5, "exact", None),
]


@pytest.mark.parametrize(("text", "kind", "count", "qualifier", "high"), QUALIFIERS)
def test_qualifiers(text: str, kind: str, count: int, qualifier: str, high: int | None) -> None:
    report = extract_casualties(text)
    fig = report.killed if kind == "killed" else report.injured
    assert fig is not None
    assert (fig.count, fig.qualifier, fig.count_high) == (count, qualifier, high)


# (text, kind, reason fragment): figures found but not current, with why
BACKGROUND: list[tuple[str, str, str]] = [
    ("The dispute dates back to a 1980s war in which some 12,000 people died.", "killed",
     "historical"),
    ("More than 400 people have been killed in the province since January.", "killed",
     "aggregate"),
    ("Road accidents kill about 3,500 people a day worldwide.", "killed", "rate"),
    ("The militants threatened to kill all 12 hostages.", "killed", "threat"),
    ("The court sentenced the commander for the massacre of 80 villagers.", "killed", "trial"),
    ("Protests followed, in retaliation for the deaths of 6 students.", "killed",
     "earlier incident"),
    ("The American military death toll in the war passed 2,000 on Monday.", "killed",
     "war-long"),
]


@pytest.mark.parametrize(("text", "kind", "reason"), BACKGROUND)
def test_background_figures_carry_a_reason(text: str, kind: str, reason: str) -> None:
    report = extract_casualties(text)
    figs = [f for f in report.figures if f.kind == kind]
    assert figs, "the figure should still be reported, as not current"
    assert all(not f.current for f in figs)
    assert any(reason in f.reason for f in figs)
    assert getattr(report, kind) is None


# (text, kind, lower bound reported as the count)
VAGUE: list[tuple[str, str, int]] = [
    ("Dozens of fans were hurt in the stampede.", "injured", 24),
    ("Several protesters were killed when police opened fire.", "killed", 3),
    ("The explosion injured scores of people.", "injured", 40),
    ("Hundreds were killed in the siege.", "killed", 200),
]


@pytest.mark.parametrize(("text", "kind", "lower"), VAGUE)
def test_vague_amounts_are_figures_but_never_the_toll(text: str, kind: str, lower: int) -> None:
    report = extract_casualties(text)
    figs = [f for f in report.figures if f.kind == kind]
    assert [(f.qualifier, f.count) for f in figs] == [("vague", lower)]
    assert getattr(report, kind) is None


@pytest.mark.parametrize(
    ("text", "not_a_count"),
    [
        ("Rescuers found the 3 climbers' guide dead below the ridge.", 3),
        ("The 4 rockets hit a school on Monday, wounding a teacher.", 4),
        ("A 15-year-old cyclist was hurt on Monday.", 15),
        ("Reporting by our 2 correspondents' team: a guard was shot dead.", 2),
    ],
)
def test_numbers_that_do_not_count_victims(text: str, not_a_count: int) -> None:
    assert all(f.count != not_a_count for f in extract_casualties(text).figures)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("The typhoon killed at least 19 people and left 6 missing.", 6),
        ("Seven climbers are missing after an avalanche swept the slope on Tuesday.", 7),
        ("Rescuers found four bodies, while three miners remained buried.", 3),
    ],
)
def test_missing(text: str, missing: int) -> None:
    report = extract_casualties(text)
    assert report.missing is not None and report.missing.count == missing


def test_evidence_span_is_the_sentence_holding_the_figure() -> None:
    text = ("Officials met on Monday to discuss aid. A bus fell into a river on Sunday, killing "
            "14 passengers. Rescue work continued.")
    report = extract_casualties(text)
    assert report.killed is not None
    fig = report.killed
    assert text[fig.span[0]:fig.span[1]] == fig.text
    assert fig.text == "A bus fell into a river on Sunday, killing 14 passengers."
    assert fig.current and fig.reason == ""


def test_all_figures_are_listed_in_text_order() -> None:
    text = ("Two years ago a similar blast killed 31 workers. On Monday an explosion at the plant "
            "killed 4 and injured 9.")
    report = extract_casualties(text)
    assert [(f.kind, f.count, f.current) for f in report.figures] == [
        ("killed", 31, False), ("killed", 4, True), ("injured", 9, True),
    ]
    assert _counts(report) == (4, 9)


def test_running_total_beats_the_increment_and_the_headline() -> None:
    text = ("Shelling kills 3 in border village\nThree villagers were killed on Tuesday, bringing "
            "the number of dead since the clashes began on Sunday to 21.")
    report = extract_casualties(text)
    assert _counts(report) == (21, None)
    headline = [f for f in report.figures if f.span[1] <= text.index("\n")]
    assert [(f.kind, f.count) for f in headline] == [("killed", 3)]


def test_body_figure_beats_the_headline() -> None:
    report = extract_casualties("Blast kills 20 in capital\nThe blast on Friday killed 23 people.")
    assert _counts(report) == (23, None)


@pytest.mark.parametrize("text", ["", "   ", "Markets rallied on Friday.", "\n\n"])
def test_texts_without_casualties(text: str) -> None:
    report = extract_casualties(text)
    assert report.figures == () and report.killed is None and report.injured is None


def test_figures_are_frozen_model_objects() -> None:
    report = extract_casualties("Four people were killed on Sunday.")
    assert isinstance(report.killed, CasualtyFigure)
    with pytest.raises(AttributeError):
        report.killed.count = 5  # type: ignore[misc]


def test_reference_article_current_toll_not_the_historical_one() -> None:
    seeds = sorted((SHARED / "seeds").glob("*.txt")) if SHARED.is_dir() else []
    if not seeds:
        pytest.skip("../shared/seeds is not available")
    text = seeds[0].read_text(encoding="utf-8")
    report = extract_casualties(text)
    assert report.killed is not None and report.killed.count == 17
    assert report.killed.current
    historical = [f for f in report.figures if f.count == 30000]
    assert historical and all(not f.current and f.reason for f in historical)
    assert all(f.count != 30000 for f in report.figures if f.current)


@pytest.mark.parametrize("sentence", [
    "Fighting killed between 10 and 12 people and wounded at least 30 others on Tuesday.",
    "The toll rose to 25, up from 9, after two soldiers and a civilian were killed by shelling.",
    "No casualties were reported, while a war in the 1990s killed about 30,000 people.",
    "Officials said some three dozen were injured and more than a hundred are missing.",
])
def test_every_truncation_of_a_sentence_is_handled(sentence: str) -> None:
    """Feed text is cut anywhere (summaries, size caps): no prefix may crash the extractor."""
    words = sentence.split()
    for n in range(1, len(words) + 1):
        for text in (" ".join(words[:n]), sentence[: len(" ".join(words[:n])) - 1]):
            extract_casualties(text)


def _extract_within(text: str, seconds: float = 10.0) -> CasualtyReport:
    """extract_casualties(text) on a daemon thread: a text that made it loop fails the test
    instead of hanging the run."""
    import threading

    out: list[CasualtyReport] = []
    worker = threading.Thread(target=lambda: out.append(extract_casualties(text)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"extract_casualties did not return within {seconds} s: {text!r}"
    return out[0]


@pytest.mark.parametrize("text", [
    "İİİİkill\n",
    "İ\nkilled\n",
    "İİ\n\nthe dead\n",
    "İzmir İzmir İzmir: 4 killed\nMore later.",
])
def test_a_dotted_capital_i_neither_hangs_nor_shifts_offsets(text: str) -> None:
    # "İ".lower() is two characters: offsets into the lowered text must stay those of the text
    report = _extract_within(text)
    for fig in report.figures:
        assert text[fig.span[0]:fig.span[1]] == fig.text


def test_spans_in_text_with_dotted_capitals_are_the_texts_own() -> None:
    text = ("İSTANBUL, May 3 - A blast in İzmir province killed at least 12 people, İHA news "
            "agency said.\nİçişleri officials said 30 people were injured.")
    report = _extract_within(text)
    assert report.killed is not None and report.killed.count == 12
    assert report.injured is not None and report.injured.count == 30
    for fig in report.figures:
        assert text[fig.span[0]:fig.span[1]] == fig.text
        assert "killed" in fig.text or "injured" in fig.text


@pytest.mark.parametrize(("text", "killed"), [
    # a decimal count of millions past a float's range
    ("At least " + "9" * 400 + ".5 million people were killed.", None),
    # more digits than int() converts (4,300), alone and as a range
    ("Some " + "9" * 5000 + " people were killed.", None),
    ("Between " + "1" * 5000 + "-" + "2" * 5000 + " people died.", None),
    # the same sentences with plausible numbers still count
    ("At least 3.5 million people were killed.", 3_500_000),
    ("Some 90 people were killed.", 90),
])
def test_absurdly_long_numbers_are_no_count_and_no_error(text: str, killed: int | None) -> None:
    report = extract_casualties(text)
    assert (report.killed.count if report.killed else None) == killed


@pytest.mark.parametrize(("text", "killed"), [
    # above MAX_COUNT (a billion): no casualty count, whether digits, scaled, a range or words
    ("Shelling killed 2147483648 people overnight.", None),
    ("Shelling killed 99999999999999999999 people overnight.", None),
    ("The floods killed 1,000,000,001 people.", None),
    ("The floods killed 2,000 million people.", None),
    ("Between 5-3000000000 people were killed.", None),
    # at the bound and below, counted
    ("The floods killed 1,000,000,000 people.", 1_000_000_000),
    ("The floods killed 999 million people.", 999_000_000),
    ("The floods killed nine hundred ninety-nine thousand people.", 999_000),
])
def test_counts_above_a_billion_are_no_count(text: str, killed: int | None) -> None:
    report = extract_casualties(text)
    assert (report.killed.count if report.killed else None) == killed


@pytest.mark.parametrize(("text", "current_killed"), [
    # a dated comparison followed by a clause about that earlier episode: its dead are not today's
    ("Shelling killed 11 people on Tuesday.\nIt was the worst fighting since the 2016 clashes, "
     "in which 90 people were killed.", 11),
    ("Shelling killed 11 people on Tuesday.\nThe violence is the deadliest since 2020, when "
     "about 6,500 soldiers died.", 11),
    ("Shelling killed 11 people on Tuesday.\nIt was the heaviest bombardment since the 2016 "
     "war that killed 200 people.", 11),
    # the comparison alone does not date the figure before it
    ("Shelling killed 11 people on Tuesday, the deadliest day since 2020.", 11),
])
def test_a_dated_comparison_marks_the_earlier_episode_s_dead(
    text: str, current_killed: int
) -> None:
    report = extract_casualties(text)
    assert report.killed is not None and report.killed.count == current_killed
    for fig in report.figures:
        if fig.count != current_killed:
            assert not fig.current, fig
