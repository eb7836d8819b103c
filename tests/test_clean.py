"""Tests for watcher.clean: HTML to text, boilerplate removal, excerpts.

All example articles, appeals and notices here are invented for these tests.
"""

from __future__ import annotations

import json
import random
import re
import time
import unicodedata
from pathlib import Path

import pytest

from watcher.clean import CleanError, clean_text, excerpt, html_to_text, strip_boilerplate

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# ---
# html_to_text
# ---

_BODY = "Artillery fire was heard overnight near the northern checkpoint, residents said."


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Troops moved north.</p><p>Talks stalled.</p>", "Troops moved north.\nTalks stalled."),
        (
            "Shots at dawn<br>Calm by noon<br/>Rain at dusk",
            "Shots at dawn\nCalm by noon\nRain at dusk",
        ),
        (
            "<div><section><p>Deep <i>nested <em>words</em></i> here</p></section></div>",
            "Deep nested words here",
        ),
        ("<h2>Headline</h2><blockquote>A quoted line</blockquote>", "Headline\nA quoted line"),
        ("<ul><li>first item</li><li>second item</li></ul>", "first item\nsecond item"),
        (
            "<table><tr><td>Goris</td><td>3</td></tr><tr><td>Tegh</td><td>1</td></tr></table>",
            "Goris 3\nTegh 1",
        ),
        ("<p>one\n   two\tthree</p>", "one two three"),
        ("<p>  spaced   <b>out</b>  </p>", "spaced out"),
        ("<p>a<b>b</b>c</p>", "abc"),
        # entities, once and twice escaped
        ("It&#39;s &quot;tense&quot; &amp; calm &mdash; for now", 'It\'s "tense" & calm — for now'),
        ("<p>It&amp;#39;s &amp;quot;tense&amp;quot;</p>", 'It\'s "tense"'),
        ("&amp;amp;lt; double &amp;#8217; escaped", "< double ’ escaped"),
        ("The village&amp;#x27;s well", "The village's well"),
        ("Non&nbsp;breaking&nbsp;space", "Non breaking space"),
        # escaped markup (feeds that escape HTML inside HTML, or titles with literal tags)
        ("&lt;p&gt;Escaped &lt;b&gt;bold&lt;/b&gt; text&lt;/p&gt;", "Escaped bold text"),
        ("<p>Kept &lt;i&gt;italic&lt;/i&gt; word</p>", "Kept italic word"),
        # furniture dropped
        ("<script>alert(1)</script><p>Visible</p><style>p{color:red}</style>", "Visible"),
        ("<noscript>Enable scripts</noscript><p>Body</p><iframe src='x'>frame</iframe>", "Body"),
        (
            "<nav>Home | World</nav><p>Story</p><aside>Most read</aside><footer>About us</footer>",
            "Story",
        ),
        ("<form><label>Email</label><input name='e'><button>Go</button></form><p>Text</p>", "Text"),
        ("<p>Text</p><!-- a comment --><![CDATA[cdata]]>", "Text"),
        (
            "<p>Shown</p><div hidden>Hidden one</div><span style='display: none'>Hidden two</span>",
            "Shown",
        ),
        (
            "<p>Before.</p><figure class='wp-block-embed'><blockquote class='twitter-tweet'>"
            "<p>a post</p></blockquote><figcaption>embed caption</figcaption></figure>"
            "<p>After.</p>",
            "Before.\nAfter.",
        ),
        (f"<p>{_BODY}</p><div class='share-buttons'>Share on Facebook</div>", _BODY),
        (f"<p>{_BODY}</p><div id='newsletter-box'>Get our letter</div>", _BODY),
        (f"<div class='entry social-share-enabled'><p>{_BODY}</p></div>", _BODY),
        ("<div class='related'><p>Short body.</p></div>", "Short body."),
        ("<?xml version='1.0'?><p>Document</p>", "Document"),
        ("<pre>line one\n  line two</pre>", "line one\nline two"),
        # plain text (no tags) keeps its lines, normalised
        (
            "Plain headline\n\n  Plain   lead with spaces  ",
            "Plain headline\nPlain lead with spaces",
        ),
        ("Plain text & an ampersand\nsecond line", "Plain text & an ampersand\nsecond line"),
        ("Inline <b>bold</b> only\nnext line", "Inline bold only\nnext line"),
        ("3 < 4 and 5 > 2", "3 < 4 and 5 > 2"),
        ("AT&T and Q&A", "AT&T and Q&A"),
        ("\r\nWindows\r\nlines\r\n", "Windows\nlines"),
        # invisible and control characters, C1 bytes from windows-1252
        ("zero\u200bwidth\u200d joiner\ufeff", "zerowidth joiner"),
        ("bidi \u202eoverride\u202c and \u2066isolate\u2069", "bidi override and isolate"),
        ("bell\x07 and null\x00 and esc\x1b", "bell and null and esc"),
        ("\x93smart\x94 quotes and dash\x96 and dots\x85", "“smart” quotes and dash– and dots…"),
        ("soft\u00adhyphen", "softhyphen"),
        ("para\u2029graph", "para\ngraph"),
        # feed artefact: an entity that lost its ampersand
        ("the country #39;s border", "the country's border"),
        ("", ""),
        ("   \n \t ", ""),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@pytest.mark.parametrize(
    "markup",
    [
        "<p>a\u200bb\u202ec\x00d\x7fe\ufeff</p>",
        "plain\u2060text\u200e with\u200f marks",
        "&#8203;&#x202E;entity-made invisibles&#x200B;",
        "<div>\u00a0\u2003\u3000wide spaces\u00a0</div>",
    ],
)
def test_html_to_text_leaves_no_invisible_characters(markup: str) -> None:
    out = html_to_text(markup)
    bad = [c for c in out if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    assert bad == []
    assert "  " not in out
    assert out == out.strip()


def test_html_to_text_survives_deep_nesting() -> None:
    markup = "<div>" * 3000 + "deep text" + "</div>" * 3000
    assert html_to_text(markup) == "deep text"


def test_html_to_text_markup_that_looks_like_a_path_is_not_opened(tmp_path: Path) -> None:
    target = tmp_path / "secret.html"
    target.write_text("<p>file contents</p>")
    assert html_to_text(str(target)) == str(target)
    assert html_to_text(f"<b>{target}</b>") == str(target)


# ---
# strip_boilerplate / clean_text: invented articles
# ---

NEWS_A = (
    "Azerbaijani and Armenian troops exchanged artillery fire overnight near the village of Sotk, "
    "the defence ministry in Yerevan said on Tuesday.",
    "Two soldiers were killed and five wounded, according to a statement posted by the ministry.",
    "Baku accused Armenian units of firing first and said its forces had returned fire.",
    "Russia voiced support for talks between the two sides and urged restraint.",
)
NEWS_B = (
    "Heavy rain flooded the lower town of Ijevan on Sunday, local officials said.",
    "Rescue teams evacuated 40 families, the emergency ministry reported.",
    "The regional governor said damage would be assessed once the water receded.",
)
NEWS_C = (
    "Shelling resumed along the northern border on Friday, residents told reporters.",
    "A school building in the town of Tavush was damaged, the local administration said.",
)

APPEALS = {
    "note-and-letter": (
        "A note from the Caucasus Dispatch:",
        "Dear friends,",
        "Our newsroom runs on reader money, not on advertisers or owners with an agenda.",
        "If everyone who read this gave a little, our future would be secure. "
        "Contribute from $3 a month.",
        "Give once or give monthly, it only takes a minute.",
        "Not now",
    ),
    "favour-member": (
        "Before you go",
        "We have a favour to ask. Independent journalism costs money, and we rely on readers "
        "like you to keep going.",
        "Become a member today and read without ads.",
        "Maybe later",
    ),
    "letter-no-ui": (
        "A letter to our readers",
        "Our team is small and works under pressure, and our reporters have faced threats for "
        "their work.",
        "Your support keeps us on the ground. Please consider a monthly donation of €5.",
        "Thanks for backing our reporters.",
    ),
    "run-without-header": (
        "We can only keep our correspondents in the field because readers like you chip in.",
        "Gifts of any size go straight to our reporting and keep it free to read.",
        "Please back our work with a monthly gift of $4, it only takes a minute.",
    ),
    "paywall": (
        "This article is available to subscribers only.",
        "Already a subscriber? Log in.",
        "Subscribe now for unlimited access, from €1 for the first month.",
    ),
    "share-follow-copyright": (
        "Share this article",
        "Follow us on Telegram for live updates from the region.",
        "Facebook | X | WhatsApp | Email",
        "© 2024 Northern Wire Ltd. All rights reserved.",
    ),
    "copyright-wire": (
        "Copyright 2023 Harbour Ledger Media. All rights reserved. This material may not be "
        "published, broadcast or redistributed.",
    ),
}


def _check(out: str, news: tuple[str, ...], boilerplate: tuple[str, ...]) -> None:
    for sentence in news:
        assert sentence in out, f"news sentence lost: {sentence!r}\n--- output ---\n{out}"
    for piece in boilerplate:
        for sentence in re.split(r"(?<=[.?!:])\s+", piece):
            if sentence.strip():
                assert sentence.strip() not in out, f"boilerplate kept: {sentence!r}"


@pytest.mark.parametrize("appeal", sorted(APPEALS))
@pytest.mark.parametrize("news", [NEWS_A, NEWS_B, NEWS_C], ids=["a", "b", "c"])
def test_trailing_appeal_is_cut(appeal: str, news: tuple[str, ...]) -> None:
    text = "\n".join((*news, *APPEALS[appeal]))
    _check(strip_boilerplate(text), news, APPEALS[appeal])


@pytest.mark.parametrize("appeal", sorted(APPEALS))
def test_trailing_appeal_is_cut_from_html(appeal: str) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in (*NEWS_A, *APPEALS[appeal]))
    markup = f"<div class='entry'>{paragraphs}</div>"
    _check(clean_text(markup), NEWS_A, APPEALS[appeal])


COOKIE_NOTICE = (
    "We use cookies to personalise content and ads and to analyse our traffic.",
    "By continuing to browse this site you agree to our use of cookies.",
    "Accept all | Manage preferences",
)
NEWSLETTER_BOX = (
    "Sign up for the morning briefing",
    "Get the day's top stories delivered to your inbox every weekday.",
    "Enter your email address",
    "By signing up you agree to our privacy policy.",
)
UI_LINES = ("Advertisement", "Remind me later", "Skip ad", "Print | Email | Share", "Read more")


@pytest.mark.parametrize(
    ("before", "box", "after"),
    [
        ((), COOKIE_NOTICE, NEWS_A),
        (NEWS_A[:2], NEWSLETTER_BOX, NEWS_A[2:]),
        (NEWS_B[:1], UI_LINES, NEWS_B[1:]),
        (NEWS_C, NEWSLETTER_BOX, ()),
        (NEWS_A[:1], ("Support independent journalism", "Donate now"), NEWS_A[1:]),
    ],
    ids=["cookie-top", "newsletter-middle", "ui-middle", "newsletter-end", "appeal-box-middle"],
)
def test_boilerplate_blocks_anywhere(
    before: tuple[str, ...], box: tuple[str, ...], after: tuple[str, ...]
) -> None:
    text = "\n".join((*before, *box, *after))
    _check(strip_boilerplate(text), (*before, *after), box)


@pytest.mark.parametrize(
    ("paragraph", "kept", "gone"),
    [
        (
            "Clashes were reported near Kapan, officials said. The post Border clashes near Kapan "
            "appeared first on Steppe Observer.",
            "Clashes were reported near Kapan, officials said.",
            "appeared first on",
        ),
        (
            "The post U.S. envoy lands in Baku for talks appeared first on Harbour Ledger.",
            "",
            "appeared first on",
        ),
        (
            "Five people were hurt when a drone hit a farm, police said. Continue reading...",
            "Five people were hurt when a drone hit a farm, police said.",
            "Continue reading",
        ),
        (
            "Both sides traded blame for the attack on the outpost. Read more »",
            "Both sides traded blame for the attack on the outpost.",
            "Read more",
        ),
        (
            "The ceasefire largely held through the night, monitors said [...]",
            "The ceasefire largely held through the night, monitors said",
            "[...]",
        ),
        (
            "Talks will resume in Geneva next week, diplomats said. Read the full story",
            "Talks will resume in Geneva next week, diplomats said.",
            "full story",
        ),
        (
            "An aid convoy reached the valley on Monday. This article was originally published "
            "on Example Weekly.",
            "An aid convoy reached the valley on Monday.",
            "originally published",
        ),
        (
            "Villagers sheltered in basements as shells fell, witnesses said. Click here to "
            "subscribe to our daily digest.",
            "Villagers sheltered in basements as shells fell, witnesses said.",
            "Click here",
        ),
    ],
)
def test_glued_tails_are_removed(paragraph: str, kept: str, gone: str) -> None:
    out = strip_boilerplate(f"{NEWS_B[0]}\n{paragraph}")
    assert NEWS_B[0] in out
    assert kept in out
    assert gone not in out


# Sentences that carry appeal-like words but are news: they must stay.
FALSE_POSITIVE_GUARDS = (
    "Russia voiced support for talks between Yerevan and Baku on Tuesday.",
    "Support for the ceasefire is growing in border villages, a local survey found.",
    "Armenia applied to become a member of the monitoring framework, the foreign ministry said.",
    "Residents were urged to sign up for evacuation buses leaving from the town square.",
    "The diaspora raised donations worth $2 million for displaced families.",
    '"We need your help," the mayor of the border town told reporters, asking for generators.',
    '"Please support our soldiers," a woman at the rally shouted.',
    "The government said it would contribute troops to a joint monitoring mission.",
    "Subscribers to the state broadcaster's channel saw the footage first.",
    "Follow-up talks are scheduled for next week in Brussels.",
    "Share prices in Baku fell 3 percent after the clashes.",
    "The post office in Goris was damaged by shelling, officials said.",
    "Cookies and tea were handed out at the shelter, volunteers said.",
    "The ministry thanked France for its support and its monthly aid payments.",
    "Independent journalists were barred from the area, a press freedom group said.",
    "A fund set up by the city collected more than $7,000 in donations for the victims' families.",
    "Members of parliament held a closed session on the border crisis.",
    "The premium on war-risk insurance for ships rose sharply, brokers said.",
)


@pytest.mark.parametrize("sentence", FALSE_POSITIVE_GUARDS)
@pytest.mark.parametrize("position", ["alone", "middle", "last"])
def test_news_with_appeal_words_is_kept(sentence: str, position: str) -> None:
    if position == "alone":
        parts: tuple[str, ...] = (sentence,)
    elif position == "middle":
        parts = (NEWS_C[0], sentence, NEWS_C[1])
    else:
        parts = (*NEWS_C, sentence)
    out = strip_boilerplate("\n".join(parts))
    for part in parts:
        assert part in out


@pytest.mark.parametrize("sentence", FALSE_POSITIVE_GUARDS[:8])
def test_news_with_appeal_words_is_kept_inside_a_paragraph(sentence: str) -> None:
    paragraph = f"{NEWS_B[0]} {sentence} {NEWS_B[1]}"
    assert strip_boilerplate(paragraph) == paragraph


def test_quoted_appeal_language_in_news_ending_is_kept() -> None:
    ending = (
        "Volunteers at the shelter said they needed blankets and medicine.",
        '"We need your help, every donation makes a difference," one organiser said.',
        '"Donate and subscribe today," another added.',
    )
    text = "\n".join((*NEWS_A, *ending))
    assert strip_boilerplate(text) == text


def test_header_followed_by_news_is_not_a_cut() -> None:
    # "A message from ..." that introduces news, not an appeal: nothing after it is cut.
    text = "\n".join((*NEWS_A[:2], "A message from the prime minister:", *NEWS_B))
    out = strip_boilerplate(text)
    for sentence in (*NEWS_A[:2], *NEWS_B):
        assert sentence in out


def test_all_boilerplate_gives_empty_text() -> None:
    text = "\n".join((*APPEALS["note-and-letter"], *COOKIE_NOTICE))
    assert strip_boilerplate(text) == ""


@pytest.mark.parametrize("appeal", sorted(APPEALS))
def test_clean_text_is_idempotent(appeal: str) -> None:
    markup = "".join(f"<p>{p}</p>" for p in (*NEWS_B, *APPEALS[appeal]))
    once = clean_text(markup)
    assert clean_text(once) == once
    assert once == strip_boilerplate(html_to_text(markup))


def test_clean_text_on_a_feed_like_entry() -> None:
    markup = (
        "<div><p>Clashes broke out near Tegh on Thursday, the border service said.</p>"
        "<p>Three civilians were injured, a local official told reporters.</p>"
        "<div class='sharedaddy'><h3>Share this:</h3>"
        "<ul><li>Twitter</li><li>Facebook</li></ul></div>"
        "<p>The post Clashes near Tegh appeared first on Example Post.</p>"
        "<script>track()</script></div>"
    )
    assert clean_text(markup) == (
        "Clashes broke out near Tegh on Thursday, the border service said.\n"
        "Three civilians were injured, a local official told reporters."
    )


# ---
# The reference article (read at run time, never copied)
# ---

_APPEAL_START_RE = re.compile(
    r"^(?:an?\s+)?(?:message|note|letter)\s+(?:from|to)\b|^dear\s+\w+", re.IGNORECASE
)


def _seed_files() -> list[Path]:
    seeds = SHARED / "seeds"
    if not seeds.is_dir():
        pytest.skip("../shared/seeds is absent")
    files = sorted(seeds.glob("*.txt"))
    if not files:
        pytest.skip("no seed articles")
    return files


def _split_seed(path: Path) -> tuple[list[str], list[str]]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    start = next((i for i, line in enumerate(lines) if _APPEAL_START_RE.search(line)), None)
    if start is None:
        pytest.skip(f"{path.name}: no appeal header found")
    return lines[:start], lines[start:]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?:,])\s+", text) if len(s.strip()) > 3]


@pytest.mark.parametrize("layout", ["plain", "html-paragraphs", "html-br", "no-header"])
def test_seed_article_loses_its_appeal_and_keeps_its_news(layout: str) -> None:
    for path in _seed_files():
        news, appeal = _split_seed(path)
        if layout == "no-header":
            appeal = [line for line in appeal if not _APPEAL_START_RE.search(line)]
        lines = news + appeal
        if layout == "plain":
            markup = "\n".join(lines)
        elif layout == "html-br":
            markup = "<div>" + "<br>".join(lines) + "</div>"
        else:
            markup = "".join(f"<p>{line}</p>" for line in lines)
        out = clean_text(markup)
        for line in news:
            assert line in out, f"{path.name}: news line lost: {line!r}"
        for number in ("17", "30,000"):
            assert any(number in line for line in news), f"{path.name}: no line with {number}"
        out_lines = set(out.split("\n"))
        for line in appeal:
            assert line not in out_lines, f"{path.name}: appeal line kept: {line!r}"
            for sentence in _sentences(line):
                assert sentence not in out, f"{path.name}: appeal sentence kept: {sentence!r}"
        assert len(out.split("\n")) == len(news)


# ---
# Real corpora: a regression guard against over-stripping (read at run time, skipped if absent)
# ---


def test_stories_corpus_paragraphs_are_rarely_removed() -> None:
    path = SHARED / "corpus" / "stories" / "dev.jsonl"
    if not path.is_file():
        pytest.skip("../shared/corpus/stories is absent")
    total = removed = 0
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if n >= 600:
                break
            text = html_to_text(json.loads(line)["text"])
            kept = set(strip_boilerplate(text).split("\n"))
            paragraphs = text.split("\n")
            total += len(paragraphs)
            removed += sum(1 for p in paragraphs if p not in kept)
    share = removed / max(total, 1)
    print(f"\nstories corpus: {removed}/{total} paragraphs removed or trimmed ({share:.2%})")
    assert total > 1000
    assert share < 0.03  # the corpus was already cleaned of page boilerplate


# ---
# excerpt
# ---

LONG = (
    "Fighting flared again along the frontier on Saturday. Officials on both sides reported "
    "casualties but gave no figures. Diplomats in Vienna called for calm and offered to host "
    "new talks between the foreign ministers as early as next month."
)


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        (LONG, 300),
        (LONG, 120),
        (LONG, 100),
        (LONG, 60),
        (LONG, 30),
        (LONG, 10),
        ("one two three four five six seven eight nine ten", 20),
        ("x" * 50, 12),
        ("Short text.", 300),
        ("Multi\nline\n  text  here", 300),
        ("", 10),
    ],
)
def test_excerpt(text: str, limit: int) -> None:
    out = excerpt(text, limit)
    flat = " ".join(text.split())
    assert len(out) <= limit
    assert "\n" not in out
    if len(flat) <= limit:
        assert out == flat
        return
    assert out.endswith("…")
    body = out[:-1].rstrip()
    assert body
    assert flat.startswith(body)
    following = flat[len(body) : len(body) + 1]
    # cut at a word boundary unless a single word is longer than the room
    assert following in {"", " "} or " " not in flat[:limit]


def test_excerpt_prefers_a_sentence_boundary() -> None:
    for limit in (60, 120, 200):
        out = excerpt(LONG, limit)
        body = out[:-1].rstrip()
        assert LONG.startswith(body)
        assert body.endswith(".")
        assert LONG[len(body)] == " "
        # the last sentence end that fits was chosen
        ends = [m.end() for m in re.finditer(r"\.(?= )", LONG) if m.end() <= limit - 2]
        assert len(body) == ends[-1]


def test_excerpt_word_boundary_without_trailing_punctuation() -> None:
    out = excerpt("alpha, beta, gamma, delta, epsilon, zeta", 22)
    assert out.endswith("…")
    assert not out[:-1].endswith((",", " "))


@pytest.mark.parametrize("limit", [1, 0, -5])
def test_excerpt_rejects_tiny_limits(limit: int) -> None:
    with pytest.raises(CleanError):
        excerpt(LONG, limit)


# ---
# Speed (printed, not asserted)
# ---

_SNIPPET_SENTENCES = (
    *NEWS_A,
    *NEWS_B,
    *NEWS_C,
    "Local television showed damaged roofs and broken windows in two hamlets.",
    "The foreign ministry summoned the ambassador over what it called a provocation.",
    "Observers from the regional mission visited the area on Wednesday afternoon.",
)


def _snippet(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(len(p) for p in parts) < size:
        sentences = rng.sample(_SNIPPET_SENTENCES, 2)
        parts.append(f"<p>{sentences[0]} <a href='https://example.org/x'>{sentences[1]}</a></p>")
    parts.append("".join(f"<p>{line}</p>" for line in APPEALS["favour-member"]))
    return "<div class='body'>" + "".join(parts) + "<script>x()</script></div>"


def test_speed_is_reported() -> None:
    rng = random.Random(7)
    snippets = [_snippet(rng, rng.randint(1000, 3000)) for _ in range(300)]
    start = time.perf_counter()
    texts = [html_to_text(s) for s in snippets]
    mid = time.perf_counter()
    cleaned = [strip_boilerplate(t) for t in texts]
    end = time.perf_counter()
    n = len(snippets)
    print(
        f"\nhtml_to_text {n / (mid - start):.0f} texts/s, strip_boilerplate "
        f"{n / (end - mid):.0f} texts/s, clean_text {n / (end - start):.0f} texts/s "
        f"(1-3 KB HTML)"
    )
    assert all(c and "Become a member" not in c and "x()" not in c for c in cleaned)
