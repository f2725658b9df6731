"""The server side: one UDP socket, connections demultiplexed by connection ID.

A datagram for an unknown connection ID starts a connection only if it is a well-formed
Initial of full size in a version we speak (else a Version Negotiation answers it, or it is
dropped) whose first packet decrypts with the Initial keys of its connection ID: junk with
a valid-looking header costs one key derivation and one failed AEAD check, and leaves no
state.  Nothing a peer sends can raise into the loop.  The application hears of a
connection once its ALPN is negotiated (or, when client certificates are required, once the
certificate is verified).

Half-open connections (handshake not complete) are bounded, since a valid Initial is cheap
to forge from any source address:

- past :data:`RETRY_ABOVE` half-open connections, an Initial without a valid token gets a
  stateless Retry (RFC 9000 section 8.1.2): only a peer that receives at its source address
  can go on, and the server keeps nothing until it does;
- past :data:`MAX_HALF_OPEN`, new Initials are dropped (the client retransmits, and gets in
  once a slot frees);
- a half-open connection lives at most :data:`HANDSHAKE_TIMEOUT` seconds (not the idle
  timeout), so a spoofed source's slot is freed quickly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from ..._runtime import current
from ..._runtime.base import Handle, Runtime
from . import _wire
from ._connection import QuicConnectionCore
from ._endpoint import Address, Endpoint, open_quic_socket
from ._engines import core as quic_core
from ._options import QuicTLSOptions, read_pem
from ._resolve import resolve_udp
from ._stream import QuicStreamTransport
from ._tickets import ServerTickets

__all__ = ["HANDSHAKE_TIMEOUT", "MAX_HALF_OPEN", "RETRY_ABOVE", "QuicServer", "serve_quic"]

OnConnection = Callable[[QuicConnectionCore], object]
_MIN_INITIAL = 1200

RETRY_ABOVE = 64
"""Half-open connections past which new peers must prove their address with a Retry."""

MAX_HALF_OPEN = 1024
"""Half-open connections past which new Initials are dropped (the client retransmits)."""

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a connection may stay half-open before it is closed."""


class _ServerCore(QuicConnectionCore):
    """A server connection, which keeps the endpoint's connection-ID map current."""

    routes: dict[bytes, QuicConnectionCore]
    cids: set[bytes]

    def _connection_id_changed(self, cid: bytes, issued: bool) -> None:
        if issued:
            self.routes[cid] = self
            self.cids.add(cid)
        else:
            self.routes.pop(cid, None)
            self.cids.discard(cid)


class _ServerEndpoint(Endpoint):
    def __init__(self, loop: Runtime, sock: socket.socket, server: QuicServer):
        super().__init__(loop, sock)
        self.server = server
        self.routes: dict[bytes, QuicConnectionCore] = {}

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if data and not data[0] & 0x80:  # short header: the hot path
            core = self.routes.get(data[1 : 1 + _wire.CID_LENGTH])
            if core is not None:
                core.queue(data, addr)
            return
        try:
            header = _wire.parse_header(data)
        except ValueError:
            return  # not QUIC
        core = self.routes.get(header.destination_cid)
        if core is not None:
            core.queue(data, addr)
        else:
            self.server._new_peer(header, data, addr, self.loop.time())


class QuicServer:
    """A listening QUIC endpoint; ``local`` is the bound address."""

    def __init__(
        self,
        loop: Runtime,
        sock: socket.socket,
        options: QuicTLSOptions,
        on_connection: OnConnection,
    ) -> None:
        self.options = options
        self._loop = loop
        self._client_ca = read_pem(options.ca) if options.ca is not None else None
        self._engine = quic_core(client_certificates=self._client_ca is not None)
        self._config = self._engine.configuration(options, is_client=False)
        self._on_connection = on_connection
        self._tickets = ServerTickets()
        self._endpoint = _ServerEndpoint(loop, sock, self)
        self.local: Address = self._endpoint.local
        self.connections: set[QuicConnectionCore] = set()
        self.half_open: dict[QuicConnectionCore, Handle] = {}
        self.retries_sent = 0
        self.initials_dropped = 0
        self._retry = _wire.RetryTokens()
        self.closed = False

    def _new_peer(self, header: _wire.Header, data: bytes, addr: Address, now: float) -> None:
        if self.closed:
            return
        if header.version is not None and header.version != _wire.VERSION_1:
            if header.version != 0 and len(data) >= _MIN_INITIAL:
                self._endpoint.send(
                    _wire.encode_version_negotiation(
                        source_cid=header.destination_cid,
                        destination_cid=header.source_cid,
                        versions=[_wire.VERSION_1],
                    ),
                    addr,
                )
            return
        if header.packet_type != _wire.INITIAL or len(data) < _MIN_INITIAL:
            return
        if not _wire.initial_decrypts(data, header):
            return  # junk under a valid-looking header: keep nothing
        original_cid = header.destination_cid
        retry_cid: bytes | None = None
        if header.token:
            try:
                original_cid = self._retry.validate(addr, header.destination_cid, header.token)
            except ValueError:
                self.initials_dropped += 1
                return  # a stale or forged token: the peer starts over
            retry_cid = header.destination_cid
        elif len(self.half_open) >= RETRY_ABOVE:
            self._send_retry(header, addr, now)
            return
        if len(self.half_open) >= MAX_HALF_OPEN:
            self.initials_dropped += 1
            return
        self._accept(header, data, addr, now, original_cid, retry_cid)

    def _send_retry(self, header: _wire.Header, addr: Address, now: float) -> None:
        source_cid = os.urandom(_wire.CID_LENGTH)
        token = self._retry.create(addr, header.destination_cid, source_cid)
        self.retries_sent += 1
        self._endpoint.send(
            _wire.encode_retry(
                source_cid=source_cid,
                destination_cid=header.source_cid,
                original_destination_cid=header.destination_cid,
                token=token,
            ),
            addr,
        )

    def _accept(
        self,
        header: _wire.Header,
        data: bytes,
        addr: Address,
        now: float,
        original_cid: bytes,
        retry_cid: bytes | None,
    ) -> None:
        streams: dict[int, QuicStreamTransport] = {}
        wants_cert = self._client_ca is not None
        tickets = self._tickets
        link = self._engine.link(
            self._config,
            original_destination_connection_id=original_cid,
            retry_source_connection_id=retry_cid,
            credits=streams,
            window=self.options.stream_window,
            request_client_certificate=wants_cert,
            session_ticket_fetcher=None if wants_cert else tickets.pop,
            session_ticket_handler=None if wants_cert else tickets.add,
        )
        core = _ServerCore(
            self._loop,
            link,
            self._endpoint,
            peer=addr,
            options=self.options,
            streams=streams,
            client_ca=self._client_ca,
        )
        routes = self._endpoint.routes
        core.routes = routes
        core.cids = {header.destination_cid, link.host_cid}
        for cid in core.cids:
            routes[cid] = core
        core.on_ready = self._ready
        core.on_end.append(self._forget)
        self.connections.add(core)
        self.half_open[core] = self._loop.call_at(
            now + HANDSHAKE_TIMEOUT, core.handshake_timed_out, HANDSHAKE_TIMEOUT
        )
        core.handshake.add_done_callback(lambda _d: self._opened(core))
        core.datagram_received(data, addr, now)
        if not link.decrypted_any() and not core.closed.done():
            # Nothing in the datagram decrypted after all: drop it without a trace.
            core.on_end.clear()
            self._forget(core)
            core.flush_pending = True
            core._finished = True

    def _opened(self, core: QuicConnectionCore) -> None:
        handle = self.half_open.pop(core, None)
        if handle is not None:
            handle.cancel()

    def _ready(self, core: QuicConnectionCore) -> None:
        self._on_connection(core)

    def _forget(self, core: QuicConnectionCore) -> None:
        self.connections.discard(core)
        self._opened(core)
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
    local: tuple[str, int],
    options: QuicTLSOptions,
    on_connection: OnConnection,
    *,
    ipv6_only: bool = False,
) -> QuicServer:
    """Listen for QUIC on ``local`` (port 0 picks one); ``on_connection(core)`` per peer.

    On ``::`` it takes IPv4 peers too unless ``ipv6_only``."""
    loop = current()
    host, port = local
    family, addr = await resolve_udp(loop, host, port, passive=True)
    sock = open_quic_socket(family, local=addr, ipv6_only=ipv6_only)
    try:
        return QuicServer(loop, sock, options, on_connection)
    except BaseException:
        sock.close()
        raise
