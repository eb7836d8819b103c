"""watcher.storymath: its C version (storymath.c) gives exactly the results of its source, on
random input built to hit ties, zeros and edge sizes, and inside the story index (the same
assignments and the same snapshot bytes on a stream of articles)."""

from __future__ import annotations

import importlib.machinery
import json
import random
import struct
import zlib
from array import array
from collections import Counter
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


def test_dot_and_score(both: tuple[ModuleType, ModuleType]) -> None:
    c, py = both
    rng = random.Random(1)

    class Doc:
        def __init__(self, terms: tuple[str, ...], weights: bytes) -> None:
            self.terms, self.weights = terms, weights

    for _ in range(3000):
        vocab = _vocab(rng, rng.randint(1, 60))
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
