"""QUIC listener under forged Initials: junk keeps no state, half-open handshakes are bounded.

Item 1 of issue 16.  A long header is free to forge, and so is a *valid* Initial (its keys
derive from the connection ID the sender picked), from any source address.  The server
must keep nothing for a datagram that does not decrypt, and keep a bounded number of
half-open connections (past :data:`RETRY_ABOVE` it answers with a stateless Retry), while a
legitimate client is still served.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from tests import rt
from tests.adversarial._util import (
    ALPN,
    quic_echo_listener,
    quic_echo_roundtrip,
    quic_server,
    rss_mib,
)
from tests.conftest import eventually, udp_unread

from unisock._transports.quic import _server

pytestmark = [pytest.mark.timeout(60), pytest.mark.trio]  # `run` tests on trio too


def junk_initial() -> bytes:
    """A well-formed QUIC v1 Initial header around 1,200 random, undecryptable bytes."""
    dcid, scid = os.urandom(8), os.urandom(8)
    head = bytes([0xC3]) + struct.pack("!I", 1) + bytes([8]) + dcid + bytes([8]) + scid
    head += b"\x00"  # no token
    rest = 1200 - len(head) - 2
    return head + struct.pack("!H", 0x4000 | rest) + os.urandom(rest)


def valid_initials(port: int, n: int) -> list[bytes]:
    """``n`` real client Initials (each its own connection ID), as aioquic would send them."""
    out = []
    for _ in range(n):
        config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN])
        quic = QuicConnection(configuration=config)
        quic.connect(("127.0.0.1", port), now=0.0)
        out.append(quic.datagrams_to_send(now=0.0)[0][0])
    return out


async def blast(port: int, datagrams: list[bytes]) -> None:
    """Send ``datagrams`` from one UDP socket (never reading answers), 50 at a time, each
    batch once the server has read the one before (its receive queue is empty): none is
    lost to a full queue, and the last is read when this returns."""
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for start in range(0, len(datagrams), 50):
            for data in datagrams[start : start + 50]:
                attacker.sendto(data, ("127.0.0.1", port))
            await eventually(lambda: udp_unread(port) == 0, what="the server read the batch")
    finally:
        attacker.close()


def test_junk_initials_leave_no_connection(run: Any) -> None:
    """3,000 undecryptable Initials: no connection kept (before: 3,000 until idle)."""

    async def main() -> None:
        async with quic_echo_listener() as listener:
            server = quic_server(listener)
            await quic_echo_roundtrip(listener)  # warm up
            before = rss_mib()
            attack = rt.spawn(
                blast(listener.local.port, [junk_initial() for _ in range(3000)])
            )
            latency = await quic_echo_roundtrip(listener, b"legit" * 100)
            await attack  # every junk datagram read (and dropped at once)
            assert len(server.connections) == 0, len(server.connections)
            assert len(server._endpoint.routes) == 0
            assert not server.half_open
            assert latency < 5.0
            assert rss_mib() - before < 20

    run(main)


def test_valid_initial_flood_is_bounded_and_retried(run: Any) -> None:
    """Forged valid Initials from one address past RETRY_ABOVE get a Retry, not a slot."""
    retry_above = getattr(_server, "RETRY_ABOVE", 64)
    n = retry_above + 236

    async def main() -> None:
        async with quic_echo_listener() as listener:
            server = quic_server(listener)
            initials = valid_initials(listener.local.port, n)
            await blast(listener.local.port, initials)  # all read
            assert len(server.connections) <= retry_above, len(server.connections)
            assert server.retries_sent >= n - retry_above
            # A legitimate client still gets in (through a Retry: the server is loaded).
            latency = await quic_echo_roundtrip(listener, b"legit")
            assert latency < 5.0
            assert len(server.half_open) <= retry_above

    run(main)


def test_half_open_connections_time_out(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spoofed handshake holds its slot HANDSHAKE_TIMEOUT, not the idle timeout."""
    monkeypatch.setattr(_server, "HANDSHAKE_TIMEOUT", 0.3, raising=False)

    async def main() -> None:
        async with quic_echo_listener() as listener:
            server = quic_server(listener)
            initials = valid_initials(listener.local.port, 20)
            loop = rt.runtime()
            since = loop.time()
            await blast(listener.local.port, initials)
            assert len(server.connections) == 20  # all read: 20 half-open
            # freed after HANDSHAKE_TIMEOUT (0.3 s), long before the idle timeout (30 s)
            await eventually(lambda: not server.connections, timeout=3)
            assert loop.time() - since >= 0.25
            await quic_echo_roundtrip(listener)

    run(main)
