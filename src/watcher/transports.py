"""Where alerts go: one small class per destination. The only module here that does I/O.

Errors are split the way a retry loop needs them:

* `TransientError` - worth retrying later (rate limit, 5xx, timeout, dropped connection).
  `retry_after` carries Slack's ``Retry-After`` when given. `maybe_posted` is True when the
  request may have reached Slack (timeout, dropped connection, 5xx): Slack has no idempotency
  key, so check `SlackTransport.find_posted` before posting again.
* `PermanentError` - retrying will not help until someone fixes configuration (token, scopes,
  channel membership, message content). The message says what to fix.

The token is held only by the `slack_sdk.WebClient`; it never appears in exception messages
or in our logs (`_redact` is applied to every message we build from foreign text).
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TextIO
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from watcher.models import Alert
from watcher.slack_format import build_message, format_console, strip_invisible

DEFAULT_TIMEOUT = 10.0
WEBHOOK_TS = "webhook"  # the "ts" of a message posted through an incoming webhook (it has none)
HISTORY_PAGE = 200
LIST_PAGE = 200
MAX_PAGES = 100  # safety net against a server that keeps returning cursors

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_TOKEN_LIKE = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")

# Slack "ok": false error codes that go away by themselves.
_TRANSIENT_CODES = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
# Error codes after which the message may nevertheless exist in the channel.
_AMBIGUOUS_CODES = frozenset({"internal_error", "fatal_error", "request_timeout"})

_NON_JSON = "Received a response in a non-JSON format"  # slack_sdk's code for a non-JSON body
_TS_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,12}")  # a message's ts, as Slack writes it
_CHECK_FIRST = "the message may have been posted: check find_posted before retrying"

_FIXES: dict[str, str] = {
    "not_authed": "no token was sent; set the Slack bot token (xoxb-...) in the configuration",
    "invalid_auth": "the token is not valid for this workspace; check the configured bot token",
    "account_inactive": "the token belongs to a deactivated user or app; reinstall the Slack app "
    "and configure its new bot token",
    "token_revoked": "the token was revoked; reinstall the Slack app and configure the new token",
    "token_expired": "the token expired; refresh or reissue it and update the configuration",
    "no_permission": "the app lacks permission; check its scopes (chat:write) and reinstall",
    "missing_scope": "the token lacks a scope: add chat:write (posting), channels:history / "
    "groups:history (find_posted), channels:read / groups:read (channel names) and reinstall",
    "not_allowed_token_type": "use a bot token (xoxb-...), not a user or app-level token",
    "channel_not_found": "the channel does not exist or the bot cannot see it; check the "
    "channel name/ID in the watch configuration and invite the bot (/invite @yourbot)",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite @yourbot",
    "is_archived": "the channel is archived; unarchive it or configure another channel",
    "restricted_action": "a workspace admin restricts posting in this channel; ask them or "
    "choose another channel",
    "msg_too_long": "the message text is too long; this is a formatter bug, please report it",
    "no_text": "the message had no text; this is a formatter bug, please report it",
    "invalid_blocks": "Slack rejected the blocks (limits or structure); this is a formatter bug",
    "invalid_blocks_format": "the blocks were not valid JSON; this is a formatter bug",
    "invalid_metadata_format": "Slack rejected the message metadata; this is a formatter bug",
    "invalid_metadata_schema": "Slack rejected the message metadata; this is a formatter bug",
    "too_many_attachments": "too many attachments; this is a formatter bug",
    "message_not_found": "the message to update no longer exists (deleted?); post a new one",
    "cant_update_message": "only messages posted by this bot can be updated",
    "edit_window_closed": "the message is too old to be edited; post a new one",
    "invalid_cursor": "pagination cursor rejected; retry the lookup from the start",
}


class DeliveryError(Exception):
    """An alert could not be delivered. `code` is Slack's error code when there is one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """Retry later; wait at least `retry_after` seconds when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        maybe_posted: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.maybe_posted = maybe_posted


class PermanentError(DeliveryError):
    """Do not retry until the configuration (or code) is fixed; the message says how."""


def _redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, "[redacted]")
    return _TOKEN_LIKE.sub("[redacted]", text)


class _RedactTokens(logging.Filter):
    """Rewrites log records that contain anything token-shaped (xoxb-..., xapp-...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = _redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _guard_logger(logger: logging.Logger) -> None:
    """slack_sdk logs response bodies on decode errors; make sure no token survives there."""
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


def _retry_after(headers: Any) -> float | None:
    try:
        items = dict(headers or {}).items()
    except (TypeError, ValueError):
        return None
    for key, value in items:
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                seconds = float(str(raw).strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None


def _is_channel_id(channel: str) -> bool:
    return bool(_CHANNEL_ID.match(channel))


def _channel_name(channel: str) -> str:
    return channel.strip().lstrip("#").lower()


class SlackTransport:
    """Posts alerts with the Slack Web API (bot token, scope ``chat:write``).

    `find_posted` additionally needs ``channels:history`` (``groups:history`` for private
    channels) and, when channels are configured by name, ``channels:read`` / ``groups:read``.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not token or not token.strip():
            raise PermanentError(
                "Slack token is empty: set the bot token (xoxb-...) in the configuration"
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self._token = token.strip()
        self._client = WebClient(
            token=self._token,
            base_url=base_url or WebClient.BASE_URL,
            timeout=timeout,  # type: ignore[arg-type]  # urllib accepts float seconds
            # No retry handlers at all: the default ConnectionErrorRetryHandler re-sends a
            # request whose response was lost, which double-posts. The caller decides.
            retry_handlers=[],
        )
        _guard_logger(self._client.logger)
        self._channel_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SlackTransport(base_url={self._client.base_url!r})"

    # --- public API

    def post(self, alert: Alert, *, thread_ts: str | None = None) -> str:
        """Post `alert` to `alert.channel` (as a reply in the thread of `thread_ts` when given,
        also shown in the channel when `alert.broadcast`); returns the message ts."""
        msg = build_message(alert)
        thread: dict[str, Any] = {}
        if thread_ts is not None:
            thread = {"thread_ts": thread_ts, "reply_broadcast": alert.broadcast}
        resp = self._call(
            "chat.postMessage",
            alert.channel,
            partial(
                self._client.chat_postMessage,
                channel=alert.channel,
                text=msg.text,
                blocks=msg.blocks,
                metadata=msg.metadata,
                unfurl_links=False,
                unfurl_media=False,
                **thread,
            ),
        )
        channel_id = resp.get("channel")
        if isinstance(channel_id, str) and channel_id and not _is_channel_id(alert.channel):
            self._channel_ids[_channel_name(alert.channel)] = channel_id
        return self._ts(resp, "chat.postMessage")

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]],
                     metadata: dict[str, Any] | None = None) -> str:
        """Post a message watcher composed itself (a digest); `text` and `blocks` must already
        be escaped (see `slack_format`). `metadata`: Slack message metadata (`event_type`,
        `event_payload`), which `find_posted` looks for. Returns the ts."""
        extra: dict[str, Any] = {} if metadata is None else {"metadata": metadata}
        resp = self._call(
            "chat.postMessage", channel,
            partial(self._client.chat_postMessage, channel=channel, text=text, blocks=blocks,
                    unfurl_links=False, unfurl_media=False, **extra),
        )
        return self._ts(resp, "chat.postMessage")

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes,
                    title: str) -> None:
        """Upload a file (the digest's chart) into `channel`, in the thread of `thread_ts`.
        Needs the ``files:write`` scope."""
        channel_id = self.channel_id(channel)
        self._call("files.upload", channel, partial(
            self._client.files_upload_v2, channel=channel_id, thread_ts=thread_ts,
            file=content, filename=filename, title=title))

    def update(self, channel: str, ts: str, alert: Alert) -> str:
        """Replace the message `ts` in `channel` with a rendering of `alert`; returns its ts."""
        msg = build_message(alert)
        channel_id = self.channel_id(channel)
        resp = self._call(
            "chat.update",
            channel,
            partial(
                self._client.chat_update,
                channel=channel_id,
                ts=ts,
                text=msg.text,
                blocks=msg.blocks,
                metadata=msg.metadata,
            ),
        )
        return self._ts(resp, "chat.update")

    def find_posted(
        self, channel: str, marker: str, oldest: float, *, thread_ts: str | None = None,
        event_type: str = "watcher_alert", key: str = "alert_id",
    ) -> str | None:
        """The ts of a message posted since `oldest` (epoch seconds) carrying `marker` in its
        metadata (`event_type`, payload field `key`: an alert's id by default; a digest's is
        ``"watcher_digest"``, ``"digest_id"``), or None; with `thread_ts`, among the replies of
        that thread (Slack's history leaves thread replies out). Use it after a `TransientError`
        with `maybe_posted` before retrying."""
        channel_id = self.channel_id(channel)
        messages = (self._replies(channel, channel_id, thread_ts, oldest) if thread_ts
                    else self._history(channel, channel_id, oldest))
        for message in messages:
            metadata = message.get("metadata")
            if not isinstance(metadata, dict) or metadata.get("event_type") != event_type:
                continue
            payload = metadata.get("event_payload")
            if isinstance(payload, dict) and payload.get(key) == marker:
                ts = message.get("ts")
                if isinstance(ts, str):
                    return ts
        return None

    def channel_id(self, channel: str) -> str:
        """A channel ID for `channel` ("C0123ABCD", "#name" or "name"); names are looked up with
        conversations.list once and cached."""
        channel = channel.strip()
        if _is_channel_id(channel):
            return channel
        name = _channel_name(channel)
        if name not in self._channel_ids:
            self._load_channels(channel)
        try:
            return self._channel_ids[name]
        except KeyError:
            raise PermanentError(
                f"Slack channel {channel!r} was not found among the channels the bot can see; "
                "check the name in the watch configuration, invite the bot to the channel "
                "(/invite @yourbot) or configure the channel ID (C0...) instead",
                code="channel_not_found",
            ) from None

    # --- internals

    def _load_channels(self, channel: str) -> None:
        types = "public_channel,private_channel"
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                resp = self._call(
                    "conversations.list",
                    channel,
                    partial(
                        self._client.conversations_list,
                        types=types,
                        exclude_archived=True,
                        limit=LIST_PAGE,
                        cursor=cursor,
                    ),
                )
            except PermanentError as err:
                if err.code == "missing_scope" and types != "public_channel":
                    types, cursor = "public_channel", None  # no groups:read: public ones only
                    continue
                raise
            for info in resp.get("channels") or []:
                if isinstance(info, dict) and isinstance(info.get("id"), str):
                    self._channel_ids[_channel_name(str(info.get("name", "")))] = info["id"]
            cursor = self._next_cursor(resp)
            if not cursor:
                return

    def _history(self, channel: str, channel_id: str, oldest: float) -> Iterator[dict[str, Any]]:
        return self._pages(channel, "conversations.history", partial(
            self._client.conversations_history, channel=channel_id, oldest=f"{oldest:.6f}",
            inclusive=True, include_all_metadata=True, limit=HISTORY_PAGE))

    def _replies(
        self, channel: str, channel_id: str, thread_ts: str, oldest: float
    ) -> Iterator[dict[str, Any]]:
        return self._pages(channel, "conversations.replies", partial(
            self._client.conversations_replies, channel=channel_id, ts=thread_ts,
            oldest=f"{oldest:.6f}", inclusive=True, include_all_metadata=True,
            limit=HISTORY_PAGE))

    def _pages(
        self, channel: str, method: str, call: Callable[..., SlackResponse]
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            resp = self._call(method, channel, partial(call, cursor=cursor))
            for message in resp.get("messages") or []:
                if isinstance(message, dict):
                    yield message
            cursor = self._next_cursor(resp)
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    @staticmethod
    def _next_cursor(resp: SlackResponse) -> str | None:
        meta = resp.get("response_metadata")
        cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
        return cursor if isinstance(cursor, str) and cursor else None

    def _ts(self, resp: SlackResponse, method: str) -> str:
        ts = resp.get("ts")
        if not isinstance(ts, str) or not _TS_RE.fullmatch(ts):  # (stored: 64 characters)
            raise TransientError(
                f"Slack {method} answered ok but without a valid message ts; "
                "the message may have been posted: check with find_posted before retrying",
                maybe_posted=True,
            )
        return ts

    def _call(self, method: str, channel: str, fn: Callable[[], SlackResponse]) -> SlackResponse:
        """Run one Web API call, translating every failure into a DeliveryError."""
        writes = method in ("chat.postMessage", "chat.update")
        where = f"Slack {method} (channel {channel!r})"
        then = _CHECK_FIRST if writes else "retry later"
        try:
            resp = fn()
            if not isinstance(resp.data, dict):  # (JSON, but a list, a string, a number)
                raise TypeError(f"the answer is a JSON {type(resp.data).__name__}, not an object")
            return resp
        except SlackApiError as err:
            raise self._api_error(where, err.response, writes) from None
        except URLError as err:  # raised while connecting / sending
            reason = err.reason
            refused = isinstance(reason, ConnectionRefusedError | socket.gaierror)
            msg = f"{where}: cannot reach Slack ({reason}); check the network and base_url"
            raise TransientError(
                _redact(msg, self._token), maybe_posted=writes and not refused
            ) from None
        except TimeoutError:
            raise TransientError(
                f"{where}: no answer within {self._client.timeout} s; {then}", maybe_posted=writes
            ) from None
        except (http.client.HTTPException, OSError) as err:  # dropped / reset connection
            msg = f"{where}: connection failed ({type(err).__name__}: {err}); {then}"
            raise TransientError(_redact(msg, self._token), maybe_posted=writes) from None
        except SlackClientError as err:
            msg = f"{where}: the Slack client refused the request: {err}"
            raise PermanentError(_redact(msg, self._token)) from None
        except (ValueError, TypeError, AttributeError, LookupError) as err:
            # an answer the client cannot read (a JSON list, a binary or unknown charset, bad
            # UTF-8): after a write, the message may be posted
            msg = (f"{where}: unreadable answer from Slack ({type(err).__name__}: "
                   f"{str(err)[:200]}); {then}")
            raise TransientError(_redact(msg, self._token), maybe_posted=writes) from None

    def _api_error(self, where: str, resp: SlackResponse, writes: bool) -> DeliveryError:
        status = resp.status_code
        data = resp.data if isinstance(resp.data, dict) else {}
        code = str(data.get("error") or "")
        shown = _redact(code[:200], self._token)
        if status == 429 or code in ("ratelimited", "rate_limited"):
            retry_after = _retry_after(resp.headers)
            wait = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
            return TransientError(
                f"{where}: rate limited by Slack (HTTP {status}); {wait}",
                retry_after=retry_after,
                code="ratelimited",
            )
        if status >= 500 or code in _TRANSIENT_CODES or code.startswith(_NON_JSON):
            # an answer that is no JSON (a body cut off, a proxy's page) may follow a post
            maybe = writes and (status >= 500 or code in _AMBIGUOUS_CODES
                                or code.startswith(_NON_JSON))
            return TransientError(
                f"{where}: Slack server error (HTTP {status}, {shown or 'no error code'}); "
                + (_CHECK_FIRST if maybe else "retry later"),
                retry_after=_retry_after(resp.headers),
                maybe_posted=maybe,
                code=code or None,
            )
        fix = _FIXES.get(code)
        if fix is None:
            fix = (
                f"unexpected HTTP {status}: check the Slack base_url"
                if status != 200
                else "see https://api.slack.com/methods for this error code"
            )
        return PermanentError(
            f"{where} failed: {shown or f'HTTP {status}'}: {fix}", code=code or None
        )


class WebhookTransport:
    """Posts alerts through a Slack incoming webhook (for teams without a bot). One message per
    alert, to the webhook's own channel (a watch's `channel` is ignored); no threads, no updates,
    and no history to check after a lost response, so delivery is at-least-once."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        from slack_sdk.webhook import WebhookClient

        if not url.startswith(("https://", "http://")):
            raise PermanentError("the incoming-webhook URL must be an http(s) URL "
                                 "(https://hooks.slack.com/services/...)")
        self._url = url
        self._client = WebhookClient(url, timeout=int(max(1, timeout)), retry_handlers=[])
        _guard_logger(self._client.logger)

    def __repr__(self) -> str:
        return "WebhookTransport(url=<redacted>)"

    def post(self, alert: Alert, *, thread_ts: str | None = None) -> str:
        """`thread_ts` is ignored: a webhook cannot reply in threads."""
        msg = build_message(alert)
        return self.post_message(alert.channel, msg.text, msg.blocks)

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes,
                    title: str) -> None:
        raise PermanentError("an incoming webhook cannot upload files: the digest's chart needs "
                             "a bot token with files:write")

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]],
                     metadata: dict[str, Any] | None = None) -> str:
        """`metadata` is not sent: a webhook cannot read its channel back to look for it."""
        where = "Slack incoming webhook"
        try:
            resp = self._client.send(text=text, blocks=blocks, unfurl_links=False,
                                     unfurl_media=False)
        except (URLError, OSError, http.client.HTTPException, SlackClientError) as exc:
            raise TransientError(f"{where}: {type(exc).__name__}; retry later",
                                 maybe_posted=True) from None
        except (ValueError, LookupError) as exc:  # an answer in a charset that cannot be read
            # most likely after the post went through, and a webhook cannot look: not retried,
            # so that the message is not posted twice (the alert shows as failed, with this)
            raise PermanentError(f"{where}: unreadable answer ({type(exc).__name__}); the "
                                 "message was probably posted, and is not sent again") from None
        body = _redact(str(resp.body or "")[:200], self._url)
        if resp.status_code == 200:
            return WEBHOOK_TS
        if resp.status_code == 429:
            retry = _retry_after(resp.headers)
            raise TransientError(f"{where}: rate limited (HTTP 429)", retry_after=retry,
                                 code="ratelimited")
        if resp.status_code >= 500:
            raise TransientError(f"{where}: HTTP {resp.status_code} {body}; retry later",
                                 maybe_posted=True)
        raise PermanentError(f"{where} refused the message: HTTP {resp.status_code} {body}; "
                             "check the webhook URL (revoked or wrong?) and the app's channel",
                             code=body or None)


class ConsoleTransport:
    """Writes the plain-text rendering to a text stream (default: stdout). For dry runs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def post(self, alert: Alert, *, thread_ts: str | None = None) -> str:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(format_console(alert) + "\n")
        stream.flush()
        return "console"

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes,
                    title: str) -> None:
        """Writes the file to a temporary directory and says where."""
        import tempfile
        from pathlib import Path

        path = Path(tempfile.mkdtemp(prefix="watcher-")) / Path(filename).name
        path.write_bytes(content)
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(f"[{strip_invisible(channel)}] {strip_invisible(title)}: {path}\n")
        stream.flush()

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]],
                     metadata: dict[str, Any] | None = None) -> str:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(f"[{strip_invisible(channel)}] {strip_invisible(text)}\n")
        stream.flush()
        return "console"
