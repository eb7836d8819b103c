"""Tests for watcher.match: term matching, normalisation, offsets, negation and scoring.

Every example sentence here is invented for the tests. The seed-article test reads ../shared at run
time and skips when it is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from watcher.match import REPEAT_DECAY, CompiledWatch, compile_watch, fold, score
from watcher.models import MatchResult, RuleHit, Severity, Term, Watch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_DIR = SHARED / "seeds"

ENTITIES: Mapping[str, tuple[str, ...]] = {
    "armenia": ("Armenia", "Yerevan"),
    "azerbaijan": ("Azerbaijan", "Baku"),
}


def make_watch(
    escalation: tuple[Term, ...] = (),
    deescalation: tuple[Term, ...] = (),
    entities: Mapping[str, tuple[str, ...]] | None = None,
    min_entities: int = 1,
    proximity: int = 200,
    severities: tuple[Severity, ...] = (Severity("warning", 4.0), Severity("critical", 8.0)),
) -> Watch:
    return Watch(
        name="test-watch",
        channel="#test",
        entities=ENTITIES if entities is None else entities,
        escalation=escalation,
        deescalation=deescalation,
        severities=severities,
        min_entities=min_entities,
        proximity=proximity,
    )


def run(watch: Watch, text: str, title: str = "") -> MatchResult:
    return score(compile_watch(watch), title, text)


def hits_for(result: MatchResult, prefix: str) -> list[RuleHit]:
    return [h for h in result.hits if h.rule.startswith(prefix)]


def matched(result: MatchResult, prefix: str) -> list[str]:
    return [h.matched for h in hits_for(result, prefix)]


def assert_offsets(result: MatchResult, title: str, text: str) -> None:
    original = f"{title}\n{text}"
    for hit in result.hits:
        assert original[hit.start : hit.end] == hit.matched


# ---
# Word boundaries, inflections, prefix terms, multi-word terms
# ---


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        ("ai", "Heavy rain fell on Armenia overnight.", []),
        ("ai", "Armenia said an AI system flagged the convoy.", ["AI"]),
        ("ai", "Armenia: ai-assisted targeting, said Baku.", ["ai"]),
        ("raid", "Armenia was afraid of a raid.", ["raid"]),
        ("war", "Armenia warned of war; a warship and software stayed idle.", ["war"]),
        ("tank", "Armenia bought tankers, not tanks.", ["tanks"]),
    ],
)
def test_word_boundaries(term: str, text: str, expected: list[str]) -> None:
    result = run(make_watch(escalation=(Term(term, 1.0),)), text)
    assert matched(result, "escalation:") == expected


@pytest.mark.parametrize(
    ("term", "word", "matches"),
    [
        ("shell", "shell", True),
        ("shell", "shells", True),
        ("shell", "shelled", True),
        ("shell", "shelling", True),
        ("shell", "shellings", True),
        ("shell", "shellfish", False),
        ("attack", "attacks", True),
        ("attack", "attacked", True),
        ("attack", "attacking", True),
        ("attack", "attacker", False),
        ("kill", "kills", True),
        ("kill", "killed", True),
        ("kill", "killing", True),
        ("kill", "killer", False),
        ("clash", "clashes", True),
        ("clash", "clashed", True),
        ("clash", "clashing", True),
        ("escalate", "escalates", True),
        ("escalate", "escalated", True),
        ("escalate", "escalating", True),
        ("escalate", "escalation", True),
        ("escalate", "escalations", True),
        ("escalate", "escalatory", False),
        ("die", "died", True),
        ("die", "dies", True),
        ("die", "dying", True),
        ("die", "diet", False),
        ("drone", "drones", True),
        ("drone", "dronescape", False),
        ("shoot", "shooting", True),
        ("stop", "stopped", True),
        ("stop", "stopping", True),
        ("deploy", "deployed", True),
        ("intensify", "intensified", True),
        ("intensify", "intensifies", True),
        ("escalat*", "escalatory", True),
        ("escalat*", "escalation", True),
        ("escalat*", "scalation", False),
        ("mobili*", "mobilisation", True),
        ("mobili*", "mobile", False),
    ],
)
def test_inflections_and_prefix(term: str, word: str, matches: bool) -> None:
    text = f"Yerevan reports {word} near the line."
    result = run(make_watch(escalation=(Term(term, 1.0),)), text)
    assert matched(result, "escalation:") == ([word] if matches else [])


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        ("peace talks", "Baku wants peace talks soon.", ["peace talks"]),
        ("peace talks", "Baku wants peace \n\t talks soon.", ["peace \n\t talks"]),
        ("peace talks", "Baku wants Peace-Talks soon.", ["Peace-Talks"]),
        ("peace talks", "Baku wants peace. Talks are off.", []),
        ("peace talks", "Baku wants peace, talks say nothing.", []),
        ("peace talks", "Baku wants peacetalks.", []),
        # the last word of a multi-word term takes a plural, nothing else
        ("peace talk", "Baku wants peace talks soon.", ["peace talks"]),
        ("ceasefire violation", "Baku lists ceasefire violations.", ["ceasefire violations"]),
        ("border clash", "Baku lists border clashes.", ["border clashes"]),
        ("border clash", "Baku lists border clashed.", []),
        ("heavy shell", "Baku reports heavy shelling.", []),
    ],
)
def test_multi_word_terms(term: str, text: str, expected: list[str]) -> None:
    result = run(make_watch(deescalation=(Term(term, 1.0),)), text)
    assert matched(result, "deescalation:") == expected


# ---
# Normalisation: accents, Azerbaijani letters, scripts, possessives
# ---


@pytest.mark.parametrize(
    ("alias", "text", "expected"),
    [
        ("Naxçıvan", "Troops moved toward Naxcivan at dawn.", "Naxcivan"),
        ("Naxcivan", "Troops moved toward NAXÇIVAN at dawn.", "NAXÇIVAN"),
        ("Lacin", "A convoy left Laçın on Monday.", "Laçın"),
        ("Laçın", "A convoy left LACIN on Monday.", "LACIN"),
        ("Ağdam", "Reporters reached Agdam.", "Agdam"),
        ("İsmayıllı", "Rain hit ismayilli district.", "ismayilli"),
        ("Əliyev", "A statement from Eliyev followed.", "Eliyev"),
        ("Şuşa", "Fighting near ŞUŞA resumed.", "ŞUŞA"),
        ("Straße", "Crowds in the STRASSE cheered.", "STRASSE"),
        ("Армения", "Заявление: АРМЕНИЯ закрыла границу.", "АРМЕНИЯ"),
        ("Азербайджан", "Граница с азербайджан закрыта.", "азербайджан"),
        ("Հայաստան", "ՀԱՅԱՍՏԱՆ և հարևանները", "ՀԱՅԱՍՏԱՆ"),
        ("Lacin", "A convoy left Lac\u0327in today.", "Lac\u0327in"),  # decomposed cedilla
        ("Lacin", "A convoy left La\u00adcin today.", "La\u00adcin"),  # soft hyphen
        ("Syunik", "A drone over ｓｙｕｎｉｋ was seen.", "ｓｙｕｎｉｋ"),  # fullwidth
    ],
)
def test_accents_and_scripts(alias: str, text: str, expected: str) -> None:
    watch = make_watch(entities={"place": (alias,)})
    result = run(watch, text)
    assert matched(result, "entity:place") == [expected]
    assert result.entities == ("place",)
    assert_offsets(result, "", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Armenia's army moved.", ["Armenia's"]),
        ("Armenia’s army moved.", ["Armenia’s"]),
        ("Armenians gathered.", ["Armenians"]),
        ("An Armenian patrol returned.", ["Armenian"]),
        ("The Armenians' protest ended.", ["Armenians"]),
        ("Azerbaijani units withdrew.", ["Azerbaijani"]),
        ("Azerbaijanis voted.", ["Azerbaijanis"]),
        ("Baku's reply came late.", ["Baku's"]),
        ("'Armenia' was the word used.", ["Armenia"]),
        ("Armenia s army", ["Armenia"]),  # a stray " s" is not a possessive
        ("Armenianist scholars met.", []),
        ("Panarmenia is a made-up word.", []),
    ],
)
def test_possessives_and_demonyms(text: str, expected: list[str]) -> None:
    result = run(make_watch(), text)
    assert matched(result, "entity:") == expected
    assert_offsets(result, "", text)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Naxçıvan", "naxcivan"),
        ("LAÇIN", "lacin"),
        ("Əliyev", "eliyev"),
        ("Ёлка", "елка"),
        ("Armenia’s — “war”", 'armenia\'s - "war"'),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


# ---
# Offsets into the original (title + "\n" + text)
# ---


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Shelling near Yerevan", "Calm elsewhere.", ["Shelling", "Yerevan"]),
        ("Report", "Baku says shelling stopped.", ["Baku", "shelling"]),
        ("ﬁrst report", "Straße closed; Baku says SHELLED.", ["Baku", "SHELLED"]),
        ("Ǆ", "Lac\u0327in and Baku\u0301 were shelled.", ["Baku\u0301", "shelled"]),
        ("…", "Ｂａｋｕ: ＳＨＥＬＬＩＮＧ!", ["Ｂａｋｕ", "ＳＨＥＬＬＩＮＧ"]),
        ("Армения", "Yerevan — shelling … Baku’s", ["Армения", "Yerevan", "shelling", "Baku’s"]),
        # one non-ASCII run where a char grows ("ß") and another vanishes (zero-width space):
        # same total length, shifted offsets; a vanished char belongs to the char before it
        ("x", "ß“Армения\u200b” shelled", ["Армения\u200b", "shelled"]),
    ],
)
def test_offsets_point_into_original(title: str, text: str, expected: list[str]) -> None:
    entities = {**ENTITIES, "armenia": ("Armenia", "Yerevan", "Армения")}
    watch = make_watch(escalation=(Term("shell", 1.0),), entities=entities)
    result = run(watch, text, title=title)
    assert [h.matched for h in result.hits] == expected
    assert_offsets(result, title, text)


def test_body_offsets_start_after_title_and_newline() -> None:
    title = "Yerevan"
    result = run(make_watch(), "Yerevan", title=title)
    assert [(h.start, h.end) for h in result.hits] == [(0, 7), (8, 15)]


# ---
# Negation
# ---

NEGATION_TERMS = (Term("shell", 2.0), Term("shooting", 2.0), Term("attack", 2.0))


@pytest.mark.parametrize(
    ("text", "note", "weight"),
    [
        # a negator or a "was not reported" tail: the event did not happen -> 0
        ("Armenia said there is no shooting on the line.", "negated", 0.0),
        ("The Armenia post was not attacked overnight.", "negated", 0.0),
        ("The Armenia post wasn't attacked overnight.", "negated", 0.0),
        ("Baku never attacked civilians, officials said.", "negated", 0.0),
        ("Yerevan reported a night without shooting.", "negated", 0.0),
        ("In Armenia, shelling was not reported this week.", "negated", 0.0),
        ("Attacks were not reported near Baku.", "negated", 0.0),
        ("Baku denied there was no shooting near the post.", "negated", 0.0),
        # a denial reports a claim: it carries the claim's weight, noted
        ("Baku denied shelling the village.", "denied", 2.0),
        ("Baku denies that its troops shelled the town.", "denied", 2.0),
        ("Yerevan rejected claims of shelling by its army.", "denied", 2.0),
        ("Baku refuted reports that it attacked the post.", "denied", 2.0),
        # neither
        ("Armenia said shelling continued overnight.", "", 2.0),
        ("Not far from Baku, shelling resumed at dawn.", "", 2.0),
        ("Yerevan said not only shelling but drones were used.", "", 2.0),
        ("No talks today. Baku said shooting resumed.", "", 2.0),
        ("Baku denied the report; later it shelled the ridge.", "", 2.0),
        ("Officials in Armenia did not say when the mortar attack began in the hills.", "", 2.0),
    ],
)
def test_negation_and_denial(text: str, note: str, weight: float) -> None:
    result = run(make_watch(escalation=NEGATION_TERMS), text)
    hits = hits_for(result, "escalation:")
    assert len(hits) == 1
    assert (hits[0].note, hits[0].weight, result.score) == (note, weight, weight)


@pytest.mark.parametrize(
    ("text", "note", "score_"),
    [
        ("Baku shelled the hills and there was no ceasefire.", "negated", 3.0),
        ("Baku shelled the hills and denied a ceasefire deal.", "denied", 2.0),
        ("Baku shelled the hills; a ceasefire was agreed.", "", 2.0),
    ],
)
def test_negation_and_denial_of_deescalation(text: str, note: str, score_: float) -> None:
    watch = make_watch(escalation=(Term("shell", 3.0),), deescalation=(Term("ceasefire", 1.0),))
    result = run(watch, text)
    assert result.score == score_
    assert [h.note for h in hits_for(result, "deescalation:")] == [note]


# ---
# Past episodes and intensity
# ---


@pytest.mark.parametrize(
    ("text", "note", "weight"),
    [
        ("Yerevan recalled the 2016 fighting in Karabakh.", "past episode", 0.0),
        ("Yerevan recalled the April 2016 fighting.", "past episode", 0.0),
        ("Yerevan recalled the 1990s fighting over the region.", "past episode", 0.0),
        ("Yerevan recalled the 2020 border fighting.", "past episode", 0.0),
        ("Fighting near Yerevan in 2016 left scars.", "", 2.0),  # the year comes after
        ("Yerevan: in 2016, fighting broke out.", "", 2.0),  # another clause
        ("Yerevan reported the 2016 report's new fighting.", "", 2.0),  # two words between
        ("Yerevan counted 20 fighting units.", "", 2.0),  # not a year
        ("Yerevan reported heavy fighting.", "intensified", 4.0),
        ("Yerevan reported intense Azerbaijani fighting.", "intensified", 4.0),
        ("Yerevan reported large-scale fighting.", "intensified", 4.0),
        ("Yerevan reported deadly fighting.", "intensified", 4.0),
        ("Yerevan reported heavy rain, then fighting.", "", 2.0),  # another clause
        ("Heavy rain and cold weather came before any fighting near Yerevan.", "", 2.0),
        ("Baku denied heavy fighting near Yerevan.", "denied; intensified", 4.0),
        ("Yerevan said there was no heavy fighting.", "negated", 0.0),
    ],
)
def test_past_episode_and_intensity(text: str, note: str, weight: float) -> None:
    result = run(make_watch(escalation=(Term("fighting", 2.0),)), text)
    [hit] = hits_for(result, "escalation:")
    assert (hit.note, hit.weight, result.score) == (note, weight, weight)


@pytest.mark.parametrize(
    ("text", "note", "weight"),
    [
        ("Yerevan said Russian missiles hit Kyiv.", "another country", 0.0),
        ("Yerevan said Russia's missiles hit Kyiv.", "another country", 0.0),
        ("Yerevan condemned missiles against Ukraine.", "another country", 0.0),
        ("Yerevan condemned missiles from the United States.", "another country", 0.0),
        ("Yerevan condemned the missile strike on Ukraine.", "", 3.0),  # not directly
        ("Yerevan condemned missiles from South  Korea.", "another country", 0.0),
        ("Yerevan said Baku's missiles hit a village.", "", 3.0),  # the watch's own entity
        ("Yerevan said Turkish-made missiles hit a village.", "", 3.0),  # hyphenated: a make
        ("Yerevan said Russian cruise missiles hit a village.", "", 3.0),  # a word between
        ("Yerevan said missiles hit a village; Russia said nothing.", "", 3.0),
        ("Yerevan said missiles hit a village in Armenia.", "", 3.0),
        # a sentence naming another country and no watch entity
        ("Missiles hit Kyiv overnight. Yerevan said nothing.", "another country", 0.0),
        ("Yerevan said nothing. Missiles hit Kyiv overnight!", "another country", 0.0),
        ("Missiles hit a depot overnight. Yerevan said nothing.", "", 3.0),  # no country
        ("Missiles hit Kyiv and Yerevan overnight.", "", 3.0),  # the watch's entity too
    ],
)
def test_another_countrys_war(text: str, note: str, weight: float) -> None:
    result = run(make_watch(escalation=(Term("missile", 3.0),)), text)
    [hit] = hits_for(result, "escalation:")
    assert (hit.note, hit.weight) == (note, weight)


@pytest.mark.parametrize(
    ("aliases", "text", "note"),
    [
        (("Armenia", "Yerevan"), "Russian missiles hit Yerevan.", "another country"),
        (("Russia", "Moscow"), "Russian missiles hit Kyiv.", ""),  # a watch on Russia
        (("Ukraine", "Kyiv"), "Russian missiles hit Kyiv.", "another country"),
        (("Ukraine", "Ukrainian", "Kyiv"), "Ukrainian missiles hit a depot near Kyiv.", ""),
        # an irregular demonym must be listed: the alias "Ukraine" does not match "Ukrainian"
        (("Ukraine", "Kyiv"), "Ukrainian missiles hit a depot near Kyiv.", "another country"),
    ],
)
def test_the_watchs_own_aliases_are_never_another_country(
    aliases: tuple[str, ...], text: str, note: str
) -> None:
    watch = make_watch(escalation=(Term("missile", 3.0),), entities={"watched": aliases})
    [hit] = hits_for(run(watch, text), "escalation:")
    assert hit.note == note


def test_another_country_does_not_void_deescalation() -> None:
    watch = make_watch(escalation=(Term("shell", 3.0),), deescalation=(Term("ceasefire", 1.0),))
    result = run(watch, "Baku shelled the hills despite the Russian ceasefire plan.")
    assert result.score == 2.0


def test_past_episode_applies_to_deescalation() -> None:
    watch = make_watch(escalation=(Term("shell", 3.0),), deescalation=(Term("ceasefire", 1.0),))
    result = run(watch, "Baku shelled the hills in breach of the 2020 ceasefire deal.")
    assert result.score == 3.0
    assert [h.note for h in hits_for(result, "deescalation:")] == ["past episode"]


def test_intensity_applies_before_proximity() -> None:
    text = "Yerevan spoke. " + "x " * 150 + "Heavy fighting resumed."
    result = run(make_watch(escalation=(Term("fighting", 2.0),)), text)
    [hit] = hits_for(result, "escalation:")
    assert (hit.note, hit.weight) == ("intensified; far from entity", 2.0)


# ---
# Proximity, repeats, de-escalation, min_entities, severities
# ---


@pytest.mark.parametrize(
    ("gap", "proximity", "weight", "note"),
    [
        (10, 200, 2.0, ""),
        (199, 200, 2.0, ""),
        (200, 200, 2.0, ""),
        (201, 200, 1.0, "far from entity"),
        (500, 200, 1.0, "far from entity"),
        (500, 600, 2.0, ""),
    ],
)
def test_proximity(gap: int, proximity: int, weight: float, note: str) -> None:
    # "Baku" then `gap` characters of filler before "shelling"
    text = "Baku" + " " + "x" * (gap - 2) + " " + "shelling"
    result = run(make_watch(escalation=(Term("shell", 2.0),), proximity=proximity), text)
    (hit,) = hits_for(result, "escalation:")
    assert hit.start - len("\nBaku") == gap
    assert (hit.weight, hit.note, result.score) == (weight, note, weight)


def test_no_entity_means_every_term_is_far() -> None:
    result = run(make_watch(escalation=(Term("shell", 2.0),), min_entities=0), "Shelling began.")
    assert (result.score, [h.note for h in result.hits]) == (1.0, ["far from entity"])


@pytest.mark.parametrize(
    ("repeats", "expected"),
    [
        (1, 2.0),
        (2, 2.0 * (1 + REPEAT_DECAY)),
        (3, 2.0 * (1 + REPEAT_DECAY + REPEAT_DECAY**2)),
        (10, 2.0 * sum(REPEAT_DECAY**i for i in range(10))),
    ],
)
def test_saturating_repeats(repeats: int, expected: float) -> None:
    text = "Yerevan: " + " ".join(["attack."] * repeats)
    result = run(make_watch(escalation=(Term("attack", 2.0),)), text)
    assert result.score == pytest.approx(expected, abs=1e-6)
    assert result.score < 2.0 * 1.5
    notes = [h.note for h in hits_for(result, "escalation:")]
    assert notes == [""] + ["repeat"] * (repeats - 1)


def test_repeat_keeps_the_nearest_occurrence_in_full() -> None:
    text = "attack " + "x" * 400 + " Baku attack"
    result = run(make_watch(escalation=(Term("attack", 2.0),)), text)
    far, near = hits_for(result, "escalation:")
    assert (near.weight, near.note) == (2.0, "")
    assert far.weight == pytest.approx(1.0 * REPEAT_DECAY)
    assert far.note == "far from entity; repeat"


@pytest.mark.parametrize(
    ("text", "expected_score", "de_weights"),
    [
        ("Baku shelled the hills.", 5.0, []),
        ("Baku shelled the hills; a ceasefire was then agreed.", 3.0, [-2.0]),
        ("Baku shelled the hills; ceasefire, ceasefire, ceasefire.", 3.0, [-2.0, 0.0, 0.0]),
        ("Baku shelled the hills; ceasefire and peace talks.", 2.0, [-2.0, -1.0]),
        ("Baku agreed a ceasefire and peace talks, then a truce.", 0.0, [-2.0, -1.0, -4.0]),
        ("Baku reported ceasefire violations.", 4.0, [0.0]),
    ],
)
def test_deescalation_subtracts_once_per_term(
    text: str, expected_score: float, de_weights: list[float]
) -> None:
    watch = make_watch(
        escalation=(Term("shell", 5.0), Term("ceasefire violation", 4.0)),
        deescalation=(Term("ceasefire", 2.0), Term("peace talks", 1.0), Term("truce", 4.0)),
    )
    result = run(watch, text)
    assert result.score == expected_score
    assert [h.weight for h in hits_for(result, "deescalation:")] == de_weights


def test_ceasefire_inside_escalation_term_is_noted() -> None:
    watch = make_watch(
        escalation=(Term("ceasefire violation", 4.0),), deescalation=(Term("ceasefire", 2.0),)
    )
    result = run(watch, "Yerevan logged a ceasefire violation.")
    assert [h.note for h in hits_for(result, "deescalation:")] == ["inside escalation"]


@pytest.mark.parametrize(
    ("text", "esc_notes", "de_notes", "score_"),
    [
        # the longer occurrence counts, the one it overlaps counts 0
        ("Baku urged de-escalation.", ["inside de-escalation"], [""], 0.0),
        ("Baku urged de-escalation; escalation followed.", ["inside de-escalation", ""], [""],
         0.5),
        ("Baku reported ceasefire violations.", [""], ["inside escalation"], 4.0),
        ("Baku reported an escalation.", [""], [], 2.0),
        # equal lengths: the escalation term counts
        ("Baku reported a flare.", [""], ["inside escalation"], 1.0),
    ],
)
def test_overlapping_terms_longer_wins(
    text: str, esc_notes: list[str], de_notes: list[str], score_: float
) -> None:
    watch = make_watch(
        escalation=(Term("escalat*", 2.0), Term("ceasefire violation", 4.0), Term("flare", 1.0)),
        deescalation=(Term("de-escalat*", 1.5), Term("ceasefire", 1.0), Term("flare", 3.0)),
    )
    result = run(watch, text)
    assert [h.note for h in hits_for(result, "escalation:")] == esc_notes
    assert [h.note for h in hits_for(result, "deescalation:")] == de_notes
    assert result.score == score_


@pytest.mark.parametrize(
    ("text", "min_entities", "groups", "score_", "severity"),
    [
        ("Yerevan says shelling hit a village.", 1, ("armenia",), 9.0, "critical"),
        ("Yerevan says shelling hit a village.", 2, ("armenia",), 0.0, None),
        ("Yerevan says Baku shelled a village.", 2, ("armenia", "azerbaijan"), 9.0, "critical"),
        ("Shelling hit a village.", 1, (), 0.0, None),
        ("Baku's and Armenia's envoys met.", 2, ("armenia", "azerbaijan"), 0.0, None),
    ],
)
def test_min_entities(
    text: str, min_entities: int, groups: tuple[str, ...], score_: float, severity: str | None
) -> None:
    watch = make_watch(escalation=(Term("shell", 9.0),), min_entities=min_entities)
    result = run(watch, text)
    assert (result.entities, result.score, result.severity) == (groups, score_, severity)
    # hits are reported even when the article does not qualify
    assert len(hits_for(result, "escalation:")) == int("shell" in text.lower())


@pytest.mark.parametrize(
    ("weight", "severity"),
    [
        (0.0, None),
        (3.999, None),
        (4.0, "warning"),
        (7.999, "warning"),
        (8.0, "critical"),
        (20.0, "critical"),
    ],
)
def test_severity_boundaries(weight: float, severity: str | None) -> None:
    # severities deliberately listed out of order
    severities = (Severity("critical", 8.0), Severity("warning", 4.0))
    watch = make_watch(escalation=(Term("shell", weight),), severities=severities)
    result = run(watch, "Baku shelled a ridge.")
    assert (result.score, result.severity) == (weight, severity)
    assert result.alerts is (severity is not None)


def test_severity_from_fractional_sum_is_not_lost_to_rounding() -> None:
    words = (
        "shell",
        "attack",
        "kill",
        "clash",
        "drone",
        "raid",
        "bomb",
        "mortar",
        "sniper",
        "ambush",
    )
    terms = tuple(Term(word, 0.4) for word in words)
    text = "Baku: " + ", ".join(words) + "."
    result = run(make_watch(escalation=terms), text)
    assert (result.score, result.severity) == (4.0, "warning")


# ---
# Compilation
# ---


@pytest.mark.parametrize("bad", ["", "   ", "*", " - "])
def test_compile_rejects_empty_terms(bad: str) -> None:
    with pytest.raises(ValueError, match="empty term"):
        compile_watch(make_watch(escalation=(Term(bad, 1.0),)))


def test_compiled_watch_is_reusable_and_hashable() -> None:
    compiled: CompiledWatch = compile_watch(make_watch(escalation=(Term("shell", 5.0),)))
    cache = {compiled: "ok"}
    first = score(compiled, "", "Baku shelled.")
    second = score(compiled, "", "Baku shelled.")
    assert first == second and cache[compiled] == "ok"
    assert first.watch == "test-watch"


def test_longer_term_wins_over_its_prefix() -> None:
    watch = make_watch(escalation=(Term("fighting", 1.0), Term("heavy fighting", 3.0)))
    result = run(watch, "Yerevan reports heavy fighting.")
    assert [(h.term, h.matched) for h in result.hits if h.rule.startswith("esc")] == [
        ("heavy fighting", "heavy fighting")
    ]


# ---
# The seed article (read at run time)
# ---


def _seed_article() -> tuple[str, str]:
    if not SEED_DIR.is_dir():
        pytest.skip("../shared/seeds is not available")
    files = sorted(SEED_DIR.glob("*.txt"))
    if not files:
        pytest.skip("no seed article in ../shared/seeds")
    title, _, body = files[0].read_text(encoding="utf-8").partition("\n")
    return title, body


def test_seed_article() -> None:
    title, body = _seed_article()
    watch = make_watch(
        entities={
            "armenia": ("Armenia", "Yerevan"),
            "azerbaijan": ("Azerbaijan", "Baku"),
            "karabakh": ("Nagorno-Karabakh", "Nagorny Karabakh", "Karabakh"),
        },
        escalation=(
            Term("shell", 2.0),
            Term("fighting", 1.5),
            Term("escalate", 2.0),
            Term("shooting", 2.0),
            Term("flare-up", 1.0),
        ),
        deescalation=(Term("ceasefire", 1.0), Term("mediate", 1.0)),
        severities=(Severity("warning", 3.0), Severity("critical", 8.0)),
        min_entities=2,
    )
    result = run(watch, body, title=title)
    assert_offsets(result, title, body)
    assert {"armenia", "azerbaijan"} <= set(result.entities)
    assert result.score >= 4.0
    assert result.severity == "warning"
    by_term = {h.term: h for h in result.hits if h.rule.startswith("escalation:") and not h.note}
    assert {"shell", "fighting", "escalate"} <= set(by_term)
    assert by_term["shell"].matched.lower() == "shelling"
    shooting = [h for h in result.hits if h.rule == "escalation:shooting"]
    assert shooting and all(h.note == "negated" and h.weight == 0.0 for h in shooting)
    original = f"{title}\n{body}"
    assert any(original[h.start - 3 : h.start].lower() == "no " for h in shooting)
    # "mediate" appears more than once: it subtracts once
    mediate = [h for h in result.hits if h.rule == "deescalation:mediate"]
    assert len(mediate) >= 2 and sum(h.weight for h in mediate) == -1.0
