"""Every transport fits the seam unisock owns (``unisock._transports.base``): mypy
checks these assignments structurally, so a transport that drops or changes a method
the sockets use fails here, not at run time."""

from __future__ import annotations

import asyncio

from unisock._api.channel import _ByobProtocol, _StreamProtocol
from unisock._api.udp import _Link
from unisock._runtime.base import Runtime
from unisock._runtime.trio import TrioRuntime
from unisock._runtime.trio_stream import TrioStreamTransport
from unisock._transports.base import (
    BufferedStreamReceiver,
    DatagramLink,
    StreamReceiver,
    StreamTransport,
)
from unisock._transports.quic import QuicStreamTransport
from unisock._transports.tls.transport import TLSTransport


def fits(
    loop_transport: asyncio.Transport,
    tls: TLSTransport,
    quic_stream: QuicStreamTransport,
    udp_link: _Link,
    receiver: _StreamProtocol,
    byob_receiver: _ByobProtocol,
    trio_stream: TrioStreamTransport,
    loop: asyncio.AbstractEventLoop,
    trio_runtime: TrioRuntime,
) -> list[object]:
    a: StreamTransport = loop_transport  # stock asyncio's and uvloop's own TCP transports
    b: StreamTransport = tls
    c: StreamTransport = quic_stream
    d: DatagramLink = udp_link
    e: StreamReceiver = receiver
    f: BufferedStreamReceiver = tls  # TLS receives from the TCP transport below it
    g: BufferedStreamReceiver = byob_receiver  # zero-copy BYOB reads
    h: StreamReceiver = byob_receiver  # it also takes bytes (from TLS and QUIC)
    i: StreamTransport = trio_stream  # TCP on trio
    j: Runtime = loop  # the asyncio runtime is the loop itself (stock and uvloop)
    k: Runtime = trio_runtime
    return [a, b, c, d, e, f, g, h, i, j, k]
