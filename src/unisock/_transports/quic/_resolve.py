"""QUIC's defaults over the one resolver (``_transports.resolve``): a bracketed IPv6
literal is accepted, no host is the loopback (the IPv4 wildcard when binding), and the
first address wins."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ..resolve import resolve

if TYPE_CHECKING:
    from ..._runtime.base import Runtime

__all__ = ["resolve_udp"]


async def resolve_udp(
    loop: Runtime, host: str, port: int, *, passive: bool = False
) -> tuple[int, tuple[Any, ...]]:
    """Return ``(family, sockaddr)`` for a UDP peer or local address."""
    host = host.strip("[]") if host else host
    if not host:
        host = "0.0.0.0" if passive else "127.0.0.1"
    found = await resolve(loop, host, port, kind=socket.SOCK_DGRAM, passive=passive)
    return found[0]
