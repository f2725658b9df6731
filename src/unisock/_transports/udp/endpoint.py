"""The one owner of a UDP socket, below ``Socket(type="udp")`` and below QUIC.

Why not ``loop.create_datagram_endpoint``: the stock loop reads each datagram with
``sock.recvfrom(256 KiB)``, which glibc serves with ``mmap``/``mremap``/``munmap``; it
loses ~90% of a 64-byte flood.  Here a reader callback (the runtime's ``add_reader``:
asyncio, uvloop or trio) drains up to ``_BATCH_MAX`` datagrams per wake-up with
``recvfrom_into`` (``recv_into`` when connected) into one preallocated buffer of 65,537
bytes (one per thread, shared by its endpoints), one byte more than any UDP payload, so a
truncated datagram is detected rather than delivered short.  Each datagram reaches the
protocol as ``bytes``; counters are summed per wake-up, not per datagram.

Two reading policies, chosen when the endpoint is made:

* Request/response (the default, ``Socket(type="udp")``): the batch adapts (``_adapt``).
  A wake-up that empties the socket ends with a ``BlockingIOError``, which costs more than
  the read itself when datagrams come one at a time.  So a wake-up reads one datagram and
  stops, and the batch grows (doubling up to ``_BATCH_MAX``) only while wake-ups find the
  socket still full; a probe that finds it empty makes the next probe wait twice as many
  wake-ups.  A flood is drained in batches after two wake-ups; a ping-pong pays the
  exception on a vanishing share of its wake-ups (1, 4, 9, 18, ...).
* Bursts (``offload=True``, QUIC): every wake-up reads up to ``_BATCH_MAX`` reads, with
  UDP GRO where the kernel has it (one read, up to 64 datagrams of one peer, split here),
  and then calls the protocol's ``end_of_batch()``, so the protocol can hand a whole batch
  to its consumer at once.  Sends may use GSO (``send_many``); see ``offload``.

Errors, as the OS reports them:

* Receiving: an error the kernel queues on the socket (ICMP port unreachable after
  sending to a closed port on a connected socket, host unreachable...) is given to
  ``protocol.error_received(NetworkError(message, errno))``; reading goes on.  A
  truncated datagram is dropped and reported the same way (``EMSGSIZE``).
* Sending with ``sendto`` (the UDP transport): it is synchronous and nothing is queued, so
  a datagram the kernel refuses (ENOBUFS, EMSGSIZE, EAGAIN when the send buffer is full,
  or a pending ECONNREFUSED) *raises* ``NetworkError(message, errno)`` from that very
  call: the caller knows which write failed and the datagram was not sent.  A payload
  above 65,507 bytes (IPv4) / 65,527 (IPv6) raises ``ValueError`` naming the size and the
  limit before any system call; nothing is ever truncated silently.  On a closed endpoint
  ``sendto`` raises ``InvalidStateError``.
* Sending with ``send_or_drop``/``send_many`` (QUIC, which recovers losses itself): a full
  send buffer drops the datagram, as the network would; any other refusal goes to
  ``error_received``.

Addresses are what the ``socket`` module gives: ``(host, port)`` for IPv4 and
``(host, port, flowinfo, scope_id)`` for IPv6 (the scope matters for link-local peers).
``sendto`` expects a numeric address (as received): a host name would make the socket
module resolve it, blocking the loop.

uvloop's ``add_reader`` stops its poll handle when the socket reports an error (EPOLLERR);
the reader is re-registered after each receive error so reading resumes.

On uvloop, the request/response policy of an IP socket does not read through
``add_reader``: uvloop's own datagram transport does the receive loop in C and calls
the delivery directly (``native``: a duplicate descriptor per reading period, released
one loop turn after ``close()`` or ``pause_reading()``).  Everything else stays here.
"""

from __future__ import annotations

import errno as _errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ..._base.buffers import thread_buffer
from ...errors import InvalidStateError, NetworkError, network_error
from ..sockopts import enable_gro
from .native import NativeReader, is_uvloop
from .offload import (
    ANCILLARY,
    GSO_REFUSED,
    gso_possible,
    gso_runs,
    segment_option,
    segment_size,
)

if TYPE_CHECKING:
    from ..._runtime.base import Runtime

__all__ = [
    "MAX_PAYLOAD_IPV4",
    "MAX_PAYLOAD_IPV6",
    "Address",
    "DatagramEndpoint",
    "DatagramProtocol",
    "describe_address",
]

Address: TypeAlias = tuple[Any, ...]
"""``(host, port)`` for IPv4, ``(host, port, flowinfo, scope_id)`` for IPv6."""

MAX_PAYLOAD_IPV4 = 65_507  # 65,535 - 20 (IPv4 header) - 8 (UDP header)
MAX_PAYLOAD_IPV6 = 65_527  # 65,535 - 8 (UDP header); the IPv6 header is not counted
_BUFFER_SIZE = 65_536 + 1  # one byte more than any payload: a full buffer means truncation
_BATCH_MAX = 64  # datagrams read per wake-up at most, so one busy socket cannot starve others
_PROBE_BACKOFF_MAX = 4096
_MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0)


class DatagramProtocol(Protocol):
    """What a ``DatagramEndpoint`` delivers to.

    An optional ``connection_made(endpoint)`` method is called once, before reading starts;
    an optional ``end_of_batch()`` after each wake-up's reads (``offload=True`` only).
    ``connection_lost`` comes soon after ``close()`` (in a later callback, as asyncio has
    it), or at once with ``offload=True``, whose protocol is the one that closes (QUIC:
    no extra callback in the loop pass that ends a connection).

    A protocol with a true ``counts_received`` attribute keeps its own receive counts: on
    uvloop's native reading (``native``) its ``datagram_received`` is then called straight
    from C, and the endpoint's ``datagrams_received``/``bytes_received`` stay at 0 (a
    Python frame per datagram less: 8% of a ``"data"`` echo's instructions).
    """

    def datagram_received(self, data: bytes, addr: Address) -> None: ...

    def error_received(self, exc: Exception) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


def describe_address(addr: object) -> str:
    """``host:port`` (``[host]:port`` for IPv6) for messages."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(addr)


class DatagramEndpoint:
    """One non-blocking UDP socket read by a runtime reader callback; see the module doc."""

    __slots__ = (
        "_batch",
        "_buf",
        "_closed",
        "_counted",
        "_deliver",
        "_end",
        "_fd",
        "_gro",
        "_gso",
        "_max_payload",
        "_native",
        "_offload",
        "_peer",
        "_probe_after",
        "_protocol",
        "_reading",
        "_sock",
        "_sockname",
        "_streak",
        "bytes_received",
        "bytes_sent",
        "datagrams_received",
        "datagrams_sent",
        "datagrams_truncated",
        "file_owner",
        "runtime",
    )

    def __init__(
        self,
        runtime: Runtime,
        sock: socket.socket,
        protocol: DatagramProtocol,
        *,
        offload: bool = False,
    ) -> None:
        """Wrap ``sock`` (non-blocking, bound, maybe connected); ``start()`` begins reading.

        ``offload``: the burst policy (fixed batch, GRO, GSO, ``end_of_batch``) for QUIC.
        """
        self.runtime = runtime
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._sockname: Address = sock.getsockname()
        try:
            self._peer: Address | None = sock.getpeername()
        except OSError:
            self._peer = None
        self._max_payload = MAX_PAYLOAD_IPV6 if sock.family == socket.AF_INET6 else MAX_PAYLOAD_IPV4
        self._reading = False
        self._closed = False
        self._offload = offload
        self._gro = offload and enable_gro(sock)
        self._gso = offload and gso_possible(sock)
        self._end: Callable[[], object] | None = (
            getattr(protocol, "end_of_batch", None) if offload else None
        )
        self._deliver = protocol.datagram_received  # looked up once, as uvloop does
        self._counted = bool(getattr(protocol, "counts_received", False))
        """The protocol counts what it receives (see ``DatagramProtocol``)."""
        self._buf = thread_buffer("datagram", _BUFFER_SIZE)
        """This thread's receive buffer (``_base.buffers``): the endpoint is read on the
        thread of its loop only."""
        self._native: NativeReader | bool = (
            not offload and sock.family in (socket.AF_INET, socket.AF_INET6) and is_uvloop(runtime)
        )
        """False: read with ``add_reader``; True: with uvloop's transport (none running
        now); a ``NativeReader``: the one running."""
        self._batch = _BATCH_MAX if offload else 1  # reads per wake-up at most (module doc)
        self._streak = 0  # wake-ups in a row that read a full batch of one
        self._probe_after = 1  # ... needed before trying a batch of two
        self.datagrams_sent = 0
        self.bytes_sent = 0
        self.datagrams_received = 0
        """Datagrams delivered (not kept by uvloop's reading for a protocol that counts:
        ``DatagramProtocol``), as ``bytes_received`` their bytes."""
        self.bytes_received = 0
        self.datagrams_truncated = 0
        self.file_owner: Any = None
        """What removes a Unix datagram socket's file when the endpoint closes."""

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Call the protocol's ``connection_made`` (if it has one), then start reading."""
        made: Callable[[DatagramEndpoint], object] | None = getattr(
            self._protocol, "connection_made", None
        )
        if made is not None:
            made(self)
        if not self._closed:
            self.resume_reading()

    def close(self) -> None:
        """Stop reading, close the socket; ``connection_lost(None)`` follows soon after."""
        self._shutdown(None)

    def abort(self) -> None:
        """Same as ``close()``: UDP has nothing queued to flush or drop."""
        self._shutdown(None)

    def is_closing(self) -> bool:
        return self._closed

    def _shutdown(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reading:
            self._stop_reading()
        self._sock.close()
        if self.file_owner is not None:
            self.file_owner.close()  # a Unix socket's file goes with it
        if self._offload:  # its protocol closed it (QUIC): nothing to schedule for that
            self._protocol.connection_lost(exc)
            return
        try:
            self.runtime.call_soon(self._protocol.connection_lost, exc)
        except RuntimeError:  # the loop is already closed: nobody else will call it
            self._protocol.connection_lost(exc)

    def pause_reading(self) -> None:
        """Stop reading: datagrams wait in the kernel's receive buffer (and drop past it)."""
        if self._reading:
            self._stop_reading()

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            if self._native is not False:
                try:
                    self._native = NativeReader(
                        self.runtime,
                        self._sock,
                        self._deliver if self._counted else self._count_and_deliver,
                        self._native_error,
                        self._native_lost,
                    )
                    return
                except OSError:  # no descriptor to spare (EMFILE): add_reader from now on
                    self._native = False
            self.runtime.add_reader(self._fd, self._reader())

    def _stop_reading(self) -> None:
        self._reading = False
        native = self._native
        if native is False:
            self.runtime.remove_reader(self._fd)
        elif native is not True:
            self._native = True
            native.stop()

    def is_reading(self) -> bool:
        return self._reading

    def _reader(self) -> Callable[[], None]:
        if self._offload:
            return self._read_burst
        return self._read_connected if self._peer is not None else self._read_bound

    # -- information ----------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"sockname"``, ``"peername"`` (connected mode) and ``"socket"``, as in asyncio."""
        if name == "sockname":
            return self._sockname
        if name == "peername":
            return self._peer if self._peer is not None else default
        if name == "socket":
            return self._sock
        return default

    @property
    def family(self) -> int:
        return int(self._sock.family)

    @property
    def max_payload(self) -> int:
        """The largest datagram this endpoint's address family can carry."""
        return self._max_payload

    @property
    def reads_natively(self) -> bool:
        """Whether uvloop's own datagram transport does the reading (see ``native``)."""
        return self._native is not False

    @property
    def gro(self) -> bool:
        """Whether reads take GRO batches (``offload=True`` on a kernel that has it)."""
        return self._gro

    # -- sending --------------------------------------------------------------------------

    def sendto(self, data: bytes | bytearray | memoryview, addr: Address | None = None) -> None:
        """Send one datagram now; raise ``ValueError`` (too big) or ``NetworkError`` (refused).

        ``addr`` is required in bound mode and must be ``None`` (or the peer) when connected.
        """
        size = len(data) if type(data) is bytes else memoryview(data).nbytes
        if size > self._max_payload:
            raise ValueError(
                f"datagram of {size} bytes is larger than UDP allows over "
                f"{'IPv6' if self._max_payload == MAX_PAYLOAD_IPV6 else 'IPv4'} "
                f"({self._max_payload} bytes)"
            )
        if self._closed:
            raise InvalidStateError("the UDP endpoint is closed")
        try:
            if addr is None:
                if self._peer is None:
                    raise ValueError("addr is required: the UDP endpoint is not connected")
                self._sock.send(data)
            elif self._peer is None:
                self._sock.sendto(data, addr)
            elif addr == self._peer or addr[:2] == self._peer[:2]:
                self._sock.send(data)
            else:
                raise ValueError(
                    f"addr {describe_address(addr)} differs from the connected peer "
                    f"{describe_address(self._peer)}"
                )
        except OSError as exc:
            dest = describe_address(addr if addr is not None else self._peer)
            raise network_error(
                exc, f"UDP datagram of {size} bytes to {dest} was not sent"
            ) from None
        self.datagrams_sent += 1
        self.bytes_sent += size

    def send_or_drop(self, data: bytes, addr: Address) -> None:
        """Send one datagram (to the peer when connected); a full send buffer drops it, any
        other refusal goes to ``error_received``.  For protocols that recover losses."""
        if self._closed:
            return
        try:
            if self._peer is not None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except BlockingIOError:
            return
        except OSError as exc:
            self._send_failed(exc, len(data), addr)
            return
        self.datagrams_sent += 1
        self.bytes_sent += len(data)

    def send_many(self, datagrams: list[tuple[bytes, Address]]) -> None:
        """``send_or_drop`` each datagram in order; with GSO, each run of equal-size
        datagrams to one peer leaves in one ``sendmsg`` (see ``offload.gso_runs``)."""
        if not self._gso or len(datagrams) < 2:
            for data, addr in datagrams:
                self.send_or_drop(data, addr)
            return
        for start, end in gso_runs(datagrams):
            if end - start == 1 or not self._gso:
                for data, addr in datagrams[start:end]:
                    self.send_or_drop(data, addr)
                continue
            run = datagrams[start:end]
            if not self._send_segments(run):
                for data, addr in run:
                    self.send_or_drop(data, addr)

    def _send_segments(self, run: list[tuple[bytes, Address]]) -> bool:
        """One ``sendmsg`` with ``UDP_SEGMENT``; False (and GSO off) if the kernel refuses."""
        if self._closed:
            return True
        first, addr = run[0]
        payload = b"".join([data for data, _ in run])
        try:
            if self._peer is not None:
                self._sock.sendmsg([payload], segment_option(len(first)))
            else:
                self._sock.sendmsg([payload], segment_option(len(first)), 0, addr)
        except BlockingIOError:
            return True  # dropped, as a full buffer drops any datagram: the sender recovers
        except OSError as exc:
            if exc.errno in GSO_REFUSED:
                self._gso = False
                return False
            self._send_failed(exc, len(payload), addr)
            return True
        self.datagrams_sent += len(run)
        self.bytes_sent += len(payload)
        return True

    def _send_failed(self, exc: OSError, size: int, addr: Address) -> None:
        dest = describe_address(self._peer if self._peer is not None else addr)
        self._protocol.error_received(
            network_error(exc, f"UDP datagram of {size} bytes to {dest} was not sent")
        )

    # -- receiving (the hot path) -----------------------------------------------------------

    def _read_bound(self) -> None:
        recvfrom_into = self._sock.recvfrom_into
        # One buffer per thread for every endpoint (see ``_base.buffers``): each datagram
        # is copied out (``bytes``) before the protocol sees it.
        buf = view = self._buf
        deliver = self._deliver
        count = 0
        total = 0
        limit = self._batch
        reads = 0
        emptied = False
        try:
            while reads < limit:
                try:
                    n, addr = recvfrom_into(buf)
                except BlockingIOError:
                    emptied = True
                    break
                reads += 1
                if n == _BUFFER_SIZE:
                    self._truncated(addr)
                    continue
                count += 1
                total += n
                deliver(view[:n].tobytes(), addr)
                if not self._reading:
                    break
        except OSError as exc:
            self._receive_error(exc)
        finally:
            self.datagrams_received += count
            self.bytes_received += total
            self._adapt(limit, reads, emptied)

    def _read_connected(self) -> None:
        recv_into = self._sock.recv_into
        # One buffer per thread for every endpoint (see ``_base.buffers``): each datagram
        # is copied out (``bytes``) before the protocol sees it.
        buf = view = self._buf
        peer = self._peer
        deliver = self._deliver
        count = 0
        total = 0
        limit = self._batch
        reads = 0
        emptied = False
        try:
            while reads < limit:
                try:
                    n = recv_into(buf)
                except BlockingIOError:
                    emptied = True
                    break
                reads += 1
                if n == _BUFFER_SIZE:
                    self._truncated(peer)
                    continue
                count += 1
                total += n
                deliver(view[:n].tobytes(), peer)  # type: ignore[arg-type]
                if not self._reading:
                    break
        except OSError as exc:
            self._receive_error(exc)
        finally:
            self.datagrams_received += count
            self.bytes_received += total
            self._adapt(limit, reads, emptied)

    def _read_burst(self) -> None:
        """The ``offload`` reader: a fixed batch of reads, GRO batches split into datagrams,
        then ``end_of_batch()`` once."""
        sock = self._sock
        recvmsg_into = sock.recvmsg_into if self._gro else None
        recvfrom_into = sock.recvfrom_into
        buf = view = self._buf
        bufs = [buf]
        deliver = self._protocol.datagram_received
        count = 0
        total = 0
        reads = 0
        try:
            while reads < _BATCH_MAX:
                try:
                    if recvmsg_into is not None:
                        n, ancillary, flags, addr = recvmsg_into(bufs, ANCILLARY)
                        if flags & _MSG_TRUNC:
                            n = _BUFFER_SIZE
                    else:
                        n, addr = recvfrom_into(buf)
                        ancillary = None
                except BlockingIOError:
                    break
                reads += 1
                if n == _BUFFER_SIZE:
                    self._truncated(addr)
                    continue
                total += n
                size = segment_size(ancillary) if ancillary else 0
                if 0 < size < n:
                    for start in range(0, n, size):
                        count += 1
                        deliver(view[start : min(start + size, n)].tobytes(), addr)
                        if not self._reading:
                            break
                else:
                    count += 1
                    deliver(view[:n].tobytes(), addr)
                if not self._reading:
                    break
        except OSError as exc:
            self._receive_error(exc)
        finally:
            self.datagrams_received += count
            self.bytes_received += total
        end = self._end
        if end is not None and not self._closed:
            end()

    def _count_and_deliver(self, data: bytes, addr: Address) -> None:
        """uvloop's transport calls this per datagram (the native reading)."""
        self.datagrams_received += 1
        self.bytes_received += len(data)
        self._deliver(data, addr)

    def _native_error(self, exc: OSError) -> None:
        if self._closed or not self._reading:
            return
        peer = f" (peer {describe_address(self._peer)})" if self._peer is not None else ""
        self._protocol.error_received(network_error(exc, f"UDP error reported by the OS{peer}"))

    def _native_lost(self, reader: NativeReader, exc: Exception | None) -> None:
        """uvloop ended the reading transport on its own: read with ``add_reader`` now."""
        if self._native is not reader:
            return
        self._native = False
        if self._reading and not self._closed:
            self.runtime.add_reader(self._fd, self._reader())
        if isinstance(exc, OSError):
            self._native_error(exc)

    def _adapt(self, limit: int, reads: int, emptied: bool) -> None:
        """Size the next wake-up's batch from what this one found (see the module doc)."""
        if not emptied:
            if reads < limit:
                return  # stopped early (reading paused, an error): nothing learnt
            if limit > 1:
                self._batch = min(limit * 2, _BATCH_MAX)
                self._probe_after = 1
                return
            self._streak += 1
            if self._streak >= self._probe_after:
                self._streak = 0
                self._batch = 2
            return
        if limit == 2 and reads <= 1:  # a probe that found the socket empty
            self._probe_after = min(self._probe_after * 2, _PROBE_BACKOFF_MAX)
            self._batch = 1
        elif reads <= limit // 2:
            self._batch = max(1, limit // 2)

    def _truncated(self, addr: Address | None) -> None:
        self.datagrams_truncated += 1
        self._protocol.error_received(
            NetworkError(
                f"a datagram from {describe_address(addr)} was larger than "
                f"{_BUFFER_SIZE - 1} bytes and was dropped",
                _errno.EMSGSIZE,
            )
        )

    def _receive_error(self, exc: OSError) -> None:
        if self._closed:
            return
        if self._reading:  # uvloop stops its poll handle on EPOLLERR: register it again
            self.runtime.remove_reader(self._fd)
            self.runtime.add_reader(self._fd, self._reader())
        peer = f" (peer {describe_address(self._peer)})" if self._peer is not None else ""
        self._protocol.error_received(network_error(exc, f"UDP error reported by the OS{peer}"))
