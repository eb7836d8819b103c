"""SlackTransport against FakeSlack through the real slack_sdk.WebClient (no mocks)."""

from __future__ import annotations

import dataclasses
import io
import logging
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient

from watcher.models import Alert, CasualtyFigure
from watcher.slack_format import build_message, format_console
from watcher.transports import (
    ConsoleTransport,
    DeliveryError,
    PermanentError,
    SlackTransport,
    TransientError,
)

sys.path.insert(0, str(Path(__file__).parent))
from fakeslack import (
    FakeSlack,
    drop,
    error,
    lost_response,
    rate_limited,
    server_error,
    slow,
)

SECRET = "xoxb-111-222-SECRETSECRETSECRET"
CHANNEL_ID = "C0CAUCASUS"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk routes through HTTP(S)_PROXY when set; the fake lives on 127.0.0.1.
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=SECRET) as f:
        yield f


@pytest.fixture
def transport(fake: FakeSlack) -> SlackTransport:
    return SlackTransport(SECRET, base_url=fake.url, timeout=2.0)


def make_alert(alert_id: str = "alert-1", **overrides: object) -> Alert:
    killed = CasualtyFigure("killed", 17, "at_least", True, (0, 20), "At least 17 killed")
    base = Alert(
        alert_id=alert_id,
        story_id="story-1",
        watch="caucasus",
        channel="#caucasus-watch",
        severity="critical",
        score=9.0,
        title="Border clash <!channel>",
        url="https://news.example.com/a?x=1&y=2",
        source="Example News",
        published=datetime(2024, 9, 13, 14, 5, tzinfo=UTC),
        excerpt="Shelling near the border.",
        matched_terms=("shelling",),
        killed=killed,
        injured=None,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_no_secret(exc: BaseException) -> None:
    rendered = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in rendered:
        assert SECRET not in text
        assert "SECRETSECRET" not in text


# --- happy path


def test_post_stores_message_with_metadata(fake: FakeSlack, transport: SlackTransport) -> None:
    alert = make_alert()
    ts = transport.post(alert)
    stored = fake.messages_in("#caucasus-watch")
    assert [m["ts"] for m in stored] == [ts]
    expected = build_message(alert)
    assert stored[0]["text"] == expected.text
    assert stored[0]["blocks"] == expected.blocks
    assert stored[0]["metadata"] == expected.metadata
    assert stored[0]["metadata"]["event_payload"]["alert_id"] == "alert-1"
    assert stored[0]["unfurl_links"] is False and stored[0]["unfurl_media"] is False


def test_link_names_and_parse_are_never_sent(fake: FakeSlack, transport: SlackTransport) -> None:
    ts = transport.post(make_alert())
    transport.update(CHANNEL_ID, ts, make_alert(title="updated"))
    writes = fake.calls_to("chat.postMessage") + fake.calls_to("chat.update")
    assert len(writes) == 2
    for call in writes:
        assert "link_names" not in call.params
        assert "parse" not in call.params
        assert call.content_type.startswith("application/json")  # blocks+metadata go as JSON


@pytest.mark.parametrize("channel", ["#caucasus-watch", "caucasus-watch", CHANNEL_ID])
def test_post_accepts_names_and_ids(
    fake: FakeSlack, transport: SlackTransport, channel: str
) -> None:
    transport.post(make_alert(channel=channel))
    assert len(fake.messages_in(CHANNEL_ID)) == 1


def test_update_replaces_the_message(fake: FakeSlack, transport: SlackTransport) -> None:
    ts = transport.post(make_alert())
    assert transport.update("#caucasus-watch", ts, make_alert(severity="warning")) == ts
    (stored,) = fake.messages_in(CHANNEL_ID)
    assert stored["metadata"]["event_payload"]["severity"] == "warning"
    assert "WARNING" in stored["blocks"][0]["text"]["text"]


def test_update_of_missing_message_is_permanent(transport: SlackTransport) -> None:
    with pytest.raises(PermanentError, match="message_not_found") as info:
        transport.update(CHANNEL_ID, "1.000001", make_alert())
    assert info.value.code == "message_not_found"


# --- transient


def test_rate_limited_is_transient_with_retry_after(
    fake: FakeSlack, transport: SlackTransport
) -> None:
    fake.inject("chat.postMessage", rate_limited(7))
    with pytest.raises(TransientError) as info:
        transport.post(make_alert())
    assert info.value.retry_after == 7.0
    assert info.value.maybe_posted is False
    assert "retry after 7 s" in str(info.value)
    assert fake.messages == {}
    assert len(fake.calls_to("chat.postMessage")) == 1  # the SDK did not retry by itself


@pytest.mark.parametrize(
    "fault", [server_error(500), server_error(503, body="<html>Service Unavailable</html>")]
)
def test_server_errors_are_transient_and_maybe_posted(
    fake: FakeSlack, transport: SlackTransport, fault: object
) -> None:
    fake.inject("chat.postMessage", fault)  # type: ignore[arg-type]
    with pytest.raises(TransientError) as info:
        transport.post(make_alert())
    assert info.value.maybe_posted is True
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_timeout_is_transient_and_the_message_can_be_found(fake: FakeSlack) -> None:
    transport = SlackTransport(SECRET, base_url=fake.url, timeout=0.3)
    fake.inject("chat.postMessage", slow(3))
    t0 = time.time()
    start = time.perf_counter()
    with pytest.raises(TransientError, match=r"no answer within 0\.3 s") as info:
        transport.post(make_alert())
    assert time.perf_counter() - start < 2.0
    assert info.value.maybe_posted is True
    assert transport.find_posted("#caucasus-watch", "alert-1", oldest=t0 - 1) is not None


def test_dropped_connection_is_transient_and_not_retried_blindly(
    fake: FakeSlack, transport: SlackTransport
) -> None:
    fake.inject("chat.postMessage", drop())
    with pytest.raises(TransientError) as info:
        transport.post(make_alert())
    assert info.value.maybe_posted is True
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert fake.messages == {}


def test_connection_refused_is_transient_and_certainly_not_posted() -> None:
    transport = SlackTransport(SECRET, base_url=f"http://127.0.0.1:{free_port()}/api/", timeout=1)
    with pytest.raises(TransientError, match="cannot reach Slack") as info:
        transport.post(make_alert())
    assert info.value.maybe_posted is False
    assert_no_secret(info.value)


def test_lost_response_then_find_posted(fake: FakeSlack, transport: SlackTransport) -> None:
    t0 = time.time()
    fake.inject("chat.postMessage", lost_response())
    with pytest.raises(TransientError) as info:
        transport.post(make_alert("alert-lost"))
    assert info.value.maybe_posted is True
    (stored,) = fake.messages_in(CHANNEL_ID)  # exactly one: no SDK-level retry
    found = transport.find_posted("#caucasus-watch", "alert-lost", oldest=t0 - 1)
    assert found == stored["ts"]
    assert transport.find_posted("#caucasus-watch", "other-alert", oldest=t0 - 1) is None
    history = fake.calls_to("conversations.history")
    assert history and all(c.params["channel"] == CHANNEL_ID for c in history)
    assert all(c.params["include_all_metadata"] in ("1", True) for c in history)
    assert fake.calls_to("conversations.list")  # the name was resolved to an ID


def test_default_webclient_would_double_post_on_a_lost_response(fake: FakeSlack) -> None:
    # Why SlackTransport passes retry_handlers=[]: the SDK's default handler re-sends.
    client = WebClient(token=SECRET, base_url=fake.url)
    fake.inject("chat.postMessage", lost_response())
    client.chat_postMessage(channel=CHANNEL_ID, text="hello")
    assert len(fake.messages_in(CHANNEL_ID)) == 2


# --- permanent


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("invalid_auth", "token"),
        ("not_authed", "token"),
        ("account_inactive", "reinstall"),
        ("token_revoked", "reinstall"),
        ("channel_not_found", "invite the bot"),
        ("not_in_channel", "/invite"),
        ("is_archived", "unarchive"),
        ("msg_too_long", "formatter bug"),
        ("invalid_blocks", "formatter bug"),
        ("missing_scope", "chat:write"),
        ("restricted_action", "admin"),
        ("some_new_error", "api.slack.com/methods"),
    ],
)
def test_slack_errors_are_permanent_with_a_fix(
    fake: FakeSlack, transport: SlackTransport, code: str, hint: str
) -> None:
    fake.inject("chat.postMessage", error(code))
    with pytest.raises(PermanentError) as info:
        transport.post(make_alert())
    assert info.value.code == code
    assert code in str(info.value) and hint in str(info.value)
    assert_no_secret(info.value)


@pytest.mark.parametrize(
    ("code", "maybe_posted"),
    [("ratelimited", False), ("service_unavailable", False), ("internal_error", True)],
)
def test_transient_error_codes(
    fake: FakeSlack, transport: SlackTransport, code: str, maybe_posted: bool
) -> None:
    fake.inject("chat.postMessage", error(code))
    with pytest.raises(TransientError) as info:
        transport.post(make_alert())
    assert info.value.maybe_posted is maybe_posted


def test_unknown_channel_is_permanent(fake: FakeSlack, transport: SlackTransport) -> None:
    with pytest.raises(PermanentError, match="invite the bot") as info:
        transport.post(make_alert(channel="#no-such-channel"))
    assert info.value.code == "channel_not_found"


def test_channel_without_the_bot_is_permanent(fake: FakeSlack, transport: SlackTransport) -> None:
    fake.set_channel(CHANNEL_ID, is_member=False)
    with pytest.raises(PermanentError, match="/invite") as info:
        transport.post(make_alert())
    assert info.value.code == "not_in_channel"


def test_wrong_token_is_permanent_and_never_shown(fake: FakeSlack) -> None:
    wrong = "xoxb-999-888-WRONGWRONGWRONG"
    transport = SlackTransport(wrong, base_url=fake.url)
    with pytest.raises(PermanentError, match="invalid_auth") as info:
        transport.post(make_alert())
    for text in (
        str(info.value),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
    ):
        assert "WRONGWRONG" not in text


def test_empty_token_is_rejected_up_front() -> None:
    with pytest.raises(PermanentError, match="token is empty"):
        SlackTransport("  ")


# --- find_posted


def test_find_posted_paginates_and_respects_oldest(
    fake: FakeSlack, transport: SlackTransport
) -> None:
    fake.post_message(CHANNEL_ID, "before")
    time.sleep(0.01)
    t0 = time.time()
    ts = transport.post(make_alert("alert-old"))
    for i in range(450):  # newer chatter: the alert is on the third page of 200
        fake.post_message(CHANNEL_ID, f"chatter {i}")
    assert transport.find_posted(CHANNEL_ID, "alert-old", oldest=t0) == ts
    assert len(fake.calls_to("conversations.history")) == 3
    assert transport.find_posted(CHANNEL_ID, "alert-old", oldest=float(ts) + 0.5) is None


def test_find_posted_ignores_lookalike_metadata(fake: FakeSlack, transport: SlackTransport) -> None:
    fake.post_message(
        CHANNEL_ID,
        "someone else",
        metadata={"event_type": "other_app", "event_payload": {"alert_id": "alert-1"}},
    )
    assert transport.find_posted(CHANNEL_ID, "alert-1", oldest=0) is None


def test_channel_id_from_post_is_cached(fake: FakeSlack, transport: SlackTransport) -> None:
    transport.post(make_alert())
    transport.find_posted("#caucasus-watch", "alert-1", oldest=0)
    assert fake.calls_to("conversations.list") == []


def test_channel_names_are_resolved_across_pages(fake: FakeSlack) -> None:
    for i in range(450):
        fake.add_channel(f"C1{i:06d}", f"filler-{i}")
    fake.add_channel("C9LAST0001", "last-one")
    transport = SlackTransport(SECRET, base_url=fake.url)
    assert transport.channel_id("#last-one") == "C9LAST0001"
    assert len(fake.calls_to("conversations.list")) == 3
    assert transport.channel_id("last-one") == "C9LAST0001"  # cached
    assert len(fake.calls_to("conversations.list")) == 3


def test_missing_groups_read_falls_back_to_public_channels(
    fake: FakeSlack, transport: SlackTransport
) -> None:
    fake.inject("conversations.list", error("missing_scope"))
    assert transport.channel_id("#caucasus-watch") == CHANNEL_ID
    types = [c.params["types"] for c in fake.calls_to("conversations.list")]
    assert types == ["public_channel,private_channel", "public_channel"]


def test_find_posted_unknown_channel_is_permanent(transport: SlackTransport) -> None:
    with pytest.raises(PermanentError, match="configure the channel ID"):
        transport.find_posted("#nowhere", "alert-1", oldest=0)


def test_find_posted_rate_limited_is_transient(fake: FakeSlack, transport: SlackTransport) -> None:
    fake.inject("conversations.history", rate_limited(3))
    with pytest.raises(TransientError) as info:
        transport.find_posted(CHANNEL_ID, "alert-1", oldest=0)
    assert info.value.retry_after == 3.0
    assert info.value.maybe_posted is False


# --- secrets


def test_token_never_in_errors_or_logs(
    fake: FakeSlack, transport: SlackTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("slack_sdk").setLevel(logging.DEBUG)
    faults = [
        rate_limited(1),
        server_error(500),
        server_error(502, body=f"<html>{SECRET}</html>"),  # even a server echoing it
        drop(),
        lost_response(),
        error("invalid_auth"),
        error(f"weird_{SECRET}"),
    ]
    raised: list[DeliveryError] = []
    for fault in faults:
        fake.inject("chat.postMessage", fault)
        with pytest.raises(DeliveryError) as info:
            transport.post(make_alert())
        raised.append(info.value)
    assert len(raised) == len(faults)
    for exc in raised:
        assert_no_secret(exc)
    assert SECRET not in repr(transport)
    assert caplog.records, "expected slack_sdk debug logs to check"
    for record in caplog.records:
        assert SECRET not in record.getMessage()


# --- a retry loop


def deliver(transport: SlackTransport, alert: Alert, attempts: int = 40) -> str:
    """The retry policy the transport is designed for: after a maybe-posted failure, look
    (and keep looking while the lookup itself fails) before posting again."""
    started = time.time() - 1
    unresolved = False
    for _ in range(attempts):
        try:
            if unresolved:
                found = transport.find_posted(alert.channel, alert.alert_id, started)
                if found is not None:
                    return found
                unresolved = False
            return transport.post(alert)
        except TransientError as err:
            unresolved = unresolved or err.maybe_posted
            time.sleep(min(err.retry_after or 0.0, 0.05))
    raise AssertionError("gave up")


def test_random_faults_with_lookup_before_retry_post_each_alert_exactly_once(
    fake: FakeSlack,
) -> None:
    transport = SlackTransport(SECRET, base_url=fake.url, timeout=0.3)
    fake.fail_rate(
        0.4,
        faults=[rate_limited(0.01), server_error(500), drop(), lost_response(), slow(0.6)],
        seed=7,
    )
    alerts = [make_alert(f"alert-{i}") for i in range(25)]
    for alert in alerts:
        deliver(transport, alert)
    ids = [m["metadata"]["event_payload"]["alert_id"] for m in fake.messages_in(CHANNEL_ID)]
    assert sorted(ids) == sorted(a.alert_id for a in alerts)  # none lost, none doubled
    assert any(c.fault for c in fake.calls)  # faults did happen
    assert fake.server_errors == []


# --- console


def test_console_transport_writes_to_stream() -> None:
    stream = io.StringIO()
    alert = make_alert()
    assert ConsoleTransport(stream).post(alert) == "console"
    assert stream.getvalue() == format_console(alert) + "\n"
    assert "Border clash <!channel>" in stream.getvalue()


def test_console_transport_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleTransport().post(make_alert())
    assert "[CRITICAL] caucasus" in capsys.readouterr().out
