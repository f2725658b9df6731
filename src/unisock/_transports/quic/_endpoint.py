"""QUIC's side of a UDP socket: datagrams routed to connections, one flush per loop pass.

The socket itself belongs to the UDP transport's ``DatagramEndpoint`` (opened with
``offload=True``: a fixed batch of reads, GRO and GSO where the kernel has them,
truncation detection, uvloop's reader recovery), whose protocol this is.  Each datagram is
queued on its connection (``datagram_received``); at the end of the read batch
(``end_of_batch``) each connection takes its whole batch at once (one call into the QUIC
core, one pass over its events).  Connections that have something to send mark themselves
dirty; the endpoint flushes every dirty connection once, at the end of a read batch or in
a single ``call_soon`` callback, so many ``write()`` calls in one loop pass leave as one
burst (``DatagramEndpoint.send_many``: one GSO send per run).

Errors from the socket: a truncated or too-big datagram (``EMSGSIZE``) is a lost packet,
which QUIC recovers; any other (ICMP unreachable on a client's connected socket) goes to
``socket_error``.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from ..sockopts import set_big_buffers
from ..udp.endpoint import Address, DatagramEndpoint
from ..udp.opening import open_socket

if TYPE_CHECKING:
    from ..._runtime.base import Handle, Runtime
    from ._connection import QuicConnectionCore

__all__ = [
    "Address",
    "ClientEndpoint",
    "Endpoint",
    "open_client_endpoint",
    "open_quic_socket",
    "tune_socket",
]

SOCKET_BUFFER = 4 << 20


def tune_socket(sock: socket.socket) -> None:
    """Large kernel buffers, so bursts are not dropped on the floor."""
    set_big_buffers(sock, SOCKET_BUFFER)


def open_quic_socket(
    family: int,
    *,
    local: Address | None = None,
    remote: Address | None = None,
    ipv6_only: bool = False,
) -> socket.socket:
    """A UDP socket for QUIC (``udp.opening.open_socket``, with big buffers)."""
    return open_socket(family, local=local, remote=remote, ipv6_only=ipv6_only, prepare=tune_socket)


class Endpoint:
    """The protocol of one UDP socket; subclasses decide which connection a datagram is for.

    A subclass implements ``datagram_received(data, addr)``: queue ``data`` on its
    connection (``core.queue``), which registers the connection with :meth:`fed`.
    """

    def __init__(self, loop: Runtime, sock: socket.socket) -> None:
        self.loop = loop
        self.local: Address = sock.getsockname()
        self.is_closed = False
        self._dirty: list[QuicConnectionCore] = []
        self._fed: list[QuicConnectionCore] = []
        self._flush_handle: Handle | None = None
        self.io = DatagramEndpoint(loop, sock, self, offload=True)
        self.io.start()

    # -- receiving (the UDP endpoint's protocol) ----------------------------------------
    def datagram_received(self, data: bytes, addr: Address) -> None:
        raise NotImplementedError

    def end_of_batch(self) -> None:
        """The read batch is over: its connections take their datagrams, then send."""
        self.deliver(self.loop.time())
        self.flush()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EMSGSIZE:
            return  # a datagram lost (truncated, or above the path MTU): QUIC recovers
        if isinstance(exc, OSError):
            self.socket_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing to do: the endpoint closes the socket only when told to (:meth:`close`)."""

    def fed(self, core: QuicConnectionCore) -> None:
        """``core`` queued its first datagram of this read batch."""
        self._fed.append(core)

    def deliver(self, now: float) -> None:
        """Every connection that received datagrams in this batch takes them at once."""
        fed = self._fed
        if fed:
            self._fed = []
            for core in fed:
                core.deliver(now)

    def socket_error(self, exc: OSError) -> None:
        """An error reported by the socket (ICMP unreachable on a connected socket)."""

    # -- sending -----------------------------------------------------------------------
    def mark_dirty(self, core: QuicConnectionCore) -> None:
        """Queue ``core`` for the next flush, scheduling one flush per loop pass."""
        self._dirty.append(core)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        handle = self._flush_handle
        if handle is not None:
            handle.cancel()
            self._flush_handle = None
        if not self._dirty:
            return
        dirty = self._dirty
        self._dirty = []
        now = self.loop.time()
        for core in dirty:
            core.transmit(now)

    def send_many(self, datagrams: list[tuple[bytes, Address]]) -> None:
        """Send datagrams in order, runs of equal size to one peer as one GSO send."""
        self.io.send_many(datagrams)

    def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram; a full socket buffer drops it (QUIC recovers the loss)."""
        self.io.send_or_drop(data, addr)

    # -- teardown ----------------------------------------------------------------------
    def close(self) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._dirty.clear()
        self._fed.clear()
        self.io.close()


class ClientEndpoint(Endpoint):
    """A connected UDP socket serving exactly one client connection."""

    def __init__(self, loop: Runtime, sock: socket.socket, peer: Address) -> None:
        self.peer = peer
        self.core: QuicConnectionCore | None = None
        super().__init__(loop, sock)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        core = self.core
        if core is not None:
            # The socket is connected: every datagram comes from the peer.
            core.queue(data, self.peer)

    def socket_error(self, exc: OSError) -> None:
        core = self.core
        if core is not None:
            core.network_failed(exc)


def open_client_endpoint(loop: Runtime, family: int, peer: Address) -> ClientEndpoint:
    """A UDP socket connected to ``peer``, and its endpoint."""
    sock = open_quic_socket(family, remote=peer)
    try:
        return ClientEndpoint(loop, sock, peer)
    except BaseException:
        sock.close()
        raise
