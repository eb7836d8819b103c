"""Feed-entry HTML (or plain text) to clean plain text, with publisher boilerplate removed.

Pure functions, no I/O: BeautifulSoup parses from a string only.

- :func:`html_to_text` turns markup into text with one paragraph per line.
- :func:`strip_boilerplate` removes donation/subscription appeals, newsletter boxes, cookie
  notices, paywall teasers, "read more" tails, UI strings, share lines and copyright lines.
  It scores every sentence for appeal cues and news cues (a general lexicon, not one site's
  words), drops isolated boilerplate anywhere, and cuts the tail of the text from the point
  where an appeal block (a strong header, or a run of appeal paragraphs) begins.
- :func:`clean_text` is both in a row; :func:`excerpt` makes a short excerpt for alerts.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs in the dev extra

if TYPE_CHECKING:
    from bs4.element import PageElement, Tag

__all__ = ["CleanError", "clean_text", "excerpt", "html_to_text", "strip_boilerplate"]


class CleanError(ValueError):
    """Invalid argument to a cleaning function."""


# ---
# Characters
# ---


def _build_char_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in (*range(0x00, 0x09), 0x7F, *range(0x0E, 0x20)):
        table[code] = None
    table[0x09] = " "
    for code in (0x0A, 0x0B, 0x0C, 0x0D, 0x2028, 0x2029):
        table[code] = "\n"
    # C1 controls: almost always windows-1252 bytes decoded as latin-1 (\x92 for a quote).
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            table[code] = None
    # Format characters: soft hyphen, zero-width, bidi marks/overrides/isolates, BOM, tags.
    invisible = [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    invisible += [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070)]
    invisible += [*range(0xFFF9, 0xFFFC), *range(0xE0000, 0xE0080)]
    for code in invisible:
        table[code] = None
    return table


_CHAR_TABLE = _build_char_table()
# The characters `_CHAR_TABLE` changes. str.translate with a dict looks every character up (slow on
# non-ASCII text); substituting only these, usually none or a few tabs, gives the same string.


def _char_class(codes: Iterable[int]) -> str:
    ranges: list[list[int]] = []
    for c in sorted(codes):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


_CHAR_RE = re.compile(_char_class(c for c, v in _CHAR_TABLE.items() if v != chr(c)))


def _char_sub(m: re.Match[str]) -> str:
    return _CHAR_TABLE[ord(m.group())] or ""


def _translate(text: str) -> str:
    """The same as str.translate(_CHAR_TABLE), faster."""
    return _CHAR_RE.sub(_char_sub, text) if _CHAR_RE.search(text) else text

# "&amp;#39;", "&amp;quot;", "&amp;amp;nbsp;": an entity escaped once too often.
_DOUBLE_ESCAPED_RE = re.compile(
    r"&amp;(?=(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"
)
# "country #39;s": an entity whose "&" a feed pipeline turned into a space or dropped.
_BARE_ENTITY_RE = re.compile(r"(\w?)( ?)#(39|34|38|8211|8212|8216|8217|8220|8221|8230);")
_APOSTROPHE_CODES = frozenset({"39", "8217"})


def _bare_entity(m: re.Match[str]) -> str:
    before, space, code = m.group(1), m.group(2), m.group(3)
    char = chr(int(code))
    if code in _APOSTROPHE_CODES and before:
        return before + char  # "country #39;s" -> "country's"
    return before + space + char


def _normalise(text: str) -> str:
    """Strip invisible characters, collapse inline whitespace, one paragraph per line."""
    text = _translate(text)
    if "#" in text:
        text = _BARE_ENTITY_RE.sub(_bare_entity, text)
    return "\n".join(filter(None, [" ".join(line.split()) for line in text.split("\n")]))


def _undouble_entities(text: str) -> str:
    for _ in range(4):
        fixed = _DOUBLE_ESCAPED_RE.sub("&", text)
        if fixed == text:
            break
        text = fixed
    return text


# ---
# HTML
# ---

_TAG_NAMES = (
    "a|abbr|address|article|aside|audio|b|blockquote|body|br|button|canvas|caption|center|cite|"
    "code|dd|del|details|div|dl|dt|em|embed|figcaption|figure|font|footer|form|h[1-6]|head|"
    "header|hr|html|i|iframe|img|input|ins|label|li|link|main|mark|meta|nav|noscript|object|ol|"
    "p|picture|pre|q|s|script|section|select|small|source|span|strong|style|sub|summary|sup|svg|"
    "table|tbody|td|template|textarea|tfoot|th|thead|time|title|tr|tt|u|ul|video"
)
# Something that is certainly markup (used to decide whether to run the parser at all).
_MARKUP_RE = re.compile(rf"</?(?:{_TAG_NAMES})\b[^<>]*>|<!--|<!\[CDATA\[|<!DOCTYPE", re.IGNORECASE)
_ANY_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_BLOCK_TAG_RE = re.compile(
    r"<(?:p|div|br|li|ul|ol|h[1-6]|blockquote|tr|table|section|article|pre|hr|dd|dt)\b",
    re.IGNORECASE,
)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)

_DROP_TAGS = frozenset(
    {
        "script", "style", "noscript", "iframe", "form", "nav", "aside", "footer", "head",
        "title", "template", "svg", "math", "button", "input", "select", "option", "textarea",
        "object", "embed", "canvas", "video", "audio", "source", "track", "map", "dialog",
        "img", "picture", "meta", "link",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "tr", "table", "thead", "tbody", "tfoot", "section", "article", "header",
        "main", "figure", "figcaption", "address", "details", "summary", "center", "caption",
        "hr", "fieldset", "legend", "body", "html",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
# class / id words of page furniture: share bars, newsletter boxes, appeals, ads, related links.
_FURNITURE_WORDS = frozenset(
    {
        "share", "sharing", "sharedaddy", "sharethis", "social", "newsletter", "subscribe",
        "subscription", "signup", "donate", "donation", "membership", "paywall", "cookie",
        "cookies", "consent", "gdpr", "promo", "advert", "advertisement", "ad", "ads",
        "adsbygoogle", "sponsored", "related", "relatedposts", "recommended", "outbrain",
        "taboola", "popup", "modal",
    }
)  # fmt: skip
# class words of social-media embeds (a post and its caption): always dropped.
_EMBED_WORDS = frozenset({"twitter", "tweet", "instagram", "tiktok", "embed", "fb", "reddit"})
_CLASS_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_INLINE_WS_RE = re.compile(r"\s+")
_FURNITURE_MAX_SHARE = 0.4  # furniture never holds more than this share of the page's text


def _attr_words(tag: Tag) -> set[str]:
    values: list[str] = []
    for name in ("class", "id"):
        value = tag.get(name)
        if isinstance(value, str):
            values.append(value)
        elif value is not None:
            values.extend(value)
    if not values:
        return set()
    return set(_CLASS_SPLIT_RE.split(" ".join(values).lower()))


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden"):
        return True
    aria = tag.get("aria-hidden")
    if isinstance(aria, str) and aria.lower() == "true":
        return True
    style = tag.get("style")
    return isinstance(style, str) and _HIDDEN_STYLE_RE.search(style) is not None


class _Soup:
    """One parse of a markup string with BeautifulSoup, walked without recursion.

    The reference implementation: `_Tree` gives the same text from lxml's tree directly, about
    ten times faster; this one runs when lxml's own tree cannot be built (see `_markup_to_text`).
    """

    def __init__(self, markup: str, keep_newlines: bool) -> None:
        from bs4 import BeautifulSoup

        self._soup = BeautifulSoup(markup, "lxml")
        self._keep_newlines = keep_newlines
        self._total: int | None = None

    def _is_furniture(self, tag: Tag) -> bool:
        words = _attr_words(tag)
        if words & _EMBED_WORDS:
            return True
        if not (words & _FURNITURE_WORDS):
            return False
        if self._total is None:
            self._total = len(self._soup.get_text())
        # a container wrapping the article itself is never furniture, whatever its class
        return len(tag.get_text()) <= _FURNITURE_MAX_SHARE * self._total

    def text(self) -> str:
        from bs4.element import NavigableString, PreformattedString, Tag

        out: list[str] = []
        stack: list[PageElement | str] = [self._soup]
        while stack:
            node = stack.pop()
            if isinstance(node, str) and not isinstance(node, NavigableString):
                out.append(node)  # a structural marker pushed below
            elif isinstance(node, NavigableString):
                if isinstance(node, PreformattedString):
                    continue  # comments, CDATA, doctype, processing instructions
                out.append(str(node) if self._keep_newlines else _INLINE_WS_RE.sub(" ", node))
            elif isinstance(node, Tag):
                self._visit(node, out, stack)
        return "".join(out)

    def _visit(self, tag: Tag, out: list[str], stack: list[PageElement | str]) -> None:
        name = tag.name.lower()
        if name == "br":
            out.append("\n")
            return
        if name in _DROP_TAGS or _is_hidden(tag) or self._is_furniture(tag):
            return
        if name == "pre":
            out.append("\n" + tag.get_text() + "\n")
            return
        if name in _BLOCK_TAGS:
            out.append("\n")
            stack.append("\n")
        elif name in _CELL_TAGS:
            out.append(" ")
            stack.append(" ")
        stack.extend(reversed(tag.contents))


# What BeautifulSoup (the reference above) does to the strings lxml reports, replicated by `_Tree`:
# a string of ASCII spaces only becomes "\n" or " " unless inside <pre>/<textarea>; strings inside
# these container tags are of their own kind, which get_text() counts only for a tag of that name.
_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
_PRESERVE_TAGS = frozenset({"pre", "textarea"})
_CONTAINER_TAGS = frozenset({"rt", "rp", "style", "script", "template"})
_Element = Any  # lxml.etree._Element (lxml ships no type stubs)


def _collapse(s: str) -> str:
    if s.strip(_ASCII_SPACES):
        return s
    return "\n" if "\n" in s else " "


class _Tree:
    """One parse of a markup string with lxml's HTML parser (the parser BeautifulSoup drives in
    `_Soup`), walked without recursion. Gives exactly `_Soup.text()`: same parser, same events;
    BeautifulSoup's string handling is replicated (see `_collapse`, `_CONTAINER_TAGS`)."""

    def __init__(self, tops: list[_Element], keep_newlines: bool) -> None:
        self._tops = tops  # the document's top-level nodes: <html> and comments beside it
        self._keep_newlines = keep_newlines
        self._total: int | None = None

    def _string(self, s: str) -> str:
        s = _collapse(s)
        # every white space character but " " is unprintable: a printable string without "  "
        # has no run to collapse (the substitution is slow even when it changes nothing)
        if self._keep_newlines or ("  " not in s and s.isprintable()):
            return s
        return _INLINE_WS_RE.sub(" ", s)

    @staticmethod
    def _get_text(nodes: list[_Element], key: str | None, want: str | None) -> str:
        """BeautifulSoup's get_text() of `nodes` (their tails left out), whose parent's strings
        are of kind `key` (a container tag name or None), counting strings of kind `want`."""
        parts: list[str] = []
        # (node, kind of the strings directly in it, inside pre/textarea) or a string to count
        stack: list[tuple[_Element, str | None, bool] | str] = [
            (n, key, False) for n in reversed(nodes)
        ]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
                continue
            node, parent_key, parent_pre = item
            tag = node.tag
            if not isinstance(tag, str):  # comment, processing instruction
                continue
            own_key = tag if tag in _CONTAINER_TAGS else parent_key
            own_pre = parent_pre or tag in _PRESERVE_TAGS
            for child in reversed(node):
                tail = child.tail
                if tail and own_key == want:
                    stack.append(tail if own_pre else _collapse(tail))
                stack.append((child, own_key, own_pre))
            text = node.text
            if text and own_key == want:
                parts.append(text if own_pre else _collapse(text))
        return "".join(parts)

    def _is_furniture(self, el: _Element, key: str | None) -> bool:
        words = _lxml_attr_words(el)
        if words & _EMBED_WORDS:
            return True
        if not (words & _FURNITURE_WORDS):
            return False
        if self._total is None:
            tails = sum(len(_collapse(t.tail)) for t in self._tops if t.tail)
            self._total = len(self._get_text(self._tops, None, None)) + tails
        tag = el.tag
        want = tag if tag in _CONTAINER_TAGS else None
        return len(self._get_text([el], key, want)) <= _FURNITURE_MAX_SHARE * self._total

    def text(self) -> str:
        out: list[str] = []
        # (element, kind of the strings in its parent) or a string to output
        stack: list[tuple[_Element, str | None] | str] = []
        for top in reversed(self._tops):
            if top.tail:
                stack.append(self._string(top.tail))
            if isinstance(top.tag, str):
                stack.append((top, None))
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            el, key = item
            tag = el.tag
            name = tag.lower()
            if name == "br":
                out.append("\n")
                continue
            if name in _DROP_TAGS or (
                    el.keys() and (_lxml_is_hidden(el) or self._is_furniture(el, key))):
                continue  # (an element without attributes is neither hidden nor furniture)
            if name == "pre":
                out.append("\n" + self._get_text([el], key, None) + "\n")
                continue
            if name in _BLOCK_TAGS:
                out.append("\n")
                stack.append("\n")
            elif name in _CELL_TAGS:
                out.append(" ")
                stack.append(" ")
            own_key = tag if tag in _CONTAINER_TAGS else key
            for child in reversed(el):
                tail = child.tail
                if tail:
                    stack.append(self._string(tail))
                if isinstance(child.tag, str):
                    stack.append((child, own_key))
            text = el.text
            if text:
                stack.append(self._string(text))
        return "".join(out)


def _lxml_attr_words(el: _Element) -> set[str]:
    cls = el.get("class")
    ident = el.get("id")
    if cls is None and ident is None:
        return set()
    values = ([] if cls is None else cls.split()) + ([] if ident is None else [ident])
    if not values:
        return set()
    return set(_CLASS_SPLIT_RE.split(" ".join(values).lower()))


def _lxml_is_hidden(el: _Element) -> bool:
    attrib = el.attrib
    if not attrib:
        return False
    if "hidden" in attrib:
        return True
    aria = attrib.get("aria-hidden")
    if isinstance(aria, str) and aria.lower() == "true":
        return True
    style = attrib.get("style")
    return isinstance(style, str) and _HIDDEN_STYLE_RE.search(style) is not None


_DEEP = 240
_TOO_DEEP = "boolean(" + "/*" * _DEEP + ")"


def _lxml_tops(markup: str) -> list[_Element] | None:
    """The top-level nodes lxml's HTML parser makes of `markup` (as BeautifulSoup feeds it), or
    None when lxml builds no tree (then BeautifulSoup decides what the markup means)."""
    if markup[:1] == "\N{BYTE ORDER MARK}":
        markup = markup[1:]
    parser = etree.HTMLParser(recover=True, huge_tree=False)
    try:
        parser.feed(markup)
        root = parser.close()
    except (etree.LxmlError, ValueError, UnicodeError):
        return None
    if root is None:
        return None
    if markup.count("<") >= _DEEP and root.xpath(_TOO_DEEP):
        return None  # lxml's tree stops at depth 255 and loses text that BeautifulSoup keeps
    before = list(root.itersiblings(preceding=True))
    before.reverse()
    return [*before, root, *root.itersiblings()]


def _markup_to_text(markup: str) -> str:
    markup = _XML_DECL_RE.sub("", markup, count=1)
    keep_newlines = _BLOCK_TAG_RE.search(markup) is None
    tops = _lxml_tops(markup)
    if tops is None:
        return _Soup(markup, keep_newlines).text()
    return _Tree(tops, keep_newlines).text()


def _markup_to_text_bs4(markup: str) -> str:
    """The reference: what `_markup_to_text` gives, computed with BeautifulSoup (for tests)."""
    markup = _XML_DECL_RE.sub("", markup, count=1)
    return _Soup(markup, _BLOCK_TAG_RE.search(markup) is None).text()


def _linewise_markup_to_text(text: str) -> str:
    """Strip markup that was escaped in the source and surfaced as literal tags, per line."""
    return "\n".join(
        _markup_to_text(line) if _ANY_TAG_RE.search(line) else line for line in text.split("\n")
    )


def html_to_text(markup: str) -> str:
    """Plain text of feed-entry HTML or plain text: one paragraph per line ("\\n").

    Drops scripts, styles, forms, navigation, asides, footers, hidden elements, social embeds
    and share/newsletter/ad furniture; decodes entities (also double-escaped ones such as
    ``&amp;#39;``); removes control, zero-width and bidi-override characters; collapses inline
    whitespace. Plain text passes through normalised, each input line a paragraph.
    """
    if "<" not in markup and "&" not in markup:
        return _normalise(markup)
    text = _undouble_entities(_translate(markup))
    if _MARKUP_RE.search(text):
        text = _markup_to_text(text)
        if "<" in text and _MARKUP_RE.search(text):  # escaped markup inside the markup
            text = _linewise_markup_to_text(text)
    else:
        text = html.unescape(text)
        if "<" in text and _MARKUP_RE.search(text):  # wholly escaped markup
            text = _linewise_markup_to_text(text)
    return _normalise(text)


# ---
# Boilerplate
# ---

_I = re.IGNORECASE

# Tails glued to the end of a paragraph: cut from the match to the end of the paragraph.
_TAIL_RES = (
    re.compile(r"(?:^|(?<=\s))The post\s.{1,300}?\sappeared first on\s[^\n]{1,120}$"),
    re.compile(
        r"(?:^|(?<=[\s.!?…]))(?:(?:continue|keep) reading|read (?:more|on|the (?:full|whole|rest"
        r" of the) (?:story|article|report|post)|full (?:story|article))|full (?:story|article)"
        r"|leia mais|lire la suite|weiterlesen|leer m[aá]s|читать далее)\b[^\n.!?]{0,80}"
        r"[.…!»>\])\s]*$",
        _I,
    ),
    re.compile(
        r"(?:^|(?<=\s))This (?:article|story|post) (?:was |is )?(?:originally|first) "
        r"(?:published|appeared|posted) (?:on|in|at|by)\b[^\n]{0,120}$",
        _I,
    ),
)
# Truncation markers at the end of a paragraph: removed, the text before them kept.
_TRUNCATION_RE = re.compile(
    r"\s*(?:\[\s*(?:…|\.\.\.|more)\s*\]|\(\s*more\s*(?:…|\.\.\.)?\s*\))\s*$"
)

# The sentence-scoring patterns below are matched on lower-cased text (faster than IGNORECASE).


def _top_level_alternatives(pattern: str) -> list[str]:
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _word_alternation(*patterns: str) -> re.Pattern[str]:
    r"""One ``\b(?:a|b|...)`` regex for alternatives that each start with ``\b``: factoring the
    word boundary out makes Python's engine about ten times faster on long alternations."""
    alternatives: list[str] = []
    for pattern in patterns:
        for alternative in _top_level_alternatives(pattern):
            if not alternative.startswith(r"\b"):
                raise ValueError(f"alternative does not start at a word boundary: {alternative}")
            alternatives.append(alternative[2:])
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")")


# Decisive at the start of a sentence: imperative appeal / UI strings.
_IMPERATIVE_RE = re.compile(
    r"""^[\s\W]{0,3}(?:please\s+)?(?:
      (?:support|fund|back)\s+(?:us|our|independent|quality|free|local|this|the\s+\w+\s+
        (?:journalism|reporting|newsroom))\b
     |donate\b|contribute\s+(?:now|today|monthly|once|from|what|as|\$|€|£)
     |become\s+an?\s+(?:\w+\s+)?(?:member|subscriber|supporter|patron|donor|insider)\b
     |join\s+(?:us|our|the\s+(?:conversation|club|community|discussion)|\d[\d,.]*\s+(?:\w+\s+)?
        (?:readers|subscribers|supporters|members|others))\b
     |subscribe\b|sign\s*up\b|sign\s+in\b|log\s*in\b|register\s+(?:now|today|for\s+free|to)\b
     |click\s+(?:here|below|to|the)\b|tap\s+(?:here|below|to)\b
     |follow\s+(?:us|@|(?:\w+\s+){1,3}on\s+(?:twitter|x|facebook|instagram|telegram|threads|
        bluesky|linkedin|youtube|tiktok|whatsapp|google\s+news))
     |like\s+us\s+on\b|share\s+(?:this|on|via|the\s+(?:article|story|post))\b
     |read\s+(?:more|next|also|the\s+full|full|the\s+rest)\b|(?:continue|keep)\s+reading\b
     |download\s+(?:our|the)\s+(?:\w+\s+){0,2}app\b
     |get\s+(?:our|the)\s+(?:\w+\s+){0,4}(?:newsletter|app|briefing|digest|headlines|alerts)\b
     |enter\s+your\s+(?:e-?mail|email\s+address|name|zip|postcode|details)\b
     |help\s+us\b|don'?t\s+miss\b|listen\s+to\s+(?:this|the)\s+(?:article|story)\b
     |remind\s+me\s+later|no,?\s+thanks|not\s+now|maybe\s+later
     |(?:©|\(c\)\s*\d|copyright\b)
    )""",
    re.VERBOSE,
)
# Decisive anywhere in a sentence.
_DECISIVE_RE = _word_alternation(
    r"\bremind me later",
    r"\bwe use cookies\b|\buses? cookies\b",
    r"\bcookie (?:policy|settings|preferences|notice|banner)\b",
    r"\ball rights reserved\b",
    r"\bmay not be (?:re)?(?:published|broadcast|rewritten|redistributed|reproduced)\b",
    r"\bsupport (?:our|independent|quality|public[- ]interest) (?:journalism|reporting|newsroom)\b",
    r"\b(?:sign up|subscribe) (?:for|to) (?:our|the|this) (?:free )?(?:\w+ ){0,3}"
    r"(?:newsletters?|briefing|digest|mailing list)\b",
    r"\bclick here\b",
    r"\b(?:delivered|straight) (?:straight |directly )?to your inbox\b",
    r"\bto continue reading\b|\bsubscribers? only\b|\balready an? (?:subscriber|member)\b",
    r"\byou(?:'ve| have) reached (?:your|the) (?:limit|maximum)\b",
    r"\bfree articles?\b[^.]{0,40}\b(?:left|remaining|limit|per month)\b",
    r"\bunlock (?:this|the full|unlimited)\b",
    r"\bthe post\b.{1,300}\bappeared first on\b",
)
# Weighted appeal cues (matched on the sentence with quotations masked out).
_APPEAL_CUES: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(pattern), weight)
    for pattern, weight in (
        (r"\bdonat(?:e|es|ed|ing|ion|ions)\b", 1.5),
        (r"\bcontribut(?:e|ion|ions)\b", 1.0),
        (
            r"\b(?:every|any|each|your|a small|one-time|one-off|monthly|recurring|annual) "
            r"(?:contribution|donation|gift|pledge)\b",
            2.0,
        ),
        (r"\byour support\b|\bsupport (?:us|our)\b|\b(?:by )?supporting (?:us|our)\b", 2.0),
        (
            r"\b(?:independent|quality|our|free|fearless|trusted|fact-based|public-interest) "
            r"(?:journalism|reporting|newsroom|journalists|media)\b",
            2.0,
        ),
        (
            r"\bour (?:work|staff|mission|reporters|team|coverage|readers|website|site|"
            r"journalists)\b",
            1.0,
        ),
        (
            r"\bwe need (?:your|you)\b|\bneed your (?:help|support)\b|\bhelp us\b|\bcount on you\b"
            r"|\bchip in\b|\bany amount\b|\bwhatever you can\b"
            r"|\b(?:make|makes|making) (?:a|all the) difference\b|\bkeep us\b"
            r"|\bthank you for (?:reading|your|standing|supporting|being)\b",
            2.0,
        ),
        (r"\bbecome an? (?:\w+ )?(?:member|subscriber|supporter|patron|donor)\b", 1.5),
        (r"\b(?:member|membership|patron|patreon|paypal)s?\b", 1.0),
        (r"\bsubscri(?:be|bes|bing|ption|ptions|ber|bers)\b", 1.5),
        (r"\bnewsletters?\b|\binbox\b|\bemail address\b|\bmailing list\b", 2.0),
        (r"\bsign(?:ing|ed)? up\b|\bsign in\b|\blog in\b|\bregister\b", 1.0),
        (r"\bpaywall\b|\bunlimited (?:digital )?access\b|\bfree trial\b|\bpremium\b", 2.0),
        (r"\bcookies?\b", 2.0),
        (
            r"\b(?:privacy|cookie) (?:policy|notice|settings)\b|\bterms of (?:use|service)\b"
            r"|\bconsent\b|\bpreferences\b|\bpersonali[sz]ed (?:ads|content|advertising)\b"
            r"|\bby (?:continuing|using|browsing|clicking)\b|\byou (?:agree|accept|consent)\b",
            1.5,
        ),
        (
            r"\bfollow us\b|\blike us\b|\bshare (?:this|on)\b|\bon (?:twitter|facebook|instagram|"
            r"telegram|whatsapp|youtube|tiktok|linkedin)\b",
            1.5,
        ),
        (r"\bplease (?:support|consider|donate|subscribe|help|give|disable|whitelist|sign)\b", 2.0),
        (
            r"\bjust (?:a|one|\w+) (?:minute|moment)\b|\bquick and easy\b|\bonly takes\b"
            r"|\btakes (?:less than )?(?:a|one|two) minutes?\b",
            1.0,
        ),
    )
)
_ANY_APPEAL_CUE_RE = _word_alternation(*(p.pattern for p, _ in _APPEAL_CUES))
# A small amount ("$2", "5 euros"), not "$50 million".
_AMOUNT_RE = re.compile(
    r"(?:[$€£]\s?\d{1,3}(?:\.\d\d)?|\b\d{1,3}(?:\.\d\d)?\s?(?:usd|eur|gbp|dollars?|euros?)\b)"
    r"(?![\d,.]?\d|\s?(?:million|billion|trillion|bn|mn|mln|m|k)\b)"
)
_AMOUNT_CONTEXT_RE = re.compile(
    r"\b(?:month|monthly|a month|per month|year|yearly|annual|annually|one-time|one-off|weekly|"
    r"a week|just|only|from|as little as|starting|contribut\w*|donat\w*|give|gift|support)\b"
)
_SECOND_PERSON_RE = re.compile(r"\b(?:you|your|yours|you're|you've|yourself)\b")
_FIRST_PLURAL_RE = re.compile(r"\b(?:we|our|us|we're|we've|ours|ourselves)\b")

# News cues.
_REPORTING_RE = re.compile(
    r"\b(?:said|says|told|tells|reported|reports|according to|quoted|announced|stated|added|"
    r"confirmed|claimed|claims|denied|denies|accused|accuses|warned|urged|insisted|noted|wrote|"
    r"tweeted|posted on|declared|alleged|(?:he|she|they) (?:continued|explained|recalled|asked))\b"
)
_EVENT_RE = re.compile(
    r"\b(?:killed|killing|wounded|injured|dead|died|deaths?|casualties|shelling|shelled|"
    r"troops|soldiers|forces|military|ministry|ceasefire|truce|attacks?|attacked|clash(?:es|ed)?|"
    r"fighting|border|offensive|strikes?|missiles?|drones?|army|police|protest(?:s|ers)?|"
    r"government|president|minister|officials?|spokes(?:man|woman|person)|talks|election|court|"
    r"villages?|region|capital|residents|civilians|rebels|separatists)\b"
)
_NUMBER_RE = re.compile(r"(?<![$€£\d])\b\d[\d,.]*\b")
_CAPITALISED_RE = re.compile(r"(?<=[\s(\"“])[A-ZÀ-ÖØ-ÞА-Я][\w'’-]+")

# Short lines made of UI words only ("Share | Tweet | Email", "Accept all", "Advertisement").
_UI_WORDS = (
    r"remind me later|not now|no,? thanks|maybe later|close|dismiss|accept(?: all)?(?: cookies)?|"
    r"reject(?: all)?|decline|i agree|agree|got it|ok(?:ay)?|learn more|more info(?:rmation)?|"
    r"manage (?:preferences|settings|cookies|options|choices)|cookie settings|settings|"
    r"privacy policy|terms(?: of (?:use|service))?|share(?: this(?: article| story)?)?|tweet|"
    r"e-?mail|print|comments?|facebook|twitter|x|whatsapp|linkedin|telegram|reddit|pinterest|"
    r"copy link|save|subscribe|sign (?:up|in)|log ?in|log ?out|register|advertisement|advert|ad|"
    r"sponsored(?: content)?|skip ad|menu|search|home|back to top|top|next|previous|prev|"
    r"read more|show more|load more|see more|view more|listen|play|pause|watch|video|gallery|"
    r"photos?|view comments|related(?: articles| stories| content)?|most read|trending|"
    r"you may also like|recommended(?: for you)?"
)
_UI_LINE_RE = re.compile(rf"(?:(?:{_UI_WORDS})(?:\s+|$))+")
_UI_SEPARATORS_RE = re.compile(r"[|•·/,:;!.\-–—>»«<()\[\]]+")

# Paragraphs that open an appeal block.
_HEADER_RE = re.compile(
    r"^[\s\W]{0,3}(?:"
    r"(?i:an?\s+|the\s+)?(?i:message|note|letter|word|appeal|update|request)\s+(?i:from|to)\s+"
    r"[^\n]{1,60}?:?\s*$"
    r"|(?i:dear)\s+(?:\w+\s+)?(?i:readers?|friends?|subscribers?|supporters?|listeners?|viewers?"
    r"|members?|visitors?|users?)\b"
    r"|(?i:before you go|one more thing|one last thing|we have a (?:small )?(?:favou?r|request)"
    r"|thank(?:s| you) for reading|why (?:we need|your support)|can you (?:help|support|chip in)"
    r"|support (?:us|independent|our|quality|free)\b|help us\b|join us\b|become an? "
    r"(?:member|supporter|subscriber|patron)|subscribe\b|donate\b|sign up for|make a "
    r"(?:contribution|donation|gift))"
    r")"
)
_HEADER_MAX_WORDS = 15


class _Kind(Enum):
    BOILERPLATE = "boilerplate"
    APPEAL = "appeal"  # appeal-leaning: dropped inside an appeal block, kept when isolated
    NEWS = "news"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    end: int
    lexical: float  # appeal cues from the lexicon
    pronouns: int  # "you/your" and "we/our/us" outside quotations
    news: float
    reporting: bool  # a reporting verb outside quotations ("said", "told", "according to")
    boilerplate: bool

    @property
    def appeal(self) -> float:
        return self.lexical + 0.5 * min(self.pronouns, _PRONOUN_CAP)

    @property
    def kind(self) -> _Kind:
        if self.boilerplate:
            return _Kind.BOILERPLATE
        if self.news >= 1.5:
            return _Kind.NEWS
        return _Kind.NEUTRAL


@dataclass(frozen=True, slots=True)
class _Paragraph:
    kept: str  # the paragraph's sentences that are not boilerplate, joined with a space
    kind: _Kind
    header: bool


# Sentence splitting ---

_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_OPENERS = "\"'“‘«([¿¡"
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "gen", "col", "lt", "sgt", "capt", "maj", "adm", "st",
        "sen", "rep", "gov", "jr", "sr", "no", "vs", "etc", "inc", "ltd", "co", "corp", "jan",
        "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s",
        "u.n", "u.k", "e.g", "i.e", "a.m", "p.m", "approx", "est", "dept", "fig", "vol",
    }
)  # fmt: skip
_LAST_WORD_RE = re.compile(r"([\w.]+)$")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        nxt = m.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if nxt >= len(text):
            break
        first = nxt
        while first < len(text) and text[first] in _OPENERS:
            first += 1
        if first >= len(text) or not (text[first].isupper() or text[first].isdigit()):
            continue
        if m.group().rstrip("\"'”’»)]") == ".":
            # the last word before the full stop: what _LAST_WORD_RE.search(text, start, end)
            # finds, walking back instead of scanning forward from the sentence start
            end = j = m.start()
            while j > start and (text[j - 1].isalnum() or text[j - 1] in "_."):
                j -= 1
            if j < end:
                token = text[j:end]
                if token.lower() in _ABBREVIATIONS or (len(token) == 1 and token.isupper()):
                    continue
        spans.append((start, m.end()))
        start = nxt
    if start < len(text):
        spans.append((start, len(text)))
    return spans


# Quotations ---

_OPENING_QUOTES = frozenset("“«„")
_CLOSING_QUOTES = frozenset("”»")
_QUOTE_CHARS = _OPENING_QUOTES | _CLOSING_QUOTES | {'"'}
_BEFORE_OPENING = frozenset("([{—–-/")


def _opens_quote(text: str, i: int) -> bool:
    c = text[i]
    if c in _OPENING_QUOTES:
        return True
    if c != '"':
        return False
    before_ok = i == 0 or text[i - 1].isspace() or text[i - 1] in _BEFORE_OPENING
    return before_ok and i + 1 < len(text) and not text[i + 1].isspace()


_QUOTE_RE = re.compile('[“«„”»"]')


def _mask_quotations(text: str) -> str:
    """The text with quoted speech blanked out (same length), so quotes carry no cues.

    A closing quote before any opening one continues a quotation from an earlier paragraph
    (masked from the start); an opening quote never closed runs to the end of the paragraph.
    """
    blanks: list[tuple[int, int]] = []
    start = -1  # index of the opening quote while inside a quotation
    opener = ""
    seen = False
    for m in _QUOTE_RE.finditer(text):
        i = m.start()
        c = text[i]
        if start >= 0:
            if c in _CLOSING_QUOTES or c == '"' or (c == "“" and opener == "„"):
                blanks.append((start + 1, i))
                start = -1
        elif _opens_quote(text, i):
            start, opener = i, c
        elif not seen:
            blanks.append((0, i))
        seen = True
    if start >= 0:
        blanks.append((start + 1, len(text)))
    if not blanks:
        return text
    pieces: list[str] = []
    done = 0
    for a, b in blanks:
        if b > a:
            pieces.append(text[done:a])
            pieces.append(" " * (b - a))
            done = b
    pieces.append(text[done:])
    return "".join(pieces)


# Scoring ---


def _capped(matches: Iterable[object], weight: float, cap: float) -> float:
    return min(cap, weight * sum(1 for _ in matches))


def _lexical_appeal(lower: str) -> float:
    score = 0.0
    if _ANY_APPEAL_CUE_RE.search(lower):  # one scan for the common case of no cue at all
        score = sum(weight for pattern, weight in _APPEAL_CUES if pattern.search(lower))
    if _AMOUNT_RE.search(lower) and _AMOUNT_CONTEXT_RE.search(lower):
        score += 2.0
    return score


def _news_score(masked: str, lower: str) -> float:
    score = _capped(_REPORTING_RE.finditer(lower), 1.5, 3.0)
    score += _capped(_EVENT_RE.finditer(lower), 1.0, 2.0)
    score += _capped(_NUMBER_RE.finditer(masked), 0.5, 1.0)
    score += _capped(_CAPITALISED_RE.finditer(masked), 0.3, 1.2)
    if _FIRST_PLURAL_RE.search(lower):
        score /= 2  # wire copy does not say "we" outside quotations; appeals do
    return score


def _is_ui_line(sentence: str) -> bool:
    if len(sentence.split()) > 10:
        return False
    words = _UI_SEPARATORS_RE.sub(" ", sentence.lower()).strip()
    return bool(words) and _UI_LINE_RE.fullmatch(words) is not None


_DECISIVE_MAX_WORDS = 45
_LEXICAL_MIN = 2.5  # pronouns alone never make a sentence boilerplate
_PRONOUN_CAP = 4
_PRONOUN_PARAGRAPH = 3  # "we/our/you" this often, with no reporting verb: an appeal paragraph


def _score_sentence(text: str, masked: str, start: int, end: int) -> _Sentence:
    raw = text[start:end]
    part = masked[start:end]
    lower = part.lower()
    lexical = _lexical_appeal(lower)
    pronouns = sum(1 for _ in _SECOND_PERSON_RE.finditer(lower))
    pronouns += sum(1 for _ in _FIRST_PLURAL_RE.finditer(lower))
    news = _news_score(part, lower)
    reporting = _REPORTING_RE.search(lower) is not None
    decisive = _is_ui_line(raw) or (
        not reporting
        and len(raw.split()) <= _DECISIVE_MAX_WORDS
        and (_IMPERATIVE_RE.search(lower) is not None or _DECISIVE_RE.search(lower) is not None)
    )
    sentence = _Sentence(start, end, lexical, pronouns, news, reporting, decisive)
    appeal = sentence.appeal
    if not decisive and lexical >= _LEXICAL_MIN and appeal >= 3.0 and appeal >= news + 1.0:
        sentence = _Sentence(start, end, lexical, pronouns, news, reporting, True)
    return sentence


# Words each of _TAIL_RES needs (a match contains one of them): a paragraph without any skips the
# pattern. The second and third patterns ignore case; their words are looked for in the
# lower-cased paragraph, unless it holds a character that matches a letter of them only
# case-insensitively without lower-casing to it (dotless i, long s, Kelvin sign, Cyrillic
# small-letter variants, dotted capital I): then the patterns run.
_TAIL_WORDS: tuple[tuple[str, ...], ...] = (
    ("appeared first on",),
    ("reading", "read ", "full ", "leia mais", "lire la suite", "weiterlesen", "leer m",
     "читать далее"),
    ("this article", "this story", "this post"),
)
_CASE_SPECIAL_RE = re.compile("[\u0130\u0131\u017f\u212a\u1c80-\u1c88]")


_ALL_TAILS = (True, True, True)


def _tails_possible(text: str) -> tuple[bool, ...]:
    """For each of _TAIL_RES, whether some line of `text` holds one of its words (see
    `_strip_tails`): a line without them skips the pattern, and a line's lower-cased form is a
    slice of the text's (the words hold no letter whose lower case depends on its neighbours)."""
    if _CASE_SPECIAL_RE.search(text):
        return _ALL_TAILS
    lower = text.lower()
    return ("appeared first on" in text, *(any(w in lower for w in words)
                                            for words in _TAIL_WORDS[1:]))


def _strip_tails(paragraph: str, tails: tuple[bool, ...] = _ALL_TAILS) -> str:
    """`paragraph` without tails and truncation markers; a pattern of _TAIL_RES whose entry in
    `tails` is False is skipped (`_tails_possible` of a text holding the paragraph)."""
    if any(tails):
        folded = None if _CASE_SPECIAL_RE.search(paragraph) else paragraph.lower()
        for k, pattern in enumerate(_TAIL_RES):
            haystack = paragraph if k == 0 else folded
            if not tails[k] or (
                    haystack is not None and not any(w in haystack for w in _TAIL_WORDS[k])):
                continue  # a cut below only shortens the paragraph: the words stay absent
            m = pattern.search(paragraph)
            if m is not None and _REPORTING_RE.search(m.group().lower()) is None:
                paragraph = paragraph[: m.start()]
    if paragraph.rstrip()[-1:] in ("]", ")"):  # _TRUNCATION_RE ends in "] or ) then space
        paragraph = _TRUNCATION_RE.sub("", paragraph)
    return paragraph.strip()


# The per-sentence patterns rewritten for one scan of a whole paragraph, each starting with a
# character class (Python's engine then skips ahead to candidate positions, instead of trying
# every position as it does for a pattern starting with \b or a lookbehind):
# - the reporting, event and pronoun words in one pattern: their word lists share no word, so
#   no match of one can overlap a match of another; "\W" before the word stands for the
#   leading \b (the paragraph is scanned with a space in front), the word is the match less
#   that character;
_WORDS_RE = re.compile(
    r"\W(?:(?P<reporting>" + _REPORTING_RE.pattern[2:-2] + r")|(?P<event>"
    + _EVENT_RE.pattern[2:-2] + r")|(?P<second>" + _SECOND_PERSON_RE.pattern[2:-2]
    + r")|(?P<first>" + _FIRST_PLURAL_RE.pattern[2:-2] + r"))\b"
)
# - _NUMBER_RE with its lookbehind and \b moved after the first digit;
_NUMBER_SCAN_RE = re.compile(r"\d(?<![$€£\w]\d)[\d,.]*\b")
# - _CAPITALISED_RE with the character before the word matched (never part of an earlier match:
#   those end with a word character, an apostrophe or a hyphen); the word is group 1;
_CAPITALISED_SCAN_RE = re.compile(r"[\s(\"“]([A-ZÀ-ÖØ-ÞА-Я][\w'’-]+)")
# - _ANY_APPEAL_CUE_RE with "\W" for its leading \b (all its alternatives start with a letter).
_ANY_CUE_SCAN_RE = re.compile(r"\W" + _ANY_APPEAL_CUE_RE.pattern[2:])
assert _REPORTING_RE.pattern.startswith(r"\b(?:") and _REPORTING_RE.pattern.endswith(r")\b")
assert _EVENT_RE.pattern.startswith(r"\b(?:") and _EVENT_RE.pattern.endswith(r")\b")
assert _SECOND_PERSON_RE.pattern.startswith(r"\b(?:")
assert _FIRST_PLURAL_RE.pattern.startswith(r"\b(?:")
assert _ANY_APPEAL_CUE_RE.pattern.startswith(r"\b(?:")
_WORD_KINDS = ("reporting", "event", "second", "first")
# _AMOUNT_RE needs a currency sign or one of these words
_AMOUNT_HINTS = ("$", "€", "£", "usd", "eur", "gbp", "dollar")


def _bucket(
    matches: Iterable[tuple[int, int]], spans: list[tuple[int, int]], skip_first: bool = False,
) -> list[int] | None:
    """Matches per sentence; None when a match does not lie within one sentence (then the
    sentences are scored one by one). `skip_first` leaves out matches at a sentence's first
    character (a lookbehind needing a character before the match cannot match there in the
    sentence alone)."""
    counts = [0] * len(spans)
    i = 0
    n = len(spans)
    for ms, me in matches:
        while i < n and spans[i][1] <= ms:
            i += 1
        if i == n or ms < spans[i][0] or me > spans[i][1]:
            return None
        if not (skip_first and ms == spans[i][0]):
            counts[i] += 1
    return counts


def _word_counts(lower: str, spans: list[tuple[int, int]]) -> dict[str, list[int]] | None:
    """Per sentence, the matches of _REPORTING_RE, _EVENT_RE, _SECOND_PERSON_RE and
    _FIRST_PLURAL_RE, from one scan of the paragraph."""
    counts = {kind: [0] * len(spans) for kind in _WORD_KINDS}
    i = 0
    n = len(spans)
    for m in _WORDS_RE.finditer(" " + lower):
        ms, me = m.start(), m.end() - 1  # the word, in the paragraph's positions
        while i < n and spans[i][1] <= ms:
            i += 1
        if i == n or ms < spans[i][0] or me > spans[i][1]:
            return None
        counts[str(m.lastgroup)][i] += 1
    return counts


def _score_sentences(text: str, masked: str, spans: list[tuple[int, int]]) -> list[_Sentence]:
    """`_score_sentence` for every sentence of a paragraph, scanning the paragraph once per
    pattern instead of once per sentence and pattern: a match within a sentence is a match
    within the paragraph (the sentences are separated by white space, which no match starts,
    ends or spans), and a pattern that finds nothing in the paragraph finds nothing in its
    sentences. Falls back to `_score_sentence` where a match crosses a sentence boundary or
    lower-casing changes the text's length."""
    lower_all = masked.lower()
    if len(lower_all) != len(masked):
        return [_score_sentence(text, masked, s, e) for s, e in spans]
    words = _word_counts(lower_all, spans)
    numbers = _bucket((m.span() for m in _NUMBER_SCAN_RE.finditer(masked)), spans)
    capitals = _bucket((m.span(1) for m in _CAPITALISED_SCAN_RE.finditer(masked)), spans,
                       skip_first=True)
    if words is None or numbers is None or capitals is None:
        return [_score_sentence(text, masked, s, e) for s, e in spans]
    reporting, events = words["reporting"], words["event"]
    second, first = words["second"], words["first"]
    any_cue = _ANY_CUE_SCAN_RE.search(" " + lower_all) is not None
    any_amount = any(h in lower_all for h in _AMOUNT_HINTS)
    any_decisive: bool | None = None  # looked up when first needed
    out: list[_Sentence] = []
    for k, (start, end) in enumerate(spans):
        raw = text[start:end]
        lower: str | None = None
        if any_cue or any_amount:
            lower = masked[start:end].lower()
            lexical = _lexical_appeal(lower)
        else:
            lexical = 0.0
        pronouns = second[k] + first[k]
        news = min(3.0, 1.5 * reporting[k])
        news += min(2.0, 1.0 * events[k])
        news += min(1.0, 0.5 * numbers[k])
        news += min(1.2, 0.3 * capitals[k])
        if first[k]:
            news /= 2
        is_reporting = reporting[k] > 0
        decisive = _is_ui_line(raw)
        if not decisive and not is_reporting and len(raw.split()) <= _DECISIVE_MAX_WORDS:
            if lower is None:
                lower = masked[start:end].lower()
            if _IMPERATIVE_RE.search(lower) is not None:
                decisive = True
            else:
                if any_decisive is None:
                    any_decisive = _DECISIVE_RE.search(lower_all) is not None
                decisive = any_decisive and _DECISIVE_RE.search(lower) is not None
        sentence = _Sentence(start, end, lexical, pronouns, news, is_reporting, decisive)
        appeal = sentence.appeal
        if not decisive and lexical >= _LEXICAL_MIN and appeal >= 3.0 and appeal >= news + 1.0:
            sentence = _Sentence(start, end, lexical, pronouns, news, is_reporting, True)
        out.append(sentence)
    return out


def _paragraph(text: str) -> _Paragraph:
    masked = _mask_quotations(text)
    sentences = tuple(_score_sentences(text, masked, _sentence_spans(text)))
    total = sum(s.end - s.start for s in sentences) or 1
    bp_chars = sum(s.end - s.start for s in sentences if s.boilerplate)
    has_news = any(s.kind is _Kind.NEWS for s in sentences)
    appeal = sum(s.appeal for s in sentences)
    news = sum(s.news for s in sentences)
    lexical = sum(s.lexical for s in sentences)
    pronouns = sum(s.pronouns for s in sentences)
    reporting = any(s.reporting for s in sentences)
    if bp_chars == total or (bp_chars >= 0.6 * total and not has_news):
        kind = _Kind.BOILERPLATE
    elif appeal >= news and (
        (lexical >= 1.5 and appeal >= 2.5) or (pronouns >= _PRONOUN_PARAGRAPH and not reporting)
    ):
        kind = _Kind.APPEAL
    elif has_news:
        kind = _Kind.NEWS
    else:
        kind = _Kind.NEUTRAL
    short = len(text.split()) <= _HEADER_MAX_WORDS
    header = short and (
        _HEADER_RE.search(masked) is not None
        or (kind is _Kind.BOILERPLATE and _IMPERATIVE_RE.search(masked.lower()) is not None)
    )
    kept = " ".join(text[s.start : s.end] for s in sentences if not s.boilerplate)
    return _Paragraph(kept, kind, header)


_APPEALING = frozenset({_Kind.BOILERPLATE, _Kind.APPEAL})


def _appeal_block_start(paragraphs: list[_Paragraph]) -> int:
    """Index where the trailing appeal block begins (len(paragraphs) when there is none)."""
    n = len(paragraphs)
    cut = n
    # 1. A strong header followed by appeal-dominated text.
    for h, par in enumerate(paragraphs):
        if not par.header:
            continue
        rest = [p.kind for p in paragraphs[h + 1 :]]
        appealing = sum(1 for k in rest if k in _APPEALING)
        news = rest.count(_Kind.NEWS)
        neutral = rest.count(_Kind.NEUTRAL)
        if (appealing >= 1 and news == 0 and appealing >= neutral) or (
            appealing >= 3 and appealing >= 3 * news
        ):
            cut = h
            break
    # 2. A run of appeal paragraphs at the end (no news paragraph after its start).
    i = n
    while i > 0 and paragraphs[i - 1].kind is not _Kind.NEWS:
        i -= 1
    appealing_flags = [p.kind in _APPEALING or p.header for p in paragraphs[i:]]
    first = next((j for j, flag in enumerate(appealing_flags) if flag), None)
    if first is not None:
        run = appealing_flags[first:]
        appealing = sum(run)
        if appealing >= 2 and appealing >= len(run) - appealing:
            cut = min(cut, i + first)
    return cut


# The fast path of `strip_boilerplate`: most paragraphs of news text can be proven to hold no
# boilerplate sentence and to be neither appeal nor header without scoring their sentences
# (`_quick_paragraph`), from the tokens (\w+ runs) of the paragraph with quotations masked:
# - no sentence has lexical appeal: every alternative of _APPEAL_CUES (so of
#   _ANY_APPEAL_CUE_RE) needs one of _CUE_KEYS as a whole token (the word stands between \b or
#   spaces in the pattern) or one of _KEY_PHRASES as a substring, and _AMOUNT_RE needs one of
#   _AMOUNT_HINTS; all are matched on the lower-cased masked sentence, whose tokens are tokens
#   of the lower-cased masked paragraph (sentences are split at white space);
# - no sentence is decisive: _DECISIVE_RE needs one of _DECISIVE_KEYS or _KEY_PHRASES, and
#   _is_ui_line and _IMPERATIVE_RE (anchored at the sentence start) are checked per sentence;
# - the paragraph is not appeal: with no lexical appeal that needs 3 pronouns, and each pronoun
#   match is a token of _PRONOUNS ("you're": the token "you");
# - it is not a header: _HEADER_RE is checked when the paragraph is short.
# Such a paragraph keeps all its sentences, and it is news when a sentence has a reporting verb
# and none has "we/our/us" (news >= 1.5): a token of _REPORTING_TOKENS with no token of
# _FIRST_PLURAL_TOKENS. A text whose paragraphs are all proven so is kept whole (no appeal block
# can start: that needs a header or an appealing paragraph), whatever their news; otherwise the
# paragraphs not proven news are scored. tests/test_clean_speed_equiv.py checks the keys
# against examples of every alternative and the result against `_strip_scored`.
_TOKEN_RE = re.compile(r"\w+")
_CUE_KEYS = frozenset(
    {
        "donate", "donates", "donated", "donating", "donation", "donations",  # donat(?:e|...)
        "contribute", "contribution", "contributions", "gift", "pledge",
        "support", "supporting",  # your support, support us/our, supporting us/our
        "journalism", "reporting", "newsroom", "journalists", "media",  # independent ...
        "our",  # our work/staff/...
        "need", "help", "count", "chip", "amount", "whatever", "difference", "keep", "thank",
        "become",
        "member", "members", "membership", "memberships", "patron", "patrons", "patreon",
        "patreons", "paypal", "paypals",
        "subscribe", "subscribes", "subscribing", "subscription", "subscriptions", "subscriber",
        "subscribers",
        "newsletter", "newsletters", "inbox", "email", "mailing",
        "sign", "signing", "signed", "log", "register",
        "paywall", "unlimited", "free", "premium",
        "cookie", "cookies",
        "privacy", "terms", "consent", "preferences", "personalised", "personalized",
        "continuing", "using", "browsing", "clicking", "agree", "accept",
        "share", "twitter", "facebook", "instagram", "telegram", "whatsapp", "youtube", "tiktok",
        "linkedin",  # and the phrases "follow us", "like us"
        "please",
        "minute", "moment", "quick", "takes",
    }
)  # fmt: skip
_DECISIVE_KEYS = frozenset(
    {
        "remind", "cookies", "cookie", "reserved", "support", "sign", "subscribe", "click",
        "inbox", "continue", "subscriber", "subscribers", "member", "reached", "free", "unlock",
        "appeared",  # and the phrase "may not be"
    }
)  # fmt: skip
_KEY_PHRASES = ("follow us", "like us", "may not be")
_TRIGGER_KEYS = _CUE_KEYS | _DECISIVE_KEYS
_PRONOUNS = frozenset({"you", "your", "yours", "yourself", "we", "our", "us", "ours", "ourselves"})
_FIRST_PLURAL_TOKENS = frozenset({"we", "our", "us", "ours", "ourselves"})  # "we're": "we"
# the one-word alternatives of _REPORTING_RE
_REPORTING_TOKENS = frozenset(
    {
        "said", "says", "told", "tells", "reported", "reports", "quoted", "announced", "stated",
        "added", "confirmed", "claimed", "claims", "denied", "denies", "accused", "accuses",
        "warned", "urged", "insisted", "noted", "wrote", "tweeted", "declared", "alleged",
    }
)  # fmt: skip


def _quick_paragraph(text: str, masked: str, hints: bool) -> tuple[str, bool] | None:
    """(kept text, whether the kind is NEWS) of a paragraph proven to keep every sentence and to
    be neither appeal nor header (see above); None when that is not proven. `masked` is
    `_mask_quotations(text)`; `hints`: whether the text may hold _AMOUNT_HINTS or _KEY_PHRASES
    (False: it is known to hold none)."""
    lower = masked.lower()
    if hints and (any(h in lower for h in _AMOUNT_HINTS) or any(k in lower for k in _KEY_PHRASES)):
        return None
    tokens = _TOKEN_RE.findall(lower)
    present = set(tokens)
    if not _TRIGGER_KEYS.isdisjoint(present):
        return None
    if not _PRONOUNS.isdisjoint(present) and (
            sum(1 for t in tokens if t in _PRONOUNS) >= _PRONOUN_PARAGRAPH):
        return None
    if len(text.split()) <= _HEADER_MAX_WORDS and _HEADER_RE.search(masked) is not None:
        return None
    spans = _sentence_spans(text)
    for start, end in spans:
        if _is_ui_line(text[start:end]):
            return None
        if _IMPERATIVE_RE.search(masked[start:end].lower()) is not None:
            return None
    news = not _REPORTING_TOKENS.isdisjoint(present) and _FIRST_PLURAL_TOKENS.isdisjoint(present)
    return " ".join(text[start:end] for start, end in spans), news


def strip_boilerplate(text: str) -> str:
    """Remove publisher boilerplate from plain text (one paragraph per line).

    Isolated boilerplate sentences and lines are dropped wherever they are; an appeal block at
    the end of the text (a header such as a letter to readers, or a run of appeal paragraphs)
    is cut from its start to the end. News sentences are kept even when they contain words such
    as "support" or "subscribe": a sentence must carry several appeal cues, outweighing its news
    cues, or a decisive UI/appeal pattern, to be dropped.
    """
    tails = _tails_possible(text)
    lines = [p for p in (_strip_tails(line.strip(), tails) for line in text.split("\n")) if p]
    masks = [_mask_quotations(line) for line in lines]
    everything = "\n".join(masks).lower()
    hints = any(h in everything for h in _AMOUNT_HINTS) or any(
        k in everything for k in _KEY_PHRASES)
    quick = [_quick_paragraph(line, mask, hints) for line, mask in zip(lines, masks, strict=True)]
    if all(q is not None for q in quick):  # every sentence kept, and no appeal block
        return "\n".join(body for body in (q[0].strip() for q in quick if q is not None) if body)
    return _strip_paragraphs([
        _Paragraph(q[0], _Kind.NEWS, False) if q is not None and q[1] else _scored(line)
        for q, line in zip(quick, lines, strict=True)
    ])


@functools.lru_cache(maxsize=1024)
def _scored(text: str) -> _Paragraph:
    """`_paragraph(text)`, remembered: a site's boilerplate (an appeal, a newsletter box) ends
    item after item of its feed, and is scored once."""
    return _paragraph(text)


def _strip_scored(lines: list[str]) -> str:
    """`strip_boilerplate` of paragraphs (tails stripped, none empty), every sentence scored:
    the reference for the fast path."""
    return _strip_paragraphs([_paragraph(line) for line in lines])


def _strip_paragraphs(paragraphs: list[_Paragraph]) -> str:
    cut = _appeal_block_start(paragraphs)
    kept: list[str] = []
    for par in paragraphs[:cut]:
        if par.kind is _Kind.BOILERPLATE:
            continue
        body = par.kept.strip()
        if body:
            kept.append(body)
    return "\n".join(kept)


def clean_text(markup: str) -> str:
    """HTML or plain text to clean plain text without publisher boilerplate."""
    return strip_boilerplate(html_to_text(markup))


# ---
# Excerpt
# ---

_ELLIPSIS = "…"
_MIN_SENTENCE_SHARE = 0.5  # prefer a sentence boundary unless it would waste half the room
_TRAILING_PUNCT = ",;:-–—([{\"'“‘«"


def excerpt(text: str, limit: int = 300) -> str:
    """At most ``limit`` characters of ``text`` on one line, cut at a sentence boundary (or a
    word boundary when no sentence ends late enough) and ended with "…" when cut."""
    if limit < 2:
        raise CleanError(f"excerpt limit must be at least 2, got {limit}")
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    room = limit - 2  # for " …" after a full sentence
    ends = [e for _, e in _sentence_spans(flat) if e <= room]
    if ends and ends[-1] >= _MIN_SENTENCE_SHARE * limit:
        return flat[: ends[-1]].rstrip() + " " + _ELLIPSIS
    head = flat[: limit - 1]
    if flat[limit - 1].isspace():
        cut = head
    else:
        space = head.rfind(" ")
        cut = head[:space] if space > 0 else head
    cut = cut.rstrip().rstrip(_TRAILING_PUNCT).rstrip() or head
    return cut + _ELLIPSIS
