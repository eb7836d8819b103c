"""The outbound address guard: feed content cannot make watcher reach non-public addresses.

Only 127.0.0.1 / ::1 are ever connected to here; the other non-public addresses are checked
against a backend that records what it would have connected to (and fails the test if asked).
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config import ConfigError, FeedConfig, FetchConfig, parse_config
from watcher.demo import shipped_watches_toml
from watcher.fetch import fetch_feeds
from watcher.models import FeedState
from watcher.netguard import (
    AddressPolicy,
    GuardedResolver,
    RefusedAddress,
    guarded_socket_factory,
    is_public,
    parse_networks,
)
from watcher.pipeline import render_summary, run_cycle
from watcher.store import Store
from watcher.transports import ConsoleTransport

from .articles import BORDER_PARAGRAPHS, rss_feed, rss_item
from .feedserver import FeedServer, Route

NOW = datetime.now(UTC).replace(microsecond=0)
LOOPBACK = ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize(("address", "public"), [
    ("127.0.0.1", False), ("127.9.9.9", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("239.255.255.250", False),
    ("240.0.0.1", False), ("255.255.255.255", False), ("192.0.2.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False), ("fd12:3456::1", False),
    ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False),
    ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
    ("2001:db8::1", False),  # documentation
    ("192.0.0.8", False), ("198.18.0.1", False), ("fec0::1", False),
    ("8.8.8.8", True), ("1.1.1.1", True), ("93.184.216.34", True),
    ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
])
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_allow_list_lifts_the_rule_for_named_networks_only() -> None:
    policy = AddressPolicy(parse_networks(["10.20.0.0/16", "::1"]))
    assert policy.permits("10.20.3.4") and policy.permits("::1")
    assert policy.permits("::ffff:10.20.3.4")  # the same IPv4 address, IPv6-mapped
    assert not policy.permits("10.21.0.1") and not policy.permits("127.0.0.1")
    assert policy.permits("8.8.8.8")


def _resolver(answers: list[list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    return resolve, calls


@pytest.mark.parametrize("answer", [
    ["169.254.169.254"], ["10.0.0.5"], ["::1"], ["fe80::1%eth0"], ["127.0.0.1", "::1"],
    ["::ffff:192.168.0.1"],
])
def test_resolver_refuses_a_name_without_a_public_address(answer: list[str]) -> None:
    resolve, _ = _resolver([answer])
    resolver = GuardedResolver(AddressPolicy(), resolve)
    with pytest.raises(RefusedAddress, match="not a public address"):
        asyncio.run(resolver.resolve("metadata.example", 80))


def test_resolver_answers_the_checked_addresses_only() -> None:
    """A name answering a public and a private address: only the public one is handed to the
    connector, as an address, so no second lookup can swap it for another (DNS rebinding)."""
    resolve, calls = _resolver([["10.0.0.5", "93.184.216.34"], ["127.0.0.1"]])
    resolver = GuardedResolver(AddressPolicy(), resolve)
    [answer] = asyncio.run(resolver.resolve("rebind.example", 80))
    assert (answer["host"], answer["hostname"], answer["port"]) == (
        "93.184.216.34", "rebind.example", 80)
    assert answer["flags"] & socket.AI_NUMERICHOST and calls == ["rebind.example"]
    # the next connection resolves again and is judged on its own answer
    with pytest.raises(RefusedAddress):
        asyncio.run(resolver.resolve("rebind.example", 80))
    resolve2, _ = _resolver([["10.0.0.5", "127.0.0.1", "fd00::1"]])
    allowed = GuardedResolver(AddressPolicy(parse_networks(["10.0.0.0/8", "fd00::/8"])),
                              resolve2)
    answers = asyncio.run(allowed.resolve("intranet.example", 80))
    assert [(a["host"], a["family"]) for a in answers] == [
        ("10.0.0.5", socket.AF_INET), ("fd00::1", socket.AF_INET6)]


@pytest.mark.parametrize(("family", "address", "allowed"), [
    (socket.AF_INET, ("127.0.0.1", 80), False), (socket.AF_INET, ("10.1.2.3", 80), False),
    (socket.AF_INET, ("169.254.169.254", 80), False),
    (socket.AF_INET6, ("::1", 80, 0, 0), False), (socket.AF_INET6, ("fe80::1", 80, 0, 2), False),
    (socket.AF_INET6, ("::ffff:192.168.0.1", 80, 0, 0), False),
    (socket.AF_INET, ("93.184.216.34", 443), True),
    (socket.AF_INET6, ("2606:4700:4700::1111", 443, 0, 0), True),
])
def test_socket_factory_makes_no_socket_for_a_refused_address(
    family: int, address: tuple[object, ...], allowed: bool,
) -> None:
    """Every address connected to passes the factory, address literals in URLs too (they never
    reach the resolver)."""
    make = guarded_socket_factory(AddressPolicy())
    info = (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)
    if not allowed:
        with pytest.raises(RefusedAddress, match="not a public address"):
            make(info)
        return
    sock = make(info)
    try:
        assert sock.family == family and sock.type == socket.SOCK_STREAM
    finally:
        sock.close()


def test_socket_factory_follows_allow_networks() -> None:
    make = guarded_socket_factory(AddressPolicy(parse_networks(["127.0.0.0/8"])))
    make((socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 80))).close()
    with pytest.raises(RefusedAddress):
        make((socket.AF_INET6, socket.SOCK_STREAM, 0, "", ("::1", 80, 0, 0)))
    with pytest.raises(RefusedAddress):  # not a TCP/IP socket at all
        make((socket.AF_UNIX, socket.SOCK_STREAM, 0, "", ("/var/run/docker.sock",)))


def _cfg(**kw: object) -> FetchConfig:
    base: dict[str, object] = {"connect_timeout": 2.0, "read_timeout": 2.0, "deadline": 3.0}
    base.update(kw)
    return FetchConfig(**base)  # type: ignore[arg-type]


BODY = rss_feed([rss_item("Quiet day", "https://example.org/a", "a", "<p>Nothing.</p>", NOW)])


@pytest.mark.parametrize("target", ["/inside", "http://[::1]:{port}/inside",
                                    "http://localhost:{port}/inside"])
def test_redirect_of_a_configured_feed_to_loopback_is_refused(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    with FeedServer() as srv:
        port = srv.url("/").split(":")[2].split("/")[0]
        srv.routes["/feed"] = Route(status=302, etag=False,
                                    headers={"Location": target.format(port=port)})
        srv.routes["/inside"] = Route(body=BODY)
        with caplog.at_level(logging.WARNING, logger="watcher.fetch"):
            [r] = fetch_feeds([FeedConfig("f", srv.url("/feed"))], {}, _cfg())
        # the configured URL itself (on 127.0.0.1) is trusted as written; its redirect is not
        assert [p for p, _ in srv.requests] == ["/feed"]
        assert r.error_kind == "refused" and "allow_networks" in (r.error or "")
        assert len([m for m in caplog.messages if m.startswith("refused")]) == 1


def test_allow_networks_lets_redirects_through() -> None:
    with FeedServer() as srv:
        srv.routes["/feed"] = Route(status=301, etag=False, headers={"Location": "/inside"})
        srv.routes["/inside"] = Route(body=BODY)
        [r] = fetch_feeds([FeedConfig("f", srv.url("/feed"))], {},
                          _cfg(allow_networks=LOOPBACK))
        assert r.ok and r.body == BODY and r.permanent_url == srv.url("/inside")


def test_a_moved_feed_url_is_not_trusted_as_written() -> None:
    """A 301 stored the feed's new URL; that URL came from the server, not from the config."""
    with FeedServer() as srv:
        srv.routes["/new"] = Route(body=BODY)
        feed = FeedConfig("f", "https://feeds.example/old")
        state = FeedState(name="f", url=srv.url("/new"), config_url=feed.url)
        [r] = fetch_feeds([feed], {"f": state}, _cfg())
        assert r.error_kind == "refused" and srv.requests == []
        [r] = fetch_feeds([feed], {"f": state}, _cfg(allow_networks=LOOPBACK))
        assert r.ok


def test_every_fetch_is_refused_logged_once_per_host(caplog: pytest.LogCaptureFixture) -> None:
    with FeedServer() as srv:
        srv.routes["/page"] = Route(body=b"<html></html>", content_type="text/html")
        links = [FeedConfig(str(i), srv.url(f"/page?{i}")) for i in range(5)]
        with caplog.at_level(logging.WARNING, logger="watcher.fetch"):
            results = fetch_feeds(links, {}, _cfg(), trusted=False)
        assert {r.error_kind for r in results} == {"refused"} and srv.requests == []
        refusals = [m for m in caplog.messages if m.startswith("refused")]
        assert len(refusals) == 1 and refusals[0].startswith("refused 5 fetches to 127.0.0.1")


def test_article_links_to_internal_addresses_are_refused_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """A feed (trusted) whose items link to a loopback page: full text is refused, counted, and
    the article still alerts on the feed's own text."""
    with FeedServer() as srv:
        teaser = "<p>" + BORDER_PARAGRAPHS[0] + "</p>"
        srv.routes["/f.xml"] = Route(body=rss_feed([
            rss_item("Armenia-Azerbaijan border shelling", srv.url("/story"), "1", teaser,
                     NOW - timedelta(minutes=5)),
        ]))
        srv.routes["/story"] = Route(body=b"<html><p>secret</p></html>", content_type="text/html")
        text = (f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                f'[[feeds]]\nname = "f"\nurl = "{srv.url("/f.xml")}"\nfull_text = true\n\n'
                + shipped_watches_toml())
        cfg = parse_config(text, None, {})
        store = Store(cfg.store.url)
        out = io.StringIO()
        summary = run_cycle(cfg, store, ConsoleTransport(out), now=NOW)
        store.close()
        assert [p for p, _ in srv.requests] == ["/f.xml"]
        assert summary.full_text.refused == 1 and summary.full_text.fallback == 1
        assert summary.refused == 1 and summary.alerts == 1
        assert "refused: 1 fetches to non-public addresses" in render_summary(summary.to_dict())


@pytest.mark.parametrize(("value", "needle"), [
    ('"10.0.0.0/8"', "must be an array of networks"),
    ('["10.0.0.0/33"]', "'10.0.0.0/33' is not a network"),
    ('["intranet"]', "'intranet' is not a network"),
])
def test_bad_allow_networks_is_a_clear_config_error(value: str, needle: str) -> None:
    text = (f"[fetch]\nallow_networks = {value}\n"
            '[[feeds]]\nname = "f"\nurl = "https://example.org/f"\n')
    with pytest.raises(ConfigError) as err:
        parse_config(text, None, {})
    assert needle in str(err.value) and "fetch.allow_networks" in str(err.value)
    assert "line 2" in str(err.value)


def test_allow_networks_is_normalised() -> None:
    text = ('[fetch]\nallow_networks = ["10.20.1.7/16", "::1"]\n'
            '[[feeds]]\nname = "f"\nurl = "https://example.org/f"\n')
    assert parse_config(text, None, {}).fetch.allow_networks == ("10.20.0.0/16", "::1/128")
