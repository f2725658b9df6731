"""Checks on a socket handed to unisock (``sock=``): systemd socket activation, a parent
process's listening socket, a connection accepted elsewhere.

Checked at construction, before unisock owns it, so a wrong socket (the wrong family or
type, not connected, not listening, closed) fails with an error naming ``sock`` and what it
is, instead of a confusing failure at ``ready``.
"""

from __future__ import annotations

import socket
from typing import Any

from .address import SocketAddress, from_sockaddr

__all__ = ["check_adopted_listener", "check_adopted_socket", "describe"]

_FAMILIES = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


def describe(sock: socket.socket) -> str:
    """``"an IPv4 stream socket"``: what a refused socket is, for error messages."""
    family = _FAMILIES.get(sock.family, getattr(sock.family, "name", str(sock.family)))
    kind = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "datagram"}.get(
        sock.type, getattr(sock.type, "name", str(sock.type))
    )
    return f"an {family} {kind} socket" if family[0] in "AEIOU" else f"a {family} {kind} socket"


def _common(value: Any, transport: str, what: str) -> socket.socket:
    if not isinstance(value, socket.socket):
        raise TypeError(
            f"sock must be a socket.socket ({what}), got {type(value).__name__}: {value!r:.60}"
            " (wrap a file descriptor with socket.socket(fileno=fd))"
        )
    if value.fileno() < 0:
        raise ValueError(f"sock is closed: {value!r}")
    if transport == "quic":
        raise ValueError("sock: a 'quic' socket cannot adopt a socket (QUIC opens its own)")
    if value.family not in _FAMILIES:
        raise ValueError(f"sock must be an IPv4 or IPv6 socket, got {describe(value)}")
    wanted = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    if value.type != wanted:
        kind = "datagram (SOCK_DGRAM)" if transport == "udp" else "stream (SOCK_STREAM)"
        raise ValueError(f"sock: type {transport!r} needs a {kind} socket, got {describe(value)}")
    return value


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def _peer(sock: socket.socket) -> SocketAddress | None:
    try:
        return from_sockaddr(sock.getpeername())
    except OSError:
        return None


def _bound_address(sock: socket.socket) -> SocketAddress | None:
    address = from_sockaddr(sock.getsockname())
    return address if address is not None and address.port else None


def check_adopted_socket(
    value: Any, transport: str
) -> tuple[socket.socket, SocketAddress | None, SocketAddress | None]:
    """A ``Socket``'s ``sock``: ``(sock, local, remote)``; TCP/TLS need a connected socket,
    UDP a bound or connected one (``remote`` is ``None`` for a bound one)."""
    sock = _common(value, transport, "a connected socket")
    remote = _peer(sock)
    local = _bound_address(sock)
    if transport == "udp":
        if remote is None and local is None:
            raise ValueError(
                "sock: a UDP socket to adopt must be bound or connected, it is neither"
            )
        return sock, local, remote
    if _listening(sock):
        raise ValueError(
            "sock is a listening socket: a Socket adopts a connected one "
            "(give a listening socket to SocketListener(sock=...))"
        )
    if remote is None:
        raise ValueError(f"sock is not connected: {sock!r}")
    return sock, local, remote


def check_adopted_listener(value: Any, transport: str) -> tuple[socket.socket, SocketAddress]:
    """A ``SocketListener``'s ``sock``: ``(sock, local)``; TCP/TLS need a listening socket,
    UDP a bound, unconnected one."""
    sock = _common(value, transport, "a listening socket")
    local = _bound_address(sock)
    if transport == "udp":
        if local is None:
            raise ValueError("sock: a UDP socket for a listener must be bound, it is not")
        if _peer(sock) is not None:
            raise ValueError(
                "sock: a UDP listener needs an unconnected socket (a connected one only hears "
                "its one peer: give it to Socket(sock=...))"
            )
        return sock, local
    if not _listening(sock):
        raise ValueError(
            "sock is not listening: call listen() on it first, or give a connected socket "
            "to Socket(sock=...)"
        )
    assert local is not None  # a listening socket is bound
    return sock, local
