"""Story grouping: the same news from many outlets is one story.

An incremental, pure (no I/O) index over a rolling time window. Each article (a :class:`StoryDoc`)
is assigned, in arrival order, as

- a **revision** of an earlier article: the same canonical URL, or near-identical text (a
  syndicated copy, a re-post with a dateline, footer or new title, a truncated copy);
- **joined** to an existing story: another outlet's report, or a follow-up of the same event;
- a **new story** of its own.

How a decision is made:

1. *Normalisation* (:func:`clean_title`, :func:`clean_body`): datelines ("WASHINGTON (Reuters) -",
   "OAKLAND --"), bylines, date-only lines, captions, copyright and "follow us" footers removed;
   site or section names cut from the title ("... | Local News"); accents and case folded.
2. *Features* (:func:`extract_features`): content-word counts (title and lead words weighted up,
   words capitalised mid-sentence weighted up, ages folded into one token: "16yo", light plural
   stemming); a consistent sample of hashed word 3-shingles; and the persons the title names.
   They depend on the text and the tunables only: another process may derive them and pass them
   to `assign` / `restore` (``features=``), with the same result.
3. *Weights*: TF-IDF over each article's top terms. Document frequencies count the recent
   vocabulary (halved every ``df_half_life`` articles); a prior of pseudo-articles keeps a young
   index from calling every shared word common.
4. *Candidates*: an inverted index over each article's most distinctive terms. A query walks the
   new article's distinctive terms rarest first, each posting list for its most recent entries
   only, within a budget (never a scan of the window), and scores exactly the few articles that
   share the most of those terms. A match must share ``min_shared_terms`` terms.
5. *Scoring*: cosine of the weighted vectors minus ``time_penalty * ln(1 + gap / time_scale)``;
   a story scores as its best member. When the article's title names a person most of the
   story's titles do not, and the story's main person is not in the article's title or lead (two
   different actors doing the same thing: two hosts named, two players arrested), the score
   drops by ``name_conflict_penalty``. At or above ``join_threshold`` the article joins the best
   story, otherwise it opens one. A revision (same canonical URL; shingle Jaccard >= 0.9, or a
   shorter text >= 0.8 contained in a longer one) goes to the story of the article it revises.
6. *Time and memory*: articles older than the window are dropped with their postings
   (:meth:`StoryIndex.expire`). A story whose articles have all expired is remembered as a
   compact summary (its top terms) for ``story_memory`` (at most ``max_remembered`` of them), so
   that a follow-up weeks later (an arrest, a charge, a sentence) still finds it; joining a
   remembered story needs ``memory_margin`` more. An article without a publication time
   (``published=None``) is compared without a time penalty (its story's latest known time is
   used when there is one) and, unable to expire by time, is kept among the ``max_undated`` most
   recent undated articles. Memory grows with the window and these caps, never with history.
7. *Snapshots*: :meth:`StoryIndex.dumps` writes the whole state (a magic, a format version, and
   each field as records of at most a few megabytes, each with its length, a CRC-32 and a
   `marshal` of plain containers, numbers, strings and byte strings: nothing that runs code when
   read); :meth:`StoryIndex.loads` gives back an index that continues exactly as the one dumped,
   or raises StoryError (corrupt, another format version, another window or other tunables),
   and the caller rebuilds the index with `restore`. :meth:`StoryIndex.dump_parts` and
   :meth:`StoryIndex.load_parts` do the same a part at a time, making or reading one field at a
   time, so a snapshot of tens of megabytes is never whole in memory on its way to or from the
   store.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import marshal
import math
import re
import struct
import sys
import unicodedata
import zlib
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from itertools import compress, filterfalse, islice, repeat
from operator import add, eq, gt, itemgetter, mul, sub, truediv
from typing import Any, Literal

from watcher import storymath

__all__ = [
    "Assignment",
    "DocFeatures",
    "Kind",
    "StoryDoc",
    "StoryError",
    "StoryIndex",
    "StoryTunables",
    "clean_body",
    "clean_title",
    "extract_features",
    "shingle_overlap",
]

Kind = Literal["new_story", "joined", "revision"]


class StoryError(ValueError):
    """Invalid argument to the story index."""


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """What the index needs of an article."""

    id: str
    title: str
    text: str
    published: datetime | None  # naive datetimes are taken as UTC; None: unknown
    source: str
    canonical_url: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    story_id: str  # existing story id, or doc.id when it opens a new story
    kind: Kind  # revision = the same article re-published
    duplicate_of: str | None  # for "revision": the earlier doc id it revises
    similarity: float  # the score behind the decision (best story's score for a new story)


@dataclass(frozen=True, slots=True)
class StoryTunables:
    """Knobs of the index. The defaults are the measured ones (docs/benchmarks.md)."""

    # features
    title_weight: float = 3.0  # a title word counts as this many body words
    lead_weight: float = 2.0  # a word among the first `lead_words` words of the body
    lead_words: int = 60
    body_weight: float = 1.0  # a word after the lead
    entity_weight: float = 2.0  # weight factor of words seen capitalised mid-sentence
    max_terms: int = 50  # terms kept per article vector
    # IDF: document frequencies over the recent articles
    df_half_life: int = 20000  # articles: document frequencies halve at this period
    df_prior: float = 200.0  # pseudo-articles containing no term
    idf_refresh: int = 1024  # IDF values are cached, and recomputed after this many articles
    # candidate retrieval
    posted_terms: int = 20  # an article's most distinctive terms go into the inverted index
    query_terms: int = 20  # the new article's most distinctive terms are looked up
    posting_budget: int = 400  # postings walked per query at most (rarest terms first) ...
    posting_tail: int = 64  # ... and at most this many (the most recent) of one term's
    max_candidates: int = 10  # articles scored exactly per query
    # decision
    join_threshold: float = 0.15
    min_shared_terms: int = 3  # a match shares at least this many terms (one name is not enough)
    time_penalty: float = 0.06  # score = cosine - time_penalty * ln(1 + gap_days / time_scale)
    time_scale_days: float = 3.0
    story_memory: timedelta = timedelta(days=365)  # remember expired stories this long
    memory_margin: float = 0.07  # joining a remembered story needs join_threshold + this
    memory_skip: float = 0.45  # remembered stories are not looked up when a live one scores this
    name_conflict_penalty: float = 0.5  # the title names another person than the story's
    name_lead_words: int = 50  # the lead, for names: this many words of the body
    summary_terms: int = 40
    summary_posted: int = 16
    summary_candidates: int = 10  # remembered stories scored exactly per query
    max_undated: int = 10_000  # undated articles kept (they cannot expire by time), oldest out
    # remembered stories kept at most, the least recent out: what the index holds beyond its
    # window (~2 KB each), so that its memory does not grow with history
    max_remembered: int = 20_000
    # revisions
    revision_jaccard: float = 0.9  # shingle Jaccard at or above: a revision
    revision_containment: float = 0.8  # or the shorter text this much inside the longer ...
    revision_min_shingles: int = 15  # ... when the shorter has at least this many shingles
    revision_min_cosine: float = 0.5  # only candidates this similar are tested

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, timedelta):
                if value < timedelta(0):
                    raise StoryError(f"tunable {f.name} must not be negative, got {value}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StoryError(f"tunable {f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise StoryError(f"tunable {f.name} must be a finite number, got {value!r}")
            if f.type == "int" and not isinstance(value, int):  # (a count, a limit)
                if not value.is_integer():
                    raise StoryError(f"tunable {f.name} must be an integer, got {value!r}")
                object.__setattr__(self, f.name, int(value))  # 2e4 in a config: 20000
                value = int(value)
            if not value >= 0:
                raise StoryError(f"tunable {f.name} must be >= 0, got {value!r}")
        for name in ("df_half_life", "time_scale_days", "idf_refresh"):
            if not getattr(self, name) > 0:
                raise StoryError(f"tunable {name} must be > 0")
        for name in ("max_terms", "posted_terms", "query_terms", "max_candidates", "summary_terms"):
            if getattr(self, name) < 1:
                raise StoryError(f"tunable {name} must be >= 1")


_DEFAULT_TUNABLES = StoryTunables()

# ---
# Normalisation
# ---

_QUOTES = (
    ("\u2018", "'"), ("\u2019", "'"), ("\u201b", "'"), ("\u2032", "'"), ("\u00b4", "'"),
    ("\u201c", '"'), ("\u201d", '"'), ("\u201e", '"'), ("\u2033", '"'), ("\u2013", "-"),
    ("\u2014", "-"), ("\u2015", "-"), ("\u2212", "-"), ("\u00a0", " "),
)


def _ascii_quotes(text: str) -> str:
    """Typographic quotes, dashes and no-break spaces as ASCII."""
    if not text.isascii():
        for a, b in _QUOTES:
            if a in text:
                text = text.replace(a, b)
    return text


_COMBINING = re.compile(r"[\u0300-\u036f]+")


def _fold(text: str) -> str:
    """Accents stripped, case folded (quotes and dashes already ASCII)."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text.casefold()


_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAYS = (
    "mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs(?:day)?)?|fri(?:day)?|"
    "sat(?:urday)?|sun(?:day)?"
)
# Words a date / time stamp line may hold besides numbers.
_DATE_WORDS = re.compile(
    rf"\b(?:{_MONTHS}|{_DAYS}|updated?|published|posted|originally|last|on|at|by|"
    r"am|pm|a\.m|p\.m|edt|est|cdt|cst|mdt|mst|pdt|pst|gmt|utc|bst|cest|cet|et|ct|pt|"
    r"st|nd|rd|th|of|and|the)\b",
    re.I,
)
_NON_WORDS = re.compile(r"[\d\W_]+")
_HAS_DIGIT = re.compile(r"\d")
# Boilerplate lines: short ones starting with one of these words (or pairs of words) ...
_BOILER_FIRST = frozenset(
    ["by", "posted", "updated", "published", "written", "photo", "photos", "image", "caption",
     "video", "watch", "advertisement", "related", "click", "share", "follow", "subscribe",
     "comment", "comments", "pinterest", "twitter", "facebook", "email", "print"]
)
_BOILER_FIRST_TWO = frozenset(
    {("originally", "published"), ("last", "updated"), ("read", "more"), ("see", "also"),
     ("sign", "up"), ("more", "stories")}
)
# ... or holding one of these phrases (looked for only when a trigger word is present).
_BOILER_TRIGGERS = frozenset(
    ["copyright", "(c)", "rights", "published", "republished", "contributed", "reporting",
     "editing", "follow", "stories", "story", "caption", "skip"]
)
_BOILER_PHRASE = re.compile(
    r"copyright|\(c\) (?:19|20)|all rights reserved|may not be (?:re)?published|"
    r"contributed to this report|reporting by|editing by|follow (?:us|him|her) on|"
    r"(?:related|more) stories|read or share this story|this story has been updated|"
    r"caption close|skip in skip"
)
_LEADING_PUNCT = "\"'([{*-\u2022 "


def _is_boilerplate(line: str, n_words: int) -> bool:
    low = line.lower()
    words = low.lstrip(_LEADING_PUNCT).split()
    if not words:
        return True
    if n_words <= 12:
        first = words[0].rstrip(":.,")
        if first in _BOILER_FIRST or tuple(w.rstrip(":.,") for w in words[:2]) in _BOILER_FIRST_TWO:
            return True
    if "\u00a9" in low:
        return True
    return not _BOILER_TRIGGERS.isdisjoint(words) and _BOILER_PHRASE.search(low) is not None


# Datelines: "WASHINGTON (Reuters) -", "(AP) --", "SAINT JOSEPH, Mich. (NEWSCHANNEL 3) -",
# "HOUSTON, Nov. 16 (Xinhua) --", "OAKLAND --", "INDIANAPOLIS, Ind. -".
_DATELINE = re.compile(
    r"^\s*(?:"
    r"(?:[A-Z][A-Za-z.'&]*(?:[ -][A-Z][A-Za-z.'&]*){0,4}(?:,\s*[A-Za-z.]+(?:\s+[A-Za-z.]+)?"
    r"(?:\s+\d{1,2})?)?\s*)?\([A-Za-z0-9/ .&'-]{1,40}\)\s*-{1,3}\s*"
    r"|[A-Z][A-Z.'&]+(?:[ -][A-Z][A-Z.'&]+){0,4}(?:,\s*[A-Z][A-Za-z.]+(?:\s+[A-Z][A-Za-z.]+)?"
    r"(?:\s+\d{1,2})?)?\s*-{1,3}\s+"
    r")"
)
_TITLE_SPLIT = re.compile(r"\s+(?:\||-{1,2}|:{2})\s+")


def _looks_like_a_name(segment: str) -> bool:
    """ "Local News", "KXYZ 7 News", "LEX18.com", "Fox29 WFLX TV, West Palm": short, and mostly
    capitalised words, numbers or domains."""
    words = segment.split()
    if not words or len(words) > 7:
        return False
    named = sum(1 for w in words if w[0].isupper() or w[0].isdigit() or "." in w)
    return 3 * named >= 2 * len(words)


def clean_title(title: str) -> str:
    """The title without trailing site or section names ("... | Local News", "... - KCTV5")."""
    title = " ".join(_ascii_quotes(title).split())
    parts = _TITLE_SPLIT.split(title)
    while (
        len(parts) > 1
        and _looks_like_a_name(parts[-1])
        and len(" ".join(parts[:-1]).split()) >= 3
    ):
        parts.pop()
    return " - ".join(parts)


def _is_date_line(line: str) -> bool:
    """A line that is only a date / time stamp ("Updated 4/9/2007 6:04 PM", "May 3rd, 2013")."""
    if len(line) > 120 or not _HAS_DIGIT.search(line):
        return False
    rest = _NON_WORDS.sub(" ", _DATE_WORDS.sub(" ", line)).split()
    return not rest or (len(rest) <= 1 and len(line.split()) <= 8)


def _clean_lines(text: str) -> list[str]:
    out: list[str] = []
    for raw in _ascii_quotes(text).splitlines():
        # words one space apart, as " ".join(raw.split()); in ASCII, the only whitespace
        # splitlines leaves besides spaces is a tab or \x1f
        if raw.isascii() and "\t" not in raw and "\x1f" not in raw:
            line = raw
            while "  " in line:
                line = line.replace("  ", " ")
            if line[:1] == " " or line[-1:] == " ":
                line = line.strip(" ")
        else:
            line = " ".join(raw.split())
        n = line.count(" ") + 1 if line else 0  # words
        if n <= 3 and not line.endswith((".", '"')):
            continue  # empty, navigation, a lone "UPDATE:", a section name
        if n <= 25:  # stamps, bylines and footers are short
            if n <= 12 and _is_date_line(line):
                continue
            if _is_boilerplate(line, n):
                continue
        if len(out) < 3 and "-" in line:  # (a dateline ends in a dash)
            line = _DATELINE.sub("", line, count=1)
            if not line:
                continue
        out.append(line)
    return out


def clean_body(text: str) -> str:
    """Body text for matching: one paragraph per line, without datelines, bylines, date-only
    lines, captions and footers. Case is kept (proper nouns are found from it)."""
    return "\n".join(_clean_lines(text))


# ---
# Features
# ---

_STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
     "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
     "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few",
     "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
     "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
     "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of",
     "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
     "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
     "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to",
     "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
     "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
     "yourselves", "said", "say", "says", "told", "tell", "according", "one", "two", "three",
     "four", "five", "six", "seven", "eight", "nine", "ten", "first", "second", "third", "last",
     "new", "may", "might", "must", "shall", "cannot", "yet", "ago", "around", "near", "since",
     "per", "via", "get", "got", "go", "going", "went", "come", "came", "make", "made", "like",
     "well", "back", "many", "much", "mr", "mrs", "ms", "dr", "st", "monday", "tuesday",
     "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march",
     "april", "june", "july", "august", "september", "october", "november", "december", "jan",
     "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "today",
     "yesterday", "tonight", "week", "weekend", "day", "night", "morning", "afternoon", "evening",
     "year", "month", "time", "old", "pm"]
)
# Tokens come from the UTF-8 bytes of a line, through a table that keeps letters, digits,
# apostrophes and non-ASCII bytes, turns ".!?" into a sentence-end marker and ",;:" into a
# clause marker (both stay attached to the word before: "said." -> b"said\x01"), and everything
# else into a space. bytes.translate + split run in C; each distinct token is analysed once.
_END, _CLAUSE, _CAPITAL, _THE = 1, 2, 4, 8  # token flags
_NAMED = 16  # capitalised, and an index term


def _byte_table() -> bytes:
    table = bytearray(range(256))
    for c in range(128):
        ch = chr(c)
        if not (ch.isalnum() or ch == "'"):
            table[c] = 32
    for ch in ".!?":
        table[ord(ch)] = _END
    for ch in ",;:":
        table[ord(ch)] = _CLAUSE
    return bytes(table)


_BYTE_TABLE = _byte_table()
_NAMED_TABLE = bytes(int(bool(f & _NAMED)) for f in range(256))  # flags -> 1 for a _NAMED token
_AGE = re.compile(rb"(?<![0-9A-Za-z])([0-9]{1,3}) (?:years?|yrs?) old\b", re.I)
BLOOM_BITS = 1024


def _stem(word: str) -> str:
    if word.endswith("'s"):
        word = word[:-2]
    elif word.endswith("'"):
        word = word[:-1]
    if len(word) > 4 and word[0].isalpha():
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


def _term_of(word: str) -> str:
    """The index term of a folded word; "" for a stopword or a lone letter."""
    w = _stem(word)
    if (len(w) < 2 and not w.isdigit()) or w in _STOPWORDS:
        return ""
    return sys.intern(w)


_CACHE_MAX = 300_000
# token -> (index term or "", CRC-32 of the folded word, its low byte, flags)
_TOKEN_CACHE = storymath.TokenCache(_CACHE_MAX)


def _token_info(token: bytes) -> tuple[str, int, int, int]:
    """A token's analysis (storymath.tokens remembers it in _TOKEN_CACHE)."""
    flags = 0
    core = token
    while core and core[-1] in (_END, _CLAUSE):
        flags |= _END if core[-1] == _END else _CLAUSE
        core = core[:-1]
    # "U.S" keeps no dot; "1,000" becomes 1000
    word = core.replace(b"\x01", b"").replace(b"\x02", b"").decode("utf-8", "replace").strip("'")
    if word and word[0].isupper() and not word.isupper():
        flags |= _CAPITAL
    folded = _fold(word)
    if folded == "the":
        flags |= _THE
    term = _term_of(folded) if folded else ""
    if term and flags & _CAPITAL:
        flags |= _NAMED
    crc = zlib.crc32(folded.encode())
    return (term, crc, crc & 0xFF, flags)  # (the low byte: see storymath.shingles)


def _after_table(keep: Callable[[int], bool]) -> bytes:
    """A bytes.translate table: the flags of a token to 1 when `keep(flags)`, else 0 (flags of
    tokens after a sentence end: 0)."""
    return bytes(int(not f & _END and keep(f)) for f in range(256))


# the flags of the token before a capitalised word: it is after "the"; after a lower-case word,
# a number or a comma (a proper noun); after another capitalised word (a pair: a name)
_AFTER_THE = _after_table(lambda f: bool(f & _THE))
_AFTER_LOWER = _after_table(lambda f: bool(f & _CLAUSE or not f & _CAPITAL))
_AFTER_NAME = _after_table(lambda f: not (f & _CLAUSE or not f & _CAPITAL) and bool(f & _NAMED))


def _tokens(line: str) -> list[bytes]:
    return line.encode("utf-8", "replace").translate(_BYTE_TABLE).split()


_BITS: dict[str, int] = {}


def _term_bit(term: str) -> int:
    bit = _BITS.get(term)
    if bit is None:
        if len(_BITS) >= _CACHE_MAX:
            _BITS.clear()
        bit = _BITS[term] = zlib.crc32(term.encode()) % BLOOM_BITS
    return bit


def _bloom_has(bloom: int, term: str) -> bool:
    return bool(bloom >> _term_bit(term) & 1)


# A Bloom bit as two bytes, the first >= 0x80 and the second < 0x80: a bit's pattern can only
# be found at its own place in a string of them.
_BIT_CODES = [bytes((0x80 | bit >> 7, bit & 0x7F)) for bit in range(BLOOM_BITS)]


def _bits_of(mask: int) -> bytes:
    """The set bits of a Bloom mask, two bytes each (a few bytes, not a 1024-bit int)."""
    out = []
    while mask:
        low = mask & -mask
        out.append(_BIT_CODES[low.bit_length() - 1])
        mask ^= low
    return b"".join(out)


def _bits_have(bits: bytes, term: str) -> bool:
    return _BIT_CODES[_term_bit(term)] in bits


SHINGLE_SAMPLE_MIN = storymath.SHINGLE_SAMPLE_MIN


def _shingles(ids: bytes, lows: bytes) -> tuple[int, array[int]]:
    """A consistent sample of the hashed word 3-shingles of a text (`storymath.shingles`)."""
    rate, raw = storymath.shingles(ids, lows)
    values = array("I")
    values.frombytes(raw)
    return rate, values


@dataclass(frozen=True, slots=True)
class DocFeatures:
    """What the index derives from an article's text, before weighting. Plain values (strings,
    numbers, an array), the same in every process: they pickle, so another process (a parse
    worker) can derive them and pass them to `StoryIndex.assign` / `restore`."""

    counts: Mapping[str, float]  # weighted term counts (title and lead weighted up)
    proper: frozenset[str]  # terms seen capitalised mid-sentence in the body
    shingle_rate: int  # `shingles` holds the hashes h with h % shingle_rate == 0
    shingles: array[int]  # sample of hashed word 3-shingles of the cleaned body
    focal: frozenset[str] = frozenset()  # surnames of the persons the title names
    caps: int = 0  # Bloom mask of the capitalised words of the title and the body's lead
    title_caps: int = 0  # Bloom mask of the title's capitalised words


def extract_features(title: str, text: str, tunables: StoryTunables | None = None) -> DocFeatures:
    """Features of one article (pure, deterministic).

    Besides weighted term counts and shingles, the capitalised words give: proper nouns (words
    capitalised mid-sentence, weighted up); a Bloom mask of the capitalised words of the title
    and the lead; and the persons the title names. A person is a capitalised pair in the body
    ("Dario Kessling") whose second word also stands alone there ("Kessling was stopped") and
    never after "the" ("the Harriers": a team). Places and organisations ("Port Ellison",
    "County Sheriff") are rarely shortened that way. Headline-like lines (a title repeated in
    the body) say nothing through capitals."""
    tun = tunables or _DEFAULT_TUNABLES
    title_words, _, _, title_flags, _ = storymath.tokens(
        [clean_title(title)], _BYTE_TABLE, _TOKEN_CACHE, _token_info)
    title_terms = set(compress(title_words, title_flags.translate(_NAMED_TABLE)))
    tmask = 0
    for term in title_terms:
        tmask |= 1 << _term_bit(term)
    lines = _clean_lines(text)
    terms, ids, lows, flags_of, lengths = storymath.tokens(lines, _BYTE_TABLE, _TOKEN_CACHE,
                                                           _token_info)
    # the capitalised tokens with an index term
    capitals = list(compress(range(len(terms)), flags_of.translate(_NAMED_TABLE)))
    lead_mask = tmask
    for i in capitals:
        if i >= tun.name_lead_words:
            break
        lead_mask |= 1 << _term_bit(terms[i])
    ages: list[str] = []
    telling: list[int] = []  # the capitals of lines that are not a title repeated in the body
    inner: list[int] = []  # ... but a line's first token
    start = 0  # the line's first token
    c = 0  # the line's first capital in `capitals`
    for line, length in zip(lines, lengths, strict=True):
        if not length:
            continue
        end = start + length
        if "old" in line or "Old" in line or "OLD" in line:
            ages += [sys.intern(m.group(1).decode() + "yo")
                     for m in _AGE.finditer(b" ".join(_tokens(line)))]
        first = c
        c = bisect_left(capitals, end, c)
        # a title repeated in the body (mostly capitals, or many and no closing punctuation)
        # says nothing through capitals
        n_line = c - first
        if n_line and not (n_line * 5 >= 3 * length or (
            n_line * 5 >= 2 * length and not flags_of[end - 1] & _END
        )):
            telling += capitals[first:c]
            inner += capitals[first + 1 : c] if capitals[first] == start else capitals[first:c]
        start = end
    # what the token before each inner capital says of it (see _AFTER): after "the"; a proper
    # noun (after a lower-case word, a number or a comma); the second word of a pair of
    # capitalised words ("Dario Kessling"); nothing after a sentence end
    before = bytes(map(flags_of.__getitem__, map(sub, inner, repeat(1))))
    named = list(map(terms.__getitem__, inner))
    the = set(compress(named, before.translate(_AFTER_THE)))
    proper = set(compress(named, before.translate(_AFTER_LOWER)))
    seconds = list(compress(inner, before.translate(_AFTER_NAME)))
    firsts = list(map(sub, seconds, repeat(1)))
    pairs = list(zip(map(terms.__getitem__, firsts), map(terms.__getitem__, seconds),
                     strict=True))
    paired = set(seconds).union(firsts)
    alone = set(map(terms.__getitem__, filterfalse(paired.__contains__, telling)))
    lead = tun.lead_words
    counts = storymath.count((title_words, terms[:lead], terms[lead:], ages),
                             (tun.title_weight, tun.lead_weight, tun.body_weight, tun.lead_weight))
    alone -= the
    persons = frozenset(p for _, p in pairs if p in alone and p in title_terms)
    rate, shingles = _shingles(ids, lows)
    return DocFeatures(counts, frozenset(proper), rate, shingles, persons, lead_mask, tmask)


def shingle_overlap(a: DocFeatures, b: DocFeatures) -> tuple[float, float]:
    """(Jaccard, containment of the smaller in the larger) of two texts' shingle samples."""
    return storymath.overlap(a.shingle_rate, a.shingles, b.shingle_rate, b.shingles)


# ---
# The index
# ---


def _timestamp(published: datetime) -> float:
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return published.timestamp()


@dataclass(slots=True, eq=False)
class _Doc:
    serial: int
    id: str
    ts: float | None  # publication time; None: unknown
    canonical_url: str
    terms: tuple[str, ...]  # top terms by weight; the first `posted_terms` are posted
    # bytes rather than arrays: no objects for the garbage collector to go over, and a bit smaller
    weights: bytes  # L2-normalised, as 4-byte floats (memoryview(weights).cast("f"))
    shingle_rate: int
    shingles: bytes  # as 4-byte unsigned ints (memoryview(shingles).cast("I"))
    title_bits: bytes  # Bloom bits of the title's capitalised words (see _bits_of)
    story: _Story
    kind: Kind  # the assignment (its story id is story.id)
    duplicate_of: str | None
    similarity: float

    @property
    def assignment(self) -> Assignment:
        return Assignment(self.story.id, self.kind, self.duplicate_of, self.similarity)


@dataclass(slots=True, eq=False)
class _Story:
    id: str
    members: dict[int, _Doc] = field(default_factory=dict)  # live members by serial
    last_ts: float | None = None  # latest known publication time of a member
    anchor: float = -math.inf  # when the story was last active (for the story memory)
    merged: dict[str, float] = field(default_factory=dict)  # expired members' vectors, summed
    persons: dict[str, int] = field(default_factory=dict)  # title person -> titles naming them
    size: int = 0  # members ever
    summary_terms: tuple[str, ...] = ()  # remembered summary, once no member is live
    summary_weights: bytes = b""  # as 4-byte floats


def _top(hits: Counter[Any], k: int) -> list[Any]:
    """The keys of up to `k` of the highest counts (ties broken by insertion order). Counts are
    small integers: a threshold from their histogram avoids a heap over every hit."""
    if len(hits) <= k:
        return list(hits)
    histogram = Counter(hits.values())
    taken = 0
    threshold = 1
    for count in sorted(histogram, reverse=True):
        taken += histogram[count]
        threshold = count
        if taken >= k:
            break
    top = list(compress(hits, map(gt, hits.values(), repeat(threshold))))
    top += islice(compress(hits, map(eq, hits.values(), repeat(threshold))), k - len(top))
    return top


_KINDS: tuple[Kind, ...] = ("new_story", "joined", "revision")
_KIND_CODE: dict[str, int] = {kind: i for i, kind in enumerate(_KINDS)}
_SNAPSHOT_MAGIC = b"WSIX"
# 2: an article's weights and shingles, and a term's postings, are byte strings of their own
# (in 1 they were joined into one string each, then cut up again: two copies at save and load)
_SNAPSHOT_VERSION = 2
_SNAPSHOT_HEADER = struct.Struct("<4sHI")  # magic, format version, number of fields
_U32 = struct.Struct("=I")  # a posting: an article's serial, as in array("I")
_SNAPSHOT_FIELDS = 28


def _array(typecode: str, data: bytes) -> array[Any]:
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    out = array(typecode)
    out.frombytes(data)
    return out


def _expect(value: Any, kind: type, what: str) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a snapshot is written or read: it makes or walks
    hundreds of thousands of objects, none of them garbage, and each collection would go over
    the whole heap again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _only(values: Iterable[Any], types: set[type], what: str) -> None:
    found = set(map(type, values))
    if not found <= types:
        raise TypeError(f"{what}: unexpected {sorted(t.__name__ for t in found - types)}")


def _config_difference(got: Any, want: tuple[tuple[str, Any], ...]) -> str:
    try:
        theirs = dict(got)
    except (TypeError, ValueError):
        return "unreadable settings"
    diff = [f"{name} {theirs.get(name)!r} (now {value!r})" for name, value in want
            if theirs.get(name) != value]
    return ", ".join(diff) or "settings differ"


_RECORD_HEADER = struct.Struct("<QI")  # a snapshot field's length, and its CRC-32
_DONE = object()  # (the end of a snapshot's fields)
# A field is a record of its number of chunks k, then k records: the value itself (k = 1), or
# slices of a list of more than this many items, joined when read.
_SNAPSHOT_CHUNK = 8192
_MAX_CHUNKS = 1 << 20


def _record(value: Any) -> Iterator[bytes]:
    """A snapshot record of `value`: its header, then its bytes (written with the collector
    paused: it would walk the heap again for nothing)."""
    with _gc_paused():
        blob = marshal.dumps(value, 4)
    yield _RECORD_HEADER.pack(len(blob), zlib.crc32(blob))
    yield blob


def _in_parts(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The concatenation of `pieces` cut into parts of `size` bytes (the last one shorter)."""
    buf = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while view:
            take = size - len(buf)
            buf += view[:take]
            view = view[take:]
            if len(buf) == size:
                yield bytes(buf)
                buf.clear()
        del view, piece
    if buf:
        yield bytes(buf)


def _byte_view(part: object) -> memoryview:
    """A part as a view of its bytes, whatever its item size or layout."""
    if not isinstance(part, bytes | bytearray | memoryview):
        raise StoryError(f"snapshot must be bytes, got {type(part).__name__}")
    view = memoryview(part)
    if not view.c_contiguous:  # (a strided view: its bytes, copied)
        view = memoryview(view.tobytes())
    return view.cast("B")


class _PartReader:
    """Consecutive byte ranges of a stream given in parts. A range within one part is a view of
    it; one that spans parts is assembled (the only copy). A range returned is valid until the
    next `read`."""

    def __init__(self, parts: Iterable[bytes | bytearray | memoryview]) -> None:
        self._parts = iter(parts)
        self._rest = memoryview(b"")  # what is unread of the last part (or assembled range)

    def read(self, n: int) -> memoryview | None:
        """The next `n` bytes; None when the parts end first."""
        if len(self._rest) >= n:
            out, self._rest = self._rest[:n], self._rest[n:]
            return out
        buf = bytearray(self._rest)
        self._rest = memoryview(b"")
        while len(buf) < n:
            part = next(self._parts, None)
            if part is None:
                return None
            view = _byte_view(part)
            del part
            if not buf and len(view) >= n:  # (no copy: the range is within this part)
                out, self._rest = view[:n], view[n:]
                return out
            buf += view
            view.release()
        view = memoryview(buf)  # (buf is not resized again: its views stay valid)
        out, self._rest = view[:n], view[n:]
        return out

    def at_end(self) -> bool:
        if self._rest:
            return False
        return all(not _byte_view(part) for part in self._parts)


def _read_snapshot(parts: Iterable[bytes | bytearray | memoryview],
                   check_first: Callable[[Any], None] | None = None) -> tuple[Any, ...]:
    """The fields of a snapshot (see `StoryIndex.dumps`), each checked against its CRC-32
    before it is decoded. `check_first` sees the first field (the settings) before the rest is
    read. Raises StoryError."""
    reader = _PartReader(parts)
    size = _SNAPSHOT_HEADER.size
    head = reader.read(size)
    if head is None:
        raise StoryError("not a story index snapshot: too short")
    magic, version, count = _SNAPSHOT_HEADER.unpack(head)
    head.release()
    if magic != _SNAPSHOT_MAGIC:
        raise StoryError("not a story index snapshot (bad magic)")
    if version != _SNAPSHOT_VERSION:
        raise StoryError(
            f"story index snapshot format {version}, this version reads {_SNAPSHOT_VERSION}"
        )
    if count != _SNAPSHOT_FIELDS:
        raise StoryError("corrupt story index snapshot: unexpected layout")
    fields: list[Any] = []
    for i in range(count):
        n = _read_record(reader)
        if type(n) is not int or not 1 <= n <= _MAX_CHUNKS:
            raise StoryError("corrupt story index snapshot: unexpected layout")
        value = _read_record(reader)
        if n > 1:
            if not isinstance(value, list):
                raise StoryError("corrupt story index snapshot: unexpected layout")
            for _ in range(n - 1):
                more = _read_record(reader)
                if not isinstance(more, list):
                    raise StoryError("corrupt story index snapshot: unexpected layout")
                value += more
                del more
        if i == 0 and check_first is not None:
            check_first(value)
        fields.append(value)
    if not reader.at_end():
        raise StoryError("corrupt story index snapshot: bytes after its last field")
    return tuple(fields)


def _read_record(reader: _PartReader) -> Any:
    """The next record's value, checked against its CRC-32 before it is decoded."""
    rec = reader.read(_RECORD_HEADER.size)
    if rec is None:
        raise StoryError("corrupt story index snapshot: truncated")
    length, crc = _RECORD_HEADER.unpack(rec)
    rec.release()  # (else it holds the buffer it is cut from while the next is made)
    blob = reader.read(length)
    if blob is None:
        raise StoryError("corrupt story index snapshot: truncated")
    if zlib.crc32(blob) != crc:
        blob.release()
        raise StoryError("corrupt story index snapshot (checksum mismatch)")
    try:
        return marshal.loads(blob)
    except (EOFError, ValueError, TypeError) as exc:
        raise StoryError(f"corrupt story index snapshot: {exc}") from exc
    except MemoryError:  # (a forged count: marshal believed it)
        raise StoryError("corrupt story index snapshot: a field too large to read") from None
    finally:
        blob.release()


# Tunables that only bound what the index remembers beyond its window: a snapshot made with
# other values is still a state the index can be in (it remembered more, or less), so it is
# loaded, and the limits apply from then on.
_MEMORY_LIMITS = frozenset({"story_memory", "max_remembered"})


def _decision_settings(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A snapshot's settings without the memory limits."""
    return tuple(kv for kv in key if not (isinstance(kv, tuple) and len(kv) == 2
                                          and isinstance(kv[0], str) and kv[0] in _MEMORY_LIMITS))


def _check_config(got: Any, want: tuple[tuple[str, Any], ...]) -> None:
    if not isinstance(got, tuple):
        raise StoryError("corrupt story index snapshot: unexpected layout")
    if _decision_settings(got) != _decision_settings(want):
        raise StoryError("story index snapshot was made with another window or other "
                         "tunables: " + _config_difference(got, want))


def _gap_penalty(a: float | None, b: float | None, tun: StoryTunables) -> float:
    if a is None or b is None:
        return 0.0
    return tun.time_penalty * math.log1p(abs(a - b) / 86400.0 / tun.time_scale_days)


class StoryIndex:
    """Incremental story grouping over a rolling window (see the module docstring).

    `expire(now)` drops what fell out of the window; call it as time moves on (the pipeline
    before each batch, an evaluation before each article). `assign` never expires by itself.
    """

    def __init__(self, window: timedelta = timedelta(hours=72), **tunables: Any) -> None:
        if not isinstance(window, timedelta) or window <= timedelta(0):
            raise StoryError(f"window must be a positive timedelta, got {window!r}")
        known = {f.name for f in fields(StoryTunables)}
        unknown = sorted(set(tunables) - known)
        if unknown:
            raise StoryError(f"unknown tunable(s) {unknown}; known: {sorted(known)}")
        self.tunables: StoryTunables = replace(StoryTunables(), **tunables)
        self.window = window
        # document frequencies: halved every df_half_life articles, terms at 0 dropped, so the
        # table holds the recent vocabulary only
        self._df: Counter[str] = Counter()
        self._df_total = 0  # articles counted, halved with the frequencies
        self._df_articles = 0
        self._idf_cache: dict[str, float] = {}
        self._docs: dict[str, _Doc] = {}
        self._by_serial: dict[int, _Doc] = {}
        self._serial = 0
        # term -> serials, in arrival order, as 4-byte unsigned ints (a bytearray: no object for
        # the garbage collector to go over)
        self._postings: dict[str, bytearray] = {}
        self._live_postings = 0
        self._dead_postings = 0
        self._urls: dict[str, _Doc] = {}
        self._stories: dict[str, _Story] = {}  # stories with a live member
        self._expiry: list[tuple[float, int]] = []  # (published, serial) of dated articles
        self._undated: deque[_Doc] = deque()  # undated articles, oldest first
        self._clock = -math.inf  # the latest `now` given to expire
        self._remembered: dict[str, _Story] = {}  # stories without live members
        self._memory_heap: list[tuple[float, str]] = []  # (story anchor, story id)
        # term -> remembered story ids, in insertion order (not a set: a set's order follows
        # string hashing, which changes from process to process, and ties between candidates
        # are broken by this order). A list, not a dict: a story id is posted once under a
        # term (its summary terms are distinct), and a list holds it in 8 bytes where a small
        # dict took ~100 (half of what a remembered story cost)
        self._summary_postings: dict[str, list[str]] = {}

    # -- public API ---

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and deep-copied) as its snapshot: unpickled as `loads` reads it, with every
        article term interned (see storymath.score), where pickle would make copies."""
        return (_unpickle_index, (self.dumps(), self.window, asdict(self.tunables)))

    def __len__(self) -> int:
        """Articles in the window."""
        return len(self._docs)

    @property
    def story_count(self) -> int:
        """Stories with an article in the window."""
        return len(self._stories)

    @property
    def remembered_count(self) -> int:
        """Stories remembered as summaries (all their articles expired)."""
        return len(self._remembered)

    def assignment(self, doc_id: str) -> Assignment | None:
        """The assignment of an article still in the window."""
        d = self._docs.get(doc_id)
        return d.assignment if d is not None else None

    def assign(self, doc: StoryDoc, features: DocFeatures | None = None) -> Assignment:
        """Decide the story of `doc` and add it to the index. An id already in the window gets
        its earlier assignment back (and nothing changes).

        `features`: the article's `extract_features(doc.title, doc.text, index.tunables)` when
        they were derived already (by a parse worker, in another process: they pickle); used
        instead of deriving them again, with the same result. Features derived with other
        tunables than the index's give other decisions."""
        self._check(doc)
        known = self._docs.get(doc.id)
        if known is not None:
            return known.assignment
        ts = None if doc.published is None else _timestamp(doc.published)
        feats = self._features(doc, features)
        terms, weights = self._vector(feats, doc.id)
        query = dict(zip(terms, memoryview(weights).cast("f"), strict=True))
        scored = self._score(query, self._candidates(terms))
        revision = self._revision(doc, feats, scored)
        if revision is not None:
            target, sim = revision
            story = target.story
            assignment = Assignment(story.id, "revision", target.id, round(sim, 4))
        else:
            best, sim = self._best_story(query, ts, feats, scored)
            if best is not None and sim >= self.tunables.join_threshold:
                story = best
                assignment = Assignment(story.id, "joined", None, round(sim, 4))
            elif doc.id in self._stories:
                # the id of an article that opened a story still live (it left the window, or
                # was removed, and came back): the story it opened goes on under that id, and
                # a second story under one id would make both unreachable by it
                story = self._stories[doc.id]
                assignment = Assignment(story.id, "joined", None, round(max(sim, 0.0), 4))
            else:
                story = self._new_story(doc.id)
                assignment = Assignment(doc.id, "new_story", None, round(max(sim, 0.0), 4))
        self._add(doc, ts, feats, terms, weights, story, assignment)
        return assignment

    def restore(self, doc: StoryDoc, story_id: str, duplicate_of: str | None = None,
                features: DocFeatures | None = None) -> None:
        """Put back an article decided in an earlier run (on restart), without re-deciding.
        Restore in publication order, then call `expire` with the current time. `features`: as
        for `assign`."""
        self._check(doc)
        if not isinstance(story_id, str) or not story_id:
            raise StoryError(f"restore {doc.id!r}: story_id must be a non-empty string")
        if doc.id in self._docs:
            return
        ts = None if doc.published is None else _timestamp(doc.published)
        feats = self._features(doc, features)
        terms, weights = self._vector(feats, doc.id)
        story = self._stories.get(story_id) or self._remembered.get(story_id) or _Story(story_id)
        kind: Kind
        if duplicate_of is not None:
            kind = "revision"
        else:
            kind = "new_story" if story_id == doc.id else "joined"
        self._add(doc, ts, feats, terms, weights, story, Assignment(story_id, kind, duplicate_of,
                                                                     1.0))

    def expire(self, now: datetime) -> int:
        """Drop articles published before `now - window` (undated ones: added before then);
        returns how many were dropped. A story left without articles is remembered as a summary
        for `story_memory`, then forgotten."""
        if not isinstance(now, datetime):
            raise StoryError(f"expire: now must be a datetime, got {type(now).__name__}")
        now_ts = _timestamp(now)
        self._clock = max(self._clock, now_ts)
        cutoff = now_ts - self.window.total_seconds()
        dropped = 0
        while self._expiry and self._expiry[0][0] < cutoff:
            _, serial = heapq.heappop(self._expiry)
            d = self._by_serial.get(serial)
            if d is not None:
                self._drop(d)
                dropped += 1
        forget = cutoff - self.tunables.story_memory.total_seconds()
        while self._memory_heap and self._memory_heap[0][0] < forget:
            anchor, sid = heapq.heappop(self._memory_heap)
            story = self._remembered.get(sid)
            if story is not None and story.anchor == anchor:
                self._unpost_summary(story)
                del self._remembered[sid]
        if self._dead_postings > max(4096, self._live_postings):
            self._compact_postings()
        return dropped

    def doc_ids(self) -> set[str]:
        """Ids of the articles the index holds (those in the window)."""
        return set(self._docs)

    def assignments(self) -> dict[str, tuple[str, str | None]]:
        """id -> (story id, the article it revises or None) of every article the index holds:
        their assignments as a store keeps them, to compare with it at once."""
        return {d.id: (d.story.id, d.duplicate_of) for d in self._docs.values()}

    def remove(self, doc_id: str) -> bool:
        """Drop one article as expiry would (its story remembered when it was the last one);
        False when the index does not hold it."""
        d = self._docs.get(doc_id)
        if d is None:
            return False
        self._drop(d)
        if d.ts is None:
            self._undated.remove(d)
        return True

    # -- snapshots ---

    def dumps(self) -> bytes:
        """A compact snapshot of the whole state (see :meth:`loads`): a magic, a format version
        and a field count, then each field as records: each record its length, its CRC-32 and a
        `marshal` of plain containers, numbers, strings and byte strings (nothing that runs
        code when loaded). A field is a record of its number of chunks, then the chunks: the
        value itself, or slices of a long list (the articles' columns, the postings:
        `_SNAPSHOT_CHUNK` items a record), so that no record is large.
        Within a record a string is written once, then referred to (marshal's references);
        terms are interned again when read."""
        return b"".join(self.dump_parts())

    def dump_parts(self, part_size: int = 4 << 20) -> Iterator[bytes]:
        """:meth:`dumps` in parts of `part_size` bytes (the last one shorter), made as they are
        asked for (``b"".join(parts) == dumps()``): one field at a time is held as a record, so
        the snapshot is never whole in memory while it is stored part by part. The index must
        not change until the last part is made."""
        if part_size < 1:
            raise StoryError(f"part_size must be >= 1, got {part_size}")
        return _in_parts(self._records(), part_size)

    def _records(self) -> Iterator[bytes]:
        yield _SNAPSHOT_HEADER.pack(_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, _SNAPSHOT_FIELDS)
        fields = self._fields()
        while True:
            # the collector is paused while a field is made and written, never across a
            # yield: the consumer's work (and a half-read iterator) runs with it on
            with _gc_paused():
                value: Any = next(fields, _DONE)
            if value is _DONE:
                return
            # a long list (a column of the articles, the postings) in chunks: no record is
            # large. (Each chunk makes its strings again when read, where one record made
            # each once: reading 57,457 articles takes ~0.2 s more, for 15 MB instead of 31
            # held at most while the snapshot is written.)
            if isinstance(value, list) and len(value) > _SNAPSHOT_CHUNK:
                starts = range(0, len(value), _SNAPSHOT_CHUNK)
                yield from _record(len(starts))
                for i in starts:
                    yield from _record(value[i:i + _SNAPSHOT_CHUNK])
            else:
                yield from _record(1)
                yield from _record(value)
            del value

    def _fields(self) -> Iterator[Any]:
        """The snapshot's fields in order (`_SNAPSHOT_FIELDS` of them), each made when asked
        for and let go once written."""
        docs = list(self._by_serial.values())  # in serial order
        story_index: dict[int, int] = {}
        stories: list[_Story] = []
        for story in itertools.chain(
            (d.story for d in docs), self._stories.values(), self._remembered.values()
        ):
            if id(story) not in story_index:
                story_index[id(story)] = len(stories)
                stories.append(story)
        postings = self._postings
        yield self._config_key()
        yield (self._df_total, self._df_articles, self._serial, self._live_postings,
               self._dead_postings, self._clock)
        yield dict(self._df)
        yield self._idf_cache
        # articles, column by column
        yield array("I", [d.serial for d in docs]).tobytes()
        yield [d.id for d in docs]
        yield [d.ts for d in docs]
        yield [d.canonical_url for d in docs]
        yield [d.terms for d in docs]
        yield [d.weights for d in docs]
        yield array("I", [d.shingle_rate for d in docs]).tobytes()
        yield [d.shingles for d in docs]
        yield [d.title_bits for d in docs]
        yield array("I", [story_index[id(d.story)] for d in docs]).tobytes()
        yield bytes([_KIND_CODE[d.kind] for d in docs])
        yield [d.duplicate_of for d in docs]
        yield array("d", [d.similarity for d in docs]).tobytes()
        # stories
        yield [(st.id, st.last_ts, st.anchor, st.merged, st.persons, st.size, st.summary_terms,
                st.summary_weights) for st in stories]
        yield array("I", [story_index[id(st)] for st in self._stories.values()]).tobytes()
        yield array("I", [story_index[id(st)] for st in self._remembered.values()]).tobytes()
        yield self._memory_heap
        yield {term: tuple(sids) for term, sids in self._summary_postings.items()}
        # lookups
        yield list(postings)
        yield list(postings.values())  # (bytearrays, written as byte strings)
        yield array("d", [ts for ts, _ in self._expiry]).tobytes()
        yield array("I", [serial for _, serial in self._expiry]).tobytes()
        yield array("I", [d.serial for d in self._undated]).tobytes()
        yield array("I", [d.serial for d in self._urls.values()]).tobytes()  # d.canonical_url

    @classmethod
    def loads(
        cls, data: bytes, window: timedelta = timedelta(hours=72), **tunables: Any
    ) -> StoryIndex:
        """The index a :meth:`dumps` snapshot holds, which behaves exactly as the one dumped.
        Raises StoryError when `data` is not a snapshot, is corrupt, is from another format
        version, or was made with another window or other tunables (rebuild the index then).
        Other memory limits (`story_memory`, `max_remembered`) are no reason to refuse it: the
        index loads with the given ones, forgets at once the least recent remembered stories
        beyond `max_remembered`, and those past `story_memory` at the next `expire`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StoryError(f"snapshot must be bytes, got {type(data).__name__}")
        return cls.load_parts([data], window, **tunables)

    @classmethod
    def load_parts(
        cls, parts: Iterable[bytes | bytearray | memoryview],
        window: timedelta = timedelta(hours=72), **tunables: Any,
    ) -> StoryIndex:
        """:meth:`loads` of a snapshot given in parts (cut anywhere), read as they come: a field
        is checked and decoded as soon as its record is complete, and its bytes let go, so the
        whole snapshot is never in memory at once (a part that starts a new record is held with
        the end of the last)."""
        index = cls(window, **tunables)
        want = index._config_key()
        fields = _read_snapshot(parts, lambda key: _check_config(key, want))
        try:
            with _gc_paused():
                index._load_state(fields)
                index._forget_beyond_limit()  # (saved with a higher max_remembered)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as exc:
            raise StoryError(f"corrupt story index snapshot: {exc!r}") from exc
        return index

    def _config_key(self) -> tuple[tuple[str, Any], ...]:
        def plain(value: Any) -> Any:
            if isinstance(value, timedelta):
                return (value.days, value.seconds, value.microseconds)
            return value

        key = [("window", plain(self.window))]
        key += [(f.name, plain(getattr(self.tunables, f.name))) for f in fields(StoryTunables)]
        return tuple(key)

    def _load_state(self, p: tuple[Any, ...]) -> None:
        (_, scalars, df, idf_cache, serials_b, ids, tss, urls, terms, weights, rates_b,
         shingles, title_bits, story_of_b, kinds_b, dups, sims_b, story_rows, live_b,
         remembered_b, memory_heap, summary_postings, post_terms, post_lists, expiry_ts_b,
         expiry_serial_b, undated_b, url_serials_b) = p
        _expect(scalars, tuple, "counters")
        _only(scalars[:5], {int}, "counters")
        _only(scalars[5:], {float}, "clock")
        (self._df_total, self._df_articles, self._serial, self._live_postings,
         self._dead_postings, self._clock) = scalars
        _expect(df, dict, "document frequencies")
        _expect(idf_cache, dict, "idf cache")
        _only(df, {str}, "document frequency terms")
        _only(df.values(), {int}, "document frequencies")
        _only(idf_cache, {str}, "idf terms")
        _only(idf_cache.values(), {float}, "idf values")
        self._df = Counter(df)
        self._idf_cache = idf_cache
        stories: list[_Story] = []
        _expect(story_rows, list, "stories")
        _only(story_rows, {tuple}, "stories")
        if story_rows:  # (column by column, in C)
            sids, last_tss, anchors, mergeds, persons_of, sizes, stermss, _ = zip(
                *story_rows, strict=True)
            _only(sids, {str}, "story ids")
            _only(last_tss, {float, type(None)}, "story times")
            _only(anchors, {float}, "story anchors")
            _only(sizes, {int}, "story sizes")
            _only(mergeds, {dict}, "story terms")
            _only(persons_of, {dict}, "story persons")
            _only(stermss, {tuple}, "story summaries")
            chained = itertools.chain.from_iterable
            _only(chained(mergeds), {str}, "story terms")
            _only(chained(map(dict.values, mergeds)), {float}, "story term weights")
            _only(chained(persons_of), {str}, "story persons")
            _only(chained(map(dict.values, persons_of)), {int}, "story person counts")
            _only(chained(stermss), {str}, "story summaries")
        for sid, last_ts, anchor, merged, persons, size, sterms, sweights in story_rows:
            st = _Story(sid, {}, last_ts, anchor, merged, persons, size, sterms, sweights)
            if len(_array("f", sweights)) != len(sterms):
                raise ValueError("summary terms and weights differ in length")
            stories.append(st)
        serials = _array("I", serials_b)
        rates = _array("I", rates_b)
        if rates and min(rates) < 1:
            raise ValueError("a shingle rate of 0")
        story_of = _array("I", story_of_b)
        sims = _array("d", sims_b)
        n = len(serials)
        _only(ids, {str}, "article ids")
        _only(terms, {tuple}, "article terms")
        _only(itertools.chain.from_iterable(terms), {str}, "article terms")
        # every article term the index keeps is interned (storymath.score finds a candidate's
        # terms in the query by identity); a snapshot of an earlier version may hold terms that
        # are not
        intern = sys.intern
        terms = [tuple(map(intern, t)) for t in terms]
        _only(tss, {float, type(None)}, "publication times")
        _only(urls, {str}, "urls")
        _only(title_bits, {bytes}, "title bits")
        _only(dups, {str, type(None)}, "revised ids")
        _only(weights, {bytes}, "article weights")
        _only(shingles, {bytes}, "article shingles")
        columns = (ids, tss, urls, terms, weights, shingles, title_bits, dups, rates, story_of,
                   sims, kinds_b)
        if any(len(c) != n for c in columns):
            raise ValueError("article columns differ in length")
        if list(map(len, weights)) != [4 * len(t) for t in terms]:
            raise ValueError("article terms and weights differ in length")
        if any(len(sh) % 4 for sh in shingles):
            raise ValueError("article shingles are not 4-byte values")
        docs = self._docs
        by_serial = self._by_serial
        kinds = _KINDS
        for i in range(n):
            story = stories[story_of[i]]
            d = _Doc(serials[i], ids[i], tss[i], urls[i], terms[i], weights[i], rates[i],
                     shingles[i], title_bits[i], story, kinds[kinds_b[i]], dups[i], sims[i])
            docs[d.id] = d
            by_serial[d.serial] = d
            story.members[d.serial] = d
        if len(docs) != n or len(by_serial) != n:
            raise ValueError("repeated article ids or serials")
        live = _array("I", live_b)
        remembered = _array("I", remembered_b)
        self._stories = {st.id: st for st in map(stories.__getitem__, live)}
        self._remembered = {st.id: st for st in map(stories.__getitem__, remembered)}
        if (len(self._stories) != len(live) or len(self._remembered) != len(remembered)
                or self._stories.keys() & self._remembered.keys()):
            raise ValueError("a story is listed twice")
        live_ids = self._stories.keys()
        if not live_ids >= {d.story.id for d in by_serial.values()}:
            # (by id: an id opened again after its first article was removed names two
            # stories, the older one reachable through its articles only)
            raise ValueError("an article's story is not among the live ones")
        _expect(memory_heap, list, "memory heap")
        for entry in memory_heap:
            _expect(entry, tuple, "memory heap entry")
            anchor, sid = entry
            _expect(anchor, float, "memory heap anchor")
            _expect(sid, str, "memory heap story")
        self._memory_heap = memory_heap
        _expect(summary_postings, dict, "summary postings")
        _only(summary_postings.values(), {tuple}, "summary postings")
        self._summary_postings = {term: list(sids) for term, sids in summary_postings.items()}
        if any(sid not in self._remembered for sids in self._summary_postings.values()
               for sid in sids):
            raise ValueError("a summary posting names a story not remembered")
        if any(len(set(sids)) != len(sids) for sids in self._summary_postings.values()):
            raise ValueError("a summary posting names a story twice")
        _expect(post_terms, list, "posted terms")
        _expect(post_lists, list, "postings")
        _only(post_terms, {str}, "posted terms")
        _only(post_lists, {bytes}, "postings")
        if any(len(plist) % 4 for plist in post_lists):
            raise ValueError("postings are not 4-byte serials")
        self._postings = dict(zip(post_terms, map(bytearray, post_lists), strict=True))
        expiry_ts = _array("d", expiry_ts_b)
        expiry_serials = _array("I", expiry_serial_b)
        self._expiry = list(zip(expiry_ts, expiry_serials, strict=True))
        self._undated = deque(map(by_serial.__getitem__, _array("I", undated_b)))
        self._urls = {d.canonical_url: d for d in map(by_serial.__getitem__,
                                                      _array("I", url_serials_b))}

    # -- features and weights ---

    @staticmethod
    def _check(doc: StoryDoc) -> None:
        if not isinstance(doc, StoryDoc):
            raise StoryError(f"expected a StoryDoc, got {type(doc).__name__}")
        if not isinstance(doc.id, str) or not doc.id:
            raise StoryError("StoryDoc.id must be a non-empty string")
        if doc.published is not None and not isinstance(doc.published, datetime):
            raise StoryError(f"StoryDoc {doc.id!r}: published must be a datetime or None")
        if not isinstance(doc.title, str) or not isinstance(doc.text, str):
            raise StoryError(f"StoryDoc {doc.id!r}: title and text must be strings")

    def _features(self, doc: StoryDoc, features: DocFeatures | None) -> DocFeatures:
        """The article's features: derived here, or the given ones, checked, with the persons
        their title names as this process's interned strings. (Unpickled terms are copies:
        `_vector` interns the terms, so that the index keeps one string per term, and finds it
        by identity.)"""
        if features is None:
            return extract_features(doc.title, doc.text, self.tunables)
        if not isinstance(features, DocFeatures):
            raise StoryError(
                f"StoryDoc {doc.id!r}: features must be DocFeatures, got {type(features).__name__}"
            )
        rate = features.shingle_rate
        if type(rate) is not int or not 1 <= rate < 1 << 32:
            raise StoryError(f"StoryDoc {doc.id!r}: its features' shingle rate must be an int "
                             f"from 1 to 2**32 - 1, got {rate!r}")
        if not isinstance(features.shingles, array) or features.shingles.itemsize != 4:
            raise StoryError(f"StoryDoc {doc.id!r}: its features' shingles must be an array of "
                             f"4-byte values, got {features.shingles!r:.60}")
        counts, focal = features.counts, features.focal
        if not isinstance(counts, Mapping):
            raise StoryError(f"StoryDoc {doc.id!r}: its features' counts must be a mapping of "
                             f"terms to numbers, got {type(counts).__name__}")
        for name, terms in (("focal persons", focal), ("proper terms", features.proper)):
            if not isinstance(terms, frozenset) or not all(type(p) is str for p in terms):
                raise StoryError(f"StoryDoc {doc.id!r}: its features' {name} must be a "
                                 f"frozenset of str, got {terms!r:.60}")
        # (the counts' terms are interned by storymath.vector: rebuilding the dict here cost a
        # tenth of a supplied article's assignment)
        if type(counts) is not dict:
            features = replace(features, counts=dict(counts))
        if focal:
            features = replace(features, focal=frozenset(map(sys.intern, focal)))
        return features

    def _vector(self, feats: DocFeatures, doc_id: str = "") -> tuple[tuple[str, ...], bytes]:
        """The article's top terms and their L2-normalised TF-IDF weights (4-byte floats).
        Counts the article in the document frequencies (call once per article added); nothing
        changes when its term counts are refused (not finite numbers: supplied features)."""
        t = self.tunables
        # idf = ln(scale / (df + 1)) + 0.1
        scale = self._df_total + t.df_prior + 1.0
        try:
            vec = storymath.vector(feats.counts, self._idf_cache, self._df, scale, feats.proper,
                                   t.entity_weight, t.max_terms)
        except (ValueError, TypeError) as exc:
            raise StoryError(f"StoryDoc {doc_id!r}: its features' term counts: {exc}") from exc
        self._df_total += 1
        self._counted()
        return vec

    def _counted(self) -> None:
        """One more article in the document frequencies: halve them every half-life."""
        self._df_articles += 1
        n = self._df_articles
        if n % self.tunables.df_half_life == 0:
            self._df = Counter({k: v // 2 for k, v in self._df.items() if v > 1})
            self._df_total //= 2
            self._idf_cache.clear()
        # refresh every idf_refresh articles, and at powers of two while the index is young
        young = not n & (n - 1)
        if n % self.tunables.idf_refresh == 0 or young or len(self._idf_cache) > _CACHE_MAX:
            self._idf_cache.clear()

    # -- candidates and scoring ---

    def _candidates(self, terms: tuple[str, ...]) -> list[_Doc]:
        """Articles sharing the most of the query's distinctive terms. Posting lists (in arrival
        order) are walked rarest first, each for its `posting_tail` most recent entries (a big
        story's recent articles stay reachable through its common terms), `posting_budget`
        entries in all; in arrival order (for _score)."""
        t = self.tunables
        top = storymath.candidates_of(self._postings, terms[: t.query_terms], t.posting_tail,
                                      t.posting_budget, t.max_candidates)
        return list(filter(None, map(self._by_serial.get, top)))

    def _score(self, query: dict[str, float], cands: list[_Doc]) -> list[tuple[float, _Doc]]:
        """(cosine, article) by decreasing cosine, then arrival (`cands`: in arrival order); 0
        for an article sharing too few terms."""
        scored = storymath.score(query, cands, self.tunables.min_shared_terms)
        scored.sort(key=itemgetter(0), reverse=True)  # (stable: ties stay in arrival order)
        return scored

    def _revision(
        self, doc: StoryDoc, feats: DocFeatures, scored: list[tuple[float, _Doc]]
    ) -> tuple[_Doc, float] | None:
        t = self.tunables
        if doc.canonical_url:
            same = self._urls.get(doc.canonical_url)
            if same is not None:
                return same, 1.0
        best: tuple[_Doc, float] | None = None
        for cos, c in scored:
            if cos < t.revision_min_cosine:
                break
            jac, cont = storymath.overlap(feats.shingle_rate, feats.shingles, c.shingle_rate,
                                          c.shingles)
            small = min(len(feats.shingles) * feats.shingle_rate,
                        len(c.shingles) // 4 * c.shingle_rate)
            if jac >= t.revision_jaccard or (
                cont >= t.revision_containment and small >= t.revision_min_shingles
            ):
                score = max(jac, cont)
                if best is None or score > best[1]:
                    best = (c, score)
        return best

    def _best_story(
        self,
        query: dict[str, float],
        ts: float | None,
        feats: DocFeatures,
        scored: list[tuple[float, _Doc]],
    ) -> tuple[_Story | None, float]:
        t = self.tunables
        best: _Story | None = None
        best_score = -math.inf
        seen: set[str] = set()
        conflicts: dict[str, bool] = {}
        floor = t.join_threshold  # penalties only lower a score: weaker candidates cannot join
        for cos, c in scored:
            if cos < floor:
                if best is None:
                    best, best_score = c.story, cos - _gap_penalty(ts, c.ts, t)
                break
            story = c.story
            seen.add(story.id)
            if cos <= best_score:  # (penalties only lower a score: this one cannot win)
                continue
            # an undated member takes its story's latest known time
            score = cos - _gap_penalty(ts, story.last_ts if c.ts is None else c.ts, t)
            conflict = conflicts.get(story.id)
            if conflict is None:
                conflict = conflicts[story.id] = self._conflict(feats, story)
            if conflict:
                score -= t.name_conflict_penalty
            if score > best_score:
                best, best_score = story, score
        if self._summary_postings and best_score < t.memory_skip:
            for story, cos in self._summary_candidates(query):
                if story.id in seen or cos < floor + t.memory_margin:
                    continue
                score = cos - _gap_penalty(ts, story.last_ts, t) - t.memory_margin
                if self._conflict(feats, story):
                    score -= t.name_conflict_penalty
                if score > best_score:
                    best, best_score = story, score
        return best, best_score

    @staticmethod
    def _conflict(feats: DocFeatures, story: _Story) -> bool:
        """The article's title names persons that few of the story's titles name, and the person
        most of the story's titles name is not in the article's title or lead."""
        if not feats.focal or not story.persons or story.size == 0:
            return False
        half = story.size / 2
        dominant = [p for p, n in story.persons.items() if n >= half]
        if not dominant or any(_bloom_has(feats.caps, p) for p in dominant):
            return False
        support = max(
            story.persons.get(p, 0)
            if p in story.persons
            else sum(1 for m in story.members.values() if _bits_have(m.title_bits, p))
            for p in feats.focal
        )
        return support < half

    def _summary_candidates(self, query: dict[str, float]) -> list[tuple[_Story, float]]:
        t = self.tunables
        get_sids = self._summary_postings.get
        lists = [p for p in map(get_sids, list(query)[: t.query_terms]) if p]
        lists.sort(key=len)
        walked: list[str] = []
        budget = t.posting_budget
        tail = t.posting_tail
        for sids in lists:
            if len(sids) > tail:
                continue  # summaries are many and old: a common term says little
            walked += sids
            budget -= len(sids)
            if budget <= 0:
                break
        hits: Counter[str] = Counter(walked)  # in the order of the lists, as updates would
        need = t.min_shared_terms
        dot = storymath.dot
        out: list[tuple[_Story, float]] = []
        for sid in _top(hits, t.summary_candidates):
            story = self._remembered[sid]
            cos = dot(query, story.summary_terms, story.summary_weights, need)
            if cos is not None:
                out.append((story, cos))
        return out

    # -- bookkeeping ---

    def _new_story(self, story_id: str) -> _Story:
        old = self._remembered.pop(story_id, None)
        if old is not None:
            self._unpost_summary(old)
        story = _Story(story_id)
        self._stories[story_id] = story
        return story

    def _add(
        self,
        doc: StoryDoc,
        ts: float | None,
        feats: DocFeatures,
        terms: tuple[str, ...],
        weights: bytes,
        story: _Story,
        assignment: Assignment,
    ) -> None:
        self._serial += 1
        serial = self._serial
        d = _Doc(
            serial, doc.id, ts, doc.canonical_url, terms, weights, feats.shingle_rate,
            feats.shingles.tobytes(), _bits_of(feats.title_caps), story, assignment.kind,
            assignment.duplicate_of, assignment.similarity,
        )
        self._docs[doc.id] = d
        self._by_serial[serial] = d
        if ts is None:
            self._undated.append(d)
        else:
            heapq.heappush(self._expiry, (ts, serial))
        posted = terms[: self.tunables.posted_terms]
        postings = self._postings
        packed = _U32.pack(serial)
        for term in posted:
            plist = postings.get(term)
            if plist is None:
                postings[term] = bytearray(packed)
            else:
                plist += packed
        self._live_postings += len(posted)
        if doc.canonical_url:
            self._urls.setdefault(doc.canonical_url, d)
        remembered = self._remembered.pop(story.id, None)
        if remembered is not None:  # (the story itself, live again: see _new_story otherwise)
            self._unpost_summary(remembered)
        self._stories[story.id] = story
        persons = story.persons
        for p in sorted(feats.focal):  # (not a set's order: it differs from process to process)
            if p not in persons and len(persons) < 16:
                persons[p] = sum(1 for m in story.members.values() if _bits_have(m.title_bits, p))
        for p in persons:
            if _bloom_has(feats.title_caps, p):
                persons[p] += 1
        story.size += 1
        story.members[serial] = d
        while len(self._undated) > self.tunables.max_undated:
            old = self._undated.popleft()
            if self._by_serial.get(old.serial) is old:
                self._drop(old)
        if ts is not None and (story.last_ts is None or ts > story.last_ts):
            story.last_ts = ts
        story.anchor = max(story.anchor, self._clock if ts is None else ts)

    def _drop(self, d: _Doc) -> None:
        del self._docs[d.id]
        del self._by_serial[d.serial]
        n = min(len(d.terms), self.tunables.posted_terms)
        self._live_postings -= n
        self._dead_postings += n
        if d.canonical_url and self._urls.get(d.canonical_url) is d:
            del self._urls[d.canonical_url]
        story = d.story
        story.members.pop(d.serial, None)
        if self.tunables.story_memory > timedelta(0):
            merged = story.merged
            # an article's terms are distinct: as merged[term] = merged.get(term, 0.0) + w
            merged.update(zip(d.terms, map(add, map(merged.get, d.terms, repeat(0.0)),
                                           memoryview(d.weights).cast("f")), strict=True))
            if len(merged) > 2 * self.tunables.summary_terms:
                # as heapq.nlargest (the same ties), in C
                keep = sorted(merged.items(), key=itemgetter(1), reverse=True)
                merged.clear()
                merged.update(keep[: self.tunables.summary_terms])
        if not story.members and self._stories.get(story.id) is story:
            del self._stories[story.id]
            if self.tunables.story_memory > timedelta(0):
                self._remember(story)
        # (a story without members that is not its id's live one lost the id to a later story,
        # in a snapshot of an older version: it is forgotten)

    def _remember(self, story: _Story) -> None:
        t = self.tunables
        top = sorted(story.merged.items(), key=itemgetter(1), reverse=True)[: t.summary_terms]
        story.merged = {}
        if top:
            terms, weights = zip(*top, strict=True)
            norm = math.sqrt(sum(map(mul, weights, weights))) or 1.0
            story.summary_terms = terms
            story.summary_weights = array("f", map(truediv, weights, repeat(norm))).tobytes()
        else:
            story.summary_terms = ()
            story.summary_weights = b""
        for term in story.summary_terms[: t.summary_posted]:
            sids = self._summary_postings.get(term)
            if sids is None:
                self._summary_postings[term] = [story.id]
            else:
                sids.append(story.id)
        self._remembered[story.id] = story
        heapq.heappush(self._memory_heap, (story.anchor, story.id))
        self._forget_beyond_limit()

    def _forget_beyond_limit(self) -> None:
        """Forget the least recent remembered stories beyond `max_remembered`."""
        while len(self._remembered) > self.tunables.max_remembered and self._memory_heap:
            anchor, sid = heapq.heappop(self._memory_heap)
            old = self._remembered.get(sid)
            if old is not None and old.anchor == anchor:
                self._unpost_summary(old)
                del self._remembered[sid]
        if len(self._memory_heap) > 2 * len(self._remembered) + 1024:  # drop stale entries
            self._memory_heap = [(st.anchor, sid) for sid, st in self._remembered.items()]
            heapq.heapify(self._memory_heap)

    def _unpost_summary(self, story: _Story) -> None:
        """Take a summary out of the summary postings (the story is live again, or forgotten).
        A story live again keeps its summary terms merged into `merged` for its next summary."""
        for term in story.summary_terms[: self.tunables.summary_posted]:
            sids = self._summary_postings.get(term)
            if sids is None:
                continue
            try:
                sids.remove(story.id)  # (a forgotten story is among the oldest: near the front)
            except ValueError:
                continue
            if not sids:
                del self._summary_postings[term]
        weights = memoryview(story.summary_weights).cast("f")
        for term, w in zip(story.summary_terms, weights, strict=True):
            story.merged[term] = story.merged.get(term, 0.0) + w
        story.summary_terms = ()
        story.summary_weights = b""

    def _compact_postings(self) -> None:
        fresh = storymath.compact(self._postings, self._by_serial)
        self._postings = fresh
        self._live_postings = sum(len(p) for p in fresh.values()) // 4
        self._dead_postings = 0


def _unpickle_index(data: bytes, window: timedelta, tunables: dict[str, Any]) -> StoryIndex:
    return StoryIndex.loads(data, window, **tunables)
