"""TLS for the Socket API: TLS sockets, TLS listeners and STARTTLS upgrades in place.

The TLS endpoint is ``_tls_transport.TLSTransport``, placed between the TCP transport and
the socket's protocol, so the socket's streams never change.  Connecting uses a holding
protocol for the TCP connection until the TLS layer takes it over, so nothing the user
writes can leave in plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import ssl
from typing import TYPE_CHECKING, Any, ClassVar

from .._base.address import SocketAddress
from .._base.options import Options, resolve_type
from .._base.records import SocketInfo
from .._transports.tcp import open_tcp
from .._transports.tls.config import TLSOptions
from .._transports.tls.facts import TLSFacts
from .._transports.tls.transport import TLSTransport
from ..errors import TLSError
from .channel import _StreamProtocol
from .info import transport_info
from .tcp import TcpDriver

if TYPE_CHECKING:
    from .listener import SocketListener
    from .socket import Socket

__all__ = ["DRIVER", "TlsDriver", "server_options", "tls_info"]

TLS_HANDSHAKE_TIMEOUT = 30.0
"""Seconds an accepted connection may take over its handshake when no ``ready_timeout``
is set, so stalled peers cannot pile up on a listener."""


class _Holding(asyncio.BufferedProtocol):
    """Holds the TCP connection (and any early bytes) until the TLS layer takes it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._buffer: memoryview | None = None  # made if bytes come first: rarely
        self.lost: BaseException | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._buffer is None:
            self._buffer = memoryview(bytearray(16384))
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        assert self._buffer is not None
        self.data += self._buffer[:nbytes]

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionResetError("the peer closed the connection")


def tls_info(
    sock: Socket, transport: Any, facts: TLSFacts, remote: SocketAddress | None = None
) -> SocketInfo:
    """``info`` of a TLS socket: its TCP transport's addresses (``remote``: a PROXY
    header's client) and the handshake's facts."""
    return transport_info("tls", transport, sock._opts.remote, facts, remote=remote)


_client_cache: dict[Any, TLSOptions] = {}
_CLIENT_CACHE_SIZE = 64


def _hashable(value: Any) -> Any:
    """A cache key part for an option value (a path also keys on its mtime and size)."""
    kind = type(value)
    if kind is bytes or value is None:  # PEM or DER bytes, the usual case: no ABC check
        return value
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, os.PathLike) or (
        isinstance(value, str) and not value.lstrip().startswith("-----BEGIN")
    ):
        st = os.stat(value)  # OSError: no caching, from_init reports the bad path
        return (os.fspath(value), st.st_mtime_ns, st.st_size)
    hash(value)
    return value


def _client_options(opts: Options, fields: dict[str, Any], alpn: tuple[str, ...]) -> TLSOptions:
    """The client's TLS options; validated once per distinct set of inputs.

    Parsing keys and certificates (and reading them from paths) costs more than the rest
    of a connect, so options built from the same inputs are reused; a ``session`` (which
    shapes no context) is checked on its own and set on the cached options.  Called when
    the socket is constructed (so bad material fails there) and again when it connects,
    which then costs a cache lookup.
    """
    values = {
        "servername": fields.get("servername", opts.servername),
        "key": fields.get("key", opts.key),
        "cert": fields.get("cert", opts.cert),
        "ca": fields.get("ca", opts.ca),
        "verify": fields.get("verify", opts.verify),
        "alpn": alpn,
    }
    session = fields.get("session", opts.session)
    context = fields.get("ssl_context", opts.ssl_context)
    if context is not None:  # used as it is: nothing to parse, nothing worth caching
        return TLSOptions.from_init(**values, session=session, ssl_context=context)
    if session is not None and not isinstance(session, ssl.SSLSession):
        raise TypeError(
            "session must be an info.session value of an earlier TLS socket "
            f"(ssl.SSLSession), not {type(session).__name__}: {session!r:.60}"
        )
    try:
        key: Any = (
            values["servername"],
            _hashable(values["key"]),
            _hashable(values["cert"]),
            _hashable(values["ca"]),
            values["verify"],
            alpn,
        )
    except (TypeError, ValueError, OSError):  # unhashable, a NUL in a path, a missing file
        key = None
    cached = _client_cache.get(key) if key is not None else None
    if cached is None:
        cached = TLSOptions.from_init(**values)  # raises naming the bad field
        if key is not None:
            if len(_client_cache) >= _CLIENT_CACHE_SIZE:
                _client_cache.pop(next(iter(_client_cache)))
            _client_cache[key] = cached
    if session is not None:
        return dataclasses.replace(cached, session=session)
    return cached


def server_options(opts: Options) -> TLSOptions:
    return TLSOptions.from_init(
        key=opts.key, cert=opts.cert, ca=opts.ca, alpn=opts.alpn, server_side=True, sni=opts.sni
    )


def _host(opts: Options) -> str | None:
    """The host the certificate is checked against when no ``servername`` is given (none
    over a Unix socket: ``servername`` is required there)."""
    if opts.remote is None or opts.remote.path is not None:
        return None
    return opts.remote.address


async def connect_tls(sock: Socket) -> None:
    """TCP, then the TLS handshake, for a ``type="tls"`` (or TLS ALPN) socket."""
    opts = sock._opts
    server = opts.server_side  # an adopted connection this end accepted
    tls_opts = server_options(opts) if server else _client_options(opts, {}, opts.alpn)
    holding = _Holding()
    transport, _ = await open_tcp(sock._loop, opts, lambda: holding)
    if holding.lost is not None:
        transport.abort()
        raise holding.lost
    try:
        tls = TLSTransport(
            transport,
            sock._protocol,
            tls_opts,
            loop=sock._loop,
            host=None if server else _host(opts),
            initial_data=bytes(holding.data),
            pooling=opts.allow_pooling and not server,
            allow_truncation=not opts.require_close_notify,
            call_connection_made=True,
            session_in_info=False,  # Socket.info fetches it on access
        )
    except BaseException:
        transport.abort()  # nothing may leak when the TLS layer cannot start
        raise
    sock._tls = tls
    info = await tls.handshake
    sock._open(tls_info(sock, transport, info))


def accept_tls(
    listener: SocketListener,
    sock: Socket,
    transport: asyncio.BaseTransport,
    initial_data: bytes = b"",
    remote: SocketAddress | None = None,
) -> None:
    """Run the server handshake on an accepted connection; deliver the socket once done.

    ``initial_data``: handshake bytes read already; ``remote``: the client a PROXY header
    named (else the peer's address)."""
    tls_opts = listener._server_config
    sock._protocol = protocol = _StreamProtocol(sock)  # the accepting one has done its job
    tls = TLSTransport(
        transport,  # type: ignore[arg-type]
        protocol,
        tls_opts,
        loop=sock._loop,
        initial_data=initial_data,
        allow_truncation=not sock._opts.require_close_notify,
        call_connection_made=True,
    )
    sock._tls = tls
    timeout = sock._opts.ready_timeout or TLS_HANDSHAKE_TIMEOUT
    sock._ready_timer = sock._loop.call_later(timeout, sock._ready_timed_out)

    def handshaken(d: Any) -> None:
        exc = d.exception()
        if exc is not None:
            sock._fail(exc)  # a failed handshake never reaches the user
            return
        sock._open(tls_info(sock, transport, d.result(), remote))
        listener._deliver(sock)

    tls.handshake.add_done_callback(handshaken)


async def upgrade_to_tls(sock: Socket, fields: dict[str, Any]) -> None:
    """STARTTLS: put TLS under the live socket's streams and run the handshake.

    On a client, bytes already received stay plaintext (the server sent them before the
    upgrade); on a server, unread bytes are the client's first handshake bytes.  What is
    written from now on is encrypted, and held until the handshake succeeds.
    """
    opts = sock._opts
    transport = sock._transport
    if transport is None or sock._state != "open" or sock._tls is not None:
        from ..errors import InvalidStateError

        raise InvalidStateError("only an open plaintext TCP socket can be upgraded to TLS")
    _, alpn = resolve_type(fields.get("type", "tls"), fields.get("alpn"))
    server_side = opts.remote is None or opts.server_side
    if server_side:
        if fields.get("ssl_context") is not None:
            raise ValueError("ssl_context: only a TLS client takes an ssl.SSLContext")
        if fields.get("cert") is None or fields.get("key") is None:
            raise ValueError("cert and key are needed to upgrade an accepted socket to TLS")
        tls_opts = TLSOptions.from_init(
            key=fields["key"],
            cert=fields["cert"],
            ca=fields.get("ca"),
            alpn=alpn,
            server_side=True,
        )
    else:
        tls_opts = _client_options(opts, fields, alpn)
    initial = b""
    if server_side:
        # TLS clients speak first: bytes queued but unread when the server upgrades came
        # after the last thing the server read, so they are the start of the handshake.
        controller = sock._rctrl
        if controller._queue:
            initial = b"".join(controller._queue)
            controller._queue.clear()
            controller._total = 0
    tls = TLSTransport(
        transport,
        sock._protocol,
        tls_opts,
        loop=sock._loop,
        host=_host(opts),
        initial_data=initial,
        pooling=opts.allow_pooling,
        allow_truncation=not opts.require_close_notify,
        call_connection_made=False,
        session_in_info=False,
    )
    sock._tls = tls
    sock._transport = tls
    high = opts.send_buffer_size or 256 * 1024
    with contextlib.suppress(Exception):
        tls.set_write_buffer_limits(high=high, low=high // 4)
    if sock._read_paused:
        tls.pause_reading()
    sock._opts = dataclasses.replace(opts, transport="tls", type_label="tls")
    sock._driver = DRIVER
    try:
        info = await tls.handshake
    except TLSError as exc:
        sock._fail(exc)
        raise
    sock._info = tls_info(sock, transport, info)


class TlsDriver(TcpDriver):
    """TCP, then our TLS layer (``_transports.tls``) under the socket's streams."""

    name: ClassVar[str] = "tls"
    handshake_bounded: ClassVar[bool] = True
    zero_copy_reads: ClassVar[bool] = False  # plaintext comes out of the TLS layer

    def check_client(self, opts: Options) -> None:
        # A missing file, a garbage PEM, a cert/key mismatch or a bad session fails at
        # Socket(...), naming the field, not later at ready.
        if opts.remote is None:
            return
        if opts.server_side:  # an adopted connection we serve TLS on
            server_options(opts)
        else:
            _client_options(opts, {}, opts.alpn)

    def check_listener(self, listener: SocketListener) -> TLSOptions:
        return server_options(listener._opts.socket_options)

    def early_data(self, sock: Socket, body: Any) -> bytes | None:
        return None  # the ClientHello goes first

    async def open(self, sock: Socket) -> None:
        await connect_tls(sock)

    def begin(
        self,
        listener: SocketListener,
        sock: Socket,
        transport: Any,
        initial_data: bytes = b"",
        remote: SocketAddress | None = None,
    ) -> None:
        accept_tls(listener, sock, transport, initial_data=initial_data, remote=remote)

    async def upgrade(self, sock: Socket, fields: dict[str, Any]) -> None:
        await upgrade_to_tls(sock, fields)

    async def update_listener(self, listener: SocketListener, raw: dict[str, Any]) -> None:
        # Each accepted connection builds its TLS layer from the listener's options at
        # accept time and keeps it, so connections under way keep their certificate.
        current = listener._opts.socket_options
        changed = dataclasses.replace(current, **raw)
        tls_options = server_options(changed)  # reads and checks everything: may raise
        listener._opts.socket_options = changed
        listener._server_config = tls_options


DRIVER = TlsDriver()
