"""UDP for the Socket API: one datagram per chunk, bound mode, and a per-peer listener.

A UDP socket's ``readable`` is a stream of datagrams (``bytes`` when connected,
``Datagram(data, remote)`` when bound) holding at most its high-water mark of datagrams:
past it, new ones are dropped and counted in ``stats.datagrams_dropped`` (UDP may lose;
the program must not grow).  Its ``writable`` sends each chunk as one datagram at once;
a datagram that cannot be sent (too large, refused by the kernel) fails that write only,
and the socket stays usable.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._base.address import SocketAddress, from_sockaddr, parse_address
from .._base.deferred import RESOLVED_NONE, Deferred
from .._base.options import Options
from .._base.records import SocketInfo
from .._transports.udp.endpoint import DatagramEndpoint
from .._transports.udp.opening import open_endpoint
from .._transports.udp.peers import Peer, PeerTable
from ..errors import InvalidStateError, NetworkError, TimeoutError, network_error
from ..events import _watch, report_exception
from ..streams import WritableStream
from ..streams._common import ReadResult, read_result
from ..streams.readable import ReadableStreamDefaultController, ReadableStreamDefaultReader
from ..streams.writable import WritableStreamDefaultWriter
from .channel import _ReadFuture
from .data_events import _ChunkEvent
from .driver import Driver
from .info import build_info

if TYPE_CHECKING:
    from .listener import SocketListener
    from .socket import Socket

_new_tuple = tuple.__new__

__all__ = ["Datagram", "open_udp", "open_udp_listener", "setup_datagram_streams"]

DEFAULT_DATAGRAM_QUEUE = 1024
"""Datagrams a UDP readable holds before it drops new ones (``receive_buffer_size``
sets the kernel buffer, not this)."""


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram of a bound UDP socket: its payload and the peer it came from / goes to."""

    data: bytes
    remote: SocketAddress

    def __init__(self, data: Any, remote: Any) -> None:
        if type(data) is bytes and type(remote) is SocketAddress:  # already valid: reply path
            object.__setattr__(self, "data", data)
            object.__setattr__(self, "remote", remote)
            return
        if isinstance(data, str):
            raise TypeError("Datagram.data must be bytes-like, got str: encode it first")
        try:
            payload = bytes(data)
        except TypeError:
            raise TypeError(
                f"Datagram.data must be bytes-like, got {type(data).__name__}"
            ) from None
        address = parse_address(remote, "Datagram.remote", allow_zero_port=False)
        object.__setattr__(self, "data", payload)
        object.__setattr__(self, "remote", address)


class _Link:
    """The socket's view of its UDP path: an endpoint of its own, or a listener's peer."""

    def __init__(
        self, endpoint: DatagramEndpoint, peer: Peer[Any] | None = None, owner: Any = None
    ) -> None:
        self.endpoint = endpoint
        self.peer = peer
        self.owner = owner
        self.sent = 0
        self.received = 0
        self.closed = False
        self.connected = peer is not None or endpoint.get_extra_info("peername") is not None
        """Datagrams go to one peer (a connected socket, or a listener's peer): a bytes
        chunk needs no address."""
        self.max_size = endpoint.max_payload
        """The largest datagram this path carries (UDP over IPv4, IPv6, or a Unix socket)."""
        self.bound = peer is None and not self.connected
        """Chunks are ``Datagram(data, remote)`` both ways (a socket of its own, no remote)."""
        self.remotes: dict[Any, SocketAddress] = {}
        """Sender address -> its ``SocketAddress`` (bound mode): one made per peer, not per
        datagram; emptied past ``_MAX_REMOTES``."""
        self.send_to: Callable[[Any, Any], Any] | None = None
        """Bound mode: the kernel's ``sendto`` of the socket, for the writer's fast path."""
        self.send_to_peer: Callable[[Any], Any] = endpoint.sendto
        """Where a datagram for the one peer goes, looked up once (the writer's fast path
        calls it directly, then counts it): a listener's peer sends through the table; a
        connected socket of its own straight through the kernel's ``send`` (the writer
        checked the size; a refusal is translated by ``send_error``), one C call."""
        if peer is not None:
            self.send_to_peer = peer.send
        else:
            raw = endpoint.get_extra_info("socket")
            if raw is not None and self.connected:
                self.send_to_peer = raw.send
            elif raw is not None and raw.family in (socket.AF_INET, socket.AF_INET6):
                self.send_to = raw.sendto

    def send_error(self, size: int, exc: OSError, addr: Any = None) -> Exception:
        """What the endpoint raises for a datagram the kernel refused (or a closed one);
        ``addr``: where a bound socket sent it."""
        if isinstance(exc, NetworkError) or self.peer is not None:
            return exc  # already translated by the endpoint or the peer table
        if not self.connected and addr is None:
            return exc
        if self.endpoint.is_closing():
            return InvalidStateError("the UDP endpoint is closed")
        peer = addr if addr is not None else self.endpoint.get_extra_info("peername")
        host, port = (peer[0], peer[1]) if isinstance(peer, tuple) else (peer, None)
        dest = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        if port is None:
            dest = repr(peer)
        return network_error(exc, f"UDP datagram of {size} bytes to {dest} was not sent")

    def send(self, data: Any, addr: Any = None) -> None:
        if self.peer is not None:
            self.peer.send(data)
        else:
            self.endpoint.sendto(data, addr)
        self.sent += 1

    def max_payload(self) -> int:
        return self.endpoint.max_payload

    # asyncio-transport-like surface the socket uses while closing and for stats
    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        if self.peer is None:
            self.endpoint.pause_reading()

    def resume_reading(self) -> None:
        if self.peer is None:
            self.endpoint.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and self.peer is not None:
            return self.peer.address
        if name == "socket":
            return None  # no TCP_INFO, no SO_LINGER: datagram counts come from here
        return self.endpoint.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.peer is not None:
            self.peer.close()  # the shared endpoint stays: tell the socket ourselves
            if self.owner is not None:
                self.owner._loop.call_soon(self.owner._on_lost, None)
        else:
            self.endpoint.close()

    abort = close


def setup_datagram_streams(sock: Socket) -> None:
    """Replace the byte streams made by ``Socket._setup`` with datagram streams."""
    readable: Any = type(sock._readable)._create(
        cancel=sock._readable_cancelled, high_water_mark=DEFAULT_DATAGRAM_QUEUE
    )
    readable._owner = sock
    sock._readable = readable
    controller = readable._controller
    assert isinstance(controller, ReadableStreamDefaultController)
    sock._rctrl = controller  # type: ignore[assignment]
    writable: Any = _DatagramWritable._create(
        write=lambda chunk: _send(sock, chunk), close=sock._sink_close, abort=sock._sink_abort
    )
    writable._owner = sock
    sock._writable = writable


class _DatagramWritable(WritableStream[Any]):
    __slots__ = ("_owner",)

    _owner: Socket

    def get_writer(self) -> WritableStreamDefaultWriter[Any]:
        return _DatagramWriter(self)


class _DatagramWriter(WritableStreamDefaultWriter[Any]):
    """Sends at once; a datagram that cannot go fails its own write, not the stream."""

    __slots__ = ()

    def write(self, chunk: Any) -> Deferred[None]:
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the writer has been released"))
        sock: Socket = stream._owner  # type: ignore[attr-defined]
        stored = stream._stored_error
        if stream._state in ("errored", "erroring") and stored is not None:
            # As the standard orders it: a write to an ended stream rejects with what ended
            # it, whatever the chunk.
            return Deferred.rejected(stored)
        if sock._pending_error is not None:
            exc, sock._pending_error = sock._pending_error, None
            return Deferred.rejected(exc)
        link: Any = sock._transport
        if (
            type(chunk) is bytes
            and type(link) is _Link
            and link.connected
            and (size := len(chunk)) <= link.max_size
            and stream._state == "writable"
            and not stream._controller._queue
            and stream._in_flight_write is None
            and stream._close_request is None
        ):
            # The common case, a bytes datagram to the connected peer: straight out.
            try:
                link.send_to_peer(chunk)
            except OSError as exc:
                return Deferred.rejected(link.send_error(size, exc))
            except (InvalidStateError, ValueError) as exc:
                return Deferred.rejected(exc)
            link.sent += 1
            sock._bytes_written += size
            return RESOLVED_NONE
        if (
            type(chunk) is Datagram
            and type(link) is _Link
            and link.send_to is not None
            and (remote := chunk.remote).address in _numeric_hosts
            and (size := len(payload := chunk.data)) <= link.max_size
            and stream._state == "writable"
            and not stream._controller._queue
            and stream._in_flight_write is None
            and stream._close_request is None
        ):
            # The common case of a bound socket, a reply to a numeric address already seen.
            addr = (remote.address, remote.port)
            try:
                link.send_to(payload, addr)
            except OSError as exc:
                return Deferred.rejected(link.send_error(size, exc, addr))
            link.sent += 1
            sock._bytes_written += size
            return RESOLVED_NONE
        try:
            payload, addr = _prepare(sock, chunk)
        except (TypeError, ValueError) as exc:
            return Deferred.rejected(exc)
        if (
            isinstance(link, _Link)
            and stream._state == "writable"
            and not stream._controller._queue
            and stream._in_flight_write is None
            and stream._close_request is None
        ):
            try:
                _send_prepared(sock, link, payload, addr)
            except (NetworkError, InvalidStateError, OSError, ValueError) as exc:
                return Deferred.rejected(exc)
            return RESOLVED_NONE
        return super().write(chunk)


_numeric_hosts: set[str] = set()
"""Host strings already checked to be IP addresses (bounded), or given by the kernel as
a sender's address."""
_MAX_NUMERIC_HOSTS = 4096


def _prepare(sock: Socket, chunk: Any) -> tuple[Any, Any]:
    bound = sock._opts.remote is None and getattr(sock, "_peer", None) is None
    if isinstance(chunk, Datagram):
        if not bound:
            return chunk.data, None
        remote = chunk.remote
        if remote.path is not None:
            return chunk.data, remote.path
        if remote.address not in _numeric_hosts:
            try:
                ipaddress.ip_address(remote.address)
            except ValueError:
                raise ValueError(
                    "Datagram.remote must be an IP address on a bound socket, got "
                    f"{remote.address!r}"
                ) from None
            if len(_numeric_hosts) < _MAX_NUMERIC_HOSTS:
                _numeric_hosts.add(remote.address)
        return chunk.data, (remote.address, remote.port)
    if bound:
        raise TypeError("a bound UDP socket (no remote) writes Datagram(data, remote) objects")
    if isinstance(chunk, str):
        raise TypeError("UDP writes take bytes-like chunks, got str: encode it first")
    if not isinstance(chunk, bytes | bytearray | memoryview):
        try:
            chunk = memoryview(chunk)
        except TypeError:
            raise TypeError(
                f"UDP writes take bytes-like chunks, got {type(chunk).__name__}"
            ) from None
    return chunk, None


def _send_prepared(sock: Socket, link: _Link, payload: Any, addr: Any) -> None:
    size = len(payload) if type(payload) is bytes else memoryview(payload).nbytes
    if size > link.max_size:
        raise ValueError(f"a UDP datagram holds at most {link.max_size} bytes here, got {size}")
    link.send(payload, addr)
    sock._bytes_written += size


def _send(sock: Socket, chunk: Any) -> Deferred[None] | None:
    """The sink's write (used only while connecting): sends once the socket is open."""
    link = sock._transport
    if not isinstance(link, _Link):
        from .channel import _chain

        return _chain(sock._ready, lambda: _send(sock, chunk))
    payload, addr = _prepare(sock, chunk)
    _send_prepared(sock, link, payload, addr)
    return None


class _UdpProtocol:
    """Delivers datagrams to the socket's readable (or its ``"data"`` listeners)."""

    __slots__ = ("datagram_received", "sock")

    counts_received = True
    """``deliver`` counts into the socket's stats: the endpoint need not count too."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.datagram_received: Callable[[bytes, Any], None] = functools.partial(deliver, sock)
        """``deliver`` itself, bound to the socket in C: no frame of its own."""

    def error_received(self, exc: Exception) -> None:
        report_error(self.sock, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        sock = self.sock
        if sock._state != "closed":
            sock._on_lost(exc)


def deliver(sock: Socket, data: bytes, addr: Any = None) -> None:
    """One datagram to the socket: to the waiting read, the queue, or the ``"data"``
    listeners (the per-datagram path: one frame from the endpoint to the reader)."""
    link: Any = sock._transport
    sock._bytes_received += len(data)
    if link is None:
        chunk: Any = data
    else:
        link.received += 1
        if link.bound:
            chunk = Datagram.__new__(Datagram)
            _set_data(chunk, data)
            remote = link.remotes.get(addr)
            if remote is None:
                remote = _remote_of(link, addr)
            _set_remote(chunk, remote)
        else:
            chunk = data
    if sock._data_callbacks is not None:
        sole = sock._data_sole
        if sole is None:  # the backlog first, or no listener or several
            sock._on_data_others(chunk)
            return
        event = _ChunkEvent()  # as DataEvents._on_data_event makes it (fixed fields: class)
        event.target = sock
        event.time_stamp = _monotonic()
        event.buffers = [chunk]
        try:
            result = sole(event)
        except Exception as exc:
            report_exception(exc, "exception in 'data' event listener")
            return
        if result is not None and hasattr(result, "__await__"):
            _watch(result, "exception in async 'data' event listener")
        return
    readable = sock._readable
    if readable._state != "readable":
        return
    controller = sock._rctrl
    reader = readable._reader
    if reader is not None and reader._requests and isinstance(reader, ReadableStreamDefaultReader):
        request: Any = reader._requests.popleft()
        if type(request) is _ReadFuture:  # pending for sure (see channel._on_data)
            request.set_result(_new_tuple(ReadResult, (chunk, False)))
        else:
            request.resolve(read_result(chunk, False))
    elif len(controller._queue) < controller._hwm:
        controller.enqueue(chunk)
    else:
        sock._dropped += 1


_MAX_REMOTES = 1024
_set_data: Callable[[Any, Any], None] = vars(Datagram)["data"].__set__  # frozen: the slot's own
_set_remote: Callable[[Any, Any], None] = vars(Datagram)["remote"].__set__
_monotonic = time.monotonic


def _remote_of(link: _Link, addr: Any) -> SocketAddress:
    """The ``SocketAddress`` of a sender not in ``link.remotes`` yet (and put it there)."""
    if type(addr) is tuple:
        remote = SocketAddress(str(addr[0]), int(addr[1]))
        if len(link.remotes) >= _MAX_REMOTES:
            link.remotes.clear()
        link.remotes[addr] = remote
        host = remote.address
        if host not in _numeric_hosts and len(_numeric_hosts) < _MAX_NUMERIC_HOSTS:
            _numeric_hosts.add(host)  # the kernel gave it: an IP address, no check needed
        return remote
    return from_sockaddr(addr)  # type: ignore[return-value]  # a Unix sender's path (None if unbound)


def report_error(sock: Socket, exc: Exception) -> None:
    """An ICMP error (e.g. port unreachable): fails the pending read, or the next write."""
    from .socket_events import ErrorEvent

    reader = sock._readable._reader
    if reader is not None and reader._requests:
        reader._requests.popleft().reject(exc)
    else:
        sock._pending_error = exc  # the next read or write fails with it
    sock.dispatch_event(ErrorEvent(exc))


def _info(sock: Socket, link: _Link) -> SocketInfo:
    return build_info(
        "udp",
        from_sockaddr(link.get_extra_info("peername")) or sock._opts.remote,
        from_sockaddr(link.endpoint.get_extra_info("sockname")),
    )


async def open_udp(sock: Socket) -> None:
    opts = sock._opts
    endpoint, _ = await open_endpoint(
        lambda: _UdpProtocol(sock),
        opts,
        adopted=opts.sock,
        remote=(opts.remote.address, opts.remote.port) if opts.remote else None,
        local=(opts.local.address, opts.local.port) if opts.local else None,
    )
    link = _Link(endpoint)
    link.bound = opts.remote is None  # an adopted connected socket too: as ``_prepare``
    if sock._state == "closed":
        link.close()
        return
    sock._transport = link  # type: ignore[assignment]
    sock._open(_info(sock, link))


class _PeerHandler:
    """One peer's datagrams go to its socket: the table calls ``deliver`` itself."""

    __slots__ = ("datagram_received", "sock")

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.datagram_received = functools.partial(deliver, sock)


class _UdpListenerHandle:
    def __init__(self, endpoint: DatagramEndpoint, table: PeerTable[Any]) -> None:
        self.endpoint = endpoint
        self.table = table

    def close(self) -> None:
        self.endpoint.close()


def _unqueue(listener: SocketListener, sock: Socket) -> None:
    """Take a dropped peer's socket out of the listener's queue if nobody accepted it yet.

    The queue then holds at most ``max_peers`` sockets: one per peer in the table.  The
    table evicts its least recently active peer, usually the oldest queued one (the head).
    """
    queue = listener._queue
    if not queue:
        return
    if queue[0].socket is sock:
        queue.popleft()
        return
    for i, event in enumerate(queue):
        if event.socket is sock:
            del queue[i]
            return


async def open_udp_listener(listener: SocketListener) -> _UdpListenerHandle:
    """A bound endpoint split by peer address; each new peer is delivered as a socket."""
    lopts = listener._opts
    sock_opts = lopts.socket_options

    def new_peer(peer: Peer[Any]) -> _PeerHandler | None:
        from .socket import Socket

        if listener._state == "closed":
            return None
        sock, _ = Socket._accepted(listener._loop, sock_opts)
        sock._peer = peer
        link = _Link(endpoint, peer, sock)
        sock._transport = link  # type: ignore[assignment]
        sock._open(_info(sock, link))
        listener._deliver(sock)
        return _PeerHandler(sock)

    def removed(peer: Peer[Any], reason: str) -> None:
        handler = peer.handler
        if handler is None:
            return
        sock = handler.sock
        if reason != "closed":
            _unqueue(listener, sock)
        if reason == "idle":
            sock._abort(TimeoutError(f"no datagram for idle_timeout={sock_opts.idle_timeout} s"))
        elif reason == "closed":
            sock._begin_close()  # the listener closed: end this peer's socket gracefully
        else:
            sock._abort(NetworkError(f"the listener dropped this peer ({reason})"))

    table: PeerTable[Any] = PeerTable(
        new_peer,
        max_peers=lopts.max_peers,
        idle_timeout=sock_opts.idle_timeout or None,
        on_remove=removed,
    )
    endpoint, _ = await open_endpoint(
        lambda: table,
        sock_opts,
        adopted=lopts.sock,
        local=(lopts.local.address, lopts.local.port),
        reuse_port=lopts.reuse_port,
        ipv6_only=lopts.ipv6_only,
    )
    listener.local = from_sockaddr(endpoint.get_extra_info("sockname"))
    return _UdpListenerHandle(endpoint, table)


class UdpDriver(Driver):
    """Datagrams: one chunk is one datagram; a listener splits its socket by peer."""

    name: ClassVar[str] = "udp"
    datagrams: ClassVar[bool] = True
    any_runtime: ClassVar[bool] = True
    update_type: ClassVar[str] = "udp"

    def setup(self, sock: Socket) -> None:
        setup_datagram_streams(sock)

    async def open(self, sock: Socket) -> None:
        await open_udp(sock)

    async def listen(self, listener: SocketListener) -> None:
        listener._handle = await open_udp_listener(listener)

    def packets(self, sock: Socket) -> tuple[int, int]:
        link: Any = sock._transport  # datagrams are the packets
        return (link.sent, link.received) if link is not None else (0, 0)

    def raw_socket(self, sock: Socket) -> Any:
        # A peer of a listener shares the listener's socket: nothing of its own to set.
        link: Any = sock._transport
        if link is None or getattr(link, "peer", None) is not None:
            return None
        endpoint = getattr(link, "endpoint", None)
        return endpoint.get_extra_info("socket") if endpoint is not None else None

    def shares_socket(self, sock: Socket) -> bool:
        return getattr(sock._transport, "peer", None) is not None

    async def update_listener(self, listener: SocketListener, raw: dict[str, Any]) -> None:
        from .._transports.udp.multicast import DATAGRAM_FIELDS, reconfigure_datagram

        current = listener._opts.socket_options
        trial = {name: raw.get(name, getattr(current, name)) for name in DATAGRAM_FIELDS}
        checked = Options.build({"type": "udp", "local": ("127.0.0.1", 0), **trial})
        changed = dataclasses.replace(current, **{name: getattr(checked, name) for name in raw})
        if listener._state == "opening":
            await listener._ready
        handle = listener._handle
        if handle is None:
            raise InvalidStateError("cannot update a closed listener")
        raw_sock = handle.endpoint.get_extra_info("socket")
        reconfigure_datagram(raw_sock, current, changed, raw)
        listener._opts.socket_options = changed


DRIVER = UdpDriver()
