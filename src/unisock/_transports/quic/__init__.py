"""QUIC below the Socket: a sans-I/O QUIC core (qh3, or aioquic) driven on the loop.

Each QUIC stream is an asyncio Transport (:class:`QuicStreamTransport`) so the Socket drives
it like any other byte stream.  Modules, one job each:

- ``_options``: the layer's TLS options, filled into a core's configuration;
- ``_link``: the seam between the connection core and a QUIC library;
- ``_qh3`` / ``_aioquic``: one module per QUIC library, each the only one that imports it
  (private names included, checked against the installed version);
- ``_engines``: which library runs a connection;
- ``_wire``: the packets a listener judges and answers before any connection exists;
- ``_facts``: the handshake facts for ``info``;
- ``_endpoint``: datagrams routed to connections, one delivery per read batch and one
  flush per loop pass, on the UDP transport's socket owner (``udp.endpoint``);
- ``_connection``: ``QuicConnectionCore``, events, timer, streams, handshake, close;
- ``_stream``: ``QuicStreamTransport``, backpressure and flow control per stream;
- ``_stream_states``: a stream's sending and receiving parts, their legal moves as tables;
- ``_errors``: how a connection's end maps to unisock errors;
- ``_client`` / ``_server``: ``connect_quic`` with pooling, ``serve_quic``;
- ``_tickets``: session tickets for resumption and 0-RTT;
- ``_resolve``: QUIC's defaults over the one resolver (``_transports.resolve``).
"""

from __future__ import annotations

from ._client import connect_quic, pool_size
from ._connection import OnStream, QuicConnectionCore
from ._facts import QuicFacts
from ._link import UNI_STREAM_BACKLOG
from ._options import QuicTLSOptions
from ._server import QuicServer, serve_quic
from ._stream import QuicStreamTransport
from ._tickets import client_tickets

__all__ = [
    "UNI_STREAM_BACKLOG",
    "OnStream",
    "QuicConnectionCore",
    "QuicFacts",
    "QuicServer",
    "QuicStreamTransport",
    "QuicTLSOptions",
    "client_tickets",
    "connect_quic",
    "pool_size",
    "serve_quic",
]
