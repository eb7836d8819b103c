"""The story index's inner loops: tokens, term counts, shingles, term weights, candidate counts,
dot products, shingle overlaps, posting compaction.

`watcher.stories` calls these for every article it assigns. This file is their definition and
the fallback; `storymath.c` (built by setup.py, used as `watcher._compiled` says) computes the
same results in C, to the bit: the same float32 weights, the same sums in the same order, the
same tie-breaks (`tests/test_storymath.py` compares the two on random and real input).

Vectors are (terms, weights): a sequence of distinct strings and, as bytes, one native 4-byte
float per term (`array("f").tobytes()`).

The C version asks a little more of its arguments, all of which `watcher.stories` gives: a dict
(not any mapping) for a query and for postings, ints for the counts and limits (`need`, `tail`,
`budget`, `k`, `max_terms`), and `analyse` returning a (str, int, int, int) tuple. Its `score`
finds a document's terms in a query whose terms are all interned strings by identity: a term
equal to one of them must be that same string (the index interns every article term it keeps),
and it reads such a query once, when called. Its TokenCache keeps the tokens of up to 38 bytes
only (a longer one is analysed again each time) and looks a token up when it comes to it, where
this one looks a call's tokens up first: `analyse` (pure) is called for other tokens, with the
same results.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence, Set
from itertools import chain, compress, repeat
from operator import and_, is_, mul, or_, truediv
from typing import Any, TypeAlias

__all__ = ["SAMPLE_TABLES", "SHINGLE_SAMPLE_MIN", "TokenCache", "candidates", "candidates_of",
           "compact", "count", "dot", "overlap", "score", "shingles", "tokens", "vector", "weigh"]


def _check(terms: Sequence[str], weights: bytes) -> None:
    if len(weights) != 4 * len(terms):
        raise ValueError(f"a vector of {len(terms)} terms needs {4 * len(terms)} bytes of "
                         f"weights, got {len(weights)}")


def dot(query: Mapping[str, float], terms: Sequence[str], weights: bytes,
        need: int) -> float | None:
    """The dot product of `query` (term -> weight) and a vector, summed over the shared terms
    in the vector's order; None when fewer than `need` terms are shared (a term whose query
    weight is 0.0 is not shared)."""
    _check(terms, weights)
    vals = list(map(query.get, terms, repeat(0.0)))
    if len(vals) - vals.count(0.0) < need:
        return None
    return sum(map(mul, compress(memoryview(weights).cast("f"), vals), filter(None, vals)), 0.0)


def score(query: Mapping[str, float], docs: Sequence[Any], need: int) -> list[tuple[float, Any]]:
    """(dot(query, d.terms, d.weights, need) or 0.0, d) for each of `docs`, in their order."""
    get = query.get
    zero = repeat(0.0)
    out: list[tuple[float, Any]] = []
    for d in docs:  # (dot, inline: this runs for every candidate of every article)
        terms, weights = d.terms, d.weights
        if len(weights) != 4 * len(terms):
            _check(terms, weights)
        vals = list(map(get, terms, zero))
        if len(vals) - vals.count(0.0) >= need:
            out.append((sum(map(mul, compress(memoryview(weights).cast("f"), vals),
                                filter(None, vals)), 0.0) or 0.0, d))
        else:
            out.append((0.0, d))
    return out


def count(parts: Sequence[Sequence[str]], weights: Sequence[float]) -> Mapping[str, float]:
    """Weighted term counts: a term's count in each part times the part's weight, summed in the
    parts' order; terms in order of first occurrence, the "" term (a stopword) left out. With
    every weight a whole number from 1 to 8 the counts are ints, else floats (weights taken as
    floats). A dict."""
    if len(parts) != len(weights):
        raise ValueError(f"count(): {len(parts)} parts and {len(weights)} weights")
    weights = list(map(float, weights))
    if all(0 < w <= 8 and w == int(w) for w in weights):
        seq: list[str] = []
        for part, w in zip(parts, weights, strict=True):
            for _ in range(int(w)):
                seq += part
        counted = dict(Counter(seq))  # (counted in C)
        counted.pop("", None)
        return counted
    counts: dict[str, float] = {}
    cget = counts.get
    for part, w in zip(parts, weights, strict=True):
        for term, n in Counter(part).items():
            counts[term] = cget(term, 0.0) + n * w
    counts.pop("", None)
    return counts


def candidates_of(postings: Mapping[str, bytes | bytearray], terms: Sequence[str], tail: int,
                  budget: int, k: int) -> list[int]:
    """`candidates` of the posting lists of `terms` found in `postings` (a dict; empty lists
    left out), the shortest first (ties in the order of `terms`)."""
    lists = [p for p in map(postings.get, terms) if p]
    lists.sort(key=len)
    return candidates(lists, tail, budget, k)


def compact(postings: Mapping[str, bytes | bytearray], live: Mapping[int, Any]
            ) -> dict[str, bytearray]:
    """The posting lists (a dict of bytes-like lists of 4-byte unsigned ints) keeping only the
    values that are keys of the dict `live` (ints), in their order, as new bytearrays; a list
    left empty is left out."""
    if not all(type(k) is int for k in live):
        raise TypeError("compact(): the live values must be ints")
    fresh: dict[str, bytearray] = {}
    for term, plist in postings.items():
        raw = memoryview(plist).cast("B")
        if len(raw) % 4:
            raise ValueError(f"a posting list holds 4-byte values, got {len(raw)} bytes")
        kept = array("I", [s for s in raw.cast("I") if s in live])
        if kept:
            fresh[term] = bytearray(kept.tobytes())
    return fresh


def candidates(lists: Sequence[bytes | bytearray], tail: int, budget: int, k: int) -> list[int]:
    """The `k` values counted most often in posting lists (4-byte unsigned ints each), in
    increasing order. Lists are walked in the given order, each for its last `tail` values
    when longer (all of it when `tail` is 0), until `budget` values were walked; ties between
    counts go to the value first walked."""
    if tail < 0 or k < 0:
        raise ValueError("candidates(): tail and k must not be negative")
    walked = array("I")
    for plist in lists:
        if len(plist) % 4:
            raise ValueError(f"a posting list holds 4-byte values, got {len(plist)} bytes")
        if len(plist) > 4 * tail:
            walked.frombytes(plist[-4 * tail :])
            budget -= tail
        else:
            walked.frombytes(plist)
            budget -= len(plist) // 4
        if budget <= 0:
            break
    hits: Counter[int] = Counter(walked)
    top = list(hits) if len(hits) <= k else sorted(hits, key=hits.__getitem__, reverse=True)[:k]
    top.sort()
    return top


def weigh(terms: Sequence[str], idfs: Sequence[float], tfs: Sequence[float],
          proper: Set[str], entity: float, max_terms: int) -> tuple[tuple[str, ...], bytes]:
    """An article's vector: weight tf * idf (times `entity` for a term in `proper`), the
    `max_terms` strongest kept (ties in the given order), L2-normalised, as 4-byte floats.
    (tfs and idfs are taken as floats.)"""
    if max_terms < 0:
        raise ValueError("max_terms must not be negative")
    if not len(terms) == len(idfs) == len(tfs):
        raise ValueError(f"weigh needs as many idfs and tfs as terms, got {len(terms)} terms, "
                         f"{len(idfs)} idfs and {len(tfs)} tfs")
    weights = list(map(mul, map(float, tfs), map(float, idfs)))
    return _weigh(terms, weights, proper, entity, max_terms)


def _weigh(terms: Sequence[str], weights: list[float], proper: Set[str], entity: float,
           max_terms: int) -> tuple[tuple[str, ...], bytes]:
    for i in compress(range(len(terms)), map(proper.__contains__, terms)):
        weights[i] *= entity
    if any(map(math.isnan, weights)):  # (no order to sort them in)
        term = terms[list(map(math.isnan, weights)).index(True)]
        raise ValueError(f"weigh(): the weight of term {term!r} is not a number")
    top = sorted(range(len(terms)), key=weights.__getitem__, reverse=True)[:max_terms]
    if not top:
        return (), b""
    top_weights = list(map(weights.__getitem__, top))
    norm = math.sqrt(sum(map(mul, top_weights, top_weights))) or 1.0
    return (tuple(map(terms.__getitem__, top)),
            array("f", map(truediv, top_weights, repeat(norm))).tobytes())


_TF_CACHE: dict[float, float] = {}


def _tf(count: float) -> float:
    """Sub-linear term frequency: 1 + ln(count) above 1."""
    w = 1.0 + math.log(count) if count > 1.0 else count
    if len(_TF_CACHE) < 10_000:
        _TF_CACHE[count] = w
    return w


def vector(counts: Mapping[str, float], idf_cache: MutableMapping[str, float],
           df: MutableMapping[str, int], scale: float, proper: Set[str], entity: float,
           max_terms: int) -> tuple[tuple[str, ...], bytes]:
    """An article's vector from its term counts (`weigh`, with tf = 1 + ln(count) above 1 and
    the idf of `idf_cache`, computed first for a term not in it as ln(scale / (df + 1)) + 0.1
    from the document frequencies `df` and stored there); then the article's terms are
    counted in `df` (a new term added in the order of `counts`). Counts must be finite numbers,
    terms str (strings, not a subclass) and `proper` a container, checked before anything is
    changed; the terms are interned (those returned, and those added to `idf_cache` and `df`).
    `idf_cache` and `df` must be two different dicts."""
    if max_terms < 0:
        raise ValueError("max_terms must not be negative")
    if idf_cache is df:
        raise ValueError("vector(): the idf cache and the document frequencies must be two dicts")
    if not all(map(math.isfinite, counts.values())):  # (TypeError for a count that is no number)
        term = next(t for t, c in counts.items() if not math.isfinite(c))
        raise ValueError(f"vector(): the count of term {term!r} is not a finite number")
    if not all(type(term) is str for term in counts):
        term = next(t for t in counts if type(t) is not str)
        raise TypeError(f"vector(): a term must be a str, got {term!r}")
    tfs = list(map(_TF_CACHE.get, counts.values()))
    if not all(tfs):
        tfs = [w or _tf(c) for w, c in zip(tfs, counts.values(), strict=True)]
    terms = list(map(sys.intern, counts))  # (see score: the terms kept are found by identity)
    if terms:
        _ = terms[0] in proper  # (a `proper` of the wrong type fails here, before any change)
    idfs: list[float | None] = list(map(idf_cache.get, terms))
    if None in idfs:
        log = math.log
        dget = df.get
        for i in compress(range(len(idfs)), map(is_, idfs, repeat(None))):
            term = terms[i]
            idfs[i] = idf_cache[term] = log(scale / (dget(term, 0) + 1.0)) + 0.1
    if isinstance(df, Counter):
        df.update(terms)  # (in C)
    else:
        for term in terms:
            df[term] = df.get(term, 0) + 1
    # (tf 1 as an int: 1 * idf is 1.0 * idf)
    return _weigh(terms, list(map(mul, tfs, idfs)), proper, entity, max_terms)


SHINGLE_SAMPLE_MIN = 64  # a long text keeps a 1/2^k sample of its shingles, at least this many
_LOW = 0xFF
_HIGH = 0xFFFFFF00  # a shingle value is 32 bits: 24 of the shingle's hash, 8 of its first word


def _sample_table(m: int) -> bytes:
    """A bytes.translate table: a low byte b to 1 when b is 0 modulo m (a power of two), else 0."""
    return bytes(0 if b & (m - 1) else 1 for b in range(256))


SAMPLE_TABLES = {1 << k: _sample_table(1 << k) for k in range(9)}


_LOW_BYTE = 0 if sys.byteorder == "little" else 3  # where a 4-byte value's low byte is


def _thin(values: Sequence[int], raw: bytes, rate: int) -> list[int]:
    """The sample values h with h & (rate - 1) == 0 (`raw`: `values` as 4-byte unsigned
    ints); from their low bytes at a rate `shingles` chooses."""
    table = SAMPLE_TABLES.get(rate)
    if table is None:
        return [h for h in values if not h & (rate - 1)]
    return list(compress(values, raw[_LOW_BYTE::4].translate(table)))


Sample: TypeAlias = "bytes | bytearray | memoryview | array[int]"  # 4-byte unsigned values


def overlap(ra: int, a: Sample, rb: int, b: Sample) -> tuple[float, float]:
    """(Jaccard, containment of the smaller in the larger) of two shingle samples (`shingles`'
    values, as 4-byte unsigned ints in a bytes-like object) taken at rates `ra` and `rb` (ints
    from 1 to 2**32 - 1; `shingles` chooses powers of two), compared at the higher rate: the
    other sample keeps its values h with h & (rate - 1) == 0 (for a power of two, h % rate
    == 0). The first sample counts as a set, the second as it is; (0.0, 0.0) when either is
    empty."""
    for rate in (ra, rb):
        if not isinstance(rate, int) or not 1 <= rate < 1 << 32:
            raise ValueError(f"overlap(): a sample rate must be an int from 1 to 2**32 - 1, "
                             f"got {rate!r}")
    a, b = memoryview(a).tobytes(), memoryview(b).tobytes()
    if len(a) % 4 or len(b) % 4:
        raise ValueError(f"overlap(): samples are 4-byte values, got {len(a)} and {len(b)} "
                         f"bytes")
    va: Sequence[int] = memoryview(a).cast("I")
    vb: Sequence[int] = memoryview(b).cast("I")
    if ra < rb:
        va = _thin(va, a, rb)
    elif rb < ra:
        vb = _thin(vb, b, ra)
    mine = set(va)
    inter = len(mine.intersection(vb))
    na, nb = len(mine), len(vb)
    if not na or not nb:
        return 0.0, 0.0
    return inter / (na + nb - inter), inter / min(na, nb)


Info = tuple[str, int, int, int]  # a token's (index term or "", word id, its low byte, flags)


class TokenCache:
    """The Info of tokens seen (by `tokens`): at most `max_entries`, all forgotten when full.
    (The C version keeps them in a compact table of its own.)"""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a TokenCache holds at least 1 entry")
        self.max_entries = max_entries
        self.infos: dict[bytes, Info] = {}

    def __len__(self) -> int:
        return len(self.infos)

    def clear(self) -> None:
        self.infos.clear()

    def analysed(self, token: bytes, analyse: Callable[[bytes], Info]) -> Info:
        """The token's Info, from `analyse` when not remembered (then remembered)."""
        info = self.infos.get(token)
        if info is None:
            info = analyse(token)
            if len(self.infos) >= self.max_entries:
                self.infos.clear()
            self.infos[token] = info
        return info


def tokens(lines: Sequence[str], table: bytes, cache: TokenCache,
           analyse: Callable[[bytes], Info]) -> tuple[list[str], bytes, bytes, bytes, list[int]]:
    """The tokens of lines and what is known of each: a token is a run of bytes of the line's
    UTF-8 (errors replaced) mapped through `table` (bytes.translate) without whitespace; its
    Info is `analyse(token)`'s, remembered in `cache`. Returns the tokens' terms, word ids
    (4-byte unsigned ints), low bytes and flags (one byte each), and the number of tokens of
    each line."""
    raws = [line.encode("utf-8", "replace").translate(table).split() for line in lines]
    flat = list(chain.from_iterable(raws))
    found: list[Info | None] = list(map(cache.infos.get, flat))
    if not all(found):  # (faster than `None in found`: no comparisons)
        found = [i or cache.analysed(t, analyse) for i, t in zip(found, flat, strict=True)]
    lengths = list(map(len, raws))
    if not found:
        return [], b"", b"", b"", lengths
    terms, ids, lows, flags = zip(*found, strict=True)  # (no None left)
    return list(terms), array("I", ids).tobytes(), bytes(lows), bytes(flags), lengths


def shingles(ids: bytes, lows: bytes) -> tuple[int, bytes]:
    """A consistent sample of the hashed word 3-shingles of a text, from its word ids (4-byte
    unsigned ints) and their low bytes (`lows`, one per id), as 4-byte unsigned ints in the
    order of a set of them.

    A shingle is kept when its first word's id is 0 modulo the rate m (a power of two chosen
    from the text's length, at most 256). The kept value (32 bits) is 24 bits of the shingle's
    hash (Python's hash of the tuple of three ids) and the first word's low 8 bits, so a sample
    can be thinned to any coarser rate later. A text of fewer than three words keeps its ids."""
    if len(ids) != 4 * len(lows):
        raise ValueError(f"shingles needs one low byte per 4-byte id, got {len(ids)} bytes of "
                         f"ids and {len(lows)} low bytes")
    words = memoryview(ids).cast("I")
    n = len(words) - 2
    if n < 1:
        return 1, array("I", set(words)).tobytes()
    m = 1
    while n // (2 * m) >= SHINGLE_SAMPLE_MIN and m < _LOW:
        m *= 2
    triples: Iterable[tuple[int, int, int]] = zip(words, words[1:], words[2:], strict=False)
    firsts: Iterable[int] = lows  # (zip and map stop at the shortest: the n triples)
    if m > 1:
        keep = lows.translate(SAMPLE_TABLES[m])  # id % m == 0: its low byte % m == 0
        triples = compress(triples, keep)
        firsts = compress(lows, keep)
    values = map(or_, map(and_, map(hash, triples), repeat(_HIGH)), firsts)
    return m, array("I", set(values)).tobytes()
