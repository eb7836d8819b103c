"""The speed-ups of watcher.casualties keep its results: each faster form is checked against
the plain form it replaced, on generated input, and generated sentences give the expected tolls.
"""

from __future__ import annotations

import random
import re

import pytest

from watcher import casualties as cas
from watcher.casualties import extract_casualties

# Characters that stress the tokeniser and the sentence splitter.
_TRICKY = "aZk9_'’-–.,#&;!?\"”“‘()[] \n\t\u00a0.U.S.é٣xİß"


def _random_strings(seed: int, alphabet: str, count: int, longest: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))
            for _ in range(count)]


def _spans(rx: re.Pattern[str], text: str, pos: int = 0, endpos: int | None = None,
           ) -> list[tuple[int, int, tuple[str | None, ...]]]:
    end = len(text) if endpos is None else endpos
    return [(m.start(), m.end(), m.groups()) for m in rx.finditer(text, pos, end)]


# --- regular expressions ---

ALTERNATIVE_LISTS: list[tuple[str, ...]] = [
    ("today", "tonight", "this", r"the\s+past", "two", r"\d+\s+days", "three", "so"),
    ("a", "an", r"a\s+day", "annually", r"averag(?:e|ed)", "each", "every"),
    ("eight", "eighteen", r"\d\d+", "ten", r"twenty[\w-]*", r"19\d0'?s", r"20\d0'?s", "for"),
    (r"since\s+(?:the\s+)?war\b", r"since\s+its\s+\w+", r"so\s+far\b", r"in\s+the\s+past"),
    ("mondays?", "sundays?", "saturday", "weekend", "week"),
]
_WORDS = ("today tonight this the past two three so a an day annually average averaged each "
          "every eight eighteen ten twenty-two twenty 12 1990s 2000's for since war its so far "
          "in monday mondays sunday saturday weekend week days x ٣")
_VOCAB = (*_WORDS.split(), " ", "  ")


@pytest.mark.parametrize("alternatives", ALTERNATIVE_LISTS)
def test_grouped_alternation_matches_the_plain_one(alternatives: tuple[str, ...]) -> None:
    grouped = re.compile(cas._alternation(*alternatives) + r"\b")
    plain = re.compile("(?:" + "|".join(alternatives) + r")\b")
    rng = random.Random(len(alternatives))
    for _ in range(3000):
        text = rng.choice(("", " ", "x")).join(rng.choice(_VOCAB)
                                              for _ in range(rng.randint(1, 12)))
        assert _spans(grouped, text) == _spans(plain, text), text


@pytest.mark.parametrize("alternative", [r"(?:a|b)c", "a?b", "b*", r"\bword", ""])
def test_alternation_refuses_what_it_cannot_group(alternative: str) -> None:
    with pytest.raises(ValueError):
        cas._alternation("today", alternative)


def test_token_regex_matches_the_plain_form() -> None:
    plain = re.compile(r"(\s*)((?:[A-Za-z]\.){2,}|[\w'’]+(?:[-–.,][\w'’]+)*|[#&]\w+;|\S)")
    rng = random.Random(5)
    extra = ["U.S.A. troops", "1,500 and 6.0", "twenty-five 12-year-old #39; x.y."]
    for text in [*_random_strings(1, _TRICKY, 4000, 30), *extra]:
        lo = rng.randint(0, len(text))
        hi = rng.randint(lo, len(text))
        for a, b in ((0, len(text)), (lo, hi)):
            chunks = cas._TOKEN_RE.findall(text, a, b)
            assert chunks == [ws + tok for ws, tok in plain.findall(text, a, b)], text
            assert list(map(str.lstrip, chunks)) == [tok for _, tok in plain.findall(text, a, b)]


def test_sentence_break_regex_matches_the_plain_form() -> None:
    plain = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"“'‘(\[]?[A-Z0-9])")
    for text in _random_strings(2, "a.!?\"'”’)] \n“‘([A9xZ", 4000, 30):
        assert _spans(cas._SENT_BREAK_RE, text) == _spans(plain, text), text


def test_title_case_counts_match_the_plain_regexes() -> None:
    long_words = re.compile(r"\b[^\W\d_]{4}")
    capitalised = re.compile(r"\b[A-Z][^\W\d_]{3}")
    alphabet = "AbcdEFgh_1 '’-.İÉéßx½²"
    for text in _random_strings(3, alphabet, 4000, 40):
        assert len(cas._WORD4_RE.findall(text)) == len(long_words.findall(text)), text
        assert len(cas._CAP_WORD_RE.findall(text)) == len(capitalised.findall(text)), text


def test_small_number_table() -> None:
    def reference(w: str) -> int | None:
        if w in cas._UNITS:
            return cas._UNITS[w]
        if w in cas._TENS:
            return cas._TENS[w]
        a, _, b = w.partition("-")
        if a in cas._TENS and b in cas._UNITS and 0 < cas._UNITS[b] < 10:
            return cas._TENS[a] + cas._UNITS[b]
        return None

    words = [*cas._UNITS, *cas._TENS, "twenty-one", "ninety-nine", "twenty-zero", "twenty-ten",
             "one-twenty", "twenty-one-year-old", "thirty-", "-five", "hundred", "dozen"]
    for w in words:
        assert cas._SMALL_NUMBERS.get(w) == reference(w), w


# --- whole sentences ---

# (phrase, count) for the victims
_VICTIMS = [
    ("three soldiers", 3), ("Seventeen civilians", 17), ("twenty-five miners", 25),
    ("1,500 people", 1500), ("at least 8 people", 8), ("a dozen villagers", 12),
    ("one hundred and twenty people", 120), ("two policemen", 2), ("Four police officers", 4),
]
# (template, kind): {v} is the victims phrase, {t} the time expression
_FRAMES = [
    ("{v} were killed{t}.", "killed"),
    ("{v} died{t}.", "killed"),
    ("A roadside bomb killed {v}{t}.", "killed"),
    ("The blast left {v} dead{t}.", "killed"),
    ("{v} were wounded{t}.", "injured"),
    ("Shelling injured {v}{t}.", "injured"),
]
# (time expression, whether the figure is the current toll)
_TIMES = [
    ("", True), (" on Monday", True), (" yesterday", True), (" early on Sunday", True),
    (" last year", False), (" in 1998", False), (" so far this year", False),
]


def _sentences() -> list[tuple[str, str, int | None]]:
    out = []
    for victims, count in _VICTIMS:
        for frame, kind in _FRAMES:
            for time_expr, current in _TIMES:
                text = frame.format(v=victims, t=time_expr)
                out.append((text[0].upper() + text[1:], kind, count if current else None))
    return out


@pytest.mark.parametrize(("text", "kind", "expected"), _sentences())
def test_generated_sentences(text: str, kind: str, expected: int | None) -> None:
    for variant in (text, f"Attack on the convoy\n{text}", f"{text} Officials said so."):
        report = extract_casualties(variant)
        figure = report.killed if kind == "killed" else report.injured
        assert (figure.count if figure is not None else None) == expected, variant
        other = report.injured if kind == "killed" else report.killed
        assert other is None, variant
