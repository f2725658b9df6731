"""A UDP socket driven on the running loop: batched reads, one flush per loop pass.

Reads use ``recvfrom_into`` into one reusable buffer (no per-datagram allocation by the
loop) and drain up to :data:`READ_BATCH` datagrams per wake-up.  Connections that have
something to send mark themselves dirty; the endpoint flushes every dirty connection once,
at the end of a read batch or in a single ``call_soon`` callback, so many ``write()`` calls
in one loop pass leave as one burst of packets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._connection import QuicConnectionCore

__all__ = ["READ_BATCH", "Endpoint"]

READ_BATCH = 64
SOCKET_BUFFER = 4 << 20
_MAX_UDP = 65536

Address = tuple[Any, ...]


def tune_socket(sock: socket.socket) -> None:
    """Non-blocking, with large kernel buffers so bursts are not dropped on the floor."""
    sock.setblocking(False)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):  # capped by the kernel, never fatal
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)


class Endpoint:
    """Owns one UDP socket; subclasses decide which connection a datagram belongs to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.local: Address = sock.getsockname()
        self.is_closed = False
        self._buf = bytearray(_MAX_UDP)
        self._view = memoryview(self._buf)
        self._dirty: list[QuicConnectionCore] = []
        self._flush_handle: asyncio.Handle | None = None
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._on_readable)

    # -- receiving ---------------------------------------------------------------------
    def _on_readable(self) -> None:
        recv = self.sock.recvfrom_into
        buf = self._buf
        view = self._view
        now = self.loop.time()
        for _ in range(READ_BATCH):
            try:
                n, addr = recv(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.socket_error(exc)
                break
            self.route(bytes(view[:n]), addr, now)
            if self.is_closed:
                return
        self.flush()

    def route(self, data: bytes, addr: Address, now: float) -> None:
        raise NotImplementedError

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

    def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram; a full socket buffer drops it (QUIC recovers the loss)."""
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.socket_error(exc)

    # -- teardown ----------------------------------------------------------------------
    def close(self) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._dirty.clear()
        self.loop.remove_reader(self._fd)
        self.sock.close()


class ClientEndpoint(Endpoint):
    """A connected UDP socket serving exactly one client connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: Address) -> None:
        super().__init__(loop, sock)
        self.peer = peer
        self.core: QuicConnectionCore | None = None

    def route(self, data: bytes, addr: Address, now: float) -> None:
        core = self.core
        if core is not None:
            # The socket is connected: every datagram comes from the peer.
            core.datagram_received(data, self.peer, now)

    def send(self, data: bytes, addr: Address) -> None:
        try:
            if addr == self.peer:
                self.sock.send(data)
            else:
                self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.socket_error(exc)

    def socket_error(self, exc: OSError) -> None:
        core = self.core
        if core is not None:
            core.network_failed(exc)


def open_client_endpoint(
    loop: asyncio.AbstractEventLoop, family: int, peer: Address
) -> ClientEndpoint:
    """Create, bind and connect a UDP socket to ``peer``."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        tune_socket(sock)
        sock.connect(peer)
        return ClientEndpoint(loop, sock, peer)
    except BaseException:
        sock.close()
        raise
