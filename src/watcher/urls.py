"""Canonical article URLs: one key for the URL variants under which one item circulates."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that only track the reader, never select content.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "ocid", "cmpid", "cmp", "icid",
        "ito", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "sr_share",
        "smid", "smtyp", "xtor", "at_medium", "at_campaign", "guccounter", "guce_referrer",
        "guce_referrer_sig", "outputtype", "amp", "ref", "ref_src", "referrer", "s_cid",
        "rss", "share", "spref", "__twitter_impression", "__tn__",
        "soc_src", "soc_trk", "ftag", "taid", "intcmp", "int_source",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "hmb_", "mtm_", "at_", "ga_", "ns_", "oly_", "vero_")
_MOBILE_PREFIXES = ("www.", "m.", "mobile.", "amp.", "edition.")
_AMP_PATH = re.compile(r"(?:/amp/?$|/amp(?=/)|\.amp(?=\.html?$|$)|-amp(?=\.html?$))", re.I)


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host (one that cannot be split, e.g. "http://[::1/": no)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


# Tabs and line breaks inside a link are dropped, as browsers drop them (WHATWG URL); the other
# control characters (NUL among them: PostgreSQL refuses it in text) are percent-encoded.
_URL_DROPPED = re.compile(r"[\t\n\r]+")
_URL_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def absolute_url(link: str, base: str) -> str | None:
    """Resolve `link` against `base`; None unless the result is an absolute http(s) URL."""
    link = (link or "").strip()
    if not link.isprintable():  # (rare: most links are checked by this alone)
        link = _URL_CONTROLS.sub(lambda m: f"%{ord(m.group()):02X}", _URL_DROPPED.sub("", link))
    if not link:
        return None
    try:
        url = urljoin(base, link)
    except ValueError:
        return None
    return url if is_http_url(url) else None


# A key longer than this (in UTF-8 bytes) is cut, and ends in a digest of the whole key: the store
# keeps keys in an indexed column of 2,000 characters, and PostgreSQL refuses an index entry of
# more than ~2,700 bytes. (A feed may link anything: one such link must not fail the insert of
# a whole run.)
MAX_KEY_BYTES = 2000
_KEPT_BYTES = MAX_KEY_BYTES - 72  # the cut key's start; "#sha256=" and 64 hex digits follow


def canonical_url(url: str) -> str:
    """A comparison key for an article URL.

    Lower-cased scheme-less host without www/m/mobile/amp prefixes, default port dropped, AMP path
    variants folded, tracking parameters and the fragment removed, remaining parameters sorted,
    trailing slash dropped. The result is a key, not a fetchable URL (it keeps "https://" so it
    still reads like one). A key over `MAX_KEY_BYTES` is its start and the SHA-256 of the whole.
    """
    key = _key(url)
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_KEY_BYTES:
        return key
    start = raw[:_KEPT_BYTES].decode("utf-8", "ignore")  # (a character cut in two is dropped)
    return f"{start}#sha256={hashlib.sha256(raw).hexdigest()}"


def _key(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return url.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _MOBILE_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix):]
                changed = True
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_EXACT and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    query.sort()
    return urlunsplit(("https", netloc, path, urlencode(query), ""))
