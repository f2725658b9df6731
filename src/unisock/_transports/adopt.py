"""Sockets handed to unisock (``sock=``): who owns them until a transport takes them.

From the moment ``Socket(sock=...)`` or ``SocketListener(sock=...)`` returns, unisock owns
the socket and closes it with the socket or listener.  Between that moment and the one a
transport wraps it, the socket belongs to nothing that would close it: a socket aborted in
that gap (an already-aborted ``signal``, an abort before the loop ran the opener) would
leak its descriptor.  So a transport *claims* the socket when it wraps it, and the socket's
or listener's teardown closes an adopted socket nobody claimed.
"""

from __future__ import annotations

import socket
import weakref

__all__ = ["claim", "release_unclaimed", "take_listening"]

_claimed: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def claim(sock: socket.socket) -> None:
    """``sock`` now belongs to a transport (or an accept loop), which closes it."""
    _claimed.add(sock)


def release_unclaimed(sock: socket.socket | None) -> None:
    """Close an adopted socket that no transport took (its owner ended first)."""
    if sock is not None and sock not in _claimed and sock.fileno() >= 0:
        sock.close()


def take_listening(sock: socket.socket) -> list[socket.socket]:
    """An adopted listening socket, ready for the accept loop (non-blocking, claimed)."""
    if sock.fileno() < 0:
        raise OSError(f"the adopted socket was closed before the listener used it: {sock!r}")
    sock.setblocking(False)
    claim(sock)
    return [sock]
