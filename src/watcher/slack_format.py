"""Pure Slack Block Kit rendering of an `Alert`, plus a plain console rendering.

Everything that comes from a feed (title, excerpt, source, casualty evidence, the URL) is treated
as hostile. The rules, in the order they are applied:

1. *Invisible characters are removed*: C0/C1 control characters (tab becomes a space, CR and the
   Unicode line/paragraph separators become newlines), every Unicode "format" (Cf) character -
   bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), LRM/RLM/ALM, zero-width
   space/joiners (U+200B-U+200D), word joiner, BOM, soft hyphen, the invisible "tag" characters
   (U+E0000-U+E007F) - lone surrogates and the non-characters U+FFFE/U+FFFF. Cost: emoji ZWJ
   sequences fall apart into their parts, and Persian/Indic text loses its ZWNJ; both stay legible.
2. *Slack's control characters are escaped*: ``&`` -> ``&amp;``, ``<`` -> ``&lt;``, ``>`` ->
   ``&gt;`` (Slack's documented escaping). This defeats ``<!channel>``, ``<!here>``, ``<@U123>``,
   ``<#C123>``, ``<!date^...>`` and ``<http://evil|bank.com>``; an escaped ``&gt;`` at the start of
   a line is shown literally, not as a quote.
3. *mrkdwn markers are neutralised* (mrkdwn text only): Slack has no backslash escape, so ``*``,
   ``_``, ``~`` and the backtick are replaced by inert look-alikes (U+2217 ``∗``, U+FF3F ``＿``,
   U+223C ``∼``, U+02CB ``ˋ``). Feed text can then neither bold/strike/italicise itself, nor
   open a code span, nor break out of the formatting this module puts around it.
4. *Feed fields are collapsed to one line* in Slack output, so feed text cannot start a line of
   its own (no fake "Killed: 500" line under our labels).
5. *Everything is cut to a budget measured after escaping*, so no block exceeds Slack's limits
   (3000 chars per section text, 150 per header, 50 blocks) whatever the input size; cuts never
   split an entity and end with "…".

Plain-text objects (the header) get steps 1, 2 and 5 but keep ``*_~``` as they are (plain text
does not format them). Emoji shortcodes such as ``:skull:`` in feed text are NOT neutralised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from watcher.models import QUALIFIER_WORDS, Alert, CasualtyFigure

Block = dict[str, Any]

# Slack's documented limits.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150

# Our own budgets (all well inside Slack's limits, measured on escaped text).
TITLE_MAX = 500
URL_MAX = 1500  # after percent-encoding
SOURCE_MAX = 200
EXCERPT_MAX = 1000
EVIDENCE_MAX = 300
CHANGE_MAX = 500  # the "what changed" line of an update
REPORTS_SHOWN = 8  # sources shown side by side
TERMS_MAX = 1000
TERMS_SHOWN = 40
FALLBACK_TITLE_MAX = 300
CONSOLE_FIELD_MAX = 2000

ELLIPSIS = "…"
_SCAN_FACTOR = 8  # look at most limit * 8 raw characters: bounds the work on 10 MB inputs

_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 / C1 controls except \t \n \r
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ufffe\uffff"
    "\ud800-\udfff"  # lone surrogates (cannot be encoded as UTF-8)
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f"
    "]"
)
_NEWLINES = re.compile("\r\n|[\r\u2028\u2029\x85]")
_WHITESPACE = re.compile(r"\s+")

_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MRKDWN_LOOKALIKES = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_PLAIN_TABLE = str.maketrans(_SLACK_ESCAPES)
_MRKDWN_TABLE = str.maketrans({**_SLACK_ESCAPES, **_MRKDWN_LOOKALIKES})

_QUALIFIER_WORDS = QUALIFIER_WORDS
_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """Arguments for chat.postMessage / chat.update: `text` is the notification fallback."""

    text: str
    blocks: list[Block]
    metadata: dict[str, Any]


# --- text helpers


def strip_invisible(text: str) -> str:
    """Remove control, bidi and zero-width characters; normalise newlines to LF, tabs to spaces."""
    text = _NEWLINES.sub("\n", text)
    return _INVISIBLE.sub("", text).replace("\t", " ")


def one_line(text: str) -> str:
    """Invisible characters removed and every whitespace run (newlines too) made one space."""
    return _WHITESPACE.sub(" ", strip_invisible(text)).strip()


def escape(text: str, *, mrkdwn: bool = True) -> str:
    """Make feed text safe for a Slack text object (see the module docstring for the rules).

    `mrkdwn=False` is for plain_text objects: markers are left alone there. Newlines are kept.
    """
    return strip_invisible(text).translate(_MRKDWN_TABLE if mrkdwn else _PLAIN_TABLE)


def _width(ch: str) -> int:
    """Length of one cleaned character once escaped."""
    return len(_SLACK_ESCAPES[ch]) if ch in _SLACK_ESCAPES else 1


def fit(text: str, limit: int, *, mrkdwn: bool = True, single_line: bool = True) -> str:
    """`escape(text)`, cut so that the ESCAPED result is at most `limit` characters.

    A cut result ends with "…" and never splits an entity such as ``&amp;``.
    """
    if limit <= 0:
        return ""
    cap = limit * _SCAN_FACTOR
    truncated = len(text) > cap
    raw = text[:cap]
    clean = one_line(raw) if single_line else strip_invisible(raw)
    table = _MRKDWN_TABLE if mrkdwn else _PLAIN_TABLE
    out = clean.translate(table)
    if len(out) <= limit and not truncated:
        return out
    budget = limit - len(ELLIPSIS)
    used = 0
    end = len(clean)
    for i, ch in enumerate(clean):
        w = _width(ch)
        if used + w > budget:
            end = i
            break
        used += w
    return clean[:end].translate(table).rstrip() + ELLIPSIS


def _cut_plain(text: str, limit: int) -> str:
    """For terminals: invisible characters removed, one line, at most `limit` characters."""
    clean = one_line(text[: limit * _SCAN_FACTOR])
    if len(clean) <= limit and len(text) <= limit * _SCAN_FACTOR:
        return clean
    return clean[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


# --- URLs


def safe_url(url: str) -> str | None:
    """The URL to put in a ``<url|label>`` link, or None when it must not be linked.

    Only absolute http/https URLs with a host and without user-info (``https://bank.com@evil``)
    are linked; ones containing control/invisible characters or longer than URL_MAX are not.
    ``|``, ``<``, ``>``, spaces and quotes are percent-encoded so they cannot end the link.
    """
    if len(url) > URL_MAX * 2:  # cheap early exit before scanning huge inputs
        return None
    url = url.strip()
    if not url or len(url) > URL_MAX or _INVISIBLE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or has_userinfo:
        return None
    for ch, enc in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20"), ('"', "%22")):
        url = url.replace(ch, enc)
    if _WHITESPACE.search(url) or len(url) > URL_MAX:
        return None
    return url


def display_host(url: str) -> str:
    """The URL's host, ASCII (punycode) so look-alike Unicode hosts show as ``xn--``; '' if none."""
    if len(url) > URL_MAX * 2:
        return ""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = one_line(host)
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


# --- pieces


def figure_text(fig: CasualtyFigure) -> str:
    """'at least 17', '10-12', 'about 40', '3', '~24 (vague)' - no kind, no escaping needed."""
    if fig.qualifier == "range" and fig.count_high is not None:
        return f"{fig.count}\u2013{fig.count_high}"
    if fig.qualifier == "vague":
        return f"~{fig.count} (vague)"
    return f"{_QUALIFIER_WORDS.get(fig.qualifier, '')}{fig.count}"


def _published(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _header(alert: Alert) -> Block:
    emoji = _SEVERITY_EMOJI.get(alert.severity.lower(), ":bell:")
    label = f"{alert.severity.upper()} · {alert.watch}"
    if alert.kind == "update":
        label = f"UPDATE · {label}"
    text = fit(f"{emoji} {label}", MAX_HEADER_TEXT, mrkdwn=False)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(text: str) -> Block:
    # The budgets above keep every section under MAX_SECTION_TEXT (worst case ~2.6k chars).
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _title_section(alert: Alert) -> Block:
    title = fit(alert.title, TITLE_MAX) or "(untitled)"
    url = safe_url(alert.url)
    headline = f"*<{url}|{title}>*" if url else f"*{title}*"
    details = [fit(alert.source, SOURCE_MAX) or "unknown source", _published(alert.published)]
    host = display_host(alert.url) if url else ""
    if host:
        details.append(fit(host, 255))
    if alert.sources_count > 1:
        details.append(f"{alert.sources_count} sources")
    return _section(headline + "\n" + " · ".join(details))


def _casualty_line(kind: str, fig: CasualtyFigure) -> str:
    line = f"• {kind}: {figure_text(fig)}"
    if not fig.current:
        line += f" (not current: {fit(fig.reason, 100) or 'see evidence'})"
    evidence = fit(fig.text, EVIDENCE_MAX)
    if evidence:
        line += f" — “{evidence}”"
    return line


def _casualty_section(alert: Alert) -> Block | None:
    lines = [
        _casualty_line(kind, fig)
        for kind, fig in (("killed", alert.killed), ("injured", alert.injured))
        if fig is not None
    ]
    return _section("*Casualties*\n" + "\n".join(lines)) if lines else None


def _reports_text(alert: Alert, escape_text: bool = True) -> str:
    """'17 per OC Media · 12 per Azatutyun': each source's latest toll, when sources differ."""
    cut = (lambda t, n: fit(t, n)) if escape_text else _cut_plain
    parts = [f"{_QUALIFIER_WORDS.get(f.qualifier, '')}{f.count} per {cut(f.source, 60)}"
             for f in alert.reports[:REPORTS_SHOWN]]
    more = len(alert.reports) - REPORTS_SHOWN
    return " · ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _change_section(alert: Alert) -> Block | None:
    lines = []
    if alert.change:
        lines.append(f"*{fit(alert.change, CHANGE_MAX)}*")
    if alert.reports:
        lines.append(f"Killed, by source: {_reports_text(alert)}")
    return _section("\n".join(lines)) if lines else None


def _terms_section(alert: Alert) -> Block | None:
    shown: list[str] = []
    used = consumed = 0
    for term in alert.matched_terms:  # lazily: only the terms that are shown get escaped
        if len(shown) >= TERMS_SHOWN:
            break
        text = fit(term, 100)
        if used + len(text) + 2 > TERMS_MAX:
            break
        consumed += 1
        if text:
            shown.append(text)
            used += len(text) + 2
    if not shown:
        return None
    more = len(alert.matched_terms) - consumed
    return _section("*Matched:* " + ", ".join(shown) + (f" (+{more} more)" if more else ""))


def _excerpt_section(alert: Alert) -> Block | None:
    excerpt = fit(alert.excerpt, EXCERPT_MAX)
    return _section(excerpt) if excerpt else None


def _footer(alert: Alert) -> Block:
    watch, alert_id = fit(alert.watch, 100), fit(alert.alert_id, 100)
    text = f"score {alert.score:.1f} · watch {watch} · alert {alert_id}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _fallback_text(alert: Alert) -> str:
    text = f"[{fit(alert.severity.upper(), 50)}] {fit(alert.watch, 100)}: "
    if alert.kind == "update" and alert.change:
        text = f"[UPDATE {fit(alert.severity.upper(), 50)}] {fit(alert.watch, 100)}: "
        text += fit(alert.change, CHANGE_MAX) + " — "
    text += fit(alert.title, FALLBACK_TITLE_MAX) or "(untitled)"
    if alert.killed is not None:
        text += f" (killed: {figure_text(alert.killed)})"
    return text


def build_metadata(alert: Alert) -> dict[str, Any]:
    """Slack message metadata: lets `find_posted` recognise the message by `alert_id`."""
    return {
        "event_type": "watcher_alert",
        "event_payload": {
            "alert_id": alert.alert_id,
            "story_id": alert.story_id,
            "watch": alert.watch,
            "severity": alert.severity,
            "killed": alert.killed.count if alert.killed is not None else None,
            "injured": alert.injured.count if alert.injured is not None else None,
        },
    }


BURST_SHOWN = 25  # stories listed in a burst message


def _burst_blocks(alert: Alert) -> list[Block]:
    """One message for many lower-severity stories (burst protection): linked titles."""
    head = fit(f":newspaper: {len(alert.items)} new stories · {alert.watch}", MAX_HEADER_TEXT,
               mrkdwn=False)
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": head,
                                                        "emoji": True}}]
    lines = []
    for title, url, source in alert.items[:BURST_SHOWN]:
        t = fit(title, 200) or "(untitled)"
        link = safe_url(url)
        lines.append(f"• {f'<{link}|{t}>' if link else t} ({fit(source, 60) or 'unknown'})")
    if len(alert.items) > BURST_SHOWN:
        lines.append(f"… and {len(alert.items) - BURST_SHOWN} more")
    chunk: list[str] = []
    for line in lines:  # every line is < 400 characters: sections stay under the limit
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    blocks.append(_footer(alert))
    return blocks


def build_message(alert: Alert) -> SlackMessage:
    """The complete, limit-respecting Slack message for one alert."""
    if alert.kind == "burst":
        text = fit(f"{len(alert.items)} new stories for {alert.watch}", FALLBACK_TITLE_MAX)
        return SlackMessage(text=text, blocks=_burst_blocks(alert)[:MAX_BLOCKS],
                            metadata=build_metadata(alert))
    blocks: list[Block] = [_header(alert), _title_section(alert)]
    for block in (_change_section(alert), _casualty_section(alert), _terms_section(alert),
                  _excerpt_section(alert)):
        if block is not None:
            blocks.append(block)
    blocks.append(_footer(alert))
    return SlackMessage(
        text=_fallback_text(alert), blocks=blocks[:MAX_BLOCKS], metadata=build_metadata(alert)
    )


# --- console


def format_console(alert: Alert) -> str:
    """A multi-line plain-text rendering for terminals (no Slack escaping; invisibles removed)."""
    c = _cut_plain
    head = f"[{c(alert.severity.upper(), 50)}] {c(alert.watch, 100)}  score {alert.score:.1f}"
    if alert.kind == "update":
        head = "[UPDATE] " + head
    if alert.sources_count > 1:
        head += f"  ({alert.sources_count} sources)"
    if alert.kind == "burst":
        lines = [f"[BURST] {c(alert.watch, 200)}: {len(alert.items)} new stories"]
        lines += [f"  - {c(t, 200)} ({c(s, 60)}) {c(u, URL_MAX)}" for t, u, s in alert.items]
        return "\n".join(lines) + "\n"
    lines = [head]
    if alert.change:
        lines.append(c(alert.change, CHANGE_MAX))
    lines.append(c(alert.title, CONSOLE_FIELD_MAX) or "(untitled)")
    url = c(alert.url, URL_MAX)
    if url:
        lines.append(url)
    source = c(alert.source, SOURCE_MAX) or "unknown source"
    lines.append(f"{source} · {_published(alert.published)}")
    figures = [
        f"{kind}: {figure_text(fig)}"
        + ("" if fig.current else f" (not current: {c(fig.reason, 100)})")
        for kind, fig in (("killed", alert.killed), ("injured", alert.injured))
        if fig is not None
    ]
    if figures:
        lines.append("Casualties: " + "; ".join(figures))
    if alert.reports:
        lines.append("Killed, by source: " + _reports_text(alert, escape_text=False))
    terms = [c(t, 100) for t in alert.matched_terms[:TERMS_SHOWN]]
    if terms:
        more = len(alert.matched_terms) - len(terms)
        lines.append("Matched: " + ", ".join(terms) + (f" (+{more} more)" if more else ""))
    excerpt = c(alert.excerpt, CONSOLE_FIELD_MAX)
    if excerpt:
        lines.append(excerpt)
    lines.append(f"alert {c(alert.alert_id, 100)} · story {c(alert.story_id, 100)}")
    return "\n".join(lines) + "\n"
