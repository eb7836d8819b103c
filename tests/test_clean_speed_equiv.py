"""The fast path of watcher.clean.strip_boilerplate keeps its results: paragraphs proven plain
without scoring their sentences (`_quick_paragraph`) and the tail pre-check (`_tails_possible`)
give what scoring every sentence (`_strip_scored`, `_strip_tails` with every pattern) gives, on
generated text; and every alternative of the appeal and decisive patterns has an example that
the fast path refuses to prove plain (so a new alternative needs its key word too)."""

from __future__ import annotations

import random
import re

import pytest

from watcher import clean
from watcher.clean import strip_boilerplate


def _strip_tails_plain(paragraph: str) -> str:
    """`clean._strip_tails` with no pre-check: every pattern searched."""
    for pattern in clean._TAIL_RES:
        m = pattern.search(paragraph)
        if m is not None and clean._REPORTING_RE.search(m.group().lower()) is None:
            paragraph = paragraph[: m.start()]
    return clean._TRUNCATION_RE.sub("", paragraph).strip()


def _reference(text: str) -> str:
    """strip_boilerplate without the fast path: every tail pattern tried, every sentence
    scored."""
    lines = [p for p in (_strip_tails_plain(line.strip()) for line in text.split("\n")) if p]
    return clean._strip_scored(lines)


# --- every alternative of the cue and decisive patterns has a declined example ---

# One example (lower case, as the patterns see it) per alternative, at least.
CUE_EXAMPLES = [
    "donated", "donations", "contribute", "contributions", "every pledge", "a small gift",
    "one-off contribution", "your support", "support us", "supporting our", "by supporting us",
    "independent journalism", "fact-based reporting", "public-interest media",
    "trusted newsroom", "our mission", "our website", "we need your", "need your help",
    "help us", "count on you", "chip in", "any amount", "whatever you can",
    "makes a difference", "making all the difference", "keep us", "thank you for reading",
    "become a member", "become an annual patron", "members", "memberships", "patreon",
    "paypal", "subscribe", "subscriptions", "subscribers", "newsletters", "inbox",
    "email address", "mailing list", "signing up", "sign in", "log in", "register",
    "paywall", "unlimited digital access", "free trial", "premium", "cookie", "cookies",
    "privacy policy", "cookie settings", "terms of service", "consent", "preferences",
    "personalized ads", "personalised content", "by continuing", "by browsing", "by clicking",
    "by using", "you agree", "you accept", "you consent", "follow us", "like us",
    "share this", "share on", "on telegram", "on linkedin", "please consider",
    "please whitelist", "just a minute", "just two moment", "quick and easy", "only takes",
    "takes less than a minute", "takes two minutes",
]
DECISIVE_EXAMPLES = [
    "remind me later", "we use cookies", "site uses cookies", "cookie banner",
    "all rights reserved", "may not be republished", "may not be broadcast",
    "support public-interest journalism", "support independent newsroom",
    "sign up for our free daily newsletter", "subscribe to the briefing",
    "subscribe to this weekly morning digest", "sign up to our mailing list", "click here",
    "delivered straight to your inbox", "directly to your inbox", "to continue reading",
    "subscribers only", "already a member", "already an subscriber",
    "you've reached your limit", "you have reached the maximum",
    "free articles left", "free article this month remaining", "unlock this",
    "unlock unlimited", "the post x appeared first on",
]
AMOUNT_EXAMPLES = ["$5 a month", "from €3", "just 10 euros", "4 usd monthly", "£2 per month"]


def _alternatives(pattern: str) -> list[re.Pattern[str]]:
    return [re.compile(a) for a in clean._top_level_alternatives(pattern)]


def _paragraph_with(phrase: str) -> str:
    return f"Officials told reporters on Tuesday that {phrase} came up in the talks."


def _declined(text: str) -> bool:
    return clean._quick_paragraph(text, clean._mask_quotations(text), True) is None


@pytest.mark.parametrize(
    ("patterns", "examples"),
    [
        ([p.pattern for p, _ in clean._APPEAL_CUES], CUE_EXAMPLES),
        ([clean._DECISIVE_RE.pattern[len(r"\b(?:") : -1]], DECISIVE_EXAMPLES),
    ],
    ids=["appeal cues", "decisive"],
)
def test_every_alternative_has_an_example(patterns: list[str], examples: list[str]) -> None:
    for pattern in patterns:
        for alternative in _alternatives(pattern):
            assert any(alternative.search(e) for e in examples), alternative.pattern


def test_the_decisive_alternatives_are_the_whole_pattern() -> None:
    # the slice above must cover _DECISIVE_RE: "\b(?:" ... ")"
    inner = clean._DECISIVE_RE.pattern[len(r"\b(?:") : -1]
    assert clean._DECISIVE_RE.pattern == r"\b(?:" + inner + ")"
    assert all(a.pattern.startswith(r"\b") is False for a in _alternatives(inner)[:1])


@pytest.mark.parametrize("phrase", CUE_EXAMPLES + DECISIVE_EXAMPLES + AMOUNT_EXAMPLES)
def test_the_fast_path_refuses_every_example(phrase: str) -> None:
    lower = phrase.lower()
    assert (clean._ANY_APPEAL_CUE_RE.search(lower) or clean._DECISIVE_RE.search(lower)
            or clean._AMOUNT_RE.search(lower)), phrase
    for text in (_paragraph_with(phrase), _paragraph_with(phrase.upper()), phrase.capitalize()):
        assert _declined(text), text


def test_a_plain_news_paragraph_is_proven_news() -> None:
    text = "The ministry said two villages near the border were shelled overnight."
    assert clean._quick_paragraph(text, text, True) == (text, True)
    quoted = "“We will hold the line,” the commander said after the talks."
    assert clean._quick_paragraph(quoted, clean._mask_quotations(quoted), True) == (quoted, True)
    neutral = "Heavy rain fell across the valley for most of the week."
    assert clean._quick_paragraph(neutral, neutral, True) == (neutral, False)
    ours = "Our correspondent said the road was closed."
    assert clean._quick_paragraph(ours, ours, True) is None  # "our": a cue key


@pytest.mark.parametrize("text", [
    "You and we could see it. Then you left.",  # three pronouns, no reporting verb: appeal
    "Yours, ours and yourself.",
    "“Stay,” you asked us, and we did.",
])
def test_three_pronouns_are_not_proven_plain(text: str) -> None:
    assert _declined(text)
    assert strip_boilerplate(text) == _reference(text)


# --- generated text: the fast path against scoring every sentence ---

_NEWS = ("officials", "troops", "border", "ministry", "village", "residents", "convoy",
         "bridge", "market", "ceasefire", "talks", "army", "police", "region", "capital")
_FILLER = ("the", "of", "and", "to", "in", "a", "that", "for", "on", "with", "was", "after",
           "near", "more", "not", "no", "back", "like", "read", "get", "this", "you", "we",
           "our", "us", "US", "it", "they", "he", "she", "more", "story", "article", "post",
           "now", "later", "maybe", "thanks", "top", "home", "next", "print", "x", "ad")
_VERBS = ("said", "told", "reported", "warned", "denied", "added", "noted", "according to",
          "says", "continued")
_NAMES = ("Ilsa Varek", "Tomas Brell", "Dr. Oden", "Mr. Kyle", "Gen. Sato", "U.S. envoy")
_CUES = (*CUE_EXAMPLES, *DECISIVE_EXAMPLES, *AMOUNT_EXAMPLES)
_STARTS = ("Share", "Read more", "Not now", "Please donate", "Subscribe", "Dear readers",
           "A message from the editor:", "Before you go", "Help us", "Join us", "Advertisement",
           "Follow us on Telegram", "© 2026", "(c) 2026 Press", "Copyright", "Tweet | Email",
           "Sign up for", "Become a member")
_TAILS = (" The post Ashby raid appeared first on Daily Ledger", " Read more »",
          " Continue reading...", " This article was originally published on Ledger.",
          " Leia mais", " [...]", " (more…)", " Full story", " Lire la suite",
          " This post first appeared on Ledger.", " This story is originally posted at X")
_ODD = ("İ", "ı", "ſ", "K", "Σ", "\t", "  ", "\u00a0", "\u200b", "'", "’", "“", "”", "«",
        "»", "\"", "(", ")", "…", "!", "?", ".", "#39;", "$", "€", "50 million")


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_NEWS if rng.random() < 0.4 else _FILLER)
             for _ in range(rng.randint(2, 14))]
    r = rng.random()
    if r < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_CUES))
    elif r < 0.35:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_ODD))
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words) + 1), str(rng.randint(1, 3000)))
    body = " ".join(words)
    form = rng.random()
    if form < 0.35:
        s = f"{rng.choice(_NAMES)} {rng.choice(_VERBS)} {body}."
    elif form < 0.5:
        s = f"“{body.capitalize()},” {rng.choice(_NAMES)} {rng.choice(_VERBS)}."
    elif form < 0.6:
        s = f"{rng.choice(_STARTS)} {body}."
    elif form < 0.65:
        s = rng.choice(_STARTS)
    else:
        s = body.capitalize() + rng.choice((".", "!", "?", "", "…", ".”"))
    return s


def _text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 7)):
        p = rng.choice((" ", "  ", " ", "\t")).join(
            _sentence(rng) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.08:
            p += rng.choice(_TAILS)
        paragraphs.append(p)
    if rng.random() < 0.3:  # a plain-looking text with an appeal at its end
        paragraphs.append(rng.choice(_STARTS) + " " + rng.choice(_CUES) + ".")
    return rng.choice(("\n", "\n\n", " \n")).join(paragraphs)


def test_generated_text_matches_the_reference() -> None:
    rng = random.Random(20261206)
    fast = 0
    n = 4000
    for _ in range(n):
        text = _text(rng)
        assert strip_boilerplate(text) == _reference(text), text
        lines = [p for p in (clean._strip_tails(ln.strip()) for ln in text.split("\n")) if p]
        if all(clean._quick_paragraph(p, clean._mask_quotations(p), True) is not None
               for p in lines):
            fast += 1
    # both paths are exercised
    assert 0.05 * n < fast < 0.95 * n, fast


def test_plain_and_appeal_news_texts_match_the_reference() -> None:
    rng = random.Random(7)
    for _ in range(1500):
        paragraphs = [" ".join(f"{rng.choice(_NAMES)} {rng.choice(_VERBS[:7])} the "
                               + " ".join(rng.choice(_NEWS) for _ in range(rng.randint(3, 9)))
                               + "." for _ in range(rng.randint(1, 3)))
                      for _ in range(rng.randint(1, 6))]
        k = rng.randint(0, 3)
        paragraphs += [rng.choice(_STARTS) + ", " + rng.choice(_CUES) + "." for _ in range(k)]
        text = "\n".join(paragraphs)
        assert strip_boilerplate(text) == _reference(text), text


@pytest.mark.parametrize("tail", _TAILS)
@pytest.mark.parametrize("odd", ["", "İ", "ı", "ſ", "K", "READ MORE", "THIS STORY"])
def test_tail_precheck_matches_every_pattern(tail: str, odd: str) -> None:
    text = f"Troops left the village {odd} on Monday, the ministry said.{tail}\nNo one was hurt."
    tails = clean._tails_possible(text)
    for line in text.split("\n"):
        assert clean._strip_tails(line, tails) == _strip_tails_plain(line), line
    assert strip_boilerplate(text) == _reference(text)


# --- html_to_text: the inline white space of a string ---


def test_only_the_space_is_printable_white_space() -> None:
    spaces = [chr(c) for c in range(0x110000) if re.fullmatch(r"\s", chr(c))]
    assert spaces == [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert [c for c in spaces if c.isprintable()] == [" "]


def test_string_collapse_matches_the_substitution() -> None:
    tree = clean._Tree([], keep_newlines=False)
    rng = random.Random(5)
    pieces = ("a", "b c", " ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u200b", "x\ry", "é")
    for _ in range(20_000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        assert tree._string(s) == clean._INLINE_WS_RE.sub(" ", clean._collapse(s)), repr(s)
