"""Load and validate watcher's TOML configuration.

Every problem in a file is collected and reported at once, each naming the key, the line where it
can be found, and how to fix it. Nothing here reads secrets: the config names the environment
variable that holds the Slack token, never the token itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from watcher.match import compile_watch
from watcher.models import Severity, Term, Watch
from watcher.routing import QuietHours, check_timezone, parse_span
from watcher.urls import is_http_url

DEFAULT_CONFIG = Path("config/watcher.toml")
ENV_CONFIG = "WATCHER_CONFIG"
ENV_DATABASE_URL = "WATCHER_DATABASE_URL"
ENV_SLACK_BASE_URL = "WATCHER_SLACK_BASE_URL"
ENV_SLACK_SECRET_BLOCK = "WATCHER_SLACK_SECRET_BLOCK"
DEFAULT_USER_AGENT = (
    "watcher/0.1 (conflict-escalation news watcher; +https://github.com/watcher-news/watcher)"
)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "sqlite:///watcher.db"
    retention_days: float = 30.0  # articles, stories and finished alerts older than this go


@dataclass(frozen=True, slots=True)
class SlackConfig:
    token_env: str = "WATCHER_SLACK_TOKEN"
    base_url: str | None = None
    timeout: float = 10.0
    max_send_attempts: int = 3  # per run, for a transient failure (429 honours Retry-After)
    min_interval: float = 1.0  # seconds between two messages to one channel (Slack's pace)
    claim_lease: float = 300.0  # seconds a run holds an alert it is delivering
    secret_block: str | None = None  # a Prefect Secret block holding the token (if env is unset)
    webhook_url_env: str | None = None  # env var with an incoming-webhook URL (no bot needed)
    burst_limit: int = 10  # more lower-severity stories than this for a channel in one run: one
    #                        summary message (0: off)


_SLACK_DEFAULT = SlackConfig()


@dataclass(frozen=True, slots=True)
class FetchConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 45.0  # whole fetch of one feed, body included
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 64  # (each costs ~0.2 ms of CPU per fetch: latency bounds a cycle)
    per_host: int = 4
    user_agent: str = DEFAULT_USER_AGENT
    full_text: bool = False  # default for feeds that do not set full_text themselves
    max_article_fetches: int = 50  # article pages fetched per run, at most
    max_items: int = 500  # items taken from one feed per run; the rest are counted and dropped
    max_article_chars: int = 100_000  # article text is cut at this many characters
    # Networks that links from feed content and redirects may reach although they are not public
    # (CIDR strings; see watcher.netguard). Feed URLs written in the config are always trusted.
    allow_networks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PollConfig:
    recent_hours: float = 24.0  # first poll of a feed alerts only on items this recent
    max_age_hours: float = 72.0  # never alert on items published longer ago than this


@dataclass(frozen=True, slots=True)
class StoriesConfig:
    window_hours: float = 72.0  # an article can join a story whose articles are this recent


@dataclass(frozen=True, slots=True)
class OpsConfig:
    channel: str | None = None  # where feed-health alerts go; None: logged only
    failures: int = 5  # consecutive failures before a feed counts as down
    silence_factor: float = 10.0  # silent when no new item for this many typical gaps...
    min_silence_hours: float = 24.0  # ...and at least this long


@dataclass(frozen=True, slots=True)
class FeedConfig:
    name: str
    url: str
    full_text: bool = False  # fetch article pages of promising new items for their full text


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    store: StoreConfig = field(default_factory=StoreConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    feeds: tuple[FeedConfig, ...] = ()
    ops: OpsConfig = field(default_factory=OpsConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    watches: tuple[Watch, ...] = ()
    quiet_hours: tuple[QuietHours, ...] = ()

    def shard(self, index: int, count: int) -> Config:
        """This config with only the feeds of shard `index` of `count` (stable: by feed name)."""
        if count < 1 or not 0 <= index < count:
            raise ConfigError([f"shard {index} of {count}: need 0 <= shard < shards"])
        if count == 1:
            return self
        return replace(self, feeds=tuple(f for f in self.feeds if shard_of(f.name, count) == index))

    def watch(self, name: str) -> Watch:
        for w in self.watches:
            if w.name == name:
                return w
        known = ", ".join(w.name for w in self.watches) or "none"
        raise ConfigError([f"no watch named {name!r} (watches in this config: {known})"])


def shard_of(feed_name: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(feed_name.encode()).digest()[:8], "big") % count


class ConfigError(Exception):
    """One or more problems with a configuration file. `problems` holds one message each."""

    def __init__(self, problems: list[str], path: Path | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}" + "; ".join(problems))

    def render(self) -> str:
        head = f"invalid configuration {self.path}" if self.path else "invalid configuration"
        lines = [f"{head} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def resolve_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config wins, then WATCHER_CONFIG, then config/watcher.toml."""
    if cli_value:
        return Path(cli_value)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                f"file not found: {path} — pass --config PATH or set {ENV_CONFIG}, or run from the "
                "directory that holds config/watcher.toml"
            ],
            path,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read {path}: {exc}"], path) from None
    return parse_config(raw_text, path, env)


def parse_config(raw_text: str, path: Path | None, env: Mapping[str, str]) -> Config:
    try:
        data = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}; fix the syntax at that line"], path) from None
    v = _Validator(raw_text)
    cfg = v.config(data, path, env)
    if v.problems:
        raise ConfigError(v.problems, path)
    return cfg


# ---
# validation


_TOP_KEYS = {"store", "slack", "fetch", "poll", "feeds", "watches", "ops", "stories",
             "quiet_hours"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


# Upper bounds of the durations (a time this far back or ahead is still a date: a larger one
# made every run fail with OverflowError), and of the factor of silence.
MAX_HOURS = 87_600  # 10 years
_MAXIMUMS: dict[str, tuple[float, str]] = {
    **dict.fromkeys(("window_hours", "min_silence_hours", "recent_hours", "max_age_hours"),
                    (float(MAX_HOURS), "hours (10 years)")),
    "retention_days": (3_650.0, "days (10 years)"),
    **dict.fromkeys(("claim_lease", "timeout", "connect_timeout", "read_timeout", "deadline"),
                    (86_400.0, "seconds (a day)")),
    "silence_factor": (1_000.0, "typical gaps"),
}
# Names and channels are stored in columns of this many characters (`watcher.store`): feed,
# watch and channel names; severity names in columns of SEVERITY_MAX.
NAME_MAX = 200
SEVERITY_MAX = 50


def _channel_problem(channel: str) -> str | None:
    """Why a channel name or ID (as given) cannot be stored, or None."""
    stripped = channel.strip()
    if len(stripped) > NAME_MAX:
        return f"{len(stripped)} characters long: a channel name or ID is at most {NAME_MAX}"
    if not stripped.isprintable():
        return f"{channel!r} holds a control character"
    return None


_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Validator:
    def __init__(self, raw_text: str) -> None:
        self.lines = raw_text.splitlines()
        self.problems: list[str] = []

    # -- locating keys in the source, for messages ---
    def _line_of(self, table: str, key: str | None = None, index: int | None = None) -> int | None:
        """Best-effort line number (1-based) of `key` in `[table]` or the index-th `[[table]]`."""
        header_re = re.compile(
            r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]" if index is not None
            else r"^\s*\[\s*" + re.escape(table) + r"\s*\]"
        )
        seen = -1
        start = None
        for i, line in enumerate(self.lines):
            if header_re.match(line):
                seen += 1
                if index is None or seen == index:
                    start = i
                    break
        if start is None:
            return None
        if key is None:
            return start + 1
        key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
        for j in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[\[?\s*[A-Za-z]", self.lines[j]) and not self.lines[j].strip(
            ).startswith(f"[{table}."):
                break
            if key_re.match(self.lines[j]):
                return j + 1
        return start + 1

    def add(self, where: str, msg: str, line: int | None) -> None:
        loc = f" (line {line})" if line else ""
        self.problems.append(f"{where}{loc}: {msg}")

    # -- typed getters ---
    def _get(
        self, table: Mapping[str, Any], key: str, kinds: tuple[type, ...], default: Any,
        where: str, line: int | None, what: str,
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        ok = not (isinstance(value, bool) and bool not in kinds) and isinstance(value, kinds)
        if not ok:
            self.add(where, f"must be {what}, got {type(value).__name__} {value!r}", line)
            return default
        return value

    def _positive(
        self, table: Mapping[str, Any], key: str, default: float, section: str,
        integer: bool = False,
    ) -> Any:
        where = f"{section}.{key}"
        line = self._line_of(section, key)
        kinds: tuple[type, ...] = (int,) if integer else (int, float)
        what = "a positive whole number" if integer else "a positive number"
        value = self._get(table, key, kinds, default, where, line, what)
        if not value > 0:  # (nan too)
            self.add(where, f"must be {what}, got {value!r}", line)
            return default
        limit = _MAXIMUMS.get(key)
        if limit is not None and not value <= limit[0]:  # (inf too)
            self.add(where, f"must be at most {limit[0]:g} {limit[1]}, got {value!r}", line)
            return default
        return int(value) if integer else float(value)

    def _unknown(self, table: Mapping[str, Any], known: set[str], section: str,
                 index: int | None = None) -> None:
        for key in table:
            if key not in known:
                line = self._line_of(section, key, index)
                label = f"{section}[{index}]" if index is not None else section
                self.add(
                    f"{label}.{key}", f"unknown key; known keys: {', '.join(sorted(known))}", line
                )

    def _table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add(key, f"must be a table ([{key}]), got {type(value).__name__}",
                     self._line_of(key))
            return {}
        return value

    # -- sections ---
    def config(self, data: Mapping[str, Any], path: Path | None, env: Mapping[str, str]) -> Config:
        for key in data:
            if key not in _TOP_KEYS:
                self.add(key, f"unknown top-level key; known: {', '.join(sorted(_TOP_KEYS))}", None)
        store = self.store(self._table(data, "store"), env)
        slack = self.slack(self._table(data, "slack"), env)
        fetch = self.fetch(self._table(data, "fetch"))
        poll = self.poll(self._table(data, "poll"))
        feeds = self.feeds(data.get("feeds", []), fetch.full_text)
        watches = self.watches(data.get("watches", []))
        ops = self.ops(self._table(data, "ops"))
        st = self._table(data, "stories")
        self._unknown(st, {"window_hours"}, "stories")
        stories = StoriesConfig(self._positive(st, "window_hours", 72.0, "stories"))
        if store.retention_days * 24 < stories.window_hours:
            # pruned articles of the window: its story index and the store would disagree, and
            # items the feeds still carry would be stored (and alerted on) again
            self.add("store.retention_days",
                     f"{store.retention_days:g} day(s) is shorter than the story window "
                     f"([stories] window_hours = {stories.window_hours:g}): articles still in "
                     "the window would be deleted, then fetched again as new; set it to at "
                     f"least {math.ceil(stories.window_hours / 24 * 100) / 100:g}",
                     self._line_of("store", "retention_days"))
        quiet = self.quiet_hours(self._table(data, "quiet_hours"))
        return Config(path=path, store=store, slack=slack, fetch=fetch, poll=poll, feeds=feeds,
                      watches=watches, ops=ops, stories=stories, quiet_hours=quiet)

    def quiet_hours(self, t: Mapping[str, Any]) -> tuple[QuietHours, ...]:
        """[quiet_hours] "#channel" = "22:00-07:00" (UTC), or
        "#channel" = { hours = "22:00-07:00", timezone = "Asia/Yerevan" }."""
        out: list[QuietHours] = []
        for channel, value in t.items():
            where = f"quiet_hours.{channel}"
            line = self._line_of("quiet_hours", channel)
            span, tz = (value, "UTC") if isinstance(value, str) else (None, "UTC")
            if isinstance(value, dict):
                unknown = set(value) - {"hours", "timezone"}
                if unknown:
                    self.add(where, f"unknown key(s) {', '.join(sorted(unknown))}; known: hours, "
                             "timezone", line)
                span, tz = value.get("hours"), value.get("timezone", "UTC")
            if not isinstance(span, str) or not isinstance(tz, str):
                self.add(where, 'must be "22:00-07:00" (UTC) or { hours = "22:00-07:00", '
                         'timezone = "Asia/Yerevan" }', line)
                continue
            try:
                start, end = parse_span(span)
                out.append(QuietHours(channel, start, end, check_timezone(tz)))
            except ValueError as exc:
                self.add(where, str(exc), line)
        return tuple(out)

    def ops(self, t: Mapping[str, Any]) -> OpsConfig:
        d = OpsConfig()
        self._unknown(t, {"channel", "failures", "silence_factor", "min_silence_hours"}, "ops")
        channel = self._get(t, "channel", (str,), None, "ops.channel",
                            self._line_of("ops", "channel"), "a Slack channel name or ID")
        problem = _channel_problem(channel) if channel is not None else None
        if problem:
            self.add("ops.channel", problem, self._line_of("ops", "channel"))
            channel = None
        return OpsConfig(
            channel=channel.strip() if channel and channel.strip() else None,
            failures=self._positive(t, "failures", d.failures, "ops", integer=True),
            silence_factor=self._positive(t, "silence_factor", d.silence_factor, "ops"),
            min_silence_hours=self._positive(t, "min_silence_hours", d.min_silence_hours, "ops"),
        )

    def store(self, t: Mapping[str, Any], env: Mapping[str, str]) -> StoreConfig:
        self._unknown(t, {"url", "retention_days"}, "store")
        url = self._get(t, "url", (str,), StoreConfig().url, "store.url",
                        self._line_of("store", "url"), "a SQLAlchemy URL string")
        if env.get(ENV_DATABASE_URL):
            url = env[ENV_DATABASE_URL]
        if "://" not in url:
            self.add("store.url", f"{url!r} is not a database URL; use e.g. "
                     "sqlite:///watcher.db or postgresql+psycopg://user@host/db",
                     self._line_of("store", "url"))
        retention = self._positive(t, "retention_days", StoreConfig().retention_days, "store")
        return StoreConfig(url=url, retention_days=retention)

    def slack(self, t: Mapping[str, Any], env: Mapping[str, str]) -> SlackConfig:
        self._unknown(t, {"token_env", "base_url", "timeout", "max_send_attempts", "min_interval",
                          "claim_lease", "secret_block", "webhook_url_env", "burst_limit"},
                     "slack")
        line = self._line_of("slack", "token_env")
        token_env = self._get(t, "token_env", (str,), _SLACK_DEFAULT.token_env, "slack.token_env",
                              line, "the NAME of an environment variable")
        if not _ENV_RE.match(token_env):
            hint = (" — it looks like a token itself: put the token in an environment variable and "
                    "name that variable here") if token_env.startswith("xox") else ""
            self.add("slack.token_env", "must be an environment variable name such as "
                     f"WATCHER_SLACK_TOKEN{hint}", line)
            token_env = _SLACK_DEFAULT.token_env
        base_url = self._get(t, "base_url", (str,), None, "slack.base_url",
                             self._line_of("slack", "base_url"), "a URL string")
        if env.get(ENV_SLACK_BASE_URL):
            base_url = env[ENV_SLACK_BASE_URL]
        if base_url is not None:
            if not is_http_url(base_url):
                self.add("slack.base_url", f"{base_url!r} is not an http(s) URL "
                         "(e.g. https://slack.com/api/)", self._line_of("slack", "base_url"))
                base_url = None
            elif not base_url.endswith("/"):
                base_url += "/"
        timeout = self._positive(t, "timeout", _SLACK_DEFAULT.timeout, "slack")
        attempts = self._positive(t, "max_send_attempts", _SLACK_DEFAULT.max_send_attempts, "slack",
                                  integer=True)
        interval = t.get("min_interval", _SLACK_DEFAULT.min_interval)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not (
                0 <= interval <= 60):  # (nan and inf too: a run would sleep or overflow)
            self.add("slack.min_interval", "must be a number of seconds from 0 to 60, got "
                     f"{interval!r}", self._line_of("slack", "min_interval"))
            interval = _SLACK_DEFAULT.min_interval
        lease = self._positive(t, "claim_lease", _SLACK_DEFAULT.claim_lease, "slack")
        block = self._get(t, "secret_block", (str,), None, "slack.secret_block",
                          self._line_of("slack", "secret_block"), "a Prefect Secret block name")
        if env.get(ENV_SLACK_SECRET_BLOCK):
            block = env[ENV_SLACK_SECRET_BLOCK]
        hook_env = self._get(t, "webhook_url_env", (str,), None, "slack.webhook_url_env",
                             self._line_of("slack", "webhook_url_env"),
                             "the NAME of an environment variable")
        if hook_env is not None and not _ENV_RE.match(hook_env):
            self.add("slack.webhook_url_env", "must be an environment variable name such as "
                     "WATCHER_SLACK_WEBHOOK_URL (put the URL itself in that variable)",
                     self._line_of("slack", "webhook_url_env"))
            hook_env = None
        hook = env.get(hook_env, "").strip() if hook_env else ""
        if hook and not is_http_url(hook):  # (found only at delivery before; never shown)
            self.add("slack.webhook_url_env", f"${hook_env} does not hold an http(s) URL; put "
                     "the incoming webhook's whole URL there (https://hooks.slack.com/services/"
                     "...), or unset it", self._line_of("slack", "webhook_url_env"))
        burst = t.get("burst_limit", _SLACK_DEFAULT.burst_limit)
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            self.add("slack.burst_limit", "must be a whole number >= 0 (0 turns burst folding "
                     f"off), got {burst!r}", self._line_of("slack", "burst_limit"))
            burst = _SLACK_DEFAULT.burst_limit
        return SlackConfig(token_env, base_url, timeout, attempts, float(interval), lease,
                           block.strip() if block and block.strip() else None, hook_env, burst)

    def fetch(self, t: Mapping[str, Any]) -> FetchConfig:
        d = FetchConfig()
        known = {"connect_timeout", "read_timeout", "deadline", "max_bytes", "max_redirects",
                 "concurrency", "per_host", "user_agent", "full_text", "max_article_fetches",
                 "max_items", "max_article_chars", "allow_networks"}
        self._unknown(t, known, "fetch")
        ua = self._get(t, "user_agent", (str,), d.user_agent, "fetch.user_agent",
                       self._line_of("fetch", "user_agent"), "a string")
        return FetchConfig(
            connect_timeout=self._positive(t, "connect_timeout", d.connect_timeout, "fetch"),
            read_timeout=self._positive(t, "read_timeout", d.read_timeout, "fetch"),
            deadline=self._positive(t, "deadline", d.deadline, "fetch"),
            max_bytes=self._positive(t, "max_bytes", d.max_bytes, "fetch", integer=True),
            max_redirects=self._positive(t, "max_redirects", d.max_redirects, "fetch",
                                         integer=True),
            concurrency=self._positive(t, "concurrency", d.concurrency, "fetch", integer=True),
            per_host=self._positive(t, "per_host", d.per_host, "fetch", integer=True),
            user_agent=ua.strip() or d.user_agent,
            full_text=self._get(t, "full_text", (bool,), d.full_text, "fetch.full_text",
                                self._line_of("fetch", "full_text"), "true or false"),
            max_article_fetches=self._positive(t, "max_article_fetches", d.max_article_fetches,
                                               "fetch", integer=True),
            max_items=self._positive(t, "max_items", d.max_items, "fetch", integer=True),
            max_article_chars=self._positive(t, "max_article_chars", d.max_article_chars, "fetch",
                                             integer=True),
            allow_networks=self._networks(t),
        )

    def _networks(self, t: Mapping[str, Any]) -> tuple[str, ...]:
        raw = t.get("allow_networks", [])
        line = self._line_of("fetch", "allow_networks")
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            self.add("fetch.allow_networks", 'must be an array of networks in CIDR notation, e.g. '
                     '["10.20.0.0/16", "127.0.0.1/32"]', line)
            return ()
        out: list[str] = []
        for value in raw:
            try:
                out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
            except ValueError as exc:
                self.add("fetch.allow_networks", f"{value!r} is not a network ({exc}); write "
                         'an address or a CIDR block such as "10.20.0.0/16"', line)
        return tuple(out)

    def poll(self, t: Mapping[str, Any]) -> PollConfig:
        d = PollConfig()
        self._unknown(t, {"recent_hours", "max_age_hours"}, "poll")
        return PollConfig(
            recent_hours=self._positive(t, "recent_hours", d.recent_hours, "poll"),
            max_age_hours=self._positive(t, "max_age_hours", d.max_age_hours, "poll"),
        )

    def feeds(self, items: Any, full_text_default: bool = False) -> tuple[FeedConfig, ...]:
        if not isinstance(items, list):
            self.add("feeds", "must be an array of tables: write each feed as [[feeds]] with "
                     "name and url", self._line_of("feeds"))
            return ()
        out: list[FeedConfig] = []
        names: dict[str, int] = {}
        for i, item in enumerate(items):
            label = f"feeds[{i}]"
            def hline(i: int = i) -> int | None:  # found only for a message: O(lines) each
                return self._line_of("feeds", None, i)

            if not isinstance(item, dict):
                self.add(label, "must be a table with name and url", hline())
                continue
            self._unknown(item, {"name", "url", "full_text"}, "feeds", i)
            full_text = item.get("full_text", full_text_default)
            if not isinstance(full_text, bool):
                self.add(f"{label}.full_text", f"must be true or false, got {full_text!r}",
                         self._line_of("feeds", "full_text", i))
                full_text = full_text_default
            name = item.get("name")
            if isinstance(name, str):
                name = name.strip()  # (as stored: " a" and "a" are one feed)
            url = item.get("url")
            ok = True
            if not isinstance(name, str) or not name:
                self.add(f"{label}.name", "missing or empty: give every feed a short unique name",
                         self._line_of("feeds", "name", i) if "name" in item else hline())
                ok = False
            elif len(name) > NAME_MAX:
                self.add(f"{label}.name", f"{len(name)} characters long: a feed name is at most "
                         f"{NAME_MAX} (it is stored as the key of the feed's state)",
                         self._line_of("feeds", "name", i))
                ok = False
            elif not name.isprintable():
                self.add(f"{label}.name", f"{name!r} holds a control character: use letters, "
                         "digits, spaces and punctuation", self._line_of("feeds", "name", i))
                ok = False
            elif name in names:
                self.add(f"{label}.name", f"duplicate feed name {name!r} (also "
                         f"feeds[{names[name]}]); feed names identify stored state and must be "
                         "unique",
                         self._line_of("feeds", "name", i))
                ok = False
            else:
                names[name] = i
            if not isinstance(url, str) or not url.strip():
                self.add(f"{label}.url", "missing or empty: give the feed's http(s) URL",
                         self._line_of("feeds", "url", i) if "url" in item else hline())
                ok = False
            else:
                if not url.strip().isprintable():
                    self.add(f"{label}.url", f"{url!r} holds a control character",
                             self._line_of("feeds", "url", i))
                    ok = False
                elif not is_http_url(url.strip()):
                    self.add(f"{label}.url", f"{url!r} is not an http(s) URL "
                             "(write it like https://example.com/feed.xml)",
                             self._line_of("feeds", "url", i))
                    ok = False
            if ok:
                assert isinstance(name, str) and isinstance(url, str)
                out.append(FeedConfig(name=name.strip(), url=url.strip(), full_text=full_text))
        return tuple(out)

    def watches(self, items: Any) -> tuple[Watch, ...]:
        if not isinstance(items, list):
            self.add("watches", "must be an array of tables: write each watch as [[watches]]",
                     self._line_of("watches"))
            return ()
        out: list[Watch] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            w = self.watch(item, i, seen)
            if w is not None:
                out.append(w)
        return tuple(out)

    def watch(self, item: Any, i: int, seen: set[str]) -> Watch | None:
        label = f"watches[{i}]"
        hline = self._line_of("watches", None, i)
        if not isinstance(item, dict):
            self.add(label, "must be a table", hline)
            return None
        known = {"name", "channel", "entities", "escalation", "deescalation", "severities",
                 "threshold", "min_entities", "proximity", "toll_update_min",
                 "toll_update_percent", "escalation_channel"}
        self._unknown(item, known, "watches", i)
        problems_before = len(self.problems)

        def line(key: str) -> int | None:
            return self._line_of("watches", key, i) if key in item else hline

        name = item.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            self.add(f"{label}.name", "missing or invalid: use lowercase letters, digits, '-', '_' "
                     "(e.g. armenia-azerbaijan)", line("name"))
            name = f"watch{i}"
        elif len(name) > NAME_MAX:
            self.add(f"{label}.name", f"{len(name)} characters long: a watch name is at most "
                     f"{NAME_MAX}", line("name"))
            name = f"watch{i}"
        elif name in seen:
            self.add(f"{label}.name", f"duplicate watch name {name!r}", line("name"))
        seen.add(name)
        label = f"watches[{i}] ({name})"
        channel = item.get("channel")
        if not isinstance(channel, str) or not channel.strip():
            self.add(f"{label}.channel", "missing: the Slack channel to post to, e.g. "
                     "\"#caucasus-watch\" or a channel ID like C0123456789", line("channel"))
            channel = ""
        elif problem := _channel_problem(channel):
            self.add(f"{label}.channel", problem, line("channel"))
        entities = self._entities(item.get("entities"), label, line("entities"))
        escalation = self._terms(item.get("escalation"), f"{label}.escalation",
                                 line("escalation"), required=True)
        deescalation = self._terms(item.get("deescalation", {}), f"{label}.deescalation",
                                   line("deescalation"), required=False)
        severities = self._severities(item, label, line)
        min_entities = item.get("min_entities", 1)
        if isinstance(min_entities, bool) or not isinstance(min_entities, int) or not (
            1 <= min_entities <= max(1, len(entities))
        ):
            self.add(f"{label}.min_entities", f"must be a whole number from 1 to the number of "
                     f"entity groups ({len(entities)}), got {min_entities!r}", line("min_entities"))
            min_entities = 1
        proximity = item.get("proximity", 200)
        if isinstance(proximity, bool) or not isinstance(proximity, int) or proximity <= 0:
            self.add(f"{label}.proximity", "must be a positive whole number of characters, got "
                     f"{proximity!r}", line("proximity"))
            proximity = 200
        toll_min = item.get("toll_update_min", 3)
        if isinstance(toll_min, bool) or not isinstance(toll_min, int) or toll_min < 1:
            self.add(f"{label}.toll_update_min", "must be a whole number >= 1 (a rise of the "
                     f"death toll by this many posts an update), got {toll_min!r}",
                     line("toll_update_min"))
            toll_min = 3
        toll_pct = item.get("toll_update_percent", 20.0)
        if isinstance(toll_pct, bool) or not isinstance(toll_pct, int | float) or toll_pct <= 0:
            self.add(f"{label}.toll_update_percent", "must be a number > 0 (a rise of the death "
                     f"toll by this many percent posts an update), got {toll_pct!r}",
                     line("toll_update_percent"))
            toll_pct = 20.0
        esc = item.get("escalation_channel")
        if esc is not None and (not isinstance(esc, str) or not esc.strip()):
            self.add(f"{label}.escalation_channel", "must be a Slack channel name or ID, e.g. "
                     "\"#caucasus-critical\" (the highest-severity alerts are posted there too)",
                     line("escalation_channel"))
            esc = None
        elif esc is not None and (problem := _channel_problem(esc)):
            self.add(f"{label}.escalation_channel", problem, line("escalation_channel"))
            esc = None
        if len(self.problems) != problems_before:
            return None
        watch = Watch(
            name=name, channel=channel.strip(), entities=entities, escalation=escalation,
            deescalation=deescalation, severities=severities, min_entities=min_entities,
            proximity=proximity, toll_update_min=toll_min, toll_update_percent=float(toll_pct),
            escalation_channel=esc.strip() if isinstance(esc, str) else None,
        )
        try:
            compile_watch(watch)
        except ValueError as exc:
            self.add(label, f"cannot compile the watch's terms: {exc}", hline)
            return None
        return watch

    def _entities(self, value: Any, label: str, line: int | None) -> dict[str, tuple[str, ...]]:
        where = f"{label}.entities"
        if not isinstance(value, dict) or not value:
            self.add(where, "missing: a table of entity groups to aliases, e.g. "
                     "[watches.entities] armenia = [\"Armenia\", \"Yerevan\"]", line)
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for group, aliases in value.items():
            if isinstance(aliases, str):
                aliases = [aliases]
            if (not isinstance(aliases, list) or not aliases
                    or not all(isinstance(a, str) and a.strip() for a in aliases)):
                self.add(f"{where}.{group}", "must be a non-empty list of alias strings", line)
                continue
            out[str(group)] = tuple(a.strip() for a in aliases)
        return out

    def _terms(self, value: Any, where: str, line: int | None, required: bool) -> tuple[Term, ...]:
        """term = weight pairs, and tiers: a table { weight = 3.0, terms = ["a", "b"] }."""
        if not isinstance(value, dict) or (required and not value):
            if required or value is not None:
                self.add(where, "must be a table of term = weight (e.g. shell = 3.0), or of tiers "
                         '(e.g. armed = { weight = 3.0, terms = ["shell", "artillery"] })', line)
            return ()
        out: list[Term] = []
        seen: dict[str, str] = {}

        def add(term: str, weight: Any, label: str) -> None:
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                self.add(label, f"weight must be a positive number, got {weight!r}", line)
                return
            text = term.strip()
            if not text or text == "*":
                self.add(label, f"empty term {term!r}", line)
                return
            key = text.casefold()
            if key in seen:
                self.add(label, f"term {text!r} appears twice (also in {seen[key]}); keep one",
                         line)
                return
            seen[key] = label
            out.append(Term(text, float(weight)))

        for key, value_ in value.items():
            if isinstance(value_, dict):
                tier = f"{where}.{key}"
                unknown = set(value_) - {"weight", "terms"}
                if unknown:
                    self.add(tier, f"unknown key(s) {sorted(unknown)}; a tier has weight and terms",
                             line)
                terms = value_.get("terms")
                if not isinstance(terms, list) or not terms or not all(
                    isinstance(t, str) for t in terms
                ):
                    self.add(tier, "a tier needs terms = [\"...\", ...] (a non-empty list of "
                             "strings)", line)
                    continue
                for t in terms:
                    add(t, value_.get("weight"), tier)
            else:
                add(str(key), value_, f"{where}.{key!r}")
        return tuple(out)

    def _severities(self, item: Mapping[str, Any], label: str,
                    line: Any) -> tuple[Severity, ...]:
        threshold = item.get("threshold")
        sev = item.get("severities")
        bad_threshold = False
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, int | float) or threshold <= 0):
            self.add(f"{label}.threshold", f"must be a positive number, got {threshold!r}",
                     line("threshold"))
            threshold, bad_threshold = None, True
        if sev is None:
            if threshold is None:
                if bad_threshold:
                    return (Severity("warning", 4.0),)
                self.add(f"{label}", "needs a threshold (e.g. threshold = 4.0) or a "
                         "[watches.severities] table (e.g. warning = 4.0, critical = 8.0)",
                         line("threshold"))
                return (Severity("warning", 4.0),)
            t = float(threshold)
            return (Severity("warning", t), Severity("critical", 2 * t))
        if not isinstance(sev, dict) or not sev:
            self.add(f"{label}.severities", "must be a table of severity name = minimum score",
                     line("severities"))
            return (Severity("warning", 4.0),)
        out: list[Severity] = []
        for sname, sthr in sev.items():
            if len(str(sname)) > SEVERITY_MAX or not str(sname).isprintable():
                self.add(f"{label}.severities", f"severity name {str(sname)[:20]!r}... is "
                         f"{len(str(sname))} characters long: at most {SEVERITY_MAX}"
                         if len(str(sname)) > SEVERITY_MAX else
                         f"severity name {str(sname)!r} holds a control character",
                         line("severities"))
                continue
            if isinstance(sthr, bool) or not isinstance(sthr, int | float) or sthr <= 0:
                self.add(f"{label}.severities.{sname}", f"must be a positive number, got {sthr!r}",
                         line("severities"))
                continue
            out.append(Severity(str(sname), float(sthr)))
        out.sort(key=lambda s: s.threshold)
        if threshold is not None and out and abs(out[0].threshold - float(threshold)) > 1e-9:
            self.add(f"{label}.threshold", f"threshold = {threshold} disagrees with the lowest "
                     f"severity ({out[0].name} = {out[0].threshold}); drop threshold or make them "
                     "equal", line("threshold"))
        if len({s.threshold for s in out}) != len(out):
            self.add(f"{label}.severities", "two severities share one threshold; give each its own",
                     line("severities"))
        return tuple(out) or (Severity("warning", 4.0),)
