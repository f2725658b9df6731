"""UDP listener flooded from many source ports with nobody accepting (item 3 of issue 16).

Source addresses are free to forge; the peer table holds at most ``max_peers`` and evicts
the least recently active.  The listener's queue of not-yet-accepted sockets must follow
it: at most ``max_peers`` sockets, the evicted ones dropped from the queue.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from tests import rt
from tests.adversarial._util import rss_mib
from tests.conftest import eventually, udp_unread

import unisock

pytestmark = [pytest.mark.timeout(60), pytest.mark.trio]  # `run` tests on trio too

MAX_PEERS = 64
SOURCES = 3000


def test_unaccepted_peer_sockets_are_bounded_by_max_peers(run: Any) -> None:
    """3,000 source ports, max_peers=64, no consumer: at most 64 queued (before: ~2,900)."""

    async def main() -> None:
        async with unisock.SocketListener(type="udp", max_peers=MAX_PEERS) as listener:
            await listener.ready
            target = (listener.local.address, listener.local.port)
            before = rss_mib()
            for _ in range(SOURCES // 100):
                batch = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _i in range(100)]
                try:
                    for s in batch:
                        s.sendto(b"x" * 100, target)
                finally:
                    for s in batch:
                        s.close()
                # the listener has read this batch (its receive queue is empty)
                await eventually(lambda: udp_unread(target[1]) == 0)
            queued = len(listener._queue)  # type: ignore[attr-defined]
            table = listener._handle.table  # type: ignore[attr-defined]
            assert len(table) <= MAX_PEERS
            assert queued <= MAX_PEERS, queued
            assert rss_mib() - before < 20

            # A legitimate client is still served: accept until its socket comes out.
            legit = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            legit.setblocking(False)
            try:
                legit.sendto(b"hello", target)
                port = legit.getsockname()[1]
                for _ in range(MAX_PEERS + 1):
                    sock = await rt.wait_for(listener.accept(), 5)
                    if sock.info.remote.port == port:
                        break
                    await sock.close()
                else:
                    raise AssertionError("the legitimate client's socket never came out")
                reader = sock.readable.get_reader()
                assert bytes((await reader.read()).value) == b"hello"
                writer = sock.writable.get_writer()
                await writer.write(b"world")
                data = await rt.wait_for(rt.sock_recv(legit, 100), 5)
                assert data == b"world"
                reader.release_lock()
                writer.release_lock()
                await sock.close()
            finally:
                legit.close()

    run(main)
