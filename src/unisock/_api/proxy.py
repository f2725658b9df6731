"""PROXY protocol on a listener (``proxy_protocol=True``): read the header a load balancer
sends before the client's bytes, then go on as for any accepted connection.

Each connection is on its own: a malformed header, one that does not arrive within the
bound, or a connection closed before its header ends that connection only (dropped before
it reaches the program, as a failed TLS handshake is) and never the listener.  The bound
is the listener's ``ready_timeout``, else ``PROXY_HEADER_TIMEOUT``.  For TLS the header
comes first, in plaintext, and the handshake follows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .._base.address import SocketAddress
from .._transports.proxy_protocol import ProxyHeader, ProxyHeaderParser, ProxyProtocolError
from ..errors import NetworkError, TimeoutError

if TYPE_CHECKING:
    from .listener import SocketListener
    from .socket import Socket

__all__ = ["PROXY_HEADER_TIMEOUT", "read_proxy_header"]

PROXY_HEADER_TIMEOUT = 10.0
"""Seconds an accepted connection may take to send its whole PROXY header when the
listener has no ``ready_timeout`` (a proxy sends it at once, with the connection)."""

logger = logging.getLogger("unisock")


def client_of(header: ProxyHeader) -> SocketAddress | None:
    """The client a header names; ``None`` when the real peer stands (LOCAL, UNKNOWN)."""
    if header.command != "PROXY" or header.source is None:
        return None
    return SocketAddress(*header.source)


class _HeaderReader(asyncio.Protocol):
    """The accepted connection's protocol until its header has been read."""

    def __init__(
        self, listener: SocketListener, sock: Socket, transport: asyncio.Transport
    ) -> None:
        self._listener = listener
        self._sock = sock
        self._transport = transport
        self._parser = ProxyHeaderParser()
        self._done = False

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        try:
            result = self._parser.feed(data)
        except ProxyProtocolError as exc:
            self._reject(exc)
            return
        if result is not None:
            self._done = True
            header, rest = result
            _proceed(self._listener, self._sock, self._transport, client_of(header), rest)

    def eof_received(self) -> bool:
        self._reject(NetworkError("the connection ended before its PROXY header did"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._reject(NetworkError("the connection was lost before its PROXY header ended"))

    def _reject(self, exc: Exception) -> None:
        if self._done:
            return
        self._done = True
        peer = self._transport.get_extra_info("peername")
        logger.debug("PROXY protocol: dropping the connection from %s: %s", peer, exc)
        # Reset (not FIN): a client that skipped the proxy learns it was refused, not
        # answered with nothing.  The socket never reached anyone.
        self._sock._abort(exc)


def read_proxy_header(
    listener: SocketListener, sock: Socket, transport: asyncio.BaseTransport
) -> None:
    """Take over the accepted ``transport`` until its header is read, bounded in time."""
    reader = _HeaderReader(listener, sock, transport)  # type: ignore[arg-type]
    timeout = sock._opts.ready_timeout or PROXY_HEADER_TIMEOUT

    def expire() -> None:
        sock._ready_timer = None
        reader._reject(TimeoutError(f"no whole PROXY header within {timeout:g} s"))

    sock._ready_timer = sock._loop.call_later(timeout, expire)
    transport.set_protocol(reader)


def _proceed(
    listener: SocketListener,
    sock: Socket,
    transport: asyncio.Transport,
    client: SocketAddress | None,
    rest: bytes,
) -> None:
    """The header is read: TLS handshake or delivery, with ``info.remote`` the client."""
    timer, sock._ready_timer = sock._ready_timer, None
    if timer is not None:
        timer.cancel()
    listener._driver.begin(listener, sock, transport, initial_data=rest, remote=client)
