"""Name resolution for every transport (TCP, UDP, QUIC, listeners): one place, one wording.

An IP literal never reaches the resolver: ``getaddrinfo`` runs in a thread on the stock
loop (a hop that costs more than the rest of a UDP open), and a literal needs no lookup
(a scoped IPv6 literal, ``fe80::1%eth0``, goes through ``AI_NUMERICHOST``, which turns the
scope into its index without any lookup).  A name is resolved by the runtime's
``getaddrinfo`` (asyncio's executor, uvloop's, or trio's thread).  A failure is a
``NetworkError`` "cannot resolve 'name': <the resolver's words> (EAI_...)", keeping the
resolver's ``EAI_*`` code (``errors.network_error``); a name with no IPv4 or IPv6 address
is "cannot resolve 'name': no IPv4 or IPv6 address".
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ..errors import NetworkError, network_error

if TYPE_CHECKING:
    from .._runtime.base import Runtime

__all__ = ["Address", "interleave", "numeric", "resolve"]

Address = tuple[Any, ...]
"""A socket address: ``(host, port)`` for IPv4, ``(host, port, flowinfo, scope_id)`` for
IPv6."""

_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def numeric(host: str, port: int, kind: int = socket.SOCK_STREAM) -> tuple[int, Address] | None:
    """``(family, sockaddr)`` for an IP literal, without the resolver; ``None`` for a name."""
    try:
        socket.inet_pton(socket.AF_INET, host)
        return socket.AF_INET, (host, port)
    except OSError:
        pass
    if ":" not in host:
        return None
    if "%" in host:  # a scope: AI_NUMERICHOST maps its name to an index, no lookup
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET6, kind, 0, socket.AI_NUMERICHOST)
        except OSError:
            return None
        return socket.AF_INET6, tuple(infos[0][4])
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return None
    return socket.AF_INET6, (host, port, 0, 0)


async def resolve(
    runtime: Runtime,
    host: str | None,
    port: int,
    *,
    kind: int = socket.SOCK_STREAM,
    passive: bool = False,
) -> list[tuple[int, Address]]:
    """The IPv4 and IPv6 ``(family, sockaddr)`` pairs of ``host``, in the resolver's order,
    without duplicates.  ``None`` or ``""`` is the wildcard when ``passive`` (binding), the
    loopback otherwise, as ``getaddrinfo`` has it."""
    if host:
        found = numeric(host, port, kind)
        if found is not None:
            return [found]
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = await runtime.getaddrinfo(host or None, port, type=kind, flags=flags)
    except OSError as exc:  # socket.gaierror, or the OS refusing the lookup itself
        raise network_error(exc, f"cannot resolve {host!r}") from None
    result: list[tuple[int, Address]] = []
    for family, _kind, _proto, _name, sockaddr in infos:
        pair = (int(family), tuple(sockaddr))
        if family in _FAMILIES and pair not in result:
            result.append(pair)
    if not result:
        raise NetworkError(f"cannot resolve {host!r}: no IPv4 or IPv6 address")
    return result


def interleave(pairs: list[tuple[int, Address]]) -> list[tuple[int, Address]]:
    """The addresses alternating between families, the first one's family first, as
    Happy Eyeballs tries them (RFC 8305 section 4)."""
    if not pairs:
        return pairs
    first = [p for p in pairs if p[0] == pairs[0][0]]
    second = [p for p in pairs if p[0] != pairs[0][0]]
    ordered: list[tuple[int, Address]] = []
    for i in range(max(len(first), len(second))):
        ordered.extend(group[i] for group in (first, second) if i < len(group))
    return ordered
