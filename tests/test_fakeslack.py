"""The fake Slack server itself: validation, pagination, faults - so tests built on it mean
something. Driven by the real slack_sdk.WebClient and, for wire-level details, raw httpx."""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

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

TOKEN = "xoxb-test-token"
CID = "C0CAUCASUS"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.url, timeout=2, retry_handlers=[])


@pytest.fixture
def raw(fake: FakeSlack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=5) as c:
        yield c


def section(n: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "x" * n}}


def header(n: int, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": "header", "text": {"type": kind, "text": "h" * n}}


def api_error(fn: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        fn()
    return str(info.value.response["error"])


# --- basics


def test_url_is_a_slack_sdk_base_url(fake: FakeSlack) -> None:
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/")


def test_auth_test(client: WebClient) -> None:
    assert client.auth_test()["bot_id"] == "B0BOT"


@pytest.mark.parametrize(
    ("headers", "data", "expected"),
    [
        ({}, {}, "not_authed"),
        ({"Authorization": "Bearer xoxb-wrong"}, {}, "invalid_auth"),
        ({}, {"token": "xoxb-wrong"}, "invalid_auth"),
        ({}, {"token": TOKEN}, None),  # token as a form parameter
        ({"Authorization": f"Bearer {TOKEN}"}, {}, None),
    ],
)
def test_authentication(
    raw: httpx.Client, headers: dict[str, str], data: dict[str, str], expected: str | None
) -> None:
    body = raw.post("auth.test", headers=headers, data=data).json()
    assert body.get("error") == expected
    assert body["ok"] is (expected is None)


def test_unknown_method(raw: httpx.Client) -> None:
    body = raw.post("nope.nothing", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert body == {"ok": False, "error": "unknown_method"}


# --- chat.postMessage


def test_post_json_and_form_bodies_are_both_accepted(
    fake: FakeSlack, client: WebClient, raw: httpx.Client
) -> None:
    client.chat_postMessage(channel=CID, text="json", blocks=[section(5)])
    form = raw.post(
        "chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"channel": "general", "text": "form", "blocks": json.dumps([section(3)])},
    ).json()
    assert form["ok"] is True
    assert fake.messages_in(CID)[0]["blocks"] == [section(5)]
    assert fake.messages_in("general")[0]["blocks"] == [section(3)]  # parsed from the string
    types = [c.content_type.split(";")[0] for c in fake.calls_to("chat.postMessage")]
    assert types == ["application/json", "application/x-www-form-urlencoded"]


@pytest.mark.parametrize("channel", [CID, "caucasus-watch", "#caucasus-watch"])
def test_post_resolves_names_and_ids(fake: FakeSlack, client: WebClient, channel: str) -> None:
    resp = client.chat_postMessage(channel=channel, text="hi")
    assert resp["channel"] == CID
    assert [m["ts"] for m in fake.messages_in(CID)] == [resp["ts"]]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"channel": "#nope", "text": "x"}, "channel_not_found"),
        ({"channel": CID}, "no_text"),
        ({"channel": CID, "text": ""}, "no_text"),
        ({"channel": CID, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": CID, "blocks": [section(1)] * 51}, "invalid_blocks"),
        ({"channel": CID, "blocks": [section(3001)]}, "invalid_blocks"),
        ({"channel": CID, "blocks": [section(0)]}, "invalid_blocks"),
        ({"channel": CID, "blocks": [header(151)]}, "invalid_blocks"),
        ({"channel": CID, "blocks": [header(10, "mrkdwn")]}, "invalid_blocks"),
        ({"channel": CID, "blocks": [{"type": "section"}]}, "invalid_blocks"),
        ({"channel": CID, "blocks": [{"type": "context", "elements": []}]}, "invalid_blocks"),
        (
            {"channel": CID, "text": "x", "metadata": {"event_payload": {}}},
            "invalid_metadata_format",
        ),
        ({"channel": CID, "text": "x", "metadata": {"event_type": "t"}}, "invalid_metadata_format"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_post_validation(client: WebClient, kwargs: dict[str, Any], expected: str) -> None:
    assert api_error(lambda: client.chat_postMessage(**kwargs)) == expected


@pytest.mark.parametrize(
    "blocks",
    [[section(1)] * 50, [section(3000)], [header(150)], [header(1), section(1)]],
)
def test_post_limits_are_inclusive(fake: FakeSlack, client: WebClient, blocks: Any) -> None:
    client.chat_postMessage(channel=CID, text="t", blocks=blocks)
    assert fake.messages_in(CID)[0]["blocks"] == blocks


def test_invalid_blocks_answer_says_where(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=CID, text="t", blocks=[section(1), section(3001)])
    assert any("/blocks/1" in e for e in info.value.response["errors"])


def test_malformed_blocks_json(raw: httpx.Client) -> None:
    body = raw.post(
        "chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"channel": CID, "text": "x", "blocks": "[{not json"},
    ).json()
    assert body["error"] == "invalid_blocks_format"


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [({"is_archived": True}, "is_archived"), ({"is_member": False}, "not_in_channel")],
)
def test_channel_state_errors(
    fake: FakeSlack, client: WebClient, attrs: dict[str, bool], expected: str
) -> None:
    fake.set_channel("#caucasus-watch", **attrs)
    assert api_error(lambda: client.chat_postMessage(channel=CID, text="x")) == expected
    assert fake.messages == {}


def test_link_names_and_parse_are_recorded(fake: FakeSlack, client: WebClient) -> None:
    # So that "never sent" assertions elsewhere can actually fail.
    client.chat_postMessage(channel=CID, text="x", link_names=True, parse="full")
    (call,) = fake.calls_to("chat.postMessage")
    assert call.params["link_names"] is True and call.params["parse"] == "full"
    assert fake.messages_in(CID)[0]["link_names"] is True


def test_thread_ts_and_metadata_are_stored(fake: FakeSlack, client: WebClient) -> None:
    meta = {"event_type": "watcher_alert", "event_payload": {"alert_id": "a1"}}
    parent = client.chat_postMessage(channel=CID, text="parent")["ts"]
    client.chat_postMessage(channel=CID, text="reply", thread_ts=parent, metadata=meta)
    reply = fake.messages_in(CID)[1]
    assert reply["thread_ts"] == parent and reply["metadata"] == meta


# --- chat.update


def test_update(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CID, text="v1")["ts"]
    resp = client.chat_update(channel=CID, ts=ts, text="v2", blocks=[section(2)])
    assert resp["ts"] == ts
    (stored,) = fake.messages_in(CID)
    assert stored["text"] == "v2" and stored["blocks"] == [section(2)]


@pytest.mark.parametrize(
    ("channel", "ts", "expected"),
    [
        ("#caucasus-watch", None, "channel_not_found"),  # chat.update needs an ID
        (CID, "1.000001", "message_not_found"),
    ],
)
def test_update_errors(
    fake: FakeSlack, client: WebClient, channel: str, ts: str | None, expected: str
) -> None:
    real_ts = client.chat_postMessage(channel=CID, text="v1")["ts"]
    update = lambda: client.chat_update(channel=channel, ts=ts or real_ts, text="v2")  # noqa: E731
    assert api_error(update) == expected


def test_update_of_someone_elses_message(fake: FakeSlack, client: WebClient) -> None:
    ts = fake.post_message(CID, "human")
    assert api_error(lambda: client.chat_update(channel=CID, ts=ts, text="x")) == (
        "cant_update_message"
    )


# --- history / list


def test_history_metadata_only_on_request(fake: FakeSlack, client: WebClient) -> None:
    meta = {"event_type": "watcher_alert", "event_payload": {"alert_id": "a1"}}
    client.chat_postMessage(channel=CID, text="x", metadata=meta)
    plain = client.conversations_history(channel=CID)["messages"][0]
    full = client.conversations_history(channel=CID, include_all_metadata=True)["messages"][0]
    assert "metadata" not in plain
    assert full["metadata"] == meta


def test_history_paginates_newest_first(fake: FakeSlack, client: WebClient) -> None:
    posted = [fake.post_message(CID, f"m{i}") for i in range(25)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        resp = client.conversations_history(channel=CID, limit=10, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in resp["messages"]]
        cursor = resp["response_metadata"]["next_cursor"]
        assert resp["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3
    assert seen == list(reversed(posted))


def test_history_oldest_is_exclusive_unless_inclusive(fake: FakeSlack, client: WebClient) -> None:
    first, second, third = (fake.post_message(CID, t) for t in ("a", "b", "c"))
    exclusive = client.conversations_history(channel=CID, oldest=second)["messages"]
    inclusive = client.conversations_history(channel=CID, oldest=second, inclusive=True)
    assert [m["ts"] for m in exclusive] == [third]
    assert [m["ts"] for m in inclusive["messages"]] == [third, second]
    latest = client.conversations_history(channel=CID, latest=second)["messages"]
    assert [m["ts"] for m in latest] == [first]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"channel": "#caucasus-watch"}, "channel_not_found"),  # history needs an ID
        ({"channel": CID, "cursor": "garbage!"}, "invalid_cursor"),
    ],
)
def test_history_errors(client: WebClient, kwargs: dict[str, Any], expected: str) -> None:
    assert api_error(lambda: client.conversations_history(**kwargs)) == expected


def test_history_requires_membership(fake: FakeSlack, client: WebClient) -> None:
    fake.set_channel(CID, is_member=False)
    assert api_error(lambda: client.conversations_history(channel=CID)) == "not_in_channel"


def test_history_via_get_query_string(fake: FakeSlack, raw: httpx.Client) -> None:
    fake.post_message(CID, "hello")
    body = raw.get(
        "conversations.history",
        params={"channel": CID},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert [m["text"] for m in body["messages"]] == ["hello"]


def test_conversations_list_types_archived_and_pages(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("G0SECRET01", "secret", is_private=True)
    fake.add_channel("C0OLD00001", "old", is_archived=True)
    fake.add_channel("G0HIDDEN01", "hidden", is_private=True, is_member=False)

    def names(**kwargs: Any) -> list[str]:
        out: list[str] = []
        cursor = None
        while True:
            resp = client.conversations_list(limit=1, cursor=cursor, **kwargs)
            out += [c["name"] for c in resp["channels"]]
            cursor = resp["response_metadata"]["next_cursor"]
            if not cursor:
                return sorted(out)

    assert names() == ["caucasus-watch", "general", "old"]
    assert names(exclude_archived=True) == ["caucasus-watch", "general"]
    assert names(types="public_channel,private_channel", exclude_archived=True) == [
        "caucasus-watch",
        "general",
        "secret",
    ]


# --- files


def test_files_upload_v2_works(fake: FakeSlack, client: WebClient) -> None:
    resp = client.files_upload_v2(
        channel=CID, content="casualty table", filename="t.csv", title="Table"
    )
    file_id = resp["file"]["id"]
    assert fake.files[file_id]["data"] == b"casualty table"
    assert fake.files[file_id]["shared"] == [CID]
    (message,) = fake.messages_in(CID)
    assert message["files"][0]["title"] == "Table"


def test_complete_upload_without_upload_fails(fake: FakeSlack, client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="x", length=1)["file_id"]
    complete = lambda: client.files_completeUploadExternal(files=[{"id": file_id}])  # noqa: E731
    assert api_error(complete) == "file_not_found"


# --- faults


def test_rate_limited_fault(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("chat.postMessage", rate_limited(2.5))
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=CID, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "2.5"
    assert fake.messages == {}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_fault(fake: FakeSlack, client: WebClient, status: int) -> None:
    fake.inject("chat.postMessage", server_error(status))
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=CID, text="x")
    assert info.value.response.status_code == status
    assert fake.messages == {}


def test_error_fault(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("chat.postMessage", error("token_revoked"))
    assert api_error(lambda: client.chat_postMessage(channel=CID, text="x")) == "token_revoked"
    assert fake.messages == {}


def test_drop_fault_stores_nothing(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("chat.postMessage", drop())
    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel=CID, text="x")
    assert fake.messages == {}
    assert fake.calls[-1].fault == "drop" and fake.calls[-1].status is None


def test_lost_response_fault_stores_the_message(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("chat.postMessage", lost_response())
    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel=CID, text="x")
    assert [m["text"] for m in fake.messages_in(CID)] == ["x"]


def test_slow_fault_times_the_client_out(fake: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=fake.url, timeout=0.2, retry_handlers=[])  # type: ignore[arg-type]
    fake.inject("chat.postMessage", slow(2))
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=CID, text="x")
    assert time.perf_counter() - start < 1.5
    assert len(fake.messages_in(CID)) == 1  # processed; only the answer was late
    assert len(fake.calls_to("chat.postMessage")) == 1  # recorded before the delay


def test_slow_fault_within_the_timeout_succeeds(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("auth.test", slow(0.2))
    start = time.perf_counter()
    assert client.auth_test()["ok"] is True
    assert time.perf_counter() - start >= 0.2


def test_faults_are_queued_per_method_in_order(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("chat.postMessage", error("a"), error("b"))
    client.auth_test()  # other methods are unaffected
    assert api_error(lambda: client.chat_postMessage(channel=CID, text="x")) == "a"
    assert api_error(lambda: client.chat_postMessage(channel=CID, text="x")) == "b"
    client.chat_postMessage(channel=CID, text="x")
    assert [c.fault for c in fake.calls] == [None, "error", "error", None]


def test_wildcard_faults_apply_to_any_method(fake: FakeSlack, client: WebClient) -> None:
    fake.inject("*", error("x"))
    assert api_error(client.auth_test) == "x"
    assert client.auth_test()["ok"] is True


def fault_sequence(seed: int, n: int = 40) -> list[str | None]:
    with FakeSlack(token=TOKEN) as f:
        c = WebClient(token=TOKEN, base_url=f.url, timeout=2, retry_handlers=[])
        f.fail_rate(0.5, faults=[error("e1"), rate_limited(0.01), server_error()], seed=seed)
        for _ in range(n):
            with contextlib.suppress(SlackApiError):
                c.auth_test()
        return [call.fault for call in f.calls]


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    first, again, other = fault_sequence(1), fault_sequence(1), fault_sequence(2)
    assert first == again
    assert first != other
    faulted = sum(f is not None for f in first)
    assert 8 <= faulted <= 32  # p = 0.5 over 40 calls
    assert {"error", "rate_limited", "server_error"} <= set(first)


def test_fail_rate_can_target_methods(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_rate(1.0, faults=[error("boom")], seed=0, methods=["chat.postMessage"])
    assert client.auth_test()["ok"] is True
    assert api_error(lambda: client.chat_postMessage(channel=CID, text="x")) == "boom"
    fake.fail_rate(0.0)
    client.chat_postMessage(channel=CID, text="x")


def test_fail_rate_rejects_bad_probability(fake: FakeSlack) -> None:
    with pytest.raises(ValueError, match="p must be within"):
        fake.fail_rate(1.5)


# --- concurrency


def test_concurrent_posts_are_all_stored_with_unique_increasing_ts(fake: FakeSlack) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        c = WebClient(token=TOKEN, base_url=fake.url, timeout=5, retry_handlers=[])
        try:
            for i in range(25):
                c.chat_postMessage(channel=CID, text=f"{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = fake.messages_in(CID)
    assert len(stored) == 200
    stamps = [float(m["ts"]) for m in stored]
    assert stamps == sorted(stamps) and len(set(stamps)) == 200
    assert len(fake.calls_to("chat.postMessage")) == 200
    assert fake.server_errors == []


def test_close_does_not_wait_for_slow_answers() -> None:
    f = FakeSlack(token=TOKEN).start()
    c = WebClient(token=TOKEN, base_url=f.url, timeout=10, retry_handlers=[])
    f.inject("auth.test", slow(30))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            c.auth_test()
        except Exception as exc:  # the connection is cut when the fake closes
            outcome.append(exc)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    while not f.calls:
        time.sleep(0.01)
    start = time.perf_counter()
    f.close()
    t.join(timeout=5)
    assert time.perf_counter() - start < 3
    assert not t.is_alive()
    assert len(outcome) == 1 and not isinstance(outcome[0], SlackApiError)
