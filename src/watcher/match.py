"""Score one article against one watch: entity groups, escalation and de-escalation terms.

Pure functions, no I/O. Compile a watch once with :func:`compile_watch`, then call :func:`score`
for every article.

Text model
    The scored text is ``title + "\n" + text``; every ``RuleHit.start/end`` is an offset into
    that joined string (the *original*, un-normalised text), so ``original[hit.start:hit.end] ==
    hit.matched``. A hit in the body therefore starts at ``len(title) + 1`` or later.

Normalisation (:func:`fold`)
    Case- and accent-insensitive: NFKD, combining marks dropped, casefold, plus letters NFKD
    leaves alone (Azerbaijani/Turkish ``ı``/``ə``, ``ø``, ``ł``, ``đ``...), so "Naxçıvan" ==
    "Naxcivan" and "Laçın" == "Lacin". Curly apostrophes become ``'``, curly quotes ``"``, dashes
    ``-``; soft hyphens and other invisible format characters vanish; any other non-ASCII
    character that is not a letter or digit (bullets, "€", "°"...) becomes a space. Cyrillic
    and Armenian fold the same way (case, and e.g. ``й`` -> ``и``, ``ё`` -> ``е``).

Term syntax (escalation and de-escalation terms, entity aliases)
    * Matching is word-bounded: "ai" never matches inside "rain". A word glued to a preceding
      ``.,;:!?`` with no space ("fighting.Armenia") is not found (see ``_Folded``).
    * The words of a multi-word term match across any run of whitespace, hyphens, dashes,
      quotes, brackets or slashes, but never across ``.,;:!?`` ("peace talks" matches
      "peace\n talks" and "peace-talks", not "peace. Talks").
    * A trailing ``*`` makes the last word a prefix: "escalat*" matches "escalatory".
    * A single-word English term (ASCII letters, 3+ long) also matches simple inflections made
      by a general suffix rule, not a word list: -s, -es (after s/sh/ch/x/z), -ies; -ed and -ing
      with a final "e" dropped ("escalated", "escalating"), "ie" -> "ying" ("dying"), a final
      consonant optionally doubled after a single vowel ("stopped"); -ings; "-ate" ->
      "-ation(s)" ("escalation"). Configure the base form: "kill", not "killed". The last word
      of a multi-word English term takes a plural only ("ceasefire violations").
    * An entity alias whose last word is English letters also matches demonym and plural forms:
      "-a" -> "-an" ("Armenia" -> "Armenian"), "-an" -> "-ani" ("Azerbaijan" ->
      "Azerbaijani"), then -s/-es ("Armenians"). Every alias takes a possessive "'s" (or "’s"),
      included in the hit; a bare apostrophe after a plural ("Armenians'") is left out of it.

Scoring
    * Entity groups found: distinct ``watch.entities`` keys with any alias present. With fewer
      than ``watch.min_entities`` groups the score is 0 and the severity None; hits are still
      reported, with the weight they would have carried.
    * Escalation: an occurrence is worth its term's weight, halved (note "far from entity") when
      it lies more than ``watch.proximity`` characters from every entity occurrence. Per term the
      best occurrence counts in full and the i-th further one (best first) counts ``3 ** -i`` of
      its value (note "repeat"): all repeats of a term together add less than +50 %.
    * Negation: an occurrence is negated (weight 0, note "negated") when its own clause has
      "no", "not", "never", "without", "nor", "neither", "cannot" or an "-n't" word within
      ``SHORT_NEGATION_WINDOW`` words before it, or when it is followed by "was/were/has
      been... not reported/confirmed/...": the text says the event did not happen.
    * Denial: an occurrence with a denial ("denied", "denies", "refuted", "rejected claims of",
      "dismissed reports that"...) within ``DENIAL_WINDOW`` words before it in its clause is
      *not* negated: it counts in full, note "denied". A denial reports a claim (one side
      accuses, the other denies), and a claimed attack is news for the watch: a denial carries
      the severity of the claim denied. A negator wins over a denial ("denied there was no
      shooting" is negated).
    * Both rules apply to de-escalation terms too.
    * Past episode: an occurrence right after a year ("the 2016 fighting", "April 2016 clashes",
      "the 1990s war": a year from 1900 to 2099, then at most one word, in its clause) names an
      earlier episode, not today's news: weight 0, note "past episode". Escalation and
      de-escalation terms alike ("the 2020 ceasefire deal" subtracts nothing).
    * Intensity: an escalation occurrence right after an intensifier ("heavy", "intense",
      "fierce", "massive", "large-scale", "devastating", "deadly"...: ``INTENSIFIERS``, then at
      most one word, in its clause) counts ``INTENSITY_FACTOR`` times its weight (note
      "intensified"): "heavy shelling" is a bigger event than "shelling".
    * Another country's war: an escalation occurrence is attributed to another country (weight
      0, note "another country") when its sentence (text between ``.!?`` or line breaks) names
      another country but none of the watch's entities ("Missiles hit Kyiv overnight."), or
      when it comes directly after another country's name or demonym ("Russian missiles",
      "Israel's offensive"; no word between, not a hyphenated "Turkish-backed") or directly
      before "of/in/on/against/by/from" and another country ("invasion of Ukraine",
      "mobilisation in Russia"), whatever else its sentence names. Other countries:
      ``OTHER_COUNTRIES`` (country names, demonyms, a few capitals and armed groups that world
      news names with wars), less any that the watch's own entity aliases match, so a watch on
      Russia still counts "Russian missiles" (list an irregular demonym as an alias: "Ukraine"
      does not match "Ukrainian"). De-escalation terms are never attributed.
    * Overlaps: when an escalation and a de-escalation occurrence overlap, the longer one
      counts and the other counts 0: "ceasefire violation" (escalation) swallows "ceasefire"
      (note "inside escalation"), "de-escalation" (de-escalation) swallows "escalation" (note
      "inside de-escalation"). Equal lengths: the escalation term counts.
    * De-escalation: each term subtracts its weight once (first counted occurrence; later ones
      get weight 0, note "repeat").
    * Score = max(0, escalation - de-escalation), rounded to 6 decimals. Severity = the name of
      the highest ``watch.severities`` entry whose threshold <= score, None below the lowest.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import NamedTuple, cast

from watcher.models import MatchResult, RuleHit, Severity, Watch

__all__ = [
    "DENIAL_WINDOW",
    "INTENSIFIERS",
    "INTENSITY_FACTOR",
    "OTHER_COUNTRIES",
    "REPEAT_DECAY",
    "SHORT_NEGATION_WINDOW",
    "CompiledWatch",
    "compile_watch",
    "fold",
    "score",
]

SHORT_NEGATION_WINDOW = 3  # words before a term searched for "no", "not", "never"...
DENIAL_WINDOW = 6  # words before a term searched for "denied", "rejected claims of"...
INTENSITY_FACTOR = 2.0  # escalation occurrence right after an intensifier ("heavy shelling")
INTENSIFIERS = (
    "heavy", "heavier", "heaviest", "intense", "intensive", "fierce", "fiercest", "massive",
    "large-scale", "full-scale", "devastating", "major", "serious", "deadly", "deadliest",
    "bloody", "bloodiest",
)
OTHER_COUNTRIES = (
    "afghan", "afghanistan", "albania", "albanian", "algeria", "algerian", "american",
    "angola", "angolan", "ankara", "argentina", "argentine", "australia", "australian",
    "austria", "austrian", "bahrain", "bahraini", "bangladesh", "bangladeshi", "beijing",
    "belarus", "belarusian", "belgian", "belgium", "bosnia", "bosnian", "brazil", "brazilian",
    "britain", "british", "bulgaria", "bulgarian", "burkina faso", "burmese", "cambodia",
    "cambodian", "cameroon", "canada", "canadian", "chad", "chadian", "china", "chinese",
    "colombia", "colombian", "congo", "congolese", "croatia", "croatian", "cuba", "cuban",
    "cyprus", "cypriot", "czech", "denmark", "danish", "donbas", "donetsk", "dutch", "egypt",
    "egyptian", "emirati", "eritrea", "eritrean", "estonia", "estonian", "ethiopia",
    "ethiopian", "finland", "finnish", "france", "french", "gaza", "georgia", "georgian",
    "german", "germany", "greece", "greek", "haiti", "haitian", "hamas", "hezbollah", "houthi",
    "hungarian", "hungary", "india", "indian", "indonesia", "indonesian", "iran", "iranian",
    "iraq", "iraqi", "israel", "israeli", "italian", "italy", "japan", "japanese", "jordan",
    "jordanian", "kashmir", "kazakh", "kazakhstan", "kenya", "kenyan", "kharkiv", "kiev",
    "korea", "korean", "kosovo", "kremlin", "kuwait", "kuwaiti", "kyiv", "kyrgyz",
    "kyrgyzstan", "latvia", "latvian", "lebanese", "lebanon", "libya", "libyan", "lithuania",
    "lithuanian", "mali", "malian", "mexican", "mexico", "moldova", "moldovan", "morocco",
    "moroccan", "moscow", "mozambique", "myanmar", "nato", "nepal", "netherlands", "niger",
    "nigeria", "nigerian", "north korea", "norway", "norwegian", "oman", "omani", "pakistan",
    "pakistani", "palestinian", "philippine", "philippines", "poland", "polish", "qatar",
    "qatari", "romania", "romanian", "russia", "russian", "rwanda", "rwandan", "saudi",
    "saudi arabia", "serbia", "serbian", "slovak", "slovakia", "somali", "somalia",
    "south africa", "south korea", "south sudan", "spain", "spanish", "sri lanka", "sudan",
    "sudanese", "sweden", "swedish", "syria", "syrian", "taiwan", "taiwanese", "tajik",
    "tajikistan", "taliban", "tehran", "thai", "thailand", "tunisia", "tunisian", "turkey",
    "turkish", "turkiye", "turkmen", "turkmenistan", "ukraine", "ukrainian",
    "united kingdom", "united states", "uzbek", "uzbekistan", "venezuela", "venezuelan",
    "vietnam", "vietnamese", "yemen", "yemeni",
)
REPEAT_DECAY = 1.0 / 3.0  # i-th repeat of a term counts REPEAT_DECAY ** i: all repeats <= +50 %
FAR_FACTOR = 0.5  # escalation occurrence farther than watch.proximity from any entity

# ---
# Folding with an offset map
# ---

_SPECIAL: dict[str, str] = {
    "ı": "i",
    "ə": "e",
    "ø": "o",
    "đ": "d",
    "ł": "l",
    "ħ": "h",
    "ŧ": "t",
    "ð": "d",
    "þ": "th",
    "æ": "ae",
    "œ": "oe",
    "’": "'",
    "‘": "'",
    "ʼ": "'",
    "ʻ": "'",
    "´": "'",
    "′": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "\u00ad": "",  # soft hyphen
    "\u200b": "",  # zero-width space
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
}


def _strip_marks(s: str) -> str:
    return "".join(ch for ch in s if not unicodedata.combining(ch))


def _fold_char(c: str) -> str:
    if c.isascii():
        return c.lower()
    special = _SPECIAL.get(c)
    if special is not None:
        return special
    s = _strip_marks(unicodedata.normalize("NFKD", c)).casefold()
    s = _strip_marks(unicodedata.normalize("NFKD", s))
    return "".join(_fold_symbol(ch) for ch in s)


def _fold_symbol(ch: str) -> str:
    """Last step of folding one char: the special table; other non-ASCII non-word chars (bullets,
    currency and degree signs...) become a space, invisible format chars vanish."""
    special = _SPECIAL.get(ch)
    if special is not None:
        return special
    if ch.isascii() or ch.isalnum():
        return ch
    return "" if unicodedata.category(ch) == "Cf" else " "


class _FoldTable(dict[int, str]):
    """Code point -> folded string, filled lazily; usable directly by ``str.translate``."""

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        self[key] = value
        return value


_TABLE = _FoldTable()


_KEEP = frozenset(".,;:!?")  # sentence punctuation the match text keeps (see _Folded)


def _space_char(c: str) -> str:
    return c if c.isalnum() or c == "_" or c in _KEEP else " "


class _SpaceTable(dict[int, str]):
    """Code point -> itself for word chars and ``_KEEP``, else a space; lazy, for translate."""

    def __missing__(self, key: int) -> str:
        value = _space_char(chr(key))
        self[key] = value
        return value


_SPACES = _SpaceTable()
_ASCII_SPACES = bytes(ord(_space_char(chr(i))) for i in range(128)) + bytes(range(128, 256))


@dataclass(frozen=True, slots=True)
class _Folded:
    """An article folded for matching.

    ``text`` is the folded text (used for negation); ``padded`` is ``" " + text`` with every
    non-word char except ``.,;:!?`` turned into a space, so that a term's regex can start with a
    literal space (fast to search for) that doubles as its left word boundary. ``starts[k]`` /
    ``ends[k]`` give the original span of folded char k (None: the identity).
    """

    text: str
    padded: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_NOT_KEPT = re.compile(r"[^\w .,;:!?]")


def _pad(folded: str) -> str:
    if folded.isascii():
        return (" " + folded).encode("ascii").translate(_ASCII_SPACES).decode("ascii")
    return " " + _NOT_KEPT.sub(" ", folded)


# The commonest non-ASCII characters of news text, each folding to one ASCII character: replaced
# first, by str.replace (a C loop), which leaves most articles ASCII (no per-run folding then).
_COMMON_FOLDS = tuple((c, _SPECIAL[c]) for c in "’“”—–‘")


# str.lower, called as a function: compiled by mypyc (setup.py), ``text.lower()`` becomes a
# per-character lowering that misses the Greek final sigma, so non-ASCII text is lowered by this
_str_lower = str.lower


def _fold_mapped(text: str) -> _Folded:
    if not text.isascii():
        # each replacement is one char for one char and is that char's own fold: the offsets
        # stay the same and the rest of the text folds as it would have
        for char, folded_char in _COMMON_FOLDS:
            if char in text:
                text = text.replace(char, folded_char)
    if text.isascii():
        lower = text.lower()
        return _Folded(lower, _pad(lower))
    resized: list[str] = []

    def fold_run(m: re.Match[str]) -> str:
        run = m.group()
        out = run.translate(_TABLE)
        if len(out) != len(run) or (len(run) > 1 and any(len(_TABLE[ord(c)]) != 1 for c in run)):
            resized.append(run)
        return out

    # fold only the non-ASCII runs (a few quotes and dashes in most news), then lower the rest;
    # folded chars are already casefolded, so lower() leaves them and the length alone
    folded = _str_lower(_NON_ASCII.sub(fold_run, text))
    if not resized:  # every char folded to exactly one char: identity offset map
        return _Folded(folded, _pad(folded))
    # some char grew or vanished ("…" -> "...", soft hyphen -> ""): build the offset map; ASCII
    # stretches map one to one, only the non-ASCII runs are walked char by char
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    done = 0
    for m in _NON_ASCII.finditer(text):
        run_start, run_end = m.span()
        parts.append(text[done:run_start].lower())
        starts.extend(range(done, run_start))
        ends.extend(range(done + 1, run_start + 1))
        for i in range(run_start, run_end):
            chars = _TABLE[ord(text[i])]
            if not chars:
                if ends:
                    ends[-1] = i + 1  # a dropped mark belongs to the char before it
                continue
            parts.append(chars)
            starts.extend([i] * len(chars))
            ends.extend([i + 1] * len(chars))
        done = run_end
    parts.append(text[done:].lower())
    starts.extend(range(done, len(text)))
    ends.extend(range(done + 1, len(text) + 1))
    folded = "".join(parts)
    return _Folded(folded, _pad(folded), tuple(starts), tuple(ends))


def fold(text: str) -> str:
    """Case- and accent-folded form of ``text`` used for all matching (see module docstring)."""
    return _fold_mapped(text).text


# ---
# Term patterns
# ---

_SEP = "[ ]+"  # between the words of a multi-word term (in the padded match text)
_STAR = r"\w*"  # trailing '*': prefix match
_POSSESSIVE = "(?:[ ]s)?"  # "'s" in the match text; checked against the folded text in _find
_VOWELS = frozenset("aeiou")
_ENGLISH_WORD = re.compile(r"[a-z]{3,}")

_Atoms = tuple[str, ...]  # regex fragments: one escaped char each, or _SEP / _STAR


def _inflections(word: str) -> set[str]:
    """Base form plus simple English inflections of one lower-case word (a general suffix rule)."""
    forms = {word}
    consonant_y = word.endswith("y") and word[-2] not in _VOWELS
    if word.endswith(("s", "sh", "ch", "x", "z")):
        forms.add(word + "es")
    elif consonant_y:
        forms.add(word[:-1] + "ies")
    else:
        forms.add(word + "s")
    if word.endswith("ie"):
        forms |= {word + "d", word[:-2] + "ying"}
    elif word.endswith("ee"):
        forms |= {word + "d", word + "ing"}
    elif word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
        if word.endswith("ate"):
            forms |= {word[:-1] + "ion", word[:-1] + "ions"}
    elif consonant_y:
        forms |= {word[:-1] + "ied", word + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
        last, before = word[-1], word[-2]
        single_vowel = before in _VOWELS and word[-3] not in _VOWELS
        if single_vowel and last not in _VOWELS and last not in "wxy":
            forms |= {word + last + "ed", word + last + "ing"}
    forms |= {f + "s" for f in forms if f.endswith("ing")}
    return forms


def _plurals(word: str) -> set[str]:
    """The word and its plural, for the last word of a multi-word term ("ceasefire violations")."""
    if word.endswith(("s", "sh", "ch", "x", "z")):
        return {word, word + "es"}
    if word.endswith("y") and word[-2] not in _VOWELS:
        return {word, word[:-1] + "ies"}
    return {word, word + "s"}


def _entity_forms(word: str) -> set[str]:
    """Alias word plus demonym and plural forms ("armenia" -> "armenian", "armenians")."""
    bases = {word}
    if word.endswith("a"):
        bases.add(word + "n")
    elif word.endswith("an"):
        bases.add(word + "i")
    forms = set(bases)
    for base in bases:
        forms.add(base + "es" if base.endswith(("s", "sh", "ch", "x", "z")) else base + "s")
    return forms


class _Node:
    __slots__ = ("children", "end")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.end = False


def _trie_regex(forms: Iterable[_Atoms]) -> str:
    """One regex matching exactly ``forms``, shared prefixes factored out (faster in ``re``)."""
    root = _Node()
    for form in forms:
        node = root
        for atom in form:
            node = node.children.setdefault(atom, _Node())
        node.end = True
    return _node_regex(root)


def _node_regex(node: _Node) -> str:
    # longer continuations first so that the preferred alternative is the longest one
    items = sorted(node.children.items(), key=lambda kv: (-_depth(kv[1]), kv[0]))
    branches = [atom + _node_regex(child) for atom, child in items]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if not node.end:
        return body
    if len(branches) > 1 or (len(items[0][0]) == 1 and not items[0][1].children):
        return body + "?"  # already a group, or one plain char
    return f"(?:{body})?"


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _literal(word: str) -> _Atoms:
    return tuple(re.escape(ch) for ch in word)


@dataclass(frozen=True, slots=True)
class _TermSpec:
    """How one configured term or alias matches: atom sequences for the trie, and the canonical
    strings (words joined by one space) that identify it in a match."""

    atoms: tuple[_Atoms, ...]
    canonical: tuple[str, ...]  # every exact form; for a prefix term, the prefix
    prefix: bool


@lru_cache(maxsize=4096)
def _term_spec(term: str, entity: bool) -> _TermSpec:
    folded = fold(term).strip()
    prefix = folded.endswith("*")
    words = folded.rstrip("*").translate(_SPACES).split()
    if not words:
        raise ValueError(f"empty term: {term!r}")
    head: _Atoms = ()
    for w in words[:-1]:
        head += (*_literal(w), _SEP)
    last = words[-1]
    if prefix:
        tails: set[str] = {last}
    elif entity:
        tails = _entity_forms(last) if _ENGLISH_WORD.fullmatch(last) else {last}
    elif _ENGLISH_WORD.fullmatch(last):
        tails = _inflections(last) if len(words) == 1 else _plurals(last)
    else:
        tails = {last}
    star: _Atoms = (_STAR,) if prefix else ()
    ordered = sorted(tails)
    return _TermSpec(
        atoms=tuple(head + _literal(t) + star for t in ordered),
        canonical=tuple(" ".join([*words[:-1], t]) for t in ordered),
        prefix=prefix,
    )


def _canonical(matched: str) -> str:
    return " ".join(matched.split())


# ---
# Compiled watch
# ---


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """All terms of one rule class behind a single regex.

    The regex is ``[ ](<trie of every form>)<possessive>(?!\\w)``, searched in ``_Folded.padded``:
    the literal leading space is both the left word boundary and a prefix ``re`` finds fast; the
    trie lets it test one branch per letter. A match's group 1 is mapped back to its term through
    ``exact`` (canonical form -> term index) or ``prefixes``.
    """

    pattern: re.Pattern[str] | None
    exact: Mapping[str, int]
    prefixes: tuple[tuple[str, int], ...]  # longest prefix first
    rules: tuple[str, ...]  # "escalation:shell", "entity:armenia"
    terms: tuple[str, ...]  # configured term / alias text
    weights: tuple[float, ...]
    groups: tuple[str, ...]  # entity group key (entities) or term text
    atoms: tuple[_Atoms, ...] = ()  # every form, for the combined scan (see _scan_pattern)
    body: str = ""  # the pattern less its leading space: trie, possessive, right boundary

    def term_index(self, matched: str) -> int | None:
        key = _canonical(matched) if " " in matched else matched
        index = self.exact.get(key)
        if index is None:
            index = next((i for p, i in self.prefixes if key.startswith(p)), None)
        return index


def _rule_set(kind: str, entries: Sequence[tuple[str, str, float]], entity: bool) -> _RuleSet:
    """``entries``: (group/label, term, weight). When one form belongs to several terms, the
    longest configured term wins, then the first configured."""
    order = sorted(range(len(entries)), key=lambda i: (-len(fold(entries[i][1])), i))
    ordered = [entries[i] for i in order]
    if not ordered:
        return _RuleSet(None, {}, (), (), (), (), ())
    atoms: list[_Atoms] = []
    exact: dict[str, int] = {}
    prefixes: list[tuple[str, int]] = []
    for index, (_, term, _) in enumerate(ordered):
        spec = _term_spec(term, entity)
        atoms.extend(spec.atoms)
        if spec.prefix:
            prefixes.append((spec.canonical[0], index))
        else:
            for form in spec.canonical:
                exact.setdefault(form, index)
    suffix = _POSSESSIVE if entity else ""
    trie = _trie_regex(atoms)
    pattern = re.compile(rf"[ ]({trie}){suffix}(?!\w)")
    return _RuleSet(
        pattern=pattern,
        exact=exact,
        prefixes=tuple(sorted(prefixes, key=lambda p: -len(p[0]))),
        rules=tuple(f"{kind}:{label}" for label, _, _ in ordered),
        terms=tuple(term for _, term, _ in ordered),
        weights=tuple(float(w) for _, _, w in ordered),
        groups=tuple(label for label, _, _ in ordered),
        atoms=tuple(atoms),
        body=rf"({trie}){suffix}(?!\w)",
    )


@dataclass(frozen=True, slots=True, eq=False)
class CompiledWatch:
    """A watch with its regexes precompiled. Immutable; compile once and reuse for every article
    (compares and hashes by identity, so it can key a cache)."""

    watch: Watch
    entities: _RuleSet
    escalation: _RuleSet
    deescalation: _RuleSet
    severities: tuple[Severity, ...] = field(default=())  # ascending threshold
    attribution: _Attribution | None = None  # other countries' names, for escalation terms
    scan: re.Pattern[str] | None = None  # the three rule sets in one pass (see _find_all)
    scan_keys: tuple[tuple[int, int, int], ...] = ()  # _scan_keys(scan), computed once
    scan_ascii: re.Pattern[str] | None = None  # ``scan`` for an ASCII text (see _scan_pattern)


def _scan_pattern(*rule_sets: _RuleSet, ascii_text: bool = False) -> re.Pattern[str] | None:
    """One regex that finds, in one pass over ``_Folded.padded``, every position where any of
    the rule sets' patterns matches: a leading space, a gate (one trie of every form of every set:
    positions where no form starts fail after one test), then one optional lookahead per set
    holding that set's own pattern (group ``r<i>``: the whole match less the space; ``t<i>``: the
    term), and a condition that at least one of them matched.

    A lookahead matches what the set's pattern matches at that position (the same regex, tried in
    the same order; nothing after it can make the engine try another way), so the positions of
    group ``r<i>``, kept when they start at or after the end of the set's previous match, are
    exactly that set's ``finditer`` matches (see _find_all).

    The gate is only a filter: any gate that passes at every position where a form matches gives
    the same matches. With ``ascii_text`` (a pattern for ASCII texts only; None when no form can
    match one), its trie leaves out every form with a non-ASCII character, which cannot match
    there, and every form that extends a shorter one (the shorter one passes where it would):
    smaller, a faster test at each space of the text."""
    used = [(i, rs) for i, rs in enumerate(rule_sets) if rs.pattern is not None]
    if not used:
        return None
    forms = {atoms for _, rs in used for atoms in rs.atoms}
    if ascii_text:
        # an atom is one escaped char, _SEP or _STAR: a form can match an ASCII text only when
        # every atom is ASCII
        forms = {atoms for atoms in forms if all(a.isascii() for a in atoms)}
        forms = {a for a in forms if not any(a[:k] in forms for k in range(1, len(a)))}
        if not forms:
            return None
    gate = _trie_regex(sorted(forms))
    looks = "".join(rf"(?=(?P<r{i}>{rs.body.replace('(', f'(?P<t{i}>', 1)})|)" for i, rs in used)
    cond = "(?!)"
    for i, _ in reversed(used):
        cond = f"(?(r{i})|{cond})"
    return re.compile(rf"[ ](?={gate}){looks}{cond}")


def compile_watch(watch: Watch) -> CompiledWatch:
    """Precompile ``watch``: one alternation regex per rule class. Raises ValueError on an empty
    term or alias."""
    entity_entries = [
        (group, alias, 0.0) for group, aliases in watch.entities.items() for alias in aliases
    ]
    entities = _rule_set("entity", entity_entries, entity=True)
    escalation = _rule_set(
        "escalation", [(t.text, t.text, t.weight) for t in watch.escalation], entity=False
    )
    deescalation = _rule_set(
        "deescalation", [(t.text, t.text, t.weight) for t in watch.deescalation], entity=False
    )
    scan = _scan_pattern(entities, escalation, deescalation)
    scan_ascii = _scan_pattern(entities, escalation, deescalation, ascii_text=True)
    return CompiledWatch(
        watch=watch,
        entities=entities,
        escalation=escalation,
        deescalation=deescalation,
        severities=tuple(sorted(watch.severities, key=lambda s: s.threshold)),
        attribution=_attribution(entities),
        scan=scan,
        scan_keys=() if scan is None else _scan_keys(scan),
        scan_ascii=scan_ascii,
    )


# ---
# Negation
# ---

# The characters other than clause breaks: the text after the last clause break is the run of them
# at the start of the reversed text (faster than matching ".*[<breaks>]" from the start).
_NO_CLAUSE_BREAK = re.compile(r"[^.!?;:,()\[\]{}\"\n]*")
_TOKEN = re.compile(r"\w+(?:'\w+)*")
_SHORT_NEGATORS = frozenset({"no", "not", "never", "without", "nor", "neither", "cannot"})
_DENIAL = re.compile(
    r"\b(?:den(?:y|ies|ied|ying)|refut(?:e|es|ed|ing)"
    r"|(?:reject|dismiss)(?:s|ed|ing)?\s+(?:the\s+)?"
    r"(?:claims?|reports?|allegations?|accusations?)\s+(?:of|that|about))\b"
)
_POST_NEGATION = re.compile(
    r"(?:\s+[\w']+){0,3}?\s+(?:was|were|is|are|has|have|had)(?:\s+not|n't)(?:\s+been)?"
    r"\s+(?:reported|recorded|observed|confirmed|registered|heard)\b"
)
_LOOKBEHIND_CHARS = 100
# cheap pre-filter: a window without any of these cannot hold a negator or a denial
_CUE = re.compile(
    r"\b(?:no|not|never|without|nor|neither|cannot|den(?:y|ies|ied|ying)|refut|reject|dismiss)"
    r"|n't\b"
)
# _CUE, faster: every alternative starts with a letter (the engine then skips to the positions
# of those letters), the word boundary before it checked after it: after the letter X,
# (?<!\wX) is \b before it ("no" covers "not" and "nor"). Only whether it matches is used.
_CUE_FAST = re.compile(
    r"n(?:(?<!\wn)(?:o|ever|either)|'t\b)|w(?<!\ww)ithout|c(?<!\wc)annot"
    r"|d(?<!\wd)(?:en(?:y|ies|ied|ying)|ismiss)|r(?<!\wr)e(?:fut|ject)"
)


NEGATED = "negated"
DENIED = "denied"
PAST = "past episode"
OTHER_COUNTRY = "another country"
INTENSIFIED = "intensified"
INSIDE_ESCALATION = "inside escalation"
INSIDE_DEESCALATION = "inside de-escalation"

_PREFIX_CHARS = 48  # characters before a term searched for a year or an intensifier
_ONE_WORD_OR_NONE = r"\s+(?:[\w'-]+\s+)?$"  # then at most one word, then the term
_PAST_BEFORE = re.compile(r"\b(?:19|20)\d\d(?:'?s)?" + _ONE_WORD_OR_NONE)
_INTENSIFIER_BEFORE = re.compile(
    r"\b(?:" + "|".join(re.escape(w) for w in INTENSIFIERS) + ")" + _ONE_WORD_OR_NONE
)


def _may_intensify(before: str, words: list[str] | None = None) -> bool:
    """Cheap pre-check for _INTENSIFIER_BEFORE: an intensifier followed by whitespace ends one of
    the last two whitespace-separated words (the regex allows one word between it and the end).
    ``words``: ``before.rsplit(None, 2)`` when the caller has it."""
    if words is None:
        words = before.rsplit(None, 2)
    if not words:
        return False
    return words[-1].endswith(INTENSIFIERS) or (len(words) > 1 and words[-2].endswith(INTENSIFIERS))


class _Context(NamedTuple):
    """How an occurrence's clause qualifies it: ``void`` (why it counts 0, "" if it counts),
    ``note`` (an informative note when it counts) and ``factor`` (its weight multiplier)."""

    void: str
    note: str = ""
    factor: float = 1.0


# The outcomes without a computed note, built once (a _Context is immutable).
_COUNTS = _Context("")
_COUNTS_DENIED = _Context("", DENIED)
_VOID_NEGATED = _Context(NEGATED)
_VOID_PAST = _Context(PAST)
_VOID_OTHER_COUNTRY = _Context(OTHER_COUNTRY)
_VOID_INSIDE_ESCALATION = _Context(INSIDE_ESCALATION)
_VOID_INSIDE_DEESCALATION = _Context(INSIDE_DEESCALATION)


def _plain(negation: str) -> _Context:
    """``_Context("", negation)`` for the notes _negation returns ("" or DENIED)."""
    return _COUNTS if not negation else _COUNTS_DENIED if negation == DENIED \
        else _Context("", negation)


def _clause_tail(window: str) -> str:
    """``window`` after its last clause break (all of it without one)."""
    m = _NO_CLAUSE_BREAK.match(window[::-1])  # always matches (maybe the empty string)
    return window[len(window) - m.end() :] if m is not None else window


# bytes.translate: every char of a clause break (those _NO_CLAUSE_BREAK stops at) -> "\n"
_CLAUSE_MARKS = bytes.maketrans(b'.!?;:,()[]{}"', b"\n" * 13)


def _clause_breaks(folded: str) -> bytes:
    """An ASCII text as bytes with every clause break a line break (line breaks are breaks
    too): the last break before an offset is one ``rfind``, where ``_clause_tail`` reverses the
    window and runs a regex."""
    return folded.encode("ascii").translate(_CLAUSE_MARKS)


@dataclass(frozen=True, slots=True)
class _Attribution:
    """Another country right before a term ("Russian missiles") or right after it ("invasion
    of Ukraine"); see "Another country's war".

    ``single`` (one-word names), ``multi`` (the word sets of the others) and ``last_words`` (the
    last word of every name) make cheap exact pre-checks: a text can match ``anywhere`` only when
    one of its words is a one-word name (then it does) or holds every word of a longer name, and
    ``before`` only when its last word, less a possessive, ends a name."""

    before: re.Pattern[str]
    after: re.Pattern[str]
    anywhere: re.Pattern[str]
    single: frozenset[str]
    multi: tuple[frozenset[str], ...]
    last_words: frozenset[str]
    multi_first: frozenset[str]  # the first word of every name in ``multi``
    first_words: frozenset[str]  # ``single | multi_first``

    def adjacent(
        self, folded: str, before: str, end: int, words: list[str] | None = None
    ) -> bool:
        """``words``: ``before.rsplit(None, 2)`` when the caller has it."""
        return bool(
            (self._may_end_before(before, words) and self.before.search(before))
            or self.after.match(folded, end, end + 60)
        )

    def _may_end_before(self, before: str, words: list[str] | None = None) -> bool:
        # ``before`` must end in whitespace after a name's last word (+ "'s" / "s"): that word is
        # the last of its whitespace-separated ``words`` (``before.rsplit(None, 2)``), after its
        # last hyphen
        if words is None:
            words = before.rsplit(None, 2)
        if not words or not before[-1].isspace():
            return False
        word = words[-1].rpartition("-")[2]
        names = self.last_words
        return (
            word in names
            or (word[-2:] == "'s" and word[:-2] in names)
            or (word[-1:] == "s" and word[:-1] in names)
        )

    def names_in(self, folded: _Folded, start: int, end: int) -> bool:
        """Whether ``anywhere`` finds another country in the sentence folded.text[start:end]
        (bounded by ``.!?`` and line breaks, or the ends of the text; it holds none of them).

        Its words (runs of word characters) are those of the padded text, where every other
        character is a space or one of ``.,;:!?``, and the sentence has no ``.!?``."""
        sentence = folded.padded[start + 1 : end + 1]
        words = sentence.replace(",", " ").replace(";", " ").replace(":", " ").split()
        if self.first_words.isdisjoint(words):
            return False  # the common case, in one test
        if not self.single.isdisjoint(words):
            return True
        if not self.multi_first.isdisjoint(words):
            present = set(words)
            if any(w <= present for w in self.multi):
                return self.anywhere.search(folded.text, start, end) is not None
        return False


def _attribution(entities: _RuleSet) -> _Attribution | None:
    """The countries of ``OTHER_COUNTRIES`` that none of the watch's aliases matches."""
    others: list[str] = []
    for name in OTHER_COUNTRIES:
        padded = " " + name.translate(_SPACES)
        m = entities.pattern.match(padded) if entities.pattern is not None else None
        if m is None or m.end() != len(padded):
            others.append(name)
    if not others:
        return None
    # one trie of the names (each pattern below is only tested for a match, so the order of
    # the alternatives does not matter); the words of a name match across spaces and hyphens
    names = "(?:" + _trie_regex(
        tuple(atom for w in n.split() for atom in (*_literal(w), r"[\s-]+"))[:-1] for n in others
    ) + ")"
    return _Attribution(
        before=re.compile(rf"(?:^|\s){names}(?:'?s)?\s+$"),
        after=re.compile(rf"\s+(?:of|in|on|against|by|from)\s+(?:the\s+)?{names}\b"),
        anywhere=re.compile(rf"\b{names}\b"),
        single=frozenset(n for n in others if len(n.split()) == 1),
        multi=tuple(frozenset(n.split()) for n in others if len(n.split()) > 1),
        last_words=frozenset(n.split()[-1] for n in others),
        multi_first=frozenset(n.split()[0] for n in others if len(n.split()) > 1),
        first_words=frozenset(n.split()[0] for n in others),
    )


_SENTENCE_END = re.compile(r"[.!?\n]")
_SENTENCE_MARKS = bytes.maketrans(b".!?", b"\n\n\n")  # bytes.translate: _SENTENCE_END -> "\n"


def _lead(
    folded: str, start: int, end: int, breaks: bytes | None = None
) -> tuple[_Context | None, str, str]:
    """What qualifies any term at folded[start:end]: negation after it ("was not reported") or
    before it, and a past episode. (``_VOID_NEGATED`` or ``_VOID_PAST``, or None when neither;
    the negation note, "" or ``DENIED``; the clause before the term, up to ``_PREFIX_CHARS``).
    ``breaks``: ``_clause_breaks(folded)`` of an ASCII text, when the caller has it."""
    # followed by "was/were... not reported" (the finds are a cheap pre-check)
    stop = end + _LOOKBEHIND_CHARS
    if (folded.find("not", end, stop) != -1 or folded.find("n't", end, stop) != -1) and \
            _POST_NEGATION.match(folded, end, stop) is not None:
        return _VOID_NEGATED, "", ""
    lo = max(0, start - _LOOKBEHIND_CHARS)
    if breaks is None:
        clause = _clause_tail(folded[lo:start])
    else:  # the same clause tail: the window after its last break, found by one C-level rfind
        clause = folded[max(lo, breaks.rfind(b"\n", lo, start) + 1) : start]
    negation = _negation(clause)
    if negation == NEGATED:
        return _VOID_NEGATED, "", ""
    # == the clause tail of the last _PREFIX_CHARS before the term: the clause tail of the
    # shorter window is the longer one's, cut to that length (the same last break, or none in
    # the shorter window)
    before = clause[-_PREFIX_CHARS:]
    if ("19" in before or "20" in before) and _PAST_BEFORE.search(before):
        return _VOID_PAST, "", ""
    return None, negation, before


def _context(folded: str, start: int, end: int) -> _Context:
    """Negation, denial and past episode of the (de-escalation) term at folded[start:end]."""
    void, negation, _ = _lead(folded, start, end)
    return void if void is not None else _plain(negation)


def _negation(clause: str) -> str:
    """How a term is qualified by its clause before it (``_clause_tail`` of the text before it,
    up to ``_LOOKBEHIND_CHARS``): ``NEGATED`` (the text says it did not happen), ``DENIED`` (a claim
    of it is denied) or "" (neither).

    A negator or a denial among its tokens is a ``_CUE_FAST`` match in the clause (a token
    starts after a non-word char or at the clause's start), so a clause without one is ""."""
    if _CUE_FAST.search(clause) is None:
        return ""
    tokens = list(_TOKEN.finditer(clause))
    first = max(0, len(tokens) - SHORT_NEGATION_WINDOW)
    for i, tok in enumerate(tokens[first:], first):
        word = tok.group()
        if word in _SHORT_NEGATORS or word.endswith("n't"):
            following = tokens[i + 1].group() if i + 1 < len(tokens) else ""
            if not (word == "not" and following == "only"):
                return NEGATED
    if tokens:
        recent = clause[tokens[max(0, len(tokens) - DENIAL_WINDOW)].start() :]
        if _DENIAL.search(recent):
            return DENIED
    return ""


def _escalation_contexts(
    folded: _Folded,
    found: Sequence[_Occurrence],
    deescalation: Sequence[_Occurrence],
    entities: Sequence[_Occurrence],
    attribution: _Attribution | None,
) -> list[_Context]:
    """The context of each escalation occurrence: ``_VOID_INSIDE_DEESCALATION`` when a longer
    de-escalation occurrence swallows it, else what ``_lead`` finds, then another country's war
    (a country named right before or after the term, or a sentence that names another country
    but no watched entity) and intensity."""
    text = folded.text
    entity_starts = sorted(e.fstart for e in entities) if entities else []
    foreign: dict[int, bool] = {}  # sentence start -> it names another country, no entity
    lo = hi = -1  # the last sentence looked at: [lo, hi], hi its end (a .!? or line break, or
    got = False  # the text's end); occurrences come in text order, mostly in it or after it
    marks: bytes | None = None  # an ASCII text with every .!? made a line break (on demand)
    ascii_text = text.isascii()
    breaks: bytes | None = None  # _clause_breaks of an ASCII text (on demand)
    de_reach = _candidates(deescalation, len(found))
    contexts: list[_Context] = []
    append = contexts.append
    for o in found:
        if deescalation and any(
            _longer(d, o) and _swallows(d, o)
            for d in (deescalation if de_reach is None else de_reach.near(o[3], o[4], 0))
        ):
            append(_VOID_INSIDE_DEESCALATION)
            continue
        start, end = o[1], o[2]  # folded offsets
        if breaks is None and ascii_text:
            breaks = _clause_breaks(text)
        void, negation, before = _lead(text, start, end, breaks)
        if void is not None:
            append(void)
            continue
        words = before.rsplit(None, 2)  # the last words before the term, for the pre-checks
        if attribution is not None:
            if attribution.adjacent(text, before, end, words):
                append(_VOID_OTHER_COUNTRY)
                continue
            if not lo <= start <= hi:  # another sentence than the last one: find its bounds
                after = hi if 0 <= hi < start else 0  # (past the last sentence: at or after hi)
                if marks is None and ascii_text:
                    marks = text.encode("ascii").translate(_SENTENCE_MARKS)
                if marks is not None:  # one find each way
                    lo = marks.rfind(b"\n", after, start) + 1
                    hi = marks.find(b"\n", start)
                    if hi == -1:
                        hi = len(text)
                else:
                    lo = max(text.rfind(".", after, start), text.rfind("!", after, start),
                             text.rfind("?", after, start), text.rfind("\n", after, start)) + 1
                    m = _SENTENCE_END.search(text, start)
                    hi = m.start() if m else len(text)
                cached = foreign.get(lo)
                if cached is None:
                    i = bisect_left(entity_starts, lo)
                    named = i < len(entity_starts) and entity_starts[i] < hi
                    cached = foreign[lo] = not named and attribution.names_in(folded, lo, hi)
                got = cached
            if got:
                append(_VOID_OTHER_COUNTRY)
                continue
        if _may_intensify(before, words) and _INTENSIFIER_BEFORE.search(before):
            append(_Context("", _join_notes(negation, INTENSIFIED), INTENSITY_FACTOR))
        else:
            append(_plain(negation))
    return contexts


# ---
# Scoring
# ---


class _Occurrence(NamedTuple):
    term: int  # term index in its rule set
    fstart: int  # folded offsets
    fend: int
    start: int  # original offsets
    end: int


def _find(rules: _RuleSet, folded: _Folded) -> list[_Occurrence]:
    if rules.pattern is None:
        return []
    found: list[_Occurrence] = []
    for m in rules.pattern.finditer(folded.padded):
        index = rules.term_index(m.group(1))
        if index is None:  # cannot happen: the trie only matches configured forms
            continue
        fstart, fend = m.start(1) - 1, m.end() - 1  # padded -> folded offsets
        if fend != m.end(1) - 1 and folded.text[m.end(1) - 1] != "'":
            fend = m.end(1) - 1  # " s" after an alias that is not a possessive "'s"
        start, end = folded.span(fstart, fend)
        found.append(_Occurrence(index, fstart, fend, start, end))
    return found


def _find_all(
    compiled: CompiledWatch, folded: _Folded
) -> tuple[list[_Occurrence], list[_Occurrence], list[_Occurrence]]:
    """``_find`` of the entities, the escalation and the de-escalation terms, in one pass of
    ``compiled.scan`` (see _scan_pattern)."""
    rule_sets = (compiled.entities, compiled.escalation, compiled.deescalation)
    if compiled.scan is None:  # no term at all (or built without compile_watch)
        return _find(rule_sets[0], folded), _find(rule_sets[1], folded), _find(rule_sets[2], folded)
    found: tuple[list[_Occurrence], list[_Occurrence], list[_Occurrence]] = ([], [], [])
    keys = compiled.scan_keys or _scan_keys(compiled.scan)
    last = [0, 0, 0]  # padded end of each set's previous match
    text = folded.text
    starts, ends = folded.starts, folded.ends
    scan = compiled.scan
    if compiled.scan_ascii is not None and folded.padded.isascii():
        scan = compiled.scan_ascii  # the same matches (the same groups), faster
    for m in scan.finditer(folded.padded):
        space = m.start()
        for i, r, t in keys:
            end = m.end(r)
            if end == -1 or space < last[i]:
                continue
            rules = rule_sets[i]
            matched = m.group(t)
            # rules.term_index(matched), its common case first: a form with single spaces (a
            # dict key) or, failing that, a prefix or several spaces
            index = rules.exact.get(matched)
            if index is None:
                index = rules.term_index(matched)
            last[i] = end
            if index is None:  # cannot happen: the trie only matches configured forms
                continue
            fstart, fend = space, end - 1  # padded -> folded offsets
            term_end = m.end(t)
            if fend != term_end - 1 and text[term_end - 1] != "'":
                fend = term_end - 1  # " s" after an alias that is not a possessive "'s"
            if starts is None or ends is None:  # folded.span(fstart, fend), inlined
                occurrence = (index, fstart, fend, fstart, fend)
            else:
                occurrence = (index, fstart, fend, starts[fstart], ends[fend - 1])
            found[i].append(_new_occurrence(_Occurrence, occurrence))
    return found


# _Occurrence(*values) without the Python-level __new__ of a NamedTuple (2x faster)
_new_occurrence = tuple.__new__


def _scan_keys(scan: re.Pattern[str]) -> tuple[tuple[int, int, int], ...]:
    """(rule set, group r<i>, group t<i>) of each rule set in a ``_scan_pattern`` regex."""
    groups = scan.groupindex
    return tuple((i, groups[f"r{i}"], groups[f"t{i}"]) for i in range(3) if f"r{i}" in groups)


def _join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _join2(first: str, second: str) -> str:
    """``_join_notes(first, second)``, faster."""
    return f"{first}; {second}" if first and second else first or second


def _near(occ: _Occurrence, entities: Sequence[_Occurrence], proximity: int) -> bool:
    return bool(entities) and any(
        max(e.start - occ.end, occ.start - e.end, 0) <= proximity for e in entities
    )


# Above this many (occurrence, other occurrence) pairs, the others that may reach an occurrence
# are looked up (_Reach) instead of all tested: a long text with thousands of terms and entities
# would otherwise cost seconds.
_PAIRS_TO_INDEX = 1024


class _Reach:
    """Occurrences sorted by their original start, to list those that may come within `reach`
    characters of a span without testing every one."""

    __slots__ = ("longest", "occs", "starts")

    def __init__(self, occs: Sequence[_Occurrence]) -> None:
        self.occs = sorted(occs, key=attrgetter("start"))
        self.starts = [o.start for o in self.occs]
        self.longest = max((o.end - o.start for o in self.occs), default=0)

    def near(self, start: int, end: int, reach: int) -> Sequence[_Occurrence]:
        """A superset of the occurrences o with o.start <= end + reach and o.end >= start -
        reach (o.end is at most o.start + the longest length): those starting in
        [start - reach - longest, end + reach]."""
        lo = bisect_left(self.starts, start - reach - self.longest)
        return self.occs[lo : bisect_right(self.starts, end + reach, lo)]


def _candidates(occs: Sequence[_Occurrence], other: int) -> _Reach | None:
    """A `_Reach` of `occs` when they are to be tested against `other` occurrences and the pairs
    are too many to test them all (else None: test them all)."""
    return _Reach(occs) if len(occs) * other > _PAIRS_TO_INDEX else None


def _escalation_hits(
    rules: _RuleSet,
    found: Sequence[_Occurrence],
    contexts: Sequence[_Context],
    entities: Sequence[_Occurrence],
    original: str,
    proximity: int,
    text_order: bool = False,
) -> tuple[list[RuleHit], float]:
    """The hit of each occurrence and the total. Repeats of a term count less and less, its best
    (nearest) occurrence first. The hits come voids first, then term by term, best first (the
    order ``score``'s stable sort starts from: hits alike in start, end and rule stay in it), or,
    with ``text_order``, in the order of ``found``."""
    slots: list[RuleHit | None] = []  # in the order of `found`
    voids: list[RuleHit] = []
    per_term: dict[int, list[tuple[float, int, str]]] = {}
    weights = rules.weights
    reach = _candidates(entities, len(found))
    for k, (occ, ctx) in enumerate(zip(found, contexts, strict=True)):
        void, note, factor = ctx
        if void:
            hit = _hit(rules, occ, original, 0.0, void)
            slots.append(hit)
            voids.append(hit)
            continue
        slots.append(None)
        value = weights[occ.term] * factor
        near = entities if reach is None else reach.near(occ.start, occ.end, proximity)
        if not _near(occ, near, proximity):  # far from every entity
            value *= FAR_FACTOR
            note = _join2(note, "far from entity")
        items = per_term.get(occ.term)
        if items is None:
            per_term[occ.term] = [(value, k, note)]
        else:
            items.append((value, k, note))
    total = 0.0
    ranked: list[RuleHit] = []
    for items in per_term.values():
        if len(items) == 1:  # the common case: no repeat (value * REPEAT_DECAY**0 is value)
            value, k, note = items[0]
            total += value
            slots[k] = hit = _hit(rules, found[k], original, value, note)
            ranked.append(hit)
            continue
        # best (nearest) first; equal values in text order (the order of `found`: a stable sort)
        for i, (value, k, note) in enumerate(sorted(items, key=_VALUE, reverse=True)):
            contribution = value * REPEAT_DECAY**i
            total += contribution
            slots[k] = hit = _hit(rules, found[k], original, contribution,
                                  _join2(note, "repeat") if i else note)
            ranked.append(hit)
    if text_order:
        return cast("list[RuleHit]", slots), total  # every slot filled
    return voids + ranked, total


_VALUE = itemgetter(0)
_HIT_ORDER = attrgetter("start", "end", "rule")


def _deescalation_hits(
    rules: _RuleSet,
    found: Sequence[_Occurrence],
    folded: _Folded,
    escalation: Sequence[_Occurrence],
    original: str,
) -> tuple[list[RuleHit], float]:
    hits: list[RuleHit] = []
    counted: set[int] = set()
    total = 0.0
    reach = _candidates(escalation, len(found))
    for occ in found:
        ctx = _VOID_INSIDE_ESCALATION
        if not any(_swallows(e, occ) for e in (
                escalation if reach is None else reach.near(occ.start, occ.end, 0))):
            ctx = _context(folded.text, occ.fstart, occ.fend)
        if ctx.void:
            hits.append(_hit(rules, occ, original, 0.0, ctx.void))
        elif occ.term in counted:
            hits.append(_hit(rules, occ, original, 0.0, _join_notes(ctx.note, "repeat")))
        else:
            counted.add(occ.term)
            weight = rules.weights[occ.term]
            total += weight
            hits.append(_hit(rules, occ, original, -weight, ctx.note))
    return hits, total


def _longer(a: _Occurrence, b: _Occurrence) -> bool:
    return a.end - a.start > b.end - b.start


def _swallows(longer: _Occurrence, other: _Occurrence) -> bool:
    """Whether ``longer`` overlaps ``other`` and is at least as long (see "Overlaps")."""
    overlap = longer.start < other.end and other.start < longer.end
    return overlap and longer.end - longer.start >= other.end - other.start


def _hit(
    rules: _RuleSet, occ: _Occurrence, original: str, weight: float, note: str = ""
) -> RuleHit:
    # positional: rule, term, matched, start, end, weight, note (faster than keywords)
    term = occ.term
    return RuleHit(rules.rules[term], rules.terms[term], original[occ.start : occ.end],
                   occ.start, occ.end, weight, note)


def _severity(severities: Sequence[Severity], value: float) -> str | None:
    name: str | None = None
    for sev in severities:  # ascending threshold
        if sev.threshold <= value:
            name = sev.name
    return name


def score(compiled: CompiledWatch, title: str, text: str) -> MatchResult:
    """Score ``title + "\\n" + text`` against a compiled watch.

    Hit offsets index that joined string (see the module docstring for the scoring rules)."""
    watch = compiled.watch
    original = f"{title}\n{text}"
    folded = _fold_mapped(original)

    entity_found, esc_found, de_found = _find_all(compiled, folded)
    entity_hits: list[RuleHit] = []
    groups: tuple[str, ...] = ()
    if entity_found:
        entity_hits = [_hit(compiled.entities, occ, original, 0.0) for occ in entity_found]
        present = {compiled.entities.groups[occ.term] for occ in entity_found}
        groups = tuple(g for g in watch.entities if g in present)

    esc_contexts = _escalation_contexts(
        folded, esc_found, de_found, entity_found, compiled.attribution
    ) if esc_found else []
    # the escalation hits alone, their starts strictly increasing (the matches of one rule set
    # do not overlap; the identity offset map): in text order, they are sorted
    alone = not entity_found and not de_found and folded.starts is None
    esc_hits, esc_total = _escalation_hits(
        compiled.escalation, esc_found, esc_contexts, entity_found, original, watch.proximity,
        text_order=alone,
    )
    de_hits: list[RuleHit] = []
    de_total = 0.0
    if de_found:
        counted_esc = [o for o, c in zip(esc_found, esc_contexts, strict=True) if not c.void]
        de_hits, de_total = _deescalation_hits(
            compiled.deescalation, de_found, folded, counted_esc, original
        )

    if alone:
        hits = tuple(esc_hits)
    else:
        every = (*entity_hits, *esc_hits, *de_hits) if entity_hits or de_hits else esc_hits
        hits = tuple(sorted(every, key=_HIT_ORDER))
    # positional (faster than keywords): watch, score, severity, entities, hits
    if len(groups) < watch.min_entities:
        return MatchResult(watch.name, 0.0, None, groups, hits)
    value = round(max(0.0, esc_total - de_total), 6)
    return MatchResult(watch.name, value, _severity(compiled.severities, value), groups, hits)
