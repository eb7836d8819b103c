"""Outbound address guard: feed content cannot make watcher reach inside the network.

Addresses that come from feed content (article links fetched for full text, every redirect target,
a feed's moved URL) are connected to only when the address the socket actually connects to is a
public one. Two hooks of aiohttp's connector do it: `GuardedResolver` resolves a name and hands
back only the permitted addresses, which the connector then connects to as addresses (so a name
that resolves to a public address for a check and to a private one for the connection, DNS
rebinding, gains nothing); `guarded_socket_factory` checks the very address of every socket before
it is made (an address literal in a URL never goes through the resolver). Feed URLs written in
the config are trusted as written. `[fetch] allow_networks` lifts the rule for named networks
(intranet feeds, tests on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

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


_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that answers only the addresses the policy permits (the connector then
    connects to those addresses, never to the name again), and refuses a name that has none."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver | None = None) -> None:
        self.policy = policy
        self._resolve = resolve or system_resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._resolve(host, port)
        allowed = [a for a in addresses if self.policy.permits(a)]
        if not allowed:
            raise RefusedAddress(host, addresses)
        return [
            ResolveResult(
                hostname=host, host=a, port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET, proto=0, flags=_NUMERIC,
            )
            for a in allowed
        ]

    async def close(self) -> None:
        pass


AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]


def guarded_socket_factory(policy: AddressPolicy) -> Callable[[AddrInfo], socket.socket]:
    """A socket factory for aiohttp's connector: the socket for an address the policy does not
    permit is never made (RefusedAddress). It sees every address connected to, address literals
    in URLs included, which skip the resolver."""

    def make(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, address = addr_info
        host = str(address[0])
        if family not in (socket.AF_INET, socket.AF_INET6) or not policy.permits(host):
            raise RefusedAddress(host, [host])
        return socket.socket(family=family, type=type_, proto=proto)

    return make
