"""Pair factories for every transport unisock has, for the checks of :mod:`unisock.testing`.

Each function returns a :class:`~unisock.testing.PairFactory`: call it (with the
options a check asks for) to get an async context manager yielding ``(a, b)``, two
open sockets connected over loopback. ``a`` is the end that opened the connection or
stream. Everything is made through the public API, as a program would.
"""

from __future__ import annotations

import contextlib
import socket as _stdlib_socket
from collections.abc import AsyncIterator
from typing import Any

from .. import Socket, SocketListener
from ..errors import NetworkError
from ._common import (
    Pair,
    PairFactory,
    TLSMaterial,
    bounded,
    default_reader,
    run_all,
    settled,
)

__all__ = [
    "quic_pair",
    "quic_server_stream_pair",
    "starttls_pair",
    "tcp_pair",
    "tls_pair",
    "udp_bound_pair",
    "udp_pair",
    "udp_peer_pair",
]

SETUP_BOUND = 20.0
"""Seconds a pair may take to connect before the factory gives up (a hung handshake
must fail the check, not the test runner's global timeout)."""

HELLO = b"\0"
"""The byte that opens a QUIC stream or a UDP peer (their peers learn of them only
from a first frame or datagram); the factory reads it off, so checks never see it."""


def tcp_pair(host: str = "127.0.0.1") -> PairFactory:
    """A TCP connection: ``a`` connected to a ``SocketListener``, ``b`` the socket it
    accepted."""
    return _accepted_pair({}, {}, "TCP", host)


def tls_pair(material: TLSMaterial, host: str = "127.0.0.1") -> PairFactory:
    """A TLS connection: ``a`` a client that verifies ``material``'s certificate,
    ``b`` the socket a TLS listener accepted (handshake done)."""
    return _accepted_pair(
        {"type": "tls", **material.server_options()},
        {"type": "tls", **material.client_options()},
        "TLS",
        host,
    )


def _accepted_pair(
    listener_init: dict[str, Any], client_init: dict[str, Any], what: str, host: str
) -> PairFactory:
    """``a`` connects to a listener made with ``listener_init``; ``b`` is what it accepts."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with SocketListener(local=(host, 0), **listener_init, **options) as listener:
            a = Socket(remote=listener.local, **client_init, **options)
            async with settled(a):
                b = await bounded(listener.accept(), SETUP_BOUND, f"accepting a {what} connection")
                async with settled(b):
                    await bounded(a.ready, SETUP_BOUND, f"a {what} connect")
                    yield a, b

    return make


def starttls_pair(material: TLSMaterial, host: str = "127.0.0.1") -> PairFactory:
    """A TCP connection upgraded in place to TLS: both ends call
    ``update(type="tls", ...)`` (``a`` as the client, ``b`` the accepted socket as the
    server), then the same ``readable``/``writable`` carry the checks' bytes."""
    plain = tcp_pair(host)

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with plain(**options) as (a, b):
            await bounded(
                run_all(
                    a.update(type="tls", **material.client_options()),
                    b.update(type="tls", **material.server_options()),
                ),
                SETUP_BOUND,
                "a STARTTLS upgrade on both ends",
            )
            yield a, b

    return make


def _free_udp_port(host: str) -> int:
    family = _stdlib_socket.AF_INET6 if ":" in host else _stdlib_socket.AF_INET
    with _stdlib_socket.socket(family, _stdlib_socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def udp_pair(host: str = "127.0.0.1") -> PairFactory:
    """Two connected UDP sockets, each ``remote`` the other's ``local``: no listener
    involved, the plainest datagram pair."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        for attempt in range(5):  # the port picked for b may be taken meanwhile
            b_port = _free_udp_port(host)
            a = Socket(type="udp", local=(host, 0), remote=(host, b_port), **options)
            async with settled(a):
                info = await bounded(a.ready, SETUP_BOUND, "opening a UDP socket")
                b = Socket(type="udp", local=(host, b_port), remote=info.local, **options)
                async with settled(b):
                    try:
                        await bounded(b.ready, SETUP_BOUND, "opening a UDP socket")
                    except NetworkError:
                        if attempt == 4:
                            raise
                        continue
                    yield a, b
                    return

    return make


def udp_peer_pair(host: str = "127.0.0.1") -> PairFactory:
    """A connected UDP socket ``a`` and ``b``, the per-peer socket a UDP listener made
    for it (demultiplexed from the listener's one bound socket)."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with SocketListener(type="udp", local=(host, 0), **options) as listener:
            a = Socket(type="udp", remote=listener.local, **options)
            async with settled(a):
                hello = a.writable.get_writer()
                hello.write(HELLO)  # the first datagram creates the peer on the listener
                hello.release_lock()
                b = await bounded(listener.accept(), SETUP_BOUND, "a UDP peer")
                async with settled(b):
                    await _take_hello(b)
                    await bounded(a.ready, SETUP_BOUND, "opening a UDP socket")
                    yield a, b

    return make


def udp_bound_pair(host: str = "127.0.0.1") -> PairFactory:
    """``a`` a *bound* UDP socket (``local`` only: reads and writes ``Datagram``s),
    ``b`` a UDP socket connected to it."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        a = Socket(type="udp", local=(host, 0), **options)
        async with settled(a):
            info = await bounded(a.ready, SETUP_BOUND, "binding a UDP socket")
            b = Socket(type="udp", remote=info.local, **options)
            async with settled(b):
                await bounded(b.ready, SETUP_BOUND, "opening a UDP socket")
                yield a, b

    return make


async def _take_hello(sock: Socket) -> None:
    reader = default_reader(sock.readable)
    try:
        first = await bounded(reader.read(), SETUP_BOUND, "the first byte of a new stream")
    finally:
        reader.release_lock()
    if first.done or first.value != HELLO:
        raise AssertionError(f"expected the opening byte {HELLO!r}, got {first!r}")


_LISTENER_FIELDS = ("allow_half_open", "idle_timeout", "send_buffer_size", "receive_buffer_size")


def _quic_client(material: TLSMaterial, alpn: str, remote: Any, options: dict[str, Any]) -> Socket:
    return Socket(
        type="quic",
        alpn=[alpn],
        remote=remote,
        allow_pooling=False,
        **material.client_options(),
        **options,
    )


@contextlib.asynccontextmanager
async def _quic_first_stream(
    material: TLSMaterial, alpn: str, host: str, options: dict[str, Any]
) -> AsyncIterator[Pair]:
    listener_options = {k: v for k, v in options.items() if k in _LISTENER_FIELDS}
    async with SocketListener(
        type="quic", alpn=[alpn], local=(host, 0), **material.server_options(), **listener_options
    ) as listener:
        a = _quic_client(material, alpn, listener.local, options)
        try:
            async with settled(a):
                writer = a.writable.get_writer()
                writer.write(HELLO)  # a stream exists for the peer from its first frame on
                writer.release_lock()
                b = await bounded(listener.accept(), SETUP_BOUND, "a QUIC stream")
                async with settled(b):
                    await _take_hello(b)
                    await bounded(a.ready, SETUP_BOUND, "a QUIC handshake")
                    yield a, b
        finally:
            connection = a.connection
            if connection is not None:
                connection.close()
                with contextlib.suppress(Exception):
                    await bounded(connection.closed, SETUP_BOUND, "closing a QUIC connection")


def quic_pair(
    material: TLSMaterial, alpn: str = "unisock-test", host: str = "127.0.0.1"
) -> PairFactory:
    """A client-opened QUIC bidirectional stream: ``a`` the client's socket, ``b`` the
    one the QUIC listener delivered. Each pair has a connection of its own."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with _quic_first_stream(material, alpn, host, options) as pair:
            yield pair

    return make


def quic_server_stream_pair(
    material: TLSMaterial, alpn: str = "unisock-test", host: str = "127.0.0.1"
) -> PairFactory:
    """A server-opened QUIC bidirectional stream: ``a`` made by the server with
    ``connection.create_bidirectional_stream()``, ``b`` the client's socket for it from
    ``connection.incoming_bidirectional_streams``."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with _quic_first_stream(material, alpn, host, options) as (client, server):
            server_connection = server.connection
            client_connection = client.connection
            assert server_connection is not None and client_connection is not None
            a = await bounded(
                server_connection.create_bidirectional_stream(),
                SETUP_BOUND,
                "opening a server-side QUIC stream",
            )
            async with settled(a):
                writer = a.writable.get_writer()
                writer.write(HELLO)
                writer.release_lock()
                incoming = client_connection.incoming_bidirectional_streams.get_reader()
                try:
                    got = await bounded(incoming.read(), SETUP_BOUND, "the client's new stream")
                finally:
                    incoming.release_lock()
                if got.done:
                    raise AssertionError("incoming_bidirectional_streams ended before a stream")
                b: Socket = got.value
                async with settled(b):
                    await _take_hello(b)
                    yield a, b

    return make
