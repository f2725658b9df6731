"""The server side: one UDP socket, connections demultiplexed by connection ID.

A datagram for an unknown connection ID starts a connection only if it is a well-formed
Initial of full size in a version we speak (else a Version Negotiation answers it, or it is
dropped); a connection whose first datagram yields nothing aioquic could decrypt is dropped
on the spot, and one whose peer abandons the handshake ends at the idle timeout.  Nothing a
peer sends can raise into the loop.  The application hears of a connection once its ALPN is
negotiated (or, when client certificates are required, once the certificate is verified).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aioquic._buffer import Buffer
from aioquic.quic import events
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)

from ._connection import QuicConnectionCore
from ._endpoint import Address, Endpoint, tune_socket
from ._flow import CreditedConnection
from ._options import QuicTLSOptions, make_configuration, read_pem
from ._resolve import resolve_udp
from ._stream import QuicStreamTransport
from ._tickets import ServerTickets

__all__ = ["QuicServer", "serve_quic"]

OnConnection = Callable[[QuicConnectionCore], object]
_MIN_INITIAL = 1200


class _ServerCore(QuicConnectionCore):
    """A server connection, which keeps the endpoint's connection-ID map current."""

    routes: dict[bytes, QuicConnectionCore]
    cids: set[bytes]

    def _connection_id_changed(self, event: events.QuicEvent) -> None:
        cid: bytes = event.connection_id  # type: ignore[attr-defined]
        if isinstance(event, events.ConnectionIdIssued):
            self.routes[cid] = self
            self.cids.add(cid)
        else:
            self.routes.pop(cid, None)
            self.cids.discard(cid)


class _ServerEndpoint(Endpoint):
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, server: QuicServer):
        super().__init__(loop, sock)
        self.server = server
        self.routes: dict[bytes, QuicConnectionCore] = {}

    def route(self, data: bytes, addr: Address, now: float) -> None:
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception:
            return  # not QUIC
        core = self.routes.get(header.destination_cid)
        if core is not None:
            core.datagram_received(data, addr, now)
        else:
            self.server._new_peer(header, data, addr, now)


class QuicServer:
    """A listening QUIC endpoint; ``local`` is the bound address."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        options: QuicTLSOptions,
        on_connection: OnConnection,
    ) -> None:
        self.options = options
        self._loop = loop
        self._config = make_configuration(options, is_client=False)
        self._client_ca = read_pem(options.ca) if options.ca is not None else None
        self._on_connection = on_connection
        self._tickets = ServerTickets()
        self._endpoint = _ServerEndpoint(loop, sock, self)
        self.local: Address = self._endpoint.local
        self.connections: set[QuicConnectionCore] = set()
        self.closed = False

    def _new_peer(self, header: Any, data: bytes, addr: Address, now: float) -> None:
        if self.closed:
            return
        versions = self._config.supported_versions
        if header.version is not None and header.version not in versions:
            if header.packet_type is not QuicPacketType.VERSION_NEGOTIATION:
                self._endpoint.send(
                    encode_quic_version_negotiation(
                        source_cid=header.destination_cid,
                        destination_cid=header.source_cid,
                        supported_versions=versions,
                    ),
                    addr,
                )
            return
        if header.packet_type is not QuicPacketType.INITIAL or len(data) < _MIN_INITIAL:
            return
        streams: dict[int, QuicStreamTransport] = {}
        wants_cert = self._client_ca is not None
        tickets = self._tickets
        quic = CreditedConnection(
            configuration=self._config,
            original_destination_connection_id=header.destination_cid,
            credits=streams,
            window=self.options.stream_window,
            request_client_certificate=wants_cert,
            session_ticket_fetcher=None if wants_cert else tickets.pop,
            session_ticket_handler=None if wants_cert else tickets.add,
        )
        core = _ServerCore(
            self._loop,
            quic,
            self._endpoint,
            peer=addr,
            options=self.options,
            streams=streams,
            client_ca=self._client_ca,
        )
        routes = self._endpoint.routes
        core.routes = routes
        core.cids = {header.destination_cid, quic.host_cid}
        for cid in core.cids:
            routes[cid] = core
        core.on_ready = self._ready
        core.on_end.append(self._forget)
        self.connections.add(core)
        core.datagram_received(data, addr, now)
        if quic._close_at is None and not core.closed.done():
            # Nothing in the datagram decrypted: drop it without a trace.
            core.on_end.clear()
            self._forget(core)
            core.flush_pending = True
            core._finished = True

    def _ready(self, core: QuicConnectionCore) -> None:
        self._on_connection(core)

    def _forget(self, core: QuicConnectionCore) -> None:
        self.connections.discard(core)
        routes = self._endpoint.routes
        for cid in getattr(core, "cids", ()):
            if routes.get(cid) is core:
                del routes[cid]

    def close(self) -> None:
        """Close every connection (CONNECTION_CLOSE, code 0) and the socket."""
        if self.closed:
            return
        self.closed = True
        for core in list(self.connections):
            core.close(0, "server closing")
        self._endpoint.flush()
        for core in list(self.connections):
            core._finish(None)
        self._endpoint.close()

    async def __aenter__(self) -> QuicServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


async def serve_quic(
    local: tuple[str, int], options: QuicTLSOptions, on_connection: OnConnection
) -> QuicServer:
    """Listen for QUIC on ``local`` (port 0 picks one); ``on_connection(core)`` per peer."""
    loop = asyncio.get_running_loop()
    host, port = local
    family, addr = await resolve_udp(loop, host, port, passive=True)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        tune_socket(sock)
        sock.bind(addr)
        return QuicServer(loop, sock, options, on_connection)
    except BaseException:
        sock.close()
        raise
