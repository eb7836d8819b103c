"""watcher.storymath: its C version (storymath.c) gives exactly the results of its source, on
random input built to hit ties, zeros and edge sizes, and inside the story index (the same
assignments and the same snapshot bytes on a stream of articles)."""

from __future__ import annotations

import copy
import importlib.machinery
import json
import pickle
import random
import struct
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import watcher
from watcher import _compiled, stories
from watcher.stories import StoryDoc, StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "corpus" / "stories" / "dev.jsonl"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture(scope="module")
def both() -> tuple[ModuleType, ModuleType]:
    if watcher.COMPILED.get("storymath") != "compiled":
        verdict = watcher.COMPILED.get("storymath")
        pytest.skip(f"watcher.storymath runs from source here ({verdict!r})")
    from watcher import storymath

    assert storymath.__file__ is not None and storymath.__file__.endswith(SUFFIX)
    return storymath, _compiled.load_source("storymath")


def _f32(values: list[float]) -> bytes:
    return array("f", values).tobytes()


def _vocab(rng: random.Random, n: int) -> list[str]:
    return [f"t{i}" for i in rng.sample(range(10 * n), n)]


def _weight(rng: random.Random) -> float:
    # float32 values, with repeats (ties) and the odd zero
    return rng.choice([0.0, 0.25, 0.5, 0.125, struct.unpack("f", struct.pack("f", rng.random()))[0],
                       rng.random(), rng.random()])


@pytest.mark.parametrize("interned", [False, True])
def test_dot_and_score(both: tuple[ModuleType, ModuleType], interned: bool) -> None:
    """Interned terms (as the index keeps them) take the C score's lookup by address; others,
    and a query too long for its table, the dict's."""
    c, py = both
    rng = random.Random(1 + interned)

    class Doc:
        def __init__(self, terms: tuple[str, ...], weights: bytes) -> None:
            self.terms, self.weights = terms, weights

    for _ in range(3000):
        vocab = _vocab(rng, rng.choice([rng.randint(1, 60), 200]))
        if interned:
            vocab = [sys.intern(t) for t in vocab]
        shared = rng.sample(vocab, rng.randint(0, len(vocab)))
        query: dict[str, Any] = {t: _weight(rng) for t in shared}
        if query and rng.random() < 0.1:
            query[rng.choice(list(query))] = rng.choice([1, 0, 2])  # ints are numbers too
        docs = []
        for _ in range(rng.randint(0, 12)):
            terms = tuple(rng.sample(vocab, rng.randint(0, len(vocab))))
            docs.append(Doc(terms, _f32([rng.random() for _ in terms])))
        need = rng.randint(0, 4)
        for d in docs:
            assert repr(c.dot(query, d.terms, d.weights, need)) == repr(
                py.dot(query, d.terms, d.weights, need))
        got, want = c.score(query, docs, need), py.score(query, docs, need)
        assert [(repr(s), id(d)) for s, d in got] == [(repr(s), id(d)) for s, d in want]


def test_count(both: tuple[ModuleType, ModuleType]) -> None:
    """The same counts, of the same types, in the same order: whole weights from 1 to 8 give
    ints, others floats (added part by part); the "" term is left out."""
    c, py = both
    rng = random.Random(5)
    for _ in range(3000):
        vocab = ["", *_vocab(rng, rng.randint(1, 40))]
        if rng.random() < 0.5:
            vocab = [sys.intern(t) for t in vocab]
        parts = [[rng.choice(vocab) for _ in range(rng.randint(0, 30))]
                 for _ in range(rng.randint(0, 5))]
        if parts and rng.random() < 0.2:
            parts[0] = [(t + "x")[:-1] for t in parts[0]]  # equal strings, not the same ones
        weights = [rng.choice([1, 2, 3.0, 8, 0.5, 2.5, 9, 0, -1.0, 1e-3, float("nan"),
                               2**60 + 1]) for _ in parts]
        got, want = c.count(parts, weights), py.count(parts, weights)
        assert type(got) is type(want) is dict
        assert [(k, repr(v)) for k, v in got.items()] == [(k, repr(v)) for k, v in want.items()]
    assert c.count([["a", "", "b", "a"], ["b"]], [3, 2.0]) == {"a": 6, "b": 5}
    assert c.count([["a", "b"], ["a"]], [0.5, 1.5]) == {"a": 2.0, "b": 0.5}
    for module in (c, py):
        with pytest.raises(ValueError):
            module.count([["a"]], [1.0, 2.0])
        with pytest.raises(TypeError):
            module.count([[["unhashable"]]], [1.0])


def test_overlap(both: tuple[ModuleType, ModuleType]) -> None:
    """The same (Jaccard, containment) to the bit, the finer sample thinned to the coarser
    rate; the first sample taken as a set, the second with its repeats."""
    c, py = both
    rng = random.Random(7)
    rates = [1, 2, 4, 8, 16, 64, 256, 3, 6, 1000, 2**31, 2**32 - 1]
    for _ in range(5000):
        pool = [rng.getrandbits(32) for _ in range(rng.randint(1, 300))]
        pool += [v & ~0xFF for v in pool[: len(pool) // 2]]  # values every rate keeps
        a = rng.sample(pool, rng.randint(0, min(len(pool), 150)))
        b = rng.sample(pool, rng.randint(0, min(len(pool), 150)))
        if b and rng.random() < 0.2:
            b += b[: rng.randint(1, len(b))]  # repeats
        if a and rng.random() < 0.1:
            a += a[:3]
        ra, rb = rng.choice(rates), rng.choice(rates)
        a_raw, b_raw = array("I", a).tobytes(), array("I", b).tobytes()
        got, want = c.overlap(ra, a_raw, rb, b_raw), py.overlap(ra, a_raw, rb, b_raw)
        assert repr(got) == repr(want)
        if rng.random() < 0.1:  # any bytes-like object of 4-byte values
            assert c.overlap(ra, array("I", a), rb, memoryview(b_raw)) == want
            assert py.overlap(ra, array("I", a), rb, memoryview(b_raw)) == want
    same = array("I", [0, 256, 512]).tobytes()
    assert c.overlap(1, same, 1, same) == (1.0, 1.0)
    # values made to collide in a hash table (multiples of the inverse of a multiplier, runs
    # of consecutive values): the same results
    inverse = pow(0x9E3779B1, -1, 2**32)

    def unmix(h: int) -> int:  # the inverse of the C table's 32-bit mix (murmur3's finaliser)
        m = 2**32 - 1
        h ^= h >> 16
        h = h * pow(0xC2B2AE35, -1, 2**32) & m
        h ^= (h >> 13) ^ (h >> 26)
        h = h * pow(0x85EBCA6B, -1, 2**32) & m
        return h ^ (h >> 16)

    for values in ([j * inverse % 2**32 for j in range(3000)], list(range(3000)),
                   [j << 20 for j in range(4096)], [unmix(j) for j in range(3000)]):
        a_raw = array("I", values).tobytes()
        b_raw = array("I", values[::3] + values[:50]).tobytes()
        for ra, rb in ((1, 1), (1, 4), (16, 1)):
            assert c.overlap(ra, a_raw, rb, b_raw) == py.overlap(ra, a_raw, rb, b_raw)
    assert c.overlap(1, b"", 1, same) == (0.0, 0.0)


def test_candidates_of(both: tuple[ModuleType, ModuleType]) -> None:
    c, py = both
    rng = random.Random(13)
    for _ in range(1000):
        vocab = _vocab(rng, rng.randint(1, 30))
        postings = {t: bytearray(array("I", [rng.randint(1, 60) for _ in range(
            rng.choice([0, 1, 3, 3, 8, 40]))]).tobytes()) for t in vocab if rng.random() < 0.7}
        terms = rng.sample(vocab, rng.randint(0, len(vocab)))
        tail, budget, k = rng.choice([0, 2, 64]), rng.choice([5, 40, 400]), rng.randint(0, 12)
        assert c.candidates_of(postings, terms, tail, budget, k) == py.candidates_of(
            postings, terms, tail, budget, k)


def test_compact(both: tuple[ModuleType, ModuleType]) -> None:
    """The same lists, in the same order, of the same type; an emptied list left out."""
    c, py = both
    rng = random.Random(11)
    for _ in range(500):
        serials = [*rng.sample(range(1, 5000), rng.randint(0, 300)), 2**32 - 1, 0]
        live = {s: None for s in rng.sample(serials, rng.randint(0, len(serials)))}
        live.update({2**40: None, -3: None})  # (no posting holds these)
        postings = {f"t{i}": bytearray(array("I", rng.sample(serials, rng.randint(
            1, len(serials)))).tobytes()) for i in range(rng.randint(0, 30)) if serials}
        got, want = c.compact(postings, live), py.compact(postings, live)
        assert list(got.items()) == list(want.items())
        assert all(type(v) is bytearray for v in got.values())
        assert all(a is not b for a, b in zip(got.values(), postings.values(), strict=False))
    for module in both:
        with pytest.raises(TypeError):
            module.compact({"a": bytearray(4)}, {1.0: None})
        with pytest.raises(ValueError):
            module.compact({"a": bytearray(5)}, {1: None})


def test_candidates(both: tuple[ModuleType, ModuleType]) -> None:
    c, py = both
    rng = random.Random(2)
    for _ in range(3000):
        serials = rng.randint(1, 400)
        lists = []
        for _ in range(rng.randint(0, 20)):
            values = sorted(rng.sample(range(1, serials + 1), rng.randint(0, min(serials, 150))))
            lists.append(bytearray(array("I", values).tobytes()) if rng.random() < 0.5
                         else array("I", values).tobytes())
        lists.sort(key=len)
        tail = rng.choice([0, 1, 5, 64, 1000])
        budget = rng.choice([-1, 0, 1, 50, 400, 10_000])
        k = rng.choice([0, 1, 10, 500])
        assert c.candidates(lists, tail, budget, k) == py.candidates(lists, tail, budget, k)
    big = [array("I", [4_000_000_000, 7, 4_000_000_000]).tobytes()]  # 32-bit values
    assert c.candidates(big, 0, 10, 1) == py.candidates(big, 0, 10, 1) == [4_000_000_000]


def test_weigh_and_vector(both: tuple[ModuleType, ModuleType]) -> None:
    c, py = both
    rng = random.Random(3)
    for _ in range(3000):
        vocab = _vocab(rng, rng.randint(0, 120))
        counts: dict[str, float] = {}
        for t in vocab:  # integral counts as the index makes them, or weighted ones
            counts[t] = rng.choice([1, 1, 2, 3, 7, 1.0, 0.5, 2.5])
        proper = frozenset(rng.sample(vocab, rng.randint(0, len(vocab))))
        entity = rng.choice([1.0, 2.0, 2])
        max_terms = rng.choice([0, 1, 5, 50, 500])
        idfs = [rng.choice([0.1, 1.5, 2.25, rng.random() * 8]) for _ in vocab]
        tfs = [rng.choice([1, 1.0, 0.5, 2.0, 1 + rng.random()]) for _ in vocab]
        assert c.weigh(vocab, idfs, tfs, proper, entity, max_terms) == py.weigh(
            vocab, idfs, tfs, proper, entity, max_terms)
        # vector: the same result, and the same idf cache and document frequencies after
        known = rng.sample(vocab, rng.randint(0, len(vocab)))
        cache = {t: rng.random() * 5 for t in known[: len(known) // 2]}
        df = Counter({t: rng.randint(1, 300) for t in known})
        scale = float(rng.randint(200, 20_000))
        cache_c, df_c = dict(cache), Counter(df)
        got = c.vector(counts, cache_c, df_c, scale, proper, entity, max_terms)
        want = py.vector(counts, cache, df, scale, proper, entity, max_terms)
        assert got == want
        assert list(cache_c.items()) == list(cache.items())
        assert list(df_c.items()) == list(df.items())


def test_shingles(both: tuple[ModuleType, ModuleType]) -> None:
    c, py = both
    rng = random.Random(5)
    assert c.SHINGLE_SAMPLE_MIN == py.SHINGLE_SAMPLE_MIN
    assert c.SAMPLE_TABLES == py.SAMPLE_TABLES
    sizes = [0, 1, 2, 3, 4, 130, 260, 520, 1100, 2100, 5000, 9000, 17_000, 40_000]
    sizes += [rng.randint(0, 3000) for _ in range(300)]
    rates = set()
    for size in sizes:
        words = [rng.getrandbits(32) for _ in range(max(1, size // 3))]
        chosen = [rng.choice(words) for _ in range(size)]  # repeats: repeated shingles
        ids, lows = array("I", chosen).tobytes(), bytes(i & 0xFF for i in chosen)
        got, want = c.shingles(ids, lows), py.shingles(ids, lows)
        assert got == want, size
        rates.add(got[0])
    assert rates == {1, 2, 4, 8, 16, 32, 64, 128, 256}  # (every sampling rate was taken)


def test_tokens(both: tuple[ModuleType, ModuleType]) -> None:
    """The same tokens and infos, and `analyse` called for tokens not in the cache (which it
    may clear, as the index's does when full)."""
    c, py = both
    rng = random.Random(6)
    # the index's table, and one that keeps every byte (tabs and line ends split tokens)
    tables = [stories._BYTE_TABLE, bytes(range(256))]
    alphabet = ["a", "B", "z", "7", " ", "  ", ".", ",", ";", "!", "'", "-", "\t", "\x0b", "é", "Ω",
                "\u2019", "\ud800", "\x01", "\x00", "İ", "日本"]
    for _ in range(2000):
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
                 for _ in range(rng.randint(0, 6))]
        table = rng.choice(tables)
        results = []
        size = rng.choice([1, 5, 1000])
        for module in (c, py):
            cache = module.TokenCache(size)
            calls: list[bytes] = []

            def analyse(token: bytes, calls: list[bytes] = calls) -> tuple[str, int, int, int]:
                calls.append(token)
                crc = zlib.crc32(token)
                return token.decode("utf-8", "replace").lower(), crc, crc & 0xFF, len(token) % 32

            got = module.tokens(lines, table, cache, analyse)
            again = module.tokens(lines, table, cache, analyse)  # (from the cache, if it holds)
            # (len(cache) may differ: the C table does not keep tokens over 38 bytes)
            results.append((got, again, set(calls)))
        assert results[0] == results[1], lines
    # the index's own analysis, on text; a token longer than the C table's keys
    text = ("Dario Kessling, 34 years old, said: the Harriers won. ÉTÉ 2026! \u2019quoted\u2019 "
            + "x" * 300 + " " + "Ab" * 20)
    table = stories._BYTE_TABLE
    got = [m.tokens([text, "", text], table, m.TokenCache(100), stories._token_info)
           for m in (c, py)]
    assert got[0] == got[1]
    assert got[0][4] == [14, 0, 14]


def test_token_cache_forgets_everything_when_full(both: tuple[ModuleType, ModuleType]) -> None:
    for module in both:
        cache = module.TokenCache(3)
        calls: list[bytes] = []

        def analyse(token: bytes, calls: list[bytes] = calls) -> tuple[str, int, int, int]:
            calls.append(token)
            return token.decode(), 1, 1, 0

        module.tokens(["a b c a"], bytes(range(256)), cache, analyse)
        assert (calls, len(cache)) == ([b"a", b"b", b"c"], 3)
        module.tokens(["d"], bytes(range(256)), cache, analyse)  # full: forgotten, then d
        assert (calls[3:], len(cache)) == ([b"d"], 1)
        module.tokens(["a d"], bytes(range(256)), cache, analyse)
        assert (calls[4:], len(cache)) == ([b"a"], 2)
        cache.clear()
        assert len(cache) == 0
        with pytest.raises(ValueError):
            module.TokenCache(0)


@pytest.mark.parametrize("call", [
    lambda m: m.shingles(array("I", [1, 2, 3]).tobytes(), b"\1\2"),
    lambda m: m.dot({}, ("a", "b"), b"\0" * 4, 1),
    lambda m: m.score({}, [type("D", (), {"terms": ("a",), "weights": b""})()], 1),
    lambda m: m.candidates([b"\0" * 6], 1, 10, 1),
    lambda m: m.candidates([b""], -1, 10, 1),
    lambda m: m.weigh(["a"], [1.0, 2.0], [1.0], frozenset(), 1.0, 5),
    lambda m: m.weigh(["a"], [1.0], [1.0], frozenset(), 1.0, -1),
    lambda m: m.weigh(["a", "b"], [1.0, float("nan")], [1.0, 1.0], frozenset(), 1.0, 2),
    lambda m: m.vector({"a": 2}, {}, {}, -5.0, frozenset(), 1.0, 2),
    lambda m: m.overlap(0, b"", 1, b""),
    lambda m: m.overlap(1, b"", 2**32, b""),
    lambda m: m.overlap(1, b"", -1, b""),
    lambda m: m.overlap(2.0, b"", 1, b""),
    lambda m: m.overlap(1, b"\0" * 5, 1, b""),
    lambda m: m.count([["a"]], [1.0, 2.0]),
    lambda m: (lambda d: m.vector({"x": 2.0}, d, d, 10.0, frozenset(), 1.0, 5))({}),
])
def test_bad_arguments_are_refused_alike(both: tuple[ModuleType, ModuleType], call: Any) -> None:
    c, py = both
    with pytest.raises(ValueError):
        call(py)
    with pytest.raises(ValueError):
        call(c)


def test_limits_beyond_a_machine_int(both: tuple[ModuleType, ModuleType]) -> None:
    """Counts and limits are compared as Python compares ints, not wrapped or refused."""
    c, py = both
    lists = [array("I", [1, 2]).tobytes(), array("I", [3, 4]).tobytes()]
    for tail, budget, k in [(1, -2**63, 10), (2**64, 2**64, 2**64), (1, 2**70, 1),
                            (0, -2**80, 2**65)]:
        assert c.candidates(lists, tail, budget, k) == py.candidates(lists, tail, budget, k)
    query, terms, weights = {"a": 0.5, "b": 0.25}, ("a", "b"), array("f", [0.5, 0.5]).tobytes()
    for need in (-2**70, 0, 2, 3, 2**64):
        assert c.dot(query, terms, weights, need) == py.dot(query, terms, weights, need)
    for n in (2**64, 2**70):
        assert c.weigh(["a", "b"], [1.0, 2.0], [1, 1], set(), 2.0, n) == py.weigh(
            ["a", "b"], [1.0, 2.0], [1, 1], set(), 2.0, n)


def test_tunables_that_count_are_whole_numbers() -> None:
    index = StoryIndex(posting_budget=400.0, df_half_life=2e4)  # (as a config may write them)
    assert (index.tunables.posting_budget, index.tunables.df_half_life) == (400, 20000)
    assert type(index.tunables.posting_budget) is int
    with pytest.raises(stories.StoryError, match=r"posting_budget must be an integer, got 400\.5"):
        StoryIndex(posting_budget=400.5)
    with pytest.raises(stories.StoryError, match="title_weight must be a finite number"):
        StoryIndex(title_weight=float("inf"))
    StoryIndex(join_threshold=1)  # (a float tunable may be given as an int)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "3"])
def test_a_count_that_is_no_finite_number_changes_nothing(
    both: tuple[ModuleType, ModuleType], bad: Any
) -> None:
    for module in both:
        cache, df = {"alpha": 1.5}, {"alpha": 4, "beta": 2}
        counts = {"alpha": 2, "beta": bad, "gamma": 1}
        with pytest.raises((ValueError, TypeError)):
            module.vector(counts, cache, df, 300.0, frozenset(), 2.0, 50)
        assert (cache, df) == ({"alpha": 1.5}, {"alpha": 4, "beta": 2})


class _Term(str):
    pass


@pytest.mark.parametrize("bad", [7, b"beta", _Term("beta")])
def test_a_term_that_is_no_str_changes_nothing(
    both: tuple[ModuleType, ModuleType], bad: Any
) -> None:
    for module in both:
        cache, df = {"alpha": 1.5}, {"alpha": 4, "beta": 2}
        counts = {"alpha": 2.0, bad: 1.0, "gamma": 1.0}
        with pytest.raises(TypeError, match="a term must be a str"):
            module.vector(counts, cache, df, 300.0, frozenset(), 2.0, 50)
        assert (cache, df) == ({"alpha": 1.5}, {"alpha": 4, "beta": 2})


@pytest.mark.parametrize("proper", [None, 3])
def test_a_proper_set_that_is_no_container_changes_nothing(
    both: tuple[ModuleType, ModuleType], proper: Any
) -> None:
    for module in both:
        cache, df = {"alpha": 1.5}, {"alpha": 4}
        with pytest.raises(TypeError):
            module.vector({"alpha": 2.0, "beta": 1.0}, cache, df, 300.0, proper, 2.0, 50)
        assert (cache, df) == ({"alpha": 1.5}, {"alpha": 4})


def test_vector_interns_the_terms_it_keeps_and_counts(both: tuple[ModuleType, ModuleType]) -> None:
    """Terms given as copies (as unpickled from a parse worker) come back interned, and are
    added to the idf cache and the document frequencies interned."""
    for module in both:
        copies = {(w + "x")[:-1]: float(i + 1) for i, w in enumerate(
            ["harbour", "crane", "collapse", "zq-new-term"])}
        assert not any(map(_interned, copies))
        cache: dict[str, float] = {}
        df: dict[str, int] = {"harbour": 3}
        terms, _ = module.vector(copies, cache, df, 300.0, frozenset(), 2.0, 3)
        assert len(terms) == 3 and all(map(_interned, terms))
        assert all(map(_interned, cache)) and all(map(_interned, df))
        assert sorted(df) == sorted(copies) and df["harbour"] == 4


def test_features_with_a_bad_count_are_refused_before_the_index_changes() -> None:
    index = StoryIndex()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    first = StoryDoc("a1", "Harbour crane collapse", "A crane fell at the harbour today.", start,
                     "s")
    index.assign(first)
    feats = stories.extract_features("Harbour crane collapse", "A crane fell again.")
    bad = stories.replace(feats, counts={**feats.counts, "crane": float("nan")})
    before = index.dumps()
    with pytest.raises(stories.StoryError, match=r"a2.*finite"):
        index.assign(StoryDoc("a2", "Harbour crane collapse", "A crane fell again.", start, "s"),
                     bad)
    assert index.dumps() == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("focal", None, "focal persons must be a frozenset of str"),
    ("focal", 0, "focal persons must be a frozenset of str"),
    ("focal", frozenset({7}), "focal persons must be a frozenset of str"),
    ("focal", {"Holm"}, "focal persons must be a frozenset of str"),
    ("counts", None, "counts must be a mapping"),
    ("counts", [("crane", 1.0)], "counts must be a mapping"),
    ("counts", {7: 1.0}, "a term must be a str"),
    ("proper", None, "proper terms must be a frozenset of str"),
    ("proper", ["crane"], "proper terms must be a frozenset of str"),
])
def test_features_of_the_wrong_shape_are_refused_before_the_index_changes(
    field: str, value: Any, message: str
) -> None:
    index = _refused_before_the_index_changes(lambda feats: stories.replace(
        feats, **{field: value}), message)
    assert index.assignment("a2") is None


def _refused_before_the_index_changes(
    spoil: Callable[[stories.DocFeatures], stories.DocFeatures], message: str
) -> StoryIndex:
    """An index holding one article refuses a second one with `spoil`ed features (StoryError
    matching `message`) and is left as it was; returns the index."""
    index = StoryIndex()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    index.assign(StoryDoc("a1", "Harbour crane collapse", "A crane fell at the harbour today.",
                          start, "s"))
    feats = stories.extract_features("Harbour crane collapse", "A crane fell at the harbour.")
    before = index.dumps()
    with pytest.raises(stories.StoryError, match=message):
        index.assign(StoryDoc("a2", "Harbour crane collapse", "A crane fell at the harbour.",
                              start, "s"), spoil(feats))
    assert index.dumps() == before
    return index


@pytest.mark.parametrize(("rate", "shingles"), [
    (0, None), (2**32, None), (-4, None), (2.0, None), (1, array("H", [1, 2, 3])),
    (1, [0, 256]),
])
def test_features_with_a_bad_shingle_sample_are_refused_before_the_index_changes(
    rate: Any, shingles: Any
) -> None:
    _refused_before_the_index_changes(lambda feats: stories.replace(
        feats, shingle_rate=rate, shingles=feats.shingles if shingles is None else shingles),
        r"a2.*shingle")


def _interned(term: str) -> bool:
    return sys.intern((term + "x")[:-1]) is term


def test_the_index_keeps_its_terms_interned() -> None:
    """storymath.score finds a candidate's terms in an interned query by identity: every term
    the index keeps is interned, whether derived, supplied (unpickled copies) or read from a
    snapshot that holds copies."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    docs = [StoryDoc(f"a{i}", f"Ferry fire at Holm harbour, report {i}",
                     f"A {20 + i} years old deckhand and a 7-year-old were hurt. The ferry "
                     f"burned for {i} hours at Holm.", start + timedelta(hours=i), "s")
            for i in range(6)]
    index = StoryIndex()
    for doc in docs[:3]:
        index.assign(doc)
    copies = pickle.loads(pickle.dumps([stories.extract_features(d.title, d.text)
                                        for d in docs[3:]]))
    assert any(not _interned(t) for f in copies for t in f.counts)
    for doc, feats in zip(docs[3:], copies, strict=True):
        index.assign(doc, feats)
    kept = [t for d in index._docs.values() for t in d.terms]
    assert "20yo" in kept and all(map(_interned, kept))
    for d in index._docs.values():
        d.terms = tuple((t + "x")[:-1] for t in d.terms)  # as an earlier version may have kept
    assert not all(_interned(t) for d in index._docs.values() for t in d.terms)
    loaded = StoryIndex.loads(index.dumps())
    assert all(_interned(t) for d in loaded._docs.values() for t in d.terms)
    # pickled, and deep-copied, as the snapshot: the copy decides as the original does
    index = StoryIndex(window=timedelta(days=30), join_threshold=0.3)
    for doc in docs[:5]:
        index.assign(doc)
    for copied in (pickle.loads(pickle.dumps(index)), copy.deepcopy(index)):
        assert isinstance(copied, StoryIndex) and copied.tunables == index.tunables
        assert copied.window == index.window
        assert copied.assignments() == index.assignments()
        assert all(_interned(t) for d in copied._docs.values() for t in d.terms)
        assert copied.assign(docs[5]) == StoryIndex.loads(
            index.dumps(), index.window, join_threshold=0.3).assign(docs[5])
    assert index.assign(docs[5]).kind != "new_story"


def _stream() -> list[StoryDoc]:
    """Articles in publication order: the stories dev set when ../shared is there, and
    synthetic ones (stories of a few articles from a small vocabulary: many shared terms)."""
    docs: list[StoryDoc] = []
    if DEV.is_file():
        for line in DEV.read_text(encoding="utf-8").splitlines()[:1500]:
            row = json.loads(line)
            date = row.get("date")
            published = datetime.fromisoformat(date) if isinstance(date, str) and date else None
            docs.append(StoryDoc(str(row["id"]), str(row.get("title") or ""),
                                 str(row.get("text") or ""), published, "dev"))
    rng = random.Random(4)
    words = [f"word{i}" for i in range(300)]
    names = ["Arvel", "Brisk", "Coton", "Dulane", "Esker", "Forlan"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1500):
        story = rng.randrange(200)
        topic = random.Random(story).sample(words, 12)
        name = names[story % len(names)]
        body = ". ".join(
            " ".join(rng.choice(topic) if rng.random() < 0.5 else rng.choice(words)
                     for _ in range(12)) + f" {name} said"
            for _ in range(rng.randint(2, 6)))
        docs.append(StoryDoc(f"syn-{i}", f"{name} {' '.join(topic[:4])}", body,
                             start + timedelta(hours=i // 10 + story % 7), "syn",
                             f"https://example.org/{story}/{i % 3}"))
    return docs


def test_the_index_decides_alike_with_either(both: tuple[ModuleType, ModuleType],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    c, py = both
    docs = _stream()
    results = []
    for module in (c, py):
        monkeypatch.setattr(stories, "storymath", module)
        monkeypatch.setattr(stories, "_TOKEN_CACHE", module.TokenCache(stories._CACHE_MAX))
        index = StoryIndex(window=timedelta(hours=48))
        decided = []
        for n, doc in enumerate(docs):
            if n % 50 == 0 and doc.published is not None:
                index.expire(doc.published)
            decided.append(index.assign(doc))
        results.append((decided, index.dumps()))
    (c_decided, c_snapshot), (py_decided, py_snapshot) = results
    assert c_decided == py_decided
    assert c_snapshot == py_snapshot
    kinds = Counter(a.kind for a in c_decided)
    assert kinds["joined"] > 100 and kinds["new_story"] > 100  # (the stream exercises both)
