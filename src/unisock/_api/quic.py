"""QUIC for the Socket API: a socket per stream, and ``QuicConnection``, WebTransport-shaped.

A ``Socket(type="quic")`` is one bidirectional stream of a (pooled) connection; every
stream, ours or the peer's, is an asyncio transport from ``_transports.quic`` driven by the same
socket code as TCP.  ``socket.connection`` gives the rest of the connection: opening
streams, the peer's streams, datagrams, and closing.
"""

from __future__ import annotations

import dataclasses
import ssl
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from .._base.address import SocketAddress
from .._base.deferred import Deferred
from .._base.options import Options
from .._base.records import SocketInfo
from .._transports.quic import (
    UNI_STREAM_BACKLOG,
    QuicConnectionCore,
    QuicStreamTransport,
    QuicTLSOptions,
    connect_quic,
    serve_quic,
)
from .._transports.tls.pem import to_pem
from ..streams import ReadableStream, WritableStream
from .driver import Driver

if TYPE_CHECKING:
    from .listener import SocketListener
    from .socket import Socket

__all__ = ["QuicConnection", "QuicDatagrams", "open_quic_listener", "open_quic_stream"]

DATAGRAM_QUEUE = 256
"""Datagrams the ``datagrams.readable`` holds before it drops new ones."""

_connections: weakref.WeakKeyDictionary[QuicConnectionCore, QuicConnection] = (
    weakref.WeakKeyDictionary()
)


_client_pems: dict[Any, tuple[bytes | None, bytes | None, bytes | None]] = {}
_CLIENT_PEMS_SIZE = 64


def _der_pem(ders: tuple[bytes, ...] | None) -> bytes | None:
    if ders is None:
        return None
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in ders).encode("ascii")


def quic_options(opts: Options, *, server: bool) -> QuicTLSOptions:
    """The QUIC layer's options; for a client, from the same validated (and cached) TLS
    options a TLS client uses, so bad material fails at ``Socket(...)`` alike."""
    remote = opts.remote
    servername = opts.servername
    if servername is None and remote is not None and not server:
        servername = remote.address
    if server:
        ca = to_pem(opts.ca, "ca") if opts.ca is not None else None
        cert = to_pem(opts.cert, "cert") if opts.cert is not None else None
        key = to_pem(opts.key, "key") if opts.key is not None else None
    else:
        from .tls import _client_options

        if opts.session is not None:
            raise ValueError(
                "session: QUIC resumes from the process's own ticket store "
                "(allow_pooling=True); it takes no session value, not "
                f"{type(opts.session).__name__}"
            )
        tls = _client_options(opts, {}, opts.alpn)
        pems = _client_pems.get(tls)
        if pems is None:
            pems = (_der_pem(tls.ca), _der_pem(tls.cert), tls.key)
            if len(_client_pems) >= _CLIENT_PEMS_SIZE:
                _client_pems.pop(next(iter(_client_pems)))
            _client_pems[tls] = pems
        ca, cert, key = pems
    return QuicTLSOptions(
        servername=servername,
        verify=opts.verify,
        ca=ca,
        cert=cert,
        key=key,
        alpn=opts.alpn,
        idle_timeout=opts.idle_timeout or 30.0,
    )


def _info(handshake: dict[str, Any], opts: Options) -> SocketInfo:
    """``info`` of a QUIC stream socket: what the connection's handshake established.

    ``session`` and ``ticket`` stay ``None``: QUIC resumes from the process's ticket store
    (``allow_pooling``), and the QUIC core's tickets are not ``ssl`` sessions.
    """
    remote = handshake.get("remote")
    local = handshake.get("local")
    sigalgs = handshake.get("signature_algorithms")
    return SocketInfo(
        type=handshake.get("type") or opts.type_label,
        remote=SocketAddress(str(remote[0]), int(remote[1])) if remote else opts.remote,
        local=SocketAddress(str(local[0]), int(local[1])) if local else None,
        servername=handshake.get("servername"),
        certificate=handshake.get("certificate"),
        peer_certificate=handshake.get("peer_certificate"),
        verification_status=handshake.get("verification_status"),
        cipher=handshake.get("cipher"),
        ephemeral_key=handshake.get("ephemeral_key"),
        signature_algorithms=tuple(sigalgs) if sigalgs else None,
        session_reused=handshake.get("session_resumed"),
        early_data_accepted=handshake.get("early_data_accepted"),
    )


class QuicDatagrams:
    """RFC 9221 datagrams of a connection: ``readable`` and ``writable``, one chunk each."""

    __slots__ = ("_core", "_dropped", "readable", "writable")

    def __init__(self, core: QuicConnectionCore) -> None:
        self._core = core
        self._dropped = 0
        self.readable: ReadableStream[bytes] = ReadableStream._create(
            high_water_mark=DATAGRAM_QUEUE
        )
        controller = self.readable._controller

        def arrived(data: bytes) -> None:
            if controller._can_close_or_enqueue() and (controller.desired_size or 0) > 0:
                controller.enqueue(data)
            else:
                self._dropped += 1

        core.on_datagram = arrived

        def write(chunk: Any) -> None:
            if isinstance(chunk, str):
                raise TypeError("datagrams are bytes-like, got str: encode it first")
            core.send_datagram(chunk)

        self.writable: WritableStream[Any] = WritableStream._create(
            write=write, high_water_mark=DATAGRAM_QUEUE
        )

    @property
    def dropped(self) -> int:
        """Datagrams dropped because ``readable`` was full."""
        return self._dropped

    @property
    def max_datagram_size(self) -> int | None:
        """The largest datagram payload the peer takes now (``None``: it takes none)."""
        return self._core.max_datagram_size


class QuicConnection:
    """One QUIC connection, shaped like the web's WebTransport."""

    def __init__(self, core: QuicConnectionCore, opts: Options, listener: Any = None) -> None:
        self._core = core
        self._opts = opts
        self._listener = listener
        self._ready: Deferred[SocketInfo] = Deferred()
        self._closed: Deferred[None] = Deferred()
        self.datagrams = QuicDatagrams(core)
        self.incoming_bidirectional_streams: ReadableStream[Socket] = ReadableStream._create(
            high_water_mark=float("inf")
        )
        # Peer uni streams the application has not taken are bounded (UNI_STREAM_BACKLOG):
        # the peer gets new stream credit as they are read from here (see quic/_link.py).
        self._uni_queued = 0  # uni sockets ever enqueued (or dropped untaken)
        self.incoming_unidirectional_streams: ReadableStream[Socket] = ReadableStream._create(
            high_water_mark=UNI_STREAM_BACKLOG, pull=self._uni_pulled
        )
        core.uni_take = self._uni_taken
        core.handshake.add_done_callback(self._handshaken)
        core.closed.add_done_callback(self._ended)
        core.on_stream = self._peer_stream

    @classmethod
    def of(cls, core: QuicConnectionCore, opts: Options, listener: Any = None) -> QuicConnection:
        conn = _connections.get(core)
        if conn is None:
            conn = _connections[core] = cls(core, opts, listener)
        return conn

    @property
    def ready(self) -> Deferred[SocketInfo]:
        return self._ready

    @property
    def closed(self) -> Deferred[None]:
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        return self._core.stats

    def close(self, code: int = 0, reason: str = "") -> None:
        """Close the whole connection with an application error ``code``."""
        if isinstance(code, bool) or not isinstance(code, int) or code < 0:
            raise ValueError(f"code must be a non-negative int, got {code!r}")
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {reason!r}")
        self._core.close(code, reason)

    async def create_bidirectional_stream(self) -> Socket:
        """Open a stream both ways (waits for the peer's stream credit)."""
        return await self._open_stream(True)

    async def create_unidirectional_stream(self) -> Socket:
        """Open a send-only stream: the socket's ``readable`` is ``None``."""
        return await self._open_stream(False)

    async def _open_stream(self, bidirectional: bool) -> Socket:
        sock = _stream_socket(self, self._opts)
        await self._core.open_stream(bidirectional, protocol=sock._protocol)
        if not bidirectional:
            sock._set_direction("send")
        info = await self._core.handshake
        sock._open(_info(info, self._opts))
        return sock

    def _uni_taken(self) -> int:
        return self._uni_queued - len(self.incoming_unidirectional_streams._controller._queue)

    def _uni_pulled(self) -> None:
        self._core.stream_taken()

    # -- reactions ----------------------------------------------------------------------
    def _handshaken(self, d: Deferred[dict[str, Any]]) -> None:
        exc = d.exception()
        if exc is not None:
            self._ready.reject(exc)
        else:
            self._ready.resolve(_info(d.result(), self._opts))

    def _ended(self, d: Deferred[None]) -> None:
        exc = d.exception()
        for stream in (
            self.incoming_bidirectional_streams,
            self.incoming_unidirectional_streams,
            self.datagrams.readable,
        ):
            controller = stream._controller
            if controller._can_close_or_enqueue():
                if exc is None:
                    controller.close()
                else:
                    controller._error(exc)
        if exc is None:
            self._closed.resolve(None)
        else:
            self._ready.reject(exc)
            self._closed.reject(exc)

    def _peer_stream(self, transport: QuicStreamTransport, bidirectional: bool) -> None:
        sock = _stream_socket(self, self._opts)
        transport.attach(sock._protocol)
        if not bidirectional:
            sock._set_direction("receive")

        def handshaken(d: Deferred[dict[str, Any]]) -> None:
            if d.exception() is not None:
                sock._fail(d.exception())  # type: ignore[arg-type]
                return
            sock._open(_info(d.result(), self._opts))
            if self._listener is not None and bidirectional:
                self._listener._deliver(sock)
                return
            target = (
                self.incoming_bidirectional_streams
                if bidirectional
                else self.incoming_unidirectional_streams
            )
            if not bidirectional:
                self._uni_queued += 1
            if target._controller._can_close_or_enqueue():
                target._controller.enqueue(sock)
            else:
                sock._abort(None)
                if not bidirectional:
                    self._core.stream_taken()

        self._core.handshake.add_done_callback(handshaken)


def _stream_socket(conn: QuicConnection, opts: Options) -> Socket:
    from .socket import Socket

    sock, _ = Socket._accepted(conn._core.loop, opts)
    sock.connection = conn
    return sock


async def open_quic_stream(sock: Socket) -> None:
    """Open ``sock`` as the first (or next pooled) bidirectional stream to its remote."""
    opts = sock._opts
    assert opts.remote is not None
    core = await connect_quic(
        (opts.remote.address, opts.remote.port),
        quic_options(opts, server=False),
        pooling=opts.allow_pooling,
    )
    conn = QuicConnection.of(core, opts)
    sock.connection = conn
    try:
        await core.open_stream(True, protocol=sock._protocol)
        info = await core.handshake
    except BaseException:
        # Failed or cancelled (an abort, a cancelled connect()) before the handshake
        # completed: a connection nothing else uses must not go on handshaking (on trio,
        # its reader task would outlive the socket that started it).
        core.abandon(sock._protocol)
        raise
    sock._open(_info(info, opts))


class _QuicListenerHandle:
    def __init__(self, server: Any) -> None:
        self._server = server

    def close(self) -> None:
        self._server.close()


async def open_quic_listener(listener: SocketListener) -> _QuicListenerHandle:
    lopts = listener._opts
    opts = dataclasses.replace(lopts.socket_options)

    def on_connection(core: QuicConnectionCore) -> None:
        QuicConnection.of(core, opts, listener)

    server = await serve_quic(
        (lopts.local.address, lopts.local.port),
        quic_options(opts, server=True),
        on_connection,
        ipv6_only=lopts.ipv6_only,
    )
    listener.local = SocketAddress(str(server.local[0]), int(server.local[1]))
    return _QuicListenerHandle(server)


class QuicDriver(Driver):
    """One bidirectional stream of a (pooled) QUIC connection per socket."""

    name: ClassVar[str] = "quic"
    handshake_bounded: ClassVar[bool] = True
    any_runtime: ClassVar[bool] = True
    update_type: ClassVar[str] = "quic"

    def check_client(self, opts: Options) -> None:
        if opts.remote is not None:
            quic_options(opts, server=False)  # bad material fails at Socket(...)

    def check_listener(self, listener: SocketListener) -> None:
        from .tls import server_options

        server_options(listener._opts.socket_options)  # the same checks as TLS's

    async def open(self, sock: Socket) -> None:
        await open_quic_stream(sock)

    async def listen(self, listener: SocketListener) -> None:
        listener._handle = await open_quic_listener(listener)

    def packets(self, sock: Socket) -> tuple[int, int]:
        connection = sock.connection
        if connection is None:
            return (0, 0)
        stats = connection.stats
        return stats["packets_sent"], stats["packets_received"]


DRIVER = QuicDriver()
