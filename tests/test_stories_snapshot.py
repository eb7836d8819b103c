"""Story index snapshots (dumps / loads), doc_ids and remove, on an invented stream."""

from __future__ import annotations

import marshal
import random
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.story_articles import BAR_SHOOTING, BAR_SHOOTING_FOLLOWUP
from watcher.stories import Assignment, StoryDoc, StoryError, StoryIndex, _read_snapshot

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)

# Small caps and periods, so that a short stream halves document frequencies, refreshes IDF,
# remembers, forgets and caps stories, and pushes out undated articles.
CONFIG: dict[str, Any] = {
    "window": timedelta(hours=20),
    "df_half_life": 60,
    "idf_refresh": 16,
    "max_undated": 4,
    "max_remembered": 8,
    "story_memory": timedelta(days=3),
}

_FIRST = ["Maren", "Tobias", "Ilse", "Darnell", "Priya", "Oskar", "Lucia", "Femi", "Greta",
          "Hamid", "Yuki", "Bruno"]
_LAST = ["Vantrell", "Okonkwo", "Haldane", "Presswick", "Marlowe", "Quinterro", "Ashgrove",
         "Delacourt", "Brannigan", "Sokolova", "Whitlock", "Ferreira", "Nakagawa", "Lindqvist"]
_TOWNS = ["Pinecrest", "Harlow Bay", "Eastfield", "Corrigan", "Millhaven", "Stonebridge",
          "Larkspur", "Redwater"]
_EVENTS = [
    ("warehouse fire", ["flames", "firefighters", "smoke", "roof", "blaze", "hydrant"]),
    ("bridge collapse", ["girder", "engineers", "span", "river", "inspection", "rubble"]),
    ("bank robbery", ["teller", "getaway", "masked", "vault", "cash", "surveillance"]),
    ("flash flood", ["rainfall", "creek", "sandbags", "evacuation", "basement", "gauge"]),
    ("chemical spill", ["tanker", "fumes", "hazmat", "residue", "shelter", "drainage"]),
    ("stadium stampede", ["gates", "crowd", "turnstile", "stewards", "crush", "tickets"]),
]
_FILLER = ["officials", "reported", "afternoon", "residents", "nearby", "statement", "county",
           "investigators", "witnesses", "emergency", "crews", "hospital", "update", "later"]


def _story_text(rng: random.Random, n: int, town: str, person: tuple[str, str],
                event: tuple[str, list[str]], own: list[str]) -> str:
    kind, words = event
    lines = [f"{person[0]} {person[1]} was at the {kind} in {town} when it began, "
             f"{rng.choice(_FILLER)} said."]
    for _ in range(n):
        pool = rng.sample(words, 3) + rng.sample(own, 2) + rng.sample(_FILLER, 4)
        rng.shuffle(pool)
        lines.append(f"{person[1]} and the {' '.join(pool)} in {town}.")
    return "\n".join(lines)


def invented_stream(n_stories: int = 70, seed: int = 11) -> list[StoryDoc]:
    """Stories of 1-6 articles (other outlets' reports, wire copies with a dateline, updates
    under the same URL, follow-ups days later, some undated), in publication order."""
    rng = random.Random(seed)
    dated: list[tuple[float, StoryDoc]] = []
    undated: list[StoryDoc] = []
    for s in range(n_stories):
        town = rng.choice(_TOWNS)
        person = (rng.choice(_FIRST), rng.choice(_LAST))
        event = rng.choice(_EVENTS)
        own = [f"{rng.choice('bdgkmprtvz')}{rng.choice('aeiou')}{rng.choice('lnrst')}"
               f"{rng.choice('aeiou')}{rng.choice('bdgkmprtvz')}{s}" for _ in range(4)]
        start = s * 2.5 + rng.random()
        title = f"{person[1]} caught up in {event[0]} in {town}"
        base = _story_text(rng, 5, town, person, event, own)
        url = f"https://news{s % 5}.example/{s}"
        for k in range(rng.randint(1, 6)):
            hours = start + (rng.uniform(40, 80) if rng.random() < 0.2 else rng.uniform(0, 8))
            variant = rng.random()
            if k == 0 or variant < 0.4:
                text, t = _story_text(rng, rng.randint(3, 6), town, person, event, own), title
                doc_url = ""
            elif variant < 0.6:
                text, t, doc_url = f"{town.upper()} (AP) - {base}", title + " | Wire", ""
            elif variant < 0.75:
                text, t, doc_url = base + "\nA later update added details.", title, url
            else:
                text, t, doc_url = base, f"Update: {title}", url
            d = StoryDoc(f"s{s}-{k}", t, text, T0 + timedelta(hours=hours), f"o{k}.example",
                         doc_url)
            if rng.random() < 0.08:
                undated.append(StoryDoc(d.id, d.title, d.text, None, d.source, d.canonical_url))
            else:
                dated.append((hours, d))
    dated.sort(key=lambda hd: hd[0])
    stream = [d for _, d in dated]
    for i, d in enumerate(undated):  # spread through the stream
        stream.insert((i * 37) % len(stream), d)
    return stream


STREAM = invented_stream()


def state(index: StoryIndex) -> Any:
    """The decoded snapshot payload: the whole state, comparable (marshal's bytes are not: they
    depend on reference counts)."""
    return _read_snapshot([index.dumps()])


def feed(index: StoryIndex, docs: list[StoryDoc]) -> list[Assignment]:
    """As the pipeline does: expire up to each dated article, then assign it."""
    out = []
    for d in docs:
        if d.published is not None:
            index.expire(d.published)
        out.append(index.assign(d))
    return out


def test_the_invented_stream_exercises_every_path() -> None:
    index = StoryIndex(**CONFIG)
    got, remembered = [], []
    for d in STREAM:
        got += feed(index, [d])
        remembered.append(index.remembered_count)
    kinds = {a.kind for a in got}
    assert kinds == {"new_story", "joined", "revision"}
    assert sum(a.kind == "revision" for a in got) >= 10
    assert sum(a.kind == "joined" for a in got) >= 10
    assert max(remembered) == CONFIG["max_remembered"]  # the cap was reached
    assert any(d.published is None for d in STREAM)


@pytest.mark.parametrize("split", [1, 37, 90, 150, 211, len(STREAM) - 5])
def test_a_loaded_snapshot_continues_exactly_as_the_uninterrupted_index(split: int) -> None:
    whole = StoryIndex(**CONFIG)
    expected = feed(whole, STREAM)
    first = StoryIndex(**CONFIG)
    assert feed(first, STREAM[:split]) == expected[:split]
    loaded = StoryIndex.loads(first.dumps(), **CONFIG)
    assert state(loaded) == state(first)  # the whole state came back
    assert (len(loaded), loaded.story_count, loaded.remembered_count) == (
        len(first), first.story_count, first.remembered_count)
    assert loaded.doc_ids() == first.doc_ids()
    for doc_id in first.doc_ids():
        assert loaded.assignment(doc_id) == first.assignment(doc_id)
    rest = feed(loaded, STREAM[split:])
    assert rest == expected[split:]
    assert state(loaded) == state(whole)


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 30])
def test_a_snapshot_in_parts_joins_into_the_whole(size: int) -> None:
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    whole = index.dumps()
    parts = list(index.dump_parts(part_size=size))
    assert len(parts) == -(-len(whole) // size)
    assert all(len(p) == size for p in parts[:-1]) and 0 < len(parts[-1]) <= size
    assert b"".join(parts) == whole
    assert state(StoryIndex.loads(b"".join(parts), **CONFIG)) == state(index)
    # read as they come, whatever their cut: the same index
    assert state(StoryIndex.load_parts(parts, **CONFIG)) == state(index)
    assert state(StoryIndex.load_parts(iter(parts), **CONFIG)) == state(index)
    with pytest.raises(StoryError, match="part_size"):
        index.dump_parts(part_size=0)


def test_parts_are_made_as_they_are_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A field is made (and written) only when the part that starts it is asked for: the
    snapshot is never whole in memory while it is stored part by part."""
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    whole = index.dumps()
    made: list[int] = []
    real = StoryIndex._fields

    def counted(self: StoryIndex) -> Any:
        for value in real(self):
            made.append(1)
            yield value

    monkeypatch.setattr(StoryIndex, "_fields", counted)
    parts = index.dump_parts(part_size=64)
    assert made == []
    first = next(parts)
    assert first == whole[:64] and len(made) <= 2  # the header and the settings, at most
    rest = b"".join(parts)
    assert first + rest == whole and len(made) == 28


def test_load_parts_reads_no_further_than_a_bad_field() -> None:
    """A part is asked for only when the record being read needs it: a snapshot of other
    settings is refused after its first field, without reading the rest."""
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    parts = list(index.dump_parts(part_size=256))
    handed: list[int] = []

    def counting() -> Any:
        for i, part in enumerate(parts):
            handed.append(i)
            yield part

    with pytest.raises(StoryError, match="another window"):
        StoryIndex.load_parts(counting(), **{**CONFIG, "join_threshold": 0.2})
    assert len(handed) < len(parts) // 4


def test_a_snapshot_of_an_empty_index_loads() -> None:
    blob = StoryIndex(**CONFIG).dumps()
    loaded = StoryIndex.loads(blob, **CONFIG)
    assert len(loaded) == 0 and loaded.doc_ids() == set()
    assert feed(loaded, STREAM[:50]) == feed(StoryIndex(**CONFIG), STREAM[:50])


def test_restored_and_new_articles_after_loading() -> None:
    """The pipeline's use: load, restore what the store gained since, remove what it lost."""
    whole = StoryIndex(**CONFIG)
    expected = feed(whole, STREAM)
    split = 120
    first = StoryIndex(**CONFIG)
    feed(first, STREAM[:split])
    loaded = StoryIndex.loads(first.dumps(), **CONFIG)
    for d, a in zip(STREAM[split:split + 10], expected[split:split + 10], strict=True):
        loaded.restore(d, a.story_id, a.duplicate_of)
    assert {d.id for d in STREAM[split:split + 10]} <= loaded.doc_ids()
    later = [a.story_id for a in feed(loaded, STREAM[split + 10:])]
    assert later == [a.story_id for a in expected[split + 10:]]


def _blob() -> bytes:
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:100])
    return index.dumps()


def _record(value: Any) -> bytes:
    blob = marshal.dumps(value)
    return struct.pack("<QI", len(blob), zlib.crc32(blob)) + blob


def _rewrap(fields: Any, version: int = 2) -> bytes:
    """A snapshot of these fields (a tuple; anything else is one field), each in one chunk."""
    fields = fields if isinstance(fields, tuple) else (fields,)
    out = [struct.pack("<4sHI", b"WSIX", version, len(fields))]
    for value in fields:
        out += [_record(1), _record(value)]
    return b"".join(out)


def test_a_corrupt_snapshot_is_refused() -> None:
    blob = bytearray(_blob())
    blob[len(blob) // 2] ^= 0x40
    with pytest.raises(StoryError, match="corrupt story index snapshot"):
        StoryIndex.loads(bytes(blob), **CONFIG)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a story index snapshot"),
        (b"PK\x03\x04" + bytes(40), "bad magic"),
        (b"WSIX\x01\x00" + bytes(40), "snapshot format 1, this version reads 2"),
        (b"WSIX\x03\x00" + bytes(40), "snapshot format 3, this version reads 2"),
        (_rewrap((1, 2, 3)), "unexpected layout"),
        (_rewrap(compile("1", "x", "eval")), "unexpected layout"),  # a code object: refused
        # the right number of fields, the settings replaced by a code object
        (_rewrap((compile("1", "x", "eval"),) * 28), "unexpected layout"),
        (_blob() + b"\x00", "bytes after its last field"),
        (b"WSIX\x02\x00" + struct.pack("<I", zlib.crc32(b"\xff")) + b"\xff", "corrupt"),
    ],
)
def test_what_is_not_a_snapshot_of_this_format_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(StoryError, match=message):
        StoryIndex.loads(data, **CONFIG)


def test_a_truncated_snapshot_is_refused() -> None:
    blob = _blob()
    with pytest.raises(StoryError, match="corrupt story index snapshot"):
        StoryIndex.loads(blob[: len(blob) - 100], **CONFIG)


def test_a_snapshot_with_a_damaged_payload_but_a_valid_checksum_is_refused() -> None:
    payload = list(_read_snapshot([_blob()]))
    assert len(payload[4]) == 4 * len(payload[5]) > 0  # the articles' serials, and ids
    payload[4] = payload[4][:-4]  # one article serial fewer than the other columns
    with pytest.raises(StoryError, match="corrupt story index snapshot"):
        StoryIndex.loads(_rewrap(tuple(payload)), **CONFIG)


def test_a_snapshot_holding_other_objects_than_its_own_is_refused() -> None:
    payload = list(_read_snapshot([_blob()]))
    payload[2] = {"term": compile("1", "x", "eval")}  # a code object among the frequencies
    with pytest.raises(StoryError, match=r"corrupt story index snapshot.*unexpected"):
        StoryIndex.loads(_rewrap(tuple(payload)), **CONFIG)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"window": timedelta(hours=21)}, "window"),
        ({"join_threshold": 0.2}, "join_threshold"),
        ({"join_threshold": 0.2, "story_memory": timedelta(days=4)}, "join_threshold"),
    ],
)
def test_a_snapshot_made_with_other_settings_is_refused(change: dict[str, Any],
                                                        named: str) -> None:
    with pytest.raises(StoryError, match=f"another window or other tunables: {named}"):
        StoryIndex.loads(_blob(), **{**CONFIG, **change})


def _remembering(index: StoryIndex) -> list[str]:
    """The remembered stories, and the ids the summary postings name (each once per term)."""
    posted = [sid for sids in index._summary_postings.values() for sid in sids]
    assert set(posted) <= set(index._remembered)
    assert all(len(set(sids)) == len(sids) for sids in index._summary_postings.values())
    return sorted(index._remembered)


def test_a_snapshot_made_with_other_memory_limits_loads_under_the_new_ones() -> None:
    """story_memory and max_remembered only bound what is remembered beyond the window: a
    snapshot saved under other values is loaded (not rebuilt, which would forget every
    remembered story), the least recent stories beyond the new cap are forgotten at once, and
    a shorter memory forgets at the next expire."""
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:150])
    blob = index.dumps()
    remembered = _remembering(index)
    assert len(remembered) == CONFIG["max_remembered"]

    more = StoryIndex.loads(blob, **{**CONFIG, "max_remembered": 50,
                                     "story_memory": timedelta(days=30)})
    assert _remembering(more) == remembered
    assert more.assignments() == index.assignments()

    fewer = StoryIndex.loads(blob, **{**CONFIG, "max_remembered": 3})
    kept = _remembering(fewer)
    anchors = {sid: st.anchor for sid, st in index._remembered.items()}
    assert len(kept) == 3
    assert kept == sorted(sorted(remembered, key=lambda sid: (anchors[sid], sid))[-3:])
    assert fewer.assignments() == index.assignments()

    shorter = StoryIndex.loads(blob, **{**CONFIG, "story_memory": timedelta(0)})
    assert _remembering(shorter) == remembered
    shorter.expire(max(d.published for d in STREAM[:150] if d.published is not None))
    assert _remembering(shorter) == []
    # and each goes on as an index made with its limits would from that state
    for loaded in (more, fewer, shorter):
        feed(loaded, STREAM[150:])
        assert len(_remembering(loaded)) <= loaded.tunables.max_remembered


def test_loads_checks_its_arguments() -> None:
    with pytest.raises(StoryError, match="snapshot must be bytes"):
        StoryIndex.loads("WSIX", **CONFIG)  # type: ignore[arg-type]
    with pytest.raises(StoryError, match="unknown tunable"):
        StoryIndex.loads(_blob(), **CONFIG, join_treshold=0.2)


# ---
# doc_ids and remove
# ---


def test_doc_ids_are_the_articles_in_the_window() -> None:
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:60])
    ids = index.doc_ids()
    assert len(ids) == len(index) > 0
    assert all(index.assignment(i) is not None for i in ids)
    assert {d.id for d in STREAM[:60]} > ids  # some expired


T1 = datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
BAR_TITLE = "Two men wounded in shooting outside Millbrook bar"


def test_remove_drops_an_article_as_expiry_would() -> None:
    index = StoryIndex(story_memory=timedelta(days=30))
    index.assign(StoryDoc("bar", BAR_TITLE, BAR_SHOOTING, T1, "a.example", "https://a.example/1"))
    assert index.remove("bar") is True
    assert index.remove("bar") is False and index.remove("never-seen") is False
    assert len(index) == 0 and index.assignment("bar") is None and index.doc_ids() == set()
    assert (index.story_count, index.remembered_count) == (0, 1)  # remembered, as on expiry
    # the URL is free again, and a follow-up still finds the remembered story
    follow = index.assign(StoryDoc("arrest", "Police arrest suspect in Blue Anchor bar shooting",
                                   BAR_SHOOTING_FOLLOWUP, T1 + timedelta(days=5), "b.example",
                                   "https://a.example/1"))
    assert (follow.story_id, follow.kind) == ("bar", "joined")


def test_removing_an_undated_article_frees_its_place() -> None:
    index = StoryIndex(max_undated=2)
    for i in range(3):
        index.assign(StoryDoc(f"u{i}", f"Undated item {i}", f"Unrelated words number {i}.", None,
                              "c.example"))
    assert index.doc_ids() == {"u1", "u2"}
    assert index.remove("u1")
    index.assign(StoryDoc("u3", "Undated item 3", "Unrelated words number 3.", None, "c.example"))
    assert index.doc_ids() == {"u2", "u3"}
    assert state(StoryIndex.loads(index.dumps(), max_undated=2)) == state(index)


def test_remove_then_snapshot_continues_exactly() -> None:
    a = StoryIndex(**CONFIG)
    b = StoryIndex(**CONFIG)
    feed(a, STREAM[:100])
    feed(b, STREAM[:100])
    for doc_id in sorted(a.doc_ids())[::3]:
        assert a.remove(doc_id) and b.remove(doc_id)
    b = StoryIndex.loads(b.dumps(), **CONFIG)
    assert feed(a, STREAM[100:]) == feed(b, STREAM[100:])


def test_the_collector_runs_between_parts() -> None:
    """Garbage collection is paused while a field is written, never while the consumer holds a
    part: a half-read (or dropped) dump leaves it on."""
    import gc

    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    assert gc.isenabled()
    parts = index.dump_parts(part_size=64)
    for _ in range(5):
        next(parts)
        assert gc.isenabled()
    del parts
    assert gc.isenabled()


def test_parts_of_any_kind_and_empty_ones_are_read() -> None:
    from array import array

    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    blob = index.dumps()
    wide = array("I")
    wide.frombytes(blob[:4096])  # a view whose items are 4 bytes: read as its bytes
    parts: list[Any] = [b"", memoryview(wide), b"", bytearray(blob[4096:5000]), b"",
                        memoryview(blob)[5000:], b""]
    assert state(StoryIndex.load_parts(parts, **CONFIG)) == state(index)
    with pytest.raises(StoryError, match="snapshot must be bytes"):
        StoryIndex.load_parts([blob[:100], "text"], **CONFIG)  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (1, ("a", 1, 2, 3, 4, 0.0)),  # counters
        (1, (1, 2, 3, 4, 5, "clock")),
        (17, [("s", None, 0.0, {}, {}, "size", (), b"")]),  # a story row
        (17, [(7, None, 0.0, {}, {}, 1, (), b"")]),
        (20, [(1.0, 2.0)]),  # the memory heap
        (20, [("anchor", "s")]),
        (21, {"term": ("no-such-story",)}),  # a summary posting
    ],
)
def test_a_snapshot_with_fields_of_the_wrong_kind_is_refused(field: int, value: Any) -> None:
    payload = list(_read_snapshot([_blob()]))
    payload[field] = value
    with pytest.raises(StoryError, match="corrupt story index snapshot"):
        StoryIndex.loads(_rewrap(tuple(payload)), **CONFIG)


def test_stories_listed_twice_or_missing_are_refused() -> None:
    payload = list(_read_snapshot([_blob()]))
    live, remembered = payload[18], payload[19]
    assert live and remembered  # (the stream left both kinds)
    for change in ({18: live + live[:4]}, {19: remembered + live[:4]}, {18: live[4:]}):
        damaged = list(payload)
        for i, v in change.items():
            damaged[i] = v
        with pytest.raises(StoryError, match="corrupt story index snapshot"):
            StoryIndex.loads(_rewrap(tuple(damaged)), **CONFIG)


def test_a_field_too_large_to_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """marshal trusts the counts it reads: a forged one asks for more memory than there is,
    which is a corrupt snapshot (rebuilt), not a failed run."""
    import types

    from watcher import stories

    def out_of_memory(data: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(stories, "marshal",
                        types.SimpleNamespace(loads=out_of_memory, dumps=marshal.dumps))
    with pytest.raises(StoryError, match="too large to read"):
        StoryIndex.loads(_blob(), **CONFIG)


def test_long_columns_are_written_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The articles' columns are cut into records of `_SNAPSHOT_CHUNK` items (a snapshot is
    never held as one big record), read back joined: the same state, whatever the chunk."""
    from watcher import stories

    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:120])
    whole = index.dumps()
    monkeypatch.setattr(stories, "_SNAPSHOT_CHUNK", 7)
    chunked = index.dumps()
    assert len(chunked) > len(whole)
    assert state(StoryIndex.loads(chunked, **CONFIG)) == state(index)
    assert state(StoryIndex.load_parts(index.dump_parts(part_size=50), **CONFIG)) == state(index)
    monkeypatch.undo()
    assert state(StoryIndex.loads(chunked, **CONFIG)) == state(index)  # read with any setting


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([_record(0)], "unexpected layout"),  # no chunk
        ([_record("2")], "unexpected layout"),  # not a count
        ([_record(2), _record((1, 2)), _record([3])], "unexpected layout"),  # a tuple in chunks
        ([_record(2), _record([1]), _record({3: 4})], "unexpected layout"),
        ([_record(3), _record([1]), _record([2])], "truncated"),
    ],
)
def test_a_field_in_bad_chunks_is_refused(chunks: list[bytes], message: str) -> None:
    head = struct.pack("<4sHI", b"WSIX", 2, 28)
    with pytest.raises(StoryError, match=message):
        StoryIndex.loads(head + b"".join(chunks), **CONFIG)


def test_a_story_id_used_again_after_its_article_was_removed_still_loads() -> None:
    """remove() of a story's first article, then a new article under the same id: it joins the
    story its id opened (which once held two stories of one id, as the store does: their
    articles share it); the snapshot of that state loads (it once was refused, costing a
    rebuild)."""
    index = StoryIndex(**CONFIG)
    first, follow, other = STREAM[0], STREAM[1], STREAM[2]
    assert index.assign(first).kind == "new_story"
    index.restore(follow, first.id)  # (joined to the first article's story)
    assert index.remove(first.id)
    again = index.assign(StoryDoc(first.id, other.title, other.text, other.published,
                                  other.source))
    assert again.kind == "joined" and again.story_id == first.id
    assert index.assignment(follow.id).story_id == first.id  # type: ignore[union-attr]
    assert index.story_count == 1
    loaded = StoryIndex.loads(index.dumps(), **CONFIG)
    assert state(loaded) == state(index)


def test_strided_views_and_odd_parts() -> None:
    index = StoryIndex(**CONFIG)
    feed(index, STREAM[:60])
    blob = index.dumps()
    doubled = bytes(b for byte in blob for b in (byte, 0))
    strided = memoryview(doubled)[::2]  # (not contiguous: the blob's bytes, every other one)
    assert strided.tobytes() == blob
    assert state(StoryIndex.load_parts([strided], **CONFIG)) == state(index)
    with pytest.raises(StoryError, match="snapshot must be bytes"):
        StoryIndex.load_parts([blob, None], **CONFIG)  # type: ignore[list-item]


def test_an_id_back_while_the_story_it_opened_is_live_joins_that_story() -> None:
    """An article id seen again after its article left the window (or was removed) while the
    story it opened goes on: the article joins that story, whatever its text. (It used to open
    a second story under the same id: both were then reachable by id only in part, `remove`
    and `expire` failed with KeyError, and the summary postings could name an id twice, so
    that the index refused its own snapshot.)"""
    by_id = {d.id: d for d in STREAM}
    first, follow, other = by_id["s1-0"], by_id["s1-1"], by_id["s7-0"]
    t0 = first.published
    assert t0 is not None
    index = StoryIndex(window=timedelta(hours=6), story_memory=timedelta(days=10))
    assert index.assign(StoryDoc(first.id, first.title, first.text, t0, "a")).kind == "new_story"
    assert index.assign(StoryDoc(follow.id, follow.title, follow.text,
                                 t0 + timedelta(hours=3), "b")).story_id == first.id
    index.expire(t0 + timedelta(hours=7))  # the first article leaves; its story goes on
    back = index.assign(StoryDoc(first.id, other.title, other.text, t0 + timedelta(hours=8), "c"))
    assert (back.story_id, back.kind) == (first.id, "joined")
    index.expire(t0 + timedelta(hours=10))  # the follow-up leaves: the story lives on
    assert index.story_count == 1 and index.remembered_count == 0
    copy = index.assign(StoryDoc("copy", other.title, other.text, t0 + timedelta(hours=8), "d"))
    assert (copy.story_id, copy.kind, copy.duplicate_of) == (first.id, "revision", first.id)
    index.expire(t0 + timedelta(hours=20))  # every article left: the story is remembered, once
    assert _remembering(index) == [first.id]
    loaded = StoryIndex.loads(index.dumps(), window=timedelta(hours=6),
                              story_memory=timedelta(days=10))
    assert _remembering(loaded) == [first.id]
    assert index.remove(first.id) is False  # (no KeyError: it left the window)


def test_a_story_that_lost_its_id_to_a_later_one_is_forgotten_with_its_last_article() -> None:
    """A snapshot of an older version can hold two stories under one id (an article id back
    while the story it opened was live opened a second one): the later one is the id's; the
    older, reachable through its articles only, is forgotten with its last article, and the
    later one goes on (it used to lose its entry then, and fail with KeyError later)."""
    by_id = {d.id: d for d in STREAM}
    first, follow, other = by_id["s1-0"], by_id["s1-1"], by_id["s7-0"]
    t0 = first.published
    assert t0 is not None
    index = StoryIndex(window=timedelta(hours=6), story_memory=timedelta(days=10))
    index.assign(StoryDoc(first.id, first.title, first.text, t0, "a"))
    index.assign(StoryDoc(follow.id, follow.title, follow.text, t0 + timedelta(hours=3), "b"))
    index.expire(t0 + timedelta(hours=7))  # the first article leaves; its story goes on
    # the state an older version reached: a second story under the first article's id
    again = StoryDoc(first.id, other.title, other.text, t0 + timedelta(hours=8), "c")
    feats = index._features(again, None)
    terms, weights = index._vector(feats)
    later = index._new_story(first.id)
    index._add(again, t0.timestamp() + 8 * 3600, feats, terms, weights, later,
               Assignment(first.id, "new_story", None, 0.0))
    index = StoryIndex.loads(index.dumps(), window=timedelta(hours=6),
                             story_memory=timedelta(days=10))
    index.expire(t0 + timedelta(hours=10))  # the follow-up, the older story's last, leaves
    assert index.story_count == 1 and _remembering(index) == []
    assert index.assignment(first.id) == Assignment(first.id, "new_story", None, 0.0)
    index.expire(t0 + timedelta(hours=20))  # the later story's article leaves
    assert index.story_count == 0 and _remembering(index) == [first.id]
