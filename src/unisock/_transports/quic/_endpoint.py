"""A UDP socket driven on the running loop: batched reads, one flush per loop pass, GRO/GSO.

Reads drain up to :data:`READ_BATCH` datagrams per wake-up into one reusable buffer (no
per-datagram allocation by the loop); each datagram is queued on its connection, and each
connection then takes its whole batch at once (one call into the QUIC core, one pass over
its events).  Connections that have something to send mark themselves dirty; the endpoint
flushes every dirty connection once, at the end of a read batch or in a single
``call_soon`` callback, so many ``write()`` calls in one loop pass leave as one burst.

On Linux the socket also asks for UDP generic receive offload (``UDP_GRO``: the kernel
hands over up to 64 datagrams of one peer in one read) and sends runs of equal-size
datagrams to one peer in one ``sendmsg`` with ``UDP_SEGMENT`` (GSO).  Either is switched
off for the socket at its first refusal, and everything works without them.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..._runtime.base import Handle, Runtime
    from ._connection import QuicConnectionCore

__all__ = ["READ_BATCH", "Endpoint"]

READ_BATCH = 64
SOCKET_BUFFER = 4 << 20
_MAX_UDP = 65536

_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_SEGMENT = 103  # linux/udp.h
_UDP_GRO = 104
_GSO_SEGMENTS = 64
_GSO_BYTES = 65000
_GSO_REFUSED = frozenset(
    {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EMSGSIZE}
)
_LINUX = sys.platform == "linux"
_ANCILLARY = socket.CMSG_SPACE(4) if hasattr(socket, "CMSG_SPACE") else 0
_U16 = struct.Struct("=H")

Address = tuple[Any, ...]


def tune_socket(sock: socket.socket) -> None:
    """Non-blocking, with large kernel buffers so bursts are not dropped on the floor."""
    sock.setblocking(False)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):  # capped by the kernel, never fatal
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)


def _enable_gro(sock: socket.socket) -> bool:
    if not _LINUX or not _ANCILLARY:
        return False
    try:
        sock.setsockopt(_SOL_UDP, _UDP_GRO, 1)
        return bool(sock.getsockopt(_SOL_UDP, _UDP_GRO))
    except OSError:
        return False


def _segment_size(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == _SOL_UDP and kind == _UDP_GRO:
            if len(data) >= 4:
                return int.from_bytes(data[:4], sys.byteorder)
            if len(data) >= 2:
                return int(_U16.unpack_from(data)[0])
    return 0


class Endpoint:
    """Owns one UDP socket; subclasses decide which connection a datagram belongs to."""

    def __init__(self, loop: Runtime, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.local: Address = sock.getsockname()
        self.is_closed = False
        self._buf = bytearray(_MAX_UDP)
        self._view = memoryview(self._buf)
        self._dirty: list[QuicConnectionCore] = []
        self._fed: list[QuicConnectionCore] = []
        self._flush_handle: Handle | None = None
        self._gro = _enable_gro(sock)
        self._gso = _LINUX and hasattr(sock, "sendmsg")
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._on_readable)

    # -- receiving ---------------------------------------------------------------------
    def _on_readable(self) -> None:
        buf = self._buf
        view = self._view
        now = self.loop.time()
        route = self.route
        gro = self._gro
        recv = self.sock.recvmsg_into if gro else None
        recv_from = self.sock.recvfrom_into
        for _ in range(READ_BATCH):
            try:
                if recv is not None:
                    n, ancillary, _flags, addr = recv([buf], _ANCILLARY)
                    size = _segment_size(ancillary) if ancillary else 0
                    if 0 < size < n:
                        for start in range(0, n, size):
                            route(bytes(view[start : min(start + size, n)]), addr, now)
                            if self.is_closed:
                                return
                        continue
                else:
                    n, addr = recv_from(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.socket_error(exc)
                break
            route(bytes(view[:n]), addr, now)
            if self.is_closed:
                return
        self.deliver(now)
        self.flush()

    def route(self, data: bytes, addr: Address, now: float) -> None:
        raise NotImplementedError

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
        if not self._gso or len(datagrams) < 2:
            for data, addr in datagrams:
                self.send(data, addr)
            return
        i, count = 0, len(datagrams)
        while i < count:
            data, addr = datagrams[i]
            size = len(data)
            j = i + 1
            total = size
            while (
                j < count
                and j - i < _GSO_SEGMENTS
                and datagrams[j][1] == addr
                and len(datagrams[j][0]) <= size
                and total + len(datagrams[j][0]) <= _GSO_BYTES
            ):
                total += len(datagrams[j][0])
                j += 1
                if len(datagrams[j - 1][0]) < size:
                    break  # a shorter datagram may only end a run
            if j - i == 1:
                self.send(data, addr)
            elif not self._send_segments([d for d, _ in datagrams[i:j]], size, addr):
                for d, a in datagrams[i:j]:
                    self.send(d, a)
            i = j

    def _send_segments(self, run: list[bytes], size: int, addr: Address) -> bool:
        """One ``sendmsg`` with ``UDP_SEGMENT``; False (and GSO off) if the kernel refuses."""
        try:
            self.sendmsg(b"".join(run), [(_SOL_UDP, _UDP_SEGMENT, _U16.pack(size))], addr)
        except (BlockingIOError, InterruptedError):
            return True  # dropped, as a full buffer drops any datagram: QUIC recovers
        except OSError as exc:
            if exc.errno in _GSO_REFUSED:
                self._gso = False
                return False
            self.socket_error(exc)
        return True

    def sendmsg(self, data: bytes, ancillary: list[tuple[int, int, bytes]], addr: Address) -> None:
        self.sock.sendmsg([data], ancillary, 0, addr)

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
        self._fed.clear()
        self.loop.remove_reader(self._fd)
        self.sock.close()


class ClientEndpoint(Endpoint):
    """A connected UDP socket serving exactly one client connection."""

    def __init__(self, loop: Runtime, sock: socket.socket, peer: Address) -> None:
        super().__init__(loop, sock)
        self.peer = peer
        self.core: QuicConnectionCore | None = None

    def route(self, data: bytes, addr: Address, now: float) -> None:
        core = self.core
        if core is not None:
            # The socket is connected: every datagram comes from the peer.
            core.queue(data, self.peer)

    def sendmsg(self, data: bytes, ancillary: list[tuple[int, int, bytes]], addr: Address) -> None:
        if addr == self.peer:
            self.sock.sendmsg([data], ancillary)
        else:
            self.sock.sendmsg([data], ancillary, 0, addr)

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


def open_client_endpoint(loop: Runtime, family: int, peer: Address) -> ClientEndpoint:
    """Create, bind and connect a UDP socket to ``peer``."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        tune_socket(sock)
        sock.connect(peer)
        return ClientEndpoint(loop, sock, peer)
    except BaseException:
        sock.close()
        raise
