"""Outbound address guard: feed content cannot make watcher reach inside the network.

Addresses that come from feed content (article links fetched for full text, every redirect target,
a feed's moved URL) are connected to only when the address the socket actually connects to is a
public one. Resolution and the check happen inside the connection itself (`GuardedBackend`), on
the very address then connected to, so a name that resolves to a public address for a check and to
a private one for the connection (DNS rebinding) gains nothing. Feed URLs written in the config are
trusted as written. `[fetch] allow_networks` lifts the rule for named networks (intranet feeds,
tests on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(Exception):
    """A connection was refused by the guard: the host resolves only to non-public addresses."""

    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        self.host = host
        self.addresses = tuple(addresses)
        shown = ", ".join(self.addresses[:3]) or "no address"
        super().__init__(
            f"refused to connect to {host} ({shown}): not a public address; feed content may "
            f"not reach loopback, private, link-local, multicast or reserved networks. If this "
            f"host is meant to be reached, add its network to [fetch] allow_networks"
        )


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings ("10.0.0.0/8", "::1/128", "127.0.0.1") as networks (ValueError if malformed:
    the config loader checks them first)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


# Not public although some Python versions' tables say so: IETF protocol assignments, benchmark
# networks, deprecated IPv6 site-local addresses.
_ALWAYS_DENIED = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "198.18.0.0/15", "fec0::/10",
))


def is_public(address: str | IPAddress) -> bool:
    """True for a globally routable unicast address. IPv4-mapped, 6to4 and Teredo IPv6 addresses are
    judged by the IPv4 address they carry."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    ip = _unmapped(ip)
    if any(ip in net for net in _ALWAYS_DENIED):
        return False
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow: tuple[IPNetwork, ...] = ()

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if is_public(ip):
            return True
        return any(ip in net or _unmapped(ip) in net for net in self.allow)


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (an address literal resolves to itself), in the order
    the system gives them, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves the host itself and connects only to addresses the
    policy permits. TLS still verifies and sends SNI for the host name (httpcore does that on the
    stream this returns)."""

    def __init__(
        self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()
        self.resolve = resolve or system_resolve

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self.resolve(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        # Connect to the checked address itself, never to the name again: a second lookup could
        # answer differently (DNS rebinding).
        allowed = [a for a in addresses if self.policy.permits(a)]
        if not allowed:
            raise RefusedAddress(host, addresses)
        last: Exception | None = None
        for address in allowed:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress(path, ["unix socket"])

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
