"""The shortcuts of watcher.match and watcher.casualties agree with the plain computations they
replace (run on random text; the whole results are compared with the pinned baseline versions in
test_speed_equiv_scoring.py)."""

from __future__ import annotations

import random
import re
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from watcher import casualties, match
from watcher.config import load_config
from watcher.models import CasualtyFigure, CasualtyReport, RuleHit, Watch

ROOT = Path(__file__).resolve().parents[1]

# What match._clause_tail and match._negation cut the window with before.
_LAST_CLAUSE_BREAK = re.compile(r".*[.!?;:,()\[\]{}\"\n]", re.DOTALL)


def _random_texts(seed: int, pieces: tuple[str, ...], count: int, most: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, most))) for _ in range(count)]


def test_clause_tail_is_the_text_after_the_last_break() -> None:
    pieces = ("a", "bc", " ", "  ", ".", "!", "?", ";", ":", ",", "(", ")", "[", "]", "{", "}",
              '"', "\n", "'", "-", "é", "\t", "x y")
    for window in _random_texts(1, pieces, 20000, 12):
        cut = _LAST_CLAUSE_BREAK.match(window)
        expected = window if cut is None else window[cut.end():]
        assert match._clause_tail(window) == expected, window


def _plain_hints(lowtext: str) -> list[int]:
    return sorted(m.start() for hint in casualties._HINTS
                  for m in re.finditer(f"(?={re.escape(hint)})", lowtext))


def test_anchored_hints_at_the_edges_and_sharing_an_anchor() -> None:
    # hints at the very start and end, overlapping hints, two hints on one anchor letter
    texts = ["kill", "injur", "lives", "livesthdied", "slewound", "harmaim", "harmurder",
             "drownd", "unaccounted", "loss of life", "oss of li", "ss of lives", "xecut",
             "execut", "corpses", "orpses", "inj", "jur", "fatalit", "assassinassassin",
             "slayslainslew", "die", "die ", "dies", "dea", "death", "deadeath", "drowning",
             "ddrown", "missingmissing", "mmissing", "killkill", "kkill", "casualtcorpses"]
    pieces = tuple({*casualties._HINTS, *(h[:2] for h in casualties._HINTS),
                    *(h[1:] for h in casualties._HINTS), " ", "x", "s", "d", "e"})
    for text in [*texts, *_random_texts(2, pieces, 20000, 6)]:
        assert casualties._hint_positions(text) == _plain_hints(text), text


def test_every_hint_is_searched_once() -> None:
    anchored = [h for h, _ in casualties._ANCHORED_HINTS]
    assert set(casualties._STEM_HINTS) == {"die ", "dies", "died", "dead", "death", "drown"}
    searched = [*anchored, *casualties._PLAIN_HINTS, *casualties._STEM_HINTS]
    assert sorted(searched) == sorted(casualties._HINTS)
    for hint, offset in casualties._ANCHORED_HINTS:
        assert 0 <= offset < len(hint)


def test_lowercase_is_str_lower() -> None:
    pieces = ("’", "“", "”", "—", "–", "‘", "\x01", "\x03", "\x06", "A", "b", "É", "Σ", "ΑΣ",
              "İ", "ß", " ", "\n", "'", "x", "DIDN", "T", "ǅ")
    for text in _random_texts(5, pieces, 30000, 10):
        assert casualties._lowercase(text) == text.lower(), text


def test_slot_init_builds_the_same_frozen_instances() -> None:
    hit = RuleHit("escalation:x", "x", "X", 3, 4, 1.5)
    assert (hit.rule, hit.term, hit.matched, hit.start, hit.end, hit.weight, hit.note) == \
        ("escalation:x", "x", "X", 3, 4, 1.5, "")
    assert hit == RuleHit(rule="escalation:x", term="x", matched="X", start=3, end=4, weight=1.5)
    assert replace(hit, note="n").note == "n"
    with pytest.raises(FrozenInstanceError):
        hit.note = "n"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RuleHit("escalation:x", "x", "X", 3, 4)  # type: ignore[call-arg]
    figure = CasualtyFigure("killed", 3, "exact", True, (0, 9), "3 killed.")
    assert (figure.count_high, figure.reason) == (None, "")
    assert CasualtyReport((figure,), figure, None).missing is None


def _watches() -> list[Watch]:
    shipped = load_config(ROOT / "config" / "watcher.toml", {})
    return [shipped.watch("armenia-azerbaijan")]


def _plain_foreign_only(
    folded: match._Folded, attribution: match._Attribution, entities: list[match._Occurrence],
    start: int,
) -> bool:
    text = folded.text
    s0 = max(text.rfind(c, 0, start) for c in ".!?\n") + 1
    m = re.compile(r"[.!?\n]").search(text, start)
    s1 = m.start() if m else len(text)
    named = any(s0 <= e.fstart < s1 for e in entities)
    return not named and attribution.names_in(folded, s0, s1)


def test_foreign_only_in_and_out_of_text_order() -> None:
    """_escalation_contexts remembers the last sentence (and each sentence's answer) between
    occurrences; out of text order, repeated, in ASCII texts and others, it answers alike."""
    pieces = ("Russia", "Kyiv", "Armenia", "shelling", "north korea", " ", ". ", "! ", "? ",
              "\n", "x", "troops", ",", "south", "sudan", "Москва", "é")
    rng = random.Random(3)
    for watch in _watches():
        compiled = match.compile_watch(watch)
        attribution = compiled.attribution
        assert attribution is not None
        for text in _random_texts(4, pieces, 3000, 14):
            folded = match._fold_mapped(text)
            entities, _, _ = match._find_all(compiled, folded)
            positions = list(range(len(folded.text) + 1))
            ordered = sorted(rng.sample(positions, min(len(positions), 6)))
            shuffled = rng.sample(positions, min(len(positions), 6))
            for starts in (ordered, shuffled, ordered + ordered):
                found = [match._Occurrence(0, st, st, st, st) for st in starts]
                got = match._escalation_contexts(folded, found, (), entities, attribution)
                for start, ctx in zip(starts, got, strict=True):
                    void, _, before = match._lead(folded.text, start, start)
                    other = void is None and (
                        attribution.adjacent(folded.text, before, start)
                        or _plain_foreign_only(folded, attribution, entities, start))
                    assert (ctx == match._VOID_OTHER_COUNTRY) == other, (text, starts, start)


def test_the_ascii_scan_finds_what_the_full_scan_finds() -> None:
    """CompiledWatch.scan_ascii (a smaller gate: no form with a non-ASCII letter, no form that
    extends a shorter one) finds in ASCII texts exactly the matches of the full scan."""
    from watcher.models import Term

    mixed = Watch(
        name="mixed", channel="#x",
        entities={"a": ("Armenia", "Армения", "Hayastan", "Nakhchivan", "Naxçıvan"),
                  "b": ("Baku", "Bakı", "Azerbaijan")},
        escalation=(Term("shell*", 2.0), Term("shelling", 3.0), Term("shelling of", 1.0),
                    Term("attack", 2.0), Term("attacks on", 1.5), Term("обстрел", 2.0),
                    Term("drone strike", 3.0), Term("drone", 1.0)),
        deescalation=(Term("ceasefire", 1.0), Term("ceasefire holds", 2.0), Term("peace*", 1.0)),
    )
    cyrillic = Watch(name="cyr", channel="#x", entities={"a": ("Армения",)},
                     escalation=(Term("обстрел", 2.0),))
    pieces = ("armenia", "armenian", "hayastan", "nakhchivan", "naxcivan", "baku", "azerbaijan",
              "shell", "shells", "shelling", "shelling of", "attack", "attacks", "attacks on",
              "drone", "drone strike", "drones", "ceasefire", "ceasefire holds", "peacekeepers",
              " ", "  ", ", ", ". ", "x", "'s", "-", "\n")
    compiled = [match.compile_watch(w) for w in (*_watches(), mixed, cyrillic)]
    assert compiled[-1].scan_ascii is None  # no form can match an ASCII text
    assert all(c.scan_ascii is not None for c in compiled[:-1])
    for text in _random_texts(6, pieces, 4000, 12):
        folded = match._fold_mapped(text)
        assert folded.padded.isascii()
        for c in compiled:
            full = replace(c, scan_ascii=None)
            assert match._find_all(c, folded) == match._find_all(full, folded), (c.watch.name, text)


def test_looking_up_nearby_occurrences_decides_as_testing_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long texts with many terms and entities look up the occurrences near each one (_Reach)
    instead of testing every pair: the same results either way, folded offsets mapped or not."""
    from watcher.models import Term

    watch = Watch(
        name="w", channel="#x", entities={"a": ("Armenia", "Yerevan"), "b": ("Baku",)},
        escalation=(Term("shell*", 2.0), Term("ceasefire violation", 3.0), Term("1*", 1.0),
                    Term("fire", 1.0), Term("attack", 2.0)),
        deescalation=(Term("ceasefire", 1.0), Term("peace talks", 2.0), Term("fire*", 0.5)),
        proximity=40,
    )
    compiled = match.compile_watch(watch)
    pieces = ("Armenia ", "Baku ", "Yerevan ", "shelling ", "ceasefire violation ",
              "ceasefire ", "peace talks ", "attack ", "fire ", "ﬁre ", "⅒ ", "x ", "the ",
              "said ", ". ", ", ", "no ", "heavy ", "\n", "Straße ")
    rng = random.Random(8)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(50, 400))) for _ in range(300)]
    texts.append("Armenia shelling " * 300)
    texts.append("Armenia ceasefire violation ceasefire " * 200)
    for text in texts:
        monkeypatch.setattr(match, "_PAIRS_TO_INDEX", 10**12)  # every pair tested
        everyone = match.score(compiled, "title", text)
        monkeypatch.setattr(match, "_PAIRS_TO_INDEX", 0)  # always looked up
        looked_up = match.score(compiled, "title", text)
        assert repr(looked_up) == repr(everyone), text[:200]
