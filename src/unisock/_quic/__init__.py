"""QUIC below the Socket: aioquic's sans-I/O connection driven on the loop.

Each QUIC stream is an asyncio Transport (:class:`QuicStreamTransport`) so the Socket drives
it like any other byte stream.  Modules, one job each:

- ``_options``: the layer's TLS options and aioquic configuration;
- ``_flow``: receive credit tied to what the application consumed (aioquic subclass);
- ``_endpoint``: the UDP socket, batched reads, one flush per loop pass;
- ``_connection``: ``QuicConnectionCore``, events, timer, streams, handshake, close;
- ``_stream``: ``QuicStreamTransport``, backpressure and flow control per stream;
- ``_errors``: how a connection's end maps to unisock errors;
- ``_client`` / ``_server``: ``connect_quic`` with pooling, ``serve_quic``;
- ``_tickets``: session tickets for resumption and 0-RTT;
- ``_resolve``: address resolution.
"""

from __future__ import annotations

from ._client import connect_quic, pool_size
from ._connection import OnStream, QuicConnectionCore
from ._flow import UNI_STREAM_BACKLOG
from ._options import QuicTLSOptions
from ._server import QuicServer, serve_quic
from ._stream import QuicStreamTransport
from ._tickets import client_tickets

__all__ = [
    "UNI_STREAM_BACKLOG",
    "OnStream",
    "QuicConnectionCore",
    "QuicServer",
    "QuicStreamTransport",
    "QuicTLSOptions",
    "client_tickets",
    "connect_quic",
    "pool_size",
    "serve_quic",
]
