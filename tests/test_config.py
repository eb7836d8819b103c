from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import ConfigError, load_config, parse_config, resolve_path

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[store]
url = "sqlite:///x.db"
[slack]
token_env = "MY_TOKEN"
[[feeds]]
name = "a"
url = "https://a.example/feed"
[[watches]]
name = "w"
channel = "#c"
threshold = 3
[watches.entities]
x = ["Xland"]
[watches.escalation]
attack = 2
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("t.toml"), env or {})
    return info.value.problems


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "config" / "watcher.toml", {})
    assert len(cfg.feeds) >= 10
    assert all(f.url.startswith("https://") for f in cfg.feeds)
    w = cfg.watch("armenia-azerbaijan")
    assert w.channel == "#caucasus-watch" and {"armenia", "azerbaijan"} <= set(w.entities)


def test_good_config_and_defaults() -> None:
    cfg = parse_config(GOOD, None, {})
    assert cfg.store.url == "sqlite:///x.db"
    assert cfg.slack.token_env == "MY_TOKEN" and cfg.slack.base_url is None
    assert [s.name for s in cfg.watches[0].severities] == ["warning", "critical"]
    assert cfg.watches[0].threshold == 3
    assert cfg.poll.recent_hours == 24


def test_env_overrides_store_and_slack_base_url() -> None:
    env = {"WATCHER_DATABASE_URL": "sqlite:///other.db",
           "WATCHER_SLACK_BASE_URL": "http://127.0.0.1:9/api"}
    cfg = parse_config(GOOD, None, env)
    assert cfg.store.url == "sqlite:///other.db"
    assert cfg.slack.base_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('url = "https://a.example/feed"', 'url = "ftp://a"'),
         "feeds[0].url (line 8): 'ftp://a' is not an http(s) URL"),
        (lambda t: t.replace('name = "a"', 'name = ""'), "feeds[0].name (line 7): missing"),
        (lambda t: t + '[[feeds]]\nname = "a"\nurl = "https://b.example"\n',
         "duplicate feed name 'a'"),
        (lambda t: t.replace('token_env = "MY_TOKEN"', 'token_env = "xoxb-123"'),
         "it looks like a token itself"),
        (lambda t: t.replace("threshold = 3", "threshold = -1"), "threshold (line 12): must be"),
        (lambda t: t.replace('channel = "#c"\n', ""), ".channel (line 9): missing"),
        (lambda t: t.replace("attack = 2", "attack = \"high\""), "weight must be a positive"),
        (lambda t: t.replace('x = ["Xland"]', "x = []"), "non-empty list of alias strings"),
        (lambda t: t + "[fetch]\ndeadline = 0\n", "fetch.deadline (line 18): must be a positive"),
        (lambda t: t + "[fetch]\ntimeuot = 3\n", "fetch.timeuot (line 18): unknown key"),
        (lambda t: t + "[poll]\nrecent_hours = \"x\"\n", "poll.recent_hours"),
        (lambda t: t.replace("[[watches]]", "[[watches]]\nmin_entities = 5"),
         "min_entities"),
        # names and channels longer than the store's columns
        (lambda t: t.replace('name = "a"', f'name = "{"a" * 201}"'),
         "feeds[0].name (line 7): 201 characters long: a feed name is at most 200"),
        (lambda t: t.replace('name = "w"', f'name = "{"w" * 201}"'),
         "watches[0].name (line 10): 201 characters long: a watch name is at most 200"),
        (lambda t: t.replace('channel = "#c"', f'channel = "#{"c" * 200}"'),
         "watches[0] (w).channel (line 11): 201 characters long: a channel name or ID is at "
         "most 200"),
        (lambda t: t.replace('channel = "#c"', f'channel = "#c"\nescalation_channel = '
                             f'"#{"c" * 200}"'), "escalation_channel (line 12): 201 characters"),
        (lambda t: t + f'[ops]\nchannel = "#{"o" * 200}"\n',
         "ops.channel (line 18): 201 characters long"),
        (lambda t: t.replace("threshold = 3", f'[watches.severities]\n{"s" * 51} = 3'),
         "severities (line 9): severity name 'ssssssssssssssssssss'... is 51 characters long: "
         "at most 50"),
        # durations past any date, infinity, not a number
        (lambda t: t + "[stories]\nwindow_hours = 1e9\n",
         "stories.window_hours (line 18): must be at most 87600 hours (10 years), got "
         "1000000000.0"),
        (lambda t: t + "[poll]\nmax_age_hours = inf\n", "poll.max_age_hours (line 18): must be at "
         "most 87600 hours"),
        (lambda t: t + "[ops]\nmin_silence_hours = nan\n",
         "ops.min_silence_hours (line 18): must be a positive number, got nan"),
        (lambda t: t.replace('token_env = "MY_TOKEN"',
                             'token_env = "MY_TOKEN"\nclaim_lease = 1e12'),
         "slack.claim_lease (line 6): must be at most 86400 seconds (a day)"),
        (lambda t: t.replace('url = "sqlite:///x.db"',
                             'url = "sqlite:///x.db"\nretention_days = 1e7'),
         "store.retention_days (line 4): must be at most 3650 days"),
        (lambda t: t.replace('token_env = "MY_TOKEN"', 'token_env = "MY_TOKEN"\n'
                             'min_interval = inf'),
         "slack.min_interval (line 6): must be a number of seconds from 0 to 60, got inf"),
        (lambda t: t.replace('url = "https://a.example/feed"', 'url = "http://[::1/feed"'),
         "feeds[0].url (line 8): 'http://[::1/feed' is not an http(s) URL"),
        # control characters (NUL: PostgreSQL refuses it) in names, channels and URLs
        (lambda t: t.replace('name = "a"', 'name = "a\\u0000b"'),
         "feeds[0].name (line 7): 'a\\x00b' holds a control character"),
        (lambda t: t.replace('url = "https://a.example/feed"', 'url = "https://a.example/\\u0000"'),
         "feeds[0].url (line 8): 'https://a.example/\\x00' holds a control character"),
        (lambda t: t.replace('channel = "#c"', 'channel = "#c\\u0000"'),
         "watches[0] (w).channel (line 11): '#c\\x00' holds a control character"),
        (lambda t: t + '[ops]\nchannel = "#o\\u0007"\n',
         "ops.channel (line 18): '#o\\x07' holds a control character"),
        (lambda t: t.replace("threshold = 3", '[watches.severities]\n"warn\\u0000" = 3'),
         "severity name 'warn\\x00' holds a control character"),
    ],
)
def test_each_problem_names_key_line_and_fix(edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    found = problems(edit(GOOD))
    assert any(expected in p for p in found), found


def test_all_problems_reported_at_once() -> None:
    text = GOOD.replace('url = "https://a.example/feed"', 'url = "nope"').replace(
        "threshold = 3", "threshold = 0")
    assert len(problems(text)) == 2


def test_toml_syntax_error_names_line() -> None:
    [p] = problems("[store\nurl = 1\n")
    assert "line 1" in p and "not valid TOML" in p


def test_missing_file_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Path("/nonexistent/watcher.toml"), {})
    assert "file not found" in info.value.render()


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        ("a.toml", {"WATCHER_CONFIG": "b.toml"}, "a.toml"),
        (None, {"WATCHER_CONFIG": "b.toml"}, "b.toml"),
        (None, {}, "config/watcher.toml"),
    ],
)
def test_resolve_path(cli: str | None, env: dict[str, str], expected: str) -> None:
    assert resolve_path(cli, env) == Path(expected)


def test_escalation_tiers_and_duplicate_terms() -> None:
    tiers = GOOD.replace("attack = 2", 'armed = { weight = 3, terms = ["shell", "artillery"] }\n'
                         "attack = 2")
    w = parse_config(tiers, None, {}).watches[0]
    assert {(t.text, t.weight) for t in w.escalation} == {
        ("shell", 3.0), ("artillery", 3.0), ("attack", 2.0)}
    dup = GOOD.replace("attack = 2", 'armed = { weight = 3, terms = ["attack"] }\nattack = 2')
    assert any("appears twice" in p for p in problems(dup))
    bad = GOOD.replace("attack = 2", "armed = { weight = 3 }")
    assert any("a tier needs terms" in p for p in problems(bad))


def test_shards_partition_the_feeds() -> None:
    text = GOOD + "".join(f'[[feeds]]\nname = "f{i}"\nurl = "https://a.example/{i}"\n'
                          for i in range(40))
    cfg = parse_config(text, None, {})
    parts = [cfg.shard(i, 3).feeds for i in range(3)]
    names = sorted(f.name for p in parts for f in p)
    assert names == sorted(f.name for f in cfg.feeds) and all(parts)
    assert cfg.shard(0, 1) is cfg
    with pytest.raises(ConfigError):
        cfg.shard(3, 3)


@pytest.mark.parametrize(
    ("store", "stories", "expected"),
    [
        ("retention_days = 1", "", "at least 3"),  # the default window: 72 h
        ("retention_days = 2", "[stories]\nwindow_hours = 50", "at least 2.09"),
        ("retention_days = 0.5", "[stories]\nwindow_hours = 24", "at least 1"),
    ],
)
def test_retention_shorter_than_the_story_window_is_refused(
    store: str, stories: str, expected: str
) -> None:
    text = GOOD.replace('url = "sqlite:///x.db"', f'url = "sqlite:///x.db"\n{store}') + stories
    [p] = problems(text)
    assert p.startswith("store.retention_days (line 4)") and "shorter than the story window" in p
    assert p.endswith(expected)


@pytest.mark.parametrize(("retention", "window"), [(3, 72), (30, 72), (1, 24), (0.5, 12)])
def test_retention_as_long_as_the_window_is_fine(retention: float, window: float) -> None:
    text = (GOOD.replace('url = "sqlite:///x.db"',
                         f'url = "sqlite:///x.db"\nretention_days = {retention}')
            + f"[stories]\nwindow_hours = {window}\n")
    cfg = parse_config(text, Path("t.toml"), {})
    assert cfg.store.retention_days == retention and cfg.stories.window_hours == window


def test_feed_names_are_compared_as_stored() -> None:
    """Names are stripped before they are stored: " a" and "a" are one feed (a duplicate), and
    the length limit counts the stripped name."""
    dup = GOOD + '[[feeds]]\nname = " a "\nurl = "https://b.example/feed"\n'
    assert any("duplicate feed name 'a'" in p for p in problems(dup))
    padded = GOOD.replace('name = "a"', f'name = "   {"a" * 200}  "')
    assert [f.name for f in parse_config(padded, None, {}).feeds] == ["a" * 200]
