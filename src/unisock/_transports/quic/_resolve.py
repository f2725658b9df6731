"""Address resolution for QUIC: IP literals without a thread hop, names via getaddrinfo."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from ..._runtime.base import Runtime

__all__ = ["resolve_udp"]


async def resolve_udp(
    loop: Runtime, host: str, port: int, *, passive: bool = False
) -> tuple[int, tuple[Any, ...]]:
    """Return ``(family, sockaddr)`` for a UDP peer or local address."""
    host = host.strip("[]") if host else host
    if not host:
        host = "0.0.0.0" if passive else "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if ip.version == 4:
            return socket.AF_INET, (str(ip), port)
        return socket.AF_INET6, (str(ip), port, 0, 0)
    flags = socket.AI_PASSIVE if passive else 0
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=flags)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    family, _, _, _, sockaddr = infos[0]
    return family, tuple(sockaddr)
