"""Story grouping: normalisation, features, and the index on invented articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.story_articles import (
    BACKGROUND,
    BAR_SHOOTING,
    BAR_SHOOTING_FOLLOWUP,
    DRIVE_BY,
    HOST_A,
    HOST_B,
    LOCAL_BACKGROUND,
    QUAKE_CHILE,
    QUAKE_PERU,
    local_background,
)
from watcher.stories import (
    Assignment,
    StoryDoc,
    StoryError,
    StoryIndex,
    StoryTunables,
    clean_body,
    clean_title,
    extract_features,
    shingle_overlap,
)

T0 = datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
AP_FOOTER = (
    "Copyright 2024 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed."
)


def doc(
    doc_id: str,
    title: str,
    text: str,
    hours: float = 0.0,
    source: str = "news.example",
    url: str = "",
) -> StoryDoc:
    return StoryDoc(doc_id, title, text, T0 + timedelta(hours=hours), source, url)


def warm_index(**tunables: object) -> StoryIndex:
    """An index that has seen a realistic background: unrelated news, and everyday local news
    naming the town, so that words every local article shares weigh little."""
    index = StoryIndex(**tunables)  # type: ignore[arg-type]
    background = BACKGROUND + LOCAL_BACKGROUND + local_background(80)
    for i, (title, text) in enumerate(background):
        index.assign(doc(f"bg{i}", title, text, hours=-48 + i * 0.3, source=f"bg{i % 7}.example"))
    return index


# ---
# Normalisation
# ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Two hurt in bar shooting | Local News", "Two hurt in bar shooting"),
        ("Two hurt in bar shooting - KXYZ 7 News", "Two hurt in bar shooting"),
        ("Two hurt in bar shooting | AP | World", "Two hurt in bar shooting"),
        ("Storm - what we know so far about the damage",
         "Storm - what we know so far about the damage"),
        ("  Plain   title  ", "Plain title"),
        ("Quotes \u2019and\u2019 dashes \u2014 stay readable",
         "Quotes 'and' dashes - stay readable"),
    ],
)
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("WASHINGTON (Reuters) - The vote passed on Monday.", "The vote passed on Monday."),
        ("(AP) \u2014 The vote passed on Monday.", "The vote passed on Monday."),
        ("OAKLAND -- Four people were hurt.", "Four people were hurt."),
        ("SAINT JOSEPH, Mich. (WXYZ 3) - Two bailiffs died.", "Two bailiffs died."),
        ("By Jane Roe\nThe vote passed on Monday.", "The vote passed on Monday."),
        ("Updated 4/9/2024 6:04 PM EDT\nThe vote passed.", "The vote passed."),
        ("May 3rd, 2024\nThe vote passed.", "The vote passed."),
        ("The vote passed.\n" + AP_FOOTER, "The vote passed."),
        ("The vote passed.\nFollow us on Twitter and Facebook for updates.", "The vote passed."),
        ("The vote passed.\nAssociated Press writers contributed to this report.",
         "The vote passed."),
        ("The vote passed.\nTwitter / Google / Email", "The vote passed."),
        ("By the time police arrived, the two men had left the bar and driven away.",
         "By the time police arrived, the two men had left the bar and driven away."),
        ("The council met on May 3, 2024 to vote on the budget for the coming year.",
         "The council met on May 3, 2024 to vote on the budget for the coming year."),
    ],
)
def test_clean_body(raw: str, expected: str) -> None:
    assert clean_body(raw) == expected


def test_features_fold_case_accents_ages_and_plurals() -> None:
    f = extract_features(
        "Caf\u00e9 owners", "Jos\u00e9 said the 16-year-old owners of two caf\u00e9s left."
    )
    assert {"cafe", "owner", "jose", "16yo"} <= set(f.counts)
    assert "the" not in f.counts and "said" not in f.counts  # stopwords


def test_features_weight_title_and_lead_over_body() -> None:
    body = "alpha appears early.\n" + " ".join(["filler"] * 100) + "\nomega appears late."
    f = extract_features("Gamma in the title", body)
    assert f.counts["gamma"] > f.counts["alpha"] > f.counts["omega"]


def test_features_find_title_persons_not_teams_or_places() -> None:
    text = (
        "Port Ellison Harriers midfielder Dario Kessling was detained late Friday, the "
        "Ellison County sheriff's office said.\nKessling was stopped on a ring road near "
        "Port Ellison, and the Harriers said they had been told of the detention."
    )
    f = extract_features("Harriers' Dario Kessling detained", text)
    assert f.focal == frozenset({"kessling"})


@pytest.mark.parametrize(
    ("a", "b", "jaccard_at_least", "containment_at_least"),
    [
        (BAR_SHOOTING, BAR_SHOOTING, 1.0, 1.0),
        (BAR_SHOOTING, "\n".join(BAR_SHOOTING.splitlines()[:3]), 0.0, 0.95),
    ],
)
def test_shingle_overlap(a: str, b: str, jaccard_at_least: float,
                         containment_at_least: float) -> None:
    jac, cont = shingle_overlap(extract_features("", a), extract_features("", b))
    assert jac >= jaccard_at_least and cont >= containment_at_least


def test_shingle_overlap_of_different_texts_is_low() -> None:
    jac, cont = shingle_overlap(extract_features("", BAR_SHOOTING), extract_features("", DRIVE_BY))
    assert jac < 0.05 and cont < 0.1


# ---
# Grouping decisions
# ---

BAR_TITLE = "Two men wounded in shooting outside Millbrook bar"
BAR_URL = "https://millbrooktimes.example/news/bar-shooting"


@pytest.mark.parametrize(
    ("case", "copy", "kind"),
    [
        ("syndicated copy with dateline and footer",
         doc("c", BAR_TITLE, "MILLBROOK, Ohio (AP) \u2014 " + BAR_SHOOTING + "\n" + AP_FOOTER,
             hours=2, source="wire.example"), "revision"),
        ("retitled copy with a changed word",
         doc("c", "Millbrook bar shooting leaves two hurt | Local News",
             BAR_SHOOTING.replace("early Saturday", "on Saturday"), hours=3,
             source="tv7.example"), "revision"),
        ("truncated copy",
         doc("c", "Two wounded at Millbrook bar", "\n".join(BAR_SHOOTING.splitlines()[:3]),
             hours=5, source="radio.example"), "revision"),
        ("same canonical URL, text updated",
         doc("c", BAR_TITLE + " (update)", BAR_SHOOTING + "\nPolice later released a sketch.",
             hours=4, url=BAR_URL), "revision"),
        ("follow-up two days later",
         doc("c", "Police arrest suspect in Blue Anchor bar shooting", BAR_SHOOTING_FOLLOWUP,
             hours=50), "joined"),
    ],
)
def test_same_story(case: str, copy: StoryDoc, kind: str) -> None:
    index = warm_index()
    first = index.assign(doc("bar", BAR_TITLE, BAR_SHOOTING, url=BAR_URL))
    assert first.kind == "new_story" and first.story_id == "bar"
    got = index.assign(copy)
    assert (got.story_id, got.kind) == ("bar", kind), case
    if kind == "revision":
        assert got.duplicate_of == "bar"
    else:
        assert got.duplicate_of is None


@pytest.mark.parametrize(
    ("case", "first", "second"),
    [
        ("two shootings in one town, days apart",
         doc("a", BAR_TITLE, BAR_SHOOTING),
         doc("b", "Teen killed in drive-by shooting on Lakeview Avenue", DRIVE_BY, hours=74)),
        ("two shootings in one town, the same day",
         doc("a", BAR_TITLE, BAR_SHOOTING),
         doc("b", "Teen killed in drive-by shooting on Lakeview Avenue", DRIVE_BY, hours=10)),
        ("two earthquakes in one week",
         doc("a", "Magnitude 6.1 earthquake strikes off northern Peru", QUAKE_PERU),
         doc("b", "Magnitude 5.8 earthquake shakes central Chile", QUAKE_CHILE, hours=70)),
        ("two hosts named for the same ceremony role",
         doc("a", "Rita Valdane to host next year's Oscars", HOST_A),
         doc("b", "Jonah Pryce to host the Academy Awards", HOST_B, hours=6)),
    ],
)
def test_different_events_of_a_kind_stay_apart(case: str, first: StoryDoc,
                                               second: StoryDoc) -> None:
    index = warm_index()
    a = index.assign(first)
    b = index.assign(second)
    assert a.kind == "new_story" and b.kind == "new_story", case
    assert a.story_id != b.story_id


def test_a_story_collects_its_copies_and_follow_ups_but_not_the_other_shooting() -> None:
    index = warm_index()
    stream = [
        doc("bar", BAR_TITLE, BAR_SHOOTING, 0, url=BAR_URL),
        doc("bar-ap", BAR_TITLE, "(AP) \u2014 " + BAR_SHOOTING, 1, "wire.example"),
        doc("drive-by", "Teen killed in drive-by shooting on Lakeview Avenue", DRIVE_BY, 30),
        doc("arrest", "Police arrest suspect in Blue Anchor bar shooting",
            BAR_SHOOTING_FOLLOWUP, 50),
    ]
    got = {d.id: index.assign(d) for d in stream}
    assert {k: v.story_id for k, v in got.items()} == {
        "bar": "bar", "bar-ap": "bar", "drive-by": "drive-by", "arrest": "bar"
    }
    assert [got[k].kind for k in ("bar", "bar-ap", "drive-by", "arrest")] == [
        "new_story", "revision", "new_story", "joined"
    ]


def test_assign_is_idempotent_for_an_id_in_the_window() -> None:
    index = warm_index()
    first = index.assign(doc("bar", BAR_TITLE, BAR_SHOOTING))
    size = len(index)
    again = index.assign(doc("bar", "Something else entirely", DRIVE_BY, hours=1))
    assert again == first
    assert len(index) == size
    assert index.assignment("bar") == first


# ---
# Time: expiry, story memory, undated articles
# ---


def test_expire_drops_articles_older_than_the_window() -> None:
    index = StoryIndex(window=timedelta(hours=10))
    for i in range(6):
        index.assign(doc(f"d{i}", f"Item {i} about topic {i}", f"Text number {i} words.", hours=i))
    assert len(index) == 6
    assert index.expire(T0 + timedelta(hours=12.5)) == 3  # published at 0, 1 and 2 h
    assert len(index) == 3
    assert index.assignment("d2") is None and index.assignment("d3") is not None
    assert index.expire(T0 + timedelta(hours=12.5)) == 0
    assert index.expire(T0 + timedelta(days=30)) == 3
    assert len(index) == 0


@pytest.mark.parametrize(
    ("memory", "expected_story", "expected_kind"),
    [(timedelta(0), "arrest", "new_story"), (timedelta(days=30), "bar", "joined")],
)
def test_a_follow_up_after_the_window_finds_a_remembered_story(
    memory: timedelta, expected_story: str, expected_kind: str
) -> None:
    index = warm_index(story_memory=memory)
    index.assign(doc("bar", BAR_TITLE, BAR_SHOOTING))
    index.assign(doc("bar-2", "Millbrook bar shooting: two men hurt", BAR_SHOOTING[:400], 1))
    later = T0 + timedelta(days=6)
    index.expire(later)
    assert index.assignment("bar") is None  # the articles left the 72 h window
    assert (index.remembered_count > 0) == bool(memory)  # the background's stories, and "bar"
    got = index.assign(StoryDoc("arrest", "Police arrest suspect in Blue Anchor bar shooting",
                                BAR_SHOOTING_FOLLOWUP, later, "news.example"))
    assert (got.story_id, got.kind) == (expected_story, expected_kind)


def test_remembered_stories_are_forgotten_after_the_story_memory() -> None:
    index = StoryIndex(window=timedelta(hours=1), story_memory=timedelta(hours=5))
    index.assign(doc("a", BAR_TITLE, BAR_SHOOTING))
    index.expire(T0 + timedelta(hours=2))
    assert (len(index), index.story_count, index.remembered_count) == (0, 0, 1)
    index.expire(T0 + timedelta(hours=5.5))
    assert index.remembered_count == 1
    index.expire(T0 + timedelta(hours=6.5))
    assert index.remembered_count == 0


def distinct(i: int) -> tuple[str, str]:
    """A title and text sharing no content word with those of any other `i`."""
    letters = "bcdfghjklmnpqrstvwz"
    words = []
    for k in range(8):
        n, w = i * 8 + k, ""
        while True:
            n, r = divmod(n, len(letters))
            w += letters[r] + "a"
            if not n:
                break
        words.append(w + "x")
    return " ".join(words[:3]), " ".join(words) + "."


def test_remembered_stories_are_capped_least_recent_first() -> None:
    index = StoryIndex(window=timedelta(hours=1), max_remembered=3)
    for i in range(6):
        index.assign(StoryDoc(f"d{i}", *distinct(i), T0 + timedelta(hours=i), "x.example"))
    index.expire(T0 + timedelta(hours=8))
    assert len(index) == 0 and index.remembered_count == 3
    assert set(index._remembered) == {"d3", "d4", "d5"}


def test_memory_is_bounded_by_the_window_not_the_history() -> None:
    index = StoryIndex(window=timedelta(hours=5), story_memory=timedelta(hours=5))
    sizes = []
    for i in range(600):
        when = T0 + timedelta(minutes=10 * i)
        index.expire(when)
        assert index.assign(StoryDoc(f"d{i}", *distinct(i), when, "x.example")).kind == "new_story"
        sizes.append((len(index), index.remembered_count))
    assert max(n for n, _ in sizes) <= 31  # 5 h of articles every 10 minutes
    assert max(r for _, r in sizes) <= 31
    assert sizes[-1] == sizes[300]  # steady state: twice the history, the same contents


def test_undated_articles_get_no_time_penalty_and_are_kept_by_count() -> None:
    index = StoryIndex(max_undated=3)
    undated = StoryDoc("u0", BAR_TITLE, BAR_SHOOTING, None, "a.example")
    assert index.assign(undated).kind == "new_story"
    index.expire(T0 + timedelta(days=400))  # no time-based expiry for undated articles
    assert index.assignment("u0") is not None
    follow = index.assign(StoryDoc("u1", "Police arrest suspect in Blue Anchor bar shooting",
                                   BAR_SHOOTING_FOLLOWUP, None, "b.example"))
    assert follow.story_id == "u0"
    for i in range(2, 5):
        index.assign(StoryDoc(f"u{i}", f"Other item {i}", f"Other words {i} here.", None, "c"))
    assert len(index) == 3 and index.assignment("u0") is None  # the oldest went first


# ---
# Restore
# ---


def test_restore_rebuilds_state_without_deciding_again() -> None:
    index = warm_index()
    index.restore(doc("bar", BAR_TITLE, BAR_SHOOTING, url=BAR_URL), "story-17")
    index.restore(doc("bar-ap", BAR_TITLE, "(AP) - " + BAR_SHOOTING, 1), "story-17",
                  duplicate_of="bar")
    assert index.assignment("bar") == Assignment("story-17", "joined", None, 1.0)
    assert index.assignment("bar-ap") == Assignment("story-17", "revision", "bar", 1.0)
    # a restored id is known: assign returns the restored assignment
    assert index.assign(doc("bar", "x", "y")).story_id == "story-17"
    # new articles join the restored story under its stored id
    got = index.assign(doc("arrest", "Police arrest suspect in Blue Anchor bar shooting",
                           BAR_SHOOTING_FOLLOWUP, 50))
    assert (got.story_id, got.kind) == ("story-17", "joined")
    again = index.assign(doc("copy", "Copy", BAR_SHOOTING, 2, url=BAR_URL))
    assert (again.story_id, again.kind, again.duplicate_of) == ("story-17", "revision", "bar")


def test_restore_of_a_story_opener_is_a_new_story() -> None:
    index = StoryIndex()
    index.restore(doc("a", BAR_TITLE, BAR_SHOOTING), "a")
    assert index.assignment("a") == Assignment("a", "new_story", None, 1.0)


# ---
# Errors
# ---


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": timedelta(0)}, "window must be a positive timedelta"),
        ({"window": 72}, "window must be a positive timedelta"),
        ({"join_treshold": 0.2}, "unknown tunable"),
        ({"join_threshold": -0.1}, "must be >= 0"),
        ({"join_threshold": float("nan")}, "must be a finite number"),
        ({"max_terms": 0}, "max_terms must be >= 1"),
        ({"df_half_life": 0}, "df_half_life must be > 0"),
        ({"story_memory": timedelta(days=-1)}, "must not be negative"),
        ({"entity_weight": "2"}, "must be a number"),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(StoryError, match=message):
        StoryIndex(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (StoryDoc("", "t", "x", T0, "s"), "id must be a non-empty string"),
        (StoryDoc("a", "t", "x", "2024-01-01", "s"), "published must be a datetime"),  # type: ignore[arg-type]
        (StoryDoc("a", None, "x", T0, "s"), "title and text must be strings"),  # type: ignore[arg-type]
        ("not a doc", "expected a StoryDoc"),
    ],
)
def test_bad_documents_are_rejected(bad: object, message: str) -> None:
    with pytest.raises(StoryError, match=message):
        StoryIndex().assign(bad)  # type: ignore[arg-type]


def test_restore_needs_a_story_id() -> None:
    with pytest.raises(StoryError, match="story_id must be a non-empty string"):
        StoryIndex().restore(doc("a", "t", "x"), "")


def test_expire_needs_a_datetime() -> None:
    with pytest.raises(StoryError, match="now must be a datetime"):
        StoryIndex().expire("tomorrow")  # type: ignore[arg-type]


def test_naive_datetimes_are_utc() -> None:
    index = StoryIndex(window=timedelta(hours=1))
    index.assign(StoryDoc("a", "t", "some text here", datetime(2024, 1, 1, 12), "s"))
    assert index.expire(datetime(2024, 1, 1, 12, 59, tzinfo=UTC)) == 0
    assert index.expire(datetime(2024, 1, 1, 13, 1, tzinfo=UTC)) == 1


def test_tunables_are_a_frozen_dataclass_with_sane_defaults() -> None:
    t = StoryTunables()
    assert 0 < t.join_threshold < t.revision_min_cosine < 1
    assert t.story_memory >= timedelta(days=30)


def test_assignments_are_every_held_article_as_a_store_keeps_it() -> None:
    index = warm_index()
    url = "https://news.example/bar-shooting"
    index.assign(doc("first", "Two hurt in bar shooting", "Two men were hurt late on Friday "
                     "when shots were fired outside a bar on Harbor Street, police said.", url=url))
    copy = index.assign(doc("copy", "Bar shooting leaves two hurt", "A re-post.", hours=1, url=url))
    assert copy.kind == "revision"
    got = index.assignments()
    assert got.keys() == index.doc_ids()
    for doc_id, (story_id, duplicate_of) in got.items():
        a = index.assignment(doc_id)
        assert a is not None and (a.story_id, a.duplicate_of) == (story_id, duplicate_of)
    assert got["copy"] == (index.assignment("first").story_id, "first")  # type: ignore[union-attr]
