"""A fake Slack Web API on 127.0.0.1 for tests, driven by the real `slack_sdk.WebClient`.

    with FakeSlack() as fake:
        client = WebClient(token=fake.token, base_url=fake.url, retry_handlers=[])
        fake.inject("chat.postMessage", lost_response())
        ...
        fake.messages["C0CAUCASUS"]   # what was stored
        fake.calls                     # every request: method, params, fault

Implemented methods: auth.test, chat.postMessage (with thread_ts / reply_broadcast),
chat.update, conversations.history (thread replies left out, as on Slack), conversations.replies,
conversations.list, files.getUploadURLExternal, files.completeUploadExternal, and the upload
URL itself (so `WebClient.files_upload_v2` works). Like Slack, parameters are accepted from the
query string, form-encoded, multipart or JSON bodies, and the token from ``Authorization:
Bearer`` or a ``token`` parameter. chat.update, conversations.history and
files.completeUploadExternal need channel IDs (as on Slack); chat.postMessage also takes
names with or without '#'.

Faults (queued per method with `inject`, or random with `fail_rate`):
    rate_limited(retry_after)  HTTP 429 + Retry-After, nothing stored
    server_error(status)       HTTP 5xx, nothing stored
    slow(seconds)              the request IS processed, the response comes `seconds` later
    drop()                     connection closed without a response, nothing stored
    lost_response()            the request IS processed, then the connection is closed
    error(code)                HTTP 200 {"ok": false, "error": code}, nothing stored
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import json
import random
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl

DEFAULT_TOKEN = "xoxb-fake-0000-token"
DEFAULT_CHANNELS = {"C0CAUCASUS": "caucasus-watch", "C0GENERAL": "general"}

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 40000

FaultKind = Literal["rate_limited", "server_error", "slow", "drop", "lost_response", "error"]
Json = dict[str, Any]


# --- faults


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    retry_after: float = 1.0
    status: int = 500
    seconds: float = 0.0
    error: str = ""
    body: str | None = None


def rate_limited(retry_after: float = 1.0) -> Fault:
    return Fault("rate_limited", retry_after=retry_after)


def server_error(status: int = 500, body: str | None = None) -> Fault:
    """HTTP `status`; `body` None sends {"ok": false, "error": "internal_error"}."""
    return Fault("server_error", status=status, body=body)


def slow(seconds: float) -> Fault:
    return Fault("slow", seconds=seconds)


def drop() -> Fault:
    return Fault("drop")


def lost_response() -> Fault:
    return Fault("lost_response")


def error(code: str) -> Fault:
    return Fault("error", error=code)


# --- records


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the fake saw it. `params` merges query string and body."""

    method: str
    params: Json
    content_type: str
    authorized: bool  # a token was presented (valid or not)
    fault: FaultKind | None
    status: int | None  # HTTP status sent; None when the connection was dropped


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True

    def info(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
        }


@dataclass(slots=True)
class _File:
    id: str
    name: str
    length: int
    data: bytes | None = None
    title: str = ""
    shared: list[str] = field(default_factory=list)


class _Dropped(Exception):
    """Close the connection without answering."""


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    text = base64.urlsafe_b64decode(cursor.encode()).decode()
    prefix, _, number = text.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise ValueError(cursor)
    return int(number)


def _limit(value: Any, default: int, maximum: int) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        n = default
    return max(1, min(n, maximum))


# --- validation


def _text_len(obj: Any) -> int | None:
    """Length of a text object's text, None if it is not a valid text object."""
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return None
    text = obj.get("text")
    return len(text) if isinstance(text, str) else None


def validate_blocks(blocks: Any) -> list[str]:
    """Slack-like block checks; returns the problems found (empty: valid)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"block must be an object with a type {where}")
            continue
        kind = block["type"]
        if kind == "header":
            text = block.get("text")
            n = _text_len(text)
            if n is None or not isinstance(text, dict) or text.get("type") != "plain_text":
                problems.append(f"header text must be a plain_text object {where}")
            elif not 0 < n <= MAX_HEADER_TEXT:
                problems.append(f"header text must be 1..{MAX_HEADER_TEXT} characters {where}")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"section needs text or fields {where}")
            if "text" in block:
                n = _text_len(block["text"])
                if n is None:
                    problems.append(f"section text must be a text object {where}")
                elif not 0 < n <= MAX_SECTION_TEXT:
                    problems.append(
                        f"section text must be 1..{MAX_SECTION_TEXT} characters {where}/text"
                    )
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 0 < len(fields) <= MAX_SECTION_FIELDS:
                    problems.append(f"section fields: 1..{MAX_SECTION_FIELDS} items {where}")
                else:
                    for f in fields:
                        n = _text_len(f)
                        if n is None or not 0 < n <= MAX_FIELD_TEXT:
                            problems.append(f"field text 1..{MAX_FIELD_TEXT} chars {where}")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= MAX_CONTEXT_ELEMENTS:
                problems.append(f"context elements: 1..{MAX_CONTEXT_ELEMENTS} items {where}")
            else:
                for el in elements:
                    if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                        n = _text_len(el)
                        if n is None or not 0 < n <= MAX_SECTION_TEXT:
                            problems.append(f"context text 1..{MAX_SECTION_TEXT} chars {where}")
    return problems


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and bool(metadata["event_type"])
        and isinstance(metadata.get("event_payload"), dict)
    )


class _ApiError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


# --- the fake


class FakeSlack:
    """A thread-safe fake Slack Web API server. Use as a context manager."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        tokens: Iterable[str] = (),
        channels: Mapping[str, str] | None = None,
    ) -> None:
        self.token = token
        self._tokens = {token, *tokens}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._channels: dict[str, Channel] = {}
        for cid, name in (DEFAULT_CHANNELS if channels is None else channels).items():
            self._channels[cid] = Channel(cid, name.lstrip("#"))
        self._messages: dict[str, list[Json]] = defaultdict(list)
        self._files: dict[str, _File] = {}
        self._calls: list[Call] = []
        self._queued: dict[str, deque[Fault]] = defaultdict(deque)
        self._rate = 0.0
        self._rate_faults: list[Fault] = []
        self._rate_methods: frozenset[str] | None = None
        self._rng = random.Random()
        self._last_ts_us = 0
        self._file_seq = 0
        self.server_errors: list[str] = []  # unexpected exceptions inside the fake
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> FakeSlack:
        fake = self

        class Handler(_Handler):
            owner = fake

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                exc = sys.exc_info()[1]
                if not isinstance(exc, ConnectionError | TimeoutError):
                    with fake._lock:
                        fake.server_errors.append(repr(exc))

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started: use `with FakeSlack() as fake:`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base_url for slack_sdk (ends with '/')."""
        return f"http://127.0.0.1:{self.port}/api/"

    # --- configuration

    def add_channel(
        self,
        id: str,
        name: str,
        *,
        is_private: bool = False,
        is_archived: bool = False,
        is_member: bool = True,
    ) -> None:
        with self._lock:
            self._channels[id] = Channel(id, name.lstrip("#"), is_private, is_archived, is_member)

    def set_channel(self, channel: str, **attrs: bool) -> None:
        """Change is_archived / is_member / is_private of a channel given by ID or name."""
        with self._lock:
            ch = self._resolve(channel, ids_only=False)
            for key, value in attrs.items():
                if key not in ("is_archived", "is_member", "is_private"):
                    raise ValueError(f"unknown channel attribute {key!r}")
                setattr(ch, key, value)

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for the next calls of `method` ("*" = any method), one per call."""
        with self._lock:
            self._queued[method].extend(faults)

    def fail_rate(
        self,
        p: float,
        faults: Iterable[Fault] | None = None,
        seed: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Each call without a queued fault fails with probability `p`, with a fault drawn from
        `faults` (default: rate_limited, server_error, drop, lost_response)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be within [0, 1], got {p}")
        with self._lock:
            self._rate = p
            self._rate_faults = list(
                faults or (rate_limited(0.01), server_error(), drop(), lost_response())
            )
            self._rng = random.Random(seed)
            self._rate_methods = frozenset(methods) if methods is not None else None

    def post_message(self, channel: str, text: str, **fields: Any) -> str:
        """Store a message directly (e.g. someone else's), returning its ts."""
        with self._lock:
            ch = self._resolve(channel, ids_only=False)
            message = {"type": "message", "user": "U0HUMAN", "text": text, **fields}
            message["ts"] = self._next_ts()
            self._messages[ch.id].append(message)
            return str(message["ts"])

    # --- inspection

    @property
    def messages(self) -> dict[str, list[Json]]:
        """A snapshot: channel ID -> stored messages (oldest first)."""
        with self._lock:
            return {cid: copy.deepcopy(msgs) for cid, msgs in self._messages.items() if msgs}

    def messages_in(self, channel: str) -> list[Json]:
        """Stored messages of a channel given by ID or name (with or without '#')."""
        with self._lock:
            return copy.deepcopy(self._messages.get(self._resolve(channel, ids_only=False).id, []))

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def files(self) -> dict[str, Json]:
        with self._lock:
            return {
                f.id: {"name": f.name, "title": f.title, "data": f.data, "shared": list(f.shared)}
                for f in self._files.values()
            }

    # --- internals

    def _next_ts(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _resolve(self, channel: Any, *, ids_only: bool) -> Channel:
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        if channel in self._channels:
            return self._channels[channel]
        if not ids_only:
            name = channel.lstrip("#")
            for ch in self._channels.values():
                if ch.name == name:
                    return ch
        raise _ApiError("channel_not_found")

    def _next_fault(self, method: str) -> Fault | None:
        with self._lock:
            for key in (method, "*"):
                if self._queued[key]:
                    return self._queued[key].popleft()
            applies = self._rate_methods is None or method in self._rate_methods
            if applies and self._rate > 0 and self._rate_faults and self._rng.random() < self._rate:
                return self._rng.choice(self._rate_faults)
        return None

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _check_auth(self, token: str | None) -> None:
        if not token:
            raise _ApiError("not_authed")
        if token not in self._tokens:
            raise _ApiError("invalid_auth")

    def _writable(self, channel: Any, *, ids_only: bool) -> Channel:
        ch = self._resolve(channel, ids_only=ids_only)
        if ch.is_archived:
            raise _ApiError("is_archived")
        if not ch.is_member:
            raise _ApiError("not_in_channel")
        return ch

    @staticmethod
    def _content(params: Json, *, require_text: bool) -> tuple[Any, Any, Any]:
        text = params.get("text")
        blocks = params.get("blocks")
        metadata = params.get("metadata")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise _ApiError("invalid_blocks_format") from None
        if blocks is not None:
            problems = validate_blocks(blocks)
            if problems:
                raise _ApiError("invalid_blocks", errors=problems)
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                raise _ApiError("invalid_metadata_format") from None
        if metadata is not None and not _valid_metadata(metadata):
            raise _ApiError("invalid_metadata_format")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if require_text and not text and not blocks:
            raise _ApiError("no_text")
        if text and len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        return text, blocks, metadata

    def dispatch(self, method: str, params: Json, token: str | None) -> Json:
        """Run one API method; returns the JSON answer (raises _ApiError for ok: false)."""
        handler = _METHODS.get(method)
        if handler is None:
            raise _ApiError("unknown_method")
        self._check_auth(token)
        with self._lock:
            return handler(self, params)

    # ---- methods (called with the lock held)

    def _auth_test(self, params: Json) -> Json:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": "watcher-bot",
            "team_id": "T0FAKE",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _chat_post_message(self, params: Json) -> Json:
        ch = self._writable(params.get("channel"), ids_only=False)
        text, blocks, metadata = self._content(params, require_text=True)
        message: Json = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "ts": self._next_ts(),
            "text": text or "",
        }
        if blocks is not None:
            message["blocks"] = blocks
        if metadata is not None:
            message["metadata"] = metadata
        if params.get("thread_ts"):
            parent = self._find(ch.id, str(params["thread_ts"]))
            if parent is None:
                raise _ApiError("thread_not_found")
            message["thread_ts"] = str(params["thread_ts"])
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            if _truthy(params.get("reply_broadcast", False)):
                message["subtype"] = "thread_broadcast"
        # Recorded so tests can assert what the client asked for.
        for key in ("link_names", "parse", "unfurl_links", "unfurl_media", "mrkdwn"):
            if key in params:
                message[key] = params[key]
        self._messages[ch.id].append(message)
        return {"channel": ch.id, "ts": message["ts"], "message": _public(message, True)}

    def _chat_update(self, params: Json) -> Json:
        ch = self._writable(params.get("channel"), ids_only=True)
        ts = str(params.get("ts") or "")
        for message in self._messages[ch.id]:
            if message["ts"] == ts:
                break
        else:
            raise _ApiError("message_not_found")
        if message.get("user") != "U0BOT":
            raise _ApiError("cant_update_message")
        text, blocks, metadata = self._content(params, require_text=False)
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": "U0BOT", "ts": self._next_ts()}
        return {
            "channel": ch.id,
            "ts": ts,
            "text": message["text"],
            "message": _public(message, True),
        }

    def _conversations_history(self, params: Json) -> Json:
        ch = self._resolve(params.get("channel"), ids_only=True)
        if not ch.is_member and ch.is_private:
            raise _ApiError("channel_not_found")
        if not ch.is_member:
            raise _ApiError("not_in_channel")
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params["latest"]) if params.get("latest") else float("inf")
        except (TypeError, ValueError):
            raise _ApiError("invalid_ts_oldest") from None
        inclusive = _truthy(params.get("inclusive", False))
        with_meta = _truthy(params.get("include_all_metadata", False))
        limit = _limit(params.get("limit"), 100, 999)

        def in_range(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        # Like Slack: thread replies are not in the history, except those also sent to the channel
        selected = [m for m in reversed(self._messages[ch.id]) if in_range(float(m["ts"]))
                    and (m.get("thread_ts", m["ts"]) == m["ts"]
                         or m.get("subtype") == "thread_broadcast")]
        start = self._offset(params)
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        return {
            "messages": [_public(m, with_meta) for m in page],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if more else ""},
        }

    def _find(self, channel_id: str, ts: str) -> Json | None:
        return next((m for m in self._messages[channel_id] if m["ts"] == ts), None)

    def _conversations_replies(self, params: Json) -> Json:
        ch = self._resolve(params.get("channel"), ids_only=True)
        if not ch.is_member:
            raise _ApiError("channel_not_found" if ch.is_private else "not_in_channel")
        ts = str(params.get("ts") or "")
        parent = self._find(ch.id, ts)
        if parent is None:
            raise _ApiError("thread_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
        except (TypeError, ValueError):
            raise _ApiError("invalid_ts_oldest") from None
        with_meta = _truthy(params.get("include_all_metadata", False))
        limit = _limit(params.get("limit"), 100, 999)
        # the parent first, then its replies oldest first
        thread = [parent] + [m for m in self._messages[ch.id]
                             if m.get("thread_ts") == ts and m["ts"] != ts
                             and float(m["ts"]) >= oldest]
        start = self._offset(params)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": [_public(m, with_meta) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if more else ""},
        }

    def _conversations_list(self, params: Json) -> Json:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        exclude_archived = _truthy(params.get("exclude_archived", False))
        limit = _limit(params.get("limit"), 100, 1000)
        selected = [
            ch
            for ch in self._channels.values()
            if ("private_channel" if ch.is_private else "public_channel") in types
            and not (exclude_archived and ch.is_archived)
            and (ch.is_member or not ch.is_private)
        ]
        start = self._offset(params)
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        return {
            "channels": [ch.info() for ch in page],
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if more else ""},
        }

    @staticmethod
    def _offset(params: Json) -> int:
        cursor = params.get("cursor")
        if not cursor:
            return 0
        try:
            return _decode_cursor(str(cursor))
        except (ValueError, UnicodeDecodeError):
            raise _ApiError("invalid_cursor") from None

    def _files_get_upload_url(self, params: Json) -> Json:
        filename = params.get("filename")
        try:
            length = int(params.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        if not filename or length < 0:
            raise _ApiError("invalid_arguments")
        self._file_seq += 1
        file_id = f"F{self._file_seq:08d}"
        self._files[file_id] = _File(file_id, str(filename), length)
        return {"file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}

    def _files_complete_upload(self, params: Json) -> Json:
        raw = params.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise _ApiError("invalid_arguments") from None
        if not isinstance(items, list) or not items:
            raise _ApiError("invalid_arguments")
        files: list[_File] = []
        for item in items:
            f = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if f is None or f.data is None:
                raise _ApiError("file_not_found")
            f.title = str(item.get("title") or f.name)
            files.append(f)
        targets = [c for c in str(params.get("channels") or "").split(",") if c]
        if params.get("channel_id"):
            targets.append(str(params["channel_id"]))
        for target in targets:
            ch = self._writable(target, ids_only=True)
            message: Json = {
                "type": "message",
                "user": "U0BOT",
                "bot_id": "B0BOT",
                "ts": self._next_ts(),
                "text": str(params.get("initial_comment") or ""),
                "files": [{"id": f.id, "name": f.name, "title": f.title} for f in files],
            }
            if params.get("thread_ts"):
                message["thread_ts"] = str(params["thread_ts"])
            self._messages[ch.id].append(message)
            for f in files:
                f.shared.append(ch.id)
        return {
            "files": [
                {"id": f.id, "name": f.name, "title": f.title, "size": len(f.data or b"")}
                for f in files
            ]
        }

    def upload(self, file_id: str, data: bytes) -> bool:
        with self._lock:
            f = self._files.get(file_id)
            if f is None:
                return False
            f.data = data
            return True


def _public(message: Json, with_metadata: bool) -> Json:
    """A stored message as the API shows it."""
    hidden = {"link_names", "parse", "unfurl_links", "unfurl_media", "mrkdwn"}
    out = {k: copy.deepcopy(v) for k, v in message.items() if k not in hidden}
    if not with_metadata:
        out.pop("metadata", None)
    return out


_METHODS = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.update": FakeSlack._chat_update,
    "conversations.history": FakeSlack._conversations_history,
    "conversations.list": FakeSlack._conversations_list,
    "conversations.replies": FakeSlack._conversations_replies,
    "files.getUploadURLExternal": FakeSlack._files_get_upload_url,
    "files.completeUploadExternal": FakeSlack._files_complete_upload,
}


# --- HTTP


def _parse_body(content_type: str, body: bytes) -> Json:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json":
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data
    if ctype == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        out: Json = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                raw = payload if isinstance(payload, bytes) else b""
                out[name] = raw if part.get_filename() else raw.decode("utf-8")
        return out
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSlack
    server_version = "FakeSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.owner
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        content_type = self.headers.get("Content-Type") or ""
        if path.startswith("/upload/"):
            ok = fake.upload(path.removeprefix("/upload/"), body)
            self._send(200 if ok else 404, f"OK - {len(body)}" if ok else "not found", "text/plain")
            return
        if not path.startswith("/api/"):
            self._send(404, "not found", "text/plain")
            return
        method = path.removeprefix("/api/")
        params: Json = dict(parse_qsl(query, keep_blank_values=True))
        try:
            params.update(_parse_body(content_type, body))
        except (ValueError, UnicodeDecodeError):
            self._json(200, {"ok": False, "error": "invalid_json"})
            fake._record(Call(method, params, content_type, False, None, 200))
            return
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or (str(params.pop("token")) if params.get("token") else None)

        fault = fake._next_fault(method)
        kind = fault.kind if fault else None
        outcome = self._outcome(fake, method, params, token, fault)
        status = None if kind in ("drop", "lost_response") else outcome[0]
        # Recorded before answering, so a test sees the call even while a slow answer waits.
        fake._record(Call(method, params, content_type, token is not None, kind, status))
        if status is None:
            self._drop()
            return
        if fault is not None and kind == "slow" and fake._stop.wait(fault.seconds):
            self._drop()  # the fake is shutting down
            return
        self._send(*outcome)

    @staticmethod
    def _outcome(
        fake: FakeSlack, method: str, params: Json, token: str | None, fault: Fault | None
    ) -> tuple[int, str, str, dict[str, str]]:
        """(status, body, content type, headers) - processing the request unless a fault that
        happens "before Slack" (rate_limited, server_error, drop, error) says otherwise."""
        js = "application/json; charset=utf-8"
        if fault is not None and fault.kind == "rate_limited":
            body = json.dumps({"ok": False, "error": "ratelimited"})
            return 429, body, js, {"Retry-After": f"{fault.retry_after:g}"}
        if fault is not None and fault.kind == "server_error":
            if fault.body is None:
                return fault.status, json.dumps({"ok": False, "error": "internal_error"}), js, {}
            return fault.status, fault.body, "text/html", {}
        if fault is not None and fault.kind == "drop":
            return 0, "", js, {}
        if fault is not None and fault.kind == "error":
            return 200, json.dumps({"ok": False, "error": fault.error}), js, {}
        try:
            answer = {"ok": True, **fake.dispatch(method, params, token)}
        except _ApiError as err:
            answer = {"ok": False, "error": err.code, **err.extra}
        return 200, json.dumps(answer), js, {}

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, status: int, data: Json) -> None:
        self._send(status, json.dumps(data), "application/json; charset=utf-8")

    def _send(
        self,
        status: int,
        body: str,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        raw = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out)
