"""Story features derived elsewhere (a parse worker, another process) and passed to the index:
the same decisions and the same state as when the index derives them itself."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_stories_snapshot import CONFIG, invented_stream, state
from watcher.stories import (
    Assignment,
    DocFeatures,
    StoryDoc,
    StoryError,
    StoryIndex,
    extract_features,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)  # after the invented stream

_EVENTS = [
    ("Harlow Bay", "grain silo", "roof", "engineers are examining the rubble"),
    ("Corrigan", "ferry terminal", "gangway", "divers are searching the harbour"),
    ("Stonebridge", "textile mill", "boiler", "inspectors are sealing the site"),
    ("Larkspur", "mountain tunnel", "scaffold", "geologists are testing the rock"),
]
_FIRST = ["Maren", "Tobias", "Ilse", "Darnell", "Priya", "Oskar", "Lucia", "Femi", "Greta",
          "Hamid", "Yuki", "Bruno", "Selma", "Ivo", "Nadia", "Rufus", "Tamsin", "Emeka",
          "Wanda", "Piet", "Odile"]
_LAST = ["Vantrell", "Okonkwo", "Haldane", "Presswick", "Marlowe", "Quinterro", "Ashgrove",
         "Delacourt", "Brannigan", "Sokolova", "Whitlock", "Ferreira", "Nakagawa", "Lindqvist",
         "Orsini", "Keplinger", "Mbeki", "Talvio", "Rasmussen", "Dunleavy", "Castellan"]


def crowded_story(event: int) -> list[StoryDoc]:
    """One story whose titles name three new persons each: its person table (16 at most)
    fills up part-way through an article, and which persons get in depends on their order."""
    place, site, part, work = _EVENTS[event]
    base = (f"Crews worked through the night at the {place} {site} where the {part} gave way "
            "on Tuesday, the county fire marshal said.\n"
            f"The {site} had been inspected in the spring, and {work} while it stays closed.\n")
    docs = []
    for k in range(7):
        names = list(zip(_FIRST[3 * k : 3 * k + 3], _LAST[3 * k : 3 * k + 3], strict=True))
        title = (", ".join(last for _, last in names)
                 + f" among workers hurt in {place} {site} collapse")
        body = base + "\n".join(
            f"{first} {last}, a contractor, was hurt when the {part} fell. {last} was taken to "
            "the county hospital." for first, last in names)
        docs.append(StoryDoc(f"e{event}-{k}", title, body,
                             T0 + timedelta(days=2 * event, hours=k), f"s{k}.example"))
    return docs


STREAM = invented_stream() + [d for e in range(len(_EVENTS)) for d in crowded_story(e)]


def _features(docs: list[StoryDoc]) -> list[DocFeatures]:
    tunables = StoryIndex(**CONFIG).tunables
    return [extract_features(d.title, d.text, tunables) for d in docs]


def _feed(index: StoryIndex, docs: list[StoryDoc],
          features: list[DocFeatures] | None = None) -> list[Assignment]:
    out = []
    for i, d in enumerate(docs):
        if d.published is not None:
            index.expire(d.published)
        out.append(index.assign(d) if features is None else index.assign(d, features[i]))
    return out


def in_a_child(seed: str) -> tuple[list[DocFeatures], list[Assignment], Any]:
    """In another interpreter, with hash seed `seed`: the stream's features, and the
    assignments and state of an index fed with it."""
    code = ("import pickle, sys\n"
            "from tests.test_stories_features import CONFIG, STREAM, StoryIndex, _feed, "
            "_features, state\n"
            "index = StoryIndex(**CONFIG)\n"
            "got = (_features(STREAM), _feed(index, STREAM), state(index))\n"
            "sys.stdout.buffer.write(pickle.dumps(got))\n")
    env = {**os.environ, "PYTHONHASHSEED": seed,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          check=True, timeout=120)
    got: tuple[list[DocFeatures], list[Assignment], Any] = pickle.loads(done.stdout)
    return got


@pytest.mark.parametrize("event", range(len(_EVENTS)))
def test_a_crowded_story_fills_its_person_table(event: int) -> None:
    index = StoryIndex(**CONFIG)
    got = _feed(index, crowded_story(event))
    assert {a.story_id for a in got} == {f"e{event}-0"}
    assert len(index._stories[f"e{event}-0"].persons) == 16


def test_precomputed_features_decide_exactly_as_derived_ones() -> None:
    expected_index = StoryIndex(**CONFIG)
    expected = _feed(expected_index, STREAM)
    assert {a.kind for a in expected} == {"new_story", "joined", "revision"}
    features = _features(STREAM)
    for given in (features, [pickle.loads(pickle.dumps(f)) for f in features]):
        index = StoryIndex(**CONFIG)
        assert _feed(index, STREAM, given) == expected
        assert state(index) == state(expected_index)


def test_features_and_state_do_not_depend_on_the_process() -> None:
    """Features derived in other processes (other hash seeds, as parse workers have) decide
    exactly as those derived here; and the index's state is the same in every process."""
    expected_index = StoryIndex(**CONFIG)
    expected = _feed(expected_index, STREAM)
    for seed in ("0", "1"):
        features, assigned, child_state = in_a_child(seed)
        assert features == _features(STREAM)
        assert assigned == expected
        assert child_state == state(expected_index)
        index = StoryIndex(**CONFIG)
        assert _feed(index, STREAM, features) == expected
        assert state(index) == state(expected_index)


def test_restore_with_precomputed_features() -> None:
    decided = _feed(StoryIndex(**CONFIG), STREAM)
    features = [pickle.loads(pickle.dumps(f)) for f in _features(STREAM)]
    plain, given = StoryIndex(**CONFIG), StoryIndex(**CONFIG)
    for d, a, f in zip(STREAM, decided, features, strict=True):
        plain.restore(d, a.story_id, a.duplicate_of)
        given.restore(d, a.story_id, a.duplicate_of, features=f)
    assert state(given) == state(plain)
    assert [given.assignment(d.id) for d in STREAM] == [plain.assignment(d.id) for d in STREAM]


def test_features_must_be_doc_features() -> None:
    index = StoryIndex()
    doc = STREAM[0]
    bad: Any = {"counts": {}}
    with pytest.raises(StoryError, match="features must be DocFeatures"):
        index.assign(doc, bad)
    with pytest.raises(StoryError, match="features must be DocFeatures"):
        index.restore(doc, "s", features=bad)
    assert len(index) == 0
